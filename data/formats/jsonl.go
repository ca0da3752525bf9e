// This file holds the JSON Lines reader: one JSON object per line, its
// fields mapped to features and a label by a CSVSchema whose columns are
// the field names (ScanJSONLFields finds them), array fields becoming
// vector columns.

package formats

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
)

// ScanJSONLFields reads lines of a JSON Lines stream (at most maxLines
// non-blank ones, 0 for all) and returns the fields of its objects in the
// order they first appear, with the width of each array field (taken from
// the first non-null array seen). Lines that are not JSON objects are
// skipped here (ParseJSONL rejects them); it fails on a read error or when
// no line holds an object.
func ScanJSONLFields(r io.Reader, name string, maxLines int) ([]RecordField, error) {
	var fields []RecordField
	index := map[string]int{}
	lr := newLineReader(r)
	var sc jsonScanner
	seen := 0
	for maxLines <= 0 || seen < maxLines {
		line, err := lr.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s: line %d: %w", name, lr.lineNo, err)
		}
		if blank(line) {
			continue
		}
		seen++
		var got []RecordField
		bad := sc.object(line, func(key []byte, v jsonValue) string {
			w := 0
			if v.kind == jsonArray {
				w = v.n
			}
			got = append(got, RecordField{Name: string(key), Width: w})
			return ""
		})
		if bad != "" {
			continue
		}
		for _, f := range got {
			i, ok := index[f.Name]
			if !ok {
				index[f.Name] = len(fields)
				fields = append(fields, f)
			} else if fields[i].Width == 0 {
				fields[i].Width = f.Width
			}
		}
	}
	if len(fields) == 0 {
		return nil, fmt.Errorf("%s: no JSON object with fields in the first %d non-blank lines", name, seen)
	}
	return fields, nil
}

// ScanJSONLCategories counts the values of each categorical column of
// schema as ScanCategories does for CSV: strings, numbers and booleans as
// their text; nulls, missing tokens and lines that are not objects are not
// counted. It fails only on read errors.
func ScanJSONLCategories(r io.Reader, name string, schema *CSVSchema) (map[string]map[string]int64, error) {
	cc := newCategoryCounter(schema)
	if len(cc.vocab) == 0 {
		return cc.vocab, nil
	}
	lr := newLineReader(r)
	var sc jsonScanner
	for {
		line, err := lr.next()
		if err == io.EOF {
			return cc.vocab, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s: line %d: %w", name, lr.lineNo, err)
		}
		if blank(line) {
			continue
		}
		sc.object(line, func(key []byte, v jsonValue) string {
			if !cc.wants(string(key)) || (v.kind != jsonString && v.kind != jsonNumber && v.kind != jsonBool) {
				return ""
			}
			if t, bad := sc.text(v); bad == "" {
				cc.add(string(key), t)
			}
			return ""
		})
	}
}

// ParseJSONL parses the lines of a JSON Lines file (r positioned at the
// start, or at a chunk start from ChunkLines; firstLine is the 1-based
// number of r's first line) into dense blocks of schema.Features columns.
// Row IDs are rows.RecordID(name, line).
//
// Each non-blank line must be one JSON object. A field that is a column of
// the schema gives that column's value: a number, a string (parsed as CSV
// text is: a number for a numeric column, a category, a label or class
// name), true/false (1/0 in a numeric column), null or absent (missing,
// under the schema's Missing policy), or for a vector column an array of
// exactly Width numbers (null elements are missing). Fields the schema
// does not name are ignored. Rejected: a line that is not a JSON object,
// a field given twice, a nested object, an array where a single value is
// expected or the reverse, an array of the wrong length, and whatever CSV
// rejects for the value's text.
//
// rowsRead counts non-blank lines, rejected or not.
func ParseJSONL(r io.Reader, name string, firstLine int64, schema *CSVSchema, blockRows int, emit Emit, reject func(Reject)) (rowsRead int64, err error) {
	p, bw, err := startRecords(name, schema, false, blockRows, emit)
	if err != nil {
		return 0, err
	}
	var sc jsonScanner
	field := func(key []byte, v jsonValue) string {
		i, ok := p.cols[string(key)]
		if !ok {
			return ""
		}
		if p.set[i] {
			return fmt.Sprintf("field %q given twice", key)
		}
		p.set[i] = true
		return p.setJSON(&sc, i, v)
	}
	return bw.denseLines(r, firstLine, p.row, func(line []byte) (float32, string) {
		p.begin()
		reason := sc.object(line, field)
		if reason == "" {
			reason = p.end()
		}
		return p.lab, reason
	}, reject)
}

// setJSON sets column i from a JSON value.
func (p *recordParser) setJSON(sc *jsonScanner, i int, v jsonValue) string {
	c := &p.s.Columns[i]
	switch v.kind {
	case jsonNull:
		return p.setMissing(i)
	case jsonObject:
		return p.where(i) + "a nested object"
	case jsonArray:
		if c.Kind != KindVector {
			return p.where(i) + "an array where a single value is expected"
		}
		if v.n != c.Width {
			return p.where(i) + fmt.Sprintf("array of %d values, want %d", v.n, c.Width)
		}
		out := p.row[c.Offset : c.Offset+c.Width]
		k := -1
		return sc.array(v, func(e jsonValue) string {
			k++
			switch e.kind {
			case jsonNull:
				if reason := p.missingElement(i); reason != "" {
					return reason
				}
				out[k] = p.fill
				return ""
			case jsonNumber:
				b := sc.raw(e)
				f, st := parseFloat32(b)
				if st != numOK {
					return p.where(i) + fmt.Sprintf("element %d: ", k) + st.reason(b)
				}
				out[k] = f
				return ""
			}
			return p.where(i) + fmt.Sprintf("element %d: not a number", k)
		})
	case jsonBool:
		if c.Kind == KindNumeric {
			p.row[c.Offset] = 0
			if sc.raw(v)[0] == 't' {
				p.row[c.Offset] = 1
			}
			return ""
		}
	}
	t, bad := sc.text(v)
	if bad != "" {
		return p.where(i) + bad
	}
	return p.setText(i, t)
}

// JSON scanning: a small validating scanner over one line, which yields
// the top-level fields of an object without building maps.

type jsonKind uint8

const (
	jsonNull jsonKind = iota
	jsonBool
	jsonNumber
	jsonString
	jsonArray
	jsonObject
)

// jsonValue is a value's span in the line: for a string the text between
// the quotes; for an array its elements' count in n.
type jsonValue struct {
	kind    jsonKind
	lo, hi  int
	escaped bool // a string holding escapes
	n       int  // array: number of elements
}

// maxJSONDepth bounds nesting, which costs the scanner time per level.
const maxJSONDepth = 32

type jsonScanner struct {
	b       []byte
	scratch []byte
}

func (sc *jsonScanner) raw(v jsonValue) []byte { return sc.b[v.lo:v.hi] }

// text returns a scalar's text: a string's decoded content, a number's or
// boolean's literal.
func (sc *jsonScanner) text(v jsonValue) ([]byte, string) {
	if v.kind != jsonString || !v.escaped {
		return sc.b[v.lo:v.hi], ""
	}
	var s string
	if err := json.Unmarshal(sc.b[v.lo-1:v.hi+1], &s); err != nil {
		return nil, "bad string: " + err.Error()
	}
	sc.scratch = append(sc.scratch[:0], s...)
	return sc.scratch, ""
}

// object scans line as one JSON object and calls field for each member in
// order; it returns the first non-empty reason (from field or the syntax).
func (sc *jsonScanner) object(line []byte, field func(key []byte, v jsonValue) string) string {
	line = bytes.TrimPrefix(line, []byte("\uFEFF")) // a byte-order mark, at the start of a file
	sc.b = line
	i := skipSpace(line, 0)
	if i >= len(line) || line[i] != '{' {
		return "not a JSON object"
	}
	i = skipSpace(line, i+1)
	if i < len(line) && line[i] == '}' {
		i++
	} else {
		for {
			if i >= len(line) || line[i] != '"' {
				return fmt.Sprintf("invalid JSON at byte %d: want a field name", i+1)
			}
			k, next, reason := sc.value(i)
			if reason != "" {
				return reason
			}
			key, _ := sc.text(k) // may alias scratch: field must use it before any text call
			i = skipSpace(line, next)
			if i >= len(line) || line[i] != ':' {
				return fmt.Sprintf("invalid JSON at byte %d: want ':'", i+1)
			}
			v, next, reason := sc.value(skipSpace(line, i+1))
			if reason != "" {
				return reason
			}
			if reason := field(key, v); reason != "" {
				return reason
			}
			i = skipSpace(line, next)
			if i < len(line) && line[i] == ',' {
				i = skipSpace(line, i+1)
				continue
			}
			if i < len(line) && line[i] == '}' {
				i++
				break
			}
			return fmt.Sprintf("invalid JSON at byte %d: want ',' or '}'", i+1)
		}
	}
	if i = skipSpace(line, i); i != len(line) {
		return fmt.Sprintf("invalid JSON at byte %d: text after the object", i+1)
	}
	return ""
}

// array calls elem for each element of array v.
func (sc *jsonScanner) array(v jsonValue, elem func(jsonValue) string) string {
	i := skipSpace(sc.b, v.lo+1)
	if sc.b[i] == ']' {
		return ""
	}
	for {
		e, next, _ := sc.value(i) // the array was validated by value
		if reason := elem(e); reason != "" {
			return reason
		}
		i = skipSpace(sc.b, next)
		if sc.b[i] == ']' {
			return ""
		}
		i = skipSpace(sc.b, i+1) // ','
	}
}

// value scans the value starting at b[i] and returns it and the index just
// after it, or a reason.
func (sc *jsonScanner) value(i int) (jsonValue, int, string) {
	b := sc.b
	if i >= len(b) {
		return jsonValue{}, i, "invalid JSON: unexpected end of line"
	}
	switch c := b[i]; {
	case c == '"':
		v := jsonValue{kind: jsonString, lo: i + 1}
		for j := i + 1; j < len(b); j++ {
			switch {
			case b[j] == '\\':
				v.escaped = true
				j++
			case b[j] == '"':
				v.hi = j
				return v, j + 1, ""
			case b[j] < 0x20:
				return v, j, fmt.Sprintf("invalid JSON at byte %d: control character in a string", j+1)
			}
		}
		return v, len(b), "invalid JSON: unterminated string"
	case c == '-' || (c >= '0' && c <= '9'):
		j := i + 1
		for j < len(b) && (b[j] >= '0' && b[j] <= '9' || b[j] == '.' || b[j] == 'e' || b[j] == 'E' || b[j] == '+' || b[j] == '-') {
			j++
		}
		return jsonValue{kind: jsonNumber, lo: i, hi: j}, j, ""
	case c == 't' || c == 'f' || c == 'n':
		for _, lit := range []string{"true", "false", "null"} {
			if len(b)-i >= len(lit) && string(b[i:i+len(lit)]) == lit {
				k := jsonBool
				if lit == "null" {
					k = jsonNull
				}
				return jsonValue{kind: k, lo: i, hi: i + len(lit)}, i + len(lit), ""
			}
		}
	case c == '[' || c == '{':
		// Find the matching bracket, counting the top level's elements.
		v := jsonValue{kind: jsonArray, lo: i}
		if c == '{' {
			v.kind = jsonObject
		}
		depth := 0
		empty := true
		for j := i; j < len(b); j++ {
			switch b[j] {
			case '"':
				s, next, reason := sc.value(j)
				if reason != "" {
					return s, next, reason
				}
				j = next - 1
				empty = false
			case '[', '{':
				depth++
				if depth > 1 {
					empty = false
				}
				if depth > maxJSONDepth {
					return v, j, fmt.Sprintf("invalid JSON at byte %d: nested deeper than %d", j+1, maxJSONDepth)
				}
			case ']', '}':
				depth--
				if depth == 0 {
					if (b[j] == ']') != (c == '[') {
						return v, j, fmt.Sprintf("invalid JSON at byte %d: mismatched bracket", j+1)
					}
					if !empty {
						v.n++
					}
					v.hi = j + 1
					if reason := sc.check(v); reason != "" {
						return v, j, reason
					}
					return v, j + 1, ""
				}
			case ',':
				if depth == 1 {
					v.n++
				}
			case ' ', '\t', '\r', '\n':
			default:
				empty = false
			}
		}
		return v, len(b), "invalid JSON: unterminated array or object"
	}
	return jsonValue{}, i, fmt.Sprintf("invalid JSON at byte %d: unexpected %q", i+1, b[i])
}

// check validates the syntax of a top-level array (its elements being
// scalars or nested values); nested objects are only bracket-matched, as
// they are rejected anyway.
func (sc *jsonScanner) check(v jsonValue) string {
	if v.kind != jsonArray {
		return ""
	}
	b := sc.b
	i := skipSpace(b, v.lo+1)
	if b[i] == ']' {
		return ""
	}
	for {
		_, next, reason := sc.value(i)
		if reason != "" {
			return reason
		}
		i = skipSpace(b, next)
		if i < v.hi && b[i] == ']' && i == v.hi-1 {
			return ""
		}
		if i >= v.hi-1 || b[i] != ',' {
			return fmt.Sprintf("invalid JSON at byte %d: want ',' or ']'", i+1)
		}
		i = skipSpace(b, i+1)
	}
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\r' || b[i] == '\n') {
		i++
	}
	return i
}
