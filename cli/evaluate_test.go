package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"

	"github.com/lightbeam-ml/lightbeam/llm/llmtest"
	"github.com/lightbeam-ml/lightbeam/pipelines/quantize/quantizetest"
)

func TestMain(m *testing.M) {
	code := ptest.MainRet(m) // the fixtures' quantization is a Beam job
	llmtest.Cleanup()
	os.Exit(code)
}

// TestEvaluateSentences: evaluate --checkpoint --sentences of MiniLM's
// Q8_0 file against its F32 file writes report.json with the issue's
// keys; --text and --sentences together, or neither, are refused.
func TestEvaluateSentences(t *testing.T) {
	q8, f32 := quantizetest.GGUF(t, "minilm", "q8_0"), quantizetest.GGUF(t, "minilm", "f32")
	sentences := llmtest.Sentences(t, 20)
	out := t.TempDir()
	if err := run([]string{"evaluate", "--checkpoint=" + q8, "--reference=" + f32, "--sentences=" + sentences, "--out=" + out, "--plain", "--json"}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(out, "report.json"))
	if err != nil {
		t.Fatal(err)
	}
	var rep map[string]any
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	if rep["sentences"] != 20.0 || rep["arch"] != "bert" || !(rep["cosine_min"].(float64) > 0.99) || !(rep["cosine_mean"].(float64) >= rep["cosine_min"].(float64)) || !(rep["tokens_per_second"].(float64) > 0) {
		t.Errorf("report.json: %s", b)
	}
	for _, args := range [][]string{
		{"--sentences=" + sentences, "--text=" + llmtest.Text},
		{},
	} {
		err := run(append([]string{"evaluate", "--checkpoint=" + q8, "--plain"}, args...))
		if err == nil || !strings.Contains(err.Error(), "--text (a decoder) or --sentences (an encoder), one of them") {
			t.Errorf("evaluate %v: %v", args, err)
		}
	}
	err = run([]string{"evaluate", "--checkpoint=" + q8, "--text=" + llmtest.Text, "--plain"})
	if err == nil || !strings.Contains(err.Error(), "is an embedding model (bert)") {
		t.Errorf("evaluate --text of an encoder: %v", err)
	}
}

// compress --checkpoint=DIR --eval-text: report.json holds the evaluation
// of the GGUF against the directory; --eval-sentences on a decoder is
// refused before anything is written, and --eval-text without
// --checkpoint too.
func TestCompressEvalText(t *testing.T) {
	dir, out := llmtest.Dir(t, "qwen2"), filepath.Join(t.TempDir(), "out")
	if err := run([]string{"compress", "--checkpoint=" + dir, "--quant=q8_0", "--out=" + out, "--eval-text=" + llmtest.Text,
		"--eval-ctx=64", "--eval-max-windows=2", "--accel=go"}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(out, "report.json"))
	if err != nil {
		t.Fatal(err)
	}
	var rep struct {
		Evaluation map[string]any `json:"evaluation"`
	}
	if err := json.Unmarshal(b, &rep); err != nil || rep.Evaluation["windows"] != 2.0 || rep.Evaluation["ctx"] != 64.0 || rep.Evaluation["reference"] != dir || !(rep.Evaluation["ref_perplexity"].(float64) > 1) {
		t.Errorf("report.json's evaluation: %v (%v)", rep.Evaluation, err)
	}
	out2 := filepath.Join(t.TempDir(), "out")
	err = run([]string{"compress", "--checkpoint=" + dir, "--quant=q8_0", "--out=" + out2, "--eval-sentences=" + llmtest.Sentences(t, 3)})
	if err == nil || !strings.Contains(err.Error(), "--eval-text") {
		t.Errorf("--eval-sentences on a decoder: %v", err)
	}
	if _, err := os.Stat(filepath.Join(out2, "model.gguf")); !os.IsNotExist(err) {
		t.Errorf("a refused evaluation wrote model.gguf: %v", err)
	}
	err = run([]string{"compress", "--model=m", "--out=" + t.TempDir(), "--eval-text=" + llmtest.Text})
	if err == nil || !strings.Contains(err.Error(), "need --checkpoint") {
		t.Errorf("--eval-text with --model: %v", err)
	}
}
