#!/usr/bin/env bash
# The project's test command (README): installs what the tests need, then
# runs vet and every Go test. Usage: bash scripts/test.sh [go test flags]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
# The model tests read lightbeam's safetensors files with Python's own
# packages, as users will.
python3 -c 'import safetensors, numpy' 2>/dev/null || python3 -m pip install -q safetensors numpy
go vet ./...
go test -count=1 -timeout 40m "$@" ./...
