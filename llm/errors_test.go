package llm

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// copyDir copies a fixture directory so a test can break it.
func copyDir(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

// editJSON changes one key of a JSON file (nil deletes it).
func editJSON(t *testing.T, path, key string, value any) {
	t.Helper()
	var m map[string]any
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	if value == nil {
		delete(m, key)
	} else {
		m[key] = value
	}
	b, _ = json.Marshal(m)
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestBadInput(t *testing.T) {
	ctx := context.Background()
	qwen := fixture(t, "qwen2")
	for _, c := range []struct {
		name   string
		break_ func(dir string)
		opt    Options
		want   []string // all in the error
	}{
		{"unsupported architecture", func(d string) {
			editJSON(t, filepath.Join(d, "config.json"), "architectures", []string{"GPT2LMHeadModel"})
		}, Options{}, []string{"config.json", "GPT2LMHeadModel is not supported", "LlamaForCausalLM", "Qwen3ForCausalLM", "BertModel"}},
		{"no config", func(d string) { os.Remove(filepath.Join(d, "config.json")) }, Options{}, []string{"config.json: missing"}},
		{"no tokenizer.json", func(d string) { os.Remove(filepath.Join(d, "tokenizer.json")) }, Options{}, []string{"tokenizer.json: missing"}},
		{"no weights", func(d string) { os.Remove(filepath.Join(d, "model.safetensors")) }, Options{}, []string{"no model*.safetensors"}},
		{"vocab size smaller than the tokenizer's", func(d string) {
			editJSON(t, filepath.Join(d, "config.json"), "vocab_size", 100)
		}, Options{}, []string{"tokenizer.json has token id", "vocab_size is 100", "vocabulary size mismatch"}},
		{"unknown pre-tokenizer", func(d string) {
			editJSON(t, filepath.Join(d, "tokenizer.json"), "normalizer", map[string]any{"type": "NFKC"})
		}, Options{}, []string{"tokenizer.json", "unknown pre-tokenizer", "--tokenizer-pre=NAME", "normalizer=NFKC"}},
		{"unknown --tokenizer-pre", func(string) {}, Options{TokenizerPre: "qwen7"}, []string{"--tokenizer-pre=qwen7", "not a pre-tokenizer llama.cpp knows", "qwen2"}},
		{"shape against config", func(d string) {
			editJSON(t, filepath.Join(d, "config.json"), "intermediate_size", 100)
		}, Options{}, []string{"model.safetensors", "mlp.gate_proj.weight has shape [96 64]", "config.json gives [100 64]", "intermediate_size"}},
		{"missing layers", func(d string) {
			editJSON(t, filepath.Join(d, "config.json"), "num_hidden_layers", 3)
		}, Options{}, []string{"lacks tensors", "blk.2.attn_q.weight"}},
		{"heads", func(d string) {
			editJSON(t, filepath.Join(d, "config.json"), "num_key_value_heads", 3)
		}, Options{}, []string{"config.json", "not a multiple of num_key_value_heads 3"}},
		{"unknown rope scaling", func(d string) {
			editJSON(t, filepath.Join(d, "config.json"), "rope_scaling", map[string]any{"type": "wavy", "factor": 2.0})
		}, Options{}, []string{"config.json", `rope_scaling type "wavy" is not supported`}},
	} {
		t.Run(c.name, func(t *testing.T) {
			d := copyDir(t, qwen)
			c.break_(d)
			m, err := Open(ctx, d, c.opt)
			if err == nil {
				_, err = m.KV(0)
			}
			if err == nil {
				t.Fatalf("no error")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
	// The override names the pre-tokenizer the recognizer does not know.
	d := copyDir(t, qwen)
	editJSON(t, filepath.Join(d, "tokenizer.json"), "normalizer", map[string]any{"type": "NFKC"})
	m, err := Open(ctx, d, Options{TokenizerPre: "deepseek-r1-qwen", Name: "tiny"})
	if err != nil {
		t.Fatal(err)
	}
	if m.Vocab.Pre != "deepseek-r1-qwen" || m.Name != "tiny" {
		t.Errorf("pre %q name %q", m.Vocab.Pre, m.Name)
	}
}

func TestMissingSentencePiece(t *testing.T) {
	d := copyDir(t, fixture(t, "llama"))
	os.Remove(filepath.Join(d, "tokenizer.model"))
	_, err := Open(context.Background(), d, Options{})
	if err == nil || !strings.Contains(err.Error(), "tokenizer.json: missing") {
		t.Errorf("error %v, want the missing tokenizer named", err)
	}
	d = copyDir(t, fixture(t, "llama"))
	os.WriteFile(filepath.Join(d, "tokenizer.model"), []byte("\x0a\x05hello"), 0o644)
	_, err = Open(context.Background(), d, Options{})
	if err == nil || !strings.Contains(err.Error(), "tokenizer.model: not a SentencePiece model") {
		t.Errorf("error %v, want tokenizer.model refused", err)
	}
	d = copyDir(t, fixture(t, "llama"))
	editJSON(t, filepath.Join(d, "config.json"), "vocab_size", 300)
	_, err = Open(context.Background(), d, Options{})
	if err == nil || !strings.Contains(err.Error(), "400 pieces, but the model's vocab_size is 300") {
		t.Errorf("error %v, want the vocabulary size mismatch", err)
	}
}

func TestPermutation(t *testing.T) {
	// llama.cpp's permute, transcribed: rows reshaped (heads, 2, g/2),
	// axes 1 and 2 swapped.
	permute := func(rows, heads int) []int64 {
		g := rows / heads
		out := make([]int64, 0, rows)
		for h := range heads {
			for i := range g / 2 {
				for j := range 2 {
					out = append(out, int64(h*g+j*g/2+i))
				}
			}
		}
		return out
	}
	for _, c := range []struct{ rows, heads int }{{576, 9}, {192, 3}, {8, 1}, {128, 32}} {
		tt := Tensor{Name: "blk.0.attn_q.weight", Shape: []int64{int64(c.rows), 3}, PermuteHeads: c.heads}
		want := permute(c.rows, c.heads)
		for r := range c.rows {
			if got := tt.SourceRow(int64(r)); got != want[r] {
				t.Fatalf("%v: SourceRow(%d) = %d, want %d", c, r, got, want[r])
			}
		}
		// PermuteRows of the second and third heads' rows.
		g := tt.PermuteGroup()
		if c.heads < 3 {
			continue
		}
		src := make([]float32, 2*g*3)
		for i := range src {
			src[i] = float32(g*3 + int64(i)) // row-major values that name their source row and column
		}
		dst := make([]float32, len(src))
		tt.PermuteRows(dst, src, g, 3)
		for r := range 2 * g {
			s := tt.SourceRow(g+r) - g
			for col := range int64(3) {
				if dst[r*3+col] != src[s*3+col] {
					t.Fatalf("%v: PermuteRows row %d col %d = %v, want %v", c, r, col, dst[r*3+col], src[s*3+col])
				}
			}
		}
	}
	plain := Tensor{Shape: []int64{10, 4}}
	if plain.PermuteGroup() != 1 || plain.SourceRow(7) != 7 {
		t.Error("an unpermuted tensor's rows moved")
	}
}

func TestFileType(t *testing.T) {
	for name, want := range map[string]uint32{"f32": 0, "F16": 1, "q8_0": 7, "q4_0": 2, "q4_k": 15, "Q4_K_M": 15, "q6_k": 18, "q5_0": 8, "bf16": 32} {
		if got, err := FileType(name); err != nil || got != want {
			t.Errorf("FileType(%q) = %d, %v; want %d", name, got, err, want)
		}
	}
	if _, err := FileType("q9_9"); err == nil || !strings.Contains(err.Error(), "Q4_K_M") {
		t.Errorf("FileType(q9_9): %v", err)
	}
}
