package tokenizer

import (
	"fmt"
	"sort"
	"strings"
	"unicode/utf8"
)

// byteRunes is GPT-2's byte-level alphabet: printable Latin-1 bytes stand
// for themselves, the others (controls, space, 0x7F-0xA0, 0xAD) for
// U+0100 onwards in byte order. Token texts and merges are written in it.
var byteRunes, runeBytes = func() ([256]rune, map[rune]byte) {
	var br [256]rune
	rb := map[rune]byte{}
	n := 0
	for b := range 256 {
		if '!' <= b && b <= '~' || 0xA1 <= b && b <= 0xAC || 0xAE <= b && b <= 0xFF {
			br[b] = rune(b)
		} else {
			br[b] = rune(256 + n)
			n++
		}
		rb[br[b]] = byte(b)
	}
	return br, rb
}()

// decodeByteLevel returns the bytes a byte-level text stands for, or false
// when it has a rune outside the alphabet.
func decodeByteLevel(s string) (string, bool) {
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		c, ok := runeBytes[r]
		if !ok {
			return "", false
		}
		b.WriteByte(c)
	}
	return b.String(), true
}

// bpeModel is a byte-level BPE. It works on raw bytes: a symbol is a span
// of a word with an id, the token whose byte-level text it is, or, for a
// merge part or result that is no token, an id past the vocabulary.
type bpeModel struct {
	split        splitter
	ignoreMerges bool // a word that is a token is not merged (Llama 3)
	addBOS       bool // llama.cpp's default for the pre-tokenizer
	nTokens      int32
	raw          map[string]int32   // raw bytes → id, tokens and merge-only symbols
	single       [256]int32         // id of each byte alone
	merges       map[uint64]bpeRule // left<<32 | right
}

type bpeRule struct{ rank, result int32 }

func newBPE(v *Vocab, texts []string) (*bpeModel, error) {
	pre, ok := preSplitters[v.Pre]
	if !ok {
		names := make([]string, 0, len(preSplitters))
		for n := range preSplitters {
			names = append(names, n)
		}
		sort.Strings(names)
		return nil, fmt.Errorf("tokenizer: pre-tokenizer %q: lightbeam's encoder knows %s", v.Pre, strings.Join(names, ", "))
	}
	if len(v.Merges) == 0 {
		return nil, fmt.Errorf("tokenizer: a byte-level BPE vocabulary (model gpt2) needs its merges")
	}
	m := &bpeModel{split: pre.split, ignoreMerges: pre.llama3Like, addBOS: pre.llama3Like,
		nTokens: int32(len(texts)), raw: make(map[string]int32, len(texts)), merges: make(map[uint64]bpeRule, len(v.Merges))}
	for i, t := range texts {
		if r, ok := decodeByteLevel(t); ok {
			m.raw[r] = int32(i)
		}
	}
	id := func(raw string) int32 {
		if x, ok := m.raw[raw]; ok {
			return x
		}
		x := m.nTokens + int32(len(m.raw)) // past every token id: unique
		m.raw[raw] = x
		return x
	}
	for b := range 256 {
		m.single[b] = id(string([]byte{byte(b)}))
	}
	for rank, merge := range v.Merges {
		// llama.cpp splits at the first space after the first byte.
		k := strings.IndexByte(merge[min(1, len(merge)):], ' ')
		if k < 0 {
			continue
		}
		k += min(1, len(merge))
		a, okA := decodeByteLevel(merge[:k])
		b, okB := decodeByteLevel(merge[k+1:])
		if !okA || !okB || a == "" || b == "" {
			continue // it can never apply to byte-level text
		}
		key := uint64(id(a))<<32 | uint64(id(b))
		if _, dup := m.merges[key]; !dup { // the first rank wins
			m.merges[key] = bpeRule{int32(rank), id(a + b)}
		}
	}
	return m, nil
}

// bpeSymbol is a span of a word in the merge's linked list.
type bpeSymbol struct {
	start, end int
	id         int32
	prev, next int32
}

// bpePair is a candidate merge of symbols left and right.
type bpePair struct {
	rank, left, right int32
	leftID, rightID   int32
	result            int32
}

// bpeSession holds one Encode call's buffers, and the ids of the words
// it has seen (words repeat: a long text is encoded ~3x faster).
type bpeSession struct {
	m     *bpeModel
	syms  []bpeSymbol
	queue pairQueue[bpePair]
	words []string
	seen  map[string][2]int32 // word → its ids' span in ids
	ids   []int32
}

// maxSeen bounds the words a session remembers.
const maxSeen = 1 << 16

func (m *bpeModel) newSession() *bpeSession { return &bpeSession{m: m, seen: map[string][2]int32{}} }

// encode appends the ids of a text fragment.
func (s *bpeSession) encode(e *Encoder, text string, out []int32) []int32 {
	s.words = s.words[:0]
	s.m.split(sanitize(text), func(w string) { s.words = append(s.words, w) })
	for _, w := range s.words {
		if span, ok := s.seen[w]; ok {
			out = append(out, s.ids[span[0]:span[1]]...)
			continue
		}
		n := len(out)
		out = s.word(e, w, out)
		if len(s.seen) < maxSeen {
			s.seen[w] = [2]int32{int32(len(s.ids)), int32(len(s.ids) + len(out) - n)}
			s.ids = append(s.ids, out[n:]...)
		}
	}
	return out
}

// word appends the ids of one word: its bytes merged pair by pair, the
// pair of lowest rank first and, among equal ranks, the leftmost, as
// llama.cpp's llm_tokenizer_bpe_session does.
func (s *bpeSession) word(e *Encoder, w string, out []int32) []int32 {
	m := s.m
	if m.ignoreMerges {
		if id, ok := m.raw[w]; ok && id < m.nTokens {
			return append(out, id)
		}
	}
	s.syms = s.syms[:0]
	for i := 0; i < len(w); i++ {
		s.syms = append(s.syms, bpeSymbol{i, i + 1, m.single[w[i]], int32(i - 1), int32(i + 1)})
	}
	s.syms[len(s.syms)-1].next = -1
	s.queue = s.queue[:0]
	for i := 1; i < len(s.syms); i++ {
		s.push(int32(i-1), int32(i))
	}
	for len(s.queue) > 0 {
		p := s.queue.pop()
		l, r := &s.syms[p.left], &s.syms[p.right]
		if l.id != p.leftID || r.id != p.rightID || l.end == l.start || r.end == r.start {
			continue // outdated
		}
		l.end, l.id, l.next = r.end, p.result, r.next
		r.end = r.start
		if l.next >= 0 {
			s.syms[l.next].prev = p.left
		}
		s.push(l.prev, p.left)
		s.push(p.left, l.next)
	}
	for i := int32(0); i >= 0; i = s.syms[i].next {
		sym := s.syms[i]
		if sym.id < m.nTokens {
			out = append(out, sym.id)
			continue
		}
		// No token: llama.cpp looks up each byte of its byte-level text.
		for _, c := range []byte(w[sym.start:sym.end]) {
			var buf [utf8.UTFMax]byte
			n := utf8.EncodeRune(buf[:], byteRunes[c])
			for _, x := range buf[:n] {
				if id, ok := e.tokenID[string([]byte{x})]; ok {
					out = append(out, id)
				}
			}
		}
	}
	return out
}

func (s *bpeSession) push(left, right int32) {
	if left < 0 || right < 0 {
		return
	}
	a, b := s.syms[left].id, s.syms[right].id
	rule, ok := s.m.merges[uint64(a)<<32|uint64(b)]
	if !ok {
		return
	}
	s.queue.push(bpePair{rule.rank, left, right, a, b, rule.result})
}

func (p bpePair) before(q bpePair) bool {
	return p.rank < q.rank || p.rank == q.rank && p.left < q.left
}
