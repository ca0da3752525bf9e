package compress

import (
	"bytes"
	"context"
	"encoding/json"
	"image/color"
	"image/png"
	"io"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestParseSweep(t *testing.T) {
	sw, err := ParseSweep("0.5:0.98:8")
	if err != nil {
		t.Fatal(err)
	}
	sp := sw.Sparsities()
	if len(sp) != 8 || sp[0] != 0.5 || sp[7] != 0.98 {
		t.Errorf("0.5:0.98:8 gives %v", sp)
	}
	for i := 1; i < len(sp); i++ {
		if d := sp[i] - sp[i-1]; math.Abs(d-0.48/7) > 1e-12 {
			t.Errorf("step %d of %v is %v, want %v", i, sp, d, 0.48/7)
		}
	}
	if sw, err := ParseSweep(" 0.9 : 0.9 : 1 "); err != nil || !reflect.DeepEqual(sw.Sparsities(), []float64{0.9}) {
		t.Errorf("0.9:0.9:1: %v, %v", sw, err)
	}
	for _, tc := range []struct{ in, want string }{
		{"0.5:0.98", "want LO:HI:N"},
		{"0.5:0.9:8:2", "want LO:HI:N"},
		{"", "want LO:HI:N"},
		{"half:0.9:3", `LO "half" is not a number`},
		{"0.5:ninety:3", `HI "ninety" is not a number`},
		{"0.5:0.9:3.5", `N "3.5" is not a whole number`},
		{"0.5:1:3", "want 0 ≤ LO ≤ HI < 1"},
		{"0.9:0.5:3", "want 0 ≤ LO ≤ HI < 1"},
		{"-0.1:0.5:3", "want 0 ≤ LO ≤ HI < 1"},
		{"NaN:0.5:3", "want 0 ≤ LO ≤ HI < 1"},
		{"0.5:0.9:0", "want N ≥ 1"},
		{"0.5:0.9:1", "needs LO = HI"},
	} {
		_, err := ParseSweep(tc.in)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "--sweep="+tc.in) {
			t.Errorf("ParseSweep(%q): got %v, want an error naming it and saying %q", tc.in, err, tc.want)
		}
	}
}

// A sweep on Beam gives the same points as with --plain; bytes fall as
// sparsity rises; each setting's bytes are those of the artifact that
// `lightbeam compress --sparsity=S` writes; sweep.json and sweep.png are
// written and read back.
func TestSweep(t *testing.T) {
	data, modelDir := trained(t)
	ctx := context.Background()
	sw := Sweep{Lo: 0.5, Hi: 0.95, N: 4}
	var reps []*SweepReport
	for _, plain := range []bool{true, false} {
		c := Config{Model: modelDir, Data: data, Out: t.TempDir(), Quant: "kmeans:4", Accel: "go", Plain: plain}
		rep, err := RunSweep(ctx, c, sw, io.Discard)
		if err != nil {
			t.Fatalf("plain=%v: %v", plain, err)
		}
		reps = append(reps, rep)
		t.Logf("plain=%v:%s", plain, rep.Table())

		raw, err := os.ReadFile(filepath.Join(c.Out, SweepJSON))
		if err != nil {
			t.Fatal(err)
		}
		var got SweepReport
		if err := json.Unmarshal(raw, &got); err != nil {
			t.Fatalf("sweep.json: %v", err)
		}
		if len(got.Points) != sw.N || !reflect.DeepEqual(got.Points, rep.Points) {
			t.Errorf("plain=%v: sweep.json holds %d points %+v, want %d: %+v", plain, len(got.Points), got.Points, sw.N, rep.Points)
		}
		f, err := os.Open(filepath.Join(c.Out, SweepPNG))
		if err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(f)
		f.Close()
		if err != nil {
			t.Fatalf("sweep.png: %v", err)
		}
		if b := img.Bounds(); b.Dx() != SweepWidth || b.Dy() != SweepHeight {
			t.Errorf("sweep.png is %v, want %dx%d", b, SweepWidth, SweepHeight)
		}
		if _, err := os.Stat(filepath.Join(c.Out, ".sweep-points.json")); !os.IsNotExist(err) {
			t.Errorf("plain=%v: the pipeline's points file is left behind: %v", plain, err)
		}
		// A finished sweep is not replaced without --overwrite.
		if _, err := RunSweep(ctx, c, sw, io.Discard); err == nil || !strings.Contains(err.Error(), "--overwrite") {
			t.Errorf("plain=%v: a second sweep into %s: %v", plain, c.Out, err)
		}
	}
	plain, onBeam := reps[0], reps[1]
	if !reflect.DeepEqual(plain.Points, onBeam.Points) {
		t.Errorf("Beam and plain sweeps differ:\nplain %+v\nBeam  %+v", plain.Points, onBeam.Points)
	}
	pts := plain.Points
	for i, p := range pts {
		if want := sw.Sparsities()[i]; p.Sparsity != want {
			t.Errorf("point %d has sparsity %v, want %v", i, p.Sparsity, want)
		}
		if i > 0 && p.Bytes >= pts[i-1].Bytes {
			t.Errorf("bytes do not fall with sparsity: %v → %d bytes, %v → %d", pts[i-1].Sparsity, pts[i-1].Bytes, p.Sparsity, p.Bytes)
		}
		if p.Accuracy <= 0 || p.Loss <= 0 {
			t.Errorf("point %d is not evaluated: %+v", i, p)
		}
	}
	if pts[0].Accuracy < 0.8 {
		t.Errorf("at sparsity %v the accuracy is %.4f, want the trained model's (> 0.8)", pts[0].Sparsity, pts[0].Accuracy)
	}
	if len(plain.References) != 0 || len(plain.Notes) == 0 {
		t.Errorf("a 16-32-3 model is drawn with the LeNet records %v (notes %q)", plain.References, plain.Notes)
	}

	// The sweep's bytes and accuracy are those of the real compression at
	// that sparsity, one-shot.
	for _, i := range []int{0, sw.N - 1} {
		rep, err := Run(ctx, Config{Model: modelDir, Data: data, Out: t.TempDir(), Sparsity: []float64{pts[i].Sparsity}, Quant: "kmeans:4", Accel: "go", Plain: true}, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		if rep.BytesAfter != pts[i].Bytes || rep.AccuracyAfter != pts[i].Accuracy || rep.LossAfter != pts[i].Loss {
			t.Errorf("sparsity %v: compress writes %d bytes, accuracy %v, loss %v; the sweep says %+v", pts[i].Sparsity, rep.BytesAfter, rep.AccuracyAfter, rep.LossAfter, pts[i])
		}
	}
}

func TestSweepErrors(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		c    Config
		sw   Sweep
		want string
	}{
		{Config{Model: "m", Out: "o"}, Sweep{Lo: 0.5, Hi: 0.9, N: 3}, "--data is required"},
		{Config{Model: "m", Data: "d", Out: "o"}, Sweep{Lo: 0.5, Hi: 0.9, N: 0}, "want N ≥ 1"},
		{Config{Model: "m", Data: "d", Out: "o"}, Sweep{Lo: 0.5, Hi: 1.5, N: 3}, "want 0 ≤ LO ≤ HI < 1"},
		{Config{Model: "m", Data: "d", Out: "o", Quant: "int3"}, Sweep{Lo: 0.5, Hi: 0.9, N: 3}, "--quant=int3"},
		{Config{Data: "d", Out: "o"}, Sweep{Lo: 0.5, Hi: 0.9, N: 3}, "--model and --out are required"},
	} {
		if _, err := RunSweep(ctx, tc.c, tc.sw, io.Discard); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v %+v: got %v, want %q", tc.c, tc.sw, err, tc.want)
		}
	}
}

// The plot of a LeNet-300-100 sweep carries the records as red diamonds.
func TestSweepPlotReferences(t *testing.T) {
	rep := &SweepReport{Arch: lenet300, Recipe: Config{Quant: "kmeans:4"}, References: LeNet300References}
	for i, s := range []float64{0.5, 0.8, 0.9, 0.95, 0.98} {
		rep.Points = append(rep.Points, SweepPoint{Sparsity: s, Bytes: 200000 >> (2 * i), Accuracy: 0.984 - 0.01*float64(i*i)})
	}
	count := func(r *SweepReport) int { return countColour(t, r, colReference) }
	with := count(rep)
	rep.References = nil
	without := count(rep)
	if with < 2*50 || without != 0 {
		t.Errorf("%d reference-coloured pixels with the records, %d without", with, without)
	}
	if err := WriteSweepPlot(io.Discard, &SweepReport{}); err == nil {
		t.Error("a sweep without points was drawn")
	}
	// Fine-tuned recipes are drawn in their own colour.
	if n := countColour(t, rep, colTuned); n != 0 {
		t.Errorf("%d tuned-coloured pixels without fine-tuned points", n)
	}
	rep.Tuned = []TunedPoint{{Name: "a", Bytes: 20000, Accuracy: 0.985}, {Name: "b", Bytes: 15000, Accuracy: 0.988}}
	if n := countColour(t, rep, colTuned); n < 100 {
		t.Errorf("%d tuned-coloured pixels with two fine-tuned points", n)
	}
}

// countColour counts the pixels of colour col in r's plot.
func countColour(t *testing.T, r *SweepReport, col color.RGBA) int {
	t.Helper()
	{
		var buf bytes.Buffer
		if err := WriteSweepPlot(&buf, r); err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(&buf)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		b := img.Bounds()
		for y := b.Min.Y; y < b.Max.Y; y++ {
			for x := b.Min.X; x < b.Max.X; x++ {
				r, g, bl, _ := img.At(x, y).RGBA()
				if r>>8 == uint32(col.R) && g>>8 == uint32(col.G) && bl>>8 == uint32(col.B) {
					n++
				}
			}
		}
		return n
	}
}

// Fine-tuned recipes run in full into OUT/NAME; their points are the
// artifacts' bytes and the reports' accuracy; a finished one is read back;
// two recipes of one name are refused.
func TestSweepRecipes(t *testing.T) {
	data, modelDir := trained(t)
	ctx := context.Background()
	dir := t.TempDir()
	recipe := filepath.Join(dir, "tuned.json")
	if err := os.WriteFile(recipe, []byte(`{"sparsity": "0.7", "prune-steps": 1, "finetune-epochs": 1, "quant": "kmeans:4"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	c := Config{Model: modelDir, Data: data, Out: filepath.Join(dir, "out"), Quant: "kmeans:4", Accel: "go", Plain: true}
	sw := Sweep{Lo: 0.5, Hi: 0.9, N: 2, Recipes: []string{recipe}}
	rep, err := RunSweep(ctx, c, sw, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Tuned) != 1 {
		t.Fatalf("tuned points %+v, want one", rep.Tuned)
	}
	tp := rep.Tuned[0]
	art, err := os.Stat(filepath.Join(c.Out, "tuned", ArtifactName))
	if err != nil {
		t.Fatal(err)
	}
	if tp.Name != "tuned" || int64(tp.Bytes) != art.Size() || tp.Accuracy < 0.8 || tp.Sparsity < 0.69 || tp.Sparsity > 0.71 {
		t.Errorf("tuned point %+v; the artifact has %d bytes", tp, art.Size())
	}
	if !strings.Contains(rep.Table(), "fine-tuned: tuned") {
		t.Errorf("the table lacks the fine-tuned recipe:\n%s", rep.Table())
	}
	// Again into the same directory (sweep.json removed): the recipe's
	// output is read back, with the same point.
	if err := os.Remove(filepath.Join(c.Out, SweepJSON)); err != nil {
		t.Fatal(err)
	}
	again, err := RunSweep(ctx, c, sw, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if a := again.Tuned[0]; a.Bytes != tp.Bytes || a.Accuracy != tp.Accuracy {
		t.Errorf("read back %+v, first run %+v", a, tp)
	}
	sw.Recipes = []string{recipe, filepath.Join(dir, "sub", "tuned.json")}
	c.Out = t.TempDir()
	if _, err := RunSweep(ctx, c, sw, io.Discard); err == nil || !strings.Contains(err.Error(), "would both write") {
		t.Errorf("two recipes named tuned: %v", err)
	}
}
