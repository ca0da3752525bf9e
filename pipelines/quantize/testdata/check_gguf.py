"""Checks a GGUF file that lightbeam wrote from a safetensors checkpoint,
with the real clients: gguf's GGUFReader reads it, gguf.quants.quantize
(the reference of llama.cpp's formats) re-quantizes every Q8_0/Q4_0/Q5_0 tensor
from the source, and gguf.quants.dequantize decodes every Q4_K tensor.

usage: check_gguf.py OUT.gguf SOURCE.safetensors [SOURCE ...]

Prints one JSON object: per tensor its row-major shape, type, whether its
bytes are what the reference gives ("ok", with "detail" when not), and for
Q4_K the SHA-256 of the dequantized float32 values; and the string fields.
"""
import hashlib
import json
import struct
import sys

import numpy as np
import gguf
from safetensors import safe_open

NUMPY = {"F64": np.float64, "F32": np.float32, "F16": np.float16, "I64": np.int64,
         "I32": np.int32, "I16": np.int16, "I8": np.int8}


def load_sources(paths):
    """name -> numpy array (BF16 as float32, read from the raw bytes, since
    numpy has no bfloat16), and name -> dtype."""
    out, dtypes = {}, {}
    for p in paths:
        with open(p, "rb") as f:
            n = struct.unpack("<Q", f.read(8))[0]
            header = json.loads(f.read(n))
            start = 8 + n
            for name, info in header.items():
                if name == "__metadata__":
                    continue
                dtypes[name] = info["dtype"]
                if info["dtype"] == "BF16":
                    b, e = info["data_offsets"]
                    f.seek(start + b)
                    u = np.frombuffer(f.read(e - b), dtype="<u2").astype(np.uint32) << 16
                    out[name] = u.view(np.float32).reshape(info["shape"])
        with safe_open(p, framework="numpy") as st:
            for name in st.keys():
                if dtypes[name] != "BF16":
                    out[name] = st.get_tensor(name)
    return out, dtypes


def main():
    out_path, sources = sys.argv[1], sys.argv[2:]
    src, dtypes = load_sources(sources)
    r = gguf.GGUFReader(out_path)
    Q = gguf.GGMLQuantizationType
    res = {"tensors": {}, "fields": {}}
    for name, field in r.fields.items():
        if field.types and field.types[0] == gguf.GGUFValueType.STRING:
            res["fields"][name] = field.contents()
    for t in r.tensors:
        rec = {"shape": [int(s) for s in reversed(list(t.shape))], "type": t.tensor_type.name, "ok": False}
        res["tensors"][t.name] = rec
        if t.name not in src:
            rec["detail"] = "not in the source"
            continue
        x = src[t.name]
        raw = np.ascontiguousarray(t.data).tobytes()
        tt = t.tensor_type
        if tt in (Q.Q8_0, Q.Q4_0, Q.Q5_0):
            ref = gguf.quants.quantize(x.astype(np.float32).reshape(rec["shape"]), tt)
            rec["ok"] = ref.tobytes() == raw
        elif tt == Q.Q4_K:
            deq = gguf.quants.dequantize(np.frombuffer(raw, dtype=np.uint8).reshape(-1, gguf.GGML_QUANT_SIZES[tt][1]), tt)
            rec["deq_sha256"] = hashlib.sha256(deq.astype("<f4").tobytes()).hexdigest()
            rec["ok"] = deq.size == x.size
        elif tt == Q.F16:
            rec["ok"] = x.astype(np.float16).tobytes() == raw
        elif tt == Q.BF16:
            rec["ok"] = dtypes[t.name] == "BF16" and (x.view(np.uint32) >> 16).astype("<u2").tobytes() == raw
        elif tt == Q.F32:
            rec["ok"] = x.astype("<f4").tobytes() == raw
        else:
            rec["ok"] = x.dtype == NUMPY.get(tt.name) and x.tobytes() == raw
        if not rec["ok"] and "detail" not in rec:
            rec["detail"] = f"{len(raw)} bytes differ from the reference for {tt.name}"
        want = list(x.shape) or [1]
        if rec["shape"] != want:
            rec["ok"] = False
            rec["detail"] = f"shape {rec['shape']}, source {want}"
    json.dump(res, sys.stdout)


if __name__ == "__main__":
    main()
