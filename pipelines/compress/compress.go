// Package compress is the compress job: it prunes a trained lightbeam
// model (one shot, or gradually with fine-tuning through the train
// pipeline with the pruning mask frozen), quantizes its tensors, writes
// them as one artifact file (compress/artifact), and evaluates the model
// before and after on the test split.
//
//	model.safetensors ─prune (compress/prune)─▶ fine-tune: train.Run with
//	  --init=the pruned model --freeze-zeros, a lower learning rate (repeat
//	  for each step of the cubic schedule) ─▶ quantize (compress/quant,
//	  artifact.Quantize) ─▶ OUT/model.lbc + OUT/dequantized.safetensors
//	  (the artifact's values, for evaluation) + OUT/report.json
package compress

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/lightbeam-ml/lightbeam/accel"
	"github.com/lightbeam-ml/lightbeam/compress/artifact"
	"github.com/lightbeam-ml/lightbeam/compress/infer"
	"github.com/lightbeam-ml/lightbeam/compress/prune"
	"github.com/lightbeam-ml/lightbeam/data/shardio"
	"github.com/lightbeam-ml/lightbeam/model"
	"github.com/lightbeam-ml/lightbeam/pipelines/train"
	"github.com/lightbeam-ml/lightbeam/storage"
)

// Config is a compression recipe and where it applies.
type Config struct {
	Model string `json:"-"` // Required. A train output directory or a model file.
	Data  string `json:"-"` // Optional. A preprocess output: evaluation, and needed to fine-tune.
	Out   string `json:"-"` // Required. The output directory.

	// Sparsity is the share of weights pruned: one value for every weight
	// matrix, or one per weight matrix in layer order. Optional.
	Sparsity []float64
	// Global prunes with one magnitude threshold across all weight
	// matrices (Sparsity then has one value).
	Global bool
	// Prune is what is pruned: "magnitude" (default) zeroes single
	// weights; "neurons" removes whole hidden neurons, those whose incoming
	// weights have the smallest L2 norm, so the dense layers shrink. With
	// neurons, Sparsity is the share of each hidden layer's neurons
	// removed (one value, or one per hidden layer).
	Prune string
	// PruneSteps > 0 prunes gradually: step t of n prunes to
	// s_t = s_f + (0 − s_f)(1 − t/n)³ and fine-tunes FineTuneEpochs epochs
	// with the mask frozen. 0 prunes once, without fine-tuning.
	PruneSteps     int
	FineTuneEpochs int     // Optional. Defaults to 2.
	LR             float64 // fine-tuning learning rate. Optional. Defaults to 0.01.
	Mode           string  // fine-tuning mode, sync or local. Optional. Defaults to local.
	// Quant is how weight matrices are stored: f32, f16, int8 (per
	// output channel), int8-tensor, q8_0, q4_0 or kmeans:B (2^B shared
	// values); one for all, or one per weight matrix, comma-separated
	// ("kmeans:3,kmeans:4,kmeans:4"). Optional. Defaults to f32.
	Quant string
	// Bias is how bias vectors are stored: f32 (the default), f16,
	// int8-tensor or kmeans:B. Optional.
	Bias string `json:",omitempty"`
	// Meta is how much metadata the artifact carries: "full" (the
	// default) records the model file's as it is; "compact" writes the
	// preprocessing scale in float32's shortest decimals (the float32
	// values it holds, exactly), leaves out train.data (a path on the
	// machine that trained) and the recipe's zero fields. Optional.
	Meta string `json:",omitempty"`
	// CodebookEpochs > 0 fine-tunes the k-means centroids that many
	// epochs after quantizing, each moved by the summed gradient of the
	// weights that share it (Deep Compression), the zeros frozen; needs
	// Data. CodebookLR is its learning rate. Optional. Defaults to LR.
	CodebookEpochs int
	CodebookLR     float64
	// Distill > 0 fine-tunes (prune steps and codebook) with the source
	// model as teacher: the loss mixes the labels' cross-entropy with its
	// soft targets at Temperature (train.Config.Distill; T defaults to
	// 4). Dropout is train.Config.Dropout and Augment
	// train.Config.Augment ("shift:N") while fine-tuning. Optional.
	Distill     float64 `json:",omitempty"`
	Temperature float64 `json:",omitempty"`
	Dropout     float64 `json:",omitempty"`
	Augment     string  `json:",omitempty"`

	// How to run, not what to make: left out of the recipe that the
	// report and the artifact record.
	Accel     string `json:"-"` // Optional. Defaults to auto.
	Runner    string `json:"-"` // Optional. The Beam runner's name (train.DefaultWorkers).
	Plain     bool   `json:"-"` // fine-tune and evaluate without Beam
	Resume    bool   `json:"-"` // keep the prune steps already finished in Out
	Overwrite bool   `json:"-"` // replace a finished output in Out
}

// ArtifactName is the artifact's file name in Out.
const ArtifactName = "model.lbc"

// ReportName is the report Run writes last in Out.
const ReportName = "report.json"

// quants returns Quant's encodings, one or one per weight matrix
// (comma-separated), e.g. "kmeans:3,kmeans:4,kmeans:4".
func (c *Config) quants() []string {
	if c.Quant == "" {
		return []string{"f32"}
	}
	return strings.Split(c.Quant, ",")
}

// kmeans reports whether any weight matrix is stored as k-means codes.
func (c *Config) kmeans() bool {
	for _, q := range c.quants() {
		if strings.HasPrefix(strings.TrimSpace(q), "kmeans:") {
			return true
		}
	}
	return false
}

// encoding returns the artifact encoding of weight matrix i (of n) under
// Quant, sparse when the weights are sparse enough for positions to pay.
func (c *Config) encoding(i, n int, density float64) (artifact.Encoding, error) {
	qs := c.quants()
	if len(qs) != 1 && len(qs) != n {
		return artifact.Encoding{}, fmt.Errorf("--quant=%s has %d encodings; the model has %d weight matrices", c.Quant, len(qs), n)
	}
	q := qs[0]
	if len(qs) > 1 {
		q = qs[i]
	}
	enc, err := parseEncoding(strings.TrimSpace(q), "--quant")
	enc.Sparse = enc.Kind != artifact.F32 && enc.Kind != artifact.F16 && density < 0.5 // f32 and f16 are stored dense
	return enc, err
}

// parseEncoding reads f32, f16, int8, int8-tensor, q8_0, q4_0 or kmeans:B
// (flag names the flag in errors).
func parseEncoding(q, flag string) (artifact.Encoding, error) {
	if q == "" {
		q = "f32"
	}
	enc := artifact.Encoding{Kind: artifact.Kind(q)}
	if b, ok := strings.CutPrefix(q, "kmeans:"); ok {
		bits, err := strconv.Atoi(b)
		if err != nil || bits < 2 || bits > 8 {
			return enc, fmt.Errorf("%s=%s: want kmeans:B with B from 2 to 8", flag, q)
		}
		return artifact.Encoding{Kind: artifact.KMeans, Bits: bits, HalfSide: true}, nil
	}
	switch enc.Kind {
	case artifact.F32, artifact.F16, artifact.Int8, artifact.Int8Tensor, artifact.Q8_0, artifact.Q4_0:
	default:
		return enc, fmt.Errorf("%s=%s: want f32, f16, int8, int8-tensor, q8_0, q4_0 or kmeans:B", flag, q)
	}
	return enc, nil
}

// biasEncoding returns the encoding of the bias vectors (Bias).
func (c *Config) biasEncoding() (artifact.Encoding, error) {
	enc, err := parseEncoding(c.Bias, "--bias")
	if err == nil && enc.Kind == artifact.Int8 {
		err = fmt.Errorf("--bias=int8 would store a scale per value: use int8-tensor")
	}
	return enc, err
}

// Prepare fills in defaults and validates c.
func (c *Config) Prepare() error {
	if c.Model == "" || c.Out == "" {
		return fmt.Errorf("--model and --out are required")
	}
	if c.FineTuneEpochs == 0 {
		c.FineTuneEpochs = 2
	}
	if c.LR == 0 {
		c.LR = 0.01
	}
	if c.CodebookLR == 0 {
		c.CodebookLR = c.LR
	}
	if c.Mode == "" {
		c.Mode = "local"
	}
	for _, s := range c.Sparsity {
		if !(s >= 0 && s < 1) {
			return fmt.Errorf("--sparsity=%v: each value must be in [0, 1)", s)
		}
	}
	switch c.Prune {
	case "":
		c.Prune = "magnitude"
	case "magnitude", "neurons":
	default:
		return fmt.Errorf("--prune=%s: want magnitude or neurons", c.Prune)
	}
	switch {
	case c.Prune == "neurons" && c.Global:
		return fmt.Errorf("--global thresholds single weights; it does not go with --prune=neurons")
	case c.Global && len(c.Sparsity) != 1:
		return fmt.Errorf("--global takes one --sparsity value, got %d", len(c.Sparsity))
	case c.PruneSteps < 0 || c.FineTuneEpochs < 0 || c.CodebookEpochs < 0:
		return fmt.Errorf("--prune-steps, --finetune-epochs and --codebook-epochs must be 0 or more")
	case c.CodebookEpochs > 0 && !c.kmeans():
		return fmt.Errorf("--codebook-epochs fine-tunes k-means centroids: it needs --quant=kmeans:B")
	case c.CodebookEpochs > 0 && c.Data == "":
		return fmt.Errorf("--codebook-epochs fine-tunes on data: --data is required")
	case c.PruneSteps > 0 && c.Data == "":
		return fmt.Errorf("--prune-steps fine-tunes on data: --data is required")
	case c.PruneSteps > 0 && len(c.Sparsity) == 0:
		return fmt.Errorf("--prune-steps needs --sparsity")
	case !(c.Distill >= 0 && c.Distill <= 1) || !(c.Temperature >= 0) || !(c.Dropout >= 0 && c.Dropout < 1):
		return fmt.Errorf("--distill=%v, --temperature=%v, --dropout=%v: want α in [0, 1], T ≥ 0 and a dropout share in [0, 1)", c.Distill, c.Temperature, c.Dropout)
	case (c.Distill > 0 || c.Dropout > 0 || c.Augment != "") && c.PruneSteps == 0 && c.CodebookEpochs == 0:
		return fmt.Errorf("--distill, --dropout and --augment act on fine-tuning: they need --prune-steps or --codebook-epochs")
	}
	if _, err := train.ParseAugment(c.Augment); err != nil {
		return err
	}
	for _, q := range c.quants() {
		if _, err := parseEncoding(strings.TrimSpace(q), "--quant"); err != nil {
			return err
		}
	}
	if c.Meta != "" && c.Meta != "full" && c.Meta != "compact" {
		return fmt.Errorf("--meta=%s: want full or compact", c.Meta)
	}
	_, err := c.biasEncoding()
	return err
}

// Layer is one row of the report's per-layer table.
type Layer struct {
	Name          string  `json:"name"`
	Shape         []int   `json:"shape"`
	Encoding      string  `json:"encoding"`
	Sparsity      float64 `json:"sparsity"`
	Bytes         int     `json:"bytes"`
	BitsPerWeight float64 `json:"bits_per_weight"`
}

// Report is report.json.
type Report struct {
	Model           string   `json:"model"`
	Artifact        string   `json:"artifact"`
	BytesBefore     int      `json:"bytes_before"` // dense float32 tensors
	BytesAfter      int      `json:"bytes_after"`  // the artifact file, everything counted
	Ratio           float64  `json:"ratio"`
	Sparsity        float64  `json:"sparsity"` // of the weight matrices
	BitsPerWeight   float64  `json:"bits_per_weight"`
	AccuracyBefore  float64  `json:"accuracy_before"`
	AccuracyAfter   float64  `json:"accuracy_after"`
	LossBefore      float64  `json:"loss_before"`
	LossAfter       float64  `json:"loss_after"`
	LatencyBeforeMS float64  `json:"latency_before_ms"` // inference on LatencyRows rows: dense float32
	LatencyAfterMS  float64  `json:"latency_after_ms"`  // the artifact, each layer on its fastest kernel
	Backend         string   `json:"backend"`           // the accel backend timed
	Kernels         string   `json:"kernels"`           // the kernel of each layer after, e.g. "fc1=sparse fc2=sparse fc3=dense"
	BytesResident   int      `json:"bytes_resident"`    // the weights and biases as the backend holds them after
	Seconds         float64  `json:"seconds"`
	Recipe          Config   `json:"recipe"`
	Steps           []Step   `json:"steps,omitempty"`
	Layers          []Layer  `json:"layers"`
	Notes           []string `json:"notes,omitempty"`
}

// Step is one gradual-pruning step.
type Step struct {
	Stage              string    `json:"stage"` // prune or codebook
	Step               int       `json:"step,omitempty"`
	Sparsity           []float64 `json:"sparsity,omitempty"`
	ValidationAccuracy float64   `json:"validation_accuracy"`
	Seconds            float64   `json:"seconds"`
}

// Run compresses c.Model as c says, printing progress to log.
func Run(ctx context.Context, c Config, log io.Writer) (*Report, error) {
	t0 := time.Now()
	if err := c.Prepare(); err != nil {
		return nil, err
	}
	modelPath := c.modelFile()
	artPath := storage.Join(c.Out, ArtifactName)
	if done, err := storage.Exists(ctx, storage.Join(c.Out, ReportName)); err != nil {
		return nil, err
	} else if done && !c.Overwrite && !c.Resume {
		return nil, fmt.Errorf("%s holds a finished compression (pass --overwrite to replace it)", c.Out)
	}
	m, params, fileMeta, err := train.ReadModel(ctx, modelPath)
	if err != nil {
		return nil, err
	}
	params0 := slices.Clone(params)
	meta := userMeta(fileMeta)
	tu := tuner{c: &c, meta: meta, log: log}
	if c.Distill > 0 {
		// The teacher is the source model as a model file (c.Model may
		// be an artifact), written beside the fine-tuning runs.
		tu.teacher = storage.Join(c.Out, "teacher.safetensors")
		if err := writeModel(ctx, tu.teacher, m, params, meta); err != nil {
			return nil, err
		}
	}
	rep := &Report{Model: modelPath, Artifact: artPath, BytesBefore: 4 * m.NumParams(), Recipe: c}
	if c.Data != "" {
		ev, err := c.evaluate(ctx, modelPath)
		if err != nil {
			return nil, err
		}
		rep.AccuracyBefore, rep.LossBefore = ev.Accuracy, ev.Loss
	}

	m0 := m
	targets := len(weightIndices(m))
	if c.Prune == "neurons" {
		targets = len(m.Config().Hidden)
	}
	if len(c.Sparsity) > 1 && len(c.Sparsity) != targets {
		return nil, fmt.Errorf("--sparsity has %d values; %s has %d %s", len(c.Sparsity), m, targets, map[string]string{"magnitude": "weight matrices", "neurons": "hidden layers"}[c.Prune])
	}
	final := c.layerSparsity(targets)
	switch {
	case len(c.Sparsity) == 0:
	case c.PruneSteps == 0:
		if m, params, err = c.pruneTo(m0, m, params, final); err != nil {
			return nil, err
		}
	default:
		w := weights{m, params}
		for t := 1; t <= c.PruneSteps; t++ {
			st := make([]float64, len(final))
			for i, sf := range final {
				st[i] = prune.Cubic(0, sf, t, c.PruneSteps)
			}
			var step Step
			if w, step, err = tu.pruneStep(ctx, m0, w, t, st); err != nil {
				return nil, err
			}
			rep.Steps = append(rep.Steps, step)
		}
		m, params = w.m, w.params
	}

	ts, err := c.quantize(m, params)
	if err != nil {
		return nil, err
	}
	if c.CodebookEpochs > 0 {
		step, err := tu.codebook(ctx, m, ts)
		if err != nil {
			return nil, err
		}
		rep.Steps = append(rep.Steps, step)
	}
	raw, err := encodeArtifact(&c, m, ts, fileMeta)
	if err != nil {
		return nil, err
	}
	if err := storage.WriteBytes(ctx, artPath, raw); err != nil {
		return nil, err
	}
	// Read it back: the report describes the file as written.
	raw, err = storage.ReadFile(ctx, artPath)
	if err != nil {
		return nil, err
	}
	art, err := artifact.Decode(raw, artPath)
	if err != nil {
		return nil, err
	}
	deq, err := artifactParams(m, art)
	if err != nil {
		return nil, err
	}
	deqPath := storage.Join(c.Out, "dequantized.safetensors")
	if err := writeModel(ctx, deqPath, m, deq, meta); err != nil {
		return nil, err
	}
	if c.Data != "" {
		ev, err := c.evaluate(ctx, deqPath)
		if err != nil {
			return nil, err
		}
		rep.AccuracyAfter, rep.LossAfter = ev.Accuracy, ev.Loss
	}
	rep.BytesAfter = art.Size
	rep.Ratio = float64(rep.BytesBefore) / float64(rep.BytesAfter)
	rep.BitsPerWeight = 8 * float64(rep.BytesAfter) / float64(m.NumParams())
	var zeros, total int
	for i, t := range art.Tensors {
		kept := prune.NonZero(t.Dequantize())
		rep.Layers = append(rep.Layers, Layer{Name: t.Name, Shape: t.Shape, Encoding: t.Enc.String(), Sparsity: kept.Sparsity(),
			Bytes: art.Sizes[i].Total(), BitsPerWeight: art.BitsPerWeight(i)})
		if isWeight(t.Name) {
			zeros, total = zeros+len(kept)-kept.Count(), total+len(kept)
		}
	}
	if total > 0 {
		rep.Sparsity = float64(zeros) / float64(total)
	}
	if err := c.measureLatency(m0, params0, m, art, rep); err != nil {
		return nil, err
	}
	rep.Seconds = time.Since(t0).Seconds()
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := storage.WriteBytes(ctx, storage.Join(c.Out, ReportName), append(b, '\n')); err != nil {
		return nil, err
	}
	return rep, nil
}

func (c *Config) evaluate(ctx context.Context, modelPath string) (*train.EvalResult, error) {
	return train.EvaluateSplit(ctx, train.EvalConfig{Model: modelPath, Data: c.Data, Accel: c.Accel, Plain: c.Plain, Runner: c.Runner})
}

// LatencyRows is the number of rows that the report's latencies infer.
const LatencyRows = 10000

// measureLatency measures inference on LatencyRows rows of random inputs
// (the kernels' cost does not depend on the values) before (the dense
// float32 model) and after (the artifact, without densifying where a
// sparse or int8 kernel is faster), the median of three runs each.
func (c *Config) measureLatency(m0 *model.Model, before []float32, m *model.Model, art *artifact.Artifact, rep *Report) error {
	be, _, err := accel.Select(c.Accel)
	if err != nil {
		return err
	}
	defer be.Close()
	x := latencyInput(m0.Inputs())
	dense, err := infer.NewDense(be, m0, before)
	if err != nil {
		return err
	}
	defer dense.Close()
	if rep.LatencyBeforeMS, err = infer.Latency(dense, x, LatencyRows, 3); err != nil {
		return err
	}
	if rep.LatencyAfterMS, rep.Kernels, rep.BytesResident, err = timeArtifact(be, m, art, x); err != nil {
		return err
	}
	rep.Backend = be.Name()
	return nil
}

// modelFile is c.Model, or the model file in it when it names a train
// output directory rather than a model file or an artifact.
func (c *Config) modelFile() string {
	if strings.HasSuffix(c.Model, ".safetensors") || strings.HasSuffix(c.Model, ".lbc") {
		return c.Model
	}
	return storage.Join(c.Model, "model.safetensors")
}

// layerSparsity spreads c.Sparsity over n weight matrices.
func (c *Config) layerSparsity(n int) []float64 {
	if len(c.Sparsity) == 0 {
		return nil
	}
	out := make([]float64, n)
	for i := range out {
		out[i] = c.Sparsity[min(i, len(c.Sparsity)-1)]
	}
	return out
}

// isWeight tells weight matrices ("fc1.weight") from biases.
func isWeight(name string) bool { return strings.HasSuffix(name, ".weight") }

// weightIndices returns the layout indices of the weight matrices.
func weightIndices(m *model.Model) []int {
	var w []int
	for i, s := range m.Layout() {
		if isWeight(s.Name) {
			w = append(w, i)
		}
	}
	return w
}

// prune zeroes the smallest weights of params in place: per layer to
// sparsity[i], or with one global threshold.
func (c *Config) prune(m *model.Model, params []float32, weights []int, sparsity []float64) error {
	ts := m.Tensors(params)
	if c.Global {
		ws := make([][]float32, len(weights))
		for i, w := range weights {
			ws[i] = ts[w].Data
		}
		masks, err := prune.Global(ws, sparsity[0])
		if err != nil {
			return err
		}
		for i, mask := range masks {
			mask.Apply(ws[i])
		}
		return nil
	}
	for i, w := range weights {
		mask, err := prune.Magnitude(ts[w].Data, sparsity[i])
		if err != nil {
			return fmt.Errorf("%s: %w", ts[w].Name, err)
		}
		mask.Apply(ts[w].Data)
	}
	return nil
}

// pruneTo returns m and a pruned copy of params: single weights zeroed
// to sparsity (per weight matrix), or, with --prune=neurons, a smaller
// model without the weakest hidden neurons, keeping of hidden layer l
// the share 1 − sparsity[l] of its width in m0 (the model before any
// step), at least one neuron.
func (c *Config) pruneTo(m0, m *model.Model, params []float32, sparsity []float64) (*model.Model, []float32, error) {
	if c.Prune != "neurons" {
		p := slices.Clone(params)
		return m, p, c.prune(m, p, weightIndices(m), sparsity)
	}
	mc := m.Config()
	if mc.Arch != model.MLP || len(mc.Hidden) == 0 {
		return nil, nil, fmt.Errorf("--prune=neurons removes hidden neurons: %s has none", m)
	}
	keep := make([]int, len(mc.Hidden))
	for l, s := range sparsity {
		keep[l] = min(mc.Hidden[l], max(1, int(math.Round(float64(m0.Config().Hidden[l])*(1-s)))))
	}
	ts, _, err := prune.KeepNeurons(m.Tensors(params), keep)
	if err != nil {
		return nil, nil, err
	}
	mc.Hidden = keep
	small, err := model.New(mc)
	if err != nil {
		return nil, nil, err
	}
	p := make([]float32, 0, small.NumParams())
	for _, t := range ts {
		p = append(p, t.Data...)
	}
	return small, p, nil
}

// weights is a model and its parameters, in its layout.
type weights struct {
	m      *model.Model
	params []float32
}

// tuner fine-tunes through the train pipeline for c: the model files of
// its runs carry meta, and their progress goes to log.
type tuner struct {
	c       *Config
	meta    map[string]string
	log     io.Writer
	teacher string // the distillation teacher's model file; "" without
}

// fineTuning is one fine-tuning run: epochs at lr in the train output
// directory dir, the zeros frozen and, when share is set, equal weights
// trained as one (train.Config.ShareWeights).
type fineTuning struct {
	dir    string
	epochs int
	lr     float64
	share  bool
}

// pruneStep is step t of gradual pruning: it prunes w to sparsity
// (Config.pruneTo, m0 being the model before any step) and fine-tunes the
// result in OUT/steps/step-NN, which it returns.
func (tu tuner) pruneStep(ctx context.Context, m0 *model.Model, w weights, t int, sparsity []float64) (weights, Step, error) {
	c := tu.c
	pm, p, err := c.pruneTo(m0, w.m, w.params, sparsity)
	if err != nil {
		return w, Step{}, err
	}
	fmt.Fprintf(tu.log, "compress: step %d/%d: %s sparsity %v (%s), fine-tuning %d epochs\n", t, c.PruneSteps, c.Prune, roundAll(sparsity), pm, c.FineTuneEpochs)
	dir := storage.Join(c.Out, "steps", fmt.Sprintf("step-%02d", t))
	st, p, err := tu.fineTune(ctx, weights{pm, p}, fineTuning{dir: dir, epochs: c.FineTuneEpochs, lr: c.LR})
	if err != nil {
		return w, st, fmt.Errorf("prune step %d: %w", t, err)
	}
	st.Stage, st.Step, st.Sparsity = "prune", t, sparsity
	return weights{pm, p}, st, nil
}

// codebook fine-tunes the k-means centroids of ts in OUT/codebook: the
// weights that share a centroid train as one value, the pruned ones stay
// zero. The new centroids replace the old in ts.
func (tu tuner) codebook(ctx context.Context, m *model.Model, ts []artifact.Tensor) (Step, error) {
	c := tu.c
	params, err := artifactParams(m, &artifact.Artifact{Tensors: ts})
	if err != nil {
		return Step{}, err
	}
	fmt.Fprintf(tu.log, "compress: codebook: fine-tuning the shared weights %d epochs\n", c.CodebookEpochs)
	st, tuned, err := tu.fineTune(ctx, weights{m, params}, fineTuning{dir: storage.Join(c.Out, "codebook"), epochs: c.CodebookEpochs, lr: c.CodebookLR, share: true})
	if err != nil {
		return st, fmt.Errorf("codebook: %w", err)
	}
	st.Stage = "codebook"
	for i, s := range m.Layout() {
		t := &ts[i]
		if t.Name != s.Name {
			return st, fmt.Errorf("codebook: tensor %d is %s, %s has %s there", i, t.Name, m, s.Name)
		}
		if t.Enc.Kind != artifact.KMeans {
			continue
		}
		if err := t.SetCentroids(tuned[s.Offset : s.Offset+s.Size()]); err != nil {
			return st, fmt.Errorf("codebook: %w", err)
		}
	}
	return st, nil
}

// fineTune trains w through the train pipeline as ft says and returns the
// parameters it ends with. With Resume a finished run is read back.
func (tu tuner) fineTune(ctx context.Context, w weights, ft fineTuning) (Step, []float32, error) {
	c := tu.c
	t0 := time.Now()
	var st Step
	// A step is done when its train run wrote report.json, its last file.
	if ok, err := storage.Exists(ctx, storage.Join(ft.dir, ReportName)); err != nil {
		return st, nil, err
	} else if ok && c.Resume {
		done := storage.Join(ft.dir, "model.safetensors")
		_, p, _, err := train.ReadModel(ctx, done)
		fmt.Fprintf(tu.log, "compress: %s already done\n", done)
		return st, p, err
	}
	init := storage.Join(ft.dir, "init.safetensors")
	if err := writeModel(ctx, init, w.m, w.params, tu.meta); err != nil {
		return st, nil, err
	}
	tc := train.DefaultConfig()
	mc := w.m.Config()
	tc.Data, tc.Out, tc.Model, tc.Hidden = c.Data, ft.dir, string(mc.Arch), mc.Hidden
	tc.Init, tc.FreezeZeros, tc.ShareWeights, tc.Epochs, tc.LR, tc.Mode = init, true, ft.share, ft.epochs, ft.lr, c.Mode
	tc.Accel, tc.Runner, tc.Plain, tc.Overwrite = c.Accel, c.Runner, c.Plain, true
	tc.Dropout, tc.Augment = c.Dropout, c.Augment
	if tu.teacher != "" {
		tc.Teacher, tc.Distill, tc.Temperature = tu.teacher, c.Distill, c.Temperature
	}
	rep, err := train.Run(ctx, tc, io.Discard)
	if err != nil {
		return st, nil, err
	}
	st.ValidationAccuracy = rep.ValidationAccuracy
	st.Seconds = time.Since(t0).Seconds()
	fmt.Fprintf(tu.log, "compress: validation accuracy %.2f%%, %.1f s\n", 100*rep.ValidationAccuracy, st.Seconds)
	_, p, _, err := train.ReadModel(ctx, rep.ModelFile)
	return st, p, err
}

func roundAll(v []float64) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = math.Round(x*1000) / 1000
	}
	return out
}

// quantize encodes every tensor: weight matrices with c.Quant (sparse
// when mostly zero; Q8_0/Q4_0 rows that 32 does not divide end with a
// short block), biases as Bias says (f32 by default).
func (c *Config) quantize(m *model.Model, params []float32) ([]artifact.Tensor, error) {
	var out []artifact.Tensor
	benc, err := c.biasEncoding()
	if err != nil {
		return nil, err
	}
	nw, i := len(weightIndices(m)), 0
	for _, t := range m.Tensors(params) {
		if !isWeight(t.Name) {
			q, err := artifact.Quantize(t.Name, t.Shape, t.Data, nil, benc)
			if err != nil {
				return nil, err
			}
			out = append(out, q)
			continue
		}
		mask := prune.NonZero(t.Data)
		enc, err := c.encoding(i, nw, mask.Density())
		i++
		if err != nil {
			return nil, err
		}
		q, err := artifact.Quantize(t.Name, t.Shape, t.Data, mask, enc)
		if err != nil {
			return nil, err
		}
		out = append(out, q)
	}
	return out, nil
}

// encodeArtifact returns the artifact file of the tensors ts, with the
// metadata that Run writes: the model file's user metadata, m's
// architecture, and the recipe c.
func encodeArtifact(c *Config, m *model.Model, ts []artifact.Tensor, fileMeta map[string]string) ([]byte, error) {
	artMeta := userMeta(fileMeta)
	sizes := make([]string, len(m.Sizes()))
	for i, n := range m.Sizes() {
		sizes[i] = strconv.Itoa(n)
	}
	artMeta[model.MetaArch], artMeta[model.MetaSizes] = string(m.Arch()), strings.Join(sizes, ",")
	recipe, err := json.Marshal(c)
	if err != nil {
		return nil, err
	}
	if c.Meta == "compact" {
		if recipe, err = compactMeta(artMeta, recipe); err != nil {
			return nil, err
		}
	}
	artMeta["compress.recipe"] = string(recipe)
	var buf bytes.Buffer
	if err := artifact.Encode(&buf, ts, artMeta); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// compactMeta rewrites meta as Config.Meta "compact" says, and returns
// the recipe JSON without its zero fields.
func compactMeta(meta map[string]string, recipe []byte) ([]byte, error) {
	delete(meta, "train.data")
	for _, k := range []string{"preprocess.scale.offset", "preprocess.scale.factor"} {
		v, ok := meta[k]
		if !ok {
			continue
		}
		var fs shardio.Floats
		if err := json.Unmarshal([]byte(v), &fs); err != nil {
			return nil, fmt.Errorf("metadata %s: %w", k, err)
		}
		b := []byte{'['}
		for i, f := range fs {
			if float64(float32(f)) != f && !math.IsNaN(f) {
				b = nil // not float32 values: keep them as they are
				break
			}
			if i > 0 {
				b = append(b, ',')
			}
			if math.IsInf(f, 0) || math.IsNaN(f) {
				one, _ := shardio.Floats{f}.MarshalJSON()
				b = append(b, one[1:len(one)-1]...)
			} else {
				b = strconv.AppendFloat(b, f, 'g', -1, 32)
			}
		}
		if b != nil {
			meta[k] = string(append(b, ']'))
		}
	}
	var r map[string]any
	if err := json.Unmarshal(recipe, &r); err != nil {
		return nil, err
	}
	for k, v := range r {
		switch v {
		case nil, false, 0.0, "":
			delete(r, k)
		}
	}
	return json.Marshal(r)
}

// artifactParams returns the dequantized parameters that an artifact
// holds, in m's layout.
func artifactParams(m *model.Model, a *artifact.Artifact) ([]float32, error) {
	params := make([]float32, m.NumParams())
	for _, s := range m.Layout() {
		t := a.Tensor(s.Name)
		if t == nil {
			return nil, fmt.Errorf("artifact lacks tensor %s of %s", s.Name, m)
		}
		if t.Len() != s.Size() {
			return nil, fmt.Errorf("artifact tensor %s has shape %v, %s needs %v", s.Name, t.Shape, m, s.Shape)
		}
		copy(params[s.Offset:], t.Dequantize())
	}
	return params, nil
}

// userMeta drops the keys that model files set themselves.
func userMeta(meta map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range meta {
		if !strings.HasPrefix(k, "lightbeam.") {
			out[k] = v
		}
	}
	return out
}

func writeModel(ctx context.Context, path string, m *model.Model, params []float32, meta map[string]string) error {
	return storage.WriteFile(ctx, path, func(w io.Writer) error { return model.EncodeModel(w, m, params, meta) })
}
