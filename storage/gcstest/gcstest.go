// Package gcstest gives tests gs:// paths on a real GCS server: the emulator
// github.com/fsouza/fake-gcs-server, run as a separate process by the
// module's scripts/gcs-emulator.sh (which installs it into the cache the
// first time, ~100 s), or the server STORAGE_EMULATOR_HOST already names.
//
//	func TestX(t *testing.T) {
//		root := gcstest.Root(t) // gs://lightbeam-test/<run>/TestX-1
//		...
//	}
//
// The emulator starts on the first call to Root and stops when the test
// process exits, however it exits (a watchdog process waits for it), or
// earlier at Stop. Without an emulator Root skips the test, except under
// CI=true, where it fails it.
package gcstest

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lightbeam-ml/lightbeam/internal/svcscript"
)

// Bucket is the bucket that Root's prefixes are in.
const Bucket = "lightbeam-test"

var emu struct {
	once sync.Once
	err  error  // why there is no emulator
	run  string // unique to this test process: "run-<nanos>-<pid>"
	n    atomic.Int64
	svc  *svcscript.Service // set when this process started the emulator
}

// Root returns a gs:// prefix in Bucket that no other call, test or test
// process gets, starting the emulator (and setting STORAGE_EMULATOR_HOST)
// on first use. Nothing exists under the prefix yet. Without an emulator
// it skips the test with the reason, or fails it if CI is "true".
func Root(t testing.TB) string {
	t.Helper()
	emu.once.Do(func() { emu.err = setUp() })
	if emu.err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("GCS emulator: %v", emu.err)
		}
		t.Skipf("no GCS emulator (set STORAGE_EMULATOR_HOST, or let scripts/gcs-emulator.sh install one): %v", emu.err)
	}
	return fmt.Sprintf("gs://%s/%s/%s-%d", Bucket, emu.run, svcscript.SafeName(t.Name()), emu.n.Add(1))
}

// Stop stops the emulator if this process started it, and waits until it
// has. Call it at the end of TestMain, after m.Run; Root must not be
// called after it. Without a call, the emulator stops when the process
// exits.
func Stop() {
	if emu.svc == nil {
		return
	}
	if err := emu.svc.Stop(); err != nil {
		fmt.Fprintf(os.Stderr, "gcstest: %v\n", err)
	}
}

func setUp() error {
	emu.run = fmt.Sprintf("run-%d-%d", time.Now().UnixNano(), os.Getpid())
	host := os.Getenv("STORAGE_EMULATOR_HOST")
	if host == "" {
		var err error
		if host, err = start(); err != nil {
			return err
		}
		os.Setenv("STORAGE_EMULATOR_HOST", host)
	}
	return createBucket(host, Bucket)
}

// start runs scripts/gcs-emulator.sh on a free port, with its watchdog
// (svcscript.Start), and returns the emulator's host:port.
func start() (string, error) {
	port, err := svcscript.FreePort()
	if err != nil {
		return "", err
	}
	svc, err := svcscript.Start("gcs-emulator.sh", "the GCS emulator", "STORAGE_EMULATOR_HOST=", "GCS_EMULATOR_PORT="+port)
	if err != nil {
		return "", err
	}
	emu.svc = svc
	return strings.TrimPrefix(svc.Last, "STORAGE_EMULATOR_HOST="), nil
}

// createBucket creates bucket through the emulator's JSON API; one that
// exists already (409) is fine.
func createBucket(host, bucket string) error {
	body := strings.NewReader(fmt.Sprintf(`{"name":%q}`, bucket))
	resp, err := http.Post("http://"+host+"/storage/v1/b", "application/json", body)
	if err != nil {
		return fmt.Errorf("create bucket %s at %s: %w", bucket, host, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusConflict {
		msg, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("create bucket %s at %s: %s: %s", bucket, host, resp.Status, msg)
	}
	return nil
}
