package tokenizer

// pairQueue is a binary min-heap of merge candidates ordered by before.
type pairQueue[T interface{ before(T) bool }] []T

func (q *pairQueue[T]) push(x T) {
	h := append(*q, x)
	for i := len(h) - 1; i > 0; {
		parent := (i - 1) / 2
		if !h[i].before(h[parent]) {
			break
		}
		h[i], h[parent] = h[parent], h[i]
		i = parent
	}
	*q = h
}

func (q *pairQueue[T]) pop() T {
	h := *q
	top := h[0]
	last := len(h) - 1
	h[0] = h[last]
	h = h[:last]
	for i := 0; ; {
		l, r, first := 2*i+1, 2*i+2, i
		if l < len(h) && h[l].before(h[first]) {
			first = l
		}
		if r < len(h) && h[r].before(h[first]) {
			first = r
		}
		if first == i {
			break
		}
		h[i], h[first] = h[first], h[i]
		i = first
	}
	*q = h
	return top
}
