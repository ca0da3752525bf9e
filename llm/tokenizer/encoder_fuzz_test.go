package tokenizer

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"github.com/lightbeam-ml/lightbeam/export/gguf"
)

// byteLevelVocab is a small byte-level BPE vocabulary: the 256 bytes, a
// few merges (one whose result is no token), two control tokens and a
// user-defined one.
func byteLevelVocab(pre string) *Vocab {
	v := &Vocab{Model: "gpt2", Pre: pre}
	add := func(tok string, typ int32) {
		v.Tokens = append(v.Tokens, tok)
		v.Types = append(v.Types, typ)
	}
	add("<|im_start|>", Control)
	add("<|im_end|>", Control)
	add("<tool>", UserDefined)
	for b := range 256 {
		add(string(byteRunes[b]), Normal)
	}
	v.Merges = strings.Fields("Ġ_t h_e Ġt_he i_n n_g i_ng Ġ_a e_r Ġ_Ġ ĠĠ_ĠĠ 1_2 12_3 Ċ_Ċ x_y xy_z Ã_© Ã©_t")
	for i, m := range v.Merges {
		a, b, _ := strings.Cut(m, "_")
		v.Merges[i] = a + " " + b
		if a+b != "xy" { // a merge whose result is no token
			add(a+b, Normal)
		}
	}
	v.SetSpecial("bos", 0)
	v.SetSpecial("eos", 1)
	return v
}

// spmVocab is a small SentencePiece vocabulary with byte fallback.
func spmVocab() *Vocab {
	v := &Vocab{Model: "llama", Pre: "default"}
	add := func(tok string, typ int32, score float32) {
		v.Tokens = append(v.Tokens, tok)
		v.Types = append(v.Types, typ)
		v.Scores = append(v.Scores, score)
	}
	add("<unk>", Unknown, 0)
	add("<s>", Control, 0)
	add("</s>", Control, 0)
	for b := range 256 {
		add(fmt.Sprintf("<0x%02X>", b), Byte, 0)
	}
	for i, p := range strings.Fields("▁ ▁t he ▁the a e r ▁a ▁▁ ▁▁▁▁ in ing ng é ét 東 京 東京") {
		add(p, Normal, -float32(i))
	}
	return v
}

func mustEncoder(t testing.TB, v *Vocab) *Encoder {
	e, err := NewEncoder(v)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// decodeBPE returns the bytes of byte-level ids.
func decodeBPE(v *Vocab, ids []int32) string {
	var b strings.Builder
	for _, id := range ids {
		raw, ok := decodeByteLevel(v.Tokens[id])
		if !ok {
			raw = v.Tokens[id]
		}
		b.WriteString(raw)
	}
	return b.String()
}

// decodeSPM returns the text of SentencePiece ids, bytes for byte tokens
// and ▁ kept.
func decodeSPM(v *Vocab, ids []int32) string {
	var b strings.Builder
	for _, id := range ids {
		if v.Types[id] == Byte {
			var x byte
			fmt.Sscanf(v.Tokens[id], "<0x%02X>", &x)
			b.WriteByte(x)
			continue
		}
		b.WriteString(v.Tokens[id])
	}
	return b.String()
}

func TestEncodeSmallVocabularies(t *testing.T) {
	v := byteLevelVocab("smollm")
	e := mustEncoder(t, v)
	id := func(tok string) int32 { return int32(slices.Index(v.Tokens, tok)) }
	for _, c := range []struct {
		text           string
		special, parse bool
		want           []string
	}{
		{"the theéte", false, false, []string{"t", "he", "Ġthe", "Ã©t", "e"}},
		{"xyz xy", false, false, []string{"xyz", "Ġ", "x", "y"}}, // "xy" is no token: its bytes
		{"<|im_start|>in<tool>", true, true, []string{"<|im_start|>", "in", "<tool>"}},
		{"<|im_start|>in<tool>", false, false, []string{"<", "|", "i", "m", "_", "s", "t", "a", "r", "t", "|", ">", "in", "<tool>"}},
		{"123 1", false, false, []string{"1", "2", "3", "Ġ", "1"}}, // smollm: single digits
	} {
		var want []int32
		for _, tok := range c.want {
			want = append(want, id(tok))
		}
		if got := e.Encode(c.text, c.special, c.parse); !slices.Equal(got, want) {
			t.Errorf("%q: %v, want %v", c.text, got, want)
		}
	}
	if got := mustEncoder(t, byteLevelVocab("llama-bpe")).Encode("", true, true); !slices.Equal(got, []int32{0}) {
		t.Errorf("Llama 3 adds BOS by default: %v", got)
	}
	s := mustEncoder(t, spmVocab())
	if got := s.Encode("the <s>the", true, true); !slices.Equal(got, []int32{1, 262, 259, 1, 262}) {
		t.Errorf("SentencePiece: %v, want [<s> ▁the ▁ <s> ▁the]", got)
	}
	for _, bad := range []*Vocab{
		{Model: "t5"},
		{Model: "gpt2", Pre: "falcon", Tokens: []string{"a"}, Types: []int32{1}, Merges: []string{"a a"}},
		{Model: "gpt2", Pre: "gpt-2", Tokens: []string{"a"}, Types: []int32{1}},
		{Model: "llama", Tokens: []string{"a", "a"}, Types: []int32{1, 1}},
	} {
		if _, err := NewEncoder(bad); err == nil {
			t.Errorf("%+v: no error", bad)
		}
	}
}

// FuzzEncode checks that Encode never panics, that the bytes of
// byte-level BPE ids are the text (U+FFFD for bytes that are not UTF-8),
// and that SentencePiece's cover the text with its space prefix and ▁ for
// spaces.
func FuzzEncode(f *testing.F) {
	for _, s := range sentences {
		f.Add(s)
	}
	f.Add("\xff\xfe<|im_end|>\xe2\x82")
	var bpe []*Encoder
	var bpeVocab []*Vocab
	for _, pre := range []string{"gpt-2", "smollm", "qwen2", "llama-bpe"} {
		v := byteLevelVocab(pre)
		bpe, bpeVocab = append(bpe, mustEncoder(f, v)), append(bpeVocab, v)
	}
	sv := spmVocab()
	spm := mustEncoder(f, sv)
	wv := &Vocab{Model: "bert", Tokens: []string{"[PAD]", "[UNK]", "[CLS]", "[SEP]", "▁a", "▁ab", "b", "▁東", "▁.", "▁cafe"},
		Types: []int32{Control, Control, Control, Control, Normal, Normal, Normal, Normal, Normal, Normal}}
	wv.SetSpecial("bos", 2)
	wv.SetSpecial("sep", 3)
	wv.SetSpecial("unk", 1)
	wpm := mustEncoder(f, wv)
	f.Fuzz(func(t *testing.T, text string) {
		for i, e := range bpe {
			for _, parse := range []bool{false, true} {
				ids := e.Encode(text, false, parse)
				if got := decodeBPE(bpeVocab[i], ids); got != sanitize(text) {
					t.Fatalf("%s: %q gives %v, which is %q", bpeVocab[i].Pre, text, ids, got)
				}
			}
		}
		ids := spm.Encode(text, false, false)
		want := strings.ReplaceAll(" "+text, " ", "\u2581") // the text SentencePiece covers
		if text == "" {
			want = ""
		}
		if decodeSPM(sv, ids) != want {
			t.Fatalf("SentencePiece: %q gives %v, which is %q", text, ids, decodeSPM(sv, ids))
		}
		ids = wpm.Encode(text, true, true)
		if len(ids) < 2 || ids[0] != 2 || ids[len(ids)-1] != 3 {
			t.Fatalf("WordPiece: %q gives %v", text, ids)
		}
		if utf8.ValidString(text) && strings.TrimSpace(text) == "" && len(ids) != 2 {
			t.Fatalf("WordPiece: blank %q gives %v", text, ids)
		}
	})
}

func TestVocabFromGGUFErrors(t *testing.T) {
	for _, c := range []struct {
		kv   []gguf.KV
		want string
	}{
		{nil, "no tokenizer.ggml.model"},
		{[]gguf.KV{{Key: "tokenizer.ggml.model", Value: "gpt2"}}, "no tokenizer.ggml.tokens"},
		{[]gguf.KV{{Key: "tokenizer.ggml.model", Value: "gpt2"}, {Key: "tokenizer.ggml.tokens", Value: []string{"a", "b"}},
			{Key: "tokenizer.ggml.token_type", Value: []int32{1}}}, "2 tokens but 1 token types"},
		{[]gguf.KV{{Key: "tokenizer.ggml.model", Value: "gpt2"}, {Key: "tokenizer.ggml.tokens", Value: []string{"a"}},
			{Key: "tokenizer.ggml.bos_token_id", Value: "x"}}, "bos_token_id is string"},
	} {
		if _, err := VocabFromGGUF(&gguf.File{KV: c.kv}); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: %v, want an error with %q", c.kv, err, c.want)
		}
	}
	// What Vocab.KV writes comes back.
	v := spmVocab()
	f := false
	v.AddSpacePrefix = &f
	v.SetSpecial("unk", 0)
	v.SetAdd("bos", true)
	back, err := VocabFromGGUF(&gguf.File{KV: v.KV()})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(back.Tokens, v.Tokens) || !slices.Equal(back.Scores, v.Scores) || !slices.Equal(back.Types, v.Types) ||
		*back.AddSpacePrefix || !slices.Equal(back.Add, v.Add) || len(back.Special) != 1 {
		t.Errorf("read back %+v", back)
	}
}

// TestEncodeConcurrently encodes from several goroutines at once (run it
// with -race).
func TestEncodeConcurrently(t *testing.T) {
	e := mustEncoder(t, byteLevelVocab("qwen2"))
	text := strings.Repeat(strings.Join(sentences, "\n"), 20)
	want := e.Encode(text, true, true)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			if got := e.Encode(text, true, true); !slices.Equal(got, want) {
				t.Error("a concurrent Encode gave other ids")
			}
		})
	}
	wg.Wait()
}
