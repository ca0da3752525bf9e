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
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}
