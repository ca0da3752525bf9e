package train

import (
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"io"
	"math"
	"strconv"

	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"
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
	colGrid      = color.RGBA{232, 232, 232, 255}
	colAxis      = color.RGBA{80, 80, 80, 255}
	colText      = color.RGBA{20, 20, 20, 255}
	colMuted     = color.RGBA{110, 110, 110, 255}
)

// WriteCurves writes to w a PNG (CurvesWidth×CurvesHeight) of the
// training curves in rep.History: train and validation loss per epoch in
// the upper panel, validation accuracy in the lower one, the best epoch
// (rep.BestEpoch) marked in both by a dashed line and a dot, and a title
// naming the model and mode. Non-finite values (a NaN loss that stopped
// the run) are left out of the curves. It returns an error if the history
// is empty.
//
// It draws with the standard library and a bitmap font, not a plotting
// library: one PNG did not justify the ~8 MB of fonts and backends that
// gonum.org/v1/plot adds to every binary, workers included.
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

	c := newCanvas(CurvesWidth, CurvesHeight)
	title := fmt.Sprintf("%s  -  %s mode", orDash(rep.Model), orDash(rep.Mode))
	c.text(title, CurvesWidth/2, 24, alignCenter, colText, 2)
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
	c.text(sub, CurvesWidth/2, 50, alignCenter, colMuted, 1)

	xlo, xhi := xs[0], xs[n-1]
	if xhi <= xlo {
		xlo, xhi = xlo-1, xlo+1
	}
	pad := 0.03 * (xhi - xlo) // keep the end points off the frame
	xlo, xhi = xlo-pad, xhi+pad
	lossPanel := panel{rect: image.Rect(90, 80, CurvesWidth-30, 380), xlo: xlo, xhi: xhi, ylabel: "loss"}
	accPanel := panel{rect: image.Rect(90, 430, CurvesWidth-30, 670), xlo: xlo, xhi: xhi, ylabel: "validation accuracy (%)", xlabel: "epoch"}
	lossPanel.ylo, lossPanel.yhi = finiteRange(trainLoss, valLoss)
	accPanel.ylo, accPanel.yhi = finiteRange(valAcc)

	c.axes(&lossPanel)
	c.axes(&accPanel)
	if bestIdx >= 0 {
		c.bestLine(&lossPanel, xs[bestIdx])
		c.bestLine(&accPanel, xs[bestIdx])
	}
	c.series(&lossPanel, xs, trainLoss, colTrainLoss)
	c.series(&lossPanel, xs, valLoss, colValLoss)
	c.series(&accPanel, xs, valAcc, colValAcc)
	if bestIdx >= 0 {
		c.dot(&lossPanel, xs[bestIdx], valLoss[bestIdx], 5, colBest)
		c.dot(&accPanel, xs[bestIdx], valAcc[bestIdx], 5, colBest)
	}
	// Loss falls and accuracy rises: their legends go where curves rarely are.
	c.legend(&lossPanel, true, []legendEntry{{"train loss", colTrainLoss}, {"validation loss", colValLoss}, {"best epoch", colBest}})
	c.legend(&accPanel, false, []legendEntry{{"validation accuracy", colValAcc}, {"best epoch", colBest}})

	if err := png.Encode(w, c.img); err != nil {
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

// finiteRange returns a y range covering the finite values of the series,
// padded by 5% so that curves do not run along the frame.
func finiteRange(series ...[]float64) (lo, hi float64) {
	lo, hi = math.Inf(1), math.Inf(-1)
	for _, s := range series {
		for _, v := range s {
			if !math.IsNaN(v) && !math.IsInf(v, 0) {
				lo, hi = math.Min(lo, v), math.Max(hi, v)
			}
		}
	}
	switch {
	case lo > hi: // nothing finite
		return 0, 1
	case lo == hi:
		d := math.Max(math.Abs(lo)*0.05, 1e-3)
		return lo - d, hi + d
	}
	pad := 0.05 * (hi - lo)
	return lo - pad, hi + pad
}

// panel maps data coordinates to the pixels of rect.
type panel struct {
	rect           image.Rectangle
	xlo, xhi       float64
	ylo, yhi       float64
	xlabel, ylabel string
}

func (p *panel) px(x float64) float64 {
	return float64(p.rect.Min.X) + (x-p.xlo)/(p.xhi-p.xlo)*float64(p.rect.Dx())
}

func (p *panel) py(y float64) float64 {
	return float64(p.rect.Max.Y) - (y-p.ylo)/(p.yhi-p.ylo)*float64(p.rect.Dy())
}

// canvas is an RGBA image with the few drawing operations the plot needs.
type canvas struct {
	img  *image.RGBA
	face font.Face
}

func newCanvas(w, h int) *canvas {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	draw.Draw(img, img.Bounds(), image.White, image.Point{}, draw.Src)
	return &canvas{img: img, face: basicfont.Face7x13}
}

// blend paints c over pixel (x, y) with coverage a in [0, 1].
func (c *canvas) blend(x, y int, col color.RGBA, a float64) {
	if !(image.Point{x, y}.In(c.img.Rect)) || a <= 0 {
		return
	}
	a = math.Min(a, 1)
	i := c.img.PixOffset(x, y)
	px := c.img.Pix[i : i+3 : i+3]
	for k, v := range [3]uint8{col.R, col.G, col.B} {
		px[k] = uint8(math.Round(float64(px[k])*(1-a) + float64(v)*a))
	}
}

func (c *canvas) fill(r image.Rectangle, col color.RGBA) {
	draw.Draw(c.img, r, image.NewUniform(col), image.Point{}, draw.Src)
}

// polyline draws an anti-aliased line of width lw through pts, clipped to
// clip. Coverage is the maximum over segments, so joints are not darker.
func (c *canvas) polyline(pts [][2]float64, lw float64, col color.RGBA, clip image.Rectangle) {
	if len(pts) < 2 {
		return
	}
	cov := make(map[image.Point]float64)
	h := lw / 2
	for k := 1; k < len(pts); k++ {
		ax, ay, bx, by := pts[k-1][0], pts[k-1][1], pts[k][0], pts[k][1]
		r := image.Rect(int(math.Floor(math.Min(ax, bx)-h-1)), int(math.Floor(math.Min(ay, by)-h-1)),
			int(math.Ceil(math.Max(ax, bx)+h+1)), int(math.Ceil(math.Max(ay, by)+h+1))).Intersect(clip)
		for y := r.Min.Y; y < r.Max.Y; y++ {
			for x := r.Min.X; x < r.Max.X; x++ {
				d := segmentDistance(float64(x)+0.5, float64(y)+0.5, ax, ay, bx, by)
				if a := h + 0.5 - d; a > 0 {
					p := image.Point{x, y}
					cov[p] = math.Max(cov[p], math.Min(a, 1))
				}
			}
		}
	}
	for p, a := range cov {
		c.blend(p.X, p.Y, col, a)
	}
}

// segmentDistance is the distance from (x, y) to the segment a–b.
func segmentDistance(x, y, ax, ay, bx, by float64) float64 {
	dx, dy := bx-ax, by-ay
	t := 0.0
	if l2 := dx*dx + dy*dy; l2 > 0 {
		t = math.Max(0, math.Min(1, ((x-ax)*dx+(y-ay)*dy)/l2))
	}
	return math.Hypot(x-(ax+t*dx), y-(ay+t*dy))
}

// disc draws a filled anti-aliased disc of radius r centred at (cx, cy).
func (c *canvas) disc(cx, cy, r float64, col color.RGBA) {
	for y := int(cy - r - 1); y <= int(cy+r+1); y++ {
		for x := int(cx - r - 1); x <= int(cx+r+1); x++ {
			d := math.Hypot(float64(x)+0.5-cx, float64(y)+0.5-cy)
			c.blend(x, y, col, r+0.5-d)
		}
	}
}

type align int

const (
	alignLeft align = iota
	alignCenter
	alignRight
)

// text draws s with its baseline at y, scaled by an integer factor.
func (c *canvas) text(s string, x, y int, al align, col color.RGBA, scale int) {
	w := font.MeasureString(c.face, s).Ceil()
	m := c.face.Metrics()
	asc, desc := m.Ascent.Ceil(), m.Descent.Ceil()
	tmp := image.NewAlpha(image.Rect(0, 0, w, asc+desc))
	d := font.Drawer{Dst: tmp, Src: image.Opaque, Face: c.face, Dot: fixed.P(0, asc)}
	d.DrawString(s)
	switch al {
	case alignCenter:
		x -= w * scale / 2
	case alignRight:
		x -= w * scale
	}
	y -= asc * scale
	for ty := 0; ty < tmp.Rect.Dy(); ty++ {
		for tx := 0; tx < w; tx++ {
			a := float64(tmp.AlphaAt(tx, ty).A) / 255
			for sy := 0; sy < scale; sy++ {
				for sx := 0; sx < scale; sx++ {
					c.blend(x+tx*scale+sx, y+ty*scale+sy, col, a)
				}
			}
		}
	}
}

// vtext draws s rotated 90° counter-clockwise, centred on (x, y).
func (c *canvas) vtext(s string, x, y int, col color.RGBA) {
	w := font.MeasureString(c.face, s).Ceil()
	m := c.face.Metrics()
	h := m.Ascent.Ceil() + m.Descent.Ceil()
	tmp := image.NewAlpha(image.Rect(0, 0, w, h))
	d := font.Drawer{Dst: tmp, Src: image.Opaque, Face: c.face, Dot: fixed.P(0, m.Ascent.Ceil())}
	d.DrawString(s)
	x0, y0 := x-h/2, y+w/2
	for ty := 0; ty < h; ty++ {
		for tx := 0; tx < w; tx++ {
			c.blend(x0+ty, y0-tx, col, float64(tmp.AlphaAt(tx, ty).A)/255)
		}
	}
}

// axes draws the frame, grid, ticks and labels of p.
func (c *canvas) axes(p *panel) {
	r := p.rect
	for _, t := range niceTicks(p.ylo, p.yhi, 6, 0) {
		y := int(math.Round(p.py(t.v)))
		c.fill(image.Rect(r.Min.X+1, y, r.Max.X, y+1), colGrid)
		c.fill(image.Rect(r.Min.X-5, y, r.Min.X, y+1), colAxis)
		c.text(t.label, r.Min.X-8, y+4, alignRight, colText, 1)
	}
	for _, t := range niceTicks(p.xlo, p.xhi, 10, 1) { // epochs are whole numbers
		x := int(math.Round(p.px(t.v)))
		c.fill(image.Rect(x, r.Min.Y+1, x+1, r.Max.Y), colGrid)
		c.fill(image.Rect(x, r.Max.Y, x+1, r.Max.Y+5), colAxis)
		c.text(t.label, x, r.Max.Y+18, alignCenter, colText, 1)
	}
	c.fill(image.Rect(r.Min.X, r.Min.Y, r.Max.X+1, r.Min.Y+1), colAxis)
	c.fill(image.Rect(r.Min.X, r.Max.Y, r.Max.X+1, r.Max.Y+1), colAxis)
	c.fill(image.Rect(r.Min.X, r.Min.Y, r.Min.X+1, r.Max.Y+1), colAxis)
	c.fill(image.Rect(r.Max.X, r.Min.Y, r.Max.X+1, r.Max.Y+1), colAxis)
	if p.xlabel != "" {
		c.text(p.xlabel, (r.Min.X+r.Max.X)/2, r.Max.Y+36, alignCenter, colText, 1)
	}
	if p.ylabel != "" {
		c.vtext(p.ylabel, 22, (r.Min.Y+r.Max.Y)/2, colText)
	}
}

// series draws ys against xs as a line with a dot per point; non-finite
// values break the line.
func (c *canvas) series(p *panel, xs, ys []float64, col color.RGBA) {
	var run [][2]float64
	flush := func() {
		c.polyline(run, 2.5, col, p.rect)
		run = run[:0]
	}
	for i, y := range ys {
		if math.IsNaN(y) || math.IsInf(y, 0) {
			flush()
			continue
		}
		run = append(run, [2]float64{p.px(xs[i]), p.py(y)})
		if len(xs) <= 60 {
			c.disc(p.px(xs[i]), p.py(y), 3, col)
		}
	}
	flush()
}

func (c *canvas) dot(p *panel, x, y, r float64, col color.RGBA) {
	if math.IsNaN(y) || math.IsInf(y, 0) {
		return
	}
	c.disc(p.px(x), p.py(y), r, col)
}

// bestLine draws a dashed vertical line at epoch x.
func (c *canvas) bestLine(p *panel, x float64) {
	px := int(math.Round(p.px(x)))
	for y := p.rect.Min.Y + 1; y < p.rect.Max.Y; y++ {
		if (y/6)%2 == 0 {
			c.fill(image.Rect(px-1, y, px+1, y+1), colBest)
		}
	}
}

type legendEntry struct {
	label string
	col   color.RGBA
}

// legend draws a boxed legend in the top or bottom right corner of p.
func (c *canvas) legend(p *panel, top bool, entries []legendEntry) {
	w := 0
	for _, e := range entries {
		w = max(w, font.MeasureString(c.face, e.label).Ceil())
	}
	h := 6 + 18*len(entries)
	y0 := p.rect.Min.Y + 8
	if !top {
		y0 = p.rect.Max.Y - 8 - h
	}
	box := image.Rect(p.rect.Max.X-w-50, y0, p.rect.Max.X-8, y0+h)
	c.fill(box, color.RGBA{255, 255, 255, 255})
	c.fill(image.Rect(box.Min.X, box.Min.Y, box.Max.X, box.Min.Y+1), colGrid)
	c.fill(image.Rect(box.Min.X, box.Max.Y-1, box.Max.X, box.Max.Y), colGrid)
	c.fill(image.Rect(box.Min.X, box.Min.Y, box.Min.X+1, box.Max.Y), colGrid)
	c.fill(image.Rect(box.Max.X-1, box.Min.Y, box.Max.X, box.Max.Y), colGrid)
	for i, e := range entries {
		y := box.Min.Y + 15 + 18*i
		c.fill(image.Rect(box.Min.X+8, y-5, box.Min.X+30, y-2), e.col)
		c.text(e.label, box.Min.X+36, y, alignLeft, colText, 1)
	}
}

type tick struct {
	v     float64
	label string
}

// niceTicks returns about n ticks at 1, 2, 2.5 or 5 × 10^k spacing, at
// least minStep apart, that fall inside [lo, hi], labelled with just
// enough decimals.
func niceTicks(lo, hi float64, n int, minStep float64) []tick {
	if !(hi > lo) || n < 1 {
		return nil
	}
	raw := math.Max((hi-lo)/float64(n), minStep)
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step := 10 * mag
	for _, m := range []float64{1, 2, 2.5, 5} {
		if m*mag >= raw {
			step = m * mag
			break
		}
	}
	dec := max(0, int(-math.Floor(math.Log10(step)+1e-9)))
	if s := step / math.Pow(10, -float64(dec)); math.Abs(s-math.Round(s)) > 1e-9 { // 2.5 × 10^k
		dec++
	}
	var ts []tick
	for k := math.Ceil(lo / step); k*step <= hi+1e-9*step; k++ {
		v := k * step
		if math.Abs(v) < 1e-12*step {
			v = 0
		}
		ts = append(ts, tick{v, strconv.FormatFloat(v, 'f', dec, 64)})
	}
	return ts
}
