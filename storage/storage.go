// Package storage gives URL-addressed access to files: a local path
// ("/data/x", "out/prep"), an object URL ("gs://bucket/prefix/x") or an
// HDFS URL ("hdfs://namenode:8020/data/x").
//
// # Drivers
//
// Each scheme has a Driver, registered by scheme (Register, one line in
// the driver's init): local.go for local paths, gcs.go for gs:// (one
// client of this package's own: retries that are logged, conditional
// writes, redacted errors), hdfs.go for hdfs:// (over storage/hdfs, which
// also registers hdfs:// with Beam's filesystem registry for Beam's own
// IO). The exported functions check their arguments and hand each call to
// the driver of its path; a scheme no driver serves, or an operation a
// store cannot do, is an error wrapping ErrUnsupported. What each store
// guarantees beyond the common contract is its Capabilities
// (CapabilitiesOf); storage/storagetest is the suite every driver passes.
//
// Writes are atomic (see WriteFile): a reader sees either no file (or the
// previous one) or the complete new file, never a prefix of it. Their
// temporary files are named ".NAME.tmp-*" beside NAME on every store, so
// that RemoveTemporaries finds what a killed run left.
//
// # Globs
//
// List takes one glob syntax on every store, matched one '/'-separated
// element at a time (as filepath.Match does, and Hadoop's globStatus):
//
//   - '*' matches any run of characters but '/', '?' one character but
//     '/', '[abc]', '[a-z]', '[^a]' and '[!a]' one character of (not of) a
//     class, and '\' makes the character after it literal;
//   - an element that is exactly "**" matches any number of directories,
//     none included ("gs://b/data/**/*.csv" is every .csv below data), and
//     a last element "**" every file below ("OUT/**"); "**" inside an
//     element is two '*'s;
//   - only files are listed, never directories (nor gs:// placeholder
//     objects whose names end in '/'); a missing directory matches nothing;
//     a malformed pattern is an error wrapping path.ErrBadPattern;
//   - local symbolic links are followed where an element names them, never
//     by "**".
//
// The result is sorted and spelled like the glob.
package storage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	iofs "io/fs"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	gcs "cloud.google.com/go/storage"

	// Beam's own IO (and its workers' diagnostics) find local paths and
	// gs:// in Beam's filesystem registry, as before drivers; storage
	// itself does not go through it.
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem/gcs"
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem/local"
)

// ErrExist is returned (wrapped) by CreateExclusive when the file exists,
// ErrChanged when a file is not the generation an operation was given, or
// changed while it was read or written.
var (
	ErrExist   = iofs.ErrExist
	ErrChanged = errors.New("the file changed")
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

// IsNotExist reports whether err says a file or object does not exist.
func IsNotExist(err error) bool {
	return errors.Is(err, iofs.ErrNotExist) || errors.Is(err, gcs.ErrObjectNotExist)
}

// Open opens the file at p for reading. The caller closes it.
func Open(ctx context.Context, p string) (io.ReadCloser, error) {
	return OpenRange(ctx, p, 0, -1)
}

// OpenRange opens n bytes of the file at p starting at byte off (n < 0: to
// the end); a range past the end is cut at the end. Only the range is
// read: local and hdfs:// readers seek, gs:// objects are read with a
// ranged request (pinned to one generation while it is read, see
// gcsDriver.OpenRange).
func OpenRange(ctx context.Context, p string, off, n int64) (io.ReadCloser, error) {
	return OpenRangeAt(ctx, p, 0, off, n)
}

// FileInfo is what Stat returns.
type FileInfo struct {
	Size int64
	// Generation changes whenever the file is replaced: the object
	// generation on gs://; for a local file a hash of its inode, size and
	// modification time (no content is read, so a rewrite in place within
	// the clock's resolution that keeps the size goes unseen); 0 where the
	// store has no PinnedReads.
	Generation int64
}

// Stat returns the size and generation of the file at p. With
// OpenRangeAt it pins reads to one version of a file across requests: a
// job that plans byte ranges of an input and reads them later, maybe in
// other workers, gets ErrChanged instead of ranges of two versions when
// the input is replaced in between.
func Stat(ctx context.Context, p string) (FileInfo, error) {
	d, err := driverFor(p)
	if err != nil {
		return FileInfo{}, err
	}
	return d.Stat(ctx, p)
}

// OpenRangeAt is OpenRange of generation gen of p (from Stat; 0: any).
// When p is no longer that generation it fails with an error wrapping
// ErrChanged that names p; on gs:// the request itself names the
// generation, locally the opened file is checked. A store without
// PinnedReads gives generation 0 only, and refuses others
// (ErrUnsupported).
func OpenRangeAt(ctx context.Context, p string, gen, off, n int64) (io.ReadCloser, error) {
	if off < 0 {
		return nil, fmt.Errorf("storage: open range of %s: negative offset %d", p, off)
	}
	d, err := driverFor(p)
	if err != nil {
		return nil, err
	}
	if gen != 0 && !d.Capabilities().PinnedReads {
		return nil, unsupported("open", p, "the store has no generations to pin a read to")
	}
	return d.OpenRange(ctx, p, gen, off, n)
}

// Size returns the size of the file at p in bytes.
func Size(ctx context.Context, p string) (int64, error) {
	fi, err := Stat(ctx, p)
	return fi.Size, err
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

// List returns the files matching glob, sorted (see Globs in the package
// documentation).
func List(ctx context.Context, glob string) ([]string, error) {
	d, err := driverFor(glob)
	if err != nil {
		return nil, err
	}
	files, err := d.List(ctx, glob)
	if err != nil {
		return nil, err
	}
	sort.Strings(files)
	return files, nil
}

// Remove deletes the file at p.
func Remove(ctx context.Context, p string) error {
	d, err := driverFor(p)
	if err != nil {
		return err
	}
	return d.Remove(ctx, p)
}

// MkdirAll creates the directory p and its parents on stores with
// directories (local paths, hdfs://: mkdir -p). Object stores have none,
// so for their URLs it does nothing.
func MkdirAll(ctx context.Context, p string) error {
	d, err := driverFor(p)
	if err != nil {
		return err
	}
	return d.MkdirAll(ctx, p)
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

// WriteSortedJSON drains next (a grouped PCollection's values), sorts the
// values by cmp and atomically writes them to p as one JSON array: how a
// job gathers its few small results into one file for its driver.
func WriteSortedJSON[T any](ctx context.Context, p string, next func(*T) bool, cmp func(a, b T) int) error {
	var all []T
	var v T
	for next(&v) {
		all = append(all, v)
	}
	slices.SortFunc(all, cmp)
	b, err := json.Marshal(all)
	if err != nil {
		return fmt.Errorf("storage: %s: %w", p, err)
	}
	return WriteBytes(ctx, p, b)
}

// WriteBytes atomically replaces the file at p with data (see WriteFile).
func WriteBytes(ctx context.Context, p string, data []byte) error {
	return WriteFile(ctx, p, writeData(data))
}

// writeData is a write function for WriteFile that writes data.
func writeData(data []byte) func(io.Writer) error {
	return func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	}
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
//     writer put there meanwhile: that write fails with ErrChanged
//     (Capabilities.Preconditions).
//   - hdfs://: write a temporary file beside p, then rename it over p (one
//     NameNode operation).
//
// Errors, including the one from Close, name p.
func WriteFile(ctx context.Context, p string, write func(w io.Writer) error) error {
	d, err := driverFor(p)
	if err != nil {
		return err
	}
	return d.WriteFile(ctx, p, write)
}

// Concat atomically writes dst as the concatenation of the files srcs, in
// order, and leaves srcs in place. gs:// objects in one bucket are joined
// by the server (object composition, in rounds of 32 through temporary
// objects beside dst that are removed after), so no byte passes through
// this process; anything else is streamed through WriteFile, so dst
// appears only when complete. Like WriteFile, the composition of dst is
// conditional on dst being what it was when Concat began (ErrChanged if
// another writer replaced it meanwhile). No sources is an error.
func Concat(ctx context.Context, dst string, srcs []string) error {
	if len(srcs) == 0 {
		return fmt.Errorf("storage: concatenate into %s: no sources", dst)
	}
	d, err := driverFor(dst)
	if err != nil {
		return err
	}
	return d.Concat(ctx, dst, srcs)
}

// CreateExclusive creates the file p with data, atomically, only if no
// file is at p: locally by linking a complete temporary file to p, on gs://
// with the precondition ifGenerationMatch=0, on hdfs:// under a guard
// file (storage/hdfs cond.go). When a file is there it returns an error
// wrapping ErrExist. The file appears whole.
//
// On gs:// the create is retried on transient errors; when a retry finds
// the object already holding exactly data, it takes it for its own first
// attempt that landed before its answer was lost. So data should be unique
// to the writer (a lock names its holder).
func CreateExclusive(ctx context.Context, p string, data []byte) error {
	d, err := driverFor(p)
	if err != nil {
		return err
	}
	return d.CreateExclusive(ctx, p, data)
}

// ReadGeneration returns the contents of the file p and its generation,
// the one WriteIfGeneration and RemoveIfGeneration compare: the object
// generation on gs://; locally a hash of the inode, modification time and
// contents (inode numbers alone are reused at once when a file is removed
// and another created); on hdfs:// a hash of the inode id, modification
// time and length. It need not equal Stat's.
func ReadGeneration(ctx context.Context, p string) ([]byte, int64, error) {
	d, err := driverFor(p)
	if err != nil {
		return nil, 0, err
	}
	return d.ReadGeneration(ctx, p)
}

// WriteIfGeneration replaces the file p with data only if it still is
// generation gen (from ReadGeneration; 0: only if no file is there);
// otherwise it returns an error wrapping ErrChanged. On gs:// it is one
// request; on hdfs:// the check and the rename are made under p's guard
// file. Local paths have no such operation (ErrUnsupported).
func WriteIfGeneration(ctx context.Context, p string, data []byte, gen int64) error {
	d, err := driverFor(p)
	if err != nil {
		return err
	}
	return d.WriteIfGeneration(ctx, p, data, gen)
}

// RemoveIfGeneration removes the file p if it still is generation gen
// (from ReadGeneration); otherwise it returns an error wrapping ErrChanged.
// On gs:// the check and the removal are one request: the delete names
// the generation and carries ifGenerationMatch (the emulator honours only
// the former, GCS both); on hdfs:// they are made under p's guard file;
// locally the generation is checked just before the removal.
func RemoveIfGeneration(ctx context.Context, p string, gen int64) error {
	d, err := driverFor(p)
	if err != nil {
		return err
	}
	return d.RemoveIfGeneration(ctx, p, gen)
}

// AppendLine appends line and a newline to the file p (created, with its
// directory, if missing), safely against other appenders: no line is lost
// or written twice, and each appears whole. Locally it is one write with
// O_APPEND, synced. Stores without appends (gs://, hdfs://) read the file
// with its generation and write it back with the line on the condition
// that nobody changed it since (WriteIfGeneration), up to 5 times; after
// that it returns an error wrapping ErrChanged, and the line is not there.
func AppendLine(ctx context.Context, p, line string) error {
	d, err := driverFor(p)
	if err != nil {
		return err
	}
	return d.AppendLine(ctx, p, []byte(line+"\n"))
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
