package model

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"sort"

	"github.com/lightbeam-ml/lightbeam/internal/localfile"
)

// Tensor is a named float32 tensor, row-major.
type Tensor struct {
	Name  string
	Shape []int
	Data  []float32
}

// maxHeader bounds the JSON header we accept, as the safetensors library does.
const maxHeader = 100 << 20

type tensorInfo struct {
	Dtype       string   `json:"dtype"`
	Shape       []int    `json:"shape"`
	DataOffsets [2]int64 `json:"data_offsets"`
}

// EncodeSafetensors writes tensors and metadata in the safetensors format:
//
//	u64 little-endian N | N bytes of JSON header, space-padded to 8 | data
//
// The header maps each name to {"dtype":"F32","shape":[…],"data_offsets":
// [begin,end]} (byte offsets into data) and "__metadata__" to meta. Data is
// the tensors' little-endian float32 values in the order given.
func EncodeSafetensors(w io.Writer, tensors []Tensor, meta map[string]string) error {
	header := map[string]any{}
	if len(meta) > 0 {
		header["__metadata__"] = meta
	}
	var off int64
	for _, t := range tensors {
		if t.Name == "" || t.Name == "__metadata__" {
			return fmt.Errorf("model: safetensors: invalid tensor name %q", t.Name)
		}
		if _, dup := header[t.Name]; dup {
			return fmt.Errorf("model: safetensors: tensor %q named twice", t.Name)
		}
		size := 1
		for _, s := range t.Shape {
			if s < 0 {
				return fmt.Errorf("model: safetensors: tensor %q has negative shape %v", t.Name, t.Shape)
			}
			size *= s
		}
		if size != len(t.Data) {
			return fmt.Errorf("model: safetensors: tensor %q of shape %v has %d values", t.Name, t.Shape, len(t.Data))
		}
		shape := append([]int{}, t.Shape...)
		header[t.Name] = tensorInfo{Dtype: "F32", Shape: shape, DataOffsets: [2]int64{off, off + 4*int64(size)}}
		off += 4 * int64(size)
	}
	js, err := json.Marshal(header)
	if err != nil {
		return fmt.Errorf("model: safetensors header: %w", err)
	}
	if pad := (8 - len(js)%8) % 8; pad > 0 {
		js = append(js, bytes.Repeat([]byte{' '}, pad)...)
	}
	bw := bufio.NewWriterSize(w, 1<<16)
	var n [8]byte
	binary.LittleEndian.PutUint64(n[:], uint64(len(js)))
	bw.Write(n[:])
	bw.Write(js)
	var b [4]byte
	for _, t := range tensors {
		for _, v := range t.Data {
			binary.LittleEndian.PutUint32(b[:], math.Float32bits(v))
			bw.Write(b[:])
		}
	}
	return bw.Flush()
}

// DecodeSafetensors parses a safetensors file's bytes; source names the
// file in errors. It accepts only F32 tensors and checks that the header
// fits the file, that every tensor's byte range matches its shape, and
// that the ranges tile the data section exactly. Tensors come back in data
// order, with their own copies of the values.
func DecodeSafetensors(data []byte, source string) ([]Tensor, map[string]string, error) {
	fail := func(format string, a ...any) ([]Tensor, map[string]string, error) {
		return nil, nil, fmt.Errorf("model: %s: "+format, append([]any{source}, a...)...)
	}
	if len(data) < 8 {
		return fail("%d bytes, too short for a safetensors file (8-byte header length)", len(data))
	}
	hn := binary.LittleEndian.Uint64(data)
	if hn > maxHeader || hn > uint64(len(data)-8) {
		return fail("header length %d exceeds the file's %d bytes after the length field (or %d)", hn, len(data)-8, maxHeader)
	}
	body := data[8+hn:]
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data[8:8+hn], &raw); err != nil {
		return fail("invalid JSON header: %v", err)
	}
	var meta map[string]string
	if m, ok := raw["__metadata__"]; ok {
		if err := json.Unmarshal(m, &meta); err != nil {
			return fail("__metadata__ is not a map of strings to strings: %v", err)
		}
		delete(raw, "__metadata__")
	}
	type entry struct {
		name string
		info tensorInfo
	}
	entries := make([]entry, 0, len(raw))
	for name, js := range raw {
		var ti tensorInfo
		dec := json.NewDecoder(bytes.NewReader(js))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&ti); err != nil {
			return fail("tensor %q: invalid header entry: %v", name, err)
		}
		if ti.Dtype != "F32" {
			return fail("tensor %q has dtype %q; lightbeam reads F32 only", name, ti.Dtype)
		}
		size := int64(4)
		for _, s := range ti.Shape {
			if s < 0 {
				return fail("tensor %q has negative shape %v", name, ti.Shape)
			}
			size *= int64(s)
			if size > int64(len(body)) {
				return fail("tensor %q of shape %v is larger than the %d data bytes", name, ti.Shape, len(body))
			}
		}
		b, e := ti.DataOffsets[0], ti.DataOffsets[1]
		if b < 0 || e < b || e > int64(len(body)) {
			return fail("tensor %q has data offsets [%d,%d] outside the %d data bytes", name, b, e, len(body))
		}
		if e-b != size {
			return fail("tensor %q of shape %v needs %d bytes but its offsets [%d,%d] span %d", name, ti.Shape, size, b, e, e-b)
		}
		entries = append(entries, entry{name, ti})
	}
	sort.Slice(entries, func(i, j int) bool {
		a, b := entries[i].info.DataOffsets, entries[j].info.DataOffsets
		return a[0] < b[0] || a[0] == b[0] && a[1] < b[1]
	})
	var next int64
	tensors := make([]Tensor, len(entries))
	for i, en := range entries {
		b, e := en.info.DataOffsets[0], en.info.DataOffsets[1]
		if b != next {
			return fail("tensor %q starts at data byte %d, want %d (gap or overlap)", en.name, b, next)
		}
		vals := make([]float32, (e-b)/4)
		for j := range vals {
			vals[j] = math.Float32frombits(binary.LittleEndian.Uint32(body[b+4*int64(j):]))
		}
		tensors[i] = Tensor{Name: en.name, Shape: en.info.Shape, Data: vals}
		next = e
	}
	if next != int64(len(body)) {
		return fail("tensors cover %d of the %d data bytes", next, len(body))
	}
	if meta == nil {
		meta = map[string]string{}
	}
	return tensors, meta, nil
}

// WriteSafetensors writes a safetensors file at path atomically: it writes
// a temporary file beside it and renames it into place.
func WriteSafetensors(path string, tensors []Tensor, meta map[string]string) error {
	if err := localfile.Write(path, func(w io.Writer) error { return EncodeSafetensors(w, tensors, meta) }); err != nil {
		return fmt.Errorf("model: writing %s: %w", path, err)
	}
	return nil
}

// ReadSafetensors reads and validates the safetensors file at path.
func ReadSafetensors(path string) ([]Tensor, map[string]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("model: reading %w", err)
	}
	return DecodeSafetensors(data, path)
}

// errNotModel marks a safetensors file without lightbeam's metadata.
var errNotModel = errors.New("not a lightbeam model")
