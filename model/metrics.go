package model

import (
	"errors"
	"fmt"
	"math"
	"sort"
)

// The metrics below work on host slices: outputs from Workspace.Predict
// (n×k row-major) and labels from the batch. They return means over rows;
// losses from Workspace.Gradient and Evaluate are sums, so a mean over
// many batches is Σ lossSum / Σ n. Labels must be class indices below k
// (Gradient and Evaluate return errors for bad ones); the metrics panic
// with ErrShape otherwise.

// LogLossEps bounds probabilities away from 0 in LogLoss, as scikit-learn does.
const LogLossEps = 1e-15

// CrossEntropy returns the mean softmax cross-entropy of n×k logits:
//
//	(1/n) Σ_i [ log Σ_j exp(z_ij) − z_i,y_i ]
func CrossEntropy(logits, labels []float32, k int) float64 {
	n := checkRows(logits, labels, k)
	var s float64
	for i := 0; i < n; i++ {
		z := logits[i*k : (i+1)*k]
		mx := math.Inf(-1)
		for _, v := range z {
			mx = math.Max(mx, float64(v))
		}
		var e float64
		for _, v := range z {
			e += math.Exp(float64(v) - mx)
		}
		s += mx + math.Log(e) - float64(z[int(labels[i])])
	}
	return s / float64(n)
}

// LogLoss returns the mean negative log-likelihood of n×k class
// probabilities, each clipped to [ε, 1−ε] with ε = LogLossEps:
//
//	−(1/n) Σ_i log p_i,y_i
func LogLoss(probs, labels []float32, k int) float64 {
	n := checkRows(probs, labels, k)
	var s float64
	for i := 0; i < n; i++ {
		p := min(max(float64(probs[i*k+int(labels[i])]), LogLossEps), 1-LogLossEps)
		s -= math.Log(p)
	}
	return s / float64(n)
}

// MSE returns the mean squared error over all values: (1/len) Σ (p − y)².
func MSE(pred, target []float32) float64 {
	if len(pred) != len(target) {
		panic(fmt.Errorf("%w: MSE of %d predictions and %d targets", ErrShape, len(pred), len(target)))
	}
	if len(pred) == 0 {
		return math.NaN()
	}
	var s float64
	for i, p := range pred {
		d := float64(p) - float64(target[i])
		s += d * d
	}
	return s / float64(len(pred))
}

// Accuracy returns the fraction of rows of the n×k scores whose largest
// value (first on ties) is at the label.
func Accuracy(scores, labels []float32, k int) float64 {
	n := checkRows(scores, labels, k)
	c := 0
	for i := 0; i < n; i++ {
		if Argmax(scores[i*k:(i+1)*k]) == int(labels[i]) {
			c++
		}
	}
	return float64(c) / float64(n)
}

// Argmax returns the index of the largest value of v, the first on ties.
func Argmax(v []float32) int {
	best := 0
	for j, x := range v {
		if x > v[best] {
			best = j
		}
	}
	return best
}

// ErrOneClass is returned by AUC when the labels hold only one class.
var ErrOneClass = errors.New("model: AUC needs both classes among the labels")

// AUC returns the exact area under the ROC curve of scores for binary
// labels (1 positive, 0 negative): the probability that a random positive
// scores above a random negative, ties counting one half. It uses the
// Mann–Whitney rank sum with tied scores sharing their average rank:
//
//	AUC = (R₊ − n₊(n₊+1)/2) / (n₊·n₋)
//
// For a two-class model pass the probabilities of class 1.
func AUC(scores, labels []float32) (float64, error) {
	if len(scores) != len(labels) {
		panic(fmt.Errorf("%w: AUC of %d scores and %d labels", ErrShape, len(scores), len(labels)))
	}
	idx := make([]int, len(scores))
	for i := range idx {
		idx[i] = i
		if labels[i] != 0 && labels[i] != 1 {
			return 0, fmt.Errorf("model: AUC: row %d has label %v, want 0 or 1", i, labels[i])
		}
		if math.IsNaN(float64(scores[i])) {
			return 0, fmt.Errorf("model: AUC: row %d has a NaN score", i)
		}
	}
	sort.Slice(idx, func(a, b int) bool { return scores[idx[a]] < scores[idx[b]] })
	var rankSum, pos float64
	for lo := 0; lo < len(idx); {
		hi := lo
		for hi < len(idx) && scores[idx[hi]] == scores[idx[lo]] {
			hi++
		}
		avg := float64(lo+hi+1) / 2 // mean of ranks lo+1 … hi
		for _, i := range idx[lo:hi] {
			if labels[i] == 1 {
				rankSum += avg
				pos++
			}
		}
		lo = hi
	}
	neg := float64(len(idx)) - pos
	if pos == 0 || neg == 0 {
		return 0, ErrOneClass
	}
	return (rankSum - pos*(pos+1)/2) / (pos * neg), nil
}

func checkRows(scores, labels []float32, k int) int {
	if k < 1 || len(scores) != len(labels)*k {
		panic(fmt.Errorf("%w: %d scores for %d labels × %d classes", ErrShape, len(scores), len(labels), k))
	}
	for i, y := range labels {
		if !(y >= 0 && int(y) < k) {
			panic(fmt.Errorf("%w: row %d label %v outside [0,%d)", ErrShape, i, y, k))
		}
	}
	if len(labels) == 0 {
		panic(fmt.Errorf("%w: metric of zero rows", ErrShape))
	}
	return len(labels)
}

// Confusion is a k×k confusion matrix: Counts[t*K+p] rows whose true class
// is t were predicted p. Matrices from shards add with Merge.
type Confusion struct {
	K      int
	Counts []int64
}

// NewConfusion returns an empty k×k confusion matrix.
func NewConfusion(k int) *Confusion { return &Confusion{K: k, Counts: make([]int64, k*k)} }

// Add counts every row of the n×k scores, predicted as its argmax.
func (c *Confusion) Add(scores, labels []float32) {
	n := checkRows(scores, labels, c.K)
	for i := 0; i < n; i++ {
		c.Counts[int(labels[i])*c.K+Argmax(scores[i*c.K:(i+1)*c.K])]++
	}
}

// At returns the number of rows of true class t predicted as p.
func (c *Confusion) At(t, p int) int64 { return c.Counts[t*c.K+p] }

// Merge adds o's counts into c.
func (c *Confusion) Merge(o *Confusion) {
	if o.K != c.K {
		panic(fmt.Errorf("%w: merging %d-class and %d-class confusion matrices", ErrShape, c.K, o.K))
	}
	for i, v := range o.Counts {
		c.Counts[i] += v
	}
}

// Total returns the number of rows counted.
func (c *Confusion) Total() int64 {
	var s int64
	for _, v := range c.Counts {
		s += v
	}
	return s
}

// Accuracy returns the trace over the total (NaN when empty).
func (c *Confusion) Accuracy() float64 {
	var tr int64
	for i := 0; i < c.K; i++ {
		tr += c.At(i, i)
	}
	return float64(tr) / float64(c.Total())
}

// Recall returns, for class t, the fraction of its rows predicted t (NaN
// when the class has no rows).
func (c *Confusion) Recall(t int) float64 {
	var row int64
	for p := 0; p < c.K; p++ {
		row += c.At(t, p)
	}
	return float64(c.At(t, t)) / float64(row)
}

// Precision returns, for class p, the fraction of rows predicted p that are
// p (NaN when nothing was predicted p).
func (c *Confusion) Precision(p int) float64 {
	var col int64
	for t := 0; t < c.K; t++ {
		col += c.At(t, p)
	}
	return float64(c.At(p, p)) / float64(col)
}
