#!/usr/bin/env bash
# bench-vs-sklearn.sh [EPOCHS]: lightbeam's MNIST MLP 784-300-100-10 against
# scikit-learn's MLPClassifier(300,100), side by side in one run, the same
# number of epochs (default 10) on the same machine, one after the other.
#
#   lightbeam: `lightbeam train --model=mlp --hidden=300,100 --epochs=N --accel=blas`
#              with every other flag at its default (local mode, prism), on
#              `lightbeam preprocess --format=idx` (54,035 train rows; 5,965
#              validation; the 10,000 t10k rows as test). Seconds per epoch:
#              report.json's train_seconds / epochs (each epoch's job, its
#              validation pass and checkpoint included); test accuracy: the
#              model of the best validation epoch, as `train` reports it.
#   sklearn:   scripts/bench_sklearn.py --models mlp --mlp-epochs N (60,000
#              train rows, adam, batch 200, one partial_fit per epoch, no
#              validation pass); test accuracy after epoch N.
#
# The last three lines: each side's s/epoch, rows/s and test accuracy, then
# the ratio sklearn s/epoch / lightbeam s/epoch (above 1: lightbeam is faster).
set -euo pipefail
cd "$(dirname "$0")/.."
epochs=${1:-10}
work=${BENCH_DIR:-bench-data/vs-sklearn}
mkdir -p "$work"
go build -o "$work/lightbeam" .
lb=$work/lightbeam
[ -f "$work/prep/manifest.json" ] || "$lb" preprocess --format=idx --out="$work/prep" --overwrite >/dev/null 2>&1
echo "date: $(date -u +%FT%TZ), machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load: $(cut -d' ' -f1-3 /proc/loadavg)"
"$lb" train --data="$work/prep" --out="$work/train" --model=mlp --hidden=300,100 --epochs="$epochs" \
	--accel=blas --overwrite >"$work/train.log" 2>&1 || { cat "$work/train.log" >&2; exit 1; }
echo "lightbeam done, load: $(cut -d' ' -f1-3 /proc/loadavg)"
bash scripts/bench-sklearn.sh --models mlp --mlp-epochs "$epochs" >"$work/sklearn.json" 2>"$work/sklearn.log" ||
	{ cat "$work/sklearn.log" >&2; exit 1; }
echo "sklearn done, load: $(cut -d' ' -f1-3 /proc/loadavg)"
python3 - "$work/train/report.json" "$work/sklearn.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
sk = json.loads(open(sys.argv[2]).read().strip().splitlines()[-1])
lb_s = r["train_seconds"] / r["epochs"]
lb_rows = r["examples_per_second"]
sk_s = sk["seconds_per_epoch"]
sk_rows = 60000 / sk_s
print(f"lightbeam {r['mode']} mlp 300,100, {r['epochs']} epochs: {lb_s:.2f} s/epoch, {lb_rows:,.0f} rows/s, test accuracy {100*r['test_accuracy']:.2f}% (best epoch {r['best_epoch']})")
print(f"sklearn MLPClassifier(300,100), {sk['epochs']} epochs: {sk_s:.2f} s/epoch, {sk_rows:,.0f} rows/s, test accuracy {100*sk['test_accuracy']:.2f}%")
print(f"ratio sklearn/lightbeam: {sk_s/lb_s:.2f}x per epoch, {lb_rows/sk_rows:.2f}x per row; accuracy {100*(r['test_accuracy']-sk['test_accuracy']):+.2f} points")
PY
