package quant

import (
	"fmt"
	"math"

	"github.com/lightbeam-ml/lightbeam/internal/half"
)

// Q5_0BlockBytes, Q5_1BlockBytes and Q4_1BlockBytes are the encoded sizes
// of one block of 32, laid out as llama.cpp's block_q5_0 (fp16 d, 4 bytes
// of fifth bits, 16 bytes of low nibbles), block_q5_1 (fp16 d, fp16 m,
// then as Q5_0) and block_q4_1 (fp16 d, fp16 m, 16 bytes of nibbles).
const (
	Q5_0BlockBytes = 2 + 4 + BlockSize/2
	Q5_1BlockBytes = 2 + 2 + 4 + BlockSize/2
	Q4_1BlockBytes = 2 + 2 + BlockSize/2
)

// Q5_0 quantizes w, whose rows have rowLen values, to GGUF Q5_0 blocks,
// byte for byte as gguf.quants.quantize does. It is Q4_0 with 5-bit codes:
// per block of 32, in float32 arithmetic, with m the value of largest
// magnitude (the first of equals),
//
//	d  = m / −16
//	id = 1/d  (0 if d = 0)
//	q  = min(31, trunc(x · id + 16.5))
//	block = fp16(d), u32 qh with bit j = q_j >> 4, then byte j = (q_j & 15) | (q_{j+16} & 15) << 4
//
// When 1/d overflows to ±Inf all codes are 0, as numpy gives on x86-64.
// Errors are those of Q8_0.
func Q5_0(w []float32, rowLen int) ([]byte, error) {
	if err := checkBlocks("Q5_0", w, rowLen); err != nil {
		return nil, err
	}
	out := make([]byte, len(w)/BlockSize*Q5_0BlockBytes)
	return out, Q5_0Into(out, w, nil)
}

// Q5_0Into is to Q5_0 what Q8_0Into is to Q8_0; x̂ = fp16(d)·(q − 16).
func Q5_0Into(dst []byte, w []float32, e *Error) error {
	checkInto("Q5_0Into", dst, w, Q5_0BlockBytes)
	return symmetricInto("Q5_0", dst, w, e, Q5_0BlockBytes, 16)
}

// Q5_1 quantizes w, whose rows have rowLen values, to GGUF Q5_1 blocks,
// byte for byte as gguf.quants.quantize does. Per block of 32, in float32
// arithmetic, with lo and hi the block's least and largest values,
//
//	d  = (hi − lo) / 31
//	id = 1/d  (0 if d = 0)
//	q  = min(31, trunc((x − lo) · id + 0.5))
//	block = fp16(d), fp16(lo), then qh and the nibbles as Q5_0
//
// and x̂ = fp16(d)·q + fp16(lo). When 1/d overflows to +Inf all codes are
// 0, as numpy gives on x86-64.
//
// The sign of a zero lo (and of d when the block is all zeros) is what
// numpy's min and max reductions give, and those depend on the order in
// which their SIMD loop meets −0 and +0: this function follows the
// AVX-512 loop (numpy on a CPU with AVX-512, as CI's), see numpyReduce32.
// Only the sign bit of a zero d or m can differ from numpy on other CPUs;
// the values decode the same.
//
// Errors are those of Q8_0, and one wrapping ErrScaleOverflow when
// fp16(lo) is −Inf (lo below −65520).
func Q5_1(w []float32, rowLen int) ([]byte, error) {
	if err := checkBlocks("Q5_1", w, rowLen); err != nil {
		return nil, err
	}
	out := make([]byte, len(w)/BlockSize*Q5_1BlockBytes)
	return out, Q5_1Into(out, w, nil)
}

// Q5_1Into is to Q5_1 what Q8_0Into is to Q8_0; x̂ = fp16(d)·q + fp16(lo).
func Q5_1Into(dst []byte, w []float32, e *Error) error {
	checkInto("Q5_1Into", dst, w, Q5_1BlockBytes)
	var be Error
	var q [BlockSize]byte
	for b := 0; b < len(w)/BlockSize; b++ {
		x := w[b*BlockSize : (b+1)*BlockSize : (b+1)*BlockSize]
		o := dst[b*Q5_1BlockBytes : (b+1)*Q5_1BlockBytes : (b+1)*Q5_1BlockBytes]
		if err := checkFinite(x, b*BlockSize); err != nil {
			return err
		}
		lo, hi := x[0], x[0]
		for _, v := range x[1:] {
			lo, hi = min(lo, v), max(hi, v)
		}
		// Go's min and max give −0 for min(−0, +0) and +0 for max; numpy's
		// sign depends on where the zeros are.
		if lo == 0 {
			lo = numpyReduce32(x, func(a, b float32) bool { return a < b })
		}
		if hi == 0 {
			hi = numpyReduce32(x, func(a, b float32) bool { return a > b })
		}
		d := (hi - lo) / 31
		hd, hm := half.F32ToF16(d), half.F32ToF16(lo)
		if hd&0x7fff == 0x7c00 {
			return fmt.Errorf("%w: Q5_1 block %d spans %g to %g", ErrScaleOverflow, b, lo, hi)
		}
		if hm&0x7fff == 0x7c00 {
			return fmt.Errorf("%w: Q5_1 block %d has min %g", ErrScaleOverflow, b, lo)
		}
		o[0], o[1], o[2], o[3] = byte(hd), byte(hd>>8), byte(hm), byte(hm>>8)
		var id float32
		if d != 0 {
			id = 1 / d
		}
		if math.IsInf(float64(id), 0) {
			clear(q[:])
		} else {
			for j, v := range x {
				// 0.5 ≤ t ≤ 31.5 or a little more: trunc, then clip.
				t := float32((v-lo)*id) + 0.5
				q[j] = byte(min(31, int(t)))
			}
		}
		packQ5(o[4:], &q)
		if e != nil {
			var xhat [BlockSize]float32
			df, mf := half.F16ToF32(hd), half.F16ToF32(hm)
			for j := range xhat {
				xhat[j] = float32(df*float32(q[j])) + mf
			}
			be.observeBlock(x, &xhat)
		}
	}
	if e != nil {
		e.Add(be)
	}
	return nil
}

// numpyReduce32 returns np.min (less = a < b) or np.max (less = a > b) of
// the 32 values x as numpy's AVX-512 loop computes it, which matters only
// for the sign of a zero result. That loop (loops_minmax.dispatch.c.src,
// simd_reduce_c) starts from x[0] broadcast to 16 lanes, takes the
// lane-wise min with x[1:17] (vminps returns its second operand on a
// tie), folds the lanes 16 → 8 → 4 → 2 → 1 (upper half against lower,
// then lanes 2,3 against 0,1, then 1 against 0, each keeping the second
// operand on a tie), then runs the scalar loop over x[17:], where a tie
// also keeps the new value.
func numpyReduce32(x []float32, less func(a, b float32) bool) float32 {
	op := func(a, b float32) float32 {
		if less(a, b) {
			return a
		}
		return b
	}
	var acc [16]float32
	for l := range acc {
		acc[l] = op(x[0], x[1+l])
	}
	for k := range 8 {
		acc[k] = op(acc[8+k], acc[k])
	}
	for k := range 4 {
		acc[k] = op(acc[4+k], acc[k])
	}
	a0, a1 := op(acc[0], acc[2]), op(acc[1], acc[3])
	r := op(a0, a1)
	for _, v := range x[17:BlockSize] {
		r = op(r, v)
	}
	return r
}

// packQ5 writes 32 five-bit codes as qh (bit j of a little-endian u32 is
// bit 4 of q_j) then 16 bytes of low nibbles (q_j low, q_{j+16} high).
func packQ5(o []byte, q *[BlockSize]byte) {
	var qh uint32
	for j, v := range q {
		qh |= uint32(v>>4&1) << j
	}
	o[0], o[1], o[2], o[3] = byte(qh), byte(qh>>8), byte(qh>>16), byte(qh>>24)
	for j := range BlockSize / 2 {
		o[4+j] = q[j]&15 | q[j+BlockSize/2]<<4
	}
}

// unpackQ5 reads the 32 five-bit codes that packQ5 writes.
func unpackQ5(q *[BlockSize]byte, o []byte) {
	qh := uint32(o[0]) | uint32(o[1])<<8 | uint32(o[2])<<16 | uint32(o[3])<<24
	for j := range BlockSize / 2 {
		q[j] = o[4+j]&15 | byte(qh>>j&1)<<4
		q[j+BlockSize/2] = o[4+j]>>4 | byte(qh>>(j+BlockSize/2)&1)<<4
	}
}

func checkDequantize(name string, dst []float32, data []byte, blockBytes int) error {
	if len(dst)%BlockSize != 0 {
		panic(fmt.Sprintf("quant.Dequantize%s: %d values are not whole blocks", name, len(dst)))
	}
	if len(data) != len(dst)/BlockSize*blockBytes {
		return fmt.Errorf("quant: %s payload of %d bytes for %d values", name, len(data), len(dst))
	}
	return nil
}

// DequantizeQ5_0 writes x = half.F16ToF32(d) · (q − 16) for each Q5_0
// block in data to dst; errors and panics as DequantizeQ8_0.
func DequantizeQ5_0(dst []float32, data []byte) error {
	if err := checkDequantize("Q5_0", dst, data, Q5_0BlockBytes); err != nil {
		return err
	}
	var q [BlockSize]byte
	for b := range len(dst) / BlockSize {
		o := data[b*Q5_0BlockBytes : (b+1)*Q5_0BlockBytes]
		d := half.F16ToF32(uint16(o[0]) | uint16(o[1])<<8)
		unpackQ5(&q, o[2:])
		for j, v := range q {
			dst[b*BlockSize+j] = d * float32(int(v)-16)
		}
	}
	return nil
}

// DequantizeQ5_1 writes x = d·q + m (the product rounded to float32
// first, as gguf.quants.dequantize computes it) for each Q5_1 block in
// data to dst; errors and panics as DequantizeQ8_0.
func DequantizeQ5_1(dst []float32, data []byte) error {
	if err := checkDequantize("Q5_1", dst, data, Q5_1BlockBytes); err != nil {
		return err
	}
	var q [BlockSize]byte
	for b := range len(dst) / BlockSize {
		o := data[b*Q5_1BlockBytes : (b+1)*Q5_1BlockBytes]
		d := half.F16ToF32(uint16(o[0]) | uint16(o[1])<<8)
		m := half.F16ToF32(uint16(o[2]) | uint16(o[3])<<8)
		unpackQ5(&q, o[4:])
		for j, v := range q {
			dst[b*BlockSize+j] = float32(d*float32(v)) + m
		}
	}
	return nil
}

// DequantizeQ4_1 writes x = d·q + m (the product rounded first) for each
// Q4_1 block in data (fp16 d, fp16 m, then byte j = q_j | q_{j+16} << 4)
// to dst; errors and panics as DequantizeQ8_0. lightbeam reads Q4_1
// files (llama.cpp's older 4-bit format with a min) but does not write
// them.
func DequantizeQ4_1(dst []float32, data []byte) error {
	if err := checkDequantize("Q4_1", dst, data, Q4_1BlockBytes); err != nil {
		return err
	}
	for b := range len(dst) / BlockSize {
		o := data[b*Q4_1BlockBytes : (b+1)*Q4_1BlockBytes]
		d := half.F16ToF32(uint16(o[0]) | uint16(o[1])<<8)
		m := half.F16ToF32(uint16(o[2]) | uint16(o[3])<<8)
		for j := range BlockSize / 2 {
			dst[b*BlockSize+j] = float32(d*float32(o[4+j]&15)) + m
			dst[b*BlockSize+j+BlockSize/2] = float32(d*float32(o[4+j]>>4)) + m
		}
	}
	return nil
}
