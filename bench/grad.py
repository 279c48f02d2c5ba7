"""value_and_grad of an MLP training step against its forward pass, next to MLX on the CPU.

Target: the gradient step costs <= 3x the forward pass.
"""

from __future__ import annotations

import _isolate  # noqa: F401 - first: keeps bench/random.py from shadowing `random`
import numpy as np

import umx as mx
from bench._timing import machine, median_s, table, try_mlx

mlx = try_mlx()


def make_problem(lib, rng, batch=256, sizes=(784, 512, 256, 10)):
    params = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        w = (rng.standard_normal((fan_in, fan_out)) / np.sqrt(fan_in)).astype(np.float32)
        params += [lib.array(w), lib.array(np.zeros(fan_out, np.float32))]
    x = lib.array(rng.standard_normal((batch, sizes[0])).astype(np.float32))
    labels = rng.integers(0, sizes[-1], batch)
    onehot = lib.array(np.eye(sizes[-1], dtype=np.float32)[labels])
    return params, x, onehot


def loss_fn(lib, params, x, onehot):
    h = x
    for i in range(0, len(params) - 2, 2):
        h = lib.maximum(lib.matmul(h, params[i]) + params[i + 1], 0.0)
    logits = lib.matmul(h, params[-2]) + params[-1]
    return lib.mean(lib.logsumexp(logits, axis=-1) - lib.sum(logits * onehot, axis=-1))


def measure(lib):
    rng = np.random.default_rng(0)
    params, x, onehot = make_problem(lib, rng)
    forward = lambda: lib.eval(loss_fn(lib, params, x, onehot))  # noqa: E731
    vg = lib.value_and_grad(lambda p: loss_fn(lib, p, x, onehot))

    def step():
        value, grads = vg(params)
        lib.eval(value, grads)

    return median_s(forward, runs=20), median_s(step, runs=20)


def main() -> None:
    rows = []
    f, g = measure(mx)
    rows.append(["umx cpu", f"{f * 1e3:.2f}", f"{g * 1e3:.2f}", f"{g / f:.2f}x"])
    if mlx is not None:
        f2, g2 = measure(mlx)
        rows.append(["MLX cpu", f"{f2 * 1e3:.2f}", f"{g2 * 1e3:.2f}", f"{g2 / f2:.2f}x"])
        rows.append(["umx / MLX", f"{f / f2:.2f}x", f"{g / g2:.2f}x", ""])
    print(f"umx grad benchmark - {machine()}; MLP 784-512-256-10, batch 256, float32")
    print(table(rows, ["", "forward ms", "value_and_grad ms", "grad/forward"]))


if __name__ == "__main__":
    main()
