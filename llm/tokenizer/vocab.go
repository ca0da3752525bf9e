package tokenizer

import (
	"fmt"
	"sort"
	"strings"

	"github.com/lightbeam-ml/lightbeam/export/gguf"
)

// Token types, as llama.cpp numbers them (gguf.TokenType, and
// SentencePiece's piece types).
const (
	Normal      int32 = 1
	Unknown     int32 = 2
	Control     int32 = 3
	UserDefined int32 = 4
	Unused      int32 = 5
	Byte        int32 = 6
)

// Special is one special token id: Type is bos, eos, unk, sep, pad, cls,
// mask, eot, eom, prefix, suffix or middle.
type Special struct {
	Type string
	ID   uint32
}

// AddFlag is one add_{Type}_token flag (bos, eos, sep).
type AddFlag struct {
	Type  string
	Value bool
}

// Template is one chat template; Name "" is the default one.
type Template struct {
	Name, Text string
}

// Vocab is a model's vocabulary as the GGUF keys hold it.
type Vocab struct {
	Model  string    // tokenizer.ggml.model: "gpt2", "bert" or "llama"
	Pre    string    // tokenizer.ggml.pre
	Tokens []string  // one per id, padded to the model's vocab_size
	Types  []int32   // token types, one per token
	Scores []float32 // SentencePiece scores; nil for the other models
	Merges []string  // BPE merges "a b", in rank order; nil for the others

	// TokenTypeCount is BERT's number of token types (type_vocab_size),
	// written as tokenizer.ggml.token_type_count when positive.
	TokenTypeCount int
	// AddSpacePrefix is tokenizer.ggml.add_space_prefix when set (the
	// Llama converter copies tokenizer_config.json's add_prefix_space).
	AddSpacePrefix *bool
	Special        []Special
	Add            []AddFlag
	ChatTemplates  []Template
}

// SetAdd sets an add_{typ}_token flag, in place if it is there already
// (the converter's writer overwrites a key it is given twice).
func (v *Vocab) SetAdd(typ string, value bool) {
	for i := range v.Add {
		if v.Add[i].Type == typ {
			v.Add[i].Value = value
			return
		}
	}
	v.Add = append(v.Add, AddFlag{typ, value})
}

// SetSpecial sets a special token id, replacing one of the same type.
func (v *Vocab) SetSpecial(typ string, id uint32) {
	for i := range v.Special {
		if v.Special[i].Type == typ {
			v.Special[i].ID = id
			return
		}
	}
	v.Special = append(v.Special, Special{typ, id})
}

// SpecialID returns the id of a special token type.
func (v *Vocab) SpecialID(typ string) (uint32, bool) {
	for _, s := range v.Special {
		if s.Type == typ {
			return s.ID, true
		}
	}
	return 0, false
}

// specialKey is the GGUF key of each special token type (llama.cpp spells
// the separator "seperator").
var specialKey = map[string]string{
	"bos": "tokenizer.ggml.bos_token_id", "eos": "tokenizer.ggml.eos_token_id",
	"unk": "tokenizer.ggml.unknown_token_id", "sep": "tokenizer.ggml.seperator_token_id",
	"pad": "tokenizer.ggml.padding_token_id", "cls": "tokenizer.ggml.cls_token_id",
	"mask": "tokenizer.ggml.mask_token_id", "eot": "tokenizer.ggml.eot_token_id",
	"eom": "tokenizer.ggml.eom_token_id", "prefix": "tokenizer.ggml.prefix_token_id",
	"suffix": "tokenizer.ggml.suffix_token_id", "middle": "tokenizer.ggml.middle_token_id",
}

// addKey is the GGUF key of each add flag the converter's writer has.
var addKey = map[string]string{
	"bos": "tokenizer.ggml.add_bos_token", "eos": "tokenizer.ggml.add_eos_token",
	"sep": "tokenizer.ggml.add_sep_token",
}

// KV returns the vocabulary's GGUF keys, in the order the converter
// writes them.
func (v *Vocab) KV() []gguf.KV {
	var kv []gguf.KV
	if v.AddSpacePrefix != nil {
		kv = append(kv, gguf.KV{Key: "tokenizer.ggml.add_space_prefix", Value: *v.AddSpacePrefix})
	}
	if v.TokenTypeCount > 0 {
		kv = append(kv, gguf.KV{Key: "tokenizer.ggml.token_type_count", Value: uint32(v.TokenTypeCount)})
	}
	kv = append(kv,
		gguf.KV{Key: "tokenizer.ggml.model", Value: v.Model},
		gguf.KV{Key: "tokenizer.ggml.pre", Value: v.Pre},
		gguf.KV{Key: "tokenizer.ggml.tokens", Value: v.Tokens})
	if v.Scores != nil {
		kv = append(kv, gguf.KV{Key: "tokenizer.ggml.scores", Value: v.Scores})
	}
	kv = append(kv, gguf.KV{Key: "tokenizer.ggml.token_type", Value: v.Types})
	if len(v.Merges) > 0 {
		kv = append(kv, gguf.KV{Key: "tokenizer.ggml.merges", Value: v.Merges})
	}
	for _, s := range v.Special {
		if k, ok := specialKey[s.Type]; ok {
			kv = append(kv, gguf.KV{Key: k, Value: s.ID})
		}
	}
	for _, a := range v.Add {
		if k, ok := addKey[a.Type]; ok {
			kv = append(kv, gguf.KV{Key: k, Value: a.Value})
		}
	}
	kv = append(kv, templateKV(v.ChatTemplates)...)
	return kv
}

// templateKV writes chat templates as the converter's writer does: the
// default one as tokenizer.chat_template, named ones as
// tokenizer.chat_template.NAME (name characters other than letters and
// digits become _) listed in tokenizer.chat_templates.
func templateKV(ts []Template) []gguf.KV {
	var kv []gguf.KV
	var names []string
	def := -1
	for i, t := range ts {
		if t.Name == "" || t.Name == "default" {
			def = i
			continue
		}
		name := strings.Map(func(r rune) rune {
			if r < 128 && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
				return r
			}
			return '_'
		}, t.Name)
		names = append(names, name)
		kv = append(kv, gguf.KV{Key: "tokenizer.chat_template." + name, Value: t.Text})
	}
	if len(names) > 0 {
		sort.Strings(names)
		kv = append(kv, gguf.KV{Key: "tokenizer.chat_templates", Value: names})
	}
	if def >= 0 {
		kv = append(kv, gguf.KV{Key: "tokenizer.chat_template", Value: ts[def].Text})
	}
	return kv
}

// looksSpecial is the converter's does_token_look_special: added tokens
// that some models do not mark special but that are control tokens.
func looksSpecial(tok string) bool {
	switch tok {
	case "<pad>", "<mask>", "<2mass>", "[@BOS@]":
		return true
	}
	return strings.HasPrefix(tok, "<|") && strings.HasSuffix(tok, "|>") ||
		strings.HasPrefix(tok, "<｜") && strings.HasSuffix(tok, "｜>") ||
		strings.HasPrefix(tok, "<unused") && strings.HasSuffix(tok, ">")
}

func padToken(i int) string { return fmt.Sprintf("[PAD%d]", i) }
