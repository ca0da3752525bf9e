package tokenizer

import (
	"fmt"
	"strings"
)

// spmModel is SentencePiece's BPE as llama.cpp's llm_tokenizer_spm runs
// it: spaces become ▁ (and the text of each fragment that follows a
// special token, or begins the sequence, gets one in front when
// add_space_prefix), the text is split into UTF-8 characters, and the
// adjacent pair whose concatenation is the token of highest score is
// merged until none is left; a symbol that is no token is written as its
// bytes (<0xNN>).
type spmModel struct {
	scores      []float32
	spacePrefix bool
	byteID      [256]int32 // <0xNN>, else the byte itself, else unk
}

func newSPM(e *Encoder, v *Vocab) *spmModel {
	m := &spmModel{scores: v.Scores, spacePrefix: true}
	if m.scores == nil {
		m.scores = make([]float32, len(v.Tokens))
	}
	if v.AddSpacePrefix != nil {
		m.spacePrefix = *v.AddSpacePrefix
	}
	for b := range 256 {
		id, ok := e.tokenID[fmt.Sprintf("<0x%02X>", b)]
		if !ok {
			if id, ok = e.tokenID[string([]byte{byte(b)})]; !ok {
				id = e.unk // llama.cpp throws here
			}
		}
		m.byteID[b] = id
	}
	return m
}

type spmSymbol struct {
	start, end int
	prev, next int32
}

type spmPair struct {
	score       float32
	left, right int32
	size        int
}

func (p spmPair) before(q spmPair) bool {
	return p.score > q.score || p.score == q.score && p.left < q.left
}

type spmSession struct {
	syms  []spmSymbol
	queue pairQueue[spmPair]
}

// utf8Len is the length llama.cpp gives the character that begins with
// byte c (from its high bits alone).
func utf8Len(c byte) int {
	switch {
	case c < 0xC0:
		return 1
	case c < 0xE0:
		return 2
	case c < 0xF0:
		return 3
	}
	return 4
}

func (s *spmSession) encode(e *Encoder, text string, prevSpecial bool, out []int32) []int32 {
	m := e.spm
	if m.spacePrefix && prevSpecial {
		text = " " + text
	}
	text = strings.ReplaceAll(text, " ", "\u2581")
	s.syms = s.syms[:0]
	for i := 0; i < len(text); {
		n := min(utf8Len(text[i]), len(text)-i)
		k := int32(len(s.syms))
		s.syms = append(s.syms, spmSymbol{i, i + n, k - 1, k + 1})
		i += n
	}
	if len(s.syms) == 0 {
		return out
	}
	s.syms[len(s.syms)-1].next = -1
	s.queue = s.queue[:0]
	for i := 1; i < len(s.syms); i++ {
		s.push(e, text, int32(i-1), int32(i))
	}
	for len(s.queue) > 0 {
		p := s.queue.pop()
		l, r := &s.syms[p.left], &s.syms[p.right]
		if l.end == l.start || r.end == r.start || (l.end-l.start)+(r.end-r.start) != p.size {
			continue
		}
		l.end, l.next = r.end, r.next
		r.end = r.start
		if l.next >= 0 {
			s.syms[l.next].prev = p.left
		}
		s.push(e, text, l.prev, p.left)
		s.push(e, text, p.left, l.next)
	}
	for i := int32(0); i >= 0; i = s.syms[i].next {
		sym := s.syms[i]
		if id, ok := e.tokenID[text[sym.start:sym.end]]; ok {
			out = append(out, id)
			continue
		}
		for _, c := range []byte(text[sym.start:sym.end]) {
			if id := m.byteID[c]; id >= 0 {
				out = append(out, id)
			}
		}
	}
	return out
}

func (s *spmSession) push(e *Encoder, text string, left, right int32) {
	if left < 0 || right < 0 {
		return
	}
	l, r := s.syms[left], s.syms[right]
	id, ok := e.tokenID[text[l.start:r.end]]
	if !ok {
		return
	}
	s.queue.push(spmPair{e.spm.scores[id], left, right, r.end - l.start})
}
