package transforms

import (
	"math"
	"reflect"
	"sort"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"

	"github.com/lightbeam-ml/lightbeam/internal/par"
	"github.com/lightbeam-ml/lightbeam/internal/wire"
)

// Partial is one shard's contribution to a sum over shards: a vector that
// is added element-wise, and the counts that go with it. What the vector
// holds is the caller's: training sends gradient sums (sync mode),
// examples-weighted parameters and optimizer state (local mode), or
// confusion counts (evaluation).
type Partial struct {
	Shard    int       // the shard it came from; orders the sum
	Sum      []float32 // added element-wise across shards
	Examples int64     // rows that contributed
	LossSum  float64   // Σ loss over those rows
	Correct  int64     // rows classified right (evaluation)
}

// SumPartialsPerKey sums PCollection<KV<K, Partial>> per key into
// PCollection<KV<K, Partial>> (Shard -1): one sum per model of a
// cross-validation. Every shard sends one vector, whatever its number of
// rows, so the Combine moves one vector per shard even on runners that do
// not lift combiners (Flink, Spark).
//
// The accumulator is Ordered and ExtractOutput adds the partials in shard
// order, in float64: the same partials give the same bits on every runner,
// which --resume and the cross-runner tests rely on.
func SumPartialsPerKey(s beam.Scope, partials beam.PCollection) beam.PCollection {
	s = s.Scope("transforms.SumPartialsPerKey")
	return beam.CombinePerKey(s, &sumPartialsFn{}, partials)
}

type sumPartialsFn struct{ OrderedCombine[Partial] }

func (*sumPartialsFn) ExtractOutput(a Ordered[Partial]) Partial {
	return AddPartials(a.Items)
}

// AddPartials adds parts in shard order (ties keep their order), in
// float64, and returns the sum as a Partial of shard -1. Each element is
// summed on its own, parts in order, so the work splits across cores by
// ranges of elements with the same bits.
func AddPartials(parts []Partial) Partial {
	sort.SliceStable(parts, func(i, j int) bool { return parts[i].Shard < parts[j].Shard })
	out := Partial{Shard: -1}
	n := 0
	for _, p := range parts {
		n = max(n, len(p.Sum))
		out.Examples += p.Examples
		out.LossSum += p.LossSum
		out.Correct += p.Correct
	}
	out.Sum = make([]float32, n)
	par.Range(n, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			var s float64
			for _, p := range parts {
				if i < len(p.Sum) {
					s += float64(p.Sum[i])
				}
			}
			out.Sum[i] = float32(s)
		}
	})
	return out
}

// EncodePartial is Partial's bulk binary coder.
func EncodePartial(p Partial) []byte {
	e := &wire.Encoder{B: make([]byte, 0, 48+4*len(p.Sum))}
	e.U64(uint64(int64(p.Shard)))
	e.U64(uint64(p.Examples))
	e.U64(math.Float64bits(p.LossSum))
	e.U64(uint64(p.Correct))
	wire.AppendSlice(e, p.Sum)
	return e.B
}

// DecodePartial decodes what EncodePartial wrote.
func DecodePartial(data []byte) (Partial, error) {
	d := &wire.Decoder{B: data}
	p := Partial{Shard: int(int64(d.U64())), Examples: int64(d.U64())}
	p.LossSum = math.Float64frombits(d.U64())
	p.Correct = int64(d.U64())
	p.Sum = wire.ReadSlice[float32](d)
	return p, d.Finish("a partial")
}

func encodePartials(a Ordered[Partial]) []byte { return wire.EncodeFramed(a.Items, EncodePartial) }

func decodePartials(data []byte) (Ordered[Partial], error) {
	items, err := wire.DecodeFramed(data, DecodePartial)
	return Ordered[Partial]{Items: items}, err
}

func init() {
	beam.RegisterCoder(reflect.TypeOf(Partial{}), EncodePartial, DecodePartial)
	beam.RegisterCoder(reflect.TypeOf(Ordered[Partial]{}), encodePartials, decodePartials)
	register.Combiner3[Ordered[Partial], Partial, Partial](&sumPartialsFn{})
}
