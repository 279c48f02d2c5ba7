"""Reductions: sum, prod, mean, var, std, max, min, all, any, argmax, argmin, logsumexp,
count_nonzero, median, minmax.

Every reduction is one primitive whose static parameters are the (sorted, non-negative)
reduced axes and ``keepdims``. Small integer sums accumulate in 32 bits and float16 /
bfloat16 reductions accumulate in float32, then cast back, as MLX does.
"""

from __future__ import annotations

import operator
from functools import lru_cache

import numpy as np

from .. import _dtypes as dt
from .._array import array, as_array, node
from .._device import resolve_stream
from .._primitive import Primitive, multi_node
from .._rules import move_to_front, zero_jvp, zero_vjp

__all__ = [
    "sum", "prod", "mean", "var", "std", "max", "min", "all", "any", "argmax", "argmin",
    "logsumexp", "count_nonzero", "median", "minmax",
]  # fmt: skip

_ALL = dt.ALL_DTYPES
_F32 = np.dtype(np.float32)
_F64 = np.dtype(np.float64)
_HALF = (np.dtype(np.float16), dt.bfloat16.np)

# -- dtype rules (measured from mlx 0.32.4) ---------------------------------------------
_SUM_RULE = {
    **{d: d for d in _ALL},
    dt.bool_: dt.int32, dt.int8: dt.int32, dt.int16: dt.int32,
    dt.uint8: dt.uint32, dt.uint16: dt.uint32,
}  # fmt: skip
_SAME = {d: d for d in _ALL}
_BOOL = {d: dt.bool_ for d in _ALL}
_FLOAT = {d: dt.float_of(d) for d in _ALL}
_VAR = {**_FLOAT, dt.complex64: dt.float32}
_UINT32 = {d: dt.uint32 for d in _ALL}
_INT32 = {d: dt.int32 for d in _ALL}

# NumPy dtype of the input -> (accumulation dtype, output dtype) for sum / prod.
_SUM_NP = {
    d.np: (np.dtype(np.float32) if d.np in _HALF else _SUM_RULE[d].np, _SUM_RULE[d].np)
    for d in _ALL
}


def _float_acc(npd):
    """The dtype a float-valued reduction (mean, var, logsumexp...) computes in."""
    if npd in _HALF:
        return _F32
    if npd.kind in "biu":
        return _F64
    return npd


def _float_out(npd):
    return npd if npd.kind in "fcV" or npd in _HALF else _F32


# -- axes and shapes ------------------------------------------------------------------
_ALL_AXES = [tuple(range(n)) for n in range(33)]


def _one_axis(ax, ndim: int, op: str) -> int:
    if type(ax) is not int:
        try:
            ax = operator.index(ax)
        except TypeError:
            raise TypeError(
                f"[{op}] Expected an int or a sequence of ints for axis, got {type(ax).__name__}."
            ) from None
    if -ndim <= ax < ndim:
        return ax + ndim if ax < 0 else ax
    raise IndexError(f"[{op}] Invalid axis {ax} for array with {ndim} dimensions.")


def reduce_axes(axis, ndim: int, op: str) -> tuple:
    """Sorted distinct non-negative axes for a reduction (all of them for None). An axis
    out of range is an IndexError and a repeated one a ValueError, as in MLX."""
    if axis is None:
        return _ALL_AXES[ndim] if ndim < 33 else tuple(range(ndim))
    if isinstance(axis, (list, tuple)):
        axes = [_one_axis(ax, ndim, op) for ax in axis]
        if len(set(axes)) != len(axes):
            raise ValueError(f"[{op}] Duplicate axes detected in reduction.")
        return tuple(sorted(axes))
    return (_one_axis(axis, ndim, op),)


@lru_cache(maxsize=4096)
def reduced_shape(shape: tuple, axes: tuple, keepdims: bool) -> tuple:
    """``shape`` with ``axes`` removed (or kept as 1 when ``keepdims``)."""
    if keepdims:
        return tuple(1 if i in axes else s for i, s in enumerate(shape))
    return tuple(s for i, s in enumerate(shape) if i not in axes)


def _count(shape, axes) -> int:
    n = 1
    for ax in axes:
        n *= shape[ax]
    return n


def _inverse(perm) -> tuple:
    inv = [0] * len(perm)
    for i, p in enumerate(perm):
        inv[p] = i
    return tuple(inv)


def _no_empty_axis(a: array, axes: tuple, op: str) -> None:
    for ax in axes:
        if a._shape[ax] == 0:
            raise ValueError(f"[{op}] Cannot {op} reduce over axis {ax} with size 0.")


# -- primitives -----------------------------------------------------------------------
class Reduce(Primitive):
    """A reduction over ``axes`` (sorted, non-negative), optionally keeping them."""

    __slots__ = ("axes", "keepdims")

    def __init__(self, axes: tuple, keepdims: bool) -> None:
        self.axes = axes
        self.keepdims = keepdims

    # -- transform helpers (rules are written with umx ops: see the end of the module) --
    def _keep(self, c):
        """``c`` (shaped like the output) with the reduced axes kept as size 1."""
        if self.keepdims or not self.axes:
            return c
        return mx.expand_dims(c, self.axes)

    def _bcast(self, c, shape):
        """The output-shaped ``c`` broadcast back over the reduced axes."""
        return mx.broadcast_to(self._keep(c), shape)

    def _rerun(self, x, axes, keepdims):
        return getattr(mx, self.name)(x, axis=axes, keepdims=keepdims)

    def vmap(self, inputs, axes):
        x = move_to_front(inputs[0], axes[0])
        out = self._rerun(x, tuple(a + 1 for a in self.axes), self.keepdims)
        if isinstance(out, (list, tuple)):
            return list(out), [0] * len(out)
        return [out], [0]


class Sum(Reduce):
    __slots__ = ()
    name = "sum"

    def eval(self, xp, x):
        if not self.axes:  # nothing reduced: MLX keeps the dtype (see _reduction)
            return x.copy()
        acc, out = _SUM_NP[x.dtype]
        r = xp.sum(x, axis=self.axes, dtype=acc, keepdims=self.keepdims)
        return r if acc is out else r.astype(out)

    def vjp(self, primals, cotangents, argnums, outputs):
        return [self._bcast(cotangents[0], primals[0].shape)]

    def jvp(self, primals, tangents, argnums):
        return [mx.sum(tangents[0], axis=self.axes, keepdims=self.keepdims)]


class Prod(Reduce):
    __slots__ = ()
    name = "prod"

    def eval(self, xp, x):
        if not self.axes:  # nothing reduced: MLX keeps the dtype (see _reduction)
            return x.copy()
        acc, out = _SUM_NP[x.dtype]
        r = xp.prod(x, axis=self.axes, dtype=acc, keepdims=self.keepdims)
        return r if acc is out else r.astype(out)

    def _others(self, x):
        """For each element, the product of the other elements of its reduction (two
        exclusive cumulative products: exact with zeros, as MLX)."""
        axes = self.axes
        if not axes:
            return mx.ones_like(x)
        if len(axes) == 1:
            a = axes[0]
            return mx.cumprod(x, a, inclusive=False) * mx.cumprod(
                x, a, reverse=True, inclusive=False
            )
        keep = [i for i in range(x.ndim) if i not in axes]
        perm = (*keep, *axes)
        xt = mx.transpose(x, perm)
        lead = xt.shape[: len(keep)]
        xf = mx.reshape(xt, (*lead, _count(x.shape, axes)))
        e = mx.cumprod(xf, -1, inclusive=False) * mx.cumprod(xf, -1, reverse=True, inclusive=False)
        e = mx.reshape(e, xt.shape)
        return mx.transpose(e, _inverse(perm))

    def vjp(self, primals, cotangents, argnums, outputs):
        x = primals[0]
        return [self._others(x) * self._bcast(cotangents[0], x.shape)]

    def jvp(self, primals, tangents, argnums):
        e = self._others(primals[0])
        return [mx.sum(e * tangents[0], axis=self.axes, keepdims=self.keepdims)]


class _Extreme(Reduce):
    """Max and min share their rules: the gradient goes where ``x`` reaches the extreme."""

    __slots__ = ()

    def _weights(self, x, out_keep, d):
        """Where ``x`` reaches the extreme, shared evenly among ties (MLX's convention)."""
        m = mx.equal(x, out_keep).astype(d)
        return m / mx.sum(m, axis=self.axes, keepdims=True)

    def vjp(self, primals, cotangents, argnums, outputs):
        x, c = primals[0], cotangents[0]
        w = self._weights(x, self._keep(outputs[0]), c.dtype)
        return [w * self._bcast(c, x.shape)]

    def jvp(self, primals, tangents, argnums):
        x, t = primals[0], tangents[0]
        out = getattr(mx, self.name)(x, axis=self.axes, keepdims=True)
        w = self._weights(x, out, t.dtype)
        return [mx.sum(w * t, axis=self.axes, keepdims=self.keepdims)]


class Max(_Extreme):
    __slots__ = ()
    name = "max"

    def eval(self, xp, x):
        return xp.max(x, axis=self.axes, keepdims=self.keepdims)


class Min(_Extreme):
    __slots__ = ()
    name = "min"

    def eval(self, xp, x):
        return xp.min(x, axis=self.axes, keepdims=self.keepdims)


class MinMax(Reduce):
    __slots__ = ()
    name = "minmax"
    multi = True

    def eval(self, xp, x):
        return (
            xp.min(x, axis=self.axes, keepdims=self.keepdims),
            xp.max(x, axis=self.axes, keepdims=self.keepdims),
        )

    _weights = Max._weights

    def vjp(self, primals, cotangents, argnums, outputs):
        x = primals[0]
        g = None
        for o, c in zip(outputs, cotangents):
            term = self._weights(x, self._keep(o), c.dtype) * self._bcast(c, x.shape)
            g = term if g is None else g + term
        return [g]

    def jvp(self, primals, tangents, argnums):
        x, t = primals[0], tangents[0]
        res = []
        for o in mx.minmax(x, axis=self.axes, keepdims=True):
            w = self._weights(x, o, t.dtype)
            res.append(mx.sum(w * t, axis=self.axes, keepdims=self.keepdims))
        return res


class All(Reduce):
    __slots__ = ()
    name = "all"

    def eval(self, xp, x):
        return xp.all(x, axis=self.axes, keepdims=self.keepdims)

    vjp = zero_vjp
    jvp = zero_jvp


class Any(Reduce):
    __slots__ = ()
    name = "any"

    def eval(self, xp, x):
        return xp.any(x, axis=self.axes, keepdims=self.keepdims)

    vjp = zero_vjp
    jvp = zero_jvp


class CountNonzero(Reduce):
    __slots__ = ()
    name = "count_nonzero"

    def eval(self, xp, x):
        return xp.sum(x != 0, axis=self.axes, dtype=np.int32, keepdims=self.keepdims)

    vjp = zero_vjp
    jvp = zero_jvp


class Mean(Reduce):
    __slots__ = ()
    name = "mean"

    def eval(self, xp, x):
        acc = _float_acc(x.dtype)
        n = _count(x.shape, self.axes)
        r = xp.sum(x, axis=self.axes, dtype=acc, keepdims=self.keepdims)
        r = r / acc.type(n) if n else r * acc.type(np.nan)
        return r.astype(_float_out(x.dtype), copy=False)

    def vjp(self, primals, cotangents, argnums, outputs):
        x = primals[0]
        return [self._bcast(cotangents[0], x.shape) / _count(x.shape, self.axes)]

    def jvp(self, primals, tangents, argnums):
        return [mx.mean(tangents[0], axis=self.axes, keepdims=self.keepdims)]


class Var(Reduce):
    """Variance by two passes (mean, then the mean squared deviation)."""

    __slots__ = ("ddof",)
    name = "var"

    def __init__(self, axes: tuple, keepdims: bool, ddof: int) -> None:
        self.axes = axes
        self.keepdims = keepdims
        self.ddof = ddof

    def _var(self, xp, x):
        acc = _float_acc(x.dtype)
        axes = self.axes
        n = _count(x.shape, axes)
        if x.dtype != acc:
            x = x.astype(acc)
        m = xp.sum(x, axis=axes, keepdims=True)
        m = m / acc.type(n) if n else m * acc.type(np.nan)
        d = x - m
        sq = d.real * d.real + d.imag * d.imag if acc.kind == "c" else d * d
        s = xp.sum(sq, axis=axes, keepdims=self.keepdims)
        denom = n - self.ddof
        # MLX divides by max(n - ddof, 0): inf (or NaN for 0 / 0) when ddof >= n.
        return s / sq.dtype.type(denom if denom > 0 else 0)

    def eval(self, xp, x):
        return self._var(xp, x).astype(
            _float_out(x.dtype) if x.dtype.kind != "c" else _F32, copy=False
        )

    def _rerun(self, x, axes, keepdims):
        return getattr(mx, self.name)(x, axis=axes, keepdims=keepdims, ddof=self.ddof)

    def _dvar(self, x):
        """d var / dx = 2 (x - mean) / (N - ddof) (NaN when N - ddof <= 0, as MLX)."""
        denom = _count(x.shape, self.axes) - self.ddof
        dev = x - mx.mean(x, axis=self.axes, keepdims=True)
        return dev * (2.0 / denom if denom > 0 else float("nan"))

    def vjp(self, primals, cotangents, argnums, outputs):
        x = primals[0]
        return [self._dvar(x) * self._bcast(cotangents[0], x.shape)]

    def jvp(self, primals, tangents, argnums):
        return [
            mx.sum(self._dvar(primals[0]) * tangents[0], axis=self.axes, keepdims=self.keepdims)
        ]


class Std(Var):
    __slots__ = ()
    name = "std"

    def eval(self, xp, x):
        out = _float_out(x.dtype) if x.dtype.kind != "c" else _F32
        return xp.sqrt(self._var(xp, x)).astype(out, copy=False)

    def vjp(self, primals, cotangents, argnums, outputs):
        x = primals[0]
        c = cotangents[0] / (2 * outputs[0])
        return [self._dvar(x) * self._bcast(c, x.shape)]

    def jvp(self, primals, tangents, argnums):
        x = primals[0]
        dv = mx.sum(self._dvar(x) * tangents[0], axis=self.axes, keepdims=self.keepdims)
        return [dv / (2 * self._rerun(x, self.axes, self.keepdims))]


class LogSumExp(Reduce):
    __slots__ = ()
    name = "logsumexp"

    def eval(self, xp, x):
        out = _float_out(x.dtype)
        acc = _float_acc(x.dtype)
        if acc == _F64 and x.dtype != _F64:
            acc = _F32  # integers: float32 math, as the output
        if x.dtype != acc:
            x = x.astype(acc)
        return logsumexp_kernel(xp, x, self.axes, self.keepdims).astype(out, copy=False)

    def vjp(self, primals, cotangents, argnums, outputs):
        x = primals[0]
        w = mx.exp(x - self._keep(outputs[0]))  # the softmax of x over the axes
        return [w * self._bcast(cotangents[0], x.shape)]

    def jvp(self, primals, tangents, argnums):
        w = mx.softmax(primals[0], axis=self.axes)
        return [mx.sum(w * tangents[0], axis=self.axes, keepdims=self.keepdims)]


def logsumexp_kernel(xp, x, axes, keepdims):
    """``log(sum(exp(x)))`` over ``axes``, shifted by the max so it neither overflows nor
    underflows; infinities give the limits MLX gives (``-inf`` for all ``-inf``)."""
    m = xp.max(x, axis=axes, keepdims=True)
    m = xp.where(xp.isfinite(m), m, xp.zeros((), m.dtype))
    s = xp.sum(xp.exp(x - m), axis=axes, keepdims=True)
    r = xp.log(s) + m
    if not keepdims:
        r = r.reshape(tuple(n for i, n in enumerate(r.shape) if i not in axes))
    return r


class Median(Reduce):
    __slots__ = ()
    name = "median"

    def eval(self, xp, x):
        out = _float_out(x.dtype)
        acc = _float_acc(x.dtype)
        if x.dtype != acc:
            x = x.astype(acc)
        if not self.axes:
            return x.astype(out)
        return xp.median(x, axis=self.axes, keepdims=self.keepdims).astype(out, copy=False)

    # The median is one or two sorted elements: their original positions come from a
    # (stable) argsort of the reduced axes flattened last, as in MLX (sort + take).
    def _flat(self, x):
        keep = [i for i in range(x.ndim) if i not in self.axes]
        perm = (*keep, *self.axes)
        xt = mx.transpose(x, perm)
        lead = xt.shape[: len(keep)]
        return mx.reshape(xt, (*lead, _count(x.shape, self.axes))), perm, xt.shape

    def _picks(self, xf):
        n = xf.shape[-1]
        idx = mx.argsort(xf, axis=-1)
        lo, hi = (n - 1) // 2, n // 2
        if lo == hi:
            return [(idx[..., lo : lo + 1], 1.0)]
        return [(idx[..., lo : lo + 1], 0.5), (idx[..., hi : hi + 1], 0.5)]

    def vjp(self, primals, cotangents, argnums, outputs):
        x, c = primals[0], cotangents[0]
        if not self.axes:
            return [c]
        xf, perm, tshape = self._flat(x)
        n = xf.shape[-1]
        cf = mx.reshape(c, (*xf.shape[:-1], 1))
        iota = mx.arange(n, dtype=mx.uint32)
        g = None
        for k, w in self._picks(xf):
            term = mx.equal(iota, k).astype(c.dtype) * (cf * w)
            g = term if g is None else g + term
        return [mx.transpose(mx.reshape(g, tshape), _inverse(perm))]

    def jvp(self, primals, tangents, argnums):
        x, t = primals[0], tangents[0]
        if not self.axes:
            return [t]
        xf = self._flat(x)[0]
        tf = self._flat(t)[0]
        r = None
        for k, w in self._picks(xf):
            term = mx.take_along_axis(tf, k.astype(mx.int32), axis=-1) * w
            r = term if r is None else r + term
        return [mx.reshape(r, reduced_shape(x.shape, self.axes, self.keepdims))]


class ArgReduce(Primitive):
    """argmax / argmin along one axis (None: the flattened array); uint32 indices."""

    __slots__ = ("axis", "keepdims")

    def __init__(self, axis, keepdims: bool) -> None:
        self.axis = axis
        self.keepdims = keepdims

    vjp = zero_vjp
    jvp = zero_jvp

    def vmap(self, inputs, axes):
        x = move_to_front(inputs[0], axes[0])
        op = getattr(mx, self.name)
        if self.axis is not None:
            return [op(x, axis=self.axis + 1, keepdims=self.keepdims)], [0]
        r = op(mx.reshape(x, (x.shape[0], -1)), axis=1)
        if self.keepdims:
            r = mx.reshape(r, (x.shape[0],) + (1,) * (x.ndim - 1))
        return [r], [0]


class ArgMax(ArgReduce):
    __slots__ = ()
    name = "argmax"

    def eval(self, xp, x):
        return xp.argmax(x, axis=self.axis, keepdims=self.keepdims).astype(np.uint32)


class ArgMin(ArgReduce):
    __slots__ = ()
    name = "argmin"

    def eval(self, xp, x):
        return xp.argmin(x, axis=self.axis, keepdims=self.keepdims).astype(np.uint32)


# -- public functions -----------------------------------------------------------------
_PRIMS: dict = {}


def _prim(cls, axes, keepdims):
    key = (cls, axes, keepdims)
    p = _PRIMS.get(key)
    if p is None:
        if len(_PRIMS) > 4096:
            _PRIMS.clear()
        p = _PRIMS[key] = cls(axes, keepdims)
    return p


def _reduction(cls, rule: dict, doc: str, nonempty: bool = False):
    name = cls.name

    def op(a, /, axis=None, keepdims: bool = False, *, stream=None) -> array:
        if type(a) is not array:
            a = as_array(a, name)
        axes = reduce_axes(axis, len(a._shape), name)
        if nonempty:
            _no_empty_axis(a, axes, name)
        keepdims = bool(keepdims)
        # sum/prod over no axes (a 0-d array, axis=()) return the input's dtype, as MLX.
        d = a._dtype if not axes and cls in (Sum, Prod) else rule[a._dtype]
        return node(
            _prim(cls, axes, keepdims), (a,), reduced_shape(a._shape, axes, keepdims),
            d, resolve_stream(stream),
        )  # fmt: skip

    op.__name__ = op.__qualname__ = name
    op.__doc__ = doc
    return op


sum = _reduction(Sum, _SUM_RULE, "Sum over ``axis`` (None: all axes). Small ints sum in 32 bits.")
prod = _reduction(Prod, _SUM_RULE, "Product over ``axis`` (None: all axes).")
max = _reduction(
    Max, _SAME, "Maximum over ``axis``; NaN propagates. Reducing an empty axis is an error.", True
)
min = _reduction(
    Min, _SAME, "Minimum over ``axis``; NaN propagates. Reducing an empty axis is an error.", True
)
all = _reduction(All, _BOOL, "Whether every element over ``axis`` is nonzero.")
any = _reduction(Any, _BOOL, "Whether some element over ``axis`` is nonzero.")
mean = _reduction(Mean, _FLOAT, "Mean over ``axis``; integers give float32.")


def count_nonzero(a, /, axis=None, keepdims: bool = False, *, stream=None) -> array:
    """The number of nonzero elements over ``axis`` as int32."""
    if type(a) is not array:
        a = as_array(a, "count_nonzero")
    axes = reduce_axes(axis, len(a._shape), "count_nonzero")
    keepdims = bool(keepdims)
    return node(
        _prim(CountNonzero, axes, keepdims), (a,), reduced_shape(a._shape, axes, keepdims),
        dt.int32, resolve_stream(stream),
    )  # fmt: skip


def _ddof(ddof, correction, op):
    if correction is not None:
        ddof = correction
    if type(ddof) is not int:
        try:
            ddof = operator.index(ddof)
        except TypeError:
            raise TypeError(f"[{op}] ddof must be an integer, got {type(ddof).__name__}.") from None
    return ddof


def var(
    a, /, axis=None, keepdims: bool = False, ddof: int = 0, *, correction=None, stream=None
) -> array:
    """Variance over ``axis`` divided by ``N - ddof`` (``correction`` is an alias of ddof)."""
    if type(a) is not array:
        a = as_array(a, "var")
    axes = reduce_axes(axis, len(a._shape), "var")
    keepdims = bool(keepdims)
    prim = Var(axes, keepdims, _ddof(ddof, correction, "var"))
    return node(
        prim, (a,), reduced_shape(a._shape, axes, keepdims), _VAR[a._dtype], resolve_stream(stream)
    )


def std(
    a, /, axis=None, keepdims: bool = False, ddof: int = 0, *, correction=None, stream=None
) -> array:
    """Standard deviation over ``axis``: the square root of :func:`var`."""
    if type(a) is not array:
        a = as_array(a, "std")
    axes = reduce_axes(axis, len(a._shape), "std")
    keepdims = bool(keepdims)
    prim = Std(axes, keepdims, _ddof(ddof, correction, "std"))
    return node(
        prim, (a,), reduced_shape(a._shape, axes, keepdims), _VAR[a._dtype], resolve_stream(stream)
    )


def logsumexp(a, /, axis=None, keepdims: bool = False, *, stream=None) -> array:
    """``log(sum(exp(a)))`` over ``axis``, computed without overflow."""
    if type(a) is not array:
        a = as_array(a, "logsumexp")
    # MLX's order: an empty array, then axes on a 0-d array, then the axes' range.
    if a.size == 0:
        raise ValueError("[logsumexp] Received empty array.")
    if not a._shape and axis is not None and (not isinstance(axis, (list, tuple)) or axis):
        raise ValueError("[logsumexp] Received non-empty axes for array with 0 dimensions.")
    axes = reduce_axes(axis, len(a._shape), "logsumexp")
    keepdims = bool(keepdims)
    return node(
        _prim(LogSumExp, axes, keepdims), (a,), reduced_shape(a._shape, axes, keepdims),
        _FLOAT[a._dtype], resolve_stream(stream),
    )  # fmt: skip


def median(a, /, axis=None, keepdims: bool = False, *, stream=None) -> array:
    """Median over ``axis`` (the mean of the two middle values for even counts)."""
    if type(a) is not array:
        a = as_array(a, "median")
    ndim = len(a._shape)
    try:
        axes = reduce_axes(axis, ndim, "median")
    except IndexError:
        bad = [
            x
            for x in (axis if isinstance(axis, (list, tuple)) else [axis])
            if not -ndim <= x < ndim
        ]
        raise IndexError(
            f"[median] axis {bad[0]} is out of bounds for array with {ndim} dimensions."
        ) from None
    except ValueError:
        raise ValueError("[median] Received duplicate axis.") from None
    for ax in axes:
        if a._shape[ax] == 0:
            raise ValueError("[median] Cannot take median along empty axis.")
    keepdims = bool(keepdims)
    return node(
        _prim(Median, axes, keepdims), (a,), reduced_shape(a._shape, axes, keepdims),
        _FLOAT[a._dtype], resolve_stream(stream),
    )  # fmt: skip


def minmax(a, /, axis=None, keepdims: bool = False, *, stream=None):
    """``(min(a, axis), max(a, axis))`` computed by one node."""
    if type(a) is not array:
        a = as_array(a, "minmax")
    axes = reduce_axes(axis, len(a._shape), "minmax")
    _no_empty_axis(a, axes, "min")
    keepdims = bool(keepdims)
    shape = reduced_shape(a._shape, axes, keepdims)
    lo, hi = multi_node(
        _prim(MinMax, axes, keepdims),
        (a,),
        (shape, shape),
        (a._dtype, a._dtype),
        resolve_stream(stream),
    )
    return lo, hi


def _arg(cls):
    name = cls.name

    def op(a, /, axis=None, keepdims: bool = False, *, stream=None) -> array:
        if type(a) is not array:
            a = as_array(a, name)
        shape = a._shape
        ndim = len(shape)
        keepdims = bool(keepdims)
        if isinstance(axis, (list, tuple)):
            raise TypeError(f"[{name}] axis must be an int or None, got {type(axis).__name__}.")
        if a.size == 0:  # MLX checks this before the axis
            raise ValueError(f"[{name}] Cannot {name} reduce zero size array.")
        if axis is None:
            out = (1,) * ndim if keepdims else ()
        else:
            axis = _one_axis(axis, ndim, name)
            out = reduced_shape(shape, (axis,), keepdims)
        return node(_prim(cls, axis, keepdims), (a,), out, dt.uint32, resolve_stream(stream))

    op.__name__ = op.__qualname__ = name
    return op


argmax = _arg(ArgMax)
argmax.__doc__ = "Index (uint32) of the first maximum along ``axis`` (None: flattened)."
argmin = _arg(ArgMin)
argmin.__doc__ = "Index (uint32) of the first minimum along ``axis`` (None: flattened)."

METHODS = {
    "sum": sum, "prod": prod, "mean": mean, "var": var, "std": std, "max": max, "min": min,
    "all": all, "any": any, "argmax": argmax, "argmin": argmin, "logsumexp": logsumexp,
}  # fmt: skip

# The transform rules above are written with the public ops of the package.
import umx as mx  # noqa: E402
