package train

import (
	"errors"
	"fmt"
	"image"
	"image/color"
	"io"

	"github.com/lightbeam-ml/lightbeam/internal/plot"
)

// Size of the image WriteCurves renders, in pixels.
const (
	CurvesWidth  = 960
	CurvesHeight = 720
)

// Colours of the curves; tests look for them.
var (
	colTrainLoss = color.RGBA{31, 119, 180, 255} // blue
	colValLoss   = color.RGBA{255, 127, 14, 255} // orange
	colValAcc    = color.RGBA{44, 160, 44, 255}  // green
	colBest      = color.RGBA{214, 39, 40, 255}  // red
)

// WriteCurves writes to w a PNG (CurvesWidth×CurvesHeight) of the
// training curves in rep.History: train and validation loss per epoch in
// the upper panel, validation accuracy in the lower one, the best epoch
// (rep.BestEpoch) marked in both by a dashed line and a dot, and a title
// naming the model and mode. Non-finite values (a NaN loss that stopped
// the run) are left out of the curves. It returns an error if the history
// is empty.
func WriteCurves(w io.Writer, rep *Report) error {
	if rep == nil || len(rep.History) == 0 {
		return errors.New("train.WriteCurves: the report has no training history")
	}
	n := len(rep.History)
	xs := make([]float64, n)
	trainLoss := make([]float64, n)
	valLoss := make([]float64, n)
	valAcc := make([]float64, n)
	bestIdx := -1
	for i, e := range rep.History {
		xs[i] = float64(e.Epoch)
		if e.Epoch == 0 { // a hand-made report without epoch numbers
			xs[i] = float64(i + 1)
		}
		trainLoss[i], valLoss[i], valAcc[i] = e.TrainLoss, e.ValidationLoss, 100*e.ValidationAccuracy
		if rep.BestEpoch > 0 && int(xs[i]) == rep.BestEpoch {
			bestIdx = i
		}
	}

	c := plot.NewCanvas(CurvesWidth, CurvesHeight)
	title := fmt.Sprintf("%s  -  %s mode", orDash(rep.Model), orDash(rep.Mode))
	c.Text(title, CurvesWidth/2, 24, plot.Center, plot.TextColor, 2)
	sub := fmt.Sprintf("%d epochs", n)
	if bestIdx >= 0 {
		sub += fmt.Sprintf("   best epoch %d: val loss %.4f, val acc %.2f%%", rep.BestEpoch, valLoss[bestIdx], valAcc[bestIdx])
	}
	if rep.TestExamples > 0 {
		sub += fmt.Sprintf("   test acc %.2f%%", 100*rep.TestAccuracy)
	}
	if rep.StoppedEarly {
		sub += "   (stopped early)"
	}
	c.Text(sub, CurvesWidth/2, 50, plot.Center, plot.MutedColor, 1)

	xlo, xhi := xs[0], xs[n-1]
	if xhi <= xlo {
		xlo, xhi = xlo-1, xlo+1
	}
	pad := 0.03 * (xhi - xlo) // keep the end points off the frame
	xlo, xhi = xlo-pad, xhi+pad
	lossPanel := plot.Panel{Rect: image.Rect(90, 80, CurvesWidth-30, 380), XLo: xlo, XHi: xhi, XMinStep: 1, YLabel: "loss"}
	accPanel := plot.Panel{Rect: image.Rect(90, 430, CurvesWidth-30, 670), XLo: xlo, XHi: xhi, XMinStep: 1, YLabel: "validation accuracy (%)", XLabel: "epoch"}
	lossPanel.YLo, lossPanel.YHi = plot.FiniteRange(trainLoss, valLoss)
	accPanel.YLo, accPanel.YHi = plot.FiniteRange(valAcc)

	c.Axes(&lossPanel)
	c.Axes(&accPanel)
	if bestIdx >= 0 {
		c.VLine(&lossPanel, xs[bestIdx], colBest)
		c.VLine(&accPanel, xs[bestIdx], colBest)
	}
	c.Series(&lossPanel, xs, trainLoss, colTrainLoss)
	c.Series(&lossPanel, xs, valLoss, colValLoss)
	c.Series(&accPanel, xs, valAcc, colValAcc)
	if bestIdx >= 0 {
		c.Dot(&lossPanel, xs[bestIdx], valLoss[bestIdx], 5, colBest)
		c.Dot(&accPanel, xs[bestIdx], valAcc[bestIdx], 5, colBest)
	}
	// Loss falls and accuracy rises: their legends go where curves rarely are.
	c.Legend(&lossPanel, true, []plot.LegendEntry{{Label: "train loss", Color: colTrainLoss}, {Label: "validation loss", Color: colValLoss}, {Label: "best epoch", Color: colBest}})
	c.Legend(&accPanel, false, []plot.LegendEntry{{Label: "validation accuracy", Color: colValAcc}, {Label: "best epoch", Color: colBest}})

	if err := c.EncodePNG(w); err != nil {
		return fmt.Errorf("train.WriteCurves: %w", err)
	}
	return nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
