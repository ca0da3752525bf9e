package quant

import (
	"bytes"
	"encoding/binary"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/lightbeam-ml/lightbeam/internal/half"

	"github.com/lightbeam-ml/lightbeam/internal/pyenv"
)

// referencePython returns the Python that has the gguf package (see
// internal/pyenv).
func referencePython(t *testing.T) string { return pyenv.Need(t, "gguf", "numpy") }

// runReference writes x as float32 and returns testdata/gguf_quant.py's
// output for mode.
func runReference(t *testing.T, py, mode string, x []float32) []byte {
	t.Helper()
	dir := t.TempDir()
	in, out := filepath.Join(dir, "in.f32"), filepath.Join(dir, "out.bin")
	var buf bytes.Buffer
	if err := binary.Write(&buf, binary.LittleEndian, x); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(in, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	if b, err := exec.Command(py, filepath.Join("testdata", "gguf_quant.py"), mode, in, out).CombinedOutput(); err != nil {
		t.Fatalf("gguf_quant.py %s: %v\n%s", mode, err, b)
	}
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// crossCheckBlocks builds blocks of 32 that probe the rounding edges of
// Q8_0 and Q4_0: random data at many scales, exact .5 ties of x/d, zeros
// and −0, fp16-subnormal and underflowing scales, reciprocals that
// overflow, repeated maxima and scales near fp16's largest value.
func crossCheckBlocks() []float32 {
	rng := rand.New(rand.NewPCG(1, 2))
	var x []float32
	add := func(b []float32) { x = append(x, b...) }
	for _, scale := range []float64{1e-30, 1e-7, 1e-4, 0.01, 0.05, 1, 300, 2e5} {
		for range 40 {
			b := make([]float32, BlockSize)
			for j := range b {
				switch rng.IntN(4) {
				case 0:
					b[j] = 0
				case 1:
					b[j] = float32(rng.ExpFloat64() * scale * float64(1-2*rng.IntN(2)))
				default:
					b[j] = float32(rng.NormFloat64() * scale)
				}
			}
			add(b)
		}
	}
	for range 200 { // ties: x = (k + 0.5)·d for both formats' d
		m := float32(1 + rng.IntN(1000))
		b := block(m * 127)
		c := block(-m * 8)
		for j := 1; j < BlockSize; j++ {
			b[j] = (float32(rng.IntN(254)-127) + 0.5) * m
			c[j] = (float32(rng.IntN(16)-8) + 0.5) * m
		}
		add(b)
		add(c)
	}
	negZero := float32(math.Copysign(0, -1))
	add(block())
	add(block(negZero, 0, negZero))
	add(block(0, negZero))
	add(block(3, -3, 3))
	add(block(-3, 3, -3))
	for _, tiny := range []float32{1e-45, 1e-40, 1e-38, 3e-37, 4e-37, 1e-36, 5.9604645e-08 * 127, 6e-8, 1e-12} {
		add(block(tiny, -tiny/2, tiny/3, 0, tiny*0.7))
		add(block(-tiny, tiny/2, tiny/3))
	}
	add(block(65504*127, -65504*127, 12345))
	add(block(65504*8, 1, -3))
	add(block(-65504*8, 1, -3))
	return x
}

func TestGGUFBitExact(t *testing.T) {
	py := referencePython(t)
	x := crossCheckBlocks()
	for _, tt := range []struct {
		mode  string
		quant func([]float32, int) ([]byte, error)
		size  int
	}{
		{"q8_0", Q8_0, Q8_0BlockBytes},
		{"q4_0", Q4_0, Q4_0BlockBytes},
	} {
		// Our quantizers refuse blocks whose fp16 scale overflows; leave them out.
		var ok []float32
		for b := 0; b < len(x); b += BlockSize {
			if _, err := tt.quant(x[b:b+BlockSize], BlockSize); err == nil {
				ok = append(ok, x[b:b+BlockSize]...)
			}
		}
		if len(ok) < len(x)/2 {
			t.Fatalf("%s: only %d of %d values quantizable", tt.mode, len(ok), len(x))
		}
		got, err := tt.quant(ok, BlockSize)
		if err != nil {
			t.Fatal(err)
		}
		want := runReference(t, py, tt.mode, ok)
		if len(got) != len(want) {
			t.Fatalf("%s: %d bytes, gguf wrote %d", tt.mode, len(got), len(want))
		}
		bad := 0
		for b := 0; b < len(got); b += tt.size {
			if !bytes.Equal(got[b:b+tt.size], want[b:b+tt.size]) {
				if bad++; bad <= 5 {
					t.Errorf("%s block %d, input %v:\n got % x\nwant % x", tt.mode, b/tt.size,
						ok[b/tt.size*BlockSize:(b/tt.size+1)*BlockSize], got[b:b+tt.size], want[b:b+tt.size])
				}
			}
		}
		t.Logf("%s: %d blocks, %d differ from gguf.quants.quantize", tt.mode, len(got)/tt.size, bad)
	}
}

func TestF16MatchesNumpy(t *testing.T) {
	py := referencePython(t)
	rng := rand.New(rand.NewPCG(3, 4))
	var x []float32
	for len(x) < 200000 {
		f := math.Float32frombits(rng.Uint32())
		if !math.IsNaN(float64(f)) {
			x = append(x, f)
		}
	}
	for h := range 0x7c00 { // every finite positive half's midpoints, both signs
		a, b := half.F16ToF32(uint16(h)), half.F16ToF32(uint16(h+1))
		x = append(x, (a+b)/2, -(a+b)/2, math.Nextafter32((a+b)/2, 0))
	}
	want := runReference(t, py, "f16", x)
	if len(want) != 2*len(x) {
		t.Fatalf("numpy wrote %d bytes for %d values", len(want), len(x))
	}
	bad := 0
	for i, f := range x {
		w := binary.LittleEndian.Uint16(want[2*i:])
		if got := half.F32ToF16(f); got != w {
			if bad++; bad <= 5 {
				t.Errorf("half.F32ToF16(%g = %#08x) = %#04x, numpy %#04x", f, math.Float32bits(f), got, w)
			}
		}
	}
	t.Logf("%d values, %d differ from numpy", len(x), bad)
}
