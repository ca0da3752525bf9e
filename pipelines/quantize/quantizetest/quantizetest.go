// Package quantizetest writes GGUF fixtures for tests with lightbeam's own
// compress --checkpoint job, from llm/llmtest's model directories.
package quantizetest

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/lightbeam-ml/lightbeam/llm/llmtest"
	"github.com/lightbeam-ml/lightbeam/pipelines/quantize"
)

var mu sync.Mutex

// GGUF returns a GGUF of the model directory kind (llmtest.Dir) at preset
// quant, written by the compress --checkpoint job once per test binary,
// under llmtest's root (llmtest.Cleanup removes it). The caller's TestMain
// must run Beam (ptest.MainRet).
func GGUF(t testing.TB, kind, quant string) string {
	t.Helper()
	dir := llmtest.Dir(t, kind)
	mu.Lock()
	defer mu.Unlock()
	out := filepath.Join(llmtest.Root(t), kind+"-"+quant)
	path := filepath.Join(out, quantize.GGUFFile)
	if _, err := os.Stat(path); err != nil {
		if _, err := quantize.Run(context.Background(), quantize.Config{Checkpoint: dir, Out: out, Quant: quant}, io.Discard); err != nil {
			t.Fatal(err)
		}
	}
	return path
}
