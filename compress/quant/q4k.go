package quant

import (
	"fmt"
	"math"

	"github.com/lightbeam-ml/lightbeam/internal/half"
)

// SuperBlockSize is the number of values in one k-quant super-block
// (llama.cpp's QK_K): 8 sub-blocks of 32.
const SuperBlockSize = 256

// Q4_KBlockBytes is the encoded size of one Q4_K super-block, laid out as
// llama.cpp's block_q4_K: fp16 d, fp16 dmin (both little-endian), 12 bytes
// of packed 6-bit sub-block scales and mins, then 128 bytes of 4-bit codes.
// That is 4.5 bits per weight, as Q4_0.
const Q4_KBlockBytes = 2 + 2 + 12 + SuperBlockSize/2

const (
	q4kSub    = SuperBlockSize / BlockSize // sub-blocks per super-block
	q4kScales = 4                          // offset of the packed scales and mins
	q4kQs     = 16                         // offset of the 4-bit codes
)

// Q4_K quantizes w, whose rows have rowLen values, to GGUF Q4_K
// super-blocks as llama.cpp's quantize_row_q4_K_ref does (the path
// llama-quantize takes without an importance matrix). Sub-block j of a
// super-block decodes as
//
//	x̂ = d·sc_j·q − dmin·m_j,   q ∈ 0..15,  sc_j, m_j ∈ 0..63,  d, dmin fp16
//
// Each sub-block first gets its own float32 scale s_j and offset −μ_j ≤ 0
// by a weighted least-squares search over 21 grids (see minFit);
// then, rounding to nearest with ties to even,
//
//	sc_j = round(63·s_j / max s),   d    = fp16(max s / 63)
//	m_j  = round(63·μ_j / max μ),   dmin = fp16(max μ / 63)
//	q    = clamp(round((x + dmin·m_j) / (d·sc_j)), 0, 15)
//
// All arithmetic is float32 with no fused multiply-adds, so the bytes
// equal those of llama.cpp's reference C compiled without FMA
// contraction. Builds that contract a·b+c into an FMA (GCC with -mfma or
// -march=native on x86-64, or on arm64) round some fits differently and
// can differ in a few codes of a super-block.
//
// It returns an error wrapping ErrRowLength if rowLen is not a multiple
// of 256, one naming the weight if w holds NaN or ±Inf, and one wrapping
// ErrScaleOverflow if d or dmin overflows fp16 (a sub-block range above
// about 6e7, or a negative value below about −4e6). It panics if rowLen
// does not divide len(w).
func Q4_K(w []float32, rowLen int) ([]byte, error) {
	if rowLen <= 0 || len(w)%rowLen != 0 {
		panic(fmt.Sprintf("quant.Q4_K: %d values are not whole rows of %d", len(w), rowLen))
	}
	if rowLen%SuperBlockSize != 0 {
		return nil, fmt.Errorf("%w: Q4_K needs rows of a multiple of %d, not %d", ErrRowLength, SuperBlockSize, rowLen)
	}
	if err := checkFinite(w, 0); err != nil {
		return nil, err
	}
	out := make([]byte, len(w)/SuperBlockSize*Q4_KBlockBytes)
	for b := range len(w) / SuperBlockSize {
		if err := quantizeQ4KBlock(out[b*Q4_KBlockBytes:(b+1)*Q4_KBlockBytes], w[b*SuperBlockSize:(b+1)*SuperBlockSize]); err != nil {
			return nil, fmt.Errorf("%w: Q4_K super-block %d %s", ErrScaleOverflow, b, err)
		}
	}
	return out, nil
}

// kMinFit holds the make_qkx2_quants settings of a k-quant whose
// sub-blocks of 32 each have a scale and a min (Q4_K, Q5_K): codes
// 0..nmax, and grids of nmax+rmin, nmax+rmin+0.1, … nmax+rmin+0.1·nstep
// steps over the sub-block's range.
type kMinFit struct {
	nmax  int
	rmin  float32
	nstep int
}

var (
	q4kFit = kMinFit{nmax: 15, rmin: -1, nstep: 20}   // quantize_row_q4_K_ref
	q5kFit = kMinFit{nmax: 31, rmin: -0.5, nstep: 15} // quantize_row_q5_K_ref
)

// quantizeQ4KBlock writes one super-block of x to o. Its error only says
// which fp16 overflowed; the caller wraps it.
func quantizeQ4KBlock(o []byte, x []float32) error {
	var codes [SuperBlockSize]uint8
	if err := quantizeKMinBlock(o[:q4kQs], x, q4kFit, &codes); err != nil {
		return err
	}
	// Each 32 bytes hold two sub-blocks: the even one in the low nibbles.
	qs := o[q4kQs:]
	for p := range q4kSub / 2 {
		for l := range BlockSize {
			qs[p*BlockSize+l] = codes[2*p*BlockSize+l] | codes[(2*p+1)*BlockSize+l]<<4
		}
	}
	return nil
}

// quantizeKMinBlock is the part that Q4_K and Q5_K share: it fits each
// sub-block of 32 of the super-block x, writes fp16 d, fp16 dmin and the
// 12 bytes of packed 6-bit scales and mins to hdr, and the codes
// (0..f.nmax) to codes. Its error only says which fp16 overflowed.
func quantizeKMinBlock(hdr []byte, x []float32, f kMinFit, codes *[SuperBlockSize]uint8) error {
	var (
		fits           [q4kSub]minFit
		scales, mins   [q4kSub]float32
		maxScale, maxM float32
	)
	for j := range fits {
		fits[j].init((*[BlockSize]float32)(x[j*BlockSize:]), (*[BlockSize]uint8)(codes[j*BlockSize:]), f)
	}
	for j := 0; j < q4kSub; j += 2 {
		fitMinPair(&fits[j], &fits[j+1], f)
	}
	for j := range fits {
		scales[j], mins[j] = fits[j].scale, -fits[j].lo
		maxScale = max(maxScale, scales[j])
		maxM = max(maxM, mins[j])
	}

	d, dmin := half.F32ToF16(maxScale/63), half.F32ToF16(maxM/63)
	if d&0x7fff >= 0x7c00 {
		return fmt.Errorf("has sub-block scale %g, so d = %g/63 overflows", maxScale, maxScale)
	}
	if dmin&0x7fff >= 0x7c00 {
		return fmt.Errorf("has sub-block min −%g, so dmin = %g/63 overflows", maxM, maxM)
	}
	var invScale, invMin float32
	if maxScale > 0 {
		invScale = 63 / maxScale
	}
	if maxM > 0 {
		invMin = 63 / maxM
	}
	var sc, m [q4kSub]uint8
	for j := range q4kSub {
		sc[j] = roundClamp(invScale*scales[j], 63)
		m[j] = roundClamp(invMin*mins[j], 63)
	}
	hdr[0], hdr[1], hdr[2], hdr[3] = byte(d), byte(d>>8), byte(dmin), byte(dmin>>8)
	packScaleMinK4(hdr[q4kScales:q4kQs], &sc, &m)

	// Requantize against the scales as stored. A sub-block whose scale
	// rounds to 0 keeps the fit's codes, as llama.cpp does: they decode to
	// −dmin·m whatever they are.
	df, dminf := half.F16ToF32(d), half.F16ToF32(dmin)
	for j := range q4kSub {
		ds := df * float32(sc[j])
		if ds == 0 {
			continue
		}
		dm := dminf * float32(m[j])
		for i, v := range x[j*BlockSize : (j+1)*BlockSize] {
			codes[j*BlockSize+i] = roundClamp((v+dm)/ds, f.nmax)
		}
	}
	return nil
}

// minFit is the search of one sub-block of 32 values x: a scale s ≥ 0
// and an offset lo ≤ 0 that make Σ w·(s·q + lo − x)² small with codes
// q ∈ 0..nmax, as llama.cpp's make_qkx2_quants(…, rdelta 0.1, use_mad
// false), the weights w = √(mean x²) + |x| as quantize_row_q4_K_ref and
// quantize_row_q5_K_ref set them.
//
// init takes the first candidate: the span [min(x, 0), max x] in nmax
// steps. fitMinPair then tries, for each of the nstep+1 step counts
// nmax+rmin, nmax+rmin+0.1, … , rounding the values onto that grid
// (anchored at the best offset so far) and refitting s and lo to the
// codes by weighted least squares,
//
//	D  = Σw·Σwq² − (Σwq)²
//	s  = (Σw·Σwqx − Σwx·Σwq) / D
//	lo = (Σwq²·Σwx − Σwq·Σwqx) / D      (if lo > 0: lo = 0, s = Σwqx/Σwq²)
//
// keeping the fit with the least weighted squared error. Every product
// feeding a sum is converted to float32 so that no platform fuses it into
// an FMA (the Go spec allows that otherwise).
type minFit struct {
	x       *[BlockSize]float32
	codes   *[BlockSize]uint8 // the best fit's
	w       [BlockSize]float32
	aux     [BlockSize]float32 // the grid's codes
	sumW    float32
	sumX    float32
	hi, lo  float32
	scale   float32
	bestErr float32
}

func (t *minFit) init(x *[BlockSize]float32, codes *[BlockSize]uint8, f kMinFit) {
	t.x, t.codes = x, codes
	var sumX2 float32
	for _, v := range x {
		sumX2 += float32(v * v)
	}
	avX := float32(math.Sqrt(float64(sumX2 / BlockSize)))
	for i, v := range x {
		t.w[i] = avX + abs32(v)
	}
	lo, hi := x[0], x[0]
	t.sumW = t.w[0]
	t.sumX = t.sumW * x[0]
	for i := 1; i < BlockSize; i++ {
		lo, hi = min(lo, x[i]), max(hi, x[i])
		t.sumW += t.w[i]
		t.sumX += float32(t.w[i] * x[i])
	}
	lo = min(lo, 0)
	t.lo, t.hi, t.scale, t.bestErr = lo, hi, 0, 0
	if hi == lo {
		// All equal: codes 0, scale 0. The grids below divide by hi − lo
		// = 0; their codes are NaN, so is D, and no fit is taken.
		*codes = [BlockSize]uint8{}
		return
	}
	iscale := float32(f.nmax) / (hi - lo)
	t.scale = 1 / iscale
	for i, v := range x {
		codes[i] = roundClamp(iscale*(v-lo), f.nmax)
		diff := float32(t.scale*float32(codes[i])) + lo - v
		t.bestErr += float32(t.w[i] * float32(diff*diff))
	}
}

// fitMinPair runs the grid search of two sub-blocks at once. Each one's
// arithmetic is that of its own search, in its order: a sum's float32
// additions must stay in sequence to round as llama.cpp's do, so one
// search is a chain of dependent additions; two interleaved let the
// processor overlap them.
func fitMinPair(a, b *minFit, f kMinFit) {
	const rdelta = float32(0.1)
	nmax := float32(f.nmax)
	xa, xb, wa, wb := a.x, b.x, &a.w, &b.w
	for is := range f.nstep + 1 {
		// lo moves as better fits are found, as in llama.cpp.
		n := f.rmin + float32(rdelta*float32(is)) + nmax
		ia, ib := n/(a.hi-a.lo), n/(b.hi-b.lo)
		loA, loB := a.lo, b.lo
		var aL, aL2, aXL, bL, bL2, bXL float32
		for i := range BlockSize {
			la, lb := clampedRound(ia*(xa[i]-loA), 0, nmax), clampedRound(ib*(xb[i]-loB), 0, nmax)
			a.aux[i], b.aux[i] = la, lb
			wla, wlb := float32(wa[i]*la), float32(wb[i]*lb)
			aL, bL = aL+wla, bL+wlb
			aL2, bL2 = aL2+float32(wla*la), bL2+float32(wlb*lb)
			aXL, bXL = aXL+float32(wla*xa[i]), bXL+float32(wlb*xb[i])
		}
		sa, ma, okA := a.solve(aL, aL2, aXL)
		sb, mb, okB := b.solve(bL, bL2, bXL)
		if !okA && !okB {
			continue
		}
		var ea, eb float32
		for i := range BlockSize {
			da := float32(sa*a.aux[i]) + ma - xa[i]
			db := float32(sb*b.aux[i]) + mb - xb[i]
			ea, eb = ea+float32(wa[i]*float32(da*da)), eb+float32(wb[i]*float32(db*db))
		}
		if okA && ea < a.bestErr {
			a.take(ea, sa, ma)
		}
		if okB && eb < b.bestErr {
			b.take(eb, sb, mb)
		}
	}
}

// take makes the grid's codes and fit the best so far.
func (t *minFit) take(e, s, m float32) {
	for i, l := range t.aux {
		t.codes[i] = uint8(l)
	}
	t.bestErr, t.scale, t.lo = e, s, m
}

// clampedRound is the grid searches' rounding, in float32: v rounded to
// the nearest integer, ties to even, clamped to lo..hi. For every v but
// NaN (which it returns: a flat sub-block's grid, whose sums then give no
// fit) it equals clamping llama.cpp's nearest_int(v), as roundClamp.
func clampedRound(v, lo, hi float32) float32 {
	v = float32(v+roundMagic) - roundMagic
	if v < lo {
		v = lo
	}
	if v > hi {
		v = hi
	}
	return v
}

// solve returns the least-squares scale and offset for a grid's sums, and
// false where D ≤ 0 (no fit: all codes equal).
func (t *minFit) solve(sumL, sumL2, sumXL float32) (s, m float32, ok bool) {
	det := float32(t.sumW*sumL2) - float32(sumL*sumL)
	if !(det > 0) {
		return 0, 0, false
	}
	s = (float32(t.sumW*sumXL) - float32(t.sumX*sumL)) / det
	m = (float32(sumL2*t.sumX) - float32(sumL*sumXL)) / det
	if m > 0 {
		m, s = 0, sumXL/sumL2
	}
	return s, m, true
}

// roundClamp returns v rounded to the nearest integer, ties to even, and
// clamped to 0..hi; NaN gives 0. Inside |v| ≤ 4194303 (the domain that
// llama.cpp's nearest_int asserts) it equals MAX(0, MIN(hi,
// nearest_int(v))); outside it, where nearest_int's bit trick gives
// arbitrary integers, it still clamps correctly.
func roundClamp(v float32, hi int) uint8 {
	if !(abs32(v) < 1<<22) { // NaN or far out: no rounding to do
		if v > 0 {
			return uint8(hi)
		}
		return 0
	}
	return uint8(min(max(int(float32(v+roundMagic)-roundMagic), 0), hi))
}

func abs32(v float32) float32 { return math.Float32frombits(math.Float32bits(v) &^ (1 << 31)) }

// packScaleMinK4 packs eight 6-bit scales and mins into 12 bytes, as
// block_q4_K's scales field: bytes 0–3 hold sc0–3 and bytes 4–7 m0–3 in
// their low 6 bits; bytes 8–11 hold the low nibbles of sc4–7 (low half)
// and m4–7 (high half); the top 2 bits of sc4–7 and m4–7 go in the spare
// top bits of bytes 0–3 and 4–7.
func packScaleMinK4(dst []byte, sc, m *[q4kSub]uint8) {
	for j := range 4 {
		dst[j] = sc[j]&63 | sc[j+4]>>4<<6
		dst[j+4] = m[j]&63 | m[j+4]>>4<<6
		dst[j+8] = sc[j+4]&15 | m[j+4]<<4
	}
}

// scaleMinK4 unpacks sub-block j's scale and min from the 12 packed bytes
// (llama.cpp's get_scale_min_k4).
func scaleMinK4(j int, s []byte) (sc, m uint8) {
	if j < 4 {
		return s[j] & 63, s[j+4] & 63
	}
	return s[j+4]&15 | s[j-4]>>6<<4, s[j+4]>>4 | s[j]>>6<<4
}

// DequantizeQ4_K writes x̂ = d·sc·q − dmin·m, in float32 as
// dequantize_row_q4_K and gguf.quants.dequantize compute it, for each
// Q4_K super-block in data to dst. It returns an error if len(data) is not
// the size of len(dst)/256 super-blocks (a truncated or corrupt payload)
// and panics if len(dst) is not a multiple of 256.
func DequantizeQ4_K(dst []float32, data []byte) error {
	if len(dst)%SuperBlockSize != 0 {
		panic(fmt.Sprintf("quant.DequantizeQ4_K: %d values are not whole super-blocks", len(dst)))
	}
	if len(data) != len(dst)/SuperBlockSize*Q4_KBlockBytes {
		return fmt.Errorf("quant: Q4_K payload of %d bytes for %d values", len(data), len(dst))
	}
	for b := range len(dst) / SuperBlockSize {
		o := data[b*Q4_KBlockBytes : (b+1)*Q4_KBlockBytes]
		y := dst[b*SuperBlockSize : (b+1)*SuperBlockSize]
		d := half.F16ToF32(uint16(o[0]) | uint16(o[1])<<8)
		dmin := half.F16ToF32(uint16(o[2]) | uint16(o[3])<<8)
		qs := o[q4kQs:]
		for j := range q4kSub {
			sc, m := scaleMinK4(j, o[q4kScales:q4kQs])
			ds, dm := d*float32(sc), dmin*float32(m)
			shift := 4 * uint(j%2)
			for l := range BlockSize {
				q := qs[j/2*BlockSize+l] >> shift & 15
				y[j*BlockSize+l] = float32(ds*float32(q)) - dm
			}
		}
	}
	return nil
}
