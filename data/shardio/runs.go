package shardio

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

	"github.com/lightbeam-ml/lightbeam/data/rows"
	"github.com/lightbeam-ml/lightbeam/storage"
)

// An external merge sort writes shards whose rows do not fit in memory:
// rows are spilled as sorted runs (Runs.Spill: temporary shard files of
// unscaled rows), and a shard is the merge of its runs (Runs.Merge),
// streamed a block at a time, after passes that merge runs FanIn at a time
// into larger ones (Runs.MergePasses) when there are more.

// RunDir is where runs are written, relative to the output directory. A
// run lives for one job: the writer of the shard deletes the runs it
// consumed (transforms.WriteShards), and the job what a failed attempt
// left (preprocess.Run).
const RunDir = "tmp"

const (
	// DefaultFanIn is the most runs a merge opens when Runs.FanIn is 0.
	DefaultFanIn = 64
	// runBlockBytes is about the size of a block of rows in a run file: a
	// merge holds one block of each open run (decoded, with its compressed
	// and raw buffers), so 64 open runs hold some 50 MiB whatever the shard
	// size or the row width.
	runBlockBytes = 256 << 10
)

// Run names a run: rows of one shard, sorted by record identity (rows of
// one identity by their content), in a temporary shard file (unscaled)
// under RunDir.
type Run struct {
	Path string // relative to the output directory
	Rows int64
}

// Runs writes, merges and removes the runs of one output directory, rows
// of one layout.
type Runs struct {
	Dir      string // Required. The output directory (local or gs://).
	Features int    // Required. Features per row.
	Sparse   bool   // Optional. CSR rows.
	// FanIn is the most runs a merge reads at once. Optional. Defaults to
	// DefaultFanIn; at least 2.
	FanIn int
}

// BlockBytes is the in-memory size of b's rows, which a writer that
// buffers rows before spilling them counts.
func BlockBytes(b *rows.Block) int {
	return 12*len(b.IDs) + 4*len(b.DenseValues) + 4*len(b.Indptr) + 8*len(b.Indices)
}

// Spill writes the rows of parts, sorted, as a run of shard key k, and
// returns it. The rows are written through a permutation (16
// bytes a row), not a sorted copy, in blocks of about 256 KiB.
func (rs Runs) Spill(ctx context.Context, k int, parts []*rows.Block) (Run, error) {
	order := sortedOrder(parts)
	n, size := int64(len(order)), int64(0)
	for _, p := range parts {
		size += int64(BlockBytes(p))
	}
	br := int(max(1, min(DefaultBlockRows, runBlockBytes*n/max(1, size))))
	return rs.writeRun(ctx, k, br, n, func(w *Writer) error {
		for _, r := range order {
			if err := w.AppendRow(parts[r.p], int(r.i)); err != nil {
				return err
			}
		}
		return nil
	})
}

// writeRun writes a run of n rows of shard key k, in blocks of blockRows
// rows, that fill appends in order, and returns its reference.
func (rs Runs) writeRun(ctx context.Context, k, blockRows int, n int64, fill func(*Writer) error) (Run, error) {
	var tag [12]byte
	rand.Read(tag[:])
	rel := fmt.Sprintf("%s/run-%05d-%s.lbs", RunDir, k, hex.EncodeToString(tag[:]))
	path := storage.Join(rs.Dir, rel)
	err := writeTemp(ctx, path, func(w io.Writer) error {
		sw, err := NewWriter(w, Header{Features: rs.Features, Sparse: rs.Sparse, BlockRows: blockRows, Rows: n})
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
		return Run{}, fmt.Errorf("%s: %w", path, err)
	}
	return Run{Path: rel, Rows: n}, nil
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

// Remove deletes the run at path (relative to the output directory); a
// run already gone is no error.
func (rs Runs) Remove(ctx context.Context, path string) error {
	if err := storage.Remove(ctx, storage.Join(rs.Dir, path)); err != nil && !storage.IsNotExist(err) {
		return err
	}
	return nil
}

// MergePasses merges runs FanIn at a time into new runs of shard key k
// (recorded in made; those it consumed are deleted) until at most FanIn
// are left, and returns those: a merge never opens more. The runs it was
// given are not deleted.
func (rs Runs) MergePasses(ctx context.Context, k int, runs []Run, made map[string]bool) ([]Run, error) {
	fanIn := rs.FanIn
	if fanIn <= 0 {
		fanIn = DefaultFanIn
	}
	fanIn = max(fanIn, 2)
	runs = slices.Clone(runs)
	for len(runs) > fanIn {
		group := runs[:fanIn]
		merged, err := rs.mergeToRun(ctx, k, group)
		if err != nil {
			return nil, err
		}
		made[merged.Path] = true
		for _, g := range group {
			if made[g.Path] {
				if err := rs.Remove(ctx, g.Path); err != nil {
					return nil, fmt.Errorf("removing a run: %w", err)
				}
				delete(made, g.Path)
			}
		}
		runs = append(runs[fanIn:], merged)
	}
	return runs, nil
}

// Merge writes the shard file of the rows of runs, in their order
// (identity, then content: the same rows give the same bytes however they
// fell into runs), to w. Each block of rows passes through apply (the scaling)
// before it is written. It holds one block of each run and one of the
// shard, so its memory does not grow with the shard; it opens every run at
// once (MergePasses bounds them).
func (rs Runs) Merge(ctx context.Context, w io.Writer, runs []Run, apply func(*rows.Block)) (ShardStats, error) {
	var total int64
	for _, r := range runs {
		total += r.Rows
	}
	sw, err := NewWriter(w, Header{Features: rs.Features, Sparse: rs.Sparse, Rows: total})
	if err != nil {
		return ShardStats{}, err
	}
	h, err := rs.openRuns(ctx, runs)
	if err != nil {
		return ShardStats{}, err
	}
	defer h.close()
	// Rows are scaled a block at a time, in a block of the writer's size:
	// Write then encodes it without another copy.
	n := sw.Header().BlockRows
	out := rs.newBlock(n)
	flush := func() error {
		apply(out)
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
		return ShardStats{}, err
	}
	return sw.Close()
}

// mergeToRun merges runs (unscaled) into one new run of shard key k,
// in blocks no larger than theirs.
func (rs Runs) mergeToRun(ctx context.Context, k int, runs []Run) (Run, error) {
	h, err := rs.openRuns(ctx, runs)
	if err != nil {
		return Run{}, err
	}
	defer h.close()
	var n int64
	blockRows := DefaultBlockRows
	for _, c := range h {
		n += c.r.Header().Rows
		blockRows = min(blockRows, c.r.Header().BlockRows)
	}
	return rs.writeRun(ctx, k, blockRows, n, func(w *Writer) error {
		return h.drain(w.AppendRow)
	})
}

// openRuns opens runs for a merge, each at its first row; empty runs are
// left out.
func (rs Runs) openRuns(ctx context.Context, runs []Run) (cursorHeap, error) {
	h := make(cursorHeap, 0, len(runs))
	for _, ref := range runs {
		c, err := rs.openRun(ctx, ref)
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
func (rs Runs) openRun(ctx context.Context, ref Run) (*runCursor, error) {
	path := storage.Join(rs.Dir, ref.Path)
	f, err := storage.Open(ctx, path)
	if err != nil {
		return nil, err
	}
	r, err := NewReader(f, path)
	if err != nil {
		f.Close()
		return nil, err
	}
	h := r.Header()
	switch {
	case h.Rows != ref.Rows:
		err = fmt.Errorf("%s: run holds %d rows, its reference says %d", path, h.Rows, ref.Rows)
	case h.Features != rs.Features || h.Sparse != rs.Sparse:
		err = fmt.Errorf("%s: run has %d features (sparse=%v), the shards %d (sparse=%v)", path, h.Features, h.Sparse, rs.Features, rs.Sparse)
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
	r *Reader
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
// that the order of a shard depends on its rows alone: two rows that
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
		return compareBits(a.DenseValues[i*d:(i+1)*d], b.DenseValues[j*d:(j+1)*d])
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

// newBlock returns an empty block of rs's layout with room for n rows.
func (rs Runs) newBlock(n int) *rows.Block {
	if rs.Sparse {
		return rows.NewSparse(rs.Features, n)
	}
	return rows.NewDense(rs.Features, n)
}

// resetBlock empties b, keeping its memory.
func resetBlock(b *rows.Block) {
	b.Labels, b.IDs, b.DenseValues = b.Labels[:0], b.IDs[:0], b.DenseValues[:0]
	if b.Sparse {
		b.Indptr, b.Indices, b.Values = b.Indptr[:1], b.Indices[:0], b.Values[:0]
	}
}
