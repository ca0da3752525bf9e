// This file holds what the record formats (JSON Lines, TFRecord, Parquet)
// share: the fields planning finds, and the parser that fills a row of a
// CSVSchema from fields given by name in any order.

package formats

import (
	"fmt"
	"strconv"
)

// RecordField is a field of the records of a record format (JSON Lines,
// TFRecord, Parquet), as found in the first records.
type RecordField struct {
	Name  string
	Width int   // 0 for a scalar, else the length of its array
	Shape []int // an image field: height, width, channels of its first image
	// Sparse: a vector field whose first value is sparse (a Spark ML
	// sparse vector), Width being its size.
	Sparse bool
}

// recordParser fills a row from named fields given in any order, absent
// ones being missing: the shared back end of the record formats.
type recordParser struct {
	*csvParser
	cols   map[string]int // field name -> column
	set    []bool         // columns given in the current record
	num    []byte         // scratch for a typed value's text
	floats []float32      // scratch for converted values
	spIdx  []int32        // the row's non-zeros, for a Sparse schema
	spVal  []float32
}

func newRecordParser(s *CSVSchema) (*recordParser, error) {
	cp, err := newCSVParser(s)
	if err != nil {
		return nil, err
	}
	cp.named = true
	p := &recordParser{csvParser: cp, cols: make(map[string]int, len(s.Columns)), set: make([]bool, len(s.Columns))}
	for i, c := range s.Columns {
		if c.Kind != KindIgnored {
			p.cols[c.Name] = i
		}
	}
	return p, nil
}

// startRecords checks that schema can parse records and returns their
// parser and a writer of blocks (sparse ones when sparse) for name.
func startRecords(name string, schema *CSVSchema, sparse bool, blockRows int, emit Emit) (*recordParser, *blockWriter, error) {
	if !schema.Ready {
		return nil, nil, fmt.Errorf("%s: schema has categorical columns without a vocabulary (call SetVocab)", name)
	}
	p, err := newRecordParser(schema)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", name, err)
	}
	bw, err := newBlockWriter(name, sparse, schema.Features, blockRows, blockRows, emit)
	if err != nil {
		return nil, nil, err
	}
	return p, bw, nil
}

// begin starts a record.
func (p *recordParser) begin() {
	clear(p.set)
	p.lab = 0
	p.spIdx, p.spVal = p.spIdx[:0], p.spVal[:0]
}

// end treats the columns the record did not give as missing.
func (p *recordParser) end() string {
	for i, c := range p.s.Columns {
		if !p.set[i] && c.Kind != KindIgnored {
			if reason := p.setMissing(i); reason != "" {
				return reason
			}
		}
	}
	return ""
}

// setBytes sets column i from a byte string: an image column's encoded
// image, else the value's text.
func (p *recordParser) setBytes(i int, b []byte) string {
	c := &p.s.Columns[i]
	if c.Kind != KindImage {
		return p.setText(i, b)
	}
	if c.Raw {
		if len(b) != c.Width {
			return p.where(i) + fmt.Sprintf("%d bytes of raw pixels, want %d (%v)", len(b), c.Width, c.Shape)
		}
		out := p.row[c.Offset : c.Offset+c.Width]
		for k, v := range b {
			out[k] = float32(v)
		}
		return ""
	}
	if reason := decodeImage(b, c.Shape, p.row[c.Offset:c.Offset+c.Width]); reason != "" {
		return p.where(i) + reason
	}
	return ""
}

// setFloats sets vector column i from vals (NaN is missing), or a single
// value for a numeric or label column.
func (p *recordParser) setFloats(i int, vals []float32) string {
	c := &p.s.Columns[i]
	if c.Kind != KindVector {
		if len(vals) != 1 {
			return p.where(i) + fmt.Sprintf("%d values where a single value is expected", len(vals))
		}
		return p.setFloat(i, vals[0])
	}
	if len(vals) != c.Width {
		return p.where(i) + fmt.Sprintf("%d values, want %d", len(vals), c.Width)
	}
	out := p.row[c.Offset : c.Offset+c.Width]
	for k, v := range vals {
		if v != v {
			if reason := p.missingElement(i); reason != "" {
				return reason
			}
			v = p.fill
		} else if math32IsInf(v) {
			return p.where(i) + fmt.Sprintf("element %d: infinite value", k)
		}
		out[k] = v
	}
	return ""
}

// setFloat sets a numeric or label column from a typed value.
func (p *recordParser) setFloat(i int, v float32) string {
	c := &p.s.Columns[i]
	switch {
	case v != v:
		return p.setMissing(i)
	case math32IsInf(v):
		return p.where(i) + "infinite value"
	}
	if c.Kind == KindNumeric {
		p.row[c.Offset] = v
		return ""
	}
	// A label, a category or a misplaced value: as its text.
	p.num = floatText(p.num[:0], v)
	return p.setText(i, p.num)
}

// missingElement applies the missing-value policy to one element of a
// vector column: "" lets the caller fill it.
func (p *recordParser) missingElement(i int) string {
	if p.s.Options.Missing == MissingReject {
		return p.where(i) + "missing value"
	}
	return ""
}

func math32IsInf(v float32) bool { return v > 3.4028235e38 || v < -3.4028235e38 }

// categoryCounter counts the values of a schema's categorical columns as
// ScanCategories does: at most MaxOneHot+1 distinct values per column,
// missing tokens not counted.
type categoryCounter struct {
	vocab   map[string]map[string]int64
	missing map[string]bool
	max     int
}

func newCategoryCounter(s *CSVSchema) *categoryCounter {
	cc := &categoryCounter{vocab: map[string]map[string]int64{}, missing: map[string]bool{}, max: s.Options.MaxOneHot}
	for _, c := range s.Columns {
		if c.Kind == KindCategorical {
			cc.vocab[c.Name] = map[string]int64{}
		}
	}
	for _, t := range s.Options.MissingTokens {
		cc.missing[t] = true
	}
	return cc
}

// wants reports whether col is a categorical column.
func (cc *categoryCounter) wants(col string) bool { _, ok := cc.vocab[col]; return ok }

// add counts value text of column col, if it is categorical.
func (cc *categoryCounter) add(col string, text []byte) {
	counts, ok := cc.vocab[col]
	if !ok || cc.missing[string(text)] {
		return
	}
	if _, ok := counts[string(text)]; ok {
		counts[string(text)]++
	} else if len(counts) <= cc.max {
		counts[string(text)] = 1
	}
}

// floatText is the text a typed float value stands for as a category or
// label: its shortest float32 form.
func floatText(dst []byte, v float32) []byte {
	return strconv.AppendFloat(dst, float64(v), 'g', -1, 32)
}
