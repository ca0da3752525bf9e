// Package tokenizer reads a Hugging Face model directory's tokenizer
// (tokenizer.json, tokenizer.model, tokenizer_config.json, config.json) and
// gives the vocabulary as llama.cpp's GGUF keys hold it, with the values
// that llama.cpp's convert_hf_to_gguf.py writes:
//
//	tokenizer.json (BPE, byte-level)  ─ ReadBPE ──────────┐
//	tokenizer.json (WordPiece)        ─ ReadWordPiece ────┼─▶ Vocab ─ KV() ─▶ tokenizer.ggml.*
//	tokenizer.model (SentencePiece)   ─ ReadSentencePiece ┘      tokenizer.chat_template
//	tokenizer_config.json, config.json: special tokens, add_bos/add_eos, chat template
//
// Each Read* mirrors one of the converter's vocabulary paths (_set_vocab_gpt2,
// BertModel.set_vocab, _set_vocab_sentencepiece) and its SpecialVocab: the
// token list padded to the model's vocab_size with [PAD{i}] tokens, token
// types (added tokens CONTROL or USER_DEFINED), merges, scores, the special
// token ids and add flags.
//
// tokenizer.ggml.pre names llama.cpp's pre-tokenizer. The converter finds it
// by hashing the token ids of a check text; lightbeam instead recognizes
// the tokenizer.json normalizer and pre-tokenizer of each supported family
// (Recognize) and refuses one it does not know, unless
// Options.Pre (the CLI's --tokenizer-pre) names it. Never a silent default.
//
// The Encoder (NewEncoder) runs a Vocab as llama.cpp's llama_tokenize
// does, so that lightbeam tokenizes evaluation text with no Python and
// with llama.cpp's ids: special tokens are matched first, then byte-level
// BPE (model gpt2, pre-tokenizers smollm, qwen2, llama-bpe, gpt-2: hand
// scanners of their expressions, which need lookahead), SentencePiece BPE
// (llama) or WordPiece (bert). VocabFromGGUF reads the Vocab back from a
// GGUF file's keys, so a GGUF checkpoint is tokenized by its own
// vocabulary. The tests compare the ids with llama.cpp's and Hugging
// Face's (tokenizers, sentencepiece) on SmolLM2, MiniLM and the tiny
// fixtures.
//
// Files are read through package storage: local paths, gs:// and hdfs://.
// The package imports no Beam.
package tokenizer
