package accel

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// The two int8 products GemmInt8 did not keep, measured against it by
// BenchmarkInt8Kernels on LeNet's first layer (1024 rows, 784 → 300).

// gemmInt8Int32 quantizes each row of X to int8 (scale max|x|/127) and
// accumulates int32 products: C[i,j] = sx_i·s_j·Σ_l xq[i,l]·q[j,l].
func gemmInt8Int32(m int, x []float32, ldx int, h *hostInt8, c []float32, ldc int) {
	n, k := h.rows, h.cols
	parallelRows(m, 1, m*n*k, func(lo, hi int) {
		xq := make([]int8, k)
		for i := lo; i < hi; i++ {
			row := x[i*ldx : i*ldx+k]
			var mx float32
			for _, v := range row {
				mx = max(mx, float32(math.Abs(float64(v))))
			}
			sx, inv := mx/127, float32(0)
			if mx > 0 {
				inv = 127 / mx
			}
			for l, v := range row {
				xq[l] = int8(math.Round(float64(v * inv)))
			}
			for j := range n {
				q := h.q[j*k : j*k+k]
				var a0, a1, a2, a3 int32
				l := 0
				for ; l+4 <= k; l += 4 {
					q4, x4 := q[l:l+4:l+4], xq[l:l+4:l+4] // one bounds check
					a0 += int32(x4[0]) * int32(q4[0])
					a1 += int32(x4[1]) * int32(q4[1])
					a2 += int32(x4[2]) * int32(q4[2])
					a3 += int32(x4[3]) * int32(q4[3])
				}
				for ; l < k; l++ {
					a0 += int32(xq[l]) * int32(q[l])
				}
				c[i*ldc+j] = float32(a0+a1+a2+a3) * sx * h.scales[j]
			}
		}
	})
}

// gemmInt8Fused converts each code to float32 inside a scalar dot product.
func gemmInt8Fused(m int, x []float32, ldx int, h *hostInt8, c []float32, ldc int) {
	n, k := h.rows, h.cols
	parallelRows(m, 1, m*n*k, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			row := x[i*ldx : i*ldx+k]
			for j := range n {
				q := h.q[j*k : j*k+k]
				var s0, s1, s2, s3 float32
				l := 0
				for ; l+4 <= k; l += 4 {
					q4, x4 := q[l:l+4:l+4], row[l:l+4:l+4]
					s0 += x4[0] * float32(q4[0])
					s1 += x4[1] * float32(q4[1])
					s2 += x4[2] * float32(q4[2])
					s3 += x4[3] * float32(q4[3])
				}
				for ; l < k; l++ {
					s0 += row[l] * float32(q[l])
				}
				c[i*ldc+j] = (s0 + s1 + s2 + s3) * h.scales[j]
			}
		}
	})
}

func lenetInt8(r *rand.Rand) (x []float32, h *hostInt8) {
	const m, n, k = 1024, 300, 784
	x = make([]float32, m*k)
	for i := range x {
		x[i] = float32(r.Float64()) // like MNIST pixels in [0, 1]
	}
	q, scales := make([]int8, n*k), make([]float32, n)
	for i := range q {
		q[i] = int8(r.IntN(255) - 127)
	}
	for j := range scales {
		scales[j] = 0.05 / 127
	}
	return x, NewGo().UploadInt8(n, k, q, scales).(*hostInt8)
}

// The alternatives agree with GemmInt8 (the int32 one only to within X's
// quantization error), so the benchmark compares like with like.
func TestInt8Alternatives(t *testing.T) {
	x, h := lenetInt8(rand.New(rand.NewPCG(1, 2)))
	m, n, k := len(x)/h.cols, h.rows, h.cols
	be := NewGo()
	want := make([]float32, m*n)
	xb, cb := &hostBuf{s: x}, &hostBuf{s: want}
	be.GemmInt8(m, xb, k, h, 0, cb, n)
	for _, alt := range []struct {
		name string
		fn   func(int, []float32, int, *hostInt8, []float32, int)
		tol  float64
	}{{"int32", gemmInt8Int32, 1e-2}, {"fused", gemmInt8Fused, 1e-5}} {
		got := make([]float32, m*n)
		alt.fn(m, x, k, h, got, n)
		var worst float64
		for i := range got {
			worst = max(worst, math.Abs(float64(got[i]-want[i]))/(1+math.Abs(float64(want[i]))))
		}
		if worst > alt.tol {
			t.Errorf("%s: worst relative difference from GemmInt8 %.3g > %.3g", alt.name, worst, alt.tol)
		}
		t.Logf("%s: worst relative difference from GemmInt8 %.3g", alt.name, worst)
	}
}

func BenchmarkInt8Kernels(b *testing.B) {
	x, h := lenetInt8(rand.New(rand.NewPCG(1, 2)))
	m, n, k := len(x)/h.cols, h.rows, h.cols
	c := make([]float32, m*n)
	macs := float64(m * n * k)
	b.Run("dequant-sdot", func(b *testing.B) {
		be := NewGo()
		xb, cb := &hostBuf{s: x}, &hostBuf{s: c}
		for b.Loop() {
			be.GemmInt8(m, xb, k, h, 0, cb, n)
		}
		b.ReportMetric(macs*float64(b.N)/b.Elapsed().Seconds()/1e9, "GMAC/s")
	})
	b.Run("int32", func(b *testing.B) {
		for b.Loop() {
			gemmInt8Int32(m, x, k, h, c, n)
		}
		b.ReportMetric(macs*float64(b.N)/b.Elapsed().Seconds()/1e9, "GMAC/s")
	})
	b.Run("fused", func(b *testing.B) {
		for b.Loop() {
			gemmInt8Fused(m, x, k, h, c, n)
		}
		b.ReportMetric(macs*float64(b.N)/b.Elapsed().Seconds()/1e9, "GMAC/s")
	})
}

// BenchmarkLeNetFC1 times one batch of LeNet's first layer (1024 rows,
// 784 → 300) as a dense Gemm and as GemmCSR at 10% and 5% density.
func BenchmarkLeNetFC1(b *testing.B) {
	const m, n, k = 1024, 300, 784
	r := rand.New(rand.NewPCG(3, 4))
	x, w := make([]float32, m*k), make([]float32, n*k)
	for i := range x {
		x[i] = float32(r.Float64())
	}
	for i := range w {
		w[i] = float32(r.NormFloat64())
	}
	be := NewGo()
	xb, wb, cb := &hostBuf{s: x}, &hostBuf{s: w}, &hostBuf{s: make([]float32, m*n)}
	b.Run("dense", func(b *testing.B) {
		for b.Loop() {
			be.Gemm(false, true, m, n, k, 1, xb, k, wb, k, 0, cb, n)
		}
	})
	for _, density := range []float64{0.1, 0.05} {
		rowPtr, colIdx, values := []int32{0}, []int32(nil), []float32(nil)
		for j := range n {
			for l := range k {
				if r.Float64() < density {
					colIdx, values = append(colIdx, int32(l)), append(values, w[j*k+l])
				}
			}
			rowPtr = append(rowPtr, int32(len(values)))
		}
		a := be.UploadCSR(n, k, rowPtr, colIdx, values)
		b.Run(fmt.Sprintf("csr-%g%%", 100*density), func(b *testing.B) {
			for b.Loop() {
				be.GemmCSR(m, xb, k, a, 0, cb, n)
			}
		})
	}
}
