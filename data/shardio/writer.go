package shardio

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
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
// WriteShard does not buffer the whole file; it holds one block. Give it a
// storage.WriteFile writer to make the file appear atomically.
func WriteShard(w io.Writer, h Header, blocks []*rows.Block) (ShardStats, error) {
	h, err := h.withDefaults()
	if err != nil {
		return ShardStats{}, err
	}
	h.Rows = 0
	for i, b := range blocks {
		if b.Features != h.Features || b.Sparse != h.Sparse {
			return ShardStats{}, fmt.Errorf("shardio: input block %d has %d features (sparse=%v), the shard %d (sparse=%v)",
				i, b.Features, b.Sparse, h.Features, h.Sparse)
		}
		if err := b.Validate(); err != nil {
			return ShardStats{}, fmt.Errorf("shardio: input block %d: %w", i, err)
		}
		h.Rows += int64(b.Rows())
	}
	h.Blocks = blocksFor(h.Rows, h.BlockRows)

	enc := encoders.Get().(*zstd.Encoder)
	defer encoders.Put(enc)
	out := &sink{w: w, sha: sha256.New()}
	if err := out.write(appendHeader(nil, h)); err != nil {
		return ShardStats{}, err
	}

	var (
		raw, frame []byte
		spans      []span
		bi, off    int // next input row: blocks[bi] row off
	)
	for k := int64(0); k < h.Blocks; k++ {
		n := int(min(int64(h.BlockRows), h.Rows-k*int64(h.BlockRows)))
		spans = spans[:0]
		for need := n; need > 0; {
			b := blocks[bi]
			take := min(need, b.Rows()-off)
			if take > 0 {
				spans = append(spans, span{b, off, off + take})
			}
			need -= take
			off += take
			if off == b.Rows() {
				bi, off = bi+1, 0
			}
		}
		raw = appendBlock(raw[:0], h, spans)
		if len(raw) > MaxBlockBytes {
			return ShardStats{}, fmt.Errorf("shardio: block %d is %d bytes uncompressed, over the %d limit; lower BlockRows", k, len(raw), MaxBlockBytes)
		}
		frame = frame[:0]
		frame = binary.LittleEndian.AppendUint32(frame, uint32(n))
		frame = binary.LittleEndian.AppendUint32(frame, uint32(len(raw)))
		frame = append(frame, 0, 0, 0, 0, 0, 0, 0, 0) // compressed length, CRC
		frame = enc.EncodeAll(raw, frame)
		comp := len(frame) - frameSize
		binary.LittleEndian.PutUint32(frame[8:], uint32(comp))
		crc := crc32.Update(crc32.Checksum(frame[:12], castagnoli), castagnoli, frame[frameSize:])
		binary.LittleEndian.PutUint32(frame[12:], crc)
		if err := out.write(frame); err != nil {
			return ShardStats{}, err
		}
	}

	// The trailer's CRC covers every byte before it, its own first 12 too.
	trailer := append([]byte(TrailerMagic), 0, 0, 0, 0)
	trailer = binary.LittleEndian.AppendUint32(trailer, crc32.Update(out.crc, castagnoli, trailer))
	if err := out.write(trailer); err != nil {
		return ShardStats{}, err
	}
	return ShardStats{Rows: h.Rows, Bytes: out.n, SHA256: hex.EncodeToString(out.sha.Sum(nil))}, nil
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
			b = appendFloats(b, s.b.Dense[s.lo*d:s.hi*d])
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
