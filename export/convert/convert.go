// Package convert is lightbeam export: it reads a model file or a
// compressed artifact (local, gs://, hdfs://), encodes it for another
// runtime with export/onnx or export/gguf, and writes the file atomically
// through storage.
//
//	model.safetensors | model.lbc ──export.DecodeSource──▶ export.Source
//	  ──onnx.Export (scale from --data or the file) | gguf.Model(--quant)──▶ OUT
//
// It is a package of its own, not a function of package export, because
// the formats import export (for Source): export cannot import them back.
package convert

import (
	"context"
	"fmt"
	"strings"

	"github.com/lightbeam-ml/lightbeam/data/shardio"
	"github.com/lightbeam-ml/lightbeam/export"
	"github.com/lightbeam-ml/lightbeam/export/gguf"
	"github.com/lightbeam-ml/lightbeam/export/onnx"
	"github.com/lightbeam-ml/lightbeam/storage"
)

// Config says what Write writes.
type Config struct {
	Model  string // Required. A model file or a compressed artifact.
	Format string // Required. "onnx" or "gguf".
	Out    string // Required. The output file.
	Data   string // Optional. onnx: a preprocess output (its manifest's scale).
	Quant  string // Optional. gguf: the type of the weight matrices; defaults to f32.
}

// Write writes c.Model in c.Format to c.Out, atomically, and returns the
// one-line summary that lightbeam export prints. A failed export leaves
// no file at c.Out.
func Write(ctx context.Context, c Config) (string, error) {
	if c.Model == "" || c.Out == "" || c.Format == "" {
		return "", fmt.Errorf("export: --model, --format and --out are required")
	}
	var encode func(*export.Source) ([]byte, string, error)
	switch c.Format {
	case "onnx":
		encode = func(src *export.Source) ([]byte, string, error) { return encodeONNX(ctx, c, src) }
	case "gguf":
		q := gguf.F32
		if c.Quant != "" && c.Quant != "f32" {
			var err error
			if q, err = gguf.ParseType(c.Quant); err != nil || q != gguf.Q8_0 && q != gguf.Q4_0 && q != gguf.Q4_K {
				return "", fmt.Errorf("export: --quant=%s: want f32, q8_0, q4_0 or q4_k", c.Quant)
			}
		}
		encode = func(src *export.Source) ([]byte, string, error) { return encodeGGUF(src, q) }
	default:
		return "", fmt.Errorf("export: --format=%s: unknown format (want onnx or gguf)", c.Format)
	}
	raw, err := storage.ReadFile(ctx, c.Model)
	if err != nil {
		return "", err
	}
	src, err := export.DecodeSource(raw, c.Model)
	if err != nil {
		return "", err
	}
	b, summary, err := encode(src)
	if err != nil {
		return "", err
	}
	if err := storage.WriteBytes(ctx, c.Out, b); err != nil {
		return "", err
	}
	return fmt.Sprintf("export: %s: %s", c.Out, summary), nil
}

// encodeONNX returns the ONNX graph of src with the preprocessing scale
// folded in: the manifest's in c.Data when given, else the one the model
// file records.
func encodeONNX(ctx context.Context, c Config, src *export.Source) ([]byte, string, error) {
	var man *shardio.Manifest
	if c.Data != "" {
		var err error
		if man, err = shardio.ReadManifest(ctx, c.Data); err != nil {
			return nil, "", err
		}
	}
	sc, from, err := onnx.InputScale(src, man, c.Data)
	if err != nil {
		return nil, "", err
	}
	b, sum, err := onnx.Export(src, sc)
	if err != nil {
		return nil, "", err
	}
	return b, fmt.Sprintf("%s (scale from %s)", sum, from), nil
}

// encodeGGUF returns src as a GGUF file (export/gguf.Model), its weight
// matrices quantized to q.
func encodeGGUF(src *export.Source, q gguf.Type) ([]byte, string, error) {
	b, tensors, err := gguf.Model(src, q)
	if err != nil {
		return nil, "", err
	}
	var parts []string
	for _, t := range tensors {
		parts = append(parts, fmt.Sprintf("%s %v %v", t.Name, t.Shape, t.Type))
	}
	return b, fmt.Sprintf("GGUF v%d, %d bytes, %s: %s", gguf.Version, len(b), src.Model, strings.Join(parts, ", ")), nil
}
