package shardio

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"sync"

	"github.com/klauspost/compress/zstd"
)

// File layout constants; docs/FORMATS.md is the specification.
const (
	// Magic opens every shard file.
	Magic = "LBSHARD\x00"
	// TrailerMagic opens the 16-byte trailer that ends every shard file.
	TrailerMagic = "LBSEND\x00\x00"
	// Version is the shard format version this package writes and the only
	// one it reads.
	Version = 1
	// DefaultBlockRows is the rows per block when Header.BlockRows is 0.
	DefaultBlockRows = 4096
	// MaxBlockBytes caps a block's uncompressed (and compressed) size, so a
	// corrupt length can never make a reader allocate more.
	MaxBlockBytes = 1 << 30

	headerSize  = 48
	frameSize   = 16
	trailerSize = 16

	flagSparse    = 1
	compressZstd  = 1
	maxFeatures   = 1<<31 - 1
	maxBlockRows  = 1 << 24
	targetDenseMB = 64 << 20 // default blocks of wide dense rows stay under this
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Header describes a shard file.
type Header struct {
	Features int  // Required. Features per row.
	Sparse   bool // CSR rows rather than dense ones.
	// BlockRows is the rows per block. Optional for WriteShard: 0 means
	// DefaultBlockRows, lowered for wide dense rows so that a block stays
	// under 64 MiB.
	BlockRows int
	Rows      int64 // Set by the file: total rows. WriteShard ignores it.
	Blocks    int64 // Set by the file: number of blocks. WriteShard ignores it.
}

// rowBytes is the uncompressed size of one dense row: label, id, values.
func rowBytes(features int) int64 { return 4 + 8 + 4*int64(features) }

// withDefaults fills BlockRows and checks h for writing.
func (h Header) withDefaults() (Header, error) {
	if h.Features <= 0 || h.Features > maxFeatures {
		return h, fmt.Errorf("shardio: header: features %d out of range [1, %d]", h.Features, maxFeatures)
	}
	if h.BlockRows == 0 {
		h.BlockRows = DefaultBlockRows
		if !h.Sparse {
			h.BlockRows = int(min(int64(DefaultBlockRows), max(1, targetDenseMB/rowBytes(h.Features))))
		}
	}
	if h.BlockRows < 0 || h.BlockRows > maxBlockRows {
		return h, fmt.Errorf("shardio: header: block rows %d out of range [1, %d]", h.BlockRows, maxBlockRows)
	}
	if !h.Sparse && int64(h.BlockRows)*rowBytes(h.Features) > MaxBlockBytes {
		return h, fmt.Errorf("shardio: header: %d dense rows of %d features exceed the %d-byte block limit; lower BlockRows",
			h.BlockRows, h.Features, MaxBlockBytes)
	}
	return h, nil
}

// appendHeader appends the 48 header bytes of h.
func appendHeader(b []byte, h Header) []byte {
	start := len(b)
	var flags uint32
	if h.Sparse {
		flags |= flagSparse
	}
	b = append(b, Magic...)
	b = binary.LittleEndian.AppendUint32(b, Version)
	b = binary.LittleEndian.AppendUint32(b, flags)
	b = binary.LittleEndian.AppendUint32(b, compressZstd)
	b = binary.LittleEndian.AppendUint32(b, uint32(h.Features))
	b = binary.LittleEndian.AppendUint64(b, uint64(h.Rows))
	b = binary.LittleEndian.AppendUint64(b, uint64(h.Blocks))
	b = binary.LittleEndian.AppendUint32(b, uint32(h.BlockRows))
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b[start:], castagnoli))
}

// parseHeader decodes and checks the 48 header bytes in b.
func parseHeader(b []byte) (Header, error) {
	var h Header
	le := binary.LittleEndian
	if string(b[:8]) != Magic {
		return h, fmt.Errorf("bad magic %q: not a lightbeam shard file", b[:8])
	}
	if v := le.Uint32(b[8:]); v != Version {
		return h, fmt.Errorf("format version %d, this reader knows only version %d", v, Version)
	}
	if got, want := le.Uint32(b[44:]), crc32.Checksum(b[:44], castagnoli); got != want {
		return h, fmt.Errorf("header CRC-32C %08x, computed %08x: corrupt header", got, want)
	}
	flags := le.Uint32(b[12:])
	if flags&^flagSparse != 0 {
		return h, fmt.Errorf("unknown flags %#x", flags)
	}
	if c := le.Uint32(b[16:]); c != compressZstd {
		return h, fmt.Errorf("unknown compression id %d", c)
	}
	h.Sparse = flags&flagSparse != 0
	h.Features = int(le.Uint32(b[20:]))
	h.Rows = int64(le.Uint64(b[24:]))
	h.Blocks = int64(le.Uint64(b[32:]))
	h.BlockRows = int(le.Uint32(b[40:]))
	switch {
	case h.Features <= 0 || h.Features > maxFeatures:
		return h, fmt.Errorf("features %d out of range", h.Features)
	case h.BlockRows <= 0 || h.BlockRows > maxBlockRows:
		return h, fmt.Errorf("block rows %d out of range", h.BlockRows)
	case h.Rows < 0 || h.Blocks != blocksFor(h.Rows, h.BlockRows):
		return h, fmt.Errorf("%d rows in %d blocks of %d rows: inconsistent", h.Rows, h.Blocks, h.BlockRows)
	case !h.Sparse && int64(h.BlockRows)*rowBytes(h.Features) > MaxBlockBytes:
		return h, fmt.Errorf("dense blocks of %d rows × %d features exceed the block limit", h.BlockRows, h.Features)
	}
	return h, nil
}

// blocksFor returns ⌈rows/blockRows⌉.
func blocksFor(rows int64, blockRows int) int64 {
	return (rows + int64(blockRows) - 1) / int64(blockRows)
}

// One encoder and decoder per concurrent writer or reader, reused through
// pools. With concurrency 1 and only EncodeAll/DecodeAll they start no
// goroutines, so an unreturned one is simply garbage collected. EncodeAll
// at a fixed level is deterministic: the same block gives the same bytes.
var (
	encoders = sync.Pool{New: func() any {
		e, err := zstd.NewWriter(nil,
			zstd.WithEncoderConcurrency(1),
			zstd.WithEncoderLevel(zstd.SpeedDefault),
			zstd.WithEncoderCRC(false)) // the frame's CRC-32C covers it
		if err != nil {
			panic(err) // only for invalid options
		}
		return e
	}}
	decoders = sync.Pool{New: func() any {
		d, err := zstd.NewReader(nil,
			zstd.WithDecoderConcurrency(1),
			zstd.WithDecoderMaxMemory(MaxBlockBytes),
			zstd.WithDecodeAllCapLimit(true)) // never decode past cap(dst)
		if err != nil {
			panic(err)
		}
		return d
	}}
)
