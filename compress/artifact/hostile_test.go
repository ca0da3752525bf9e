package artifact

import (
	"encoding/binary"
	"errors"
	"runtime"
	"strings"
	"testing"
)

// rawArtifact is an artifact with no metadata whose tensor records are
// given as bytes, with a valid CRC: what a hostile writer could make.
func rawArtifact(count int, records ...[]byte) []byte {
	b := append([]byte(Magic), Version)
	b = binary.AppendUvarint(b, 0) // no metadata
	b = binary.AppendUvarint(b, uint64(count))
	for _, r := range records {
		b = append(b, r...)
	}
	return withCRC(append(b, 0, 0, 0, 0))
}

// f32Record is the start of an F32 tensor record: name, rank, dims, kind.
func f32Record(name string, dims ...uint64) []byte {
	b := binary.AppendUvarint(nil, uint64(len(name)))
	b = append(b, name...)
	b = append(b, byte(len(dims)))
	for _, d := range dims {
		b = binary.AppendUvarint(b, d)
	}
	id := 0
	for i, k := range kindIDs {
		if k == F32 {
			id = i
		}
	}
	return append(b, byte(id), 0)
}

// An artifact from elsewhere is untrusted: duplicate names, shapes whose
// product overflows, and counts and lengths that claim far more than the
// file holds are errors naming the file, found before any allocation in
// proportion to the claim.
func TestDecodeHostile(t *testing.T) {
	w := Tensor{Name: "w", Shape: []int{2}, Enc: Encoding{Kind: F32}, Values: []float32{1, 2}}
	dup, err := Marshal([]Tensor{w, w}, nil)
	if err != nil {
		t.Fatal(err)
	}
	values := func(n int) []byte { return make([]byte, 4*n) }
	tests := []struct {
		name string
		data []byte
		want string
	}{
		{"duplicate names", dup, `duplicate tensor name "w"`},
		{"shape overflows", rawArtifact(1, f32Record("w", 65536, 65536, 65536, 65536)), "has more than"},
		{"terabyte tensor", rawArtifact(1, append(f32Record("w", 1<<31-1), values(2)...)), "truncated"},
		{"tensor count past the file", rawArtifact(1 << 40), "exceeds"},
		{"a million tensors claimed, one there", rawArtifact(1e6, append(f32Record("w", 2), values(2)...)), "exceeds"},
		{"two tensors claimed, one there", rawArtifact(2, append(f32Record("w", 2), values(2)...)), "tensor 1 at byte"},
		{"name length past the file", rawArtifact(1, binary.AppendUvarint(nil, 1<<15)), "truncated"},
	}
	for _, tt := range tests {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		_, err := Decode(tt.data, "/in/hostile.lbc")
		runtime.ReadMemStats(&after)
		if err == nil || !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), "/in/hostile.lbc: ") {
			t.Errorf("%s: %v, want an error naming the file with %q", tt.name, err, tt.want)
		}
		if d := after.TotalAlloc - before.TotalAlloc; d > 1<<20 {
			t.Errorf("%s: %d bytes allocated for a %d-byte file", tt.name, d, len(tt.data))
		}
	}
}
