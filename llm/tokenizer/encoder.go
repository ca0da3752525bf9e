package tokenizer

import (
	"fmt"
	"slices"
	"strings"
)

// Encoder turns text into token ids as llama.cpp's llama_tokenize does
// with the vocabulary lightbeam writes into a GGUF file (the same Vocab,
// or one read back from the file's tokenizer.ggml.* keys by VocabFromGGUF):
//
//	text ─ special tokens matched ─▶ fragments ─┬─ gpt2:  pre-tokenizer words ─ byte-level BPE merges by rank
//	                                            ├─ llama: ▁ for spaces ─ SentencePiece merges by score, <0xNN> bytes
//	                                            └─ bert:  lowercase, strip accents, split ─ WordPiece longest match
//
// Where llama.cpp and Hugging Face disagree (Qwen2's NFC normalizer, BERT
// on Hangul and on combining marks, sentencepiece on the text of control
// tokens and around user-defined ones), the Encoder gives llama.cpp's
// ids: a GGUF model was trained on Hugging Face's, but it is run on these.
// An Encoder is immutable and safe for concurrent use.
type Encoder struct {
	model   string
	tokenID map[string]int32 // token text → id
	special []specialToken   // longest first

	bos, eos, sep, unk int32 // -1 when the vocabulary has none
	addBOS, addEOS     bool

	bpe *bpeModel
	spm *spmModel
	wpm *wpmModel
}

// specialToken is a token matched in the text before tokenization: a
// control or unknown token (only when special tokens are parsed) or a
// user-defined one (always).
type specialToken struct {
	id      int32
	text    string
	control bool
}

// Attributes llama.cpp gives tokens by their text whatever their type
// (llama_vocab::impl::load): end-of-generation and fill-in-the-middle
// tokens are control tokens; gpt-oss's channel tokens are user-defined.
var (
	forcedControl = strings.Fields(`<|eot_id|> <|im_end|> <|end|> <|return|> <|call|> <|flush|> <|calls|>
<end_of_turn> <|endoftext|> </s> <|eom_id|> <EOT> _<EOT> [EOT] [EOS] <|end_of_text|> <end_of_utterance>
<eos> <turn|> <|tool_response> <｜end▁of▁sentence｜> [e~[
<|fim_prefix|> <fim-prefix> <fim_prefix> <｜fim▁begin｜> <PRE> ▁<PRE> <|code_prefix|> <|prefix|>
<|fim_suffix|> <fim-suffix> <fim_suffix> <｜fim▁hole｜> <SUF> ▁<SUF> <|code_suffix|> <|suffix|>
<|fim_middle|> <fim-middle> <fim_middle> <｜fim▁end｜> <MID> ▁<MID> <|code_middle|> <|middle|>
<|fim_pad|> <fim-pad> <fim_pad> <PAD> [PAD] <|fim_repo|> <|repo_name|> <fim-repo> <REPO> <reponame> <|file_sep|>`)
	forcedUserDefined = []string{"<|channel|>", "<|message|>", "<|start|>", "<|constrain|>"}
)

// NewEncoder returns the encoder of v. It supports the models "gpt2"
// (byte-level BPE with the pre-tokenizers smollm, qwen2, llama-bpe and
// gpt-2), "llama" (SentencePiece BPE) and "bert" (WordPiece), and fails on
// others, on a BPE without merges and on a token listed twice.
func NewEncoder(v *Vocab) (*Encoder, error) {
	if len(v.Types) != len(v.Tokens) || v.Scores != nil && len(v.Scores) != len(v.Tokens) {
		return nil, fmt.Errorf("tokenizer: %d tokens, %d types and %d scores", len(v.Tokens), len(v.Types), len(v.Scores))
	}
	e := &Encoder{model: v.Model, tokenID: make(map[string]int32, len(v.Tokens)), bos: -1, eos: -1, sep: -1, unk: -1}
	texts := make([]string, len(v.Tokens))
	for i, t := range v.Tokens {
		if t == "" {
			t = fmt.Sprintf("[EMPTY_%d]", i) // as llama.cpp names an empty token
		}
		if j, ok := e.tokenID[t]; ok {
			return nil, fmt.Errorf("tokenizer: duplicate token %q: ids %d and %d", t, j, i)
		}
		e.tokenID[t] = int32(i)
		texts[i] = t
	}
	// llama.cpp's defaults, which the vocabulary's keys override.
	n := int32(len(v.Tokens))
	def := func(id int32) int32 {
		if id >= n {
			return -1
		}
		return id
	}
	switch v.Model {
	case "gpt2":
		e.bos, e.eos = def(11), def(11)
	case "llama":
		e.bos, e.eos, e.unk, e.addBOS = def(1), def(2), def(0), true
	case "bert":
		e.bos, e.unk, e.sep, e.addBOS = def(101), def(100), def(102), true
	default:
		return nil, fmt.Errorf("tokenizer: tokenizer model %q: lightbeam encodes gpt2 (byte-level BPE), llama (SentencePiece) and bert (WordPiece)", v.Model)
	}
	var err error
	if v.Model == "gpt2" {
		if e.bpe, err = newBPE(v, texts); err != nil {
			return nil, err
		}
		e.addBOS = e.bpe.addBOS
	}
	for _, s := range v.Special {
		if s.ID >= uint32(n) {
			continue // llama.cpp keeps its default
		}
		switch s.Type {
		case "bos":
			e.bos = int32(s.ID)
		case "eos":
			e.eos = int32(s.ID)
		case "sep":
			e.sep = int32(s.ID)
		case "unk":
			e.unk = int32(s.ID)
		}
	}
	for _, a := range v.Add {
		switch a.Type {
		case "bos":
			e.addBOS = a.Value
		case "eos":
			e.addEOS = a.Value
		}
	}
	if e.addBOS && e.bos < 0 || e.addEOS && e.eos < 0 {
		return nil, fmt.Errorf("tokenizer: the vocabulary adds a BOS or EOS token it does not have")
	}
	switch v.Model {
	case "llama":
		e.spm = newSPM(e, v)
	case "bert":
		if e.bos < 0 || e.sep < 0 || e.unk < 0 {
			return nil, fmt.Errorf("tokenizer: a WordPiece vocabulary needs its CLS (bos), SEP and UNK tokens")
		}
		e.wpm = newWPM(texts)
	}
	e.special = specialTokens(v, texts, e.tokenID)
	return e, nil
}

// specialTokens lists the tokens llama.cpp matches in the text before
// tokenizing it (its cache_special_tokens), longest first; ties keep id
// order.
func specialTokens(v *Vocab, texts []string, ids map[string]int32) []specialToken {
	typ := append([]int32{}, v.Types...)
	for _, t := range forcedControl {
		if id, ok := ids[t]; ok && typ[id] != Unknown {
			typ[id] = Control
		}
	}
	for _, t := range forcedUserDefined {
		if id, ok := ids[t]; ok {
			typ[id] = UserDefined
		}
	}
	var out []specialToken
	for i, t := range typ {
		if t == Control || t == UserDefined || t == Unknown {
			out = append(out, specialToken{int32(i), texts[i], t != UserDefined})
		}
	}
	slices.SortStableFunc(out, func(a, b specialToken) int { return len(b.text) - len(a.text) })
	return out
}

// fragment is a span of the text, or a special token (id ≥ 0).
type fragment struct {
	start, end int
	id         int32
}

// partition splits text at the special tokens, longest token first, each
// at its leftmost non-overlapping occurrences in what is still text
// (llama.cpp's tokenizer_st_partition). Control and unknown tokens are
// matched only when parseSpecial is set.
func (e *Encoder) partition(text string, parseSpecial bool) []fragment {
	frags := []fragment{{0, len(text), -1}}
	var next []fragment
	for _, sp := range e.special {
		if !parseSpecial && sp.control {
			continue
		}
		next = next[:0]
		found := false
		for _, f := range frags {
			if f.id >= 0 {
				next = append(next, f)
				continue
			}
			start := f.start
			for {
				k := strings.Index(text[start:f.end], sp.text)
				if k < 0 {
					break
				}
				found = true
				if k > 0 {
					next = append(next, fragment{start, start + k, -1})
				}
				next = append(next, fragment{start + k, start + k + len(sp.text), sp.id})
				start += k + len(sp.text)
			}
			if start < f.end {
				next = append(next, fragment{start, f.end, -1})
			}
		}
		if found {
			frags, next = next, frags
		}
	}
	return frags
}

// Encode returns the token ids of text. addSpecial adds what the
// vocabulary says a sequence begins and ends with (BOS when add_bos, EOS
// when add_eos; BERT's CLS and SEP); parseSpecial turns the text of
// control tokens (<|im_start|>, <s>) into those tokens, as llama.cpp's
// llama_tokenize(add_special, parse_special) does. User-defined added
// tokens are always matched. Bytes that are not UTF-8 are read as
// llama.cpp reads them (mostly as U+FFFD).
func (e *Encoder) Encode(text string, addSpecial, parseSpecial bool) []int32 {
	var frags []fragment
	if text != "" {
		frags = e.partition(text, parseSpecial)
	}
	out := make([]int32, 0, len(text)/3+2)
	switch {
	case e.bpe != nil:
		if addSpecial && e.addBOS {
			out = append(out, e.bos)
		}
		s := e.bpe.newSession()
		for _, f := range frags {
			if f.id >= 0 {
				out = append(out, f.id)
				continue
			}
			out = s.encode(e, text[f.start:f.end], out)
		}
		if addSpecial && e.addEOS {
			out = append(out, e.eos)
		}
	case e.spm != nil:
		if addSpecial && e.addBOS {
			out = append(out, e.bos)
		}
		prevSpecial := true
		s := &spmSession{}
		for _, f := range frags {
			if f.id >= 0 {
				out = append(out, f.id)
				prevSpecial = true
				continue
			}
			out = s.encode(e, text[f.start:f.end], prevSpecial, out)
			prevSpecial = false
		}
		if addSpecial && e.addEOS {
			out = append(out, e.eos)
		}
	case e.wpm != nil:
		if addSpecial {
			out = append(out, e.bos)
		}
		for _, f := range frags {
			if f.id >= 0 {
				out = append(out, f.id)
				continue
			}
			out = e.wpm.encode(e, text[f.start:f.end], out)
		}
		if addSpecial {
			out = append(out, e.sep)
		}
	}
	return out
}

// BOS returns the id of the beginning-of-sequence token and whether
// Encode adds it.
func (e *Encoder) BOS() (id int32, added bool) { return e.bos, e.addBOS }
