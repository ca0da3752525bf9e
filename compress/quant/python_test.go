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
	var buf bytes.Buffer
	if err := binary.Write(&buf, binary.LittleEndian, x); err != nil {
		t.Fatal(err)
	}
	return runReferenceBytes(t, py, mode, buf.Bytes())
}

// runReferenceBytes returns testdata/gguf_quant.py's output for mode and
// the input bytes in.
func runReferenceBytes(t *testing.T, py, mode string, inBytes []byte) []byte {
	t.Helper()
	dir := t.TempDir()
	in, out := filepath.Join(dir, "in.bin"), filepath.Join(dir, "out.bin")
	if err := os.WriteFile(in, inBytes, 0o644); err != nil {
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
// Q8_0, Q4_0, Q5_0 and Q5_1: random data at many scales, .5 ties of x/d
// (exact where d is a power of 2), zeros and −0 (at the min and max too),
// fp16-subnormal and underflowing scales, reciprocals that overflow,
// repeated maxima and scales near fp16's largest value.
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
	for i := range 200 { // ties: x = (k + 0.5)·d for each format's d
		m := float32(1 + rng.IntN(1000))
		if i%2 == 0 {
			m = float32(math.Ldexp(1, rng.IntN(40)-20)) // 1/d is exact
		}
		b := block(m * 127)
		c := block(-m * 8)
		c5 := block(-m * 16)
		lo := -m * float32(rng.IntN(32))
		c51 := block(lo, lo+31*m) // d = m
		for j := 1; j < BlockSize; j++ {
			b[j] = (float32(rng.IntN(254)-127) + 0.5) * m
			c[j] = (float32(rng.IntN(16)-8) + 0.5) * m
			c5[j] = (float32(rng.IntN(32)-16) + 0.5) * m
			if j > 1 {
				c51[j] = lo + (float32(rng.IntN(31))+0.5)*m
			}
		}
		add(b)
		add(c)
		add(c5)
		add(c51)
	}
	// Q5_1 takes the block's min and max: zeros of both signs at the
	// extremes, where numpy's reduction order decides the sign (see
	// numpyReduce32), and blocks of only ±0.
	for i := range 300 {
		b := block()
		for j := range b {
			switch r := rng.IntN(6); {
			case r == 0:
				b[j] = float32(math.Copysign(0, -1))
			case r == 1:
				b[j] = 0
			case i%3 == 0:
				b[j] = -float32(1 + rng.IntN(3)) // max is a zero
			case i%3 == 1:
				b[j] = float32(1 + rng.IntN(3)) // min is a zero
			default:
				b[j] = float32(math.Copysign(0, float64(rng.IntN(2)*2-1)))
			}
		}
		add(b)
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
	add(block(65504*16, 1, -3))
	add(block(-65504*16, 1, -3))
	add(block(65504*31, 0))
	add(block(-65504, 1)) // Q5_1's min at fp16's largest
	add(block(-65520, 1)) // … and past it
	return x
}

// numpyAVX512 reports whether the reference numpy runs its min/max loops
// with AVX-512, the order Q5_1 follows for the sign of a zero min or max.
func numpyAVX512(t *testing.T, py string) bool {
	return string(runReference(t, py, "cpu", nil)) == "avx512"
}

// TestGGUFBitExact checks that Q8_0, Q4_0, Q5_0 and Q5_1 write the bytes
// of gguf.quants.quantize for the cross-check blocks. Where numpy does not
// use AVX-512, a Q5_1 block may differ in the sign bit of a zero d or m
// (see Q5_1), and only there.
func TestGGUFBitExact(t *testing.T) {
	py := referencePython(t)
	avx512 := numpyAVX512(t, py)
	x := crossCheckBlocks()
	for _, tt := range []struct {
		mode  string
		quant func([]float32, int) ([]byte, error)
		size  int
	}{
		{"q8_0", Q8_0, Q8_0BlockBytes},
		{"q4_0", Q4_0, Q4_0BlockBytes},
		{"q5_0", Q5_0, Q5_0BlockBytes},
		{"q5_1", Q5_1, Q5_1BlockBytes},
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
		bad, zeroSigns := 0, 0
		for b := 0; b < len(got); b += tt.size {
			g, w := got[b:b+tt.size], want[b:b+tt.size]
			if bytes.Equal(g, w) {
				continue
			}
			if tt.mode == "q5_1" && !avx512 && bytes.Equal(clearZeroSigns(g), clearZeroSigns(w)) {
				zeroSigns++
				continue
			}
			if bad++; bad <= 5 {
				t.Errorf("%s block %d, input %v:\n got % x\nwant % x", tt.mode, b/tt.size,
					ok[b/tt.size*BlockSize:(b/tt.size+1)*BlockSize], g, w)
			}
		}
		t.Logf("%s: %d blocks, %d differ from gguf.quants.quantize (%d more only in the sign of a zero d or m; numpy AVX-512: %v)",
			tt.mode, len(got)/tt.size, bad, zeroSigns, avx512)
	}
}

// clearZeroSigns returns a Q5_1 block with the sign bits of d and m
// cleared where they are ±0.
func clearZeroSigns(b []byte) []byte {
	b = bytes.Clone(b)
	for _, i := range []int{0, 2} {
		if b[i] == 0 && b[i+1]&0x7f == 0 {
			b[i+1] = 0
		}
	}
	return b
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
