package transforms

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/passert"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"

	"github.com/lightbeam-ml/lightbeam/data/rows"
)

// checkStats compares statistics from the pipeline with a direct float64
// computation over the same rows (passed in the DoFn's fields).
type checkStatsFn struct {
	Want map[int][]float64 // split → mean of each feature, then variance of each
	Rows map[int]int64
}

func (fn *checkStatsFn) ProcessElement(split int, st rows.Stats, emit func(string)) {
	want := fn.Want[split]
	d := st.Features()
	if st.Rows != fn.Rows[split] {
		emit("row count differs")
	}
	for j := 0; j < d; j++ {
		if math.Abs(st.Mean[j]-want[j]) > 1e-9*(1+math.Abs(want[j])) || math.Abs(st.Variance(j)-want[d+j]) > 1e-9*(1+want[d+j]) {
			emit("mean or variance differs")
		}
	}
	var classes int64
	for _, n := range st.Labels {
		classes += n
	}
	if classes != st.Rows {
		emit("label histogram does not sum to the rows")
	}
}

func init() { register.DoFn3x0[int, rows.Stats, func(string)](&checkStatsFn{}) }

func TestAnalyze(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	var in []rows.Block
	for i := 0; i < 12; i++ {
		in = append(in, *randomBlock(rng, "a", int64(i*300), 300, 4))
	}
	// Direct two-pass statistics per split, in float64.
	f := Fractions{0.6, 0.2, 0.2}
	want, counts := map[int][]float64{}, map[int]int64{}
	sums := map[int][]float64{}
	for pass := 0; pass < 2; pass++ {
		for _, b := range in {
			for i, id := range b.IDs {
				k := f.Of(id)
				if want[k] == nil {
					want[k], sums[k] = make([]float64, 8), make([]float64, 4)
				}
				for j := 0; j < 4; j++ {
					x := float64(b.DenseValues[i*4+j])
					if pass == 0 {
						sums[k][j] += x
					} else {
						e := x - sums[k][j]/float64(counts[k])
						want[k][4+j] += e * e
					}
				}
				if pass == 0 {
					counts[k]++
				}
			}
		}
	}
	for k, w := range want {
		for j := 0; j < 4; j++ {
			w[j] = sums[k][j] / float64(counts[k])
			w[4+j] /= float64(counts[k])
		}
	}
	p, s := beam.NewPipelineWithRoot()
	stats := Analyze(s, SplitBlocks(s, beam.ParDo(s, unkeyed, beam.CreateList(s, in)), f), true)
	passert.Count(s, stats, "splits", 3)
	passert.Empty(s, beam.ParDo(s, &checkStatsFn{Want: want, Rows: counts}, stats))
	ptest.RunAndValidate(t, p)
}

// The merged statistics must not depend on the order partials arrive in,
// bit for bit: shards are checksummed across runners.
func TestMergePartsOrderIndependent(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	var parts []statsPart
	for i := 0; i < 20; i++ {
		b := randomBlock(rng, "p", int64(i*50), 50, 3)
		st := rows.NewStats(3)
		st.AddBlock(b, false)
		parts = append(parts, statsPart{Key: b.IDs[0], Stats: *st})
	}
	first := mergeParts(append([]statsPart(nil), parts...))
	for trial := 0; trial < 5; trial++ {
		shuffled := append([]statsPart(nil), parts...)
		rng.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
		got := mergeParts(shuffled)
		for j := range got.Mean {
			if got.Mean[j] != first.Mean[j] || got.M2[j] != first.M2[j] {
				t.Fatalf("trial %d: feature %d differs: mean %v vs %v", trial, j, got.Mean[j], first.Mean[j])
			}
		}
	}
}

// Chan's merge stays accurate where the naive Σx² − n·mean² formula loses
// every digit: a large offset with a small spread.
func TestStatsMergeStable(t *testing.T) {
	const offset = 1e8
	a, b := rows.NewDense(1, 3), rows.NewDense(1, 3)
	for i, v := range []float32{4, 7, 13} {
		a.AppendDense(uint64(i), 0, []float32{offset + v})
		b.AppendDense(uint64(i+3), 0, []float32{offset + v + 3})
	}
	st := rows.NewStats(1)
	st.AddBlock(a, false)
	st.AddBlock(b, false)
	// float32(1e8+v) rounds to multiples of 8; compute the exact variance
	// of what was stored.
	var xs []float64
	for _, blk := range []*rows.Block{a, b} {
		for _, v := range blk.DenseValues {
			xs = append(xs, float64(v))
		}
	}
	var mean, m2 float64
	for _, x := range xs {
		mean += x / 6
	}
	for _, x := range xs {
		m2 += (x - mean) * (x - mean)
	}
	if got := st.Variance(0); math.Abs(got-m2/6) > 1e-6*(m2/6) {
		t.Fatalf("variance %v, want %v", got, m2/6)
	}
}
