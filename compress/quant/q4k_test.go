package quant

import (
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/lightbeam-ml/lightbeam/internal/half"
)

// superBlock returns 256 values, vals first and zeros after.
func superBlock(vals ...float32) []float32 {
	b := make([]float32, SuperBlockSize)
	copy(b, vals)
	return b
}

// q4kRoundTrip quantizes and dequantizes x (rows of rowLen).
func q4kRoundTrip(t *testing.T, x []float32, rowLen int) ([]byte, []float32) {
	t.Helper()
	data, err := Q4_K(x, rowLen)
	if err != nil {
		t.Fatal(err)
	}
	if len(data) != len(x)/SuperBlockSize*Q4_KBlockBytes {
		t.Fatalf("%d bytes for %d values", len(data), len(x))
	}
	y := make([]float32, len(x))
	if err := DequantizeQ4_K(y, data); err != nil {
		t.Fatal(err)
	}
	return data, y
}

func TestQ4_KHandChecked(t *testing.T) {
	// Sub-block 0 is 0..15 twice, the rest zero: the fit is s = 1, min 0,
	// with codes q = x. Then d = fp16(1/63) = 0x2410 (1.0156/64), sc0 = 63,
	// every other scale and min 0, and the requantized codes are still x
	// (x / (63·d) = x / 1.0000 rounds to x).
	x := make([]float32, SuperBlockSize)
	for i := range BlockSize {
		x[i] = float32(i % 16)
	}
	want := make([]byte, Q4_KBlockBytes)
	want[0], want[1] = 0x10, 0x24
	want[q4kScales] = 63
	for l := range BlockSize {
		want[q4kQs+l] = byte(l % 16) // sub-block 1's codes (0) fill the high nibbles
	}
	got, y := q4kRoundTrip(t, x, SuperBlockSize)
	if !slices.Equal(got, want) {
		t.Errorf("\n got % x\nwant % x", got, want)
	}
	d := half.F16ToF32(0x2410) * 63
	for i := range x {
		if w := d * float32(x[i]); y[i] != w {
			t.Errorf("x[%d] = %g dequantized to %g, want %g", i, x[i], y[i], w)
		}
	}

	// One sub-block is 4 ± 1 (positive offset, so min stays 0), another
	// −10 … −9, so dmin is in use; odd sub-blocks land in the high nibbles.
	// Sub-block 5's scale 1/15 is stored as 13 steps of d = (1/3)/63, a
	// grid 3% too coarse, so −9 comes back 0.034 off.
	x = superBlock()
	for i := range BlockSize {
		x[BlockSize+i] = 4 + float32(i%3-1)
		x[5*BlockSize+i] = -10 + float32(i%2)
	}
	got, y = q4kRoundTrip(t, x, SuperBlockSize)
	sc1, m1 := scaleMinK4(1, got[q4kScales:q4kQs])
	sc5, m5 := scaleMinK4(5, got[q4kScales:q4kQs])
	if m1 != 0 || sc5 == 0 || m5 != 63 || sc1 != 63 {
		t.Errorf("sc1, m1 = %d, %d; sc5, m5 = %d, %d; want 63, 0; >0, 63", sc1, m1, sc5, m5)
	}
	for i := range x {
		if math.Abs(float64(y[i]-x[i])) > 0.04 {
			t.Errorf("x[%d] = %g dequantized to %g", i, x[i], y[i])
		}
	}
}

func TestScaleMinK4RoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for range 2000 {
		var sc, m [q4kSub]uint8
		for j := range q4kSub {
			sc[j], m[j] = uint8(rng.IntN(64)), uint8(rng.IntN(64))
		}
		var packed [12]byte
		packScaleMinK4(packed[:], &sc, &m)
		for j := range q4kSub {
			if s, mm := scaleMinK4(j, packed[:]); s != sc[j] || mm != m[j] {
				t.Fatalf("sub-block %d of %v %v: unpacked %d %d from % x", j, sc, m, s, mm, packed)
			}
		}
	}
}

func TestQ4_KZeroAndConstantBlocks(t *testing.T) {
	negZero := float32(math.Copysign(0, -1))
	for _, z := range [][]float32{superBlock(), superBlock(negZero, 0, negZero)} {
		got, y := q4kRoundTrip(t, z, SuperBlockSize)
		if !slices.Equal(got, make([]byte, Q4_KBlockBytes)) {
			t.Errorf("zeros %v…: % x", z[:3], got)
		}
		for i, v := range y {
			if math.Float32bits(v) != 0 {
				t.Fatalf("zeros: y[%d] = %g", i, v)
			}
		}
	}
	// A constant c > 0 is 15 steps of c/15 (scale), c < 0 is a min with scale
	// 0: either way only d = c/15/63 or dmin = −c/63 rounds to fp16, by at
	// most 2^-11 relative or, when subnormal, half a unit of 2^-24; the
	// value is 945·d or 63·dmin.
	tol := func(c float32) float64 { return math.Abs(float64(c))/2048 + 945*0x1p-25 }
	for _, c := range []float32{1, -1, 0.0123, -0.0123, 7.5, 3e4, -3e4, 1e6, -1e6, 0.3, -2e-3} {
		x := slices.Repeat([]float32{c}, 2*SuperBlockSize)
		_, y := q4kRoundTrip(t, x, 2*SuperBlockSize)
		for i := range y {
			if math.Abs(float64(y[i]-c)) > tol(c) {
				t.Fatalf("constant %g: y[%d] = %g", c, i, y[i])
			}
		}
	}
	// Constant sub-blocks of mixed sign and size in one super-block.
	x := superBlock()
	for j, c := range []float32{2, -3, 0, 0.5, -0.25, 8, -8, 1} {
		for i := range BlockSize {
			x[j*BlockSize+i] = c
		}
	}
	_, y := q4kRoundTrip(t, x, SuperBlockSize)
	for i := range x {
		if math.Abs(float64(y[i]-x[i])) > tol(8)+8.0/63/2 {
			t.Errorf("mixed constants: x[%d] = %g dequantized to %g", i, x[i], y[i])
		}
	}
}

// TestQ4_KRoundTripBound checks, for many distributions and scales, that
// each value is within one step of the widest sub-block's 4-bit grid plus
// one step of the 6-bit min grid,
//
//	|x − x̂| ≤ 1.25·(R/15 + M/63),  R = max_j (max x_j − min(min x_j, 0)),  M = max_j −min(min x_j, 0)
//
// (measured up to 0.92 of R/15 + M/63), and that the RMS error is below
// that of plain rounding onto the widest grid, R/15/√12.
func TestQ4_KRoundTripBound(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	const n = 64 * SuperBlockSize
	for kind, name := range []string{"gauss", "laplace", "gauss+3σ", "gauss−3σ", "sub-block scales ×4"} {
		for _, scale := range []float64{1e-3, 0.02, 1, 300} {
			x := make([]float32, n)
			for i := range x {
				g := rng.NormFloat64() * scale
				switch kind {
				case 1:
					g = rng.ExpFloat64() * scale * float64(1-2*rng.IntN(2))
				case 2:
					g += 3 * scale
				case 3:
					g -= 3 * scale
				case 4:
					g *= math.Pow(4, float64(i%SuperBlockSize/BlockSize-4))
				}
				x[i] = float32(g)
			}
			_, y := q4kRoundTrip(t, x, 4*SuperBlockSize)
			var worst, worstRMS float64
			for b := 0; b < n; b += SuperBlockSize {
				var r, m float64
				for j := b; j < b+SuperBlockSize; j += BlockSize {
					lo, hi := 0.0, math.Inf(-1)
					for _, v := range x[j : j+BlockSize] {
						lo, hi = min(lo, float64(v)), max(hi, float64(v))
					}
					r, m = max(r, hi-lo), max(m, -lo)
				}
				bound := r/15 + m/63
				var se float64
				for i := b; i < b+SuperBlockSize; i++ {
					e := math.Abs(float64(x[i] - y[i]))
					if e > 1.25*bound {
						t.Errorf("%s ×%g: x[%d] = %g dequantized to %g, bound %g", name, scale, i, x[i], y[i], 1.25*bound)
					}
					worst = max(worst, e/bound)
					se += e * e
				}
				rms := math.Sqrt(se/SuperBlockSize) / (r / 15)
				if rms > 1/math.Sqrt(12) {
					t.Errorf("%s ×%g: super-block %d RMS error %.3f steps", name, scale, b/SuperBlockSize, rms)
				}
				worstRMS = max(worstRMS, rms)
			}
			t.Logf("%-20s ×%-5g max|e| = %.2f·(R/15+M/63), RMS ≤ %.3f·R/15", name, scale, worst, worstRMS)
		}
	}
}

func TestQ4_KMagnitudes(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	gauss := func(s float64) []float32 {
		x := make([]float32, SuperBlockSize)
		for i := range x {
			x[i] = float32(rng.NormFloat64() * s)
		}
		return x
	}
	// Large but representable: the error scales with the data.
	for _, s := range []float64{1e4, 1e6} {
		x := gauss(s)
		_, y := q4kRoundTrip(t, x, SuperBlockSize)
		a := float64(maxAbs(x))
		for i := range x {
			if math.Abs(float64(y[i]-x[i])) > a/10 {
				t.Errorf("gauss ×%g: x[%d] = %g dequantized to %g", s, i, x[i], y[i])
			}
		}
	}
	// Tiny: d = max s_j/63 is an fp16 subnormal or underflows to 0, so
	// precision goes. When d is 0 but dmin is not, a sub-block decodes to
	// its min −dmin·m_j, so the error stays within the data's span plus
	// dmin's fp16 rounding (half of 2^-24, times m_j ≤ 63).
	for _, s := range []float64{1e-4, 1e-6, 1e-9, 1e-30, 1e-40} {
		x := gauss(s)
		x[3] = 1e-45 // float32's smallest subnormal
		_, y := q4kRoundTrip(t, x, SuperBlockSize)
		a := float64(maxAbs(x))
		for i := range x {
			if e := math.Abs(float64(y[i] - x[i])); math.IsNaN(e) || e > 2*a+63*0x1p-25 {
				t.Errorf("gauss ×%g: x[%d] = %g dequantized to %g", s, i, x[i], y[i])
			}
		}
	}
	// Beyond fp16: d = 1e8/15/63 or dmin = 5e6/63 exceeds 65504.
	for _, x := range [][]float32{superBlock(1e8), superBlock(-5e6), slices.Repeat([]float32{-5e6}, SuperBlockSize), superBlock(3e38, -3e38)} {
		if _, err := Q4_K(x, SuperBlockSize); !errors.Is(err, ErrScaleOverflow) {
			t.Errorf("Q4_K(%g, %g, …) error = %v, want ErrScaleOverflow", x[0], x[1], err)
		}
	}
	// Just inside: a range of 6e7 (d = 6e7/15/63 = 63492) and a min of −4e6.
	if _, err := Q4_K(superBlock(6e7), SuperBlockSize); err != nil {
		t.Error(err)
	}
	if _, err := Q4_K(superBlock(-4e6), SuperBlockSize); err != nil {
		t.Error(err)
	}
}

func TestQ4_KErrors(t *testing.T) {
	x := superBlock()
	x[200] = float32(math.NaN())
	if _, err := Q4_K(x, SuperBlockSize); err == nil || !strings.Contains(err.Error(), "weight 200") {
		t.Errorf("NaN: err = %v", err)
	}
	for _, inf := range []float64{math.Inf(1), math.Inf(-1)} {
		x = make([]float32, 2*SuperBlockSize)
		x[300] = float32(inf)
		if _, err := Q4_K(x, SuperBlockSize); err == nil || !strings.Contains(err.Error(), "weight 300") {
			t.Errorf("%g: err = %v", inf, err)
		}
	}
	for _, rowLen := range []int{32, 96, 128, 300, 784} {
		if _, err := Q4_K(make([]float32, 3*rowLen), rowLen); !errors.Is(err, ErrRowLength) {
			t.Errorf("rows of %d: err = %v, want ErrRowLength", rowLen, err)
		}
	}
	data, err := Q4_K(make([]float32, 512), 512)
	if err != nil {
		t.Fatal(err)
	}
	if err := DequantizeQ4_K(make([]float32, 512), data[:len(data)-1]); err == nil {
		t.Error("truncated payload accepted")
	}
	if err := DequantizeQ4_K(make([]float32, 256), data); err == nil {
		t.Error("long payload accepted")
	}
	for name, f := range map[string]func(){
		"rows do not divide":        func() { Q4_K(make([]float32, 300), 256) },
		"zero row length":           func() { Q4_K(make([]float32, 256), 0) },
		"dst not whole super-block": func() { DequantizeQ4_K(make([]float32, 100), nil) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", name)
				}
			}()
			f()
		}()
	}
}

// realisticWeights returns rows×cols weights shaped like a trained layer:
// per-row scales spread over a decade, Laplace values, and 0.3% outliers
// at 6–12× the row's scale.
func realisticWeights(rows, cols int) []float32 {
	rng := rand.New(rand.NewPCG(2026, 4))
	w := make([]float32, rows*cols)
	for r := range rows {
		s := 0.02 * math.Exp(rng.NormFloat64()*0.5)
		for c := range cols {
			v := rng.ExpFloat64() * s * float64(1-2*rng.IntN(2))
			if rng.IntN(1000) < 3 {
				v = s * (6 + 6*rng.Float64()) * float64(1-2*rng.IntN(2))
			}
			w[r*cols+c] = float32(v)
		}
	}
	return w
}

// sqnr returns 10·log10(Σx² / Σ(x − x̂)²).
func sqnr(x, y []float32) float64 {
	var s, e float64
	for i := range x {
		d := float64(x[i]) - float64(y[i])
		s += float64(x[i]) * float64(x[i])
		e += d * d
	}
	return 10 * math.Log10(s/e)
}

func TestQ4_KBeatsQ4_0(t *testing.T) {
	// No trained weights are checked in (testdata has none, and LeNet's
	// rows of 784, 300 and 100 are not multiples of 256), so the tensor is
	// a synthetic layer.
	const rows, cols = 128, 1024
	w := realisticWeights(rows, cols)
	q0, err := Q4_0(w, cols)
	if err != nil {
		t.Fatal(err)
	}
	y0 := make([]float32, len(w))
	if err := DequantizeQ4_0(y0, q0); err != nil {
		t.Fatal(err)
	}
	qk, yk := q4kRoundTrip(t, w, cols)
	s0, sk := sqnr(w, y0), sqnr(w, yk)
	t.Logf("%d×%d Laplace weights with 0.3%% outliers: Q4_0 %.2f dB (%d bytes), Q4_K %.2f dB (%d bytes)",
		rows, cols, s0, len(q0), sk, len(qk))
	if len(qk) != len(q0) {
		t.Errorf("Q4_K takes %d bytes, Q4_0 %d: both should be 4.5 bits per weight", len(qk), len(q0))
	}
	if sk < s0+1 {
		t.Errorf("Q4_K SQNR %.2f dB is not 1 dB above Q4_0's %.2f dB", sk, s0)
	}
}

func BenchmarkQ4_K(b *testing.B) {
	w := realisticWeights(64, 1024)
	b.SetBytes(int64(4 * len(w)))
	for b.Loop() {
		if _, err := Q4_K(w, 1024); err != nil {
			b.Fatal(err)
		}
	}
}
