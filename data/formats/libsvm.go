package formats

import (
	"bytes"
	"fmt"
	"io"
	"math"
	"strconv"

	"github.com/lightbeam-ml/lightbeam/data/rows"
)

// LIBSVMOptions configure ParseLIBSVM.
type LIBSVMOptions struct {
	// Task is Classification or Regression. Optional. Defaults to Classification.
	Task string
	// MaxClasses bounds class labels (0..MaxClasses-1). Optional. Defaults to 1000.
	MaxClasses int
	// ZeroBased says feature indices start at 0. Optional. Defaults to
	// false: indices start at 1, as LIBSVM writes them, and become 0-based.
	ZeroBased bool
	// Binary takes the labels -1 and +1 (or 0 and 1) of a binary problem,
	// mapping -1 to class 0 and +1 to class 1; other labels are rejected.
	// Optional. Classification only.
	Binary bool
}

// ParseLIBSVM parses LIBSVM lines ("label idx:val idx:val ...") into sparse
// blocks of the given number of features. Row IDs are
// rows.RecordID(name, line) with line the 1-based line number; firstLine
// is the number of r's first line (1 for a whole file, Chunk.FirstLine for
// a chunk).
//
// Fields are separated by spaces or tabs; text from a '#' on is a comment;
// blank and comment-only lines are skipped; "qid:N" tokens (ranking data)
// are ignored. Rejected: a bad label (see LIBSVMOptions), an index that is
// not an integer, not positive (1-based) or negative (0-based), not
// greater than the previous one, or at or beyond features, a value that is
// not a number, NaN or infinite, and an element without ':'.
//
// rowsRead counts the non-blank, non-comment lines, rejected or not.
func ParseLIBSVM(r io.Reader, name string, firstLine int64, features int, opts LIBSVMOptions, blockRows int, emit Emit, reject func(Reject)) (rowsRead int64, err error) {
	if features <= 0 || features > math.MaxInt32 {
		return 0, fmt.Errorf("%s: features must be in 1..%d, got %d", name, math.MaxInt32, features)
	}
	lp, err := newLabelParser(opts.Task, opts.MaxClasses, nil, opts.Binary)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", name, err)
	}
	bw, err := newBlockWriter(name, true, features, blockRows, blockRows, emit)
	if err != nil {
		return 0, err
	}
	base := int64(1)
	if opts.ZeroBased {
		base = 0
	}
	var idx []int32
	var val []float32
	lr := newLineReader(r)
	lr.lineNo = firstLine - 1
	for {
		line, err := lr.next()
		if err != nil {
			if err == io.EOF {
				return rowsRead, bw.flush()
			}
			return rowsRead, fmt.Errorf("%s: line %d: %w", name, lr.lineNo, err)
		}
		if c := bytes.IndexByte(line, '#'); c >= 0 {
			line = line[:c]
		}
		if blank(line) {
			continue
		}
		rowsRead++
		idx, val = idx[:0], val[:0]
		label, reason := parseLIBSVMLine(line, lp, base, int64(features), &idx, &val)
		if reason != "" {
			if reject != nil {
				reject(Reject{File: name, Record: lr.lineNo, Reason: reason})
			}
			continue
		}
		bw.blk.AppendSparse(rows.RecordID(name, lr.lineNo), label, idx, val)
		if err := bw.full(); err != nil {
			return rowsRead, err
		}
	}
}

// parseLIBSVMLine parses one non-blank line into 0-based indices and
// values, returning the label or a reject reason.
func parseLIBSVMLine(line []byte, lp *labelParser, base, features int64, idx *[]int32, val *[]float32) (float32, string) {
	tok, rest := nextToken(line)
	label, reason := lp.parse(tok)
	if reason != "" {
		return 0, reason
	}
	prev := int64(-1)
	for {
		tok, rest = nextToken(rest)
		if tok == nil {
			return label, ""
		}
		colon := bytes.IndexByte(tok, ':')
		if colon < 0 {
			return 0, fmt.Sprintf("element %q has no ':'", tok)
		}
		is, vs := tok[:colon], tok[colon+1:]
		if string(is) == "qid" {
			continue
		}
		i, err := strconv.ParseInt(string(is), 10, 64)
		if err != nil || is[0] == '+' {
			return 0, fmt.Sprintf("index %q is not an integer", is)
		}
		if i < base {
			return 0, fmt.Sprintf("index %d < %d (indices are %d-based)", i, base, base)
		}
		j := i - base
		if j <= prev {
			return 0, fmt.Sprintf("index %d not increasing after %d", i, prev+base)
		}
		if j >= features {
			return 0, fmt.Sprintf("index %d beyond the %d features", i, features)
		}
		v, st := parseFloat32(vs)
		if st != numOK {
			return 0, fmt.Sprintf("index %d: %s", i, st.reason(vs))
		}
		*idx = append(*idx, int32(j))
		*val = append(*val, v)
		prev = j
	}
}

// nextToken splits the first space- or tab-separated token off b; tok is
// nil when b holds no more tokens.
func nextToken(b []byte) (tok, rest []byte) {
	i := 0
	for i < len(b) && (b[i] == ' ' || b[i] == '\t') {
		i++
	}
	if i == len(b) {
		return nil, nil
	}
	j := i
	for j < len(b) && b[j] != ' ' && b[j] != '\t' {
		j++
	}
	return b[i:j], b[j:]
}

// ScanLIBSVM returns the largest feature index written in r, as written
// (so features = maxIndex for 1-based files and maxIndex+1 for 0-based
// ones), for a first pass when the feature count is not given. Malformed
// elements are ignored here; ParseLIBSVM rejects their lines. It returns -1
// when r holds no index, and fails only on read errors.
func ScanLIBSVM(r io.Reader, name string) (maxIndex int, err error) {
	maxIndex = -1
	lr := newLineReader(r)
	for {
		line, err := lr.next()
		if err != nil {
			if err == io.EOF {
				return maxIndex, nil
			}
			return maxIndex, fmt.Errorf("%s: line %d: %w", name, lr.lineNo, err)
		}
		if c := bytes.IndexByte(line, '#'); c >= 0 {
			line = line[:c]
		}
		_, rest := nextToken(line)
		for {
			var tok []byte
			tok, rest = nextToken(rest)
			if tok == nil {
				break
			}
			colon := bytes.IndexByte(tok, ':')
			if colon <= 0 {
				continue
			}
			i, err := strconv.ParseInt(string(tok[:colon]), 10, 32)
			if err == nil && int(i) > maxIndex {
				maxIndex = int(i)
			}
		}
	}
}
