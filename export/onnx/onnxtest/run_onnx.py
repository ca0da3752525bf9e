"""Checks an ONNX file with the onnx package and runs it with ONNX Runtime.

usage: run_onnx.py MODEL.onnx INPUT.f32 ROWS FEATURES OUTPUT.f32

INPUT.f32 holds ROWS x FEATURES little-endian float32 raw features. The
script runs onnx.checker.check_model(full_check=True), then ONNX Runtime on
the CPU with graph optimization at BASIC (higher levels fuse
DequantizeLinear into integer kernels that re-quantize activations), writes
the single output as little-endian float32 to OUTPUT.f32 and prints a JSON
description of the model as ONNX Runtime and onnx see it.
"""
import json
import sys

import numpy as np
import onnx
import onnxruntime as ort


def main():
    path, inp, rows, features, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
    model = onnx.load(path)
    onnx.checker.check_model(model, full_check=True)

    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    sess = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
    x = np.fromfile(inp, dtype="<f4").reshape(rows, features)
    (y,) = sess.run(None, {sess.get_inputs()[0].name: x})
    np.ascontiguousarray(y, dtype="<f4").tofile(out)

    inits = {t.name: onnx.helper.tensor_dtype_to_np_dtype(t.data_type).name for t in model.graph.initializer}
    print(json.dumps({
        "ir_version": model.ir_version,
        "opset": {o.domain or "ai.onnx": o.version for o in model.opset_import},
        "producer": [model.producer_name, model.producer_version],
        "inputs": [[i.name, i.type, [str(d) for d in i.shape]] for i in sess.get_inputs()],
        "outputs": [[o.name, o.type, [str(d) for d in o.shape]] for o in sess.get_outputs()],
        "ops": [n.op_type for n in model.graph.node],
        "initializers": inits,
        "metadata": {p.key: p.value for p in model.metadata_props},
        "output_shape": list(y.shape),
    }))


if __name__ == "__main__":
    main()
