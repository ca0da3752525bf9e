package tokenizer

import (
	"fmt"

	"github.com/lightbeam-ml/lightbeam/export/gguf"
)

// VocabFromGGUF reads a vocabulary back from a GGUF file's tokenizer.ggml.*
// keys (what Vocab.KV writes, and llama.cpp's converter too), so that a
// GGUF file can be encoded as llama.cpp encodes it. Chat templates are not
// read.
func VocabFromGGUF(f *gguf.File) (*Vocab, error) {
	v := &Vocab{}
	var ok bool
	if v.Model, ok = f.Lookup("tokenizer.ggml.model").(string); !ok {
		return nil, fmt.Errorf("tokenizer: the GGUF file has no tokenizer.ggml.model")
	}
	v.Pre, _ = f.Lookup("tokenizer.ggml.pre").(string)
	if v.Tokens, ok = f.Lookup("tokenizer.ggml.tokens").([]string); !ok {
		return nil, fmt.Errorf("tokenizer: the GGUF file has no tokenizer.ggml.tokens (an array of strings)")
	}
	n := len(v.Tokens)
	switch t := f.Lookup("tokenizer.ggml.token_type").(type) {
	case nil:
		v.Types = make([]int32, n)
		for i := range v.Types {
			v.Types[i] = Normal
		}
	case []int32:
		v.Types = t
	default:
		return nil, fmt.Errorf("tokenizer: tokenizer.ggml.token_type is %T, want int32s", t)
	}
	switch s := f.Lookup("tokenizer.ggml.scores").(type) {
	case nil:
	case []float32:
		v.Scores = s
	case []int32:
		v.Scores = make([]float32, len(s))
		for i, x := range s {
			v.Scores[i] = float32(x)
		}
	default:
		return nil, fmt.Errorf("tokenizer: tokenizer.ggml.scores is %T, want float32s", s)
	}
	if len(v.Types) < n || v.Scores != nil && len(v.Scores) < n {
		return nil, fmt.Errorf("tokenizer: %d tokens but %d token types and %d scores", n, len(v.Types), len(v.Scores))
	}
	v.Types = v.Types[:n]
	if v.Scores != nil {
		v.Scores = v.Scores[:n]
	}
	if m := f.Lookup("tokenizer.ggml.merges"); m != nil {
		if v.Merges, ok = m.([]string); !ok {
			return nil, fmt.Errorf("tokenizer: tokenizer.ggml.merges is %T, want strings", m)
		}
	}
	if b, ok := f.Lookup("tokenizer.ggml.add_space_prefix").(bool); ok {
		v.AddSpacePrefix = &b
	}
	if c, ok := f.Lookup("tokenizer.ggml.token_type_count").(uint32); ok {
		v.TokenTypeCount = int(c)
	}
	for _, kv := range f.KV {
		for typ, key := range specialKey {
			if kv.Key == key {
				id, ok := uintValue(kv.Value)
				if !ok {
					return nil, fmt.Errorf("tokenizer: %s is %T, want an integer", key, kv.Value)
				}
				v.SetSpecial(typ, id)
			}
		}
		for typ, key := range addKey {
			if b, ok := kv.Value.(bool); ok && kv.Key == key {
				v.SetAdd(typ, b)
			}
		}
	}
	return v, nil
}

func uintValue(x any) (uint32, bool) {
	switch x := x.(type) {
	case uint32:
		return x, true
	case int32:
		return uint32(x), x >= 0
	case uint64:
		return uint32(x), x <= 1<<32-1
	case int64:
		return uint32(x), x >= 0 && x <= 1<<32-1
	}
	return 0, false
}
