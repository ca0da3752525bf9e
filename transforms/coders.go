package transforms

import (
	"encoding/binary"
	"fmt"
	"reflect"
	"unsafe"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"

	"github.com/lightbeam-ml/lightbeam/transforms/rows"
)

// Blocks and statistics are large numeric arrays: they get bulk
// little-endian coders. Beam's default coders would encode them value by
// value, tens of times slower (see ARCHITECTURE.md).
func init() {
	if binary.NativeEndian.Uint16([]byte{1, 0}) != 1 {
		panic("transforms: the bulk coders assume a little-endian machine")
	}
	beam.RegisterCoder(reflect.TypeOf(rows.Block{}), encodeBlock, decodeBlock)
	beam.RegisterCoder(reflect.TypeOf(rows.Stats{}), encodeStats, decodeStats)
}

// enc appends fixed-size values and raw numeric slices to a byte buffer.
type enc struct{ b []byte }

func (e *enc) u64(v uint64) { e.b = binary.LittleEndian.AppendUint64(e.b, v) }

func appendRaw[T float32 | float64 | int32 | int64 | uint64](e *enc, s []T) {
	e.u64(uint64(len(s)))
	if len(s) == 0 {
		return
	}
	e.b = append(e.b, unsafe.Slice((*byte)(unsafe.Pointer(&s[0])), len(s)*int(unsafe.Sizeof(s[0])))...)
}

// dec reads what enc wrote; the first error sticks.
type dec struct {
	b   []byte
	err error
}

func (d *dec) u64() uint64 {
	if d.err != nil || len(d.b) < 8 {
		d.fail()
		return 0
	}
	v := binary.LittleEndian.Uint64(d.b)
	d.b = d.b[8:]
	return v
}

func (d *dec) fail() {
	if d.err == nil {
		d.err = fmt.Errorf("transforms: truncated element encoding")
	}
}

func readRaw[T float32 | float64 | int32 | int64 | uint64](d *dec) []T {
	n := d.u64()
	var zero T
	size := uint64(unsafe.Sizeof(zero))
	if d.err != nil || n > uint64(len(d.b))/size {
		d.fail()
		return nil
	}
	if n == 0 {
		return nil
	}
	out := make([]T, n)
	copy(unsafe.Slice((*byte)(unsafe.Pointer(&out[0])), n*size), d.b[:n*size])
	d.b = d.b[n*size:]
	return out
}

func encodeBlock(b rows.Block) []byte {
	e := &enc{b: make([]byte, 0, 64+4*len(b.Labels)+8*len(b.IDs)+4*len(b.Dense)+4*len(b.Indptr)+8*len(b.Values))}
	flags := uint64(0)
	if b.Sparse {
		flags = 1
	}
	e.u64(uint64(b.Features))
	e.u64(flags)
	appendRaw(e, b.Labels)
	appendRaw(e, b.IDs)
	appendRaw(e, b.Dense)
	appendRaw(e, b.Indptr)
	appendRaw(e, b.Indices)
	appendRaw(e, b.Values)
	return e.b
}

func decodeBlock(data []byte) (rows.Block, error) {
	d := &dec{b: data}
	b := rows.Block{Features: int(d.u64())}
	b.Sparse = d.u64() == 1
	b.Labels = readRaw[float32](d)
	b.IDs = readRaw[uint64](d)
	b.Dense = readRaw[float32](d)
	b.Indptr = readRaw[int32](d)
	b.Indices = readRaw[int32](d)
	b.Values = readRaw[float32](d)
	if d.err != nil {
		return b, d.err
	}
	if b.Sparse && b.Indptr == nil {
		b.Indptr = []int32{0}
	}
	return b, b.Validate()
}

func encodeStats(s rows.Stats) []byte {
	e := &enc{}
	e.u64(uint64(s.Rows))
	appendRaw(e, s.Count)
	appendRaw(e, s.Mean)
	appendRaw(e, s.M2)
	appendRaw(e, s.Min)
	appendRaw(e, s.Max)
	appendRaw(e, s.Labels)
	return e.b
}

func decodeStats(data []byte) (rows.Stats, error) {
	d := &dec{b: data}
	s := rows.Stats{Rows: int64(d.u64())}
	s.Count = readRaw[int64](d)
	s.Mean = readRaw[float64](d)
	s.M2 = readRaw[float64](d)
	s.Min = readRaw[float64](d)
	s.Max = readRaw[float64](d)
	s.Labels = readRaw[int64](d)
	if d.err == nil && len(d.b) != 0 {
		d.err = fmt.Errorf("transforms: %d trailing bytes after stats", len(d.b))
	}
	return s, d.err
}

// EncodeFramed encodes a list as its length, then each item as its length
// and its encoding: the bulk coder of the accumulators that keep their
// parts (see Analyze and SumPartials).
func EncodeFramed[T any](items []T, encode func(T) []byte) []byte {
	e := &enc{}
	e.u64(uint64(len(items)))
	for _, it := range items {
		b := encode(it)
		e.u64(uint64(len(b)))
		e.b = append(e.b, b...)
	}
	return e.b
}

// DecodeFramed decodes what EncodeFramed wrote.
func DecodeFramed[T any](data []byte, decode func([]byte) (T, error)) ([]T, error) {
	d := &dec{b: data}
	n := d.u64()
	var items []T
	for i := uint64(0); i < n && d.err == nil; i++ {
		size := d.u64()
		if d.err != nil || size > uint64(len(d.b)) {
			d.fail()
			break
		}
		it, err := decode(d.b[:size])
		if err != nil {
			return items, err
		}
		items = append(items, it)
		d.b = d.b[size:]
	}
	if d.err == nil && len(d.b) != 0 {
		d.err = fmt.Errorf("transforms: %d trailing bytes after a framed list", len(d.b))
	}
	return items, d.err
}
