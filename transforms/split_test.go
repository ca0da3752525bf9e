package transforms

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/passert"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"

	"github.com/lightbeam-ml/lightbeam/data/rows"
)

func TestParseFractions(t *testing.T) {
	for _, tc := range []struct {
		spec string
		want Fractions
		ok   bool
	}{
		{"train:0.8,validation:0.1,test:0.1", Fractions{0.8, 0.1, 0.1}, true},
		{"train:1", Fractions{1, 0, 0}, true},
		{"test:0.5, train:0.5", Fractions{0.5, 0, 0.5}, true},
		{"train:0.8,validation:0.1", Fractions{}, false},
		{"train:0.8,dev:0.2", Fractions{}, false},
		{"train:x", Fractions{}, false},
		{"train:0.5,train:0.5", Fractions{}, false},
		{"train:1.5,test:-0.5", Fractions{}, false},
	} {
		got, err := ParseFractions(tc.spec)
		if (err == nil) != tc.ok || (tc.ok && got != tc.want) {
			t.Errorf("ParseFractions(%q) = %v, %v; want %v, ok=%v", tc.spec, got, err, tc.want, tc.ok)
		}
	}
}

// Test helpers run on prism's workers, so they are named and registered.
func splitCounts(split int, b rows.Block) (int, int) { return split, b.Rows() }
func formatKV(k, v int) string                       { return fmt.Sprintf("%d=%d", k, v) }
func unkeyed(b rows.Block) (int, rows.Block)         { return -1, b }
func asTest(b rows.Block) (int, rows.Block)          { return Test, b }
func asValidation(b rows.Block) (int, rows.Block)    { return Validation, b }
func sumInts(a, b int) int                           { return a + b }

func init() {
	register.Function2x2(splitCounts)
	register.Function2x1(formatKV)
	register.Function1x2(unkeyed)
	register.Function1x2(asTest)
	register.Function1x2(asValidation)
	register.Function2x1(sumInts)
	register.Emitter1[string]()
}

func TestSplitBlocks(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	var in []rows.Block
	for i := 0; i < 10; i++ {
		in = append(in, *randomBlock(rng, "data.csv", int64(i*1000), 1000, 3))
	}
	f := Fractions{0.8, 0.1, 0.1}
	// What the pipeline must give: each row's split from its id alone.
	var want [NumSplits]int
	for _, b := range in {
		for _, id := range b.IDs {
			want[f.Of(id)]++
		}
	}
	for i, share := range f {
		if got := float64(want[i]) / 10000; math.Abs(got-share) > 0.02 {
			t.Errorf("split %s holds %.3f of the rows, want about %.2f", SplitNames[i], got, share)
		}
	}
	p, s := beam.NewPipelineWithRoot()
	keyed := beam.ParDo(s, unkeyed, beam.CreateList(s, in))
	fixed := beam.ParDo(s, asTest, beam.Create(s, *randomBlock(rng, "t10k", 0, 500, 3)))
	out := SplitBlocks(s, beam.Flatten(s, keyed, fixed), f)
	sums := beam.CombinePerKey(s, sumInts, beam.ParDo(s, splitCounts, out))
	passert.Equals(s, beam.ParDo(s, formatKV, sums),
		formatKV(Train, want[Train]), formatKV(Validation, want[Validation]), formatKV(Test, want[Test]+500))
	ptest.RunAndValidate(t, p)
}
