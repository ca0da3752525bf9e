package compress

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"io"
	"math"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/x/beamx"

	"github.com/lightbeam-ml/lightbeam/compress/artifact"
	"github.com/lightbeam-ml/lightbeam/internal/plot"
	"github.com/lightbeam-ml/lightbeam/model"
	"github.com/lightbeam-ml/lightbeam/pipelines/train"
	"github.com/lightbeam-ml/lightbeam/storage"
	"github.com/lightbeam-ml/lightbeam/transforms"
)

// A sparsity sweep (`lightbeam compress --sweep=LO:HI:N`) compresses one
// model at N sparsities in one Beam pipeline and draws accuracy against
// artifact bytes:
//
//	Create(0..N-1) ─Reshuffle─▶ sweepSettingFn: prune once to sparsity i,
//	  quantize, encode the artifact, decode it ─┬─▶ KV<i, SweepPoint> (bytes)
//	                                            └─▶ State{Model: i, Params:
//	  the artifact's values} ─▶ train.ParamsEval (the evaluation of
//	  `lightbeam evaluate`, test split) ─▶ KV<i, Partial>
//	CoGroupByKey ─▶ sweepJoinFn (accuracy, loss) ─▶ one file of points
//	  ─▶ the driver: OUT/sweep.json, OUT/sweep.png, a table
//
// Settings are one-shot: a sweep does not fine-tune. Fine-tuned recipes
// (Sweep.Recipes) are run in full, one after the other, each by Run into
// OUT/NAME, and drawn beside the one-shot settings.

// Sweep is a range of sparsities: N values evenly spaced from Lo to Hi,
// both included.
type Sweep struct {
	Lo, Hi float64
	N      int
	// Recipes are recipe files (docs/recipes/*.json), each run in full
	// (gradual pruning, fine-tuning, codebook) on the sweep's model and
	// data into OUT/NAME, NAME the file's name without ".json". A
	// finished OUT/NAME is read back, not run again, unless the sweep
	// overwrites. Optional.
	Recipes []string
}

// ParseSweep reads "LO:HI:N", e.g. "0.5:0.98:8".
func ParseSweep(s string) (Sweep, error) {
	parts := strings.Split(s, ":")
	if len(parts) != 3 {
		return Sweep{}, fmt.Errorf("--sweep=%s: want LO:HI:N, e.g. 0.5:0.98:8", s)
	}
	var sw Sweep
	var err error
	for i, name := range []string{"LO", "HI"} {
		v := &sw.Lo
		if i == 1 {
			v = &sw.Hi
		}
		if *v, err = strconv.ParseFloat(strings.TrimSpace(parts[i]), 64); err != nil {
			return Sweep{}, fmt.Errorf("--sweep=%s: %s %q is not a number", s, name, parts[i])
		}
	}
	if sw.N, err = strconv.Atoi(strings.TrimSpace(parts[2])); err != nil {
		return Sweep{}, fmt.Errorf("--sweep=%s: N %q is not a whole number", s, parts[2])
	}
	if err := sw.validate(); err != nil {
		return Sweep{}, fmt.Errorf("--sweep=%s: %w", s, err)
	}
	return sw, nil
}

func (sw Sweep) validate() error {
	switch {
	case !(0 <= sw.Lo && sw.Lo <= sw.Hi && sw.Hi < 1):
		return fmt.Errorf("want 0 ≤ LO ≤ HI < 1, got LO %v, HI %v", sw.Lo, sw.Hi)
	case sw.N < 1:
		return fmt.Errorf("want N ≥ 1 settings, got %d", sw.N)
	case sw.N == 1 && sw.Lo != sw.Hi:
		return fmt.Errorf("one setting (N = 1) needs LO = HI")
	}
	return nil
}

// Sparsities returns the N values, Lo first.
func (sw Sweep) Sparsities() []float64 {
	out := make([]float64, sw.N)
	for i := range out {
		if sw.N > 1 {
			out[i] = sw.Lo + (sw.Hi-sw.Lo)*float64(i)/float64(sw.N-1)
		}
	}
	out[0], out[sw.N-1] = sw.Lo, sw.Hi
	return out
}

// SweepPoint is one setting of a sweep: one record of sweep.json.
type SweepPoint struct {
	Sparsity      float64 `json:"sparsity"` // asked of every weight matrix (or globally)
	Bytes         int     `json:"bytes"`    // the artifact file, everything counted
	Ratio         float64 `json:"ratio"`    // dense float32 bytes / Bytes
	BitsPerWeight float64 `json:"bits_per_weight"`
	Accuracy      float64 `json:"accuracy"` // test split
	Loss          float64 `json:"loss"`
}

// TunedPoint is a fine-tuned recipe's result (Sweep.Recipes): one
// record of sweep.json's "tuned".
type TunedPoint struct {
	Name     string  `json:"name"`     // the recipe file's name without .json
	Recipe   string  `json:"recipe"`   // the file
	Out      string  `json:"out"`      // its compress output directory
	Sparsity float64 `json:"sparsity"` // of the weight matrices
	Bytes    int     `json:"bytes"`    // the artifact file
	Accuracy float64 `json:"accuracy"` // test split
	Loss     float64 `json:"loss"`
	Seconds  float64 `json:"seconds"` // the compression's, when it ran
}

// Reference is a published result drawn on sweep.png beside the sweep.
type Reference struct {
	Name     string  `json:"name"`
	Label    string  `json:"label"`
	Bytes    int     `json:"bytes"`
	Accuracy float64 `json:"accuracy"`
}

// LeNet300References are the records for LeNet-300-100 on MNIST that a
// sweep of that model is drawn against. Deep Compression (Han et al.,
// 2016, table 1) reports 27 KB (1,070 KB / 40, kilobytes of 1,000 bytes)
// at 1.58% top-1 error; RigL+ 16,113 bytes at 1.57%.
var LeNet300References = []Reference{
	{Name: "Deep Compression", Label: "Deep Compression: 27 KB, 98.42%", Bytes: 27000, Accuracy: 0.9842},
	{Name: "RigL+", Label: "RigL+: 16,113 B, 98.43%", Bytes: 16113, Accuracy: 0.9843},
}

// lenet300 is LeNet-300-100 as model.String names it.
const lenet300 = "mlp 784-300-100-10"

// SweepReport is sweep.json.
type SweepReport struct {
	Model       string       `json:"model"`
	Arch        string       `json:"arch"`
	Data        string       `json:"data"`
	BytesBefore int          `json:"bytes_before"`    // dense float32 tensors
	Recipe      Config       `json:"recipe"`          // each setting's, its sparsity aside
	Points      []SweepPoint `json:"points"`          // by sparsity, lowest first
	Tuned       []TunedPoint `json:"tuned,omitempty"` // the fine-tuned recipes, fewest bytes first
	References  []Reference  `json:"references,omitempty"`
	Plot        string       `json:"plot"`
	Seconds     float64      `json:"seconds"`
	Notes       []string     `json:"notes,omitempty"`
}

// Names of the sweep's files in Out.
const (
	SweepJSON = "sweep.json"
	SweepPNG  = "sweep.png"
)

// RunSweep compresses c.Model at each sparsity of sw, with the rest of
// the recipe c (--quant, --global), evaluates every setting's artifact on
// the test split of c.Data, and writes OUT/sweep.json and OUT/sweep.png.
// The settings are the elements of one Beam pipeline (c.Plain: a loop in
// this process, with the same numbers). Pruning is one-shot.
func RunSweep(ctx context.Context, c Config, sw Sweep, log io.Writer) (*SweepReport, error) {
	t0 := time.Now()
	if err := sw.validate(); err != nil {
		return nil, fmt.Errorf("--sweep: %w", err)
	}
	if c.Data == "" {
		return nil, fmt.Errorf("--sweep evaluates every setting on the test split: --data is required")
	}
	var notes []string
	if len(c.Sparsity) > 0 {
		notes = append(notes, fmt.Sprintf("the sweep replaces the recipe's --sparsity=%v with its own values", c.Sparsity))
	}
	if c.PruneSteps > 0 {
		notes = append(notes, fmt.Sprintf("the sweep prunes once, without fine-tuning: the recipe's --prune-steps=%d is not applied", c.PruneSteps))
	}
	rc := c
	rc.Sparsity, rc.PruneSteps = []float64{sw.Hi}, 0
	if err := rc.Prepare(); err != nil {
		return nil, err
	}
	if rc.Prune == "neurons" {
		return nil, fmt.Errorf("--sweep prunes single weights by magnitude; --prune=neurons is not swept")
	}
	rc.Sparsity = nil
	jsonPath := storage.Join(c.Out, SweepJSON)
	if done, err := storage.Exists(ctx, jsonPath); err != nil {
		return nil, err
	} else if done && !c.Overwrite {
		return nil, fmt.Errorf("%s holds a finished sweep (pass --overwrite to replace it)", c.Out)
	}
	modelPath := c.modelFile()
	m, params, fileMeta, err := train.ReadModel(ctx, modelPath)
	if err != nil {
		return nil, err
	}
	sparsities := sw.Sparsities()
	pe, err := train.NewParamsEval(ctx, c.Data, "test", m.Config(), rc.Accel, rc.Runner, len(sparsities))
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(log, "compress: sweep of %d sparsities from %v to %v (%s)\n", sw.N, sw.Lo, sw.Hi, m)

	var points []SweepPoint
	if rc.Plain {
		for _, sp := range sparsities {
			p, deq, err := compressAt(rc, m, params, fileMeta, sp)
			if err != nil {
				return nil, err
			}
			sum, err := pe.Plain(ctx, deq)
			if err != nil {
				return nil, err
			}
			p.Accuracy, p.Loss = train.Metrics(sum, m.Classifier())
			points = append(points, p)
		}
	} else {
		tmp := storage.Join(c.Out, ".sweep-points.json")
		pipe, s := beam.NewPipelineWithRoot()
		buildSweep(s, rc, modelPath, sparsities, pe, m.Classifier(), tmp)
		if _, err := beamx.RunWithMetrics(ctx, pipe); err != nil {
			return nil, fmt.Errorf("sweep pipeline failed: %w", err)
		}
		raw, err := storage.ReadFile(ctx, tmp)
		if err != nil {
			return nil, err
		}
		_ = storage.Remove(ctx, tmp)
		if err := json.Unmarshal(raw, &points); err != nil {
			return nil, fmt.Errorf("%s: %w", tmp, err)
		}
		if len(points) != len(sparsities) {
			return nil, fmt.Errorf("sweep pipeline returned %d settings, want %d", len(points), len(sparsities))
		}
	}

	tuned, err := runRecipes(ctx, c, sw.Recipes, log)
	if err != nil {
		return nil, err
	}
	rep := &SweepReport{Model: modelPath, Arch: m.String(), Data: c.Data, BytesBefore: 4 * m.NumParams(), Recipe: rc,
		Points: points, Tuned: tuned, Plot: storage.Join(c.Out, SweepPNG), Notes: notes}
	if m.String() == lenet300 {
		rep.References = LeNet300References
	} else {
		rep.Notes = append(rep.Notes, fmt.Sprintf("the records drawn for comparison are for LeNet-300-100 on MNIST (%s); this model is %s, so they are left out", lenet300, m))
	}
	var png bytes.Buffer
	if err := WriteSweepPlot(&png, rep); err != nil {
		return nil, err
	}
	if err := storage.WriteBytes(ctx, rep.Plot, png.Bytes()); err != nil {
		return nil, err
	}
	rep.Seconds = time.Since(t0).Seconds()
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := storage.WriteBytes(ctx, jsonPath, append(b, '\n')); err != nil {
		return nil, err
	}
	return rep, nil
}

// runRecipes runs each recipe file of paths on c's model and data into
// c.Out/NAME (a finished one is read back unless c.Overwrite) and returns
// their points, fewest bytes first.
func runRecipes(ctx context.Context, c Config, paths []string, log io.Writer) ([]TunedPoint, error) {
	names := make([]string, len(paths))
	seen := map[string]string{}
	for i, path := range paths {
		names[i] = strings.TrimSuffix(storage.Base(path), ".json")
		if prev, ok := seen[names[i]]; ok {
			return nil, fmt.Errorf("--sweep-recipes: %s and %s would both write %s", prev, path, storage.Join(c.Out, names[i]))
		}
		seen[names[i]] = path
	}
	var out []TunedPoint
	for i, path := range paths {
		name := names[i]
		raw, err := storage.ReadFile(ctx, path)
		if err != nil {
			return nil, fmt.Errorf("--sweep-recipes: %w", err)
		}
		rc, err := ParseRecipe(ctx, path, raw)
		if err != nil {
			return nil, fmt.Errorf("--sweep-recipes: %w", err)
		}
		rc.Model, rc.Data, rc.Accel, rc.Runner, rc.Plain = c.Model, c.Data, c.Accel, c.Runner, c.Plain
		rc.Out, rc.Overwrite, rc.Resume = storage.Join(c.Out, name), c.Overwrite, !c.Overwrite
		if !c.Overwrite {
			if err := sameRecipe(ctx, rc); err != nil {
				return nil, fmt.Errorf("--sweep-recipes: %s: %w", path, err)
			}
		}
		fmt.Fprintf(log, "compress: sweep: recipe %s into %s\n", path, rc.Out)
		rep, err := Run(ctx, rc, log)
		if err != nil {
			return nil, fmt.Errorf("--sweep-recipes: %s: %w", path, err)
		}
		out = append(out, TunedPoint{Name: name, Recipe: path, Out: rc.Out, Sparsity: rep.Sparsity,
			Bytes: rep.BytesAfter, Accuracy: rep.AccuracyAfter, Loss: rep.LossAfter, Seconds: rep.Seconds})
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Bytes < out[j].Bytes })
	return out, nil
}

// sameRecipe returns an error when rc.Out holds a finished compression of
// another recipe than rc: reading it back would draw stale numbers. A
// directory without report.json is fine (its finished steps are resumed,
// as compress --resume does).
func sameRecipe(ctx context.Context, rc Config) error {
	raw, err := storage.ReadFile(ctx, storage.Join(rc.Out, ReportName))
	if storage.IsNotExist(err) {
		return nil
	} else if err != nil {
		return err
	}
	var done Report
	if err := json.Unmarshal(raw, &done); err != nil {
		return fmt.Errorf("%s: %w", storage.Join(rc.Out, ReportName), err)
	}
	want := rc
	if err := want.Prepare(); err != nil {
		return err
	}
	a, _ := json.Marshal(done.Recipe)
	b, _ := json.Marshal(want)
	if !bytes.Equal(a, b) {
		return fmt.Errorf("%s holds a compression by another recipe (%s; this one is %s): pass --overwrite to run it again", rc.Out, a, b)
	}
	return nil
}

// compressAt prunes a copy of params once to sparsity sp (every weight
// matrix, or globally as rc says), quantizes it with rc.Quant and encodes
// it as the artifact that Run writes for this recipe with --sparsity=sp.
// It returns the setting's size (accuracy and loss left to the caller)
// and the parameters that the artifact holds, read back from its bytes.
func compressAt(rc Config, m *model.Model, params []float32, fileMeta map[string]string, sp float64) (SweepPoint, []float32, error) {
	rc.Sparsity = []float64{sp}
	p := append([]float32(nil), params...)
	weights := weightIndices(m)
	if err := rc.prune(m, p, weights, rc.layerSparsity(len(weights))); err != nil {
		return SweepPoint{}, nil, err
	}
	ts, err := rc.quantize(m, p)
	if err != nil {
		return SweepPoint{}, nil, err
	}
	raw, err := encodeArtifact(&rc, m, ts, fileMeta)
	if err != nil {
		return SweepPoint{}, nil, err
	}
	name := fmt.Sprintf("sparsity %v", sp)
	art, err := artifact.Decode(raw, name)
	if err != nil {
		return SweepPoint{}, nil, err
	}
	deq, err := artifactParams(m, art)
	if err != nil {
		return SweepPoint{}, nil, fmt.Errorf("%s: %w", name, err)
	}
	n := m.NumParams()
	return SweepPoint{Sparsity: sp, Bytes: art.Size, Ratio: float64(4*n) / float64(art.Size), BitsPerWeight: 8 * float64(art.Size) / float64(n)}, deq, nil
}

// buildSweep adds the sweep of sparsities to s; its points, with accuracy
// and loss, end in the JSON file out.
func buildSweep(s beam.Scope, rc Config, modelPath string, sparsities []float64, pe *train.ParamsEval, classifier bool, out string) {
	s = s.Scope("compress.Sweep")
	idx := make([]int, len(sparsities))
	for i := range idx {
		idx[i] = i
	}
	// Reshuffle: prism would otherwise run every setting in one bundle.
	settings := beam.Reshuffle(s, beam.CreateList(s, idx))
	states, points := beam.ParDo2(s, &sweepSettingFn{Recipe: rc, Model: modelPath, Sparsities: sparsities}, settings)
	evals := pe.Build(s, states)
	scored := beam.ParDo(s, &sweepJoinFn{Classifier: classifier}, beam.CoGroupByKey(s, points, evals))
	beam.ParDo0(s, &writeSweepPointsFn{Path: out}, beam.GroupByKey(s, beam.AddFixedKey(s, scored)))
}

// sweepSettingFn compresses the model at setting i: it emits the
// artifact's values as State{Model: i} (for evaluation) and its size as
// KV<i, SweepPoint>. The model file is read once per DoFn instance.
type sweepSettingFn struct {
	Recipe     Config // serialized as the recipe: the fields that prune and quantize read
	Model      string // the model file
	Sparsities []float64

	m      *model.Model
	params []float32
	meta   map[string]string
}

func (fn *sweepSettingFn) Setup(ctx context.Context) error {
	var err error
	fn.m, fn.params, fn.meta, err = train.ReadModel(ctx, fn.Model)
	return err
}

func (fn *sweepSettingFn) ProcessElement(i int, emitState func(train.State), emitPoint func(int, SweepPoint)) error {
	if i < 0 || i >= len(fn.Sparsities) {
		return fmt.Errorf("compress.sweepSettingFn: setting %d of %d", i, len(fn.Sparsities))
	}
	p, deq, err := compressAt(fn.Recipe, fn.m, fn.params, fn.meta, fn.Sparsities[i])
	if err != nil {
		return fmt.Errorf("compress.sweepSettingFn: %w", err)
	}
	emitState(train.State{Model: i, Params: deq})
	emitPoint(i, p)
	return nil
}

// sweepJoinFn completes a setting's point with its evaluation.
type sweepJoinFn struct{ Classifier bool }

func (fn *sweepJoinFn) ProcessElement(i int, points func(*SweepPoint) bool, evals func(*transforms.Partial) bool, emit func(SweepPoint)) error {
	var p SweepPoint
	var sum transforms.Partial
	np, ne := 0, 0
	for points(&p) {
		np++
	}
	for evals(&sum) {
		ne++
	}
	if np != 1 || ne != 1 {
		return fmt.Errorf("compress.sweepJoinFn: setting %d has %d points and %d evaluations, want one of each", i, np, ne)
	}
	p.Accuracy, p.Loss = train.Metrics(sum, fn.Classifier)
	emit(p)
	return nil
}

// writeSweepPointsFn writes every point, by sparsity, as one JSON array.
type writeSweepPointsFn struct{ Path string }

func (fn *writeSweepPointsFn) ProcessElement(ctx context.Context, _ int, points func(*SweepPoint) bool) error {
	return storage.WriteSortedJSON(ctx, fn.Path, points, func(a, b SweepPoint) int { return cmp.Compare(a.Sparsity, b.Sparsity) })
}

// A SweepPoint is a few numbers: JSON is its coder (exact for float64).
func encodeSweepPoint(p SweepPoint) []byte {
	b, _ := json.Marshal(p) // plain numbers: cannot fail but on NaN, which the decoder would refuse
	return b
}

func decodeSweepPoint(b []byte) (SweepPoint, error) {
	var p SweepPoint
	err := json.Unmarshal(b, &p)
	return p, err
}

func init() {
	register.DoFn3x1[int, func(train.State), func(int, SweepPoint), error](&sweepSettingFn{})
	register.DoFn4x1[int, func(*SweepPoint) bool, func(*transforms.Partial) bool, func(SweepPoint), error](&sweepJoinFn{})
	register.DoFn3x1[context.Context, int, func(*SweepPoint) bool, error](&writeSweepPointsFn{})
	register.Emitter1[train.State]()
	register.Emitter2[int, SweepPoint]()
	register.Emitter1[SweepPoint]()
	register.Iter1[SweepPoint]()
	beam.RegisterCoder(reflect.TypeOf(SweepPoint{}), encodeSweepPoint, decodeSweepPoint)
}

// Table renders the sweep for people: one row per setting, then the
// records it is drawn against.
func (r *SweepReport) Table() string {
	var b strings.Builder
	fmt.Fprintf(&b, "\n%-10s %12s %9s %12s %10s %9s\n", "sparsity", "bytes", "ratio", "bits/weight", "accuracy", "loss")
	for _, p := range r.Points {
		fmt.Fprintf(&b, "%9.1f%% %12s %8.1fx %12.3f %9.2f%% %9.4f\n", 100*p.Sparsity, groupDigits(p.Bytes), p.Ratio, p.BitsPerWeight, 100*p.Accuracy, p.Loss)
	}
	for _, t := range r.Tuned {
		fmt.Fprintf(&b, "%9.1f%% %12s %8.1fx %12s %9.2f%% %9.4f   (fine-tuned: %s)\n", 100*t.Sparsity, groupDigits(t.Bytes), float64(r.BytesBefore)/float64(max(t.Bytes, 1)), "", 100*t.Accuracy, t.Loss, t.Name)
	}
	for _, ref := range r.References {
		fmt.Fprintf(&b, "%-10s %12s %9s %12s %9.2f%%   (%s)\n", "", groupDigits(ref.Bytes), "", "", 100*ref.Accuracy, ref.Name)
	}
	for _, n := range r.Notes {
		fmt.Fprintf(&b, "note: %s\n", n)
	}
	fmt.Fprintf(&b, "sweep: %s, %s (%.1f s)\n", storage.Join(storage.Dir(r.Plot), SweepJSON), r.Plot, r.Seconds)
	return b.String()
}

// groupDigits writes n with thousands separators: 16,113.
func groupDigits(n int) string {
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0 && s[i-1] != '-'; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// Size of the image WriteSweepPlot renders, in pixels.
const (
	SweepWidth  = 960
	SweepHeight = 600
)

// Colours of the sweep plot.
var (
	colSweep     = color.RGBA{31, 119, 180, 255} // blue
	colTuned     = color.RGBA{44, 160, 44, 255}  // green
	colReference = color.RGBA{214, 39, 40, 255}  // red
)

// WriteSweepPlot writes to w a PNG (SweepWidth×SweepHeight) of r: test
// error (%) against artifact bytes, both on log scales (so that errors of
// 1.1% and 1.6% stay apart below one-shot settings at 60%), the settings
// as dots joined by a line (each labelled with its sparsity when there are
// few), r.Tuned as green dots labelled with their recipes' names, and r.References as labelled red diamonds.
func WriteSweepPlot(w io.Writer, r *SweepReport) error {
	if r == nil || len(r.Points) == 0 {
		return fmt.Errorf("compress.WriteSweepPlot: the sweep has no points")
	}
	logBytes := func(b int) float64 { return math.Log10(float64(max(b, 1))) }
	logErr := func(acc float64) float64 { return math.Log10(max(100*(1-acc), 0.01)) }
	xs := make([]float64, len(r.Points))
	ys := make([]float64, len(r.Points))
	for i, p := range r.Points {
		xs[i], ys[i] = logBytes(p.Bytes), logErr(p.Accuracy)
	}
	tx := make([]float64, len(r.Tuned))
	ty := make([]float64, len(r.Tuned))
	for i, t := range r.Tuned {
		tx[i], ty[i] = logBytes(t.Bytes), logErr(t.Accuracy)
	}
	rx := make([]float64, len(r.References))
	ry := make([]float64, len(r.References))
	for i, ref := range r.References {
		rx[i], ry[i] = logBytes(ref.Bytes), logErr(ref.Accuracy)
	}

	c := plot.NewCanvas(SweepWidth, SweepHeight)
	title := fmt.Sprintf("%s  -  sparsity sweep, %s", orDash(r.Arch), orDash(r.Recipe.Quant))
	c.Text(title, SweepWidth/2, 24, plot.Center, plot.TextColor, 2)
	how := "per weight matrix"
	if r.Recipe.Global {
		how = "one global threshold"
	}
	sub := fmt.Sprintf("%d settings, sparsity %.1f%% to %.1f%% (%s), one-shot magnitude pruning; test error",
		len(r.Points), 100*r.Points[0].Sparsity, 100*r.Points[len(r.Points)-1].Sparsity, how)
	if len(r.Tuned) > 0 {
		sub = fmt.Sprintf("%d one-shot settings, sparsity %.1f%% to %.1f%% (%s), and %d fine-tuned recipes; test error",
			len(r.Points), 100*r.Points[0].Sparsity, 100*r.Points[len(r.Points)-1].Sparsity, how, len(r.Tuned))
	}
	c.Text(sub, SweepWidth/2, 50, plot.Center, plot.MutedColor, 1)

	xlo, xhi := plot.FiniteRange(xs, tx, rx)
	if xhi-xlo < 0.3 { // at least a factor of two across
		mid := (xlo + xhi) / 2
		xlo, xhi = mid-0.15, mid+0.15
	}
	ylo, yhi := plot.FiniteRange(ys, ty, ry)
	if yhi-ylo < 0.3 {
		mid := (ylo + yhi) / 2
		ylo, yhi = mid-0.15, mid+0.15
	}
	p := plot.Panel{Rect: image.Rect(90, 80, SweepWidth-30, SweepHeight-60), XLo: xlo, XHi: xhi, YLo: ylo, YHi: yhi,
		XLabel: "artifact bytes (log scale)", YLabel: "test error (%, log scale)"}
	c.AxesTicks(&p, plot.LogTicks(xlo, xhi, plot.ByteLabel), plot.LogTicks(ylo, yhi, plot.PercentLabel))
	c.Series(&p, xs, ys, colSweep)
	if len(r.Points) <= 12 {
		for i, pt := range r.Points {
			c.Text(fmt.Sprintf("%.0f%%", 100*pt.Sparsity), int(p.PX(xs[i])), int(p.PY(ys[i]))-8, plot.Center, plot.MutedColor, 1)
		}
	}
	// Fine-tuned points are separate recipes: dots, not a line. They sit
	// close together, so each name goes above its dot unless it would
	// overlap a name already placed; then below.
	var placed []image.Rectangle
	for i, t := range r.Tuned {
		c.Dot(&p, tx[i], ty[i], 4, colTuned)
		x, y := int(p.PX(tx[i])), int(p.PY(ty[i]))
		w := 7 * utf8.RuneCountInString(t.Name) // the font is 7 pixels wide
		box := func(base int) image.Rectangle { return image.Rect(x-w/2, base-11, x+w/2, base+2) }
		base := y - 8
		for _, b := range placed {
			if b.Overlaps(box(base)) {
				base = y + 18
				break
			}
		}
		placed = append(placed, box(base))
		c.Text(t.Name, x, base, plot.Center, colTuned, 1)
	}
	// Records sit close together (16 and 27 KB at the same error): the
	// smaller half is labelled on the left of its marker, the larger on the
	// right, unless the label would leave the panel.
	order := make([]int, len(r.References))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return r.References[order[a]].Bytes < r.References[order[b]].Bytes })
	for k, i := range order {
		ref := r.References[i]
		c.Diamond(&p, rx[i], ry[i], 6, colReference)
		px, w := int(p.PX(rx[i])), 7*utf8.RuneCountInString(ref.Label) // the font is 7 pixels wide
		left := 2*k < len(order)-1 || (len(order) == 1 && px+10+w > p.Rect.Max.X)
		if left && px-10-w < p.Rect.Min.X {
			left = false
		} else if !left && px+10+w > p.Rect.Max.X {
			left = true
		}
		if left {
			c.Text(ref.Label, px-10, int(p.PY(ry[i]))+4, plot.Right, colReference, 1)
		} else {
			c.Text(ref.Label, px+10, int(p.PY(ry[i]))+4, plot.Left, colReference, 1)
		}
	}
	legend := []plot.LegendEntry{{Label: "one-shot sweep (label: sparsity)", Color: colSweep}}
	if len(r.Tuned) > 0 {
		legend = append(legend, plot.LegendEntry{Label: "fine-tuned recipes", Color: colTuned})
	}
	if len(r.References) > 0 {
		legend = append(legend, plot.LegendEntry{Label: "published records", Color: colReference})
	}
	// Error falls as bytes grow: the upper right is where the curve is not.
	c.Legend(&p, true, legend)
	if err := c.EncodePNG(w); err != nil {
		return fmt.Errorf("compress.WriteSweepPlot: %w", err)
	}
	return nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
