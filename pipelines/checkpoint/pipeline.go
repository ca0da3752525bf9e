package checkpoint

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"sort"
	"sync"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"

	"github.com/lightbeam-ml/lightbeam/export/gguf"
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
	DType      string
	Begin, End int64  // source byte range
	First      int64  // the index of its first value in the tensor
	Type       uint32 // gguf.Type of the output
	OutBytes   int64  // encoded bytes, without Pad
	Pad        int64  // zero bytes after them (the tensor's last chunk)
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
}

func partPath(dir string, i int) string { return storage.Join(dir, fmt.Sprintf("%06d.part", i)) }

// Build adds the quantization of chunks to s: every chunk is written to
// its part file under parts, and their stats, by chunk, to statsPath.
func Build(s beam.Scope, chunks []Chunk, parts, statsPath string) {
	s = s.Scope("checkpoint.Quantize")
	// Reshuffle: prism would otherwise run every chunk in one bundle.
	in := beam.Reshuffle(s, beam.CreateList(s, chunks))
	stats := beam.ParDo(s, &quantizeChunkFn{Parts: parts}, in)
	beam.ParDo0(s, &writeStatsFn{Path: statsPath}, beam.GroupByKey(s, beam.AddFixedKey(s, stats)))
}

// chunkMu lets one chunk at a time be processed in a process, each over
// every core: memory stays a few chunks' worth however many bundles the
// runner starts at once.
var chunkMu sync.Mutex

// quantizeChunkFn reads a chunk's bytes, encodes them and writes its part.
type quantizeChunkFn struct {
	Parts string
}

func (fn *quantizeChunkFn) ProcessElement(ctx context.Context, c Chunk) (ChunkStats, error) {
	chunkMu.Lock()
	defer chunkMu.Unlock()
	st, err := quantizeChunk(ctx, c, partPath(fn.Parts, c.Index))
	if err != nil {
		return st, fmt.Errorf("checkpoint.quantizeChunkFn: %w", err)
	}
	return st, nil
}

// quantizeChunk does the work of quantizeChunkFn: raw bytes → float32 →
// the output type, written to part with the chunk's padding.
func quantizeChunk(ctx context.Context, c Chunk, part string) (ChunkStats, error) {
	st := ChunkStats{Index: c.Index, Tensor: c.Tensor}
	raw, err := readRange(ctx, c.File, c.Begin, c.End-c.Begin)
	if err != nil {
		return st, err
	}
	typ := gguf.Type(c.Type)
	enc := raw
	if c.DType != typ.String() { // not a pass-through: convert
		x := make([]float32, int64(len(raw))/int64(model.DTypeSize(c.DType)))
		model.DecodeFloats(x, raw, c.DType)
		raw = nil
		if enc, err = gguf.Encode(typ, x, workers()); err != nil {
			return st, fmt.Errorf("tensor %q (values %d to %d, in %s): %w", c.Name, c.First, c.First+int64(len(x)), c.File, err)
		}
		if st, err = measure(st, typ, x, enc); err != nil {
			return st, fmt.Errorf("tensor %q: %w", c.Name, err)
		}
	}
	if int64(len(enc)) != c.OutBytes {
		return st, fmt.Errorf("tensor %q: chunk %d encodes to %d bytes, the plan says %d", c.Name, c.Index, len(enc), c.OutBytes)
	}
	err = storage.WriteFile(ctx, part, func(w io.Writer) error {
		if _, err := w.Write(enc); err != nil {
			return err
		}
		_, err := w.Write(make([]byte, c.Pad))
		return err
	})
	return st, err
}

// measure adds to st the signal and error of enc (type typ) against x,
// decoding a piece at a time.
func measure(st ChunkStats, typ gguf.Type, x []float32, enc []byte) (ChunkStats, error) {
	const piece = 1 << 16 // values; a multiple of every block size
	nb, _ := typ.Bytes(piece)
	var mu sync.Mutex
	var wg sync.WaitGroup
	errs := make(chan error, 1)
	sem := make(chan struct{}, workers())
	for off := 0; off < len(x); off += piece {
		m := min(piece, len(x)-off)
		bytesOff := int64(off/piece) * nb
		bytesLen, _ := typ.Bytes(int64(m))
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			y := make([]float32, m)
			if err := gguf.Decode(typ, y, enc[bytesOff:bytesOff+bytesLen], 1); err != nil {
				select {
				case errs <- err:
				default:
				}
				return
			}
			var s2, e2, mx float64
			for i, v := range x[off : off+m] {
				d := float64(v) - float64(y[i])
				s2 += float64(v) * float64(v)
				e2 += d * d
				mx = max(mx, math.Abs(d))
			}
			mu.Lock()
			st.Sig2 += s2
			st.Err2 += e2
			st.MaxAbs = max(st.MaxAbs, mx)
			mu.Unlock()
		}()
	}
	wg.Wait()
	select {
	case err := <-errs:
		return st, err
	default:
	}
	st.Values = int64(len(x))
	return st, nil
}

// writeStatsFn writes every chunk's stats, by chunk, as one JSON array.
type writeStatsFn struct{ Path string }

func (fn *writeStatsFn) ProcessElement(ctx context.Context, _ int, stats func(*ChunkStats) bool) error {
	var all []ChunkStats
	var s ChunkStats
	for stats(&s) {
		all = append(all, s)
	}
	sort.Slice(all, func(a, b int) bool { return all[a].Index < all[b].Index })
	b, err := json.Marshal(all)
	if err != nil {
		return fmt.Errorf("checkpoint.writeStatsFn: %w", err)
	}
	return storage.WriteBytes(ctx, fn.Path, b)
}

func init() {
	register.DoFn2x2[context.Context, Chunk, ChunkStats, error](&quantizeChunkFn{})
	register.DoFn3x1[context.Context, int, func(*ChunkStats) bool, error](&writeStatsFn{})
	register.Iter1[ChunkStats]()
}
