package convert

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lightbeam-ml/lightbeam/model"
	"github.com/lightbeam-ml/lightbeam/model/modeltest"
)

// Write's errors: flags missing, a format it does not write, a model
// that records no scale without --data; none leaves a file.
func TestWriteErrors(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	m, err := model.New(model.Config{Arch: model.Softmax, Inputs: 4, Outputs: 3})
	if err != nil {
		t.Fatal(err)
	}
	bare := filepath.Join(dir, "bare.safetensors")
	modeltest.WriteModel(t, bare, m, m.Init(1), nil)
	out := filepath.Join(dir, "m.out")
	for _, tt := range []struct {
		name    string
		c       Config
		wantErr string
	}{
		{"no format", Config{Model: bare, Out: out}, "--model, --format and --out are required"},
		{"unknown format", Config{Model: bare, Format: "tflite", Out: out}, "--format=tflite: unknown format (want onnx or gguf)"},
		{"no scale", Config{Model: bare, Format: "onnx", Out: out}, bare + " records no preprocessing scale (metadata preprocess.scale.method): pass --data=PREP_DIR"},
		{"missing model", Config{Model: filepath.Join(dir, "nope.safetensors"), Format: "onnx", Out: out}, "nope.safetensors"},
		{"data without manifest", Config{Model: bare, Format: "onnx", Out: out, Data: dir}, "manifest.json: missing"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Write(ctx, tt.c); err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
			}
			if _, err := os.Stat(out); !os.IsNotExist(err) {
				t.Errorf("a failed export left %s", out)
			}
		})
	}
}
