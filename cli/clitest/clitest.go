// Package clitest runs the lightbeam binary in tests: it builds it once
// per test process (stripped, as docs/RUNNERS.md says to ship it) from
// the module that holds the test, wherever that module is cloned, and
// runs commands with it.
//
// A package whose tests use it calls Cleanup at the end of its TestMain,
// which removes the build.
package clitest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// Package is the import path of the lightbeam command (main.go).
const Package = "github.com/lightbeam-ml/lightbeam"

var built struct {
	once sync.Once
	dir  string
	path string
	err  error
}

// Binary builds lightbeam once per test process and returns its path. It
// lies in a directory of its own under os.TempDir().
func Binary(t testing.TB) string {
	t.Helper()
	built.once.Do(func() {
		built.dir, built.err = os.MkdirTemp("", "lightbeam-cli-")
		if built.err != nil {
			return
		}
		built.path = filepath.Join(built.dir, "lightbeam")
		// By import path: go resolves it in the module of the working
		// directory (a test's package directory), whatever that is called.
		out, err := exec.Command("go", "build", "-ldflags=-s -w", "-o", built.path, Package).CombinedOutput()
		if err != nil {
			built.err = fmt.Errorf("go build %s: %v\n%s", Package, err, out)
		}
	})
	if built.err != nil {
		t.Fatal(built.err)
	}
	return built.path
}

// Cleanup removes the binary that Binary built, if any. Call it at the
// end of TestMain, after m.Run.
func Cleanup() {
	if built.dir != "" {
		os.RemoveAll(built.dir)
	}
}

// Command is the command line `lightbeam args...`, quiet (Beam's logs at
// error level); its output is returned by CombinedOutput or kept by the
// caller.
func Command(t testing.TB, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(Binary(t), args...)
	cmd.Env = append(os.Environ(), "LIGHTBEAM_LOG_LEVEL=error")
	return cmd
}

// Run runs lightbeam with args, fails the test if it fails, and returns
// its output (stdout and stderr).
func Run(t testing.TB, args ...string) string {
	t.Helper()
	out, err := Command(t, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("lightbeam %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}
