package preprocess

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/x/beamx"

	"github.com/lightbeam-ml/lightbeam/data/shardio"
	"github.com/lightbeam-ml/lightbeam/storage"
)

// Report is report.json: what a run read, wrote and rejected.
type Report struct {
	RowsRead     int64            `json:"rows_read"`
	RowsWritten  int64            `json:"rows_written"`
	RowsRejected int64            `json:"rows_rejected"`
	Features     int              `json:"features"`
	Classes      int              `json:"classes"`
	Shards       int              `json:"shards"`
	Splits       map[string]int64 `json:"splits"`
	BytesIn      int64            `json:"bytes_in"`
	BytesOut     int64            `json:"bytes_out"`
	Seconds      float64          `json:"seconds"`
	Format       string           `json:"format"`
	Scale        string           `json:"scale"`
	Out          string           `json:"out"`
	Rejects      []string         `json:"rejects,omitempty"`
}

// Run preprocesses cfg.Input into cfg.Out on the runner named by Beam's
// --runner flag, then writes report.json beside the manifest.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	start := time.Now()
	if err := Prepare(&cfg); err != nil {
		return nil, err
	}
	manifest := storage.Join(cfg.Out, shardio.ManifestName)
	if ok, err := storage.Exists(ctx, manifest); err != nil {
		return nil, err
	} else if ok {
		// report.json is written after the manifest: without it the run
		// that wrote the manifest was killed before it ended, and a rerun
		// redoes it rather than refuse.
		finished, err := storage.Exists(ctx, storage.Join(cfg.Out, "report.json"))
		if err != nil {
			return nil, err
		}
		if finished && !cfg.Overwrite {
			return nil, fmt.Errorf("%s exists: %s already holds a finished preprocess output (pass --overwrite to replace it)", manifest, cfg.Out)
		}
		// Drop the manifest first: until the new one is written, the
		// directory reads as incomplete, never as a mix of two runs.
		if err := storage.Remove(ctx, manifest); err != nil {
			return nil, err
		}
	}
	if err := storage.MkdirAll(ctx, cfg.Out); err != nil {
		return nil, err
	}
	if err := removeStale(ctx, cfg.Out); err != nil {
		return nil, err
	}
	plan, err := MakePlan(ctx, cfg)
	if err != nil {
		return nil, err
	}
	p, s := beam.NewPipelineWithRoot()
	Build(s, cfg, plan)
	if _, err := beamx.RunWithMetrics(ctx, p); err != nil {
		// The spilled runs are this run's scratch: a failed run (a full
		// disk) leaves none of them behind.
		removeRuns(ctx, cfg.Out)
		return nil, fmt.Errorf("preprocess pipeline failed: %w", err)
	}
	// Runs that a retried bundle wrote and no shard read.
	if err := removeRuns(ctx, cfg.Out); err != nil {
		return nil, err
	}
	m, err := shardio.ReadManifest(ctx, cfg.Out)
	if err != nil {
		return nil, err
	}
	rep := NewReport(m, cfg.Out)
	rep.Seconds = time.Since(start).Seconds()
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := storage.WriteBytes(ctx, storage.Join(cfg.Out, "report.json"), append(b, '\n')); err != nil {
		return nil, err
	}
	return rep, nil
}

// removeRuns deletes the spilled runs in out, and their directory.
func removeRuns(ctx context.Context, out string) error {
	if err := removeGlob(ctx, storage.Join(out, shardio.RunDir, "*.lbs")); err != nil {
		return err
	}
	if storage.IsLocal(out) {
		os.Remove(filepath.Join(out, shardio.RunDir)) // only if empty; object stores have no directories
	}
	return nil
}

// removeStale deletes what an earlier run (replaced, or one that failed
// before its manifest) left in out: shard files, reject files,
// report.json and spilled runs. Otherwise stale shards of another --shards count, or reject
// files this run does not list, would sit beside the new output.
func removeStale(ctx context.Context, out string) error {
	for _, glob := range []string{"shards/*.lbs", "rejects/*.jsonl", "report.json", shardio.RunDir + "/*.lbs"} {
		if err := removeGlob(ctx, storage.Join(out, glob)); err != nil {
			return err
		}
	}
	return nil
}

func removeGlob(ctx context.Context, glob string) error {
	names, err := storage.List(ctx, glob)
	if err != nil {
		return fmt.Errorf("listing old output %s: %w", glob, err)
	}
	for _, name := range names {
		if err := storage.Remove(ctx, name); err != nil {
			return fmt.Errorf("removing old output: %w", err)
		}
	}
	return nil
}

// NewReport summarizes a manifest.
func NewReport(m *shardio.Manifest, out string) *Report {
	r := &Report{
		RowsRead: m.RowsRead, RowsRejected: m.RowsRejected,
		Features: m.Schema.Features, Classes: m.Schema.Classes,
		Splits:  map[string]int64{"train": 0, "validation": 0, "test": 0},
		BytesIn: m.Source.BytesIn, Format: m.Source.Format, Scale: m.Scale.Method,
		Out: out, Rejects: m.Rejects,
	}
	for name, sp := range m.Splits {
		r.Splits[name] = sp.Rows
		r.RowsWritten += sp.Rows
		for _, sh := range sp.Shards {
			r.Shards++
			r.BytesOut += sh.Bytes
		}
	}
	return r
}

// Summary is the short human summary the command prints.
func (r *Report) Summary() string {
	return fmt.Sprintf("preprocess: %d rows read, %d written (train %d, validation %d, test %d), %d rejected\n"+
		"            %d features, %d classes, %d shard files, %.1f MB in → %.1f MB out, %.1f s\n"+
		"            output: %s (manifest.json, report.json)",
		r.RowsRead, r.RowsWritten, r.Splits["train"], r.Splits["validation"], r.Splits["test"], r.RowsRejected,
		r.Features, r.Classes, r.Shards, float64(r.BytesIn)/1e6, float64(r.BytesOut)/1e6, r.Seconds, r.Out)
}
