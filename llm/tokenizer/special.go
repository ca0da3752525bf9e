package tokenizer

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
)

type specialOptions struct {
	nVocab     int  // ids at or past it are skipped; 0: no bound
	loadMerges bool // BPE: the merges of tokenizer.json
}

// defaultSpecialTypes are the special token types gguf-py's SpecialVocab
// looks for.
var defaultSpecialTypes = []string{"bos", "eos", "unk", "sep", "pad", "cls", "mask"}

// specialLoader is gguf-py's SpecialVocab: special token ids, add flags,
// merges and the chat template from tokenizer.json, tokenizer_config.json
// and config.json, with the same precedence (the first id found for a
// type wins).
type specialLoader struct {
	v     *Vocab
	o     specialOptions
	types []string
	set   map[string]bool
	dir   string
}

// loadSpecial fills v's merges (when asked), special ids, add flags and
// chat templates. t is the tokenizer.json, or nil.
func loadSpecial(ctx context.Context, dir string, t *hfTokenizer, v *Vocab, o specialOptions) error {
	l := &specialLoader{v: v, o: o, types: append([]string{}, defaultSpecialTypes...), set: map[string]bool{}, dir: dir}
	for _, s := range v.Special {
		l.set[s.Type] = true
	}
	if err := l.fromTokenizerJSON(ctx, t); err != nil {
		return err
	}
	return l.fromConfigJSON(ctx)
}

func (l *specialLoader) setSpecial(typ string, id any) error {
	f, ok := id.(float64)
	if !ok || f != math.Trunc(f) {
		return nil // the converter takes ints only
	}
	if f < 0 {
		return fmt.Errorf("tokenizer: %s: invalid value for special token type %s: %v", l.dir, typ, f)
	}
	if l.o.nVocab > 0 && int(f) >= l.o.nVocab {
		return nil // out of range: the converter warns and skips it
	}
	if l.set[typ] {
		return nil
	}
	l.set[typ] = true
	l.v.Special = append(l.v.Special, Special{typ, uint32(f)})
	return nil
}

// truthy is Python's truth of a JSON value.
func truthy(v any) bool {
	switch x := v.(type) {
	case nil:
		return false
	case bool:
		return x
	case string:
		return x != ""
	case float64:
		return x != 0
	case []any:
		return len(x) > 0
	case map[string]any:
		return len(x) > 0
	}
	return true
}

// same is Python's == between a JSON value and a string.
func same(v any, s string) bool { x, ok := v.(string); return ok && x == s }

func templateID(item any) string {
	m, _ := item.(map[string]any)
	st, _ := m["SpecialToken"].(map[string]any)
	id, _ := st["id"].(string)
	return id
}

func sequenceID(item any) string {
	m, _ := item.(map[string]any)
	sq, _ := m["Sequence"].(map[string]any)
	id, _ := sq["id"].(string)
	return id
}

func (l *specialLoader) fromTokenizerJSON(ctx context.Context, t *hfTokenizer) error {
	var added []addedToken
	if t != nil {
		if l.o.loadMerges {
			m, err := t.merges()
			if err != nil {
				return err
			}
			l.v.Merges = m
		}
		added = t.AddedTokens
	}
	var tc map[string]any
	if _, err := readJSON(ctx, l.dir, "tokenizer_config.json", &tc); err != nil {
		return err
	}
	if t != nil {
		if err := l.postProcessor(t, tc); err != nil {
			return err
		}
	}
	if len(tc) == 0 {
		return nil
	}
	if err := l.chatTemplate(ctx, tc); err != nil {
		return err
	}
	for _, typ := range l.types {
		if b, ok := tc["add_"+typ+"_token"].(bool); ok {
			l.v.SetAdd(typ, b)
		}
		var content string
		switch e := tc[typ+"_token"].(type) {
		case string:
			content = e
		case map[string]any:
			c, ok := e["content"].(string)
			if !ok {
				continue
			}
			content = c
		default:
			continue
		}
		for _, a := range added {
			if a.Content == content {
				if err := l.setSpecial(typ, float64(a.ID)); err != nil {
					return err
				}
				break
			}
		}
	}
	return nil
}

// postProcessor is SpecialVocab's reading of tokenizer.json's
// post-processor: RobertaProcessing adds bos, eos and sep; a
// TemplateProcessing's single template says whether bos and eos are added
// (its crude parse is kept as it is, since its answers are what llama.cpp
// files hold), and its pair template whether sep is. tc may be changed,
// as the converter changes it.
func (l *specialLoader) postProcessor(t *hfTokenizer, tc map[string]any) error {
	if len(t.PostProcessor) == 0 || string(t.PostProcessor) == "null" {
		return nil
	}
	var pp map[string]any
	if err := json.Unmarshal(t.PostProcessor, &pp); err != nil {
		return fmt.Errorf("tokenizer: %s: post_processor: %w", t.path, err)
	}
	procs := []any{pp}
	if ps, ok := pp["processors"].([]any); ok {
		procs = ps
	}
	get := func(k string) any {
		if tc == nil {
			return nil
		}
		return tc[k]
	}
	bos, cls, eos, sep := get("bos_token"), get("cls_token"), get("eos_token"), get("sep_token")
	if !truthy(bos) && truthy(cls) && len(tc) > 0 {
		tc["bos_token"], bos = cls, cls
	}
	if !truthy(eos) && truthy(sep) && len(tc) > 0 {
		tc["eos_token"], eos = sep, sep
	}
	for _, p := range procs {
		proc, _ := p.(map[string]any)
		switch proc["type"] {
		case "RobertaProcessing":
			l.v.SetAdd("bos", true)
			l.v.SetAdd("eos", true)
			l.v.SetAdd("sep", true)
			if !truthy(cls) && len(tc) > 0 {
				cls = firstOf(proc["cls"], bos)
				tc["cls_token"] = cls
			}
			if !truthy(sep) && len(tc) > 0 {
				sep = firstOf(proc["sep"], eos)
				tc["sep_token"] = sep
			}
		case "TemplateProcessing":
			single, _ := proc["single"].([]any)
			pair, _ := proc["pair"].([]any)
			var first, last string
			if len(single) > 1 {
				if first = templateID(single[0]); first != "" {
					if len(tc) == 0 {
						bos = first
					}
					l.v.SetAdd("bos", same(bos, first) || same(cls, first))
				}
				if last = templateID(single[len(single)-1]); last != "" {
					if len(tc) == 0 {
						eos = last
					} else if !same(eos, last) {
						switch {
						case !contains(l.types, "eot"):
							l.types = append(l.types, "eot")
							tc["eot_token"] = eos
						case !contains(l.types, "eom"):
							l.types = append(l.types, "eom")
							tc["eom_token"] = eos
						}
						tc["eos_token"], eos = last, last
					}
					l.v.SetAdd("eos", same(eos, last))
				}
			}
			if len(pair) > 0 {
				start, stop := 0, len(pair)
				if first != "" && templateID(pair[0]) == first {
					start = 1
				}
				if last != "" && templateID(pair[len(pair)-1]) == last {
					stop = len(pair) - 1
				}
				if start < stop {
					mid := pair[start:stop]
					a, b := sequenceID(mid[0]), sequenceID(mid[len(mid)-1])
					if a == "A" && b == "B" && len(mid) > 2 {
						mid = mid[1 : len(mid)-1]
						addSep := false
						if e := templateID(mid[0]); e != "" {
							if (same(sep, e) || same(eos, e)) && last == "" {
								addSep = true
							}
						}
						if len(mid) == 2 {
							if e := templateID(mid[1]); e != "" && (same(sep, e) || same(eos, e)) {
								addSep = true
							}
						}
						l.v.SetAdd("sep", addSep)
						if addSep && !truthy(sep) && len(tc) > 0 {
							tc["sep_token"] = eos
						}
					}
				}
			}
		}
	}
	return nil
}

func firstOf(list any, def any) any {
	if xs, ok := list.([]any); ok && len(xs) > 0 {
		return xs[0]
	}
	return def
}

func contains(xs []string, s string) bool {
	for _, x := range xs {
		if x == s {
			return true
		}
	}
	return false
}

// chatTemplate reads tokenizer_config.json's chat_template (a string, or a
// list of {name, template}), else chat_template.jinja, else
// chat_template.json's chat_template.
func (l *specialLoader) chatTemplate(ctx context.Context, tc map[string]any) error {
	ct, ok := tc["chat_template"]
	if !ok {
		b, err := readFile(ctx, l.dir, "chat_template.jinja")
		if err != nil {
			return err
		}
		if b != nil {
			ct = string(b)
		} else {
			var cj map[string]any
			if _, err := readJSON(ctx, l.dir, "chat_template.json", &cj); err != nil {
				return err
			}
			ct = cj["chat_template"]
		}
	}
	switch x := ct.(type) {
	case string:
		l.v.ChatTemplates = []Template{{Text: x}}
	case []any:
		for _, item := range x {
			m, _ := item.(map[string]any)
			name, _ := m["name"].(string)
			text, ok := m["template"].(string)
			if name != "" && ok {
				if name == "default" {
					name = ""
				}
				l.v.ChatTemplates = append(l.v.ChatTemplates, Template{name, text})
			}
		}
	}
	return nil
}

func (l *specialLoader) fromConfigJSON(ctx context.Context) error {
	var cfg map[string]any
	ok, err := readJSON(ctx, l.dir, "config.json", &cfg)
	if err != nil || !ok {
		return err
	}
	text, _ := cfg["text_config"].(map[string]any)
	for _, typ := range l.types {
		id, ok := cfg[typ+"_token_id"]
		if (!ok || id == nil) && text != nil {
			id = text[typ+"_token_id"]
		}
		if err := l.setSpecial(typ, id); err != nil {
			return err
		}
	}
	return nil
}
