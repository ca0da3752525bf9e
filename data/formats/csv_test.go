package formats

import (
	"bufio"
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/lightbeam-ml/lightbeam/data/rows"
)

// parseCSVString parses data (header line first) in blocks of 2 rows and
// returns them merged into one, the rejects and rowsRead. Categorical
// columns get vocab, or when it is nil the vocabulary ScanCategories finds.
func parseCSVString(t testing.TB, data string, opts CSVOptions, vocab map[string]map[string]int64) (*CSVSchema, *rows.Block, []Reject, int64) {
	t.Helper()
	br := bufio.NewReader(strings.NewReader(data))
	header, _, err := ReadCSVHeader(br, opts.Comma)
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewCSVSchema(header, opts)
	if err != nil {
		t.Fatal(err)
	}
	if vocab == nil {
		_, off, _ := ReadCSVHeader(bufio.NewReader(strings.NewReader(data)), opts.Comma)
		if vocab, err = ScanCategories(strings.NewReader(data[off:]), "f.csv", s); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.SetVocab(vocab); err != nil {
		t.Fatal(err)
	}
	var blocks []*rows.Block
	var rejects []Reject
	n, err := ParseCSV(br, "f.csv", 2, s, 2, collect(t, &blocks), func(r Reject) { rejects = append(rejects, r) })
	if err != nil {
		t.Fatal(err)
	}
	all := rows.NewDense(s.Features, 0)
	for _, b := range blocks {
		if b.Rows() > 2 {
			t.Fatalf("block of %d rows, want at most 2", b.Rows())
		}
		for i := range b.Rows() {
			all.AppendRow(b, i)
		}
	}
	return s, all, rejects, n
}

func TestParseCSV(t *testing.T) {
	data := "\uFEFFx, y ,color,label\r\n" +
		"1.5,-2,red,0\r\n" +
		"\n" +
		` 3 , "4.25" , "blue" ,1` + "\n" +
		"1e3,0.1,red,2\n" +
		"  \n" +
		"7,8,green,1" // no final newline
	s, b, rejects, n := parseCSVString(t, data, CSVOptions{Categorical: []string{"color"}}, nil)
	if len(rejects) != 0 || n != 4 {
		t.Fatalf("rejects %v, rowsRead %d; want none, 4", rejects, n)
	}
	if want := []string{"x", "y", "color=blue", "color=green", "color=red"}; !reflect.DeepEqual(s.FeatureNames(), want) {
		t.Fatalf("FeatureNames = %q, want %q", s.FeatureNames(), want)
	}
	wantX := []float32{
		1.5, -2, 0, 0, 1,
		3, 4.25, 1, 0, 0,
		1000, 0.1, 0, 0, 1,
		7, 8, 0, 1, 0,
	}
	if !reflect.DeepEqual(b.DenseValues, wantX) {
		t.Errorf("features %v\nwant %v", b.DenseValues, wantX)
	}
	if want := []float32{0, 1, 2, 1}; !reflect.DeepEqual(b.Labels, want) {
		t.Errorf("labels %v, want %v", b.Labels, want)
	}
	for i, line := range []int64{2, 4, 5, 7} {
		if b.IDs[i] != rows.RecordID("f.csv", line) {
			t.Errorf("row %d: ID is not RecordID(f.csv, %d)", i, line)
		}
	}
}

func TestParseCSVOptions(t *testing.T) {
	data := "id,species,a,city\n" +
		"x1,setosa,1,paris\n" +
		"x2,virginica,NA,rome\n" +
		"x3,setosa,?,\n"
	opts := CSVOptions{Label: "1", Ignore: []string{"id"}, Categorical: []string{"city"}, Classes: []string{"setosa", "virginica"},
		Missing: MissingMean, MaxOneHot: 1, HashBuckets: 3}
	s, b, rejects, _ := parseCSVString(t, data, opts, nil)
	if len(rejects) != 0 {
		t.Fatalf("rejects %v", rejects)
	}
	if want := []string{"a", "city#hash0", "city#hash1", "city#hash2"}; !reflect.DeepEqual(s.FeatureNames(), want) {
		t.Fatalf("FeatureNames = %q, want %q", s.FeatureNames(), want)
	}
	if s.LabelName() != "species" || !reflect.DeepEqual(b.Labels, []float32{0, 1, 0}) {
		t.Fatalf("label %q, labels %v", s.LabelName(), b.Labels)
	}
	row := func(i int) []float32 { return b.DenseValues[i*4 : i*4+4] }
	if row(0)[0] != 1 || !math.IsNaN(float64(row(1)[0])) || !math.IsNaN(float64(row(2)[0])) {
		t.Errorf("column a: %v %v %v; want 1 NaN NaN", row(0)[0], row(1)[0], row(2)[0])
	}
	for i, city := range []string{"paris", "rome"} {
		want := make([]float32, 3)
		want[hashBucket([]byte(city), 3)] = 1
		if !reflect.DeepEqual(row(i)[1:], want) {
			t.Errorf("row %d city %v, want %v", i, row(i)[1:], want)
		}
	}
	for _, v := range row(2)[1:] {
		if !math.IsNaN(float64(v)) {
			t.Errorf("missing city encodes as %v, want NaN", row(2)[1:])
		}
	}
	// Missing "zero", tab-separated, regression.
	s, b, rejects, _ = parseCSVString(t, "a\tb\ty\n1\t\t-2.5\n", CSVOptions{Comma: '\t', Missing: MissingZero, Task: Regression, Label: "y"}, nil)
	if len(rejects) != 0 || !reflect.DeepEqual(b.DenseValues, []float32{1, 0}) || b.Labels[0] != -2.5 || s.Features != 2 {
		t.Errorf("zero/tab/regression: rejects %v, row %v, label %v", rejects, b.DenseValues, b.Labels)
	}
}

func TestParseCSVRejects(t *testing.T) {
	header := "a,b,color,label\n"
	good := "1,2,red,3\n"
	for _, tc := range []struct {
		line, want string
		opts       CSVOptions
	}{
		{"1,2,red", "has 3 columns, header has 4", CSVOptions{}},
		{"1,2,red,3,4", "has 5 columns, header has 4", CSVOptions{}},
		{"abc,2,red,3", `column 1 ("a"): not a number: "abc"`, CSVOptions{}},
		{"1,NaN,red,3", `column 2 ("b"): NaN value`, CSVOptions{}},
		{"1,-Inf,red,3", `column 2 ("b"): infinite value: "-Inf"`, CSVOptions{}},
		{"1,1e39,red,3", `column 2 ("b"): out of float32 range: "1e39"`, CSVOptions{}},
		{"1,,red,3", `column 2 ("b"): missing value`, CSVOptions{}},
		{"1,2,,3", `column 3 ("color"): missing value`, CSVOptions{}},
		{"1,2,blue,3", `column 3 ("color"): category "blue" not in the vocabulary`, CSVOptions{}},
		{"1,2,red,", `column 4 ("label"): missing label`, CSVOptions{Missing: MissingZero}},
		{"1,2,red,-1", `column 4 ("label"): label "-1" is not a class in 0..9`, CSVOptions{MaxClasses: 10}},
		{"1,2,red,1.5", `column 4 ("label"): label "1.5" is not a class in 0..9`, CSVOptions{MaxClasses: 10}},
		{"1,2,red,10", `column 4 ("label"): label "10" is not a class in 0..9`, CSVOptions{MaxClasses: 10}},
		{"1,2,red,cat", `column 4 ("label"): label: not a number: "cat"`, CSVOptions{}},
		{"1,2,red,dog", `column 4 ("label"): unknown label "dog"`, CSVOptions{Classes: []string{"cat", "3"}}},
		{"1,2,red,nan", `column 4 ("label"): label: NaN value`, CSVOptions{Task: Regression}},
		{`1,"2,red,3`, "field 2: unterminated quote (a quoted field cannot span lines)", CSVOptions{}},
		{`1,"2"x,red,3`, "field 2: text after the closing quote", CSVOptions{}},
		{`1,2"",red,3`, "field 2: quote inside an unquoted field", CSVOptions{}},
	} {
		opts := tc.opts
		opts.Categorical = []string{"color"}
		vocab := map[string]map[string]int64{"color": {"red": 2}}
		_, b, rejects, n := parseCSVString(t, header+good+tc.line+"\n"+good, opts, vocab)
		if n != 3 || b.Rows() != 2 {
			t.Errorf("%q: rowsRead %d, rows %d; want 3, 2", tc.line, n, b.Rows())
		}
		want := Reject{File: "f.csv", Record: 3, Reason: tc.want}
		if len(rejects) != 1 || rejects[0] != want {
			t.Errorf("%q: rejects %q\nwant %q", tc.line, rejects, want)
		}
	}
}

func TestCSVSchemaErrors(t *testing.T) {
	h := []string{"a", "b", "label"}
	for _, tc := range []struct {
		header []string
		opts   CSVOptions
		want   string
	}{
		{nil, CSVOptions{}, "csv: empty header"},
		{[]string{"a", "a"}, CSVOptions{}, `csv: header names column "a" twice`},
		{h, CSVOptions{Label: "z"}, `csv: label: no column "z" in the header (3 columns)`},
		{h, CSVOptions{Label: "3"}, `csv: label: no column "3"`},
		{h, CSVOptions{Categorical: []string{"label"}}, `csv: column "label" is both label and categorical`},
		{h, CSVOptions{Ignore: []string{"a"}, Categorical: []string{"0"}}, `csv: column "a" is both ignored and categorical`},
		{h, CSVOptions{Missing: "drop"}, `csv: unknown Missing policy "drop"`},
		{h, CSVOptions{Comma: '"'}, "csv: separator"},
		{h, CSVOptions{Comma: '€'}, "csv: separator"},
		{h, CSVOptions{Task: "ranking"}, `csv: unknown task "ranking"`},
		{h, CSVOptions{Task: Regression, Classes: []string{"a"}}, "csv: a regression task takes no class vocabulary"},
		{h, CSVOptions{Classes: []string{"a", "a"}}, `csv: class "a" listed twice`},
	} {
		_, err := NewCSVSchema(tc.header, tc.opts)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("NewCSVSchema(%q, %+v) = %v; want %q", tc.header, tc.opts, err, tc.want)
		}
	}
	s, err := NewCSVSchema([]string{"c", "label"}, CSVOptions{Categorical: []string{"c"}})
	if err != nil {
		t.Fatal(err)
	}
	if s.Ready || s.FeatureNames() != nil {
		t.Fatal("schema with an unset vocabulary is Ready")
	}
	_, err = ParseCSV(strings.NewReader("a,1\n"), "f.csv", 2, s, 10, func(*rows.Block) error { return nil }, nil)
	if err == nil || !strings.Contains(err.Error(), "f.csv: csv schema has categorical columns without a vocabulary") {
		t.Fatalf("ParseCSV before SetVocab: %v", err)
	}
}

func TestScanCategories(t *testing.T) {
	s, err := NewCSVSchema([]string{"c", "d", "label"}, CSVOptions{Categorical: []string{"c", "d"}, MaxOneHot: 2})
	if err != nil {
		t.Fatal(err)
	}
	v, err := ScanCategories(strings.NewReader("x,a,0\ny,b,0\nx,c,0\n\"x\",d,0\nbad line\nNA,a,1\n"), "f.csv", s)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]map[string]int64{"c": {"x": 3, "y": 1}, "d": {"a": 2, "b": 1, "c": 1}} // d capped at MaxOneHot+1
	if !reflect.DeepEqual(v, want) {
		t.Fatalf("ScanCategories = %v, want %v", v, want)
	}
	s.MergeCategories(v, map[string]map[string]int64{"c": {"x": 1, "z": 5}, "d": {"e": 1}})
	want["c"]["x"], want["c"]["z"] = 4, 5
	if !reflect.DeepEqual(v, want) {
		t.Fatalf("MergeCategories = %v, want %v", v, want)
	}
	s.SetVocab(v)
	// Both columns now exceed MaxOneHot: 16 hashed features each.
	if names := s.FeatureNames(); len(names) != 32 || s.Features != 32 || names[1] != "c#hash1" || names[16] != "d#hash0" {
		t.Fatalf("FeatureNames = %q (features %d)", s.FeatureNames(), s.Features)
	}
}

// TestChunkedCSV checks that parsing the chunks of a file gives the rows,
// IDs and rejects of parsing it whole.
func TestChunkedCSV(t *testing.T) {
	data := genCSV(5, 500, 7, true)
	br := bufio.NewReader(bytes.NewReader(data))
	header, off, err := ReadCSVHeader(br, 0)
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewCSVSchema(header, CSVOptions{})
	if err != nil {
		t.Fatal(err)
	}
	parse := func(r *bytes.Reader, first int64) ([]float32, []uint64, []Reject) {
		var x []float32
		var ids []uint64
		var rej []Reject
		_, err := ParseCSV(r, "g.csv", first, s, 64, func(b *rows.Block) error {
			x, ids = append(x, b.DenseValues...), append(ids, b.IDs...)
			return nil
		}, func(r Reject) { rej = append(rej, r) })
		if err != nil {
			t.Fatal(err)
		}
		return x, ids, rej
	}
	wantX, wantIDs, wantRej := parse(bytes.NewReader(data[off:]), 2)
	if len(wantRej) == 0 || len(wantIDs) < 400 {
		t.Fatalf("generated file gave %d rows and %d rejects", len(wantIDs), len(wantRej))
	}
	for _, target := range []int64{1, 100, 1000, 1 << 20} {
		chunks, err := ChunkLines(bytes.NewReader(data), int64(len(data)), off, target)
		if err != nil {
			t.Fatal(err)
		}
		var x []float32
		var ids []uint64
		var rej []Reject
		for _, c := range chunks {
			cx, cids, crej := parse(bytes.NewReader(data[c.Offset:c.Offset+c.Length]), c.FirstLine)
			x, ids, rej = append(x, cx...), append(ids, cids...), append(rej, crej...)
		}
		if !reflect.DeepEqual(ids, wantIDs) || !reflect.DeepEqual(rej, wantRej) || !reflect.DeepEqual(x, wantX) {
			t.Errorf("target %d: %d chunks give %d rows, %d rejects; whole file %d, %d", target, len(chunks), len(ids), len(rej), len(wantIDs), len(wantRej))
		}
	}
}

// genCSV returns a CSV with a header, cols feature columns and a label in
// 0..9; with bad, about 1% of lines are malformed.
func genCSV(cols, n int, seed uint64, bad bool) []byte {
	rng := rand.New(rand.NewPCG(seed, seed))
	var b []byte
	for j := range cols {
		b = fmt.Appendf(b, "f%d,", j)
	}
	b = append(b, "label\n"...)
	for i := range n {
		for range cols {
			b = strconv.AppendFloat(b, rng.NormFloat64(), 'f', 6, 32)
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, int64(rng.IntN(10)), 10)
		if bad && i%97 == 5 {
			b = append(b, ",extra"...)
		}
		b = append(b, '\n')
	}
	return b
}

func FuzzParseCSV(f *testing.F) {
	f.Add([]byte("1,2,red,3\n\"4\",5 , blue ,0\r\n"))
	f.Add([]byte("1,,NA,3\nNaN,inf,\"re\"\"d\",1\n\"unterminated,2,3,4\n"))
	f.Add([]byte("1e5,-0.5,green,\n,,,\n1,2,3,4,5\n"))
	s, err := NewCSVSchema([]string{"a", "b", "color", "label"}, CSVOptions{Categorical: []string{"color"}, Missing: MissingMean, MaxClasses: 10})
	if err != nil {
		f.Fatal(err)
	}
	s.SetVocab(map[string]map[string]int64{"color": {"red": 1, "blue": 1, `re"d`: 1}})
	f.Fuzz(func(t *testing.T, data []byte) {
		sink := &fuzzSink{t: t, firstRecord: 2}
		n, err := ParseCSV(bytes.NewReader(data), "f.csv", 2, s, 3, sink.emit, sink.reject)
		if err != nil {
			t.Fatal(err)
		}
		sink.check(n)
		if _, err := ScanCategories(bytes.NewReader(data), "f.csv", s); err != nil {
			t.Fatal(err)
		}
	})
}

func BenchmarkParseCSV(b *testing.B) {
	data := genCSV(50, 20000, 1, false)
	_, off, err := ReadCSVHeader(bufio.NewReader(bytes.NewReader(data)), 0)
	if err != nil {
		b.Fatal(err)
	}
	header := strings.Split(strings.TrimSpace(string(data[:off])), ",")
	s, err := NewCSVSchema(header, CSVOptions{})
	if err != nil {
		b.Fatal(err)
	}
	body := data[off:]
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		n, err := ParseCSV(bytes.NewReader(body), "bench.csv", 2, s, 4096, func(*rows.Block) error { return nil }, func(r Reject) { b.Fatal(r) })
		if err != nil || n != 20000 {
			b.Fatal(n, err)
		}
	}
}
