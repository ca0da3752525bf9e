package model

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/lightbeam-ml/lightbeam/accel"
)

// backend returns the pure-Go backend every test runs on.
func backend(t testing.TB) accel.Backend {
	t.Helper()
	be := accel.NewGo()
	t.Cleanup(func() { be.Close() })
	return be
}

func mustNew(t testing.TB, cfg Config) *Model {
	t.Helper()
	m, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// randomBatch draws n rows of features in [-1,1) (about a third of them
// zero, so CSR is meaningful) and valid labels for m.
func randomBatch(m *Model, n int, seed uint64) Batch {
	r := rand.New(rand.NewPCG(seed, 1))
	d := m.Inputs()
	x := make([]float32, n*d)
	for i := range x {
		if r.IntN(3) > 0 {
			x[i] = float32(2*r.Float64() - 1)
		}
	}
	y := make([]float32, n*m.LabelWidth())
	for i := range y {
		if m.Classifier() {
			y[i] = float32(r.IntN(m.Outputs()))
		} else {
			y[i] = float32(r.NormFloat64())
		}
	}
	return DenseBatch(x, y, n)
}

// toCSR returns the sparse form of the dense batch b.
func toCSR(b Batch, d int) Batch {
	s := Batch{N: b.N, Y: b.Y, Indptr: []int32{0}}
	for i := 0; i < b.N; i++ {
		for j := 0; j < d; j++ {
			if v := b.X[i*d+j]; v != 0 {
				s.Indices = append(s.Indices, int32(j))
				s.Values = append(s.Values, v)
			}
		}
		s.Indptr = append(s.Indptr, int32(len(s.Indices)))
	}
	return s
}

// refOutputs is an independent float64 forward pass: the n×k outputs
// (logits or predictions) of m for dense x.
func refOutputs(m *Model, p []float64, x []float32, n int) [][]float64 {
	sizes := m.Sizes()
	out := make([][]float64, n)
	for i := 0; i < n; i++ {
		h := make([]float64, sizes[0])
		for j := range h {
			h[j] = float64(x[i*sizes[0]+j])
		}
		off := 0
		for l := 0; l+1 < len(sizes); l++ {
			in, o := sizes[l], sizes[l+1]
			z := make([]float64, o)
			for a := 0; a < o; a++ {
				s := p[off+o*in+a] // bias
				for b := 0; b < in; b++ {
					s += p[off+a*in+b] * h[b]
				}
				if l+2 < len(sizes) {
					s = math.Max(s, 0)
				}
				z[a] = s
			}
			off += o*in + o
			h = z
		}
		out[i] = h
	}
	return out
}

// refLoss is the summed loss of m in float64.
func refLoss(m *Model, p []float64, b Batch) float64 {
	z := refOutputs(m, p, b.X, b.N)
	var loss float64
	for i, zi := range z {
		if m.Classifier() {
			mx := math.Inf(-1)
			for _, v := range zi {
				mx = math.Max(mx, v)
			}
			var s float64
			for _, v := range zi {
				s += math.Exp(v - mx)
			}
			loss += mx + math.Log(s) - zi[int(b.Y[i])]
		} else {
			k := m.Outputs()
			for j, v := range zi {
				d := v - float64(b.Y[i*k+j])
				loss += d * d
			}
		}
	}
	return loss
}

func to64(p []float32) []float64 {
	q := make([]float64, len(p))
	for i, v := range p {
		q[i] = float64(v)
	}
	return q
}

func approx(a, b, rel, abs float64) bool {
	return math.Abs(a-b) <= abs+rel*math.Max(math.Abs(a), math.Abs(b))
}

// checkFiniteDifferences compares each gradient value grad[i] with the
// central difference (loss(p + h·eᵢ) − loss(p − h·eᵢ)) / 2h of the
// float64 reference loss at p, h = 1e-5, within 1e-3 relative or 1e-4
// absolute.
func checkFiniteDifferences(t *testing.T, p []float64, grad []float32, loss func(p []float64) float64) {
	t.Helper()
	const h = 1e-5
	for i := range p {
		orig := p[i]
		p[i] = orig + h
		up := loss(p)
		p[i] = orig - h
		down := loss(p)
		p[i] = orig
		fd := (up - down) / (2 * h)
		if !approx(float64(grad[i]), fd, 1e-3, 1e-4) {
			t.Errorf("param %d: gradient %v, finite difference %v", i, grad[i], fd)
		}
	}
}
