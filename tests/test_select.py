"""where, clip, isclose, allclose, array_equal: values vs NumPy with broadcasting; dtype
promotion (weak Python scalars), errors and edge cases vs MLX."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import umx as mx
from tests.helpers import ALL_DTYPES, check, mlx, needs_mlx, to_mlx_dtype
from umx._dtypes import promote_types


def make(rng, shape, d):
    if d == mx.bool_:
        x = rng.random(shape) < 0.5
    elif d.kind == "u":
        x = rng.integers(0, 6, shape)
    elif d.kind == "i":
        x = rng.integers(-5, 6, shape)
    elif d == mx.complex64:
        x = rng.integers(-2, 3, shape) + 1j * rng.integers(-2, 3, shape)
    else:
        x = rng.integers(-8, 9, shape) / 4  # exact in every float dtype
    return np.asarray(x).astype(d.np)


@st.composite
def bshapes(draw, n):
    """``n`` shapes that broadcast together."""
    out_shape = draw(st.lists(st.integers(1, 4), min_size=0, max_size=3))
    shapes = []
    for _ in range(n):
        k = draw(st.integers(0, len(out_shape)))
        tail = out_shape[len(out_shape) - k :]
        shapes.append(tuple(s if draw(st.booleans()) else 1 for s in tail))
    return shapes


REAL = [d for d in ALL_DTYPES if d != mx.complex64]


@given(
    bshapes(3),
    st.sampled_from(ALL_DTYPES),
    st.sampled_from(ALL_DTYPES),
    st.sampled_from(ALL_DTYPES),
    st.integers(0, 2**16),
)
def test_where(shapes, dc, dx, dy, seed):
    rng = np.random.default_rng(seed)
    c, x, y = make(rng, shapes[0], dc), make(rng, shapes[1], dx), make(rng, shapes[2], dy)
    out = mx.where(mx.array(c, dc), mx.array(x, dx), mx.array(y, dy))
    d = promote_types(dx, dy)
    want = np.where(c, x.astype(d.np), y.astype(d.np))
    check(out, want.astype(d.np), dtype=d)


@given(
    bshapes(3),
    st.sampled_from(REAL),
    st.sampled_from(REAL),
    st.booleans(),
    st.booleans(),
    st.integers(0, 2**16),
)
def test_clip(shapes, da, db, use_lo, use_hi, seed):
    rng = np.random.default_rng(seed)
    if not (use_lo or use_hi):
        use_lo = True
    a = make(rng, shapes[0], da)
    lo = make(rng, shapes[1], db) if use_lo else None
    hi = make(rng, shapes[2], db) if use_hi else None
    out = mx.clip(
        mx.array(a, da),
        None if lo is None else mx.array(lo, db),
        None if hi is None else mx.array(hi, db),
    )
    d = out.dtype
    r = a.astype(np.float64)
    if lo is not None:
        r = np.maximum(r, lo.astype(np.float64))
    if hi is not None:
        r = np.minimum(r, hi.astype(np.float64))
    check(out, r.astype(d.np) if d != mx.bool_ else r.astype(bool))


def _np_isclose(a, b, rtol, atol, equal_nan):
    a = a.astype(np.complex128 if a.dtype.kind == "c" else np.float64)
    b = b.astype(np.complex128 if b.dtype.kind == "c" else np.float64)
    return np.isclose(a, b, rtol=rtol, atol=atol, equal_nan=equal_nan)


FLOATS = [mx.float16, mx.bfloat16, mx.float32, mx.float64]
SPECIAL = np.array([0.0, 1.0, -1.0, 1.0001, 1e-9, np.inf, -np.inf, np.nan])


@given(
    bshapes(2), st.sampled_from(FLOATS), st.sampled_from([1e-5, 1e-3, 0.0]), st.sampled_from([1e-8, 1e-2, 0.0]),
    st.booleans(), st.integers(0, 2**16),
)  # fmt: skip
def test_isclose_allclose(shapes, d, rtol, atol, equal_nan, seed):
    rng = np.random.default_rng(seed)
    a = rng.choice(SPECIAL, shapes[0]).astype(d.np)
    b = rng.choice(SPECIAL, shapes[1]).astype(d.np)
    if d.size == 2:  # compare what the half-precision values really are
        a32, b32 = a.astype(np.float32), b.astype(np.float32)
    else:
        a32, b32 = a, b
    want = _np_isclose(a32, b32, rtol, atol, equal_nan)
    got = mx.isclose(mx.array(a, d), mx.array(b, d), rtol=rtol, atol=atol, equal_nan=equal_nan)
    check(got, want, dtype=mx.bool_)
    check(
        mx.allclose(mx.array(a, d), mx.array(b, d), rtol, atol, equal_nan=equal_nan), np.all(want)
    )


@given(st.sampled_from(ALL_DTYPES), st.sampled_from(ALL_DTYPES), st.integers(0, 2**16))
def test_isclose_int_and_mixed(da, db, seed):
    rng = np.random.default_rng(seed)
    a, b = make(rng, (5,), da), make(rng, (5,), db)
    got = mx.isclose(mx.array(a, da), mx.array(b, db))
    check(got, _np_isclose(a, b, 1e-5, 1e-8, False))


@given(
    st.sampled_from(ALL_DTYPES), st.sampled_from(ALL_DTYPES), st.booleans(), st.integers(0, 2**16)
)
def test_array_equal(da, db, same, seed):
    rng = np.random.default_rng(seed)
    a = make(rng, (2, 3), da)
    b = (a.real if db != mx.complex64 else a).astype(db.np) if same else make(rng, (2, 3), db)
    want = np.array_equal(a.astype(np.complex128), b.astype(np.complex128))
    check(mx.array_equal(mx.array(a, da), mx.array(b, db)), want, dtype=mx.bool_)


def test_array_equal_shapes_and_nan():
    a = mx.array(np.array([1.0, np.nan], np.float32))
    check(mx.array_equal(a, a), False)
    check(mx.array_equal(a, a, equal_nan=True), True)
    check(mx.array_equal(mx.array([1, 2]), mx.array([[1, 2]])), False)
    check(mx.array_equal(mx.array([1, 1]), 1), False)
    check(mx.array_equal(1, 1.0), True)
    e = mx.array(np.zeros((0,), np.float32))
    check(mx.array_equal(e, e), True)
    check(mx.allclose(e, e), True)


def test_where_scalars_and_broadcast():
    b = mx.array([True, False, True])
    check(mx.where(b, 1, 2), [1, 2, 1], dtype=mx.int32)
    check(mx.where(b, 1, 2.0), [1, 2, 1], dtype=mx.float32)
    check(mx.where(b, True, 2), [1, 2, 1], dtype=mx.int32)
    i8 = mx.array(np.array([1, -2, 3], np.int8))
    check(mx.where(b, i8, 1), [1, 1, 3], dtype=mx.int8)
    check(mx.where(b, i8, 1.5), [1, 1.5, 3], dtype=mx.float32)
    check(mx.where(mx.array([0.5, 0.0, 2.0]), 1, 0), [1, 0, 1])
    check(mx.where(1, 2, 3.0), 2.0, dtype=mx.float32)
    col = mx.array(np.array([[1], [2]], np.int32))
    check(mx.where(b, col, mx.array([5, 6, 7])), [[1, 6, 1], [2, 6, 2]])
    check(mx.where(b, 1, 2, stream=mx.cpu), [1, 2, 1])


def test_clip_scalars():
    i8 = mx.array(np.array([1, -2, 3], np.int8))
    check(mx.clip(i8, 0, 2), [1, 0, 2], dtype=mx.int8)
    check(mx.clip(i8, 0.5, 2), [1, 0.5, 2], dtype=mx.float32)
    check(mx.clip(i8, None, 2), [1, -2, 2], dtype=mx.int8)
    check(mx.clip(i8, 3, 0), [0, 0, 0])
    check(mx.clip(mx.array([True, False]), 0, 1), [1, 0], dtype=mx.int32)
    check(mx.clip(mx.array([1.0, np.nan]), 0, 2), [1.0, np.nan])
    f16 = mx.array(np.array([1.5, 2, 3], np.float16))
    check(mx.clip(i8, f16, 2.5), [1.5, 2, 2.5], dtype=mx.float32)  # 2.5 is float32 beside int8


def test_errors():
    with pytest.raises(ValueError, match=r"\[clip\] At most one"):
        mx.clip(mx.array([1, 2]), None, None)
    u8 = mx.array(np.array([1, 2], np.uint8))
    with pytest.raises(
        ValueError, match=r"\[clip\] Converting -1 to uint8 would result in overflow"
    ):
        mx.clip(u8, -1, 2)
    with pytest.raises(ValueError, match=r"\[where\] Converting -1 to uint8"):
        mx.where(mx.array([True, False]), u8, -1)
    z23, z32 = mx.array(np.zeros((2, 3))), mx.array(np.zeros((3, 2)))
    with pytest.raises(ValueError, match=r"\[where\]"):
        mx.where(mx.array([True]), z23, z32)
    check(mx.where(mx.array([True, False, True]), z23, mx.array(np.ones((2, 1)))), [[0, 1, 0]] * 2)
    with pytest.raises(ValueError, match=r"\[clip\]"):
        mx.clip(z23, z32, 1)
    with pytest.raises(ValueError, match=r"\[isclose\]"):
        mx.isclose(z23, z32)


def test_where_cond_broadcast_error():
    with pytest.raises(ValueError, match=r"\[where\]"):
        mx.where(mx.array([True, False]), mx.array(np.zeros((2, 3))), 1)


# -- vs MLX ---------------------------------------------------------------------------


@needs_mlx
def test_where_and_clip_dtypes_match_mlx():
    scalars = [True, 2, 2.5]
    for d in ALL_DTYPES:
        x = np.array([1, 0, 3]).astype(d.np)
        ours, theirs = mx.array(x, d), mlx.array(x.real.astype(np.float32)).astype(to_mlx_dtype(d))
        b_ours, b_theirs = mx.array([True, False, True]), mlx.array([True, False, True])
        for s in scalars:
            assert (
                mx.where(b_ours, ours, s).dtype.name
                == str(mlx.where(b_theirs, theirs, s).dtype).split(".")[-1]
            )
            assert (
                mx.where(b_ours, s, ours).dtype.name
                == str(mlx.where(b_theirs, s, theirs).dtype).split(".")[-1]
            )
            if d != mx.complex64:
                r = mlx.clip(theirs, s, None)
                assert mx.clip(ours, s, None).dtype.name == str(r.dtype).split(".")[-1]
        for d2 in ALL_DTYPES:
            y = np.array([2, 2, 2]).astype(d2.np)
            y_ours, y_theirs = (
                mx.array(y, d2),
                mlx.array(y.real.astype(np.float32)).astype(to_mlx_dtype(d2)),
            )
            w = mx.where(b_ours, ours, y_ours)
            assert w.dtype.name == str(mlx.where(b_theirs, theirs, y_theirs).dtype).split(".")[-1]


@needs_mlx
def test_isclose_matches_mlx():
    a = np.array([1.0, np.inf, -np.inf, np.inf, np.nan, 1e-8, 1e10, 2.0], np.float32)
    b = np.array([1.0, np.inf, -np.inf, -np.inf, np.nan, 0.0, 1.00001e10, 2.001], np.float32)
    for kw in ({}, {"equal_nan": True}, {"rtol": 0.0, "atol": 0.0}, {"atol": 0.01}):
        ours = np.array(mx.isclose(mx.array(a), mx.array(b), **kw))
        theirs = np.array(mlx.isclose(mlx.array(a), mlx.array(b), **kw))
        np.testing.assert_array_equal(ours, theirs)
        assert (
            mx.allclose(mx.array(a), mx.array(b), **kw).item()
            == mlx.allclose(mlx.array(a), mlx.array(b), **kw).item()
        )


@pytest.mark.gpu
def test_kernels_on_cupy():
    cp = pytest.importorskip("cupy")
    rng = np.random.default_rng(0)
    outs = []
    for d in [mx.bool_, mx.uint8, mx.int32, mx.float16, mx.float32, mx.complex64]:
        x, y = mx.array(make(rng, (3, 4), d), d), mx.array(make(rng, (4,), d), d)
        c = mx.array(make(rng, (3, 1), mx.bool_))
        outs += [
            mx.where(c, x, y),
            mx.where(c, x, 1),
            mx.isclose(x, y),
            mx.isclose(x, y, equal_nan=True),
        ]
        outs += [
            mx.array_equal(x, x),
            mx.array_equal(x, x + 0 if d != mx.bool_ else x, equal_nan=True),
        ]
        if d != mx.complex64:
            outs += [mx.clip(x, 1, None), mx.clip(x, None, y), mx.clip(x, y, 2)]
    for out in outs:
        prim, ins = out._prim, out._inputs
        host = [np.array(i) for i in ins]
        got = cp.asnumpy(cp.asarray(prim.eval(cp, *[cp.asarray(h) for h in host])))
        exp = np.array(out)
        assert got.dtype == exp.dtype and got.shape == exp.shape, prim
        np.testing.assert_array_equal(got, exp)


def test_isclose_allclose_take_arrays_only_and_array_equal_checks_scalar_overflow():
    x = mx.array([1.0, 2.0])
    for other in (1.0, 2, [1.0, 2.0], np.ones(2, np.float32)):
        with pytest.raises(TypeError):
            mx.isclose(x, other)
        with pytest.raises(TypeError):
            mx.allclose(other, x)
    # array_equal converts a Python scalar as binary ops do (MLX: overflow raises).
    with pytest.raises(ValueError, match="overflow"):
        mx.array_equal(mx.array([1], mx.uint8), 2**40)
    check(mx.array_equal(mx.array(3, mx.uint8), 3.0), True)
    check(mx.array_equal(mx.array([1]), 1), False)  # shapes differ
