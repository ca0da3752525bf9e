package artifact

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math"
	"unsafe"

	"github.com/lightbeam-ml/lightbeam/compress/quant"
)

// Version 2 lets a file be written in pieces by independent workers: the
// bytes before the first record (Prefix), each record's header
// (RecordHeader) and each record's payload size (PayloadBytes) follow from
// names, shapes and kinds alone, so every piece's offset is known before
// any value is read. The payloads that allow it are raw fixed-size
// streams: F32 and F16 values, Int8 rows (PutInt8Row) and Raw bytes. The
// file keeps v1's single CRC-32C over everything before it; the pieces'
// CRCs are joined with internal/crc32c.Combine, so no process reads the whole file.

// MarshalV2 returns the version 2 artifact file holding ts and meta.
// Dense Int8 tensors with float32 scales are stored as raw rows, and Raw
// tensors are allowed; other kinds are stored as in version 1.
func MarshalV2(ts []Tensor, meta map[string]string) ([]byte, error) {
	out := Prefix(meta, len(ts))
	for i := range ts {
		var err error
		if out, _, err = appendTensor(out, &ts[i], Version2); err != nil {
			return nil, err
		}
	}
	return binary.LittleEndian.AppendUint32(out, CRC(out)), nil
}

// Prefix returns the bytes of a version 2 file before its first record:
// magic, version, metadata and the count of records.
func Prefix(meta map[string]string, count int) []byte {
	out := append([]byte(Magic), Version2)
	out = appendMeta(out, meta)
	return binary.AppendUvarint(out, uint64(count))
}

// RecordHeader returns the version 2 header of the record of a dense
// tensor of the given name, shape and kind (F32, F16, Int8 with float32
// scales, or Raw of dtype), whose payload is PayloadBytes long.
func RecordHeader(name string, shape []int, kind Kind, dtype string) ([]byte, error) {
	if _, err := PayloadBytes(shape, kind, dtype); err != nil {
		return nil, fmt.Errorf("artifact: tensor %q: %w", name, err)
	}
	if len(name) > MaxName {
		return nil, fmt.Errorf("artifact: tensor %q: name of %d bytes", name, len(name))
	}
	return appendHeader(nil, name, shape, Encoding{Kind: kind}, dtype), nil
}

// PayloadBytes returns the size of the version 2 payload of a dense tensor
// of the given shape and kind: 4 or 2 bytes a value (F32, F16), a float32
// scale and one code a value per row (Int8), or the dtype's bytes (Raw).
// Other kinds' payloads depend on the values and are an error.
func PayloadBytes(shape []int, kind Kind, dtype string) (int64, error) {
	t := Tensor{Shape: shape, Enc: Encoding{Kind: kind}}
	if len(shape) > MaxRank {
		return 0, fmt.Errorf("rank %d is more than %d", len(shape), MaxRank)
	}
	n := int64(1)
	for _, d := range shape {
		if d < 0 || d != 0 && n > MaxElements/int64(d) {
			return 0, fmt.Errorf("shape %v: more than %d values (or a negative dimension)", shape, MaxElements)
		}
		n *= int64(d)
	}
	if kind != Raw && dtype != "" {
		return 0, fmt.Errorf("dtype %s for %s", dtype, kind)
	}
	switch kind {
	case F32:
		return 4 * n, nil
	case F16:
		return 2 * n, nil
	case Int8:
		return 4*int64(t.rows()) + n, nil
	case Raw:
		if rawDTypeSize(dtype) == 0 {
			return 0, fmt.Errorf("dtype %q has no raw kind", dtype)
		}
		return int64(rawDTypeSize(dtype)) * n, nil
	}
	return 0, fmt.Errorf("%s records have no size known from the shape", kind)
}

// PutInt8Row writes one version 2 Int8 row of w to dst, which must be
// 4+len(w) bytes: the float32 scale quant.Int8Scale(w), then the codes
// quant.QuantizeInt8 gives (those of Quantize).
// It returns the scale. w must be finite.
func PutInt8Row(dst []byte, w []float32) float32 {
	if len(dst) != 4+len(w) {
		panic(fmt.Sprintf("artifact.PutInt8Row: %d bytes for a row of %d", len(dst), len(w)))
	}
	s := quant.Int8Scale(w)
	binary.LittleEndian.PutUint32(dst, math.Float32bits(s))
	if len(w) > 0 {
		// int8 and byte share their layout: the codes go in place.
		quant.QuantizeInt8(unsafe.Slice((*int8)(unsafe.Pointer(&dst[4])), len(w)), w, s)
	}
	return s
}

// CRC returns the CRC-32C of b, the checksum an artifact file ends with.
func CRC(b []byte) uint32 { return crc32.Checksum(b, castagnoli) }
