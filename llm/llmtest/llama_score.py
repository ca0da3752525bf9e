"""llama_score.py GGUF TEXT CTX WINDOWS: llama.cpp's scores (PyPI's llama-cpp-python) of the first
WINDOWS windows of CTX tokens of TEXT, as llama-perplexity scores its chunks: the text tokenized
with the file's vocabulary (BOS first when it adds one), each window's first token replaced by BOS when the vocabulary
adds one, and the logits at positions CTX/2 … CTX−2 scored against the next token. Prints one JSON
line: the windows' tokens (as scored) and the sums (tokens, nll), and the top token of each scored
position."""
import json, sys

import llama_cpp
import numpy as np

path, text_path, ctx, windows = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
# flash_attn: llama-perplexity's default ("auto") turns it on for the CPU; llama-cpp-python's is off.
llm = llama_cpp.Llama(model_path=path, n_ctx=ctx, n_batch=ctx, n_ubatch=ctx, logits_all=True, n_threads=2,
                      seed=1, verbose=False, flash_attn=True)
# As llama-perplexity: the whole text, BOS first when the vocabulary adds one.
tokens = llm.tokenize(open(text_path, encoding="utf-8").read().encode(), add_bos=True, special=False)
if len(tokens) < windows * ctx:
    sys.exit(f"{text_path}: {len(tokens)} tokens, fewer than {windows} windows of {ctx}")
add_bos = llama_cpp.llama_vocab_get_add_bos(llama_cpp.llama_model_get_vocab(llm.model))
out = {"windows": [], "tokens": 0, "nll": 0.0, "top": []}
for w in range(windows):
    win = tokens[w * ctx:(w + 1) * ctx]
    if add_bos:
        win[0] = llm.token_bos()
    llm.reset()
    llm.eval(win)
    logits = np.asarray(llm.scores[:ctx], dtype=np.float64)
    for j in range(ctx // 2, ctx - 1):
        row = logits[j] - logits[j].max()
        out["nll"] -= row[win[j + 1]] - np.log(np.exp(row).sum())
        out["tokens"] += 1
        out["top"].append(int(row.argmax()))
    out["windows"].append(win)
print(json.dumps(out))
