package nightly

// The gate: the rules of --gate, applied to a compressed output's result;
// and LATEST, which only an output that passed it may become.

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/lightbeam-ml/lightbeam/pipelines/llmeval"
	"github.com/lightbeam-ml/lightbeam/storage"
)

// Rule is one gate condition.
type Rule struct {
	Name  string
	Limit float64
}

// Check is a rule applied to an output.
type Check struct {
	Rule  string  `json:"rule"`
	Limit float64 `json:"limit"`
	Value float64 `json:"value"`
	Pass  bool    `json:"pass"`
	Note  string  `json:"note,omitempty"`
}

func (c Check) String() string {
	if c.Note != "" {
		return fmt.Sprintf("%s=%g (%s)", c.Rule, c.Limit, c.Note)
	}
	return fmt.Sprintf("%s=%g (got %.4g)", c.Rule, c.Limit, c.Value)
}

// result is what the gate looks at.
type result struct {
	Ratio                         float64
	Bytes                         int
	Evaluated                     bool // the accuracies were measured
	AccuracyBefore, AccuracyAfter float64
	SQNRdB                        *float64 // checkpoints
	// eval is a model directory's evaluation against its source (in the
	// checkpoint's report.json): PerplexityRatio is 0 when it was not
	// evaluated on text, Sentences 0 when not on sentences.
	eval llmeval.Report
}

// gateRules are the rules a gate may name: accuracies in percentage
// points, the ratio and bytes of the artifact; for a model directory the
// perplexity's increase over its source's in percent, top-1 agreement in
// percent, mean KL divergence in nats, and the least embedding cosine.
var gateRules = map[string]struct {
	max bool // the value must be at most the limit (else at least)
	// value is the output's value, and false when it has none (accuracy
	// without --data, SQNR of a model).
	value func(r *result) (float64, bool)
}{
	"max_accuracy_drop": {true, func(r *result) (float64, bool) { return 100 * (r.AccuracyBefore - r.AccuracyAfter), r.Evaluated }},
	"min_accuracy":      {false, func(r *result) (float64, bool) { return 100 * r.AccuracyAfter, r.Evaluated }},
	"min_ratio":         {false, func(r *result) (float64, bool) { return r.Ratio, true }},
	"max_bytes":         {true, func(r *result) (float64, bool) { return float64(r.Bytes), true }},
	"min_sqnr_db":       {false, func(r *result) (float64, bool) { return deref(r.SQNRdB), r.SQNRdB != nil }},
	// Model directories evaluated against their source (--eval-text).
	"max_ppl_increase":     {true, func(r *result) (float64, bool) { return 100 * (r.eval.PerplexityRatio - 1), r.eval.PerplexityRatio > 0 }},
	"min_top1":             {false, func(r *result) (float64, bool) { return 100 * r.eval.Top1, r.eval.PerplexityRatio > 0 }},
	"max_kl":               {true, func(r *result) (float64, bool) { return r.eval.KL, r.eval.PerplexityRatio > 0 }},
	"min_embedding_cosine": {false, func(r *result) (float64, bool) { return r.eval.CosineMin, r.eval.Sentences > 0 }},
}

func deref(v *float64) float64 {
	if v == nil {
		return 0
	}
	return *v
}

// parseGate reads "rule=limit,rule=limit".
func parseGate(s string) ([]Rule, error) {
	var rules []Rule
	for _, part := range strings.Split(s, ",") {
		if part = strings.TrimSpace(part); part == "" {
			continue
		}
		k, v, ok := strings.Cut(part, "=")
		limit, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if _, known := gateRules[strings.TrimSpace(k)]; !ok || err != nil || !known {
			names := make([]string, 0, len(gateRules))
			for n := range gateRules {
				names = append(names, n)
			}
			sort.Strings(names)
			return nil, fmt.Errorf("nightly: --gate: %q: want RULE=NUMBER with RULE one of %s", part, strings.Join(names, ", "))
		}
		rules = append(rules, Rule{strings.TrimSpace(k), limit})
	}
	return rules, nil
}

// check applies the rules to a result; a rule without a value fails.
func check(rules []Rule, r *result) []Check {
	var out []Check
	for _, rule := range rules {
		g := gateRules[rule.Name]
		c := Check{Rule: rule.Name, Limit: rule.Limit}
		v, ok := g.value(r)
		switch {
		case !ok:
			c.Note = "no value to check (accuracy needs --data; SQNR is measured for checkpoints; perplexity, top-1 and KL for model directories with --eval-text)"
		case g.max:
			c.Value, c.Pass = v, v <= rule.Limit
		default:
			c.Value, c.Pass = v, v >= rule.Limit
		}
		out = append(out, c)
	}
	return out
}

// verdict reports whether every check passed, and the failed ones.
func verdict(checks []Check) (passed bool, failed []string) {
	passed = true
	for _, g := range checks {
		passed = passed && g.Pass
		if !g.Pass {
			failed = append(failed, g.String())
		}
	}
	return passed, failed
}

// moveLatest points OUT/NAME/LATEST at the output OUT/DATE/NAME. Call it
// only once that output's marker is written and its gate passed.
func (r *runner) moveLatest(ctx context.Context, name, date string) error {
	return storage.WriteBytes(ctx, storage.Join(r.c.Out, name, LatestFile), []byte(date+"/"+name+"\n"))
}
