"""Transform rules of the creation ops: fill values broadcast by ``full`` / ``full_like``
get their gradient summed back, tril/triu are masks, and the input-less creation ops are
constants under every transform (zero gradients, unbatched under vmap).

Gradients go through ``mx.vjp`` / ``mx.jvp`` with explicit cotangents, so that only the
rules of the creation and shape families (and the engine's identity) are exercised.
"""

from __future__ import annotations

import numpy as np
import pytest

import umx as mx
from tests.helpers import mlx, needs_mlx
from umx import _rules
from umx.ops import creation

F64 = mx.float64


def _fd(f, x, c, eps=1e-4):
    """Finite-difference gradient of ``<c, f(x)>`` (``f`` maps a float64 umx array)."""

    def obj(v):
        return float(np.sum(np.array(f(mx.array(v, F64))) * c))

    g = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        xp, xm = x.copy(), x.copy()
        xp[idx] += eps
        xm[idx] -= eps
        g[idx] = (obj(xp) - obj(xm)) / (2 * eps)
    return g


CASES = {
    "full_array": (lambda v: mx.full((2, 3), v), (3,)),
    "full_column": (lambda v: mx.full((2, 4, 3), v), (4, 1)),
    "full_scalar_array": (lambda v: mx.full((2, 2), v), ()),
    "full_like_array": (lambda v: mx.full_like(mx.zeros((3, 2), F64), v), (2,)),
    "tril": (lambda x: mx.tril(x, -1), (3, 4)),
    "triu": (lambda x: mx.triu(x, 1), (2, 3, 3)),
    "tril_batched": (lambda x: mx.tril(x), (2, 3, 2)),
    "plus_constants": (
        lambda x: mx.concatenate([x, mx.zeros_like(x), mx.ones_like(x), mx.full_like(x, 2.5)]),
        (2, 3),
    ),
    "stack_arange": (
        lambda x: mx.stack([x, mx.arange(4, dtype=F64), mx.eye(4, dtype=F64)[1]]),
        (4,),
    ),
    "meshgrid": (lambda x: mx.meshgrid(x, x, indexing="ij")[0], (3,)),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_vjp_matches_finite_differences(name):
    f, shape = CASES[name]
    rng = np.random.default_rng(0)
    x = rng.normal(size=shape)
    out = f(mx.array(x, F64))
    c = rng.normal(size=out.shape)
    (o,), (g,) = mx.vjp(f, [mx.array(x, F64)], [mx.array(c, F64)])
    assert o.shape == out.shape
    assert g.shape == shape and g.dtype == F64
    np.testing.assert_allclose(np.array(g), _fd(f, x, c), rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("name", sorted(CASES))
def test_jvp_is_consistent_with_vjp(name):
    f, shape = CASES[name]
    rng = np.random.default_rng(1)
    x, t = rng.normal(size=shape), rng.normal(size=shape)
    c = rng.normal(size=f(mx.array(x, F64)).shape)
    _, (g,) = mx.vjp(f, [mx.array(x, F64)], [mx.array(c, F64)])
    _, (jt,) = mx.jvp(f, [mx.array(x, F64)], [mx.array(t, F64)])
    assert float(np.sum(np.array(jt) * c)) == pytest.approx(
        float(np.sum(t * np.array(g))), rel=1e-9
    )


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("axis", [0, -1])
def test_vmap_matches_a_loop(name, axis):
    f, shape = CASES[name]
    x = np.random.default_rng(2).normal(size=(3,) + shape if axis == 0 else shape + (3,))
    xs = mx.array(x, F64)
    got = mx.vmap(f, in_axes=axis)(xs)
    ref = np.stack([np.array(f(mx.array(np.take(x, b, axis=axis), F64))) for b in range(3)])
    assert got.dtype == F64
    np.testing.assert_allclose(np.array(got), ref)


def test_full_with_a_batched_value_and_a_batched_shape_source():
    v = mx.array(np.arange(6.0).reshape(3, 2))
    out = mx.vmap(lambda u: mx.full((4, 2), u))(v)
    np.testing.assert_array_equal(
        np.array(out), np.broadcast_to(np.arange(6.0).reshape(3, 1, 2), (3, 4, 2))
    )
    # *_like of a mapped array: a constant of the slice's shape, broadcast over the batch
    out = mx.vmap(lambda u: mx.ones_like(u) * 0 + mx.full_like(u, 7.0), in_axes=1)(v)
    assert out.shape == (2, 3)
    np.testing.assert_array_equal(np.array(out), np.full((2, 3), 7.0))


def test_the_fill_gradient_sums_over_the_broadcast_axes():
    v = mx.array([1.0, 2.0, 3.0])
    _, (g,) = mx.vjp(lambda u: mx.full((2, 3), u), [v], [mx.ones((2, 3))])
    np.testing.assert_array_equal(np.array(g), [2.0, 2.0, 2.0])
    # full_like with an array value: cast to the like-array's dtype, then broadcast
    _, (g,) = mx.vjp(
        lambda u: mx.full_like(mx.zeros((4, 3)), u), [mx.array(1.0)], [mx.ones((4, 3))]
    )
    assert g.item() == 12.0


def test_creation_ops_are_constants():
    x = mx.array([[1.0, 2.0], [3.0, 4.0]])
    for f in (
        mx.zeros_like,
        mx.ones_like,
        lambda u: mx.full_like(u, 3.0),
        lambda u: mx.empty_like(u),
    ):
        _, (g,) = mx.vjp(f, [x], [mx.ones((2, 2))])
        np.testing.assert_array_equal(np.array(g), np.zeros((2, 2)))
        _, (t,) = mx.jvp(f, [x], [mx.ones((2, 2))])
        np.testing.assert_array_equal(np.array(t), np.zeros((2, 2)))
    out = mx.vmap(lambda u: mx.eye(2))(x)
    np.testing.assert_array_equal(np.array(out), np.stack([np.eye(2)] * 2))


_SOURCES = [creation.Full, creation.Zeros, creation.Arange, creation.Linspace, creation.Eye,
            creation.Tri, creation.Window]  # fmt: skip


@pytest.mark.parametrize("cls", _SOURCES, ids=lambda c: c.__name__)
def test_input_less_primitives_declare_constant_rules(cls):
    assert cls.vjp is _rules.zero_vjp
    assert cls.jvp is _rules.zero_jvp
    assert cls.vmap is _rules.vmap_by_loop


def test_source_vmap_by_loop_is_correct_when_reached():
    # The engine never reaches an input-less node (it depends on no mapped input), but
    # its declared vmap, the per-slice loop, still gives the right answer.
    from umx._vmap import loop_rule

    n = mx.arange(3.0)
    (out,), (ax,) = loop_rule(n, [], [], 2)
    assert ax == 0
    np.testing.assert_array_equal(np.array(out), [[0.0, 1.0, 2.0]] * 2)


def test_tril_rules_of_rules():
    x = mx.array(np.random.default_rng(3).normal(size=(3, 3)), F64)
    c = mx.array(np.random.default_rng(4).normal(size=(3, 3)), F64)

    def pullback(u):
        return mx.vjp(lambda v: mx.tril(v, 1), [x], [u])[1][0]

    _, (back,) = mx.vjp(pullback, [c], [c])
    np.testing.assert_allclose(np.array(back), np.tril(np.array(c), 1))
    got = mx.vmap(pullback)(mx.stack([c, 2 * c]))
    np.testing.assert_allclose(
        np.array(got), np.stack([np.tril(np.array(c), 1)] * 2) * np.array([1, 2])[:, None, None]
    )


@needs_mlx
@pytest.mark.parametrize("name", ["tril", "triu", "tril_batched", "meshgrid"])
def test_vjp_matches_mlx(name):
    f, shape = CASES[name]
    rng = np.random.default_rng(5)
    x = rng.normal(size=shape).astype(np.float32)
    c = rng.normal(size=f(mx.array(x, F64)).shape).astype(np.float32)
    _, (g,) = mx.vjp(f, [mx.array(x)], [mx.array(c)])
    gl = f.__globals__.copy()
    gl["mx"] = mlx
    fm = type(f)(f.__code__, gl)
    _, (ref,) = mlx.vjp(fm, [mlx.array(x)], [mlx.array(c)])
    np.testing.assert_allclose(np.array(g), np.array(ref), rtol=1e-5, atol=1e-6)
    bx = np.stack([x, -x])
    np.testing.assert_allclose(
        np.array(mx.vmap(f)(mx.array(bx))), np.array(mlx.vmap(fm)(mlx.array(bx)))
    )


@needs_mlx
def test_fill_gradient_is_that_of_mlx_broadcast_to():
    # MLX 0.32.4's own vjp of full/full_like with an array value multiplies the summed
    # cotangent by the value (d/dv sum(c * full(v)) comes out as v * sum(c)), which finite
    # differences refute; umx gives the gradient of the function, that of broadcast_to.
    rng = np.random.default_rng(6)
    v = rng.normal(size=(4, 1)).astype(np.float32)
    c = rng.normal(size=(2, 4, 3)).astype(np.float32)
    _, (g,) = mx.vjp(lambda u: mx.full((2, 4, 3), u), [mx.array(v)], [mx.array(c)])
    _, (r,) = mlx.vjp(lambda u: mlx.broadcast_to(u, (2, 4, 3)), [mlx.array(v)], [mlx.array(c)])
    np.testing.assert_allclose(np.array(g), np.array(r), rtol=1e-5)
    np.testing.assert_allclose(np.array(g), c.sum(axis=(0, 2))[:, None], rtol=1e-5)
