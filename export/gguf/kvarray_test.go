package gguf

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/lightbeam-ml/lightbeam/internal/pyenv"
)

// arrayKVs are the array values llama.cpp's tokenizer keys need.
var arrayKVs = []KV{
	{"tokenizer.ggml.tokens", []string{"<s>", "▁a", "", "Ġb"}},
	{"tokenizer.ggml.token_type", []int32{3, 1, -5, 1 << 30}},
	{"tokenizer.ggml.scores", []float32{0, -1.5, -10000, 3.25}},
	{"u32s", []uint32{0, 1, 1<<32 - 1}},
	{"empty", []int32{}},
}

func arrayFile(t *testing.T) []byte {
	t.Helper()
	f := &File{KV: append([]KV{{"general.alignment", uint32(32)}}, arrayKVs...),
		Tensors: []TensorInfo{{Name: "w", Shape: []int64{4}, Type: F32}}}
	size, err := f.Layout()
	if err != nil {
		t.Fatal(err)
	}
	h, err := f.Header()
	if err != nil {
		t.Fatal(err)
	}
	return append(h, make([]byte, size)...)
}

func TestArrayKVRoundTrip(t *testing.T) {
	file := arrayFile(t)
	got, _, err := Read(bytes.NewReader(file), int64(len(file)), "a.gguf")
	if err != nil {
		t.Fatal(err)
	}
	for _, kv := range arrayKVs {
		if v := got.Lookup(kv.Key); !reflect.DeepEqual(v, kv.Value) {
			t.Errorf("%s read back as %#v, want %#v", kv.Key, v, kv.Value)
		}
	}
	// A length that claims more values than the file holds is refused
	// before anything is allocated.
	bad := &File{KV: []KV{{"x", []float32{1, 2}}}}
	h, _ := bad.Header()
	i := bytes.Index(h, []byte{2, 0, 0, 0, 0, 0, 0, 0})
	h[i+4] = 1 // 2 + 2^32 values
	if _, _, err := Read(bytes.NewReader(h), int64(len(h)), "bad.gguf"); err == nil {
		t.Error("an array longer than the file was read")
	}
	if _, err := (&File{KV: []KV{{"x", []int64{1}}}}).Header(); err == nil {
		t.Error("an unsupported array type was written")
	}
}

// TestArrayKVGGUFPy reads the arrays with gguf-py: element types and
// values as llama.cpp's own reader sees them.
func TestArrayKVGGUFPy(t *testing.T) {
	py := pyenv.Need(t, "gguf")
	path := filepath.Join(t.TempDir(), "a.gguf")
	if err := os.WriteFile(path, arrayFile(t), 0o644); err != nil {
		t.Fatal(err)
	}
	script := `
import json, sys, gguf
r = gguf.GGUFReader(sys.argv[1])
out = {}
for k, f in r.fields.items():
    if f.types and f.types[0] == gguf.GGUFValueType.ARRAY:
        out[k] = [f.types[-1].name if len(f.types) > 1 else None, f.contents()]
print(json.dumps(out))
`
	out, err := exec.Command(py, "-c", script, path).CombinedOutput()
	if err != nil {
		t.Fatalf("gguf-py: %v\n%s", err, out)
	}
	var got map[string][2]json.RawMessage
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	wantType := map[string]string{"tokenizer.ggml.tokens": `"STRING"`, "tokenizer.ggml.token_type": `"INT32"`,
		"tokenizer.ggml.scores": `"FLOAT32"`, "u32s": `"UINT32"`}
	for _, kv := range arrayKVs {
		g, ok := got[kv.Key]
		if !ok {
			t.Errorf("gguf-py has no array %s", kv.Key)
			continue
		}
		if w, ok := wantType[kv.Key]; ok && string(g[0]) != w {
			t.Errorf("%s: gguf-py element type %s, want %s", kv.Key, g[0], w)
		}
		want, _ := json.Marshal(kv.Value)
		var a, b any
		json.Unmarshal(g[1], &a)
		json.Unmarshal(want, &b)
		if !reflect.DeepEqual(a, b) {
			t.Errorf("%s: gguf-py reads %s, want %s", kv.Key, g[1], want)
		}
	}
}
