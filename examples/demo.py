"""The seed example of DESIGN.md on every placement this machine has, as a table of times.

A (4096x512) @ (512x4) matmul on one stream while a chain of 500 ``exp`` runs on another.
"""

from __future__ import annotations

import os

# One BLAS thread (before NumPy loads): each stream gets a core, instead of the matmul's BLAS
# threads taking every core from the stream running the exp chain.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import statistics
import time

import numpy as np

import umx as mx


def fun(a, b, d1, d2):
    x = mx.matmul(a, b, stream=d1)
    for _ in range(500):
        b = mx.exp(b, stream=d2)
    return x, b


def median_ms(f, runs: int = 20) -> float:
    f()
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        f()
        times.append((time.perf_counter() - t) * 1e3)
    return statistics.median(times)


def main() -> None:
    np.seterr(over="ignore")  # the exp chain overflows to inf after a few steps, everywhere
    rng = np.random.default_rng(0)
    a = mx.array(rng.random((4096, 512), dtype=np.float32))
    b = mx.array(rng.random((512, 4), dtype=np.float32) * 0.1)
    mx.eval(a, b)
    an, bn = np.array(a), np.array(b)

    def numpy_eager():
        x = an @ bn
        y = bn
        for _ in range(500):
            y = np.exp(y)
        return x, y

    placements = {"cpu, cpu (one stream)": (mx.cpu, mx.cpu)}
    s1, s2 = mx.new_stream(mx.cpu), mx.new_stream(mx.cpu)
    placements["cpu stream 1, cpu stream 2"] = (s1, s2)
    if mx.is_available(mx.gpu):
        placements["gpu, gpu"] = (mx.gpu, mx.gpu)
        placements["gpu matmul, cpu exp"] = (mx.gpu, mx.cpu)
        placements["cpu matmul, gpu exp"] = (mx.cpu, mx.gpu)

    ref_x, ref_y = numpy_eager()
    rows = [("NumPy eager (reference)", median_ms(numpy_eager), True)]
    for name, (d1, d2) in placements.items():
        x, y = fun(a, b, d1, d2)
        mx.eval(x, y)
        ok = np.allclose(np.array(x), ref_x, rtol=1e-4) and np.allclose(
            np.array(y), ref_y, rtol=1e-4
        )
        rows.append((f"umx {name}", median_ms(lambda d1=d1, d2=d2: mx.eval(fun(a, b, d1, d2))), ok))

    base = rows[0][1]
    print(f"{'placement':<40} {'median ms':>10} {'vs NumPy':>9}  result")
    for name, ms, ok in rows:
        print(f"{name:<40} {ms:>10.3f} {ms / base:>8.2f}x  {'ok' if ok else 'WRONG'}")


if __name__ == "__main__":
    main()
