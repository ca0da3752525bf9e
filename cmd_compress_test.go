package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lightbeam-ml/lightbeam/compress/artifact"
	"github.com/lightbeam-ml/lightbeam/model"
)

// A recipe file sets the flags not given on the command line.
func TestApplyRecipe(t *testing.T) {
	recipe := filepath.Join(t.TempDir(), "r.json")
	os.WriteFile(recipe, []byte(`{"sparsity": "0.92,0.91,0.74", "prune-steps": 6, "quant": "kmeans:5", "lr": 0.005}`), 0o644)
	fs := newFlagSet(commands["compress"])
	commands["compress"].flags(fs)
	if err := fs.Parse([]string{"--quant=int8", "--recipe=" + recipe}); err != nil {
		t.Fatal(err)
	}
	if err := applyRecipe(fs, recipe); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"quant": "int8", "sparsity": "0.92,0.91,0.74", "prune-steps": "6", "lr": "0.005"} {
		if got := fs.Lookup(name).Value.String(); got != want {
			t.Errorf("--%s = %s, want %s", name, got, want)
		}
	}
	os.WriteFile(recipe, []byte(`{"qaunt": "int8"}`), 0o644)
	fs = newFlagSet(commands["compress"])
	commands["compress"].flags(fs)
	if err := applyRecipe(fs, recipe); err == nil || !strings.Contains(err.Error(), `"qaunt" is not a flag`) {
		t.Errorf("a misspelt key: %v", err)
	}
}

// inspect describes artifacts and model files, and names a corrupt file.
func TestInspect(t *testing.T) {
	dir := t.TempDir()
	m, err := model.New(model.Config{Arch: model.MLP, Inputs: 64, Hidden: []int{32}, Outputs: 3})
	if err != nil {
		t.Fatal(err)
	}
	params := m.Init(1)
	var ts []artifact.Tensor
	for _, mt := range m.Tensors(params) {
		q, err := artifact.Quantize(mt.Name, mt.Shape, mt.Data, nil, artifact.Encoding{Kind: artifact.Q8_0})
		if err != nil {
			q, err = artifact.Quantize(mt.Name, mt.Shape, mt.Data, nil, artifact.Encoding{Kind: artifact.F32})
		}
		if err != nil {
			t.Fatal(err)
		}
		ts = append(ts, q)
	}
	art := filepath.Join(dir, "m.lbc")
	if err := artifact.WriteFile(art, ts, nil); err != nil {
		t.Fatal(err)
	}
	out, err := inspect(context.Background(), art)
	if err != nil || !strings.Contains(out, "fc1.weight") || !strings.Contains(out, "q8_0") || !strings.Contains(out, "[32 64]") {
		t.Fatalf("inspect artifact: %v\n%s", err, out)
	}
	st := filepath.Join(dir, "m.safetensors")
	if err := model.SaveModel(st, m, params, nil); err != nil {
		t.Fatal(err)
	}
	if out, err = inspect(context.Background(), st); err != nil || !strings.Contains(out, "fc2.bias") {
		t.Fatalf("inspect model: %v\n%s", err, out)
	}
	raw, _ := os.ReadFile(art)
	os.WriteFile(art, raw[:len(raw)-7], 0o644)
	if _, err := inspect(context.Background(), art); err == nil || !strings.Contains(err.Error(), art) {
		t.Errorf("truncated artifact: %v", err)
	}
}
