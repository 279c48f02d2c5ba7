"""Composite ops with their own fused primitive: softmax.

(logsumexp lives with the reductions in ``reduce.py`` and logcumsumexp with the scans in
``scan.py``.)
"""

from __future__ import annotations

import numpy as np

from .. import _dtypes as dt
from .._array import array, as_array, node
from .._device import resolve_stream
from .._primitive import Primitive
from .reduce import reduce_axes

__all__ = ["softmax"]

_FLOAT = {d: dt.float_of(d) for d in dt.ALL_DTYPES}
_HALF = (np.dtype(np.float16), dt.bfloat16.np)
_F32 = np.dtype(np.float32)


class Softmax(Primitive):
    """``exp(a - max) / sum(exp(a - max))`` over ``axes``, in one kernel.

    float16 / bfloat16 inputs are computed in float32 and rounded once at the end (what
    MLX's ``precise=True`` does; it is also at least as accurate for ``precise=False``).
    """

    __slots__ = ("axes", "precise")
    name = "softmax"

    def __init__(self, axes: tuple, precise: bool) -> None:
        self.axes = axes
        self.precise = precise

    def eval(self, xp, x):
        out = x.dtype
        if out.kind in "biu":
            out = _F32
        if x.size == 0:
            return x.astype(out)
        if out in _HALF or x.dtype != out:
            x = x.astype(_F32)
        axes = self.axes
        e = xp.exp(x - xp.max(x, axis=axes, keepdims=True))
        e /= xp.sum(e, axis=axes, keepdims=True)
        return e.astype(out, copy=False)


def softmax(a, /, axis=None, *, precise: bool = False, stream=None) -> array:
    """Softmax over ``axis`` (None: all axes), computed stably (max subtracted)."""
    if type(a) is not array:
        a = as_array(a, "softmax")
    axes = reduce_axes(axis, len(a._shape), "softmax")
    return node(
        Softmax(axes, bool(precise)), (a,), a._shape, _FLOAT[a._dtype], resolve_stream(stream)
    )


METHODS: dict = {}
