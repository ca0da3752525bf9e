#!/usr/bin/env bash
# Benchmark `lightbeam preprocess --format=parquet` on one Parquet file of about 1.1 GB
# (ROWS rows × 10 float64 columns + an int64 label, snappy, row groups of 500,000 rows, written by
# pyarrow) against pyarrow reading the same file into a float32 numpy matrix single-threaded, same
# run. lightbeam's run is the whole preprocess (plan from the footer, one task per run of row
# groups, parse, validate, split, statistics, scale, one shard: --shards=1), under /usr/bin/time -v:
# wall seconds and peak RSS; then the parse alone (BenchmarkParseParquetFile in data/formats: every
# row group of the file parsed into blocks, GOMAXPROCS=1, nothing downstream), then pyarrow.
# The issue's bounds: peak RSS ≤ 700 MB, within 2x of pyarrow.
#
#   scripts/bench-parquet.sh            Environment: WORK (default /tmp/lightbeam-parquet-bench), ROWS (12000000)
set -euo pipefail
cd "$(dirname "$0")/.."
work=${WORK:-/tmp/lightbeam-parquet-bench}
rows=${ROWS:-12000000}
mkdir -p "$work"
python=${LIGHTBEAM_PYTHON:-.venv/bin/python}
CGO_ENABLED=0 go build -o "$work/lightbeam" .
go test -c -o "$work/formats.test" ./data/formats
file=$work/numeric.parquet
if [ ! -f "$file" ]; then
  "$python" - "$file" "$rows" <<'PY'
import sys
import numpy as np, pyarrow as pa, pyarrow.parquet as pq
path, rows = sys.argv[1], int(sys.argv[2])
rng = np.random.default_rng(1)
schema = pa.schema([(f"x{i}", pa.float64()) for i in range(10)] + [("label", pa.int64())])
with pq.ParquetWriter(path + ".tmp", schema, compression="snappy") as w:
    for start in range(0, rows, 500_000):
        n = min(500_000, rows - start)
        cols = [pa.array(rng.standard_normal(n)) for _ in range(10)] + [pa.array(rng.integers(0, 10, n))]
        w.write_table(pa.Table.from_arrays(cols, schema=schema), row_group_size=500_000)
import os; os.replace(path + ".tmp", path)
PY
fi
bytes=$(stat -c %s "$file")
cat "$file" > /dev/null
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg); $file: $bytes bytes, $rows rows"
rm -rf "$work/out"
/usr/bin/time -v -o "$work/time-lb.txt" "$work/lightbeam" preprocess --format=parquet --input="$file" --label=label \
  --shards=1 --out="$work/out" > "$work/lb.log" 2>&1
lb=$(awk -F': ' '/Elapsed \(wall/ {n=split($2,a,":"); s=0; for(i=1;i<=n;i++) s=s*60+a[i]; print s}' "$work/time-lb.txt")
rss=$(awk -F': ' '/Maximum resident/ {printf "%.0f", $2/1024}' "$work/time-lb.txt")
parse=$(GOMAXPROCS=1 LIGHTBEAM_BENCH_PARQUET="$file" "$work/formats.test" -test.run '^$' -test.bench '^BenchmarkParseParquetFile$' -test.benchtime 1x |
  awk '/^BenchmarkParseParquetFile/ {print $3/1e9}')
pa=$("$python" - "$file" <<'PY'
import sys, time
import numpy as np, pyarrow as pa, pyarrow.parquet as pq
pa.set_cpu_count(1); pa.set_io_thread_count(1)
t0 = time.perf_counter()
t = pq.read_table(sys.argv[1], use_threads=False)
x = np.column_stack([t.column(f"x{i}").to_numpy().astype(np.float32) for i in range(10)])
y = t.column("label").to_numpy()
print(time.perf_counter() - t0)
PY
)
printf 'lightbeam preprocess: %.1f s (%.0f MB/s), peak RSS %s MiB\nlightbeam parse alone: %.1f s (%.0f MB/s)\npyarrow into numpy, 1 thread: %.1f s (%.0f MB/s)\npreprocess / pyarrow time: %.2fx; parse alone / pyarrow: %.2fx\n' \
  "$lb" "$(echo "$bytes/$lb/1000000" | bc -l)" "$rss" "$parse" "$(echo "$bytes/$parse/1000000" | bc -l)" \
  "$pa" "$(echo "$bytes/$pa/1000000" | bc -l)" "$(echo "$lb/$pa" | bc -l)" "$(echo "$parse/$pa" | bc -l)"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
