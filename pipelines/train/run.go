package train

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/x/beamx"

	"github.com/lightbeam-ml/lightbeam/accel"
	"github.com/lightbeam-ml/lightbeam/data/shardio"
	"github.com/lightbeam-ml/lightbeam/model"
	"github.com/lightbeam-ml/lightbeam/storage"
	"github.com/lightbeam-ml/lightbeam/transforms"
)

// Epoch is one line of the training history.
type Epoch struct {
	Epoch              int     `json:"epoch"`
	TrainLoss          float64 `json:"train_loss"`
	ValidationLoss     float64 `json:"validation_loss"`
	ValidationAccuracy float64 `json:"validation_accuracy"`
	Seconds            float64 `json:"seconds"`
	ExamplesPerSecond  float64 `json:"examples_per_second"`
}

// Report is report.json.
type Report struct {
	Model              string            `json:"model"`
	Params             int               `json:"params"`
	Mode               string            `json:"mode"`
	Epochs             int               `json:"epochs"`
	BestEpoch          int               `json:"best_epoch"`
	ValidationAccuracy float64           `json:"validation_accuracy"`
	TestAccuracy       float64           `json:"test_accuracy"`
	TestLoss           float64           `json:"test_loss"`
	TestExamples       int64             `json:"test_examples"`
	TrainSeconds       float64           `json:"train_seconds"`
	ExamplesPerSecond  float64           `json:"examples_per_second"`
	Accel              string            `json:"accel"`
	Objective          string            `json:"objective"`
	RoundsPerEpoch     int               `json:"rounds_per_epoch"`
	Shards             int               `json:"shards"`
	Config             map[string]string `json:"config"`
	History            []Epoch           `json:"history"`
	ModelFile          string            `json:"model_file"`
	StoppedEarly       bool              `json:"stopped_early"`
	CV                 []CVResult        `json:"cv,omitempty"`
	CVBest             string            `json:"cv_best,omitempty"`
}

// Run trains as c says, printing one progress line per epoch to log.
func Run(ctx context.Context, c Config, log io.Writer) (*Report, error) {
	if err := c.Prepare(); err != nil {
		return nil, err
	}
	if c.Folds > 1 {
		return runCV(ctx, c, log)
	}
	p, err := newPlan(ctx, &c)
	if err != nil {
		return nil, err
	}
	spec, err := c.spec(p.manifest, p)
	if err != nil {
		return nil, err
	}
	if c.ShareWeights {
		raw, err := storage.ReadFile(ctx, c.Init)
		if err != nil {
			return nil, err
		}
		spec.Share, spec.ShareSHA256 = c.Init, fileSHA256(raw)
	}
	if c.Teacher != "" {
		raw, err := storage.ReadFile(ctx, c.Teacher)
		if err != nil {
			return nil, err
		}
		tm, _, _, err := model.DecodeModel(raw, c.Teacher)
		if err != nil {
			return nil, err
		}
		if err := checkTeacher(tm, c.Teacher, spec.Model); err != nil {
			return nil, err
		}
		spec.Teacher, spec.TeacherSHA256 = c.Teacher, fileSHA256(raw)
	}
	be, reason, err := accel.Select(c.Accel) // the reason goes into the report
	if err != nil {
		return nil, err
	}
	fmt.Fprintln(log, accel.Banner(be))
	be.Close()
	modelPath := storage.Join(c.Out, "model.safetensors")
	if done, err := storage.Exists(ctx, modelPath); err != nil {
		return nil, err
	} else if done && !c.Overwrite && !c.Resume {
		return nil, fmt.Errorf("%s exists: %s holds a finished run (pass --overwrite to replace it, or --resume)", modelPath, c.Out)
	}
	if err := storage.MkdirAll(ctx, storage.Join(c.Out, "checkpoints")); err != nil {
		return nil, err
	}

	first := 1
	var history []Epoch
	last := 0
	if c.Resume {
		if last, err = latestCheckpoint(ctx, c.Out); err != nil {
			return nil, err
		}
		if last == 0 {
			// A run killed before its first checkpoint: there is nothing
			// to keep, so resuming is starting (a rerun with --resume
			// always works).
			fmt.Fprintf(log, "--resume: no checkpoint in %s/checkpoints yet: starting from the beginning\n", c.Out)
		}
	}
	if last > 0 {
		for e := 1; e <= last; e++ {
			_, meta, err := loadState(ctx, spec, runCheckpoint(c.Out, e))
			if err != nil {
				return nil, fmt.Errorf("--resume: %w", err)
			}
			history = append(history, epochFromMeta(e, meta))
		}
		first = last + 1
		fmt.Fprintf(log, "resuming after epoch %d from %s\n", last, runCheckpoint(c.Out, last))
	} else {
		params, err := initialParams(ctx, &c, mustModel(spec))
		if err != nil {
			return nil, err
		}
		if err := startCheckpoint(ctx, spec, runCheckpoint(c.Out, 0), params); err != nil {
			return nil, err
		}
	}
	fmt.Fprintf(log, "train: %s, %d parameters, %s mode, %d shards on %d workers, %d rounds/epoch, %d train rows\n",
		mustModel(spec), mustModel(spec).NumParams(), c.Mode, p.nTrain, spec.Workers, spec.Rounds, p.trainRows)

	classify := mustModel(spec).Classifier()
	best, stale := bestEpoch(history, classify), 0
	stopped := false
	for e := first; e <= c.Epochs; e++ {
		t0 := time.Now()
		err = runEpoch(ctx, single(spec, c.Out), p, e, c.Plain)
		if err != nil {
			return nil, fmt.Errorf("epoch %d failed (the last good checkpoint is %s): %w", e, runCheckpoint(c.Out, e-1), err)
		}
		_, meta, err := loadState(ctx, spec, runCheckpoint(c.Out, e))
		if err != nil {
			return nil, err
		}
		ep := epochFromMeta(e, meta)
		ep.Seconds = time.Since(t0).Seconds()
		ep.ExamplesPerSecond = float64(p.trainRows) / ep.Seconds
		history = append(history, ep)
		if best == 0 || better(ep, history[best-1], classify) {
			best, stale = e, 0
		} else {
			stale++
		}
		eta := time.Duration(float64(c.Epochs-e) * ep.Seconds * float64(time.Second))
		fmt.Fprintf(log, "epoch %3d/%d  loss %.4f  val_loss %.4f  val_acc %.2f%%  %6.0f ex/s  %5.1fs  eta %s\n",
			e, c.Epochs, ep.TrainLoss, ep.ValidationLoss, 100*ep.ValidationAccuracy, ep.ExamplesPerSecond, ep.Seconds, eta.Round(time.Second))
		if c.Patience > 0 && stale >= c.Patience {
			fmt.Fprintf(log, "early stop: no better validation score for %d epochs; best epoch %d\n", stale, best)
			stopped = true
			break
		}
	}
	if best == 0 {
		best = len(history)
	}
	return finish(ctx, &c, spec, p, history, best, stopped, reason)
}

// better says whether epoch a beats epoch b on validation: by accuracy
// for classifiers (the loss breaks ties), by loss otherwise.
func better(a, b Epoch, classify bool) bool {
	if classify && a.ValidationAccuracy != b.ValidationAccuracy {
		return a.ValidationAccuracy > b.ValidationAccuracy
	}
	return a.ValidationLoss < b.ValidationLoss
}

func bestEpoch(h []Epoch, classify bool) int {
	best := 0
	for i, e := range h {
		if best == 0 || better(e, h[best-1], classify) {
			best = i + 1
		}
	}
	return best
}

func epochFromMeta(e int, meta map[string]string) Epoch {
	f := func(k string) float64 {
		v, _ := strconv.ParseFloat(meta[k], 64)
		return v
	}
	return Epoch{Epoch: e, TrainLoss: f(metaTrainLoss), ValidationLoss: f(metaValLoss), ValidationAccuracy: f(metaValAccuracy)}
}

// single is the Models of a plain run: one model on all rows.
func single(spec *Spec, out string) *Models {
	return &Models{Specs: []*Spec{spec}, TrainSels: []rowSelect{{}}, EvalSels: []rowSelect{{}}, Dirs: []string{storage.Join(out, "checkpoints")}}
}

// runEpoch runs one epoch of every model: as a Beam job, or plain.
func runEpoch(ctx context.Context, ms *Models, p *plan, epoch int, plain bool) error {
	if plain {
		for m := range ms.Specs {
			if err := runPlainEpoch(ctx, ms, m, p, epoch); err != nil {
				return err
			}
		}
		return nil
	}
	spec := ms.Specs[0]
	p.train = shardTasks(p.trainShards, spec.Workers)
	p.val = shardTasks(p.valShards, spec.Workers)
	spans := epochJobs(spec.Rounds, len(p.train), spec.RoundsPerJob)
	for _, span := range spans {
		pipe, s := beam.NewPipelineWithRoot()
		buildEpoch(s, ms, p, epoch, span[0], span[1])
		if _, err := beamx.RunWithMetrics(ctx, pipe); err != nil {
			return err
		}
	}
	if len(spans) > 1 {
		for _, dir := range ms.Dirs {
			if err := storage.Remove(ctx, partAt(dir, epoch)); err != nil {
				return err
			}
		}
	}
	return nil
}

// runPlainEpoch runs model m through the same rounds as buildEpoch's
// pipeline, in this process, one shard after another.
func runPlainEpoch(ctx context.Context, ms *Models, m int, p *plan, epoch int) error {
	spec, sel := ms.Specs[m], ms.TrainSels[m]
	st, _, err := loadState(ctx, spec, checkpointAt(ms.Dirs[m], epoch-1))
	if err != nil {
		return err
	}
	w, err := newShardMath(spec)
	if err != nil {
		return err
	}
	defer w.close()
	for r := 0; r < spec.Rounds; r++ {
		var parts []transforms.Partial
		for _, group := range shardGroups(len(p.trainShards), spec.Workers) {
			part, err := w.group(group, func(sl *slot, i int) (transforms.Partial, error) {
				if spec.Mode == "local" {
					return w.localPartial(ctx, sl, i, p.trainShards[i], epoch, r, st, sel)
				}
				return w.syncPartial(ctx, sl, i, p.trainShards[i], epoch, r, st.Params, sel)
			})
			if err != nil {
				return err
			}
			parts = append(parts, part)
		}
		sum := transforms.AddPartials(parts)
		if spec.Mode == "local" {
			err = applyLocal(spec, st, sum)
		} else {
			err = applySync(spec, st, sum, epoch, r)
		}
		if err != nil {
			return err
		}
	}
	ev, err := plainEval(ctx, w, p.valShards, st.Params, ms.EvalSels[m], spec.Workers)
	if err != nil {
		return err
	}
	return saveState(ctx, spec, checkpointAt(ms.Dirs[m], epoch), st, epochMeta(epoch, st, &ev))
}

func plainEval(ctx context.Context, w *shardMath, shards []shardio.ShardInfo, params []float32, sel rowSelect, workers int) (transforms.Partial, error) {
	var parts []transforms.Partial
	for _, group := range shardGroups(len(shards), workers) {
		part, err := w.group(group, func(sl *slot, i int) (transforms.Partial, error) {
			return w.evalPartial(ctx, sl, i, shards[i], params, sel)
		})
		if err != nil {
			return transforms.Partial{}, err
		}
		parts = append(parts, part)
	}
	return transforms.AddPartials(parts), nil
}

// finish writes the best epoch's parameters as the model file, evaluates
// it on the test split and writes report.json.
func finish(ctx context.Context, c *Config, spec *Spec, p *plan, history []Epoch, best int, stopped bool, accelReason string) (*Report, error) {
	st, _, err := loadState(ctx, spec, runCheckpoint(c.Out, best))
	if err != nil {
		return nil, err
	}
	m := mustModel(spec)
	meta := modelMeta(p, c, best)
	modelPath := storage.Join(c.Out, "model.safetensors")
	if err := storage.WriteFile(ctx, modelPath, func(w io.Writer) error {
		return model.EncodeModel(w, m, st.Params, meta)
	}); err != nil {
		return nil, err
	}
	test, err := EvaluateSplit(ctx, EvalConfig{Model: modelPath, Data: c.Data, Accel: c.Accel, Plain: c.Plain, Runner: c.Runner})
	if err != nil {
		return nil, err
	}
	var trainSec float64
	for _, h := range history {
		trainSec += h.Seconds
	}
	epochs := len(history)
	rep := &Report{
		Model: m.String(), Params: m.NumParams(), Mode: c.Mode, Epochs: epochs, BestEpoch: best,
		ValidationAccuracy: history[best-1].ValidationAccuracy,
		TestAccuracy:       test.Accuracy, TestLoss: test.Loss, TestExamples: test.Examples,
		TrainSeconds: trainSec, Accel: accelReason, Objective: c.Objective,
		RoundsPerEpoch: spec.Rounds, Shards: p.nTrain, History: history, ModelFile: modelPath, StoppedEarly: stopped,
		Config: configMap(c),
	}
	if trainSec > 0 {
		rep.ExamplesPerSecond = float64(p.trainRows) * float64(epochs) / trainSec
	}
	if c.Objective == "maximize" {
		rep.Config["note"] = "maximize: trained by gradient ascent on the log-likelihood (= −loss)"
	}
	// report.json goes last: a train output with it is finished (compress's
	// resume and nightly rely on that).
	if err := storage.WriteFile(ctx, storage.Join(c.Out, "curves.png"), func(w io.Writer) error { return WriteCurves(w, rep) }); err != nil {
		return nil, err
	}
	if err := writeReport(ctx, c.Out, rep); err != nil {
		return nil, err
	}
	return rep, nil
}

// writeReport writes report.json into out.
func writeReport(ctx context.Context, out string, rep *Report) error {
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	return storage.WriteBytes(ctx, storage.Join(out, "report.json"), append(b, '\n'))
}

// initialParams are c.Init's parameters, or a random initialization.
func initialParams(ctx context.Context, c *Config, m *model.Model) ([]float32, error) {
	if c.Init == "" {
		return m.Init(c.Seed), nil
	}
	im, params, _, err := ReadModel(ctx, c.Init)
	if err != nil {
		return nil, err
	}
	if im.String() != m.String() {
		return nil, fmt.Errorf("--init %s is a %s, but the run trains a %s", c.Init, im, m)
	}
	return params, nil
}

// modelMeta records, in the model file, how to prepare inputs for it.
func modelMeta(p *plan, c *Config, best int) map[string]string {
	sc := p.manifest.Scale
	enc := func(v any) string {
		b, _ := json.Marshal(v)
		return string(b)
	}
	return map[string]string{
		"preprocess.scale.method": sc.Method,
		"preprocess.scale.offset": enc(sc.Offset),
		"preprocess.scale.factor": enc(sc.Factor),
		"preprocess.schema":       enc(p.manifest.Schema),
		"train.best_epoch":        strconv.Itoa(best),
		"train.mode":              c.Mode,
		"train.data":              c.Data,
	}
}

func configMap(c *Config) map[string]string {
	b, _ := json.Marshal(c)
	var raw map[string]any
	_ = json.Unmarshal(b, &raw)
	out := map[string]string{}
	for k, v := range raw {
		out[k] = fmt.Sprint(v)
	}
	return out
}
