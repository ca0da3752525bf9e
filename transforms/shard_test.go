package transforms

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
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
				if got := b.Dense[i*b.Features+j]; math.Abs(float64(got-want)) > 1e-4*(1+math.Abs(float64(want))) {
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
		if left, _ := filepath.Glob(filepath.Join(d, RunDir, "*")); len(left) > 0 {
			t.Errorf("%d runs left behind in %s", len(left), filepath.Join(d, RunDir))
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
