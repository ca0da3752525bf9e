package quant

import (
	"bytes"
	"encoding/binary"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
)

// q4kReference dequantizes IN_Q4K (rows of ROWLEN values) with
// gguf.quants.dequantize into OUT_F32 and, if this gguf can quantize Q4_K,
// writes gguf.quants.quantize of IN_F32 to OUT_Q4K; otherwise it prints
// why not.
const q4kReference = `
import sys
from importlib.metadata import version
import numpy as np
from gguf.constants import GGML_QUANT_SIZES, GGMLQuantizationType as T
from gguf.quants import dequantize, quantize

in_f32, in_q4k, row_len, out_f32, out_q4k = sys.argv[1:6]
row_len = int(row_len)
assert GGML_QUANT_SIZES[T.Q4_K] == (256, 144), GGML_QUANT_SIZES[T.Q4_K]
q = np.fromfile(in_q4k, dtype=np.uint8).reshape(-1, row_len // 256 * 144)
with np.errstate(all="ignore"):
    dequantize(q, T.Q4_K).astype("<f4").tofile(out_f32)
x = np.fromfile(in_f32, dtype="<f4").reshape(-1, row_len)
try:
    quantize(x, T.Q4_K).tofile(out_q4k)
except NotImplementedError:
    print("gguf", version("gguf"), "cannot quantize Q4_K (NotImplementedError)")
`

// runQ4KReference runs q4kReference on x and its Q4_K bytes q. It returns
// gguf's dequantization of q, and gguf's own Q4_K bytes for x or nil.
func runQ4KReference(t *testing.T, py string, x []float32, q []byte, rowLen int) ([]float32, []byte) {
	t.Helper()
	dir := t.TempDir()
	path := func(name string) string { return filepath.Join(dir, name) }
	var buf bytes.Buffer
	if err := binary.Write(&buf, binary.LittleEndian, x); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path("x.f32"), buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path("x.q4k"), q, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(py, "-c", q4kReference, path("x.f32"), path("x.q4k"), strconv.Itoa(rowLen), path("y.f32"), path("y.q4k")).CombinedOutput()
	if err != nil {
		t.Fatalf("gguf Q4_K reference: %v\n%s", err, out)
	}
	if len(out) > 0 {
		t.Logf("gguf: %s", bytes.TrimSpace(out))
	}
	raw, err := os.ReadFile(path("y.f32"))
	if err != nil {
		t.Fatal(err)
	}
	y := make([]float32, len(raw)/4)
	if err := binary.Read(bytes.NewReader(raw), binary.LittleEndian, y); err != nil {
		t.Fatal(err)
	}
	theirs, err := os.ReadFile(path("y.q4k"))
	if os.IsNotExist(err) {
		return y, nil
	} else if err != nil {
		t.Fatal(err)
	}
	return y, theirs
}

// q4kCrossCheckRows returns rows of 512 values that probe Q4_K's edges:
// Gaussian, Laplace and shifted data at many scales (fp16-subnormal and
// underflowing d and dmin among them), sub-blocks whose scales differ by
// 4× each so that small 6-bit scales round to 0, lone outliers, constant
// and zero sub-blocks of both signs, −0, half-integer ties and values
// near the largest that fit.
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

// TestQ4_KMatchesGGUF checks that gguf.quants.dequantize reads lightbeam's
// Q4_K bytes as DequantizeQ4_K does, bit for bit, on the cross-check rows
// and on random super-blocks (any scale bits, finite d and dmin); and, if
// the installed gguf can quantize Q4_K (0.19.0 cannot), that its bytes
// equal Q4_K's.
func TestQ4_KMatchesGGUF(t *testing.T) {
	py := referencePython(t)
	const rowLen = 2 * SuperBlockSize
	x := q4kCrossCheckRows()
	q, err := Q4_K(x, rowLen)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(13, 14))
	for range 64 { // random payloads, in rows of 512 values too
		b := make([]byte, Q4_KBlockBytes)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		for _, off := range []int{0, 2} {
			h := uint16(rng.IntN(0x7c00)) | uint16(rng.IntN(2))<<15
			b[off], b[off+1] = byte(h), byte(h>>8)
		}
		q = append(q, b...)
	}
	ours := make([]float32, len(q)/Q4_KBlockBytes*SuperBlockSize)
	if err := DequantizeQ4_K(ours, q); err != nil {
		t.Fatal(err)
	}
	theirs, theirQ := runQ4KReference(t, py, x, q, rowLen)
	if len(theirs) != len(ours) {
		t.Fatalf("gguf dequantized %d values, lightbeam %d", len(theirs), len(ours))
	}
	bad := 0
	for i := range ours {
		if math.Float32bits(ours[i]) != math.Float32bits(theirs[i]) {
			if bad++; bad <= 5 {
				t.Errorf("value %d (super-block %d): lightbeam %g (%#08x), gguf %g (%#08x)", i, i/SuperBlockSize,
					ours[i], math.Float32bits(ours[i]), theirs[i], math.Float32bits(theirs[i]))
			}
		}
	}
	t.Logf("%d super-blocks (%d from Q4_K, %d random), %d values differ from gguf.quants.dequantize",
		len(q)/Q4_KBlockBytes, len(x)/SuperBlockSize, 64, bad)

	if theirQ == nil {
		return
	}
	q = q[:len(x)/SuperBlockSize*Q4_KBlockBytes]
	if len(theirQ) != len(q) {
		t.Fatalf("gguf.quants.quantize wrote %d bytes, Q4_K %d", len(theirQ), len(q))
	}
	bad = 0
	for b := 0; b < len(q); b += Q4_KBlockBytes {
		if !bytes.Equal(q[b:b+Q4_KBlockBytes], theirQ[b:b+Q4_KBlockBytes]) {
			if bad++; bad <= 3 {
				t.Errorf("super-block %d:\n got % x\nwant % x", b/Q4_KBlockBytes, q[b:b+Q4_KBlockBytes], theirQ[b:b+Q4_KBlockBytes])
			}
		}
	}
	t.Logf("%d super-blocks, %d differ from gguf.quants.quantize", len(q)/Q4_KBlockBytes, bad)
}
