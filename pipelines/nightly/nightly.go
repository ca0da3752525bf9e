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
	"sync"
	"time"

	"github.com/lightbeam-ml/lightbeam/pipelines/compress"
	"github.com/lightbeam-ml/lightbeam/pipelines/quantize"
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
	// OnInterrupt, if set, is called when ctx is cancelled while the run
	// holds the lock, after its line is logged and the lock released; it
	// should end the process (the CLI exits 143). Optional.
	OnInterrupt func() `json:"-"`
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
// that cannot take the lock appends only that line, with the reason).
// Progress goes to log. The error is for what stopped the run; a model that failed
// is in the report, and the run goes on with the next.
func Run(ctx context.Context, c Config, log io.Writer) (*RunReport, error) {
	if err := c.prepare(); err != nil {
		return nil, err
	}
	rep := &RunReport{Start: c.Now().UTC(), Date: c.Date, Owner: c.Owner, Recipe: c.Recipe}
	runs := storage.Join(c.Out, RunsFile)
	bg := context.WithoutCancel(ctx) // the line and the release happen even when stopped
	var mu sync.Mutex                // guards rep against the interrupt's goroutine
	logLine := func() error {
		mu.Lock()
		rep.End = c.Now().UTC()
		line, _ := json.Marshal(rep)
		mu.Unlock()
		return appendLine(bg, runs, line)
	}
	lock, note, err := acquire(ctx, storage.Join(c.Out, LockFile), c.Owner, c.LockTTL, c.Now)
	if err != nil {
		// A refused run writes nothing but its line, which an alert reads.
		rep.Error = err.Error()
		return rep, errors.Join(err, logLine())
	}
	if c.OnInterrupt != nil {
		finished := make(chan struct{})
		defer close(finished)
		go func() {
			select {
			case <-ctx.Done():
				select {
				case <-finished:
					// The run had ended: the context ended after it (the CLI
					// cancels its signal context on return), so this is no
					// interruption. Run closes finished before it returns.
					return
				default:
				}
				// Stopped (SIGTERM from systemd or Kubernetes): what is written
				// is safe as after a kill; log the run, free the lock, leave.
				mu.Lock()
				rep.Error = "interrupted: " + context.Cause(ctx).Error()
				mu.Unlock()
				logLine()
				lock.release(bg)
				c.OnInterrupt()
			case <-finished:
			}
		}()
	}
	if note != "" {
		fmt.Fprintf(log, "nightly: %s\n", note)
		rep.LockNote = note
	}
	// What a killed run was writing atomically is only a temporary file.
	if n, err := storage.RemoveTemporaries(ctx, c.Out); err != nil {
		rep.Error = err.Error()
		return rep, errors.Join(err, logLine(), lock.release(bg))
	} else if n > 0 {
		fmt.Fprintf(log, "nightly: removed %d temporary files an interrupted run left in %s\n", n, c.Out)
	}
	runErr := run(ctx, c, rep, &mu, log)
	if runErr != nil {
		mu.Lock()
		rep.Error = runErr.Error()
		mu.Unlock()
	}
	return rep, errors.Join(runErr, logLine(), lock.release(bg))
}

func run(ctx context.Context, c Config, rep *RunReport, mu *sync.Mutex, log io.Writer) error {
	recipe, err := storage.ReadFile(ctx, c.Recipe)
	if err != nil {
		return err
	}
	base, err := compress.ParseRecipe(ctx, c.Recipe, recipe)
	if err != nil {
		return err
	}
	gate, _ := parseGate(c.Gate)
	sources, err := findModels(ctx, c.Models)
	if err != nil {
		return err
	}
	mu.Lock()
	rep.Seen = len(sources)
	mu.Unlock()
	for _, src := range sources {
		mr := compressModel(ctx, c, base, recipe, gate, src, log)
		fmt.Fprintf(log, "nightly: %s: %s%s\n", src.name, mr.Status, orEmpty(": ", mr.Reason))
		mu.Lock()
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
		rep.Models = append(rep.Models, mr)
		mu.Unlock()
	}
	if len(sources) == 0 {
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

// source is a model to compress: a finished train output (MODELS/NAME/
// with model.safetensors and report.json, written last) or a safetensors
// checkpoint (MODELS/NAME/ with model.safetensors.index.json and its
// shards, or with a model.safetensors that is not a lightbeam model). A
// lightbeam model without its report is a train run not finished yet, and
// is left for a later night.
type source struct {
	name       string
	path       string   // what compress gets: the train output or the checkpoint directory
	checkpoint bool     // compressed by pipelines/quantize
	files      []string // the files its content hash covers
	err        error    // why it cannot be read
}

// findModels returns the models under prefix, by name.
func findModels(ctx context.Context, prefix string) ([]source, error) {
	prefix = strings.TrimSuffix(prefix, "/")
	var out []source
	seen := map[string]bool{}
	// A name directly under prefix: gs:// globs also match deeper paths.
	direct := func(file string) (string, bool) {
		dir := storage.Dir(file)
		return storage.Base(dir), storage.Dir(dir) == prefix
	}
	indexes, err := storage.List(ctx, storage.Join(prefix, "*", quantize.IndexFile))
	if err != nil {
		return nil, err
	}
	for _, idx := range indexes {
		name, ok := direct(idx)
		if !ok {
			continue
		}
		files, _, err := quantize.Resolve(ctx, idx)
		if err != nil {
			return nil, err
		}
		out = append(out, source{name: name, path: storage.Dir(idx), checkpoint: true, files: append([]string{idx}, files...)})
		seen[name] = true
	}
	models, err := storage.List(ctx, storage.Join(prefix, "*", modelFile))
	if err != nil {
		return nil, err
	}
	for _, m := range models {
		name, ok := direct(m)
		if !ok || seen[name] {
			continue
		}
		dir := storage.Dir(m)
		if ok, err := storage.Exists(ctx, storage.Join(dir, trainReport)); err != nil {
			return nil, err
		} else if ok {
			out = append(out, source{name: name, path: dir, files: []string{m}})
			continue
		}
		// No train report: a checkpoint, or a train output not finished yet.
		h, err := quantize.ReadHeader(ctx, m)
		switch {
		case err != nil:
			out = append(out, source{name: name, path: m, err: err})
		case h.Metadata[lightbeamFormat] == "":
			out = append(out, source{name: name, path: m, checkpoint: true, files: []string{m}})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out, nil
}

// lightbeamFormat is the metadata key of lightbeam's model files.
const lightbeamFormat = "lightbeam.format"

// contentHash is the SHA-256 of the recipe and the files, in hex.
func contentHash(ctx context.Context, recipe []byte, files []string) (string, error) {
	h := sha256.New()
	fmt.Fprintf(h, "recipe %d\n", len(recipe))
	h.Write(recipe)
	for _, f := range files {
		fmt.Fprintf(h, "file %s\n", storage.Base(f))
		r, err := storage.Open(ctx, f)
		if err != nil {
			return "", err
		}
		_, err = io.Copy(h, r)
		r.Close()
		if err != nil {
			return "", fmt.Errorf("reading %s: %w", f, err)
		}
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
func compressModel(ctx context.Context, c Config, base compress.Config, recipe []byte, gate []Rule, s source, log io.Writer) ModelRun {
	name := s.name
	mr := ModelRun{Name: name, Model: s.path}
	fail := func(err error) ModelRun {
		mr.Status, mr.Reason = Failed, err.Error()
		return mr
	}
	if s.err != nil {
		return fail(s.err)
	}
	hash, err := contentHash(ctx, recipe, s.files)
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

	// An output that an earlier, killed run began for this hash is finished
	// where it is, under its own date; else this run's date gets one.
	date, err := unfinished(ctx, c.Out, name, hash)
	if err != nil {
		return fail(err)
	}
	if date == "" {
		date = c.Date
	}
	out := storage.Join(c.Out, date, name)
	mr.Output = out
	res, err := compressOnce(ctx, c, base, s, out, hash, log)
	if err != nil {
		return fail(err)
	}
	mr.Ratio, mr.BytesAfter, mr.AccuracyBefore, mr.AccuracyAfter = res.Ratio, res.Bytes, res.AccuracyBefore, res.AccuracyAfter
	mr.Gate = check(gate, res)
	passed := true
	var why []string
	for _, g := range mr.Gate {
		passed = passed && g.Pass
		if !g.Pass {
			why = append(why, g.String())
		}
	}
	m := marker{Name: name, Model: s.path, Hash: hash, Recipe: c.Recipe, Date: date, Passed: passed, Gate: mr.Gate}
	mb, _ := json.MarshalIndent(m, "", "  ")
	mb = append(mb, '\n')
	// The order makes every state a kill can leave safe: the marker says the
	// output is complete, LATEST may then point at it, and the done record,
	// last, says this model + recipe needs no more work (a kill before it
	// means the next run reuses the output and writes the rest again).
	if err := storage.WriteBytes(ctx, storage.Join(out, MarkerFile), mb); err != nil {
		return fail(err)
	}
	if passed {
		if err := storage.WriteBytes(ctx, storage.Join(c.Out, name, LatestFile), []byte(date+"/"+name+"\n")); err != nil {
			return fail(err)
		}
	}
	if err := storage.WriteBytes(ctx, donePath, mb); err != nil {
		return fail(err)
	}
	if !passed {
		mr.Status, mr.Reason = GateFailed, "gate failed: "+strings.Join(why, ", ")+"; LATEST left where it was"
		return mr
	}
	mr.Status = Done
	return mr
}

// unfinished returns the date of an output of name that a run began for
// hash and did not mark complete, or "".
func unfinished(ctx context.Context, out, name, hash string) (string, error) {
	pending, err := storage.List(ctx, storage.Join(out, "*", name, pendingFile))
	if err != nil {
		return "", err
	}
	for _, p := range pending {
		dir := storage.Dir(p)
		if storage.Dir(storage.Dir(dir)) != strings.TrimSuffix(out, "/") || !sameHash(ctx, dir, hash) {
			continue
		}
		if done, err := storage.Exists(ctx, storage.Join(dir, MarkerFile)); err != nil {
			return "", err
		} else if !done {
			return storage.Base(storage.Dir(dir)), nil
		}
	}
	return "", nil
}

// result is what the gate looks at.
type result struct {
	Ratio                         float64
	Bytes                         int
	Evaluated                     bool // the accuracies were measured
	AccuracyBefore, AccuracyAfter float64
	SQNRdB                        *float64 // checkpoints
}

// compressOnce compresses s into out (a train output with compress, a
// checkpoint with pipelines/quantize) and returns its result; a
// compression that a killed run finished for the same hash is reused.
func compressOnce(ctx context.Context, c Config, base compress.Config, s source, out, hash string, log io.Writer) (*result, error) {
	reuse := sameHash(ctx, out, hash)
	if s.checkpoint {
		if base.Prune != "magnitude" || len(base.Sparsity) > 0 || base.PruneSteps > 0 || base.CodebookEpochs > 0 {
			return nil, fmt.Errorf("%s is a checkpoint: the recipe may only set quant (q8_0, q4_0 or q4_k) for it", s.path)
		}
		var rep quantize.Report
		if raw, err := storage.ReadFile(ctx, storage.Join(out, quantize.ReportFile)); reuse && err == nil && json.Unmarshal(raw, &rep) == nil {
			fmt.Fprintf(log, "nightly: %s: reusing the finished quantization in %s\n", s.name, out)
		} else {
			if err := startOutput(ctx, out, hash); err != nil {
				return nil, err
			}
			fmt.Fprintf(log, "nightly: %s: quantizing the checkpoint into %s\n", s.name, out)
			r, err := quantize.Run(ctx, quantize.Config{Checkpoint: s.path, Out: out, Quant: base.Quant, Overwrite: true, Runner: c.Runner}, log)
			if err != nil {
				return nil, err
			}
			rep = *r
		}
		return &result{Ratio: rep.Ratio, Bytes: int(rep.BytesOut), SQNRdB: rep.SQNRdB}, nil
	}
	var rep compress.Report
	if raw, err := storage.ReadFile(ctx, storage.Join(out, compress.ReportName)); reuse && err == nil && json.Unmarshal(raw, &rep) == nil && rep.Artifact != "" {
		fmt.Fprintf(log, "nightly: %s: reusing the finished compression in %s\n", s.name, out)
	} else {
		cc := base
		cc.Model, cc.Data, cc.Out, cc.Accel, cc.Runner = s.path, c.Data, out, c.Accel, c.Runner
		cc.Resume, cc.Overwrite = true, true // a killed run's steps are kept; its unfinished output replaced
		if err := startOutput(ctx, out, hash); err != nil {
			return nil, err
		}
		fmt.Fprintf(log, "nightly: %s: compressing into %s\n", s.name, out)
		r, err := compress.Run(ctx, cc, log)
		if err != nil {
			return nil, err
		}
		rep = *r
	}
	return &result{Ratio: rep.Ratio, Bytes: rep.BytesAfter, Evaluated: c.Data != "", AccuracyBefore: rep.AccuracyBefore, AccuracyAfter: rep.AccuracyAfter}, nil
}

// startOutput readies out for a compression of hash: the temporary files
// a killed run left are removed, and the hash is recorded.
func startOutput(ctx context.Context, out, hash string) error {
	if err := removeTemps(out); err != nil {
		return err
	}
	return storage.WriteBytes(ctx, storage.Join(out, pendingFile), []byte(hash+"\n"))
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

// appendLine appends line and a newline to the file p, safely against
// other appenders: locally with O_APPEND (one write), on gs:// by
// rewriting the object on the condition that nobody else did since it was
// read (ifGenerationMatch), retried a few times.
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
	var err error
	for range 5 {
		old, gen, rerr := storage.ReadGeneration(ctx, p)
		if rerr != nil && !storage.IsNotExist(rerr) {
			return rerr
		}
		if err = storage.WriteIfGeneration(ctx, p, append(old, line...), gen); !errors.Is(err, storage.ErrChanged) {
			return err
		}
	}
	return err
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
			c.Note = "no value to check (accuracy needs --data; SQNR is measured for checkpoints)"
		case g.max:
			c.Value, c.Pass = v, v <= rule.Limit
		default:
			c.Value, c.Pass = v, v >= rule.Limit
		}
		out = append(out, c)
	}
	return out
}
