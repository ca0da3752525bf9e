package quant

import (
	"fmt"

	"github.com/lightbeam-ml/lightbeam/internal/half"
)

// Q5_KBlockBytes is the encoded size of one Q5_K super-block, laid out as
// llama.cpp's block_q5_K: fp16 d, fp16 dmin, the 12 bytes of packed 6-bit
// sub-block scales and mins of Q4_K, 32 bytes of fifth bits (qh), then
// 128 bytes of low nibbles. That is 5.5 bits per weight.
const Q5_KBlockBytes = 2 + 2 + 12 + SuperBlockSize/8 + SuperBlockSize/2

const (
	q5kQh = 16                       // offset of the fifth bits
	q5kQs = q5kQh + SuperBlockSize/8 // offset of the low nibbles
)

// Q5_K quantizes w, whose rows have rowLen values, to GGUF Q5_K
// super-blocks as llama.cpp's quantize_row_q5_K_ref does (llama-quantize
// without an importance matrix). It is Q4_K's algorithm with codes
// q ∈ 0..31 and make_qkx2_quants's grid search over 16 step counts
// 30.5, 30.6, … 32 instead of 21 (see minFit); sub-block j
// decodes as
//
//	x̂ = d·sc_j·q − dmin·m_j
//
// Code bits: within each pair of sub-blocks (2p, 2p+1), byte l of the
// pair's 32 low-nibble bytes holds sub-block 2p's code l in its low
// nibble and 2p+1's in its high nibble, and byte l of qh holds their
// fifth bits at bits 2p and 2p+1.
//
// Arithmetic, FMA and errors are as Q4_K's.
func Q5_K(w []float32, rowLen int) ([]byte, error) {
	if rowLen <= 0 || len(w)%rowLen != 0 {
		panic(fmt.Sprintf("quant.Q5_K: %d values are not whole rows of %d", len(w), rowLen))
	}
	if rowLen%SuperBlockSize != 0 {
		return nil, fmt.Errorf("%w: Q5_K needs rows of a multiple of %d, not %d", ErrRowLength, SuperBlockSize, rowLen)
	}
	if err := checkFinite(w, 0); err != nil {
		return nil, err
	}
	out := make([]byte, len(w)/SuperBlockSize*Q5_KBlockBytes)
	var codes [SuperBlockSize]uint8
	for b := range len(w) / SuperBlockSize {
		o := out[b*Q5_KBlockBytes : (b+1)*Q5_KBlockBytes]
		if err := quantizeKMinBlock(o[:q5kQh], w[b*SuperBlockSize:(b+1)*SuperBlockSize], q5kFit, &codes); err != nil {
			return nil, fmt.Errorf("%w: Q5_K super-block %d %s", ErrScaleOverflow, b, err)
		}
		qh, qs := o[q5kQh:q5kQs], o[q5kQs:]
		for p := range q4kSub / 2 {
			lo, hi := codes[2*p*BlockSize:], codes[(2*p+1)*BlockSize:]
			for l := range BlockSize {
				qs[p*BlockSize+l] = lo[l]&15 | hi[l]<<4
				qh[l] |= lo[l]>>4<<(2*p) | hi[l]>>4<<(2*p+1)
			}
		}
	}
	return out, nil
}

// DequantizeQ5_K writes x̂ = d·sc·q − dmin·m, in float32 as
// dequantize_row_q5_K and gguf.quants.dequantize compute it (each product
// rounded), for each Q5_K super-block in data to dst; errors and panics
// as DequantizeQ4_K.
func DequantizeQ5_K(dst []float32, data []byte) error {
	if len(dst)%SuperBlockSize != 0 {
		panic(fmt.Sprintf("quant.DequantizeQ5_K: %d values are not whole super-blocks", len(dst)))
	}
	if len(data) != len(dst)/SuperBlockSize*Q5_KBlockBytes {
		return fmt.Errorf("quant: Q5_K payload of %d bytes for %d values", len(data), len(dst))
	}
	for b := range len(dst) / SuperBlockSize {
		o := data[b*Q5_KBlockBytes : (b+1)*Q5_KBlockBytes]
		y := dst[b*SuperBlockSize : (b+1)*SuperBlockSize]
		d := half.F16ToF32(uint16(o[0]) | uint16(o[1])<<8)
		dmin := half.F16ToF32(uint16(o[2]) | uint16(o[3])<<8)
		qh, qs := o[q5kQh:q5kQs], o[q5kQs:]
		for j := range q4kSub {
			sc, m := scaleMinK4(j, o[q4kScales:q5kQh])
			ds, dm := d*float32(sc), dmin*float32(m)
			shift := 4 * uint(j%2)
			for l := range BlockSize {
				q := qs[j/2*BlockSize+l]>>shift&15 | qh[l]>>j&1<<4
				y[j*BlockSize+l] = float32(ds*float32(q)) - dm
			}
		}
	}
	return nil
}
