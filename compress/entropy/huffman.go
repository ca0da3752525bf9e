package entropy

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
)

// MaxCodeLen is the longest Huffman code Encode produces; a code length
// fits a 4-bit field.
const MaxCodeLen = 15

// Huffman stream layout (all of it, nothing is implied by the caller but
// the symbol count n):
//
//	byte     A−1, where A = largest symbol + 1 (1..256)
//	⌈A/2⌉    code lengths of symbols 0..A−1, 4 bits each (0 = unused),
//	         symbol 2i in the low nibble of byte i, 2i+1 in the high one
//	rest     the n codes, most significant bit first, zero-padded to a byte
//
// Codes are canonical: shorter codes first, equal lengths in symbol order.
// A stream of one distinct symbol gives it length 1 and writes n zero
// bits. Empty input (n = 0) encodes to no bytes at all.

// Encode returns symbols Huffman-coded with a canonical code of at most
// MaxCodeLen bits built from their frequencies.
func Encode(symbols []uint8) []byte {
	if len(symbols) == 0 {
		return nil
	}
	var freq [256]int
	for _, s := range symbols {
		freq[s]++
	}
	a := 256
	for freq[a-1] == 0 {
		a--
	}
	lens := codeLengths(freq[:a], MaxCodeLen)
	codes := canonicalCodes(lens)
	out := make([]byte, 1+(a+1)/2, 1+(a+1)/2+len(symbols)/2)
	out[0] = byte(a - 1)
	for s, l := range lens {
		out[1+s/2] |= l << (4 * (s % 2))
	}
	var acc uint64
	nacc := 0
	for _, s := range symbols {
		acc = acc<<lens[s] | uint64(codes[s])
		nacc += int(lens[s])
		for nacc >= 8 {
			nacc -= 8
			out = append(out, byte(acc>>nacc))
		}
	}
	if nacc > 0 {
		out = append(out, byte(acc<<(8-nacc)))
	}
	return out
}

// codeLengths returns length-limited optimal code lengths for freq (0 for
// unused symbols) by package-merge (Larmore & Hirschberg, 1990): the
// optimal code with lengths ≤ L picks the 2(m−1) cheapest items from a
// list built by L−1 rounds of "pair adjacent items into packages, merge the
// packages with the leaves"; a symbol's length is how many chosen items
// contain it. It panics if more than 2^maxLen symbols are used.
func codeLengths(freq []int, maxLen int) []uint8 {
	type item struct {
		weight int
		count  []uint8 // per used symbol, how often it occurs in the item
	}
	var used []int
	for s, f := range freq {
		if f > 0 {
			used = append(used, s)
		}
	}
	lens := make([]uint8, len(freq))
	m := len(used)
	switch {
	case m == 0:
		return lens
	case m == 1:
		lens[used[0]] = 1
		return lens
	case m > 1<<maxLen:
		panic(fmt.Sprintf("entropy: %d symbols do not fit codes of %d bits", m, maxLen))
	}
	slices.SortStableFunc(used, func(a, b int) int { return cmp.Compare(freq[a], freq[b]) })
	leaves := make([]item, m)
	for i, s := range used {
		leaves[i] = item{freq[s], make([]uint8, m)}
		leaves[i].count[i] = 1
	}
	list := leaves
	for range maxLen - 1 {
		packages := make([]item, 0, len(list)/2)
		for i := 0; i+1 < len(list); i += 2 {
			c := make([]uint8, m)
			for j := range c {
				c[j] = list[i].count[j] + list[i+1].count[j]
			}
			packages = append(packages, item{list[i].weight + list[i+1].weight, c})
		}
		merged := make([]item, 0, 2*m-2)
		i, j := 0, 0
		for len(merged) < 2*m-2 && (i < m || j < len(packages)) {
			if j == len(packages) || i < m && leaves[i].weight <= packages[j].weight {
				merged = append(merged, leaves[i])
				i++
			} else {
				merged = append(merged, packages[j])
				j++
			}
		}
		list = merged
	}
	for _, it := range list[:2*m-2] {
		for j, c := range it.count {
			lens[used[j]] += c
		}
	}
	return lens
}

// canonicalCodes assigns canonical codes to the lengths: by length, then
// by symbol, each code one more than the last, shifted left when the
// length grows.
func canonicalCodes(lens []uint8) []uint16 {
	codes := make([]uint16, len(lens))
	code, prev := 0, 0
	for l := 1; l <= MaxCodeLen; l++ {
		for s, sl := range lens {
			if int(sl) == l {
				code <<= l - prev
				prev = l
				codes[s] = uint16(code)
				code++
			}
		}
	}
	return codes
}

var errTruncated = errors.New("entropy: huffman stream truncated")

// Decode reads n symbols from a stream written by Encode. Corrupt input
// (a bad length table, an invalid code, missing or trailing bits) is an
// error; it never reads past data and allocates at most n bytes, with n
// ≤ 8·len(data) checked first.
func Decode(data []byte, n int) ([]uint8, error) {
	if n < 0 {
		return nil, fmt.Errorf("entropy: huffman count %d", n)
	}
	if n == 0 {
		if len(data) != 0 {
			return nil, fmt.Errorf("entropy: %d bytes of huffman data for 0 symbols", len(data))
		}
		return []uint8{}, nil
	}
	if len(data) < 2 {
		return nil, errTruncated
	}
	a := int(data[0]) + 1
	table := 1 + (a+1)/2
	if len(data) < table {
		return nil, errTruncated
	}
	if n > 8*(len(data)-table) {
		return nil, fmt.Errorf("entropy: %d huffman symbols cannot fit in %d bytes", n, len(data)-table)
	}
	if a%2 == 1 && data[table-1]>>4 != 0 {
		return nil, errors.New("entropy: huffman length table has a length past its last symbol")
	}
	var count [MaxCodeLen + 1]int
	var sorted []uint8 // symbols in canonical order
	lens := make([]uint8, a)
	for s := range lens {
		lens[s] = data[1+s/2] >> (4 * (s % 2)) & 15
		count[lens[s]]++
	}
	for l := 1; l <= MaxCodeLen; l++ {
		for s, sl := range lens {
			if int(sl) == l {
				sorted = append(sorted, uint8(s))
			}
		}
	}
	kraft := 0
	for l := 1; l <= MaxCodeLen; l++ {
		kraft += count[l] << (MaxCodeLen - l)
	}
	single := len(sorted) == 1 && count[1] == 1
	if kraft != 1<<MaxCodeLen && !single {
		return nil, fmt.Errorf("entropy: huffman code lengths are not a complete prefix code (Kraft sum %d/%d)", kraft, 1<<MaxCodeLen)
	}
	bits := data[table:]
	pos, end := 0, 8*len(bits)
	out := make([]uint8, n)
	for i := range out {
		code, first, index := 0, 0, 0
		for l := 1; ; l++ {
			if l > MaxCodeLen {
				return nil, fmt.Errorf("entropy: invalid huffman code at symbol %d", i)
			}
			if pos == end {
				return nil, errTruncated
			}
			code |= int(bits[pos>>3]>>(7-pos&7)) & 1
			pos++
			if c := count[l]; code-first < c {
				out[i] = sorted[index+code-first]
				break
			}
			index += count[l]
			first = (first + count[l]) << 1
			code <<= 1
		}
	}
	if end-pos >= 8 {
		return nil, fmt.Errorf("entropy: %d trailing huffman bytes", (end-pos)/8)
	}
	if pos < end && bits[len(bits)-1]<<(pos&7) != 0 {
		return nil, errors.New("entropy: huffman padding bits are not zero")
	}
	return out, nil
}
