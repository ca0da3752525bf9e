package quant

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

func TestKMeans(t *testing.T) {
	tests := []struct {
		name  string
		w     []float32
		k     int
		cent  []float32
		codes []uint8
	}{
		{"two clusters", []float32{10.1, 0, 0.2, 10, 0.1, 10.2}, 2, []float32{0.1, 10.1}, []uint8{1, 0, 0, 1, 0, 1}},
		{"one centroid is the mean", []float32{1, 2, 6}, 1, []float32{3}, []uint8{0, 0, 0}},
		{"linear init, exact fit", []float32{-1, 0, 1}, 3, []float32{-1, 0, 1}, []uint8{0, 1, 2}},
		{"empty", nil, 4, []float32{0, 0, 0, 0}, []uint8{}},
		{"all equal", []float32{2, 2}, 2, []float32{2, 2}, []uint8{1, 1}},
	}
	for _, tt := range tests {
		cent, codes := KMeans(tt.w, tt.k, 20)
		if !approxEqual(cent, tt.cent, 1e-6) || !slices.Equal(codes, tt.codes) {
			t.Errorf("%s: KMeans = %v %v, want %v %v", tt.name, cent, codes, tt.cent, tt.codes)
		}
	}
}

func approxEqual(a, b []float32, tol float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Abs(float64(a[i]-b[i])) > tol {
			return false
		}
	}
	return true
}

// TestKMeansLloydFixedPoint checks, on Laplacian-like pruned weights, that
// KMeans is deterministic, its centroids are sorted, every code names a
// nearest centroid, and after convergence every centroid is the mean of
// its cluster.
func TestKMeansLloydFixedPoint(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	var w []float32
	for range 20000 {
		x := rng.ExpFloat64() * 0.05
		if x > 0.05 { // kept weights of a magnitude-pruned layer
			w = append(w, float32(x*float64(1-2*rng.IntN(2))))
		}
	}
	cent, codes := KMeans(w, 32, 200)
	cent2, codes2 := KMeans(w, 32, 200)
	if !slices.Equal(cent, cent2) || !slices.Equal(codes, codes2) {
		t.Fatal("KMeans is not deterministic")
	}
	if !slices.IsSorted(cent) {
		t.Errorf("centroids not sorted: %v", cent)
	}
	sum := make([]float64, len(cent))
	n := make([]int, len(cent))
	for i, x := range w {
		c := codes[i]
		d := math.Abs(float64(x - cent[c]))
		for j, cj := range cent {
			if math.Abs(float64(x-cj)) < d-1e-7 {
				t.Fatalf("w[%d] = %g coded %d (%g) but centroid %d (%g) is nearer", i, x, c, cent[c], j, cj)
			}
		}
		sum[c] += float64(x)
		n[c]++
	}
	for j := range cent {
		if n[j] > 0 && math.Abs(sum[j]/float64(n[j])-float64(cent[j])) > 1e-6 {
			t.Errorf("centroid %d = %g, mean of its %d values %g", j, cent[j], n[j], sum[j]/float64(n[j]))
		}
	}
	// Clustering must beat the linear initialisation it starts from.
	lo, hi := slices.Min(w), slices.Max(w)
	var sse, sseInit float64
	for i, x := range w {
		sse += math.Pow(float64(x-cent[codes[i]]), 2)
		best := math.Inf(1)
		for j := range 32 {
			c := float64(lo) + float64(hi-lo)*float64(j)/31
			best = min(best, math.Pow(float64(x)-c, 2))
		}
		sseInit += best
	}
	if sse >= sseInit {
		t.Errorf("k-means SSE %g not below the linear init's %g", sse, sseInit)
	}
}

func TestShareGradients(t *testing.T) {
	got := ShareGradients([]uint8{0, 1, 0, 2, 1}, []float32{1, 2, 3, 4, -0.5}, 4)
	want := []float32{4, 1.5, 4, 0}
	if !slices.Equal(got, want) {
		t.Errorf("ShareGradients = %v, want %v", got, want)
	}
	defer func() {
		if recover() == nil {
			t.Error("code ≥ k did not panic")
		}
	}()
	ShareGradients([]uint8{3}, []float32{1}, 3)
}
