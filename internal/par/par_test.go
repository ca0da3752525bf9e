package par

import (
	"sync/atomic"
	"testing"
)

func TestRangeCoversEachElementOnce(t *testing.T) {
	for _, n := range []int{0, 1, MinPart - 1, 2 * MinPart, 5*MinPart + 3} {
		seen := make([]atomic.Int32, n)
		Range(n, func(lo, hi int) {
			for i := lo; i < hi; i++ {
				seen[i].Add(1)
			}
		})
		for i := range seen {
			if c := seen[i].Load(); c != 1 {
				t.Fatalf("n=%d: element %d visited %d times", n, i, c)
			}
		}
	}
}
