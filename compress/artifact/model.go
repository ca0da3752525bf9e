package artifact

import (
	"bytes"

	"github.com/lightbeam-ml/lightbeam/model"
)

// DecodeModel decodes raw, which is either a model file (safetensors, as
// train writes it) or a compressed artifact, told apart by the artifact's
// magic: the model, its parameters (an artifact's values, dequantized)
// and its metadata, and the artifact itself, nil for a model file. path
// names the file in errors. It is the one place that asks "model file or
// artifact?": train.ReadModel, export.DecodeSource and the timing of
// lightbeam evaluate all decode through it.
func DecodeModel(raw []byte, path string) (*model.Model, []float32, map[string]string, *Artifact, error) {
	if !bytes.HasPrefix(raw, []byte(Magic)) {
		m, params, meta, err := model.DecodeModel(raw, path)
		return m, params, meta, nil, err
	}
	a, err := Decode(raw, path)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	m, params, err := a.Model(path)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	return m, params, a.Meta, a, nil
}
