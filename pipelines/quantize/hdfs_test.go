package quantize

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/lightbeam-ml/lightbeam/internal/pyenv"
	"github.com/lightbeam-ml/lightbeam/storage"
	"github.com/lightbeam-ml/lightbeam/storage/hdfstest"
)

// A sharded checkpoint on hdfs:// (Hadoop's MiniDFSCluster, hdfstest):
// chunks read by byte range, parts written beside the output and joined by
// storage.Concat into model.gguf. Its data is the local run's, byte for
// byte, and no part is left.
func TestHDFS(t *testing.T) {
	py := pyenv.Need(t, "numpy", "safetensors")
	ctx := context.Background()
	root := hdfstest.Root(t)
	ckpt, files := generate(t, py, "f16", 2, 3)
	for _, f := range append(files, filepath.Join(ckpt, IndexFile)) {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := storage.WriteBytes(ctx, storage.Join(root, "ckpt", filepath.Base(f)), b); err != nil {
			t.Fatal(err)
		}
	}
	local := t.TempDir()
	run(t, Config{Checkpoint: ckpt, Arch: "raw", Out: local, Quant: "q8_0", ChunkMB: 1})
	remote := storage.Join(root, "out")
	run(t, Config{Checkpoint: storage.Join(root, "ckpt"), Arch: "raw", Out: remote, Quant: "q8_0", ChunkMB: 1})
	_, ls, lraw := readGGUF(t, filepath.Join(local, GGUFFile))
	_, rs, rraw := readGGUF(t, storage.Join(remote, GGUFFile))
	if !bytes.Equal(lraw[ls:], rraw[rs:]) {
		t.Errorf("the hdfs:// output's data (%d bytes) differs from the local one's (%d)", len(rraw)-int(rs), len(lraw)-int(ls))
	}
	left, err := storage.List(ctx, storage.Join(remote, partsDir, "**"))
	if err != nil || len(left) != 0 {
		t.Errorf("parts left in %s: %v (%v)", remote, left, err)
	}
}
