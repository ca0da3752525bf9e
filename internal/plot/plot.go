// Package plot draws the small PNG charts lightbeam writes (training
// curves, compression sweeps) with the standard library and a bitmap font,
// not a plotting library: a few PNGs did not justify the ~8 MB of fonts
// and backends that gonum.org/v1/plot adds to every binary, workers
// included.
package plot

import (
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

// Colours of the frame and text.
var (
	GridColor  = color.RGBA{232, 232, 232, 255}
	AxisColor  = color.RGBA{80, 80, 80, 255}
	TextColor  = color.RGBA{20, 20, 20, 255}
	MutedColor = color.RGBA{110, 110, 110, 255}
)

// FiniteRange returns a y range covering the finite values of the series,
// padded by 5% so that curves do not run along the frame.
func FiniteRange(series ...[]float64) (lo, hi float64) {
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

// Panel is a plot area: it maps data coordinates to the pixels of rect.
type Panel struct {
	Rect           image.Rectangle
	XLo, XHi       float64
	YLo, YHi       float64
	XLabel, YLabel string
	XMinStep       float64 // smallest x tick step (1 for epochs)
}

// PX maps x to a pixel column.
func (p *Panel) PX(x float64) float64 {
	return float64(p.Rect.Min.X) + (x-p.XLo)/(p.XHi-p.XLo)*float64(p.Rect.Dx())
}

// PY maps y to a pixel row.
func (p *Panel) PY(y float64) float64 {
	return float64(p.Rect.Max.Y) - (y-p.YLo)/(p.YHi-p.YLo)*float64(p.Rect.Dy())
}

// Canvas is an RGBA image with the few drawing operations the plots need.
type Canvas struct {
	Img  *image.RGBA
	face font.Face
}

// NewCanvas returns a white w×h canvas.
func NewCanvas(w, h int) *Canvas {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	draw.Draw(img, img.Bounds(), image.White, image.Point{}, draw.Src)
	return &Canvas{Img: img, face: basicfont.Face7x13}
}

// blend paints c over pixel (x, y) with coverage a in [0, 1].
func (c *Canvas) blend(x, y int, col color.RGBA, a float64) {
	if !(image.Point{x, y}.In(c.Img.Rect)) || a <= 0 {
		return
	}
	a = math.Min(a, 1)
	i := c.Img.PixOffset(x, y)
	px := c.Img.Pix[i : i+3 : i+3]
	for k, v := range [3]uint8{col.R, col.G, col.B} {
		px[k] = uint8(math.Round(float64(px[k])*(1-a) + float64(v)*a))
	}
}

func (c *Canvas) fill(r image.Rectangle, col color.RGBA) {
	draw.Draw(c.Img, r, image.NewUniform(col), image.Point{}, draw.Src)
}

// polyline draws an anti-aliased line of width lw through pts, clipped to
// clip. Coverage is the maximum over segments, so joints are not darker.
func (c *Canvas) polyline(pts [][2]float64, lw float64, col color.RGBA, clip image.Rectangle) {
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
func (c *Canvas) disc(cx, cy, r float64, col color.RGBA) {
	for y := int(cy - r - 1); y <= int(cy+r+1); y++ {
		for x := int(cx - r - 1); x <= int(cx+r+1); x++ {
			d := math.Hypot(float64(x)+0.5-cx, float64(y)+0.5-cy)
			c.blend(x, y, col, r+0.5-d)
		}
	}
}

// Align is how Text places its string against x.
type Align int

const (
	Left Align = iota
	Center
	Right
)

// Text draws s with its baseline at y, scaled by an integer factor.
func (c *Canvas) Text(s string, x, y int, al Align, col color.RGBA, scale int) {
	w := font.MeasureString(c.face, s).Ceil()
	m := c.face.Metrics()
	asc, desc := m.Ascent.Ceil(), m.Descent.Ceil()
	tmp := image.NewAlpha(image.Rect(0, 0, w, asc+desc))
	d := font.Drawer{Dst: tmp, Src: image.Opaque, Face: c.face, Dot: fixed.P(0, asc)}
	d.DrawString(s)
	switch al {
	case Center:
		x -= w * scale / 2
	case Right:
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
func (c *Canvas) vtext(s string, x, y int, col color.RGBA) {
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

// Axes draws the frame, grid, ticks and labels of p.
func (c *Canvas) Axes(p *Panel) {
	c.AxesXTicks(p, NiceTicks(p.XLo, p.XHi, 10, p.XMinStep))
}

// Series draws ys against xs as a line with a dot per point; non-finite
// values break the line.
func (c *Canvas) Series(p *Panel, xs, ys []float64, col color.RGBA) {
	var run [][2]float64
	flush := func() {
		c.polyline(run, 2.5, col, p.Rect)
		run = run[:0]
	}
	for i, y := range ys {
		if math.IsNaN(y) || math.IsInf(y, 0) {
			flush()
			continue
		}
		run = append(run, [2]float64{p.PX(xs[i]), p.PY(y)})
		if len(xs) <= 60 {
			c.disc(p.PX(xs[i]), p.PY(y), 3, col)
		}
	}
	flush()
}

// Dot draws a disc of radius r at data point (x, y), if y is finite.
func (c *Canvas) Dot(p *Panel, x, y, r float64, col color.RGBA) {
	if math.IsNaN(y) || math.IsInf(y, 0) {
		return
	}
	c.disc(p.PX(x), p.PY(y), r, col)
}

// VLine draws a dashed vertical line at x.
func (c *Canvas) VLine(p *Panel, x float64, col color.RGBA) {
	px := int(math.Round(p.PX(x)))
	for y := p.Rect.Min.Y + 1; y < p.Rect.Max.Y; y++ {
		if (y/6)%2 == 0 {
			c.fill(image.Rect(px-1, y, px+1, y+1), col)
		}
	}
}

// LegendEntry is one line of a legend.
type LegendEntry struct {
	Label string
	Color color.RGBA
}

// Legend draws a boxed legend in the top or bottom right corner of p.
func (c *Canvas) Legend(p *Panel, top bool, entries []LegendEntry) {
	w := 0
	for _, e := range entries {
		w = max(w, font.MeasureString(c.face, e.Label).Ceil())
	}
	h := 6 + 18*len(entries)
	y0 := p.Rect.Min.Y + 8
	if !top {
		y0 = p.Rect.Max.Y - 8 - h
	}
	box := image.Rect(p.Rect.Max.X-w-50, y0, p.Rect.Max.X-8, y0+h)
	c.fill(box, color.RGBA{255, 255, 255, 255})
	c.fill(image.Rect(box.Min.X, box.Min.Y, box.Max.X, box.Min.Y+1), GridColor)
	c.fill(image.Rect(box.Min.X, box.Max.Y-1, box.Max.X, box.Max.Y), GridColor)
	c.fill(image.Rect(box.Min.X, box.Min.Y, box.Min.X+1, box.Max.Y), GridColor)
	c.fill(image.Rect(box.Max.X-1, box.Min.Y, box.Max.X, box.Max.Y), GridColor)
	for i, e := range entries {
		y := box.Min.Y + 15 + 18*i
		c.fill(image.Rect(box.Min.X+8, y-5, box.Min.X+30, y-2), e.Color)
		c.Text(e.Label, box.Min.X+36, y, Left, TextColor, 1)
	}
}

// Tick is an axis tick.
type Tick struct {
	V     float64
	Label string
}

// NiceTicks returns about n ticks at 1, 2, 2.5 or 5 × 10^k spacing, at
// least minStep apart, that fall inside [lo, hi], labelled with just
// enough decimals.
func NiceTicks(lo, hi float64, n int, minStep float64) []Tick {
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
	var ts []Tick
	for k := math.Ceil(lo / step); k*step <= hi+1e-9*step; k++ {
		v := k * step
		if math.Abs(v) < 1e-12*step {
			v = 0
		}
		ts = append(ts, Tick{v, strconv.FormatFloat(v, 'f', dec, 64)})
	}
	return ts
}

// EncodePNG writes the canvas as a PNG.
func (c *Canvas) EncodePNG(w io.Writer) error { return png.Encode(w, c.Img) }

// LogTicks returns ticks for a log-scale axis over [10^lo, 10^hi] (lo and
// hi are base-10 logarithms, as a log-scale Panel holds them): at 1, 2 and
// 5 × 10^k while that gives at most about 12 ticks, else at the powers of
// ten only. Each tick's V is the log10 of its value, labelled by label.
func LogTicks(lo, hi float64, label func(v float64) string) []Tick {
	if !(hi > lo) {
		return nil
	}
	mults := []float64{1, 2, 5}
	if hi-lo > 4 {
		mults = []float64{1}
	}
	var ts []Tick
	for k := math.Floor(lo); k <= math.Ceil(hi); k++ {
		for _, m := range mults {
			v := m * math.Pow(10, k)
			if lv := math.Log10(v); lv >= lo-1e-9 && lv <= hi+1e-9 {
				ts = append(ts, Tick{lv, label(v)})
			}
		}
	}
	return ts
}

// AxesXTicks draws the frame, grid and labels of p like Axes, with the x
// ticks given (LogTicks for a log-scale x) instead of NiceTicks.
func (c *Canvas) AxesXTicks(p *Panel, xticks []Tick) {
	c.AxesTicks(p, xticks, NiceTicks(p.YLo, p.YHi, 6, 0))
}

// AxesTicks draws the frame, grid and labels of p with the x and y ticks
// given (LogTicks for a log-scale axis).
func (c *Canvas) AxesTicks(p *Panel, xticks, yticks []Tick) {
	r := p.Rect
	for _, t := range yticks {
		y := int(math.Round(p.PY(t.V)))
		c.fill(image.Rect(r.Min.X+1, y, r.Max.X, y+1), GridColor)
		c.fill(image.Rect(r.Min.X-5, y, r.Min.X, y+1), AxisColor)
		c.Text(t.Label, r.Min.X-8, y+4, Right, TextColor, 1)
	}
	for _, t := range xticks {
		x := int(math.Round(p.PX(t.V)))
		c.fill(image.Rect(x, r.Min.Y+1, x+1, r.Max.Y), GridColor)
		c.fill(image.Rect(x, r.Max.Y, x+1, r.Max.Y+5), AxisColor)
		c.Text(t.Label, x, r.Max.Y+18, Center, TextColor, 1)
	}
	c.fill(image.Rect(r.Min.X, r.Min.Y, r.Max.X+1, r.Min.Y+1), AxisColor)
	c.fill(image.Rect(r.Min.X, r.Max.Y, r.Max.X+1, r.Max.Y+1), AxisColor)
	c.fill(image.Rect(r.Min.X, r.Min.Y, r.Min.X+1, r.Max.Y+1), AxisColor)
	c.fill(image.Rect(r.Max.X, r.Min.Y, r.Max.X+1, r.Max.Y+1), AxisColor)
	if p.XLabel != "" {
		c.Text(p.XLabel, (r.Min.X+r.Max.X)/2, r.Max.Y+36, Center, TextColor, 1)
	}
	if p.YLabel != "" {
		c.vtext(p.YLabel, 22, (r.Min.Y+r.Max.Y)/2, TextColor)
	}
}

// Diamond draws a filled diamond of half-diagonal r at data point (x, y),
// if y is finite: the marker of a reference point, told apart from a
// series' dots.
func (c *Canvas) Diamond(p *Panel, x, y, r float64, col color.RGBA) {
	if math.IsNaN(y) || math.IsInf(y, 0) {
		return
	}
	cx, cy := p.PX(x), p.PY(y)
	for py := int(cy - r - 1); py <= int(cy+r+1); py++ {
		for px := int(cx - r - 1); px <= int(cx+r+1); px++ {
			d := math.Abs(float64(px)+0.5-cx) + math.Abs(float64(py)+0.5-cy)
			c.blend(px, py, col, (r-d)/math.Sqrt2+0.5)
		}
	}
}

// PercentLabel names a tick of a percent axis: 0.5%, 2%, 50%.
func PercentLabel(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) + "%" }

// ByteLabel names a tick of a bytes axis: 500 B, 20 KB, 1 MB, 2 GB (of
// 1,000).
func ByteLabel(v float64) string {
	switch {
	case v >= 1e9:
		return strconv.FormatFloat(v/1e9, 'g', -1, 64) + " GB"
	case v >= 1e6:
		return strconv.FormatFloat(v/1e6, 'g', -1, 64) + " MB"
	case v >= 1e3:
		return strconv.FormatFloat(v/1e3, 'g', -1, 64) + " KB"
	}
	return strconv.FormatFloat(v, 'g', -1, 64) + " B"
}
