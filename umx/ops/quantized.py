"""Quantization: quantize, dequantize, quantized_matmul, gather_qmm, to_fp8, from_fp8.

Modes (MLX 0.32.4's, checked against it on the CPU): ``"affine"`` (group size 32 / 64 / 128,
bits 1-6 or 8, a scale and a bias per group in the input's dtype), ``"mxfp4"`` and
``"mxfp8"`` (groups of 32, e2m1 / e4m3 elements, a power-of-two e8m0 scale) and
``"nvfp4"`` (groups of 16, e2m1 elements, an e4m3 scale, an optional float32 global scale).
Codes are packed into uint32 words from the lowest bit up. The kernels live in
``_quant_kernels``; this module declares the primitives, checks arguments at call time and
gives the transform rules.

On GPU streams CuPy's kernels flush float32 subnormals to zero, so a group whose values are
subnormal (below 2**-126) can quantize differently there than on the CPU.

``qqmm`` / ``gather_qqmm`` (both operands quantized) live in ``matmul_variants.py``; MLX's
CPU backend checks their arguments but does not compute them ("NYI"), umx does.
"""

from __future__ import annotations

from math import prod

import numpy as np

from .. import _dtypes as dt
from .._array import array, node
from .._device import resolve_stream
from .._primitive import NotDifferentiable, Primitive, multi_node
from .._rules import zero_jvp, zero_vjp
from . import _quant_kernels as K
from ._util import broadcast_shapes, fmt_shape
from .unary import cast

__all__ = ["quantize", "dequantize", "quantized_matmul", "gather_qmm", "to_fp8", "from_fp8"]

_MODES = {"affine": (64, 4), "mxfp4": (32, 4), "mxfp8": (32, 8), "nvfp4": (16, 4)}
_AFFINE_BITS = (1, 2, 3, 4, 5, 6, 8)
_AFFINE_GROUPS = (32, 64, 128)
_HALF = (dt.float16, dt.bfloat16)
_FLOATS = (dt.float16, dt.bfloat16, dt.float32, dt.float64)


class NoWeightGradient(NotDifferentiable, RuntimeError):
    """No derivative with respect to packed quantized weights (MLX raises RuntimeError)."""


# -- argument checks ------------------------------------------------------------------------


def _need_array(x, op: str, what: str) -> array:
    if not isinstance(x, array):
        raise TypeError(f"[{op}] {what} must be an array, got {type(x).__name__}.")
    return x


def _mode_params(mode, group_size, bits, op: str) -> tuple:
    """(mode, group_size, bits) with the mode's defaults; fp modes fix both."""
    if mode not in _MODES:
        raise ValueError(f"[{op}] Invalid quantization mode '{mode}'.")
    g0, b0 = _MODES[mode]
    gs = g0 if group_size is None else _int(group_size, op, "group_size")
    bits = b0 if bits is None else _int(bits, op, "bits")
    if mode != "affine":
        if gs != g0:
            raise ValueError(f"[{op}] {mode} quantization requires group size {g0} but got {gs}.")
        if bits != b0:
            raise ValueError(f"[{op}] {mode} quantization requires bits to be {b0} but got {bits}.")
    return mode, gs, bits


def _int(v, op: str, name: str) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
        raise TypeError(f"[{op}] {name} must be an int, got {type(v).__name__}.")
    return int(v)


def _check_affine_support(gs: int, bits: int, op: str) -> None:
    if gs not in _AFFINE_GROUPS:
        raise ValueError(
            f"[{op}] The requested group size {gs} is not supported. The supported group "
            "sizes are 32, 64, and 128."
        )
    if bits not in _AFFINE_BITS:
        raise ValueError(
            f"[{op}] The requested number of bits {bits} is not supported. The supported bits "
            "are 1, 2, 3, 4, 5, 6 and 8."
        )


def _check_biases(mode: str, biases, op: str) -> None:
    if mode == "affine" and biases is None:
        raise ValueError(f"[{op}] Biases must be provided for affine quantization.")
    if mode != "affine" and biases is not None:
        raise ValueError(f"[{op}] Biases must be null for quantization mode '{mode}'.")


def _check_fp_scales(mode: str, scales: array, op: str) -> None:
    if mode != "affine" and scales._dtype is not dt.uint8:
        raise ValueError(f"[{op}] Scale type must be uint8 but received type {scales._dtype.name}.")


def _global_scale(g, mode: str, op: str) -> array | None:
    if g is None:
        return None
    g = _need_array(g, op, "global_scale")
    if mode != "nvfp4":
        raise ValueError(f"[{op}] Global scale is only supported for 'nvfp4' quantization mode.")
    if g._dtype is not dt.float32:
        raise ValueError(f"[{op}] Global scale must have dtype float32 but got {g._dtype.name}.")
    return g


def _affine_out(scales: array, biases: array, op: str) -> dt.Dtype:
    d = dt.promote_types(scales._dtype, biases._dtype)
    if d.kind != "f":
        raise ValueError(
            f"[{op}] Only real floating types are supported but scales.dtype() == "
            f"{scales._dtype.name} and biases.dtype() == {biases._dtype.name}."
        )
    return d


def _packable(bits: int, op: str) -> None:
    if not (1 <= bits <= 8 or 32 % bits == 0):
        raise ValueError(f"[{op}] {bits}-bit codes are not supported.")


# -- quantize ----------------------------------------------------------------------------------


class Quantize(Primitive):
    """``w`` to (packed codes, scales[, biases]) in one of the quantization modes."""

    __slots__ = ("group_size", "bits", "mode")
    name = "quantize"
    multi = True

    def __init__(self, group_size: int, bits: int, mode: str) -> None:
        self.group_size = group_size
        self.bits = bits
        self.mode = mode

    def eval(self, xp, w, *g):
        if self.mode == "affine":
            return K.affine_quantize(xp, w, self.group_size, self.bits)
        return K.fp_quantize(xp, w, self.mode, self.group_size, g[0] if g else None)

    # MLX gives zero gradients (the codes and scales are piecewise constant in effect).
    vjp = zero_vjp
    jvp = zero_jvp

    def vmap(self, inputs, axes):
        from .._rules import move_to_front

        if len(axes) > 1 and axes[1] is not None:
            raise NotImplementedError  # a batched global scale: loop
        w = move_to_front(inputs[0], axes[0])
        g = inputs[1] if len(inputs) > 1 else None
        outs = quantize(w, self.group_size, self.bits, self.mode, global_scale=g)
        return list(outs), [0] * len(outs)


def quantize(
    w, /, group_size: int | None = None, bits: int | None = None, mode: str = "affine", *,
    global_scale=None, stream=None,
) -> tuple:  # fmt: skip
    """Quantize ``w`` by groups of ``group_size`` along its last axis.

    Returns ``(w_q, scales, biases)`` for ``"affine"`` (scales and biases in ``w``'s dtype)
    and ``(w_q, scales)`` for ``"mxfp4"``, ``"mxfp8"`` and ``"nvfp4"`` (uint8 scales);
    ``w_q`` packs the ``bits``-bit codes into uint32 words, lowest bits first.
    """
    w = _need_array(w, "quantize", "w")
    mode, gs, bits = _mode_params(mode, group_size, bits, "quantize")
    if mode == "affine":
        _check_affine_support(gs, bits, "quantize")
    if w._dtype.kind != "f":
        raise ValueError(
            f"[quantize] Only real floating types can be quantized but w has type {w._dtype.name}."
        )
    if mode == "affine" and w._dtype is dt.float64:  # MLX fails when it evaluates
        raise ValueError("[quantize] Affine quantization supports float16, bfloat16 and float32.")
    if w.ndim < 2:
        raise ValueError(
            "[quantize] The matrix to be quantized must have at least 2 dimension but it has "
            f"only {w.ndim}."
        )
    if w._shape[-1] % gs:
        raise ValueError(
            "[quantize] The last dimension of the matrix needs to be divisible by the "
            f"quantization group size {gs}. However the provided  matrix has shape "
            f"{fmt_shape(w._shape)}"
        )
    g = _global_scale(global_scale, mode, "quantize")
    if g is not None and g.ndim:
        raise ValueError(
            f"[quantize] Global scale must be a scalar but got shape {fmt_shape(g._shape)}."
        )
    s = resolve_stream(stream)
    lead, k = w._shape[:-1], w._shape[-1]
    shapes = [(*lead, k * bits // 32), (*lead, k // gs)]
    dtypes = [dt.uint32, w._dtype if mode == "affine" else dt.uint8]
    if mode == "affine":
        shapes.append(shapes[1])
        dtypes.append(w._dtype)
    inputs = (w,) if g is None else (w, g)
    return tuple(multi_node(Quantize(gs, bits, mode), inputs, shapes, dtypes, s))


# -- dequantize ------------------------------------------------------------------------------


class Dequantize(Primitive):
    """Packed codes and their scales (and biases) back to floats of dtype ``out``."""

    __slots__ = ("group_size", "bits", "mode", "out", "has_biases", "has_global")
    name = "dequantize"

    def __init__(self, group_size, bits, mode, out, has_biases, has_global) -> None:
        self.group_size = group_size
        self.bits = bits
        self.mode = mode
        self.out = out
        self.has_biases = has_biases
        self.has_global = has_global

    def eval(self, xp, w, scales, *rest):
        return _dequant(xp, self, w, scales, rest)


def _dequant(xp, p, w, scales, rest):
    """The kernel call shared by Dequantize and the matmuls (``rest``: biases and / or the
    global scale, as ``p`` declares them)."""
    if p.mode == "affine":
        return K.affine_dequantize(xp, w, scales, rest[0], p.group_size, p.bits, p.out.np)
    g = rest[-1] if p.has_global else None
    if g is not None and g.ndim:  # one entry per matrix of w: line it up with the scales
        g = g.reshape(g.shape + (1,) * (scales.ndim - g.ndim))
    return K.fp_dequantize(xp, w, scales, p.mode, p.group_size, p.out.np, g)


def _check_dequant_shapes(w: array, scales: array, biases, gs: int, bits: int) -> None:
    if w.ndim < 2:
        raise ValueError(
            "[dequantize] The matrix to be dequantized must have at least 2 dimension but it "
            f"has only {w.ndim}."
        )
    for t in (scales, biases):
        if t is not None and (t.ndim != w.ndim or t._shape[:-1] != w._shape[:-1]):
            raise ValueError("[dequantize] Shape of scales and biases does not match the matrix")
    n = w._shape[-1] * 32
    if n % bits or (n // bits) % gs or scales._shape[-1] != n // bits // gs:
        raise ValueError(
            "[dequantize] Shape of scales and biases does not match the matrix given the "
            f"quantization parameters. Provided matrix of shape {fmt_shape(w._shape)} and "
            f"scales/biases of shape {fmt_shape(scales._shape)} with group_size={gs} and "
            f"bits={bits}."
        )
    if biases is not None and biases._shape[-1] not in (1, scales._shape[-1]):
        broadcast_shapes(scales._shape, biases._shape, op="broadcast_shapes")


def dequantize(
    w, /, scales, biases=None, group_size: int | None = None, bits: int | None = None,
    mode: str = "affine", global_scale=None, dtype=None, *, stream=None,
) -> array:  # fmt: skip
    """The floats that ``w`` (packed codes), ``scales`` and ``biases`` stand for:
    ``scales * codes + biases`` for ``"affine"``, the fp4 / fp8 values times their group's
    scale otherwise. ``dtype``: by default the promoted dtype of ``scales`` and ``biases``
    (affine), bfloat16 (fp modes) or float32 (nvfp4 with a global scale)."""
    op = "dequantize"
    w = _need_array(w, op, "w")
    scales = _need_array(scales, op, "scales")
    if group_size is not None and _int(group_size, op, "group_size") <= 0:
        raise ValueError(f"[dequantize] Invalid value for group_size: {group_size}")
    if bits is not None and _int(bits, op, "bits") <= 0:
        raise ValueError(f"[dequantize] Invalid value for bits: {bits}")
    mode, gs, bits = _mode_params(mode, group_size, bits, op)
    if biases is not None:
        biases = _need_array(biases, op, "biases")
    _check_biases(mode, biases, op)
    _check_fp_scales(mode, scales, op)
    if w._dtype is not dt.uint32:
        raise ValueError("[dequantize] The matrix should be given as a uint32")
    _check_dequant_shapes(w, scales, biases, gs, bits)
    _packable(bits, op)
    g = _global_scale(global_scale, mode, op)
    if g is not None and g.size != 1:
        raise ValueError(
            f"[dequantize] Global scale must be a scalar but got shape {fmt_shape(g._shape)}."
        )
    if dtype is not None:
        out = dt.to_dtype(dtype, op)
        if out.kind != "f":
            raise ValueError(
                f"[dequantize] Only real floating types are supported but output dtype == {out.name}."
            )
    elif mode == "affine":
        out = _affine_out(scales, biases, op)
    else:
        out = dt.bfloat16
    if g is not None:
        out = dt.float32  # the global scale's float32 promotes the result (as in MLX)
        g = g if g.ndim == 0 else g.reshape(())
    s = resolve_stream(stream)
    prim = Dequantize(gs, bits, mode, out, biases is not None, g is not None)
    inputs = (
        (w, scales) + ((biases,) if biases is not None else ()) + ((g,) if g is not None else ())
    )
    shape = (*w._shape[:-1], w._shape[-1] * 32 // bits)
    return node(prim, inputs, shape, out, s)


# -- quantized_matmul ----------------------------------------------------------------------------


def _check_qmm_weights(op, x, w, scales, biases, gs, bits, mode, transpose) -> tuple:
    """Checks shared by quantized_matmul and gather_qmm; returns (K, N) of the product."""
    _check_biases(mode, biases, op)
    if w._dtype is not dt.uint32:
        raise ValueError(f"[{op}] The weight matrix should be uint32 but received {w._dtype.name}")
    _check_fp_scales(mode, scales, op)
    if biases is not None and biases._shape != scales._shape:
        raise ValueError(
            f"[{op}] Scales and biases should have the same shape. Received scales with shape "
            f"{fmt_shape(scales._shape)} and biases with {fmt_shape(biases._shape)}"
        )
    if w.ndim < 2 or scales.ndim < 2 or w._shape[:-2] != scales._shape[:-2]:
        raise ValueError(
            f"[{op}] Weight and scales should have the same batch shape. Received weight with "
            f"shape {fmt_shape(w._shape)}, scales with {fmt_shape(scales._shape)}."
        )
    rows, words = w._shape[-2:]
    if (
        gs <= 0
        or bits <= 0
        or rows != scales._shape[-2]
        or words * 32 != scales._shape[-1] * gs * bits
    ):
        raise ValueError(
            f"[{op}] The shapes of the weight and scales are incompatible based on bits and "
            f"group_size. w.shape() == {fmt_shape(w._shape)} and scales.shape() == "
            f"{fmt_shape(scales._shape)} with group_size={gs} and bits={bits}"
        )
    if mode == "affine":  # MLX checks these only when the product is evaluated
        if gs not in _AFFINE_GROUPS:
            raise ValueError(f"[{op}] Quantization group size must be 32, 64 or 128.")
        if bits not in _AFFINE_BITS:
            raise ValueError(f"[{op}] Quantization bits must be 1, 2, 3, 4, 5, 6 or 8.")
    cols = words * 32 // bits
    k, n = (cols, rows) if transpose else (rows, cols)
    if x._shape[-1] != k:
        shown = (k, n) if transpose else (rows, cols)
        raise ValueError(
            f"[{op}] Last dimension of first input with shape (..., {x._shape[-1]}) does not "
            f"match the expanded quantized matrix ({shown[0]}, {shown[1]}) computed from shape "
            f"{fmt_shape(w._shape)} with group_size={gs}, bits={bits} and "
            f"transpose={'true' if transpose else 'false'}"
        )
    return k, n


def _qmm_dtypes(op, x, scales, biases, mode) -> dt.Dtype:
    """The product's dtype: ``x`` promoted with the scales and biases (affine), or ``x``'s own
    (fp modes, where ``x`` must be floating)."""
    if mode == "affine":
        if x._dtype is dt.complex64:
            raise ValueError(
                f"[{op}] Only real floating types are supported but x.dtype() == complex64."
            )
        d = dt.promote_types(x._dtype, _affine_out(scales, biases, op))
    else:
        if x._dtype.kind != "f":
            raise ValueError(
                f"[{op}] Only real floating types are supported but x.dtype() == {x._dtype.name}."
            )
        d = x._dtype
    if d is dt.float64:  # MLX fails when it evaluates
        raise ValueError(f"[{op}] float64 is not supported.")
    return d


def _wide(xp, a, d: dt.Dtype):
    """``a`` in the dtype its matrix product is computed in (float32 for the half types)."""
    return a.astype(np.float32 if d in _HALF else d.np, copy=False)


class QuantizedMatmul(Primitive):
    """``x @ dequantize(w).T`` (or ``x @ dequantize(w)``), computed from the dequantized
    weight in float32 for the half types."""

    __slots__ = ("group_size", "bits", "mode", "transpose", "out", "has_biases")
    name = "quantized_matmul"
    has_global = False

    def __init__(self, group_size, bits, mode, transpose, out, has_biases) -> None:
        self.group_size = group_size
        self.bits = bits
        self.mode = mode
        self.transpose = transpose
        self.out = out
        self.has_biases = has_biases

    def eval(self, xp, x, w, scales, *rest):
        wd = _dequant(xp, _DQ(self), w, scales, rest)
        if x.ndim <= 2 and wd.ndim > 2:  # MLX uses the first matrix of a batched w here
            wd = wd.reshape(-1, *wd.shape[-2:])[0]
        if self.transpose:
            wd = xp.swapaxes(wd, -1, -2)
        d = self.out
        return xp.matmul(_wide(xp, x, d), _wide(xp, wd, d)).astype(d.np, copy=False)


class _DQ:
    """A matmul primitive's dequantization parameters, seen as a Dequantize's."""

    __slots__ = ("group_size", "bits", "mode", "out", "has_global")

    def __init__(self, p) -> None:
        self.group_size, self.bits, self.mode = p.group_size, p.bits, p.mode
        self.has_global = p.has_global
        # The weight is dequantized as dequantize() would (scales' dtype for affine, the
        # product's for fp modes; float32 with a global scale).
        self.out = dt.float32 if p.has_global else p.out


def quantized_matmul(
    x, w, /, scales, biases=None, transpose: bool = True, group_size: int | None = None,
    bits: int | None = None, mode: str = "affine", *, stream=None,
) -> array:  # fmt: skip
    """Matrix product of ``x`` with the quantized matrix ``w`` (``x @ w.T`` when
    ``transpose``). Batch dimensions broadcast when ``x`` has more than two dimensions."""
    op = "quantized_matmul"
    x = _need_array(x, op, "x")
    w = _need_array(w, op, "w")
    scales = _need_array(scales, op, "scales")
    if biases is not None:
        biases = _need_array(biases, op, "biases")
    if not isinstance(transpose, (bool, np.bool_)):
        raise TypeError(f"[{op}] transpose must be a bool, got {type(transpose).__name__}.")
    mode, gs, bits = _mode_params(mode, group_size, bits, op)
    if x.ndim == 0:
        raise IndexError(f"[{op}] x must have at least one dimension.")
    k, n = _check_qmm_weights(op, x, w, scales, biases, gs, bits, mode, bool(transpose))
    d = _qmm_dtypes(op, x, scales, biases, mode)
    if x.ndim <= 2:
        shape = (*x._shape[:-1], n)
    else:
        batch = broadcast_shapes(x._shape[:-2], w._shape[:-2], op="broadcast_shapes")
        shape = (*batch, x._shape[-2], n)
    s = resolve_stream(stream)
    prim = QuantizedMatmul(gs, bits, mode, bool(transpose), d, biases is not None)
    inputs = (cast(x, d, s), w, scales) + ((biases,) if biases is not None else ())
    return node(prim, inputs, shape, d, s)


# -- gather_qmm ----------------------------------------------------------------------------------


class GatherQMM(Primitive):
    """Products of the matrices of ``x`` at ``lhs_indices`` with the quantized matrices of
    ``w`` at ``rhs_indices`` (flat indices over the batch dimensions). Out-of-range indices
    wrap around (MLX does not check them)."""

    __slots__ = (
        "group_size",
        "bits",
        "mode",
        "transpose",
        "out",
        "has_biases",
        "has_global",
        "sorted",
    )
    name = "gather_qmm"

    def __init__(self, group_size, bits, mode, transpose, out, has_biases, has_global, sorted_):
        self.group_size = group_size
        self.bits = bits
        self.mode = mode
        self.transpose = transpose
        self.out = out
        self.has_biases = has_biases
        self.has_global = has_global
        self.sorted = sorted_

    def eval(self, xp, x, w, scales, *rest):
        lhs, rhs = rest[-2:]
        wd = _dequant(xp, _DQ(self), w, scales, rest[:-2])
        wd = wd.reshape(-1, *wd.shape[-2:])
        if self.transpose:
            wd = xp.swapaxes(wd, -1, -2)
        xs = x.reshape(-1, *x.shape[-2:])
        batch = _bshape(lhs, rhs)
        li = xp.broadcast_to(lhs, batch).reshape(-1).astype(np.int64) % xs.shape[0]
        ri = xp.broadcast_to(rhs, batch).reshape(-1).astype(np.int64) % wd.shape[0]
        d = self.out
        r = xp.matmul(_wide(xp, xs[li], d), _wide(xp, wd[ri], d)).astype(d.np, copy=False)
        return r.reshape(*batch, *r.shape[-2:])


def _bshape(a, b) -> tuple:
    return broadcast_shapes(tuple(a.shape), tuple(b.shape))


def _default_indices(batch: tuple, s) -> array:
    from .creation import arange
    from .shape import reshape

    return reshape(arange(prod(batch), dtype=dt.uint32, stream=s), batch, stream=s)


def gather_qmm(
    x, w, /, scales, biases=None, lhs_indices=None, rhs_indices=None, transpose: bool = True,
    group_size: int | None = None, bits: int | None = None, mode: str = "affine",
    global_scale=None, *, sorted_indices: bool = False, stream=None,
) -> array:  # fmt: skip
    """:func:`quantized_matmul` with a gather over the batch dimensions: output ``i`` is
    ``x[lhs_indices[i]] @ w[rhs_indices[i]]`` (flat indices over the batch dimensions of
    ``x`` and ``w``; by default every matrix in order). ``global_scale`` (nvfp4): one
    float32 per matrix of ``w``."""
    op = "gather_qmm"
    x = _need_array(x, op, "x")
    w = _need_array(w, op, "w")
    scales = _need_array(scales, op, "scales")
    if biases is not None:
        biases = _need_array(biases, op, "biases")
    mode, gs, bits = _mode_params(mode, group_size, bits, op)
    if x.ndim < 2:
        raise ValueError(
            f"[{op}] Input must have at least two dimensions but got input with shape "
            f"{fmt_shape(x._shape)}."
        )
    k, n = _check_qmm_weights(op, x, w, scales, biases, gs, bits, mode, bool(transpose))
    d = _qmm_dtypes(op, x, scales, biases, mode)
    s = resolve_stream(stream)
    idx = []
    for ind, batch in ((lhs_indices, x._shape[:-2]), (rhs_indices, w._shape[:-2])):
        if ind is None:
            ind = _default_indices(batch, s)
        else:
            ind = _need_array(ind, op, "indices")
            if ind._dtype.kind not in "iu":
                raise ValueError(
                    f"[{op}] Got indices with invalid dtype. Indices must be integral."
                )
        idx.append(ind)
    batch = broadcast_shapes(idx[0]._shape, idx[1]._shape, op="broadcast_shapes")
    g = _global_scale(global_scale, mode, op)
    if g is not None:
        experts = prod(w._shape[:-2])
        if g._shape != (experts,):
            raise ValueError(
                f"[{op}] Global scale must have one entry per expert with shape ({experts}) "
                f"but got {fmt_shape(g._shape)}."
            )
        g = g.reshape(w._shape[:-2])
    prim = GatherQMM(gs, bits, mode, bool(transpose), d, biases is not None, g is not None,
                     bool(sorted_indices))  # fmt: skip
    rest = ((biases,) if biases is not None else ()) + ((g,) if g is not None else ())
    inputs = (cast(x, d, s), w, scales, *rest, *idx)
    return node(prim, inputs, (*batch, x._shape[-2], n), d, s)


# -- fp8 ---------------------------------------------------------------------------------------


class ToFP8(Primitive):
    """Floats to e4m3 codes (uint8): round to nearest even, saturate at +-448."""

    __slots__ = ()
    name = "to_fp8"

    def eval(self, xp, x):
        return K.to_e4m3(xp, x)


class FromFP8(Primitive):
    """e4m3 codes (uint8) to floats of dtype ``out``."""

    __slots__ = ("out",)
    name = "from_fp8"

    def __init__(self, out: dt.Dtype) -> None:
        self.out = out

    def eval(self, xp, x):
        return K.from_e4m3(xp, x, self.out.np)


_TO_FP8 = ToFP8()


def to_fp8(x, *, stream=None) -> array:
    """``x`` as fp8 (e4m3) codes of dtype uint8."""
    x = _need_array(x, "to_fp8", "x")
    if x._dtype not in _FLOATS:
        raise ValueError(
            f"[to_fp8] Only real floating types are supported but x.dtype() == {x._dtype.name}."
        )
    return node(_TO_FP8, (x,), x._shape, dt.uint8, resolve_stream(stream))


def from_fp8(x, dtype=dt.bfloat16, *, stream=None) -> array:
    """The values of the fp8 (e4m3) codes ``x`` (uint8) as ``dtype``."""
    x = _need_array(x, "from_fp8", "x")
    if x._dtype is not dt.uint8:
        raise ValueError(f"[from_fp8] Input must have type uint8 but x.dtype() == {x._dtype.name}.")
    d = dt.to_dtype(dtype, "from_fp8")
    if d not in _FLOATS:
        raise ValueError(
            f"[from_fp8] Only real floating types are supported but dtype == {d.name}."
        )
    return node(FromFP8(d), (x,), x._shape, d, resolve_stream(stream))


from ._quant_rules import install as _install_rules  # noqa: E402 - the rules use the ops above

_install_rules()
