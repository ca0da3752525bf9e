package model

import (
	"syscall"
	"testing"
	"time"

	"github.com/lightbeam-ml/lightbeam/accel"
)

// benchModel returns the model of cfg, its parameters, a batch of n rows
// and a workspace on be (closed when the benchmark ends).
func benchModel(b *testing.B, be accel.Backend, cfg Config, n int) (*Model, []float32, Batch, *Workspace) {
	m := mustNew(b, cfg)
	ws := NewWorkspace(m, be)
	b.Cleanup(ws.Close)
	return m, m.Init(1), randomBatch(m, n, 2), ws
}

// benchGradient times one Gradient call of m on a batch of n rows.
func benchGradient(b *testing.B, be accel.Backend, cfg Config, n int) {
	m, params, batch, ws := benchModel(b, be, cfg, n)
	grad := make([]float32, m.NumParams())
	if _, err := ws.Gradient(params, batch, grad); err != nil { // warm: allocate buffers
		b.Fatal(err)
	}
	// The build machine is shared: report CPU time too, which contention
	// inflates less than wall time.
	start := cpuTime()
	b.ResetTimer()
	for b.Loop() {
		if _, err := ws.Gradient(params, batch, grad); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64((cpuTime()-start).Milliseconds())/float64(b.N), "cpu-ms/op")
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

var mnistMLP = Config{Arch: MLP, Inputs: 784, Hidden: []int{300, 100}, Outputs: 10}

func BenchmarkGradientMLP784x512Go(b *testing.B) { benchGradient(b, backend(b), mnistMLP, 512) }

func BenchmarkGradientMLP784x512BLAS(b *testing.B) {
	be, err := accel.NewBLAS()
	if err != nil {
		b.Skip("no BLAS library: ", err)
	}
	defer be.Close()
	benchGradient(b, be, mnistMLP, 512)
}

func BenchmarkGradientSoftmax784x512Go(b *testing.B) {
	benchGradient(b, backend(b), Config{Arch: Softmax, Inputs: 784, Outputs: 10}, 512)
}

// benchLocalStep times one local SGD step as the trainer takes it: the
// gradient of n rows, then one Nesterov step with L2.
func benchLocalStep(b *testing.B, be accel.Backend, cfg Config, n int) {
	m, params, batch, ws := benchModel(b, be, cfg, n)
	opt, err := NewOptimizer(OptimizerConfig{Method: Momentum, Nesterov: true, L2: 5e-4, Schedule: Schedule{Kind: Constant, LR: 0.01}}, m.NumParams())
	if err != nil {
		b.Fatal(err)
	}
	grad := make([]float32, m.NumParams())
	b.ResetTimer()
	for b.Loop() {
		clear(grad)
		if _, err := ws.Gradient(params, batch, grad); err != nil {
			b.Fatal(err)
		}
		opt.Step(params, grad)
	}
}

func BenchmarkGradientMLP784x64BLAS(b *testing.B) {
	be := blasBackend(b)
	benchGradient(b, be, mnistMLP, 64)
}

func BenchmarkLocalStepMLP784x64BLAS(b *testing.B) {
	be := blasBackend(b)
	benchLocalStep(b, be, mnistMLP, 64)
}

func blasBackend(b *testing.B) accel.Backend {
	be, err := accel.NewBLAS()
	if err != nil {
		b.Skip("no BLAS library: ", err)
	}
	b.Cleanup(func() { be.Close() })
	return be
}

func BenchmarkOptimizerStepMLP(b *testing.B) {
	n := mustNew(b, mnistMLP).NumParams()
	opt, err := NewOptimizer(OptimizerConfig{Method: Momentum, Nesterov: true, L2: 5e-4, Schedule: Schedule{Kind: Constant, LR: 0.01}}, n)
	if err != nil {
		b.Fatal(err)
	}
	params, grad := make([]float32, n), make([]float32, n)
	for b.Loop() {
		opt.StepScaled(params, grad, 1.0/64)
	}
}
