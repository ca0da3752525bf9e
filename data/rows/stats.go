package rows

import (
	"fmt"
	"math"
)

// Stats are per-feature statistics over a set of rows: count, mean and
// variance (kept as M2, the sum of squared deviations), min and max, plus a
// histogram of class labels. Missing values (NaN) are not counted.
//
// Partial statistics merge with the pairwise update of Chan, Golub and
// LeVeque, which stays accurate when the parts have very different means:
//
//	δ = mean_b − mean_a,  n = n_a + n_b
//	mean = mean_a + δ·n_b/n
//	M2   = M2_a + M2_b + δ²·n_a·n_b/n
type Stats struct {
	Rows   int64     // rows seen
	Count  []int64   // non-missing values per feature
	Mean   []float64 // per feature
	M2     []float64 // per feature: Σ (x − mean)²
	Min    []float64 // per feature; +Inf when Count is 0
	Max    []float64 // per feature; −Inf when Count is 0
	Labels []int64   // Labels[c] = rows with class label c (classification only)
}

// NewStats returns empty statistics for d features.
func NewStats(d int) *Stats {
	s := &Stats{Count: make([]int64, d), Mean: make([]float64, d), M2: make([]float64, d), Min: make([]float64, d), Max: make([]float64, d)}
	for j := range s.Min {
		s.Min[j] = math.Inf(1)
		s.Max[j] = math.Inf(-1)
	}
	return s
}

// Features returns the number of features s covers.
func (s *Stats) Features() int { return len(s.Mean) }

// Variance returns the population variance of feature j (0 if unseen).
func (s *Stats) Variance(j int) float64 {
	if s.Count[j] == 0 {
		return 0
	}
	return s.M2[j] / float64(s.Count[j])
}

// AddBlock adds every row of b. Labels are counted as classes when
// classify is true (they must then be non-negative integers, which the
// parsers guarantee).
func (s *Stats) AddBlock(b *Block, classify bool) {
	part := blockStats(b)
	s.Merge(part)
	if classify {
		for _, l := range b.Labels {
			c := int(l)
			for len(s.Labels) <= c {
				s.Labels = append(s.Labels, 0)
			}
			s.Labels[c]++
		}
	}
}

// blockStats computes the statistics of one block with the two-pass
// algorithm (mean first, then squared deviations), exact for a block.
func blockStats(b *Block) *Stats {
	d := b.Features
	s := NewStats(d)
	s.Rows = int64(b.Rows())
	sum := make([]float64, d)
	observe := func(j int, v float32) {
		if v != v { // NaN: missing
			return
		}
		x := float64(v)
		s.Count[j]++
		sum[j] += x
		s.Min[j] = math.Min(s.Min[j], x)
		s.Max[j] = math.Max(s.Max[j], x)
	}
	if !b.Sparse {
		for i := 0; i < b.Rows(); i++ {
			for j, v := range b.DenseValues[i*d : (i+1)*d] {
				observe(j, v)
			}
		}
	} else {
		// Implicit zeros are values too: count them below.
		for k, j := range b.Indices {
			observe(int(j), b.Values[k])
		}
	}
	var zeros []int64
	if b.Sparse {
		zeros = make([]int64, d)
		for j := range zeros {
			zeros[j] = s.Rows
		}
		for _, j := range b.Indices {
			zeros[j]--
		}
		for j, z := range zeros {
			if z > 0 {
				s.Count[j] += z
				s.Min[j] = math.Min(s.Min[j], 0)
				s.Max[j] = math.Max(s.Max[j], 0)
			}
		}
	}
	for j := range s.Mean {
		if s.Count[j] > 0 {
			s.Mean[j] = sum[j] / float64(s.Count[j])
		}
	}
	dev := func(j int, v float32) {
		if v != v {
			return
		}
		e := float64(v) - s.Mean[j]
		s.M2[j] += e * e
	}
	if !b.Sparse {
		for i := 0; i < b.Rows(); i++ {
			for j, v := range b.DenseValues[i*d : (i+1)*d] {
				dev(j, v)
			}
		}
	} else {
		for k, j := range b.Indices {
			dev(int(j), b.Values[k])
		}
		for j, z := range zeros {
			s.M2[j] += float64(z) * s.Mean[j] * s.Mean[j]
		}
	}
	return s
}

// Merge adds the statistics o into s. It panics if they cover different
// numbers of features.
func (s *Stats) Merge(o *Stats) {
	if len(o.Mean) != len(s.Mean) {
		panic(fmt.Sprintf("rows: merging stats of %d features into %d", len(o.Mean), len(s.Mean)))
	}
	s.Rows += o.Rows
	for j := range s.Mean {
		na, nb := float64(s.Count[j]), float64(o.Count[j])
		if nb == 0 {
			continue
		}
		n := na + nb
		delta := o.Mean[j] - s.Mean[j]
		s.Mean[j] += delta * nb / n
		s.M2[j] += o.M2[j] + delta*delta*na*nb/n
		s.Count[j] += o.Count[j]
		s.Min[j] = math.Min(s.Min[j], o.Min[j])
		s.Max[j] = math.Max(s.Max[j], o.Max[j])
	}
	for len(s.Labels) < len(o.Labels) {
		s.Labels = append(s.Labels, 0)
	}
	for c, n := range o.Labels {
		s.Labels[c] += n
	}
}
