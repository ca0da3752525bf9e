package storage

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestJoinBaseDir(t *testing.T) {
	for _, tc := range []struct {
		base string
		elem []string
		join string
		b    string
		dir  string
	}{
		{"gs://bkt/prep", []string{"shards", "a.lbs"}, "gs://bkt/prep/shards/a.lbs", "a.lbs", "gs://bkt/prep/shards"},
		{"gs://bkt/prep/", []string{"manifest.json"}, "gs://bkt/prep/manifest.json", "manifest.json", "gs://bkt/prep"},
		{"gs://bkt", []string{"x"}, "gs://bkt/x", "x", "gs://bkt"},
		{"gs://bkt/a", []string{"../b"}, "gs://bkt/b", "b", "gs://bkt"},
		{"/tmp/out", []string{"shards", "a.lbs"}, "/tmp/out/shards/a.lbs", "a.lbs", "/tmp/out/shards"},
		{"out/", []string{"manifest.json"}, "out/manifest.json", "manifest.json", "out"},
		{"out", nil, "out", "out", "."},
	} {
		j := Join(tc.base, tc.elem...)
		if j != tc.join {
			t.Errorf("Join(%q, %q) = %q, want %q", tc.base, tc.elem, j, tc.join)
		}
		if got := Base(j); got != tc.b {
			t.Errorf("Base(%q) = %q, want %q", j, got, tc.b)
		}
		if got := Dir(j); got != tc.dir {
			t.Errorf("Dir(%q) = %q, want %q", j, got, tc.dir)
		}
	}
	if !IsLocal("out/x") || IsLocal("gs://b/x") {
		t.Error("IsLocal is wrong")
	}
}

// Local files are written with mode 0644, whatever the temporary file had.
func TestLocalFileMode(t *testing.T) {
	ctx := context.Background()
	p := filepath.Join(t.TempDir(), "f.bin")
	if err := WriteBytes(ctx, p, []byte("x")); err != nil {
		t.Fatal(err)
	}
	if err := CreateExclusive(ctx, p+".lock", []byte("x")); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{p, p + ".lock"} {
		if fi, err := os.Stat(f); err != nil || fi.Mode().Perm() != 0o644 {
			t.Errorf("stat %s: %v, %v; want mode 0644", f, fi, err)
		}
	}
}

// A scheme without a driver, and an operation a store cannot do, are
// ErrUnsupported, naming the path.
func TestUnsupported(t *testing.T) {
	ctx := context.Background()
	p := "memfs://bucket/x"
	for what, err := range map[string]error{
		"ReadFile":   func() error { _, err := ReadFile(ctx, p); return err }(),
		"WriteBytes": WriteBytes(ctx, p, nil),
		"List":       func() error { _, err := List(ctx, p+"*"); return err }(),
	} {
		if !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), "gs://") {
			t.Errorf("%s of %s: %v, want ErrUnsupported naming it and the schemes there are", what, p, err)
		}
	}
	if CanLock(p) {
		t.Errorf("CanLock(%s) = true", p)
	}
	local := filepath.Join(t.TempDir(), "LATEST")
	if err := WriteIfGeneration(ctx, local, []byte("x"), 0); !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), local) {
		t.Errorf("WriteIfGeneration of a local file: %v, want ErrUnsupported naming it", err)
	}
	if _, err := OpenRangeAt(ctx, "hdfs://nn/x", 42, 0, 1); !errors.Is(err, ErrUnsupported) {
		t.Errorf("a pinned read on hdfs://: %v, want ErrUnsupported", err)
	}
	if _, err := CapabilitiesOf(p); !errors.Is(err, ErrUnsupported) {
		t.Errorf("CapabilitiesOf(%s): %v, want ErrUnsupported", p, err)
	}
}

// A lock file that never parses is reread for a few seconds, then refused
// as garbage, naming it.
func TestLockGarbage(t *testing.T) {
	ctx := context.Background()
	p := filepath.Join(t.TempDir(), LockName)
	if err := WriteBytes(ctx, p, []byte("not json")); err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	_, _, err := AcquireLock(ctx, p, "host-a:1", time.Hour, time.Now)
	if err == nil || errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), "not a lock file") || !strings.Contains(err.Error(), p) {
		t.Fatalf("a garbage lock: %v, want an error naming %s as not a lock file", err, p)
	}
	if d := time.Since(t0); d < 2*time.Second {
		t.Errorf("refused after %v, without reading it again", d)
	}
}

// A process killed between writing its temporary and linking it as the
// exclusive file leaves the temporary behind; the next creator removes it
// (the kill tests rerun a killed command and expect its output only).
func TestCreateExclusiveRemovesStaleTemporaries(t *testing.T) {
	dir := t.TempDir()
	stale := filepath.Join(dir, ".LOCK.excl-123")
	other := filepath.Join(dir, ".OTHER.excl-123")
	for _, p := range []string{stale, other} {
		if err := os.WriteFile(p, []byte("half a lock"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := CreateExclusive(context.Background(), filepath.Join(dir, "LOCK"), []byte("owner")); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Errorf("the stale temporary is still there: %v", err)
	}
	if _, err := os.Stat(other); err != nil {
		t.Errorf("another file's temporary was removed: %v", err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 2 {
		t.Errorf("%d files, want LOCK and the other temporary", len(entries))
	}
}

// WriteSortedJSON writes a group's values in the order cmp gives, as one
// JSON array, whatever order they came in.
func TestWriteSortedJSON(t *testing.T) {
	vals := []int{3, 1, 2}
	next := func(v *int) bool {
		if len(vals) == 0 {
			return false
		}
		*v, vals = vals[0], vals[1:]
		return true
	}
	p := filepath.Join(t.TempDir(), "all.json")
	if err := WriteSortedJSON(context.Background(), p, next, func(a, b int) int { return a - b }); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(p); err != nil || string(b) != "[1,2,3]" {
		t.Errorf("%s: %q, %v", p, b, err)
	}
}
