package half

import (
	"math"
	"testing"
)

func TestF32ToF16(t *testing.T) {
	p := func(e int) float32 { return float32(math.Ldexp(1, e)) }
	tests := []struct {
		name string
		in   float32
		want uint16
	}{
		{"zero", 0, 0x0000},
		{"negative zero", float32(math.Copysign(0, -1)), 0x8000},
		{"one", 1, 0x3c00},
		{"minus two", -2, 0xc000},
		{"0.1", 0.1, 0x2e66},
		{"largest half", 65504, 0x7bff},
		{"just below the overflow tie", 65519.996, 0x7bff},
		{"overflow tie rounds to even, Inf", 65520, 0x7c00},
		{"huge", 1e10, 0x7c00},
		{"-Inf", float32(math.Inf(-1)), 0xfc00},
		{"smallest normal", p(-14), 0x0400},
		{"smallest subnormal", p(-24), 0x0001},
		{"half the smallest subnormal ties to 0", p(-25), 0x0000},
		{"just above half the smallest subnormal", math.Nextafter32(p(-25), 1), 0x0001},
		{"1.5 subnormal units ties to 2", 3 * p(-25), 0x0002},
		{"2.5 subnormal units ties to 2", 5 * p(-25), 0x0002},
		{"subnormal rounds up into normal", p(-14) - p(-26), 0x0400},
		{"float32 subnormal", 1e-40, 0x0000},
		{"1 + half ulp ties to 1", 1 + p(-11), 0x3c00},
		{"1 + 3 half ulps ties to 1+2ulp", 1 + 3*p(-11), 0x3c02},
		{"1 + half ulp + tiny rounds up", math.Nextafter32(1+p(-11), 2), 0x3c01},
	}
	for _, tt := range tests {
		if got := F32ToF16(tt.in); got != tt.want {
			t.Errorf("%s: F32ToF16(%g) = %#04x, want %#04x", tt.name, tt.in, got, tt.want)
		}
	}
	if h := F32ToF16(float32(math.NaN())); h&0x7c00 != 0x7c00 || h&0x3ff == 0 {
		t.Errorf("F32ToF16(NaN) = %#04x, not a NaN", h)
	}
}

// TestF16RoundTripAndMidpoints checks every finite half: it converts to
// float32 and back unchanged, and the float32 midpoint between it and its
// successor rounds to the even one of the two (one ulp either side rounds
// to the nearer).
func TestF16RoundTripAndMidpoints(t *testing.T) {
	for h := range 0x10000 {
		h := uint16(h)
		if h&0x7c00 == 0x7c00 {
			isInf, isNaN := math.IsInf(float64(F16ToF32(h)), 0), math.IsNaN(float64(F16ToF32(h)))
			if h&0x3ff == 0 && !isInf || h&0x3ff != 0 && !isNaN {
				t.Errorf("F16ToF32(%#04x) = %g, want Inf or NaN", h, F16ToF32(h))
			}
			continue
		}
		f := F16ToF32(h)
		if got := F32ToF16(f); got != h {
			t.Fatalf("F32ToF16(F16ToF32(%#04x) = %g) = %#04x", h, f, got)
		}
		if h&0x7fff == 0x7bff {
			continue
		}
		next := h + 1
		mid := (f + F16ToF32(next)) / 2 // exact: halves have 11 significant bits
		even := h
		if h&1 == 1 {
			even = next
		}
		if got := F32ToF16(mid); got != even {
			t.Fatalf("midpoint %g of %#04x and %#04x: got %#04x, want %#04x", mid, h, next, got, even)
		}
		up, down := math.Nextafter32(mid, F16ToF32(next)), math.Nextafter32(mid, f)
		if got := F32ToF16(up); got != next {
			t.Fatalf("just past midpoint %g toward %#04x: got %#04x", up, next, got)
		}
		if got := F32ToF16(down); got != h {
			t.Fatalf("just before midpoint %g toward %#04x: got %#04x", down, h, got)
		}
	}
}
