package tokenizer

import (
	"context"
	"fmt"
	"strings"

	"github.com/lightbeam-ml/lightbeam/storage"
)

// Options says what the model needs of its tokenizer.
type Options struct {
	// VocabSize is the model's vocabulary size (config.json vocab_size,
	// the embedding's rows): the token list is padded to it. Optional;
	// 0 means the tokenizer's own size.
	VocabSize int
	// Family selects the table of known pre-tokenizers: "llama" (Llama,
	// Mistral, SmolLM), "qwen2" (Qwen2, Qwen3) or "bert". Required for
	// ReadBPE and ReadWordPiece.
	Family string
	// Pre, when set, is tokenizer.ggml.pre as given (the CLI's
	// --tokenizer-pre): it must be a name llama.cpp knows.
	Pre string
}

// ReadBPE reads a byte-level BPE tokenizer (tokenizer.json) as the
// converter's _set_vocab_gpt2 does: model "gpt2", the pre-tokenizer name,
// tokens and types, merges, special tokens and the chat template.
func ReadBPE(ctx context.Context, dir string, o Options) (*Vocab, error) {
	t, pre, tokens, types, err := readJSONVocab(ctx, dir, "BPE", "a byte-level BPE model", o)
	if err != nil {
		return nil, err
	}
	if t.Model.ByteFallback {
		return nil, fmt.Errorf("tokenizer: %s: a BPE with byte_fallback is a SentencePiece-style tokenizer; lightbeam converts those from tokenizer.model, which %s lacks", t.path, dir)
	}
	v := &Vocab{Model: "gpt2", Pre: pre, Tokens: tokens, Types: types}
	if err := loadSpecial(ctx, dir, t, v, specialOptions{loadMerges: true}); err != nil {
		return nil, err
	}
	return v, nil
}

// readJSONVocab reads dir's tokenizer.json, which what (e.g. "a BERT
// model") needs and whose model must be of type kind, and returns it with
// its pre-tokenizer name and base vocabulary (tokens and their types).
func readJSONVocab(ctx context.Context, dir, kind, what string, o Options) (*hfTokenizer, string, []string, []int32, error) {
	t, err := readTokenizerJSON(ctx, dir)
	if err != nil {
		return nil, "", nil, nil, err
	}
	if t == nil {
		return nil, "", nil, nil, fmt.Errorf("tokenizer: %s: missing: %s needs its tokenizer.json", storage.Join(dir, "tokenizer.json"), what)
	}
	if t.Model.Type != kind {
		return nil, "", nil, nil, fmt.Errorf("tokenizer: %s: model type %q, want %s", t.path, t.Model.Type, kind)
	}
	pre, err := choosePre(t, o)
	if err != nil {
		return nil, "", nil, nil, err
	}
	tokens, types, err := t.baseVocab(o.VocabSize)
	return t, pre, tokens, types, err
}

// ReadWordPiece reads a BERT WordPiece tokenizer (tokenizer.json) as the
// converter's BertModel.set_vocab does: model "bert", tokens in llama.cpp's
// phantom-space form (a word-initial piece gets a leading U+2581, a "##"
// continuation loses its "##"; control tokens stay as they are), the token
// type count (typeVocabSize, config.json's type_vocab_size), special tokens.
func ReadWordPiece(ctx context.Context, dir string, typeVocabSize int, o Options) (*Vocab, error) {
	t, pre, tokens, types, err := readJSONVocab(ctx, dir, "WordPiece", "a BERT model", o)
	if err != nil {
		return nil, err
	}
	for i, tok := range tokens {
		switch {
		case types[i] == Control:
		case strings.HasPrefix(tok, "##"):
			tokens[i] = tok[2:]
		default:
			tokens[i] = "\u2581" + tok
		}
	}
	v := &Vocab{Model: "bert", Pre: pre, Tokens: tokens, Types: types, TokenTypeCount: typeVocabSize}
	if err := loadSpecial(ctx, dir, t, v, specialOptions{nVocab: len(tokens)}); err != nil {
		return nil, err
	}
	return v, nil
}

// ReadSentencePiece reads tokenizer.model as the converter's
// _set_vocab_sentencepiece does: model "llama", pre "default", pieces with
// their scores and types (USER_DEFINED pieces count as NORMAL there),
// padded to the vocab size with [PAD{i}] (score -10000, UNUSED); tokens of
// added_tokens.json and tokenizer_config.json's added_tokens_decoder
// replace theirs (score -1000, CONTROL or USER_DEFINED).
func ReadSentencePiece(ctx context.Context, dir string, o Options) (*Vocab, error) {
	raw, err := readFile(ctx, dir, "tokenizer.model")
	if err != nil {
		return nil, err
	}
	path := storage.Join(dir, "tokenizer.model")
	if raw == nil {
		return nil, fmt.Errorf("tokenizer: %s: missing: a SentencePiece model needs its tokenizer.model", path)
	}
	pieces, err := parseSentencePiece(raw, path)
	if err != nil {
		return nil, err
	}
	n := o.VocabSize
	if n == 0 {
		n = len(pieces)
	}
	if len(pieces) > n {
		return nil, fmt.Errorf("tokenizer: %s has %d pieces, but the model's vocab_size is %d (config.json): vocabulary size mismatch", path, len(pieces), n)
	}
	if o.Pre != "" && o.Pre != "default" {
		return nil, fmt.Errorf("tokenizer: %s: --tokenizer-pre=%s: a SentencePiece tokenizer's pre-tokenizer is \"default\"", path, o.Pre)
	}
	v := &Vocab{Model: "llama", Pre: "default", Tokens: make([]string, n), Scores: make([]float32, n), Types: make([]int32, n)}
	for i := range n {
		v.Tokens[i], v.Scores[i], v.Types[i] = padToken(i), -10000, Unused
	}
	for i, p := range pieces {
		typ := Normal
		switch p.typ {
		case Unknown, Control, Unused, Byte:
			typ = p.typ
		}
		v.Tokens[i], v.Scores[i], v.Types[i] = p.piece, p.score, typ
	}
	var added map[string]int
	if _, err := readJSON(ctx, dir, "added_tokens.json", &added); err != nil {
		return nil, err
	}
	for tok, id := range added {
		if id >= 0 && id < n {
			v.Tokens[id], v.Scores[id], v.Types[id] = tok, -1000, UserDefined
		}
	}
	var tc struct {
		Decoder map[string]struct {
			Content string `json:"content"`
			Special bool   `json:"special"`
		} `json:"added_tokens_decoder"`
	}
	if _, err := readJSON(ctx, dir, "tokenizer_config.json", &tc); err != nil {
		return nil, err
	}
	for key, d := range tc.Decoder {
		var id int
		if _, err := fmt.Sscanf(key, "%d", &id); err != nil || id < 0 {
			return nil, fmt.Errorf("tokenizer: %s: added_tokens_decoder key %q is not a token id", storage.Join(dir, "tokenizer_config.json"), key)
		}
		if id >= n {
			continue // the converter warns and ignores it
		}
		tok := d.Content
		if d.Special || looksSpecial(tok) {
			v.Types[id] = Control
		} else {
			tok = strings.ReplaceAll(tok, "\u2581", " ")
			v.Types[id] = UserDefined
		}
		v.Tokens[id], v.Scores[id] = tok, -1000
	}
	t, err := readTokenizerJSON(ctx, dir)
	if err != nil {
		return nil, err
	}
	if err := loadSpecial(ctx, dir, t, v, specialOptions{nVocab: n}); err != nil {
		return nil, err
	}
	return v, nil
}
