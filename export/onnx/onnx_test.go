package onnx

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"math"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/lightbeam-ml/lightbeam/export"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/lightbeam-ml/lightbeam/compress/artifact"
	"github.com/lightbeam-ml/lightbeam/compress/prune"
	"github.com/lightbeam-ml/lightbeam/data/shardio"
	"github.com/lightbeam-ml/lightbeam/internal/version"
	"github.com/lightbeam-ml/lightbeam/model"
)

// decoded is what the tests read back from Export's bytes with protowire,
// independently of proto.go: the fields by onnx.proto's numbers.
type decoded struct {
	irVersion                 int64
	producer, producerVersion string
	opsets                    map[string]int64
	nodes                     []decodedNode
	inits                     map[string]decodedTensor
	inputs, outputs           []decodedValue
	meta                      map[string]string
}

type decodedNode struct {
	name, op        string
	inputs, outputs []string
	attrs           map[string]int64
}

type decodedTensor struct {
	dtype int64
	dims  []int64
	raw   []byte
}

type decodedValue struct {
	name string
	elem int64
	dims []string // dim_value as a number, or dim_param
}

// field is one decoded field: a varint's value or a length-delimited
// field's bytes.
type field struct {
	num protowire.Number
	v   uint64
	b   []byte
}

func fields(t *testing.T, b []byte) []field {
	t.Helper()
	var out []field
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			t.Fatalf("bad tag: %v", protowire.ParseError(n))
		}
		b = b[n:]
		f := field{num: num}
		switch typ {
		case protowire.VarintType:
			f.v, n = protowire.ConsumeVarint(b)
		case protowire.BytesType:
			f.b, n = protowire.ConsumeBytes(b)
		default:
			t.Fatalf("field %d: unexpected wire type %d", num, typ)
		}
		if n < 0 {
			t.Fatalf("field %d: %v", num, protowire.ParseError(n))
		}
		b = b[n:]
		out = append(out, f)
	}
	return out
}

func each(fs []field, num protowire.Number, fn func(f field)) {
	for _, f := range fs {
		if f.num == num {
			fn(f)
		}
	}
}

func str(fs []field, num protowire.Number) (s string) {
	each(fs, num, func(f field) { s = string(f.b) })
	return s
}

func varint(fs []field, num protowire.Number) (v int64) {
	each(fs, num, func(f field) { v = int64(f.v) })
	return v
}

func strs(fs []field, num protowire.Number) (out []string) {
	each(fs, num, func(f field) { out = append(out, string(f.b)) })
	return out
}

func decode(t *testing.T, raw []byte) decoded {
	t.Helper()
	m := fields(t, raw)
	d := decoded{
		irVersion: varint(m, 1), producer: str(m, 2), producerVersion: str(m, 3),
		opsets: map[string]int64{}, inits: map[string]decodedTensor{}, meta: map[string]string{},
	}
	each(m, 8, func(f field) {
		o := fields(t, f.b)
		d.opsets[str(o, 1)] = varint(o, 2)
	})
	each(m, 14, func(f field) {
		e := fields(t, f.b)
		d.meta[str(e, 1)] = str(e, 2)
	})
	var g []field
	each(m, 7, func(f field) { g = fields(t, f.b) })
	each(g, 1, func(f field) {
		n := fields(t, f.b)
		dn := decodedNode{name: str(n, 3), op: str(n, 4), inputs: strs(n, 1), outputs: strs(n, 2), attrs: map[string]int64{}}
		each(n, 5, func(f field) {
			a := fields(t, f.b)
			if typ := varint(a, 20); typ != 2 {
				t.Errorf("node %s: attribute %s has type %d, want INT (2)", dn.name, str(a, 1), typ)
			}
			dn.attrs[str(a, 1)] = varint(a, 3)
		})
		d.nodes = append(d.nodes, dn)
	})
	each(g, 5, func(f field) {
		tf := fields(t, f.b)
		var dt decodedTensor
		each(tf, 1, func(f field) { dt.dims = append(dt.dims, int64(f.v)) })
		dt.dtype = varint(tf, 2)
		each(tf, 9, func(f field) { dt.raw = f.b })
		d.inits[str(tf, 8)] = dt
	})
	value := func(f field) decodedValue {
		vf := fields(t, f.b)
		dv := decodedValue{name: str(vf, 1)}
		each(vf, 2, func(f field) { // TypeProto
			each(fields(t, f.b), 1, func(f field) { // tensor_type
				tt := fields(t, f.b)
				dv.elem = varint(tt, 1)
				each(tt, 2, func(f field) { // shape
					each(fields(t, f.b), 1, func(f field) { // dim
						dim := fields(t, f.b)
						if p := str(dim, 2); p != "" {
							dv.dims = append(dv.dims, p)
						} else {
							dv.dims = append(dv.dims, strconv.FormatInt(varint(dim, 1), 10))
						}
					})
				})
			})
		})
		return dv
	}
	each(g, 11, func(f field) { d.inputs = append(d.inputs, value(f)) })
	each(g, 12, func(f field) { d.outputs = append(d.outputs, value(f)) })
	return d
}

func (d decoded) ops() []string {
	var out []string
	for _, n := range d.nodes {
		out = append(out, n.op)
	}
	return out
}

func (d decoded) node(t *testing.T, name string) decodedNode {
	t.Helper()
	for _, n := range d.nodes {
		if n.name == name {
			return n
		}
	}
	t.Fatalf("no node %q in %v", name, d.ops())
	return decodedNode{}
}

func f32bytes(v []float32) []byte {
	b := make([]byte, 0, 4*len(v))
	for _, x := range v {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(x))
	}
	return b
}

func mustModel(t *testing.T, cfg model.Config) (*model.Model, []float32) {
	t.Helper()
	m, err := model.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	p := m.Init(7)
	for i := range p { // non-zero biases
		if p[i] == 0 {
			p[i] = 0.01 * float32(i%9-4)
		}
	}
	return m, p
}

// testScale is a standard-like scale of d features with distinct offsets
// and factors.
func testScale(d int) shardio.Scale {
	sc := shardio.Scale{Method: "standard", Offset: make(shardio.Floats, d), Factor: make(shardio.Floats, d)}
	for j := range d {
		sc.Offset[j] = float64(float32(0.5*float64(j) - 1))
		sc.Factor[j] = float64(float32(1 / (1 + 0.25*float64(j))))
	}
	return sc
}

// modelSource encodes a model file and decodes it as Export's callers do.
func modelSource(t *testing.T, m *model.Model, p []float32, meta map[string]string) *export.Source {
	t.Helper()
	var buf bytes.Buffer
	if err := model.EncodeModel(&buf, m, p, meta); err != nil {
		t.Fatal(err)
	}
	src, err := export.DecodeSource(buf.Bytes(), "m.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	return src
}

// The graph of each architecture: its nodes in order, the input with a
// symbolic batch dimension, the output, every initializer's type, shape
// and bytes, the header fields and the metadata.
func TestExportGraph(t *testing.T) {
	for _, tt := range []struct {
		cfg    model.Config
		scale  string
		ops    []string
		output string
	}{
		{model.Config{Arch: model.MLP, Inputs: 6, Hidden: []int{5, 4}, Outputs: 3}, "standard",
			[]string{"Sub", "Mul", "Gemm", "Relu", "Gemm", "Relu", "Gemm", "Softmax"}, ProbsName},
		{model.Config{Arch: model.Softmax, Inputs: 6, Outputs: 2}, "standard",
			[]string{"Sub", "Mul", "Gemm", "Softmax"}, ProbsName},
		{model.Config{Arch: model.Softmax, Inputs: 6, Outputs: 4}, "none",
			[]string{"Gemm", "Softmax"}, ProbsName},
		{model.Config{Arch: model.Linear, Inputs: 6, Outputs: 2}, "standard",
			[]string{"Sub", "Mul", "Gemm"}, PredictionName},
	} {
		m, p := mustModel(t, tt.cfg)
		t.Run(m.String()+" "+tt.scale, func(t *testing.T) {
			sc := shardio.Scale{Method: "none"}
			if tt.scale != "none" {
				sc = testScale(m.Inputs())
			}
			src := modelSource(t, m, p, map[string]string{"note": "unit test"})
			raw, sum, err := Export(src, sc)
			if err != nil {
				t.Fatal(err)
			}
			d := decode(t, raw)
			if d.irVersion != IRVersion || d.opsets[""] != Opset || len(d.opsets) != 1 || d.producer != "lightbeam" || d.producerVersion != version.Version {
				t.Errorf("header: ir %d, opsets %v, producer %q %q", d.irVersion, d.opsets, d.producer, d.producerVersion)
			}
			if !slices.Equal(d.ops(), tt.ops) {
				t.Errorf("ops %v, want %v", d.ops(), tt.ops)
			}
			wantIn := decodedValue{InputName, 1, []string{"N", strconv.Itoa(m.Inputs())}}
			wantOut := decodedValue{tt.output, 1, []string{"N", strconv.Itoa(m.Outputs())}}
			if len(d.inputs) != 1 || !equalValue(d.inputs[0], wantIn) || len(d.outputs) != 1 || !equalValue(d.outputs[0], wantOut) {
				t.Errorf("inputs %+v, outputs %+v; want %+v, %+v", d.inputs, d.outputs, wantIn, wantOut)
			}
			for _, s := range m.Layout() {
				it, ok := d.inits[s.Name]
				if !ok || it.dtype != 1 || !slices.Equal(it.dims, int64s(s.Shape)) || !bytes.Equal(it.raw, f32bytes(p[s.Offset:s.Offset+s.Size()])) {
					t.Errorf("initializer %s: %v, dtype %d, dims %v, %d bytes", s.Name, ok, it.dtype, it.dims, len(it.raw))
				}
			}
			if tt.scale != "none" {
				if got := d.inits["scale.offset"]; !bytes.Equal(got.raw, f32bytes(narrow(sc.Offset))) || !slices.Equal(got.dims, []int64{int64(m.Inputs())}) {
					t.Errorf("scale.offset: dims %v", got.dims)
				}
				if got := d.inits["scale.factor"]; !bytes.Equal(got.raw, f32bytes(narrow(sc.Factor))) {
					t.Error("scale.factor differs")
				}
				if n := d.node(t, "scale.sub"); !slices.Equal(n.inputs, []string{InputName, "scale.offset"}) {
					t.Errorf("scale.sub inputs %v", n.inputs)
				}
			}
			for _, n := range d.nodes {
				switch n.op {
				case "Gemm":
					if n.attrs["transB"] != 1 || len(n.inputs) != 3 {
						t.Errorf("%s: attrs %v, inputs %v", n.name, n.attrs, n.inputs)
					}
				case "Softmax":
					if n.attrs["axis"] != 1 || n.outputs[0] != ProbsName {
						t.Errorf("softmax: attrs %v, outputs %v", n.attrs, n.outputs)
					}
				}
			}
			if last := d.nodes[len(d.nodes)-1]; last.outputs[0] != tt.output {
				t.Errorf("the last node writes %v, want %s", last.outputs, tt.output)
			}
			if d.meta["note"] != "unit test" || d.meta[model.MetaArch] != string(m.Arch()) || d.meta["lightbeam.source"] != "m.safetensors" {
				t.Errorf("metadata %v", d.meta)
			}
			if sum.Bytes != len(raw) || sum.Opset != Opset || sum.Output != tt.output || len(sum.Weights) != len(m.Layout()) {
				t.Errorf("summary %+v", sum)
			}
			if again, _, _ := Export(src, sc); !bytes.Equal(again, raw) {
				t.Error("a second export gives other bytes")
			}
		})
	}
}

func equalValue(a, b decodedValue) bool {
	return a.name == b.name && a.elem == b.elem && slices.Equal(a.dims, b.dims)
}

// artifactSource builds an artifact of m's parameters with each weight
// matrix in enc (biases f32) and decodes it as Export's callers do.
func artifactSource(t *testing.T, m *model.Model, p []float32, enc artifact.Encoding, sparsity float64) *export.Source {
	t.Helper()
	var ts []artifact.Tensor
	for _, mt := range m.Tensors(p) {
		e, w := artifact.Encoding{Kind: artifact.F32}, mt.Data
		var mask prune.Mask
		if len(mt.Shape) == 2 {
			e = enc
			if sparsity > 0 {
				var err error
				if mask, err = prune.Magnitude(w, sparsity); err != nil {
					t.Fatal(err)
				}
			}
		}
		q, err := artifact.Quantize(mt.Name, mt.Shape, w, mask, e)
		if err != nil {
			t.Fatal(err)
		}
		ts = append(ts, q)
	}
	sizes := make([]string, 0)
	for _, s := range m.Sizes() {
		sizes = append(sizes, strconv.Itoa(s))
	}
	raw, err := artifact.Marshal(ts, map[string]string{model.MetaArch: string(m.Arch()), model.MetaSizes: strings.Join(sizes, ",")})
	if err != nil {
		t.Fatal(err)
	}
	src, err := export.DecodeSource(raw, "m.lbc")
	if err != nil {
		t.Fatal(err)
	}
	return src
}

// An artifact's int8 weights go in as INT8 codes behind DequantizeLinear
// (per output channel on axis 0, or per tensor), whose values are exactly
// the artifact's; other encodings go in as their dequantized values.
func TestExportArtifact(t *testing.T) {
	m, p := mustModel(t, model.Config{Arch: model.MLP, Inputs: 40, Hidden: []int{8}, Outputs: 3})
	for _, tt := range []struct {
		name     string
		enc      artifact.Encoding
		sparsity float64
		int8     bool
	}{
		{"int8", artifact.Encoding{Kind: artifact.Int8}, 0, true},
		{"int8 sparse", artifact.Encoding{Kind: artifact.Int8, Sparse: true}, 0.7, true},
		{"int8 f16 scales", artifact.Encoding{Kind: artifact.Int8, HalfSide: true}, 0, true},
		{"int8-tensor", artifact.Encoding{Kind: artifact.Int8Tensor}, 0, true},
		{"q4_0", artifact.Encoding{Kind: artifact.Q4_0}, 0, false},
		{"kmeans sparse", artifact.Encoding{Kind: artifact.KMeans, Bits: 3, Sparse: true}, 0.5, false},
		{"f16", artifact.Encoding{Kind: artifact.F16}, 0, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			src := artifactSource(t, m, p, tt.enc, tt.sparsity)
			raw, sum, err := Export(src, testScale(m.Inputs()))
			if err != nil {
				t.Fatal(err)
			}
			d := decode(t, raw)
			for _, s := range m.Layout() {
				stored := src.Stored[s.Name]
				dense := stored.Dequantize()
				if len(s.Shape) == 1 || !tt.int8 {
					if it := d.inits[s.Name]; it.dtype != 1 || !bytes.Equal(it.raw, f32bytes(dense)) {
						t.Errorf("%s: float initializer dtype %d differs from the artifact's values", s.Name, it.dtype)
					}
					continue
				}
				if _, ok := d.inits[s.Name]; ok {
					t.Errorf("%s: a float initializer beside the int8 codes", s.Name)
				}
				q, sc, zp := d.inits[s.Name+".quantized"], d.inits[s.Name+".scale"], d.inits[s.Name+".zero_point"]
				if q.dtype != 3 || !slices.Equal(q.dims, int64s(s.Shape)) || zp.dtype != 3 || sc.dtype != 1 {
					t.Fatalf("%s: quantized %d %v, zero point %d, scale %d", s.Name, q.dtype, q.dims, zp.dtype, sc.dtype)
				}
				n := d.node(t, s.Name+".dequantize")
				if n.op != "DequantizeLinear" || !slices.Equal(n.inputs, []string{s.Name + ".quantized", s.Name + ".scale", s.Name + ".zero_point"}) || n.outputs[0] != s.Name {
					t.Errorf("%s: node %+v", s.Name, n)
				}
				rows := s.Shape[0]
				perChannel := tt.enc.Kind == artifact.Int8
				if perChannel && (n.attrs["axis"] != 0 || len(n.attrs) != 1 || !slices.Equal(sc.dims, []int64{int64(rows)}) || !bytes.Equal(zp.raw, make([]byte, rows))) {
					t.Errorf("%s: per channel: attrs %v, scale dims %v, zero points %v", s.Name, n.attrs, sc.dims, zp.raw)
				}
				if !perChannel && (len(sc.dims) != 0 || len(zp.raw) != 1 || zp.raw[0] != 0) {
					t.Errorf("%s: per tensor: scale dims %v, zero point %v", s.Name, sc.dims, zp.raw)
				}
				// DequantizeLinear: y = (q − 0) · scale[row], in float32.
				scales := make([]float32, len(sc.raw)/4)
				for i := range scales {
					scales[i] = math.Float32frombits(binary.LittleEndian.Uint32(sc.raw[4*i:]))
				}
				cols := s.Shape[1]
				for i, c := range q.raw {
					r := 0
					if perChannel {
						r = i / cols
					}
					if got := float32(int8(c)) * scales[r]; got != dense[i] {
						t.Fatalf("%s[%d]: DequantizeLinear gives %v, the artifact holds %v", s.Name, i, got, dense[i])
					}
				}
			}
			for _, w := range sum.Weights {
				if want := tt.int8 && strings.HasSuffix(w.Name, ".weight"); w.Int8 != want || w.Stored != src.Stored[w.Name].Enc.String() {
					t.Errorf("summary %+v, want int8 %v", w, want)
				}
			}
			line := sum.String()
			if tt.int8 != strings.Contains(line, "int8 + DequantizeLinear: fc1.weight, fc2.weight") || tt.int8 == strings.Contains(line, "float32 dequantized") {
				t.Errorf("summary line %q", line)
			}
		})
	}
}

// InputScale takes the manifest's scale when given, else the model's
// metadata, and refuses what it cannot fold in with an error naming the
// file and what to do.
func TestInputScale(t *testing.T) {
	m, p := mustModel(t, model.Config{Arch: model.Softmax, Inputs: 4, Outputs: 3})
	sc := testScale(4)
	recorded := func(s shardio.Scale) map[string]string {
		off, _ := json.Marshal(s.Offset)
		fac, _ := json.Marshal(s.Factor)
		return map[string]string{MetaScaleMethod: s.Method, MetaScaleOffset: string(off), MetaScaleFactor: string(fac)}
	}
	manifest := func(s shardio.Scale, features, classes int) *shardio.Manifest {
		return &shardio.Manifest{Scale: s, Schema: shardio.Schema{Features: features, Task: "classification", Classes: classes}}
	}
	other := testScale(4)
	other.Offset[2] = 7
	short := testScale(3)
	for _, tt := range []struct {
		name     string
		meta     map[string]string
		man      *shardio.Manifest
		wantFrom string
		wantErr  string
	}{
		{"model metadata", recorded(sc), nil, "m.safetensors metadata", ""},
		{"model metadata, none", recorded(shardio.Scale{Method: "none"}), nil, "m.safetensors metadata", ""},
		{"manifest", nil, manifest(sc, 4, 3), "prep/manifest.json", ""},
		{"both agree", recorded(sc), manifest(sc, 4, 3), "prep/manifest.json", ""},
		{"no scale anywhere", nil, nil, "", "m.safetensors records no preprocessing scale (metadata preprocess.scale.method): pass --data=PREP_DIR"},
		{"both disagree", recorded(other), manifest(sc, 4, 3), "", "m.safetensors records a standard scale other than the standard scale of prep/manifest.json"},
		{"features", nil, manifest(testScale(5), 5, 3), "", "prep/manifest.json has 5 features, but m.safetensors (softmax 4-3) takes 4"},
		{"classes", nil, manifest(sc, 4, 5), "", "prep/manifest.json has 5 classes"},
		{"regression data", nil, &shardio.Manifest{Scale: sc, Schema: shardio.Schema{Features: 4, Task: "regression"}}, "", "is a regression task"},
		{"short scale", recorded(short), nil, "", "scale from m.safetensors metadata: standard scale has 3 offsets and 3 factors for 4 features"},
		{"bad method", map[string]string{MetaScaleMethod: "log"}, nil, "", `scale method "log"`},
		{"bad json", map[string]string{MetaScaleMethod: "standard", MetaScaleOffset: "[1,"}, nil, "", "metadata preprocess.scale.offset"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			src := modelSource(t, m, p, tt.meta)
			got, from, err := InputScale(src, tt.man, "prep")
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if from != tt.wantFrom {
				t.Errorf("from %q, want %q", from, tt.wantFrom)
			}
			if got.Method != "none" && !sameScale(got, sc) {
				t.Errorf("scale %+v, want %+v", got, sc)
			}
		})
	}
}

// Files Export cannot read, or scales it cannot fold, are errors naming
// the file.
func TestExportErrors(t *testing.T) {
	m, p := mustModel(t, model.Config{Arch: model.Softmax, Inputs: 4, Outputs: 3})
	var buf bytes.Buffer
	if err := model.EncodeModel(&buf, m, p, nil); err != nil {
		t.Fatal(err)
	}
	good := buf.Bytes()
	// The same file claiming an architecture lightbeam does not have.
	cnn := bytes.Replace(good, []byte(`"softmax"`), []byte(`"cnn"    `), 1)
	if bytes.Equal(cnn, good) {
		t.Fatal("the test's file has no arch to replace")
	}
	for _, tt := range []struct {
		name, wantErr string
		raw           []byte
	}{
		{"unknown architecture", `export: model: x.safetensors: model: unknown architecture "cnn"`, cnn},
		{"not a model", "x.safetensors", []byte("hello, world, this is not a model")},
		{"truncated artifact", "x.safetensors", append([]byte(artifact.Magic), 1, 2, 3)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := export.DecodeSource(tt.raw, "x.safetensors"); err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
	src := modelSource(t, m, p, nil)
	bad := testScale(4)
	bad.Factor[1] = math.Inf(1)
	if _, _, err := Export(src, bad); err == nil || !strings.Contains(err.Error(), "m.safetensors: feature 1 has offset") {
		t.Errorf("an infinite factor: %v", err)
	}
	if _, _, err := Export(src, testScale(3)); err == nil || !strings.Contains(err.Error(), "3 offsets and 3 factors for 4 features") {
		t.Errorf("a short scale: %v", err)
	}
}
