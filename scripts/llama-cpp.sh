#!/usr/bin/env bash
# llama-cpp.sh: installs llama.cpp, as PyPI's llama-cpp-python, into the
# test venv (scripts/python-env.sh), so that the tests can load lightbeam's
# GGUF files with the real runtime and quantize with its llama_model_quantize.
# The package is a source distribution that compiles llama.cpp (10-20 minutes
# on two cores); the built wheel is kept in a cache keyed on the version and
# the build flags, so the compile happens once per machine (CI keeps
# ~/.cache). Idempotent; prints the interpreter's path.
#
# The build is portable x86-64-v3 (AVX2, FMA, F16C), not -march=native: a
# cached wheel may run on another CPU of the same kind, and llama.cpp's
# quantizer is timed against lightbeam's with the same instructions.
set -euo pipefail
cd "$(dirname "$0")/.."
version=0.3.36
python=$(bash scripts/python-env.sh)
if "$python" -c "import llama_cpp, sys; sys.exit(llama_cpp.__version__ != '$version')" 2>/dev/null; then
  echo "$python"; exit 0
fi
command -v cmake >/dev/null && command -v g++ >/dev/null || bash scripts/install-deps.sh cmake g++ >&2
args="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_OPENMP=OFF -DLLAMA_CURL=OFF"
if [ "$(uname -m)" != x86_64 ]; then args="-DGGML_NATIVE=OFF -DGGML_OPENMP=OFF -DLLAMA_CURL=OFF"; fi
key=$(printf '%s %s %s' "$version" "$args" "$(uname -m)" | sha256sum | cut -c1-16)
cache=${LIGHTBEAM_CACHE:-$HOME/.cache/lightbeam}/wheels/llama-cpp-python-$key
if ! ls "$cache"/llama_cpp_python-*.whl >/dev/null 2>&1; then
  echo "llama-cpp.sh: building llama-cpp-python $version (once; cached in $cache)" >&2
  tmp="$cache.tmp-$$"
  rm -rf "$tmp"; mkdir -p "$tmp"
  CMAKE_ARGS="$args" CMAKE_BUILD_PARALLEL_LEVEL=$(nproc) \
    "$python" -m pip wheel -q --disable-pip-version-check --no-deps --no-binary llama-cpp-python \
    -w "$tmp" "llama-cpp-python==$version" >&2
  rm -rf "$cache"; mv "$tmp" "$cache"
fi
# Its Python dependencies (numpy, typing-extensions, diskcache, jinja2) come from PyPI.
"$python" -m pip install -q --disable-pip-version-check "$cache"/llama_cpp_python-*.whl >&2
echo "$python"
