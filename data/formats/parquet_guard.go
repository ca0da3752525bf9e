// This file holds the guard between parquet-go and the bytes of a Parquet
// file: every page header is checked before parquet-go may read it, so a
// hostile header cannot make it allocate what the file does not hold.

package formats

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sort"
	"sync"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/parquet-go/parquet-go/encoding/thrift"
	"github.com/parquet-go/parquet-go/format"
	"github.com/pierrec/lz4/v4"
)

// Bounds on one page, whatever its header says: parquet-go allocates its
// compressed size, its uncompressed size and a few bytes per value.
const (
	maxParquetPageBytes  = 64 << 20 // uncompressed (and compressed, plus a quarter for incompressible data)
	maxParquetPageValues = 1 << 24
	maxParquetHeader     = 1 << 20 // a page header's own bytes (statistics included)
)

// pageGuard is the io.ReaderAt parquet-go reads a file through. Once the
// footer is known (index), a read inside a column chunk returns its bytes
// only after every page header that starts before the read's end has been
// checked: the header lies inside the chunk and decodes within
// maxParquetHeader bytes (so no field of it claims more); the page lies
// inside the chunk; its uncompressed size and value count are within the
// bounds above, the count within the row group's rows for a column that is
// not repeated; and its compressed bytes decompress to no more than the
// uncompressed size (snappy's stated length; gzip, zstd, brotli and
// lz4_raw by decompressing them, bounded, a second time). A read that
// reaches a header that fails returns the bytes before it and the error.
type pageGuard struct {
	r      io.ReaderAt
	size   int64
	mu     sync.Mutex
	chunks []*guardedChunk // by start; they do not overlap
	buf    []byte          // scratch for checking zstd and lz4_raw pages
}

// parquetZstd checks zstd pages; DecodeAll may be called concurrently.
var parquetZstd = sync.OnceValues(func() (*zstd.Decoder, error) {
	return zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(maxParquetPageBytes))
})

// guardedChunk is one column chunk and how far its pages are checked.
type guardedChunk struct {
	start, end int64
	rowGroup   int
	path       string
	typ        format.Type
	repeated   bool // values per page are not bounded by the rows
	codec      format.CompressionCodec
	rows       int64
	next       int64 // where the next unchecked page header starts
	page       int   // its index in the chunk
	err        error // the check that failed, returned for every later read
}

// index learns the column chunks of the file from its footer: where each
// lies (as parquet-go reads it: from the dictionary page when there is
// one), which must be inside the file and apart from the others.
func (g *pageGuard) index(md *format.FileMetaData, repeated func(path []string) bool) error {
	var chunks []*guardedChunk
	for i, rg := range md.RowGroups {
		for _, c := range rg.Columns {
			m := &c.MetaData
			start := m.DataPageOffset
			if m.DictionaryPageOffset != 0 {
				start = m.DictionaryPageOffset
			}
			if start < 4 || m.TotalCompressedSize < 0 || start > g.size-m.TotalCompressedSize {
				return fmt.Errorf("row group %d: column chunk %v at byte %d, %d bytes, outside the file's %d bytes", i, m.PathInSchema, start, m.TotalCompressedSize, g.size)
			}
			chunks = append(chunks, &guardedChunk{
				start: start, end: start + m.TotalCompressedSize, next: start,
				rowGroup: i, path: fmt.Sprint(m.PathInSchema), typ: m.Type,
				repeated: repeated(m.PathInSchema), codec: m.Codec, rows: rg.NumRows,
			})
		}
	}
	sort.Slice(chunks, func(i, j int) bool { return chunks[i].start < chunks[j].start })
	for i := 1; i < len(chunks); i++ {
		if a, b := chunks[i-1], chunks[i]; b.start < a.end {
			return fmt.Errorf("row group %d: column chunk %s at bytes %d..%d overlaps row group %d's column chunk %s at bytes %d..%d", b.rowGroup, b.path, b.start, b.end, a.rowGroup, a.path, a.start, a.end)
		}
	}
	g.mu.Lock()
	g.chunks = chunks
	g.mu.Unlock()
	return nil
}

func (g *pageGuard) ReadAt(b []byte, off int64) (int, error) {
	n, err := g.r.ReadAt(b, off)
	g.mu.Lock()
	defer g.mu.Unlock()
	i := sort.Search(len(g.chunks), func(i int) bool { return g.chunks[i].end > off })
	if i == len(g.chunks) || g.chunks[i].start > off {
		return n, err // not page data: the footer
	}
	c := g.chunks[i]
	for c.err == nil && c.next < min(off+int64(n), c.end) {
		c.err = g.check(c, b[:n], off)
	}
	if c.err != nil {
		// The bytes before the header that failed are checked pages:
		// they go through, the error with them, so a reader that never
		// asks for that page (slack after a chunk's last page) never
		// sees it.
		return int(min(max(c.next-off, 0), int64(n))), c.err
	}
	return n, err
}

// bytesAt returns n bytes of the file at off, from have (the bytes at
// haveOff) when it holds them, else read.
func (g *pageGuard) bytesAt(have []byte, haveOff, off int64, n int) ([]byte, error) {
	if off >= haveOff && off+int64(n) <= haveOff+int64(len(have)) {
		return have[off-haveOff : off-haveOff+int64(n)], nil
	}
	b := make([]byte, n)
	k, err := g.r.ReadAt(b, off)
	if k == n {
		return b, nil
	}
	if err == nil || err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return nil, err
}

// check checks the page header of chunk c at c.next and moves c.next past
// its page.
func (g *pageGuard) check(c *guardedChunk, have []byte, haveOff int64) error {
	where := func(format string, a ...any) error {
		return fmt.Errorf("row group %d: column %s: page %d at byte %d: %s", c.rowGroup, c.path, c.page, c.next, fmt.Sprintf(format, a...))
	}
	var h format.PageHeader
	var hlen int64
	// The header from the bytes read when they hold it, else from a read
	// of 64 KiB, then 1 MiB.
	var held int64
	if c.next >= haveOff && c.next < haveOff+int64(len(have)) {
		held = min(haveOff+int64(len(have)), c.end) - c.next
	}
	err, tried := io.ErrUnexpectedEOF, int64(0)
	for _, n := range []int64{held, 64 << 10, maxParquetHeader} {
		if n = min(n, c.end-c.next); n <= tried {
			continue
		}
		tried = n
		b, rerr := g.bytesAt(have, haveOff, c.next, int(n))
		if rerr != nil {
			return where("reading the page header: %v", rerr)
		}
		h = format.PageHeader{}
		pr := (&thrift.CompactProtocol{}).NewReaderFromBytes(b)
		if err = thrift.NewDecoder(pr).Decode(&h); err == nil {
			hlen = int64(pr.BytesRead())
			break
		}
		if !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
			break
		}
	}
	if err != nil {
		return where("corrupt page header (%d bytes left in the chunk): %v", c.end-c.next, err)
	}
	body := c.next + hlen
	switch {
	case h.CompressedPageSize < 0 || int64(h.CompressedPageSize) > c.end-body:
		return where("compressed size %d does not fit in the column chunk's %d bytes left", h.CompressedPageSize, c.end-body)
	case h.UncompressedPageSize < 0 || h.UncompressedPageSize > maxParquetPageBytes:
		return where("uncompressed size %d is over the %d MiB a page may have", h.UncompressedPageSize, maxParquetPageBytes>>20)
	case h.CompressedPageSize > maxParquetPageBytes+maxParquetPageBytes/4:
		return where("compressed size %d is over the %d MiB a page may have", h.CompressedPageSize, maxParquetPageBytes>>20)
	}
	values, levels := int32(0), int64(0)
	compressed := true
	switch {
	case h.Type == format.DataPage && h.DataPageHeader.Valid:
		values = h.DataPageHeader.V.NumValues
	case h.Type == format.DataPageV2 && h.DataPageHeaderV2.Valid:
		v := &h.DataPageHeaderV2.V
		values = v.NumValues
		if v.NumRows < 0 || v.NumNulls < 0 || v.NumNulls > v.NumValues {
			return where("%d rows, %d values, %d nulls", v.NumRows, v.NumValues, v.NumNulls)
		}
		levels = int64(v.DefinitionLevelsByteLength) + int64(v.RepetitionLevelsByteLength)
		if v.DefinitionLevelsByteLength < 0 || v.RepetitionLevelsByteLength < 0 || levels > int64(h.CompressedPageSize) || levels > int64(h.UncompressedPageSize) {
			return where("levels of %d bytes in a page of %d", levels, h.CompressedPageSize)
		}
		compressed = !v.IsCompressed.Valid || v.IsCompressed.V
	case h.Type == format.DictionaryPage && h.DictionaryPageHeader.Valid:
		values = h.DictionaryPageHeader.V.NumValues
	case h.Type == format.IndexPage:
	default:
		return where("a %s page without its header", h.Type)
	}
	switch {
	case values < 0 || values > maxParquetPageValues:
		return where("%d values, over the %d a page may have", values, maxParquetPageValues)
	case !c.repeated && h.Type != format.DictionaryPage && int64(values) > c.rows:
		return where("%d values in a row group of %d rows", values, c.rows)
	}
	if compressed && c.codec != format.Uncompressed && h.Type != format.IndexPage {
		if err := g.checkInflate(c, body+levels, int(int64(h.CompressedPageSize)-levels), int(int64(h.UncompressedPageSize)-levels), have, haveOff); err != nil {
			return where("%s data: %v", c.codec, err)
		}
	}
	c.next = body + int64(h.CompressedPageSize)
	c.page++
	return nil
}

// checkInflate checks that the n compressed bytes at off decompress to no
// more than want bytes (snappy: that its stated length is no more).
func (g *pageGuard) checkInflate(c *guardedChunk, off int64, n, want int, have []byte, haveOff int64) error {
	if c.codec == format.Snappy {
		b, err := g.bytesAt(have, haveOff, off, min(n, binary.MaxVarintLen32))
		if err != nil {
			return err
		}
		size, k := binary.Uvarint(b)
		if k <= 0 || size > uint64(want) {
			return fmt.Errorf("a stated length of %d bytes, over the page's %d", size, want)
		}
		return nil
	}
	src, err := g.bytesAt(have, haveOff, off, n)
	if err != nil {
		return err
	}
	var r io.Reader
	switch c.codec {
	case format.Gzip:
		zr, err := gzip.NewReader(bytes.NewReader(src))
		if err != nil {
			return err
		}
		r = zr
	case format.Brotli:
		r = brotli.NewReader(bytes.NewReader(src))
	case format.Zstd:
		d, err := parquetZstd()
		if err != nil {
			return err
		}
		out, err := d.DecodeAll(src, g.buf[:0])
		if cap(out) <= 8<<20 {
			g.buf = out[:0]
		}
		if err != nil {
			return err
		}
		if len(out) > want {
			return fmt.Errorf("decompresses to %d bytes or more, over the page's %d", len(out), want)
		}
		return nil
	case format.Lz4Raw:
		buf := g.buf
		if cap(buf) < want {
			buf = make([]byte, want)
		}
		if cap(buf) <= 8<<20 {
			g.buf = buf[:0]
		}
		if _, err := lz4.UncompressBlock(src, buf[:want]); err != nil {
			return fmt.Errorf("does not decompress into the page's %d bytes: %v", want, err)
		}
		return nil
	default:
		return nil // parquet-go refuses the codec before decompressing
	}
	k, err := io.Copy(io.Discard, io.LimitReader(r, int64(want)+1))
	if err != nil {
		return err
	}
	if k > int64(want) {
		return fmt.Errorf("decompresses to more than the page's %d bytes", want)
	}
	return nil
}
