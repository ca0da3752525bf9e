package cli

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lightbeam-ml/lightbeam/compress/artifact"
	"github.com/lightbeam-ml/lightbeam/model"
	"github.com/lightbeam-ml/lightbeam/model/modeltest"
)

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
	b, err := artifact.Marshal(ts, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(art, b, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := inspect(context.Background(), art)
	if err != nil || !strings.Contains(out, "fc1.weight") || !strings.Contains(out, "q8_0") || !strings.Contains(out, "[32 64]") {
		t.Fatalf("inspect artifact: %v\n%s", err, out)
	}
	st := filepath.Join(dir, "m.safetensors")
	modeltest.WriteModel(t, st, m, params, nil)
	if out, err = inspect(context.Background(), st); err != nil || !strings.Contains(out, "fc2.bias") {
		t.Fatalf("inspect model: %v\n%s", err, out)
	}
	raw, _ := os.ReadFile(art)
	os.WriteFile(art, raw[:len(raw)-7], 0o644)
	if _, err := inspect(context.Background(), art); err == nil || !strings.Contains(err.Error(), art) {
		t.Errorf("truncated artifact: %v", err)
	}
}

// TestInspectCheckpointHeader: a safetensors file that is not a lightbeam
// model is listed from its header.
func TestInspectCheckpointHeader(t *testing.T) {
	p := filepath.Join(t.TempDir(), "other.safetensors")
	if err := model.WriteSafetensors(p, []model.Tensor{{Name: "layers.0.w", Shape: []int{2, 3}, Data: make([]float32, 6)}}, map[string]string{"format": "pt"}); err != nil {
		t.Fatal(err)
	}
	out, err := inspect(context.Background(), p)
	if err != nil || !strings.Contains(out, "safetensors checkpoint, 1 tensors") || !strings.Contains(out, "layers.0.w") || !strings.Contains(out, "F32") {
		t.Errorf("inspect: %v\n%s", err, out)
	}
}
