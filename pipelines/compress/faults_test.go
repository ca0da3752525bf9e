package compress

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"math/rand/v2"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/lightbeam-ml/lightbeam/data/formats"
	"github.com/lightbeam-ml/lightbeam/data/formats/formatstest"
	"github.com/lightbeam-ml/lightbeam/pipelines/preprocess"
	"github.com/lightbeam-ml/lightbeam/pipelines/train"
	"github.com/lightbeam-ml/lightbeam/storage"
	"github.com/lightbeam-ml/lightbeam/storage/gcstest"
)

// preprocess → train → compress with every input and output on gs://,
// once straight to the emulator and once through a proxy that answers a
// share of the requests with 429 or 503, resets connections in the middle
// of uploads and downloads, and delays others: the same files, byte for
// byte (report.json: but for its timings), and one log line per failed
// request.
func TestGCSFaultsEndToEnd(t *testing.T) {
	old := storage.GCSRetry
	storage.GCSRetry = storage.RetryPolicy{MaxAttempts: 10, Initial: 5 * time.Millisecond, Max: 50 * time.Millisecond}
	t.Cleanup(func() { storage.GCSRetry = old })
	ctx := context.Background()

	csv := formatstest.BlobsCSV(rand.New(rand.NewPCG(5, 6)), 900, 6, 1.5, 0)
	run := func(t *testing.T, root string) map[string][]byte {
		in := storage.Join(root, "in", "blobs.csv")
		if err := storage.WriteBytes(ctx, in, csv); err != nil {
			t.Fatal(err)
		}
		prep := storage.Join(root, "prep")
		if _, err := preprocess.Run(ctx, preprocess.Config{Format: "csv", Input: in, Out: prep, Shards: 2, CSV: formats.CSVOptions{Label: "label"}}); err != nil {
			t.Fatalf("preprocess: %v", err)
		}
		tc := train.DefaultConfig()
		tc.Data, tc.Out, tc.Model, tc.Hidden, tc.Epochs, tc.Accel, tc.Mode = prep, storage.Join(root, "train"), "mlp", []int{8}, 2, "go", "local"
		if _, err := train.Run(ctx, tc, io.Discard); err != nil {
			t.Fatalf("train: %v", err)
		}
		cc := Config{Model: tc.Out, Data: prep, Out: storage.Join(root, "compress"), Sparsity: []float64{0.5}, Quant: "int8", Accel: "go"}
		if _, err := Run(ctx, cc, io.Discard); err != nil {
			t.Fatalf("compress: %v", err)
		}
		files, err := storage.List(ctx, storage.Join(root, "**"))
		if err != nil {
			t.Fatal(err)
		}
		out := map[string][]byte{}
		for _, f := range files {
			b, err := storage.ReadFile(ctx, f)
			if err != nil {
				t.Fatal(err)
			}
			out[strings.TrimPrefix(f, root+"/")] = b
		}
		return out
	}

	// Both runs use the same prefix, so that paths recorded in the files
	// (manifest, model metadata, reports) are the same too.
	root := gcstest.Root(t)
	clean := run(t, root)
	for name := range clean {
		if err := storage.Remove(ctx, storage.Join(root, name)); err != nil {
			t.Fatal(err)
		}
	}
	px := gcstest.WithFaults(t, root, gcstest.Faults{Seed: 7, Throttle: 0.07, Unavailable: 0.07, ResetRequest: 0.3, ResetResponse: 0.1, Delay: 0.1, MaxDelay: 30 * time.Millisecond})
	log := gcstest.CaptureLog(t)
	faulty := run(t, root)
	lines := log.Lines()

	names := func(m map[string][]byte) []string {
		var s []string
		for k := range m {
			s = append(s, k)
		}
		sort.Strings(s)
		return s
	}
	if a, b := names(clean), names(faulty); strings.Join(a, " ") != strings.Join(b, " ") {
		t.Fatalf("the run through faults wrote %q, the clean run %q", b, a)
	}
	for _, name := range names(clean) {
		a, b := clean[name], faulty[name]
		if storage.Base(name) == "report.json" {
			a, b = withoutTimings(t, name, a), withoutTimings(t, name, b)
		}
		if !bytes.Equal(a, b) {
			t.Errorf("%s: %d bytes through faults differ from the %d of the clean run", name, len(b), len(a))
			if strings.HasSuffix(name, ".json") {
				t.Logf("clean: %s\nfaults: %s", a, b)
			}
		}
	}
	st := px.Stats()
	t.Logf("%d files; proxy: %v; %d gcs: lines logged", len(clean), st, len(lines))
	if st.Throttled == 0 || st.Unavailable == 0 || st.ResetRequests == 0 || st.ResetResponses == 0 || st.Delayed == 0 {
		t.Fatalf("the proxy did not inject every kind of fault: %v", st)
	}
	if int64(len(lines)) != st.Failed() {
		t.Errorf("%d retries logged for %d failed requests:\n%s", len(lines), st.Failed(), strings.Join(lines, "\n"))
	}
}

// withoutTimings returns the report b re-encoded without the keys that
// measure time (seconds, milliseconds) or follow from timings, which no
// two runs share.
func withoutTimings(t *testing.T, name string, b []byte) []byte {
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	var strip func(v any)
	strip = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				// kernels (and the bytes they keep resident) are the
				// fastest per layer as timed in this run.
				if strings.Contains(k, "seconds") || strings.Contains(k, "per_second") || strings.HasSuffix(k, "_ms") || k == "kernels" || k == "bytes_resident" {
					delete(x, k)
				} else {
					strip(e)
				}
			}
		case []any:
			for _, e := range x {
				strip(e)
			}
		}
	}
	strip(v)
	out, _ := json.Marshal(v)
	return out
}
