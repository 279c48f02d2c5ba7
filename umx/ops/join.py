"""Joining ops: concatenate, stack, split, unstack, tile, repeat, pad, roll and flip.

Split and unstack return NumPy views; the others build a new buffer.
"""

from __future__ import annotations

import numpy as np

from .. import _dtypes as dt
from .._array import array, as_array, constant, node
from .._device import resolve_stream
from .._primitive import Primitive, multi_node
from .._rules import move_to_front
from ._util import fmt_shape
from .shape import (
    _INVALID,
    _axis,
    _int,
    _ints,
    _keep_dtype,
    _prod,
    _reshape_node,
    _zeros,
    broadcast_to,
    expand_dims,
    reshape,
)
from .unary import cast


# -- transform helpers -----------------------------------------------------------------------
# Rules call the public ops (lazy, so they differentiate again) and reuse their inference.
def _with_zeros(primals, tangents, argnums) -> list:
    """A tangent per input: the given ones, zeros for the others."""
    from .creation import zeros_like

    out = [None] * len(primals)
    for k, t in zip(argnums, tangents):
        out[k] = t
    return [zeros_like(p) if t is None else t for p, t in zip(primals, out)]


def _size_of(inputs, axes) -> int:
    for x, a in zip(inputs, axes):
        if a is not None:
            return x._shape[a]
    raise ValueError("no batched input")


def _front_all(inputs, axes) -> list:
    """Every input with a leading batch axis (unbatched ones broadcast along it)."""
    b = _size_of(inputs, axes)
    out = []
    for x, a in zip(inputs, axes):
        if a is None:
            out.append(broadcast_to(expand_dims(x, 0), (b,) + x._shape))
        else:
            out.append(move_to_front(x, a))
    return out


def _sum(g: array, axes, d: dt.Dtype) -> array:
    """Sum over ``axes`` (keeping them), in dtype ``d`` (the dtype of the primal)."""
    from .reduce import sum as _s

    return _keep_dtype(_s(g, axis=list(axes), keepdims=True), d)


def _slice_axis(g: array, ax: int, start: int, stop: int) -> array:
    """``g[start:stop]`` along ``ax`` (a split, so that the rule stays in this family)."""
    n = g._shape[ax]
    if start == 0 and stop == n:
        return g
    return split(g, (start, stop), ax)[1]


def _pad_axis_vjp(g: array, ax: int, n: int, lo: int, hi: int, mode: str) -> array:
    """The cotangent of one padded axis of a non-constant pad: every padded position sends
    its cotangent to the source element that it copies."""
    if lo == 0 and hi == 0:
        return g
    if n == 0:
        sh = g._shape
        return _zeros(sh[:ax] + (0,) + sh[ax + 1 :], g._dtype)
    src = np.pad(np.arange(n), (lo, hi), mode=mode)
    left, mid, right = split(g, (lo, lo + n), ax)
    groups: dict = {}
    for part, first, count in ((left, 0, lo), (right, lo + n, hi)):
        if count == 0:
            continue
        pieces = split(part, count, ax) if count > 1 else [part]
        for q, piece in enumerate(pieces):
            groups.setdefault(int(src[first + q]), []).append(piece)
    js = sorted(groups)
    bounds = []
    for j in js:
        bounds += [j, j + 1]
    segs = split(mid, tuple(bounds), ax)
    from .binary import add

    out = []
    for q, seg in enumerate(segs):
        if q % 2 == 1:
            for piece in groups[js[q // 2]]:
                seg = add(seg, piece)
            out.append(seg)
        elif seg._shape[ax]:
            out.append(seg)
    return concatenate(out, ax)


# -- primitives ----------------------------------------------------------------------------
class Concatenate(Primitive):
    __slots__ = ("axis",)
    name = "concatenate"

    def __init__(self, axis: int) -> None:
        self.axis = axis

    def eval(self, xp, *xs):
        return xp.concatenate(xs, axis=self.axis)

    def vjp(self, primals, cotangents, argnums, outputs):
        bounds, acc = [], 0
        for p in primals[:-1]:
            acc += p._shape[self.axis]
            bounds.append(acc)
        parts = split(cotangents[0], tuple(bounds), self.axis)
        return [parts[k] for k in argnums]

    def jvp(self, primals, tangents, argnums):
        return [concatenate(_with_zeros(primals, tangents, argnums), self.axis)]

    def vmap(self, inputs, axes):
        return [concatenate(_front_all(inputs, axes), self.axis + 1)], [0]


class Stack(Primitive):
    __slots__ = ("axis",)
    name = "stack"

    def __init__(self, axis: int) -> None:
        self.axis = axis

    def eval(self, xp, *xs):
        return xp.stack(xs, axis=self.axis)

    def vjp(self, primals, cotangents, argnums, outputs):
        parts = unstack(cotangents[0], axis=self.axis)
        return [parts[k] for k in argnums]

    def jvp(self, primals, tangents, argnums):
        return [stack(_with_zeros(primals, tangents, argnums), self.axis)]

    def vmap(self, inputs, axes):
        return [stack(_front_all(inputs, axes), self.axis + 1)], [0]


class Split(Primitive):
    """Views of ``x`` between consecutive split points along ``axis`` (several outputs)."""

    __slots__ = ("indices", "axis", "bounds")
    name = "split"
    multi = True

    def __init__(self, indices: tuple, axis: int, bounds: tuple) -> None:
        self.indices = indices
        self.axis = axis
        self.bounds = bounds  # (start, stop) per piece, within [0, n]: Python's slice rules

    def eval(self, xp, x):
        # Explicit slices, not xp.split: CuPy 14.2's split of out-of-range negative indices
        # made views outside the buffer (a crash when the host read them).
        pre = (slice(None),) * self.axis
        return tuple(x[pre + (slice(lo, hi),)] for lo, hi in self.bounds)

    def vjp(self, primals, cotangents, argnums, outputs):
        b = self.bounds
        n = primals[0].shape[self.axis]
        if b[-1][1] == n and all(q[0] == p[1] for p, q in zip(b, b[1:])):  # pieces tile x
            return [concatenate(list(cotangents), self.axis)]
        # points out of order: pieces overlap or leave gaps; each adds back where it came from
        total = None
        for (lo, hi), c in zip(b, cotangents):
            if hi > lo:
                width = [(0, 0)] * c.ndim
                width[self.axis] = (lo, n - hi)
                c = pad(c, width)
                total = c if total is None else total + c
        if total is None:
            from .creation import zeros_like

            total = zeros_like(primals[0])
        return [total]

    def jvp(self, primals, tangents, argnums):
        return list(split(tangents[0], self.indices, self.axis))

    def vmap(self, inputs, axes):
        x = move_to_front(inputs[0], axes[0])
        outs = list(split(x, self.indices, self.axis + 1))
        return outs, [0] * len(outs)


class Unstack(Primitive):
    __slots__ = ("axis",)
    name = "unstack"
    multi = True

    def __init__(self, axis: int) -> None:
        self.axis = axis

    def eval(self, xp, x):
        pre = (slice(None),) * self.axis
        return tuple(x[pre + (i,)] for i in range(x.shape[self.axis]))

    def vjp(self, primals, cotangents, argnums, outputs):
        return [stack(list(cotangents), self.axis)]

    def jvp(self, primals, tangents, argnums):
        return list(unstack(tangents[0], axis=self.axis))

    def vmap(self, inputs, axes):
        x = move_to_front(inputs[0], axes[0])
        outs = list(unstack(x, axis=self.axis + 1))
        return outs, [0] * len(outs)


class Tile(Primitive):
    __slots__ = ("reps",)
    name = "tile"

    def __init__(self, reps: tuple) -> None:
        self.reps = reps

    def eval(self, xp, x):
        return xp.tile(x, self.reps)

    def vjp(self, primals, cotangents, argnums, outputs):
        x = primals[0]
        sh = (1,) * (len(self.reps) - x.ndim) + x._shape
        inter = tuple(v for r, s in zip(self.reps, sh) for v in (r, s))
        g = reshape(cotangents[0], inter)
        g = _sum(g, range(0, len(inter), 2), x._dtype)
        return [reshape(g, x._shape)]

    def jvp(self, primals, tangents, argnums):
        return [tile(tangents[0], self.reps)]

    def vmap(self, inputs, axes):
        x = move_to_front(inputs[0], axes[0])
        sh = x._shape
        extra = len(self.reps) - (len(sh) - 1)
        if extra > 0:
            x = reshape(x, sh[:1] + (1,) * extra + sh[1:])
        return [tile(x, (1,) + self.reps)], [0]


class Repeat(Primitive):
    __slots__ = ("repeats", "axis")
    name = "repeat"

    def __init__(self, repeats: int, axis) -> None:
        self.repeats = repeats
        self.axis = axis

    def eval(self, xp, x):
        return xp.repeat(x, self.repeats, axis=self.axis)

    def vjp(self, primals, cotangents, argnums, outputs):
        x, r = primals[0], self.repeats
        sh = x._shape
        if self.axis is None:
            g = _sum(reshape(cotangents[0], (x.size, r)), (1,), x._dtype)
        else:
            ax = self.axis
            g = reshape(cotangents[0], sh[:ax] + (sh[ax], r) + sh[ax + 1 :])
            g = _sum(g, (ax + 1,), x._dtype)
        return [reshape(g, sh)]

    def jvp(self, primals, tangents, argnums):
        return [repeat(tangents[0], self.repeats, self.axis)]

    def vmap(self, inputs, axes):
        x = move_to_front(inputs[0], axes[0])
        if self.axis is None:
            flat = reshape(x, (x._shape[0], _prod(x._shape[1:])))
            return [repeat(flat, self.repeats, 1)], [0]
        return [repeat(x, self.repeats, self.axis + 1)], [0]


class Pad(Primitive):
    """Padding by ``widths`` ((low, high) per axis); constant mode takes the value as a
    second input (its first element is used)."""

    __slots__ = ("widths", "mode")
    name = "pad"

    def __init__(self, widths: tuple, mode: str) -> None:
        self.widths = widths
        self.mode = mode

    def eval(self, xp, x, v=None):
        widths = self.widths
        shape = tuple(s + lo + hi for s, (lo, hi) in zip(x.shape, widths))
        if self.mode == "constant":
            out = xp.empty(shape, dtype=x.dtype)
            out[...] = xp.asarray(v).reshape(-1)[0]
            out[tuple(slice(lo, lo + s) for s, (lo, _) in zip(x.shape, widths))] = x
            return out
        if x.size == 0:
            return xp.zeros(shape, dtype=x.dtype)
        return xp.pad(x, widths, mode=self.mode)

    def _mid(self, g: array) -> array:
        for ax, (lo, hi) in enumerate(self.widths):
            if lo or hi:
                g = _slice_axis(g, ax, lo, g._shape[ax] - hi)
        return g

    def vjp(self, primals, cotangents, argnums, outputs):
        c = cotangents[0]
        x = primals[0]
        out = []
        for k in argnums:
            if k == 0 and self.mode == "constant":
                out.append(self._mid(c))
            elif k == 0:
                g = c
                for ax, (lo, hi) in enumerate(self.widths):
                    g = _pad_axis_vjp(g, ax, x._shape[ax], lo, hi, self.mode)
                out.append(g)
            else:  # the pad value: every padded position (only its first element is read)
                from .binary import subtract

                v = primals[1]
                allaxes = range(c.ndim)
                tot = subtract(_sum(c, allaxes, c._dtype), _sum(self._mid(c), allaxes, c._dtype))
                tot = reshape(tot, (1,))
                if v.size > 1:
                    tot = concatenate([tot, _zeros((v.size - 1,), c._dtype)], 0)
                out.append(_keep_dtype(reshape(tot, v._shape), v._dtype))
        return out

    def jvp(self, primals, tangents, argnums):
        ts = _with_zeros(primals, tangents, argnums)
        if self.mode == "constant":
            return [pad(ts[0], self.widths, "constant", ts[1])]
        return [pad(ts[0], self.widths, self.mode)]

    def vmap(self, inputs, axes):
        if len(inputs) == 2 and axes[1] is not None:
            raise NotImplementedError  # a pad value per batch element: the engine loops
        x = move_to_front(inputs[0], axes[0])
        widths = ((0, 0),) + self.widths
        if self.mode == "constant":
            return [pad(x, widths, "constant", inputs[1])], [0]
        return [pad(x, widths, self.mode)], [0]


class Roll(Primitive):
    __slots__ = ("shift", "axes")
    name = "roll"

    def __init__(self, shift, axes) -> None:
        self.shift = shift
        self.axes = axes

    def eval(self, xp, x):
        if x.size == 0 or x.ndim == 0:
            return x
        return xp.roll(x, self.shift, self.axes)

    def _neg(self):
        s = self.shift
        return tuple(-v for v in s) if isinstance(s, tuple) else -s

    def vjp(self, primals, cotangents, argnums, outputs):
        return [roll(cotangents[0], self._neg(), self.axes)]

    def jvp(self, primals, tangents, argnums):
        return [roll(tangents[0], self.shift, self.axes)]

    def vmap(self, inputs, axes):
        x = move_to_front(inputs[0], axes[0])
        if self.axes is None:
            sh = x._shape
            flat = reshape(x, (sh[0], _prod(sh[1:])))
            return [reshape(roll(flat, self.shift, 1), sh)], [0]
        return [roll(x, self.shift, tuple(a + 1 for a in self.axes))], [0]


class Flip(Primitive):
    __slots__ = ("axes",)
    name = "flip"

    def __init__(self, axes: tuple) -> None:
        self.axes = axes

    def eval(self, xp, x):
        return xp.flip(x, self.axes) if self.axes else x

    def vjp(self, primals, cotangents, argnums, outputs):
        return [flip(cotangents[0], self.axes)]

    def jvp(self, primals, tangents, argnums):
        return [flip(tangents[0], self.axes)]

    def vmap(self, inputs, axes):
        x = move_to_front(inputs[0], axes[0])
        return [flip(x, tuple(a + 1 for a in self.axes))], [0]


# -- joining and splitting -------------------------------------------------------------------
def _common(arrays, op: str, stream):
    arrays = [as_array(a, op) for a in arrays]
    d = arrays[0]._dtype
    for a in arrays[1:]:
        if a._dtype is not d:
            d = dt.promote_types(d, a._dtype)
    return [cast(a, d, stream) for a in arrays], d


def concatenate(arrays, axis=0, *, stream=None) -> array:
    """The arrays joined along an existing ``axis`` (flattened first when ``axis`` is None)."""
    arrays = list(arrays)
    if not arrays:
        raise ValueError("[concatenate] No arrays provided for concatenation")
    s = resolve_stream(stream)
    arrays, d = _common(arrays, "concatenate", s)
    if axis is None:
        arrays = [_reshape_node(a, (a.size,), s) for a in arrays]
        axis = 0
    nd = arrays[0].ndim
    for a in arrays[1:]:
        if a.ndim != nd:
            raise ValueError(
                "[concatenate] All the input arrays must have the same number of dimensions. "
                f"However, got arrays with dimensions {nd} and {a.ndim}."
            )
    ax = _axis(axis, nd, "concatenate")
    sh0 = arrays[0]._shape
    total = 0
    for a in arrays:
        sh = a._shape
        if sh[:ax] != sh0[:ax] or sh[ax + 1 :] != sh0[ax + 1 :]:
            shapes = ", ".join(fmt_shape(x._shape) for x in arrays)
            raise ValueError(
                "[concatenate] All the input array dimensions must match exactly except for the "
                f"concatenation axis. However, the provided shapes are {shapes}, and the "
                f"concatenation axis is {ax}."
            )
        total += sh[ax]
    if len(arrays) == 1:
        return arrays[0]
    shape = sh0[:ax] + (total,) + sh0[ax + 1 :]
    return node(Concatenate(ax), tuple(arrays), shape, d, s)


concat = concatenate


def stack(arrays, axis=0, *, stream=None) -> array:
    """The arrays (all of one shape) joined along a new ``axis``."""
    arrays = list(arrays)
    if not arrays:
        raise ValueError("[stack] No arrays provided for stacking")
    s = resolve_stream(stream)
    arrays, d = _common(arrays, "stack", s)
    sh = arrays[0]._shape
    for a in arrays[1:]:
        if a._shape != sh:
            raise ValueError("[stack] All arrays must have the same shape")
    ax = _axis(0 if axis is None else axis, len(sh) + 1, "stack")
    shape = sh[:ax] + (len(arrays),) + sh[ax:]
    return node(Stack(ax), tuple(arrays), shape, d, s)


def unstack(x, /, *, axis=0, stream=None) -> tuple:
    """The slices of ``x`` along ``axis`` (the axis removed), as a tuple."""
    x = as_array(x, "unstack")
    ax = _axis(axis, x.ndim, "unstack")
    n = x._shape[ax]
    if n == 0:
        return ()
    sh = x._shape[:ax] + x._shape[ax + 1 :]
    return tuple(multi_node(Unstack(ax), (x,), [sh] * n, [x._dtype] * n, resolve_stream(stream)))


def split(a, /, indices_or_sections, axis=0, *, stream=None) -> list:
    """``a`` cut along ``axis`` into equal sections (an int) or at the given indices."""
    a = as_array(a, "split")
    ax = _axis(axis, a.ndim, "split")
    n = a._shape[ax]
    if isinstance(indices_or_sections, (list, tuple, array)):
        idx = _ints(indices_or_sections, "split", "Split indices")
    else:
        k = _int(indices_or_sections, "split", "indices_or_sections")
        if k <= 0:
            raise ValueError(f"[split] num_splits must be positive and non-zero but got {k}.")
        if n % k:
            raise ValueError(
                "[split] Array split does not result in sub arrays with equal size: attempting "
                f"{k} splits along axis {ax} for shape {fmt_shape(a._shape)}."
            )
        idx = tuple(i * (n // k) for i in range(1, k))
    points = (0,) + idx + (n,)
    pieces = [range(n)[points[i] : points[i + 1]] for i in range(len(idx) + 1)]
    bounds = tuple((r.start, r.start + len(r)) for r in pieces)
    sh = a._shape
    shapes = [sh[:ax] + (len(r),) + sh[ax + 1 :] for r in pieces]
    return multi_node(
        Split(idx, ax, bounds), (a,), shapes, [a._dtype] * len(shapes), resolve_stream(stream)
    )


def tile(a, reps, /, *, stream=None) -> array:
    """``a`` repeated ``reps`` times along each axis (NumPy's rule for differing ranks)."""
    a = as_array(a, "tile")
    reps = _ints(reps, "tile", "reps")
    for r in reps:
        if r < 0:
            raise ValueError("[tile] Negative dimensions not allowed.")
    nd = max(a.ndim, len(reps))
    sh = (1,) * (nd - a.ndim) + a._shape
    rp = (1,) * (nd - len(reps)) + reps
    shape = tuple(s * r for s, r in zip(sh, rp))
    return node(Tile(rp), (a,), shape, a._dtype, resolve_stream(stream))


def repeat(array, repeats, axis=None, *, stream=None):
    """Each element repeated ``repeats`` times along ``axis`` (of the flattened array when
    ``axis`` is None)."""
    a = as_array(array, "repeat")
    r = _int(repeats, "repeat", "repeats")
    if r < 0:
        raise ValueError("[repeat] Number of repeats cannot be negative")
    if axis is None:
        return node(Repeat(r, None), (a,), (a.size * r,), a._dtype, resolve_stream(stream))
    ax = _axis(axis, a.ndim, "repeat")
    sh = a._shape
    return node(
        Repeat(r, ax),
        (a,),
        sh[:ax] + (sh[ax] * r,) + sh[ax + 1 :],
        a._dtype,
        resolve_stream(stream),
    )


# -- padding and rolling ---------------------------------------------------------------------
def _pad_widths(pad_width, nd: int) -> tuple:
    pw = pad_width
    if isinstance(pw, (int, np.integer)) and not isinstance(pw, bool):
        pairs = [(int(pw), int(pw))]
    elif isinstance(pw, (tuple, list)):
        if all(isinstance(p, (int, np.integer)) and not isinstance(p, bool) for p in pw):
            if len(pw) == 1:
                pairs = [(int(pw[0]), int(pw[0]))]
            elif len(pw) == 2:
                pairs = [(int(pw[0]), int(pw[1]))]
            else:
                raise TypeError(
                    "[pad] pad_width must be an int, a pair of ints or a list of pairs."
                )
        else:
            pairs = []
            for p in pw:
                p = _ints(p, "pad", "Padding sizes")
                if len(p) == 1:
                    p = (p[0], p[0])
                if len(p) != 2:
                    raise ValueError("[pad] Each pad_width entry must be a (low, high) pair.")
                pairs.append(p)
    else:
        raise TypeError(f"[pad] Invalid pad_width of type {type(pw).__name__}.")
    if len(pairs) == 1:
        pairs = pairs * nd
    elif len(pairs) != nd:
        raise ValueError(
            f"[pad] Invalid number of padding sizes passed to pad with axes of size {nd}"
        )
    for i, (lo, hi) in enumerate(pairs):
        if lo < 0:
            raise ValueError(
                f"[pad] Invalid low padding size ({lo}) passed to pad for axis {i}. Padding sizes must be non-negative"
            )
        if hi < 0:
            raise ValueError(
                f"[pad] Invalid high padding size ({hi}) passed to pad for axis {i}. Padding sizes must be non-negative"
            )
    return tuple(pairs)


def pad(a, pad_width, mode="constant", constant_values=0, *, stream=None) -> array:
    """``a`` padded by ``pad_width`` (an int, ``(n,)``, ``(low, high)`` or one pair per axis);
    ``mode`` is 'constant', 'edge', 'reflect' or 'symmetric'."""
    a = as_array(a, "pad")
    if mode not in ("constant", "edge", "reflect", "symmetric"):
        raise ValueError(f"[pad] Invalid padding mode ({mode}) passed to pad")
    d = a._dtype
    if a.ndim == 0:
        return a
    widths = _pad_widths(pad_width, a.ndim)
    shape = tuple(s + lo + hi for s, (lo, hi) in zip(a._shape, widths))
    st = resolve_stream(stream)
    if mode == "constant":
        cv = constant_values
        if isinstance(cv, array):
            v = cast(cv, d, st)
        else:
            v = constant(np.asarray(cv).astype(d.np), d)
        return node(Pad(widths, mode), (a, v), shape, d, st)
    return node(Pad(widths, mode), (a,), shape, d, st)


def roll(a, /, shift, axis=None, *, stream=None) -> array:
    """``a`` with elements shifted cyclically along ``axis`` (the flattened array when None)."""
    a = as_array(a, "roll")
    nd = a.ndim
    shifts = _ints(shift, "roll", "Shift")
    multi_shift = isinstance(shift, (tuple, list))
    if axis is None:
        return node(Roll(sum(shifts), None), (a,), a._shape, a._dtype, resolve_stream(stream))
    if isinstance(axis, (tuple, list)):
        axes = tuple(_axis(x, nd, "roll", _INVALID) for x in axis)
        if multi_shift:
            if len(shifts) < len(axes):
                raise ValueError(
                    f"[roll] At least one shift value per axis is required, {len(shifts)} provided for {len(axes)} axes."
                )
            shifts = shifts[: len(axes)]
        else:
            shifts = shifts * len(axes)
    else:
        axes = (_axis(axis, nd, "roll", _INVALID),)
        shifts = (sum(shifts),)
    return node(Roll(shifts, axes), (a,), a._shape, a._dtype, resolve_stream(stream))


def flip(a, /, axis=None, *, stream=None) -> array:
    """``a`` with the order of elements reversed along ``axis`` (all axes by default)."""
    a = as_array(a, "flip")
    nd = a.ndim
    if axis is None:
        axes = tuple(range(nd))
    else:
        axes = tuple(sorted({_axis(x, nd, "flip") for x in _ints(axis, "flip")}))
    return node(Flip(axes), (a,), a._shape, a._dtype, resolve_stream(stream))


# -- array methods ---------------------------------------------------------------------------
def _m_split(self, indices_or_sections, axis=0, *, stream=None):
    return split(self, indices_or_sections, axis, stream=stream)


__all__ = [
    "concatenate", "concat", "stack", "unstack", "split", "tile", "repeat", "pad", "roll", "flip",
]  # fmt: skip
METHODS = {"split": _m_split}
