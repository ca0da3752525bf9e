package rows

import "testing"

func TestValidate(t *testing.T) {
	good := NewSparse(5, 2)
	good.AppendSparse(1, 0, []int32{0, 3}, []float32{1, 2})
	good.AppendSparse(2, 1, nil, nil)
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string]*Block{
		"index out of range":     {Features: 3, Sparse: true, Labels: []float32{0}, IDs: []uint64{1}, Indptr: []int32{0, 1}, Indices: []int32{3}, Values: []float32{1}},
		"indices not increasing": {Features: 9, Sparse: true, Labels: []float32{0}, IDs: []uint64{1}, Indptr: []int32{0, 2}, Indices: []int32{4, 2}, Values: []float32{1, 1}},
		"dense size":             {Features: 3, Labels: []float32{0}, IDs: []uint64{1}, Dense: []float32{1, 2}},
		"ids and labels":         {Features: 1, Labels: []float32{0, 1}, IDs: []uint64{1}, Dense: []float32{1, 2}},
	} {
		if b.Validate() == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestRecordID(t *testing.T) {
	a, b := RecordID("train.csv", 7), RecordID("train.csv", 7)
	if a != b {
		t.Fatal("RecordID is not a function of its inputs")
	}
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
