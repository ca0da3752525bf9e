// Package storagetest is the conformance suite every storage driver runs,
// through the storage package's exported functions: atomic writes (a
// failed write leaves nothing, or the old file whole, and no temporary),
// ranged reads across block and chunk boundaries, missing files, the one
// glob syntax, directories, concatenation, exclusive creation,
// generation-checked writes and removals, appends and exclusive creators
// racing, the output lock, and the sweep of temporaries. A case that needs
// a guarantee the store lacks (storage.Capabilities) is skipped, naming it.
//
//	func TestConformance(t *testing.T) { storagetest.Run(t, gcstest.Root(t)) }
package storagetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"path"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lightbeam-ml/lightbeam/storage"
)

// Run runs the suite in the directory (or prefix) root, which must hold
// nothing yet; each case works in a directory of its own below it.
func Run(t *testing.T, root string) {
	t.Helper()
	caps, err := storage.CapabilitiesOf(root)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		need string // the capability the case needs, or ""
		fn   func(t *testing.T, ctx context.Context, dir string, caps storage.Capabilities)
	}{
		{"WriteReadSize", "", testWriteReadSize},
		{"Overwrite", "", testOverwrite},
		{"FailedWrite", "", testFailedWrite},
		{"OpenRange", "", testOpenRange},
		{"NotExist", "", testNotExist},
		{"List", "", testList},
		{"MkdirAll", "", testMkdirAll},
		{"Concat", "", testConcat},
		{"Exclusive", "", testExclusive},
		{"Races", "", testRaces},
		{"AppendLine", "", testAppendLine},
		{"Lock", "", testLock},
		{"RemoveTemporaries", "", testRemoveTemporaries},
		{"ConditionalWrites", "ConditionalWrites", testConditionalWrites},
		{"PinnedReads", "PinnedReads", testPinnedReads},
		{"Preconditions", "Preconditions", testPreconditions},
	}
	has := map[string]bool{
		"":                  true,
		"ConditionalWrites": caps.ConditionalWrites,
		"PinnedReads":       caps.PinnedReads,
		"Preconditions":     caps.Preconditions,
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if !has[tc.need] {
				t.Skipf("the store of %s lacks the capability %s (storage.Capabilities)", root, tc.need)
			}
			tc.fn(t, context.Background(), storage.Join(root, tc.name), caps)
		})
	}
}

var errBoom = errors.New("boom")

// failAfter writes data, then fails, like a writer whose input broke half
// way.
func failAfter(data []byte) func(io.Writer) error {
	return func(w io.Writer) error {
		if _, err := w.Write(data); err != nil {
			return err
		}
		return errBoom
	}
}

func randomBytes(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 1))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func write(t *testing.T, p, s string) {
	t.Helper()
	if err := storage.WriteBytes(context.Background(), p, []byte(s)); err != nil {
		t.Fatal(err)
	}
}

func readIs(t *testing.T, p, want string) {
	t.Helper()
	got, err := storage.ReadFile(context.Background(), p)
	if err != nil || string(got) != want {
		t.Fatalf("%s holds %q (%v), want %q", p, got, err, want)
	}
}

// filesAre checks that dir holds exactly the files names (hidden ones and
// those in subdirectories included): no temporary file is left.
func filesAre(t *testing.T, dir string, names ...string) {
	t.Helper()
	got, err := storage.List(context.Background(), storage.Join(dir, "**"))
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, n := range names {
		want = append(want, storage.Join(dir, n))
	}
	slices.Sort(want)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s holds %q, want %q", dir, got, want)
	}
}

// Sizes around the stores' boundaries: an empty file, one byte, four
// blocks of the test HDFS (1 MiB), and more than one 16 MiB upload chunk
// of gs://.
func testWriteReadSize(t *testing.T, ctx context.Context, dir string, _ storage.Capabilities) {
	var names []string
	for _, n := range []int{0, 1, 3<<20 + 17, 17 << 20} {
		name := fmt.Sprintf("f-%d.bin", n)
		p := storage.Join(dir, name)
		names = append(names, name)
		data := randomBytes(n, uint64(n))
		if err := storage.WriteBytes(ctx, p, data); err != nil {
			t.Fatalf("WriteBytes(%s): %v", p, err)
		}
		got, err := storage.ReadFile(ctx, p)
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("ReadFile(%s): %d bytes, %v; want the %d written", p, len(got), err, n)
		}
		if size, err := storage.Size(ctx, p); err != nil || size != int64(n) {
			t.Fatalf("Size(%s) = %d, %v; want %d", p, size, err, n)
		}
		if fi, err := storage.Stat(ctx, p); err != nil || fi.Size != int64(n) {
			t.Fatalf("Stat(%s) = %+v, %v; want %d bytes", p, fi, err, n)
		}
		if ok, err := storage.Exists(ctx, p); err != nil || !ok {
			t.Fatalf("Exists(%s) = %v, %v", p, ok, err)
		}
	}
	filesAre(t, dir, names...)
}

func testOverwrite(t *testing.T, ctx context.Context, dir string, _ storage.Capabilities) {
	p := storage.Join(dir, "manifest.json")
	for _, s := range []string{"first, longer content", "second", "second"} { // the last: a duplicate write (a retried bundle)
		write(t, p, s)
		readIs(t, p, s)
	}
	filesAre(t, dir, "manifest.json")
}

// A failed write leaves no file, and a failed overwrite the old one whole;
// neither leaves a temporary file. 17 MiB fail after gs:// sent its first
// upload chunk.
func testFailedWrite(t *testing.T, ctx context.Context, dir string, _ storage.Capabilities) {
	for _, n := range []int{10, 17 << 20} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			sub := storage.Join(dir, fmt.Sprint(n))
			p := storage.Join(sub, "new.lbs")
			err := storage.WriteFile(ctx, p, failAfter(randomBytes(n, 7)))
			if !errors.Is(err, errBoom) || !strings.Contains(err.Error(), p) {
				t.Fatalf("WriteFile error = %v, want errBoom naming %s", err, p)
			}
			if ok, err := storage.Exists(ctx, p); err != nil || ok {
				t.Fatalf("after a failed write: Exists(%s) = %v, %v; want false, nil", p, ok, err)
			}
			old := storage.Join(sub, "old.lbs")
			write(t, old, "old content")
			if err := storage.WriteFile(ctx, old, failAfter(randomBytes(n, 8))); !errors.Is(err, errBoom) {
				t.Fatalf("WriteFile error = %v, want errBoom", err)
			}
			readIs(t, old, "old content")
			filesAre(t, sub, "old.lbs")
		})
	}
}

// Ranges of a file of three HDFS blocks: within, across a block boundary,
// past the end (cut at the end), empty.
func testOpenRange(t *testing.T, ctx context.Context, dir string, _ storage.Capabilities) {
	p := storage.Join(dir, "f.bin")
	const n = 2<<20 + 100
	data := randomBytes(n, 3)
	if err := storage.WriteBytes(ctx, p, data); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		off, n int64
		want   []byte
	}{
		{0, 10, data[:10]},
		{12345, 1000, data[12345:13345]},
		{1<<20 - 10, 20, data[1<<20-10 : 1<<20+10]},
		{n - 10, -1, data[n-10:]},
		{n - 10, 50, data[n-10:]},
		{0, -1, data},
		{500, 0, nil},
	} {
		r, err := storage.OpenRange(ctx, p, tc.off, tc.n)
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
	if _, err := storage.OpenRange(ctx, p, -1, 5); err == nil {
		t.Error("OpenRange with a negative offset: no error")
	}
	if _, err := storage.OpenRange(ctx, storage.Join(dir, "missing.bin"), 0, 5); !storage.IsNotExist(err) {
		t.Errorf("OpenRange of a missing file: error %v, want one IsNotExist accepts", err)
	}
}

func testNotExist(t *testing.T, ctx context.Context, dir string, _ storage.Capabilities) {
	p := storage.Join(dir, "nothing", "here.json")
	if ok, err := storage.Exists(ctx, p); err != nil || ok {
		t.Errorf("Exists(missing) = %v, %v; want false, nil", ok, err)
	}
	for what, err := range map[string]error{
		"Size":           func() error { _, err := storage.Size(ctx, p); return err }(),
		"Stat":           func() error { _, err := storage.Stat(ctx, p); return err }(),
		"ReadFile":       func() error { _, err := storage.ReadFile(ctx, p); return err }(),
		"ReadGeneration": func() error { _, _, err := storage.ReadGeneration(ctx, p); return err }(),
		"Remove":         storage.Remove(ctx, p),
	} {
		if !storage.IsNotExist(err) || !strings.Contains(err.Error(), p) {
			t.Errorf("%s(missing): error %v, want a not-exist error naming %s", what, err, p)
		}
	}
}

// The one glob syntax (the storage package's documentation), the same on
// every store.
func testList(t *testing.T, ctx context.Context, dir string, _ storage.Capabilities) {
	names := []string{"shards/b-00001.lbs", "shards/a-00000.lbs", "shards/notes.txt", "shards/sub/c.lbs",
		"shards/sub/deep/d.lbs", "rejects/r.jsonl", "x/a-00002.lbs", "x/.hidden", "odd/a*b.txt", "odd/ab.txt"}
	for _, n := range names {
		write(t, storage.Join(dir, n), n)
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
		{"shards/**.lbs", []string{"shards/a-00000.lbs", "shards/b-00001.lbs"}}, // "**" in an element is "*"
		{"**/d.lbs", []string{"shards/sub/deep/d.lbs"}},
		{"shards/sub/**", []string{"shards/sub/c.lbs", "shards/sub/deep/d.lbs"}},
		{"x/*", []string{"x/.hidden", "x/a-00002.lbs"}},
		{"odd/a\\*b.txt", []string{"odd/a*b.txt"}},
		{"odd/a*", []string{"odd/a*b.txt", "odd/ab.txt"}},
		{"rejects/r.jsonl", []string{"rejects/r.jsonl"}},
		{"shards/*", []string{"shards/a-00000.lbs", "shards/b-00001.lbs", "shards/notes.txt"}}, // not the directory sub
		{"shards", nil},    // a directory is not a file
		{"nothing/*", nil}, // a missing directory matches nothing
		{"rejects/r.jsonl/*", nil},
		{"rejects/r.jsonl/**", nil},
	} {
		got, err := storage.List(ctx, storage.Join(dir, tc.glob))
		if err != nil {
			t.Fatalf("List(%s): %v", tc.glob, err)
		}
		var want []string
		for _, w := range tc.want {
			want = append(want, storage.Join(dir, w))
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("List(%s) = %q, want %q", tc.glob, got, want)
		}
	}
	if _, err := storage.List(ctx, storage.Join(dir, "shards", "[a-")); !errors.Is(err, path.ErrBadPattern) {
		t.Errorf("List of a malformed pattern: error %v, want path.ErrBadPattern", err)
	}

	p := storage.Join(dir, "shards/a-00000.lbs")
	if err := storage.Remove(ctx, p); err != nil {
		t.Fatalf("Remove(%s): %v", p, err)
	}
	if ok, err := storage.Exists(ctx, p); err != nil || ok {
		t.Errorf("after Remove: Exists = %v, %v; want false, nil", ok, err)
	}
	if got, err := storage.List(ctx, storage.Join(dir, "shards/*.lbs")); err != nil || len(got) != 1 || storage.Base(got[0]) != "b-00001.lbs" {
		t.Errorf("List after Remove = %q, %v; want only b-00001.lbs", got, err)
	}
}

// MkdirAll makes real directories where the store has them (nested,
// idempotent, refused below a file), and nothing where it has none.
func testMkdirAll(t *testing.T, ctx context.Context, dir string, caps storage.Capabilities) {
	p := storage.Join(dir, "a", "b")
	for range 2 {
		if err := storage.MkdirAll(ctx, p); err != nil {
			t.Fatalf("MkdirAll(%s): %v", p, err)
		}
	}
	if ok, err := storage.Exists(ctx, p); err != nil || ok != caps.Directories {
		t.Errorf("after MkdirAll: Exists(%s) = %v, %v; want %v (Directories)", p, ok, err, caps.Directories)
	}
	filesAre(t, dir) // directories are not listed
	if !caps.Directories {
		return
	}
	f := storage.Join(dir, "file")
	write(t, f, "x")
	if err := storage.MkdirAll(ctx, storage.Join(f, "sub")); err == nil || !strings.Contains(err.Error(), f) {
		t.Errorf("MkdirAll below a file: error %v, want one naming the path", err)
	}
}

// Concat joins 40 parts (on gs://, two rounds of composition: 40 → 2 → 1),
// one of them empty, and leaves nothing beside the result; a missing part
// fails and leaves no half-joined file.
func testConcat(t *testing.T, ctx context.Context, dir string, _ storage.Capabilities) {
	var want []byte
	var srcs []string
	for i := range 40 {
		p := storage.Join(dir, "parts", fmt.Sprintf("%03d", i))
		b := randomBytes((1+i*37)*min(i, 1), uint64(i)) // part 0 is empty
		if err := storage.WriteBytes(ctx, p, b); err != nil {
			t.Fatal(err)
		}
		srcs = append(srcs, p)
		want = append(want, b...)
	}
	out := storage.Join(dir, "out")
	dst := storage.Join(out, "joined.bin")
	if err := storage.Concat(ctx, dst, srcs); err != nil {
		t.Fatalf("Concat: %v", err)
	}
	if got, err := storage.ReadFile(ctx, dst); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("Concat wrote %d bytes (%v), want the %d bytes of the parts in order", len(got), err, len(want))
	}
	missing := storage.Join(dir, "parts", "missing")
	if err := storage.Concat(ctx, storage.Join(out, "bad.bin"), append(srcs[:3:3], missing)); !storage.IsNotExist(err) || !strings.Contains(err.Error(), missing) {
		t.Errorf("Concat with a missing part: %v, want a not-exist error naming %s", err, missing)
	}
	if err := storage.Concat(ctx, storage.Join(out, "none.bin"), nil); err == nil {
		t.Errorf("Concat of no sources: no error")
	}
	filesAre(t, out, "joined.bin")
}

// Exclusive creation and generation-checked removal: what a lock is made
// of.
func testExclusive(t *testing.T, ctx context.Context, dir string, _ storage.Capabilities) {
	p := storage.Join(dir, "sub", "LOCK")
	if err := storage.CreateExclusive(ctx, p, []byte("first")); err != nil {
		t.Fatal(err)
	}
	if err := storage.CreateExclusive(ctx, p, []byte("second")); !errors.Is(err, storage.ErrExist) || !strings.Contains(err.Error(), p) {
		t.Fatalf("a second exclusive create: %v, want ErrExist naming %s", err, p)
	}
	b, g1, err := storage.ReadGeneration(ctx, p)
	if err != nil || string(b) != "first" {
		t.Fatalf("ReadGeneration = %q, %v", b, err)
	}
	if err := storage.RemoveIfGeneration(ctx, p, g1); err != nil {
		t.Fatal(err)
	}
	if err := storage.CreateExclusive(ctx, p, []byte("third")); err != nil {
		t.Fatal(err)
	}
	if err := storage.RemoveIfGeneration(ctx, p, g1); !errors.Is(err, storage.ErrChanged) {
		t.Errorf("removing with a stale generation: %v, want ErrChanged", err)
	}
	readIs(t, p, "third")
	filesAre(t, dir, "sub/LOCK") // no guard or temporary file
}

// Of 8 exclusive creators exactly one wins, and a reader meanwhile sees no
// file or a whole one (a second run reading a lock while the first writes
// it must not take it for garbage); 8 appenders that race lose no line and
// write none twice.
func testRaces(t *testing.T, ctx context.Context, dir string, _ storage.Capabilities) {
	const n = 8
	lock := storage.Join(dir, "LOCK")
	content := func(i int) []byte { return bytes.Repeat([]byte{'a' + byte(i)}, 256<<10) }
	var wg sync.WaitGroup
	errs := make([]error, n)
	stop := make(chan struct{})
	var readErr error
	var reader sync.WaitGroup
	reader.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			b, _, err := storage.ReadGeneration(ctx, lock)
			if err != nil && !storage.IsNotExist(err) {
				readErr = err
				return
			}
			if err == nil && (len(b) != 256<<10 || !bytes.Equal(b, content(int(b[0]-'a')))) {
				readErr = fmt.Errorf("a reader saw %d bytes of %s, not one creator's whole file", len(b), lock)
				return
			}
		}
	})
	for i := range n {
		wg.Go(func() { errs[i] = storage.CreateExclusive(ctx, lock, content(i)) })
	}
	wg.Wait()
	close(stop)
	reader.Wait()
	if readErr != nil {
		t.Error(readErr)
	}
	won := 0
	for i, err := range errs {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, storage.ErrExist):
			t.Errorf("creator %d: %v, want nil or ErrExist", i, err)
		}
	}
	if won != 1 {
		t.Errorf("%d of %d exclusive creators won, want 1", won, n)
	}

	p := storage.Join(dir, "runs.jsonl")
	clear(errs)
	for i := range n {
		wg.Go(func() {
			for j := range 3 {
				// AppendLine gives up after a few rounds lost to others
				// (ErrChanged, the line not written); try again then.
				for {
					err := storage.AppendLine(ctx, p, fmt.Sprintf("%d-%d", i, j))
					if err == nil {
						break
					}
					if !errors.Is(err, storage.ErrChanged) {
						errs[i] = err
						return
					}
				}
			}
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("appender %d: %v", i, err)
		}
	}
	b, err := storage.ReadFile(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	slices.Sort(lines)
	if len(lines) != 3*n || len(slices.Compact(lines)) != 3*n || !strings.HasSuffix(string(b), "\n") {
		t.Errorf("%s holds %q, want %d distinct lines", p, b, 3*n)
	}
}

// AppendLine creates the file, with its directory, and appends in order.
func testAppendLine(t *testing.T, ctx context.Context, dir string, _ storage.Capabilities) {
	p := storage.Join(dir, "new", "runs.jsonl")
	for _, line := range []string{`{"run":1}`, `{"run":2}`, ""} {
		if err := storage.AppendLine(ctx, p, line); err != nil {
			t.Fatalf("AppendLine(%s, %q): %v", p, line, err)
		}
	}
	readIs(t, p, "{\"run\":1}\n{\"run\":2}\n\n")
	filesAre(t, dir, "new/runs.jsonl")
}

// The output lock that commands take in their --out: one holder, a second
// run refused naming the holder, an expired lock taken over, a release
// that frees only its own.
func testLock(t *testing.T, ctx context.Context, dir string, _ storage.Capabilities) {
	p := storage.Join(dir, storage.LockName)
	if !storage.CanLock(p) {
		t.Fatalf("CanLock(%s) = false: commands would write there without their lock", p)
	}
	l, _, err := storage.AcquireLock(ctx, p, "host-a:1", time.Hour, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := storage.AcquireLock(ctx, p, "host-b:2", time.Hour, time.Now); !errors.Is(err, storage.ErrLocked) || !strings.Contains(err.Error(), "host-a:1") {
		t.Fatalf("a second run: %v, want ErrLocked naming host-a:1", err)
	}
	// A lock that does not parse yet (its creator still writing it, on a
	// store that shows that) is read again until it does.
	q := storage.Join(dir, "other", storage.LockName)
	write(t, q, `{"owner":"host-c`)
	go func() {
		time.Sleep(200 * time.Millisecond)
		info := fmt.Sprintf(`{"owner":"host-c:3","acquired":%q,"expires":%q}`, time.Now().Format(time.RFC3339), time.Now().Add(time.Hour).Format(time.RFC3339))
		if err := storage.WriteBytes(ctx, q, []byte(info)); err != nil {
			t.Error(err)
		}
	}()
	if _, _, err := storage.AcquireLock(ctx, q, "host-b:2", time.Hour, time.Now); !errors.Is(err, storage.ErrLocked) || !strings.Contains(err.Error(), "host-c:3") {
		t.Fatalf("a lock completed while it was read: %v, want ErrLocked naming host-c:3", err)
	}
	if err := storage.Remove(ctx, q); err != nil {
		t.Fatal(err)
	}

	later := func() time.Time { return time.Now().Add(2 * time.Hour) }
	l2, note, err := storage.AcquireLock(ctx, p, "host-b:2", time.Hour, later)
	if err != nil || !strings.Contains(note, "expired") {
		t.Fatalf("taking over an expired lock: %v, note %q", err, note)
	}
	if err := l.Release(ctx); err != nil { // no longer ours: left to host-b
		t.Fatal(err)
	}
	if ok, _ := storage.Exists(ctx, p); !ok {
		t.Fatal("the old holder's release removed the new holder's lock")
	}
	if err := l2.Release(ctx); err != nil {
		t.Fatal(err)
	}
	filesAre(t, dir)
}

// RemoveTemporaries removes ".NAME.tmp-*" at any depth, and nothing else:
// not the temporaries of exclusive creations, nor names that merely look
// alike.
func testRemoveTemporaries(t *testing.T, ctx context.Context, dir string, _ storage.Capabilities) {
	keep := []string{"model.safetensors", "done/a.json", ".hidden", "x.tmp-1", ".LOCK.excl-1", "done/.LOCK.lightbeam-tmp-ab"}
	drop := []string{".model.safetensors.tmp-123", "done/.a.json.tmp-9", "parts/.joined.bin.tmp-compose-0123456789abcdef-0-1"}
	for _, f := range append(slices.Clone(keep), drop...) {
		write(t, storage.Join(dir, f), "x")
	}
	n, err := storage.RemoveTemporaries(ctx, dir)
	if err != nil || n != len(drop) {
		t.Fatalf("RemoveTemporaries = %d, %v; want %d, nil", n, err, len(drop))
	}
	filesAre(t, dir, keep...)
	if n, err := storage.RemoveTemporaries(ctx, storage.Join(dir, "missing")); n != 0 || err != nil {
		t.Errorf("under a missing directory: %d, %v; want 0, nil", n, err)
	}
}

// Conditional writes: on the generation read, or on none.
func testConditionalWrites(t *testing.T, ctx context.Context, dir string, _ storage.Capabilities) {
	p := storage.Join(dir, "LATEST")
	write(t, p, "v1")
	_, g1, err := storage.ReadGeneration(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	write(t, p, "v2")
	_, g2, err := storage.ReadGeneration(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	if err := storage.WriteIfGeneration(ctx, p, []byte("v3"), g1); !errors.Is(err, storage.ErrChanged) || !strings.Contains(err.Error(), p) {
		t.Errorf("writing at a stale generation: %v, want ErrChanged naming %s", err, p)
	}
	if err := storage.WriteIfGeneration(ctx, p, []byte("v3"), 0); !errors.Is(err, storage.ErrChanged) {
		t.Errorf("writing on \"no file\" over a file: %v, want ErrChanged", err)
	}
	readIs(t, p, "v2")
	if err := storage.WriteIfGeneration(ctx, p, []byte("v3"), g2); err != nil {
		t.Fatal(err)
	}
	if b, g3, err := storage.ReadGeneration(ctx, p); err != nil || string(b) != "v3" || g3 == g2 {
		t.Errorf("after a conditional write: %q, generation %d (was %d), %v", b, g3, g2, err)
	}
	q := storage.Join(dir, "new")
	if err := storage.WriteIfGeneration(ctx, q, []byte("new"), 0); err != nil {
		t.Errorf("writing on \"no file\" where there is none: %v", err)
	}
	filesAre(t, dir, "LATEST", "new")
}

// Ranges planned at one generation (Stat) and read later (OpenRangeAt)
// come from that generation or fail with ErrChanged naming the file.
func testPinnedReads(t *testing.T, ctx context.Context, dir string, _ storage.Capabilities) {
	p := storage.Join(dir, "pinned.csv")
	write(t, p, "a,b\n1,2\n3,4\n")
	fi, err := storage.Stat(ctx, p)
	if err != nil || fi.Size != 12 || fi.Generation == 0 {
		t.Fatalf("Stat = %+v, %v; want 12 bytes and a generation", fi, err)
	}
	r, err := storage.OpenRangeAt(ctx, p, fi.Generation, 4, 4)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(r)
	r.Close()
	if err != nil || string(got) != "1,2\n" {
		t.Fatalf("OpenRangeAt of the planned generation: %q, %v", got, err)
	}
	time.Sleep(10 * time.Millisecond) // a new modification time, locally
	write(t, p, "a,b\n5,6\n7,8\n")
	if _, err = storage.OpenRangeAt(ctx, p, fi.Generation, 4, 4); !errors.Is(err, storage.ErrChanged) || !strings.Contains(err.Error(), p) {
		t.Fatalf("OpenRangeAt after the file was replaced: %v, want ErrChanged naming %s", err, p)
	}
	if err := storage.Remove(ctx, p); err != nil {
		t.Fatal(err)
	}
	if _, err := storage.OpenRangeAt(ctx, p, fi.Generation, 0, 1); !errors.Is(err, storage.ErrChanged) {
		t.Fatalf("OpenRangeAt after the file was removed: %v, want ErrChanged", err)
	}
}

// A write that would replace a file another writer put there after it
// began is refused, and the other file stays (without preconditions the
// last writer would win).
func testPreconditions(t *testing.T, ctx context.Context, dir string, _ storage.Capabilities) {
	for _, existing := range []bool{false, true} {
		t.Run(fmt.Sprintf("existing=%v", existing), func(t *testing.T) {
			q := storage.Join(dir, fmt.Sprintf("raced-%v.json", existing))
			if existing {
				write(t, q, "old")
			}
			err := storage.WriteFile(ctx, q, func(w io.Writer) error {
				w.Write([]byte("slow writer, part 1; "))
				write(t, q, "other") // another writer finishes first
				_, err := w.Write([]byte("part 2"))
				return err
			})
			if !errors.Is(err, storage.ErrChanged) || !strings.Contains(err.Error(), q) {
				t.Fatalf("WriteFile raced by another writer: %v, want ErrChanged naming %s", err, q)
			}
			readIs(t, q, "other")
		})
	}
}
