package storage

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem/memfs"
)

var errBoom = errors.New("boom")

// failAfter writes some bytes, then fails, like a writer whose input broke
// half way.
func failAfter(data []byte) func(io.Writer) error {
	return func(w io.Writer) error {
		if _, err := w.Write(data); err != nil {
			return err
		}
		return errBoom
	}
}

func TestWriteFileLocalAtomic(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	p := filepath.Join(dir, "sub", "f.bin")

	// A failed first write leaves nothing, not even the temp file.
	err := WriteFile(ctx, p, failAfter(bytes.Repeat([]byte("x"), 1<<20)))
	if !errors.Is(err, errBoom) || !strings.Contains(err.Error(), p) {
		t.Fatalf("WriteFile error = %v, want errBoom naming %s", err, p)
	}
	if ok, err := Exists(ctx, p); err != nil || ok {
		t.Fatalf("after a failed write: Exists = %v, %v; want false, nil", ok, err)
	}
	assertOnlyFiles(t, filepath.Dir(p))

	if err := WriteBytes(ctx, p, []byte("old")); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != 0o644 {
		t.Fatalf("stat %s: %v, %v; want mode 0644", p, fi, err)
	}
	// A failed overwrite keeps the old file intact.
	if err := WriteFile(ctx, p, failAfter([]byte("new and longer"))); !errors.Is(err, errBoom) {
		t.Fatalf("WriteFile error = %v, want errBoom", err)
	}
	got, err := ReadFile(ctx, p)
	if err != nil || string(got) != "old" {
		t.Fatalf("after failed overwrite: %q, %v; want \"old\"", got, err)
	}
	assertOnlyFiles(t, filepath.Dir(p), "f.bin")

	// A successful overwrite replaces it.
	if err := WriteBytes(ctx, p, []byte("new")); err != nil {
		t.Fatal(err)
	}
	if got, _ := ReadFile(ctx, p); string(got) != "new" {
		t.Fatalf("after overwrite: %q, want \"new\"", got)
	}
	assertOnlyFiles(t, filepath.Dir(p), "f.bin")
}

// assertOnlyFiles checks that dir holds exactly the named files: no temp
// files left behind.
func assertOnlyFiles(t *testing.T, dir string, names ...string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range ents {
		got = append(got, e.Name())
	}
	if strings.Join(got, ",") != strings.Join(names, ",") {
		t.Fatalf("%s holds %v, want %v", dir, got, names)
	}
}

func TestWriteFileMemfsAtomic(t *testing.T) {
	ctx := context.Background()
	p := "memfs://atomic/f.bin"
	if err := WriteBytes(ctx, p, []byte("old")); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(ctx, p, failAfter([]byte("partial"))); !errors.Is(err, errBoom) {
		t.Fatalf("WriteFile error = %v, want errBoom", err)
	}
	if got, err := ReadFile(ctx, p); err != nil || string(got) != "old" {
		t.Fatalf("after failed overwrite: %q, %v; want \"old\"", got, err)
	}
	files, err := List(ctx, "memfs://atomic/*")
	if err != nil || len(files) != 1 {
		t.Fatalf("List = %v, %v; want only the file", files, err)
	}
}

func TestOpenRange(t *testing.T) {
	ctx := context.Background()
	data := []byte("0123456789abcdefghij")
	local := filepath.Join(t.TempDir(), "r.bin")
	for _, p := range []string{local, "memfs://range/r.bin"} {
		if err := WriteBytes(ctx, p, data); err != nil {
			t.Fatal(err)
		}
		if n, err := Size(ctx, p); err != nil || n != int64(len(data)) {
			t.Fatalf("Size(%s) = %d, %v", p, n, err)
		}
		for _, tc := range []struct {
			off, n int64
			want   string
		}{
			{0, 4, "0123"},
			{10, 5, "abcde"},
			{15, -1, "fghij"},
			{18, 10, "ij"},
			{20, 3, ""},
		} {
			r, err := OpenRange(ctx, p, tc.off, tc.n)
			if err != nil {
				t.Fatalf("OpenRange(%s, %d, %d): %v", p, tc.off, tc.n, err)
			}
			got, err := io.ReadAll(r)
			r.Close()
			if err != nil || string(got) != tc.want {
				t.Errorf("OpenRange(%s, %d, %d) read %q, %v; want %q", p, tc.off, tc.n, got, err, tc.want)
			}
		}
	}
	if _, err := OpenRange(ctx, local, -1, 2); err == nil {
		t.Error("OpenRange with a negative offset: no error")
	}
}

func TestExistsListRemove(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	for _, n := range []string{"b.lbs", "a.lbs", "c.txt"} {
		if err := WriteBytes(ctx, Join(dir, n), []byte(n)); err != nil {
			t.Fatal(err)
		}
	}
	got, err := List(ctx, Join(dir, "*.lbs"))
	if err != nil || len(got) != 2 || Base(got[0]) != "a.lbs" || Base(got[1]) != "b.lbs" {
		t.Fatalf("List = %v, %v; want a.lbs, b.lbs", got, err)
	}
	if err := Remove(ctx, Join(dir, "a.lbs")); err != nil {
		t.Fatal(err)
	}
	if ok, err := Exists(ctx, Join(dir, "a.lbs")); ok || err != nil {
		t.Fatalf("Exists after Remove = %v, %v", ok, err)
	}
	if ok, err := Exists(ctx, Join(dir, "b.lbs")); !ok || err != nil {
		t.Fatalf("Exists(b.lbs) = %v, %v", ok, err)
	}
	_, err = ReadFile(ctx, Join(dir, "nope"))
	if !IsNotExist(err) || !strings.Contains(err.Error(), Join(dir, "nope")) {
		t.Fatalf("ReadFile of a missing file: %v; want a not-exist error naming it", err)
	}
	if err := MkdirAll(ctx, Join(dir, "x", "y")); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(Join(dir, "x", "y")); err != nil || !fi.IsDir() {
		t.Fatalf("MkdirAll did not make a directory: %v", err)
	}
	if err := MkdirAll(ctx, "gs://bucket/any"); err != nil {
		t.Fatalf("MkdirAll on gs:// = %v, want a no-op", err)
	}
}

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

func TestConcatLocal(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	var srcs []string
	for i, s := range []string{"ab", "", "cde"} {
		p := filepath.Join(dir, fmt.Sprintf("part%d", i))
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		srcs = append(srcs, p)
	}
	dst := filepath.Join(dir, "out", "joined")
	if err := Concat(ctx, dst, srcs); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(dst); err != nil || string(b) != "abcde" {
		t.Fatalf("joined = %q, %v; want abcde", b, err)
	}
	// A missing part fails and leaves the old file as it was.
	err := Concat(ctx, dst, append(srcs, filepath.Join(dir, "missing")))
	if err == nil || !strings.Contains(err.Error(), "missing") {
		t.Fatalf("Concat with a missing part: %v", err)
	}
	if b, _ := os.ReadFile(dst); string(b) != "abcde" {
		t.Errorf("a failed Concat changed %s to %q", dst, b)
	}
}
