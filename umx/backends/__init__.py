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
                from .. import _eval

                _eval.mixed_devices = True  # inputs from another device get prepared
        except ImportError:
            _gpu = None
    return _gpu


def host_of(a) -> np.ndarray:
    """The values of evaluated array ``a`` as a NumPy array the CPU can read (no copy
    where the memory allows; waits for the GPU op that produced it)."""
    data = a._data
    if isinstance(data, (np.ndarray, np.generic)):
        return data
    be = gpu_backend()
    if be is not None:
        return be.host_of(a)
    return np.asarray(data)


def cpu_input(a) -> np.ndarray:
    """The values of evaluated array ``a`` for a CPU op (like ``host_of``; small GPU buffers
    are copied once rather than read in place, see the CUDA backend)."""
    data = a._data
    if isinstance(data, (np.ndarray, np.generic)):
        return data
    be = gpu_backend()
    if be is not None:
        return be.cpu_input(a)
    return np.asarray(data)


def dlpack(a, **kw):
    """``a.__dlpack__``: the GPU buffer (kDLCUDAManaged) or the host buffer."""
    be = gpu_backend()
    if be is not None and be.dlpack_device(a)[0] != 1:
        return be.dlpack(a, **{k: v for k, v in kw.items() if v is not None})
    h = np.asarray(a._host())
    kw = {k: v for k, v in kw.items() if v is not None and k != "stream"}
    return h.__dlpack__(**kw)


def dlpack_device(a):
    be = gpu_backend()
    if a._data is None:
        a._host()
    if be is not None:
        return be.dlpack_device(a)
    return (1, 0)


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
    if type(x).__name__ == "PyCapsule":  # a bare DLPack capsule from the host
        x = _Capsule(x)
    if hasattr(x, "__dlpack__"):
        from .._array import array

        try:
            return array(np.from_dlpack(x))
        except (TypeError, RuntimeError, BufferError):
            return None
    return None


class _Capsule:
    """Lets NumPy import a bare DLPack capsule (it takes objects with ``__dlpack__``)."""

    def __init__(self, cap) -> None:
        self.cap = cap

    def __dlpack__(self, **kw):
        return self.cap

    def __dlpack_device__(self):
        return (1, 0)
