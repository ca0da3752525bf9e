package formats

import (
	"errors"
	"math"
	"strconv"
)

// numStatus says why a field did or did not parse as a finite float32.
type numStatus uint8

const (
	numOK       numStatus = iota
	numSyntax             // not a number strconv accepts
	numNaN                // a NaN literal
	numInf                // an infinity literal
	numOverflow           // finite literal beyond float32's range
)

// reason is the reject text for a status other than numOK, for field b.
func (s numStatus) reason(b []byte) string {
	switch s {
	case numNaN:
		return "NaN value"
	case numInf:
		return "infinite value: " + strconv.Quote(string(b))
	case numOverflow:
		return "out of float32 range: " + strconv.Quote(string(b))
	}
	return "not a number: " + strconv.Quote(string(b))
}

// float32pow10 holds the powers of ten that float32 represents exactly.
var float32pow10 = [...]float32{1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10}

// parseFloat32 parses b as strconv.ParseFloat(string(b), 32) does and
// returns the same value, bit for bit, when that value is finite.
//
// Plain decimals ([+-]digits[.digits]) whose digits form an integer
// m ≤ 2²⁴ with at most 10 fractional digits take Clinger's fast path: m and
// 10ᵏ are exact float32 values, so the one IEEE division m/10ᵏ is correctly
// rounded. Everything else (exponents, long mantissas, hex, inf, nan) goes
// to strconv.
func parseFloat32(b []byte) (float32, numStatus) {
	i := 0
	neg := false
	if len(b) > 0 && (b[0] == '-' || b[0] == '+') {
		neg = b[0] == '-'
		i = 1
	}
	var m uint64
	digits, frac := 0, -1
	for ; i < len(b); i++ {
		c := b[i]
		if c >= '0' && c <= '9' {
			m = m*10 + uint64(c-'0')
			digits++
			if digits > 9 { // m may exceed 2^24 soon; let strconv decide
				return slowFloat32(b)
			}
			if frac >= 0 {
				frac++
			}
			continue
		}
		if c == '.' && frac < 0 {
			frac = 0
			continue
		}
		return slowFloat32(b)
	}
	if digits == 0 || m > 1<<24 {
		return slowFloat32(b)
	}
	f := float32(m)
	if frac > 0 {
		f /= float32pow10[frac]
	}
	if neg {
		f = -f
	}
	return f, numOK
}

// slowFloat32 is parseFloat32's general path.
func slowFloat32(b []byte) (float32, numStatus) {
	f, err := strconv.ParseFloat(string(b), 32)
	if err != nil {
		if errors.Is(err, strconv.ErrRange) && math.IsInf(f, 0) {
			return 0, numOverflow
		}
		return 0, numSyntax
	}
	if math.IsNaN(f) {
		return 0, numNaN
	}
	if math.IsInf(f, 0) {
		return 0, numInf
	}
	return float32(f), numOK
}
