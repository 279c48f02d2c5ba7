"""mx.linalg: norms, inverses, factorizations, solvers, cross."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import umx as mx
from tests.helpers import check, mlx, needs_mlx

L = mx.linalg
REAL = [mx.float32, mx.float64]
batches = st.sampled_from([(), (2,), (2, 1)])


def _m(x):
    """An umx array keeping float64 (``mx.array`` turns NumPy float64 into float32)."""
    return mx.array(x, dtype=mx.float64) if x.dtype == np.float64 else mx.array(x)


def _tol(d):
    return 1e-3 if d in (mx.float32, mx.complex64) else 1e-9


def _spd(rng, batch, n, d):
    a = rng.standard_normal((*batch, n, n))
    return (a @ np.swapaxes(a, -1, -2) + n * np.eye(n)).astype(d.np)


def _np(x):
    return np.array(x).astype(np.float64 if x.dtype.kind != "c" else np.complex128)


@given(batches, st.integers(1, 4), st.sampled_from(REAL), st.integers(0, 2**31))
def test_inverses_and_solvers(batch, n, d, seed):
    rng = np.random.default_rng(seed)
    a = _spd(rng, batch, n, d)
    t = _tol(d)
    check(L.inv(_m(a), stream=mx.cpu), np.linalg.inv(a.astype(np.float64)), rtol=t, atol=t, dtype=d)
    lo = np.tril(a)
    check(L.tri_inv(_m(a)), np.linalg.inv(lo.astype(np.float64)), rtol=t, atol=t)
    check(
        L.tri_inv(_m(a), upper=True), np.linalg.inv(np.triu(a).astype(np.float64)), rtol=t, atol=t
    )
    b = rng.standard_normal((*batch, n, 2)).astype(d.np)
    check(L.solve(_m(a), _m(b)), np.linalg.solve(a.astype(np.float64), b), rtol=t, atol=t)
    check(
        L.solve_triangular(_m(a), _m(b)), np.linalg.solve(lo.astype(np.float64), b), rtol=t, atol=t
    )
    v = rng.standard_normal(n).astype(d.np)
    check(
        L.solve(_m(a[(0,) * len(batch)]), _m(v)),
        np.linalg.solve(a[(0,) * len(batch)].astype(np.float64), v),
        rtol=t,
        atol=t,
    )
    check(L.pinv(_m(a)), np.linalg.pinv(a.astype(np.float64)), rtol=10 * t, atol=10 * t)


@given(batches, st.integers(1, 4), st.sampled_from(REAL), st.integers(0, 2**31))
def test_factorizations_reconstruct(batch, n, d, seed):
    rng = np.random.default_rng(seed)
    a = _spd(rng, batch, n, d)
    t = 10 * _tol(d)
    lo = np.array(L.cholesky(_m(a)))
    np.testing.assert_allclose(lo @ np.swapaxes(lo, -1, -2), a, rtol=t, atol=t)
    assert np.allclose(lo, np.tril(lo))
    up = np.array(L.cholesky(_m(a), upper=True))
    np.testing.assert_allclose(np.swapaxes(up, -1, -2) @ up, a, rtol=t, atol=t)
    check(L.cholesky_inv(_m(lo)), np.linalg.inv(a.astype(np.float64)), rtol=t, atol=t)
    check(L.cholesky_inv(_m(up), upper=True), np.linalg.inv(a.astype(np.float64)), rtol=t, atol=t)
    w, v = L.eigh(_m(a))
    w, v = np.array(w), np.array(v)
    np.testing.assert_allclose(w, np.linalg.eigvalsh(a.astype(np.float64)), rtol=t, atol=t)
    np.testing.assert_allclose(v @ (w[..., None] * np.swapaxes(v, -1, -2)), a, rtol=t, atol=t)
    check(L.eigvalsh(_m(a), UPLO="U"), np.linalg.eigvalsh(a.astype(np.float64)), rtol=t, atol=t)
    ev = np.array(L.eigvals(_m(a)))
    assert ev.dtype == np.complex64
    want_w = np.linalg.eigvalsh(a.astype(np.float64))  # complex64 output: float32 precision
    np.testing.assert_allclose(np.sort(ev.real, axis=-1), want_w, rtol=1e-4, atol=1e-4)
    check(L.det(_m(a)), np.linalg.det(a.astype(np.float64)), rtol=t, atol=t)
    sign, logabs = L.slogdet(_m(a))
    ws, wl = np.linalg.slogdet(a.astype(np.float64))
    check(sign, ws, dtype=d)
    check(logabs, wl, rtol=t, atol=t)


@given(
    st.integers(1, 4),
    st.integers(1, 4),
    st.sampled_from([*REAL, mx.complex64]),
    st.integers(0, 2**31),
)
def test_rectangular_factorizations(m, n, d, seed):
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((2, m, n))
    if d is mx.complex64:
        a = a + 1j * rng.standard_normal((2, m, n))
    a = a.astype(d.np)
    t = 10 * _tol(d)
    u, s, vt = L.svd(_m(a))
    k = min(m, n)
    assert u.shape == (2, m, m) and s.shape == (2, k) and vt.shape == (2, n, n)
    assert s.dtype == (mx.float32 if d is mx.complex64 else d)
    un, sn, vtn = np.array(u), np.array(s), np.array(vt)
    np.testing.assert_allclose(
        (un[..., :k] * sn[..., None, :]) @ vtn[..., :k, :], a, rtol=t, atol=t
    )
    check(L.svd(_m(a), compute_uv=False), np.linalg.svd(a, compute_uv=False), rtol=t, atol=t)
    if d is mx.complex64:
        return
    q, r = L.qr(_m(a))
    assert q.shape == (2, m, k) and r.shape == (2, k, n)
    np.testing.assert_allclose(np.array(q) @ np.array(r), a, rtol=t, atol=t)
    p, lo, up = L.lu(_m(a))
    assert p.dtype == mx.uint32 and lo.shape == (2, m, k) and up.shape == (2, k, n)
    lo_n = np.array(lo)
    rebuilt = np.take_along_axis(lo_n, np.array(p).astype(np.int64)[..., None], axis=-2) @ np.array(
        up
    )
    np.testing.assert_allclose(rebuilt, a, rtol=t, atol=t)
    packed, piv = L.lu_factor(_m(a))
    assert packed.shape == a.shape and piv.shape == (2, k) and piv.dtype == mx.uint32


@needs_mlx
def test_lu_pivots_like_mlx():
    a = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 10.0]], np.float32)
    for got, want in zip(L.lu(_m(a)), mlx.linalg.lu(mlx.array(a), stream=mlx.cpu)):
        np.testing.assert_allclose(np.array(got), np.array(want), rtol=1e-5, atol=1e-6)
    for got, want in zip(L.lu_factor(_m(a)), mlx.linalg.lu_factor(mlx.array(a), stream=mlx.cpu)):
        np.testing.assert_allclose(np.array(got), np.array(want), rtol=1e-5, atol=1e-6)


NORM_ORDS = [None, 1, -1, 2, -2, "fro", "nuc", np.inf, -np.inf, 0, 3, 0.5]


@needs_mlx
@pytest.mark.parametrize("ord", NORM_ORDS)
@pytest.mark.parametrize("dtype", ["float32", "int32", "complex64", "float16"])
@pytest.mark.parametrize("ndim", [1, 2])
def test_norm_like_mlx(ord, dtype, ndim):
    rng = np.random.default_rng(3)
    x = rng.integers(-4, 5, (3, 4)[-ndim:]).astype(dtype)
    try:
        want = mlx.linalg.norm(mlx.array(x), ord, stream=mlx.cpu)
    except ValueError as e:
        with pytest.raises(ValueError, match=r"\[linalg::"):
            L.norm(_m(x), ord)
        assert "[linalg::" in str(e)
        return
    got = L.norm(_m(x), ord)
    assert got.dtype.name == repr(want.dtype).split(".")[-1]
    check(got, np.array(want), rtol=2e-3, atol=2e-3)


@given(st.sampled_from([0, 1, -1, (0, 2), (2, 1)]), st.booleans(), st.integers(0, 2**31))
def test_norm_axes_keepdims(axis, keepdims, seed):
    x = np.random.default_rng(seed).standard_normal((2, 3, 4)).astype(np.float32)
    got = L.norm(_m(x), axis=axis, keepdims=keepdims)
    check(got, np.linalg.norm(x, axis=axis, keepdims=keepdims), rtol=1e-5, atol=1e-5)
    check(L.norm(_m(x)), np.linalg.norm(x.reshape(-1)), rtol=1e-5, atol=1e-5)
    assert L.norm(_m(x), keepdims=True).shape == (1, 1, 1)
    assert mx.matrix_norm(_m(x[0])).shape == ()


@given(
    st.sampled_from([(4, 3), (3,), (2, 1, 3)]),
    st.sampled_from([(3,), (4, 3), (1, 2)]),
    st.integers(0, 2**31),
)
def test_cross(sa, sb, seed):
    rng = np.random.default_rng(seed)
    a = rng.standard_normal(sa).astype(np.float32)
    b = rng.standard_normal(sb).astype(np.float32)
    if sb[-1] == 2:
        b3 = np.concatenate([b, np.zeros(b.shape[:-1] + (1,), np.float32)], -1)
    else:
        b3 = b
    check(L.cross(_m(a), _m(b)), np.cross(a, b3), rtol=1e-5, atol=1e-5)
    full = np.broadcast_shapes(a.shape, b3.shape)
    a_t = np.moveaxis(np.broadcast_to(a, full), -1, 0).copy()
    b_t = np.moveaxis(np.broadcast_to(b3, full), -1, 0).copy()
    check(
        L.cross(_m(a_t), _m(b_t), axis=0), np.moveaxis(np.cross(a, b3), -1, 0), rtol=1e-5, atol=1e-5
    )


@pytest.mark.parametrize(
    "fn,arg,msg",
    [
        (
            L.inv,
            np.ones((2, 3), np.float32),
            r"\[linalg::inv\] Inverses are only defined for square matrices",
        ),
        (
            L.inv,
            np.ones((3, 3), np.int32),
            r"\[linalg::inv\] Arrays must have type float32 or float64",
        ),
        (L.inv, np.ones((3,), np.float32), r"\[linalg::inv\] Arrays must have >= 2 dimensions"),
        (
            L.cholesky,
            np.ones((3, 3), np.float16),
            r"\[linalg::cholesky\] Arrays must have type float32 or float64",
        ),
        (L.qr, np.ones((3, 3), np.complex64), r"\[linalg::qr\] Arrays must have type"),
        (
            L.svd,
            np.ones((3, 3), np.int32),
            r"\[linalg::svd\] Arrays must have type float32, float64 or complex64",
        ),
        (
            L.svd,
            np.ones((3,), np.float32),
            r"\[linalg::svd\] Input array must have >= 2 dimensions",
        ),
        (L.eigh, np.ones((2, 3), np.float32), r"\[linalg::eigh\] Only defined for square matrices"),
        (L.det, np.ones((3, 3), np.complex64), r"\[linalg::det\] Complex inputs are not supported"),
        (L.pinv, np.ones((3, 3), np.int32), r"\[linalg::pinv\] Arrays must have type"),
        (L.lu, np.ones((3,), np.float32), r"\[linalg::lu\] Arrays must have >= 2"),
    ],
)
def test_errors_at_call_time(fn, arg, msg):
    with pytest.raises(ValueError, match=msg):
        fn(_m(arg))


def test_solver_and_cross_errors():
    a = _m(np.eye(3, dtype=np.float32))
    with pytest.raises(ValueError, match=r"\[linalg::solve\] Last dimension of first input"):
        L.solve(a, _m(np.ones(2, np.float32)))
    with pytest.raises(
        ValueError, match=r"\[linalg::solve\] Input arrays must promote to float32 or float64"
    ):
        L.solve(_m(np.eye(3, dtype=np.int32)), _m(np.ones(3, np.int32)))
    with pytest.raises(
        ValueError, match=r"\[linalg::cross\] The specified axis must have size 2 or 3"
    ):
        L.cross(_m(np.ones(4, np.float32)), _m(np.ones(3, np.float32)))
    with pytest.raises(ValueError, match=r"\[linalg::norm\] Invalid ord 0 for matrix norm"):
        L.norm(a, 0)
    with pytest.raises(
        ValueError, match=r"\[linalg::norm\] Norm 'fro' only supported for matrices"
    ):
        L.norm(_m(np.ones(3, np.float32)), "fro")


def test_det_dtypes():
    i = _m(np.array([[1, 2], [3, 4]], np.int32))
    check(L.det(i), np.array(-2.0), dtype=mx.float32, rtol=1e-5, atol=1e-5)
    h = _m(np.array([[1, 2], [3, 4]], np.float16))
    check(L.det(h), np.array(-2.0), dtype=mx.float16, rtol=1e-2, atol=1e-2)
    sign, logabs = L.slogdet(_m(np.array([[1.0, 2.0], [2.0, 4.0]], np.float32)))
    check(sign, np.array(0.0, np.float32))
    check(logabs, np.array(-np.inf, np.float32))


def test_solve_checks_the_matrix_dtype_before_promoting():
    # MLX factors ``a`` in its own dtype: a half or int ``a`` is refused, a half ``b`` promotes
    for d in (mx.float16, mx.bfloat16, mx.int32):
        with pytest.raises(ValueError, match="float32 or float64"):
            mx.linalg.solve(mx.eye(2, dtype=d), mx.ones(2))
        with pytest.raises(ValueError, match="float32 or float64"):
            mx.linalg.solve_triangular(mx.eye(2, dtype=d), mx.ones((2, 2)))
    assert mx.linalg.solve(mx.eye(2), mx.ones(2, dtype=mx.float16)).dtype == mx.float32


def test_norm_invalid_axis_is_index_error():
    with pytest.raises(IndexError):
        mx.linalg.norm(mx.ones((2, 2)), axis=2)
    with pytest.raises(IndexError):
        mx.linalg.norm(mx.array(1.0), axis=0)
