"""Scans: cumsum, cumprod, cummax, cummin, logcumsumexp (axis None scans the flattened
array; ``reverse`` scans from the end; ``inclusive=False`` shifts in the identity)."""

from __future__ import annotations

import operator

import numpy as np

from .. import _dtypes as dt
from .._array import array, as_array, node
from .._device import resolve_stream
from .._primitive import Primitive
from .unary import cast

__all__ = [
    "cumsum", "cumprod", "cummax", "cummin", "logcumsumexp", "cumulative_sum", "cumulative_prod",
]  # fmt: skip

_ALL = dt.ALL_DTYPES
_SAME = {d: d for d in _ALL}
_CUMSUM = {**_SAME, dt.bool_: dt.int32}
_FLOAT = {d: dt.float_of(d) for d in _ALL}
_HALF = (np.dtype(np.float16), dt.bfloat16.np)
_F32 = np.dtype(np.float32)


def _at(axis: int, i) -> tuple:
    return (slice(None),) * axis + (i,)


def _flip(x, axis: int):
    return x[_at(axis, slice(None, None, -1))]


def _hillis_steele(xp, x, axis: int, f):
    """Inclusive scan by doubling strides: log2(n) vectorised steps of ``f``."""
    r = x.copy()
    n = r.shape[axis]
    k = 1
    while k < n:
        hi = _at(axis, slice(k, None))
        r[hi] = f(r[hi], r[_at(axis, slice(None, n - k))])
        k *= 2
    return r


def _accumulate(xp, ufunc_name: str, x, axis: int):
    uf = getattr(xp, ufunc_name)
    acc = getattr(uf, "accumulate", None)
    if acc is not None:
        try:
            return acc(x, axis=axis)
        except (NotImplementedError, TypeError):  # backends without accumulate for it
            pass
    return _hillis_steele(xp, x, axis, uf)


def _complex_logaddexp(xp):
    def f(a, b):
        hi = xp.maximum(a, b)  # lexicographic, as MLX orders complex numbers
        r = hi + xp.log1p(xp.exp(xp.minimum(a, b) - hi))
        return xp.where(xp.isfinite(hi), r, hi)

    return f


def _identity(op: str, npd):
    if op == "sum":
        return 0
    if op == "prod":
        return 1
    if op == "logaddexp":
        return -np.inf
    lowest = op == "max"
    if npd.kind == "b":
        return not lowest
    if npd.kind in "iu":
        info = np.iinfo(npd)
        return info.min if lowest else info.max
    inf = -np.inf if lowest else np.inf
    return complex(inf, inf) if npd.kind == "c" else inf


class Scan(Primitive):
    """An inclusive or exclusive scan along ``axis`` (None: the flattened array)."""

    __slots__ = ("axis", "reverse", "inclusive")
    op = ""  # the combining operation: sum, prod, max, min or logaddexp

    def __init__(self, axis, reverse: bool, inclusive: bool) -> None:
        self.axis = axis
        self.reverse = reverse
        self.inclusive = inclusive

    def eval(self, xp, x):
        op = self.op
        axis = self.axis
        if axis is None:
            x = x.reshape(-1)
            axis = 0
        out = x.dtype
        if op == "sum" and out.kind == "b":
            out = np.dtype(np.int32)
        elif op == "logaddexp" and out.kind in "biu":
            out = _F32
        if x.size == 0:
            return x.astype(out)
        if out in _HALF and op != "max" and op != "min":
            x = x.astype(_F32)  # half-precision sums/products accumulate in float32
        if self.reverse:
            x = _flip(x, axis)
        if op == "sum":
            r = xp.cumsum(x, axis=axis, dtype=out if out not in _HALF else _F32)
        elif op == "prod":
            r = xp.cumprod(x, axis=axis, dtype=x.dtype)
        elif op == "max":
            r = _accumulate(xp, "maximum", x, axis)
        elif op == "min":
            r = _accumulate(xp, "minimum", x, axis)
        else:
            if x.dtype != out and x.dtype != _F32:
                x = x.astype(out)
            if x.dtype.kind == "c":
                r = _hillis_steele(xp, x, axis, _complex_logaddexp(xp))
            else:
                r = _accumulate(xp, "logaddexp", x, axis)
        if not self.inclusive:
            e = xp.empty(r.shape, r.dtype)
            e[_at(axis, 0)] = _identity(op, r.dtype)
            e[_at(axis, slice(1, None))] = r[_at(axis, slice(None, -1))]
            r = e
        if self.reverse:
            r = _flip(r, axis)
        return r.astype(out, copy=False)


def _declare(cls_name: str, name: str, op: str):
    return type(cls_name, (Scan,), {"__slots__": (), "name": name, "op": op})


CumSum = _declare("CumSum", "cumsum", "sum")
CumProd = _declare("CumProd", "cumprod", "prod")
CumMax = _declare("CumMax", "cummax", "max")
CumMin = _declare("CumMin", "cummin", "min")
LogCumSumExp = _declare("LogCumSumExp", "logcumsumexp", "logaddexp")


def _scan_axis(axis, ndim: int, name: str):
    if axis is None:
        return None
    if type(axis) is not int:
        try:
            axis = operator.index(axis)
        except TypeError:
            raise TypeError(
                f"[{name}] axis must be an int or None, got {type(axis).__name__}."
            ) from None
    if -ndim <= axis < ndim:
        return axis + ndim if axis < 0 else axis
    raise IndexError(f"[{name}] Axis {axis} is out of bounds for array with {ndim} dimensions.")


def _scan(cls, rule: dict, a, axis, reverse, inclusive, stream) -> array:
    ax = _scan_axis(axis, len(a._shape), cls.name)
    shape = (a.size,) if ax is None else a._shape
    prim = cls(ax, bool(reverse), bool(inclusive))
    return node(prim, (a,), shape, rule[a._dtype], stream)


def cumsum(
    a, /, axis=None, *, reverse: bool = False, inclusive: bool = True, dtype=None, stream=None
) -> array:
    """Cumulative sum along ``axis``; ``dtype`` casts the input first."""
    if type(a) is not array:
        a = as_array(a, "cumsum")
    s = resolve_stream(stream)
    if dtype is not None:
        a = cast(a, dt.to_dtype(dtype, "cumsum"), s)
    return _scan(CumSum, _CUMSUM, a, axis, reverse, inclusive, s)


def cumprod(
    a, /, axis=None, *, reverse: bool = False, inclusive: bool = True, dtype=None, stream=None
) -> array:
    """Cumulative product along ``axis``; ``dtype`` casts the input first."""
    if type(a) is not array:
        a = as_array(a, "cumprod")
    s = resolve_stream(stream)
    if dtype is not None:
        a = cast(a, dt.to_dtype(dtype, "cumprod"), s)
    return _scan(CumProd, _SAME, a, axis, reverse, inclusive, s)


def cummax(a, /, axis=None, *, reverse: bool = False, inclusive: bool = True, stream=None) -> array:
    """Cumulative maximum along ``axis`` (NaN propagates)."""
    if type(a) is not array:
        a = as_array(a, "cummax")
    return _scan(CumMax, _SAME, a, axis, reverse, inclusive, resolve_stream(stream))


def cummin(a, /, axis=None, *, reverse: bool = False, inclusive: bool = True, stream=None) -> array:
    """Cumulative minimum along ``axis`` (NaN propagates)."""
    if type(a) is not array:
        a = as_array(a, "cummin")
    return _scan(CumMin, _SAME, a, axis, reverse, inclusive, resolve_stream(stream))


def logcumsumexp(
    a, /, axis=None, *, reverse: bool = False, inclusive: bool = True, stream=None
) -> array:
    """Cumulative ``log(sum(exp(a)))`` along ``axis``, without overflow."""
    if type(a) is not array:
        a = as_array(a, "logcumsumexp")
    return _scan(LogCumSumExp, _FLOAT, a, axis, reverse, inclusive, resolve_stream(stream))


cumulative_sum = cumsum
cumulative_prod = cumprod

METHODS = {
    "cumsum": cumsum, "cumprod": cumprod, "cummax": cummax, "cummin": cummin,
    "logcumsumexp": logcumsumexp,
}  # fmt: skip
