"""Transform rules of the matrix products (umx/ops/linalg.py) and of mx.linalg: vjp against
finite differences, jvp against vjp, vmap against loops, second derivatives, MLX's grads."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import umx as mx
from tests._grad_ils import check_grad, check_vmap, f64
from tests.helpers import mlx, needs_mlx

_r = np.random.default_rng(0)


def R(*s):  # noqa: N802
    return f64(_r.standard_normal(s))


def well(*s):
    """Well-conditioned square matrices (a stack of them)."""
    return f64(_r.standard_normal(s) + 3 * np.eye(s[-1]))


def spd(*s):
    a = _r.standard_normal(s)
    return f64(a @ np.swapaxes(a, -1, -2) + 3 * np.eye(s[-1]))


def moved(x, src, dst):
    return f64(np.moveaxis(np.array(x), src, dst))


# -- products ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "sa,sb",
    [((3, 4), (4, 2)), ((2, 3, 4), (4, 5)), ((4,), (4, 2)), ((3, 4), (4,)), ((4,), (4,)),
     ((2, 1, 3, 4), (5, 4, 2)), ((3, 4), (2, 4, 3))],
)  # fmt: skip
def test_matmul_grad(sa, sb):
    check_grad(mx.matmul, [R(*sa), R(*sb)])


@given(
    st.lists(st.sampled_from([1, 2]), max_size=2),
    st.lists(st.sampled_from([1, 2]), max_size=2),
    st.booleans(),
    st.booleans(),
)
def test_matmul_grad_broadcast_shapes(ba, bb, vec_a, vec_b):
    sa = (3,) if vec_a else (*ba, 2, 3)
    sb = (3,) if vec_b else (*bb, 3, 2)
    check_grad(mx.matmul, [R(*sa), R(*sb)])


def test_products_grad():
    check_grad(lambda c, a, b: mx.addmm(c, a, b, alpha=2.0, beta=0.5), [R(1, 2), R(3, 4), R(4, 2)])
    check_grad(lambda c, a, b: mx.addmm(c, a, b), [R(3, 1), R(2, 3, 4), R(4, 2)])
    check_grad(lambda a, b: mx.tensordot(a, b, ([0, 2], [1, 0])), [R(2, 3, 4), R(4, 2, 5)])
    check_grad(lambda a, b: mx.tensordot(a, b, 1), [R(2, 3), R(3, 4)])
    check_grad(mx.inner, [R(2, 3), R(4, 3)])
    check_grad(mx.outer, [R(2, 3), R(4)])
    check_grad(mx.kron, [R(2, 3), R(4)])
    check_grad(mx.kron, [R(2, 1, 3), R(2, 2)])
    check_grad(lambda a, b: mx.vecdot(a, b, axis=0), [R(3, 4), R(3, 1)])


@pytest.mark.parametrize(
    "eq,shapes",
    [("ij,jk->ik", [(2, 3), (3, 4)]), ("ii->i", [(3, 3)]), ("iij->", [(3, 3, 2)]),
     ("ij,j->", [(2, 3), (3,)]), ("...ij,...jk->...ik", [(2, 2, 3), (3, 4)]),
     ("ij,kj", [(2, 3), (1, 3)]), ("ij->j", [(2, 3)]), ("bij,bjk,kl->bil", [(2, 2, 3), (2, 3, 2), (2, 2)])],
)  # fmt: skip
def test_einsum_grad(eq, shapes):
    check_grad(lambda *ops: mx.einsum(eq, *ops), [R(*s) for s in shapes])


def test_products_vmap():
    check_vmap(mx.matmul, [R(5, 3, 4), R(4, 2)], (0, None))
    check_vmap(mx.matmul, [R(3, 5, 4), R(5, 4, 2)], (1, 0))
    check_vmap(mx.matmul, [R(4, 5), R(4, 2)], (1, None))
    check_vmap(mx.matmul, [R(4, 5), R(5, 4)], (1, 0))
    check_vmap(mx.matmul, [R(2, 3, 4), R(5, 4)], (None, 0))
    check_vmap(mx.matmul, [R(5, 2, 3, 4), R(5, 4, 2)], (0, 0))
    f = lambda c, a, b: mx.addmm(c, a, b, alpha=2.0, beta=0.5)  # noqa: E731
    check_vmap(f, [R(5, 3, 2), R(5, 3, 4), R(4, 2)], (0, 0, None))
    check_vmap(f, [R(3, 2), R(5, 3, 4), R(4, 2)], (None, 0, None))
    check_vmap(f, [R(2, 5), R(3, 4), R(4, 2)], (1, None, None))
    td = lambda a, b: mx.tensordot(a, b, ([0, 2], [1, 0]))  # noqa: E731
    check_vmap(td, [R(2, 3, 5, 4), R(4, 2, 5)], (2, None))
    check_vmap(td, [R(2, 3, 4), R(4, 5, 2, 5)], (None, 1))
    check_vmap(td, [R(2, 3, 5, 4), R(4, 5, 2, 5)], (2, 1))
    check_vmap(mx.outer, [R(2, 5), R(3)], (1, None))
    check_vmap(mx.outer, [R(5, 2), R(5, 3)], (0, 0))
    check_vmap(mx.kron, [R(2, 5), R(3, 2)], (1, None))
    check_vmap(mx.kron, [R(5, 2), R(3, 5)], (0, 1))
    check_vmap(lambda a, b: mx.vecdot(a, b, axis=0), [R(3, 5, 4), R(3, 1)], (1, None))
    check_vmap(lambda a, b: mx.einsum("ij,jk->ik", a, b), [R(2, 3, 5), R(3, 4)], (2, None))
    check_vmap(lambda a, b: mx.einsum("...ij,...jk->...ik", a, b), [R(2, 5, 3), R(5, 3, 4)], (1, 0))


def test_matmul_second_derivative():
    a = R(3, 3)
    f = lambda x: mx.sum(mx.matmul(x, x) * x)  # noqa: E731
    g = lambda x: mx.sum(mx.grad(f)(x) * mx.sin(x))  # noqa: E731
    check_grad(lambda x: mx.grad(f)(x), [a], rtol=1e-5)
    h = np.array(mx.grad(g)(a))
    eps = 1e-6
    fd = np.zeros((3, 3))
    x = np.array(a)
    for i in np.ndindex(3, 3):
        xp_, xm_ = x.copy(), x.copy()
        xp_[i] += eps
        xm_[i] -= eps
        fd[i] = (g(f64(xp_)).item() - g(f64(xm_)).item()) / (2 * eps)
    np.testing.assert_allclose(h, fd, rtol=1e-5, atol=1e-6)


@needs_mlx
def test_complex_products_match_mlx():
    rng = np.random.default_rng(3)
    a = (rng.standard_normal((2, 3)) + 1j * rng.standard_normal((2, 3))).astype(np.complex64)
    b = (rng.standard_normal((3, 2)) + 1j * rng.standard_normal((3, 2))).astype(np.complex64)
    c = (rng.standard_normal((2, 2)) + 1j * rng.standard_normal((2, 2))).astype(np.complex64)
    cases = [
        (lambda m, x, y: m.matmul(x, y), (a, b), c),
        (lambda m, x, y: m.einsum("ij,jk->ik", x, y), (a, b), c),
        (lambda m, x, y: m.vecdot(x, y), (a, b.T), c[:, 0]),
    ]
    for fn, (x, y), cot in cases:
        _, ours = mx.vjp(
            lambda p, q, fn=fn: fn(mx, p, q), [mx.array(x), mx.array(y)], [mx.array(cot)]
        )
        _, ref = mlx.vjp(
            lambda p, q, fn=fn: fn(mlx, p, q), [mlx.array(x), mlx.array(y)], [mlx.array(cot)]
        )
        for o, r in zip(ours, ref):
            np.testing.assert_allclose(np.array(o), np.array(r), rtol=1e-5, atol=1e-5)


# -- mx.linalg -----------------------------------------------------------------------------


def test_linalg_grads():
    check_grad(mx.linalg.inv, [well(3, 3)])
    check_grad(mx.linalg.inv, [well(2, 3, 3)])
    check_grad(lambda a: mx.linalg.tri_inv(a), [well(3, 3)])
    check_grad(lambda a: mx.linalg.tri_inv(a, upper=True), [well(3, 3)])
    check_grad(lambda a: mx.linalg.cholesky_inv(a), [well(3, 3)])
    check_grad(lambda a: mx.linalg.cholesky_inv(a, upper=True), [well(3, 3)])
    check_grad(mx.linalg.solve, [well(3, 3), R(3, 2)])
    check_grad(mx.linalg.solve, [well(2, 3, 3), R(3)])
    check_grad(mx.linalg.solve, [well(3, 3), R(2, 3, 2)])
    check_grad(lambda a, b: mx.linalg.solve_triangular(a, b, upper=True), [well(3, 3), R(3, 2)])
    check_grad(lambda a, b: mx.linalg.solve_triangular(a, b), [well(3, 3), R(3)])
    check_grad(mx.linalg.det, [well(2, 3, 3)])
    check_grad(lambda a: mx.linalg.slogdet(a)[1], [well(3, 3)])
    check_grad(lambda a, b: mx.linalg.cross(a, b), [R(4, 3), R(3)])
    check_grad(lambda a, b: mx.linalg.cross(a, b, axis=0), [R(2, 4), R(3, 1)])


@pytest.mark.parametrize(
    "kw",
    [{}, {"axis": 1, "keepdims": True}, {"ord": "fro", "axis": (0, 1)}, {"ord": 2, "axis": 0},
     {"ord": 1, "axis": 1}, {"ord": 3, "axis": 1}, {"ord": float("inf"), "axis": 0},
     {"ord": -float("inf"), "axis": 1}, {"ord": 1}, {"ord": float("inf")}, {"ord": -1},
     {"keepdims": True}],
)  # fmt: skip
def test_norm_grad(kw):
    check_grad(lambda a: mx.linalg.norm(a, **kw), [R(3, 4)])


@pytest.mark.parametrize("upper", [False, True])
def test_cholesky_grad_symmetric(upper):
    """The symmetric convention: derivatives along symmetric directions."""
    a = spd(3, 3)
    c = R(3, 3)
    _, (g,) = mx.vjp(lambda x: mx.linalg.cholesky(x, upper=upper), [a], [c])
    g = np.array(g)
    np.testing.assert_allclose(g, g.T, atol=1e-12)
    eps = 1e-6
    for _ in range(3):
        s = _r.standard_normal((3, 3))
        s = s + s.T
        fp = np.array(mx.linalg.cholesky(f64(np.array(a) + eps * s), upper=upper))
        fm = np.array(mx.linalg.cholesky(f64(np.array(a) - eps * s), upper=upper))
        fd = np.sum((fp - fm) / (2 * eps) * np.array(c))
        np.testing.assert_allclose(np.sum(g * s), fd, rtol=1e-5)
        _, (t,) = mx.jvp(lambda x: mx.linalg.cholesky(x, upper=upper), [a], [f64(s)])
        np.testing.assert_allclose(np.array(t), (fp - fm) / (2 * eps), rtol=1e-5, atol=1e-7)


def test_linalg_vmap():
    check_vmap(mx.linalg.inv, [moved(well(4, 3, 3), 0, 1)], 1)
    check_vmap(mx.linalg.det, [moved(well(4, 3, 3), 0, 2)], 2)
    check_vmap(lambda a: mx.linalg.slogdet(a), [well(4, 3, 3)], 0)
    check_vmap(lambda a: mx.linalg.cholesky(a), [spd(4, 3, 3)], 0)
    check_vmap(lambda a: mx.linalg.eigvalsh(a), [spd(4, 3, 3)], 0)
    check_vmap(lambda a: mx.linalg.svd(a, compute_uv=False), [R(3, 4, 2)], 1)
    check_vmap(lambda a: mx.linalg.qr(a)[1], [R(3, 4, 3)], 1)
    check_vmap(lambda a: mx.linalg.lu(a)[2], [R(3, 4, 3)], 0)
    check_vmap(mx.linalg.solve, [moved(well(4, 3, 3), 0, 1), R(3, 4)], (1, None))
    check_vmap(mx.linalg.solve, [well(3, 3), R(3, 4)], (None, 1))
    check_vmap(mx.linalg.solve, [well(3, 3), R(3, 4, 2)], (None, 1))
    check_vmap(mx.linalg.solve, [well(4, 3, 3), R(3, 2, 4)], (0, 2))
    check_vmap(lambda a, b: mx.linalg.solve_triangular(a, b), [well(4, 3, 3), R(3)], (0, None))
    check_vmap(lambda a, b: mx.linalg.cross(a, b), [R(4, 5, 3), R(3)], (1, None))
    check_vmap(lambda a: mx.linalg.norm(a), [R(4, 5, 3)], 1)
    check_vmap(lambda a: mx.linalg.norm(a, keepdims=True), [R(4, 5, 3)], 1)
    check_vmap(lambda a: mx.linalg.norm(a, ord=1, axis=0), [R(4, 5, 3)], 1)


@pytest.mark.parametrize(
    "fn",
    [lambda a: mx.linalg.qr(a)[0], lambda a: mx.linalg.svd(a, compute_uv=False),
     lambda a: mx.linalg.eigh(a)[0], lambda a: mx.linalg.eigvalsh(a), lambda a: mx.linalg.pinv(a),
     lambda a: mx.linalg.norm(a, ord=2), lambda a: mx.linalg.lu(a)[1]],
)  # fmt: skip
def test_no_derivative_as_mlx(fn):
    a = spd(3, 3)
    with pytest.raises(ValueError, match=r"\[linalg::"):
        mx.vjp(fn, [a], [mx.ones_like(fn(a))])
    with pytest.raises(ValueError, match=r"\[linalg::"):
        mx.jvp(fn, [a], [mx.ones_like(a)])


@needs_mlx
def test_linalg_grads_match_mlx():
    a = np.array(well(3, 3)).astype(np.float32)
    cases = [
        lambda m, x: m.linalg.det(x, stream=m.cpu),
        lambda m, x: m.linalg.slogdet(x, stream=m.cpu)[1],
        lambda m, x: m.linalg.norm(x),
        lambda m, x: m.linalg.norm(x, ord=1),
        lambda m, x: m.linalg.norm(x, ord=3, axis=1).sum(),
        lambda m, x: m.linalg.cross(x, x[::-1] * 2, stream=m.cpu).sum(),
    ]
    for fn in cases:
        ours = np.array(mx.grad(lambda x, fn=fn: fn(mx, x))(mx.array(a)))
        ref = np.array(mlx.grad(lambda x, fn=fn: fn(mlx, x))(mlx.array(a)))
        np.testing.assert_allclose(ours, ref, rtol=1e-4, atol=1e-5)
