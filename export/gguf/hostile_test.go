package gguf

import (
	"bytes"
	"encoding/binary"
	"strings"
	"testing"
)

// rawGGUF builds a GGUF v3 file by hand, so that it can say what no
// writer of ours would: kvs are string values, each tensor is F32 with
// dims given innermost first, and data bytes of zeros follow.
type rawTensor struct {
	name   string
	dims   []uint64
	offset uint64
}

func rawGGUF(kvs [][2]string, ts []rawTensor, data int) []byte {
	le := binary.LittleEndian
	str := func(b []byte, s string) []byte { return append(le.AppendUint64(b, uint64(len(s))), s...) }
	b := append([]byte(nil), Magic...)
	b = le.AppendUint32(b, Version)
	b = le.AppendUint64(b, uint64(len(ts)))
	b = le.AppendUint64(b, uint64(len(kvs)))
	for _, kv := range kvs {
		b = str(b, kv[0])
		b = le.AppendUint32(b, 8) // string
		b = str(b, kv[1])
	}
	for _, t := range ts {
		b = str(b, t.name)
		b = le.AppendUint32(b, uint32(len(t.dims)))
		for _, d := range t.dims {
			b = le.AppendUint64(b, d)
		}
		b = le.AppendUint32(b, uint32(F32))
		b = le.AppendUint64(b, t.offset)
	}
	b = append(b, make([]byte, Pad(int64(len(b)))+int64(data))...)
	return b
}

// Hostile GGUF headers: duplicates and shapes whose product wraps around
// int64 are errors naming the file.
func TestReadDuplicatesAndOverflow(t *testing.T) {
	good := rawGGUF([][2]string{{"general.name", "m"}}, []rawTensor{{"a", []uint64{8}, 0}, {"b", []uint64{8}, 32}}, 64)
	if _, _, err := Read(bytes.NewReader(good), int64(len(good)), "good.gguf"); err != nil {
		t.Fatalf("the hand-built file: %v", err)
	}
	tests := []struct {
		name string
		file []byte
		want string
	}{
		{"tensor twice", rawGGUF(nil, []rawTensor{{"a", []uint64{8}, 0}, {"a", []uint64{8}, 32}}, 64), `tensor "a" is named twice`},
		{"key twice", rawGGUF([][2]string{{"general.name", "m"}, {"general.name", "n"}}, []rawTensor{{"a", []uint64{8}, 0}}, 32), `"general.name" appears twice`},
		// 274177 × 67280421310721 = 2^64 + 1: without a checked product
		// the shape claims one element.
		{"product wraps", rawGGUF(nil, []rawTensor{{"a", []uint64{274177, 67280421310721}, 0}}, 32), "larger than the file"},
		{"terabytes", rawGGUF(nil, []rawTensor{{"a", []uint64{1 << 40}, 0}}, 32), "larger than the file"},
	}
	for _, tt := range tests {
		if _, _, err := Read(bytes.NewReader(tt.file), int64(len(tt.file)), "/in/hostile.gguf"); err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "/in/hostile.gguf") {
			t.Errorf("%s: %v, want an error naming the file with %q", tt.name, err, tt.want)
		}
	}
}
