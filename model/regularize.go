package model

import (
	"fmt"
	"math"

	"github.com/lightbeam-ml/lightbeam/accel"
)

// Regularization is what Workspace.GradientView adds to the plain loss:
// dropout and distillation. The zero value adds nothing. Evaluate,
// EvaluateClasses, Predict and Logits never apply it.
type Regularization struct {
	// InputDropout is the share of each row's input features dropped
	// (set to zero) while training, in [0, 1).
	InputDropout float64
	// Dropout is the share of each hidden layer's units dropped while
	// training, in [0, 1). Kept values are scaled by 1/(1−p) (inverted
	// dropout), so evaluation uses the weights as they are.
	Dropout float64
	// Distill is the weight α of the teacher's soft targets, in [0, 1]:
	// with teacher logits t and student logits s of a row (Batch.Teacher),
	//
	//	loss = (1−α)·CE(y, softmax(s)) + α·T²·KL(softmax(t/T) ‖ softmax(s/T))
	//	∂loss/∂s = (1−α)·(softmax(s) − onehot(y)) + α·T·(softmax(s/T) − softmax(t/T))
	//
	// (Hinton et al. 2015). Classifiers only.
	Distill float64
	// Temperature is T, above 0 when Distill is. Defaults to 1 when zero.
	Temperature float64
}

// Validate reports values out of range.
func (r Regularization) Validate() error {
	switch {
	case !(r.InputDropout >= 0 && r.InputDropout < 1):
		return fmt.Errorf("model: input dropout %v: want a share in [0, 1)", r.InputDropout)
	case !(r.Dropout >= 0 && r.Dropout < 1):
		return fmt.Errorf("model: dropout %v: want a share in [0, 1)", r.Dropout)
	case !(r.Distill >= 0 && r.Distill <= 1):
		return fmt.Errorf("model: distillation weight %v: want α in [0, 1]", r.Distill)
	case !(r.Temperature >= 0) || math.IsInf(r.Temperature, 0):
		return fmt.Errorf("model: temperature %v: want T > 0", r.Temperature)
	}
	return nil
}

func (r Regularization) dropout() bool { return r.InputDropout > 0 || r.Dropout > 0 }

func (r Regularization) temperature() float64 {
	if r.Temperature == 0 {
		return 1
	}
	return r.Temperature
}

// SetRegularization sets how GradientView trains from now on. It returns
// an error for values out of range and for distillation of a model that
// is not a classifier.
func (ws *Workspace) SetRegularization(r Regularization) error {
	if err := r.Validate(); err != nil {
		return err
	}
	if r.Distill > 0 && !ws.m.Classifier() {
		return fmt.Errorf("model: distillation needs a classifier, %s is not one", ws.m)
	}
	ws.reg = r
	return nil
}

// DropoutMask fills dst with one row's inverted-dropout mask for layer
// (0: the inputs, l: the output of hidden layer l): each value is 0 with
// probability p and 1/(1−p) otherwise. The draws come from a SplitMix64
// stream seeded by (seed, layer) alone, so a row with the same seed gets
// the same mask in any batch, shard, runner or backend.
func DropoutMask(dst []float32, seed uint64, layer int, p float64) {
	keep := float32(1 / (1 - p))
	s := seed ^ (uint64(layer+1) * 0xd1b54a32d192ed03)
	for j := range dst {
		s += 0x9e3779b97f4a7c15
		z := s
		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
		z = (z ^ (z >> 27)) * 0x94d049bb133111eb
		z ^= z >> 31
		if float64(z>>11)*0x1p-53 < p {
			dst[j] = 0
		} else {
			dst[j] = keep
		}
	}
}

// dropoutMasks uploads the masks of the batch's n rows: masks[0] for the
// inputs, masks[l] for hidden layer l's outputs (nil where that share is
// 0). Each row's seed is b.Seeds[i].
func (ws *Workspace) dropoutMasks(b Batch) []accel.Buf {
	m, be, n := ws.m, ws.be, b.N
	if len(b.Seeds) != n {
		panic(fmt.Errorf("%w: dropout over %d rows needs one seed per row, got %d", ErrShape, n, len(b.Seeds)))
	}
	sizes := m.Sizes()
	if ws.masks == nil {
		ws.masks = make([]accel.Buf, len(sizes)-1)
	}
	for l := range ws.masks {
		p := ws.reg.Dropout
		if l == 0 {
			p = ws.reg.InputDropout
		}
		if p == 0 {
			continue
		}
		w := sizes[l]
		if ws.masks[l] == nil {
			ws.masks[l] = be.Alloc(ws.rows * w)
		}
		if cap(ws.hostMask) < n*w {
			ws.hostMask = make([]float32, ws.rows*w)
		}
		host := ws.hostMask[:n*w]
		for i := 0; i < n; i++ {
			DropoutMask(host[i*w:(i+1)*w], b.Seeds[i], l, p)
		}
		be.Upload(be.Slice(ws.masks[l], 0, n*w), host)
	}
	return ws.masks
}

// distillDelta is outputDelta under distillation: it turns the n×k student
// logits z into ∂loss/∂z (Regularization.Distill) in place, on the host,
// and returns the summed loss.
func (ws *Workspace) distillDelta(z accel.Buf, b Batch) float64 {
	be, n, k := ws.be, b.N, ws.m.cfg.Outputs
	if len(b.Teacher) != n*k {
		panic(fmt.Errorf("%w: distillation over %d rows × %d classes needs as many teacher logits, got %d", ErrShape, n, k, len(b.Teacher)))
	}
	if cap(ws.hostLogits) < n*k {
		ws.hostLogits = make([]float32, n*k)
	}
	s := ws.hostLogits[:n*k]
	be.Download(s, z)
	a, T := ws.reg.Distill, ws.reg.temperature()
	buf := make([]float64, 6*k)
	p, q, pt, lp, lq, lt := buf[:k], buf[k:2*k], buf[2*k:3*k], buf[3*k:4*k], buf[4*k:5*k], buf[5*k:]
	var loss float64
	for i := 0; i < n; i++ {
		row, t := s[i*k:(i+1)*k], b.Teacher[i*k:(i+1)*k]
		logSoftmax(lp, p, row, 1)
		logSoftmax(lq, q, row, T)
		logSoftmax(lt, pt, t, T)
		y := int(b.Y[i])
		var kl float64
		for j := range k {
			kl += pt[j] * (lt[j] - lq[j])
		}
		loss += (1-a)*(-lp[y]) + a*T*T*kl
		for j := range k {
			g := a * T * (q[j] - pt[j])
			if j == y {
				g += (1 - a) * (p[j] - 1)
			} else {
				g += (1 - a) * p[j]
			}
			row[j] = float32(g)
		}
	}
	be.Upload(be.Slice(z, 0, n*k), s)
	return loss
}

// logSoftmax writes log softmax(z/T) into lp and softmax(z/T) into p,
// computed in float64.
func logSoftmax(lp, p []float64, z []float32, T float64) {
	mx := math.Inf(-1)
	for _, v := range z {
		mx = math.Max(mx, float64(v)/T)
	}
	var sum float64
	for _, v := range z {
		sum += math.Exp(float64(v)/T - mx)
	}
	lse := mx + math.Log(sum)
	for j, v := range z {
		lp[j] = float64(v)/T - lse
		p[j] = math.Exp(lp[j])
	}
}
