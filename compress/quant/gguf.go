package quant

import (
	"errors"
	"fmt"
	"math"

	"github.com/lightbeam-ml/lightbeam/internal/half"
)

// BlockSize is the number of values in one Q8_0 or Q4_0 block.
const BlockSize = 32

// Q8_0BlockBytes and Q4_0BlockBytes are the encoded sizes of one block:
// an fp16 scale then 32 int8 codes, or 32 4-bit codes in 16 bytes.
const (
	Q8_0BlockBytes = 2 + BlockSize
	Q4_0BlockBytes = 2 + BlockSize/2
)

// ErrRowLength is returned (wrapped) when a row is not a whole number of
// blocks; callers fall back to another encoding.
var ErrRowLength = errors.New("quant: row length is not a multiple of 32")

// ErrScaleOverflow is returned (wrapped) when a block scale does not fit
// in fp16, so the block could not be dequantized to finite values.
var ErrScaleOverflow = errors.New("quant: block scale overflows float16")

func checkBlocks(name string, w []float32, rowLen int) error {
	if rowLen <= 0 || len(w)%rowLen != 0 {
		panic(fmt.Sprintf("quant.%s: %d values are not whole rows of %d", name, len(w), rowLen))
	}
	if rowLen%BlockSize != 0 {
		return fmt.Errorf("%w: %s rows of %d", ErrRowLength, name, rowLen)
	}
	return checkFinite(w)
}

// Q8_0 quantizes w, whose rows have rowLen values, to GGUF Q8_0 blocks,
// byte for byte as gguf.quants.quantize does. Per block of 32, in float32
// arithmetic:
//
//	d  = max|x| / 127
//	id = 1/d  (0 if d = 0)
//	q  = roundf(x · id)        halves away from zero
//	block = fp16(d) little-endian, then the 32 q as int8
//
// Note the codes use the float32 d, not its fp16 rounding. When 1/d
// overflows to +Inf (max|x| below about 3.7e−37) numpy's cast of the
// resulting NaNs gives 0 on x86-64, and so does this function.
//
// It returns an error wrapping ErrRowLength if rowLen is not a multiple
// of 32, one naming the weight if w holds NaN or ±Inf, and one wrapping
// ErrScaleOverflow if fp16(d) is Inf. It panics if rowLen does not divide
// len(w).
func Q8_0(w []float32, rowLen int) ([]byte, error) {
	if err := checkBlocks("Q8_0", w, rowLen); err != nil {
		return nil, err
	}
	out := make([]byte, len(w)/BlockSize*Q8_0BlockBytes)
	for b := 0; b < len(w)/BlockSize; b++ {
		x := w[b*BlockSize : (b+1)*BlockSize]
		o := out[b*Q8_0BlockBytes : (b+1)*Q8_0BlockBytes]
		d := maxAbs(x) / 127
		h := half.F32ToF16(d)
		if h&0x7fff == 0x7c00 {
			return nil, fmt.Errorf("%w: Q8_0 block %d has max|x| = %g", ErrScaleOverflow, b, maxAbs(x))
		}
		o[0], o[1] = byte(h), byte(h>>8)
		var id float32
		if d != 0 {
			id = 1 / d
		}
		if math.IsInf(float64(id), 0) {
			continue // codes stay 0, see the doc comment
		}
		for j, v := range x {
			p := float32(v * id)
			o[2+j] = byte(int8(math.Round(float64(p))))
		}
	}
	return out, nil
}

// Q4_0 quantizes w, whose rows have rowLen values, to GGUF Q4_0 blocks,
// byte for byte as gguf.quants.quantize does. Per block of 32, in float32
// arithmetic, with m the first value of largest magnitude (sign kept):
//
//	d  = m / −8
//	id = 1/d  (0 if d = 0)
//	q  = min(15, trunc(x·id + 8.5))
//	block = fp16(d) little-endian, then byte j = q_j | q_{j+16} << 4
//
// When 1/d overflows to ±Inf all codes are 0, as numpy gives on x86-64.
// Errors are those of Q8_0.
func Q4_0(w []float32, rowLen int) ([]byte, error) {
	if err := checkBlocks("Q4_0", w, rowLen); err != nil {
		return nil, err
	}
	out := make([]byte, len(w)/BlockSize*Q4_0BlockBytes)
	var q [BlockSize]byte
	for b := 0; b < len(w)/BlockSize; b++ {
		x := w[b*BlockSize : (b+1)*BlockSize]
		o := out[b*Q4_0BlockBytes : (b+1)*Q4_0BlockBytes]
		m := x[0] // numpy's argmax picks the first maximum, so all zeros give m = x[0], sign included
		amax := float32(math.Abs(float64(m)))
		for _, v := range x[1:] {
			if a := float32(math.Abs(float64(v))); a > amax {
				amax, m = a, v
			}
		}
		d := m / -8
		h := half.F32ToF16(d)
		if h&0x7fff == 0x7c00 {
			return nil, fmt.Errorf("%w: Q4_0 block %d has max|x| = %g", ErrScaleOverflow, b, amax)
		}
		o[0], o[1] = byte(h), byte(h>>8)
		var id float32
		if d != 0 {
			id = 1 / d
		}
		if math.IsInf(float64(id), 0) {
			continue
		}
		for j, v := range x {
			// The conversion forbids fusing into an FMA, which would round once.
			t := float32(v*id) + 8.5
			q[j] = byte(min(15, math.Trunc(float64(t))))
		}
		for j := range BlockSize / 2 {
			o[2+j] = q[j] | q[j+BlockSize/2]<<4
		}
	}
	return out, nil
}

// DequantizeQ8_0 writes x = half.F16ToF32(d) · q for each Q8_0 block in data to
// dst. It returns an error if len(data) is not the size of len(dst)/32
// blocks (a truncated or corrupt payload) and panics if len(dst) is not a
// multiple of 32.
func DequantizeQ8_0(dst []float32, data []byte) error {
	if len(dst)%BlockSize != 0 {
		panic(fmt.Sprintf("quant.DequantizeQ8_0: %d values are not whole blocks", len(dst)))
	}
	if len(data) != len(dst)/BlockSize*Q8_0BlockBytes {
		return fmt.Errorf("quant: Q8_0 payload of %d bytes for %d values", len(data), len(dst))
	}
	for b := range len(dst) / BlockSize {
		o := data[b*Q8_0BlockBytes:]
		d := half.F16ToF32(uint16(o[0]) | uint16(o[1])<<8)
		for j := range BlockSize {
			dst[b*BlockSize+j] = float32(int8(o[2+j])) * d
		}
	}
	return nil
}

// DequantizeQ4_0 writes x = half.F16ToF32(d) · (q − 8) for each Q4_0 block in
// data to dst; errors and panics as DequantizeQ8_0.
func DequantizeQ4_0(dst []float32, data []byte) error {
	if len(dst)%BlockSize != 0 {
		panic(fmt.Sprintf("quant.DequantizeQ4_0: %d values are not whole blocks", len(dst)))
	}
	if len(data) != len(dst)/BlockSize*Q4_0BlockBytes {
		return fmt.Errorf("quant: Q4_0 payload of %d bytes for %d values", len(data), len(dst))
	}
	for b := range len(dst) / BlockSize {
		o := data[b*Q4_0BlockBytes:]
		d := half.F16ToF32(uint16(o[0]) | uint16(o[1])<<8)
		for j := range BlockSize / 2 {
			dst[b*BlockSize+j] = d * float32(int(o[2+j]&15)-8)
			dst[b*BlockSize+j+BlockSize/2] = d * float32(int(o[2+j]>>4)-8)
		}
	}
	return nil
}
