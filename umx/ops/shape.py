"""Shape ops: reshape, transpose, broadcast, strided views, diagonals and memory layout.

Results are NumPy views wherever NumPy makes views (reshape of contiguous data, transpose,
broadcast, diagonal); the others build a new buffer. Joining, splitting, tiling, padding,
rolling and flipping live in ``join``.
"""

from __future__ import annotations

import operator

import numpy as np

from .. import _dtypes as dt
from .._array import array, as_array, constant, node
from .._device import resolve_stream
from .._primitive import Primitive
from .._rules import move_to_front, unbroadcast
from ._util import broadcast_shapes as _bs
from ._util import fmt_shape
from .unary import cast


# -- argument helpers ----------------------------------------------------------------------
def _int(v, op: str, what: str = "Axis") -> int:
    if type(v) is int:
        return v
    if isinstance(v, (float, complex, str)) or v is None:
        raise TypeError(f"[{op}] {what} must be an integer, got {type(v).__name__}.")
    try:
        return operator.index(v)
    except TypeError:
        raise TypeError(f"[{op}] {what} must be an integer, got {type(v).__name__}.") from None


def _axis(
    axis,
    ndim: int,
    op: str,
    msg: str = "Axis {axis} is out of bounds for array with {ndim} dimensions.",
) -> int:
    """``axis`` in ``[0, ndim)``, or IndexError as MLX raises for shape ops."""
    ax = _int(axis, op)
    if not -ndim <= ax < ndim:
        raise IndexError(f"[{op}] " + msg.format(axis=ax, ndim=ndim))
    return ax + ndim if ax < 0 else ax


def _ints(seq, op: str, what: str = "Axis") -> tuple:
    t = type(seq)
    if t is tuple or t is list:
        for v in seq:
            if type(v) is not int:
                return tuple(_int(v, op, what) for v in seq)
        return seq if t is tuple else tuple(seq)
    if t is int:
        return (seq,)
    if isinstance(seq, array):
        return tuple(int(v) for v in np.asarray(seq).reshape(-1))
    if isinstance(seq, (tuple, list)):
        return tuple(_int(v, op, what) for v in seq)
    return (_int(seq, op, what),)


def _c(xp, x):
    """``x`` as a C-contiguous array (0-d stays 0-d; no copy when already contiguous)."""
    x = xp.asarray(x)
    return x if x.flags.c_contiguous else x.copy()


def _prod(shape) -> int:
    n = 1
    for s in shape:
        n *= s
    return n


# -- transform helpers -----------------------------------------------------------------------
# Rules call the public ops (lazy, so they differentiate again) and reuse their inference.
def _keep_dtype(g: array, d: dt.Dtype) -> array:
    return g if g._dtype is d else cast(g, d, None)


def _zeros(shape: tuple, d: dt.Dtype) -> array:
    from .creation import zeros

    return zeros(shape, d)


def _embed_diag(c: array, n1: int, n2: int, k: int) -> array:
    """An array of shape ``c.shape[:-1] + (n1, n2)``, zero but for the ``k``-th diagonal
    (of the last two axes), which holds the last axis of ``c``."""
    from .creation import eye
    from .join import pad
    from .select import where

    n = c._shape[-1]
    m = n1 if k >= 0 else n2
    if m > n:
        widths = ((0, 0),) * (c.ndim - 1) + ((0, m - n),)
        c = pad(c, widths)
    c = expand_dims(c, -1 if k >= 0 else -2)
    mask = eye(n1, n2, k, dt.bool_)
    return where(mask, c, _zeros((), c._dtype))


def _place_last_two(e: array, nd: int, i: int, j: int) -> array:
    """Move the last two axes of ``e`` (a result of _embed_diag) to positions ``i``, ``j``."""
    rest = [p for p in range(nd) if p != i and p != j]
    pos = {p: q for q, p in enumerate(rest)}
    pos[i], pos[j] = nd - 2, nd - 1
    perm = tuple(pos[p] for p in range(nd))
    return e if perm == tuple(range(nd)) else transpose(e, perm)


# -- primitives ----------------------------------------------------------------------------
class Reshape(Primitive):
    """A new shape for the same elements (a view when the layout allows it)."""

    __slots__ = ("shape",)
    name = "reshape"

    def __init__(self, shape: tuple) -> None:
        self.shape = shape

    def eval(self, xp, x):
        return x.reshape(self.shape)

    def vjp(self, primals, cotangents, argnums, outputs):
        return [reshape(cotangents[0], primals[0]._shape)]

    def jvp(self, primals, tangents, argnums):
        return [reshape(tangents[0], self.shape)]

    def vmap(self, inputs, axes):
        x = move_to_front(inputs[0], axes[0])
        return [reshape(x, x._shape[:1] + self.shape)], [0]


class Transpose(Primitive):
    __slots__ = ("axes",)
    name = "transpose"

    def __init__(self, axes: tuple) -> None:
        self.axes = axes

    def eval(self, xp, x):
        return xp.transpose(x, self.axes)

    def vjp(self, primals, cotangents, argnums, outputs):
        inv = [0] * len(self.axes)
        for i, a in enumerate(self.axes):
            inv[a] = i
        return [transpose(cotangents[0], tuple(inv))]

    def jvp(self, primals, tangents, argnums):
        return [transpose(tangents[0], self.axes)]

    def vmap(self, inputs, axes):
        x = move_to_front(inputs[0], axes[0])
        return [transpose(x, (0,) + tuple(a + 1 for a in self.axes))], [0]


class BroadcastTo(Primitive):
    __slots__ = ("shape",)
    name = "broadcast_to"

    def __init__(self, shape: tuple) -> None:
        self.shape = shape

    def eval(self, xp, x):
        return xp.broadcast_to(x, self.shape)

    def vjp(self, primals, cotangents, argnums, outputs):
        x = primals[0]
        return [_keep_dtype(unbroadcast(cotangents[0], x._shape), x._dtype)]

    def jvp(self, primals, tangents, argnums):
        return [broadcast_to(tangents[0], self.shape)]

    def vmap(self, inputs, axes):
        x = move_to_front(inputs[0], axes[0])
        sh = x._shape
        extra = len(self.shape) - (len(sh) - 1)
        if extra:
            x = reshape(x, sh[:1] + (1,) * extra + sh[1:])
        return [broadcast_to(x, sh[:1] + self.shape)], [0]


class AsStrided(Primitive):
    """A strided view (strides in elements) into the row-contiguous data of ``x``."""

    __slots__ = ("shape", "strides", "offset")
    name = "as_strided"

    def __init__(self, shape: tuple, strides: tuple, offset: int) -> None:
        self.shape = shape
        self.strides = strides
        self.offset = offset

    def eval(self, xp, x):
        flat = _c(xp, x).reshape(-1)
        item = flat.dtype.itemsize
        strides = tuple(s * item for s in self.strides)
        if xp is np:
            return np.lib.stride_tricks.as_strided(
                flat[self.offset :], self.shape, strides, writeable=False
            )
        return xp.lib.stride_tricks.as_strided(flat[self.offset :], self.shape, strides)

    def vjp(self, primals, cotangents, argnums, outputs):
        # Each output element reads one flat position; overlapping views accumulate.
        x = primals[0]
        c = cotangents[0]
        if _prod(self.shape) == 0 or x.size == 0:
            return [_zeros(x._shape, c._dtype)]
        pos = np.full((), self.offset, dtype=np.int64)
        for n, st in zip(self.shape, self.strides):
            pos = pos[..., None] + np.arange(n, dtype=np.int64) * st
        idt = dt.int32 if x.size < 2**31 else dt.int64
        pos = constant(np.ascontiguousarray(pos.reshape(-1).astype(idt.np)), idt)
        g = _zeros((x.size,), c._dtype).at[pos].add(reshape(c, (-1,)))
        return [reshape(g, x._shape)]

    def jvp(self, primals, tangents, argnums):
        return [as_strided(tangents[0], self.shape, self.strides, self.offset)]

    def vmap(self, inputs, axes):
        x = move_to_front(inputs[0], axes[0])
        n = _prod(x._shape[1:])
        shape = x._shape[:1] + self.shape
        return [as_strided(x, shape, (n,) + self.strides, self.offset)], [0]


class Diag(Primitive):
    __slots__ = ("k",)
    name = "diag"

    def __init__(self, k: int) -> None:
        self.k = k

    def eval(self, xp, x):
        return xp.diag(x, self.k)

    def vjp(self, primals, cotangents, argnums, outputs):
        x, c = primals[0], cotangents[0]
        if x.ndim == 1:
            return [diagonal(c, self.k, 0, 1)]
        return [_embed_diag(c, x._shape[0], x._shape[1], self.k)]

    def jvp(self, primals, tangents, argnums):
        return [diag(tangents[0], self.k)]

    def vmap(self, inputs, axes):
        x = move_to_front(inputs[0], axes[0])
        if x.ndim == 2:
            n = x._shape[1] + abs(self.k)
            return [_embed_diag(x, n, n, self.k)], [0]
        return [diagonal(x, self.k, 1, 2)], [0]


class Diagonal(Primitive):
    __slots__ = ("offset", "axis1", "axis2")
    name = "diagonal"

    def __init__(self, offset: int, axis1: int, axis2: int) -> None:
        self.offset = offset
        self.axis1 = axis1
        self.axis2 = axis2

    def eval(self, xp, x):
        return xp.diagonal(x, self.offset, self.axis1, self.axis2)

    def vjp(self, primals, cotangents, argnums, outputs):
        x = primals[0]
        i, j = self.axis1, self.axis2
        e = _embed_diag(cotangents[0], x._shape[i], x._shape[j], self.offset)
        return [_place_last_two(e, x.ndim, i, j)]

    def jvp(self, primals, tangents, argnums):
        return [diagonal(tangents[0], self.offset, self.axis1, self.axis2)]

    def vmap(self, inputs, axes):
        x = move_to_front(inputs[0], axes[0])
        return [diagonal(x, self.offset, self.axis1 + 1, self.axis2 + 1)], [0]


class Trace(Primitive):
    """The sum along a diagonal, accumulated in float32 for 16-bit floats."""

    __slots__ = ("offset", "axis1", "axis2", "dtype")
    name = "trace"

    def __init__(self, offset: int, axis1: int, axis2: int, dtype: dt.Dtype) -> None:
        self.offset = offset
        self.axis1 = axis1
        self.axis2 = axis2
        self.dtype = dtype

    def eval(self, xp, x):
        d = self.dtype
        acc = np.float32 if d in (dt.float16, dt.bfloat16) else d.np
        r = xp.trace(x, self.offset, self.axis1, self.axis2, dtype=acc)
        return xp.asarray(r).astype(d.np, copy=False)

    def vjp(self, primals, cotangents, argnums, outputs):
        x = primals[0]
        i, j = self.axis1, self.axis2
        n1, n2 = x._shape[i], x._shape[j]
        n = _diag_len(n1, n2, self.offset)
        c = _keep_dtype(cotangents[0], x._dtype)
        c = broadcast_to(expand_dims(c, -1), c._shape + (n,))
        e = _embed_diag(c, n1, n2, self.offset)
        return [_place_last_two(e, x.ndim, i, j)]

    def jvp(self, primals, tangents, argnums):
        return [trace(tangents[0], self.offset, self.axis1, self.axis2)]

    def vmap(self, inputs, axes):
        x = move_to_front(inputs[0], axes[0])
        return [trace(x, self.offset, self.axis1 + 1, self.axis2 + 1)], [0]


class Contiguous(Primitive):
    __slots__ = ("allow_col_major",)
    name = "contiguous"

    def __init__(self, allow_col_major: bool) -> None:
        self.allow_col_major = allow_col_major

    def eval(self, xp, x):
        x = xp.asarray(x)
        if x.flags.c_contiguous or (self.allow_col_major and x.flags.f_contiguous):
            return x
        return x.copy()

    def vjp(self, primals, cotangents, argnums, outputs):
        return [cotangents[0]]

    def jvp(self, primals, tangents, argnums):
        return [tangents[0]]

    def vmap(self, inputs, axes):
        return [contiguous(inputs[0], self.allow_col_major)], [axes[0]]


class View(Primitive):
    """The bytes of ``x`` reinterpreted as ``dtype``."""

    __slots__ = ("dtype",)
    name = "view"

    def __init__(self, dtype: dt.Dtype) -> None:
        self.dtype = dtype

    def eval(self, xp, x):
        x = xp.asarray(x)
        if x.dtype.itemsize != self.dtype.size:
            x = _c(xp, x)
        return x.view(self.dtype.np)

    def _check(self, x: array, what: str) -> None:
        if x._dtype is not self.dtype:  # as MLX: only a view as the same dtype is linear
            raise ValueError(
                f"[view] Cannot compute the {what} of a view from {x._dtype} to {self.dtype}."
            )

    def vjp(self, primals, cotangents, argnums, outputs):
        self._check(primals[0], "vjp")
        return [cotangents[0]]

    def jvp(self, primals, tangents, argnums):
        self._check(primals[0], "jvp")
        return [tangents[0]]

    def vmap(self, inputs, axes):
        x, ax = inputs[0], axes[0]
        if x._dtype.size == self.dtype.size:
            return [view(x, self.dtype)], [ax]
        return [view(move_to_front(x, ax), self.dtype)], [0]


_TRANSPOSE_CACHE: dict = {}


def _transpose_prim(axes: tuple) -> Transpose:
    p = _TRANSPOSE_CACHE.get(axes)
    if p is None:
        if len(_TRANSPOSE_CACHE) > 256:
            _TRANSPOSE_CACHE.clear()
        p = _TRANSPOSE_CACHE[axes] = Transpose(axes)
    return p


# -- reshaping -------------------------------------------------------------------------------
def _reshape_node(a: array, shape: tuple, stream) -> array:
    return node(Reshape(shape), (a,), shape, a._dtype, resolve_stream(stream))


def _infer_shape(size: int, shape: tuple, op: str) -> tuple:
    n = 1
    for s in shape:
        if s < 0:
            break
        n *= s
    else:
        if n == size:
            return shape
    infer = -1
    known = 1
    for i, s in enumerate(shape):
        if s == -1:
            if infer >= 0:
                raise ValueError(f"[{op}] Reshape can only infer one dimension.")
            infer = i
        elif s < 0:
            raise ValueError(
                f"[{op}] Cannot reshape array of size {size} into shape {fmt_shape(shape)}."
            )
        else:
            known *= s
    if infer >= 0:
        if known == 0:
            raise ValueError(f"[{op}] Cannot infer the shape of an empty array")
        shape = shape[:infer] + (size // known,) + shape[infer + 1 :]
        known *= size // known
    if known != size:
        raise ValueError(
            f"[{op}] Cannot reshape array of size {size} into shape {fmt_shape(shape)}."
        )
    return shape


def reshape(a, /, shape, *, stream=None) -> array:
    """``a`` with a new shape of the same size; one entry may be ``-1`` (inferred)."""
    if type(a) is not array:
        a = as_array(a, "reshape")
    shape = _ints(shape, "reshape", "Shape entries")
    shape = _infer_shape(a.size, shape, "reshape")
    return _reshape_node(a, shape, stream)


def flatten(a, /, start_axis=0, end_axis=-1, *, stream=None) -> array:
    """``a`` with the axes ``start_axis..end_axis`` (inclusive) merged into one."""
    a = as_array(a, "flatten")
    nd = a.ndim
    if nd == 0:
        return _reshape_node(a, (1,), stream)
    s = _int(start_axis, "flatten")
    e = _int(end_axis, "flatten")
    s = max(s + nd if s < 0 else s, 0)
    e = min(e + nd if e < 0 else e, nd - 1)
    if s > e:
        raise ValueError("[flatten] start_axis must be less than or equal to end_axis")
    sh = a._shape
    return _reshape_node(a, sh[:s] + (_prod(sh[s : e + 1]),) + sh[e + 1 :], stream)


def unflatten(a, /, axis, shape, *, stream=None) -> array:
    """``a`` with ``axis`` split into ``shape`` (one entry may be ``-1``)."""
    a = as_array(a, "unflatten")
    shape = _ints(shape, "unflatten", "Shape entries")
    if not shape:  # checked before the axis, as MLX does
        raise ValueError("[unflatten] Shape to unflatten to cannot be empty.")
    ax = _axis(axis, a.ndim, "unflatten", "Invalid axes {axis} for array with {ndim} dimensions.")
    n = a._shape[ax]
    infer = [i for i, s in enumerate(shape) if s == -1]
    if len(infer) > 1:
        raise ValueError("[unflatten] Can only infer one dimension.")
    known = _prod(s for s in shape if s != -1)
    if infer:
        if known == 0:
            raise ValueError("[unflatten] Cannot infer the shape of an empty array")
        shape = shape[: infer[0]] + (n // known,) + shape[infer[0] + 1 :]
    if any(s < 0 for s in shape) or _prod(shape) != n:
        raise ValueError(
            f"[unflatten] Cannot unflatten axis {ax} with size {n} into shape {fmt_shape(shape)}."
        )
    sh = a._shape
    return _reshape_node(a, sh[:ax] + shape + sh[ax + 1 :], stream)


def squeeze(a, /, axis=None, *, stream=None) -> array:
    """``a`` without the given size-one axes (all of them by default)."""
    a = as_array(a, "squeeze")
    sh = a._shape
    if axis is None:
        return _reshape_node(a, tuple(s for s in sh if s != 1), stream)
    axes = [_axis(x, a.ndim, "squeeze") for x in _ints(axis, "squeeze")]
    if len(set(axes)) != len(axes):
        raise ValueError("[squeeze] Received duplicate axes.")
    for ax in axes:
        if sh[ax] != 1:
            raise ValueError(
                f"[squeeze] Cannot squeeze axis {ax} with size {sh[ax]} which is not equal to 1."
            )
    return _reshape_node(a, tuple(s for i, s in enumerate(sh) if i not in axes), stream)


def expand_dims(a, /, axis, *, stream=None) -> array:
    """``a`` with size-one axes inserted at the positions ``axis`` of the result."""
    a = as_array(a, "expand_dims")
    axes = _ints(axis, "expand_dims")
    nd = a.ndim + len(axes)
    axes = [_axis(x, nd, "expand_dims") for x in axes]
    if len(set(axes)) != len(axes):
        raise ValueError("[expand_dims] Received duplicate axes.")
    it = iter(a._shape)
    shape = tuple(1 if i in axes else next(it) for i in range(nd))
    return _reshape_node(a, shape, stream)


def _atleast(n: int, name: str):
    def op(*arys, stream=None):
        outs = []
        for a in arys:
            a = as_array(a, name)
            nd = a.ndim
            if nd >= n:
                outs.append(a)
                continue
            sh = a._shape
            if n == 1 or nd == 0:
                shape = (1,) * n
            elif n == 2 or nd == 2:
                shape = (1,) + sh if n == 2 else sh + (1,)
            else:  # 1-d to 3-d
                shape = (1,) + sh + (1,)
            outs.append(_reshape_node(a, shape, stream))
        return outs[0] if len(outs) == 1 else outs

    op.__name__ = op.__qualname__ = name
    op.__doc__ = f"Each input viewed with at least {n} dimensions (a list when several are given)."
    return op


atleast_1d = _atleast(1, "atleast_1d")
atleast_2d = _atleast(2, "atleast_2d")
atleast_3d = _atleast(3, "atleast_3d")


# -- axis permutations -----------------------------------------------------------------------
def _transpose_node(a: array, axes: tuple, stream) -> array:
    sh = a._shape
    return node(
        _transpose_prim(axes), (a,), tuple(sh[i] for i in axes), a._dtype, resolve_stream(stream)
    )


def transpose(a, /, axes=None, *, stream=None) -> array:
    """``a`` with its axes permuted (reversed by default): output axis ``i`` is input axis
    ``axes[i]``."""
    if type(a) is not array:
        a = as_array(a, "transpose")
    nd = len(a._shape)
    if axes is None:
        return _transpose_node(a, tuple(range(nd - 1, -1, -1)), stream)
    axes = _ints(axes, "transpose")
    if len(axes) != nd:
        raise ValueError(f"[transpose] Received {len(axes)} axes for array with {nd} dimensions.")
    out = []
    for ax in axes:
        ax = ax + nd if ax < 0 else ax
        if not 0 <= ax < nd:
            raise IndexError(f"[transpose] Invalid axis ({ax}) for array with {nd} dimensions.")
        out.append(ax)
    if len(set(out)) != nd:
        raise ValueError("[transpose] Repeat axes not allowed.")
    return _transpose_node(a, tuple(out), stream)


permute_dims = transpose


def matrix_transpose(a, /, *, stream=None) -> array:
    """``a`` with its last two axes swapped."""
    a = as_array(a, "matrix_transpose")
    nd = a.ndim
    if nd < 2:
        raise ValueError("[matrix_transpose] Input array must have at least 2 dimensions.")
    return _transpose_node(a, tuple(range(nd - 2)) + (nd - 1, nd - 2), stream)


_INVALID = "Invalid axis {axis} for array with {ndim} dimensions."


def swapaxes(a, /, axis1, axis2, *, stream=None) -> array:
    """``a`` with ``axis1`` and ``axis2`` exchanged."""
    a = as_array(a, "swapaxes")
    nd = a.ndim
    i = _axis(axis1, nd, "swapaxes", _INVALID)
    j = _axis(axis2, nd, "swapaxes", _INVALID)
    axes = list(range(nd))
    axes[i], axes[j] = j, i
    return _transpose_node(a, tuple(axes), stream)


def moveaxis(a, /, source, destination, *, stream=None) -> array:
    """``a`` with axis ``source`` moved to position ``destination``."""
    a = as_array(a, "moveaxis")
    nd = a.ndim
    s = _axis(source, nd, "moveaxis", _INVALID)
    d = _axis(destination, nd, "moveaxis", _INVALID)
    axes = [i for i in range(nd) if i != s]
    axes.insert(d, s)
    return _transpose_node(a, tuple(axes), stream)


# -- broadcasting ----------------------------------------------------------------------------
def broadcast_shapes(*shapes) -> tuple:
    """The shape that all ``shapes`` broadcast to (ValueError when they cannot)."""
    if not shapes:
        raise ValueError("[broadcast_shapes] Must provide at least one shape.")
    return _bs(*(tuple(_ints(s, "broadcast_shapes", "Shape entries")) for s in shapes))


def broadcast_to(a, /, shape, *, stream=None) -> array:
    """``a`` broadcast to ``shape`` (a view, no copy)."""
    if type(a) is not array:
        a = as_array(a, "broadcast_to")
    shape = _ints(shape, "broadcast_to", "Shape entries")
    sh = a._shape
    if sh == shape:
        return a
    for s in shape:
        if s < 0:
            raise ValueError("[broadcast_to] Negative dimensions not allowed.")
    if len(shape) < len(sh):
        raise ValueError(
            f"[broadcast_to] Cannot broadcast array of shape {fmt_shape(sh)} into shape {fmt_shape(shape)}."
        )
    off = len(shape) - len(sh)
    for i, s in enumerate(sh):
        if s != 1 and s != shape[off + i]:
            raise ValueError(
                f"[broadcast_to] Shapes {fmt_shape(sh)} and {fmt_shape(shape)} cannot be broadcast."
            )
    return node(BroadcastTo(shape), (a,), shape, a._dtype, resolve_stream(stream))


def broadcast_arrays(*arrays, stream=None) -> list:
    """The arrays broadcast against one another (views)."""
    arrays = [as_array(a, "broadcast_arrays") for a in arrays]
    if not arrays:
        return []
    shape = _bs(*(a._shape for a in arrays), op="broadcast_arrays")
    return [broadcast_to(a, shape, stream=stream) for a in arrays]


def as_strided(a, /, shape=None, strides=None, offset=0, *, stream=None) -> array:
    """A view with ``shape`` and ``strides`` (in elements) into the row-contiguous data of
    ``a``, starting ``offset`` elements in. Views reaching outside ``a`` are refused."""
    a = as_array(a, "as_strided")
    shape = a._shape if shape is None else _ints(shape, "as_strided", "Shape entries")
    if strides is None:
        st, acc = [], 1
        for s in reversed(shape):
            st.append(acc)
            acc *= s
        strides = tuple(reversed(st))
    else:
        strides = _ints(strides, "as_strided", "Strides")
    offset = _int(offset, "as_strided", "offset")
    if len(strides) != len(shape):
        raise ValueError(
            f"[as_strided] Got {len(strides)} strides for a shape of {len(shape)} dimensions."
        )
    if any(s < 0 for s in shape):
        raise ValueError("[as_strided] Negative dimensions not allowed.")
    if _prod(shape) > 0:
        lo = offset + sum(min(0, (n - 1) * s) for n, s in zip(shape, strides))
        hi = offset + sum(max(0, (n - 1) * s) for n, s in zip(shape, strides))
        if lo < 0 or hi >= a.size:
            raise ValueError(
                f"[as_strided] The view reaches elements [{lo}, {hi}] outside the array of size {a.size}."
            )
    elif not 0 <= offset <= a.size:
        raise ValueError(f"[as_strided] Offset {offset} outside the array of size {a.size}.")
    return node(AsStrided(shape, strides, offset), (a,), shape, a._dtype, resolve_stream(stream))


# -- diagonals -------------------------------------------------------------------------------
def _diag_len(r: int, c: int, k: int) -> int:
    return max(0, min(r, c - k) if k >= 0 else min(r + k, c))


def diag(a, /, k=0, *, stream=None) -> array:
    """The ``k``-th diagonal of a 2-D ``a``, or a 2-D array with 1-D ``a`` on that diagonal."""
    a = as_array(a, "diag")
    k = _int(k, "diag", "k")
    if a.ndim == 1:
        n = a._shape[0] + abs(k)
        shape = (n, n)
    elif a.ndim == 2:
        shape = (_diag_len(*a._shape, k),)
    else:
        raise ValueError(f"[diag] array must be 1-D or 2-D, got array with {a.ndim} dimensions.")
    return node(Diag(k), (a,), shape, a._dtype, resolve_stream(stream))


def _diag_axes(a: array, offset, axis1, axis2, op: str):
    nd = a.ndim
    if nd < 2:
        raise ValueError(
            f"[{op}] Array must have at least two dimensions, but got {nd} dimensions."
        )
    offset = _int(offset, op, "offset")
    i = _axis(axis1, nd, op, "Invalid axis1 {axis} for array with {ndim} dimensions.")
    j = _axis(axis2, nd, op, "Invalid axis2 {axis} for array with {ndim} dimensions.")
    if i == j:
        raise ValueError(f"[{op}] axis1 and axis2 cannot be the same axis")
    sh = a._shape
    rest = tuple(s for n, s in enumerate(sh) if n != i and n != j)
    return offset, i, j, rest, _diag_len(sh[i], sh[j], offset)


def diagonal(a, offset=0, axis1=0, axis2=1, stream=None) -> array:
    """The diagonals of the 2-D slices over ``axis1`` and ``axis2`` (a view); the diagonal
    becomes the last axis."""
    a = as_array(a, "diagonal")
    offset, i, j, rest, n = _diag_axes(a, offset, axis1, axis2, "diagonal")
    return node(Diagonal(offset, i, j), (a,), rest + (n,), a._dtype, resolve_stream(stream))


_SUM_DTYPE = {
    dt.bool_: dt.int32,
    dt.int8: dt.int32,
    dt.int16: dt.int32,
    dt.uint8: dt.uint32,
    dt.uint16: dt.uint32,
}


def trace(a, /, offset=0, axis1=0, axis2=1, dtype=None, *, stream=None) -> array:
    """The sum along a diagonal (``a`` cast to ``dtype`` first; small ints sum as 32-bit)."""
    a = as_array(a, "trace")
    offset, i, j, rest, _ = _diag_axes(a, offset, axis1, axis2, "trace")
    s = resolve_stream(stream)
    if dtype is not None:
        a = cast(a, dt.to_dtype(dtype, "trace"), s)
    d = _SUM_DTYPE.get(a._dtype, a._dtype)
    return node(Trace(offset, i, j, d), (a,), rest, d, s)


# -- memory layout ---------------------------------------------------------------------------
def contiguous(a, /, allow_col_major=False, *, stream=None) -> array:
    """``a`` in row-contiguous memory (column-major accepted with ``allow_col_major``)."""
    a = as_array(a, "contiguous")
    return node(Contiguous(bool(allow_col_major)), (a,), a._shape, a._dtype, resolve_stream(stream))


def view(a, dtype, stream=None) -> array:
    """The bytes of ``a`` read as ``dtype``; the last axis scales when the sizes differ."""
    a = as_array(a, "view")
    d = dt.to_dtype(dtype, "view")
    ib, ob = a._dtype.size, d.size
    sh = a._shape
    if ib != ob:
        if not sh:
            raise ValueError(
                "[view] Changing the type of a scalar is only allowed for types with the same size."
            )
        last = sh[-1] * ib
        if last % ob:
            raise ValueError(
                "[view] When viewing as a larger dtype, the size in bytes of the last axis must be "
                "a multiple of the requested type size."
            )
        sh = sh[:-1] + (last // ob,)
    return node(View(d), (a,), sh, d, resolve_stream(stream))


# -- array methods ---------------------------------------------------------------------------
def _m_reshape(self, *shape, stream=None):
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = shape[0]
    return reshape(self, shape, stream=stream)


def _m_transpose(self, *axes, stream=None):
    if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
        axes = axes[0]
    return transpose(self, axes if axes else None, stream=stream)


def _m_view(self, dtype, *, stream=None):
    return view(self, dtype, stream=stream)


__all__ = [
    "reshape", "flatten", "unflatten", "squeeze", "expand_dims", "atleast_1d", "atleast_2d",
    "atleast_3d", "transpose", "permute_dims", "matrix_transpose", "swapaxes", "moveaxis",
    "broadcast_shapes", "broadcast_to", "broadcast_arrays", "as_strided", "diag", "diagonal",
    "trace", "contiguous", "view",
]  # fmt: skip
METHODS = {
    "reshape": _m_reshape, "flatten": flatten, "squeeze": squeeze, "transpose": _m_transpose,
    "swapaxes": swapaxes, "moveaxis": moveaxis, "diag": diag,
    "diagonal": diagonal, "view": _m_view,
    "T": property(lambda self: transpose(self)),
    "mT": property(lambda self: matrix_transpose(self)),
}  # fmt: skip
