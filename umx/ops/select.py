"""Selection and comparison: where, clip, isclose, allclose, array_equal."""

from __future__ import annotations

import numpy as np

from .. import _dtypes as dt
from .._array import array, as_array, constant, node
from .._device import resolve_stream
from .._primitive import Primitive
from ._util import broadcast_shapes
from .binary import _SCALAR_CACHE, _WEAK, _weak_scalar, promote
from .reduce import all as _all
from .unary import cast

__all__ = ["where", "clip", "isclose", "allclose", "array_equal"]

_SCALARS = (int, float, bool, complex, np.number, np.bool_)
_PROMOTE = dt._PROMOTE


def _promote(a, b, op, stream):
    try:
        return promote(a, b, op, stream)
    except ValueError as exc:
        msg = str(exc)
        if msg.startswith("["):
            raise
        raise ValueError(f"[{op}] {msg}") from None


class Where(Primitive):
    """``x`` where ``condition`` is nonzero, else ``y`` (broadcast together)."""

    __slots__ = ()
    name = "where"

    def eval(self, xp, c, x, y):
        return xp.where(c, x, y)


_WHERE = Where()


def where(condition, x, y, /, *, stream=None) -> array:
    """Elementwise ``x if condition else y``; ``x`` and ``y`` promote as in MLX (Python
    scalars are weak) and all three broadcast."""
    s = resolve_stream(stream)
    if type(condition) is not array:
        condition = as_array(condition, "where")
    x, y, shape, _ = _promote(x, y, "where", s)
    cs = condition._shape
    if cs != shape and cs:
        shape = broadcast_shapes(cs, shape, op="where")
    return node(_WHERE, (condition, x, y), shape, x._dtype, s)


class Clip(Primitive):
    """``minimum(maximum(a, lo), hi)`` with either bound optional."""

    __slots__ = ("has_min", "has_max")
    name = "clip"

    def __init__(self, has_min: bool, has_max: bool) -> None:
        self.has_min = has_min
        self.has_max = has_max

    def eval(self, xp, x, *bounds):
        i = 0
        if self.has_min:
            x = xp.maximum(x, bounds[0])
            i = 1
        if self.has_max:
            x = xp.minimum(x, bounds[i])
        return x


_CLIPS = {(lo, hi): Clip(lo, hi) for lo in (False, True) for hi in (False, True)}


_BOUNDS: dict = {}  # clip bounds made from Python scalars, by (type, value, dtype)


def _bound(a: array, v, op: str) -> array:
    """A bound as an array; Python scalars take their dtype relative to ``a`` (weak)."""
    if type(v) is array:
        return v
    d = _WEAK.get((a._dtype, type(v)))
    if d is not None:  # an exact Python scalar: cached constant when there is one
        key = (type(v), v, d)
        c = _SCALAR_CACHE.get(key) or _BOUNDS.get(key)
        if c is not None:
            return c
        try:
            c = _weak_scalar(v, d, a._dtype)
        except ValueError as exc:
            raise ValueError(f"[{op}] {exc}") from None
        if v == v and (v != 0 or type(v) is not float):  # not NaN; 0.0 == -0.0
            if len(_BOUNDS) > 256:
                _BOUNDS.clear()
            _BOUNDS[key] = c
        return c
    if isinstance(v, _SCALARS):
        try:
            return _weak_scalar(v, d or dt.weak_result(a._dtype, v), a._dtype)
        except ValueError as exc:
            raise ValueError(f"[{op}] {exc}") from None
    return as_array(v, op)


def clip(a, /, a_min, a_max, *, stream=None) -> array:
    """``a`` limited to ``[a_min, a_max]``; at most one bound may be None."""
    s = resolve_stream(stream)
    if type(a) is not array:
        a = as_array(a, "clip")
    d = a._dtype
    shape = a._shape
    ins = [a]
    for v in (a_min, a_max):
        if v is not None:
            v = _bound(a, v, "clip")
            d = _PROMOTE[(d, v._dtype)]
            vs = v._shape
            if vs != shape and vs:
                shape = broadcast_shapes(shape, vs, op="clip")
            ins.append(v)
    if len(ins) == 1:
        raise ValueError("[clip] At most one of a_min and a_max may be None.")
    for i, x in enumerate(ins):
        if x._dtype is not d:
            ins[i] = cast(x, d, s)
    return node(_CLIPS[(a_min is not None, a_max is not None)], tuple(ins), shape, d, s)


class IsClose(Primitive):
    """``|a - b| <= atol + rtol * |b|``, with infinities equal only to themselves."""

    __slots__ = ("rtol", "atol", "equal_nan")
    name = "isclose"

    def __init__(self, rtol: float, atol: float, equal_nan: bool) -> None:
        self.rtol = rtol
        self.atol = atol
        self.equal_nan = equal_nan

    def eval(self, xp, x, y):
        k = x.dtype.kind
        if k in "biu":
            x = x.astype(np.float64)
            y = y.astype(np.float64)
        elif x.dtype.itemsize == 2:  # float16 / bfloat16: tolerances in float32
            x = x.astype(np.float32)
            y = y.astype(np.float32)
        out = xp.abs(x - y) <= self.atol + self.rtol * xp.abs(y)
        if k in "fcV":
            inf_x = xp.isinf(x)
            out &= ~(inf_x | xp.isinf(y))
            out |= inf_x & (x == y)
            if self.equal_nan:
                out |= xp.isnan(x) & xp.isnan(y)
        return out


def isclose(
    a, b, /, rtol: float = 1e-05, atol: float = 1e-08, *, equal_nan: bool = False, stream=None
) -> array:
    """Elementwise ``|a - b| <= atol + rtol * |b|``; NaNs are equal if ``equal_nan``."""
    s = resolve_stream(stream)
    a, b, shape, _ = _promote(a, b, "isclose", s)
    return node(IsClose(float(rtol), float(atol), bool(equal_nan)), (a, b), shape, dt.bool_, s)


def allclose(
    a, b, /, rtol: float = 1e-05, atol: float = 1e-08, *, equal_nan: bool = False, stream=None
) -> array:
    """Whether every element of ``a`` and ``b`` is close (see :func:`isclose`)."""
    return _all(isclose(a, b, rtol, atol, equal_nan=equal_nan, stream=stream), stream=stream)


class ArrayEqual(Primitive):
    """Whether two same-shape arrays hold equal values (one bool)."""

    __slots__ = ("equal_nan",)
    name = "array_equal"

    def __init__(self, equal_nan: bool) -> None:
        self.equal_nan = equal_nan

    def eval(self, xp, x, y):
        eq = x == y
        if self.equal_nan and x.dtype.kind in "fcV":
            eq |= xp.isnan(x) & xp.isnan(y)
        return xp.all(eq)


_ARRAY_EQUAL = {False: ArrayEqual(False), True: ArrayEqual(True)}


def array_equal(a, b, /, equal_nan: bool = False, *, stream=None) -> array:
    """Whether ``a`` and ``b`` have the same shape and equal values (dtypes may differ)."""
    s = resolve_stream(stream)
    if type(a) is not array:
        a = as_array(a, "array_equal")
    if type(b) is not array:
        b = as_array(b, "array_equal")
    if a._shape != b._shape:
        return constant(np.asarray(False), dt.bool_)
    a, b, _, _ = promote(a, b, "array_equal", s)
    return node(_ARRAY_EQUAL[bool(equal_nan)], (a, b), (), dt.bool_, s)


METHODS: dict = {}
