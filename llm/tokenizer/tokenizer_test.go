package tokenizer

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"

	"github.com/lightbeam-ml/lightbeam/internal/pyenv"
)

func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	d := t.TempDir()
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(d, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return d
}

// TestSentencePieceAgainstLibrary parses a tokenizer.model that
// sentencepiece's trainer wrote and compares every piece, score and type
// with what sentencepiece's processor reports.
func TestSentencePieceAgainstLibrary(t *testing.T) {
	py := pyenv.Need(t, "sentencepiece", "tokenizers", "safetensors", "numpy")
	_, file, _, _ := runtime.Caller(0)
	script := filepath.Join(filepath.Dir(file), "../../scripts/fixtures/tiny_hf_dirs.py")
	root := t.TempDir()
	if out, err := exec.Command(py, script, root, "llama").CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	path := filepath.Join(root, "llama", "tokenizer.model")
	out, err := exec.Command(py, "-c", `
import json, sys
from sentencepiece import SentencePieceProcessor
sp = SentencePieceProcessor(); sp.LoadFromFile(sys.argv[1])
def typ(i):
    for t, f in ((2, sp.IsUnknown), (3, sp.IsControl), (5, sp.IsUnused), (6, sp.IsByte)):
        if f(i): return t
    return 4 if sp.IdToPiece(i) == "<tool>" else 1
print(json.dumps([[sp.IdToPiece(i), sp.GetScore(i), typ(i)] for i in range(sp.GetPieceSize())]))
`, path).Output()
	if err != nil {
		t.Fatal(err)
	}
	var want [][3]any
	if err := json.Unmarshal(out, &want); err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(path)
	got, err := parseSentencePiece(raw, path)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("%d pieces, sentencepiece has %d", len(got), len(want))
	}
	seen := map[int32]int{}
	for i, p := range got {
		w := want[i]
		if p.piece != w[0].(string) || float64(p.score) != w[1].(float64) || float64(p.typ) != w[2].(float64) {
			t.Errorf("piece %d: %q %v %d, sentencepiece: %v", i, p.piece, p.score, p.typ, w)
		}
		seen[p.typ]++
	}
	if seen[Byte] != 256 || seen[UserDefined] != 1 || seen[Control] != 2 || seen[Unknown] != 1 {
		t.Errorf("piece types %v: want 256 bytes, 1 user-defined, 2 control, 1 unknown", seen)
	}
	if _, err := parseSentencePiece([]byte{0x0a, 0x7f, 1}, "x.model"); err == nil || !strings.Contains(err.Error(), "x.model: not a SentencePiece model") {
		t.Errorf("truncated model: %v", err)
	}
}

func TestMergesFormats(t *testing.T) {
	for _, merges := range []string{`["Ġ t", "a b"]`, `[["Ġ", "t"], ["a", "b"]]`} {
		tj := &hfTokenizer{path: "tokenizer.json"}
		tj.Model.Merges = json.RawMessage(merges)
		got, err := tj.merges()
		if err != nil || !reflect.DeepEqual(got, []string{"Ġ t", "a b"}) {
			t.Errorf("%s: %q %v", merges, got, err)
		}
	}
	tj := &hfTokenizer{path: "tokenizer.json"}
	tj.Model.Merges = json.RawMessage(`[["a b", "c"]]`) // a space inside a part
	if got, _ := tj.merges(); !reflect.DeepEqual(got, []string{"aĠb c"}) {
		t.Errorf("space in a merge part: %q", got)
	}
	tj.Model.Merges = json.RawMessage(`[["a"]]`)
	if _, err := tj.merges(); err == nil {
		t.Error("a one-part merge was read")
	}
}

func TestRecognize(t *testing.T) {
	bytelevel := `{"type":"ByteLevel","add_prefix_space":false,"trim_offsets":false,"use_regex":false}`
	split := func(re string) string {
		b, _ := json.Marshal(re)
		return `{"type":"Split","pattern":{"Regex":` + string(b) + `},"behavior":"Isolated","invert":false}`
	}
	for _, c := range []struct{ family, norm, pre, want string }{
		{"qwen2", `{"type":"NFC"}`, `{"type":"Sequence","pretokenizers":[` + split(qwen2Split) + `,` + bytelevel + `]}`, "qwen2"},
		{"llama", `null`, `{"type":"Sequence","pretokenizers":[` + split(llama3Split) + `,` + bytelevel + `]}`, "llama-bpe"},
		{"llama", `null`, `{"type":"Sequence","pretokenizers":[{"type":"Digits","individual_digits":true},{"type":"ByteLevel","add_prefix_space":false,"use_regex":true}]}`, "smollm"},
		{"bert", `{"type":"BertNormalizer","lowercase":true}`, `{"type":"BertPreTokenizer"}`, "jina-v2-en"},
		// Qwen2's pre-tokenizer in a Llama: not a tokenizer lightbeam has
		// checked against the converter's hashes.
		{"llama", `{"type":"NFC"}`, `{"type":"Sequence","pretokenizers":[` + split(qwen2Split) + `,` + bytelevel + `]}`, ""},
		{"bert", `{"type":"BertNormalizer","lowercase":false}`, `{"type":"BertPreTokenizer"}`, ""},
		{"qwen2", `{"type":"NFC"}`, `{"type":"Sequence","pretokenizers":[` + split(llama3Split) + `,` + bytelevel + `]}`, ""},
	} {
		tj := &hfTokenizer{path: "d/tokenizer.json", Normalizer: json.RawMessage(c.norm), PreTokenizer: json.RawMessage(c.pre)}
		got, err := choosePre(tj, Options{Family: c.family})
		if c.want == "" {
			if err == nil || !strings.Contains(err.Error(), "--tokenizer-pre=NAME") || !strings.Contains(err.Error(), "d/tokenizer.json") {
				t.Errorf("%s %s: %q, %v; want an error naming --tokenizer-pre", c.family, c.pre, got, err)
			}
			if got, err := choosePre(tj, Options{Family: c.family, Pre: "gpt-2"}); got != "gpt-2" || err != nil {
				t.Errorf("override: %q %v", got, err)
			}
			continue
		}
		if got != c.want || err != nil {
			t.Errorf("%s %s: %q, %v; want %q", c.family, c.pre, got, err, c.want)
		}
	}
}

func TestSpecialFromConfigs(t *testing.T) {
	ctx := context.Background()
	// RobertaProcessing: bos, eos and sep added; cls and sep taken from it.
	d := writeFiles(t, map[string]string{
		"tokenizer.json": `{"added_tokens":[{"id":0,"content":"<s>","special":true},{"id":2,"content":"</s>","special":true}],
			"post_processor":{"type":"RobertaProcessing","sep":["</s>",2],"cls":["<s>",0]}}`,
		"tokenizer_config.json": `{"bos_token":"<s>","eos_token":{"content":"</s>","lstrip":false},"add_eos_token":false,
			"chat_template":[{"name":"default","template":"D"},{"name":"tool use","template":"T"}]}`,
		"config.json": `{"pad_token_id": 1, "unk_token_id": 99, "mask_token_id": 2.5}`,
	})
	v := &Vocab{}
	if err := loadSpecial(ctx, d, mustTokenizer(t, d), v, specialOptions{nVocab: 50}); err != nil {
		t.Fatal(err)
	}
	wantSpecial := []Special{{"bos", 0}, {"eos", 2}, {"sep", 2}, {"cls", 0}, {"pad", 1}} // unk 99 ≥ 50: skipped; mask not an int
	if !reflect.DeepEqual(v.Special, wantSpecial) {
		t.Errorf("special %v, want %v", v.Special, wantSpecial)
	}
	if want := []AddFlag{{"bos", true}, {"eos", false}, {"sep", true}}; !reflect.DeepEqual(v.Add, want) {
		t.Errorf("add %v, want %v", v.Add, want)
	}
	kv := map[string]any{}
	for _, x := range v.KV() {
		kv[x.Key] = x.Value
	}
	if kv["tokenizer.chat_template"] != "D" || kv["tokenizer.chat_template.tool_use"] != "T" ||
		!reflect.DeepEqual(kv["tokenizer.chat_templates"], []string{"tool_use"}) {
		t.Errorf("templates %v", kv)
	}
	// The GGUF keys' value types are the converter's writer's.
	for _, x := range v.KV() {
		switch x.Value.(type) {
		case uint32, bool, string, []string, []int32:
		default:
			t.Errorf("%s has %T", x.Key, x.Value)
		}
	}
}

func mustTokenizer(t *testing.T, d string) *hfTokenizer {
	tj, err := readTokenizerJSON(context.Background(), d)
	if err != nil || tj == nil {
		t.Fatal(err)
	}
	return tj
}

func TestLooksSpecial(t *testing.T) {
	for tok, want := range map[string]bool{"<|im_end|>": true, "<pad>": true, "<unused12>": true, "<｜end▁of▁sentence｜>": true,
		"<tool_call>": false, "[PAD]": false, "<|x": false} {
		if looksSpecial(tok) != want {
			t.Errorf("looksSpecial(%q) = %v", tok, !want)
		}
	}
}
