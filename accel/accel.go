// Package accel runs lightbeam's dense math on the fastest backend present:
// an NVIDIA GPU through CUDA, a CPU BLAS loaded at run time, or pure Go.
//
// All matrices are row-major float32, but for the compressed weight
// matrices that inference multiplies by without densifying (Matrix: CSR,
// or int8 with per-row scales). Buffers are owned by the backend so that on
// a GPU a whole batch step (weights, activations, gradients) stays on the
// device: data crosses once per batch, not once per kernel.
package accel

// Buf is a backend-owned array of float32. A Buf from one backend must
// never be passed to another.
type Buf interface {
	Len() int
}

// Matrix is a backend-owned weight matrix in a compressed form: sparse
// (UploadCSR) or int8 with one scale per row (UploadInt8). Like a Buf, it
// must never be passed to another backend.
type Matrix interface {
	// Rows and Cols give its shape: n×k for a layer's weight W [out,in].
	Rows() int
	Cols() int
	// Bytes is the memory it holds on the backend.
	Bytes() int
}

// Concurrent is implemented by the CPU backends, whose kernels may run
// from several goroutines at once, each on its own buffers. SetThreads(n)
// makes each kernel call use at most n threads (n ≤ 0 changes nothing) and
// returns the previous count (0 when the backend does not count threads),
// so that callers running one computation per core can keep each
// computation on one thread instead of oversubscribing the cores:
//
//	defer c.SetThreads(c.SetThreads(1))
type Concurrent interface {
	SetThreads(n int) int
}

// Backend is the narrow set of kernels lightbeam's models need.
// Shape errors are programmer errors and panic.
type Backend interface {
	// Name is the backend's name: "go", "blas" or "cuda".
	Name() string

	// Alloc returns a zero-filled buffer of n values.
	Alloc(n int) Buf
	// Slice returns a view of n values of b starting at off; writes
	// through the view change b.
	Slice(b Buf, off, n int) Buf
	// Free releases b (and nothing else: views of it become invalid).
	Free(b Buf)
	// Upload copies src into the first len(src) values of dst.
	Upload(dst Buf, src []float32)
	// Download copies the first len(dst) values of src into dst.
	Download(dst []float32, src Buf)

	// Gemm computes C = alpha·op(A)·op(B) + beta·C where op(A) is m×k,
	// op(B) is k×n and C is m×n; op(X) is Xᵀ when the flag is set. lda,
	// ldb, ldc are the row strides of A, B, C as stored.
	Gemm(transA, transB bool, m, n, k int, alpha float32, a Buf, lda int, b Buf, ldb int, beta float32, c Buf, ldc int)
	// Gemv computes y = alpha·op(A)·x + beta·y for A stored m×n.
	Gemv(transA bool, m, n int, alpha float32, a Buf, lda int, x Buf, beta float32, y Buf)
	// Axpy computes y += alpha·x over n values.
	Axpy(n int, alpha float32, x, y Buf)
	// Scal computes x *= alpha over n values.
	Scal(n int, alpha float32, x Buf)

	// AddBias adds bias[j] to every x[i,j] of the m×n matrix x.
	AddBias(m, n int, x, bias Buf)
	// ColSum sets dst[j] = Σ_i x[i,j] for the m×n matrix x (bias gradients).
	ColSum(m, n int, x, dst Buf)
	// ReLU sets x[i] = max(x[i], 0) over n values.
	ReLU(n int, x Buf)
	// ReLUGrad zeroes g[i] wherever y[i] <= 0, y being ReLU's output.
	ReLUGrad(n int, g, y Buf)
	// SoftmaxXent takes the m×n matrix of logits and m class labels
	// (float32 class indices) and writes grad[i,:] = softmax(logits[i,:]) −
	// onehot(labels[i]). It returns the summed cross-entropy −Σ log p[i,label].
	// grad may alias logits.
	SoftmaxXent(m, n int, logits, labels, grad Buf) float64
	// Argmax writes, for each row of the m×n matrix x, the column of its
	// largest value (as a float32) to dst[i].
	Argmax(m, n int, x, dst Buf)

	// ApplyMask computes x[i] *= mask[i] over n values (mask is 0 or 1):
	// pruned weights stay zero while retraining.
	ApplyMask(n int, x, mask Buf)
	// Threshold sets mask[i] = 1 where |x[i]| >= t, else 0, and returns the
	// number of ones.
	Threshold(n int, x Buf, t float32, mask Buf) int
	// FakeQuant rounds each x[i] to scale·clamp(round(x[i]/scale), qmin, qmax)
	// in place: uniform quantization, dequantized.
	FakeQuant(n int, x Buf, scale float32, qmin, qmax int)

	// UploadCSR returns the rows×cols sparse matrix whose row r holds
	// values[rowPtr[r]:rowPtr[r+1]] at columns colIdx[rowPtr[r]:rowPtr[r+1]]
	// (compressed sparse row form). Malformed CSR panics: rowPtr not rows+1
	// non-decreasing offsets from 0 to len(values), or a column outside
	// [0, cols).
	UploadCSR(rows, cols int, rowPtr, colIdx []int32, values []float32) Matrix
	// UploadInt8 returns the rows×cols matrix diag(scales)·Q for the
	// row-major int8 codes q, one scale per row (per output channel).
	UploadInt8(rows, cols int, q []int8, scales []float32) Matrix
	// GemmCSR computes, for X (m×k, row stride ldx) and A (n×k) from
	// UploadCSR,
	//
	//	C = X·Aᵀ + beta·C
	//
	// with C m×n (row stride ldc): a layer's Z = X·Wᵀ without densifying W.
	// C is not read when beta is 0.
	GemmCSR(m int, x Buf, ldx int, a Matrix, beta float32, c Buf, ldc int)
	// GemmInt8 is GemmCSR for A = diag(scales)·Q from UploadInt8.
	GemmInt8(m int, x Buf, ldx int, a Matrix, beta float32, c Buf, ldc int)
	// FreeMatrix releases a.
	FreeMatrix(a Matrix)

	// Sync waits for queued work and reports the first asynchronous error.
	Sync() error
	// Close releases the backend and everything it allocated.
	Close() error
}
