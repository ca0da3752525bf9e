package storage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// An output lock: one writer per output directory (a command's --out, or
// nightly's OUT). The lock is a small file created atomically with
// CreateExclusive, so of two runs started together exactly one gets it; it
// names its holder and an expiry, so that a lock left by a killed run
// does not block the next one forever.

// LockName is the lock file a command takes in its output directory.
const LockName = "LOCK"

// DefaultLockTTL is how long a command's output lock holds when its owner
// died on another host (on this host a dead owner frees it at once): longer
// than any run we expect.
const DefaultLockTTL = 24 * time.Hour

// ErrLocked is returned (wrapped) by AcquireLock when another run holds
// the lock.
var ErrLocked = errors.New("another run holds the lock")

// LockInfo is the lock file's content.
type LockInfo struct {
	Owner    string    `json:"owner"` // host:pid
	Acquired time.Time `json:"acquired"`
	Expires  time.Time `json:"expires"`
}

// Lock is a held lock: its path and generation, so that Release removes
// only our own.
type Lock struct {
	Path string
	gen  int64
}

// CanLock reports whether the store of p has the exclusive creation a lock
// needs: every store with a driver has it.
func CanLock(p string) bool { _, err := driverFor(p); return err == nil }

// LockOwner names this process in a lock: host:pid.
func LockOwner() string {
	host, _ := os.Hostname()
	return fmt.Sprintf("%s:%d", host, os.Getpid())
}

// AcquireLock takes the lock at path for owner until now+ttl, atomically
// (CreateExclusive). A lock held by someone else is
// taken over when it has expired, or when its owner is a process of this
// host that no longer runs (killed); the takeover removes exactly the
// stale lock that was read (RemoveIfGeneration), so of two runs taking
// over at once one wins. It returns a note saying what it took over, or
// "". A live holder gives an error wrapping ErrLocked that names the lock
// and its holder.
func AcquireLock(ctx context.Context, path, owner string, ttl time.Duration, now func() time.Time) (*Lock, string, error) {
	t := now().UTC()
	info, _ := json.Marshal(LockInfo{Owner: owner, Acquired: t, Expires: t.Add(ttl)})
	note := ""
	for attempt := 0; attempt < 2; attempt++ {
		err := CreateExclusive(ctx, path, info)
		if err == nil {
			_, gen, err := ReadGeneration(ctx, path)
			if err != nil {
				return nil, "", err
			}
			return &Lock{Path: path, gen: gen}, note, nil
		}
		if !errors.Is(err, ErrExist) {
			return nil, "", err
		}
		held, gen, err := readLock(ctx, path)
		if IsNotExist(err) {
			continue // released between our create and our read
		}
		if err != nil {
			return nil, "", err
		}
		why := ""
		switch {
		case t.After(held.Expires):
			why = fmt.Sprintf("it expired at %s", held.Expires.Format(time.RFC3339))
		case deadHere(held.Owner):
			why = "its process is no longer running"
		default:
			return nil, "", fmt.Errorf("%s: %w: %s since %s, until %s", path, ErrLocked, held.Owner, held.Acquired.Format(time.RFC3339), held.Expires.Format(time.RFC3339))
		}
		if err := RemoveIfGeneration(ctx, path, gen); err != nil && !errors.Is(err, ErrChanged) {
			return nil, "", err
		}
		note = fmt.Sprintf("took over the lock %s left by %s (%s)", path, held.Owner, why)
	}
	return nil, "", fmt.Errorf("%s: %w: another run took it over first", path, ErrLocked)
}

// readLock reads the lock at path. A store that shows a file while its
// creator still writes it (hdfs://) can give an empty or partial lock, so
// one that does not parse is read again for a few seconds before it is
// called garbage.
func readLock(ctx context.Context, path string) (LockInfo, int64, error) {
	var held LockInfo
	for wait := 50 * time.Millisecond; ; wait *= 2 {
		raw, gen, err := ReadGeneration(ctx, path)
		if err != nil {
			return held, 0, err
		}
		err = json.Unmarshal(raw, &held)
		if err == nil {
			return held, gen, nil
		}
		if wait > 2*time.Second {
			return held, 0, fmt.Errorf("%s is not a lock file (%v); remove it if no run is going", path, err)
		}
		select {
		case <-ctx.Done():
			return held, 0, ctx.Err()
		case <-time.After(wait):
		}
	}
}

// Release removes the lock if it is still ours: a lock taken over since
// (ours had expired) is left to its new owner.
func (l *Lock) Release(ctx context.Context) error {
	if err := RemoveIfGeneration(ctx, l.Path, l.gen); err != nil && !errors.Is(err, ErrChanged) {
		return err
	}
	return nil
}

// deadHere reports whether owner ("host:pid") is a process of this host
// that no longer runs.
func deadHere(owner string) bool {
	host, pidText, ok := strings.Cut(owner, ":")
	me, _ := os.Hostname()
	pid, err := strconv.Atoi(pidText)
	if !ok || err != nil || host != me || pid <= 0 {
		return false
	}
	err = syscall.Kill(pid, 0)
	return errors.Is(err, syscall.ESRCH)
}

// RemoveTemporaries deletes, under out, the temporary files that a killed
// run's atomic writes and compositions left: files (and gs:// objects)
// whose names start with '.' and hold ".tmp-" (".NAME.tmp-*", the one
// naming of every driver), at any depth. Call it with out's lock held, when
// no run is writing them: a temporary of a write in flight would be
// removed under it. (Exclusive creations and hdfs:// conditional
// operations name their short-lived temporaries otherwise, so a run
// refused the lock, racing for it, keeps them.) It returns how many it
// removed; a missing out holds none.
func RemoveTemporaries(ctx context.Context, out string) (int, error) {
	files, err := List(ctx, Join(out, "**"))
	if err != nil {
		return 0, err
	}
	n := 0
	for _, f := range files {
		if name := Base(f); strings.HasPrefix(name, ".") && strings.Contains(name, ".tmp-") {
			switch err := Remove(ctx, f); {
			case err == nil:
				n++
			case !IsNotExist(err):
				return n, err
			}
		}
	}
	return n, nil
}
