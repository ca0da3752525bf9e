package train

import (
	"context"
	"fmt"
	"reflect"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"

	"github.com/lightbeam-ml/lightbeam/data/shardio"
	"github.com/lightbeam-ml/lightbeam/internal/wire"
	"github.com/lightbeam-ml/lightbeam/transforms"
)

// ShardTask names one shard file for the rounds: its index orders the
// Combine's sum, so results do not depend on the runner.
type ShardTask struct {
	Group int // the shard group (worker key) it belongs to
	Index int
	Info  shardio.ShardInfo
}

// shardTasks lists the shards by group, as shardGroups assigns them: the
// rounds' DoFns carry it, so the shards need no join with the model.
func shardTasks(shards []shardio.ShardInfo, workers int) [][]ShardTask {
	var tasks [][]ShardTask
	for w, group := range shardGroups(len(shards), workers) {
		var g []ShardTask
		for _, i := range group {
			g = append(g, ShardTask{Group: w, Index: i, Info: shards[i]})
		}
		tasks = append(tasks, g)
	}
	return tasks
}

// broadcast sends a copy of each State in PCollection<State> to each of n
// worker keys: PCollection<KV<int, State>>. The copy for key 0 is whole
// (it enters the round's Combine); the others carry the optimizer state
// only where the workers step (local rounds), and the parameters only.
//
// With one key nothing is shuffled: the copy goes on in the same stage
// (the runner fuses it with the previous Combine's output), so a round
// costs one shuffle, its Combine's. With several keys a GroupByKey hands
// each key to a worker; the model reaches the shards by that shuffle
// rather than a side input because Spark runs Go side inputs unreliably
// (docs/ARCHITECTURE.md).
func broadcast(s beam.Scope, state beam.PCollection, n int, full bool) beam.PCollection {
	return beam.ParDo(s, &broadcastFn{N: n, Full: full}, state)
}

type broadcastFn struct {
	N    int
	Full bool
}

func (fn *broadcastFn) ProcessElement(st State, emit func(int, State)) {
	emit(0, st)
	if !fn.Full {
		st = State{Model: st.Model, Step: st.Step, Params: st.Params}
	}
	for i := 1; i < fn.N; i++ {
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

// roundFn computes, for one worker's group of shards, a Partial of each
// model broadcast to it (summed over the group), emitted as
// KV<model, roundItem>. The worker of key 0 also emits the state the
// round's Combine steps from: whole in sync rounds; in local rounds, whose
// step replaces the parameters with the shards' average, only its counts,
// unless its own shards had no rows left (then the average may be empty
// and the parameters must pass through unchanged).
//
// It takes KV<int, State> (one worker key, no shuffle); roundGroupedFn
// takes the grouped form.
type roundFn struct {
	Specs  []*Spec
	Sels   []rowSelect
	Groups [][]ShardTask
	Epoch  int
	Round  int
	Eval   bool // evaluate rather than train

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

func (fn *roundFn) ProcessElement(ctx context.Context, key int, st State, emit func(int, roundItem)) error {
	return fn.process(ctx, key, &st, emit)
}

func (fn *roundFn) process(ctx context.Context, key int, st *State, emit func(int, roundItem)) error {
	if key < 0 || key >= len(fn.Groups) {
		return fmt.Errorf("train: worker key %d, but the round has %d groups", key, len(fn.Groups))
	}
	group := make([]int, 0, len(fn.Groups[key]))
	infos := map[int]shardio.ShardInfo{}
	for _, t := range fn.Groups[key] {
		group = append(group, t.Index)
		infos[t.Index] = t.Info
	}
	m := st.Model
	if m < 0 || m >= len(fn.calc) {
		return fmt.Errorf("train: state of model %d, but the round has %d", m, len(fn.calc))
	}
	w, sel := fn.calc[m], fn.Sels[m]
	p, err := w.group(group, func(sl *slot, i int) (transforms.Partial, error) {
		info := infos[i]
		switch {
		case fn.Eval:
			return w.evalPartial(ctx, sl, i, info, st.Params, sel)
		case w.spec.Mode == "local":
			return w.localPartial(ctx, sl, i, info, fn.Epoch, fn.Round, st, sel)
		default:
			return w.syncPartial(ctx, sl, i, info, fn.Epoch, fn.Round, st.Params, sel)
		}
	})
	if err != nil {
		return err
	}
	emit(m, roundItem{Part: p})
	if key == 0 && !fn.Eval {
		next := *st
		if w.spec.Mode == "local" && p.Examples > 0 {
			next.Params, next.Opt = nil, nil
		}
		emit(m, roundItem{State: &next})
	}
	return nil
}

// roundGroupedFn is roundFn after the GroupByKey of several worker keys.
type roundGroupedFn struct{ roundFn }

func (fn *roundGroupedFn) ProcessElement(ctx context.Context, key int, states func(*State) bool, emit func(int, roundItem)) error {
	var st State
	n := 0
	for states(&st) {
		n++
		if err := fn.process(ctx, key, &st, emit); err != nil {
			return err
		}
		st = State{}
	}
	if n == 0 {
		return fmt.Errorf("train: worker key %d got no model in epoch %d round %d", key, fn.Epoch, fn.Round)
	}
	return nil
}

// computeRound applies the round's DoFn to the broadcast states
// (KV<int, State>) of n worker keys: directly for one key, after a
// GroupByKey for several.
func computeRound(s beam.Scope, fn roundFn, bcast beam.PCollection, n int) beam.PCollection {
	if n == 1 {
		return beam.ParDo(s, &fn, bcast)
	}
	return beam.ParDo(s, &roundGroupedFn{fn}, beam.GroupByKey(s, bcast))
}

// roundItem is what a round's Combine takes: the previous state (once) or
// one shard's Partial.
type roundItem struct {
	State *State
	Part  transforms.Partial
}

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
	return stepRound(fn.Specs, fn.Epoch, fn.Round, a.Items)
}

// stepRound sums a round's partials (in the order given: shard order) and
// applies them to the state among items.
func stepRound(specs []*Spec, epoch, round int, items []roundItem) (State, error) {
	var st *State
	var parts []transforms.Partial
	for _, it := range items {
		if it.State != nil {
			if st != nil {
				return State{}, fmt.Errorf("train: two states entering epoch %d round %d", epoch, round)
			}
			st = it.State
			continue
		}
		parts = append(parts, it.Part)
	}
	if st == nil {
		return State{}, fmt.Errorf("train: no state entering epoch %d round %d", epoch, round)
	}
	if st.Model < 0 || st.Model >= len(specs) {
		return State{}, fmt.Errorf("train: state of model %d, but the round has %d", st.Model, len(specs))
	}
	spec := specs[st.Model]
	sum := transforms.AddPartials(parts)
	if spec.Mode == "local" {
		return *st, applyLocal(spec, st, sum)
	}
	return *st, applySync(spec, st, sum, epoch, round)
}

// epochRoundsFn runs all rounds of an epoch for one worker key, which
// holds every shard: with one worker a round's Combine would have one
// partial to merge, so the worker steps itself, round after round, with
// the Combine's own stepRound (the same bits), and the epoch costs no
// shuffle per round. It takes and returns PCollection<State>.
type epochRoundsFn struct {
	roundFn
	From, To int // the rounds [From, To)
}

func (fn *epochRoundsFn) ProcessElement(ctx context.Context, st State) (State, error) {
	for r := fn.From; r < fn.To; r++ {
		fn.Round = r
		var items []roundItem
		if err := fn.process(ctx, 0, &st, func(_ int, it roundItem) { items = append(items, it) }); err != nil {
			return State{}, err
		}
		next, err := stepRound(fn.Specs, fn.Epoch, r, items)
		if err != nil {
			return State{}, err
		}
		st = next
	}
	return st, nil
}

// Round adds one training round of every model to the pipeline: broadcast
// the states (PCollection<State>, one per model) to the worker keys of
// groups, compute a Partial per group and model, and combine each model's
// partials with its state into its next state. It returns the next
// PCollection<State>.
func Round(s beam.Scope, ms *Models, groups [][]ShardTask, states beam.PCollection, epoch, round int) beam.PCollection {
	s = s.Scope(fmt.Sprintf("train.Round%d", round))
	full := ms.Specs[0].Mode == "local"
	fn := roundFn{Specs: ms.Specs, Sels: ms.TrainSels, Groups: groups, Epoch: epoch, Round: round}
	items := computeRound(s, fn, broadcast(s, states, len(groups), full), len(groups))
	next := beam.CombinePerKey(s, &stepCombineFn{Specs: ms.Specs, Epoch: epoch, Round: round}, items)
	return beam.DropKey(s, next)
}

// Rounds adds rounds [from, to) of an epoch of every model: a Round each,
// or, for one worker key, one epochRoundsFn that runs them back to back.
// It returns the last PCollection<State>.
func Rounds(s beam.Scope, ms *Models, groups [][]ShardTask, states beam.PCollection, epoch, from, to int) beam.PCollection {
	if len(groups) == 1 {
		s = s.Scope("train.Rounds")
		fn := roundFn{Specs: ms.Specs, Sels: ms.TrainSels, Groups: groups, Epoch: epoch}
		return beam.ParDo(s, &epochRoundsFn{roundFn: fn, From: from, To: to}, states)
	}
	for r := from; r < to; r++ {
		states = Round(s, ms, groups, states, epoch, r)
	}
	return states
}

// Evaluate returns PCollection<KV<int, Partial>>: for each model of
// states, the loss, correct predictions and confusion counts over its
// evaluation rows of the groups' shards.
func Evaluate(s beam.Scope, ms *Models, groups [][]ShardTask, states beam.PCollection) beam.PCollection {
	s = s.Scope("train.Evaluate")
	fn := roundFn{Specs: ms.Specs, Sels: ms.EvalSels, Groups: groups, Eval: true}
	items := computeRound(s, fn, broadcast(s, states, len(groups), false), len(groups))
	return transforms.SumPartialsPerKey(s, beam.ParDo(s, itemPartial, items))
}

func init() {
	register.DoFn2x0[State, func(int, State)](&broadcastFn{})
	register.DoFn4x1[context.Context, int, State, func(int, roundItem), error](&roundFn{})
	register.DoFn4x1[context.Context, int, func(*State) bool, func(int, roundItem), error](&roundGroupedFn{})
	register.DoFn2x2[context.Context, State, State, error](&epochRoundsFn{})
	register.Combiner3[transforms.Ordered[roundItem], roundItem, State](&stepCombineFn{})
	register.Function2x2(itemPartial)
	register.Function1x2(keyState)
	register.Emitter2[int, roundItem]()
	beam.RegisterCoder(reflect.TypeOf(roundItem{}), encodeRoundItem, decodeRoundItem)
	beam.RegisterCoder(reflect.TypeOf(transforms.Ordered[roundItem]{}), encodeRoundAccum, decodeRoundAccum)
	register.Emitter2[int, State]()
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
