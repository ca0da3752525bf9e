package storage

// Storage faults: gs:// through gcstest's fault-injecting proxy (429, 503,
// connections reset mid-request and mid-response, delays), reads of
// objects replaced underneath, and redaction. Conditional writes and pinned
// reads are in the conformance suite (storagetest: Preconditions,
// ConditionalWrites, PinnedReads).

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
	if left, err := List(ctx, Join(root, ".joined.bin.tmp-compose-*")); err != nil || len(left) != 0 {
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
