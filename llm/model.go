package llm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/lightbeam-ml/lightbeam/export/gguf"
	"github.com/lightbeam-ml/lightbeam/llm/tokenizer"
	"github.com/lightbeam-ml/lightbeam/storage"
)

// Options are the choices a caller may make. The zero value is the
// converter's defaults.
type Options struct {
	// Name is general.name. Optional; defaults to the directory's base
	// name (the converter's fallback when it has no model card name).
	Name string
	// TokenizerPre overrides tokenizer.ggml.pre (the CLI's
	// --tokenizer-pre=NAME). Optional; by default the pre-tokenizer is
	// recognized from tokenizer.json, and an unknown one is an error.
	TokenizerPre string
}

// Model is a Hugging Face model directory as llama.cpp's converter sees it.
type Model struct {
	Dir    string
	HFArch string // config.json's architectures[0], e.g. "LlamaForCausalLM"
	Arch   string // llama.cpp's architecture: "llama", "qwen2", "qwen3", "bert"
	Name   string // general.name
	Vocab  *tokenizer.Vocab
	// Tensors are what the GGUF holds, in the converter's order: generated
	// tensors first, then each safetensors file's (sorted by name) in its
	// data order.
	Tensors []Tensor
	// Files are the safetensors files the tensors come from.
	Files []string
	// Pooling is {arch}.pooling_type when the directory is a
	// sentence-transformers model (1 mean, 2 cls, 3 last); nil otherwise.
	Pooling *uint32

	spec archSpec
	hp   *hparams
	cfg  *config
}

// Tensor is one tensor of the GGUF and where its values come from.
type Tensor struct {
	Name   string // llama.cpp's name, e.g. "blk.0.attn_q.weight"
	Source string // the Hugging Face name; "" for a generated tensor
	File   string // the safetensors file holding Source
	DType  string // the source's safetensors dtype; "F32" for a generated tensor
	// Shape is row-major, outermost first, as in safetensors (GGUF lists it
	// innermost first).
	Shape []int64
	// Begin and End are the source's absolute byte range in File, and
	// Generation the version of File it was planned from (storage.Stat):
	// read it with storage.OpenRangeAt, which fails if File was replaced.
	Begin, End, Generation int64
	// PermuteHeads > 0: the rows are reordered as llama.cpp's permute does
	// for its rope (Llama and Mistral attn_q and attn_k, weight and bias),
	// with this many heads; SourceRow gives each row's source.
	PermuteHeads int
	// F32: the converter stores this tensor as F32 whatever the output
	// type (norms, biases, 1-D tensors, position and token-type embeddings).
	F32 bool
	// Data holds a generated tensor's values (rope_freqs).
	Data []float32
}

// PermuteGroup is the number of rows the permutation reorders among
// themselves (one head's): a run of whole groups of output rows comes from
// the same run of source rows. It is 1 for a tensor that is not permuted.
func (t *Tensor) PermuteGroup() int64 {
	if t.PermuteHeads <= 0 {
		return 1
	}
	return t.Shape[0] / int64(t.PermuteHeads)
}

// SourceRow returns the source row of output row r. llama.cpp's permute
// reshapes the rows as (heads, 2, g/2) and swaps the last two axes, so
// that each head's rows interleave its two halves:
//
//	out[h·g + 2i + j] = src[h·g + j·g/2 + i],   i < g/2, j ∈ {0, 1}
func (t *Tensor) SourceRow(r int64) int64 {
	g := t.PermuteGroup()
	if g == 1 {
		return r
	}
	h, k := r/g, r%g
	return h*g + (k%2)*(g/2) + k/2
}

// PermuteRows writes into dst the output rows [first, first+n) of the
// tensor from src, which holds the same source rows (first a multiple of
// PermuteGroup, n too), each of cols values.
func (t *Tensor) PermuteRows(dst, src []float32, first int64, cols int) {
	n := int64(len(src) / cols)
	g := t.PermuteGroup()
	if first%g != 0 || n%g != 0 {
		panic(fmt.Sprintf("llm: PermuteRows of rows [%d, %d) of %s: not whole groups of %d rows", first, first+n, t.Name, g))
	}
	for r := range n {
		s := t.SourceRow(first+r) - first
		copy(dst[r*int64(cols):(r+1)*int64(cols)], src[s*int64(cols):(s+1)*int64(cols)])
	}
}

// Open reads the model directory dir (a local path, gs:// or hdfs://): its
// config.json, tokenizer files, sentence-transformers pooling, and its
// safetensors headers. Errors name the file they concern.
func Open(ctx context.Context, dir string, o Options) (*Model, error) {
	dir = strings.TrimSuffix(dir, "/")
	c, err := readConfig(ctx, dir)
	if err != nil {
		return nil, err
	}
	hf, err := c.architecture()
	if err != nil {
		return nil, err
	}
	spec, ok := archs[hf]
	if !ok {
		return nil, fmt.Errorf("llm: %s: architecture %s is not supported; lightbeam converts %s", c.path, hf, supportedList())
	}
	h, err := readHparams(c, spec)
	if err != nil {
		return nil, err
	}
	m := &Model{Dir: dir, HFArch: hf, Arch: spec.name, Name: o.Name, spec: spec, hp: h, cfg: c}
	if m.Name == "" {
		m.Name = storage.Base(dir)
	}
	if spec.pooling {
		if m.Pooling, err = readPooling(ctx, dir); err != nil {
			return nil, err
		}
	}
	if m.Vocab, err = readVocab(ctx, dir, spec, h, o); err != nil {
		return nil, err
	}
	if err := m.planTensors(ctx); err != nil {
		return nil, err
	}
	return m, nil
}

// KV returns the GGUF metadata in the converter's order, with
// general.file_type = fileType (FileType gives it for a type or preset
// name) and general.quantization_version.
func (m *Model) KV(fileType uint32) ([]gguf.KV, error) {
	kv := []gguf.KV{
		{Key: "general.architecture", Value: m.Arch},
		{Key: "general.type", Value: "model"},
		{Key: "general.name", Value: m.Name},
	}
	akv, err := archKV(m.cfg, m.spec, m.hp, fileType, m.Pooling)
	if err != nil {
		return nil, err
	}
	kv = append(kv, akv...)
	kv = append(kv, gguf.KV{Key: "general.quantization_version", Value: uint32(QuantizationVersion)})
	return append(kv, m.Vocab.KV()...), nil
}

// readVocab chooses the converter's vocabulary path for the architecture.
func readVocab(ctx context.Context, dir string, a archSpec, h *hparams, o Options) (*tokenizer.Vocab, error) {
	to := tokenizer.Options{VocabSize: h.vocab, Family: a.family, Pre: o.TokenizerPre}
	if a.bert {
		return tokenizer.ReadWordPiece(ctx, dir, h.typeVocab, to)
	}
	hasModel, err := storage.Exists(ctx, storage.Join(dir, "tokenizer.model"))
	if err != nil {
		return nil, err
	}
	if a.name != "llama" {
		// Qwen2Model.set_vocab: SentencePiece if there is a tokenizer.model,
		// else byte-level BPE.
		if hasModel {
			return tokenizer.ReadSentencePiece(ctx, dir, to)
		}
		return tokenizer.ReadBPE(ctx, dir, to)
	}
	// LlamaModel.set_vocab.
	var tc struct {
		AddPrefixSpace *bool `json:"add_prefix_space"`
	}
	if b, err := readSmall(ctx, storage.Join(dir, "tokenizer_config.json")); err == nil {
		if err := json.Unmarshal(b, &tc); err != nil {
			return nil, fmt.Errorf("llm: %s: %w", storage.Join(dir, "tokenizer_config.json"), err)
		}
	} else if !storage.IsNotExist(err) {
		return nil, err
	}
	var v *tokenizer.Vocab
	if hasModel {
		v, err = tokenizer.ReadSentencePiece(ctx, dir, to)
	} else {
		v, err = tokenizer.ReadBPE(ctx, dir, to)
	}
	if err != nil {
		return nil, err
	}
	v.AddSpacePrefix = tc.AddPrefixSpace
	if h.vocab == 32016 { // CodeLlama's infill tokens
		for i, typ := range []string{"prefix", "suffix", "middle", "eot"} {
			v.SetSpecial(typ, uint32(32007+i))
		}
	}
	if h.vocab == 49152 { // the converter's rule for small Granite models, which SmolLM's vocabulary size meets too
		v.SetAdd("bos", false)
	}
	return v, nil
}

// readPooling is the converter's _try_set_pooling_type: the first
// sentence-transformers module of a *Pooling type names the directory of
// its config.json.
func readPooling(ctx context.Context, dir string) (*uint32, error) {
	p := storage.Join(dir, "modules.json")
	b, err := readSmall(ctx, p)
	if err != nil {
		if storage.IsNotExist(err) {
			return nil, nil
		}
		return nil, err
	}
	var mods []struct {
		Type string `json:"type"`
		Path string `json:"path"`
	}
	if err := json.Unmarshal(b, &mods); err != nil {
		return nil, fmt.Errorf("llm: %s: %w", p, err)
	}
	for _, mod := range mods {
		if !strings.HasSuffix(mod.Type, "Pooling") {
			continue
		}
		pp := storage.Join(dir, mod.Path, "config.json")
		b, err := readSmall(ctx, pp)
		if err != nil {
			if storage.IsNotExist(err) {
				return nil, fmt.Errorf("llm: %s: missing, though %s names a pooling module in %q", pp, p, mod.Path)
			}
			return nil, err
		}
		var pc map[string]any
		if err := json.Unmarshal(b, &pc); err != nil {
			return nil, fmt.Errorf("llm: %s: %w", pp, err)
		}
		var t uint32
		switch {
		case pc["pooling_mode_mean_tokens"] == true:
			t = 1
		case pc["pooling_mode_cls_token"] == true:
			t = 2
		case pc["pooling_mode_lasttoken"] == true:
			t = 3
		case pc["pooling_mode"] == "mean":
			t = 1
		case pc["pooling_mode"] == "cls":
			t = 2
		case pc["pooling_mode"] == "lasttoken":
			t = 3
		default:
			return nil, fmt.Errorf("llm: %s: pooling mode not supported; llama.cpp pools by mean, cls or last token", pp)
		}
		return &t, nil
	}
	return nil, nil
}

// planTensors maps the checkpoint's tensors, checks their shapes and
// completeness, and adds the generated ones.
func (m *Model) planTensors(ctx context.Context) error {
	src, files, err := readCheckpoint(ctx, m.Dir)
	if err != nil {
		return err
	}
	m.Files = files
	a, h := m.spec, m.hp
	if a.generateRope && h.rope != nil && strings.EqualFold(fmt.Sprint(h.rope["rope_type"]), "llama3") {
		data := ropeFreqs(h)
		m.Tensors = append(m.Tensors, Tensor{Name: "rope_freqs.weight", DType: "F32", Shape: []int64{int64(len(data))}, F32: true, Data: data})
	}
	have := map[string]bool{}
	var errs []error
	for _, s := range src {
		gg, _, drop, err := mapName(a, h, s.Name)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", s.file, err))
			continue
		}
		if drop {
			continue
		}
		shape := make([]int64, len(s.Shape))
		for i, d := range s.Shape {
			shape[i] = int64(d)
		}
		if want, why := wantShape(a, h, gg); want != nil && !equalShape(shape, want) {
			errs = append(errs, fmt.Errorf("%s: tensor %s has shape %v, but %s gives %v (%s)", s.file, s.Name, shape, m.cfg.path, want, why))
			continue
		}
		if have[gg] {
			errs = append(errs, fmt.Errorf("%s: tensor %s maps to %s a second time", s.file, s.Name, gg))
			continue
		}
		have[gg] = true
		t := Tensor{Name: gg, Source: s.Name, File: s.file, DType: s.DType, Shape: shape, Begin: s.Begin, End: s.End, Generation: s.gen, F32: keepF32(gg, shape)}
		if a.permute {
			switch {
			case strings.HasSuffix(gg, ".attn_q.weight"), strings.HasSuffix(gg, ".attn_q.bias"):
				t.PermuteHeads = h.heads
			case strings.HasSuffix(gg, ".attn_k.weight"), strings.HasSuffix(gg, ".attn_k.bias"):
				t.PermuteHeads = h.kvHeads
			}
		}
		m.Tensors = append(m.Tensors, t)
	}
	global, perBlock := required(a)
	var missing []string
	for _, g := range global {
		if !have[g] {
			missing = append(missing, g)
		}
	}
	for b := range h.blocks {
		for _, g := range perBlock {
			if n := fmt.Sprintf("blk.%d.%s", b, g); !have[n] {
				missing = append(missing, n)
			}
		}
	}
	if len(missing) > 0 {
		errs = append(errs, fmt.Errorf("llm: %s: the checkpoint lacks tensors a %s model of %d blocks has (llama.cpp names): %v", m.Dir, a.name, h.blocks, head(missing)))
	}
	if len(errs) > 0 {
		if len(errs) > 8 {
			errs = append(errs[:8], fmt.Errorf("... %d errors in all", len(errs)))
		}
		return fmt.Errorf("llm: %s: %w", m.Dir, errors.Join(errs...))
	}
	return nil
}

func equalShape(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
