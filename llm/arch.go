package llm

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/lightbeam-ml/lightbeam/export/gguf"
)

// archSpec is one supported Hugging Face architecture: llama.cpp's name
// for it, the tokenizer family, and transformers' defaults for the
// config keys the converter reads.
type archSpec struct {
	name         string // llama.cpp's architecture (general.architecture)
	family       string // tokenizer family (llm/tokenizer Options.Family)
	bert         bool
	permute      bool // Q/K rows permuted for llama.cpp's rope (Llama, Mistral); Qwen uses NEOX rope
	qkNorm       bool // per-head q_norm, k_norm (Qwen3)
	vocabKV      bool // {arch}.vocab_size and rope.dimension_count (LlamaModel)
	maxPos       int
	vocabSize    int
	ropeTheta    float64
	rmsEps       float64
	pooling      bool // the converter reads sentence-transformers pooling
	generateRope bool // rope_freqs for rope_type llama3 (LlamaModel)
}

var archs = map[string]archSpec{
	"LlamaForCausalLM":   {name: "llama", family: "llama", permute: true, vocabKV: true, maxPos: 2048, vocabSize: 32000, ropeTheta: 10000, rmsEps: 1e-6, generateRope: true},
	"MistralForCausalLM": {name: "llama", family: "llama", permute: true, vocabKV: true, maxPos: 4096 * 32, vocabSize: 32000, ropeTheta: 10000, rmsEps: 1e-6, generateRope: true},
	"Qwen2ForCausalLM":   {name: "qwen2", family: "qwen2", maxPos: 32768, vocabSize: 151936, ropeTheta: 10000, rmsEps: 1e-6, pooling: true},
	"Qwen3ForCausalLM":   {name: "qwen3", family: "qwen2", qkNorm: true, maxPos: 32768, vocabSize: 151936, ropeTheta: 10000, rmsEps: 1e-6, pooling: true},
	"BertModel":          {name: "bert", family: "bert", bert: true, maxPos: 512, vocabSize: 30522, pooling: true},
	"BertForMaskedLM":    {name: "bert", family: "bert", bert: true, maxPos: 512, vocabSize: 30522, pooling: true},
}

func supportedList() string {
	return "BertModel, BertForMaskedLM, LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM, Qwen3ForCausalLM"
}

// hparams are the hyper-parameters, defaults filled.
type hparams struct {
	blocks, hidden, ff, heads, kvHeads, headDim int
	vocab, maxPos, typeVocab                    int
	explicitHeadDim                             bool
	ropeTheta, rmsEps, normEps                  float64
	tied                                        bool
	rope                                        map[string]any // rope_scaling, rope_type mirrored from type
	topLevelOrigCtx                             int            // original_max_position_embeddings at the top level (Llama 3's rope_freqs reads it there)
}

func readHparams(c *config, a archSpec) (*hparams, error) {
	h := &hparams{}
	var err error
	get := func(dst *int, key string) {
		if err == nil {
			*dst, err = c.required(key)
		}
	}
	get(&h.blocks, "num_hidden_layers")
	get(&h.hidden, "hidden_size")
	get(&h.ff, "intermediate_size")
	get(&h.heads, "num_attention_heads")
	if err != nil {
		return nil, err
	}
	if h.vocab, err = c.integer("vocab_size", a.vocabSize); err != nil {
		return nil, err
	}
	if h.maxPos, err = c.integer("max_position_embeddings", a.maxPos); err != nil {
		return nil, err
	}
	if a.bert {
		if h.normEps, err = c.float("layer_norm_eps", 1e-12); err != nil {
			return nil, err
		}
		if h.typeVocab, err = c.integer("type_vocab_size", 2); err != nil {
			return nil, err
		}
		h.kvHeads = h.heads
	} else {
		if h.kvHeads, err = c.integer("num_key_value_heads", h.heads); err != nil {
			return nil, err
		}
		if h.ropeTheta, err = c.float("rope_theta", a.ropeTheta); err != nil {
			return nil, err
		}
		if h.rmsEps, err = c.float("rms_norm_eps", a.rmsEps); err != nil {
			return nil, err
		}
		if h.tied, err = c.boolean("tie_word_embeddings", false); err != nil {
			return nil, err
		}
		// transformers 5 calls it rope_parameters; the converter reads that first.
		key := "rope_scaling"
		if c.has("rope_parameters") {
			key = "rope_parameters"
		}
		if h.rope, err = c.object(key); err != nil {
			return nil, err
		}
		if h.rope != nil {
			if _, ok := h.rope["rope_type"]; !ok && h.rope["type"] != nil {
				h.rope["rope_type"] = h.rope["type"]
			}
		}
		if h.topLevelOrigCtx, err = c.integer("original_max_position_embeddings", 8192); err != nil {
			return nil, err
		}
	}
	h.explicitHeadDim = c.has("head_dim")
	if h.headDim, err = c.integer("head_dim", 0); err != nil {
		return nil, err
	}
	if h.headDim == 0 {
		if h.hidden%h.heads != 0 {
			return nil, fmt.Errorf("llm: %s: hidden_size %d is not a multiple of num_attention_heads %d, and there is no head_dim", c.path, h.hidden, h.heads)
		}
		h.headDim = h.hidden / h.heads
	}
	if h.kvHeads == 0 || h.heads%h.kvHeads != 0 {
		return nil, fmt.Errorf("llm: %s: num_attention_heads %d is not a multiple of num_key_value_heads %d", c.path, h.heads, h.kvHeads)
	}
	if a.permute && h.headDim%2 != 0 {
		return nil, fmt.Errorf("llm: %s: head dimension %d is odd; rope pairs need an even one", c.path, h.headDim)
	}
	return h, nil
}

// f32 is a config float as the converter writes it: a Python float
// stored as float32.
func f32(x float64) float32 { return float32(x) }

// archKV returns the converter's set_gguf_parameters keys, general.file_type
// at its place (fileType), and the keys its model class adds after them.
func archKV(c *config, a archSpec, h *hparams, fileType uint32, pooling *uint32) ([]gguf.KV, error) {
	k := func(s string) string { return a.name + "." + s }
	kv := []gguf.KV{
		{Key: k("block_count"), Value: uint32(h.blocks)},
		{Key: k("context_length"), Value: uint32(h.maxPos)},
		{Key: k("embedding_length"), Value: uint32(h.hidden)},
		{Key: k("feed_forward_length"), Value: uint32(h.ff)},
		{Key: k("attention.head_count"), Value: uint32(h.heads)},
	}
	if !a.bert {
		kv = append(kv, gguf.KV{Key: k("attention.head_count_kv"), Value: uint32(h.kvHeads)})
	}
	if causal, err := c.boolean("is_causal", true); err != nil {
		return nil, err
	} else if !causal && !a.bert {
		kv = append(kv, gguf.KV{Key: k("attention.causal"), Value: false})
	}
	if h.rope != nil {
		rkv, err := ropeScalingKV(c, a, h)
		if err != nil {
			return nil, err
		}
		kv = append(kv, rkv...)
	}
	if !a.bert {
		theta := h.ropeTheta
		if t, ok := h.rope["rope_theta"].(float64); ok {
			theta = t
		}
		kv = append(kv,
			gguf.KV{Key: k("rope.freq_base"), Value: f32(theta)},
			gguf.KV{Key: k("attention.layer_norm_rms_epsilon"), Value: f32(h.rmsEps)})
	} else {
		kv = append(kv, gguf.KV{Key: k("attention.layer_norm_epsilon"), Value: f32(h.normEps)})
	}
	// The converter writes key_length and value_length whenever its config
	// has head_dim. transformers fills head_dim in for some architectures
	// (then they equal llama.cpp's default, n_embd / n_head); lightbeam
	// writes them when config.json states head_dim, as the converter's
	// SmolLM2 file (which has none) shows.
	if h.explicitHeadDim {
		kv = append(kv,
			gguf.KV{Key: k("attention.key_length"), Value: uint32(h.headDim)},
			gguf.KV{Key: k("attention.value_length"), Value: uint32(h.headDim)})
	}
	kv = append(kv, gguf.KV{Key: "general.file_type", Value: fileType})
	if a.vocabKV {
		kv = append(kv,
			gguf.KV{Key: k("vocab_size"), Value: uint32(h.vocab)},
			gguf.KV{Key: k("rope.dimension_count"), Value: uint32(h.headDim)})
	}
	if a.bert {
		kv = append(kv, gguf.KV{Key: k("attention.causal"), Value: false})
	}
	if pooling != nil {
		kv = append(kv, gguf.KV{Key: k("pooling_type"), Value: *pooling})
	}
	return kv, nil
}

// ropeScalingKV are the rope scaling keys of TextModel.set_gguf_parameters.
// llama3 scaling writes none: it is the rope_freqs tensor.
func ropeScalingKV(c *config, a archSpec, h *hparams) ([]gguf.KV, error) {
	k := func(s string) string { return a.name + ".rope.scaling." + s }
	typ, _ := h.rope["rope_type"].(string)
	factor, hasFactor := h.rope["factor"].(float64)
	var kv []gguf.KV
	switch {
	case typ == "":
		return nil, nil
	case typ == "linear" && hasFactor:
		kv = append(kv, gguf.KV{Key: k("type"), Value: "linear"}, gguf.KV{Key: k("factor"), Value: f32(factor)})
	case typ == "yarn" && hasFactor:
		orig, ok := h.rope["original_max_position_embeddings"].(float64)
		if !ok {
			return nil, fmt.Errorf("llm: %s: yarn rope_scaling without original_max_position_embeddings", c.path)
		}
		kv = append(kv, gguf.KV{Key: k("type"), Value: "yarn"}, gguf.KV{Key: k("factor"), Value: f32(factor)},
			gguf.KV{Key: k("original_context_length"), Value: uint32(orig)})
		opt := func(key string, names ...string) {
			for _, n := range names {
				if v, ok := h.rope[n].(float64); ok {
					kv = append(kv, gguf.KV{Key: k(key), Value: f32(v)})
					return
				}
			}
		}
		opt("yarn_ext_factor", "extrapolation_factor")
		opt("yarn_attn_factor", "attention_factor", "attn_factor")
		opt("yarn_beta_fast", "beta_fast")
		opt("yarn_beta_slow", "beta_slow")
	case typ == "su" || typ == "longrope":
		kv = append(kv, gguf.KV{Key: k("type"), Value: "longrope"})
	case strings.EqualFold(typ, "llama3") && a.generateRope:
	case typ == "default":
	default:
		// The converter warns and writes nothing; llama.cpp would then run
		// the model without its scaling, so lightbeam refuses.
		return nil, fmt.Errorf("llm: %s: rope_scaling type %q is not supported for %s", c.path, typ, a.name)
	}
	return kv, nil
}

// ropeFreqs is LlamaModel.generate_extra_tensors for rope_type llama3: one
// factor per rotary frequency pair,
//
//	freq_i = 1 / base^(2i/dim),   wavelen_i = 2π / freq_i
//	f_i = 1 (wavelen < L/high), factor (wavelen > L/low), else
//	      1 / ((1 − s)/factor + s),  s = (L/wavelen − low) / (high − low)
//
// with L the original context (the converter reads
// original_max_position_embeddings at config.json's top level, 8192 when
// absent). The converter computes in float32 torch tensors; so does this,
// up to powf's last bit.
func ropeFreqs(h *hparams) []float32 {
	base := h.ropeTheta
	if t, ok := h.rope["rope_theta"].(float64); ok {
		base = t
	}
	num := func(key string, def float64) float64 {
		if v, ok := h.rope[key].(float64); ok {
			return v
		}
		return def
	}
	factor, low, high := num("factor", 8), num("low_freq_factor", 1), num("high_freq_factor", 4)
	old := float64(h.topLevelOrigCtx)
	lowWavelen, highWavelen := old/low, old/high
	dim := h.headDim
	out := make([]float32, 0, dim/2)
	for i := 0; i < dim; i += 2 {
		expo := float32(i) / float32(dim)
		freq := 1 / float32(math.Pow(float64(float32(base)), float64(expo)))
		wavelen := float32(2*math.Pi) / freq
		switch {
		case float64(wavelen) < highWavelen:
			out = append(out, 1)
		case float64(wavelen) > lowWavelen:
			out = append(out, float32(factor))
		default:
			smooth := (float32(old)/wavelen - float32(low)) / float32(high-low)
			out = append(out, 1/((1-smooth)/float32(factor)+smooth))
		}
	}
	return out
}

// hfLayer maps the part of a layer tensor's name after model.layers.N.
// (Llama, Mistral, Qwen2, Qwen3) or encoder.layer.N. (BERT) to llama.cpp's.
var llamaLayer = map[string]string{
	"input_layernorm": "attn_norm", "self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k",
	"self_attn.v_proj": "attn_v", "self_attn.o_proj": "attn_output", "post_attention_layernorm": "ffn_norm",
	"mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up", "mlp.down_proj": "ffn_down",
}

var qwen3Layer = map[string]string{"self_attn.q_norm": "attn_q_norm", "self_attn.k_norm": "attn_k_norm"}

var bertLayer = map[string]string{
	"attention.self.query": "attn_q", "attention.self.key": "attn_k", "attention.self.value": "attn_v",
	"attention.output.dense": "attn_output", "attention.output.LayerNorm": "attn_output_norm",
	"intermediate.dense": "ffn_up", "output.dense": "ffn_down", "output.LayerNorm": "layer_output_norm",
}

var llamaGlobal = map[string]string{"model.embed_tokens": "token_embd", "model.norm": "output_norm", "lm_head": "output"}

var bertGlobal = map[string]string{
	"embeddings.word_embeddings": "token_embd", "embeddings.position_embeddings": "position_embd",
	"embeddings.token_type_embeddings": "token_types", "embeddings.LayerNorm": "token_embd_norm",
}

// mapName returns llama.cpp's name of an HF tensor, its block (-1 for
// none), or drop when the converter leaves the tensor out.
func mapName(a archSpec, h *hparams, name string) (gg string, block int, drop bool, err error) {
	if strings.HasSuffix(name, ".rotary_emb.inv_freq") || strings.HasSuffix(name, ".attention.masked_bias") || strings.HasSuffix(name, ".attention.bias") {
		return "", -1, true, nil
	}
	base, suffix := name, ""
	if i := strings.LastIndexByte(name, '.'); i >= 0 {
		base, suffix = name[:i], name[i+1:]
	}
	global, layerPrefix, layer := llamaGlobal, "model.layers.", llamaLayer
	if a.bert {
		base = strings.TrimPrefix(base, "bert.")
		switch suffix {
		case "gamma":
			suffix = "weight"
		case "beta":
			suffix = "bias"
		}
		switch {
		case base == "embeddings" && suffix == "position_ids", strings.HasPrefix(base, "pooler."),
			strings.HasPrefix(base, "cls.predictions"), strings.HasPrefix(base, "cls.seq_relationship"):
			return "", -1, true, nil
		}
		global, layerPrefix, layer = bertGlobal, "encoder.layer.", bertLayer
	} else if name == "lm_head.weight" && h.tied {
		// A tied model computes its logits with token_embd; a copy of it
		// stored as lm_head adds nothing (llama.cpp falls back to
		// token_embd when output is absent).
		return "", -1, true, nil
	}
	if suffix != "weight" && suffix != "bias" {
		return "", -1, false, fmt.Errorf("cannot map tensor %q to a llama.cpp %s tensor", name, a.name)
	}
	if g, ok := global[base]; ok {
		return g + "." + suffix, -1, false, nil
	}
	if rest, ok := strings.CutPrefix(base, layerPrefix); ok {
		if n, part, ok := strings.Cut(rest, "."); ok {
			b, err := strconv.Atoi(n)
			if err == nil && b >= 0 && strconv.Itoa(b) == n {
				g, ok := layer[part]
				if !ok && a.qkNorm {
					g, ok = qwen3Layer[part]
				}
				if ok {
					if b >= h.blocks {
						return "", -1, false, fmt.Errorf("tensor %q is in block %d, but num_hidden_layers is %d", name, b, h.blocks)
					}
					return fmt.Sprintf("blk.%d.%s.%s", b, g, suffix), b, false, nil
				}
			}
		}
	}
	return "", -1, false, fmt.Errorf("cannot map tensor %q to a llama.cpp %s tensor", name, a.name)
}

// wantShape is the shape a tensor of llama.cpp name gg must have (nil: not
// checked), and the config keys that give it.
func wantShape(a archSpec, h *hparams, gg string) ([]int64, string) {
	base, suffix := gg, ""
	if i := strings.LastIndexByte(gg, '.'); i >= 0 {
		base, suffix = gg[:i], gg[i+1:]
	}
	if strings.HasPrefix(base, "blk.") {
		base = base[strings.IndexByte(base[4:], '.')+5:]
	}
	H, V, FF := int64(h.hidden), int64(h.vocab), int64(h.ff)
	q, kv := int64(h.heads*h.headDim), int64(h.kvHeads*h.headDim)
	mat := func(rows, cols int64, why string) ([]int64, string) {
		if suffix == "bias" {
			return []int64{rows}, why
		}
		return []int64{rows, cols}, why
	}
	switch base {
	case "token_embd", "output":
		return mat(V, H, "vocab_size × hidden_size")
	case "position_embd":
		return mat(int64(h.maxPos), H, "max_position_embeddings × hidden_size")
	case "token_types":
		return mat(int64(h.typeVocab), H, "type_vocab_size × hidden_size")
	case "output_norm", "attn_norm", "ffn_norm", "token_embd_norm", "attn_output_norm", "layer_output_norm":
		return []int64{H}, "hidden_size"
	case "attn_q_norm", "attn_k_norm":
		return []int64{int64(h.headDim)}, "head_dim"
	case "attn_q":
		return mat(q, H, "num_attention_heads·head_dim × hidden_size")
	case "attn_k", "attn_v":
		return mat(kv, H, "num_key_value_heads·head_dim × hidden_size")
	case "attn_output":
		return mat(H, q, "hidden_size × num_attention_heads·head_dim")
	case "ffn_gate", "ffn_up":
		return mat(FF, H, "intermediate_size × hidden_size")
	case "ffn_down":
		return mat(H, FF, "hidden_size × intermediate_size")
	}
	return nil, ""
}

// required are the llama.cpp tensors every model of the architecture has
// ("blk.%d." ones in every block).
func required(a archSpec) (global, perBlock []string) {
	if a.bert {
		return []string{"token_embd.weight", "position_embd.weight", "token_embd_norm.weight"},
			[]string{"attn_q.weight", "attn_k.weight", "attn_v.weight", "attn_output.weight", "attn_output_norm.weight",
				"ffn_up.weight", "ffn_down.weight", "layer_output_norm.weight"}
	}
	blk := []string{"attn_norm.weight", "attn_q.weight", "attn_k.weight", "attn_v.weight", "attn_output.weight",
		"ffn_norm.weight", "ffn_gate.weight", "ffn_up.weight", "ffn_down.weight"}
	if a.qkNorm {
		blk = append(blk, "attn_q_norm.weight", "attn_k_norm.weight")
	}
	return []string{"token_embd.weight", "output_norm.weight"}, blk
}

// keepF32 reports whether the converter stores the tensor as F32 whatever
// the output type: 1-D tensors, norms, biases, position and token-type
// embeddings (prepare_tensors).
func keepF32(gg string, shape []int64) bool {
	return len(shape) <= 1 || strings.HasSuffix(gg, "_norm.weight") || !strings.HasSuffix(gg, ".weight") ||
		gg == "position_embd.weight" || gg == "token_types.weight"
}
