package train

import (
	"encoding/binary"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"unsafe"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"

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

// Bulk little-endian coder: a State is megabytes of floats.
func encodeState(st State) []byte {
	b := make([]byte, 0, 48+4*(len(st.Params)+len(st.Opt)))
	b = binary.LittleEndian.AppendUint64(b, uint64(st.Model))
	b = binary.LittleEndian.AppendUint64(b, uint64(st.Step))
	b = binary.LittleEndian.AppendUint64(b, math.Float64bits(st.LossSum))
	b = binary.LittleEndian.AppendUint64(b, uint64(st.Examples))
	b = appendFloats(b, st.Params)
	return appendFloats(b, st.Opt)
}

func decodeState(b []byte) (State, error) {
	var st State
	if len(b) < 32 {
		return st, fmt.Errorf("train: state encoding of %d bytes is truncated", len(b))
	}
	st.Model = int(binary.LittleEndian.Uint64(b))
	b = b[8:]
	st.Step = int64(binary.LittleEndian.Uint64(b))
	st.LossSum = math.Float64frombits(binary.LittleEndian.Uint64(b[8:]))
	st.Examples = int64(binary.LittleEndian.Uint64(b[16:]))
	var err error
	b = b[24:]
	if st.Params, b, err = readFloats(b); err != nil {
		return st, err
	}
	if st.Opt, b, err = readFloats(b); err != nil {
		return st, err
	}
	if len(b) != 0 {
		return st, fmt.Errorf("train: %d trailing bytes after a state", len(b))
	}
	return st, nil
}

func appendFloats(b []byte, x []float32) []byte {
	b = binary.LittleEndian.AppendUint64(b, uint64(len(x)))
	if len(x) == 0 {
		return b
	}
	return append(b, unsafe.Slice((*byte)(unsafe.Pointer(&x[0])), 4*len(x))...)
}

func readFloats(b []byte) ([]float32, []byte, error) {
	if len(b) < 8 {
		return nil, nil, fmt.Errorf("train: truncated vector length")
	}
	n := binary.LittleEndian.Uint64(b)
	b = b[8:]
	if n > uint64(len(b))/4 {
		return nil, nil, fmt.Errorf("train: vector of %d floats in %d bytes", n, len(b))
	}
	x := make([]float32, n)
	if n > 0 {
		copy(unsafe.Slice((*byte)(unsafe.Pointer(&x[0])), 4*n), b[:4*n])
	}
	return x, b[4*n:], nil
}

func init() {
	if binary.NativeEndian.Uint16([]byte{1, 0}) != 1 {
		panic("train: the state coder assumes a little-endian machine")
	}
	beam.RegisterCoder(reflect.TypeOf(State{}), encodeState, decodeState)
}
