package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lightbeam-ml/lightbeam/model"
)

// TestCompressCheckpointLightbeam: compress --checkpoint --quant=int8
// --format=lightbeam writes OUT/model.lbc, which lightbeam inspect reads
// as a version 2 artifact of int8 and f32 records; gguf+int8 is refused
// with the reason.
func TestCompressCheckpointLightbeam(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "ckpt.safetensors")
	w := make([]float32, 8*64)
	for i := range w {
		w[i] = float32(i%17) - 8
	}
	if err := model.WriteSafetensors(p, []model.Tensor{
		{Name: "layers.0.weight", Shape: []int{8, 64}, Data: w},
		{Name: "layers.0.bias", Shape: []int{8}, Data: w[:8]},
	}, nil); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	if err := run([]string{"compress", "--checkpoint=" + p, "--quant=int8", "--format=lightbeam", "--out=" + out}); err != nil {
		t.Fatalf("compress: %v", err)
	}
	got, err := inspect(context.Background(), filepath.Join(out, "model.lbc"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"lightbeam artifact v2", "layers.0.weight", "int8", "layers.0.bias", "f32"} {
		if !strings.Contains(got, want) {
			t.Errorf("inspect lacks %q:\n%s", want, got)
		}
	}
	err = run([]string{"compress", "--checkpoint=" + p, "--quant=int8", "--out=" + filepath.Join(dir, "gguf")})
	if err == nil || !strings.Contains(err.Error(), "GGUF has no int8 type") {
		t.Errorf("gguf with int8: %v", err)
	}
}
