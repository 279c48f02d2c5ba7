"""Sorting and selection: sort, argsort, partition, argpartition, topk, searchsorted, unique.

Sorts are stable with NaN last (NumPy's and MLX's order); index outputs are uint32 as in
MLX. ``axis=None`` works on the flattened array.
"""

from __future__ import annotations

import operator
from functools import lru_cache

import ml_dtypes
import numpy as np

from .. import _dtypes as dt
from .._array import array, as_array, node
from .._device import resolve_stream
from .._primitive import Primitive, multi_node
from .unary import cast

_BF16 = np.dtype(ml_dtypes.bfloat16)
_F32 = np.dtype(np.float32)
_U32 = np.dtype(np.uint32)


def _keys(x):
    """A buffer NumPy/CuPy order correctly: ml_dtypes' bfloat16 compares NaN wrongly, so it
    is widened (exactly) to float32."""
    return x.astype(_F32) if x.dtype == _BF16 else x


def _stable(xp) -> dict:
    return {"kind": "stable"} if xp is np else {}


def _flat(x, axis):
    return (x.reshape(-1), -1) if axis is None else (x, axis)


@lru_cache(maxsize=2048)
def _axis(op: str, shape: tuple, axis):
    """The (shape, axis) an op works on: ``axis=None`` flattens. IndexError as MLX."""
    if axis is None:
        n = 1
        for s in shape:
            n *= s
        return (n,), 0
    if not isinstance(axis, int) or isinstance(axis, bool):
        try:
            axis = operator.index(axis)
        except TypeError:
            raise TypeError(
                f"[{op}] axis must be an int or None, got {type(axis).__name__}."
            ) from None
    nd = len(shape)
    if not -nd <= axis < nd:
        raise IndexError(f"[{op}] Axis {axis} is out of bounds for array with {nd} dimensions.")
    return shape, axis + nd if axis < 0 else axis


class Sort(Primitive):
    __slots__ = ("axis",)
    name = "sort"

    def __init__(self, axis) -> None:
        self.axis = axis

    def eval(self, xp, x):
        x, ax = _flat(x, self.axis)
        if x.dtype == _BF16:
            return xp.sort(x.astype(_F32), axis=ax, **_stable(xp)).astype(_BF16)
        return xp.sort(x, axis=ax, **_stable(xp))


class ArgSort(Primitive):
    __slots__ = ("axis",)
    name = "argsort"

    def __init__(self, axis) -> None:
        self.axis = axis

    def eval(self, xp, x):
        x, ax = _flat(x, self.axis)
        return xp.argsort(_keys(x), axis=ax, **_stable(xp)).astype(_U32)


def _canon_axis(axis, ax):
    """The primitive's axis parameter: None to flatten, else a non-negative axis."""
    return None if axis is None else ax


def sort(a, /, axis=-1, *, stream=None) -> array:
    """A sorted copy of ``a`` along ``axis`` (stable, NaN last)."""
    a = as_array(a, "sort")
    shape, ax = _axis("sort", a._shape, axis)
    return node(Sort(_canon_axis(axis, ax)), (a,), shape, a._dtype, resolve_stream(stream))


def argsort(a, /, axis=-1, *, stream=None) -> array:
    """The uint32 indices that sort ``a`` along ``axis`` (stable, NaN last)."""
    a = as_array(a, "argsort")
    shape, ax = _axis("argsort", a._shape, axis)
    return node(ArgSort(_canon_axis(axis, ax)), (a,), shape, dt.uint32, resolve_stream(stream))


class Partition(Primitive):
    __slots__ = ("kth", "axis")
    name = "partition"

    def __init__(self, kth: int, axis) -> None:
        self.kth = kth
        self.axis = axis

    def eval(self, xp, x):
        x, ax = _flat(x, self.axis)
        if x.dtype == _BF16:
            return xp.partition(x.astype(_F32), self.kth, axis=ax).astype(_BF16)
        return xp.partition(x, self.kth, axis=ax)


class ArgPartition(Primitive):
    __slots__ = ("kth", "axis")
    name = "argpartition"

    def __init__(self, kth: int, axis) -> None:
        self.kth = kth
        self.axis = axis

    def eval(self, xp, x):
        x, ax = _flat(x, self.axis)
        return xp.argpartition(_keys(x), self.kth, axis=ax).astype(_U32)


def _kth(op: str, kth, n: int, axis, shape) -> int:
    kth = int(kth)
    if not -n <= kth < n:
        from ._util import fmt_shape

        raise ValueError(
            f"[{op}] Received invalid kth {kth} along axis {axis} for array with shape: {fmt_shape(shape)}"
        )
    return kth + n if kth < 0 else kth


def partition(a, /, kth: int, axis=-1, *, stream=None) -> array:
    """A copy of ``a`` with the element at ``kth`` in its sorted place, smaller ones before
    it and larger ones after (in no particular order)."""
    a = as_array(a, "partition")
    shape, ax = _axis("partition", a._shape, axis)
    k = _kth("partition", kth, shape[ax], axis, a._shape)
    return node(Partition(k, _canon_axis(axis, ax)), (a,), shape, a._dtype, resolve_stream(stream))


def argpartition(a, /, kth: int, axis=-1, *, stream=None) -> array:
    """The uint32 indices that partition ``a`` around its ``kth`` element."""
    a = as_array(a, "argpartition")
    shape, ax = _axis("argpartition", a._shape, axis)
    k = _kth("argpartition", kth, shape[ax], axis, a._shape)
    return node(
        ArgPartition(k, _canon_axis(axis, ax)), (a,), shape, dt.uint32, resolve_stream(stream)
    )


class TopK(Primitive):
    """The ``k`` largest elements along an axis, the smallest of them first (the rest in no
    particular order), as MLX's partition-based topk gives them."""

    __slots__ = ("k", "axis")
    name = "topk"

    def __init__(self, k: int, axis) -> None:
        self.k = k
        self.axis = axis

    def eval(self, xp, x):
        x, ax = _flat(x, self.axis)
        n = x.shape[ax]
        k = self.k
        if k == n:  # everything, in the input's order (as MLX)
            return x
        if k == 0:
            shape = list(x.shape)
            shape[ax] = 0
            return xp.empty(tuple(shape), x.dtype)
        bf = x.dtype == _BF16
        p = xp.partition(x.astype(_F32) if bf else x, n - k, axis=ax)
        idx = [slice(None)] * p.ndim
        idx[ax] = slice(n - k, None)
        out = p[tuple(idx)]
        if bf:
            return out.astype(_BF16)
        return out.copy() if 2 * k < n else out


def topk(a, /, k: int, axis=-1, *, stream=None) -> array:
    """The ``k`` largest elements of ``a`` along ``axis`` (not sorted)."""
    a = as_array(a, "topk")
    shape, ax = _axis("topk", a._shape, axis)
    k = int(k)
    if not 0 <= k <= shape[ax]:
        from ._util import fmt_shape

        raise ValueError(
            f"[topk] Received invalid k={k} along axis {axis} for array with shape: {fmt_shape(a._shape)}"
        )
    out = shape[:ax] + (k,) + shape[ax + 1 :]
    return node(TopK(k, _canon_axis(axis, ax)), (a,), out, a._dtype, resolve_stream(stream))


class SearchSorted(Primitive):
    __slots__ = ("side",)
    name = "searchsorted"

    def __init__(self, side: str) -> None:
        self.side = side

    def eval(self, xp, seq, values):
        return xp.searchsorted(_keys(seq), _keys(values), side=self.side).astype(_U32)


_SEARCH = {"left": SearchSorted("left"), "right": SearchSorted("right")}


def searchsorted(sorted_sequence, values, /, side: str = "left", *, stream=None) -> array:
    """Indices (uint32) where ``values`` would be inserted to keep the 1-D
    ``sorted_sequence`` sorted."""
    seq = as_array(sorted_sequence, "searchsorted")
    values = as_array(values, "searchsorted")
    if seq.ndim != 1:
        raise ValueError(
            f"[searchsorted] The sorted sequence must be 1-D but has {seq.ndim} dimensions."
        )
    prim = _SEARCH.get(side)
    if prim is None:
        raise ValueError(f"[searchsorted] Invalid side '{side}'. Expected 'left' or 'right'.")
    s = resolve_stream(stream)
    d = dt.promote_types(seq._dtype, values._dtype)
    return node(prim, (cast(seq, d, s), cast(values, d, s)), values._shape, dt.uint32, s)


class Unique(Primitive):
    """Sorted unique values of the flattened input, padded / truncated to ``size``; with
    the first index, inverse and counts as asked."""

    __slots__ = ("size", "outputs", "has_fill")
    name = "unique"
    multi = True

    def __init__(self, size: int, outputs: tuple, has_fill: bool) -> None:
        self.size = size
        self.outputs = outputs  # which of (index, inverse, counts) are returned
        self.has_fill = has_fill

    def eval(self, xp, x, *fill):
        size = self.size
        flat = x.reshape(-1)
        n = flat.size
        order = xp.argsort(_keys(flat), **_stable(xp))
        sv = flat[order]
        first = xp.ones(n, dtype=bool)
        if n > 1:
            xp.not_equal(sv[1:], sv[:-1], out=first[1:])
        starts = xp.nonzero(first)[0]
        uniq = sv[starts][:size]
        m = uniq.shape[0]
        values = xp.empty(size, x.dtype)
        values[:m] = uniq
        if m < size:
            values[m:] = fill[0].reshape(()) if self.has_fill else uniq[0]
        outs = [values]
        want_index, want_inverse, want_counts = self.outputs
        if want_index:
            index = xp.zeros(size, _U32)
            first_idx = order[starts][:size].astype(_U32)
            index[:m] = first_idx
            if m < size and m:
                index[m:] = first_idx[0]
            outs.append(index)
        if want_inverse:
            group = xp.cumsum(first) - 1
            inv = xp.empty(n, _U32)
            inv[order] = xp.minimum(group, max(size - 1, 0)).astype(_U32) if size else 0
            outs.append(inv.reshape(x.shape))
        if want_counts:
            ends = xp.concatenate([starts[1:], xp.asarray([n], dtype=starts.dtype)])
            counts = xp.zeros(size, np.int32)
            counts[:m] = (ends - starts)[:size].astype(np.int32)
            outs.append(counts)
        return tuple(outs)


def unique(
    a,
    /,
    size: int,
    return_index: bool = False,
    return_inverse: bool = False,
    return_counts: bool = False,
    fill_value=None,
    *,
    stream=None,
):
    """The sorted unique elements of the flattened ``a``, exactly ``size`` of them
    (padded with ``fill_value`` or truncated). Optionally also the index of each one's
    first occurrence, the inverse indices (shape of ``a``) and the counts."""
    a = as_array(a, "unique")
    if not isinstance(size, (int, np.integer)) or isinstance(size, bool):
        raise TypeError(f"[unique] size must be an int, got {type(size).__name__}.")
    size = int(size)
    if size < 0:
        raise ValueError(f"[unique] Received negative size {size}.")
    s = resolve_stream(stream)
    inputs = (a,)
    if fill_value is not None:
        f = as_array(fill_value, "unique")
        if f.size != 1:
            from ._util import fmt_shape

            raise ValueError(
                f"[unique] Fill value must have one element, but got shape {fmt_shape(f._shape)}."
            )
        inputs = (a, cast(f, a._dtype, s))
    elif a.size == 0 and size > 0:
        raise ValueError(
            "[unique] A fill value is required for an empty input with a non-zero size."
        )
    flags = (bool(return_index), bool(return_inverse), bool(return_counts))
    shapes = [(size,)]
    dtypes = [a._dtype]
    for want, shp, d in zip(flags, [(size,), a._shape, (size,)], [dt.uint32, dt.uint32, dt.int32]):
        if want:
            shapes.append(shp)
            dtypes.append(d)
    prim = Unique(size, flags, fill_value is not None)
    if len(shapes) == 1:
        # A single output still goes through the multi-output path for one eval.
        return multi_node(prim, inputs, shapes, dtypes, s)[0]
    return tuple(multi_node(prim, inputs, shapes, dtypes, s))


__all__ = ["sort", "argsort", "partition", "argpartition", "topk", "searchsorted", "unique"]
METHODS: dict = {}


# -- transform rules ---------------------------------------------------------------------------
# Values move with their indices: the vjp scatters the cotangent back through the
# permutation (argsort / argpartition, which order ties as the values do), the jvp gathers
# the tangent. Index outputs have zero gradients, as in MLX.

import umx as mx  # noqa: E402 - the package, for the ops the rules are written with

from .._rules import move_to_front, vmap_by_loop, zero_jvp, zero_vjp  # noqa: E402


def _perm_axis(x, axis):
    """``x`` flattened when ``axis`` is None, and the axis the permutation runs along."""
    return (mx.reshape(x, (-1,)), 0) if axis is None else (x, axis)


def _scatter_back(x, idx, c, axis):
    """The vjp of ``take_along_axis(x, idx, axis)`` for a permutation-like ``idx``."""
    flat, ax = _perm_axis(x, axis)
    z = mx.zeros_like(flat)
    # Each position is taken at most once, so writing is the same as accumulating.
    g = mx.put_along_axis(z, idx, c, axis=ax)
    return mx.reshape(g, x.shape) if axis is None else g


def _gather(t, idx, axis):
    flat, ax = _perm_axis(t, axis)
    return mx.take_along_axis(flat, idx, axis=ax)


def _front(inputs, axes):
    return move_to_front(inputs[0], axes[0])


def _vaxis(self, x):
    """(batched input, axis) for a rule that reruns the op on the batched input."""
    if self.axis is None:
        return mx.reshape(x, (x.shape[0], -1)), 1
    return x, self.axis + 1


def _sort_indices(self, x):
    return argsort(x, axis=self.axis)


def _sort_vjp(self, primals, cotangents, argnums, outputs):
    x = primals[0]
    return [_scatter_back(x, _sort_indices(self, x), cotangents[0], self.axis)]


def _sort_jvp(self, primals, tangents, argnums):
    return [_gather(tangents[0], _sort_indices(self, primals[0]), self.axis)]


def _sort_vmap(self, inputs, axes):
    x, ax = _vaxis(self, _front(inputs, axes))
    return [sort(x, axis=ax)], [0]


Sort.vjp = _sort_vjp
Sort.jvp = _sort_jvp
Sort.vmap = _sort_vmap


def _partition_indices(self, x):
    return argpartition(x, self.kth, axis=self.axis)


def _partition_vjp(self, primals, cotangents, argnums, outputs):
    x = primals[0]
    return [_scatter_back(x, _partition_indices(self, x), cotangents[0], self.axis)]


def _partition_jvp(self, primals, tangents, argnums):
    return [_gather(tangents[0], _partition_indices(self, primals[0]), self.axis)]


def _partition_vmap(self, inputs, axes):
    x, ax = _vaxis(self, _front(inputs, axes))
    return [partition(x, self.kth, axis=ax)], [0]


Partition.vjp = _partition_vjp
Partition.jvp = _partition_jvp
Partition.vmap = _partition_vmap


def _topk_indices(self, x):
    """Where the outputs of topk come from (the same selection as the kernel's)."""
    flat, ax = _perm_axis(x, self.axis)
    n = flat.shape[ax]
    k = self.k
    if k == n:
        shape = [1] * flat.ndim
        shape[ax] = n
        r = mx.reshape(mx.arange(n, dtype=dt.uint32), shape)
        return mx.broadcast_to(r, flat.shape)
    p = argpartition(flat, n - k, axis=ax)
    idx = [slice(None)] * flat.ndim
    idx[ax] = slice(n - k, None)
    return p[tuple(idx)]


def _topk_vjp(self, primals, cotangents, argnums, outputs):
    x = primals[0]
    flat, ax = _perm_axis(x, self.axis)
    idx = _topk_indices(self, x)
    g = mx.zeros_like(flat).at[_along(idx, ax)].add(cotangents[0])
    return [mx.reshape(g, x.shape) if self.axis is None else g]


def _along(idx, ax):
    """The advanced-index key that reads ``idx`` along ``ax`` (open mesh elsewhere)."""
    nd = idx.ndim
    key = []
    for d in range(nd):
        if d == ax:
            key.append(idx)
        else:
            shape = [1] * nd
            shape[d] = idx.shape[d]
            key.append(mx.reshape(mx.arange(idx.shape[d], dtype=dt.uint32), shape))
    return tuple(key)


def _topk_jvp(self, primals, tangents, argnums):
    return [_gather(tangents[0], _topk_indices(self, primals[0]), self.axis)]


def _topk_vmap(self, inputs, axes):
    x, ax = _vaxis(self, _front(inputs, axes))
    return [topk(x, self.k, axis=ax)], [0]


TopK.vjp = _topk_vjp
TopK.jvp = _topk_jvp
TopK.vmap = _topk_vmap


def _arg_vmap(fn):
    def rule(self, inputs, axes):
        x, ax = _vaxis(self, _front(inputs, axes))
        if isinstance(self, ArgPartition):
            return [fn(x, self.kth, axis=ax)], [0]
        return [fn(x, axis=ax)], [0]

    return rule


ArgSort.vjp = ArgPartition.vjp = SearchSorted.vjp = Unique.vjp = zero_vjp
ArgSort.jvp = ArgPartition.jvp = SearchSorted.jvp = Unique.jvp = zero_jvp
ArgSort.vmap = _arg_vmap(argsort)
ArgPartition.vmap = _arg_vmap(argpartition)
Unique.vmap = vmap_by_loop  # its outputs have a fixed size, so slices stack


def _searchsorted_vmap(self, inputs, axes):
    (seq, values), (sa, va) = inputs, axes
    if sa is not None:  # a sorted sequence per batch element: no batched kernel
        raise NotImplementedError
    return [searchsorted(seq, values, side=self.side)], [va]


SearchSorted.vmap = _searchsorted_vmap
