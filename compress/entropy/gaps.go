package entropy

import "fmt"

// Sparse positions are stored as relative indices in fields of w bits
// (1 ≤ w ≤ 8), as in Deep Compression, with one change: where Deep
// Compression writes a filler entry (an index plus a zero code) when a gap
// overflows the field, we reserve the largest field value M = 2^w − 1 to
// mean "skip M positions, no entry", which costs no code. Reading the
// symbols with a cursor c starting at 0:
//
//	s = M:   c ← c + M
//	s < M:   an entry at position c + s;  c ← c + s + 1
//
// so s counts the zeros before the next kept weight. A gap of g zeros
// takes ⌊g/M⌋ skips and one entry symbol g mod M. No skip follows the last
// entry.

// EncodeGaps returns the relative-index symbols of the strictly increasing
// positions with w-bit fields. It panics if w is outside [1, 8] or the
// positions are not strictly increasing and non-negative.
func EncodeGaps(positions []int32, w int) []uint8 {
	if w < 1 || w > 8 {
		panic(fmt.Sprintf("entropy.EncodeGaps: field width %d", w))
	}
	m := int64(1)<<w - 1
	out := make([]uint8, 0, len(positions))
	c := int64(0)
	for _, p := range positions {
		g := int64(p) - c
		if g < 0 {
			panic(fmt.Sprintf("entropy.EncodeGaps: position %d after cursor %d", p, c))
		}
		for ; g >= m; g -= m {
			out = append(out, uint8(m))
		}
		out = append(out, uint8(g))
		c = int64(p) + 1
	}
	return out
}

// DecodeGaps turns w-bit relative-index symbols back into positions, all
// below n. Positions at or past n, a skip after the last entry, or a
// symbol wider than w bits are errors.
func DecodeGaps(symbols []uint8, w int, n int) ([]int32, error) {
	if w < 1 || w > 8 {
		return nil, fmt.Errorf("entropy: index field width %d outside [1, 8]", w)
	}
	m := 1<<w - 1
	count := 0
	for _, s := range symbols {
		if int(s) > m {
			return nil, fmt.Errorf("entropy: index symbol %d does not fit %d bits", s, w)
		}
		if int(s) < m {
			count++
		}
	}
	if len(symbols) > 0 && int(symbols[len(symbols)-1]) == m {
		return nil, fmt.Errorf("entropy: index stream ends with a skip")
	}
	out := make([]int32, 0, count)
	c := 0
	for _, s := range symbols {
		c += int(s)
		if int(s) == m {
			if c > n {
				return nil, fmt.Errorf("entropy: index skips past the %d positions", n)
			}
			continue
		}
		if c >= n {
			return nil, fmt.Errorf("entropy: index position %d is not below %d", c, n)
		}
		out = append(out, int32(c))
		c++
	}
	return out, nil
}
