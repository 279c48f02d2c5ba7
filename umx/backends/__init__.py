"""Backend discovery: NumPy always; the CUDA backend where CuPy finds a GPU."""

from __future__ import annotations

import os

import numpy as np

_gpu = False  # not probed yet


def gpu_backend():
    """The CUDA backend module, or None where CuPy or a CUDA device is absent.

    ``UMX_DISABLE_GPU=1`` hides the GPU (CPU-only behaviour on a GPU machine).
    """
    global _gpu
    if _gpu is False:
        _gpu = None
        if os.environ.get("UMX_DISABLE_GPU", "") not in ("", "0"):
            return None
        try:
            from . import cuda

            if cuda.available():
                _gpu = cuda
        except ImportError:
            _gpu = None
    return _gpu


def to_host(data) -> np.ndarray:
    """A NumPy view of a backend buffer (GPU buffers live in memory the CPU can read)."""
    if isinstance(data, (np.ndarray, np.generic)):
        return data
    be = gpu_backend()
    if be is not None:
        return be.to_host(data)
    return np.asarray(data)


def foreign_to_array(x):
    """An umx array for objects of other frameworks (DLPack, CUDA array interface)."""
    be = gpu_backend()
    if be is not None:
        a = be.foreign_to_array(x)
        if a is not None:
            return a
    if hasattr(x, "__dlpack__"):
        from .._array import array

        try:
            return array(np.from_dlpack(x))
        except (TypeError, RuntimeError, BufferError):
            return None
    return None
