package prune

import (
	"cmp"
	"fmt"
	"math"
	"slices"
)

// Mask records which weights of a tensor survive pruning: Mask[i] is true
// when weight i is kept.
type Mask []bool

// NonZero returns the mask of the non-zero entries of w, the mask a pruned
// and saved tensor implies.
func NonZero(w []float32) Mask {
	m := make(Mask, len(w))
	for i, x := range w {
		m[i] = x != 0
	}
	return m
}

// Apply zeroes the weights of w that m prunes. It panics if the lengths
// differ.
func (m Mask) Apply(w []float32) {
	if len(w) != len(m) {
		panic(fmt.Sprintf("prune.Mask.Apply: mask of %d for %d weights", len(m), len(w)))
	}
	for i, keep := range m {
		if !keep {
			w[i] = 0
		}
	}
}

// Count returns the number of kept weights.
func (m Mask) Count() int {
	n := 0
	for _, keep := range m {
		if keep {
			n++
		}
	}
	return n
}

// Density returns the kept fraction, Count/len; an empty mask has density 1.
func (m Mask) Density() float64 {
	if len(m) == 0 {
		return 1
	}
	return float64(m.Count()) / float64(len(m))
}

// Sparsity returns the pruned fraction, 1 − Density.
func (m Mask) Sparsity() float64 { return 1 - m.Density() }

func validate(sparsity float64) error {
	if !(sparsity >= 0 && sparsity < 1) {
		return fmt.Errorf("prune: sparsity %g outside [0, 1)", sparsity)
	}
	return nil
}

// entry is one weight in the global pruning order.
type entry struct {
	abs    float32
	tensor int32
	index  int32
}

// order validates ws and returns all weights sorted by |w|, ties broken by
// tensor then position, which makes the pruned set deterministic.
func order(ws [][]float32) ([]entry, error) {
	n := 0
	for _, w := range ws {
		n += len(w)
	}
	es := make([]entry, 0, n)
	for t, w := range ws {
		for i, x := range w {
			if math.IsNaN(float64(x)) {
				return nil, fmt.Errorf("prune: tensor %d weight %d is NaN", t, i)
			}
			es = append(es, entry{float32(math.Abs(float64(x))), int32(t), int32(i)})
		}
	}
	slices.SortFunc(es, func(a, b entry) int {
		return cmp.Or(cmp.Compare(a.abs, b.abs), cmp.Compare(a.tensor, b.tensor), cmp.Compare(a.index, b.index))
	})
	return es, nil
}

// Magnitude prunes the round(sparsity·len(w)) weights of smallest |w|
// (ties: lowest index first) and returns the mask of the rest. Sparsity
// outside [0, 1) and NaN weights are errors.
func Magnitude(w []float32, sparsity float64) (Mask, error) {
	ms, err := Global([][]float32{w}, sparsity)
	if err != nil {
		return nil, err
	}
	return ms[0], nil
}

// Global prunes, across all tensors together, the round(sparsity·N)
// weights of smallest |w| (N the total count; ties: earlier tensor, then
// lower index, first) and returns one mask per tensor. Layers with many
// small weights lose more of them than with per-tensor pruning.
func Global(ws [][]float32, sparsity float64) ([]Mask, error) {
	if err := validate(sparsity); err != nil {
		return nil, err
	}
	es, err := order(ws)
	if err != nil {
		return nil, err
	}
	ms := make([]Mask, len(ws))
	for t, w := range ws {
		ms[t] = make(Mask, len(w))
		for i := range ms[t] {
			ms[t][i] = true
		}
	}
	k := int(math.Round(sparsity * float64(len(es))))
	for _, e := range es[:k] {
		ms[e.tensor][e.index] = false
	}
	return ms, nil
}

// Cubic returns the sparsity at step t of an n-step gradual pruning from
// si to sf (Zhu & Gupta, 2017):
//
//	s_t = s_f + (s_i − s_f) · (1 − t/n)³
//
// t is clamped to [0, n], so steps past n return sf. It panics if n <= 0.
func Cubic(si, sf float64, t, n int) float64 {
	if n <= 0 {
		panic(fmt.Sprintf("prune.Cubic: %d steps", n))
	}
	t = max(0, min(t, n))
	r := 1 - float64(t)/float64(n)
	return sf + (si-sf)*r*r*r
}
