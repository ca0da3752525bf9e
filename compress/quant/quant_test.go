package quant

import (
	"errors"
	"math"
	"slices"
	"testing"
)

func block(vals ...float32) []float32 {
	b := make([]float32, BlockSize)
	copy(b, vals)
	return b
}

func TestQ8_0HandChecked(t *testing.T) {
	tests := []struct {
		name  string
		in    []float32
		d     uint16
		codes []int8 // first codes; the rest are 0
	}{
		{"zeros", block(), 0x0000, nil},
		// d = 1, so codes are roundf(x): halves go away from zero (np.round would give 62, 2, 0).
		{"ties away from zero", block(127, 62.5, -62.5, 2.5, 0.5, -0.5, 1.49), 0x3c00, []int8{127, 63, -63, 3, 1, -1, 1}},
		{"negative max", block(-254, 1, 3), 0x4000, []int8{-127, 1, 2}}, // d = 2: 1/2 → 1, 3/2 → 2
		// d = 2^-20 is an fp16 subnormal (16 units of 2^-24).
		{"subnormal fp16 scale", block(127.0/(1<<20), -63.5/(1<<20)), 0x0010, []int8{127, -64}},
		// d = 1e-10/127 underflows fp16 to 0 but the codes use the float32 d.
		{"scale underflows fp16", block(1e-10, -5e-11), 0x0000, []int8{127, -64}},
		// 1/d overflows float32: numpy's NaN casts give 0 codes on x86-64.
		{"reciprocal overflows", block(1e-38, -5e-39), 0x0000, nil},
		{"largest finite scale", block(65504*127, 65504), 0x7bff, []int8{127, 1}},
	}
	for _, tt := range tests {
		got, err := Q8_0(tt.in, BlockSize)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		want := make([]byte, Q8_0BlockBytes)
		want[0], want[1] = byte(tt.d), byte(tt.d>>8)
		for j, c := range tt.codes {
			want[2+j] = byte(c)
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s:\n got % x\nwant % x", tt.name, got, want)
		}
	}
}

func TestQ4_0HandChecked(t *testing.T) {
	tests := []struct {
		name  string
		in    []float32
		d     uint16
		codes []byte // all 32 nibbles before packing; nil means all 8
	}{
		// d = −8/−8 = 1: q = trunc(x + 8.5), clipped to 15.
		{"negative max", block(-8, 7, 7.6, 0, -0.5, -0.51, 0.5, -7.9), 0x3c00,
			append([]byte{0, 15, 15, 8, 8, 7, 9, 0}, slices.Repeat([]byte{8}, 24)...)},
		// d = 4/−8 = −0.5: q = trunc(−2x + 8.5).
		{"positive max", block(4, -4, 1), 0xb800,
			append([]byte{0, 15, 6}, slices.Repeat([]byte{8}, 29)...)},
		// All zeros: argmax is element 0 (+0), d = 0/−8 = −0, id = 0, q = 8.
		{"zeros", block(), 0x8000, slices.Repeat([]byte{8}, 32)},
		// 1/d overflows: numpy's NaN casts give 0 codes on x86-64.
		{"reciprocal overflows", block(1e-38), 0x8000, make([]byte, 32)},
		{"first of equal magnitudes wins", block(-2, 2), 0x3400,
			append([]byte{0, 16 - 1}, slices.Repeat([]byte{8}, 30)...)},
	}
	for _, tt := range tests {
		got, err := Q4_0(tt.in, BlockSize)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		want := make([]byte, Q4_0BlockBytes)
		want[0], want[1] = byte(tt.d), byte(tt.d>>8)
		for j := range 16 {
			want[2+j] = tt.codes[j] | tt.codes[j+16]<<4
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s:\n got % x\nwant % x", tt.name, got, want)
		}
	}
}

func TestBlockErrors(t *testing.T) {
	nan := block()
	nan[5] = float32(math.NaN())
	inf := block()
	inf[7] = float32(math.Inf(1))
	tests := []struct {
		name   string
		in     []float32
		rowLen int
		is     error // nil: any error
	}{
		{"row of 48", make([]float32, 96), 48, ErrRowLength},
		{"NaN", nan, 32, nil},
		{"Inf", inf, 32, nil},
		{"scale overflows fp16", block(1e7), 32, ErrScaleOverflow},
	}
	for _, tt := range tests {
		for name, f := range map[string]func([]float32, int) ([]byte, error){"Q8_0": Q8_0, "Q4_0": Q4_0} {
			in := tt.in
			if tt.name == "scale overflows fp16" && name == "Q4_0" {
				in = block(1e6) // 1e6/8 > 65504 (1e6/127 would fit, so Q8_0 keeps 1e7)
			}
			_, err := f(in, tt.rowLen)
			if err == nil || tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("%s %s: err = %v, want %v", name, tt.name, err, tt.is)
			}
		}
	}
}

func TestDequantizeBlocks(t *testing.T) {
	w := make([]float32, 64)
	for i := range w {
		w[i] = float32(math.Sin(float64(i))) * 3
	}
	for _, tt := range []struct {
		name  string
		quant func([]float32, int) ([]byte, error)
		deq   func([]float32, []byte) error
		tol   float64 // relative to max|x| of the block
	}{
		{"Q8_0", Q8_0, DequantizeQ8_0, 0.5/127 + 1e-3},
		{"Q4_0", Q4_0, DequantizeQ4_0, 1.0/8 + 1e-3},
	} {
		data, err := tt.quant(w, 64)
		if err != nil {
			t.Fatal(err)
		}
		got := make([]float32, len(w))
		if err := tt.deq(got, data); err != nil {
			t.Fatal(err)
		}
		for i := range w {
			if d := math.Abs(float64(got[i] - w[i])); d > tt.tol*3 {
				t.Errorf("%s: x[%d] = %g dequantized to %g", tt.name, i, w[i], got[i])
			}
		}
		if err := tt.deq(got, data[:len(data)-1]); err == nil {
			t.Errorf("%s: truncated payload accepted", tt.name)
		}
	}
}

func TestInt8(t *testing.T) {
	w := []float32{127, 63.5, -0.5, 2.5, 0, 0, 0, 0, 1, -2, 4, 0.5}
	scales := []float32{Int8Scale(w[:4]), Int8Scale(w[4:8]), Int8Scale(w[8:])}
	q := make([]int8, len(w))
	QuantizeInt8Rows(q, w, scales)
	wantQ := []int8{127, 64, -1, 3, 0, 0, 0, 0, 32, -64, 127, 16}
	wantS := []float32{1, 0, 4.0 / 127}
	if !slices.Equal(q, wantQ) || !slices.Equal(scales, wantS) {
		t.Errorf("per-row int8 = %v %v, want %v %v", q, scales, wantQ, wantS)
	}
	qt := make([]int8, len(w))
	s := Int8Scale(w)
	QuantizeInt8Rows(qt, w, []float32{s})
	if s != 1 || qt[8] != 1 || qt[9] != -2 || qt[11] != 1 {
		t.Errorf("per-tensor int8 = %v %g", qt, s)
	}
	for i, x := range w[8:] {
		if got := float32(q[8+i]) * scales[2]; math.Abs(float64(got-x)) > float64(scales[2])/2 {
			t.Errorf("dequantized %g to %g (scale %g)", x, got, scales[2])
		}
	}
	// A scale smaller than max|x|/127 clamps.
	clamped := make([]int8, 2)
	QuantizeInt8(clamped, []float32{10, -10}, 0.01)
	if clamped[0] != 127 || clamped[1] != -127 {
		t.Errorf("clamp: %v", clamped)
	}
}
