package accel_test

import (
	"math"
	"math/rand/v2"
	"runtime"
	"testing"
	"unsafe"

	"github.com/ebitengine/purego"
	"github.com/lightbeam-ml/lightbeam/accel"
)

// The backend-neutral MLP step learns: its loss falls on every backend.
func TestMLPStepLearns(t *testing.T) {
	backends := []accel.Backend{accel.NewGo()}
	if b, err := accel.NewBLAS(); err == nil {
		backends = append(backends, b)
	}
	if b, err := accel.NewCUDA(); err == nil {
		defer b.Close()
		backends = append(backends, b)
	}
	for _, b := range backends {
		m := accel.NewMLPStep(b, 64, []int{20, 16, 8, 4}, 3)
		first := m.Step(0.1)
		var last float64
		for range 150 {
			last = m.Step(0.1)
		}
		m.Free()
		if err := b.Sync(); err != nil {
			t.Fatal(err)
		}
		if math.IsNaN(last) || !(last < 0.7*first) {
			t.Errorf("%s: MLP loss went from %.4f to %.4f in 150 steps; want a drop of 30%%", b.Name(), first, last)
		}
		t.Logf("%s: loss %.4f -> %.4f", b.Name(), first, last)
	}
}

func TestBench(t *testing.T) {
	res, err := accel.Bench(accel.NewGo(), 64, 1)
	if err != nil {
		t.Fatal(err)
	}
	if res.Backend != "go" || res.N != 64 || !(res.GFLOPS > 0) || !(res.MLPStep > 0) || math.IsNaN(res.MLPLoss) {
		t.Fatalf("Bench = %+v", res)
	}
}

func benchSgemm(b *testing.B, be accel.Backend, n int) {
	r := rand.New(rand.NewPCG(1, 2))
	host := make([]float32, n*n)
	for i := range host {
		host[i] = float32(r.NormFloat64())
	}
	x, y, z := be.Alloc(n*n), be.Alloc(n*n), be.Alloc(n*n)
	be.Upload(x, host)
	be.Upload(y, host)
	b.SetBytes(0)
	b.ResetTimer()
	for b.Loop() {
		be.Gemm(false, false, n, n, n, 1, x, n, y, n, 0, z, n)
	}
	if err := be.Sync(); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(2*math.Pow(float64(n), 3)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}

func BenchmarkSgemm1024Go(b *testing.B) { benchSgemm(b, accel.NewGo(), 1024) }

func BenchmarkSgemm1024Blas(b *testing.B) { benchSgemm(b, openBLAS(b), 1024) }

// BenchmarkSgemm1024CblasDirect calls cblas_sgemm of the same library
// through purego with nothing in between: the baseline for the blas backend.
func BenchmarkSgemm1024CblasDirect(b *testing.B) {
	openBLAS(b) // loads the library and sets its threads, as the backend does
	path, err := accel.FindBLAS()
	if err != nil {
		b.Fatal(err)
	}
	lib, err := purego.Dlopen(path, purego.RTLD_NOW|purego.RTLD_GLOBAL)
	if err != nil {
		b.Fatal(err)
	}
	var sgemm func(order, ta, tb, m, n, k int32, alpha float32, a unsafe.Pointer, lda int32, b unsafe.Pointer, ldb int32, beta float32, c unsafe.Pointer, ldc int32)
	purego.RegisterLibFunc(&sgemm, lib, "cblas_sgemm")
	const n = 1024
	r := rand.New(rand.NewPCG(1, 2))
	x, y, z := make([]float32, n*n), make([]float32, n*n), make([]float32, n*n)
	for i := range x {
		x[i] = float32(r.NormFloat64())
	}
	copy(y, x)
	b.ResetTimer()
	for b.Loop() {
		sgemm(101, 111, 111, n, n, n, 1, unsafe.Pointer(&x[0]), n, unsafe.Pointer(&y[0]), n, 0, unsafe.Pointer(&z[0]), n)
	}
	runtime.KeepAlive(x)
	runtime.KeepAlive(y)
	runtime.KeepAlive(z)
	b.ReportMetric(2*math.Pow(n, 3)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}

func benchMLP(b *testing.B, be accel.Backend) {
	m := accel.NewMLPStep(be, 512, []int{784, 300, 100, 10}, 1)
	defer m.Free()
	for b.Loop() {
		m.Step(0.05)
	}
	if err := be.Sync(); err != nil {
		b.Fatal(err)
	}
}

func BenchmarkMLPStepGo(b *testing.B)   { benchMLP(b, accel.NewGo()) }
func BenchmarkMLPStepBlas(b *testing.B) { benchMLP(b, openBLAS(b)) }
