package infer

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/lightbeam-ml/lightbeam/accel"
	"github.com/lightbeam-ml/lightbeam/compress/artifact"
	"github.com/lightbeam-ml/lightbeam/model"
)

// Kernel names how a layer multiplies by its weights.
type Kernel string

// The kernels.
const (
	// KernelDense dequantizes the weights to float32 and runs Gemm: the baseline.
	KernelDense Kernel = "dense"
	// KernelSparse runs GemmCSR on weights stored sparse; others run KernelDense.
	KernelSparse Kernel = "sparse"
	// KernelInt8 runs GemmInt8 on int8 weights (per-row scales, or one scale
	// for the tensor, which is the same with every row's scale equal);
	// others run KernelSparse.
	KernelInt8 Kernel = "int8"
	// KernelAuto times, at Load, every kernel that applies to each layer on a
	// batch of autoRows rows and keeps the fastest for that layer.
	KernelAuto Kernel = "auto"
)

// Batch is the number of rows Predict runs through the layers at once.
const Batch = 1024

// autoRows is the batch KernelAuto times each candidate on, and autoReps the
// number of timed runs it keeps the best of.
const (
	autoRows = Batch
	autoReps = 5
)

// Predictor computes a model's logits on one accel backend from weights it
// holds there. It is not safe for concurrent use.
type Predictor struct {
	be     accel.Backend
	m      *model.Model
	layers []layer

	rows int         // row capacity of x and acts
	x    accel.Buf   // rows×inputs
	acts []accel.Buf // per layer: rows×out (the last holds logits)
}

// layer is one fully connected layer, Z = H·Wᵀ + b, with W [out,in] held
// as w (KernelDense) or a (KernelSparse, KernelInt8).
type layer struct {
	name    string // e.g. "fc1"
	in, out int
	relu    bool
	kernel  Kernel
	w       accel.Buf
	a       accel.Matrix
	bias    accel.Buf
}

func newPredictor(be accel.Backend, m *model.Model) *Predictor {
	p := &Predictor{be: be, m: m}
	layout := m.Layout()
	for i := 0; i < len(layout); i += 2 {
		w := layout[i]
		p.layers = append(p.layers, layer{
			name: strings.TrimSuffix(w.Name, ".weight"),
			out:  w.Shape[0], in: w.Shape[1],
			relu: i+2 < len(layout), // every layer but the output
		})
	}
	return p
}

// NewDense returns the predictor of the uncompressed model m with
// parameters params, every layer on KernelDense: the "before" that a
// compressed artifact's Predictor is timed against.
func NewDense(be accel.Backend, m *model.Model, params []float32) (*Predictor, error) {
	if len(params) != m.NumParams() {
		return nil, fmt.Errorf("infer: %s has %d parameters, got %d", m, m.NumParams(), len(params))
	}
	p := newPredictor(be, m)
	ts := m.Tensors(params)
	for i := range p.layers {
		l := &p.layers[i]
		l.kernel = KernelDense
		l.w = upload(be, ts[2*i].Data)
		l.bias = upload(be, ts[2*i+1].Data)
	}
	return p, nil
}

// Load returns the predictor of model m with the weights of artifact a,
// run with kernel ("" means KernelAuto). Every tensor of m's layout must be in a
// with the same shape; a missing tensor or a different shape is an error.
func Load(be accel.Backend, m *model.Model, a *artifact.Artifact, kernel Kernel) (*Predictor, error) {
	if kernel == "" {
		kernel = KernelAuto
	}
	if !slices.Contains([]Kernel{KernelDense, KernelSparse, KernelInt8, KernelAuto}, kernel) {
		return nil, fmt.Errorf("infer: unknown kernel %q (want dense, sparse, int8 or auto)", kernel)
	}
	// Check every tensor before uploading any.
	layout := m.Layout()
	tensors := make([]*artifact.Tensor, len(layout))
	for i, spec := range layout {
		t := a.Tensor(spec.Name)
		if t == nil {
			return nil, fmt.Errorf("infer: the artifact has no tensor %q, which %s needs", spec.Name, m)
		}
		if !slices.Equal(t.Shape, spec.Shape) {
			return nil, fmt.Errorf("infer: tensor %q has shape %v in the artifact, %s needs %v", spec.Name, t.Shape, m, spec.Shape)
		}
		tensors[i] = t
	}
	p := newPredictor(be, m)
	for i := range p.layers {
		l := &p.layers[i]
		w := tensors[2*i]
		l.bias = upload(be, tensors[2*i+1].Dequantize())
		cands := candidates(w)
		switch kernel {
		case KernelAuto:
			var err error
			if l.kernel, err = p.fastest(l, w, cands); err != nil {
				p.Close()
				return nil, err
			}
		case KernelInt8:
			l.kernel = cands[len(cands)-1] // int8, else sparse, else dense
		case KernelSparse:
			l.kernel = KernelDense
			if slices.Contains(cands, KernelSparse) {
				l.kernel = KernelSparse
			}
		default:
			l.kernel = KernelDense
		}
		if l.w == nil && l.a == nil {
			l.set(be, w, l.kernel)
		}
	}
	return p, nil
}

// candidates lists the kernels that apply to weight tensor t: KernelDense, then
// KernelSparse if t is stored sparse, then KernelInt8 if its codes are int8 with
// per-row or per-tensor scales.
func candidates(t *artifact.Tensor) []Kernel {
	c := []Kernel{KernelDense}
	if t.Enc.Sparse {
		c = append(c, KernelSparse)
	}
	if t.Enc.Kind == artifact.Int8 || t.Enc.Kind == artifact.Int8Tensor {
		c = append(c, KernelInt8)
	}
	return c
}

// set uploads weight tensor t to l in the form kernel needs.
func (l *layer) set(be accel.Backend, t *artifact.Tensor, kernel Kernel) {
	switch kernel {
	case KernelDense:
		l.w = upload(be, t.Dequantize())
	case KernelSparse:
		rowPtr, colIdx, values := t.CSR()
		l.a = be.UploadCSR(l.out, l.in, rowPtr, colIdx, values)
	case KernelInt8:
		q := make([]int8, l.out*l.in)
		if t.Enc.Sparse {
			for i, p := range t.Positions {
				q[p] = int8(t.Codes[i])
			}
		} else {
			for i, c := range t.Codes {
				q[i] = int8(c)
			}
		}
		scales := t.Scales
		if t.Enc.Kind == artifact.Int8Tensor {
			scales = make([]float32, l.out)
			for j := range scales {
				scales[j] = t.Scales[0]
			}
		}
		l.a = be.UploadInt8(l.out, l.in, q, scales)
	}
}

// free releases l's weights (not its bias).
func (l *layer) free(be accel.Backend) {
	if l.w != nil {
		be.Free(l.w)
	}
	if l.a != nil {
		be.FreeMatrix(l.a)
	}
	l.w, l.a = nil, nil
}

// fastest uploads every candidate kernel's weights for l, times
// Z = H·Wᵀ on autoRows random rows with each, in turns (so that a burst
// of load on a shared machine hits every candidate alike), keeps each
// one's best of autoReps after a warm-up, and leaves l holding the
// fastest one's weights.
func (p *Predictor) fastest(l *layer, t *artifact.Tensor, cands []Kernel) (Kernel, error) {
	if len(cands) == 1 {
		return cands[0], nil
	}
	be := p.be
	r := rand.New(rand.NewPCG(uint64(l.in), uint64(l.out)))
	host := make([]float32, autoRows*l.in)
	for i := range host {
		host[i] = float32(r.Float64())
	}
	h, z := upload(be, host), be.Alloc(autoRows*l.out)
	defer func() { be.Free(h); be.Free(z) }()
	trial := make([]layer, len(cands))
	took := make([]time.Duration, len(cands))
	defer func() {
		for i := range trial {
			trial[i].free(be)
		}
	}()
	for i, k := range cands {
		trial[i] = *l
		trial[i].w, trial[i].a, trial[i].bias = nil, nil, nil
		trial[i].set(be, t, k)
		trial[i].kernel = k
	}
	for rep := range autoReps + 1 {
		for i := range trial {
			start := time.Now()
			p.product(&trial[i], autoRows, h, z)
			if err := be.Sync(); err != nil {
				return "", fmt.Errorf("infer: timing the %s kernel of %s on %s backend: %w", cands[i], l.name, be.Name(), err)
			}
			if d := time.Since(start); rep == 1 || rep > 1 && d < took[i] {
				took[i] = d
			}
		}
	}
	best := 0
	for i := range took {
		if took[i] < took[best] {
			best = i
		}
	}
	if l.kernel != cands[best] {
		l.free(be)
		l.set(be, t, cands[best])
	}
	return cands[best], nil
}

func upload(be accel.Backend, v []float32) accel.Buf {
	b := be.Alloc(len(v))
	be.Upload(b, v)
	return b
}

// Kernel returns the kernel each layer runs, input layer first.
func (p *Predictor) Kernel() []Kernel {
	ks := make([]Kernel, len(p.layers))
	for i, l := range p.layers {
		ks[i] = l.kernel
	}
	return ks
}

// String describes the predictor's layers, e.g. "fc1=sparse fc2=sparse
// fc3=dense".
func (p *Predictor) String() string {
	parts := make([]string, len(p.layers))
	for i, l := range p.layers {
		parts[i] = l.name + "=" + string(l.kernel)
	}
	return strings.Join(parts, " ")
}

// Bytes returns the memory the weights and biases take on the backend.
func (p *Predictor) Bytes() int {
	n := 0
	for _, l := range p.layers {
		n += 4 * l.bias.Len()
		if l.w != nil {
			n += 4 * l.w.Len()
		}
		if l.a != nil {
			n += l.a.Bytes()
		}
	}
	return n
}

// reserve grows the batch buffers to hold n rows.
func (p *Predictor) reserve(n int) {
	if n <= p.rows {
		return
	}
	p.freeBatch()
	p.rows = n
	p.x = p.be.Alloc(n * p.m.Inputs())
	for _, l := range p.layers {
		p.acts = append(p.acts, p.be.Alloc(n*l.out))
	}
}

func (p *Predictor) freeBatch() {
	if p.rows == 0 {
		return
	}
	p.be.Free(p.x)
	for _, a := range p.acts {
		p.be.Free(a)
	}
	p.x, p.acts, p.rows = nil, nil, 0
}

// product computes z = h·Wᵀ for n rows with l's kernel.
func (p *Predictor) product(l *layer, n int, h, z accel.Buf) {
	switch l.kernel {
	case KernelDense:
		p.be.Gemm(false, true, n, l.out, l.in, 1, h, l.in, l.w, l.in, 0, z, l.out)
	case KernelSparse:
		p.be.GemmCSR(n, h, l.in, l.a, 0, z, l.out)
	case KernelInt8:
		p.be.GemmInt8(n, h, l.in, l.a, 0, z, l.out)
	}
}

// Predict writes the logits (outputs for Linear) of the rows of x
// (rows×inputs, row-major) into logits (rows×outputs), Batch rows at a
// time. It panics if x or logits has the wrong length and returns the
// backend's error if a kernel failed.
func (p *Predictor) Predict(x []float32, rows int, logits []float32) error {
	d, k := p.m.Inputs(), p.m.Outputs()
	if rows < 0 || len(x) != rows*d || len(logits) != rows*k {
		panic(fmt.Errorf("%w: infer: Predict of %d rows of %s from %d inputs into %d logits", model.ErrShape, rows, p.m, len(x), len(logits)))
	}
	p.reserve(min(rows, Batch))
	be := p.be
	for lo := 0; lo < rows; lo += Batch {
		n := min(Batch, rows-lo)
		be.Upload(p.x, x[lo*d:(lo+n)*d])
		h := p.x
		for i := range p.layers {
			l := &p.layers[i]
			z := p.acts[i]
			p.product(l, n, h, z)
			be.AddBias(n, l.out, z, l.bias)
			if l.relu {
				be.ReLU(n*l.out, z)
			}
			h = z
		}
		be.Download(logits[lo*k:(lo+n)*k], h)
	}
	if err := be.Sync(); err != nil {
		return fmt.Errorf("infer: predict on %s backend: %w", be.Name(), err)
	}
	return nil
}

// Close releases the predictor's buffers (not the backend) and returns the
// backend's pending error, if any.
func (p *Predictor) Close() error {
	p.freeBatch()
	for i := range p.layers {
		l := &p.layers[i]
		l.free(p.be)
		if l.bias != nil {
			p.be.Free(l.bias)
			l.bias = nil
		}
	}
	return p.be.Sync()
}

// Latency returns the median wall time, in milliseconds, of reps runs of
// Predict over the rows of x (rows×inputs) after one warm-up run: the
// inference time the compress report gives for 10,000 rows.
func Latency(p *Predictor, x []float32, rows int, reps int) (ms float64, err error) {
	if reps < 1 {
		return 0, fmt.Errorf("infer: Latency with %d reps", reps)
	}
	logits := make([]float32, rows*p.m.Outputs())
	times := make([]float64, 0, reps)
	for rep := range reps + 1 {
		start := time.Now()
		if err := p.Predict(x, rows, logits); err != nil {
			return 0, err
		}
		if rep > 0 {
			times = append(times, time.Since(start).Seconds()*1e3)
		}
	}
	slices.Sort(times)
	return times[len(times)/2], nil
}
