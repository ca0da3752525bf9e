package tokenizer

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
)

// Regular expressions of the pre-tokenizers lightbeam recognizes, as
// tokenizer.json writes them (Split's pattern.Regex).
const (
	llama3Split = `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
	qwen2Split  = `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
)

// knownPre maps, per family, a tokenizer's signature (Signature) to the
// name llama.cpp's converter gives it. Each entry was checked against the
// converter's hash of a real tokenizer of that kind (scripts/fixtures/
// pre_hash.py): SmolLM2-135M-Instruct gives smollm's hash, all-MiniLM-L6-v2
// (bert-base-uncased's vocabulary) the hash listed for both bert-bge and
// jina-v2-en, of which the converter's last match, jina-v2-en, wins.
var knownPre = map[string]map[string]string{
	"llama": {
		"normalizer=null pre=[Digits(individual) ByteLevel(prefix=false,regex=true)]":                   "smollm",
		"normalizer=null pre=[Split(" + llama3Split + ",Isolated) ByteLevel(prefix=false,regex=false)]": "llama-bpe",
	},
	"qwen2": {
		"normalizer=NFC pre=[Split(" + qwen2Split + ",Isolated) ByteLevel(prefix=false,regex=false)]": "qwen2",
	},
	"bert": {
		"normalizer=Bert(lowercase) pre=BertPreTokenizer": "jina-v2-en",
	},
}

// preNames are the pre-tokenizer names llama.cpp's converter writes (its
// get_vocab_base_pre table, and "default"): what --tokenizer-pre accepts.
var preNames = strings.Fields(`default chatglm-bpe glm4 minerva-7b hunyuan hunyuan-dense falcon-h1 kimi-k2
qwen2 grok-2 jina-v2-de gpt-2 llama-bpe deepseek-llm deepseek-coder falcon bert-bge falcon3
bert-bge-large mpt starcoder stablelm2 refact command-r tiny_aya olmo dbrx jina-v1-en jina-v2-en
jina-v2-es jina-v5-nano smaug-bpe poro-chat jina-v2-code viking jais jais-2 codeshell tekken smollm
bloom gpt3-finnish exaone phi-2 chameleon roberta-bpe gigachat megrez deepseek-v3 deepseek-r1-qwen
gpt-4o superbpe trillion bailingmoe llama4 pixtral seed-coder a.x-4.0 midm-2.0 lfm2 exaone4 mellum
modern-bert afmoe bailingmoe2 granite-docling minimax-m2 kormo youtu solar-open exaone-moe qwen35
joyai-llm kanana2 f2llmv2`)

// KnownPre reports whether name is a pre-tokenizer name llama.cpp knows.
func KnownPre(name string) bool {
	for _, n := range preNames {
		if n == name {
			return true
		}
	}
	return false
}

// choosePre returns tokenizer.ggml.pre for t: the override when given, else
// the recognized name, else an error that names --tokenizer-pre.
func choosePre(t *hfTokenizer, o Options) (string, error) {
	if o.Pre != "" {
		if !KnownPre(o.Pre) {
			return "", fmt.Errorf("tokenizer: --tokenizer-pre=%s is not a pre-tokenizer llama.cpp knows (one of: %s)", o.Pre, strings.Join(sortedNames(), ", "))
		}
		return o.Pre, nil
	}
	sig, err := t.signature()
	if err != nil {
		return "", err
	}
	if name, ok := knownPre[o.Family][sig]; ok {
		return name, nil
	}
	return "", fmt.Errorf("tokenizer: %s: unknown pre-tokenizer for a %s model (%s); llama.cpp needs its name: give it with --tokenizer-pre=NAME (convert_hf_to_gguf.py's get_vocab_base_pre lists them)", t.path, o.Family, sig)
}

func sortedNames() []string {
	s := append([]string{}, preNames...)
	sort.Strings(s)
	return s
}

// signature describes t's normalizer and pre-tokenizer by the fields that
// decide how text is split, e.g.
//
//	normalizer=NFC pre=[Split(REGEX,Isolated) ByteLevel(prefix=false,regex=false)]
func (t *hfTokenizer) signature() (string, error) {
	var norm, pre any
	if len(t.Normalizer) > 0 {
		if err := json.Unmarshal(t.Normalizer, &norm); err != nil {
			return "", fmt.Errorf("tokenizer: %s: normalizer: %w", t.path, err)
		}
	}
	if len(t.PreTokenizer) > 0 {
		if err := json.Unmarshal(t.PreTokenizer, &pre); err != nil {
			return "", fmt.Errorf("tokenizer: %s: pre_tokenizer: %w", t.path, err)
		}
	}
	return "normalizer=" + describe(norm) + " pre=" + describe(pre), nil
}

func describe(v any) string {
	m, ok := v.(map[string]any)
	if !ok {
		return "null"
	}
	typ, _ := m["type"].(string)
	flag := func(k string) string { return fmt.Sprint(m[k]) }
	switch typ {
	case "Sequence":
		list, _ := m["pretokenizers"].([]any)
		if list == nil {
			list, _ = m["normalizers"].([]any)
		}
		parts := make([]string, len(list))
		for i, x := range list {
			parts[i] = describe(x)
		}
		return "[" + strings.Join(parts, " ") + "]"
	case "Digits":
		if m["individual_digits"] == true {
			return "Digits(individual)"
		}
		return "Digits"
	case "ByteLevel":
		return "ByteLevel(prefix=" + flag("add_prefix_space") + ",regex=" + flag("use_regex") + ")"
	case "Split":
		p, _ := m["pattern"].(map[string]any)
		pat, isRegex := p["Regex"].(string)
		if !isRegex {
			pat = fmt.Sprintf("String:%v", p["String"])
		}
		s := "Split(" + pat + "," + flag("behavior")
		if m["invert"] == true {
			s += ",invert"
		}
		return s + ")"
	case "BertNormalizer":
		if m["lowercase"] == true {
			return "Bert(lowercase)"
		}
		return "Bert(cased)"
	}
	return typ
}
