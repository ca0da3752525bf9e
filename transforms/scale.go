package transforms

import (
	"encoding/json"
	"fmt"
	"math"
	"reflect"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"

	"github.com/lightbeam-ml/lightbeam/data/rows"
)

// Scale is an affine map applied to every feature,
//
//	x'ⱼ = (xⱼ − Offsetⱼ) · Factorⱼ
//
// fitted on the training split only, so validation and test rows see the
// same map and no statistic leaks from them. A missing value (NaN) becomes
// the scaled training mean, Imputeⱼ.
//
// Methods: "standard" (Offset = mean, Factor = 1/σ), "minmax" (Offset =
// min, Factor = 1/(max − min)) and "none". A constant feature gets Factor
// 1. Sparse data keeps its zeros: standard scaling divides by σ without
// centering, and minmax divides by max |x|.
type Scale struct {
	Method string
	Offset []float32
	Factor []float32
	Impute []float32
}

// ScaleMethods are the accepted values of Scale.Method.
var ScaleMethods = []string{"standard", "minmax", "none"}

// FitScale returns the Scale of the given method for statistics st.
func FitScale(method string, st *rows.Stats, sparse bool) (Scale, error) {
	d := st.Features()
	sc := Scale{Method: method, Offset: make([]float32, d), Factor: make([]float32, d), Impute: make([]float32, d)}
	for j := 0; j < d; j++ {
		off, span := 0.0, 1.0
		switch method {
		case "standard":
			span = math.Sqrt(st.Variance(j))
			if !sparse {
				off = st.Mean[j]
			}
		case "minmax":
			if sparse {
				span = math.Max(math.Abs(st.Min[j]), math.Abs(st.Max[j]))
			} else {
				off, span = st.Min[j], st.Max[j]-st.Min[j]
			}
		case "none":
		default:
			return Scale{}, fmt.Errorf("unknown scale method %q (want standard, minmax or none)", method)
		}
		if st.Count[j] == 0 {
			off, span = 0, 1
		}
		if !(span > 1e-12) || math.IsInf(span, 0) {
			span = 1
		}
		sc.Offset[j] = float32(off)
		sc.Factor[j] = float32(1 / span)
		sc.Impute[j] = float32((st.Mean[j] - off) / span)
	}
	return sc, nil
}

// Apply scales b in place.
func (sc *Scale) Apply(b *rows.Block) {
	if b.Sparse {
		for k, j := range b.Indices {
			b.Values[k] = sc.one(int(j), b.Values[k])
		}
		return
	}
	d := b.Features
	for i := 0; i < b.Rows(); i++ {
		row := b.DenseValues[i*d : (i+1)*d]
		for j, v := range row {
			row[j] = sc.one(j, v)
		}
	}
}

func (sc *Scale) one(j int, v float32) float32 {
	if v != v {
		return sc.Impute[j]
	}
	return (v - sc.Offset[j]) * sc.Factor[j]
}

// FitScaleTo fits the Scale on the training split's statistics, taken from
// a PCollection<KV<int, rows.Stats>> keyed by split, and returns
// PCollection<KV<int, Scale>> with one copy for each of the keys 0..keys-1
// (the shard keys), to be joined with the data by CoGroupByKey: a side input
// would be simpler but is unreliable on Spark (ARCHITECTURE.md).
func FitScaleTo(s beam.Scope, statsBySplit beam.PCollection, method string, sparse bool, keys int) beam.PCollection {
	s = s.Scope("transforms.FitScale")
	return beam.ParDo(s, &fitScaleFn{Method: method, Sparse: sparse, Keys: keys}, statsBySplit)
}

type fitScaleFn struct {
	Method string
	Sparse bool
	Keys   int
}

func (fn *fitScaleFn) ProcessElement(split int, st rows.Stats, emit func(int, Scale)) error {
	if split != Train {
		return nil
	}
	sc, err := FitScale(fn.Method, &st, fn.Sparse)
	if err != nil {
		return fmt.Errorf("transforms.FitScale: %w", err)
	}
	for k := 0; k < fn.Keys; k++ {
		emit(k, sc)
	}
	return nil
}

func encodeScale(sc Scale) ([]byte, error) { return json.Marshal(sc) }

func decodeScale(b []byte) (Scale, error) {
	var sc Scale
	err := json.Unmarshal(b, &sc)
	return sc, err
}

func init() {
	beam.RegisterCoder(reflect.TypeOf(Scale{}), encodeScale, decodeScale)
	register.DoFn3x1[int, rows.Stats, func(int, Scale), error](&fitScaleFn{})
	register.Emitter2[int, Scale]()
}
