package train

import (
	"fmt"
	"math"
	"reflect"
	"strconv"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"

	"github.com/lightbeam-ml/lightbeam/internal/wire"
	"github.com/lightbeam-ml/lightbeam/model"
)

// State is the training state that flows from round to round inside an
// epoch's pipeline: the parameters, the optimizer's state (momentum or
// Adam moments, flattened in the optimizer's order), the optimizer's step
// count, and the epoch's running training loss.
type State struct {
	Model    int // which model of a cross-validation (0 otherwise)
	Step     int64
	Params   []float32
	Opt      []float32
	LossSum  float64 // Σ training loss over the epoch's rounds so far
	Examples int64   // rows behind LossSum
}

// optimizerFor returns an optimizer of spec loaded with st's state.
func optimizerFor(spec *Spec, st *State) (*model.Optimizer, error) {
	opt, err := model.NewOptimizer(spec.Optimizer, len(st.Params))
	if err != nil {
		return nil, err
	}
	ts, meta := opt.State()
	off := 0
	for _, t := range ts {
		if off+len(t.Data) > len(st.Opt) {
			return nil, fmt.Errorf("train: optimizer state holds %d values, %s needs more", len(st.Opt), spec.Optimizer.Method)
		}
		copy(t.Data, st.Opt[off:off+len(t.Data)])
		off += len(t.Data)
	}
	meta["optimizer.step"] = strconv.FormatInt(st.Step, 10)
	if err := opt.LoadState(ts, meta); err != nil {
		return nil, err
	}
	return opt, nil
}

// optState flattens an optimizer's state tensors.
func optState(opt *model.Optimizer) []float32 {
	ts, _ := opt.State()
	var out []float32
	for _, t := range ts {
		out = append(out, t.Data...)
	}
	return out
}

// encodeState is State's bulk coder: a State is megabytes of floats.
func encodeState(st State) []byte {
	e := &wire.Encoder{B: make([]byte, 0, 48+4*(len(st.Params)+len(st.Opt)))}
	e.U64(uint64(st.Model))
	e.U64(uint64(st.Step))
	e.U64(math.Float64bits(st.LossSum))
	e.U64(uint64(st.Examples))
	wire.AppendSlice(e, st.Params)
	wire.AppendSlice(e, st.Opt)
	return e.B
}

func decodeState(b []byte) (State, error) {
	d := &wire.Decoder{B: b}
	st := State{Model: int(d.U64()), Step: int64(d.U64())}
	st.LossSum = math.Float64frombits(d.U64())
	st.Examples = int64(d.U64())
	st.Params = wire.ReadSlice[float32](d)
	st.Opt = wire.ReadSlice[float32](d)
	return st, d.Finish("a training state")
}

func init() {
	beam.RegisterCoder(reflect.TypeOf(State{}), encodeState, decodeState)
}
