"""Quantization: quantize / dequantize (affine, mxfp4, mxfp8, nvfp4), quantized_matmul,
gather_qmm, to_fp8 / from_fp8.

Bit-exactness is checked against outputs recorded from MLX 0.32.4 on the CPU
(tests/_quantized_oracle.py); values of the products against NumPy on the dequantized
weights; errors, dtypes and transform behaviour as the oracle showed them.
"""

from __future__ import annotations

import hashlib

import ml_dtypes
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import umx as mx
from tests import _quantized_oracle as O
from umx._primitive import NotDifferentiable

FLOATS = {"float32": mx.float32, "float16": mx.float16, "bfloat16": mx.bfloat16}


def crafted(rows: int, cols: int, seed: int) -> np.ndarray:
    """Deterministic float32 test input (exact arithmetic only): ties, a constant row, a
    half-zero row, a non-negative row, a large negative row, magnitudes from 1/8 to 8."""
    k = np.arange(rows * cols, dtype=np.int64)
    v = ((k * (2 * seed + 37) + seed * 11) % 1009 - 504).astype(np.float32) / np.float32(97 + seed)
    v = (
        v.reshape(rows, cols)
        * (np.float32(2.0) ** ((np.arange(rows) % 7) - 3)).astype(np.float32)[:, None]
    )
    v[0] = np.float32(1.5)
    v[1, : cols // 2] = 0
    v[2] = np.abs(v[2])
    v[3] = -np.abs(v[3]) * 1000
    return v.astype(np.float32)


def digest(*arrays) -> str:
    m = hashlib.sha256()
    for a in arrays:
        m.update(np.ascontiguousarray(np.array(a)).tobytes())
    return m.hexdigest()[:16]


def npf(a) -> np.ndarray:
    return np.array(a).astype(np.float64)


def unpack(words: np.ndarray, bits: int) -> np.ndarray:
    """Reference unpacking: one little-endian bit stream per row, lowest bits first."""
    b = np.unpackbits(words.view(np.uint8), axis=-1, bitorder="little")
    b = b.reshape(*words.shape[:-1], -1, bits).astype(np.uint64)
    return (b << np.arange(bits, dtype=np.uint64)).sum(-1)


# -- bit-exact against the oracle's recorded outputs -------------------------------------------


@pytest.mark.parametrize("key", sorted(O.AFFINE_DIGESTS))
def test_affine_matches_mlx_bit_for_bit(key):
    dname, bits, gs = key.split("/")
    bits, gs = int(bits), int(gs)
    w = mx.array(crafted(8, 256, 1)).astype(FLOATS[dname])
    q, s, b = mx.quantize(w, gs, bits)
    assert q.dtype == mx.uint32 and q.shape == (8, 256 * bits // 32)
    assert s.dtype == b.dtype == w.dtype and s.shape == b.shape == (8, 256 // gs)
    d = mx.dequantize(q, s, b, gs, bits)
    assert d.dtype == w.dtype
    assert " ".join([digest(q), digest(s, b), digest(d)]) == O.AFFINE_DIGESTS[key]


@pytest.mark.parametrize("key", sorted(O.FP_DIGESTS))
def test_fp_modes_match_mlx_bit_for_bit(key):
    dname, mode, *g = key.split("/")
    w = mx.array(crafted(8, 128, 2)).astype(FLOATS[dname])
    kw = {"global_scale": mx.array(np.float32(37.5))} if g else {}
    q, s = mx.quantize(w, mode=mode, **kw)
    assert q.dtype == mx.uint32 and s.dtype == mx.uint8
    assert s.shape == (8, 128 // (16 if mode == "nvfp4" else 32))
    d = mx.dequantize(q, s, mode=mode, dtype=None if g else w.dtype, **kw)
    assert d.dtype == (mx.float32 if g else w.dtype)
    assert " ".join([digest(q), digest(s), digest(d)]) == O.FP_DIGESTS[key]


def test_literal_cases_recorded_from_mlx():
    w = crafted(4, 64, 3)[2:4]
    for bits in (4, 3, 1):
        q, s, b = mx.quantize(mx.array(w), 32, bits)
        eq, es, eb = O.LITERAL[f"affine{bits}"]
        np.testing.assert_array_equal(np.array(q), np.array(eq, np.uint32))
        np.testing.assert_array_equal(np.array(s), np.array(es, np.float32))
        np.testing.assert_array_equal(np.array(b), np.array(eb, np.float32))
    q, s, b = mx.quantize(mx.array(w).astype(mx.float16), 64, 2)
    eq, es, eb = O.LITERAL["affine2_f16"]
    np.testing.assert_array_equal(np.array(q), np.array(eq, np.uint32))
    np.testing.assert_array_equal(np.array(s).view(np.uint16), np.array(es, np.uint16))
    np.testing.assert_array_equal(np.array(b).view(np.uint16), np.array(eb, np.uint16))
    for mode in ("mxfp4", "mxfp8", "nvfp4"):
        q, s = mx.quantize(mx.array(w[:, :32]), mode=mode)
        eq, es = O.LITERAL[mode]
        np.testing.assert_array_equal(np.array(q), np.array(eq, np.uint32))
        np.testing.assert_array_equal(np.array(s), np.array(es, np.uint8))


def test_affine_algorithm_details():
    # The edge of larger magnitude is exact: bias = that edge, scale = edge / steps.
    q, s, b = mx.quantize(mx.array([[i / 31 for i in range(32)]]), 32, 2)
    assert s.item() == np.float32(-1 / 3) and b.item() == 1.0
    np.testing.assert_array_equal(
        unpack(np.array(q), 2)[0], [3] * 6 + [2] * 10 + [1] * 10 + [0] * 6
    )
    # One bit: levels at the minimum and maximum.
    q, s, b = mx.quantize(mx.array([[i / 31 for i in range(32)]]), 32, 1)
    assert (s.item(), b.item()) == (1.0, 0.0)
    # A constant group: the scale is -1e-7 (float32), the bias the value.
    q, s, b = mx.quantize(mx.full((1, 32), 0.5), 32, 4)
    assert s.item() == np.float32(-1e-7) and b.item() == 0.5
    # NaNs are ignored by the range and get code 0; an inf makes the scale NaN.
    w = np.linspace(-1, 2, 32).astype(np.float32)
    w[5] = np.nan
    q, s, b = mx.quantize(mx.array(w[None]), 32, 4)
    assert (s.item(), b.item()) == (np.float32(-0.2), 2.0)
    assert unpack(np.array(q), 4)[0, 5] == 0
    w[5] = np.inf
    q, s, b = mx.quantize(mx.array(w[None]), 32, 4)
    assert np.isnan(s.item()) and b.item() == np.inf and not np.array(q).any()


def pack(codes: np.ndarray, bits: int) -> np.ndarray:
    """Reference packing (the inverse of ``unpack``)."""
    b = ((codes[..., None] >> np.arange(bits)) & 1).astype(np.uint8).reshape(*codes.shape[:-1], -1)
    return np.packbits(b, axis=-1, bitorder="little").view(np.uint32)


def test_packing_order():
    # Lowest bits first, one bit stream per row: 3-, 5- and 6-bit codes straddle words.
    rng = np.random.default_rng(0)
    for bits in (1, 2, 3, 4, 5, 6, 8):
        codes = rng.integers(0, 2**bits, (3, 64))
        q = mx.array(pack(codes, bits))
        one, zero = mx.ones((3, 2)), mx.zeros((3, 2))
        np.testing.assert_array_equal(np.array(mx.dequantize(q, one, zero, 32, bits)), codes)
        w = mx.array(rng.standard_normal((3, 64)).astype(np.float32))
        qw = mx.quantize(w, 32, bits)[0]
        read = np.array(mx.dequantize(qw, one, zero, 32, bits))
        np.testing.assert_array_equal(unpack(np.array(qw), bits), read)
        assert pack(read.astype(np.int64), bits).tolist() == np.array(qw).tolist()
    q = mx.array(np.array([[0x76543210]], np.uint32))
    np.testing.assert_array_equal(
        np.array(mx.dequantize(q, mx.ones((1, 1)), mx.zeros((1, 1)), 8, 4))[0], range(8)
    )


def test_mx_scales_and_fp4_rounding():
    def scale_of(amax, mode="mxfp4"):
        w = np.zeros((1, 32), np.float32)
        w[0, 0] = amax
        # The CPU: CuPy's GPU kernels flush float32 subnormals (1e-40 here) to zero.
        return mx.quantize(mx.array(w), mode=mode, stream=mx.cpu)[1].item()

    # 2**ceil(log2(amax / 6)) + 127, no clamping (subnormal maxima wrap below 0).
    assert [scale_of(a) for a in (6.0, 6.1, 12.0, 12.1, 0.9, 0.0)] == [127, 128, 128, 129, 125, 127]
    assert scale_of(1e-40) == 248 and scale_of(np.inf) == 128 and scale_of(4.0, "mxfp8") == 121
    # e2m1 rounds a tie toward zero and drops the sign of a zero code.
    w = np.zeros((1, 32), np.float32)
    w[0, 0] = 6
    ties = [0.25, 0.75, 1.25, 1.75, 2.5, 3.5, 5.0, -0.25, -0.75, -5.0, 0.2500001]
    w[0, 1 : 1 + len(ties)] = ties
    q, s = mx.quantize(mx.array(w), mode="mxfp4")
    codes = unpack(np.array(q), 4)[0, : 1 + len(ties)]
    np.testing.assert_array_equal(codes, [7, 0, 1, 2, 3, 4, 5, 6, 0, 9, 14, 1])


def test_fp8_conversions():
    x = mx.array(np.array(O.TO_FP8_INPUT, np.float32))
    for d in (mx.float32, mx.float16):
        r = mx.to_fp8(x.astype(d))
        assert r.dtype == mx.uint8
        np.testing.assert_array_equal(np.array(r), O.TO_FP8)
    codes = np.arange(256, dtype=np.uint8)
    ref = codes.view(ml_dtypes.float8_e4m3fn).astype(np.float64)
    assert mx.from_fp8(mx.array(codes)).dtype == mx.bfloat16  # the default
    for d in (mx.float16, mx.bfloat16, mx.float32, mx.float64):
        got = npf(mx.from_fp8(mx.array(codes), d))
        np.testing.assert_array_equal(got, ref)
    # Round to nearest even like ml_dtypes, but saturate (MLX) where ml_dtypes gives NaN.
    v = np.random.default_rng(0).standard_normal(4000).astype(np.float32) * 10.0 ** np.arange(
        -4, 4
    ).repeat(500).astype(np.float32)
    exp = np.clip(v, -448, 448).astype(ml_dtypes.float8_e4m3fn).view(np.uint8)
    np.testing.assert_array_equal(np.array(mx.to_fp8(mx.array(v))), exp)


# -- round trips -----------------------------------------------------------------------------

_EPS = {"float32": 1e-6, "float16": 2e-3, "bfloat16": 1.6e-2}


@given(
    st.integers(1, 3), st.integers(1, 3), st.sampled_from([32, 64, 128]),
    st.sampled_from([1, 2, 3, 4, 5, 6, 8]), st.sampled_from(sorted(FLOATS)),
    st.floats(1e-3, 1e3), st.integers(0, 2**31),
)  # fmt: skip
def test_affine_round_trip_error(rows, groups, gs, bits, dname, mag, seed):
    rng = np.random.default_rng(seed)
    w = mx.array((rng.standard_normal((rows, groups * gs)) * mag).astype(np.float32))
    w = w.astype(FLOATS[dname])
    q, s, b = mx.quantize(w, gs, bits)
    wn = npf(w).reshape(rows, groups, gs)
    err = np.abs(npf(mx.dequantize(q, s, b, gs, bits)).reshape(wn.shape) - wn)
    step = (wn.max(-1) - wn.min(-1)) / (2**bits - 1)
    # Half a step where the levels cover the group, less than one step where the scale was
    # shrunk to make an edge exact; plus the dtype's rounding of scale, bias and result.
    bound = step * 1.001 + _EPS[dname] * np.abs(wn).max(-1) * (2**bits + 2)
    assert np.all(err.max(-1) <= bound)


@given(
    st.sampled_from(["mxfp4", "mxfp8", "nvfp4"]), st.integers(1, 3), st.integers(1, 3),
    st.sampled_from(sorted(FLOATS)), st.floats(1e-3, 1e3), st.integers(0, 2**31),
)  # fmt: skip
def test_fp_round_trip_error(mode, rows, groups, dname, mag, seed):
    gs = 16 if mode == "nvfp4" else 32
    rng = np.random.default_rng(seed)
    w = mx.array((rng.standard_normal((rows, groups * gs)) * mag).astype(np.float32))
    w = w.astype(FLOATS[dname])
    q, s = mx.quantize(w, mode=mode)
    wn = npf(w).reshape(rows, groups, gs)
    err = np.abs(npf(mx.dequantize(q, s, mode=mode, dtype=mx.float32)).reshape(wn.shape) - wn)
    amax = np.abs(wn).max(-1)
    # fp4: at most half the largest gap (2) of a scale below amax / 3; fp8: 2**-4 relative.
    rel = 1 / 16 + 1e-6 if mode == "mxfp8" else 0.36
    # nvfp4's e4m3 scale is only that precise above its subnormals (amax / 6 >= 2**-6);
    # below 2**-10 it is 0 and the group reads back as zeros.
    normal = amax >= 6 * 2.0**-6 if mode == "nvfp4" else amax >= 0
    assert np.all(err.max(-1)[normal] <= rel * amax[normal] + 1e-30)
    assert np.all(err.max(-1) <= amax)


# -- products ---------------------------------------------------------------------------------


def _deq(q, s, b, gs, bits, mode):
    return npf(mx.dequantize(q, s, b, gs, bits, mode, dtype=mx.float32))


@given(
    st.sampled_from([(), (2,), (1, 2)]), st.integers(1, 4), st.integers(1, 3),
    st.sampled_from([(32, 2), (32, 3), (64, 4), (128, 8), (32, 4, "mxfp4"), (32, 8, "mxfp8"),
                     (16, 4, "nvfp4")]),
    st.booleans(), st.sampled_from([(), (1,), (2,), (3, 1)]), st.integers(0, 2**31),
)  # fmt: skip
def test_quantized_matmul_equals_dequantized_product(wb, m, n16, cfg, transpose, xb, seed):
    gs, bits, mode = (*cfg, "affine")[:3]
    rng = np.random.default_rng(seed)
    k, n = 128, (16 if transpose else 128) * n16
    wshape = (*wb, n, k) if transpose else (*wb, k, n)
    w = mx.array(rng.standard_normal(wshape).astype(np.float32))
    q, s, *b = mx.quantize(w, gs, bits, mode)
    b = b[0] if b else None
    x = mx.array(rng.standard_normal((*xb, m, k)).astype(np.float32))
    y = mx.quantized_matmul(x, q, s, b, transpose, gs, bits, mode)
    wd = _deq(q, s, b, gs, bits, mode)
    if x.ndim <= 2 and wd.ndim > 2:  # MLX reads the first matrix of a batched w here
        wd = wd.reshape(-1, *wd.shape[-2:])[0]
    ref = npf(x) @ (np.swapaxes(wd, -1, -2) if transpose else wd)
    assert y.shape == ref.shape and y.dtype == mx.float32
    np.testing.assert_allclose(npf(y), ref, rtol=1e-4, atol=1e-3)


def test_quantized_matmul_shapes_and_dtypes():
    w = mx.array(crafted(64, 128, 4))
    q, s, b = mx.quantize(w)
    assert mx.quantized_matmul(mx.ones((128,)), q, s, b).shape == (64,)
    assert mx.quantized_matmul(mx.ones((3, 64)), q, s, b, transpose=False).shape == (3, 128)
    qs, ss, bs = (mx.stack([a, a]) for a in (q, s, b))
    assert mx.quantized_matmul(mx.ones((3, 128)), qs, ss, bs).shape == (3, 64)
    assert mx.quantized_matmul(mx.ones((5, 1, 3, 128)), qs, ss, bs).shape == (5, 2, 3, 64)
    f16 = mx.ones((3, 128), dtype=mx.float16)
    assert mx.quantized_matmul(f16, q, s, b).dtype == mx.float32  # promoted with the scales
    s16, b16 = s.astype(mx.float16), b.astype(mx.float16)
    assert mx.quantized_matmul(f16, q, s16, b16).dtype == mx.float16
    assert mx.quantized_matmul(mx.ones((3, 128), dtype=mx.int32), q, s, b).dtype == mx.float32
    qm, sm = mx.quantize(w, mode="mxfp4")
    bf = mx.ones((3, 128), dtype=mx.bfloat16)
    assert mx.quantized_matmul(bf, qm, sm, mode="mxfp4").dtype == mx.bfloat16
    d = mx.dequantize(q, s16, b)
    assert d.dtype == mx.float32 and mx.dequantize(qm, sm, mode="mxfp4").dtype == mx.bfloat16


def test_dequantize_dtype_rounding_order():
    # The product is rounded to the scales' dtype, the sum to the promoted dtype.
    w = mx.array(np.clip(crafted(8, 64, 5), -60, 60) * 50)
    q, s, b = mx.quantize(w, 32, 8)
    codes = npf(mx.dequantize(q, mx.ones_like(s), mx.zeros_like(b), 32, 8)).reshape(8, 2, 32)
    s16 = s.astype(mx.float16)
    got = np.array(mx.dequantize(q, s16, b, 32, 8, dtype=mx.float16))
    t = (codes.astype(np.float16) * np.array(s16)[..., None]).astype(np.float32)
    exp = (t + np.array(b)[..., None]).astype(np.float16).reshape(8, 64)
    np.testing.assert_array_equal(got, exp)
    # mx scales are powers of two computed in the output dtype: 2**16 overflows float16.
    q = mx.array(np.array([[0x71717171] * 4], np.uint32))  # codes 1 (0.5) and 7 (6)
    r = np.array(
        mx.dequantize(q, mx.array([[142]], dtype=mx.uint8), mode="mxfp4", dtype=mx.float16)
    )
    assert r[0, 0] == 16384 and np.isinf(r[0, 1])


@given(st.booleans(), st.sampled_from(["affine", "mxfp4"]), st.integers(0, 2**31))
def test_gather_qmm_against_numpy(transpose, mode, seed):
    rng = np.random.default_rng(seed)
    w = mx.array(rng.standard_normal((4, 32, 64)).astype(np.float32))
    q, s, *b = mx.quantize(w, 32, 4, mode)
    b = b[0] if b else None
    wd = _deq(q, s, b, 32, 4, mode)
    wd = np.swapaxes(wd, -1, -2) if transpose else wd
    kdim = wd.shape[-2]
    x = rng.standard_normal((3, 2, kdim)).astype(np.float32)
    li = rng.integers(0, 3, (2, 1))
    ri = rng.integers(0, 4, (1, 5))
    y = mx.gather_qmm(mx.array(x), q, s, b, mx.array(li), mx.array(ri), transpose,
                      group_size=32, bits=4, mode=mode)  # fmt: skip
    lb, rb = np.broadcast_arrays(li, ri)
    ref = np.stack([x[i] @ wd[j] for i, j in zip(lb.ravel(), rb.ravel())]).reshape(2, 5, 2, -1)
    assert y.shape == ref.shape
    np.testing.assert_allclose(npf(y), ref, rtol=1e-4, atol=1e-4)
    # Default indices: every matrix in order (here x's batch broadcasts against w's).
    y = mx.gather_qmm(mx.array(x[:1]), q, s, b, None, None, transpose, 32, 4, mode)
    np.testing.assert_allclose(npf(y), x[0] @ wd, rtol=1e-4, atol=1e-4)


def test_gather_qmm_global_scale_per_matrix():
    # nvfp4 with one global scale per matrix of w (MLX allows it on its GPU only).
    rng = np.random.default_rng(5)
    w = rng.standard_normal((3, 16, 64)).astype(np.float32)
    g = np.array([10.0, 200.0, 3000.0], np.float32)
    parts = [mx.quantize(mx.array(w[i : i + 1]), mode="nvfp4", global_scale=mx.array(g[i]))
             for i in range(3)]  # fmt: skip
    q = mx.concatenate([p[0] for p in parts])
    s = mx.concatenate([p[1] for p in parts])
    x = rng.standard_normal((2, 4, 64)).astype(np.float32)
    y = mx.gather_qmm(mx.array(x), q, s, None, mx.array([0, 1, 1]), mx.array([2, 0, 1]),
                      mode="nvfp4", global_scale=mx.array(g))  # fmt: skip
    for k, (i, j) in enumerate([(0, 2), (1, 0), (1, 1)]):
        wd = npf(mx.dequantize(q[j], s[j], mode="nvfp4", global_scale=mx.array(g[j])))
        np.testing.assert_allclose(npf(y[k]), x[i] @ wd.T, rtol=1e-4, atol=1e-4)


def test_empty_and_batched_shapes():
    for shape in [(0, 128), (2, 0), (2, 3, 128)]:
        q, s, b = mx.quantize(mx.ones(shape), 64, 4)
        assert q.shape == (*shape[:-1], shape[-1] // 8) and s.shape == (
            *shape[:-1],
            shape[-1] // 64,
        )
        d = mx.dequantize(q, s, b, 64, 4)
        assert d.shape == shape and np.all(np.array(d) == 1)


# -- errors (MLX's exception types, raised when the op is called) --------------------------------

_W = crafted(8, 128, 6)


def _error_cases():
    w = mx.array(_W)
    q, s, b = mx.quantize(w, 32, 4)
    qm, sm = mx.quantize(w, mode="mxfp4")
    one = mx.ones((3, 128))
    return {
        "q 1-D": (lambda: mx.quantize(mx.ones((128,))), ValueError, "at least 2 dimension"),
        "q group": (lambda: mx.quantize(w, group_size=16), ValueError, "group size 16"),
        "q bits": (lambda: mx.quantize(w, bits=7), ValueError, "number of bits 7"),
        "q divisible": (lambda: mx.quantize(mx.ones((2, 100))), ValueError, "divisible"),
        "q int": (lambda: mx.quantize(mx.ones((2, 64), dtype=mx.int32)), ValueError, "floating"),
        "q mode": (lambda: mx.quantize(w, mode="int4"), ValueError, "Invalid quantization mode"),
        "q mx group": (lambda: mx.quantize(w, 64, mode="mxfp4"), ValueError, "group size 32"),
        "q mx bits": (lambda: mx.quantize(w, bits=4, mode="mxfp8"), ValueError, "bits to be 8"),
        "q list": (lambda: mx.quantize([[1.0] * 32] * 2), TypeError, "array"),
        "q global mode": (
            lambda: mx.quantize(w, mode="mxfp4", global_scale=mx.array(2.0)), ValueError, "nvfp4"
        ),
        "q global dtype": (
            lambda: mx.quantize(w, mode="nvfp4", global_scale=mx.array(2)), ValueError, "float32"
        ),
        "dq uint32": (lambda: mx.dequantize(w, s, b), ValueError, "uint32"),
        "dq biases": (lambda: mx.dequantize(q, s, group_size=32), ValueError, "Biases must be"),
        "dq shapes": (lambda: mx.dequantize(q, s, b, group_size=64), ValueError, "Shape of scales"),
        "dq group 0": (lambda: mx.dequantize(q, s, b, group_size=0), ValueError, "group_size: 0"),
        "dq dtype": (lambda: mx.dequantize(q, s, b, 32, dtype=mx.int32), ValueError, "floating"),
        "dq mx biases": (lambda: mx.dequantize(qm, sm, b, mode="mxfp4"), ValueError, "null"),
        "dq mx scales": (lambda: mx.dequantize(qm, s, mode="mxfp4"), ValueError, "uint8"),
        "mm weights": (lambda: mx.quantized_matmul(one, w, s, b, group_size=32), ValueError, "uint32"),
        "mm K": (lambda: mx.quantized_matmul(mx.ones((3, 64)), q, s, b, group_size=32), ValueError,
                 "does not match the expanded"),
        "mm group": (lambda: mx.quantized_matmul(one, q, s, b, group_size=64), ValueError,
                     "incompatible"),
        "mm scales/biases": (lambda: mx.quantized_matmul(one, q, s, b[:, :1], group_size=32),
                             ValueError, "same shape"),
        "mm batch": (lambda: mx.quantized_matmul(one, mx.stack([q, q]), s, b, group_size=32),
                     ValueError, "same batch shape"),
        "mm broadcast": (
            lambda: mx.quantized_matmul(mx.ones((3, 3, 128)), *(mx.stack([a, a]) for a in (q, s, b)),
                                        group_size=32), ValueError, "broadcast",
        ),
        "mm mx int x": (lambda: mx.quantized_matmul(mx.ones((3, 128), dtype=mx.int32), qm, sm,
                                                    mode="mxfp4"), ValueError, "floating"),
        "mm 0-d": (lambda: mx.quantized_matmul(mx.array(1.0), q, s, b, group_size=32), IndexError,
                   "dimension"),
        "mm transpose": (lambda: mx.quantized_matmul(one, q, s, b, 1, group_size=32), TypeError,
                         "bool"),
        "gq 1-D": (lambda: mx.gather_qmm(mx.ones((128,)), q, s, b, group_size=32), ValueError,
                   "two dimensions"),
        "gq float indices": (
            lambda: mx.gather_qmm(one, q, s, b, mx.array([0.0]), group_size=32), ValueError,
            "integral",
        ),
        "to_fp8 int": (lambda: mx.to_fp8(mx.ones((2,), dtype=mx.int32)), ValueError, "floating"),
        "to_fp8 scalar": (lambda: mx.to_fp8(1.5), TypeError, "array"),
        "from_fp8 input": (lambda: mx.from_fp8(mx.ones((2,), dtype=mx.int32)), ValueError, "uint8"),
        "from_fp8 dtype": (
            lambda: mx.from_fp8(mx.ones((2,), dtype=mx.uint8), dtype=mx.int32), ValueError,
            "floating",
        ),
    }  # fmt: skip


@pytest.mark.parametrize("case", sorted(_error_cases()))
def test_errors_at_call_time(case):
    fn, exc, fragment = _error_cases()[case]
    with pytest.raises(exc, match=fragment):
        fn()


# -- transforms --------------------------------------------------------------------------------


def _affine_setup(seed=0, wb=()):
    rng = np.random.default_rng(seed)
    w = mx.array(rng.standard_normal((*wb, 24, 64)).astype(np.float32))
    q, s, b = mx.quantize(w, 32, 4)
    codes = npf(mx.dequantize(q, mx.ones_like(s), mx.zeros_like(b), 32, 4))
    return rng, q, s, b, codes


def _group_sums(gw, codes):
    g = gw.reshape(*gw.shape[:-1], -1, 32)
    return (g * codes.reshape(g.shape)).sum(-1), g.sum(-1)


@pytest.mark.parametrize("transpose", [True, False])
def test_quantized_matmul_gradients(transpose):
    rng, q, s, b, codes = _affine_setup()
    wd = npf(mx.dequantize(q, s, b, 32, 4))
    x = rng.standard_normal((2, 5, 64 if transpose else 24)).astype(np.float32)
    c = rng.standard_normal((2, 5, 24 if transpose else 64)).astype(np.float32)

    def f(x, s, b):
        return mx.sum(mx.quantized_matmul(x, q, s, b, transpose, 32, 4) * mx.array(c))

    gx, gs, gb = mx.grad(f, argnums=(0, 1, 2))(mx.array(x), s, b)
    w2 = wd if transpose else wd.T  # x @ w2.T
    np.testing.assert_allclose(npf(gx), c @ w2, rtol=1e-4, atol=1e-4)
    gw = np.einsum("bmn,bmk->nk", c, x)  # cotangent of w2 = x^T-weighted c
    gw = gw if transpose else gw.T
    es, eb = _group_sums(gw, codes)
    np.testing.assert_allclose(npf(gs), es, rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(npf(gb), eb, rtol=1e-4, atol=1e-3)
    # Forward mode in x agrees with the product; w raises as in MLX (RuntimeError).
    t = mx.array(rng.standard_normal(x.shape).astype(np.float32))
    _, (jt,) = mx.jvp(lambda x: mx.quantized_matmul(x, q, s, b, transpose, 32, 4),
                      (mx.array(x),), (t,))  # fmt: skip
    np.testing.assert_allclose(npf(jt), npf(t) @ w2.T, rtol=1e-4, atol=1e-4)
    with pytest.raises(RuntimeError, match="quantized weights"):
        mx.grad(lambda q: mx.sum(mx.quantized_matmul(mx.array(x), q, s, b, transpose, 32, 4)))(q)
    with pytest.raises(NotDifferentiable):
        mx.grad(lambda q: mx.sum(mx.quantized_matmul(mx.array(x), q, s, b, transpose, 32, 4)))(q)


def test_gradients_of_the_other_ops():
    rng, q, s, b, codes = _affine_setup(1)
    c = rng.standard_normal((24, 64)).astype(np.float32)
    gs, gb = mx.grad(lambda s, b: mx.sum(mx.dequantize(q, s, b, 32, 4) * mx.array(c)),
                     argnums=(0, 1))(s, b)  # fmt: skip
    es, eb = _group_sums(c.astype(np.float64), codes)
    np.testing.assert_allclose(npf(gs), es, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(npf(gb), eb, rtol=1e-5, atol=1e-4)
    # quantize has zero gradients (as in MLX).
    w = mx.array(rng.standard_normal((4, 64)).astype(np.float32))
    g = mx.grad(lambda w: mx.sum(mx.quantize(w, 32, 4)[1]))(w)
    assert g.shape == w.shape and not np.array(g).any()
    # The nvfp4 global scale: the output is proportional to it.
    gsc = mx.array(np.float32(3.0))
    qn, sn = mx.quantize(w, mode="nvfp4", global_scale=gsc)
    d = npf(mx.dequantize(qn, sn, mode="nvfp4", global_scale=gsc))
    gg = mx.grad(lambda g: mx.sum(mx.dequantize(qn, sn, mode="nvfp4", global_scale=g) ** 2))(gsc)
    np.testing.assert_allclose(gg.item(), 2 * (d**2).sum() / 3.0, rtol=1e-5)
    # fp scales are not differentiable in a product; fp8 conversions not at all.
    qm, sm = mx.quantize(w, mode="mxfp4")
    x = mx.ones((2, 64))
    with pytest.raises(ValueError, match="scales in mxfp4"):
        mx.grad(lambda s: mx.sum(mx.quantized_matmul(x, qm, s, mode="mxfp4")))(sm)
    with pytest.raises(NotDifferentiable):
        mx.grad(lambda x: mx.sum(mx.to_fp8(x).astype(mx.float32)))(w)


def test_gather_qmm_gradients():
    rng, q, s, b, codes = _affine_setup(2, wb=(3,))
    wd = npf(mx.dequantize(q, s, b, 32, 4))
    x = rng.standard_normal((2, 4, 64)).astype(np.float32)
    li, ri = np.array([0, 1, 1, 0]), np.array([2, 0, 2, 1])
    c = rng.standard_normal((4, 4, 24)).astype(np.float32)

    def f(x, s, b):
        y = mx.gather_qmm(x, q, s, b, mx.array(li), mx.array(ri), group_size=32, bits=4)
        return mx.sum(y * mx.array(c))

    gx, gs, gb = mx.grad(f, argnums=(0, 1, 2))(mx.array(x), s, b)
    ex = np.zeros_like(x, dtype=np.float64)
    gw = np.zeros_like(wd)
    for i, (a, j) in enumerate(zip(li, ri)):
        ex[a] += c[i] @ wd[j]
        gw[j] += c[i].T @ x[a]
    np.testing.assert_allclose(npf(gx), ex, rtol=1e-4, atol=1e-4)
    es, eb = _group_sums(gw, codes)
    np.testing.assert_allclose(npf(gs), es, rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(npf(gb), eb, rtol=1e-4, atol=1e-3)
    with pytest.raises(RuntimeError, match="quantized weights"):
        mx.grad(
            lambda q: mx.sum(
                mx.gather_qmm(mx.array(x), q, s, b, mx.array(li), mx.array(ri), True, 32)
            )
        )(q)


def test_vmap():
    rng, q, s, b, _ = _affine_setup(3, wb=(2,))
    w = mx.array(rng.standard_normal((4, 3, 64)).astype(np.float32))
    outs = mx.vmap(lambda w: mx.quantize(w, 32, 4), in_axes=1)(w)
    for i in range(3):
        for o, e in zip(outs, mx.quantize(w[:, i], 32, 4)):
            np.testing.assert_array_equal(np.array(o[i]), np.array(e))
    d = mx.vmap(lambda q, s, b: mx.dequantize(q, s, b, 32, 4))(q, s, b)
    np.testing.assert_array_equal(np.array(d), np.array(mx.dequantize(q, s, b, 32, 4)))
    x = mx.array(rng.standard_normal((5, 3, 64)).astype(np.float32))
    y = mx.vmap(lambda x: mx.quantized_matmul(x, q[0], s[0], b[0], group_size=32))(x)
    np.testing.assert_allclose(npf(y), npf(mx.quantized_matmul(x, q[0], s[0], b[0], group_size=32)),
                               rtol=1e-5, atol=1e-5)  # fmt: skip
    # A batched weight, mapped together with x.
    y = mx.vmap(lambda x, q, s, b: mx.quantized_matmul(x, q, s, b, group_size=32))(x[:2], q, s, b)
    for i in range(2):
        e = mx.quantized_matmul(x[i], q[i], s[i], b[i], group_size=32)
        np.testing.assert_allclose(npf(y[i]), npf(e), rtol=1e-5, atol=1e-5)
    v = mx.array(rng.standard_normal((3, 4)).astype(np.float32) * 50)
    np.testing.assert_array_equal(
        np.array(mx.vmap(mx.to_fp8, in_axes=1)(v)), np.array(mx.to_fp8(v)).T
    )


# -- GPU against CPU ----------------------------------------------------------------------------


@pytest.mark.gpu
@pytest.mark.parametrize("dname", ["float32", "float16"])
def test_gpu_matches_cpu(dname):
    w = mx.array(crafted(8, 256, 7)).astype(FLOATS[dname])
    for mode, gs, bits in [("affine", 32, 3), ("affine", 64, 4), ("affine", 128, 8),
                           ("mxfp4", 32, 4), ("mxfp8", 32, 8), ("nvfp4", 16, 4)]:  # fmt: skip
        kw = {"global_scale": mx.array(np.float32(20.0))} if mode == "nvfp4" else {}
        cpu = mx.quantize(w, gs, bits, mode, stream=mx.cpu, **kw)
        gpu = mx.quantize(w, gs, bits, mode, stream=mx.gpu, **kw)
        for c, g in zip(cpu, gpu):
            np.testing.assert_array_equal(np.array(c), np.array(g))
        b = cpu[2] if mode == "affine" else None
        dc = mx.dequantize(cpu[0], cpu[1], b, gs, bits, mode, stream=mx.cpu, **kw)
        dg = mx.dequantize(cpu[0], cpu[1], b, gs, bits, mode, stream=mx.gpu, **kw)
        np.testing.assert_array_equal(np.array(dc), np.array(dg))
        x = mx.array(crafted(4, 256, 8)).astype(FLOATS[dname])
        yc = mx.quantized_matmul(x, cpu[0], cpu[1], b, True, gs, bits, mode, stream=mx.cpu)
        yg = mx.quantized_matmul(x, cpu[0], cpu[1], b, True, gs, bits, mode, stream=mx.gpu)
        np.testing.assert_allclose(npf(yg), npf(yc), rtol=1e-3, atol=1e-2)
    v = mx.array(np.linspace(-500, 500, 4001, dtype=np.float32)).astype(FLOATS[dname])
    f8 = mx.to_fp8(v, stream=mx.gpu)
    np.testing.assert_array_equal(np.array(f8), np.array(mx.to_fp8(v, stream=mx.cpu)))
    np.testing.assert_array_equal(
        np.array(mx.from_fp8(f8, mx.float32, stream=mx.gpu)),
        np.array(mx.from_fp8(f8, mx.float32, stream=mx.cpu)),
    )


@pytest.mark.gpu
def test_gpu_gather_qmm_matches_cpu():
    rng, q, s, b, _ = _affine_setup(4, wb=(3,))
    x = mx.array(rng.standard_normal((2, 4, 64)).astype(np.float32))
    li, ri = mx.array([0, 1, 1]), mx.array([2, 0, 2])
    yc = mx.gather_qmm(x, q, s, b, li, ri, group_size=32, stream=mx.cpu)
    yg = mx.gather_qmm(x, q, s, b, li, ri, group_size=32, stream=mx.gpu)
    np.testing.assert_allclose(npf(yg), npf(yc), rtol=1e-4, atol=1e-4)
