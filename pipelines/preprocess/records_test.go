package preprocess

import (
	"context"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/lightbeam-ml/lightbeam/data/formats"
	"github.com/lightbeam-ml/lightbeam/data/shardio"
	"github.com/lightbeam-ml/lightbeam/internal/pyenv"
)

// python runs a script with the test interpreter in dir, failing the test
// with its output on error.
func python(t *testing.T, py, dir, script string, args ...string) {
	t.Helper()
	cmd := exec.Command(py, append([]string{"-c", script}, args...)...)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("python: %v\n%s", err, out)
	}
}

// sameStats checks that two outputs have the same statistics: counts,
// extremes and labels exactly, sums up to the rounding that another
// combining order gives.
func sameStats(t *testing.T, got, want *shardio.Manifest) {
	t.Helper()
	close := func(a, b []float64) bool {
		if len(a) != len(b) {
			return false
		}
		for i := range a {
			if math.Abs(a[i]-b[i]) > 1e-9*math.Max(1, math.Abs(b[i])) {
				return false
			}
		}
		return true
	}
	for _, split := range []string{"train", "validation", "test"} {
		g, w := got.Stats[split], want.Stats[split]
		if g == nil || w == nil {
			if g != w {
				t.Errorf("%s stats: got %v, want %v", split, g, w)
			}
			continue
		}
		if g.Rows != w.Rows || !reflect.DeepEqual(g.Count, w.Count) || !reflect.DeepEqual(g.Min, w.Min) || !reflect.DeepEqual(g.Max, w.Max) ||
			!reflect.DeepEqual(g.Labels, w.Labels) || !close(g.Mean, w.Mean) || !close(g.M2, w.M2) {
			t.Errorf("%s stats differ:\n got %+v\nwant %+v", split, g, w)
		}
	}
}

// csvAndJSONL is a Python script writing the same records as csv/data
// (header, then records from line 2) and as jsonl/data (a blank line 1,
// then the records), so that record identities (base name and line)
// agree; a few records are bad in both.
const csvAndJSONL = `
import csv, json, os
os.makedirs("csv", exist_ok=True); os.makedirs("jsonl", exist_ok=True)
colors = ["red", "green", "blue"]
with open("csv/data", "w", newline="") as c, open("jsonl/data", "w") as j:
    w = csv.writer(c)
    w.writerow(["x1", "color", "x2", "label"])
    j.write("\n")
    for i in range(2000):
        x1, color, x2, label = i % 101 - 50, colors[i % 3], (i * 37 % 1000) / 8.0, ["cat", "dog"][i % 2]
        if i % 97 == 5:
            x2 = None  # missing
        if i % 331 == 7:
            label = "bird"  # not a class
        w.writerow([x1, color, "" if x2 is None else repr(x2), label])
        j.write(json.dumps({"label": label, "x2": x2, "color": color, "x1": x1}) + "\n")
`

// A JSON Lines file gives the same shards, rejects and statistics as the
// CSV file holding the same records, chunked or not, plain or gzipped.
func TestRunJSONLMatchesCSV(t *testing.T) {
	py := pyenv.Need(t, "json")
	dir := t.TempDir()
	python(t, py, dir, csvAndJSONL)
	cfg := func(format, input string) Config {
		return Config{Format: format, Input: input, Out: t.TempDir(), Shards: 2, MaxRejectFraction: 0.05,
			CSV: formats.CSVOptions{Categorical: []string{"color"}, Classes: []string{"cat", "dog"}, Missing: formats.MissingMean}}
	}
	c := cfg("csv", filepath.Join(dir, "csv", "data"))
	csvRep := mustRun(t, c)
	csvM := manifest(t, c.Out)
	csvRejects := rejects(t, c.Out, csvM)
	if csvRep.RowsRejected == 0 || csvRep.RowsRead != 2000 {
		t.Fatalf("csv report %+v: want 2000 read, some rejected", csvRep)
	}

	j := cfg("jsonl", filepath.Join(dir, "jsonl", "data"))
	j.Fields = []string{"x1", "color", "x2"}
	j.ChunkBytes = 4000 // many chunks
	plan, err := MakePlan(context.Background(), func() Config { c := j; Prepare(&c); return c }())
	if err != nil || len(plan.Tasks) < 10 {
		t.Fatalf("plan: %d tasks, %v", len(plan.Tasks), err)
	}
	jRep := mustRun(t, j)
	jM := manifest(t, j.Out)
	if !reflect.DeepEqual(checksums(jM), checksums(csvM)) {
		t.Errorf("jsonl shards differ from csv's:\n got %v\nwant %v", checksums(jM), checksums(csvM))
	}
	if !reflect.DeepEqual(jM.Schema, csvM.Schema) {
		t.Errorf("jsonl schema %+v, csv's %+v", jM.Schema, csvM.Schema)
	}
	sameStats(t, jM, csvM)
	jRejects := rejects(t, j.Out, jM)
	if len(jRejects) != len(csvRejects) {
		t.Fatalf("jsonl rejects %v, csv's %v", jRejects, csvRejects)
	}
	for i, r := range jRejects {
		want := strings.Replace(csvRejects[i].Reason, `column 4 ("label")`, `field "label"`, 1)
		if r.Record != csvRejects[i].Record || r.Reason != want {
			t.Errorf("jsonl reject %+v, want line %d: %s", r, csvRejects[i].Record, want)
		}
	}
	if jRep.RowsRead != csvRep.RowsRead || jRep.RowsWritten != csvRep.RowsWritten || !reflect.DeepEqual(jRep.Splits, csvRep.Splits) {
		t.Errorf("jsonl report %+v, csv's %+v", jRep, csvRep)
	}
	checkReportFile(t, j.Out, jRep)

	// Gzipped: one task, the same shards.
	b, err := os.ReadFile(filepath.Join(dir, "jsonl", "data"))
	if err != nil {
		t.Fatal(err)
	}
	os.Mkdir(filepath.Join(dir, "gz"), 0o755)
	g := cfg("jsonl", write(t, filepath.Join(dir, "gz"), "data", gz(b)))
	g.Fields = j.Fields
	mustRun(t, g)
	if got := checksums(manifest(t, g.Out)); !reflect.DeepEqual(got, checksums(csvM)) {
		t.Errorf("gzipped jsonl shards differ from csv's")
	}
}

// Planning a JSON Lines input names the file and the field it misses.
func TestPlanJSONLErrors(t *testing.T) {
	dir := t.TempDir()
	input := write(t, dir, "d.jsonl", []byte(`{"a": 1, "v": [1, 2], "label": 0}`+"\n"))
	empty := write(t, dir, "e.jsonl", []byte("\n[1]\n"))
	for _, tc := range []struct {
		input  string
		fields []string
		want   string
	}{
		{input, []string{"a", "b"}, `d.jsonl: no field "b" in the first 1000 records`},
		{input, []string{"a", "label"}, `field "label" named twice, or also the label`},
		{empty, nil, "e.jsonl: no JSON object with fields in the first 1 non-blank lines"},
	} {
		cfg := Config{Format: "jsonl", Input: tc.input, Out: t.TempDir(), Fields: tc.fields}
		Prepare(&cfg)
		if _, err := MakePlan(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: err = %v, want %q", tc.fields, err, tc.want)
		}
	}
}

// TFRecord files written by Python (the published framing, tf.Example
// bytes built by hand), one plain with a corrupt record, one gzipped:
// every record read, the corrupt one rejected by its index, the image
// feature decoded into pixels.
func TestRunTFRecord(t *testing.T) {
	py := pyenv.Need(t, "zlib", "gzip")
	dir := t.TempDir()
	script := filepath.Join("..", "..", "scripts", "fixtures", "tfrecord_fixture.py")
	for _, args := range [][]string{{filepath.Join(dir, "a.tfrecord"), "200"}, {filepath.Join(dir, "b.tfrecord.gz"), "100", "gzip"}} {
		if out, err := exec.Command(py, append([]string{script}, args...)...).CombinedOutput(); err != nil {
			t.Fatalf("python: %v\n%s", err, out)
		}
	}
	a, err := os.ReadFile(filepath.Join(dir, "a.tfrecord"))
	if err != nil {
		t.Fatal(err)
	}
	recLen := len(a) / 200
	a[5*recLen+20] ^= 1 // in record 5's data: its CRC no longer matches
	write(t, dir, "a.tfrecord", a)

	out := t.TempDir()
	rep := mustRun(t, Config{Format: "tfrecord", Input: filepath.Join(dir, "*.tfrecord*"), Out: out, Shards: 2, Scale: "minmax"})
	if rep.RowsRead != 300 || rep.RowsRejected != 1 || rep.RowsWritten != 299 || rep.Features != 25 || rep.Classes != 4 || rep.Shards != 6 {
		t.Errorf("report %+v: want 300 read, 1 rejected, 299 written, 25 features, 4 classes, 6 shards", rep)
	}
	m := manifest(t, out)
	if got := rejects(t, out, m); !reflect.DeepEqual(got, []reject{{"a.tfrecord", 5, "data CRC mismatch (corrupt record)"}}) {
		t.Errorf("rejects %+v", got)
	}
	names := m.Schema.FeatureNames
	if len(names) != 25 || names[0] != "count" || names[1] != "image[0]" || names[20] != "image[19]" || names[21] != "v[0]" || names[24] != "x" || m.Schema.Label != "label" {
		t.Errorf("feature names %v, label %q", names, m.Schema.Label)
	}
	// x = i/4 - 3 over i in 0..199 and 0..99: min -3, max 46.75 (unless
	// record 199 went to another split).
	all := m.Stats["train"]
	if all == nil || all.Min[24] < -3 || all.Max[24] > 46.75 || all.Min[0] != 0 || all.Max[0] != 6 {
		t.Errorf("train stats %+v", all)
	}
	checkReportFile(t, out, rep)

	// Only the listed features, the label by name.
	out2 := t.TempDir()
	rep = mustRun(t, Config{Format: "tfrecord", Input: filepath.Join(dir, "b.tfrecord.gz"), Out: out2, Fields: []string{"x", "v"}, CSV: formats.CSVOptions{Label: "count"}, Shards: 1})
	if m := manifest(t, out2); rep.Features != 4 || rep.Classes != 7 || !reflect.DeepEqual(m.Schema.FeatureNames, []string{"x", "v[0]", "v[1]", "v[2]"}) || m.Schema.Label != "count" {
		t.Errorf("--features=x,v --label=count: %+v, names %v", rep, m.Schema.FeatureNames)
	}
}
