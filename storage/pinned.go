package storage

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"os"
	"syscall"

	gcs "cloud.google.com/go/storage"
)

// Reads pinned to one version of a file across requests: a job that plans
// byte ranges of an input (Stat) and reads them later, maybe in other
// workers (OpenRangeAt), gets ErrChanged instead of ranges of two versions
// when the input is replaced in between.

// FileInfo is what Stat returns.
type FileInfo struct {
	Size int64
	// Generation changes whenever the file is replaced: the object
	// generation on gs://; for a local file a hash of its inode, size and
	// modification time (no content is read, so a rewrite in place within
	// the clock's resolution that keeps the size goes unseen); 0 where the
	// scheme has none.
	Generation int64
}

// Stat returns the size and generation of the file at p.
func Stat(ctx context.Context, p string) (FileInfo, error) {
	switch {
	case scheme(p) == "gs":
		attrs, err := gcsAttrs(ctx, p)
		if err != nil {
			return FileInfo{}, wrapErr("stat", p, err)
		}
		return FileInfo{Size: attrs.Size, Generation: attrs.Generation}, nil
	case IsLocal(p):
		st, err := os.Stat(p)
		if err != nil {
			return FileInfo{}, wrapErr("stat", p, err)
		}
		return FileInfo{Size: st.Size(), Generation: statGeneration(st)}, nil
	}
	n, err := Size(ctx, p)
	return FileInfo{Size: n}, err
}

// LocalGeneration is the generation Stat gives a local file from its
// os.FileInfo (its inode, size and modification time), for code that holds
// the file open already.
func LocalGeneration(st os.FileInfo) int64 { return statGeneration(st) }

func statGeneration(st os.FileInfo) int64 {
	var ino uint64
	if s, ok := st.Sys().(*syscall.Stat_t); ok {
		ino = s.Ino
	}
	h := fnv.New64a()
	fmt.Fprintf(h, "%d %d %d", ino, st.Size(), st.ModTime().UnixNano())
	return int64(h.Sum64() >> 1)
}

// OpenRangeAt is OpenRange of generation gen of p (from Stat; 0: any).
// When p is no longer that generation it fails with an error wrapping
// ErrChanged that names p; on gs:// the request itself names the
// generation, locally the opened file is checked.
func OpenRangeAt(ctx context.Context, p string, gen, off, n int64) (io.ReadCloser, error) {
	if gen == 0 || !IsLocal(p) && scheme(p) != "gs" {
		return OpenRange(ctx, p, off, n)
	}
	if off < 0 {
		return nil, fmt.Errorf("storage: open range of %s: negative offset %d", p, off)
	}
	changed := func(now string) error {
		return wrapErr("open", p, fmt.Errorf("%w since it was planned: generation %d %s", ErrChanged, gen, now))
	}
	if scheme(p) == "gs" {
		obj, err := gcsHandle(ctx, p)
		if err != nil {
			return nil, wrapErr("open", p, err)
		}
		r, err := obj.Generation(gen).NewRangeReader(ctx, off, n)
		if errors.Is(err, gcs.ErrObjectNotExist) {
			if attrs, aerr := obj.Attrs(ctx); aerr == nil {
				return nil, changed(fmt.Sprintf("was replaced by generation %d", attrs.Generation))
			}
			return nil, changed("was removed")
		}
		if err != nil {
			return nil, wrapErr("open", p, err)
		}
		return &gcsReader{r: r, p: p}, nil
	}
	f, err := os.Open(p)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, changed("was removed")
		}
		return nil, wrapErr("open", p, err)
	}
	st, err := f.Stat()
	if err == nil && statGeneration(st) != gen {
		f.Close()
		return nil, changed(fmt.Sprintf("was replaced (now %d bytes, modified %s)", st.Size(), st.ModTime().UTC().Format("2006-01-02T15:04:05.000Z")))
	}
	if err == nil {
		_, err = f.Seek(off, io.SeekStart)
	}
	if err != nil {
		f.Close()
		return nil, wrapErr("open", p, err)
	}
	var r io.Reader = f
	if n >= 0 {
		r = io.LimitReader(f, n)
	}
	return &readCloser{Reader: r, closers: []io.Closer{f}}, nil
}
