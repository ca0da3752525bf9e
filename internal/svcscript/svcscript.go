// Package svcscript serves the test helpers that run a real service from
// one of the module's scripts (storage/gcstest: scripts/gcs-emulator.sh,
// storage/hdfstest: scripts/hdfs.sh): it finds the script and a free port,
// runs the service with a watchdog that stops it with the test process, and
// makes test names safe in paths.
package svcscript

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
)

// Find returns scripts/NAME of the module that holds the working directory
// (go test runs a test in its package's directory).
func Find(name string) (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			script := filepath.Join(dir, "scripts", name)
			if _, err := os.Stat(script); err != nil {
				return "", fmt.Errorf("module root %s has no scripts/%s: %w", dir, name, err)
			}
			return script, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod above the working directory, so no scripts/%s", name)
		}
		dir = parent
	}
}

// FreePort returns a TCP port of 127.0.0.1 that was free a moment ago.
func FreePort() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	_, port, err := net.SplitHostPort(l.Addr().String())
	return port, err
}
