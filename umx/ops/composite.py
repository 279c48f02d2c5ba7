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
from .._rules import move_to_front
from .reduce import reduce_axes

__all__ = ["softmax", "diff"]

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
        if xp is not np:  # a GPU stream: one kernel over rows of the trailing axes
            from ..backends._cuda_softmax import softmax_trailing

            y = softmax_trailing(x, axes)
            if y is not None:
                return y.astype(out, copy=False)
        e = xp.exp(x - xp.max(x, axis=axes, keepdims=True))
        e /= xp.sum(e, axis=axes, keepdims=True)
        return e.astype(out, copy=False)

    # d softmax: y * (c - sum(c * y)) over the axes (the Jacobian is symmetric, so the
    # same form serves vjp and jvp).
    def _apply(self, y, c):
        return y * (c - mx.sum(c * y, axis=self.axes, keepdims=True))

    def vjp(self, primals, cotangents, argnums, outputs):
        return [self._apply(outputs[0], cotangents[0])]

    def jvp(self, primals, tangents, argnums):
        y = mx.softmax(primals[0], axis=self.axes, precise=self.precise)
        return [self._apply(y, tangents[0])]

    def vmap(self, inputs, axes):
        x = move_to_front(inputs[0], axes[0])
        ax = tuple(a + 1 for a in self.axes)
        return [mx.softmax(x, axis=ax, precise=self.precise)], [0]


def softmax(a, /, axis=None, *, precise: bool = False, stream=None) -> array:
    """Softmax over ``axis`` (None: all axes), computed stably (max subtracted)."""
    if type(a) is not array:
        a = as_array(a, "softmax")
    axes = reduce_axes(axis, len(a._shape), "softmax")
    return node(
        Softmax(axes, bool(precise)), (a,), a._shape, _FLOAT[a._dtype], resolve_stream(stream)
    )


METHODS: dict = {}

# The transform rules above are written with the public ops of the package.
import umx as mx  # noqa: E402


def diff(a, /, n: int = 1, axis: int = -1, *, stream=None) -> array:
    """The ``n``-th discrete difference along ``axis`` (``a[1:] - a[:-1]``, ``n`` times;
    for booleans, ``a[1:] != a[:-1]``)."""
    from .binary import not_equal, subtract

    a = as_array(a, "diff")
    if not isinstance(n, int) or n < 0:
        raise ValueError("[diff] Order `n` must be non-negative.")
    if not -a.ndim <= axis < max(a.ndim, 1) or a.ndim == 0:
        raise IndexError("[diff] Axis is out of bounds for the array.")
    axis %= a.ndim
    head = (slice(None),) * axis
    for _ in range(n):
        if a.shape[axis] == 0:
            break
        hi, lo = a[head + (slice(1, None),)], a[head + (slice(None, -1),)]
        a = (
            not_equal(hi, lo, stream=stream)
            if a.dtype is dt.bool_
            else subtract(hi, lo, stream=stream)
        )
    return a
