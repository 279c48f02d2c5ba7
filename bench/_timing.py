"""Timing helpers shared by the benchmarks: medians of repeated runs after a warm-up."""

from __future__ import annotations

import platform
import statistics
import time


def median_s(f, runs: int = 20, warmup: int = 2) -> float:
    """Median wall time of ``f()`` in seconds."""
    for _ in range(warmup):
        f()
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        f()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def timed_ms(cases, runs: int = 20, rounds: int = 3, warmup: int = 3) -> list:
    """(name, median ms) for each (name, f). Each case runs in short blocks (a warm-up, then
    ``runs // rounds`` timed runs), the blocks taken round-robin ``rounds`` times: a burst of
    noise on a shared machine hits every case alike, and the warm-up lets the thread pools
    of the case before (OpenBLAS, PyTorch, OpenMP) go quiet before timing starts."""
    ts = {name: [] for name, _ in cases}
    per_round = max(1, runs // rounds)
    for _ in range(rounds):
        for name, f in cases:
            for _ in range(warmup):
                f()
            for _ in range(per_round):
                t0 = time.perf_counter()
                f()
                ts[name].append(time.perf_counter() - t0)
    return [(name, statistics.median(ts[name]) * 1e3) for name, _ in cases]


def try_mlx():
    """mlx.core where it is installed (the CPU oracle), else None."""
    try:
        import mlx.core as mlx

        return mlx
    except ImportError:
        return None


def machine() -> str:
    import os

    return f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"


def table(rows, headers) -> str:
    widths = [max(len(str(r[i])) for r in [headers, *rows]) for i in range(len(headers))]

    def line(r) -> str:
        cells = zip(r, widths)
        return "  ".join(
            str(c).ljust(w) if i == 0 else str(c).rjust(w) for i, (c, w) in enumerate(cells)
        )

    return "\n".join([line(headers), line(["-" * w for w in widths])] + [line(r) for r in rows])
