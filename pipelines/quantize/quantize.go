// Package quantize is the checkpoint-quantization job: it turns a
// safetensors checkpoint of any size (one file, or a sharded checkpoint's
// index or directory; local or gs://) into one GGUF file of Q8_0, Q4_0 or
// Q4_K blocks, or a Hugging Face model directory into a GGUF llama.cpp
// runs, with no process holding the whole checkpoint or a whole large
// tensor.
//
//	headers (read by range) ─plan─▶ types, the GGUF header and every
//	  tensor's offset, and chunks: runs of a tensor's rows of at most
//	  --chunk-mb source bytes
//	chunks ─Reshuffle─▶ quantizeChunkFn: read the chunk's byte range,
//	  convert F16/BF16 to float32, encode (export/gguf on compress/quant),
//	  measure the error, write the bytes ─▶ per-chunk stats ─▶ one file
//	  of stats
//	  (a local output: written at the chunk's offset in OUT/.model.gguf.partial,
//	  a file of the output's size made with the header before the pipeline;
//	  elsewhere: the part object OUT/.parts/NNNNNN.part)
//	then, in the submitting process: the partial file renamed to
//	  OUT/model.gguf, or header + parts joined by object composition
//	  (storage.Concat), and report.json
//
// Model mode (Arch "" or "auto" and a checkpoint directory with
// config.json; model.go): the plan comes from package llm instead (llm.Open:
// llama.cpp's tensor names and order, its metadata from Model.KV, the
// types of Quant as a gguf.Preset, F32 where the converter keeps F32), a
// generated tensor's chunk carries its values, and a tensor whose Q/K rows
// llama.cpp permutes is cut into whole heads, each chunk reordering its
// rows (llm.Tensor.PermuteRows) before encoding. Raw mode (Arch "raw", or
// a file or index) keeps the checkpoint's names.
//
// With Format "lightbeam" (Quant int8) the output is OUT/model.lbc, a
// version 2 compress/artifact file laid out the same way: its prefix,
// then records whose sizes follow from the shapes (int8 rows, f32, raw
// bytes; a tensor's first chunk writes its record header), then a CRC-32C
// joined from the chunks' (crc32c.Combine), written last.
package quantize

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/x/beamx"
	"github.com/lightbeam-ml/lightbeam/compress/artifact"
	"github.com/lightbeam-ml/lightbeam/export/gguf"
	"github.com/lightbeam-ml/lightbeam/internal/crc32c"
	"github.com/lightbeam-ml/lightbeam/internal/localfile"
	"github.com/lightbeam-ml/lightbeam/internal/version"
	"github.com/lightbeam-ml/lightbeam/llm"
	"github.com/lightbeam-ml/lightbeam/storage"
)

// File names in Out.
const (
	GGUFFile   = "model.gguf"
	LBCFile    = "model.lbc" // --format=lightbeam: an artifact, version 2
	ReportFile = "report.json"
	partsDir   = ".parts"
)

// Quants are the recipe types a checkpoint can be quantized to as GGUF.
var Quants = []string{"q8_0", "q4_0", "q4_k"}

// Config is a checkpoint quantization.
type Config struct {
	Checkpoint string // Required. A .safetensors file, an index file, or a directory.
	Out        string // Required. The output directory.
	Quant      string // Required. q8_0, q4_0 or q4_k (gguf); int8 (lightbeam).
	Format     string // Optional. gguf (the default) or lightbeam.
	Quant1D    bool   // quantize 1-D float tensors too (they stay F32 otherwise)
	ChunkMB    int    // Optional. Source bytes per chunk, at most; defaults to 64.
	Overwrite  bool   // replace a finished output
	Runner     string // the Beam runner's name, for the report

	// Arch is how the checkpoint is read. Optional. "" or "auto": a
	// directory with config.json is a model (package llm): its tensors get
	// llama.cpp's names, Q/K rows permuted, the metadata llama.cpp needs,
	// and the types of Quant as a llama-quantize preset (gguf.Presets);
	// anything else is read as "raw": the checkpoint's own names.
	Arch string
	// TokenizerPre overrides tokenizer.ggml.pre (model mode). Optional.
	TokenizerPre string
	// Name is general.name (model mode). Optional; defaults to the
	// directory's name.
	Name string

	// Evaluate, if set, measures the output against the source (model
	// mode only) once the output is written and before the report is:
	// its JSON becomes report.json's "evaluation" and its text follows
	// the table. pipelines/llmeval.Compare makes one; the CLI and nightly
	// pass it, as this package does not depend on the evaluation.
	Evaluate func(ctx context.Context, source, output string) (json.RawMessage, string, error) `json:"-"`

	quant          gguf.Type
	preset         *gguf.Preset // model mode's
	testChunkBytes int64        // tests: chunks smaller than a MiB
}

// DefaultChunkMB is the default chunk size in MiB of source bytes.
const DefaultChunkMB = 64

func (c *Config) validate() error {
	if c.Checkpoint == "" {
		return fmt.Errorf("--checkpoint is required")
	}
	if c.Out == "" {
		return fmt.Errorf("--out is required")
	}
	if c.Format == "" {
		c.Format = "gguf"
	}
	q := strings.ToLower(c.Quant)
	switch c.Format {
	case "gguf":
		if q == "int8" {
			return fmt.Errorf("--quant=int8 --format=gguf: GGUF has no int8 type with one scale per row; use --format=lightbeam, or a GGUF type: %s", strings.Join(Quants, ", "))
		}
	case "lightbeam":
		if q != "int8" {
			return fmt.Errorf("--format=lightbeam --quant=%s: a checkpoint is written as a lightbeam artifact with --quant=int8 only (%s go to --format=gguf)", c.Quant, strings.Join(Quants, ", "))
		}
		if c.Quant1D {
			return fmt.Errorf("--format=lightbeam --quant-1d: int8 keeps one scale per row, which a 1-D tensor does not have; 1-D tensors stay f32")
		}
	default:
		return fmt.Errorf("--format=%s: a checkpoint is written as gguf or lightbeam", c.Format)
	}
	if c.Format == "lightbeam" {
		if c.ChunkMB == 0 {
			c.ChunkMB = DefaultChunkMB
		}
		if c.ChunkMB < 1 || c.ChunkMB > 1024 {
			return fmt.Errorf("--chunk-mb=%d: want 1 to 1024", c.ChunkMB)
		}
		return nil
	}
	ok := false
	for _, q := range Quants {
		ok = ok || q == strings.ToLower(c.Quant)
	}
	if !ok {
		return fmt.Errorf("--quant=%s: a checkpoint is quantized to one of %s", c.Quant, strings.Join(Quants, ", "))
	}
	c.quant, _ = gguf.ParseType(c.Quant)
	if c.ChunkMB == 0 {
		c.ChunkMB = DefaultChunkMB
	}
	if c.ChunkMB < 1 || c.ChunkMB > 1024 {
		return fmt.Errorf("--chunk-mb=%d: want 1 to 1024", c.ChunkMB)
	}
	return nil
}

func (c *Config) chunkBytes() int64 {
	if c.testChunkBytes > 0 {
		return c.testChunkBytes
	}
	return int64(c.ChunkMB) << 20
}

// TensorReport is one tensor's line of the report.
type TensorReport struct {
	Tensor
	Type     string   `json:"type"`
	BytesIn  int64    `json:"bytes_in"`
	BytesOut int64    `json:"bytes_out"`
	SQNRdB   *float64 `json:"sqnr_db"` // null when lossless
	MaxAbs   float64  `json:"max_abs_error"`

	stats ChunkStats // the sums behind SQNRdB, for Table
}

// Report is report.json.
type Report struct {
	Checkpoint string         `json:"checkpoint"`
	Files      []string       `json:"files"`
	Output     string         `json:"output"`
	Format     string         `json:"format"`
	Quant      string         `json:"quant"`
	Quant1D    bool           `json:"quant_1d"`
	Arch       string         `json:"arch,omitempty"` // model mode: llama.cpp's architecture
	Tensors    []TensorReport `json:"tensors"`
	Chunks     int            `json:"chunks"`
	BytesIn    int64          `json:"bytes_in"`
	BytesOut   int64          `json:"bytes_out"`
	Ratio      float64        `json:"ratio"`
	SQNRdB     *float64       `json:"sqnr_db"` // over every quantized value
	Seconds    float64        `json:"seconds"`
	// SecondsAssembly is the part of Seconds after the pipeline: the local
	// file's fsync and rename, or the composition of the parts.
	SecondsAssembly float64 `json:"seconds_assembly"`
	GBPerSecond     float64 `json:"gb_per_second"` // source bytes (1e9) per second
	PeakRSSBytes    int64   `json:"peak_rss_bytes"`
	PeakRSSNote     string  `json:"peak_rss_note"`
	Runner          string  `json:"runner"`
	Version         string  `json:"lightbeam_version"`
	// Evaluation is Config.Evaluate's measurement (pipelines/llmeval's
	// Report), when it was set.
	Evaluation json.RawMessage `json:"evaluation,omitempty"`

	evalText string // Evaluate's, for Table
}

// lightbeam reports whether the output is a lightbeam artifact.
func (c *Config) lightbeam() bool { return c.Format == "lightbeam" }

// outFile is the output's name in Out.
func (c *Config) outFile() string {
	if c.lightbeam() {
		return LBCFile
	}
	return GGUFFile
}

// Run quantizes c.Checkpoint into c.Out/model.gguf (or model.lbc) and
// writes the report. Progress goes to log.
func Run(ctx context.Context, c Config, log io.Writer) (*Report, error) {
	t0 := time.Now()
	asModel, err := c.modelMode(ctx)
	if err != nil {
		return nil, err
	}
	if asModel {
		err = c.validateModel()
	} else {
		err = c.validate()
	}
	if err != nil {
		return nil, err
	}
	if c.Evaluate != nil && !asModel {
		return nil, fmt.Errorf("%s is not a model directory (config.json): only a model's GGUF can be evaluated against its source", c.Checkpoint)
	}
	out := storage.Join(c.Out, c.outFile())
	reportPath := storage.Join(c.Out, ReportFile)
	if done, err := storage.Exists(ctx, reportPath); err != nil {
		return nil, err
	} else if done && !c.Overwrite {
		return nil, fmt.Errorf("%s holds a finished checkpoint quantization (pass --overwrite to replace it)", c.Out)
	}
	var p *Plan
	arch := ""
	if asModel {
		m, err := llm.Open(ctx, c.Checkpoint, llm.Options{Name: c.Name, TokenizerPre: c.TokenizerPre})
		if err != nil {
			return nil, err
		}
		arch = m.Arch
		if p, err = planModel(c, m, modelMeta(c, arch)); err != nil {
			return nil, err
		}
	} else {
		meta := []gguf.KV{
			{Key: "general.name", Value: checkpointName(c.Checkpoint)},
			{Key: "general.quantization_version", Value: uint32(2)},
			{Key: "general.alignment", Value: uint32(gguf.Alignment)},
			{Key: "lightbeam.source", Value: c.Checkpoint},
			{Key: "lightbeam.recipe", Value: recipeJSON(c, "")},
			{Key: "lightbeam.version", Value: versionString()},
		}
		if p, err = plan(ctx, c, meta); err != nil {
			return nil, err
		}
	}
	var in int64
	for _, t := range p.Tensors {
		in += t.End - t.Begin
	}
	what := "checkpoint"
	if arch != "" {
		what = "model (" + arch + ")"
	}
	fmt.Fprintf(log, "%s: %d tensors in %d files (%.2f GB), %d chunks, to %s\n", what, len(p.Tensors), len(p.Files), float64(in)/1e9, len(p.Chunks), strings.ToUpper(c.Quant))

	// A local output is one file at its full size from the start: the
	// chunks write at their offsets, and it is renamed into place when
	// complete. Elsewhere the chunks are part objects, joined after.
	parts := storage.Join(c.Out, partsDir)
	statsPath := storage.Join(parts, "stats.json")
	partial := ""
	if storage.IsLocal(out) {
		partial = storage.Join(c.Out, "."+c.outFile()+".partial")
		if err := createOutput(partial, p.Header, p.DataSize); err != nil {
			return nil, err
		}
	}
	pipe, s := beam.NewPipelineWithRoot()
	Build(s, p.Chunks, partial, parts, statsPath)
	if _, err := beamx.RunWithMetrics(ctx, pipe); err != nil {
		return nil, fmt.Errorf("checkpoint pipeline failed: %w", err)
	}
	raw, err := storage.ReadFile(ctx, statsPath)
	if err != nil {
		return nil, err
	}
	var stats []ChunkStats
	if err := json.Unmarshal(raw, &stats); err != nil {
		return nil, fmt.Errorf("%s: %w", statsPath, err)
	}
	if len(stats) != len(p.Chunks) {
		return nil, fmt.Errorf("checkpoint pipeline measured %d chunks, want %d", len(stats), len(p.Chunks))
	}

	tAssemble := time.Now()
	scratch := []string{statsPath}
	var trailer []byte // an artifact's CRC, joined from its chunks'
	if c.lightbeam() {
		crc := artifact.CRC(p.Header)
		for i, st := range stats {
			if st.Index != i || st.Bytes != p.Chunks[i].OutBytes {
				return nil, fmt.Errorf("checkpoint: chunk %d wrote %d bytes (stats of chunk %d), want %d", i, st.Bytes, st.Index, p.Chunks[i].OutBytes)
			}
			crc = crc32c.Combine(crc, st.CRC, st.Bytes)
		}
		trailer = binary.LittleEndian.AppendUint32(nil, crc)
	}
	if partial != "" {
		if trailer != nil {
			if err := writeAt(partial, trailer, int64(len(p.Header))+p.DataSize-int64(len(trailer))); err != nil {
				return nil, err
			}
		}
		if err := localfile.Commit(partial, out); err != nil {
			return nil, fmt.Errorf("checkpoint: %s: %w", out, err)
		}
	} else {
		headerPath := storage.Join(parts, "header")
		if err := storage.WriteBytes(ctx, headerPath, p.Header); err != nil {
			return nil, err
		}
		srcs := []string{headerPath}
		for _, ch := range p.Chunks {
			srcs = append(srcs, partPath(parts, ch.Index))
		}
		if trailer != nil {
			crcPath := storage.Join(parts, "crc")
			if err := storage.WriteBytes(ctx, crcPath, trailer); err != nil {
				return nil, err
			}
			srcs = append(srcs, crcPath)
		}
		if err := storage.Concat(ctx, out, srcs); err != nil {
			return nil, err
		}
		scratch = append(scratch, srcs...)
	}
	size, err := storage.Size(ctx, out)
	if err != nil {
		return nil, err
	}
	if want := int64(len(p.Header)) + p.DataSize; size != want {
		return nil, fmt.Errorf("%s has %d bytes after assembly, want %d", out, size, want)
	}
	for _, f := range scratch {
		_ = storage.Remove(ctx, f)
	}
	_ = storage.Remove(ctx, parts)

	rep := report(c, p, stats, out, size)
	rep.Arch = arch
	rep.Seconds = time.Since(t0).Seconds()
	rep.SecondsAssembly = time.Since(tAssemble).Seconds()
	rep.GBPerSecond = float64(rep.BytesIn) / 1e9 / rep.Seconds
	rep.PeakRSSBytes = peakRSS()
	rep.PeakRSSNote = "this process's peak resident set (VmHWM); on prism and direct the workers run in it, on a cluster they do not"
	if c.Evaluate != nil {
		if rep.Evaluation, rep.evalText, err = c.Evaluate(ctx, c.Checkpoint, out); err != nil {
			return nil, fmt.Errorf("evaluating %s against %s: %w", out, c.Checkpoint, err)
		}
	}
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := storage.WriteBytes(ctx, reportPath, append(b, '\n')); err != nil {
		return nil, err
	}
	return rep, nil
}

// recipeJSON is lightbeam.recipe: the options that chose the output
// (arch only in model mode).
func recipeJSON(c Config, arch string) string {
	r := map[string]any{"quant": strings.ToLower(c.Quant), "quant-1d": c.Quant1D, "format": c.Format}
	if arch != "" {
		r["arch"] = arch
	}
	b, _ := json.Marshal(r)
	return string(b)
}

func versionString() string { return version.Version }

// checkpointName is the name of the checkpoint at path: a file's base name
// without .safetensors, or the directory of an index or a directory.
func checkpointName(path string) string {
	p := strings.TrimSuffix(path, "/")
	if strings.HasSuffix(p, ".json") {
		p = storage.Dir(p)
	}
	return strings.TrimSuffix(storage.Base(p), ".safetensors")
}

// writeAt writes b at offset off of the local file path.
func writeAt(path string, b []byte, off int64) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	_, err = f.WriteAt(b, off)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("checkpoint: %s: %w", path, err)
	}
	return nil
}

// createOutput creates the local file path with header at its start and
// dataSize zero bytes after it, for the chunks to fill.
func createOutput(path string, header []byte, dataSize int64) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	_, err = f.Write(header)
	if err == nil {
		err = f.Truncate(int64(len(header)) + dataSize)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("checkpoint: %s: %w", path, err)
	}
	return nil
}

// report sums the chunks' stats per tensor and overall.
func report(c Config, p *Plan, stats []ChunkStats, out string, size int64) *Report {
	rep := &Report{Checkpoint: c.Checkpoint, Files: p.Files, Output: out, Format: c.Format,
		Quant: strings.ToLower(c.Quant), Quant1D: c.Quant1D, Chunks: len(p.Chunks), BytesOut: size,
		Runner: c.Runner, Version: version.Version}
	sort.Slice(stats, func(i, j int) bool { return stats[i].Index < stats[j].Index })
	per := make([]ChunkStats, len(p.Tensors))
	for _, s := range stats {
		per[s.Tensor].add(s)
	}
	var all ChunkStats
	for i, t := range p.Tensors {
		tr := TensorReport{Tensor: t, Type: t.typeName(), BytesIn: t.End - t.Begin, SQNRdB: per[i].sqnr(), MaxAbs: per[i].MaxAbs, stats: per[i]}
		tr.BytesOut, _ = gguf.TensorInfo{Name: t.Name, Shape: t.Shape, Type: t.Type}.Bytes()
		if c.lightbeam() {
			tr.BytesOut = t.Bytes
		}
		rep.Tensors = append(rep.Tensors, tr)
		rep.BytesIn += tr.BytesIn
		if per[i].Err2 > 0 {
			all.add(per[i])
		}
	}
	rep.SQNRdB = all.sqnr()
	rep.Ratio = float64(rep.BytesIn) / float64(size)
	return rep
}

// sqnr is 10·log10(Σx² / Σ(x−x̂)²), or nil when nothing was lost.
func (s ChunkStats) sqnr() *float64 {
	if s.Err2 == 0 {
		return nil
	}
	v := 10 * math.Log10(s.Sig2/s.Err2)
	return &v
}

func (s *ChunkStats) add(o ChunkStats) {
	s.Sig2 += o.Sig2
	s.Err2 += o.Err2
	s.MaxAbs = max(s.MaxAbs, o.MaxAbs)
	s.Values += o.Values
}

// peakRSS is this process's peak resident set size in bytes (Linux's
// VmHWM), or 0 where /proc does not say.
func peakRSS() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) == 3 && f[0] == "VmHWM:" {
			var kb int64
			fmt.Sscan(f[1], &kb)
			return kb << 10
		}
	}
	return 0
}

// workers is how many goroutines encode one chunk.
func workers() int { return runtime.GOMAXPROCS(0) }

// Table is the report for people: per output type the tensors, bytes and
// SQNR, then the totals.
func (r *Report) Table() string {
	type row struct {
		n       int
		in, out int64
		stats   ChunkStats
	}
	rows := map[string]*row{}
	var order []string
	for _, t := range r.Tensors {
		k := t.Type
		if rows[k] == nil {
			rows[k] = &row{}
			order = append(order, k)
		}
		rw := rows[k]
		rw.n++
		rw.in += t.BytesIn
		rw.out += t.BytesOut
		rw.stats.add(t.stats)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\n%-6s %8s %16s %16s %10s\n", "type", "tensors", "bytes in", "bytes out", "SQNR dB")
	for _, k := range order {
		rw := rows[k]
		fmt.Fprintf(&b, "%-6s %8d %16d %16d %10s\n", k, rw.n, rw.in, rw.out, dB(rw.stats.sqnr()))
	}
	fmt.Fprintf(&b, "%-6s %8d %16d %16d %10s   (%.2fx smaller)\n", "all", len(r.Tensors), r.BytesIn, r.BytesOut, dB(r.SQNRdB), r.Ratio)
	fmt.Fprintf(&b, "%s: %.1f s (%.1f s finishing the file), %.3f GB/s, peak RSS %d MB, %d chunks on %s\n", r.Output, r.Seconds, r.SecondsAssembly, r.GBPerSecond, r.PeakRSSBytes>>20, r.Chunks, r.Runner)
	b.WriteString(r.evalText)
	return b.String()
}

func dB(v *float64) string {
	if v == nil {
		return "lossless"
	}
	return fmt.Sprintf("%.2f", *v)
}
