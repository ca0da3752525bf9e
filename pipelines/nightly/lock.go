package nightly

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

	"github.com/lightbeam-ml/lightbeam/storage"
)

// lockInfo is the lock file's content.
type lockInfo struct {
	Owner    string    `json:"owner"` // host:pid
	Acquired time.Time `json:"acquired"`
	Expires  time.Time `json:"expires"`
}

// lock is a held lock: its path and generation, to release only our own.
type lock struct {
	path string
	gen  int64
}

// ErrLocked is returned (wrapped) when another run holds the lock.
var ErrLocked = errors.New("another nightly run holds the lock")

// acquire takes the lock at path for owner until now+ttl, atomically
// (storage.CreateExclusive). A lock held by someone else is taken over
// when it has expired, or when its owner is a process of this host that no
// longer runs (killed); the takeover removes exactly the stale lock that
// was read (storage.RemoveIfGeneration), so of two runs taking over at
// once one wins. It returns a note saying what it took over.
func acquire(ctx context.Context, path, owner string, ttl time.Duration, now func() time.Time) (*lock, string, error) {
	t := now().UTC()
	info, _ := json.Marshal(lockInfo{Owner: owner, Acquired: t, Expires: t.Add(ttl)})
	note := ""
	for attempt := 0; attempt < 2; attempt++ {
		err := storage.CreateExclusive(ctx, path, info)
		if err == nil {
			_, gen, err := storage.ReadGeneration(ctx, path)
			if err != nil {
				return nil, "", err
			}
			return &lock{path: path, gen: gen}, note, nil
		}
		if !errors.Is(err, storage.ErrExist) {
			return nil, "", err
		}
		raw, gen, err := storage.ReadGeneration(ctx, path)
		if storage.IsNotExist(err) {
			continue // released between our create and our read
		}
		if err != nil {
			return nil, "", err
		}
		var held lockInfo
		if err := json.Unmarshal(raw, &held); err != nil {
			return nil, "", fmt.Errorf("nightly: lock %s is not a lock file (%v); remove it if no run is going", path, err)
		}
		why := ""
		switch {
		case t.After(held.Expires):
			why = fmt.Sprintf("it expired at %s", held.Expires.Format(time.RFC3339))
		case deadHere(held.Owner):
			why = "its process is no longer running"
		default:
			return nil, "", fmt.Errorf("nightly: %s: %w: %s since %s, until %s", path, ErrLocked, held.Owner, held.Acquired.Format(time.RFC3339), held.Expires.Format(time.RFC3339))
		}
		if err := storage.RemoveIfGeneration(ctx, path, gen); err != nil && !errors.Is(err, storage.ErrChanged) {
			return nil, "", err
		}
		note = fmt.Sprintf("took over the lock %s left by %s (%s)", path, held.Owner, why)
	}
	return nil, "", fmt.Errorf("nightly: %s: %w: another run took it over first", path, ErrLocked)
}

// release removes the lock if it is still ours.
func (l *lock) release(ctx context.Context) error {
	if err := storage.RemoveIfGeneration(ctx, l.path, l.gen); err != nil && !errors.Is(err, storage.ErrChanged) {
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
