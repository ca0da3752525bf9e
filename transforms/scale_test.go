package transforms

import (
	"math"
	"testing"

	"github.com/lightbeam-ml/lightbeam/transforms/rows"
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
			if math.Abs(float64(row.Dense[j]-w)) > 1e-5 {
				t.Errorf("%s sparse=%v: feature %d: got %v, want %v", tc.method, tc.sparse, j, row.Dense[j], w)
			}
		}
	}
	if _, err := FitScale("zscore", st, false); err == nil {
		t.Error("unknown method: no error")
	}
}
