"""Selection and comparison: where, clip, isclose, allclose, array_equal."""

from __future__ import annotations

import numpy as np

from .. import _dtypes as dt
from .._array import array, as_array, constant, node
from .._device import resolve_stream
from .._primitive import Primitive
from .._rules import align_batched, move_to_front, unbroadcast, zero_jvp, zero_vjp
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

    def vjp(self, primals, cotangents, argnums, outputs):
        c, g = primals[0], cotangents[0]
        res = []
        for k in argnums:
            if k == 0:  # the condition gets no gradient
                res.append(None)
                continue
            z = mx.zeros_like(g)
            part = mx.where(c, g, z) if k == 1 else mx.where(c, z, g)
            res.append(unbroadcast(part, primals[k].shape))
        return res

    def jvp(self, primals, tangents, argnums):
        t = dict(zip(argnums, tangents))
        if 1 not in t and 2 not in t:
            return None  # only the condition moves: piecewise constant
        out_dt = primals[1].dtype
        tx = t.get(1, mx.zeros((), out_dt))
        ty = t.get(2, mx.zeros((), out_dt))
        r = mx.where(primals[0], tx, ty)
        shape = broadcast_shapes(primals[0].shape, primals[1].shape, primals[2].shape)
        return [r if r.shape == shape else mx.broadcast_to(r, shape)]

    def vmap(self, inputs, axes):
        c, x, y = align_batched(inputs, axes)
        return [mx.where(c, x, y)], [0]


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

    # As MLX's minimum(maximum(x, lo), hi): ``x`` passes where lo < x and the clipped
    # value is below hi; ``lo`` takes the rest of the lower branch (x <= lo), ``hi`` what
    # reaches it (ties go to the bounds).
    def _masks(self, primals, out):
        x = primals[0]
        lo = primals[1] if self.has_min else None
        hi = primals[-1] if self.has_max else None
        below_hi = mx.less(out, hi) if hi is not None else None
        masks = [None, None, None]  # for x, lo, hi
        if lo is not None:
            above = mx.greater(x, lo)
            masks[0] = above if below_hi is None else mx.logical_and(above, below_hi)
            under = mx.logical_not(above)
            masks[1] = under if below_hi is None else mx.logical_and(under, below_hi)
        else:
            masks[0] = below_hi
        if hi is not None:
            masks[2] = mx.logical_not(below_hi)
        return [m for m, present in zip(masks, (True, self.has_min, self.has_max)) if present]

    def vjp(self, primals, cotangents, argnums, outputs):
        g = cotangents[0]
        masks = self._masks(primals, outputs[0])
        z = mx.zeros_like(g)
        return [unbroadcast(mx.where(masks[k], g, z), primals[k].shape) for k in argnums]

    def jvp(self, primals, tangents, argnums):
        out = self._again(primals)
        masks = self._masks(primals, out)
        r = None
        for k, t in zip(argnums, tangents):
            term = mx.where(masks[k], t, mx.zeros((), t.dtype))
            r = term if r is None else r + term
        return [r if r.shape == out.shape else mx.broadcast_to(r, out.shape)]

    def _again(self, primals):
        """The op again on ``primals`` (already cast and with the bounds present)."""
        lo = primals[1] if self.has_min else None
        hi = primals[-1] if self.has_max else None
        return mx.clip(primals[0], lo, hi)

    def vmap(self, inputs, axes):
        return [self._again(align_batched(inputs, axes))], [0]


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

    vjp = zero_vjp
    jvp = zero_jvp

    def vmap(self, inputs, axes):
        x, y = align_batched(inputs, axes)
        return [mx.isclose(x, y, self.rtol, self.atol, equal_nan=self.equal_nan)], [0]


def isclose(
    a, b, /, rtol: float = 1e-05, atol: float = 1e-08, *, equal_nan: bool = False, stream=None
) -> array:
    """Elementwise ``|a - b| <= atol + rtol * |b|``; NaNs are equal if ``equal_nan``."""
    if not (isinstance(a, array) and isinstance(b, array)):  # MLX takes arrays only
        raise TypeError(
            f"isclose(): a and b must be arrays, got {type(a).__name__} and {type(b).__name__}."
        )
    s = resolve_stream(stream)
    a, b, shape, _ = _promote(a, b, "isclose", s)
    return node(IsClose(float(rtol), float(atol), bool(equal_nan)), (a, b), shape, dt.bool_, s)


def allclose(
    a, b, /, rtol: float = 1e-05, atol: float = 1e-08, *, equal_nan: bool = False, stream=None
) -> array:
    """Whether every element of ``a`` and ``b`` is close (see :func:`isclose`)."""
    if not (isinstance(a, array) and isinstance(b, array)):
        raise TypeError(
            f"allclose(): a and b must be arrays, got {type(a).__name__} and {type(b).__name__}."
        )
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

    vjp = zero_vjp
    jvp = zero_jvp

    def vmap(self, inputs, axes):
        size = next(x.shape[a] for x, a in zip(inputs, axes) if a is not None)
        x, y = (
            move_to_front(v, a) if a is not None else mx.broadcast_to(v, (size, *v.shape))
            for v, a in zip(inputs, axes)
        )
        eq = mx.equal(x, y)
        if self.equal_nan and x.dtype.kind in "fc":
            eq = mx.logical_or(eq, mx.logical_and(mx.isnan(x), mx.isnan(y)))
        return [mx.all(eq, axis=tuple(range(1, eq.ndim)))], [0]


_ARRAY_EQUAL = {False: ArrayEqual(False), True: ArrayEqual(True)}


def array_equal(a, b, /, equal_nan: bool = False, *, stream=None) -> array:
    """Whether ``a`` and ``b`` have the same shape and equal values (dtypes may differ)."""
    s = resolve_stream(stream)
    if isinstance(a, array) != isinstance(b, array) and type(a if isinstance(b, array) else b) in (
        bool, int, float, complex,
    ):  # fmt: skip
        # A Python scalar is converted as in binary ops (MLX: overflow is an error).
        a, b, _, _ = promote(a, b, "array_equal", s)
    if type(a) is not array:
        a = as_array(a, "array_equal")
    if type(b) is not array:
        b = as_array(b, "array_equal")
    if a._shape != b._shape:
        return constant(np.asarray(False), dt.bool_)
    a, b, _, _ = promote(a, b, "array_equal", s)
    return node(_ARRAY_EQUAL[bool(equal_nan)], (a, b), (), dt.bool_, s)


METHODS: dict = {}

# The transform rules above are written with the public ops of the package.
import umx as mx  # noqa: E402
