#!/usr/bin/env python3
"""gen_checkpoint.py: a synthetic llama-style safetensors checkpoint with realistic weights.

    python scripts/gen_checkpoint.py --out PATH --size-mb 2048 [--dtype f32|f16|bf16]
        [--shards N] [--hidden 2048] [--seed 1] [--verify header|full|none]

Run it with the project's interpreter ($(bash scripts/python-env.sh)): numpy and safetensors.

--shards 1 (default) writes the single file PATH (a .safetensors). --shards N>1 makes PATH a
directory laid out like a Hugging Face sharded checkpoint: model-00001-of-0000N.safetensors ...,
model.safetensors.index.json ({"metadata": {"total_size": BYTES}, "weight_map": {name: file}})
and a llama config.json.

Tensors (names and [out, in] shapes as in Hugging Face's LlamaForCausalLM):
  model.embed_tokens.weight [vocab, hidden]              lm_head.weight [vocab, hidden]
  model.layers.{i}.self_attn.{q,o}_proj.weight [hidden, hidden]
  model.layers.{i}.self_attn.{k,v}_proj.weight [kv, hidden]       (grouped-query: kv = hidden/4)
  model.layers.{i}.mlp.{gate,up}_proj.weight [inter, hidden]      (inter ~ 2.75 hidden)
  model.layers.{i}.mlp.down_proj.weight [hidden, inter]
  model.layers.{i}.{input,post_attention}_layernorm.weight, model.norm.weight [hidden] (near 1)
  model.position_ids [1, max_pos] int64 0..max_pos-1 (a non-float tensor, to pass through)
  model.aux_proj.weight [hidden, 100] (rows of 100: not a multiple of 32, for the fallback)
The layer count, then the vocabulary (at most 32000, a multiple of 64), are chosen so the tensor
bytes in the chosen dtype come near --size-mb MiB (2^20 bytes); --layers/--vocab fix them.

Values of a 2-D weight [out, in]: normal with std 1/sqrt(in) times a per-row and a per-column
log-normal scale (sigma 0.2 and 0.15; a few "hot" input columns at 3x, as in LLMs), then a
per-tensor 0.1-0.5% of entries replaced by outliers of +-(4 + 4 Exp(1)) std (4-40 std), about
1e-5 of entries set to exactly 0, and, where 32 divides the row length, the first 32 values of
row 0 set to 0 (an all-zero quantization block). Norm weights: 1 + 0.05 N(0, 1). Everything is
a function of --seed and the tensor's name and shape only (not of --shards, --threads or the
writer), generated in chunks of rows from a counter-based seed per chunk, in float32, and then
rounded to the dtype (f16: numpy's round-to-nearest-even; bf16: round-to-nearest-even of the
float32 bits, written as safetensors "BF16").

Memory: files are written tensor by tensor in chunks of about 16 MB by a streaming writer that
follows the safetensors format (8-byte little-endian header length, the JSON header padded with
spaces to 8 bytes, the data), byte-identical to what the safetensors package writes for the same
tensors (tensors ordered by dtype, then name; metadata {"format": "pt"}); a file of at most
--package-max-mb (64) is written by the safetensors package itself (serialize_file, the call
under safetensors.numpy.save_file; TensorSpec "bfloat16" for BF16), which holds the whole file.
Every file is checked afterwards with safetensors.safe_open(framework="numpy"): names, shapes,
dtypes, metadata, and the first row of some tensors against a regeneration (--verify full
also re-reads every tensor's bytes and compares CRC-32s taken while writing). The output is written under a
temporary name and renamed at the end. --self-test checks the writers against each other.
"""
import argparse
import hashlib
import json
import os
import resource
import shutil
import struct
import sys
import tempfile
import time
import zlib
from collections import deque
from concurrent.futures import ThreadPoolExecutor

import numpy as np

MiB = 1 << 20
CHUNK_ELEMS = 1 << 22  # values generated (and written) at a time: 16 MB of float32
P_ZERO = 1e-5
ROW_SIGMA, COL_SIGMA = 0.2, 0.15
METADATA = {"format": "pt"}  # one key: safetensors writes metadata in hash order

# dtype flag -> (safetensors dtype, bytes per value, TensorSpec dtype name)
DTYPES = {"f32": ("F32", 4, "float32"), "f16": ("F16", 2, "float16"), "bf16": ("BF16", 2, "bfloat16")}
ITEMSIZE = {"F32": 4, "F16": 2, "BF16": 2, "I64": 8}
SPEC_NAME = {"F32": "float32", "F16": "float16", "BF16": "bfloat16", "I64": "int64"}
NUMPY_DTYPE = {"F32": np.float32, "F16": np.float16, "BF16": np.uint16, "I64": np.int64}
# The safetensors package lays out a file's tensors by dtype, descending in its Dtype enum
# (... BF16 < F32 < I64 ...; F16 < BF16), then by name. --self-test checks this order.
DTYPE_RANK = {"F16": 0, "BF16": 1, "F32": 2, "I64": 3}


def mib(n):
    return n / MiB


def peak_rss_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class Tensor:
    """One tensor of the checkpoint: name, shape, safetensors dtype, how its values are made."""

    def __init__(self, name, shape, dtype, kind, seed):
        self.name, self.shape, self.dtype, self.kind = name, tuple(shape), dtype, kind
        self.size = int(np.prod(self.shape))
        self.nbytes = self.size * ITEMSIZE[dtype]
        self.cols = self.shape[-1]
        self.rows = self.size // self.cols
        self.rows_per_chunk = max(1, CHUNK_ELEMS // self.cols)
        self.chunks = (self.rows + self.rows_per_chunk - 1) // self.rows_per_chunk
        key = int.from_bytes(hashlib.sha256(self.name.encode()).digest()[:8], "little")
        self.seed_words = [seed, key, *self.shape]
        self._scales = None

    def rng(self, *words):
        return np.random.Generator(np.random.PCG64(np.random.SeedSequence(self.seed_words + list(words))))

    def scales(self):
        """Per-tensor parameters of a 2-D weight: row and column scales, outlier share."""
        if self._scales is None:
            rng = self.rng(0)
            std = 1.0 / np.sqrt(self.cols)
            row = np.exp(ROW_SIGMA * rng.standard_normal(self.rows)).astype(np.float32)
            row *= np.float32(std / np.sqrt(np.mean(np.square(row, dtype=np.float64))))
            col = np.exp(COL_SIGMA * rng.standard_normal(self.cols))
            hot = rng.choice(self.cols, size=max(1, self.cols // 512), replace=False)
            col[hot] *= 3.0
            col = (col / np.sqrt(np.mean(np.square(col)))).astype(np.float32)
            p_out = float(rng.uniform(0.001, 0.005))
            self._scales = (np.float32(std), row, col, p_out)
        return self._scales

    def chunk(self, j):
        """Rows [j*rows_per_chunk, ...) of the tensor, as the bytes of its dtype (a numpy array)."""
        r0 = j * self.rows_per_chunk
        r1 = min(self.rows, r0 + self.rows_per_chunk)
        if self.kind == "positions":
            return np.arange(r0 * self.cols, r1 * self.cols, dtype=np.int64)
        rng = self.rng(1, j)
        if self.kind == "norm":
            x = rng.standard_normal(self.size, dtype=np.float32)
            x *= np.float32(0.05)
            x += np.float32(1.0)
            return to_dtype(x, self.dtype)
        std, row, col, p_out = self.scales()
        x = rng.standard_normal((r1 - r0, self.cols), dtype=np.float32)
        x *= row[r0:r1, None]
        x *= col[None, :]
        flat = x.reshape(-1)
        n = flat.size
        k = int(rng.binomial(n, p_out))
        idx = rng.integers(0, n, k)
        mag = rng.standard_exponential(k, dtype=np.float32)
        mag *= np.float32(4.0)
        mag += np.float32(4.0)
        mag *= std
        mag[rng.random(k) < 0.5] *= np.float32(-1.0)
        flat[idx] = mag
        flat[rng.integers(0, n, int(rng.binomial(n, P_ZERO)))] = 0.0
        if j == 0 and self.cols % 32 == 0:
            flat[:32] = 0.0
        return to_dtype(flat, self.dtype)


def to_dtype(x, dtype):
    if dtype == "F32":
        return x
    if dtype == "F16":
        return x.astype(np.float16)
    if dtype == "BF16":
        return f32_to_bf16_bits(x)
    raise ValueError(dtype)


def f32_to_bf16_bits(x):
    """bfloat16 bit patterns (uint16) of float32 x, rounded to nearest, ties to even."""
    u = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32)
    r = (u >> 16) & np.uint32(1)
    r += np.uint32(0x7FFF)
    r += u
    r >>= 16
    out = r.astype(np.uint16)
    nan = np.isnan(x)
    if nan.any():  # keep NaNs NaN (the rounding above could carry them into Inf)
        out[nan] = ((u[nan] >> 16) | np.uint32(0x40)).astype(np.uint16)
    return out


def bf16_bits_to_f32(b):
    return (np.asarray(b, dtype=np.uint16).astype(np.uint32) << 16).view(np.float32)


def model_config(args):
    """Shapes of the model: hidden, heads, kv, intermediate, vocab, layers."""
    _, vb, _ = DTYPES[args.dtype]
    budget = None if args.size_mb is None else int(args.size_mb * MiB)

    def shapes(h):
        head_dim = 64 if h % 64 == 0 else 32
        heads = h // head_dim
        kv_heads = heads // 4 if heads % 4 == 0 else heads
        kv = kv_heads * head_dim
        inter = args.intermediate or max(64, int(round(2.75 * h / 64)) * 64)
        per_layer = (2 * h * h + 2 * kv * h + 3 * inter * h + 2 * h) * vb
        return head_dim, heads, kv_heads, kv, inter, per_layer

    h = args.hidden
    if h is None:  # 2048, halved while two layers would take more than 3/4 of --size-mb
        h = 2048
        while budget is not None and h > 64 and 2 * shapes(h)[-1] > 0.75 * budget:
            h //= 2
    if h < 32 or h % 32:
        sys.exit("gen_checkpoint: --hidden must be a positive multiple of 32")
    head_dim, heads, kv_heads, kv, inter, per_layer = shapes(h)
    fixed = (h * 100 + h) * vb + args.max_pos * 8
    vocab = args.vocab
    if vocab is None:
        vocab = 32000
        if budget is not None and 2 * vocab * h * vb > budget // 4:
            # small checkpoints: embeddings take about a quarter of the bytes
            vocab = max(64, (budget // 4 // (2 * h * vb)) // 64 * 64)
    layers = args.layers
    if layers is None:
        if budget is None:
            sys.exit("gen_checkpoint: give --size-mb or --layers")
        layers = max(1, int(round((budget - fixed - 2 * vocab * h * vb) / per_layer)))
        if args.vocab is None:  # the embeddings take up the rest (whole layers leave up to half a layer)
            rest = budget - fixed - layers * per_layer
            vocab = int(min(32000, max(64, round(rest / (2 * h * vb) / 64) * 64)))
    total = fixed + layers * per_layer + 2 * vocab * h * vb
    if budget is not None and abs(total - budget) > 0.1 * budget:
        print(f"gen_checkpoint: warning: {mib(total):,.1f} MiB of tensors for --size-mb {args.size_mb:g} "
              f"(hidden {h}, {layers} layers, vocab {vocab}); a smaller --hidden comes closer", file=sys.stderr)
    return dict(hidden=h, heads=heads, kv_heads=kv_heads, kv=kv, head_dim=head_dim,
                intermediate=inter, vocab=vocab, layers=layers, max_pos=args.max_pos)


def tensors_in_model_order(cfg, dtype, seed):
    """The tensors in state_dict order (the order shards are filled in)."""
    h, kv, inter, v = cfg["hidden"], cfg["kv"], cfg["intermediate"], cfg["vocab"]
    out = [Tensor("model.embed_tokens.weight", (v, h), dtype, "linear", seed),
           Tensor("model.position_ids", (1, cfg["max_pos"]), "I64", "positions", seed)]
    for i in range(cfg["layers"]):
        p = f"model.layers.{i}."
        out += [Tensor(p + "self_attn.q_proj.weight", (h, h), dtype, "linear", seed),
                Tensor(p + "self_attn.k_proj.weight", (kv, h), dtype, "linear", seed),
                Tensor(p + "self_attn.v_proj.weight", (kv, h), dtype, "linear", seed),
                Tensor(p + "self_attn.o_proj.weight", (h, h), dtype, "linear", seed),
                Tensor(p + "mlp.gate_proj.weight", (inter, h), dtype, "linear", seed),
                Tensor(p + "mlp.up_proj.weight", (inter, h), dtype, "linear", seed),
                Tensor(p + "mlp.down_proj.weight", (h, inter), dtype, "linear", seed),
                Tensor(p + "input_layernorm.weight", (h,), dtype, "norm", seed),
                Tensor(p + "post_attention_layernorm.weight", (h,), dtype, "norm", seed)]
    out += [Tensor("model.norm.weight", (h,), dtype, "norm", seed),
            Tensor("model.aux_proj.weight", (h, 100), dtype, "linear", seed),
            Tensor("lm_head.weight", (v, h), dtype, "linear", seed)]
    return out


def split_shards(tensors, n):
    """Fill n shards in model order, each about total/n bytes, none empty."""
    if n > len(tensors):
        sys.exit(f"gen_checkpoint: --shards {n} is more than the {len(tensors)} tensors")
    total = sum(t.nbytes for t in tensors)
    shards, cur, acc = [], [], 0
    for i, t in enumerate(tensors):
        cur.append(t)
        acc += t.nbytes
        left_tensors, left_shards = len(tensors) - i - 1, n - len(shards) - 1
        if left_shards > 0 and (acc >= total * (len(shards) + 1) / n or left_tensors == left_shards):
            shards.append(cur)
            cur = []
    shards.append(cur)
    assert len(shards) == n and all(shards)
    return shards


def file_order(tensors):
    return sorted(tensors, key=lambda t: (-DTYPE_RANK[t.dtype], t.name))


def header_bytes(tensors):
    """The safetensors header (length prefix included) for tensors in file order."""
    header, off = {"__metadata__": METADATA}, 0
    for t in tensors:
        header[t.name] = {"dtype": t.dtype, "shape": list(t.shape), "data_offsets": [off, off + t.nbytes]}
        off += t.nbytes
    js = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode()
    js += b" " * (-len(js) % 8)
    return struct.pack("<Q", len(js)) + js


class Generator:
    """Makes the tensors' chunks, `threads` at a time, in order; keeps CRC-32s and progress."""

    def __init__(self, threads, total_bytes, quiet):
        self.pool = ThreadPoolExecutor(threads) if threads > 1 else None
        self.window = 2 * threads
        self.crc = {}
        self.total, self.done, self.quiet = total_bytes, 0, quiet
        self.t0, self.next_report = time.perf_counter(), 0.1

    def chunks(self, t):
        """Yields t's chunks (numpy arrays in t's dtype) in order."""
        crc = 0
        if self.pool is None:
            it = (t.chunk(j) for j in range(t.chunks))
        else:
            it = self._ordered(t)
        for a in it:
            crc = zlib.crc32(memoryview(a).cast("B"), crc)
            self._progress(a.nbytes)
            yield a
        self.crc[t.name] = crc

    def _ordered(self, t):
        pending = deque()
        j = 0
        while j < t.chunks or pending:
            while j < t.chunks and len(pending) < self.window:
                pending.append(self.pool.submit(t.chunk, j))
                j += 1
            yield pending.popleft().result()

    def _progress(self, n):
        self.done += n
        if not self.quiet and self.total and self.done >= self.next_report * self.total:
            dt = time.perf_counter() - self.t0
            print(f"gen_checkpoint: {100 * self.done / self.total:3.0f}%  {mib(self.done):,.0f} MiB  "
                  f"{self.done / 1e6 / max(dt, 1e-9):,.0f} MB/s  peak RSS {peak_rss_mib():,.0f} MiB",
                  file=sys.stderr, flush=True)
            while self.next_report * self.total <= self.done:
                self.next_report += 0.1


def write_stream(path, tensors, gen):
    with open(path, "wb") as f:
        f.write(header_bytes(tensors))
        for t in tensors:
            for a in gen.chunks(t):
                f.write(memoryview(a).cast("B"))


def write_package(path, tensors, gen):
    """Whole file in memory, written by the safetensors package."""
    import safetensors
    arrays, specs = [], {}
    for t in tensors:
        parts = list(gen.chunks(t))
        a = parts[0] if len(parts) == 1 else np.concatenate(parts)
        a = np.ascontiguousarray(a).reshape(t.shape)
        arrays.append(a)
        if hasattr(safetensors, "TensorSpec"):
            specs[t.name] = safetensors.TensorSpec(dtype=SPEC_NAME[t.dtype], shape=list(t.shape),
                                                   data_ptr=a.ctypes.data, data_len=a.nbytes)
        else:  # safetensors < 0.8: dicts with the bytes
            specs[t.name] = {"dtype": SPEC_NAME[t.dtype], "shape": list(t.shape), "data": a.tobytes()}
    safetensors.serialize_file(specs, str(path), metadata=dict(METADATA))
    del arrays


def read_raw(path, t, rows=None):
    """t's values (or its first `rows` rows) read from the file's bytes, as t's numpy dtype."""
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        hdr = json.loads(f.read(n))
        start, end = hdr[t.name]["data_offsets"]
        count = (end - start) // ITEMSIZE[t.dtype] if rows is None else rows * t.cols
        f.seek(8 + n + start)
        return np.frombuffer(f.read(count * ITEMSIZE[t.dtype]), dtype=NUMPY_DTYPE[t.dtype])


def verify_file(path, tensors, gen, full):
    """Checks the file with safetensors.safe_open(framework="numpy")."""
    from safetensors import safe_open
    want = {t.name: t for t in tensors}
    with safe_open(str(path), framework="numpy") as f:
        keys = list(f.keys())
        if sorted(keys) != sorted(want):
            raise SystemExit(f"gen_checkpoint: {path}: tensors {sorted(set(keys) ^ set(want))} differ")
        if f.metadata() != METADATA:
            raise SystemExit(f"gen_checkpoint: {path}: metadata {f.metadata()}")
        for k in keys:
            s = f.get_slice(k)
            if tuple(s.get_shape()) != want[k].shape or s.get_dtype() != want[k].dtype:
                raise SystemExit(f"gen_checkpoint: {path}: {k} is {s.get_dtype()}{s.get_shape()}, "
                                 f"want {want[k].dtype}{list(want[k].shape)}")
        # first row of the first and last tensor, and of one of each kind, against a regeneration
        probe = {tensors[0].name: tensors[0], tensors[-1].name: tensors[-1]}
        for t in tensors:
            probe.setdefault(t.kind, t)
        for t in probe.values():
            expect = t.chunk(0)[: t.cols]
            got = read_raw(path, t, rows=1)
            if t.dtype != "BF16":
                got_st = f.get_slice(t.name)[0:1] if len(t.shape) > 1 else f.get_slice(t.name)[:]
                if not np.array_equal(np.asarray(got_st).reshape(-1)[: t.cols], expect):
                    raise SystemExit(f"gen_checkpoint: {path}: {t.name} reads back different values")
            if not np.array_equal(got, expect):
                raise SystemExit(f"gen_checkpoint: {path}: {t.name} bytes differ from a regeneration")
    if full:  # every tensor's bytes, read in 16 MB pieces (safe_open's mmap would stay resident)
        with open(path, "rb") as f:
            n = struct.unpack("<Q", f.read(8))[0]
            hdr = json.loads(f.read(n))
            for t in tensors:
                start, end = hdr[t.name]["data_offsets"]
                f.seek(8 + n + start)
                crc, left = 0, end - start
                while left:
                    b = f.read(min(left, 16 * MiB))
                    if not b:
                        raise SystemExit(f"gen_checkpoint: {path}: {t.name} is cut short")
                    crc = zlib.crc32(b, crc)
                    left -= len(b)
                if crc != gen.crc[t.name]:
                    raise SystemExit(f"gen_checkpoint: {path}: {t.name} CRC differs from the one written")


def shard_name(i, n):
    return f"model-{i:05d}-of-{n:05d}.safetensors"


def generate(args, report=True):
    cfg = model_config(args)
    dtype = DTYPES[args.dtype][0]
    tensors = tensors_in_model_order(cfg, dtype, args.seed)
    total = sum(t.nbytes for t in tensors)
    out = os.path.abspath(args.out)
    parent = os.path.dirname(out) or "."
    os.makedirs(parent, exist_ok=True)
    if os.path.isdir(out) and args.shards == 1:
        sys.exit(f"gen_checkpoint: {out} is a directory; --shards 1 writes a file")
    if os.path.isfile(out) and args.shards > 1:
        sys.exit(f"gen_checkpoint: {out} is a file; --shards {args.shards} writes a directory")
    if os.path.isdir(out) and os.listdir(out) and not os.path.exists(os.path.join(out, "model.safetensors.index.json")):
        sys.exit(f"gen_checkpoint: {out} is a directory that is not a sharded checkpoint; not replacing it")
    threads = args.threads or min(2, os.cpu_count() or 1)
    gen = Generator(threads, total, args.quiet)
    t0 = time.perf_counter()
    tmp = tempfile.mkdtemp(prefix=".gen_checkpoint-", dir=parent)
    files = []  # (final path, temp path, tensors in file order)
    try:
        if args.shards == 1:
            files.append((out, os.path.join(tmp, "model.safetensors"), file_order(tensors)))
        else:
            shards = split_shards(tensors, args.shards)
            for i, sh in enumerate(shards, 1):
                name = shard_name(i, args.shards)
                files.append((os.path.join(out, name), os.path.join(tmp, name), file_order(sh)))
        writers = []
        for final, path, ts in files:
            nbytes = sum(t.nbytes for t in ts)
            use_pkg = args.writer == "safetensors" or (args.writer == "auto" and nbytes <= args.package_max_mb * MiB)
            (write_package if use_pkg else write_stream)(path, ts, gen)
            writers.append("safetensors" if use_pkg else "stream")
        t_write = time.perf_counter() - t0
        if args.verify != "none":
            for final, path, ts in files:
                verify_file(path, ts, gen, args.verify == "full")
        umask = os.umask(0)
        os.umask(umask)
        for _, path, _ in files:  # mkdtemp's 0700 and the package's 0600 -> the usual modes
            os.chmod(path, 0o666 & ~umask)
        if args.shards > 1:
            os.chmod(tmp, 0o777 & ~umask)
            weight_map = {t.name: os.path.basename(final) for final, _, ts in files for t in ts}
            index = {"metadata": {"total_size": total}, "weight_map": dict(sorted(weight_map.items()))}
            with open(os.path.join(tmp, "model.safetensors.index.json"), "w") as f:
                f.write(json.dumps(index, indent=2, sort_keys=True) + "\n")
            with open(os.path.join(tmp, "config.json"), "w") as f:
                f.write(json.dumps(hf_config(cfg, args.dtype), indent=2, sort_keys=True) + "\n")
            if os.path.isdir(out):
                shutil.rmtree(out)
            os.rename(tmp, out)
        else:
            os.replace(files[0][1], out)
            os.rmdir(tmp)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    finally:
        if gen.pool:
            gen.pool.shutdown()
    secs = time.perf_counter() - t0
    sizes = [(final, os.path.getsize(final)) for final, _, _ in files]
    file_bytes = sum(s for _, s in sizes)
    summary = dict(path=out, files=[p for p, _ in sizes], shards=args.shards, dtype=args.dtype, seed=args.seed,
                   config=cfg, tensors=len(tensors), tensor_bytes=total, file_bytes=file_bytes,
                   quantizable_tensors=sum(1 for t in tensors if t.kind == "linear" and t.cols % 32 == 0),
                   writers=sorted(set(writers)), threads=threads, verify=args.verify,
                   seconds=round(secs, 3), write_seconds=round(t_write, 3),
                   mb_per_s=round(total / 1e6 / max(t_write, 1e-9), 1), peak_rss_mib=round(peak_rss_mib(), 1))
    if args.summary:
        with open(args.summary, "w") as f:
            f.write(json.dumps(summary, indent=2) + "\n")
    if not report:
        return summary
    for p, s in sizes:
        print(f"{p}\t{s} bytes")
    if args.shards > 1:
        print(os.path.join(out, "model.safetensors.index.json"))
    print(f"total: {file_bytes} bytes in {len(sizes)} file(s) ({total} bytes of tensors, {mib(total):,.1f} MiB; "
          f"{len(tensors)} tensors, {cfg['layers']} layers, hidden {cfg['hidden']}, vocab {cfg['vocab']}, "
          f"{args.dtype}); {t_write:.1f} s writing ({summary['mb_per_s']:,.0f} MB/s), {secs:.1f} s with checks; "
          f"peak RSS {summary['peak_rss_mib']:,.0f} MiB")
    return summary


def hf_config(cfg, dtype):
    return {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_act": "silu",
            "hidden_size": cfg["hidden"], "intermediate_size": cfg["intermediate"],
            "num_attention_heads": cfg["heads"], "num_key_value_heads": cfg["kv_heads"],
            "num_hidden_layers": cfg["layers"], "vocab_size": cfg["vocab"],
            "max_position_embeddings": cfg["max_pos"], "rms_norm_eps": 1e-5, "tie_word_embeddings": False,
            "torch_dtype": {"f32": "float32", "f16": "float16", "bf16": "bfloat16"}[dtype],
            "_generated_by": "lightbeam scripts/gen_checkpoint.py"}


def self_test(args):
    """The streaming writer is byte-identical to the safetensors package, for each dtype and
    for 1 and 3 shards; values are independent of threads and shards; statistics look right."""
    global CHUNK_ELEMS
    import safetensors  # noqa: F401
    base = tempfile.mkdtemp(prefix="gen_checkpoint-selftest-")
    chunk_elems = CHUNK_ELEMS
    CHUNK_ELEMS = 5000  # many chunks per tensor, rows split at odd places
    try:
        def run(*extra):
            a = parser().parse_args(["--size-mb", "2", "--hidden", "64", "--quiet", *extra])
            return generate(a, report=False)

        for dt in DTYPES:
            for shards in ("1", "3"):
                outs = {}
                for writer, threads in (("stream", "1"), ("safetensors", "2"), ("stream", "3")):
                    p = os.path.join(base, f"{dt}-{shards}-{writer}-{threads}" + (".safetensors" if shards == "1" else ""))
                    s = run("--out", p, "--dtype", dt, "--shards", shards, "--writer", writer,
                            "--threads", threads, "--verify", "full")
                    outs[(writer, threads)] = [open(f, "rb").read() for f in s["files"]]
                first = next(iter(outs.values()))
                for k, v in outs.items():
                    if v != first:
                        raise SystemExit(f"self-test: {dt} shards={shards}: writer {k} differs")
                print(f"self-test: {dt}, {shards} shard(s): stream (1 and 3 threads) == safetensors package", file=sys.stderr)
        # the same values whether sharded or not
        from safetensors import safe_open
        one = os.path.join(base, "f32-1-stream-1.safetensors")
        d3 = os.path.join(base, "f32-3-stream-1")
        idx = json.load(open(os.path.join(d3, "model.safetensors.index.json")))
        with safe_open(one, framework="numpy") as f1:
            for name, fn in idx["weight_map"].items():
                with safe_open(os.path.join(d3, fn), framework="numpy") as f3:
                    if not np.array_equal(f1.get_tensor(name), f3.get_tensor(name)):
                        raise SystemExit(f"self-test: {name} differs between 1 and 3 shards")
        assert sum(os.path.getsize(os.path.join(d3, fn)) for fn in set(idx["weight_map"].values())) > idx["metadata"]["total_size"]
        CHUNK_ELEMS = chunk_elems
        # bf16 rounding: ties to even, and against a float64 reference of the nearest bf16
        x = np.array([1.0, 1.00390625, 1.01171875, -2.5, 3.4e38, 1e-40, 0.0], np.float32)
        b = f32_to_bf16_bits(x)
        assert list(bf16_bits_to_f32(b)[:3]) == [1.0, 1.0, 1.015625], bf16_bits_to_f32(b)
        r = np.random.default_rng(0).standard_normal(100000).astype(np.float32)
        back = bf16_bits_to_f32(f32_to_bf16_bits(r))
        lo = bf16_bits_to_f32((r.view(np.uint32) >> 16).astype(np.uint16))
        hi = bf16_bits_to_f32(((r.view(np.uint32) >> 16) + 1).astype(np.uint16))
        best = np.where(np.abs(lo.astype(np.float64) - r) <= np.abs(hi.astype(np.float64) - r), lo, hi)
        tie = np.abs(lo.astype(np.float64) - r) == np.abs(hi.astype(np.float64) - r)
        assert np.array_equal(back[~tie], best[~tie])
        # statistics of a larger tensor
        t = Tensor("model.layers.0.mlp.up_proj.weight", (1024, 2048), "F32", "linear", 1)
        w = np.concatenate([t.chunk(j) for j in range(t.chunks)]).astype(np.float64)
        std = w.std()
        kurt = np.mean((w / std) ** 4)
        big = np.mean(np.abs(w) > 4 / np.sqrt(2048))
        zeros = int(np.sum(w == 0))
        print(f"self-test: up_proj [1024, 2048] std {std:.5f} (1/sqrt(2048) = {1 / np.sqrt(2048):.5f}), "
              f"kurtosis {kurt:.1f} (normal: 3), |w| > 4/sqrt(in): {100 * big:.2f}%, exact zeros {zeros}",
              file=sys.stderr)
        assert 0.8 / np.sqrt(2048) < std < 1.5 / np.sqrt(2048) and kurt > 4 and 0.0005 < big < 0.01 and zeros >= 32
        print("self-test: ok")
    finally:
        CHUNK_ELEMS = chunk_elems
        shutil.rmtree(base, ignore_errors=True)


def parser():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", help="output: a .safetensors file (--shards 1) or a directory")
    p.add_argument("--size-mb", type=float, help="tensor bytes to aim for, in MiB (2^20 bytes)")
    p.add_argument("--dtype", choices=sorted(DTYPES), default="f32")
    p.add_argument("--shards", type=int, default=1)
    p.add_argument("--hidden", type=int, help="model width, a multiple of 32 (default 2048; "
                   "smaller when --size-mb is too small for two layers of 2048)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--layers", type=int, help="layer count (default: from --size-mb)")
    p.add_argument("--vocab", type=int, help="vocabulary (default 32000, less for small --size-mb)")
    p.add_argument("--intermediate", type=int, help="MLP width (default ~2.75 hidden, a multiple of 64)")
    p.add_argument("--max-pos", type=int, default=2048, help="length of model.position_ids")
    p.add_argument("--threads", type=int, default=0, help="generator threads (default min(2, CPUs))")
    p.add_argument("--writer", choices=["auto", "stream", "safetensors"], default="auto",
                   help="auto: the safetensors package for files up to --package-max-mb, else streaming")
    p.add_argument("--package-max-mb", type=float, default=64)
    p.add_argument("--verify", choices=["none", "header", "full"], default="header")
    p.add_argument("--summary", help="also write a JSON summary here")
    p.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    p.add_argument("--self-test", action="store_true", help="check the writers and statistics, then exit")
    return p


def main():
    args = parser().parse_args()
    if args.self_test:
        self_test(args)
        return
    if not args.out:
        parser().error("--out is required")
    if args.shards < 1:
        parser().error("--shards must be at least 1")
    generate(args)


if __name__ == "__main__":
    main()
