package infer

import (
	"testing"

	"github.com/lightbeam-ml/lightbeam/accel"
	"github.com/lightbeam-ml/lightbeam/compress/artifact"
	"github.com/lightbeam-ml/lightbeam/model"
)

// Inference of LeNet-300-100 (784-300-100-10) on 10,000 rows, the
// compress report's latency measurement: the uncompressed float32 model
// (Gemm on the go and blas backends) against int8 artifacts pruned to 90%
// and 95% on the sparse kernel, an unpruned int8 artifact on the int8
// kernel, and auto on blas. ns/op is the time for all 10,000 rows.

func BenchmarkLeNetDenseGo(b *testing.B)        { benchLeNet(b, accel.NewGo(), 0, KernelDense) }
func BenchmarkLeNetDenseBlas(b *testing.B)      { benchLeNet(b, openBLAS(b), 0, KernelDense) }
func BenchmarkLeNetSparse90Go(b *testing.B)     { benchLeNet(b, accel.NewGo(), 0.9, KernelSparse) }
func BenchmarkLeNetSparse95Go(b *testing.B)     { benchLeNet(b, accel.NewGo(), 0.95, KernelSparse) }
func BenchmarkLeNetInt8Go(b *testing.B)         { benchLeNet(b, accel.NewGo(), 0, KernelInt8) }
func BenchmarkLeNetInt8Sparse90Go(b *testing.B) { benchLeNet(b, accel.NewGo(), 0.9, KernelInt8) }
func BenchmarkLeNetAuto90Blas(b *testing.B)     { benchLeNet(b, openBLAS(b), 0.9, KernelAuto) }
func BenchmarkLeNetAuto95Blas(b *testing.B)     { benchLeNet(b, openBLAS(b), 0.95, KernelAuto) }

func openBLAS(b *testing.B) accel.Backend {
	be, err := accel.NewBLAS()
	if err != nil {
		b.Skipf("no CBLAS library here: %v", err)
	}
	return be
}

// benchLeNet times Predict on 10,000 rows. KernelDense at sparsity 0 is the
// uncompressed model (NewDense); anything else loads an artifact whose
// weights are pruned to sparsity by magnitude and stored as per-row int8
// (sparse when pruned).
func benchLeNet(b *testing.B, be accel.Backend, sparsity float64, kernel Kernel) {
	const rows = 10000
	m, params := newModel(b, model.Config{Arch: model.MLP, Inputs: 784, Hidden: []int{300, 100}, Outputs: 10}, 1)
	var p *Predictor
	var err error
	if kernel == KernelDense && sparsity == 0 {
		p, err = NewDense(be, m, params)
	} else {
		enc := artifact.Encoding{Kind: artifact.Int8, Sparse: sparsity > 0}
		p, err = Load(be, m, compress(b, m, params, sparsity, enc), kernel)
	}
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	x, logits := inputs(rows, m.Inputs(), 2), make([]float32, rows*m.Outputs())
	b.Logf("%s backend (%s): %s, %d weight bytes", be.Name(), accel.Describe(be), p, p.Bytes())
	for b.Loop() {
		if err := p.Predict(x, rows, logits); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/10k-rows")
}
