"""Scans: cumsum, cumprod, cummax, cummin, logcumsumexp (axis None scans the flattened
array; ``reverse`` scans from the end; ``inclusive=False`` shifts in the identity)."""

from __future__ import annotations

import operator

import numpy as np

from .. import _dtypes as dt
from .._array import array, as_array, node
from .._device import resolve_stream
from .._primitive import Primitive
from .._rules import move_to_front
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
    name = "scan"
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

    # -- transform helpers (written with umx ops: see the end of the module) --
    def _flat(self, a, like=None):
        """(``a`` as the scan sees it, the scan axis, the map back to ``like``'s shape)."""
        like = a if like is None else like
        if self.axis is None:
            shape = like.shape
            return mx.reshape(a, (-1,)), 0, lambda g: mx.reshape(g, shape)
        return a, self.axis, lambda g: g

    # Every concrete scan declares its own derivative rules (the base is abstract).
    def vjp(self, primals, cotangents, argnums, outputs):
        raise NotImplementedError(f"[{self.name}] declares no vjp rule.")

    def jvp(self, primals, tangents, argnums):
        raise NotImplementedError(f"[{self.name}] declares no jvp rule.")

    def _adjoint_sum(self, c, ax):
        """The transpose of a cumulative sum: the sum in the other direction."""
        return mx.cumsum(c, ax, reverse=not self.reverse, inclusive=self.inclusive)

    def vmap(self, inputs, axes):
        x = move_to_front(inputs[0], axes[0])
        if self.axis is None:
            x, ax = mx.reshape(x, (x.shape[0], -1)), 1
        else:
            ax = self.axis + 1
        op = getattr(mx, self.name)
        return [op(x, ax, reverse=self.reverse, inclusive=self.inclusive)], [0]


class CumSum(Scan):
    __slots__ = ()
    name = "cumsum"
    op = "sum"

    def vjp(self, primals, cotangents, argnums, outputs):
        c, ax, back = self._flat(cotangents[0], primals[0])
        return [back(self._adjoint_sum(c, ax))]

    def jvp(self, primals, tangents, argnums):
        t, ax, _ = self._flat(tangents[0])
        return [mx.cumsum(t, ax, reverse=self.reverse, inclusive=self.inclusive)]


class CumProd(Scan):
    """Gradients exact with zeros: before the first zero (in scan order) the usual
    ``sum / x``; at the first zero the products with that zero left out; after it zero."""

    __slots__ = ()
    name = "cumprod"
    op = "prod"

    def _zeros(self, x, ax):
        """(no zero up to and including here, first zero, x with its first zero set to 1)."""
        z = mx.equal(x, 0)
        cnt = mx.cumsum(z.astype(mx.int32), ax, reverse=self.reverse)
        first = mx.logical_and(z, mx.equal(cnt, 1))
        return mx.equal(cnt, 0), first, mx.where(first, 1, x)

    def vjp(self, primals, cotangents, argnums, outputs):
        x, ax, back = self._flat(primals[0])
        c = self._flat(cotangents[0])[0]
        y = self._flat(outputs[0])[0]
        before, first, x1 = self._zeros(x, ax)
        y1 = mx.cumprod(x1, ax, reverse=self.reverse, inclusive=self.inclusive)
        g_before = self._adjoint_sum(c * y, ax) / mx.where(before, x, 1)
        g_first = self._adjoint_sum(c * y1, ax)
        return [back(mx.where(before, g_before, mx.where(first, g_first, 0)))]

    def jvp(self, primals, tangents, argnums):
        x, ax, _ = self._flat(primals[0])
        t = self._flat(tangents[0])[0]
        r, inc = self.reverse, self.inclusive
        _, first, x1 = self._zeros(x, ax)
        none_yet = mx.equal(
            mx.cumsum(mx.equal(x, 0).astype(mx.int32), ax, reverse=r, inclusive=inc), 0
        )
        y = mx.cumprod(x, ax, reverse=r, inclusive=inc)
        d_before = y * mx.cumsum(t / mx.where(mx.equal(x, 0), 1, x), ax, reverse=r, inclusive=inc)
        d_after = mx.cumsum(mx.where(first, t, 0), ax, reverse=r, inclusive=inc) * mx.cumprod(
            x1, ax, reverse=r, inclusive=inc
        )
        return [mx.where(none_yet, d_before, d_after)]


class _CumExtreme(Scan):
    """cummax / cummin: each output comes from the latest element (in scan order) that
    reached it, ties included, which is where MLX sends the cotangent."""

    __slots__ = ()

    def _records(self, x, ax, y_incl):
        return mx.equal(x, y_incl)

    def _nearest(self, mask, ax, look_back: bool, inclusive: bool):
        """Index of the nearest masked position behind (or ahead of) each position, and
        whether there is one."""
        n = mask.shape[ax]
        iota = mx.reshape(mx.arange(n, dtype=mx.int32), (n,) + (1,) * (mask.ndim - ax - 1))
        if look_back:
            s = mx.cummax(mx.where(mask, iota, -1), ax, inclusive=inclusive)
            ok = mx.greater_equal(s, 0)
        else:
            s = mx.cummin(mx.where(mask, iota, n), ax, reverse=True, inclusive=inclusive)
            ok = mx.less(s, n)
        return mx.clip(s, 0, n - 1), ok

    def _inclusive(self, x, ax):
        return getattr(mx, self.name)(x, ax, reverse=self.reverse)

    def vjp(self, primals, cotangents, argnums, outputs):
        x, ax, back = self._flat(primals[0])
        c = self._flat(cotangents[0])[0]
        y = self._flat(outputs[0])[0] if self.inclusive else self._inclusive(x, ax)
        mask = self._records(x, ax, y)
        # A record collects the cotangents up to the next record: a difference of sums.
        s = self._adjoint_sum(c, ax)
        nxt, ok = self._nearest(mask, ax, self.reverse, False)
        after = mx.where(ok, mx.take_along_axis(s, nxt, axis=ax), 0)
        return [back(mx.where(mask, s - after, 0))]

    def jvp(self, primals, tangents, argnums):
        x, ax, _ = self._flat(primals[0])
        t = self._flat(tangents[0])[0]
        mask = self._records(x, ax, self._inclusive(x, ax))
        src, ok = self._nearest(mask, ax, not self.reverse, self.inclusive)
        return [mx.where(ok, mx.take_along_axis(t, src, axis=ax), 0)]


class CumMax(_CumExtreme):
    __slots__ = ()
    name = "cummax"
    op = "max"


class CumMin(_CumExtreme):
    __slots__ = ()
    name = "cummin"
    op = "min"


class LogCumSumExp(Scan):
    __slots__ = ()
    name = "logcumsumexp"
    op = "logaddexp"

    @staticmethod
    def _signed_logs(c, shift):
        """``log|c| + shift`` split by the sign of ``c`` (-inf elsewhere), so that signed
        sums stay in log space. No NaN appears for ``c == 0`` (not even in derivatives),
        where a NaN would hide the other terms of a shared input's cotangent."""
        la = mx.log(mx.where(mx.not_equal(c, 0), mx.abs(c), 1)) + shift
        ninf = float("-inf")
        return mx.where(mx.greater(c, 0), la, ninf), mx.where(mx.less(c, 0), la, ninf)

    def vjp(self, primals, cotangents, argnums, outputs):
        # MLX's (TensorFlow's) formula, stable in log space.
        x, ax, back = self._flat(primals[0])
        c = self._flat(cotangents[0])[0]
        y = self._flat(outputs[0])[0]
        r, inc = not self.reverse, self.inclusive
        pos, neg = self._signed_logs(c, -y)
        gp = mx.exp(mx.logcumsumexp(pos, ax, reverse=r, inclusive=inc) + x)
        gn = mx.exp(mx.logcumsumexp(neg, ax, reverse=r, inclusive=inc) + x)
        return [back(gp - gn)]

    def jvp(self, primals, tangents, argnums):
        x, ax, _ = self._flat(primals[0])
        t = self._flat(tangents[0])[0]
        r, inc = self.reverse, self.inclusive
        y = mx.logcumsumexp(x, ax, reverse=r, inclusive=inc)
        empty = mx.equal(y, float("-inf"))  # exclusive scans start with an empty sum
        y = mx.where(empty, 0, y)
        pos, neg = self._signed_logs(t, x)
        dp = mx.exp(mx.logcumsumexp(pos, ax, reverse=r, inclusive=inc) - y)
        dn = mx.exp(mx.logcumsumexp(neg, ax, reverse=r, inclusive=inc) - y)
        return [mx.where(empty, 0, dp - dn)]


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

# The transform rules above are written with the public ops of the package.
import umx as mx  # noqa: E402
