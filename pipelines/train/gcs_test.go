package train

// End-to-end tests on gs:// inputs and outputs against a real GCS server
// (fake-gcs-server, run as a separate process by gcstest): preprocess →
// train → resume, and failures between writes. Without an emulator they
// skip, except under CI=true, where they fail.

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/lightbeam-ml/lightbeam/data/formats"
	"github.com/lightbeam-ml/lightbeam/data/shardio"
	"github.com/lightbeam-ml/lightbeam/model"
	"github.com/lightbeam-ml/lightbeam/pipelines/preprocess"
	"github.com/lightbeam-ml/lightbeam/storage"
	"github.com/lightbeam-ml/lightbeam/storage/gcstest"
)

// blobsCSV returns blobs(n) as bytes.
func blobsCSV(t *testing.T, n int) []byte {
	t.Helper()
	p := filepath.Join(t.TempDir(), "blobs.csv")
	blobs(t, p, n)
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// spoil replaces the first field of every k-th data row of csv with a
// non-number, and returns the result and the number of rows spoiled.
func spoil(csv []byte, k int) ([]byte, int) {
	lines := strings.Split(string(csv), "\n")
	n := 0
	for i := 1; i < len(lines); i++ {
		if lines[i] != "" && i%k == 0 {
			_, rest, _ := strings.Cut(lines[i], ",")
			lines[i] = "oops," + rest
			n++
		}
	}
	return []byte(strings.Join(lines, "\n")), n
}

func writeGCS(t *testing.T, p string, data []byte) {
	t.Helper()
	if err := storage.WriteBytes(context.Background(), p, data); err != nil {
		t.Fatal(err)
	}
}

func readGCS(t *testing.T, p string) []byte {
	t.Helper()
	b, err := storage.ReadFile(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func exists(t *testing.T, p string) bool {
	t.Helper()
	ok, err := storage.Exists(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	return ok
}

func list(t *testing.T, glob string) []string {
	t.Helper()
	files, err := storage.List(context.Background(), glob)
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// gcsParams returns the parameters of the checkpoint after epoch in out.
func gcsParams(t *testing.T, out string, epoch int) []float32 {
	t.Helper()
	p := runCheckpoint(out, epoch)
	ck, err := model.DecodeCheckpoint(readGCS(t, p), p)
	if err != nil {
		t.Fatal(err)
	}
	return ck.Params
}

func csvConfig(in, out string) preprocess.Config {
	return preprocess.Config{Format: "csv", Input: in, Out: out, Shards: 4, CSV: formats.CSVOptions{Label: "label"}}
}

// Preprocess and train with every input and output on gs://, then resume
// a run from gs:// checkpoints: the same shards and models as local runs.
func TestGCSEndToEnd(t *testing.T) {
	ctx := context.Background()
	root := gcstest.Root(t)
	in := storage.Join(root, "in", "blobs.csv")
	writeGCS(t, in, blobsCSV(t, 3000))
	prep := storage.Join(root, "prep")
	prepRep, err := preprocess.Run(ctx, csvConfig(in, prep))
	if err != nil {
		t.Fatal(err)
	}
	if prepRep.RowsRead != 3000 || prepRep.RowsRejected != 0 || prepRep.Shards != 12 {
		t.Fatalf("preprocess report %+v: want 3000 rows read, 0 rejected, 12 shards", prepRep)
	}

	// The gs:// input has the base name of the local one, so the record
	// identities, splits and shards are the same, byte for byte.
	gm, err := shardio.ReadManifest(ctx, prep)
	if err != nil {
		t.Fatal(err)
	}
	lm, err := shardio.ReadManifest(ctx, prepared(t, 4))
	if err != nil {
		t.Fatal(err)
	}
	var onGCS []string
	for _, split := range []string{"train", "validation", "test"} {
		if !reflect.DeepEqual(gm.Splits[split], lm.Splits[split]) {
			t.Errorf("split %s: the gs:// shards %+v differ from the local ones %+v", split, gm.Splits[split], lm.Splits[split])
		}
		for _, sh := range gm.Splits[split].Shards {
			onGCS = append(onGCS, storage.Join(prep, sh.Path))
		}
	}
	if got := list(t, storage.Join(prep, "shards", "*.lbs")); len(got) != len(onGCS) {
		t.Errorf("gs:// holds shards %q, the manifest lists %q", got, onGCS)
	}

	c := Config{Data: prep, Out: storage.Join(root, "train"), Model: "mlp", Hidden: []int{16}, Epochs: 2, Batch: 128, Accel: "go"}
	rep := run(t, c)
	if rep.TestAccuracy < 0.85 || rep.TestExamples == 0 || len(rep.History) != 2 {
		t.Errorf("test accuracy %.3f on %d examples after %d epochs, want ≥ 0.85 after 2", rep.TestAccuracy, rep.TestExamples, len(rep.History))
	}
	modelPath := storage.Join(c.Out, "model.safetensors")
	if rep.ModelFile != modelPath {
		t.Errorf("report names the model %s, want %s", rep.ModelFile, modelPath)
	}
	var saved Report
	if err := json.Unmarshal(readGCS(t, storage.Join(c.Out, "report.json")), &saved); err != nil {
		t.Fatalf("report.json on gs://: %v", err)
	}
	if saved.TestAccuracy != rep.TestAccuracy || saved.BestEpoch != rep.BestEpoch || len(saved.History) != 2 {
		t.Errorf("report.json on gs:// says %+v, Run returned %+v", saved, rep)
	}
	m, mp, _, err := model.DecodeModel(readGCS(t, modelPath), modelPath)
	if err != nil {
		t.Fatal(err)
	}
	if m.NumParams() != rep.Params || maxDiff(mp, gcsParams(t, c.Out, rep.BestEpoch)) != 0 {
		t.Errorf("model.safetensors holds %d params, not those of best epoch %d", m.NumParams(), rep.BestEpoch)
	}
	if png := readGCS(t, storage.Join(c.Out, "curves.png")); !bytes.HasPrefix(png, []byte("\x89PNG\r\n\x1a\n")) {
		t.Errorf("curves.png on gs:// is not a PNG (%d bytes)", len(png))
	}
	// Same bits as training on the local copy of the data (plain: the Beam
	// run's bits, as TestBeamMatchesPlain shows).
	local := baseConfig(t, 4)
	local.Plain = true
	run(t, local)
	if d := maxDiff(params(t, local.Out, 2), gcsParams(t, c.Out, 2)); d != 0 {
		t.Errorf("the model trained on gs:// differs from the one trained locally by %g", d)
	}

	t.Run("resume", func(t *testing.T) {
		full := c
		full.Out, full.Epochs = storage.Join(root, "full"), 3
		run(t, full)
		// A run killed after epoch 1 leaves the checkpoints of epochs 0 and 1.
		part := full
		part.Out, part.Resume = storage.Join(root, "part"), true
		for e := 0; e <= 1; e++ {
			writeGCS(t, runCheckpoint(part.Out, e), readGCS(t, runCheckpoint(full.Out, e)))
		}
		var log bytes.Buffer
		rep, err := Run(ctx, part, &log)
		if err != nil {
			t.Fatal(err)
		}
		if want := "resuming after epoch 1 from " + runCheckpoint(part.Out, 1); !strings.Contains(log.String(), want) {
			t.Fatalf("the resumed run did not say %q; its log:\n%s", want, log.String())
		}
		if d := maxDiff(gcsParams(t, full.Out, 3), gcsParams(t, part.Out, 3)); d != 0 {
			t.Fatalf("the model resumed from gs:// differs from the uninterrupted one by %g", d)
		}
		if len(rep.History) != 3 || !exists(t, storage.Join(part.Out, "report.json")) {
			t.Fatalf("resumed run: %d epochs of history (want 3), report.json written: %v", len(rep.History), exists(t, storage.Join(part.Out, "report.json")))
		}
	})

	// gs:// paths never leak into local paths ("gs:/lightbeam-test/...").
	if _, err := os.Stat("gs:"); err == nil {
		wd, _ := os.Getwd()
		t.Errorf("a local directory gs: was created in %s", wd)
	}
}

// A failure between writes leaves nothing that reads as complete: a
// preprocess job that fails after writing its shards leaves no manifest,
// and train refuses the output; a training run that diverges keeps its
// last good checkpoint only; a finished output is neither replaced without
// Overwrite nor, when a replacing job fails, mixed with it.
func TestGCSFailuresBetweenWrites(t *testing.T) {
	ctx := context.Background()
	root := gcstest.Root(t)
	good := blobsCSV(t, 3000)
	bad, spoiled := spoil(good, 25) // 4% rejects: more than the default 1%
	goodIn, badIn := storage.Join(root, "good", "blobs.csv"), storage.Join(root, "bad", "blobs.csv")
	writeGCS(t, goodIn, good)
	writeGCS(t, badIn, bad)
	out := storage.Join(root, "prep")
	manifest := storage.Join(out, shardio.ManifestName)

	// incomplete checks that out reads as an unfinished output: no manifest,
	// no report, and train refuses it.
	incomplete := func(t *testing.T, when string) {
		t.Helper()
		if exists(t, manifest) || exists(t, storage.Join(out, "report.json")) {
			t.Fatalf("%s: manifest.json or report.json exists on gs://", when)
		}
		c := Config{Data: out, Out: storage.Join(root, "train-"+strings.ReplaceAll(when, " ", "-")), Model: "mlp", Hidden: []int{16}, Epochs: 1, Accel: "go"}
		_, err := Run(ctx, c, io.Discard)
		if err == nil || !strings.Contains(err.Error(), "incomplete") || !strings.Contains(err.Error(), manifest) {
			t.Fatalf("%s: train on it: error %v, want an \"incomplete\" error naming %s", when, err, manifest)
		}
		if exists(t, runCheckpoint(c.Out, 0)) {
			t.Fatalf("%s: train wrote a checkpoint before refusing the data", when)
		}
	}

	_, err := preprocess.Run(ctx, csvConfig(badIn, out))
	if err == nil || !strings.Contains(err.Error(), "rejected") || !strings.Contains(err.Error(), "no manifest was written") {
		t.Fatalf("preprocess of %d spoiled rows in 3000: error %v, want too many rejects", spoiled, err)
	}
	// The job failed between writes: after the shards and reject files,
	// before the manifest.
	if len(list(t, storage.Join(out, "shards", "*.lbs"))) == 0 || len(list(t, storage.Join(out, "rejects", "*.jsonl"))) == 0 {
		t.Fatal("the failed job wrote no shards or no reject files: the failure came before the writes it should follow")
	}
	incomplete(t, "after a failed job")

	// A rerun replaces the leftovers: the output holds what its manifest lists.
	rep, err := preprocess.Run(ctx, csvConfig(goodIn, out))
	if err != nil {
		t.Fatalf("preprocess over a failed run's leftovers: %v", err)
	}
	if rep.RowsRejected != 0 || len(list(t, storage.Join(out, "rejects", "*"))) != 0 {
		t.Errorf("after the good run: %d rejected, reject files %q; want none", rep.RowsRejected, list(t, storage.Join(out, "rejects", "*")))
	}
	m, err := shardio.ReadManifest(ctx, out)
	if err != nil {
		t.Fatal(err)
	}
	var listed []string
	for _, sp := range m.Splits {
		for _, sh := range sp.Shards {
			listed = append(listed, storage.Join(out, sh.Path))
		}
	}
	shards := list(t, storage.Join(out, "shards", "*.lbs"))
	if len(listed) != len(shards) {
		t.Errorf("gs:// holds shards %q, the manifest lists %q", shards, listed)
	}
	finished := readGCS(t, manifest)

	// A training run that diverges fails before its first checkpoint.
	t.Run("train diverges", func(t *testing.T) {
		c := Config{Data: out, Out: storage.Join(root, "nan"), Model: "mlp", Hidden: []int{16}, Epochs: 2, Batch: 128, Accel: "go",
			LR: 1e30, Optimizer: "sgd", Schedule: "constant"}
		_, err := Run(ctx, c, io.Discard)
		if err == nil || !strings.Contains(err.Error(), "loss became") || !strings.Contains(err.Error(), runCheckpoint(c.Out, 0)) {
			t.Fatalf("want a NaN-loss error naming the last good checkpoint %s, got %v", runCheckpoint(c.Out, 0), err)
		}
		if !exists(t, runCheckpoint(c.Out, 0)) {
			t.Fatal("the last good checkpoint is gone")
		}
		for _, name := range []string{"checkpoints/epoch-0001.safetensors", "model.safetensors", "report.json"} {
			if exists(t, storage.Join(c.Out, name)) {
				t.Errorf("the failed run wrote %s", name)
			}
		}
	})

	// A finished output is not replaced without Overwrite.
	_, err = preprocess.Run(ctx, csvConfig(goodIn, out))
	if err == nil || !strings.Contains(err.Error(), "exists") || !strings.Contains(err.Error(), "overwrite") {
		t.Fatalf("preprocess over a finished output without Overwrite: error %v, want a refusal", err)
	}
	if now := readGCS(t, manifest); !bytes.Equal(now, finished) {
		t.Fatal("the refused run changed manifest.json")
	}
	if now := list(t, storage.Join(out, "shards", "*.lbs")); !reflect.DeepEqual(now, shards) {
		t.Fatalf("the refused run changed the shards: %q, was %q", now, shards)
	}

	// A replacing job that fails leaves no manifest: neither the old one
	// (beside new shards) nor a new one.
	cfg := csvConfig(badIn, out)
	cfg.Overwrite = true
	if _, err := preprocess.Run(ctx, cfg); err == nil || !strings.Contains(err.Error(), "rejected") {
		t.Fatalf("overwriting with a failing job: error %v, want too many rejects", err)
	}
	incomplete(t, "after a failed overwrite")
}
