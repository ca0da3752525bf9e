package gguf

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
)

// Limits on what Read accepts before it allocates, so a hostile header
// cannot claim terabytes.
const (
	maxStringLen = 1 << 20
	maxArrayLen  = 1 << 24
	maxCount     = 1 << 20 // tensors, key/value pairs
)

// Read parses the header of a GGUF file of size bytes from r (positioned
// at its start). It returns the file's metadata and tensors, and the
// offset of its data section. It checks magic, version, value types,
// lengths against size, known tensor types, and that every tensor lies
// inside the file. source names the file in errors.
func Read(r io.Reader, size int64, source string) (*File, int64, error) {
	d := &decoder{r: bufio.NewReaderSize(r, 1<<16), size: size}
	f, err := d.file()
	if err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			err = fmt.Errorf("truncated at byte %d of %d", d.n, size)
		}
		return nil, 0, fmt.Errorf("gguf: %s: %w", source, err)
	}
	dataStart := d.n + Pad(d.n)
	for _, t := range f.Tensors {
		n, err := t.Bytes()
		if err != nil {
			return nil, 0, fmt.Errorf("gguf: %s: %w", source, err)
		}
		if t.Offset%Alignment != 0 || t.Offset < 0 || dataStart+t.Offset+n > size || t.Offset > size {
			return nil, 0, fmt.Errorf("gguf: %s: tensor %q at data offset %d (%d bytes) lies outside the %d-byte file or off the alignment", source, t.Name, t.Offset, n, size)
		}
	}
	return f, dataStart, nil
}

type decoder struct {
	r    *bufio.Reader
	n    int64 // bytes read
	size int64
	buf  [8]byte
}

func (d *decoder) read(n int) ([]byte, error) {
	if _, err := io.ReadFull(d.r, d.buf[:n]); err != nil {
		return nil, err
	}
	d.n += int64(n)
	return d.buf[:n], nil
}

func (d *decoder) u32() (uint32, error) {
	b, err := d.read(4)
	if err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint32(b), nil
}

func (d *decoder) u64() (uint64, error) {
	b, err := d.read(8)
	if err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint64(b), nil
}

func (d *decoder) count(what string, limit uint64) (int, error) {
	n, err := d.u64()
	if err != nil {
		return 0, err
	}
	if n > limit || int64(n) > d.size-d.n {
		return 0, fmt.Errorf("%s %d at byte %d is past the file's %d bytes (or the limit %d)", what, n, d.n-8, d.size, limit)
	}
	return int(n), nil
}

func (d *decoder) str() (string, error) {
	n, err := d.count("string length", maxStringLen)
	if err != nil {
		return "", err
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(d.r, b); err != nil {
		return "", err
	}
	d.n += int64(n)
	return string(b), nil
}

func (d *decoder) file() (*File, error) {
	b, err := d.read(4)
	if err != nil {
		return nil, err
	}
	if string(b) != Magic {
		return nil, fmt.Errorf("not a GGUF file (magic %q)", b)
	}
	v, err := d.u32()
	if err != nil {
		return nil, err
	}
	if v != 2 && v != Version {
		return nil, fmt.Errorf("GGUF version %d; this lightbeam reads 2 and 3", v)
	}
	nt, err := d.count("tensor count", maxCount)
	if err != nil {
		return nil, err
	}
	nkv, err := d.count("key/value count", maxCount)
	if err != nil {
		return nil, err
	}
	f := &File{}
	keys, names := map[string]bool{}, map[string]bool{}
	for range nkv {
		key, err := d.str()
		if err != nil {
			return nil, err
		}
		typ, err := d.u32()
		if err != nil {
			return nil, err
		}
		val, err := d.value(typ)
		if err != nil {
			return nil, fmt.Errorf("metadata %q: %w", key, err)
		}
		if keys[key] {
			return nil, fmt.Errorf("metadata key %q appears twice", key)
		}
		keys[key] = true
		f.KV = append(f.KV, KV{key, val})
	}
	for range nt {
		var t TensorInfo
		if t.Name, err = d.str(); err != nil {
			return nil, err
		}
		rank, err := d.u32()
		if err != nil {
			return nil, err
		}
		if rank == 0 || rank > 4 {
			return nil, fmt.Errorf("tensor %q has rank %d", t.Name, rank)
		}
		t.Shape = make([]int64, rank)
		for i := int(rank) - 1; i >= 0; i-- {
			s, err := d.u64()
			if err != nil {
				return nil, err
			}
			if s == 0 || s > uint64(math.MaxInt64/8) {
				return nil, fmt.Errorf("tensor %q has dimension %d", t.Name, s)
			}
			t.Shape[i] = int64(s)
		}
		// The product is checked as it grows: dimensions that multiply
		// past int64 would wrap to a small, plausible count.
		elems := int64(1)
		for _, s := range t.Shape {
			if elems > d.size*8/s {
				return nil, fmt.Errorf("tensor %q of shape %v is larger than the file", t.Name, t.Shape)
			}
			elems *= s
		}
		typ, err := d.u32()
		if err != nil {
			return nil, err
		}
		if t.Type = Type(typ); !t.Type.Known() {
			return nil, fmt.Errorf("tensor %q has %v, which this lightbeam does not read", t.Name, t.Type)
		}
		off, err := d.u64()
		if err != nil {
			return nil, err
		}
		if off > uint64(d.size) {
			return nil, fmt.Errorf("tensor %q has offset %d past the file", t.Name, off)
		}
		t.Offset = int64(off)
		if names[t.Name] {
			return nil, fmt.Errorf("tensor %q is named twice", t.Name)
		}
		names[t.Name] = true
		f.Tensors = append(f.Tensors, t)
	}
	return f, nil
}

// fixedSize is the size of each value type that has one.
var fixedSize = map[uint32]int{typeUint8: 1, typeInt8: 1, typeBool: 1, typeUint16: 2, typeInt16: 2,
	typeUint32: 4, typeInt32: 4, typeFloat32: 4, typeUint64: 8, typeInt64: 8, typeFloat64: 8}

// value reads one value of type typ. Arrays come back typed: []string,
// []int32, []uint32, []float32, ... ([]bool for booleans), one slice type
// per element type.
func (d *decoder) value(typ uint32) (any, error) {
	le := binary.LittleEndian
	if n, ok := fixedSize[typ]; ok {
		b, err := d.read(n)
		if err != nil {
			return nil, err
		}
		switch typ {
		case typeUint8:
			return b[0], nil
		case typeInt8:
			return int8(b[0]), nil
		case typeBool:
			return b[0] != 0, nil
		case typeUint16:
			return le.Uint16(b), nil
		case typeInt16:
			return int16(le.Uint16(b)), nil
		case typeUint32:
			return le.Uint32(b), nil
		case typeInt32:
			return int32(le.Uint32(b)), nil
		case typeFloat32:
			return math.Float32frombits(le.Uint32(b)), nil
		case typeUint64:
			return le.Uint64(b), nil
		case typeInt64:
			return int64(le.Uint64(b)), nil
		default:
			return math.Float64frombits(le.Uint64(b)), nil
		}
	}
	switch typ {
	case typeString:
		return d.str()
	case typeArray:
		return d.array()
	}
	return nil, fmt.Errorf("unknown value type %d", typ)
}

// array reads an array's element type, length and elements.
func (d *decoder) array() (any, error) {
	et, err := d.u32()
	if err != nil {
		return nil, err
	}
	if et == typeArray {
		return nil, fmt.Errorf("nested arrays are not read")
	}
	n, err := d.count("array length", maxArrayLen)
	if err != nil {
		return nil, err
	}
	if et == typeString {
		out := make([]string, 0, min(n, 1024))
		for range n {
			s, err := d.str()
			if err != nil {
				return nil, err
			}
			out = append(out, s)
		}
		return out, nil
	}
	size, ok := fixedSize[et]
	if !ok {
		return nil, fmt.Errorf("array of unknown value type %d", et)
	}
	// The elements are read whole, after checking that they fit in what
	// is left of the file.
	if int64(n)*int64(size) > d.size-d.n {
		return nil, fmt.Errorf("array of %d %d-byte values at byte %d is past the file's %d bytes", n, size, d.n, d.size)
	}
	raw := make([]byte, n*size)
	if _, err := io.ReadFull(d.r, raw); err != nil {
		return nil, err
	}
	d.n += int64(len(raw))
	return typedArray(et, n, raw), nil
}

// typedArray decodes n little-endian values of element type et.
func typedArray(et uint32, n int, raw []byte) any {
	le := binary.LittleEndian
	switch et {
	case typeUint8:
		return raw
	case typeInt8:
		return decodeArray(raw, n, 1, func(b []byte) int8 { return int8(b[0]) })
	case typeBool:
		return decodeArray(raw, n, 1, func(b []byte) bool { return b[0] != 0 })
	case typeUint16:
		return decodeArray(raw, n, 2, le.Uint16)
	case typeInt16:
		return decodeArray(raw, n, 2, func(b []byte) int16 { return int16(le.Uint16(b)) })
	case typeUint32:
		return decodeArray(raw, n, 4, le.Uint32)
	case typeInt32:
		return decodeArray(raw, n, 4, func(b []byte) int32 { return int32(le.Uint32(b)) })
	case typeFloat32:
		return decodeArray(raw, n, 4, func(b []byte) float32 { return math.Float32frombits(le.Uint32(b)) })
	case typeUint64:
		return decodeArray(raw, n, 8, le.Uint64)
	case typeInt64:
		return decodeArray(raw, n, 8, func(b []byte) int64 { return int64(le.Uint64(b)) })
	default: // typeFloat64
		return decodeArray(raw, n, 8, func(b []byte) float64 { return math.Float64frombits(le.Uint64(b)) })
	}
}

// decodeArray decodes n values of size bytes each from raw with value.
func decodeArray[T any](raw []byte, n, size int, value func([]byte) T) []T {
	out := make([]T, n)
	for i := range out {
		out[i] = value(raw[size*i:])
	}
	return out
}

// Lookup returns the value of key, or nil.
func (f *File) Lookup(key string) any {
	for _, kv := range f.KV {
		if kv.Key == key {
			return kv.Value
		}
	}
	return nil
}
