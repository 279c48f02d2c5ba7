"""Indexing reads: ``a[idx]``, take, take_along_axis and dynamic slices.

Every index expression is parsed once at call time into a static *key* (ints, slices,
``None`` and placeholders for index arrays) plus the index arrays, which become inputs.
Evaluation applies the key with the backend's own indexing, so basic indexing returns a
view and advanced indexing follows NumPy's placement rules (as MLX does). The writes
(``a[idx] = v``, ``.at[]``, put_along_axis, slice_update) are in ``scatter.py``.
"""

from __future__ import annotations

import numpy as np

from .. import _dtypes as dt
from .._array import array, as_array, node
from .._device import resolve_stream
from .._primitive import Primitive
from ._util import broadcast_shapes, fmt_shape

__all__ = ["take", "take_along_axis", "slice"]

_slice = slice  # ``slice`` is an op name below
_INTS = (int, np.integer)
_BAD_TYPE = "Cannot index mlx array using the given type."


class _Arr:
    """Placeholder in a static key for the ``i``-th index array input."""

    __slots__ = ("i",)

    def __init__(self, i: int) -> None:
        self.i = i

    def __eq__(self, other) -> bool:
        return type(other) is _Arr and other.i == self.i

    def __hash__(self) -> int:
        return hash(("arr", self.i))

    def __repr__(self) -> str:
        return f"<idx{self.i}>"


class BoundsError(IndexError, ValueError):
    """An index or axis out of range. MLX raises ValueError for these where NumPy and
    Python raise IndexError; being both keeps either ``except`` working."""


def _hashable(key: tuple) -> tuple:
    return tuple(("s", k.start, k.stop, k.step) if type(k) is _slice else k for k in key)


def _build(key: tuple, idx) -> tuple:
    """The backend key: placeholders replaced by the index buffers."""
    if not idx:
        return key
    return tuple(idx[k.i] if type(k) is _Arr else k for k in key)


def _fix_idx(xp, idx):
    # NumPy indexes with intp; uint64 buffers would be rejected by the casting rule.
    return [i.astype(xp.int64) if i.dtype == np.uint64 else i for i in idx]


# -- parsing --------------------------------------------------------------------------


def _index_array(x) -> array:
    """An index given as a list / umx array, checked to be integral."""
    if isinstance(x, array):
        a = x
    elif isinstance(x, list):
        a = array(x)
    else:
        raise ValueError(_BAD_TYPE)
    if a._dtype is dt.bool_ and not (a.size == 0 and isinstance(x, list)):  # [] is float in MLX
        raise ValueError("boolean indices are not yet supported")
    if a._dtype.kind not in "iu" or a._dtype is dt.bool_:
        raise ValueError("[gather] Got indices with invalid dtype. Indices must be integral.")
    return a


def _parse(shape: tuple, key):
    """Parse ``key`` for an array of ``shape``.

    Returns ``(static_key, index_arrays, out_shape)``; ``static_key`` has ints (made
    non-negative), slices, ``None`` and ``_Arr`` placeholders, one entry per output
    contribution (the Ellipsis expanded, trailing full slices dropped).
    """
    if type(key) is not tuple:
        key = (key,)
    items = []
    arrays = []
    ellipsis = -1
    ndim = len(shape)
    used = 0
    for k in key:
        if k is None:
            items.append(None)
        elif k is Ellipsis:
            if ellipsis >= 0:
                raise ValueError("An index can only have a single ellipsis (...)")
            ellipsis = len(items)
            items.append(Ellipsis)
        elif type(k) is _slice:
            items.append(k)
            used += 1
        elif isinstance(k, _INTS) and not isinstance(k, (bool, np.bool_)):
            items.append(int(k))
            used += 1
        elif isinstance(k, (array, list)):
            a = _index_array(k)
            items.append(_Arr(len(arrays)))
            arrays.append(a)
            used += 1
        else:
            raise ValueError(_BAD_TYPE)
    if used > ndim:
        if ndim == 0:
            raise ValueError("too many indices for array: array is 0-dimensional")
        raise ValueError(f"Too many indices for array with {ndim} dimensions.")
    if ellipsis >= 0:
        items[ellipsis : ellipsis + 1] = [_slice(None)] * (ndim - used)
    # Output shape, following NumPy: advanced indices (arrays and, when any array is
    # present, ints) broadcast together; their dims go where the first one is when they
    # are adjacent, else in front.
    out = []
    adv_pos = []
    axis = 0
    for pos, k in enumerate(items):
        if k is None:
            out.append(1)
            continue
        n = shape[axis]
        if type(k) is _slice:
            out.append(len(range(*k.indices(n))))
        elif type(k) is int:
            if not -n <= k < n:
                raise BoundsError(f"Index {k} is out of bounds for axis {axis} with size {n}.")
            if k < 0:
                items[pos] = k + n
            if arrays:
                adv_pos.append((pos, len(out)))
        else:
            adv_pos.append((pos, len(out)))
        axis += 1
    out.extend(shape[axis:])
    if arrays:
        b = (
            broadcast_shapes(*(a._shape for a in arrays), op="gather")
            if len(arrays) > 1
            else arrays[0]._shape
        )
        first_pos, first_out = adv_pos[0]
        adjacent = adv_pos[-1][0] - first_pos == len(adv_pos) - 1
        at = first_out if adjacent else 0
        out[at:at] = b
    while items and type(items[-1]) is _slice and items[-1] == _slice(None):
        items.pop()
    return tuple(items), arrays, tuple(out)


# -- getitem -------------------------------------------------------------------------


class Index(Primitive):
    """Basic indexing (ints, slices, newaxis): a view of the input."""

    __slots__ = ("key",)
    name = "index"

    def __init__(self, key: tuple) -> None:
        self.key = key

    def params(self) -> tuple:
        return _hashable(self.key)

    def eval(self, xp, x):
        return x[self.key]


class Gather(Primitive):
    """Advanced indexing with index arrays as inputs (NumPy placement rules)."""

    __slots__ = ("key",)
    name = "gather"

    def __init__(self, key: tuple) -> None:
        self.key = key

    def params(self) -> tuple:
        return _hashable(self.key)

    def eval(self, xp, x, *idx):
        return x[_build(self.key, _fix_idx(xp, idx))]


def getitem(a: array, key) -> array:
    """``a[key]``."""
    shape = a._shape
    if type(key) is int and shape:  # the common fast path
        n = shape[0]
        if not -n <= key < n:
            raise BoundsError(f"Index {key} is out of bounds for axis 0 with size {n}.")
        if key < 0:
            key += n
        return node(Index((key,)), (a,), shape[1:], a._dtype, resolve_stream(None))
    k, arrays, out = _parse(shape, key)
    if not k:
        return a
    if arrays:
        return node(Gather(k), (a, *arrays), out, a._dtype, resolve_stream(None))
    return node(Index(k), (a,), out, a._dtype, resolve_stream(None))


# -- take / take_along_axis ----------------------------------------------------


def _axis(axis, ndim: int, op: str, msg: str) -> int:
    if not -ndim <= axis < ndim:
        raise IndexError(msg)
    return axis + ndim if axis < 0 else axis


def _int_indices(x, op: str) -> array:
    if not isinstance(x, array):
        raise TypeError(f"[{op}] Indices must be an array, got {type(x).__name__}.")
    if x._dtype.kind not in "iu":
        raise ValueError(f"[{op}] Got indices with invalid dtype. Indices must be integral.")
    return x


class Take(Primitive):
    """``take`` along one axis (``None``: of the flattened array)."""

    __slots__ = ("axis",)
    name = "take"

    def __init__(self, axis) -> None:
        self.axis = axis

    def eval(self, xp, x, idx):
        (idx,) = _fix_idx(xp, (idx,))
        if self.axis is None:
            return x.reshape(-1)[idx]
        return x[(_slice(None),) * self.axis + (idx,)]


def take(a, /, indices, axis=None, *, stream=None) -> array:
    """Elements of ``a`` at ``indices`` along ``axis`` (the flattened ``a`` for None)."""
    a = as_array(a, "take")
    s = resolve_stream(stream)
    nd = a.ndim
    if axis is not None:
        axis = _axis(
            axis, nd, "take", f"[take] Received invalid axis {axis} for array with {nd} dimensions."
        )
    if isinstance(indices, _INTS) and not isinstance(indices, bool):
        n = a.size if axis is None else a._shape[axis]
        i = int(indices)
        if not -n <= i < n:
            raise BoundsError(f"[take] Index {i} is out of bounds for axis {axis} with size {n}.")
        i = i + n if i < 0 else i
        if axis is None:
            return node(Take(None), (a, array(i, dt.int32)), (), a._dtype, s)
        return node(
            Index((_slice(None),) * axis + (i,)),
            (a,),
            a._shape[:axis] + a._shape[axis + 1 :],
            a._dtype,
            s,
        )
    idx = _int_indices(indices, "take")
    if axis is None:
        out = idx._shape
    else:
        out = a._shape[:axis] + idx._shape + a._shape[axis + 1 :]
    return node(Take(axis), (a, idx), out, a._dtype, s)


class TakeAlongAxis(Primitive):
    __slots__ = ("axis", "shape")
    name = "take_along_axis"

    def __init__(self, axis, shape) -> None:
        self.axis = axis
        self.shape = shape  # broadcast non-axis shape (with the axis dim of the indices)

    def eval(self, xp, x, idx):
        (idx,) = _fix_idx(xp, (idx,))
        if self.axis is None:
            return x.reshape(-1)[idx]
        nd = x.ndim
        ax = self.axis
        # Broadcast the non-axis dims of x and idx against each other.
        xs = list(self.shape)
        xs[ax] = x.shape[ax]
        x = xp.broadcast_to(x, tuple(xs))
        idx = xp.broadcast_to(idx, self.shape)
        key = []
        for d in range(nd):
            if d == ax:
                key.append(idx)
            else:
                n = self.shape[d]
                key.append(xp.arange(n).reshape((1,) * d + (n,) + (1,) * (nd - d - 1)))
        return x[tuple(key)]


def _along_shape(a: array, idx: array, axis, op: str):
    if axis is None:
        if idx.ndim != 1:
            raise ValueError(
                f"[{op}] Indices of dimension {idx.ndim} does not match array of dimension 1."
            )
        return None, idx._shape
    nd = a.ndim
    axis = _axis(
        axis, nd, op, f"[{op}] Axis {axis} is out of bounds for array with {nd} dimensions."
    )
    if idx.ndim != nd:
        raise ValueError(
            f"[{op}] Indices of dimension {idx.ndim} does not match array of dimension {nd}."
        )
    rest_a = a._shape[:axis] + a._shape[axis + 1 :]
    rest_i = idx._shape[:axis] + idx._shape[axis + 1 :]
    b = broadcast_shapes(rest_a, rest_i, op="broadcast_shapes")
    return axis, b[:axis] + (idx._shape[axis],) + b[axis:]


def take_along_axis(a, /, indices, axis=-1, *, stream=None) -> array:
    """Values of ``a`` at ``indices`` along ``axis`` (indices broadcast over the others)."""
    a = as_array(a, "take_along_axis")
    idx = _int_indices(indices, "take_along_axis")
    axis, out = _along_shape(a, idx, axis, "take_along_axis")
    return node(TakeAlongAxis(axis, out), (a, idx), out, a._dtype, resolve_stream(stream))


# -- slice (dynamic starts) -----------------------------------------------------------


def _starts(xp, start, axes, shape, sizes):
    """Start offsets per dim from the ``start`` buffer: negatives wrap, then clamp."""
    vals = start.reshape(-1).tolist() if xp is np else xp.asnumpy(start).reshape(-1).tolist()
    st = [0] * len(shape)
    for ax, v in zip(axes, vals):
        n = shape[ax]
        v = int(v)
        if v < 0:
            v += n
        st[ax] = min(max(v, 0), n - sizes[ax])
    return tuple(_slice(b, b + z) for b, z in zip(st, sizes))


class DynamicSlice(Primitive):
    __slots__ = ("axes", "sizes")
    name = "slice"

    def __init__(self, axes, sizes) -> None:
        self.axes = axes
        self.sizes = sizes

    def eval(self, xp, x, start):
        return x[_starts(xp, start, self.axes, x.shape, self.sizes)]


def _check_start(start, axes, nd: int, op: str):
    if not isinstance(start, array):
        raise TypeError(f"[{op}] start_indices must be an array, got {type(start).__name__}.")
    if start._dtype.kind not in "iu":
        raise ValueError(f"[{op}] Start indices must be integers, got type {start._dtype.name}.")
    axes = tuple(int(x) for x in axes)
    if start.size != len(axes):
        raise ValueError(
            f"[{op}] Number of starting indices {start.size} does not match number of axes {len(axes)}."
        )
    out = []
    for ax in axes:
        if not -nd <= ax < nd:
            raise BoundsError(f"[{op}] Invalid axis {ax} for array with dimension {nd}.")
        out.append(ax + nd if ax < 0 else ax)
    return tuple(out)


def slice(a, start_indices, axes, slice_size, *, stream=None) -> array:
    """The sub-array of shape ``slice_size`` starting at ``start_indices`` on ``axes``."""
    a = as_array(a, "slice")
    nd = a.ndim
    axes = _check_start(start_indices, axes, nd, "slice")
    sizes = tuple(int(x) for x in slice_size)
    if len(sizes) != nd:
        raise ValueError(f"[slice] Invalid slice size for array with {nd} dimensions.")
    if any(z < 0 or z > n for z, n in zip(sizes, a._shape)):
        raise ValueError(
            f"[slice] Invalid slice size {fmt_shape(sizes)} for array with shape {fmt_shape(a._shape)}."
        )
    return node(
        DynamicSlice(axes, sizes), (a, start_indices), sizes, a._dtype, resolve_stream(stream)
    )


METHODS = {
    "__getitem__": getitem,
}


# -- transform rules ---------------------------------------------------------------------------
# The vjp of a read is a write (scatter-add of the cotangent into zeros), the vjp of a
# write is a read of the cotangent and the cotangent with the written places zeroed.
# Integer inputs (indices, starts, masks) get no gradient.

import umx as mx  # noqa: E402 - the package, for the ops the rules are written with

from .._rules import move_to_front, unbroadcast  # noqa: E402


def _user_key(key: tuple, idx) -> tuple:
    """The static key with its placeholders replaced by the index arrays."""
    return tuple(idx[k.i] if type(k) is _Arr else k for k in key)


def _read(x: array, key: tuple, idx) -> array:
    return getitem(x, _user_key(key, idx))


def _adv_layout(key: tuple):
    """For a key with index arrays: (adjacent, dims before them in the output)."""
    pos = [p for p, k in enumerate(key) if type(k) is _Arr or type(k) is int]
    adjacent = pos[-1] - pos[0] == len(pos) - 1
    before = sum(1 for k in key[: pos[0]] if k is None or type(k) is _slice)
    return adjacent, before


def _index_vjp(self, primals, cotangents, argnums, outputs):
    from .scatter import Scatter

    x = primals[0]
    c = cotangents[0]
    z = mx.zeros_like(x)
    return [node(Scatter(self.key, c.ndim), (z, c), x._shape, x._dtype, resolve_stream(None))]


def _index_jvp(self, primals, tangents, argnums):
    return [getitem(tangents[0], self.key)]


def _index_vmap(self, inputs, axes):
    x = move_to_front(inputs[0], axes[0])
    return [getitem(x, (_slice(None),) + self.key)], [0]


Index.vjp = _index_vjp
Index.jvp = _index_jvp
Index.vmap = _index_vmap


def _gather_vjp(self, primals, cotangents, argnums, outputs):
    from .scatter import ScatterAt

    x, idx = primals[0], primals[1:]
    c = cotangents[0]
    out = []
    for k in argnums:
        if k == 0:
            prim = ScatterAt(self.key, c.ndim, "add")
            z = mx.zeros_like(x)
            out.append(node(prim, (z, c, *idx), x._shape, x._dtype, resolve_stream(None)))
        else:
            out.append(None)
    return out


def _gather_jvp(self, primals, tangents, argnums):
    if 0 not in argnums:
        return None
    return [_read(tangents[argnums.index(0)], self.key, primals[1:])]


def _batch_index_arrays(idx, iaxes, size):
    """Index arrays with a leading batch dim (unbatched: size 1), padded to one rank."""
    per = [i.ndim - (a is not None) for i, a in zip(idx, iaxes)]
    r = max(per)
    out = []
    for i, a, n in zip(idx, iaxes, per):
        i = mx.expand_dims(i, 0) if a is None else move_to_front(i, a)
        if r > n:
            i = mx.expand_dims(i, tuple(range(1, 1 + r - n)))
        out.append(i)
    return out, r


def _gather_vmap(self, inputs, axes):
    x, idx = inputs[0], list(inputs[1:])
    xa, iaxes = axes[0], list(axes[1:])
    key = self.key
    adjacent, before = _adv_layout(key)
    if all(a is None for a in iaxes):
        x = move_to_front(x, xa)
        out = getitem(x, (_slice(None),) + _user_key(key, idx))
        bshape = broadcast_shapes(*(i.shape for i in idx)) if len(idx) > 1 else idx[0].shape
        return [out], [0 if adjacent else len(bshape)]
    size = next(i.shape[a] for i, a in zip(idx, iaxes) if a is not None)
    if xa is None:
        x = mx.broadcast_to(mx.expand_dims(x, 0), (size,) + x.shape)
    else:
        x = move_to_front(x, xa)
    idx, r = _batch_index_arrays(idx, iaxes, size)
    ar = mx.reshape(mx.arange(size, dtype=dt.int32), (size,) + (1,) * r)
    out = getitem(x, (ar,) + _user_key(key, idx))
    # Now the advanced dims (batch first) lead; put the dims that came before them back.
    if adjacent and before:
        perm = [0] + list(range(1 + r, 1 + r + before)) + list(range(1, 1 + r))
        perm += list(range(1 + r + before, out.ndim))
        out = mx.transpose(out, perm)
    return [out], [0]


Gather.vjp = _gather_vjp
Gather.jvp = _gather_jvp
Gather.vmap = _gather_vmap


def _take_vjp(self, primals, cotangents, argnums, outputs):
    x, idx = primals
    c = cotangents[0]
    out = []
    for k in argnums:
        if k == 0:
            if self.axis is None:
                g = mx.zeros((x.size,), x.dtype).at[idx].add(c)
                out.append(mx.reshape(g, x.shape))
            else:
                out.append(mx.zeros_like(x).at[(_slice(None),) * self.axis + (idx,)].add(c))
        else:
            out.append(None)
    return out


def _take_jvp(self, primals, tangents, argnums):
    if 0 not in argnums:
        return None
    return [take(tangents[argnums.index(0)], primals[1], axis=self.axis)]


def _take_vmap(self, inputs, axes):
    (x, idx), (xa, ia) = inputs, axes
    ax = self.axis
    if ia is None:
        x = move_to_front(x, xa)
        if ax is None:
            return [take(mx.reshape(x, (x.shape[0], -1)), idx, axis=1)], [0]
        return [take(x, idx, axis=ax + 1)], [0]
    idx = move_to_front(idx, ia)
    if xa is None:
        return [take(x, idx, axis=ax)], [0 if ax is None else ax]
    x = move_to_front(x, xa)
    size = x.shape[0]
    if ax is None:
        flat = mx.reshape(idx, (size, -1))
        out = take_along_axis(mx.reshape(x, (size, -1)), flat, axis=1)
        return [mx.reshape(out, idx.shape)], [0]
    r = idx.ndim - 1
    ar = mx.reshape(mx.arange(size, dtype=dt.int32), (size,) + (1,) * r)
    out = getitem(x, (ar,) + (_slice(None),) * ax + (idx,))
    if ax:  # (B, idx dims, before, after) -> (B, before, idx dims, after)
        perm = [0] + list(range(1 + r, 1 + r + ax)) + list(range(1, 1 + r))
        out = mx.transpose(out, perm + list(range(1 + r + ax, out.ndim)))
    return [out], [0]


Take.vjp = _take_vjp
Take.jvp = _take_jvp
Take.vmap = _take_vmap


def _take_along_vjp(self, primals, cotangents, argnums, outputs):
    x, idx = primals
    c = cotangents[0]
    out = []
    for k in argnums:
        if k != 0:
            out.append(None)
            continue
        if self.axis is None:
            g = mx.zeros((x.size,), x.dtype).at[idx].add(c)
            out.append(mx.reshape(g, x.shape))
            continue
        ax = self.axis
        full = list(self.shape)
        full[ax] = x.shape[ax]
        ib = mx.broadcast_to(idx, self.shape)
        key = []
        for d in range(len(full)):
            if d == ax:
                key.append(ib)
            else:
                s = [1] * len(full)
                s[d] = full[d]
                key.append(mx.reshape(mx.arange(full[d], dtype=dt.int32), s))
        g = mx.zeros(tuple(full), x.dtype).at[tuple(key)].add(c)
        out.append(unbroadcast(g, x.shape))
    return out


def _take_along_jvp(self, primals, tangents, argnums):
    if 0 not in argnums:
        return None
    return [take_along_axis(tangents[argnums.index(0)], primals[1], axis=self.axis)]


def _along_vmap_inputs(inputs, axes):
    return [
        mx.expand_dims(x, 0) if a is None else move_to_front(x, a) for x, a in zip(inputs, axes)
    ]


def _take_along_vmap(self, inputs, axes):
    x, idx = _along_vmap_inputs(inputs, axes)
    if self.axis is None:
        out = take_along_axis(mx.reshape(x, (x.shape[0], -1)), idx, axis=1)
        return [out], [0]
    return [take_along_axis(x, idx, axis=self.axis + 1)], [0]


TakeAlongAxis.vjp = _take_along_vjp
TakeAlongAxis.jvp = _take_along_jvp
TakeAlongAxis.vmap = _take_along_vmap


def _dslice_vjp(self, primals, cotangents, argnums, outputs):
    from .scatter import slice_update

    x, start = primals
    return [
        slice_update(mx.zeros_like(x), cotangents[0], start, self.axes) if k == 0 else None
        for k in argnums
    ]


def _dslice_jvp(self, primals, tangents, argnums):
    if 0 not in argnums:
        return None
    return [slice(tangents[argnums.index(0)], primals[1], self.axes, self.sizes)]


def _dslice_vmap(self, inputs, axes):
    (x, start), (xa, sa) = inputs, axes
    if sa is not None:
        raise NotImplementedError  # a start per batch element: loop
    x = move_to_front(x, xa)
    return [slice(x, start, [a + 1 for a in self.axes], (x.shape[0],) + self.sizes)], [0]


DynamicSlice.vjp = _dslice_vjp
DynamicSlice.jvp = _dslice_jvp
DynamicSlice.vmap = _dslice_vmap
