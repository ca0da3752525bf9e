"""oracle.py GGUF DIR TEXTS: the token ids of each text of the JSON list in
the file TEXTS (base64: texts may be bytes that are not UTF-8), from llama.cpp (llama-cpp-python, the GGUF's vocabulary
only) with special tokens added, parsed ("llama") and not ("plain"), and
from the Hugging Face tokenizer of DIR ("hf": tokenizer.json through the
tokenizers package, else tokenizer.model through sentencepiece with its
BOS; DIR "" for none; null for a text that is not UTF-8). Prints one JSON
object of lists of id lists."""
import base64
import json
import os
import sys

import llama_cpp

def utf8(b):
    try:
        b.decode()
        return True
    except UnicodeDecodeError:
        return False


path, hf_dir, texts_path = sys.argv[1:4]
with open(texts_path, encoding="utf-8") as f:
    texts = [base64.b64decode(t) for t in json.load(f)]
vocab = llama_cpp.Llama(model_path=path, vocab_only=True, verbose=False)
out = {
    "llama": [vocab.tokenize(s, add_bos=True, special=True) for s in texts],
    "plain": [vocab.tokenize(s, add_bos=True, special=False) for s in texts],
}
if hf_dir and os.path.exists(os.path.join(hf_dir, "tokenizer.json")):
    from tokenizers import Tokenizer

    hf = Tokenizer.from_file(os.path.join(hf_dir, "tokenizer.json"))
    hf.no_padding()
    hf.no_truncation()
    out["hf"] = [hf.encode(s.decode(), add_special_tokens=True).ids if utf8(s) else None for s in texts]
elif hf_dir:
    import sentencepiece

    sp = sentencepiece.SentencePieceProcessor(model_file=os.path.join(hf_dir, "tokenizer.model"))
    out["hf"] = [[sp.bos_id()] + sp.encode(s.decode()) if utf8(s) else None for s in texts]
print(json.dumps(out))
