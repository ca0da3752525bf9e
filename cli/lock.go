package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/lightbeam-ml/lightbeam/storage"
)

// lockOut takes the output lock of out (OUT/LOCK, storage.AcquireLock) for
// the command name, so that two runs on one --out never write at once:
// the second refuses, naming the output and the run that holds it. A lock
// left by a killed run of this host is taken over (and said so on
// stderr). It returns the function that releases the lock. An empty out
// takes nothing (the command itself says --out is required), nor does a
// store without conditional creation (local paths, gs:// and hdfs:// have
// it; storage.CanLock).
func lockOut(ctx context.Context, name, out string) (func(), error) {
	if out == "" || !storage.CanLock(out) {
		return func() {}, nil
	}
	path := storage.Join(out, storage.LockName)
	l, note, err := storage.AcquireLock(ctx, path, storage.LockOwner(), storage.DefaultLockTTL, time.Now)
	if errors.Is(err, storage.ErrLocked) {
		return nil, fmt.Errorf("%s: --out %s is in use by another run (%w); wait for it to end, or, if no run is going, remove %s", name, out, err, path)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: taking the lock of --out %s: %w", name, out, err)
	}
	if note != "" {
		fmt.Fprintf(os.Stderr, "lightbeam: %s: %s\n", name, note)
	}
	if n, err := storage.RemoveTemporaries(ctx, out); err != nil {
		l.Release(context.WithoutCancel(ctx))
		return nil, fmt.Errorf("%s: removing the temporary files an interrupted run left in %s: %w", name, out, err)
	} else if n > 0 {
		fmt.Fprintf(os.Stderr, "lightbeam: %s: removed %d temporary files an interrupted run left in %s\n", name, n, out)
	}
	return func() {
		if err := l.Release(context.WithoutCancel(ctx)); err != nil {
			fmt.Fprintf(os.Stderr, "lightbeam: %s: releasing %s: %v\n", name, path, err)
		}
	}, nil
}
