#!/usr/bin/env bash
# bench-sklearn.sh [MNIST_DIR] [bench_sklearn.py flags]: the scikit-learn
# baseline for bench-train.sh: seconds per MNIST epoch of MLPClassifier(300,100)
# and SGDClassifier(log_loss), one JSON line per model (see bench_sklearn.py).
#
# OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE may be set on these machines for old
# OpenBLAS builds; they slow the OpenBLAS that numpy ships, so they are unset
# for the benchmark command only (never in tests or CI). The kernel numpy then
# runs is printed first.
set -euo pipefail
cd "$(dirname "$0")/.."
python=$(bash scripts/python-env.sh)
echo "date: $(date -u +%FT%TZ), machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
echo "environment: OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE-(unset)} OPENBLAS_L2_SIZE=${OPENBLAS_L2_SIZE-(unset)}; unset for the benchmark" >&2
env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE "$python" -c '
import numpy, threadpoolctl
for p in threadpoolctl.threadpool_info():
    print("blas kernel:", p.get("internal_api"), p.get("version"), p.get("architecture"), "threads", p.get("num_threads"), p.get("filepath"))
' >&2
env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE "$python" scripts/bench_sklearn.py "$@"
