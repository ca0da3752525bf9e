#!/usr/bin/env python3
"""Reproduce lightbeam predictions with numpy from a safetensors model file.

usage: predict.py MODEL.safetensors INPUT.f32 ROWS COLS

INPUT.f32 holds ROWS x COLS little-endian float32 features, row-major.
Prints a JSON list of ROWS rows of outputs: class probabilities for the
softmax and mlp architectures, predicted targets for linear.
"""
import json
import sys

import numpy as np
from safetensors import safe_open
from safetensors.numpy import load_file


def main(argv):
    if len(argv) != 5:
        sys.exit(__doc__)
    path, inputs, rows, cols = argv[1], argv[2], int(argv[3]), int(argv[4])
    tensors = load_file(path)
    with safe_open(path, framework="np") as f:
        meta = f.metadata()
    arch = meta["lightbeam.arch"]
    sizes = [int(s) for s in meta["lightbeam.sizes"].split(",")]
    x = np.fromfile(inputs, dtype="<f4").reshape(rows, cols).astype(np.float64)
    if cols != sizes[0]:
        sys.exit(f"{inputs}: {cols} features, model {path} takes {sizes[0]}")

    layers = len(sizes) - 1
    h = x
    for i in range(layers):
        name = f"fc{i + 1}" if arch == "mlp" else "linear"
        w = tensors[name + ".weight"].astype(np.float64)  # [out, in]
        b = tensors[name + ".bias"].astype(np.float64)
        h = h @ w.T + b
        if i + 1 < layers:
            h = np.maximum(h, 0)
    if arch != "linear":
        h = np.exp(h - h.max(axis=1, keepdims=True))
        h /= h.sum(axis=1, keepdims=True)
    json.dump(h.tolist(), sys.stdout)


if __name__ == "__main__":
    main(sys.argv)
