package llmeval

import (
	"context"
	"encoding/json"
	"image/png"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lightbeam-ml/lightbeam/llm/forward"
	"github.com/lightbeam-ml/lightbeam/llm/llmtest"
	"github.com/lightbeam-ml/lightbeam/pipelines/quantize"
	"github.com/lightbeam-ml/lightbeam/pipelines/quantize/quantizetest"
)

// TestCompare is compress --checkpoint --eval-text: the model directory
// and the GGUF made from it are scored in one job after the quantization,
// into report.json's "evaluation" and the table. The directory scores as
// its F32 GGUF does, and the GGUF as it does alone. (The tiny model's
// distributions are nearly flat: top-1 agreement is low for it.)
func TestCompare(t *testing.T) {
	ctx := context.Background()
	dir, out := llmtest.Dir(t, "qwen3"), t.TempDir()
	ec := Config{Text: []string{llmtest.Text}, Ctx: 64, MaxWindows: 4, Accel: "go"}
	rep, err := quantize.Run(ctx, quantize.Config{Checkpoint: dir, Out: out, Quant: "q4_0", Evaluate: Compare(ec, io.Discard)}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(out, quantize.ReportFile))
	if err != nil {
		t.Fatal(err)
	}
	var written struct {
		Evaluation *Report `json:"evaluation"`
	}
	if err := json.Unmarshal(raw, &written); err != nil || written.Evaluation == nil {
		t.Fatalf("report.json has no evaluation (%v):\n%s", err, raw)
	}
	ev := written.Evaluation
	ec.Plain = true
	ec.Checkpoint = quantizetest.GGUF(t, "qwen3", "f32")
	before := run(t, ec)
	ec.Checkpoint = filepath.Join(out, quantize.GGUFFile)
	after := run(t, ec)
	if ev.RefPerplexity != before.Perplexity || ev.Perplexity != after.Perplexity || ev.Tokens != after.Tokens {
		t.Errorf("evaluation: before %v after %v over %d tokens; alone: the F32 file %v, the GGUF %v over %d", ev.RefPerplexity, ev.Perplexity, ev.Tokens, before.Perplexity, after.Perplexity, after.Tokens)
	}
	if !(ev.KL > 0) || !(ev.Top1 > 0.5) || !(math.Abs(ev.PerplexityRatio-1) < 0.05) {
		t.Errorf("Q4_0 against its source: KL %g, top-1 %g, perplexity ratio %g", ev.KL, ev.Top1, ev.PerplexityRatio)
	}
	table := rep.Table()
	if !strings.Contains(table, "before") || !strings.Contains(table, "after") || !strings.Contains(table, "top-1") {
		t.Errorf("the table has no before and after rows:\n%s", table)
	}
	t.Log(table)

	// An evaluation that fails leaves no report.json: the output is not
	// finished, and the next run makes it again.
	short := filepath.Join(t.TempDir(), "short.txt")
	os.WriteFile(short, []byte("Too short."), 0o644)
	out2 := t.TempDir()
	_, err = quantize.Run(ctx, quantize.Config{Checkpoint: dir, Out: out2, Quant: "q8_0", Evaluate: Compare(Config{Text: []string{short}, Ctx: 64}, io.Discard)}, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "fewer than one window") {
		t.Errorf("a text shorter than a window: %v", err)
	}
	if _, err := os.Stat(filepath.Join(out2, quantize.ReportFile)); !os.IsNotExist(err) {
		t.Errorf("report.json after a failed evaluation: %v", err)
	}
}

// TestSweep is compress --checkpoint --sweep: each preset's GGUF in its
// folder with its evaluation, sweep.json, and the plot.
func TestSweep(t *testing.T) {
	ctx := context.Background()
	dir, out := llmtest.Dir(t, "qwen2"), t.TempDir()
	c := Config{Text: []string{llmtest.Text}, Ctx: 64, MaxWindows: 2, Accel: "go"}
	r, err := Sweep(ctx, quantize.Config{Checkpoint: dir, Out: out, Name: "tiny"}, []string{"q8_0", "q4_0"}, c, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Points) != 2 || !(r.SourceBytes > r.Points[0].Bytes && r.Points[0].Bytes > r.Points[1].Bytes) {
		t.Fatalf("source %d bytes, points %+v: want q8_0 smaller than the source and q4_0 smaller still", r.SourceBytes, r.Points)
	}
	for _, p := range r.Points {
		if h, err := forward.Header(ctx, p.Output); err != nil {
			t.Error(err)
		} else if name := h.File.Lookup("general.name"); name != "tiny" {
			t.Errorf("%s: general.name %v, want the sweep's name", p.Output, name)
		}
		st, err := os.Stat(filepath.Join(out, p.Quant, quantize.GGUFFile))
		if err != nil || st.Size() != p.Bytes || p.Eval.RefPerplexity != r.SourcePerplexity || p.Eval.Tokens != 2*31 {
			t.Errorf("%s: %+v (file: %v)", p.Quant, p, err)
		}
	}
	f, err := os.Open(filepath.Join(out, SweepPNG))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if cfg, err := png.DecodeConfig(f); err != nil || cfg.Width != sweepWidth || cfg.Height != sweepHeight {
		t.Errorf("sweep.png: %+v, %v", cfg, err)
	}
	raw, err := os.ReadFile(filepath.Join(out, SweepJSON))
	var back SweepReport
	if err != nil || json.Unmarshal(raw, &back) != nil || len(back.Points) != 2 {
		t.Errorf("sweep.json: %v\n%s", err, raw)
	}
	if table := r.Table(); strings.Count(table, "\n") != 5 || !strings.Contains(table, "| q4_0 |") {
		t.Errorf("table:\n%s", table)
	}
	// A finished preset is kept unless overwrite is asked.
	if _, err := Sweep(ctx, quantize.Config{Checkpoint: dir, Out: out}, []string{"q8_0"}, c, io.Discard); err == nil || !strings.Contains(err.Error(), "--overwrite") {
		t.Errorf("a second sweep into the same folder: %v", err)
	}
}

// compress --eval-sentences: an encoder's GGUF compared with its source's
// embeddings in one job; ForModel picks the input the model takes, and
// refuses before any work the one it does not.
func TestCompareSentences(t *testing.T) {
	ctx := context.Background()
	dir, out := llmtest.Dir(t, "minilm"), t.TempDir()
	both := Config{Text: []string{llmtest.Text}, Sentences: llmtest.Sentences(t, 8), Accel: "go"}
	ec, err := ForModel(ctx, dir, both)
	if err != nil || len(ec.Text) != 0 || ec.Sentences == "" {
		t.Fatalf("ForModel(encoder): %+v, %v", ec, err)
	}
	rep, err := quantize.Run(ctx, quantize.Config{Checkpoint: dir, Out: out, Quant: "q8_0", Evaluate: Compare(ec, io.Discard)}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	var ev Report
	if err := json.Unmarshal(rep.Evaluation, &ev); err != nil || ev.Sentences != 8 || !(ev.CosineMin > 0.99) || !(ev.CosineMean >= ev.CosineMin) {
		t.Errorf("evaluation %s (%v): want 8 sentences, cosine min above 0.99", rep.Evaluation, err)
	}
	if table := rep.Table(); !strings.Contains(table, "cosine with the source's") {
		t.Errorf("table:\n%s", table)
	}
	for _, tc := range []struct {
		path string
		c    Config
		want string
	}{
		{dir, Config{Text: both.Text}, "--eval-sentences"},
		{llmtest.Dir(t, "qwen2"), Config{Sentences: both.Sentences}, "--eval-text"},
		{quantizetest.GGUF(t, "qwen2", "q8_0"), both, "not a model directory"},
	} {
		if _, err := ForModel(ctx, tc.path, tc.c); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ForModel(%s, %+v): %v, want an error naming %q", tc.path, tc.c, err, tc.want)
		}
	}
}
