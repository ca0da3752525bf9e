// Package nightly is the scheduled compression job: it finds the trained
// models under a prefix that this recipe has not compressed yet, compresses
// each (pipelines/compress; a safetensors checkpoint with
// pipelines/quantize), and publishes the result only when it passes a
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
// finished train output), or a safetensors checkpoint. Its identity is the
// SHA-256 of the recipe file and the model's files, so a retrained model is
// compressed again and an unchanged one is not, whatever the file times say.
package nightly

// The run as a whole: Config, Run (the lock, the record, a stop by a
// signal) and the loop over the models. discover.go finds the models and
// their hashes, model.go takes one model through the run, gate.go holds the
// gate and LATEST, runrecord.go the line in runs.jsonl, lock.go the lock.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
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

	// EvalText are text files on which a model directory's GGUF is
	// evaluated against its source (pipelines/llmeval.Compare): the
	// perplexity, KL and top-1 gates need them. Optional.
	EvalText []string
	// EvalSentences is a file of one sentence a line on which an encoder's
	// (BERT's) GGUF is compared with its source: min_embedding_cosine
	// needs it. Optional.
	EvalSentences  string
	EvalCtx        int // tokens a window; llmeval's default if 0
	EvalMaxWindows int // the first N windows only; all if 0

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

// runner is one run that holds the lock: what its steps share.
type runner struct {
	c    Config // prepared: Date, Now (the clock), LockTTL and Owner are set
	log  io.Writer
	lock *lock
	rec  *runRecord
	gate []Rule

	// Set by run before the first model: the recipe's bytes, which every
	// content hash covers, and the compress flags they hold.
	recipe []byte
	base   compress.Config

	interrupted sync.Once
}

// Run does one nightly run and appends its line to OUT/runs.jsonl (a run
// that cannot take the lock appends only that line, with the reason).
// Progress goes to log. The error is for what stopped the run; a model that failed
// is in the report, and the run goes on with the next.
func Run(ctx context.Context, c Config, log io.Writer) (*RunReport, error) {
	if err := c.prepare(); err != nil {
		return nil, err
	}
	rec := newRunRecord(c)
	bg := context.WithoutCancel(ctx) // the line and the release happen even when stopped
	lock, note, err := acquire(ctx, storage.Join(c.Out, LockFile), c.Owner, c.LockTTL, c.Now)
	if err != nil {
		// A refused run writes nothing but its line, which an alert reads.
		rec.fail(err)
		return rec.rep, errors.Join(err, rec.write(bg))
	}
	gate, _ := parseGate(c.Gate) // prepare checked it
	r := &runner{c: c, log: log, lock: lock, rec: rec, gate: gate}
	if c.OnInterrupt != nil {
		finished := make(chan struct{})
		defer close(finished) // after the return values: the line and the release
		go r.watch(ctx, finished)
	}
	if note != "" {
		fmt.Fprintf(log, "nightly: %s\n", note)
		rec.update(func(rep *RunReport) { rep.LockNote = note })
	}
	finish := func(err error) (*RunReport, error) {
		if c.OnInterrupt != nil && ctx.Err() != nil {
			// Stopped, and the steps failed fast on the cancelled context
			// before the watcher ran: still an interruption.
			r.interrupt(ctx)
			return rec.rep, context.Cause(ctx)
		}
		if err != nil {
			rec.fail(err)
		}
		return rec.rep, errors.Join(err, rec.write(bg), lock.release(bg))
	}
	// What a killed run was writing atomically is only a temporary file.
	n, err := storage.RemoveTemporaries(ctx, c.Out)
	if err != nil {
		return finish(err)
	}
	if n > 0 {
		fmt.Fprintf(log, "nightly: removed %d temporary files an interrupted run left in %s\n", n, c.Out)
	}
	return finish(r.run(ctx))
}

// watch waits for ctx to end before finished is closed: the run was
// stopped (SIGTERM from systemd or Kubernetes).
func (r *runner) watch(ctx context.Context, finished <-chan struct{}) {
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
		r.interrupt(ctx)
	case <-finished:
	}
}

// interrupt, once a run, ends a stopped run: what is written is safe as
// after a kill; it logs the run, frees the lock and calls OnInterrupt.
func (r *runner) interrupt(ctx context.Context) {
	r.interrupted.Do(func() {
		bg := context.WithoutCancel(ctx)
		r.rec.update(func(rep *RunReport) { rep.Error = "interrupted: " + context.Cause(ctx).Error() })
		r.rec.write(bg)
		r.lock.release(bg)
		r.c.OnInterrupt()
	})
}

// run compresses the models, one by one in name order, into the record.
func (r *runner) run(ctx context.Context) error {
	recipe, err := storage.ReadFile(ctx, r.c.Recipe)
	if err != nil {
		return err
	}
	base, err := compress.ParseRecipe(ctx, r.c.Recipe, recipe)
	if err != nil {
		return err
	}
	r.recipe, r.base = recipe, base
	sources, err := findModels(ctx, r.c.Models)
	if err != nil {
		return err
	}
	r.rec.update(func(rep *RunReport) { rep.Seen = len(sources) })
	for _, src := range sources {
		mr := r.compressModel(ctx, src)
		fmt.Fprintf(r.log, "nightly: %s: %s%s\n", src.name, mr.Status, orEmpty(": ", mr.Reason))
		r.rec.add(mr)
	}
	if len(sources) == 0 {
		fmt.Fprintf(r.log, "nightly: no finished models under %s\n", r.c.Models)
	}
	return nil
}

func orEmpty(prefix, s string) string {
	if s == "" {
		return ""
	}
	return prefix + s
}
