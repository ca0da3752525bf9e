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
	return nil
}

// Error accumulates what a quantization lost: over the values seen,
// Signal = Σx², Noise = Σ(x − x̂)² (x̂ the dequantized value) and MaxAbs =
// max|x − x̂|. SQNR = 10·log10(Signal/Noise).
type Error struct {
	Signal, Noise, MaxAbs float64
}

// Add adds o's values to e.
func (e *Error) Add(o Error) {
	e.Signal += o.Signal
	e.Noise += o.Noise
	e.MaxAbs = max(e.MaxAbs, o.MaxAbs)
}

// Observe adds one value x and its dequantized x̂.
func (e *Error) Observe(x, xhat float32) {
	d := float64(x) - float64(xhat)
	e.Signal += float64(x) * float64(x)
	e.Noise += d * d
	e.MaxAbs = max(e.MaxAbs, math.Abs(d))
}

// ObserveAll adds the values x and their x̂ (as many), a block of 32 at a
// time as the block encoders measure.
func (e *Error) ObserveAll(x, xhat []float32) {
	var be Error
	n := len(x) / BlockSize * BlockSize
	for b := 0; b < n; b += BlockSize {
		be.observeBlock(x[b:b+BlockSize], (*[BlockSize]float32)(xhat[b:b+BlockSize]))
	}
	for i := n; i < len(x); i++ {
		be.Observe(x[i], xhat[i])
	}
	e.Add(be)
}

// observeBlock adds a block of values and their x̂. It sums the block in
// float32 over four independent lanes (a single float64 chain cost more
// than the quantization), then adds the block's sums in float64.
func (e *Error) observeBlock(x []float32, xhat *[BlockSize]float32) {
	x = x[:BlockSize]
	var s0, s1, s2, s3, n0, n1, n2, n3 float32
	var m uint32 // the largest |x − x̂|'s bits, which order as the values do
	for j := 0; j < BlockSize; j += 4 {
		v0, v1, v2, v3 := x[j], x[j+1], x[j+2], x[j+3]
		d0, d1, d2, d3 := v0-xhat[j], v1-xhat[j+1], v2-xhat[j+2], v3-xhat[j+3]
		s0, s1, s2, s3 = s0+v0*v0, s1+v1*v1, s2+v2*v2, s3+v3*v3
		n0, n1, n2, n3 = n0+d0*d0, n1+d1*d1, n2+d2*d2, n3+d3*d3
		// Integer max of the bits: Go's float max, NaN-aware, costs more
		// than the rest of the loop.
		m = max(m, math.Float32bits(d0)&^(1<<31), math.Float32bits(d1)&^(1<<31),
			math.Float32bits(d2)&^(1<<31), math.Float32bits(d3)&^(1<<31))
	}
	e.Signal += float64(s0+s1) + float64(s2+s3)
	e.Noise += float64(n0+n1) + float64(n2+n3)
	e.MaxAbs = max(e.MaxAbs, float64(math.Float32frombits(m)))
}

// absMax scans a block once: the index of its first largest |x| (by the
// bits of |x|, which order finite floats as their values do), or an error
// naming the first NaN or ±Inf. base is the block's first index in the
// caller's slice, for the error.
func absMax(x []float32, base int) (int, error) {
	var m uint32
	at := 0
	for i, v := range x {
		if a := math.Float32bits(v) &^ (1 << 31); a > m {
			m, at = a, i
		}
	}
	if m >= 0x7f800000 { // Inf or NaN: report the first, as checkFinite does
		return 0, checkFinite(x, base)
	}
	return at, nil
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
	return out, Q8_0Into(out, w, nil)
}

// Q8_0Into writes the Q8_0 blocks of w (a whole number of blocks) to dst,
// in one pass, and adds to e (if not nil) the error of each value against
// its dequantized x̂ = fp16(d)·q. Errors are those of Q8_0; dst is then
// partly written.
func Q8_0Into(dst []byte, w []float32, e *Error) error {
	checkInto("Q8_0Into", dst, w, Q8_0BlockBytes)
	var be Error
	for b := 0; b < len(w)/BlockSize; b++ {
		x := w[b*BlockSize : (b+1)*BlockSize : (b+1)*BlockSize]
		o := dst[b*Q8_0BlockBytes : (b+1)*Q8_0BlockBytes : (b+1)*Q8_0BlockBytes]
		at, err := absMax(x, b*BlockSize)
		if err != nil {
			return err
		}
		amax := float32(math.Abs(float64(x[at])))
		d := amax / 127
		h := half.F32ToF16(d)
		if h&0x7fff == 0x7c00 {
			return fmt.Errorf("%w: Q8_0 block %d has max|x| = %g", ErrScaleOverflow, b, amax)
		}
		o[0], o[1] = byte(h), byte(h>>8)
		var id float32
		if d != 0 {
			id = 1 / d
		}
		if math.IsInf(float64(id), 0) {
			clear(o[2:]) // codes 0, see Q8_0's doc comment
		} else {
			for j, v := range x {
				// Round half away from zero: p ± 0.5 is exact in float64
				// (|p| ≤ 127), and the conversion truncates toward zero.
				p := float64(float32(v * id))
				o[2+j] = byte(int8(p + math.Copysign(0.5, p)))
			}
		}
		if e != nil {
			var xhat [BlockSize]float32
			df := half.F16ToF32(h)
			for j := range xhat {
				xhat[j] = float32(int8(o[2+j])) * df
			}
			be.observeBlock(x, &xhat)
		}
	}
	if e != nil {
		e.Add(be)
	}
	return nil
}

// Q4_0 quantizes w, whose rows have rowLen values, to GGUF Q4_0 blocks,
// byte for byte as gguf.quants.quantize does. Per block of 32, in float32
// arithmetic, with m the value of largest magnitude (the first of equals):
//
//	d  = m / −8
//	id = 1/d  (0 if d = 0)
//	q  = min(15, trunc(x · id + 8.5))
//	block = fp16(d) little-endian, then byte j = q_j | q_{j+16} << 4
//
// When 1/d overflows to ±Inf all codes are 0, as numpy gives on x86-64.
// Errors are those of Q8_0.
func Q4_0(w []float32, rowLen int) ([]byte, error) {
	if err := checkBlocks("Q4_0", w, rowLen); err != nil {
		return nil, err
	}
	out := make([]byte, len(w)/BlockSize*Q4_0BlockBytes)
	return out, Q4_0Into(out, w, nil)
}

// Q4_0Into is to Q4_0 what Q8_0Into is to Q8_0; x̂ = fp16(d)·(q − 8).
func Q4_0Into(dst []byte, w []float32, e *Error) error {
	checkInto("Q4_0Into", dst, w, Q4_0BlockBytes)
	return symmetricInto("Q4_0", dst, w, e, Q4_0BlockBytes, 8)
}

// symmetricInto writes the blocks of Q4_0 (offset 8) and Q5_0 (offset 16):
// per block of 32, with m the value of largest magnitude (numpy's argmax
// picks the first maximum, so all zeros give m = x[0], sign included),
// d = m / −offset, codes q = min(2·offset − 1, trunc(x/d + offset + 0.5)),
// fp16(d) in the block's first two bytes and the codes packed
// after them (Q4_0's nibbles, or Q5_0's high bits and nibbles).
// x̂ = fp16(d)·(q − offset).
func symmetricInto(name string, dst []byte, w []float32, e *Error, blockBytes int, offset int) error {
	var be Error
	var q [BlockSize]byte
	off, top := float32(offset), 2*offset-1
	for b := 0; b < len(w)/BlockSize; b++ {
		x := w[b*BlockSize : (b+1)*BlockSize : (b+1)*BlockSize]
		o := dst[b*blockBytes : (b+1)*blockBytes : (b+1)*blockBytes]
		at, err := absMax(x, b*BlockSize)
		if err != nil {
			return err
		}
		m := x[at]
		d := m / -off
		h := half.F32ToF16(d)
		if h&0x7fff == 0x7c00 {
			return fmt.Errorf("%w: %s block %d has max|x| = %g", ErrScaleOverflow, name, b, math.Abs(float64(m)))
		}
		o[0], o[1] = byte(h), byte(h>>8)
		var id float32
		if d != 0 {
			id = 1 / d
		}
		if math.IsInf(float64(id), 0) {
			clear(q[:])
		} else {
			for j, v := range x {
				// The conversion forbids fusing into an FMA, which would round once.
				// t ≥ 0.5, as |x·id| ≤ offset: the conversion truncates it.
				t := float32(v*id) + (off + 0.5)
				q[j] = byte(min(top, int(t)))
			}
		}
		if offset == 8 {
			PackQ4_0(o[2:], &q)
		} else {
			packQ5(o[2:], &q)
		}
		if e != nil {
			var xhat [BlockSize]float32
			df := half.F16ToF32(h)
			for j := range xhat {
				xhat[j] = df * float32(int(q[j])-offset)
			}
			be.observeBlock(x, &xhat)
		}
	}
	if e != nil {
		e.Add(be)
	}
	return nil
}

// PackQ4_0 writes a Q4_0 block's 32 4-bit codes q (0..15) as the block
// stores them, in 16 bytes: byte j = q_j | q_{j+16} << 4.
func PackQ4_0(dst []byte, q *[BlockSize]uint8) {
	dst = dst[:BlockSize/2]
	for j := range dst {
		dst[j] = q[j] | q[j+BlockSize/2]<<4
	}
}

// UnpackQ4_0 is the inverse of PackQ4_0: the 32 codes of a block's 16
// code bytes.
func UnpackQ4_0(q *[BlockSize]uint8, src []byte) {
	src = src[:BlockSize/2]
	for j, b := range src {
		q[j], q[j+BlockSize/2] = b&15, b>>4
	}
}

func checkInto(name string, dst []byte, w []float32, blockBytes int) {
	if len(w)%BlockSize != 0 || len(dst) != len(w)/BlockSize*blockBytes {
		panic(fmt.Sprintf("quant.%s: %d values, %d bytes: not whole blocks", name, len(w), len(dst)))
	}
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
