package formats

import (
	"bytes"
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/lightbeam-ml/lightbeam/data/rows"
)

// parseLIBSVMString parses data in blocks of 2 rows and returns them merged
// into one, the rejects and rowsRead.
func parseLIBSVMString(t testing.TB, data string, features int, opts LIBSVMOptions) (*rows.Block, []Reject, int64) {
	t.Helper()
	var rejects []Reject
	all := rows.NewSparse(features, 0)
	n, err := ParseLIBSVM(strings.NewReader(data), "f.svm", 1, features, opts, 2, func(b *rows.Block) error {
		if err := b.Validate(); err != nil || b.Rows() > 2 {
			t.Fatalf("bad block: %v, %d rows", err, b.Rows())
		}
		for i := range b.Rows() {
			all.AppendRow(b, i)
		}
		return nil
	}, func(r Reject) { rejects = append(rejects, r) })
	if err != nil {
		t.Fatal(err)
	}
	return all, rejects, n
}

func TestParseLIBSVM(t *testing.T) {
	data := "# a comment\n" +
		"1 1:0.5 3:-2\n" +
		"\n" +
		"0\t2:1e2   4:7 # trailing comment\r\n" +
		"2 qid:3 1:1\n" +
		"0" // no features, no final newline
	b, rejects, n := parseLIBSVMString(t, data, 4, LIBSVMOptions{})
	if len(rejects) != 0 || n != 4 {
		t.Fatalf("rejects %v, rowsRead %d", rejects, n)
	}
	want := &rows.Block{Features: 4, Sparse: true,
		Labels:  []float32{1, 0, 2, 0},
		IDs:     []uint64{rows.RecordID("f.svm", 2), rows.RecordID("f.svm", 4), rows.RecordID("f.svm", 5), rows.RecordID("f.svm", 6)},
		Indptr:  []int32{0, 2, 4, 5, 5},
		Indices: []int32{0, 2, 1, 3, 0},
		Values:  []float32{0.5, -2, 100, 7, 1},
	}
	if !reflect.DeepEqual(b, want) {
		t.Fatalf("got  %+v\nwant %+v", b, want)
	}

	b, rejects, _ = parseLIBSVMString(t, "-1 0:1\n+1 2:3\n", 3, LIBSVMOptions{ZeroBased: true, Binary: true})
	if len(rejects) != 0 || !reflect.DeepEqual(b.Labels, []float32{0, 1}) || !reflect.DeepEqual(b.Indices, []int32{0, 2}) {
		t.Fatalf("zero-based binary: rejects %v, labels %v, indices %v", rejects, b.Labels, b.Indices)
	}
	b, _, _ = parseLIBSVMString(t, "-3.25 1:1\n", 1, LIBSVMOptions{Task: Regression})
	if b.Labels[0] != -3.25 {
		t.Fatalf("regression label %v", b.Labels[0])
	}
}

func TestParseLIBSVMRejects(t *testing.T) {
	for _, tc := range []struct {
		line, want string
		opts       LIBSVMOptions
	}{
		{"1 0:1", "index 0 < 1 (indices are 1-based)", LIBSVMOptions{}},
		{"1 -1:1", "index -1 < 0 (indices are 0-based)", LIBSVMOptions{ZeroBased: true}},
		{"1 3:1 2:1", "index 2 not increasing after 3", LIBSVMOptions{}},
		{"1 2:1 2:1", "index 2 not increasing after 2", LIBSVMOptions{}},
		{"1 6:1", "index 6 beyond the 5 features", LIBSVMOptions{}},
		{"1 5:1", "index 5 beyond the 5 features", LIBSVMOptions{ZeroBased: true}},
		{"1 x:1", `index "x" is not an integer`, LIBSVMOptions{}},
		{"1 +2:1", `index "+2" is not an integer`, LIBSVMOptions{}},
		{"1 :1", `index "" is not an integer`, LIBSVMOptions{}},
		{"1 99999999999999999999:1", `index "99999999999999999999" is not an integer`, LIBSVMOptions{}},
		{"1 2", `element "2" has no ':'`, LIBSVMOptions{}},
		{"1 2:abc", `index 2: not a number: "abc"`, LIBSVMOptions{}},
		{"1 2:", `index 2: not a number: ""`, LIBSVMOptions{}},
		{"1 2:nan", "index 2: NaN value", LIBSVMOptions{}},
		{"1 2:-inf", `index 2: infinite value: "-inf"`, LIBSVMOptions{}},
		{"x 1:1", `label: not a number: "x"`, LIBSVMOptions{}},
		{"-1 1:1", `label "-1" is not a class in 0..999`, LIBSVMOptions{}},
		{"3 1:1", `label "3" is not a class in 0..2`, LIBSVMOptions{MaxClasses: 3}},
		{"2 1:1", `label "2" is not binary (-1, 0, +1)`, LIBSVMOptions{Binary: true}},
		{"inf 1:1", `label: infinite value: "inf"`, LIBSVMOptions{Task: Regression}},
		{"1,2 1:1", `label: not a number: "1,2"`, LIBSVMOptions{}},
	} {
		b, rejects, n := parseLIBSVMString(t, "1 1:1\n"+tc.line+"\n0 2:2\n", 5, tc.opts)
		want := Reject{File: "f.svm", Record: 2, Reason: tc.want}
		if n != 3 || b.Rows() != 2 || len(rejects) != 1 || rejects[0] != want {
			t.Errorf("%q: rowsRead %d, rows %d, rejects %q\nwant reject %q", tc.line, n, b.Rows(), rejects, want)
		}
	}
}

func TestParseLIBSVMErrors(t *testing.T) {
	nop := func(*rows.Block) error { return nil }
	for _, tc := range []struct {
		features, blockRows int
		opts                LIBSVMOptions
		want                string
	}{
		{0, 10, LIBSVMOptions{}, "f.svm: features must be in 1..2147483647, got 0"},
		{math.MaxInt32 + 1, 10, LIBSVMOptions{}, "f.svm: features must be in 1..2147483647"},
		{5, 0, LIBSVMOptions{}, "f.svm: blockRows must be positive, got 0"},
		{5, 10, LIBSVMOptions{Task: Regression, Binary: true}, "f.svm: a regression task takes no class vocabulary or binary labels"},
	} {
		_, err := ParseLIBSVM(strings.NewReader("1 1:1\n"), "f.svm", 1, tc.features, tc.opts, tc.blockRows, nop, nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("err = %v, want %q", err, tc.want)
		}
	}
	// An emit error aborts the parse and names the file.
	_, err := ParseLIBSVM(strings.NewReader("1 1:1\n0 1:2\n"), "f.svm", 1, 5, LIBSVMOptions{}, 1,
		func(*rows.Block) error { return errTest }, nil)
	if err == nil || err.Error() != "f.svm: emit: test error" {
		t.Errorf("emit error: %v", err)
	}
}

type testError struct{}

func (testError) Error() string { return "test error" }

var errTest = testError{}

func TestScanLIBSVM(t *testing.T) {
	m, err := ScanLIBSVM(strings.NewReader("1 3:1 17:2 # 99:1\n0 qid:4 x:1 5:1\n0 2:bad 20:1"), "f.svm")
	if err != nil || m != 20 {
		t.Fatalf("ScanLIBSVM = %d, %v; want 20", m, err)
	}
	if m, err := ScanLIBSVM(strings.NewReader("1\n\n"), "f.svm"); err != nil || m != -1 {
		t.Fatalf("ScanLIBSVM of no index = %d, %v; want -1", m, err)
	}
}

func FuzzParseLIBSVM(f *testing.F) {
	f.Add([]byte("1 1:0.5 3:-2\n0\t2:1e2 # c\n"), false)
	f.Add([]byte("-1 0:1 0:2\n+1 9:1\nx\n3 qid:1 2:nan\n"), true)
	f.Add([]byte("# only\n\n1 4:1e40 5:\n"), false)
	f.Fuzz(func(t *testing.T, data []byte, zeroBased bool) {
		const features = 8
		var got, rejected int64
		n, err := ParseLIBSVM(bytes.NewReader(data), "f.svm", 1, features, LIBSVMOptions{ZeroBased: zeroBased, MaxClasses: 4}, 3, func(b *rows.Block) error {
			if err := b.Validate(); err != nil || b.Rows() > 3 {
				t.Fatalf("bad block: %v, %d rows", err, b.Rows())
			}
			for _, v := range b.Values {
				if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
					t.Fatalf("non-finite value in %v", b.Values)
				}
			}
			got += int64(b.Rows())
			return nil
		}, func(Reject) { rejected++ })
		if err != nil {
			t.Fatal(err)
		}
		if got+rejected != n {
			t.Fatalf("rowsRead %d but %d rows + %d rejects", n, got, rejected)
		}
		if _, err := ScanLIBSVM(bytes.NewReader(data), "f.svm"); err != nil {
			t.Fatal(err)
		}
	})
}
