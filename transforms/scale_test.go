package transforms

import (
	"fmt"
	"math"
	"testing"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/passert"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"

	"github.com/lightbeam-ml/lightbeam/data/rows"
)

func TestFitScale(t *testing.T) {
	// Feature 0: 1,2,3 (mean 2, σ √(2/3)); feature 1: constant 5; feature 2: 0,-4,2.
	b := rows.NewDense(3, 3)
	b.AppendDense(1, 0, []float32{1, 5, 0})
	b.AppendDense(2, 0, []float32{2, 5, -4})
	b.AppendDense(3, 0, []float32{3, 5, 2})
	st := rows.NewStats(3)
	st.AddBlock(b, false)
	nan := float32(math.NaN())
	for _, tc := range []struct {
		method string
		sparse bool
		in     []float32
		want   []float32
	}{
		{"standard", false, []float32{3, 5, nan}, []float32{float32(1 / math.Sqrt(2.0/3)), 0, 0}},
		{"minmax", false, []float32{3, 5, -4}, []float32{1, 0, 0}},
		{"none", false, []float32{3, 5, nan}, []float32{3, 5, float32(-2.0 / 3)}},
		{"standard", true, []float32{2, 5, 0}, []float32{float32(2 / math.Sqrt(2.0/3)), 5, 0}},
		{"minmax", true, []float32{3, 5, -4}, []float32{1, 1, -1}},
	} {
		sc, err := FitScale(tc.method, st, tc.sparse)
		if err != nil {
			t.Fatal(err)
		}
		row := rows.NewDense(3, 1)
		row.AppendDense(9, 0, tc.in)
		sc.Apply(row)
		for j, w := range tc.want {
			if math.Abs(float64(row.DenseValues[j]-w)) > 1e-5 {
				t.Errorf("%s sparse=%v: feature %d: got %v, want %v", tc.method, tc.sparse, j, row.DenseValues[j], w)
			}
		}
	}
	if _, err := FitScale("zscore", st, false); err == nil {
		t.Error("unknown method: no error")
	}
}

// scaleSummary renders a KV<int, Scale> for passert.
func scaleSummary(k int, sc Scale) string {
	return fmt.Sprintf("%d:%s:%.3f", k, sc.Method, sc.Offset[0])
}

func trainStats(_ []byte, emit func(int, rows.Stats)) {
	for split, v := range map[int]float32{Train: 2, Validation: 100} {
		b := rows.NewDense(1, 2)
		b.AppendDense(1, 0, []float32{v})
		b.AppendDense(2, 0, []float32{v + 2})
		st := rows.NewStats(1)
		st.AddBlock(b, false)
		emit(split, *st)
	}
}

func init() {
	register.Function2x1(scaleSummary)
	register.Function2x0(trainStats)
	register.Emitter2[int, rows.Stats]()
}

// FitScaleTo fits on the train split only and sends a copy to every key.
func TestFitScaleToPipeline(t *testing.T) {
	p, s := beam.NewPipelineWithRoot()
	stats := beam.ParDo(s, trainStats, beam.Impulse(s))
	out := FitScaleTo(s, stats, "standard", false, 3)
	passert.Equals(s, beam.ParDo(s, scaleSummary, out), "0:standard:3.000", "1:standard:3.000", "2:standard:3.000")
	ptest.RunAndValidate(t, p)
}
