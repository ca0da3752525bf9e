package onnx

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"

	"github.com/lightbeam-ml/lightbeam/export"

	"github.com/lightbeam-ml/lightbeam/compress/artifact"
	"github.com/lightbeam-ml/lightbeam/data/shardio"
	"github.com/lightbeam-ml/lightbeam/internal/version"
	"github.com/lightbeam-ml/lightbeam/model"
)

// The graph's input and output names.
const (
	InputName      = "input"         // float32 [N, features], raw (unscaled) features
	ProbsName      = "probabilities" // float32 [N, classes], Softmax and MLP
	PredictionName = "prediction"    // float32 [N, targets], Linear
)

// The metadata keys under which train records, in a model file (and
// compress carries into an artifact), the scale its training data had:
// the method and the offsets and factors as JSON arrays (shardio.Floats).
const (
	MetaScaleMethod = "preprocess.scale.method"
	MetaScaleOffset = "preprocess.scale.offset"
	MetaScaleFactor = "preprocess.scale.factor"
)

// ModelScale returns the preprocessing scale that meta records (see
// MetaScaleMethod), and false when it records none.
func ModelScale(meta map[string]string) (shardio.Scale, bool, error) {
	method, ok := meta[MetaScaleMethod]
	if !ok {
		return shardio.Scale{}, false, nil
	}
	sc := shardio.Scale{Method: method}
	for _, f := range []struct {
		key string
		dst *shardio.Floats
	}{{MetaScaleOffset, &sc.Offset}, {MetaScaleFactor, &sc.Factor}} {
		if v, ok := meta[f.key]; ok {
			if err := json.Unmarshal([]byte(v), f.dst); err != nil {
				return shardio.Scale{}, false, fmt.Errorf("metadata %s: %w", f.key, err)
			}
		}
	}
	return sc, true, nil
}

// InputScale returns the scale to fold into src's graph and where it comes
// from. With a manifest (read from dataDir, the preprocess output the
// model was trained on) it is the manifest's, which must agree with the
// model's features, classes and any scale the model records; without one,
// the one src's metadata records, and an error when it records none.
func InputScale(src *export.Source, man *shardio.Manifest, dataDir string) (shardio.Scale, string, error) {
	recorded, has, err := ModelScale(src.Meta)
	if err != nil {
		return shardio.Scale{}, "", fmt.Errorf("onnx: %s: %w", src.Path, err)
	}
	m := src.Model
	var sc shardio.Scale
	var from string
	switch {
	case man != nil:
		manPath := strings.TrimSuffix(dataDir, "/") + "/" + shardio.ManifestName
		if m.Classifier() != (man.Schema.Task == "classification") {
			return shardio.Scale{}, "", fmt.Errorf("onnx: %s is a %s task, but %s is a %s", manPath, man.Schema.Task, src.Path, m)
		}
		if man.Schema.Features != m.Inputs() {
			return shardio.Scale{}, "", fmt.Errorf("onnx: %s has %d features, but %s (%s) takes %d", manPath, man.Schema.Features, src.Path, m, m.Inputs())
		}
		if m.Classifier() && man.Schema.Classes != m.Outputs() {
			return shardio.Scale{}, "", fmt.Errorf("onnx: %s has %d classes, but %s (%s) has %d outputs", manPath, man.Schema.Classes, src.Path, m, m.Outputs())
		}
		if has && !sameScale(recorded, man.Scale) {
			return shardio.Scale{}, "", fmt.Errorf("onnx: %s records a %s scale other than the %s scale of %s: it was trained on other data", src.Path, recorded.Method, man.Scale.Method, manPath)
		}
		sc, from = man.Scale, manPath
	case has:
		sc, from = recorded, src.Path+" metadata"
	default:
		return shardio.Scale{}, "", fmt.Errorf("onnx: %s records no preprocessing scale (metadata %s): pass --data=PREP_DIR, the preprocess output it was trained on", src.Path, MetaScaleMethod)
	}
	if err := checkScale(sc, m.Inputs()); err != nil {
		return shardio.Scale{}, "", fmt.Errorf("onnx: scale from %s: %w", from, err)
	}
	return sc, from, nil
}

// sameScale compares two scales as the graph applies them, in float32: a
// compact artifact records them in float32's shortest decimal form.
func sameScale(a, b shardio.Scale) bool {
	return a.Method == b.Method && slices.Equal(narrow(a.Offset), narrow(b.Offset)) && slices.Equal(narrow(a.Factor), narrow(b.Factor))
}

func checkScale(sc shardio.Scale, d int) error {
	switch sc.Method {
	case "none":
		return nil
	case "standard", "minmax":
	default:
		return fmt.Errorf("scale method %q is not standard, minmax or none", sc.Method)
	}
	if len(sc.Offset) != d || len(sc.Factor) != d {
		return fmt.Errorf("%s scale has %d offsets and %d factors for %d features", sc.Method, len(sc.Offset), len(sc.Factor), d)
	}
	for j := range d {
		if o, f := sc.Offset[j], sc.Factor[j]; math.IsNaN(o) || math.IsInf(o, 0) || math.IsNaN(f) || math.IsInf(f, 0) {
			return fmt.Errorf("feature %d has offset %v and factor %v, not finite", j, o, f)
		}
	}
	return nil
}

// Weight says how Export wrote one parameter tensor.
type Weight struct {
	Name   string // "fc1.weight"
	Stored string // its artifact encoding, or "f32" for a model file
	// Int8 is set when the tensor went in as int8 codes with a
	// DequantizeLinear node (per channel, or per tensor for int8-tensor);
	// else it went in as float32 values.
	Int8 bool
}

// Summary describes an exported file.
type Summary struct {
	Bytes            int
	IRVersion, Opset int
	Model            string // e.g. "mlp 784-300-100-10"
	Scale            string // the folded scale's method: "minmax", "standard" or "none"
	Output           string // ProbsName or PredictionName
	Weights          []Weight
}

// String is the one-line summary that lightbeam export prints after path.
func (s *Summary) String() string {
	var int8s, floats, deq []string
	for _, w := range s.Weights {
		switch {
		case w.Int8:
			int8s = append(int8s, w.Name)
		case w.Stored == "f32":
			floats = append(floats, w.Name)
		default:
			deq = append(deq, w.Name+" ("+w.Stored+")")
		}
	}
	scale := "scale " + s.Scale + " folded in"
	if s.Scale == "none" {
		scale = "no scale (none)"
	}
	parts := []string{fmt.Sprintf("%d bytes, ONNX opset %d (IR %d), %s, %s, output %s", s.Bytes, s.Opset, s.IRVersion, s.Model, scale, s.Output)}
	if len(int8s) > 0 {
		parts = append(parts, "int8 + DequantizeLinear: "+strings.Join(int8s, ", "))
	}
	if len(deq) > 0 {
		parts = append(parts, "float32 dequantized: "+strings.Join(deq, ", "))
	}
	if len(floats) > 0 {
		parts = append(parts, "float32: "+strings.Join(floats, ", "))
	}
	return strings.Join(parts, "; ")
}

// Export returns src as an ONNX model (the bytes of a ModelProto) that
// takes raw features and computes what lightbeam computes:
//
//	input   float32 [N, d], raw features (IDX images: pixels 0..255)
//	x' = (input − offset) · factor         Sub, Mul: sc folded in (none: skipped)
//	h  = x'·Wᵀ + b                         Gemm (transB=1, W stored [out,in])
//	h  = max(h, 0)                         Relu, between MLP layers
//	probabilities = Softmax(h, axis=1)     Softmax and MLP (2 classes too)
//	prediction    = h                      Linear
//
// Weights that an artifact stores as int8 per output channel (dense or
// sparse) go in as an INT8 initializer [out,in] feeding DequantizeLinear
// (a float32 scale and an int8 zero point of 0 per row, axis 0), which
// gives exactly the values lightbeam uses; int8-tensor likewise with one
// scale. Every other encoding (f16, q8_0, q4_0, kmeans) goes in as its
// dequantized float32 values, as do biases and model files' weights.
func Export(src *export.Source, sc shardio.Scale) ([]byte, *Summary, error) {
	m := src.Model
	switch m.Arch() {
	case model.Softmax, model.MLP, model.Linear:
	default:
		return nil, nil, fmt.Errorf("onnx: %s: cannot export a %s model (softmax, linear and mlp can be)", src.Path, m.Arch())
	}
	d := m.Inputs()
	if err := checkScale(sc, d); err != nil {
		return nil, nil, fmt.Errorf("onnx: %s: %w", src.Path, err)
	}
	sum := &Summary{IRVersion: IRVersion, Opset: Opset, Model: m.String(), Scale: sc.Method, Output: ProbsName}
	if !m.Classifier() {
		sum.Output = PredictionName
	}
	g := graphProto{name: "lightbeam " + m.String()}
	cur := InputName
	if sc.Method != "none" {
		g.initializers = append(g.initializers,
			floatTensor("scale.offset", []int{d}, narrow(sc.Offset)),
			floatTensor("scale.factor", []int{d}, narrow(sc.Factor)))
		g.nodes = append(g.nodes,
			nodeProto{name: "scale.sub", opType: "Sub", inputs: []string{InputName, "scale.offset"}, outputs: []string{"scale.centered"}},
			nodeProto{name: "scale.mul", opType: "Mul", inputs: []string{"scale.centered", "scale.factor"}, outputs: []string{"scaled"}})
		cur = "scaled"
	}
	layout := m.Layout()
	for i := 0; i < len(layout); i += 2 {
		w, b := layout[i], layout[i+1]
		last := i+2 == len(layout)
		prefix := strings.TrimSuffix(w.Name, ".weight")
		wInfo, inits, nodes, err := weightInput(src, w)
		if err != nil {
			return nil, nil, err
		}
		bInfo := Weight{Name: b.Name, Stored: storedKind(src, b.Name)}
		g.initializers = append(g.initializers, inits...)
		g.initializers = append(g.initializers, floatTensor(b.Name, b.Shape, src.Params[b.Offset:b.Offset+b.Size()]))
		g.nodes = append(g.nodes, nodes...)
		sum.Weights = append(sum.Weights, wInfo, bInfo)

		out := prefix + ".gemm"
		switch {
		case last && !m.Classifier():
			out = PredictionName
		case last:
			out = "logits"
		}
		g.nodes = append(g.nodes, nodeProto{name: prefix + ".gemm", opType: "Gemm", inputs: []string{cur, w.Name, b.Name}, outputs: []string{out},
			attrs: []intAttr{{"transB", 1}}})
		cur = out
		if !last {
			g.nodes = append(g.nodes, nodeProto{name: prefix + ".relu", opType: "Relu", inputs: []string{cur}, outputs: []string{prefix + ".relu"}})
			cur = prefix + ".relu"
		}
	}
	if m.Classifier() {
		g.nodes = append(g.nodes, nodeProto{name: "softmax", opType: "Softmax", inputs: []string{cur}, outputs: []string{ProbsName}, attrs: []intAttr{{"axis", 1}}})
	}
	g.inputs = []valueInfo{batchOf(InputName, d)}
	g.outputs = []valueInfo{batchOf(sum.Output, m.Outputs())}
	g.docString = fmt.Sprintf("%s: %s float32 [N, %d] raw features (preprocessing scale %s folded in) -> %s float32 [N, %d]", m, InputName, d, sc.Method, sum.Output, m.Outputs())

	mp := modelProto{
		producerName:    "lightbeam",
		producerVersion: version.Version,
		docString:       "lightbeam " + m.String() + " exported from " + src.Path,
		graph:           g,
		metadata:        metadata(src),
	}
	raw := mp.marshal()
	sum.Bytes = len(raw)
	return raw, sum, nil
}

// weightInput returns how weight tensor w enters the graph: a float32
// initializer named w.Name, or int8 codes, scales and zero points with the
// DequantizeLinear node whose output is w.Name.
func weightInput(src *export.Source, w model.TensorSpec) (Weight, []tensorProto, []nodeProto, error) {
	info := Weight{Name: w.Name, Stored: storedKind(src, w.Name)}
	t := src.Stored[w.Name]
	if t == nil || len(w.Shape) != 2 || (t.Enc.Kind != artifact.Int8 && t.Enc.Kind != artifact.Int8Tensor) {
		return info, []tensorProto{floatTensor(w.Name, w.Shape, src.Params[w.Offset:w.Offset+w.Size()])}, nil, nil
	}
	rows := w.Shape[0]
	codes := t.Codes
	if t.Enc.Sparse { // unstored positions are code 0, which dequantizes to exactly 0
		codes = make([]byte, t.Len())
		for i, p := range t.Positions {
			codes[p] = t.Codes[i]
		}
	}
	if len(codes) != t.Len() {
		return info, nil, nil, fmt.Errorf("onnx: %s: tensor %s holds %d int8 codes for %d values", src.Path, w.Name, len(codes), t.Len())
	}
	q, s, z := w.Name+".quantized", w.Name+".scale", w.Name+".zero_point"
	node := nodeProto{name: w.Name + ".dequantize", opType: "DequantizeLinear", inputs: []string{q, s, z}, outputs: []string{w.Name}}
	var scale, zero tensorProto
	switch {
	case t.Enc.Kind == artifact.Int8 && len(t.Scales) == rows:
		scale = floatTensor(s, []int{rows}, t.Scales)
		zero = int8Tensor(z, []int{rows}, make([]byte, rows))
		node.attrs = []intAttr{{"axis", 0}} // W is [out,in]: one scale per output channel
	case t.Enc.Kind == artifact.Int8Tensor && len(t.Scales) == 1:
		scale = floatTensor(s, nil, t.Scales)
		zero = int8Tensor(z, nil, []byte{0})
	default:
		return info, nil, nil, fmt.Errorf("onnx: %s: %s tensor %s has %d scales for %d rows", src.Path, t.Enc.Kind, w.Name, len(t.Scales), rows)
	}
	info.Int8 = true
	return info, []tensorProto{int8Tensor(q, w.Shape, codes), scale, zero}, []nodeProto{node}, nil
}

func storedKind(src *export.Source, name string) string {
	if t := src.Stored[name]; t != nil {
		return t.Enc.String()
	}
	return "f32"
}

// metadata is the source file's metadata (sorted by key) and where it came
// from, for the ONNX file's metadata_props. The scale's offsets and factors
// are left out: the graph holds them (scale.offset, scale.factor).
func metadata(src *export.Source) [][2]string {
	keys := make([]string, 0, len(src.Meta))
	for k := range src.Meta {
		if k != "lightbeam.source" && k != MetaScaleOffset && k != MetaScaleFactor {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	out := [][2]string{{"lightbeam.source", src.Path}}
	for _, k := range keys {
		out = append(out, [2]string{k, src.Meta[k]})
	}
	return out
}

// narrow returns the float32 values of v: the manifest widens the float32
// offsets and factors that preprocess applied, so this is exact.
func narrow(v shardio.Floats) []float32 {
	out := make([]float32, len(v))
	for i, x := range v {
		out[i] = float32(x)
	}
	return out
}
