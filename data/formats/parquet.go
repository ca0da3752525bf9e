// This file holds the Parquet reader, on github.com/parquet-go/parquet-go:
// the layouts of the top-level fields (a number or string, a list of
// numbers, Spark ML's vector struct, Hugging Face's image struct), and a
// row-group parser that streams only the needed leaf columns.

package formats

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/encoding"
	"github.com/parquet-go/parquet-go/format"

	"github.com/lightbeam-ml/lightbeam/data/rows"
)

// Layouts of a Parquet top-level field.
const (
	ParquetScalar = "scalar" // a number, boolean or string leaf
	ParquetList   = "list"   // a list of numbers (LIST, or a repeated leaf)
	ParquetVector = "vector" // Spark ML's VectorUDT struct {type, size, indices, values}
	ParquetImage  = "image"  // Hugging Face's Image struct {bytes, path}
)

// OpenParquet opens a Parquet file from its footer (only the footer is
// read; no page index or bloom filter). The file reads r through a
// pageGuard: no page header reaches parquet-go unchecked. A footer whose
// column chunks lie outside the file or overlap is an error.
func OpenParquet(r io.ReaderAt, size int64) (f *parquet.File, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("corrupt parquet footer: panic: %v", p)
		}
	}()
	g := &pageGuard{r: r, size: size}
	f, err = parquet.OpenFile(g, size, parquet.SkipPageIndex(true), parquet.SkipBloomFilters(true), parquet.ReadBufferSize(1<<20))
	if err != nil {
		return nil, err
	}
	err = g.index(f.Metadata(), func(path []string) bool {
		leaf, ok := f.Schema().Lookup(path...)
		return !ok || leaf.MaxRepetitionLevel > 0
	})
	if err != nil {
		return nil, err
	}
	return f, nil
}

// parquetField is a top-level field of a Parquet file and the leaves it is
// read from.
type parquetField struct {
	name   string
	layout string
	leaf   *parquet.Column   // scalar, list: the value leaf; image: bytes
	leaves []*parquet.Column // vector: type, size, indices, values
}

// parquetFields returns the usable top-level fields of f by name; fields of
// another shape map to a reason, given only when one is asked for.
func parquetFields(f *parquet.File) (map[string]*parquetField, map[string]string) {
	fields := map[string]*parquetField{}
	unusable := map[string]string{}
	for _, c := range f.Root().Columns() {
		pf, reason := parquetLayout(c)
		if reason != "" {
			unusable[c.Name()] = reason
			continue
		}
		pf.name = c.Name()
		fields[c.Name()] = pf
	}
	return fields, unusable
}

func isNumber(k parquet.Kind) bool {
	switch k {
	case parquet.Boolean, parquet.Int32, parquet.Int64, parquet.Float, parquet.Double:
		return true
	}
	return false
}

func parquetLayout(c *parquet.Column) (*parquetField, string) {
	if c.Leaf() {
		k := c.Type().Kind()
		switch {
		case c.Repeated() && isNumber(k):
			return &parquetField{layout: ParquetList, leaf: c}, ""
		case c.Repeated():
			return nil, "a repeated " + k.String()
		case isNumber(k) || k == parquet.ByteArray:
			return &parquetField{layout: ParquetScalar, leaf: c}, ""
		}
		return nil, "a column of type " + c.Type().String()
	}
	// A list: group (LIST) { repeated group list { element } }, or the
	// legacy two-level form; one leaf of numbers at repetition level 1.
	if isList(c) || len(c.Columns()) == 1 && c.Columns()[0].Repeated() {
		leaf := c
		for !leaf.Leaf() && len(leaf.Columns()) == 1 {
			leaf = leaf.Columns()[0]
		}
		if leaf.Leaf() && leaf.MaxRepetitionLevel() == 1 && isNumber(leaf.Type().Kind()) {
			return &parquetField{layout: ParquetList, leaf: leaf}, ""
		}
		return nil, "a list of other than numbers"
	}
	child := func(name string) *parquet.Column { return c.Column(name) }
	if b := child("bytes"); b != nil && b.Leaf() && b.Type().Kind() == parquet.ByteArray && len(c.Columns()) <= 2 {
		return &parquetField{layout: ParquetImage, leaf: b}, ""
	}
	t, size, ind, val := child("type"), child("size"), child("indices"), child("values")
	if t != nil && size != nil && ind != nil && val != nil && len(c.Columns()) == 4 {
		leaves := []*parquet.Column{t, size, innerLeaf(ind), innerLeaf(val)}
		if leaves[2] != nil && leaves[3] != nil {
			return &parquetField{layout: ParquetVector, leaves: leaves}, ""
		}
	}
	return nil, "a struct that is neither an image {bytes, path} nor a Spark ML vector {type, size, indices, values}"
}

func isList(c *parquet.Column) bool {
	lt := c.Type().LogicalType()
	if lt == nil {
		return false
	}
	_, ok := lt.Value.(*format.ListType)
	return ok
}

// innerLeaf returns the single leaf under a list group, or nil.
func innerLeaf(c *parquet.Column) *parquet.Column {
	for !c.Leaf() {
		if len(c.Columns()) != 1 {
			return nil
		}
		c = c.Columns()[0]
	}
	return c
}

// ParquetFile is what planning learns of one Parquet file from its footer.
type ParquetFile struct {
	Rows      int64
	RowGroups []ParquetRowGroup
	Fields    []RecordField // usable top-level fields, in schema order; list and image shapes from the first row
	Unusable  map[string]string
	// ClassNames are the label's class names from Hugging Face's metadata
	// (the "huggingface" key-value pair, a ClassLabel feature named label),
	// when present.
	ClassNames []string
}

// ParquetRowGroup is one row group's place in its file.
type ParquetRowGroup struct {
	FirstRow, Rows int64
	Offset, Bytes  int64 // where its column chunks start, and their compressed size
}

// ScanParquet describes the Parquet file f: its row groups, and its fields
// with the widths of list and vector fields and the shapes of image
// fields, read from the first row of the first row group (the only data
// planning reads). label names the label field (for its class names).
func ScanParquet(f *parquet.File, name, label string) (pf *ParquetFile, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%s: corrupt parquet file: panic: %v", name, p)
		}
	}()
	pf = &ParquetFile{Rows: f.NumRows()}
	var first int64
	for i, rg := range f.Metadata().RowGroups {
		var size int64
		off := int64(math.MaxInt64)
		for _, c := range rg.Columns {
			size += c.MetaData.TotalCompressedSize
			o := c.MetaData.DataPageOffset
			if d := c.MetaData.DictionaryPageOffset; d > 0 && d < o {
				o = d
			}
			off = min(off, o)
			// A chunk must lie inside the file: a hostile footer must not
			// send the reader outside it or make it allocate for bytes
			// that are not there.
			if o < 4 || c.MetaData.TotalCompressedSize < 0 || o+c.MetaData.TotalCompressedSize > f.Size() {
				return nil, fmt.Errorf("%s: row group %d: column chunk %v at byte %d, %d bytes, outside the file's %d bytes", name, i, c.MetaData.PathInSchema, o, c.MetaData.TotalCompressedSize, f.Size())
			}
		}
		if rg.NumRows < 0 || size < 0 || len(rg.Columns) == 0 {
			return nil, fmt.Errorf("%s: row group %d: %d rows, %d bytes in %d columns", name, i, rg.NumRows, size, len(rg.Columns))
		}
		pf.RowGroups = append(pf.RowGroups, ParquetRowGroup{FirstRow: first, Rows: rg.NumRows, Offset: off, Bytes: size})
		first += rg.NumRows
	}
	fields, unusable := parquetFields(f)
	pf.Unusable = unusable
	for _, c := range f.Root().Columns() {
		fd, ok := fields[c.Name()]
		if !ok {
			continue
		}
		rf := RecordField{Name: fd.name}
		if fd.layout != ParquetScalar && len(pf.RowGroups) > 0 && pf.RowGroups[0].Rows > 0 {
			if err := firstRowShape(f, fd, &rf); err != nil {
				return nil, fmt.Errorf("%s: field %q: %w", name, fd.name, err)
			}
		}
		pf.Fields = append(pf.Fields, rf)
	}
	if v, ok := f.Lookup("huggingface"); ok {
		var hf struct {
			Info struct {
				Features map[string]struct {
					Type  string   `json:"_type"`
					Names []string `json:"names"`
				} `json:"features"`
			} `json:"info"`
		}
		if json.Unmarshal([]byte(v), &hf) == nil {
			if ft, ok := hf.Info.Features[label]; ok && ft.Type == "ClassLabel" {
				pf.ClassNames = ft.Names
			}
		}
	}
	return pf, nil
}

// firstRowShape reads the first row of field fd and sets rf's width (a
// list or vector) or shape (an image).
func firstRowShape(f *parquet.File, fd *parquetField, rf *RecordField) error {
	rg := f.RowGroups()[0]
	cur := func(c *parquet.Column) *leafCursor {
		return newLeafCursor(rg.ColumnChunks()[c.Index()], c)
	}
	switch fd.layout {
	case ParquetList:
		c := cur(fd.leaf)
		defer c.close()
		vals, err := c.row()
		if err != nil {
			return err
		}
		rf.Width = len(vals)
		if n := len(vals); n == 1 && vals[0].DefinitionLevel() < fd.leaf.MaxDefinitionLevel()-1 {
			rf.Width = 0 // a null or empty list: no width to learn
		}
	case ParquetVector:
		var vals [4][]parquet.Value
		for i, l := range fd.leaves {
			c := cur(l)
			v, err := c.row()
			c.close()
			if err != nil {
				return err
			}
			vals[i] = v
		}
		if vals[0][0].IsNull() {
			return nil
		}
		if vals[0][0].Int32() == 1 { // dense
			rf.Width = len(vals[3])
		} else {
			rf.Width, rf.Sparse = int(vals[1][0].Int32()), true
		}
	case ParquetImage:
		c := cur(fd.leaf)
		defer c.close()
		vals, err := c.row()
		if err != nil {
			return err
		}
		if vals[0].IsNull() {
			return errors.New("the first row's image is null")
		}
		shape, err := ImageShape(vals[0].ByteArray())
		if err != nil {
			return fmt.Errorf("first row: %w", err)
		}
		rf.Shape = shape
	}
	return nil
}

// leafCursor reads the values of one leaf column of one row group, a row
// at a time.
type leafCursor struct {
	col   *parquet.Column
	pages parquet.Pages
	page  parquet.Page // the page vr reads, released once all of it is read
	vr    parquet.ValueReader
	buf   []parquet.Value
	i, n  int
	out   []parquet.Value
	done  bool
	flat  bool // not repeated: one value per row
}

func newLeafCursor(cc parquet.ColumnChunk, col *parquet.Column) *leafCursor {
	return &leafCursor{col: col, pages: cc.Pages(), buf: make([]parquet.Value, 1024), flat: col.MaxRepetitionLevel() == 0}
}

func (c *leafCursor) close() { c.pages.Close() }

// peek makes c.buf[c.i] the next value; false at the end of the chunk.
func (c *leafCursor) peek() (bool, error) {
	for c.i >= c.n {
		if c.done {
			return false, nil
		}
		if c.vr == nil {
			// Every value of the last page has been read (byte arrays
			// cloned): its buffers may go back to the pool, which other
			// columns' pages draw from.
			if c.page != nil {
				parquet.Release(c.page)
				c.page = nil
			}
			p, err := c.pages.ReadPage()
			if err == io.EOF {
				c.done = true
				return false, nil
			}
			if err != nil {
				return false, err
			}
			c.page, c.vr = p, p.Values()
		}
		n, err := c.vr.ReadValues(c.buf)
		c.i, c.n = 0, n
		if err == io.EOF || err == nil && n == 0 {
			c.vr = nil
		} else if err != nil {
			return false, err
		}
	}
	return true, nil
}

// one returns the next row's value of a flat (not repeated) column.
func (c *leafCursor) one() (parquet.Value, error) {
	if c.i >= c.n {
		ok, err := c.peek()
		if err != nil {
			return parquet.Value{}, err
		}
		if !ok {
			return parquet.Value{}, fmt.Errorf("column %s ends before the row group's last row", c.col.Name())
		}
	}
	v := c.buf[c.i]
	c.i++
	if v.Kind() == parquet.ByteArray && !v.IsNull() {
		v = v.Clone()
	}
	return v, nil
}

// row returns the values of the next row (valid until the next call);
// byte arrays are copied, since the page they point into may be reused.
func (c *leafCursor) row() ([]parquet.Value, error) {
	c.out = c.out[:0]
	if c.flat {
		v, err := c.one()
		if err != nil {
			return nil, err
		}
		c.out = append(c.out, v)
		return c.out, nil
	}
	for {
		ok, err := c.peek()
		if err != nil {
			return nil, err
		}
		if !ok {
			if len(c.out) == 0 {
				return nil, fmt.Errorf("column %s ends before the row group's last row", c.col.Name())
			}
			return c.out, nil
		}
		v := c.buf[c.i]
		if v.RepetitionLevel() == 0 && len(c.out) > 0 {
			return c.out, nil
		}
		if v.Kind() == parquet.ByteArray && !v.IsNull() {
			v = v.Clone()
		}
		c.out = append(c.out, v)
		c.i++
	}
}

// numCursor reads a flat (not repeated) column of numbers (float, double,
// int32, int64) a page at a time into float32s, as setScalar converts
// them, for a numeric feature: the fast path of parseRowGroup.
type numCursor struct {
	col    *parquet.Column
	kind   parquet.Kind
	maxDef byte
	pages  parquet.Pages
	vals   []float32 // the page's non-null values
	def    []byte    // the page's definition levels (nil: none null)
	defBuf []byte
	rows   int // rows in the page
	i, k   int // next row, next value
	// dictVals are the values of dict, the dictionary of the chunk's
	// dictionary-encoded pages.
	dict     parquet.Dictionary
	dictVals []float32
}

func newNumCursor(cc parquet.ColumnChunk, col *parquet.Column) *numCursor {
	return &numCursor{col: col, kind: col.Type().Kind(), maxDef: byte(col.MaxDefinitionLevel()), pages: cc.Pages()}
}

func (c *numCursor) close() { c.pages.Close() }

// isFastNumber is whether numCursor reads leaf l.
func isFastNumber(l *parquet.Column) bool {
	switch l.Type().Kind() {
	case parquet.Float, parquet.Double, parquet.Int32, parquet.Int64:
		return l.MaxRepetitionLevel() == 0
	}
	return false
}

// fill sets dst to the values of the next len(dst) rows, NaN for a null
// (which setFloat treats as missing, as it does a NaN).
func (c *numCursor) fill(dst []float32) error {
	for len(dst) > 0 {
		for c.i >= c.rows {
			if err := c.load(); err != nil {
				return err
			}
		}
		n := min(len(dst), c.rows-c.i)
		if c.def == nil {
			if c.k+n > len(c.vals) {
				return fmt.Errorf("column %s: a page of %d values for %d rows", c.col.Name(), len(c.vals), c.rows)
			}
			copy(dst, c.vals[c.k:c.k+n])
			c.k += n
		} else {
			for j, d := range c.def[c.i : c.i+n] {
				if d != c.maxDef {
					dst[j] = nan32
					continue
				}
				if c.k >= len(c.vals) {
					return fmt.Errorf("column %s: a page with fewer values than its levels say", c.col.Name())
				}
				dst[j] = c.vals[c.k]
				c.k++
			}
		}
		c.i += n
		dst = dst[n:]
	}
	return nil
}

// load reads the next page's values.
func (c *numCursor) load() error {
	p, err := c.pages.ReadPage()
	if err == io.EOF {
		return fmt.Errorf("column %s ends before the row group's last row", c.col.Name())
	}
	if err != nil {
		return err
	}
	defer parquet.Release(p)
	c.vals, c.def, c.i, c.k = c.vals[:0], nil, 0, 0
	c.rows = int(p.NumValues())
	if c.maxDef > 0 {
		c.defBuf = append(c.defBuf[:0], p.DefinitionLevels()...)
		c.def = c.defBuf
		if len(c.def) != c.rows {
			return fmt.Errorf("column %s: a page of %d values and %d definition levels", c.col.Name(), c.rows, len(c.def))
		}
	}
	if d := p.Dictionary(); d != nil {
		// Dictionary indices: the dictionary's values converted once.
		if d != c.dict {
			c.dict, c.dictVals = d, appendNumbers(c.dictVals[:0], c.kind, d.Page().Data())
			if len(c.dictVals) != d.Len() {
				return fmt.Errorf("column %s: a dictionary of %d values holds %d", c.col.Name(), d.Len(), len(c.dictVals))
			}
		}
		idx := p.Data()
		for _, j := range idx.Int32() {
			if uint32(j) >= uint32(len(c.dictVals)) {
				return fmt.Errorf("column %s: dictionary index %d of %d values", c.col.Name(), j, len(c.dictVals))
			}
			c.vals = append(c.vals, c.dictVals[j])
		}
		return nil
	}
	c.vals = appendNumbers(c.vals, c.kind, p.Data())
	return nil
}

// appendNumbers appends the values d of kind k to dst as float32s, as
// setScalar converts them.
func appendNumbers(dst []float32, k parquet.Kind, d encoding.Values) []float32 {
	if k == parquet.Double {
		dst = slices.Grow(dst, len(d.Double()))
	}
	switch k {
	case parquet.Double:
		for _, x := range d.Double() {
			dst = append(dst, float32Checked(x))
		}
	case parquet.Float:
		dst = append(dst, d.Float()...)
	case parquet.Int32:
		for _, x := range d.Int32() {
			dst = append(dst, float32(x))
		}
	case parquet.Int64:
		for _, x := range d.Int64() {
			dst = append(dst, float32(x))
		}
	}
	return dst
}

// ScanParquetCategories counts the values of the categorical columns of
// schema in every row group of the Parquet file f, as ScanCategories does
// for CSV (strings as they are, numbers as their text), reading only those
// columns.
func ScanParquetCategories(f *parquet.File, name string, schema *CSVSchema) (vocab map[string]map[string]int64, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%s: corrupt data: panic: %v", name, r)
		}
	}()
	cc := newCategoryCounter(schema)
	fields, unusable := parquetFields(f)
	var num []byte
	for col := range cc.vocab {
		fd, ok := fields[col]
		if !ok || fd.layout != ParquetScalar {
			return nil, fmt.Errorf("%s: categorical field %q is not a single number or string (%s)", name, col, unusable[col])
		}
		for g, rg := range f.RowGroups() {
			c := newLeafCursor(rg.ColumnChunks()[fd.leaf.Index()], fd.leaf)
			for r := int64(0); r < rg.NumRows(); r++ {
				vals, err := c.row()
				if err != nil {
					c.close()
					return nil, fieldErr(name, g, col, err)
				}
				switch v := vals[0]; {
				case v.IsNull():
				case v.Kind() == parquet.ByteArray:
					cc.add(col, v.ByteArray())
				case v.Kind() == parquet.Int32:
					cc.add(col, strconv.AppendInt(num[:0], int64(v.Int32()), 10))
				case v.Kind() == parquet.Int64:
					cc.add(col, strconv.AppendInt(num[:0], v.Int64(), 10))
				case v.Kind() == parquet.Float:
					cc.add(col, floatText(num[:0], v.Float()))
				case v.Kind() == parquet.Double:
					cc.add(col, floatText(num[:0], float32Checked(v.Double())))
				case v.Kind() == parquet.Boolean && v.Boolean():
					cc.add(col, floatText(num[:0], 1))
				default:
					cc.add(col, floatText(num[:0], 0))
				}
			}
			c.close()
		}
	}
	return cc.vocab, nil
}

// ParseParquet parses row groups [rg0, rg0+n) of the Parquet file f
// (whose first row is firstRow, its 0-based index in the file) into dense
// blocks of schema.Features columns. Row IDs are rows.RecordID(name, row),
// row being the row's 0-based index in the file. Only the leaf columns of
// the schema's fields are read, one page at a time.
//
// A field gives its column's value by its layout: a number (a boolean is
// 0/1) or string (its text, as CSV) for a numeric, categorical or label
// column; a list of Width numbers, or a Spark ML vector of size Width
// (dense or sparse), for a vector column; an image struct's bytes (a PNG
// or JPEG of the column's shape) for an image column. A null is missing
// (a null element of a list too); a null image is rejected. Rejected: a
// list or vector of another length, a non-finite value, an image that does
// not decode or has another size, and what CSV rejects for a text value.
// A corrupt page is an error naming the row group and column.
//
// rowsRead counts rows, rejected or not.
func ParseParquet(f *parquet.File, rg0, n int, firstRow int64, name string, schema *CSVSchema, blockRows int, emit Emit, reject func(Reject)) (rowsRead int64, err error) {
	p, bw, err := startRecords(name, schema, schema.Sparse, blockRows, emit)
	if err != nil {
		return 0, err
	}
	fields, unusable := parquetFields(f)
	var bounds []boundField
	for i, c := range schema.Columns {
		if c.Kind == KindIgnored {
			continue
		}
		fd, ok := fields[c.Name]
		if !ok {
			if r, ok := unusable[c.Name]; ok {
				return 0, fmt.Errorf("%s: field %q is %s", name, c.Name, r)
			}
			return 0, fmt.Errorf("%s: no field %q", name, c.Name)
		}
		ok = fd.layout == ParquetScalar
		switch c.Kind {
		case KindVector:
			ok = fd.layout == ParquetList || fd.layout == ParquetVector
		case KindImage:
			ok = fd.layout == ParquetImage || c.Raw && fd.layout == ParquetScalar
		}
		if !ok || schema.Sparse && c.Kind == KindVector && fd.layout != ParquetVector {
			return 0, fmt.Errorf("%s: field %q is a %s, but the first file's is %s", name, c.Name, fd.layout, c.Kind)
		}
		bounds = append(bounds, boundField{i, fd})
	}
	groups := f.RowGroups()
	if rg0 < 0 || n < 0 || rg0+n > len(groups) {
		return 0, fmt.Errorf("%s: row groups %d..%d of %d", name, rg0, rg0+n-1, len(groups))
	}
	row := firstRow
	for g := rg0; g < rg0+n; g++ {
		k, err := parseRowGroup(groups[g], g, row, name, p, bounds, bw, reject)
		rowsRead += k
		if err != nil {
			return rowsRead, err
		}
		row += groups[g].NumRows()
	}
	return rowsRead, bw.flush()
}

// boundField is a schema column and the Parquet field it is read from.
type boundField struct {
	col   int
	field *parquetField
}

// parseRowGroup parses one row group, under recover: a library panic on a
// corrupt page is an error.
func parseRowGroup(rg parquet.RowGroup, g int, firstRow int64, name string, p *recordParser, bounds []boundField, bw *blockWriter, reject func(Reject)) (rowsRead int64, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%s: row group %d: corrupt data: panic: %v", name, g, r)
		}
	}()
	chunks := rg.ColumnChunks()
	// One cursor per leaf read: a numCursor for a number that is a
	// numeric feature, else leafCursors.
	cursors := make([][]*leafCursor, len(bounds))
	nums := make([]*numCursor, len(bounds))
	defer func() {
		for i, cs := range cursors {
			for _, c := range cs {
				c.close()
			}
			if nums[i] != nil {
				nums[i].close()
			}
		}
	}()
	for i, b := range bounds {
		leaves := b.field.leaves
		if leaves == nil {
			leaves = []*parquet.Column{b.field.leaf}
		}
		for _, l := range leaves {
			if l.Index() < 0 || l.Index() >= len(chunks) {
				return 0, fmt.Errorf("%s: row group %d: no column chunk for %s", name, g, l.Name())
			}
			if b.field.layout == ParquetScalar && p.s.Columns[b.col].Kind == KindNumeric && isFastNumber(l) {
				nums[i] = newNumCursor(chunks[l.Index()], l)
				continue
			}
			cursors[i] = append(cursors[i], newLeafCursor(chunks[l.Index()], l))
		}
	}
	nrows := rg.NumRows()
	var vals [4][]parquet.Value
	// The numCursors' columns, a batch of rows at a time.
	const batch = 1024
	batched := make([][]float32, len(bounds))
	for i, nc := range nums {
		if nc != nil {
			batched[i] = make([]float32, batch)
		}
	}
	for r := int64(0); r < nrows; r++ {
		if r%batch == 0 {
			n := min(batch, nrows-r)
			for i, nc := range nums {
				if nc == nil {
					continue
				}
				if err := nc.fill(batched[i][:n]); err != nil {
					return rowsRead, fieldErr(name, g, bounds[i].field.name, err)
				}
			}
		}
		p.begin()
		reason := ""
		for i, b := range bounds {
			if col := batched[i]; col != nil {
				if reason != "" {
					continue
				}
				p.set[b.col] = true
				switch v := col[r%batch]; {
				case v != v:
					reason = p.setMissing(b.col)
				case math32IsInf(v):
					reason = p.where(b.col) + "infinite value"
				default:
					p.row[p.s.Columns[b.col].Offset] = v
				}
				continue
			}
			if b.field.layout == ParquetScalar {
				v, err := cursors[i][0].one()
				if err != nil {
					return rowsRead, fieldErr(name, g, b.field.name, err)
				}
				if reason == "" {
					p.set[b.col] = true
					reason = p.setScalar(b.col, v)
				}
				continue
			}
			for k, c := range cursors[i] {
				v, err := c.row()
				if err != nil {
					return rowsRead, fieldErr(name, g, b.field.name, err)
				}
				vals[k] = v
			}
			if reason != "" {
				continue // keep the cursors in step
			}
			p.set[b.col] = true
			reason = p.setParquet(b.col, b.field, vals[:len(cursors[i])])
		}
		rowsRead++
		id := firstRow + r
		if reason == "" {
			reason = p.end()
		}
		if reason != "" {
			if reject != nil {
				reject(Reject{File: name, Record: id, Reason: reason})
			}
			continue
		}
		if p.s.Sparse {
			bw.blk.AppendSparse(rows.RecordID(name, id), p.lab, p.spIdx, p.spVal)
		} else {
			bw.blk.AppendDense(rows.RecordID(name, id), p.lab, p.row)
		}
		if err := bw.full(); err != nil {
			return rowsRead, err
		}
	}
	return rowsRead, nil
}

// setParquet sets column i from the values of one row of field fd.
func (p *recordParser) setParquet(i int, fd *parquetField, vals [][]parquet.Value) string {
	switch fd.layout {
	case ParquetScalar:
		return p.setScalar(i, vals[0][0])
	case ParquetImage:
		v := vals[0][0]
		if v.IsNull() {
			return p.setMissing(i)
		}
		return p.setBytes(i, v.ByteArray())
	case ParquetList:
		return p.setList(i, fd.leaf, vals[0])
	}
	// A Spark ML vector: type 0 sparse (size, indices, values), 1 dense (values).
	typ, size, ind, val := vals[0][0], vals[1][0], vals[2], vals[3]
	if typ.IsNull() {
		return p.setMissing(i)
	}
	c := &p.s.Columns[i]
	if typ.Int32() == 1 {
		if reason := p.setList(i, fd.leaves[3], val); reason != "" || !p.s.Sparse {
			return reason
		}
		// A dense row of a sparse column: its non-zeros.
		for k, v := range p.row[c.Offset : c.Offset+c.Width] {
			if v != 0 {
				p.spIdx = append(p.spIdx, int32(k))
				p.spVal = append(p.spVal, v)
			}
		}
		return ""
	}
	if size.IsNull() || int(size.Int32()) != c.Width {
		return p.where(i) + fmt.Sprintf("sparse vector of size %v, want %d", size, c.Width)
	}
	if len(ind) != len(val) && !(len(val) == 1 && val[0].IsNull()) {
		return p.where(i) + fmt.Sprintf("sparse vector of %d indices and %d values", len(ind), len(val))
	}
	var out []float32
	if !p.s.Sparse {
		out = p.row[c.Offset : c.Offset+c.Width]
		clear(out)
	}
	if ind[0].IsNull() || ind[0].DefinitionLevel() < fd.leaves[2].MaxDefinitionLevel() {
		return "" // no non-zero
	}
	prev := -1
	for k, x := range ind {
		j := int(x.Int32())
		if j <= prev || j >= c.Width {
			return p.where(i) + fmt.Sprintf("sparse vector index %d out of order or range (size %d)", j, c.Width)
		}
		prev = j
		v := float32Checked(val[k].Double())
		if math32IsInf(v) || v != v {
			return p.where(i) + fmt.Sprintf("element %d: not a finite float32", j)
		}
		if out != nil {
			out[j] = v
		} else if v != 0 {
			p.spIdx = append(p.spIdx, int32(j))
			p.spVal = append(p.spVal, v)
		}
	}
	return ""
}

// setScalar sets column i from a scalar field's value.
func (p *recordParser) setScalar(i int, v parquet.Value) string {
	switch v.Kind() {
	case parquet.Double:
		if v.IsNull() {
			return p.setMissing(i)
		}
		return p.setFloat(i, float32Checked(v.Double()))
	case parquet.Float:
		if v.IsNull() {
			return p.setMissing(i)
		}
		return p.setFloat(i, v.Float())
	}
	switch {
	case v.IsNull():
		return p.setMissing(i)
	case v.Kind() == parquet.ByteArray:
		return p.setBytes(i, v.ByteArray())
	case v.Kind() == parquet.Boolean:
		if v.Boolean() {
			return p.setFloat(i, 1)
		}
		return p.setFloat(i, 0)
	case v.Kind() == parquet.Int32 || v.Kind() == parquet.Int64:
		x := v.Int64()
		if v.Kind() == parquet.Int32 {
			x = int64(v.Int32())
		}
		if p.s.Columns[i].Kind != KindNumeric {
			p.num = strconv.AppendInt(p.num[:0], x, 10)
			return p.setText(i, p.num)
		}
		return p.setFloat(i, float32(x))
	}
	return p.where(i) + "a value of type " + v.Kind().String()
}

// setList sets column i from the values of one row of a list leaf: a
// value below the leaf's definition level is a null element (maxDef-1,
// when elements are optional) or a null or empty list.
func (p *recordParser) setList(i int, leaf *parquet.Column, vals []parquet.Value) string {
	maxDef := leaf.MaxDefinitionLevel()
	elemDef := maxDef // level at which an element slot exists
	if leaf.Optional() {
		elemDef--
	}
	if len(vals) == 1 && vals[0].DefinitionLevel() < elemDef {
		return p.setMissing(i)
	}
	p.floats = p.floats[:0]
	for _, v := range vals {
		switch {
		case v.DefinitionLevel() < maxDef:
			p.floats = append(p.floats, nan32)
		case v.Kind() == parquet.Double:
			p.floats = append(p.floats, float32Checked(v.Double()))
		case v.Kind() == parquet.Float:
			p.floats = append(p.floats, v.Float())
		case v.Kind() == parquet.Boolean:
			x := float32(0)
			if v.Boolean() {
				x = 1
			}
			p.floats = append(p.floats, x)
		case v.Kind() == parquet.Int32:
			p.floats = append(p.floats, float32(v.Int32()))
		default:
			p.floats = append(p.floats, float32(v.Int64()))
		}
	}
	return p.setFloats(i, p.floats)
}

// float32Checked converts a float64 to float32, a finite value beyond
// float32's range becoming infinite (and so rejected).
func float32Checked(x float64) float32 {
	if x > math.MaxFloat32 || x < -math.MaxFloat32 {
		return float32(math.Inf(int(math.Copysign(1, x))))
	}
	return float32(x)
}

// fieldErr names the file, row group and field of a read error; where the
// error already names the row group (the page guard's do), the field
// follows it instead of naming the row group twice.
func fieldErr(name string, g int, field string, err error) error {
	if strings.Contains(err.Error(), fmt.Sprintf("row group %d: ", g)) {
		return fmt.Errorf("%s: %w (field %q)", name, err, field)
	}
	return fmt.Errorf("%s: row group %d: field %q: %w", name, g, field, err)
}
