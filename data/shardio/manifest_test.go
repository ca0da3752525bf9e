package shardio

import (
	"context"
	"encoding/json"
	"io"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/lightbeam-ml/lightbeam/data/rows"
	"github.com/lightbeam-ml/lightbeam/storage"
)

// writeSplit writes in as n shards of split under dir and returns the
// split's manifest entry.
func writeSplit(t *testing.T, dir, split string, in *rows.Block, n int) *Split {
	t.Helper()
	ctx := context.Background()
	sp := &Split{Rows: int64(in.Rows())}
	per := (in.Rows() + n - 1) / n
	for i := 0; i < n; i++ {
		lo, hi := min(i*per, in.Rows()), min((i+1)*per, in.Rows())
		part := in.Empty(hi - lo)
		for r := lo; r < hi; r++ {
			part.AppendRow(in, r)
		}
		rel := ShardPath(split, i, n)
		var st ShardStats
		err := storage.WriteFile(ctx, storage.Join(dir, rel), func(w io.Writer) error {
			var err error
			st, err = WriteShard(w, Header{Features: in.Features, Sparse: in.Sparse, BlockRows: 50}, []*rows.Block{part})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		sp.Shards = append(sp.Shards, ShardInfo{Path: rel, Rows: st.Rows, Bytes: st.Bytes, SHA256: st.SHA256})
	}
	return sp
}

func testManifest(d int) *Manifest {
	st := rows.NewStats(d) // empty: min +Inf, max −Inf
	st.AddBlock(denseRows(3, 20, d), true)
	empty := rows.NewStats(d)
	return &Manifest{
		Format: ManifestFormat, Version: ManifestVersion, CreatedBy: "lightbeam test",
		Source: Source{Format: "csv", Inputs: []string{"gs://b/in/a.csv", "/data/b.csv"}, BytesIn: 12345},
		Schema: Schema{Features: d, Sparse: false, Task: "classification", Classes: 10, Label: "digit"},
		Scale: Scale{Method: "standard", Offset: make([]float64, d), Factor: []float64{1, 2, math.Inf(1), 0.5, 1e-300, 3},
			FitOn: "train", Missing: "keep"},
		Stats:    map[string]*rows.Stats{"train": st, "test": empty},
		Splits:   map[string]*Split{},
		RowsRead: 100, RowsRejected: 2, Rejects: []string{"rejects/part-00000.jsonl"},
	}
}

func TestManifestRoundTrip(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	m := testManifest(6)
	m.Splits["train"] = writeSplit(t, dir, "train", denseRows(1, 230, 6), 3)
	m.Splits["test"] = &Split{} // an empty split is allowed
	if err := WriteManifest(ctx, dir, m); err != nil {
		t.Fatal(err)
	}
	got, err := ReadManifest(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, m) {
		a, _ := json.Marshal(got)
		b, _ := json.Marshal(m)
		t.Fatalf("manifest changed in the round trip:\n got %s\nwant %s", a, b)
	}
	if !math.IsInf(got.Stats["test"].Min[0], 1) || !math.IsInf(got.Stats["test"].Max[5], -1) {
		t.Fatal("±Inf min/max of empty features did not survive")
	}
	raw, err := os.ReadFile(filepath.Join(dir, ManifestName))
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{`"format": "lightbeam.manifest"`, `"version": 1`, `"created_by"`, `"bytes_in": 12345`,
		`"fit_on": "train"`, `"rows_read": 100`, `"rows_rejected": 2`, `"sha256"`, `"min": [`, `"+Inf"`, `"-Inf"`,
		`"m2"`, `"path": "shards/train-00000-of-00003.lbs"`} {
		if !strings.Contains(string(raw), key) {
			t.Errorf("manifest.json lacks %s:\n%s", key, raw)
		}
	}
}

func TestFloatsJSON(t *testing.T) {
	in := Floats{0, -1.5, 1e300, math.SmallestNonzeroFloat64, math.Inf(1), math.Inf(-1), math.NaN()}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	var out Floats
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	if len(out) != len(in) || !math.IsNaN(out[6]) {
		t.Fatalf("%s decodes to %v", b, out)
	}
	for i := 0; i < 6; i++ {
		if out[i] != in[i] {
			t.Errorf("element %d: %v became %v (%s)", i, in[i], out[i], b)
		}
	}
	if err := json.Unmarshal([]byte(`[1, "inf"]`), &out); err == nil {
		t.Error(`"inf" accepted`)
	}
}

func TestReadManifestErrors(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "out", "prep")
	_, err := ReadManifest(ctx, dir)
	want := filepath.Join(dir, "manifest.json") + ": missing: the preprocess output is incomplete (no manifest written)"
	if err == nil || err.Error() != want {
		t.Fatalf("missing manifest: %v, want %q", err, want)
	}

	good := testManifest(6)
	good.Splits["train"] = writeSplit(t, dir, "train", denseRows(1, 100, 6), 2)
	for _, tc := range []struct {
		name   string
		mangle func(m *Manifest)
		want   string
	}{
		{"format", func(m *Manifest) { m.Format = "other" }, `format "other"`},
		{"version", func(m *Manifest) { m.Version = 2 }, "manifest version 2"},
		{"rows", func(m *Manifest) { m.Splits["train"].Rows = 99 }, "splits.train: shards hold 100 rows, the split says 99"},
		{"path", func(m *Manifest) { m.Splits["train"].Shards[1].Path = "../x.lbs" }, `splits.train.shards[1]: path "../x.lbs"`},
		{"abs path", func(m *Manifest) { m.Splits["train"].Shards[0].Path = "/x.lbs" }, `path "/x.lbs"`},
		{"sha", func(m *Manifest) { m.Splits["train"].Shards[0].SHA256 = "abc" }, "not 64 hex digits"},
		{"scale", func(m *Manifest) { m.Scale.Factor = m.Scale.Factor[:2] }, "2 factors for 6 features"},
		{"stats", func(m *Manifest) { m.Stats["train"] = rows.NewStats(3) }, "stats.train does not cover 6"},
		{"task", func(m *Manifest) { m.Schema.Task = "ranking" }, `task "ranking"`},
		{"classes", func(m *Manifest) { m.Schema.Classes = 0 }, "schema.classes is 0"},
		{"image", func(m *Manifest) { m.Schema.Image = []int{2, 2, 1} }, "schema.image [2 2 1] is not [height, width, channels] of 6 dense features"},
	} {
		b, _ := json.Marshal(good)
		m := new(Manifest)
		if err := json.Unmarshal(b, m); err != nil {
			t.Fatal(err)
		}
		tc.mangle(m)
		if err := WriteManifest(ctx, dir, m); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: WriteManifest error %v, want %q", tc.name, err, tc.want)
		}
		b, _ = json.Marshal(m)
		if err := storage.WriteBytes(ctx, filepath.Join(dir, ManifestName), b); err != nil {
			t.Fatal(err)
		}
		_, err := ReadManifest(ctx, dir)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "manifest.json") {
			t.Errorf("%s: ReadManifest error %v, want one naming manifest.json and saying %q", tc.name, err, tc.want)
		}
	}
	storage.WriteBytes(ctx, filepath.Join(dir, ManifestName), []byte(`{"format": "lightbeam.manifest", `))
	if _, err := ReadManifest(ctx, dir); err == nil || !strings.Contains(err.Error(), "not a valid manifest") {
		t.Errorf("truncated JSON: %v", err)
	}
}

func TestShardPath(t *testing.T) {
	if got := ShardPath("train", 3, 8); got != "shards/train-00003-of-00008.lbs" {
		t.Errorf("ShardPath = %q", got)
	}
}

// readSplit reads a split through OpenSplit and joins its rows.
func readSplit(ctx context.Context, dir string, m *Manifest, split string) (*rows.Block, error) {
	r, err := OpenSplit(ctx, dir, m, split)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	var all *rows.Block
	for {
		b, err := r.Next()
		if err == io.EOF {
			return all, nil
		}
		if err != nil {
			return nil, err
		}
		if all == nil {
			all = b.Empty(0)
		}
		for i := 0; i < b.Rows(); i++ {
			all.AppendRow(b, i)
		}
	}
}

func TestOpenSplit(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	train, val := sparseRows(1, 333, 20), sparseRows(2, 40, 20)
	m := testManifest(20)
	m.Schema.Sparse = true
	m.Scale = Scale{Method: "none", FitOn: "train", Missing: "keep"}
	m.Stats = nil
	m.Splits["train"] = writeSplit(t, dir, "train", train, 4)
	m.Splits["validation"] = writeSplit(t, dir, "validation", val, 1)
	if err := WriteManifest(ctx, dir, m); err != nil {
		t.Fatal(err)
	}
	m, err := ReadManifest(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	got, err := readSplit(ctx, dir, m, "train")
	if err != nil {
		t.Fatal(err)
	}
	sameRows(t, got, train)
	if got, err = readSplit(ctx, dir, m, "validation"); err != nil {
		t.Fatal(err)
	}
	sameRows(t, got, val)

	// One shard alone, as a trainer worker reads it.
	sr, err := OpenShard(ctx, dir, m.Splits["train"].Shards[2])
	if err != nil {
		t.Fatal(err)
	}
	var n int
	for {
		b, err := sr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		n += b.Rows()
	}
	sr.Close()
	if int64(n) != m.Splits["train"].Shards[2].Rows {
		t.Fatalf("OpenShard read %d rows, want %d", n, m.Splits["train"].Shards[2].Rows)
	}

	if _, err := OpenSplit(ctx, dir, m, "test"); err == nil || !strings.Contains(err.Error(), `no split "test"`) {
		t.Errorf("OpenSplit of a missing split: %v", err)
	}
}

func TestOpenSplitDetectsChanges(t *testing.T) {
	ctx := context.Background()
	in := denseRows(5, 300, 6)
	for _, tc := range []struct {
		name   string
		change func(t *testing.T, dir string, m *Manifest)
		want   string
	}{
		{"shard rewritten", func(t *testing.T, dir string, m *Manifest) {
			// A valid shard with other rows of the same count.
			otherDir := t.TempDir()
			sp := writeSplit(t, otherDir, "train", denseRows(6, 300, 6), 3)
			m.Splits["train"].Shards[1].Bytes = sp.Shards[1].Bytes
			copyFile(t, filepath.Join(otherDir, sp.Shards[1].Path), filepath.Join(dir, sp.Shards[1].Path))
		}, "SHA-256"},
		{"shard corrupted", func(t *testing.T, dir string, m *Manifest) {
			p := filepath.Join(dir, m.Splits["train"].Shards[2].Path)
			b, _ := os.ReadFile(p)
			b[len(b)/2] ^= 1
			os.WriteFile(p, b, 0o644)
		}, "train-00002-of-00003.lbs: block"},
		{"shard missing", func(t *testing.T, dir string, m *Manifest) {
			os.Remove(filepath.Join(dir, m.Splits["train"].Shards[0].Path))
		}, "train-00000-of-00003.lbs"},
		{"manifest rows", func(t *testing.T, dir string, m *Manifest) {
			m.Splits["train"].Shards[0].Rows++
			m.Splits["train"].Rows++
		}, "holds 100 rows, the manifest says 101"},
		{"manifest bytes", func(t *testing.T, dir string, m *Manifest) {
			m.Splits["train"].Shards[1].Bytes += 10
		}, "the manifest says"},
		{"schema", func(t *testing.T, dir string, m *Manifest) {
			m.Schema.Sparse = true
		}, "the manifest's schema says 6 (sparse=true)"},
	} {
		dir := t.TempDir()
		m := testManifest(6)
		m.Splits["train"] = writeSplit(t, dir, "train", in, 3)
		tc.change(t, dir, m)
		_, err := readSplit(ctx, dir, m, "train")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one saying %q", tc.name, err, tc.want)
		}
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// FuzzDecodeManifest: a manifest from elsewhere is untrusted. Decoding any
// bytes returns a manifest or an error naming the file, never a panic, and
// an accepted manifest's shard paths stay inside its directory.
func FuzzDecodeManifest(f *testing.F) {
	m := testManifest(6)
	m.Scale.Factor[2] = 1 // JSON has no Inf
	m.Splits["train"] = &Split{Rows: 3, Shards: []ShardInfo{{Path: "shards/train-00000-of-00001.lbs", Rows: 3, Bytes: 10}}}
	good, err := json.Marshal(m)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add([]byte(strings.Replace(string(good), "shards/train-00000-of-00001.lbs", "../../etc/passwd", 1)))
	f.Add([]byte(`{"format":"lightbeam-manifest","version":1}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := DecodeManifest(b, "fuzz/manifest.json")
		if err != nil {
			if !strings.Contains(err.Error(), "fuzz/manifest.json") {
				t.Fatalf("error %q does not name the file", err)
			}
			return
		}
		for name, sp := range m.Splits {
			for _, sh := range sp.Shards {
				if p := filepath.ToSlash(filepath.Clean(sh.Path)); strings.HasPrefix(p, "../") || p == ".." || filepath.IsAbs(sh.Path) || strings.Contains(sh.Path, "://") {
					t.Fatalf("accepted split %s shard path %q outside the directory", name, sh.Path)
				}
			}
		}
	})
}
