#!/usr/bin/env bash
# python-env.sh: makes .venv (git-ignored) with scripts/requirements.txt, the
# real Python clients that the tests check lightbeam's files against
# (safetensors, gguf, ...). Idempotent: it does nothing when .venv already
# holds this requirements file. Prints the interpreter's path.
set -euo pipefail
cd "$(dirname "$0")/.."
req=scripts/requirements.txt
venv=.venv
if [ ! -x "$venv/bin/python" ] || ! cmp -s "$req" "$venv/requirements.txt"; then
  if ! python3 -m venv "$venv" 2>/dev/null; then
    # Debian splits venv (and ensurepip) out of python3.
    bash scripts/install-deps.sh python3-venv >&2
    python3 -m venv "$venv"
  fi
  "$venv/bin/python" -m pip install -q --disable-pip-version-check -r "$req" >&2
  cp "$req" "$venv/requirements.txt"
fi
echo "$PWD/$venv/bin/python"
