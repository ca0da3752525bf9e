package forward

import (
	"context"
	"math"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/lightbeam-ml/lightbeam/accel"
	"github.com/lightbeam-ml/lightbeam/llm/llmtest"
	"github.com/lightbeam-ml/lightbeam/pipelines/quantize/quantizetest"
)

// TestBertAgainstLlamaCpp embeds lines of a Debian text with
// all-MiniLM-L6-v2, converted by lightbeam to several block types, in
// lightbeam and in llama.cpp (llama-cpp-python's embed()): the tokens are
// the same, and every sentence's embedding is within cosine 0.9999 of
// llama.cpp's (the bound) and within 2e-3 of its norm for F32 and
// F16 files (measured: cosine ≥ 0.9999997). For block-quantized files the
// products' inputs are rounded to 8-bit blocks, a step that float sums in
// another order cross now and then, and MiniLM's outlier features make
// each crossing count: lightbeam's go and blas backends, on the same Q8_0
// file, differ by as much as 1 − 0.99990 (docs/EVALUATION.md). There the
// bounds are that noise floor's: cosine ≥ 0.9995 for every sentence,
// ≥ 0.9998 on average, norms within 2%. LIGHTBEAM_BERT_QUANTS (say "f32
// q6_k q5_k_m") runs other presets; scripts/llm-quality.sh does.
func TestBertAgainstLlamaCpp(t *testing.T) {
	sentences := llmtest.Sentences(t, 30)
	quants := strings.Fields(os.Getenv("LIGHTBEAM_BERT_QUANTS"))
	if len(quants) == 0 {
		quants = []string{"f32", "f16", "q8_0", "q5_k_m", "q4_k_m", "q4_0"} // q5_k_m: Q5_1 and Q5_K
	}
	for _, quant := range quants {
		tc := struct{ min, mean, nrm float64 }{0.9995, 0.9998, 0.02}
		if quant == "f32" || quant == "f16" || quant == "bf16" {
			tc.min, tc.mean, tc.nrm = 0.9999, 0.9999, 2e-3
		}
		t.Run(quant, func(t *testing.T) {
			path := quantizetest.GGUF(t, "minilm", quant)
			want := llmtest.LlamaEmbed(t, path, sentences)
			m, err := Load(context.Background(), path)
			if err != nil {
				t.Fatal(err)
			}
			enc, err := m.Encoder()
			if err != nil {
				t.Fatal(err)
			}
			be, _, err := accel.Select("auto")
			if err != nil {
				t.Fatal(err)
			}
			e, err := NewEmbedder(m, be, 512)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := os.ReadFile(sentences)
			lines := strings.Split(strings.TrimSpace(string(b)), "\n")
			if len(lines) != len(want.Embeddings) {
				t.Fatalf("%d sentences, llama.cpp embedded %d", len(lines), len(want.Embeddings))
			}
			var tokens [][]int32
			for i, s := range lines {
				tokens = append(tokens, enc.Encode(s, true, false))
				if !slices.Equal(tokens[i], want.Tokens[i]) {
					t.Fatalf("sentence %d %q: tokens %v, llama.cpp's %v", i, s, tokens[i], want.Tokens[i])
				}
			}
			// In batches of 8 sentences (llama.cpp embeds each alone).
			var embs [][]float32
			for i := 0; i < len(tokens); i += 8 {
				out, err := e.EmbedBatch(tokens[i:min(i+8, len(tokens))])
				if err != nil {
					t.Fatal(err)
				}
				for _, v := range out {
					embs = append(embs, slices.Clone(v))
				}
			}
			if quant == "f32" {
				for i := range tokens {
					one, err := e.Embed(tokens[i])
					if err != nil {
						t.Fatal(err)
					}
					if c := Cosine(one, embs[i]); !(c > 1-1e-6) {
						t.Errorf("sentence %d alone and in a batch: cosine %.8f", i, c)
					}
				}
			}
			lo, sum, worstNorm := 1.0, 0.0, 0.0
			for i, s := range lines {
				got := embs[i]
				c := Cosine(got, want.Embeddings[i])
				lo, sum = min(lo, c), sum+c
				worstNorm = max(worstNorm, math.Abs(norm(got)/norm(want.Embeddings[i])-1))
				if !(c >= tc.min) {
					t.Errorf("sentence %d %q: cosine %.6f with llama.cpp's embedding, want ≥ %g", i, s, c, tc.min)
				}
			}
			t.Logf("%s: cosine with llama.cpp's embeddings: min %.7f, mean %.7f over %d sentences; norms within %.2g", quant, lo, sum/float64(len(lines)), len(lines), worstNorm)
			if mean := sum / float64(len(lines)); !(mean >= tc.mean) {
				t.Errorf("mean cosine %.6f with llama.cpp's embeddings, want ≥ %g", mean, tc.mean)
			}
			if !(worstNorm < tc.nrm) {
				t.Errorf("an embedding's norm differs from llama.cpp's by %.3g (relative), want < %g", worstNorm, tc.nrm)
			}
		})
	}
}

func norm(x []float32) float64 {
	var s float64
	for _, v := range x {
		s += float64(v) * float64(v)
	}
	return math.Sqrt(s)
}

// TestEncoderDecoderErrors: an encoder is no Runner, a decoder no
// Embedder, and a sentence longer than the embedder's window is an error.
func TestEncoderDecoderErrors(t *testing.T) {
	ctx := context.Background()
	bert, err := Load(ctx, quantizetest.GGUF(t, "minilm", "q8_0"))
	if err != nil {
		t.Fatal(err)
	}
	qwen, err := Load(ctx, quantizetest.GGUF(t, "qwen2", "q8_0"))
	if err != nil {
		t.Fatal(err)
	}
	be, _, err := accel.Select("go")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewRunner(bert, be, 64); err == nil || !strings.Contains(err.Error(), "is an encoder (bert)") {
		t.Errorf("NewRunner of an encoder: %v", err)
	}
	if _, err := NewEmbedder(qwen, be, 64); err == nil || !strings.Contains(err.Error(), "is a decoder (qwen2)") {
		t.Errorf("NewEmbedder of a decoder: %v", err)
	}
	long, err := NewEmbedder(bert, be, bert.CtxTrain+8)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := long.Embed(make([]int32, bert.CtxTrain+1)); err == nil || !strings.Contains(err.Error(), "the model's context is 512") {
		t.Errorf("Embed past the context: %v", err)
	}
	e, err := NewEmbedder(bert, be, 8)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Embed(make([]int32, 9)); err == nil || !strings.Contains(err.Error(), "9 tokens") {
		t.Errorf("Embed of 9 tokens into 8: %v", err)
	}
	if _, err := e.EmbedBatch([][]int32{{101, 102}, {}}); err == nil || !strings.Contains(err.Error(), "no tokens") {
		t.Errorf("EmbedBatch of an empty sentence: %v", err)
	}
	if _, err := e.Embed([]int32{101, 1 << 20, 102}); err == nil || !strings.Contains(err.Error(), "outside the vocabulary") {
		t.Errorf("Embed of a token outside the vocabulary: %v", err)
	}
}
