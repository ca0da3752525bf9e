package transforms

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/lightbeam-ml/lightbeam/data/formats/formatstest"
	"github.com/lightbeam-ml/lightbeam/storage"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/passert"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"

	"github.com/lightbeam-ml/lightbeam/data/formats"
	"github.com/lightbeam-ml/lightbeam/data/rows"
)

// idxFiles returns an IDX image file of len(labels) images of h×w pixels
// (pixel j of image i is byte(i+j)) and its label file.
func idxFiles(h, w int, labels ...byte) (images, lbls []byte) {
	return formatstest.IDXImages(len(labels), h, w, formatstest.Diagonal), formatstest.IDXLabels(labels...)
}

func gzipBytes(b []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	zw.Close()
	return buf.Bytes()
}

func writeFile(t *testing.T, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// rejectLine is one line of a rejects/*.jsonl file.
type rejectLine struct {
	File   string `json:"file"`
	Record int64  `json:"record"`
	Reason string `json:"reason"`
}

func readRejects(t *testing.T, path string) []rejectLine {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []rejectLine
	dec := json.NewDecoder(bytes.NewReader(b))
	for dec.More() {
		var r rejectLine
		if err := dec.Decode(&r); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		out = append(out, r)
	}
	return out
}

// rowStrings renders every row of a keyed block as
// "key|label|v1,v2,...|id", so that passert can compare contents.
func rowStrings(key int, b rows.Block, emit func(string)) {
	for i := 0; i < b.Rows(); i++ {
		emit(fmt.Sprintf("%d|%g|%s|%x", key, b.Labels[i], rowValues(&b, i), b.IDs[i]))
	}
}

func rowValues(b *rows.Block, i int) string {
	var parts []string
	if b.Sparse {
		for k := b.Indptr[i]; k < b.Indptr[i+1]; k++ {
			parts = append(parts, fmt.Sprintf("%d:%g", b.Indices[k], b.Values[k]))
		}
	} else {
		for _, v := range b.DenseValues[i*b.Features : (i+1)*b.Features] {
			parts = append(parts, fmt.Sprintf("%g", v))
		}
	}
	return strings.Join(parts, ",")
}

// blockSizes renders a block's size, to check the blocking.
func blockSizes(key int, b rows.Block) string {
	return fmt.Sprintf("%d:%d×%d", key, b.Rows(), b.Features)
}

// countString renders a ParseCount without its byte count.
func countString(c ParseCount) string {
	return fmt.Sprintf("%s@%d rows=%d rejected=%d file=%s", filepath.Base(c.Source), c.Offset, c.Rows, c.Rejected, c.RejectFile)
}

func countBytes(c ParseCount) int64 { return c.Bytes }
func sumInt64(a, b int64) int64     { return a + b }

func init() {
	register.Function3x0(rowStrings)
	register.Function2x1(blockSizes)
	register.Function1x1(countString)
	register.Function1x1(countBytes)
	register.Function2x1(sumInt64)
}

func row(key int, label float32, id uint64, vals ...string) string {
	return fmt.Sprintf("%d|%g|%s|%x", key, label, strings.Join(vals, ","), id)
}

func TestParseIDX(t *testing.T) {
	dir := t.TempDir()
	out := t.TempDir()
	img, lbl := idxFiles(1, 2, 3, 12, 7, 1, 0) // record 1's label 12 is not a class
	plainImg := writeFile(t, dir, "train-img", img)
	plainLbl := writeFile(t, dir, "train-lbl", lbl)
	timg, tlbl := idxFiles(1, 2, 9)
	gzImg := writeFile(t, dir, "test-img.gz", gzipBytes(timg))
	gzLbl := writeFile(t, dir, "test-lbl.gz", gzipBytes(tlbl))

	tasks := []ParseTask{
		{Path: plainImg, LabelsPath: plainLbl, Length: -1, Split: -1},
		{Path: gzImg, LabelsPath: gzLbl, Length: -1, Split: Test},
	}
	p, s := beam.NewPipelineWithRoot()
	blocks, counts := Parse(s, beam.CreateList(s, tasks), ParseConfig{Format: "idx", Dir: out, BlockRows: 2, NumClasses: 10})
	id := func(rec int64) uint64 { return rows.RecordID("train-img", rec) }
	passert.Equals(s, beam.ParDo(s, rowStrings, blocks),
		row(-1, 3, id(0), "0", "1"), row(-1, 7, id(2), "2", "3"), row(-1, 1, id(3), "3", "4"), row(-1, 0, id(4), "4", "5"),
		row(Test, 9, rows.RecordID("test-img.gz", 0), "0", "1"))
	// Four good training rows in blocks of two; the test file's one row.
	passert.Equals(s, beam.ParDo(s, blockSizes, blocks), "-1:2×2", "-1:2×2", "2:1×2")
	passert.Equals(s, beam.ParDo(s, countString, counts),
		"train-img@0 rows=5 rejected=1 file=rejects/train-img-0.jsonl",
		"test-img.gz@0 rows=1 rejected=0 file=")
	// Bytes count both files as stored.
	stored := int64(len(img) + len(lbl) + len(gzipBytes(timg)) + len(gzipBytes(tlbl)))
	passert.Equals(s, beam.Combine(s, sumInt64, beam.ParDo(s, countBytes, counts)), stored)
	ptest.RunAndValidate(t, p)

	got := readRejects(t, filepath.Join(out, "rejects", "train-img-0.jsonl"))
	want := []rejectLine{{File: "train-lbl", Record: 1, Reason: "label 12 >= 10 classes"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("rejects = %+v, want %+v", got, want)
	}
}

func csvSchema(t *testing.T, header []string, opts formats.CSVOptions) *formats.CSVSchema {
	t.Helper()
	s, err := formats.NewCSVSchema(header, opts)
	if err != nil {
		t.Fatal(err)
	}
	if !s.Ready {
		t.Fatal("schema not ready")
	}
	return s
}

func TestParseCSV(t *testing.T) {
	dir, out := t.TempDir(), t.TempDir()
	data := "a,b,label\n" + // line 1
		"1,2,0\n" + // 2
		"3,x,1\n" + // 3: not a number
		"\n" + // 4: blank, skipped
		"5,6\n" + // 5: two columns
		"7,NaN,1\n" + // 6
		"8,inf,1\n" + // 7
		"9,10,5\n" + // 8: label 5 not in 0..1 (MaxClasses 2)
		",11,0\n" + // 9: missing under reject
		"12,13,1\n" // 10
	plain := writeFile(t, dir, "d.csv", []byte(data))
	gz := writeFile(t, dir, "g.csv.gz", gzipBytes([]byte(data)))
	schema := csvSchema(t, []string{"a", "b", "label"}, formats.CSVOptions{MaxClasses: 2})
	header := int64(len("a,b,label\n"))
	// The plain file in two chunks (as the plan cuts it: after the header),
	// the gzipped one whole (header included).
	split := header + int64(len("1,2,0\n3,x,1\n\n"))
	tasks := []ParseTask{
		{Path: plain, Offset: header, Length: split - header, FirstLine: 2, Split: -1},
		{Path: plain, Offset: split, Length: -1, FirstLine: 5, Split: -1},
		{Path: gz, Length: -1, FirstLine: 1, Split: -1},
	}
	p, s := beam.NewPipelineWithRoot()
	blocks, counts := Parse(s, beam.CreateList(s, tasks), ParseConfig{Format: "csv", Dir: out, BlockRows: 100, CSV: schema})
	var want []any
	for _, name := range []string{"d.csv", "g.csv.gz"} {
		want = append(want, row(-1, 0, rows.RecordID(name, 2), "1", "2"), row(-1, 1, rows.RecordID(name, 10), "12", "13"))
	}
	passert.Equals(s, beam.ParDo(s, rowStrings, blocks), want...)
	passert.Equals(s, beam.ParDo(s, countString, counts),
		fmt.Sprintf("d.csv@%d rows=2 rejected=1 file=rejects/d.csv-%d.jsonl", header, header),
		fmt.Sprintf("d.csv@%d rows=6 rejected=5 file=rejects/d.csv-%d.jsonl", split, split),
		"g.csv.gz@0 rows=8 rejected=6 file=rejects/g.csv.gz-0.jsonl")
	ptest.RunAndValidate(t, p)

	wantRejects := func(name string) []rejectLine {
		return []rejectLine{
			{name, 3, `column 2 ("b"): not a number: "x"`},
			{name, 5, "has 2 columns, header has 3"},
			{name, 6, `column 2 ("b"): NaN value`},
			{name, 7, `column 2 ("b"): infinite value: "inf"`},
			{name, 8, `column 3 ("label"): label "5" is not a class in 0..1`},
			{name, 9, `column 1 ("a"): missing value`},
		}
	}
	got := append(readRejects(t, filepath.Join(out, "rejects", fmt.Sprintf("d.csv-%d.jsonl", header))),
		readRejects(t, filepath.Join(out, "rejects", fmt.Sprintf("d.csv-%d.jsonl", split)))...)
	if w := wantRejects("d.csv"); !reflect.DeepEqual(got, w) {
		t.Errorf("d.csv rejects:\n got %+v\nwant %+v", got, w)
	}
	// The gzipped file is parsed whole, header first: its line numbers
	// must still count the header.
	if got, w := readRejects(t, filepath.Join(out, "rejects", "g.csv.gz-0.jsonl")), wantRejects("g.csv.gz"); !reflect.DeepEqual(got, w) {
		t.Errorf("g.csv.gz rejects:\n got %+v\nwant %+v", got, w)
	}
}

func TestParseLIBSVM(t *testing.T) {
	dir, out := t.TempDir(), t.TempDir()
	data := "1 1:0.5 3:2\n" + // 1
		"0 2:1 # comment\n" + // 2
		"1 3:1 2:1\n" + // 3: not increasing
		"0 0:1\n" + // 4: not positive (1-based)
		"1 5:1\n" + // 5: beyond 4 features
		"# only a comment\n" + // 6: skipped
		"0 1:abc\n" + // 7
		"1 2:nan\n" + // 8
		"0\n" // 9: no features
	path := writeFile(t, dir, "s.svm", []byte(data))
	tasks := []ParseTask{{Path: path, Length: -1, FirstLine: 1, Split: Validation}}
	p, s := beam.NewPipelineWithRoot()
	blocks, counts := Parse(s, beam.CreateList(s, tasks), ParseConfig{
		Format: "libsvm", Dir: out, BlockRows: 2, LIBSVM: &LIBSVMConfig{Features: 4}})
	id := func(line int64) uint64 { return rows.RecordID("s.svm", line) }
	passert.Equals(s, beam.ParDo(s, rowStrings, blocks),
		row(Validation, 1, id(1), "0:0.5", "2:2"), row(Validation, 0, id(2), "1:1"), row(Validation, 0, id(9)))
	passert.Equals(s, beam.ParDo(s, blockSizes, blocks), "1:2×4", "1:1×4")
	passert.Equals(s, beam.ParDo(s, countString, counts), "s.svm@0 rows=8 rejected=5 file=rejects/s.svm-0.jsonl")
	ptest.RunAndValidate(t, p)
	want := []rejectLine{
		{"s.svm", 3, "index 2 not increasing after 3"},
		{"s.svm", 4, "index 0 < 1 (indices are 1-based)"},
		{"s.svm", 5, "index 5 beyond the 4 features"},
		{"s.svm", 7, `index 1: not a number: "abc"`},
		{"s.svm", 8, "index 2: NaN value"},
	}
	if got := readRejects(t, filepath.Join(out, "rejects", "s.svm-0.jsonl")); !reflect.DeepEqual(got, want) {
		t.Errorf("rejects:\n got %+v\nwant %+v", got, want)
	}
}

// A file that cannot be read fails the job with an error naming it.
func TestParseCorruptInputFails(t *testing.T) {
	dir := t.TempDir()
	img, lbl := idxFiles(2, 2, 1, 2, 3)
	gz := gzipBytes(img)
	gz[len(gz)/2] ^= 0xff // corrupt the deflate stream
	for _, tc := range []struct {
		name      string
		task      func() ParseTask
		format    string
		wantInErr []string
	}{
		{"corrupt gzip", func() ParseTask {
			return ParseTask{Path: writeFile(t, dir, "bad-img.gz", gz), LabelsPath: writeFile(t, dir, "lbl1", lbl), Length: -1, Split: -1}
		}, "idx", []string{"bad-img.gz"}},
		{"header count disagrees with the file", func() ParseTask {
			short := append([]byte(nil), img[:len(img)-4]...) // one image missing
			return ParseTask{Path: writeFile(t, dir, "short-img", short), LabelsPath: writeFile(t, dir, "lbl2", lbl), Length: -1, Split: -1}
		}, "idx", []string{"short-img", "header says 3 images"}},
		{"huge header count", func() ParseTask {
			huge := append([]byte(nil), img...)
			binary.BigEndian.PutUint32(huge[4:], 1<<31)
			return ParseTask{Path: writeFile(t, dir, "huge-img.gz", gzipBytes(huge)), LabelsPath: writeFile(t, dir, "lbl3", lbl), Length: -1, Split: -1}
		}, "idx", []string{"huge-img.gz"}},
		{"truncated gzip csv", func() ParseTask {
			z := gzipBytes([]byte("a,label\n1,0\n2,1\n3,0\n"))
			return ParseTask{Path: writeFile(t, dir, "cut.csv.gz", z[:len(z)-6]), Length: -1, FirstLine: 1, Split: -1}
		}, "csv", []string{"cut.csv.gz"}},
		{"missing file", func() ParseTask {
			return ParseTask{Path: filepath.Join(dir, "nope.csv"), Length: -1, FirstLine: 1, Split: -1}
		}, "csv", []string{"nope.csv"}},
		{"file replaced after planning", func() ParseTask {
			p := writeFile(t, dir, "moved.csv", []byte("a,label\n1,0\n2,1\n"))
			info, err := storage.Stat(context.Background(), p)
			if err != nil {
				t.Fatal(err)
			}
			// Another writer replaces it (a new inode) before the task runs.
			writeFile(t, dir, "moved.csv.new", []byte("a,label\n9,1\n8,0\n7,1\n"))
			if err := os.Rename(filepath.Join(dir, "moved.csv.new"), p); err != nil {
				t.Fatal(err)
			}
			return ParseTask{Path: p, Offset: int64(len("a,label\n")), Length: -1, FirstLine: 2, Split: -1, Generation: info.Generation}
		}, "csv", []string{"moved.csv", "changed"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := ParseConfig{Format: tc.format, Dir: t.TempDir(), BlockRows: 10, NumClasses: 10}
			if tc.format == "csv" {
				cfg.CSV = csvSchema(t, []string{"a", "label"}, formats.CSVOptions{})
			}
			p, s := beam.NewPipelineWithRoot()
			blocks, _ := Parse(s, beam.Create(s, tc.task()), cfg)
			beam.ParDo(s, blockSizes, blocks)
			err := ptest.Run(p)
			if err == nil {
				t.Fatal("the pipeline succeeded")
			}
			for _, w := range tc.wantInErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not mention %q: %v", w, err)
				}
			}
		})
	}
}
