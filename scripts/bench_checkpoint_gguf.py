#!/usr/bin/env python3
"""bench_checkpoint_gguf.py: the gguf-py baseline for `lightbeam compress --checkpoint`.

    python scripts/bench_checkpoint_gguf.py --checkpoint CKPT --quant q8_0|q4_0
        [--gguf OUT.gguf] [--compare LIGHTBEAM.gguf] [--json RESULT.json]

Run it with the project's interpreter ($(bash scripts/python-env.sh)): numpy, safetensors and
gguf 0.19.0 (llama.cpp's reference Python package).

CKPT is a .safetensors file or a Hugging Face sharded checkpoint directory (its
model.safetensors.index.json names the shards). It goes through the checkpoint tensor by tensor
with safetensors.safe_open(framework="numpy") (BF16, which numpy cannot hold, is read from the
file's bytes and widened to float32), and quantizes every floating-point 2-D tensor whose row
length 32 divides (the tensors lightbeam quantizes) with gguf.quants.quantize(arr,
GGMLQuantizationType.Q8_0 / Q4_0), the reference numpy quantizer, on float32. Other tensors
pass through. One quantizer call per tensor, one thread (gguf-py's numpy code is serial).

Measured (perf_counter): read_s (safe_open and get_tensor: copying out of safetensors' mmap,
plus the widening of F16/BF16 to float32), quant_s (the quantize calls only), total_s (from the
first open to the last tensor, reads and quantization, without writing), and with --gguf,
write_s: writing OUT.gguf with gguf.GGUFWriter in its streaming mode (tensor infos first, then
write_tensor_data per tensor, then an fsync of the file, as lightbeam does; the tensors keep their
safetensors names, so it is not a llama.cpp model file, only the same bytes). Throughput is in GB = 10^9 bytes: total_gbps = input bytes
(all tensors) / total_s; quant_gbps = bytes of the quantized tensors / quant_s. Peak RSS:
getrusage's ru_maxrss (which counts mapped checkpoint pages once touched), and the largest
anonymous RSS (RssAnon in /proc/self/status) seen after each tensor.

--compare LIGHTBEAM.gguf (untimed; run it apart from the timed run, it maps a second file):
reads lightbeam's GGUF with gguf.GGUFReader and compares, for each tensor quantized here, the
type and bytes of lightbeam's tensor of the same name (the safetensors name, or llama.cpp's name
from gguf's tensor name map, e.g. blk.0.attn_q.weight), counting differing blocks. Exit status 1
if any differ or are missing.

The last line on stdout is one JSON object of the results (also written to --json).
"""
import argparse
import json
import os
import resource
import struct
import sys
import time

import numpy as np

QUANTS = {"q8_0": "Q8_0", "q4_0": "Q4_0"}
BLOCK = 32


def anon_rss_mib():
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("RssAnon:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def shard_files(ckpt):
    """The checkpoint's .safetensors files, in order."""
    if os.path.isdir(ckpt):
        idx = os.path.join(ckpt, "model.safetensors.index.json")
        if os.path.exists(idx):
            with open(idx) as f:
                wm = json.load(f)["weight_map"]
            seen = []
            for fn in wm.values():
                if fn not in seen:
                    seen.append(fn)
            return [os.path.join(ckpt, fn) for fn in sorted(seen)]
        one = os.path.join(ckpt, "model.safetensors")
        if os.path.exists(one):
            return [one]
        sys.exit(f"bench_checkpoint_gguf: {ckpt}: no model.safetensors.index.json or model.safetensors")
    return [ckpt]


def raw_header(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        return 8 + n, json.loads(f.read(n))


def read_bf16(path, base, info):
    start, end = info["data_offsets"]
    with open(path, "rb") as f:
        f.seek(base + start)
        u = np.fromfile(f, dtype="<u2", count=(end - start) // 2)
    return (u.astype(np.uint32) << 16).view(np.float32).reshape(info["shape"])


def plan(files):
    """(file, name, shape, safetensors dtype, quantized?) for every tensor, in file order."""
    from safetensors import safe_open
    out = []
    for path in files:
        with safe_open(path, framework="numpy") as f:
            for name in f.keys():
                s = f.get_slice(name)
                shape, dt = tuple(s.get_shape()), s.get_dtype()
                quant = dt in ("F32", "F16", "BF16", "F64") and len(shape) == 2 and shape[1] % BLOCK == 0
                out.append((path, name, shape, dt, quant))
    return out


def run(args):
    import gguf
    from safetensors import safe_open
    qtype = getattr(gguf.GGMLQuantizationType, QUANTS[args.quant])
    files = shard_files(args.checkpoint)
    file_bytes = sum(os.path.getsize(p) for p in files)

    writer = None
    if args.gguf:
        writer = gguf.GGUFWriter(args.gguf, "llama")
        writer.add_name("bench_checkpoint_gguf")
        writer.add_file_type(int(getattr(gguf.LlamaFileType, "MOSTLY_" + QUANTS[args.quant])))
        writer.add_quantization_version(gguf.GGML_QUANT_VERSION)

    t_start = time.perf_counter()
    tensors = plan(files)
    if writer is not None:
        for _, name, shape, dt, quant in tensors:
            if quant:
                bshape = gguf.quant_shape_to_byte_shape(shape, qtype)
                writer.add_tensor_info(name, bshape, np.dtype(np.uint8), int(np.prod(bshape)), raw_dtype=qtype)
            elif dt == "BF16":
                writer.add_tensor_info(name, shape, np.dtype(np.uint16), int(np.prod(shape)) * 2,
                                       raw_dtype=gguf.GGMLQuantizationType.BF16)
            else:
                npdt = {"F32": np.float32, "F16": np.float16, "F64": np.float64, "I64": np.int64,
                        "I32": np.int32, "I16": np.int16, "I8": np.int8}[dt]
                writer.add_tensor_info(name, shape, np.dtype(npdt), int(np.prod(shape)) * np.dtype(npdt).itemsize)
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_ti_data_to_file()

    read_s = quant_s = write_s = 0.0
    in_bytes = q_in_bytes = q_out_bytes = 0
    n_quant = n_pass = 0
    peak_anon = anon_rss_mib()
    by_file = {}
    for path, name, shape, dt, quant in tensors:
        by_file.setdefault(path, []).append((name, shape, dt, quant))
    for path in files:
        base, hdr = raw_header(path) if any(t[2] == "BF16" for t in by_file.get(path, [])) else (0, None)
        with safe_open(path, framework="numpy") as f:
            for name, shape, dt, quant in by_file.get(path, []):
                t0 = time.perf_counter()
                if dt == "BF16":
                    arr = read_bf16(path, base, hdr[name])
                    nbytes = arr.size * 2
                else:
                    arr = f.get_tensor(name)
                    nbytes = arr.nbytes
                if quant and arr.dtype != np.float32:
                    arr = arr.astype(np.float32)
                t1 = time.perf_counter()
                read_s += t1 - t0
                in_bytes += nbytes
                if quant:
                    q = gguf.quants.quantize(arr, qtype)
                    t2 = time.perf_counter()
                    quant_s += t2 - t1
                    n_quant += 1
                    q_in_bytes += nbytes
                    q_out_bytes += q.nbytes
                    out = q
                else:
                    n_pass += 1
                    out = arr
                    if dt == "BF16":  # back to the file's bits for the GGUF
                        out = (arr.view(np.uint32) >> 16).astype(np.uint16)
                    q_out_bytes += out.nbytes
                peak_anon = max(peak_anon, anon_rss_mib())
                if writer is not None:
                    t3 = time.perf_counter()
                    writer.write_tensor_data(out)
                    write_s += time.perf_counter() - t3
                del arr, out
    total_with_write = time.perf_counter() - t_start
    if writer is not None:
        t3 = time.perf_counter()
        writer.close()
        # lightbeam fsyncs its output before it says it is done; so does this, to compare alike.
        fd = os.open(args.gguf, os.O_RDONLY)
        os.fsync(fd)
        os.close(fd)
        write_s += time.perf_counter() - t3
        total_with_write = time.perf_counter() - t_start
    total_s = total_with_write - write_s
    res = dict(tool="gguf-py", gguf_version=_version("gguf"), numpy=np.__version__, quant=args.quant,
               checkpoint=os.path.abspath(args.checkpoint), files=len(files), file_bytes=file_bytes,
               input_bytes=in_bytes, tensors=len(tensors), quantized_tensors=n_quant, passthrough_tensors=n_pass,
               quantized_input_bytes=q_in_bytes, output_tensor_bytes=q_out_bytes,
               read_s=round(read_s, 3), quant_s=round(quant_s, 3), total_s=round(total_s, 3),
               quant_gbps=round(q_in_bytes / 1e9 / quant_s, 4) if quant_s else None,
               total_gbps=round(in_bytes / 1e9 / total_s, 4) if total_s else None,
               peak_rss_mib=round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
               peak_anon_rss_mib=round(peak_anon, 1))
    if writer is not None:
        res.update(gguf=os.path.abspath(args.gguf), gguf_bytes=os.path.getsize(args.gguf), write_s=round(write_s, 3),
                   total_with_write_s=round(total_with_write, 3))
    print(f"gguf-py {args.quant}: {in_bytes / 1e9:.3f} GB in ({n_quant} tensors quantized, {n_pass} passed through): "
          f"read {read_s:.2f} s, quantize {quant_s:.2f} s ({res['quant_gbps']} GB/s), "
          f"total {total_s:.2f} s ({res['total_gbps']} GB/s)"
          + (f", GGUF write {write_s:.2f} s" if writer is not None else "")
          + f"; peak RSS {res['peak_rss_mib']:,.0f} MiB (anonymous {res['peak_anon_rss_mib']:,.0f} MiB)",
          file=sys.stderr)
    return res


def compare(args):
    """lightbeam's GGUF against gguf-py's quantization of the same tensors (untimed)."""
    import gguf
    from safetensors import safe_open
    qtype = getattr(gguf.GGMLQuantizationType, QUANTS[args.quant])
    block_bytes = gguf.GGML_QUANT_SIZES[qtype][1]
    files = shard_files(args.checkpoint)
    tensors = plan(files)
    nblk = max([int(n.split(".")[2]) + 1 for _, n, *_ in tensors if n.startswith("model.layers.")] or [0])
    names = gguf.get_tensor_name_map(gguf.MODEL_ARCH.LLAMA, nblk)
    reader = gguf.GGUFReader(args.compare)
    theirs = {t.name: t for t in reader.tensors}
    same = differ = missing = 0
    details = []
    for path, name, shape, dt, quant in tensors:
        if not quant:
            continue
        cands = [name, names.get_name(name, try_suffixes=(".weight", ".bias"))]
        t = next((theirs[c] for c in cands if c and c in theirs), None)
        if t is None:
            missing += 1
            details.append(f"{name}: not in {args.compare}")
            continue
        with safe_open(path, framework="numpy") as f:
            if dt == "BF16":
                base, hdr = raw_header(path)
                arr = read_bf16(path, base, hdr[name])
            else:
                arr = f.get_tensor(name).astype(np.float32, copy=False)
        q = np.ascontiguousarray(gguf.quants.quantize(arr, qtype)).reshape(-1)
        got = np.ascontiguousarray(t.data).view(np.uint8).reshape(-1)
        if t.tensor_type != qtype or got.size != q.size:
            differ += 1
            details.append(f"{name} ({t.name}): type {t.tensor_type.name}, {got.size} bytes; want {qtype.name}, {q.size}")
            continue
        bad = int(np.count_nonzero(np.any(got.reshape(-1, block_bytes) != q.reshape(-1, block_bytes), axis=1)))
        if bad:
            differ += 1
            details.append(f"{name} ({t.name}): {bad} of {q.size // block_bytes} blocks differ")
        else:
            same += 1
    res = dict(compare=os.path.abspath(args.compare), quant=args.quant, identical=same, different=differ,
               missing=missing, details=details[:20], lightbeam_tensors=len(theirs))
    print(f"compare {args.quant}: {same} tensors byte-identical to gguf-py, {differ} differ, {missing} missing "
          f"({len(theirs)} tensors in {args.compare})", file=sys.stderr)
    for d in details[:20]:
        print("  " + d, file=sys.stderr)
    return res


def _version(pkg):
    try:
        from importlib.metadata import version
        return version(pkg)
    except Exception:
        return None


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--quant", required=True, choices=sorted(QUANTS),
                   help="gguf-py 0.19 has no Q4_K quantizer (only its dequantizer)")
    p.add_argument("--gguf", help="also write the quantized tensors to this GGUF file (timed apart)")
    p.add_argument("--compare", metavar="GGUF", help="compare this (lightbeam's) GGUF with gguf-py's bytes; untimed")
    p.add_argument("--json", help="write the result object here too")
    args = p.parse_args()
    res = compare(args) if args.compare else run(args)
    if args.json:
        with open(args.json, "w") as f:
            f.write(json.dumps(res, indent=2) + "\n")
    print(json.dumps(res))
    if args.compare and (res["different"] or res["missing"]):
        sys.exit(1)


if __name__ == "__main__":
    main()
