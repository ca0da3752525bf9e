package formats

import (
	"bytes"
	"encoding/binary"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/encoding/thrift"
	"github.com/parquet-go/parquet-go/format"

	"github.com/lightbeam-ml/lightbeam/data/rows"
	"github.com/lightbeam-ml/lightbeam/internal/pyenv"
)

// parquetFixtures returns the directory of the files that
// scripts/fixtures/parquet_fixtures.py layouts writes with pyarrow.
func parquetFixtures(t *testing.T) string {
	t.Helper()
	py := pyenv.Need(t, "pyarrow", "PIL")
	dir := t.TempDir()
	out, err := exec.Command(py, filepath.Join("..", "..", "scripts", "fixtures", "parquet_fixtures.py"), "layouts", dir).CombinedOutput()
	if err != nil {
		t.Fatalf("writing the parquet fixtures: %v\n%s", err, out)
	}
	return dir
}

// parquetSchema lays out the fields ScanParquet finds in data (all but
// label as features).
func parquetSchema(t testing.TB, f *parquet.File, opts CSVOptions) (*CSVSchema, *ParquetFile) {
	t.Helper()
	pf, err := ScanParquet(f, "f.parquet", "label")
	if err != nil {
		t.Fatal(err)
	}
	return fieldSchema(t, pf.Fields, opts), pf
}

func openParquetFile(t testing.TB, data []byte) (*parquet.File, error) {
	t.Helper()
	return OpenParquet(bytes.NewReader(data), int64(len(data)))
}

// openParquetFixture reads and opens the Parquet file at path.
func openParquetFixture(t testing.TB, path string) (*parquet.File, []byte) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	f, err := openParquetFile(t, data)
	if err != nil {
		t.Fatal(err)
	}
	return f, data
}

func parseParquetAll(t testing.TB, f *parquet.File, rg0, n int, first int64, s *CSVSchema) (*rows.Block, []Reject, int64, error) {
	t.Helper()
	var blocks []*rows.Block
	var rejects []Reject
	k, err := ParseParquet(f, rg0, n, first, "f.parquet", s, 50, collect(t, &blocks), func(r Reject) { rejects = append(rejects, r) })
	return mergeBlocks(s.Features, blocks), rejects, k, err
}

// Files pyarrow writes in each layout and codec parse to their values.
func TestParseParquetLayouts(t *testing.T) {
	dir := parquetFixtures(t)
	numeric := func(i int) []float32 {
		c := float32(0)
		if i%3 == 0 {
			c = 1
		}
		return []float32{float32(float64(i)/4 - 3), float32(i % 7), c}
	}
	vec := func(i int) []float32 { return []float32{float32(i), float32(-i), float32(float64(i) / 8)} }
	for _, tc := range []struct {
		file  string
		names []string
		row   func(i int) []float32
	}{
		{"numeric-snappy", []string{"a", "b", "c"}, numeric},
		{"numeric-gzip", []string{"a", "b", "c"}, numeric},
		{"numeric-zstd", []string{"a", "b", "c"}, numeric},
		{"numeric-none", []string{"a", "b", "c"}, numeric},
		{"numeric-v2", []string{"a", "b", "c"}, numeric},
		{"numeric-dict", []string{"a", "b", "c"}, numeric},
		{"numeric-nulls", []string{"a", "b", "c"}, func(i int) []float32 {
			r := numeric(i)
			if i%10 == 1 {
				r[0] = 0 // MissingZero
			}
			return r
		}},
		{"list-float", []string{"v[0]", "v[1]", "v[2]"}, vec},
		{"list-double", []string{"v[0]", "v[1]", "v[2]"}, vec},
		{"spark-dense", []string{"features[0]", "features[1]", "features[2]"}, vec},
		{"spark-sparse", []string{"features[0]", "features[1]", "features[2]", "features[3]", "features[4]"}, func(i int) []float32 {
			return []float32{float32(i), 0, 0, float32(float64(i) / 8), 0}
		}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			f, _ := openParquetFixture(t, filepath.Join(dir, tc.file+".parquet"))
			s, pf := parquetSchema(t, f, CSVOptions{Missing: MissingZero})
			if !reflect.DeepEqual(s.FeatureNames(), tc.names) || pf.Rows != 200 || len(pf.RowGroups) != 4 || pf.RowGroups[3].FirstRow != 192 {
				t.Fatalf("features %v, %d rows in %+v", s.FeatureNames(), pf.Rows, pf.RowGroups)
			}
			blk, rejects, n, err := parseParquetAll(t, f, 0, 4, 0, s)
			if err != nil || n != 200 || len(rejects) != 0 || blk.Rows() != 200 {
				t.Fatalf("err %v, %d read, rejects %v, %d rows", err, n, rejects, blk.Rows())
			}
			d := len(tc.names)
			for i := range 200 {
				if got := blk.DenseValues[i*d : (i+1)*d]; !reflect.DeepEqual(got, tc.row(i)) || blk.Labels[i] != float32(i%4) || blk.IDs[i] != rows.RecordID("f.parquet", int64(i)) {
					t.Fatalf("row %d: %v label %v, want %v label %d", i, got, blk.Labels[i], tc.row(i), i%4)
				}
			}
			// Row groups 1 and 2 alone: rows 64..191, by their index in the file.
			blk, _, n, err = parseParquetAll(t, f, 1, 2, 64, s)
			if err != nil || n != 128 || blk.IDs[0] != rows.RecordID("f.parquet", 64) || !reflect.DeepEqual(blk.DenseValues[:d], tc.row(64)) {
				t.Fatalf("row groups 1..2: err %v, %d rows", err, n)
			}
		})
	}
}

// A schema whose one feature is a sparse Spark vector gives sparse rows.
func TestParseParquetSparse(t *testing.T) {
	f, _ := openParquetFixture(t, filepath.Join(parquetFixtures(t), "spark-sparse.parquet"))
	s, pf := parquetSchema(t, f, CSVOptions{})
	if !pf.Fields[0].Sparse || pf.Fields[0].Width != 5 {
		t.Fatalf("fields %+v", pf.Fields)
	}
	s.Sparse = true
	var blocks []*rows.Block
	n, err := ParseParquet(f, 0, 4, 0, "f.parquet", s, 50, collect(t, &blocks), nil)
	if err != nil || n != 200 {
		t.Fatalf("err %v, %d read", err, n)
	}
	i := 0
	for _, b := range blocks {
		if !b.Sparse {
			t.Fatal("a dense block")
		}
		for r := range b.Rows() {
			idx, val := b.Indices[b.Indptr[r]:b.Indptr[r+1]], b.Values[b.Indptr[r]:b.Indptr[r+1]]
			want, wantVal := []int32{0, 3}, []float32{float32(i), float32(float64(i) / 8)}
			if i == 0 {
				want, wantVal = []int32{}, []float32{}
			}
			if !reflect.DeepEqual(idx, want) || !reflect.DeepEqual(val, wantVal) || b.Labels[r] != float32(i%4) {
				t.Fatalf("row %d: %v %v, want %v %v", i, idx, val, want, wantVal)
			}
			i++
		}
	}
}

// Image structs: pixels decoded, a null image rejected by its row.
func TestParseParquetImages(t *testing.T) {
	f, _ := openParquetFixture(t, filepath.Join(parquetFixtures(t), "image-null.parquet"))
	s, _ := parquetSchema(t, f, CSVOptions{})
	if s.Features != 20 || s.Columns[0].Kind != KindImage || !reflect.DeepEqual(s.Columns[0].Shape, []int{4, 5, 1}) {
		t.Fatalf("schema %+v", s.Columns)
	}
	blk, rejects, n, err := parseParquetAll(t, f, 0, 4, 0, s)
	if err != nil || n != 10 || blk.Rows() != 9 || !reflect.DeepEqual(rejects, []Reject{{"f.parquet", 4, `field "image": missing image`}}) {
		t.Fatalf("err %v, %d read, %d rows, rejects %v", err, n, blk.Rows(), rejects)
	}
	for k, i := range []int{0, 1, 2, 3, 5, 6, 7, 8, 9} {
		want := wantTFRow(i)[1:21] // the same pixels as the TFRecord fixture's
		if got := blk.DenseValues[k*20 : k*20+20]; !reflect.DeepEqual(got, want) {
			t.Errorf("row %d: %v, want %v", i, got, want)
		}
	}
}

// JPEGs written by pillow decode to pillow's pixels, up to the rounding
// two IDCTs may differ by.
func TestParseParquetJPEG(t *testing.T) {
	f, _ := openParquetFixture(t, filepath.Join(parquetFixtures(t), "image-jpeg.parquet"))
	s, _ := parquetSchema(t, f, CSVOptions{})
	if s.Columns[0].Kind != KindImage || !reflect.DeepEqual(s.Columns[0].Shape, []int{6, 4, 3}) || s.Columns[1].Width != 72 || s.Features != 144 {
		t.Fatalf("schema %+v", s.Columns)
	}
	blk, rejects, n, err := parseParquetAll(t, f, 0, 3, 0, s)
	if err != nil || n != 12 || len(rejects) != 0 {
		t.Fatalf("err %v, %d read, rejects %v", err, n, rejects)
	}
	worst := float32(0)
	for r := range 12 {
		row := blk.DenseValues[r*144 : (r+1)*144]
		for k := range 72 {
			worst = max(worst, float32(math.Abs(float64(row[k]-row[72+k]))))
		}
	}
	if worst > 3 { // 2 measured: libjpeg-turbo's and Go's IDCTs round differently
		t.Errorf("pixels differ from pillow's by up to %v", worst)
	}
}

// Damaged files: an error naming what is wrong, never a panic.
func TestParseParquetCorrupt(t *testing.T) {
	f, data := openParquetFixture(t, filepath.Join(parquetFixtures(t), "numeric-none.parquet"))
	s, _ := parquetSchema(t, f, CSVOptions{})
	for _, tc := range []struct {
		name string
		data []byte
		want string
	}{
		{"truncated", data[:len(data)-100], "invalid magic footer"},
		{"not parquet", []byte("x,y,label\n1,2,3\n"), "invalid magic header"},
		{"footer size", append(bytes.Clone(data[:len(data)-8]), 0xff, 0xff, 0xff, 0x7f, 'P', 'A', 'R', '1'), "does not fit"},
	} {
		if _, err := openParquetFile(t, tc.data); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want %q", tc.name, err, tc.want)
		}
	}
	// A footer whose column chunk lies outside the file is refused by
	// planning.
	f.Metadata().RowGroups[1].Columns[2].MetaData.TotalCompressedSize = 1 << 40
	if _, err := ScanParquet(f, "f.parquet", "label"); err == nil || !strings.Contains(err.Error(), "f.parquet: row group 1: column chunk [c] at byte") || !strings.Contains(err.Error(), "outside the file") {
		t.Errorf("chunk outside the file: err = %v", err)
	}
	// Garbage over the pages: the footer opens, the row groups fail with
	// an error (or, where a value still decodes, a reject or a row).
	for _, at := range []int{4, 40, 400, 1000, 3000} {
		bad := bytes.Clone(data)
		for k := at; k < at+64 && k < len(bad)-1000; k++ {
			bad[k] ^= 0x5a
		}
		f, err := openParquetFile(t, bad)
		if err != nil {
			continue
		}
		_, _, _, err = parseParquetAll(t, f, 0, 4, 0, s)
		if err != nil && !strings.Contains(err.Error(), "f.parquet") {
			t.Errorf("garbage at %d: error %v does not name the file", at, err)
		}
	}
}

// patchPageHeader returns the Parquet file data with the first page
// header of row group rg's column col changed by edit, the footer's
// offsets moved to match.
func patchPageHeader(t testing.TB, data []byte, rg, col int, edit func(*format.PageHeader)) []byte {
	t.Helper()
	f, err := openParquetFile(t, data)
	if err != nil {
		t.Fatal(err)
	}
	md := f.Metadata()
	cm := &md.RowGroups[rg].Columns[col].MetaData
	at := cm.DataPageOffset
	if cm.DictionaryPageOffset != 0 {
		at = cm.DictionaryPageOffset
	}
	var h format.PageHeader
	pr := (&thrift.CompactProtocol{}).NewReaderFromBytes(data[at:])
	if err := thrift.NewDecoder(pr).Decode(&h); err != nil {
		t.Fatal(err)
	}
	edit(&h)
	hdr, err := thrift.Marshal(&thrift.CompactProtocol{}, &h)
	if err != nil {
		t.Fatal(err)
	}
	return spliceChunk(t, data, md, rg, col, at, int64(pr.BytesRead()), hdr)
}

// spliceChunk returns the Parquet file data (whose footer is md) with the
// n bytes at byte at, inside row group rg's column col, replaced by repl,
// the footer's offsets and that chunk's size moved to match.
func spliceChunk(t testing.TB, data []byte, md *format.FileMetaData, rg, col int, at, n int64, repl []byte) []byte {
	t.Helper()
	d := int64(len(repl)) - n
	md.RowGroups[rg].Columns[col].MetaData.TotalCompressedSize += d
	move := func(off *int64) {
		if *off >= at+n {
			*off += d
		}
	}
	for i := range md.RowGroups {
		for j := range md.RowGroups[i].Columns {
			m := &md.RowGroups[i].Columns[j].MetaData
			move(&m.DataPageOffset)
			move(&m.DictionaryPageOffset)
		}
	}
	footer, err := thrift.Marshal(&thrift.CompactProtocol{}, md)
	if err != nil {
		t.Fatal(err)
	}
	end := int64(len(data)) - 8 - int64(binary.LittleEndian.Uint32(data[len(data)-8:]))
	out := append(bytes.Clone(data[:at]), repl...)
	out = append(out, data[at+n:end]...)
	out = append(out, footer...)
	out = binary.LittleEndian.AppendUint32(out, uint32(len(footer)))
	return append(out, "PAR1"...)
}

// Slack after a column chunk's last page, inside the chunk's size, is
// never a page anyone asks for: the file reads as it did.
func TestParseParquetChunkSlack(t *testing.T) {
	dir := parquetFixtures(t)
	data, err := os.ReadFile(filepath.Join(dir, "numeric-snappy.parquet"))
	if err != nil {
		t.Fatal(err)
	}
	f, err := openParquetFile(t, data)
	if err != nil {
		t.Fatal(err)
	}
	s, _ := parquetSchema(t, f, CSVOptions{})
	want, _, _, err := parseParquetAll(t, f, 0, 4, 0, s)
	if err != nil {
		t.Fatal(err)
	}
	md := f.Metadata()
	for col := range md.RowGroups[2].Columns {
		m := &md.RowGroups[2].Columns[col].MetaData
		start := m.DataPageOffset
		if m.DictionaryPageOffset != 0 {
			start = m.DictionaryPageOffset
		}
		data = spliceChunk(t, data, md, 2, col, start+m.TotalCompressedSize, 0, bytes.Repeat([]byte{0xff}, 40))
	}
	f, err = openParquetFile(t, data)
	if err != nil {
		t.Fatal(err)
	}
	got, _, n, err := parseParquetAll(t, f, 0, 4, 0, s)
	if err != nil || n != 200 || !reflect.DeepEqual(got, want) {
		t.Fatalf("err %v, %d rows", err, n)
	}
}

// A page header that asks for a huge allocation, or whose data would
// inflate past its stated size, fails the row group with an error naming
// the file, row group, column, page and reason, having allocated little.
func TestParseParquetHostilePageHeader(t *testing.T) {
	dir := parquetFixtures(t)
	for _, tc := range []struct {
		file string
		edit func(*format.PageHeader)
		want string
	}{
		{"numeric-snappy", func(h *format.PageHeader) { h.UncompressedPageSize = math.MaxInt32 }, "uncompressed size 2147483647 is over the 64 MiB a page may have"},
		{"numeric-none", func(h *format.PageHeader) { h.CompressedPageSize = math.MaxInt32 }, "compressed size 2147483647 does not fit in the column chunk's"},
		{"numeric-v2", func(h *format.PageHeader) { h.DataPageHeaderV2.V.NumValues = math.MaxInt32 }, "2147483647 values, over the 16777216 a page may have"},
		{"numeric-none", func(h *format.PageHeader) { h.DataPageHeader.V.NumValues = 1 << 20 }, "1048576 values in a row group of 64 rows"},
		{"numeric-snappy", func(h *format.PageHeader) { h.UncompressedPageSize = 10 }, "SNAPPY data: a stated length of"},
		{"numeric-gzip", func(h *format.PageHeader) { h.UncompressedPageSize = 10 }, "GZIP data: decompresses to more than the page's 10 bytes"},
		{"numeric-zstd", func(h *format.PageHeader) { h.UncompressedPageSize = 10 }, "ZSTD data: decompresses to"},
	} {
		t.Run(tc.file+"/"+tc.want[:20], func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join(dir, tc.file+".parquet"))
			if err != nil {
				t.Fatal(err)
			}
			bad := patchPageHeader(t, data, 1, 0, tc.edit)
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			f, err := openParquetFile(t, bad)
			if err != nil {
				t.Fatal(err)
			}
			s, _ := parquetSchema(t, f, CSVOptions{})
			_, _, _, err = parseParquetAll(t, f, 0, 4, 0, s)
			runtime.ReadMemStats(&after)
			if err == nil || !strings.Contains(err.Error(), "f.parquet: row group 1") || !strings.Contains(err.Error(), "row group 1: column [a]: page 0 at byte") || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want %q", err, tc.want)
			} else if n := strings.Count(err.Error(), "row group 1"); n != 1 {
				t.Errorf("err = %v names the row group %d times, want once", err, n)
			}
			if a := after.TotalAlloc - before.TotalAlloc; a > 256<<20 {
				t.Errorf("allocated %d MiB", a>>20)
			}
			// The same edit on row group 0 fails planning's read of the
			// first row only for list fields; parsing row group 0 alone
			// reads no page of row group 1.
			if _, _, _, err := parseParquetAll(t, f, 0, 1, 0, s); err != nil {
				t.Errorf("row group 0: %v", err)
			}
		})
	}
	// Chunks that overlap are refused at open.
	f, data := openParquetFixture(t, filepath.Join(dir, "numeric-none.parquet"))
	md := f.Metadata()
	md.RowGroups[1].Columns[1].MetaData.DataPageOffset = md.RowGroups[1].Columns[0].MetaData.DataPageOffset + 1
	footer, err := thrift.Marshal(&thrift.CompactProtocol{}, md)
	if err != nil {
		t.Fatal(err)
	}
	end := len(data) - 8 - int(binary.LittleEndian.Uint32(data[len(data)-8:]))
	bad := append(append(bytes.Clone(data[:end]), footer...), 0, 0, 0, 0, 'P', 'A', 'R', '1')
	binary.LittleEndian.PutUint32(bad[len(bad)-8:], uint32(len(footer)))
	if _, err := openParquetFile(t, bad); err == nil || !strings.Contains(err.Error(), "row group 1: column chunk [b]") || !strings.Contains(err.Error(), "overlaps") {
		t.Errorf("overlapping chunks: err = %v", err)
	}
}

// The guard checks headers that a read holds only part of, or none of,
// by reading them itself: reads of 7 bytes through every column chunk
// check every page of a sound file, and stop at a bad one.
func TestParquetGuardSmallReads(t *testing.T) {
	dir := parquetFixtures(t)
	for _, file := range []string{"numeric-snappy", "numeric-gzip", "numeric-zstd", "numeric-v2", "numeric-dict", "list-double", "image-null"} {
		data, err := os.ReadFile(filepath.Join(dir, file+".parquet"))
		if err != nil {
			t.Fatal(err)
		}
		bad := patchPageHeader(t, data, 0, 0, func(h *format.PageHeader) { h.UncompressedPageSize = 1 << 30 })
		for _, tc := range []struct {
			data []byte
			want string
		}{{data, ""}, {bad, "row group 0: column ["}} {
			g := &pageGuard{r: bytes.NewReader(tc.data), size: int64(len(tc.data))}
			f, err := parquet.OpenFile(g, g.size)
			if err != nil {
				t.Fatal(err)
			}
			if err := g.index(f.Metadata(), func([]string) bool { return true }); err != nil {
				t.Fatal(err)
			}
			var failed error
			for _, c := range g.chunks {
				buf := make([]byte, 7)
				for off := c.start; off < c.end && failed == nil; off += 7 {
					_, failed = g.ReadAt(buf[:min(7, c.end-off)], off)
				}
				if failed == nil && (c.next != c.end || c.page == 0) {
					t.Errorf("%s: chunk %s checked to byte %d of %d..%d, %d pages", file, c.path, c.next, c.start, c.end, c.page)
				}
			}
			switch {
			case tc.want == "" && failed != nil:
				t.Errorf("%s: %v", file, failed)
			case tc.want != "" && (failed == nil || !strings.Contains(failed.Error(), tc.want) || !strings.Contains(failed.Error(), "uncompressed size 1073741824")):
				t.Errorf("%s patched: err = %v", file, failed)
			}
		}
	}
}

func FuzzParseParquet(f *testing.F) {
	type rec struct {
		A     float64   `parquet:"a,optional"`
		V     []float32 `parquet:"v,list"`
		Label int64     `parquet:"label"`
	}
	var buf bytes.Buffer
	w := parquet.NewGenericWriter[rec](&buf, parquet.MaxRowsPerRowGroup(3))
	for i := range 7 {
		w.Write([]rec{{A: float64(i) / 2, V: []float32{float32(i), 1}, Label: int64(i % 3)}})
	}
	if err := w.Close(); err != nil {
		f.Fatal(err)
	}
	f.Add(buf.Bytes())
	// Page headers asking for huge allocations, which the guard refuses.
	f.Add(patchPageHeader(f, buf.Bytes(), 1, 0, func(h *format.PageHeader) { h.UncompressedPageSize = math.MaxInt32 }))
	f.Add(patchPageHeader(f, buf.Bytes(), 0, 1, func(h *format.PageHeader) { h.CompressedPageSize = 1 << 30 }))
	f.Add(patchPageHeader(f, buf.Bytes(), 2, 2, func(h *format.PageHeader) {
		if h.DataPageHeader.Valid {
			h.DataPageHeader.V.NumValues = math.MaxInt32
		}
	}))
	s, err := NewCSVSchema([]string{"a", "v", "label"}, CSVOptions{Missing: MissingMean, MaxClasses: 10})
	if err != nil {
		f.Fatal(err)
	}
	if err := s.SetVectors(map[string]int{"v": 2}); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		pf, err := OpenParquet(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			return
		}
		if _, err := ScanParquet(pf, "f.parquet", "label"); err != nil {
			return
		}
		var got, rejected int64
		n, err := ParseParquet(pf, 0, len(pf.RowGroups()), 0, "f.parquet", s, 4, func(b *rows.Block) error {
			if err := b.Validate(); err != nil || b.Features != 3 {
				t.Fatalf("bad block: %v", err)
			}
			for _, v := range b.DenseValues {
				if math.IsInf(float64(v), 0) {
					t.Fatalf("infinite feature in %v", b.DenseValues)
				}
			}
			got += int64(b.Rows())
			return nil
		}, func(Reject) { rejected++ })
		if err == nil && got+rejected != n {
			t.Fatalf("rowsRead %d but %d rows + %d rejects", n, got, rejected)
		}
	})
}

func BenchmarkParseParquet(b *testing.B) {
	type rec struct {
		X0, X1, X2, X3, X4, X5, X6, X7, X8, X9 float64
		Label                                  int64 `parquet:"label"`
	}
	const n = 200_000
	var buf bytes.Buffer
	w := parquet.NewGenericWriter[rec](&buf, parquet.MaxRowsPerRowGroup(50_000), parquet.Compression(&parquet.Snappy))
	x := uint64(1)
	next := func() float64 { x = x*6364136223846793005 + 1442695040888963407; return float64(x>>11) / (1 << 53) }
	for i := range n {
		w.Write([]rec{{next(), next(), next(), next(), next(), next(), next(), next(), next(), next(), int64(i % 4)}})
	}
	if err := w.Close(); err != nil {
		b.Fatal(err)
	}
	f, err := OpenParquet(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		b.Fatal(err)
	}
	s, _ := parquetSchema(b, f, CSVOptions{})
	b.SetBytes(n * 11 * 8) // the values, as float64/int64
	b.ResetTimer()
	for range b.N {
		k, err := ParseParquet(f, 0, len(f.RowGroups()), 0, "b.parquet", s, 4096, func(*rows.Block) error { return nil }, nil)
		if err != nil || k != n {
			b.Fatal(k, err)
		}
	}
}

// BenchmarkParseParquetFile parses every row group of the Parquet file
// named by LIGHTBEAM_BENCH_PARQUET (all fields but "label" as features),
// as a preprocess task would but in one piece: the parse alone, for
// scripts/bench-parquet.sh.
func BenchmarkParseParquetFile(b *testing.B) {
	path := os.Getenv("LIGHTBEAM_BENCH_PARQUET")
	if path == "" {
		b.Skip("LIGHTBEAM_BENCH_PARQUET names no file")
	}
	file, err := os.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer file.Close()
	st, err := file.Stat()
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(st.Size())
	for range b.N {
		f, err := OpenParquet(file, st.Size())
		if err != nil {
			b.Fatal(err)
		}
		s, pf := parquetSchema(b, f, CSVOptions{})
		k, err := ParseParquet(f, 0, len(pf.RowGroups), 0, filepath.Base(path), s, 4096, func(*rows.Block) error { return nil }, nil)
		if err != nil || k != pf.Rows {
			b.Fatal(k, err)
		}
	}
}
