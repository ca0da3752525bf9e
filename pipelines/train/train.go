// Package train is lightbeam's data-parallel SGD on Beam.
//
// Training runs in rounds. In each round every shard computes from the
// current model and emits one Partial; a Combine sums the partials; a step
// makes the next model:
//
//	sync:  partial = Σ ∇loss over the shard's part of the round's global
//	       mini-batch; step = one optimizer step with the mean gradient.
//	local: partial = (params, optimizer state) after K local steps on the
//	       shard's next rows, weighted by rows; step = the weighted average
//	       (local SGD / parallel SGD by model averaging).
//
// A Beam pipeline has no loops, so one job runs one epoch: its rounds are
// unrolled into the graph, the model flows from round to round as a
// PCollection joined to the shards by key (no side inputs: Spark), and the
// job starts from the previous epoch's checkpoint and ends by writing the
// next one, with the validation metrics. The driver (Run) runs a job per
// epoch, prints progress, stops early, and writes the model and report.
//
// Round r of an epoch takes, from every shard, the rows whose hash of
// (identity, epoch, seed) falls in bucket r: the global mini-batches do
// not depend on the sharding, so 1 shard and 8 shards train the same model.
// Partials are summed in shard order, so every runner gives the same bits.
package train

import (
	"context"

	"fmt"
	"strconv"
	"strings"

	"github.com/lightbeam-ml/lightbeam/data/formats"
	"github.com/lightbeam-ml/lightbeam/data/shardio"
	"github.com/lightbeam-ml/lightbeam/model"
)

// Config is what a training run needs. Zero values take the defaults
// (filled in by Prepare), chosen so that `--model=mlp --hidden=300,100`
// and nothing else trains MNIST well.
type Config struct {
	Data   string // Required. A preprocess output directory.
	Out    string // Required. Where checkpoints, the model and the report go.
	Model  string // softmax (default), linear or mlp
	Hidden []int  // mlp hidden widths. Defaults to 300,100.

	Mode       string // sync (default) or local
	Epochs     int    // Defaults to 30.
	Batch      int    // sync: global mini-batch rows. Defaults to 128.
	LocalSteps int    // local: steps per shard per round. Defaults to a quarter epoch's worth.
	LocalBatch int    // local: rows per local step. Defaults to 64.

	Optimizer  string  // sgd, momentum (default) or adam
	LR         float64 // Defaults by optimizer: 0.1 (momentum, sgd), 0.001 (adam).
	Schedule   string  // cosine (default), constant, step, invsqrt
	StepEpochs int     // step schedule: epochs per decay. Defaults to 10.
	Gamma      float64 // step schedule factor. Defaults to 0.1.
	Momentum   float64 // Defaults to 0.9.
	Nesterov   bool    // Nesterov's form of momentum (DefaultConfig sets it)
	L2, L1     float64 // weight decay and L1 penalty (DefaultConfig has L2 5e-4)
	Clip       float64 // gradient-norm clipping; 0 = off
	Objective  string  // minimize (default) or maximize

	Patience  int    // epochs without a better validation score (accuracy for classifiers, else loss) before stopping; 0 = never
	Resume    bool   // continue from the last checkpoint in Out
	Overwrite bool   // replace a finished run in Out
	Seed      uint64 // Defaults to 1.
	Accel     string // auto (default), go, blas, cuda
	// Workers groups the shards: each round sends one copy of the model
	// to each group and gets one partial back. Defaults to
	// DefaultWorkers(Runner, shards).
	Workers int
	// RoundsPerJob bounds the rounds one Beam job runs when the rounds
	// shuffle (several worker keys): prism and the direct runner keep every
	// element of a job until it ends (11 MB a round for the 1 MB MLP), so
	// an epoch then runs as several jobs, the state passing between them
	// in a part checkpoint. 0: DefaultRoundsPerJob(Runner).
	RoundsPerJob int
	// Runner is the name of the Beam runner the pipelines run on (Beam's
	// --runner flag; the CLI fills it in). It only picks the defaults of
	// Workers and RoundsPerJob.
	Runner string
	// Init is a model file to start from (fine-tuning; its architecture
	// must match) instead of a random initialization. Optional.
	Init string
	// FreezeZeros keeps the weights that are exactly zero (in Init) at
	// zero, with their optimizer state: fine-tuning a pruned model.
	FreezeZeros bool
	// ShareWeights trains the non-zero weights of a tensor that are equal
	// in Init as one shared value, moved by the sum of their gradients:
	// fine-tuning a k-means codebook (Deep Compression).
	ShareWeights bool
	// Dropout is the share of each hidden layer's units dropped while
	// training (inverted dropout, off at evaluation); InputDropout the
	// share of input features. Optional; 0 is off.
	Dropout, InputDropout float64
	// Teacher is a model file to distill from: the loss mixes the labels'
	// cross-entropy with the teacher's soft targets at Temperature,
	// weighted Distill (model.Regularization). Distill > 0 needs Teacher.
	// Temperature defaults to 4 when Distill > 0.
	Teacher     string
	Distill     float64
	Temperature float64
	// Augment moves each training image by up to N pixels in each
	// direction, "shift:N" (train.Augment); "" is off. The data must
	// record its rows as images (manifest schema.image).
	Augment string
	// Plain runs the same rounds in this process without Beam: the
	// baseline of the Beam-overhead benchmark, and a test oracle.
	Plain bool
	// Folds > 1 cross-validates each setting of Grid with that many folds
	// of train+validation, then retrains the best setting on all of it.
	Folds int
	Grid  string // e.g. "lr=0.1,0.03;l2=0,1e-4"
	// AllData trains on train and validation together, without
	// validation (the best epoch is the last).
	AllData bool
}

// DefaultConfig returns the defaults of the CLI and the demo: Nesterov
// momentum 0.9, lr 0.1 (Prepare's default), cosine decay, batch 128, L2
// weight decay 5e-4. They took LeNet-300-100 on MNIST to 98.3% test
// accuracy in 30 epochs in both modes (docs/BENCHMARKS.md); without the
// weight decay the MLP overfits (98.08% at lr 0.05). The mode is local:
// it reached that accuracy as sync did (98.33% vs. 98.34% test) in about
// a third of sync's time per epoch (0.61 vs 1.70 s through prism), and in
// 4 shuffles an epoch on a cluster where sync takes 422, so a first run
// without --mode is the fast one.
func DefaultConfig() Config {
	return Config{
		Model: "softmax", Mode: "local", Epochs: 30, Batch: 128, LocalBatch: 64,
		Optimizer: "momentum", Schedule: "cosine", StepEpochs: 10, Gamma: 0.1,
		Momentum: 0.9, Nesterov: true, L2: 5e-4, Objective: "minimize", Seed: 1, Accel: "auto",
	}
}

// Prepare fills in defaults and validates c.
func (c *Config) Prepare() error {
	if c.Data == "" || c.Out == "" {
		return fmt.Errorf("--data and --out are required")
	}
	// Zero fields take DefaultConfig's values (the CLI's), except those
	// whose zero is meaningful: L1, L2, Momentum (the optimizer's own
	// default), Nesterov, Patience, LocalSteps, Workers.
	d := DefaultConfig()
	def := func(p *string, v string) {
		if *p == "" {
			*p = v
		}
	}
	def(&c.Model, d.Model)
	def(&c.Mode, d.Mode)
	def(&c.Optimizer, d.Optimizer)
	def(&c.Schedule, d.Schedule)
	def(&c.Objective, d.Objective)
	def(&c.Accel, d.Accel)
	defInt := func(p *int, v int) {
		if *p == 0 {
			*p = v
		}
	}
	defInt(&c.Epochs, d.Epochs)
	defInt(&c.Batch, d.Batch)
	defInt(&c.LocalBatch, d.LocalBatch)
	defInt(&c.StepEpochs, d.StepEpochs)
	if c.Gamma == 0 {
		c.Gamma = d.Gamma
	}
	if c.Seed == 0 {
		c.Seed = d.Seed
	}
	if c.Model == "mlp" && len(c.Hidden) == 0 {
		c.Hidden = []int{300, 100}
	}
	if c.LR == 0 {
		c.LR = 0.1
		if c.Optimizer == "adam" {
			c.LR = 0.001
		}
	}
	switch {
	case c.Mode != "sync" && c.Mode != "local":
		return fmt.Errorf("--mode=%q: want sync or local", c.Mode)
	case c.Epochs < 1:
		return fmt.Errorf("--epochs=%d: want at least 1", c.Epochs)
	case c.Batch < 1 || c.LocalBatch < 1 || c.LocalSteps < 0:
		return fmt.Errorf("batch sizes and local steps must be positive")
	case c.Workers < 0:
		return fmt.Errorf("--workers=%d: want 0 (default) or more", c.Workers)
	case c.RoundsPerJob < 0:
		return fmt.Errorf("--rounds-per-job=%d: want 0 (default) or more", c.RoundsPerJob)
	case c.Patience < 0:
		return fmt.Errorf("--patience=%d: want 0 (off) or more", c.Patience)
	case c.FreezeZeros && c.Init == "":
		return fmt.Errorf("--freeze-zeros needs --init (the pruned model whose zeros stay)")
	case c.ShareWeights && c.Init == "":
		return fmt.Errorf("--share-weights needs --init (the model whose equal weights are shared)")
	case c.Init != "" && c.Folds > 1:
		return fmt.Errorf("--init and --cv do not go together")
	}
	if c.Distill > 0 && c.Temperature == 0 {
		c.Temperature = 4
	}
	if err := c.regularization().Validate(); err != nil {
		return fmt.Errorf("--dropout, --input-dropout, --distill, --temperature: %w", err)
	}
	switch {
	case c.Distill > 0 && c.Teacher == "":
		return fmt.Errorf("--distill=%v needs --teacher (the model whose logits are learned)", c.Distill)
	case c.Teacher != "" && c.Distill == 0:
		return fmt.Errorf("--teacher needs --distill=ALPHA > 0 (the weight of its soft targets)")
	case c.Teacher != "" && c.Folds > 1:
		return fmt.Errorf("--teacher and --cv do not go together")
	case c.Distill > 0 && c.Model == "linear":
		return fmt.Errorf("--distill needs a classifier, not --model=linear")
	}
	if _, err := ParseAugment(c.Augment); err != nil {
		return err
	}
	if c.Folds == 1 || c.Folds < 0 {
		return fmt.Errorf("--cv=%d: want 0 (off) or at least 2 folds", c.Folds)
	}
	if c.Grid != "" && c.Folds == 0 {
		return fmt.Errorf("--grid needs --cv=K")
	}
	if c.Model != "mlp" && len(c.Hidden) > 0 {
		return fmt.Errorf("--hidden is for --model=mlp only")
	}
	return nil
}

func (c *Config) regularization() model.Regularization {
	return model.Regularization{InputDropout: c.InputDropout, Dropout: c.Dropout, Distill: c.Distill, Temperature: c.Temperature}
}

// plan is what the driver learns from the preprocess output.
type plan struct {
	out          string
	manifest     *shardio.Manifest
	trainShards  []shardio.ShardInfo
	valShards    []shardio.ShardInfo
	nTrain, nVal int
	trainRows    int64
	maxShardRows int64
	// The shards by worker group, as the rounds' DoFns carry them.
	train, val [][]ShardTask
}

// spec builds the round spec of c for the data in m.
func (c *Config) spec(m *shardio.Manifest, p *plan) (*Spec, error) {
	arch := model.Arch(c.Model)
	outputs := m.Schema.Classes
	if arch == model.Linear {
		outputs = 1 // one regression target (class labels count as numbers)
	} else if m.Schema.Task != formats.Classification {
		return nil, fmt.Errorf("--model=%s needs classification data; %s holds a %s task (use --model=linear)", c.Model, c.Data, m.Schema.Task)
	}
	mc := model.Config{Arch: arch, Inputs: m.Schema.Features, Hidden: c.Hidden, Outputs: outputs}
	_, err := model.New(mc)
	if err != nil {
		return nil, err
	}
	workers := c.Workers
	if workers == 0 {
		workers = DefaultWorkers(c.Runner, p.nTrain)
	}
	perJob := c.RoundsPerJob
	if perJob == 0 {
		perJob = DefaultRoundsPerJob(c.Runner)
	}
	spec := &Spec{Model: mc, Mode: c.Mode, Batch: c.Batch, LocalBatch: c.LocalBatch, Seed: c.Seed, Accel: c.Accel, Data: c.Data, Workers: workers, RoundsPerJob: perJob, FreezeZeros: c.FreezeZeros, Reg: c.regularization()}
	shift, _ := ParseAugment(c.Augment)
	if spec.Augment, err = newAugment(shift, m, c.Data); err != nil {
		return nil, err
	}
	if c.Mode == "sync" {
		spec.Rounds = int(max(1, (p.trainRows+int64(c.Batch)/2)/int64(c.Batch)))
	} else {
		k := c.LocalSteps
		if k == 0 { // four rounds an epoch
			k = int(max(1, (p.maxShardRows+int64(4*c.LocalBatch)-1)/int64(4*c.LocalBatch)))
		}
		spec.LocalSteps = k
		spec.Rounds = int((p.maxShardRows + int64(k*c.LocalBatch) - 1) / int64(k*c.LocalBatch))
	}
	stepsPerEpoch := spec.Rounds
	if c.Mode == "local" {
		stepsPerEpoch = spec.Rounds * spec.LocalSteps
	}
	sched := model.Schedule{Kind: model.ScheduleKind(c.Schedule), LR: c.LR}
	switch sched.Kind {
	case model.Cosine:
		sched.Steps = c.Epochs * stepsPerEpoch
	case model.StepDecay:
		sched.StepSize, sched.Gamma = c.StepEpochs*stepsPerEpoch, c.Gamma
	}
	spec.Optimizer = model.OptimizerConfig{
		Method: model.Method(c.Optimizer), Schedule: sched, Momentum: c.Momentum, Nesterov: c.Nesterov,
		L2: c.L2, L1: c.L1, ClipNorm: c.Clip, Objective: model.Objective(c.Objective),
	}
	if err := spec.Optimizer.Validate(); err != nil {
		return nil, err
	}
	return spec, nil
}

// DefaultWorkers is the number of shard groups for a run on the named
// Beam runner: one on the in-process runners (prism, direct; "" means
// prism), where the backend already uses every core and the math of a
// process is serialized, so more groups only copy the model more often;
// one per shard on a cluster, so every shard is computed where it is.
func DefaultWorkers(runner string, shards int) int {
	switch runner {
	case "", "prism", "direct":
		return 1
	}
	return shards
}

// DefaultRoundsPerJob is the most shuffling rounds one job runs by default
// on the named runner: 24 on the in-process runners, which hold a job's
// elements in memory until it ends (24 rounds of the 1 MB MLP: about 0.3
// GB), and no bound (0) on a cluster, where a job costs seconds to start
// and its runner streams the elements.
func DefaultRoundsPerJob(runner string) int {
	switch runner {
	case "", "prism", "direct":
		return 24
	}
	return 0
}

// ParseHidden reads "300,100".
func ParseHidden(s string) ([]int, error) {
	if s == "" {
		return nil, nil
	}
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("--hidden=%q: want positive widths like 300,100", s)
		}
		out = append(out, n)
	}
	return out, nil
}

func newPlan(ctx context.Context, c *Config) (*plan, error) {
	m, err := shardio.ReadManifest(ctx, c.Data)
	if err != nil {
		return nil, err
	}
	p := &plan{out: c.Out, manifest: m}
	if sp := m.Splits["train"]; sp != nil {
		for _, sh := range sp.Shards {
			if sh.Rows > 0 {
				p.trainShards = append(p.trainShards, sh)
				p.trainRows += sh.Rows
				p.maxShardRows = max(p.maxShardRows, sh.Rows)
			}
		}
	}
	if sp := m.Splits["validation"]; sp != nil {
		for _, sh := range sp.Shards {
			if sh.Rows > 0 {
				p.valShards = append(p.valShards, sh)
			}
		}
	}
	if c.AllData {
		p.trainShards = append(p.trainShards, p.valShards...)
		p.valShards = nil
		p.trainRows, p.maxShardRows = 0, 0
		for _, sh := range p.trainShards {
			p.trainRows += sh.Rows
			p.maxShardRows = max(p.maxShardRows, sh.Rows)
		}
	}
	if p.trainRows == 0 {
		return nil, fmt.Errorf("%s: the train split is empty", c.Data)
	}
	p.nTrain, p.nVal = len(p.trainShards), len(p.valShards)
	return p, nil
}
