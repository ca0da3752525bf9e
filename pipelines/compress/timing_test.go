package compress

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lightbeam-ml/lightbeam/compress/artifact"
	"github.com/lightbeam-ml/lightbeam/model"
	"github.com/lightbeam-ml/lightbeam/model/modeltest"
)

// TimeArtifact times an artifact with its own kernels and names them and
// the backend; a model file gives nothing; Report.Table shows accuracy
// only for a run that evaluated.
func TestTimeArtifactAndTable(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	m, err := model.New(model.Config{Arch: model.MLP, Inputs: 16, Hidden: []int{8}, Outputs: 3})
	if err != nil {
		t.Fatal(err)
	}
	params := m.Init(1)
	st := filepath.Join(dir, "model.safetensors")
	modeltest.WriteModel(t, st, m, params, nil)
	_, _, meta := modeltest.ReadModel(t, st)
	var ts []artifact.Tensor
	for _, mt := range m.Tensors(params) {
		enc := artifact.Encoding{Kind: artifact.F32}
		if len(mt.Shape) == 2 {
			enc.Kind = artifact.Int8
		}
		q, err := artifact.Quantize(mt.Name, mt.Shape, mt.Data, nil, enc)
		if err != nil {
			t.Fatal(err)
		}
		ts = append(ts, q)
	}
	lbc := filepath.Join(dir, "model.lbc")
	raw, err := artifact.Marshal(ts, meta)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(lbc, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	ms, kernels, err := TimeArtifact(ctx, lbc, "go")
	if err != nil || ms <= 0 || !strings.HasSuffix(kernels, " on go") || !strings.Contains(kernels, "fc1=") {
		t.Errorf("artifact: %v ms, %q, %v", ms, kernels, err)
	}
	if ms, kernels, err := TimeArtifact(ctx, st, "go"); err != nil || ms != 0 || kernels != "" {
		t.Errorf("model file: %v ms, %q, %v; want nothing", ms, kernels, err)
	}
	if _, _, err := TimeArtifact(ctx, filepath.Join(dir, "none.lbc"), "go"); err == nil || !strings.Contains(err.Error(), "none.lbc") {
		t.Errorf("a missing file: %v", err)
	}

	rep := &Report{BytesBefore: 100, BytesAfter: 25, Ratio: 4, Kernels: "fc1=int8", Backend: "go", AccuracyBefore: 0.9}
	if tab := rep.Table(); strings.Contains(tab, "test accuracy") || !strings.Contains(tab, "4.0x smaller") || !strings.Contains(tab, "(fc1=int8 on go)") {
		t.Errorf("without data:\n%s", tab)
	}
	rep.Recipe.Data = "prep"
	if tab := rep.Table(); !strings.Contains(tab, "test accuracy") || !strings.Contains(tab, "90.00%") {
		t.Errorf("with data:\n%s", tab)
	}
}
