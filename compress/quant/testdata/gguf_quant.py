"""Reference quantizer for quant's cross-check test (python_test.go).

usage: gguf_quant.py MODE IN OUT
  MODE  q8_0 | q4_0 | f16
  IN    raw little-endian float32 values (for q8_0/q4_0: rows of 32)
  OUT   gguf.quants.quantize(...) bytes, or numpy float16 bytes for f16
"""
import sys

import numpy as np
from gguf import GGMLQuantizationType
from gguf.quants import quantize


def main():
    mode, src, dst = sys.argv[1:4]
    x = np.fromfile(src, dtype="<f4")
    with np.errstate(all="ignore"):
        if mode == "f16":
            out = x.astype(np.float16)
        else:
            qtype = {"q8_0": GGMLQuantizationType.Q8_0, "q4_0": GGMLQuantizationType.Q4_0}[mode]
            out = quantize(x.reshape(-1, 32), qtype)
    with open(dst, "wb") as f:
        f.write(out.tobytes())


if __name__ == "__main__":
    main()
