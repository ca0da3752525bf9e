package transforms

import (
	"bufio"
	"cmp"
	"container/heap"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"math"
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
	// thread) before writing them as runs. Optional. Defaults to 32 MiB:
	// prism runs up to 8 bundles at once, each with its own buffer.
	SpillBytes int
	// MergeFanIn is the most runs WriteShards reads at once; a shard with
	// more is merged in passes. Optional. Defaults to 64.
	MergeFanIn int
}

const (
	defaultSpillBytes = 32 << 20
	defaultFanIn      = 64
	// runBlockBytes is about the size of a block of rows in a run file: a
	// merge holds one block of each open run (decoded, with its compressed
	// and raw buffers), so 64 open runs hold some 50 MiB whatever the shard
	// size or the row width.
	runBlockBytes = 256 << 10
)

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

	parts map[int][]*rows.Block // buffered rows by shard key, a piece of each input block
	bytes int                   // their size in memory
	shard []int                 // reused: the shard of each row of an input block
}

// StartBundle takes the emitter only because Beam insists that bundle
// methods list the emitters of a DoFn that emits from FinishBundle.
func (fn *spillFn) StartBundle(_ context.Context, _ func(int, RunRef)) {
	fn.parts, fn.bytes = map[int][]*rows.Block{}, 0
}

func (fn *spillFn) ProcessElement(ctx context.Context, split int, b rows.Block, emit func(int, RunRef)) error {
	if split < 0 || split >= NumSplits {
		return fmt.Errorf("transforms.SpillRuns: split index %d out of range", split)
	}
	for s, p := range fn.pieces(&b) {
		if p != nil {
			k := ShardKey(split, s, fn.Cfg.Shards)
			fn.parts[k] = append(fn.parts[k], p)
			fn.bytes += blockBytes(p)
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

func (fn *spillFn) FinishBundle(ctx context.Context, emit func(int, RunRef)) error {
	return fn.spill(ctx, emit)
}

// spill writes each buffered shard's rows as a sorted run.
//
// What it holds is bounded by SpillBytes plus one input block (blocks of
// at most Parse's BlockRows rows), whatever the input size: the buffer
// is spilled as soon as it passes the limit, each piece is allocated to
// size (pieces), and the rows are written in sorted order through a
// permutation (16 bytes a row), not a sorted copy.
func (fn *spillFn) spill(ctx context.Context, emit func(int, RunRef)) error {
	keys := make([]int, 0, len(fn.parts))
	for k := range fn.parts {
		keys = append(keys, k)
	}
	sort.Ints(keys)
	for _, k := range keys {
		parts := fn.parts[k]
		order := sortedOrder(parts)
		n, size := int64(len(order)), int64(0)
		for _, p := range parts {
			size += int64(blockBytes(p))
		}
		br := int(max(1, min(shardio.DefaultBlockRows, runBlockBytes*n/max(1, size))))
		ref, err := writeRun(ctx, fn.Cfg, k, br, n, func(w *shardio.Writer) error {
			for _, r := range order {
				if err := w.AppendRow(parts[r.p], int(r.i)); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("transforms.SpillRuns: %w", err)
		}
		delete(fn.parts, k) // free each shard's rows as soon as they are written
		emit(k, ref)
	}
	fn.parts, fn.bytes = map[int][]*rows.Block{}, 0
	return nil
}

// blockBytes is the in-memory size of b's rows.
func blockBytes(b *rows.Block) int {
	return 12*len(b.IDs) + 4*len(b.Dense) + 4*len(b.Indptr) + 8*len(b.Indices)
}

// writeRun writes a run of n rows of shard key k, in blocks of blockRows
// rows, that fill appends in order, and returns its reference.
func writeRun(ctx context.Context, cfg ShardConfig, k, blockRows int, n int64, fill func(*shardio.Writer) error) (RunRef, error) {
	var tag [12]byte
	rand.Read(tag[:])
	rel := fmt.Sprintf("%s/run-%05d-%s.lbs", RunDir, k, hex.EncodeToString(tag[:]))
	path := storage.Join(cfg.Dir, rel)
	err := writeTemp(ctx, path, func(w io.Writer) error {
		sw, err := shardio.NewWriter(w, shardio.Header{Features: cfg.Features, Sparse: cfg.Sparse, BlockRows: blockRows, Rows: n})
		if err != nil {
			return err
		}
		if err := fill(sw); err != nil {
			return err
		}
		_, err = sw.Close()
		return err
	})
	if err != nil {
		return RunRef{}, fmt.Errorf("%s: %w", path, err)
	}
	return RunRef{Path: rel, Rows: n}, nil
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
// SpillRuns) with PCollection<KV<int, Scale>> (see FitScaleTo), merges each
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
	// A fixed order of the runs keeps the passes alike on every attempt
	// (the bytes do not depend on it).
	slices.SortFunc(refs, func(a, b RunRef) int { return cmp.Compare(a.Path, b.Path) })

	// made holds the runs that the merge passes of this attempt wrote, to
	// delete on failure. SpillRuns' runs are deleted only once the shard is
	// written, so that a retried attempt finds them.
	made := map[string]bool{}
	defer func() {
		for p := range made {
			storage.Remove(ctx, storage.Join(fn.Cfg.Dir, p))
		}
	}()
	last, err := fn.mergePasses(ctx, key, refs, made)
	if err != nil {
		return ShardResult{}, fmt.Errorf("transforms.WriteShards: %w", err)
	}
	rel := shardio.ShardPath(SplitNames[split], index, fn.Cfg.Shards)
	path := storage.Join(fn.Cfg.Dir, rel)
	var st shardio.ShardStats
	err = storage.WriteFile(ctx, path, func(w io.Writer) error {
		st, err = fn.writeShard(ctx, w, last, sc)
		return err
	})
	if err != nil {
		return ShardResult{}, fmt.Errorf("transforms.WriteShards: %s: %w", path, err)
	}
	for _, ref := range refs {
		made[ref.Path] = true
	}
	for p := range made {
		if err := storage.Remove(ctx, storage.Join(fn.Cfg.Dir, p)); err != nil && !storage.IsNotExist(err) {
			return ShardResult{}, fmt.Errorf("transforms.WriteShards: removing a run: %w", err)
		}
		delete(made, p)
	}
	return ShardResult{Split: SplitNames[split], Index: index, Info: shardio.ShardInfo{Path: rel, Rows: st.Rows, Bytes: st.Bytes, SHA256: st.SHA256}}, nil
}

// mergePasses merges runs MergeFanIn at a time into new runs of shard key
// k (recorded in made; those it consumed are deleted) until at most
// MergeFanIn are left, and returns those: a merge never opens more.
func (fn *writeShardFn) mergePasses(ctx context.Context, k int, runs []RunRef, made map[string]bool) ([]RunRef, error) {
	fanIn := fn.Cfg.MergeFanIn
	if fanIn <= 0 {
		fanIn = defaultFanIn
	}
	fanIn = max(fanIn, 2)
	runs = slices.Clone(runs)
	for len(runs) > fanIn {
		group := runs[:fanIn]
		merged, err := fn.mergeToRun(ctx, k, group)
		if err != nil {
			return nil, err
		}
		made[merged.Path] = true
		for _, g := range group {
			if made[g.Path] {
				if err := storage.Remove(ctx, storage.Join(fn.Cfg.Dir, g.Path)); err != nil && !storage.IsNotExist(err) {
					return nil, fmt.Errorf("removing a run: %w", err)
				}
				delete(made, g.Path)
			}
		}
		runs = append(runs[fanIn:], merged)
	}
	return runs, nil
}

// writeShard merges runs into a shard file written to w, scaling the rows
// with sc.
func (fn *writeShardFn) writeShard(ctx context.Context, w io.Writer, runs []RunRef, sc Scale) (shardio.ShardStats, error) {
	var total int64
	for _, r := range runs {
		total += r.Rows
	}
	sw, err := shardio.NewWriter(w, shardio.Header{Features: fn.Cfg.Features, Sparse: fn.Cfg.Sparse, Rows: total})
	if err != nil {
		return shardio.ShardStats{}, err
	}
	h, err := fn.openRuns(ctx, runs)
	if err != nil {
		return shardio.ShardStats{}, err
	}
	defer h.close()
	// Rows are scaled a block at a time, in a block of the writer's size:
	// Write then encodes it without another copy.
	n := sw.Header().BlockRows
	out := newBlock(fn.Cfg, n)
	flush := func() error {
		sc.Apply(out)
		err := sw.Write(out)
		resetBlock(out)
		return err
	}
	err = h.drain(func(b *rows.Block, i int) error {
		out.AppendRow(b, i)
		if out.Rows() == n {
			return flush()
		}
		return nil
	})
	if err == nil && out.Rows() > 0 {
		err = flush()
	}
	if err != nil {
		return shardio.ShardStats{}, err
	}
	return sw.Close()
}

// mergeToRun merges runs (unscaled) into one new run of shard key k,
// in blocks no larger than theirs.
func (fn *writeShardFn) mergeToRun(ctx context.Context, k int, runs []RunRef) (RunRef, error) {
	h, err := fn.openRuns(ctx, runs)
	if err != nil {
		return RunRef{}, err
	}
	defer h.close()
	var n int64
	blockRows := shardio.DefaultBlockRows
	for _, c := range h {
		n += c.r.Header().Rows
		blockRows = min(blockRows, c.r.Header().BlockRows)
	}
	return writeRun(ctx, fn.Cfg, k, blockRows, n, func(w *shardio.Writer) error {
		return h.drain(w.AppendRow)
	})
}

// openRuns opens runs for a merge, each at its first row; empty runs are
// left out.
func (fn *writeShardFn) openRuns(ctx context.Context, runs []RunRef) (cursorHeap, error) {
	h := make(cursorHeap, 0, len(runs))
	for _, ref := range runs {
		c, err := fn.openRun(ctx, ref)
		if err != nil {
			h.close()
			return nil, err
		}
		ok, err := c.next()
		if !ok {
			c.f.Close()
		}
		if err != nil {
			h.close()
			return nil, err
		}
		if ok {
			h = append(h, c)
		}
	}
	heap.Init(&h)
	return h, nil
}

// openRun opens a run and checks its header against the reference.
func (fn *writeShardFn) openRun(ctx context.Context, ref RunRef) (*runCursor, error) {
	path := storage.Join(fn.Cfg.Dir, ref.Path)
	f, err := storage.Open(ctx, path)
	if err != nil {
		return nil, err
	}
	r, err := shardio.NewReader(f, path)
	if err != nil {
		f.Close()
		return nil, err
	}
	h := r.Header()
	switch {
	case h.Rows != ref.Rows:
		err = fmt.Errorf("%s: run holds %d rows, its reference says %d", path, h.Rows, ref.Rows)
	case h.Features != fn.Cfg.Features || h.Sparse != fn.Cfg.Sparse:
		err = fmt.Errorf("%s: run has %d features (sparse=%v), the shards %d (sparse=%v)", path, h.Features, h.Sparse, fn.Cfg.Features, fn.Cfg.Sparse)
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return &runCursor{f: f, r: r}, nil
}

// runCursor is a position in a run being merged: row i of block b.
type runCursor struct {
	f io.Closer
	r *shardio.Reader
	b *rows.Block
	i int
}

// next moves to the next row, reading the next block when one runs out,
// and reports false at the end of the run (its trailer checked).
func (c *runCursor) next() (bool, error) {
	c.i++
	for c.b == nil || c.i >= c.b.Rows() {
		b, err := c.r.Next()
		if err == io.EOF {
			c.b = nil
			return false, nil
		}
		if err != nil {
			return false, err
		}
		c.b, c.i = b, 0
	}
	return true, nil
}

// cursorHeap is a min-heap of run cursors by their current row.
type cursorHeap []*runCursor

// drain passes every row of the runs to emit in the order of compareRows,
// reading each run as a stream, one block at a time, and closes each run
// at its end.
func (h *cursorHeap) drain(emit func(b *rows.Block, i int) error) error {
	for len(*h) > 0 {
		c := (*h)[0]
		if err := emit(c.b, c.i); err != nil {
			return err
		}
		ok, err := c.next()
		if err != nil {
			return err
		}
		if ok {
			heap.Fix(h, 0)
		} else {
			c.f.Close()
			heap.Pop(h)
		}
	}
	return nil
}

// close closes the runs not yet drained.
func (h cursorHeap) close() {
	for _, c := range h {
		c.f.Close()
	}
}

func (h cursorHeap) Len() int { return len(h) }
func (h cursorHeap) Less(x, y int) bool {
	return compareRows(h[x].b, h[x].i, h[y].b, h[y].i) < 0
}
func (h cursorHeap) Swap(x, y int) { h[x], h[y] = h[y], h[x] }
func (h *cursorHeap) Push(x any)   { *h = append(*h, x.(*runCursor)) }
func (h *cursorHeap) Pop() any {
	old := *h
	c := old[len(old)-1]
	*h = old[:len(old)-1]
	return c
}

// compareRows orders row i of a and row j of b by record identity, and
// rows of the same identity by their content (label, then values), so
// that the order of the shard depends on its rows alone: two rows that
// compare equal are equal, and their order cannot change a byte.
func compareRows(a *rows.Block, i int, b *rows.Block, j int) int {
	if c := cmp.Compare(a.IDs[i], b.IDs[j]); c != 0 {
		return c
	}
	if c := cmp.Compare(math.Float32bits(a.Labels[i]), math.Float32bits(b.Labels[j])); c != 0 {
		return c
	}
	if !a.Sparse {
		d := a.Features
		return compareBits(a.Dense[i*d:(i+1)*d], b.Dense[j*d:(j+1)*d])
	}
	ai, bi := a.Indices[a.Indptr[i]:a.Indptr[i+1]], b.Indices[b.Indptr[j]:b.Indptr[j+1]]
	if c := slices.Compare(ai, bi); c != 0 {
		return c
	}
	return compareBits(a.Values[a.Indptr[i]:a.Indptr[i+1]], b.Values[b.Indptr[j]:b.Indptr[j+1]])
}

// compareBits compares float32 slices of equal length by their bits.
func compareBits(x, y []float32) int {
	for k := range x {
		if c := cmp.Compare(math.Float32bits(x[k]), math.Float32bits(y[k])); c != 0 {
			return c
		}
	}
	return 0
}

// rowRef is row i of block p of a list of blocks.
type rowRef struct {
	id   uint64
	p, i int32
}

// sortedOrder returns the rows of blocks in the order of compareRows.
func sortedOrder(blocks []*rows.Block) []rowRef {
	n := 0
	for _, b := range blocks {
		n += b.Rows()
	}
	refs := make([]rowRef, 0, n)
	for p, b := range blocks {
		for i, id := range b.IDs {
			refs = append(refs, rowRef{id, int32(p), int32(i)})
		}
	}
	slices.SortFunc(refs, func(x, y rowRef) int {
		if c := cmp.Compare(x.id, y.id); c != 0 {
			return c
		}
		return compareRows(blocks[x.p], int(x.i), blocks[y.p], int(y.i))
	})
	return refs
}

// newBlock returns an empty block of cfg's layout with room for n rows.
func newBlock(cfg ShardConfig, n int) *rows.Block {
	if cfg.Sparse {
		return rows.NewSparse(cfg.Features, n)
	}
	return rows.NewDense(cfg.Features, n)
}

// resetBlock empties b, keeping its memory.
func resetBlock(b *rows.Block) {
	b.Labels, b.IDs, b.Dense = b.Labels[:0], b.IDs[:0], b.Dense[:0]
	if b.Sparse {
		b.Indptr, b.Indices, b.Values = b.Indptr[:1], b.Indices[:0], b.Values[:0]
	}
}

func init() {
	register.DoFn4x1[context.Context, int, rows.Block, func(int, RunRef), error](&spillFn{})
	register.DoFn4x2[context.Context, int, func(*RunRef) bool, func(*Scale) bool, ShardResult, error](&writeShardFn{})
	register.Emitter2[int, RunRef]()
	register.Iter1[RunRef]()
	register.Iter1[Scale]()
}
