"""Streams in parallel on the CPU: two independent chains, and the seed example per placement.

BLAS runs single-threaded here (OPENBLAS_NUM_THREADS=1, set before NumPy loads) so that the
parallelism measured is the scheduler's: one worker per stream.
"""

from __future__ import annotations

import os

import _isolate  # noqa: F401 - first: keeps bench/random.py from shadowing `random`

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"  # forced: a machine may set its own count


import numpy as np  # noqa: E402

import umx as mx  # noqa: E402
from bench._timing import machine, median_s, table, try_mlx  # noqa: E402

mlx = try_mlx()


def chains(lib, x0, w, s1, s2, n=12):
    """Two independent chains of GIL-releasing matmuls, on streams s1 and s2."""
    x, y = x0, x0
    for _ in range(n):
        x = lib.matmul(x, w, stream=s1)
        y = lib.matmul(y, w, stream=s2)
    return x, y


def seed(lib, a, b, d1, d2):
    x = lib.matmul(a, b, stream=d1)
    for _ in range(500):
        b = lib.exp(b, stream=d2)
    return x, b


def main() -> None:
    rng = np.random.default_rng(0)
    x0 = rng.random((768, 768), dtype=np.float32)
    w = (rng.random((768, 768), dtype=np.float32) / 768).astype(np.float32)
    ux, uw = mx.array(x0), mx.array(w)
    one = mx.new_stream(mx.cpu)
    s1, s2 = mx.new_stream(mx.cpu), mx.new_stream(mx.cpu)
    t_one = median_s(lambda: mx.eval(chains(mx, ux, uw, one, one)), runs=10)
    t_two = median_s(lambda: mx.eval(chains(mx, ux, uw, s1, s2)), runs=10)
    print(
        f"umx streams benchmark - {machine()}, OPENBLAS_NUM_THREADS={os.environ['OPENBLAS_NUM_THREADS']}"
    )
    print(table(
        [["one stream", f"{t_one * 1e3:.2f}", "1.00x"], ["two streams", f"{t_two * 1e3:.2f}", f"{t_two / t_one:.2f}x"]],
        ["2 chains of 12 matmuls 768^2", "ms", "vs one stream"],
    ))  # fmt: skip

    a = rng.random((4096, 512), dtype=np.float32)
    b = (rng.random((512, 4), dtype=np.float32) * 0.1).astype(np.float32)

    def numpy_eager():
        x = a @ b
        y = b
        for _ in range(500):
            y = np.exp(y)
        return x, y

    t_np = median_s(numpy_eager)
    ua, ub = mx.array(a), mx.array(b)
    rows = [["NumPy eager", f"{t_np * 1e3:.3f}", "1.00x"]]
    for name, (d1, d2) in {
        "umx cpu, one stream": (one, one),
        "umx cpu, two streams": (s1, s2),
    }.items():
        t = median_s(lambda d1=d1, d2=d2: mx.eval(seed(mx, ua, ub, d1, d2)))
        rows.append([name, f"{t * 1e3:.3f}", f"{t / t_np:.2f}x"])
    if mlx is not None:
        ma, mb = mlx.array(a), mlx.array(b)
        m1, m2 = mlx.new_stream(mlx.cpu), mlx.new_stream(mlx.cpu)
        for name, (d1, d2) in {
            "MLX cpu, one stream": (m1, m1),
            "MLX cpu, two streams": (m1, m2),
        }.items():
            t = median_s(lambda d1=d1, d2=d2: mlx.eval(seed(mlx, ma, mb, d1, d2)), runs=5)
            rows.append([name, f"{t * 1e3:.3f}", f"{t / t_np:.2f}x"])
    print()
    print(table(rows, ["seed example (4096x512 @ 512x4, 500 exps)", "median ms", "vs NumPy"]))


if __name__ == "__main__":
    main()
