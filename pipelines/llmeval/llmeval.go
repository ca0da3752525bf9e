// Package llmeval is the evaluation of a language model's GGUF file on
// text, as a Beam job: the text is tokenized with the file's own
// vocabulary (llm/tokenizer, llama.cpp's ids), cut into windows of Ctx
// tokens, and each window is one element that llm/forward scores as
// llama-perplexity scores a chunk; the scores are summed in window order,
// so the job equals the same windows computed in one process (Plain).
// With a reference file (the source model, say) it also measures the KL
// divergence from the reference and how often both pick the same top
// token.
//
// An encoder (BERT, a sentence-transformers model) is evaluated on
// sentences instead (Config.Sentences, one a line): each batch of
// sentences is an element, embedded by the checkpoint and the reference,
// and the report gives the cosine of each sentence's two embeddings (min,
// mean).
package llmeval

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/x/beamx"

	"github.com/lightbeam-ml/lightbeam/accel"
	"github.com/lightbeam-ml/lightbeam/llm/forward"
	"github.com/lightbeam-ml/lightbeam/storage"
)

// DefaultCtx is the window length when Config.Ctx is 0, llama-perplexity's.
const DefaultCtx = 512

// Config is one evaluation.
type Config struct {
	Checkpoint string   // Required. The GGUF file to evaluate (local, gs://, hdfs://).
	Reference  string   // Optional. A GGUF file of the same vocabulary: KL, top-1, perplexity ratio.
	Text       []string // Required for a decoder. Text files, read in order and joined.
	Sentences  string   // Required for an encoder, instead of Text: a file of one sentence a line (blank lines skipped).
	Ctx        int      // Tokens a window; DefaultCtx if 0.
	MaxWindows int      // At most this many windows (the first); all if 0.
	Accel      string   // The math backend: auto, go, blas or cuda.
	Plain      bool     // Score the windows in this process, without Beam.
	Out        string   // Optional. A directory for report.json.
	Runner     string   // The Beam runner's name, for the report.
}

// Report is what an evaluation measured.
type Report struct {
	Checkpoint       string  `json:"checkpoint"`
	Reference        string  `json:"reference,omitempty"`
	Arch             string  `json:"arch"`
	Ctx              int     `json:"ctx,omitempty"`
	Windows          int     `json:"windows,omitempty"`
	Sentences        int     `json:"sentences,omitempty"`
	Tokens           int     `json:"tokens"` // scored: the second half of each window; or the sentences' tokens
	Perplexity       float64 `json:"perplexity,omitempty"`
	PerplexityStderr float64 `json:"perplexity_stderr,omitempty"`
	RefPerplexity    float64 `json:"ref_perplexity,omitempty"`
	PerplexityRatio  float64 `json:"perplexity_ratio,omitempty"`
	KL               float64 `json:"kl,omitempty"`          // mean KL(reference ‖ model), nats
	Top1             float64 `json:"top1,omitempty"`        // share of tokens with the reference's top choice
	CosineMin        float64 `json:"cosine_min,omitempty"`  // of a sentence's embeddings by the checkpoint and the reference
	CosineMean       float64 `json:"cosine_mean,omitempty"` // over the sentences
	TokensPerSecond  float64 `json:"tokens_per_second"`
	Seconds          float64 `json:"seconds"`
	Runner           string  `json:"runner"`
	Accel            string  `json:"accel"`
}

// Window is one pipeline element: window Index of the text's tokens, or
// for an encoder batch Index of the sentences, tokenized.
type Window struct {
	Index     int
	Tokens    []int32
	Sentences [][]int32
}

// WindowScore is a window's score, by window; for a batch of sentences,
// their tokens and the cosine of each one's embeddings by the checkpoint
// and the reference (none without a reference).
type WindowScore struct {
	Index   int
	Score   forward.Score
	Tokens  int
	Cosines []float64
}

// SentencesPerElement is the number of sentences a pipeline element
// embeds.
const SentencesPerElement = 16

// Windows cuts tokens into windows of ctx, the first max of them (all if
// max is 0), as llama-perplexity cuts its chunks; the tail that fills no
// window is left out.
func Windows(tokens []int32, ctx, max int) []Window {
	var ws []Window
	for i := 0; (i+1)*ctx <= len(tokens) && (max == 0 || i < max); i++ {
		ws = append(ws, Window{Index: i, Tokens: tokens[i*ctx : (i+1)*ctx]})
	}
	return ws
}

// Run evaluates c.Checkpoint on c.Text and returns the report (and
// writes it to OUT/report.json when c.Out is set). Progress goes to log.
func Run(ctx context.Context, c Config, log io.Writer) (*Report, error) {
	t0 := time.Now()
	if c.Checkpoint == "" || len(c.Text) == 0 && c.Sentences == "" {
		return nil, fmt.Errorf("llmeval: a checkpoint and a text (or sentences) are required")
	}
	if len(c.Text) > 0 && c.Sentences != "" {
		return nil, fmt.Errorf("llmeval: a text (%v) or sentences (%s), not both", c.Text, c.Sentences)
	}
	// The headers only: the workers load the tensors.
	m, err := forward.Header(ctx, c.Checkpoint)
	if err != nil {
		return nil, err
	}
	enc, err := m.Encoder()
	if err != nil {
		return nil, err
	}
	switch {
	case m.IsEncoder() && c.Sentences == "":
		return nil, fmt.Errorf("llmeval: %s is an embedding model (%s): evaluate it on sentences (--sentences), not on a text", c.Checkpoint, m.Arch)
	case !m.IsEncoder() && c.Sentences != "":
		return nil, fmt.Errorf("llmeval: %s is a decoder (%s): evaluate it on a text (--text); sentences are for embedding models", c.Checkpoint, m.Arch)
	case m.IsEncoder():
		return runSentences(ctx, c, m, enc, log, t0)
	}
	if c.Ctx == 0 {
		c.Ctx = DefaultCtx
	}
	if c.Ctx < 8 {
		return nil, fmt.Errorf("llmeval: --ctx=%d: want at least 8 tokens", c.Ctx)
	}
	var text []byte
	for _, p := range c.Text {
		b, err := storage.ReadFile(ctx, p)
		if err != nil {
			return nil, err
		}
		text = append(text, b...)
	}
	// As llama-perplexity: the whole text at once, BOS first if the
	// vocabulary adds one (each window's first token becomes BOS anyway).
	tokens := enc.Encode(string(text), true, false)
	windows := Windows(tokens, c.Ctx, c.MaxWindows)
	if len(windows) == 0 {
		return nil, fmt.Errorf("llmeval: %v: %d tokens, fewer than one window of %d (--ctx)", c.Text, len(tokens), c.Ctx)
	}
	if c.Reference != "" {
		ref, err := forward.Header(ctx, c.Reference)
		if err != nil {
			return nil, err
		}
		if ref.Vocab != m.Vocab {
			return nil, fmt.Errorf("llmeval: the reference %s has %d tokens, %s %d: not the same vocabulary", c.Reference, ref.Vocab, c.Checkpoint, m.Vocab)
		}
	}
	fmt.Fprintf(log, "llmeval: %s (%s): %d tokens of text, %d windows of %d\n", c.Checkpoint, m.Arch, len(tokens), len(windows), c.Ctx)

	fn := &scoreFn{Checkpoint: c.Checkpoint, Reference: c.Reference, Ctx: c.Ctx, Accel: c.Accel}
	scores, err := score(ctx, c, windows, fn)
	if err != nil {
		return nil, err
	}
	return finish(ctx, c, report(c, m, scores, time.Since(t0)))
}

// score scores the windows with fn, in this process (c.Plain) or as a
// Beam job, and returns their scores, by window.
func score(ctx context.Context, c Config, windows []Window, fn *scoreFn) ([]WindowScore, error) {
	var scores []WindowScore
	if c.Plain {
		for _, w := range windows {
			s, err := fn.ProcessElement(ctx, w)
			if err != nil {
				return nil, err
			}
			scores = append(scores, s)
		}
	} else {
		dir := c.Out
		if dir == "" {
			var err error
			if dir, err = os.MkdirTemp("", "llmeval-"); err != nil {
				return nil, err
			}
			defer os.RemoveAll(dir)
		}
		path := storage.Join(dir, ".scores.json")
		pipe, s := beam.NewPipelineWithRoot()
		Build(s, windows, fn, path)
		if _, err := beamx.RunWithMetrics(ctx, pipe); err != nil {
			return nil, fmt.Errorf("evaluation pipeline failed: %w", err)
		}
		b, err := storage.ReadFile(ctx, path)
		if err != nil {
			return nil, err
		}
		if err := json.Unmarshal(b, &scores); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		storage.Remove(ctx, path)
	}
	if len(scores) != len(windows) {
		return nil, fmt.Errorf("llmeval: %d windows scored, want %d", len(scores), len(windows))
	}
	sort.Slice(scores, func(a, b int) bool { return scores[a].Index < scores[b].Index })
	return scores, nil
}

// finish writes rep to OUT/report.json when c.Out is set.
func finish(ctx context.Context, c Config, rep *Report) (*Report, error) {
	if c.Out != "" {
		b, _ := json.MarshalIndent(rep, "", "  ")
		if err := storage.WriteBytes(ctx, storage.Join(c.Out, "report.json"), append(b, '\n')); err != nil {
			return nil, err
		}
	}
	return rep, nil
}

// Text is the report as a few lines for a terminal.
func (r *Report) Text() string {
	var b strings.Builder
	if r.Sentences > 0 {
		fmt.Fprintf(&b, "%s (%s): %d sentences, %d tokens\n", r.Checkpoint, r.Arch, r.Sentences, r.Tokens)
		if r.Reference != "" {
			fmt.Fprintf(&b, "against %s: embeddings' cosine min %.6f, mean %.6f\n", r.Reference, r.CosineMin, r.CosineMean)
		}
		fmt.Fprintf(&b, "%.1f s, %.0f tokens/s (%s, %s)\n", r.Seconds, r.TokensPerSecond, r.Runner, r.Accel)
		return b.String()
	}
	fmt.Fprintf(&b, "%s (%s): perplexity %.4f ± %.4f over %d tokens (%d windows of %d)\n", r.Checkpoint, r.Arch, r.Perplexity, r.PerplexityStderr, r.Tokens, r.Windows, r.Ctx)
	if r.Reference != "" {
		fmt.Fprintf(&b, "against %s: perplexity %.4f (ratio %.4f), KL %.5f, top-1 %.2f%%\n", r.Reference, r.RefPerplexity, r.PerplexityRatio, r.KL, 100*r.Top1)
	}
	fmt.Fprintf(&b, "%.1f s, %.0f tokens/s (%s, %s)\n", r.Seconds, r.TokensPerSecond, r.Runner, r.Accel)
	return b.String()
}

// Compare returns an evaluation of a quantized output against its source
// for quantize.Config.Evaluate: c (Text or Sentences, Ctx, MaxWindows,
// Accel, Runner)
// run with the output as the checkpoint and the source as the reference,
// in one job; its report as JSON and BeforeAfter's table.
func Compare(c Config, log io.Writer) func(ctx context.Context, source, output string) (json.RawMessage, string, error) {
	return func(ctx context.Context, source, output string) (json.RawMessage, string, error) {
		c.Checkpoint, c.Reference, c.Out = output, source, ""
		rep, err := Run(ctx, c, log)
		if err != nil {
			return nil, "", err
		}
		b, err := json.Marshal(rep)
		return b, rep.BeforeAfter(), err
	}
}

// ForModel returns c with the input the model at path takes, before any
// work is done: Text for a decoder, Sentences for an encoder. c may hold
// both (nightly's models are of either kind); an error if it holds
// neither of the model's.
func ForModel(ctx context.Context, path string, c Config) (Config, error) {
	if dir, err := forward.IsDir(ctx, path); err != nil || !dir {
		if err == nil {
			err = fmt.Errorf("%s is not a model directory (config.json): only a model's GGUF can be evaluated against its source", path)
		}
		return c, err
	}
	m, err := forward.Header(ctx, path)
	if err != nil {
		return c, err
	}
	if m.IsEncoder() {
		if c.Sentences == "" {
			return c, fmt.Errorf("%s is an encoder (%s): it is evaluated on sentences (--eval-sentences), not on text", path, m.Arch)
		}
		c.Text = nil
		return c, nil
	}
	if len(c.Text) == 0 {
		return c, fmt.Errorf("%s is a decoder (%s): it is evaluated on text (--eval-text), not on sentences", path, m.Arch)
	}
	c.Sentences = ""
	return c, nil
}

// BeforeAfter is a report against a reference as a table of two rows: the
// reference (before) and the checkpoint (after); for sentences, the
// embeddings' cosine with the reference's.
func (r *Report) BeforeAfter() string {
	var b strings.Builder
	if r.Sentences > 0 {
		fmt.Fprintf(&b, "\nevaluation: %d sentences, %d tokens (%.1f s, %.0f tokens/s, %s, %s)\n", r.Sentences, r.Tokens, r.Seconds, r.TokensPerSecond, r.Runner, r.Accel)
		fmt.Fprintf(&b, "embeddings' cosine with the source's: min %.6f, mean %.6f\n", r.CosineMin, r.CosineMean)
		return b.String()
	}
	fmt.Fprintf(&b, "\nevaluation: %d windows of %d tokens, %d scored (%.1f s, %.0f tokens/s, %s, %s)\n", r.Windows, r.Ctx, r.Tokens, r.Seconds, r.TokensPerSecond, r.Runner, r.Accel)
	fmt.Fprintf(&b, "%-8s %22s %10s %8s\n", "", "perplexity", "KL", "top-1")
	fmt.Fprintf(&b, "%-8s %22s\n", "before", fmt.Sprintf("%.4f", r.RefPerplexity))
	fmt.Fprintf(&b, "%-8s %22s %10.5f %7.2f%%   (perplexity %+.2f%%)\n", "after", fmt.Sprintf("%.4f ± %.4f", r.Perplexity, r.PerplexityStderr), r.KL, 100*r.Top1, 100*(r.PerplexityRatio-1))
	return b.String()
}

// report sums the windows' scores in window order.
func report(c Config, m *forward.Model, scores []WindowScore, took time.Duration) *Report {
	var s forward.Score
	for _, w := range scores {
		s.Add(w.Score)
	}
	rep := &Report{Checkpoint: c.Checkpoint, Reference: c.Reference, Arch: m.Arch, Ctx: c.Ctx, Windows: len(scores),
		Tokens: s.Tokens, Seconds: took.Seconds(), Runner: c.Runner, Accel: c.Accel}
	if c.Plain {
		rep.Runner = "plain"
	}
	rep.Perplexity, rep.PerplexityStderr = s.Perplexity()
	models := 1
	if s.HasRef {
		models = 2
		rep.RefPerplexity = s.RefPerplexity()
		rep.PerplexityRatio = rep.Perplexity / rep.RefPerplexity
		rep.KL, rep.Top1 = s.MeanKL(), s.Top1Rate()
	}
	rep.TokensPerSecond = float64(models*len(scores)*c.Ctx) / took.Seconds()
	return rep
}

// Build adds the scoring of windows to s: one element a window, scored by
// fn, the scores of all written as one JSON array to path.
func Build(s beam.Scope, windows []Window, fn *scoreFn, path string) {
	s = s.Scope("llmeval.Score")
	// Reshuffle: prism would otherwise run every window in one bundle.
	in := beam.Reshuffle(s, beam.CreateList(s, windows))
	scores := beam.ParDo(s, fn, in)
	beam.ParDo0(s, &writeScoresFn{Path: path}, beam.GroupByKey(s, beam.AddFixedKey(s, scores)))
}

// scoreFn scores a window with the checkpoint (and the reference), or
// with Sentences embeds a batch of sentences. The models are loaded once
// a process and a window is scored at a time, each over every core:
// memory stays one copy of the files.
type scoreFn struct {
	Checkpoint string
	Reference  string
	Ctx        int // tokens a window, or the longest sentence's
	Accel      string
	Sentences  bool
}

var runners struct {
	sync.Mutex
	key      string
	run, ref *forward.Runner
	emb      [2]*forward.Embedder // the checkpoint's and the reference's
}

func (fn *scoreFn) ProcessElement(ctx context.Context, w Window) (WindowScore, error) {
	runners.Lock()
	defer runners.Unlock()
	key := fmt.Sprintf("%s|%s|%d|%s|%v", fn.Checkpoint, fn.Reference, fn.Ctx, fn.Accel, fn.Sentences)
	if runners.key != key {
		runners.run, runners.ref, runners.emb, runners.key = nil, nil, [2]*forward.Embedder{}, ""
		be, err := accel.Open(fn.Accel)
		if err != nil {
			return WindowScore{}, err
		}
		for i, path := range []string{fn.Checkpoint, fn.Reference} {
			if path == "" {
				continue
			}
			m, err := forward.Load(ctx, path)
			if err != nil {
				return WindowScore{}, err
			}
			switch {
			case fn.Sentences:
				runners.emb[i], err = forward.NewEmbedder(m, be, fn.Ctx)
			case i == 0:
				runners.run, err = forward.NewRunner(m, be, fn.Ctx)
			default:
				runners.ref, err = forward.NewRunner(m, be, fn.Ctx)
			}
			if err != nil {
				return WindowScore{}, err
			}
		}
		runners.key = key
	}
	if fn.Sentences {
		return embedSentences(runners.emb[0], runners.emb[1], w)
	}
	s, err := forward.ScoreWindow(runners.run, runners.ref, w.Tokens)
	if err != nil {
		return WindowScore{}, fmt.Errorf("llmeval: window %d: %w", w.Index, err)
	}
	return WindowScore{Index: w.Index, Score: s}, nil
}

// writeScoresFn writes every window's score, by window, as one JSON array.
type writeScoresFn struct{ Path string }

func (fn *writeScoresFn) ProcessElement(ctx context.Context, _ int, scores func(*WindowScore) bool) error {
	return storage.WriteSortedJSON(ctx, fn.Path, scores, func(a, b WindowScore) int { return a.Index - b.Index })
}

func init() {
	register.DoFn2x2[context.Context, Window, WindowScore, error](&scoreFn{})
	register.DoFn3x1[context.Context, int, func(*WindowScore) bool, error](&writeScoresFn{})
	register.Iter1[WindowScore]()
}
