package accel

import (
	"fmt"
	"math"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"
)

// hostBuf is a buffer in Go memory, shared by the go and blas backends.
type hostBuf struct{ s []float32 }

func (b *hostBuf) Len() int { return len(b.s) }

// HostView returns the Go memory behind b when its backend keeps buffers
// in host memory (the go and blas backends), and nil otherwise (a GPU's).
// Writes through the slice change b; it is valid until b is freed. Callers
// use it to skip an Upload or Download that would only copy memory.
func HostView(b Buf) []float32 {
	if h, ok := b.(*hostBuf); ok {
		return h.s
	}
	return nil
}

func host(b Buf) []float32 {
	h, ok := b.(*hostBuf)
	if !ok {
		panic(fmt.Errorf("%w: %T is not a host buffer", ErrForeignBuf, b))
	}
	return h.s
}

func trans(t bool) blas.Transpose {
	if t {
		return blas.Trans
	}
	return blas.NoTrans
}

// goBackend runs everything in pure Go: gonum's BLAS for Gemm and Gemv,
// plain loops for the rest. It is always available.
type goBackend struct{}

// NewGo returns the pure-Go backend.
func NewGo() Backend { return goBackend{} }

func (goBackend) Name() string { return "go" }

// SetThreads does nothing: gonum's kernels run on goroutines, which the Go
// scheduler shares among the cores however many run (accel.Concurrent).
func (goBackend) SetThreads(int) int { return 0 }

func (goBackend) Alloc(n int) Buf {
	if n < 0 {
		shapePanic("Alloc", "negative length %d", n)
	}
	return &hostBuf{s: make([]float32, n)}
}

func (goBackend) Slice(b Buf, off, n int) Buf {
	s := host(b)
	checkSlice(b, off, n)
	return &hostBuf{s: s[off : off+n : off+n]}
}

func (goBackend) Free(b Buf) { host(b); b.(*hostBuf).s = nil }

func (goBackend) Upload(dst Buf, src []float32) {
	checkLen("Upload", "dst", len(src), dst)
	copy(host(dst), src)
}

func (goBackend) Download(dst []float32, src Buf) {
	checkLen("Download", "src", len(dst), src)
	copy(dst, host(src))
}

func (goBackend) Gemm(transA, transB bool, m, n, k int, alpha float32, a Buf, lda int, b Buf, ldb int, beta float32, c Buf, ldc int) {
	checkGemm(transA, transB, m, n, k, a, lda, b, ldb, c, ldc)
	if m == 0 || n == 0 {
		return
	}
	gonum.Implementation{}.Sgemm(trans(transA), trans(transB), m, n, k, alpha, host(a), lda, host(b), ldb, beta, host(c), ldc)
}

func (goBackend) Gemv(transA bool, m, n int, alpha float32, a Buf, lda int, x Buf, beta float32, y Buf) {
	checkGemv(transA, m, n, a, lda, x, y)
	if m == 0 || n == 0 {
		// gonum rejects empty matrices; y = beta·y is still owed.
		yn := m
		if transA {
			yn = n
		}
		scaleOrZero(host(y)[:yn], beta)
		return
	}
	gonum.Implementation{}.Sgemv(trans(transA), m, n, alpha, host(a), lda, host(x), 1, beta, host(y), 1)
}

// scaleOrZero sets y = beta·y, writing zeros for beta = 0 as BLAS does
// (so NaNs in y do not survive).
func scaleOrZero(y []float32, beta float32) {
	for i := range y {
		if beta == 0 {
			y[i] = 0
		} else {
			y[i] *= beta
		}
	}
}

func (goBackend) Axpy(n int, alpha float32, x, y Buf) {
	checkLen("Axpy", "x", n, x)
	checkLen("Axpy", "y", n, y)
	xs, ys := host(x)[:n], host(y)[:n]
	for i, v := range xs {
		ys[i] += alpha * v
	}
}

func (goBackend) Scal(n int, alpha float32, x Buf) {
	checkLen("Scal", "x", n, x)
	xs := host(x)[:n]
	for i := range xs {
		xs[i] *= alpha
	}
}

func (goBackend) AddBias(m, n int, x, bias Buf) {
	checkRows("AddBias", m, n, x)
	checkLen("AddBias", "bias", n, bias)
	xs, bs := host(x), host(bias)[:n]
	for i := range m {
		row := xs[i*n : i*n+n]
		for j, v := range bs {
			row[j] += v
		}
	}
}

func (goBackend) ColSum(m, n int, x, dst Buf) {
	checkRows("ColSum", m, n, x)
	checkLen("ColSum", "dst", n, dst)
	xs, d := host(x), host(dst)[:n]
	clear(d)
	for i := range m {
		for j, v := range xs[i*n : i*n+n] {
			d[j] += v
		}
	}
}

// ReLU and ReLUGrad choose by integer bits so that the compiler emits
// conditional moves: with random signs a branch mispredicts half the time
// (measured 5.5x slower on 64×300 activations).
func (goBackend) ReLU(n int, x Buf) {
	checkLen("ReLU", "x", n, x)
	xs := host(x)[:n]
	for i, v := range xs {
		// v > 0 exactly when its bits lie in [1, 0x7f800000]: +0,
		// negatives and NaNs become 0.
		u := math.Float32bits(v)
		if u-1 >= 0x7f800000 {
			u = 0
		}
		xs[i] = math.Float32frombits(u)
	}
}

func (goBackend) ReLUGrad(n int, g, y Buf) {
	checkLen("ReLUGrad", "g", n, g)
	checkLen("ReLUGrad", "y", n, y)
	gs, ys := host(g)[:n], host(y)[:n]
	for i, v := range ys {
		u := math.Float32bits(gs[i])
		if v <= 0 {
			u = 0
		}
		gs[i] = math.Float32frombits(u)
	}
}

func (goBackend) SoftmaxXent(m, n int, logits, labels, grad Buf) float64 {
	checkRows("SoftmaxXent", m, n, logits, grad)
	checkLen("SoftmaxXent", "labels", m, labels)
	if n == 0 && m > 0 {
		shapePanic("SoftmaxXent", "no classes")
	}
	zs, ls, gs := host(logits), host(labels), host(grad)
	var loss float64
	for i := range m {
		z, g := zs[i*n:i*n+n], gs[i*n:i*n+n]
		mx := z[0]
		for _, v := range z[1:] {
			mx = max(mx, v)
		}
		var sum float32
		for _, v := range z {
			sum += float32(math.Exp(float64(v - mx)))
		}
		y := labelIndex(ls[i], n)
		if y < 0 {
			loss = math.NaN()
		} else {
			loss += math.Log(float64(sum)) - float64(z[y]-mx)
		}
		for j, v := range z {
			g[j] = float32(math.Exp(float64(v-mx))) / sum
		}
		if y >= 0 {
			g[y]--
		}
	}
	return loss
}

func (goBackend) Argmax(m, n int, x, dst Buf) {
	checkRows("Argmax", m, n, x)
	checkLen("Argmax", "dst", m, dst)
	xs, d := host(x), host(dst)
	for i := range m {
		row := xs[i*n : i*n+n]
		best := 0
		for j, v := range row {
			if v > row[best] {
				best = j
			}
		}
		d[i] = float32(best)
	}
}

func (goBackend) ApplyMask(n int, x, mask Buf) {
	checkLen("ApplyMask", "x", n, x)
	checkLen("ApplyMask", "mask", n, mask)
	xs, ms := host(x)[:n], host(mask)[:n]
	for i, v := range ms {
		xs[i] *= v
	}
}

func (goBackend) Threshold(n int, x Buf, t float32, mask Buf) int {
	checkLen("Threshold", "x", n, x)
	checkLen("Threshold", "mask", n, mask)
	xs, ms := host(x)[:n], host(mask)[:n]
	ones := 0
	for i, v := range xs {
		if float32(math.Abs(float64(v))) >= t {
			ms[i] = 1
			ones++
		} else {
			ms[i] = 0
		}
	}
	return ones
}

func (goBackend) FakeQuant(n int, x Buf, scale float32, qmin, qmax int) {
	checkQuant(n, x, scale, qmin, qmax)
	xs := host(x)[:n]
	lo, hi := float32(qmin), float32(qmax)
	for i, v := range xs {
		q := float32(math.Round(float64(v / scale)))
		xs[i] = min(max(q, lo), hi) * scale
	}
}

func (goBackend) Sync() error  { return nil }
func (goBackend) Close() error { return nil }
