package formats

import (
	"math"
	"testing"

	"github.com/lightbeam-ml/lightbeam/data/rows"
)

// fieldSchema lays out a schema over the fields a record format's scan
// found, in their order: array fields become vectors, image fields images.
func fieldSchema(t testing.TB, fields []RecordField, opts CSVOptions) *CSVSchema {
	t.Helper()
	var header []string
	widths, shapes := map[string]int{}, map[string][]int{}
	for _, f := range fields {
		header = append(header, f.Name)
		if f.Width > 0 {
			widths[f.Name] = f.Width
		}
		if f.Shape != nil {
			shapes[f.Name] = f.Shape
		}
	}
	s, err := NewCSVSchema(header, opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SetVectors(widths); err != nil {
		t.Fatal(err)
	}
	if err := s.SetImages(shapes); err != nil {
		t.Fatal(err)
	}
	return s
}

// mergeBlocks appends the rows of dense blocks of d features into one.
func mergeBlocks(d int, blocks []*rows.Block) *rows.Block {
	all := rows.NewDense(d, 0)
	for _, b := range blocks {
		for i := range b.Rows() {
			all.AppendRow(b, i)
		}
	}
	return all
}

// fuzzSink checks what a parser emits and rejects on fuzzed input: valid
// blocks of at most 3 rows (of features features, unless 0) without
// infinite values and with class labels below 10, and rejects with a
// reason at or after firstRecord.
type fuzzSink struct {
	t             *testing.T
	features      int
	firstRecord   int64
	got, rejected int64
}

func (s *fuzzSink) emit(b *rows.Block) error {
	if err := b.Validate(); err != nil || b.Rows() > 3 || (s.features > 0 && b.Features != s.features) {
		s.t.Fatalf("bad block: %v, %d rows", err, b.Rows())
	}
	for _, v := range b.DenseValues {
		if math.IsInf(float64(v), 0) {
			s.t.Fatalf("infinite feature in %v", b.DenseValues)
		}
	}
	for _, l := range b.Labels {
		if l < 0 || l >= 10 || l != float32(int(l)) {
			s.t.Fatalf("label %v", l)
		}
	}
	s.got += int64(b.Rows())
	return nil
}

func (s *fuzzSink) reject(r Reject) {
	if r.Reason == "" || r.Record < s.firstRecord {
		s.t.Fatalf("reject %+v", r)
	}
	s.rejected++
}

// check fails unless rowsRead counts every row emitted or rejected.
func (s *fuzzSink) check(rowsRead int64) {
	if s.got+s.rejected != rowsRead {
		s.t.Fatalf("rowsRead %d but %d rows + %d rejects", rowsRead, s.got, s.rejected)
	}
}
