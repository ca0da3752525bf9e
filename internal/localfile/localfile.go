// Package localfile writes local files atomically: a reader sees the old
// file or the whole new one, never a part. It is the local half of
// storage.WriteFile, kept apart so that packages without Beam (model,
// compress) write their files the same way.
package localfile

import (
	"bufio"
	"io"
	"os"
	"path/filepath"
)

// Write creates path's directory if missing, writes a temporary file
// beside path with write, fsyncs it, renames it over path and fsyncs the
// directory. On any error the temporary file is removed and an existing
// file at path is left as it was. Errors are returned unwrapped: callers
// name the path.
func Write(path string, write func(io.Writer) error) (err error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	bw := bufio.NewWriterSize(f, 1<<16)
	if err := write(bw); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	if err := f.Chmod(0o644); err != nil {
		return err
	}
	return commit(f, tmp, path)
}

// Commit makes the complete file tmp (written by the caller, in path's
// directory) the file at path, durably: it fsyncs tmp, renames it over
// path and fsyncs the directory. Errors are returned unwrapped.
func Commit(tmp, path string) error {
	f, err := os.OpenFile(tmp, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	if err := commit(f, tmp, path); err != nil {
		f.Close()
		return err
	}
	return nil
}

// commit syncs and closes f (the file tmp), then renames it over path.
func commit(f *os.File, tmp, path string) error {
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	// Make the rename durable; some filesystems refuse to sync a directory,
	// and the data itself is already synced, so this is best effort.
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}
