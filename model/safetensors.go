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
	hn, err := SafetensorsHeaderLen(data, int64(len(data)), source)
	if err != nil {
		return nil, nil, err
	}
	h, err := ParseSafetensorsHeader(data[8:8+hn], int64(len(data)), source)
	if err != nil {
		return nil, nil, err
	}
	tensors := make([]Tensor, len(h.Tensors))
	for i, t := range h.Tensors {
		if t.DType != "F32" {
			return nil, nil, fmt.Errorf("model: %s: tensor %q has dtype %q; lightbeam reads F32 only", source, t.Name, t.DType)
		}
		vals := make([]float32, (t.End-t.Begin)/4)
		DecodeFloats(vals, data[t.Begin:t.End], "F32")
		tensors[i] = Tensor{Name: t.Name, Shape: t.Shape, Data: vals}
	}
	return tensors, h.Metadata, nil
}

// WriteSafetensors writes a safetensors file at path atomically: it writes
// a temporary file beside it and renames it into place.
func WriteSafetensors(path string, tensors []Tensor, meta map[string]string) error {
	if err := localfile.Write(path, func(w io.Writer) error { return EncodeSafetensors(w, tensors, meta) }); err != nil {
		return fmt.Errorf("model: writing %s: %w", path, err)
	}
	return nil
}

// errNotModel marks a safetensors file without lightbeam's metadata.
var errNotModel = errors.New("not a lightbeam model")
