package storage

import (
	"context"
	"errors"
	"io"
	"sync/atomic"
)

// ReaderAt reads generation gen of the file at p (from Stat; 0: any) at
// any offset: each ReadAt is one ranged read (OpenRangeAt), so callers
// read in large pieces. Formats read from an index, such as Parquet's
// footer, read through it. N counts the bytes read.
type ReaderAt struct {
	ctx context.Context
	p   string
	gen int64
	N   atomic.Int64
}

// NewReaderAt returns a ReaderAt of generation gen of p.
func NewReaderAt(ctx context.Context, p string, gen int64) *ReaderAt {
	return &ReaderAt{ctx: ctx, p: p, gen: gen}
}

// ReadAt implements io.ReaderAt; a read past the end returns io.EOF with
// the bytes there are.
func (r *ReaderAt) ReadAt(b []byte, off int64) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	rc, err := OpenRangeAt(r.ctx, r.p, r.gen, off, int64(len(b)))
	if err != nil {
		return 0, err
	}
	defer rc.Close()
	n, err := io.ReadFull(rc, b)
	r.N.Add(int64(n))
	if errors.Is(err, io.ErrUnexpectedEOF) {
		err = io.EOF
	}
	return n, err
}
