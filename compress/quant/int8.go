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

// DequantizeInt8 writes dst_i = float32(q_i) · scale. It panics if
// len(dst) != len(q).
func DequantizeInt8(dst []float32, q []int8, scale float32) {
	if len(dst) != len(q) {
		panic(fmt.Sprintf("quant.DequantizeInt8: %d values for %d codes", len(dst), len(q)))
	}
	for i, c := range q {
		dst[i] = float32(c) * scale
	}
}

// Int8PerChannel quantizes the row-major rows×cols matrix w with one scale
// per row (output channel). It returns the codes (same layout as w) and the
// rows scales; NaN or ±Inf weights are an error. It panics if
// len(w) != rows·cols.
func Int8PerChannel(w []float32, rows, cols int) ([]int8, []float32, error) {
	if rows < 0 || cols < 0 || len(w) != rows*cols {
		panic(fmt.Sprintf("quant.Int8PerChannel: %d weights for a %d×%d matrix", len(w), rows, cols))
	}
	if err := checkFinite(w, 0); err != nil {
		return nil, nil, err
	}
	q := make([]int8, len(w))
	scales := make([]float32, rows)
	for r := range rows {
		row := w[r*cols : (r+1)*cols]
		scales[r] = Int8Scale(row)
		QuantizeInt8(q[r*cols:(r+1)*cols], row, scales[r])
	}
	return q, scales, nil
}

// Int8PerTensor quantizes w with a single scale; NaN or ±Inf weights are
// an error.
func Int8PerTensor(w []float32) ([]int8, float32, error) {
	if err := checkFinite(w, 0); err != nil {
		return nil, 0, err
	}
	q := make([]int8, len(w))
	s := Int8Scale(w)
	QuantizeInt8(q, w, s)
	return q, s, nil
}
