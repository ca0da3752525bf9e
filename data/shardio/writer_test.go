package shardio

import (
	"bytes"
	"io"
	"strings"
	"testing"

	"github.com/lightbeam-ml/lightbeam/data/rows"
)

// streamShard writes in through a Writer: the blocks of chunk(in, sizes...)
// alternately with Write and row by row with AppendRow.
func streamShard(t *testing.T, h Header, in *rows.Block, sizes ...int) ([]byte, ShardStats) {
	t.Helper()
	var buf bytes.Buffer
	h.Rows = int64(in.Rows())
	w, err := NewWriter(&buf, h)
	if err != nil {
		t.Fatal(err)
	}
	for k, b := range chunk(in, sizes...) {
		if k%2 == 0 {
			err = w.Write(b)
		} else {
			for i := 0; i < b.Rows() && err == nil; i++ {
				err = w.AppendRow(b, i)
			}
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	st, err := w.Close()
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), st
}

// A Writer gives WriteShard's bytes however the rows arrive: whole blocks
// straight from the input, single rows, pieces that straddle blocks.
func TestWriterSameBytesAsWriteShard(t *testing.T) {
	for _, in := range []*rows.Block{denseRows(21, 1037, 9), sparseRows(22, 1037, 50)} {
		h := Header{Features: in.Features, Sparse: in.Sparse, BlockRows: 100}
		ref, refSt := writeShard(t, h, []*rows.Block{in})
		for _, sizes := range [][]int{{1037}, {1}, {100}, {250, 1}, {7, 0, 300, 100}, {99, 101}} {
			got, st := streamShard(t, h, in, sizes...)
			if !bytes.Equal(got, ref) || st != refSt {
				t.Errorf("sparse=%v sizes %v: sha %s, want %s", in.Sparse, sizes, st.SHA256, refSt.SHA256)
			}
		}
	}
	// An empty shard: header and trailer only.
	got, st := streamShard(t, Header{Features: 3}, rows.NewDense(3, 0), 1)
	ref, refSt := writeShard(t, Header{Features: 3}, nil)
	if !bytes.Equal(got, ref) || st != refSt {
		t.Errorf("empty shard: %d bytes, want %d", len(got), len(ref))
	}
}

// A Writer holds one block, not the shard: after many blocks of single
// rows its buffers are still the size of one.
func TestWriterHoldsOneBlock(t *testing.T) {
	const d, blockRows, n = 16, 64, 64 * 200
	in := denseRows(23, n, d)
	w, err := NewWriter(io.Discard, Header{Features: d, BlockRows: blockRows, Rows: n})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i++ {
		if err := w.AppendRow(in, i); err != nil {
			t.Fatal(err)
		}
		if i == n/2 {
			block := blockRows * int(rowBytes(d))
			if c := cap(w.pend.IDs); c > blockRows {
				t.Errorf("pending rows have room for %d rows, want at most one block (%d)", c, blockRows)
			}
			if c := cap(w.raw); c > 2*block {
				t.Errorf("payload buffer of %d bytes, want about one block (%d)", c, block)
			}
		}
	}
	if st, err := w.Close(); err != nil || st.Rows != n {
		t.Fatalf("Close = %+v, %v; want %d rows", st, err, n)
	}
}

// The header is written first, so a Writer refuses more rows than it
// declared, and Close refuses fewer; every error sticks.
func TestWriterRowCount(t *testing.T) {
	in := denseRows(24, 10, 4)
	newW := func(rows int64) *Writer {
		w, err := NewWriter(io.Discard, Header{Features: 4, BlockRows: 3, Rows: rows})
		if err != nil {
			t.Fatal(err)
		}
		return w
	}
	w := newW(9)
	if err := w.Write(in); err == nil || !strings.Contains(err.Error(), "10 rows written to a shard of 9") {
		t.Errorf("too many rows: %v", err)
	}
	if _, err := w.Close(); err == nil {
		t.Error("Close after a failed Write succeeded")
	}
	w = newW(10)
	for i := 0; i < 9; i++ {
		if err := w.AppendRow(in, i); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := w.Close(); err == nil || !strings.Contains(err.Error(), "9 rows written to a shard of 10: incomplete") {
		t.Errorf("too few rows: %v", err)
	}
	w = newW(10)
	if err := w.Write(in); err != nil {
		t.Fatal(err)
	}
	if err := w.AppendRow(in, 0); err == nil || !strings.Contains(err.Error(), "11 rows written to a shard of 10") {
		t.Errorf("a row past the count: %v", err)
	}
	w = newW(10)
	if err := w.AppendRow(denseRows(1, 1, 5), 0); err == nil || !strings.Contains(err.Error(), "has 5 features") {
		t.Errorf("a row of another layout: %v", err)
	}
	w = newW(10)
	if err := w.Write(sparseRows(1, 2, 4)); err == nil || !strings.Contains(err.Error(), "sparse=true") {
		t.Errorf("a block of another layout: %v", err)
	}
	if _, err := NewWriter(io.Discard, Header{Features: 4, Rows: -1}); err == nil {
		t.Error("a negative row count was accepted")
	}
	w = newW(10)
	w.Write(in)
	if _, err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Close(); err == nil {
		t.Error("a second Close succeeded")
	}
}

// A write error of the destination is returned, and sticks.
func TestWriterWriteError(t *testing.T) {
	w, err := NewWriter(&failWriter{after: 100}, Header{Features: 8, BlockRows: 10, Rows: 100})
	if err != nil {
		t.Fatal(err)
	}
	in := denseRows(1, 100, 8)
	for i := 0; i < 100 && err == nil; i++ {
		err = w.AppendRow(in, i)
	}
	if err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("error %v, want the writer's", err)
	}
	if _, err := w.Close(); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("Close = %v, want the first error again", err)
	}
}
