package main

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/lightbeam-ml/lightbeam/compress/artifact"
	"github.com/lightbeam-ml/lightbeam/model"
	"github.com/lightbeam-ml/lightbeam/model/modeltest"
	"github.com/lightbeam-ml/lightbeam/pipelines/compress"
)

// A recipe file sets the flags not given on the command line; a misspelt
// key is an error naming it; the committed recipes apply cleanly.
func TestRecipeFlags(t *testing.T) {
	recipe := filepath.Join(t.TempDir(), "r.json")
	os.WriteFile(recipe, []byte(`{"sparsity": "0.92,0.91,0.74", "prune-steps": 6, "quant": "kmeans:5", "lr": 0.005}`), 0o644)
	parse := func(args ...string) (compress.Config, error) {
		var c compress.Config
		fs := flag.NewFlagSet("compress", flag.ContinueOnError)
		finish := compress.RecipeFlags(fs, &c)
		if err := fs.Parse(args); err != nil {
			t.Fatal(err)
		}
		return c, finish(context.Background())
	}
	c, err := parse("--quant=int8", "--recipe="+recipe)
	if err != nil {
		t.Fatal(err)
	}
	if c.Quant != "int8" || !slices.Equal(c.Sparsity, []float64{0.92, 0.91, 0.74}) || c.PruneSteps != 6 || c.LR != 0.005 {
		t.Errorf("recipe + flags gave %+v", c)
	}
	os.WriteFile(recipe, []byte(`{"qaunt": "int8"}`), 0o644)
	if _, err := parse("--recipe=" + recipe); err == nil || !strings.Contains(err.Error(), `"qaunt" is not a flag`) {
		t.Errorf("a misspelt key: %v", err)
	}
	files, _ := filepath.Glob("docs/recipes/*.json")
	if len(files) == 0 {
		t.Fatal("no recipes in docs/recipes")
	}
	for _, f := range files {
		c, err := parse("--recipe=" + f)
		if err == nil {
			c.Model, c.Out, c.Data = "m", "o", "d"
			err = c.Prepare()
		}
		if err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
}

// inspect describes artifacts and model files, and names a corrupt file.
func TestInspect(t *testing.T) {
	dir := t.TempDir()
	m, err := model.New(model.Config{Arch: model.MLP, Inputs: 64, Hidden: []int{32}, Outputs: 3})
	if err != nil {
		t.Fatal(err)
	}
	params := m.Init(1)
	var ts []artifact.Tensor
	for _, mt := range m.Tensors(params) {
		q, err := artifact.Quantize(mt.Name, mt.Shape, mt.Data, nil, artifact.Encoding{Kind: artifact.Q8_0})
		if err != nil {
			q, err = artifact.Quantize(mt.Name, mt.Shape, mt.Data, nil, artifact.Encoding{Kind: artifact.F32})
		}
		if err != nil {
			t.Fatal(err)
		}
		ts = append(ts, q)
	}
	art := filepath.Join(dir, "m.lbc")
	b, err := artifact.Marshal(ts, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(art, b, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := inspect(context.Background(), art)
	if err != nil || !strings.Contains(out, "fc1.weight") || !strings.Contains(out, "q8_0") || !strings.Contains(out, "[32 64]") {
		t.Fatalf("inspect artifact: %v\n%s", err, out)
	}
	st := filepath.Join(dir, "m.safetensors")
	modeltest.WriteModel(t, st, m, params, nil)
	if out, err = inspect(context.Background(), st); err != nil || !strings.Contains(out, "fc2.bias") {
		t.Fatalf("inspect model: %v\n%s", err, out)
	}
	raw, _ := os.ReadFile(art)
	os.WriteFile(art, raw[:len(raw)-7], 0o644)
	if _, err := inspect(context.Background(), art); err == nil || !strings.Contains(err.Error(), art) {
		t.Errorf("truncated artifact: %v", err)
	}
}
