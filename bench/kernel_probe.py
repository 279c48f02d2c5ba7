"""Diagnostic: the fused CPU chain kernel on 2048 float32 on this machine's CPU: built with
and without 512-bit vectors, then on several thread counts and task sizes, hot, after an
idle gap (OpenMP threads asleep), and while a GPU matmul is in flight (where CUDA is
present). Three chains: the seed example's 500 exps (which reach inf within six, and the
kernel then skips the rest of the run); 250 exp/negative pairs, which stay finite and have no
run to skip: the full 500 steps of work; and 500 reciprocals, a run that never reaches a
fixed point: the full work plus the kernel's check for one."""

from __future__ import annotations

import _isolate  # noqa: F401 - first: keeps bench/random.py from shadowing `random`

# isort: split

import ctypes
import os
import subprocess
import tempfile
import time

import numpy as np

SRC = os.path.join(os.path.dirname(__file__), "..", "umx", "backends", "_cpu_kernels.c")


def med(f, n=60, gap=0.0) -> float:
    ts = []
    for _ in range(n):
        if gap:
            time.sleep(gap)
        t = time.perf_counter()
        f()
        ts.append(time.perf_counter() - t)
    return sorted(ts)[n // 2] * 1e3


def build(arch) -> ctypes.CDLL | None:
    so = os.path.join(tempfile.mkdtemp(), "k.so")
    cmd = ["cc", "-O3", "-fno-math-errno", "-fPIC", "-shared", "-std=c99", "-fopenmp"]
    r = subprocess.run([*cmd, *arch, SRC, "-o", so, "-lm"], capture_output=True, text=True)
    if r.returncode:
        print(arch, "build failed", r.stderr[-200:])
        return None
    fn = ctypes.CDLL(so).umx_chain_f32
    c = ctypes
    fn.argtypes = [c.c_void_p, c.c_void_p, c.c_int64, c.c_void_p, c.c_void_p, c.c_int32]
    fn.argtypes += [c.c_int32]
    fn.argtypes += [c.c_int64]
    fn.restype = c.c_int64
    return fn


def gpu_matmul():
    """A function that enqueues the seed's GPU matmul and one that waits for it, or None."""
    try:
        import cupy
    except ImportError:
        return None
    a = cupy.random.random((4096, 512), dtype=cupy.float32)
    b = cupy.random.random((512, 4), dtype=cupy.float32)
    cupy.cuda.Device().synchronize()
    return lambda: cupy.matmul(a, b), cupy.cuda.get_current_stream().synchronize


def main() -> None:
    os.environ.setdefault("GOMP_SPINCOUNT", "10000")
    print(
        subprocess.run(
            "lscpu | grep -i 'model name\\|^cpu(s)'", shell=True, capture_output=True, text=True
        ).stdout
    )
    x = (np.random.default_rng(0).random(2048) * 1e-3).astype(np.float32)
    y = np.empty_like(x)
    for name, codes in (
        ("500 exps", np.full(500, 9, np.int32)),
        ("250 x (exp, negative)", np.array([9, 1] * 250, np.int32)),
        ("500 reciprocals", np.full(500, 4, np.int32)),
    ):
        print(f"chain: {name}")
        probe(x, y, codes)


def probe(x, y, codes) -> None:
    args = (x.ctypes.data, y.ctypes.data, x.size, codes.ctypes.data, None, codes.size)
    for name, arch in (
        ("native", ["-march=native"]),
        ("native+512", ["-march=native", "-mprefer-vector-width=512"]),
    ):
        fn = build(arch)
        if fn is not None:
            print(f"{name}: one thread {med(lambda f=fn: f(*args, 1, 0)):.3f} ms")
    fn = build(["-march=native", "-mprefer-vector-width=512"])
    mm = gpu_matmul()
    enqueue, wait = mm if mm is not None else (None, None)
    print("threads chunk | hot | cold | with GPU matmul (ms)")
    for threads in (4, 8, 12, 16):
        for chunk in (-(-2048 // threads // 64) * 64, 128, 256):
            if chunk >= 2048:
                continue
            hot = med(lambda t=threads, c=chunk: fn(*args, t, c))
            cold = med(lambda t=threads, c=chunk: fn(*args, t, c), n=30, gap=3e-4)
            row = f"{threads:7d} {chunk:5d} | {hot:.3f} | {cold:.3f}"
            if mm is not None:

                def both(t=threads, c=chunk):
                    enqueue()
                    fn(*args, t, c)
                    wait()

                row += f" | {med(both):.3f}"
            print(row, flush=True)


if __name__ == "__main__":
    main()
