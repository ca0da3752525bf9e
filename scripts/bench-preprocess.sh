#!/usr/bin/env bash
# Benchmark `lightbeam preprocess --format=csv` on a generated numeric CSV.
#
#   scripts/bench-preprocess.sh [SIZE_MB]     (default 500)
#
# Environment: RUNNERS="prism direct" (default "prism"), SHARDS (default 4),
# PROFILE=1 writes a CPU profile per runner into bench-data/, BIN=PATH runs
# that lightbeam binary instead of building this tree (to compare a build of
# an older commit in the same session: build it in a git worktree).
# It generates bench-data/bench-SIZE.csv once (30 numeric columns and a
# label; deterministic), runs preprocess under /usr/bin/time -v, and prints
# rows/s, MB/s (input megabytes, 10⁶ bytes, per wall second), peak RSS and
# the load average (the machine is shared: read numbers with it).
set -euo pipefail
cd "$(dirname "$0")/.."

size_mb=${1:-500}
runners=${RUNNERS:-prism}
shards=${SHARDS:-4}

if [[ ! -x /usr/bin/time ]]; then
	echo "installing GNU time (/usr/bin/time)" >&2
	if [[ $(id -u) -eq 0 ]]; then apt-get install -y time >&2; else sudo apt-get install -y time >&2; fi
fi

mkdir -p bench-data
data=bench-data/bench-${size_mb}.csv
if [[ ! -s $data ]]; then
	go run ./scripts/gencsv --out="$data" --mb="$size_mb"
fi
bytes=$(stat -c %s "$data")
bin=${BIN:-}
if [[ -z $bin ]]; then
	bin=bench-data/lightbeam
	go build -o "$bin" .
fi

for runner in $runners; do
	out=bench-data/out-$runner
	prof=""
	if [[ ${PROFILE:-0} == 1 ]]; then prof="bench-data/cpu-$runner.prof"; fi
	load_before=$(cut -d' ' -f1-3 /proc/loadavg)
	LIGHTBEAM_CPUPROFILE="$prof" /usr/bin/time -v -o bench-data/time-$runner.txt \
		"$bin" preprocess --format=csv --input="$data" --out="$out" --overwrite \
		--shards="$shards" --runner="$runner" >bench-data/log-$runner.txt 2>&1 || {
		echo "preprocess on $runner failed; see bench-data/log-$runner.txt" >&2
		tail -5 bench-data/log-$runner.txt >&2
		exit 1
	}
	load_after=$(cut -d' ' -f1-3 /proc/loadavg)
	python3 - "$out/report.json" bench-data/time-$runner.txt "$bytes" "$runner" "$load_before" "$load_after" "$shards" <<'PY'
import json, re, sys
rep = json.load(open(sys.argv[1]))
t = open(sys.argv[2]).read()
def field(name):
    return re.search(re.escape(name) + r": (.*)", t).group(1).strip()
wall = field("Elapsed (wall clock) time (h:mm:ss or m:ss)").split(":")
secs = sum(float(x) * 60 ** i for i, x in enumerate(reversed(wall)))
rss_mb = int(field("Maximum resident set size (kbytes)")) / 1024
cpu = field("Percent of CPU this job got")
mb = int(sys.argv[3]) / 1e6
print(f"{sys.argv[4]} --shards={sys.argv[7]}: {rep['rows_read']} rows ({rep['rows_written']} written, {rep['rows_rejected']} rejected), "
      f"{mb:.0f} MB in {secs:.1f} s: {rep['rows_read']/secs:,.0f} rows/s, {mb/secs:.1f} MB/s, "
      f"peak RSS {rss_mb:,.0f} MiB, CPU {cpu}, out {rep['bytes_out']/1e6:.0f} MB, "
      f"loadavg before {sys.argv[5]} after {sys.argv[6]}")
PY
done
