package model

import "fmt"

// Batch is n rows of features with their labels, dense or sparse; its
// fields mirror transforms/rows.Block so the trainer can pass a block's
// slices without copying.
//
// Dense batches store row i in X[i*d : (i+1)*d]. Sparse batches (LIBSVM)
// store row i's non-zeros at Indices[Indptr[i]:Indptr[i+1]] with Values at
// the same positions; they are densified on the host before upload, which
// is simple and exact but costs n×d floats of scratch per batch.
//
// Y holds one class index per row for classifiers, or Outputs targets per
// row (row-major) for Linear.
type Batch struct {
	N int       // number of rows
	X []float32 // dense n×d features; nil when sparse

	Indptr  []int32 // n+1 offsets when sparse
	Indices []int32
	Values  []float32

	Y []float32

	// Seeds holds one seed per row for the dropout masks of
	// Workspace.GradientView (DropoutMask); needed only under dropout.
	Seeds []uint64
	// Teacher holds a teacher's n×k logits for the rows, row-major;
	// needed only under distillation (Regularization.Distill).
	Teacher []float32
}

// DenseBatch returns a batch of n dense rows: x holds them row-major, y
// their labels.
func DenseBatch(x, y []float32, n int) Batch { return Batch{N: n, X: x, Y: y} }

// Sparse reports whether b is stored in CSR form.
func (b Batch) Sparse() bool { return b.Indptr != nil }

// check panics on shape errors and returns data errors (bad labels,
// out-of-range sparse indices).
func (m *Model) check(b Batch, needY bool) error {
	d := m.cfg.Inputs
	if b.N < 0 {
		panic(fmt.Errorf("%w: batch of %d rows", ErrShape, b.N))
	}
	if b.Sparse() {
		if len(b.Indptr) != b.N+1 || len(b.Indices) != len(b.Values) || int(b.Indptr[b.N]) != len(b.Indices) {
			panic(fmt.Errorf("%w: sparse batch of %d rows with %d indptr, %d indices, %d values",
				ErrShape, b.N, len(b.Indptr), len(b.Indices), len(b.Values)))
		}
		for i := 0; i < b.N; i++ {
			lo, hi := b.Indptr[i], b.Indptr[i+1]
			if lo > hi {
				return fmt.Errorf("model: sparse row %d: indptr decreases (%d > %d)", i, lo, hi)
			}
			for _, j := range b.Indices[lo:hi] {
				if j < 0 || int(j) >= d {
					return fmt.Errorf("model: sparse row %d: feature index %d outside [0,%d)", i, j, d)
				}
			}
		}
	} else if len(b.X) != b.N*d {
		panic(fmt.Errorf("%w: dense batch of %d rows × %d features has %d values", ErrShape, b.N, d, len(b.X)))
	}
	if !needY {
		return nil
	}
	if len(b.Y) != b.N*m.LabelWidth() {
		panic(fmt.Errorf("%w: batch of %d rows has %d labels, want %d per row", ErrShape, b.N, len(b.Y), m.LabelWidth()))
	}
	if m.Classifier() {
		k := float32(m.cfg.Outputs)
		for i, y := range b.Y {
			if !(y >= 0 && y < k) || y != float32(int(y)) {
				return fmt.Errorf("model: row %d: label %v is not a class index in [0,%d)", i, y, m.cfg.Outputs)
			}
		}
	}
	return nil
}

// densify writes the n×d dense form of the sparse batch b into dst.
func densify(dst []float32, b Batch, d int) {
	clear(dst)
	for i := 0; i < b.N; i++ {
		row := dst[i*d : (i+1)*d]
		for p := b.Indptr[i]; p < b.Indptr[i+1]; p++ {
			row[b.Indices[p]] = b.Values[p]
		}
	}
}
