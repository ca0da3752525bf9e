"""tokens.py GGUF DIR: the token ids llama.cpp (PyPI's llama-cpp-python, the file's vocabulary
only) gives each sentence of a varied set, against the Hugging Face tokenizer of DIR
(tokenizer.json through the tokenizers package, else tokenizer.model through sentencepiece with
its BOS), special tokens added and parsed by both. Prints
one JSON line: the sentences and, for each that differs, both id lists."""
import json, sys

import os

import llama_cpp

path, hf_dir, extra = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
sentences = [
    "Hello world",
    "The capital of France is Paris.",
    "  leading spaces, trailing space ",
    "Numbers: 3.14159, 1,000,000 and 2026-12-07; 42%!",
    "Punctuation... (brackets) [square] {curly} \"quotes\" 'single' — dashes – and ellipsis…",
    "Accents: café, naïve, Zürich, São Paulo, señor, Ångström, Œuvre",
    "Mixed CASE and camelCase and snake_case_words",
    "def f(x):\n\treturn x ** 2  # code\n",
    "emoji 🙂 and CJK 東京 and Cyrillic Москва",
    "tabs\tand\nnewlines\n\nand   runs   of   spaces",
] + extra
vocab = llama_cpp.Llama(model_path=path, vocab_only=True, verbose=False)
if os.path.exists(hf_dir + "/tokenizer.json"):
    from tokenizers import Tokenizer

    hf = Tokenizer.from_file(hf_dir + "/tokenizer.json")
    hf.no_padding()  # sentence-transformers pads to a fixed length; llama.cpp does not
    hf.no_truncation()
    encode = lambda s: hf.encode(s, add_special_tokens=True).ids
else:
    import sentencepiece

    sp = sentencepiece.SentencePieceProcessor(model_file=hf_dir + "/tokenizer.model")
    encode = lambda s: [sp.bos_id()] + sp.encode(s)
differ = {}
for s in sentences:
    ours = vocab.tokenize(s.encode(), add_bos=True, special=True)
    want = encode(s)
    if ours != want:
        differ[s] = {"llama.cpp": ours, "hf": want}
print(json.dumps({"sentences": len(sentences), "differ": differ}))
