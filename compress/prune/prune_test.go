package prune

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/lightbeam-ml/lightbeam/model"
)

func TestMagnitude(t *testing.T) {
	tests := []struct {
		name     string
		w        []float32
		sparsity float64
		want     Mask
		thresh   float32
	}{
		{"half", []float32{0.5, -0.1, 0.3, -0.9}, 0.5, Mask{true, false, false, true}, 0.3},
		{"ties pruned lowest index first", []float32{1, -1, 1, 1, 2}, 0.4, Mask{false, false, true, true, true}, 1},
		{"nothing", []float32{0, 1}, 0, Mask{true, true}, 0},
		{"round(1.5) = 2 pruned", []float32{3, 1, 2}, 0.5, Mask{true, false, false}, 2},
		{"empty", nil, 0.9, Mask{}, 0},
	}
	for _, tt := range tests {
		m, err := Magnitude(tt.w, tt.sparsity)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if !slices.Equal(m, tt.want) {
			t.Errorf("%s: Magnitude = %v, want %v", tt.name, m, tt.want)
		}
		th, err := threshold(tt.w, tt.sparsity)
		if err != nil || th != tt.thresh {
			t.Errorf("%s: Threshold = %g, %v, want %g", tt.name, th, err, tt.thresh)
		}
	}
}

func TestMagnitudeExactCount(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	w := make([]float32, 10007)
	for i := range w {
		w[i] = float32(rng.IntN(7) - 3) // many ties, many zeros
	}
	for _, s := range []float64{0, 0.1, 0.5, 0.92, 0.999} {
		m, err := Magnitude(w, s)
		if err != nil {
			t.Fatal(err)
		}
		want := len(w) - int(math.Round(s*float64(len(w))))
		if m.Count() != want {
			t.Errorf("sparsity %g: kept %d, want %d", s, m.Count(), want)
		}
		if d := m.Density(); math.Abs(d-float64(want)/float64(len(w))) > 1e-12 || math.Abs(m.Sparsity()-(1-d)) > 1e-12 {
			t.Errorf("sparsity %g: Density %g Sparsity %g", s, d, m.Sparsity())
		}
		th, _ := threshold(w, s)
		for i, x := range w {
			a := float32(math.Abs(float64(x)))
			if a < th && m[i] || a > th && !m[i] {
				t.Fatalf("sparsity %g: |w[%d]| = %g, threshold %g, kept = %v", s, i, a, th, m[i])
			}
		}
		c := slices.Clone(w)
		m.Apply(c)
		for i := range c {
			if !m[i] && c[i] != 0 || m[i] && c[i] != w[i] {
				t.Fatalf("Apply changed w[%d] = %g to %g (kept %v)", i, w[i], c[i], m[i])
			}
		}
	}
}

func TestGlobal(t *testing.T) {
	ws := [][]float32{{0.1, 0.2, 5}, {1, 2}, {}}
	ms, err := Global(ws, 0.5) // round(2.5) = 3 pruned: 0.1, 0.2, 1
	if err != nil {
		t.Fatal(err)
	}
	want := []Mask{{false, false, true}, {false, true}, {}}
	for i := range want {
		if !slices.Equal(ms[i], want[i]) {
			t.Errorf("mask %d = %v, want %v", i, ms[i], want[i])
		}
	}
}

func TestErrors(t *testing.T) {
	for _, s := range []float64{-0.1, 1, 1.5, math.NaN()} {
		if _, err := Magnitude([]float32{1}, s); err == nil {
			t.Errorf("sparsity %g accepted", s)
		}
		if _, err := threshold([]float32{1}, s); err == nil {
			t.Errorf("Threshold: sparsity %g accepted", s)
		}
	}
	if _, err := Global([][]float32{{1}, {float32(math.NaN())}}, 0.5); err == nil {
		t.Error("NaN weight accepted")
	}
}

func TestCubic(t *testing.T) {
	tests := []struct {
		t    int
		want float64
	}{
		{-1, 0}, {0, 0}, {5, 0.9 * (1 - 0.125)}, {10, 0.9}, {20, 0.9},
	}
	for _, tt := range tests {
		if got := Cubic(0, 0.9, tt.t, 10); math.Abs(got-tt.want) > 1e-12 {
			t.Errorf("Cubic(0, 0.9, %d, 10) = %g, want %g", tt.t, got, tt.want)
		}
	}
	if got := Cubic(0.5, 0.9, 3, 10); math.Abs(got-(0.9-0.4*0.343)) > 1e-12 {
		t.Errorf("Cubic(0.5, 0.9, 3, 10) = %g", got)
	}
}

func TestNeuronScores(t *testing.T) {
	got := NeuronScores([]float32{3, 4, 0, 0, 1, -1}, 3, 2)
	want := []float64{5, 0, math.Sqrt2}
	for i := range want {
		if math.Abs(got[i]-want[i]) > 1e-12 {
			t.Errorf("NeuronScores = %v, want %v", got, want)
		}
	}
}

// forward runs the ReLU MLP ts on x.
func forward(ts []model.Tensor, x []float32) []float32 {
	h := x
	for l := 0; l < len(ts); l += 2 {
		w, b := ts[l], ts[l+1]
		out, in := w.Shape[0], w.Shape[1]
		z := make([]float32, out)
		for i := range out {
			s := float64(b.Data[i])
			for j := range in {
				s += float64(w.Data[i*in+j]) * float64(h[j])
			}
			if l+2 < len(ts) {
				s = max(s, 0)
			}
			z[i] = float32(s)
		}
		h = z
	}
	return h
}

func randomMLP(rng *rand.Rand, sizes ...int) []model.Tensor {
	var ts []model.Tensor
	for l := 1; l < len(sizes); l++ {
		w := make([]float32, sizes[l]*sizes[l-1])
		for i := range w {
			w[i] = float32(rng.NormFloat64())
		}
		b := make([]float32, sizes[l])
		for i := range b {
			b[i] = float32(rng.NormFloat64())
		}
		ts = append(ts, model.Tensor{Name: "w", Shape: []int{sizes[l], sizes[l-1]}, Data: w},
			model.Tensor{Name: "b", Shape: []int{sizes[l]}, Data: b})
	}
	return ts
}

// TestKeepNeuronsSameFunction checks that the shrunk MLP computes what the
// full one does when the dropped neurons' outputs are forced to zero.
func TestKeepNeuronsSameFunction(t *testing.T) {
	rng := rand.New(rand.NewPCG(2, 2))
	ts := randomMLP(rng, 7, 6, 5, 3)
	small, kept, err := KeepNeurons(ts, []int{4, 2})
	if err != nil {
		t.Fatal(err)
	}
	wantShapes := [][]int{{4, 7}, {4}, {2, 4}, {2}, {3, 2}, {3}}
	for i, s := range wantShapes {
		n := 1
		for _, d := range s {
			n *= d
		}
		if !slices.Equal(small[i].Shape, s) || len(small[i].Data) != n {
			t.Errorf("tensor %d shape %v, want %v", i, small[i].Shape, s)
		}
	}
	for l, k := range kept {
		scores := NeuronScores(ts[2*l].Data, ts[2*l].Shape[0], ts[2*l].Shape[1])
		for i, s := range scores {
			if !slices.Contains(k, i) {
				for _, j := range k {
					if s > scores[j] {
						t.Errorf("layer %d dropped neuron %d (%g) but kept %d (%g)", l, i, s, j, scores[j])
					}
				}
			}
		}
	}
	// Zero the dropped neurons' outgoing columns in the full model.
	masked := Shrink(ts, [][]int{{0, 1, 2, 3, 4, 5}, {0, 1, 2, 3, 4}}) // a copy
	for l, k := range kept {
		next := masked[2*l+2]
		in := next.Shape[1]
		for i := range next.Shape[0] {
			for j := range in {
				if !slices.Contains(k, j) {
					next.Data[i*in+j] = 0
				}
			}
		}
	}
	for range 20 {
		x := make([]float32, 7)
		for i := range x {
			x[i] = float32(rng.NormFloat64())
		}
		a, b := forward(masked, x), forward(small, x)
		for i := range a {
			if math.Abs(float64(a[i]-b[i])) > 1e-5 {
				t.Fatalf("output %d: full %g, shrunk %g", i, a[i], b[i])
			}
		}
	}
	if ts[0].Shape[0] != 6 || len(ts[0].Data) != 42 {
		t.Error("KeepNeurons modified its input")
	}
	ts[3].Data[0] = float32(math.NaN())
	ts[2].Data[0] = float32(math.NaN())
	if _, _, err := KeepNeurons(ts, []int{4, 2}); err == nil {
		t.Error("NaN weights accepted")
	}
}

func TestShrinkPanicsOnShape(t *testing.T) {
	ts := randomMLP(rand.New(rand.NewPCG(3, 3)), 3, 2, 1)
	ts[2].Shape = []int{1, 3}
	defer func() {
		if recover() == nil {
			t.Error("mismatched layers did not panic")
		}
	}()
	Shrink(ts, [][]int{{0}})
}

// threshold returns the magnitude at which Magnitude(w, sparsity) cuts:
// the largest pruned |w|, or 0 when nothing is pruned. Every |w| below it
// is pruned and every |w| above it kept; weights equal to it are pruned
// lowest index first until exactly round(sparsity·len(w)) are gone.
func threshold(w []float32, sparsity float64) (float32, error) {
	if err := validate(sparsity); err != nil {
		return 0, err
	}
	es, err := order([][]float32{w})
	if err != nil {
		return 0, err
	}
	k := int(math.Round(sparsity * float64(len(es))))
	if k == 0 {
		return 0, nil
	}
	return es[k-1].abs, nil
}
