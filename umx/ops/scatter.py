"""Indexing writes: ``a[idx] = v``, ``a.at[idx].add(v)``, put_along_axis and slice_update.

Each write is a primitive returning an updated copy of its input; the index expression
is parsed by ``index.py`` (a static key plus index arrays as inputs). ``a[idx] = v``
then rebinds the Python object ``a`` to the new node (MLX arrays are values).
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
from .index import (
    _axis,
    _build,
    _check_start,
    _fix_idx,
    _hashable,
    _int_indices,
    _parse,
    _slice,
    _starts,
    slice,
)

__all__ = ["put_along_axis", "slice_update", "ArrayAt"]


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

        if mode == "add" and out.dtype.name in _NARROW_ADD:
            # no atomics this narrow: add in int32, then wrap back (sums agree mod 2^bits)
            wide = out.astype(xp.int32)
            cupyx.scatter_add(wide, key, v.astype(xp.int32))
            out = wide != 0 if out.dtype == xp.bool_ else wide.astype(out.dtype)
        elif mode == "add":
            cupyx.scatter_add(out, key, v)
        elif mode in ("max", "min") and out.dtype.name in _EXACT_GPU_MAX:
            (cupyx.scatter_max if mode == "max" else cupyx.scatter_min)(out, key, v)
        else:  # no multiply.at on the GPU; CuPy's float64 max / min round through float32
            out = _host_at(getattr(np, _UFUNC[mode]), out, key, v)
        return out


_UFUNC = {"add": "add", "prod": "multiply", "max": "maximum", "min": "minimum"}
# dtypes CuPy's scatter_add has no kernel for that an int32 sum covers exactly (bool: any)
_NARROW_ADD = frozenset({"int8", "int16", "uint8", "uint16", "bool"})
# dtypes whose CuPy scatter_max / scatter_min are exact (native atomics). CuPy 14.2 rounds
# float64 through float32 (measured on the H100: errors of 1e-8 in rows it touched).
_EXACT_GPU_MAX = frozenset({"float32", "int32", "uint32", "int64", "uint64"})


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


_NO_INDEX = object()


class ArrayAt:
    """``a.at`` and ``a.at[indices]``: updates that accumulate over repeated indices. One
    class for both, as MLX (``a.at[i][j]`` keeps the last indices)."""

    __slots__ = ("_a", "_key")

    def __init__(self, a: array, indices=_NO_INDEX) -> None:
        self._a = a
        self._key = indices

    def __getitem__(self, indices) -> ArrayAt:
        return ArrayAt(self._a, indices)

    def _apply(self, v, mode: str, op: str) -> array:
        a = self._a
        if self._key is _NO_INDEX:
            raise ValueError("Must give indices to array.at (e.g. `x.at[0].add(4)`).")
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

    def add(self, value) -> array:
        """Add ``value`` at the indices (repeats accumulate)."""
        return self._apply(value, "add", "scatter_add")

    def subtract(self, value) -> array:
        """Subtract ``value`` at the indices (repeats accumulate)."""
        return self._apply(value, "sub", "scatter_add")

    def multiply(self, value) -> array:
        """Multiply by ``value`` at the indices (repeats accumulate)."""
        return self._apply(value, "prod", "scatter_prod")

    def divide(self, value) -> array:
        """Divide by ``value`` at the indices: a product with ``1 / value`` in ``a``'s dtype."""
        from .unary import reciprocal

        u = value if isinstance(value, array) else _value(value, self._a, "scatter_prod")
        return self._apply(reciprocal(u), "prod", "scatter_prod")

    def maximum(self, value) -> array:
        """Elementwise maximum with ``value`` at the indices."""
        return self._apply(value, "max", "scatter_max")

    def minimum(self, value) -> array:
        """Elementwise minimum with ``value`` at the indices."""
        return self._apply(value, "min", "scatter_min")


# -- put_along_axis -------------------------------------------------------------------


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


# -- slice_update (dynamic starts) ---------------------------------------------------


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
    "__setitem__": setitem,
    "at": property(ArrayAt),
}


# -- transform rules ---------------------------------------------------------------------------
# The vjp of a write is a read of the cotangent and the cotangent with the written places
# zeroed. Integer inputs (indices, starts, masks) get no gradient.

import umx as mx  # noqa: E402 - the package, for the ops the rules are written with

from .._rules import move_to_front, unbroadcast, vmap_by_loop  # noqa: E402
from .index import _adv_layout, _read, take, take_along_axis  # noqa: E402


def _to_value_shape(g: array, shape: tuple) -> array:
    """A cotangent of the indexed region summed to the shape of the written value."""
    if len(shape) >= g.ndim:
        return mx.reshape(unbroadcast(g, shape[len(shape) - g.ndim :]), shape)
    return unbroadcast(g, shape)


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
