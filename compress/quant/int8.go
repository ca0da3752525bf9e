package quant

import (
	"fmt"
	"math"
)

// checkFinite returns an error naming the first NaN or ±Inf in w, whose
// first value is weight base.
func checkFinite(w []float32, base int) error {
	for i, x := range w {
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			return fmt.Errorf("quant: weight %d is %v", base+i, x)
		}
	}
	return nil
}

func maxAbs(w []float32) float32 {
	var m float32
	for _, x := range w {
		if x < 0 {
			x = -x
		}
		if x > m {
			m = x
		}
	}
	return m
}

// Int8Scale returns the symmetric int8 scale of w, max|w| / 127, computed
// in float32. It is 0 when w is empty or all zero.
func Int8Scale(w []float32) float32 { return maxAbs(w) / 127 }

// QuantizeInt8 writes q_i = clamp(round(w_i / scale), −127, 127) to dst,
// rounding halves away from zero. A zero scale gives all-zero codes. It
// panics if len(dst) != len(w).
func QuantizeInt8(dst []int8, w []float32, scale float32) {
	if len(dst) != len(w) {
		panic(fmt.Sprintf("quant.QuantizeInt8: %d codes for %d weights", len(dst), len(w)))
	}
	if scale == 0 {
		clear(dst)
		return
	}
	for i, x := range w {
		v := math.Round(float64(x / scale))
		dst[i] = int8(max(-127, min(127, v)))
	}
}

// QuantizeInt8Rows quantizes w as len(scales) rows of equal length, row
// r with scales[r] (QuantizeInt8), writing the codes to dst: one scale per
// row (output channel), or one for the tensor. It panics if
// len(dst) != len(w) or the rows do not divide w.
func QuantizeInt8Rows(dst []int8, w []float32, scales []float32) {
	if len(dst) != len(w) || len(scales) == 0 && len(w) != 0 || len(scales) != 0 && len(w)%len(scales) != 0 {
		panic(fmt.Sprintf("quant.QuantizeInt8Rows: %d codes for %d weights in %d rows", len(dst), len(w), len(scales)))
	}
	if len(scales) == 0 {
		return
	}
	cols := len(w) / len(scales)
	for r, s := range scales {
		QuantizeInt8(dst[r*cols:(r+1)*cols], w[r*cols:(r+1)*cols], s)
	}
}
