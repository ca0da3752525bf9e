// Package preprocess is lightbeam's first pipeline: it reads raw training
// data (MNIST-style IDX, CSV, LIBSVM, JSON Lines, TFRecord or Parquet,
// local, gs:// or hdfs://), rejects bad
// records with a reason, computes statistics, scales the features with the
// training split's statistics, splits train/validation/test by a hash of
// each record's identity, and writes compressed shards and, last, the
// manifest. Build assembles the pipeline; Run plans, runs it and reports.
package preprocess

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/lightbeam-ml/lightbeam/internal/version"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"

	"github.com/lightbeam-ml/lightbeam/data/formats"
	"github.com/lightbeam-ml/lightbeam/data/shardio"
	"github.com/lightbeam-ml/lightbeam/transforms"
)

// Config is what a preprocess run needs.
type Config struct {
	Format string // Required. "idx", "csv", "libsvm", "jsonl", "tfrecord" or "parquet".
	// Input is required. For idx: a directory holding the four MNIST files,
	// or "IMAGES,LABELS" pairs separated by ";" (all training data; give
	// test pairs in TestInput). For the others: files or globs, separated
	// by commas.
	Input     string
	TestInput string // Optional. idx: "IMAGES,LABELS" pairs for the test split.
	Out       string // Required. Output directory (local or gs://).

	Shards            int                  // Optional. Shard files per split. Defaults to 4.
	Scale             string               // Optional. standard|minmax|none. Defaults to standard.
	Split             transforms.Fractions // Optional (csv, libsvm). Defaults to 0.8/0.1/0.1.
	Validation        float64              // Optional (idx). Share of train carved out for validation. Defaults to 0.1; None for none.
	MaxRejectFraction float64              // Optional. Defaults to 0.01; None to allow no reject at all.
	BlockRows         int                  // Optional. Rows per block. Defaults to 4096.
	ChunkBytes        int64                // Optional. Bytes per parse task of a CSV/LIBSVM/JSONL file, compressed bytes of a Parquet one. Defaults to 32 MiB.
	Overwrite         bool                 // Optional. Replace an existing output.

	// CSV is for csv, and for the record formats (jsonl, tfrecord, parquet) the label,
	// categorical fields, missing values, classes and task.
	CSV    formats.CSVOptions
	LIBSVM formats.LIBSVMOptions // libsvm only.
	// Features is the number of LIBSVM features; 0 scans the input for
	// the largest index.
	Features int
	// Fields are the record formats' (jsonl, tfrecord, parquet) feature
	// fields, in order. Optional. Defaults to every field of the data but
	// the label.
	Fields []string
	// ImageColumn is the image field (parquet, tfrecord), the only feature
	// when Fields is empty. Optional.
	ImageColumn string
	// ImageShape (height, width, channels) makes ImageColumn's bytes raw
	// pixels of that shape rather than a PNG or JPEG. Optional.
	ImageShape []int
	// Classes is the number of IDX classes. Defaults to 10.
	Classes int
}

// None, as Validation or MaxRejectFraction, asks for 0: their zero value
// means the default.
const None = -1.0

func (c *Config) defaults() {
	if c.Shards == 0 {
		c.Shards = 4
	}
	if c.Scale == "" || c.Scale == "auto" {
		// Pixels have a known range, and standard scaling blows up the
		// rare ink of near-constant border pixels (σ ≈ 0) into huge
		// values: images get minmax (pixels to [0,1]).
		c.Scale = "standard"
		switch c.Format {
		case "idx":
			c.Scale = "minmax"
		case "tfrecord", "parquet":
			c.Scale = "auto" // Build decides: minmax when there are image features
		}
	}
	if c.Split == (transforms.Fractions{}) {
		c.Split = transforms.Fractions{0.8, 0.1, 0.1}
	}
	c.MaxRejectFraction = orDefault(c.MaxRejectFraction, 0.01)
	c.Validation = orDefault(c.Validation, 0.1)
	if c.BlockRows == 0 {
		c.BlockRows = 4096
	}
	if c.ChunkBytes == 0 {
		c.ChunkBytes = 32 << 20
	}
	if c.Classes == 0 {
		c.Classes = 10
	}
}

// orDefault returns def for 0, 0 for None, else x.
func orDefault(x, def float64) float64 {
	switch x {
	case 0:
		return def
	case None:
		return 0
	}
	return x
}

func (c *Config) validate() error {
	switch c.Format {
	case "idx", "csv", "libsvm", "jsonl", "tfrecord", "parquet":
	default:
		return fmt.Errorf("--format=%q: want idx, csv, libsvm, jsonl, tfrecord or parquet", c.Format)
	}
	if c.Input == "" {
		return fmt.Errorf("--input is required")
	}
	if c.ImageColumn != "" && c.Format != "parquet" && c.Format != "tfrecord" {
		return fmt.Errorf("--image-column is for parquet and tfrecord")
	}
	if len(c.ImageShape) > 0 && c.ImageColumn == "" {
		return fmt.Errorf("--image-shape needs --image-column")
	}
	if len(c.Fields) > 0 && (c.Format == "idx" || c.Format == "csv" || c.Format == "libsvm") {
		return fmt.Errorf("--features=%s: feature fields are for jsonl, tfrecord and parquet, not %s", strings.Join(c.Fields, ","), c.Format)
	}
	if c.Out == "" {
		return fmt.Errorf("--out is required")
	}
	if c.Shards < 1 || c.Shards > 1<<16 {
		return fmt.Errorf("--shards=%d: want 1..65536", c.Shards)
	}
	ok := c.Scale == "auto" && (c.Format == "tfrecord" || c.Format == "parquet")
	for _, m := range transforms.ScaleMethods {
		ok = ok || m == c.Scale
	}
	if !ok {
		return fmt.Errorf("--scale=%q: want one of %s", c.Scale, strings.Join(transforms.ScaleMethods, ", "))
	}
	if !(c.Validation >= 0 && c.Validation < 1) {
		return fmt.Errorf("--validation=%g: want a share in [0,1)", c.Validation)
	}
	if !(c.MaxRejectFraction >= 0 && c.MaxRejectFraction <= 1) {
		return fmt.Errorf("--max-reject-fraction=%g: want a share in [0,1]", c.MaxRejectFraction)
	}
	if c.BlockRows < 1 || c.ChunkBytes < 1 {
		return fmt.Errorf("block rows and chunk bytes must be positive")
	}
	if sum := c.Split[0] + c.Split[1] + c.Split[2]; math.Abs(sum-1) > 1e-9 {
		return fmt.Errorf("split fractions sum to %g, not 1", sum)
	}
	return nil
}

// Plan is what Run learns before building the pipeline: the parse tasks
// and the schema. Planning reads file listings, headers, and for CSV with
// categorical columns or LIBSVM without --features, one pass over the data.
type Plan struct {
	Tasks     []transforms.ParseTask
	Parse     transforms.ParseConfig
	Source    shardio.Source
	Schema    shardio.Schema
	Fractions transforms.Fractions
}

// Build adds the preprocess pipeline for plan to s: parse → split →
// analyze → scale → spill runs → shard → manifest.
func Build(s beam.Scope, cfg Config, plan *Plan) {
	if cfg.Scale == "auto" {
		cfg.Scale = "standard"
		if plan.Parse.CSV != nil && slices.ContainsFunc(plan.Parse.CSV.Columns, func(c formats.CSVColumn) bool { return c.Kind == formats.KindImage }) {
			cfg.Scale = "minmax"
		}
	}
	tasks := beam.Reshuffle(s, beam.CreateList(s, plan.Tasks))
	blocks, counts := transforms.Parse(s, tasks, plan.Parse)
	bySplit := transforms.SplitBlocks(s, blocks, plan.Fractions)
	stats := transforms.Analyze(s, bySplit, plan.Schema.Task == formats.Classification)
	scale := transforms.FitScaleTo(s, stats, cfg.Scale, plan.Schema.Sparse, transforms.NumSplits*cfg.Shards)
	shardCfg := transforms.ShardConfig{
		Dir: cfg.Out, Shards: cfg.Shards, Features: plan.Schema.Features, Sparse: plan.Schema.Sparse,
	}
	runs := transforms.SpillRuns(s, bySplit, shardCfg)
	shards := transforms.WriteShards(s, runs, scale, shardCfg)
	transforms.WriteManifest(s, shards, stats, counts, transforms.ManifestConfig{
		Dir: cfg.Out, Shards: cfg.Shards, MaxRejectFraction: cfg.MaxRejectFraction,
		Scale: cfg.Scale, Missing: cfg.CSV.Missing, Source: plan.Source, Schema: plan.Schema,
		CreatedBy: "lightbeam " + version.Version,
	})
}

// Prepare validates cfg and fills in its defaults.
func Prepare(cfg *Config) error {
	cfg.defaults()
	return cfg.validate()
}
