"""The seed example on every placement, next to CuPy, CuPy + NumPy by hand, and PyTorch.

``x = matmul(a, b)`` with a: 4096x512, b: 512x4 float32, and 500 times ``b = exp(b)``.
Median of 20 runs after a warm-up, all measured in one run. Needs a CUDA machine for the
GPU rows (the CPU row runs anywhere).
"""

from __future__ import annotations

import _isolate  # noqa: F401 - first: keeps bench/random.py from shadowing `random`

# isort: split

import ctypes
import datetime
import os
import platform
import sys

import numpy as np

import umx as mx
from bench._timing import timed_ms

RUNS = int(os.environ.get("SEED_RUNS", "20"))


def fun(a, b, d1, d2):
    x = mx.matmul(a, b, stream=d1)
    for _ in range(500):
        b = mx.exp(b, stream=d2)
    return x, b


def main() -> None:
    rng = np.random.default_rng(0)
    a_np = rng.random((4096, 512), dtype=np.float32)
    b_np = rng.random((512, 4), dtype=np.float32) * 1e-3
    x_ref = a_np @ b_np
    b_ref = b_np.astype(np.float64)
    for _ in range(500):
        b_ref = np.exp(b_ref)  # overflows to inf after a few steps, as in every system
    has_gpu = mx.is_available(mx.gpu)
    if hasattr(mx, "random") and hasattr(mx.random, "uniform"):
        a = mx.random.uniform(shape=(4096, 512))
        b = mx.random.uniform(shape=(512, 4))
    else:
        a, b = mx.array(a_np), mx.array(b_np)
    mx.eval(a, b)
    rows = []
    place = [("cpu", "cpu")]
    if has_gpu:
        place = [("gpu", "gpu"), ("gpu", "cpu"), ("cpu", "gpu"), ("cpu", "cpu")]
    names = {
        ("gpu", "gpu"): "umx all on GPU",
        ("gpu", "cpu"): "umx matmul GPU + exp chain CPU",
        ("cpu", "gpu"): "umx matmul CPU + exp chain GPU",
        ("cpu", "cpu"): "umx all on CPU",
    }
    # correctness on every placement first
    ua, ub = mx.array(a_np), mx.array(b_np)
    for d1, d2 in place:
        x, bb = fun(ua, ub, getattr(mx, d1), getattr(mx, d2))
        np.testing.assert_allclose(np.array(x), x_ref, rtol=1e-4)
        assert np.array_equal(np.isinf(np.array(bb)), np.isinf(b_ref))
    cases = []
    for d1, d2 in place:
        s1, s2 = getattr(mx, d1), getattr(mx, d2)
        cases.append((names[(d1, d2)], lambda s1=s1, s2=s2: mx.eval(fun(a, b, s1, s2))))
    if has_gpu:
        cases += others(a_np, b_np)
    rows = timed_ms(cases, RUNS)
    today = datetime.date.today().isoformat()
    dev = mx.device_info(mx.gpu)["device_name"] if has_gpu else platform.processor()
    print(
        f"seed example, {today}, {dev}, {os.cpu_count()} CPU cores, Python {platform.python_version()}"
    )
    print(f"median of {RUNS} runs, in 3 blocks per row taken round-robin, each after a warm-up; ms")
    print("| system / placement | ms |")
    print("| --- | --- |")
    for name, t in rows:
        print(f"| {name} | {t:.3f} |")
    if has_gpu:
        from umx.backends import _cuda_exec

        if _cuda_exec.FALLBACKS:
            print("host fallbacks:", sorted(_cuda_exec.FALLBACKS))


def others(a_np, b_np):
    """(name, function) cases: CuPy eager, CuPy + NumPy by hand on managed memory, PyTorch."""
    import cupy as cp

    rows = []
    s = cp.cuda.Stream(non_blocking=True)
    with s:
        ca, cb = cp.asarray(a_np), cp.asarray(b_np)

        def cupy_eager():
            with s:
                x = ca @ cb
                b = cb
                for _ in range(500):
                    b = cp.exp(b)
                s.synchronize()
            return x, b

        rows.append(("CuPy eager, all on GPU", cupy_eager))

        # by hand: managed buffers, matmul on the GPU while NumPy runs the chain on the CPU
        def managed(h):
            m = cp.cuda.malloc_managed(h.nbytes)
            d = cp.ndarray(h.shape, h.dtype, m)
            d.set(h)
            return d

        ma, mb = managed(a_np), managed(b_np)
        s.synchronize()
        buf = (ctypes.c_byte * mb.nbytes).from_address(mb.data.ptr)
        hb = np.frombuffer(buf, np.float32).reshape(mb.shape)

        def by_hand():
            with s, np.errstate(all="ignore"):
                x = ma @ mb
                ev = cp.cuda.Event(disable_timing=True)
                ev.record(s)
                b = hb
                for _ in range(500):
                    b = np.exp(b)
                ev.synchronize()
            return x, b

        rows.append(("CuPy matmul + NumPy chain by hand, managed memory", by_hand))
    try:
        import torch
    except ImportError:
        return rows
    ta = torch.as_tensor(a_np, device="cuda")
    tb = torch.as_tensor(b_np, device="cuda")
    tb_cpu = torch.as_tensor(b_np)

    def torch_gpu():
        x = ta @ tb
        b = tb
        for _ in range(500):
            b = torch.exp(b)
        torch.cuda.synchronize()
        return x, b

    def torch_mixed():
        x = ta @ tb
        b = tb_cpu
        for _ in range(500):
            b = torch.exp(b)
        torch.cuda.synchronize()
        return x, b

    rows.append(("PyTorch eager, all on GPU", torch_gpu))
    rows.append(("PyTorch eager, matmul GPU + exp chain CPU", torch_mixed))
    return rows


if __name__ == "__main__":
    sys.exit(main())
