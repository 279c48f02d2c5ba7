"""Where the per-op time goes: cProfile of building and evaluating a chain of small ops.

Usage: python bench/profile_chain.py [cpu|gpu|seed]   (the stream the 500-exp chain runs
on; ``seed``: the seed example with the matmul on the GPU and the chain on the CPU)
"""

from __future__ import annotations

import cProfile
import pstats
import sys
import time

import _isolate  # noqa: F401 - first: keeps bench/random.py from shadowing `random`
import numpy as np

import umx as mx


def main() -> None:
    where = sys.argv[1] if len(sys.argv) > 1 else "cpu"
    dev = mx.gpu if where == "gpu" else mx.cpu  # seed: the chain on the CPU
    b = mx.array((np.random.default_rng(0).random((512, 4)) * 0.1).astype(np.float32))
    mx.eval(b)

    a = mx.array(np.random.default_rng(1).random((4096, 512), dtype=np.float32))
    if where == "seed":  # as the seed example: both made on the default device
        a, b = mx.random.uniform(shape=(4096, 512)), mx.random.uniform(shape=(512, 4))
        mx.eval(a, b)

    def build():
        x = b
        for _ in range(500):
            x = mx.exp(x, stream=dev)
        if where == "seed":
            return [mx.matmul(a, b, stream=mx.gpu), x]
        return x

    for _ in range(5):
        mx.eval(build())
    n = 100 if where == "seed" else 20
    t = time.perf_counter()
    xs = [build() for _ in range(n)]
    tb = time.perf_counter() - t
    t = time.perf_counter()
    for x in xs:
        mx.eval(x)
    te = time.perf_counter() - t
    bn = np.array(b)
    t = time.perf_counter()
    with np.errstate(all="ignore"):
        for _ in range(n):
            y = bn
            for _ in range(500):
                y = np.exp(y)
    tn = time.perf_counter() - t
    us = lambda s: s / n / 500 * 1e6  # noqa: E731
    print(
        f"{where}: build {us(tb):.2f} us/op, eval {us(te):.2f} us/op, NumPy eager {us(tn):.2f} us/op"
    )
    xs = [build() for _ in range(n)]
    prof = cProfile.Profile()
    prof.enable()
    for x in xs:
        mx.eval(x)
    prof.disable()
    pstats.Stats(prof).sort_stats("tottime").print_stats(25)


if __name__ == "__main__":
    main()
