"""Where the CPU fused chain's time goes on this machine: the native kernel alone (one
thread and split), and the graph build / eval of the 500-exp chain. A diagnostic."""

from __future__ import annotations

import _isolate  # noqa: F401 - first: keeps bench/random.py from shadowing `random`

# isort: split

import time

import numpy as np

import umx as mx
from bench._timing import median_s
from umx.backends import _cpu_fuse


def med(f, n=40) -> float:
    return median_s(f, n, warmup=0) * 1e3


def main() -> None:
    assert _cpu_fuse.available(), _cpu_fuse.unavailable_reason()
    flags = open("/proc/cpuinfo").read()
    print(
        "avx512f" in flags, "avx2" in flags, "threads", _cpu_fuse._threads, "omp", _cpu_fuse._openmp
    )
    x = (np.random.default_rng(0).random((512, 4)) * 1e-3).astype(np.float32)
    y = np.empty_like(x)
    codes = np.full(500, 9, np.int32)
    fn = _cpu_fuse._lib.umx_chain_f32
    args = (x.ctypes.data, y.ctypes.data, x.size, codes.ctypes.data, None, 500)
    print(f"kernel, one thread: {med(lambda: fn(*args, 1, 0)):.3f} ms")
    for parts in (2, 4, 8, 16):
        ms = med(lambda p=parts: fn(*args, p, _cpu_fuse._chunk(x.size, p)))
        print(f"kernel, {parts} threads (OpenMP): {ms:.3f} ms")
        ms = med(lambda p=parts: _cpu_fuse._run_split(fn, *args[:2], 4, x.size, *args[3:], p))
        print(f"kernel, {parts} parts (thread pool): {ms:.3f} ms")
    with np.errstate(all="ignore"):
        print(f"NumPy 500 exps: {med(lambda: [np.exp(x) for _ in range(500)]):.3f} ms")
    b = mx.array(x)
    mx.eval(b)
    a = mx.random.uniform(shape=(4096, 512))
    bg = mx.random.uniform(shape=(512, 4))
    mx.eval(a, bg)

    def build(src):
        z = src
        for _ in range(500):
            z = mx.exp(z, stream=mx.cpu)
        return z

    print(f"build: {med(lambda: build(b)):.3f} ms")
    print(f"build + eval, host input: {med(lambda: mx.eval(build(b))):.3f} ms")
    print(f"build + eval, GPU-made input: {med(lambda: mx.eval(build(bg))):.3f} ms")
    if not mx.is_available(mx.gpu):
        return
    print(
        f"+ GPU matmul: {med(lambda: mx.eval(mx.matmul(a, bg, stream=mx.gpu), build(bg))):.3f} ms"
    )
    print(
        f"+ GPU matmul, host-made input: {med(lambda: mx.eval(mx.matmul(a, b, stream=mx.gpu), build(b))):.3f} ms"
    )
    print(f"GPU matmul alone: {med(lambda: mx.eval(mx.matmul(a, bg, stream=mx.gpu))):.3f} ms")
    for d1, d2 in (("gpu", "gpu"), ("gpu", "cpu")):
        phases(a, bg, getattr(mx, d1), getattr(mx, d2))
    chain_detail(a, bg)


def cold_kernel(fn, args, threads, pause_s=3e-4, n=40) -> float:
    """The kernel's median ms when its threads have gone idle first (a busy pause, as the
    seed's graph build gives them), against back-to-back calls."""
    ts = []
    for _ in range(n):
        end = time.perf_counter() + pause_s
        while time.perf_counter() < end:
            pass
        t = time.perf_counter()
        fn(*args, threads, _cpu_fuse._chunk(args[2], threads))
        ts.append(time.perf_counter() - t)
    return sorted(ts)[n // 2] * 1e3


def chain_detail(a, b, n=60) -> None:
    """The mixed placement's CPU chain, piece by piece: the input's preparation, the whole
    run_chain call, and the native kernel inside it (timed by wrapping each)."""
    from umx import _scheduler

    spent = {"prepare": [], "run_chain": [], "kernel": []}
    real_prepare = _scheduler.CpuExecutor.prepare
    real_run = _cpu_fuse.run_chain
    real_lib = _cpu_fuse._lib

    def timed(name, f):
        def g(*args, **kw):
            t = time.perf_counter()
            try:
                return f(*args, **kw)
            finally:
                spent[name].append(time.perf_counter() - t)

        return g

    class Lib:  # the library with its f32 chain timed
        def __getattr__(self, name):
            f = getattr(real_lib, name)
            return timed("kernel", f) if name == "umx_chain_f32" else f

    _scheduler.CpuExecutor.prepare = timed("prepare", real_prepare)
    _cpu_fuse.run_chain = timed("run_chain", real_run)
    _cpu_fuse._lib = Lib()
    try:
        for _ in range(n):
            z = b
            x = mx.matmul(a, b, stream=mx.gpu)
            for _ in range(500):
                z = mx.exp(z, stream=mx.cpu)
            mx.eval(x, z)
    finally:
        _scheduler.CpuExecutor.prepare = real_prepare
        _cpu_fuse.run_chain = real_run
        _cpu_fuse._lib = real_lib
    meds = {k: sorted(v)[len(v) // 2] * 1e3 if v else float("nan") for k, v in spent.items()}
    print("mixed seed, CPU chain: " + ", ".join(f"{k} {v:.3f}" for k, v in meds.items()) + " ms")
    x = b._cpu_copy if hasattr(b, "_cpu_copy") else np.array(b)
    y = np.empty_like(x)
    codes = np.full(500, 9, np.int32)
    args = (x.ctypes.data, y.ctypes.data, x.size, codes.ctypes.data, None, 500)
    fn = real_lib.umx_chain_f32
    for t in (1, 4, 8, 15, 16):
        print(
            f"kernel, {t} threads: back to back {med(lambda t=t: fn(*args, t, _cpu_fuse._chunk(x.size, t))):.3f}, "
            f"after a 0.3 ms pause {cold_kernel(fn, args, t):.3f} ms"
        )


def phases(a, b, d1, d2, n=60) -> None:
    """Where one placement of the seed example spends its time: the graph build, the walk
    and enqueueing (_schedule), the CPU work run by the calling thread, the final wait."""
    from umx import _eval

    ts = []
    for _ in range(n):
        t0 = time.perf_counter()
        z = b
        x = mx.matmul(a, b, stream=d1)
        for _ in range(500):
            z = mx.exp(z, stream=d2)
        outs = [x, z]
        t1 = time.perf_counter()
        drains = _eval._schedule(outs, inline=True)
        t2 = time.perf_counter()
        if drains:
            _eval._drain(drains)
        t3 = time.perf_counter()
        _eval._wait(outs)
        t4 = time.perf_counter()
        ts.append((t1 - t0, t2 - t1, t3 - t2, t4 - t3, t4 - t0))
    cols = [sorted(c)[n // 2] * 1e3 for c in zip(*ts)]
    print(
        f"{d1.name}/{d2.name}: build {cols[0]:.3f}, walk+enqueue {cols[1]:.3f}, "
        f"inline CPU {cols[2]:.3f}, wait {cols[3]:.3f}, total {cols[4]:.3f} ms"
    )


if __name__ == "__main__":
    main()
