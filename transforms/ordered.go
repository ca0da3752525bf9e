package transforms

// Ordered is the accumulator of a Combine whose result must not depend on
// the runner. Floating-point merges do not commute bit for bit and runners
// merge accumulators in any order, so the accumulator only collects the
// inputs; the CombineFn's ExtractOutput sorts them by a key of its own and
// merges them there. Each input is already a per-block or per-shard
// partial, so an accumulator holds few of them.
//
// Its coder must be registered per instantiation with named functions
// (generic instantiations share one symbol name, which Beam's function
// registry cannot tell apart); see the coders in analyze.go and partial.go.
type Ordered[T any] struct{ Items []T }

// OrderedCombine gives a CombineFn over Ordered[T] its first three
// methods. Embed it and add ExtractOutput(Ordered[T]) OUT.
type OrderedCombine[T any] struct{}

// CreateAccumulator returns an empty Ordered.
func (OrderedCombine[T]) CreateAccumulator() Ordered[T] { return Ordered[T]{} }

// AddInput appends x.
func (OrderedCombine[T]) AddInput(a Ordered[T], x T) Ordered[T] {
	a.Items = append(a.Items, x)
	return a
}

// MergeAccumulators appends b's items to a's.
func (OrderedCombine[T]) MergeAccumulators(a, b Ordered[T]) Ordered[T] {
	a.Items = append(a.Items, b.Items...)
	return a
}
