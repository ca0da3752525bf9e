package train

import (
	"context"
	"fmt"
	"reflect"
	"sort"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"

	"github.com/lightbeam-ml/lightbeam/data/shardio"
	"github.com/lightbeam-ml/lightbeam/internal/wire"
	"github.com/lightbeam-ml/lightbeam/transforms"
)

// ShardTask names one shard file for the rounds: its index orders the
// Combine's sum, so results do not depend on the runner.
type ShardTask struct {
	Group int // the shard group it belongs to: the key of the rounds' join
	Index int
	Info  shardio.ShardInfo
}

// keyedShards returns PCollection<KV<int, ShardTask>>: the shards keyed by
// the worker (group) that computes them, as shardGroups assigns them.
func keyedShards(s beam.Scope, shards []shardio.ShardInfo, workers int) beam.PCollection {
	var tasks []ShardTask
	for w, group := range shardGroups(len(shards), workers) {
		for _, i := range group {
			tasks = append(tasks, ShardTask{Group: w, Index: i, Info: shards[i]})
		}
	}
	return beam.ParDo(s, keyShardFn, beam.CreateList(s, tasks))
}

func keyShardFn(t ShardTask) (int, ShardTask) { return t.Group, t }

// broadcast sends a copy of the single State in PCollection<State> to each
// of n shard keys: PCollection<KV<int, State>>. With full unset only the
// parameters travel (sync rounds and evaluation need nothing else).
//
// The model reaches the shards by a join rather than a side input because
// Spark runs Go side inputs unreliably (docs/ARCHITECTURE.md).
func broadcast(s beam.Scope, state beam.PCollection, n int, full bool) beam.PCollection {
	return beam.ParDo(s, &broadcastFn{N: n, Full: full}, state)
}

type broadcastFn struct {
	N    int
	Full bool
}

func (fn *broadcastFn) ProcessElement(st State, emit func(int, State)) {
	if !fn.Full {
		st = State{Model: st.Model, Step: st.Step, Params: st.Params}
	}
	for i := 0; i < fn.N; i++ {
		emit(i, st)
	}
}

// Models is the set of models one pipeline trains together: one for a
// plain run; settings × folds for a cross-validation. Model m has its own
// spec (optimizer settings), its own rows of each shard, and its own
// checkpoints. Every model's rounds share the same shuffles, so K models
// cost K times the math but the Beam overhead of one.
type Models struct {
	Specs     []*Spec
	TrainSels []rowSelect // rows each model trains on
	EvalSels  []rowSelect // rows each model is validated on
	Dirs      []string    // checkpoint directory of each model
}

// roundFn computes, for one worker's group of shards, a Partial of every
// model broadcast to it (summed over the group), emitted as
// KV<model, roundItem>.
type roundFn struct {
	Specs []*Spec
	Sels  []rowSelect
	Epoch int
	Round int
	Eval  bool // evaluate rather than train

	calc []*shardMath
}

func (fn *roundFn) Setup() error {
	for _, spec := range fn.Specs {
		w, err := newShardMath(spec)
		if err != nil {
			return err
		}
		fn.calc = append(fn.calc, w)
	}
	return nil
}

func (fn *roundFn) Teardown() {
	for _, w := range fn.calc {
		w.close()
	}
}

func (fn *roundFn) ProcessElement(ctx context.Context, key int, shards func(*ShardTask) bool, states func(*State) bool, emit func(int, roundItem)) error {
	tasks := map[int]ShardTask{}
	var group []int
	var task ShardTask
	for shards(&task) {
		tasks[task.Index] = task
		group = append(group, task.Index)
	}
	if len(group) == 0 {
		return nil // a key with no shard: nothing to do
	}
	sort.Ints(group)
	var st State
	n := 0
	for states(&st) {
		n++
		m := st.Model
		if m < 0 || m >= len(fn.calc) {
			return fmt.Errorf("train: state of model %d, but the round has %d", m, len(fn.calc))
		}
		w, sel := fn.calc[m], fn.Sels[m]
		p, err := w.group(group, func(sl *slot, i int) (transforms.Partial, error) {
			info := tasks[i].Info
			switch {
			case fn.Eval:
				return w.evalPartial(ctx, sl, i, info, st.Params, sel)
			case w.spec.Mode == "local":
				return w.localPartial(ctx, sl, i, info, fn.Epoch, fn.Round, &st, sel)
			default:
				return w.syncPartial(ctx, sl, i, info, fn.Epoch, fn.Round, st.Params, sel)
			}
		})
		if err != nil {
			return err
		}
		emit(m, roundItem{Part: p})
		st = State{}
	}
	if n == 0 {
		return fmt.Errorf("train: shard %d got no model in epoch %d round %d", key, fn.Epoch, fn.Round)
	}
	return nil
}

// roundItem is what a round's Combine takes: the previous state (once) or
// one shard's Partial.
type roundItem struct {
	State *State
	Part  transforms.Partial
}

func stateItem(st State) (int, roundItem) { return st.Model, roundItem{State: &st} }

func itemPartial(m int, it roundItem) (int, transforms.Partial) { return m, it.Part }

func keyState(st State) (int, State) { return st.Model, st }

// stepCombineFn merges a round: it sums the shards' partials (in shard
// order, so every runner gives the same bits) and applies them to the
// previous state, which travels through the same Combine. Doing the step
// in the Combine saves a join per round (a shuffle: the cost of a round on
// prism is mostly its shuffles).
type stepCombineFn struct {
	transforms.OrderedCombine[roundItem]
	Specs []*Spec
	Epoch int
	Round int
}

func (fn *stepCombineFn) ExtractOutput(a transforms.Ordered[roundItem]) (State, error) {
	var st *State
	var parts []transforms.Partial
	for _, it := range a.Items {
		if it.State != nil {
			if st != nil {
				return State{}, fmt.Errorf("train: two states entering epoch %d round %d", fn.Epoch, fn.Round)
			}
			st = it.State
			continue
		}
		parts = append(parts, it.Part)
	}
	if st == nil {
		return State{}, fmt.Errorf("train: no state entering epoch %d round %d", fn.Epoch, fn.Round)
	}
	if st.Model < 0 || st.Model >= len(fn.Specs) {
		return State{}, fmt.Errorf("train: state of model %d, but the round has %d", st.Model, len(fn.Specs))
	}
	spec := fn.Specs[st.Model]
	sum := transforms.AddPartials(parts)
	if spec.Mode == "local" {
		return *st, applyLocal(spec, st, sum)
	}
	return *st, applySync(spec, st, sum, fn.Epoch, fn.Round)
}

// Round adds one training round of every model to the pipeline: broadcast
// the states (PCollection<State>, one per model) to the shards
// (KV<int, ShardTask>), compute a Partial per shard and model, and combine
// each model's partials with its state into its next state. It returns the
// next PCollection<State>.
func Round(s beam.Scope, ms *Models, shards beam.PCollection, nShards int, states beam.PCollection, epoch, round int) beam.PCollection {
	s = s.Scope(fmt.Sprintf("train.Round%d", round))
	full := ms.Specs[0].Mode == "local"
	joined := beam.CoGroupByKey(s, shards, broadcast(s, states, nShards, full))
	parts := beam.ParDo(s, &roundFn{Specs: ms.Specs, Sels: ms.TrainSels, Epoch: epoch, Round: round}, joined)
	items := beam.Flatten(s, parts, beam.ParDo(s, stateItem, states))
	next := beam.CombinePerKey(s, &stepCombineFn{Specs: ms.Specs, Epoch: epoch, Round: round}, items)
	return beam.DropKey(s, next)
}

// Evaluate returns PCollection<KV<int, Partial>>: for each model of
// states, the loss, correct predictions and confusion counts over its
// evaluation rows of the shards (KV<int, ShardTask>).
func Evaluate(s beam.Scope, ms *Models, shards beam.PCollection, nShards int, states beam.PCollection) beam.PCollection {
	s = s.Scope("train.Evaluate")
	joined := beam.CoGroupByKey(s, shards, broadcast(s, states, nShards, false))
	items := beam.ParDo(s, &roundFn{Specs: ms.Specs, Sels: ms.EvalSels, Eval: true}, joined)
	return transforms.SumPartialsPerKey(s, beam.ParDo(s, itemPartial, items))
}

func init() {
	register.Function1x2(keyShardFn)
	register.DoFn2x0[State, func(int, State)](&broadcastFn{})
	register.DoFn5x1[context.Context, int, func(*ShardTask) bool, func(*State) bool, func(int, roundItem), error](&roundFn{})
	register.Combiner3[transforms.Ordered[roundItem], roundItem, State](&stepCombineFn{})
	register.Function1x2(stateItem)
	register.Function2x2(itemPartial)
	register.Function1x2(keyState)
	register.Emitter2[int, roundItem]()
	beam.RegisterCoder(reflect.TypeOf(roundItem{}), encodeRoundItem, decodeRoundItem)
	beam.RegisterCoder(reflect.TypeOf(transforms.Ordered[roundItem]{}), encodeRoundAccum, decodeRoundAccum)
	register.Emitter2[int, State]()
	register.Iter1[ShardTask]()
	register.Iter1[State]()
	register.Iter1[transforms.Partial]()
}

func encodeRoundItem(it roundItem) []byte {
	if it.State != nil {
		return append([]byte{1}, encodeState(*it.State)...)
	}
	return append([]byte{0}, transforms.EncodePartial(it.Part)...)
}

func decodeRoundItem(b []byte) (roundItem, error) {
	if len(b) == 0 {
		return roundItem{}, fmt.Errorf("train: empty round item")
	}
	if b[0] == 1 {
		st, err := decodeState(b[1:])
		return roundItem{State: &st}, err
	}
	p, err := transforms.DecodePartial(b[1:])
	return roundItem{Part: p}, err
}

func encodeRoundAccum(a transforms.Ordered[roundItem]) []byte {
	return wire.EncodeFramed(a.Items, encodeRoundItem)
}

func decodeRoundAccum(b []byte) (transforms.Ordered[roundItem], error) {
	items, err := wire.DecodeFramed(b, decodeRoundItem)
	return transforms.Ordered[roundItem]{Items: items}, err
}
