// Package forward runs the forward pass of the decoder language models
// that lightbeam writes as GGUF (llama: Llama, Mistral, SmolLM; qwen2;
// qwen3) and scores text with it: perplexity, and against a reference
// model KL divergence and top-1 agreement, as llama.cpp's
// llama-perplexity does. It also runs BERT encoders (sentence-transformers
// models such as all-MiniLM-L6-v2) to their pooled embedding, as
// llama.cpp's embedding API returns it (bert.go). The matrix products run on an accel.Backend;
// the weights stay in their file's block types in memory and are
// dequantized layer by layer as they are used, so memory is the file's
// size plus one layer's float32 weights and the activations of a window.
//
// It is plain Go, no Beam: pipelines/evaluate runs it per window.
package forward

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"slices"
	"strings"

	"github.com/lightbeam-ml/lightbeam/export/gguf"
	"github.com/lightbeam-ml/lightbeam/llm/tokenizer"
	"github.com/lightbeam-ml/lightbeam/storage"
)

// Hyper are a decoder's hyper-parameters, from the GGUF's keys.
type Hyper struct {
	Arch      string  // general.architecture: llama, qwen2, qwen3 or bert
	Embd      int     // embedding_length
	Layers    int     // block_count
	Heads     int     // attention.head_count
	HeadsKV   int     // attention.head_count_kv
	HeadDim   int     // attention.key_length, else Embd/Heads
	FF        int     // feed_forward_length
	Vocab     int     // rows of token_embd
	RopeBase  float64 // rope.freq_base
	RopeDims  int     // rope.dimension_count, else HeadDim
	RopeNeox  bool    // qwen2, qwen3: rotate (i, i+d/2); llama: (2i, 2i+1)
	Eps       float64 // attention.layer_norm_rms_epsilon (bert: attention.layer_norm_epsilon)
	CtxTrain  int     // context_length: an encoder's position embeddings
	Pooling   int     // pooling_type (encoders): PoolMean or PoolCLS
	BOS       int32   // tokenizer.ggml.bos_token_id, -1 if none
	AddBOS    bool    // tokenizer.ggml.add_bos_token
	FreqScale []float32
}

// Model is a decoder read from a GGUF file: its hyper-parameters and its
// tensors' bytes, as stored.
type Model struct {
	Hyper
	Path    string
	File    *gguf.File // the header: metadata and tensor infos
	tensors map[string]*tensor
}

type tensor struct {
	name  string
	typ   gguf.Type
	shape []int64 // row-major, outermost first
	data  []byte
}

func (t *tensor) elems() int {
	n := 1
	for _, d := range t.shape {
		n *= int(d)
	}
	return n
}

// Supported lists the architectures Load reads.
const Supported = "llama (Llama, Mistral, SmolLM), qwen2, qwen3, bert (BERT, sentence-transformers)"

// Header reads the header of the GGUF file at path (local, gs:// or
// hdfs://): the hyper-parameters, the metadata (for Encoder) and the
// tensors' names, types and shapes, checked; no tensor data. Load reads
// the data too.
//
// A model directory (config.json, safetensors of F32, F16 or BF16) is read
// as the F32 GGUF that lightbeam's converter would write from it.
func Header(ctx context.Context, path string) (*Model, error) {
	if dir, err := IsDir(ctx, path); err != nil || dir {
		if err != nil {
			return nil, err
		}
		m, _, err := dirHeader(ctx, path)
		return m, err
	}
	m, _, _, err := header(ctx, path)
	return m, err
}

// header is Header, and the offset of the data section and the file's size.
func header(ctx context.Context, path string) (*Model, int64, int64, error) {
	size, err := storage.Size(ctx, path)
	if err != nil {
		return nil, 0, 0, err
	}
	r, err := storage.Open(ctx, path)
	if err != nil {
		return nil, 0, 0, err
	}
	defer r.Close()
	f, dataAt, err := gguf.Read(r, size, path)
	if err != nil {
		return nil, 0, 0, err
	}
	m, err := newModel(f, path)
	if err != nil {
		return nil, 0, 0, err
	}
	return m, dataAt, size, nil
}

// newModel is the model of header f, its tensors checked; no data.
func newModel(f *gguf.File, path string) (*Model, error) {
	h, err := hyper(f, path)
	if err != nil {
		return nil, err
	}
	m := &Model{Hyper: h, Path: path, File: f, tensors: map[string]*tensor{}}
	for _, ti := range f.Tensors {
		m.tensors[ti.Name] = &tensor{name: ti.Name, typ: ti.Type, shape: ti.Shape}
	}
	if err := m.check(); err != nil {
		return nil, fmt.Errorf("forward: %s: %w", path, err)
	}
	return m, nil
}

// Load reads the GGUF file at path (local, gs:// or hdfs://): its header,
// then every tensor's bytes.
func Load(ctx context.Context, path string) (*Model, error) {
	if dir, err := IsDir(ctx, path); err != nil || dir {
		if err != nil {
			return nil, err
		}
		return loadDir(ctx, path)
	}
	m, dataAt, size, err := header(ctx, path)
	if err != nil {
		return nil, err
	}
	// Read the tensors in file order, one pass over the data section.
	ts := slices.Clone(m.File.Tensors)
	slices.SortFunc(ts, func(a, b gguf.TensorInfo) int { return int(a.Offset - b.Offset) })
	r, err := storage.OpenRange(ctx, path, dataAt, size-dataAt)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	var at int64
	for _, ti := range ts {
		n, err := ti.Bytes()
		if err != nil {
			return nil, fmt.Errorf("forward: %s: %s: %w", path, ti.Name, err)
		}
		if _, err := io.CopyN(io.Discard, r, ti.Offset-at); err != nil {
			return nil, fmt.Errorf("forward: %s: %w", path, err)
		}
		b := make([]byte, n)
		if _, err := io.ReadFull(r, b); err != nil {
			return nil, fmt.Errorf("forward: %s: reading %s: %w", path, ti.Name, err)
		}
		at = ti.Offset + n
		m.tensors[ti.Name].data = b
	}
	return m, m.finish()
}

// finish reads what the forward pass needs from the loaded tensors.
func (m *Model) finish() error {
	if t := m.tensors["rope_freqs.weight"]; t != nil {
		m.FreqScale = make([]float32, t.elems())
		if err := gguf.Decode(t.typ, m.FreqScale, t.data, 1); err != nil {
			return fmt.Errorf("forward: %s: rope_freqs: %w", m.Path, err)
		}
	}
	return nil
}

// hyper reads the hyper-parameters of f's architecture.
func hyper(f *gguf.File, path string) (Hyper, error) {
	arch, _ := f.Lookup("general.architecture").(string)
	h := Hyper{Arch: arch, BOS: -1}
	switch arch {
	case "llama":
	case "qwen2", "qwen3":
		h.RopeNeox = true
	case "bert":
	default:
		return h, fmt.Errorf("forward: %s: architecture %q: lightbeam evaluates %s", path, arch, Supported)
	}
	var missing []string
	num := func(key string, required bool) float64 {
		switch v := f.Lookup(arch + "." + key).(type) {
		case uint32:
			return float64(v)
		case int32:
			return float64(v)
		case uint64:
			return float64(v)
		case float32:
			return float64(v)
		case float64:
			return v
		}
		if required {
			missing = append(missing, arch+"."+key)
		}
		return 0
	}
	h.Embd = int(num("embedding_length", true))
	h.Layers = int(num("block_count", true))
	h.Heads = int(num("attention.head_count", true))
	h.HeadsKV = int(num("attention.head_count_kv", false))
	h.HeadDim = int(num("attention.key_length", false))
	h.FF = int(num("feed_forward_length", true))
	h.RopeBase = num("rope.freq_base", false)
	h.RopeDims = int(num("rope.dimension_count", false))
	if arch == "bert" {
		h.Eps = num("attention.layer_norm_epsilon", true)
		h.Pooling = int(num("pooling_type", true))
	} else {
		h.Eps = num("attention.layer_norm_rms_epsilon", true)
	}
	h.CtxTrain = int(num("context_length", false))
	if len(missing) > 0 {
		return h, fmt.Errorf("forward: %s: no %s", path, strings.Join(missing, ", "))
	}
	if h.HeadsKV == 0 {
		h.HeadsKV = h.Heads
	}
	if h.HeadDim == 0 {
		h.HeadDim = h.Embd / h.Heads
	}
	if h.RopeDims == 0 {
		h.RopeDims = h.HeadDim
	}
	if h.RopeBase == 0 {
		h.RopeBase = 10000
	}
	if arch == "bert" && h.Pooling != PoolMean && h.Pooling != PoolCLS {
		return h, fmt.Errorf("forward: %s: bert.pooling_type %d: lightbeam pools mean (%d) or cls (%d)", path, h.Pooling, PoolMean, PoolCLS)
	}
	if h.Heads%h.HeadsKV != 0 {
		return h, fmt.Errorf("forward: %s: %d heads are not a multiple of %d KV heads", path, h.Heads, h.HeadsKV)
	}
	if v, ok := f.Lookup("tokenizer.ggml.bos_token_id").(uint32); ok {
		h.BOS = int32(v)
	}
	h.AddBOS, _ = f.Lookup("tokenizer.ggml.add_bos_token").(bool)
	return h, nil
}

// check makes sure every tensor the forward pass reads is there with the
// shape the hyper-parameters give.
func (m *Model) check() error {
	if m.IsEncoder() {
		return m.checkBert()
	}
	emb := m.tensors["token_embd.weight"]
	if emb == nil || len(emb.shape) != 2 || int(emb.shape[1]) != m.Embd {
		return fmt.Errorf("no token_embd.weight of %d columns", m.Embd)
	}
	m.Vocab = int(emb.shape[0])
	q, kv := m.Heads*m.HeadDim, m.HeadsKV*m.HeadDim
	want := map[string][]int64{"output_norm.weight": {int64(m.Embd)}}
	for l := range m.Layers {
		p := fmt.Sprintf("blk.%d.", l)
		want[p+"attn_norm.weight"] = []int64{int64(m.Embd)}
		want[p+"attn_q.weight"] = []int64{int64(q), int64(m.Embd)}
		want[p+"attn_k.weight"] = []int64{int64(kv), int64(m.Embd)}
		want[p+"attn_v.weight"] = []int64{int64(kv), int64(m.Embd)}
		want[p+"attn_output.weight"] = []int64{int64(m.Embd), int64(q)}
		want[p+"ffn_norm.weight"] = []int64{int64(m.Embd)}
		want[p+"ffn_gate.weight"] = []int64{int64(m.FF), int64(m.Embd)}
		want[p+"ffn_up.weight"] = []int64{int64(m.FF), int64(m.Embd)}
		want[p+"ffn_down.weight"] = []int64{int64(m.Embd), int64(m.FF)}
		if m.Arch == "qwen3" {
			want[p+"attn_q_norm.weight"] = []int64{int64(m.HeadDim)}
			want[p+"attn_k_norm.weight"] = []int64{int64(m.HeadDim)}
		}
	}
	if err := m.checkShapes(want); err != nil {
		return err
	}
	if out := m.tensors["output.weight"]; out != nil && !slices.Equal(out.shape, emb.shape) {
		return fmt.Errorf("output.weight has shape %v, want %v", out.shape, emb.shape)
	}
	return nil
}

// decode writes tensor name's float32 values to dst (of its size) and
// returns it; it returns nil if the model has no such tensor.
func (m *Model) decode(name string, dst []float32) ([]float32, error) {
	t := m.tensors[name]
	if t == nil {
		return nil, nil
	}
	if len(dst) != t.elems() {
		panic(fmt.Sprintf("forward: %s: %d values into %d", name, t.elems(), len(dst)))
	}
	if err := gguf.Decode(t.typ, dst, t.data, runtime.GOMAXPROCS(0)); err != nil {
		return nil, fmt.Errorf("forward: %s: %s: %w", m.Path, name, err)
	}
	return dst, nil
}

// Encoder returns the tokenizer of the file's tokenizer.ggml.* keys,
// which encodes text as llama.cpp does.
func (m *Model) Encoder() (*tokenizer.Encoder, error) {
	v, err := tokenizer.VocabFromGGUF(m.File)
	if err != nil {
		return nil, fmt.Errorf("forward: %s: %w", m.Path, err)
	}
	e, err := tokenizer.NewEncoder(v)
	if err != nil {
		return nil, fmt.Errorf("forward: %s: %w", m.Path, err)
	}
	return e, nil
}

// has reports whether the model has tensor name.
func (m *Model) has(name string) bool { return m.tensors[name] != nil }

// checkShapes makes sure the model has every tensor of want, of its shape.
func (m *Model) checkShapes(want map[string][]int64) error {
	for name, shape := range want {
		t := m.tensors[name]
		if t == nil {
			return fmt.Errorf("no tensor %s", name)
		}
		if !slices.Equal(t.shape, shape) {
			return fmt.Errorf("%s has shape %v, want %v", name, t.shape, shape)
		}
	}
	return nil
}
