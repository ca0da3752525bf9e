package model

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/lightbeam-ml/lightbeam/internal/pyenv"
)

// TestPythonReadsModel writes models with lightbeam, predicts a few rows
// with testdata/predict.py (numpy on tensors loaded by safetensors) and
// compares with Workspace.Predict.
func TestPythonReadsModel(t *testing.T) {
	python := pyenv.Need(t, "numpy", "safetensors.numpy")
	be := backend(t)
	dir := t.TempDir()
	for _, cfg := range []Config{
		{Arch: MLP, Inputs: 12, Hidden: []int{9, 7}, Outputs: 4},
		{Arch: Softmax, Inputs: 12, Outputs: 2},
		{Arch: Linear, Inputs: 12, Outputs: 2},
	} {
		m := mustNew(t, cfg)
		params := m.Init(21)
		for i := range params { // non-zero biases
			if params[i] == 0 {
				params[i] = 0.05 * float32(i%7-3)
			}
		}
		b := randomBatch(m, 6, 22)
		model := filepath.Join(dir, string(cfg.Arch)+".safetensors")
		var file bytes.Buffer
		if err := EncodeModel(&file, m, params, map[string]string{"note": "python test"}); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(model, file.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		input := filepath.Join(dir, string(cfg.Arch)+".f32")
		raw := make([]byte, 0, 4*len(b.X))
		for _, v := range b.X {
			raw = binary.LittleEndian.AppendUint32(raw, math.Float32bits(v))
		}
		if err := os.WriteFile(input, raw, 0o644); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(python, "testdata/predict.py", model, input, strconv.Itoa(b.N), strconv.Itoa(m.Inputs()))
		cmd.Stderr = os.Stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("%s: predict.py: %v", m, err)
		}
		var py [][]float64
		if err := json.Unmarshal(out, &py); err != nil {
			t.Fatalf("%s: predict.py output %q: %v", m, out, err)
		}
		ws := NewWorkspace(m, be)
		k := m.Outputs()
		want := make([]float32, b.N*k)
		if err := ws.Predict(params, b, want); err != nil {
			t.Fatal(err)
		}
		ws.Close()
		if len(py) != b.N {
			t.Fatalf("%s: python returned %d rows, want %d", m, len(py), b.N)
		}
		for i := range py {
			if len(py[i]) != k {
				t.Fatalf("%s: python row %d has %d outputs, want %d", m, i, len(py[i]), k)
			}
			for j, v := range py[i] {
				if math.Abs(v-float64(want[i*k+j])) > 1e-4 {
					t.Errorf("%s row %d output %d: python %v, lightbeam %v", m, i, j, v, want[i*k+j])
				}
			}
		}
	}
}
