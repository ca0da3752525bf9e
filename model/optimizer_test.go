package model

import (
	"bytes"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

func TestSchedule(t *testing.T) {
	tests := []struct {
		s    Schedule
		t    int64
		want float64
	}{
		{Schedule{LR: 0.5}, 1000, 0.5},
		{Schedule{Kind: StepDecay, LR: 1, StepSize: 10, Gamma: 0.1}, 9, 1},
		{Schedule{Kind: StepDecay, LR: 1, StepSize: 10, Gamma: 0.1}, 10, 0.1},
		{Schedule{Kind: StepDecay, LR: 1, StepSize: 10, Gamma: 0.1}, 25, 0.01},
		{Schedule{Kind: Cosine, LR: 1, Steps: 100, MinLR: 0.1}, 0, 1},
		{Schedule{Kind: Cosine, LR: 1, Steps: 100, MinLR: 0.1}, 50, 0.55},
		{Schedule{Kind: Cosine, LR: 1, Steps: 100, MinLR: 0.1}, 100, 0.1},
		{Schedule{Kind: Cosine, LR: 1, Steps: 100, MinLR: 0.1}, 500, 0.1},
		{Schedule{Kind: InvSqrt, LR: 2}, 0, 2},
		{Schedule{Kind: InvSqrt, LR: 2}, 3, 1},
	}
	for _, tt := range tests {
		if err := tt.s.Validate(); err != nil {
			t.Errorf("%+v: %v", tt.s, err)
		}
		if got := tt.s.At(tt.t); math.Abs(got-tt.want) > 1e-12 {
			t.Errorf("%+v.At(%d) = %v, want %v", tt.s, tt.t, got, tt.want)
		}
	}
	for _, bad := range []Schedule{{LR: 0}, {Kind: "linear", LR: 1}, {Kind: StepDecay, LR: 1}, {Kind: Cosine, LR: 1}} {
		if bad.Validate() == nil {
			t.Errorf("%+v validated", bad)
		}
	}
}

// TestOptimizerSteps checks two steps of each rule against hand-computed
// values for w = [1, −2], constant grads g = [0.5, 1] and η = 0.1.
func TestOptimizerSteps(t *testing.T) {
	g := []float32{0.5, 1}
	adam1 := func(w float64) float64 { return w - 0.1*1/(1+1e-8) } // m̂/√v̂ = sign(g) = 1 while g is constant
	tests := []struct {
		name string
		cfg  OptimizerConfig
		want [2]float64 // after two steps
	}{
		{"sgd", OptimizerConfig{}, [2]float64{1 - 0.1, -2 - 0.2}},
		// b₁ = g, b₂ = 1.9g: Δ = 0.1·2.9g.
		{"momentum", OptimizerConfig{Method: Momentum}, [2]float64{1 - 0.29*0.5, -2 - 0.29}},
		// Nesterov: Δ₁ = η(g+0.9g) = 0.19g, Δ₂ = η(g+0.9·1.9g) = 0.271g.
		{"nesterov", OptimizerConfig{Method: Momentum, Nesterov: true}, [2]float64{1 - 0.461*0.5, -2 - 0.461}},
		{"adam", OptimizerConfig{Method: Adam}, [2]float64{adam1(adam1(1)), adam1(adam1(-2))}},
		// L2 = 1: g₁ = [1.5, −1], w₁ = [0.85, −1.9]; g₂ = [1.35, −0.9], w₂ = [0.715, −1.81].
		{"sgd-l2", OptimizerConfig{L2: 1}, [2]float64{0.715, -1.81}},
		// L1 = 1: step then shrink by 0.1 toward 0: [0.85, −2.0] then [0.70, −2.0].
		{"sgd-l1", OptimizerConfig{L1: 1}, [2]float64{0.7, -2.0}},
		// Clip to norm 0.5: g·0.5/√1.25.
		{"sgd-clip", OptimizerConfig{ClipNorm: 0.5}, [2]float64{1 - 0.2*0.5*0.5/math.Sqrt(1.25), -2 - 0.2*0.5/math.Sqrt(1.25)}},
		// Step decay halving every step: η = 0.1 then 0.05.
		{"sgd-step", OptimizerConfig{Schedule: Schedule{Kind: StepDecay, LR: 0.1, StepSize: 1, Gamma: 0.5}}, [2]float64{1 - 0.075, -2 - 0.15}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.cfg.Schedule.LR == 0 {
				tt.cfg.Schedule.LR = 0.1
			}
			o, err := NewOptimizer(tt.cfg, 2)
			if err != nil {
				t.Fatal(err)
			}
			w := []float32{1, -2}
			o.Step(w, g)
			o.Step(w, g)
			for i := range w {
				if math.Abs(float64(w[i])-tt.want[i]) > 1e-6 {
					t.Errorf("w[%d] = %v, want %v", i, w[i], tt.want[i])
				}
			}
			if o.Steps() != 2 {
				t.Errorf("Steps %d", o.Steps())
			}
		})
	}
}

func TestL1ProducesExactZeros(t *testing.T) {
	o, err := NewOptimizer(OptimizerConfig{Schedule: Schedule{LR: 0.1}, L1: 1}, 3)
	if err != nil {
		t.Fatal(err)
	}
	w := []float32{0.05, -0.08, 0.5}
	o.Step(w, []float32{0, 0, 0})
	if w[0] != 0 || w[1] != 0 || math.Abs(float64(w[2])-0.4) > 1e-7 {
		t.Errorf("after soft threshold w = %v, want [0 0 0.4]", w)
	}
}

func TestOptimizerConfigErrors(t *testing.T) {
	for _, c := range []OptimizerConfig{
		{Method: "rmsprop", Schedule: Schedule{LR: 1}},
		{Schedule: Schedule{LR: -1}},
		{Method: Momentum, Momentum: 1, Schedule: Schedule{LR: 1}},
		{L1: -1, Schedule: Schedule{LR: 1}},
		{Objective: "sideways", Schedule: Schedule{LR: 1}},
	} {
		if _, err := NewOptimizer(c, 1); err == nil {
			t.Errorf("%+v accepted", c)
		}
	}
}

// trainSteps runs steps of full-batch training of m on b from params,
// passing the objective's gradient: −∇loss when maximizing.
func trainSteps(t *testing.T, ws *Workspace, o *Optimizer, params []float32, b Batch, steps int) []float64 {
	t.Helper()
	grad := make([]float32, len(params))
	var lls []float64
	for range steps {
		clear(grad)
		loss, err := ws.Gradient(params, b, grad)
		if err != nil {
			t.Fatal(err)
		}
		lls = append(lls, -loss)
		scale := float32(1 / float64(b.N))
		if o.Config().Objective == Maximize {
			scale = -scale
		}
		for i := range grad {
			grad[i] *= scale
		}
		o.Step(params, grad)
	}
	return lls
}

func TestMaximizeLogLikelihood(t *testing.T) {
	be := backend(t)
	m := mustNew(t, Config{Arch: MLP, Inputs: 6, Hidden: []int{8}, Outputs: 3})
	b := randomBatch(m, 40, 9)
	ws := NewWorkspace(m, be)
	defer ws.Close()
	for _, method := range []Method{SGD, Momentum, Adam} {
		cfg := OptimizerConfig{Method: method, Schedule: Schedule{LR: 0.05}, L2: 0.01, L1: 0.001, ClipNorm: 5}
		run := func(obj Objective) ([]float32, []float64) {
			cfg.Objective = obj
			o, err := NewOptimizer(cfg, m.NumParams())
			if err != nil {
				t.Fatal(err)
			}
			p := m.Init(1)
			return p, trainSteps(t, ws, o, p, b, 30)
		}
		pMin, _ := run(Minimize)
		pMax, lls := run(Maximize)
		if !slices.Equal(pMin, pMax) {
			t.Errorf("%s: ascent on log-likelihood and descent on loss differ", method)
		}
		if !(lls[len(lls)-1] > lls[0]+1) {
			t.Errorf("%s: log-likelihood went from %v to %v, want a rise", method, lls[0], lls[len(lls)-1])
		}
	}
}

// TestResumeMatchesUninterrupted saves a checkpoint midway, loads it into a
// fresh optimizer and checks the final parameters are bit-identical.
func TestResumeMatchesUninterrupted(t *testing.T) {
	be := backend(t)
	m := mustNew(t, Config{Arch: Softmax, Inputs: 5, Outputs: 3})
	b := randomBatch(m, 30, 2)
	ws := NewWorkspace(m, be)
	defer ws.Close()
	for _, method := range []Method{SGD, Momentum, Adam} {
		cfg := OptimizerConfig{Method: method, Nesterov: true, Schedule: Schedule{Kind: Cosine, LR: 0.1, Steps: 20}}
		o, _ := NewOptimizer(cfg, m.NumParams())
		want := m.Init(4)
		trainSteps(t, ws, o, want, b, 20)

		o1, _ := NewOptimizer(cfg, m.NumParams())
		p := m.Init(4)
		trainSteps(t, ws, o1, p, b, 8)
		var file bytes.Buffer
		if err := EncodeCheckpoint(&file, m, p, o1, map[string]string{"epoch": "3", "rng": "abc"}); err != nil {
			t.Fatal(err)
		}
		ck, err := DecodeCheckpoint(file.Bytes(), "ckpt.safetensors")
		if err != nil {
			t.Fatal(err)
		}
		if ck.Meta["epoch"] != "3" || ck.Meta["rng"] != "abc" || ck.Model.String() != m.String() {
			t.Errorf("checkpoint meta %v, model %v", ck.Meta, ck.Model)
		}
		o2, _ := NewOptimizer(cfg, m.NumParams())
		if err := o2.LoadState(ck.Tensors, ck.Meta); err != nil {
			t.Fatal(err)
		}
		if o2.Steps() != 8 {
			t.Errorf("resumed at step %d, want 8", o2.Steps())
		}
		trainSteps(t, ws, o2, ck.Params, b, 12)
		if !slices.Equal(ck.Params, want) {
			t.Errorf("%s: resumed run differs from the uninterrupted one", method)
		}
	}
	// State from another method is refused.
	oa, _ := NewOptimizer(OptimizerConfig{Method: Adam, Schedule: Schedule{LR: 1}}, 3)
	ts, meta := oa.State()
	om2, _ := NewOptimizer(OptimizerConfig{Method: Momentum, Schedule: Schedule{LR: 1}}, 3)
	if err := om2.LoadState(ts, meta); err == nil || !strings.Contains(err.Error(), "adam") {
		t.Errorf("loading adam state into momentum: %v", err)
	}
}

// refStep is the textbook per-parameter loop of Step's doc comment, one
// parameter at a time, on the gradient already scaled by pre.
func refStep(c OptimizerConfig, step int64, params, grad, m, v []float32, pre float32) {
	c.defaults()
	g32 := make([]float32, len(grad))
	var sq float64
	for i, g := range grad {
		g32[i] = g * pre
		sq += float64(g32[i]) * float64(g32[i])
	}
	scale := c.Objective.Sign()
	if norm := math.Sqrt(sq); c.ClipNorm > 0 && norm > c.ClipNorm {
		scale *= c.ClipNorm / norm
	}
	lr := c.Schedule.At(step)
	t := float64(step + 1)
	for i, gi := range g32 {
		w := float64(params[i])
		g := scale*float64(gi) + c.L2*w
		switch c.Method {
		case SGD:
			w -= lr * g
		case Momentum:
			b := c.Momentum*float64(m[i]) + g
			m[i] = float32(b)
			if c.Nesterov {
				w -= lr * (g + c.Momentum*b)
			} else {
				w -= lr * b
			}
		case Adam:
			mi := c.Beta1*float64(m[i]) + (1-c.Beta1)*g
			vi := c.Beta2*float64(v[i]) + (1-c.Beta2)*g*g
			m[i], v[i] = float32(mi), float32(vi)
			w -= lr * (mi / (1 - math.Pow(c.Beta1, t))) / (math.Sqrt(vi/(1-math.Pow(c.Beta2, t))) + c.Epsilon)
		}
		if s := lr * c.L1; s > 0 {
			w = math.Copysign(math.Max(math.Abs(w)-s, 0), w)
		}
		params[i] = float32(w)
	}
}

// TestStepScaledMatchesReference: the specialized, parallel step (the
// vector is long enough to be split) gives the reference loop's bits.
func TestStepScaledMatchesReference(t *testing.T) {
	const n = 200_003
	r := rand.New(rand.NewPCG(1, 2))
	for _, cfg := range []OptimizerConfig{
		{Method: SGD, L2: 1e-3},
		{Method: SGD, L1: 1e-4, ClipNorm: 0.5},
		{Method: Momentum, Nesterov: true, L2: 5e-4},
		{Method: Momentum, L1: 1e-5},
		{Method: Adam, L2: 1e-4, Objective: Maximize},
	} {
		cfg.Schedule = Schedule{Kind: Cosine, LR: 0.1, Steps: 10}
		o, err := NewOptimizer(cfg, n)
		if err != nil {
			t.Fatal(err)
		}
		params, grad := make([]float32, n), make([]float32, n)
		for i := range params {
			params[i] = float32(r.NormFloat64() * 0.1)
		}
		want := append([]float32(nil), params...)
		m, v := make([]float32, n), make([]float32, n)
		for step := int64(0); step < 3; step++ {
			for i := range grad {
				grad[i] = float32(r.NormFloat64() * 50)
			}
			pre := float32(1) / 61
			refStep(cfg, step, want, grad, m, v, pre)
			o.StepScaled(params, grad, pre)
		}
		for i := range params {
			if math.Float32bits(params[i]) != math.Float32bits(want[i]) {
				t.Fatalf("%s: params[%d] = %v, reference %v", cfg.Method, i, params[i], want[i])
			}
		}
	}
}
