package storage

// Storage faults: gs:// through gcstest's fault-injecting proxy (429, 503,
// connections reset mid-request and mid-response, delays), conditional
// writes, reads of objects replaced underneath, and redaction.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/lightbeam-ml/lightbeam/internal/crc32c"
	"github.com/lightbeam-ml/lightbeam/storage/gcstest"
)

// fastRetries lowers the backoff for the test.
func fastRetries(t *testing.T) {
	old := GCSRetry
	GCSRetry = RetryPolicy{MaxAttempts: 10, Initial: 5 * time.Millisecond, Max: 50 * time.Millisecond}
	t.Cleanup(func() { GCSRetry = old })
}

// Every gs:// operation completes with the right bytes through a proxy
// that fails a third of the requests, and every failure is logged as one
// retry.
func TestGCSFaults(t *testing.T) {
	fastRetries(t)
	log := gcstest.CaptureLog(t)
	ctx := context.Background()
	root := gcstest.Root(t)
	px := gcstest.WithFaults(t, root, gcstest.Faults{Seed: 1, Throttle: 0.08, Unavailable: 0.08, ResetRequest: 0.3, ResetResponse: 0.1, Delay: 0.1, MaxDelay: 20 * time.Millisecond})
	before := GCSRetries()

	files := map[string][]byte{}
	var names []string
	for i, n := range []int{0, 1, 5000, 300_000, 3 << 20, 17 << 20} { // 17 MiB: a resumable upload of two chunks
		p := Join(root, "f", fmt.Sprintf("%d.bin", i))
		files[p] = randomBytes(n, uint64(i))
		names = append(names, p)
		if err := WriteBytes(ctx, p, files[p]); err != nil {
			t.Fatalf("WriteBytes(%s) through faults: %v", p, err)
		}
	}
	for _, p := range names {
		got, err := ReadFile(ctx, p)
		if err != nil || !bytes.Equal(got, files[p]) {
			t.Fatalf("ReadFile(%s) through faults: %d bytes, %v; want the %d written", p, len(got), err, len(files[p]))
		}
		if n, err := Size(ctx, p); err != nil || n != int64(len(files[p])) {
			t.Fatalf("Size(%s) = %d, %v; want %d", p, n, err, len(files[p]))
		}
		if len(files[p]) > 1000 {
			r, err := OpenRange(ctx, p, 100, 900)
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(r)
			r.Close()
			if err != nil || !bytes.Equal(got, files[p][100:1000]) {
				t.Fatalf("OpenRange(%s, 100, 900) through faults: %d bytes, %v", p, len(got), err)
			}
		}
	}
	listed, err := List(ctx, Join(root, "f", "*.bin"))
	if err != nil || len(listed) != len(names) {
		t.Fatalf("List through faults = %q, %v; want %d files", listed, err, len(names))
	}
	dst := Join(root, "joined.bin")
	if err := Concat(ctx, dst, names[:4]); err != nil {
		t.Fatalf("Concat through faults: %v", err)
	}
	var want []byte
	for _, p := range names[:4] {
		want = append(want, files[p]...)
	}
	if got, err := ReadFile(ctx, dst); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("Concat through faults wrote %d bytes (%v), want %d", len(got), err, len(want))
	}
	lock := Join(root, "LOCK")
	if err := CreateExclusive(ctx, lock, []byte("holder 1")); err != nil {
		t.Fatalf("CreateExclusive through faults: %v", err)
	}
	if err := CreateExclusive(ctx, lock, []byte("holder 2")); !errors.Is(err, ErrExist) {
		t.Fatalf("a second CreateExclusive through faults: %v, want ErrExist", err)
	}
	for _, p := range names {
		if err := Remove(ctx, p); err != nil {
			t.Fatalf("Remove(%s) through faults: %v", p, err)
		}
	}
	if left, err := List(ctx, Join(root, "f", "*")); err != nil || len(left) != 0 {
		t.Fatalf("after Remove: %q, %v", left, err)
	}

	st := px.Stats()
	t.Logf("proxy: %v; retries logged: %d", st, len(log.Lines()))
	if st.Throttled == 0 || st.Unavailable == 0 || st.ResetRequests == 0 || st.ResetResponses == 0 || st.Delayed == 0 {
		t.Fatalf("the proxy did not inject every kind of fault: %v", st)
	}
	lines := log.Lines()
	if int64(len(lines)) != GCSRetries()-before {
		t.Errorf("%d gcs: lines logged, GCSRetries counted %d", len(lines), GCSRetries()-before)
	}
	// Each failed request is retried (or, for a lost answer, checked) once
	// per failure, and logged once per retry.
	if int64(len(lines)) != st.Failed() {
		t.Errorf("%d retries logged for %d failed requests:\n%s", len(lines), st.Failed(), strings.Join(lines, "\n"))
	}
	for _, l := range lines {
		if strings.Contains(l, "upload_id") || strings.Contains(l, "?") && !strings.Contains(l, "?REDACTED") {
			t.Errorf("a retry line shows a query string: %s", l)
		}
	}
}

// A write that would replace an object another writer put there since it
// began is refused, and the other object stays.
func TestGCSConditionalWrites(t *testing.T) {
	ctx := context.Background()
	root := gcstest.Root(t)
	p := Join(root, "cond", "manifest.json")

	t.Run("stale generation", func(t *testing.T) {
		writeOrFail(t, p, "v1")
		_, g1, err := ReadGeneration(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		writeOrFail(t, p, "v2")
		err = WriteFileIfGeneration(ctx, p, g1, writeData([]byte("v3 from a stale reader")))
		if !errors.Is(err, ErrChanged) || !strings.Contains(err.Error(), p) {
			t.Fatalf("write at a stale generation: %v, want ErrChanged naming %s", err, p)
		}
		if err := WriteIfGeneration(ctx, p, []byte("v3"), g1); !errors.Is(err, ErrChanged) {
			t.Fatalf("WriteIfGeneration at a stale generation: %v, want ErrChanged", err)
		}
		if err := WriteFileIfGeneration(ctx, Join(root, "cond", "new"), 0, writeData([]byte("x"))); err != nil {
			t.Fatalf("WriteFileIfGeneration(0) of a new file: %v", err)
		}
		if err := WriteFileIfGeneration(ctx, Join(root, "cond", "new"), 0, writeData([]byte("y"))); !errors.Is(err, ErrChanged) {
			t.Fatalf("WriteFileIfGeneration(0) over a file: %v, want ErrChanged", err)
		}
		readIs(t, p, "v2")
	})

	// Without preconditions the last writer would win: the slow write
	// would replace "other" with its own bytes.
	for _, existing := range []bool{false, true} {
		t.Run(fmt.Sprintf("raced, existing=%v", existing), func(t *testing.T) {
			q := Join(root, "cond", fmt.Sprintf("raced-%v.json", existing))
			if existing {
				writeOrFail(t, q, "old")
			}
			err := WriteFile(ctx, q, func(w io.Writer) error {
				w.Write([]byte("slow writer, part 1; "))
				writeOrFail(t, q, "other") // another writer finishes first
				_, err := w.Write([]byte("part 2"))
				return err
			})
			if !errors.Is(err, ErrChanged) || !strings.Contains(err.Error(), q) {
				t.Fatalf("WriteFile raced by another writer: %v, want ErrChanged naming %s", err, q)
			}
			readIs(t, q, "other")
		})
	}

	t.Run("duplicate write", func(t *testing.T) {
		// The same bytes written twice (a retried bundle): both succeed.
		q := Join(root, "cond", "dup.lbs")
		writeOrFail(t, q, "shard bytes")
		writeOrFail(t, q, "shard bytes")
		readIs(t, q, "shard bytes")
	})
}

// An object replaced while it is read fails the read with ErrChanged
// naming it, instead of handing out the old bytes followed by the new:
// the proxy cuts every download in half, so the reader resumes it with a
// second request, which names the generation first read.
func TestGCSReplacedWhileRead(t *testing.T) {
	fastRetries(t)
	ctx := context.Background()
	root := gcstest.Root(t)
	gcstest.WithFaults(t, root, gcstest.Faults{Seed: 2, ResetResponse: 1, MaxInARow: 1})
	old, next := randomBytes(1<<20, 1), randomBytes(1<<20, 2)
	for _, tc := range []struct {
		name string
		open func(p string) (io.ReadCloser, error)
	}{
		{"Open", func(p string) (io.ReadCloser, error) { return Open(ctx, p) }},
		{"OpenRange", func(p string) (io.ReadCloser, error) { return OpenRange(ctx, p, 10, 900_000) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := Join(root, tc.name+".bin")
			if err := WriteBytes(ctx, p, old); err != nil {
				t.Fatal(err)
			}
			r, err := tc.open(p)
			if err != nil {
				t.Fatal(err)
			}
			head := make([]byte, 10)
			if _, err := io.ReadFull(r, head); err != nil {
				t.Fatal(err)
			}
			if err := WriteBytes(ctx, p, next); err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(r)
			r.Close()
			if !errors.Is(err, ErrChanged) || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), "while it was being read") {
				t.Fatalf("reading %s replaced mid-read: %d bytes, error %v; want ErrChanged naming it", p, len(got), err)
			}
		})
	}
}

func writeOrFail(t *testing.T, p, s string) {
	t.Helper()
	if err := WriteBytes(context.Background(), p, []byte(s)); err != nil {
		t.Fatal(err)
	}
}

func readIs(t *testing.T, p, want string) {
	t.Helper()
	got, err := ReadFile(context.Background(), p)
	if err != nil || string(got) != want {
		t.Fatalf("%s holds %q (%v), want %q", p, got, err, want)
	}
}

func TestRedact(t *testing.T) {
	t.Setenv(TokenEnv, "fake-token-1234567890")
	for _, s := range []string{
		`Put "http://127.0.0.1:4443/upload/storage/v1/b/b/o?uploadType=resumable&upload_id=SECRETSESSION": connection reset`,
		`GET https://storage.googleapis.com/b/o?X-Goog-Algorithm=GOOG4-RSA-SHA256&X-Goog-Signature=SECRETSIG`,
		`Authorization: Bearer SECRETBEARER`,
		`token ya29.SECRETOAUTH-x_y was refused`,
		`the token fake-token-1234567890 leaked`,
		`upload_id=SECRETSESSION in a message`,
	} {
		got := redact(s)
		if strings.Contains(got, "SECRET") || strings.Contains(got, "fake-token-1234567890") {
			t.Errorf("redact(%q) = %q: a secret is left", s, got)
		}
	}
	err := wrapErr("write", "gs://b/o", fmt.Errorf("wrapped: %w", io.ErrUnexpectedEOF))
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("wrapErr loses the chain: %v", err)
	}
	err = wrapErr("write", "gs://b/o", fmt.Errorf(`Put "http://h/upload?upload_id=SECRET": %w`, io.ErrUnexpectedEOF))
	if !errors.Is(err, io.ErrUnexpectedEOF) || strings.Contains(err.Error(), "SECRET") || !strings.Contains(err.Error(), "gs://b/o") {
		t.Errorf("wrapErr of an error with a session id: %v", err)
	}
}

func TestGlobRegexp(t *testing.T) {
	for _, tc := range []struct {
		glob, name string
		want       bool
	}{
		{"a/*.lbs", "a/x.lbs", true},
		{"a/*.lbs", "a/s/x.lbs", false},
		{"a/**.lbs", "a/s/x.lbs", true},
		{"a/**/x.lbs", "a/x.lbs", true},
		{"a/**/x.lbs", "a/s/t/x.lbs", true},
		{"a/?-[01].lbs", "a/b-1.lbs", true},
		{"a/?-[!01].lbs", "a/b-1.lbs", false},
		{"a/x+(1).lbs", "a/x+(1).lbs", true},
	} {
		re, err := globRegexp(tc.glob)
		if err != nil {
			t.Fatal(err)
		}
		if got := re.MatchString(tc.name); got != tc.want {
			t.Errorf("glob %q on %q: %v, want %v", tc.glob, tc.name, got, tc.want)
		}
	}
	if _, err := globRegexp("a/[bc"); err == nil {
		t.Error("glob with an unclosed '[': no error")
	}
}

func TestCRC32CCombine(t *testing.T) {
	table := crc32.MakeTable(crc32.Castagnoli)
	for _, n := range [][2]int{{0, 0}, {0, 5}, {5, 0}, {1, 1}, {1000, 3}, {3, 100_000}} {
		a, b := randomBytes(n[0], 1), randomBytes(n[1], 2)
		want := crc32.Checksum(append(append([]byte(nil), a...), b...), table)
		if got := crc32c.Combine(crc32.Checksum(a, table), crc32.Checksum(b, table), int64(len(b))); got != want {
			t.Errorf("combine of %d and %d bytes: %08x, want %08x", n[0], n[1], got, want)
		}
	}
}

// Every answer is cut in half once: uploads whose answer is lost, and
// compositions whose retry then meets its own result (412), are
// recognised by their size and CRC32C as having landed.
func TestGCSLostAnswers(t *testing.T) {
	fastRetries(t)
	ctx := context.Background()
	root := gcstest.Root(t)
	px := gcstest.WithFaults(t, root, gcstest.Faults{Seed: 3, ResetResponse: 1, MaxInARow: 1})
	var srcs []string
	var want []byte
	for i := range 40 { // two compose rounds: 40 → 2 → 1
		p := Join(root, "parts", fmt.Sprintf("%02d", i))
		b := randomBytes(100+i, uint64(i))
		if err := WriteBytes(ctx, p, b); err != nil {
			t.Fatalf("WriteBytes(%s) with its answer lost: %v", p, err)
		}
		srcs, want = append(srcs, p), append(want, b...)
	}
	dst := Join(root, "joined.bin")
	if err := Concat(ctx, dst, srcs); err != nil {
		t.Fatalf("Concat with its answers lost: %v", err)
	}
	readIs(t, dst, string(want))
	if err := CreateExclusive(ctx, Join(root, "LOCK"), []byte("holder")); err != nil {
		t.Fatalf("CreateExclusive with its answer lost: %v", err)
	}
	_, gen, err := ReadGeneration(ctx, dst)
	if err != nil {
		t.Fatal(err)
	}
	if err := WriteIfGeneration(ctx, dst, []byte("replaced"), gen); err != nil {
		t.Fatalf("WriteIfGeneration with its answer lost: %v", err)
	}
	readIs(t, dst, "replaced")
	if left, err := List(ctx, Join(root, "joined.bin.compose-*")); err != nil || len(left) != 0 {
		t.Errorf("temporary compose objects left: %q, %v", left, err)
	}
	if st := px.Stats(); st.ResetResponses < 40 {
		t.Errorf("proxy: %v; want every upload's answer cut", st)
	}
}

// composed recognises a composition by size and CRC32C (the emulator
// ignores preconditions on compose, so TestGCSLostAnswers cannot reach the
// 412 that calls it on GCS).
func TestGCSComposedRecognised(t *testing.T) {
	ctx := context.Background()
	root := gcstest.Root(t)
	var srcs, names []string
	for i := range 3 {
		p := Join(root, fmt.Sprintf("part-%d", i))
		writeOrFail(t, p, strings.Repeat(fmt.Sprint(i), 10+i))
		srcs = append(srcs, p)
		names = append(names, strings.TrimPrefix(p, "gs://"+gcstest.Bucket+"/"))
	}
	dst := Join(root, "joined")
	if err := Concat(ctx, dst, srcs); err != nil {
		t.Fatal(err)
	}
	client, err := gcsClient(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	bh, target := client.Bucket(gcstest.Bucket), strings.TrimPrefix(dst, "gs://"+gcstest.Bucket+"/")
	if !composed(ctx, bh, target, names) {
		t.Error("the composition of its sources is not recognised")
	}
	if composed(ctx, bh, target, names[:2]) || composed(ctx, bh, target, []string{names[1], names[0], names[2]}) {
		t.Error("a composition of other sources, or in another order, is taken for it")
	}
}

// Ranges planned at one generation (Stat) and read later (OpenRangeAt)
// come from that generation or fail with ErrChanged naming the file.
func TestOpenRangeAtPinned(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	for _, p := range []string{Join(gcstest.Root(t), "pinned.csv"), Join(dir, "pinned.csv")} {
		name := scheme(p)
		if name == "" {
			name = "local"
		}
		t.Run(name, func(t *testing.T) {
			writeOrFail(t, p, "a,b\n1,2\n3,4\n")
			fi, err := Stat(ctx, p)
			if err != nil || fi.Size != 12 || fi.Generation == 0 {
				t.Fatalf("Stat = %+v, %v; want 12 bytes and a generation", fi, err)
			}
			r, err := OpenRangeAt(ctx, p, fi.Generation, 4, 4)
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(r)
			r.Close()
			if err != nil || string(got) != "1,2\n" {
				t.Fatalf("OpenRangeAt of the planned generation: %q, %v", got, err)
			}
			time.Sleep(10 * time.Millisecond) // a new modification time, locally
			writeOrFail(t, p, "a,b\n5,6\n7,8\n")
			_, err = OpenRangeAt(ctx, p, fi.Generation, 4, 4)
			if !errors.Is(err, ErrChanged) || !strings.Contains(err.Error(), p) {
				t.Fatalf("OpenRangeAt after the file was replaced: %v, want ErrChanged naming %s", err, p)
			}
			if err := Remove(ctx, p); err != nil {
				t.Fatal(err)
			}
			if _, err := OpenRangeAt(ctx, p, fi.Generation, 0, 1); !errors.Is(err, ErrChanged) {
				t.Fatalf("OpenRangeAt after the file was removed: %v, want ErrChanged", err)
			}
		})
	}
}
