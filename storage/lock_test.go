package storage

import (
	"os"
	"path/filepath"
	"testing"
)

func TestRemoveTemporaries(t *testing.T) {
	out := t.TempDir()
	keep := []string{"model.safetensors", "done/a.json", ".hidden", "x.tmp-1"}
	drop := []string{".model.safetensors.tmp-123", "done/.a.json.tmp-9"}
	for _, f := range append(append([]string{}, keep...), drop...) {
		p := filepath.Join(out, f)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	n, err := RemoveTemporaries(out)
	if err != nil || n != len(drop) {
		t.Fatalf("RemoveTemporaries = %d, %v; want %d, nil", n, err, len(drop))
	}
	for _, f := range keep {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Errorf("%s was removed: %v", f, err)
		}
	}
	for _, f := range drop {
		if _, err := os.Stat(filepath.Join(out, f)); err == nil {
			t.Errorf("%s is still there", f)
		}
	}
	if n, err := RemoveTemporaries(filepath.Join(out, "missing")); n != 0 || err != nil {
		t.Errorf("on a missing directory: %d, %v", n, err)
	}
}
