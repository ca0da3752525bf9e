#!/usr/bin/env bash
# bench-train.sh [EPOCHS]: seconds per MNIST MLP epoch through the Beam pipeline
# (prism) vs the same rounds in plain Go (--plain), in sync and local mode, on
# the blas backend, measured in one run; the floor (the epoch's FLOPs at the
# backend's SGEMM rate measured in the same run); the runner's cost per round;
# and each run's peak RSS.
#
# Environment (optional):
#   HIDDEN   hidden layer widths (default 300,100; the wide case: 2048,2048)
#   WORKERS  worker keys of the Beam runs (default 0: train's default, one on
#            prism, whose rounds need no shuffle; 4 shuffles every round as a
#            cluster with one worker per shard does)
#   MODES    default "sync local"
#
# Each run trains EPOCHS+1 epochs (default 2+1); the first is not timed (it
# reads and decodes the shards).
set -euo pipefail
cd "$(dirname "$0")/.."
epochs=${1:-2}
hidden=${HIDDEN:-300,100}
workers=${WORKERS:-0}
modes=${MODES:-sync local}
work=${BENCH_DIR:-bench-data/train}
mkdir -p "$work"
go build -o "$work/lightbeam" .
lb="$work/lightbeam"
[ -f "$work/prep/manifest.json" ] || "$lb" preprocess --format=idx --out="$work/prep" --overwrite >/dev/null 2>&1
echo "date: $(date -u +%FT%TZ), machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "model: mlp 784-${hidden//,/-}-10, workers=$workers, $epochs timed epochs"
gflops=$("$lb" accel bench --backend=blas --n=1024 2>/dev/null | python3 -c 'import json,sys; print(json.loads(sys.stdin.readline())["gflops"])')
echo "blas SGEMM 1024^3: $gflops GFLOP/s"
results=()
for mode in $modes; do
	for engine in plain beam; do
		flag=""
		[ "$engine" = plain ] && flag=--plain
		out="$work/$mode-$engine"
		/usr/bin/time -f '%M' -o "$out.rss" "$lb" train --data="$work/prep" --out="$out" --model=mlp --hidden="$hidden" \
			--mode="$mode" --workers="$workers" --epochs=$((epochs + 1)) --accel=blas --overwrite $flag >"$out.log" 2>&1 ||
			{ tail -n 20 "$out.log" >&2; exit 1; }
		line=$(python3 - "$out/report.json" "$out.rss" "$mode" "$engine" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
h = r["history"][1:] or r["history"]
s = sum(e["seconds"] for e in h) / len(h)
rss = int(open(sys.argv[2]).read().split()[-1]) / 1024
print(f"{sys.argv[3]} {sys.argv[4]} {s:.3f} {r['rounds_per_epoch']} {rss:.0f} {100*r['test_accuracy']:.2f}")
PY
)
		echo "$mode $engine: $(echo "$line" | awk '{print $3 " s/epoch, " $4 " rounds/epoch, peak RSS " $5 " MiB, test " $6 "%"}')"
		results+=("$line")
	done
done
python3 - "$gflops" "$hidden" "$work/prep/report.json" "${results[@]}" <<'PY'
import json, sys
g, hidden = float(sys.argv[1]), [int(h) for h in sys.argv[2].split(",")]
rows = json.load(open(sys.argv[3]))["splits"]["train"]
sizes = [784] + hidden + [10]
weights = [a * b for a, b in zip(sizes, sizes[1:])]
# Per row: forward 2 FLOPs a weight; backward 2 for dW and 2 for the input
# gradient, which the first layer does not need. The issue's floor counts 6
# a weight everywhere.
real = rows * (sum(6 * w for w in weights) - 2 * weights[0])
nominal = rows * 6 * sum(weights)
res = {}
for line in sys.argv[4:]:
    mode, engine, s, rounds, rss, acc = line.split()
    res[(mode, engine)] = (float(s), int(rounds))
for mode in ("sync", "local"):
    if (mode, "plain") in res and (mode, "beam") in res:
        (p, rounds), (b, _) = res[(mode, "plain")], res[(mode, "beam")]
        print(f"{mode}: beam/plain = {b/p:.2f}; runner cost per round {1000*(b-p)/rounds:.1f} ms ({rounds} rounds)")
print(f"floor: {nominal/1e9:.1f} GFLOP/epoch counted as 6 a weight (the issue's) = {nominal/1e9/g:.2f} s; "
      f"{real/1e9:.1f} GFLOP actually needed = {real/1e9/g:.2f} s")
if ("local", "plain") in res:
    p = res[("local", "plain")][0]
    print(f"local plain / floor: {p/(nominal/1e9/g):.2f} (6 a weight), {p/(real/1e9/g):.2f} (actual FLOPs)")
PY
