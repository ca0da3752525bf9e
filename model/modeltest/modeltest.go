// Package modeltest writes and reads local model files and checkpoints
// for tests. lightbeam itself reads and writes them through storage
// (model.EncodeModel, DecodeModel, EncodeCheckpoint, DecodeCheckpoint), on
// any store.
package modeltest

import (
	"bytes"
	"os"
	"testing"

	"github.com/lightbeam-ml/lightbeam/model"
)

// WriteModel writes the model file of m and params, with meta, at path.
func WriteModel(t testing.TB, path string, m *model.Model, params []float32, meta map[string]string) {
	t.Helper()
	var b bytes.Buffer
	if err := model.EncodeModel(&b, m, params, meta); err != nil {
		t.Fatalf("writing %s: %v", path, err)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// ReadModel reads the model file at path (model.DecodeModel).
func ReadModel(t testing.TB, path string) (*model.Model, []float32, map[string]string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	m, params, meta, err := model.DecodeModel(data, path)
	if err != nil {
		t.Fatal(err)
	}
	return m, params, meta
}

// ReadCheckpoint reads the checkpoint file at path
// (model.DecodeCheckpoint).
func ReadCheckpoint(t testing.TB, path string) *model.Checkpoint {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	ck, err := model.DecodeCheckpoint(data, path)
	if err != nil {
		t.Fatal(err)
	}
	return ck
}
