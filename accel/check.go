package accel

import (
	"errors"
	"fmt"
	"math"
)

// ErrShape is wrapped by the panics that report a bad shape, stride or
// buffer length: programmer errors, caught before any backend runs a kernel.
var ErrShape = errors.New("accel: bad shape")

// ErrForeignBuf is wrapped by the panic raised when a backend is handed a
// Buf that another backend allocated.
var ErrForeignBuf = errors.New("accel: buffer from another backend")

func shapePanic(op, format string, args ...any) {
	panic(fmt.Errorf("%w: %s: %s", ErrShape, op, fmt.Sprintf(format, args...)))
}

// need is the number of values a rows×cols matrix with row stride ld spans.
func need(rows, cols, ld int) int {
	if rows == 0 || cols == 0 {
		return 0
	}
	return ld*(rows-1) + cols
}

func checkMatrix(op, name string, rows, cols, ld int, b Buf) {
	if ld < max(1, cols) {
		shapePanic(op, "ld%s=%d < max(1, %d columns)", name, ld, cols)
	}
	if n := need(rows, cols, ld); b.Len() < n {
		shapePanic(op, "%s has %d values, a %d×%d matrix with stride %d needs %d", name, b.Len(), rows, cols, ld, n)
	}
}

func checkGemm(transA, transB bool, m, n, k int, a Buf, lda int, b Buf, ldb int, c Buf, ldc int) {
	if m < 0 || n < 0 || k < 0 {
		shapePanic("Gemm", "negative size m=%d n=%d k=%d", m, n, k)
	}
	ar, ac := m, k
	if transA {
		ar, ac = k, m
	}
	br, bc := k, n
	if transB {
		br, bc = n, k
	}
	checkMatrix("Gemm", "A", ar, ac, lda, a)
	checkMatrix("Gemm", "B", br, bc, ldb, b)
	checkMatrix("Gemm", "C", m, n, ldc, c)
	checkInt32("Gemm", m, n, k, lda, ldb, ldc)
}

func checkGemv(transA bool, m, n int, a Buf, lda int, x, y Buf) {
	if m < 0 || n < 0 {
		shapePanic("Gemv", "negative size m=%d n=%d", m, n)
	}
	checkMatrix("Gemv", "A", m, n, lda, a)
	xn, yn := n, m
	if transA {
		xn, yn = m, n
	}
	checkLen("Gemv", "x", xn, x)
	checkLen("Gemv", "y", yn, y)
	checkInt32("Gemv", m, n, lda)
}

// checkInt32 guards the 32-bit sizes of CBLAS, cuBLAS and the CUDA kernels.
func checkInt32(op string, vals ...int) {
	for _, v := range vals {
		if v > math.MaxInt32 {
			shapePanic(op, "size %d exceeds 2³¹−1", v)
		}
	}
}

func checkLen(op, name string, n int, b Buf) {
	if n < 0 {
		shapePanic(op, "negative length %d", n)
	}
	if b.Len() < n {
		shapePanic(op, "%s has %d values, needs %d", name, b.Len(), n)
	}
	checkInt32(op, n)
}

func checkRows(op string, m, n int, bufs ...Buf) {
	if m < 0 || n < 0 {
		shapePanic(op, "negative size m=%d n=%d", m, n)
	}
	for _, b := range bufs {
		checkLen(op, "matrix", m*n, b)
	}
}

func checkSlice(b Buf, off, n int) {
	if off < 0 || n < 0 || off+n > b.Len() {
		shapePanic("Slice", "[%d:%d] of a buffer of %d values", off, off+n, b.Len())
	}
}

func checkQuant(n int, x Buf, scale float32, qmin, qmax int) {
	checkLen("FakeQuant", "x", n, x)
	if !(scale > 0) || math.IsInf(float64(scale), 1) {
		shapePanic("FakeQuant", "scale %g is not a positive finite number", scale)
	}
	if qmin > qmax {
		shapePanic("FakeQuant", "qmin %d > qmax %d", qmin, qmax)
	}
}

// labelIndex returns the class index that a float32 label names, or -1 if
// it names none of the n classes.
func labelIndex(label float32, n int) int {
	if !(label >= 0 && label < float32(n)) || label != float32(math.Floor(float64(label))) {
		return -1
	}
	return int(label)
}

func nan() float64 { return math.NaN() }

// checkCSR checks that rowPtr, colIdx and values form a rows×cols CSR
// matrix; it reads every entry, once per upload.
func checkCSR(rows, cols int, rowPtr, colIdx []int32, values []float32) {
	if rows < 0 || cols < 0 {
		shapePanic("UploadCSR", "negative size %d×%d", rows, cols)
	}
	checkInt32("UploadCSR", rows, cols, len(values))
	if len(rowPtr) != rows+1 {
		shapePanic("UploadCSR", "%d row pointers for %d rows, want %d", len(rowPtr), rows, rows+1)
	}
	if len(colIdx) != len(values) {
		shapePanic("UploadCSR", "%d column indices for %d values", len(colIdx), len(values))
	}
	if rowPtr[0] != 0 || int(rowPtr[rows]) != len(values) {
		shapePanic("UploadCSR", "row pointers run from %d to %d, want 0 to %d", rowPtr[0], rowPtr[rows], len(values))
	}
	for r := range rows {
		if rowPtr[r+1] < rowPtr[r] {
			shapePanic("UploadCSR", "row pointer %d (%d) < row pointer %d (%d)", r+1, rowPtr[r+1], r, rowPtr[r])
		}
	}
	for p, c := range colIdx {
		if c < 0 || int(c) >= cols {
			shapePanic("UploadCSR", "entry %d has column %d, outside [0, %d)", p, c, cols)
		}
	}
}

func checkInt8(rows, cols int, q []int8, scales []float32) {
	if rows < 0 || cols < 0 {
		shapePanic("UploadInt8", "negative size %d×%d", rows, cols)
	}
	checkInt32("UploadInt8", rows, cols, rows*cols)
	if len(q) != rows*cols {
		shapePanic("UploadInt8", "%d codes for a %d×%d matrix", len(q), rows, cols)
	}
	if len(scales) != rows {
		shapePanic("UploadInt8", "%d scales for %d rows", len(scales), rows)
	}
}

// checkGemmT checks the operands of C = X·Aᵀ + beta·C for X m×k (stride
// ldx), A n×k and C m×n (stride ldc).
func checkGemmT(op string, m int, x Buf, ldx int, a Matrix, c Buf, ldc int) {
	if m < 0 {
		shapePanic(op, "negative size m=%d", m)
	}
	n, k := a.Rows(), a.Cols()
	checkMatrix(op, "X", m, k, ldx, x)
	checkMatrix(op, "C", m, n, ldc, c)
	checkInt32(op, m, ldx, ldc, need(m, k, ldx), need(m, n, ldc))
}
