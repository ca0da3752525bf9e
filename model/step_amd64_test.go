package model

import (
	"math"
	"math/rand/v2"
	"testing"
)

// The AVX loop and the scalar loop give the same bits (the reference test
// covers the loop this machine runs; this one covers the other too).
func TestNesterovVectorMatchesScalar(t *testing.T) {
	if !haveAVX {
		t.Skip("this CPU has no AVX: only the scalar loop runs here")
	}
	const n = 100_003
	cfg := OptimizerConfig{Method: Momentum, Nesterov: true, L2: 5e-4, Schedule: Schedule{LR: 0.1}}
	run := func(avx bool) []float32 {
		haveAVX = avx
		defer func() { haveAVX = true }()
		r := rand.New(rand.NewPCG(5, 6))
		o, err := NewOptimizer(cfg, n)
		if err != nil {
			t.Fatal(err)
		}
		p, g := make([]float32, n), make([]float32, n)
		for i := range p {
			p[i] = float32(r.NormFloat64())
		}
		for range 3 {
			for i := range g {
				g[i] = float32(r.NormFloat64() * 30)
			}
			o.StepScaled(p, g, float32(1)/37)
		}
		return append(p, o.m...)
	}
	vec, scalar := run(true), run(false)
	for i := range vec {
		if math.Float32bits(vec[i]) != math.Float32bits(scalar[i]) {
			t.Fatalf("value %d: AVX %v, scalar %v", i, vec[i], scalar[i])
		}
	}
}
