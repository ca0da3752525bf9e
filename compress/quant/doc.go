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
//   - GGUF block formats Q8_0, Q4_0, Q5_0 and Q5_1, byte for byte what
//     llama.cpp's reference quantizer (the Python gguf package,
//     gguf.quants.quantize) writes, so a lightbeam model can be exported
//     to GGUF without Python. Each block of 32 values gets an fp16 scale d
//     (and Q5_1 an fp16 offset, its min):
//
//     Q8_0:  d = max|x| / 127,        q = roundf(x / d)               (int8)
//     Q4_0:  d = x[argmax|x|] / −8,   q = min(15, trunc(x/d + 8.5))   (4 bits)
//     Q5_0:  d = x[argmax|x|] / −16,  q = min(31, trunc(x/d + 16.5))  (5 bits)
//     Q5_1:  d = (max − min) / 31,    q = min(31, trunc((x − min)/d + 0.5))
//
//     DequantizeQ4_1 reads llama.cpp's older Q4_1 (lightbeam does not
//     write it).
//
//   - GGUF k-quants Q4_K, Q5_K and Q6_K: super-blocks of 256 whose
//     sub-blocks (of 32, or 16 for Q6_K) get 6- or 8-bit scales found by
//     llama.cpp's weighted least-squares searches (quantize_row_q4_K_ref,
//     q5_K, q6_K: the path llama-quantize takes without an importance
//     matrix). Q4_K and Q5_K share the sub-block fit (make_qkx2_quants).
//     The bytes equal the reference C's compiled without FMA contraction;
//     gguf-py cannot quantize k-quants, but its dequantization of these
//     bytes equals ours bit for bit (checked in CI).
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
