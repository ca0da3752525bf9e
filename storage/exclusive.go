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
	"github.com/apache/beam/sdks/v2/go/pkg/beam/util/gcsx"
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

// gcsClient returns a client for gs:// objects with scope. Like Beam, it
// falls back to unauthenticated access when no credentials are found, and
// it honours STORAGE_EMULATOR_HOST.
func gcsClient(ctx context.Context, scope string) (*gcs.Client, error) {
	client, err := gcsx.NewClient(ctx, scope)
	if err != nil {
		return gcsx.NewUnauthenticatedClient(ctx)
	}
	return client, nil
}

func gcsObject(ctx context.Context, p string) (*gcs.ObjectHandle, func(), error) {
	bucket, object, err := gcsx.ParseObject(p)
	if err != nil {
		return nil, nil, err
	}
	client, err := gcsClient(ctx, gcs.ScopeReadWrite)
	if err != nil {
		return nil, nil, err
	}
	return client.Bucket(bucket).Object(object), func() { client.Close() }, nil
}

// isPrecondition reports whether err is GCS's 412 Precondition Failed.
func isPrecondition(err error) bool {
	var ge *googleapi.Error
	return errors.As(err, &ge) && ge.Code == http.StatusPreconditionFailed
}

// CreateExclusive creates the file p with data, atomically, only if no
// file is at p: locally with an exclusive create (O_EXCL), on gs:// with
// the precondition ifGenerationMatch=0. When a file is there it returns an
// error wrapping ErrExist. The local file is synced before it returns.
func CreateExclusive(ctx context.Context, p string, data []byte) error {
	if scheme(p) == "gs" {
		obj, done, err := gcsObject(ctx, p)
		if err != nil {
			return wrapErr("create", p, err)
		}
		defer done()
		w := obj.If(gcs.Conditions{DoesNotExist: true}).NewWriter(ctx)
		if _, err := w.Write(data); err != nil {
			w.Close()
			return wrapErr("create", p, err)
		}
		if err := w.Close(); err != nil {
			if isPrecondition(err) {
				return wrapErr("create", p, ErrExist)
			}
			return wrapErr("create", p, err)
		}
		return nil
	}
	if !IsLocal(p) {
		return fmt.Errorf("storage: create %s: exclusive creation is for local and gs:// paths", p)
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return wrapErr("create", p, err)
	}
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return wrapErr("create", p, err) // wraps fs.ErrExist when it exists
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(p)
		return wrapErr("create", p, err)
	}
	return nil
}

// ReadGeneration returns the contents of the file p and its generation.
func ReadGeneration(ctx context.Context, p string) ([]byte, int64, error) {
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
	if scheme(p) != "gs" {
		return fmt.Errorf("storage: write %s: conditional writes are for gs:// objects", p)
	}
	obj, done, err := gcsObject(ctx, p)
	if err != nil {
		return wrapErr("write", p, err)
	}
	defer done()
	cond := gcs.Conditions{GenerationMatch: gen}
	if gen == 0 {
		cond = gcs.Conditions{DoesNotExist: true}
	}
	w := obj.If(cond).NewWriter(ctx)
	if _, err := w.Write(data); err != nil {
		w.Close()
		return wrapErr("write", p, err)
	}
	if err := w.Close(); err != nil {
		if isPrecondition(err) {
			return wrapErr("write", p, ErrChanged)
		}
		return wrapErr("write", p, err)
	}
	return nil
}
