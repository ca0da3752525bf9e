package transforms

import (
	"cmp"
	"context"
	"fmt"
	"io"
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
	// thread) before writing them as runs. Optional. Defaults to 32 MiB:
	// prism runs up to 8 bundles at once, each with its own buffer.
	SpillBytes int
	// MergeFanIn is the most runs WriteShards reads at once; a shard with
	// more is merged in passes. Optional. Defaults to shardio.DefaultFanIn
	// (64).
	MergeFanIn int
}

const defaultSpillBytes = 32 << 20

// ShardResult describes one shard file written.
type ShardResult struct {
	Split string
	Index int
	Info  shardio.ShardInfo
}

// SpillRuns sends every row of a PCollection<KV<int, rows.Block>> keyed by
// split to its shard (ShardOf of its identity) and returns
// PCollection<KV<int, shardio.Run>> keyed by ShardKey: the rows themselves
// go to run files (shardio.Runs.Spill), and only the references are
// shuffled.
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

	parts map[int][]*rows.Block // buffered rows by shard key, a piece of each input block
	bytes int                   // their size in memory
	shard []int                 // reused: the shard of each row of an input block
}

// StartBundle takes the emitter only because Beam insists that bundle
// methods list the emitters of a DoFn that emits from FinishBundle.
func (fn *spillFn) StartBundle(_ context.Context, _ func(int, shardio.Run)) {
	fn.parts, fn.bytes = map[int][]*rows.Block{}, 0
}

func (fn *spillFn) ProcessElement(ctx context.Context, split int, b rows.Block, emit func(int, shardio.Run)) error {
	if split < 0 || split >= NumSplits {
		return fmt.Errorf("transforms.SpillRuns: split index %d out of range", split)
	}
	for s, p := range fn.pieces(&b) {
		if p != nil {
			k := ShardKey(split, s, fn.Cfg.Shards)
			fn.parts[k] = append(fn.parts[k], p)
			fn.bytes += shardio.BlockBytes(p)
		}
	}
	limit := fn.Cfg.SpillBytes
	if limit <= 0 {
		limit = defaultSpillBytes
	}
	if fn.bytes >= limit {
		return fn.spill(ctx, emit)
	}
	return nil
}

// pieces copies the rows of b into one block per shard (nil where none),
// each allocated to the exact size of its rows: the input blocks may have
// room for more (SplitBlocks' do), and appending row by row would leave
// up to twice the room, which the spill limit would not count.
func (fn *spillFn) pieces(b *rows.Block) []*rows.Block {
	n := fn.Cfg.Shards
	fn.shard = slices.Grow(fn.shard[:0], b.Rows())[:b.Rows()]
	count, nnz := make([]int, n), make([]int, n)
	for i, id := range b.IDs {
		s := ShardOf(id, n)
		fn.shard[i] = s
		count[s]++
		if b.Sparse {
			nnz[s] += int(b.Indptr[i+1] - b.Indptr[i])
		}
	}
	out := make([]*rows.Block, n)
	for s, c := range count {
		if c == 0 {
			continue
		}
		p := b.Empty(c)
		if b.Sparse {
			p.Indices, p.Values = make([]int32, 0, nnz[s]), make([]float32, 0, nnz[s])
		}
		out[s] = p
	}
	for i, s := range fn.shard {
		out[s].AppendRow(b, i)
	}
	return out
}

func (fn *spillFn) FinishBundle(ctx context.Context, emit func(int, shardio.Run)) error {
	return fn.spill(ctx, emit)
}

// spill writes each buffered shard's rows as a sorted run.
//
// What it holds is bounded by SpillBytes plus one input block (blocks of
// at most Parse's BlockRows rows), whatever the input size: the buffer
// is spilled as soon as it passes the limit, each piece is allocated to
// size (pieces), and the rows are written in sorted order through a
// permutation (16 bytes a row), not a sorted copy.
func (fn *spillFn) spill(ctx context.Context, emit func(int, shardio.Run)) error {
	keys := make([]int, 0, len(fn.parts))
	for k := range fn.parts {
		keys = append(keys, k)
	}
	sort.Ints(keys)
	for _, k := range keys {
		ref, err := fn.Cfg.runs().Spill(ctx, k, fn.parts[k])
		if err != nil {
			return fmt.Errorf("transforms.SpillRuns: %w", err)
		}
		delete(fn.parts, k) // free each shard's rows as soon as they are written
		emit(k, ref)
	}
	fn.parts, fn.bytes = map[int][]*rows.Block{}, 0
	return nil
}

// runs is the run store of the shards that cfg describes.
func (cfg ShardConfig) runs() shardio.Runs {
	return shardio.Runs{Dir: cfg.Dir, Features: cfg.Features, Sparse: cfg.Sparse, FanIn: cfg.MergeFanIn}
}

// WriteShards joins PCollection<KV<int, shardio.Run>> keyed by shard key
// (see SpillRuns) with PCollection<KV<int, Scale>> (see FitScaleTo), merges each
// shard's runs, scales the rows, and writes one shard file per key, with
// the rows in the order of their record identity (rows with the same
// identity in the order of their content): the same rows give the same
// bytes on every runner, however they were bundled. Every key gets a file,
// empty if no row hashed to it. The runs are deleted once their shard is
// written. It returns PCollection<ShardResult>.
//
// The merge streams: it holds one block of each run it reads (at most
// MergeFanIn at once; more are merged in passes into larger runs first) and
// one block of the shard being written, so its memory does not grow with
// the shard.
func WriteShards(s beam.Scope, runsByShard, scaleByShard beam.PCollection, cfg ShardConfig) beam.PCollection {
	if cfg.Shards <= 0 || cfg.Dir == "" {
		panic(fmt.Sprintf("transforms.WriteShards: bad config %+v", cfg))
	}
	s = s.Scope("transforms.WriteShards")
	joined := beam.CoGroupByKey(s, runsByShard, scaleByShard)
	return beam.ParDo(s, &writeShardFn{Cfg: cfg}, joined)
}

type writeShardFn struct{ Cfg ShardConfig }

func (fn *writeShardFn) ProcessElement(ctx context.Context, key int, runs func(*shardio.Run) bool, scales func(*Scale) bool) (ShardResult, error) {
	split, index := key/fn.Cfg.Shards, key%fn.Cfg.Shards
	if split < 0 || split >= NumSplits {
		return ShardResult{}, fmt.Errorf("transforms.WriteShards: shard key %d out of range", key)
	}
	var sc Scale
	if !scales(&sc) {
		return ShardResult{}, fmt.Errorf("transforms.WriteShards: the train split is empty, so there is nothing to fit the scaling on (%s shard %d has rows)", SplitNames[split], index)
	}
	var refs []shardio.Run
	var r shardio.Run
	for runs(&r) {
		refs = append(refs, r)
	}
	// A fixed order of the runs keeps the passes alike on every attempt
	// (the bytes do not depend on it).
	slices.SortFunc(refs, func(a, b shardio.Run) int { return cmp.Compare(a.Path, b.Path) })

	// made holds the runs that the merge passes of this attempt wrote, to
	// delete on failure. SpillRuns' runs are deleted only once the shard is
	// written, so that a retried attempt finds them.
	made := map[string]bool{}
	defer func() {
		for p := range made {
			storage.Remove(ctx, storage.Join(fn.Cfg.Dir, p))
		}
	}()
	store := fn.Cfg.runs()
	last, err := store.MergePasses(ctx, key, refs, made)
	if err != nil {
		return ShardResult{}, fmt.Errorf("transforms.WriteShards: %w", err)
	}
	rel := shardio.ShardPath(SplitNames[split], index, fn.Cfg.Shards)
	path := storage.Join(fn.Cfg.Dir, rel)
	var st shardio.ShardStats
	err = storage.WriteFile(ctx, path, func(w io.Writer) error {
		st, err = store.Merge(ctx, w, last, sc.Apply)
		return err
	})
	if err != nil {
		return ShardResult{}, fmt.Errorf("transforms.WriteShards: %s: %w", path, err)
	}
	for _, ref := range refs {
		made[ref.Path] = true
	}
	for p := range made {
		if err := store.Remove(ctx, p); err != nil {
			return ShardResult{}, fmt.Errorf("transforms.WriteShards: removing a run: %w", err)
		}
		delete(made, p)
	}
	return ShardResult{Split: SplitNames[split], Index: index, Info: shardio.ShardInfo{Path: rel, Rows: st.Rows, Bytes: st.Bytes, SHA256: st.SHA256}}, nil
}

func init() {
	register.DoFn4x1[context.Context, int, rows.Block, func(int, shardio.Run), error](&spillFn{})
	register.DoFn4x2[context.Context, int, func(*shardio.Run) bool, func(*Scale) bool, ShardResult, error](&writeShardFn{})
	register.Emitter2[int, shardio.Run]()
	register.Iter1[shardio.Run]()
	register.Iter1[Scale]()
}
