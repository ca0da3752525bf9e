package model

import (
	"errors"
	"math"
	"math/rand/v2"
	"testing"
)

// pairwiseAUC is AUC by definition: P(score₊ > score₋) + ½P(tie).
func pairwiseAUC(s, y []float32) float64 {
	var win, pairs float64
	for i := range s {
		for j := range s {
			if y[i] == 1 && y[j] == 0 {
				pairs++
				switch {
				case s[i] > s[j]:
					win++
				case s[i] == s[j]:
					win += 0.5
				}
			}
		}
	}
	return win / pairs
}

func TestAUC(t *testing.T) {
	tests := []struct {
		scores, labels []float32
		want           float64
	}{
		{[]float32{0.1, 0.4, 0.35, 0.8}, []float32{0, 0, 1, 1}, 0.75},
		{[]float32{0.1, 0.2, 0.3}, []float32{0, 1, 1}, 1},
		{[]float32{0.9, 0.2, 0.3}, []float32{0, 1, 1}, 0},
		{[]float32{0.5, 0.5, 0.5, 0.5}, []float32{0, 1, 0, 1}, 0.5},
		{[]float32{0.2, 0.5, 0.5, 0.7}, []float32{0, 0, 1, 1}, 0.875},
	}
	for _, tt := range tests {
		got, err := AUC(tt.scores, tt.labels)
		if err != nil || math.Abs(got-tt.want) > 1e-12 {
			t.Errorf("AUC(%v, %v) = %v, %v; want %v", tt.scores, tt.labels, got, err, tt.want)
		}
	}
	// Many ties: scores on a coarse grid.
	r := rand.New(rand.NewPCG(1, 2))
	s, y := make([]float32, 300), make([]float32, 300)
	for i := range s {
		y[i] = float32(r.IntN(2))
		s[i] = float32(r.IntN(5)+int(y[i])) / 4
	}
	got, err := AUC(s, y)
	if want := pairwiseAUC(s, y); err != nil || math.Abs(got-want) > 1e-12 {
		t.Errorf("AUC with ties = %v, %v; pairwise %v", got, err, want)
	}
	if _, err := AUC([]float32{0.1, 0.2}, []float32{1, 1}); !errors.Is(err, ErrOneClass) {
		t.Errorf("one class: err %v", err)
	}
	if _, err := AUC([]float32{0.1, 0.2}, []float32{1, 2}); err == nil {
		t.Error("label 2 accepted")
	}
}

func TestLossesAndAccuracy(t *testing.T) {
	logits := []float32{2, 0, -1, 0, 0, 3}
	labels := []float32{0, 1}
	probs := append([]float32(nil), logits...)
	SoftmaxRow(probs[:3])
	SoftmaxRow(probs[3:])
	// Row 0: log(e²+1+e⁻¹) − 2; row 1: log(2+e³) − 0.
	want := (math.Log(math.Exp(2)+1+math.Exp(-1)) - 2 + math.Log(2+math.Exp(3))) / 2
	if got := CrossEntropy(logits, labels, 3); math.Abs(got-want) > 1e-6 {
		t.Errorf("CrossEntropy %v, want %v", got, want)
	}
	if got := LogLoss(probs, labels, 3); math.Abs(got-want) > 1e-6 {
		t.Errorf("LogLoss %v, want %v", got, want)
	}
	if got := LogLoss([]float32{1, 0}, []float32{1}, 2); math.Abs(got-(-math.Log(LogLossEps))) > 1e-9 {
		t.Errorf("LogLoss of p=0 is %v, want −log ε", got)
	}
	if got := Accuracy(logits, labels, 3); got != 0.5 {
		t.Errorf("Accuracy %v, want 0.5", got)
	}
	if got := MSE([]float32{1, 2, 3}, []float32{1, 0, 4}); math.Abs(got-5.0/3) > 1e-12 {
		t.Errorf("MSE %v, want 5/3", got)
	}
}

func TestConfusion(t *testing.T) {
	c := NewConfusion(3)
	c.Add([]float32{
		0.7, 0.2, 0.1, // true 0 → 0
		0.1, 0.8, 0.1, // true 1 → 1
		0.6, 0.3, 0.1, // true 1 → 0
		0.1, 0.1, 0.8, // true 2 → 2
	}, []float32{0, 1, 1, 2})
	d := NewConfusion(3)
	d.Add([]float32{0.2, 0.2, 0.6}, []float32{0}) // true 0 → 2
	c.Merge(d)
	if c.At(0, 0) != 1 || c.At(1, 0) != 1 || c.At(1, 1) != 1 || c.At(0, 2) != 1 || c.Total() != 5 {
		t.Errorf("counts %v", c.Counts)
	}
	if c.Accuracy() != 0.6 || c.Recall(1) != 0.5 || c.Precision(0) != 0.5 || c.Precision(2) != 0.5 {
		t.Errorf("accuracy %v recall(1) %v precision(0) %v precision(2) %v", c.Accuracy(), c.Recall(1), c.Precision(0), c.Precision(2))
	}
}
