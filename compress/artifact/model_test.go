package artifact

import (
	"bytes"
	"slices"
	"strings"
	"testing"

	"github.com/lightbeam-ml/lightbeam/model"
)

// DecodeModel tells a model file from an artifact by the magic: both give
// the model and its values, only the artifact gives itself, and a corrupt
// artifact is an error naming the file.
func TestDecodeModel(t *testing.T) {
	m, err := model.New(model.Config{Arch: model.MLP, Inputs: 8, Hidden: []int{4}, Outputs: 3})
	if err != nil {
		t.Fatal(err)
	}
	params := m.Init(1)
	var file bytes.Buffer
	if err := model.EncodeModel(&file, m, params, map[string]string{"k": "v"}); err != nil {
		t.Fatal(err)
	}
	gm, gp, meta, a, err := DecodeModel(file.Bytes(), "m.safetensors")
	if err != nil || a != nil || gm.String() != m.String() || !slices.Equal(gp, params) || meta["k"] != "v" {
		t.Fatalf("model file: %v, artifact %v, model %v, meta %v", err, a, gm, meta)
	}

	var ts []Tensor
	for _, mt := range m.Tensors(params) {
		q, err := Quantize(mt.Name, mt.Shape, mt.Data, nil, Encoding{Kind: F32})
		if err != nil {
			t.Fatal(err)
		}
		ts = append(ts, q)
	}
	raw, err := Marshal(ts, meta) // the model file's metadata: architecture and sizes
	if err != nil {
		t.Fatal(err)
	}
	gm, gp, _, a, err = DecodeModel(raw, "m.lbc")
	if err != nil || a == nil || gm.String() != m.String() || !slices.Equal(gp, params) {
		t.Fatalf("artifact: %v, artifact %v, model %v", err, a, gm)
	}
	if _, _, _, _, err := DecodeModel(raw[:len(raw)-3], "cut.lbc"); err == nil || !strings.Contains(err.Error(), "cut.lbc") {
		t.Errorf("a cut artifact: %v", err)
	}
}
