package quantize

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/lightbeam-ml/lightbeam/storage"
)

// A chunk reads the version of its file that was planned, or fails: a
// checkpoint replaced during the job never yields a mix of two.
func TestChunkReadsPlannedVersion(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "model.safetensors")
	if err := os.WriteFile(path, make([]byte, 4096), 0o644); err != nil {
		t.Fatal(err)
	}
	info, err := storage.Stat(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	var buf []byte
	b, done, err := readPiece(ctx, path, info.Generation, 1024, 512, &buf)
	if err != nil || len(b) != 512 {
		t.Fatalf("reading the planned version: %d bytes, %v", len(b), err)
	}
	done()
	// Replaced (a new file renamed over it, same size) after planning.
	if err := os.WriteFile(path+".new", make([]byte, 4096), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(path+".new", path); err != nil {
		t.Fatal(err)
	}
	for name, read := range map[string]func() error{
		"mapped": func() error { _, _, err := readPiece(ctx, path, info.Generation, 1024, 512, &buf); return err },
		"read":   func() error { return readRangeInto(ctx, path, info.Generation, 1024, make([]byte, 512)) },
	} {
		if err := read(); !errors.Is(err, storage.ErrChanged) {
			t.Errorf("%s after the file was replaced: %v, want storage.ErrChanged", name, err)
		}
	}
}
