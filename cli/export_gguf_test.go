package cli

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/lightbeam-ml/lightbeam/compress/artifact"
	"github.com/lightbeam-ml/lightbeam/export/convert"
	"github.com/lightbeam-ml/lightbeam/internal/pyenv"
	"github.com/lightbeam-ml/lightbeam/model"
	"github.com/lightbeam-ml/lightbeam/model/modeltest"
)

// ggufCheck reads a GGUF file with gguf-py and, per tensor, says its type
// and shape, whether its values dequantized by gguf.quants.dequantize
// equal the float32 values in the .f32 file beside it (named by tensor),
// and, for quantize=1, whether its bytes are gguf.quants.quantize's for
// those values.
const ggufCheck = `
import json, sys
import numpy as np, gguf
path, ref, quantize = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
r = gguf.GGUFReader(path)
out = {"fields": {k: f.contents() for k, f in r.fields.items() if f.types and f.types[0] == gguf.GGUFValueType.STRING}, "tensors": {}}
for t in r.tensors:
    shape = [int(s) for s in reversed(list(t.shape))]
    want = np.fromfile(f"{ref}/{t.name}.f32", dtype="<f4").reshape(shape)
    raw = np.ascontiguousarray(t.data)
    got = gguf.quants.dequantize(raw, t.tensor_type).reshape(shape)
    rec = {"type": t.tensor_type.name, "shape": shape, "equal": bool(np.array_equal(got, want))}
    if quantize and t.tensor_type.name in ("Q8_0", "Q4_0"):
        rec["quantize_equal"] = gguf.quants.quantize(want, t.tensor_type).tobytes() == raw.tobytes()
    out["tensors"][t.name] = rec
json.dump(out, sys.stdout)
`

type ggufTensor struct {
	Type          string `json:"type"`
	Shape         []int  `json:"shape"`
	Equal         bool   `json:"equal"`
	QuantizeEqual *bool  `json:"quantize_equal"`
}

func checkGGUF(t *testing.T, py, path string, ref map[string][]float32, quantize bool) (map[string]ggufTensor, map[string]string) {
	t.Helper()
	dir := t.TempDir()
	for name, v := range ref {
		b := make([]byte, 4*len(v))
		for i, x := range v {
			binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
		}
		if err := os.WriteFile(filepath.Join(dir, name+".f32"), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	q := "0"
	if quantize {
		q = "1"
	}
	out, err := exec.Command(py, "-c", ggufCheck, path, dir, q).CombinedOutput()
	if err != nil {
		t.Fatalf("gguf-py on %s: %v\n%s", path, err, out)
	}
	var res struct {
		Fields  map[string]string     `json:"fields"`
		Tensors map[string]ggufTensor `json:"tensors"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("%s: %v", out, err)
	}
	return res.Tensors, res.Fields
}

// TestExportGGUF exports an MLP's model file (F32, and quantized to Q8_0
// and Q4_K) and a Q4_0 artifact of it, and reads each back with gguf-py:
// every tensor with lightbeam's name and shape, the values the file held
// (the artifact's Q4_0 blocks dequantize to exactly its values), Q8_0
// bytes equal to gguf.quants.quantize's, and the model's metadata.
func TestExportGGUF(t *testing.T) {
	py := pyenv.Need(t, "gguf", "numpy")
	ctx := context.Background()
	dir := t.TempDir()
	m, err := model.New(model.Config{Arch: model.MLP, Inputs: 256, Hidden: []int{256}, Outputs: 10})
	if err != nil {
		t.Fatal(err)
	}
	params := m.Init(3)
	modelPath := filepath.Join(dir, "model.safetensors")
	modeltest.WriteModel(t, modelPath, m, params, map[string]string{"preprocess.scale.method": "minmax"})
	_, _, meta := modeltest.ReadModel(t, modelPath)
	values := map[string][]float32{}
	var ats []artifact.Tensor
	for _, ts := range m.Tensors(params) {
		values[ts.Name] = ts.Data
		enc := artifact.Encoding{Kind: artifact.F32}
		if len(ts.Shape) == 2 {
			enc.Kind = artifact.Q4_0
		}
		at, err := artifact.Quantize(ts.Name, ts.Shape, ts.Data, nil, enc)
		if err != nil {
			t.Fatal(err)
		}
		ats = append(ats, at)
	}
	artPath := filepath.Join(dir, "model.lbc")
	artBytes, err := artifact.Marshal(ats, meta)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(artPath, artBytes, 0o644); err != nil {
		t.Fatal(err)
	}
	artValues := map[string][]float32{}
	for i := range ats {
		artValues[ats[i].Name] = ats[i].Dequantize()
	}

	for _, tt := range []struct {
		name, model, quant string
		ref                map[string][]float32
		weightType         string
		exact              bool // the dequantized values are the reference's
	}{
		{"f32", modelPath, "f32", values, "F32", true},
		{"q8_0", modelPath, "q8_0", values, "Q8_0", false},
		{"q4_k", modelPath, "q4_k", values, "Q4_K", false},
		{"artifact q4_0", artPath, "f32", artValues, "Q4_0", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			out := filepath.Join(dir, tt.name+".gguf")
			line, err := convert.Write(ctx, convert.Config{Model: tt.model, Format: "gguf", Out: out, Quant: tt.quant})
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(line, "GGUF v3") {
				t.Errorf("summary %q", line)
			}
			got, fields := checkGGUF(t, py, out, tt.ref, tt.quant == "q8_0")
			if len(got) != len(m.Layout()) {
				t.Errorf("gguf-py reads %d tensors, the model has %d", len(got), len(m.Layout()))
			}
			for _, spec := range m.Layout() {
				g := got[spec.Name]
				want := "F32"
				if len(spec.Shape) == 2 {
					want = tt.weightType
				}
				if g.Type != want || !slices.Equal(g.Shape, spec.Shape) {
					t.Errorf("%s: %s %v, want %s %v", spec.Name, g.Type, g.Shape, want, spec.Shape)
				}
				if (tt.exact || want == "F32") && !g.Equal {
					t.Errorf("%s: gguf-py's values differ from the file's", spec.Name)
				}
				if g.QuantizeEqual != nil && !*g.QuantizeEqual {
					t.Errorf("%s: %s bytes differ from gguf.quants.quantize's", spec.Name, g.Type)
				}
				if tt.quant == "q8_0" && want == "Q8_0" && g.QuantizeEqual == nil {
					t.Errorf("%s: not compared with gguf.quants.quantize", spec.Name)
				}
			}
			desc, err := inspect(ctx, out)
			if err != nil || !strings.Contains(desc, "GGUF, 4 tensors") {
				t.Errorf("inspect %s: %v\n%s", out, err, desc)
			}
			for name, want := range map[string]string{"fc1.weight": tt.weightType, "fc2.weight": tt.weightType, "fc1.bias": "F32"} {
				if got := typeColumn(desc, name); got != want {
					t.Errorf("inspect %s: %s has type %q, want %q:\n%s", out, name, got, want, desc)
				}
			}
			if fields["lightbeam.source"] != tt.model || fields["preprocess.scale.method"] != "minmax" || fields[model.MetaArch] != "mlp" {
				t.Errorf("metadata %v: want the source and the model's metadata", fields)
			}
		})
	}
	if _, err := convert.Write(ctx, convert.Config{Model: modelPath, Format: "gguf", Out: filepath.Join(dir, "x.gguf"), Quant: "int8"}); err == nil || !strings.Contains(err.Error(), "--quant=int8") {
		t.Errorf("--quant=int8: %v", err)
	}
}

// typeColumn is the type column of the tensor's row in inspect's
// description of a GGUF file ("" when no row names it).
func typeColumn(desc, tensor string) string {
	for _, line := range strings.Split(desc, "\n") {
		if f := strings.Fields(line); len(f) > 1 && f[0] == tensor {
			return f[1]
		}
	}
	return ""
}
