"""llama_quantize.py SRC OURS FTYPE: quantizes SRC (a GGUF of F16 or F32 tensors) with llama.cpp's
llama_model_quantize (PyPI's llama-cpp-python) to llama ftype FTYPE, then compares it with OURS,
lightbeam's file of the same model and preset. Prints one JSON line: the tensors, those whose
type differs (name: [ours, llama.cpp]), and per type the blocks and the identical ones."""
import atexit, collections, ctypes, json, os, shutil, sys, tempfile

import llama_cpp
import numpy as np
from gguf import GGUFReader
from gguf.constants import GGML_QUANT_SIZES

src, ours, ftype = sys.argv[1], sys.argv[2], int(sys.argv[3])
tmp = tempfile.mkdtemp()
atexit.register(shutil.rmtree, tmp, True)  # llama.cpp's file is as large as ours
ref = os.path.join(tmp, "llama.gguf")
q = llama_cpp.llama_model_quantize_default_params()
q.nthread, q.ftype = 2, ftype
if llama_cpp.llama_model_quantize(src.encode(), ref.encode(), ctypes.byref(q)) != 0:
    sys.exit("llama_model_quantize failed")
a, b = GGUFReader(ours), GGUFReader(ref)
theirs = {t.name: t for t in b.tensors}
types, blocks = {}, collections.defaultdict(lambda: [0, 0])
for t in a.tensors:
    u = theirs.pop(t.name, None)
    if u is None or t.tensor_type != u.tensor_type:
        types[t.name] = [t.tensor_type.name, u.tensor_type.name if u is not None else None]
        continue
    size = GGML_QUANT_SIZES[t.tensor_type][1]
    x = np.asarray(t.data).view(np.uint8).reshape(-1, size)
    y = np.asarray(u.data).view(np.uint8).reshape(-1, size)
    same = (x == y).all(axis=1) if x.shape == y.shape else np.zeros(len(x), bool)
    blocks[t.tensor_type.name][0] += len(same)
    blocks[t.tensor_type.name][1] += int(same.sum())
types.update({name: [None, u.tensor_type.name] for name, u in theirs.items()})
print(json.dumps({"tensors": len(a.tensors), "type_differs": types, "blocks": blocks}))
