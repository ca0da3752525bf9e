package train

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"hash/crc32"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/lightbeam-ml/lightbeam/data/shardio"
)

// A shard whose header claims 2^26 rows in a 1 KiB file (64 blocks of 2^20
// rows: consistent, and within the file's size) fails at its first block
// without first allocating room for the rows it claims.
func TestReadShardHostileRows(t *testing.T) {
	le := binary.LittleEndian
	const blocks, blockRows = 60, 1 << 20
	h := []byte(shardio.Magic)
	h = le.AppendUint32(h, shardio.Version)
	h = le.AppendUint32(h, 0) // dense
	h = le.AppendUint32(h, 1) // zstd
	h = le.AppendUint32(h, 1) // features
	h = le.AppendUint64(h, blocks*blockRows)
	h = le.AppendUint64(h, blocks)
	h = le.AppendUint32(h, blockRows)
	h = le.AppendUint32(h, crc32.Checksum(h, crc32.MakeTable(crc32.Castagnoli)))
	file := append(h, make([]byte, blocks*16+16)...)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "x.lbs"), file, 0o644)
	sum := sha256.Sum256(file)
	info := shardio.ShardInfo{Path: "x.lbs", Rows: blocks * blockRows, Bytes: int64(len(file)), SHA256: hex.EncodeToString(sum[:])}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := readShard(context.Background(), dir, info)
	runtime.ReadMemStats(&after)
	if err == nil || !strings.Contains(err.Error(), "x.lbs") {
		t.Errorf("a shard claiming %d rows in %d bytes: %v", info.Rows, len(file), err)
	}
	if d := after.TotalAlloc - before.TotalAlloc; d > 16<<20 {
		t.Errorf("%d bytes allocated reading a %d-byte shard", d, len(file))
	}
}
