package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The exit status says what a nightly run did: 3 when there was nothing
// to do, 1 for an error.
func TestNightlyExitCodes(t *testing.T) {
	dir := t.TempDir()
	recipe := filepath.Join(dir, "r.json")
	os.WriteFile(recipe, []byte(`{"quant": "int8"}`), 0o644)
	os.MkdirAll(filepath.Join(dir, "models"), 0o755)
	err := run([]string{"nightly", "--models=" + filepath.Join(dir, "models"), "--out=" + filepath.Join(dir, "out"), "--recipe=" + recipe})
	var ec exitCoder
	if !errors.As(err, &ec) || ec.ExitCode() != exitNothing {
		t.Errorf("no models: %v, want exit %d", err, exitNothing)
	}
	err = run([]string{"nightly", "--models=" + dir, "--out=" + dir, "--recipe=" + recipe, "--gate=min_speed=2"})
	if err == nil || errors.As(err, &ec) || !strings.Contains(err.Error(), "min_speed=2") {
		t.Errorf("a bad gate: %v, want a plain error (exit 1)", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "out", "runs.jsonl")); err != nil {
		t.Errorf("the run with nothing to do logged no line: %v", err)
	}
}
