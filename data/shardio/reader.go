package shardio

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"

	"github.com/klauspost/compress/zstd"

	"github.com/lightbeam-ml/lightbeam/data/rows"
)

// Reader reads the blocks of one shard file in order, holding one block at
// a time. Every inconsistency is an error naming the file and the block.
type Reader struct {
	r     *bufio.Reader
	name  string
	h     Header
	size  int64  // file size, or -1 if unknown
	pos   int64  // bytes consumed
	crc   uint32 // CRC-32C of the bytes consumed
	block int64  // next block number
	rows  int64  // rows returned so far
	done  bool
	err   error
	comp  []byte // reused compressed payload buffer
	raw   []byte // reused uncompressed payload buffer
	frame [frameSize]byte
}

// NewReader reads the header of the shard file r; name is used in errors.
func NewReader(r io.Reader, name string) (*Reader, error) {
	return NewReaderSize(r, name, -1)
}

// NewReaderSize is NewReader for a file of known size (-1 if unknown); the
// size bounds every length the file declares before anything is allocated.
func NewReaderSize(r io.Reader, name string, size int64) (*Reader, error) {
	rd := &Reader{r: bufio.NewReaderSize(r, 1<<16), name: name, size: size}
	var b [headerSize]byte
	if err := rd.readFull(b[:]); err != nil {
		return nil, rd.errorf("header", err)
	}
	h, err := parseHeader(b[:])
	if err != nil {
		return nil, rd.errorf("header", err)
	}
	if size >= 0 && size < headerSize+h.Blocks*frameSize+trailerSize {
		return nil, rd.errorf("header", fmt.Errorf("%d blocks cannot fit in a %d-byte file: truncated", h.Blocks, size))
	}
	rd.h = h
	return rd, nil
}

// Header returns the shard's header.
func (r *Reader) Header() Header { return r.h }

// Name returns the name the reader was opened with.
func (r *Reader) Name() string { return r.name }

func (r *Reader) errorf(where string, err error) error {
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		err = fmt.Errorf("truncated file (%d bytes read): %w", r.pos, io.ErrUnexpectedEOF)
	}
	return fmt.Errorf("shardio: %s: %s: %w", r.name, where, err)
}

// readFull reads len(b) bytes, updating the position and the CRC.
func (r *Reader) readFull(b []byte) error {
	n, err := io.ReadFull(r.r, b)
	r.pos += int64(n)
	r.crc = crc32.Update(r.crc, castagnoli, b[:n])
	return err
}

// Next returns the next block, or io.EOF after the last one once the
// trailer's CRC, the row count and the end of the file have been checked.
// The returned block is the caller's; the reader keeps no reference to it.
func (r *Reader) Next() (*rows.Block, error) {
	if r.err != nil {
		return nil, r.err
	}
	if r.block == r.h.Blocks {
		r.err = r.finish()
		return nil, r.err
	}
	b, err := r.next()
	if err != nil {
		r.err = r.errorf(fmt.Sprintf("block %d", r.block), err)
		return nil, r.err
	}
	r.block++
	r.rows += int64(b.Rows())
	return b, nil
}

func (r *Reader) next() (*rows.Block, error) {
	h, le := r.h, binary.LittleEndian
	f := r.frame[:]
	if err := r.readFull(f); err != nil {
		return nil, err
	}
	n, rawLen, compLen := int64(le.Uint32(f)), int64(le.Uint32(f[4:])), int64(le.Uint32(f[8:]))
	want := min(int64(h.BlockRows), h.Rows-r.block*int64(h.BlockRows))
	if n != want {
		return nil, fmt.Errorf("%d rows, the header implies %d", n, want)
	}
	minRaw := n * rowBytes(h.Features) // dense: exact
	if h.Sparse {
		minRaw = n*12 + 4*(n+1)
	}
	switch {
	case rawLen > MaxBlockBytes || compLen > MaxBlockBytes:
		return nil, fmt.Errorf("declared sizes %d/%d bytes exceed the %d-byte block limit", rawLen, compLen, MaxBlockBytes)
	case !h.Sparse && rawLen != minRaw, h.Sparse && (rawLen < minRaw || (rawLen-minRaw)%8 != 0):
		return nil, fmt.Errorf("uncompressed size %d does not fit %d rows of %d features", rawLen, n, h.Features)
	case compLen > rawLen+rawLen/128+1024: // zstd's worst case is far below
		return nil, fmt.Errorf("compressed size %d is impossible for %d bytes", compLen, rawLen)
	case r.size >= 0 && r.pos+compLen+trailerSize > r.size:
		return nil, fmt.Errorf("compressed size %d runs past the end of the %d-byte file", compLen, r.size)
	}
	r.comp = growTo(r.comp[:0], int(compLen))[:compLen]
	if err := r.readFull(r.comp); err != nil {
		return nil, err
	}
	crc := crc32.Update(crc32.Checksum(f[:12], castagnoli), castagnoli, r.comp)
	if got := le.Uint32(f[12:]); got != crc {
		return nil, fmt.Errorf("CRC-32C %08x, computed %08x: corrupt block", got, crc)
	}
	dec := decoders.Get().(*zstd.Decoder)
	raw, err := dec.DecodeAll(r.comp, growTo(r.raw[:0], int(rawLen))[:0])
	decoders.Put(dec)
	if err != nil {
		return nil, fmt.Errorf("decompressing: %w", err)
	}
	r.raw = raw
	if int64(len(raw)) != rawLen {
		return nil, fmt.Errorf("decompressed to %d bytes, the frame says %d", len(raw), rawLen)
	}
	return parseBlock(raw, h.Features, h.Sparse, int(n))
}

// parseBlock decodes a block payload of n rows (its size already checked).
func parseBlock(raw []byte, d int, sparse bool, n int) (*rows.Block, error) {
	le := binary.LittleEndian
	b := &rows.Block{Features: d, Sparse: sparse, Labels: make([]float32, n), IDs: make([]uint64, n)}
	raw = getFloats(b.Labels, raw)
	for i := range b.IDs {
		b.IDs[i] = le.Uint64(raw[8*i:])
	}
	raw = raw[8*n:]
	if !sparse {
		b.DenseValues = make([]float32, n*d)
		getFloats(b.DenseValues, raw)
		return b, nil
	}
	nnz := (len(raw) - 4*(n+1)) / 8
	b.Indptr = make([]int32, n+1)
	for i := range b.Indptr {
		b.Indptr[i] = int32(le.Uint32(raw[4*i:]))
	}
	raw = raw[4*(n+1):]
	if b.Indptr[0] != 0 || int(b.Indptr[n]) != nnz {
		return nil, fmt.Errorf("CSR offsets run from %d to %d, want 0 to %d", b.Indptr[0], b.Indptr[n], nnz)
	}
	for i := 0; i < n; i++ {
		if b.Indptr[i+1] < b.Indptr[i] {
			return nil, fmt.Errorf("CSR offsets decrease at row %d", i)
		}
	}
	b.Indices = make([]int32, nnz)
	for i := range b.Indices {
		b.Indices[i] = int32(le.Uint32(raw[4*i:]))
	}
	b.Values = make([]float32, nnz)
	getFloats(b.Values, raw[4*nnz:])
	if err := b.Validate(); err != nil {
		return nil, err
	}
	return b, nil
}

// getFloats fills dst from little-endian bytes and returns the rest.
func getFloats(dst []float32, b []byte) []byte {
	src := b[:4*len(dst)]
	for i := range dst {
		dst[i] = math.Float32frombits(binary.LittleEndian.Uint32(src[4*i:]))
	}
	return b[len(src):]
}

// finish checks the trailer and that nothing follows it.
func (r *Reader) finish() error {
	var t [trailerSize]byte
	if err := r.readFull(t[:12]); err != nil {
		return r.errorf("trailer", err)
	}
	want := r.crc
	if err := r.readFull(t[12:]); err != nil {
		return r.errorf("trailer", err)
	}
	le := binary.LittleEndian
	switch {
	case string(t[:8]) != TrailerMagic:
		return r.errorf("trailer", fmt.Errorf("bad trailer magic %q", t[:8]))
	case le.Uint32(t[8:]) != 0:
		return r.errorf("trailer", fmt.Errorf("reserved field %#x is not zero", le.Uint32(t[8:])))
	case le.Uint32(t[12:]) != want:
		return r.errorf("trailer", fmt.Errorf("file CRC-32C %08x, computed %08x: corrupt file", le.Uint32(t[12:]), want))
	case r.rows != r.h.Rows:
		return r.errorf("trailer", fmt.Errorf("read %d rows, the header says %d", r.rows, r.h.Rows))
	}
	if _, err := r.r.ReadByte(); err != io.EOF {
		if err == nil {
			err = errors.New("data after the trailer")
		}
		return r.errorf("trailer", err)
	}
	return io.EOF
}
