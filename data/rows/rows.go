// Package rows holds the unit of data that flows through lightbeam's
// pipelines: a Block of rows (thousands per element, see
// docs/ARCHITECTURE.md on per-element overhead), dense or sparse,
// with a label and a record identity per row; and Stats, the per-feature
// statistics the analyze step computes over blocks.
package rows

import (
	"fmt"
	"hash/fnv"
)

// Block is a batch of rows with the same number of features.
//
// Dense blocks store row i's features in
// DenseValues[i*Features : (i+1)*Features].
// Sparse blocks store them in CSR form: the non-zeros of row i are
// Indices[Indptr[i]:Indptr[i+1]] (0-based, strictly increasing) with
// Values at the same positions. A missing value is NaN.
type Block struct {
	Features int       // number of features, d
	Sparse   bool      // CSR (Indptr/Indices/Values) rather than DenseValues
	Labels   []float32 // one per row: a class index, or a regression target
	IDs      []uint64  // one per row: RecordID of the row's source record

	DenseValues []float32 // rows*Features values when !Sparse

	Indptr  []int32 // rows+1 offsets when Sparse
	Indices []int32
	Values  []float32
}

// Rows returns the number of rows in b.
func (b *Block) Rows() int { return len(b.Labels) }

// NewDense returns an empty dense block for d features with room for n rows.
func NewDense(d, n int) *Block {
	return &Block{Features: d, Labels: make([]float32, 0, n), IDs: make([]uint64, 0, n), DenseValues: make([]float32, 0, n*d)}
}

// NewSparse returns an empty sparse block for d features with room for n rows.
func NewSparse(d, n int) *Block {
	return &Block{Features: d, Sparse: true, Labels: make([]float32, 0, n), IDs: make([]uint64, 0, n), Indptr: make([]int32, 1, n+1)}
}

// AppendDense appends one dense row. It panics if len(x) != b.Features.
func (b *Block) AppendDense(id uint64, label float32, x []float32) {
	if b.Sparse || len(x) != b.Features {
		panic(fmt.Sprintf("rows: AppendDense of %d values to a block of %d features (sparse=%v)", len(x), b.Features, b.Sparse))
	}
	b.IDs = append(b.IDs, id)
	b.Labels = append(b.Labels, label)
	b.DenseValues = append(b.DenseValues, x...)
}

// AppendSparse appends one sparse row; idx must be strictly increasing and
// below b.Features (the parsers check this before calling).
func (b *Block) AppendSparse(id uint64, label float32, idx []int32, val []float32) {
	if !b.Sparse || len(idx) != len(val) {
		panic("rows: AppendSparse to a dense block or with mismatched lengths")
	}
	b.IDs = append(b.IDs, id)
	b.Labels = append(b.Labels, label)
	b.Indices = append(b.Indices, idx...)
	b.Values = append(b.Values, val...)
	b.Indptr = append(b.Indptr, int32(len(b.Indices)))
}

// AppendRow appends row i of src to b; both must have the same layout.
func (b *Block) AppendRow(src *Block, i int) {
	if src.Sparse {
		lo, hi := src.Indptr[i], src.Indptr[i+1]
		b.AppendSparse(src.IDs[i], src.Labels[i], src.Indices[lo:hi], src.Values[lo:hi])
		return
	}
	d := src.Features
	b.AppendDense(src.IDs[i], src.Labels[i], src.DenseValues[i*d:(i+1)*d])
}

// Empty returns a new empty block with b's layout and room for n rows.
func (b *Block) Empty(n int) *Block {
	if b.Sparse {
		return NewSparse(b.Features, n)
	}
	return NewDense(b.Features, n)
}

// Validate checks that b's slices agree with each other.
func (b *Block) Validate() error {
	n := len(b.Labels)
	if len(b.IDs) != n {
		return fmt.Errorf("rows: block has %d labels but %d ids", n, len(b.IDs))
	}
	if !b.Sparse {
		if len(b.DenseValues) != n*b.Features {
			return fmt.Errorf("rows: dense block of %d rows × %d features has %d values", n, b.Features, len(b.DenseValues))
		}
		return nil
	}
	if len(b.Indptr) != n+1 || len(b.Indices) != len(b.Values) || int(b.Indptr[n]) != len(b.Indices) {
		return fmt.Errorf("rows: sparse block of %d rows has inconsistent CSR arrays", n)
	}
	for i := 0; i < n; i++ {
		prev := int32(-1)
		for _, j := range b.Indices[b.Indptr[i]:b.Indptr[i+1]] {
			if j <= prev || int(j) >= b.Features {
				return fmt.Errorf("rows: sparse row %d has index %d out of order or range [0,%d)", i, j, b.Features)
			}
			prev = j
		}
	}
	return nil
}

// RecordID is the identity of a source record: a 64-bit FNV-1a hash of the
// source's base name and the record's number in it. It decides the split
// and the shard of a row, so it must not depend on where the file is stored
// (local path or gs:// URL): callers pass the base name.
func RecordID(source string, record int64) uint64 {
	h := fnv.New64a()
	h.Write([]byte(source))
	var buf [8]byte
	for i := range buf {
		buf[i] = byte(record >> (8 * i))
	}
	h.Write(buf[:])
	return Mix64(h.Sum64())
}

// Mix64 is the SplitMix64 finalizer, a bijection that spreads every input
// bit over the output: FNV's low bits are weak for short inputs, and
// split, shard and batch choices take hashes modulo small numbers.
func Mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}
