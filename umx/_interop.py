"""Arrays from other frameworks' buffers: ``mx.from_dlpack``."""

from __future__ import annotations

import numpy as np

from . import _dtypes as dt
from ._array import array, constant


def from_dlpack(x, /, *, copy: bool | None = None) -> array:
    """An array over the memory of a DLPack-compatible object (shared where possible).

    ``copy=True`` always copies, ``copy=False`` never does (float64 input, which becomes
    float32 as in MLX, then raises), ``None`` shares when it can.
    """
    if not hasattr(x, "__dlpack__") and type(x).__name__ != "PyCapsule":
        raise TypeError(
            f"[from_dlpack] Expected an object implementing __dlpack__, got {type(x).__name__}."
        )
    from .backends import _Capsule, gpu_backend

    dev = x.__dlpack_device__()[0] if hasattr(x, "__dlpack_device__") else 1
    be = gpu_backend()
    if dev != 1 and be is not None:  # a CUDA buffer: the GPU backend wraps it
        a = be.foreign_to_array(x)
        if a is not None:
            return array(a) if copy else a
    h = np.from_dlpack(x if hasattr(x, "__dlpack__") else _Capsule(x))
    d = dt.from_numpy(h.dtype)
    if d is dt.float64 or h.dtype == np.complex128:
        if copy is False:
            raise ValueError(
                f"[from_dlpack] Converting {h.dtype} to {dt.float32 if d is dt.float64 else d} needs a copy."
            )
        d = dt.float32 if d is dt.float64 else dt.complex64
        return constant(h.astype(d.np), d)
    return constant(h.copy() if copy else h, d)
