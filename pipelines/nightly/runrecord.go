package nightly

// The run record: what happened to each model and to the run, kept as the
// run goes and appended as one line to OUT/runs.jsonl at its end (or when
// the lock is refused, or the run is stopped).

import (
	"context"
	"encoding/json"
	"sync"
	"time"

	"github.com/lightbeam-ml/lightbeam/storage"
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
	// A model directory evaluated against its source (--eval-text).
	PerplexityRatio float64 `json:"perplexity_ratio,omitempty"`
	KL              float64 `json:"kl,omitempty"`
	Top1            float64 `json:"top1,omitempty"`
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

// runRecord is the run's RunReport while the run fills it in. The mutex
// guards it against the interrupt's goroutine, which writes the line of a
// run stopped mid-way.
type runRecord struct {
	mu   sync.Mutex
	rep  *RunReport
	path string // OUT/runs.jsonl
	now  func() time.Time
}

// newRunRecord starts the record of a run of c (prepared).
func newRunRecord(c Config) *runRecord {
	return &runRecord{
		rep:  &RunReport{Start: c.Now().UTC(), Date: c.Date, Owner: c.Owner, Recipe: c.Recipe},
		path: storage.Join(c.Out, RunsFile),
		now:  c.Now,
	}
}

// update changes the report under the mutex.
func (r *runRecord) update(f func(rep *RunReport)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	f(r.rep)
}

// fail records what stopped the run.
func (r *runRecord) fail(err error) {
	r.update(func(rep *RunReport) { rep.Error = err.Error() })
}

// add counts one model's outcome.
func (r *runRecord) add(mr ModelRun) {
	r.update(func(rep *RunReport) {
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
	})
}

// write ends the report now and appends it to runs.jsonl.
func (r *runRecord) write(ctx context.Context) error {
	r.mu.Lock()
	r.rep.End = r.now().UTC()
	line, _ := json.Marshal(r.rep)
	r.mu.Unlock()
	return storage.AppendLine(ctx, r.path, string(line))
}
