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
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
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
	once   sync.Once
	err    error  // why there is no emulator
	run    string // unique to this test process: "run-<nanos>-<pid>"
	n      atomic.Int64
	script string // set when this process started the emulator
	stopMu sync.Mutex
	stop   *os.File  // write end of the watchdog's stdin; closing it stops the emulator
	dog    *exec.Cmd // the watchdog
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
	return fmt.Sprintf("gs://%s/%s/%s-%d", Bucket, emu.run, objectName(t.Name()), emu.n.Add(1))
}

// Stop stops the emulator if this process started it, and waits until it
// has. Call it at the end of TestMain, after m.Run; Root must not be
// called after it. Without a call, the emulator stops when the process
// exits.
func Stop() {
	emu.stopMu.Lock()
	defer emu.stopMu.Unlock()
	if emu.stop == nil {
		return
	}
	emu.stop.Close()
	emu.stop = nil
	if err := emu.dog.Wait(); err != nil {
		fmt.Fprintf(os.Stderr, "gcstest: stopping the GCS emulator (%s stop): %v\n", emu.script, err)
	}
}

// objectName makes a test name safe in an object name and in the globs of
// storage.List: letters, digits, '.', '_' and '-'.
func objectName(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '_', r == '-':
			return r
		}
		return '_'
	}, s)
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

// start runs scripts/gcs-emulator.sh on a free port, with its pid and log
// files in a fresh directory, starts the watchdog, and returns the
// emulator's host:port.
func start() (string, error) {
	script, err := svcscript.Find("gcs-emulator.sh")
	if err != nil {
		return "", err
	}
	port, err := svcscript.FreePort()
	if err != nil {
		return "", err
	}
	runDir, err := os.MkdirTemp("", "lightbeam-gcs-*")
	if err != nil {
		return "", err
	}
	env := append(os.Environ(), "GCS_EMULATOR_PORT="+port, "LIGHTBEAM_RUN_DIR="+runDir)
	cmd := exec.Command("bash", script, "start")
	cmd.Env = env
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		os.RemoveAll(runDir)
		return "", fmt.Errorf("%s start: %v\n%s", script, err, stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	host, ok := strings.CutPrefix(lines[len(lines)-1], "STORAGE_EMULATOR_HOST=")
	if !ok {
		stopNow(script, env, runDir)
		return "", fmt.Errorf("%s start printed %q, want STORAGE_EMULATOR_HOST=... last", script, out)
	}
	if err := startWatchdog(script, env, runDir); err != nil {
		stopNow(script, env, runDir)
		return "", err
	}
	return host, nil
}

// startWatchdog starts a process that stops the emulator and removes
// runDir once its stdin reaches end of file: when Stop closes the write end,
// or when this process exits (a crash or a timeout included) and the
// kernel closes it. It runs in its own process group, so an interrupt of
// the test run does not kill it before it has stopped the emulator.
func startWatchdog(script string, env []string, runDir string) error {
	r, w, err := os.Pipe()
	if err != nil {
		return err
	}
	defer r.Close()
	dog := exec.Command("bash", "-c", `read -r _; bash "$0" stop 2>/dev/null; rm -rf "$LIGHTBEAM_RUN_DIR"`, script)
	dog.Env = env
	dog.Stdin = r // stdout and stderr: /dev/null, so `go test` does not wait for them
	dog.SysProcAttr = detached()
	if err := dog.Start(); err != nil {
		w.Close()
		return fmt.Errorf("starting the GCS emulator's watchdog: %w", err)
	}
	emu.script, emu.stop, emu.dog = script, w, dog
	return nil
}

func stopNow(script string, env []string, runDir string) {
	cmd := exec.Command("bash", script, "stop")
	cmd.Env = env
	cmd.Run()
	os.RemoveAll(runDir)
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
