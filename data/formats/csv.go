// This file holds the CSV reader: the header line, the category scan,
// ParseCSV and its field splitter. The schema they apply is in
// csv_schema.go.

package formats

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// ReadCSVHeader reads the header line from br and splits it with comma
// (0 means ','), dropping a UTF-8 byte-order mark. It returns the names and
// the header's length in bytes including its line end, which is where
// data starts (the start argument of ChunkLines). br is left at the first
// data line, ready for ParseCSV with firstLine 2.
func ReadCSVHeader(br *bufio.Reader, comma rune) (header []string, n int64, err error) {
	if comma == 0 {
		comma = ','
	}
	line, err := br.ReadBytes('\n')
	n = int64(len(line))
	if err != nil && !(errors.Is(err, io.EOF) && len(line) > 0) {
		if errors.Is(err, io.EOF) {
			return nil, 0, errors.New("empty file: no header line")
		}
		return nil, 0, err
	}
	line = trimEOL(line)
	line = []byte(strings.TrimPrefix(string(line), "\uFEFF"))
	var sp csvSplitter
	sp.comma = byte(comma)
	if reason := sp.split(line); reason != "" {
		return nil, 0, fmt.Errorf("header: %s", reason)
	}
	for _, f := range sp.fields {
		header = append(header, string(sp.text(line, f)))
	}
	return header, n, nil
}

// ScanCategories reads data lines (r positioned after the header) and
// counts the values of each categorical column of schema, keeping at most
// MaxOneHot+1 distinct values per column: enough to choose between one-hot
// and hashing. Missing values and lines ParseCSV would reject for their
// shape are not counted. It fails only on read errors.
func ScanCategories(r io.Reader, name string, schema *CSVSchema) (map[string]map[string]int64, error) {
	vocab := make(map[string]map[string]int64)
	var cats []int
	for i, c := range schema.Columns {
		if c.Kind == KindCategorical {
			cats = append(cats, i)
			vocab[c.Name] = make(map[string]int64)
		}
	}
	if len(cats) == 0 {
		return vocab, nil
	}
	missing := make(map[string]bool, len(schema.Options.MissingTokens))
	for _, t := range schema.Options.MissingTokens {
		missing[t] = true
	}
	sp := csvSplitter{comma: byte(schema.Options.Comma)}
	lr := newLineReader(r)
	for {
		line, err := lr.next()
		if err != nil {
			if err == io.EOF {
				return vocab, nil
			}
			return nil, fmt.Errorf("%s: line %d: %w", name, lr.lineNo, err)
		}
		if blank(line) || sp.split(line) != "" || len(sp.fields) != len(schema.Columns) {
			continue
		}
		for _, i := range cats {
			v := sp.text(line, sp.fields[i])
			if missing[string(v)] {
				continue
			}
			counts := vocab[schema.Columns[i].Name]
			if _, ok := counts[string(v)]; ok {
				counts[string(v)]++
			} else if len(counts) <= schema.Options.MaxOneHot {
				counts[string(v)] = 1
			}
		}
	}
}

// ParseCSV parses the data lines of a CSV file (r positioned after the
// header, or at a chunk start from ChunkLines; firstLine is the 1-based
// line number of r's first line) into dense blocks of schema.Features
// columns. Row IDs are rows.RecordID(name, line).
//
// Records are lines: fields may be quoted per RFC 4180 ("a,b", "say ""hi"""),
// but a quoted field holding a newline is rejected (and its continuation
// line will be rejected or parsed on its own), because files are split into
// chunks at line ends for parallel parsing. Spaces around unquoted fields
// are trimmed; blank lines are skipped; "\r\n" line ends are accepted.
// Rejected: a wrong number of columns, a value that is not a number, a NaN
// or infinite literal, a value beyond float32's range, an unknown category
// (one-hot) or label, a missing label, and a missing feature under
// MissingReject.
//
// rowsRead counts non-blank lines, rejected or not.
func ParseCSV(r io.Reader, name string, firstLine int64, schema *CSVSchema, blockRows int, emit Emit, reject func(Reject)) (rowsRead int64, err error) {
	if !schema.Ready {
		return 0, fmt.Errorf("%s: csv schema has categorical columns without a vocabulary (call SetVocab)", name)
	}
	p, err := newCSVParser(schema)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", name, err)
	}
	bw, err := newBlockWriter(name, false, schema.Features, blockRows, blockRows, emit)
	if err != nil {
		return 0, err
	}
	return bw.denseLines(r, firstLine, p.row, p.parse, reject)
}

// csvParser holds one ParseCSV call's lookup tables and scratch space.
type csvParser struct {
	s         *CSVSchema
	sp        csvSplitter
	label     *labelParser
	onehot    []map[string]int // per column: category -> position in Vocab
	missing   map[string]bool
	numTokens bool // a missing token looks like a number: check tokens first
	fill      float32
	row       []float32
	lab       float32 // the label of the row being parsed
	named     bool    // reasons name fields ("field \"x\": "), not columns
}

func newCSVParser(s *CSVSchema) (*csvParser, error) {
	lp, err := newLabelParser(s.Options.Task, s.Options.MaxClasses, s.Options.Classes, false)
	if err != nil {
		return nil, err
	}
	p := &csvParser{s: s, sp: csvSplitter{comma: byte(s.Options.Comma)}, label: lp,
		onehot: make([]map[string]int, len(s.Columns)), missing: make(map[string]bool), row: make([]float32, s.Features)}
	for i, c := range s.Columns {
		if c.Kind == KindCategorical && !c.Hashed {
			p.onehot[i] = make(map[string]int, len(c.Vocab))
			for k, v := range c.Vocab {
				p.onehot[i][v] = k
			}
		}
	}
	for _, t := range s.Options.MissingTokens {
		p.missing[t] = true
		if _, st := parseFloat32([]byte(t)); st != numSyntax {
			p.numTokens = true
		}
	}
	if s.Options.Missing == MissingMean {
		p.fill = nan32
	}
	return p, nil
}

// parse fills p.row from line and returns the label, or a reject reason.
func (p *csvParser) parse(line []byte) (float32, string) {
	if reason := p.sp.split(line); reason != "" {
		return 0, reason
	}
	if len(p.sp.fields) != len(p.s.Columns) {
		return 0, fmt.Sprintf("has %d columns, header has %d", len(p.sp.fields), len(p.s.Columns))
	}
	p.lab = 0
	for i := range p.s.Columns {
		c := &p.s.Columns[i]
		f := p.sp.fields[i]
		if c.Kind == KindNumeric && !f.quoted && !p.numTokens {
			if v, st := parseFloat32(line[f.lo:f.hi]); st == numOK {
				p.row[c.Offset] = v
				continue
			}
		}
		if c.Kind == KindIgnored {
			continue
		}
		if reason := p.setText(i, p.sp.text(line, f)); reason != "" {
			return 0, reason
		}
	}
	return p.lab, ""
}

// setText sets column i's features (or p.lab, for the label) from its text
// value b, a missing token meaning missing, and returns "" or a reject
// reason.
func (p *csvParser) setText(i int, b []byte) string {
	c := &p.s.Columns[i]
	if p.missing[string(b)] {
		return p.setMissing(i)
	}
	switch c.Kind {
	case KindNumeric:
		v, st := parseFloat32(b)
		if st != numOK {
			return p.where(i) + st.reason(b)
		}
		p.row[c.Offset] = v
	case KindCategorical:
		out := p.row[c.Offset : c.Offset+c.Width]
		clear(out)
		if c.Hashed {
			out[hashBucket(b, c.Width)] = 1
			return ""
		}
		k, ok := p.onehot[i][string(b)]
		if !ok {
			return p.where(i) + "category " + strconv.Quote(string(b)) + " not in the vocabulary"
		}
		out[k] = 1
	case KindLabel:
		l, reason := p.label.parse(b)
		if reason != "" {
			return p.where(i) + reason
		}
		p.lab = l
	case KindVector:
		return p.where(i) + "a single value where an array of " + strconv.Itoa(c.Width) + " is expected"
	case KindImage:
		return p.where(i) + "not an image"
	}
	return ""
}

// setMissing applies the missing-value policy to column i.
func (p *csvParser) setMissing(i int) string {
	c := &p.s.Columns[i]
	switch {
	case c.Kind == KindIgnored:
		return ""
	case c.Kind == KindLabel:
		return p.where(i) + "missing label"
	case c.Kind == KindImage:
		return p.where(i) + "missing image"
	case p.s.Options.Missing == MissingReject:
		return p.where(i) + "missing value"
	}
	out := p.row[c.Offset : c.Offset+c.Width]
	for k := range out {
		out[k] = p.fill
	}
	return ""
}

// where prefixes a reason with the 1-based column number and name, or for
// the record formats with the field's name.
func (p *csvParser) where(i int) string {
	if p.named {
		return fmt.Sprintf("field %q: ", p.s.Columns[i].Name)
	}
	return fmt.Sprintf("column %d (%q): ", i+1, p.s.Columns[i].Name)
}

// hashBucket is FNV-1a (32 bit) of b modulo n.
func hashBucket(b []byte, n int) int {
	h := uint32(2166136261)
	for _, c := range b {
		h ^= uint32(c)
		h *= 16777619
	}
	return int(h % uint32(n))
}

// csvField is a field's span in its line; quoted spans exclude the quotes
// and escaped ones still hold doubled quotes.
type csvField struct {
	lo, hi  int
	quoted  bool
	escaped bool // holds "" pairs to collapse
}

// csvSplitter splits lines into fields without allocating per line.
type csvSplitter struct {
	comma   byte
	fields  []csvField
	scratch []byte
}

// split finds the fields of line and returns "" or a reject reason.
func (sp *csvSplitter) split(line []byte) string {
	sp.fields = sp.fields[:0]
	comma := sp.comma
	i := 0
	for {
		// Skip leading spaces (not the separator itself).
		for i < len(line) && (line[i] == ' ' || line[i] == '\t') && line[i] != comma {
			i++
		}
		if i < len(line) && line[i] == '"' {
			f := csvField{lo: i + 1, quoted: true}
			j := i + 1
			for {
				if j >= len(line) {
					return fmt.Sprintf("field %d: unterminated quote (a quoted field cannot span lines)", len(sp.fields)+1)
				}
				if line[j] == '"' {
					if j+1 < len(line) && line[j+1] == '"' {
						f.escaped = true
						j += 2
						continue
					}
					break
				}
				j++
			}
			f.hi = j
			j++
			for j < len(line) && (line[j] == ' ' || line[j] == '\t') && line[j] != comma {
				j++
			}
			sp.fields = append(sp.fields, f)
			if j == len(line) {
				return ""
			}
			if line[j] != comma {
				return fmt.Sprintf("field %d: text after the closing quote", len(sp.fields))
			}
			i = j + 1
			continue
		}
		j := i
		for j < len(line) && line[j] != comma {
			if line[j] == '"' {
				return fmt.Sprintf("field %d: quote inside an unquoted field", len(sp.fields)+1)
			}
			j++
		}
		hi := j
		for hi > i && (line[hi-1] == ' ' || line[hi-1] == '\t') && line[hi-1] != comma {
			hi--
		}
		sp.fields = append(sp.fields, csvField{lo: i, hi: hi})
		if j == len(line) {
			return ""
		}
		i = j + 1
	}
}

// text returns field f's value with doubled quotes collapsed; the result
// may alias sp's scratch space until the next call.
func (sp *csvSplitter) text(line []byte, f csvField) []byte {
	b := line[f.lo:f.hi]
	if !f.escaped {
		return b
	}
	sp.scratch = sp.scratch[:0]
	for k := 0; k < len(b); k++ {
		sp.scratch = append(sp.scratch, b[k])
		if b[k] == '"' {
			k++ // skip the second quote of the pair
		}
	}
	return sp.scratch
}
