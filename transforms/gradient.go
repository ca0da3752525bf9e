package transforms

import (
	"math"
	"reflect"
	"sort"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
)

// Partial is one shard's contribution to a training round: a vector (a
// gradient sum in sync mode; examples-weighted parameters and optimizer
// state in local mode) and the counts that go with it.
type Partial struct {
	Shard    int       // the shard it came from; orders the sum
	Vec      []float32 // summed across shards
	Examples int64     // rows that contributed
	LossSum  float64   // Σ loss over those rows
	Correct  int64     // rows classified right (evaluation)
}

// SumPartials sums a PCollection<Partial> into a single Partial (Shard -1)
// with a global Combine. Every shard sends one vector, whatever its number
// of rows, so the Combine moves one vector per shard even on runners that
// do not lift combiners (Flink, Spark).
//
// Floating-point addition is not associative, and runners merge partial
// accumulators in any order: so the accumulator keeps the partials and
// ExtractOutput adds them in shard order, in float64. The same partials
// give the same bits on every runner, which --resume and the cross-runner
// tests rely on. An accumulator holds at most one vector per shard.
func SumPartials(s beam.Scope, partials beam.PCollection) beam.PCollection {
	s = s.Scope("transforms.SumPartials")
	return beam.Combine(s, &sumPartialsFn{}, partials)
}

// SumPartialsPerKey is SumPartials per key, for PCollection<KV<K, Partial>>
// (folds of a cross-validation, models of a grid).
func SumPartialsPerKey(s beam.Scope, partials beam.PCollection) beam.PCollection {
	s = s.Scope("transforms.SumPartialsPerKey")
	return beam.CombinePerKey(s, &sumPartialsFn{}, partials)
}

type partialsAccum struct{ Parts []Partial }

type sumPartialsFn struct{}

func (*sumPartialsFn) CreateAccumulator() partialsAccum { return partialsAccum{} }

func (*sumPartialsFn) AddInput(a partialsAccum, p Partial) partialsAccum {
	a.Parts = append(a.Parts, p)
	return a
}

func (*sumPartialsFn) MergeAccumulators(a, b partialsAccum) partialsAccum {
	a.Parts = append(a.Parts, b.Parts...)
	return a
}

func (*sumPartialsFn) ExtractOutput(a partialsAccum) Partial {
	return AddPartials(a.Parts)
}

// AddPartials adds parts in shard order (ties keep their order).
func AddPartials(parts []Partial) Partial {
	sort.SliceStable(parts, func(i, j int) bool { return parts[i].Shard < parts[j].Shard })
	out := Partial{Shard: -1}
	var sum []float64
	for _, p := range parts {
		if len(p.Vec) > len(sum) {
			sum = append(sum, make([]float64, len(p.Vec)-len(sum))...)
		}
		for i, v := range p.Vec {
			sum[i] += float64(v)
		}
		out.Examples += p.Examples
		out.LossSum += p.LossSum
		out.Correct += p.Correct
	}
	out.Vec = make([]float32, len(sum))
	for i, v := range sum {
		out.Vec[i] = float32(v)
	}
	return out
}

// EncodePartial and DecodePartial are Partial's bulk binary coder.
func EncodePartial(p Partial) []byte { return encodePartial(p) }

// DecodePartial decodes what EncodePartial wrote.
func DecodePartial(b []byte) (Partial, error) { return decodePartial(b) }

func encodePartial(p Partial) []byte {
	e := &enc{b: make([]byte, 0, 48+4*len(p.Vec))}
	e.u64(uint64(int64(p.Shard)))
	e.u64(uint64(p.Examples))
	e.u64(math.Float64bits(p.LossSum))
	e.u64(uint64(p.Correct))
	appendRaw(e, p.Vec)
	return e.b
}

func decodePartial(data []byte) (Partial, error) {
	d := &dec{b: data}
	p := Partial{Shard: int(int64(d.u64())), Examples: int64(d.u64())}
	p.LossSum = math.Float64frombits(d.u64())
	p.Correct = int64(d.u64())
	p.Vec = readRaw[float32](d)
	return p, d.err
}

func encodePartialsAccum(a partialsAccum) []byte { return EncodeFramed(a.Parts, encodePartial) }

func decodePartialsAccum(data []byte) (partialsAccum, error) {
	items, err := DecodeFramed(data, decodePartial)
	return partialsAccum{Parts: items}, err
}

func init() {
	beam.RegisterCoder(reflect.TypeOf(Partial{}), encodePartial, decodePartial)
	beam.RegisterCoder(reflect.TypeOf(partialsAccum{}), encodePartialsAccum, decodePartialsAccum)
	register.Combiner3[partialsAccum, Partial, Partial](&sumPartialsFn{})
}
