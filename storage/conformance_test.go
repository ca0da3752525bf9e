package storage_test

import (
	"testing"
	"time"

	"github.com/lightbeam-ml/lightbeam/storage"
	"github.com/lightbeam-ml/lightbeam/storage/gcstest"
	"github.com/lightbeam-ml/lightbeam/storage/hdfstest"
	"github.com/lightbeam-ml/lightbeam/storage/storagetest"
)

// Every store passes the conformance suite: local paths in a temporary
// directory, gs:// on the GCS emulator, hdfs:// on a MiniDFSCluster (the
// last two skip without their service, except under CI=true).
func TestConformance(t *testing.T) {
	t.Run("local", func(t *testing.T) { storagetest.Run(t, t.TempDir()) })
	t.Run("gs", func(t *testing.T) {
		// The emulator answers a composition of a missing object with a
		// 500, which is retried: quickly here.
		old := storage.GCSRetry
		storage.GCSRetry = storage.RetryPolicy{MaxAttempts: 3, Initial: 5 * time.Millisecond, Max: 50 * time.Millisecond}
		t.Cleanup(func() { storage.GCSRetry = old })
		storagetest.Run(t, gcstest.Root(t))
	})
	t.Run("hdfs", func(t *testing.T) { storagetest.Run(t, hdfstest.Root(t)) })
}
