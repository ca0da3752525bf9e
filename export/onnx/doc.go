// Package onnx writes a lightbeam model (a model file, or a compressed
// artifact) as an ONNX model that ONNX Runtime and other ONNX runtimes
// load: raw features in, what lightbeam computes out. It is plain Go with
// no Beam imports; the ModelProto is encoded by hand with protowire (only
// the messages the graph needs, with onnx.proto's field numbers).
//
// Data flows in one direction:
//
//	model.safetensors or model.lbc ──export.DecodeSource──▶ export.Source (model, float
//	  params, metadata, an artifact's stored tensors)
//	model metadata (preprocess.scale.*) or a preprocess manifest
//	  ──InputScale──▶ shardio.Scale: x' = (x − offset) · factor
//	export.Source + Scale ──Export──▶ ModelProto bytes + Summary
//
// The graph (opset 13, IR 8): input "input" float32 [N, d] of raw features
// (IDX images: pixel values 0..255); Sub and Mul apply the preprocessing
// scale exactly as preprocess did (float32, the same constants); one Gemm
// per layer (W stored [out,in], so transB=1), Relu between MLP layers; a
// Softmax over axis 1 gives "probabilities" [N, classes] for softmax
// regression (2 classes included: lightbeam's logistic case is a 2-way
// softmax) and MLPs, and a linear regression's Gemm gives "prediction"
// [N, targets]. An artifact's int8 weights (per output channel, dense or
// sparse; or per tensor) stay int8 codes behind DequantizeLinear; every
// other encoding is exported as its dequantized float32 values.
//
// Missing values (NaN) are not imputed by the graph: preprocess replaced
// them by the training mean or rejected the row, so callers must do the
// same before feeding raw rows. CSV categorical columns enter already
// one-hot (or hashed) as the parser expands them: the input is the
// parser's feature vector, before scaling.
package onnx
