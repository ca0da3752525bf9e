package shardio

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"

	"github.com/lightbeam-ml/lightbeam/data/rows"
)

// denseRows returns n random dense rows of d features with some NaNs
// (missing values), as one block.
func denseRows(seed uint64, n, d int) *rows.Block {
	rng := rand.New(rand.NewPCG(seed, 1))
	b := rows.NewDense(d, n)
	x := make([]float32, d)
	for i := 0; i < n; i++ {
		for j := range x {
			switch r := rng.IntN(10); {
			case r < 5:
				x[j] = 0
			case r == 5:
				x[j] = float32(math.NaN())
			default:
				x[j] = rng.Float32()*4 - 2
			}
		}
		b.AppendDense(rng.Uint64(), float32(rng.IntN(10)), x)
	}
	return b
}

// sparseRows returns n random sparse rows of d features, about a fifth of
// them empty, as one block.
func sparseRows(seed uint64, n, d int) *rows.Block {
	rng := rand.New(rand.NewPCG(seed, 2))
	b := rows.NewSparse(d, n)
	for i := 0; i < n; i++ {
		var idx []int32
		var val []float32
		if rng.IntN(5) > 0 {
			for j := 0; j < d; j++ {
				if rng.IntN(8) == 0 {
					idx = append(idx, int32(j))
					val = append(val, rng.Float32())
				}
			}
		}
		b.AppendSparse(rng.Uint64(), rng.Float32(), idx, val)
	}
	return b
}

// chunk splits b into blocks of the given sizes, cycling through them; a
// size of 0 inserts an empty block.
func chunk(b *rows.Block, sizes ...int) []*rows.Block {
	var out []*rows.Block
	for i, k := 0, 0; i < b.Rows(); k++ {
		n := min(sizes[k%len(sizes)], b.Rows()-i)
		c := b.Empty(n)
		for r := i; r < i+n; r++ {
			c.AppendRow(b, r)
		}
		out = append(out, c)
		i += n
	}
	return out
}

// readAll reads every block of a shard and joins them into one block.
func readAll(t *testing.T, data []byte, name string) (Header, *rows.Block) {
	t.Helper()
	r, err := NewReaderSize(bytes.NewReader(data), name, int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	h := r.Header()
	all := rows.NewDense(h.Features, 0)
	if h.Sparse {
		all = rows.NewSparse(h.Features, 0)
	}
	for k := 0; ; k++ {
		b, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := b.Validate(); err != nil {
			t.Fatalf("block %d: %v", k, err)
		}
		if want := min(h.BlockRows, int(h.Rows)-k*h.BlockRows); b.Rows() != want {
			t.Fatalf("block %d has %d rows, want %d", k, b.Rows(), want)
		}
		for i := 0; i < b.Rows(); i++ {
			all.AppendRow(b, i)
		}
	}
	if _, err := r.Next(); err != io.EOF {
		t.Fatalf("Next after the end = %v, want io.EOF again", err)
	}
	return h, all
}

// sameRows compares two blocks bit for bit (NaN included).
func sameRows(t *testing.T, got, want *rows.Block) {
	t.Helper()
	bits := func(xs []float32) []uint32 {
		out := make([]uint32, len(xs))
		for i, x := range xs {
			out[i] = math.Float32bits(x)
		}
		return out
	}
	eq := func(name string, a, b any) {
		if fmt.Sprint(a) != fmt.Sprint(b) {
			t.Fatalf("%s differ after the round trip", name)
		}
	}
	if got.Rows() != want.Rows() || got.Features != want.Features || got.Sparse != want.Sparse {
		t.Fatalf("got %d rows × %d (sparse=%v), want %d × %d (sparse=%v)", got.Rows(), got.Features, got.Sparse, want.Rows(), want.Features, want.Sparse)
	}
	eq("labels", bits(got.Labels), bits(want.Labels))
	eq("ids", got.IDs, want.IDs)
	eq("dense values", bits(got.DenseValues), bits(want.DenseValues))
	if want.Sparse {
		eq("indptr", got.Indptr, want.Indptr)
		eq("indices", got.Indices, want.Indices)
		eq("values", bits(got.Values), bits(want.Values))
	}
}

func writeShard(t testing.TB, h Header, blocks []*rows.Block) ([]byte, ShardStats) {
	t.Helper()
	var buf bytes.Buffer
	st, err := WriteShard(&buf, h, blocks)
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), st
}

func TestRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name      string
		rows      *rows.Block
		blockRows int
		chunks    []int
	}{
		{"dense", denseRows(1, 1000, 13), 0, []int{1000}},
		{"dense-small-blocks", denseRows(2, 1000, 13), 64, []int{7, 0, 300}},
		{"dense-exact-multiple", denseRows(3, 256, 5), 64, []int{100}},
		{"dense-one-row", denseRows(4, 1, 784), 0, []int{1}},
		{"sparse", sparseRows(5, 700, 40), 0, []int{700}},
		{"sparse-small-blocks", sparseRows(6, 700, 40), 33, []int{1, 50, 0}},
		{"sparse-all-empty-rows", rows.NewSparse(9, 0), 10, []int{1}},
		{"dense-empty-shard", rows.NewDense(3, 0), 0, []int{1}},
		{"sparse-empty-shard", rows.NewSparse(3, 0), 0, []int{1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := tc.rows
			if tc.name == "sparse-all-empty-rows" {
				for i := 0; i < 25; i++ {
					in.AppendSparse(uint64(i), 1, nil, nil)
				}
			}
			h := Header{Features: in.Features, Sparse: in.Sparse, BlockRows: tc.blockRows}
			data, st := writeShard(t, h, chunk(in, tc.chunks...))
			sum := sha256.Sum256(data)
			if st.Rows != int64(in.Rows()) || st.Bytes != int64(len(data)) || st.SHA256 != hex.EncodeToString(sum[:]) {
				t.Fatalf("stats %+v, want %d rows, %d bytes, sha %x", st, in.Rows(), len(data), sum)
			}
			got, all := readAll(t, data, "test.lbs")
			if got.Features != in.Features || got.Sparse != in.Sparse || got.Rows != int64(in.Rows()) {
				t.Fatalf("header %+v does not describe the input", got)
			}
			if tc.blockRows != 0 && got.BlockRows != tc.blockRows {
				t.Fatalf("block rows %d, want %d", got.BlockRows, tc.blockRows)
			}
			sameRows(t, all, in)
		})
	}
}

func TestEmptyInputBlocks(t *testing.T) {
	data, st := writeShard(t, Header{Features: 4}, nil)
	if st.Rows != 0 || len(data) != headerSize+trailerSize {
		t.Fatalf("empty shard: %+v, %d bytes; want 0 rows in %d bytes", st, len(data), headerSize+trailerSize)
	}
	h, all := readAll(t, data, "empty.lbs")
	if h.Rows != 0 || h.Blocks != 0 || all.Rows() != 0 {
		t.Fatalf("empty shard reads as %+v with %d rows", h, all.Rows())
	}
}

func TestDeterministic(t *testing.T) {
	for _, in := range []*rows.Block{denseRows(7, 5000, 31), sparseRows(8, 5000, 64)} {
		h := Header{Features: in.Features, Sparse: in.Sparse, BlockRows: 1000}
		ref, refSt := writeShard(t, h, []*rows.Block{in})
		for _, sizes := range [][]int{{1}, {999}, {1000}, {4999, 0}, {3, 1500, 0, 17}} {
			got, st := writeShard(t, h, chunk(in, sizes...))
			if !bytes.Equal(got, ref) || st != refSt {
				t.Errorf("sparse=%v chunked %v: different bytes (sha %s, want %s)", in.Sparse, sizes, st.SHA256, refSt.SHA256)
			}
		}
	}
}

func TestWriteShardRejects(t *testing.T) {
	d := denseRows(1, 10, 4)
	bad := denseRows(1, 10, 4)
	bad.Labels = bad.Labels[:9]
	for _, tc := range []struct {
		name   string
		h      Header
		blocks []*rows.Block
		want   string
	}{
		{"features", Header{Features: 5}, []*rows.Block{d}, "input block 0 has 4 features"},
		{"layout", Header{Features: 4, Sparse: true}, []*rows.Block{d}, "sparse=false"},
		{"invalid", Header{Features: 4}, []*rows.Block{d, bad}, "input block 1"},
		{"no features", Header{}, nil, "features 0"},
		{"negative block rows", Header{Features: 4, BlockRows: -1}, nil, "block rows -1"},
		{"huge dense block", Header{Features: 1 << 20, BlockRows: 4096}, nil, "block limit"},
	} {
		_, err := WriteShard(io.Discard, tc.h, tc.blocks)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one containing %q", tc.name, err, tc.want)
		}
	}
	// Wide dense rows get smaller default blocks.
	data, _ := writeShard(t, Header{Features: 1 << 20}, nil)
	if h, _ := readAll(t, data, "wide.lbs"); int64(h.BlockRows)*rowBytes(h.Features) > targetDenseMB {
		t.Errorf("default block rows %d for %d features exceed the target size", h.BlockRows, h.Features)
	}
}

type failWriter struct{ after int }

func (w *failWriter) Write(p []byte) (int, error) {
	if w.after -= len(p); w.after < 0 {
		return 0, errors.New("disk full")
	}
	return len(p), nil
}

func TestWriteShardWriteError(t *testing.T) {
	_, err := WriteShard(&failWriter{after: 100}, Header{Features: 8, BlockRows: 10}, []*rows.Block{denseRows(1, 100, 8)})
	if err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("error %v, want the writer's", err)
	}
}

// readErr reads a whole shard and returns the first error other than io.EOF.
func readErr(data []byte, name string, size int64) error {
	r, err := NewReaderSize(bytes.NewReader(data), name, size)
	if err != nil {
		return err
	}
	for {
		_, err := r.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// blockOffsets returns the file offset of each block's frame.
func blockOffsets(data []byte) []int {
	var offs []int
	blocks := int(binary.LittleEndian.Uint64(data[32:]))
	off := headerSize
	for k := 0; k < blocks; k++ {
		offs = append(offs, off)
		off += frameSize + int(binary.LittleEndian.Uint32(data[off+8:]))
	}
	return offs
}

func TestCorruption(t *testing.T) {
	in := denseRows(11, 250, 6)
	data, _ := writeShard(t, Header{Features: 6, BlockRows: 100}, []*rows.Block{in})
	offs := blockOffsets(data)
	n := len(data)
	const name = "out/prep/shards/train-00000-of-00001.lbs"
	set32 := func(off int, v uint32) func([]byte) []byte {
		return func(b []byte) []byte { binary.LittleEndian.PutUint32(b[off:], v); return b }
	}
	flip := func(off int) func([]byte) []byte {
		return func(b []byte) []byte { b[off] ^= 0x40; return b }
	}
	cut := func(k int) func([]byte) []byte { return func(b []byte) []byte { return b[:k] } }
	for _, tc := range []struct {
		name   string
		mangle func([]byte) []byte
		want   string // in the error, besides the file name
	}{
		{"magic", flip(0), "bad magic"},
		{"version", set32(8, 2), "format version 2"},
		{"header features", flip(20), "header CRC"},
		{"header rows", flip(24), "header CRC"},
		{"header crc", flip(45), "header CRC"},
		{"block 0 rows", flip(offs[0]), "block 0: 36 rows"},
		{"block 1 raw length", set32(offs[1]+4, 12345), "block 1: uncompressed size"},
		{"block 1 huge raw length", set32(offs[1]+4, 1<<31), "block 1: declared sizes"},
		{"block 2 comp length", set32(offs[2]+8, 1<<20), "block 2: compressed size"},
		{"block 2 comp length past end", set32(offs[2]+8, uint32(offs[2])), "block 2: compressed size"},
		{"block 1 crc", flip(offs[1] + 13), "block 1: CRC-32C"},
		{"block 0 payload", flip(offs[0] + frameSize + 20), "block 0: CRC-32C"},
		{"block 2 payload last byte", flip(offs[2] + frameSize + 1), "block 2: CRC-32C"},
		{"trailer magic", flip(n - 16), "trailer: bad trailer magic"},
		{"trailer reserved", flip(n - 7), "trailer: reserved"},
		{"trailer crc", flip(n - 1), "trailer: file CRC-32C"},
		{"extra byte", func(b []byte) []byte { return append(b, 0) }, "trailer: data after the trailer"},
		{"cut in header", cut(5), "header: truncated"},
		{"cut after header", cut(headerSize), "truncated"},
		{"cut in frame", cut(offs[1] + 3), "truncated"},
		{"cut in payload", cut(offs[1] + frameSize + 10), "truncated"},
		{"cut before trailer", cut(n - 16), "truncated"},
		{"cut in trailer", cut(n - 1), "trailer: truncated"},
		{"empty file", cut(0), "header: truncated"},
	} {
		for _, knownSize := range []bool{false, true} {
			b := tc.mangle(bytes.Clone(data))
			size := int64(-1)
			if knownSize {
				size = int64(len(b))
			}
			err := readErr(b, name, size)
			if err == nil {
				t.Errorf("%s (size known %v): no error", tc.name, knownSize)
				continue
			}
			if msg := err.Error(); !strings.Contains(msg, name) || (!knownSize && !strings.Contains(msg, tc.want)) {
				t.Errorf("%s (size known %v): error %q, want one naming the file and saying %q", tc.name, knownSize, msg, tc.want)
			}
		}
	}
}

// TestEveryByte flips each byte of small dense and sparse shards, and cuts
// them at every length: each must give an error, never a panic or a wrong
// block.
func TestEveryByte(t *testing.T) {
	for _, in := range []*rows.Block{denseRows(12, 9, 3), sparseRows(13, 9, 12)} {
		data, _ := writeShard(t, Header{Features: in.Features, Sparse: in.Sparse, BlockRows: 4}, []*rows.Block{in})
		for i := range data {
			for _, size := range []int64{-1, int64(len(data))} {
				b := bytes.Clone(data)
				b[i] ^= 1 << (i % 8)
				if err := readErr(b, "x.lbs", size); err == nil || !strings.Contains(err.Error(), "x.lbs") {
					t.Fatalf("sparse=%v: flipping byte %d of %d: error %v", in.Sparse, i, len(data), err)
				}
			}
			if err := readErr(data[:i], "x.lbs", -1); err == nil || !strings.Contains(err.Error(), "x.lbs") {
				t.Fatalf("sparse=%v: cut at %d of %d: error %v", in.Sparse, i, len(data), err)
			}
		}
	}
}

func TestReaderMemoryBounded(t *testing.T) {
	const d, blockRows, total = 64, 4096, 200_000
	one := denseRows(21, 5000, d)
	in := make([]*rows.Block, total/one.Rows()) // the same rows 40 times
	for i := range in {
		in[i] = one
	}
	data, _ := writeShard(t, Header{Features: d, BlockRows: blockRows}, in)
	blockBytes := uint64(blockRows * rowBytes(d))

	var before, after runtime.MemStats
	r, err := NewReaderSize(bytes.NewReader(data), "big.lbs", int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Next(); err != nil { // warm the reused buffers
		t.Fatal(err)
	}
	runtime.GC()
	runtime.ReadMemStats(&before)
	var got int64 = blockRows
	var maxLive uint64
	for k := 1; ; k++ {
		b, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got += int64(b.Rows())
		if k%10 == 0 {
			var m runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&m)
			maxLive = max(maxLive, m.HeapAlloc)
		}
	}
	runtime.ReadMemStats(&after)
	if got != total {
		t.Fatalf("read %d rows, want %d", got, total)
	}
	blocks := uint64(r.Header().Blocks - 1)
	perBlock := (after.TotalAlloc - before.TotalAlloc) / blocks
	// Each block allocates only what it returns (labels, ids, values).
	if perBlock > blockBytes+blockBytes/8 {
		t.Errorf("allocated %d bytes per block of %d bytes: buffers are not reused", perBlock, blockBytes)
	}
	// Live heap while streaming: the file in memory, the reader's buffers,
	// one block; not the 200k rows (%d MB).
	if limit := before.HeapAlloc + 4*blockBytes; maxLive > limit {
		t.Errorf("live heap reached %d bytes while reading, more than %d", maxLive, limit)
	}
	t.Logf("%d blocks of %d KiB: %d KiB allocated per block, live heap ≤ %d KiB over the baseline",
		blocks, blockBytes>>10, perBlock>>10, (maxLive-min(maxLive, before.HeapAlloc))>>10)
}

func TestNoGoroutineLeak(t *testing.T) {
	before := runtime.NumGoroutine()
	for i := 0; i < 20; i++ {
		data, _ := writeShard(t, Header{Features: 5, BlockRows: 3}, []*rows.Block{denseRows(uint64(i), 10, 5)})
		readAll(t, data, "g.lbs")
	}
	runtime.GC()
	if after := runtime.NumGoroutine(); after > before {
		t.Errorf("goroutines: %d before, %d after 20 shards", before, after)
	}
}

// TestLayout checks a small file against the byte layout in docs/FORMATS.md.
func TestLayout(t *testing.T) {
	in := rows.NewDense(2, 2)
	in.AppendDense(7, 1, []float32{0.5, -2})
	in.AppendDense(9, 0, []float32{3, 4})
	data, _ := writeShard(t, Header{Features: 2, BlockRows: 8}, []*rows.Block{in})
	le := binary.LittleEndian
	u32 := func(off int) uint32 { return le.Uint32(data[off:]) }
	if string(data[:8]) != "LBSHARD\x00" || u32(8) != 1 || u32(12) != 0 || u32(16) != 1 || u32(20) != 2 ||
		le.Uint64(data[24:]) != 2 || le.Uint64(data[32:]) != 1 || u32(40) != 8 {
		t.Fatalf("header bytes % x", data[:48])
	}
	if u32(44) != crc32.Checksum(data[:44], castagnoli) {
		t.Fatal("header CRC is not CRC-32C of bytes 0-43")
	}
	n, rawLen, compLen := u32(48), u32(52), int(u32(56))
	if n != 2 || rawLen != 2*(12+4*2) || len(data) != 48+16+compLen+16 {
		t.Fatalf("frame: rows %d raw %d comp %d in %d bytes", n, rawLen, compLen, len(data))
	}
	if u32(60) != crc32.Checksum(append(bytes.Clone(data[48:60]), data[64:64+compLen]...), castagnoli) {
		t.Fatal("block CRC is not CRC-32C of the frame's first 12 bytes and the payload")
	}
	dec, _ := zstd.NewReader(nil)
	defer dec.Close()
	raw, err := dec.DecodeAll(data[64:64+compLen], nil)
	if err != nil {
		t.Fatal(err)
	}
	f32 := func(off int) float32 { return math.Float32frombits(le.Uint32(raw[off:])) }
	if f32(0) != 1 || f32(4) != 0 || le.Uint64(raw[8:]) != 7 || le.Uint64(raw[16:]) != 9 ||
		f32(24) != 0.5 || f32(28) != -2 || f32(32) != 3 || f32(36) != 4 {
		t.Fatalf("payload % x", raw)
	}
	tr := data[len(data)-16:]
	if string(tr[:8]) != "LBSEND\x00\x00" || le.Uint32(tr[8:]) != 0 ||
		le.Uint32(tr[12:]) != crc32.Checksum(data[:len(data)-4], castagnoli) {
		t.Fatalf("trailer % x", tr)
	}
}
