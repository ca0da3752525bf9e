package model

import (
	"errors"
	"math"
	"slices"
	"strings"
	"testing"
)

func TestNewValidates(t *testing.T) {
	tests := []struct {
		cfg  Config
		want string // substring of the error; "" for success
	}{
		{Config{Arch: Softmax, Inputs: 4, Outputs: 3}, ""},
		{Config{Arch: Linear, Inputs: 4, Outputs: 1}, ""},
		{Config{Arch: MLP, Inputs: 4, Hidden: []int{5, 6}, Outputs: 2}, ""},
		{Config{Arch: "cnn", Inputs: 4, Outputs: 3}, "unknown architecture"},
		{Config{Arch: Softmax, Inputs: 0, Outputs: 3}, "inputs"},
		{Config{Arch: Softmax, Inputs: 4, Outputs: 1}, "at least 2"},
		{Config{Arch: Linear, Inputs: 4, Outputs: 0}, "at least 1"},
		{Config{Arch: MLP, Inputs: 4, Outputs: 2}, "hidden layer"},
		{Config{Arch: Softmax, Inputs: 4, Hidden: []int{3}, Outputs: 2}, "no hidden"},
		{Config{Arch: MLP, Inputs: 4, Hidden: []int{3, 0}, Outputs: 2}, "width 0"},
	}
	for _, tt := range tests {
		_, err := New(tt.cfg)
		if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("New(%+v) = %v, want error containing %q", tt.cfg, err, tt.want)
		}
	}
}

func TestLayout(t *testing.T) {
	m := mustNew(t, Config{Arch: MLP, Inputs: 784, Hidden: []int{300, 100}, Outputs: 10})
	want := []TensorSpec{
		{"fc1.weight", []int{300, 784}, 0},
		{"fc1.bias", []int{300}, 235200},
		{"fc2.weight", []int{100, 300}, 235500},
		{"fc2.bias", []int{100}, 265500},
		{"fc3.weight", []int{10, 100}, 265600},
		{"fc3.bias", []int{10}, 266600},
	}
	got := m.Layout()
	if len(got) != len(want) {
		t.Fatalf("layout has %d tensors, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i].Name != want[i].Name || !slices.Equal(got[i].Shape, want[i].Shape) || got[i].Offset != want[i].Offset {
			t.Errorf("tensor %d = %+v, want %+v", i, got[i], want[i])
		}
	}
	if m.NumParams() != 266610 || m.String() != "mlp 784-300-100-10" {
		t.Errorf("NumParams %d, String %q", m.NumParams(), m)
	}
	s := mustNew(t, Config{Arch: Softmax, Inputs: 5, Outputs: 3})
	if l := s.Layout(); l[0].Name != "linear.weight" || !slices.Equal(l[0].Shape, []int{3, 5}) || l[1].Name != "linear.bias" {
		t.Errorf("softmax layout %+v", l)
	}
}

func TestInit(t *testing.T) {
	m := mustNew(t, Config{Arch: MLP, Inputs: 400, Hidden: []int{200}, Outputs: 50})
	p := m.Init(7)
	if !slices.Equal(p, m.Init(7)) {
		t.Fatal("Init(7) differs between calls")
	}
	if slices.Equal(p, m.Init(8)) {
		t.Fatal("Init(7) == Init(8)")
	}
	l := m.Layout()
	// He: sd √(2/400) ≈ 0.0707.
	w1 := p[l[0].Offset : l[0].Offset+l[0].Size()]
	var sq float64
	for _, v := range w1 {
		sq += float64(v) * float64(v)
	}
	if sd := math.Sqrt(sq / float64(len(w1))); math.Abs(sd-math.Sqrt(2.0/400))/math.Sqrt(2.0/400) > 0.02 {
		t.Errorf("fc1.weight sd %.4f, want He %.4f", sd, math.Sqrt(2.0/400))
	}
	// Glorot uniform: bound √(6/250) ≈ 0.155, sd bound/√3.
	a := math.Sqrt(6.0 / 250)
	w2 := p[l[2].Offset : l[2].Offset+l[2].Size()]
	var mx, sq2 float64
	for _, v := range w2 {
		mx = math.Max(mx, math.Abs(float64(v)))
		sq2 += float64(v) * float64(v)
	}
	if mx > a || mx < 0.95*a {
		t.Errorf("fc2.weight max |w| %.4f, want just under %.4f", mx, a)
	}
	if sd := math.Sqrt(sq2 / float64(len(w2))); math.Abs(sd-a/math.Sqrt(3)) > 0.05*a {
		t.Errorf("fc2.weight sd %.4f, want %.4f", sd, a/math.Sqrt(3))
	}
	for _, i := range []int{1, 3} {
		for _, v := range p[l[i].Offset : l[i].Offset+l[i].Size()] {
			if v != 0 {
				t.Fatalf("%s not zero", l[i].Name)
			}
		}
	}
}

func TestShapeErrorsPanic(t *testing.T) {
	m := mustNew(t, Config{Arch: Softmax, Inputs: 3, Outputs: 2})
	ws := NewWorkspace(m, backend(t))
	defer ws.Close()
	b := randomBatch(m, 4, 1)
	defer func() {
		r := recover()
		err, ok := r.(error)
		if !ok || !errors.Is(err, ErrShape) {
			t.Errorf("recovered %v, want an ErrShape panic", r)
		}
	}()
	ws.Gradient(m.Init(1), Batch{N: 4, X: b.X[:5], Y: b.Y}, make([]float32, m.NumParams()))
}

func TestBadLabelsAreErrors(t *testing.T) {
	m := mustNew(t, Config{Arch: Softmax, Inputs: 3, Outputs: 2})
	ws := NewWorkspace(m, backend(t))
	defer ws.Close()
	grad := make([]float32, m.NumParams())
	for _, bad := range []float32{2, -1, 0.5, float32(math.NaN())} {
		b := randomBatch(m, 4, 1)
		b.Y[2] = bad
		if _, err := ws.Gradient(m.Init(1), b, grad); err == nil || !strings.Contains(err.Error(), "row 2") {
			t.Errorf("label %v: err %v, want one naming row 2", bad, err)
		}
	}
	for _, g := range grad {
		if g != 0 {
			t.Fatal("grad changed by a failed call")
		}
	}
	b := toCSR(randomBatch(m, 3, 2), 3)
	b.Indices[0] = 3
	if _, err := ws.Gradient(m.Init(1), b, grad); err == nil || !strings.Contains(err.Error(), "feature index 3") {
		t.Errorf("sparse index out of range: err %v", err)
	}
}

// EvaluateClasses' classes are Predict's most probable classes, and count
// Evaluate's correct rows.
func TestEvaluateClasses(t *testing.T) {
	m := mustNew(t, Config{Arch: MLP, Inputs: 7, Hidden: []int{5}, Outputs: 4})
	params, b := m.Init(3), randomBatch(m, 50, 4)
	ws := NewWorkspace(m, backend(t))
	defer ws.Close()
	classes := make([]int, b.N)
	loss, correct, err := ws.EvaluateClasses(params, b, classes)
	if err != nil {
		t.Fatal(err)
	}
	wantLoss, wantCorrect, _ := ws.Evaluate(params, b)
	probs := make([]float32, b.N*4)
	if err := ws.Predict(params, b, probs); err != nil {
		t.Fatal(err)
	}
	n := 0
	for i, c := range classes {
		row := probs[i*4 : i*4+4]
		for j, p := range row {
			if p > row[c] {
				t.Fatalf("row %d: class %d (p %v), but class %d has p %v", i, c, row[c], j, p)
			}
		}
		if float32(c) == b.Y[i] {
			n++
		}
	}
	if loss != wantLoss || correct != wantCorrect || n != correct {
		t.Errorf("EvaluateClasses: loss %v correct %d (classes say %d); Evaluate: %v, %d", loss, correct, n, wantLoss, wantCorrect)
	}
}
