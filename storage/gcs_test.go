package storage

// Tests of gs:// paths against a real GCS server: fake-gcs-server, run as a
// separate process by gcstest (scripts/gcs-emulator.sh, or the server
// STORAGE_EMULATOR_HOST already names). Without it the tests skip, except
// under CI=true, where a missing emulator fails them.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/lightbeam-ml/lightbeam/storage/gcstest"
	"github.com/lightbeam-ml/lightbeam/storage/hdfstest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	gcstest.Stop()
	hdfstest.Stop()
	os.Exit(code)
}

func randomBytes(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 1))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func TestGCSWriteReadSize(t *testing.T) {
	ctx := context.Background()
	root := gcstest.Root(t)
	for _, n := range []int{0, 1, 3 << 20, 17 << 20} { // 17 MiB: more than one 16 MiB upload chunk
		p := Join(root, "rw", fmt.Sprintf("f-%d.bin", n))
		data := randomBytes(n, uint64(n))
		if err := WriteBytes(ctx, p, data); err != nil {
			t.Fatalf("WriteBytes(%s): %v", p, err)
		}
		got, err := ReadFile(ctx, p)
		if err != nil {
			t.Fatalf("ReadFile(%s): %v", p, err)
		}
		if !bytes.Equal(got, data) {
			t.Fatalf("ReadFile(%s): %d bytes differ from the %d written", p, len(got), len(data))
		}
		size, err := Size(ctx, p)
		if err != nil || size != int64(n) {
			t.Fatalf("Size(%s) = %d, %v; want %d, nil", p, size, err, n)
		}
	}
}

func TestGCSOverwrite(t *testing.T) {
	ctx := context.Background()
	p := Join(gcstest.Root(t), "overwrite", "manifest.json")
	for _, s := range []string{"first, longer content", "second"} {
		if err := WriteBytes(ctx, p, []byte(s)); err != nil {
			t.Fatal(err)
		}
		got, err := ReadFile(ctx, p)
		if err != nil || string(got) != s {
			t.Fatalf("ReadFile after writing %q = %q, %v", s, got, err)
		}
	}
}

func TestGCSFailedWriteLeavesNoObject(t *testing.T) {
	ctx := context.Background()
	root := gcstest.Root(t)
	for _, n := range []int{10, 17 << 20} { // before and after the first chunk was sent
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			p := Join(root, "failed", fmt.Sprintf("new-%d.lbs", n))
			err := WriteFile(ctx, p, failAfter(randomBytes(n, 7)))
			if !errors.Is(err, errBoom) || !strings.Contains(err.Error(), p) {
				t.Fatalf("WriteFile error = %v, want errBoom naming %s", err, p)
			}
			if ok, err := Exists(ctx, p); err != nil || ok {
				t.Fatalf("after a failed write: Exists(%s) = %v, %v; want false, nil", p, ok, err)
			}

			// A failed overwrite keeps the old object whole.
			old := Join(root, "failed", fmt.Sprintf("old-%d.lbs", n))
			if err := WriteBytes(ctx, old, []byte("old content")); err != nil {
				t.Fatal(err)
			}
			if err := WriteFile(ctx, old, failAfter(randomBytes(n, 8))); !errors.Is(err, errBoom) {
				t.Fatalf("WriteFile error = %v, want errBoom", err)
			}
			got, err := ReadFile(ctx, old)
			if err != nil || string(got) != "old content" {
				t.Fatalf("after a failed overwrite: ReadFile(%s) = %q, %v; want the old content", old, got, err)
			}
		})
	}
}

func TestGCSOpenRange(t *testing.T) {
	ctx := context.Background()
	p := Join(gcstest.Root(t), "range", "f.bin")
	data := randomBytes(100_000, 3)
	if err := WriteBytes(ctx, p, data); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		off, n int64
		want   []byte
	}{
		{0, 10, data[:10]},
		{12345, 1000, data[12345:13345]},
		{99_990, -1, data[99_990:]},
		{99_990, 50, data[99_990:]}, // a range past the end is cut at the end
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
	if _, err := OpenRange(ctx, p, -1, 5); err == nil {
		t.Error("OpenRange with a negative offset: no error")
	}
	if _, err := OpenRange(ctx, Join(gcstest.Root(t), "range", "missing.bin"), 0, 5); !IsNotExist(err) {
		t.Errorf("OpenRange of a missing object: error %v, want one IsNotExist accepts", err)
	}
}

func TestGCSNotExist(t *testing.T) {
	ctx := context.Background()
	p := Join(gcstest.Root(t), "nothing", "here.json")
	if ok, err := Exists(ctx, p); err != nil || ok {
		t.Errorf("Exists(missing) = %v, %v; want false, nil", ok, err)
	}
	if _, err := Size(ctx, p); !IsNotExist(err) || !strings.Contains(err.Error(), p) {
		t.Errorf("Size(missing): error %v, want a not-exist error naming %s", err, p)
	}
	if _, err := ReadFile(ctx, p); !IsNotExist(err) || !strings.Contains(err.Error(), p) {
		t.Errorf("ReadFile(missing): error %v, want a not-exist error naming %s", err, p)
	}
	if err := Remove(ctx, p); !IsNotExist(err) {
		t.Errorf("Remove(missing): error %v, want a not-exist error", err)
	}
	// A bucket that does not exist is an error, not "absent".
	if ok, err := Exists(ctx, "gs://no-such-bucket-lightbeam/x"); err == nil && ok {
		t.Errorf("Exists in a missing bucket = true, nil")
	}
}

func TestGCSListRemove(t *testing.T) {
	ctx := context.Background()
	dir := Join(gcstest.Root(t), "list")
	names := []string{"shards/b-00001.lbs", "shards/a-00000.lbs", "shards/notes.txt", "shards/sub/c.lbs", "rejects/r.jsonl"}
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
		{"shards/**.lbs", []string{"shards/a-00000.lbs", "shards/b-00001.lbs", "shards/sub/c.lbs"}},
		{"shards/?-0000[01].lbs", []string{"shards/a-00000.lbs", "shards/b-00001.lbs"}},
		{"rejects/*", []string{"rejects/r.jsonl"}},
		{"nothing/*", nil},
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

func TestGCSMkdirAllIsNoop(t *testing.T) {
	ctx := context.Background()
	p := Join(gcstest.Root(t), "dirs", "a", "b")
	if err := MkdirAll(ctx, p); err != nil {
		t.Fatalf("MkdirAll(%s): %v", p, err)
	}
	if got, err := List(ctx, p+"*"); err != nil || len(got) != 0 {
		t.Errorf("MkdirAll on gs:// created objects: %q, %v", got, err)
	}
}

// TestGCSConcat joins 70 objects (three compose rounds of at most 32
// sources: 70 → 3 → 1) and checks the result and that no temporary
// object is left.
func TestGCSConcat(t *testing.T) {
	ctx := context.Background()
	root := gcstest.Root(t)
	var want []byte
	var srcs []string
	for i := range 70 {
		p := Join(root, "parts", fmt.Sprintf("%03d", i))
		b := randomBytes(1+i*37, uint64(i))
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
	got, err := ReadFile(ctx, dst)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("Concat wrote %d bytes (%v), want the %d bytes of the parts in order", len(got), err, len(want))
	}
	if left, err := List(ctx, Join(root, "out", "*")); err != nil || len(left) != 1 {
		t.Errorf("objects beside the result: %v (%v), want only %s", left, err, dst)
	}
	if err := Concat(ctx, Join(root, "out", "none"), nil); err == nil {
		t.Errorf("Concat of no sources: no error")
	}
}
