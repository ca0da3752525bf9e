// Package nightly is the scheduled compression job: it finds the trained
// models under a prefix that this recipe has not compressed yet, compresses
// each (pipelines/compress), and publishes the result only when it passes a
// quality gate. It is safe to run every night, twice, concurrently or after
// a kill:
//
//	OUT/LOCK                 one writer at a time (owner, expiry), taken atomically
//	OUT/DATE/NAME/           the compress output (model.lbc, report.json, ...)
//	OUT/DATE/NAME/nightly.json  written last: the output is complete
//	OUT/NAME/done/HASH.json  this model + recipe is compressed (by content hash)
//	OUT/NAME/LATEST          "DATE/NAME": the newest complete output that passed the gate
//	OUT/runs.jsonl           one line per run, whatever its outcome
//
// A model is MODELS/NAME/ holding model.safetensors and report.json (a
// finished train output). Its identity is the SHA-256 of the recipe file
// and the model file, so a retrained model is compressed again and an
// unchanged one is not, whatever the file times say.
package nightly

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/lightbeam-ml/lightbeam/pipelines/compress"
	"github.com/lightbeam-ml/lightbeam/storage"
)

// Config is one nightly run.
type Config struct {
	Models string // Required. The prefix whose NAME/ folders are train outputs.
	Out    string // Required. The prefix the outputs, pointers and the run log go under.
	Recipe string // Required. A compress recipe file (JSON of compress flags).
	Data   string // Optional. A preprocess output: evaluation before and after, fine-tuning.
	Gate   string // Optional. e.g. "max_accuracy_drop=0.2,min_ratio=20".
	Date   string // Optional. YYYY-MM-DD; defaults to today in UTC.

	Accel  string // Optional. The math backend; defaults to auto.
	Runner string // the Beam runner's name

	// LockTTL is how long the lock holds without its owner. Optional.
	// Defaults to DefaultLockTTL.
	LockTTL time.Duration
	// Owner names this run in the lock. Optional. Defaults to host:pid.
	Owner string
	// Now is the clock. Optional. Defaults to time.Now.
	Now func() time.Time `json:"-"`
}

// DefaultLockTTL is the default lock expiry: longer than a night's run,
// shorter than the time to the next.
const DefaultLockTTL = 12 * time.Hour

// File names.
const (
	LockFile    = "LOCK"
	LatestFile  = "LATEST"
	RunsFile    = "runs.jsonl"
	MarkerFile  = "nightly.json"
	doneDir     = "done"
	modelFile   = "model.safetensors"
	trainReport = "report.json"
)

// Outcomes of a model in a run.
const (
	Done       = "done"        // compressed, gate passed, LATEST moved
	Skipped    = "skipped"     // already compressed with this recipe
	GateFailed = "gate_failed" // compressed, gate failed, LATEST left
	Failed     = "failed"      // an error; see Reason
)

// ModelRun is what happened to one model.
type ModelRun struct {
	Name   string  `json:"name"`
	Model  string  `json:"model"`
	Hash   string  `json:"hash"`
	Status string  `json:"status"`
	Output string  `json:"output,omitempty"`
	Reason string  `json:"reason,omitempty"`
	Gate   []Check `json:"gate,omitempty"`

	Ratio          float64 `json:"ratio,omitempty"`
	BytesAfter     int     `json:"bytes_after,omitempty"`
	AccuracyBefore float64 `json:"accuracy_before,omitempty"`
	AccuracyAfter  float64 `json:"accuracy_after,omitempty"`
}

// RunReport is one line of runs.jsonl.
type RunReport struct {
	Start      time.Time  `json:"start"`
	End        time.Time  `json:"end"`
	Date       string     `json:"date"`
	Owner      string     `json:"owner"`
	Recipe     string     `json:"recipe"`
	Seen       int        `json:"seen"`
	Done       int        `json:"done"`
	Skipped    int        `json:"skipped"`
	GateFailed int        `json:"gate_failed"`
	Failed     int        `json:"failed"`
	Models     []ModelRun `json:"models"`
	LockNote   string     `json:"lock_note,omitempty"`
	Error      string     `json:"error,omitempty"`
}

// Outcome sums a run up for the exit code: "done", "nothing" (every model
// skipped, or none), "gate" (a gate failed) or "failed".
func (r *RunReport) Outcome() string {
	switch {
	case r.Failed > 0 || r.Error != "":
		return "failed"
	case r.GateFailed > 0:
		return "gate"
	case r.Done == 0:
		return "nothing"
	}
	return "done"
}

func (c *Config) prepare() error {
	if c.Models == "" || c.Out == "" || c.Recipe == "" {
		return fmt.Errorf("nightly: --models, --out and --recipe are required")
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Date == "" {
		c.Date = c.Now().UTC().Format(time.DateOnly)
	}
	if _, err := time.Parse(time.DateOnly, c.Date); err != nil {
		return fmt.Errorf("nightly: --date=%s: want YYYY-MM-DD", c.Date)
	}
	if c.LockTTL == 0 {
		c.LockTTL = DefaultLockTTL
	}
	if c.Owner == "" {
		host, _ := os.Hostname()
		c.Owner = fmt.Sprintf("%s:%d", host, os.Getpid())
	}
	_, err := parseGate(c.Gate)
	return err
}

// Run does one nightly run and appends its line to OUT/runs.jsonl (a run
// that cannot take the lock appends nothing: it did not write). Progress
// goes to log. The error is for what stopped the run; a model that failed
// is in the report, and the run goes on with the next.
func Run(ctx context.Context, c Config, log io.Writer) (*RunReport, error) {
	if err := c.prepare(); err != nil {
		return nil, err
	}
	rep := &RunReport{Start: c.Now().UTC(), Date: c.Date, Owner: c.Owner, Recipe: c.Recipe}
	lock, note, err := acquire(ctx, storage.Join(c.Out, LockFile), c.Owner, c.LockTTL, c.Now)
	if err != nil {
		return nil, err
	}
	if note != "" {
		fmt.Fprintf(log, "nightly: %s\n", note)
		rep.LockNote = note
	}
	runErr := run(ctx, c, rep, log)
	if runErr != nil {
		rep.Error = runErr.Error()
	}
	rep.End = c.Now().UTC()
	line, _ := json.Marshal(rep)
	err = errors.Join(runErr, appendLine(ctx, storage.Join(c.Out, RunsFile), line), lock.release(ctx))
	return rep, err
}

func run(ctx context.Context, c Config, rep *RunReport, log io.Writer) error {
	recipe, err := storage.ReadFile(ctx, c.Recipe)
	if err != nil {
		return err
	}
	base, err := compress.ParseRecipe(ctx, c.Recipe, recipe)
	if err != nil {
		return err
	}
	gate, _ := parseGate(c.Gate)
	names, err := findModels(ctx, c.Models)
	if err != nil {
		return err
	}
	rep.Seen = len(names)
	for _, name := range names {
		mr := compressModel(ctx, c, base, recipe, gate, name, log)
		switch mr.Status {
		case Done:
			rep.Done++
		case Skipped:
			rep.Skipped++
		case GateFailed:
			rep.GateFailed++
		default:
			rep.Failed++
		}
		fmt.Fprintf(log, "nightly: %s: %s%s\n", name, mr.Status, orEmpty(": ", mr.Reason))
		rep.Models = append(rep.Models, mr)
	}
	if len(names) == 0 {
		fmt.Fprintf(log, "nightly: no finished models under %s\n", c.Models)
	}
	return nil
}

func orEmpty(prefix, s string) string {
	if s == "" {
		return ""
	}
	return prefix + s
}

// findModels returns the names of the finished train outputs under prefix:
// the folders with both a model file and a train report.
func findModels(ctx context.Context, prefix string) ([]string, error) {
	reports, err := storage.List(ctx, storage.Join(prefix, "*", trainReport))
	if err != nil {
		return nil, err
	}
	var names []string
	for _, r := range reports {
		dir := storage.Dir(r)
		if storage.Dir(dir) != strings.TrimSuffix(prefix, "/") {
			continue // deeper than PREFIX/NAME/ (gs:// globs cross '/')
		}
		if ok, err := storage.Exists(ctx, storage.Join(dir, modelFile)); err != nil {
			return nil, err
		} else if ok {
			names = append(names, storage.Base(dir))
		}
	}
	sort.Strings(names)
	return names, nil
}

// contentHash is the SHA-256 of the recipe and the model file, in hex.
func contentHash(ctx context.Context, recipe []byte, model string) (string, error) {
	h := sha256.New()
	fmt.Fprintf(h, "recipe %d\n", len(recipe))
	h.Write(recipe)
	r, err := storage.Open(ctx, model)
	if err != nil {
		return "", err
	}
	defer r.Close()
	if _, err := io.Copy(h, r); err != nil {
		return "", fmt.Errorf("reading %s: %w", model, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// marker is nightly.json: what an output is, written when it is complete.
type marker struct {
	Name   string  `json:"name"`
	Model  string  `json:"model"`
	Hash   string  `json:"hash"`
	Recipe string  `json:"recipe"`
	Date   string  `json:"date"`
	Passed bool    `json:"gate_passed"`
	Gate   []Check `json:"gate,omitempty"`
}

// compressModel takes one model through the run: skip it if done, else
// compress it (or reuse a compress output that a killed run finished),
// gate it, mark it complete, record it done, and move LATEST if it passed.
func compressModel(ctx context.Context, c Config, base compress.Config, recipe []byte, gate []Rule, name string, log io.Writer) ModelRun {
	src := storage.Join(c.Models, name)
	mr := ModelRun{Name: name, Model: src}
	fail := func(err error) ModelRun {
		mr.Status, mr.Reason = Failed, err.Error()
		return mr
	}
	hash, err := contentHash(ctx, recipe, storage.Join(src, modelFile))
	if err != nil {
		return fail(err)
	}
	mr.Hash = hash
	donePath := storage.Join(c.Out, name, doneDir, hash+".json")
	if raw, err := storage.ReadFile(ctx, donePath); err == nil {
		var m marker
		if json.Unmarshal(raw, &m) == nil {
			mr.Output = storage.Join(c.Out, m.Date, name)
		}
		mr.Status, mr.Reason = Skipped, "already compressed with this recipe ("+mr.Output+")"
		return mr
	} else if !storage.IsNotExist(err) {
		return fail(err)
	}

	out := storage.Join(c.Out, c.Date, name)
	mr.Output = out
	var crep compress.Report
	if raw, err := storage.ReadFile(ctx, storage.Join(out, compress.ReportName)); err == nil && json.Unmarshal(raw, &crep) == nil && crep.Artifact != "" && sameHash(ctx, out, hash) {
		fmt.Fprintf(log, "nightly: %s: reusing the finished compression in %s\n", name, out)
	} else {
		cc := base
		cc.Model, cc.Data, cc.Out, cc.Accel, cc.Runner = src, c.Data, out, c.Accel, c.Runner
		cc.Resume, cc.Overwrite = true, true // a killed run's steps are kept; its unfinished output replaced
		if err := removeTemps(out); err != nil {
			return fail(err)
		}
		if err := storage.WriteBytes(ctx, storage.Join(out, pendingFile), []byte(hash+"\n")); err != nil {
			return fail(err)
		}
		fmt.Fprintf(log, "nightly: %s: compressing into %s\n", name, out)
		r, err := compress.Run(ctx, cc, log)
		if err != nil {
			return fail(err)
		}
		crep = *r
	}
	mr.Ratio, mr.BytesAfter, mr.AccuracyBefore, mr.AccuracyAfter = crep.Ratio, crep.BytesAfter, crep.AccuracyBefore, crep.AccuracyAfter
	mr.Gate = check(gate, &crep, c.Data != "")
	passed := true
	for _, g := range mr.Gate {
		passed = passed && g.Pass
	}
	m := marker{Name: name, Model: src, Hash: hash, Recipe: c.Recipe, Date: c.Date, Passed: passed, Gate: mr.Gate}
	mb, _ := json.MarshalIndent(m, "", "  ")
	mb = append(mb, '\n')
	// The order makes every state a kill can leave safe: the marker says the
	// output is complete, the done record that this model + recipe needs no
	// more work, and only then does LATEST point at it.
	if err := storage.WriteBytes(ctx, storage.Join(out, MarkerFile), mb); err != nil {
		return fail(err)
	}
	if err := storage.WriteBytes(ctx, donePath, mb); err != nil {
		return fail(err)
	}
	if !passed {
		mr.Status = GateFailed
		var why []string
		for _, g := range mr.Gate {
			if !g.Pass {
				why = append(why, g.String())
			}
		}
		mr.Reason = "gate failed: " + strings.Join(why, ", ") + "; LATEST left where it was"
		return mr
	}
	if err := storage.WriteBytes(ctx, storage.Join(c.Out, name, LatestFile), []byte(c.Date+"/"+name+"\n")); err != nil {
		return fail(err)
	}
	mr.Status = Done
	return mr
}

// removeTemps removes, under the local folder dir, the temporary files of
// atomic writes that a killed run left (".NAME.tmp-*", internal/localfile).
// The lock is held, so no write of ours is in flight.
func removeTemps(dir string) error {
	if !storage.IsLocal(dir) {
		return nil // objects appear whole: a killed upload leaves nothing
	}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasPrefix(d.Name(), ".") && strings.Contains(d.Name(), ".tmp-") {
			err = os.Remove(p)
		}
		return err
	})
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}

// pendingFile records, in an output being written, the hash of what is
// being compressed, so that a later run reuses a finished compression only
// for the same model and recipe.
const pendingFile = "nightly.pending"

func sameHash(ctx context.Context, out, hash string) bool {
	raw, err := storage.ReadFile(ctx, storage.Join(out, pendingFile))
	return err == nil && strings.TrimSpace(string(raw)) == hash
}

// appendLine appends line and a newline to the file p: locally with
// O_APPEND (one write), elsewhere by rewriting it (the lock is held, so no
// other writer races).
func appendLine(ctx context.Context, p string, line []byte) error {
	line = append(line, '\n')
	if storage.IsLocal(p) {
		if err := os.MkdirAll(storage.Dir(p), 0o755); err != nil {
			return err
		}
		f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
		if err != nil {
			return err
		}
		_, err = f.Write(line)
		if err == nil {
			err = f.Sync()
		}
		return errors.Join(err, f.Close())
	}
	old, err := storage.ReadFile(ctx, p)
	if err != nil && !storage.IsNotExist(err) {
		return err
	}
	return storage.WriteBytes(ctx, p, append(old, line...))
}

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

// gateRules are the rules a gate may name: accuracies in percentage
// points, the ratio and bytes of the artifact.
var gateRules = map[string]struct {
	max      bool // the value must be at most the limit (else at least)
	accuracy bool // needs --data
	value    func(r *compress.Report) float64
}{
	"max_accuracy_drop": {true, true, func(r *compress.Report) float64 { return 100 * (r.AccuracyBefore - r.AccuracyAfter) }},
	"min_accuracy":      {false, true, func(r *compress.Report) float64 { return 100 * r.AccuracyAfter }},
	"min_ratio":         {false, false, func(r *compress.Report) float64 { return r.Ratio }},
	"max_bytes":         {true, false, func(r *compress.Report) float64 { return float64(r.BytesAfter) }},
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

// check applies the rules to a compress report; accuracy rules fail
// without evaluation data.
func check(rules []Rule, r *compress.Report, evaluated bool) []Check {
	var out []Check
	for _, rule := range rules {
		g := gateRules[rule.Name]
		c := Check{Rule: rule.Name, Limit: rule.Limit}
		switch {
		case g.accuracy && !evaluated:
			c.Note = "no --data, so no accuracy to check"
		default:
			c.Value = g.value(r)
			c.Pass = c.Value >= rule.Limit
			if g.max {
				c.Pass = c.Value <= rule.Limit
			}
		}
		out = append(out, c)
	}
	return out
}
