package tokenizer

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/lightbeam-ml/lightbeam/storage"
)

// addedToken is one entry of tokenizer.json's added_tokens.
type addedToken struct {
	ID         int    `json:"id"`
	Content    string `json:"content"`
	Special    bool   `json:"special"`
	Normalized bool   `json:"normalized"`
}

// hfTokenizer is the part of tokenizer.json this package reads.
type hfTokenizer struct {
	path          string
	AddedTokens   []addedToken    `json:"added_tokens"`
	Normalizer    json.RawMessage `json:"normalizer"`
	PreTokenizer  json.RawMessage `json:"pre_tokenizer"`
	PostProcessor json.RawMessage `json:"post_processor"`
	Model         struct {
		Type         string          `json:"type"`
		Vocab        json.RawMessage `json:"vocab"`
		Merges       json.RawMessage `json:"merges"`
		ByteFallback bool            `json:"byte_fallback"`
		IgnoreMerges bool            `json:"ignore_merges"`
	} `json:"model"`
}

// readTokenizerJSON reads dir/tokenizer.json, or returns nil when there is
// none.
func readTokenizerJSON(ctx context.Context, dir string) (*hfTokenizer, error) {
	t := &hfTokenizer{path: storage.Join(dir, "tokenizer.json")}
	ok, err := readJSON(ctx, dir, "tokenizer.json", t)
	if err != nil || !ok {
		return nil, err
	}
	return t, nil
}

// vocab returns the model's vocabulary with the added tokens (what
// transformers' get_vocab gives): token → id.
func (t *hfTokenizer) vocab() (map[string]int, error) {
	v := map[string]int{}
	if len(t.Model.Vocab) > 0 && t.Model.Vocab[0] == '[' {
		return nil, fmt.Errorf("tokenizer: %s: a %s model's vocabulary is a list of (piece, score) pairs (a Unigram tokenizer), which lightbeam does not convert", t.path, t.Model.Type)
	}
	if err := json.Unmarshal(t.Model.Vocab, &v); err != nil {
		return nil, fmt.Errorf("tokenizer: %s: model.vocab: %w", t.path, err)
	}
	for _, a := range t.AddedTokens {
		v[a.Content] = a.ID
	}
	return v, nil
}

// merges returns model.merges as "a b" strings, as gguf-py's SpecialVocab
// does: tokenizers ≥ 0.20 writes [a, b] pairs, where a space inside a part
// becomes U+0120 (a space shifted by 256, GPT-2's byte encoding).
func (t *hfTokenizer) merges() ([]string, error) {
	if len(t.Model.Merges) == 0 || string(t.Model.Merges) == "null" {
		return nil, nil
	}
	var raw []json.RawMessage
	if err := json.Unmarshal(t.Model.Merges, &raw); err != nil {
		return nil, fmt.Errorf("tokenizer: %s: model.merges: %w", t.path, err)
	}
	out := make([]string, len(raw))
	for i, r := range raw {
		var s string
		if err := json.Unmarshal(r, &s); err == nil {
			out[i] = s
			continue
		}
		var pair []string
		if err := json.Unmarshal(r, &pair); err != nil || len(pair) != 2 {
			return nil, fmt.Errorf("tokenizer: %s: merge %d is neither \"a b\" nor [a, b]: %s", t.path, i, r)
		}
		esc := func(s string) string { return strings.ReplaceAll(s, " ", "\u0120") }
		out[i] = esc(pair[0]) + " " + esc(pair[1])
	}
	return out, nil
}

// baseVocab is the converter's get_vocab_base: the tokens by id up to
// vocabSize (missing ids become [PAD{i}], UNUSED), added tokens CONTROL
// when special (or when they look special) and USER_DEFINED otherwise, the
// rest NORMAL. vocabSize 0 means the tokenizer's own size.
//
// The converter re-encodes an added token that is not normalized through
// the tokenizer and decodes it back; for the single added tokens of real
// tokenizers that gives the token itself, which is what lightbeam keeps.
func (t *hfTokenizer) baseVocab(vocabSize int) ([]string, []int32, error) {
	v, err := t.vocab()
	if err != nil {
		return nil, nil, err
	}
	maxID := -1
	for _, id := range v {
		maxID = max(maxID, id)
	}
	if vocabSize == 0 {
		vocabSize = len(v)
	}
	if maxID >= vocabSize {
		return nil, nil, fmt.Errorf("tokenizer: %s has token id %d, but the model's vocab_size is %d (config.json): vocabulary size mismatch", t.path, maxID, vocabSize)
	}
	reverse := make(map[int]string, len(v))
	// Two tokens with one id: keep one deterministically (the converter's
	// dict keeps the later one of an order we cannot see).
	names := make([]string, 0, len(v))
	for tok := range v {
		names = append(names, tok)
	}
	sort.Strings(names)
	for _, tok := range names {
		if _, ok := reverse[v[tok]]; !ok {
			reverse[v[tok]] = tok
		}
	}
	added := map[int]addedToken{}
	addedByContent := map[string]bool{}
	for _, a := range t.AddedTokens {
		added[a.ID] = a
		addedByContent[a.Content] = true
	}
	tokens := make([]string, vocabSize)
	types := make([]int32, vocabSize)
	for i := range vocabSize {
		tok, ok := reverse[i]
		switch {
		case !ok:
			tokens[i], types[i] = padToken(i), Unused
		case addedByContent[tok]:
			if a, ok := added[i]; ok && a.Special || looksSpecial(tok) {
				types[i] = Control
			} else {
				tok = strings.ReplaceAll(tok, "\u2581", " ") // pre-normalized user-defined spaces
				types[i] = UserDefined
			}
			tokens[i] = tok
		default:
			tokens[i], types[i] = tok, Normal
		}
	}
	return tokens, types, nil
}
