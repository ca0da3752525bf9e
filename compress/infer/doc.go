// Package infer runs a model's forward pass from a compressed artifact
// without densifying it where a faster kernel exists: the weights of each
// layer go to an accel backend as dense float32 (Gemm), as a sparse CSR
// matrix (GemmCSR) or as int8 codes with per-row scales (GemmInt8), and
// Predict computes the logits in batches of Batch rows. It is plain Go with
// no Beam imports; the compress pipeline uses it to time inference before
// and after compression the same way.
//
//	artifact.Tensor ──Dequantize / CSR / codes──▶ accel.Buf or accel.Matrix per layer
//	x (rows×inputs) ──Predict: per Batch rows, per layer
//	                   Z = H·Wᵀ + b, ReLU on hidden layers──▶ logits (rows×outputs)
//
// The layers mirror model.Workspace exactly (same tensors, same order,
// same ReLUs), so the dense kernel on an uncompressed model gives the
// logits the trainer computes, up to float32 rounding.
package infer
