package model

import (
	"math"
	"slices"
	"testing"
)

func TestDropoutMask(t *testing.T) {
	const n = 100000
	for _, p := range []float64{0.1, 0.5, 0.8} {
		a, b := make([]float32, n), make([]float32, n)
		DropoutMask(a, 42, 1, p)
		DropoutMask(b, 42, 1, p)
		if !slices.Equal(a, b) {
			t.Fatalf("p=%v: two masks of one seed differ", p)
		}
		keep := float32(1 / (1 - p))
		dropped := 0
		for j, v := range a {
			switch v {
			case 0:
				dropped++
			case keep:
			default:
				t.Fatalf("p=%v: mask value %d is %v, want 0 or 1/(1−p) = %v", p, j, v, keep)
			}
		}
		if got := float64(dropped) / n; math.Abs(got-p) > 0.01 {
			t.Errorf("p=%v: dropped a share %.4f", p, got)
		}
		DropoutMask(b, 43, 1, p)
		if slices.Equal(a, b) {
			t.Errorf("p=%v: seeds 42 and 43 give the same mask", p)
		}
		DropoutMask(b, 42, 2, p)
		if slices.Equal(a, b) {
			t.Errorf("p=%v: layers 1 and 2 of one seed give the same mask", p)
		}
	}
}

// refRegLoss is the summed regularized loss of m in float64, computed
// apart from the workspace: the dropout masks (DropoutMask's) multiply
// the inputs and the hidden ReLU outputs, and the loss mixes the labels'
// cross-entropy with T²·KL from the teacher's tempered softmax.
func refRegLoss(m *Model, p []float64, b Batch, r Regularization) float64 {
	sizes := m.Sizes()
	k := m.Outputs()
	T := r.temperature()
	var loss float64
	for i := 0; i < b.N; i++ {
		h := make([]float64, sizes[0])
		mask := make([]float32, sizes[0])
		for j := range h {
			h[j] = float64(b.X[i*sizes[0]+j])
		}
		if r.InputDropout > 0 {
			DropoutMask(mask, b.Seeds[i], 0, r.InputDropout)
			for j := range h {
				h[j] *= float64(mask[j])
			}
		}
		off := 0
		for l := 0; l+1 < len(sizes); l++ {
			in, o := sizes[l], sizes[l+1]
			z := make([]float64, o)
			for a := 0; a < o; a++ {
				s := p[off+o*in+a]
				for c := 0; c < in; c++ {
					s += p[off+a*in+c] * h[c]
				}
				z[a] = s
			}
			if l+2 < len(sizes) {
				mask = make([]float32, o)
				for a := range mask {
					mask[a] = 1
				}
				if r.Dropout > 0 {
					DropoutMask(mask, b.Seeds[i], l+1, r.Dropout)
				}
				for a := range z {
					z[a] = math.Max(z[a], 0) * float64(mask[a])
				}
			}
			off += o*in + o
			h = z
		}
		lse := func(z []float64, T float64) float64 {
			var s float64
			for _, v := range z {
				s += math.Exp(v / T)
			}
			return math.Log(s)
		}
		y := int(b.Y[i])
		ce := lse(h, 1) - h[y]
		if r.Distill == 0 {
			loss += ce
			continue
		}
		t := make([]float64, k)
		for j := range t {
			t[j] = float64(b.Teacher[i*k+j])
		}
		var kl float64
		lt, ls := lse(t, T), lse(h, T)
		for j := range t {
			pt := math.Exp(t[j]/T - lt)
			kl += pt * ((t[j]/T - lt) - (h[j]/T - ls))
		}
		loss += (1-r.Distill)*ce + r.Distill*T*T*kl
	}
	return loss
}

// TestRegularizedGradientFiniteDifference checks GradientView under
// dropout and distillation against float64 central differences of
// refRegLoss.
func TestRegularizedGradientFiniteDifference(t *testing.T) {
	be := backend(t)
	cfg := Config{Arch: MLP, Inputs: 6, Hidden: []int{8, 5}, Outputs: 4}
	for _, tc := range []struct {
		name string
		r    Regularization
	}{
		{"dropout", Regularization{Dropout: 0.4}},
		{"input-dropout", Regularization{InputDropout: 0.3}},
		{"both", Regularization{InputDropout: 0.2, Dropout: 0.5}},
		{"distill-T1", Regularization{Distill: 0.7}},
		{"distill-T4", Regularization{Distill: 0.5, Temperature: 4}},
		{"distill-only", Regularization{Distill: 1, Temperature: 2}},
		{"all", Regularization{Dropout: 0.3, InputDropout: 0.1, Distill: 0.6, Temperature: 3}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := mustNew(t, cfg)
			params := m.Init(7)
			for i := range params {
				if params[i] == 0 {
					params[i] = 0.1 * float32(i%5-2)
				}
			}
			b := randomBatch(m, 9, 4)
			b.Seeds = make([]uint64, b.N)
			for i := range b.Seeds {
				b.Seeds[i] = uint64(1000 + 17*i)
			}
			b.Teacher = make([]float32, b.N*m.Outputs())
			for i := range b.Teacher {
				b.Teacher[i] = float32((i*7)%11-5) * 0.6
			}
			ws := NewWorkspace(m, be)
			defer ws.Close()
			if err := ws.SetRegularization(tc.r); err != nil {
				t.Fatal(err)
			}
			grad, loss, err := ws.GradientView(params, b)
			if err != nil {
				t.Fatal(err)
			}
			p := to64(params)
			if ref := refRegLoss(m, p, b, tc.r); !approx(loss, ref, 1e-5, 1e-6) {
				t.Errorf("loss %v, reference %v", loss, ref)
			}
			if plain := refLoss(m, p, b); tc.r != (Regularization{}) && approx(loss, plain, 1e-6, 0) {
				t.Errorf("loss %v is the plain loss: the regularization did nothing", loss)
			}
			checkFiniteDifferences(t, p, grad, func(q []float64) float64 { return refRegLoss(m, q, b, tc.r) })
		})
	}
}

// TestDropoutOffAtEvaluation checks that Evaluate, Logits and Predict
// ignore the regularization, and that GradientView repeats itself.
func TestDropoutOffAtEvaluation(t *testing.T) {
	be := backend(t)
	m := mustNew(t, Config{Arch: MLP, Inputs: 6, Hidden: []int{8, 5}, Outputs: 4})
	params := m.Init(9)
	b := randomBatch(m, 11, 5)
	b.Seeds = make([]uint64, b.N)
	for i := range b.Seeds {
		b.Seeds[i] = uint64(i + 1)
	}
	plain, reg := NewWorkspace(m, be), NewWorkspace(m, be)
	defer plain.Close()
	defer reg.Close()
	if err := reg.SetRegularization(Regularization{Dropout: 0.5, InputDropout: 0.5}); err != nil {
		t.Fatal(err)
	}
	l0, c0, err0 := plain.Evaluate(params, b)
	l1, c1, err1 := reg.Evaluate(params, b)
	if err0 != nil || err1 != nil || l0 != l1 || c0 != c1 {
		t.Errorf("Evaluate: plain (%v, %d, %v), with dropout set (%v, %d, %v)", l0, c0, err0, l1, c1, err1)
	}
	o0, o1 := make([]float32, b.N*m.Outputs()), make([]float32, b.N*m.Outputs())
	if err := plain.Logits(params, b, o0); err != nil {
		t.Fatal(err)
	}
	if err := reg.Logits(params, b, o1); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(o0, o1) {
		t.Errorf("Logits differ with dropout set")
	}
	g1, loss1, err := reg.GradientView(params, b)
	if err != nil {
		t.Fatal(err)
	}
	g1 = slices.Clone(g1)
	g2, loss2, _ := reg.GradientView(params, b)
	if loss1 != loss2 || !slices.Equal(g1, g2) {
		t.Errorf("two gradients of one batch and seeds differ")
	}
	gp, lossP, _ := plain.GradientView(params, b)
	if lossP == loss1 || slices.Equal(gp, g1) {
		t.Errorf("the dropout gradient equals the plain one")
	}
}

func TestRegularizationValidate(t *testing.T) {
	for _, r := range []Regularization{
		{Dropout: 1}, {Dropout: -0.1}, {InputDropout: 1}, {Distill: 1.5}, {Distill: -1},
		{Temperature: -1}, {Dropout: math.NaN()}, {Temperature: math.Inf(1)},
	} {
		if r.Validate() == nil {
			t.Errorf("%+v: no error", r)
		}
	}
	ws := NewWorkspace(mustNew(t, Config{Arch: Linear, Inputs: 3, Outputs: 1}), backend(t))
	defer ws.Close()
	if err := ws.SetRegularization(Regularization{Distill: 0.5}); err == nil {
		t.Errorf("distillation of a linear model: no error")
	}
}
