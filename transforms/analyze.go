package transforms

import (
	"reflect"
	"sort"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"

	"github.com/lightbeam-ml/lightbeam/data/rows"
	"github.com/lightbeam-ml/lightbeam/internal/wire"
)

// Analyze computes per-feature statistics (count, mean, variance, min,
// max) and, when classify is set, the class histogram of each split. It
// takes PCollection<KV<int, rows.Block>> keyed by split and returns
// PCollection<KV<int, rows.Stats>>, one per split present.
//
// Each block becomes one partial (exact, two-pass); a Combine merges the
// partials. Runners merge in any order, and floating-point merges do not
// commute bit for bit, yet the same input must give the same shards on
// every runner: so the accumulator keeps the partials and ExtractOutput
// merges them in the order of their first record identity. A partial is
// 5 numbers a feature, one per block of thousands of rows.
func Analyze(s beam.Scope, splitBlocks beam.PCollection, classify bool) beam.PCollection {
	s = s.Scope("transforms.Analyze")
	parts := beam.ParDo(s, &blockStatsFn{Classify: classify}, splitBlocks)
	return beam.CombinePerKey(s, &mergeStatsFn{}, parts)
}

// statsPart is the statistics of one block, ordered by Key.
type statsPart struct {
	Key   uint64 // the block's smallest record identity
	Stats rows.Stats
}

type blockStatsFn struct{ Classify bool }

func (fn *blockStatsFn) ProcessElement(split int, b rows.Block) (int, statsPart) {
	st := rows.NewStats(b.Features)
	st.AddBlock(&b, fn.Classify)
	key := ^uint64(0)
	for _, id := range b.IDs {
		key = min(key, id)
	}
	return split, statsPart{Key: key, Stats: *st}
}

// mergeStatsFn keeps the partials (Ordered); see Analyze for why.
type mergeStatsFn struct{ OrderedCombine[statsPart] }

func (*mergeStatsFn) ExtractOutput(a Ordered[statsPart]) rows.Stats {
	return *mergeParts(a.Items)
}

// mergeParts merges partials in Key order, so the result does not depend
// on the order they arrived in.
func mergeParts(parts []statsPart) *rows.Stats {
	sort.Slice(parts, func(i, j int) bool { return parts[i].Key < parts[j].Key })
	if len(parts) == 0 {
		return rows.NewStats(0)
	}
	out := rows.NewStats(parts[0].Stats.Features())
	for i := range parts {
		out.Merge(&parts[i].Stats)
	}
	return out
}

func encodeStatsPart(p statsPart) []byte {
	e := &wire.Encoder{}
	e.U64(p.Key)
	e.B = append(e.B, encodeStats(p.Stats)...)
	return e.B
}

func decodeStatsPart(data []byte) (statsPart, error) {
	d := &wire.Decoder{B: data}
	key := d.U64()
	if d.Err != nil {
		return statsPart{}, d.Err
	}
	st, err := decodeStats(d.B)
	return statsPart{Key: key, Stats: st}, err
}

func encodeStatsAccum(a Ordered[statsPart]) []byte {
	return wire.EncodeFramed(a.Items, encodeStatsPart)
}

func decodeStatsAccum(data []byte) (Ordered[statsPart], error) {
	items, err := wire.DecodeFramed(data, decodeStatsPart)
	return Ordered[statsPart]{Items: items}, err
}

func init() {
	beam.RegisterCoder(reflect.TypeOf(statsPart{}), encodeStatsPart, decodeStatsPart)
	beam.RegisterCoder(reflect.TypeOf(Ordered[statsPart]{}), encodeStatsAccum, decodeStatsAccum)
	register.DoFn2x2[int, rows.Block, int, statsPart](&blockStatsFn{})
	register.Combiner3[Ordered[statsPart], statsPart, rows.Stats](&mergeStatsFn{})
}
