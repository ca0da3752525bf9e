"""llama_embed.py GGUF SENTENCES: llama.cpp's embeddings (PyPI's llama-cpp-python) of the sentences
of the file SENTENCES, one a line (a trailing CR dropped; lines blank but for spaces skipped), as
Llama(embedding=True).embed() returns them: the sentence tokenized with the file's vocabulary and
its special tokens ([CLS] … [SEP]), pooled as the file's pooling_type says, not normalized (embed()'s
default). Each sentence is embedded on its own. Prints one JSON line: {"tokens": [[ids] per sentence],
"embeddings": [[floats] per sentence]}."""
import json, sys

import llama_cpp

path, sentences_path = sys.argv[1], sys.argv[2]
sentences = []
with open(sentences_path, encoding="utf-8", newline="\n") as f:
    for line in f:
        line = line.rstrip("\n").removesuffix("\r")
        if line.strip():
            sentences.append(line)
# flash_attn off (llama-cpp-python's default): K and V stay float32, as lightbeam keeps them.
llm = llama_cpp.Llama(model_path=path, embedding=True, n_ctx=512, n_batch=512, n_ubatch=512, n_threads=2,
                      seed=1, verbose=False, flash_attn=False)
out = {"tokens": [], "embeddings": []}
for s in sentences:
    tokens = llm.tokenize(s.encode("utf-8"), add_bos=True, special=False)
    if len(tokens) > 512:
        sys.exit(f"{sentences_path}: a sentence of {len(tokens)} tokens, more than 512")
    out["tokens"].append(tokens)
    out["embeddings"].append([float(v) for v in llm.embed(s, truncate=False)])
print(json.dumps(out))
