package svcscript

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
)

// Service is one run of a service script (`bash SCRIPT start|stop`, on
// scripts/lib-process.sh): its run directory (LIGHTBEAM_RUN_DIR: the pid,
// log and endpoint files) and the watchdog that stops it when this process
// exits.
type Service struct {
	Script string
	Last   string // the last line `start` printed: the service's address

	what   string
	env    []string
	runDir string
	mu     sync.Mutex
	pipe   *os.File  // write end of the watchdog's stdin; closing it stops the service
	dog    *exec.Cmd // the watchdog
}

// Start runs `bash scripts/NAME start` with env added to this process's
// and LIGHTBEAM_RUN_DIR a fresh directory, checks that the last line it
// prints starts with prefix, and starts the watchdog: a process that runs
// `stop` and removes the directory once its stdin reaches end of file,
// when Stop closes it or when this process exits (a crash or a timeout
// included) and the kernel does. The watchdog has its own process group,
// so an interrupt of the test run does not kill it before it has stopped
// the service. what names the service in errors.
func Start(name, what, prefix string, env ...string) (*Service, error) {
	script, err := Find(name)
	if err != nil {
		return nil, err
	}
	runDir, err := os.MkdirTemp("", "lightbeam-"+strings.TrimSuffix(name, ".sh")+"-*")
	if err != nil {
		return nil, err
	}
	s := &Service{Script: script, what: what, runDir: runDir,
		env: append(append(os.Environ(), env...), "LIGHTBEAM_RUN_DIR="+runDir)}
	cmd := exec.Command("bash", script, "start")
	cmd.Env = s.env
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		s.stopNow()
		return nil, fmt.Errorf("%s start: %v\n%s", script, err, stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if s.Last = lines[len(lines)-1]; !strings.HasPrefix(s.Last, prefix) {
		s.stopNow()
		return nil, fmt.Errorf("%s start printed %q, want %s... last", script, out, prefix)
	}
	if err := s.startWatchdog(); err != nil {
		s.stopNow()
		return nil, err
	}
	return s, nil
}

func (s *Service) startWatchdog() error {
	r, w, err := os.Pipe()
	if err != nil {
		return err
	}
	defer r.Close()
	dog := exec.Command("bash", "-c", `read -r _; bash "$0" stop 2>/dev/null; rm -rf "$LIGHTBEAM_RUN_DIR"`, s.Script)
	dog.Env = s.env
	dog.Stdin = r // stdout and stderr: /dev/null, so `go test` does not wait for them
	dog.SysProcAttr = detached()
	if err := dog.Start(); err != nil {
		w.Close()
		return fmt.Errorf("starting the watchdog of %s: %w", s.what, err)
	}
	s.pipe, s.dog = w, dog
	return nil
}

// Stop stops the service through its watchdog and waits until it has.
func (s *Service) Stop() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pipe == nil {
		return nil
	}
	s.pipe.Close()
	s.pipe = nil
	if err := s.dog.Wait(); err != nil {
		return fmt.Errorf("stopping %s (%s stop): %w", s.what, s.Script, err)
	}
	return nil
}

func (s *Service) stopNow() {
	cmd := exec.Command("bash", s.Script, "stop")
	cmd.Env = s.env
	cmd.Run()
	os.RemoveAll(s.runDir)
}

// SafeName makes a test name safe in an object name or a path and in the
// globs of storage.List: letters, digits, '.', '_' and '-'; others become
// '_'.
func SafeName(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '_', r == '-':
			return r
		}
		return '_'
	}, s)
}
