package formats

import (
	"math"
	"math/rand/v2"
	"strconv"
	"testing"
)

// checkFloat32 asserts that parseFloat32 agrees with strconv on s: the same
// bits for a finite value, a refusal otherwise.
func checkFloat32(t *testing.T, s string) {
	t.Helper()
	got, st := parseFloat32([]byte(s))
	want, err := strconv.ParseFloat(s, 32)
	finite := err == nil && !math.IsNaN(want) && !math.IsInf(want, 0)
	if finite != (st == numOK) {
		t.Fatalf("parseFloat32(%q) status %d; strconv gives %v, %v", s, st, want, err)
	}
	if finite && math.Float32bits(got) != math.Float32bits(float32(want)) {
		t.Fatalf("parseFloat32(%q) = %v (%#x), strconv gives %v (%#x)", s, got, math.Float32bits(got), float32(want), math.Float32bits(float32(want)))
	}
}

func TestParseFloat32(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want float32
		st   numStatus
	}{
		{"0", 0, numOK},
		{"-0", float32(math.Copysign(0, -1)), numOK},
		{"1.5", 1.5, numOK},
		{"+2.25", 2.25, numOK},
		{".5", 0.5, numOK},
		{"5.", 5, numOK},
		{"16777217", 16777216, numOK}, // 2^24+1 rounds to even
		{"0.1", 0.1, numOK},
		{"3.4028235e38", math.MaxFloat32, numOK},
		{"1e-50", 0, numOK}, // underflow is not an error for strconv either
		{"1e39", 0, numOverflow},
		{"NaN", 0, numNaN},
		{"nan", 0, numNaN},
		{"Inf", 0, numInf},
		{"-infinity", 0, numInf},
		{"", 0, numSyntax},
		{".", 0, numSyntax},
		{"-", 0, numSyntax},
		{"1.2.3", 0, numSyntax},
		{"1e", 0, numSyntax},
		{" 1", 0, numSyntax},
		{"abc", 0, numSyntax},
	} {
		got, st := parseFloat32([]byte(tc.in))
		if st != tc.st || (st == numOK && math.Float32bits(got) != math.Float32bits(tc.want)) {
			t.Errorf("parseFloat32(%q) = %v, status %d; want %v, status %d", tc.in, got, st, tc.want, tc.st)
		}
		checkFloat32(t, tc.in)
	}
}

// TestParseFloat32Random compares with strconv on many decimals near the
// fast path's limits (2^24 mantissas, 10 fractional digits).
func TestParseFloat32Random(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for range 200000 {
		m := rng.Uint64N(1 << 25)
		s := strconv.FormatUint(m, 10)
		if k := rng.IntN(len(s) + 2); k <= len(s) {
			s = s[:k] + "." + s[k:]
		}
		if rng.IntN(2) == 0 {
			s = "-" + s
		}
		checkFloat32(t, s)
	}
}

func FuzzParseFloat32(f *testing.F) {
	for _, s := range []string{"0", "-1.5", "16777217", "0.000001", "1e10", "0x1p-3", "inf", "1_000", ".5"} {
		f.Add(s)
	}
	f.Fuzz(checkFloat32)
}
