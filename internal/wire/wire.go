// Package wire is the bulk little-endian encoding behind lightbeam's Beam
// coders: fixed-size integers and whole numeric slices copied as raw bytes,
// and framed lists of items. Beam's default coders would encode a vector
// value by value, tens of times slower (docs/ARCHITECTURE.md, "Beam
// facts"), so every element that carries large arrays (row blocks,
// statistics, partials, training states) is encoded with this package.
//
// It has no Beam import: the coders themselves are registered where their
// types live (transforms, pipelines/train).
package wire

import (
	"encoding/binary"
	"fmt"
	"unsafe"
)

func init() {
	if binary.NativeEndian.Uint16([]byte{1, 0}) != 1 {
		panic("wire: the bulk coders assume a little-endian machine")
	}
}

// Number is what AppendSlice and ReadSlice copy in bulk.
type Number interface {
	float32 | float64 | int32 | int64 | uint64
}

// Encoder appends fixed-size values and raw numeric slices to B.
type Encoder struct{ B []byte }

// U64 appends v.
func (e *Encoder) U64(v uint64) { e.B = binary.LittleEndian.AppendUint64(e.B, v) }

// AppendSlice appends s as its length (u64) and its raw little-endian values.
func AppendSlice[T Number](e *Encoder, s []T) {
	e.U64(uint64(len(s)))
	if len(s) == 0 {
		return
	}
	e.B = append(e.B, unsafe.Slice((*byte)(unsafe.Pointer(&s[0])), len(s)*int(unsafe.Sizeof(s[0])))...)
}

// Decoder reads what Encoder wrote. The first error sticks in Err; reads
// after it return zero values.
type Decoder struct {
	B   []byte
	Err error
}

// U64 reads a u64.
func (d *Decoder) U64() uint64 {
	if d.Err != nil || len(d.B) < 8 {
		d.fail()
		return 0
	}
	v := binary.LittleEndian.Uint64(d.B)
	d.B = d.B[8:]
	return v
}

func (d *Decoder) fail() {
	if d.Err == nil {
		d.Err = fmt.Errorf("wire: truncated encoding")
	}
}

// Finish returns Err, or an error naming what if bytes are left over.
func (d *Decoder) Finish(what string) error {
	if d.Err == nil && len(d.B) != 0 {
		d.Err = fmt.Errorf("wire: %d trailing bytes after %s", len(d.B), what)
	}
	return d.Err
}

// ReadSlice reads a slice written by AppendSlice (nil when empty).
func ReadSlice[T Number](d *Decoder) []T {
	n := d.U64()
	var zero T
	size := uint64(unsafe.Sizeof(zero))
	if d.Err != nil || n > uint64(len(d.B))/size {
		d.fail()
		return nil
	}
	if n == 0 {
		return nil
	}
	out := make([]T, n)
	copy(unsafe.Slice((*byte)(unsafe.Pointer(&out[0])), n*size), d.B[:n*size])
	d.B = d.B[n*size:]
	return out
}

// EncodeFramed encodes a list as its length, then each item as its length
// and its encoding: the coder of accumulators that keep their parts
// (transforms.Ordered).
func EncodeFramed[T any](items []T, encode func(T) []byte) []byte {
	e := &Encoder{}
	e.U64(uint64(len(items)))
	for _, it := range items {
		b := encode(it)
		e.U64(uint64(len(b)))
		e.B = append(e.B, b...)
	}
	return e.B
}

// DecodeFramed decodes what EncodeFramed wrote.
func DecodeFramed[T any](data []byte, decode func([]byte) (T, error)) ([]T, error) {
	d := &Decoder{B: data}
	n := d.U64()
	var items []T
	for i := uint64(0); i < n && d.Err == nil; i++ {
		size := d.U64()
		if d.Err != nil || size > uint64(len(d.B)) {
			d.fail()
			break
		}
		it, err := decode(d.B[:size])
		if err != nil {
			return items, err
		}
		items = append(items, it)
		d.B = d.B[size:]
	}
	return items, d.Finish("a framed list")
}
