package artifact

import (
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/lightbeam-ml/lightbeam/model"
)

// Artifact is a decoded artifact file.
type Artifact struct {
	Version int
	Meta    map[string]string
	Tensors []Tensor
	// Sizes[i] is the byte breakdown of Tensors[i]'s record.
	Sizes []Sizes
	// HeaderBytes counts the magic, version, metadata and tensor count;
	// Size is the whole file, the 4-byte CRC included.
	HeaderBytes, Size int
}

// Sizes is the byte breakdown of one tensor record.
type Sizes struct {
	Header int // name, shape, encoding
	Side   int // dense values, scales, block scales or codebook
	Index  int // relative-index stream of a sparse tensor
	Codes  int // code stream
}

// Total is the size of the record.
func (s Sizes) Total() int { return s.Header + s.Side + s.Index + s.Codes }

// Tensor returns the tensor called name, or nil.
func (a *Artifact) Tensor(name string) *Tensor {
	for i := range a.Tensors {
		if a.Tensors[i].Name == name {
			return &a.Tensors[i]
		}
	}
	return nil
}

// BitsPerWeight returns the record size of tensor i in bits per element
// of its dense shape (0 for an empty tensor).
func (a *Artifact) BitsPerWeight(i int) float64 {
	n := a.Tensors[i].Len()
	if n == 0 {
		return 0
	}
	return 8 * float64(a.Sizes[i].Total()) / float64(n)
}

// Table returns a per-tensor table of encodings, densities and sizes,
// with totals, for `lightbeam inspect` and compression reports.
func (a *Artifact) Table() string {
	var b strings.Builder
	w := tabwriter.NewWriter(&b, 2, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "tensor\tshape\tencoding\tstored\tdensity\theader\tside\tindex\tcodes\ttotal\tbits/w\t")
	var sum Sizes
	n := 0
	for i := range a.Tensors {
		t, s := &a.Tensors[i], a.Sizes[i]
		density := 1.0
		if t.Len() > 0 {
			density = float64(t.Stored()) / float64(t.Len())
		}
		fmt.Fprintf(w, "%s\t%v\t%s\t%d\t%.2f%%\t%d\t%d\t%d\t%d\t%d\t%.3f\t\n", t.Name, t.Shape, t.Enc,
			t.Stored(), 100*density, s.Header, s.Side, s.Index, s.Codes, s.Total(), a.BitsPerWeight(i))
		sum.Header += s.Header
		sum.Side += s.Side
		sum.Index += s.Index
		sum.Codes += s.Codes
		n += t.Len()
	}
	bits := 0.0
	if n > 0 {
		bits = 8 * float64(a.Size) / float64(n)
	}
	fmt.Fprintf(w, "file (+%d header/metadata, 4 CRC)\t\t\t\t\t%d\t%d\t%d\t%d\t%d\t%.3f\t\n",
		a.HeaderBytes, sum.Header, sum.Side, sum.Index, sum.Codes, a.Size, bits)
	w.Flush()
	return b.String()
}

// Model returns the lightbeam model that the artifact holds, rebuilt from
// its metadata (the architecture and layer sizes that compress records),
// and its dequantized parameters in the model's layout. source names the
// file in errors.
func (a *Artifact) Model(source string) (*model.Model, []float32, error) {
	ts := make([]model.Tensor, len(a.Tensors))
	for i := range a.Tensors {
		t := &a.Tensors[i]
		ts[i] = model.Tensor{Name: t.Name, Shape: t.Shape, Data: t.Dequantize()}
	}
	m, params, err := model.FromTensors(ts, a.Meta)
	if err != nil {
		return nil, nil, fmt.Errorf("artifact: %s: %w", source, err)
	}
	return m, params, nil
}
