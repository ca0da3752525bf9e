"""tokens.py GGUF DIR: the token ids llama.cpp (PyPI's llama-cpp-python, the file's vocabulary
only) gives each sentence of a varied set, against the Hugging Face tokenizer of DIR
(tokenizer.json, through the tokenizers package), special tokens added and parsed by both. Prints
one JSON line: the sentences and, for each that differs, both id lists."""
import json, sys

import llama_cpp
from tokenizers import Tokenizer

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
hf = Tokenizer.from_file(hf_dir + "/tokenizer.json")
hf.no_padding()  # sentence-transformers pads to a fixed length; llama.cpp does not
hf.no_truncation()
differ = {}
for s in sentences:
    ours = vocab.tokenize(s.encode(), add_bos=True, special=True)
    want = hf.encode(s, add_special_tokens=True).ids
    if ours != want:
        differ[s] = {"llama.cpp": ours, "hf": want}
print(json.dumps({"sentences": len(sentences), "differ": differ}))
