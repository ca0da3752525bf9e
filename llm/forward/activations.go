package forward

import (
	"math"

	"github.com/lightbeam-ml/lightbeam/export/gguf"
	"github.com/lightbeam-ml/lightbeam/internal/half"
)

// llama.cpp's CPU backend multiplies a block-quantized weight by
// activations quantized to its "vec_dot_type" (ggml-cpu's type traits):
// Q8_0 for Q4_0, Q5_0 and Q8_0 (Q8_1, of the same values, for Q4_1 and
// Q5_1), Q8_K for the K-quants, F16 for F16. What a user of the file gets
// includes that rounding, so the forward pass rounds each product's
// input the same way (roundActivations) before its float32 product: the
// perplexities then agree with llama.cpp's within float32 summation
// order, not only within the activations' quantization error.

// roundActivations writes to dst the rows (of width values) of src as the
// product with a weight of type t sees them, and reports whether it wrote
// anything: false for F32 weights, whose product takes src as it is.
func roundActivations(dst, src []float32, t gguf.Type) bool {
	switch t {
	case gguf.Q4_0, gguf.Q4_1, gguf.Q5_0, gguf.Q5_1, gguf.Q8_0:
		for b := 0; b+32 <= len(src); b += 32 {
			roundQ8_0(dst[b:b+32], src[b:b+32])
		}
	case gguf.Q4_K, gguf.Q5_K, gguf.Q6_K:
		for b := 0; b+256 <= len(src); b += 256 {
			roundQ8_K(dst[b:b+256], src[b:b+256])
		}
	case gguf.F16:
		for i, v := range src {
			dst[i] = half.F16ToF32(half.F32ToF16(v))
		}
	case gguf.BF16:
		for i, v := range src {
			dst[i] = roundBF16(v)
		}
	default:
		return false
	}
	return true
}

// roundQ8_0 is one block of 32 through quantize_row_q8_0 and back:
// d = max|x|/127 stored as fp16, q = round(x·127/max|x|) (to nearest even,
// as its AVX path), x̂ = d·q.
func roundQ8_0(dst, x []float32) {
	var amax float32
	for _, v := range x {
		amax = max(amax, float32(math.Abs(float64(v))))
	}
	if amax == 0 {
		clear(dst)
		return
	}
	d := half.F16ToF32(half.F32ToF16(amax / 127))
	id := 127 / amax
	for i, v := range x {
		dst[i] = d * float32(math.RoundToEven(float64(v*id)))
	}
}

// roundQ8_K is one super-block of 256 through quantize_row_q8_K and back:
// with m the value of largest |x|, iscale = −127/m, q = min(127,
// nearest(iscale·x)), x̂ = q/iscale (d stays float32).
func roundQ8_K(dst, x []float32) {
	var amax, m float32
	for _, v := range x {
		if a := float32(math.Abs(float64(v))); a > amax {
			amax, m = a, v
		}
	}
	if amax == 0 {
		clear(dst)
		return
	}
	iscale := -127 / m
	d := 1 / iscale
	for i, v := range x {
		q := min(127, float32(math.RoundToEven(float64(iscale*v))))
		dst[i] = d * q
	}
}

// roundBF16 rounds v to bfloat16, to nearest even, as ggml's
// GGML_FP32_TO_BF16 (finite values; lightbeam's activations are).
func roundBF16(v float32) float32 {
	b := math.Float32bits(v)
	b = (b + 0x7fff + (b>>16)&1) &^ 0xffff
	return math.Float32frombits(b)
}

// llama.cpp multiplies a Q4_1 or Q5_1 weight (x̂ = d·q + m by block) by
// activations in Q8_1 blocks: the Q8_0 values, and s = d·Σq rounded to
// F16 (d = max|x|/127 in float32), by which it multiplies the weight
// block's m. The float32 product of the dequantized weight takes m·Σ of
// the rounded activations instead, m·fp16(d)·Σq, so for these types the
// forward pass adds the difference as a second, 32 times smaller product:
//
//	out += E · Mᵀ,   E[t,b] = s − fp16(d)·Σq of row t's block b,   M[n,b] = m of weight row n's block b

// setMins keeps the block mins of weight w (data of type t, n×k) on the
// backend when t has them (Q4_1, Q5_1), for gemmRounded's min term.
func (r *Runner) setMins(w *buf, t gguf.Type, data []byte) {
	size := map[gguf.Type]int{gguf.Q4_1: 20, gguf.Q5_1: 24}[t]
	if size == 0 {
		delete(r.mins, w)
		return
	}
	if r.mins == nil {
		r.mins = map[*buf]*buf{}
	}
	n := w.b.Len() / 32
	m := r.mins[w]
	if m == nil {
		m = r.alloc(n)
		r.mins[w] = m
	}
	for i := range n {
		m.h[i] = half.F16ToF32(uint16(data[i*size+2]) | uint16(data[i*size+3])<<8)
	}
	r.push(m)
}

// addMinTerm adds to out (T×n) the min term's correction for in (T×k, on
// the host) and a weight with block mins (n×k/32).
func (r *Runner) addMinTerm(T, n, k int, in, mins, out *buf) {
	kb := k / 32
	if r.sums == nil || r.sums.b.Len() < T*kb {
		r.sums = r.alloc(r.Ctx * kb)
	}
	sumErrors(r.sums.h[:T*kb], in.h[:T*k])
	r.push(r.sums)
	be := r.be
	be.Gemm(false, true, T, n, kb, 1, be.Slice(r.sums.b, 0, T*kb), kb, mins.b, kb, 1, be.Slice(out.b, 0, T*n), n)
}

// sumErrors writes, for each block of 32 values of src, s − fp16(d)·Σq
// of its Q8_1 block (quantize_row_q8_1: q as roundQ8_0 takes them).
func sumErrors(dst, src []float32) {
	for b := 0; b+32 <= len(src); b += 32 {
		var amax float32
		for _, v := range src[b : b+32] {
			amax = max(amax, float32(math.Abs(float64(v))))
		}
		if amax == 0 {
			dst[b/32] = 0
			continue
		}
		d, id := amax/127, 127/amax
		var sum float32
		for _, v := range src[b : b+32] {
			sum += float32(math.RoundToEven(float64(v * id)))
		}
		s := half.F16ToF32(half.F32ToF16(d * sum))
		dst[b/32] = float32(float64(s) - float64(half.F16ToF32(half.F32ToF16(d)))*float64(sum))
	}
}
