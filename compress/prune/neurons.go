package prune

import (
	"cmp"
	"fmt"
	"math"
	"slices"

	"github.com/lightbeam-ml/lightbeam/model"
)

// NeuronScores returns, for each of the out neurons of a layer whose
// weight w is out×in (row-major, PyTorch's [out, in]), the L2 norm of its
// incoming weights. It panics if len(w) != out·in.
func NeuronScores(w []float32, out, in int) []float64 {
	if out < 0 || in < 0 || len(w) != out*in {
		panic(fmt.Sprintf("prune.NeuronScores: %d weights for a %d×%d layer", len(w), out, in))
	}
	s := make([]float64, out)
	for i := range out {
		var sum float64
		for _, x := range w[i*in : (i+1)*in] {
			sum += float64(x) * float64(x)
		}
		s[i] = math.Sqrt(sum)
	}
	return s
}

// checkLayers panics unless ts is weight [out,in], bias [out] pairs of
// consecutive dense layers (fc1.weight, fc1.bias, fc2.weight, …).
func checkLayers(ts []model.Tensor) {
	if len(ts) == 0 || len(ts)%2 != 0 {
		panic(fmt.Sprintf("prune: %d tensors are not weight, bias pairs", len(ts)))
	}
	for l := 0; l < len(ts); l += 2 {
		w, b := ts[l], ts[l+1]
		if len(w.Shape) != 2 || len(w.Data) != w.Shape[0]*w.Shape[1] ||
			len(b.Shape) != 1 || b.Shape[0] != w.Shape[0] || len(b.Data) != b.Shape[0] {
			panic(fmt.Sprintf("prune: %s %v and %s %v are not a weight [out,in] and bias [out]", w.Name, w.Shape, b.Name, b.Shape))
		}
		if l > 0 && w.Shape[1] != ts[l-2].Shape[0] {
			panic(fmt.Sprintf("prune: %s takes %d inputs but %s has %d outputs", w.Name, w.Shape[1], ts[l-2].Name, ts[l-2].Shape[0]))
		}
	}
}

// SelectNeurons returns, for each hidden layer l of the MLP ts (weight,
// bias pairs in order), the ascending indices of its keep[l] neurons with
// the highest NeuronScores (ties: lower index kept). NaN weights are an
// error. It panics if ts is not an MLP, len(keep) is not its number of
// hidden layers, or a keep count is outside [1, width].
func SelectNeurons(ts []model.Tensor, keep []int) ([][]int, error) {
	checkLayers(ts)
	if len(keep) != len(ts)/2-1 {
		panic(fmt.Sprintf("prune.SelectNeurons: %d keep counts for %d hidden layers", len(keep), len(ts)/2-1))
	}
	kept := make([][]int, len(keep))
	for l, k := range keep {
		w := ts[2*l]
		out, in := w.Shape[0], w.Shape[1]
		if k < 1 || k > out {
			panic(fmt.Sprintf("prune.SelectNeurons: keep %d of %s's %d neurons", k, w.Name, out))
		}
		s := NeuronScores(w.Data, out, in)
		idx := make([]int, out)
		for i := range idx {
			if math.IsNaN(s[i]) {
				return nil, fmt.Errorf("prune: %s neuron %d has NaN weights", w.Name, i)
			}
			idx[i] = i
		}
		slices.SortStableFunc(idx, func(a, b int) int { return cmp.Compare(s[b], s[a]) })
		kept[l] = idx[:k]
		slices.Sort(kept[l])
	}
	return kept, nil
}

// Shrink returns new tensors for the MLP ts with only the hidden neurons
// listed in kept[l] (ascending, distinct) for hidden layer l: rows of layer
// l's weight and entries of its bias, and the matching columns of layer
// l+1's weight. Names are kept; ts is not modified. It panics on shape
// mismatches or bad indices.
func Shrink(ts []model.Tensor, kept [][]int) []model.Tensor {
	checkLayers(ts)
	if len(kept) != len(ts)/2-1 {
		panic(fmt.Sprintf("prune.Shrink: %d kept lists for %d hidden layers", len(kept), len(ts)/2-1))
	}
	out := make([]model.Tensor, len(ts))
	for i, t := range ts {
		out[i] = model.Tensor{Name: t.Name, Shape: slices.Clone(t.Shape), Data: slices.Clone(t.Data)}
	}
	for l, rows := range kept {
		n := out[2*l].Shape[0]
		for j, r := range rows {
			if r < 0 || r >= n || j > 0 && r <= rows[j-1] {
				panic(fmt.Sprintf("prune.Shrink: kept neurons %v of %s are not ascending indices below %d", rows, out[2*l].Name, n))
			}
		}
		// Rows of this layer's weight and bias.
		w, b := &out[2*l], &out[2*l+1]
		in := w.Shape[1]
		nw := make([]float32, 0, len(rows)*in)
		nb := make([]float32, 0, len(rows))
		for _, r := range rows {
			nw = append(nw, w.Data[r*in:(r+1)*in]...)
			nb = append(nb, b.Data[r])
		}
		w.Data, w.Shape[0] = nw, len(rows)
		b.Data, b.Shape[0] = nb, len(rows)
		// Columns of the next layer's weight.
		next := &out[2*l+2]
		o := next.Shape[0]
		nn := make([]float32, 0, o*len(rows))
		for i := range o {
			for _, r := range rows {
				nn = append(nn, next.Data[i*n+r])
			}
		}
		next.Data, next.Shape[1] = nn, len(rows)
	}
	return out
}

// KeepNeurons is SelectNeurons followed by Shrink: it returns the shrunk
// MLP and the original indices of the neurons kept in each hidden layer.
func KeepNeurons(ts []model.Tensor, keep []int) ([]model.Tensor, [][]int, error) {
	kept, err := SelectNeurons(ts, keep)
	if err != nil {
		return nil, nil, err
	}
	return Shrink(ts, kept), kept, nil
}
