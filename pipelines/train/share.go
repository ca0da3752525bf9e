package train

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sync"

	"github.com/lightbeam-ml/lightbeam/model"
	"github.com/lightbeam-ml/lightbeam/storage"
)

// Shared weights (Deep Compression's centroid fine-tuning, Han et al.
// 2016): after k-means weight sharing, the weights of a tensor that have
// one value form a cluster, and training moves each cluster's value c_k
// with the sum of its members' gradients,
//
//	c_k ← c_k − lr · Σ_{i ∈ k} ∂L/∂w_i
//
// Replacing every member's gradient with that sum does exactly this under
// every optimizer the trainer has: members start equal with equal (zero)
// optimizer state, see equal gradients, and so stay equal bit for bit;
// the averages of local mode keep them equal too (the same numbers added
// in the same order).

// shareGroups lists, per parameter, the cluster it belongs to (−1: none):
// the non-zero values of each tensor of m that occur more than once.
// Tensors whose non-zero values are all distinct have no clusters.
type shareGroups struct {
	group []int32
	n     int // clusters
}

func newShareGroups(m *model.Model, params []float32) *shareGroups {
	g := &shareGroups{group: make([]int32, len(params))}
	for i := range g.group {
		g.group[i] = -1
	}
	for _, s := range m.Layout() {
		vals := params[s.Offset : s.Offset+s.Size()]
		count := map[float32]int{}
		for _, v := range vals {
			if v != 0 {
				count[v]++
			}
		}
		ids := map[float32]int32{}
		for i, v := range vals {
			if v == 0 || count[v] < 2 {
				continue
			}
			id, ok := ids[v]
			if !ok {
				id = int32(g.n)
				ids[v] = id
				g.n++
			}
			g.group[s.Offset+i] = id
		}
	}
	return g
}

// apply replaces each clustered gradient with its cluster's sum (added
// in parameter order, in float64).
func (g *shareGroups) apply(grad []float32) {
	if g == nil || g.n == 0 {
		return
	}
	sum := make([]float64, g.n)
	for i, k := range g.group {
		if k >= 0 {
			sum[k] += float64(grad[i])
		}
	}
	for i, k := range g.group {
		if k >= 0 {
			grad[i] = float32(sum[k])
		}
	}
}

// shares caches each process's clusters per model file content: every
// round and worker of a run uses the clusters of the same Init.
var shares = struct {
	sync.Mutex
	m map[string]*shareGroups
}{m: map[string]*shareGroups{}}

// sharedGroups returns the clusters of spec.Share's model file, or nil
// when spec shares nothing. The file must still have the SHA-256 that the
// run started with.
func sharedGroups(spec *Spec) (*shareGroups, error) {
	if spec.Share == "" {
		return nil, nil
	}
	shares.Lock()
	defer shares.Unlock()
	key := spec.Share + "@" + spec.ShareSHA256
	if g, ok := shares.m[key]; ok {
		return g, nil
	}
	raw, err := storage.ReadFile(context.Background(), spec.Share)
	if err != nil {
		return nil, err
	}
	if sum := fileSHA256(raw); sum != spec.ShareSHA256 {
		return nil, fmt.Errorf("train: %s changed during the run (SHA-256 %s, was %s)", spec.Share, sum, spec.ShareSHA256)
	}
	m, params, _, err := model.DecodeModel(raw, spec.Share)
	if err != nil {
		return nil, err
	}
	if m.NumParams() != mustModel(spec).NumParams() {
		return nil, fmt.Errorf("train: %s is %s, the run trains %s", spec.Share, m, mustModel(spec))
	}
	g := newShareGroups(m, params)
	if len(shares.m) > 16 {
		clear(shares.m)
	}
	shares.m[key] = g
	return g, nil
}

func fileSHA256(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}
