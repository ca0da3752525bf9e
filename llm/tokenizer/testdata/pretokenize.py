"""pretokenize.py TEXTS: the words of each text of the JSON list in the file
TEXTS under the Hugging Face pre-tokenizers lightbeam's encoder mirrors, as
byte-level text. Prints one JSON object: pre-tokenizer name -> lists of words."""
import json
import sys

from tokenizers import Regex, pre_tokenizers as pt

QWEN2 = r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"""
LLAMA3 = QWEN2.replace(r"\p{N}|", r"\p{N}{1,3}|")
byte_level = pt.ByteLevel(add_prefix_space=False, use_regex=False)
pres = {
    "gpt-2": pt.ByteLevel(add_prefix_space=False, use_regex=True),
    "smollm": pt.Sequence([pt.Digits(individual_digits=True), pt.ByteLevel(add_prefix_space=False, use_regex=True)]),
    "qwen2": pt.Sequence([pt.Split(Regex(QWEN2), behavior="isolated"), byte_level]),
    "llama-bpe": pt.Sequence([pt.Split(Regex(LLAMA3), behavior="isolated"), byte_level]),
}
with open(sys.argv[1], encoding="utf-8") as f:
    texts = json.load(f)
print(json.dumps({name: [[w for w, _ in p.pre_tokenize_str(t)] for t in texts] for name, p in pres.items()}))
