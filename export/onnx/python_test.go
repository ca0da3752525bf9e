package onnx

import (
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/lightbeam-ml/lightbeam/export"

	"github.com/lightbeam-ml/lightbeam/accel"
	"github.com/lightbeam-ml/lightbeam/compress/artifact"
	"github.com/lightbeam-ml/lightbeam/data/shardio"
	"github.com/lightbeam-ml/lightbeam/export/onnx/onnxtest"
	"github.com/lightbeam-ml/lightbeam/model"
)

// ONNX Runtime, on raw rows, computes what lightbeam computes on the same
// rows after preprocessing's scale: each architecture from a model file,
// and MLP artifacts whose weights are int8 (dense, sparse, per tensor) or
// exported dequantized (q4_0). The onnx checker (full_check) passes on
// every file. MNIST, trained and compressed by the pipelines, is the CLI's
// test (cli/export_test.go).
func TestONNXRuntimeMatchesLightbeam(t *testing.T) {
	py := onnxtest.Python(t)
	be := accel.NewGo()
	defer be.Close()
	mlp := model.Config{Arch: model.MLP, Inputs: 12, Hidden: []int{16, 8}, Outputs: 4}
	for _, tt := range []struct {
		name  string
		cfg   model.Config
		scale string
		enc   *artifact.Encoding
		int8  bool
	}{
		{"mlp", mlp, "standard", nil, false},
		{"softmax 2 classes", model.Config{Arch: model.Softmax, Inputs: 12, Outputs: 2}, "minmax", nil, false},
		{"softmax no scale", model.Config{Arch: model.Softmax, Inputs: 12, Outputs: 5}, "none", nil, false},
		{"linear", model.Config{Arch: model.Linear, Inputs: 12, Outputs: 2}, "standard", nil, false},
		{"mlp int8 sparse", mlp, "standard", &artifact.Encoding{Kind: artifact.Int8, Sparse: true}, true},
		{"mlp int8 dense", mlp, "minmax", &artifact.Encoding{Kind: artifact.Int8}, true},
		{"mlp int8-tensor", mlp, "standard", &artifact.Encoding{Kind: artifact.Int8Tensor}, true},
		{"mlp q4_0", mlp, "standard", &artifact.Encoding{Kind: artifact.Q4_0}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m, p := mustModel(t, tt.cfg)
			var src *export.Source
			if tt.enc != nil {
				src = artifactSource(t, m, p, *tt.enc, 0.6*boolf(tt.enc.Sparse))
			} else {
				src = modelSource(t, m, p, nil)
			}
			sc := pythonScale(tt.scale, m.Inputs())
			raw, sum, err := Export(src, sc)
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(t.TempDir(), "m.onnx")
			if err := os.WriteFile(path, raw, 0o644); err != nil {
				t.Fatal(err)
			}
			n, d, k := 50, m.Inputs(), m.Outputs()
			x := rawRows(n, d)
			got, info := onnxtest.Run(t, py, path, x, n, d)

			// lightbeam: preprocess's scale (float32, as transforms.Scale
			// applies it), then Predict with the values the file holds.
			scaled := slices.Clone(x)
			if sc.Method != "none" {
				for i := range scaled {
					j := i % d
					scaled[i] = (scaled[i] - float32(sc.Offset[j])) * float32(sc.Factor[j])
				}
			}
			ws := model.NewWorkspace(m, be)
			defer ws.Close()
			want := make([]float32, n*k)
			if err := ws.Predict(src.Params, model.DenseBatch(scaled, nil, n), want); err != nil {
				t.Fatal(err)
			}
			if len(got) != len(want) || !slices.Equal(info.OutputShape, []int{n, k}) {
				t.Fatalf("onnxruntime gave shape %v (%d values), want [%d %d]", info.OutputShape, len(got), n, k)
			}
			worst := 0.0
			for i := range got {
				diff := math.Abs(float64(got[i] - want[i]))
				if !m.Classifier() {
					diff /= math.Max(1, math.Abs(float64(want[i])))
				}
				worst = math.Max(worst, diff)
			}
			if worst > 1e-5 {
				t.Errorf("max difference %.3g between onnxruntime and lightbeam, want ≤ 1e-5", worst)
			}
			t.Logf("%s: %d bytes, ops %v, max difference %.3g", m, sum.Bytes, info.Ops, worst)
			if name := info.Inputs[0][0]; name != InputName || info.Inputs[0][2].([]any)[0] != "N" {
				t.Errorf("input %v", info.Inputs)
			}
			if info.Outputs[0][0] != sum.Output || info.IRVersion != IRVersion || info.Opset["ai.onnx"] != Opset || info.Producer[0] != "lightbeam" {
				t.Errorf("outputs %v, ir %d, opset %v, producer %v", info.Outputs, info.IRVersion, info.Opset, info.Producer)
			}
			if has := slices.Contains(info.Ops, "DequantizeLinear"); has != tt.int8 || tt.int8 && info.Initializers["fc1.weight.quantized"] != "int8" {
				t.Errorf("ops %v, initializers %v; want int8 weights %v", info.Ops, info.Initializers, tt.int8)
			}
		})
	}
}

func boolf(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// pythonScale is a scale of the method for d features whose offsets and
// factors are float32 values, as preprocess writes them.
func pythonScale(method string, d int) shardio.Scale {
	if method == "none" {
		return shardio.Scale{Method: "none"}
	}
	sc := testScale(d)
	sc.Method = method
	return sc
}

// rawRows returns n rows of d raw features spread like unscaled data:
// each feature with its own offset and spread.
func rawRows(n, d int) []float32 {
	rng := rand.New(rand.NewPCG(5, 6))
	x := make([]float32, n*d)
	for i := range x {
		j := i % d
		x[i] = float32(0.5*float64(j) - 1 + (1+0.25*float64(j))*rng.NormFloat64())
	}
	return x
}
