package preprocess

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"slices"

	"github.com/lightbeam-ml/lightbeam/data/formats"
	"github.com/lightbeam-ml/lightbeam/data/shardio"
	"github.com/lightbeam-ml/lightbeam/storage"
	"github.com/lightbeam-ml/lightbeam/transforms"
)

// fieldScanLines is how many records of the first file planning reads to
// find the fields of a record format and the lengths of array fields.
const fieldScanLines = 1000

// planJSONL finds the fields in the first file's first records, lays out
// the features (--features, or every field but the label), scans
// categorical fields' values when there are any, and cuts the files into
// chunks of lines as for CSV.
func planJSONL(ctx context.Context, cfg Config, plan *Plan) error {
	files, schema, err := scanRecordSchema(ctx, cfg, formats.ScanJSONLFields)
	if err != nil {
		return err
	}
	vocab := map[string]map[string]int64{}
	for _, path := range files {
		var gz bool
		err := readText(ctx, path, func(r io.Reader, isGz bool) error {
			gz = isGz
			if schema.Ready {
				return nil
			}
			v, err := formats.ScanJSONLCategories(r, storage.Base(path), schema)
			schema.MergeCategories(vocab, v)
			return err
		})
		if err != nil {
			return err
		}
		if err := addLineTasks(ctx, cfg, plan, path, 0, gz); err != nil {
			return err
		}
	}
	return setSchema(plan, schema, vocab)
}

// planTFRecord finds the features in the first file's first records, lays
// them out as planJSONL does (image features from their first image's
// header), counts categorical features' values over every file when there
// are any, and makes one task per file.
func planTFRecord(ctx context.Context, cfg Config, plan *Plan) error {
	files, schema, err := scanRecordSchema(ctx, cfg, formats.ScanTFRecordFields)
	if err != nil {
		return err
	}
	vocab := map[string]map[string]int64{}
	for _, path := range files {
		if !schema.Ready {
			err := readText(ctx, path, func(r io.Reader, _ bool) error {
				v, err := formats.ScanTFRecordCategories(r, storage.Base(path), schema)
				schema.MergeCategories(vocab, v)
				return err
			})
			if err != nil {
				return err
			}
		}
		info, err := storage.Stat(ctx, path) // the version the task reads
		if err != nil {
			return err
		}
		plan.Tasks = append(plan.Tasks, transforms.ParseTask{Path: path, Length: -1, Split: -1, Generation: info.Generation})
	}
	return setSchema(plan, schema, vocab)
}

// planParquet reads the footer of every file (ranged reads of the
// generation the tasks will read) and, for list, vector and image fields,
// the first row of the first file; lays the fields out as the other
// record formats do (counting categorical columns' values in every row
// group, reading only those columns); and makes one task per run of row groups of about
// cfg.ChunkBytes compressed bytes, so that a large file spreads over
// workers and no worker holds a whole file.
func planParquet(ctx context.Context, cfg Config, plan *Plan) error {
	files, err := expandInputs(ctx, cfg.Input)
	if err != nil {
		return err
	}
	label := cfg.CSV.Label
	if label == "" {
		label = "label"
	}
	var schema *formats.CSVSchema
	var classNames []string
	vocab := map[string]map[string]int64{}
	for _, path := range files {
		info, err := storage.Stat(ctx, path)
		if err != nil {
			return err
		}
		f, err := formats.OpenParquet(storage.NewReaderAt(ctx, path, info.Generation), info.Size)
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		pf, err := formats.ScanParquet(f, storage.Base(path), label)
		if err != nil {
			return err
		}
		if schema == nil {
			if schema, err = recordSchema(cfg, path, "in its schema", pf.Fields); err != nil {
				if len(pf.Unusable) > 0 {
					err = fmt.Errorf("%w (fields not read: %v)", err, pf.Unusable)
				}
				return err
			}
			classNames = pf.ClassNames
			schema.Sparse = sparseVector(schema, pf.Fields)
		} else {
			for _, c := range schema.Columns {
				if !slices.ContainsFunc(pf.Fields, func(f formats.RecordField) bool { return f.Name == c.Name }) {
					return fmt.Errorf("%s: no field %q, which %s has", path, c.Name, files[0])
				}
			}
		}
		if !schema.Ready {
			v, err := formats.ScanParquetCategories(f, storage.Base(path), schema)
			if err != nil {
				return err
			}
			schema.MergeCategories(vocab, v)
		}
		// Runs of row groups of about ChunkBytes.
		for i := 0; i < len(pf.RowGroups); {
			t := transforms.ParseTask{Path: path, Offset: pf.RowGroups[i].Offset, FirstLine: pf.RowGroups[i].FirstRow, Split: -1, Generation: info.Generation, RowGroup: i}
			for ; i < len(pf.RowGroups) && (t.RowGroups == 0 || t.Length+pf.RowGroups[i].Bytes <= cfg.ChunkBytes); i++ {
				t.RowGroups++
				t.Length += pf.RowGroups[i].Bytes
			}
			plan.Tasks = append(plan.Tasks, t)
		}
	}
	if err := setSchema(plan, schema, vocab); err != nil {
		return err
	}
	if len(classNames) > 0 && len(schema.Options.Classes) == 0 && schema.Options.Task == formats.Classification {
		// Hugging Face's ClassLabel: integer labels index its names.
		schema.Options.MaxClasses = len(classNames)
		plan.Schema.Classes, plan.Schema.ClassNames = len(classNames), classNames
	}
	return nil
}

// scanRecordSchema expands cfg.Input and lays out the features of a record
// format from the fields scanFields finds in the first file's first
// fieldScanLines records.
func scanRecordSchema(ctx context.Context, cfg Config, scanFields func(r io.Reader, name string, maxRecords int) ([]formats.RecordField, error)) ([]string, *formats.CSVSchema, error) {
	files, err := expandInputs(ctx, cfg.Input)
	if err != nil {
		return nil, nil, err
	}
	var found []formats.RecordField
	err = readText(ctx, files[0], func(r io.Reader, _ bool) error {
		found, err = scanFields(r, storage.Base(files[0]), fieldScanLines)
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	schema, err := recordSchema(cfg, files[0], fmt.Sprintf("in the first %d records", fieldScanLines), found)
	if err != nil {
		return nil, nil, err
	}
	return files, schema, nil
}

// setSchema sets the vocabulary counted in vocab when schema needs one,
// and makes schema the plan's.
func setSchema(plan *Plan, schema *formats.CSVSchema, vocab map[string]map[string]int64) error {
	if !schema.Ready {
		if err := schema.SetVocab(vocab); err != nil {
			return err
		}
	}
	plan.Parse.CSV = schema
	plan.Schema = shardio.Schema{
		Features: schema.Features, FeatureNames: schema.FeatureNames(), Sparse: schema.Sparse,
		Task: schema.Options.Task, Classes: len(schema.Options.Classes), ClassNames: schema.Options.Classes,
		Label: schema.LabelName(), Image: imageShape(schema),
	}
	return nil
}

// imageShape is the shape of the rows when their only feature is an
// image column, else nil.
func imageShape(schema *formats.CSVSchema) []int {
	var shape []int
	for _, c := range schema.Columns {
		switch {
		case c.Width == 0:
		case c.Kind != formats.KindImage || shape != nil:
			return nil
		default:
			shape = slices.Clone(c.Shape)
		}
	}
	return shape
}

// sparseVector reports whether the one feature of schema is a field whose
// first value is a sparse vector: then the rows stay sparse.
func sparseVector(schema *formats.CSVSchema, found []formats.RecordField) bool {
	var feature *formats.CSVColumn
	for i, c := range schema.Columns {
		if c.Kind == formats.KindLabel || c.Kind == formats.KindIgnored {
			continue
		}
		if feature != nil {
			return false
		}
		feature = &schema.Columns[i]
	}
	if feature == nil || feature.Kind != formats.KindVector {
		return false
	}
	i := slices.IndexFunc(found, func(f formats.RecordField) bool { return f.Name == feature.Name })
	return i >= 0 && found[i].Sparse
}

// recordSchema lays out the features of a record format from the fields
// found in its first records: the fields named by --features (each must
// have been seen) and the label, or every field found; array fields
// become vector columns.
func recordSchema(cfg Config, first, where string, found []formats.RecordField) (*formats.CSVSchema, error) {
	if cfg.ImageColumn != "" && len(cfg.Fields) == 0 {
		cfg.Fields = []string{cfg.ImageColumn}
	}
	widths, shapes := map[string]int{}, map[string][]int{}
	var names []string
	for _, f := range found {
		names = append(names, f.Name)
		if f.Width > 0 {
			widths[f.Name] = f.Width
		}
		if f.Shape != nil {
			shapes[f.Name] = f.Shape
		}
	}
	header := names
	opts := cfg.CSV
	if len(cfg.Fields) > 0 {
		if opts.Label == "" {
			opts.Label = "label"
		}
		header = nil
		for _, f := range append(slices.Clone(cfg.Fields), opts.Label) {
			if !slices.Contains(names, f) {
				return nil, fmt.Errorf("%s: no field %q %s (fields: %v)", first, f, where, names)
			}
			if slices.Contains(header, f) {
				return nil, fmt.Errorf("--features: field %q named twice, or also the label", f)
			}
			header = append(header, f)
		}
	}
	schema, err := formats.NewCSVSchema(header, opts)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", first, err)
	}
	for name := range widths {
		if !slices.Contains(header, name) {
			delete(widths, name)
		}
	}
	for name := range shapes {
		if !slices.Contains(header, name) || name == schema.LabelName() {
			delete(shapes, name)
		}
	}
	if err := schema.SetVectors(widths); err != nil {
		return nil, fmt.Errorf("%s: %w", first, err)
	}
	if len(cfg.ImageShape) > 0 {
		delete(shapes, cfg.ImageColumn)
	}
	if err := schema.SetImages(shapes); err != nil {
		return nil, fmt.Errorf("%s: %w", first, err)
	}
	if len(cfg.ImageShape) > 0 {
		if err := schema.SetRawImage(cfg.ImageColumn, cfg.ImageShape); err != nil {
			return nil, fmt.Errorf("--image-shape: %w", err)
		}
	}
	return schema, nil
}

// readText opens a file, gunzipping it when it is gzipped, and hands
// it to read with whether it was.
func readText(ctx context.Context, path string, read func(r io.Reader, gz bool) error) error {
	f, err := storage.Open(ctx, path)
	if err != nil {
		return err
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, 1<<16)
	magic, _ := br.Peek(2)
	gz := len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b
	r, err := formats.OpenMaybeGzip(br)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return read(r, gz) // its errors name the file
}
