//go:build !amd64

package model

// nesterovVector has no vector form on this architecture: the scalar loop
// takes every parameter.
func nesterovVector(p, g, m []float32, pre float32, scale, l2, lr, mu float64) int { return 0 }
