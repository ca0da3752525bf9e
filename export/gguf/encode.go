package gguf

import (
	"encoding/binary"
	"fmt"
	"math"
	"sync"

	"github.com/lightbeam-ml/lightbeam/compress/quant"
	"github.com/lightbeam-ml/lightbeam/internal/half"
)

// Encode returns the bytes of the values x as type t (F32, F16, Q8_0, Q4_0
// or Q4_K), split over up to workers goroutines. len(x) must be a whole
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
		x, o := x[b0*ti.block:b1*ti.block], out[b0*ti.nbytes:b1*ti.nbytes]
		var enc []byte
		var err error
		switch t {
		case F32:
			for i, v := range x {
				binary.LittleEndian.PutUint32(o[4*i:], math.Float32bits(v))
			}
			return nil
		case F16:
			for i, v := range x {
				h := half.F32ToF16(v)
				if h&0x7c00 == 0x7c00 {
					return fmt.Errorf("gguf: value %d (%g) does not fit in F16", b0+i, v)
				}
				binary.LittleEndian.PutUint16(o[2*i:], h)
			}
			return nil
		case Q8_0:
			enc, err = quant.Q8_0(x, ti.block)
		case Q4_0:
			enc, err = quant.Q4_0(x, ti.block)
		case Q4_K:
			enc, err = quant.Q4_K(x, ti.block)
		default:
			return fmt.Errorf("gguf: cannot encode float32 values as %v", t)
		}
		if err != nil {
			return fmt.Errorf("gguf: values from %d: %w", b0*ti.block, err)
		}
		copy(o, enc)
		return nil
	})
}

// Decode writes the float32 values of data, len(dst) values of type t
// (F32, F16, BF16, Q8_0, Q4_0 or Q4_K), to dst.
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
		case Q4_K:
			return quant.DequantizeQ4_K(x, d)
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
