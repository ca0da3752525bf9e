package llmeval

// A quality sweep: one model directory compressed to several presets, each
// GGUF evaluated against the source on the same windows, into a table,
// sweep.json and a plot of perplexity against bytes (compress --checkpoint
// --sweep=PRESETS --eval-text=FILES).

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"io"
	"math"
	"strings"

	"github.com/lightbeam-ml/lightbeam/internal/plot"
	"github.com/lightbeam-ml/lightbeam/llm"
	"github.com/lightbeam-ml/lightbeam/pipelines/quantize"
	"github.com/lightbeam-ml/lightbeam/storage"
)

// SweepPoint is one preset's GGUF, evaluated against the source.
type SweepPoint struct {
	Quant  string  `json:"quant"`
	Output string  `json:"output"`
	Bytes  int64   `json:"bytes"`
	Eval   *Report `json:"evaluation"`
}

// SweepReport is sweep.json.
type SweepReport struct {
	Checkpoint       string       `json:"checkpoint"`
	SourceBytes      int64        `json:"source_bytes"` // the safetensors files
	SourcePerplexity float64      `json:"source_perplexity"`
	Text             []string     `json:"text"`
	Points           []SweepPoint `json:"points"` // in the order asked
	Plot             string       `json:"plot"`
}

// Names of the sweep's files in its output directory.
const (
	SweepJSON = "sweep.json"
	SweepPNG  = "sweep.png"
)

// Sweep compresses the model directory base.Checkpoint to each of quants
// (presets) into base.Out/QUANT/, as base says otherwise (TokenizerPre,
// Name, ChunkMB, Overwrite, Runner), with its evaluation against the
// directory on c's text (Compare); then it writes OUT/sweep.json and
// OUT/sweep.png. Without Overwrite a finished output is an error, as for
// compress.
func Sweep(ctx context.Context, base quantize.Config, quants []string, c Config, log io.Writer) (*SweepReport, error) {
	dir, out := base.Checkpoint, base.Out
	src, err := llm.Open(ctx, dir, llm.Options{Name: base.Name, TokenizerPre: base.TokenizerPre})
	if err != nil {
		return nil, err
	}
	r := &SweepReport{Checkpoint: dir, Text: c.Text, Plot: storage.Join(out, SweepPNG)}
	for _, f := range src.Files {
		n, err := storage.Size(ctx, f)
		if err != nil {
			return nil, err
		}
		r.SourceBytes += n
	}
	for _, q := range quants {
		qc := base
		qc.Out, qc.Quant, qc.Evaluate = storage.Join(out, q), q, Compare(c, log)
		rep, err := quantize.Run(ctx, qc, log)
		if err != nil {
			return nil, fmt.Errorf("--sweep %s: %w", q, err)
		}
		p := SweepPoint{Quant: q, Output: rep.Output, Bytes: rep.BytesOut}
		if err := json.Unmarshal(rep.Evaluation, &p.Eval); err != nil || p.Eval == nil {
			return nil, fmt.Errorf("--sweep %s: no evaluation in its report (%v)", q, err)
		}
		r.SourcePerplexity = p.Eval.RefPerplexity
		r.Points = append(r.Points, p)
		fmt.Fprintf(log, "sweep: %s: %d bytes, perplexity %.4f (source %.4f)\n", q, p.Bytes, p.Eval.Perplexity, p.Eval.RefPerplexity)
	}
	var png bytes.Buffer
	if err := WriteSweepPlot(&png, r); err != nil {
		return nil, err
	}
	if err := storage.WriteBytes(ctx, r.Plot, png.Bytes()); err != nil {
		return nil, err
	}
	b, _ := json.MarshalIndent(r, "", "  ")
	if err := storage.WriteBytes(ctx, storage.Join(out, SweepJSON), append(b, '\n')); err != nil {
		return nil, err
	}
	return r, nil
}

// Table is the sweep as a Markdown table, the source first.
func (r *SweepReport) Table() string {
	var b strings.Builder
	fmt.Fprintf(&b, "| preset | bytes | perplexity | ± | KL (nats) | top-1 | perplexity / source |\n|---|---:|---:|---:|---:|---:|---:|\n")
	fmt.Fprintf(&b, "| source | %d | %.3f | | | | 1 |\n", r.SourceBytes, r.SourcePerplexity)
	for _, p := range r.Points {
		e := p.Eval
		fmt.Fprintf(&b, "| %s | %d | %.3f | %.3f | %.5f | %.2f%% | %.4f |\n", p.Quant, p.Bytes, e.Perplexity, e.PerplexityStderr, e.KL, 100*e.Top1, e.PerplexityRatio)
	}
	return b.String()
}

// The plot's size and colours.
const sweepWidth, sweepHeight = 900, 560

var (
	colPoints = color.RGBA{31, 119, 180, 255} // blue
	colSource = color.RGBA{214, 39, 40, 255}  // red
)

// WriteSweepPlot draws r as a PNG: perplexity against the file's bytes (log
// scale), each preset a labelled dot, the source a red diamond.
func WriteSweepPlot(w io.Writer, r *SweepReport) error {
	if len(r.Points) == 0 {
		return fmt.Errorf("llmeval.WriteSweepPlot: the sweep has no points")
	}
	xs := make([]float64, len(r.Points))
	ys := make([]float64, len(r.Points))
	for i, p := range r.Points {
		xs[i], ys[i] = math.Log10(float64(max(p.Bytes, 1))), p.Eval.Perplexity
	}
	srcX, srcY := math.Log10(float64(max(r.SourceBytes, 1))), r.SourcePerplexity
	c := plot.NewCanvas(sweepWidth, sweepHeight)
	c.Text(storage.Base(strings.TrimSuffix(r.Checkpoint, "/"))+"  -  perplexity against bytes", sweepWidth/2, 24, plot.Center, plot.TextColor, 2)
	e := r.Points[0].Eval
	c.Text(fmt.Sprintf("%d windows of %d tokens of %s, %d scored; each preset's GGUF by lightbeam compress", e.Windows, e.Ctx, strings.Join(baseNames(r.Text), ", "), e.Tokens),
		sweepWidth/2, 50, plot.Center, plot.MutedColor, 1)
	xlo, xhi := plot.FiniteRange(append(xs, srcX))
	if xhi-xlo < 0.3 {
		mid := (xlo + xhi) / 2
		xlo, xhi = mid-0.15, mid+0.15
	}
	ylo, yhi := plot.FiniteRange(ys, []float64{srcY})
	p := plot.Panel{Rect: image.Rect(90, 80, sweepWidth-30, sweepHeight-60), XLo: xlo, XHi: xhi, YLo: ylo, YHi: yhi,
		XLabel: "file bytes (log scale)", YLabel: "perplexity"}
	c.AxesXTicks(&p, plot.LogTicks(xlo, xhi, plot.ByteLabel))
	for i, pt := range r.Points {
		c.Dot(&p, xs[i], ys[i], 4, colPoints)
		c.Text(pt.Quant, int(p.PX(xs[i])), int(p.PY(ys[i]))-8, plot.Center, plot.MutedColor, 1)
	}
	c.Diamond(&p, srcX, srcY, 6, colSource)
	c.Text("source", int(p.PX(srcX))-10, int(p.PY(srcY))+4, plot.Right, colSource, 1)
	// The source is at the right: the legend goes in the other corner.
	c.Legend(&p, p.PY(srcY) > float64(p.Rect.Min.Y+p.Rect.Max.Y)/2, []plot.LegendEntry{{Label: "GGUF (label: preset)", Color: colPoints}, {Label: "source model", Color: colSource}})
	if err := c.EncodePNG(w); err != nil {
		return fmt.Errorf("llmeval.WriteSweepPlot: %w", err)
	}
	return nil
}

func baseNames(paths []string) []string {
	out := make([]string, len(paths))
	for i, p := range paths {
		out[i] = storage.Base(p)
	}
	return out
}
