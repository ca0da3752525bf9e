package llm

import (
	"context"
	"encoding/json"
	"math"
	"reflect"
	"sort"
	"testing"

	"github.com/lightbeam-ml/lightbeam/llm/tokenizer"
)

// referenceScript computes, with the real libraries, what the converter's
// code takes from a directory: tensors through gguf-py's TensorNameMap and
// the converter's filters, the vocabulary as get_vocab_base (tokenizers'
// vocabulary and added tokens) or _create_vocab_sentencepiece
// (sentencepiece's processor) builds it, the special ids, add flags,
// merges and chat template from gguf-py's own SpecialVocab, and Llama 3's
// rope factors by generate_extra_tensors' formula in float32.
const referenceScript = `
import json, math, os, sys
import numpy as np
import gguf
from gguf.utility import SafetensorsLocal

d, hf_arch, pre_family = sys.argv[1], sys.argv[2], sys.argv[3]
cfg = json.load(open(os.path.join(d, "config.json")))
arch = {"LlamaForCausalLM": gguf.MODEL_ARCH.LLAMA, "MistralForCausalLM": gguf.MODEL_ARCH.LLAMA,
        "Qwen2ForCausalLM": gguf.MODEL_ARCH.QWEN2, "Qwen3ForCausalLM": gguf.MODEL_ARCH.QWEN3,
        "BertModel": gguf.MODEL_ARCH.BERT}[hf_arch]
bert = arch == gguf.MODEL_ARCH.BERT
tmap = gguf.get_tensor_name_map(arch, cfg["num_hidden_layers"])
tensors = []
parts = sorted(f for f in os.listdir(d) if f.startswith("model") and f.endswith(".safetensors"))
for p in parts:
    for name, t in SafetensorsLocal(os.path.join(d, p)).tensors.items():
        if name.endswith((".attention.masked_bias", ".attention.bias", ".rotary_emb.inv_freq")):
            continue
        if bert:
            if name.startswith("bert."): name = name[5:]
            if name in ("embeddings.position_ids", "pooler.dense.weight", "pooler.dense.bias") or name.startswith("cls."):
                continue
        elif name == "lm_head.weight" and cfg.get("tie_word_embeddings"):
            continue  # lightbeam leaves a tied lm_head out (see mapName)
        new = tmap.get_name(name, try_suffixes=(".weight", ".bias"))
        shape = list(t.shape)
        f32 = len(shape) <= 1 or new.endswith("_norm.weight") or new in ("position_embd.weight", "token_types.weight") or not new.endswith(".weight")
        tensors.append({"Name": new, "Shape": shape, "F32": f32})
rope = None
rs = cfg.get("rope_scaling") or {}
if rs.get("rope_type", rs.get("type")) == "llama3":
    base = cfg.get("rope_theta", 10000.0)
    dim = cfg.get("head_dim") or cfg["hidden_size"] // cfg["num_attention_heads"]
    freqs = (np.float32(1.0) / (np.float32(base) ** (np.arange(0, dim, 2, dtype=np.float32) / np.float32(dim)))).astype(np.float32)
    factor, low, high = rs.get("factor", 8.0), rs.get("low_freq_factor", 1.0), rs.get("high_freq_factor", 4.0)
    old = cfg.get("original_max_position_embeddings", 8192)
    out = []
    for freq in freqs:
        wavelen = np.float32(2 * math.pi) / freq
        if wavelen < old / high: out.append(1.0)
        elif wavelen > old / low: out.append(factor)
        else:
            smooth = (np.float32(old) / wavelen - np.float32(low)) / np.float32(high - low)
            out.append(float(np.float32(1) / ((np.float32(1) - smooth) / np.float32(factor) + smooth)))
    rope = [float(np.float32(x)) for x in out]

def looks_special(t):
    return t in ("<pad>", "<mask>", "<2mass>", "[@BOS@]") or (t.startswith("<|") and t.endswith("|>")) or \
        (t.startswith("<｜") and t.endswith("｜>")) or (t.startswith("<unused") and t.endswith(">"))

vocab = {}
if os.path.exists(os.path.join(d, "tokenizer.model")):
    from sentencepiece import SentencePieceProcessor
    sp = SentencePieceProcessor(); sp.LoadFromFile(os.path.join(d, "tokenizer.model"))
    n = cfg.get("vocab_size") or sp.vocab_size()
    toks = [f"[PAD{i}]" for i in range(n)]; scores = [-10000.0] * n; types = [5] * n
    for i in range(sp.vocab_size()):
        typ = 1
        if sp.IsUnknown(i): typ = 2
        elif sp.IsControl(i): typ = 3
        elif sp.IsUnused(i): typ = 5
        elif sp.IsByte(i): typ = 6
        toks[i], scores[i], types[i] = sp.IdToPiece(i), sp.GetScore(i), typ
    tc = json.load(open(os.path.join(d, "tokenizer_config.json")))
    for k, data in tc.get("added_tokens_decoder", {}).items():
        i = int(k); t = data["content"]
        types[i] = 3 if data.get("special") or looks_special(t) else 4
        scores[i] = -1000.0; toks[i] = t
    sv = gguf.SpecialVocab(d, n_vocab=n)
    vocab = {"Tokens": toks, "Types": types, "Scores": [float(np.float32(s)) for s in scores]}
else:
    from tokenizers import Tokenizer
    tok = Tokenizer.from_file(os.path.join(d, "tokenizer.json"))
    v = tok.get_vocab(with_added_tokens=True)
    added = tok.get_added_tokens_decoder()
    added_vocab = {a.content: i for i, a in added.items()}
    n = cfg.get("vocab_size", len(v))
    reverse = {i: t for t, i in v.items()}
    toks, types = [], []
    for i in range(n):
        if i not in reverse:
            toks.append(f"[PAD{i}]"); types.append(5); continue
        t = reverse[i]
        if t in added_vocab:
            if added[i].special or looks_special(t): types.append(3)
            else: t = t.replace("\u2581", " "); types.append(4)
        else:
            types.append(1)
        toks.append(t)
    if bert:
        toks = [t if ty == 3 else (t[2:] if t.startswith("##") else "\u2581" + t) for t, ty in zip(toks, types)]
        sv = gguf.SpecialVocab(d, n_vocab=len(toks))
    else:
        sv = gguf.SpecialVocab(d, load_merges=True)
    vocab = {"Tokens": toks, "Types": types, "Merges": sv.merges}
vocab["Special"] = [{"Type": k, "ID": v} for k, v in sv.special_token_ids.items()]
vocab["Add"] = [{"Type": k, "Value": v} for k, v in sv.add_special_token.items() if k in ("bos", "eos", "sep")]
vocab["ChatTemplate"] = sv.chat_template
print(json.dumps({"Tensors": tensors, "Rope": rope, "Vocab": vocab}))
`

type reference struct {
	Tensors []struct {
		Name  string
		Shape []int64
		F32   bool
	}
	Rope  []float64
	Vocab struct {
		Tokens       []string
		Types        []int32
		Scores       []float64
		Merges       []string
		Special      []tokenizer.Special
		Add          []tokenizer.AddFlag
		ChatTemplate *string
	}
}

func readReference(t *testing.T, dir, hfArch string) *reference {
	t.Helper()
	out := python(t, referenceScript, dir, hfArch, "")
	var r reference
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("%v: %.300s", err, out)
	}
	return &r
}

// TestAgainstConverterCode opens each fixture and compares its tensor plan
// and vocabulary with referenceScript's, and its metadata with the values
// read off the converter's code for that config (see each case).
func TestAgainstConverterCode(t *testing.T) {
	for _, c := range []struct {
		kind, hfArch string
		kv           map[string]any // keys checked besides the vocabulary
		absent       []string
	}{
		// BertModel: TextModel.set_gguf_parameters (no head_count_kv, no rope,
		// layer_norm_eps → layer_norm_epsilon), then causal false and the
		// pooling of 1_Pooling/config.json (mean: 1); set_vocab: token type
		// count, model bert, the pre-tokenizer (all-MiniLM-L6-v2's hash is
		// 0876d13b…, listed as bert-bge and, later, jina-v2-en), SpecialVocab
		// (bos/eos from cls/sep; TemplateProcessing [CLS] A [SEP] adds both;
		// its pair template [CLS] A [SEP] B [SEP] does not add sep).
		{"minilm", "BertModel", map[string]any{
			"general.architecture": "bert", "bert.block_count": uint32(6), "bert.context_length": uint32(512),
			"bert.embedding_length": uint32(384), "bert.feed_forward_length": uint32(1536),
			"bert.attention.head_count": uint32(12), "bert.attention.layer_norm_epsilon": float32(1e-12),
			"bert.attention.causal": false, "bert.pooling_type": uint32(1), "tokenizer.ggml.token_type_count": uint32(2),
			"tokenizer.ggml.model": "bert", "tokenizer.ggml.pre": "jina-v2-en",
			"tokenizer.ggml.bos_token_id": uint32(101), "tokenizer.ggml.eos_token_id": uint32(102),
			"tokenizer.ggml.unknown_token_id": uint32(100), "tokenizer.ggml.seperator_token_id": uint32(102),
			"tokenizer.ggml.padding_token_id": uint32(0), "tokenizer.ggml.cls_token_id": uint32(101),
			"tokenizer.ggml.mask_token_id": uint32(103), "tokenizer.ggml.add_bos_token": true,
			"tokenizer.ggml.add_eos_token": true, "tokenizer.ggml.add_sep_token": false,
		}, []string{"bert.attention.head_count_kv", "bert.rope.freq_base", "tokenizer.chat_template", "tokenizer.ggml.merges"}},
		// Qwen2ForCausalLM: TextModel's keys only (no vocab_size, no rope
		// dimension), gpt2 vocabulary padded to vocab_size with [PAD{i}].
		{"qwen2", "Qwen2ForCausalLM", map[string]any{
			"general.architecture": "qwen2", "qwen2.block_count": uint32(2), "qwen2.context_length": uint32(512),
			"qwen2.attention.head_count": uint32(4), "qwen2.attention.head_count_kv": uint32(2),
			"qwen2.rope.freq_base": float32(10000), "qwen2.attention.layer_norm_rms_epsilon": float32(1e-6),
			"tokenizer.ggml.model": "gpt2", "tokenizer.ggml.pre": "qwen2",
		}, []string{"qwen2.vocab_size", "qwen2.rope.dimension_count", "qwen2.attention.key_length", "qwen2.pooling_type"}},
		// Qwen3ForCausalLM: head_dim in config.json → key_length, value_length.
		{"qwen3", "Qwen3ForCausalLM", map[string]any{
			"general.architecture": "qwen3", "qwen3.attention.key_length": uint32(32), "qwen3.attention.value_length": uint32(32),
			"qwen3.rope.freq_base": float32(1e6), "qwen3.context_length": uint32(40960), "tokenizer.ggml.pre": "qwen2",
		}, []string{"qwen3.vocab_size"}},
		// LlamaForCausalLM with rope_scaling llama3: no scaling keys (the
		// rope_freqs tensor instead), vocab_size and rope.dimension_count.
		{"llama3", "LlamaForCausalLM", map[string]any{
			"general.architecture": "llama", "llama.vocab_size": uint32(423), "llama.rope.dimension_count": uint32(16),
			"llama.rope.freq_base": float32(500000), "tokenizer.ggml.pre": "llama-bpe", "tokenizer.ggml.model": "gpt2",
		}, []string{"llama.rope.scaling.type", "tokenizer.ggml.add_space_prefix"}},
		// Llama with tokenizer.model: model llama, pre default, scores.
		{"llama", "LlamaForCausalLM", map[string]any{
			"tokenizer.ggml.model": "llama", "tokenizer.ggml.pre": "default", "tokenizer.ggml.add_bos_token": true,
			"tokenizer.ggml.add_eos_token": false, "tokenizer.ggml.bos_token_id": uint32(1), "tokenizer.ggml.eos_token_id": uint32(2),
		}, []string{"tokenizer.ggml.merges", "tokenizer.ggml.unknown_token_id"}},
		// MistralForCausalLM is LlamaModel's too: architecture llama.
		{"mistral", "MistralForCausalLM", map[string]any{
			"general.architecture": "llama", "llama.context_length": uint32(32768), "llama.attention.layer_norm_rms_epsilon": float32(1e-5),
		}, nil},
	} {
		t.Run(c.kind, func(t *testing.T) {
			dir := fixture(t, c.kind)
			m, err := Open(context.Background(), dir, Options{})
			if err != nil {
				t.Fatal(err)
			}
			kv, err := m.KV(7)
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]any{}
			for _, x := range kv {
				if _, dup := got[x.Key]; dup {
					t.Errorf("key %s written twice", x.Key)
				}
				got[x.Key] = x.Value
			}
			for k, want := range c.kv {
				if !reflect.DeepEqual(got[k], want) {
					t.Errorf("%s = %#v, want %#v", k, got[k], want)
				}
			}
			for _, k := range c.absent {
				if v, ok := got[k]; ok {
					t.Errorf("%s = %#v, which the converter does not write here", k, v)
				}
			}
			if got["general.file_type"] != uint32(7) || got["general.quantization_version"] != uint32(2) {
				t.Errorf("file type %v, quantization version %v", got["general.file_type"], got["general.quantization_version"])
			}

			ref := readReference(t, dir, c.hfArch)
			type ts struct {
				Name  string
				Shape []int64
				F32   bool
			}
			var gotT, wantT []ts
			for _, tt := range m.Tensors {
				if tt.Source != "" {
					gotT = append(gotT, ts{tt.Name, tt.Shape, tt.F32})
				}
			}
			for _, tt := range ref.Tensors {
				wantT = append(wantT, ts{tt.Name, tt.Shape, tt.F32})
			}
			byName := func(x []ts) { sort.Slice(x, func(i, j int) bool { return x[i].Name < x[j].Name }) }
			byName(gotT)
			byName(wantT)
			if !reflect.DeepEqual(gotT, wantT) {
				t.Errorf("tensors\n%v\nthe converter's\n%v", gotT, wantT)
			}
			if ref.Rope != nil {
				rt := m.Tensors[0]
				if rt.Name != "rope_freqs.weight" || len(rt.Data) != len(ref.Rope) {
					t.Fatalf("first tensor %s with %d values, want rope_freqs.weight with %d", rt.Name, len(rt.Data), len(ref.Rope))
				}
				for i, f := range ref.Rope {
					if math.Abs(float64(rt.Data[i])-f) > 1e-6*math.Abs(f) {
						t.Errorf("rope_freqs[%d] = %v, want %v", i, rt.Data[i], f)
					}
				}
			} else if m.Tensors[0].Source == "" {
				t.Errorf("generated tensor %s", m.Tensors[0].Name)
			}

			v := m.Vocab
			if !reflect.DeepEqual(v.Tokens, ref.Vocab.Tokens) {
				t.Errorf("tokens differ from the reference: %s", firstDiff(v.Tokens, ref.Vocab.Tokens))
			}
			if !reflect.DeepEqual(v.Types, ref.Vocab.Types) {
				t.Errorf("token types differ from the reference")
			}
			if ref.Vocab.Scores != nil {
				if len(v.Scores) != len(ref.Vocab.Scores) {
					t.Errorf("%d scores, want %d", len(v.Scores), len(ref.Vocab.Scores))
				}
				for i := range min(len(v.Scores), len(ref.Vocab.Scores)) {
					if float64(v.Scores[i]) != ref.Vocab.Scores[i] {
						t.Errorf("score %d = %v, want %v", i, v.Scores[i], ref.Vocab.Scores[i])
						break
					}
				}
			}
			if len(v.Merges)+len(ref.Vocab.Merges) > 0 && !reflect.DeepEqual(v.Merges, ref.Vocab.Merges) {
				t.Errorf("merges differ from SpecialVocab's: %s", firstDiff(v.Merges, ref.Vocab.Merges))
			}
			if !reflect.DeepEqual(v.Special, ref.Vocab.Special) && !(len(v.Special) == 0 && len(ref.Vocab.Special) == 0) {
				t.Errorf("special tokens %v, SpecialVocab's %v", v.Special, ref.Vocab.Special)
			}
			if !reflect.DeepEqual(v.Add, ref.Vocab.Add) && !(len(v.Add) == 0 && len(ref.Vocab.Add) == 0) {
				// Llama's vocab_size 49152 rule aside, the flags are SpecialVocab's.
				t.Errorf("add flags %v, SpecialVocab's %v", v.Add, ref.Vocab.Add)
			}
			var tmpl *string
			if len(v.ChatTemplates) > 0 {
				tmpl = &v.ChatTemplates[0].Text
			}
			if (tmpl == nil) != (ref.Vocab.ChatTemplate == nil) || tmpl != nil && *tmpl != *ref.Vocab.ChatTemplate {
				t.Errorf("chat template %v, SpecialVocab's %v", tmpl, ref.Vocab.ChatTemplate)
			}
		})
	}
}

func firstDiff(a, b []string) string {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return "at " + itoa(i) + ": " + a[i] + " vs " + b[i]
		}
	}
	return "lengths " + itoa(len(a)) + " and " + itoa(len(b))
}

func itoa(i int) string { b, _ := json.Marshal(i); return string(b) }
