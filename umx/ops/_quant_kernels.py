"""Array kernels of the quantization ops, written against an array module ``xp`` (NumPy or
CuPy): bit packing, the affine and the micro-scaled float (mxfp4 / mxfp8 / nvfp4) codes,
and the fp8 (e4m3) conversions. Everything is vectorised bit manipulation: no Python loop
over elements.

The arithmetic follows MLX 0.32.4 on the CPU step by step (learned by experiment with the
oracle): where MLX rounds an intermediate to the input's dtype, so do these kernels, which
is what makes the codes and scales bit-exact. (On the GPU, CuPy flushes float32 subnormals
to zero in every kernel: inputs below 2**-126 are the one place where the two can differ.)
"""

from __future__ import annotations

import ml_dtypes
import numpy as np

from .. import _dtypes as dt

_F32 = np.dtype(np.float32)
_F64 = np.dtype(np.float64)
_U8 = np.dtype(np.uint8)
_U32 = np.dtype(np.uint32)
_U64 = np.dtype(np.uint64)
_BF16 = np.dtype(ml_dtypes.bfloat16)

# e2m1 (fp4) values by code: sign bit 3, then 0, 0.5, 1, 1.5, 2, 3, 4, 6.
FP4_VALUES = np.array(
    [0, 0.5, 1, 1.5, 2, 3, 4, 6, -0.0, -0.5, -1, -1.5, -2, -3, -4, -6], dtype=np.float32
)
# Midpoints between consecutive fp4 magnitudes: a value exactly between two rounds toward
# zero (MLX picks the nearest table entry, the first one on a tie).
_FP4_EDGES = np.array([0.25, 0.75, 1.25, 1.75, 2.5, 3.5, 5.0], dtype=np.float32)


def _e4m3_table() -> np.ndarray:
    """float32 value of each of the 256 e4m3 (fn) codes: bias 7, no infinities, 0x7f NaN."""
    c = np.arange(256, dtype=np.uint32)
    e = ((c >> 3) & 15).astype(np.int32)
    m = (c & 7).astype(np.float32)
    mag = np.where(e == 0, m * np.float32(2.0**-9), (1 + m / 8) * np.exp2(e - 7).astype(np.float32))
    mag = np.where((c & 0x7F) == 0x7F, np.float32(np.nan), mag)
    return np.where(c & 0x80, -mag, mag).astype(np.float32)


E4M3_VALUES = _e4m3_table()


def _cached(xp, table: np.ndarray):
    """``table`` as an ``xp`` array (a device copy is made once per table)."""
    if xp is np:
        return table
    key = id(table)
    t = _DEVICE_TABLES.get(key)
    if t is None:
        t = _DEVICE_TABLES[key] = xp.asarray(table)
    return t


_DEVICE_TABLES: dict = {}


def rounded(v, d: np.dtype):
    """``v`` (float32 / float64) rounded to the float dtype ``d`` and widened back: one
    operation of MLX's in dtype ``d``, computed wide and rounded once."""
    if v.dtype == d or d.itemsize >= v.dtype.itemsize or not (d.kind == "f" or d == _BF16):
        return v
    return v.astype(d).astype(v.dtype)


def work_dtype(*dtypes) -> np.dtype:
    """The wide dtype a kernel computes in: float64 where an input is, float32 otherwise."""
    return _F64 if any(d == _F64 for d in dtypes) else _F32


# -- bit packing ------------------------------------------------------------------------------
# Codes are packed from the lowest bit up, as one little-endian bit stream per row: for bits
# dividing 32 that is 32 // bits codes per uint32; for 3, 5 and 6 bits, 8 codes fill
# ``bits`` bytes and a code may straddle two uint32 words.


def pack(xp, codes, bits: int):
    """Pack the last axis of ``codes`` (each below ``2**bits``) into uint32 words."""
    lead, n = codes.shape[:-1], codes.shape[-1]
    if 32 % bits == 0:
        per = 32 // bits
        c = codes.reshape(*lead, n // per, per).astype(_U32)
        shifts = xp.arange(per, dtype=_U32) * _U32.type(bits)
        return (c << shifts).sum(axis=-1, dtype=_U32)  # disjoint bits: the sum is an OR
    c = codes.reshape(*lead, n // 8, 8).astype(_U64)
    acc = (c << (xp.arange(8, dtype=_U64) * _U64.type(bits))).sum(axis=-1, dtype=_U64)
    by = (acc[..., None] >> (xp.arange(bits, dtype=_U64) * _U64.type(8))) & _U64.type(0xFF)
    by = xp.ascontiguousarray(by.astype(_U8).reshape(*lead, n * bits // 8))
    return by.view(_U32)


def unpack(xp, w, bits: int):
    """The codes packed in the uint32 words of ``w`` (last axis), as uint32."""
    lead, m = w.shape[:-1], w.shape[-1]
    mask = (1 << bits) - 1
    if 32 % bits == 0:
        per = 32 // bits
        shifts = xp.arange(per, dtype=_U32) * _U32.type(bits)
        c = (w[..., None] >> shifts) & _U32.type(mask)
        return c.reshape(*lead, m * per)
    nblocks = m * 4 // bits
    by = xp.ascontiguousarray(w).view(_U8).reshape(*lead, nblocks, bits).astype(_U64)
    acc = (by << (xp.arange(bits, dtype=_U64) * _U64.type(8))).sum(axis=-1, dtype=_U64)
    c = (acc[..., None] >> (xp.arange(8, dtype=_U64) * _U64.type(bits))) & _U64.type(mask)
    return c.astype(_U32).reshape(*lead, nblocks * 8)


def _groups(x, group_size: int):
    return x.reshape(*x.shape[:-1], x.shape[-1] // group_size, group_size)


# -- affine ------------------------------------------------------------------------------------


def affine_quantize(xp, w, group_size: int, bits: int):
    """(packed codes, scales, biases) of ``w``, each group of ``group_size`` along the last
    axis mapped onto ``2**bits`` evenly spaced levels.

    The computation is in float32. The edge of the group with the larger magnitude (the
    maximum on a tie) is made exactly representable: the scale is that edge over the
    nearest whole number of steps, and the bias is the edge itself (so the scale is
    negative when the edge is the maximum). NaNs are ignored by the min / max and get code
    0. With one bit the levels are just the minimum and the maximum.
    """
    d = w.dtype
    x = _groups(w, group_size).astype(_F32)
    nan = xp.isnan(x)
    hi = xp.where(nan, -np.inf, x).max(axis=-1, keepdims=True).astype(_F32)
    lo = xp.where(nan, np.inf, x).min(axis=-1, keepdims=True).astype(_F32)
    n_bins = _F32.type((1 << bits) - 1)
    scale = xp.maximum((hi - lo) / n_bins, _F32.type(1e-7))  # keeps a NaN range NaN
    if bits == 1:
        bias = lo
    else:
        neg_edge = xp.abs(lo) > xp.abs(hi)
        scale = xp.where(neg_edge, scale, -scale)
        edge = xp.where(neg_edge, lo, hi)
        q0 = xp.rint(edge / scale)
        nz = q0 != 0
        scale = xp.where(nz, edge / xp.where(nz, q0, _F32.type(1)), scale)
        bias = xp.where(nz, edge, _F32.type(0))
    q = xp.rint((x - bias) / scale)
    q = xp.where(xp.isnan(q), _F32.type(0), xp.clip(q, 0, n_bins)).astype(_U32)
    packed = pack(xp, q.reshape(w.shape), bits)
    return packed, scale[..., 0].astype(d), bias[..., 0].astype(d)


def affine_dequantize(xp, w, scales, biases, group_size: int, bits: int, out: np.dtype):
    """``scales * codes + biases``: the product rounded to the scales' dtype, the sum to
    the promoted dtype ``mid`` of scales and biases, then the result cast to ``out``
    (MLX's order of operations and roundings)."""
    mid = dt.promote_types(dt.from_numpy(scales.dtype), dt.from_numpy(biases.dtype)).np
    wk = work_dtype(scales.dtype, biases.dtype, mid)
    codes = _groups(unpack(xp, w, bits), group_size)
    t = rounded(codes.astype(wk) * scales[..., None].astype(wk), scales.dtype)
    r = rounded(t + biases[..., None].astype(wk), mid)
    r = r.reshape(*r.shape[:-2], r.shape[-2] * group_size)
    return r.astype(mid).astype(out, copy=False)


# -- fp8 (e4m3) and fp4 (e2m1) ------------------------------------------------------------------


def to_e4m3(xp, x):
    """Round ``x`` to the nearest e4m3 code (ties to even), saturating at +-448; NaN goes
    to +-448 as well, with its sign (what MLX's ``to_fp8`` does)."""
    x = x.astype(_F32)
    sign = ((x.view(_U32) >> _U32.type(24)) & _U32.type(0x80)).astype(_U8)
    a = xp.minimum(xp.abs(x), _F32.type(448))  # NaN stays NaN here
    ab = a.view(_U32)
    # Round the mantissa to 3 bits (to nearest even) with integer arithmetic.
    r = ab + _U32.type(0x7FFFF) + ((ab >> _U32.type(20)) & _U32.type(1))
    exp = (r >> _U32.type(23)).astype(np.int32) - 120
    normal = (exp << 3) | ((r >> _U32.type(20)) & _U32.type(7)).astype(np.int32)
    sub = xp.rint(a * _F32.type(512)).astype(np.int32)  # below 2**-6: multiples of 2**-9
    code = xp.where(a < _F32.type(2.0**-6), sub, normal)
    code = xp.where(xp.isnan(a), 0x7E, code).astype(_U8)
    return code | sign


def from_e4m3(xp, codes, out: np.dtype = _F32):
    """The values of e4m3 ``codes`` (exact in every float dtype)."""
    return _cached(xp, E4M3_VALUES)[codes.astype(np.intp)].astype(out, copy=False)


def to_e2m1(xp, v):
    """fp4 codes of ``v``: the nearest of 0, 0.5, ..., 6 (toward zero on a tie), the sign
    kept only on a non-zero code; infinities and NaN give code 0."""
    a = xp.abs(v)
    c = xp.searchsorted(_cached(xp, _FP4_EDGES).astype(a.dtype), a, side="left")
    c = xp.where(xp.isfinite(v), c, 0).astype(_U8)
    return xp.where((v < 0) & (c > 0), c | _U8.type(8), c)


def from_e2m1(xp, codes):
    return _cached(xp, FP4_VALUES)[codes.astype(np.intp)]


# -- micro-scaled float modes --------------------------------------------------------------------

_FP_MAX = {"mxfp4": 6.0, "mxfp8": 448.0, "nvfp4": 6.0}
_NV_RANGE = np.float32(448.0 * 6.0)  # e4m3 max times e2m1 max: nvfp4's global-scale unit


def fp_quantize(xp, w, mode: str, group_size: int, global_scale=None):
    """(packed codes, uint8 scales) of ``w`` in ``mode``.

    mx modes: the scale is the power of two ``2**ceil(log2(amax / max))`` (``max`` the
    element type's largest value; ``amax / max`` rounded to ``w``'s dtype), stored as its
    exponent + 127 modulo 256 (MLX does not clamp it), with 0 for an all-zero group; a group
    with an infinite or NaN maximum gets the byte 128 and its elements are divided by 0.
    nvfp4: the scale is ``amax / 6`` (times ``448 * 6 / global_scale`` when given) rounded
    to e4m3, and each element is ``w / scale`` rounded to ``w``'s dtype (then times that
    factor) before it is rounded to fp4.
    """
    d = w.dtype
    wk = work_dtype(d)
    x = _groups(w, group_size)
    amax = xp.abs(x).max(axis=-1, keepdims=True)  # a NaN propagates
    s = rounded(amax.astype(wk) / wk.type(_FP_MAX[mode]), d)
    if mode == "nvfp4":
        f = _F32.type(1) if global_scale is None else _NV_RANGE / global_scale.astype(_F32)
        byte = to_e4m3(xp, s.astype(_F32) * f)
        div = from_e4m3(xp, byte, wk)
        v = rounded(x.astype(wk) / div, d).astype(_F32) * f
        codes = to_e2m1(xp, v)
    else:
        s32 = s.astype(_F32)
        ok = xp.isfinite(s32)
        m, e = xp.frexp(s32)  # s32 = m * 2**e with m in [0.5, 1): ceil(log2 s32) is e or e - 1
        e = xp.where(ok & (s32 != 0), e - (m == 0.5), 0).astype(np.int32)
        byte = xp.where(ok, (e + 127) & 0xFF, 128).astype(_U8)
        div = xp.where(ok, xp.ldexp(wk.type(1), e).astype(wk), wk.type(0))
        v = x.astype(wk) / div  # exact: a power of two (or 0 for a non-finite group)
        if mode == "mxfp4":
            codes = to_e2m1(xp, v)
        else:
            codes = to_e4m3(xp, v)
            # x / 0: +-inf to +-448; 0 / 0 is the CPU's default NaN, negative.
            xw = x.astype(wk)
            neg = xp.where(xw == 0, True, xp.signbit(xw))
            nonfinite = xp.where(neg, _U8.type(0xFE), _U8.type(0x7E))
            codes = xp.where(ok, codes, nonfinite)
    bits = 8 if mode == "mxfp8" else 4
    return pack(xp, codes.reshape(w.shape), bits), byte[..., 0]


def fp_dequantize(xp, w, scales, mode: str, group_size: int, out: np.dtype, global_scale=None):
    """Values of the packed ``w`` times their group's scale. Without a global scale the
    product is computed in ``out`` (an mx scale of 2**k overflows to inf in float16 as in
    MLX); with one (nvfp4), in float32 as ``codes * (scale * (global_scale / (448 * 6))``."""
    if mode == "mxfp8":
        vals = from_e4m3(xp, unpack(xp, w, 8))
    else:
        vals = from_e2m1(xp, unpack(xp, w, 4))
    vals = _groups(vals, group_size)
    if global_scale is not None:
        sc = from_e4m3(xp, scales) * (global_scale.astype(_F32) / _NV_RANGE)
        r = vals * sc[..., None]
        return r.reshape(*r.shape[:-2], -1)
    wk = work_dtype(out)
    if mode == "nvfp4":
        sc = from_e4m3(xp, scales, wk)
    else:
        sc = xp.ldexp(wk.type(1), scales.astype(np.int32) - 127).astype(wk)
    r = rounded(vals.astype(wk) * rounded(sc, out)[..., None], out)
    return r.reshape(*r.shape[:-2], -1).astype(out, copy=False)
