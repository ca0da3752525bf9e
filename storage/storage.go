// Package storage gives URL-addressed access to files: a local path
// ("/data/x", "out/prep") or an object URL ("gs://bucket/prefix/x"). It sits
// on Beam Go's filesystem registry, so every scheme Beam knows works here and
// in the pipelines alike; local and gs:// are registered by this package.
// gs:// paths themselves go through one client of this package's own
// (gcs.go): retries that are logged, conditional writes, redacted errors.
//
// Writes are atomic (see WriteFile): a reader sees either no file (or the
// previous one) or the complete new file, never a prefix of it.
package storage

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	iofs "io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/lightbeam-ml/lightbeam/internal/localfile"

	gcs "cloud.google.com/go/storage"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem"
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem/gcs" // gs://
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem/local"
)

// scheme returns the URL scheme of p ("gs" for "gs://b/o"), or "" for a
// local path.
func scheme(p string) string {
	if i := strings.Index(p, "://"); i > 0 {
		return p[:i]
	}
	return ""
}

// IsLocal reports whether p is a local path rather than a URL.
func IsLocal(p string) bool { return scheme(p) == "" }

// wrapErr names the operation and the path; it drops the *fs.PathError
// layer so the path is not printed twice.
func wrapErr(op, p string, err error) error {
	var pe *iofs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	return fmt.Errorf("storage: %s %s: %w", op, p, redactErr(err))
}

// newFS returns the registered filesystem for p's scheme.
func newFS(ctx context.Context, p string) (filesystem.Interface, error) {
	fs, err := filesystem.New(ctx, p)
	if err != nil {
		return nil, fmt.Errorf("storage: %s: %w", p, err)
	}
	return fs, nil
}

// readCloser closes the reader, then what it was opened through.
type readCloser struct {
	io.Reader
	closers []io.Closer
}

func (r *readCloser) Close() error {
	var errs []error
	for _, c := range r.closers {
		errs = append(errs, c.Close())
	}
	return errors.Join(errs...)
}

// Open opens the file at p for reading. The caller closes it.
func Open(ctx context.Context, p string) (io.ReadCloser, error) {
	if scheme(p) == "gs" {
		return gcsOpen(ctx, p, 0, -1)
	}
	fs, err := newFS(ctx, p)
	if err != nil {
		return nil, err
	}
	r, err := fs.OpenRead(ctx, p)
	if err != nil {
		fs.Close()
		return nil, wrapErr("open", p, err)
	}
	return &readCloser{Reader: r, closers: []io.Closer{r, fs}}, nil
}

// OpenRange opens n bytes of the file at p starting at byte off (n < 0: to
// the end). Local files seek; gs:// objects are read with a ranged request,
// so only the range crosses the network (pinned to one generation, see
// gcsOpen). Other schemes read and discard the first off bytes.
func OpenRange(ctx context.Context, p string, off, n int64) (io.ReadCloser, error) {
	if off < 0 {
		return nil, fmt.Errorf("storage: open range of %s: negative offset %d", p, off)
	}
	if scheme(p) == "gs" {
		return gcsOpen(ctx, p, off, n)
	}
	rc, err := Open(ctx, p)
	if err != nil {
		return nil, err
	}
	inner := rc.(*readCloser)
	if s, ok := inner.closers[0].(io.Seeker); ok {
		if _, err := s.Seek(off, io.SeekStart); err != nil {
			rc.Close()
			return nil, wrapErr("seek in", p, err)
		}
	} else if _, err := io.CopyN(io.Discard, rc, off); err != nil {
		rc.Close()
		if err == io.EOF {
			err = fmt.Errorf("offset %d is past the end", off)
		}
		return nil, wrapErr("skip in", p, err)
	}
	if n >= 0 {
		inner.Reader = io.LimitReader(inner.Reader, n)
	}
	return rc, nil
}

// Size returns the size of the file at p in bytes.
func Size(ctx context.Context, p string) (int64, error) {
	if scheme(p) == "gs" {
		attrs, err := gcsAttrs(ctx, p)
		if err != nil {
			return 0, wrapErr("size of", p, err)
		}
		return attrs.Size, nil
	}
	fs, err := newFS(ctx, p)
	if err != nil {
		return 0, err
	}
	defer fs.Close()
	n, err := fs.Size(ctx, p)
	if err != nil {
		return 0, wrapErr("size of", p, err)
	}
	return n, nil
}

// IsNotExist reports whether err says a file or object does not exist.
func IsNotExist(err error) bool {
	return errors.Is(err, iofs.ErrNotExist) || errors.Is(err, gcs.ErrObjectNotExist)
}

// Exists reports whether the file at p exists.
func Exists(ctx context.Context, p string) (bool, error) {
	_, err := Size(ctx, p)
	if err == nil {
		return true, nil
	}
	if IsNotExist(err) {
		return false, nil
	}
	return false, err
}

// List returns the files matching glob, sorted. Local globs follow
// filepath.Match; in gs:// globs '*' and '?' stay within one '/'-separated
// part and "**" crosses parts (see gcsList).
func List(ctx context.Context, glob string) ([]string, error) {
	if scheme(glob) == "gs" {
		files, err := gcsList(ctx, glob)
		if err != nil {
			return nil, wrapErr("list", glob, err)
		}
		sort.Strings(files)
		return files, nil
	}
	fs, err := newFS(ctx, glob)
	if err != nil {
		return nil, err
	}
	defer fs.Close()
	files, err := fs.List(ctx, glob)
	if err != nil {
		return nil, wrapErr("list", glob, err)
	}
	sort.Strings(files)
	return files, nil
}

// Remove deletes the file at p.
func Remove(ctx context.Context, p string) error {
	if scheme(p) == "gs" {
		return gcsRemove(ctx, p)
	}
	fs, err := newFS(ctx, p)
	if err != nil {
		return err
	}
	defer fs.Close()
	rm, ok := fs.(filesystem.Remover)
	if !ok {
		return fmt.Errorf("storage: remove %s: the %q filesystem cannot remove files", p, scheme(p))
	}
	if err := rm.Remove(ctx, p); err != nil {
		return wrapErr("remove", p, err)
	}
	return nil
}

// MkdirAll creates the local directory p and its parents, or on hdfs://
// the cluster's (mkdir -p). Object stores have no directories, so for
// their URLs it does nothing.
func MkdirAll(ctx context.Context, p string) error {
	if scheme(p) == "hdfs" {
		return mkdirHDFS(ctx, p)
	}
	if !IsLocal(p) {
		return nil
	}
	if err := os.MkdirAll(p, 0o755); err != nil {
		return wrapErr("mkdir", p, err)
	}
	return nil
}

// Join joins path elements to base with '/' for URLs ("gs://b/p" + "x" is
// "gs://b/p/x") and with filepath.Join for local paths.
func Join(base string, elem ...string) string {
	s := scheme(base)
	if s == "" {
		return filepath.Join(append([]string{base}, elem...)...)
	}
	rest := strings.TrimPrefix(base, s+"://")
	return s + "://" + path.Join(append([]string{rest}, elem...)...)
}

// Base returns the last element of p: "x.lbs" for "gs://b/d/x.lbs".
func Base(p string) string {
	s := scheme(p)
	if s == "" {
		return filepath.Base(p)
	}
	return path.Base(strings.TrimPrefix(p, s+"://"))
}

// Dir returns all but the last element of p: "gs://b/d" for "gs://b/d/x".
// The directory of a bucket's top-level object is the bucket itself.
func Dir(p string) string {
	s := scheme(p)
	if s == "" {
		return filepath.Dir(p)
	}
	rest := strings.TrimRight(strings.TrimPrefix(p, s+"://"), "/")
	i := strings.LastIndex(rest, "/")
	if i < 0 {
		return s + "://" + rest
	}
	return s + "://" + rest[:i]
}

// ReadFile returns the contents of the file at p.
func ReadFile(ctx context.Context, p string) ([]byte, error) {
	r, err := Open(ctx, p)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		if errors.Is(err, ErrChanged) {
			return nil, err // names p already
		}
		return nil, wrapErr("read", p, err)
	}
	return b, nil
}

// WriteBytes atomically replaces the file at p with data (see WriteFile).
func WriteBytes(ctx context.Context, p string, data []byte) error {
	return WriteFile(ctx, p, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// WriteFile atomically writes the file at p with what write writes to w (w
// is buffered). If write or anything after it fails, the file at p is
// untouched: absent, or the old one, complete. How:
//
//   - Local paths: write a temporary file in p's directory (created if
//     missing), fsync it, rename it over p, fsync the directory.
//   - gs://: a GCS object appears only when its upload completes on Close;
//     on error the upload's context is cancelled, so no object is created
//     and an old object stays. The upload is conditional on p being what it
//     was when the write began (absent, or the generation read then), so a
//     retried or duplicated upload never replaces an object that another
//     writer put there meanwhile: that write fails with ErrChanged.
//   - Other schemes: write "<p>.tmp-lightbeam", then rename it over p.
//
// Errors, including the one from Close, name p.
func WriteFile(ctx context.Context, p string, write func(w io.Writer) error) error {
	switch scheme(p) {
	case "":
		return writeLocal(p, write)
	case "gs":
		return writeGCS(ctx, p, write)
	default:
		return writeRename(ctx, p, write)
	}
}

func writeLocal(p string, write func(io.Writer) error) error {
	if err := localfile.Write(p, write); err != nil {
		return wrapErr("write", p, err)
	}
	return nil
}

func writeRename(ctx context.Context, p string, write func(io.Writer) error) error {
	fs, err := newFS(ctx, p)
	if err != nil {
		return err
	}
	defer fs.Close()
	tmp := p + ".tmp-lightbeam"
	w, err := fs.OpenWrite(ctx, tmp)
	if err != nil {
		return wrapErr("write", p, err)
	}
	bw := bufio.NewWriterSize(w, 1<<16)
	err = write(bw)
	if err == nil {
		err = bw.Flush()
	}
	if err != nil {
		w.Close()
		if rm, ok := fs.(filesystem.Remover); ok {
			rm.Remove(ctx, tmp)
		}
		return wrapErr("write", p, err)
	}
	if err := w.Close(); err != nil {
		return wrapErr("close", p, err)
	}
	if err := filesystem.Rename(ctx, fs, tmp, p); err != nil {
		return wrapErr("rename into", p, err)
	}
	return nil
}

// CountingReader counts the bytes read through it.
type CountingReader struct {
	R io.Reader
	N int64 // bytes read so far
}

func (c *CountingReader) Read(p []byte) (int, error) {
	k, err := c.R.Read(p)
	c.N += int64(k)
	return k, err
}
