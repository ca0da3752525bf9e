// This file holds the CSV schema: the column kinds, the options, and how
// a header and the categories seen become a feature layout (CSVSchema,
// NewCSVSchema, SetVocab). Reading and parsing the lines is in csv.go.

package formats

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Column kinds of a CSVSchema.
const (
	KindNumeric     = "numeric"     // one feature, the number
	KindCategorical = "categorical" // one-hot over Vocab, or HashBuckets hashed features
	KindLabel       = "label"       // the label; no feature
	KindIgnored     = "ignored"     // dropped
	KindVector      = "vector"      // Width features from an array (JSON Lines, TFRecord, Parquet lists)
	KindImage       = "image"       // a PNG or JPEG image of Shape (H, W, C): H×W×C pixel features 0..255
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
	Shape  []int    `json:",omitempty"` // KindImage: height, width, channels (1 gray or 3 RGB)
	Raw    bool     `json:",omitempty"` // KindImage: the bytes are the pixels (H×W×C uint8), not a PNG or JPEG
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
	// Sparse rows (CSR blocks) come from a schema whose one feature column
	// is a sparse vector (Parquet's Spark ML vectors).
	Sparse bool `json:",omitempty"`
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
		case KindVector, KindImage:
			// Width is fixed by SetVectors or SetImages.
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

// SetVectors makes the named numeric columns vectors of the given widths
// (array fields of the record formats: a row's array must have exactly
// that many values) and lays the features out again.
func (s *CSVSchema) SetVectors(widths map[string]int) error {
	for name, w := range widths {
		i, err := s.column(name)
		if err != nil {
			return err
		}
		c := &s.Columns[i]
		if c.Kind != KindNumeric && c.Kind != KindVector {
			return fmt.Errorf("column %q is %s and cannot hold an array", c.Name, c.Kind)
		}
		if w < 1 || w > 1<<24 {
			return fmt.Errorf("column %q: array of %d values (want 1..%d)", c.Name, w, 1<<24)
		}
		c.Kind, c.Width = KindVector, w
	}
	s.layout()
	return nil
}

// SetImages makes the named columns images of the given shapes (height,
// width, channels: 1 for gray, 3 for RGB) and lays the features out again.
func (s *CSVSchema) SetImages(shapes map[string][]int) error {
	for name, sh := range shapes {
		i, err := s.column(name)
		if err != nil {
			return err
		}
		c := &s.Columns[i]
		if c.Kind != KindNumeric && c.Kind != KindImage {
			return fmt.Errorf("column %q is %s and cannot hold an image", c.Name, c.Kind)
		}
		if len(sh) != 3 || sh[0] < 1 || sh[1] < 1 || (sh[2] != 1 && sh[2] != 3) || sh[0]*sh[1]*sh[2] > maxImageFeatures {
			return fmt.Errorf("column %q: image shape %v (want height, width ≥ 1, channels 1 or 3, at most %d values)", c.Name, sh, maxImageFeatures)
		}
		c.Kind, c.Width, c.Shape = KindImage, sh[0]*sh[1]*sh[2], slices.Clone(sh)
	}
	s.layout()
	return nil
}

// SetRawImage makes the named column an image of the given shape whose
// values are its raw pixels: height×width×channels bytes, row-major,
// channels last (any channel count).
func (s *CSVSchema) SetRawImage(name string, shape []int) error {
	i, err := s.column(name)
	if err != nil {
		return err
	}
	c := &s.Columns[i]
	if c.Kind != KindNumeric && c.Kind != KindImage {
		return fmt.Errorf("column %q is %s and cannot hold an image", c.Name, c.Kind)
	}
	n := 1
	for _, d := range shape {
		if d < 1 || d > maxImageFeatures {
			n = 0
			break
		}
		n *= d
		if n > maxImageFeatures {
			break
		}
	}
	if len(shape) != 3 || n < 1 || n > maxImageFeatures {
		return fmt.Errorf("column %q: image shape %v (want height, width, channels ≥ 1, at most %d values)", c.Name, shape, maxImageFeatures)
	}
	c.Kind, c.Width, c.Shape, c.Raw = KindImage, n, slices.Clone(shape), true
	s.layout()
	return nil
}

// maxImageFeatures bounds an image column's pixels × channels.
const maxImageFeatures = 1 << 24

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
		case c.Kind == KindVector || c.Kind == KindImage:
			for k := 0; k < c.Width; k++ {
				names = append(names, c.Name+"["+strconv.Itoa(k)+"]")
			}
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
