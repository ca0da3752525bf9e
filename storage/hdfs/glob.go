package hdfs

import (
	"context"

	"github.com/lightbeam-ml/lightbeam/storage/internal/glob"
)

// List returns the files (never directories) that glob matches, sorted, as
// URLs spelled like glob, in the one glob syntax of lightbeam's storage
// (storage/internal/glob, the storage package's documentation): matched
// one path element at a time, as filepath.Match does for local paths and
// Hadoop's globStatus does; an element "**" matches any number of
// directories ("hdfs://nn/data/**/*.csv" is every .csv below /data). Only
// the directories a glob's wildcards need are listed. A missing directory
// matches nothing; a malformed pattern wraps path.ErrBadPattern.
func (FS) List(_ context.Context, pattern string) ([]string, error) {
	t, c, err := open(pattern)
	if err != nil {
		return nil, err
	}
	g, err := glob.Compile(t.path)
	if err != nil {
		return nil, t.pathErr("list", err)
	}
	files, err := g.Walk(c)
	if err != nil {
		return nil, t.pathErr("list", err)
	}
	for i, f := range files {
		files[i] = t.url(f)
	}
	return files, nil
}
