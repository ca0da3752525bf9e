package train

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"

	"github.com/lightbeam-ml/lightbeam/data/formats"
	"github.com/lightbeam-ml/lightbeam/data/formats/formatstest"
	"github.com/lightbeam-ml/lightbeam/model"
	"github.com/lightbeam-ml/lightbeam/model/modeltest"
	"github.com/lightbeam-ml/lightbeam/pipelines/preprocess"
)

func TestMain(m *testing.M) { ptest.Main(m) }

// blobs writes a CSV of three Gaussian classes in 12 dimensions, with
// enough overlap that accuracy is high but not perfect.
func blobs(t testing.TB, path string, n int) {
	if err := os.WriteFile(path, formatstest.BlobsCSV(rand.New(rand.NewPCG(42, 7)), n, 12, 1.5, 10), 0o644); err != nil {
		t.Fatal(err)
	}
}

var fixture struct {
	once sync.Once
	dirs map[int]string // shards → preprocess output
	err  error
}

// prepared returns a preprocess output of the blobs with the given number
// of shards (1, 4 or 8), made once per test binary.
func prepared(t *testing.T, shards int) string {
	t.Helper()
	fixture.once.Do(func() {
		root, err := os.MkdirTemp("", "lightbeam-train-test")
		if err != nil {
			fixture.err = err
			return
		}
		csv := filepath.Join(root, "blobs.csv")
		blobs(t, csv, 3000)
		fixture.dirs = map[int]string{}
		for _, n := range []int{1, 4, 8} {
			dir := filepath.Join(root, fmt.Sprintf("prep-%d", n))
			cfg := preprocess.Config{Format: "csv", Input: csv, Out: dir, Shards: n, CSV: formats.CSVOptions{Label: "label"}}
			if _, err := preprocess.Run(context.Background(), cfg); err != nil {
				fixture.err = err
				return
			}
			fixture.dirs[n] = dir
		}
	})
	if fixture.err != nil {
		t.Fatal(fixture.err)
	}
	return fixture.dirs[shards]
}

func baseConfig(t *testing.T, shards int) Config {
	return Config{Data: prepared(t, shards), Out: t.TempDir(), Model: "mlp", Hidden: []int{16}, Epochs: 2, Batch: 128, Accel: "go"}
}

func run(t *testing.T, c Config) *Report {
	t.Helper()
	rep, err := Run(context.Background(), c, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func params(t *testing.T, dir string, epoch int) []float32 {
	t.Helper()
	ck := modeltest.ReadCheckpoint(t, runCheckpoint(dir, epoch))
	return ck.Params
}

func maxDiff(a, b []float32) float64 {
	if len(a) != len(b) {
		return math.Inf(1)
	}
	d := 0.0
	for i := range a {
		d = math.Max(d, math.Abs(float64(a[i]-b[i])))
	}
	return d
}

// The Beam pipeline and the plain loop run the same rounds: same bits.
func TestBeamMatchesPlain(t *testing.T) {
	for _, tc := range []struct {
		mode            string
		workers, perJob int
	}{{"sync", 0, 0}, {"local", 0, 0}, {"sync", 3, 0}, {"local", 4, 0}, {"sync", 2, 3}, {"local", 2, 1}} {
		t.Run(fmt.Sprintf("%s/workers=%d/per-job=%d", tc.mode, tc.workers, tc.perJob), func(t *testing.T) {
			c := baseConfig(t, 4)
			c.Mode, c.Workers, c.RoundsPerJob = tc.mode, tc.workers, tc.perJob
			rep := run(t, c)
			if parts, _ := filepath.Glob(filepath.Join(c.Out, "checkpoints", ".*")); len(parts) > 0 {
				t.Errorf("left behind: %v", parts)
			}
			p := c
			p.Out, p.Plain = t.TempDir(), true
			run(t, p)
			if d := maxDiff(params(t, c.Out, 2), params(t, p.Out, 2)); d != 0 {
				t.Fatalf("beam and plain models differ by %g", d)
			}
			if rep.TestAccuracy < 0.85 {
				t.Errorf("test accuracy %.3f after 2 epochs, want ≥ 0.85", rep.TestAccuracy)
			}
			if len(rep.History) != 2 || rep.History[1].ValidationAccuracy <= 0 {
				t.Errorf("history %+v", rep.History)
			}
		})
	}
}

// Dropout and distillation keep Beam and the plain loop bit for bit
// equal (the masks are seeded per row, the teacher's logits computed on
// the same rows), and each changes the model.
func TestRegularizedBeamMatchesPlain(t *testing.T) {
	tc := baseConfig(t, 4)
	tc.Plain = true
	teacher := run(t, tc).ModelFile
	for _, tc := range []struct {
		name    string
		mode    string
		workers int
		reg     func(c *Config)
	}{
		{"dropout/sync", "sync", 0, func(c *Config) { c.Dropout, c.InputDropout = 0.3, 0.1 }},
		{"dropout/local/workers=2", "local", 2, func(c *Config) { c.Dropout = 0.5 }},
		{"distill/local", "local", 0, func(c *Config) { c.Teacher, c.Distill, c.Temperature = teacher, 0.7, 3 }},
		{"both/sync/workers=3", "sync", 3, func(c *Config) { c.Dropout, c.Teacher, c.Distill = 0.2, teacher, 0.5 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := baseConfig(t, 4)
			c.Mode, c.Workers, c.Seed = tc.mode, tc.workers, 3
			tc.reg(&c)
			rep, got := beamEqualsPlain(t, c)
			none := c
			none.Out, none.Plain = t.TempDir(), true
			none.Dropout, none.InputDropout, none.Teacher, none.Distill, none.Temperature = 0, 0, "", 0, 0
			run(t, none)
			if d := maxDiff(got, params(t, none.Out, 2)); d == 0 {
				t.Errorf("the regularized model equals the plain one")
			}
			if rep.TestAccuracy < 0.85 {
				t.Errorf("test accuracy %.3f after 2 epochs, want ≥ 0.85", rep.TestAccuracy)
			}
		})
	}
}

// beamEqualsPlain trains c (on Beam) and c with --plain, fails unless
// their models after epoch 2 are equal bit for bit, and returns the Beam
// run's report and those parameters.
func beamEqualsPlain(t *testing.T, c Config) (*Report, []float32) {
	t.Helper()
	rep := run(t, c)
	p := c
	p.Out, p.Plain = t.TempDir(), true
	run(t, p)
	got := params(t, c.Out, 2)
	if d := maxDiff(got, params(t, p.Out, 2)); d != 0 {
		t.Fatalf("beam and plain models differ by %g", d)
	}
	return rep, got
}

// In sync mode the global mini-batches do not depend on the sharding: 1
// shard and 8 shards train the same model, up to the order of float
// additions.
func TestShardCountInvariance(t *testing.T) {
	one, eight := baseConfig(t, 1), baseConfig(t, 8)
	one.Plain, eight.Plain = true, true
	one.Mode, eight.Mode = "sync", "sync"
	run(t, one)
	run(t, eight)
	a, b := params(t, one.Out, 2), params(t, eight.Out, 2)
	if d := maxDiff(a, b); d > 1e-4 {
		t.Fatalf("1-shard and 8-shard models differ by %g", d)
	}
	// And the check can fail: another seed gives another model.
	other := baseConfig(t, 8)
	other.Plain, other.Seed, other.Mode = true, 2, "sync"
	run(t, other)
	if d := maxDiff(a, params(t, other.Out, 2)); d < 1e-3 {
		t.Fatalf("seeds 1 and 2 give models only %g apart", d)
	}
}

// A run stopped after epoch 1 and resumed ends with the same model as an
// uninterrupted one.
func TestResume(t *testing.T) {
	full := baseConfig(t, 4)
	full.Epochs = 3
	run(t, full)
	// A run killed after epoch 1 leaves the checkpoints of epochs 0 and 1.
	part := full
	part.Out, part.Resume = t.TempDir(), true
	for e := 0; e <= 1; e++ {
		b, err := os.ReadFile(runCheckpoint(full.Out, e))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Dir(runCheckpoint(part.Out, e)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(runCheckpoint(part.Out, e), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	rep := run(t, part)
	if d := maxDiff(params(t, full.Out, 3), params(t, part.Out, 3)); d != 0 {
		t.Fatalf("resumed model differs by %g", d)
	}
	if len(rep.History) != 3 {
		t.Fatalf("resumed history has %d epochs, want 3", len(rep.History))
	}
}

// A diverging run stops with a clear error and keeps the last good
// checkpoint.
func TestNaNStops(t *testing.T) {
	c := baseConfig(t, 4)
	c.LR, c.Optimizer, c.Schedule = 1e30, "sgd", "constant"
	c.Plain = false
	_, err := Run(context.Background(), c, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "loss became") || !strings.Contains(err.Error(), "epoch-0000") {
		t.Fatalf("want a NaN-loss error naming the last good checkpoint, got %v", err)
	}
	if _, err := os.Stat(runCheckpoint(c.Out, 0)); err != nil {
		t.Fatalf("the last good checkpoint is gone: %v", err)
	}
	if _, err := os.Stat(runCheckpoint(c.Out, 1)); err == nil {
		t.Fatal("the failed epoch wrote a checkpoint")
	}
}

// Gradient ascent on the log-likelihood: the log-likelihood rises, and it
// is the same path as descent on the loss.
func TestMaximize(t *testing.T) {
	minC := baseConfig(t, 4)
	minC.Plain, minC.Epochs = true, 3
	run(t, minC)
	maxC := minC
	maxC.Out, maxC.Objective = t.TempDir(), "maximize"
	rep := run(t, maxC)
	if d := maxDiff(params(t, minC.Out, 3), params(t, maxC.Out, 3)); d > 1e-6 {
		t.Fatalf("ascent on the log-likelihood and descent on the loss differ by %g", d)
	}
	h := rep.History
	if !(-h[2].TrainLoss > -h[0].TrainLoss) {
		t.Fatalf("log-likelihood did not rise: %v → %v", -h[0].TrainLoss, -h[2].TrainLoss)
	}
}

// With a learning rate too small to move a float32 weight, the validation
// loss never improves after epoch 1: patience 2 stops the run at epoch 3.
func TestEarlyStopping(t *testing.T) {
	c := baseConfig(t, 4)
	c.Plain, c.Epochs, c.Patience = true, 8, 2
	c.Optimizer, c.LR, c.Schedule = "sgd", 1e-30, "constant"
	rep := run(t, c)
	if !rep.StoppedEarly || rep.Epochs != 3 || rep.BestEpoch != 1 {
		t.Fatalf("stopped early %v after %d epochs with best epoch %d; want a stop after 3 with best 1", rep.StoppedEarly, rep.Epochs, rep.BestEpoch)
	}
}

func TestEvaluateConfusion(t *testing.T) {
	c := baseConfig(t, 4)
	c.Plain = true
	rep := run(t, c)
	for _, plain := range []bool{true, false} {
		res, err := EvaluateSplit(context.Background(), EvalConfig{Model: rep.ModelFile, Data: c.Data, Accel: "go", Plain: plain})
		if err != nil {
			t.Fatal(err)
		}
		var total, diag int64
		for i, row := range res.Confusion {
			for j, n := range row {
				total += n
				if i == j {
					diag += n
				}
			}
		}
		if total != res.Examples || math.Abs(float64(diag)/float64(total)-res.Accuracy) > 1e-12 {
			t.Fatalf("plain=%v: confusion sums to %d (diagonal %d), examples %d, accuracy %v", plain, total, diag, res.Examples, res.Accuracy)
		}
		if math.Abs(res.Accuracy-rep.TestAccuracy) > 1e-12 {
			t.Fatalf("evaluate says %v, the report %v", res.Accuracy, rep.TestAccuracy)
		}
		if !bytes.Contains([]byte(res.Text()), []byte("confusion")) {
			t.Fatal("text output has no confusion matrix")
		}
	}
}

func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		c    Config
		want string
	}{
		{Config{Data: "x", Out: "y", Mode: "async"}, `--mode="async": want sync or local`},
		{Config{Data: "x"}, "--data and --out are required"},
		{Config{Data: "x", Out: "y", Model: "softmax", Hidden: []int{3}}, "--hidden is for --model=mlp only"},
		{Config{Data: "x", Out: "y", Patience: -1}, "--patience=-1: want 0 (off) or more"},
		{Config{Data: "x", Out: "y", Workers: -2}, "--workers=-2"},
		{Config{Data: "x", Out: "y", Dropout: 1}, "dropout 1: want a share in [0, 1)"},
		{Config{Data: "x", Out: "y", InputDropout: -0.5}, "input dropout -0.5"},
		{Config{Data: "x", Out: "y", Distill: 0.5}, "--distill=0.5 needs --teacher"},
		{Config{Data: "x", Out: "y", Teacher: "t.safetensors"}, "--teacher needs --distill"},
		{Config{Data: "x", Out: "y", Teacher: "t", Distill: 2}, "distillation weight 2"},
		{Config{Data: "x", Out: "y", Model: "linear", Teacher: "t", Distill: 0.5}, "--distill needs a classifier"},
	} {
		if err := tc.c.Prepare(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: got %v, want an error containing %q", tc.c, err, tc.want)
		}
	}
	if _, err := ParseHidden("300,x"); err == nil || !strings.Contains(err.Error(), `--hidden="300,x": want positive widths`) {
		t.Errorf("ParseHidden(300,x): %v", err)
	}
}

// Cross-validation trains settings × folds models in one pipeline per
// epoch; each fold's model matches the same model trained alone (plain),
// and the best setting is retrained on all of train+validation.
func TestCrossValidation(t *testing.T) {
	c := baseConfig(t, 4)
	c.Folds, c.Grid, c.Epochs = 3, "lr=0.05,1e-6", 2
	rep := run(t, c)
	if len(rep.CV) != 2 || len(rep.CV[0].Folds) != 3 {
		t.Fatalf("cv results %+v", rep.CV)
	}
	// A learning rate of 1e-6 cannot learn in 2 epochs; 0.05 can.
	if rep.CVBest != "lr=0.05" || !(rep.CV[0].Mean > rep.CV[1].Mean+0.1) {
		t.Fatalf("best %s, scores %+v", rep.CVBest, rep.CV)
	}
	if rep.Config["AllData"] != "true" || rep.TestAccuracy < 0.85 {
		t.Fatalf("retrained on all data %s, test accuracy %v", rep.Config["AllData"], rep.TestAccuracy)
	}
	plain := c
	plain.Out, plain.Plain = t.TempDir(), true
	run(t, plain)
	for _, dir := range []string{"setting-00-fold-00", "setting-01-fold-02"} {
		a := modeltest.ReadCheckpoint(t, checkpointAt(filepath.Join(c.Out, "cv", dir), 2))
		b := modeltest.ReadCheckpoint(t, checkpointAt(filepath.Join(plain.Out, "cv", dir), 2))
		if d := maxDiff(a.Params, b.Params); d != 0 {
			t.Fatalf("%s: beam and plain differ by %g", dir, d)
		}
	}
	if _, err := ParseGrid("lr=0.1;lr=0.2"); err == nil {
		t.Error("a grid naming lr twice: no error")
	}
	if g, err := ParseGrid("lr=0.1,0.03;l2=0,1e-4"); err != nil || len(g) != 4 {
		t.Errorf("ParseGrid: %v, %v", g, err)
	}
}

// Fine-tuning a pruned model (--init --freeze-zeros) keeps its zeros, and
// their optimizer state, in both modes and with Adam; Beam and plain agree
// bit for bit; without the freeze the zeros move.
func TestFreezeZeros(t *testing.T) {
	c := baseConfig(t, 4)
	c.Plain = true
	trained := run(t, c)
	raw, err := os.ReadFile(trained.ModelFile)
	if err != nil {
		t.Fatal(err)
	}
	m, p, meta, err := model.DecodeModel(raw, trained.ModelFile)
	if err != nil {
		t.Fatal(err)
	}
	for i := range p { // prune every other weight, biases included
		if i%2 == 0 {
			p[i] = 0
		}
	}
	delete(meta, model.MetaFormat)
	delete(meta, model.MetaArch)
	delete(meta, model.MetaSizes)
	delete(meta, model.MetaVersion)
	pruned := filepath.Join(t.TempDir(), "pruned.safetensors")
	var buf bytes.Buffer
	if err := model.EncodeModel(&buf, m, p, meta); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(pruned, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ mode, opt string }{{"sync", "momentum"}, {"local", "momentum"}, {"sync", "adam"}} {
		var finals [][]float32
		for _, plain := range []bool{true, false} {
			c := baseConfig(t, 4)
			c.Mode, c.Optimizer, c.Plain, c.Init, c.FreezeZeros = tc.mode, tc.opt, plain, pruned, true
			run(t, c)
			ck := modeltest.ReadCheckpoint(t, runCheckpoint(c.Out, c.Epochs))
			for i := range p {
				if i%2 == 0 && ck.Params[i] != 0 {
					t.Fatalf("%s/%s: pruned weight %d became %g", tc.mode, tc.opt, i, ck.Params[i])
				}
			}
			moved := 0
			for i := range p {
				if i%2 == 1 && ck.Params[i] != p[i] {
					moved++
				}
			}
			if moved < len(p)/4 {
				t.Errorf("%s/%s: only %d kept weights changed: no training happened", tc.mode, tc.opt, moved)
			}
			for _, st := range ck.Tensors {
				if !strings.HasPrefix(st.Name, "optimizer.") {
					continue
				}
				for i := 0; i < len(st.Data); i += 2 {
					if st.Data[i] != 0 {
						t.Fatalf("%s/%s: %s[%d] = %g, want 0 for a pruned weight", tc.mode, tc.opt, st.Name, i, st.Data[i])
					}
				}
			}
			finals = append(finals, ck.Params)
		}
		if maxDiff(finals[0], finals[1]) != 0 {
			t.Errorf("%s/%s: Beam and plain differ by %g", tc.mode, tc.opt, maxDiff(finals[0], finals[1]))
		}
	}
	// The control: without the freeze, the zeros move.
	c = baseConfig(t, 4)
	c.Plain, c.Init = true, pruned
	run(t, c)
	moved := 0
	for i, v := range params(t, c.Out, c.Epochs) {
		if i%2 == 0 && v != 0 {
			moved++
		}
	}
	if moved == 0 {
		t.Error("without --freeze-zeros no pruned weight moved: the test cannot tell")
	}
}

// Fine-tuning shared weights (--init --share-weights, with the zeros
// frozen): the weights of a tensor that were equal stay equal (one value
// per cluster, moved by the cluster's summed gradient), the clusters'
// values move, and Beam and plain agree bit for bit in both modes.
func TestShareWeights(t *testing.T) {
	c := baseConfig(t, 4)
	c.Plain = true
	trained := run(t, c)
	m, p, _, err := ReadModel(context.Background(), trained.ModelFile)
	if err != nil {
		t.Fatal(err)
	}
	// Four shared values per tensor (by the rank of |w|, signs kept), and
	// every fourth weight pruned.
	for _, s := range m.Layout() {
		w := p[s.Offset : s.Offset+s.Size()]
		for i := range w {
			switch {
			case i%4 == 0:
				w[i] = 0
			case w[i] < 0:
				w[i] = -0.05 * float32(1+i%2)
			default:
				w[i] = 0.05 * float32(1+i%2)
			}
		}
	}
	shared := filepath.Join(t.TempDir(), "shared.safetensors")
	modeltest.WriteModel(t, shared, m, p, nil)
	groups := newShareGroups(m, p)
	want := 0
	for _, s := range m.Layout() {
		if s.Size() >= 16 { // smaller ones may lack a value or have it once
			want += 4
		}
	}
	if groups.n < want {
		t.Fatalf("%d clusters, want at least %d", groups.n, want)
	}
	for _, mode := range []string{"sync", "local"} {
		var finals [][]float32
		for _, plain := range []bool{true, false} {
			c := baseConfig(t, 4)
			c.Mode, c.Plain, c.Init, c.FreezeZeros, c.ShareWeights = mode, plain, shared, true, true
			run(t, c)
			got := params(t, c.Out, c.Epochs)
			value := make([]float32, groups.n)
			seen := make([]bool, groups.n)
			for i, g := range groups.group {
				switch {
				case p[i] == 0 && got[i] != 0:
					t.Fatalf("%s: pruned weight %d became %g", mode, i, got[i])
				case g < 0:
				case !seen[g]:
					value[g], seen[g] = got[i], true
				case got[i] != value[g]:
					t.Fatalf("%s: weight %d = %g left its cluster's value %g", mode, i, got[i], value[g])
				}
			}
			moved := 0
			for i, g := range groups.group {
				if g >= 0 && got[i] != p[i] {
					moved++
				}
			}
			if moved < len(p)/2 {
				t.Errorf("%s: %d shared weights moved: no fine-tuning happened", mode, moved)
			}
			finals = append(finals, got)
		}
		if d := maxDiff(finals[0], finals[1]); d != 0 {
			t.Errorf("%s: Beam and plain differ by %g", mode, d)
		}
	}
}
