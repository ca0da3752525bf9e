package model

import "golang.org/x/sys/cpu"

// haveAVX selects the vector loop; a test turns it off to compare.
var haveAVX = cpu.X86.HasAVX

// nesterovAVX is the Nesterov update without L1 on AVX, four parameters a
// pass (step_amd64.s); n must be a multiple of 4.
//
//go:noescape
func nesterovAVX(p, grad, m *float32, n int, pre float32, scale, l2, lr, mu float64)

// nesterovVector runs the Nesterov update of update.run over the longest
// prefix of p it can take four at a time, and returns its length (0
// without AVX). Its bits are the scalar loop's: the same float64
// operations in the same order, no fused multiply-add.
func nesterovVector(p, g, m []float32, pre float32, scale, l2, lr, mu float64) int {
	n := len(p) &^ 3
	if !haveAVX || n == 0 {
		return 0
	}
	nesterovAVX(&p[0], &g[0], &m[0], n, pre, scale, l2, lr, mu)
	return n
}
