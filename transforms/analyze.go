package transforms

import (
	"reflect"
	"sort"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"

	"github.com/lightbeam-ml/lightbeam/transforms/rows"
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

// statsAccum collects partials; see Analyze for why they are kept.
type statsAccum struct{ Parts []statsPart }

type mergeStatsFn struct{}

func (*mergeStatsFn) CreateAccumulator() statsAccum { return statsAccum{} }

func (*mergeStatsFn) AddInput(a statsAccum, p statsPart) statsAccum {
	a.Parts = append(a.Parts, p)
	return a
}

func (*mergeStatsFn) MergeAccumulators(a, b statsAccum) statsAccum {
	a.Parts = append(a.Parts, b.Parts...)
	return a
}

func (*mergeStatsFn) ExtractOutput(a statsAccum) rows.Stats {
	return *mergeParts(a.Parts)
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
	e := &enc{}
	e.u64(p.Key)
	e.b = append(e.b, encodeStats(p.Stats)...)
	return e.b
}

func decodeStatsPart(data []byte) (statsPart, error) {
	d := &dec{b: data}
	key := d.u64()
	if d.err != nil {
		return statsPart{}, d.err
	}
	st, err := decodeStats(d.b)
	return statsPart{Key: key, Stats: st}, err
}

func encodeStatsAccum(a statsAccum) []byte { return EncodeFramed(a.Parts, encodeStatsPart) }

func decodeStatsAccum(data []byte) (statsAccum, error) {
	items, err := DecodeFramed(data, decodeStatsPart)
	return statsAccum{Parts: items}, err
}

func init() {
	beam.RegisterCoder(reflect.TypeOf(statsPart{}), encodeStatsPart, decodeStatsPart)
	beam.RegisterCoder(reflect.TypeOf(statsAccum{}), encodeStatsAccum, decodeStatsAccum)
	register.DoFn2x2[int, rows.Block, int, statsPart](&blockStatsFn{})
	register.Combiner3[statsAccum, statsPart, rows.Stats](&mergeStatsFn{})
}
