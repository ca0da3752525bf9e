package transforms

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/passert"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"
)

// randomPartials returns n partials whose sums are large and small values
// mixed, so that float32 addition in different orders gives different bits.
func randomPartials(n, d int, seed uint64) []Partial {
	rng := rand.New(rand.NewPCG(seed, 1))
	ps := make([]Partial, n)
	for i := range ps {
		ps[i] = Partial{Shard: i, Sum: make([]float32, d), Examples: int64(i + 1), LossSum: float64(i) / 3, Correct: int64(i)}
		for j := range ps[i].Sum {
			ps[i].Sum[j] = float32(rng.NormFloat64() * math.Pow(10, float64(rng.IntN(8)-4)))
		}
	}
	return ps
}

func TestAddPartialsIgnoresArrivalOrder(t *testing.T) {
	ps := randomPartials(9, 50, 1)
	want := AddPartials(slices.Clone(ps))
	if want.Shard != -1 || want.Examples != 45 || want.Correct != 36 || len(want.Sum) != 50 {
		t.Fatalf("sum %+v", want)
	}
	var exact float64 // the float64 sum, rounded once
	for _, p := range ps {
		exact += float64(p.Sum[7])
	}
	if want.Sum[7] != float32(exact) {
		t.Errorf("sum[7] = %g, want %g", want.Sum[7], float32(exact))
	}
	rng := rand.New(rand.NewPCG(2, 3))
	for range 20 {
		shuffled := slices.Clone(ps)
		rng.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
		got := AddPartials(shuffled)
		if !slices.Equal(got.Sum, want.Sum) || got.LossSum != want.LossSum {
			t.Fatal("the sum depends on the order the partials arrive in")
		}
	}
	// Shorter vectors (a model with no rows in a shard) add as zeros.
	short := AddPartials([]Partial{{Shard: 1, Sum: []float32{1, 2, 3}}, {Shard: 0}})
	if !slices.Equal(short.Sum, []float32{1, 2, 3}) {
		t.Errorf("with an empty partial: %v", short.Sum)
	}
}

func TestPartialCoder(t *testing.T) {
	p := randomPartials(1, 33, 4)[0]
	p.Shard = -1
	enc := EncodePartial(p)
	got, err := DecodePartial(enc)
	if err != nil || got.Shard != -1 || !slices.Equal(got.Sum, p.Sum) || got.LossSum != p.LossSum || got.Examples != p.Examples {
		t.Fatalf("round trip: %v, %+v", err, got)
	}
	for _, cut := range []int{0, 8, 31, len(enc) - 1} {
		if _, err := DecodePartial(enc[:cut]); err == nil {
			t.Errorf("decoding %d of %d bytes: no error", cut, len(enc))
		}
	}
	if _, err := DecodePartial(append(enc, 0)); err == nil {
		t.Error("a trailing byte: no error")
	}
	acc := Ordered[Partial]{Items: randomPartials(3, 5, 5)}
	back, err := decodePartials(encodePartials(acc))
	if err != nil || len(back.Items) != 3 || !slices.Equal(back.Items[2].Sum, acc.Items[2].Sum) {
		t.Fatalf("accumulator round trip: %v, %+v", err, back)
	}
}

func keyPartial(p Partial) (int, Partial) { return p.Shard % 2, p }

func formatSum(k int, p Partial) string {
	return fmt.Sprintf("%d: shard %d examples %d sum %v", k, p.Shard, p.Examples, p.Sum)
}

func init() {
	register.Function1x2(keyPartial)
	register.Function2x1(formatSum)
}

// On prism, with the partials spread over bundles, the Combine gives the
// bits that AddPartials gives in one process.
func TestSumPartialsPerKey(t *testing.T) {
	ps := randomPartials(12, 40, 6)
	var even, odd []Partial
	for _, p := range ps {
		if p.Shard%2 == 0 {
			even = append(even, p)
		} else {
			odd = append(odd, p)
		}
	}
	p, s := beam.NewPipelineWithRoot()
	sums := SumPartialsPerKey(s, beam.ParDo(s, keyPartial, beam.Reshuffle(s, beam.CreateList(s, ps))))
	passert.Equals(s, beam.ParDo(s, formatSum, sums), formatSum(0, AddPartials(even)), formatSum(1, AddPartials(odd)))
	ptest.RunAndValidate(t, p)
}
