package gguf

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// A Preset is a whole-model quantization like one of llama-quantize's
// file types: a default tensor type, the mixture rules that give some
// tensors other types, and the general.file_type number written with it.
// Its rules mirror llama.cpp's src/llama-quant.cpp (read at commit
// 007dbbf, 2026): tensor_allows_quantization, llama_tensor_get_type_impl
// for the file types below, and tensor_type_fallback.
type Preset struct {
	Name     string // lightbeam's name, as --quant takes it: "q4_k_m"
	Type     Type   // the default tensor type (llama_ftype_get_default_type)
	FileType uint32 // general.file_type: llama.cpp's LLAMA_FTYPE_* number
	Pure     bool   // no mixture rules (llama-quantize --pure): every quantized tensor gets Type, or its fallback
}

// Presets are the presets lightbeam knows, with the general.file_type
// that llama-quantize writes for each:
//
//	f32 0 (ALL_F32)   f16 1 (MOSTLY_F16)   bf16 32 (MOSTLY_BF16)
//	q8_0 7            q4_0 2               q5_0 8
//	q6_k 18           q4_k_m 15            q5_k_m 17
//	q4_k 15: pure Q4_K, what `llama-quantize --pure in out Q4_K_M` (or
//	         its alias Q4_K) writes; llama.cpp has no file type of its
//	         own for pure Q4_K, so readers call it "Q4_K - Medium"
//
// q8_0, q4_0, q5_0 and q6_k are llama-quantize's file types of those
// names, mixture rules included (the output matrix gets Q6_K, see Types).
var Presets = []Preset{
	{"f32", F32, 0, false},
	{"f16", F16, 1, false},
	{"bf16", BF16, 32, false},
	{"q8_0", Q8_0, 7, false},
	{"q4_0", Q4_0, 2, false},
	{"q5_0", Q5_0, 8, false},
	{"q4_k", Q4_K, 15, true},
	{"q6_k", Q6_K, 18, false},
	{"q4_k_m", Q4_K, 15, false},
	{"q5_k_m", Q5_K, 17, false},
}

// ParsePreset returns the preset named s (case-insensitive).
func ParsePreset(s string) (Preset, error) {
	var names []string
	for _, p := range Presets {
		if strings.EqualFold(p.Name, s) {
			return p, nil
		}
		names = append(names, p.Name)
	}
	return Preset{}, fmt.Errorf("gguf: unknown preset %q (want one of %s)", s, strings.Join(names, ", "))
}

// quantized reports whether the preset's default type is a block type,
// for which llama.cpp applies its mixture rules and fallbacks
// (ggml_is_quantized).
func (p Preset) quantized() bool { return p.Type.BlockElems() > 1 }

// moreBits reports whether p is one of the _m mixtures, which spread
// extra bits over the layers with use_more_bits.
func (p Preset) moreBits() bool { return !p.Pure && (p.FileType == 15 || p.FileType == 17) }

// Arch holds the facts about a model that the mixture rules read.
type Arch struct {
	// Name is general.architecture ("llama", "bert", ...). Optional;
	// only "falcon" changes the rules.
	Name string
	// Layers is the block count (llama.cpp's n_layer): use_more_bits
	// spreads its extra bits over it. Required by q4_k_m and q5_k_m, and
	// by every mixture of a model with experts, unless no tensor is per
	// layer (blk.N.…).
	Layers int
	// Experts is the expert count of a mixture-of-experts model. Optional:
	// 0 or 1 for a dense model; 8 turns on llama.cpp's rules for 8
	// experts, and any count above 1 reads each FFN tensor's layer from
	// its name.
	Experts int
	// Is70B says llama.cpp classes the model as 70B (for Llama: 80 layers
	// with grouped-query attention), which gives attn_v Q5_K where it
	// would get Q4_K. Optional.
	Is70B bool
}

// Choice is the type Types gives a tensor, and why when it is not the
// preset's type.
type Choice struct {
	Type Type
	Why  string
}

// tensorCategory is llama-quant.cpp's tensor_category, found by
// tensor_get_category from the name alone.
type tensorCategory int

const (
	catOther tensorCategory = iota
	catTokenEmbd
	catAttnQ
	catAttnV // attn_v, attn_qkv and attn_kv_b: category_is_attn_v
	catAttnK
	catAttnOutput
	catFFNUp
	catFFNGate
	catFFNDown
	catOutput
)

// categorize mirrors tensor_get_category: the first match wins.
func categorize(name string) tensorCategory {
	switch {
	case name == "output.weight":
		return catOutput
	case name == "token_embd.weight" || name == "per_layer_token_embd.weight":
		return catTokenEmbd
	case strings.Contains(name, "attn_qkv.weight"), strings.Contains(name, "attn_kv_b.weight"), strings.Contains(name, "attn_v.weight"):
		return catAttnV
	case strings.Contains(name, "attn_k.weight"):
		return catAttnK
	case strings.Contains(name, "attn_q.weight"):
		return catAttnQ
	case strings.Contains(name, "attn_output.weight"):
		return catAttnOutput
	case strings.Contains(name, "ffn_up"):
		return catFFNUp
	case strings.Contains(name, "ffn_gate"):
		return catFFNGate
	case strings.Contains(name, "ffn_down"):
		return catFFNDown
	}
	return catOther
}

// neverQuantized lists the name parts that tensor_allows_quantization
// keeps out of quantization: norms, MoE routers, tiny or position-like
// tensors of particular architectures.
var neverQuantized = []string{
	"_norm.weight", "ffn_gate_inp.weight", "ffn_gate_tid2eid.weight", "altup", "laurel",
	"per_layer_model_proj", "ssm_conv1d", "shortconv.conv.weight",
	"indexer.k_proj.weight", "indexer.q_proj.weight",
	"time_mix_first.weight", "time_mix_w0.weight", "time_mix_w1.weight", "time_mix_w2.weight",
	"time_mix_v0.weight", "time_mix_v1.weight", "time_mix_v2.weight", "time_mix_a0.weight",
	"time_mix_a1.weight", "time_mix_a2.weight", "time_mix_g1.weight", "time_mix_g2.weight",
	"time_mix_decay_w1.weight", "time_mix_decay_w2.weight", "time_mix_lerp_fused.weight",
	"attn_rel_b.weight", ".position_embd", "sam.pos_embd", "sam.neck.", "sam.net_", ".rel_pos",
	".patch_embd", ".patch_merger", "a.rvq.codebook", "mm.a.code_embd",
}

// allowsQuantization mirrors tensor_allows_quantization: a tensor is
// quantized if it has at least 2 dimensions as ggml counts them (trailing
// dimensions of 1 do not count), its name ends in "weight", and it is not
// a norm, an expert router, the position or token-type embeddings
// (position_embd.weight, token_types.weight: BERT) or one of the other
// small tensors neverQuantized lists.
func allowsQuantization(name string, shape []int64) bool {
	if ggmlDims(shape) < 2 || !strings.HasSuffix(name, "weight") {
		return false
	}
	if name == "position_embd.weight" || name == "token_types.weight" {
		return false
	}
	for _, s := range neverQuantized {
		if strings.Contains(name, s) {
			return false
		}
	}
	return true
}

// ggmlDims is ggml_n_dims of a row-major shape: 1 plus the index, counted
// from the innermost dimension, of the outermost dimension above 1.
func ggmlDims(shape []int64) int {
	n := 1
	for i := 1; i < len(shape); i++ {
		if shape[len(shape)-1-i] > 1 {
			n = i + 1
		}
	}
	return n
}

// layerOf reads N from a name that starts "blk.N." (as sscanf "blk.%d."
// does), or returns −1.
func layerOf(name string) int {
	rest, ok := strings.CutPrefix(name, "blk.")
	if !ok {
		return -1
	}
	end := 0
	for end < len(rest) && rest[end] >= '0' && rest[end] <= '9' {
		end++
	}
	n, err := strconv.Atoi(rest[:end])
	if err != nil {
		return -1
	}
	return n
}

// useMoreBits is llama.cpp's use_more_bits: the first and last eighth of
// the layers, and every third layer between, get more bits in the _m
// mixtures.
func useMoreBits(i, n int) bool { return i < n/8 || i >= 7*n/8 || (i-n/8)%3 == 2 }

// Types returns the type of each tensor (llama.cpp names such as
// token_embd.weight, blk.N.attn_v.weight; row-major shapes; the Type of
// each TensorInfo is not read) under preset p, as llama-quantize chooses
// it for a float input without an importance matrix:
//
//  1. Tensors that tensor_allows_quantization keeps (1-D tensors, norms,
//     position and token-type embeddings, expert routers, names not ending
//     in "weight", ...; see allowsQuantization) are F32: llama-quantize
//     keeps their input type, which convert_hf_to_gguf writes F32 or F16.
//  2. f32, f16 and bf16 give every other tensor that type.
//  3. Pure presets give it the preset's type; the mixtures follow
//     llama_tensor_get_type_impl, visiting the tensors in llama.cpp's
//     order (by layer, then name) since its counters depend on it:
//     - output.weight, and token_embd.weight when there is no
//     output.weight (tied embeddings): Q8_0 for falcon or when the rows
//     are not whole blocks of the preset's type, else Q6_K unless the
//     type is Q8_0;
//     - q4_k_m and q5_k_m: attn_v (attn_qkv, attn_kv_b) of the i-th such
//     tensor and ffn_down of layer i get Q6_K where use_more_bits(i, n);
//     for falcon, q4_k_m's ffn_down is Q6_K in the first 1/16 of the
//     layers, Q5_K where use_more_bits, Q4_K elsewhere;
//     - Is70B: an attn_v that would be Q4_K is Q5_K;
//     - 8 experts: attn_v and attn_k are Q8_0, and q4_k_m's attn_output
//     Q5_K (not for falcon).
//  4. Then tensor_type_fallback: when the rows (the last dimension) are
//     not whole blocks of the chosen type, Q4_K falls back to Q5_0, Q5_K
//     to Q5_1 and Q6_K to Q8_0, and to F16 when 32 does not divide the
//     rows either. For Q4_0, Q5_0, Q5_1 and Q8_0 llama.cpp has no
//     fallback and refuses the model; Types gives F16.
//
// It returns an error for a rank above 4, for a mixture without
// Arch.Layers, and, when Arch.Experts > 1, for an FFN tensor whose name
// holds no layer below Layers (llama.cpp's "Bad layer").
func (p Preset) Types(a Arch, tensors []TensorInfo) ([]Choice, error) {
	out := make([]Choice, len(tensors))
	order := make([]int, len(tensors))
	nAttnV, tied, perLayer := 0, true, false
	for i, t := range tensors {
		if len(t.Shape) > 4 {
			return nil, fmt.Errorf("gguf: tensor %q has rank %d; GGUF allows at most 4", t.Name, len(t.Shape))
		}
		order[i] = i
		switch categorize(t.Name) {
		case catAttnV:
			nAttnV++
		case catOutput:
			tied = false
		}
		perLayer = perLayer || layerOf(t.Name) >= 0
	}
	mixture := p.quantized() && !p.Pure
	if mixture && perLayer && a.Layers <= 0 && (p.moreBits() || a.Experts > 1) {
		return nil, fmt.Errorf("gguf: preset %s needs the model's layer count", p.Name)
	}
	// llama_model_loader's weight_name_comparer.
	sort.SliceStable(order, func(i, j int) bool {
		a, b := tensors[order[i]].Name, tensors[order[j]].Name
		if la, lb := layerOf(a), layerOf(b); la != lb {
			return la < lb
		}
		return a < b
	})
	r := mixtureRules{p: p, a: a, nAttnV: nAttnV, tied: tied}
	for _, i := range order {
		t := tensors[i]
		if !allowsQuantization(t.Name, t.Shape) {
			out[i] = Choice{F32, "not quantized (llama.cpp's tensor_allows_quantization)"}
			continue
		}
		if !p.quantized() {
			out[i] = Choice{p.Type, ""}
			continue
		}
		c := Choice{p.Type, ""}
		if mixture {
			var err error
			if c, err = r.choose(t); err != nil {
				return nil, err
			}
		}
		out[i] = fallback(c, rowLength(t.Shape))
	}
	return out, nil
}

func rowLength(shape []int64) int64 {
	if len(shape) == 0 {
		return 1
	}
	return shape[len(shape)-1]
}

// kFallback is tensor_type_fallback's type for each k-quant whose block of
// 256 does not divide a tensor's rows: a type of blocks of 32 with as
// many bits or more.
var kFallback = map[Type]Type{Q4_K: Q5_0, Q5_K: Q5_1, Q6_K: Q8_0}

// fallback mirrors tensor_type_fallback.
func fallback(c Choice, row int64) Choice {
	if row%int64(c.Type.BlockElems()) == 0 {
		return c
	}
	why := fmt.Sprintf("rows of %d values are not whole %v blocks of %d", row, c.Type, c.Type.BlockElems())
	to, ok := kFallback[c.Type]
	if !ok || row%int64(to.BlockElems()) != 0 {
		to = F16
	}
	if c.Why != "" {
		why = c.Why + ", then " + why
	}
	return Choice{to, why}
}

// mixtureRules holds llama_tensor_get_type_impl's state: the counts it
// takes before the first tensor and the counters it advances.
type mixtureRules struct {
	p               Preset
	a               Arch
	nAttnV          int
	tied            bool
	iAttnV, iFFN    int // i_attention_wv, i_ffn_down
	iFFNUp, iFFNGte int // i_ffn_up, i_ffn_gate: advanced, read by no rule for these presets
}

// choose is llama_tensor_get_type_impl for the mixtures among Presets:
// file types Q8_0, Q4_0, Q5_0, Q6_K, Q4_K_M and Q5_K_M.
func (r *mixtureRules) choose(t TensorInfo) (Choice, error) {
	p, a := r.p, r.a
	falcon := a.Name == "falcon"
	m := p.moreBits()
	c := Choice{p.Type, ""}
	set := func(typ Type, why string) {
		if c = (Choice{typ, why}); typ == p.Type {
			c.Why = ""
		}
	}
	switch cat := categorize(t.Name); {
	case cat == catOutput || r.tied && cat == catTokenEmbd:
		switch {
		case falcon:
			set(Q8_0, "output matrix of falcon")
		case rowLength(t.Shape)%int64(p.Type.BlockElems()) != 0:
			set(Q8_0, fmt.Sprintf("output matrix with rows of %d values, not whole %v blocks", rowLength(t.Shape), p.Type))
		case p.Type != Q8_0:
			set(Q6_K, "output matrix")
		}
	case cat == catTokenEmbd:
		// Untied token embeddings keep the preset's type.
	case cat == catAttnV:
		if m && useMoreBits(r.iAttnV, r.nAttnV) {
			set(Q6_K, fmt.Sprintf("attention value matrix %d of %d (use_more_bits)", r.iAttnV, r.nAttnV))
		}
		if a.Is70B && c.Type == Q4_K {
			set(Q5_K, "attention value matrix of a 70B model")
		}
		if a.Experts == 8 {
			set(Q8_0, "attention value matrix of an 8-expert model")
		}
		r.iAttnV++
	case cat == catAttnK:
		if a.Experts == 8 {
			set(Q8_0, "attention key matrix of an 8-expert model")
		}
	case cat == catFFNDown:
		i, n, err := r.layer(t.Name, r.iFFN)
		if err != nil {
			return c, err
		}
		why := fmt.Sprintf("ffn_down of layer %d of %d", i, n)
		switch {
		case p.FileType == 15 && m && falcon: // Q4_K_M
			if i < n/16 {
				set(Q6_K, why+" (first 1/16)")
			} else if useMoreBits(i, n) {
				set(Q5_K, why+" (use_more_bits)")
			}
		case m && useMoreBits(i, n):
			set(Q6_K, why+" (use_more_bits)")
		}
		r.iFFN++
	case cat == catAttnOutput:
		if !falcon && a.Experts == 8 && m && p.FileType == 15 { // Q4_K_M
			set(Q5_K, "attention output matrix of an 8-expert model")
		}
	case cat == catFFNGate, cat == catFFNUp:
		ctr := &r.iFFNUp
		if cat == catFFNGate {
			ctr = &r.iFFNGte
		}
		if _, _, err := r.layer(t.Name, *ctr); err != nil {
			return c, err
		}
		*ctr++
	}
	return c, nil
}

// layer is llama.cpp's layer_info: the counter i among n = Layers for a
// dense model, the layer in the name for a mixture of experts.
func (r *mixtureRules) layer(name string, i int) (int, int, error) {
	n := r.a.Layers
	if r.a.Experts > 1 {
		if i = layerOf(name); i < 0 {
			return 0, 0, fmt.Errorf("gguf: cannot tell the layer of tensor %q", name)
		}
		if i >= n {
			return 0, 0, fmt.Errorf("gguf: tensor %q is in layer %d of a model of %d", name, i, n)
		}
	}
	return i, n, nil
}
