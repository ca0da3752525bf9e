package quant

import (
	"bytes"
	"encoding/binary"
	"math"
	"math/rand/v2"
	"testing"
)

// q4kCrossCheckRows returns rows of 512 values that probe the k-quants'
// edges: Gaussian, Laplace and shifted data at many scales (fp16-subnormal
// and underflowing d and dmin among them), sub-blocks whose scales differ
// by 4× each so that small 6-bit scales round to 0, lone outliers,
// constant and zero sub-blocks of both signs, −0, half-integer ties and
// values near the largest that fit.
func q4kCrossCheckRows() []float32 {
	const rowLen = 2 * SuperBlockSize
	rng := rand.New(rand.NewPCG(11, 12))
	var x []float32
	row := func() []float32 { x = append(x, make([]float32, rowLen)...); return x[len(x)-rowLen:] }
	for _, scale := range []float64{1e-30, 1e-8, 1e-6, 1e-4, 3e-3, 0.02, 0.1, 1, 40, 3e3, 1e5} {
		for kind := range 6 {
			for range 4 {
				r := row()
				for i := range r {
					v := rng.NormFloat64() * scale
					switch kind {
					case 1:
						v = rng.ExpFloat64() * scale * float64(1-2*rng.IntN(2))
					case 2:
						v += 3 * scale
					case 3:
						v -= 3 * scale
					case 4:
						v *= math.Pow(4, float64(i%SuperBlockSize/BlockSize-7))
					case 5:
						if rng.IntN(64) == 0 {
							v *= 30
						}
					}
					if rng.IntN(8) == 0 {
						v = 0
					}
					r[i] = float32(v)
				}
			}
		}
	}
	negZero := float32(math.Copysign(0, -1))
	r := row()
	for i := range r {
		r[i] = []float32{0, negZero, 1, -1, 0.5, -0.5, 1e-3, -1e-3}[i/BlockSize%8] * float32(1+i/SuperBlockSize)
	}
	r = row()
	for i := range r {
		r[i] = float32(rng.IntN(31)-15) * 0.5
	}
	r = row()
	for i := range r {
		r[i] = float32(rng.NormFloat64() * 1e6)
	}
	r = row()
	for i := range r {
		r[i] = float32(rng.NormFloat64()*3e5 - 2e6)
	}
	row() // all zero
	return x
}

// kQuant is one k-quant's functions and layout, for the cross-checks.
type kQuant struct {
	name       string // gguf's lower-case name
	quant      func([]float32, int) ([]byte, error)
	dequant    func([]float32, []byte) error
	blockBytes int
	fp16At     []int // offsets of the fp16 fields, which random payloads keep finite
}

var kQuants = []kQuant{
	{"q4_k", Q4_K, DequantizeQ4_K, Q4_KBlockBytes, []int{0, 2}},
	{"q5_k", Q5_K, DequantizeQ5_K, Q5_KBlockBytes, []int{0, 2}},
	{"q6_k", Q6_K, DequantizeQ6_K, Q6_KBlockBytes, []int{q6kD}},
}

// randomPayload returns n random blocks of blockBytes whose fp16 fields
// (at fp16At) are finite.
func randomPayload(rng *rand.Rand, n, blockBytes int, fp16At []int) []byte {
	b := make([]byte, n*blockBytes)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	for k := 0; k < len(b); k += blockBytes {
		for _, off := range fp16At {
			h := uint16(rng.IntN(0x7c00)) | uint16(rng.IntN(2))<<15
			b[k+off], b[k+off+1] = byte(h), byte(h>>8)
		}
	}
	return b
}

// float32s reads little-endian float32 values.
func float32s(t *testing.T, raw []byte) []float32 {
	t.Helper()
	y := make([]float32, len(raw)/4)
	if err := binary.Read(bytes.NewReader(raw), binary.LittleEndian, y); err != nil {
		t.Fatal(err)
	}
	return y
}

// sameBits counts the values of ours that differ from theirs in any bit,
// reporting the first few; blockLen values form one block.
func sameBits(t *testing.T, what string, ours, theirs []float32, blockLen int) int {
	t.Helper()
	if len(theirs) != len(ours) {
		t.Fatalf("%s: gguf dequantized %d values, lightbeam %d", what, len(theirs), len(ours))
	}
	bad := 0
	for i := range ours {
		if math.Float32bits(ours[i]) != math.Float32bits(theirs[i]) {
			if bad++; bad <= 5 {
				t.Errorf("%s value %d (block %d): lightbeam %g (%#08x), gguf %g (%#08x)", what, i, i/blockLen,
					ours[i], math.Float32bits(ours[i]), theirs[i], math.Float32bits(theirs[i]))
			}
		}
	}
	return bad
}

// TestKQuantsMatchGGUF checks, for Q4_K, Q5_K and Q6_K, that
// gguf.quants.dequantize reads lightbeam's bytes as lightbeam's
// dequantizer does, bit for bit, on the cross-check rows and on random
// super-blocks (any code and scale bits, finite fp16 fields); and, if the
// installed gguf can quantize the type (0.19.0 cannot), that its bytes
// equal lightbeam's.
func TestKQuantsMatchGGUF(t *testing.T) {
	py := referencePython(t)
	const rowLen = 2 * SuperBlockSize
	x := q4kCrossCheckRows()
	for i, k := range kQuants {
		t.Run(k.name, func(t *testing.T) {
			q, err := k.quant(x, rowLen)
			if err != nil {
				t.Fatal(err)
			}
			const random = 64
			q = append(q, randomPayload(rand.New(rand.NewPCG(13, uint64(14+i))), random, k.blockBytes, k.fp16At)...)
			ours := make([]float32, len(q)/k.blockBytes*SuperBlockSize)
			if err := k.dequant(ours, q); err != nil {
				t.Fatal(err)
			}
			theirs := float32s(t, runReferenceBytes(t, py, "deq-"+k.name, q))
			bad := sameBits(t, k.name, ours, theirs, SuperBlockSize)
			t.Logf("%d super-blocks (%d quantized, %d random), %d values differ from gguf.quants.dequantize",
				len(q)/k.blockBytes, len(x)/SuperBlockSize, random, bad)

			theirQ := runReference(t, py, k.name, x)
			if len(theirQ) == 0 {
				t.Logf("gguf cannot quantize %s: bytes not compared", k.name)
				return
			}
			q = q[:len(x)/SuperBlockSize*k.blockBytes]
			if len(theirQ) != len(q) {
				t.Fatalf("gguf.quants.quantize wrote %d bytes, lightbeam %d", len(theirQ), len(q))
			}
			bad = 0
			for b := 0; b < len(q); b += k.blockBytes {
				if !bytes.Equal(q[b:b+k.blockBytes], theirQ[b:b+k.blockBytes]) {
					if bad++; bad <= 3 {
						t.Errorf("super-block %d:\n got % x\nwant % x", b/k.blockBytes, q[b:b+k.blockBytes], theirQ[b:b+k.blockBytes])
					}
				}
			}
			t.Logf("%d super-blocks, %d differ from gguf.quants.quantize", len(q)/k.blockBytes, bad)
		})
	}
}

// TestBlockDequantizeMatchesGGUF checks that gguf.quants.dequantize reads
// Q4_1, Q5_0 and Q5_1 blocks (gguf's own Q4_1 blocks of the cross-check
// data, lightbeam's Q5_0 and Q5_1 blocks of it, and random blocks with
// finite fp16 fields) as lightbeam does, bit for bit.
func TestBlockDequantizeMatchesGGUF(t *testing.T) {
	py := referencePython(t)
	var x []float32
	for _, v := range crossCheckBlocks() {
		if math.Abs(float64(v)) < 6e4 { // no fp16 overflow in any of the three
			x = append(x, v)
		}
	}
	x = x[:len(x)/BlockSize*BlockSize]
	rng := rand.New(rand.NewPCG(21, 22))
	for _, tt := range []struct {
		name       string
		quant      func([]float32, int) ([]byte, error) // nil: gguf's bytes
		dequant    func([]float32, []byte) error
		blockBytes int
		fp16At     []int
	}{
		{"q4_1", nil, DequantizeQ4_1, Q4_1BlockBytes, []int{0, 2}},
		{"q5_0", Q5_0, DequantizeQ5_0, Q5_0BlockBytes, []int{0}},
		{"q5_1", Q5_1, DequantizeQ5_1, Q5_1BlockBytes, []int{0, 2}},
	} {
		var q []byte
		if tt.quant == nil {
			q = runReference(t, py, tt.name, x)
		} else {
			var err error
			if q, err = tt.quant(x, BlockSize); err != nil {
				t.Fatal(err)
			}
		}
		if len(q) != len(x)/BlockSize*tt.blockBytes {
			t.Fatalf("%s: %d bytes for %d values", tt.name, len(q), len(x))
		}
		q = append(q, randomPayload(rng, 256, tt.blockBytes, tt.fp16At)...)
		ours := make([]float32, len(q)/tt.blockBytes*BlockSize)
		if err := tt.dequant(ours, q); err != nil {
			t.Fatal(err)
		}
		theirs := float32s(t, runReferenceBytes(t, py, "deq-"+tt.name, q))
		bad := sameBits(t, tt.name, ours, theirs, BlockSize)
		t.Logf("%s: %d blocks, %d values differ from gguf.quants.dequantize", tt.name, len(q)/tt.blockBytes, bad)
	}
}
