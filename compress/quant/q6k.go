package quant

import (
	"fmt"
	"math"

	"github.com/lightbeam-ml/lightbeam/internal/half"
)

// Q6_KBlockBytes is the encoded size of one Q6_K super-block, laid out as
// llama.cpp's block_q6_K: 128 bytes of low nibbles (ql), 64 bytes of high
// 2-bit pairs (qh), 16 int8 sub-block scales, then fp16 d. That is 6.5625
// bits per weight.
const Q6_KBlockBytes = SuperBlockSize/2 + SuperBlockSize/4 + SuperBlockSize/16 + 2

const (
	q6kSub    = SuperBlockSize / 16 // sub-blocks of 16 per super-block
	q6kQh     = SuperBlockSize / 2  // offset of the high bits
	q6kScales = q6kQh + SuperBlockSize/4
	q6kD      = q6kScales + q6kSub
)

// groupMaxEps is llama.cpp's GROUP_MAX_EPS: a group whose largest |x| is
// below it counts as all zero.
const groupMaxEps = float32(1e-15)

// Q6_K quantizes w, whose rows have rowLen values, to GGUF Q6_K
// super-blocks as llama.cpp's quantize_row_q6_K_ref does (llama-quantize
// without an importance matrix). Each sub-block j of 16 decodes as
//
//	x̂ = d·sc_j·(q − 32),   q ∈ 0..63,  sc_j ∈ −128..127,  d fp16
//
// Each sub-block first gets a signed float32 scale s_j from
// make_qx_quants(…, nmax 32, rmse_type 1) (see fitSymSubBlock); with s
// the s_j of largest |s_j| (the first of equals),
//
//	d    = fp16(−s/128)
//	sc_j = min(127, round(−128·s_j / s))
//	q    = clamp(round(x / (d·sc_j)), −32, 31) + 32
//
// rounding to nearest with ties to even, all in float32 without fused
// multiply-adds. A super-block whose scales are all below 1e−15 is all
// zero bytes; a sub-block whose d·sc_j is 0 keeps the fit's codes. Code
// bits: in each half of 128 values, ql byte l holds codes l (low nibble)
// and l+64 (high), ql byte 32+l codes l+32 and l+96, and qh byte l the
// top two bits of codes l, l+32, l+64, l+96 at bits 0, 2, 4, 6.
//
// It returns an error wrapping ErrRowLength if rowLen is not a multiple
// of 256, one naming the weight if w holds NaN or ±Inf, and one wrapping
// ErrScaleOverflow if d overflows fp16 (a sub-block's largest |x| above
// about 2.6e8) or a sub-block's fit overflows float32 (where the
// reference would store a scale of 0 for it). It panics if rowLen does
// not divide len(w).
func Q6_K(w []float32, rowLen int) ([]byte, error) {
	if rowLen <= 0 || len(w)%rowLen != 0 {
		panic(fmt.Sprintf("quant.Q6_K: %d values are not whole rows of %d", len(w), rowLen))
	}
	if rowLen%SuperBlockSize != 0 {
		return nil, fmt.Errorf("%w: Q6_K needs rows of a multiple of %d, not %d", ErrRowLength, SuperBlockSize, rowLen)
	}
	if err := checkFinite(w, 0); err != nil {
		return nil, err
	}
	out := make([]byte, len(w)/SuperBlockSize*Q6_KBlockBytes)
	for b := range len(w) / SuperBlockSize {
		if err := quantizeQ6KBlock(out[b*Q6_KBlockBytes:(b+1)*Q6_KBlockBytes], w[b*SuperBlockSize:(b+1)*SuperBlockSize]); err != nil {
			return nil, fmt.Errorf("%w: Q6_K super-block %d %s", ErrScaleOverflow, b, err)
		}
	}
	return out, nil
}

func quantizeQ6KBlock(o []byte, x []float32) error {
	var (
		codes          [SuperBlockSize]uint8
		scales         [q6kSub]float32
		maxScale, maxA float32
	)
	for j := range q6kSub {
		scales[j] = fitSymSubBlock(x[16*j:16*(j+1)], (*[16]uint8)(codes[16*j:]))
		a := abs32(scales[j])
		if !(a <= math.MaxFloat32) { // llama.cpp would skip a NaN scale and write garbage
			return fmt.Errorf("has sub-block %d whose fit overflows float32", j)
		}
		if a > maxA {
			maxA, maxScale = a, scales[j]
		}
	}
	if maxA < groupMaxEps {
		clear(o)
		return nil
	}
	iscale := -128 / maxScale
	d := half.F32ToF16(1 / iscale)
	if d&0x7fff >= 0x7c00 {
		return fmt.Errorf("has sub-block scale %g, so d = %g/128 overflows", maxA, maxA)
	}
	o[q6kD], o[q6kD+1] = byte(d), byte(d>>8)
	df := half.F16ToF32(d)
	for j := range q6kSub {
		sc := int8(min(127, nearestInt(float32(iscale*scales[j]))))
		o[q6kScales+j] = byte(sc)
		ds := df * float32(sc)
		if ds == 0 {
			continue
		}
		for i, v := range x[16*j : 16*(j+1)] {
			codes[16*j+i] = uint8(min(31, max(-32, nearestInt(v/ds))) + 32)
		}
	}
	ql, qh := o[:q6kQh], o[q6kQh:q6kScales]
	for h := range 2 {
		c := codes[128*h:]
		for l := range 32 {
			ql[64*h+l] = c[l]&15 | c[l+64]<<4
			ql[64*h+32+l] = c[l+32]&15 | c[l+96]<<4
			qh[32*h+l] = c[l]>>4 | c[l+32]>>4<<2 | c[l+64]>>4<<4 | c[l+96]>>4<<6
		}
	}
	return nil
}

// fitSymSubBlock returns a signed scale s for the 16 values x and writes
// codes q ∈ 0..63 (x ≈ s·(q − 32)) as llama.cpp's make_qx_quants(16, 32,
// x, L, rmse_type 1, no weights): with m the x of largest |x| (the
// first), it tries the grids x·(−(32 + 0.1·k)/m) for k = 0, ±1, … ±9,
// rounds and clamps each to −32..31, and keeps the one that maximizes
// (Σwxl)²/Σwl² with weights w = x², returning s = Σwxl/Σwl² for it. A
// sub-block whose largest |x| is below 1e−15 gets s = 0 and codes 0.
func fitSymSubBlock(x []float32, codes *[16]uint8) float32 {
	const nmax = 32
	x = x[:16]
	var m, amax float32
	for _, v := range x {
		if a := abs32(v); a > amax {
			amax, m = a, v
		}
	}
	if amax < groupMaxEps {
		*codes = [16]uint8{}
		return 0
	}
	// The weights w = x² and w·x, as llama.cpp rounds them.
	var w, wx [16]float32
	for i, v := range x {
		w[i] = float32(v * v)
		wx[i] = float32(w[i] * v)
	}
	// sums returns Σwxl and Σwl² on the grid iscale, each product rounded
	// to float32 (no FMA), in llama.cpp's order: (w·x)·l and (w·l)·l.
	sums := func(iscale float32) (sumLX, sumL2 float32) {
		for i, v := range x {
			l := clampedRound(float32(iscale*v), -nmax, nmax-1)
			sumLX += float32(wx[i] * l)
			sumL2 += float32(float32(w[i]*l) * l)
		}
		return sumLX, sumL2
	}
	setCodes := func(iscale float32) {
		for i, v := range x {
			codes[i] = uint8(nmax + min(nmax-1, max(-nmax, nearestInt(float32(iscale*v)))))
		}
	}
	iscale := -nmax / m
	setCodes(iscale)
	sumLX, sumL2 := sums(iscale)
	var scale float32
	if sumL2 != 0 {
		scale = sumLX / sumL2
	}
	best := float32(scale * sumLX)
	for is := -9; is <= 9; is++ {
		if is == 0 {
			continue
		}
		iscale = -(nmax + float32(0.1*float32(is))) / m
		sumLX, sumL2 = sums(iscale)
		if sumL2 > 0 && float32(sumLX*sumLX) > float32(best*sumL2) {
			setCodes(iscale)
			scale = sumLX / sumL2
			best = float32(scale * sumLX)
		}
	}
	return scale
}

// nearestInt rounds v to the nearest integer, ties to even, as
// llama.cpp's nearest_int does inside its domain |v| ≤ 4194303, by its
// bit trick: v + 1.5·2^23 rounds v to an integer in the low 23 bits
// (float32 addition rounds to nearest even). Outside the domain (and for
// NaN) it returns what nearest_int gives there.
func nearestInt(v float32) int {
	return int(math.Float32bits(v+roundMagic)&0x007fffff) - 0x00400000
}

// roundMagic is 1.5·2^23: v + roundMagic − roundMagic, in float32, is v
// rounded to the nearest integer, ties to even, for |v| < 2^22.
const roundMagic = 12582912

// DequantizeQ6_K writes x̂ = d·sc·(q − 32), in float32 as
// dequantize_row_q6_K and gguf.quants.dequantize compute it ((d·sc)
// rounded, then times q − 32), for each Q6_K super-block in data to dst;
// errors and panics as DequantizeQ4_K.
func DequantizeQ6_K(dst []float32, data []byte) error {
	if len(dst)%SuperBlockSize != 0 {
		panic(fmt.Sprintf("quant.DequantizeQ6_K: %d values are not whole super-blocks", len(dst)))
	}
	if len(data) != len(dst)/SuperBlockSize*Q6_KBlockBytes {
		return fmt.Errorf("quant: Q6_K payload of %d bytes for %d values", len(data), len(dst))
	}
	for b := range len(dst) / SuperBlockSize {
		o := data[b*Q6_KBlockBytes : (b+1)*Q6_KBlockBytes]
		y := dst[b*SuperBlockSize : (b+1)*SuperBlockSize]
		d := half.F16ToF32(uint16(o[q6kD]) | uint16(o[q6kD+1])<<8)
		var ds [q6kSub]float32
		for j := range ds {
			ds[j] = d * float32(int8(o[q6kScales+j]))
		}
		for h := range 2 {
			ql, qh := o[64*h:], o[q6kQh+32*h:]
			yh := y[128*h:]
			for l := range 32 {
				q := [4]uint8{
					ql[l]&15 | qh[l]&3<<4,
					ql[l+32]&15 | qh[l]>>2&3<<4,
					ql[l]>>4 | qh[l]>>4&3<<4,
					ql[l+32]>>4 | qh[l]>>6&3<<4,
				}
				for k, v := range q {
					i := 32*k + l
					yh[i] = ds[8*h+i/16] * float32(int(v)-32)
				}
			}
		}
	}
	return nil
}
