package train

import (
	"context"
	"fmt"
	"io"
	"sort"
	"sync"

	"github.com/lightbeam-ml/lightbeam/data/rows"
	"github.com/lightbeam-ml/lightbeam/data/shardio"
	"github.com/lightbeam-ml/lightbeam/model"
)

// shardRows is one shard's rows, decoded and held in memory by the worker
// process that reads it: every round of an epoch visits the same rows, and
// decoding a zstd shard for each of hundreds of rounds would cost far more
// than the math.
type shardRows struct {
	*rows.Block
}

// cache holds decoded shards per process, keyed by directory and path.
// Workers of every runner are long-lived processes that run many bundles,
// so a shard is read once per process, not once per round.
var cache = struct {
	sync.Mutex
	m map[string]*cacheEntry
}{m: map[string]*cacheEntry{}}

type cacheEntry struct {
	once sync.Once
	rows *shardRows
	err  error
}

// loadShard returns the rows of the shard info in dir, reading it on first
// use in this process and verifying its checksum.
func loadShard(ctx context.Context, dir string, info shardio.ShardInfo) (*shardRows, error) {
	key := dir + "\x00" + info.Path + "\x00" + info.SHA256
	cache.Lock()
	e := cache.m[key]
	if e == nil {
		e = &cacheEntry{}
		cache.m[key] = e
	}
	cache.Unlock()
	e.once.Do(func() { e.rows, e.err = readShard(ctx, dir, info) })
	return e.rows, e.err
}

func readShard(ctx context.Context, dir string, info shardio.ShardInfo) (*shardRows, error) {
	r, err := shardio.OpenShard(ctx, dir, info)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	h := r.Header()
	// Room for the rows the header claims, but no more than 16 times the
	// file's bytes hold as raw values: a hostile header must not make us
	// allocate gigabytes before its first block fails (real shards that
	// compress better just grow the block).
	room := min(info.Rows, max(1, 16*info.Bytes/(4*int64(h.Features)+12)))
	var all *rows.Block
	if h.Sparse {
		all = rows.NewSparse(h.Features, int(room))
	} else {
		all = rows.NewDense(h.Features, int(room))
	}
	for {
		b, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		for i := 0; i < b.Rows(); i++ {
			all.AppendRow(b, i)
		}
	}
	return &shardRows{all}, nil
}

// batch gathers the rows idx of s into a model.Batch, reusing scratch.
func (s *shardRows) batch(idx []int32, scratch *batchScratch) model.Batch {
	n := len(idx)
	scratch.y = scratch.y[:0]
	for _, i := range idx {
		scratch.y = append(scratch.y, s.Labels[i])
	}
	if !s.Sparse {
		d := s.Features
		scratch.x = scratch.x[:0]
		for _, i := range idx {
			scratch.x = append(scratch.x, s.DenseValues[int(i)*d:int(i+1)*d]...)
		}
		return model.DenseBatch(scratch.x, scratch.y, n)
	}
	scratch.indptr = append(scratch.indptr[:0], 0)
	scratch.indices, scratch.values = scratch.indices[:0], scratch.values[:0]
	for _, i := range idx {
		lo, hi := s.Indptr[i], s.Indptr[i+1]
		scratch.indices = append(scratch.indices, s.Indices[lo:hi]...)
		scratch.values = append(scratch.values, s.Values[lo:hi]...)
		scratch.indptr = append(scratch.indptr, int32(len(scratch.indices)))
	}
	return model.Batch{N: n, Indptr: scratch.indptr, Indices: scratch.indices, Values: scratch.values, Y: scratch.y}
}

type batchScratch struct {
	x, y, values    []float32
	indptr, indices []int32
}

// rowHash mixes a row's identity with the epoch and seed: it orders rows
// for an epoch and assigns them to rounds, the same way whatever shard the
// row is in.
func rowHash(id uint64, epoch int, seed uint64) uint64 {
	return rows.Mix64(id ^ (seed * 0x9e3779b97f4a7c15) ^ (uint64(epoch+1) * 0xbf58476d1ce4e5b9))
}

// rowSelect picks the rows a model sees: all of them (the zero value), or
// for cross-validation those outside fold Fold of Folds (Train) or inside
// it (!Train). A row's fold is a hash of its identity: fixed across epochs
// and independent of the sharding.
type rowSelect struct {
	Folds int
	Fold  int
	Train bool
}

func (sel rowSelect) keep(id uint64, seed uint64) bool {
	if sel.Folds == 0 {
		return true
	}
	inFold := int(rowHash(id, -2, seed)%uint64(sel.Folds)) == sel.Fold
	return inFold != sel.Train
}

func (sel rowSelect) String() string { return fmt.Sprintf("%d/%d/%v", sel.Fold, sel.Folds, sel.Train) }

// syncBuckets assigns each selected row of s to one of rounds buckets by
// rowHash: bucket r of every shard together form round r's global
// mini-batch, so the batches do not depend on how the rows are sharded.
func syncBuckets(s *shardRows, epoch int, seed uint64, rounds int, sel rowSelect) [][]int32 {
	b := make([][]int32, rounds)
	for i, id := range s.IDs {
		if !sel.keep(id, seed) {
			continue
		}
		r := rowHash(id, epoch, seed) % uint64(rounds)
		b[r] = append(b[r], int32(i))
	}
	return b
}

// epochOrder returns the selected rows of s in the epoch's shuffled order.
func epochOrder(s *shardRows, epoch int, seed uint64, sel rowSelect) []int32 {
	order := make([]int32, 0, s.Rows())
	keys := make([]uint64, s.Rows())
	for i, id := range s.IDs {
		if sel.keep(id, seed) {
			order = append(order, int32(i))
		}
		keys[i] = rowHash(id, epoch, seed)
	}
	sort.Slice(order, func(a, b int) bool { return keys[order[a]] < keys[order[b]] })
	return order
}

// shardMemo caches per-process, per-epoch row orders so rounds of an epoch
// do not recompute them.
var memo = struct {
	sync.Mutex
	m map[string][][]int32
}{m: map[string][][]int32{}}

func memoized(key string, f func() [][]int32) [][]int32 {
	memo.Lock()
	defer memo.Unlock()
	if v, ok := memo.m[key]; ok {
		return v
	}
	if len(memo.m) > 256 { // old epochs are never asked for again
		memo.m = map[string][][]int32{}
	}
	v := f()
	memo.m[key] = v
	return v
}

func memoKey(info shardio.ShardInfo, kind string, epoch int, seed uint64, n int, sel rowSelect) string {
	return fmt.Sprintf("%s/%s/%s/%d/%d/%d/%s", info.Path, info.SHA256, kind, epoch, seed, n, sel)
}
