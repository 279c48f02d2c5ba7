"""Creation ops: arrays built from a shape and a value (zeros, arange, eye, windows...).

Each creation op is a lazy node whose primitive has no inputs (or only the fill value):
its ``eval`` builds the buffer with the array module of the stream it runs on.
"""

from __future__ import annotations

import operator

import numpy as np

from .. import _dtypes as dt
from .._array import array, as_array, constant, node
from .._device import resolve_stream
from .._primitive import Primitive
from .._rules import move_to_front, vmap_by_loop, zero_jvp, zero_vjp
from .unary import cast

_INT32_MIN, _INT32_MAX = -(2**31), 2**31 - 1


def _dim(v, op: str) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
        try:
            v = operator.index(v)
        except TypeError:
            raise TypeError(
                f"[{op}] Expected an integer dimension, got {type(v).__name__}."
            ) from None
    return int(v)


def norm_shape(shape, op: str) -> tuple:
    """``shape`` (an int or a sequence of ints) as a tuple; negative dims -> ValueError."""
    if isinstance(shape, (int, np.integer)) and not isinstance(shape, bool):
        out = (int(shape),)
    elif isinstance(shape, (tuple, list)):
        out = tuple(_dim(s, op) for s in shape)
    elif isinstance(shape, array) and shape.ndim <= 1 and shape.dtype.kind in "iu":
        out = tuple(int(s) for s in np.asarray(shape).reshape(-1))
    else:
        raise TypeError(
            f"[{op}] Expected an int or a sequence of ints for the shape, got {type(shape).__name__}."
        )
    for s in out:
        if s < 0:
            raise ValueError(f"[{op}] Negative dimensions not allowed.")
    return out


def _int(v, op: str, what: str) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
        raise TypeError(f"[{op}] {what} must be an integer, got {type(v).__name__}.")
    return int(v)


def _dtype(dtype, default: dt.Dtype, op: str) -> dt.Dtype:
    return default if dtype is None else dt.to_dtype(dtype, op)


# -- the primitives ----------------------------------------------------------------------
class _Source(Primitive):
    """A primitive with no array inputs: nothing to differentiate, and nothing a vmap can
    batch (a vmapped function's constants stay unbatched; the engine never reaches them)."""

    __slots__ = ()
    vjp = zero_vjp
    jvp = zero_jvp
    vmap = vmap_by_loop


class Full(_Source):
    """A buffer of ``shape`` filled with one scalar ``value``."""

    __slots__ = ("shape", "value", "dtype")
    name = "full"

    def __init__(self, shape, value, dtype: dt.Dtype) -> None:
        self.shape = shape
        self.value = value
        self.dtype = dtype

    def eval(self, xp):
        return xp.full(self.shape, self.value, dtype=self.dtype.np)


class Zeros(_Source):
    """A buffer of zeros (``calloc``-backed on the CPU: cheap even when large)."""

    __slots__ = ("shape", "dtype")
    name = "zeros"

    def __init__(self, shape, dtype: dt.Dtype) -> None:
        self.shape = shape
        self.dtype = dtype

    def eval(self, xp):
        return xp.zeros(self.shape, dtype=self.dtype.np)


class Arange(_Source):
    """``start + i * step`` for ``i`` in ``range(n)``, in ``dtype``."""

    __slots__ = ("start", "step", "n", "dtype")
    name = "arange"

    def __init__(self, start, step, n: int, dtype: dt.Dtype) -> None:
        self.start = start
        self.step = step
        self.n = n
        self.dtype = dtype

    def eval(self, xp):
        d = self.dtype
        if d.kind in "iu":
            r = xp.arange(self.n, dtype=np.int64) * np.int64(self.step) + np.int64(self.start)
        else:
            r = xp.arange(self.n, dtype=np.float64) * self.step + self.start
        return r.astype(d.np)


class Linspace(_Source):
    """``num`` evenly spaced values, computed in float32 as MLX does, then cast."""

    __slots__ = ("start", "stop", "num", "div", "dtype")
    name = "linspace"

    def __init__(self, start, stop, num: int, div: int, dtype: dt.Dtype) -> None:
        self.start = start
        self.stop = stop
        self.num = num
        self.div = div
        self.dtype = dtype

    def eval(self, xp):
        f = np.float32
        if self.num == 1:  # in float32 too (MLX: linspace(1.9999999999999982, 0, 1) is 2)
            return xp.full((1,), f(self.start), dtype=f).astype(self.dtype.np)
        t = xp.arange(self.num, dtype=f) / f(self.div)
        r = (f(1) - t) * f(self.start) + t * f(self.stop)
        return r.astype(self.dtype.np)


class Eye(_Source):
    __slots__ = ("n", "m", "k", "dtype")
    name = "eye"

    def __init__(self, n: int, m: int, k: int, dtype: dt.Dtype) -> None:
        self.n = n
        self.m = m
        self.k = k
        self.dtype = dtype

    def eval(self, xp):
        return xp.eye(self.n, self.m, self.k, dtype=self.dtype.np)


class Tri(_Source):
    __slots__ = ("n", "m", "k", "dtype")
    name = "tri"

    def __init__(self, n: int, m: int, k: int, dtype: dt.Dtype) -> None:
        self.n = n
        self.m = m
        self.k = k
        self.dtype = dtype

    def eval(self, xp):
        return xp.tri(self.n, self.m, self.k, dtype=self.dtype.np)


class _Band(Primitive):
    """The lower (tril) or upper (triu) triangle of the last two dims, from diagonal ``k``."""

    __slots__ = ("k",)

    def __init__(self, k: int) -> None:
        self.k = k

    def _op(self, x):
        return (tril if self.name == "tril" else triu)(x, self.k)

    def vjp(self, primals, cotangents, argnums, outputs):
        return [self._op(cotangents[0])]

    def jvp(self, primals, tangents, argnums):
        return [self._op(tangents[0])]

    def vmap(self, inputs, axes):
        return [self._op(move_to_front(inputs[0], axes[0]))], [0]


class Tril(_Band):
    __slots__ = ()
    name = "tril"

    def eval(self, xp, x):
        return xp.tril(x, self.k)


class Triu(_Band):
    __slots__ = ()
    name = "triu"

    def eval(self, xp, x):
        return xp.triu(x, self.k)


class Window(_Source):
    """A window function (hamming, hanning, blackman, bartlett) of ``m`` points."""

    __slots__ = ("kind", "m")
    name = "window"

    def __init__(self, kind: str, m: int) -> None:
        self.kind = kind
        self.m = m

    def eval(self, xp):
        return getattr(xp, self.kind)(self.m).astype(np.float32)


# -- the public functions ----------------------------------------------------------------
def _full_scalar(shape, value, d: dt.Dtype, stream) -> array:
    return node(Full(shape, value, d), (), shape, d, resolve_stream(stream))


def zeros(shape, dtype=dt.float32, *, stream=None) -> array:
    """An array of zeros of ``shape`` (an int or a sequence of ints)."""
    d = _dtype(dtype, dt.float32, "zeros")
    s = norm_shape(shape, "zeros")
    return node(Zeros(s, d), (), s, d, resolve_stream(stream))


def ones(shape, dtype=dt.float32, *, stream=None) -> array:
    """An array of ones of ``shape``."""
    d = _dtype(dtype, dt.float32, "ones")
    s = norm_shape(shape, "ones")
    return _full_scalar(s, d.np.type(1), d, stream)


def _fill_value(vals, dtype: dt.Dtype | None, op: str):
    """MLX's conversion of a fill value: a (numpy scalar, dtype) pair, or an array.

    Python floats keep float32 unless ``dtype`` is floating; Python complex is always
    complex64; Python ints are range-checked against an integer ``dtype``.
    """
    if isinstance(vals, array):
        return vals, vals._dtype
    if isinstance(vals, (bool, np.bool_)):
        d = dtype or dt.bool_
    elif isinstance(vals, int):
        v = int(vals)
        if dtype is None or dtype is dt.bool_:
            d = dt.int32 if _INT32_MIN <= v <= _INT32_MAX else dt.int64
        else:
            d = dtype
            if d.kind in "iu":
                info = np.iinfo(d.np)
                if not info.min <= v <= info.max:
                    raise ValueError(f"[{op}] Converting {v} to {d.name} would result in overflow.")
    elif isinstance(vals, float):  # also np.float64
        d = dtype if dtype is not None and dtype.kind == "f" else dt.float32
    elif isinstance(vals, complex):
        d = dt.complex64
    elif isinstance(vals, np.generic):
        d = dtype or dt.scalar_dtype(vals)
    else:
        try:
            a = as_array(vals, op)
        except TypeError:
            raise ValueError(
                f"[{op}] Invalid type {type(vals).__name__} received in array initialization."
            ) from None
        return a, a._dtype
    return np.asarray(vals).astype(d.np)[()], d


def full(shape, vals, dtype=None, *, stream=None) -> array:
    """An array of ``shape`` filled with ``vals`` (a scalar, or an array broadcast to it)."""
    s = norm_shape(shape, "full")
    d = None if dtype is None else dt.to_dtype(dtype, "full")
    v, vd = _fill_value(vals, d, "full")
    if isinstance(v, array):
        from .shape import broadcast_to

        return _materialize(broadcast_to(v, s, stream=stream), stream)
    return _full_scalar(s, v, vd, stream)


class FullArray(Primitive):
    """A fresh buffer holding the values of a broadcast fill array."""

    __slots__ = ()
    name = "full"

    def eval(self, xp, x):
        return xp.array(x, copy=True)

    # A copy: its input is already the fill value broadcast to the output shape (the
    # broadcast node sums the cotangent back to the value's shape).
    def vjp(self, primals, cotangents, argnums, outputs):
        return [cotangents[0]]

    def jvp(self, primals, tangents, argnums):
        return [tangents[0]]

    def vmap(self, inputs, axes):
        x = inputs[0]
        return [_materialize(x, None)], [axes[0]]


_FULL_ARRAY = FullArray()


def _materialize(a: array, stream) -> array:
    """A fresh buffer with the values of ``a`` (a full array from a broadcast value)."""
    return node(_FULL_ARRAY, (a,), a._shape, a._dtype, resolve_stream(stream))


def zeros_like(a, /, dtype=None, *, stream=None) -> array:
    """Zeros with the shape (and, by default, the dtype) of ``a``."""
    a = as_array(a, "zeros_like")
    d = a._dtype if dtype is None else dt.to_dtype(dtype, "zeros_like")
    return node(Zeros(a._shape, d), (), a._shape, d, resolve_stream(stream))


def ones_like(a, /, dtype=None, *, stream=None) -> array:
    """Ones with the shape (and, by default, the dtype) of ``a``."""
    a = as_array(a, "ones_like")
    d = a._dtype if dtype is None else dt.to_dtype(dtype, "ones_like")
    return _full_scalar(a._shape, d.np.type(1), d, stream)


def full_like(a, vals, dtype=None, *, stream=None) -> array:
    """``vals`` broadcast to the shape of ``a``, in ``dtype`` (default: the dtype of ``a``)."""
    a = as_array(a, "full_like")
    d = a._dtype if dtype is None else dt.to_dtype(dtype, "full_like")
    v, vd = _fill_value(vals, d, "full_like")
    if isinstance(v, array):
        from .shape import broadcast_to

        st = resolve_stream(stream)
        return _materialize(broadcast_to(cast(v, d, st), a._shape, stream=st), st)
    if vd is not d:
        if vd.kind == "c" and d.kind != "c":
            v = v.real
        v = np.asarray(v).astype(d.np)[()]
    return _full_scalar(a._shape, v, d, stream)


empty = zeros
empty_like = zeros_like


def _is_num(x) -> bool:
    return isinstance(x, (int, float, np.integer, np.floating)) and not isinstance(x, np.bool_)


def arange(start=None, stop=None, step=None, dtype=None, *, stream=None) -> array:
    """Values in ``[start, stop)`` spaced by ``step``: ``arange(stop)`` or
    ``arange(start, stop, step)``. Ints give int32 (int64 past its range), any float
    gives float32."""
    if isinstance(step, dt.Dtype) and dtype is None:
        # MLX's second overload: arange(stop, step, dtype).
        start, stop, step, dtype = None, start, stop, step
    if stop is None:
        if start is None:
            raise TypeError("[arange] Missing the stop value.")
        start, stop = 0, start
    elif start is None:
        start = 0
    args = (start, stop) if step is None else (start, stop, step)
    for v in args:
        if not _is_num(v):
            raise TypeError(f"[arange] Expected int or float values, got {type(v).__name__}.")
    if step is None:
        step = 1
    if dtype is None:
        if any(isinstance(v, bool) for v in args):
            raise ValueError("[arange] bool not supported for arange.")
        if any(isinstance(v, (float, np.floating)) for v in args):
            d = dt.float32
        elif all(_INT32_MIN <= int(v) <= _INT32_MAX for v in args):
            d = dt.int32
        else:
            d = dt.int64
    else:
        d = dt.to_dtype(dtype, "arange")
        if d is dt.bool_:
            raise ValueError("[arange] bool not supported for arange.")
    if step == 0:
        raise ValueError("[arange] step must be nonzero.")
    real = (float(stop) - float(start)) / float(step)
    if real != real or real in (float("inf"), float("-inf")):
        raise ValueError("[arange] Cannot compute length.")
    n = max(int(np.ceil(real)), 0)
    if d.kind in "iu":
        # NumPy's convention: the increment is dtype(start + step) - dtype(start).
        s0 = int(start)
        inc = int(start + step) - s0
        prim = Arange(s0, inc, n, d)
    else:
        prim = Arange(float(start), float(step), n, d)
    return node(prim, (), (n,), d, resolve_stream(stream))


def linspace(start, stop, num=50, endpoint=True, dtype=dt.float32, stream=None) -> array:
    """``num`` evenly spaced samples over ``[start, stop]`` (``[start, stop)`` without
    ``endpoint``)."""
    if not isinstance(endpoint, (bool, np.bool_)):  # MLX: a bool only (not a dtype, 1, ...)
        raise TypeError(f"[linspace] endpoint must be a bool, got {type(endpoint).__name__}.")
    num = _int(num, "linspace", "num")
    if num < 0:
        raise ValueError(f"[linspace] number of samples, {num}, must be non-negative.")
    for v in (start, stop):
        if not _is_num(v) or isinstance(v, bool):
            raise TypeError(f"[linspace] Expected int or float values, got {type(v).__name__}.")
    d = _dtype(dtype, dt.float32, "linspace")
    div = num - 1 if endpoint else num
    prim = Linspace(float(start), float(stop), num, max(div, 1), d)
    return node(prim, (), (num,), d, resolve_stream(stream))


def eye(n, m=None, k=0, dtype=dt.float32, *, stream=None) -> array:
    """A 2-D array with ones on the ``k``-th diagonal and zeros elsewhere."""
    n = _int(n, "eye", "n")
    m = n if m is None else _int(m, "eye", "m")
    k = _int(k, "eye", "k")
    if n < 0 or m < 0:
        raise ValueError("[eye] N and M must be positive integers.")
    d = _dtype(dtype, dt.float32, "eye")
    return node(Eye(n, m, k, d), (), (n, m), d, resolve_stream(stream))


def identity(n, dtype=dt.float32, *, stream=None) -> array:
    """The ``n x n`` identity matrix."""
    return eye(n, n, 0, dtype, stream=stream)


def tri(n, m=None, k=0, dtype=None, *, stream=None) -> array:
    """Ones at and below the ``k``-th diagonal of an ``n x m`` array, zeros above."""
    n = max(_int(n, "tri", "n"), 0)
    m = n if m is None else max(_int(m, "tri", "m"), 0)
    k = _int(k, "tri", "k")
    d = _dtype(dtype, dt.float32, "tri")
    return node(Tri(n, m, k, d), (), (n, m), d, resolve_stream(stream))


def _tri_part(prim_cls, name):
    def op(x, k=0, *, stream=None) -> array:
        x = as_array(x, name)
        if x.ndim < 2:
            raise ValueError(f"[{name}] array must be at least 2-D")
        k = _int(k, name, "k")
        return node(prim_cls(k), (x,), x._shape, x._dtype, resolve_stream(stream))

    op.__name__ = op.__qualname__ = name
    return op


tril = _tri_part(Tril, "tril")
tril.__doc__ = "``x`` with the elements above the ``k``-th diagonal (of the last two axes) zeroed."
triu = _tri_part(Triu, "triu")
triu.__doc__ = "``x`` with the elements below the ``k``-th diagonal (of the last two axes) zeroed."


def _window(kind: str, doc: str):
    def op(M, *, stream=None) -> array:
        m = max(_int(M, kind, "M"), 0)
        return node(Window(kind, m), (), (m,), dt.float32, resolve_stream(stream))

    op.__name__ = op.__qualname__ = kind
    op.__doc__ = doc
    return op


hamming = _window("hamming", "The Hamming window of ``M`` points (float32).")
hanning = _window("hanning", "The Hann window of ``M`` points (float32).")
blackman = _window("blackman", "The Blackman window of ``M`` points (float32).")
bartlett = _window("bartlett", "The Bartlett (triangular) window of ``M`` points (float32).")


def meshgrid(*arrays, sparse=False, indexing="xy", stream=None) -> tuple:
    """Coordinate grids from 1-D coordinate arrays (inputs are flattened first).

    ``indexing='xy'`` (Cartesian) swaps the first two output axes relative to ``'ij'``.
    With ``sparse`` the outputs keep size one on every axis but their own.
    """
    if indexing not in ("xy", "ij"):
        raise ValueError("[meshgrid] Invalid indexing value. Valid values are 'xy' and 'ij'.")
    arrays = [as_array(a, "meshgrid") for a in arrays]
    n = len(arrays)
    if n <= 1:
        from .shape import reshape

        return tuple(reshape(a, (-1,), stream=stream) for a in arrays)
    from .shape import broadcast_to, reshape

    sizes = [a.size for a in arrays]
    outs = []
    for i, a in enumerate(arrays):
        shape = [1] * n
        j = i
        if indexing == "xy" and i < 2:
            j = 1 - i
        shape[j] = sizes[i]
        outs.append(reshape(a, tuple(shape), stream=stream))
    if not sparse:
        full_shape = list(sizes)
        if indexing == "xy":
            full_shape[0], full_shape[1] = sizes[1], sizes[0]
        outs = [broadcast_to(o, tuple(full_shape), stream=stream) for o in outs]
    return tuple(outs)


def asarray(a, dtype=None, *, copy=None) -> array:
    """``a`` as an array. ``copy=False`` never copies (NumPy arrays of a matching dtype are
    wrapped), ``copy=True`` always does, ``None`` copies only when needed."""
    d = None if dtype is None else dt.to_dtype(dtype, "asarray")
    if isinstance(a, array):
        if d is not None and d is not a._dtype:
            if copy is False:
                raise ValueError("[asarray] Cannot change the dtype without a copy.")
            from .unary import astype

            return astype(a, d)
        if copy:
            from .unary import copy as _copy

            return _copy(a)
        return a
    if copy is False:
        if isinstance(a, np.ndarray):
            try:
                ad = dt.from_numpy(a.dtype)
            except TypeError:
                ad = None
            if (
                ad is not None
                and ad is not dt.float64
                and (d is None or d is ad)
                and a.dtype == ad.np
            ):
                return constant(a, ad)
        raise ValueError("[asarray] Cannot convert to an array without a copy.")
    return array(a, d)


__all__ = [
    "zeros", "ones", "full", "zeros_like", "ones_like", "full_like", "empty", "empty_like",
    "arange", "linspace", "eye", "identity", "tri", "tril", "triu", "meshgrid", "asarray",
    "hamming", "hanning", "blackman", "bartlett",
]  # fmt: skip
METHODS: dict = {}
