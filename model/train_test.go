package model

import (
	"math/rand/v2"
	"testing"
)

// train runs mini-batch training with the trainer's arithmetic: sum
// gradients over a batch, divide by its size, step.
func train(t *testing.T, m *Model, o *Optimizer, params []float32, b Batch, epochs, batch int) {
	t.Helper()
	ws := NewWorkspace(m, backend(t))
	defer ws.Close()
	d, lw := m.Inputs(), m.LabelWidth()
	grad := make([]float32, len(params))
	for range epochs {
		for lo := 0; lo < b.N; lo += batch {
			hi := min(lo+batch, b.N)
			clear(grad)
			if _, err := ws.Gradient(params, DenseBatch(b.X[lo*d:hi*d], b.Y[lo*lw:hi*lw], hi-lo), grad); err != nil {
				t.Fatal(err)
			}
			inv := 1 / float32(hi-lo)
			for i := range grad {
				grad[i] *= inv
			}
			o.Step(params, grad)
		}
	}
}

func accuracy(t *testing.T, m *Model, params []float32, b Batch) float64 {
	ws := NewWorkspace(m, backend(t))
	defer ws.Close()
	_, correct, err := ws.Evaluate(params, b)
	if err != nil {
		t.Fatal(err)
	}
	return float64(correct) / float64(b.N)
}

// blobs draws n points around k well-separated centres in d dimensions;
// the centres are fixed, the points depend on pointSeed.
func blobs(n, d, k int, pointSeed uint64) Batch {
	rc := rand.New(rand.NewPCG(1, 3))
	centres := make([]float64, k*d)
	for i := range centres {
		centres[i] = 4 * (2*rc.Float64() - 1)
	}
	r := rand.New(rand.NewPCG(pointSeed, 4))
	x, y := make([]float32, n*d), make([]float32, n)
	for i := 0; i < n; i++ {
		c := r.IntN(k)
		y[i] = float32(c)
		for j := 0; j < d; j++ {
			x[i*d+j] = float32(centres[c*d+j] + 0.5*r.NormFloat64())
		}
	}
	return DenseBatch(x, y, n)
}

func TestTrainSoftmaxOnBlobs(t *testing.T) {
	for _, method := range []Method{SGD, Momentum, Adam} {
		m := mustNew(t, Config{Arch: Softmax, Inputs: 8, Outputs: 4})
		trainSet, testSet := blobs(800, 8, 4, 1), blobs(200, 8, 4, 2)
		params := m.Init(1)
		before := accuracy(t, m, params, testSet)
		o, err := NewOptimizer(OptimizerConfig{Method: method, Schedule: Schedule{LR: 0.05}}, m.NumParams())
		if err != nil {
			t.Fatal(err)
		}
		train(t, m, o, params, trainSet, 5, 32)
		if acc := accuracy(t, m, params, testSet); acc < 0.97 {
			t.Errorf("%s: accuracy %.3f after training (%.3f before), want ≥ 0.97", method, acc, before)
		}
	}
}

func TestTrainMLPOnXOR(t *testing.T) {
	// Label = xor of the signs of the two features: not linearly separable.
	r := rand.New(rand.NewPCG(5, 6))
	n := 1000
	x, y := make([]float32, 2*n), make([]float32, n)
	for i := 0; i < n; i++ {
		a, b := 2*r.Float64()-1, 2*r.Float64()-1
		x[2*i], x[2*i+1] = float32(a), float32(b)
		if (a > 0) != (b > 0) {
			y[i] = 1
		}
	}
	data := DenseBatch(x, y, n)
	lin := mustNew(t, Config{Arch: Softmax, Inputs: 2, Outputs: 2})
	lp := lin.Init(1)
	lo, _ := NewOptimizer(OptimizerConfig{Method: Adam, Schedule: Schedule{LR: 0.01}}, lin.NumParams())
	train(t, lin, lo, lp, data, 30, 50)
	if acc := accuracy(t, lin, lp, data); acc > 0.75 {
		t.Errorf("a linear model reached %.3f on XOR; the test data is too easy", acc)
	}

	m := mustNew(t, Config{Arch: MLP, Inputs: 2, Hidden: []int{16, 16}, Outputs: 2})
	params := m.Init(1)
	o, _ := NewOptimizer(OptimizerConfig{Method: Adam, Schedule: Schedule{LR: 0.01}}, m.NumParams())
	train(t, m, o, params, data, 30, 50)
	if acc := accuracy(t, m, params, data); acc < 0.95 {
		t.Errorf("MLP accuracy on XOR %.3f, want ≥ 0.95", acc)
	}
}

func TestTrainLinearRegression(t *testing.T) {
	// y = 2x₀ − x₁ + 0.5 exactly: training must recover the weights.
	r := rand.New(rand.NewPCG(7, 8))
	n := 500
	x, y := make([]float32, 2*n), make([]float32, n)
	for i := 0; i < n; i++ {
		a, b := 2*r.Float64()-1, 2*r.Float64()-1
		x[2*i], x[2*i+1] = float32(a), float32(b)
		y[i] = float32(2*a - b + 0.5)
	}
	m := mustNew(t, Config{Arch: Linear, Inputs: 2, Outputs: 1})
	p := m.Init(1)
	o, _ := NewOptimizer(OptimizerConfig{Method: Momentum, Schedule: Schedule{LR: 0.05}}, m.NumParams())
	train(t, m, o, p, DenseBatch(x, y, n), 20, 25)
	want := []float32{2, -1, 0.5}
	for i := range want {
		if d := p[i] - want[i]; d > 1e-3 || d < -1e-3 {
			t.Errorf("param %d = %v, want %v", i, p[i], want[i])
		}
	}
}
