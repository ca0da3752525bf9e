"""perplexity.py TEXT WINDOWS CTX GGUF...: llama.cpp's perplexity (PyPI's llama-cpp-python) of
each GGUF on the same token windows of TEXT: the text is tokenized once with the first file's
vocabulary (the files share it), cut into WINDOWS windows of CTX tokens after a BOS, and every
token after the first of a window is scored from the logits before it, as llama-perplexity
scores its chunks. Prints one JSON line: each path's perplexity and the tokens scored."""
import json, sys

import llama_cpp
import numpy as np

text_path, windows, ctx, paths = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4:]
text = open(text_path, encoding="utf-8").read()
vocab = llama_cpp.Llama(model_path=paths[0], vocab_only=True, verbose=False)
tokens = vocab.tokenize(text.encode(), add_bos=False, special=False)
bos = vocab.token_bos()
if len(tokens) < windows * (ctx - 1):
    sys.exit(f"{text_path}: {len(tokens)} tokens, fewer than {windows} windows of {ctx - 1}")
chunks = [[bos] + tokens[i * (ctx - 1):(i + 1) * (ctx - 1)] for i in range(windows)]
out = {}
for path in paths:
    llm = llama_cpp.Llama(model_path=path, n_ctx=ctx, n_batch=ctx, logits_all=True, n_threads=2,
                          seed=1, verbose=False)
    nll, n = 0.0, 0
    for chunk in chunks:
        llm.reset()
        llm.eval(chunk)
        logits = np.asarray(llm.scores[: len(chunk) - 1], dtype=np.float64)
        logits -= logits.max(axis=1, keepdims=True)
        logp = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
        nll -= logp[np.arange(len(chunk) - 1), chunk[1:]].sum()
        n += len(chunk) - 1
    out[path] = float(np.exp(nll / n))
    del llm
print(json.dumps({"perplexity": out, "tokens": n}))
