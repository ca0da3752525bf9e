package rows

import (
	"strings"
	"testing"
)

func TestValidate(t *testing.T) {
	good := NewSparse(5, 2)
	good.AppendSparse(1, 0, []int32{0, 3}, []float32{1, 2})
	good.AppendSparse(2, 1, nil, nil)
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		b    *Block
		want string
	}{
		{"index out of range", &Block{Features: 3, Sparse: true, Labels: []float32{0}, IDs: []uint64{1}, Indptr: []int32{0, 1}, Indices: []int32{3}, Values: []float32{1}},
			"rows: sparse row 0 has index 3 out of order or range [0,3)"},
		{"indices not increasing", &Block{Features: 9, Sparse: true, Labels: []float32{0}, IDs: []uint64{1}, Indptr: []int32{0, 2}, Indices: []int32{4, 2}, Values: []float32{1, 1}},
			"rows: sparse row 0 has index 2 out of order or range [0,9)"},
		{"dense size", &Block{Features: 3, Labels: []float32{0}, IDs: []uint64{1}, DenseValues: []float32{1, 2}},
			"rows: dense block of 1 rows × 3 features has 2 values"},
		{"ids and labels", &Block{Features: 1, Labels: []float32{0, 1}, IDs: []uint64{1}, DenseValues: []float32{1, 2}},
			"rows: block has 2 labels but 1 ids"},
	} {
		if err := tc.b.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Validate() = %v, want %q", tc.name, err, tc.want)
		}
	}
}

func TestRecordID(t *testing.T) {
	a := RecordID("train.csv", 7)
	if RecordID("train.csv", 8) == a || RecordID("test.csv", 7) == a {
		t.Fatal("different records share an identity")
	}
	// Low bits pick shards: over many records each of 8 shards gets a fair share.
	var counts [8]int
	for i := int64(0); i < 8000; i++ {
		counts[RecordID("x", i)%8]++
	}
	for s, n := range counts {
		if n < 850 || n > 1150 {
			t.Errorf("shard %d got %d of 8000", s, n)
		}
	}
}
