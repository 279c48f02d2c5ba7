"""Per-op cost of building and evaluating chains of small ops, and big work at NumPy's speed.

Prints, in one run: umx next to NumPy eager and MLX on the CPU (where installed).
"""

from __future__ import annotations

import _isolate  # noqa: F401 - first: keeps bench/random.py from shadowing `random`
import numpy as np

import umx as mx  # noqa: E402
from bench._timing import machine, median_s, table, try_mlx  # noqa: E402

mlx = try_mlx()


def scalar_adds(lib, n=1000):
    def run():
        x = lib.array(1.0)
        for _ in range(n):
            x = x + 1
        lib.eval(x)

    return run


def numpy_scalar_adds(n=1000):
    def run():
        x = np.float32(1.0)
        x = np.asarray(x)
        for _ in range(n):
            x = np.add(x, 1)

    return run


def exp_chain(lib, b, n=500):
    def run():
        x = b
        for _ in range(n):
            x = lib.exp(x)
        lib.eval(x)

    return run


def compiled_exp_chain(lib, b, n=500):
    """The same chain under ``lib.compile``: traced once, then replayed."""

    def chain(x):
        for _ in range(n):
            x = lib.exp(x)
        return x

    f = lib.compile(chain)

    def run():
        lib.eval(f(b))

    return run


def numpy_exp_chain(b, n=500):
    def run():
        x = b
        for _ in range(n):
            x = np.exp(x)

    return run


def main() -> None:
    mx.set_default_device(mx.cpu)  # CPU streams: these rows compare with NumPy on the CPU
    rng = np.random.default_rng(0)
    bn = (rng.random((512, 4), dtype=np.float32) * 0.1).astype(np.float32)
    rows = []

    def row(name, n, umx_s, np_s, mlx_s):
        us = lambda s: f"{s / n * 1e6:.2f}" if s is not None else "-"  # noqa: E731
        ratio = lambda s: f"{s / np_s:.2f}x" if s is not None else "-"  # noqa: E731
        rows.append([name, us(umx_s), us(np_s), us(mlx_s), ratio(umx_s), ratio(mlx_s)])

    n = 1000
    row(
        "1000 scalar adds (us/op)", n,
        median_s(scalar_adds(mx, n)), median_s(numpy_scalar_adds(n)),
        median_s(scalar_adds(mlx, n)) if mlx else None,
    )  # fmt: skip
    n = 500
    row(
        "500 exps on 512x4 (us/op)", n,
        median_s(exp_chain(mx, mx.array(bn), n)), median_s(numpy_exp_chain(bn, n)),
        median_s(exp_chain(mlx, mlx.array(bn), n)) if mlx else None,
    )  # fmt: skip
    row(
        "the same, mx.compile'd (us/op)", n,
        median_s(compiled_exp_chain(mx, mx.array(bn), n)), median_s(numpy_exp_chain(bn, n)),
        median_s(compiled_exp_chain(mlx, mlx.array(bn), n)) if mlx else None,
    )  # fmt: skip
    print(f"umx overhead benchmark - {machine()}")
    print(table(rows, ["chain", "umx", "NumPy", "MLX cpu", "umx/NumPy", "MLX/NumPy"]))

    big = []
    a = rng.random((2048, 2048), dtype=np.float32)
    b = rng.random((2048, 2048), dtype=np.float32)
    ua, ub = mx.array(a), mx.array(b)
    t_np = median_s(lambda: a @ b, runs=10)
    t_mx = median_s(lambda: mx.eval(mx.matmul(ua, ub)), runs=10)
    big.append(
        ["2048x2048 float32 matmul", f"{t_mx * 1e3:.2f}", f"{t_np * 1e3:.2f}", f"{t_mx / t_np:.3f}"]
    )
    x = rng.random(2**24, dtype=np.float32)
    y = rng.random(2**24, dtype=np.float32)
    ux, uy = mx.array(x), mx.array(y)
    t_np = median_s(lambda: x + y, runs=10)
    t_mx = median_s(lambda: mx.eval(ux + uy), runs=10)
    big.append(
        ["2^24-element float32 add", f"{t_mx * 1e3:.2f}", f"{t_np * 1e3:.2f}", f"{t_mx / t_np:.3f}"]
    )
    print()
    print(table(big, ["big work", "umx ms", "NumPy ms", "umx/NumPy"]))


if __name__ == "__main__":
    main()
