package forward

import (
	"fmt"
	"math"
)

// Score sums what the scored tokens of windows gave: their negative
// log-likelihoods and, against a reference model, the KL divergence of
// the model's next-token distribution from the reference's and whether
// their top tokens agree. Scores of windows add (Add), in any order.
type Score struct {
	Tokens int     `json:"tokens"`  // scored tokens
	NLL    float64 `json:"nll"`     // Σ −log p(token)
	NLL2   float64 `json:"nll2"`    // Σ (−log p(token))²
	RefNLL float64 `json:"ref_nll"` // the reference's Σ −log p(token)
	KL     float64 `json:"kl"`      // Σ KL(reference ‖ model)
	Top1   int     `json:"top1"`    // tokens whose top choice is the reference's
	HasRef bool    `json:"has_ref"`
}

// Add adds o's sums to s.
func (s *Score) Add(o Score) {
	s.Tokens += o.Tokens
	s.NLL += o.NLL
	s.NLL2 += o.NLL2
	s.RefNLL += o.RefNLL
	s.KL += o.KL
	s.Top1 += o.Top1
	s.HasRef = s.HasRef || o.HasRef
}

// Perplexity is exp(mean NLL), and its standard error as llama-perplexity
// reports it (ppl · the standard error of the mean NLL).
func (s Score) Perplexity() (ppl, stderr float64) {
	if s.Tokens == 0 {
		return math.NaN(), math.NaN()
	}
	n := float64(s.Tokens)
	mean := s.NLL / n
	ppl = math.Exp(mean)
	if s.Tokens > 1 {
		v := max(s.NLL2/n-mean*mean, 0)
		stderr = ppl * math.Sqrt(v/(n-1))
	}
	return ppl, stderr
}

// RefPerplexity is the reference's perplexity on the same tokens.
func (s Score) RefPerplexity() float64 { return math.Exp(s.RefNLL / float64(s.Tokens)) }

// MeanKL is the mean KL divergence from the reference, in nats.
func (s Score) MeanKL() float64 { return s.KL / float64(s.Tokens) }

// Top1Rate is the share of tokens whose most likely next token is the
// reference's.
func (s Score) Top1Rate() float64 { return float64(s.Top1) / float64(s.Tokens) }

// ScoreWindow runs a window of tokens through r (and ref, if not nil) and
// scores it as llama-perplexity scores a chunk: the first token becomes
// BOS when the model adds one, and the logits of positions n/2 … n−2
// predict the tokens after them (the first half is context only).
func ScoreWindow(r, ref *Runner, window []int32) (Score, error) {
	if len(window) < 4 {
		return Score{}, fmt.Errorf("forward: a window of %d tokens; want at least 4", len(window))
	}
	tokens := append([]int32(nil), window...)
	if r.m.AddBOS && r.m.BOS >= 0 {
		tokens[0] = r.m.BOS
	}
	V, first := r.m.Vocab, len(tokens)/2
	var refLogits []float32
	if ref != nil {
		if ref.m.Vocab != V {
			return Score{}, fmt.Errorf("forward: the reference %s has %d tokens, %s %d", ref.m.Path, ref.m.Vocab, r.m.Path, V)
		}
		l, err := ref.Logits(tokens, first)
		if err != nil {
			return Score{}, err
		}
		refLogits = append([]float32(nil), l...)
	}
	logits, err := r.Logits(tokens, first)
	if err != nil {
		return Score{}, err
	}
	var s Score
	p := make([]float64, V)
	q := make([]float64, V)
	for j := first; j < len(tokens)-1; j++ {
		next, row := tokens[j+1], j-first
		top := logSoftmax(p, logits[row*V:(row+1)*V])
		nll := -p[next]
		s.Tokens++
		s.NLL += nll
		s.NLL2 += nll * nll
		if refLogits == nil {
			continue
		}
		s.HasRef = true
		refTop := logSoftmax(q, refLogits[row*V:(row+1)*V])
		s.RefNLL -= q[next]
		var kl float64
		for i, lq := range q {
			kl += math.Exp(lq) * (lq - p[i])
		}
		s.KL += max(kl, 0)
		if top == refTop {
			s.Top1++
		}
	}
	return s, nil
}

// logSoftmax writes log softmax(logits) to dst and returns the index of
// the largest logit (the first of equals).
func logSoftmax(dst []float64, logits []float32) int {
	top := 0
	for i, v := range logits {
		if v > logits[top] {
			top = i
		}
	}
	mx := float64(logits[top])
	var s float64
	for _, v := range logits {
		s += math.Exp(float64(v) - mx)
	}
	ls := mx + math.Log(s)
	for i, v := range logits {
		dst[i] = float64(v) - ls
	}
	return top
}
