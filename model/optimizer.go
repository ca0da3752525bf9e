package model

import (
	"fmt"
	"math"
	"strconv"

	"github.com/lightbeam-ml/lightbeam/internal/par"
)

// Method names an optimization method.
type Method string

// The methods.
const (
	SGD      Method = "sgd"      // w ← w − η·g
	Momentum Method = "momentum" // heavy ball, or Nesterov with OptimizerConfig.Nesterov
	Adam     Method = "adam"
)

// Objective says which way the optimizer moves.
type Objective string

// The objectives. Maximize is gradient ascent on the gradient it is given;
// for a model the log-likelihood is ℓ = −loss (cross-entropy is −log p;
// squared loss is a Gaussian log-likelihood up to scale and a constant), so
//
//	ascent on ℓ with ∇ℓ = −∇loss   ≡   descent on loss with ∇loss
//
// and both produce the same parameters bit for bit.
const (
	Minimize Objective = "minimize"
	Maximize Objective = "maximize"
)

// Sign is the factor that turns the objective's gradient into the loss
// gradient the update rules descend: +1 for Minimize, −1 for Maximize.
func (o Objective) Sign() float64 {
	if o == Maximize {
		return -1
	}
	return 1
}

// OptimizerConfig configures an Optimizer.
type OptimizerConfig struct {
	// Method is the update rule. Optional. Defaults to SGD.
	Method Method
	// Schedule gives the learning rate per step. Required.
	Schedule Schedule
	// Momentum μ in [0,1) for Momentum. Optional. Defaults to 0.9.
	Momentum float64
	// Nesterov selects Nesterov's look-ahead form of Momentum.
	Nesterov bool
	// Beta1, Beta2, Epsilon are Adam's constants. Optional. Default to
	// 0.9, 0.999 and 1e-8.
	Beta1, Beta2, Epsilon float64
	// L2 λ₂ ≥ 0 adds λ₂·w to the gradient (coupled weight decay).
	L2 float64
	// L1 λ₁ ≥ 0 applies the proximal soft-threshold after each update:
	// w ← sign(w)·max(|w| − η·λ₁, 0).
	L1 float64
	// ClipNorm c > 0 rescales the gradient to norm c when its Euclidean
	// norm exceeds c. Optional. Defaults to 0, no clipping.
	ClipNorm float64
	// Objective is Minimize (gradients of a loss) or Maximize (gradients
	// of a log-likelihood or other objective to raise). Optional.
	// Defaults to Minimize.
	Objective Objective
}

func (c *OptimizerConfig) defaults() {
	if c.Method == "" {
		c.Method = SGD
	}
	if c.Objective == "" {
		c.Objective = Minimize
	}
	if c.Schedule.Kind == "" {
		c.Schedule.Kind = Constant
	}
	if c.Method == Momentum && c.Momentum == 0 {
		c.Momentum = 0.9
	}
	if c.Beta1 == 0 {
		c.Beta1 = 0.9
	}
	if c.Beta2 == 0 {
		c.Beta2 = 0.999
	}
	if c.Epsilon == 0 {
		c.Epsilon = 1e-8
	}
}

// Validate reports a configuration that cannot be used (after defaults).
func (c OptimizerConfig) Validate() error {
	c.defaults()
	switch c.Method {
	case SGD, Momentum, Adam:
	default:
		return fmt.Errorf("model: unknown optimizer %q (want sgd, momentum or adam)", c.Method)
	}
	if c.Objective != Minimize && c.Objective != Maximize {
		return fmt.Errorf("model: unknown objective %q (want minimize or maximize)", c.Objective)
	}
	if err := c.Schedule.Validate(); err != nil {
		return err
	}
	if c.Momentum < 0 || c.Momentum >= 1 {
		return fmt.Errorf("model: momentum %v outside [0,1)", c.Momentum)
	}
	if c.Beta1 < 0 || c.Beta1 >= 1 || c.Beta2 < 0 || c.Beta2 >= 1 || !(c.Epsilon > 0) {
		return fmt.Errorf("model: adam needs betas in [0,1) and epsilon > 0, got %v, %v, %v", c.Beta1, c.Beta2, c.Epsilon)
	}
	if !(c.L1 >= 0) || !(c.L2 >= 0) || !(c.ClipNorm >= 0) {
		return fmt.Errorf("model: l1 %v, l2 %v and clip norm %v must be ≥ 0", c.L1, c.L2, c.ClipNorm)
	}
	return nil
}

// Optimizer updates a flat parameter vector on the host. Its state (step
// count, momentum or Adam moments) round-trips through State and
// LoadState, so a resumed run continues exactly where it stopped.
type Optimizer struct {
	cfg  OptimizerConfig
	n    int
	step int64
	m, v []float32 // momentum buffer or Adam's first moment; Adam's second moment
}

// NewOptimizer returns an optimizer for n parameters.
func NewOptimizer(cfg OptimizerConfig, n int) (*Optimizer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.defaults()
	o := &Optimizer{cfg: cfg, n: n}
	switch cfg.Method {
	case Momentum:
		o.m = make([]float32, n)
	case Adam:
		o.m = make([]float32, n)
		o.v = make([]float32, n)
	}
	return o, nil
}

// Config returns the configuration with defaults filled in.
func (o *Optimizer) Config() OptimizerConfig { return o.cfg }

// Steps returns the number of steps taken.
func (o *Optimizer) Steps() int64 { return o.step }

// LR returns the learning rate the next step will use.
func (o *Optimizer) LR() float64 { return o.cfg.Schedule.At(o.step) }

// Step updates params in place from grad, the gradient of the objective at
// params averaged over the batch (divide a summed gradient by the batch
// size first, or let StepScaled do it). grad is not modified.
//
// With σ = Objective.Sign(), s the clipping factor min(1, c/‖grad‖) and
// η the scheduled rate, each parameter's loss gradient is
//
//	g = σ·s·grad + λ₂·w
//
// and the update is, for SGD, momentum (heavy ball; Nesterov) and Adam
// (t = step+1):
//
//	w ← w − η·g
//	b ← μ·b + g;  w ← w − η·b;   Nesterov: w ← w − η·(g + μ·b)
//	m ← β₁m + (1−β₁)g;  v ← β₂v + (1−β₂)g²;  w ← w − η·m̂/(√v̂ + ε),
//	    m̂ = m/(1−β₁ᵗ),  v̂ = v/(1−β₂ᵗ)
//
// followed, when λ₁ > 0, by w ← sign(w)·max(|w| − η·λ₁, 0). The arithmetic
// is float64 per parameter, rounded to float32 once.
func (o *Optimizer) Step(params, grad []float32) { o.StepScaled(params, grad, 1) }

// StepScaled is Step with grad[i]·pre, rounded to float32, in place of
// grad[i]: the division of a summed gradient by the batch size folded
// into the step's one pass over the parameters. The result is the same,
// bit for bit, as scaling grad first and calling Step.
func (o *Optimizer) StepScaled(params, grad []float32, pre float32) {
	if len(params) != o.n || len(grad) != o.n {
		panic(fmt.Errorf("%w: optimizer for %d parameters stepped with %d params and %d grads", ErrShape, o.n, len(params), len(grad)))
	}
	c := &o.cfg
	u := update{o: o, params: params, grad: grad, pre: pre, scale: c.Objective.Sign()}
	if c.ClipNorm > 0 {
		var sq float64
		for _, g := range grad {
			g *= pre
			sq += float64(g) * float64(g)
		}
		if norm := math.Sqrt(sq); norm > c.ClipNorm {
			u.scale *= c.ClipNorm / norm
		}
	}
	u.lr = c.Schedule.At(o.step)
	o.step++
	t := float64(o.step)
	u.bc1, u.bc2 = 1-math.Pow(c.Beta1, t), 1-math.Pow(c.Beta2, t)
	u.shrink = u.lr * c.L1
	par.Range(o.n, u.run)
}

// update is one optimizer step over a range of parameters; ranges are
// independent, so they run in parallel and give the same bits in any order.
type update struct {
	o                           *Optimizer
	params, grad                []float32
	pre                         float32
	scale, lr, bc1, bc2, shrink float64
}

func (u *update) run(lo, hi int) {
	c := &u.o.cfg
	p, gr := u.params[lo:hi], u.grad[lo:hi]
	p = p[:len(gr)]
	scale, pre, l2, lr, shrink := u.scale, u.pre, c.L2, u.lr, u.shrink
	switch {
	case c.Method == SGD:
		for i, gi := range gr {
			w := float64(p[i])
			g := scale*float64(gi*pre) + l2*w
			p[i] = prox(w-lr*g, shrink)
		}
	case c.Method == Momentum:
		m, mu, nesterov := u.o.m[lo:hi], c.Momentum, c.Nesterov
		m = m[:len(gr)]
		start := 0
		if nesterov && shrink == 0 {
			start = nesterovVector(p, gr, m, pre, scale, l2, lr, mu)
		}
		for i := start; i < len(gr); i++ {
			gi := gr[i]
			w := float64(p[i])
			g := scale*float64(gi*pre) + l2*w
			b := mu*float64(m[i]) + g
			m[i] = float32(b)
			if nesterov {
				w -= lr * (g + mu*b)
			} else {
				w -= lr * b
			}
			p[i] = prox(w, shrink)
		}
	case c.Method == Adam:
		m, v := u.o.m[lo:hi], u.o.v[lo:hi]
		b1, b2, eps := c.Beta1, c.Beta2, c.Epsilon
		for i, gi := range gr {
			w := float64(p[i])
			g := scale*float64(gi*pre) + l2*w
			mi := b1*float64(m[i]) + (1-b1)*g
			vi := b2*float64(v[i]) + (1-b2)*g*g
			m[i], v[i] = float32(mi), float32(vi)
			w -= lr * (mi / u.bc1) / (math.Sqrt(vi/u.bc2) + eps)
			p[i] = prox(w, shrink)
		}
	}
}

// prox applies L1's soft threshold (when shrink > 0) and rounds to
// float32. Small enough to inline: math.Max is not, and gives the same
// result here (|w| − shrink is never −0; a NaN stays NaN either way).
func prox(w, shrink float64) float32 {
	if shrink > 0 {
		a := math.Abs(w) - shrink
		if a < 0 {
			a = 0
		}
		w = math.Copysign(a, w)
	}
	return float32(w)
}

// Names of the optimizer's state tensors and metadata keys.
const (
	stateMomentum = "optimizer.momentum"
	stateAdamM    = "optimizer.adam.m"
	stateAdamV    = "optimizer.adam.v"
	metaMethod    = "optimizer.method"
	metaStep      = "optimizer.step"
)

// State returns the optimizer's state as named flat tensors (sharing the
// optimizer's memory) and metadata strings (method, step count), ready to
// be written into a checkpoint beside the parameters.
func (o *Optimizer) State() ([]Tensor, map[string]string) {
	var ts []Tensor
	switch o.cfg.Method {
	case Momentum:
		ts = []Tensor{{Name: stateMomentum, Shape: []int{o.n}, Data: o.m}}
	case Adam:
		ts = []Tensor{{Name: stateAdamM, Shape: []int{o.n}, Data: o.m}, {Name: stateAdamV, Shape: []int{o.n}, Data: o.v}}
	}
	return ts, map[string]string{metaMethod: string(o.cfg.Method), metaStep: strconv.FormatInt(o.step, 10)}
}

// LoadState restores what State returned. tensors may hold others (the
// parameters); those not named by the optimizer are ignored.
func (o *Optimizer) LoadState(tensors []Tensor, meta map[string]string) error {
	if m := meta[metaMethod]; m != string(o.cfg.Method) {
		return fmt.Errorf("model: optimizer state is for method %q, not %q", m, o.cfg.Method)
	}
	step, err := strconv.ParseInt(meta[metaStep], 10, 64)
	if err != nil || step < 0 {
		return fmt.Errorf("model: optimizer state has step %q, want an integer ≥ 0", meta[metaStep])
	}
	byName := map[string][]float32{}
	for _, t := range tensors {
		byName[t.Name] = t.Data
	}
	restore := func(name string, dst []float32) error {
		src, ok := byName[name]
		if !ok {
			return fmt.Errorf("model: optimizer state lacks tensor %q", name)
		}
		if len(src) != len(dst) {
			return fmt.Errorf("model: optimizer tensor %q has %d values, want %d", name, len(src), len(dst))
		}
		copy(dst, src)
		return nil
	}
	switch o.cfg.Method {
	case Momentum:
		if err := restore(stateMomentum, o.m); err != nil {
			return err
		}
	case Adam:
		if err := restore(stateAdamM, o.m); err != nil {
			return err
		}
		if err := restore(stateAdamV, o.v); err != nil {
			return err
		}
	}
	o.step = step
	return nil
}
