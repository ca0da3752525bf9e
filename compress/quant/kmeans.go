package quant

import (
	"cmp"
	"fmt"
	"slices"
)

// KMeans clusters the values w into k shared weights (1 ≤ k ≤ 256) and
// returns the centroids, sorted ascending, and each value's code (index of
// its nearest centroid). Following Deep Compression, the centroids start
// evenly spaced over [min w, max w],
//
//	c_j = min + (max − min) · j/(k−1)
//
// and Lloyd's algorithm runs for at most iters rounds (stopping early when
// no code changes): assign each value to its nearest centroid (ties go to
// the larger centroid), then move each centroid to the mean of its values;
// a centroid with no values stays where it is. In one dimension the
// clusters are runs of the sorted values, so an assignment is one sweep.
// The result is deterministic. Pass only the weights that survive pruning:
// pruned zeros would pull a centroid to 0.
//
// Empty w gives k zero centroids and no codes. It panics if k is outside
// [1, 256] or iters < 0.
func KMeans(w []float32, k, iters int) ([]float32, []uint8) {
	if k < 1 || k > 256 || iters < 0 {
		panic(fmt.Sprintf("quant.KMeans: k = %d (want 1..256), iters = %d", k, iters))
	}
	cent := make([]float32, k)
	codes := make([]uint8, len(w))
	if len(w) == 0 {
		return cent, codes
	}
	order := make([]int32, len(w))
	for i := range order {
		order[i] = int32(i)
	}
	slices.SortFunc(order, func(a, b int32) int {
		return cmp.Or(cmp.Compare(w[a], w[b]), cmp.Compare(a, b))
	})
	lo, hi := float64(w[order[0]]), float64(w[order[len(w)-1]])
	for j := range k {
		if k > 1 {
			cent[j] = float32(lo + (hi-lo)*float64(j)/float64(k-1))
		} else {
			cent[j] = float32(lo)
		}
	}
	sum := make([]float64, k)
	count := make([]int, k)
	for it := 0; it < iters; it++ {
		if !assign(codes, w, order, cent) && it > 0 {
			break
		}
		clear(sum)
		clear(count)
		for i, c := range codes {
			sum[c] += float64(w[i])
			count[c]++
		}
		for j := range k {
			if count[j] > 0 {
				cent[j] = float32(sum[j] / float64(count[j]))
			}
		}
		slices.Sort(cent) // an empty cluster's stale centroid may be out of order
	}
	assign(codes, w, order, cent)
	return cent, codes
}

// assign sets each code to the nearest of the sorted centroids and reports
// whether any code changed.
func assign(codes []uint8, w []float32, order []int32, cent []float32) bool {
	changed := false
	j := 0
	dist := func(v float64, j int) float64 {
		d := v - float64(cent[j])
		return d * d
	}
	for _, i := range order {
		v := float64(w[i])
		for j+1 < len(cent) && dist(v, j+1) <= dist(v, j) {
			j++
		}
		if codes[i] != uint8(j) {
			codes[i] = uint8(j)
			changed = true
		}
	}
	return changed
}

// ShareGradients returns, for each of the k centroids, the sum of the
// gradients of the weights that share it,
//
//	G_k = Σ_{i : codes_i = k} grad_i
//
// so a trainer can fine-tune the codebook with c_k ← c_k − lr·G_k. It
// panics if the lengths differ or a code is ≥ k.
func ShareGradients(codes []uint8, grad []float32, k int) []float32 {
	if len(codes) != len(grad) {
		panic(fmt.Sprintf("quant.ShareGradients: %d codes for %d gradients", len(codes), len(grad)))
	}
	sum := make([]float64, k)
	for i, c := range codes {
		if int(c) >= k {
			panic(fmt.Sprintf("quant.ShareGradients: code %d at %d is not below k = %d", c, i, k))
		}
		sum[c] += float64(grad[i])
	}
	out := make([]float32, k)
	for j, s := range sum {
		out[j] = float32(s)
	}
	return out
}
