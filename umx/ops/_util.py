"""Shared helpers for ops: shape rules, axis normalisation, argument checks."""

from __future__ import annotations

from functools import lru_cache

from .._array import array, as_array
from .._device import resolve_stream

__all__ = [
    "array",
    "as_array",
    "resolve_stream",
    "broadcast_shapes",
    "fmt_shape",
    "norm_axis",
    "norm_axes",
]


def fmt_shape(shape) -> str:
    """A shape as MLX prints it in errors: ``(2,3)``."""
    return "(" + ",".join(str(s) for s in shape) + ")"


@lru_cache(maxsize=4096)
def _broadcast2(a: tuple, b: tuple):
    if len(a) < len(b):
        a, b = b, a
    out = list(a)
    off = len(a) - len(b)
    for i, sb in enumerate(b):
        sa = a[off + i]
        if sa == sb or sb == 1:
            continue
        if sa == 1:
            out[off + i] = sb
        else:
            return None
    return tuple(out)


def broadcast_shapes(*shapes, op: str = "broadcast_shapes") -> tuple:
    """The shape that all ``shapes`` broadcast to, or ValueError naming ``op``."""
    out = tuple(shapes[0])
    for s in shapes[1:]:
        s = tuple(s)
        r = _broadcast2(out, s)
        if r is None:
            raise ValueError(
                f"[{op}] Shapes {fmt_shape(out)} and {fmt_shape(s)} cannot be broadcast."
            )
        out = r
    return out


def norm_axis(axis, ndim: int, op: str) -> int:
    """``axis`` in ``[0, ndim)``; negative axes count from the end."""
    if not isinstance(axis, int) or isinstance(axis, bool):
        try:
            axis = axis.__index__()
        except AttributeError:
            raise TypeError(f"[{op}] Axis must be an integer, got {type(axis).__name__}.") from None
    if not -ndim <= axis < ndim:
        raise ValueError(f"[{op}] Invalid axis {axis} for array with {ndim} dimensions.")
    return axis + ndim if axis < 0 else axis


def norm_axes(axis, ndim: int, op: str) -> tuple:
    """A sorted tuple of distinct axes (all axes for None)."""
    if axis is None:
        return tuple(range(ndim))
    if isinstance(axis, (list, tuple)):
        axes = tuple(norm_axis(a, ndim, op) for a in axis)
    else:
        axes = (norm_axis(axis, ndim, op),)
    if len(set(axes)) != len(axes):
        raise ValueError(f"[{op}] Received duplicate axes.")
    return tuple(sorted(axes))
