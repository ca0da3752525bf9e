// Package artifact reads and writes lightbeam's compressed-model file: one
// versioned, checksummed file holding a model's pruned and quantized
// tensors and its metadata (architecture, preprocessing statistics). It is
// plain Go with no Beam imports; docs/FORMATS.md specifies the bytes.
//
// Data flows one way on write and back on read:
//
//	float32 tensor + prune.Mask ──Quantize(enc)──▶ Tensor (codes, scales,
//	  codebook, kept positions) ──Marshal──▶ "LBCM" file
//	file ──Decode──▶ Artifact{Meta, Tensors, Sizes} ──Tensor.Dequantize / CSR──▶ values
//
// Encodings (Kind): f32, f16, int8 (per-row scales), int8-tensor, q8_0 and
// q4_0 (GGUF blocks, bit-exact with llama.cpp via compress/quant), and
// kmeans (Deep Compression's shared weights, 2^Bits centroids). Every
// quantized kind may be Sparse: it then stores the kept positions as
// relative indices and codes only for kept weights, both entropy-coded by
// compress/entropy, which picks the smallest codec per stream.
//
// Marshal writes version 1; MarshalV2 (and, piece by piece, Prefix,
// RecordHeader, PutInt8Row; internal/crc32c joins the parts' CRCs) version 2, where dense int8
// is stored as raw rows and a Raw kind keeps other dtypes' bytes, so every
// record's size follows from its shape. Decode reads both.
//
// Decode never panics on any input, names the file in its errors (which
// wrap ErrCorrupt or ErrVersion), checks the CRC-32C before parsing, and
// allocates in proportion to the file's size; Tensor.Dequantize allocates the
// tensor's full Len, so check Len before densifying an untrusted sparse
// tensor.
package artifact
