package gguf

import (
	"encoding/binary"
	"fmt"
	"math"
	"sync"

	"github.com/lightbeam-ml/lightbeam/compress/quant"
	"github.com/lightbeam-ml/lightbeam/internal/half"
)

// Encode returns the bytes of the values x as type t (F32, F16, Q8_0, Q4_0,
// Q5_0, Q5_1, Q4_K, Q5_K or Q6_K), split over up to workers goroutines. len(x) must be a whole
// number of t's blocks; blocks never cross a row when the row length is a
// multiple of the block, so any run of whole blocks of a tensor encodes
// alone. NaN or ±Inf in x, a value past fp16's range for F16, and a block
// scale past fp16's range are errors naming the value's index.
func Encode(t Type, x []float32, workers int) ([]byte, error) {
	n, err := t.Bytes(int64(len(x)))
	if err != nil {
		return nil, err
	}
	out := make([]byte, n)
	ti := typeInfo[t]
	return out, inPieces(len(x)/ti.block, workers, func(b0, b1 int) error {
		return EncodeInto(t, out[b0*ti.nbytes:b1*ti.nbytes], x[b0*ti.block:b1*ti.block], nil, b0*ti.block)
	})
}

// EncodeInto writes the values x as type t to dst, which must have the
// size of len(x) values of t, and adds what was lost to e (if not nil).
// base is x[0]'s index in the tensor, for errors. Q8_0, Q4_0, Q5_0 and
// Q5_1 measure in the same pass; the k-quants and F16 decode their bytes
// again to measure.
func EncodeInto(t Type, dst []byte, x []float32, e *quant.Error, base int) error {
	if n, err := t.Bytes(int64(len(x))); err != nil || n != int64(len(dst)) {
		panic(fmt.Sprintf("gguf.EncodeInto: %d bytes for %d values of %v", len(dst), len(x), t))
	}
	var err error
	switch t {
	case F32:
		for i, v := range x {
			binary.LittleEndian.PutUint32(dst[4*i:], math.Float32bits(v))
		}
		return nil
	case F16:
		for i, v := range x {
			h := half.F32ToF16(v)
			if h&0x7c00 == 0x7c00 {
				return fmt.Errorf("gguf: value %d (%g) does not fit in F16", base+i, v)
			}
			binary.LittleEndian.PutUint16(dst[2*i:], h)
		}
	case Q8_0:
		err = quant.Q8_0Into(dst, x, e)
		e = nil
	case Q4_0:
		err = quant.Q4_0Into(dst, x, e)
		e = nil
	case Q5_0:
		err = quant.Q5_0Into(dst, x, e)
		e = nil
	case Q5_1:
		err = quant.Q5_1Into(dst, x, e)
		e = nil
	case Q4_K, Q5_K, Q6_K:
		var enc []byte
		if enc, err = kQuantizers[t](x, SuperBlock); err == nil {
			copy(dst, enc)
		}
	default:
		return fmt.Errorf("gguf: cannot encode float32 values as %v", t)
	}
	if err != nil {
		return fmt.Errorf("gguf: values from %d: %w", base, err)
	}
	if e != nil {
		return measure(t, dst, x, e)
	}
	return nil
}

var kQuantizers = map[Type]func([]float32, int) ([]byte, error){Q4_K: quant.Q4_K, Q5_K: quant.Q5_K, Q6_K: quant.Q6_K}

// SuperBlock is the block of the k-quants (Q4_K, Q5_K, Q6_K).
const SuperBlock = quant.SuperBlockSize

// measure adds to e the error of data (type t) against x, decoding a
// piece at a time.
func measure(t Type, data []byte, x []float32, e *quant.Error) error {
	const piece = 1 << 12 // values; a multiple of every block
	ti := typeInfo[t]
	y := make([]float32, min(piece, len(x)))
	for off := 0; off < len(x); off += piece {
		m := min(piece, len(x)-off)
		o := off / ti.block * ti.nbytes
		if err := Decode(t, y[:m], data[o:o+m/ti.block*ti.nbytes], 1); err != nil {
			return err
		}
		e.ObserveAll(x[off:off+m], y[:m])
	}
	return nil
}

// Decode writes the float32 values of data, len(dst) values of type t
// (F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q5_K or Q6_K), to
// dst.
func Decode(t Type, dst []float32, data []byte, workers int) error {
	n, err := t.Bytes(int64(len(dst)))
	if err != nil {
		return err
	}
	if int64(len(data)) != n {
		return fmt.Errorf("gguf: %d bytes of %v for %d values, want %d", len(data), t, len(dst), n)
	}
	ti := typeInfo[t]
	return inPieces(len(dst)/ti.block, workers, func(b0, b1 int) error {
		x, d := dst[b0*ti.block:b1*ti.block], data[b0*ti.nbytes:b1*ti.nbytes]
		switch t {
		case F32:
			for i := range x {
				x[i] = math.Float32frombits(binary.LittleEndian.Uint32(d[4*i:]))
			}
		case F16:
			for i := range x {
				x[i] = half.F16ToF32(binary.LittleEndian.Uint16(d[2*i:]))
			}
		case BF16:
			for i := range x {
				x[i] = math.Float32frombits(uint32(binary.LittleEndian.Uint16(d[2*i:])) << 16)
			}
		case Q8_0:
			return quant.DequantizeQ8_0(x, d)
		case Q4_0:
			return quant.DequantizeQ4_0(x, d)
		case Q4_1:
			return quant.DequantizeQ4_1(x, d)
		case Q5_0:
			return quant.DequantizeQ5_0(x, d)
		case Q5_1:
			return quant.DequantizeQ5_1(x, d)
		case Q4_K:
			return quant.DequantizeQ4_K(x, d)
		case Q5_K:
			return quant.DequantizeQ5_K(x, d)
		case Q6_K:
			return quant.DequantizeQ6_K(x, d)
		default:
			return fmt.Errorf("gguf: cannot decode %v as float32 values", t)
		}
		return nil
	})
}

// inPieces calls do on up to workers contiguous ranges [b0, b1) that
// cover 0..blocks, concurrently, and returns the first range's error.
func inPieces(blocks, workers int, do func(b0, b1 int) error) error {
	workers = max(1, min(workers, blocks/64)) // a piece of fewer than 64 blocks is not worth a goroutine
	if workers == 1 {
		return do(0, blocks)
	}
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[w] = do(w*blocks/workers, (w+1)*blocks/workers)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
