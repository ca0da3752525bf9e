#!/usr/bin/env bash
# install-deps.sh [PACKAGE...]: installs the system libraries lightbeam loads
# at run time (BLIS, the CBLAS of the blas backend), and any Debian packages
# named. Idempotent and quiet: it does nothing when they are already
# installed. Runs as root, or through sudo.
set -euo pipefail

packages=(libblis4-pthread "$@")

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-deps: no apt-get here; install ${missing[*]} (a CBLAS such as BLIS) yourself" >&2
  exit 1
fi
sudo=()
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null 2>&1 || { echo "install-deps: need root (or sudo) to install ${missing[*]}" >&2; exit 1; }
  sudo=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-deps: installed ${missing[*]}"
