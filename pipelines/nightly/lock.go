package nightly

import (
	"context"
	"fmt"
	"time"

	"github.com/lightbeam-ml/lightbeam/storage"
)

// The nightly lock is the output lock every command takes
// (storage.AcquireLock), at OUT/LOCK; these wrappers name it as nightly's.

// lock is a held lock.
type lock struct{ *storage.Lock }

// ErrLocked is returned (wrapped) when another run holds the lock.
var ErrLocked = storage.ErrLocked

// acquire takes the lock at path for owner until now+ttl (see
// storage.AcquireLock: a lock that expired, or whose owner is a dead
// process of this host, is taken over). It returns a note saying what it
// took over.
func acquire(ctx context.Context, path, owner string, ttl time.Duration, now func() time.Time) (*lock, string, error) {
	l, note, err := storage.AcquireLock(ctx, path, owner, ttl, now)
	if err != nil {
		return nil, "", fmt.Errorf("nightly: %w", err)
	}
	return &lock{l}, note, nil
}

// release removes the lock if it is still ours.
func (l *lock) release(ctx context.Context) error { return l.Release(ctx) }
