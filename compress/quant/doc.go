// Package quant turns float32 weights into small integer codes and back.
// It is plain Go with no Beam imports; compress/artifact calls it to build
// the quantized tensors it stores.
//
// Three families of quantizers live here:
//
//   - int8 symmetric, one scale per output channel (row) or per tensor:
//
//     scale = max|x| / 127,   q = clamp(round(x / scale), −127, 127),   x̂ = q·scale
//
//   - GGUF block formats Q8_0 and Q4_0, byte for byte what llama.cpp's
//     reference quantizer (the Python gguf package, gguf.quants.quantize)
//     writes, so a lightbeam model can be exported to GGUF without Python.
//     Each block of 32 values gets an fp16 scale d:
//
//     Q8_0:  d = max|x| / 127,        q = roundf(x / d)             (int8)
//     Q4_0:  d = x[argmax|x|] / −8,   q = min(15, trunc(x/d + 8.5))  (4 bits)
//
//   - k-means weight sharing (Han et al., Deep Compression, 2016): the
//     weights are replaced by indices into a codebook of k centroids found
//     by Lloyd's algorithm in one dimension, and ShareGradients lets a
//     trainer fine-tune the centroids:
//
//     c_k ← c_k − lr · Σ_{i : code_i = k} ∂L/∂w_i
//
// The fp16 conversions (internal/half) round to nearest even
// as numpy's astype(np.float16) does.
//
// Shape errors (a slice of the wrong length) are programmer errors and
// panic; NaN or ±Inf weights, and blocks whose scale does not fit in fp16,
// are data errors and are returned.
package quant
