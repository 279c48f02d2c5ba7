"""The CUDA backend (CuPy). Not built yet: reports no GPU."""

from __future__ import annotations


def available() -> bool:
    return False
