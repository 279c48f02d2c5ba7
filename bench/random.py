"""mx.random throughput: 2^26 uniform float32 against NumPy's Generator, measured side by side.

``python bench/random.py [--quick]``. Prints the median time of each generator, the ratio
umx / NumPy (the target: within 2x) and GB/s of output; MLX's own CPU time where MLX is
installed; and, when a CUDA GPU is present, the same draw on the GPU stream (checked equal
to the CPU's numbers).
"""

from __future__ import annotations

import os
import sys

# This file is named like the standard library's ``random``: take its folder off the path
# before anything imports ``random``, and load the timing helpers by file name.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]
sys.path.insert(0, os.path.dirname(_HERE))

import importlib.util  # noqa: E402

import numpy as np  # noqa: E402

import umx as mx  # noqa: E402

_spec = importlib.util.spec_from_file_location("_timing", os.path.join(_HERE, "_timing.py"))
_timing = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_timing)
machine, median_s, table, try_mlx = (
    _timing.machine,
    _timing.median_s,
    _timing.table,
    _timing.try_mlx,
)


def main() -> None:
    quick = "--quick" in sys.argv
    n = 1 << (22 if quick else 26)
    runs = 3 if quick else 7
    gb = n * 4 / 1e9
    key = mx.random.key(0)
    gen = np.random.default_rng(0)

    def ours(stream=mx.cpu):
        return lambda: mx.eval(mx.random.uniform(shape=(n,), key=key, stream=stream))

    t_np = median_s(lambda: gen.random(n, dtype=np.float32), runs=runs, warmup=1)
    t_cpu = median_s(ours(), runs=runs, warmup=1)
    rows = [
        ["numpy Generator.random", f"{t_np * 1e3:.1f}", "1.00", f"{gb / t_np:.2f}"],
        ["umx uniform (cpu)", f"{t_cpu * 1e3:.1f}", f"{t_cpu / t_np:.2f}", f"{gb / t_cpu:.2f}"],
    ]
    mlx = try_mlx()
    if mlx is not None:
        mk = mlx.random.key(0)
        t_mlx = median_s(
            lambda: mlx.eval(mlx.random.uniform(shape=(n,), key=mk, stream=mlx.cpu)),
            runs=runs,
            warmup=1,
        )
        rows.append(
            ["mlx uniform (cpu)", f"{t_mlx * 1e3:.1f}", f"{t_mlx / t_np:.2f}", f"{gb / t_mlx:.2f}"]
        )
    t_norm = median_s(
        lambda: mx.eval(mx.random.normal((n // 4,), key=key, stream=mx.cpu)), runs=3, warmup=1
    )
    rows.append(["umx normal (cpu, n/4)", f"{t_norm * 1e3:.1f}", "", f"{gb / 4 / t_norm:.2f}"])
    if mx.is_available(mx.gpu):
        a = np.array(mx.random.uniform(shape=(1 << 20,), key=key, stream=mx.gpu))
        b = np.array(mx.random.uniform(shape=(1 << 20,), key=key, stream=mx.cpu))
        assert np.array_equal(a, b), "the GPU stream drew other numbers than the CPU"

        def gpu():
            mx.eval(mx.random.uniform(shape=(n,), key=key, stream=mx.gpu))
            mx.synchronize()

        t_gpu = median_s(gpu, runs=runs, warmup=2)
        rows.append(
            ["umx uniform (gpu)", f"{t_gpu * 1e3:.1f}", f"{t_gpu / t_np:.2f}", f"{gb / t_gpu:.2f}"]
        )
    print(f"mx.random: uniform float32, n = 2^{n.bit_length() - 1}, on {machine()}")
    print(table(rows, ["generator", "ms", "ratio vs numpy", "GB/s out"]))
    print(f"umx / numpy on the CPU: {t_cpu / t_np:.2f}x (target: <= 2x)")


if __name__ == "__main__":
    main()
