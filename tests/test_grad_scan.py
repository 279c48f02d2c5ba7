"""Transform rules of the scans: finite differences in float64 for every direction and
inclusiveness, MLX's gradients with zeros (cumprod) and ties (cummax / cummin), vmap."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import umx as mx
from tests.helpers import mlx, needs_mlx
from tests.test_grad_reduce import a64, fd_check, loop_check

SCANS = ["cumsum", "cumprod", "cummax", "cummin", "logcumsumexp"]
VARIANTS = list(itertools.product([None, 0, 1, -1], [False, True], [True, False]))


def _ids(v):
    return f"axis{v[0]}-{'rev' if v[1] else 'fwd'}-{'incl' if v[2] else 'excl'}"


@pytest.mark.parametrize("variant", VARIANTS, ids=_ids)
@pytest.mark.parametrize("name", SCANS)
def test_scan_grads_vs_finite_differences(name, variant, rng):
    axis, reverse, inclusive = variant
    op = getattr(mx, name)
    # Distinct values (no ties for cummax/cummin), nonzero (cumprod), of either sign.
    x = rng.permutation(24).reshape(4, 6) * 0.07 + 0.6
    x *= rng.choice([-1.0, 1.0], size=x.shape)
    fd_check(lambda a: op(a, axis, reverse=reverse, inclusive=inclusive), x, rng)


@pytest.mark.parametrize("variant", VARIANTS[4:], ids=_ids)  # axis 0, 1, -1
def test_cumprod_with_zeros_vs_finite_differences(variant, rng):
    """The derivative is a polynomial: exact at zeros, and so are central differences."""
    axis, reverse, inclusive = variant
    x = rng.standard_normal((5, 6))
    x[1, 2] = x[3, 2] = 0.0  # two zeros in a column
    x[2, 4] = 0.0  # one zero in a row
    x[:, 0] = 0.0
    fd_check(lambda a: mx.cumprod(a, axis, reverse=reverse, inclusive=inclusive), x, rng, tol=1e-5)


@needs_mlx
@pytest.mark.parametrize("variant", VARIANTS, ids=_ids)
@pytest.mark.parametrize(
    "name, x",
    [
        ("cumprod", [[2.0, 0.0, 3.0, 0.0, 5.0], [1.0, 2.0, 0.0, 4.0, 0.5]]),
        ("cummax", [[2.0, 1.0, 3.0, 3.0, 0.0], [1.0, 1.0, 1.0, 2.0, 2.0]]),
        ("cummin", [[2.0, 1.0, 3.0, 1.0, 1.0], [0.0, 4.0, 0.0, -1.0, -1.0]]),
        ("logcumsumexp", [[2.0, 1.0, 3.0, 3.0, -1.0], [0.5, -2.0, 1.0, 1.0, 0.0]]),
        ("cumsum", [[2.0, 1.0, 3.0, 3.0, -1.0], [0.5, -2.0, 1.0, 1.0, 0.0]]),
    ],
)
def test_scan_vjp_matches_mlx(name, x, variant):
    axis, reverse, inclusive = variant
    x = np.asarray(x, dtype=np.float32)
    shape = (x.size,) if axis is None else x.shape
    c = (np.arange(np.prod(shape), dtype=np.float32).reshape(shape) % 5) - 1.5

    def f(m):
        return lambda a: getattr(m, name)(a, axis, reverse=reverse, inclusive=inclusive)

    ours = mx.vjp(f(mx), [mx.array(x)], [mx.array(c)])[1][0]
    theirs = mlx.vjp(f(mlx), [mlx.array(x)], [mlx.array(c)])[1][0]
    np.testing.assert_allclose(np.array(ours), np.array(theirs), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("name", ["cummax", "cummin"])
def test_cummax_jvp_follows_the_latest_record(name, reverse):
    """With ties the tangent comes from the same element the cotangent goes to."""
    x = a64([3.0, 1.0, 3.0, 4.0, 4.0, 0.0])
    t = a64([1.0, 2.0, 4.0, 8.0, 16.0, 32.0])
    for inclusive in (True, False):
        f = lambda a, inc=inclusive: getattr(mx, name)(a, reverse=reverse, inclusive=inc)  # noqa: E731
        out = f(x)
        _, (jv,) = mx.jvp(f, [x], [t])
        basis = np.eye(6)
        # jvp(t)_i = <e_i, J t> = <J^T e_i, t>: one vjp per output position.
        rows = [np.array(mx.vjp(f, [x], [a64(basis[i])])[1][0]) for i in range(6)]
        np.testing.assert_allclose(np.array(jv), np.array(rows) @ np.array(t))
        assert out.shape == jv.shape


@pytest.mark.parametrize("name", SCANS)
def test_scan_vmap_vs_loop(name, rng):
    op = getattr(mx, name)
    x = rng.standard_normal((3, 4, 5))
    for in_axis, axis, reverse, inclusive in itertools.product(
        [0, 1, 2], [None, 0, -1], [False, True], [True, False]
    ):
        f = lambda a, ax=axis, r=reverse, inc=inclusive: op(a, ax, reverse=r, inclusive=inc)  # noqa: E731
        loop_check(f, [x], [in_axis], tol=1e-12)


@pytest.mark.parametrize("name", SCANS)
def test_scan_second_derivatives(name, rng):
    x = rng.permutation(10).reshape(2, 5) * 0.1 + 0.3
    op = getattr(mx, name)
    grad = mx.grad(lambda a: (op(a * a, axis=1) * a64(np.arange(10.0).reshape(2, 5))).sum())
    v = rng.standard_normal(x.shape)
    eps = 1e-6
    hv = (np.array(grad(a64(x + eps * v))) - np.array(grad(a64(x - eps * v)))) / (2 * eps)
    _, (jv,) = mx.jvp(grad, [a64(x)], [a64(v)])
    np.testing.assert_allclose(np.array(jv), hv, rtol=1e-5, atol=1e-5)
    h = mx.grad(lambda a: (grad(a) * a64(v)).sum())(a64(x))
    np.testing.assert_allclose(np.array(h), hv, rtol=1e-5, atol=1e-5)


def test_cumsum_of_grad_in_vmap(rng):
    x = rng.standard_normal((4, 6))
    w = np.arange(6.0)
    g = mx.vmap(mx.grad(lambda a: (mx.cumsum(a, reverse=True) * a64(w)).sum()))(a64(x))
    np.testing.assert_allclose(np.array(g), np.broadcast_to(np.cumsum(w), x.shape))
