package model

import (
	"math"
	"testing"
)

// Host-side reference metrics of Workspace.Predict's outputs (n×k
// row-major), which the gradient tests check Evaluate's sums against.

// logLossEps bounds probabilities away from 0 in logLoss, as scikit-learn
// does.
const logLossEps = 1e-15

// logLoss is the mean negative log-likelihood of n×k class probabilities,
// each clipped to [ε, 1−ε]:
//
//	−(1/n) Σ_i log p_i,y_i
func logLoss(probs, labels []float32, k int) float64 {
	var s float64
	for i := range labels {
		p := min(max(float64(probs[i*k+int(labels[i])]), logLossEps), 1-logLossEps)
		s -= math.Log(p)
	}
	return s / float64(len(labels))
}

// mse is the mean squared error over all values: (1/len) Σ (p − y)².
func mse(pred, target []float32) float64 {
	var s float64
	for i, p := range pred {
		d := float64(p) - float64(target[i])
		s += d * d
	}
	return s / float64(len(pred))
}

// scoreAccuracy is the fraction of rows of the n×k scores whose largest value
// (first on ties) is at the label.
func scoreAccuracy(scores, labels []float32, k int) float64 {
	c := 0
	for i := range labels {
		best, row := 0, scores[i*k:(i+1)*k]
		for j, x := range row {
			if x > row[best] {
				best = j
			}
		}
		if best == int(labels[i]) {
			c++
		}
	}
	return float64(c) / float64(len(labels))
}

func TestReferenceMetrics(t *testing.T) {
	logits := []float32{2, 0, -1, 0, 0, 3}
	labels := []float32{0, 1}
	probs := append([]float32(nil), logits...)
	SoftmaxRow(probs[:3])
	SoftmaxRow(probs[3:])
	// Row 0: log(e²+1+e⁻¹) − 2; row 1: log(2+e³) − 0.
	want := (math.Log(math.Exp(2)+1+math.Exp(-1)) - 2 + math.Log(2+math.Exp(3))) / 2
	if got := logLoss(probs, labels, 3); math.Abs(got-want) > 1e-6 {
		t.Errorf("logLoss %v, want %v", got, want)
	}
	if got := logLoss([]float32{1, 0}, []float32{1}, 2); math.Abs(got-(-math.Log(logLossEps))) > 1e-9 {
		t.Errorf("logLoss of p=0 is %v, want −log ε", got)
	}
	if got := scoreAccuracy(logits, labels, 3); got != 0.5 {
		t.Errorf("accuracy %v, want 0.5", got)
	}
	if got := mse([]float32{1, 2, 3}, []float32{1, 0, 4}); math.Abs(got-5.0/3) > 1e-12 {
		t.Errorf("mse %v, want 5/3", got)
	}
}
