// Package par splits element-wise loops over the cores.
package par

import (
	"runtime"
	"sync"
)

// MinPart is the fewest elements worth a goroutine of their own.
const MinPart = 1 << 15

// Range calls f on consecutive ranges [lo, hi) covering [0, n), on up to
// GOMAXPROCS goroutines when n is large enough to repay them, and returns
// when all have. f must treat its range's elements independently of the
// others', so that the result does not depend on the split.
func Range(n int, f func(lo, hi int)) {
	parts := min(runtime.GOMAXPROCS(0), n/MinPart)
	if parts <= 1 {
		f(0, n)
		return
	}
	var wg sync.WaitGroup
	for p := range parts {
		lo, hi := p*n/parts, (p+1)*n/parts
		wg.Go(func() { f(lo, hi) })
	}
	wg.Wait()
}
