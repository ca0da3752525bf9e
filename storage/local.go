package storage

// Local paths: the operating system's files.

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	iofs "io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/lightbeam-ml/lightbeam/internal/localfile"
	"github.com/lightbeam-ml/lightbeam/storage/internal/glob"
)

func init() { Register("", localDriver{}) }

type localDriver struct{}

func (localDriver) Capabilities() Capabilities {
	return Capabilities{PinnedReads: true, Directories: true}
}

func (localDriver) Stat(_ context.Context, p string) (FileInfo, error) {
	st, err := os.Stat(p)
	if err != nil {
		return FileInfo{}, wrapErr("stat", p, err)
	}
	return FileInfo{Size: st.Size(), Generation: statGeneration(st)}, nil
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

// OpenRange seeks the opened file; with a generation, it checks the
// opened file's.
func (localDriver) OpenRange(_ context.Context, p string, gen, off, n int64) (io.ReadCloser, error) {
	changed := func(now string) error {
		return wrapErr("open", p, fmt.Errorf("%w since it was planned: generation %d %s", ErrChanged, gen, now))
	}
	f, err := os.Open(p)
	if err != nil {
		if gen != 0 && errors.Is(err, os.ErrNotExist) {
			return nil, changed("was removed")
		}
		return nil, wrapErr("open", p, err)
	}
	if gen != 0 {
		st, err := f.Stat()
		if err == nil && statGeneration(st) != gen {
			f.Close()
			return nil, changed(fmt.Sprintf("was replaced (now %d bytes, modified %s)", st.Size(), st.ModTime().UTC().Format("2006-01-02T15:04:05.000Z")))
		}
		if err != nil {
			f.Close()
			return nil, wrapErr("open", p, err)
		}
	}
	if _, err := f.Seek(off, io.SeekStart); err != nil {
		f.Close()
		return nil, wrapErr("seek in", p, err)
	}
	if n < 0 {
		return f, nil
	}
	return limitedReadCloser{io.LimitReader(f, n), f}, nil
}

// limitedReadCloser reads a limited part of what it closes.
type limitedReadCloser struct {
	io.Reader
	io.Closer
}

func (localDriver) WriteFile(_ context.Context, p string, write func(io.Writer) error) error {
	if err := localfile.Write(p, write); err != nil {
		return wrapErr("write", p, err)
	}
	return nil
}

// CreateExclusive links a complete temporary file to p.
func (localDriver) CreateExclusive(_ context.Context, p string, data []byte) error {
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
		if errors.Is(err, iofs.ErrNotExist) {
			// Our temporary is gone: only the process that created p
			// removes them (below), so p exists.
			err = &iofs.PathError{Op: "link", Path: p, Err: iofs.ErrExist}
		}
	}
	if err != nil {
		return wrapErr("create", p, err) // wraps fs.ErrExist when it exists
	}
	// A process killed between its temporary and its link left one
	// behind; p's creator removes them.
	prefix := "." + filepath.Base(p) + ".excl-"
	if entries, err := os.ReadDir(filepath.Dir(p)); err == nil {
		for _, e := range entries {
			if strings.HasPrefix(e.Name(), prefix) && filepath.Join(filepath.Dir(p), e.Name()) != tmp {
				os.Remove(filepath.Join(filepath.Dir(p), e.Name()))
			}
		}
	}
	return nil
}

func (localDriver) ReadGeneration(_ context.Context, p string) ([]byte, int64, error) {
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

func (localDriver) WriteIfGeneration(_ context.Context, p string, _ []byte, _ int64) error {
	return unsupported("write", p, "local files have no conditional write (AppendLine uses O_APPEND)")
}

// RemoveIfGeneration checks the generation just before the removal.
func (localDriver) RemoveIfGeneration(_ context.Context, p string, gen int64) error {
	if _, now, err := localGeneration(p); err != nil || now != gen {
		return wrapErr("remove", p, ErrChanged)
	}
	if err := os.Remove(p); err != nil {
		return wrapErr("remove", p, err)
	}
	return nil
}

func (localDriver) Concat(ctx context.Context, dst string, srcs []string) error {
	return streamConcat(ctx, dst, srcs)
}

// AppendLine writes the line with O_APPEND, in one write, and syncs.
func (localDriver) AppendLine(_ context.Context, p string, line []byte) error {
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return wrapErr("append to", p, err)
	}
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return wrapErr("append to", p, err)
	}
	_, err = f.Write(line)
	if err == nil {
		err = f.Sync()
	}
	if err = errors.Join(err, f.Close()); err != nil {
		return wrapErr("append to", p, err)
	}
	return nil
}

func (localDriver) List(_ context.Context, pattern string) ([]string, error) {
	g, err := glob.Compile(filepath.ToSlash(pattern))
	if err != nil {
		return nil, wrapErr("list", pattern, err)
	}
	files, err := g.Walk(osFS{})
	if err != nil {
		return nil, wrapErr("list", pattern, err)
	}
	for i, f := range files {
		files[i] = filepath.FromSlash(f)
	}
	return files, nil
}

// osFS lists local directories for glob.Walk. A symbolic link is given the
// mode of its target with fs.ModeSymlink added.
type osFS struct{}

func (osFS) Stat(name string) (iofs.FileInfo, error) { return os.Stat(name) }

func (osFS) ReadDir(dir string) ([]iofs.FileInfo, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	infos := make([]iofs.FileInfo, 0, len(entries))
	for _, e := range entries {
		fi, err := e.Info()
		if errors.Is(err, iofs.ErrNotExist) {
			continue // removed since the listing
		}
		if err != nil {
			return nil, err
		}
		if fi.Mode()&iofs.ModeSymlink != 0 {
			if target, err := os.Stat(filepath.Join(dir, e.Name())); err == nil {
				fi = linkInfo{target}
			}
		}
		infos = append(infos, fi)
	}
	return infos, nil
}

// linkInfo is the FileInfo of a symbolic link's target, marked as a link.
type linkInfo struct{ iofs.FileInfo }

func (l linkInfo) Mode() iofs.FileMode { return l.FileInfo.Mode() | iofs.ModeSymlink }

func (localDriver) Remove(_ context.Context, p string) error {
	if err := os.Remove(p); err != nil {
		return wrapErr("remove", p, err)
	}
	return nil
}

func (localDriver) MkdirAll(_ context.Context, p string) error {
	if err := os.MkdirAll(p, 0o755); err != nil {
		return wrapErr("mkdir", p, err)
	}
	return nil
}
