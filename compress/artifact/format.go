package artifact

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"slices"
	"sync"

	"github.com/lightbeam-ml/lightbeam/internal/half"

	"github.com/klauspost/compress/zstd"
	"github.com/lightbeam-ml/lightbeam/compress/entropy"
	"github.com/lightbeam-ml/lightbeam/compress/quant"
)

// Magic opens every artifact file.
const Magic = "LBCM"

// Version is the format version Marshal writes: entropy-coded records.
const Version = 1

// Version2 is the format version MarshalV2 and the checkpoint job write:
// v1's layout, with dense int8 records stored as raw rows (a float32
// scale, then the row's codes) and a raw kind, so that every record's
// size and offset follow from the shapes alone (docs/FORMATS.md).
const Version2 = 2

// MaxVersion is the newest version Decode reads. A reader refuses newer
// versions rather than guess.
const MaxVersion = Version2

// Limits on what Decode accepts; they bound its allocations.
const (
	MaxElements = 1<<31 - 1 // per tensor, so positions fit int32
	MaxRank     = 8
	MaxMeta     = 16 << 20 // bytes of uncompressed metadata
	MaxName     = 1 << 16
)

var (
	// ErrCorrupt is wrapped by Decode's errors for malformed files.
	ErrCorrupt = errors.New("corrupt artifact")
	// ErrVersion is wrapped when a file is newer than this package.
	ErrVersion = errors.New("artifact version too new")
)

// labelled is an error with its own message that still matches err in
// errors.Is.
type labelled struct {
	msg string
	err error
}

func (e *labelled) Error() string { return e.msg }
func (e *labelled) Unwrap() error { return e.err }

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

const (
	flagSparse   = 1
	flagHalfSide = 2

	metaRaw  = 0
	metaZstd = 1
)

// Marshal returns the artifact file holding ts and meta. Tensors whose
// payload does not match their encoding and shape are errors.
func Marshal(ts []Tensor, meta map[string]string) ([]byte, error) {
	out := append([]byte(Magic), Version)
	out = appendMeta(out, meta)
	out = binary.AppendUvarint(out, uint64(len(ts)))
	for i := range ts {
		var err error
		if out, _, err = appendTensor(out, &ts[i], Version); err != nil {
			return nil, err
		}
	}
	return binary.LittleEndian.AppendUint32(out, crc32.Checksum(out, castagnoli)), nil
}

// Encode writes the artifact file holding ts and meta to w.
func Encode(w io.Writer, ts []Tensor, meta map[string]string) error {
	b, err := Marshal(ts, meta)
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}

var (
	zstdOnce sync.Once
	zstdEnc  *zstd.Encoder
	zstdDec  *zstd.Decoder
)

func codecs() (*zstd.Encoder, *zstd.Decoder) {
	zstdOnce.Do(func() {
		var err error
		zstdEnc, err = zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedBestCompression),
			zstd.WithEncoderCRC(false), zstd.WithEncoderConcurrency(1))
		if err != nil {
			panic(err)
		}
		zstdDec, err = zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(MaxMeta))
		if err != nil {
			panic(err)
		}
	})
	return zstdEnc, zstdDec
}

// appendMeta writes the metadata block: uvarint raw length, then (if not
// 0) a codec byte and the raw or zstd-compressed key/value list.
func appendMeta(out []byte, meta map[string]string) []byte {
	keys := make([]string, 0, len(meta))
	for k := range meta {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var raw []byte
	if len(meta) > 0 {
		raw = binary.AppendUvarint(raw, uint64(len(keys)))
		for _, k := range keys {
			raw = binary.AppendUvarint(raw, uint64(len(k)))
			raw = append(raw, k...)
			raw = binary.AppendUvarint(raw, uint64(len(meta[k])))
			raw = append(raw, meta[k]...)
		}
	}
	out = binary.AppendUvarint(out, uint64(len(raw)))
	if len(raw) == 0 {
		return out
	}
	enc, _ := codecs()
	if z := enc.EncodeAll(raw, nil); len(z)+binary.MaxVarintLen32 < len(raw) {
		out = append(out, metaZstd)
		out = binary.AppendUvarint(out, uint64(len(z)))
		return append(out, z...)
	}
	out = append(out, metaRaw)
	return append(out, raw...)
}

// appendTensor appends t's record in the given format version and returns
// the sizes of its parts: the header, then the payload of its layout (raw
// bytes or int8 rows in version 2; otherwise the side values, the index
// stream of a sparse tensor and the code stream).
func appendTensor(out []byte, t *Tensor, version int) ([]byte, Sizes, error) {
	fail := func(format string, a ...any) ([]byte, Sizes, error) {
		return nil, Sizes{}, fmt.Errorf("artifact: tensor %q: %s", t.Name, fmt.Sprintf(format, a...))
	}
	if err := t.Enc.validate(); err != nil {
		return fail("%v", err)
	}
	if err := t.check(); err != nil {
		return fail("%v", err)
	}
	if t.Enc.Kind == Raw && version < Version2 {
		return fail("raw tensors need artifact version %d", Version2)
	}
	var sz Sizes
	start := len(out)
	out = appendHeader(out, t.Name, t.Shape, t.Enc, t.DType)
	sz.Header = len(out) - start
	switch {
	case version >= Version2 && t.Enc.Kind == Raw:
		out = append(out, t.Raw...)
		sz.Side = len(t.Raw)
	case version >= Version2 && t.rawRows():
		out, sz.Side, sz.Codes = appendInt8Rows(out, t)
	default:
		start = len(out)
		out = appendSide(out, t)
		sz.Side = len(out) - start
		if t.Enc.Kind == F32 || t.Enc.Kind == F16 {
			break
		}
		start = len(out)
		if t.Enc.Sparse {
			out = appendIndex(out, t)
		}
		sz.Index = len(out) - start
		start = len(out)
		out = appendStream(out, t.Codes, t.Enc.codeWidth())
		sz.Codes = len(out) - start
	}
	return out, sz, nil
}

// appendHeader appends a record's header: name, shape, kind, flags and
// the kind's parameters (a raw tensor's dtype, in v2 only).
func appendHeader(out []byte, name string, shape []int, enc Encoding, dtype string) []byte {
	out = binary.AppendUvarint(out, uint64(len(name)))
	out = append(out, name...)
	out = append(out, byte(len(shape)))
	for _, d := range shape {
		out = binary.AppendUvarint(out, uint64(d))
	}
	out = append(out, byte(kindID(enc.Kind)))
	var flags byte
	if enc.Sparse {
		flags |= flagSparse
	}
	if enc.HalfSide {
		flags |= flagHalfSide
	}
	out = append(out, flags)
	if enc.Kind == KMeans {
		out = append(out, byte(enc.Bits))
	}
	if enc.Sparse {
		out = append(out, byte(enc.IndexBits))
	}
	if enc.Kind == Raw {
		out = binary.AppendUvarint(out, uint64(len(dtype)))
		out = append(out, dtype...)
	}
	return out
}

// appendInt8Rows appends a dense Int8 tensor's version 2 payload: each
// row's float32 scale, then its codes. It returns the bytes of scales and
// of codes.
func appendInt8Rows(out []byte, t *Tensor) (_ []byte, side, codes int) {
	cols := 0
	if t.rows() > 0 {
		cols = t.Len() / t.rows()
	}
	for r, s := range t.Scales {
		out = binary.LittleEndian.AppendUint32(out, math.Float32bits(s))
		out = append(out, t.Codes[r*cols:(r+1)*cols]...)
	}
	return out, 4 * len(t.Scales), len(t.Scales) * cols
}

// appendSide appends the values stored beside the codes, in the v1 layout
// (which v2 keeps for every kind but raw and dense int8 with float32
// scales): F32 or F16 values, int8 scales, block scales or the k-means
// codebook.
func appendSide(out []byte, t *Tensor) []byte {
	floats := func(vs []float32, f16 bool) {
		for _, v := range vs {
			if f16 {
				out = binary.LittleEndian.AppendUint16(out, half.F32ToF16(v))
			} else {
				out = binary.LittleEndian.AppendUint32(out, math.Float32bits(v))
			}
		}
	}
	switch t.Enc.Kind {
	case F32:
		floats(t.Values, false)
	case F16:
		floats(t.Values, true)
	case Int8, Int8Tensor:
		floats(t.Scales, t.Enc.HalfSide)
	case Q8_0, Q4_0:
		for _, d := range t.BlockScales {
			out = binary.LittleEndian.AppendUint16(out, d)
		}
	case KMeans:
		floats(t.Centroids, t.Enc.HalfSide)
	}
	return out
}

// appendIndex appends a sparse tensor's index stream: the count of
// relative-index fields, then the entropy-coded stream of them.
func appendIndex(out []byte, t *Tensor) []byte {
	gaps := entropy.EncodeGaps(t.Positions, t.Enc.IndexBits)
	out = binary.AppendUvarint(out, uint64(len(gaps)))
	return appendStream(out, gaps, t.Enc.IndexBits)
}

// appendStream appends the entropy-coded stream of the width-bit symbols
// vs, after its length in bytes.
func appendStream(out []byte, vs []uint8, width int) []byte {
	s := entropy.EncodeStream(vs, width)
	out = binary.AppendUvarint(out, uint64(len(s)))
	return append(out, s...)
}

// check reports payload fields that do not match the encoding and shape,
// for tensors built by hand rather than by Quantize or Decode.
func (t *Tensor) check() error {
	n := t.Len()
	if len(t.Shape) > MaxRank || slices.ContainsFunc(t.Shape, func(d int) bool { return d < 0 }) || n > MaxElements {
		return fmt.Errorf("shape %v", t.Shape)
	}
	if len(t.Name) > MaxName {
		return fmt.Errorf("name of %d bytes", len(t.Name))
	}
	stored := n
	if t.Enc.Sparse {
		stored = len(t.Positions)
		for i, p := range t.Positions {
			if p < 0 || int(p) >= n || i > 0 && p <= t.Positions[i-1] {
				return fmt.Errorf("positions are not ascending indices below %d", n)
			}
		}
	} else if t.Positions != nil {
		return errors.New("positions set on a dense tensor")
	}
	want := map[Kind][4]int{ // values, codes, scales, block scales
		F32: {n, 0, 0, 0}, F16: {n, 0, 0, 0},
		Int8: {0, stored, t.rows(), 0}, Int8Tensor: {0, stored, 1, 0},
		Q8_0: {0, stored, 0, t.blocks()}, Q4_0: {0, stored, 0, t.blocks()},
		KMeans: {0, stored, 0, 0}, Raw: {0, 0, 0, 0},
	}[t.Enc.Kind]
	if len(t.Values) != want[0] || len(t.Codes) != want[1] || len(t.Scales) != want[2] || len(t.BlockScales) != want[3] {
		return fmt.Errorf("%s payload has %d values, %d codes, %d scales, %d block scales; want %v",
			t.Enc.Kind, len(t.Values), len(t.Codes), len(t.Scales), len(t.BlockScales), want)
	}
	if (t.Enc.Kind == Q8_0 || t.Enc.Kind == Q4_0) && len(t.Shape) == 0 {
		return fmt.Errorf("shape %v: %w", t.Shape, quant.ErrRowLength)
	}
	if t.Enc.Kind == Raw {
		if rawDTypeSize(t.DType) == 0 {
			return fmt.Errorf("raw dtype %q", t.DType)
		}
		if len(t.Raw) != n*rawDTypeSize(t.DType) {
			return fmt.Errorf("raw %s payload of %d bytes for %d values", t.DType, len(t.Raw), n)
		}
	} else if t.Raw != nil || t.DType != "" {
		return fmt.Errorf("raw bytes or dtype set for %s", t.Enc.Kind)
	}
	if t.Enc.Kind == KMeans && len(t.Centroids) != 1<<t.Enc.Bits || t.Enc.Kind != KMeans && t.Centroids != nil {
		return fmt.Errorf("%d centroids for %s", len(t.Centroids), t.Enc)
	}
	for i, c := range t.Codes {
		if int(c) >= 1<<t.Enc.codeWidth() {
			return fmt.Errorf("code %d at %d does not fit %d bits", c, i, t.Enc.codeWidth())
		}
	}
	for b, d := range t.BlockScales {
		if d&0x7c00 == 0x7c00 {
			return fmt.Errorf("block %d scale %#04x is not finite", b, d)
		}
	}
	for _, vs := range [][]float32{t.Values, t.Scales, t.Centroids} {
		for _, v := range vs {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				return fmt.Errorf("non-finite value %v", v)
			}
		}
	}
	return nil
}

// reader walks a file; the first error sticks and later reads return zeros.
type reader struct {
	data []byte
	off  int
	err  error
	what string // what is being read, for errors
}

func (r *reader) fail(format string, a ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("%s at byte %d: %s", r.what, r.off, fmt.Sprintf(format, a...))
	}
}

func (r *reader) bytes(n int) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || n > len(r.data)-r.off {
		r.fail("truncated (need %d bytes, %d left)", n, len(r.data)-r.off)
		return nil
	}
	b := r.data[r.off : r.off+n]
	r.off += n
	return b
}

func (r *reader) u8() int {
	b := r.bytes(1)
	if b == nil {
		return 0
	}
	return int(b[0])
}

// uvarint reads a uvarint no larger than limit.
func (r *reader) uvarint(limit int) int {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.data[r.off:])
	if n <= 0 {
		r.fail("bad varint")
		return 0
	}
	if v > uint64(limit) {
		r.fail("value %d exceeds %d", v, limit)
		return 0
	}
	r.off += n
	return int(v)
}

// Decode parses an artifact file. source names it (a path or URL) in
// errors, which wrap ErrCorrupt or ErrVersion. Decode never panics and
// allocates in proportion to len(data).
func Decode(data []byte, source string) (*Artifact, error) {
	corrupt := func(format string, a ...any) (*Artifact, error) {
		return nil, fmt.Errorf("%s: %w: %s", source, ErrCorrupt, fmt.Sprintf(format, a...))
	}
	if len(data) < len(Magic)+1+4 || string(data[:len(Magic)]) != Magic {
		return corrupt("not a lightbeam artifact (no %q header)", Magic)
	}
	if v := int(data[len(Magic)]); v > MaxVersion {
		return nil, &labelled{fmt.Sprintf("%s: artifact version %d is newer than this lightbeam (max %d)", source, v, MaxVersion), ErrVersion}
	} else if v == 0 {
		return corrupt("artifact version 0")
	}
	body := data[:len(data)-4]
	if got, want := crc32.Checksum(body, castagnoli), binary.LittleEndian.Uint32(data[len(body):]); got != want {
		return corrupt("CRC-32C mismatch (file says %08x, contents give %08x): truncated or damaged", want, got)
	}
	a := &Artifact{Version: int(data[len(Magic)]), Size: len(data)}
	r := &reader{data: body, off: len(Magic) + 1, what: "metadata"}
	meta, err := readMeta(r)
	if err != nil {
		return corrupt("%v", err)
	}
	a.Meta = meta
	r.what = "tensor count"
	count := r.uvarint(len(body))
	a.HeaderBytes = r.off
	for i := 0; i < count && r.err == nil; i++ {
		r.what = fmt.Sprintf("tensor %d", i)
		start := r.off
		t, sz := readTensor(r, a.Version)
		if r.err != nil {
			break
		}
		if r.off-start != sz.Total() {
			r.fail("sizes do not add up") // a bug here, not in the file
		}
		if slices.ContainsFunc(a.Tensors, func(o Tensor) bool { return o.Name == t.Name }) {
			r.fail("duplicate tensor name %q", t.Name)
		}
		a.Tensors = append(a.Tensors, t)
		a.Sizes = append(a.Sizes, sz)
	}
	if r.err == nil && r.off != len(body) {
		r.what = "end"
		r.fail("%d bytes after the last tensor", len(body)-r.off)
	}
	if r.err != nil {
		return corrupt("%v", r.err)
	}
	return a, nil
}

func readMeta(r *reader) (map[string]string, error) {
	n := r.uvarint(MaxMeta)
	if n == 0 || r.err != nil {
		return map[string]string{}, r.err
	}
	var raw []byte
	switch c := r.u8(); c {
	case metaRaw:
		raw = r.bytes(n)
	case metaZstd:
		z := r.bytes(r.uvarint(len(r.data)))
		if r.err != nil {
			return nil, r.err
		}
		_, dec := codecs()
		var err error
		raw, err = dec.DecodeAll(z, make([]byte, 0, min(n, 8*len(z)+64)))
		if err != nil || len(raw) != n {
			return nil, fmt.Errorf("metadata: zstd block does not give %d bytes (%v)", n, err)
		}
	default:
		r.fail("unknown metadata codec %d", c)
	}
	if r.err != nil {
		return nil, r.err
	}
	mr := &reader{data: raw, what: "metadata list"}
	count := mr.uvarint(len(raw))
	meta := make(map[string]string, min(count, len(raw)))
	for range count {
		k := string(mr.bytes(mr.uvarint(len(raw))))
		v := string(mr.bytes(mr.uvarint(len(raw))))
		if mr.err != nil {
			return nil, mr.err
		}
		if _, dup := meta[k]; dup {
			return nil, fmt.Errorf("metadata: duplicate key %q", k)
		}
		meta[k] = v
	}
	if mr.err == nil && mr.off != len(raw) {
		mr.fail("%d bytes after the last entry", len(raw)-mr.off)
	}
	return meta, mr.err
}

// readTensor reads one record, mirroring appendTensor: the header, then
// the payload of its layout.
func readTensor(r *reader, version int) (Tensor, Sizes) {
	var sz Sizes
	start := r.off
	t := readHeader(r, version)
	if r.err != nil {
		return t, sz
	}
	sz.Header = r.off - start
	start = r.off
	switch {
	case version >= Version2 && t.Enc.Kind == Raw:
		readRaw(r, &t)
		sz.Side = r.off - start
		return t, sz
	case version >= Version2 && t.rawRows():
		readInt8Rows(r, &t)
		sz.Side = 4 * len(t.Scales)
		sz.Codes = r.off - start - sz.Side
		return t, sz
	}
	readSide(r, &t)
	sz.Side = r.off - start
	if r.err != nil || t.Enc.Kind == F32 || t.Enc.Kind == F16 {
		return t, sz
	}
	start = r.off
	stored := t.Len()
	if t.Enc.Sparse {
		readIndex(r, &t)
		stored = len(t.Positions)
	}
	sz.Index = r.off - start
	if r.err != nil {
		return t, sz
	}
	start = r.off
	t.Codes = r.stream("code stream", stored, t.Enc.codeWidth())
	sz.Codes = r.off - start
	return t, sz
}

// readHeader reads a record's header (appendHeader) and checks the
// encoding it gives.
func readHeader(r *reader, version int) Tensor {
	var t Tensor
	t.Name = string(r.bytes(r.uvarint(MaxName)))
	r.what = fmt.Sprintf("tensor %q", t.Name)
	rank := r.u8()
	if rank > MaxRank {
		r.fail("rank %d", rank)
		return t
	}
	t.Shape = make([]int, rank)
	nonzero := 1 // bounds the dims of an empty tensor too: CSR allocates Shape[0]+1
	for i := range t.Shape {
		t.Shape[i] = r.uvarint(MaxElements)
		if t.Shape[i] != 0 && nonzero > MaxElements/t.Shape[i] {
			r.fail("shape %v has more than %d elements", t.Shape[:i+1], MaxElements)
			return t
		}
		nonzero *= max(1, t.Shape[i])
	}
	id := r.u8()
	if id <= 0 || id >= len(kindIDs) {
		r.fail("unknown encoding %d", id)
		return t
	}
	t.Enc.Kind = kindIDs[id]
	flags := r.u8()
	if flags&^(flagSparse|flagHalfSide) != 0 {
		r.fail("unknown flags %#x", flags)
	}
	t.Enc.Sparse, t.Enc.HalfSide = flags&flagSparse != 0, flags&flagHalfSide != 0
	if t.Enc.Kind == KMeans {
		t.Enc.Bits = r.u8()
	}
	if t.Enc.Sparse {
		t.Enc.IndexBits = r.u8()
	}
	if t.Enc.Kind == Raw {
		if version < Version2 {
			r.fail("raw tensor in a version %d file", version)
			return t
		}
		t.DType = string(r.bytes(r.uvarint(16)))
		if r.err == nil && rawDTypeSize(t.DType) == 0 {
			r.fail("unknown raw dtype %q", t.DType)
		}
	}
	if err := t.Enc.validate(); err != nil {
		r.fail("%v", err)
	}
	if t.Enc.Sparse && t.Enc.IndexBits == 0 {
		r.fail("sparse with 0 index bits")
	}
	if (t.Enc.Kind == Q8_0 || t.Enc.Kind == Q4_0) && rank == 0 {
		r.fail("%s needs rank ≥ 1", t.Enc.Kind)
	}
	return t
}

// readRaw reads a Raw tensor's bytes (version 2).
func readRaw(r *reader, t *Tensor) {
	n, size := t.Len(), rawDTypeSize(t.DType)
	if n > (len(r.data)-r.off)/size {
		r.fail("truncated: %d %s values", n, t.DType)
		return
	}
	t.Raw = slices.Clone(r.bytes(n * size))
}

// readInt8Rows reads a dense Int8 tensor's rows (version 2): each row's
// float32 scale, then its codes (appendInt8Rows).
func readInt8Rows(r *reader, t *Tensor) {
	n, rows := t.Len(), t.rows()
	cols := 0
	if rows > 0 {
		cols = n / rows
	}
	if rows > (len(r.data)-r.off)/(4+cols) {
		r.fail("truncated: %d int8 rows of %d values", rows, cols)
		return
	}
	b := r.bytes(rows * (4 + cols))
	t.Scales, t.Codes = make([]float32, rows), make([]uint8, n)
	for i := range rows {
		row := b[i*(4+cols):]
		t.Scales[i] = math.Float32frombits(binary.LittleEndian.Uint32(row))
		if s := float64(t.Scales[i]); math.IsNaN(s) || math.IsInf(s, 0) {
			r.fail("row %d scale is %v", i, s)
			return
		}
		copy(t.Codes[i*cols:(i+1)*cols], row[4:4+cols])
	}
}

// readSide reads the values stored beside the codes (appendSide).
func readSide(r *reader, t *Tensor) {
	sideWidth := 4
	if t.Enc.HalfSide {
		sideWidth = 2
	}
	switch t.Enc.Kind {
	case F32:
		t.Values = r.floats(t.Len(), 4)
	case F16:
		t.Values = r.floats(t.Len(), 2)
	case Int8:
		t.Scales = r.floats(t.rows(), sideWidth)
	case Int8Tensor:
		t.Scales = r.floats(1, sideWidth)
	case Q8_0, Q4_0:
		b := r.bytes(t.blocks() * 2)
		if r.err != nil {
			return
		}
		t.BlockScales = make([]uint16, t.blocks())
		for i := range t.BlockScales {
			t.BlockScales[i] = binary.LittleEndian.Uint16(b[2*i:])
			if t.BlockScales[i]&0x7c00 == 0x7c00 {
				r.fail("block %d scale %#04x is not finite", i, t.BlockScales[i])
				return
			}
		}
	case KMeans:
		t.Centroids = r.floats(1<<t.Enc.Bits, sideWidth)
	}
}

// readIndex reads a sparse tensor's index stream (appendIndex) into
// t.Positions.
func readIndex(r *reader, t *Tensor) {
	count := r.uvarint(entropy.MaxRatio * len(r.data))
	gaps := r.stream("index stream", count, t.Enc.IndexBits)
	if r.err != nil {
		return
	}
	var err error
	if t.Positions, err = entropy.DecodeGaps(gaps, t.Enc.IndexBits, t.Len()); err != nil {
		r.fail("index stream: %v", err)
	}
}

// stream reads an entropy-coded stream of count width-bit symbols
// (appendStream); what names it in errors.
func (r *reader) stream(what string, count, width int) []uint8 {
	s := r.bytes(r.uvarint(len(r.data)))
	if r.err != nil {
		return nil
	}
	vs, err := entropy.DecodeStream(s, count, width)
	if err != nil {
		r.fail("%s: %v", what, err)
		return nil
	}
	return vs
}

// floats reads count finite float32 values stored in width bytes each (4,
// or 2 for float16).
func (r *reader) floats(count, width int) []float32 {
	if count > (len(r.data)-r.off)/width {
		r.fail("truncated: %d values of %d bytes", count, width)
		return nil
	}
	b := r.bytes(count * width)
	out := make([]float32, count)
	for i := range out {
		if width == 2 {
			out[i] = half.F16ToF32(binary.LittleEndian.Uint16(b[2*i:]))
		} else {
			out[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
		}
		if math.IsNaN(float64(out[i])) || math.IsInf(float64(out[i]), 0) {
			r.fail("value %d is %v", i, out[i])
			return nil
		}
	}
	return out
}
