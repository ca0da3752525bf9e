package storage

// gs:// specifics against a real GCS server: fake-gcs-server, run as a
// separate process by gcstest (scripts/gcs-emulator.sh, or the server
// STORAGE_EMULATOR_HOST already names). Without it the tests skip, except
// under CI=true, where a missing emulator fails them. What every store
// does is in the conformance suite (conformance_test.go); the faults are in
// faults_test.go.

import (
	"context"
	"math/rand/v2"
	"os"
	"testing"

	"github.com/lightbeam-ml/lightbeam/storage/gcstest"
	"github.com/lightbeam-ml/lightbeam/storage/hdfstest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	gcstest.Stop()
	hdfstest.Stop()
	os.Exit(code)
}

func randomBytes(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 1))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// A bucket that does not exist is an error, not "absent".
func TestGCSMissingBucket(t *testing.T) {
	gcstest.Root(t) // the emulator
	if ok, err := Exists(context.Background(), "gs://no-such-bucket-lightbeam/x"); err == nil && ok {
		t.Errorf("Exists in a missing bucket = true, nil")
	}
}
