package transforms

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/passert"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"

	"github.com/lightbeam-ml/lightbeam/data/rows"
	"github.com/lightbeam-ml/lightbeam/data/shardio"
)

// knownRows returns blocks of records lo..hi-1 of source "src", cut every
// `every` rows: record r has label r and features r+j, so a checker can
// recompute every value from the label.
func knownRows(lo, hi, every, d int) []rows.Block {
	var out []rows.Block
	x := make([]float32, d)
	for start := lo; start < hi; start += every {
		b := rows.NewDense(d, every)
		for r := start; r < min(start+every, hi); r++ {
			for j := range x {
				x[j] = float32(r + j)
			}
			b.AppendDense(rows.RecordID("src", int64(r)), float32(r), x)
		}
		out = append(out, *b)
	}
	return out
}

// keyedScaleFn emits Sc for each of the keys 0..Keys-1, as FitScaleTo does.
type keyedScaleFn struct {
	Sc   Scale
	Keys int
}

func (fn *keyedScaleFn) ProcessElement(_ []byte, emit func(int, Scale)) {
	for k := 0; k < fn.Keys; k++ {
		emit(k, fn.Sc)
	}
}

// checkShardFn reads each written shard back through shardio.OpenShard
// (which checks size, rows and SHA-256 against the result) and emits a
// line for every problem: rows out of id order, or a value that is not
// the scaled one.
type checkShardFn struct {
	Dir string
	Sc  Scale
}

func (fn *checkShardFn) ProcessElement(ctx context.Context, r ShardResult, emit func(string)) {
	sr, err := shardio.OpenShard(ctx, fn.Dir, r.Info)
	if err != nil {
		emit(err.Error())
		return
	}
	defer sr.Close()
	prev, n := uint64(0), int64(0)
	for {
		b, err := sr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			emit(err.Error())
			return
		}
		for i := 0; i < b.Rows(); i++ {
			if n > 0 && b.IDs[i] <= prev {
				emit(fmt.Sprintf("%s: row %d: id %x after %x", r.Info.Path, n, b.IDs[i], prev))
			}
			prev = b.IDs[i]
			n++
			for j := 0; j < b.Features; j++ {
				want := (b.Labels[i] + float32(j) - fn.Sc.Offset[j]) * fn.Sc.Factor[j]
				if got := b.DenseValues[i*b.Features+j]; math.Abs(float64(got-want)) > 1e-4*(1+math.Abs(float64(want))) {
					emit(fmt.Sprintf("%s: record %g feature %d = %g, want %g", r.Info.Path, b.Labels[i], j, got, want))
				}
			}
		}
	}
	if n != r.Info.Rows {
		emit(fmt.Sprintf("%s: read %d rows, the result says %d", r.Info.Path, n, r.Info.Rows))
	}
}

func shardSummary(r ShardResult) string {
	return fmt.Sprintf("%s/%d %s rows=%d", r.Split, r.Index, r.Info.Path, r.Info.Rows)
}

func asTrain(b rows.Block) (int, rows.Block) { return Train, b }

func init() {
	register.DoFn2x0[[]byte, func(int, Scale)](&keyedScaleFn{})
	register.DoFn3x0[context.Context, ShardResult, func(string)](&checkShardFn{})
	register.Function1x1(shardSummary)
	register.Function1x2(asTrain)
}

var testScale = Scale{Method: "standard", Offset: []float32{1, 2}, Factor: []float32{0.5, 2}, Impute: []float32{0, 0}}

// writeShardsPipeline spills blocks (all in the train split) and writes them as n shards
// per split into dir, and checks the results and the files.
func writeShardsPipeline(t *testing.T, dir string, blocks []rows.Block, n int) {
	t.Helper()
	want := map[string]int{}
	for _, b := range blocks {
		for _, id := range b.IDs {
			want[fmt.Sprintf("train/%d", ShardOf(id, n))]++
		}
	}
	var summaries []any
	for split := 0; split < NumSplits; split++ {
		for i := 0; i < n; i++ {
			name := fmt.Sprintf("%s/%d", SplitNames[split], i)
			summaries = append(summaries, fmt.Sprintf("%s %s rows=%d", name, shardio.ShardPath(SplitNames[split], i, n), want[name]))
		}
	}
	p, s := beam.NewPipelineWithRoot()
	cfg := ShardConfig{Dir: dir, Shards: n, Features: 2, SpillBytes: 500 * 20}
	runs := SpillRuns(s, beam.ParDo(s, asTrain, beam.CreateList(s, blocks)), cfg)
	scales := beam.ParDo(s, &keyedScaleFn{Sc: testScale, Keys: NumSplits * n}, beam.Impulse(s))
	results := WriteShards(s, runs, scales, cfg)
	// Every key gets a file: the empty validation and test shards too.
	passert.Equals(s, beam.ParDo(s, shardSummary, results), summaries...)
	passert.Empty(s, beam.ParDo(s, &checkShardFn{Dir: dir, Sc: testScale}, results))
	ptest.RunAndValidate(t, p)
}

func TestWriteShards(t *testing.T) {
	const n = 3
	one, chunked := t.TempDir(), t.TempDir()
	// The same 2000 rows as one block, and as blocks of 7 in reverse order.
	writeShardsPipeline(t, one, knownRows(0, 2000, 2000, 2), n)
	small := knownRows(0, 2000, 7, 2)
	for i, j := 0, len(small)-1; i < j; i, j = i+1, j-1 {
		small[i], small[j] = small[j], small[i]
	}
	writeShardsPipeline(t, chunked, small, n)
	files, err := filepath.Glob(filepath.Join(one, "shards", "*.lbs"))
	if err != nil || len(files) != NumSplits*n {
		t.Fatalf("%d shard files (%v), want %d", len(files), err, NumSplits*n)
	}
	for _, f := range files {
		a, _ := os.ReadFile(f)
		b, err := os.ReadFile(filepath.Join(chunked, "shards", filepath.Base(f)))
		if err != nil || !bytes.Equal(a, b) {
			t.Errorf("%s differs when the input is chunked differently (%v)", filepath.Base(f), err)
		}
	}
	// The runs (2000 rows of 20 bytes spilled every 500: several per
	// shard) are gone.
	for _, d := range []string{one, chunked} {
		if left, _ := filepath.Glob(filepath.Join(d, shardio.RunDir, "*")); len(left) > 0 {
			t.Errorf("%d runs left behind in %s", len(left), filepath.Join(d, shardio.RunDir))
		}
	}
}

// Without a scale (the train split was empty) WriteShards fails, saying why.
func TestWriteShardsWithoutScaleFails(t *testing.T) {
	p, s := beam.NewPipelineWithRoot()
	cfg := ShardConfig{Dir: t.TempDir(), Shards: 2, Features: 2}
	runs := SpillRuns(s, beam.ParDo(s, asValidation, beam.CreateList(s, knownRows(0, 50, 50, 2))), cfg)
	noScales := beam.ParDo(s, &keyedScaleFn{Sc: testScale, Keys: 0}, beam.Impulse(s))
	WriteShards(s, runs, noScales, cfg)
	err := ptest.Run(p)
	if err == nil || !strings.Contains(err.Error(), "train split is empty") {
		t.Fatalf("err = %v, want one saying the train split is empty", err)
	}
}

// spillDirect runs SpillRuns' DoFn on blocks of split as one bundle,
// outside a pipeline, and returns the runs by shard key.
func spillDirect(t *testing.T, cfg ShardConfig, split int, blocks []*rows.Block) map[int][]shardio.Run {
	t.Helper()
	ctx := context.Background()
	out := map[int][]shardio.Run{}
	emit := func(k int, r shardio.Run) { out[k] = append(out[k], r) }
	fn := &spillFn{Cfg: cfg}
	fn.StartBundle(ctx, emit)
	for _, b := range blocks {
		if err := fn.ProcessElement(ctx, split, *b, emit); err != nil {
			t.Fatal(err)
		}
	}
	if err := fn.FinishBundle(ctx, emit); err != nil {
		t.Fatal(err)
	}
	return out
}

// writeDirect runs WriteShards' DoFn on one shard key's runs.
func writeDirect(cfg ShardConfig, key int, runs []shardio.Run, sc Scale) (ShardResult, error) {
	i, scaled := 0, false
	next := func(r *shardio.Run) bool {
		if i == len(runs) {
			return false
		}
		*r, i = runs[i], i+1
		return true
	}
	scale := func(s *Scale) bool {
		if scaled {
			return false
		}
		*s, scaled = sc, true
		return true
	}
	return (&writeShardFn{Cfg: cfg}).ProcessElement(context.Background(), key, next, scale)
}

// inMemoryShard is how WriteShards wrote a shard before it merged runs:
// every row of the key in one block, sorted by identity, scaled, and
// written at once.
func inMemoryShard(t *testing.T, cfg ShardConfig, split, key int, blocks []*rows.Block, sc Scale) []byte {
	t.Helper()
	type ref struct {
		b *rows.Block
		i int
	}
	var refs []ref
	for _, b := range blocks {
		for i, id := range b.IDs {
			if ShardKey(split, ShardOf(id, cfg.Shards), cfg.Shards) == key {
				refs = append(refs, ref{b, i})
			}
		}
	}
	slices.SortStableFunc(refs, func(x, y ref) int { return cmp.Compare(x.b.IDs[x.i], y.b.IDs[y.i]) })
	all := rows.NewDense(cfg.Features, len(refs))
	if cfg.Sparse {
		all = rows.NewSparse(cfg.Features, len(refs))
	}
	for _, r := range refs {
		all.AppendRow(r.b, r.i)
	}
	sc.Apply(all)
	var buf bytes.Buffer
	if _, err := shardio.WriteShard(&buf, shardio.Header{Features: cfg.Features, Sparse: cfg.Sparse}, []*rows.Block{all}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

var scale4 = Scale{Method: "standard", Offset: []float32{1, -2, 0.5, 3}, Factor: []float32{0.5, 2, 1, 0.25}, Impute: []float32{0, 1, 0, 0}}

// interleaved returns rows of several sources whose identities interleave,
// in shuffled blocks of 97 rows.
func interleaved(seed uint64) []*rows.Block {
	rng := rand.New(rand.NewPCG(seed, 7))
	var blocks []*rows.Block
	for s := 0; s < 5; s++ {
		for first := int64(0); first < 3000; first += 97 {
			blocks = append(blocks, randomBlock(rng, fmt.Sprintf("src-%d.csv", s), first, int(min(97, 3000-first)), 4))
		}
	}
	rng.Shuffle(len(blocks), func(i, j int) { blocks[i], blocks[j] = blocks[j], blocks[i] })
	return blocks
}

// Many small runs of interleaved identities merge, in one pass or in
// several (a small fan-in), to the bytes of the old in-memory sort, and
// leave no run behind.
func TestMergeMatchesInMemorySort(t *testing.T) {
	blocks := interleaved(1)
	for _, fanIn := range []int{0, 5, 2} {
		dir := t.TempDir()
		cfg := ShardConfig{Dir: dir, Shards: 2, Features: 4, SpillBytes: 8 << 10, MergeFanIn: fanIn}
		runs := spillDirect(t, cfg, Train, blocks)
		for key := ShardKey(Train, 0, 2); key <= ShardKey(Train, 1, 2); key++ {
			if len(runs[key]) < 20 {
				t.Fatalf("only %d runs for key %d: the test wants many", len(runs[key]), key)
			}
			res, err := writeDirect(cfg, key, runs[key], scale4)
			if err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(filepath.Join(dir, res.Info.Path))
			if err != nil {
				t.Fatal(err)
			}
			if want := inMemoryShard(t, cfg, Train, key, blocks, scale4); !bytes.Equal(got, want) {
				t.Errorf("fan-in %d, key %d (%d runs): %d bytes differ from the in-memory sort's %d", fanIn, key, len(runs[key]), len(got), len(want))
			}
		}
		if left, _ := filepath.Glob(filepath.Join(dir, shardio.RunDir, "*")); len(left) > 0 {
			t.Errorf("fan-in %d: %d runs left behind", fanIn, len(left))
		}
	}
}

// A merge never opens more than MergeFanIn runs: MergePasses leaves at
// most that many, with every row, and keeps SpillRuns' runs until the
// shard is written.
func TestMergePassesBoundFanIn(t *testing.T) {
	dir := t.TempDir()
	cfg := ShardConfig{Dir: dir, Shards: 1, Features: 4, SpillBytes: 4 << 10, MergeFanIn: 3}
	runs := spillDirect(t, cfg, Train, interleaved(2))[ShardKey(Train, 0, 1)]
	var want int64
	for _, r := range runs {
		want += r.Rows
	}
	made := map[string]bool{}
	last, err := cfg.runs().MergePasses(context.Background(), 0, runs, made)
	if err != nil {
		t.Fatal(err)
	}
	var got int64
	for _, r := range last {
		got += r.Rows
	}
	if len(runs) < 10 || len(last) > 3 || got != want {
		t.Fatalf("%d runs (%d rows) merged to %d (%d rows), want at most 3 with every row", len(runs), want, len(last), got)
	}
	for _, r := range runs {
		if _, err := os.Stat(filepath.Join(dir, r.Path)); err != nil {
			t.Errorf("a spilled run is gone before its shard is written: %v", err)
		}
	}
	for p := range made {
		if !slices.ContainsFunc(last, func(r shardio.Run) bool { return r.Path == p }) {
			t.Errorf("run %s of an early pass was not deleted", p)
		}
	}
}

// Empty runs add nothing, and a key without runs gets an empty shard.
func TestMergeEmptyRuns(t *testing.T) {
	dir := t.TempDir()
	cfg := ShardConfig{Dir: dir, Shards: 1, Features: 4, SpillBytes: 8 << 10}
	blocks := interleaved(4)[:20]
	runs := spillDirect(t, cfg, Train, blocks)[0]
	var empty []shardio.Run
	for k := 0; k < 3; k++ {
		r, err := cfg.runs().Spill(context.Background(), 0, nil)
		if err != nil {
			t.Fatal(err)
		}
		empty = append(empty, r)
	}
	res, err := writeDirect(cfg, 0, append(append(empty[:1:1], runs...), empty[1:]...), scale4)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(filepath.Join(dir, res.Info.Path))
	if want := inMemoryShard(t, cfg, Train, 0, blocks, scale4); !bytes.Equal(got, want) {
		t.Errorf("with empty runs: %d bytes, want the %d of the rows alone", len(got), len(want))
	}
	res, err = writeDirect(cfg, ShardKey(Test, 0, 1), nil, scale4)
	if err != nil {
		t.Fatal(err)
	}
	got, _ = os.ReadFile(filepath.Join(dir, res.Info.Path))
	if want := inMemoryShard(t, cfg, Test, ShardKey(Test, 0, 1), nil, scale4); res.Info.Rows != 0 || !bytes.Equal(got, want) {
		t.Errorf("no runs: %d rows in %d bytes, want an empty shard of %d", res.Info.Rows, len(got), len(want))
	}
}

// A damaged, missing or miscounted run fails the shard with an error that
// names the run file, and no shard file appears.
func TestMergeDamagedRun(t *testing.T) {
	for _, tc := range []struct {
		name   string
		damage func(path string, ref *shardio.Run) error
		want   string
	}{
		{"truncated", func(p string, _ *shardio.Run) error {
			fi, err := os.Stat(p)
			if err != nil {
				return err
			}
			return os.Truncate(p, fi.Size()/2)
		}, "truncated"},
		{"corrupt", func(p string, _ *shardio.Run) error {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			b[len(b)/2] ^= 0x40
			return os.WriteFile(p, b, 0o644)
		}, "corrupt"},
		{"missing", func(p string, _ *shardio.Run) error { return os.Remove(p) }, ""},
		{"miscounted", func(_ string, r *shardio.Run) error { r.Rows++; return nil }, "its reference says"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			cfg := ShardConfig{Dir: dir, Shards: 1, Features: 4, SpillBytes: 8 << 10, MergeFanIn: 4}
			runs := spillDirect(t, cfg, Train, interleaved(5))[0]
			bad := &runs[len(runs)/2]
			path := filepath.Join(dir, bad.Path)
			if err := tc.damage(path, bad); err != nil {
				t.Fatal(err)
			}
			res, err := writeDirect(cfg, 0, runs, scale4)
			if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one naming %s (and %q)", err, path, tc.want)
			}
			shard := filepath.Join(dir, shardio.ShardPath("train", 0, 1))
			if _, serr := os.Stat(shard); !errors.Is(serr, os.ErrNotExist) {
				t.Errorf("a shard file is visible after the failure (%v, result %+v)", serr, res)
			}
		})
	}
}
