package train

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"

	"github.com/lightbeam-ml/lightbeam/model"
	"github.com/lightbeam-ml/lightbeam/storage"
	"github.com/lightbeam-ml/lightbeam/transforms"
)

// Checkpoint metadata keys (the training state beyond the tensors).
const (
	metaEpoch       = "train.epoch"
	metaTrainLoss   = "train.train_loss"
	metaValLoss     = "train.validation_loss"
	metaValAccuracy = "train.validation_accuracy"
	metaValExamples = "train.validation_examples"
	// A part checkpoint (within an epoch) carries the epoch's running loss.
	metaPartLossSum  = "train.part_loss_sum"
	metaPartExamples = "train.part_examples"
)

// checkpointPath is where the state after epoch lives in a plain run.
func runCheckpoint(out string, epoch int) string {
	return checkpointAt(storage.Join(out, "checkpoints"), epoch)
}

// ckptPath is the checkpoint after epoch in a checkpoint directory.
func checkpointAt(dir string, epoch int) string {
	return storage.Join(dir, fmt.Sprintf("epoch-%04d.safetensors", epoch))
}

// partAt is where the state within epoch lives between the jobs of an
// epoch that runs as several (Config.RoundsPerJob): a dot name, so no
// listing of epoch checkpoints sees it; removed when the epoch ends.
func partAt(dir string, epoch int) string {
	return storage.Join(dir, fmt.Sprintf(".epoch-%04d.part.safetensors", epoch))
}

// startCheckpoint writes the epoch-0 checkpoint at path: params (a fresh
// initialization, or a model to fine-tune) and a new optimizer's state.
func startCheckpoint(ctx context.Context, spec *Spec, path string, params []float32) error {
	opt, err := model.NewOptimizer(spec.Optimizer, len(params))
	if err != nil {
		return err
	}
	st := &State{Params: params, Opt: optState(opt)}
	return saveState(ctx, spec, path, st, map[string]string{metaEpoch: "0"})
}

// saveState writes st as a checkpoint (atomically) at path.
func saveState(ctx context.Context, spec *Spec, path string, st *State, meta map[string]string) error {
	m, err := model.New(spec.Model)
	if err != nil {
		return err
	}
	opt, err := optimizerFor(spec, st)
	if err != nil {
		return err
	}
	return storage.WriteFile(ctx, path, func(w io.Writer) error {
		return model.EncodeCheckpoint(w, m, st.Params, opt, meta)
	})
}

// loadState reads the checkpoint at path into a State for spec.
func loadState(ctx context.Context, spec *Spec, path string) (*State, map[string]string, error) {
	data, err := storage.ReadFile(ctx, path)
	if err != nil {
		return nil, nil, err
	}
	ck, err := model.DecodeCheckpoint(data, path)
	if err != nil {
		return nil, nil, err
	}
	if got, want := ck.Model.String(), mustModel(spec).String(); got != want {
		return nil, nil, fmt.Errorf("%s holds a %s, but this run trains a %s", path, got, want)
	}
	opt, err := model.NewOptimizer(spec.Optimizer, len(ck.Params))
	if err != nil {
		return nil, nil, err
	}
	if err := opt.LoadState(ck.Tensors, ck.Meta); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	return &State{Step: opt.Steps(), Params: ck.Params, Opt: optState(opt)}, ck.Meta, nil
}

func mustModel(spec *Spec) *model.Model {
	m, err := model.New(spec.Model)
	if err != nil {
		panic(err) // validated before any pipeline is built
	}
	return m
}

// latestCheckpoint returns the last epoch with a checkpoint in out, or 0.
func latestCheckpoint(ctx context.Context, out string) (int, error) {
	files, err := storage.List(ctx, storage.Join(out, "checkpoints", "epoch-*.safetensors"))
	if err != nil {
		return 0, err
	}
	sort.Strings(files)
	for i := len(files) - 1; i >= 0; i-- {
		name := strings.TrimSuffix(strings.TrimPrefix(storage.Base(files[i]), "epoch-"), ".safetensors")
		if e, err := strconv.Atoi(name); err == nil {
			return e, nil
		}
	}
	return 0, nil
}

// loadStateFn reads the state model Model starts an epoch from, or with
// Part the state a part checkpoint left within one.
type loadStateFn struct {
	Spec  *Spec
	Path  string
	Model int
	Part  bool
}

func (fn *loadStateFn) ProcessElement(ctx context.Context, _ []byte) (State, error) {
	st, meta, err := loadState(ctx, fn.Spec, fn.Path)
	if err != nil {
		return State{}, err
	}
	st.Model = fn.Model
	if fn.Part {
		loss, err1 := strconv.ParseFloat(meta[metaPartLossSum], 64)
		n, err2 := strconv.ParseInt(meta[metaPartExamples], 10, 64)
		if err := errors.Join(err1, err2); err != nil {
			return State{}, fmt.Errorf("%s: not a part checkpoint: %w", fn.Path, err)
		}
		st.LossSum, st.Examples = loss, n
	}
	return *st, nil
}

// writePartFn writes each model's state within an epoch as its part
// checkpoint, for the epoch's next job.
type writePartFn struct {
	Specs []*Spec
	Dirs  []string
	Epoch int
}

func (fn *writePartFn) ProcessElement(ctx context.Context, st State) error {
	if st.Model < 0 || st.Model >= len(fn.Specs) {
		return fmt.Errorf("train: state of model %d, but the job has %d", st.Model, len(fn.Specs))
	}
	meta := map[string]string{
		metaEpoch:        strconv.Itoa(fn.Epoch - 1),
		metaPartLossSum:  strconv.FormatFloat(st.LossSum, 'g', -1, 64),
		metaPartExamples: strconv.FormatInt(st.Examples, 10),
	}
	return saveState(ctx, fn.Specs[st.Model], partAt(fn.Dirs[st.Model], fn.Epoch), &st, meta)
}

// writeEpochFn writes each model's state after an epoch, with the
// epoch's training loss and validation metrics, as its checkpoint.
type writeEpochFn struct {
	Specs []*Spec
	Dirs  []string
	Epoch int
}

func (fn *writeEpochFn) ProcessElement(ctx context.Context, m int, states func(*State) bool, evals func(*transforms.Partial) bool) error {
	var st State
	var ev transforms.Partial
	if !states(&st) {
		return fmt.Errorf("train: no state of model %d at the end of epoch %d", m, fn.Epoch)
	}
	evals(&ev) // absent without validation rows
	path := checkpointAt(fn.Dirs[m], fn.Epoch)
	if err := saveState(ctx, fn.Specs[m], path, &st, epochMeta(fn.Epoch, &st, &ev)); err != nil {
		return fmt.Errorf("train: writing checkpoint %s: %w", path, err)
	}
	return nil
}

func epochMeta(epoch int, st *State, ev *transforms.Partial) map[string]string {
	f := func(x float64) string { return strconv.FormatFloat(x, 'g', -1, 64) }
	meta := map[string]string{metaEpoch: strconv.Itoa(epoch)}
	if st.Examples > 0 {
		meta[metaTrainLoss] = f(st.LossSum / float64(st.Examples))
	}
	if ev.Examples > 0 {
		meta[metaValLoss] = f(ev.LossSum / float64(ev.Examples))
		meta[metaValAccuracy] = f(float64(ev.Correct) / float64(ev.Examples))
		meta[metaValExamples] = strconv.FormatInt(ev.Examples, 10)
	}
	return meta
}

// buildEpoch adds rounds [from, to) of one epoch of every model to the
// pipeline: read each state (from the previous epoch's checkpoint, or
// from the epoch's part checkpoint when from > 0), run the rounds, and
// write each model's part checkpoint, or, after the epoch's last round,
// evaluate and write its checkpoint of the epoch.
func buildEpoch(s beam.Scope, ms *Models, p *plan, epoch, from, to int) {
	var loads []beam.PCollection
	for m, spec := range ms.Specs {
		fn := &loadStateFn{Spec: spec, Path: checkpointAt(ms.Dirs[m], epoch-1), Model: m}
		if from > 0 {
			fn.Path, fn.Part = partAt(ms.Dirs[m], epoch), true
		}
		loads = append(loads, beam.ParDo(s, fn, beam.Impulse(s)))
	}
	states := Rounds(s, ms, p.train, beam.Flatten(s, loads...), epoch, from, to)
	if to < ms.Specs[0].Rounds {
		beam.ParDo0(s, &writePartFn{Specs: ms.Specs, Dirs: ms.Dirs, Epoch: epoch}, states)
		return
	}
	var evals beam.PCollection
	if p.nVal > 0 {
		evals = Evaluate(s, ms, p.val, states)
	} else {
		evals = beam.ParDo(s, keyPartial, beam.Create(s, transforms.Partial{}))
	}
	beam.ParDo0(s, &writeEpochFn{Specs: ms.Specs, Dirs: ms.Dirs, Epoch: epoch},
		beam.CoGroupByKey(s, beam.ParDo(s, keyState, states), evals))
}

// epochJobs splits an epoch's rounds into the spans its jobs run: one job
// for one worker key (its rounds do not shuffle) or without a bound, else
// spans of at most perJob rounds.
func epochJobs(rounds, keys, perJob int) [][2]int {
	if keys == 1 || perJob <= 0 || rounds <= perJob {
		return [][2]int{{0, rounds}}
	}
	var spans [][2]int
	for from := 0; from < rounds; from += perJob {
		spans = append(spans, [2]int{from, min(from+perJob, rounds)})
	}
	return spans
}

func keyPartial(p transforms.Partial) (int, transforms.Partial) { return 0, p }

func init() {
	register.DoFn2x2[context.Context, []byte, State, error](&loadStateFn{})
	register.DoFn2x1[context.Context, State, error](&writePartFn{})
	register.DoFn4x1[context.Context, int, func(*State) bool, func(*transforms.Partial) bool, error](&writeEpochFn{})
	register.Function1x2(keyPartial)
}
