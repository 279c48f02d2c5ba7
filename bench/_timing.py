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
