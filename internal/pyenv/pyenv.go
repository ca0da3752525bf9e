// Package pyenv finds the Python interpreter that tests use to read
// lightbeam's files with the real Python clients (safetensors, gguf, ...):
// $LIGHTBEAM_PYTHON, else the module's .venv (scripts/python-env.sh makes
// it), else python3.
package pyenv

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Python returns the interpreter's path.
func Python() string {
	if p := os.Getenv("LIGHTBEAM_PYTHON"); p != "" {
		return p
	}
	if dir, err := os.Getwd(); err == nil {
		for ; ; dir = filepath.Dir(dir) {
			if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
				if p := filepath.Join(dir, ".venv", "bin", "python"); isFile(p) {
					return p
				}
				break
			}
			if dir == filepath.Dir(dir) {
				break
			}
		}
	}
	return "python3"
}

func isFile(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}

// Need returns the interpreter after checking that it imports modules. If
// it cannot, the test fails when CI=true and is skipped otherwise, saying
// how to install them.
func Need(t testing.TB, modules ...string) string {
	t.Helper()
	py := Python()
	out, err := exec.Command(py, "-c", "import "+strings.Join(modules, ", ")).CombinedOutput()
	if err == nil {
		return py
	}
	msg := py + " cannot import " + strings.Join(modules, ", ") + " (bash scripts/python-env.sh installs them into .venv): " + err.Error() + ": " + string(out)
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// Output runs the interpreter py with args and returns its standard
// output; a failure fails the test with the script's standard error.
func Output(t testing.TB, py string, args ...string) []byte {
	t.Helper()
	out, err := exec.Command(py, args...).Output()
	if err != nil {
		msg := err.Error()
		if ee, ok := err.(*exec.ExitError); ok {
			msg += ": " + string(ee.Stderr)
		}
		t.Fatalf("%s %s: %s", py, strings.Join(args, " "), msg)
	}
	return out
}
