package onnx

import (
	"encoding/binary"
	"math"

	"google.golang.org/protobuf/encoding/protowire"
)

// The few messages of onnx/onnx.proto (proto2) that Export writes, encoded
// by hand with protowire: each type below appends its message's bytes, and
// the field numbers are the official ones.

// IRVersion is the ONNX IR version written (IR 8: ONNX 1.10 and later).
const IRVersion = 8

// Opset is the version of the default operator set (ai.onnx) the graph
// uses: 13 is the first with per-axis DequantizeLinear and the current
// Softmax semantics.
const Opset = 13

// TensorProto.DataType values.
const (
	dtFloat = 1 // FLOAT
	dtInt8  = 3 // INT8
)

// AttributeProto.AttributeType values.
const attrInt = 2 // INT

// modelProto is onnx.ModelProto.
type modelProto struct {
	producerName, producerVersion string
	docString                     string
	graph                         graphProto
	metadata                      [][2]string // metadata_props, in order
}

func (m *modelProto) marshal() []byte {
	var b []byte
	b = appendInt(b, 1, IRVersion)              // ir_version
	b = appendString(b, 2, m.producerName)      // producer_name
	b = appendString(b, 3, m.producerVersion)   // producer_version
	b = appendString(b, 6, m.docString)         // doc_string
	b = appendMessage(b, 7, m.graph.marshal())  // graph
	b = appendMessage(b, 8, opsetID("", Opset)) // opset_import
	for _, kv := range m.metadata {             // metadata_props
		var e []byte
		e = appendString(e, 1, kv[0]) // StringStringEntryProto.key
		e = appendString(e, 2, kv[1]) // value
		b = appendMessage(b, 14, e)
	}
	return b
}

// opsetID is onnx.OperatorSetIdProto.
func opsetID(domain string, version int64) []byte {
	var b []byte
	if domain != "" {
		b = appendString(b, 1, domain)
	}
	return appendInt(b, 2, version)
}

// graphProto is onnx.GraphProto.
type graphProto struct {
	name         string
	docString    string
	nodes        []nodeProto
	initializers []tensorProto
	inputs       []valueInfo
	outputs      []valueInfo
}

func (g *graphProto) marshal() []byte {
	var b []byte
	for i := range g.nodes {
		b = appendMessage(b, 1, g.nodes[i].marshal()) // node
	}
	b = appendString(b, 2, g.name) // name
	for i := range g.initializers {
		b = appendMessage(b, 5, g.initializers[i].marshal()) // initializer
	}
	b = appendString(b, 10, g.docString) // doc_string
	for _, v := range g.inputs {
		b = appendMessage(b, 11, v.marshal()) // input
	}
	for _, v := range g.outputs {
		b = appendMessage(b, 12, v.marshal()) // output
	}
	return b
}

// nodeProto is onnx.NodeProto in the default domain, with INT attributes
// only (all the graph needs: Gemm's transB, Softmax's and
// DequantizeLinear's axis).
type nodeProto struct {
	name    string
	opType  string
	inputs  []string
	outputs []string
	attrs   []intAttr
}

// intAttr is an AttributeProto of type INT.
type intAttr struct {
	name  string
	value int64
}

func (n *nodeProto) marshal() []byte {
	var b []byte
	for _, s := range n.inputs {
		b = appendString(b, 1, s) // input
	}
	for _, s := range n.outputs {
		b = appendString(b, 2, s) // output
	}
	b = appendString(b, 3, n.name)   // name
	b = appendString(b, 4, n.opType) // op_type
	for _, a := range n.attrs {
		var at []byte
		at = appendString(at, 1, a.name) // AttributeProto.name
		at = appendInt(at, 3, a.value)   // i
		at = appendInt(at, 20, attrInt)  // type
		b = appendMessage(b, 5, at)      // attribute
	}
	return b
}

// tensorProto is onnx.TensorProto with its values in raw_data: fixed
// width, little-endian, as the format requires.
type tensorProto struct {
	name     string
	dataType int64
	dims     []int64
	raw      []byte
}

func (t *tensorProto) marshal() []byte {
	var b []byte
	for _, d := range t.dims {
		b = appendInt(b, 1, d) // dims (not packed in proto2)
	}
	b = appendInt(b, 2, t.dataType) // data_type
	b = appendString(b, 8, t.name)  // name
	b = protowire.AppendTag(b, 9, protowire.BytesType)
	return protowire.AppendBytes(b, t.raw) // raw_data
}

// floatTensor is a FLOAT initializer.
func floatTensor(name string, dims []int, v []float32) tensorProto {
	raw := make([]byte, 0, 4*len(v))
	for _, x := range v {
		raw = binary.LittleEndian.AppendUint32(raw, math.Float32bits(x))
	}
	return tensorProto{name: name, dataType: dtFloat, dims: int64s(dims), raw: raw}
}

// int8Tensor is an INT8 initializer of two's complement bytes.
func int8Tensor(name string, dims []int, codes []byte) tensorProto {
	return tensorProto{name: name, dataType: dtInt8, dims: int64s(dims), raw: codes}
}

// valueInfo is onnx.ValueInfoProto of a tensor type: a FLOAT tensor whose
// dimensions are sizes, or symbolic where dimParams names them.
type valueInfo struct {
	name      string
	elemType  int64
	dims      []int64  // dim_value, when its dimParams entry is ""
	dimParams []string // dim_param, or ""
}

func (v valueInfo) marshal() []byte {
	var shape []byte
	for i, d := range v.dims {
		var dim []byte
		if p := v.dimParams[i]; p != "" {
			dim = appendString(dim, 2, p) // Dimension.dim_param
		} else {
			dim = appendInt(dim, 1, d) // Dimension.dim_value
		}
		shape = appendMessage(shape, 1, dim) // TensorShapeProto.dim
	}
	var tensor []byte
	tensor = appendInt(tensor, 1, v.elemType) // TypeProto.Tensor.elem_type
	tensor = appendMessage(tensor, 2, shape)  // shape
	var typ []byte
	typ = appendMessage(typ, 1, tensor) // TypeProto.tensor_type
	var b []byte
	b = appendString(b, 1, v.name)  // ValueInfoProto.name
	return appendMessage(b, 2, typ) // type
}

// batchOf returns the value info of a FLOAT [batch, width] tensor whose
// first dimension is the symbolic "N".
func batchOf(name string, width int) valueInfo {
	return valueInfo{name: name, elemType: dtFloat, dims: []int64{0, int64(width)}, dimParams: []string{"N", ""}}
}

func appendInt(b []byte, num protowire.Number, v int64) []byte {
	b = protowire.AppendTag(b, num, protowire.VarintType)
	return protowire.AppendVarint(b, uint64(v))
}

// appendString appends a string field, or nothing for "" (every string
// field here is optional).
func appendString(b []byte, num protowire.Number, s string) []byte {
	if s == "" {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendString(b, s)
}

func appendMessage(b []byte, num protowire.Number, m []byte) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendBytes(b, m)
}

func int64s(v []int) []int64 {
	out := make([]int64, len(v))
	for i, x := range v {
		out[i] = int64(x)
	}
	return out
}
