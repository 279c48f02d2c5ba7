"""``mx.cuda``: whether the CUDA backend is present."""

from __future__ import annotations


def is_available() -> bool:
    """True where CuPy finds a CUDA device and umx's GPU backend is usable."""
    from .backends import gpu_backend

    return gpu_backend() is not None
