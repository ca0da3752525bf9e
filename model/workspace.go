package model

import (
	"fmt"
	"math"
	"unsafe"

	"github.com/lightbeam-ml/lightbeam/accel"
)

// Workspace runs one Model on one accel.Backend. It owns the backend
// buffers for parameters, gradients and one batch of activations, and
// reuses them across calls: they grow to the largest batch seen and are
// released by Close. A Workspace is not safe for concurrent use; give each
// goroutine (each DoFn instance) its own.
//
// Per call the parameters and the batch are uploaded once, every kernel
// runs on backend buffers, and only the gradient (or the n×k outputs)
// comes back.
type Workspace struct {
	m  *Model
	be accel.Backend

	params, grad accel.Buf
	w, b         []accel.Buf // per layer: views of params
	gw, gb       []accel.Buf // per layer: views of grad

	rows   int         // row capacity of the batch buffers
	x      accel.Buf   // rows×d
	y      accel.Buf   // rows×LabelWidth
	acts   []accel.Buf // per layer: rows×out (the last holds logits)
	deltas []accel.Buf // per hidden layer: rows×out, ∂loss/∂activation
	pred   accel.Buf   // rows: argmax
	dot    accel.Buf   // 1 value: squared-loss sum

	hostGrad  []float32 // the gradient: a host view of grad, or a copy of it
	hostDense []float32 // densified sparse batch
	hostPred  []float32

	hostParams []float32 // a host view of params; nil on a GPU

	reg        Regularization
	masks      []accel.Buf // dropout masks, rows×width (regularize.go)
	hostMask   []float32
	hostLogits []float32
}

// NewWorkspace allocates the parameter and gradient buffers of m on be.
func NewWorkspace(m *Model, be accel.Backend) *Workspace {
	ws := &Workspace{m: m, be: be, params: be.Alloc(m.n), grad: be.Alloc(m.n), dot: be.Alloc(1)}
	for _, l := range m.layers {
		ws.w = append(ws.w, be.Slice(ws.params, l.w, l.out*l.in))
		ws.b = append(ws.b, be.Slice(ws.params, l.b, l.out))
		ws.gw = append(ws.gw, be.Slice(ws.grad, l.w, l.out*l.in))
		ws.gb = append(ws.gb, be.Slice(ws.grad, l.b, l.out))
	}
	ws.hostParams = accel.HostView(ws.params)
	if ws.hostGrad = accel.HostView(ws.grad); ws.hostGrad == nil {
		ws.hostGrad = make([]float32, m.n)
	}
	return ws
}

// Params returns the workspace's own parameter vector when the backend
// keeps it in host memory, and nil otherwise (a GPU). Training in place,
// with Gradient or GradientView of this slice and optimizer steps on it,
// saves copying the parameters to the backend at every call.
func (ws *Workspace) Params() []float32 { return ws.hostParams }

// Model returns the workspace's model.
func (ws *Workspace) Model() *Model { return ws.m }

// Close releases the workspace's backend buffers (not the backend).
func (ws *Workspace) Close() {
	ws.freeBatch()
	ws.be.Free(ws.params)
	ws.be.Free(ws.grad)
	ws.be.Free(ws.dot)
	ws.params, ws.grad, ws.dot = nil, nil, nil
}

func (ws *Workspace) freeBatch() {
	if ws.rows == 0 {
		return
	}
	ws.be.Free(ws.x)
	ws.be.Free(ws.y)
	ws.be.Free(ws.pred)
	for _, a := range ws.acts {
		ws.be.Free(a)
	}
	for _, d := range ws.deltas {
		ws.be.Free(d)
	}
	for _, mk := range ws.masks {
		if mk != nil {
			ws.be.Free(mk)
		}
	}
	ws.acts, ws.deltas, ws.masks, ws.rows = nil, nil, nil, 0
}

// reserve grows the batch buffers to hold n rows.
func (ws *Workspace) reserve(n int) {
	if n <= ws.rows {
		return
	}
	ws.freeBatch()
	be, m := ws.be, ws.m
	ws.rows = n
	ws.x = be.Alloc(n * m.cfg.Inputs)
	ws.y = be.Alloc(n * m.LabelWidth())
	ws.pred = be.Alloc(n)
	for i, l := range m.layers {
		ws.acts = append(ws.acts, be.Alloc(n*l.out))
		if i+1 < len(m.layers) {
			ws.deltas = append(ws.deltas, be.Alloc(n*l.out))
		}
	}
	ws.hostPred = make([]float32, n)
	ws.hostDense = nil
}

// load uploads params and the batch's features (and labels when withY),
// and runs the forward pass, with dropout when training. It returns the
// n×k logits (or predictions) and the dropout masks (nil without).
func (ws *Workspace) load(params []float32, b Batch, withY, training bool) (accel.Buf, []accel.Buf) {
	m, be, n := ws.m, ws.be, b.N
	ws.reserve(n)
	if ws.hostParams == nil || unsafe.SliceData(params) != unsafe.SliceData(ws.hostParams) {
		be.Upload(ws.params, params)
	}
	d := m.cfg.Inputs
	if b.Sparse() {
		if cap(ws.hostDense) < ws.rows*d {
			ws.hostDense = make([]float32, ws.rows*d)
		}
		dense := ws.hostDense[:n*d]
		densify(dense, b, d)
		be.Upload(ws.x, dense)
	} else {
		be.Upload(ws.x, b.X)
	}
	if withY {
		be.Upload(ws.y, b.Y)
	}
	var masks []accel.Buf
	if training && ws.reg.dropout() {
		masks = ws.dropoutMasks(b)
	}
	in := be.Slice(ws.x, 0, n*d)
	if masks != nil && masks[0] != nil {
		be.ApplyMask(n*d, in, masks[0])
	}
	for i, l := range m.layers {
		z := be.Slice(ws.acts[i], 0, n*l.out)
		// z = in·Wᵀ + b
		be.Gemm(false, true, n, l.out, l.in, 1, in, l.in, ws.w[i], l.in, 0, z, l.out)
		be.AddBias(n, l.out, z, ws.b[i])
		if l.relu {
			be.ReLU(n*l.out, z)
			if masks != nil && masks[i+1] != nil {
				be.ApplyMask(n*l.out, z, masks[i+1])
			}
		}
		in = z
	}
	return in, masks
}

// outputDelta turns the n×k outputs z into ∂loss/∂z in place and returns
// the summed loss over the batch:
//
//	softmax:  loss = −Σ_i log softmax(z_i)[y_i],   ∂/∂z = softmax(z) − onehot(y)
//	linear:   loss = Σ_i ‖z_i − y_i‖²,             ∂/∂z = 2(z − y)
func (ws *Workspace) outputDelta(z accel.Buf, n int) float64 {
	be, k := ws.be, ws.m.cfg.Outputs
	if ws.m.Classifier() {
		return be.SoftmaxXent(n, k, z, be.Slice(ws.y, 0, n), z)
	}
	ws.residual(z, n)
	be.Scal(n*k, 2, z)
	return ws.sumSquares(z, n*k)
}

// residual sets z −= y over the n×k outputs.
func (ws *Workspace) residual(z accel.Buf, n int) {
	k := ws.m.cfg.Outputs
	ws.be.Axpy(n*k, -1, ws.be.Slice(ws.y, 0, n*k), z)
}

// sumSquares returns Σ r[i]² / 4 for the doubled residual r = 2(z−y) held in
// a buffer of length nk; it is Σ (z−y)².
func (ws *Workspace) sumSquares(r accel.Buf, nk int) float64 {
	var out [1]float32
	ws.be.Gemv(false, 1, nk, 0.25, r, nk, r, 0, ws.dot)
	ws.be.Download(out[:], ws.dot)
	return float64(out[0])
}

// Gradient adds to grad the gradient of the summed loss over the batch
// with respect to params, and returns that summed loss. It adds sums, not
// means, so that shards' partial gradients add up; the trainer divides by
// the global batch size.
//
//	grad += ∂/∂params Σ_{i<n} loss(f(params, x_i), y_i)
//
// It panics when params, grad or the batch have the wrong shape, and
// returns an error for data it cannot use (a label that is not a class
// index, a sparse index out of range), leaving grad unchanged.
func (ws *Workspace) Gradient(params []float32, b Batch, grad []float32) (float64, error) {
	ws.m.checkParams(grad)
	g, loss, err := ws.GradientView(params, b)
	if err != nil {
		return 0, err
	}
	for i, v := range g {
		grad[i] += v
	}
	return loss, nil
}

// GradientView is Gradient into memory the workspace owns: it returns the
// gradient of the summed loss (not added to anything) and the loss. The
// slice is valid until the next call; the caller may change it. On a host
// backend it is the backend's own buffer, so nothing is copied.
func (ws *Workspace) GradientView(params []float32, b Batch) ([]float32, float64, error) {
	m, be, n := ws.m, ws.be, b.N
	m.checkParams(params)
	if err := m.check(b, true); err != nil {
		return nil, 0, err
	}
	if n == 0 {
		clear(ws.hostGrad)
		return ws.hostGrad, 0, nil
	}
	z, masks := ws.load(params, b, true, true)
	var loss float64
	if ws.reg.Distill > 0 {
		loss = ws.distillDelta(z, b)
	} else {
		loss = ws.outputDelta(z, n)
	}

	// Backward, last layer first. delta is ∂loss/∂(layer output), n×out.
	delta := z
	for i := len(m.layers) - 1; i >= 0; i-- {
		l := m.layers[i]
		var in accel.Buf
		if i == 0 {
			in = be.Slice(ws.x, 0, n*l.in)
		} else {
			in = be.Slice(ws.acts[i-1], 0, n*l.in)
		}
		// dW = δᵀ·in,  db = Σ_rows δ
		be.Gemm(true, false, l.out, l.in, n, 1, delta, l.out, in, l.in, 0, ws.gw[i], l.in)
		be.ColSum(n, l.out, delta, ws.gb[i])
		if i == 0 {
			break
		}
		// δ_in = δ·W, masked where the ReLU was off (and, under dropout,
		// where the unit was dropped; kept units scale by 1/(1−p)).
		prev := be.Slice(ws.deltas[i-1], 0, n*l.in)
		be.Gemm(false, false, n, l.in, l.out, 1, delta, l.out, ws.w[i], l.in, 0, prev, l.in)
		if masks != nil && masks[i] != nil {
			be.ApplyMask(n*l.in, prev, masks[i])
		}
		be.ReLUGrad(n*l.in, prev, in)
		delta = prev
	}
	if accel.HostView(ws.grad) == nil {
		be.Download(ws.hostGrad, ws.grad)
	}
	if err := be.Sync(); err != nil {
		return nil, 0, fmt.Errorf("model: gradient on %s backend: %w", be.Name(), err)
	}
	return ws.hostGrad, loss, nil
}

// Evaluate returns the summed loss over the batch and, for classifiers, the
// number of rows whose most probable class is the label (0 for Linear).
func (ws *Workspace) Evaluate(params []float32, b Batch) (lossSum float64, correct int, err error) {
	return ws.EvaluateClasses(params, b, nil)
}

// EvaluateClasses is Evaluate that also writes, for classifiers, each
// row's most probable class (the first of equal logits) into classes
// when it is not nil: the confusion counts come from the same forward pass.
func (ws *Workspace) EvaluateClasses(params []float32, b Batch, classes []int) (lossSum float64, correct int, err error) {
	m, be, n := ws.m, ws.be, b.N
	m.checkParams(params)
	if err := m.check(b, true); err != nil {
		return 0, 0, err
	}
	if n == 0 {
		return 0, 0, nil
	}
	z, _ := ws.load(params, b, true, false)
	if m.Classifier() {
		be.Argmax(n, m.cfg.Outputs, z, ws.pred)
		be.Download(ws.hostPred[:n], ws.pred)
		for i, p := range ws.hostPred[:n] {
			if p == b.Y[i] {
				correct++
			}
			if classes != nil {
				classes[i] = int(p)
			}
		}
	}
	lossSum = ws.outputDelta(z, n)
	if err := be.Sync(); err != nil {
		return 0, 0, fmt.Errorf("model: evaluate on %s backend: %w", be.Name(), err)
	}
	return lossSum, correct, nil
}

// Predict writes the model's outputs for the batch's rows into out (n×k,
// row-major): class probabilities for classifiers, predicted targets for
// Linear. Labels are not needed.
func (ws *Workspace) Predict(params []float32, b Batch, out []float32) error {
	m, n, k := ws.m, b.N, ws.m.cfg.Outputs
	if err := ws.Logits(params, b, out); err != nil {
		return err
	}
	if m.Classifier() {
		for i := 0; i < n; i++ {
			SoftmaxRow(out[i*k : (i+1)*k])
		}
	}
	return nil
}

// Logits writes the model's raw outputs for the batch's rows into out
// (n×k, row-major): the logits before the softmax for classifiers (a
// teacher's, for distillation). Labels are not needed; no dropout.
func (ws *Workspace) Logits(params []float32, b Batch, out []float32) error {
	m, be, n, k := ws.m, ws.be, b.N, ws.m.cfg.Outputs
	m.checkParams(params)
	if len(out) != n*k {
		panic(fmt.Errorf("%w: outputs of %d rows × %d into %d values", ErrShape, n, k, len(out)))
	}
	if err := m.check(b, false); err != nil {
		return err
	}
	if n == 0 {
		return nil
	}
	z, _ := ws.load(params, b, false, false)
	be.Download(out, z)
	if err := be.Sync(); err != nil {
		return fmt.Errorf("model: forward pass on %s backend: %w", be.Name(), err)
	}
	return nil
}

// SoftmaxRow replaces the logits z in place by softmax(z), computed stably
// in float64: p_j = exp(z_j − max z) / Σ_l exp(z_l − max z).
func SoftmaxRow(z []float32) {
	mx := math.Inf(-1)
	for _, v := range z {
		mx = math.Max(mx, float64(v))
	}
	var s float64
	for _, v := range z {
		s += math.Exp(float64(v) - mx)
	}
	for j, v := range z {
		z[j] = float32(math.Exp(float64(v)-mx) / s)
	}
}
