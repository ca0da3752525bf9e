package compress

import (
	"bytes"
	"context"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"

	"github.com/lightbeam-ml/lightbeam/compress/artifact"
	"github.com/lightbeam-ml/lightbeam/data/formats"
	"github.com/lightbeam-ml/lightbeam/data/formats/formatstest"
	"github.com/lightbeam-ml/lightbeam/export/onnx"
	"github.com/lightbeam-ml/lightbeam/model"
	"github.com/lightbeam-ml/lightbeam/pipelines/preprocess"
	"github.com/lightbeam-ml/lightbeam/pipelines/train"
)

func TestMain(m *testing.M) { ptest.Main(m) }

// trained returns a preprocess output of three Gaussian classes in 16
// dimensions and an MLP 16-32-3 trained on it.
func trained(t *testing.T) (data, modelDir string) {
	t.Helper()
	root := t.TempDir()
	csv := filepath.Join(root, "blobs.csv")
	if err := os.WriteFile(csv, formatstest.BlobsCSV(rand.New(rand.NewPCG(3, 4)), 2400, 16, 1.2, 0), 0o644); err != nil {
		t.Fatal(err)
	}
	data = filepath.Join(root, "prep")
	if _, err := preprocess.Run(context.Background(), preprocess.Config{Format: "csv", Input: csv, Out: data, Shards: 2, CSV: formats.CSVOptions{Label: "label"}}); err != nil {
		t.Fatal(err)
	}
	tc := train.DefaultConfig()
	tc.Data, tc.Out, tc.Model, tc.Hidden, tc.Epochs, tc.Accel, tc.Mode, tc.Plain = data, filepath.Join(root, "train"), "mlp", []int{32}, 3, "go", "local", true
	if _, err := train.Run(context.Background(), tc, io.Discard); err != nil {
		t.Fatal(err)
	}
	return data, tc.Out
}

// Gradual pruning with fine-tuning, then k-means with fine-tuned
// centroids, on Beam gives the same artifact, byte for byte, as the same
// recipe with --plain; the artifact holds the sparsity asked for and keeps
// most of the accuracy.
func TestGradualPruningBeamEqualsPlain(t *testing.T) {
	data, modelDir := trained(t)
	var arts [][]byte
	for _, plain := range []bool{true, false} {
		c := Config{Model: modelDir, Data: data, Out: t.TempDir(), Sparsity: []float64{0.6, 0.3}, PruneSteps: 2, FineTuneEpochs: 1, Quant: "kmeans:4", CodebookEpochs: 1, Accel: "go", Plain: plain}
		rep, err := Run(context.Background(), c, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		if len(rep.Steps) != 3 || rep.Steps[2].Stage != "codebook" || rep.Ratio < 1.5 || rep.BytesAfter >= rep.BytesBefore {
			t.Errorf("plain=%v: steps %d, ratio %.1f (%d → %d bytes)", plain, len(rep.Steps), rep.Ratio, rep.BytesBefore, rep.BytesAfter)
		}
		if rep.AccuracyBefore < 0.8 || rep.AccuracyAfter < rep.AccuracyBefore-0.05 {
			t.Errorf("plain=%v: accuracy %.4f → %.4f", plain, rep.AccuracyBefore, rep.AccuracyAfter)
		}
		fc1 := rep.Layers[0]
		if fc1.Name != "fc1.weight" || fc1.Sparsity < 0.59 || fc1.Sparsity > 0.61 {
			t.Errorf("plain=%v: fc1 %+v, want sparsity 0.6", plain, fc1)
		}
		b, err := os.ReadFile(rep.Artifact)
		if err != nil {
			t.Fatal(err)
		}
		if len(b) != rep.BytesAfter {
			t.Errorf("report says %d bytes, the file has %d", rep.BytesAfter, len(b))
		}
		arts = append(arts, b)
		// Resume keeps the finished steps: the same artifact again.
		c.Resume = true
		if _, err := Run(context.Background(), c, io.Discard); err != nil {
			t.Fatal(err)
		}
		again, _ := os.ReadFile(rep.Artifact)
		if !bytes.Equal(again, b) {
			t.Errorf("plain=%v: a resumed run wrote a different artifact", plain)
		}
	}
	if !bytes.Equal(arts[0], arts[1]) {
		t.Error("Beam and plain gradual pruning wrote different artifacts")
	}
	bad := append([]byte(nil), arts[0]...)
	bad[len(bad)/2] ^= 0xff
	if _, err := artifact.Decode(bad, "x.lbc"); err == nil || !strings.Contains(err.Error(), "x.lbc") {
		t.Errorf("corrupt artifact: %v", err)
	}
}

// Fine-tuning distilled from the source model, with dropout, on Beam
// gives the plain run's artifact byte for byte, a different one from the
// undistilled recipe's; the recipe keys reach the Config and the
// artifact's recorded recipe.
func TestDistillBeamEqualsPlain(t *testing.T) {
	data, modelDir := trained(t)
	c, err := ParseRecipe(context.Background(), "r.json", []byte(`{"sparsity": "0.6,0.3", "prune-steps": 2, "finetune-epochs": 1, "quant": "kmeans:4", "codebook-epochs": 1, "distill": 0.7, "temperature": 3, "dropout": 0.2}`))
	if err != nil {
		t.Fatal(err)
	}
	if c.Distill != 0.7 || c.Temperature != 3 || c.Dropout != 0.2 {
		t.Fatalf("recipe gave distill %v, temperature %v, dropout %v", c.Distill, c.Temperature, c.Dropout)
	}
	c.Model, c.Data, c.Accel = modelDir, data, "go"
	var arts [][]byte
	for _, plain := range []bool{true, false, true} {
		c := c
		c.Out, c.Plain = t.TempDir(), plain
		if len(arts) == 2 {
			c.Distill, c.Temperature, c.Dropout = 0, 0, 0
		}
		rep, err := Run(context.Background(), c, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		if rep.AccuracyAfter < rep.AccuracyBefore-0.05 {
			t.Errorf("distill=%v plain=%v: accuracy %.4f → %.4f", c.Distill, plain, rep.AccuracyBefore, rep.AccuracyAfter)
		}
		b, err := os.ReadFile(rep.Artifact)
		if err != nil {
			t.Fatal(err)
		}
		arts = append(arts, b)
	}
	if !bytes.Equal(arts[0], arts[1]) {
		t.Error("Beam and plain distilled fine-tuning wrote different artifacts")
	}
	if bytes.Equal(arts[0], arts[2]) {
		t.Error("distillation and dropout did not change the artifact")
	}
	a, err := artifact.Decode(arts[0], "distilled.lbc")
	if err != nil {
		t.Fatal(err)
	}
	if r := a.Meta["compress.recipe"]; !strings.Contains(r, `"Distill":0.7`) || !strings.Contains(r, `"Temperature":3`) {
		t.Errorf("recorded recipe %s lacks the distillation", r)
	}
	c.PruneSteps, c.CodebookEpochs, c.Out = 0, 0, t.TempDir()
	if _, err := Run(context.Background(), c, io.Discard); err == nil || !strings.Contains(err.Error(), "act on fine-tuning") {
		t.Errorf("--distill without fine-tuning: %v", err)
	}
}

// Per-layer encodings and quantized biases: each lever shrinks the file,
// the layers carry the encodings asked for, the evaluation of the
// artifact agrees with the report, and a list of the wrong length fails.
func TestPerLayerQuantAndBias(t *testing.T) {
	data, modelDir := trained(t)
	sizes := map[string]int{}
	for _, tc := range []struct{ quant, bias string }{
		{"kmeans:4", ""}, {"kmeans:4", "f16"}, {"kmeans:4", "int8-tensor"}, {"kmeans:3,kmeans:4", "f16"},
	} {
		c := Config{Model: modelDir, Data: data, Out: t.TempDir(), Quant: tc.quant, Bias: tc.bias, Accel: "go", Plain: true}
		rep, err := Run(context.Background(), c, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		sizes[tc.quant+"/"+tc.bias] = rep.BytesAfter
		wantBias := tc.bias
		if wantBias == "" {
			wantBias = "f32"
		}
		if rep.Layers[1].Name != "fc1.bias" || !strings.HasPrefix(rep.Layers[1].Encoding, wantBias) {
			t.Errorf("%s/%s: fc1.bias %+v", tc.quant, tc.bias, rep.Layers[1])
		}
		if rep.AccuracyAfter < rep.AccuracyBefore-0.03 {
			t.Errorf("%s/%s: accuracy %.4f → %.4f", tc.quant, tc.bias, rep.AccuracyBefore, rep.AccuracyAfter)
		}
		ev, err := train.EvaluateSplit(context.Background(), train.EvalConfig{Model: rep.Artifact, Data: data, Accel: "go", Plain: true})
		if err != nil || ev.Accuracy != rep.AccuracyAfter {
			t.Errorf("%s/%s: evaluating the artifact: %+v, %v; the report says %.4f", tc.quant, tc.bias, ev, err, rep.AccuracyAfter)
		}
		if tc.quant == "kmeans:3,kmeans:4" && (!strings.Contains(rep.Layers[0].Encoding, "kmeans-3") || !strings.Contains(rep.Layers[2].Encoding, "kmeans-4")) {
			t.Errorf("per-layer: fc1 %s, fc2 %s", rep.Layers[0].Encoding, rep.Layers[2].Encoding)
		}
	}
	if !(sizes["kmeans:4/f16"] < sizes["kmeans:4/"] && sizes["kmeans:4/int8-tensor"] < sizes["kmeans:4/f16"] && sizes["kmeans:3,kmeans:4/f16"] < sizes["kmeans:4/f16"]) {
		t.Errorf("sizes %v: each lever should shrink the file", sizes)
	}
	// f16 weight matrices are stored dense, however sparse.
	rep, err := Run(context.Background(), Config{Model: modelDir, Out: t.TempDir(), Sparsity: []float64{0.7}, Quant: "f16", Accel: "go"}, io.Discard)
	if err != nil || rep.Layers[0].Encoding != "f16" {
		t.Errorf("sparse f16: %v, %+v", err, rep)
	}
	_, err = Run(context.Background(), Config{Model: modelDir, Out: t.TempDir(), Quant: "kmeans:3,kmeans:4,kmeans:4", Accel: "go"}, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "has 3 encodings; the model has 2 weight matrices") {
		t.Errorf("three encodings for two matrices: %v", err)
	}
}

// Compact metadata: a smaller file holding the same tensors, whose scale
// is the full one's in float32, without the training data's path, and
// that still evaluates as the model it holds.
func TestCompactMeta(t *testing.T) {
	data, modelDir := trained(t)
	var arts []*artifact.Artifact
	var reps []*Report
	for _, meta := range []string{"", "compact"} {
		rep, err := Run(context.Background(), Config{Model: modelDir, Data: data, Out: t.TempDir(), Quant: "kmeans:4", Meta: meta, Accel: "go", Plain: true}, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		raw, err := os.ReadFile(rep.Artifact)
		if err != nil {
			t.Fatal(err)
		}
		a, err := artifact.Decode(raw, rep.Artifact)
		if err != nil {
			t.Fatal(err)
		}
		arts, reps = append(arts, a), append(reps, rep)
	}
	full, compact := arts[0], arts[1]
	if reps[1].BytesAfter >= reps[0].BytesAfter || reps[1].AccuracyAfter != reps[0].AccuracyAfter {
		t.Errorf("compact: %d bytes at %.4f, full: %d at %.4f", reps[1].BytesAfter, reps[1].AccuracyAfter, reps[0].BytesAfter, reps[0].AccuracyAfter)
	}
	if _, ok := compact.Meta["train.data"]; ok || full.Meta["train.data"] == "" {
		t.Errorf("train.data: full %q, compact %q", full.Meta["train.data"], compact.Meta["train.data"])
	}
	if len(compact.Meta["preprocess.scale.factor"]) >= len(full.Meta["preprocess.scale.factor"]) {
		t.Errorf("the compact scale factor is no shorter: %d vs %d bytes", len(compact.Meta["preprocess.scale.factor"]), len(full.Meta["preprocess.scale.factor"]))
	}
	sf, _, err := onnx.ModelScale(full.Meta)
	if err != nil {
		t.Fatal(err)
	}
	sc, ok, err := onnx.ModelScale(compact.Meta)
	if err != nil || !ok {
		t.Fatalf("compact scale: %v, %v", ok, err)
	}
	for i := range sf.Factor {
		if float32(sf.Factor[i]) != float32(sc.Factor[i]) || float32(sf.Offset[i]) != float32(sc.Offset[i]) {
			t.Fatalf("feature %d: full scale (%v, %v), compact (%v, %v)", i, sf.Offset[i], sf.Factor[i], sc.Offset[i], sc.Factor[i])
		}
	}
	if r := compact.Meta["compress.recipe"]; strings.Contains(r, "Global") || !strings.Contains(r, `"Quant":"kmeans:4"`) {
		t.Errorf("compact recipe %s", r)
	}
	ev, err := train.EvaluateSplit(context.Background(), train.EvalConfig{Model: reps[1].Artifact, Data: data, Accel: "go", Plain: true})
	if err != nil || ev.Accuracy != reps[1].AccuracyAfter {
		t.Errorf("evaluating the compact artifact: %+v, %v", ev, err)
	}
}

// --prune=neurons shrinks the hidden layer (gradually, fine-tuned, Beam =
// plain), and the artifact, its metadata and the evaluation follow the
// smaller model.
func TestPruneNeurons(t *testing.T) {
	data, modelDir := trained(t)
	var arts [][]byte
	for _, plain := range []bool{true, false} {
		c := Config{Model: modelDir, Data: data, Out: t.TempDir(), Prune: "neurons", Sparsity: []float64{0.5}, PruneSteps: 2, FineTuneEpochs: 1, Quant: "int8", Accel: "go", Plain: plain}
		rep, err := Run(context.Background(), c, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		fc1, fc2 := rep.Layers[0], rep.Layers[2]
		if fc1.Shape[0] != 16 || fc2.Shape[1] != 16 || rep.AccuracyAfter < rep.AccuracyBefore-0.05 || rep.LatencyAfterMS <= 0 {
			t.Errorf("plain=%v: fc1 %v, fc2 %v, accuracy %.4f → %.4f, latency %.2f ms", plain, fc1.Shape, fc2.Shape, rep.AccuracyBefore, rep.AccuracyAfter, rep.LatencyAfterMS)
		}
		b, err := os.ReadFile(rep.Artifact)
		if err != nil {
			t.Fatal(err)
		}
		a, err := artifact.Decode(b, rep.Artifact)
		if err != nil {
			t.Fatal(err)
		}
		if sizes := a.Meta[model.MetaSizes]; !strings.HasSuffix(sizes, ",16,3") {
			t.Errorf("artifact sizes %q, want the hidden layer at 16", sizes)
		}
		arts = append(arts, b)
	}
	if !bytes.Equal(arts[0], arts[1]) {
		t.Error("Beam and plain neuron pruning wrote different artifacts")
	}
	for _, c := range []Config{
		{Model: modelDir, Out: "o", Prune: "neurons", Sparsity: []float64{0.5}, Global: true},
		{Model: modelDir, Out: "o", Prune: "channels"},
	} {
		if err := c.Prepare(); err == nil {
			t.Errorf("%+v: no error", c)
		}
	}
}

// int8 without pruning loses almost nothing; a bad recipe is refused. (The
// model is tiny, so the artifact's metadata, preprocessing statistics
// included, weighs as much as its weights: the ratios here are small.)
func TestQuantOnlyAndErrors(t *testing.T) {
	data, modelDir := trained(t)
	rep, err := Run(context.Background(), Config{Model: modelDir, Data: data, Out: t.TempDir(), Quant: "int8", Accel: "go", Plain: true}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Ratio < 1.3 || rep.AccuracyAfter < rep.AccuracyBefore-0.01 {
		t.Errorf("int8: ratio %.2f, accuracy %.4f → %.4f", rep.Ratio, rep.AccuracyBefore, rep.AccuracyAfter)
	}
	// evaluate reads the artifact itself as the model it holds, on Beam.
	ev, err := train.EvaluateSplit(context.Background(), train.EvalConfig{Model: rep.Artifact, Data: data, Accel: "go"})
	if err != nil || ev.Accuracy != rep.AccuracyAfter || ev.Loss != rep.LossAfter {
		t.Errorf("evaluating %s: %+v, %v; the report says %.4f, %.4f", rep.Artifact, ev, err, rep.AccuracyAfter, rep.LossAfter)
	}
	// q4_0 on rows that 32 does not divide: short last blocks, not a
	// fallback to another encoding.
	rep, err = Run(context.Background(), Config{Model: modelDir, Data: data, Out: t.TempDir(), Quant: "q4_0", Accel: "go", Plain: true}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Layers[0].Encoding != "q4_0" || rep.Layers[0].Shape[1]%32 == 0 || rep.AccuracyAfter < rep.AccuracyBefore-0.02 {
		t.Errorf("q4_0: %+v, accuracy %.4f → %.4f", rep.Layers[0], rep.AccuracyBefore, rep.AccuracyAfter)
	}
	for _, tc := range []struct {
		c    Config
		want string
	}{
		{Config{Model: modelDir, Out: "o", Quant: "kmeans:9"}, "want kmeans:B with B from 2 to 8"},
		{Config{Model: modelDir, Out: "o", Quant: "int4"}, "--quant=int4"},
		{Config{Model: modelDir, Out: "o", Sparsity: []float64{1}}, "must be in [0, 1)"},
		{Config{Model: modelDir, Out: "o", Sparsity: []float64{0.5}, PruneSteps: 2}, "--data is required"},
		{Config{Model: modelDir, Out: "o", Sparsity: []float64{0.5, 0.5}, Global: true}, "--global takes one"},
		{Config{Model: modelDir, Out: "o", Data: data, Quant: "int8", CodebookEpochs: 1}, "needs --quant=kmeans:B"},
		{Config{Model: modelDir, Out: "o", Quant: "kmeans:4", CodebookEpochs: 1}, "--data is required"},
		{Config{Model: modelDir, Out: "o", Quant: "kmeans:3,kmeans:9"}, "--quant=kmeans:9"},
		{Config{Model: modelDir, Out: "o", Bias: "int8"}, "use int8-tensor"},
		{Config{Model: modelDir, Out: "o", Bias: "q9"}, "--bias=q9"},
	} {
		if err := tc.c.Prepare(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: got %v, want %q", tc.c, err, tc.want)
		}
	}
}

// The recipe key augment reaches fine-tuning: the blobs are not images,
// so train refuses to move them, naming the manifest's schema.image; a
// malformed value is refused before any work.
func TestAugmentRecipe(t *testing.T) {
	data, modelDir := trained(t)
	c, err := ParseRecipe(context.Background(), "r.json", []byte(`{"sparsity": "0.5", "prune-steps": 1, "finetune-epochs": 1, "augment": "shift:1"}`))
	if err != nil {
		t.Fatal(err)
	}
	c.Model, c.Data, c.Accel, c.Out = modelDir, data, "go", t.TempDir()
	if _, err := Run(context.Background(), c, io.Discard); err == nil || !strings.Contains(err.Error(), "schema.image") {
		t.Errorf("augmenting the blobs: %v, want train's refusal naming schema.image", err)
	}
	c.Augment = "rotate:5"
	if _, err := Run(context.Background(), c, io.Discard); err == nil || !strings.Contains(err.Error(), `--augment="rotate:5"`) {
		t.Errorf("--augment=rotate:5: %v", err)
	}
	c.Augment, c.PruneSteps = "shift:1", 0
	if _, err := Run(context.Background(), c, io.Discard); err == nil || !strings.Contains(err.Error(), "need --prune-steps") {
		t.Errorf("--augment without fine-tuning: %v", err)
	}
}
