package preprocess

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"hash/fnv"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"

	"github.com/lightbeam-ml/lightbeam/data/formats"
	"github.com/lightbeam-ml/lightbeam/data/shardio"
	"github.com/lightbeam-ml/lightbeam/internal/pyenv"
	"github.com/lightbeam-ml/lightbeam/storage"
	"github.com/lightbeam-ml/lightbeam/storage/gcstest"
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
	if m.Schema.Image != nil {
		t.Errorf("schema.image %v for rows of an image and other features, want none", m.Schema.Image)
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

// The bundled MNIST's test images converted by pyarrow and pillow to
// Hugging Face's layout (PNG bytes in an image struct, row groups of 100,
// the huggingface metadata) give the same rows, labels and statistics as
// --format=idx on the IDX files, over several tasks.
func TestRunParquetMNIST(t *testing.T) {
	py := pyenv.Need(t, "pyarrow", "PIL")
	mnist := mnistDir(t)
	images, labels := filepath.Join(mnist, "t10k-images-idx3-ubyte.gz"), filepath.Join(mnist, "t10k-labels-idx1-ubyte.gz")
	n := "10000"
	if testing.Short() {
		n = "2000"
	}
	dir := t.TempDir()
	pq := filepath.Join(dir, "mnist.parquet")
	if out, err := exec.Command(py, filepath.Join("..", "..", "scripts", "fixtures", "parquet_fixtures.py"), "mnist", pq, images, labels, n).CombinedOutput(); err != nil {
		t.Fatalf("python: %v\n%s", err, out)
	}
	// Everything in train, so that statistics do not depend on which rows a
	// hash split sends where (the files' names differ).
	p := Config{Format: "parquet", Input: pq, Out: t.TempDir(), Split: [3]float64{1, 0, 0}, Shards: 2, ChunkBytes: 64 << 10, ImageColumn: "image"}
	plan, err := MakePlan(context.Background(), func() Config { c := p; Prepare(&c); return c }())
	if err != nil || len(plan.Tasks) < 5 || plan.Tasks[1].RowGroup == 0 || plan.Tasks[1].FirstLine != int64(100*plan.Tasks[1].RowGroup) {
		t.Fatalf("plan: %v, tasks %+v", err, plan.Tasks)
	}
	pRep := mustRun(t, p)

	// The same images as IDX: the first n of t10k.
	k, _ := strconv.Atoi(n)
	idxDir := t.TempDir()
	img, lbl := readGz(t, images), readGz(t, labels)
	binary.BigEndian.PutUint32(img[4:], uint32(k))
	binary.BigEndian.PutUint32(lbl[4:], uint32(k))
	write(t, idxDir, "images", img[:16+k*784])
	write(t, idxDir, "labels", lbl[:8+k])
	i := Config{Format: "idx", Input: filepath.Join(idxDir, "images") + "," + filepath.Join(idxDir, "labels"), Out: t.TempDir(), Validation: None, Shards: 2}
	iRep := mustRun(t, i)

	if pRep.RowsRead != int64(k) || pRep.RowsWritten != int64(k) || pRep.Features != 784 || pRep.Classes != 10 || pRep.Splits["train"] != int64(k) {
		t.Errorf("parquet report %+v: want %d rows read and written to train, 784 features, 10 classes", pRep, k)
	}
	pm, im := manifest(t, p.Out), manifest(t, i.Out)
	if !reflect.DeepEqual(pm.Schema.ClassNames, im.Schema.ClassNames) || pm.Schema.Label != "label" {
		t.Errorf("class names %v (from the huggingface metadata), idx's %v", pm.Schema.ClassNames, im.Schema.ClassNames)
	}
	// Rows that are one image each record their shape (train --augment).
	if want := []int{28, 28, 1}; !reflect.DeepEqual(pm.Schema.Image, want) || !reflect.DeepEqual(im.Schema.Image, want) {
		t.Errorf("schema.image: parquet %v, idx %v, want %v", pm.Schema.Image, im.Schema.Image, want)
	}
	sameStats(t, pm, im)
	if pm.Scale.Method != "minmax" {
		t.Errorf("image features scaled by %q, want minmax (--scale=auto)", pm.Scale.Method)
	}
	if pRep.RowsWritten != iRep.RowsWritten {
		t.Errorf("parquet wrote %d rows, idx %d", pRep.RowsWritten, iRep.RowsWritten)
	}
	// The same multiset of (pixels, label) rows, read back from the shards.
	if a, b := rowSums(t, p.Out, pm), rowSums(t, i.Out, im); !reflect.DeepEqual(a, b) {
		t.Errorf("the shards hold other rows than idx's")
	}
}

func readGz(t *testing.T, path string) []byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := formats.OpenMaybeGzip(f)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// rowSums returns, per label, a sorted list of a hash of each train row's
// scaled values: a fingerprint of the rows that ignores their order.
func rowSums(t *testing.T, out string, m *shardio.Manifest) map[float32][]uint64 {
	t.Helper()
	sr, err := shardio.OpenSplit(context.Background(), out, m, "train")
	if err != nil {
		t.Fatal(err)
	}
	defer sr.Close()
	sums := map[float32][]uint64{}
	for {
		blk, err := sr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		d := blk.Features
		for r := range blk.Rows() {
			h := fnv.New64a()
			for _, v := range blk.DenseValues[r*d : (r+1)*d] {
				binary.Write(h, binary.LittleEndian, math.Float32bits(v))
			}
			sums[blk.Labels[r]] = append(sums[blk.Labels[r]], h.Sum64())
		}
	}
	for _, s := range sums {
		slices.Sort(s)
	}
	return sums
}

// Parquet files of numeric columns in every codec, page v2 and dictionary
// encoding (a glob of seven files, one with nulls), and Spark ML sparse
// vectors, through the pipeline.
func TestRunParquetLayouts(t *testing.T) {
	py := pyenv.Need(t, "pyarrow", "PIL")
	dir := t.TempDir()
	if out, err := exec.Command(py, filepath.Join("..", "..", "scripts", "fixtures", "parquet_fixtures.py"), "layouts", dir).CombinedOutput(); err != nil {
		t.Fatalf("python: %v\n%s", err, out)
	}
	out := t.TempDir()
	rep := mustRun(t, Config{Format: "parquet", Input: filepath.Join(dir, "numeric-*.parquet"), Out: out, Shards: 2, MaxRejectFraction: 0.05})
	// 7 files of 200 rows; 20 nulls in numeric-nulls.parquet, rejected
	// under the default --missing=reject.
	if rep.RowsRead != 1400 || rep.RowsRejected != 20 || rep.Features != 3 || rep.Classes != 4 {
		t.Errorf("report %+v: want 1400 read, 20 rejected, 3 features, 4 classes", rep)
	}
	m := manifest(t, out)
	got := rejects(t, out, m)
	if len(got) != 20 || got[0] != (reject{"numeric-nulls.parquet", 1, `field "a": missing value`}) || got[19].Record != 191 {
		t.Errorf("rejects %+v", got)
	}
	if !reflect.DeepEqual(m.Schema.FeatureNames, []string{"a", "b", "c"}) {
		t.Errorf("features %v", m.Schema.FeatureNames)
	}
	checkReportFile(t, out, rep)

	// The direct runner gives the same shards (tasks of one row group each).
	one := Config{Format: "parquet", Input: filepath.Join(dir, "numeric-zstd.parquet"), Out: t.TempDir(), Shards: 2, ChunkBytes: 1}
	mustRun(t, one)
	direct := one
	direct.Out = t.TempDir()
	runDirect(t, direct)
	if got, want := checksums(manifest(t, direct.Out)), checksums(manifest(t, one.Out)); !reflect.DeepEqual(got, want) {
		t.Errorf("direct gives other shards than prism:\n got %v\nwant %v", got, want)
	}

	// Sparse vectors stay sparse.
	out = t.TempDir()
	rep = mustRun(t, Config{Format: "parquet", Input: filepath.Join(dir, "spark-sparse.parquet"), Out: out, Fields: []string{"features"}, Shards: 1})
	m = manifest(t, out)
	if rep.RowsWritten != 200 || rep.Features != 5 || !m.Schema.Sparse || m.Stats["train"] == nil || m.Stats["train"].Max[1] != 0 || m.Stats["train"].Max[0] < 150 {
		t.Errorf("spark sparse: report %+v, sparse %v, stats %+v", rep, m.Schema.Sparse, m.Stats["train"])
	}
	for _, split := range []string{"train", "validation", "test"} {
		sr, err := shardio.OpenSplit(context.Background(), out, m, split)
		if err != nil {
			t.Fatal(err)
		}
		for {
			blk, err := sr.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			if !blk.Sparse {
				t.Fatalf("%s: a dense block", split)
			}
			for _, j := range blk.Indices {
				if j != 0 && j != 3 {
					t.Fatalf("%s: non-zero at %d (the vectors have them at 0 and 3 only)", split, j)
				}
			}
		}
		sr.Close()
	}
	// Raw pixels with --image-shape: the image struct's pixels, and its
	// null image's row not there to reject.
	raw, png := t.TempDir(), t.TempDir()
	rep = mustRun(t, Config{Format: "parquet", Input: filepath.Join(dir, "image-raw.parquet"), Out: raw, ImageColumn: "pixels", ImageShape: []int{4, 5, 1}, Split: [3]float64{1, 0, 0}, Shards: 1})
	pngRep := mustRun(t, Config{Format: "parquet", Input: filepath.Join(dir, "image-null.parquet"), Out: png, ImageColumn: "image", Split: [3]float64{1, 0, 0}, Shards: 1, MaxRejectFraction: 0.2})
	rm, pm := manifest(t, raw), manifest(t, png)
	if rep.RowsWritten != 10 || pngRep.RowsWritten != 9 || pngRep.RowsRejected != 1 || rep.Features != 20 || rm.Scale.Method != "minmax" || pm.Scale.Method != "minmax" {
		t.Errorf("raw %+v, png %+v, scale %q", rep, pngRep, rm.Scale.Method)
	}
	// Pixel (0, 1) is 7 + 3i for rows i = 0..9 (row 4 missing from the PNGs).
	if rs, ps := rm.Stats["train"], pm.Stats["train"]; rs.Min[1] != 7 || rs.Max[1] != 34 || ps.Min[1] != 7 || ps.Max[1] != 34 || rs.Mean[1] != 20.5 {
		t.Errorf("pixel 1: raw %v..%v mean %v, png %v..%v", rs.Min[1], rs.Max[1], rs.Mean[1], ps.Min[1], ps.Max[1])
	}

	// Dense Spark vectors give dense rows.
	out = t.TempDir()
	rep = mustRun(t, Config{Format: "parquet", Input: filepath.Join(dir, "spark-dense.parquet"), Out: out, Shards: 1})
	if m := manifest(t, out); rep.Features != 3 || m.Schema.Sparse {
		t.Errorf("spark dense: %+v, sparse %v", rep, m.Schema.Sparse)
	}
}

// Parquet on gs:// (the GCS emulator): footers and column chunks come
// through ranged reads of the planned generation, and the shards are those
// of the same files read locally (the base names, so the identities, are
// the same).
func TestRunParquetGCS(t *testing.T) {
	py := pyenv.Need(t, "pyarrow", "PIL")
	root := gcstest.Root(t)
	ctx := context.Background()
	dir := t.TempDir()
	if out, err := exec.Command(py, filepath.Join("..", "..", "scripts", "fixtures", "parquet_fixtures.py"), "layouts", dir).CombinedOutput(); err != nil {
		t.Fatalf("python: %v\n%s", err, out)
	}
	for _, name := range []string{"numeric-snappy.parquet", "numeric-zstd.parquet"} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if err := storage.WriteBytes(ctx, storage.Join(root, "in", name), b); err != nil {
			t.Fatal(err)
		}
		os.Mkdir(filepath.Join(dir, "local"), 0o755)
		write(t, filepath.Join(dir, "local"), name, b)
	}
	cfg := Config{Format: "parquet", Input: storage.Join(root, "in", "*.parquet"), Out: storage.Join(root, "out"), Shards: 2, ChunkBytes: 1}
	plan, err := MakePlan(ctx, func() Config { c := cfg; Prepare(&c); return c }())
	if err != nil || len(plan.Tasks) != 8 || plan.Tasks[0].Generation == 0 {
		t.Fatalf("plan: %v, %d tasks (want 4 row groups × 2 files), generation %d", err, len(plan.Tasks), plan.Tasks[0].Generation)
	}
	rep := mustRun(t, cfg)
	local := Config{Format: "parquet", Input: filepath.Join(dir, "local", "*.parquet"), Out: t.TempDir(), Shards: 2, ChunkBytes: 1}
	mustRun(t, local)
	gm, err := shardio.ReadManifest(ctx, cfg.Out)
	if err != nil {
		t.Fatal(err)
	}
	if rep.RowsRead != 400 || !reflect.DeepEqual(checksums(gm), checksums(manifest(t, local.Out))) {
		t.Errorf("gs:// run: %+v; shards %v, local ones %v", rep, checksums(gm), checksums(manifest(t, local.Out)))
	}
}

// Column projection: a run that needs one small column of a file whose
// other column is large reads a small part of it (bytes_in counts the
// bytes read).
func TestRunParquetProjection(t *testing.T) {
	type rec struct {
		A     float64 `parquet:"a"`
		Blob  []byte  `parquet:"blob"`
		Label int64   `parquet:"label"`
	}
	var buf bytes.Buffer
	w := parquet.NewGenericWriter[rec](&buf, parquet.MaxRowsPerRowGroup(500), parquet.Compression(&parquet.Uncompressed))
	blob := bytes.Repeat([]byte("incompressible? no, but uncompressed "), 30)
	for i := range 2000 {
		w.Write([]rec{{A: float64(i), Blob: blob, Label: int64(i % 3)}})
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	in := write(t, t.TempDir(), "wide.parquet", buf.Bytes())
	rep := mustRun(t, Config{Format: "parquet", Input: in, Out: t.TempDir(), Fields: []string{"a"}, Shards: 1})
	if rep.RowsWritten != 2000 || rep.Features != 1 || rep.BytesIn <= 0 || rep.BytesIn > int64(buf.Len())/10 {
		t.Errorf("report %+v: want 2000 rows of 1 feature, read in under a tenth of the file's %d bytes", rep, buf.Len())
	}
}

// Parquet inputs must all have the first file's fields.
func TestPlanParquetErrors(t *testing.T) {
	py := pyenv.Need(t, "pyarrow", "PIL")
	dir := t.TempDir()
	if out, err := exec.Command(py, filepath.Join("..", "..", "scripts", "fixtures", "parquet_fixtures.py"), "layouts", dir).CombinedOutput(); err != nil {
		t.Fatalf("python: %v\n%s", err, out)
	}
	for _, tc := range []struct {
		input  string
		fields []string
		want   string
	}{
		{filepath.Join(dir, "numeric-snappy.parquet") + "," + filepath.Join(dir, "list-float.parquet"), nil, `list-float.parquet: no field "a", which ` + filepath.Join(dir, "numeric-snappy.parquet") + " has"},
		{filepath.Join(dir, "numeric-snappy.parquet"), []string{"a", "zz"}, `numeric-snappy.parquet: no field "zz" in its schema (fields: [a b c label])`},
		{filepath.Join(dir, "README.md"), nil, "invalid magic"},
	} {
		if tc.input == filepath.Join(dir, "README.md") {
			write(t, dir, "README.md", []byte("# not parquet, but long enough to have a footer\n"))
		}
		cfg := Config{Format: "parquet", Input: tc.input, Out: t.TempDir(), Fields: tc.fields}
		Prepare(&cfg)
		if _, err := MakePlan(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s %v: err = %v, want %q", tc.input, tc.fields, err, tc.want)
		}
	}
}

// A string column as a categorical feature (its values counted over every
// row group at planning) and string labels as class names.
func TestRunParquetCategorical(t *testing.T) {
	type rec struct {
		Color string  `parquet:"color,optional"`
		X     float64 `parquet:"x"`
		Label string  `parquet:"label"`
	}
	var buf bytes.Buffer
	w := parquet.NewGenericWriter[rec](&buf, parquet.MaxRowsPerRowGroup(100))
	colors := []string{"red", "green", "blue"}
	for i := range 1000 {
		c := colors[i%3]
		if i == 999 {
			c = "ultraviolet" // only in the last row group
		}
		w.Write([]rec{{Color: c, X: float64(i), Label: []string{"cat", "dog"}[i%2]}})
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	in := write(t, t.TempDir(), "cat.parquet", buf.Bytes())
	out := t.TempDir()
	rep := mustRun(t, Config{Format: "parquet", Input: in, Out: out, Shards: 1, CSV: formats.CSVOptions{Categorical: []string{"color"}, Classes: []string{"cat", "dog"}}})
	m := manifest(t, out)
	if want := []string{"color=blue", "color=green", "color=red", "color=ultraviolet", "x"}; rep.RowsWritten != 1000 || !reflect.DeepEqual(m.Schema.FeatureNames, want) || rep.Classes != 2 {
		t.Errorf("report %+v, features %v (want %v)", rep, m.Schema.FeatureNames, want)
	}
}
