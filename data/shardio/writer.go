package shardio

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"math"

	"github.com/klauspost/compress/zstd"

	"github.com/lightbeam-ml/lightbeam/data/rows"
)

// ShardStats describe a written shard file.
type ShardStats struct {
	Rows   int64  // rows written
	Bytes  int64  // file size
	SHA256 string // hex SHA-256 of the whole file
}

// span is rows [lo, hi) of one input block.
type span struct {
	b      *rows.Block
	lo, hi int
}

// WriteShard writes blocks as one shard file to w, regrouped into blocks of
// h.BlockRows rows, and returns its row count, size and SHA-256. Every
// block must match h.Features and h.Sparse and pass Validate. The output
// is deterministic: the same rows in the same order give the same bytes,
// however they are split into input blocks.
//
// WriteShard holds the rows it is given; a Writer streams rows that arrive
// over time. Give it a storage.WriteFile writer to make the file appear
// atomically.
func WriteShard(w io.Writer, h Header, blocks []*rows.Block) (ShardStats, error) {
	h.Rows = 0
	for i, b := range blocks {
		if err := checkLayout(h, b); err != nil {
			return ShardStats{}, fmt.Errorf("shardio: input block %d %w", i, err)
		}
		if err := b.Validate(); err != nil {
			return ShardStats{}, fmt.Errorf("shardio: input block %d: %w", i, err)
		}
		h.Rows += int64(b.Rows())
	}
	sw, err := NewWriter(w, h)
	if err != nil {
		return ShardStats{}, err
	}
	for _, b := range blocks {
		if err := sw.write(b); err != nil {
			return ShardStats{}, err
		}
	}
	return sw.Close()
}

// checkLayout says whether b's layout is the shard's.
func checkLayout(h Header, b *rows.Block) error {
	if b.Features != h.Features || b.Sparse != h.Sparse {
		return fmt.Errorf("has %d features (sparse=%v), the shard %d (sparse=%v)", b.Features, b.Sparse, h.Features, h.Sparse)
	}
	return nil
}

// Writer writes one shard file as its rows arrive, holding at most one
// block of them: the header comes first and records the row count, so the
// count is declared up front (Header.Rows) and Close checks it. The bytes
// are WriteShard's for the same rows in the same order, however they arrive
// (whole blocks, single rows, or a mix).
//
// Why: a shard merged from sorted runs never exists in memory whole, so
// its writer must not need it whole either.
type Writer struct {
	h     Header
	out   *sink
	enc   *zstd.Encoder
	pend  *rows.Block // rows of the next block that came in pieces
	raw   []byte      // reused uncompressed payload
	frame []byte      // reused frame
	spans []span
	rows  int64 // rows accepted (written blocks and pend)
	block int64 // next block number
	err   error // sticky: the first error fails every later call
}

// NewWriter writes the header of a shard file of h.Rows rows (required;
// 0 is an empty shard) to w and returns a Writer for its rows.
// h.BlockRows is optional, as for WriteShard.
func NewWriter(w io.Writer, h Header) (*Writer, error) {
	h, err := h.withDefaults()
	if err != nil {
		return nil, err
	}
	if h.Rows < 0 {
		return nil, fmt.Errorf("shardio: header: %d rows", h.Rows)
	}
	h.Blocks = blocksFor(h.Rows, h.BlockRows)
	sw := &Writer{h: h, out: &sink{w: w, sha: sha256.New()}, enc: encoders.Get().(*zstd.Encoder)}
	if h.Sparse {
		sw.pend = rows.NewSparse(h.Features, 0)
	} else {
		sw.pend = rows.NewDense(h.Features, 0)
	}
	if err := sw.out.write(appendHeader(nil, h)); err != nil {
		sw.fail(err)
		return nil, err
	}
	return sw, nil
}

// Header returns the header being written: BlockRows and Blocks are set.
func (w *Writer) Header() Header { return w.h }

// fail records err, and gives the encoder back: nothing more is encoded.
func (w *Writer) fail(err error) error {
	if w.err == nil {
		w.err = err
		if w.enc != nil {
			encoders.Put(w.enc)
			w.enc = nil
		}
	}
	return w.err
}

// Write appends every row of b, which must have the shard's layout and
// pass Validate. Whole blocks are encoded straight from b; rows that only
// fill part of one are copied, so b may be reused once Write returns.
func (w *Writer) Write(b *rows.Block) error {
	if w.err != nil {
		return w.err
	}
	if err := checkLayout(w.h, b); err != nil {
		return w.fail(fmt.Errorf("shardio: input block %w", err))
	}
	if err := b.Validate(); err != nil {
		return w.fail(fmt.Errorf("shardio: input block: %w", err))
	}
	return w.write(b)
}

// write is Write for a block already checked.
func (w *Writer) write(b *rows.Block) error {
	if w.err != nil {
		return w.err
	}
	n := b.Rows()
	if w.rows+int64(n) > w.h.Rows {
		return w.fail(fmt.Errorf("shardio: %d rows written to a shard of %d", w.rows+int64(n), w.h.Rows))
	}
	w.rows += int64(n)
	for i := 0; i < n; {
		need := w.blockLen() - w.pend.Rows()
		if w.pend.Rows() == 0 && n-i >= need {
			if err := w.flush(span{b, i, i + need}); err != nil {
				return err
			}
			i += need
			continue
		}
		for end := min(n, i+need); i < end; i++ {
			w.pend.AppendRow(b, i)
		}
		if err := w.flushFull(); err != nil {
			return err
		}
	}
	return nil
}

// AppendRow appends row i of src, which must have the shard's layout and
// pass Validate (AppendRow checks only the layout, per row).
func (w *Writer) AppendRow(src *rows.Block, i int) error {
	if w.err != nil {
		return w.err
	}
	if src.Features != w.h.Features || src.Sparse != w.h.Sparse {
		return w.fail(fmt.Errorf("shardio: input row's block %w", checkLayout(w.h, src)))
	}
	if w.rows == w.h.Rows {
		return w.fail(fmt.Errorf("shardio: %d rows written to a shard of %d", w.rows+1, w.h.Rows))
	}
	w.rows++
	w.pend.AppendRow(src, i)
	return w.flushFull()
}

// blockLen is the row count of the next block: BlockRows, the last one
// shorter.
func (w *Writer) blockLen() int {
	return int(min(int64(w.h.BlockRows), w.h.Rows-w.block*int64(w.h.BlockRows)))
}

// flushFull writes the pending rows once they fill the next block.
func (w *Writer) flushFull() error {
	if w.pend.Rows() < w.blockLen() {
		return nil
	}
	if err := w.flush(span{w.pend, 0, w.pend.Rows()}); err != nil {
		return err
	}
	p := w.pend
	p.Labels, p.IDs, p.DenseValues = p.Labels[:0], p.IDs[:0], p.DenseValues[:0]
	if p.Sparse {
		p.Indptr, p.Indices, p.Values = p.Indptr[:1], p.Indices[:0], p.Values[:0]
	}
	return nil
}

// flush encodes the rows of s as the next block.
func (w *Writer) flush(s span) error {
	n := s.hi - s.lo
	w.spans = append(w.spans[:0], s)
	w.raw = appendBlock(w.raw[:0], w.h, w.spans)
	if len(w.raw) > MaxBlockBytes {
		return w.fail(fmt.Errorf("shardio: block %d is %d bytes uncompressed, over the %d limit; lower BlockRows", w.block, len(w.raw), MaxBlockBytes))
	}
	f := w.frame[:0]
	f = binary.LittleEndian.AppendUint32(f, uint32(n))
	f = binary.LittleEndian.AppendUint32(f, uint32(len(w.raw)))
	f = append(f, 0, 0, 0, 0, 0, 0, 0, 0) // compressed length, CRC
	f = w.enc.EncodeAll(w.raw, f)
	binary.LittleEndian.PutUint32(f[8:], uint32(len(f)-frameSize))
	crc := crc32.Update(crc32.Checksum(f[:12], castagnoli), castagnoli, f[frameSize:])
	binary.LittleEndian.PutUint32(f[12:], crc)
	w.frame = f
	if err := w.out.write(f); err != nil {
		return w.fail(err)
	}
	w.block++
	return nil
}

// Close writes the trailer and returns the file's row count, size and
// SHA-256. It fails if fewer rows came than the header declared; the
// caller discards the output then (storage.WriteFile does on error).
// Close does not close the underlying writer.
func (w *Writer) Close() (ShardStats, error) {
	if w.err != nil {
		return ShardStats{}, w.err
	}
	if w.rows != w.h.Rows {
		return ShardStats{}, w.fail(fmt.Errorf("shardio: %d rows written to a shard of %d: incomplete", w.rows, w.h.Rows))
	}
	// The trailer's CRC covers every byte before it, its own first 12 too.
	trailer := append([]byte(TrailerMagic), 0, 0, 0, 0)
	trailer = binary.LittleEndian.AppendUint32(trailer, crc32.Update(w.out.crc, castagnoli, trailer))
	if err := w.out.write(trailer); err != nil {
		return ShardStats{}, w.fail(err)
	}
	w.fail(errors.New("shardio: writer closed"))
	return ShardStats{Rows: w.h.Rows, Bytes: w.out.n, SHA256: hex.EncodeToString(w.out.sha.Sum(nil))}, nil
}

// appendBlock appends the uncompressed payload of the rows in spans:
// labels, ids, then dense values or CSR arrays, all little-endian.
func appendBlock(b []byte, h Header, spans []span) []byte {
	le := binary.LittleEndian
	for _, s := range spans {
		for _, v := range s.b.Labels[s.lo:s.hi] {
			b = le.AppendUint32(b, math.Float32bits(v))
		}
	}
	for _, s := range spans {
		for _, v := range s.b.IDs[s.lo:s.hi] {
			b = le.AppendUint64(b, v)
		}
	}
	if !h.Sparse {
		d := h.Features
		for _, s := range spans {
			b = appendFloats(b, s.b.DenseValues[s.lo*d:s.hi*d])
		}
		return b
	}
	var nnz int32
	b = le.AppendUint32(b, 0)
	for _, s := range spans {
		for i := s.lo; i < s.hi; i++ {
			nnz += s.b.Indptr[i+1] - s.b.Indptr[i]
			b = le.AppendUint32(b, uint32(nnz))
		}
	}
	for _, s := range spans {
		for _, j := range s.b.Indices[s.b.Indptr[s.lo]:s.b.Indptr[s.hi]] {
			b = le.AppendUint32(b, uint32(j))
		}
	}
	for _, s := range spans {
		b = appendFloats(b, s.b.Values[s.b.Indptr[s.lo]:s.b.Indptr[s.hi]])
	}
	return b
}

func appendFloats(b []byte, xs []float32) []byte {
	b = growTo(b, len(b)+4*len(xs))
	out := b[len(b) : len(b)+4*len(xs)]
	for i, v := range xs {
		binary.LittleEndian.PutUint32(out[4*i:], math.Float32bits(v))
	}
	return b[:len(b)+4*len(xs)]
}

// growTo returns b with capacity at least n.
func growTo(b []byte, n int) []byte {
	if cap(b) >= n {
		return b
	}
	nb := make([]byte, len(b), max(n, 2*cap(b)))
	copy(nb, b)
	return nb
}

// sink writes to w while counting bytes and hashing them (SHA-256 of the
// file, CRC-32C for the trailer).
type sink struct {
	w   io.Writer
	sha hash.Hash
	crc uint32
	n   int64
}

func (s *sink) write(p []byte) error {
	if _, err := s.w.Write(p); err != nil {
		return fmt.Errorf("shardio: writing shard: %w", err)
	}
	s.sha.Write(p)
	s.crc = crc32.Update(s.crc, castagnoli, p)
	s.n += int64(len(p))
	return nil
}
