package gguf

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

// decoderTensors returns the tensor list of a Llama-like decoder in llama.cpp's
// names: layers blocks of hidden wide with kv-wide keys and values, an
// ffn-wide MLP, a vocab×hidden embedding and, unless tied, output.weight.
// The list is shuffled: Types must not depend on the caller's order.
func decoderTensors(layers, hidden, kv, ffn, vocab int, tied bool) []TensorInfo {
	ts := []TensorInfo{
		{Name: "token_embd.weight", Shape: []int64{int64(vocab), int64(hidden)}},
		{Name: "output_norm.weight", Shape: []int64{int64(hidden)}},
	}
	if !tied {
		ts = append(ts, TensorInfo{Name: "output.weight", Shape: []int64{int64(vocab), int64(hidden)}})
	}
	h, k, f := int64(hidden), int64(kv), int64(ffn)
	for i := range layers {
		for _, t := range []struct {
			name  string
			shape []int64
		}{
			{"attn_norm.weight", []int64{h}}, {"ffn_norm.weight", []int64{h}},
			{"attn_q.weight", []int64{h, h}}, {"attn_k.weight", []int64{k, h}}, {"attn_v.weight", []int64{k, h}},
			{"attn_output.weight", []int64{h, h}},
			{"ffn_gate.weight", []int64{f, h}}, {"ffn_up.weight", []int64{f, h}}, {"ffn_down.weight", []int64{h, f}},
		} {
			ts = append(ts, TensorInfo{Name: fmt.Sprintf("blk.%d.%s", i, t.name), Shape: t.shape})
		}
	}
	shuffle(ts)
	return ts
}

// encoderTensors returns a BERT-like encoder's tensors in llama.cpp's names:
// token, position and token-type embeddings, biases, post-norms, no
// output matrix (the token embeddings are tied).
func encoderTensors(layers, hidden, ffn, vocab int) []TensorInfo {
	h, f := int64(hidden), int64(ffn)
	ts := []TensorInfo{
		{Name: "token_embd.weight", Shape: []int64{int64(vocab), h}},
		{Name: "position_embd.weight", Shape: []int64{512, h}},
		{Name: "token_types.weight", Shape: []int64{2, h}},
		{Name: "token_embd_norm.weight", Shape: []int64{h}},
		{Name: "token_embd_norm.bias", Shape: []int64{h}},
	}
	for i := range layers {
		for _, t := range []struct {
			name  string
			shape []int64
		}{
			{"attn_q.weight", []int64{h, h}}, {"attn_q.bias", []int64{h}},
			{"attn_k.weight", []int64{h, h}}, {"attn_k.bias", []int64{h}},
			{"attn_v.weight", []int64{h, h}}, {"attn_v.bias", []int64{h}},
			{"attn_output.weight", []int64{h, h}}, {"attn_output.bias", []int64{h}},
			{"attn_output_norm.weight", []int64{h}}, {"attn_output_norm.bias", []int64{h}},
			{"ffn_up.weight", []int64{f, h}}, {"ffn_up.bias", []int64{f}},
			{"ffn_down.weight", []int64{h, f}}, {"ffn_down.bias", []int64{h}},
			{"layer_output_norm.weight", []int64{h}}, {"layer_output_norm.bias", []int64{h}},
		} {
			ts = append(ts, TensorInfo{Name: fmt.Sprintf("blk.%d.%s", i, t.name), Shape: t.shape})
		}
	}
	shuffle(ts)
	return ts
}

func shuffle(ts []TensorInfo) {
	rng := rand.New(rand.NewPCG(uint64(len(ts)), 7))
	rng.Shuffle(len(ts), func(i, j int) { ts[i], ts[j] = ts[j], ts[i] })
}

// typesByName runs Types and returns each tensor's type by name.
func typesByName(t *testing.T, preset string, a Arch, ts []TensorInfo) map[string]Choice {
	t.Helper()
	p, err := ParsePreset(preset)
	if err != nil {
		t.Fatal(err)
	}
	cs, err := p.Types(a, ts)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]Choice{}
	for i, c := range cs {
		m[ts[i].Name] = c
	}
	return m
}

// Layers whose attn_v and ffn_down get Q6_K in the _m mixtures,
// use_more_bits(i, n): the first and last eighth, and every third between.
var (
	moreBits22 = []int{0, 1, 4, 7, 10, 13, 16, 19, 20, 21}
	moreBits30 = []int{0, 1, 2, 5, 8, 11, 14, 17, 20, 23, 26, 27, 28, 29}
	moreBits6  = []int{2, 5}
)

func TestUseMoreBits(t *testing.T) {
	for n, want := range map[int][]int{22: moreBits22, 30: moreBits30, 6: moreBits6} {
		var got []int
		for i := range n {
			if useMoreBits(i, n) {
				got = append(got, i)
			}
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("use_more_bits(·, %d) = %v, want %v", n, got, want)
		}
	}
}

func in(i int, set []int) bool {
	for _, v := range set {
		if v == i {
			return true
		}
	}
	return false
}

func TestPresetTypes(t *testing.T) {
	// TinyLlama-1.1B's shapes: every row a multiple of 256, output untied.
	tiny := decoderTensors(22, 2048, 256, 5632, 32000, false)
	tinyArch := Arch{Name: "llama", Layers: 22}
	// SmolLM2-135M's: hidden 576 = 2.25·256, tied embeddings.
	smol := decoderTensors(30, 576, 192, 1536, 49152, true)
	smolArch := Arch{Name: "llama", Layers: 30}
	// all-MiniLM-L6-v2's: hidden 384 = 1.5·256, BERT's extra embeddings.
	bert := encoderTensors(6, 384, 1536, 30522)
	bertArch := Arch{Name: "bert", Layers: 6}
	// Rows of 100: not even whole blocks of 32.
	odd := decoderTensors(2, 100, 100, 300, 1000, false)
	oddArch := Arch{Name: "llama", Layers: 2}

	type row struct {
		preset, tensor string
		want           Type
	}
	tests := []struct {
		name  string
		arch  Arch
		ts    []TensorInfo
		rules []row
	}{
		{"TinyLlama", tinyArch, tiny, []row{
			{"q4_k_m", "token_embd.weight", Q4_K}, // untied: the default type
			{"q4_k_m", "output.weight", Q6_K},
			{"q4_k_m", "output_norm.weight", F32},
			{"q4_k_m", "blk.0.attn_norm.weight", F32},
			{"q4_k_m", "blk.3.attn_q.weight", Q4_K},
			{"q4_k_m", "blk.3.attn_k.weight", Q4_K},
			{"q4_k_m", "blk.3.attn_output.weight", Q4_K},
			{"q4_k_m", "blk.3.ffn_gate.weight", Q4_K},
			{"q5_k_m", "blk.3.ffn_up.weight", Q5_K},
			{"q5_k_m", "output.weight", Q6_K},
			{"q5_k_m", "token_embd.weight", Q5_K},
			{"q4_k", "output.weight", Q4_K}, // pure
			{"q4_k", "blk.0.attn_v.weight", Q4_K},
			{"q4_k", "blk.0.ffn_down.weight", Q4_K},
			{"q4_0", "output.weight", Q6_K}, // llama-quantize Q4_0: Q6_K output
			{"q4_0", "token_embd.weight", Q4_0},
			{"q4_0", "blk.0.attn_v.weight", Q4_0}, // no use_more_bits outside the _m mixtures
			{"q5_0", "output.weight", Q6_K},
			{"q5_0", "blk.0.ffn_down.weight", Q5_0},
			{"q8_0", "output.weight", Q8_0},
			{"q6_k", "output.weight", Q6_K},
			{"q6_k", "blk.7.attn_v.weight", Q6_K},
			{"f16", "output.weight", F16},
			{"f16", "blk.0.ffn_norm.weight", F32},
			{"bf16", "blk.0.ffn_down.weight", BF16},
			{"f32", "token_embd.weight", F32},
		}},
		{"SmolLM2", smolArch, smol, []row{
			// Tied: token_embd is the output matrix; 576 is not whole
			// blocks of 256, so Q8_0.
			{"q4_k_m", "token_embd.weight", Q8_0},
			{"q4_k_m", "blk.3.attn_q.weight", Q5_0}, // Q4_K → Q5_0
			{"q4_k_m", "blk.3.ffn_up.weight", Q5_0},
			{"q4_k_m", "blk.3.ffn_down.weight", Q4_K}, // rows of 1536
			{"q4_k_m", "blk.2.ffn_down.weight", Q6_K},
			{"q4_k_m", "blk.2.attn_v.weight", Q8_0}, // Q6_K → Q8_0
			{"q4_k_m", "blk.3.attn_v.weight", Q5_0},
			{"q5_k_m", "blk.3.attn_q.weight", Q5_1}, // Q5_K → Q5_1
			{"q5_k_m", "token_embd.weight", Q8_0},
			{"q4_k", "token_embd.weight", Q5_0}, // pure: no output rule, just the fallback
			{"q6_k", "blk.0.attn_q.weight", Q8_0},
			{"q6_k", "blk.0.ffn_down.weight", Q6_K},
			{"q4_0", "token_embd.weight", Q8_0}, // rows whole Q4_0 blocks: Q6_K, → Q8_0
			{"q4_0", "blk.0.attn_q.weight", Q4_0},
			{"q8_0", "token_embd.weight", Q8_0},
		}},
		{"MiniLM", bertArch, bert, []row{
			{"q4_k_m", "token_embd.weight", Q8_0},
			{"q4_k_m", "position_embd.weight", F32},
			{"q4_k_m", "token_types.weight", F32},
			{"q4_k_m", "token_embd_norm.weight", F32},
			{"q4_k_m", "blk.0.attn_q.bias", F32},
			{"q4_k_m", "blk.0.attn_output_norm.weight", F32},
			{"q4_k_m", "blk.0.attn_q.weight", Q5_0},
			{"q4_k_m", "blk.0.attn_v.weight", Q5_0},
			{"q4_k_m", "blk.2.attn_v.weight", Q8_0},
			{"q4_k_m", "blk.5.attn_v.weight", Q8_0},
			{"q4_k_m", "blk.1.ffn_down.weight", Q4_K},
			{"q4_k_m", "blk.5.ffn_down.weight", Q6_K},
			{"q4_k_m", "blk.5.ffn_up.weight", Q5_0},
			{"q8_0", "position_embd.weight", F32},
			{"q8_0", "blk.0.attn_q.weight", Q8_0},
			{"f16", "token_types.weight", F32},
			{"f16", "blk.0.ffn_up.bias", F32},
			{"f16", "blk.0.ffn_up.weight", F16},
		}},
		{"rows of 100", oddArch, odd, []row{
			{"q4_k_m", "blk.0.attn_q.weight", F16},
			{"q4_k_m", "output.weight", F16}, // Q8_0 (output rule), then F16
			{"q5_k_m", "blk.1.ffn_down.weight", F16},
			{"q6_k", "blk.1.ffn_gate.weight", F16},
			{"q4_0", "blk.1.ffn_gate.weight", F16}, // llama.cpp would refuse
			{"q8_0", "token_embd.weight", F16},
			{"f16", "blk.0.attn_q.weight", F16},
		}},
	}
	for _, tt := range tests {
		byPreset := map[string]map[string]Choice{}
		for _, r := range tt.rules {
			m := byPreset[r.preset]
			if m == nil {
				m = typesByName(t, r.preset, tt.arch, tt.ts)
				byPreset[r.preset] = m
			}
			c, ok := m[r.tensor]
			if !ok {
				t.Fatalf("%s: no tensor %s", tt.name, r.tensor)
			}
			if c.Type != r.want {
				t.Errorf("%s %s %s: %v (%s), want %v", tt.name, r.preset, r.tensor, c.Type, c.Why, r.want)
			}
			if (c.Type != must(ParsePreset(r.preset)).Type) != (c.Why != "") {
				t.Errorf("%s %s %s: %v with reason %q", tt.name, r.preset, r.tensor, c.Type, c.Why)
			}
		}
	}

	// The _m mixtures bump attn_v and ffn_down of exactly the
	// use_more_bits layers, in layer order whatever the input order.
	for _, tt := range []struct {
		name       string
		arch       Arch
		ts         []TensorInfo
		more       []int
		vHi, vLo   Type // attn_v with and without more bits
		dHi, dLo   Type // ffn_down
		preset     string
		otherTypes Type
	}{
		{"TinyLlama", tinyArch, tiny, moreBits22, Q6_K, Q4_K, Q6_K, Q4_K, "q4_k_m", Q4_K},
		{"TinyLlama", tinyArch, tiny, moreBits22, Q6_K, Q5_K, Q6_K, Q5_K, "q5_k_m", Q5_K},
		{"SmolLM2", smolArch, smol, moreBits30, Q8_0, Q5_0, Q6_K, Q4_K, "q4_k_m", Q5_0},
		{"MiniLM", bertArch, bert, moreBits6, Q8_0, Q5_0, Q6_K, Q4_K, "q4_k_m", Q5_0},
	} {
		m := typesByName(t, tt.preset, tt.arch, tt.ts)
		counts := map[Type]int{}
		for name, c := range m {
			counts[c.Type]++
			l := layerOf(name)
			switch {
			case strings.HasSuffix(name, "attn_v.weight"):
				if want := map[bool]Type{true: tt.vHi, false: tt.vLo}[in(l, tt.more)]; c.Type != want {
					t.Errorf("%s %s %s: %v, want %v", tt.name, tt.preset, name, c.Type, want)
				}
			case strings.HasSuffix(name, "ffn_down.weight"):
				if want := map[bool]Type{true: tt.dHi, false: tt.dLo}[in(l, tt.more)]; c.Type != want {
					t.Errorf("%s %s %s: %v, want %v", tt.name, tt.preset, name, c.Type, want)
				}
			case l >= 0 && strings.HasSuffix(name, ".weight") && !strings.Contains(name, "norm"):
				if c.Type != tt.otherTypes {
					t.Errorf("%s %s %s: %v, want %v", tt.name, tt.preset, name, c.Type, tt.otherTypes)
				}
			}
		}
		t.Logf("%s %s: %v", tt.name, tt.preset, counts)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func TestPresetArchRules(t *testing.T) {
	tiny := decoderTensors(32, 4096, 1024, 14336, 32000, false)

	// Falcon: the output matrix is Q8_0; q4_k_m's ffn_down is Q6_K in the
	// first 1/16 of the layers, Q5_K where use_more_bits, else Q4_K.
	m := typesByName(t, "q4_k_m", Arch{Name: "falcon", Layers: 32}, tiny)
	for name, want := range map[string]Type{
		"output.weight": Q8_0, "blk.0.ffn_down.weight": Q6_K, "blk.1.ffn_down.weight": Q6_K,
		"blk.2.ffn_down.weight": Q5_K, "blk.4.ffn_down.weight": Q4_K, "blk.6.ffn_down.weight": Q5_K,
		"blk.31.ffn_down.weight": Q5_K, "blk.0.attn_v.weight": Q6_K,
	} {
		if m[name].Type != want {
			t.Errorf("falcon q4_k_m %s: %v, want %v", name, m[name].Type, want)
		}
	}

	// 70B: attn_v that would be Q4_K is Q5_K.
	m = typesByName(t, "q4_k_m", Arch{Name: "llama", Layers: 32, Is70B: true}, tiny)
	if m["blk.4.attn_v.weight"].Type != Q5_K || m["blk.3.attn_v.weight"].Type != Q6_K || m["blk.4.attn_q.weight"].Type != Q4_K {
		t.Errorf("70B: attn_v %v and %v, attn_q %v", m["blk.4.attn_v.weight"].Type, m["blk.3.attn_v.weight"].Type, m["blk.4.attn_q.weight"].Type)
	}

	// 8 experts (Mixtral's names): attn_v and attn_k Q8_0, q4_k_m's
	// attn_output Q5_K, the router unquantized, ffn_down_exps by layer.
	var moe []TensorInfo
	for i := range 32 {
		for _, n := range []string{"attn_q", "attn_output"} {
			moe = append(moe, TensorInfo{Name: fmt.Sprintf("blk.%d.%s.weight", i, n), Shape: []int64{4096, 4096}})
		}
		for _, n := range []string{"attn_k", "attn_v"} {
			moe = append(moe, TensorInfo{Name: fmt.Sprintf("blk.%d.%s.weight", i, n), Shape: []int64{1024, 4096}})
		}
		moe = append(moe,
			TensorInfo{Name: fmt.Sprintf("blk.%d.ffn_gate_inp.weight", i), Shape: []int64{8, 4096}},
			TensorInfo{Name: fmt.Sprintf("blk.%d.ffn_gate_exps.weight", i), Shape: []int64{8, 14336, 4096}},
			TensorInfo{Name: fmt.Sprintf("blk.%d.ffn_up_exps.weight", i), Shape: []int64{8, 14336, 4096}},
			TensorInfo{Name: fmt.Sprintf("blk.%d.ffn_down_exps.weight", i), Shape: []int64{8, 4096, 14336}})
	}
	shuffle(moe)
	mixtral := Arch{Name: "llama", Layers: 32, Experts: 8}
	m = typesByName(t, "q4_k_m", mixtral, moe)
	for name, want := range map[string]Type{
		"blk.5.attn_v.weight": Q8_0, "blk.5.attn_k.weight": Q8_0, "blk.5.attn_output.weight": Q5_K,
		"blk.5.attn_q.weight": Q4_K, "blk.5.ffn_gate_inp.weight": F32, "blk.6.ffn_down_exps.weight": Q6_K,
		"blk.4.ffn_down_exps.weight": Q4_K, "blk.4.ffn_up_exps.weight": Q4_K,
	} {
		if m[name].Type != want {
			t.Errorf("8 experts q4_k_m %s: %v, want %v", name, m[name].Type, want)
		}
	}
	m = typesByName(t, "q5_k_m", mixtral, moe)
	if m["blk.5.attn_output.weight"].Type != Q5_K || m["blk.5.attn_v.weight"].Type != Q8_0 {
		t.Errorf("8 experts q5_k_m: attn_output %v, attn_v %v", m["blk.5.attn_output.weight"].Type, m["blk.5.attn_v.weight"].Type)
	}

	// An expert FFN tensor whose layer cannot be read, or is past Layers.
	p := must(ParsePreset("q4_k_m"))
	for _, bad := range []string{"ffn_down_exps.weight", "blk.32.ffn_up_exps.weight"} {
		ts := append(moe[:len(moe):len(moe)], TensorInfo{Name: bad, Shape: []int64{8, 4096, 14336}})
		if _, err := p.Types(mixtral, ts); err == nil || !strings.Contains(err.Error(), bad) {
			t.Errorf("%s: err = %v", bad, err)
		}
	}
}

func TestPresetErrors(t *testing.T) {
	ts := decoderTensors(2, 256, 256, 512, 1000, false)
	if _, err := must(ParsePreset("q4_k_m")).Types(Arch{}, ts); err == nil || !strings.Contains(err.Error(), "layer count") {
		t.Errorf("q4_k_m without Layers: %v", err)
	}
	// Pure and unquantized presets, and the mixtures without use_more_bits,
	// read no layer count.
	for _, p := range []string{"q4_k", "f16", "q8_0", "q6_k"} {
		if _, err := must(ParsePreset(p)).Types(Arch{}, ts); err != nil {
			t.Errorf("%s without Layers: %v", p, err)
		}
	}
	five := []TensorInfo{{Name: "x.weight", Shape: []int64{1, 1, 1, 2, 32}}}
	if _, err := must(ParsePreset("q8_0")).Types(Arch{Layers: 1}, five); err == nil || !strings.Contains(err.Error(), "rank 5") {
		t.Errorf("rank 5: %v", err)
	}
	if _, err := ParsePreset("q3_k_m"); err == nil || !strings.Contains(err.Error(), "q4_k_m") {
		t.Errorf("ParsePreset(q3_k_m): %v", err)
	}
}

func TestPresetsTable(t *testing.T) {
	want := map[string]struct {
		typ  Type
		ft   uint32
		pure bool
	}{
		"f32": {F32, 0, false}, "f16": {F16, 1, false}, "bf16": {BF16, 32, false}, "q8_0": {Q8_0, 7, false},
		"q4_0": {Q4_0, 2, false}, "q5_0": {Q5_0, 8, false}, "q4_k": {Q4_K, 15, true}, "q6_k": {Q6_K, 18, false},
		"q4_k_m": {Q4_K, 15, false}, "q5_k_m": {Q5_K, 17, false},
	}
	if len(Presets) != len(want) {
		t.Errorf("%d presets, want %d", len(Presets), len(want))
	}
	for _, p := range Presets {
		w, ok := want[p.Name]
		if !ok || p.Type != w.typ || p.FileType != w.ft || p.Pure != w.pure {
			t.Errorf("preset %+v, want %+v", p, w)
		}
		if q, err := ParsePreset(strings.ToUpper(p.Name)); err != nil || q != p {
			t.Errorf("ParsePreset(%s) = %+v, %v", strings.ToUpper(p.Name), q, err)
		}
	}
}

func TestGGMLDimsAndAllows(t *testing.T) {
	for _, tt := range []struct {
		name  string
		shape []int64
		dims  int
		quant bool
	}{
		{"a.weight", []int64{4, 32}, 2, true},
		{"a.weight", []int64{1, 32}, 1, false}, // ggml counts [32, 1] as 1-D
		{"a.weight", []int64{32, 1}, 2, true},
		{"a.weight", []int64{1, 1, 4, 32}, 2, true},
		{"a.weight", []int64{32}, 1, false},
		{"a.weight", nil, 1, false},
		{"a.bias", []int64{4, 32}, 2, false},
		{"blk.0.attn_norm.weight", []int64{4, 32}, 2, false},
		{"position_embd.weight", []int64{512, 32}, 2, false},
		{"v.position_embd.weight", []int64{512, 32}, 2, false},
		{"blk.0.ssm_conv1d.weight", []int64{4, 32}, 2, false},
	} {
		if d := ggmlDims(tt.shape); d != tt.dims {
			t.Errorf("ggmlDims(%v) = %d, want %d", tt.shape, d, tt.dims)
		}
		if q := allowsQuantization(tt.name, tt.shape); q != tt.quant {
			t.Errorf("allowsQuantization(%s, %v) = %v", tt.name, tt.shape, q)
		}
	}
}
