"""Common ops on the GPU: umx next to CuPy and PyTorch (and NumPy on the CPU), in one run.

Each row times one workload end to end, results complete on the device (umx: ``mx.eval``;
CuPy: the stream synchronised; PyTorch: ``torch.cuda.synchronize``). Small workloads show
the per-call overhead of each framework, large ones the kernels and memory bandwidth.
Columns are ms (median, blocks taken round-robin), then umx's time over each other's.
Needs a CUDA machine.

    python bench/gpu_ops.py [--quick]
"""

from __future__ import annotations

import _isolate  # noqa: F401 - first: keeps bench/random.py from shadowing `random`

# isort: split

import sys

import numpy as np

import umx as mx
from bench._timing import table, timed_ms


def workloads(big: int):
    """(name, setup) pairs; setup(lib) returns the function that runs the workload in that
    library, lib one of "umx", "cupy", "torch", "numpy"."""
    rng = np.random.default_rng(0)
    small = rng.random(1024, dtype=np.float32)
    large = rng.random(big, dtype=np.float32)
    sq = rng.random((4096, 4096), dtype=np.float32)
    chain_in = rng.random(1 << 20, dtype=np.float32)
    seed_b = rng.random((512, 4), dtype=np.float32) * 1e-3

    def repeated(data, other, n, step):
        """The setup of a workload that applies ``step(module, z, other)`` ``n`` times."""

        def setup(lib):
            x, y, sync, m = _inputs(lib, data, other)

            def run():
                z = x
                for _ in range(n):
                    z = step(m, z, y)
                return sync(z)

            return run

        return setup

    hundred_adds = repeated(small, small, 100, lambda m, z, y: m.add(z, y))
    affine_chain = repeated(chain_in, None, 50, lambda m, z, y: z * 1.0001 + 0.001)
    exp_chain = repeated(seed_b, None, 500, lambda m, z, y: m.exp(z))

    def one_add(lib):
        x, y, sync, m = _inputs(lib, small, small)
        return lambda: sync(m.add(x, y))

    def big_add(lib):
        x, y, sync, m = _inputs(lib, large, large)
        return lambda: sync(m.add(x, y))

    def big_sum(lib):
        x, _, sync, m = _inputs(lib, large, None)
        return lambda: sync(m.sum(x))

    def matmul(lib):
        x, y, sync, m = _inputs(lib, sq, sq)
        return lambda: sync(m.matmul(x, y))

    def softmax(lib):
        x, _, sync, m = _inputs(lib, sq, None)
        if lib == "umx":
            return lambda: sync(mx.softmax(x, axis=-1))
        if lib == "torch":
            import torch

            return lambda: sync(torch.softmax(x, dim=-1))

        def sm():
            e = m.exp(x - m.max(x, axis=-1, keepdims=True))
            return sync(e / m.sum(e, axis=-1, keepdims=True))

        return sm

    def item(lib):
        x, _, sync, m = _inputs(lib, small, None)
        if lib == "numpy":
            return lambda: float(m.sum(x))
        return lambda: m.sum(x).item()

    mb = big * 4 >> 20
    return [
        ("add, 1K float32, one op + sync", one_add),
        ("100 chained adds, 1K float32, then sync", hundred_adds),
        (f"add, {mb} MiB float32 each", big_add),
        (f"sum, {mb} MiB float32", big_sum),
        ("matmul 4096x4096 float32", matmul),
        ("softmax 4096x4096 float32, last axis", softmax),
        ("50 x (z * 1.0001 + 0.001), 4 MiB float32", affine_chain),
        ("500 x exp, 512x4 float32 (the seed's chain)", exp_chain),
        ("sum of 1K float32 to a Python float (item)", item),
    ]


def _inputs(lib, a, b):
    """(x, y, sync, module) for ``lib``: the inputs on its device, a function that waits for
    a result to be complete, and the module whose add/sum/... the workloads call."""
    if lib == "umx":
        x = mx.array(a)
        y = mx.array(b) if b is not None else None
        mx.eval(x, y) if y is not None else mx.eval(x)

        def sync(z):
            mx.eval(z)
            return z

        return x, y, sync, mx
    if lib == "cupy":
        import cupy as cp

        x = cp.asarray(a)
        y = cp.asarray(b) if b is not None else None
        stream = cp.cuda.get_current_stream()

        def sync(z):
            stream.synchronize()
            return z

        return x, y, sync, cp
    if lib == "torch":
        import torch

        x = torch.as_tensor(a, device="cuda")
        y = torch.as_tensor(b, device="cuda") if b is not None else None

        def sync(z):
            torch.cuda.synchronize()
            return z

        return x, y, sync, torch
    return a, b, (lambda z: z), np


def main() -> int:
    if not mx.is_available(mx.gpu):
        print("gpu_ops: no CUDA device here; nothing to measure")
        return 0
    quick = "--quick" in sys.argv
    big = 1 << (24 if quick else 26)
    mx.set_default_device(mx.gpu)
    libs = ["umx", "cupy", "torch", "numpy"]
    try:
        import torch  # noqa: F401
    except ImportError:
        libs.remove("torch")
    rows = []
    with np.errstate(all="ignore"):
        for name, setup in workloads(big):
            cases = [(lib, setup(lib)) for lib in libs]
            ms = dict(timed_ms(cases, runs=9 if quick else 21))
            cells = [f"{ms[lib]:.3f}" for lib in libs]
            ratios = [f"{ms['umx'] / ms[lib]:.2f}x" for lib in libs[1:]]
            rows.append([name, *cells, *ratios])
    dev = mx.device_info(mx.gpu)["device_name"]
    print(f"GPU ops, {dev}: ms (median), and umx's time over each other's")
    heads = ["workload", *libs, *(f"umx/{lib}" for lib in libs[1:])]
    print(table(rows, heads))
    return 0


if __name__ == "__main__":
    sys.exit(main())
