package cli

import (
	"context"
	"flag"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/lightbeam-ml/lightbeam/docs/recipes"
	"github.com/lightbeam-ml/lightbeam/model"
	"github.com/lightbeam-ml/lightbeam/pipelines/compress"
)

// A recipe file sets the flags not given on the command line; a misspelt
// key is an error naming it; the committed recipes (docs/recipes, as the
// binary embeds them) apply cleanly.
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
	names, _ := fs.Glob(recipes.FS, "*.json")
	if len(names) == 0 {
		t.Fatal("no recipes in docs/recipes")
	}
	for _, name := range names {
		raw, err := recipes.FS.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		f := filepath.Join(t.TempDir(), name)
		if err := os.WriteFile(f, raw, 0o644); err != nil {
			t.Fatal(err)
		}
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

// TestCompressCheckpointLightbeam: compress --checkpoint --quant=int8
// --format=lightbeam writes OUT/model.lbc, which lightbeam inspect reads
// as a version 2 artifact of int8 and f32 records; gguf+int8 is refused
// with the reason.
func TestCompressCheckpointLightbeam(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "ckpt.safetensors")
	w := make([]float32, 8*64)
	for i := range w {
		w[i] = float32(i%17) - 8
	}
	if err := model.WriteSafetensors(p, []model.Tensor{
		{Name: "layers.0.weight", Shape: []int{8, 64}, Data: w},
		{Name: "layers.0.bias", Shape: []int{8}, Data: w[:8]},
	}, nil); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	if err := run([]string{"compress", "--checkpoint=" + p, "--quant=int8", "--format=lightbeam", "--out=" + out}); err != nil {
		t.Fatalf("compress: %v", err)
	}
	got, err := inspect(context.Background(), filepath.Join(out, "model.lbc"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"lightbeam artifact v2", "layers.0.weight", "int8", "layers.0.bias", "f32"} {
		if !strings.Contains(got, want) {
			t.Errorf("inspect lacks %q:\n%s", want, got)
		}
	}
	err = run([]string{"compress", "--checkpoint=" + p, "--quant=int8", "--out=" + filepath.Join(dir, "gguf")})
	if err == nil || !strings.Contains(err.Error(), "GGUF has no int8 type") {
		t.Errorf("gguf with int8: %v", err)
	}
}

// The demo compresses with the recipe its docs name, embedded in the
// binary: it is found by that name and parses.
func TestDemoRecipe(t *testing.T) {
	raw, err := recipes.FS.ReadFile(path.Base(demoRecipePath))
	if err != nil {
		t.Fatal(err)
	}
	c, err := compress.ParseRecipe(context.Background(), demoRecipePath, raw)
	if err != nil || c.Quant == "" || len(c.Sparsity) == 0 {
		t.Fatalf("%s: %+v, %v", demoRecipePath, c, err)
	}
}

// --sweep-recipes draws beside a sweep: alone it is refused, before
// anything is read.
func TestSweepRecipesNeedsSweep(t *testing.T) {
	err := run([]string{"compress", "--model=m", "--data=d", "--out=" + t.TempDir(), "--sweep-recipes=a.json"})
	if err == nil || !strings.Contains(err.Error(), "needs --sweep=LO:HI:N") {
		t.Errorf("--sweep-recipes without --sweep: %v", err)
	}
}
