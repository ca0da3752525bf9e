"""Reference quantizer for quant's cross-check tests (python_test.go).

usage: gguf_quant.py MODE IN OUT
  MODE  q8_0 | q4_0 | q5_0 | q5_1 | q4_1 | q4_k | ... | f16: quantize; if
        this gguf cannot quantize the type (0.19 cannot for k-quants),
        OUT is empty and the reason is printed
        deq-TYPE (deq-q4_1, deq-q5_k, ...): dequantize
        cpu: write "avx512" to OUT if numpy's SIMD loops use AVX-512, else ""
  IN    quantize: raw little-endian float32 values (rows of one block)
        deq-TYPE: TYPE's blocks
  OUT   gguf.quants.quantize(...) bytes, numpy float16 bytes for f16, or
        gguf.quants.dequantize(...) as little-endian float32
"""
import sys

import numpy as np
from gguf import GGMLQuantizationType
from gguf.constants import GGML_QUANT_SIZES
from gguf.quants import dequantize, quantize


def qtype(name):
    return GGMLQuantizationType[name.upper()]


def numpy_avx512():
    try:
        from numpy._core._multiarray_umath import __cpu_features__
    except ImportError:  # numpy 1.x
        from numpy.core._multiarray_umath import __cpu_features__
    return bool(__cpu_features__.get("AVX512_SKX"))


def main():
    mode, src, dst = sys.argv[1:4]
    if mode == "cpu":
        with open(dst, "w") as f:
            f.write("avx512" if numpy_avx512() else "")
        return
    with np.errstate(all="ignore"):
        if mode.startswith("deq-"):
            t = qtype(mode[4:])
            _, size = GGML_QUANT_SIZES[t]
            q = np.fromfile(src, dtype=np.uint8).reshape(-1, size)
            out = dequantize(q, t).astype("<f4")
        else:
            x = np.fromfile(src, dtype="<f4")
            if mode == "f16":
                out = x.astype(np.float16)
            else:
                t = qtype(mode)
                block, _ = GGML_QUANT_SIZES[t]
                try:
                    out = quantize(x.reshape(-1, block), t)
                except NotImplementedError as e:
                    from importlib.metadata import version
                    print("gguf", version("gguf"), "cannot quantize", t.name, f"({e})")
                    out = np.zeros(0, dtype=np.uint8)
    with open(dst, "wb") as f:
        f.write(out.tobytes())


if __name__ == "__main__":
    main()
