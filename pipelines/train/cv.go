package train

import (
	"context"
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/lightbeam-ml/lightbeam/storage"
)

// Setting is one point of a hyper-parameter grid: name → value, for the
// names lr, l2, l1 and momentum.
type Setting map[string]float64

func (s Setting) String() string {
	keys := make([]string, 0, len(s))
	for k := range s {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, k+"="+strconv.FormatFloat(s[k], 'g', -1, 64))
	}
	if len(parts) == 0 {
		return "defaults"
	}
	return strings.Join(parts, ",")
}

// ParseGrid reads "lr=0.1,0.03;l2=0,1e-4" into the cartesian product of
// the values: here four settings. "" is one setting, the defaults.
func ParseGrid(spec string) ([]Setting, error) {
	out := []Setting{{}}
	if strings.TrimSpace(spec) == "" {
		return out, nil
	}
	for _, axis := range strings.Split(spec, ";") {
		name, vals, ok := strings.Cut(strings.TrimSpace(axis), "=")
		switch name {
		case "lr", "l2", "l1", "momentum":
		default:
			return nil, fmt.Errorf("--grid: %q: want lr, l2, l1 or momentum=v1,v2,...", axis)
		}
		if !ok || vals == "" {
			return nil, fmt.Errorf("--grid: %q has no values", axis)
		}
		var next []Setting
		for _, v := range strings.Split(vals, ",") {
			x, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil || x < 0 || math.IsInf(x, 0) {
				return nil, fmt.Errorf("--grid: %s=%q is not a number ≥ 0", name, v)
			}
			for _, s := range out {
				if _, dup := s[name]; dup {
					return nil, fmt.Errorf("--grid names %s twice", name)
				}
				t := Setting{name: x}
				for k, v := range s {
					t[k] = v
				}
				next = append(next, t)
			}
		}
		out = next
	}
	return out, nil
}

func (s Setting) apply(c Config) Config {
	for k, v := range s {
		switch k {
		case "lr":
			c.LR = v
		case "l2":
			c.L2 = v
		case "l1":
			c.L1 = v
		case "momentum":
			c.Momentum = v
		}
	}
	return c
}

// CVResult is one grid setting's cross-validation score.
type CVResult struct {
	Setting string    `json:"setting"`
	Mean    float64   `json:"mean"` // validation accuracy (classifiers) or loss, over folds
	Std     float64   `json:"std"`
	Folds   []float64 `json:"folds"`
}

// runCV trains settings × folds models in one pipeline per epoch, on the
// train and validation splits together, each model validated on its held
// out fold; then it retrains the best setting on all that data.
func runCV(ctx context.Context, c Config, log io.Writer) (*Report, error) {
	settings, err := ParseGrid(c.Grid)
	if err != nil {
		return nil, err
	}
	p, err := newPlan(ctx, &c)
	if err != nil {
		return nil, err
	}
	// Every model reads both splits' shards and keeps its own rows.
	p.trainShards = append(p.trainShards, p.valShards...)
	p.valShards, p.nTrain, p.nVal = p.trainShards, len(p.trainShards), len(p.trainShards)
	var total int64
	for _, sh := range p.trainShards {
		total += sh.Rows
		p.maxShardRows = max(p.maxShardRows, sh.Rows)
	}
	k := c.Folds
	p.trainRows = total * int64(k-1) / int64(k)
	ms := &Models{}
	var classify bool
	for g, set := range settings {
		sc := set.apply(c)
		spec, err := sc.spec(p.manifest, p)
		if err != nil {
			return nil, fmt.Errorf("--grid setting %s: %w", set, err)
		}
		classify = mustModel(spec).Classifier()
		for f := 0; f < k; f++ {
			ms.Specs = append(ms.Specs, spec)
			ms.TrainSels = append(ms.TrainSels, rowSelect{Folds: k, Fold: f, Train: true})
			ms.EvalSels = append(ms.EvalSels, rowSelect{Folds: k, Fold: f})
			ms.Dirs = append(ms.Dirs, storage.Join(c.Out, "cv", fmt.Sprintf("setting-%02d-fold-%02d", g, f)))
		}
	}
	fmt.Fprintf(log, "cv: %d settings × %d folds = %d models trained together on %d rows (train+validation), %d rounds/epoch\n",
		len(settings), k, len(ms.Specs), total, ms.Specs[0].Rounds)
	for m, spec := range ms.Specs {
		if err := startCheckpoint(ctx, spec, checkpointAt(ms.Dirs[m], 0), mustModel(spec).Init(c.Seed)); err != nil {
			return nil, err
		}
	}
	for e := 1; e <= c.Epochs; e++ {
		if err := runEpoch(ctx, ms, p, e, c.Plain); err != nil {
			return nil, fmt.Errorf("cv epoch %d failed: %w", e, err)
		}
		fmt.Fprintf(log, "cv epoch %d/%d done\n", e, c.Epochs)
	}
	var results []CVResult
	best := 0
	for g, set := range settings {
		r := CVResult{Setting: set.String()}
		for f := 0; f < k; f++ {
			_, meta, err := loadState(ctx, ms.Specs[g*k+f], checkpointAt(ms.Dirs[g*k+f], c.Epochs))
			if err != nil {
				return nil, err
			}
			ep := epochFromMeta(c.Epochs, meta)
			score := ep.ValidationLoss
			if classify {
				score = ep.ValidationAccuracy
			}
			r.Folds = append(r.Folds, score)
			r.Mean += score / float64(k)
		}
		for _, s := range r.Folds {
			r.Std += (s - r.Mean) * (s - r.Mean) / float64(k)
		}
		r.Std = math.Sqrt(r.Std)
		results = append(results, r)
		if (classify && r.Mean > results[best].Mean) || (!classify && r.Mean < results[best].Mean) {
			best = g
		}
		fmt.Fprintf(log, "cv %-28s %s %.4f ± %.4f  folds %v\n", set, map[bool]string{true: "accuracy", false: "loss"}[classify], r.Mean, r.Std, r.Folds)
	}
	fmt.Fprintf(log, "cv: best setting %s; retraining it on all of train+validation\n", settings[best])
	final := settings[best].apply(c)
	final.Folds, final.Grid, final.AllData = 0, "", true
	rep, err := Run(ctx, final, log)
	if err != nil {
		return nil, err
	}
	rep.CV, rep.CVBest = results, settings[best].String()
	if err := writeReport(ctx, c.Out, rep); err != nil {
		return nil, err
	}
	return rep, nil
}
