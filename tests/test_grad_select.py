"""Transform rules of where, clip, isclose and array_equal: finite differences in float64,
MLX's conventions at the clip bounds, vmap with several (possibly unbatched) operands."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import umx as mx
from tests.helpers import mlx, needs_mlx
from tests.test_grad_reduce import a64, fd_check, loop_check


def np_unbroadcast(g: np.ndarray, shape: tuple) -> np.ndarray:
    g = g.sum(axis=tuple(range(g.ndim - len(shape))))
    return g.sum(axis=tuple(i for i, n in enumerate(shape) if n == 1), keepdims=True).reshape(shape)


SHAPES = [((3, 4), (3, 4), (3, 4)), ((4,), (3, 1), ()), ((3, 1), (1,), (3, 4)), ((), (2, 3), (3,))]


@pytest.mark.parametrize("shapes", SHAPES, ids=str)
def test_where_grads(shapes, rng):
    cs, xs, ys = shapes
    cond = mx.array(rng.random(cs) > 0.5)
    x = rng.standard_normal(xs)
    y = rng.standard_normal(ys)
    fd_check(lambda a: mx.where(cond, a, a64(y)), x, rng)
    fd_check(lambda b: mx.where(cond, a64(x), b), y, rng)
    # Both at once, and the condition (even a float one) gets no gradient.
    out = mx.where(cond, a64(x), a64(y))
    c = rng.standard_normal(out.shape)
    condf = a64(np.array(cond))
    _, (gc, gx, gy) = mx.vjp(lambda k, a, b: mx.where(k, a, b), [condf, a64(x), a64(y)], [a64(c)])
    m = np.broadcast_to(np.array(cond), c.shape)
    assert not np.array(gc).any() and gc.shape == condf.shape
    np.testing.assert_allclose(np.array(gx), np_unbroadcast(np.where(m, c, 0), xs))
    np.testing.assert_allclose(np.array(gy), np_unbroadcast(np.where(m, 0, c), ys))
    _, (t,) = mx.jvp(lambda k: mx.where(k, a64(x), a64(y)), [condf], [mx.ones_like(condf)])
    assert t.shape == out.shape and not np.array(t).any()


@pytest.mark.parametrize("bounds", ["scalars", "arrays", "lo_only", "hi_only", "array_lo"])
def test_clip_grads_vs_finite_differences(bounds, rng):
    x = rng.standard_normal((3, 5))
    lo = rng.standard_normal((1, 5)) - 0.5
    hi = lo + rng.random((3, 1)) + 0.3
    # Keep x away from the kinks, where differences straddle two branches.
    for b in (lo, hi):
        near = np.abs(x - b) < 1e-3
        x = np.where(near, x + 0.01, x)
    fl = {
        "scalars": lambda a: mx.clip(a, -0.5, 0.5),
        "arrays": lambda a: mx.clip(a, a64(lo), a64(hi)),
        "lo_only": lambda a: mx.clip(a, a64(lo), None),
        "hi_only": lambda a: mx.clip(a, None, a64(hi)),
        "array_lo": lambda a: mx.clip(a, a64(lo), 0.7),
    }[bounds]
    fd_check(fl, x, rng)
    if bounds == "arrays":
        fd_check(lambda b: mx.clip(a64(x), b, a64(hi)), lo, rng)
        fd_check(lambda b: mx.clip(a64(x), a64(lo), b), hi, rng)


@needs_mlx
@pytest.mark.parametrize(
    "lo, hi",
    [
        (1.0, 2.0),
        ([1.0, 1.0, 1.0, 1.0, 1.0], 2.0),
        (2.0, 1.0),
        (1.0, None),
        (None, [2.0, 0.0, 2.0, 2.0, 2.0]),
    ],
    ids=str,
)
def test_clip_grads_at_the_bounds_match_mlx(lo, hi):
    """Ties go to the bounds; with lo > hi everything goes to hi (as MLX)."""
    x = np.array([0.5, 1.0, 1.5, 2.0, 3.0], dtype=np.float32)
    args = [x] + [np.asarray(b, dtype=np.float32) for b in (lo, hi) if b is not None]
    argnums = tuple(range(len(args)))

    def f(m):
        def g(a, *bs):
            it = iter(bs)
            return m.clip(
                a, next(it) if lo is not None else None, next(it) if hi is not None else None
            ).sum()

        return g

    ours = mx.grad(f(mx), argnums=argnums)(*[mx.array(a) for a in args])
    theirs = mlx.grad(f(mlx), argnums=argnums)(*[mlx.array(a) for a in args])
    for o, t in zip(ours, theirs):
        np.testing.assert_array_equal(np.array(o), np.array(t))


@pytest.mark.parametrize("with_lo, with_hi", [(True, True), (True, False), (False, True)])
def test_clip_jvp_is_the_transposed_vjp(with_lo, with_hi, rng):
    x = rng.standard_normal((4, 3))
    x[0, 0] = 0.0  # a tie with a bound
    lo = np.array([0.0, -0.5, -2.0]) if with_lo else None
    hi = np.array([[0.0], [0.5], [2.0], [0.1]]) if with_hi else None
    ins = [x] + [b for b in (lo, hi) if b is not None]

    def f(a, *bs):
        it = iter(bs)
        return mx.clip(a, next(it) if with_lo else None, next(it) if with_hi else None)

    ts = [rng.standard_normal(np.shape(a)) for a in ins]
    c = rng.standard_normal(x.shape)
    _, (jv,) = mx.jvp(f, [a64(a) for a in ins], [a64(t) for t in ts])
    _, gs = mx.vjp(f, [a64(a) for a in ins], [a64(c)])
    assert jv.shape == x.shape
    lhs = np.sum(np.array(jv) * c)
    rhs = sum(np.sum(np.array(g) * t) for g, t in zip(gs, ts))
    assert lhs == pytest.approx(rhs, rel=1e-12, abs=1e-12)


AXES3 = [a for a in itertools.product([0, 1, None], repeat=3) if a != (None, None, None)]


@pytest.mark.parametrize("in_axes", AXES3, ids=str)
def test_where_vmap(in_axes, rng):
    b = 3
    base = [(2, 4), (2, 4), (4,)]  # condition, x, y per slice (y broadcasts)
    xs = []
    for s, a in zip(base, in_axes):
        shape = s if a is None else s[:a] + (b,) + s[a:]
        xs.append(rng.standard_normal(shape))
    xs[0] = xs[0] > 0
    loop_check(lambda c, x, y: mx.where(c, x, y), xs, list(in_axes), tol=0)


@pytest.mark.parametrize("in_axes", AXES3, ids=str)
def test_clip_vmap(in_axes, rng):
    b = 3
    base = [(2, 4), (4,), (2, 1)]
    xs = []
    for s, a in zip(base, in_axes):
        shape = s if a is None else s[:a] + (b,) + s[a:]
        xs.append(rng.standard_normal(shape))
    loop_check(lambda x, lo, hi: mx.clip(x, lo, hi), xs, list(in_axes), tol=0)
    loop_check(lambda x, lo, hi: mx.clip(x, None, hi + lo), xs, list(in_axes), tol=1e-15)
    if in_axes[0] is not None:
        loop_check(lambda x: mx.clip(x, -0.2, 0.3), xs[:1], [in_axes[0]], tol=0)


@pytest.mark.parametrize("in_axes", [(0, 0), (1, None), (None, 0), (2, 1)], ids=str)
def test_isclose_and_array_equal_vmap(in_axes, rng):
    b = 4
    base = [(2, 3), (2, 3)]
    xs = []
    for s, a in zip(base, in_axes):
        shape = s if a is None else s[:a] + (b,) + s[a:]
        xs.append(np.round(rng.standard_normal(shape)))
    xs[0].flat[::3] = np.nan
    for equal_nan in (False, True):
        loop_check(
            lambda x, y, e=equal_nan: mx.isclose(x, y, equal_nan=e), xs, list(in_axes), tol=0
        )
        loop_check(
            lambda x, y, e=equal_nan: mx.array_equal(x, y, equal_nan=e), xs, list(in_axes), tol=0
        )
    # Slices equal to the unbatched operand: true for some, not all.
    same = np.stack([np.ones((2, 3))] * 2 + [np.zeros((2, 3))])
    r = mx.vmap(lambda x, y: mx.array_equal(x, y), in_axes=(0, None))(
        a64(same), a64(np.ones((2, 3)))
    )
    assert r.tolist() == [True, True, False]


def test_isclose_and_array_equal_have_zero_grads():
    x, y = a64([1.0, 2.0, 3.0]), a64([1.0, 2.5, 3.0])
    for f in [lambda a, b: mx.isclose(a, b), lambda a, b: mx.array_equal(a, b)]:
        out = f(x, y)
        _, gs = mx.vjp(f, [x, y], [mx.ones(out.shape, dtype=mx.bool_)])
        assert all(g.shape == (3,) and not np.array(g).any() for g in gs)
        _, (t,) = mx.jvp(f, [x, y], [mx.ones_like(x), mx.ones_like(y)])
        assert t.shape == out.shape and not np.array(t).any()


def test_second_derivative_through_where_and_clip(rng):
    x = rng.standard_normal((6,))
    f = lambda a: (mx.where(a > 0, a * a * a, mx.clip(a, -0.5, None) ** 2)).sum()  # noqa: E731
    h = mx.grad(lambda a: mx.grad(f)(a).sum())(a64(x))
    expect = np.where(x > 0, 6 * x, np.where(x > -0.5, 2.0, 0.0))
    np.testing.assert_allclose(np.array(h), expect, rtol=1e-12)
