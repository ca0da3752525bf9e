package quantize

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"sync"
	"unsafe"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"

	"github.com/lightbeam-ml/lightbeam/compress/artifact"
	"github.com/lightbeam-ml/lightbeam/compress/quant"
	"github.com/lightbeam-ml/lightbeam/export/gguf"
	"github.com/lightbeam-ml/lightbeam/llm"
	"github.com/lightbeam-ml/lightbeam/model"
	"github.com/lightbeam-ml/lightbeam/storage"
)

// Chunk is one element of the pipeline: a run of one tensor's values, by
// its byte range in the source file, and what to write for it.
type Chunk struct {
	Index      int    // in output order; names the part file
	Tensor     int    // the tensor's index in the plan
	Name       string // the tensor's, for errors
	File       string
	Gen        int64 // File's generation when planned: the chunk reads that version or fails
	DType      string
	Begin, End int64  // source byte range
	First      int64  // the index of its first value in the tensor
	Type       uint32 // gguf.Type of the output
	OutBytes   int64  // encoded bytes, without Pad
	At         int64  // the bytes' offset in the output file
	Pad        int64  // zero bytes after them (the tensor's last chunk)

	// For --format=lightbeam, instead of Type and Pad: the artifact kind
	// of the record, its values per row (Int8), and the record's header,
	// which the tensor's first chunk writes before its values (OutBytes
	// counts it).
	Kind   string
	Cols   int64
	Prefix []byte

	// Model mode: rows to permute (PermuteHeads > 0; the tensor has Rows
	// rows of RowLen values, and the chunk whole heads of them), and a
	// generated tensor's values, instead of File's bytes.
	PermuteHeads int
	Rows, RowLen int64
	Data         []float32
}

// ChunkStats is what a chunk measured: Σx², Σ(x−x̂)² and max|x−x̂| over
// its values.
type ChunkStats struct {
	Index  int     `json:"index"`
	Tensor int     `json:"tensor"`
	Values int64   `json:"values"`
	Sig2   float64 `json:"sig2"` // finite: squares of float32 values fit in float64
	Err2   float64 `json:"err2"`
	MaxAbs float64 `json:"max_abs"`
	// CRC is the CRC-32C of the Bytes bytes the chunk wrote (lightbeam
	// only): Run joins them into the artifact's.
	CRC   uint32 `json:"crc"`
	Bytes int64  `json:"bytes"`
}

func partPath(dir string, i int) string { return storage.Join(dir, fmt.Sprintf("%06d.part", i)) }

// Build adds the quantization of chunks to s: every chunk is written at
// its offset in the local file output when output is not "" (the file
// exists, at its full size), else to its part file under parts; their
// stats, by chunk, go to statsPath.
func Build(s beam.Scope, chunks []Chunk, output, parts, statsPath string) {
	s = s.Scope("quantize.Quantize")
	// Reshuffle: prism would otherwise run every chunk in one bundle.
	in := beam.Reshuffle(s, beam.CreateList(s, chunks))
	stats := beam.ParDo(s, &quantizeChunkFn{Output: output, Parts: parts}, in)
	beam.ParDo0(s, &writeStatsFn{Path: statsPath}, beam.GroupByKey(s, beam.AddFixedKey(s, stats)))
}

// chunkMu lets one chunk at a time be processed in a process, each over
// every core: memory stays a few chunks' worth however many bundles the
// runner starts at once.
var chunkMu sync.Mutex

// quantizeChunkFn reads a chunk's bytes, encodes them and writes them:
// into the local file Output at the chunk's offset, or as its part file
// in Parts.
type quantizeChunkFn struct {
	Output string
	Parts  string
}

func (fn *quantizeChunkFn) ProcessElement(ctx context.Context, c Chunk) (ChunkStats, error) {
	chunkMu.Lock()
	defer chunkMu.Unlock()
	dst := target{part: partPath(fn.Parts, c.Index)}
	if fn.Output != "" {
		f, err := os.OpenFile(fn.Output, os.O_WRONLY, 0)
		if err != nil {
			return ChunkStats{}, fmt.Errorf("quantize.quantizeChunkFn: %w", err)
		}
		defer f.Close()
		dst = target{f: f, at: c.At}
	}
	st, err := quantizeChunk(ctx, c, dst)
	if err == nil && dst.f != nil {
		err = dst.f.Close()
	}
	if err != nil {
		return st, fmt.Errorf("quantize.quantizeChunkFn: %w", err)
	}
	return st, nil
}

// target is where a chunk's bytes go: at offset at of the local output
// file f, piece by piece as they are encoded, or all at once to the
// object part.
type target struct {
	f    *os.File
	at   int64
	part string
}

// piece writes b, the chunk's bytes from off, if f is the target.
func (t target) piece(b []byte, off int64) error {
	if t.f == nil {
		return nil
	}
	if _, err := t.f.WriteAt(b, t.at+off); err != nil {
		return fmt.Errorf("writing %s: %w", t.f.Name(), err)
	}
	return nil
}

// finish writes the whole chunk out (padding included) if part is the
// target; the output file already holds zeros where the padding goes.
func (t target) finish(ctx context.Context, out []byte) error {
	if t.f != nil {
		return nil
	}
	return storage.WriteBytes(ctx, t.part, out)
}

// chunkBufs are the buffers of the chunk being processed, kept for the
// next (chunkMu guards them): a chunk's output, and per worker its source
// bytes and their float32 values.
var chunkBufs struct {
	out   []byte
	raw   [][]byte
	vals  [][]float32
	raw0  []byte    // an artifact's f32 chunk's source bytes
	vals0 []float32 // and values
}

// grow returns (*b)[:n], reallocating when *b is shorter.
func grow[T any](b *[]T, n int) []T {
	if cap(*b) < n {
		*b = make([]T, n)
	}
	return (*b)[:n]
}

// nativeLE is whether this machine is little-endian, so F32 source bytes
// can be used as float32 values in place.
var nativeLE = binary.NativeEndian.Uint16([]byte{1, 0}) == 1

// quantizeChunk does the work of quantizeChunkFn: the chunk's blocks are
// split over the workers, each reading its part of the source range,
// converting it to float32 (F32 in place) and encoding it into its part of
// the output, measuring the error as it goes; then the output and the
// padding go to part.
func quantizeChunk(ctx context.Context, c Chunk, dst target) (ChunkStats, error) {
	if c.Kind != "" {
		return artifactChunk(ctx, c, dst)
	}
	st := ChunkStats{Index: c.Index, Tensor: c.Tensor}
	typ := gguf.Type(c.Type)
	out := grow(&chunkBufs.out, int(c.OutBytes+c.Pad))
	clear(out[c.OutBytes:])
	if c.Data != nil { // a generated tensor: small, one piece
		var e quant.Error
		if err := encodeInto(typ, out[:c.OutBytes], c.Data, &e, int(c.First)); err != nil {
			return st, fmt.Errorf("tensor %q: %w", c.Name, err)
		}
		if err := dst.piece(out[:c.OutBytes], 0); err != nil {
			return st, err
		}
		st.Sig2, st.Err2, st.MaxAbs, st.Values = e.Signal, e.Noise, e.MaxAbs, int64(len(c.Data))
		return st, dst.finish(ctx, out)
	}
	if c.DType == typ.String() && c.PermuteHeads == 0 { // pass-through
		if err := readRangeInto(ctx, c.File, c.Gen, c.Begin, out[:c.OutBytes]); err != nil {
			return st, err
		}
		if err := dst.piece(out[:c.OutBytes], 0); err != nil {
			return st, err
		}
		return st, dst.finish(ctx, out)
	}
	elem := int64(model.DTypeSize(c.DType))
	block := int64(typ.BlockElems())
	var perm *llm.Tensor
	if c.PermuteHeads > 0 {
		// Pieces of whole heads: a head's output rows are its own source
		// rows, reordered (whole rows are whole blocks: the types fit them).
		perm = &llm.Tensor{Name: c.Name, Shape: []int64{c.Rows}, PermuteHeads: c.PermuteHeads}
		block = perm.PermuteGroup() * c.RowLen
	}
	blocks := (c.End - c.Begin) / elem / block
	// Four pieces per core, each written as soon as it is encoded: one
	// piece's page faults and writes overlap another's encoding, and the
	// cores idle less at the chunk's end (4 GB to Q8_0: 5.2-5.7 s with two
	// pieces per core, 4.1-4.4 s with four, interleaved runs).
	e, err := overPieces(ctx, c, blocks, block, 4*workers(), func(b0, b1 int64, x []float32, e *quant.Error) error {
		o0, _ := typ.Bytes(b0 * block)
		o1, _ := typ.Bytes(b1 * block)
		if perm != nil {
			y := make([]float32, len(x))
			perm.PermuteRows(y, x, (c.First+b0*block)/c.RowLen, int(c.RowLen))
			x = y
		}
		if err := encodeInto(typ, out[o0:o1], x, e, int(c.First+b0*block)); err != nil {
			return fmt.Errorf("tensor %q (values %d to %d, in %s): %w", c.Name, c.First+b0*block, c.First+b1*block, c.File, err)
		}
		return dst.piece(out[o0:o1], o0)
	})
	if err != nil {
		return st, err
	}
	st.Sig2, st.Err2, st.MaxAbs, st.Values = e.Signal, e.Noise, e.MaxAbs, (c.End-c.Begin)/elem
	return st, dst.finish(ctx, out)
}

// encodeInto is gguf.EncodeInto, with BF16 (the bf16 preset's type for
// F32 and F16 sources), rounded to nearest even.
func encodeInto(t gguf.Type, dst []byte, x []float32, e *quant.Error, base int) error {
	if t != gguf.BF16 {
		return gguf.EncodeInto(t, dst, x, e, base)
	}
	for i, v := range x {
		b := math.Float32bits(v)
		b += 0x7fff + (b>>16)&1
		if math.IsNaN(float64(v)) || b&0x7f800000 == 0x7f800000 {
			return fmt.Errorf("value %d (%g) does not fit in BF16", base+i, v)
		}
		binary.LittleEndian.PutUint16(dst[2*i:], uint16(b>>16))
		e.Observe(v, math.Float32frombits(b&0xffff0000))
	}
	return nil
}

// artifactChunk is quantizeChunk for a chunk of a lightbeam artifact:
// its record header, if it carries it, then its values as int8 rows
// (split over the workers by rows, each reading its part of the source
// range), float32 values, or the source bytes unchanged. It measures the
// error of int8 and the CRC of all it writes.
func artifactChunk(ctx context.Context, c Chunk, dst target) (ChunkStats, error) {
	st := ChunkStats{Index: c.Index, Tensor: c.Tensor, Bytes: c.OutBytes}
	out := grow(&chunkBufs.out, int(c.OutBytes))
	clear(out)
	copy(out, c.Prefix)
	body := out[len(c.Prefix):]
	elem := int64(model.DTypeSize(c.DType))
	n := (c.End - c.Begin) / elem
	where := func(v0, v1 int64) string {
		return fmt.Sprintf("tensor %q (values %d to %d, in %s)", c.Name, c.First+v0, c.First+v1, c.File)
	}
	switch kind := artifact.Kind(c.Kind); {
	case n == 0: // no values: the header, and the zero scales of empty rows
	case kind == artifact.Raw:
		if err := readRangeInto(ctx, c.File, c.Gen, c.Begin, body); err != nil {
			return st, err
		}
	case kind == artifact.F32:
		raw, done, err := readPiece(ctx, c.File, c.Gen, c.Begin, c.End-c.Begin, &chunkBufs.raw0)
		if err != nil {
			return st, err
		}
		x := grow(&chunkBufs.vals0, int(n))
		model.DecodeFloats(x, raw, c.DType)
		done()
		for i, v := range x {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				return st, fmt.Errorf("%s: value %d is %v, which an artifact does not store", where(0, n), c.First+int64(i), v)
			}
			binary.LittleEndian.PutUint32(body[4*i:], math.Float32bits(v))
		}
	case kind == artifact.Int8:
		if err := int8Rows(ctx, c, body, &st, where); err != nil {
			return st, err
		}
	default:
		return st, fmt.Errorf("%s: unknown artifact kind %q", where(0, n), c.Kind)
	}
	st.Values = n
	st.CRC = artifact.CRC(out)
	if err := dst.piece(out, 0); err != nil {
		return st, err
	}
	return st, dst.finish(ctx, out)
}

// int8Rows encodes chunk c's rows into body as artifact Int8 rows
// (artifact.PutInt8Row), over the workers, and adds their error to st.
func int8Rows(ctx context.Context, c Chunk, body []byte, st *ChunkStats, where func(v0, v1 int64) string) error {
	elem := int64(model.DTypeSize(c.DType))
	cols := c.Cols
	rows := (c.End - c.Begin) / elem / max(cols, 1)
	if cols == 0 {
		return nil // rows of no values: their scales stay 0
	}
	e, err := overPieces(ctx, c, rows, cols, 4*workers(), func(r0, r1 int64, x []float32, e *quant.Error) error {
		for r := range r1 - r0 {
			row := x[r*cols : (r+1)*cols]
			for j, v := range row {
				if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
					return fmt.Errorf("%s: value %d is %v", where((r0+r)*cols, (r0+r+1)*cols), c.First+(r0+r)*cols+int64(j), v)
				}
			}
			o := body[(r0+r)*(4+cols) : (r0+r+1)*(4+cols)]
			s := artifact.PutInt8Row(o, row)
			for j, v := range row {
				e.Observe(v, float32(int8(o[4+j]))*s)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	st.Sig2, st.Err2, st.MaxAbs = st.Sig2+e.Signal, st.Err2+e.Noise, max(st.MaxAbs, e.MaxAbs)
	return nil
}

// overPieces splits the units [0, units) of chunk c (GGUF blocks or int8
// rows, unit values each) into up to w pieces and, one goroutine a piece,
// reads the piece's part of the source range, has it as float32 (F32 in
// place when aligned, else decoded into a per-piece buffer), and calls f
// with the piece's units [u0, u1), its values and its own error
// accumulator. It returns the pieces' errors summed, or the first error.
func overPieces(ctx context.Context, c Chunk, units, unit int64, w int, f func(u0, u1 int64, x []float32, e *quant.Error) error) (quant.Error, error) {
	elem := int64(model.DTypeSize(c.DType))
	w = int(min(int64(w), units))
	for len(chunkBufs.raw) < w {
		chunkBufs.raw = append(chunkBufs.raw, nil)
		chunkBufs.vals = append(chunkBufs.vals, nil)
	}
	errs := make([]error, w)
	stats := make([]quant.Error, w)
	var wg sync.WaitGroup
	for i := range w {
		u0, u1 := units*int64(i)/int64(w), units*int64(i+1)/int64(w)
		if u0 == u1 {
			continue
		}
		wg.Go(func() {
			raw, done, err := readPiece(ctx, c.File, c.Gen, c.Begin+u0*unit*elem, (u1-u0)*unit*elem, &chunkBufs.raw[i])
			if err != nil {
				errs[i] = err
				return
			}
			defer done()
			var x []float32
			if c.DType == "F32" && nativeLE && uintptr(unsafe.Pointer(unsafe.SliceData(raw)))%4 == 0 {
				x = unsafe.Slice((*float32)(unsafe.Pointer(unsafe.SliceData(raw))), len(raw)/4)
			} else {
				x = grow(&chunkBufs.vals[i], len(raw)/int(elem))
				model.DecodeFloats(x, raw, c.DType)
			}
			errs[i] = f(u0, u1, x, &stats[i])
		})
	}
	wg.Wait()
	var e quant.Error
	for i := range w {
		if errs[i] != nil {
			return e, errs[i]
		}
		e.Add(stats[i])
	}
	return e, nil
}

// readPiece returns n bytes of the file at path from off: a local file's
// mapped into memory, else read into buf. done releases them.
func readPiece(ctx context.Context, path string, gen, off, n int64, buf *[]byte) (b []byte, done func(), err error) {
	if storage.IsLocal(path) && runtime.GOOS == "linux" {
		return mapRange(path, gen, off, n)
	}
	b = grow(buf, int(n))
	return b, func() {}, readRangeInto(ctx, path, gen, off, b)
}

// readRangeInto fills b with the bytes of generation gen (0: any) of the
// file at path from off.
func readRangeInto(ctx context.Context, path string, gen, off int64, b []byte) error {
	r, err := storage.OpenRangeAt(ctx, path, gen, off, int64(len(b)))
	if err != nil {
		return err
	}
	defer r.Close()
	if _, err := io.ReadFull(r, b); err != nil {
		return fmt.Errorf("reading bytes %d to %d of %s: %w", off, off+int64(len(b)), path, err)
	}
	return nil
}

// writeStatsFn writes every chunk's stats, by chunk, as one JSON array.
type writeStatsFn struct{ Path string }

func (fn *writeStatsFn) ProcessElement(ctx context.Context, _ int, stats func(*ChunkStats) bool) error {
	return storage.WriteSortedJSON(ctx, fn.Path, stats, func(a, b ChunkStats) int { return a.Index - b.Index })
}

func init() {
	register.DoFn2x2[context.Context, Chunk, ChunkStats, error](&quantizeChunkFn{})
	register.DoFn3x1[context.Context, int, func(*ChunkStats) bool, error](&writeStatsFn{})
	register.Iter1[ChunkStats]()
}
