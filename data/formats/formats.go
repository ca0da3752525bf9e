package formats

import (
	"fmt"
	"io"
	"strconv"

	"github.com/lightbeam-ml/lightbeam/data/rows"
)

// Reject is an input record the parser refused.
type Reject struct {
	File   string // the source's name as given to the parser
	Record int64  // 1-based line number (CSV, LIBSVM, JSON Lines) or 0-based record index (IDX, TFRecord)
	Reason string // short and specific, e.g. `column 3 ("age"): not a number: "abc"`
}

// String formats r as "file:record: reason".
func (r Reject) String() string { return fmt.Sprintf("%s:%d: %s", r.File, r.Record, r.Reason) }

// Emit receives each full block (blockRows rows, the last one shorter). The
// block belongs to the callee: the parser never touches it again. A returned
// error aborts the parse.
type Emit func(*rows.Block) error

// Tasks a label can serve.
const (
	Classification = "classification" // labels are class indices 0..MaxClasses-1
	Regression     = "regression"     // labels are any finite number
)

// DefaultMaxClasses bounds class labels when no class vocabulary is given.
const DefaultMaxClasses = 1000

// blockWriter fills blocks of a fixed capacity and hands each full one to
// emit.
type blockWriter struct {
	name   string
	sparse bool
	d, n   int
	alloc  int // rows to allocate room for in a fresh block (≤ n)
	emit   Emit
	blk    *rows.Block
}

// newBlockWriter returns a writer of blocks of blockRows rows of d
// features; each block starts with room for min(alloc, blockRows) rows.
func newBlockWriter(name string, sparse bool, d, blockRows, alloc int, emit Emit) (*blockWriter, error) {
	if blockRows <= 0 {
		return nil, fmt.Errorf("%s: blockRows must be positive, got %d", name, blockRows)
	}
	if emit == nil {
		return nil, fmt.Errorf("%s: nil emit", name)
	}
	w := &blockWriter{name: name, sparse: sparse, d: d, n: blockRows, alloc: max(1, min(alloc, blockRows)), emit: emit}
	w.fresh()
	return w, nil
}

func (w *blockWriter) fresh() {
	if w.sparse {
		w.blk = rows.NewSparse(w.d, w.alloc)
	} else {
		w.blk = rows.NewDense(w.d, w.alloc)
	}
}

// full emits the current block if it holds blockRows rows.
func (w *blockWriter) full() error {
	if w.blk.Rows() < w.n {
		return nil
	}
	return w.flush()
}

// flush emits the current block if it holds any row.
func (w *blockWriter) flush() error {
	if w.blk.Rows() == 0 {
		return nil
	}
	b := w.blk
	w.fresh()
	if err := w.emit(b); err != nil {
		return fmt.Errorf("%s: emit: %w", w.name, err)
	}
	return nil
}

// denseLines reads r's lines (firstLine is the 1-based number of the
// first) and adds a dense row to w for each non-blank one that parse
// accepts: parse fills row and returns the line's label, or why it rejects
// the line. Row IDs are rows.RecordID(w.name, line). rowsRead counts
// non-blank lines, rejected or not.
func (w *blockWriter) denseLines(r io.Reader, firstLine int64, row []float32, parse func(line []byte) (label float32, reason string), reject func(Reject)) (rowsRead int64, err error) {
	lr := newLineReader(r)
	lr.lineNo = firstLine - 1
	for {
		line, err := lr.next()
		if err != nil {
			if err == io.EOF {
				return rowsRead, w.flush()
			}
			return rowsRead, fmt.Errorf("%s: line %d: %w", w.name, lr.lineNo, err)
		}
		if blank(line) {
			continue
		}
		rowsRead++
		label, reason := parse(line)
		if reason != "" {
			if reject != nil {
				reject(Reject{File: w.name, Record: lr.lineNo, Reason: reason})
			}
			continue
		}
		w.blk.AppendDense(rows.RecordID(w.name, lr.lineNo), label, row)
		if err := w.full(); err != nil {
			return rowsRead, err
		}
	}
}

// labelParser turns a label field into a float32 label or a reject reason.
type labelParser struct {
	regression bool
	maxClasses int
	classes    map[string]int // class name -> index, when a vocabulary is given
	binary     bool           // LIBSVM: -1 -> 0, +1 -> 1
}

func newLabelParser(task string, maxClasses int, classes []string, binary bool) (*labelParser, error) {
	p := &labelParser{maxClasses: maxClasses, binary: binary}
	switch task {
	case "", Classification:
	case Regression:
		p.regression = true
		if len(classes) > 0 || binary {
			return nil, fmt.Errorf("a regression task takes no class vocabulary or binary labels")
		}
	default:
		return nil, fmt.Errorf("unknown task %q (want %q or %q)", task, Classification, Regression)
	}
	if p.maxClasses == 0 {
		p.maxClasses = DefaultMaxClasses
	}
	if p.maxClasses < 0 {
		return nil, fmt.Errorf("MaxClasses must be positive, got %d", maxClasses)
	}
	if binary {
		p.maxClasses = 2
	}
	if len(classes) > 0 {
		p.classes = make(map[string]int, len(classes))
		for i, c := range classes {
			if _, dup := p.classes[c]; dup {
				return nil, fmt.Errorf("class %q listed twice", c)
			}
			p.classes[c] = i
		}
	}
	return p, nil
}

// parse returns the label of field b, or a non-empty reject reason.
func (p *labelParser) parse(b []byte) (float32, string) {
	if p.classes != nil {
		if c, ok := p.classes[string(b)]; ok {
			return float32(c), ""
		}
		return 0, "unknown label " + strconv.Quote(string(b))
	}
	v, st := parseFloat32(b)
	if st != numOK {
		return 0, "label: " + st.reason(b)
	}
	if p.regression {
		return v, ""
	}
	if p.binary && v == -1 {
		return 0, ""
	}
	if v < 0 || v >= float32(p.maxClasses) || v != float32(int32(v)) {
		if p.binary {
			return 0, "label " + strconv.Quote(string(b)) + " is not binary (-1, 0, +1)"
		}
		return 0, fmt.Sprintf("label %q is not a class in 0..%d", b, p.maxClasses-1)
	}
	return v, ""
}
