package llm

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// splitScript rewrites a directory's model.safetensors as two shards and
// model.safetensors.index.json, as transformers' save_pretrained does.
const splitScript = `
import json, os, sys
from safetensors.numpy import load_file, save_file
d = sys.argv[1]
t = load_file(os.path.join(d, "model.safetensors"))
names = sorted(t)
half = len(names) // 2
wm = {}
for i, part in enumerate((names[:half], names[half:])):
    f = f"model-{i+1:05d}-of-00002.safetensors"
    save_file({n: t[n] for n in part}, os.path.join(d, f), metadata={"format": "pt"})
    wm.update({n: f for n in part})
os.remove(os.path.join(d, "model.safetensors"))
json.dump({"metadata": {}, "weight_map": wm}, open(os.path.join(d, "model.safetensors.index.json"), "w"))
`

func TestShardedCheckpoint(t *testing.T) {
	ctx := context.Background()
	src := fixture(t, "qwen3")
	one, err := Open(ctx, src, Options{})
	if err != nil {
		t.Fatal(err)
	}
	d := copyDir(t, src)
	python(t, splitScript, d)
	two, err := Open(ctx, d, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(two.Files) != 2 {
		t.Fatalf("files %v, want two shards", two.Files)
	}
	shape := func(m *Model) map[string][]int64 {
		out := map[string][]int64{}
		for _, tt := range m.Tensors {
			out[tt.Name] = tt.Shape
		}
		return out
	}
	if !reflect.DeepEqual(shape(one), shape(two)) {
		t.Error("the sharded checkpoint's plan differs from the single file's")
	}
	// An index that names a tensor its shard lacks.
	editJSON(t, filepath.Join(d, "model.safetensors.index.json"), "weight_map", map[string]any{
		"model.embed_tokens.weight": "model-00002-of-00002.safetensors"})
	if _, err := Open(ctx, d, Options{}); err == nil || !strings.Contains(err.Error(), "does not match its shards") {
		t.Errorf("a wrong index: %v", err)
	}
	editJSON(t, filepath.Join(d, "model.safetensors.index.json"), "weight_map", map[string]any{"x": "../m.safetensors"})
	if _, err := Open(ctx, d, Options{}); err == nil || !strings.Contains(err.Error(), "not a file beside the index") {
		t.Errorf("an index naming a path: %v", err)
	}
	os.Remove(filepath.Join(d, "model.safetensors.index.json"))
	if m, err := Open(ctx, d, Options{}); err != nil || len(m.Files) != 2 {
		t.Errorf("shards without an index: %v", err)
	}
}
