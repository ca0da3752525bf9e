package model

import (
	"encoding/binary"
	"runtime"
	"strings"
	"testing"
)

// Safetensors files from elsewhere are untrusted: each hostile header is
// a clear error naming the file, found before any allocation in
// proportion to what the header claims.
func TestSafetensorsHostile(t *testing.T) {
	hugeLen := corrupt(`{}`, 0)
	binary.LittleEndian.PutUint64(hugeLen, 1<<63)
	tests := []struct {
		name string
		data []byte
		want string
	}{
		{"duplicate names", corrupt(`{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"w":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, 8), `"w" is named twice`},
		// the same range twice: without the check, one silently wins
		{"duplicate, same range", corrupt(`{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, 8), "named twice"},
		{"header length 2^63", hugeLen, "header length 9223372036854775808 exceeds"},
		{"terabytes", corrupt(`{"w":{"dtype":"F32","shape":[1000000000000],"data_offsets":[0,4000000000000]}}`, 8), "larger than the 8 data bytes"},
		{"offsets past the file", corrupt(`{"w":{"dtype":"U8","shape":[0],"data_offsets":[4000000000000,4000000000000]}}`, 8), "outside the 8 data bytes"},
		{"negative offset", corrupt(`{"w":{"dtype":"U8","shape":[8],"data_offsets":[-8,0]}}`, 8), "outside"},
		{"product overflows int64", corrupt(`{"w":{"dtype":"F32","shape":[4611686018427387904,4],"data_offsets":[0,0]}}`, 8), "larger than"},
		{"product overflows past a zero-free prefix", corrupt(`{"w":{"dtype":"U8","shape":[65536,65536,65536,65536],"data_offsets":[0,0]}}`, 8), "larger than"},
		{"shape past int", corrupt(`{"w":{"dtype":"U8","shape":[99999999999999999999],"data_offsets":[0,8]}}`, 8), "invalid header entry"},
	}
	for _, tt := range tests {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		_, _, err := DecodeSafetensors(tt.data, "/in/hostile.safetensors")
		runtime.ReadMemStats(&after)
		if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "/in/hostile.safetensors") {
			t.Errorf("%s: err %v, want one naming the file and containing %q", tt.name, err, tt.want)
		}
		if d := after.TotalAlloc - before.TotalAlloc; d > 1<<20 {
			t.Errorf("%s: %d bytes allocated for a %d-byte file", tt.name, d, len(tt.data))
		}
	}
	// The header alone (as checkpoints are planned): a file claiming
	// terabytes that are not there.
	if _, err := ParseSafetensorsHeader([]byte(`{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`), 1<<42, "/in/big.safetensors"); err == nil || !strings.Contains(err.Error(), "cover 8 of the") {
		t.Errorf("a header that covers 8 bytes of a 4 TiB file: %v", err)
	}
}
