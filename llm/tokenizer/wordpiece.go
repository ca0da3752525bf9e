package tokenizer

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// wpmModel is BERT's WordPiece as llama.cpp's llm_tokenizer_wpm runs it on
// a vocabulary in its phantom-space form (ReadWordPiece): the text is read
// as BERT's basic tokenizer does (accents stripped, lowercased, control
// characters dropped, words split at whitespace, and punctuation and CJK
// characters made words of their own), then each word, with ▁ in front,
// is covered greedily by the longest tokens from its start; a word that
// cannot be covered is [UNK].
type wpmModel struct {
	maxLen int // bytes of the longest token
}

func newWPM(texts []string) *wpmModel {
	m := &wpmModel{}
	for _, t := range texts {
		m.maxLen = max(m.maxLen, len(t))
	}
	return m
}

// stripAccent is llama.cpp's unicode_cpts_normalize_nfd: a character is
// replaced by the first character of its canonical decomposition, which
// drops the accents of precomposed letters.
func stripAccent(r rune) rune {
	if r < 0xC0 {
		return r
	}
	if 0xAC00 <= r && r <= 0xD7A3 { // Hangul syllables decompose by formula
		return 0x1100 + (r-0xAC00)/588
	}
	var buf [utf8.UTFMax]byte
	n := utf8.EncodeRune(buf[:], r)
	if d := norm.NFD.Properties(buf[:n]).Decomposition(); len(d) > 0 {
		first, _ := utf8.DecodeRune(d)
		return first
	}
	return r
}

// isCJK is BERT's _is_chinese_char, with llama.cpp's (and Hugging Face's)
// range 0x2B920 for the start of Extension E.
func isCJK(r rune) bool {
	return 0x4E00 <= r && r <= 0x9FFF || 0x3400 <= r && r <= 0x4DBF ||
		0x20000 <= r && r <= 0x2A6DF || 0x2A700 <= r && r <= 0x2B73F ||
		0x2B740 <= r && r <= 0x2B81F || 0x2B920 <= r && r <= 0x2CEAF ||
		0xF900 <= r && r <= 0xFAFF || 0x2F800 <= r && r <= 0x2FA1F
}

// words returns the words of text after BERT's basic tokenizer.
func (m *wpmModel) words(text string) []string {
	var words []string
	var w strings.Builder
	flush := func() {
		if w.Len() > 0 {
			words = append(words, w.String())
			w.Reset()
		}
	}
	for _, r := range sanitize(text) {
		r = stripAccent(r)
		switch {
		case unicode.IsSpace(r):
			flush()
			continue
		case r == 0 || r == utf8.RuneError || unicode.Is(unicode.C, r) || unicode.Is(unicode.M, r):
			continue
		}
		lower := unicode.ToLower(r)
		if unicode.IsPunct(r) || r < 0x7F && unicode.IsSymbol(r) || isCJK(r) {
			flush()
			w.WriteRune(lower)
			flush()
			continue
		}
		w.WriteRune(lower)
	}
	flush()
	return words
}

func (m *wpmModel) encode(e *Encoder, text string, out []int32) []int32 {
	for _, word := range m.words(text) {
		word = "\u2581" + word
		n := len(out)
		for i := 0; i < len(word); {
			j := min(len(word), i+m.maxLen+1)
			for ; j > i; j-- {
				if id, ok := e.tokenID[word[i:j]]; ok {
					out = append(out, id)
					break
				}
			}
			if j == i { // no token here: the whole word is unknown
				out = out[:n]
				break
			}
			i = j
		}
		if len(out) == n {
			out = append(out, e.unk)
		}
	}
	return out
}
