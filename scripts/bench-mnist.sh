#!/usr/bin/env bash
# bench-mnist.sh [MODES]: the MNIST acceptance runs of the train issue, on
# prism, with the default hyper-parameters: softmax regression, and the
# LeNet-300-100 MLP in each mode (default "sync local"), 30 epochs each
# (softmax: 10).
# Prints one line per run: test accuracy, epochs, seconds.
set -euo pipefail
cd "$(dirname "$0")/.."
modes=${1:-sync local}
work=${BENCH_DIR:-bench-data/mnist}
mkdir -p "$work"
go build -o "$work/lightbeam" .
lb="$work/lightbeam"
echo "date: $(date -u '+%F %R'), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
"$lb" preprocess --format=idx --out="$work/prep" --overwrite 2>/dev/null | head -1
summary() {
  python3 - "$1" "$2" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
e = r["epochs"]
print("%s: test accuracy %.2f%% (validation %.2f%%, best epoch %d/%d), %.0f s training, %.1f s/epoch, %d rounds/epoch"
      % (sys.argv[2], 100 * r["test_accuracy"], 100 * r["validation_accuracy"], r["best_epoch"], e,
         r["train_seconds"], r["train_seconds"] / e, r["rounds_per_epoch"]))
PY
}
[ -f "$work/softmax/report.json" ] && [ -n "${KEEP:-}" ] ||
  "$lb" train --data="$work/prep" --out="$work/softmax" --model=softmax --epochs=10 --overwrite >"$work/softmax.log" 2>&1
summary "$work/softmax/report.json" "softmax"
for mode in $modes; do
  "$lb" train --data="$work/prep" --out="$work/mlp-$mode" --model=mlp --hidden=300,100 --mode="$mode" --epochs=30 --overwrite >"$work/mlp-$mode.log" 2>&1
  summary "$work/mlp-$mode/report.json" "mlp 300,100 $mode"
done
