// Package onnxtest runs exported ONNX files with the real Python clients
// for tests: the onnx package's full checker, then ONNX Runtime on the CPU
// at graph optimization level BASIC (run_onnx.py). The interpreter is
// internal/pyenv's, so a missing onnx or onnxruntime fails the test under
// CI=true and skips it elsewhere, saying how to install them.
package onnxtest

import (
	_ "embed"
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

//go:embed run_onnx.py
var script []byte

// Info is what run_onnx.py reports about a model, as onnx and ONNX Runtime
// read it.
type Info struct {
	IRVersion    int64             `json:"ir_version"`
	Opset        map[string]int64  `json:"opset"`
	Producer     []string          `json:"producer"` // name, version
	Inputs       [][]any           `json:"inputs"`   // name, type, shape as strings
	Outputs      [][]any           `json:"outputs"`
	Ops          []string          `json:"ops"`
	Initializers map[string]string `json:"initializers"` // name: numpy dtype
	Metadata     map[string]string `json:"metadata"`
	OutputShape  []int             `json:"output_shape"`
}

// Python returns the interpreter that has onnx, onnxruntime and numpy (see
// pyenv.Need).
func Python(t testing.TB) string {
	t.Helper()
	return pyenv.Need(t, "numpy", "onnx", "onnxruntime")
}

// Run checks the ONNX file at model and runs it on x (n rows of d raw
// features), returning the graph's output (row-major float32) and Info. A
// checker or runtime error fails the test.
func Run(t testing.TB, py, model string, x []float32, n, d int) ([]float32, Info) {
	t.Helper()
	dir := t.TempDir()
	scriptPath, in, out := filepath.Join(dir, "run_onnx.py"), filepath.Join(dir, "in.f32"), filepath.Join(dir, "out.f32")
	raw := make([]byte, 0, 4*len(x))
	for _, v := range x {
		raw = binary.LittleEndian.AppendUint32(raw, math.Float32bits(v))
	}
	if err := os.WriteFile(scriptPath, script, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(in, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(py, scriptPath, model, in, strconv.Itoa(n), strconv.Itoa(d), out)
	cmd.Stderr = os.Stderr
	stdout, err := cmd.Output()
	if err != nil {
		t.Fatalf("run_onnx.py %s: %v", model, err)
	}
	var info Info
	if err := json.Unmarshal(stdout, &info); err != nil {
		t.Fatalf("run_onnx.py %s: output %q: %v", model, stdout, err)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	y := make([]float32, len(b)/4)
	for i := range y {
		y[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return y, info
}
