package train

import (
	"context"
	"encoding/binary"
	"fmt"
	"reflect"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"

	"github.com/lightbeam-ml/lightbeam/transforms"
	"github.com/lightbeam-ml/lightbeam/transforms/shardio"
)

// ShardTask names one shard file for the rounds: its index orders the
// Combine's sum, so results do not depend on the runner.
type ShardTask struct {
	Index int
	Info  shardio.ShardInfo
}

// keyedShards returns PCollection<KV<int, ShardTask>> for the shards.
func keyedShards(s beam.Scope, shards []shardio.ShardInfo) beam.PCollection {
	tasks := make([]ShardTask, len(shards))
	for i, info := range shards {
		tasks[i] = ShardTask{Index: i, Info: info}
	}
	return beam.ParDo(s, keyShardFn, beam.CreateList(s, tasks))
}

func keyShardFn(t ShardTask) (int, ShardTask) { return t.Index, t }

// broadcast sends a copy of the single State in PCollection<State> to each
// of n shard keys: PCollection<KV<int, State>>. With full unset only the
// parameters travel (sync rounds and evaluation need nothing else).
//
// The model reaches the shards by a join rather than a side input because
// Spark runs Go side inputs unreliably (ARCHITECTURE.md).
func broadcast(s beam.Scope, state beam.PCollection, n int, full bool) beam.PCollection {
	return beam.ParDo(s, &broadcastFn{N: n, Full: full}, state)
}

type broadcastFn struct {
	N    int
	Full bool
}

func (fn *broadcastFn) ProcessElement(st State, emit func(int, State)) {
	if !fn.Full {
		st = State{Step: st.Step, Params: st.Params}
	}
	for i := 0; i < fn.N; i++ {
		emit(i, st)
	}
}

// roundFn computes one shard's Partial of a round from the shard and the
// broadcast state.
type roundFn struct {
	Spec  *Spec
	Epoch int
	Round int
	Eval  bool // evaluate rather than train

	w *worker
}

func (fn *roundFn) Setup() error {
	var err error
	fn.w, err = newWorker(fn.Spec)
	return err
}

func (fn *roundFn) Teardown() { fn.w.close() }

func (fn *roundFn) ProcessElement(ctx context.Context, key int, shards func(*ShardTask) bool, states func(*State) bool, emit func(transforms.Partial)) error {
	var task ShardTask
	var st State
	if !shards(&task) {
		return nil // a key with no shard: nothing to do
	}
	if !states(&st) {
		return fmt.Errorf("train: shard %d got no model in epoch %d round %d", key, fn.Epoch, fn.Round)
	}
	var p transforms.Partial
	var err error
	switch {
	case fn.Eval:
		p, err = fn.w.evalPartial(ctx, task.Index, task.Info, st.Params)
	case fn.Spec.Mode == "local":
		p, err = fn.w.localPartial(ctx, task.Index, task.Info, fn.Epoch, fn.Round, &st)
	default:
		p, err = fn.w.syncPartial(ctx, task.Index, task.Info, fn.Epoch, fn.Round, st.Params)
	}
	if err != nil {
		return err
	}
	emit(p)
	return nil
}

// roundItem is what a round's Combine takes: the previous state (once) or
// one shard's Partial.
type roundItem struct {
	State *State
	Part  transforms.Partial
}

func asRoundItem(st State) roundItem { return roundItem{State: &st} }

func partItem(p transforms.Partial) roundItem { return roundItem{Part: p} }

// stepCombineFn merges a round: it sums the shards' partials (in shard
// order, so every runner gives the same bits) and applies them to the
// previous state, which travels through the same Combine. Doing the step
// in the Combine saves a join per round (a shuffle: the cost of a round on
// prism is mostly its shuffles).
type stepCombineFn struct {
	Spec  *Spec
	Epoch int
	Round int
}

type roundAccum struct{ Items []roundItem }

func (*stepCombineFn) CreateAccumulator() roundAccum { return roundAccum{} }

func (*stepCombineFn) AddInput(a roundAccum, it roundItem) roundAccum {
	a.Items = append(a.Items, it)
	return a
}

func (*stepCombineFn) MergeAccumulators(a, b roundAccum) roundAccum {
	a.Items = append(a.Items, b.Items...)
	return a
}

func (fn *stepCombineFn) ExtractOutput(a roundAccum) (State, error) {
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
	sum := transforms.AddPartials(parts)
	if fn.Spec.Mode == "local" {
		return *st, applyLocal(fn.Spec, st, sum)
	}
	return *st, applySync(fn.Spec, st, sum, fn.Epoch, fn.Round)
}

// Round adds one training round to the pipeline: broadcast the state to
// the shards, compute a Partial per shard, and combine the partials with
// the state into the next state. It returns the next PCollection<State>.
func Round(s beam.Scope, spec *Spec, shards beam.PCollection, nShards int, state beam.PCollection, epoch, round int) beam.PCollection {
	s = s.Scope(fmt.Sprintf("train.Round%d", round))
	joined := beam.CoGroupByKey(s, shards, broadcast(s, state, nShards, spec.Mode == "local"))
	parts := beam.ParDo(s, partItem, beam.ParDo(s, &roundFn{Spec: spec, Epoch: epoch, Round: round}, joined))
	items := beam.Flatten(s, parts, beam.ParDo(s, asRoundItem, state))
	return beam.Combine(s, &stepCombineFn{Spec: spec, Epoch: epoch, Round: round}, items)
}

// Evaluate returns PCollection<Partial>, the loss and correct predictions
// of the single State in state over the shards (KV<int, ShardTask>).
func Evaluate(s beam.Scope, spec *Spec, shards beam.PCollection, nShards int, state beam.PCollection) beam.PCollection {
	s = s.Scope("train.Evaluate")
	joined := beam.CoGroupByKey(s, shards, broadcast(s, state, nShards, false))
	return transforms.SumPartials(s, beam.ParDo(s, &roundFn{Spec: spec, Eval: true}, joined))
}

func init() {
	register.Function1x2(keyShardFn)
	register.DoFn2x0[State, func(int, State)](&broadcastFn{})
	register.DoFn5x1[context.Context, int, func(*ShardTask) bool, func(*State) bool, func(transforms.Partial), error](&roundFn{})
	register.Combiner3[roundAccum, roundItem, State](&stepCombineFn{})
	register.Function1x1(asRoundItem)
	register.Function1x1(partItem)
	beam.RegisterCoder(reflect.TypeOf(roundItem{}), encodeRoundItem, decodeRoundItem)
	beam.RegisterCoder(reflect.TypeOf(roundAccum{}), encodeRoundAccum, decodeRoundAccum)
	register.Emitter2[int, State]()
	register.Emitter1[transforms.Partial]()
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

func encodeRoundAccum(a roundAccum) []byte {
	var out []byte
	for _, it := range a.Items {
		b := encodeRoundItem(it)
		out = binary.LittleEndian.AppendUint64(out, uint64(len(b)))
		out = append(out, b...)
	}
	return out
}

func decodeRoundAccum(b []byte) (roundAccum, error) {
	var a roundAccum
	for len(b) > 0 {
		if len(b) < 8 || binary.LittleEndian.Uint64(b) > uint64(len(b)-8) {
			return a, fmt.Errorf("train: truncated round accumulator")
		}
		n := binary.LittleEndian.Uint64(b)
		it, err := decodeRoundItem(b[8 : 8+n])
		if err != nil {
			return a, err
		}
		a.Items = append(a.Items, it)
		b = b[8+n:]
	}
	return a, nil
}
