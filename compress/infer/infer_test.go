package infer

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/lightbeam-ml/lightbeam/accel"
	"github.com/lightbeam-ml/lightbeam/compress/artifact"
	"github.com/lightbeam-ml/lightbeam/compress/prune"
	"github.com/lightbeam-ml/lightbeam/model"
)

// newModel returns the model cfg describes and random parameters for it
// (the model's own initialization, biases drawn too).
func newModel(t testing.TB, cfg model.Config, seed uint64) (*model.Model, []float32) {
	t.Helper()
	m, err := model.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	params := m.Init(seed)
	r := rand.New(rand.NewPCG(seed, 1))
	for _, s := range m.Layout() {
		if strings.HasSuffix(s.Name, ".bias") {
			for i := range s.Size() {
				params[s.Offset+i] = float32(r.NormFloat64() * 0.1)
			}
		}
	}
	return m, params
}

// compress prunes each weight matrix of params to sparsity by magnitude,
// stores the weights with enc and the biases as f32, and returns the
// decoded artifact.
func compress(t testing.TB, m *model.Model, params []float32, sparsity float64, enc artifact.Encoding) *artifact.Artifact {
	t.Helper()
	var ts []artifact.Tensor
	for _, mt := range m.Tensors(params) {
		e, mask := artifact.Encoding{Kind: artifact.F32}, prune.Mask(nil)
		if strings.HasSuffix(mt.Name, ".weight") {
			e = enc
			var err error
			if mask, err = prune.Magnitude(mt.Data, sparsity); err != nil {
				t.Fatal(err)
			}
		}
		at, err := artifact.Quantize(mt.Name, mt.Shape, mt.Data, mask, e)
		if err != nil {
			t.Fatal(err)
		}
		ts = append(ts, at)
	}
	file, err := artifact.Marshal(ts, nil)
	if err != nil {
		t.Fatal(err)
	}
	a, err := artifact.Decode(file, "test artifact")
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func inputs(rows, d int, seed uint64) []float32 {
	r := rand.New(rand.NewPCG(seed, 2))
	x := make([]float32, rows*d)
	for i := range x {
		x[i] = float32(r.Float64()) // like pixels scaled to [0, 1]
	}
	return x
}

// backends returns the go backend and, where they load, blas and cuda.
func backends(t testing.TB) []accel.Backend {
	bs := []accel.Backend{accel.NewGo()}
	if b, err := accel.NewBLAS(); err == nil {
		bs = append(bs, b)
	} else {
		t.Logf("blas backend not tested: %v", err)
	}
	if b, err := accel.NewCUDA(); err == nil {
		t.Cleanup(func() {
			if err := b.Close(); err != nil {
				t.Error(err)
			}
		})
		bs = append(bs, b)
	} else {
		t.Logf("no usable NVIDIA GPU here, cuda backend not tested: %v", err)
	}
	return bs
}

func predict(t testing.TB, p *Predictor, x []float32, rows int) []float32 {
	t.Helper()
	logits := make([]float32, rows*p.m.Outputs())
	if err := p.Predict(x, rows, logits); err != nil {
		t.Fatal(err)
	}
	return logits
}

func argmax(row []float32) int {
	best := 0
	for j, v := range row {
		if v > row[best] {
			best = j
		}
	}
	return best
}

// The dense predictor computes what model.Workspace computes: its logits,
// through a softmax, are Workspace.Predict's probabilities.
func TestNewDenseMatchesWorkspace(t *testing.T) {
	bes := backends(t)
	for _, cfg := range []model.Config{
		{Arch: model.MLP, Inputs: 40, Hidden: []int{30, 20}, Outputs: 10},
		{Arch: model.Softmax, Inputs: 17, Outputs: 3},
		{Arch: model.Linear, Inputs: 9, Outputs: 2},
	} {
		for _, be := range bes {
			m, params := newModel(t, cfg, 1)
			const rows = 1100 // more than one Batch
			x := inputs(rows, m.Inputs(), 3)
			p, err := NewDense(be, m, params)
			if err != nil {
				t.Fatal(err)
			}
			got := predict(t, p, x, rows)
			if err := p.Close(); err != nil {
				t.Fatal(err)
			}
			want := make([]float32, len(got))
			ws := model.NewWorkspace(m, be)
			if err := ws.Predict(params, model.DenseBatch(x, nil, rows), want); err != nil {
				t.Fatal(err)
			}
			ws.Close()
			k := m.Outputs()
			for i := range rows {
				if m.Classifier() {
					model.SoftmaxRow(got[i*k : (i+1)*k])
				}
				for j := range k {
					if d := math.Abs(float64(got[i*k+j] - want[i*k+j])); d > 1e-5*(1+math.Abs(float64(want[i*k+j]))) {
						t.Fatalf("%s on %s: row %d output %d = %g, Workspace.Predict gives %g", m, be.Name(), i, j, got[i*k+j], want[i*k+j])
					}
				}
			}
		}
	}
}

// Every kernel gives the dense kernel's logits for the same artifact, up
// to float32 summation order, and the same class on every row.
func TestKernelsMatchDense(t *testing.T) {
	mlp := model.Config{Arch: model.MLP, Inputs: 64, Hidden: []int{64, 32}, Outputs: 10} // rows of whole q8_0 blocks
	lenet := model.Config{Arch: model.MLP, Inputs: 784, Hidden: []int{300, 100}, Outputs: 10}
	tests := []struct {
		name     string
		cfg      model.Config
		sparsity float64
		enc      artifact.Encoding
		// want is the kernel each layer runs for KernelSparse and KernelInt8.
		wantSparse, wantInt8 Kernel
	}{
		{"int8 sparse", mlp, 0.9, artifact.Encoding{Kind: artifact.Int8, Sparse: true}, KernelSparse, KernelInt8},
		{"int8 sparse f16 scales", mlp, 0.8, artifact.Encoding{Kind: artifact.Int8, Sparse: true, HalfSide: true}, KernelSparse, KernelInt8},
		{"int8 dense", mlp, 0.5, artifact.Encoding{Kind: artifact.Int8}, KernelDense, KernelInt8},
		{"int8-tensor sparse", mlp, 0.9, artifact.Encoding{Kind: artifact.Int8Tensor, Sparse: true}, KernelSparse, KernelInt8},
		{"kmeans sparse", mlp, 0.95, artifact.Encoding{Kind: artifact.KMeans, Bits: 5, Sparse: true}, KernelSparse, KernelSparse},
		{"q8_0 sparse", mlp, 0.9, artifact.Encoding{Kind: artifact.Q8_0, Sparse: true}, KernelSparse, KernelSparse},
		{"q4_0 dense", mlp, 0.7, artifact.Encoding{Kind: artifact.Q4_0}, KernelDense, KernelDense},
		{"f16", mlp, 0.9, artifact.Encoding{Kind: artifact.F16}, KernelDense, KernelDense},
		{"softmax int8 sparse", model.Config{Arch: model.Softmax, Inputs: 30, Outputs: 4}, 0.6, artifact.Encoding{Kind: artifact.Int8, Sparse: true}, KernelSparse, KernelInt8},
		{"LeNet int8 sparse 95%", lenet, 0.95, artifact.Encoding{Kind: artifact.Int8, Sparse: true}, KernelSparse, KernelInt8},
	}
	bes := backends(t)
	for _, tt := range tests {
		m, params := newModel(t, tt.cfg, 7)
		a := compress(t, m, params, tt.sparsity, tt.enc)
		const rows = 1500
		x := inputs(rows, m.Inputs(), 8)
		for _, be := range bes {
			dense, err := Load(be, m, a, KernelDense)
			if err != nil {
				t.Fatal(err)
			}
			want := predict(t, dense, x, rows)
			dense.Close()
			for _, kernel := range []Kernel{KernelSparse, KernelInt8, KernelAuto} {
				name := fmt.Sprintf("%s, %s kernel on %s", tt.name, kernel, be.Name())
				p, err := Load(be, m, a, kernel)
				if err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				for i, k := range p.Kernel() {
					want := map[Kernel]Kernel{KernelSparse: tt.wantSparse, KernelInt8: tt.wantInt8}[kernel]
					if kernel == KernelAuto {
						if !slices.Contains(candidates(a.Tensor(p.layers[i].name+".weight")), k) {
							t.Errorf("%s: layer %d chose %s, not a candidate", name, i, k)
						}
					} else if k != want {
						t.Errorf("%s: layer %d runs %s, want %s", name, i, k, want)
					}
				}
				if kernel == KernelAuto {
					t.Logf("%s: %s", name, p)
				}
				got := predict(t, p, x, rows)
				if err := p.Close(); err != nil {
					t.Fatal(err)
				}
				k := m.Outputs()
				for i := range rows {
					for j := range k {
						if d := math.Abs(float64(got[i*k+j] - want[i*k+j])); d > 1e-5*(1+math.Abs(float64(want[i*k+j]))) {
							t.Fatalf("%s: row %d logit %d = %g, dense kernel gives %g", name, i, j, got[i*k+j], want[i*k+j])
						}
					}
					if g, w := argmax(got[i*k:(i+1)*k]), argmax(want[i*k:(i+1)*k]); g != w {
						t.Fatalf("%s: row %d is class %d, dense kernel says %d", name, i, g, w)
					}
				}
			}
		}
	}
}

// An uncompressed artifact (f32 weights) on the dense kernel gives the
// logits of NewDense on the same parameters.
func TestLoadF32MatchesNewDense(t *testing.T) {
	m, params := newModel(t, model.Config{Arch: model.MLP, Inputs: 20, Hidden: []int{16}, Outputs: 5}, 4)
	a := compress(t, m, params, 0, artifact.Encoding{Kind: artifact.F32})
	be := accel.NewGo()
	x := inputs(50, 20, 5)
	p1, err := Load(be, m, a, KernelDense)
	if err != nil {
		t.Fatal(err)
	}
	p2, err := NewDense(be, m, params)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := predict(t, p1, x, 50), predict(t, p2, x, 50); !slices.Equal(got, want) {
		t.Fatal("dense kernel of the f32 artifact and NewDense disagree")
	}
	if p1.Bytes() != 4*m.NumParams() || p2.Bytes() != 4*m.NumParams() {
		t.Fatalf("Bytes = %d and %d, want %d", p1.Bytes(), p2.Bytes(), 4*m.NumParams())
	}
	if s := p1.String(); s != "fc1=dense fc2=dense" {
		t.Fatalf("String() = %q", s)
	}
	p1.Close()
	p2.Close()
}

func TestLoadErrors(t *testing.T) {
	cfg := model.Config{Arch: model.MLP, Inputs: 12, Hidden: []int{8}, Outputs: 3}
	m, params := newModel(t, cfg, 2)
	a := compress(t, m, params, 0.5, artifact.Encoding{Kind: artifact.Int8, Sparse: true})
	be := accel.NewGo()

	missing := *a
	missing.Tensors = slices.DeleteFunc(slices.Clone(a.Tensors), func(t artifact.Tensor) bool { return t.Name == "fc2.bias" })
	wider, _ := newModel(t, model.Config{Arch: model.MLP, Inputs: 12, Hidden: []int{9}, Outputs: 3}, 2)
	softmax, _ := newModel(t, model.Config{Arch: model.Softmax, Inputs: 12, Outputs: 3}, 2)
	tests := []struct {
		name   string
		m      *model.Model
		a      *artifact.Artifact
		kernel Kernel
		want   string
	}{
		{"missing tensor", m, &missing, KernelDense, `no tensor "fc2.bias"`},
		{"shape mismatch", wider, a, KernelSparse, `tensor "fc1.weight" has shape [8 12] in the artifact, mlp 12-9-3 needs [9 12]`},
		{"other architecture", softmax, a, KernelAuto, `no tensor "linear.weight"`},
		{"unknown kernel", m, a, "fp8", `unknown kernel "fp8"`},
	}
	for _, tt := range tests {
		p, err := Load(be, tt.m, tt.a, tt.kernel)
		if err == nil {
			p.Close()
			t.Errorf("%s: Load succeeded", tt.name)
			continue
		}
		if !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %q does not say %q", tt.name, err, tt.want)
		}
	}
	if _, err := NewDense(be, m, params[1:]); err == nil {
		t.Error("NewDense with a short parameter vector succeeded")
	}
}

func TestPredictShapes(t *testing.T) {
	m, params := newModel(t, model.Config{Arch: model.MLP, Inputs: 6, Hidden: []int{4}, Outputs: 3}, 3)
	p, err := NewDense(accel.NewGo(), m, params)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := p.Predict(nil, 0, nil); err != nil {
		t.Fatalf("Predict of no rows: %v", err)
	}
	for name, f := range map[string]func(){
		"x too short":      func() { p.Predict(make([]float32, 11), 2, make([]float32, 6)) },
		"logits too short": func() { p.Predict(make([]float32, 12), 2, make([]float32, 5)) },
	} {
		func() {
			defer func() {
				err, _ := recover().(error)
				if !errors.Is(err, model.ErrShape) {
					t.Errorf("%s: panic %v, want one wrapping model.ErrShape", name, err)
				}
			}()
			f()
		}()
	}
}

func TestLatency(t *testing.T) {
	m, params := newModel(t, model.Config{Arch: model.MLP, Inputs: 32, Hidden: []int{16}, Outputs: 4}, 5)
	p, err := NewDense(accel.NewGo(), m, params)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ms, err := Latency(p, inputs(3000, 32, 6), 3000, 3)
	if err != nil || !(ms > 0) {
		t.Fatalf("Latency = %g ms, %v", ms, err)
	}
	if _, err := Latency(p, nil, 0, 0); err == nil {
		t.Fatal("Latency with 0 reps succeeded")
	}
}
