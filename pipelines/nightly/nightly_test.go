package nightly

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"

	"github.com/lightbeam-ml/lightbeam/data/formats"
	"github.com/lightbeam-ml/lightbeam/data/formats/formatstest"
	"github.com/lightbeam-ml/lightbeam/llm/llmtest"
	"github.com/lightbeam-ml/lightbeam/model"
	"github.com/lightbeam-ml/lightbeam/pipelines/preprocess"
	"github.com/lightbeam-ml/lightbeam/pipelines/train"
	"github.com/lightbeam-ml/lightbeam/storage"
	"github.com/lightbeam-ml/lightbeam/storage/gcstest"
)

func TestMain(m *testing.M) {
	if cfg := os.Getenv(childEnv); cfg != "" {
		flag.Parse()
		beam.Init()
		runChild(cfg)
	}
	code := ptest.MainRet(m)
	llmtest.Cleanup()
	os.Exit(code)
}

// fixture is a preprocess output and three small trained MLPs (seeds 1, 2,
// 3), made once for the package's tests.
var fixture struct {
	once   sync.Once
	err    error
	data   string
	models []string // train output directories
}

func trainedModels(t *testing.T) (string, []string) {
	t.Helper()
	fixture.once.Do(func() {
		root, err := os.MkdirTemp("", "nightly-fixture-")
		if err != nil {
			fixture.err = err
			return
		}
		csv := filepath.Join(root, "blobs.csv")
		if fixture.err = os.WriteFile(csv, formatstest.BlobsCSV(rand.New(rand.NewPCG(5, 6)), 1200, 16, 1.5, 0), 0o644); fixture.err != nil {
			return
		}
		fixture.data = filepath.Join(root, "prep")
		if _, fixture.err = preprocess.Run(context.Background(), preprocess.Config{Format: "csv", Input: csv, Out: fixture.data, Shards: 2, CSV: formats.CSVOptions{Label: "label"}}); fixture.err != nil {
			return
		}
		for seed := uint64(1); seed <= 3; seed++ {
			tc := train.DefaultConfig()
			tc.Data, tc.Out, tc.Model, tc.Hidden, tc.Epochs, tc.Accel, tc.Mode, tc.Plain, tc.Seed = fixture.data, filepath.Join(root, fmt.Sprintf("train-%d", seed)), "mlp", []int{64}, 2, "go", "local", true, seed
			if _, fixture.err = train.Run(context.Background(), tc, io.Discard); fixture.err != nil {
				return
			}
			fixture.models = append(fixture.models, tc.Out)
		}
	})
	if fixture.err != nil {
		t.Fatal(fixture.err)
	}
	return fixture.data, fixture.models
}

// copyModel puts the train output dir under models/name (local or gs://).
func copyModel(t *testing.T, dir, models, name string) {
	t.Helper()
	for _, f := range []string{modelFile, trainReport} {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := storage.WriteBytes(context.Background(), storage.Join(models, name, f), b); err != nil {
			t.Fatal(err)
		}
	}
}

func writeRecipe(t *testing.T, root, name, recipe string) string {
	t.Helper()
	p := storage.Join(root, name)
	if err := storage.WriteBytes(context.Background(), p, []byte(recipe)); err != nil {
		t.Fatal(err)
	}
	return p
}

// snapshot lists every file under root with its bytes, but runs.jsonl.
func snapshot(t *testing.T, root string) map[string]string {
	t.Helper()
	ctx := context.Background()
	files, err := storage.List(ctx, storage.Join(root, "**")) // one glob syntax on every store
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatalf("no files under %s", root)
	}
	out := map[string]string{}
	for _, f := range files {
		if strings.HasSuffix(f, RunsFile) {
			continue
		}
		b, err := storage.ReadFile(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		out[f] = string(b)
	}
	return out
}

func runLines(t *testing.T, out string) []RunReport {
	t.Helper()
	raw, err := storage.ReadFile(context.Background(), storage.Join(out, RunsFile))
	if err != nil {
		t.Fatal(err)
	}
	var reps []RunReport
	for _, line := range bytes.Split(bytes.TrimSpace(raw), []byte("\n")) {
		var r RunReport
		if err := json.Unmarshal(line, &r); err != nil {
			t.Fatalf("runs.jsonl line %q: %v", line, err)
		}
		reps = append(reps, r)
	}
	return reps
}

func latest(t *testing.T, out, name string) string {
	t.Helper()
	b, err := storage.ReadFile(context.Background(), storage.Join(out, name, LatestFile))
	if err != nil {
		if storage.IsNotExist(err) {
			return ""
		}
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// The nightly life of two models, then a third, then a gate that fails:
// on local paths and on gs://.
func TestNightly(t *testing.T) {
	data, trainedDirs := trainedModels(t)
	for _, where := range []string{"local", "gs"} {
		t.Run(where, func(t *testing.T) {
			ctx := context.Background()
			root := t.TempDir()
			if where == "gs" {
				root = gcstest.Root(t)
			}
			models, out := storage.Join(root, "models"), storage.Join(root, "nightly")
			copyModel(t, trainedDirs[0], models, "alpha")
			copyModel(t, trainedDirs[1], models, "beta")
			unfinished, err := os.ReadFile(filepath.Join(trainedDirs[2], modelFile))
			if err != nil {
				t.Fatal(err)
			}
			if err := storage.WriteBytes(ctx, storage.Join(models, "unfinished", modelFile), unfinished); err != nil {
				t.Fatal(err) // a lightbeam model without report.json: a train run not finished
			}
			recipe := writeRecipe(t, root, "int8.json", `{"quant": "int8"}`)
			cfg := Config{Models: models, Out: out, Recipe: recipe, Data: data, Gate: "max_accuracy_drop=5,min_ratio=2", Date: "2026-12-01", Accel: "go"}

			rep, err := Run(ctx, cfg, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			if rep.Outcome() != "done" || rep.Done != 2 || rep.Seen != 2 {
				t.Fatalf("first run: %s, %+v", rep.Outcome(), rep)
			}
			for _, name := range []string{"alpha", "beta"} {
				if got := latest(t, out, name); got != "2026-12-01/"+name {
					t.Errorf("%s LATEST = %q", name, got)
				}
				if ok, _ := storage.Exists(ctx, storage.Join(out, "2026-12-01", name, "model.lbc")); !ok {
					t.Errorf("%s: no artifact", name)
				}
			}
			before := snapshot(t, root)

			rep, err = Run(ctx, cfg, io.Discard)
			if err != nil || rep.Outcome() != "nothing" || rep.Skipped != 2 {
				t.Fatalf("second run: %v, %s, %+v", err, rep.Outcome(), rep)
			}
			if after := snapshot(t, root); !maps.Equal(before, after) {
				t.Errorf("the second run wrote files (beyond its runs.jsonl line)")
			}

			copyModel(t, trainedDirs[2], models, "gamma")
			cfg.Date = "2026-12-02"
			rep, err = Run(ctx, cfg, io.Discard)
			if err != nil || rep.Done != 1 || rep.Skipped != 2 || rep.Models[2].Name != "gamma" || rep.Models[2].Status != Done {
				t.Fatalf("third run: %v, %+v", err, rep)
			}
			if latest(t, out, "alpha") != "2026-12-01/alpha" || latest(t, out, "gamma") != "2026-12-02/gamma" {
				t.Errorf("LATEST after the third run: alpha %q, gamma %q", latest(t, out, "alpha"), latest(t, out, "gamma"))
			}

			cfg.Recipe = writeRecipe(t, root, "q4.json", `{"quant": "q4_0"}`)
			cfg.Gate, cfg.Date = "min_ratio=1000", "2026-12-03"
			rep, err = Run(ctx, cfg, io.Discard)
			if err != nil || rep.Outcome() != "gate" || rep.GateFailed != 3 {
				t.Fatalf("gated run: %v, %s, %+v", err, rep.Outcome(), rep)
			}
			if latest(t, out, "alpha") != "2026-12-01/alpha" || !strings.Contains(rep.Models[0].Reason, "min_ratio=1000") {
				t.Errorf("after a failed gate: LATEST %q, reason %q", latest(t, out, "alpha"), rep.Models[0].Reason)
			}
			var m marker
			raw, err := storage.ReadFile(ctx, storage.Join(out, "2026-12-03", "alpha", MarkerFile))
			if err != nil || json.Unmarshal(raw, &m) != nil || m.Passed || len(m.Gate) != 1 {
				t.Errorf("the gated output's marker: %s (%v)", raw, err)
			}

			lines := runLines(t, out)
			outcomes := []string{}
			for _, l := range lines {
				outcomes = append(outcomes, l.Outcome())
			}
			if !slices.Equal(outcomes, []string{"done", "nothing", "done", "gate"}) {
				t.Errorf("runs.jsonl outcomes %v", outcomes)
			}
		})
	}
}

// A run refuses to start while another holds the lock, and writes nothing;
// a lock past its expiry, or left by a dead process of this host, is taken
// over and the takeover is said.
func TestLock(t *testing.T) {
	ctx := context.Background()
	for _, where := range []string{"local", "gs"} {
		t.Run(where, func(t *testing.T) {
			root := t.TempDir()
			if where == "gs" {
				root = gcstest.Root(t)
			}
			path := storage.Join(root, LockFile)
			host, _ := os.Hostname()
			now := time.Date(2026, 12, 1, 3, 0, 0, 0, time.UTC)
			clock := func() time.Time { return now }
			live := fmt.Sprintf("%s:%d", host, os.Getpid())
			held, _, err := acquire(ctx, path, live, time.Hour, clock)
			if err != nil {
				t.Fatal(err)
			}
			if _, _, err := acquire(ctx, path, "other:1", time.Hour, clock); !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), live) {
				t.Errorf("a held lock: %v", err)
			}
			cfg := Config{Models: root, Out: root, Recipe: storage.Join(root, "r.json"), Now: clock, Owner: "other:1"}
			if _, err := Run(ctx, cfg, io.Discard); !errors.Is(err, ErrLocked) {
				t.Errorf("Run under a held lock: %v", err)
			}
			if lines := runLines(t, root); len(lines) != 1 || !strings.Contains(lines[0].Error, "holds the lock") || lines[0].Outcome() != "failed" {
				t.Errorf("a refused run's line: %+v", lines)
			}
			if files := snapshot(t, root); len(files) != 1 { // the lock; runs.jsonl is left out
				t.Errorf("a refused run wrote more than its line: %v", files)
			}
			later := func() time.Time { return now.Add(2 * time.Hour) }
			l2, note, err := acquire(ctx, path, "other:1", time.Hour, later)
			if err != nil || !strings.Contains(note, "expired") || !strings.Contains(note, live) {
				t.Fatalf("expired lock: %v, note %q", err, note)
			}
			if err := held.release(ctx); err != nil { // the old owner's release leaves the new lock alone
				t.Fatal(err)
			}
			if _, _, err := acquire(ctx, path, "third:1", time.Hour, later); !errors.Is(err, ErrLocked) {
				t.Errorf("the old owner's release removed the new owner's lock: %v", err)
			}
			if err := l2.release(ctx); err != nil {
				t.Fatal(err)
			}
			dead := fmt.Sprintf("%s:%d", host, 1<<22-1) // no such pid (above pid_max's default)
			if _, _, err := acquire(ctx, path, dead, time.Hour, clock); err != nil {
				t.Fatal(err)
			}
			if _, note, err := acquire(ctx, path, live, time.Hour, clock); err != nil || !strings.Contains(note, "no longer running") {
				t.Errorf("a dead owner's lock: %v, note %q", err, note)
			}
		})
	}
}

func TestGateErrors(t *testing.T) {
	for _, g := range []string{"max_acc=1", "min_ratio", "min_ratio=x"} {
		if _, err := parseGate(g); err == nil || !strings.Contains(err.Error(), "max_accuracy_drop") {
			t.Errorf("--gate=%s: %v", g, err)
		}
	}
	rules, err := parseGate("max_accuracy_drop=0.2, min_ratio=20")
	if err != nil || len(rules) != 2 {
		t.Fatalf("%v %v", rules, err)
	}
}

// Checkpoints are compressed alike: a single safetensors file that is not
// a lightbeam model, and a sharded checkpoint with its index, quantized to
// GGUF by the recipe's quant and gated on ratio and SQNR.
func TestNightlyCheckpoints(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	models := filepath.Join(root, "models")
	rng := rand.New(rand.NewPCG(9, 9))
	tensor := func(name string, rows, cols int) model.Tensor {
		x := make([]float32, rows*cols)
		for i := range x {
			x[i] = float32(rng.NormFloat64() * 0.05)
		}
		return model.Tensor{Name: name, Shape: []int{rows, cols}, Data: x}
	}
	write := func(p string, ts ...model.Tensor) {
		if err := model.WriteSafetensors(p, ts, map[string]string{"format": "pt"}); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(models, "single", modelFile), tensor("w1", 64, 128), tensor("w2", 32, 64))
	sharded := filepath.Join(models, "sharded")
	write(filepath.Join(sharded, "model-00001-of-00002.safetensors"), tensor("a.weight", 64, 64))
	write(filepath.Join(sharded, "model-00002-of-00002.safetensors"), tensor("b.weight", 64, 96))
	os.WriteFile(filepath.Join(sharded, "model.safetensors.index.json"), []byte(`{"weight_map": {"a.weight": "model-00001-of-00002.safetensors", "b.weight": "model-00002-of-00002.safetensors"}}`), 0o644)

	out := filepath.Join(root, "out")
	cfg := Config{Models: models, Out: out, Recipe: writeRecipe(t, root, "q8.json", `{"quant": "q8_0"}`), Gate: "min_ratio=3.5,min_sqnr_db=30", Date: "2026-12-01"}
	// A run killed on 2026-11-30 began "single": this run finishes that output, under its date.
	hash, err := contentHash(ctx, []byte(`{"quant": "q8_0"}`), []string{filepath.Join(models, "single", modelFile)})
	if err != nil {
		t.Fatal(err)
	}
	if err := startOutput(ctx, filepath.Join(out, "2026-11-30", "single"), hash); err != nil {
		t.Fatal(err)
	}
	rep, err := Run(ctx, cfg, io.Discard)
	if err != nil || rep.Outcome() != "done" || rep.Done != 2 {
		t.Fatalf("first run: %v, %+v", err, rep)
	}
	for name, date := range map[string]string{"single": "2026-11-30", "sharded": "2026-12-01"} {
		if got := latest(t, out, name); got != date+"/"+name {
			t.Errorf("%s LATEST = %q", name, got)
		}
		if ok, _ := storage.Exists(ctx, filepath.Join(out, date, name, "model.gguf")); !ok {
			t.Errorf("%s: no model.gguf", name)
		}
	}
	if rep, err := Run(ctx, cfg, io.Discard); err != nil || rep.Outcome() != "nothing" {
		t.Errorf("second run: %v, %s", err, rep.Outcome())
	}
	// A new shard content is a new checkpoint: compressed again.
	write(filepath.Join(sharded, "model-00002-of-00002.safetensors"), tensor("b.weight", 64, 96))
	cfg.Date = "2026-12-02"
	if rep, err := Run(ctx, cfg, io.Discard); err != nil || rep.Done != 1 || rep.Skipped != 1 {
		t.Errorf("after a shard changed: %v, %+v", err, rep)
	}
	cfg.Recipe = writeRecipe(t, root, "pruned.json", `{"quant": "q8_0", "sparsity": "0.5"}`)
	if rep, err := Run(ctx, cfg, io.Discard); err != nil || rep.Failed != 2 || !strings.Contains(rep.Models[0].Reason, "may only set quant") {
		t.Errorf("a pruning recipe on checkpoints: %v, %+v", err, rep)
	}
}
