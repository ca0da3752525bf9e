package quantize

import (
	"context"
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A checkpoint from elsewhere is untrusted: an index that names shards
// outside its directory, and headers that lie, are errors naming the
// file, found from the header alone.
func TestHostileCheckpoints(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	for _, shard := range []string{"../x.safetensors", "/etc/x.safetensors", "gs://other-bucket/x.safetensors", `..\x.safetensors`, "..", "sub/x.safetensors", ""} {
		idx := filepath.Join(dir, "model.safetensors.index.json")
		os.WriteFile(idx, []byte(`{"weight_map": {"w": "`+strings.ReplaceAll(shard, `\`, `\\`)+`"}}`), 0o644)
		if _, _, err := Resolve(ctx, idx); err == nil || !strings.Contains(err.Error(), "not a file beside the index") || !strings.Contains(err.Error(), idx) {
			t.Errorf("index naming %q: %v", shard, err)
		}
	}
	big := filepath.Join(dir, "big.index.json")
	f, _ := os.Create(big)
	f.Truncate(maxIndexBytes + 1)
	f.Close()
	if _, _, err := Resolve(ctx, big); err == nil || !strings.Contains(err.Error(), "more than the") {
		t.Errorf("a %d-byte index: %v", maxIndexBytes+1, err)
	}

	header := func(name, js string, data int, lenField uint64) string {
		p := filepath.Join(dir, name)
		b := binary.LittleEndian.AppendUint64(nil, lenField)
		b = append(append(b, js...), make([]byte, data)...)
		os.WriteFile(p, b, 0o644)
		return p
	}
	one := `{"dtype":"F32","shape":[2],"data_offsets":[0,8]}`
	for _, tt := range []struct {
		path, want string
	}{
		{header("dup.safetensors", `{"w":`+one+`,"w":`+one+`}`, 8, uint64(len(`{"w":`+one+`,"w":`+one+`}`))), "named twice"},
		{header("long.safetensors", `{"w":`+one+`}`, 8, 1<<40), "header length 1099511627776 exceeds"},
		{header("tb.safetensors", `{"w":{"dtype":"F32","shape":[1000000000000],"data_offsets":[0,4000000000000]}}`, 8, uint64(len(`{"w":{"dtype":"F32","shape":[1000000000000],"data_offsets":[0,4000000000000]}}`))), "larger than"},
	} {
		if _, err := ReadHeader(ctx, tt.path); err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), tt.path) {
			t.Errorf("%s: %v, want an error naming it with %q", tt.path, err, tt.want)
		}
	}
}
