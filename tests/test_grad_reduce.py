"""Transform rules of the reductions (and softmax): vjp / jvp against finite differences in
float64, vjp and jvp consistent, vmap against a loop, MLX's conventions on ties and zeros."""

from __future__ import annotations

import numpy as np
import pytest

import umx as mx
from tests.helpers import mlx, needs_mlx

F64 = mx.float64


def a64(x) -> mx.array:
    return mx.array(np.asarray(x, dtype=np.float64), dtype=F64)


def fd_check(f, x: np.ndarray, rng, *, eps=1e-6, tol=1e-6, directions=2) -> None:
    """vjp and jvp of ``f`` at ``x`` against central differences along random directions:
    ``jvp(v) == (f(x + eps v) - f(x - eps v)) / 2 eps`` and ``<vjp(c), v> == <c, jvp(v)>``."""
    xa = a64(x)
    out = f(xa)
    # Infinite outputs (the identity that exclusive scans start with) have no
    # differences; their derivatives must be zero.
    fin = np.isfinite(np.array(out))
    c = np.where(fin, rng.standard_normal(out.shape), 0.0)
    _, (g,) = mx.vjp(f, [xa], [a64(c)])
    assert g.shape == xa.shape and g.dtype == F64
    g = np.array(g)
    for _ in range(directions):
        v = rng.standard_normal(x.shape)
        with np.errstate(invalid="ignore"):
            d = (np.array(f(a64(x + eps * v))) - np.array(f(a64(x - eps * v)))) / (2 * eps)
        d = np.where(fin, d, 0.0)
        _, (jv,) = mx.jvp(f, [xa], [a64(v)])
        assert jv.shape == out.shape
        np.testing.assert_allclose(np.array(jv), d, rtol=tol, atol=tol)
        np.testing.assert_allclose(np.sum(g * v), np.sum(c * d), rtol=tol, atol=tol)


def loop_check(f, xs, in_axes, tol=1e-6) -> None:
    """``vmap(f, in_axes)`` equals stacking ``f`` over the mapped axis slice by slice."""
    arrs = [a64(x) if np.asarray(x).dtype.kind == "f" else mx.array(x) for x in xs]
    got = mx.vmap(f, in_axes=in_axes)(*arrs)
    size = next(np.shape(x)[a] for x, a in zip(xs, in_axes) if a is not None)
    outs = []
    for b in range(size):
        sl = [x if a is None else mx.take(x, b, axis=a) for x, a in zip(arrs, in_axes)]
        outs.append(f(*sl))
    if isinstance(got, (list, tuple)):
        for k, g in enumerate(got):
            np.testing.assert_allclose(
                np.array(g), np.stack([np.array(o[k]) for o in outs]), rtol=tol, atol=tol
            )
    else:
        exp = np.stack([np.array(o) for o in outs])
        assert tuple(got.shape) == exp.shape and got.dtype == outs[0].dtype
        np.testing.assert_allclose(np.array(got), exp, rtol=tol, atol=tol)


REDUCTIONS = {
    "sum": mx.sum,
    "mean": mx.mean,
    "prod": mx.prod,
    "max": mx.max,
    "min": mx.min,
    "logsumexp": mx.logsumexp,
    "median": mx.median,
    "var": mx.var,
    "var_ddof1": lambda x, axis=None, keepdims=False: mx.var(x, axis, keepdims, ddof=1),
    "std": mx.std,
    "std_ddof1": lambda x, axis=None, keepdims=False: mx.std(x, axis, keepdims, ddof=1),
}
AXES = [None, 0, -1, (0, 2), ()]


@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("axis", AXES, ids=str)
@pytest.mark.parametrize("name", list(REDUCTIONS))
def test_reduction_grads_vs_finite_differences(name, axis, keepdims, rng):
    op = REDUCTIONS[name]
    if axis == () and (name.startswith("std") or name.endswith("ddof1")):
        pytest.skip("one-element deviations: NaN derivatives (as MLX), checked below")
    # Distinct values (no ties for max/min/median), away from zero (prod).
    x = rng.permutation(24).reshape(2, 3, 4) * 0.1 + 0.35
    x *= rng.choice([-1.0, 1.0], size=x.shape)
    fd_check(lambda a: op(a, axis=axis, keepdims=keepdims), x, rng)


def test_minmax_grads(rng):
    x = rng.permutation(24).reshape(4, 6).astype(np.float64)
    fd_check(lambda a: mx.minmax(a, axis=1)[0] + 2 * mx.minmax(a, axis=1)[1], x, rng)
    _, (lo, hi) = mx.jvp(lambda a: mx.minmax(a, axis=0, keepdims=True), [a64(x)], [a64(x * x)])
    np.testing.assert_allclose(np.array(lo), (x * x)[x.argmin(0), range(6)][None])
    np.testing.assert_allclose(np.array(hi), (x * x)[x.argmax(0), range(6)][None])


def test_grads_of_integer_like_reductions_are_zero():
    x = a64([[1.0, 0.0, 3.0], [2.0, 2.0, 0.5]])
    for f, out_dt in [
        (lambda a: mx.argmax(a, axis=1), mx.uint32),
        (lambda a: mx.argmin(a), mx.uint32),
        (lambda a: mx.all(a, axis=0), mx.bool_),
        (lambda a: mx.any(a, axis=1, keepdims=True), mx.bool_),
        (lambda a: mx.count_nonzero(a, axis=0), mx.int32),
    ]:
        out = f(x)
        _, (g,) = mx.vjp(f, [x], [mx.ones(out.shape, dtype=out_dt)])
        assert g.shape == x.shape and not np.array(g).any()
        _, (t,) = mx.jvp(f, [x], [mx.ones_like(x)])
        assert t.shape == out.shape and not np.array(t).astype(bool).any()


@needs_mlx
@pytest.mark.parametrize(
    "name, x",
    [
        ("max", [1.0, 3.0, 3.0, 2.0]),  # ties share the cotangent
        ("min", [[1.0, 1.0, 3.0], [0.0, 0.0, 0.0]]),
        ("prod", [2.0, 0.0, 3.0, 4.0]),  # one zero
        ("prod", [2.0, 0.0, 3.0, 0.0]),  # two zeros
        ("median", [2.0, 1.0, 3.0, 3.0]),  # even count: two middles
        ("median", [2.0, 2.0, 2.0]),  # ties: the stable argsort's pick
        ("median", [[4.0, 1.0, 2.0], [2.0, 5.0, 5.0]]),
        ("logsumexp", [2.0, 1.0, 3.0, 5.0, 0.0]),
        ("logsumexp", [-np.inf, -np.inf]),
        ("std", [2.0, 2.0]),  # zero deviation: NaN
        ("var", [[2.0, 1.0], [3.0, 5.0]]),
    ],
)
def test_grads_match_mlx_on_ties_and_zeros(name, x):
    x = np.asarray(x, dtype=np.float32)
    for axis in [None, -1]:
        ours = mx.grad(lambda a, axis=axis: getattr(mx, name)(a, axis=axis).sum())(mx.array(x))
        theirs = mlx.grad(lambda a, axis=axis: getattr(mlx, name)(a, axis=axis).sum())(mlx.array(x))
        np.testing.assert_allclose(np.array(ours), np.array(theirs), rtol=1e-6, equal_nan=True)


@needs_mlx
def test_var_with_ddof_past_the_count_matches_mlx():
    x = np.array([2.0, 1.0, 3.0], dtype=np.float32)
    for ddof in (3, 4):
        ours = np.array(mx.grad(lambda a, ddof=ddof: mx.var(a, ddof=ddof))(mx.array(x)))
        theirs = np.array(mlx.grad(lambda a, ddof=ddof: mlx.var(a, ddof=ddof))(mlx.array(x)))
        assert np.isnan(ours).all() and np.isnan(theirs).all()


@needs_mlx
def test_softmax_and_prod_grads_match_mlx(rng):
    x = rng.standard_normal((3, 5)).astype(np.float32)
    x[0, 1] = 0.0
    c = rng.standard_normal((3, 5)).astype(np.float32)
    for fn in ["softmax", "prod"]:

        def f(m, a, fn=fn):
            if fn == "softmax":
                return m.softmax(a, axis=1)
            return m.prod(a, axis=(0, 1), keepdims=True)

        out = f(mx, mx.array(x))
        cc = c if out.shape == x.shape else c[:1, :1]
        ours = mx.vjp(lambda a, f=f: f(mx, a), [mx.array(x)], [mx.array(cc)])[1][0]
        theirs = mlx.vjp(lambda a, f=f: f(mlx, a), [mlx.array(x)], [mlx.array(cc)])[1][0]
        np.testing.assert_allclose(np.array(ours), np.array(theirs), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("axis", [None, 1, (0, 1), -1], ids=str)
def test_softmax_grads(axis, rng):
    x = rng.standard_normal((3, 4, 2))
    fd_check(lambda a: mx.softmax(a, axis=axis), x, rng)
    fd_check(lambda a: mx.softmax(a, axis=axis, precise=True) * 3.0, x, rng)


@pytest.mark.parametrize("in_axis", [0, 1, 2])
@pytest.mark.parametrize("name", [*REDUCTIONS, "softmax"])
def test_reduction_vmap_vs_loop(name, in_axis, rng):
    op = mx.softmax if name == "softmax" else REDUCTIONS[name]
    x = rng.standard_normal((3, 4, 5))
    for axis in [None, 0, -1, (0, 1)] if name != "softmax" else [None, 0, (0, 1)]:
        for kd in (False, True):
            if name == "softmax":
                f = lambda a, axis=axis: op(a, axis=axis)  # noqa: E731
            else:
                f = lambda a, axis=axis, kd=kd: op(a, axis=axis, keepdims=kd)  # noqa: E731
            loop_check(f, [x], [in_axis])


@pytest.mark.parametrize("in_axis", [0, 2])
def test_vmap_of_integer_reductions(in_axis, rng):
    x = rng.integers(-2, 3, size=(3, 4, 5)).astype(np.float64)
    for f in [
        lambda a: mx.argmax(a),
        lambda a: mx.argmin(a, keepdims=True),
        lambda a: mx.argmax(a, axis=-1, keepdims=True),
        lambda a: mx.argmin(a, axis=0),
        lambda a: mx.all(a, axis=1),
        lambda a: mx.any(a),
        lambda a: mx.count_nonzero(a, axis=(0, 1), keepdims=True),
        lambda a: mx.minmax(a, axis=0),
    ]:
        loop_check(f, [x], [in_axis], tol=0)


def test_vmap_of_grad_and_grad_of_vmap(rng):
    x = rng.standard_normal((4, 5))
    g = mx.vmap(mx.grad(lambda a: mx.logsumexp(a)))(a64(x))
    e = np.exp(x - x.max(1, keepdims=True))
    np.testing.assert_allclose(np.array(g), e / e.sum(1, keepdims=True), rtol=1e-12)
    g2 = mx.grad(lambda a: mx.vmap(lambda r: mx.var(r))(a).sum())(a64(x))
    np.testing.assert_allclose(np.array(g2), 2 * (x - x.mean(1, keepdims=True)) / 5, rtol=1e-12)


@pytest.mark.parametrize("name", ["logsumexp", "var", "std", "prod", "max", "mean"])
def test_second_derivatives(name, rng):
    """Hessian-vector products of the reductions against differences of the gradient."""
    x = rng.permutation(12).reshape(3, 4) * 0.15 + 0.2
    op = getattr(mx, name)
    f = lambda a: op(a * a, axis=1).sum()  # noqa: E731
    grad = mx.grad(f)
    v = rng.standard_normal(x.shape)
    eps = 1e-6
    hv = (np.array(grad(a64(x + eps * v))) - np.array(grad(a64(x - eps * v)))) / (2 * eps)
    _, (jv,) = mx.jvp(grad, [a64(x)], [a64(v)])
    np.testing.assert_allclose(np.array(jv), hv, rtol=1e-5, atol=1e-6)
    h_rows = mx.grad(lambda a: (grad(a) * a64(v)).sum())(a64(x))
    np.testing.assert_allclose(np.array(h_rows), hv, rtol=1e-5, atol=1e-6)
