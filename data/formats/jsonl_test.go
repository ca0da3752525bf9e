package formats

import (
	"bytes"
	"math"
	"os/exec"
	"reflect"
	"strings"
	"testing"

	"github.com/lightbeam-ml/lightbeam/data/rows"
	"github.com/lightbeam-ml/lightbeam/internal/pyenv"
)

// jsonlSchema lays out the fields ScanJSONLFields finds in data (array
// fields as vectors) under opts, with the vocabulary of its categorical
// fields.
func jsonlSchema(t testing.TB, data string, opts CSVOptions) *CSVSchema {
	t.Helper()
	fields, err := ScanJSONLFields(strings.NewReader(data), "f.jsonl", 0)
	if err != nil {
		t.Fatal(err)
	}
	s := fieldSchema(t, fields, opts)
	vocab, err := ScanJSONLCategories(strings.NewReader(data), "f.jsonl", s)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SetVocab(vocab); err != nil {
		t.Fatal(err)
	}
	return s
}

// parseJSONLString parses data in blocks of 2 rows and returns them merged.
func parseJSONLString(t testing.TB, data string, s *CSVSchema) (*rows.Block, []Reject, int64) {
	t.Helper()
	var blocks []*rows.Block
	var rejects []Reject
	n, err := ParseJSONL(strings.NewReader(data), "f.jsonl", 1, s, 2, collect(t, &blocks), func(r Reject) { rejects = append(rejects, r) })
	if err != nil {
		t.Fatal(err)
	}
	return mergeBlocks(s.Features, blocks), rejects, n
}

func TestParseJSONL(t *testing.T) {
	data := "\uFEFF" + `{"x": 1.5, "color": "red", "v": [1, 2, 3], "label": 0, "note": {"a": [1]}}` + "\n" +
		"\n" +
		`  {"label": 1, "v": [-1e3, 0.25, null], "x": "2", "color": "bl\u0075e"}  ` + "\r\n" +
		`{"x": true, "color": "red", "v": [0,0,0], "label": 1, "x2": "ignored"}` + "\n" +
		`{"x": null, "color": "red", "v": [4, 5, 6], "label": 0}` // no final newline
	s := jsonlSchema(t, data, CSVOptions{Categorical: []string{"color"}, Missing: MissingMean})
	if want := []string{"x", "color=blue", "color=red", "v[0]", "v[1]", "v[2]", "note", "x2"}; !reflect.DeepEqual(s.FeatureNames(), want) {
		t.Fatalf("features %v, want %v", s.FeatureNames(), want)
	}
	// Drop the fields that are not features.
	s = jsonlSchema(t, data, CSVOptions{Categorical: []string{"color"}, Missing: MissingMean, Ignore: []string{"note", "x2"}})
	blk, rejects, n := parseJSONLString(t, data, s)
	if len(rejects) != 0 || n != 4 {
		t.Fatalf("rejects %v, rows read %d", rejects, n)
	}
	nan := float32(math.NaN())
	want := [][]float32{
		{1.5, 0, 1, 1, 2, 3},
		{2, 1, 0, -1000, 0.25, nan},
		{1, 0, 1, 0, 0, 0},
		{nan, 0, 1, 4, 5, 6},
	}
	for i, w := range want {
		got := blk.DenseValues[i*6 : i*6+6]
		for k := range w {
			if got[k] != w[k] && !(w[k] != w[k] && got[k] != got[k]) {
				t.Errorf("row %d: %v, want %v", i, got, w)
				break
			}
		}
	}
	if !reflect.DeepEqual(blk.Labels, []float32{0, 1, 1, 0}) {
		t.Errorf("labels %v", blk.Labels)
	}
	for i, line := range []int64{1, 3, 4, 5} {
		if blk.IDs[i] != rows.RecordID("f.jsonl", line) {
			t.Errorf("row %d: ID is not the record ID of line %d", i, line)
		}
	}
}

func TestParseJSONLRejects(t *testing.T) {
	good := `{"a": 1, "v": [1, 2], "label": 1}`
	s := jsonlSchema(t, good, CSVOptions{MaxClasses: 3})
	for _, tc := range []struct{ line, reason string }{
		{`[1, 2]`, "not a JSON object"},
		{`{"a": 1, "v": [1, 2], "label": 1`, "invalid JSON at byte 33: want ',' or '}'"},
		{`{"a": 1, "v": [1, 2], "label": 1} x`, "invalid JSON at byte 35: text after the object"},
		{`{"a": 1, "a": 2, "v": [1, 2], "label": 1}`, `field "a" given twice`},
		{`{"a": {"b": 1}, "v": [1, 2], "label": 1}`, `field "a": a nested object`},
		{`{"a": [1], "v": [1, 2], "label": 1}`, `field "a": an array where a single value is expected`},
		{`{"a": 1, "v": 3, "label": 1}`, `field "v": a single value where an array of 2 is expected`},
		{`{"a": 1, "v": [1, 2, 3], "label": 1}`, `field "v": array of 3 values, want 2`},
		{`{"a": 1, "v": [1, "x"], "label": 1}`, `field "v": element 1: not a number`},
		{`{"a": 1, "v": [1, 1e99], "label": 1}`, `field "v": element 1: out of float32 range: "1e99"`},
		{`{"a": 1, "v": [1, null], "label": 1}`, `field "v": missing value`},
		{`{"a": "abc", "v": [1, 2], "label": 1}`, `field "a": not a number: "abc"`},
		{`{"a": "NaN", "v": [1, 2], "label": 1}`, `field "a": NaN value`},
		{`{"v": [1, 2], "label": 1}`, `field "a": missing value`},
		{`{"a": 1, "v": [1, 2]}`, `field "label": missing label`},
		{`{"a": 1, "v": [1, 2], "label": 7}`, `field "label": label "7" is not a class in 0..2`},
		{`{"a": 1, "v": [1, 2,], "label": 1}`, `invalid JSON at byte 21: unexpected ']'`},
		{`{"a": 1, "v": [1 2], "label": 1}`, `invalid JSON at byte 18: want ',' or ']'`},
		{`{"a": 1, "v": [1, 2}, "label": 1}`, `invalid JSON at byte 20: mismatched bracket`},
		{`{"a": "x` + "\t" + `y", "v": [1, 2], "label": 1}`, `invalid JSON at byte 9: control character in a string`},
		{`{"a": 1, "v": [1, 2], "label": tru}`, `invalid JSON at byte 32: unexpected 't'`},
		{`{"a": 1, "v": ` + strings.Repeat("[", 40) + `], "label": 1}`, `invalid JSON at byte 47: nested deeper than 32`},
	} {
		_, rejects, n := parseJSONLString(t, tc.line+"\n"+good+"\n", s)
		if n != 2 || len(rejects) != 1 || rejects[0] != (Reject{"f.jsonl", 1, tc.reason}) {
			t.Errorf("%s:\n got %v (%d rows read)\nwant %q", tc.line, rejects, n, tc.reason)
		}
	}
}

// JSON Lines written by Python's json module (escapes, exponents, nulls,
// unicode keys) parse to the values Python computed.
func TestParseJSONLPython(t *testing.T) {
	py := pyenv.Need(t, "json")
	script := `
import json, struct, sys
r = []
for i in range(300):
    x = (i * 7919 % 1000) / 37.0 - 13
    rec = {"x": x, "naïve": i % 5, "v": [i * 0.5, -i, 1e-7 * i], "label": ["cat", "dog", "emu"][i % 3]}
    if i % 50 == 3:
        rec["x"] = None
    if i % 2:
        rec = dict(reversed(list(rec.items())))
    sys.stdout.write(json.dumps(rec, ensure_ascii=(i % 3 == 0)) + "\n")
`
	out, err := exec.Command(py, "-c", script).Output()
	if err != nil {
		t.Fatalf("python: %v", err)
	}
	s := jsonlSchema(t, string(out), CSVOptions{Classes: []string{"cat", "dog", "emu"}, Missing: MissingZero})
	if want := []string{"x", "naïve", "v[0]", "v[1]", "v[2]"}; !reflect.DeepEqual(s.FeatureNames(), want) {
		t.Fatalf("features %v, want %v", s.FeatureNames(), want)
	}
	blk, rejects, n := parseJSONLString(t, string(out), s)
	if n != 300 || len(rejects) != 0 || blk.Rows() != 300 {
		t.Fatalf("read %d, rejects %v, rows %d", n, rejects, blk.Rows())
	}
	for i := range 300 {
		x := float32(float64(i*7919%1000)/37.0 - 13)
		if i%50 == 3 {
			x = 0
		}
		want := []float32{x, float32(i % 5), float32(float64(i) * 0.5), float32(-i), float32(1e-7 * float64(i))}
		if got := blk.DenseValues[i*5 : i*5+5]; !reflect.DeepEqual(got, want) || blk.Labels[i] != float32(i%3) {
			t.Fatalf("row %d: %v label %v, want %v label %d", i, got, blk.Labels[i], want, i%3)
		}
	}
}

func FuzzParseJSONL(f *testing.F) {
	f.Add([]byte(`{"a": 1.5, "c": "red", "v": [1, null, 3], "label": 2}` + "\n" + `{"label": "1", "a": "NA"}`))
	f.Add([]byte(`{"a": {"x": [1, {"y": "\u00e9\"}"}]}, "v": [[1]], "label": true}` + "\n[]\n{}\n"))
	f.Add([]byte(`{"a": 1e999, "c": "bl\u0075e", "v": [1,2,3,4], "label": 0, "a": 2}`))
	s, err := NewCSVSchema([]string{"a", "c", "v", "label"}, CSVOptions{Categorical: []string{"c"}, Missing: MissingMean, MaxClasses: 10})
	if err != nil {
		f.Fatal(err)
	}
	s.SetVocab(map[string]map[string]int64{"c": {"red": 1, "blue": 1}})
	if err := s.SetVectors(map[string]int{"v": 3}); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		sink := &fuzzSink{t: t, features: 6, firstRecord: 1}
		n, err := ParseJSONL(bytes.NewReader(data), "f.jsonl", 1, s, 3, sink.emit, sink.reject)
		if err != nil {
			t.Fatal(err)
		}
		sink.check(n)
		if _, err := ScanJSONLCategories(bytes.NewReader(data), "f.jsonl", s); err != nil {
			t.Fatal(err)
		}
		ScanJSONLFields(bytes.NewReader(data), "f.jsonl", 10)
	})
}
