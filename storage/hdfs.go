package storage

// hdfs:// URLs, through package storage/hdfs (the client, its Beam
// filesystem, its globs and its conditional operations): a reader that
// seeks, writes renamed into place, real directories, and conditional
// operations built on exclusive creation (storage/hdfs's cond.go says what
// they guarantee: Capabilities.Preconditions is not among it).

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"

	"github.com/lightbeam-ml/lightbeam/storage/hdfs"
)

func init() { Register("hdfs", hdfsDriver{}) }

type hdfsDriver struct{}

func (hdfsDriver) Capabilities() Capabilities {
	return Capabilities{ConditionalWrites: true, Directories: true}
}

// Stat gives no generation: reads are not pinned.
func (hdfsDriver) Stat(ctx context.Context, p string) (FileInfo, error) {
	n, err := hdfs.FS{}.Size(ctx, p)
	if err != nil {
		return FileInfo{}, wrapErr("stat", p, err)
	}
	return FileInfo{Size: n}, nil
}

func (hdfsDriver) OpenRange(ctx context.Context, p string, _, off, n int64) (io.ReadCloser, error) {
	r, err := hdfs.FS{}.OpenRead(ctx, p)
	if err != nil {
		return nil, wrapErr("open", p, err)
	}
	if _, err := r.(io.Seeker).Seek(off, io.SeekStart); err != nil {
		r.Close()
		return nil, wrapErr("seek in", p, err)
	}
	if n < 0 {
		return r, nil
	}
	return limitedReadCloser{io.LimitReader(r, n), r}, nil
}

// WriteFile writes ".NAME.tmp-RANDOM" beside p and renames it over p.
func (hdfsDriver) WriteFile(ctx context.Context, p string, write func(io.Writer) error) error {
	var fs hdfs.FS
	var r [8]byte
	rand.Read(r[:])
	tmp := Join(Dir(p), "."+Base(p)+".tmp-"+hex.EncodeToString(r[:]))
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
		fs.Remove(ctx, tmp)
		return wrapErr("write", p, err)
	}
	if err := w.Close(); err != nil {
		fs.Remove(ctx, tmp)
		return wrapErr("close", p, err)
	}
	if err := fs.Rename(ctx, tmp, p); err != nil {
		fs.Remove(ctx, tmp)
		return wrapErr("rename into", p, err)
	}
	return nil
}

func (hdfsDriver) CreateExclusive(ctx context.Context, p string, data []byte) error {
	if err := hdfs.CreateExclusive(ctx, p, data); err != nil {
		return wrapErr("create", p, err) // wraps ErrExist when a file is there
	}
	return nil
}

func (hdfsDriver) ReadGeneration(ctx context.Context, p string) ([]byte, int64, error) {
	b, gen, err := hdfs.ReadGeneration(ctx, p)
	if err != nil {
		return nil, 0, wrapErr("read", p, err)
	}
	return b, gen, nil
}

func (hdfsDriver) WriteIfGeneration(ctx context.Context, p string, data []byte, gen int64) error {
	if err := hdfs.WriteIfGeneration(ctx, p, data, gen); err != nil {
		return changed("write", p, err)
	}
	return nil
}

func (hdfsDriver) RemoveIfGeneration(ctx context.Context, p string, gen int64) error {
	if err := hdfs.RemoveIfGeneration(ctx, p, gen); err != nil {
		return changed("remove", p, err)
	}
	return nil
}

// changed maps storage/hdfs's ErrChanged to this package's.
func changed(op, p string, err error) error {
	if errors.Is(err, hdfs.ErrChanged) {
		err = ErrChanged
	}
	return wrapErr(op, p, err)
}

func (hdfsDriver) Concat(ctx context.Context, dst string, srcs []string) error {
	return streamConcat(ctx, dst, srcs)
}

func (d hdfsDriver) AppendLine(ctx context.Context, p string, line []byte) error {
	return appendByRewrite(ctx, d, p, line)
}

func (hdfsDriver) List(ctx context.Context, glob string) ([]string, error) {
	files, err := hdfs.FS{}.List(ctx, glob)
	if err != nil {
		return nil, wrapErr("list", glob, err)
	}
	return files, nil
}

func (hdfsDriver) Remove(ctx context.Context, p string) error {
	if err := (hdfs.FS{}).Remove(ctx, p); err != nil {
		return wrapErr("remove", p, err)
	}
	return nil
}

func (hdfsDriver) MkdirAll(ctx context.Context, p string) error {
	if err := hdfs.MkdirAll(ctx, p); err != nil {
		return wrapErr("mkdir", p, err)
	}
	return nil
}
