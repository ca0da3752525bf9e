package transforms

import (
	"math"
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/lightbeam-ml/lightbeam/data/rows"
)

func TestBlockCoderRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	dense := randomBlock(rng, "a.csv", 0, 37, 5)
	sparse := rows.NewSparse(10, 3)
	sparse.AppendSparse(7, 1, []int32{0, 4, 9}, []float32{1, -2, 3.5})
	sparse.AppendSparse(8, 0, nil, nil)
	sparse.AppendSparse(9, 2, []int32{3}, []float32{float32(math.NaN())})
	for name, b := range map[string]*rows.Block{"dense": dense, "sparse": sparse, "empty": rows.NewDense(4, 0)} {
		got, err := decodeBlock(encodeBlock(*b))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got.Rows() != b.Rows() || got.Features != b.Features || got.Sparse != b.Sparse {
			t.Fatalf("%s: got %d×%d sparse=%v, want %d×%d sparse=%v", name, got.Rows(), got.Features, got.Sparse, b.Rows(), b.Features, b.Sparse)
		}
		if !reflect.DeepEqual(got.IDs, b.IDs) && b.Rows() > 0 {
			t.Errorf("%s: ids differ", name)
		}
		if b.Sparse && (!reflect.DeepEqual(got.Indptr, b.Indptr) || !reflect.DeepEqual(got.Indices, b.Indices)) {
			t.Errorf("%s: CSR structure differs", name)
		}
	}
	enc := encodeBlock(*dense)
	for _, cut := range []int{0, 7, 15, len(enc) / 2, len(enc) - 1} {
		if _, err := decodeBlock(enc[:cut]); err == nil {
			t.Errorf("decoding %d of %d bytes: no error", cut, len(enc))
		}
	}
}

func TestStatsCoderRoundTrip(t *testing.T) {
	st := rows.NewStats(2)
	st.AddBlock(randomBlock(rand.New(rand.NewPCG(3, 4)), "s", 0, 10, 2), true)
	back0, err := decodeStats(encodeStats(*st))
	if err != nil || !reflect.DeepEqual(back0, *st) {
		t.Fatalf("stats round trip: %v\n got %+v\nwant %+v", err, back0, *st)
	}
	empty := rows.NewStats(3) // min/max hold ±Inf
	got, err := decodeStats(encodeStats(*empty))
	if err != nil || !math.IsInf(got.Min[0], 1) || !math.IsInf(got.Max[2], -1) {
		t.Fatalf("empty stats: %v, %+v", err, got)
	}
	a := Ordered[statsPart]{Items: []statsPart{{Key: 5, Stats: *rows.NewStats(2)}, {Key: 1, Stats: *rows.NewStats(2)}}}
	back, err := decodeStatsAccum(encodeStatsAccum(a))
	if err != nil || len(back.Items) != 2 || back.Items[0].Key != 5 || back.Items[1].Key != 1 {
		t.Fatalf("accumulator round trip: %v, %+v", err, back)
	}
}
