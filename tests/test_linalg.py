"""Matrix products: matmul, addmm, tensordot, inner, outer, kron, vecdot, einsum."""

from __future__ import annotations

import ml_dtypes
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import umx as mx
from tests.helpers import check, mlx, needs_mlx, to_mlx_dtype

INEXACT = [mx.float16, mx.bfloat16, mx.float32, mx.float64, mx.complex64]
ANY = [
    mx.bool_,
    mx.uint8,
    mx.int8,
    mx.int16,
    mx.int32,
    mx.uint32,
    mx.float16,
    mx.bfloat16,
    mx.float32,
    mx.complex64,
]
_TOL = {"float16": 2e-2, "bfloat16": 1e-1, "float32": 1e-4, "float64": 1e-10, "complex64": 1e-4}


def _rand(rng, shape, d):
    if d is mx.bool_:
        x = rng.integers(0, 2, shape).astype(bool)
    elif d.kind in "iu":
        x = rng.integers(0, 5, shape)
    elif d is mx.complex64:
        x = rng.standard_normal(shape) + 1j * rng.standard_normal(shape)
    else:
        x = rng.uniform(-1, 1, shape)
    return np.asarray(x).astype(d.np)


def _arr(x, d):
    return mx.array(x, dtype=d)


def _f64(x):
    x = np.asarray(x)
    if x.dtype == ml_dtypes.bfloat16:
        x = x.astype(np.float32)
    return x.astype(np.complex128 if x.dtype.kind == "c" else np.float64)


def _close(out, expected, d=None):
    tol = _TOL.get(out.dtype.name, 0)
    check(
        out,
        np.asarray(expected).astype(out.dtype.np) if d is None else expected,
        rtol=tol,
        atol=tol,
    )


batch = st.lists(st.integers(1, 3), min_size=0, max_size=2)


@st.composite
def matmul_shapes(draw):
    m, k, n = draw(st.integers(1, 5)), draw(st.integers(0, 5)), draw(st.integers(1, 5))
    b = draw(batch)
    ba = [x if draw(st.booleans()) else 1 for x in b]
    bb = [x if draw(st.booleans()) else 1 for x in b][draw(st.integers(0, len(b))) :]
    sa = (*ba, m, k) if draw(st.integers(0, 4)) else (k,)
    sb = (*bb, k, n) if draw(st.integers(0, 4)) else (k,)
    return tuple(sa), tuple(sb)


@given(matmul_shapes(), st.sampled_from(INEXACT), st.integers(0, 2**31))
def test_matmul_matches_numpy(shapes, d, seed):
    rng = np.random.default_rng(seed)
    sa, sb = shapes
    a, b = _rand(rng, sa, d), _rand(rng, sb, d)
    out = mx.matmul(_arr(a, d), _arr(b, d))
    assert out.dtype == d
    _close(out, np.matmul(_f64(a), _f64(b)))


def test_matmul_operator_and_views(rng):
    a = rng.standard_normal((4, 3)).astype(np.float32)
    b = rng.standard_normal((4, 5)).astype(np.float32)
    x, y = mx.array(a), mx.array(b)
    _close(x.T @ y if hasattr(x, "T") else mx.matmul(mx.array(a.T), y), a.T @ b)
    _close(
        mx.matmul(x[0] if hasattr(x, "__getitem__") else mx.array(a[0]), mx.array(a.T)), a[0] @ a.T
    )


def test_matmul_seed_shape(rng):
    a = rng.uniform(size=(4096, 512)).astype(np.float32)
    b = rng.uniform(size=(512, 4)).astype(np.float32)
    out = mx.matmul(mx.array(a), mx.array(b), stream=mx.cpu)
    assert out.shape == (4096, 4) and out.dtype == mx.float32
    check(out, a @ b, rtol=1e-4, atol=1e-3)


@needs_mlx
@pytest.mark.parametrize("da", ANY)
@pytest.mark.parametrize("db", [mx.int32, mx.float16, mx.bfloat16, mx.float32, mx.complex64])
def test_matmul_dtypes_like_mlx(da, db):
    a, b = np.ones((2, 3)), np.ones((3, 2))
    try:
        want = mlx.matmul(
            mlx.array(a, dtype=to_mlx_dtype(da)), mlx.array(b, dtype=to_mlx_dtype(db))
        )
    except ValueError:
        with pytest.raises(ValueError, match=r"\[matmul\] Only inexact types"):
            mx.matmul(_arr(a, da), _arr(b, db))
        return
    out = mx.matmul(_arr(a, da), _arr(b, db))
    assert out.dtype.name == want.dtype.__repr__().split(".")[-1]
    check(out, np.full((2, 2), 3.0))


@pytest.mark.parametrize(
    "sa,sb,msg",
    [
        (
            (2, 3),
            (4, 2),
            r"\[matmul\] Last dimension of first input with shape \(2,3\) must match .* \(4,2\)",
        ),
        ((3,), (4,), r"\[matmul\] Last dimension .* \(1,3\) .* \(4,1\)"),
        ((), (3,), r"\[matmul\] Got 0 dimension input"),
        ((2, 2, 3), (5, 3, 4), r"\[broadcast_shapes\] Shapes \(2\) and \(5\) cannot be broadcast"),
    ],
)
def test_matmul_errors_at_call_time(sa, sb, msg):
    with pytest.raises(ValueError, match=msg):
        mx.matmul(mx.array(np.ones(sa, np.float32)), mx.array(np.ones(sb, np.float32)))


def test_matmul_empty_inner_dimension():
    out = mx.matmul(mx.array(np.ones((2, 0), np.float32)), mx.array(np.ones((0, 4), np.float32)))
    check(out, np.zeros((2, 4), np.float32))


@given(
    st.sampled_from([(2, 4), (4,), (1, 4), (2, 1), (), (3, 2, 4)]),
    st.sampled_from([mx.float16, mx.float32, mx.float64, mx.complex64]),
    st.floats(-2, 2),
    st.floats(-2, 2),
    st.integers(0, 2**31),
)
def test_addmm_matches_numpy(cshape, d, alpha, beta, seed):
    rng = np.random.default_rng(seed)
    bshape = (3, 2, 3) if len(cshape) == 3 else (2, 3)
    a, b, c = _rand(rng, bshape, d), _rand(rng, (3, 4), d), _rand(rng, cshape, d)
    out = mx.addmm(_arr(c, d), _arr(a, d), _arr(b, d), alpha, beta)
    want = alpha * (_f64(a) @ _f64(b)) + beta * _f64(c)
    assert out.dtype == d and out.shape == want.shape
    _close(out, want)


def test_addmm_zero_scales_skip_terms():
    nan_c = mx.array([[np.nan, 2.0, 3.0, 4.0]], dtype=mx.float32)
    a = mx.array(np.ones((2, 3), np.float32))
    b = mx.array(np.ones((3, 4), np.float32))
    check(mx.addmm(nan_c, a, b, 0.5, 0.0), np.full((2, 4), 1.5, np.float32))
    inf_a = mx.array(np.full((2, 3), np.inf, np.float32))
    check(
        mx.addmm(nan_c, inf_a, b, 0.0, 1.0),
        np.broadcast_to(np.array([[np.nan, 2, 3, 4]], np.float32), (2, 4)),
    )


def test_addmm_dtype_and_errors():
    f = mx.array(np.ones((2, 3), np.float32))
    b = mx.array(np.ones((3, 4), np.float32))
    assert mx.addmm(mx.array(np.ones((2, 4), np.int32)), f, b).dtype == mx.float32
    assert mx.addmm(mx.array(np.ones((2, 4)), dtype=mx.float64), f, b).dtype == mx.float64
    i = mx.array(np.ones((2, 3), np.int32))
    with pytest.raises(ValueError, match=r"\[addmm\] Only real floating point"):
        mx.addmm(mx.array(np.ones((2, 4), np.int32)), i, mx.array(np.ones((3, 4), np.int32)))
    with pytest.raises(ValueError, match=r"\[addmm\] input c must broadcast to the output shape"):
        mx.addmm(mx.array(np.ones((5, 2, 4), np.float32)), f, b)
    with pytest.raises(ValueError, match=r"\[broadcast_shapes\]"):
        mx.addmm(mx.array(np.ones((3, 4), np.float32)), f, b)
    with pytest.raises(ValueError, match=r"\[addmm\] Last dimension"):
        mx.addmm(mx.array(np.ones((2, 4), np.float32)), mx.array(np.ones((2, 5), np.float32)), b)


@given(
    st.integers(0, 2), st.sampled_from([mx.float32, mx.float16, mx.float64]), st.integers(0, 2**31)
)
def test_tensordot_int_axes(n, d, seed):
    rng = np.random.default_rng(seed)
    a, b = _rand(rng, (2, 3, 4), d), _rand(rng, (3, 4, 5)[2 - n :] if n else (5,), d)
    if n == 1:
        b = _rand(rng, (4, 5), d)
    out = mx.tensordot(_arr(a, d), _arr(b, d), axes=n)
    _close(out, np.tensordot(_f64(a), _f64(b), axes=n))


def test_tensordot_pair_axes_and_errors(rng):
    a = rng.standard_normal((2, 3, 4)).astype(np.float32)
    b = rng.standard_normal((4, 2, 5)).astype(np.float32)
    for axes in ([[2, 0], [0, 1]], ((-1,), (0,)), ([0], [1])):
        _close(mx.tensordot(mx.array(a), mx.array(b), axes=axes), np.tensordot(a, b, axes=axes))
    x, y = mx.array(a), mx.array(b)
    with pytest.raises(ValueError, match=r"\[tensordot\] a and b must have the same shape"):
        mx.tensordot(x, y, axes=[[1], [0]])
    with pytest.raises(ValueError, match=r"\[tensordot\] axes must have the same size"):
        mx.tensordot(x, y, axes=[[2, 0], [0]])
    with pytest.raises(ValueError, match=r"\[tensordot\] axis must be greater or equal to 0"):
        mx.tensordot(x, y, axes=-1)
    with pytest.raises(ValueError, match=r"\[tensordot\] axis must be less than"):
        mx.tensordot(x, y, axes=4)
    with pytest.raises(ValueError, match=r"\[matmul\] Only inexact"):
        mx.tensordot(
            mx.array(np.ones((2, 3), np.int32)), mx.array(np.ones((3, 2), np.int32)), axes=1
        )


def test_inner_outer_kron(rng):
    a = rng.standard_normal((2, 3)).astype(np.float32)
    b = rng.standard_normal((4, 3)).astype(np.float32)
    _close(mx.inner(mx.array(a), mx.array(b)), np.inner(a, b))
    _close(mx.inner(mx.array(a[0]), mx.array(b[0])), np.inner(a[0], b[0]))
    _close(mx.inner(mx.array(np.float32(2.0)), mx.array(a)), 2 * a)
    with pytest.raises(ValueError, match=r"\[inner\] a and b must have the same last dimension"):
        mx.inner(mx.array(a), mx.array(a.T.copy()))
    _close(mx.outer(mx.array(a), mx.array(b[0])), np.outer(a, b[0]))
    i = rng.integers(-5, 5, (2, 3)).astype(np.int32)
    check(mx.outer(mx.array(i), mx.array(i)), np.outer(i, i), dtype=mx.int32)
    check(mx.kron(mx.array(i), mx.array(i)), np.kron(i, i), dtype=mx.int32)
    _close(mx.kron(mx.array(a[0]), mx.array(b)), np.kron(a[0], b))
    _close(mx.kron(mx.array(np.float32(3)), mx.array(a[0])), 3 * a[0])


@needs_mlx
@pytest.mark.parametrize(
    "da,db",
    [(mx.int8, mx.uint8), (mx.bool_, mx.bool_), (mx.int32, mx.float16), (mx.bfloat16, mx.float16)],
)
def test_outer_kron_dtypes_like_mlx(da, db):
    a, b = np.ones((2,)), np.ones((3,))
    ma, mb = mlx.array(a, dtype=to_mlx_dtype(da)), mlx.array(b, dtype=to_mlx_dtype(db))
    for name in ("outer", "kron"):
        want = getattr(mlx, name)(ma, mb)
        out = getattr(mx, name)(_arr(a, da), _arr(b, db))
        assert out.dtype.name == repr(want.dtype).split(".")[-1], name
        assert out.shape == tuple(want.shape)


@given(
    st.sampled_from([0, 1, -1, -2]),
    st.sampled_from([mx.float32, mx.int32, mx.uint8, mx.complex64, mx.float16]),
    st.integers(0, 2**31),
)
def test_vecdot(axis, d, seed):
    rng = np.random.default_rng(seed)
    a, b = _rand(rng, (3, 4), d), _rand(rng, (1, 4) if axis in (1, -1) else (3, 1), d)
    out = mx.vecdot(_arr(a, d), _arr(b, d), axis=axis)
    want = np.sum(np.conj(_f64(a)) * _f64(b), axis=axis)
    if d.kind in "iu":
        want = want.astype(np.int64)
        assert out.dtype == (mx.uint32 if d is mx.uint8 else mx.int32)
        check(out, want)
    else:
        assert out.dtype == d
        _close(out, want)


def test_vecdot_errors():
    f = mx.array(np.ones((2, 3), np.float32))
    with pytest.raises(ValueError, match=r"\[vecdot\] a and b must have the same size along axis"):
        mx.vecdot(f, mx.array(np.ones((2, 2), np.float32)))
    with pytest.raises(IndexError, match=r"\[vecdot\] axis is out of bounds"):
        mx.vecdot(f, f, axis=2)
    with pytest.raises(ValueError, match=r"\[vecdot\] inputs must be at least 1D"):
        mx.vecdot(mx.array(1.0), mx.array(1.0))


EINSUMS = [
    ("ij,jk->ik", [(2, 3), (3, 4)]),
    ("ij,jk", [(2, 3), (3, 4)]),
    ("ij->ji", [(2, 3)]),
    ("ii->i", [(3, 3)]),
    ("ii", [(3, 3)]),
    ("ij->", [(2, 3)]),
    ("i,j->ij", [(3,), (4,)]),
    ("bij,bjk->bik", [(2, 3, 4), (2, 4, 5)]),
    ("...ij,...jk->...ik", [(5, 2, 3), (3, 4)]),
    ("ij,ij->i", [(2, 3), (2, 3)]),
    ("ij,j->i", [(2, 3), (1,)]),
    ("ij,jk,kl->il", [(2, 3), (3, 4), (4, 5)]),
    ("i j -> j", [(2, 3)]),
]


@pytest.mark.parametrize("eq,shapes", EINSUMS)
def test_einsum_matches_numpy(eq, shapes, rng):
    ops = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    out = mx.einsum(eq, *[mx.array(x) for x in ops])
    bshapes = [np.broadcast_to(x, (3,)) if eq == "ij,j->i" and x.shape == (1,) else x for x in ops]
    _close(out, np.einsum(eq.replace(" ", ""), *[x.astype(np.float64) for x in bshapes]))


@needs_mlx
@pytest.mark.parametrize(
    "eq,d1,d2",
    [
        ("ij,ij->ij", mx.int32, mx.int32),
        ("ij,ij->i", mx.float16, mx.float16),
        ("ij,jk->ik", mx.float16, mx.bfloat16),
        ("i,j", mx.int8, mx.uint8),
        ("ij,k->i", mx.int8, mx.int8),
        ("ij,ij->ij", mx.bool_, mx.bool_),
    ],
)
def test_einsum_dtypes_like_mlx(eq, d1, d2):
    s1, s2 = {"ij,jk->ik": ((2, 3), (3, 4)), "i,j": ((3,), (3,)), "ij,k->i": ((2, 3), (3,))}.get(
        eq, ((2, 3), (2, 3))
    )
    want = mlx.einsum(
        eq, mlx.ones(s1, dtype=to_mlx_dtype(d1)), mlx.ones(s2, dtype=to_mlx_dtype(d2))
    )
    out = mx.einsum(eq, _arr(np.ones(s1), d1), _arr(np.ones(s2), d2))
    assert out.dtype.name == repr(want.dtype).split(".")[-1]
    check(out, np.array(want.astype(mlx.float32)).astype(out.dtype.np))


def test_einsum_reductions_and_errors():
    i = mx.array(np.ones((2, 3), np.int8))
    check(mx.einsum("ij->i", i), np.full(2, 3), dtype=mx.int32)
    check(mx.einsum("ij->", mx.array(np.ones((2, 3), bool))), np.array(6), dtype=mx.int32)
    f = mx.array(np.ones((2, 3), np.float32))
    with pytest.raises(ValueError, match=r"\[matmul\] Only inexact"):
        mx.einsum("ij,jk->ik", i, mx.array(np.ones((3, 4), np.int8)))
    with pytest.raises(
        ValueError,
        match=r"\[einsum\] Cannot broadcast dimension 0 of input 1 with shape \(4,4\) to size 3",
    ):
        mx.einsum("ij,jk->ik", f, mx.array(np.ones((4, 4), np.float32)))
    with pytest.raises(ValueError, match=r"\[einsum\] Number of operands, 1, does not match"):
        mx.einsum("ij,jk->ik", f)
    with pytest.raises(ValueError, match=r"\[einsum\] Invalid number of subscripts 3 for input 0"):
        mx.einsum("ijk", f)
    with pytest.raises(ValueError, match=r"\[einsum\] Repeat indices not allowed in output"):
        mx.einsum("ij->ii", f)
    with pytest.raises(ValueError, match=r"\[einsum\] Dimensions of repeated subscripts"):
        mx.einsum("ii", f)


@needs_mlx
def test_einsum_path_like_mlx():
    shapes = [(2, 3), (3, 4), (4, 5)]
    want = mlx.einsum_path("ij,jk,kl->il", *[mlx.ones(s) for s in shapes])
    got = mx.einsum_path("ij,jk,kl->il", *[mx.array(np.ones(s, np.float32)) for s in shapes])
    assert got[0] == want[0]
    assert got[1] == want[1]


def test_matmul_on_cpu_stream_and_laziness(rng):
    a = rng.standard_normal((3, 3)).astype(np.float32)
    x = mx.array(a)
    y = mx.matmul(x, x, stream=mx.cpu)
    assert y._data is None  # lazy until evaluated
    _close(y, a @ a)


def test_kron_empty_raises():
    with pytest.raises(ValueError, match="kron"):
        mx.kron(mx.zeros((2, 0)), mx.ones(2))
    with pytest.raises(ValueError, match="kron"):
        mx.kron(mx.ones(()), mx.zeros((0,)))
