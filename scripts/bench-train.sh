#!/usr/bin/env bash
# bench-train.sh [EPOCHS]: seconds per MNIST MLP (784-300-100-10) epoch
# through the Beam pipeline (prism) vs the same rounds in plain Go (--plain),
# in sync and local mode, on the same backend, measured in one run; and the
# floor: the epoch's FLOPs over the backend's measured SGEMM GFLOP/s.
set -euo pipefail
cd "$(dirname "$0")/.."
epochs=${1:-2}
work=${BENCH_DIR:-bench-data/train}
mkdir -p "$work"
go build -o "$work/lightbeam" .
lb="$work/lightbeam"
[ -f "$work/prep/manifest.json" ] || "$lb" preprocess --format=idx --out="$work/prep" --overwrite >/dev/null 2>&1
echo "date: $(date -u +%F), machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load: $(cut -d' ' -f1-3 /proc/loadavg)"
gflops=$("$lb" accel bench --backend=blas --n=1024 2>/dev/null | python3 -c 'import json,sys; print(json.loads(sys.stdin.readline())["gflops"])')
echo "blas SGEMM 1024^3: $gflops GFLOP/s"
epoch_secs() { # report.json → mean seconds per epoch after the first (warm caches)
  python3 -c 'import json,sys; h=json.load(open(sys.argv[1]))["history"]; h=h[1:] or h; print(sum(e["seconds"] for e in h)/len(h))' "$1"
}
for mode in sync local; do
  for engine in plain beam; do
    flag=""; [ "$engine" = plain ] && flag=--plain
    "$lb" train --data="$work/prep" --out="$work/$mode-$engine" --model=mlp --mode=$mode \
      --epochs=$((epochs + 1)) --accel=blas --overwrite $flag >"$work/$mode-$engine.log" 2>&1
    s=$(epoch_secs "$work/$mode-$engine/report.json")
    eval "${mode}_${engine}=$s"
    echo "$mode $engine: $s s/epoch"
  done
done
python3 - "$gflops" "$sync_plain" "$sync_beam" "$local_plain" "$local_beam" "$work/prep/report.json" <<'PY'
import json, sys
g, sp, sb, lp, lb = map(float, sys.argv[1:6])
rows = json.load(open(sys.argv[6]))["splits"]["train"]
macs = 784*300 + 300*100 + 100*10
flops = 6 * macs * rows  # forward 2, backward 4 FLOPs per weight per row
print(f"sync:  beam/plain = {sb/sp:.2f} (Beam overhead {100*(sb/sp-1):.0f}%)")
print(f"local: beam/plain = {lb/lp:.2f} (Beam overhead {100*(lb/lp-1):.0f}%)")
print(f"floor: {flops/1e9:.1f} GFLOP per epoch / {g:.1f} GFLOP/s = {flops/1e9/g:.2f} s/epoch")
PY
