package storage

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	iofs "io/fs"
	"net/http"
	"os"
	"path/filepath"
	"syscall"

	gcs "cloud.google.com/go/storage"
	"google.golang.org/api/googleapi"
)

// Conditional operations, for locks and pointers that two writers may race
// on. Each file has a generation that changes whenever it is replaced: the
// object generation on gs://; for a local file a hash of its inode,
// modification time and contents (inode numbers alone are reused at once
// when a file is removed and another created).

// ErrExist is returned (wrapped) by CreateExclusive when the file exists,
// and ErrChanged by RemoveIfGeneration when it is not the generation given.
var (
	ErrExist   = iofs.ErrExist
	ErrChanged = errors.New("the file changed")
)

// gcsObject returns the handle of the gs:// object p and a function to
// call when done with it (nothing to do: the client is shared, gcs.go).
func gcsObject(ctx context.Context, p string) (*gcs.ObjectHandle, func(), error) {
	obj, err := gcsHandle(ctx, p)
	if err != nil {
		return nil, nil, err
	}
	return obj, func() {}, nil
}

// writeData is a write function for WriteFile and writeGCSIf that writes
// data.
func writeData(data []byte) func(io.Writer) error {
	return func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	}
}

// isPrecondition reports whether err is GCS's 412 Precondition Failed.
func isPrecondition(err error) bool {
	var ge *googleapi.Error
	return errors.As(err, &ge) && ge.Code == http.StatusPreconditionFailed
}

// CreateExclusive creates the file p with data, atomically, only if no
// file is at p: locally by linking a complete temporary file to p, on gs:// with
// the precondition ifGenerationMatch=0. When a file is there it returns an
// error wrapping ErrExist. The local file is synced before it returns.
//
// On gs:// the create is retried on transient errors; when a retry finds
// the object already holding exactly data, it takes it for its own first
// attempt that landed before its answer was lost. So data should be unique
// to the writer (a lock names its holder).
func CreateExclusive(ctx context.Context, p string, data []byte) error {
	if scheme(p) == "hdfs" {
		return createExclusiveHDFS(ctx, p, data)
	}
	if scheme(p) == "gs" {
		obj, done, err := gcsObject(ctx, p)
		if err != nil {
			return wrapErr("create", p, err)
		}
		defer done()
		return writeGCSIf(ctx, p, obj, 0, writeData(data), ErrExist)
	}
	if !IsLocal(p) {
		return fmt.Errorf("storage: create %s: exclusive creation is for local and gs:// paths", p)
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return wrapErr("create", p, err)
	}
	// The whole file is written under a temporary name first and then
	// linked to p (link fails when p exists), so a reader never sees the
	// file half written: a second run reading a lock while the first one
	// writes it would take it for garbage. (Not named like an atomic
	// write's temporary: the run holding a lock removes those, and would
	// remove this one under a second run's feet.)
	f, err := os.CreateTemp(filepath.Dir(p), "."+filepath.Base(p)+".excl-*")
	if err != nil {
		return wrapErr("create", p, err)
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	_, err = f.Write(data)
	if err == nil {
		err = f.Chmod(0o644)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Link(tmp, p)
	}
	if err != nil {
		return wrapErr("create", p, err) // wraps fs.ErrExist when it exists
	}
	return nil
}

// ReadGeneration returns the contents of the file p and its generation.
func ReadGeneration(ctx context.Context, p string) ([]byte, int64, error) {
	if scheme(p) == "hdfs" {
		return readGenerationHDFS(ctx, p)
	}
	if scheme(p) == "gs" {
		obj, done, err := gcsObject(ctx, p)
		if err != nil {
			return nil, 0, wrapErr("read", p, err)
		}
		defer done()
		attrs, err := obj.Attrs(ctx)
		if err != nil {
			if errors.Is(err, gcs.ErrObjectNotExist) {
				err = iofs.ErrNotExist
			}
			return nil, 0, wrapErr("read", p, err)
		}
		r, err := obj.Generation(attrs.Generation).NewReader(ctx)
		if err != nil {
			return nil, 0, wrapErr("read", p, err)
		}
		defer r.Close()
		b, err := io.ReadAll(r)
		if err != nil {
			return nil, 0, wrapErr("read", p, err)
		}
		return b, attrs.Generation, nil
	}
	b, gen, err := localGeneration(p)
	if err != nil {
		return nil, 0, wrapErr("read", p, err)
	}
	return b, gen, nil
}

// localGeneration returns the contents of the local file p and its
// generation.
func localGeneration(p string) ([]byte, int64, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, 0, err
	}
	b, err := io.ReadAll(f)
	if err != nil {
		return nil, 0, err
	}
	h := fnv.New64a()
	var ino uint64
	if s, ok := st.Sys().(*syscall.Stat_t); ok {
		ino = s.Ino
	}
	fmt.Fprintf(h, "%d %d %d\n", ino, st.ModTime().UnixNano(), len(b))
	h.Write(b)
	return b, int64(h.Sum64() >> 1), nil
}

// RemoveIfGeneration removes the file p if it still is generation gen
// (from ReadGeneration); otherwise it returns an error wrapping ErrChanged.
// On gs:// the check and the removal are one request: the delete names
// the generation and carries ifGenerationMatch (the emulator honours only
// the former, GCS both); locally the generation is checked just before the
// removal.
func RemoveIfGeneration(ctx context.Context, p string, gen int64) error {
	if scheme(p) == "hdfs" {
		return removeIfGenerationHDFS(ctx, p, gen)
	}
	if scheme(p) == "gs" {
		obj, done, err := gcsObject(ctx, p)
		if err != nil {
			return wrapErr("remove", p, err)
		}
		defer done()
		if err := obj.Generation(gen).If(gcs.Conditions{GenerationMatch: gen}).Delete(ctx); err != nil {
			if isPrecondition(err) || errors.Is(err, gcs.ErrObjectNotExist) {
				return wrapErr("remove", p, ErrChanged)
			}
			return wrapErr("remove", p, err)
		}
		return nil
	}
	if _, now, err := localGeneration(p); err != nil || now != gen {
		return wrapErr("remove", p, ErrChanged)
	}
	if err := os.Remove(p); err != nil {
		return wrapErr("remove", p, err)
	}
	return nil
}

// WriteIfGeneration replaces the gs:// object p with data only if it still
// is generation gen (0: only if it does not exist), in one request;
// otherwise it returns an error wrapping ErrChanged. Local paths have no
// such request: it is an error there.
func WriteIfGeneration(ctx context.Context, p string, data []byte, gen int64) error {
	if scheme(p) == "hdfs" {
		return writeIfGenerationHDFS(ctx, p, data, gen)
	}
	if scheme(p) != "gs" {
		return fmt.Errorf("storage: write %s: conditional writes are for gs:// objects", p)
	}
	obj, done, err := gcsObject(ctx, p)
	if err != nil {
		return wrapErr("write", p, err)
	}
	defer done()
	return writeGCSIf(ctx, p, obj, gen, writeData(data), ErrChanged)
}

// WriteFileIfGeneration is WriteFile on condition that the file p still is
// generation gen (from ReadGeneration; 0: that no file is at p),
// checked in the same request as the write on gs://; otherwise it returns
// an error wrapping ErrChanged and leaves p as it is. Local paths and other
// schemes have no such request: there the generation is checked just
// before the write (local) or not at all, and the write is WriteFile's.
func WriteFileIfGeneration(ctx context.Context, p string, gen int64, write func(io.Writer) error) error {
	if scheme(p) == "gs" {
		obj, done, err := gcsObject(ctx, p)
		if err != nil {
			return wrapErr("write", p, err)
		}
		defer done()
		return writeGCSIf(ctx, p, obj, gen, write, ErrChanged)
	}
	if IsLocal(p) {
		switch _, now, err := localGeneration(p); {
		case err != nil && !errors.Is(err, iofs.ErrNotExist):
			return wrapErr("write", p, err)
		case err != nil && gen != 0, err == nil && now != gen:
			return wrapErr("write", p, ErrChanged)
		}
	}
	return WriteFile(ctx, p, write)
}
