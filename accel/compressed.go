// This file holds the go and blas backends' compressed weight matrices
// (CSR and int8 rows) and the pure-Go kernels that multiply by them. The
// blas backend shares them: CBLAS has no sparse or int8 product.

package accel

import (
	"fmt"
	"runtime"
	"slices"
	"sync"

	"gonum.org/v1/gonum/blas/gonum"
)

// hostCSR is a sparse matrix in Go memory.
type hostCSR struct {
	rows, cols     int
	rowPtr, colIdx []int32
	values         []float32
}

func (a *hostCSR) Rows() int  { return a.rows }
func (a *hostCSR) Cols() int  { return a.cols }
func (a *hostCSR) Bytes() int { return 4 * (len(a.rowPtr) + len(a.colIdx) + len(a.values)) }

// hostInt8 is an int8 matrix with per-row scales in Go memory.
type hostInt8 struct {
	rows, cols int
	q          []int8
	scales     []float32
}

func (a *hostInt8) Rows() int  { return a.rows }
func (a *hostInt8) Cols() int  { return a.cols }
func (a *hostInt8) Bytes() int { return len(a.q) + 4*len(a.scales) }

func hostCSRMatrix(op string, a Matrix) *hostCSR {
	h, ok := a.(*hostCSR)
	if !ok {
		panic(fmt.Errorf("%w: %s: %T is not a CSR matrix of a host backend", ErrForeignBuf, op, a))
	}
	return h
}

func hostInt8Matrix(op string, a Matrix) *hostInt8 {
	h, ok := a.(*hostInt8)
	if !ok {
		panic(fmt.Errorf("%w: %s: %T is not an int8 matrix of a host backend", ErrForeignBuf, op, a))
	}
	return h
}

// UploadCSR copies the matrix into Go memory.
func (goBackend) UploadCSR(rows, cols int, rowPtr, colIdx []int32, values []float32) Matrix {
	checkCSR(rows, cols, rowPtr, colIdx, values)
	return &hostCSR{rows: rows, cols: cols, rowPtr: slices.Clone(rowPtr), colIdx: slices.Clone(colIdx), values: slices.Clone(values)}
}

// UploadInt8 copies the matrix into Go memory.
func (goBackend) UploadInt8(rows, cols int, q []int8, scales []float32) Matrix {
	checkInt8(rows, cols, q, scales)
	return &hostInt8{rows: rows, cols: cols, q: slices.Clone(q), scales: slices.Clone(scales)}
}

func (goBackend) FreeMatrix(a Matrix) {
	switch h := a.(type) {
	case *hostCSR:
		h.rowPtr, h.colIdx, h.values = nil, nil, nil
	case *hostInt8:
		h.q, h.scales = nil, nil
	default:
		panic(fmt.Errorf("%w: FreeMatrix: %T is not a matrix of a host backend", ErrForeignBuf, a))
	}
}

// csrTile is the number of rows of X that GemmCSR multiplies at once: it
// transposes them into a tile where the csrTile values of one column lie
// together, so each stored entry of A is loaded once for csrTile products.
const csrTile = 4

// GemmCSR runs tiles of csrTile rows of X in parallel. For each tile it
// transposes X's rows, then for each row j of A sums value·X[:, col] over
// j's entries into csrTile accumulators.
func (goBackend) GemmCSR(m int, x Buf, ldx int, a Matrix, beta float32, c Buf, ldc int) {
	checkGemmT("GemmCSR", m, x, ldx, a, c, ldc)
	h := hostCSRMatrix("GemmCSR", a)
	n, k := h.rows, h.cols
	if m == 0 || n == 0 {
		return
	}
	xs, cs := host(x), host(c)
	parallelRows(m, csrTile, m*(len(h.values)+k), func(lo, hi int) {
		xt := make([]float32, csrTile*k)
		for i0 := lo; i0 < hi; i0 += csrTile {
			t := min(csrTile, hi-i0)
			if t < csrTile {
				clear(xt) // rows past the end multiply as zeros
			}
			for r := range t {
				for col, v := range xs[(i0+r)*ldx : (i0+r)*ldx+k] {
					xt[col*csrTile+r] = v
				}
			}
			for j := range n {
				// Named accumulators stay in registers (csrTile is 4; at 8
				// the compiler spills and the kernel runs 2× slower).
				var s0, s1, s2, s3 float32
				p0, p1 := h.rowPtr[j], h.rowPtr[j+1]
				cols := h.colIdx[p0:p1]
				for p, v := range h.values[p0:p1] {
					o := int(cols[p]) * csrTile
					col := xt[o : o+csrTile : o+csrTile]
					s0 += v * col[0]
					s1 += v * col[1]
					s2 += v * col[2]
					s3 += v * col[3]
				}
				s := [csrTile]float32{s0, s1, s2, s3}
				for r := range t {
					store(cs, (i0+r)*ldc+j, s[r], beta)
				}
			}
		}
	})
}

// store sets c[i] = v + beta·c[i], not reading c[i] when beta is 0.
func store(c []float32, i int, v, beta float32) {
	if beta == 0 {
		c[i] = v
	} else {
		c[i] = v + beta*c[i]
	}
}

// int8Tile is the number of rows of X that share one dequantized row of A.
const int8Tile = 32

// GemmInt8 dequantizes on the fly: for each tile of int8Tile rows of X it
// turns each row of A back into float32 (scale·q, exactly the artifact's
// dense value) in a scratch row, then takes that row's dot product with
// every row of the tile with gonum's SIMD Sdot.
//
// We measured the other way, quantizing each row of X to int8 and
// accumulating int32 products, and kept this one: Go has no int8 SIMD, so
// the integer dot product runs scalar, about 6× slower on LeNet's first
// layer (0.9 against 5.4 GMAC/s on one AMD EPYC core; a scalar float32
// loop converting codes as it goes does 1.3), and it adds X's rounding
// error besides. BenchmarkInt8Kernels in compressed_test.go measures all
// three.
func (goBackend) GemmInt8(m int, x Buf, ldx int, a Matrix, beta float32, c Buf, ldc int) {
	checkGemmT("GemmInt8", m, x, ldx, a, c, ldc)
	h := hostInt8Matrix("GemmInt8", a)
	n, k := h.rows, h.cols
	if m == 0 || n == 0 {
		return
	}
	xs, cs := host(x), host(c)
	parallelRows(m, int8Tile, m*n*k, func(lo, hi int) {
		w := make([]float32, k)
		for i0 := lo; i0 < hi; i0 += int8Tile {
			i1 := min(i0+int8Tile, hi)
			for j := range n {
				s := h.scales[j]
				for l, q := range h.q[j*k : j*k+k] {
					w[l] = float32(q) * s
				}
				for i := i0; i < i1; i++ {
					var d float32
					if k > 0 {
						d = gonum.Implementation{}.Sdot(k, xs[i*ldx:i*ldx+k], 1, w, 1)
					}
					store(cs, i*ldc+j, d, beta)
				}
			}
		}
	})
}

// parallelWork is the number of multiply-adds below which a kernel runs on
// the calling goroutine: starting goroutines costs a few microseconds.
const parallelWork = 1 << 16

// parallelRows calls f on contiguous parts [lo, hi) of [0, m), one per
// goroutine, at most GOMAXPROCS of them, each a multiple of step rows but
// the last, and waits. work, the multiply-adds the call does in all,
// decides whether it is worth going parallel.
func parallelRows(m, step, work int, f func(lo, hi int)) {
	parts := min(runtime.GOMAXPROCS(0), (m+step-1)/step)
	if work < parallelWork || parts <= 1 {
		f(0, m)
		return
	}
	per := ((m+parts-1)/parts + step - 1) / step * step
	var wg sync.WaitGroup
	for lo := 0; lo < m; lo += per {
		wg.Go(func() { f(lo, min(lo+per, m)) })
	}
	wg.Wait()
}
