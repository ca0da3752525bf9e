package shardio

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A manifest from elsewhere is untrusted: a shard path that leaves the
// output directory is an error naming the manifest.
func TestManifestHostilePaths(t *testing.T) {
	for _, p := range []string{"../x.lbs", "/etc/passwd", "shards/../../x.lbs", "gs://other-bucket/x.lbs", "hdfs://nn/x.lbs", `shards\..\..\x.lbs`, "", ".."} {
		m := testManifest(6)
		m.Splits["train"] = &Split{Rows: 1, Shards: []ShardInfo{{Path: p, Rows: 1, Bytes: 100, SHA256: strings.Repeat("00", 32)}}}
		if err := m.Validate(); err == nil || !strings.Contains(err.Error(), "not a relative path inside the output") {
			t.Errorf("shard path %q: %v", p, err)
		}
		if _, err := OpenShard(context.Background(), t.TempDir(), m.Splits["train"].Shards[0]); err == nil {
			t.Errorf("OpenShard opened %q", p)
		}
	}
}

// Sizes that claim terabytes: a manifest saying a shard holds 10^12 rows
// in 4 TB, beside a 64-byte file whose header says the same, is an error
// before anything in proportion to the claim is allocated.
func TestShardHostileSizes(t *testing.T) {
	dir := t.TempDir()
	h := Header{Features: 4, BlockRows: 4096, Rows: 1e12}
	h.Blocks = blocksFor(h.Rows, h.BlockRows)
	file := appendHeader(nil, h)
	file = append(file, make([]byte, trailerSize)...)
	if err := os.MkdirAll(filepath.Join(dir, "shards"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "shards", "x.lbs"), file, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		claim int64
		want  string
	}{
		{4e12, "64 bytes, the manifest says 4000000000000"},
		{int64(len(file)), "cannot fit in a 64-byte file"},
	} {
		info := ShardInfo{Path: "shards/x.lbs", Rows: h.Rows, Bytes: tc.claim, SHA256: strings.Repeat("ab", 32)}
		_, err := OpenShard(context.Background(), dir, info)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "x.lbs") {
			t.Errorf("a shard claiming %d bytes: %v, want an error naming it with %q", tc.claim, err, tc.want)
		}
	}
}
