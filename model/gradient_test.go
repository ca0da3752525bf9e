package model

import (
	"math"
	"slices"
	"testing"
)

var gradCases = []struct {
	name string
	cfg  Config
}{
	{"logistic", Config{Arch: Softmax, Inputs: 5, Outputs: 2}},
	{"softmax", Config{Arch: Softmax, Inputs: 4, Outputs: 3}},
	{"linear", Config{Arch: Linear, Inputs: 4, Outputs: 1}},
	{"linear-2-targets", Config{Arch: Linear, Inputs: 3, Outputs: 2}},
	{"mlp-1-hidden", Config{Arch: MLP, Inputs: 4, Hidden: []int{6}, Outputs: 3}},
	{"mlp-2-hidden", Config{Arch: MLP, Inputs: 5, Hidden: []int{7, 4}, Outputs: 3}},
}

// TestGradientFiniteDifference checks every parameter's analytic gradient
// (float32, on the backend) against float64 central differences of an
// independent reference loss:
//
//	∂L/∂p ≈ (L(p + h) − L(p − h)) / 2h
func TestGradientFiniteDifference(t *testing.T) {
	be := backend(t)
	for _, tc := range gradCases {
		t.Run(tc.name, func(t *testing.T) {
			m := mustNew(t, tc.cfg)
			params := m.Init(3)
			for i := range params { // non-zero biases exercise AddBias/ColSum
				if params[i] == 0 {
					params[i] = 0.1 * float32(i%5-2)
				}
			}
			b := randomBatch(m, 9, 4)
			ws := NewWorkspace(m, be)
			defer ws.Close()
			grad := make([]float32, m.NumParams())
			loss, err := ws.Gradient(params, b, grad)
			if err != nil {
				t.Fatal(err)
			}
			p := to64(params)
			if ref := refLoss(m, p, b); !approx(loss, ref, 1e-5, 1e-6) {
				t.Errorf("loss %v, reference %v", loss, ref)
			}
			checkFiniteDifferences(t, p, grad, func(q []float64) float64 { return refLoss(m, q, b) })
		})
	}
}

// TestGradientAddsAndReuses checks that Gradient adds into grad, that
// sparse and dense batches agree, and that buffers reused across batch
// sizes give the results of a fresh workspace.
func TestGradientAddsAndReuses(t *testing.T) {
	be := backend(t)
	for _, tc := range gradCases {
		t.Run(tc.name, func(t *testing.T) {
			m := mustNew(t, tc.cfg)
			params := m.Init(5)
			ws := NewWorkspace(m, be)
			defer ws.Close()
			for _, n := range []int{7, 3, 12, 1, 0} {
				b := randomBatch(m, n, uint64(n))
				fresh := NewWorkspace(m, be)
				want := make([]float32, m.NumParams())
				wantLoss, err := fresh.Gradient(params, b, want)
				fresh.Close()
				if err != nil {
					t.Fatal(err)
				}

				grad := make([]float32, m.NumParams())
				for i := range grad {
					grad[i] = 1
				}
				loss, err := ws.Gradient(params, b, grad)
				if err != nil {
					t.Fatal(err)
				}
				for i := range grad {
					if grad[i] != 1+want[i] {
						t.Fatalf("n=%d: grad[%d] = %v, want 1 + %v", n, i, grad[i], want[i])
					}
				}
				sgrad := make([]float32, m.NumParams())
				sloss, err := ws.Gradient(params, toCSR(b, m.Inputs()), sgrad)
				if err != nil {
					t.Fatal(err)
				}
				if loss != wantLoss || sloss != wantLoss || !slices.Equal(sgrad, want) {
					t.Fatalf("n=%d: losses dense-reused %v sparse %v fresh %v; sparse grad equal: %v",
						n, loss, sloss, wantLoss, slices.Equal(sgrad, want))
				}
				if n == 0 && slices.ContainsFunc(want, func(v float32) bool { return v != 0 }) {
					t.Fatal("empty batch has a non-zero gradient")
				}
			}
		})
	}
}

func TestEvaluateAndPredict(t *testing.T) {
	be := backend(t)
	for _, tc := range gradCases {
		t.Run(tc.name, func(t *testing.T) {
			m := mustNew(t, tc.cfg)
			params := m.Init(11)
			b := randomBatch(m, 20, 12)
			ws := NewWorkspace(m, be)
			defer ws.Close()
			p := to64(params)
			ref := refOutputs(m, p, b.X, b.N)
			k := m.Outputs()
			out := make([]float32, b.N*k)
			if err := ws.Predict(params, toCSR(b, m.Inputs()), out); err != nil {
				t.Fatal(err)
			}
			wantCorrect := 0
			for i, z := range ref {
				want := slices.Clone(z)
				if m.Classifier() {
					var s float64
					for _, v := range z {
						s += math.Exp(v)
					}
					for j := range want {
						want[j] = math.Exp(z[j]) / s
					}
					best := 0
					for j := range z {
						if z[j] > z[best] {
							best = j
						}
					}
					if best == int(b.Y[i]) {
						wantCorrect++
					}
				}
				for j := range want {
					if !approx(float64(out[i*k+j]), want[j], 1e-5, 1e-6) {
						t.Errorf("row %d output %d: %v, want %v", i, j, out[i*k+j], want[j])
					}
				}
			}
			loss, correct, err := ws.Evaluate(params, b)
			if err != nil {
				t.Fatal(err)
			}
			if ref := refLoss(m, p, b); !approx(loss, ref, 1e-5, 1e-6) {
				t.Errorf("Evaluate loss %v, reference %v", loss, ref)
			}
			if correct != wantCorrect {
				t.Errorf("Evaluate correct %d, want %d", correct, wantCorrect)
			}
			if m.Classifier() {
				if acc := scoreAccuracy(out, b.Y, k); acc != float64(wantCorrect)/20 {
					t.Errorf("Accuracy of Predict %v, want %v", acc, float64(wantCorrect)/20)
				}
				if ll := logLoss(out, b.Y, k); !approx(ll*20, loss, 1e-5, 0) {
					t.Errorf("logLoss·n %v, Evaluate loss %v", ll*20, loss)
				}
			} else if e := mse(out, b.Y); !approx(e*float64(len(b.Y)), loss, 1e-5, 0) {
				t.Errorf("MSE·n·k %v, Evaluate loss %v", e*float64(len(b.Y)), loss)
			}
		})
	}
}
