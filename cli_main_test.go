package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// The tests that run the CLI as a process (kill -9, two runs at once, a
// full disk) share one build of it, removed when the tests end.
var cli struct {
	once sync.Once
	dir  string
	path string
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if cli.dir != "" {
		os.RemoveAll(cli.dir)
	}
	os.Exit(code)
}

// cliBinary builds lightbeam once per test binary and returns its path.
func cliBinary(t *testing.T) string {
	t.Helper()
	cli.once.Do(func() {
		cli.dir, cli.err = os.MkdirTemp("", "lightbeam-cli-")
		if cli.err != nil {
			return
		}
		cli.path = filepath.Join(cli.dir, "lightbeam")
		out, err := exec.Command("go", "build", "-o", cli.path, ".").CombinedOutput()
		if err != nil {
			cli.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if cli.err != nil {
		t.Fatal(cli.err)
	}
	return cli.path
}

// lightbeamCmd is the command line `lightbeam args...`, quiet (its output
// is returned by CombinedOutput or kept by the caller).
func lightbeamCmd(t *testing.T, args ...string) *exec.Cmd {
	cmd := exec.Command(cliBinary(t), args...)
	cmd.Env = append(os.Environ(), "LIGHTBEAM_LOG_LEVEL=error")
	return cmd
}

// runCLI runs lightbeam with args and fails the test if it fails.
func runCLI(t *testing.T, args ...string) string {
	t.Helper()
	out, err := lightbeamCmd(t, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("lightbeam %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}
