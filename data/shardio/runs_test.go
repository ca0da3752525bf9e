package shardio

import (
	"bytes"
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/lightbeam-ml/lightbeam/data/rows"
)

// tiedRows returns rows whose identities repeat (50 distinct ones), with
// different contents and some exact duplicates, dense or sparse.
func tiedRows(sparse bool) *rows.Block {
	rng := rand.New(rand.NewPCG(3, 3))
	b := rows.NewDense(4, 0)
	if sparse {
		b = rows.NewSparse(4, 0)
	}
	for r := 0; r < 2000; r++ {
		id := rows.Mix64(uint64(r % 50))
		label := float32(rng.IntN(3))
		if r%7 == 6 { // an exact duplicate of an earlier row
			b.AppendRow(b, b.Rows()/2)
			continue
		}
		if sparse {
			j := int32(rng.IntN(4))
			b.AppendSparse(id, label, []int32{j}, []float32{float32(rng.IntN(3))})
		} else {
			b.AppendDense(id, label, []float32{float32(rng.IntN(2)), 1, float32(rng.IntN(2)), 0})
		}
	}
	return b
}

// chunks cuts b into blocks of every rows.
func chunks(b *rows.Block, every int) []*rows.Block {
	var out []*rows.Block
	for lo := 0; lo < b.Rows(); lo += every {
		c := b.Empty(every)
		for i := lo; i < min(lo+every, b.Rows()); i++ {
			c.AppendRow(b, i)
		}
		out = append(out, c)
	}
	return out
}

// Rows spilled as runs of any size, merged in one pass or in several, come
// back in the order of compareRows (identity, then content), so the
// shard's bytes do not depend on how the rows fell into runs; the merge
// passes delete the runs they made and keep the ones they were given.
func TestRunsMergeOrder(t *testing.T) {
	ctx := context.Background()
	for _, sparse := range []bool{false, true} {
		in := tiedRows(sparse)
		var first []byte
		for v, tc := range []struct{ perRun, every, fanIn int }{{2000, 2000, 0}, {100, 13, 3}, {7, 1, 2}} {
			rs := Runs{Dir: t.TempDir(), Features: 4, Sparse: sparse, FanIn: tc.fanIn}
			blocks := chunks(in, tc.every)
			if v == 2 {
				slices.Reverse(blocks)
			}
			var runs []Run
			for lo := 0; lo < len(blocks); lo += tc.perRun / tc.every {
				r, err := rs.Spill(ctx, 0, blocks[lo:min(lo+tc.perRun/tc.every, len(blocks))])
				if err != nil {
					t.Fatal(err)
				}
				runs = append(runs, r)
			}
			made := map[string]bool{}
			last, err := rs.MergePasses(ctx, 0, runs, made)
			if err != nil {
				t.Fatal(err)
			}
			if fanIn := max(2, tc.fanIn); tc.fanIn > 0 && len(last) > fanIn {
				t.Errorf("%d runs left after the passes, fan-in %d", len(last), fanIn)
			}
			var buf bytes.Buffer
			if _, err := rs.Merge(ctx, &buf, last, func(*rows.Block) {}); err != nil {
				t.Fatal(err)
			}
			for p := range made {
				if err := rs.Remove(ctx, p); err != nil {
					t.Fatal(err)
				}
			}
			for _, r := range runs {
				if _, err := os.Stat(filepath.Join(rs.Dir, r.Path)); err != nil {
					t.Errorf("a spilled run is gone: %v", err)
				}
				if err := rs.Remove(ctx, r.Path); err != nil {
					t.Fatal(err)
				}
			}
			if left, _ := filepath.Glob(filepath.Join(rs.Dir, RunDir, "*")); len(left) > 0 {
				t.Errorf("%d runs left behind", len(left))
			}
			if v > 0 {
				if !bytes.Equal(buf.Bytes(), first) {
					t.Errorf("sparse=%v: %d runs of blocks of %d rows give other bytes than one run", sparse, len(runs), tc.every)
				}
				continue
			}
			first = buf.Bytes()
			r, err := NewReader(bytes.NewReader(first), "merged")
			if err != nil {
				t.Fatal(err)
			}
			all, _ := r.Next()
			if r.Header().Rows != int64(in.Rows()) || all == nil {
				t.Fatalf("sparse=%v: %d rows, want %d", sparse, r.Header().Rows, in.Rows())
			}
			for i := 1; i < all.Rows(); i++ {
				if compareRows(all, i-1, all, i) > 0 {
					t.Fatalf("sparse=%v: row %d is out of order", sparse, i)
				}
			}
		}
	}
}
