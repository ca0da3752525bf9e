package forward

// A Hugging Face model directory as a checkpoint: read as the F32 GGUF
// file that lightbeam's converter (package llm) would write from it, so
// that a source model and its quantized GGUF are evaluated by the same
// forward pass, on the same tensor names and the same metadata.

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"strings"

	"github.com/lightbeam-ml/lightbeam/export/gguf"
	"github.com/lightbeam-ml/lightbeam/llm"
	"github.com/lightbeam-ml/lightbeam/model"
	"github.com/lightbeam-ml/lightbeam/storage"
)

// IsDir reports whether path is a model directory (it holds config.json)
// rather than a GGUF file.
func IsDir(ctx context.Context, path string) (bool, error) {
	if strings.HasSuffix(strings.ToLower(path), ".gguf") {
		return false, nil
	}
	return storage.Exists(ctx, storage.Join(path, "config.json"))
}

// dirHeader is Header of a model directory: the converter's metadata for
// an F32 file and its tensors, every one F32; no tensor data.
func dirHeader(ctx context.Context, dir string) (*Model, *llm.Model, error) {
	src, err := llm.Open(ctx, dir, llm.Options{})
	if err != nil {
		return nil, nil, err
	}
	ft, err := llm.FileType("f32")
	if err != nil {
		return nil, nil, err
	}
	kv, err := src.KV(ft)
	if err != nil {
		return nil, nil, err
	}
	f := &gguf.File{KV: kv}
	for _, t := range src.Tensors {
		f.Tensors = append(f.Tensors, gguf.TensorInfo{Name: t.Name, Shape: t.Shape, Type: gguf.F32})
	}
	m, err := newModel(f, dir)
	if err != nil {
		return nil, nil, err
	}
	return m, src, nil
}

// loadDir is Load of a model directory: each tensor read by its byte
// range, pinned to the version of its file that was planned, decoded to
// float32 and its rows permuted as the converter permutes them.
func loadDir(ctx context.Context, dir string) (*Model, error) {
	m, src, err := dirHeader(ctx, dir)
	if err != nil {
		return nil, err
	}
	for _, t := range src.Tensors {
		vals := t.Data
		if t.Source != "" {
			n := t.End - t.Begin
			if want := int64(m.tensors[t.Name].elems() * model.DTypeSize(t.DType)); n != want {
				return nil, fmt.Errorf("forward: %s: %s: %d bytes, want %d", t.File, t.Source, n, want)
			}
			r, err := storage.OpenRangeAt(ctx, t.File, t.Generation, t.Begin, n)
			if err != nil {
				return nil, err
			}
			raw := make([]byte, n)
			_, err = io.ReadFull(r, raw)
			r.Close()
			if err != nil {
				return nil, fmt.Errorf("forward: %s: reading %s: %w", t.File, t.Source, err)
			}
			vals = make([]float32, m.tensors[t.Name].elems())
			model.DecodeFloats(vals, raw, t.DType)
			if t.PermuteHeads > 0 {
				out := make([]float32, len(vals))
				t.PermuteRows(out, vals, 0, len(vals)/int(t.Shape[0]))
				vals = out
			}
		}
		b := make([]byte, 4*len(vals))
		for i, v := range vals {
			binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(v))
		}
		m.tensors[t.Name].data = b
	}
	return m, m.finish()
}
