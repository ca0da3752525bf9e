package llmeval

import (
	"context"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/lightbeam-ml/lightbeam/llm/forward"
	"github.com/lightbeam-ml/lightbeam/llm/tokenizer"
	"github.com/lightbeam-ml/lightbeam/storage"
)

// Sentences reads the file at path: one sentence a line (a trailing CR
// dropped), lines blank but for spaces skipped, each encoded as the
// model's embedding API encodes it ([CLS] … [SEP]). A sentence longer
// than the model's context (ctx tokens) is an error naming its line:
// llama.cpp's embed() would cut it silently, and an evaluation of cut
// sentences says less than it seems to.
func Sentences(ctx context.Context, path string, enc *tokenizer.Encoder, maxTokens int) ([][]int32, error) {
	b, err := storage.ReadFile(ctx, path)
	if err != nil {
		return nil, err
	}
	var out [][]int32
	for i, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSuffix(line, "\r")
		if strings.TrimSpace(line) == "" {
			continue
		}
		tokens := enc.Encode(line, true, false)
		if len(tokens) > maxTokens {
			return nil, fmt.Errorf("llmeval: %s line %d: a sentence of %d tokens, more than the model's context of %d", path, i+1, len(tokens), maxTokens)
		}
		out = append(out, tokens)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("llmeval: %s: no sentences (one a line)", path)
	}
	return out, nil
}

// runSentences is Run for an encoder: c.Sentences in batches of
// SentencesPerElement, embedded by the checkpoint and the reference.
func runSentences(ctx context.Context, c Config, m *forward.Model, enc *tokenizer.Encoder, log io.Writer, t0 time.Time) (*Report, error) {
	sentences, err := Sentences(ctx, c.Sentences, enc, m.CtxTrain)
	if err != nil {
		return nil, err
	}
	if c.Reference != "" {
		ref, err := forward.Header(ctx, c.Reference)
		if err != nil {
			return nil, err
		}
		switch {
		case !ref.IsEncoder():
			return nil, fmt.Errorf("llmeval: the reference %s is a decoder (%s), %s an embedding model", c.Reference, ref.Arch, c.Checkpoint)
		case ref.Vocab != m.Vocab:
			return nil, fmt.Errorf("llmeval: the reference %s has %d tokens, %s %d: not the same vocabulary", c.Reference, ref.Vocab, c.Checkpoint, m.Vocab)
		case ref.Embd != m.Embd:
			return nil, fmt.Errorf("llmeval: the reference %s gives embeddings of %d values, %s of %d", c.Reference, ref.Embd, c.Checkpoint, m.Embd)
		}
	}
	var batches []Window
	tokens, largest, n := 0, 0, 0 // largest: a batch's tokens
	for i, s := range sentences {
		if i%SentencesPerElement == 0 {
			batches, n = append(batches, Window{Index: len(batches)}), 0
		}
		b := &batches[len(batches)-1]
		b.Sentences = append(b.Sentences, s)
		n += len(s)
		tokens, largest = tokens+len(s), max(largest, n)
	}
	fmt.Fprintf(log, "llmeval: %s (%s): %d sentences, %d tokens, %d elements\n", c.Checkpoint, m.Arch, len(sentences), tokens, len(batches))
	fn := &scoreFn{Checkpoint: c.Checkpoint, Reference: c.Reference, Ctx: largest, Accel: c.Accel, Sentences: true}
	scores, err := score(ctx, c, batches, fn)
	if err != nil {
		return nil, err
	}
	rep := &Report{Checkpoint: c.Checkpoint, Reference: c.Reference, Arch: m.Arch, Sentences: len(sentences),
		Runner: c.Runner, Accel: c.Accel}
	if c.Plain {
		rep.Runner = "plain"
	}
	var cosines []float64
	for _, s := range scores {
		rep.Tokens += s.Tokens
		cosines = append(cosines, s.Cosines...)
	}
	models := 1
	if c.Reference != "" {
		if len(cosines) != len(sentences) {
			return nil, fmt.Errorf("llmeval: %d cosines for %d sentences", len(cosines), len(sentences))
		}
		models = 2
		rep.CosineMin = math.Inf(1)
		var sum float64
		for _, c := range cosines {
			rep.CosineMin, sum = min(rep.CosineMin, c), sum+c
		}
		rep.CosineMean = sum / float64(len(cosines))
	}
	took := time.Since(t0)
	rep.Seconds = took.Seconds()
	rep.TokensPerSecond = float64(models*rep.Tokens) / took.Seconds()
	return finish(ctx, c, rep)
}

// embedSentences embeds a batch's sentences with e and, if ref is not
// nil, with ref, and gives the cosine of each sentence's two embeddings.
func embedSentences(e, ref *forward.Embedder, w Window) (WindowScore, error) {
	s := WindowScore{Index: w.Index}
	for _, tokens := range w.Sentences {
		s.Tokens += len(tokens)
	}
	got, err := e.EmbedBatch(w.Sentences)
	if err != nil {
		return WindowScore{}, fmt.Errorf("llmeval: sentences %d…: %w", w.Index*SentencesPerElement+1, err)
	}
	if ref == nil {
		return s, nil
	}
	got = slices.Clone(got)
	for i := range got {
		got[i] = slices.Clone(got[i])
	}
	want, err := ref.EmbedBatch(w.Sentences)
	if err != nil {
		return WindowScore{}, fmt.Errorf("llmeval: sentences %d…: %w", w.Index*SentencesPerElement+1, err)
	}
	for i := range got {
		s.Cosines = append(s.Cosines, forward.Cosine(got[i], want[i]))
	}
	return s, nil
}
