"""mx.fast: rms_norm, layer_norm, rope, scaled_dot_product_attention, cross_entropy,
gated_delta_update and the custom-kernel entry points.

Values are checked against NumPy references written here (float64, with MLX's rounding
steps for half precision where they matter); dtypes, errors and gradients against what
MLX 0.32.4 gave on the CPU (recorded below).
"""

from __future__ import annotations

import ml_dtypes
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import umx as mx
from tests.helpers import check

F = mx.fast
HALF = {"float16": np.float16, "bfloat16": ml_dtypes.bfloat16}
NP = {**HALF, "float32": np.float32, "float64": np.float64}
TOL = {"float16": 4e-3, "bfloat16": 3e-2, "float32": 1e-5, "float64": 1e-10}
FLOATS = ["float16", "bfloat16", "float32", "float64"]
seeds = st.integers(0, 2**31 - 1)


def _m(x: np.ndarray, d: str | None = None) -> mx.array:
    d = d or x.dtype.name
    return mx.array(x.astype(NP[d]), dtype=getattr(mx, d))


def _f64(a: mx.array) -> np.ndarray:
    return np.array(a.astype(mx.float32) if a.dtype == mx.bfloat16 else a).astype(np.float64)


def _close(got: mx.array, ref, d: str, k: float = 1.0) -> None:
    t = TOL[d] * k
    np.testing.assert_allclose(_f64(got), np.asarray(ref, np.float64), rtol=t, atol=t)


# -- NumPy references -------------------------------------------------------------------


def rms_ref(x, w, eps):
    y = x / np.sqrt(np.mean(x * x, -1, keepdims=True) + eps)
    return y if w is None else y * w


def ln_ref(x, w, b, eps):
    xc = x - x.mean(-1, keepdims=True)
    y = xc / np.sqrt((xc * xc).mean(-1, keepdims=True) + eps)
    return y * (1 if w is None else w) + (0 if b is None else b)


def rope_ref(x, dims, trad, base, scale, offset, freqs=None):
    half = dims // 2
    inv = 1 / freqs if freqs is not None else base ** (-np.arange(0, dims, 2) / dims)
    off = np.asarray(offset, np.float64)
    if off.ndim == 1 and off.size > 1:  # one offset per entry of axis 0
        off = off.reshape((-1,) + (1,) * (x.ndim - 2))
    pos = (np.arange(x.shape[-2]) + off.reshape(off.shape or ())) * scale
    th = pos[..., None] * inv
    c, s = np.cos(th), np.sin(th)
    y = x.copy()
    i1, i2 = (slice(0, dims, 2), slice(1, dims, 2)) if trad else (slice(0, half), slice(half, dims))
    x1, x2 = x[..., i1], x[..., i2]
    y[..., i1], y[..., i2] = x1 * c - x2 * s, x1 * s + x2 * c
    return y


def softmax_ref(s):
    e = np.exp(s - s.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def sdpa_ref(q, k, v, scale, mask=None, sinks=None, lowest=-np.inf):
    """Attention with k, v tiled over the query heads; a boolean mask writes ``lowest``."""
    rep = q.shape[1] // k.shape[1]
    k, v = np.repeat(k, rep, 1), np.repeat(v, rep, 1)
    s = scale * q @ np.swapaxes(k, -1, -2)
    if isinstance(mask, str):
        tq, tk = s.shape[-2:]
        mask = np.arange(tq)[:, None] + (tk - tq) >= np.arange(tk)[None]
    if mask is not None:
        s = np.where(mask, s, lowest) if mask.dtype == bool else s + mask
    if sinks is None:
        return softmax_ref(s) @ v
    col = np.broadcast_to(sinks[None, :, None, None], s.shape[:-1] + (1,))
    return softmax_ref(np.concatenate([col, s], -1))[..., 1:] @ v


def gated_ref(q, k, v, g, b, state=None, mask=None):
    bsz, t, hk, dk = q.shape
    hv, dv = v.shape[2:]
    q, k = np.repeat(q, hv // hk, 2), np.repeat(k, hv // hk, 2)
    s = np.zeros((bsz, hv, dv, dk)) if state is None else state.astype(np.float64)
    ys = []
    for i in range(t):
        gi = g[:, i]
        new = s * (gi[..., None, None] if gi.ndim == 2 else gi[..., None, :])
        kt = k[:, i][:, :, None, :]
        delta = (v[:, i] - (new * kt).sum(-1)) * b[:, i][..., None]
        new = new + kt * delta[..., None]
        y = (new * q[:, i][:, :, None, :]).sum(-1)
        if mask is not None:
            m = mask[:, i].astype(bool)
            new = np.where(m[:, None, None, None], new, s)
            y = np.where(m[:, None, None], y, 0)
        s = new
        ys.append(y)
    return np.stack(ys, 1), s


# -- normalisations ---------------------------------------------------------------------


@given(
    st.lists(st.integers(1, 5), min_size=1, max_size=3),
    st.sampled_from(FLOATS),
    st.booleans(),
    st.booleans(),
    seeds,
)
def test_norms_match_numpy(shape, d, use_w, use_b, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape) * 3
    w = rng.standard_normal(shape[-1]) if use_w else None
    b = rng.standard_normal(shape[-1]) if use_b else None
    xr = _f64(_m(x, d))  # the values after rounding to d
    wr = None if w is None else _f64(_m(w, d))
    br = None if b is None else _f64(_m(b, d))
    mw, mb = (None if a is None else _m(a, d) for a in (w, b))
    out = F.rms_norm(_m(x, d), mw, 1e-3)
    assert out.dtype == getattr(mx, d) and out.shape == tuple(shape)
    _close(out, rms_ref(xr, wr, 1e-3), d, 4)
    out = F.layer_norm(_m(x, d), mw, mb, 1e-3)
    assert out.dtype == getattr(mx, d)
    _close(out, ln_ref(xr, wr, br, 1e-3), d, 4)


@pytest.mark.parametrize("d", ["float16", "bfloat16"])
def test_half_norms_round_once_then_apply_the_weight(d):
    # MLX: statistics in float32, the normalised value rounded to the dtype, then the
    # weight multiplies (and the bias adds) in the dtype: bit for bit.
    rng = np.random.default_rng(0)
    h = HALF[d]
    x = (rng.standard_normal((16, 37)) * 3).astype(h)
    w, b = rng.standard_normal(37).astype(h), rng.standard_normal(37).astype(h)
    x32 = x.astype(np.float32)
    y = (x32 / np.sqrt(np.mean(x32 * x32, -1, keepdims=True) + np.float32(1e-3))).astype(h)
    got = np.array(F.rms_norm(_m(x, d), _m(w, d), 1e-3))
    np.testing.assert_array_equal(got.view(np.uint16), (y * w).view(np.uint16))
    xc = x32 - x32.mean(-1, keepdims=True)
    y = (xc / np.sqrt((xc * xc).mean(-1, keepdims=True) + np.float32(1e-3))).astype(h)
    got = np.array(F.layer_norm(_m(x, d), _m(w, d), _m(b, d), 1e-3))
    np.testing.assert_allclose(got.astype(np.float32), (y * w + b).astype(np.float32), atol=0.05)


def test_layer_norm_variance_is_two_pass():
    x = np.random.default_rng(1).standard_normal((4, 16)).astype(np.float32) + 1000
    check(
        F.layer_norm(mx.array(x), None, None, 1e-5),
        ln_ref(x.astype(np.float64), None, None, 1e-5),
        atol=1e-3,
    )


# MLX 0.32.4's output dtypes: (x, weight, bias) -> output; None where MLX raises ValueError.
NORM_DTYPES = [
    ("float16", None, "float32", "float16"),  # a bias alone is cast to x's dtype
    ("float32", None, "float64", "float32"),
    ("float16", "float16", "float32", "float32"),
    ("bfloat16", "float16", None, "float32"),
    ("float16", "float64", None, "float64"),
    ("int32", "float16", None, "float16"),
    ("int32", "int32", "bfloat16", "bfloat16"),
    ("bool_", "float32", None, "float32"),
    ("int32", None, "float16", None),
    ("int32", "int32", None, None),
    ("bool_", None, None, None),
]


@pytest.mark.parametrize("dx,dw,db,want", NORM_DTYPES)
def test_layer_norm_dtypes_as_mlx(dx, dw, db, want):
    x = mx.ones((2, 3), dtype=getattr(mx, dx))
    w = None if dw is None else mx.ones(3, dtype=getattr(mx, dw))
    b = None if db is None else mx.ones(3, dtype=getattr(mx, db))
    if want is None:
        with pytest.raises(ValueError, match="layer_norm"):
            F.layer_norm(x, w, b, 1e-5)
        return
    assert F.layer_norm(x, w, b, 1e-5).dtype == getattr(mx, want)


def test_rms_norm_dtypes_as_mlx():
    f16, bf = mx.float16, mx.bfloat16
    assert F.rms_norm(mx.ones((2, 3), dtype=bf), mx.ones(3, dtype=f16), 1e-5).dtype == mx.float32
    assert F.rms_norm(mx.ones((2, 3), dtype=mx.int32), mx.ones(3, dtype=f16), 1e-5).dtype == f16
    assert F.rms_norm(mx.ones((2, 3)), mx.ones(3, dtype=mx.int32), 1e-5).dtype == mx.float32
    for d in (mx.int32, mx.bool_, mx.complex64):
        with pytest.raises(ValueError, match="rms_norm"):
            F.rms_norm(mx.ones((2, 3), dtype=d), None, 1e-5)


def test_norm_errors_and_edges():
    x = mx.ones((2, 3))
    for bad in [
        lambda: F.rms_norm(mx.array(1.0), None, 1e-5),
        lambda: F.rms_norm(x, mx.ones((1, 3)), 1e-5),
        lambda: F.rms_norm(x, mx.ones(4), 1e-5),
        lambda: F.layer_norm(mx.array(1.0), None, None, 1e-5),
        lambda: F.layer_norm(x, mx.ones(2), None, 1e-5),
        lambda: F.layer_norm(x, None, mx.ones((2, 3)), 1e-5),
    ]:
        with pytest.raises(ValueError):
            bad()
    for bad in [
        lambda: F.rms_norm(np.ones((2, 3), np.float32), None, 1e-5),  # arrays only, as MLX
        lambda: F.rms_norm(x, None),
        lambda: F.rms_norm(x, None, None),
        lambda: F.layer_norm(x, np.ones(3), None, 1e-5),
    ]:
        with pytest.raises(TypeError):
            bad()
    assert F.rms_norm(mx.ones((2, 0)), None, 1e-5).shape == (2, 0)
    assert F.layer_norm(mx.ones((0, 3)), None, None, 1e-5).shape == (0, 3)
    check(F.rms_norm(mx.ones((4,)) * 2, None, mx.array(0.0)), np.ones(4))  # 0-d eps is taken


# -- rope -------------------------------------------------------------------------------


@given(
    st.sampled_from([(2, 3, 5), (1, 2, 4, 3), (2, 1, 2, 3, 2)]),
    st.integers(1, 4),
    st.integers(0, 4),
    st.booleans(),
    st.sampled_from(["int", "neg", "0d", "batch", "freqs"]),
    st.sampled_from(["float16", "float32", "float64"]),
    seeds,
)
def test_rope_matches_numpy(lead, half, extra, trad, how, d, seed):
    rng = np.random.default_rng(seed)
    dims = 2 * half
    x = rng.standard_normal(lead + (dims + extra,))
    base, freqs = 500.0, None
    offset = {"int": 3, "neg": -2, "0d": np.array(4), "batch": rng.integers(0, 9, lead[0])}.get(
        how, 1
    )
    if how == "freqs":
        base, freqs = None, rng.uniform(1, 30, half).astype(np.float32).astype(np.float64)
    off = mx.array(offset) if isinstance(offset, np.ndarray) else offset
    mf = None if freqs is None else mx.array(freqs.astype(np.float32))
    out = F.rope(_m(x, d), dims, traditional=trad, base=base, scale=0.7, offset=off, freqs=mf)
    assert out.dtype == getattr(mx, d) and out.shape == x.shape
    ref = rope_ref(_f64(_m(x, d)), dims, trad, base, 0.7, offset, freqs)
    _close(out, ref, d, 3)  # float64 inputs are rotated in float64 (MLX: float32 angles)


def test_rope_half_rounds_sines_and_cosines_to_the_dtype():
    # MLX computes cos/sin in float32 and rotates in float16: bit for bit here.
    x = np.random.default_rng(1).standard_normal((2, 3, 5, 8)).astype(np.float16)
    th = ((np.arange(5, dtype=np.float32) + 5) * np.float32(1.0))[:, None] * (
        10000.0 ** (-np.arange(0, 8, 2) / 8)
    ).astype(np.float32)
    c, s = np.cos(th).astype(np.float16), np.sin(th).astype(np.float16)
    x1, x2 = x[..., :4], x[..., 4:]
    want = np.concatenate([x1 * c - x2 * s, x1 * s + x2 * c], -1)
    got = np.array(F.rope(mx.array(x), 8, traditional=False, base=10000.0, scale=1.0, offset=5))
    np.testing.assert_allclose(got.astype(np.float32), want.astype(np.float32), atol=2e-3)


def test_rope_errors_as_mlx():
    x = mx.ones((2, 3, 4))
    kw = dict(traditional=False, base=10.0, scale=1.0, offset=0)
    value_errors = [
        lambda: F.rope(mx.ones((3, 4)), 4, **kw),
        lambda: F.rope(x.astype(mx.int32), 4, **kw),
        lambda: F.rope(x, 3, **kw),
        lambda: F.rope(x, 0, **kw),
        lambda: F.rope(x, 6, **kw),
        lambda: F.rope(x, True, **kw),  # dims=True is 1: odd, as MLX says
        lambda: F.rope(x, 4, traditional=False, base=None, scale=1.0, offset=0),
        lambda: F.rope(x, 4, traditional=False, base=1.0, scale=1.0, offset=0, freqs=mx.ones(2)),
        lambda: F.rope(x, 4, traditional=False, base=None, scale=1.0, offset=0, freqs=mx.ones(3)),
        lambda: F.rope(x, 4, traditional=False, base=1.0, scale=1.0, offset=mx.array(1.5)),
        lambda: F.rope(x, 4, traditional=False, base=1.0, scale=1.0, offset=1.5),
        lambda: F.rope(x, 4, traditional=False, base=1.0, scale=1.0, offset=True),
        lambda: F.rope(x, 4, traditional=False, base=1.0, scale=1.0, offset=mx.array([1, 2, 3])),
        lambda: F.rope(x, 4, traditional=False, base=1.0, scale=1.0, offset=mx.array([[1], [2]])),
        lambda: F.rope(x, 4, traditional=False, base=1.0, scale=1.0, offset=[1, 2]),
    ]
    for bad in value_errors:
        with pytest.raises(ValueError, match="rope"):
            bad()
    type_errors = [
        lambda: F.rope(x, 4, traditional=False, base=1.0, scale=1.0),
        lambda: F.rope(x, 4.0, **kw),
        lambda: F.rope(x, 4, traditional=1, base=1.0, scale=1.0, offset=0),
        lambda: F.rope(x, 4, traditional=False, base="a", scale=1.0, offset=0),
        lambda: F.rope(x, 4, traditional=False, base=1.0, scale=None, offset=0),
        lambda: F.rope(x, 4, traditional=False, base=1.0, scale=1.0, offset=None),
    ]
    for bad in type_errors:
        with pytest.raises(TypeError):
            bad()
    # accepted as MLX accepts them
    off = np.array([1, 2])
    assert F.rope(x, 4, traditional=True, base=2, scale=1, offset=off).shape == (2, 3, 4)
    assert F.rope(x, np.int64(2), **kw).dtype == mx.float32


# -- attention --------------------------------------------------------------------------

ATTN = [(2, 4, 2, 5, 7, 8, 6), (1, 2, 2, 3, 3, 4, 4), (2, 6, 2, 9, 4, 8, 3), (1, 3, 1, 1, 6, 5, 5)]


@given(
    st.sampled_from(ATTN),
    st.sampled_from([None, "causal", "bool", "add"]),
    st.sampled_from(["qk", "hqk", "b1qk", "bh1k", "k", ""]),
    st.booleans(),
    st.sampled_from(["float16", "float32"]),
    seeds,
)
def test_attention_matches_numpy(dims, mask_kind, mask_axes, use_sinks, d, seed):
    b, nq, nkv, tq, tk, hd, dv = dims
    rng = np.random.default_rng(seed)
    q, k = rng.standard_normal((b, nq, tq, hd)), rng.standard_normal((b, nkv, tk, hd))
    v = rng.standard_normal((b, nkv, tk, dv))
    size = {"b": b, "h": nq, "q": tq, "k": tk, "1": 1}
    mshape = tuple(size[c] for c in mask_axes)  # right-aligned against [B, N_q, T_q, T_kv]
    mask = mmask = mask_kind
    if mask_kind == "bool":
        mask = rng.random(mshape) > 0.3
        mmask = mx.array(mask)
    elif mask_kind == "add":
        mask = rng.standard_normal(mshape)
        mmask = _m(mask, d)
        mask = _f64(mmask)
    sinks = rng.standard_normal(nq) if use_sinks else None
    ms = None if sinks is None else _m(sinks, d)
    out = F.scaled_dot_product_attention(
        _m(q, d), _m(k, d), _m(v, d), scale=0.4, mask=mmask, sinks=ms
    )
    assert out.dtype == getattr(mx, d) and out.shape == (b, nq, tq, dv)
    r = [_f64(_m(a, d)) for a in (q, k, v)]
    low = float(mx.finfo(getattr(mx, d)).min)
    ref = sdpa_ref(*r, 0.4, mask, None if ms is None else _f64(ms), lowest=low)
    _close(out, ref, d, 5)


def test_attention_masking_edge_cases_as_mlx():
    rng = np.random.default_rng(0)
    q = rng.standard_normal((1, 2, 9, 4)).astype(np.float32)
    k = rng.standard_normal((1, 1, 7, 4)).astype(np.float32)
    v = rng.standard_normal((1, 1, 7, 3)).astype(np.float32)
    mq, mk, mv = mx.array(q), mx.array(k), mx.array(v)
    sdpa = F.scaled_dot_product_attention
    # causal with T_q > T_kv: lower-right aligned; the first two queries see no key and
    # (hidden scores being the lowest finite value) average all of v, as MLX gives.
    out = np.array(sdpa(mq, mk, mv, scale=0.5, mask="causal"))
    np.testing.assert_allclose(
        out[0, :, :2], np.broadcast_to(v[0, 0].mean(0), (2, 2, 3)), atol=1e-6
    )
    np.testing.assert_allclose(out[0, :, 2], np.broadcast_to(v[0, 0, 0], (2, 3)), atol=1e-6)
    # an additive -inf row is NaN; a fully hidden row with a sink gives zeros
    add = np.zeros((9, 7), np.float32)
    add[1] = -np.inf
    assert np.isnan(np.array(sdpa(mq, mk, mv, scale=0.5, mask=mx.array(add)))[0, :, 1]).all()
    hide = np.ones((9, 7), bool)
    hide[1] = False
    out = np.array(sdpa(mq, mk, mv, scale=0.5, mask=mx.array(hide), sinks=mx.array([0.0, 1.0])))
    np.testing.assert_array_equal(out[0, :, 1], 0)
    # no keys: zeros; no queries: an empty result
    check(sdpa(mq, mk[:, :, :0], mv[:, :, :0], scale=1.0), np.zeros((1, 2, 9, 3)))
    assert sdpa(mq[:, :, :0], mk, mv, scale=1.0, mask="causal").shape == (1, 2, 0, 3)


@pytest.mark.parametrize("d", ["float16", "bfloat16"])
def test_attention_half_follows_mlx_rounding(d):
    # MLX's CPU gave bit-identical results to this recipe: q scaled in the dtype, scores
    # in the dtype, softmax in float32 rounded to the dtype, then p @ v.
    h = HALF[d]
    rng = np.random.default_rng(0)
    q, k = rng.standard_normal((2, 4, 5, 8)).astype(h), rng.standard_normal((2, 2, 7, 8)).astype(h)
    v = rng.standard_normal((2, 2, 7, 6)).astype(h)
    m = rng.random((5, 7)) > 0.3
    f32 = np.float32
    kk, vv = np.repeat(k, 2, 1).astype(f32), np.repeat(v, 2, 1).astype(f32)
    s = ((q * h(0.3)).astype(f32) @ np.swapaxes(kk, -1, -2)).astype(h)
    s = np.where(m, s, h(ml_dtypes.finfo(h).min)).astype(f32)
    want = (softmax_ref(s).astype(h).astype(f32) @ vv).astype(h)
    got = F.scaled_dot_product_attention(_m(q), _m(k), _m(v), scale=0.3, mask=mx.array(m))
    assert got.dtype == getattr(mx, d)
    np.testing.assert_allclose(_f64(got), want.astype(np.float64), atol=TOL[d], rtol=TOL[d])


def test_attention_dtypes_as_mlx():
    def out(dq, dk, dv, **kw):
        return F.scaled_dot_product_attention(
            mx.ones((1, 2, 3, 4), dtype=dq), mx.ones((1, 1, 5, 4), dtype=dk),
            mx.ones((1, 1, 5, 2), dtype=dv), scale=1.0, **kw,
        ).dtype  # fmt: skip

    f16, bf, f32 = mx.float16, mx.bfloat16, mx.float32
    assert out(f16, f32, f32) == f32
    assert out(f16, bf, bf) == f32
    assert out(mx.float64, mx.float64, mx.float64) == mx.float64
    assert out(f32, f32, f32, mask=mx.zeros((3, 5), dtype=mx.int32)) == f32
    assert out(f32, f32, f32, sinks=mx.zeros(2, dtype=f16)) == f32
    with pytest.raises(ValueError, match="promote"):
        out(f16, f16, f16, mask=mx.zeros((3, 5)))
    with pytest.raises(ValueError, match="promote"):
        out(f32, f32, f32, mask=mx.zeros((3, 5), dtype=mx.float64))
    with pytest.raises(ValueError, match="promote"):
        out(f16, f16, f16, sinks=mx.zeros(2))
    with pytest.raises(ValueError, match="unsupported"):
        out(mx.int32, mx.int32, mx.int32)


def test_attention_errors_as_mlx():
    q, k, v = mx.ones((2, 4, 5, 8)), mx.ones((2, 2, 7, 8)), mx.ones((2, 2, 7, 6))
    sdpa = F.scaled_dot_product_attention
    value_errors = [
        lambda: sdpa(q, mx.ones((2, 3, 7, 8)), mx.ones((2, 3, 7, 6)), scale=1.0),
        lambda: sdpa(q, k, mx.ones((2, 4, 7, 6)), scale=1.0),
        lambda: sdpa(q, k, mx.ones((2, 2, 6, 6)), scale=1.0),
        lambda: sdpa(q, mx.ones((2, 2, 7, 4)), v, scale=1.0),
        lambda: sdpa(q[0], k[0], v[0], scale=1.0),
        lambda: sdpa(q, k[:1], v[:1], scale=1.0),
        lambda: sdpa(q, k, v, scale=1.0, mask="foo"),
        lambda: sdpa(q, k, v, scale=1.0, mask=""),
        lambda: sdpa(q, k, v, scale=1.0, mask=mx.ones((1, 1, 1, 5, 7), dtype=mx.bool_)),
        lambda: sdpa(q, k, v, scale=1.0, mask=mx.ones((5, 6), dtype=mx.bool_)),
        lambda: sdpa(q, k, v, scale=1.0, mask=mx.ones((2, 5, 7), dtype=mx.bool_)),  # kv heads
        lambda: sdpa(q, k, v, scale=1.0, sinks=mx.zeros(2)),
        lambda: sdpa(q, k, v, scale=1.0, sinks=mx.zeros((1, 4))),
        lambda: sdpa(q, k, v, scale=1.0, force_fused=True),
    ]
    for bad in value_errors:
        with pytest.raises(ValueError):
            bad()
    for bad in [
        lambda: sdpa(q, k, v),
        lambda: sdpa(q, k, v, 1.0),
        lambda: sdpa(np.ones((2, 4, 5, 8), np.float32), k, v, scale=1.0),
        lambda: sdpa(q, k, v, scale=1.0, mask=[[True]]),
        lambda: sdpa(q, k, v, scale=None),
    ]:
        with pytest.raises(TypeError):
            bad()
    # broadcasting masks MLX accepts: per query head, 1-d, 0-d; scale as int / 0-d array
    for m in (mx.ones((4, 5, 7), dtype=mx.bool_), mx.ones(7, dtype=mx.bool_), mx.array(True)):
        assert sdpa(q, k, v, scale=mx.array(1.0), mask=m).shape == (2, 4, 5, 6)
    assert sdpa(q, k, v, scale=1).shape == (2, 4, 5, 6)


# -- cross entropy ----------------------------------------------------------------------


@given(
    st.lists(st.integers(1, 4), min_size=0, max_size=2),
    st.integers(1, 9),
    st.sampled_from(FLOATS),
    st.sampled_from(["int32", "uint8", "int64"]),
    seeds,
)
def test_cross_entropy_matches_numpy(lead, c, d, td, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(tuple(lead) + (c,)) * 3
    t = rng.integers(0, c, tuple(lead))
    out = F.cross_entropy(_m(x, d), mx.array(t, dtype=getattr(mx, td)))
    assert out.dtype == mx.float32 and out.shape == tuple(lead)
    xr = _f64(_m(x, d))
    mxr = xr.max(-1, keepdims=True)
    lse = np.log(np.exp(xr - mxr).sum(-1)) + mxr[..., 0]
    want = lse - np.take_along_axis(xr, t[..., None], -1)[..., 0]
    np.testing.assert_allclose(np.array(out), want, rtol=1e-5, atol=1e-5)  # float32 math


def test_cross_entropy_errors_as_mlx():
    lg, t = mx.ones((3, 5)), mx.array([0, 4, 2])
    for bad in [
        lambda: F.cross_entropy(lg.astype(mx.int32), t),
        lambda: F.cross_entropy(lg, t.astype(mx.float32)),
        lambda: F.cross_entropy(lg, t.astype(mx.bool_)),
        lambda: F.cross_entropy(lg, mx.array([0, 1])),
        lambda: F.cross_entropy(lg, mx.array([[0, 1, 2]])),
        lambda: F.cross_entropy(mx.array(1.0), mx.array(0)),
        lambda: F.cross_entropy(mx.ones((0, 5)), mx.zeros((0,), dtype=mx.int32)),
        lambda: F.cross_entropy(mx.ones((3, 0)), t),
    ]:
        with pytest.raises(ValueError, match="cross_entropy"):
            bad()
    with pytest.raises(TypeError):
        F.cross_entropy(lg, [0, 1, 2])


# -- gated delta ------------------------------------------------------------------------


@given(
    st.integers(1, 2), st.integers(1, 4), st.sampled_from([(1, 1), (2, 4), (1, 3)]),
    st.integers(1, 3), st.integers(1, 3), st.booleans(), st.booleans(), st.booleans(),
    st.sampled_from(["float16", "float32"]), seeds,
)  # fmt: skip
def test_gated_delta_matches_numpy(b, t, heads, dk, dv, vec_g, use_state, use_mask, d, seed):
    hk, hv = heads
    rng = np.random.default_rng(seed)
    q, k = rng.standard_normal((b, t, hk, dk)) * 0.5, rng.standard_normal((b, t, hk, dk)) * 0.5
    v = rng.standard_normal((b, t, hv, dv))
    g = rng.uniform(0.5, 1, (b, t, hv, dk) if vec_g else (b, t, hv))
    beta = rng.uniform(0, 1, (b, t, hv))
    s0 = rng.standard_normal((b, hv, dv, dk)) if use_state else None
    mask = rng.random((b, t)) > 0.3 if use_mask else None
    args = [_m(a, d) for a in (q, k, v, g, beta)]
    y, s = F.gated_delta_update(
        *args, None if s0 is None else mx.array(s0.astype(np.float32)),
        None if mask is None else mx.array(mask),
    )  # fmt: skip
    assert y.dtype == getattr(mx, d) and s.dtype == mx.float32
    assert y.shape == (b, t, hv, dv) and s.shape == (b, hv, dv, dk)
    ry, rs = gated_ref(
        *[_f64(a) for a in args], None if s0 is None else s0.astype(np.float32), mask
    )
    _close(y, ry, d, 20)
    np.testing.assert_allclose(np.array(s), rs, rtol=1e-4, atol=1e-4)


def test_gated_delta_dtypes_and_errors_as_mlx():
    b, t, hk, dk, hv, dv = 2, 3, 2, 4, 4, 5

    def run(q=(b, t, hk, dk), k=(b, t, hk, dk), v=(b, t, hv, dv), g=(b, t, hv), be=(b, t, hv),
            s=None, m=None, dq=mx.float32, dk_=mx.float32, dv_=mx.float32):  # fmt: skip
        return F.gated_delta_update(
            mx.ones(q, dtype=dq), mx.ones(k, dtype=dk_), mx.ones(v, dtype=dv_), mx.ones(g),
            mx.ones(be), None if s is None else mx.ones(s), None if m is None else mx.ones(m),
        )  # fmt: skip

    f16, bf, f64 = mx.float16, mx.bfloat16, mx.float64
    dts = lambda r: (r[0].dtype, r[1].dtype)  # noqa: E731
    assert dts(run(dq=f16, dk_=f16, dv_=f16)) == (f16, mx.float32)
    assert dts(run(dq=bf, dk_=bf, dv_=f16)) == (bf, mx.float32)  # y follows q and k
    assert dts(run(dq=f16)) == (mx.float32, mx.float32)
    assert dts(run(dq=f64)) == (f64, f64)
    assert dts(run(dq=mx.int32, dk_=mx.int32)) == (mx.float32, mx.float32)
    assert run(k=(1, t, hk, dk))[0].shape == (b, t, hv, dv)  # a batch of one broadcasts
    assert run(m=(1, t))[1].shape == (b, hv, dv, dk)
    for bad in [
        dict(s=(b, hv, dk, dv)), dict(s=(b, hk, dv, dk)), dict(m=(b, t, hv)),
        dict(g=(b, t, hk)), dict(be=(b, t, hk)), dict(v=(b, t, 3, dv), g=(b, t, 3), be=(b, t, 3)),
        dict(k=(b, t, hk, 3)), dict(v=(b, 2, hv, dv)),
        dict(q=(b, 0, hk, dk), k=(b, 0, hk, dk), v=(b, 0, hv, dv), g=(b, 0, hv), be=(b, 0, hv)),
    ]:  # fmt: skip
        with pytest.raises(ValueError, match="gated_delta_update"):
            run(**bad)
    for bad in [dict(q=(t, hk, dk), k=(t, hk, dk), v=(t, hv, dv), g=(t, hv), be=(t, hv)),
                dict(m=(b,))]:  # fmt: skip
        with pytest.raises(IndexError):  # what MLX raises for these ranks
            run(**bad)


# -- gradients against MLX's --------------------------------------------------------------


def _rows(n, shape):
    return mx.arange(n).reshape(shape)


def test_gradients_match_mlx():
    x = mx.array(np.linspace(-1, 1.3, 12).reshape(3, 4).astype(np.float32))
    w, b = mx.array([0.5, -1.0, 2.0, 1.5]), mx.array([0.1, 0.2, -0.3, 0.0])
    wt = _rows(12, (3, 4))
    gx, gw = mx.grad(lambda x, w: (F.rms_norm(x, w, 1e-2) * wt).sum(), argnums=(0, 1))(x, w)
    check(gx, [[-2.04881, -2.98664, 4.27286, 5.38436], [18.4911, -20.1916, 22.4238, 2.37192],
               [-2.12371, -16.7668, 9.82279, 4.50613]], rtol=1e-4, atol=1e-4)  # fmt: skip
    check(gw, [3.06628, 7.48069, 14.2935, 23.5048], rtol=1e-4, atol=1e-4)
    g = mx.grad(lambda x, w, b: (F.layer_norm(x, w, b, 1e-2) * wt).sum(), argnums=(0, 1, 2))
    gx, gw, gb = g(x, w, b)
    check(gx, [[1.85147, -8.23201, 5.28229, 1.09825], [9.88709, -31.7732, 20.9576, 0.928562],
               [17.9227, -55.3144, 36.6329, 0.758869]], rtol=1e-4, atol=1e-4)  # fmt: skip
    check(gw, [-14.8022, -6.1676, 7.40112, 25.9039], rtol=1e-4, atol=1e-4)
    check(gb, [12, 15, 18, 21])
    a = mx.array(np.linspace(-1, 1, 24).reshape(1, 2, 3, 4).astype(np.float32))
    kw = dict(traditional=False, base=10.0, scale=1.0, offset=1)
    ga = mx.grad(lambda a: (F.rope(a, 4, **kw) * _rows(24, (1, 2, 3, 4))).sum())(a)
    check(ga[0, 0], [[1.68294, 1.88337, 1.0806, 2.54026], [3.7912, 8.17078, -6.13407, 2.69041],
                     [-6.50874, 14.1839, -11.0289, -0.90355]], rtol=1e-4, atol=1e-4)  # fmt: skip
    kw = dict(traditional=True, base=None, scale=1.0, offset=1)
    gf = mx.grad(lambda f: F.rope(a, 4, freqs=f, **kw).sum())(mx.array([1.0, 3.0]))
    check(gf, [-2.22151, 0.577625], rtol=1e-4, atol=1e-4)


def test_attention_and_loss_gradients_match_mlx():
    q = mx.array(np.linspace(-1, 1, 24).reshape(1, 2, 3, 4).astype(np.float32))
    k = mx.array(np.cos(np.arange(20)).reshape(1, 1, 5, 4).astype(np.float32))
    v = mx.array(np.sin(np.arange(10)).reshape(1, 1, 5, 2).astype(np.float32))
    wt = _rows(12, (1, 2, 3, 2))
    sdpa = F.scaled_dot_product_attention
    f = lambda q, k, v: (sdpa(q, k, v, scale=0.7, mask="causal") * wt).sum()  # noqa: E731
    gq, gk, gv = mx.grad(f, argnums=(0, 1, 2))(q, k, v)
    t = dict(rtol=1e-4, atol=1e-5)
    check(gq[0, 1, 2], [-1.62661, 0.0878494, 1.72154, 1.77245], **t)
    check(gk[0, 0, :2], [[-0.330917, -0.131276, 0.0683639, 0.268004],
                         [0.495832, 0.863552, 1.23127, 1.59899]], **t)  # fmt: skip
    check(gv[0, 0, :, 0], [5.41045, 10.9387, 4.99496, 5.48193, 3.17398], **t)
    gm = mx.grad(lambda m: (sdpa(q, k, v, scale=0.7, mask=m) * wt).sum())(mx.zeros((3, 5)))
    check(gm[0], [0.506788, 0.783203, -2.64245, -0.0516526, 1.40411], **t)
    gs = mx.grad(lambda s: (sdpa(q, k, v, scale=0.7, sinks=s) * wt).sum())(mx.array([0.5, -0.5]))
    check(gs, [-0.143267, -1.46496], **t)
    lg = mx.array(np.linspace(-2, 2, 10).reshape(2, 5).astype(np.float32))
    ce = lambda lg: (F.cross_entropy(lg, mx.array([1, 3])) * mx.array([1.0, 2.0])).sum()  # noqa: E731
    check(F.cross_entropy(lg, mx.array([1, 3])), [2.24357, 1.35468], **t)
    check(mx.grad(ce)(lg)[1], [0.136032, 0.212159, 0.330888, -1.48394, 0.80486], **t)
    gq = mx.array(np.linspace(-1, 1, 4).reshape(1, 2, 1, 2).astype(np.float32))
    gk = mx.array(np.cos(np.arange(4)).reshape(1, 2, 1, 2).astype(np.float32))
    gv = mx.array(np.sin(np.arange(6)).reshape(1, 2, 1, 3).astype(np.float32))
    gg, gb = mx.array([[[0.9], [0.8]]]), mx.array([[[0.5], [0.7]]])

    def loss(*a):
        y, s = F.gated_delta_update(*a)
        return y.sum() + s.sum()

    grads = mx.grad(loss, argnums=(0, 1, 2, 3, 4))(gq, gk, gv, gg, gb)
    check(grads[0].reshape(-1), [0.875384, 0.472972, 0.964981, 1.00802], **t)
    check(grads[1].reshape(-1), [-0.458754, -0.121365, 0.394608, -0.600628], **t)
    check(grads[2][0, :, 0, 0], [-0.299484, -1.77439], **t)
    check(grads[3].reshape(-1), [0.0, 0.635893], **t)
    check(grads[4].reshape(-1), [-1.04866, 2.30312], **t)


def test_vmap_over_fast_ops():
    rng = np.random.default_rng(3)
    x = mx.array(rng.standard_normal((3, 2, 4)).astype(np.float32))
    got = mx.vmap(lambda x: F.rms_norm(x, None, 1e-5))(x)
    check(got, rms_ref(np.array(x).astype(np.float64), None, 1e-5), atol=1e-5)
    q = mx.array(rng.standard_normal((2, 1, 2, 3, 4)).astype(np.float32))
    k = mx.array(rng.standard_normal((1, 1, 5, 4)).astype(np.float32))
    v = mx.array(rng.standard_normal((1, 1, 5, 2)).astype(np.float32))
    got = mx.vmap(lambda q: F.scaled_dot_product_attention(q, k, v, scale=0.5, mask="causal"))(q)
    assert got.shape == (2, 1, 2, 3, 2)
    for i in range(2):
        want = sdpa_ref(np.array(q[i]).astype(np.float64), np.array(k), np.array(v), 0.5, "causal")
        check(got[i], want, atol=1e-5)


# -- custom kernels ---------------------------------------------------------------------


def test_metal_kernel_builds_and_raises_on_call():
    kern = F.metal_kernel(name="k", input_names=["a"], output_names=["o"], source="o[0]=a[0];")
    with pytest.raises(RuntimeError, match="No Metal back-end"):
        kern(inputs=[mx.ones(4)], output_shapes=[(4,)], output_dtypes=[mx.float32],
             grid=(4, 1, 1), threadgroup=(4, 1, 1))  # fmt: skip
    with pytest.raises(TypeError):  # the call is keyword-only, as MLX's
        kern([mx.ones(4)], [(4,)], [mx.float32], (4, 1, 1), (4, 1, 1))
    with pytest.raises(ValueError, match="math_mode"):
        F.metal_kernel("k", ["a"], ["o"], "", compile_options={"math_mode": "bad"})
    with pytest.raises(ValueError, match="Unknown compile option"):
        F.metal_kernel("k", ["a"], ["o"], "", compile_options={"foo": "fast"})
    with pytest.raises(TypeError):
        F.metal_kernel("k", "a", ["o"], "")
    assert callable(F.metal_kernel("k", ["a"], ["o"], "", compile_options={"math_mode": "fast"}))


@pytest.mark.skipif(mx.cuda.is_available(), reason="checks the error where CUDA is absent")
def test_cuda_kernels_raise_without_cuda():
    with pytest.raises(RuntimeError, match="No CUDA back-end"):
        F.cuda_kernel(name="k", input_names=["a"], output_names=["o"], source="")
    with pytest.raises(RuntimeError, match="No CUDA back-end"):
        F.precompiled_cuda_kernel(
            name="k", compiled_source=b"", inputs=[mx.ones(4)], output_shapes=[(4,)],
            output_dtypes=[mx.float32], scalars=[], grid=(1, 1, 1), threadgroup=(1, 1, 1),
        )  # fmt: skip


# -- GPU --------------------------------------------------------------------------------


def _cases():
    rng = np.random.default_rng(5)
    x = mx.array(rng.standard_normal((3, 5, 8)).astype(np.float32))
    h = x.astype(mx.float16)
    w, b = mx.array(rng.standard_normal(8).astype(np.float32)), mx.ones(8)
    q = mx.array(rng.standard_normal((2, 4, 5, 8)).astype(np.float32))
    k = mx.array(rng.standard_normal((2, 2, 7, 8)).astype(np.float32))
    v = mx.array(rng.standard_normal((2, 2, 7, 6)).astype(np.float32))
    m = mx.array(rng.random((5, 7)) > 0.3)
    g4 = [mx.array(rng.uniform(0.5, 1, s).astype(np.float32)) for s in ((2, 3, 4), (2, 3, 4))]
    gq = [mx.array(rng.standard_normal(s).astype(np.float32)) for s in ((2, 3, 2, 3),) * 2]
    gv = mx.array(rng.standard_normal((2, 3, 4, 5)).astype(np.float32))
    sdpa = F.scaled_dot_product_attention
    return {
        "rms_norm": lambda s: F.rms_norm(x, w, 1e-5, stream=s),
        "rms_norm_f16": lambda s: F.rms_norm(h, None, 1e-5, stream=s),
        "layer_norm": lambda s: F.layer_norm(h, w, b, 1e-5, stream=s),
        "rope": lambda s: F.rope(
            x, 6, traditional=True, base=100.0, scale=0.5, offset=mx.array([1, 2, 3]), stream=s
        ),
        "sdpa": lambda s: sdpa(q, k, v, scale=0.3, mask=m, sinks=mx.ones(4), stream=s),
        "sdpa_causal_f16": lambda s: sdpa(
            q.astype(mx.float16),
            k.astype(mx.float16),
            v.astype(mx.float16),
            scale=0.3,
            mask="causal",
            stream=s,
        ),  # fmt: skip
        "cross_entropy": lambda s: F.cross_entropy(x, mx.zeros((3, 5), dtype=mx.int32), stream=s),
        "gated_delta": lambda s: F.gated_delta_update(*gq, gv, *g4, stream=s),
    }


@pytest.mark.gpu
@pytest.mark.parametrize("name", sorted(_cases()))
def test_gpu_matches_cpu(name):
    fn = _cases()[name]
    got, want = fn(mx.gpu), fn(mx.cpu)
    got, want = (got, want) if isinstance(got, list) else ([got], [want])
    for g, w in zip(got, want):
        assert g.dtype == w.dtype and g.shape == w.shape
        t = 3e-3 if g.dtype == mx.float16 else 1e-4
        np.testing.assert_allclose(_f64(g), _f64(w), rtol=t, atol=t)


@pytest.mark.gpu
def test_gpu_gradient_matches_cpu():
    x = mx.array(np.random.default_rng(0).standard_normal((2, 1, 3, 4)).astype(np.float32))

    def f(s):
        return mx.grad(
            lambda x: F.scaled_dot_product_attention(x, x, x, scale=0.5, stream=s).sum()
        )(x)

    np.testing.assert_allclose(np.array(f(mx.gpu)), np.array(f(mx.cpu)), rtol=1e-4, atol=1e-5)


@pytest.mark.gpu
def test_cuda_kernel_runs_on_the_gpu():
    src = """
        auto elem = cooperative_groups::this_grid().thread_rank();
        if (elem < n) { T tmp = inp[elem]; out[elem] = exp(tmp) * scale; }
    """
    kern = F.cuda_kernel(
        name="myexp", input_names=["inp", "n", "scale"], output_names=["out"], source=src
    )
    a = mx.random.normal(shape=(16, 16)).astype(mx.float16)
    (o,) = kern(
        inputs=[a, a.size, mx.array(2.0)], template=[("T", mx.float32)], grid=(a.size, 1, 1),
        threadgroup=(64, 1, 1), output_shapes=[a.shape], output_dtypes=[a.dtype], stream=mx.gpu,
    )  # fmt: skip
    assert o.dtype == mx.float16
    np.testing.assert_allclose(
        np.array(o, np.float32), 2 * np.exp(np.array(a, np.float32)), rtol=3e-3
    )
    # shape / strides / ndim of a non-contiguous input, and init_value for untouched outputs
    src = """
        int i = threadIdx.x;
        if (i < a_shape[0]) out[i] = a[i * a_strides[0]] + a_ndim;
    """
    kern = F.cuda_kernel("strided", ["a"], ["out"], src, ensure_row_contiguous=False)
    base = mx.arange(12, dtype=mx.float32).reshape(6, 2)
    (o,) = kern(inputs=[base[:, 1]], output_shapes=[(8,)], output_dtypes=[mx.float32],
                grid=(8, 1, 1), threadgroup=(8, 1, 1), init_value=-1.0, stream=mx.gpu)  # fmt: skip
    check(o, [2.0, 4.0, 6.0, 8.0, 10.0, 12.0, -1.0, -1.0])
    with pytest.raises(ValueError, match="compile"):
        F.cuda_kernel("bad", ["a"], ["o"], "this is not C++;")(
            inputs=[mx.ones(2)], output_shapes=[(2,)], output_dtypes=[mx.float32],
            grid=(1, 1, 1), threadgroup=(1, 1, 1), stream=mx.gpu,
        )  # fmt: skip
    with pytest.raises(RuntimeError, match="GPU"):
        kern(inputs=[base[:, 1]], output_shapes=[(8,)], output_dtypes=[mx.float32],
             grid=(8, 1, 1), threadgroup=(8, 1, 1), stream=mx.cpu)  # fmt: skip


@pytest.mark.gpu
def test_precompiled_cuda_kernel_runs_ptx():
    from cupy.cuda import nvrtc

    code = b'extern "C" __global__ void axpy(const float* x, float* y, float a, int n) {' \
           b" int i = blockIdx.x * blockDim.x + threadIdx.x; if (i < n) y[i] = a * x[i] + 1.0f; }"  # fmt: skip
    prog = nvrtc.createProgram(code.decode(), "axpy.cu", [], [])
    nvrtc.compileProgram(prog, [])
    ptx = nvrtc.getPTX(prog)
    ptx = ptx if isinstance(ptx, bytes) else ptx.encode()
    x = mx.arange(10, dtype=mx.float32)
    (y,) = F.precompiled_cuda_kernel(
        name="axpy", compiled_source=ptx, inputs=[x], output_shapes=[(10,)],
        output_dtypes=[mx.float32], scalars=[3.0, 10], grid=(10, 1, 1), threadgroup=(32, 1, 1),
        stream=mx.gpu,
    )  # fmt: skip
    check(y, 3 * np.arange(10) + 1)
