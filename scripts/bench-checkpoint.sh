#!/usr/bin/env bash
# Benchmark `lightbeam compress --checkpoint` (a safetensors checkpoint quantized into a GGUF)
# against llama.cpp's reference Python quantizer (gguf-py, gguf.quants.quantize).
#
#   scripts/bench-checkpoint.sh [SIZE_MB] [QUANTS]     (defaults: 2048 "q8_0 q4_0")
#   scripts/bench-checkpoint.sh --check                (64 MiB, 2 shards, q8_0 q4_0, compare on;
#                                                       under a minute: for trying the script)
#
# Environment: BENCH_DIR (work directory, default /tmp/lightbeam-checkpoint-bench), SHARDS (1: one
# .safetensors file; N: a Hugging Face sharded directory), DTYPE (checkpoint dtype, default f32),
# HIDDEN (model width, default the generator's), GGUF_WRITE (1, default: gguf-py also writes its
# GGUF, as lightbeam does; 0: quantize only), COMPARE (1: afterwards, untimed, compare lightbeam's
# model.gguf tensor bytes with gguf-py's; default 1 with --check, else 0), LB_FLAGS (more flags
# for compress, e.g. --runner=direct), LIGHTBEAM (a lightbeam binary to run instead of building one).
#
# It builds lightbeam once (CGO_ENABLED=0 go build -o /tmp/lightbeam-bench .), generates the
# checkpoint with scripts/gen_checkpoint.py into BENCH_DIR (kept and reused while the size and
# flags are the same), and per quant, with the checkpoint's pages read into the page cache first:
#   a) lightbeam compress --checkpoint=CKPT --arch=raw --quant=Q --out=BENCH_DIR/out-Q --overwrite
#      under /usr/bin/time -v: wall seconds and maximum RSS;
#   b) scripts/bench_checkpoint_gguf.py (gguf-py, one thread) on the same checkpoint and the same
#      tensors (2-D float tensors whose rows 32 divides), also under /usr/bin/time -v; it reports
#      its read, quantize-only and GGUF-write seconds besides.
# Seconds are the processes' wall times (start-up included), GB = 10^9 bytes of the checkpoint's
# files, GB/s = GB / wall seconds, peak RSS = /usr/bin/time's maximum RSS in MiB (both map the
# checkpoint: touched file pages count). The ratio is lightbeam's GB/s over gguf-py's. gguf-py
# 0.19 has no Q4_K quantizer, so q4_k rows show lightbeam alone. The last lines are the table,
# one line per quant; BENCH_DIR/results.jsonl keeps the raw numbers. The machine is often
# shared: the load average is printed before and after each run.
set -euo pipefail
cd "$(dirname "$0")/.."

check=0
if [[ ${1:-} == --check ]]; then
	check=1
	shift
	size_mb=64
	quants=${1:-q8_0 q4_0}
	shards=${SHARDS:-2}
	compare=${COMPARE:-1}
else
	size_mb=${1:-2048}
	quants=${2:-q8_0 q4_0}
	shards=${SHARDS:-1}
	compare=${COMPARE:-0}
fi
dtype=${DTYPE:-f32}
gguf_write=${GGUF_WRITE:-1}
work=${BENCH_DIR:-/tmp/lightbeam-checkpoint-bench}
lb=/tmp/lightbeam-bench
mkdir -p "$work"
work=$(cd "$work" && pwd)

if [[ ! -x /usr/bin/time ]]; then
	echo "installing GNU time (/usr/bin/time)" >&2
	if [[ $(id -u) -eq 0 ]]; then apt-get install -y time >&2; else sudo apt-get install -y time >&2; fi
fi
python=$(bash scripts/python-env.sh)

echo "date: $(date -u +%FT%TZ), machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(free -g | awk '/^Mem:/{print $2}') GiB, load: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
if [[ -n ${LIGHTBEAM:-} ]]; then
	lb=$LIGHTBEAM
	echo "using $lb (LIGHTBEAM; not rebuilt)" >&2
else
	echo "building $lb (CGO_ENABLED=0, $(go version | cut -d' ' -f3))" >&2
	CGO_ENABLED=0 go build -o "$lb" .
fi

# The checkpoint, generated once per size and flags.
name=ckpt-${size_mb}mb-$dtype
[[ $shards -gt 1 ]] && name+=-${shards}shards
gen_args=(--size-mb "$size_mb" --dtype "$dtype" --shards "$shards" --seed 1)
[[ -n ${HIDDEN:-} ]] && gen_args+=(--hidden "$HIDDEN")
if [[ $shards -gt 1 ]]; then ckpt=$work/$name; else ckpt=$work/$name.safetensors; fi
stamp=$work/$name.args
want="${gen_args[*]} $(sha256sum scripts/gen_checkpoint.py | cut -c1-16)"
if [[ -e $ckpt && -f $stamp && $(cat "$stamp") == "$want" ]]; then
	echo "reusing $ckpt" >&2
else
	rm -f "$stamp"
	echo "generating $ckpt" >&2
	/usr/bin/time -v -o "$work/time-gen.txt" "$python" scripts/gen_checkpoint.py --out "$ckpt" "${gen_args[@]}" \
		--summary "$work/$name.json" >&2
	echo "$want" >"$stamp"
	grep -E 'Elapsed|Maximum resident' "$work/time-gen.txt" | sed 's/^\s*/generator: /' >&2
fi
if [[ -d $ckpt ]]; then files=("$ckpt"/*.safetensors); else files=("$ckpt"); fi
in_bytes=$(stat -c %s "${files[@]}" | awk '{s += $1} END {printf "%.0f", s}')

warm() { cat "${files[@]}" >/dev/null; } # the same page-cache state for both tools

status=0
: >"$work/results.jsonl"
for q in $quants; do
	# a) lightbeam
	warm
	lb_load0=$(cut -d' ' -f1-3 /proc/loadavg)
	lb_ok=1
	# shellcheck disable=SC2086 # LB_FLAGS is a list of flags
	/usr/bin/time -v -o "$work/time-lb-$q.txt" "$lb" compress --checkpoint="$ckpt" --arch=raw --quant="$q" \
		--out="$work/out-$q" --overwrite ${LB_FLAGS:-} >"$work/log-lb-$q.txt" 2>&1 || lb_ok=0
	lb_load1=$(cut -d' ' -f1-3 /proc/loadavg)
	if [[ $lb_ok == 0 ]]; then
		echo "lightbeam compress --quant=$q failed; $work/log-lb-$q.txt ends:" >&2
		tail -5 "$work/log-lb-$q.txt" >&2
		status=1
	else
		echo "lightbeam $q: done (load $lb_load0 -> $lb_load1); output $(du -sh "$work/out-$q" | cut -f1)" >&2
	fi

	# b) gguf-py
	py_ok=0
	if [[ $q == q8_0 || $q == q4_0 ]]; then
		warm
		py_load0=$(cut -d' ' -f1-3 /proc/loadavg)
		py_args=(--checkpoint "$ckpt" --quant "$q" --json "$work/gguf-py-$q.json")
		[[ $gguf_write == 1 ]] && py_args+=(--gguf "$work/gguf-py-$q.gguf")
		if /usr/bin/time -v -o "$work/time-py-$q.txt" "$python" scripts/bench_checkpoint_gguf.py "${py_args[@]}" \
			>"$work/log-py-$q.txt" 2>&1; then
			py_ok=1
			grep '^gguf-py' "$work/log-py-$q.txt" >&2 || true
		else
			echo "bench_checkpoint_gguf.py --quant $q failed; $work/log-py-$q.txt ends:" >&2
			tail -5 "$work/log-py-$q.txt" >&2
			status=1
		fi
		py_load1=$(cut -d' ' -f1-3 /proc/loadavg)
		echo "gguf-py $q: load $py_load0 -> $py_load1" >&2
	else
		echo "gguf-py: no $q quantizer in gguf 0.19 (only q8_0 and q4_0 are compared)" >&2
	fi

	# c) untimed: lightbeam's bytes against gguf-py's
	if [[ $compare == 1 && $lb_ok == 1 && $py_ok == 1 ]]; then
		if ! "$python" scripts/bench_checkpoint_gguf.py --checkpoint "$ckpt" --quant "$q" \
			--compare "$work/out-$q/model.gguf" --json "$work/compare-$q.json" >"$work/log-compare-$q.txt" 2>&1; then
			status=1
		fi
		grep -v '^{' "$work/log-compare-$q.txt" >&2 || true
	fi

	"$python" - "$q" "$in_bytes" "$lb_ok" "$work/time-lb-$q.txt" "$work/out-$q" "$py_ok" \
		"$work/time-py-$q.txt" "$work/gguf-py-$q.json" >>"$work/results.jsonl" <<'PY'
import json, os, re, sys
q, in_bytes, lb_ok, lb_time, lb_out, py_ok, py_time, py_json = sys.argv[1:]
def timev(path):
    t = open(path).read()
    f = lambda name: re.search(re.escape(name) + r": (.*)", t).group(1).strip()
    wall = f("Elapsed (wall clock) time (h:mm:ss or m:ss)").split(":")
    return dict(seconds=round(sum(float(x) * 60 ** i for i, x in enumerate(reversed(wall))), 3),
                peak_rss_mib=round(int(f("Maximum resident set size (kbytes)")) / 1024, 1),
                cpu=f("Percent of CPU this job got"))
r = dict(quant=q, input_bytes=int(in_bytes))
if lb_ok == "1":
    r["lightbeam"] = timev(lb_time)
    g = os.path.join(lb_out, "model.gguf")
    if os.path.exists(g):
        r["lightbeam"]["gguf_bytes"] = os.path.getsize(g)
if py_ok == "1":
    r["gguf_py"] = timev(py_time)
    r["gguf_py"]["detail"] = json.load(open(py_json))
print(json.dumps(r))
PY
done

"$python" - "$work/results.jsonl" "$gguf_write" "$work/$name.json" "$ckpt" <<'PY'
import json, os, sys
if os.path.exists(sys.argv[3]):
    g = json.load(open(sys.argv[3]))
    c = g["config"]
    print(f"checkpoint: {sys.argv[4]}: {g['file_bytes'] / 1e9:.3f} GB in {len(g['files'])} file(s), {g['dtype']}, "
          f"{g['tensors']} tensors ({g['quantizable_tensors']} quantized: 2-D, rows a multiple of 32), "
          f"{c['layers']} layers, hidden {c['hidden']}, vocab {c['vocab']}")
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
write = sys.argv[2] == "1"
print(f"{'quant':6} {'input GB':>8} | {'lightbeam s':>11} {'GB/s':>6} {'RSS MiB':>8} | "
      f"{'gguf-py s':>9} {'GB/s':>6} {'RSS MiB':>8} ({'quant s':>7} {'GB/s':>6}) | lightbeam/gguf-py")
for r in rows:
    gb = r["input_bytes"] / 1e9
    lb, py = r.get("lightbeam"), r.get("gguf_py")
    s = f"{r['quant']:6} {gb:8.3f} | "
    s += f"{lb['seconds']:11.2f} {gb / lb['seconds']:6.3f} {lb['peak_rss_mib']:8.0f} | " if lb else f"{'failed':>11} {'':6} {'':8} | "
    if py:
        d = py["detail"]
        s += (f"{py['seconds']:9.2f} {gb / py['seconds']:6.3f} {py['peak_rss_mib']:8.0f} "
              f"({d['quant_s']:7.2f} {d['quant_gbps']:6.3f}) | ")
    else:
        s += f"{'n/a':>9} {'':6} {'':8} ({'':7} {'':6}) | "
    s += f"{py['seconds'] / lb['seconds']:.2f}x" if lb and py else "-"
    print(s)
print("seconds: wall of each process; gguf-py " + ("reads, quantizes and writes its GGUF" if write else "reads and quantizes (GGUF_WRITE=0)")
      + "; (quant s, GB/s): its quantize calls alone, on the quantized tensors' bytes")
PY
exit $status
