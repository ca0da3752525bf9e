package storage

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
)

func TestReaderAt(t *testing.T) {
	ctx := context.Background()
	p := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(p, []byte("0123456789"), 0o644); err != nil {
		t.Fatal(err)
	}
	info, err := Stat(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	r := NewReaderAt(ctx, p, info.Generation)
	b := make([]byte, 4)
	if n, err := r.ReadAt(b, 3); n != 4 || err != nil || string(b) != "3456" {
		t.Errorf("ReadAt(4, 3) = %d %v %q", n, err, b)
	}
	if n, err := r.ReadAt(b, 8); n != 2 || err != io.EOF || string(b[:2]) != "89" {
		t.Errorf("ReadAt(4, 8) = %d %v %q, want 2, EOF", n, err, b[:n])
	}
	if r.N.Load() != 6 {
		t.Errorf("N = %d, want 6", r.N.Load())
	}
	// Another version of the file: pinned reads refuse it.
	if err := os.WriteFile(p, []byte("something else, longer"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := r.ReadAt(b, 0); !errors.Is(err, ErrChanged) {
		t.Errorf("after a rewrite: err = %v, want ErrChanged", err)
	}
}
