// Package gguf writes and reads GGUF files, llama.cpp's model format
// (version 3):
//
//	"GGUF" | u32 version 3 | u64 tensor count | u64 key/value count
//	key/value pairs:  string key, u32 value type, value
//	tensor infos:     string name, u32 rank, rank × u64 dims (innermost
//	                  first), u32 ggml type, u64 offset into the data
//	padding to the alignment (general.alignment, 32)
//	data: each tensor at its offset, padded to the alignment
//
// Strings are a u64 length and the bytes; everything is little-endian.
// The header fixes every tensor's offset from the types and shapes alone,
// so a file can be assembled from parts written independently (the
// checkpoint pipeline does): Layout computes the offsets, Header encodes
// the bytes before the data.
//
// The block types share their bytes with compress/quant, whose Q8_0,
// Q4_0, Q5_0 and Q5_1 are byte-identical to gguf-py's reference quantizer
// and whose Q4_K, Q5_K and Q6_K are llama.cpp's reference searches.
// Presets (preset.go) choose each tensor's type as llama-quantize does.
package gguf

import (
	"encoding/binary"
	"fmt"
	"math"
	"sort"
	"strings"
)

// Magic starts every GGUF file; Version is the one this package writes.
const (
	Magic     = "GGUF"
	Version   = 3
	Alignment = 32 // the default general.alignment
)

// Type is a ggml tensor type, as numbered in ggml.h.
type Type uint32

// The ggml types this package writes and reads (Q4_1: reads only).
const (
	F32  Type = 0
	F16  Type = 1
	Q4_0 Type = 2
	Q4_1 Type = 3
	Q5_0 Type = 6
	Q5_1 Type = 7
	Q8_0 Type = 8
	Q4_K Type = 12
	Q5_K Type = 13
	Q6_K Type = 14
	I8   Type = 24
	I16  Type = 25
	I32  Type = 26
	I64  Type = 27
	F64  Type = 28
	BF16 Type = 30
)

var typeInfo = map[Type]struct {
	name          string
	block, nbytes int // values per block, bytes per block
}{
	F32: {"F32", 1, 4}, F16: {"F16", 1, 2}, BF16: {"BF16", 1, 2}, F64: {"F64", 1, 8},
	Q4_0: {"Q4_0", 32, 18}, Q4_1: {"Q4_1", 32, 20}, Q5_0: {"Q5_0", 32, 22}, Q5_1: {"Q5_1", 32, 24},
	Q8_0: {"Q8_0", 32, 34}, Q4_K: {"Q4_K", 256, 144}, Q5_K: {"Q5_K", 256, 176}, Q6_K: {"Q6_K", 256, 210},
	I8: {"I8", 1, 1}, I16: {"I16", 1, 2}, I32: {"I32", 1, 4}, I64: {"I64", 1, 8},
}

func (t Type) String() string {
	if ti, ok := typeInfo[t]; ok {
		return ti.name
	}
	return fmt.Sprintf("ggml type %d", uint32(t))
}

// Known reports whether this package knows t's layout.
func (t Type) Known() bool { _, ok := typeInfo[t]; return ok }

// BlockElems is the number of values in one block of t (1 for plain types).
func (t Type) BlockElems() int { return typeInfo[t].block }

// Bytes is the size of n values of t. n must be a whole number of blocks.
func (t Type) Bytes(n int64) (int64, error) {
	ti, ok := typeInfo[t]
	if !ok {
		return 0, fmt.Errorf("gguf: unknown type %v", t)
	}
	if n%int64(ti.block) != 0 {
		return 0, fmt.Errorf("gguf: %d values are not whole %v blocks of %d", n, t, ti.block)
	}
	return n / int64(ti.block) * int64(ti.nbytes), nil
}

// ParseType returns the type named s (case-insensitive: "q8_0", "F16").
func ParseType(s string) (Type, error) {
	for t, ti := range typeInfo {
		if strings.EqualFold(ti.name, s) {
			return t, nil
		}
	}
	return 0, fmt.Errorf("gguf: unknown type %q", s)
}

// Value types of key/value pairs.
const (
	typeUint8   = 0
	typeInt8    = 1
	typeUint16  = 2
	typeInt16   = 3
	typeUint32  = 4
	typeInt32   = 5
	typeFloat32 = 6
	typeBool    = 7
	typeString  = 8
	typeArray   = 9
	typeUint64  = 10
	typeInt64   = 11
	typeFloat64 = 12
)

// KV is one metadata pair. Value is a string, uint32, int32, uint64,
// int64, float32, float64, bool, or an array: []string, []int32, []uint32,
// []float32 (what llama.cpp's tokenizer keys hold: tokens, token types,
// scores, merges).
type KV struct {
	Key   string
	Value any
}

// TensorInfo describes one tensor. Shape is row-major, outermost first,
// as in safetensors; the file stores it reversed (innermost first).
type TensorInfo struct {
	Name   string
	Shape  []int64
	Type   Type
	Offset int64 // into the data section; set by Layout
}

// Elements is the number of values, the product of the shape.
func (t TensorInfo) Elements() int64 {
	n := int64(1)
	for _, s := range t.Shape {
		n *= s
	}
	return n
}

// Bytes is the size of the tensor's data, without padding.
func (t TensorInfo) Bytes() (int64, error) {
	if len(t.Shape) > 0 && t.Shape[len(t.Shape)-1]%int64(max(1, t.Type.BlockElems())) != 0 {
		return 0, fmt.Errorf("gguf: tensor %q: rows of %d values are not whole %v blocks", t.Name, t.Shape[len(t.Shape)-1], t.Type)
	}
	n, err := t.Type.Bytes(t.Elements())
	if err != nil {
		return 0, fmt.Errorf("gguf: tensor %q: %w", t.Name, err)
	}
	return n, nil
}

// MaxNameLen is GGUF's limit on a tensor name (GGML_MAX_NAME - 1).
const MaxNameLen = 63

// File is a GGUF header: metadata and tensor infos in file order.
type File struct {
	KV      []KV
	Tensors []TensorInfo
}

// Pad returns the bytes that bring n up to a multiple of Alignment.
func Pad(n int64) int64 { return (Alignment - n%Alignment) % Alignment }

// Layout checks the tensors (unique names of at most MaxNameLen bytes,
// shapes of whole blocks) and sets their offsets: each starts at the
// first aligned byte after the previous one. It returns the size of the
// data section, the last tensor's padding included.
func (f *File) Layout() (int64, error) {
	seen := map[string]bool{}
	var off int64
	for i := range f.Tensors {
		t := &f.Tensors[i]
		if t.Name == "" || len(t.Name) > MaxNameLen {
			return 0, fmt.Errorf("gguf: tensor name %q: want 1 to %d bytes", t.Name, MaxNameLen)
		}
		if seen[t.Name] {
			return 0, fmt.Errorf("gguf: tensor %q named twice", t.Name)
		}
		seen[t.Name] = true
		if len(t.Shape) == 0 || len(t.Shape) > 4 {
			return 0, fmt.Errorf("gguf: tensor %q has rank %d; GGUF holds 1 to 4 dimensions", t.Name, len(t.Shape))
		}
		for _, s := range t.Shape {
			if s <= 0 {
				return 0, fmt.Errorf("gguf: tensor %q has shape %v; GGUF dimensions are positive", t.Name, t.Shape)
			}
		}
		n, err := t.Bytes()
		if err != nil {
			return 0, err
		}
		t.Offset = off
		off += n + Pad(n)
	}
	return off, nil
}

// Header returns the bytes of the file before the data section, padding
// included. Call Layout first.
func (f *File) Header() ([]byte, error) {
	b := []byte(Magic)
	b = binary.LittleEndian.AppendUint32(b, Version)
	b = binary.LittleEndian.AppendUint64(b, uint64(len(f.Tensors)))
	b = binary.LittleEndian.AppendUint64(b, uint64(len(f.KV)))
	for _, kv := range f.KV {
		var err error
		if b, err = appendKV(b, kv); err != nil {
			return nil, err
		}
	}
	for _, t := range f.Tensors {
		b = appendString(b, t.Name)
		b = binary.LittleEndian.AppendUint32(b, uint32(len(t.Shape)))
		for i := len(t.Shape) - 1; i >= 0; i-- {
			b = binary.LittleEndian.AppendUint64(b, uint64(t.Shape[i]))
		}
		b = binary.LittleEndian.AppendUint32(b, uint32(t.Type))
		b = binary.LittleEndian.AppendUint64(b, uint64(t.Offset))
	}
	return append(b, make([]byte, Pad(int64(len(b))))...), nil
}

func appendString(b []byte, s string) []byte {
	b = binary.LittleEndian.AppendUint64(b, uint64(len(s)))
	return append(b, s...)
}

func appendKV(b []byte, kv KV) ([]byte, error) {
	b = appendString(b, kv.Key)
	le := binary.LittleEndian
	switch v := kv.Value.(type) {
	case string:
		b = le.AppendUint32(b, typeString)
		b = appendString(b, v)
	case uint32:
		b = le.AppendUint32(b, typeUint32)
		b = le.AppendUint32(b, v)
	case int32:
		b = le.AppendUint32(b, typeInt32)
		b = le.AppendUint32(b, uint32(v))
	case uint64:
		b = le.AppendUint32(b, typeUint64)
		b = le.AppendUint64(b, v)
	case int64:
		b = le.AppendUint32(b, typeInt64)
		b = le.AppendUint64(b, uint64(v))
	case float32:
		b = le.AppendUint32(b, typeFloat32)
		b = le.AppendUint32(b, math.Float32bits(v))
	case float64:
		b = le.AppendUint32(b, typeFloat64)
		b = le.AppendUint64(b, math.Float64bits(v))
	case bool:
		b = le.AppendUint32(b, typeBool)
		if v {
			b = append(b, 1)
		} else {
			b = append(b, 0)
		}
	case []string:
		b = appendArrayHead(b, typeString, len(v))
		for _, s := range v {
			b = appendString(b, s)
		}
	case []int32:
		b = appendArrayHead(b, typeInt32, len(v))
		for _, x := range v {
			b = le.AppendUint32(b, uint32(x))
		}
	case []uint32:
		b = appendArrayHead(b, typeUint32, len(v))
		for _, x := range v {
			b = le.AppendUint32(b, x)
		}
	case []float32:
		b = appendArrayHead(b, typeFloat32, len(v))
		for _, x := range v {
			b = le.AppendUint32(b, math.Float32bits(x))
		}
	default:
		return nil, fmt.Errorf("gguf: metadata %q: unsupported value type %T", kv.Key, kv.Value)
	}
	return b, nil
}

// appendArrayHead appends an array's value type, element type and length.
func appendArrayHead(b []byte, elem uint32, n int) []byte {
	b = binary.LittleEndian.AppendUint32(b, typeArray)
	b = binary.LittleEndian.AppendUint32(b, elem)
	return binary.LittleEndian.AppendUint64(b, uint64(n))
}

// SortedKV returns m's pairs as string values, by key, after first.
func SortedKV(m map[string]string, first ...KV) []KV {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	kv := append([]KV{}, first...)
	for _, k := range keys {
		kv = append(kv, KV{k, m[k]})
	}
	return kv
}
