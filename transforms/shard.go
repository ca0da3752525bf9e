package transforms

import (
	"bufio"
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"

	"github.com/lightbeam-ml/lightbeam/data/rows"
	"github.com/lightbeam-ml/lightbeam/data/shardio"
	"github.com/lightbeam-ml/lightbeam/storage"
)

// ShardConfig says where and how SpillRuns and WriteShards write.
type ShardConfig struct {
	Dir      string // Required. The output directory (local or gs://).
	Shards   int    // Required. Shard files per split.
	Features int    // Required. Features per row.
	Sparse   bool   // Optional. Write CSR rows.
	// SpillBytes is how many bytes of rows SpillRuns buffers (per worker
	// thread) before writing them as runs. Optional. Defaults to 64 MiB.
	SpillBytes int
}

// RunDir is where SpillRuns writes its runs, relative to the output
// directory; WriteShards deletes each run it consumed, and Run deletes
// what a failed bundle left.
const RunDir = "tmp"

// RunRef names a run: rows of one shard, sorted by record identity, in a
// temporary shard file (unscaled) under Dir/RunDir.
type RunRef struct {
	Path string // relative to the output directory
	Rows int64
}

// ShardResult describes one shard file written.
type ShardResult struct {
	Split string
	Index int
	Info  shardio.ShardInfo
}

// SpillRuns sends every row of a PCollection<KV<int, rows.Block>> keyed by
// split to its shard (ShardOf of its identity) and returns
// PCollection<KV<int, RunRef>> keyed by ShardKey: the rows themselves go to
// run files, and only the references are shuffled.
//
// Why: grouping the blocks by shard key moved every row through the
// runner's shuffle. Prism copies each shuffled byte several times and holds
// them all in memory (500 MB of CSV took 4 GB of RSS and most of the CPU);
// a run file is written once and read once. Every runner that lightbeam
// targets gives its workers the output directory (local, or gs://).
func SpillRuns(s beam.Scope, splitBlocks beam.PCollection, cfg ShardConfig) beam.PCollection {
	if cfg.Shards <= 0 || cfg.Dir == "" {
		panic(fmt.Sprintf("transforms.SpillRuns: bad config %+v", cfg))
	}
	s = s.Scope("transforms.SpillRuns")
	return beam.ParDo(s, &spillFn{Cfg: cfg}, splitBlocks)
}

type spillFn struct {
	Cfg ShardConfig

	parts map[int]*rows.Block // buffered rows by shard key
	bytes int                 // their size in memory
}

// StartBundle takes the emitter only because Beam insists that bundle
// methods list the emitters of a DoFn that emits from FinishBundle.
func (fn *spillFn) StartBundle(_ context.Context, _ func(int, RunRef)) {
	fn.parts, fn.bytes = map[int]*rows.Block{}, 0
}

func (fn *spillFn) ProcessElement(ctx context.Context, split int, b rows.Block, emit func(int, RunRef)) error {
	if split < 0 || split >= NumSplits {
		return fmt.Errorf("transforms.SpillRuns: split index %d out of range", split)
	}
	for i, id := range b.IDs {
		k := ShardKey(split, ShardOf(id, fn.Cfg.Shards), fn.Cfg.Shards)
		p := fn.parts[k]
		if p == nil {
			p = b.Empty(b.Rows()/fn.Cfg.Shards + 1)
			fn.parts[k] = p
		}
		p.AppendRow(&b, i)
	}
	fn.bytes += 12*len(b.IDs) + 4*len(b.Dense) + 4*len(b.Indptr) + 8*len(b.Indices)
	limit := fn.Cfg.SpillBytes
	if limit <= 0 {
		limit = 64 << 20
	}
	if fn.bytes >= limit {
		return fn.spill(ctx, emit)
	}
	return nil
}

func (fn *spillFn) FinishBundle(ctx context.Context, emit func(int, RunRef)) error {
	return fn.spill(ctx, emit)
}

// spill writes each buffered shard's rows as a sorted run.
func (fn *spillFn) spill(ctx context.Context, emit func(int, RunRef)) error {
	keys := make([]int, 0, len(fn.parts))
	for k := range fn.parts {
		keys = append(keys, k)
	}
	sort.Ints(keys)
	for _, k := range keys {
		sorted := sortRows([]*rows.Block{fn.parts[k]}, fn.Cfg.Features, fn.Cfg.Sparse)
		var tag [12]byte
		rand.Read(tag[:])
		rel := fmt.Sprintf("%s/run-%05d-%s.lbs", RunDir, k, hex.EncodeToString(tag[:]))
		path := storage.Join(fn.Cfg.Dir, rel)
		err := writeTemp(ctx, path, func(w io.Writer) error {
			_, err := shardio.WriteShard(w, shardio.Header{Features: fn.Cfg.Features, Sparse: fn.Cfg.Sparse}, []*rows.Block{sorted})
			return err
		})
		if err != nil {
			return fmt.Errorf("transforms.SpillRuns: %s: %w", path, err)
		}
		emit(k, RunRef{Path: rel, Rows: int64(sorted.Rows())})
	}
	fn.parts, fn.bytes = map[int]*rows.Block{}, 0
	return nil
}

// writeTemp writes a run file. Runs live for one job: a local one skips
// the fsync and rename of storage.WriteFile (a crash fails the job anyway).
func writeTemp(ctx context.Context, path string, write func(io.Writer) error) error {
	if !storage.IsLocal(path) {
		return storage.WriteFile(ctx, path, write)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	if err := write(bw); err != nil {
		f.Close()
		return err
	}
	if err := bw.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// WriteShards joins PCollection<KV<int, RunRef>> keyed by shard key (see
// SpillRuns) with PCollection<KV<int, Scale>> (see FitScaleTo), reads each
// shard's runs, scales the rows, and writes one shard file per key, with
// the rows in the order of their record identity: the same rows give the
// same bytes on every runner, however they were bundled. Every key gets a
// file, empty if no row hashed to it. The runs are deleted once their shard
// is written. It returns PCollection<ShardResult>.
func WriteShards(s beam.Scope, runsByShard, scaleByShard beam.PCollection, cfg ShardConfig) beam.PCollection {
	if cfg.Shards <= 0 || cfg.Dir == "" {
		panic(fmt.Sprintf("transforms.WriteShards: bad config %+v", cfg))
	}
	s = s.Scope("transforms.WriteShards")
	joined := beam.CoGroupByKey(s, runsByShard, scaleByShard)
	return beam.ParDo(s, &writeShardFn{Cfg: cfg}, joined)
}

type writeShardFn struct{ Cfg ShardConfig }

func (fn *writeShardFn) ProcessElement(ctx context.Context, key int, runs func(*RunRef) bool, scales func(*Scale) bool) (ShardResult, error) {
	split, index := key/fn.Cfg.Shards, key%fn.Cfg.Shards
	if split < 0 || split >= NumSplits {
		return ShardResult{}, fmt.Errorf("transforms.WriteShards: shard key %d out of range", key)
	}
	var sc Scale
	if !scales(&sc) {
		return ShardResult{}, fmt.Errorf("transforms.WriteShards: the train split is empty, so there is nothing to fit the scaling on (%s shard %d has rows)", SplitNames[split], index)
	}
	var refs []RunRef
	var r RunRef
	for runs(&r) {
		refs = append(refs, r)
	}
	// Read the runs in a fixed order (the merge below sorts anyway).
	slices.SortFunc(refs, func(a, b RunRef) int { return cmp.Compare(a.Path, b.Path) })
	var all []*rows.Block
	for _, ref := range refs {
		blocks, err := readRun(ctx, storage.Join(fn.Cfg.Dir, ref.Path), ref.Rows)
		if err != nil {
			return ShardResult{}, fmt.Errorf("transforms.WriteShards: %w", err)
		}
		all = append(all, blocks...)
	}
	sorted := sortRows(all, fn.Cfg.Features, fn.Cfg.Sparse)
	all = nil
	sc.Apply(sorted)
	rel := shardio.ShardPath(SplitNames[split], index, fn.Cfg.Shards)
	path := storage.Join(fn.Cfg.Dir, rel)
	var st shardio.ShardStats
	err := storage.WriteFile(ctx, path, func(w io.Writer) error {
		var err error
		st, err = shardio.WriteShard(w, shardio.Header{Features: fn.Cfg.Features, Sparse: fn.Cfg.Sparse}, []*rows.Block{sorted})
		return err
	})
	if err != nil {
		return ShardResult{}, fmt.Errorf("transforms.WriteShards: %s: %w", path, err)
	}
	for _, ref := range refs {
		if err := storage.Remove(ctx, storage.Join(fn.Cfg.Dir, ref.Path)); err != nil && !storage.IsNotExist(err) {
			return ShardResult{}, fmt.Errorf("transforms.WriteShards: removing a run: %w", err)
		}
	}
	return ShardResult{Split: SplitNames[split], Index: index, Info: shardio.ShardInfo{Path: rel, Rows: st.Rows, Bytes: st.Bytes, SHA256: st.SHA256}}, nil
}

// readRun reads every block of a run file that must hold want rows.
func readRun(ctx context.Context, path string, want int64) ([]*rows.Block, error) {
	f, err := storage.Open(ctx, path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r, err := shardio.NewReader(f, path)
	if err != nil {
		return nil, err
	}
	if r.Header().Rows != want {
		return nil, fmt.Errorf("%s: run holds %d rows, its reference says %d", path, r.Header().Rows, want)
	}
	var out []*rows.Block
	for {
		b, err := r.Next()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		out = append(out, b)
	}
}

// sortRows returns one block holding every row of blocks in the order of
// their record identity.
func sortRows(blocks []*rows.Block, features int, sparse bool) *rows.Block {
	type ref struct {
		id   uint64
		b, i int32
	}
	n := 0
	for _, b := range blocks {
		n += b.Rows()
	}
	refs := make([]ref, 0, n)
	for bi, b := range blocks {
		for i, id := range b.IDs {
			refs = append(refs, ref{id, int32(bi), int32(i)})
		}
	}
	slices.SortFunc(refs, func(x, y ref) int { return cmp.Compare(x.id, y.id) })
	var out *rows.Block
	if sparse {
		out = rows.NewSparse(features, len(refs))
	} else {
		out = rows.NewDense(features, len(refs))
	}
	for _, r := range refs {
		out.AppendRow(blocks[r.b], int(r.i))
	}
	return out
}

func init() {
	register.DoFn4x1[context.Context, int, rows.Block, func(int, RunRef), error](&spillFn{})
	register.DoFn4x2[context.Context, int, func(*RunRef) bool, func(*Scale) bool, ShardResult, error](&writeShardFn{})
	register.Emitter2[int, RunRef]()
	register.Iter1[RunRef]()
	register.Iter1[Scale]()
}
