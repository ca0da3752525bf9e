#!/usr/bin/env bash
# python-env.sh: makes .venv (git-ignored) with scripts/requirements.txt, the
# real Python clients that the tests check lightbeam's files against
# (safetensors, gguf, tokenizers, ...), and scripts/requirements-nodeps.txt,
# packages installed without their declared dependencies (real checkpoints
# whose packages declare torch or a C++ build). Idempotent: it does nothing
# when .venv already holds both files as they are now. Prints the
# interpreter's path.
set -euo pipefail
cd "$(dirname "$0")/.."
req=scripts/requirements.txt
nodeps=scripts/requirements-nodeps.txt
venv=.venv
stamp=$(cat "$req" "$nodeps")
if [ ! -x "$venv/bin/python" ] || [ "$stamp" != "$(cat "$venv/requirements.txt" 2>/dev/null)" ]; then
  if [ ! -x "$venv/bin/python" ]; then
    if ! python3 -m venv "$venv" 2>/dev/null; then
      # Debian splits venv (and ensurepip) out of python3.
      bash scripts/install-deps.sh python3-venv >&2
      python3 -m venv "$venv"
    fi
  fi
  "$venv/bin/python" -m pip install -q --disable-pip-version-check -r "$req" >&2
  "$venv/bin/python" -m pip install -q --disable-pip-version-check --no-deps -r "$nodeps" >&2
  printf '%s\n' "$stamp" >"$venv/requirements.txt"
fi
echo "$PWD/$venv/bin/python"
