"""Indexing: ``a[idx]``, ``a[idx] = v``, ``a.at[idx].add(v)``, take, slices and scatters.

Every index expression is parsed once at call time into a static *key* (ints, slices,
``None`` and placeholders for index arrays) plus the index arrays, which become inputs.
Evaluation applies the key with the backend's own indexing, so basic indexing returns a
view and advanced indexing follows NumPy's placement rules (as MLX does).
"""

from __future__ import annotations

import gc
from sys import getrefcount as _getrefcount

import numpy as np

from .. import _dtypes as dt
from .._array import _new, array, as_array, node
from .._device import resolve_stream
from .._primitive import Primitive
from ._util import broadcast_shapes, fmt_shape

__all__ = ["take", "take_along_axis", "put_along_axis", "slice", "slice_update", "ArrayAt"]

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
                raise IndexError(f"Index {k} is out of bounds for axis {axis} with size {n}.")
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
            raise IndexError(f"Index {key} is out of bounds for axis 0 with size {n}.")
        if key < 0:
            key += n
        return node(Index((key,)), (a,), shape[1:], a._dtype, resolve_stream(None))
    k, arrays, out = _parse(shape, key)
    if not k:
        return a
    if arrays:
        return node(Gather(k), (a, *arrays), out, a._dtype, resolve_stream(None))
    return node(Index(k), (a,), out, a._dtype, resolve_stream(None))


# -- setitem and .at ---------------------------------------------------------------


def _value(v, a: array, op: str) -> array:
    """An update value as an array of ``a``'s dtype."""
    if isinstance(v, array):
        u = v
    elif isinstance(v, (bool, int, float, complex, np.generic)):
        u = array(v, a._dtype)
    elif isinstance(v, np.ndarray):
        u = array(v)
    else:
        raise ValueError(f"Invalid type {type(v).__name__} received in array initialization.")
    if u._dtype is not a._dtype:
        from .unary import cast

        u = cast(u, a._dtype, resolve_stream(None))
    return u


def _fit(v: array, target: tuple) -> array:
    """Check that ``v`` broadcasts into ``target`` (extra leading 1s allowed)."""
    s = v._shape
    i = 0
    while len(s) - i > len(target) and s[i] == 1:
        i += 1
    t = s[i:]
    if len(t) > len(target) or broadcast_shapes(t, target) != target:
        raise ValueError(
            f"Cannot broadcast array of shape {fmt_shape(s)} into shape {fmt_shape(target)}."
        )
    return v


def _strip(xp, v, ndim: int):
    """``v`` without the extra leading 1-dims (a view)."""
    extra = v.ndim - ndim
    if extra > 0:
        v = v.reshape(v.shape[extra:])
    return v


class Scatter(Primitive):
    """``x[key] = v``: a copy of ``x`` with the indexed places replaced (last wins)."""

    __slots__ = ("key", "ndim")
    name = "scatter"

    def __init__(self, key: tuple, ndim: int) -> None:
        self.key = key
        self.ndim = ndim

    def params(self) -> tuple:
        return (_hashable(self.key), self.ndim)

    def eval(self, xp, x, v, *idx):
        out = x.copy()
        out[_build(self.key, _fix_idx(xp, idx))] = _strip(xp, v, self.ndim)
        return out


def _host_at(ufunc, out, key, v):
    # CuPy has no multiply.at: do that rare case on the host.
    import cupy

    h = cupy.asnumpy(out)
    hk = tuple(cupy.asnumpy(k) if isinstance(k, cupy.ndarray) else k for k in key)
    ufunc.at(h, hk, cupy.asnumpy(v))
    return cupy.asarray(h)


class ScatterAt(Primitive):
    """``x.at[key].<mode>(v)``: repeated indices accumulate (like ``np.add.at``)."""

    __slots__ = ("key", "ndim", "mode")
    name = "scatter_at"

    def __init__(self, key: tuple, ndim: int, mode: str) -> None:
        self.key = key
        self.ndim = ndim
        self.mode = mode

    def params(self) -> tuple:
        return (_hashable(self.key), self.ndim, self.mode)

    def eval(self, xp, x, v, *idx):
        out = x.copy()
        key = _build(self.key, _fix_idx(xp, idx))
        v = _strip(xp, v, self.ndim)
        mode = self.mode
        if xp is np:
            if out.dtype == np.bool_ and mode == "add":
                np.logical_or.at(out, key, v)
            elif out.dtype == np.bool_ and mode == "prod":
                np.logical_and.at(out, key, v)
            else:
                getattr(np, _UFUNC[mode]).at(out, key, v)
            return out
        import cupyx

        if mode == "add":
            cupyx.scatter_add(out, key, v)
        elif mode == "max":
            cupyx.scatter_max(out, key, v)
        elif mode == "min":
            cupyx.scatter_min(out, key, v)
        else:
            out = _host_at(np.multiply, out, key, v)
        return out


_UFUNC = {"add": "add", "prod": "multiply", "max": "maximum", "min": "minimum"}


class MaskedScatter(Primitive):
    """``x[mask] = v`` for a boolean mask over the leading dims of ``x``."""

    __slots__ = ("k", "per_row")
    name = "masked_scatter"

    def __init__(self, k: int, per_row: bool) -> None:
        self.k = k  # mask dims
        self.per_row = per_row  # v supplies one row per true mask element

    def eval(self, xp, x, mask, v):
        out = x.copy()
        rows = 1
        for s in x.shape[: self.k]:
            rows *= s
        o2 = out.reshape((rows,) + x.shape[self.k :])
        m = mask.reshape(rows)
        if self.per_row:
            cnt = int(m.sum())
            if v.shape[0] < cnt:
                raise RuntimeError(
                    "[masked_scatter] Source does not have enough elements for mask."
                )
            o2[m] = v[:cnt]
        else:
            o2[m] = v
        return out


def _masked_setitem(a: array, mask: array, v) -> array:
    k = mask.ndim
    if mask._shape != a._shape[:k]:
        raise ValueError(
            "[masked_scatter] The boolean mask should have the same shape as the beginning of "
            f"the indexed array but the mask has shape {fmt_shape(mask._shape)} and the array "
            f"has shape {fmt_shape(a._shape)}"
        )
    u = _value(v, a, "masked_scatter")
    trail = a._shape[k:]
    nt = len(trail)
    if u.ndim > nt + 1:
        raise ValueError(
            f"[masked_scatter] Value array shape must be broadcastable with the last {nt} "
            "dimensions of the input."
        )
    rows = 1
    for s in a._shape[:k]:
        rows *= s
    s = resolve_stream(None)
    if u.ndim == nt + 1:
        if broadcast_shapes(u._shape[1:], trail, op="broadcast_shapes") != trail:
            raise ValueError(
                f"[masked_scatter] Value array of shape {fmt_shape(u._shape)} does not fit rows of shape "
                f"{fmt_shape(trail)}."
            )
        per_row = True
    else:
        padded = (1,) * (nt + 1 - u.ndim) + u._shape
        broadcast_shapes(padded, (rows,) + trail, op="broadcast_shapes")
        per_row = False
    return node(MaskedScatter(k, per_row), (a, mask, u), a._shape, a._dtype, s)


def _scatter_parts(a: array, key, v, op: str):
    k, arrays, out = _parse(a._shape, key)
    u = _value(v, a, op)
    _fit(u, out)
    return k, arrays, out, u


def _is_mask(key) -> bool:
    if isinstance(key, (bool, np.bool_)):
        return True
    if isinstance(key, array):
        return key._dtype is dt.bool_
    if isinstance(key, list):
        try:
            return array(key)._dtype is dt.bool_ and len(key) > 0
        except (ValueError, TypeError):
            return False
    return False


def _rebind(a: array, new: array) -> None:
    """Make the Python object ``a`` hold ``new``; the old node lives on as a clone."""
    if a._seq and a._data is None and a._error is None:  # in flight: let it land first
        from .._eval import eval as _eval

        _eval(a)
    old = _new(array)
    for s in array.__slots__[:-1]:
        if hasattr(a, s):
            setattr(old, s, getattr(a, s))
    sib = getattr(a, "_siblings", None)
    if sib is not None:
        sib = tuple(old if s is a else s for s in sib)
        for s in sib:
            s._siblings = sib
        del a._siblings
    new._inputs = tuple(old if i is a else i for i in new._inputs)
    # Nodes built from ``a`` before this assignment must keep reading the old value.
    # Past the references every ``x[i] = v`` has (the name, the interpreter's stack,
    # two frames, getrefcount's argument), look for them; otherwise skip the scan.
    if _getrefcount(a) > 5:
        _retarget(a, old, sib)
    a._replace(new)


def _retarget(a: array, old: array, sib) -> None:
    """Point every pending node whose inputs hold ``a`` at ``old`` instead."""
    for t in gc.get_referrers(a):
        if type(t) is not tuple or t is sib:
            continue
        for n in gc.get_referrers(t):
            if isinstance(n, array) and n._inputs is t:
                n._inputs = tuple(old if i is a else i for i in t)


def setitem(a: array, key, v) -> None:
    """``a[key] = v``: ``a`` now names a new array (MLX arrays are values)."""
    if _is_mask(key):
        mask = key if isinstance(key, array) else array(key)
        _rebind(a, _masked_setitem(a, mask, v))
        return
    k, arrays, out, u = _scatter_parts(a, key, v, "scatter")
    new = node(Scatter(k, len(out)), (a, u, *arrays), a._shape, a._dtype, resolve_stream(None))
    _rebind(a, new)


class _AtIndexed:
    """``a.at[key]``: the updates that accumulate over repeated indices."""

    __slots__ = ("_a", "_key")

    def __init__(self, a: array, key) -> None:
        self._a = a
        self._key = key

    def _apply(self, v, mode: str, op: str) -> array:
        a = self._a
        if _is_mask(self._key):
            raise ValueError("boolean indices are not yet supported")
        k, arrays, out, u = _scatter_parts(a, self._key, v, op)
        if mode == "sub":
            from .unary import negative

            u = negative(u) if u._dtype is not dt.bool_ else u
            mode = "add"
        return node(
            ScatterAt(k, len(out), mode), (a, u, *arrays), a._shape, a._dtype, resolve_stream(None)
        )

    def add(self, v) -> array:
        """Add ``v`` at the indices (repeats accumulate)."""
        return self._apply(v, "add", "scatter_add")

    def subtract(self, v) -> array:
        """Subtract ``v`` at the indices (repeats accumulate)."""
        return self._apply(v, "sub", "scatter_add")

    def multiply(self, v) -> array:
        """Multiply by ``v`` at the indices (repeats accumulate)."""
        return self._apply(v, "prod", "scatter_prod")

    def divide(self, v) -> array:
        """Divide by ``v`` at the indices: a product with ``1 / v`` in ``a``'s dtype."""
        from .unary import reciprocal

        u = v if isinstance(v, array) else _value(v, self._a, "scatter_prod")
        return self._apply(reciprocal(u), "prod", "scatter_prod")

    def maximum(self, v) -> array:
        """Elementwise maximum with ``v`` at the indices."""
        return self._apply(v, "max", "scatter_max")

    def minimum(self, v) -> array:
        """Elementwise minimum with ``v`` at the indices."""
        return self._apply(v, "min", "scatter_min")


class ArrayAt:
    """The helper behind ``a.at[idx]``."""

    __slots__ = ("_a",)

    def __init__(self, a: array) -> None:
        self._a = a

    def __getitem__(self, key) -> _AtIndexed:
        return _AtIndexed(self._a, key)


# -- take / take_along_axis / put_along_axis ----------------------------------------


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
            raise IndexError(f"[take] Index {i} is out of bounds for axis {axis} with size {n}.")
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


def _along_key(xp, shape: tuple, idx, axis: int):
    """An open-mesh NumPy key putting ``idx`` on ``axis`` of an array of ``shape``."""
    nd = len(shape)
    key = []
    for d in range(nd):
        if d == axis:
            key.append(idx)
        else:
            r = xp.arange(shape[d]).reshape((1,) * d + (shape[d],) + (1,) * (nd - d - 1))
            key.append(r)
    return tuple(key)


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


class PutAlongAxis(Primitive):
    __slots__ = ("axis", "shape")
    name = "put_along_axis"

    def __init__(self, axis, shape) -> None:
        self.axis = axis
        self.shape = shape  # the broadcast shape of the update

    def eval(self, xp, x, idx, v):
        (idx,) = _fix_idx(xp, (idx,))
        out = x.copy()
        if self.axis is None:
            flat = out.reshape(-1)
            flat[xp.broadcast_to(idx, self.shape)] = xp.broadcast_to(v, self.shape)
            return out
        idx = xp.broadcast_to(idx, self.shape)
        out[_along_key(xp, self.shape, idx, self.axis)] = xp.broadcast_to(v, self.shape)
        return out


def put_along_axis(a, /, indices, values, axis=None, *, stream=None) -> array:
    """A copy of ``a`` with ``values`` written at ``indices`` along ``axis``."""
    a = as_array(a, "put_along_axis")
    idx = _int_indices(indices, "put_along_axis")
    s = resolve_stream(stream)
    v = values if isinstance(values, array) else as_array(values, "put_along_axis")
    if v._dtype is not a._dtype:
        from .unary import cast

        v = cast(v, a._dtype, s)
    if axis is None:
        if idx.ndim != 1:
            raise ValueError(
                f"[put_along_axis] Indices of dimension {idx.ndim} does not match array of dimension 1."
            )
        shape = broadcast_shapes(idx._shape, v._shape, op="broadcast_shapes")
        if len(shape) != 1:
            raise ValueError(
                f"[put_along_axis] Values of shape {fmt_shape(v._shape)} do not fit the indices."
            )
        return node(PutAlongAxis(None, shape), (a, idx, v), a._shape, a._dtype, s)
    nd = a.ndim
    axis = _axis(
        axis,
        nd,
        "put_along_axis",
        f"[put_along_axis] Axis {axis} is out of bounds for array with {nd} dimensions.",
    )
    if idx.ndim != nd:
        raise ValueError(
            f"[put_along_axis] Indices of dimension {idx.ndim} does not match array of dimension {nd}."
        )
    shape = broadcast_shapes(idx._shape, v._shape, op="broadcast_shapes")
    if len(shape) != nd:
        raise ValueError(
            f"[put_along_axis] Values of shape {fmt_shape(v._shape)} do not fit the indices."
        )
    rest = shape[:axis] + shape[axis + 1 :]
    rest_a = a._shape[:axis] + a._shape[axis + 1 :]
    if broadcast_shapes(rest, rest_a, op="broadcast_shapes") != rest_a:
        raise ValueError(
            f"[put_along_axis] Updates of shape {fmt_shape(shape)} do not fit array of shape {fmt_shape(a._shape)}."
        )
    shape = rest_a[:axis] + (shape[axis],) + rest_a[axis:]
    return node(PutAlongAxis(axis, shape), (a, idx, v), a._shape, a._dtype, s)


# -- slice / slice_update (dynamic starts) --------------------------------------------


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
            raise IndexError(f"[{op}] Invalid axis {ax} for array with dimension {nd}.")
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


class DynamicSliceUpdate(Primitive):
    __slots__ = ("axes", "sizes")
    name = "slice_update"

    def __init__(self, axes, sizes) -> None:
        self.axes = axes
        self.sizes = sizes

    def eval(self, xp, x, u, start):
        out = x.copy()
        out[_starts(xp, start, self.axes, x.shape, self.sizes)] = u
        return out


def slice_update(a, update, start_indices, axes, *, stream=None) -> array:
    """A copy of ``a`` with ``update`` written at ``start_indices`` on ``axes``.

    ``update`` is aligned to the trailing dims; dims it lacks span the whole array,
    except on ``axes`` where they have size 1.
    """
    a = as_array(a, "slice_update")
    s = resolve_stream(stream)
    nd = a.ndim
    axes = _check_start(start_indices, axes, nd, "slice_update")
    u = as_array(update, "slice_update")
    if u.ndim > nd:
        raise ValueError(
            f"[slice_update] Update of shape {fmt_shape(u._shape)} has more dimensions than the array "
            f"of shape {fmt_shape(a._shape)}."
        )
    off = nd - u.ndim
    sizes = tuple(
        (1 if d in axes else a._shape[d]) if d < off else u._shape[d - off] for d in range(nd)
    )
    if any(z > n for z, n in zip(sizes, a._shape)):
        broadcast_shapes(u._shape, a._shape[off:], op="broadcast_shapes")
        raise ValueError(
            f"[slice_update] Update of shape {fmt_shape(u._shape)} does not fit array of shape {fmt_shape(a._shape)}."
        )
    if u._dtype is not a._dtype:
        from .unary import cast

        u = cast(u, a._dtype, s)
    return node(DynamicSliceUpdate(axes, sizes), (a, u, start_indices), a._shape, a._dtype, s)


METHODS = {
    "__getitem__": getitem,
    "__setitem__": setitem,
    "at": property(ArrayAt),
}


# -- transform rules ---------------------------------------------------------------------------
# The vjp of a read is a write (scatter-add of the cotangent into zeros), the vjp of a
# write is a read of the cotangent and the cotangent with the written places zeroed.
# Integer inputs (indices, starts, masks) get no gradient.

import umx as mx  # noqa: E402 - the package, for the ops the rules are written with

from .._rules import move_to_front, unbroadcast, vmap_by_loop  # noqa: E402


def _user_key(key: tuple, idx) -> tuple:
    """The static key with its placeholders replaced by the index arrays."""
    return tuple(idx[k.i] if type(k) is _Arr else k for k in key)


def _read(x: array, key: tuple, idx) -> array:
    return getitem(x, _user_key(key, idx))


def _to_value_shape(g: array, shape: tuple) -> array:
    """A cotangent of the indexed region summed to the shape of the written value."""
    if len(shape) >= g.ndim:
        return mx.reshape(unbroadcast(g, shape[len(shape) - g.ndim :]), shape)
    return unbroadcast(g, shape)


def _adv_layout(key: tuple):
    """For a key with index arrays: (adjacent, dims before them in the output)."""
    pos = [p for p, k in enumerate(key) if type(k) is _Arr or type(k) is int]
    adjacent = pos[-1] - pos[0] == len(pos) - 1
    before = sum(1 for k in key[: pos[0]] if k is None or type(k) is _slice)
    return adjacent, before


def _index_vjp(self, primals, cotangents, argnums, outputs):
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


def _write_vmap(self, inputs, axes, make):
    """vmap of a write ``x[key] (op)= v`` with unbatched indices: the batch dim goes in
    front of ``x`` and where the indexed region has it in ``v``."""
    x, v, idx = inputs[0], inputs[1], inputs[2:]
    xa, va = axes[0], axes[1]
    if any(a is not None for a in axes[2:]):
        raise NotImplementedError  # per-element indices: loop
    size = x.shape[xa] if xa is not None else v.shape[va]
    x = (
        move_to_front(x, xa)
        if xa is not None
        else mx.broadcast_to(mx.expand_dims(x, 0), (size,) + x.shape)
    )
    key = (_slice(None),) + self.key
    nd = self.ndim
    if idx:
        adjacent, _ = _adv_layout(self.key)
        bshape = broadcast_shapes(*(i.shape for i in idx)) if len(idx) > 1 else idx[0].shape
        bpos = 0 if adjacent else len(bshape)
    else:
        bpos = 0
    if va is not None:
        v = move_to_front(v, va)
        vs = v.shape[1:]
        vs = vs[len(vs) - nd :] if len(vs) > nd else (1,) * (nd - len(vs)) + vs
        v = mx.moveaxis(mx.reshape(v, (size,) + vs), 0, bpos)
    else:
        vs = v.shape
        vs = vs[len(vs) - nd :] if len(vs) > nd else (1,) * (nd - len(vs)) + vs
        v = mx.expand_dims(mx.reshape(v, vs), bpos)
    out = node(make(key, nd + 1), (x, v, *idx), x._shape, x._dtype, resolve_stream(None))
    return [out], [0]


def _scatter_vjp(self, primals, cotangents, argnums, outputs):
    _x, v, idx = primals[0], primals[1], primals[2:]
    c = cotangents[0]
    out = []
    for k in argnums:
        if k == 0:
            z = mx.zeros((), c.dtype)
            prim = Scatter(self.key, self.ndim)
            out.append(node(prim, (c, z, *idx), c._shape, c._dtype, resolve_stream(None)))
        elif k == 1:
            out.append(_to_value_shape(_read(c, self.key, idx), v.shape))
        else:
            out.append(None)
    return out


def _scatter_jvp(self, primals, tangents, argnums):
    x, _v, idx = primals[0], primals[1], primals[2:]
    if 0 not in argnums and 1 not in argnums:
        return None
    tx = tangents[argnums.index(0)] if 0 in argnums else mx.zeros_like(x)
    tv = tangents[argnums.index(1)] if 1 in argnums else mx.zeros((), x.dtype)
    return [node(self, (tx, tv, *idx), x._shape, x._dtype, resolve_stream(None))]


Scatter.vjp = _scatter_vjp
Scatter.jvp = _scatter_jvp
Scatter.vmap = lambda self, inputs, axes: _write_vmap(self, inputs, axes, Scatter)


def _scatter_at_vjp(self, primals, cotangents, argnums, outputs):
    x, v, idx = primals[0], primals[1], primals[2:]
    c = cotangents[0]
    mode = self.mode
    if mode == "prod":
        raise RuntimeError("[scatter] VJP not implemented for scatter_prod")
    out = []
    for k in argnums:
        if k == 0:
            if mode == "add":
                out.append(c)
            else:  # max / min: the places where x survived (ties share, as MLX)
                out.append(mx.where(mx.equal(x, outputs[0]), c, mx.zeros((), c.dtype)))
        elif k == 1:
            g = _read(c, self.key, idx)
            if mode != "add":
                won = mx.equal(
                    _read(outputs[0], self.key, idx),
                    v if v.ndim <= g.ndim else _lead_off(v, g.ndim),
                )
                g = mx.where(won, g, mx.zeros((), g.dtype))
            out.append(_to_value_shape(g, v.shape))
        else:
            out.append(None)
    return out


def _scatter_at_jvp(self, primals, tangents, argnums):
    x, v, idx = primals[0], primals[1], primals[2:]
    if self.mode == "prod":
        raise RuntimeError("[scatter] JVP not implemented for scatter_prod")
    if 0 not in argnums and 1 not in argnums:
        return None
    tx = tangents[argnums.index(0)] if 0 in argnums else mx.zeros_like(x)
    tv = tangents[argnums.index(1)] if 1 in argnums else mx.zeros((), x.dtype)
    prim = self
    if self.mode != "add":  # max / min: the tangent of whichever value survived
        out = node(self, (x, v, *idx), x._shape, x._dtype, resolve_stream(None))
        zero = mx.zeros((), x.dtype)
        tx = mx.where(mx.equal(x, out), tx, zero)
        r = _read(out, self.key, idx)
        vv, tv = (v, tv) if v.ndim <= r.ndim else (_lead_off(v, r.ndim), _lead_off(tv, r.ndim))
        tv = mx.where(mx.equal(r, vv), tv, zero)
        prim = ScatterAt(self.key, self.ndim, "add")
    return [node(prim, (tx, tv, *idx), x._shape, x._dtype, resolve_stream(None))]


def _lead_off(v, nd):
    """``v`` without its extra leading unit dims (down to ``nd`` dims)."""
    return mx.reshape(v, v.shape[v.ndim - nd :])


ScatterAt.vjp = _scatter_at_vjp
ScatterAt.jvp = _scatter_at_jvp
ScatterAt.vmap = lambda self, inputs, axes: _write_vmap(
    self, inputs, axes, lambda key, nd: ScatterAt(key, nd, self.mode)
)


def _masked_vjp(self, primals, cotangents, argnums, outputs):
    x, mask, v = primals
    c = cotangents[0]
    k = self.k
    trail = x.shape[k:]
    m = mx.reshape(mask, mask.shape + (1,) * len(trail))
    zero = mx.zeros((), c.dtype)
    out = []
    for a in argnums:
        if a == 0:
            out.append(mx.where(m, zero, c))
        elif a == 2:
            rows = 1
            for s in x.shape[:k]:
                rows *= s
            c2 = mx.reshape(c, (rows,) + trail)
            mf = mx.reshape(mask, (rows,))
            if self.per_row:
                nv = v.shape[0]
                pos = mx.subtract(mx.cumsum(mf.astype(mx.int32)), 1)
                pos = mx.where(mf, pos, nv)
                g = mx.zeros((nv + 1,) + trail, c.dtype).at[pos].add(c2)[:nv]
                out.append(unbroadcast(g, v.shape))
            else:
                g = mx.where(mx.reshape(mf, (rows,) + (1,) * len(trail)), c2, zero)
                padded = (1,) * (len(trail) + 1 - v.ndim) + v.shape
                out.append(mx.reshape(unbroadcast(g, padded), v.shape))
        else:
            out.append(None)
    return out


def _masked_jvp(self, primals, tangents, argnums):
    x, mask, v = primals
    if 0 not in argnums and 2 not in argnums:
        return None
    tx = tangents[argnums.index(0)] if 0 in argnums else mx.zeros_like(x)
    tv = tangents[argnums.index(2)] if 2 in argnums else mx.zeros_like(v)
    return [node(self, (tx, mask, tv), x._shape, x._dtype, resolve_stream(None))]


MaskedScatter.vjp = _masked_vjp
MaskedScatter.jvp = _masked_jvp
MaskedScatter.vmap = vmap_by_loop  # the number of rows written depends on each mask


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


def _put_along_vjp(self, primals, cotangents, argnums, outputs):
    x, idx, v = primals
    c = cotangents[0]
    out = []
    for k in argnums:
        if k == 0:
            out.append(put_along_axis(c, idx, mx.zeros((), c.dtype), axis=self.axis))
        elif k == 2:
            ib = mx.broadcast_to(idx, self.shape)
            if self.axis is None:
                g = take(mx.reshape(c, (-1,)), ib)
            else:
                g = take_along_axis(c, ib, axis=self.axis)
            out.append(unbroadcast(g, v.shape))
        else:
            out.append(None)
    return out


def _put_along_jvp(self, primals, tangents, argnums):
    x, idx, v = primals
    if 0 not in argnums and 2 not in argnums:
        return None
    tx = tangents[argnums.index(0)] if 0 in argnums else mx.zeros_like(x)
    tv = tangents[argnums.index(2)] if 2 in argnums else mx.zeros_like(v)
    return [put_along_axis(tx, idx, tv, axis=self.axis)]


def _put_along_vmap(self, inputs, axes):
    x, idx, v = inputs
    xa, ia, va = axes
    size = next(t.shape[a] for t, a in zip(inputs, axes) if a is not None)
    x = (
        move_to_front(x, xa)
        if xa is not None
        else mx.broadcast_to(mx.expand_dims(x, 0), (size,) + x.shape)
    )
    idx = mx.expand_dims(idx, 0) if ia is None else move_to_front(idx, ia)
    if self.axis is None:
        if va is None:
            v = mx.reshape(v, (1, -1))
        else:
            v = mx.reshape(move_to_front(v, va), (size, -1))
        out = put_along_axis(mx.reshape(x, (size, -1)), idx, v, axis=1)
        return [mx.reshape(out, x.shape)], [0]
    nd = x.ndim - 1
    if va is None:
        v = mx.reshape(v, (1,) * (nd + 1 - v.ndim) + v.shape)
    else:
        v = move_to_front(v, va)
        v = mx.reshape(v, (size,) + (1,) * (nd + 1 - v.ndim) + v.shape[1:])
    return [put_along_axis(x, idx, v, axis=self.axis + 1)], [0]


PutAlongAxis.vjp = _put_along_vjp
PutAlongAxis.jvp = _put_along_jvp
PutAlongAxis.vmap = _put_along_vmap


def _dslice_vjp(self, primals, cotangents, argnums, outputs):
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


def _dupdate_vjp(self, primals, cotangents, argnums, outputs):
    x, u, start = primals
    c = cotangents[0]
    out = []
    for k in argnums:
        if k == 0:
            out.append(slice_update(c, mx.zeros(u.shape, c.dtype), start, self.axes))
        elif k == 1:
            out.append(mx.reshape(slice(c, start, self.axes, self.sizes), u.shape))
        else:
            out.append(None)
    return out


def _dupdate_jvp(self, primals, tangents, argnums):
    x, u, start = primals
    if 0 not in argnums and 1 not in argnums:
        return None
    tx = tangents[argnums.index(0)] if 0 in argnums else mx.zeros_like(x)
    tu = tangents[argnums.index(1)] if 1 in argnums else mx.zeros_like(u)
    return [slice_update(tx, tu, start, self.axes)]


def _dupdate_vmap(self, inputs, axes):
    (x, u, start), (xa, ua, sa) = inputs, axes
    if sa is not None:
        raise NotImplementedError  # a start per batch element: loop
    size = x.shape[xa] if xa is not None else u.shape[ua]
    x = (
        move_to_front(x, xa)
        if xa is not None
        else mx.broadcast_to(mx.expand_dims(x, 0), (size,) + x.shape)
    )
    if ua is not None:
        u = mx.reshape(move_to_front(u, ua), (size,) + self.sizes)
    return [slice_update(x, u, start, [a + 1 for a in self.axes])], [0]


DynamicSliceUpdate.vjp = _dupdate_vjp
DynamicSliceUpdate.jvp = _dupdate_jvp
DynamicSliceUpdate.vmap = _dupdate_vmap
