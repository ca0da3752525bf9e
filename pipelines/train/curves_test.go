package train

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func curvesReport(n, best int) *Report {
	rep := &Report{Model: "mlp(784-300-100-10)", Mode: "sync", BestEpoch: best, TestAccuracy: 0.978, TestExamples: 10000}
	for e := 1; e <= n; e++ {
		rep.History = append(rep.History, Epoch{
			Epoch:              e,
			TrainLoss:          0.05 + 1.0/float64(e),
			ValidationLoss:     0.08 + 0.9/float64(e) + 0.02*float64(e),
			ValidationAccuracy: 0.90 + 0.08*(1-1/float64(e)),
		})
	}
	rep.Epochs = n
	return rep
}

func decodeCurves(t *testing.T, rep *Report) *image.RGBA {
	t.Helper()
	var buf bytes.Buffer
	if err := WriteCurves(&buf, rep); err != nil {
		t.Fatalf("WriteCurves: %v", err)
	}
	if dir := os.Getenv("LIGHTBEAM_CURVES_DIR"); dir != "" { // to look at it
		_ = os.WriteFile(filepath.Join(dir, strings.ReplaceAll(t.Name(), "/", "_")+".png"), buf.Bytes(), 0o644)
	}
	img, err := png.Decode(&buf)
	if err != nil {
		t.Fatalf("decoding the PNG: %v", err)
	}
	if b := img.Bounds(); b.Dx() != CurvesWidth || b.Dy() != CurvesHeight {
		t.Fatalf("PNG is %dx%d, want %dx%d", b.Dx(), b.Dy(), CurvesWidth, CurvesHeight)
	}
	rgba := image.NewRGBA(img.Bounds())
	for y := 0; y < CurvesHeight; y++ {
		for x := 0; x < CurvesWidth; x++ {
			rgba.Set(x, y, img.At(x, y))
		}
	}
	return rgba
}

// countColor counts pixels of exactly col in the rows [y0, y1).
func countColor(img *image.RGBA, col color.RGBA, y0, y1 int) int {
	n := 0
	for y := y0; y < y1; y++ {
		for x := 0; x < img.Rect.Dx(); x++ {
			if img.RGBAAt(x, y) == col {
				n++
			}
		}
	}
	return n
}

func TestWriteCurves(t *testing.T) {
	img := decodeCurves(t, curvesReport(5, 3))
	colors := map[color.RGBA]bool{}
	for y := 0; y < CurvesHeight; y++ {
		for x := 0; x < CurvesWidth; x++ {
			colors[img.RGBAAt(x, y)] = true
		}
	}
	if len(colors) <= 2 {
		t.Fatalf("the PNG has %d colours; want a drawing, not a blank", len(colors))
	}
	// Each curve is where it belongs: losses in the upper panel, accuracy
	// in the lower, the best-epoch mark in both.
	mid := CurvesHeight * 56 / 100
	for _, c := range []struct {
		name   string
		col    color.RGBA
		y0, y1 int
	}{
		{"train loss, upper panel", colTrainLoss, 0, mid},
		{"validation loss, upper panel", colValLoss, 0, mid},
		{"validation accuracy, lower panel", colValAcc, mid, CurvesHeight},
		{"best epoch, upper panel", colBest, 0, mid},
		{"best epoch, lower panel", colBest, mid, CurvesHeight},
	} {
		// legend swatches alone are 22×3 = 66 pixels; a curve is far more.
		if n := countColor(img, c.col, c.y0, c.y1); n < 200 {
			t.Errorf("%s: %d pixels of its colour, want ≥ 200", c.name, n)
		}
	}
	if n := countColor(img, colValAcc, 0, mid); n > 0 {
		t.Errorf("validation accuracy colour found in the loss panel (%d pixels)", n)
	}
	if n := countColor(img, colTrainLoss, mid, CurvesHeight); n > 0 {
		t.Errorf("train loss colour found in the accuracy panel (%d pixels)", n)
	}
}

func TestWriteCurvesBestEpochMoves(t *testing.T) {
	// The dashed best-epoch line is a column of red; it must follow BestEpoch.
	redColumn := func(img *image.RGBA) int {
		best, bestX := 0, -1
		for x := 0; x < CurvesWidth; x++ {
			n := 0
			for y := 100; y < 370; y++ {
				if img.RGBAAt(x, y) == colBest {
					n++
				}
			}
			if n > best {
				best, bestX = n, x
			}
		}
		return bestX
	}
	x2 := redColumn(decodeCurves(t, curvesReport(5, 2)))
	x4 := redColumn(decodeCurves(t, curvesReport(5, 4)))
	if !(x2 > 0 && x4 > x2) {
		t.Fatalf("best-epoch line at x=%d for epoch 2 and x=%d for epoch 4; want it further right for 4", x2, x4)
	}
}

func TestWriteCurvesOddHistories(t *testing.T) {
	one := curvesReport(1, 1)
	nan := curvesReport(6, 2)
	nan.History[5].TrainLoss = math.NaN()
	nan.History[5].ValidationLoss = math.Inf(1)
	nan.StoppedEarly = true
	flat := curvesReport(4, 0)
	for i := range flat.History {
		flat.History[i].ValidationAccuracy = 0.5
	}
	long := curvesReport(300, 120)
	for name, rep := range map[string]*Report{"one epoch": one, "NaN last epoch": nan, "flat accuracy": flat, "300 epochs": long} {
		t.Run(name, func(t *testing.T) {
			img := decodeCurves(t, rep)
			if n := countColor(img, colValAcc, CurvesHeight*56/100, CurvesHeight); n < 20 {
				t.Errorf("validation accuracy: %d pixels of its colour", n)
			}
		})
	}
}

func TestWriteCurvesEmpty(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteCurves(&buf, &Report{Model: "softmax"}); err == nil {
		t.Error("empty history: no error")
	}
	if err := WriteCurves(&buf, nil); err == nil {
		t.Error("nil report: no error")
	}
	if buf.Len() != 0 {
		t.Errorf("wrote %d bytes on error", buf.Len())
	}
}
