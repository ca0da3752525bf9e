package llm

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/lightbeam-ml/lightbeam/storage"
	"github.com/lightbeam-ml/lightbeam/storage/gcstest"
)

// TestOpenGCS reads a model directory through gs:// (a real GCS emulator):
// the same metadata and tensor plan as from the local copy, the files named
// by their gs:// paths.
func TestOpenGCS(t *testing.T) {
	ctx := context.Background()
	local := fixture(t, "qwen3")
	root := gcstest.Root(t)
	remote := storage.Join(root, "qwen3")
	entries, err := os.ReadDir(local)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(local, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := storage.WriteBytes(ctx, storage.Join(remote, e.Name()), b); err != nil {
			t.Fatal(err)
		}
	}
	lm, err := Open(ctx, local, Options{})
	if err != nil {
		t.Fatal(err)
	}
	rm, err := Open(ctx, remote+"/", Options{})
	if err != nil {
		t.Fatal(err)
	}
	lkv, _ := lm.KV(1)
	rkv, _ := rm.KV(1)
	if !reflect.DeepEqual(lkv, rkv) {
		t.Error("metadata read through gs:// differs from the local copy's")
	}
	if len(rm.Tensors) != len(lm.Tensors) || len(rm.Files) != 1 || rm.Files[0] != storage.Join(remote, "model.safetensors") {
		t.Fatalf("%d tensors from %v, want %d from %s", len(rm.Tensors), rm.Files, len(lm.Tensors), storage.Join(remote, "model.safetensors"))
	}
	for i := range lm.Tensors {
		a, b := lm.Tensors[i], rm.Tensors[i]
		a.File, b.File = "", ""
		a.Generation, b.Generation = 0, 0
		if !reflect.DeepEqual(a, b) {
			t.Errorf("tensor %d: %+v through gs://, %+v locally", i, b, a)
		}
	}
}
