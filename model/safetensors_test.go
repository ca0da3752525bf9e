package model

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/lightbeam-ml/lightbeam/internal/version"
)

func TestSafetensorsRoundTrip(t *testing.T) {
	ts := []Tensor{
		{Name: "a", Shape: []int{2, 3}, Data: []float32{1, 2, 3, 4, 5, 6}},
		{Name: "scalar", Shape: []int{}, Data: []float32{-7.5}},
		{Name: "empty", Shape: []int{0, 4}, Data: []float32{}},
		{Name: "b", Shape: []int{2}, Data: []float32{0.25, 1e-30}},
	}
	meta := map[string]string{"k": "v", "stats": `{"mean":[0.1]}`}
	var buf bytes.Buffer
	if err := EncodeSafetensors(&buf, ts, meta); err != nil {
		t.Fatal(err)
	}
	data := buf.Bytes()
	if hn := binary.LittleEndian.Uint64(data); hn%8 != 0 || !bytes.HasPrefix(data[8:], []byte("{")) {
		t.Errorf("header length %d not a multiple of 8 or not JSON", hn)
	}
	got, gotMeta, err := DecodeSafetensors(data, "mem")
	if err != nil {
		t.Fatal(err)
	}
	if gotMeta["k"] != "v" || gotMeta["stats"] != meta["stats"] {
		t.Errorf("metadata %v", gotMeta)
	}
	if len(got) != len(ts) {
		t.Fatalf("%d tensors back, want %d", len(got), len(ts))
	}
	for i := range ts { // data order is the order written
		if got[i].Name != ts[i].Name || !slices.Equal(got[i].Shape, ts[i].Shape) || !slices.Equal(got[i].Data, ts[i].Data) {
			t.Errorf("tensor %d = %+v, want %+v", i, got[i], ts[i])
		}
	}
}

// corrupt builds a file from a raw header and data section.
func corrupt(header string, data int) []byte {
	b := binary.LittleEndian.AppendUint64(nil, uint64(len(header)))
	return append(append(b, header...), make([]byte, data)...)
}

func TestSafetensorsRejects(t *testing.T) {
	good := `{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`
	if _, _, err := DecodeSafetensors(corrupt(good, 8), "x"); err != nil {
		t.Fatalf("good file rejected: %v", err)
	}
	truncatedHeader := corrupt(good, 8)
	binary.LittleEndian.PutUint64(truncatedHeader, 1000)
	tests := []struct {
		name string
		data []byte
		want string
	}{
		{"short", []byte{1, 2, 3}, "too short"},
		{"header past end", truncatedHeader, "header length 1000"},
		{"bad json", corrupt(`{"w":`, 8), "invalid JSON"},
		{"dtype", corrupt(`{"w":{"dtype":"F16","shape":[4],"data_offsets":[0,8]}}`, 8), `dtype "F16"`},
		{"size mismatch", corrupt(`{"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}`, 16), "needs 12 bytes"},
		{"past data", corrupt(`{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,16]}}`, 8), "outside the 8 data bytes"},
		{"huge shape", corrupt(`{"w":{"dtype":"F32","shape":[1000000,1000000,1000000],"data_offsets":[0,8]}}`, 8), "larger than"},
		{"trailing", corrupt(good, 12), "cover 8 of the 12"},
		{"gap", corrupt(`{"w":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, 8), "gap or overlap"},
		{"overlap", corrupt(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, 8), "gap or overlap"},
		{"meta", corrupt(`{"__metadata__":{"a":1}}`, 0), "map of strings"},
		{"unknown field", corrupt(`{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8],"x":1}}`, 8), "invalid header entry"},
	}
	for _, tt := range tests {
		_, _, err := DecodeSafetensors(tt.data, "/tmp/m.safetensors")
		if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "/tmp/m.safetensors") {
			t.Errorf("%s: err %v, want one naming the file and containing %q", tt.name, err, tt.want)
		}
	}
	if err := EncodeSafetensors(&bytes.Buffer{}, []Tensor{{Name: "w", Shape: []int{3}, Data: []float32{1}}}, nil); err == nil {
		t.Error("encoding a tensor whose data does not match its shape succeeded")
	}
}

func TestEncodeDecodeModel(t *testing.T) {
	for _, cfg := range []Config{
		{Arch: MLP, Inputs: 6, Hidden: []int{5, 4}, Outputs: 3},
		{Arch: Softmax, Inputs: 6, Outputs: 2},
		{Arch: Linear, Inputs: 6, Outputs: 1},
	} {
		m := mustNew(t, cfg)
		p := m.Init(2)
		var b bytes.Buffer
		if err := EncodeModel(&b, m, p, map[string]string{"preprocess.mean": "[0.5]"}); err != nil {
			t.Fatal(err)
		}
		m2, p2, meta, err := DecodeModel(b.Bytes(), "m.safetensors")
		if err != nil {
			t.Fatal(err)
		}
		if m2.String() != m.String() || !slices.Equal(p, p2) {
			t.Errorf("%s: loaded %s with equal params %v", m, m2, slices.Equal(p, p2))
		}
		if meta["preprocess.mean"] != "[0.5]" || meta[MetaVersion] != version.Version || meta[MetaFormat] != "model" {
			t.Errorf("metadata %v", meta)
		}
		if _, err := DecodeCheckpoint(b.Bytes(), "m.safetensors"); err == nil || !strings.Contains(err.Error(), "not a checkpoint") {
			t.Errorf("DecodeCheckpoint of a model file: %v", err)
		}
	}
	m := mustNew(t, Config{Arch: Softmax, Inputs: 2, Outputs: 2})
	if err := EncodeModel(&bytes.Buffer{}, m, m.Init(1), map[string]string{MetaArch: "mlp"}); err == nil {
		t.Error("reserved metadata key accepted")
	}
	// A file whose tensors do not match its metadata, written as a file:
	// WriteSafetensors leaves no temporary file behind.
	dir := t.TempDir()
	path := filepath.Join(dir, "bad.safetensors")
	if err := WriteSafetensors(path, []Tensor{{Name: "linear.weight", Shape: []int{2, 3}, Data: make([]float32, 6)}},
		map[string]string{MetaArch: "softmax", MetaSizes: "2,2"}); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := DecodeModel(data, path); err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "shape") {
		t.Errorf("mismatched tensor: %v", err)
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp") {
			t.Errorf("temporary file %s left behind", e.Name())
		}
	}
}

// FuzzDecodeSafetensors: a model file or checkpoint from elsewhere is
// untrusted. Any bytes give tensors or an error naming the file, never a
// panic or an allocation past the file; every accepted tensor lies inside
// the file and matches its shape.
func FuzzDecodeSafetensors(f *testing.F) {
	var buf bytes.Buffer
	EncodeSafetensors(&buf, []Tensor{{Name: "w", Shape: []int{2, 3}, Data: make([]float32, 6)}, {Name: "b", Shape: []int{3}, Data: []float32{1, 2, 3}}}, map[string]string{"k": "v"})
	f.Add(buf.Bytes())
	f.Add(corrupt(`{"w":{"dtype":"BF16","shape":[2],"data_offsets":[0,4]},"i":{"dtype":"I64","shape":[1],"data_offsets":[4,12]}}`, 12))
	f.Add(corrupt(`{"w":{"dtype":"F32","shape":[1000000,1000000,1000000],"data_offsets":[0,8]}}`, 8))
	f.Fuzz(func(t *testing.T, b []byte) {
		if _, _, err := DecodeSafetensors(b, "fuzz.safetensors"); err != nil && !strings.Contains(err.Error(), "fuzz.safetensors") {
			t.Fatalf("error %q does not name the file", err)
		}
		n, err := SafetensorsHeaderLen(b, int64(len(b)), "fuzz.safetensors")
		if err != nil {
			return
		}
		h, err := ParseSafetensorsHeader(b[8:8+n], int64(len(b)), "fuzz.safetensors")
		if err != nil {
			return
		}
		for _, ts := range h.Tensors {
			if ts.Begin < h.DataStart || ts.End > int64(len(b)) || ts.End-ts.Begin != ts.Elements()*int64(DTypeSize(ts.DType)) {
				t.Fatalf("accepted tensor %+v of a %d-byte file", ts, len(b))
			}
		}
	})
}
