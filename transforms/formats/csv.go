package formats

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/lightbeam-ml/lightbeam/transforms/rows"
)

// Column kinds of a CSVSchema.
const (
	KindNumeric     = "numeric"     // one feature, the number
	KindCategorical = "categorical" // one-hot over Vocab, or HashBuckets hashed features
	KindLabel       = "label"       // the label; no feature
	KindIgnored     = "ignored"     // dropped
)

// Missing-value policies.
const (
	MissingReject = "reject" // a record with a missing feature is rejected
	MissingZero   = "zero"   // a missing feature is 0 (all-zero for a categorical)
	MissingMean   = "mean"   // a missing feature is NaN, which the scale step imputes with the training mean
)

// CSVOptions configure how CSV columns become features and a label.
type CSVOptions struct {
	// Label is the label column: a header name, or else a 0-based index.
	// Optional. Defaults to the column named "label" (any case), else the
	// last column.
	Label string
	// Categorical lists the categorical columns (names or 0-based indices).
	// Optional.
	Categorical []string
	// Ignore lists columns to drop (names or 0-based indices). Optional.
	Ignore []string
	// MaxOneHot is the largest vocabulary one-hot encoded; a column with
	// more distinct values is hashed into HashBuckets features.
	// Optional. Defaults to 32.
	MaxOneHot int
	// HashBuckets is the width of a hashed categorical column.
	// Optional. Defaults to 16.
	HashBuckets int
	// Missing is MissingReject, MissingZero or MissingMean.
	// Optional. Defaults to MissingReject. A missing label is always rejected.
	Missing string
	// MissingTokens are the field values that mean "missing" (compared after
	// trimming spaces). Optional. Defaults to "", "NA", "N/A", "null", "?".
	// "NaN" is not missing: a NaN literal is rejected.
	MissingTokens []string
	// Classes is the label vocabulary: a label must be one of them and
	// becomes its index. Optional; without it a classification label must
	// be an integer in 0..MaxClasses-1.
	Classes []string
	// Task is Classification or Regression (any finite label).
	// Optional. Defaults to Classification.
	Task string
	// MaxClasses bounds numeric class labels. Optional. Defaults to 1000.
	MaxClasses int
	// Comma is the field separator, an ASCII character other than '"',
	// '\r', '\n'. Optional. Defaults to ','.
	Comma rune
}

// CSVColumn is the layout of one input column.
type CSVColumn struct {
	Name   string   // header name
	Kind   string   // KindNumeric, KindCategorical, KindLabel or KindIgnored
	Offset int      // index of the column's first feature
	Width  int      // features it produces: 1, len(Vocab), HashBuckets or 0
	Vocab  []string `json:",omitempty"` // one-hot categories in feature order (sorted)
	Hashed bool     `json:",omitempty"` // hashed rather than one-hot
}

// CSVSchema maps the columns of a CSV file with a header to a dense row of
// features and a label. Its fields are exported so that it serializes (as
// JSON) into pipeline configuration and the manifest; build it with
// NewCSVSchema and, when it has categorical columns, fix its layout with
// SetVocab before parsing. A finished schema is read-only and safe to share
// between goroutines.
type CSVSchema struct {
	Options  CSVOptions  // with defaults filled in
	Columns  []CSVColumn // one per header column
	Label    int         // index of the label column
	Features int         // row width; valid once Ready
	Ready    bool        // the layout is fixed (no categorical column, or SetVocab done)
}

// NewCSVSchema resolves opts against a header row.
func NewCSVSchema(header []string, opts CSVOptions) (*CSVSchema, error) {
	if len(header) == 0 {
		return nil, errors.New("csv: empty header")
	}
	if opts.MaxOneHot == 0 {
		opts.MaxOneHot = 32
	}
	if opts.HashBuckets == 0 {
		opts.HashBuckets = 16
	}
	if opts.MaxOneHot < 0 || opts.HashBuckets < 0 {
		return nil, fmt.Errorf("csv: MaxOneHot (%d) and HashBuckets (%d) must be positive", opts.MaxOneHot, opts.HashBuckets)
	}
	switch opts.Missing {
	case "":
		opts.Missing = MissingReject
	case MissingReject, MissingZero, MissingMean:
	default:
		return nil, fmt.Errorf("csv: unknown Missing policy %q (want %q, %q or %q)", opts.Missing, MissingReject, MissingZero, MissingMean)
	}
	if opts.MissingTokens == nil {
		opts.MissingTokens = []string{"", "NA", "N/A", "null", "?"}
	}
	if opts.Comma == 0 {
		opts.Comma = ','
	}
	if opts.Comma >= utf8.RuneSelf || opts.Comma == '"' || opts.Comma == '\r' || opts.Comma == '\n' {
		return nil, fmt.Errorf("csv: separator %q must be ASCII and not a quote or newline", opts.Comma)
	}
	if opts.Task == "" {
		opts.Task = Classification
	}
	if opts.MaxClasses == 0 {
		opts.MaxClasses = DefaultMaxClasses
	}
	if _, err := newLabelParser(opts.Task, opts.MaxClasses, opts.Classes, false); err != nil {
		return nil, fmt.Errorf("csv: %w", err)
	}

	s := &CSVSchema{Options: opts, Columns: make([]CSVColumn, len(header))}
	seen := make(map[string]bool, len(header))
	for i, h := range header {
		if seen[h] {
			return nil, fmt.Errorf("csv: header names column %q twice", h)
		}
		seen[h] = true
		s.Columns[i] = CSVColumn{Name: h, Kind: KindNumeric}
	}
	s.Label = -1
	if opts.Label != "" {
		i, err := s.column(opts.Label)
		if err != nil {
			return nil, fmt.Errorf("csv: label: %w", err)
		}
		s.Label = i
	} else {
		for i, h := range header {
			if strings.EqualFold(h, "label") {
				s.Label = i
			}
		}
		if s.Label < 0 {
			s.Label = len(header) - 1
		}
	}
	s.Columns[s.Label].Kind = KindLabel
	for _, group := range []struct {
		names []string
		kind  string
	}{{opts.Ignore, KindIgnored}, {opts.Categorical, KindCategorical}} {
		for _, c := range group.names {
			i, err := s.column(c)
			if err != nil {
				return nil, fmt.Errorf("csv: %s column: %w", group.kind, err)
			}
			if k := s.Columns[i].Kind; k != KindNumeric {
				return nil, fmt.Errorf("csv: column %q is both %s and %s", s.Columns[i].Name, k, group.kind)
			}
			s.Columns[i].Kind = group.kind
		}
	}
	s.layout()
	return s, nil
}

// column resolves a column given by name or, failing that, 0-based index.
func (s *CSVSchema) column(c string) (int, error) {
	for i, col := range s.Columns {
		if col.Name == c {
			return i, nil
		}
	}
	if i, err := strconv.Atoi(c); err == nil && i >= 0 && i < len(s.Columns) {
		return i, nil
	}
	return 0, fmt.Errorf("no column %q in the header (%d columns)", c, len(s.Columns))
}

// layout assigns feature offsets; the schema is Ready when every
// categorical column has its encoding.
func (s *CSVSchema) layout() {
	off := 0
	ready := true
	for i := range s.Columns {
		c := &s.Columns[i]
		c.Offset = off
		switch c.Kind {
		case KindNumeric:
			c.Width = 1
		case KindCategorical:
			if c.Hashed {
				c.Width = s.Options.HashBuckets
			} else {
				c.Width = len(c.Vocab)
				if c.Vocab == nil {
					ready = false
				}
			}
		default:
			c.Width = 0
		}
		off += c.Width
	}
	s.Features, s.Ready = off, ready
}

// SetVocab fixes the encoding of every categorical column from the
// distinct values seen (as ScanCategories returns them): one-hot over the
// sorted values when there are at most MaxOneHot of them, else hashed. A
// categorical column absent from vocab had no values: it gets no features.
func (s *CSVSchema) SetVocab(vocab map[string]map[string]int64) error {
	for i := range s.Columns {
		c := &s.Columns[i]
		if c.Kind != KindCategorical {
			continue
		}
		values := vocab[c.Name]
		c.Hashed = len(values) > s.Options.MaxOneHot
		c.Vocab = nil
		if !c.Hashed {
			c.Vocab = make([]string, 0, len(values))
			for v := range values {
				c.Vocab = append(c.Vocab, v)
			}
			sort.Strings(c.Vocab)
		}
	}
	s.layout()
	return nil
}

// FeatureNames returns the name of each feature: the column name for a
// numeric column, "col=value" for a one-hot one, "col#hashK" for bucket K
// of a hashed one. It returns nil until the schema is Ready.
func (s *CSVSchema) FeatureNames() []string {
	if !s.Ready {
		return nil
	}
	names := make([]string, 0, s.Features)
	for _, c := range s.Columns {
		switch {
		case c.Kind == KindNumeric:
			names = append(names, c.Name)
		case c.Kind == KindCategorical && c.Hashed:
			for k := 0; k < c.Width; k++ {
				names = append(names, c.Name+"#hash"+strconv.Itoa(k))
			}
		case c.Kind == KindCategorical:
			for _, v := range c.Vocab {
				names = append(names, c.Name+"="+v)
			}
		}
	}
	return names
}

// LabelName returns the label column's header name.
func (s *CSVSchema) LabelName() string { return s.Columns[s.Label].Name }

// MergeCategories adds the value counts of src into dst (as ScanCategories
// returns them, e.g. from two chunks of a file), keeping at most
// MaxOneHot+1 distinct values per column as ScanCategories does.
func (s *CSVSchema) MergeCategories(dst, src map[string]map[string]int64) {
	for col, values := range src {
		d := dst[col]
		if d == nil {
			d = make(map[string]int64, len(values))
			dst[col] = d
		}
		for v, n := range values {
			if _, ok := d[v]; ok || len(d) <= s.Options.MaxOneHot {
				d[v] += n
			}
		}
	}
}

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
		if blank(line) {
			continue
		}
		rowsRead++
		label, reason := p.parse(line)
		if reason != "" {
			if reject != nil {
				reject(Reject{File: name, Record: lr.lineNo, Reason: reason})
			}
			continue
		}
		bw.blk.AppendDense(rows.RecordID(name, lr.lineNo), label, p.row)
		if err := bw.full(); err != nil {
			return rowsRead, err
		}
	}
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
	var label float32
	for i := range p.s.Columns {
		c := &p.s.Columns[i]
		f := p.sp.fields[i]
		switch c.Kind {
		case KindNumeric:
			b := line[f.lo:f.hi]
			if !f.quoted && !p.numTokens {
				if v, st := parseFloat32(b); st == numOK {
					p.row[c.Offset] = v
					continue
				}
			}
			b = p.sp.text(line, f)
			if p.missing[string(b)] {
				if p.s.Options.Missing == MissingReject {
					return 0, p.where(i) + "missing value"
				}
				p.row[c.Offset] = p.fill
				continue
			}
			v, st := parseFloat32(b)
			if st != numOK {
				return 0, p.where(i) + st.reason(b)
			}
			p.row[c.Offset] = v
		case KindCategorical:
			b := p.sp.text(line, f)
			out := p.row[c.Offset : c.Offset+c.Width]
			if p.missing[string(b)] {
				if p.s.Options.Missing == MissingReject {
					return 0, p.where(i) + "missing value"
				}
				for k := range out {
					out[k] = p.fill
				}
				continue
			}
			clear(out)
			if c.Hashed {
				out[hashBucket(b, c.Width)] = 1
				continue
			}
			k, ok := p.onehot[i][string(b)]
			if !ok {
				return 0, p.where(i) + "category " + strconv.Quote(string(b)) + " not in the vocabulary"
			}
			out[k] = 1
		case KindLabel:
			b := p.sp.text(line, f)
			if p.missing[string(b)] {
				return 0, p.where(i) + "missing label"
			}
			l, reason := p.label.parse(b)
			if reason != "" {
				return 0, p.where(i) + reason
			}
			label = l
		}
	}
	return label, ""
}

// where prefixes a reason with the 1-based column number and name.
func (p *csvParser) where(i int) string {
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
