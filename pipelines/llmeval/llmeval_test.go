package llmeval

import (
	"context"
	"io"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"

	"github.com/lightbeam-ml/lightbeam/llm/llmtest"
	"github.com/lightbeam-ml/lightbeam/pipelines/quantize/quantizetest"
)

func TestMain(m *testing.M) {
	code := ptest.MainRet(m)
	llmtest.Cleanup()
	os.Exit(code)
}

func run(t *testing.T, c Config) *Report {
	t.Helper()
	if c.Accel == "" {
		c.Accel = "auto"
	}
	rep, err := Run(context.Background(), c, io.Discard)
	if err != nil {
		t.Fatalf("Run(%+v): %v", c, err)
	}
	return rep
}

// The Beam job sums the same window scores as one process does, in the
// same order: the reports are equal but for time and runner.
func TestBeamEqualsPlain(t *testing.T) {
	c := Config{Checkpoint: quantizetest.GGUF(t, "qwen3", "q8_0"), Reference: quantizetest.GGUF(t, "qwen3", "f32"),
		Text: []string{llmtest.Text}, Ctx: 64, MaxWindows: 5}
	beamRep := run(t, c)
	c.Plain = true
	plain := run(t, c)
	for _, r := range []*Report{beamRep, plain} {
		r.Seconds, r.TokensPerSecond, r.Runner = 0, 0, ""
	}
	if !reflect.DeepEqual(beamRep, plain) {
		t.Errorf("Beam %+v\nplain %+v", beamRep, plain)
	}
	if beamRep.Windows != 5 || beamRep.Tokens != 5*31 || !(beamRep.KL > 0) || !(beamRep.Top1 > 0.9) {
		t.Errorf("report %+v: want 5 windows, 155 tokens, KL > 0 and top-1 > 0.9", beamRep)
	}
	t.Logf("%+v", beamRep)
}

// TestSmolLM2 evaluates SmolLM2's Q8_0 file against its F32 file on Beam
// and compares with llama.cpp's perplexity of the same file: lightbeam's
// tokenizer cuts the same windows, and the perplexities agree within 0.5%.
func TestSmolLM2(t *testing.T) {
	q8, f32 := quantizetest.GGUF(t, "smollm2", "q8_0"), quantizetest.GGUF(t, "smollm2", "f32")
	const ctx, windows = 256, 4
	out := t.TempDir()
	// The go backend: see llm/forward's TestAgainstLlamaCpp.
	rep := run(t, Config{Checkpoint: q8, Reference: f32, Text: []string{llmtest.Text}, Ctx: ctx, MaxWindows: windows, Out: out, Accel: "go"})
	want := llmtest.LlamaScore(t, q8, ctx, windows)
	t.Logf("lightbeam %.4f ± %.4f (F32 %.4f, ratio %.5f, KL %.5f, top-1 %.3f, %.0f tokens/s), llama.cpp %.4f",
		rep.Perplexity, rep.PerplexityStderr, rep.RefPerplexity, rep.PerplexityRatio, rep.KL, rep.Top1, rep.TokensPerSecond, want.Perplexity())
	if rep.Tokens != want.Tokens || !(math.Abs(rep.Perplexity/want.Perplexity()-1) <= 0.005) {
		t.Errorf("perplexity %.4f over %d tokens, llama.cpp's %.4f over %d: want within 0.5%%", rep.Perplexity, rep.Tokens, want.Perplexity(), want.Tokens)
	}
	if !(rep.KL < 0.02) || !(rep.Top1 > 0.9) || !(math.Abs(rep.PerplexityRatio-1) < 0.03) {
		t.Errorf("Q8_0 against F32: KL %g, top-1 %g, perplexity ratio %g", rep.KL, rep.Top1, rep.PerplexityRatio)
	}
	if _, err := os.Stat(filepath.Join(out, "report.json")); err != nil {
		t.Error(err)
	}
}

// TestWindowsTokens checks that lightbeam's windows of the text are
// llama.cpp's: the file's vocabulary read back and encoded in Go.
func TestWindowsTokens(t *testing.T) {
	path := quantizetest.GGUF(t, "llama3", "f16")
	want := llmtest.LlamaScore(t, path, 64, 3)
	rep := run(t, Config{Checkpoint: path, Text: []string{llmtest.Text}, Ctx: 64, MaxWindows: 3, Plain: true})
	if rep.Windows != len(want.Windows) || rep.Tokens != want.Tokens {
		t.Fatalf("%d windows, %d tokens; llama.cpp %d, %d", rep.Windows, rep.Tokens, len(want.Windows), want.Tokens)
	}
	if d := math.Abs(rep.Perplexity/want.Perplexity() - 1); !(d < 0.001) {
		t.Errorf("perplexity %.5f, llama.cpp %.5f", rep.Perplexity, want.Perplexity())
	}
}

func TestErrors(t *testing.T) {
	path := quantizetest.GGUF(t, "qwen2", "q8_0")
	short := filepath.Join(t.TempDir(), "short.txt")
	os.WriteFile(short, []byte("A few words."), 0o644)
	for _, tc := range []struct {
		name string
		c    Config
		want string
	}{
		{"short text", Config{Checkpoint: path, Text: []string{short}, Ctx: 64}, "fewer than one window of 64"},
		{"missing text", Config{Checkpoint: path, Text: []string{short + ".no"}, Ctx: 64}, "short.txt.no"},
		{"other vocabulary", Config{Checkpoint: path, Reference: quantizetest.GGUF(t, "llama3", "f16"), Text: []string{llmtest.Text}, Ctx: 64}, "not the same vocabulary"},
		{"not a GGUF", Config{Checkpoint: short, Text: []string{llmtest.Text}}, "short.txt"},
		{"tiny window", Config{Checkpoint: path, Text: []string{llmtest.Text}, Ctx: 4}, "--ctx=4"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Run(context.Background(), tc.c, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

// TestSentencesBeamEqualsPlain embeds 40 lines of a Debian text with
// MiniLM's Q8_0 file and its F32 file as a Beam job (3 elements) and in
// one process: the reports are equal but for time and runner, and the
// cosines are those of a good 8-bit file.
func TestSentencesBeamEqualsPlain(t *testing.T) {
	out := t.TempDir()
	c := Config{Checkpoint: quantizetest.GGUF(t, "minilm", "q8_0"), Reference: quantizetest.GGUF(t, "minilm", "f32"),
		Sentences: llmtest.Sentences(t, 40), Out: out}
	beamRep := run(t, c)
	c.Plain, c.Out = true, ""
	plain := run(t, c)
	t.Logf("%+v", beamRep)
	for _, r := range []*Report{beamRep, plain} {
		r.Seconds, r.TokensPerSecond, r.Runner = 0, 0, ""
	}
	if !reflect.DeepEqual(beamRep, plain) {
		t.Errorf("Beam %+v\nplain %+v", beamRep, plain)
	}
	if beamRep.Sentences != 40 || beamRep.Tokens < 40*3 || !(beamRep.CosineMin > 0.998) || !(beamRep.CosineMean > beamRep.CosineMin) || !(beamRep.CosineMean < 1) {
		t.Errorf("report %+v: want 40 sentences, 0.998 < cosine min < mean < 1", beamRep)
	}
	b, err := os.ReadFile(filepath.Join(out, "report.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{`"sentences": 40`, `"cosine_min"`, `"cosine_mean"`, `"tokens_per_second"`} {
		if !strings.Contains(string(b), key) {
			t.Errorf("report.json has no %s:\n%s", key, b)
		}
	}
	if strings.Contains(string(b), "perplexity") {
		t.Errorf("report.json of sentences has a perplexity:\n%s", b)
	}
}

func TestSentencesErrors(t *testing.T) {
	bert, qwen := quantizetest.GGUF(t, "minilm", "q8_0"), quantizetest.GGUF(t, "qwen2", "q8_0")
	dir := t.TempDir()
	write := func(name, text string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	good := write("good.txt", "A first sentence.\n\n   \nA second one.\n")
	long := write("long.txt", "A first sentence.\n\n"+strings.Repeat("word ", 600)+"\n")
	empty := write("empty.txt", "\n  \n\r\n")
	for _, tc := range []struct {
		name string
		c    Config
		want string
	}{
		{"sentences on a decoder", Config{Checkpoint: qwen, Sentences: good}, "is a decoder (qwen2)"},
		{"text on an encoder", Config{Checkpoint: bert, Text: []string{llmtest.Text}}, "is an embedding model (bert)"},
		{"both", Config{Checkpoint: bert, Text: []string{llmtest.Text}, Sentences: good}, "not both"},
		{"too long", Config{Checkpoint: bert, Sentences: long}, "long.txt line 3: a sentence of 602 tokens, more than the model's context of 512"},
		{"no sentences", Config{Checkpoint: bert, Sentences: empty}, "empty.txt: no sentences"},
		{"missing", Config{Checkpoint: bert, Sentences: good + ".no"}, "good.txt.no"},
		{"decoder reference", Config{Checkpoint: bert, Reference: qwen, Sentences: good}, "is a decoder (qwen2)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := t.TempDir()
			tc.c.Out = out
			_, err := Run(context.Background(), tc.c, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
			if ents, _ := os.ReadDir(out); len(ents) != 0 {
				t.Errorf("%d files written", len(ents))
			}
		})
	}
	// Blank lines are skipped: two sentences.
	rep := run(t, Config{Checkpoint: bert, Sentences: good, Plain: true})
	if rep.Sentences != 2 || rep.CosineMin != 0 {
		t.Errorf("%+v: want 2 sentences, no cosine without a reference", rep)
	}
}
