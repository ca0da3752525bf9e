// Package export holds what the exporters share: the lightbeam model to
// export, read from a model file or a compressed artifact. The formats
// are its subpackages: onnx (ONNX Runtime) and gguf (llama.cpp).
package export

import (
	"fmt"

	"github.com/lightbeam-ml/lightbeam/compress/artifact"
	"github.com/lightbeam-ml/lightbeam/model"
)

// Source is a lightbeam model to export: a model file's or a compressed
// artifact's.
type Source struct {
	// Path names the file in errors and in the exported metadata.
	Path  string
	Model *model.Model
	// Params are the float parameters in the model's layout: a model
	// file's, or the values an artifact holds (dequantized).
	Params []float32
	// Meta is the file's metadata.
	Meta map[string]string
	// Stored maps an artifact's tensors by name; nil for a model file.
	Stored map[string]*artifact.Tensor
}

// DecodeSource reads a model file (safetensors, as train writes it) or a
// compressed artifact (model.lbc, told apart by its magic). path names the
// file in errors.
func DecodeSource(raw []byte, path string) (*Source, error) {
	m, params, meta, a, err := artifact.DecodeModel(raw, path)
	if err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	src := &Source{Path: path, Model: m, Params: params, Meta: meta}
	if a == nil {
		return src, nil
	}
	src.Stored = map[string]*artifact.Tensor{}
	for i := range a.Tensors {
		src.Stored[a.Tensors[i].Name] = &a.Tensors[i]
	}
	return src, nil
}
