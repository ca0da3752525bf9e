package acceltest

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/lightbeam-ml/lightbeam/accel"
)

// xatCase is one C = X·Aᵀ + beta·C problem: X m×k, A n×k.
type xatCase struct {
	name    string
	m, n, k int
	density float64 // of A's stored entries
	single  bool    // exactly one stored entry
}

var xatCases = []xatCase{
	{"1×1", 1, 1, 1, 1, false},
	{"odd", 7, 13, 5, 0.4, false},
	{"all zero", 5, 4, 6, 0, false},
	{"single non-zero", 9, 17, 33, 0, true},
	{"tile remainder", 33, 70, 200, 0.1, false},
	{"LeNet fc1 at 10%", 130, 300, 784, 0.1, false},
	{"no rows of X", 0, 5, 3, 0.5, false},
	{"no rows of A", 3, 0, 4, 0.5, false},
	{"no columns", 4, 3, 0, 0.5, false},
}

// randomCSR returns an n×k matrix in CSR form with the case's density.
// Row 0 and the last row are always empty when there are more than two.
func randomCSR(r *rand.Rand, c xatCase) (rowPtr, colIdx []int32, values []float32) {
	rowPtr = make([]int32, c.n+1)
	at := -1
	if c.single {
		at = r.IntN(c.n * c.k)
	}
	for j := range c.n {
		for l := range c.k {
			keep := j*c.k+l == at || r.Float64() < c.density
			if keep && !(c.n > 2 && (j == 0 || j == c.n-1) && !c.single) {
				colIdx = append(colIdx, int32(l))
				values = append(values, float32(r.NormFloat64()))
			}
		}
		rowPtr[j+1] = int32(len(values))
	}
	return rowPtr, colIdx, values
}

func testGemmCSR(t *testing.T, b accel.Backend) {
	r := rand.New(rand.NewPCG(21, 22))
	for _, c := range xatCases {
		rowPtr, colIdx, values := randomCSR(r, c)
		a := b.UploadCSR(c.n, c.k, rowPtr, colIdx, values)
		if a.Rows() != c.n || a.Cols() != c.k {
			t.Fatalf("UploadCSR(%d×%d) has shape %d×%d", c.n, c.k, a.Rows(), a.Cols())
		}
		if want := 4 * (c.n + 1 + 2*len(values)); a.Bytes() != want {
			t.Fatalf("UploadCSR(%d×%d, %d entries).Bytes() = %d, want %d", c.n, c.k, len(values), a.Bytes(), want)
		}
		dense := make([]float64, c.n*c.k)
		for j := range c.n {
			for p := rowPtr[j]; p < rowPtr[j+1]; p++ {
				dense[j*c.k+int(colIdx[p])] = float64(values[p])
			}
		}
		checkXAt(t, b, r, "GemmCSR("+c.name+")", c, a, b.GemmCSR, dense)
		b.FreeMatrix(a)
	}
}

func testGemmInt8(t *testing.T, b accel.Backend) {
	r := rand.New(rand.NewPCG(23, 24))
	for _, c := range xatCases {
		q := make([]int8, c.n*c.k)
		scales := make([]float32, c.n)
		for j := range c.n {
			scales[j] = float32(r.Float64()+0.1) / 127
			if c.density == 0 && !c.single {
				scales[j] = 0 // an all-zero tensor quantizes to scale 0
			}
		}
		rowPtr, colIdx, _ := randomCSR(r, c)
		for j := range c.n {
			for p := rowPtr[j]; p < rowPtr[j+1]; p++ {
				q[j*c.k+int(colIdx[p])] = int8(r.IntN(255) - 127)
			}
		}
		a := b.UploadInt8(c.n, c.k, q, scales)
		if a.Rows() != c.n || a.Cols() != c.k {
			t.Fatalf("UploadInt8(%d×%d) has shape %d×%d", c.n, c.k, a.Rows(), a.Cols())
		}
		if want := c.n*c.k + 4*c.n; a.Bytes() != want {
			t.Fatalf("UploadInt8(%d×%d).Bytes() = %d, want %d", c.n, c.k, a.Bytes(), want)
		}
		dense := make([]float64, c.n*c.k)
		for i, v := range q {
			dense[i] = float64(v) * float64(scales[i/c.k])
		}
		checkXAt(t, b, r, "GemmInt8("+c.name+")", c, a, b.GemmInt8, dense)
		b.FreeMatrix(a)
	}
}

type xatFunc func(m int, x accel.Buf, ldx int, a accel.Matrix, beta float32, c accel.Buf, ldc int)

// checkXAt runs gemm on the case with tight and wide strides and beta 0
// (C filled with NaN, which must not survive) and 1, against the float64
// reference Σ_l X[i,l]·A[j,l], A being dense (n×k).
func checkXAt(t *testing.T, b accel.Backend, r *rand.Rand, what string, c xatCase, a accel.Matrix, gemm xatFunc, dense []float64) {
	t.Helper()
	for _, wide := range []bool{false, true} {
		for _, beta := range []float32{0, 1} {
			ldx, ldc := max(c.k, 1), max(c.n, 1)
			if wide {
				ldx, ldc = c.k+1+r.IntN(3), c.n+1+r.IntN(3)
			}
			name := fmt.Sprintf("%s m=%d n=%d k=%d ldx=%d ldc=%d beta=%g", what, c.m, c.n, c.k, ldx, ldc, beta)
			x, cm := random(r, c.m*ldx), random(r, c.m*ldc)
			if beta == 0 {
				for i := range cm {
					if i%ldc < c.n {
						cm[i] = float32(math.NaN())
					}
				}
			}
			px, pc := newPadded(b, r, x), newPadded(b, r, cm)
			gemm(c.m, px.view, ldx, a, beta, pc.view, ldc)
			px.result(t, b, name+" X")
			got := pc.result(t, b, name)
			for i := range c.m {
				for j := range ldc {
					idx := i*ldc + j
					if j >= c.n {
						if got[idx] != cm[idx] {
							t.Fatalf("%s: wrote C[%d] in the stride gap: %g, was %g", name, idx, got[idx], cm[idx])
						}
						continue
					}
					var sum, mag float64
					for l := range c.k {
						p := float64(x[i*ldx+l]) * dense[j*c.k+l]
						sum += p
						mag += math.Abs(p)
					}
					old := 0.0
					if beta != 0 {
						old = float64(beta) * float64(cm[idx])
					}
					close(t, name, idx, got[idx], sum+old, mag+math.Abs(old))
				}
			}
		}
	}
}

func testMatrixPanics(t *testing.T, b accel.Backend) {
	x := b.Alloc(12)
	defer b.Free(x)
	csr := b.UploadCSR(2, 3, []int32{0, 1, 2}, []int32{0, 2}, []float32{1, 2})
	defer b.FreeMatrix(csr)
	q8 := b.UploadInt8(2, 3, make([]int8, 6), []float32{1, 1})
	defer b.FreeMatrix(q8)
	shape := map[string]func(){
		"UploadCSR with a column past the end": func() { b.UploadCSR(2, 3, []int32{0, 1, 2}, []int32{0, 3}, []float32{1, 2}) },
		"UploadCSR with a negative column":     func() { b.UploadCSR(1, 3, []int32{0, 1}, []int32{-1}, []float32{1}) },
		"UploadCSR with too few row pointers":  func() { b.UploadCSR(2, 3, []int32{0, 2}, []int32{0, 1}, []float32{1, 2}) },
		"UploadCSR with decreasing rows":       func() { b.UploadCSR(2, 3, []int32{0, 2, 1}, []int32{0, 1}, []float32{1, 2}) },
		"UploadCSR with rowPtr not ending at nnz": func() {
			b.UploadCSR(2, 3, []int32{0, 1, 1}, []int32{0, 1}, []float32{1, 2})
		},
		"UploadCSR with fewer columns than values": func() { b.UploadCSR(1, 3, []int32{0, 2}, []int32{0}, []float32{1, 2}) },
		"UploadInt8 with too few codes":            func() { b.UploadInt8(2, 3, make([]int8, 5), []float32{1, 1}) },
		"UploadInt8 with too few scales":           func() { b.UploadInt8(2, 3, make([]int8, 6), []float32{1}) },
		"GemmCSR with X too short":                 func() { b.GemmCSR(5, x, 3, csr, 0, b.Alloc(10), 2) },
		"GemmCSR with ldx < columns":               func() { b.GemmCSR(2, x, 2, csr, 0, x, 2) },
		"GemmCSR with C too short":                 func() { b.GemmCSR(4, x, 3, csr, 0, b.Alloc(7), 2) },
		"GemmInt8 with ldc < rows of A":            func() { b.GemmInt8(2, x, 3, q8, 0, x, 1) },
	}
	for name, f := range shape {
		if err := catch(f); !errors.Is(err, accel.ErrShape) {
			t.Errorf("%s: panic %v, want one wrapping accel.ErrShape", name, err)
		}
	}
	// Each product takes only its own kind of matrix.
	wrong := map[string]func(){
		"GemmCSR of an int8 matrix": func() { b.GemmCSR(2, x, 3, q8, 0, b.Slice(x, 6, 4), 2) },
		"GemmInt8 of a CSR matrix":  func() { b.GemmInt8(2, x, 3, csr, 0, b.Slice(x, 6, 4), 2) },
	}
	for name, f := range wrong {
		if err := catch(f); !errors.Is(err, accel.ErrForeignBuf) {
			t.Errorf("%s: panic %v, want one wrapping accel.ErrForeignBuf", name, err)
		}
	}
}
