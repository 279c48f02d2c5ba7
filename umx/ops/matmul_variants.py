"""Matrix-product variants: gather_mm, block_masked_mm, segmented_mm, hadamard_transform,
qqmm and gather_qqmm.

Semantics follow MLX 0.32.4 (checked against it on the CPU): shapes, dtypes, defaults and
the errors raised when an op is called. Where MLX's CPU backend refuses at evaluation
(gather_mm / block_masked_mm outside float32, hadamard_transform in float64, qqmm and
gather_qqmm everywhere), umx computes the result. The transform rules live in
``_mmv_rules``.
"""

from __future__ import annotations

from math import prod

import numpy as np

from .. import _dtypes as dt
from .._array import array, node
from .._device import resolve_stream
from .._primitive import Primitive
from . import _quant_kernels as QK
from ._util import broadcast_shapes, fmt_shape
from .linalg import _HALF as _NP_HALF
from .linalg import _wide, matmul
from .quantized import (
    _check_fp_scales,
    _default_indices,
    _global_scale,
    _mode_params,
    _need_array,
)
from .shape import reshape
from .unary import cast

__all__ = [
    "gather_mm", "block_masked_mm", "segmented_mm", "hadamard_transform", "qqmm",
    "gather_qqmm",
]  # fmt: skip

_F32 = np.dtype(np.float32)
_F64 = np.dtype(np.float64)


def _stack(x):
    """``x`` as a stack of matrices (the batch dimensions flattened; size 0 allowed)."""
    return x.reshape(prod(x.shape[:-2]), *x.shape[-2:])


def _to_host(xp, a) -> np.ndarray:
    return a if xp is np else xp.asnumpy(a)


def _real_float(a: array, b: array, op: str) -> dt.Dtype:
    """The promoted dtype of ``a`` and ``b``, which must be a real floating type."""
    d = dt.promote_types(a._dtype, b._dtype)
    if d.kind != "f":
        raise ValueError(
            f"[{op}] Only real floating point types are supported but {a._dtype.name} and "
            f"{b._dtype.name} were provided which results in {d.name}, which is not a real "
            "floating point type."
        )
    return d


def _as_matrices(a: array, b: array, op: str) -> tuple:
    """``a`` and ``b`` with a unit dimension added to 1-D operands (``a`` a row, ``b`` a
    column), and the K check; returns (a, b, a_was_vector, b_was_vector)."""
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError(f"[{op}] Got 0 dimension input. Inputs must have at least one dimension.")
    va, vb = a.ndim == 1, b.ndim == 1
    if va:
        a = reshape(a, (1, a._shape[0]))
    if vb:
        b = reshape(b, (b._shape[0], 1))
    if a._shape[-1] != b._shape[-2]:
        raise ValueError(
            f"[{op}] Last dimension of first input with shape {fmt_shape(a._shape)} must match "
            f"second to last dimension of second input with shape {fmt_shape(b._shape)}."
        )
    return a, b, va, vb


def _drop_vector_dims(out: array, va: bool, vb: bool) -> array:
    if not (va or vb):
        return out
    s = out._shape
    keep = s[:-2] + (() if va else (s[-2],)) + (() if vb else (s[-1],))
    return reshape(out, keep)


def _index_array(ind, op: str) -> array:
    ind = _need_array(ind, op, "indices")
    if ind._dtype.kind not in "iu":
        raise ValueError(f"[{op}] Got indices with invalid dtype. Indices must be integral.")
    return ind


def _gather_indices(lhs, rhs, abatch: tuple, bbatch: tuple, s, op: str) -> tuple:
    """(lhs, rhs, batch): the index arrays (every matrix in order where not given) and the
    shape they broadcast to."""
    out = []
    for ind, batch in ((lhs, abatch), (rhs, bbatch)):
        out.append(_default_indices(batch, s) if ind is None else _index_array(ind, op))
    batch = broadcast_shapes(out[0]._shape, out[1]._shape, op="broadcast_shapes")
    return out[0], out[1], batch


def _flat_indices(xp, ind, batch: tuple, size: int):
    """``ind`` broadcast to ``batch``, flattened, as int64 in ``[0, size)`` (out-of-range
    indices wrap around: MLX does not check them)."""
    i = xp.broadcast_to(ind, batch).reshape(-1).astype(np.int64)
    return i % size if size else i


def _gathered_matmul(xp, A, B, li, ri):
    """``A[li] @ B[ri]`` for stacks ``A`` (na, M, K) and ``B`` (nb, K, N).

    When many products share a matrix of ``B`` (a mixture of experts routes many tokens
    to a few expert weights), gathering ``B`` would copy it once per product: the rows
    routed to each matrix of ``B`` are multiplied with it in one GEMM instead (1024 rows
    over 8 matrices of 256 x 512 on one CPU core: 2.3 ms, against 49 ms gathered).
    """
    n = li.shape[0]
    nb, K, N = B.shape
    M = A.shape[1]
    if n <= 2 * nb or K * N < 4096:
        return xp.matmul(A[li], B[ri])
    order = xp.argsort(ri)
    counts = _to_host(xp, xp.bincount(ri, minlength=nb))
    ends = np.cumsum(counts)
    rows = A[li[order]].reshape(n * M, K)
    out = xp.empty((n * M, N), dtype=xp.result_type(A.dtype, B.dtype))
    for e in np.flatnonzero(counts):
        lo, hi = int(ends[e] - counts[e]) * M, int(ends[e]) * M
        xp.matmul(rows[lo:hi], B[e], out=out[lo:hi])
    res = xp.empty((n, M, N), dtype=out.dtype)
    res[order] = out.reshape(n, M, N)
    return res


# -- gather_mm -------------------------------------------------------------------------------


class GatherMM(Primitive):
    """Products of the matrices of ``a`` at ``lhs`` with those of ``b`` at ``rhs`` (flat
    indices over the batch dimensions, broadcast together)."""

    __slots__ = ("sorted",)
    name = "gather_mm"

    def __init__(self, sorted_: bool) -> None:
        self.sorted = sorted_  # a hint only: the kernel groups by rhs itself

    def eval(self, xp, a, b, lhs, rhs):
        d = a.dtype
        A, B = _wide(xp, _stack(a)), _wide(xp, _stack(b))
        batch = broadcast_shapes(tuple(lhs.shape), tuple(rhs.shape))
        li = _flat_indices(xp, lhs, batch, A.shape[0])
        ri = _flat_indices(xp, rhs, batch, B.shape[0])
        r = _gathered_matmul(xp, A, B, li, ri).astype(d, copy=False)
        return r.reshape(*batch, *r.shape[-2:])


def gather_mm(
    a, b, /, lhs_indices=None, rhs_indices=None, *, sorted_indices: bool = False, stream=None
) -> array:
    """Matrix product with a gather over the batch dimensions: output ``i`` is
    ``a[lhs_indices[i]] @ b[rhs_indices[i]]``, the indices being flat over the batch
    dimensions of ``a`` and ``b`` (every matrix in order where not given) and broadcast
    together. With no indices this is :func:`matmul`. ``sorted_indices`` is a hint."""
    op = "gather_mm"
    a = _need_array(a, op, "a")
    b = _need_array(b, op, "b")
    if lhs_indices is None and rhs_indices is None:
        return matmul(a, b, stream=stream)
    s = resolve_stream(stream)
    d = _real_float(a, b, op)
    a, b, va, vb = _as_matrices(a, b, op)
    lhs, rhs, batch = _gather_indices(lhs_indices, rhs_indices, a._shape[:-2], b._shape[:-2], s, op)
    shape = (*batch, a._shape[-2], b._shape[-1])
    out = node(
        GatherMM(bool(sorted_indices)), (cast(a, d, s), cast(b, d, s), lhs, rhs), shape, d, s
    )
    return _drop_vector_dims(out, va, vb)


# -- block_masked_mm -----------------------------------------------------------------------------


def _expand_block_mask(xp, mask, bs: int, rows: int, cols: int):
    """A block mask repeated to one entry per element, cut to ``rows`` x ``cols``."""
    m = mask.reshape((1,) * (2 - mask.ndim) + mask.shape) if mask.ndim < 2 else mask
    m = xp.broadcast_to(m, m.shape[:-2] + (-(-rows // bs), -(-cols // bs)))
    m = xp.repeat(xp.repeat(m, bs, axis=-2), bs, axis=-1)
    return m[..., :rows, :cols]


def _apply_block_mask(xp, x, mask, bs: int):
    """``x`` with its blocks zeroed where a boolean ``mask`` is false (NaNs there vanish),
    or scaled by a numeric ``mask``."""
    m = _expand_block_mask(xp, mask, bs, x.shape[-2], x.shape[-1])
    if m.dtype == np.bool_:
        return xp.where(m, x, xp.zeros((), x.dtype))
    return x * m.astype(x.dtype, copy=False)


class BlockMaskedMM(Primitive):
    """``(a masked by lhs) @ (b masked by rhs)``, then masked by ``out``: each mask has one
    entry per ``block_size`` x ``block_size`` block."""

    __slots__ = ("block_size", "has_out", "has_lhs", "has_rhs")
    name = "block_masked_mm"

    def __init__(self, block_size: int, has_out: bool, has_lhs: bool, has_rhs: bool) -> None:
        self.block_size = block_size
        self.has_out = has_out
        self.has_lhs = has_lhs
        self.has_rhs = has_rhs

    def masks(self, masks) -> tuple:
        """(out, lhs, rhs) masks from the inputs after ``a`` and ``b`` (None where absent)."""
        it = iter(masks)
        return tuple(next(it) if h else None for h in (self.has_out, self.has_lhs, self.has_rhs))

    def eval(self, xp, a, b, *masks):
        d = a.dtype
        mo, ml, mr = self.masks(masks)
        bs = self.block_size
        A, B = _wide(xp, a), _wide(xp, b)
        if ml is not None:
            A = _apply_block_mask(xp, A, ml, bs)
        if mr is not None:
            B = _apply_block_mask(xp, B, mr, bs)
        out = xp.matmul(A, B)
        if mo is not None:
            out = _apply_block_mask(xp, out, mo, bs)
        return out.astype(d, copy=False)


def _block_mask(mask, name: str, target: tuple, row: bool, col: bool, d: dt.Dtype, s, op: str):
    """A mask checked against the block grid ``target`` (batch, rows, cols); a 1-D operand's
    masks gain its unit dimension (``row``: a row vector's, ``col``: a column's)."""
    from .shape import expand_dims

    mask = _need_array(mask, op, name)
    if row or col:  # both at once: a 0-d mask of two vectors becomes (1, 1)
        mask = expand_dims(mask, (-2, -1) if row and col else -2 if row else -1, stream=s)
    broadcast_shapes(mask._shape[-2:], target[-2:], op="broadcast_shapes")
    if len(mask._shape) > len(target) or broadcast_shapes(mask._shape, target) != target:
        raise ValueError(
            f"[{op}] Cannot broadcast {name} of shape {fmt_shape(mask._shape)} into shape "
            f"{fmt_shape(target)}."
        )
    return mask if mask._dtype is dt.bool_ else cast(mask, d, s)


def block_masked_mm(
    a, b, /, block_size: int = 64, mask_out=None, mask_lhs=None, mask_rhs=None, *, stream=None
) -> array:
    """Matrix product with ``block_size`` x ``block_size`` blocks masked: ``mask_lhs`` on
    ``a``, ``mask_rhs`` on ``b``, ``mask_out`` on the product (each of shape
    ``(..., ceil(rows / block_size), ceil(cols / block_size))``). A boolean mask zeroes
    the blocks where it is false; a numeric mask multiplies each block by its entry.
    With no mask this is :func:`matmul`."""
    op = "block_masked_mm"
    a = _need_array(a, op, "a")
    b = _need_array(b, op, "b")
    if isinstance(block_size, bool) or not isinstance(block_size, (int, np.integer)):
        raise TypeError(f"[{op}] block_size must be an int, got {type(block_size).__name__}.")
    if mask_out is None and mask_lhs is None and mask_rhs is None:
        return matmul(a, b, stream=stream)
    bs = int(block_size)
    if bs not in (32, 64):
        raise ValueError(f"[{op}] Only block_sizes 32, 64 are supported.Got block size {bs}.")
    s = resolve_stream(stream)
    a, b, va, vb = _as_matrices(a, b, op)
    d = _real_float(a, b, op)
    batch = broadcast_shapes(a._shape[:-2], b._shape[:-2], op="broadcast_shapes")
    M, K = a._shape[-2:]
    N = b._shape[-1]
    tm, tk, tn = (-(-M // bs), -(-K // bs), -(-N // bs))
    masks = []
    for m, name, grid, row, col in (
        (mask_out, "mask_out", (tm, tn), va, vb),
        (mask_lhs, "mask_lhs", (tm, tk), va, False),
        (mask_rhs, "mask_rhs", (tk, tn), False, vb),
    ):
        if m is not None:
            masks.append(_block_mask(m, name, (*batch, *grid), row, col, d, s, op))
    prim = BlockMaskedMM(bs, mask_out is not None, mask_lhs is not None, mask_rhs is not None)
    out = node(prim, (cast(a, d, s), cast(b, d, s), *masks), (*batch, M, N), d, s)
    return _drop_vector_dims(out, va, vb)


# -- segmented_mm --------------------------------------------------------------------------------


def segment_bounds(xp, segments, k: int):
    """(lo, hi) int64 bounds of each segment, clipped to ``[0, k]``; a reversed segment is
    empty."""
    seg = segments.reshape(-1, 2).astype(np.int64)
    lo = xp.clip(seg[:, 0], 0, k)
    return lo, xp.clip(seg[:, 1], lo, k)


class SegmentedMM(Primitive):
    """``a[:, lo:hi] @ b[lo:hi]`` for each ``(lo, hi)`` pair of ``segments``."""

    __slots__ = ()
    name = "segmented_mm"

    def eval(self, xp, a, b, segments):
        d = a.dtype
        (M, K), N = a.shape, b.shape[1]
        A, B = _wide(xp, a), _wide(xp, b)
        lo, hi = segment_bounds(xp, segments, K)
        S = lo.shape[0]
        if S * M * K * N <= 1 << 22:  # small: one batched product over masked copies of a
            k = xp.arange(K)
            inside = (k >= lo[:, None]) & (k < hi[:, None])
            Am = xp.where(inside[:, None, :], A, xp.zeros((), A.dtype))
            out = xp.matmul(Am, B)
        else:  # one GEMM per segment, on its own slices
            out = xp.zeros((S, M, N), dtype=xp.result_type(A.dtype, B.dtype))
            lo_h, hi_h = _to_host(xp, lo), _to_host(xp, hi)
            for i in np.flatnonzero(hi_h > lo_h):
                x, y = int(lo_h[i]), int(hi_h[i])
                xp.matmul(A[:, x:y], B[x:y], out=out[i])
        return out.astype(d, copy=False).reshape(*segments.shape[:-1], M, N)


_SEGMENTED = SegmentedMM()


def segmented_mm(a, b, /, segments, *, stream=None) -> array:
    """For each pair ``(lo, hi)`` of ``segments`` (shape ``(..., 2)``), the product of
    ``a[:, lo:hi]`` and ``b[lo:hi]``: output shape ``(..., M, N)`` for ``a`` of shape
    ``(M, K)`` and ``b`` of shape ``(K, N)``. Bounds are clipped to ``[0, K]``; an empty or
    reversed segment gives zeros."""
    op = "segmented_mm"
    a = _need_array(a, op, "a")
    b = _need_array(b, op, "b")
    segments = _need_array(segments, op, "segments")
    if segments.ndim == 0 or segments._shape[-1] != 2:
        raise ValueError(
            f"[{op}] The segments should have shape (..., 2) but {fmt_shape(segments._shape)} "
            "was provided."
        )
    if segments._dtype.kind not in "iu":
        raise ValueError(f"[{op}] Got segments with invalid dtype. Segments must be integral.")
    if a.ndim != 2 or b.ndim != 2:
        raise ValueError(f"[{op}] Batched matmul not supported")
    if a._shape[1] != b._shape[0]:  # MLX reads past the end here; umx refuses
        raise ValueError(
            f"[{op}] Last dimension of first input with shape {fmt_shape(a._shape)} must match "
            f"first dimension of second input with shape {fmt_shape(b._shape)}."
        )
    d = _real_float(a, b, op)
    s = resolve_stream(stream)
    shape = (*segments._shape[:-1], a._shape[0], b._shape[1])
    return node(_SEGMENTED, (cast(a, d, s), cast(b, d, s), segments), shape, d, s)


# -- hadamard_transform ----------------------------------------------------------------------------

# The Hadamard matrices of orders 12, 20 and 28 that MLX uses (read from MLX 0.32.4's output
# for hadamard_transform(eye(m), scale=1.0)): row j of H is "+" / "-" for +1 / -1. A size
# m * 2**k transforms by kron(H_m, H_{2**k}).
_H_ROWS = {
    12: "+-++++++++++ --+-+-+-+-+- +++-++----++ +---+--+-++- +++++-++---- +-+---+--+-+ "
    "++--+++-++-- +--++---+--+ ++----+++-++ +--+-++---+- ++++----+++- +-+--+-++---",
    20: "+----+----++--++-++- -+----+---+++---+-++ --+----+---+++-+-+-+ "
    "---+----+---+++++-+- ----+----++--++-++-+ -+++++-----+--+++--+ +-+++-+---+-+--+++-- "
    "++-++--+---+-+--+++- +++-+---+---+-+--+++ ++++-----++--+-+--++ --++-+-++-+-----++++ "
    "---++-+-++-+---+-+++ +---++-+-+--+--++-++ ++---++-+----+-+++-+ -++---++-+----+++++- "
    "-+--+--++-+----+---- +-+-----++-+----+--- -+-+-+---+--+----+-- --+-+++------+----+- "
    "+--+--++------+----+",
    28: "+------++----++-+--+-+--++-- -+-----+++-----+-+--+-+--++- --+-----+++---+-+-+----+--++ "
    "---+-----+++---+-+-+-+--+--+ ----+-----+++---+-+-+++--+-- -----+-----++++--+-+--++--+- "
    "------++----++-+--+-+--++--+ --++++-+-------++--+++-+--+- ---++++-+-----+-++--+-+-+--+ "
    "+---+++--+----++-++--+-+-+-- ++---++---+----++-++--+-+-+- +++---+----+----++-++--+-+-+ "
    "++++--------+-+--++-++--+-+- -++++--------+++--++--+--+-+ -+-++-++--++--+--------++++- "
    "+-+-++--+--++--+--------++++ -+-+-++--+--++--+----+---+++ +-+-+-++--+--+---+---++---++ "
    "++-+-+-++--+------+--+++---+ -++-+-+-++--+------+-++++--- +-++-+---++--+------+-++++-- "
    "-++--++-+-++-+++----++------ +-++--++-+-++-+++-----+----- ++-++---+-+-++-+++-----+---- "
    "-++-++-+-+-+-+--+++-----+--- --++-++++-+-+----+++-----+-- +--++-+-++-+-+----+++-----+- "
    "++--++-+-++-+-+----++------+",
}
_H_CACHE: dict = {}


def _h_matrix(m: int) -> np.ndarray:
    h = _H_CACHE.get(m)
    if h is None:
        rows = _H_ROWS[m].split()
        h = _H_CACHE[m] = np.array([[1.0 if c == "+" else -1.0 for c in r] for r in rows])
    return h


def _hadamard_factor(n: int, op: str) -> int:
    """``m`` of ``n = m * 2**k`` (m in 1, 12, 20, 28), or ValueError."""
    for m in (1, 12, 20, 28):
        if n % m == 0 and (n // m) & (n // m - 1) == 0:
            return m
    raise ValueError(f"[{op}] Only supports n = m*2^k where m in (1, 12, 20, 28).")


def _butterfly(xp, y, p: int, h: int):
    """Walsh-Hadamard butterfly stages ``h, 2h, ..., p/2`` on the rows of ``y`` (R, p), in
    ``y``'s dtype (each stage rounds to it), into fresh buffers (``y`` is not written)."""
    R = y.shape[0]
    bufs = []
    while h < p:
        if len(bufs) < 2:
            bufs.append(xp.empty_like(y))
        out = bufs[0] if y is not bufs[0] else bufs[1]
        v = y.reshape(R, p // (2 * h), 2, h)
        o = out.reshape(R, p // (2 * h), 2, h)
        xp.add(v[:, :, 0], v[:, :, 1], out=o[:, :, 0])
        xp.subtract(v[:, :, 0], v[:, :, 1], out=o[:, :, 1])
        y = out
        h *= 2
    return y


_SYLVESTER: dict = {}


def _sylvester(q: int) -> np.ndarray:
    """The Hadamard matrix of order ``q`` (a power of two), Sylvester's construction."""
    h = _SYLVESTER.get(q)
    if h is None:
        h = np.ones((1, 1))
        while h.shape[0] < q:
            h = np.block([[h, h], [h, -h]])
        _SYLVESTER[q] = h
    return h


class Hadamard(Primitive):
    """``scale * H @ x`` along the last axis (``H.T`` when ``transpose``).

    The power-of-two factor ``p``: for the half types, the butterfly stage by stage, each
    stage rounded to the dtype as MLX does (bit-identical to MLX). Otherwise a product with
    the Hadamard matrix of order ``q`` (``p`` up to 64, else 32) and butterfly stages for
    the rest. Measured on one CPU core, float32: for n = 256 / 1024 / 4096 this takes
    1.8 / 2.3 / 2.8 ms (4096 / 1024 / 256 rows), against 10 / 11 / 11 ms for the butterfly
    alone and 3.9 / 15 / 64 ms for a product with the full matrix; up to n = 64 the
    product with the full matrix is fastest and is what runs. The factor ``m`` (12, 20, 28):
    a product with its matrix, in float32 (float64 for float64)."""

    __slots__ = ("scale", "m", "transpose")
    name = "hadamard_transform"

    def __init__(self, scale: float, m: int, transpose: bool) -> None:
        self.scale = scale
        self.m = m
        self.transpose = transpose

    def eval(self, xp, x):
        d = x.dtype
        wk = _F64 if d == _F64 else _F32
        m = self.m
        n = x.shape[-1] if x.ndim else 1
        p = n // m
        sc = wk.type(self.scale)
        if n == 1:  # a plain product with the scale in x's dtype (as MLX)
            return (x.astype(wk) * wk.type(d.type(self.scale))).astype(d)
        y = x.reshape(-1, p)  # every length-p run (rows times m of them)
        if d in _NP_HALF:
            y = _butterfly(xp, y, p, 1).astype(wk)
        elif p > 1:
            q = p if p <= 64 else 32
            hq = xp.asarray(_sylvester(q).astype(wk))
            y = xp.matmul(y.reshape(-1, q).astype(wk, copy=False), hq).reshape(-1, p)
            y = _butterfly(xp, y, p, q)
        else:
            y = y.astype(wk)
        if m == 1:
            y = y * sc
        else:
            hm = _h_matrix(m)
            hm = xp.asarray((hm.T if self.transpose else hm).astype(wk))
            y = xp.matmul(hm, y.reshape(-1, m, p)) * sc
        return y.astype(d, copy=False).reshape(x.shape)


def _hadamard(x: array, scale: float, m: int, transpose: bool, s) -> array:
    return node(Hadamard(scale, m, transpose), (x,), x._shape, x._dtype, s)


def hadamard_transform(a, scale: float | None = None, stream=None) -> array:
    """The Walsh-Hadamard transform of the last axis: ``scale * H @ x`` for each vector
    ``x``, ``H`` the Hadamard matrix of order ``n = m * 2**k`` (m in 1, 12, 20, 28; for
    ``m > 1``, ``kron(H_m, H_{2**k})``). ``scale`` defaults to ``1 / sqrt(n)`` (orthonormal).
    float16 / bfloat16 / float32 / float64 keep their dtype; other inputs give float32."""
    op = "hadamard_transform"
    a = _need_array(a, op, "a")
    if a.size == 0:
        raise ValueError(f"[{op}] Does not support empty arrays.")
    n = a._shape[-1] if a.ndim else 1
    m = _hadamard_factor(n, "hadamard")
    sc = 1.0 / float(np.sqrt(n)) if scale is None else float(scale)
    s = resolve_stream(stream)
    d = a._dtype if a._dtype.kind == "f" else dt.float32
    return _hadamard(cast(a, d, s), sc, m, False, s)


# -- qqmm / gather_qqmm ------------------------------------------------------------------------------


def _qq_args(op, x, w, scales, group_size, bits, mode, gx, gw) -> tuple:
    """Checks shared by qqmm and gather_qqmm. Returns (gs, bits, mode, w_quantized, K, N,
    global scales or None)."""
    mode, gs, bits = _mode_params(mode, group_size, bits, op)
    if mode == "affine":  # no biases argument: affine quantization is not expressible
        raise ValueError(f"[{op}] Supported modes are 'nvfp4', 'mxfp8' and 'mxfp4'.")
    for what, v in (("first", x), ("second", w)):
        if v._dtype.kind != "f" or v._dtype is dt.float64:
            if v is w and w._dtype is dt.uint32:
                continue
            raise ValueError(
                f"[{op}] Only real floating types except float64 are supported but {what} "
                f"argument dtype == {v._dtype.name}."
            )
    quantized = w._dtype is dt.uint32
    if w.ndim < 2:
        raise IndexError(f"[{op}] w must have at least two dimensions.")
    if quantized:
        if scales is None:
            raise ValueError(f"[{op}] Scales must be provided if second argument is quantized.")
        scales = _need_array(scales, op, "scales")
        _check_fp_scales(mode, scales, op)
        rows, words = w._shape[-2:]
        if scales._shape != (*w._shape[:-1], words * 32 // bits // gs) or (words * 32) % (
            bits * gs
        ):
            raise ValueError(
                f"[{op}] The shapes of the weight and scales are incompatible based on bits "
                f"and group_size. w.shape() == {fmt_shape(w._shape)} and scales.shape() == "
                f"{fmt_shape(scales._shape)} with group_size={gs} and bits={bits}"
            )
        k = words * 32 // bits
    else:
        if scales is not None:
            raise ValueError(f"[{op}] Scales are only used with a quantized (uint32) w.")
        k = w._shape[-1]
    if x._shape[-1] != k:
        raise ValueError(
            f"[{op}] Last dimension of first input with shape {fmt_shape(x._shape)} must match "
            f"last dimension of second input with shape {fmt_shape(w._shape)}."
        )
    if k % gs:
        raise ValueError(
            f"[{op}] The last dimension of the inputs ({k}) must be divisible by the "
            f"quantization group size {gs}."
        )
    gx = _global_scale(gx, mode, op)
    gw = _global_scale(gw, mode, op)
    if (gx is None) != (gw is None):
        raise ValueError(
            f"[{op}] For nvfp4 mode, either both global_scale_x and global_scale_w must be "
            "provided, or neither."
        )
    return gs, bits, mode, quantized, k, w._shape[-2], gx, gw


def _scalar_scale(g: array, op: str) -> array:
    if g.size != 1:
        raise ValueError(
            f"[{op}] Global scale must be a scalar but got shape {fmt_shape(g._shape)}."
        )
    return g if g.ndim == 0 else reshape(g, ())


class _QQBase(Primitive):
    """Quantization parameters shared by QQMatmul and GatherQQMM; inputs are
    ``x, w[, scales][, global_scale_x, global_scale_w]`` (then the indices)."""

    __slots__ = ("group_size", "bits", "mode", "quantized", "has_global")

    def parts(self, inputs) -> tuple:
        """(x, w, scales, gx, gw, rest) from the inputs."""
        x, w, *rest = inputs
        scales = rest.pop(0) if self.quantized else None
        gx = gw = None
        if self.has_global:
            gx, gw = rest.pop(0), rest.pop(0)
        return x, w, scales, gx, gw, rest

    def operands(self, xp, x, w, scales, gx, gw):
        """float32 ``x`` and ``w`` after a round trip through the quantized format."""
        gs, mode = self.group_size, self.mode
        xq, xs = QK.fp_quantize(xp, x, mode, gs, gx)
        xd = QK.fp_dequantize(xp, xq, xs, mode, gs, _F32, gx)
        gq = gd = gw
        if gw is not None and gw.ndim:  # one global scale per matrix of w
            gq = gw.reshape(gw.shape + (1,) * 3)
            gd = gw.reshape(gw.shape + (1,) * 2)
        if not self.quantized:
            w, scales = QK.fp_quantize(xp, w, mode, gs, gq)
        return xd, QK.fp_dequantize(xp, w, scales, mode, gs, _F32, gd)


class QQMatmul(_QQBase):
    """``x @ w.T`` with both operands quantized (``w`` as given when already quantized),
    accumulated in float32, in ``x``'s dtype."""

    __slots__ = ()
    name = "qqmm"

    def __init__(self, group_size, bits, mode, quantized, has_global) -> None:
        self.group_size = group_size
        self.bits = bits
        self.mode = mode
        self.quantized = quantized
        self.has_global = has_global

    def eval(self, xp, *inputs):
        x, w, scales, gx, gw, _ = self.parts(inputs)
        xd, wd = self.operands(xp, x, w, scales, gx, gw)
        return xp.matmul(xd, xp.swapaxes(wd, -1, -2)).astype(x.dtype, copy=False)


def qqmm(
    x, w, scales=None, group_size: int | None = None, bits: int | None = None,
    mode: str = "nvfp4", global_scale_x=None, global_scale_w=None, *, stream=None,
) -> array:  # fmt: skip
    """``x @ w.T`` with ``x`` quantized on the fly and ``w`` quantized on the fly (or given
    quantized: uint32 codes with their ``scales``). Modes ``"nvfp4"`` (with optional float32
    global scales for both operands), ``"mxfp8"`` and ``"mxfp4"``. The product is that of
    the dequantized operands, accumulated in float32, in ``x``'s dtype. Gradients pass
    straight through the quantization (as MLX's do)."""
    op = "qqmm"
    x = _need_array(x, op, "x")
    w = _need_array(w, op, "w")
    if x.ndim == 0:
        raise IndexError(f"[{op}] x must have at least one dimension.")
    if w.ndim > 2:
        raise ValueError(
            f"[{op}] Only 2D inputs are supported but x.ndim() == {x.ndim} and "
            f"w.ndim() == {w.ndim}."
        )
    gs, bits, mode, quantized, _, n, gx, gw = _qq_args(
        op, x, w, scales, group_size, bits, mode, global_scale_x, global_scale_w
    )
    s = resolve_stream(stream)
    inputs = [x, w] + ([scales] if quantized else [])
    if gx is not None:
        inputs += [_scalar_scale(gx, op), _scalar_scale(gw, op)]
    prim = QQMatmul(gs, bits, mode, quantized, gx is not None)
    return node(prim, tuple(inputs), (*x._shape[:-1], n), x._dtype, s)


class GatherQQMM(_QQBase):
    """:class:`QQMatmul` of the matrices of ``x`` at ``lhs`` with those of ``w`` at ``rhs``."""

    __slots__ = ("sorted",)
    name = "gather_qqmm"

    def __init__(self, group_size, bits, mode, quantized, has_global, sorted_) -> None:
        self.group_size = group_size
        self.bits = bits
        self.mode = mode
        self.quantized = quantized
        self.has_global = has_global
        self.sorted = sorted_

    def eval(self, xp, *inputs):
        x, w, scales, gx, gw, (lhs, rhs) = self.parts(inputs)
        xd, wd = self.operands(xp, x, w, scales, gx, gw)
        A, B = _stack(xd), xp.swapaxes(_stack(wd), -1, -2)
        batch = broadcast_shapes(tuple(lhs.shape), tuple(rhs.shape))
        li = _flat_indices(xp, lhs, batch, A.shape[0])
        ri = _flat_indices(xp, rhs, batch, B.shape[0])
        r = _gathered_matmul(xp, A, B, li, ri).astype(x.dtype, copy=False)
        return r.reshape(*batch, *r.shape[-2:])


def gather_qqmm(
    x, w, /, scales=None, lhs_indices=None, rhs_indices=None, group_size: int | None = None,
    bits: int | None = None, mode: str = "nvfp4", global_scale_x=None, global_scale_w=None, *,
    sorted_indices: bool = False, stream=None,
) -> array:  # fmt: skip
    """:func:`qqmm` with a gather over the batch dimensions, as :func:`gather_mm`: output
    ``i`` is ``qqmm(x[lhs_indices[i]], w[rhs_indices[i]])``. ``global_scale_w`` may hold one
    scale per matrix of ``w``."""
    op = "gather_qqmm"
    x = _need_array(x, op, "x")
    w = _need_array(w, op, "w")
    if x.ndim < 2:
        raise ValueError(
            f"[{op}] Input must have at least two dimensions but got input with shape "
            f"{fmt_shape(x._shape)}."
        )
    gs, bits, mode, quantized, _, n, gx, gw = _qq_args(
        op, x, w, scales, group_size, bits, mode, global_scale_x, global_scale_w
    )
    s = resolve_stream(stream)
    lhs, rhs, batch = _gather_indices(lhs_indices, rhs_indices, x._shape[:-2], w._shape[:-2], s, op)
    inputs = [x, w] + ([scales] if quantized else [])
    if gx is not None:
        experts = prod(w._shape[:-2])
        if gw.size != 1 and gw._shape != (experts,):
            raise ValueError(
                f"[{op}] global_scale_w must be a scalar or hold one scale per matrix of w "
                f"({experts}) but got shape {fmt_shape(gw._shape)}."
            )
        gw = _scalar_scale(gw, op) if gw.size == 1 and experts != 1 else gw
        if gw.ndim:
            gw = reshape(gw, w._shape[:-2], stream=s)
        inputs += [_scalar_scale(gx, op), gw]
    prim = GatherQQMM(gs, bits, mode, quantized, gx is not None, bool(sorted_indices))
    shape = (*batch, x._shape[-2], n)
    return node(prim, (*inputs, lhs, rhs), shape, x._dtype, s)


from ._mmv_rules import install as _install_rules  # noqa: E402 - the rules use the ops above

_install_rules()
