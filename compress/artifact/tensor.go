package artifact

import (
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/lightbeam-ml/lightbeam/internal/half"

	"github.com/lightbeam-ml/lightbeam/compress/entropy"
	"github.com/lightbeam-ml/lightbeam/compress/prune"
	"github.com/lightbeam-ml/lightbeam/compress/quant"
	"github.com/lightbeam-ml/lightbeam/model"
)

// Kind names how a tensor's values are stored.
type Kind string

// The kinds, with the id each has in the file.
const (
	F32        Kind = "f32"         // id 1: dense float32
	F16        Kind = "f16"         // id 2: dense float16
	Int8       Kind = "int8"        // id 3: int8 codes, one scale per row (output channel)
	Int8Tensor Kind = "int8-tensor" // id 4: int8 codes, one scale for the tensor
	Q8_0       Kind = "q8_0"        // id 5: GGUF Q8_0 blocks of 32, fp16 scale each
	Q4_0       Kind = "q4_0"        // id 6: GGUF Q4_0 blocks of 32, fp16 scale each
	KMeans     Kind = "kmeans"      // id 7: codebook of 2^Bits centroids + Bits-bit codes
	Raw        Kind = "raw"         // id 8, version 2 only: a safetensors dtype's bytes, unchanged
)

var kindIDs = []Kind{1: F32, 2: F16, 3: Int8, 4: Int8Tensor, 5: Q8_0, 6: Q4_0, 7: KMeans, 8: Raw}

func kindID(k Kind) int { return slices.Index(kindIDs, k) }

// Encoding says how Quantize stores a tensor.
type Encoding struct {
	Kind Kind
	// Bits is the k-means code width, 1..8 (KMeans only).
	Bits int
	// Sparse stores only the kept positions, as relative indices, and the
	// codes of the kept weights. Not for F32 or F16.
	Sparse bool
	// IndexBits is the relative-index field width, 1..8, when Sparse.
	// Optional. 0 picks the width that gives the smallest index stream.
	IndexBits int
	// HalfSide stores int8 scales and k-means centroids as float16 instead
	// of float32. Optional.
	HalfSide bool
	// Iters is the number of Lloyd iterations for KMeans; it is not stored.
	// Optional. Defaults to 30.
	Iters int
}

func (e Encoding) String() string {
	s := string(e.Kind)
	if e.Kind == KMeans {
		s += fmt.Sprintf("-%d", e.Bits)
	}
	if e.HalfSide {
		s += "/f16"
	}
	if e.Sparse {
		s += fmt.Sprintf(" sparse idx%d", e.IndexBits)
	}
	return s
}

func (e Encoding) validate() error {
	id := kindID(e.Kind)
	switch {
	case id <= 0:
		return fmt.Errorf("unknown encoding kind %q", e.Kind)
	case e.Kind == KMeans && (e.Bits < 1 || e.Bits > 8):
		return fmt.Errorf("k-means bits %d outside [1, 8]", e.Bits)
	case e.Kind != KMeans && e.Bits != 0:
		return fmt.Errorf("bits %d set for %s", e.Bits, e.Kind)
	case e.Sparse && (e.Kind == F32 || e.Kind == F16 || e.Kind == Raw):
		return fmt.Errorf("%s cannot be sparse", e.Kind)
	case e.IndexBits < 0 || e.IndexBits > 8 || !e.Sparse && e.IndexBits != 0:
		return fmt.Errorf("index bits %d (sparse %v)", e.IndexBits, e.Sparse)
	case e.HalfSide && e.Kind != Int8 && e.Kind != Int8Tensor && e.Kind != KMeans:
		return fmt.Errorf("%s has no side values to store as float16", e.Kind)
	}
	return nil
}

// codeWidth is the bit width of one stored code.
func (e Encoding) codeWidth() int {
	switch e.Kind {
	case Q4_0:
		return 4
	case KMeans:
		return e.Bits
	}
	return 8
}

// Tensor is one stored tensor: its quantized payload and how to read it.
// Which payload fields are set depends on Enc.Kind; Quantize and Decode
// fill them, and a trainer may edit Centroids (k-means fine-tuning) before
// marshalling.
type Tensor struct {
	Name  string
	Shape []int
	Enc   Encoding

	// Values holds F32 and F16 tensors (F16 values already rounded).
	Values []float32
	// Positions lists, ascending, the flat indices of the stored entries
	// of a sparse tensor; nil when dense (every position stored).
	Positions []int32
	// Codes holds one code per stored entry: int8 codes as two's
	// complement bytes (Int8, Int8Tensor, Q8_0), 4-bit codes 0..15 (Q4_0),
	// or codebook indices (KMeans).
	Codes []uint8
	// Scales holds the int8 scales: one per row (Int8) or one (Int8Tensor).
	Scales []float32
	// BlockScales holds the fp16 bits of each Q8_0/Q4_0 block's d.
	BlockScales []uint16
	// Centroids is the k-means codebook, 2^Bits values.
	Centroids []float32
	// DType is a Raw tensor's safetensors dtype (F64, I32, U8, BOOL, ...)
	// and Raw its little-endian values, row-major.
	DType string
	Raw   []byte
}

// rawDTypeSize is the element size of the dtypes a Raw tensor may have
// (model.DTypeSize's), 0 for others and for the F8 types, which Dequantize has
// no conversion for.
func rawDTypeSize(dtype string) int {
	if strings.HasPrefix(dtype, "F8") {
		return 0
	}
	return model.DTypeSize(dtype)
}

// rawValue returns a Raw tensor's value at flat position p as float32
// (64-bit integers and F64 rounded to the nearest float32).
func (t *Tensor) rawValue(p int) float32 {
	b := t.Raw[p*rawDTypeSize(t.DType):]
	switch t.DType {
	case "F64":
		return float32(math.Float64frombits(binary.LittleEndian.Uint64(b)))
	case "I64":
		return float32(int64(binary.LittleEndian.Uint64(b)))
	case "U64":
		return float32(binary.LittleEndian.Uint64(b))
	case "F32":
		return math.Float32frombits(binary.LittleEndian.Uint32(b))
	case "I32":
		return float32(int32(binary.LittleEndian.Uint32(b)))
	case "U32":
		return float32(binary.LittleEndian.Uint32(b))
	case "F16":
		return half.F16ToF32(binary.LittleEndian.Uint16(b))
	case "BF16":
		return math.Float32frombits(uint32(binary.LittleEndian.Uint16(b)) << 16)
	case "I16":
		return float32(int16(binary.LittleEndian.Uint16(b)))
	case "U16":
		return float32(binary.LittleEndian.Uint16(b))
	case "I8":
		return float32(int8(b[0]))
	}
	return float32(b[0]) // U8, BOOL
}

// rawRows reports whether version 2 stores t as raw int8 rows: dense
// Int8 with float32 scales.
func (t *Tensor) rawRows() bool {
	return t.Enc.Kind == Int8 && !t.Enc.Sparse && !t.Enc.HalfSide
}

// Len returns the number of elements, the product of Shape.
func (t *Tensor) Len() int { return elements(t.Shape) }

func elements(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}

// rows is the number of output channels: Shape[0], or 1 for a scalar.
func (t *Tensor) rows() int {
	if len(t.Shape) == 0 {
		return 1
	}
	return t.Shape[0]
}

// blockRow is the length of a Q8_0/Q4_0 block row, the last dimension
// (0 for a scalar), and blocks the number of blocks: each block row is cut
// into blocks of 32 from its start, the last one short when 32 does not
// divide the row.
func (t *Tensor) blockRow() int {
	if len(t.Shape) == 0 {
		return 0
	}
	return t.Shape[len(t.Shape)-1]
}

func (t *Tensor) blocks() int {
	l := t.blockRow()
	if l == 0 {
		return 0
	}
	return t.Len() / l * ((l + quant.BlockSize - 1) / quant.BlockSize)
}

// block returns the index of the block that holds flat position p.
func (t *Tensor) block(p int) int {
	l := t.blockRow()
	return p/l*((l+quant.BlockSize-1)/quant.BlockSize) + p%l/quant.BlockSize
}

// Stored returns the number of stored entries: Len for dense tensors,
// len(Positions) for sparse ones.
func (t *Tensor) Stored() int {
	if t.Enc.Sparse {
		return len(t.Positions)
	}
	return t.Len()
}

// value returns the dequantized value of stored entry i at flat position p.
func (t *Tensor) value(i, p int) float32 {
	switch t.Enc.Kind {
	case F32, F16:
		return t.Values[p]
	case Raw:
		return t.rawValue(p)
	}
	c := t.Codes[i]
	switch t.Enc.Kind {
	case Int8:
		return float32(int8(c)) * t.Scales[p/(t.Len()/t.rows())]
	case Int8Tensor:
		return float32(int8(c)) * t.Scales[0]
	case Q8_0:
		return float32(int8(c)) * half.F16ToF32(t.BlockScales[t.block(p)])
	case Q4_0:
		return half.F16ToF32(t.BlockScales[t.block(p)]) * float32(int(c)-8)
	case KMeans:
		return t.Centroids[c]
	}
	panic("artifact: unknown kind " + string(t.Enc.Kind))
}

// Dequantize returns the dequantized values, row-major; positions a sparse
// tensor does not store are exactly 0.
func (t *Tensor) Dequantize() []float32 {
	if t.Enc.Kind == F32 || t.Enc.Kind == F16 {
		return slices.Clone(t.Values)
	}
	out := make([]float32, t.Len())
	if t.Enc.Sparse {
		for i, p := range t.Positions {
			out[p] = t.value(i, int(p))
		}
		return out
	}
	for p := range out {
		out[p] = t.value(p, p)
	}
	return out
}

// CSR returns the tensor as a compressed sparse row matrix of Shape[0]
// rows (1 for a scalar) without densifying: row r's entries are
// colIdx[rowPtr[r]:rowPtr[r+1]] with values at the same positions. Sparse
// tensors give their stored entries (a stored code may still dequantize
// to 0); dense ones give their non-zero values. It allocates Shape[0]+1
// row pointers even for an empty tensor.
func (t *Tensor) CSR() (rowPtr, colIdx []int32, values []float32) {
	rows := t.rows()
	cols := 0
	if rows > 0 {
		cols = t.Len() / rows
	}
	rowPtr = make([]int32, rows+1)
	add := func(p int, v float32) {
		colIdx = append(colIdx, int32(p%cols))
		values = append(values, v)
		rowPtr[p/cols+1]++
	}
	if t.Enc.Sparse {
		for i, p := range t.Positions {
			add(int(p), t.value(i, int(p)))
		}
	} else {
		for p := range t.Len() {
			if v := t.value(p, p); v != 0 {
				add(p, v)
			}
		}
	}
	for r := range rows {
		rowPtr[r+1] += rowPtr[r]
	}
	return rowPtr, colIdx, values
}

// GGUFBlocks returns a Q8_0 or Q4_0 tensor as the GGUF block bytes that
// gguf.quants.quantize writes for its dense values (pruned positions are
// the codes of 0). It returns an error for other kinds, and one wrapping
// quant.ErrRowLength for rows with a short last block, which GGUF lacks.
func (t *Tensor) GGUFBlocks() ([]byte, error) {
	size := quant.Q8_0BlockBytes
	zero := uint8(0)
	switch t.Enc.Kind {
	case Q8_0:
	case Q4_0:
		size, zero = quant.Q4_0BlockBytes, 8
	default:
		return nil, fmt.Errorf("artifact: %s is %s, not a GGUF block kind", t.Name, t.Enc.Kind)
	}
	if t.blockRow()%quant.BlockSize != 0 {
		return nil, fmt.Errorf("artifact: %s %v: %w", t.Name, t.Shape, quant.ErrRowLength)
	}
	codes := t.Codes
	if t.Enc.Sparse {
		codes = make([]uint8, t.Len())
		for i := range codes {
			codes[i] = zero
		}
		for i, p := range t.Positions {
			codes[p] = t.Codes[i]
		}
	}
	out := make([]byte, len(t.BlockScales)*size)
	for b, d := range t.BlockScales {
		o := out[b*size:]
		o[0], o[1] = byte(d), byte(d>>8)
		q := codes[b*quant.BlockSize : (b+1)*quant.BlockSize]
		if t.Enc.Kind == Q8_0 {
			copy(o[2:], q)
		} else {
			quant.PackQ4_0(o[2:], (*[quant.BlockSize]uint8)(q))
		}
	}
	return out, nil
}

// Quantize builds the stored form of the float32 tensor w of the given
// shape. The kept positions are mask's, or w's non-zero entries when mask
// is nil; pruned positions are zeroed before quantizing, so Dequantize returns
// exactly 0 there. For KMeans the codebook is fit to the kept weights only:
// a sparse tensor uses all 2^Bits centroids for them, a dense one with
// pruned weights reserves centroid 0 = 0 for those and fits 2^Bits − 1.
//
// Q8_0/Q4_0 cut each row (the last dimension) into blocks of 32, the last
// one short when 32 does not divide the row; only whole-block rows map to
// GGUF (GGUFBlocks). NaN or ±Inf weights, a bad encoding and (wrapping
// quant.ErrRowLength) a Q8_0/Q4_0 scalar are errors. It panics if len(w) or len(mask) does not match
// shape.
func Quantize(name string, shape []int, w []float32, mask prune.Mask, enc Encoding) (Tensor, error) {
	n := elements(shape)
	if slices.ContainsFunc(shape, func(d int) bool { return d < 0 }) || len(w) != n || mask != nil && len(mask) != n {
		panic(fmt.Sprintf("artifact.Quantize: %s of shape %v has %d values and a mask of %d", name, shape, len(w), len(mask)))
	}
	if err := enc.validate(); err != nil {
		return Tensor{}, fmt.Errorf("artifact: %s: %w", name, err)
	}
	if enc.Kind == Raw {
		return Tensor{}, fmt.Errorf("artifact: %s: raw tensors hold bytes, not quantized float32 values", name)
	}
	for i, x := range w {
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			return Tensor{}, fmt.Errorf("artifact: %s: weight %d is %v", name, i, x)
		}
	}
	iters := enc.Iters
	if iters == 0 {
		iters = 30
	}
	if mask == nil {
		mask = prune.NonZero(w)
	}
	w = slices.Clone(w)
	mask.Apply(w)
	t := Tensor{Name: name, Shape: slices.Clone(shape), Enc: enc}
	t.Enc.Iters = 0 // not stored; keep decoded and built tensors comparable
	var kept []int32
	for i, k := range mask {
		if k {
			kept = append(kept, int32(i))
		}
	}
	var codes []uint8 // one per position (dense); keepCodes picks the sparse ones
	var err error
	switch enc.Kind {
	case F32:
		t.Values = w
		return t, nil
	case F16:
		if err := t.quantizeF16(w); err != nil {
			return Tensor{}, err
		}
		return t, nil
	case Int8, Int8Tensor:
		codes, err = t.quantizeInt8(w)
	case Q8_0, Q4_0:
		codes, err = t.quantizeBlocks(w)
	case KMeans:
		codes = t.quantizeKMeans(w, kept, iters)
	}
	if err != nil {
		return Tensor{}, err
	}
	t.keepCodes(codes, kept)
	return t, nil
}

// quantizeF16 sets t.Values to w rounded to float16.
func (t *Tensor) quantizeF16(w []float32) error {
	t.Values = make([]float32, len(w))
	for i, x := range w {
		t.Values[i] = half.F16ToF32(half.F32ToF16(x))
		if math.IsInf(float64(t.Values[i]), 0) {
			return fmt.Errorf("artifact: %s: weight %d = %g overflows float16", t.Name, i, x)
		}
	}
	return nil
}

// quantizeInt8 sets t.Scales, one per row (Int8) or one (Int8Tensor), each
// rounded to float16 when HalfSide, and returns w's int8 codes with those
// scales as bytes.
func (t *Tensor) quantizeInt8(w []float32) ([]uint8, error) {
	groups := 1
	if t.Enc.Kind == Int8 {
		groups = t.rows()
	}
	t.Scales = make([]float32, groups)
	size := 0
	if groups > 0 {
		size = len(w) / groups
	}
	for g := range t.Scales {
		s := quant.Int8Scale(w[g*size : (g+1)*size])
		if t.Enc.HalfSide {
			h := half.F16ToF32(half.F32ToF16(s))
			if math.IsInf(float64(h), 0) || h == 0 && s != 0 {
				return nil, fmt.Errorf("artifact: %s: int8 scale %g of row %d does not fit float16", t.Name, s, g)
			}
			s = h
		}
		t.Scales[g] = s
	}
	q := make([]int8, len(w))
	quant.QuantizeInt8Rows(q, w, t.Scales)
	codes := make([]uint8, len(q))
	for i, c := range q {
		codes[i] = uint8(c)
	}
	return codes, nil
}

// quantizeBlocks sets t.BlockScales to the fp16 scales of w's Q8_0 or Q4_0
// blocks and returns their codes, one per value (Q4_0's unpacked). Rows
// are quantized padded with zeros to whole blocks: a short last block's
// scale comes from its own values (zeros never raise max|x|).
func (t *Tensor) quantizeBlocks(w []float32) ([]uint8, error) {
	if len(t.Shape) == 0 {
		return nil, fmt.Errorf("artifact: %s: a scalar has no rows: %w", t.Name, quant.ErrRowLength)
	}
	n := len(w)
	l := t.blockRow()
	pl := (l + quant.BlockSize - 1) / quant.BlockSize * quant.BlockSize
	padded := w
	if pl != l {
		padded = make([]float32, n/l*pl)
		for r := range n / l {
			copy(padded[r*pl:], w[r*l:(r+1)*l])
		}
	}
	var blocks []byte
	var err error
	size := quant.Q8_0BlockBytes
	if t.Enc.Kind == Q4_0 {
		size = quant.Q4_0BlockBytes
	}
	switch {
	case n == 0:
	case t.Enc.Kind == Q8_0:
		blocks, err = quant.Q8_0(padded, pl)
	default:
		blocks, err = quant.Q4_0(padded, pl)
	}
	if err != nil {
		return nil, fmt.Errorf("artifact: %s: %w", t.Name, err)
	}
	codes := make([]uint8, len(padded))
	t.BlockScales = make([]uint16, t.blocks())
	for b := range t.BlockScales {
		o := blocks[b*size:]
		t.BlockScales[b] = uint16(o[0]) | uint16(o[1])<<8
		q := codes[b*quant.BlockSize : (b+1)*quant.BlockSize]
		if t.Enc.Kind == Q8_0 {
			copy(q, o[2:size])
		} else {
			quant.UnpackQ4_0((*[quant.BlockSize]uint8)(q), o[2:size])
		}
	}
	if pl == l {
		return codes, nil
	}
	unpadded := make([]uint8, n)
	for r := range n / l {
		copy(unpadded[r*l:(r+1)*l], codes[r*pl:])
	}
	return unpadded, nil
}

// quantizeKMeans fits t.Centroids to the kept weights of w (iters Lloyd
// iterations) and returns each position's code. A dense tensor with pruned
// weights reserves centroid 0 = 0 for them and fits one centroid fewer.
func (t *Tensor) quantizeKMeans(w []float32, kept []int32, iters int) []uint8 {
	vals := make([]float32, len(kept))
	for i, p := range kept {
		vals[i] = w[p]
	}
	k := 1 << t.Enc.Bits
	reserve := !t.Enc.Sparse && len(kept) < len(w)
	if reserve {
		k-- // centroid 0 is the pruned weights' exact 0
	}
	cent, kc := quant.KMeans(vals, k, iters)
	if t.Enc.HalfSide {
		for i, c := range cent {
			cent[i] = half.F16ToF32(half.F32ToF16(c))
		}
	}
	codes := make([]uint8, len(w))
	for i, p := range kept {
		codes[p] = kc[i]
	}
	if reserve {
		cent = append([]float32{0}, cent...)
		for _, p := range kept {
			codes[p]++
		}
	}
	t.Centroids = cent
	return codes
}

// keepCodes stores codes, one per position: all of them when t is dense;
// when sparse, the kept positions and their codes, with the index width
// that gives the smallest index stream when Enc.IndexBits is 0.
func (t *Tensor) keepCodes(codes []uint8, kept []int32) {
	if !t.Enc.Sparse {
		t.Codes = codes
		return
	}
	t.Positions = kept
	t.Codes = make([]uint8, len(kept))
	for i, p := range kept {
		t.Codes[i] = codes[p]
	}
	if t.Enc.IndexBits == 0 {
		best := -1
		for ib := 1; ib <= 8; ib++ {
			if s := len(entropy.EncodeStream(entropy.EncodeGaps(kept, ib), ib)); best < 0 || s < best {
				best, t.Enc.IndexBits = s, ib
			}
		}
	}
}

// SetCentroids replaces a k-means tensor's codebook with the values that
// w, the tensor's dense values after fine-tuning, holds for each code:
// every entry with one code must have one value (as shared-weight
// training leaves them). Half-side centroids are rounded to float16. A
// code no entry uses keeps its centroid.
func (t *Tensor) SetCentroids(w []float32) error {
	if t.Enc.Kind != KMeans || len(w) != t.Len() {
		return fmt.Errorf("artifact: %s: SetCentroids of %d values on a %s tensor of %d", t.Name, len(w), t.Enc, t.Len())
	}
	cent := slices.Clone(t.Centroids)
	set := make([]bool, len(cent))
	for i := range t.Stored() {
		p := i
		if t.Enc.Sparse {
			p = int(t.Positions[i])
		}
		c, v := t.Codes[i], w[p]
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return fmt.Errorf("artifact: %s: value %d is %v", t.Name, p, v)
		}
		if set[c] && cent[c] != v {
			return fmt.Errorf("artifact: %s: code %d has values %g and %g (at %d): the weights that share it moved apart", t.Name, c, cent[c], v, p)
		}
		cent[c], set[c] = v, true
	}
	if t.Enc.HalfSide {
		for i, c := range cent {
			cent[i] = half.F16ToF32(half.F32ToF16(c))
			if math.IsInf(float64(cent[i]), 0) {
				return fmt.Errorf("artifact: %s: centroid %d = %g overflows float16", t.Name, i, c)
			}
		}
	}
	t.Centroids = cent
	return nil
}
