package quant

import (
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/lightbeam-ml/lightbeam/internal/half"
)

// q5Block returns the Q5_0 payload after d (or Q5_1's after d and m) for
// 32 five-bit codes: qh, then the low nibbles.
func q5Block(codes []byte) []byte {
	var q [BlockSize]byte
	copy(q[:], codes)
	o := make([]byte, 4+BlockSize/2)
	packQ5(o, &q)
	return o
}

func TestQ5_0HandChecked(t *testing.T) {
	rep := func(n int, c byte) []byte { return slices.Repeat([]byte{c}, n) }
	tests := []struct {
		name  string
		in    []float32
		d     uint16
		codes []byte // all 32 codes
	}{
		// d = −16/−16 = 1: q = trunc(x + 16.5), clipped to 31.
		{"negative max", block(-16, 15, 15.6, 0, -0.5, -0.51, 0.5, -15.9), 0x3c00,
			append([]byte{0, 31, 31, 16, 16, 15, 17, 0}, rep(24, 16)...)},
		// d = 8/−16 = −0.5: q = trunc(−2x + 16.5).
		{"positive max", block(8, -8, 1), 0xb800, append([]byte{0, 31, 14}, rep(29, 16)...)},
		// All zeros: argmax is element 0 (+0), d = 0/−16 = −0, id = 0, q = 16.
		{"zeros", block(), 0x8000, rep(32, 16)},
		// 1/d overflows: numpy's NaN casts give 0 codes on x86-64.
		{"reciprocal overflows", block(1e-38), 0x8000, rep(32, 0)},
		{"first of equal magnitudes wins", block(-2, 2), 0x3000, append([]byte{0, 31}, rep(30, 16)...)},
	}
	for _, tt := range tests {
		got, err := Q5_0(tt.in, BlockSize)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		want := append([]byte{byte(tt.d), byte(tt.d >> 8)}, q5Block(tt.codes)...)
		if !slices.Equal(got, want) {
			t.Errorf("%s:\n got % x\nwant % x", tt.name, got, want)
		}
	}
}

func TestQ5_1HandChecked(t *testing.T) {
	negZero := float32(math.Copysign(0, -1))
	ramp := func(lo, step float32) []float32 {
		b := block()
		for j := range b {
			b[j] = lo + step*float32(j%32)
		}
		return b
	}
	ties := ramp(0, 1)
	ties[5], ties[6], ties[7] = 2.5, 2.49, 30.5 // (x − 0)·1 + 0.5: 3, 2, 31
	lastNegZero := block()
	lastNegZero[31] = negZero
	tests := []struct {
		name  string
		in    []float32
		d, m  uint16
		codes []byte
	}{
		// lo = 0, hi = 31: d = 1 and q = x.
		{"ramp", ramp(0, 1), 0x3c00, 0x0000, nil},
		{"ramp from −1", ramp(-1, 1), 0x3c00, 0xbc00, nil},
		{"ties round up", ties, 0x3c00, 0x0000,
			append(append([]byte{0, 1, 2, 3, 4, 3, 2, 31}, seq(8, 31)...), 31)},
		{"zeros", block(), 0, 0, make([]byte, 32)},
		// numpy's AVX-512 min: the lane holding x[1:17] wins ties over the
		// broadcast x[0], and the scalar tail's last zero wins over both.
		{"−0 first", block(negZero), 0x0000, 0x0000, make([]byte, 32)},
		{"−0 last", lastNegZero, 0x0000, 0x8000, make([]byte, 32)},
		// 1/d = 31/1e-39 overflows float32: codes 0, m = lo.
		{"reciprocal overflows", block(1e-39, 0), 0x0000, 0x0000, make([]byte, 32)},
	}
	for _, tt := range tests {
		got, err := Q5_1(tt.in, BlockSize)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		codes := tt.codes
		if codes == nil {
			codes = seq(0, 32)
		}
		want := append([]byte{byte(tt.d), byte(tt.d >> 8), byte(tt.m), byte(tt.m >> 8)}, q5Block(codes)...)
		if !slices.Equal(got, want) {
			t.Errorf("%s:\n got % x\nwant % x", tt.name, got, want)
		}
	}
}

// seq returns the bytes a, a+1, … b−1.
func seq(a, b int) []byte {
	var s []byte
	for i := a; i < b; i++ {
		s = append(s, byte(i))
	}
	return s
}

func TestNumpyReduce32(t *testing.T) {
	negZero := float32(math.Copysign(0, -1))
	less := func(a, b float32) bool { return a < b }
	// One +0 and one −0 among ones; numpy 2.4 on AVX-512 gives these signs.
	for _, tt := range []struct {
		pos, neg int // where +0 and −0 are
		wantNeg  bool
	}{
		{0, 4, true},   // lane 3 (x[4]) wins the fold of the 16 lanes
		{0, 1, false},  // lane 0 (x[1]) loses it
		{5, 0, true},   // x[0] = −0 broadcast to every lane but x[5]'s
		{0, 17, true},  // the scalar tail (x[17:]) comes last
		{17, 5, false}, // … whichever sign it has
		{18, 17, false},
		{17, 18, true}, // and its last zero wins
	} {
		x := slices.Repeat([]float32{1}, BlockSize)
		x[tt.pos], x[tt.neg] = 0, negZero
		if got := numpyReduce32(x, less); got != 0 || math.Signbit(float64(got)) != tt.wantNeg {
			t.Errorf("+0 at %d, −0 at %d: min = %g (negative: %v)", tt.pos, tt.neg, got, math.Signbit(float64(got)))
		}
		for i := range x {
			x[i] = -x[i]
		}
		x[tt.pos], x[tt.neg] = 0, negZero
		if got := numpyReduce32(x, func(a, b float32) bool { return a > b }); got != 0 || math.Signbit(float64(got)) != tt.wantNeg {
			t.Errorf("+0 at %d, −0 at %d among −1s: max = %g", tt.pos, tt.neg, got)
		}
	}
	// Away from zeros it is the plain min and max.
	rng := rand.New(rand.NewPCG(4, 4))
	for range 1000 {
		x := make([]float32, BlockSize)
		for i := range x {
			x[i] = float32(rng.NormFloat64())
		}
		if got, want := numpyReduce32(x, less), slices.Min(x); got != want {
			t.Fatalf("min %g, want %g", got, want)
		}
		if got, want := numpyReduce32(x, func(a, b float32) bool { return a > b }), slices.Max(x); got != want {
			t.Fatalf("max %g, want %g", got, want)
		}
	}
}

func TestQ5BlockErrors(t *testing.T) {
	nan := block()
	nan[5] = float32(math.NaN())
	inf := block()
	inf[7] = float32(math.Inf(-1))
	for name, f := range map[string]func([]float32, int) ([]byte, error){"Q5_0": Q5_0, "Q5_1": Q5_1} {
		for _, tt := range []struct {
			name   string
			in     []float32
			rowLen int
			is     error
		}{
			{"row of 48", make([]float32, 96), 48, ErrRowLength},
			{"NaN", nan, 32, nil},
			{"Inf", inf, 32, nil},
			{"scale overflows fp16", block(3e6), 32, ErrScaleOverflow}, // 3e6/16 and 3e6/31 > 65504
		} {
			if _, err := f(tt.in, tt.rowLen); err == nil || tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("%s %s: err = %v, want %v", name, tt.name, err, tt.is)
			}
		}
	}
	// Q5_1 stores the min itself in fp16.
	if _, err := Q5_1(block(-65520, 1), 32); !errors.Is(err, ErrScaleOverflow) {
		t.Errorf("Q5_1 with min −65520: err = %v", err)
	}
	if _, err := Q5_1(block(-65504, 1), 32); err != nil {
		t.Errorf("Q5_1 with min −65504: %v", err)
	}
}

// TestQ5RoundTrip bounds the round-trip error of Q5_0 and Q5_1 on random
// blocks: half a step plus the fp16 rounding of d (and m), where a step is
// d = max|x|/16 (Q5_0) or (hi − lo)/31 (Q5_1); Q5_0's largest positive
// code is 15 steps, so +max|x| can be one step off. It also checks that
// the error measured by the Into functions is that of the decoded bytes.
func TestQ5RoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 5))
	x := make([]float32, 64*BlockSize)
	for i := range x {
		x[i] = float32(rng.NormFloat64() * math.Pow(10, float64(i/BlockSize%6-3)))
		if i%97 == 0 {
			x[i] *= 20
		}
	}
	for _, tt := range []struct {
		name    string
		into    func([]byte, []float32, *Error) error
		dequant func([]float32, []byte) error
		size    int
		bound   func(b []float32) float64
	}{
		{"Q5_0", Q5_0Into, DequantizeQ5_0, Q5_0BlockBytes, func(b []float32) float64 {
			return float64(maxAbs(b)) / 16 * (1 + 1e-3)
		}},
		{"Q5_1", Q5_1Into, DequantizeQ5_1, Q5_1BlockBytes, func(b []float32) float64 {
			lo, hi := slices.Min(b), slices.Max(b)
			return float64(hi-lo)/62*(1+1e-2) + math.Abs(float64(lo))/2048
		}},
	} {
		data := make([]byte, len(x)/BlockSize*tt.size)
		var e Error
		if err := tt.into(data, x, &e); err != nil {
			t.Fatal(err)
		}
		y := make([]float32, len(x))
		if err := tt.dequant(y, data); err != nil {
			t.Fatal(err)
		}
		var want Error
		for i := range x {
			want.Observe(x[i], y[i])
		}
		if math.Abs(e.Noise-want.Noise) > 1e-6*want.Noise || e.MaxAbs != want.MaxAbs {
			t.Errorf("%s: measured %+v, decoding gives %+v", tt.name, e, want)
		}
		for b := 0; b < len(x); b += BlockSize {
			bound := tt.bound(x[b : b+BlockSize])
			for i := b; i < b+BlockSize; i++ {
				if d := math.Abs(float64(y[i] - x[i])); d > bound {
					t.Errorf("%s: x[%d] = %g dequantized to %g (bound %g)", tt.name, i, x[i], y[i], bound)
				}
			}
		}
		t.Logf("%s: SQNR %.2f dB", tt.name, 10*math.Log10(want.Signal/want.Noise))
		if err := tt.dequant(y, data[:len(data)-1]); err == nil {
			t.Errorf("%s: truncated payload accepted", tt.name)
		}
	}
}

func TestDequantizeQ4_1(t *testing.T) {
	// d = 0.5, m = −2: x = 0.5·q − 2, q_j in the low nibble of byte j and
	// q_{j+16} in its high nibble.
	b := make([]byte, Q4_1BlockBytes)
	d, m := half.F32ToF16(0.5), half.F32ToF16(-2)
	b[0], b[1], b[2], b[3] = byte(d), byte(d>>8), byte(m), byte(m>>8)
	for j := range 16 {
		b[4+j] = byte(j) | byte(15-j)<<4
	}
	y := make([]float32, BlockSize)
	if err := DequantizeQ4_1(y, b); err != nil {
		t.Fatal(err)
	}
	for j := range 16 {
		if y[j] != 0.5*float32(j)-2 || y[j+16] != 0.5*float32(15-j)-2 {
			t.Fatalf("y = %v", y)
		}
	}
	if err := DequantizeQ4_1(y, b[:19]); err == nil {
		t.Error("truncated payload accepted")
	}
}
