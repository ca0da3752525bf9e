package transforms

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"

	"github.com/lightbeam-ml/lightbeam/data/formats"
	"github.com/lightbeam-ml/lightbeam/data/rows"
	"github.com/lightbeam-ml/lightbeam/storage"
)

// ParseTask is one unit of parsing: a whole source, or a chunk of lines of
// one (CSV and LIBSVM files are cut into chunks so both cores parse).
type ParseTask struct {
	Path       string // the source (local or gs://)
	LabelsPath string // IDX only: the labels file paired with Path
	Offset     int64  // first byte of the chunk
	Length     int64  // bytes in the chunk; -1 reads to the end
	FirstLine  int64  // 1-based line number of the chunk's first line (a CSV task at offset 0 starts with the header)
	Split      int    // the source's fixed split, or -1 to split by hash
	// Generation is the source's version when the task was planned
	// (storage.Stat; 0: not pinned): a CSV or LIBSVM task reads that
	// version or fails (storage.ErrChanged), so a file replaced during the
	// job never gives rows of two versions.
	Generation int64
	// RowGroup and RowGroups are a Parquet task's row groups [RowGroup,
	// RowGroup+RowGroups); FirstLine is then the 0-based index of the
	// first one's first row, Offset its byte offset, Length their bytes.
	RowGroup, RowGroups int
}

// ParseConfig configures Parse.
type ParseConfig struct {
	Format     string             // Required. "idx", "csv", "libsvm", "jsonl", "tfrecord" or "parquet".
	Dir        string             // Required. Output directory: rejects go to Dir/rejects/.
	BlockRows  int                // Required. Rows per block.
	NumClasses int                // IDX: labels ≥ this are rejected.
	CSV        *formats.CSVSchema // csv, and the field layout of jsonl, tfrecord and parquet
	LIBSVM     *LIBSVMConfig
}

// LIBSVMConfig is what parsing LIBSVM needs beyond the file.
type LIBSVMConfig struct {
	Features int
	Options  formats.LIBSVMOptions
}

// Parse reads every task of a PCollection<ParseTask> and returns
// PCollection<KV<int, rows.Block>> keyed by the task's fixed split (-1 for
// none; see SplitBlocks) and PCollection<ParseCount>. Rejected records are
// written to Dir/rejects/ as JSON lines naming file, record and reason,
// and counted; a file that cannot be read at all (corrupt gzip, an IDX
// header that disagrees with the file) fails the job with an error naming
// it.
func Parse(s beam.Scope, tasks beam.PCollection, cfg ParseConfig) (blocks, counts beam.PCollection) {
	s = s.Scope("transforms.Parse")
	fn := &parseFn{Format: cfg.Format, Dir: cfg.Dir, BlockRows: cfg.BlockRows, NumClasses: cfg.NumClasses, LIBSVM: cfg.LIBSVM}
	if cfg.CSV != nil {
		b, err := json.Marshal(cfg.CSV)
		if err != nil {
			panic(fmt.Sprintf("transforms.Parse: encoding the CSV schema: %v", err))
		}
		fn.CSVSchema = string(b)
	}
	return beam.ParDo2(s, fn, tasks)
}

type parseFn struct {
	Format     string
	Dir        string
	BlockRows  int
	NumClasses int
	CSVSchema  string // JSON of a formats.CSVSchema
	LIBSVM     *LIBSVMConfig

	csv *formats.CSVSchema
}

func (fn *parseFn) Setup() error {
	if fn.CSVSchema != "" {
		fn.csv = new(formats.CSVSchema)
		if err := json.Unmarshal([]byte(fn.CSVSchema), fn.csv); err != nil {
			return fmt.Errorf("transforms.Parse: decoding the CSV schema: %w", err)
		}
	}
	return nil
}

func (fn *parseFn) ProcessElement(ctx context.Context, t ParseTask, emitBlock func(int, rows.Block), emitCount func(ParseCount)) error {
	name := storage.Base(t.Path)
	var rejects []formats.Reject
	reject := func(r formats.Reject) { rejects = append(rejects, r) }
	emit := func(b *rows.Block) error {
		emitBlock(t.Split, *b)
		return nil
	}
	count := ParseCount{Source: t.Path, Offset: t.Offset}
	var err error
	switch fn.Format {
	case "idx":
		count.Rows, count.Bytes, err = fn.parseIDX(ctx, t, emit, reject)
	case "csv", "libsvm", "jsonl":
		count.Rows, count.Bytes, err = fn.parseLines(ctx, t, emit, reject)
	case "tfrecord":
		count.Rows, count.Bytes, err = fn.parseTFRecord(ctx, t, emit, reject)
	case "parquet":
		count.Rows, count.Bytes, err = fn.parseParquet(ctx, t, emit, reject)
	default:
		err = fmt.Errorf("unknown format %q", fn.Format)
	}
	if err != nil {
		return fmt.Errorf("transforms.Parse: %s: %w", t.Path, err)
	}
	count.Rejected = int64(len(rejects))
	if len(rejects) > 0 {
		count.RejectFile = fmt.Sprintf("rejects/%s-%d.jsonl", name, t.Offset)
		if err := writeRejects(ctx, storage.Join(fn.Dir, count.RejectFile), rejects); err != nil {
			return fmt.Errorf("transforms.Parse: %w", err)
		}
	}
	emitCount(count)
	return nil
}

// parseIDX parses an IDX image file and its labels; bytes counts both
// files as stored.
func (fn *parseFn) parseIDX(ctx context.Context, t ParseTask, emit formats.Emit, reject func(formats.Reject)) (n, bytes int64, err error) {
	images, imagesSize, err := openSource(ctx, t.Path)
	if err != nil {
		return 0, 0, err
	}
	defer images.Close()
	labels, labelsSize, err := openSource(ctx, t.LabelsPath)
	if err != nil {
		return 0, 0, err
	}
	defer labels.Close()
	ir, err := formats.OpenMaybeGzip(images)
	if err != nil {
		return 0, 0, fmt.Errorf("%s: %w", t.Path, err)
	}
	lr, err := formats.OpenMaybeGzip(labels)
	if err != nil {
		return 0, 0, fmt.Errorf("%s: %w", t.LabelsPath, err)
	}
	// Sizes are known only for uncompressed files.
	isz, lsz := int64(-1), int64(-1)
	if _, gz := ir.(interface{ Multistream(bool) }); !gz {
		isz = imagesSize
	}
	if _, gz := lr.(interface{ Multistream(bool) }); !gz {
		lsz = labelsSize
	}
	n, err = formats.ParseIDX(ir, lr, storage.Base(t.Path), storage.Base(t.LabelsPath), isz, lsz, fn.NumClasses, fn.BlockRows, emit, reject)
	return n, imagesSize + labelsSize, err
}

// parseLines parses a chunk of a CSV, LIBSVM or JSON Lines file (a gzipped file is
// always one chunk); bytes counts the chunk as stored.
func (fn *parseFn) parseLines(ctx context.Context, t ParseTask, emit formats.Emit, reject func(formats.Reject)) (n, bytes int64, err error) {
	f, err := storage.OpenRangeAt(ctx, t.Path, t.Generation, t.Offset, t.Length)
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	counted := &storage.CountingReader{R: f}
	r := io.Reader(counted)
	if t.Offset == 0 {
		if r, err = formats.OpenMaybeGzip(counted); err != nil {
			return 0, 0, err
		}
	}
	name := storage.Base(t.Path)
	firstLine := t.FirstLine
	if fn.Format == "csv" {
		if t.Offset == 0 { // the header, checked against the plan's
			firstLine++ // the header is line FirstLine; data starts after it
			br := bufio.NewReaderSize(r, 1<<16)
			header, _, err := formats.ReadCSVHeader(br, fn.csv.Options.Comma)
			if err != nil {
				return 0, 0, err
			}
			if err := fn.checkHeader(header); err != nil {
				return 0, 0, err
			}
			r = br
		}
		n, err = formats.ParseCSV(r, name, firstLine, fn.csv, fn.BlockRows, emit, reject)
	} else if fn.Format == "jsonl" {
		n, err = formats.ParseJSONL(r, name, firstLine, fn.csv, fn.BlockRows, emit, reject)
	} else {
		n, err = formats.ParseLIBSVM(r, name, firstLine, fn.LIBSVM.Features, fn.LIBSVM.Options, fn.BlockRows, emit, reject)
	}
	return n, counted.N, err
}

// parseTFRecord parses a whole TFRecord file, gzipped or not; bytes counts
// the file as stored.
func (fn *parseFn) parseTFRecord(ctx context.Context, t ParseTask, emit formats.Emit, reject func(formats.Reject)) (n, bytes int64, err error) {
	f, err := storage.OpenRangeAt(ctx, t.Path, t.Generation, 0, -1)
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	counted := &storage.CountingReader{R: f}
	r, err := formats.OpenMaybeGzip(counted)
	if err != nil {
		return 0, 0, err
	}
	n, err = formats.ParseTFRecord(r, storage.Base(t.Path), fn.csv, fn.BlockRows, emit, reject)
	return n, counted.N, err
}

// parseParquet parses a task's row groups of a Parquet file, reading its
// footer and the projected column chunks with ranged reads of the planned
// generation; bytes counts what was read.
func (fn *parseFn) parseParquet(ctx context.Context, t ParseTask, emit formats.Emit, reject func(formats.Reject)) (n, bytes int64, err error) {
	info, err := storage.Stat(ctx, t.Path)
	if err != nil {
		return 0, 0, err
	}
	if t.Generation != 0 && info.Generation != t.Generation {
		return 0, 0, fmt.Errorf("%w: %s was replaced after planning", storage.ErrChanged, t.Path)
	}
	ra := storage.NewReaderAt(ctx, t.Path, t.Generation)
	f, err := formats.OpenParquet(ra, info.Size)
	if err != nil {
		return 0, 0, err
	}
	n, err = formats.ParseParquet(f, t.RowGroup, t.RowGroups, t.FirstLine, storage.Base(t.Path), fn.csv, fn.BlockRows, emit, reject)
	return n, ra.N.Load(), err
}

// checkHeader insists that every CSV file has the columns the schema was
// planned from.
func (fn *parseFn) checkHeader(header []string) error {
	cols := fn.csv.Columns
	if len(header) != len(cols) {
		return fmt.Errorf("header has %d columns, but the first file's has %d", len(header), len(cols))
	}
	for i, h := range header {
		if h != cols[i].Name {
			return fmt.Errorf("header column %d is %q, but the first file's is %q", i, h, cols[i].Name)
		}
	}
	return nil
}

// openSource opens path and returns its size as stored.
func openSource(ctx context.Context, path string) (io.ReadCloser, int64, error) {
	size, err := storage.Size(ctx, path)
	if err != nil {
		return nil, 0, err
	}
	r, err := storage.Open(ctx, path)
	return r, size, err
}

// writeRejects writes one JSON object per line: {"file","record","reason"}.
func writeRejects(ctx context.Context, path string, rejects []formats.Reject) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	for _, r := range rejects {
		if err := enc.Encode(struct {
			File   string `json:"file"`
			Record int64  `json:"record"`
			Reason string `json:"reason"`
		}{r.File, r.Record, r.Reason}); err != nil {
			return err
		}
	}
	return storage.WriteBytes(ctx, path, buf.Bytes())
}

func init() {
	register.DoFn4x1[context.Context, ParseTask, func(int, rows.Block), func(ParseCount), error](&parseFn{})
	register.Emitter1[ParseCount]()
}
