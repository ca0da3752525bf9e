package preprocess

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/lightbeam-ml/lightbeam/data/formats"
	"github.com/lightbeam-ml/lightbeam/data/shardio"
	"github.com/lightbeam-ml/lightbeam/storage"
	"github.com/lightbeam-ml/lightbeam/transforms"
)

// MakePlan lists the inputs and reads what the pipeline needs to know
// before it starts: the number of features and the parse tasks.
func MakePlan(ctx context.Context, cfg Config) (*Plan, error) {
	plan := &Plan{
		Parse:     transforms.ParseConfig{Format: cfg.Format, Dir: cfg.Out, BlockRows: cfg.BlockRows, NumClasses: cfg.Classes},
		Source:    shardio.Source{Format: cfg.Format},
		Fractions: cfg.Split,
	}
	var err error
	switch cfg.Format {
	case "idx":
		err = planIDX(ctx, cfg, plan)
	case "csv":
		err = planCSV(ctx, cfg, plan)
	case "libsvm":
		err = planLIBSVM(ctx, cfg, plan)
	case "jsonl":
		err = planJSONL(ctx, cfg, plan)
	case "tfrecord":
		err = planTFRecord(ctx, cfg, plan)
	case "parquet":
		err = planParquet(ctx, cfg, plan)
	}
	if err != nil {
		return nil, err
	}
	// Record identities and reject file names use a source's base name
	// (so that a local and a gs:// copy give the same split): two sources
	// with one base name would collide.
	bases := map[string]string{}
	for _, t := range plan.Tasks {
		b := storage.Base(t.Path)
		if other, ok := bases[b]; ok && other != t.Path {
			return nil, fmt.Errorf("inputs %s and %s have the same base name %q: record identities (and reject files) would collide; rename one", other, t.Path, b)
		}
		bases[b] = t.Path
	}
	seen := map[string]bool{}
	for _, t := range plan.Tasks {
		for _, p := range []string{t.Path, t.LabelsPath} {
			if p != "" && !seen[p] {
				seen[p] = true
				plan.Source.Inputs = append(plan.Source.Inputs, p)
			}
		}
	}
	return plan, nil
}

func planIDX(ctx context.Context, cfg Config, plan *Plan) error {
	plan.Fractions = transforms.Fractions{1 - cfg.Validation, cfg.Validation, 0}
	var train, test [][2]string
	if !strings.Contains(cfg.Input, ",") {
		names, err := storage.List(ctx, storage.Join(cfg.Input, "*"))
		if err != nil {
			return fmt.Errorf("--input=%s: %w", cfg.Input, err)
		}
		ti, tl, vi, vl, err := formats.FindMNIST(names)
		if err != nil {
			return fmt.Errorf("--input=%s: %w", cfg.Input, err)
		}
		train, test = [][2]string{{ti, tl}}, [][2]string{{vi, vl}}
	} else {
		var err error
		if train, err = parsePairs(cfg.Input); err != nil {
			return fmt.Errorf("--input: %w", err)
		}
	}
	if cfg.TestInput != "" {
		var err error
		if test, err = parsePairs(cfg.TestInput); err != nil {
			return fmt.Errorf("--test-input: %w", err)
		}
	}
	var shape []int
	add := func(pairs [][2]string, split int) error {
		for _, p := range pairs {
			h, w, err := idxShape(ctx, p[0])
			if err != nil {
				return err
			}
			if shape != nil && (h != shape[0] || w != shape[1]) {
				return fmt.Errorf("%s: images of %d×%d pixels, but %s has %d×%d", p[0], h, w, plan.Tasks[0].Path, shape[0], shape[1])
			}
			shape = []int{h, w, 1}
			plan.Tasks = append(plan.Tasks, transforms.ParseTask{Path: p[0], LabelsPath: p[1], Length: -1, Split: split})
		}
		return nil
	}
	if err := add(train, -1); err != nil {
		return err
	}
	if err := add(test, transforms.Test); err != nil {
		return err
	}
	if shape == nil {
		return fmt.Errorf("--input: no IDX image files")
	}
	names := make([]string, cfg.Classes)
	for i := range names {
		names[i] = fmt.Sprint(i)
	}
	plan.Schema = shardio.Schema{Features: shape[0] * shape[1], Task: formats.Classification, Classes: cfg.Classes, ClassNames: names, Label: "label", Image: shape}
	return nil
}

// parsePairs reads "IMAGES,LABELS;IMAGES,LABELS".
func parsePairs(spec string) ([][2]string, error) {
	var out [][2]string
	for _, p := range strings.Split(spec, ";") {
		img, lbl, ok := strings.Cut(strings.TrimSpace(p), ",")
		if !ok || img == "" || lbl == "" {
			return nil, fmt.Errorf("%q: want IMAGES,LABELS", p)
		}
		out = append(out, [2]string{img, lbl})
	}
	return out, nil
}

// idxShape reads the header of an IDX image file: its images' rows and
// columns.
func idxShape(ctx context.Context, path string) (height, width int, err error) {
	f, err := storage.Open(ctx, path)
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	r, err := formats.OpenMaybeGzip(f)
	if err != nil {
		return 0, 0, fmt.Errorf("%s: %w", path, err)
	}
	var h [16]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return 0, 0, fmt.Errorf("%s: reading the IDX header: %w", path, err)
	}
	rows, cols := binary.BigEndian.Uint32(h[8:]), binary.BigEndian.Uint32(h[12:])
	if rows == 0 || cols == 0 || uint64(rows)*uint64(cols) > 1<<24 {
		return 0, 0, fmt.Errorf("%s: IDX header gives images of %d×%d pixels", path, rows, cols)
	}
	return int(rows), int(cols), nil
}

// expandInputs turns a comma-separated list of files and globs into a
// sorted list of files.
func expandInputs(ctx context.Context, spec string) ([]string, error) {
	var out []string
	for _, p := range strings.Split(spec, ",") {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		if !strings.ContainsAny(p, "*?[") {
			out = append(out, p)
			continue
		}
		m, err := storage.List(ctx, p)
		if err != nil {
			return nil, fmt.Errorf("--input %s: %w", p, err)
		}
		if len(m) == 0 {
			return nil, fmt.Errorf("--input %s: no file matches", p)
		}
		sort.Strings(m)
		out = append(out, m...)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("--input names no file")
	}
	return out, nil
}

// planCSV reads the header of every file (they must agree), scans the
// categorical columns' values when there are any, and cuts uncompressed
// files into chunks of whole lines.
func planCSV(ctx context.Context, cfg Config, plan *Plan) error {
	files, err := expandInputs(ctx, cfg.Input)
	if err != nil {
		return err
	}
	var schema *formats.CSVSchema
	vocab := map[string]map[string]int64{}
	for _, path := range files {
		header, headerLen, gz, err := readHeader(ctx, path, cfg.CSV.Comma)
		if err != nil {
			return err
		}
		if schema == nil {
			if schema, err = formats.NewCSVSchema(header, cfg.CSV); err != nil {
				return fmt.Errorf("%s: %w", path, err)
			}
		} else if err := sameHeader(schema, header); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		if !schema.Ready {
			if err := scanCategories(ctx, path, schema, vocab); err != nil {
				return err
			}
		}
		if err := addLineTasks(ctx, cfg, plan, path, headerLen, gz); err != nil {
			return err
		}
	}
	// NewCSVSchema leaves Sparse false: the plan's rows are dense.
	return setSchema(plan, schema, vocab)
}

func sameHeader(schema *formats.CSVSchema, header []string) error {
	if len(header) != len(schema.Columns) {
		return fmt.Errorf("header has %d columns, the first file's has %d", len(header), len(schema.Columns))
	}
	for i, h := range header {
		if h != schema.Columns[i].Name {
			return fmt.Errorf("header column %d is %q, the first file's is %q", i, h, schema.Columns[i].Name)
		}
	}
	return nil
}

// readHeader returns a CSV file's header, its length in bytes, and whether
// the file is gzipped (and so cannot be cut into chunks).
func readHeader(ctx context.Context, path string, comma rune) ([]string, int64, bool, error) {
	f, err := storage.Open(ctx, path)
	if err != nil {
		return nil, 0, false, err
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, 1<<16)
	magic, _ := br.Peek(2)
	gz := len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b
	r := io.Reader(br)
	if gz {
		if r, err = formats.OpenMaybeGzip(br); err != nil {
			return nil, 0, false, fmt.Errorf("%s: %w", path, err)
		}
	}
	header, n, err := formats.ReadCSVHeader(bufio.NewReader(r), comma)
	if err != nil {
		return nil, 0, false, fmt.Errorf("%s: %w", path, err)
	}
	return header, n, gz, nil
}

func scanCategories(ctx context.Context, path string, schema *formats.CSVSchema, into map[string]map[string]int64) error {
	f, err := storage.Open(ctx, path)
	if err != nil {
		return err
	}
	defer f.Close()
	r, err := formats.OpenMaybeGzip(f)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	br := bufio.NewReaderSize(r, 1<<16)
	if _, _, err := formats.ReadCSVHeader(br, schema.Options.Comma); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	v, err := formats.ScanCategories(br, storage.Base(path), schema)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	schema.MergeCategories(into, v)
	return nil
}

// addLineTasks adds the parse tasks of one line-oriented file: chunks of
// about cfg.ChunkBytes for an uncompressed local file, else the whole file
// (start is where data begins: after the CSV header, or 0).
func addLineTasks(ctx context.Context, cfg Config, plan *Plan, path string, start int64, gz bool) error {
	info, err := storage.Stat(ctx, path) // the version the chunks are cut from
	if err != nil {
		return err
	}
	whole := transforms.ParseTask{Path: path, Length: -1, FirstLine: 1, Split: -1, Generation: info.Generation}
	if gz || !storage.IsLocal(path) {
		plan.Tasks = append(plan.Tasks, whole)
		return nil
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	chunks, err := formats.ChunkLines(f, st.Size(), start, cfg.ChunkBytes)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	for _, c := range chunks {
		plan.Tasks = append(plan.Tasks, transforms.ParseTask{Path: path, Offset: c.Offset, Length: c.Length, FirstLine: c.FirstLine, Split: -1, Generation: info.Generation})
	}
	return nil
}

// planLIBSVM finds the number of features (scanning the data unless
// --features is given) and cuts the files into chunks.
func planLIBSVM(ctx context.Context, cfg Config, plan *Plan) error {
	files, err := expandInputs(ctx, cfg.Input)
	if err != nil {
		return err
	}
	features := cfg.Features
	for _, path := range files {
		f, err := storage.Open(ctx, path)
		if err != nil {
			return err
		}
		br := bufio.NewReaderSize(f, 1<<16)
		magic, _ := br.Peek(2)
		gz := len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b
		if cfg.Features == 0 {
			r, err := formats.OpenMaybeGzip(br)
			if err == nil {
				var maxIndex int
				if maxIndex, err = formats.ScanLIBSVM(r, storage.Base(path)); err == nil {
					if cfg.LIBSVM.ZeroBased {
						maxIndex++
					}
					features = max(features, maxIndex)
				}
			}
			if err != nil {
				f.Close()
				return fmt.Errorf("%s: %w", path, err)
			}
		}
		f.Close()
		if err := addLineTasks(ctx, cfg, plan, path, 0, gz); err != nil {
			return err
		}
	}
	if features <= 0 {
		return fmt.Errorf("--input=%s: no feature index found in the data (give --features)", cfg.Input)
	}
	plan.Parse.LIBSVM = &transforms.LIBSVMConfig{Features: features, Options: cfg.LIBSVM}
	task := cfg.LIBSVM.Task
	if task == "" {
		task = formats.Classification
	}
	classes := 0 // counted from the data's labels
	if cfg.LIBSVM.Binary {
		classes = 2
	}
	plan.Schema = shardio.Schema{Features: features, Sparse: true, Task: task, Classes: classes, Label: "label"}
	return nil
}
