package accel

import (
	"fmt"
	"math"
	"math/rand/v2"
	"time"
)

// BenchResult is what `lightbeam accel bench` prints, as one JSON line.
type BenchResult struct {
	Backend string  `json:"backend"`
	Detail  string  `json:"detail"`
	N       int     `json:"n"`
	GFLOPS  float64 `json:"gflops"`      // SGEMM n×n×n, 2n³ flops, best of reps
	MLPStep float64 `json:"mlp_step_ms"` // one MLPStep, best of reps
	MLPLoss float64 `json:"mlp_loss"`    // mean cross-entropy after the timed steps
}

// Bench measures b: SGEMM of size n and the MLP training step, each the
// best of reps timed runs after one warm-up.
func Bench(b Backend, n, reps int) (BenchResult, error) {
	res := BenchResult{Backend: b.Name(), Detail: Describe(b), N: n}
	var err error
	if res.GFLOPS, err = BenchSgemm(b, n, reps); err != nil {
		return res, err
	}
	m := NewMLPStep(b, 512, []int{784, 300, 100, 10}, 1)
	defer m.Free()
	best := math.Inf(1)
	for i := range reps + 1 {
		start := time.Now()
		loss := m.Step(0.05)
		if err := b.Sync(); err != nil {
			return res, err
		}
		if i > 0 {
			best = min(best, time.Since(start).Seconds())
		}
		res.MLPLoss = loss
	}
	res.MLPStep = best * 1e3
	return res, nil
}

// BenchSgemm returns the GFLOP/s of C = A·B for n×n matrices on b, the
// best of reps timed runs after one warm-up.
func BenchSgemm(b Backend, n, reps int) (float64, error) {
	r := rand.New(rand.NewPCG(1, uint64(n)))
	host := make([]float32, n*n)
	for i := range host {
		host[i] = float32(r.NormFloat64())
	}
	a, bb, c := b.Alloc(n*n), b.Alloc(n*n), b.Alloc(n*n)
	defer func() { b.Free(a); b.Free(bb); b.Free(c) }()
	b.Upload(a, host)
	b.Upload(bb, host)
	best := math.Inf(1)
	for i := range reps + 1 {
		start := time.Now()
		b.Gemm(false, false, n, n, n, 1, a, n, bb, n, 0, c, n)
		if err := b.Sync(); err != nil {
			return 0, fmt.Errorf("accel: BenchSgemm on %s: %w", b.Name(), err)
		}
		if i > 0 {
			best = min(best, time.Since(start).Seconds())
		}
	}
	return 2 * math.Pow(float64(n), 3) / best / 1e9, nil
}

// MLPStep is a ReLU multilayer perceptron trained on one fixed batch,
// written only against Backend so that it times any backend the same way.
// Layer l computes, for its input H (batch×in), weights W (in×out) and
// bias c,
//
//	Z = H·W + c,   H' = ReLU(Z)   (no ReLU on the last layer)
//
// and the step back-propagates softmax cross-entropy:
//
//	G = (softmax(Z) − onehot(y)) / batch,   dW = Hᵀ·G,   dc = Σ_rows G,
//	G_prev = (G·Wᵀ) ⊙ [H > 0],              W −= lr·dW,  c −= lr·dc
type MLPStep struct {
	b      Backend
	batch  int
	sizes  []int
	x, y   Buf   // the batch: inputs and labels
	w, c   []Buf // per layer: weights, biases
	dw, dc []Buf // per layer: their gradients
	h      []Buf // activations: h[0] = x, h[l+1] = layer l's output
	g      []Buf // gradients with respect to h[l+1]
}

// NewMLPStep allocates on b an MLP with the given layer sizes and a random
// batch of batch rows whose labels depend on the inputs (so it can learn).
func NewMLPStep(b Backend, batch int, sizes []int, seed uint64) *MLPStep {
	r := rand.New(rand.NewPCG(seed, 7))
	m := &MLPStep{b: b, batch: batch, sizes: sizes}
	in, classes := sizes[0], sizes[len(sizes)-1]
	xs, ys := make([]float32, batch*in), make([]float32, batch)
	for i := range batch {
		for j := range in {
			xs[i*in+j] = float32(r.Float64())
		}
		ys[i] = float32(int(xs[i*in]*float32(classes)) % classes)
	}
	m.x, m.y = b.Alloc(len(xs)), b.Alloc(batch)
	b.Upload(m.x, xs)
	b.Upload(m.y, ys)
	m.h = append(m.h, m.x)
	for l := range len(sizes) - 1 {
		fin, fout := sizes[l], sizes[l+1]
		w := make([]float32, fin*fout)
		s := math.Sqrt(2 / float64(fin)) // He initialization
		for i := range w {
			w[i] = float32(r.NormFloat64() * s)
		}
		m.w = append(m.w, b.Alloc(fin*fout))
		b.Upload(m.w[l], w)
		m.c = append(m.c, b.Alloc(fout))
		m.dw = append(m.dw, b.Alloc(fin*fout))
		m.dc = append(m.dc, b.Alloc(fout))
		m.h = append(m.h, b.Alloc(batch*fout))
		m.g = append(m.g, b.Alloc(batch*fout))
	}
	return m
}

// Step runs one forward pass, backward pass and SGD update with learning
// rate lr, and returns the batch's mean cross-entropy before the update.
func (m *MLPStep) Step(lr float32) float64 {
	b, n, last := m.b, m.batch, len(m.w)-1
	for l := range m.w {
		fin, fout := m.sizes[l], m.sizes[l+1]
		b.Gemm(false, false, n, fout, fin, 1, m.h[l], fin, m.w[l], fout, 0, m.h[l+1], fout)
		b.AddBias(n, fout, m.h[l+1], m.c[l])
		if l < last {
			b.ReLU(n*fout, m.h[l+1])
		}
	}
	classes := m.sizes[last+1]
	loss := b.SoftmaxXent(n, classes, m.h[last+1], m.y, m.g[last])
	b.Scal(n*classes, 1/float32(n), m.g[last])
	for l := last; l >= 0; l-- {
		fin, fout := m.sizes[l], m.sizes[l+1]
		b.Gemm(true, false, fin, fout, n, 1, m.h[l], fin, m.g[l], fout, 0, m.dw[l], fout)
		b.ColSum(n, fout, m.g[l], m.dc[l])
		if l > 0 {
			b.Gemm(false, true, n, fin, fout, 1, m.g[l], fout, m.w[l], fout, 0, m.g[l-1], fin)
			b.ReLUGrad(n*fin, m.g[l-1], m.h[l])
		}
		b.Axpy(fin*fout, -lr, m.dw[l], m.w[l])
		b.Axpy(fout, -lr, m.dc[l], m.c[l])
	}
	return loss / float64(n)
}

// Free releases the model's buffers.
func (m *MLPStep) Free() {
	for _, bufs := range [][]Buf{m.w, m.c, m.dw, m.dc, m.h, m.g} {
		for _, x := range bufs {
			m.b.Free(x)
		}
	}
	m.b.Free(m.y)
}
