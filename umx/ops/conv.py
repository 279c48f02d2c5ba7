"""Convolutions: conv1d/2d/3d, conv_general, conv_transpose1d/2d/3d and convolve.

Layouts are MLX's: input ``(N, *spatial, C_in)``, weight ``(C_out, *kernel, C_in / groups)``,
output ``(N, *spatial_out, C_out)``. Every convolution is one primitive, ``Convolution``: a
strided window view of the (dilated, padded) input contracted with the weight by one matmul
per chunk of the batch (im2col: OpenBLAS on the CPU, cuBLAS on the GPU); a multiply-add per
tap when depthwise; and, where the input is dilated more than strided (transposed
convolutions), input-times-weight products scattered to the outputs, skipping the zeros.
Its vjp is a ``Convolution`` for the input (the transposed one) and a ``ConvWeightGrad``
for the weight (the cotangent times the same windows); both differentiate again.

The primitives' spatial parameters are normalised: ``lo`` is where input element 0 lands in
the dilated, padded input (negative: it is cut off), and ``out`` the output size; the extent
read is then ``(out - 1) * stride + (K - 1) * kdil + 1``, zeros where no input element lands.
"""

from __future__ import annotations

import math
import operator

import numpy as np

from .. import _dtypes as dt
from .._array import array, node
from .._device import resolve_stream
from .._primitive import Primitive
from ._util import fmt_shape
from .linalg import _wide
from .unary import cast

__all__ = [
    "conv1d", "conv2d", "conv3d", "conv_general",
    "conv_transpose1d", "conv_transpose2d", "conv_transpose3d", "convolve",
]  # fmt: skip

# Bytes of im2col buffer per matmul: larger batches are cut into chunks of samples.
_IM2COL_BYTES = 1 << 28


def _placed(xp, x, lo: tuple, idil: tuple, extent: tuple):
    """``x`` dilated by ``idil`` with element 0 at ``lo`` in a zero array of ``extent``
    spatial size (elements outside it dropped); a view of ``x`` where that is one."""
    sp = x.shape[1:-1]
    if all(i == 1 and lo_ <= 0 and e - lo_ <= n for lo_, i, e, n in zip(lo, idil, extent, sp)):
        key = tuple(slice(-lo_, -lo_ + e) for lo_, e in zip(lo, extent))
        return x[(slice(None), *key, slice(None))]
    out = xp.zeros((x.shape[0], *extent, x.shape[-1]), x.dtype)
    dst, src = [], []
    for lo_, i, e, n in zip(lo, idil, extent, sp):
        j0 = max(0, (i - 1 - lo_) // i)  # first element at a position >= 0
        j1 = min(n, (e - lo_ + i - 1) // i)  # past the last element at a position < e
        if j1 <= j0:
            return out
        p0 = lo_ + j0 * i
        dst.append(slice(p0, p0 + (j1 - j0 - 1) * i + 1, i))
        src.append(slice(j0, j1))
    out[(slice(None), *dst, slice(None))] = x[(slice(None), *src, slice(None))]
    return out


class _ConvGeometry(Primitive):
    """The normalised geometry the convolution primitives share, and their windows.

    ``out[n, o, :] = sum_k X[n, o * stride + k * kdil, :] . W[:, k, :]`` per group, where
    ``X`` is the input dilated by ``idil`` with element 0 at position ``lo``, and ``W`` the
    weight (its kernel axes reversed when ``flip``)."""

    __slots__ = ("stride", "lo", "out", "kdil", "idil", "groups", "flip")

    def __init__(self, stride, lo, out, kdil, idil, groups: int, flip: bool) -> None:
        self.stride = tuple(stride)
        self.lo = tuple(lo)
        self.out = tuple(out)
        self.kdil = tuple(kdil)
        self.idil = tuple(idil)
        self.groups = groups
        self.flip = flip

    def geometry(self) -> tuple:
        return (self.stride, self.lo, self.out, self.kdil, self.idil, self.groups, self.flip)

    def params(self) -> tuple:  # the slots are the base's: Primitive.params would see none
        return self.geometry()

    def _extent(self, kern) -> tuple:
        return tuple(
            (q - 1) * s + (k - 1) * kd + 1
            for q, s, k, kd in zip(self.out, self.stride, kern, self.kdil)
        )

    def _landing(self, xp, x, kern):
        """Where the input lands, for the scatter paths: per spatial dim the range of input
        elements inside the extent. None where the windows' im2col costs no more (no input
        dilation beyond the stride, or many taps), and on the GPU unless the windows pass
        four times the im2col budget (a Python loop over taps costs more there than the
        zeros: 6.3 against 1.6 ms for a 7x7 stride-2 input cotangent on an H100)."""
        if int(np.prod(kern)) > 64 or all(i <= s for i, s in zip(self.idil, self.stride)):
            return None
        if xp is not np:
            cols = x.shape[0] * int(np.prod(self.out)) * int(np.prod(kern)) * x.shape[-1]
            if cols * x.dtype.itemsize <= 4 * _IM2COL_BYTES:
                return None
        sp = x.shape[1:-1]
        spans = []
        for lo, i, e, m in zip(self.lo, self.idil, self._extent(kern), sp):
            j0 = max(0, (i - 1 - lo) // i)
            j1 = min(m, (e - lo + i - 1) // i)
            spans.append((j0, max(j0, j1)))
        landed = int(np.prod([b - a for a, b in spans]))
        return spans if landed < int(np.prod(self.out)) else None

    def _reaches(self, k, spans):
        """For tap ``k``: the landed input elements (relative to the spans' starts) that
        reach an output, and those outputs, as slices per spatial dim (None: none)."""
        src, dst = [], []
        for i, (j0, j1) in enumerate(spans):
            lo, idil, s = self.lo[i], self.idil[i], self.stride[i]
            kd, out = self.kdil[i], self.out[i]
            # Input j reaches output (lo + j * idil - k * kd) / s where that is whole.
            first = max(j0, -((lo - k[i] * kd) // idil))
            for j in range(first, min(j1, first + s)):
                if (lo + j * idil - k[i] * kd) % s == 0:
                    break
            else:
                return None
            step = s // math.gcd(s, idil)
            q0 = (lo + j * idil - k[i] * kd) // s
            qstep = step * idil // s
            cnt = min(-((j - j1) // step), -((q0 - out) // qstep))
            if cnt <= 0:
                return None
            src.append(slice(j - j0, j - j0 + (cnt - 1) * step + 1, step))
            dst.append(slice(q0, q0 + (cnt - 1) * qstep + 1, qstep))
        return src, dst

    def _tap(self, k) -> tuple:
        """The slices of the placed input that tap ``k`` reads for every output."""
        return tuple(
            slice(kk * kd, kk * kd + (q - 1) * s + 1, s)
            for kk, kd, q, s in zip(k, self.kdil, self.out, self.stride)
        )

    def _chunk(self, n: int, kern, c: int, itemsize: int) -> int:
        """Samples per im2col matmul, so that the windows' copy stays within budget."""
        per_sample = int(np.prod(self.out)) * int(np.prod(kern)) * c * itemsize
        return max(1, min(n, _IM2COL_BYTES // max(per_sample, 1)))

    def _windows(self, xp, X, kern, b0: int, nb: int):
        """(G, nb * out, taps * C_in/G): the windows of samples ``b0:b0 + nb`` of the placed
        input, a strided view copied once by the reshape."""
        g = self.groups
        cg = X.shape[-1] // g
        st = X.strides
        strides = (
            (cg * st[-1], st[0])
            + tuple(s * t for s, t in zip(self.stride, st[1:-1]))
            + tuple(kd * t for kd, t in zip(self.kdil, st[1:-1]))
            + (st[-1],)
        )
        win = xp.lib.stride_tricks.as_strided(
            X[b0 : b0 + nb], (g, nb, *self.out, *kern, cg), strides
        )
        return win.reshape(g, -1, int(np.prod(kern)) * cg)


class Convolution(_ConvGeometry):
    """The convolution of an input ``(N, *spatial, C_in)`` with a weight
    ``(C_out, *kernel, C_in / groups)``."""

    __slots__ = ()
    name = "convolution"

    def eval(self, xp, x, w):
        d = x.dtype
        nd = x.ndim - 2
        n, c, o = x.shape[0], x.shape[-1], w.shape[0]
        kern = w.shape[1:-1]
        shape = (n, *self.out, o)
        if 0 in shape or 0 in kern or c == 0:
            return xp.zeros(shape, d)
        x, w = _wide(xp, x), _wide(xp, w)
        if self.flip:
            w = w[(slice(None),) + (slice(None, None, -1),) * nd]
        g = self.groups
        # The weight as (G, C_out/G, taps * C_in/G), flattened as the windows are.
        wg = xp.ascontiguousarray(w).reshape(g, o // g, -1)
        spans = self._landing(xp, x, kern)
        if spans is not None:
            return self._scatter(xp, x, wg, kern, spans).astype(d, copy=False)
        X = _placed(xp, x, self.lo, self.idil, self._extent(kern))
        if c == g and o == g:  # depthwise: a multiply-add per tap beats G tiny matmuls
            y = None
            for t, k in enumerate(np.ndindex(*kern)):
                term = X[(slice(None), *self._tap(k))] * wg[:, 0, t]
                if y is None:
                    y = term
                else:
                    y += term
            return y.astype(d, copy=False)
        wm = wg.transpose(0, 2, 1)  # (G, taps * C_in/G, C_out/G)
        chunk = self._chunk(n, kern, c, X.dtype.itemsize)
        res = xp.empty(shape, wm.dtype) if chunk < n else None
        for b0 in range(0, n, chunk):
            nb = min(chunk, n - b0)
            y = xp.matmul(self._windows(xp, X, kern, b0, nb), wm)  # (G, N * out, C_out/G)
            if g == 1:
                y = y.reshape(nb, *self.out, o)
            else:
                y = xp.moveaxis(y.reshape(g, nb, *self.out, o // g), 0, -2)
                y = y.reshape(nb, *self.out, o)
            if res is None:
                return y.astype(d, copy=False)
            res[b0 : b0 + nb] = y
        return res.astype(d, copy=False)

    def _scatter(self, xp, x, wg, kern, spans):
        """The input dilated more than it is strided (transposed convolutions, input
        cotangents): multiply each landed input element by every tap at once, then add
        each tap's products into the outputs it reaches: no work on the dilation's zeros."""
        g, og, _ = wg.shape
        n, c = x.shape[0], x.shape[-1]
        cg = c // g
        xs = x[(slice(None), *(slice(a, b) for a, b in spans), slice(None))]
        m = xs.shape[1:-1]
        # (G, C_in/G, taps * C_out/G): every tap's weight side by side.
        wt = wg.reshape(g, og, -1, cg).transpose(0, 3, 2, 1).reshape(g, cg, -1)
        xg = xp.moveaxis(xs.reshape(-1, g, cg), 1, 0)
        prod = xp.matmul(xg, wt).reshape(g, n, *m, *kern, og)
        prod = xp.moveaxis(prod, 0, -2)  # (N, *landed, *kernel, G, C_out/G)
        y = xp.zeros((n, *self.out, g, og), prod.dtype)
        for k in np.ndindex(*kern):
            r = self._reaches(k, spans)
            if r is not None:
                y[(slice(None), *r[1])] += prod[(slice(None), *r[0], *k)]
        return y.reshape(n, *self.out, g * og)


class ConvWeightGrad(_ConvGeometry):
    """The weight cotangent of a ``Convolution`` of geometry (the same parameters) and
    kernel size ``kern``: ``gw[o, k, c] = sum_{n, q} gy[n, q, o] X[n, q * stride + k * kdil, c]``
    per group, the cotangent ``gy`` times the windows of the input (one matmul)."""

    __slots__ = ("kern",)
    name = "conv_weight_grad"

    def __init__(self, geometry: tuple, kern) -> None:
        super().__init__(*geometry)
        self.kern = tuple(kern)

    def params(self) -> tuple:
        return (*self.geometry(), self.kern)

    def eval(self, xp, x, gy):
        d = x.dtype
        nd = x.ndim - 2
        n, c, o = x.shape[0], x.shape[-1], gy.shape[-1]
        kern, g = self.kern, self.groups
        cg, og = c // g, o // g
        shape = (o, *kern, cg)
        if 0 in shape or n == 0 or 0 in self.out:
            return xp.zeros(shape, d)
        x, gy = _wide(xp, x), _wide(xp, gy)
        spans = self._landing(xp, x, kern)
        if spans is not None:  # per tap: the outputs it reaches times the inputs it read
            xs = x[(slice(None), *(slice(a, b) for a, b in spans), slice(None))]
            gw = xp.zeros((g, og, int(np.prod(kern)), cg), xs.dtype)
            for t, k in enumerate(np.ndindex(*kern)):
                r = self._reaches(k, spans)
                if r is not None:
                    a = xs[(slice(None), *r[0])].reshape(-1, g, cg).transpose(1, 0, 2)
                    b = gy[(slice(None), *r[1])].reshape(-1, g, og).transpose(1, 2, 0)
                    gw[:, :, t] += xp.matmul(b, a)
        else:
            X = _placed(xp, x, self.lo, self.idil, self._extent(kern))
            if c == g and o == g:  # depthwise: a product and a sum per tap
                ones = xp.ones(n * int(np.prod(self.out)), gy.dtype)
                taps = [
                    ones @ (X[(slice(None), *self._tap(k))] * gy).reshape(-1, c)
                    for k in np.ndindex(*kern)
                ]  # a matmul with ones sums faster than CuPy's multi-axis sum
                gw = xp.stack(taps, axis=-1)
            else:
                gw = None
                chunk = self._chunk(n, kern, c, X.dtype.itemsize)
                for b0 in range(0, n, chunk):
                    cols = self._windows(xp, X, kern, b0, min(chunk, n - b0))
                    gyc = gy[b0 : b0 + chunk].reshape(-1, g, og).transpose(1, 2, 0)
                    part = xp.matmul(gyc, cols)  # (G, C_out/G, taps * C_in/G)
                    if gw is None:
                        gw = part
                    else:
                        gw += part
        gw = gw.reshape(shape)
        if self.flip:
            gw = gw[(slice(None),) + (slice(None, None, -1),) * nd]
        return xp.ascontiguousarray(gw).astype(d, copy=False)


# -- argument handling -------------------------------------------------------------------------


def _int(v, op: str, name: str) -> int:
    if isinstance(v, float) or isinstance(v, (str, bytes)):
        raise TypeError(f"[{op}] {name} must be an integer or a sequence of integers, got {v!r}.")
    try:
        return operator.index(v)
    except TypeError:
        raise TypeError(
            f"[{op}] {name} must be an integer or a sequence of integers, got {v!r}."
        ) from None


def _int_list(v, op: str, name: str, size: int | None = None) -> list:
    """``v`` (an int or a sequence of ints) as a list; ``size``: a sequence must have it."""
    if isinstance(v, (list, tuple)):
        if size is not None and len(v) != size:
            raise TypeError(f"[{op}] {name} must be an int or a sequence of {size} ints.")
        return [_int(x, op, name) for x in v]
    if isinstance(v, array) and v.ndim == 1:
        return [int(x) for x in v.tolist()]
    return [_int(v, op, name)]


def _check_arrays(op: str, *xs) -> None:
    for x in xs:
        if not isinstance(x, array):
            raise TypeError(f"[{op}] Expected mlx arrays as inputs, got {type(x).__name__}.")


def _fill(v: list, nd: int, default: int = 1) -> list:
    """MLX's broadcast of a parameter list: empty is the default, one value fills all."""
    if len(v) == 0:
        return [default] * nd
    if len(v) == 1:
        return v * nd
    return v


def _slice_start_stop(lo: int, hi: int, n: int) -> tuple:
    """The part of an axis of size ``n`` that negative padding keeps: ``[-lo, n + hi)``,
    normalised as MLX's slice does (a negative stop counts from the end once, then clamps)."""
    start = min(-lo, n) if lo < 0 else 0
    stop = n + hi if hi < 0 else n
    if stop < 0:
        stop += n
    stop = min(max(stop, 0), n)
    return start, max(start, stop)


def _tdiv(a: int, b: int) -> int:
    """Integer division rounding toward zero (C++'s, which fixes MLX's output sizes)."""
    q = abs(a) // b
    return q if a >= 0 else -q


def _conv(x, w, stride, lo, hi, kdil, idil, groups, flip: bool, stream) -> array:
    """The shared body of every convolution: MLX's checks in MLX's order, negative padding
    cut off the input, promotion, and the node."""
    groups = _int(groups, "conv", "groups")
    if groups != 1 and x.ndim not in (3, 4):
        raise ValueError("[conv] Can only handle groups != 1 in 1D or 2D convolutions.")
    nd = x.ndim - 2
    if not 1 <= nd <= 3:
        raise ValueError(
            "[conv] Only works for inputs with 1-3 spatial dimensions. "
            "The inputs must be in the format [N, ..., C_in]"
        )
    if not dt.issubdtype(x._dtype, dt.floating):
        raise ValueError(
            f"[conv] Invalid input array with type {x._dtype.name}. "
            "Convolution currently only supports floating point types"
        )
    if w.ndim != nd + 2:
        raise ValueError(
            f"[conv] Invalid weight array with {w.ndim} dimensions for {nd}D convolution. "
            f"Expected an array with {nd + 2} dimensions following the format [C_out, ..., C_in]."
        )
    cin, cout, cw = x.shape[-1], w.shape[0], w.shape[-1]
    if groups < 1:
        raise ValueError(f"[conv] The number of groups must be positive, got {groups}.")
    if cin % groups:
        raise ValueError(
            "[conv] The input channels must be divisible by the number of groups. "
            f"Got input with shape {fmt_shape(x.shape)} and {groups} groups."
        )
    if groups > 1 and cout % groups:
        raise ValueError(
            "[conv] If groups > 1, the output channels must be divisible by the number of "
            f"groups. Got {cout} output channels and {groups} groups."
        )
    if cin != groups * cw:
        if groups == 1:
            raise ValueError(
                "[conv] Expect the input channels in the input and weight array to match but "
                f"got shapes - input: {fmt_shape(x.shape)} and weight: {fmt_shape(w.shape)}"
            )
        raise ValueError(
            f"Given groups={groups} and weights of shape {fmt_shape(w.shape)}, expected to "
            f"have {groups * cw} input channels but got {cin} input channels instead."
        )

    def sized(v, what):
        if len(v) > 1 and len(v) != nd:
            raise ValueError(f"[conv] Invalid {what} {fmt_shape(v)} for {nd}D convolution.")

    sized(stride, "strides")
    if (len(lo) > 1 and len(lo) != nd) or (len(hi) > 1 and len(hi) != nd):
        raise ValueError(
            f"[conv] Invalid padding {fmt_shape(lo)} | {fmt_shape(hi)} for {nd}D convolution."
        )
    sized(kdil, "kernel dilation")
    sized(idil, "input dilation")
    stride, kdil, idil = _fill(stride, nd), _fill(kdil, nd), _fill(idil, nd)
    lo, hi = _fill(lo, nd, 0), _fill(hi, nd, 0)
    for v, what in ((stride, "Stride"), (kdil, "Kernel dilation"), (idil, "Input dilation")):
        if any(s <= 0 for s in v):
            name = "strides" if what == "Stride" else what.lower()
            raise ValueError(f"[conv] {what} sizes must be positive. Got {name} {fmt_shape(v)}.")
    s = resolve_stream(stream)
    # Negative padding: MLX cuts it off the input before the input dilation.
    if any(p < 0 for p in lo + hi):
        key = [slice(None)] * x.ndim
        for i in range(nd):
            a, b = _slice_start_stop(lo[i], hi[i], x.shape[1 + i])
            key[1 + i] = slice(a, b)
        from .._device import stream as _on
        from .index import getitem

        with _on(s):
            x = getitem(x, tuple(key))
        lo = [max(p, 0) for p in lo]
        hi = [max(p, 0) for p in hi]
    kern = w.shape[1:-1]
    if 0 in kern:
        raise ValueError(
            f"[conv] The weight's spatial dimensions must be positive, got {fmt_shape(w.shape)}."
        )
    out = []
    for i in range(nd):
        size = 1 + (x.shape[1 + i] - 1) * idil[i]
        span = 1 + (kern[i] - 1) * kdil[i]
        q = _tdiv(size + lo[i] + hi[i] - span, stride[i]) + 1
        if q <= 0:
            raise ValueError(
                "[conv] Spatial dimensions of input after padding cannot be smaller than weight "
                f"spatial dimensions. Got error at axis {i + 1} for input with shape "
                f"{fmt_shape(x.shape)}, padding low {fmt_shape(lo)}, padding high "
                f"{fmt_shape(hi)}, and weight of shape {fmt_shape(w.shape)}."
            )
        out.append(q)
    d = dt._PROMOTE[(x._dtype, w._dtype)]
    x, w = cast(x, d, s), cast(w, d, s)
    prim = Convolution(stride, lo, out, kdil, idil, groups, bool(flip))
    return node(prim, (x, w), (x.shape[0], *out, cout), d, s)


# -- public ops --------------------------------------------------------------------------------


def conv_general(
    input: array,
    weight: array,
    /,
    stride=1,
    padding=0,
    kernel_dilation=1,
    input_dilation=1,
    groups: int = 1,
    flip: bool = False,
    *,
    stream=None,
) -> array:
    """Convolution over 1 to 3 spatial dimensions with per-dimension strides, low/high
    padding (``(lo, hi)``: a pair of sequences), kernel and input dilation, groups, and
    ``flip`` (True: convolution, False: cross-correlation)."""
    op = "conv_general"
    _check_arrays(op, input, weight)
    if (
        isinstance(padding, tuple)
        and len(padding) == 2
        and all(isinstance(p, (list, tuple)) for p in padding)
    ):
        lo = _int_list(padding[0], op, "padding")
        hi = _int_list(padding[1], op, "padding")
    else:
        lo = hi = _int_list(padding, op, "padding")
    if not isinstance(flip, (bool, np.bool_)):
        raise TypeError(f"[{op}] flip must be a bool, got {type(flip).__name__}.")
    return _conv(
        input,
        weight,
        _int_list(stride, op, "stride"),
        lo,
        hi,
        _int_list(kernel_dilation, op, "kernel_dilation"),
        _int_list(input_dilation, op, "input_dilation"),
        groups,
        bool(flip),
        stream,
    )


def _params(nd: int, op: str, **values) -> list:
    """The int-or-tuple parameters of conv{1,2,3}d and conv_transpose{1,2,3}d as lists:
    conv1d's are ints (kept as one value, which MLX spreads over any rank); the 2-D and 3-D
    ops spread an int over their ``nd`` dims and take sequences of exactly ``nd``."""
    out = []
    for name, v in values.items():
        if nd == 1:
            if isinstance(v, (list, tuple)):
                raise TypeError(f"[{op}] {name} must be an int.")
            out.append([_int(v, op, name)])
        else:
            out.append(_fill(_int_list(v, op, name, nd), nd))
    return out


def _conv_nd(nd, op, input, weight, stride, padding, dilation, groups, stream) -> array:
    _check_arrays(op, input, weight)
    st, p, dil = _params(nd, op, stride=stride, padding=padding, dilation=dilation)
    return _conv(input, weight, st, p, p, dil, [1] * len(st), groups, False, stream)


def conv1d(
    input: array,
    weight: array,
    /,
    stride: int = 1,
    padding: int = 0,
    dilation: int = 1,
    groups: int = 1,
    *,
    stream=None,
) -> array:
    """1-D cross-correlation of ``(N, L, C_in)`` with ``(C_out, K, C_in / groups)``."""
    return _conv_nd(1, "conv1d", input, weight, stride, padding, dilation, groups, stream)


def conv2d(
    input: array,
    weight: array,
    /,
    stride=1,
    padding=0,
    dilation=1,
    groups: int = 1,
    *,
    stream=None,
) -> array:
    """2-D cross-correlation of ``(N, H, W, C_in)`` with ``(C_out, KH, KW, C_in / groups)``."""
    return _conv_nd(2, "conv2d", input, weight, stride, padding, dilation, groups, stream)


def conv3d(
    input: array,
    weight: array,
    /,
    stride=1,
    padding=0,
    dilation=1,
    groups: int = 1,
    *,
    stream=None,
) -> array:
    """3-D cross-correlation of ``(N, D, H, W, C_in)`` with ``(C_out, KD, KH, KW, C_in)``."""
    return _conv_nd(3, "conv3d", input, weight, stride, padding, dilation, groups, stream)


def _conv_transpose(
    nd, op, input, weight, stride, padding, dilation, output_padding, groups, stream
) -> array:
    """The transposed convolution as MLX writes it: a convolution of the input dilated by
    ``stride`` with the flipped weight, padded ``dilation * (K - 1) - padding`` low and that
    plus ``output_padding`` high."""
    _check_arrays(op, input, weight)
    st, pad, dil, opad = _params(
        nd, op, stride=stride, padding=padding, dilation=dilation, output_padding=output_padding
    )
    k = len(pad)
    if weight.ndim < 1 + k:
        raise IndexError(f"[{op}] The weight with shape {fmt_shape(weight.shape)} is too small.")
    lo = [dil[i] * (weight.shape[1 + i] - 1) - pad[i] for i in range(k)]
    hi = [lo[i] + opad[i] for i in range(k)]
    return _conv(input, weight, [1] * len(st), lo, hi, dil, st, groups, True, stream)


def conv_transpose1d(
    input: array,
    weight: array,
    /,
    stride: int = 1,
    padding: int = 0,
    dilation: int = 1,
    output_padding: int = 0,
    groups: int = 1,
    *,
    stream=None,
) -> array:
    """1-D transposed convolution of ``(N, L, C_in)`` with ``(C_out, K, C_in / groups)``."""
    return _conv_transpose(
        1, "conv_transpose1d", input, weight, stride, padding, dilation, output_padding, groups,
        stream,
    )  # fmt: skip


def conv_transpose2d(
    input: array,
    weight: array,
    /,
    stride=1,
    padding=0,
    dilation=1,
    output_padding=0,
    groups: int = 1,
    *,
    stream=None,
) -> array:
    """2-D transposed convolution of ``(N, H, W, C_in)`` with ``(C_out, KH, KW, C_in / groups)``."""
    return _conv_transpose(
        2, "conv_transpose2d", input, weight, stride, padding, dilation, output_padding, groups,
        stream,
    )  # fmt: skip


def conv_transpose3d(
    input: array,
    weight: array,
    /,
    stride=1,
    padding=0,
    dilation=1,
    output_padding=0,
    groups: int = 1,
    *,
    stream=None,
) -> array:
    """3-D transposed convolution of ``(N, D, H, W, C_in)`` with ``(C_out, KD, KH, KW, C_in)``."""
    return _conv_transpose(
        3, "conv_transpose3d", input, weight, stride, padding, dilation, output_padding, groups,
        stream,
    )  # fmt: skip


def convolve(a: array, v: array, /, mode: str = "full", *, stream=None) -> array:
    """Discrete convolution of two 1-D arrays (``numpy.convolve``): the shorter one is the
    kernel, flipped; ``mode`` is ``"full"``, ``"valid"`` or ``"same"`` (the longer length,
    centred as NumPy does)."""
    _check_arrays("convolve", a, v)
    if a.ndim != 1 or v.ndim != 1:
        raise ValueError("[convolve] Inputs must be 1D.")
    if a.size == 0 or v.size == 0:
        raise ValueError("[convolve] Inputs cannot be empty.")
    x, k = (v, a) if a.size < v.size else (a, v)
    m = k.size
    if mode == "full":
        lo = hi = m - 1
    elif mode == "valid":
        lo = hi = 0
    elif mode == "same":
        lo = m // 2
        hi = lo if m % 2 else max(0, lo - 1)
    else:
        raise ValueError("[convolve] Invalid mode.")
    from .shape import reshape

    s = resolve_stream(stream)
    x = reshape(x, (1, -1, 1), stream=s)
    k = reshape(k, (1, -1, 1), stream=s)
    y = _conv(x, k, [1], [lo], [hi], [1], [1], 1, True, s)
    return reshape(y, (-1,), stream=s)


from . import _conv_rules  # noqa: E402,F401 - installs vjp / jvp / vmap on the primitives above
