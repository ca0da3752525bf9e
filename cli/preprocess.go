package cli

import (
	"context"
	"flag"
	"fmt"
	"os"
	"runtime/debug"
	"strconv"
	"strings"

	"github.com/lightbeam-ml/lightbeam/pipelines/preprocess"
	"github.com/lightbeam-ml/lightbeam/transforms"
)

var preprocessCmd = &command{
	name:    "preprocess",
	summary: "read raw data (idx, csv, libsvm, jsonl, tfrecord, parquet), validate, scale, split and write shards + manifest",
	flags: func(fs *flag.FlagSet) func(context.Context) error {
		var cfg preprocess.Config
		var split, categorical, classes, features, imageShape string
		fs.StringVar(&cfg.Format, "format", "", "input format: idx, csv, libsvm, jsonl (JSON Lines), tfrecord (tf.Example records, gzipped or not) or parquet (required)")
		fs.StringVar(&cfg.Input, "input", "", "input: for idx (default: the bundled MNIST) a directory with the four MNIST files or IMAGES,LABELS[;IMAGES,LABELS]; for the others files or globs, comma-separated (local, gs:// or hdfs://)")
		fs.StringVar(&cfg.TestInput, "test-input", "", "idx: IMAGES,LABELS pairs for the test split (a directory input takes t10k-*)")
		fs.StringVar(&cfg.Out, "out", "", "output directory, local or gs:// (required)")
		fs.IntVar(&cfg.Shards, "shards", 4, "shard files per split")
		fs.StringVar(&cfg.Scale, "scale", "auto", "feature scaling fitted on the train split: standard, minmax, none, or auto (minmax for idx, and for tfrecord/parquet with image features; standard otherwise)")
		fs.StringVar(&split, "split", "train:0.8,validation:0.1,test:0.1", "csv/libsvm/jsonl/tfrecord/parquet: shares of the splits, by a hash of each record's identity")
		fs.Float64Var(&cfg.Validation, "validation", 0.1, "idx: share of the training files carved out for validation (t10k is the test split)")
		fs.Float64Var(&cfg.MaxRejectFraction, "max-reject-fraction", 0.01, "fail when more than this share of records is rejected")
		fs.IntVar(&cfg.BlockRows, "block-rows", 4096, "rows per block")
		fs.BoolVar(&cfg.Overwrite, "overwrite", false, "replace a finished output in --out")
		fs.StringVar(&cfg.CSV.Label, "label", "", "csv/jsonl/tfrecord/parquet: the label column or field, by name (csv also by 0-based index; default: the one named label, else the last)")
		fs.StringVar(&categorical, "categorical", "", "csv/jsonl/tfrecord/parquet: comma-separated categorical columns or fields (one-hot up to --max-one-hot values, hashed beyond)")
		fs.IntVar(&cfg.CSV.MaxOneHot, "max-one-hot", 32, "csv/jsonl/tfrecord/parquet: largest cardinality one-hot encoded")
		fs.StringVar(&cfg.CSV.Missing, "missing", "reject", "csv/jsonl/tfrecord/parquet: empty, null or absent values: reject the record, zero, or mean (the training mean)")
		fs.StringVar(&classes, "classes", "", "csv/libsvm/jsonl/tfrecord/parquet: comma-separated class names (labels must be one of them)")
		fs.StringVar(&cfg.CSV.Task, "task", "classification", "classification or regression (labels are any number)")
		fs.StringVar(&features, "features", "", "libsvm: number of features (default: scan the input for the largest index); jsonl/tfrecord/parquet: comma-separated feature fields (default: every field but the label)")
		fs.StringVar(&cfg.ImageColumn, "image-column", "", "parquet/tfrecord: the image field (PNG/JPEG bytes, in parquet also a {bytes, path} struct), the only feature unless --features names more")
		fs.StringVar(&imageShape, "image-shape", "", "parquet/tfrecord: HxWxC (or HxW, one channel): --image-column's bytes are raw uint8 pixels of that shape")
		return func(ctx context.Context) error {
			// Rows in flight are short-lived garbage: with Go's default
			// GOGC=100 a 1 GB Parquet file peaked at 473-722 MiB on a quiet
			// machine, at GOGC=50 at 362 MiB twice, no slower
			// (docs/BENCHMARKS.md). A GOGC in the environment wins.
			if os.Getenv("GOGC") == "" {
				debug.SetGCPercent(50)
			}
			f, err := transforms.ParseFractions(split)
			if err != nil {
				return fmt.Errorf("--split: %w", err)
			}
			cfg.Split = f
			if cfg.Format == "idx" && cfg.Input == "" {
				if cfg.Input, err = bundledMNIST(); err != nil {
					return err
				}
			}
			if features != "" {
				if cfg.Format == "libsvm" {
					if cfg.Features, err = strconv.Atoi(features); err != nil || cfg.Features < 1 {
						return fmt.Errorf("--features=%s: libsvm wants a positive number of features", features)
					}
				} else {
					cfg.Fields = strings.Split(features, ",")
				}
			}
			if imageShape != "" {
				if cfg.ImageShape, err = parseShape(imageShape); err != nil {
					return fmt.Errorf("--image-shape=%s: %w", imageShape, err)
				}
			}
			if categorical != "" {
				cfg.CSV.Categorical = strings.Split(categorical, ",")
			}
			if classes != "" {
				cfg.CSV.Classes = strings.Split(classes, ",")
			}
			cfg.LIBSVM.Task = cfg.CSV.Task
			// An explicit 0 means none; in Config, 0 means the default.
			if cfg.Validation == 0 {
				cfg.Validation = preprocess.None
			}
			if cfg.MaxRejectFraction == 0 {
				cfg.MaxRejectFraction = preprocess.None
			}
			if err := workersSee(ctx, append(splitPaths(cfg.Input), splitPaths(cfg.TestInput)...), []string{cfg.Out}); err != nil {
				return err
			}
			release, err := lockOut(ctx, "preprocess", cfg.Out)
			if err != nil {
				return err
			}
			defer release()
			rep, err := preprocess.Run(ctx, cfg)
			if err != nil {
				return err
			}
			fmt.Println(rep.Summary())
			return nil
		}
	},
}

// parseShape reads "HxWxC" or "HxW" (one channel).
func parseShape(s string) ([]int, error) {
	parts := strings.Split(s, "x")
	if len(parts) == 2 {
		parts = append(parts, "1")
	}
	if len(parts) != 3 {
		return nil, fmt.Errorf("want HxWxC or HxW")
	}
	shape := make([]int, 3)
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 {
			return nil, fmt.Errorf("%q is not a positive size", p)
		}
		shape[i] = n
	}
	return shape, nil
}
