package cli

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The exit status says what a nightly run did: 3 when there was nothing
// to do, 1 for an error; Main returns it for main.go to exit with.
func TestNightlyExitCodes(t *testing.T) {
	dir := t.TempDir()
	recipe := filepath.Join(dir, "r.json")
	os.WriteFile(recipe, []byte(`{"quant": "int8"}`), 0o644)
	os.MkdirAll(filepath.Join(dir, "models"), 0o755)
	nothing := []string{"nightly", "--models=" + filepath.Join(dir, "models"), "--out=" + filepath.Join(dir, "out"), "--recipe=" + recipe}
	err := run(nothing)
	var ec exitCoder
	if !errors.As(err, &ec) || ec.ExitCode() != exitNothing {
		t.Errorf("no models: %v, want exit %d", err, exitNothing)
	}
	if code := Main(nothing); code != exitNothing {
		t.Errorf("no models: Main returned %d, want %d", code, exitNothing)
	}
	badGate := []string{"nightly", "--models=" + dir, "--out=" + dir, "--recipe=" + recipe, "--gate=min_speed=2"}
	err = run(badGate)
	if err == nil || errors.As(err, &ec) || !strings.Contains(err.Error(), "min_speed=2") {
		t.Errorf("a bad gate: %v, want a plain error (exit 1)", err)
	}
	if code := Main(badGate); code != 1 {
		t.Errorf("a bad gate: Main returned %d, want 1", code)
	}
	if _, err := os.Stat(filepath.Join(dir, "out", "runs.jsonl")); err != nil {
		t.Errorf("the run with nothing to do logged no line: %v", err)
	}
}
