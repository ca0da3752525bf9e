package storage

// Tests of hdfs:// paths against a real HDFS: Hadoop's MiniDFSCluster, run
// as a separate process by hdfstest (scripts/hdfs.sh). Without java, javac
// and mvn they skip, except under CI=true, where they fail. The cluster's
// blocks are 1 MiB (scripts/hdfs/MiniHDFS.java), so a few MiB cross block
// boundaries.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	iofs "io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lightbeam-ml/lightbeam/storage/hdfstest"
)

func TestHDFSWriteReadSize(t *testing.T) {
	ctx := context.Background()
	root := hdfstest.Root(t)
	for _, n := range []int{0, 1, 3<<20 + 17} { // 3 MiB + 17: four blocks
		p := Join(root, "rw", fmt.Sprintf("f-%d.bin", n))
		data := randomBytes(n, uint64(n))
		if err := WriteBytes(ctx, p, data); err != nil {
			t.Fatalf("WriteBytes(%s): %v", p, err)
		}
		got, err := ReadFile(ctx, p)
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("ReadFile(%s): %d bytes, %v; want the %d written", p, len(got), err, len(data))
		}
		if size, err := Size(ctx, p); err != nil || size != int64(n) {
			t.Fatalf("Size(%s) = %d, %v; want %d, nil", p, size, err, n)
		}
	}
	// Only the finished files are there: no temporary name is left.
	got, err := List(ctx, Join(root, "rw", "*"))
	if err != nil || len(got) != 3 {
		t.Errorf("List(rw/*) = %q, %v; want the 3 files", got, err)
	}
}

// A failed write leaves no file, and a failed overwrite the old one whole.
func TestHDFSFailedWriteIsAtomic(t *testing.T) {
	ctx := context.Background()
	root := hdfstest.Root(t)
	p := Join(root, "atomic", "manifest.json")
	if err := WriteFile(ctx, p, failAfter(randomBytes(2<<20, 1))); !errors.Is(err, errBoom) || !strings.Contains(err.Error(), p) {
		t.Fatalf("WriteFile error = %v, want errBoom naming %s", err, p)
	}
	if ok, err := Exists(ctx, p); err != nil || ok {
		t.Fatalf("after a failed write: Exists = %v, %v; want false, nil", ok, err)
	}
	for _, s := range []string{"first, longer content", "second"} {
		if err := WriteBytes(ctx, p, []byte(s)); err != nil {
			t.Fatal(err)
		}
		if got, err := ReadFile(ctx, p); err != nil || string(got) != s {
			t.Fatalf("ReadFile after writing %q = %q, %v", s, got, err)
		}
	}
	if err := WriteFile(ctx, p, failAfter(randomBytes(2<<20, 2))); !errors.Is(err, errBoom) {
		t.Fatalf("WriteFile error = %v, want errBoom", err)
	}
	if got, err := ReadFile(ctx, p); err != nil || string(got) != "second" {
		t.Fatalf("after a failed overwrite: %q, %v; want the old content", got, err)
	}
	if left, err := List(ctx, Join(root, "atomic", "*")); err != nil || !reflect.DeepEqual(left, []string{p}) {
		t.Errorf("files beside %s after the failed writes: %q, %v", p, left, err)
	}
}

func TestHDFSOpenRange(t *testing.T) {
	ctx := context.Background()
	root := hdfstest.Root(t)
	p := Join(root, "range", "f.bin")
	const n = 2<<20 + 100 // three blocks
	data := randomBytes(n, 3)
	if err := WriteBytes(ctx, p, data); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		off, n int64
		want   []byte
	}{
		{0, 10, data[:10]},
		{12345, 1000, data[12345:13345]},
		{1<<20 - 10, 20, data[1<<20-10 : 1<<20+10]}, // across a block boundary
		{n - 10, -1, data[n-10:]},
		{n - 10, 50, data[n-10:]}, // a range past the end is cut at the end
		{0, -1, data},
		{500, 0, nil},
	} {
		r, err := OpenRange(ctx, p, tc.off, tc.n)
		if err != nil {
			t.Fatalf("OpenRange(%d, %d): %v", tc.off, tc.n, err)
		}
		got, err := io.ReadAll(r)
		if cerr := r.Close(); err == nil {
			err = cerr
		}
		if err != nil || !bytes.Equal(got, tc.want) {
			t.Errorf("OpenRange(%d, %d) read %d bytes, %v; want %d bytes", tc.off, tc.n, len(got), err, len(tc.want))
		}
	}
	// The reader seeks: a range at the end does not read what is before it.
	r, err := Open(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := r.(*readCloser).closers[0].(io.Seeker); !ok {
		t.Errorf("the hdfs:// reader is a %T, not an io.Seeker: OpenRange would read and discard", r.(*readCloser).closers[0])
	}
	r.Close()
	if _, err := OpenRange(ctx, Join(root, "range", "missing.bin"), 0, 5); !IsNotExist(err) {
		t.Errorf("OpenRange of a missing file: error %v, want one IsNotExist accepts", err)
	}
}

func TestHDFSNotExist(t *testing.T) {
	ctx := context.Background()
	p := Join(hdfstest.Root(t), "nothing", "here.json")
	if ok, err := Exists(ctx, p); err != nil || ok {
		t.Errorf("Exists(missing) = %v, %v; want false, nil", ok, err)
	}
	if _, err := Size(ctx, p); !IsNotExist(err) || !strings.Contains(err.Error(), p) {
		t.Errorf("Size(missing): error %v, want a not-exist error naming %s", err, p)
	}
	if _, err := ReadFile(ctx, p); !IsNotExist(err) || !strings.Contains(err.Error(), p) {
		t.Errorf("ReadFile(missing): error %v, want a not-exist error naming %s", err, p)
	}
	if _, _, err := ReadGeneration(ctx, p); !IsNotExist(err) {
		t.Errorf("ReadGeneration(missing): error %v, want a not-exist error", err)
	}
	if err := Remove(ctx, p); !IsNotExist(err) {
		t.Errorf("Remove(missing): error %v, want a not-exist error", err)
	}
}

func TestHDFSListRemove(t *testing.T) {
	ctx := context.Background()
	dir := Join(hdfstest.Root(t), "list")
	names := []string{"shards/b-00001.lbs", "shards/a-00000.lbs", "shards/notes.txt", "shards/sub/c.lbs",
		"shards/sub/deep/d.lbs", "rejects/r.jsonl", "x/a-00002.lbs"}
	for _, n := range names {
		if err := WriteBytes(ctx, Join(dir, n), []byte(n)); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		glob string
		want []string
	}{
		{"shards/*.lbs", []string{"shards/a-00000.lbs", "shards/b-00001.lbs"}},
		{"shards/?-0000[01].lbs", []string{"shards/a-00000.lbs", "shards/b-00001.lbs"}},
		{"shards/[!a]*", []string{"shards/b-00001.lbs", "shards/notes.txt"}},
		{"shards/[^ab]*", []string{"shards/notes.txt"}},
		{"*/a-*.lbs", []string{"shards/a-00000.lbs", "x/a-00002.lbs"}},
		{"shards/**/*.lbs", []string{"shards/a-00000.lbs", "shards/b-00001.lbs", "shards/sub/c.lbs", "shards/sub/deep/d.lbs"}},
		{"**/d.lbs", []string{"shards/sub/deep/d.lbs"}},
		{"shards/sub/**", []string{"shards/sub/c.lbs", "shards/sub/deep/d.lbs"}},
		{"rejects/r.jsonl", []string{"rejects/r.jsonl"}},
		{"shards/*", []string{"shards/a-00000.lbs", "shards/b-00001.lbs", "shards/notes.txt"}}, // not the directory sub
		{"shards", nil},    // a directory is not a file
		{"nothing/*", nil}, // a missing directory matches nothing
		{"rejects/r.jsonl/*", nil},
	} {
		got, err := List(ctx, Join(dir, tc.glob))
		if err != nil {
			t.Fatalf("List(%s): %v", tc.glob, err)
		}
		var want []string
		for _, w := range tc.want {
			want = append(want, Join(dir, w))
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("List(%s) = %q, want %q", tc.glob, got, want)
		}
	}
	if _, err := List(ctx, Join(dir, "shards", "[a-")); err == nil || !strings.Contains(err.Error(), "pattern") {
		t.Errorf("List of a malformed pattern: error %v, want a bad-pattern error", err)
	}

	p := Join(dir, "shards/a-00000.lbs")
	if err := Remove(ctx, p); err != nil {
		t.Fatalf("Remove(%s): %v", p, err)
	}
	if ok, err := Exists(ctx, p); err != nil || ok {
		t.Errorf("after Remove: Exists = %v, %v; want false, nil", ok, err)
	}
	got, err := List(ctx, Join(dir, "shards/*.lbs"))
	if err != nil || len(got) != 1 || Base(got[0]) != "b-00001.lbs" {
		t.Errorf("List after Remove = %q, %v; want only b-00001.lbs", got, err)
	}
}

// MkdirAll makes real directories on HDFS (mkdir -p): nested, idempotent,
// and refused where a file is in the way.
func TestHDFSMkdirAll(t *testing.T) {
	ctx := context.Background()
	root := hdfstest.Root(t)
	p := Join(root, "dirs", "a", "b")
	for range 2 {
		if err := MkdirAll(ctx, p); err != nil {
			t.Fatalf("MkdirAll(%s): %v", p, err)
		}
	}
	if ok, err := Exists(ctx, p); err != nil || !ok {
		t.Errorf("after MkdirAll: Exists(%s) = %v, %v; want true", p, ok, err)
	}
	if got, err := List(ctx, Join(root, "dirs", "**")); err != nil || len(got) != 0 {
		t.Errorf("directories listed as files: %q, %v", got, err)
	}
	f := Join(root, "dirs", "file")
	if err := WriteBytes(ctx, f, []byte("x")); err != nil {
		t.Fatal(err)
	}
	if err := MkdirAll(ctx, Join(f, "sub")); err == nil || !strings.Contains(err.Error(), f) {
		t.Errorf("MkdirAll below a file: error %v, want one naming the path", err)
	}
}

// Exclusive creation and conditional writes and removals: what the nightly
// lock and runs.jsonl are made of.
func TestHDFSExclusive(t *testing.T) {
	ctx := context.Background()
	root := hdfstest.Root(t)
	p := Join(root, "sub", "LOCK")
	if err := CreateExclusive(ctx, p, []byte("first")); err != nil {
		t.Fatal(err)
	}
	if err := CreateExclusive(ctx, p, []byte("second")); !errors.Is(err, ErrExist) || !strings.Contains(err.Error(), p) {
		t.Fatalf("a second exclusive create: %v, want ErrExist naming %s", err, p)
	}
	b, g1, err := ReadGeneration(ctx, p)
	if err != nil || string(b) != "first" {
		t.Fatalf("ReadGeneration = %q, %v", b, err)
	}
	if err := RemoveIfGeneration(ctx, p, g1); err != nil {
		t.Fatal(err)
	}
	if err := CreateExclusive(ctx, p, []byte("third")); err != nil {
		t.Fatal(err)
	}
	if err := RemoveIfGeneration(ctx, p, g1); !errors.Is(err, ErrChanged) {
		t.Errorf("removing with a stale generation: %v, want ErrChanged", err)
	}
	b, g3, err := ReadGeneration(ctx, p)
	if err != nil || string(b) != "third" {
		t.Fatalf("after a stale removal: %q, %v; want the new file kept", b, err)
	}

	// Conditional writes: on the generation read, or on none.
	if err := WriteIfGeneration(ctx, p, []byte("fourth"), g1); !errors.Is(err, ErrChanged) {
		t.Errorf("writing with a stale generation: %v, want ErrChanged", err)
	}
	if err := WriteIfGeneration(ctx, p, []byte("fourth"), 0); !errors.Is(err, ErrChanged) {
		t.Errorf("writing on \"no file\" over a file: %v, want ErrChanged", err)
	}
	if err := WriteIfGeneration(ctx, p, []byte("fourth"), g3); err != nil {
		t.Fatal(err)
	}
	if b, g4, err := ReadGeneration(ctx, p); err != nil || string(b) != "fourth" || g4 == g3 {
		t.Errorf("after a conditional write: %q, generation %d (was %d), %v", b, g4, g3, err)
	}
	q := Join(root, "sub", "new")
	if err := WriteIfGeneration(ctx, q, []byte("new"), 0); err != nil {
		t.Errorf("writing on \"no file\" where there is none: %v", err)
	}
	if left, err := List(ctx, Join(root, "sub", "*")); err != nil || !reflect.DeepEqual(left, []string{p, q}) {
		t.Errorf("files left beside them: %q, %v; want no guard or temporary file", left, err)
	}
	all, _ := List(ctx, Join(root, "sub", ".*"))
	if len(all) != 0 {
		t.Errorf("hidden temporary files left: %q", all)
	}
}

// Racing conditional operations: of 8 exclusive creators exactly one wins,
// and 8 appenders that each read, then write on the generation read, lose
// no line (runs.jsonl's append on a store without append).
func TestHDFSConditionalRaces(t *testing.T) {
	ctx := context.Background()
	root := hdfstest.Root(t)
	const n = 8
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() { errs[i] = CreateExclusive(ctx, Join(root, "LOCK"), []byte(fmt.Sprint(i))) })
	}
	wg.Wait()
	won := 0
	for i, err := range errs {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, ErrExist):
			t.Errorf("creator %d: %v, want nil or ErrExist", i, err)
		}
	}
	if won != 1 {
		t.Errorf("%d of %d exclusive creators won, want 1", won, n)
	}

	p := Join(root, "runs.jsonl")
	clear(errs)
	for i := range n {
		wg.Go(func() {
			for j := range 3 {
				line := fmt.Sprintf("%d-%d\n", i, j)
				for {
					old, gen, err := ReadGeneration(ctx, p)
					if err != nil && !IsNotExist(err) {
						errs[i] = err
						return
					}
					err = WriteIfGeneration(ctx, p, append(old, line...), gen)
					if err == nil {
						break
					}
					if !errors.Is(err, ErrChanged) {
						errs[i] = err
						return
					}
				}
			}
		})
	}
	wg.Wait()
	for i, err := range errs[:n] {
		if err != nil {
			t.Errorf("appender %d: %v", i, err)
		}
	}
	b, err := ReadFile(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Fields(string(b))
	slices.Sort(lines)
	if len(lines) != 3*n || len(slices.Compact(lines)) != 3*n {
		t.Errorf("runs.jsonl holds %d lines (%d distinct), want %d", len(strings.Fields(string(b))), len(lines), 3*n)
	}
}

// Concat streams the parts into one file that appears whole.
func TestHDFSConcat(t *testing.T) {
	ctx := context.Background()
	root := hdfstest.Root(t)
	var want []byte
	var srcs []string
	for i, n := range []int{100, 1<<20 + 5, 0, 777} {
		p := Join(root, "parts", fmt.Sprintf("%03d", i))
		b := randomBytes(n, uint64(i))
		if err := WriteBytes(ctx, p, b); err != nil {
			t.Fatal(err)
		}
		srcs = append(srcs, p)
		want = append(want, b...)
	}
	dst := Join(root, "out", "joined.bin")
	if err := Concat(ctx, dst, srcs); err != nil {
		t.Fatalf("Concat: %v", err)
	}
	if got, err := ReadFile(ctx, dst); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("Concat wrote %d bytes (%v), want the %d bytes of the parts in order", len(got), err, len(want))
	}
	missing := Join(root, "parts", "missing")
	bad := Join(root, "out", "bad.bin")
	if err := Concat(ctx, bad, append(srcs, missing)); !IsNotExist(err) || !strings.Contains(err.Error(), missing) {
		t.Errorf("Concat with a missing part: %v, want a not-exist error naming %s", err, missing)
	}
	if left, err := List(ctx, Join(root, "out", "*")); err != nil || !reflect.DeepEqual(left, []string{dst}) {
		t.Errorf("files in out/: %q, %v; want only %s (no half-joined file)", left, err, dst)
	}
}

// Another HDFS user may read the superuser's files but not write beside
// them: the refusal names the URL and the user.
func TestHDFSPermissionRefused(t *testing.T) {
	ctx := context.Background()
	root := hdfstest.Root(t)
	p := Join(root, "private", "model.safetensors")
	if err := WriteBytes(ctx, p, []byte("weights")); err != nil {
		t.Fatal(err)
	}
	t.Setenv("HADOOP_USER_NAME", "intruder")
	if b, err := ReadFile(ctx, p); err != nil || string(b) != "weights" {
		t.Errorf("reading a 0644 file as another user: %q, %v", b, err)
	}
	q := Join(root, "private", "mine.json")
	for what, err := range map[string]error{
		"WriteBytes": WriteBytes(ctx, q, []byte("{}")),
		"Remove":     Remove(ctx, p),
		"MkdirAll":   MkdirAll(ctx, Join(root, "private", "sub")),
	} {
		if !errors.Is(err, iofs.ErrPermission) || !strings.Contains(err.Error(), `"intruder"`) ||
			!strings.Contains(err.Error(), root) || !strings.Contains(err.Error(), "HADOOP_USER_NAME") {
			t.Errorf("%s as another user: error %v, want a permission error naming the path, the user and HADOOP_USER_NAME", what, err)
		}
	}
	if ok, _ := Exists(ctx, q); ok {
		t.Errorf("the refused write left %s", q)
	}
}

// hdfs:/// URLs take the NameNode from HADOOP_CONF_DIR's fs.defaultFS.
func TestHDFSDefaultFS(t *testing.T) {
	ctx := context.Background()
	root := hdfstest.Root(t)
	authority, rest, _ := strings.Cut(strings.TrimPrefix(root, "hdfs://"), "/")
	conf := t.TempDir()
	site := fmt.Sprintf(`<configuration><property><name>fs.defaultFS</name><value>hdfs://%s</value></property></configuration>`, authority)
	if err := os.WriteFile(filepath.Join(conf, "core-site.xml"), []byte(site), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("HADOOP_CONF_DIR", conf)
	short := "hdfs:///" + rest + "/x.txt"
	if err := WriteBytes(ctx, short, []byte("via fs.defaultFS")); err != nil {
		t.Fatal(err)
	}
	if b, err := ReadFile(ctx, Join(root, "x.txt")); err != nil || string(b) != "via fs.defaultFS" {
		t.Errorf("the file written as %s reads %q, %v at %s", short, b, err, Join(root, "x.txt"))
	}
	if got, err := List(ctx, "hdfs:///"+rest+"/*"); err != nil || !reflect.DeepEqual(got, []string{short}) {
		t.Errorf("List(hdfs:///.../*) = %q, %v; want %q (spelled as the glob)", got, err, short)
	}
	t.Setenv("HADOOP_CONF_DIR", t.TempDir()) // no core-site.xml
	if _, err := ReadFile(ctx, short); err == nil || !strings.Contains(err.Error(), "fs.defaultFS") {
		t.Errorf("hdfs:/// without fs.defaultFS: error %v, want one saying so", err)
	}
}

// A NameNode that does not answer is an error naming the URL and the
// address; once it is back, the same process goes on.
func TestHDFSNamenodeDown(t *testing.T) {
	ctx := context.Background()
	c := hdfstest.Start(t)
	p := c.URL + "/down/report.json"
	if err := WriteBytes(ctx, p, []byte("kept")); err != nil {
		t.Fatal(err)
	}
	c.Stop(t)
	addr := strings.TrimPrefix(c.URL, "hdfs://")
	for what, err := range map[string]error{
		"ReadFile":   func() error { _, err := ReadFile(ctx, p); return err }(),
		"WriteBytes": WriteBytes(ctx, c.URL+"/down/new.json", []byte("x")),
		"List":       func() error { _, err := List(ctx, c.URL+"/down/*"); return err }(),
	} {
		if err == nil || !strings.Contains(err.Error(), "does not answer") || !strings.Contains(err.Error(), addr) ||
			!strings.Contains(err.Error(), c.URL+"/down/") {
			t.Errorf("%s with the namenode down: error %v, want \"does not answer\" naming %s and the URL", what, err, addr)
		}
	}
	if _, err := Exists(ctx, p); err == nil {
		t.Errorf("Exists with the namenode down: no error (a missing namenode is not a missing file)")
	}
	c.Restart(t)
	if b, err := ReadFile(ctx, p); err != nil || string(b) != "kept" {
		t.Errorf("after the restart: %q, %v; want the file written before", b, err)
	}
	if ok, err := Exists(ctx, c.URL+"/down/new.json"); err != nil || ok {
		t.Errorf("the write refused while the namenode was down left a file: %v, %v", ok, err)
	}
}

// The output lock that commands take in --out works on hdfs://: one
// holder, a second run refused naming the holder, an expired lock taken
// over, a release that frees it.
func TestHDFSOutputLock(t *testing.T) {
	ctx := context.Background()
	p := Join(hdfstest.Root(t), "out", LockName)
	if !CanLock(p) {
		t.Fatalf("CanLock(%s) = false: commands would write hdfs:// outputs without their lock", p)
	}
	now := time.Now
	l, _, err := AcquireLock(ctx, p, "host-a:1", time.Hour, now)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := AcquireLock(ctx, p, "host-b:2", time.Hour, now); !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), "host-a:1") {
		t.Fatalf("a second run: %v, want ErrLocked naming host-a:1", err)
	}
	later := func() time.Time { return time.Now().Add(2 * time.Hour) }
	l2, note, err := AcquireLock(ctx, p, "host-b:2", time.Hour, later)
	if err != nil || !strings.Contains(note, "expired") {
		t.Fatalf("taking over an expired lock: %v, note %q", err, note)
	}
	if err := l.Release(ctx); err != nil { // no longer ours: left to host-b
		t.Fatal(err)
	}
	if ok, _ := Exists(ctx, p); !ok {
		t.Fatal("the old holder's release removed the new holder's lock")
	}
	if err := l2.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if ok, err := Exists(ctx, p); err != nil || ok {
		t.Errorf("after the release: Exists = %v, %v", ok, err)
	}
}
