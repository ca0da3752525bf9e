package transforms

import (
	"context"
	"fmt"
	"io"
	"sort"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"

	"github.com/lightbeam-ml/lightbeam/transforms/rows"
	"github.com/lightbeam-ml/lightbeam/transforms/shardio"
	"github.com/lightbeam-ml/lightbeam/transforms/storage"
)

// ShardConfig says where and how WriteShards writes.
type ShardConfig struct {
	Dir      string // Required. The output directory (local or gs://).
	Shards   int    // Required. Shard files per split.
	Features int    // Required. Features per row.
	Sparse   bool   // Optional. Write CSR rows.
}

// ShardResult describes one shard file written.
type ShardResult struct {
	Split string
	Index int
	Info  shardio.ShardInfo
}

// WriteShards joins PCollection<KV<int, rows.Block>> keyed by shard key
// (see KeyByShard) with PCollection<KV<int, Scale>> (see FitScaleTo),
// scales the rows, and writes one shard file per key, with the rows in
// the order of their record identity: the same rows give the same bytes on
// every runner, however they were bundled. Every key gets a file, empty if
// no row hashed to it. It returns PCollection<ShardResult>.
func WriteShards(s beam.Scope, blocksByShard, scaleByShard beam.PCollection, cfg ShardConfig) beam.PCollection {
	if cfg.Shards <= 0 || cfg.Dir == "" {
		panic(fmt.Sprintf("transforms.WriteShards: bad config %+v", cfg))
	}
	s = s.Scope("transforms.WriteShards")
	joined := beam.CoGroupByKey(s, blocksByShard, scaleByShard)
	return beam.ParDo(s, &writeShardFn{Cfg: cfg}, joined)
}

type writeShardFn struct{ Cfg ShardConfig }

func (fn *writeShardFn) ProcessElement(ctx context.Context, key int, blocks func(*rows.Block) bool, scales func(*Scale) bool) (ShardResult, error) {
	split, index := key/fn.Cfg.Shards, key%fn.Cfg.Shards
	if split < 0 || split >= NumSplits {
		return ShardResult{}, fmt.Errorf("transforms.WriteShards: shard key %d out of range", key)
	}
	var sc Scale
	if !scales(&sc) {
		return ShardResult{}, fmt.Errorf("transforms.WriteShards: the train split is empty, so there is nothing to fit the scaling on (%s shard %d has rows)", SplitNames[split], index)
	}
	var all []*rows.Block
	var b rows.Block
	for blocks(&b) {
		blk := b
		all = append(all, &blk)
		b = rows.Block{}
	}
	sorted := sortRows(all, fn.Cfg.Features, fn.Cfg.Sparse)
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
	return ShardResult{Split: SplitNames[split], Index: index, Info: shardio.ShardInfo{Path: rel, Rows: st.Rows, Bytes: st.Bytes, SHA256: st.SHA256}}, nil
}

// sortRows returns one block holding every row of blocks in the order of
// their record identity.
func sortRows(blocks []*rows.Block, features int, sparse bool) *rows.Block {
	type ref struct {
		id   uint64
		b, i int
	}
	var refs []ref
	for bi, b := range blocks {
		for i, id := range b.IDs {
			refs = append(refs, ref{id, bi, i})
		}
	}
	sort.Slice(refs, func(x, y int) bool { return refs[x].id < refs[y].id })
	var out *rows.Block
	if sparse {
		out = rows.NewSparse(features, len(refs))
	} else {
		out = rows.NewDense(features, len(refs))
	}
	for _, r := range refs {
		out.AppendRow(blocks[r.b], r.i)
	}
	return out
}

func init() {
	register.DoFn4x2[context.Context, int, func(*rows.Block) bool, func(*Scale) bool, ShardResult, error](&writeShardFn{})
	register.Iter1[rows.Block]()
	register.Iter1[Scale]()
}
