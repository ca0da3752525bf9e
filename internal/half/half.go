// Package half converts between float32 and IEEE 754 binary16 (fp16), the
// scale type of GGUF blocks and the half-precision values of artifacts and
// checkpoints.
package half

import "math"

// F32ToF16 returns the IEEE 754 binary16 bits nearest to f, ties to even,
// as numpy's astype(np.float16) does: values beyond the largest half
// (65504, plus half an ulp) become ±Inf, tiny values become fp16
// subnormals or ±0, and NaN stays NaN.
func F32ToF16(f float32) uint16 {
	b := math.Float32bits(f)
	sign := uint16(b>>16) & 0x8000
	exp := int(b>>23) & 0xff
	mant := b & 0x7fffff
	switch {
	case exp == 0xff && mant != 0:
		return sign | 0x7e00 | uint16(mant>>13) // NaN stays NaN
	case exp == 0xff:
		return sign | 0x7c00
	case exp == 0:
		return sign // float32 zero or subnormal: far below fp16's smallest subnormal
	}
	e := exp - 127 + 15 // fp16 biased exponent
	if e >= 0x1f {
		return sign | 0x7c00
	}
	if e >= 1 {
		h := uint32(e)<<10 | mant>>13
		rem := mant & 0x1fff
		if rem > 0x1000 || rem == 0x1000 && h&1 == 1 {
			h++ // may carry into the exponent, up to Inf: that is the right answer
		}
		return sign | uint16(h)
	}
	// Subnormal result: the value is m·2^(exp−150) and the fp16 unit is 2^−24.
	m := mant | 0x800000
	shift := uint(126 - exp)
	if shift > 24 {
		return sign
	}
	h := m >> shift
	rem := m & (1<<shift - 1)
	half := uint32(1) << (shift - 1)
	if rem > half || rem == half && h&1 == 1 {
		h++
	}
	return sign | uint16(h)
}

// F16ToF32 returns the float32 equal to the binary16 bits h (exact).
// The magnitude's bits, moved to float32's places, are the value times
// 2^−112 (for subnormals too, as a float32 subnormal); one exact multiply
// by 2^112 rebias them. Only Inf and NaN need a branch.
func F16ToF32(h uint16) float32 {
	sign := uint32(h&0x8000) << 16
	a := uint32(h&0x7fff) << 13
	if a >= 0x7c00<<13 {
		return math.Float32frombits(sign | 0x7f800000 | a&0x7fffff)
	}
	return math.Float32frombits(sign | math.Float32bits(math.Float32frombits(a)*0x1p112))
}
