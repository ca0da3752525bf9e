package model

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"sort"

	"github.com/lightbeam-ml/lightbeam/internal/half"
)

// A safetensors file of any dtype, read by its header only: checkpoints
// of many GB are planned from the header and then read by byte range, so
// no process holds a whole file. (DecodeSafetensors reads lightbeam's
// own F32 files whole.)

// DTypeSize returns the bytes per value of a safetensors dtype, or 0 for a
// dtype this package does not know.
func DTypeSize(dtype string) int {
	switch dtype {
	case "F64", "I64", "U64":
		return 8
	case "F32", "I32", "U32":
		return 4
	case "F16", "BF16", "I16", "U16":
		return 2
	case "I8", "U8", "BOOL", "F8_E4M3", "F8_E5M2":
		return 1
	}
	return 0
}

// IsFloatDType reports whether DecodeFloats converts dtype: F32, F16, BF16.
func IsFloatDType(dtype string) bool { return dtype == "F32" || dtype == "F16" || dtype == "BF16" }

// HeaderTensor is one tensor of a safetensors header. Begin and End are
// absolute byte offsets in the file.
type HeaderTensor struct {
	Name       string
	DType      string
	Shape      []int
	Begin, End int64
}

// Elements is the number of values, the product of the shape.
func (t HeaderTensor) Elements() int64 {
	n := int64(1)
	for _, s := range t.Shape {
		n *= int64(s)
	}
	return n
}

// SafetensorsHeader is a parsed safetensors header: the tensors in data
// order and the __metadata__ map.
type SafetensorsHeader struct {
	Tensors  []HeaderTensor
	Metadata map[string]string
	// DataStart is the file offset of the data section (8 + header length).
	DataStart int64
}

// SafetensorsHeaderLen returns the header length that the first 8 bytes
// of a safetensors file give, after checking it against the file's size
// and the 100 MiB bound of the safetensors library. source names the file
// in errors.
func SafetensorsHeaderLen(first8 []byte, fileSize int64, source string) (int64, error) {
	if len(first8) < 8 || fileSize < 8 {
		return 0, fmt.Errorf("model: %s: %d bytes, too short for a safetensors file (8-byte header length)", source, fileSize)
	}
	n := binary.LittleEndian.Uint64(first8)
	if n > maxHeader || n > uint64(fileSize-8) {
		return 0, fmt.Errorf("model: %s: header length %d exceeds the file's %d bytes after the length field (or %d)", source, n, fileSize-8, maxHeader)
	}
	return int64(n), nil
}

// ParseSafetensorsHeader parses the JSON header of a safetensors file of
// fileSize bytes (header is the n bytes after the length field). It checks
// what a reader must trust before it reads data by range: known dtypes,
// shapes whose byte size matches the offsets without overflow, and ranges
// that tile the data section with no gap or overlap.
func ParseSafetensorsHeader(header []byte, fileSize int64, source string) (*SafetensorsHeader, error) {
	fail := func(format string, a ...any) (*SafetensorsHeader, error) {
		return nil, fmt.Errorf("model: %s: "+format, append([]any{source}, a...)...)
	}
	start := 8 + int64(len(header))
	body := fileSize - start
	if body < 0 {
		return fail("header of %d bytes is longer than the file (%d bytes)", len(header), fileSize)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(header, &raw); err != nil {
		return fail("invalid JSON header: %v", err)
	}
	// encoding/json keeps the last of two equal keys: a tensor named twice
	// would silently lose one definition.
	if name, dup := duplicateKey(header); dup {
		return fail("tensor %q is named twice in the header", name)
	}
	h := &SafetensorsHeader{Metadata: map[string]string{}, DataStart: start}
	if m, ok := raw["__metadata__"]; ok {
		if err := json.Unmarshal(m, &h.Metadata); err != nil {
			return fail("__metadata__ is not a map of strings to strings: %v", err)
		}
		delete(raw, "__metadata__")
	}
	for name, js := range raw {
		var ti tensorInfo
		dec := json.NewDecoder(bytes.NewReader(js))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&ti); err != nil {
			return fail("tensor %q: invalid header entry: %v", name, err)
		}
		size := int64(DTypeSize(ti.Dtype))
		if size == 0 {
			return fail("tensor %q has unknown dtype %q", name, ti.Dtype)
		}
		for _, s := range ti.Shape {
			if s < 0 {
				return fail("tensor %q has negative shape %v", name, ti.Shape)
			}
			if s > 0 && size > body/int64(s) {
				return fail("tensor %q of shape %v is larger than the %d data bytes", name, ti.Shape, body)
			}
			size *= int64(s)
		}
		b, e := ti.DataOffsets[0], ti.DataOffsets[1]
		if b < 0 || e < b || e > body {
			return fail("tensor %q has data offsets [%d,%d] outside the %d data bytes", name, b, e, body)
		}
		if e-b != size {
			return fail("tensor %q of shape %v needs %d bytes but its offsets [%d,%d] span %d", name, ti.Shape, size, b, e, e-b)
		}
		h.Tensors = append(h.Tensors, HeaderTensor{Name: name, DType: ti.Dtype, Shape: ti.Shape, Begin: start + b, End: start + e})
	}
	sort.Slice(h.Tensors, func(i, j int) bool {
		a, b := h.Tensors[i], h.Tensors[j]
		return a.Begin < b.Begin || a.Begin == b.Begin && (a.End < b.End || a.End == b.End && a.Name < b.Name)
	})
	next := start
	for _, t := range h.Tensors {
		if t.Begin != next {
			return fail("tensor %q starts at data byte %d, want %d (gap or overlap)", t.Name, t.Begin-start, next-start)
		}
		next = t.End
	}
	if next != fileSize {
		return fail("tensors cover %d of the %d data bytes", next-start, body)
	}
	return h, nil
}

// duplicateKey returns a key that the JSON object js (already known to be
// valid) holds twice at its top level.
func duplicateKey(js []byte) (string, bool) {
	dec := json.NewDecoder(bytes.NewReader(js))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return "", false
	}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return "", false
		}
		key, _ := tok.(string)
		if seen[key] {
			return key, true
		}
		seen[key] = true
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return "", false
		}
	}
	return "", false
}

// DecodeFloats converts len(dst) little-endian values of dtype (F32, F16
// or BF16) from raw to float32, exactly. It panics on another dtype or a
// short raw.
func DecodeFloats(dst []float32, raw []byte, dtype string) {
	if size := DTypeSize(dtype); len(raw) < size*len(dst) {
		panic(fmt.Sprintf("model.DecodeFloats: %d bytes for %d %s values", len(raw), len(dst), dtype))
	}
	switch dtype {
	case "F32":
		for i := range dst {
			dst[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
		}
	case "BF16":
		raw = raw[:2*len(dst)]
		for i := range dst {
			dst[i] = math.Float32frombits(uint32(raw[2*i])<<16 | uint32(raw[2*i+1])<<24)
		}
	case "F16":
		raw = raw[:2*len(dst)]
		for i := range dst {
			dst[i] = half.F16ToF32(uint16(raw[2*i]) | uint16(raw[2*i+1])<<8)
		}
	default:
		panic("model.DecodeFloats: dtype " + dtype + " is not F32, F16 or BF16")
	}
}
