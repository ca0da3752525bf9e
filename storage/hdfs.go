package storage

// hdfs:// URLs: the Beam filesystem of package storage/hdfs (imported here,
// so every command and pipeline has it) serves Open, OpenRange (its reader
// seeks), Size, List (globs matched per path element, see hdfs's List),
// Remove and WriteFile (a temporary file renamed over the destination, one
// NameNode operation) and so Concat. What HDFS does differently from an
// object store is here: real directories (MkdirAll) and the conditional
// operations, built on exclusive creation (storage/hdfs's cond.go says what
// they guarantee).

import (
	"context"
	"errors"

	"github.com/lightbeam-ml/lightbeam/storage/hdfs"
)

func mkdirHDFS(ctx context.Context, p string) error {
	if err := hdfs.MkdirAll(ctx, p); err != nil {
		return wrapErr("mkdir", p, err)
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

func createExclusiveHDFS(ctx context.Context, p string, data []byte) error {
	if err := hdfs.CreateExclusive(ctx, p, data); err != nil {
		return wrapErr("create", p, err) // wraps ErrExist when a file is there
	}
	return nil
}

func readGenerationHDFS(ctx context.Context, p string) ([]byte, int64, error) {
	b, gen, err := hdfs.ReadGeneration(ctx, p)
	if err != nil {
		return nil, 0, wrapErr("read", p, err)
	}
	return b, gen, nil
}

func writeIfGenerationHDFS(ctx context.Context, p string, data []byte, gen int64) error {
	if err := hdfs.WriteIfGeneration(ctx, p, data, gen); err != nil {
		return changed("write", p, err)
	}
	return nil
}

func removeIfGenerationHDFS(ctx context.Context, p string, gen int64) error {
	if err := hdfs.RemoveIfGeneration(ctx, p, gen); err != nil {
		return changed("remove", p, err)
	}
	return nil
}
