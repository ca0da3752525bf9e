package hdfs

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	iofs "io/fs"
	"os"
	"path"
	"time"

	gohdfs "github.com/colinmarc/hdfs/v2"
)

// Conditional operations. HDFS has no object generations and no
// compare-and-swap, so this package builds them from what the NameNode does
// atomically:
//
//   - A file's generation is a hash of its inode id, modification time and
//     length. HDFS never reuses an inode id, and every replacement made here
//     is a rename of a new file (a new inode), so a replaced file never has
//     its old generation; an append would change the length and time.
//   - Creating a file without OVERWRITE is exclusive on the NameNode: of
//     racing creators exactly one succeeds. Each conditional operation on a
//     file P first creates such a guard file, P + GuardSuffix, and removes it
//     when done, so the check of P's generation and the rename or removal
//     that follows are one step for every other conditional operation on P.
//   - The new content is written to a temporary file beside P first and
//     renamed over P under the guard, so P is always whole.
//
// What it guarantees: conditional operations on one file through this
// package (any process, any host) exclude each other, so CreateExclusive has
// one winner and WriteIfGeneration / RemoveIfGeneration act only on the
// generation given. Not covered: plain writes and removals (storage.WriteFile,
// storage.Remove, other HDFS clients) racing with them, as on a local disk. A
// guard older than GuardStale is taken to be left by a crashed process and is
// removed (its age is measured against this host's clock, so clocks must
// agree to within GuardStale); a process that crashes inside the operation
// (milliseconds) can leave a temporary file ".NAME.lightbeam-tmp-*" beside P.

// GuardSuffix names the guard file of a conditional operation on P.
const GuardSuffix = ".lightbeam-guard"

// GuardStale is the age after which a guard is presumed abandoned.
const GuardStale = 30 * time.Second

// guardWait bounds how long an operation waits for another's guard.
const guardWait = 2 * GuardStale

// ErrChanged is returned (wrapped) when a file is not the generation given.
var ErrChanged = errors.New("the file changed")

// generation returns the generation of the file fi describes.
func generation(fi os.FileInfo) int64 {
	var id uint64
	if st, ok := fi.Sys().(interface{ GetFileId() uint64 }); ok {
		id = st.GetFileId()
	}
	h := fnv.New64a()
	fmt.Fprintf(h, "%d %d %d", id, fi.ModTime().UnixMilli(), fi.Size())
	g := int64(h.Sum64() >> 1)
	if g == 0 {
		g = 1 // 0 means "no file" to WriteIfGeneration
	}
	return g
}

// guard holds the guard of t's file until release.
func guard(ctx context.Context, t target, c *gohdfs.Client) (release func(), err error) {
	g := t.path + GuardSuffix
	deadline := time.Now().Add(guardWait)
	wait := 5 * time.Millisecond
	for {
		w, err := create(t, c, g, false)
		if err == nil {
			if err := closeFile(w); err != nil {
				c.Remove(g)
				return nil, err
			}
			return func() { c.Remove(g) }, nil
		}
		if !errors.Is(err, iofs.ErrExist) {
			return nil, err
		}
		if fi, err := c.Stat(g); err == nil && time.Since(fi.ModTime()) > GuardStale {
			c.Remove(g) // abandoned by a crashed process
			continue
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("another process has held %s for more than %v", t.url(g), guardWait)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(wait):
		}
		wait = min(2*wait, 200*time.Millisecond)
	}
}

// writeTemp writes data to a new temporary file beside t's file and returns
// its path.
func writeTemp(t target, c *gohdfs.Client, data []byte) (string, error) {
	var r [8]byte
	rand.Read(r[:])
	tmp := path.Join(path.Dir(t.path), "."+path.Base(t.path)+".lightbeam-tmp-"+hex.EncodeToString(r[:]))
	w, err := create(t, c, tmp, false)
	if err != nil {
		return "", err
	}
	_, err = w.Write(data)
	if cerr := closeFile(w); err == nil {
		err = cerr
	}
	if err != nil {
		c.Remove(tmp)
		return "", err
	}
	return tmp, nil
}

// replaceIf writes data to the file at the URL p, if check accepts the
// generation of what is there (0: nothing), under p's guard.
func replaceIf(ctx context.Context, p string, data []byte, check func(gen int64) error) error {
	t, c, err := open(p)
	if err != nil {
		return err
	}
	tmp, err := writeTemp(t, c, data)
	if err != nil {
		return t.pathErr("write", err)
	}
	done := false
	defer func() {
		if !done {
			c.Remove(tmp)
		}
	}()
	release, err := guard(ctx, t, c)
	if err != nil {
		return t.pathErr("lock", err)
	}
	defer release()
	var gen int64
	fi, err := c.Stat(t.path)
	switch {
	case err == nil:
		gen = generation(fi)
	case !errors.Is(err, iofs.ErrNotExist):
		return t.pathErr("stat", err)
	}
	if err := check(gen); err != nil {
		return &iofs.PathError{Op: "write", Path: p, Err: err}
	}
	if err := c.Rename(tmp, t.path); err != nil {
		return t.pathErr("rename into", err)
	}
	done = true
	return nil
}

// CreateExclusive creates the file at the hdfs:// URL p with data, only if
// no file is there; otherwise it returns an error wrapping fs.ErrExist. The
// file appears whole.
func CreateExclusive(ctx context.Context, p string, data []byte) error {
	return replaceIf(ctx, p, data, func(gen int64) error {
		if gen != 0 {
			return iofs.ErrExist
		}
		return nil
	})
}

// WriteIfGeneration replaces the file at p with data only if it still is
// generation gen (0: only if there is none); otherwise it returns an error
// wrapping ErrChanged.
func WriteIfGeneration(ctx context.Context, p string, data []byte, gen int64) error {
	return replaceIf(ctx, p, data, func(now int64) error {
		if now != gen {
			return ErrChanged
		}
		return nil
	})
}

// ReadGeneration returns the contents of the file at p and its generation.
// The generation is read before and after the contents, and the read is
// repeated if the file was replaced in between.
func ReadGeneration(ctx context.Context, p string) ([]byte, int64, error) {
	t, c, err := open(p)
	if err != nil {
		return nil, 0, err
	}
	for attempt := 0; ; attempt++ {
		before, err := c.Stat(t.path)
		if err != nil {
			return nil, 0, t.pathErr("stat", err)
		}
		b, err := c.ReadFile(t.path)
		if err != nil {
			return nil, 0, t.pathErr("read", err)
		}
		after, err := c.Stat(t.path)
		if err != nil {
			return nil, 0, t.pathErr("stat", err)
		}
		if g := generation(before); g == generation(after) && int64(len(b)) == after.Size() {
			return b, g, nil
		}
		if attempt == 4 {
			return nil, 0, t.pathErr("read", errors.New("the file kept changing while it was read"))
		}
		if err := ctx.Err(); err != nil {
			return nil, 0, err
		}
	}
}

// RemoveIfGeneration removes the file at p if it still is generation gen;
// otherwise (a newer file, or none) it returns an error wrapping ErrChanged.
func RemoveIfGeneration(ctx context.Context, p string, gen int64) error {
	t, c, err := open(p)
	if err != nil {
		return err
	}
	release, err := guard(ctx, t, c)
	if err != nil {
		return t.pathErr("lock", err)
	}
	defer release()
	fi, err := c.Stat(t.path)
	if errors.Is(err, iofs.ErrNotExist) || (err == nil && generation(fi) != gen) {
		return &iofs.PathError{Op: "remove", Path: p, Err: ErrChanged}
	}
	if err != nil {
		return t.pathErr("stat", err)
	}
	if err := c.Remove(t.path); err != nil {
		return t.pathErr("remove", err)
	}
	return nil
}
