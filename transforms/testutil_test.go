package transforms

import (
	"math/rand/v2"

	"github.com/lightbeam-ml/lightbeam/data/rows"
)

// randomBlock returns n dense rows of d features with ids from source.
func randomBlock(rng *rand.Rand, source string, first int64, n, d int) *rows.Block {
	b := rows.NewDense(d, n)
	x := make([]float32, d)
	for i := 0; i < n; i++ {
		for j := range x {
			x[j] = float32(rng.NormFloat64()*float64(j+1) + float64(j))
		}
		b.AppendDense(rows.RecordID(source, first+int64(i)), float32(rng.IntN(3)), x)
	}
	return b
}
