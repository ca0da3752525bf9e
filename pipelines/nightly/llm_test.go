package nightly

import (
	"context"
	"encoding/json"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lightbeam-ml/lightbeam/llm/llmtest"
	"github.com/lightbeam-ml/lightbeam/pipelines/quantize"
)

// A Hugging Face model directory under MODELS becomes a llama.cpp GGUF by
// the recipe's preset, is evaluated against its source on --eval-text, and
// is gated on perplexity, top-1 and KL: a gate it meets moves LATEST, one
// it misses leaves LATEST where it was.
func TestNightlyModelDirectory(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	copyTree(t, llmtest.Dir(t, "qwen3"), filepath.Join(root, "models", "qwen3"))
	out := filepath.Join(root, "out")
	cfg := Config{Models: filepath.Join(root, "models"), Out: out, Recipe: writeRecipe(t, root, "q8.json", `{"quant": "q8_0"}`),
		Gate: "max_ppl_increase=1,min_top1=50,max_kl=0.01", Date: "2026-12-01",
		EvalText: []string{llmtest.Text}, EvalCtx: 64, EvalMaxWindows: 3, Accel: "go"}
	rep, err := Run(ctx, cfg, io.Discard)
	if err != nil || rep.Outcome() != "done" || rep.Done != 1 {
		t.Fatalf("first run: %v, %+v", err, rep)
	}
	mr := rep.Models[0]
	if len(mr.Gate) != 3 || !(mr.PerplexityRatio > 0) || !(mr.KL > 0) || !(mr.Top1 > 0.5) {
		t.Errorf("the run's record: %+v", mr)
	}
	if got := latest(t, out, "qwen3"); got != "2026-12-01/qwen3" {
		t.Errorf("LATEST = %q", got)
	}
	raw, err := os.ReadFile(filepath.Join(out, "2026-12-01", "qwen3", quantize.ReportFile))
	if err != nil {
		t.Fatal(err)
	}
	var qr quantize.Report
	if err := json.Unmarshal(raw, &qr); err != nil || qr.Arch != "qwen3" || len(qr.Evaluation) == 0 {
		t.Errorf("report.json: arch %q, evaluation %s (%v)", qr.Arch, qr.Evaluation, err)
	}

	// Q4_0 with a KL bound it cannot meet: compressed, gated out.
	cfg.Recipe, cfg.Date = writeRecipe(t, root, "q4.json", `{"quant": "q4_0"}`), "2026-12-02"
	cfg.Gate = "max_kl=0.0000001"
	rep, err = Run(ctx, cfg, io.Discard)
	if err != nil || rep.Outcome() != "gate" || !strings.Contains(rep.Models[0].Reason, "max_kl") {
		t.Fatalf("a gate missed: %v, %+v", err, rep)
	}
	if got := latest(t, out, "qwen3"); got != "2026-12-01/qwen3" {
		t.Errorf("LATEST after a failed gate = %q", got)
	}

	// Without --eval-text an evaluation gate has no value: it fails.
	cfg.Recipe, cfg.Date, cfg.EvalText = writeRecipe(t, root, "q6.json", `{"quant": "q6_k"}`), "2026-12-03", nil
	cfg.Gate = "min_top1=10"
	rep, err = Run(ctx, cfg, io.Discard)
	if err != nil || rep.Outcome() != "gate" || !strings.Contains(rep.Models[0].Reason, "--eval-text") {
		t.Errorf("a gate without an evaluation: %v, %+v", err, rep)
	}
}

// An encoder's model directory (all-MiniLM-L6-v2, with its 1_Pooling/) is
// compared with its source on sentences and gated by min_embedding_cosine;
// with text only, it fails, naming the flag it needs.
func TestNightlyEncoder(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	copyTree(t, llmtest.Dir(t, "minilm"), filepath.Join(root, "models", "minilm"))
	out := filepath.Join(root, "out")
	cfg := Config{Models: filepath.Join(root, "models"), Out: out, Recipe: writeRecipe(t, root, "q8.json", `{"quant": "q8_0"}`),
		Gate: "min_embedding_cosine=0.99", Date: "2026-12-01", EvalText: []string{llmtest.Text}, EvalSentences: llmtest.Sentences(t, 8)}
	rep, err := Run(ctx, cfg, io.Discard)
	if err != nil || rep.Outcome() != "done" || len(rep.Models[0].Gate) != 1 || !(rep.Models[0].Gate[0].Value > 0.99) {
		t.Fatalf("q8_0 against min_embedding_cosine=0.99: %v, %+v", err, rep)
	}
	cfg.Recipe, cfg.Date, cfg.EvalSentences = writeRecipe(t, root, "q4.json", `{"quant": "q4_0"}`), "2026-12-02", ""
	rep, err = Run(ctx, cfg, io.Discard)
	if err != nil || rep.Failed != 1 || !strings.Contains(rep.Models[0].Reason, "--eval-sentences") {
		t.Errorf("an encoder with text only: %v, %+v", err, rep)
	}
}

// copyTree copies the files of src and its subfolders to dst.
func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		os.MkdirAll(filepath.Dir(filepath.Join(dst, rel)), 0o755)
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}
