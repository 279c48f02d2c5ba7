"""Diagnostic: the fused CPU chain kernel on this machine's CPU, built with several flag
sets, hot and after an idle gap (OpenMP threads asleep)."""

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


def main() -> None:
    os.environ.setdefault("GOMP_SPINCOUNT", "10000")
    print(
        subprocess.run(
            "lscpu | grep -i 'model name\\|mhz\\|numa node0\\|^cpu(s)'",
            shell=True,
            capture_output=True,
            text=True,
        ).stdout
    )
    flags = open("/proc/cpuinfo").read()
    print("avx512f", "avx512f" in flags, "avx2", "avx2" in flags)
    x = (np.random.default_rng(0).random(2048) * 1e-3).astype(np.float32)
    y = np.empty_like(x)
    codes = np.full(500, 9, np.int32)
    variants = {
        "native": ["-march=native"],
        "native+512": ["-march=native", "-mprefer-vector-width=512"],
        "native+256": ["-march=native", "-mprefer-vector-width=256"],
        "x86-64-v3": ["-march=x86-64-v3"],
        "generic": [],
    }
    d = tempfile.mkdtemp()
    for name, arch in variants.items():
        so = os.path.join(d, name + ".so")
        cmd = [
            "cc",
            "-O3",
            "-fno-math-errno",
            "-fPIC",
            "-shared",
            "-std=c99",
            "-fopenmp",
            *arch,
            SRC,
            "-o",
            so,
            "-lm",
        ]
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode:
            print(name, "build failed", r.stderr[-200:])
            continue
        fn = ctypes.CDLL(so).umx_chain_f32
        c = ctypes
        fn.argtypes = [c.c_void_p, c.c_void_p, c.c_int64, c.c_void_p, c.c_int32, c.c_int32]
        args = (x.ctypes.data, y.ctypes.data, x.size, codes.ctypes.data, 500)
        row = [f"{name:12s}"]
        for parts in (1, 2, 4, 8, 16):
            row.append(f"p{parts} {med(lambda p=parts, f=fn, a=args: f(*a, p)):.3f}")
        for parts in (4, 8, 16):
            ms = med(lambda p=parts, f=fn, a=args: f(*a, p), n=30, gap=3e-4)
            row.append(f"cold p{parts} {ms:.3f}")
        print(" | ".join(row), flush=True)


if __name__ == "__main__":
    main()
