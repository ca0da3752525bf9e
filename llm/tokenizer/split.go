package tokenizer

import (
	"unicode"
	"unicode/utf8"
)

// The pre-tokenizers split text into the words that BPE merges within.
// Each is a scanner over runes equivalent to its regular expression
// (Go's regexp has no lookahead, which \s+(?!\S) needs), as llama.cpp's
// unicode_regex_split_custom_gpt2 and _llama3 are:
//
//	gpt-2:     's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
//	smollm:    every \p{N} a word of its own, then gpt-2 between them
//	llama-bpe: (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
//	qwen2:     the same with \p{N} for \p{N}{1,3}

// Rune classes of the expressions.
const (
	classNone   = iota // past the end of the text
	classLetter        // \p{L}
	classNumber        // \p{N}
	classSpace         // \s
	classOther         // [^\s\p{L}\p{N}]
)

var asciiClass = func() (c [utf8.RuneSelf]uint8) {
	for r := range utf8.RuneSelf {
		c[r] = slowClass(rune(r))
	}
	return c
}()

func slowClass(r rune) uint8 {
	switch {
	case unicode.IsLetter(r):
		return classLetter
	case unicode.IsNumber(r):
		return classNumber
	case unicode.IsSpace(r):
		return classSpace
	}
	return classOther
}

// runeAt returns the rune at byte i of s, its size and class; past the
// end, classNone. s is valid UTF-8 (sanitize makes it so).
func runeAt(s string, i int) (rune, int, uint8) {
	if i >= len(s) {
		return 0, 0, classNone
	}
	if c := s[i]; c < utf8.RuneSelf {
		return rune(c), 1, asciiClass[c]
	}
	r, n := utf8.DecodeRuneInString(s[i:])
	return r, n, slowClass(r)
}

// splitter calls emit with each word of s, in order.
type splitter func(s string, emit func(word string))

// contraction returns the length of a contraction ('s 't 're 've 'm 'll
// 'd) at s[i:], 0 if there is none; fold matches either case.
func contraction(s string, i int, fold bool) int {
	if s[i] != '\'' || i+1 >= len(s) {
		return 0
	}
	lower := func(c byte) byte {
		if fold && 'A' <= c && c <= 'Z' {
			return c + 'a' - 'A'
		}
		return c
	}
	switch lower(s[i+1]) {
	case 's', 't', 'm', 'd':
		return 2
	}
	if i+2 < len(s) {
		switch a, b := lower(s[i+1]), lower(s[i+2]); {
		case a == 'r' && b == 'e', a == 'v' && b == 'e', a == 'l' && b == 'l':
			return 3
		}
	}
	return 0
}

// run returns the end of the run of runes of class c that starts at i.
func run(s string, i int, c uint8) int {
	for {
		_, n, k := runeAt(s, i)
		if k != c {
			return i
		}
		i += n
	}
}

// spaces returns, for the run of whitespace at i, its end, the start of
// its last rune, its rune count, and the end of its last \r or \n (0 if
// none).
func spaces(s string, i int) (end, lastStart, count, lastNewline int) {
	end, lastStart = i, i
	for {
		r, n, k := runeAt(s, end)
		if k != classSpace {
			return
		}
		lastStart = end
		end += n
		count++
		if r == '\r' || r == '\n' {
			lastNewline = end
		}
	}
}

// splitGPT2 is GPT-2's pre-tokenizer.
func splitGPT2(s string, emit func(string)) {
	for i := 0; i < len(s); {
		if n := contraction(s, i, false); n > 0 {
			emit(s[i : i+n])
			i += n
			continue
		}
		r, n, c := runeAt(s, i)
		j := i // where the run of c starts, after an optional space
		if r == ' ' {
			_, _, c = runeAt(s, i+1)
			j = i + 1
		}
		switch c {
		case classLetter, classNumber, classOther:
			end := run(s, j, c)
			emit(s[i:end])
			i = end
			continue
		}
		end, last, count, _ := spaces(s, i)
		switch {
		case count > 1 && end < len(s): // \s+(?!\S): all but the last
			end = last
		case count == 0:
			end = i + n
		}
		emit(s[i:end])
		i = end
	}
}

// splitDigitsGPT2 is SmolLM's: each number rune is a word, and the text
// between them is split by GPT-2's expression.
func splitDigitsGPT2(s string, emit func(string)) {
	start := 0
	for i := 0; i < len(s); {
		_, n, c := runeAt(s, i)
		if c == classNumber {
			if start < i {
				splitGPT2(s[start:i], emit)
			}
			emit(s[i : i+n])
			start = i + n
		}
		i += n
	}
	if start < len(s) {
		splitGPT2(s[start:], emit)
	}
}

// llama3Splitter is Llama 3's pre-tokenizer with runs of at most
// maxDigits numbers (3; Qwen2's is 1).
func llama3Splitter(maxDigits int) splitter {
	return func(s string, emit func(string)) {
		for i := 0; i < len(s); {
			if n := contraction(s, i, true); n > 0 {
				emit(s[i : i+n])
				i += n
				continue
			}
			r, n, c := runeAt(s, i)
			// [^\r\n\p{L}\p{N}]?\p{L}+
			if r != '\r' && r != '\n' && c != classNumber {
				_, _, next := runeAt(s, i+n)
				if c == classLetter || next == classLetter {
					end := run(s, i+n, classLetter)
					emit(s[i:end])
					i = end
					continue
				}
			}
			// \p{N}{1,maxDigits}
			if c == classNumber {
				end := i
				for k := 0; k < maxDigits; k++ {
					_, m, ck := runeAt(s, end)
					if ck != classNumber {
						break
					}
					end += m
				}
				emit(s[i:end])
				i = end
				continue
			}
			// ?[^\s\p{L}\p{N}]+[\r\n]*
			j, c2 := i, c
			if r == ' ' {
				_, _, c2 = runeAt(s, i+1)
				j = i + 1
			}
			if c2 == classOther {
				end := run(s, j, classOther)
				for end < len(s) && (s[end] == '\r' || s[end] == '\n') {
					end++
				}
				emit(s[i:end])
				i = end
				continue
			}
			end, last, count, newline := spaces(s, i)
			switch {
			case newline > 0: // \s*[\r\n]+
				end = newline
			case count > 1 && end < len(s): // \s+(?!\S)
				end = last
			case count == 0:
				end = i + n
			}
			emit(s[i:end])
			i = end
		}
	}
}

// preSplitters maps tokenizer.ggml.pre names to their pre-tokenizer, and
// whether llama.cpp ignores merges for words that are tokens and adds BOS
// by default (the Llama 3 family).
var preSplitters = map[string]struct {
	split      splitter
	llama3Like bool
}{
	"gpt-2":     {splitGPT2, false},
	"smollm":    {splitDigitsGPT2, false},
	"llama-bpe": {llama3Splitter(3), true},
	"llama3":    {llama3Splitter(3), true},
	"llama-v3":  {llama3Splitter(3), true},
	"qwen2":     {llama3Splitter(1), false},
}

// sanitize returns s as llama.cpp's unicode_cpts_from_utf8 reads it and
// unicode_cpt_to_utf8 writes it back: a byte that does not begin a
// complete sequence (judged by its high bits and its continuation bytes
// alone) becomes U+FFFD, surrogates stay, overlong forms are shortened,
// and a code point past U+10FFFF (where llama.cpp throws) becomes U+FFFD.
// Text that is UTF-8 comes back as it is.
func sanitize(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	cont := func(i int) bool { return i < len(s) && s[i]&0xC0 == 0x80 }
	b := make([]byte, 0, len(s)+8)
	for i := 0; i < len(s); {
		c := s[i]
		r, n := rune(utf8.RuneError), 1
		switch {
		case c < 0x80:
			r = rune(c)
		case c < 0xC0, c >= 0xF8:
		case c < 0xE0 && cont(i+1):
			r, n = rune(c&0x1F)<<6|rune(s[i+1]&0x3F), 2
		case c >= 0xE0 && c < 0xF0 && cont(i+1) && cont(i+2):
			r, n = rune(c&0x0F)<<12|rune(s[i+1]&0x3F)<<6|rune(s[i+2]&0x3F), 3
		case c >= 0xF0 && cont(i+1) && cont(i+2) && cont(i+3):
			r, n = rune(c&0x07)<<18|rune(s[i+1]&0x3F)<<12|rune(s[i+2]&0x3F)<<6|rune(s[i+3]&0x3F), 4
		}
		i += n
		switch {
		case r > unicode.MaxRune:
			b = utf8.AppendRune(b, utf8.RuneError)
		case r >= 0xD800 && r <= 0xDFFF: // utf8.AppendRune would write U+FFFD
			b = append(b, 0xE0|byte(r>>12), 0x80|byte(r>>6)&0x3F, 0x80|byte(r)&0x3F)
		default:
			b = utf8.AppendRune(b, r)
		}
	}
	return string(b)
}
