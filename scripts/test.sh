#!/usr/bin/env bash
# The project's test command (README): installs what the tests need, then
# runs vet and every Go test. Usage: bash scripts/test.sh [go test flags]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
# The HDFS tests run Hadoop's MiniDFSCluster (scripts/hdfs.sh): a JDK and Maven.
command -v javac >/dev/null && command -v mvn >/dev/null || bash scripts/install-deps.sh default-jdk-headless maven
# Tests read lightbeam's files with the real Python clients (safetensors,
# gguf, ...), as users will: they run in .venv. llama.cpp itself (PyPI's
# llama-cpp-python, compiled once per machine and cached: ~11 minutes on two
# cores the first time) is the reference for the GGUF presets.
LIGHTBEAM_PYTHON=$(bash scripts/llama-cpp.sh)
export LIGHTBEAM_PYTHON
go vet ./...
go test -count=1 -timeout 40m "$@" ./...
