package llm

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lightbeam-ml/lightbeam/export/gguf"
	"github.com/lightbeam-ml/lightbeam/internal/pyenv"
	"github.com/lightbeam-ml/lightbeam/model"
)

// writeGGUF writes m as a GGUF the simple way the quantize job will do it
// chunk by chunk: the metadata of Model.KV, each tensor under its llama.cpp
// name, rows permuted where the plan says, F32 where the converter keeps
// F32 and F16 elsewhere (general.file_type 1).
func writeGGUF(t *testing.T, m *Model, path string) {
	t.Helper()
	kv, err := m.KV(1)
	if err != nil {
		t.Fatal(err)
	}
	f := &gguf.File{KV: append(kv, gguf.KV{Key: "general.alignment", Value: uint32(gguf.Alignment)})}
	for _, tt := range m.Tensors {
		typ := gguf.F16
		if tt.F32 {
			typ = gguf.F32
		}
		f.Tensors = append(f.Tensors, gguf.TensorInfo{Name: tt.Name, Shape: tt.Shape, Type: typ})
	}
	size, err := f.Layout()
	if err != nil {
		t.Fatal(err)
	}
	h, err := f.Header()
	if err != nil {
		t.Fatal(err)
	}
	data := make([]byte, size)
	for i, tt := range m.Tensors {
		x := tt.Data
		if x == nil {
			fd, err := os.Open(tt.File)
			if err != nil {
				t.Fatal(err)
			}
			raw := make([]byte, tt.End-tt.Begin)
			if _, err := fd.ReadAt(raw, tt.Begin); err != nil {
				t.Fatal(err)
			}
			fd.Close()
			x = make([]float32, len(raw)/model.DTypeSize(tt.DType))
			model.DecodeFloats(x, raw, tt.DType)
			if tt.PermuteHeads > 0 {
				cols := len(x) / int(tt.Shape[0])
				y := make([]float32, len(x))
				tt.PermuteRows(y, x, 0, cols)
				x = y
			}
		}
		b, err := gguf.Encode(f.Tensors[i].Type, x, 2)
		if err != nil {
			t.Fatalf("%s: %v", tt.Name, err)
		}
		copy(data[f.Tensors[i].Offset:], b)
	}
	if err := os.WriteFile(path, append(h, data...), 0o644); err != nil {
		t.Fatal(err)
	}
}

// llamaScript loads a GGUF in llama.cpp (the xllamacpp package's build)
// and runs a greedy completion, or, for an embedding model, embeds; it
// prints the result, the prompt's token count, the ids the Hugging Face
// tokenizer (tokenizers or sentencepiece, with its special tokens) gives
// for the same text, and the greedy continuation with its top
// log-probabilities after the text prompt (tokenized by llama.cpp) and
// after the Hugging Face ids.
const llamaScript = `
import json, os, sys
import xllamacpp as x
path, d, prompt, embed = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4] == "1"
p = x.CommonParams()
p.model.path = path
p.n_ctx = 256
p.n_parallel = 1
p.cpuparams.n_threads = 2
p.cpuparams_batch.n_threads = 2
p.warmup = False
if embed:
    p.embedding = True
s = x.Server(p)
out = {}
if embed:
    r = s.handle_embeddings({"input": [prompt]})
    out["embedding"] = r["data"][0]["embedding"]
    out["prompt_tokens"] = r["usage"]["prompt_tokens"]
if os.path.exists(os.path.join(d, "tokenizer.json")):
    from tokenizers import Tokenizer
    tok = Tokenizer.from_file(os.path.join(d, "tokenizer.json")); tok.no_truncation(); tok.no_padding()
    out["hf_ids"] = tok.encode(prompt).ids
else:
    from sentencepiece import SentencePieceProcessor
    sp = SentencePieceProcessor(); sp.LoadFromFile(os.path.join(d, "tokenizer.model"))
    out["hf_ids"] = [sp.bos_id()] + sp.EncodeAsIds(prompt)
if not embed:
    def complete(pr, n):
        return s.handle_completions({"prompt": pr, "n_predict": n, "temperature": 0, "top_k": 1, "seed": 1,
                                     "cache_prompt": False, "logprobs": 5})
    # Both greedy, 6 tokens: the top log-probabilities of every token the
    # server emitted (it holds back a token that ends inside a UTF-8
    # character, so these are per emitted piece, the same for both prompts).
    def tops(r):
        lp = r["choices"][0]["logprobs"] or {}
        return [t for c in lp.get("content") or [] for t in c["top_logprobs"]]
    r = complete(prompt, 6)
    out["text"] = r["choices"][0]["text"]
    out["prompt_tokens"] = r["usage"]["prompt_tokens"]
    out["top_text"] = tops(r)
    r2 = complete(out["hf_ids"], 6)
    out["top_ids"] = tops(r2)
    out["text_ids"] = r2["choices"][0]["text"]
print(json.dumps(out))
`

type topLogprob struct {
	ID      int
	Logprob float64
}

type llamaResult struct {
	Text         string
	Embedding    []float64
	PromptTokens int          `json:"prompt_tokens"`
	HFIDs        []int        `json:"hf_ids"`
	TopText      []topLogprob `json:"top_text"`
	TopIDs       []topLogprob `json:"top_ids"`
	TextIDs      string       `json:"text_ids"`
}

// sameNext reports whether two greedy continuations agree: the same top
// tokens at every step, log-probabilities within float noise. Prompts that
// tokenized differently would not give that (the models are random).
func sameNext(a, b []topLogprob) bool {
	if len(a) == 0 || len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].ID != b[i].ID || math.Abs(a[i].Logprob-b[i].Logprob) > 1e-3 {
			return false
		}
	}
	return true
}

func runLlama(t *testing.T, path, dir, prompt string, embed bool) llamaResult {
	t.Helper()
	pyenv.Need(t, "xllamacpp")
	e := "0"
	if embed {
		e = "1"
	}
	out := python(t, llamaScript, path, dir, prompt, e)
	var r llamaResult
	if err := json.Unmarshal([]byte(out[strings.LastIndexByte(strings.TrimSpace(out), '\n')+1:]), &r); err != nil {
		t.Fatalf("%v: %.400s", err, out)
	}
	return r
}

// TestLlamaCppLoads writes each fixture's plan as a GGUF and runs it in
// llama.cpp: the file loads (metadata, tokenizer, tensor names and
// shapes accepted), and llama.cpp's tokenizer, driven by the
// tokenizer.ggml.* keys, splits a text into the Hugging Face tokenizer's
// tokens: as many, and the model continues them as it continues the
// Hugging Face ids, log-probabilities included.
func TestLlamaCppLoads(t *testing.T) {
	// Contractions in both cases, digits, runs of spaces and newlines: where
	// the pre-tokenizers differ (Qwen2's tokenizer read with llama-bpe's
	// rules gives 56 tokens here instead of 55).
	prompt := "Hello world, it's 2026!\n\n  Kaloming   ströthe QUING'S?? 's 123456 ouou"
	for _, kind := range []string{"qwen2", "qwen3", "llama3", "llama", "mistral"} {
		t.Run(kind, func(t *testing.T) {
			dir := fixture(t, kind)
			m, err := Open(context.Background(), dir, Options{})
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(t.TempDir(), kind+".gguf")
			writeGGUF(t, m, path)
			r := runLlama(t, path, dir, prompt, false)
			if r.PromptTokens != len(r.HFIDs) {
				t.Errorf("llama.cpp reads the prompt as %d tokens, the Hugging Face tokenizer as %d (%v)", r.PromptTokens, len(r.HFIDs), r.HFIDs)
			}
			if !sameNext(r.TopText, r.TopIDs) || r.Text != r.TextIDs {
				t.Errorf("next-token log-probabilities after llama.cpp's tokens %v differ from those after the Hugging Face ids %v", r.TopText, r.TopIDs)
			}
			t.Logf("%s: %d prompt tokens, generated %q", kind, r.PromptTokens, r.Text)
		})
	}
}

// TestLlamaCppSmolLM2 runs SmolLM2 from lightbeam's plan of the rebuilt
// directory (F16) and from the converter's own Q4_1 file: both complete the
// prompt with " Paris" (a wrong Q/K permutation or tokenizer would not).
func TestLlamaCppSmolLM2(t *testing.T) {
	dir := fixture(t, "smollm2")
	m, err := Open(context.Background(), dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "smollm2.gguf")
	writeGGUF(t, m, path)
	prompt := "The capital of France is"
	ours := runLlama(t, path, dir, prompt, false)
	ref := runLlama(t, smollm2GGUF(t), dir, prompt, false)
	t.Logf("lightbeam's F16: %q; the converter's Q4_1: %q", ours.Text, ref.Text)
	if !strings.HasPrefix(ours.Text, " Paris") || !strings.HasPrefix(ref.Text, " Paris") {
		t.Errorf("completions %q (lightbeam) and %q (converter), want both to start with \" Paris\"", ours.Text, ref.Text)
	}
	if ours.PromptTokens != ref.PromptTokens || ours.PromptTokens != len(ours.HFIDs) {
		t.Errorf("prompt tokens: %d (lightbeam), %d (converter), %d (tokenizers)", ours.PromptTokens, ref.PromptTokens, len(ours.HFIDs))
	}
}

// bertScript computes all-MiniLM-L6-v2's sentence embedding with numpy
// from the safetensors weights: BERT's encoder, mean pooling over the
// tokens, L2 normalization (modules 1_Pooling and 2_Normalize).
const bertScript = `
import json, math, sys
import numpy as np
from safetensors.numpy import load_file
from tokenizers import Tokenizer
d, text = sys.argv[1], sys.argv[2]
cfg = json.load(open(d + "/config.json"))
w = {k: v.astype(np.float64) for k, v in load_file(d + "/model.safetensors").items()}
tok = Tokenizer.from_file(d + "/tokenizer.json"); tok.no_truncation(); tok.no_padding()
ids = tok.encode(text).ids
eps = cfg["layer_norm_eps"]
def ln(x, p):
    m = x.mean(-1, keepdims=True); v = ((x - m) ** 2).mean(-1, keepdims=True)
    return (x - m) / np.sqrt(v + eps) * w[p + ".weight"] + w[p + ".bias"]
def lin(x, p): return x @ w[p + ".weight"].T + w[p + ".bias"]
erf = np.vectorize(math.erf)
n = len(ids)
x = w["embeddings.word_embeddings.weight"][ids] + w["embeddings.position_embeddings.weight"][:n] + w["embeddings.token_type_embeddings.weight"][0]
x = ln(x, "embeddings.LayerNorm")
H = cfg["num_attention_heads"]; hd = cfg["hidden_size"] // H
for i in range(cfg["num_hidden_layers"]):
    p = f"encoder.layer.{i}."
    q, k, v = (lin(x, p + "attention.self." + s).reshape(n, H, hd).transpose(1, 0, 2) for s in ("query", "key", "value"))
    a = q @ k.transpose(0, 2, 1) / math.sqrt(hd)
    a = np.exp(a - a.max(-1, keepdims=True)); a /= a.sum(-1, keepdims=True)
    c = (a @ v).transpose(1, 0, 2).reshape(n, H * hd)
    x = ln(x + lin(c, p + "attention.output.dense"), p + "attention.output.LayerNorm")
    h = lin(x, p + "intermediate.dense"); h = 0.5 * h * (1 + erf(h / math.sqrt(2)))
    x = ln(x + lin(h, p + "output.dense"), p + "output.LayerNorm")
e = x.mean(0); e /= np.linalg.norm(e)
print(json.dumps({"embedding": e.tolist(), "n": n}))
`

// TestLlamaCppMiniLM embeds a sentence with llama.cpp from lightbeam's
// plan of all-MiniLM-L6-v2 (F16 weights, mean pooling from the
// sentence-transformers config) and compares it with numpy's float64
// forward pass of the original weights.
func TestLlamaCppMiniLM(t *testing.T) {
	dir := fixture(t, "minilm")
	m, err := Open(context.Background(), dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "minilm.gguf")
	writeGGUF(t, m, path)
	text := "A man is playing a guitar on the street."
	got := runLlama(t, path, dir, text, true)
	var want struct {
		Embedding []float64
		N         int
	}
	if err := json.Unmarshal([]byte(python(t, bertScript, dir, text)), &want); err != nil {
		t.Fatal(err)
	}
	if got.PromptTokens != want.N || len(got.Embedding) != len(want.Embedding) {
		t.Fatalf("llama.cpp: %d tokens, %d dimensions; numpy: %d tokens, %d dimensions", got.PromptTokens, len(got.Embedding), want.N, len(want.Embedding))
	}
	var dot, gg, ww float64
	for i := range want.Embedding {
		dot += got.Embedding[i] * want.Embedding[i]
		gg += got.Embedding[i] * got.Embedding[i]
		ww += want.Embedding[i] * want.Embedding[i]
	}
	cos := dot / (math.Sqrt(gg) * math.Sqrt(ww))
	t.Logf("cosine(llama.cpp, numpy) = %.6f over %d tokens", cos, want.N)
	if cos < 0.999 {
		t.Errorf("cosine %v between llama.cpp's embedding and numpy's, want ≥ 0.999", cos)
	}
}
