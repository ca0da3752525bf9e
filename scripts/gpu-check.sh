#!/usr/bin/env bash
# gpu-check.sh BINARY [ACCEL_TEST_BINARY]
#
# Checks lightbeam's cuda backend on a machine with an NVIDIA GPU, in a few
# minutes, and prints a short table:
#   1. the accel conformance suite on cuda (ACCEL_TEST_BINARY, built with
#      `CGO_ENABLED=0 go test -c -o accel.test ./accel/`; default: accel.test
#      beside BINARY),
#   2. `BINARY accel bench --backend=cuda` at n=4096 and n=1024 (SGEMM GFLOP/s
#      and the 784-300-100-10 MLP step on a 512-row batch),
#   3. PyTorch on the same card as the baseline: fp32 matmul with TF32 off at
#      the same n, and the same MLP step.
# Exit status: 0 all checks passed, 1 a check failed, 2 no GPU (or usage).
set -u

usage() { echo "usage: $0 BINARY [ACCEL_TEST_BINARY]" >&2; exit 2; }
[ $# -ge 1 ] && [ $# -le 2 ] || usage
bin=$1
test_bin=${2:-$(dirname "$bin")/accel.test}
[ -x "$bin" ] || { echo "gpu-check: $bin is not an executable lightbeam binary" >&2; exit 2; }

step_timeout=${GPU_CHECK_TIMEOUT:-240}
failed=0
fail() { echo "gpu-check: FAIL: $*" >&2; failed=1; }

# cuBLAS and NVRTC often come as Python wheels (nvidia-*-cu12/13, installed
# with PyTorch) outside the loader's path: add their lib folders.
if command -v python3 >/dev/null 2>&1; then
  wheel_libs=$(python3 - 2>/dev/null <<'PY'
import glob, site, sys
roots = list(getattr(site, "getsitepackages", lambda: [])()) + [site.getusersitepackages()] + sys.path
dirs = []
for r in roots:
    for d in sorted(glob.glob(r + "/nvidia/*/lib")) + sorted(glob.glob(r + "/nvidia/cu*/lib")):
        if d not in dirs:
            dirs.append(d)
print(":".join(dirs))
PY
)
  if [ -n "$wheel_libs" ]; then
    export LD_LIBRARY_PATH="$wheel_libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  fi
fi

# Is there a GPU at all? Without one, say so and stop.
if ! command -v nvidia-smi >/dev/null 2>&1 && ! ldconfig -p 2>/dev/null | grep -q 'libcuda\.so\.1'; then
  echo "gpu-check: no NVIDIA driver here (no nvidia-smi, no libcuda.so.1): nothing to check"
  "$bin" accel 2>&1 | sed 's/^/  /'
  exit 2
fi
gpu=$(timeout 30 nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1 | head -1)
echo "gpu-check: GPU: ${gpu:-unknown}"
echo "gpu-check: backends:"
timeout "$step_timeout" "$bin" accel 2>&1 | sed 's/^/  /'

# 1. Conformance suite on cuda (it must run, not skip).
conformance="not run"
if [ -x "$test_bin" ]; then
  out=$(timeout "$step_timeout" "$test_bin" -test.run 'CUDA|MLPStepLearns' -test.v -test.count=1 2>&1)
  rc=$?
  echo "$out" | grep -E '^(---|ok|FAIL|PASS|panic)|cuda|conformance' | head -40 | sed 's/^/  /'
  if [ $rc -ne 0 ]; then
    conformance="FAIL (rc $rc)"; fail "conformance suite on cuda"
    echo "$out" | tail -40 | sed 's/^/  | /'
  elif echo "$out" | grep -q -- '--- SKIP: TestCUDAConformance'; then
    conformance="SKIPPED"; fail "conformance suite skipped cuda on a GPU machine"
  else
    conformance="pass"
  fi
else
  fail "no test binary at $test_bin (build it: CGO_ENABLED=0 go test -c -o accel.test ./accel/)"
fi

# field JSON KEY prints one value of a flat JSON line.
field() { python3 -c 'import json,sys; print(round(json.loads(sys.argv[1])[sys.argv[2]], 3))' "$1" "$2" 2>/dev/null || echo "?"; }

# 2. lightbeam's own numbers.
declare -A lb_gflops lb_mlp
for n in 4096 1024; do
  line=$(timeout "$step_timeout" "$bin" accel bench --backend=cuda --n=$n 2>/tmp/gpu-check-bench.err | tail -1)
  if [ -z "$line" ]; then
    fail "accel bench --backend=cuda --n=$n: $(tail -3 /tmp/gpu-check-bench.err)"
    lb_gflops[$n]="?"; lb_mlp[$n]="?"
  else
    echo "  $line"
    lb_gflops[$n]=$(field "$line" gflops); lb_mlp[$n]=$(field "$line" mlp_step_ms)
  fi
done

# 3. PyTorch baseline on the same card.
declare -A pt_gflops
pt_mlp="?"
if python3 -c 'import torch; assert torch.cuda.is_available()' >/dev/null 2>&1; then
  pt=$(timeout "$step_timeout" python3 - 2>&1 <<'PY'
import time, torch
torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False
torch.set_float32_matmul_precision("highest")
dev = "cuda"

def best(fn, reps=5):
    fn(); torch.cuda.synchronize()
    t = float("inf")
    for _ in range(reps):
        s = time.perf_counter(); fn(); torch.cuda.synchronize()
        t = min(t, time.perf_counter() - s)
    return t

for n in (4096, 1024):
    a = torch.randn(n, n, device=dev); b = torch.randn(n, n, device=dev); c = torch.empty(n, n, device=dev)
    t = best(lambda: torch.mm(a, b, out=c))
    print(f"gflops {n} {2 * n**3 / t / 1e9:.3f}")

sizes = [784, 300, 100, 10]
x = torch.rand(512, 784, device=dev)
y = (x[:, 0] * 10).long() % 10
ws = [(torch.randn(i, o, device=dev) * (2 / i) ** 0.5).requires_grad_() for i, o in zip(sizes, sizes[1:])]
bs = [torch.zeros(o, device=dev, requires_grad=True) for o in sizes[1:]]
def step():
    h = x
    for l, (w, b) in enumerate(zip(ws, bs)):
        h = h @ w + b
        if l < len(ws) - 1:
            h = torch.relu(h)
    loss = torch.nn.functional.cross_entropy(h, y)
    loss.backward()
    with torch.no_grad():
        for p in ws + bs:
            p -= 0.05 * p.grad
            p.grad = None
print(f"mlp {best(step) * 1e3:.3f}")
PY
)
  echo "$pt" | sed 's/^/  torch: /'
  for n in 4096 1024; do
    pt_gflops[$n]=$(echo "$pt" | awk -v n=$n '$1 == "gflops" && $2 == n {print $3}')
    [ -n "${pt_gflops[$n]}" ] || pt_gflops[$n]="?"
  done
  pt_mlp=$(echo "$pt" | awk '$1 == "mlp" {print $2}')
  [ -n "$pt_mlp" ] || pt_mlp="?"
else
  echo "gpu-check: no PyTorch with CUDA here: no baseline"
  pt_gflops[4096]="-"; pt_gflops[1024]="-"
fi

echo
echo "GPU: ${gpu:-unknown}"
echo "conformance on cuda: $conformance"
printf '%-28s %14s %14s\n' "metric" "lightbeam cuda" "torch fp32"
printf '%-28s %14s %14s\n' "SGEMM 4096 GFLOP/s" "${lb_gflops[4096]}" "${pt_gflops[4096]}"
printf '%-28s %14s %14s\n' "SGEMM 1024 GFLOP/s" "${lb_gflops[1024]}" "${pt_gflops[1024]}"
printf '%-28s %14s %14s\n' "MLP step ms (n=1024 run)" "${lb_mlp[1024]}" "$pt_mlp"
exit $failed
