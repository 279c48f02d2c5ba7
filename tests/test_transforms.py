"""Function transforms: vjp/jvp against finite differences, vmap against loops, MLX's API."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import umx as mx
from tests.helpers import mlx, needs_mlx


def fd_grad(f, x: np.ndarray, eps=1e-6) -> np.ndarray:
    """Central finite differences of scalar ``f`` (NumPy float64 in, float out)."""
    g = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"])
    for _ in it:
        i = it.multi_index
        xp, xm = x.copy(), x.copy()
        xp[i] += eps
        xm[i] -= eps
        g[i] = (f(xp) - f(xm)) / (2 * eps)
    return g


def test_grad_simple_and_higher_order():
    f = lambda x: x * x * x  # noqa: E731
    x = mx.array(2.0)
    assert mx.grad(f)(x).item() == pytest.approx(12.0)
    assert mx.grad(mx.grad(f))(x).item() == pytest.approx(12.0)
    assert mx.grad(mx.grad(mx.grad(f)))(x).item() == pytest.approx(6.0)


def test_value_and_grad_trees_and_aux():
    def loss(params, x):
        return (params["w"] * x + params["b"][0]).sum(), x

    params = {"w": mx.array([1.0, 2.0]), "b": [mx.array(0.5)]}
    (value, aux), g = mx.value_and_grad(loss)(params, mx.array([3.0, 4.0]))
    assert value.item() == pytest.approx(3 + 8 + 1.0)
    assert g["w"].tolist() == [3.0, 4.0]
    assert g["b"][0].item() == pytest.approx(2.0)
    assert aux.tolist() == [3.0, 4.0]


def test_argnums_argnames():
    f = lambda x, y: x * y  # noqa: E731
    gx, gy = mx.grad(f, argnums=(0, 1))(mx.array(2.0), mx.array(3.0))
    assert (gx.item(), gy.item()) == (3.0, 2.0)
    g = mx.grad(lambda x, y=None: x * y, argnames=["y"])(mx.array(2.0), y=mx.array(3.0))
    assert g[0] is None and g[1]["y"].item() == 2.0


def test_grad_errors():
    with pytest.raises(ValueError, match=r"\[vjp\]|\[grad\]"):
        mx.grad(lambda x: x * 2)(mx.array([1.0, 2.0]))
    with pytest.raises(
        ValueError, match=r"\[grad\] Can't compute the gradient of argument index 3"
    ):
        mx.grad(lambda x: x * 2, argnums=3)(mx.array(1.0))
    with pytest.raises(ValueError, match="only arrays"):
        mx.grad(lambda x: x * 2)(1.0)


def test_vjp_jvp_api():
    out, vjps = mx.vjp(lambda x: x * x, [mx.array(3.0)], [mx.array(1.0)])
    assert out[0].item() == 9.0 and vjps[0].item() == 6.0
    out, jvps = mx.jvp(lambda x: x * x, [mx.array(3.0)], [mx.array(1.0)])
    assert out[0].item() == 9.0 and jvps[0].item() == 6.0
    with pytest.raises(ValueError, match=r"\[vjp\]"):
        mx.vjp(lambda x: x, [mx.array([1.0])], [mx.array(1.0)])


def test_zero_gradient_ops_as_mlx():
    x = mx.array([1.0, 2.0])
    assert mx.grad(lambda x: (x > 1).astype(mx.float32).sum())(x).tolist() == [0.0, 0.0]
    assert mx.grad(lambda x: mx.stop_gradient(x).sum() + x.sum())(x).tolist() == [1.0, 1.0]


def test_eval_inside_traced_function_keeps_the_graph():
    def f(x):
        y = mx.exp(x)
        mx.eval(y)
        return y.sum()

    g = mx.grad(f)(mx.array([0.0, 1.0]))
    np.testing.assert_allclose(np.array(g), np.exp([0.0, 1.0]), rtol=1e-6)


def test_derivative_ops_run_on_the_forward_stream():
    s = mx.new_stream(mx.cpu)
    x = mx.array([1.0, 2.0])
    g = mx.grad(lambda x: mx.sum(mx.exp(x, stream=s), stream=s))(x)
    np.testing.assert_allclose(np.array(g), np.exp([1.0, 2.0]), rtol=1e-6)
    streams = set()
    stack, seen = [g], set()
    while stack:
        n = stack.pop()
        if id(n) in seen or n._prim is None:
            continue
        seen.add(id(n))
        streams.add(n._stream)
        stack.extend(n._inputs)
    assert s in streams


_UNARY = [
    "exp",
    "log",
    "sin",
    "cos",
    "tanh",
    "sqrt",
    "sigmoid",
    "square",
    "arctan",
    "log1p",
    "erf",
    "abs",
]


@pytest.mark.parametrize("name", _UNARY)
def test_unary_vjp_and_jvp_match_finite_differences(name):
    rng = np.random.default_rng(0)
    x = rng.uniform(0.2, 0.9, size=(3, 2))
    f = getattr(mx, name)
    fx = lambda v: float(np.array(mx.sum(f(mx.array(v, mx.float64)))))  # noqa: E731
    g = mx.grad(lambda v: mx.sum(f(v)))(mx.array(x, mx.float64))
    np.testing.assert_allclose(np.array(g), fd_grad(fx, x), rtol=1e-5, atol=1e-7)
    t = rng.normal(size=x.shape)
    _, (jt,) = mx.jvp(lambda v: f(v), [mx.array(x, mx.float64)], [mx.array(t, mx.float64)])
    np.testing.assert_allclose(np.array(jt), np.array(g) * t, rtol=1e-5, atol=1e-7)


_BINARY = [
    "add",
    "subtract",
    "multiply",
    "divide",
    "power",
    "maximum",
    "minimum",
    "arctan2",
    "logaddexp",
]


@pytest.mark.parametrize("name", _BINARY)
def test_binary_vjp_with_broadcasting(name):
    rng = np.random.default_rng(1)
    x = rng.uniform(0.5, 1.5, size=(2, 3))
    y = rng.uniform(0.5, 1.5, size=(3,))
    f = getattr(mx, name)
    gx, gy = mx.grad(lambda a, b: mx.sum(f(a, b)), argnums=(0, 1))(
        mx.array(x, mx.float64), mx.array(y, mx.float64)
    )
    fx = lambda v: float(np.array(mx.sum(f(mx.array(v, mx.float64), mx.array(y, mx.float64)))))  # noqa: E731
    fy = lambda v: float(np.array(mx.sum(f(mx.array(x, mx.float64), mx.array(v, mx.float64)))))  # noqa: E731
    np.testing.assert_allclose(np.array(gx), fd_grad(fx, x), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(np.array(gy), fd_grad(fy, y), rtol=1e-5, atol=1e-7)


@given(st.integers(1, 4), st.integers(1, 3), st.sampled_from([0, 1]))
def test_vmap_matches_a_loop(b, n, axis):
    rng = np.random.default_rng(b * 10 + n)
    shape = (b, n) if axis == 0 else (n, b)
    x = rng.normal(size=shape).astype(np.float32)
    y = rng.normal(size=(n,)).astype(np.float32)
    f = lambda u, v: mx.tanh(u) * v + mx.exp(v)  # noqa: E731
    out = mx.vmap(f, in_axes=(axis, None))(mx.array(x), mx.array(y))
    ref = np.stack([np.array(f(mx.array(np.take(x, i, axis=axis)), mx.array(y))) for i in range(b)])
    np.testing.assert_allclose(np.array(out), ref, rtol=1e-5, atol=1e-6)


def test_vmap_nested_and_out_axes():
    x = mx.array(np.arange(24, dtype=np.float32).reshape(2, 3, 4))
    f = mx.vmap(mx.vmap(lambda v: v * 2 + 1))
    np.testing.assert_allclose(np.array(f(x)), np.array(x) * 2 + 1)
    g = mx.vmap(lambda v: v * 2, out_axes=1)(x)
    assert g.shape == (3, 2, 4)


def test_vmap_errors():
    with pytest.raises(ValueError, match=r"\[vmap\] Inconsistent axis sizes"):
        mx.vmap(lambda x, y: x + y)(mx.ones((2, 3)), mx.ones((3, 3)))
    with pytest.raises(ValueError, match=r"\[vmap\]"):
        mx.vmap(lambda x: x * 2, in_axes=(0, 1))(mx.ones((2, 3)))


def test_custom_function_and_checkpoint():
    @mx.custom_function
    def f(x, y):
        return mx.sin(x) * y

    @f.vjp
    def f_vjp(primals, cotangent, output):
        x, y = primals
        return cotangent * 10, cotangent * 20

    x, y = mx.array(1.0), mx.array(2.0)
    assert f(x, y).item() == pytest.approx(np.sin(1.0) * 2)
    gx, gy = mx.grad(lambda a, b: f(a, b), argnums=(0, 1))(x, y)
    assert (gx.item(), gy.item()) == (10.0, 20.0)

    h = mx.checkpoint(lambda v: mx.exp(mx.sin(v)))
    g = mx.grad(lambda v: h(v).sum())(mx.array([0.5, 1.0]))
    v = np.array([0.5, 1.0])
    np.testing.assert_allclose(np.array(g), np.exp(np.sin(v)) * np.cos(v), rtol=1e-6)


def test_transforms_from_several_threads():
    errors = []

    def worker(k):
        try:
            for _ in range(20):
                g = mx.grad(lambda x: (x * x * k).sum())(mx.array([1.0, 2.0]))
                assert g.tolist() == [2.0 * k, 4.0 * k]
        except Exception as e:  # pragma: no cover
            errors.append(e)

    ts = [threading.Thread(target=worker, args=(k,)) for k in range(1, 5)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert not errors, errors


@needs_mlx
def test_mlp_gradients_match_mlx():
    rng = np.random.default_rng(3)
    w1, b1 = rng.normal(size=(4, 8)).astype(np.float32), rng.normal(size=(8,)).astype(np.float32)
    w2 = rng.normal(size=(8, 2)).astype(np.float32)
    x = rng.normal(size=(5, 4)).astype(np.float32)

    def loss(lib, w1, b1, w2):
        h = lib.tanh(lib.matmul(lib.array(x), w1) + b1)
        return lib.mean(lib.square(lib.matmul(h, w2)))

    g_umx = mx.grad(lambda *p: loss(mx, *p), argnums=(0, 1, 2))(
        mx.array(w1), mx.array(b1), mx.array(w2)
    )
    g_mlx = mlx.grad(lambda *p: loss(mlx, *p), argnums=(0, 1, 2))(
        mlx.array(w1), mlx.array(b1), mlx.array(w2)
    )
    for a, b in zip(g_umx, g_mlx):
        np.testing.assert_allclose(np.array(a), np.array(b), rtol=1e-4, atol=1e-5)


def test_grad_result_forms_follow_mlx():
    # One positional argument's gradient alone, whether argnums is 0 or (0,); with
    # argnames, (positional part, {name: gradient}); no positional part: None.
    def f(x, y):
        return (x * y).sum()

    a, b = mx.array([1.0, 2.0]), mx.array([3.0, 4.0])
    assert isinstance(mx.grad(f, argnums=(0,))(a, b), mx.array)
    assert isinstance(mx.grad(f, argnums=[1])(a, b), mx.array)
    assert isinstance(mx.value_and_grad(f, argnums=(0,))(a, b)[1], mx.array)
    both = mx.grad(f, argnums=(0, 1))(a, b)
    assert isinstance(both, tuple) and len(both) == 2
    for nums in (0, (0,)):
        pos, named = mx.grad(f, argnums=nums, argnames="y")(a, y=b)
        assert pos.tolist() == [3.0, 4.0] and named["y"].tolist() == [1.0, 2.0]
    pos, named = mx.grad(f, argnums=[], argnames="y")(a, y=b)
    assert pos is None and named["y"].tolist() == [1.0, 2.0]


def test_vmap_axes_trees_as_mlx():
    """in_axes is matched against the single argument itself when there is one (MLX 0.32.4);
    containers must match in type and length; errors as MLX (checked with the oracle)."""
    x, z, y = mx.ones((3, 2)), mx.ones((3, 2)), mx.arange(2.0)
    f = lambda p: p[0] * p[1]  # noqa: E731
    assert mx.vmap(f, in_axes=[0, None])([x, y]).shape == (3, 2)
    assert mx.vmap(f, in_axes=(0, None))((x, y)).shape == (3, 2)
    d = mx.vmap(lambda p: p["a"] * p["b"], in_axes={"a": 0, "b": None})({"a": x, "b": y})
    assert d.shape == (3, 2)
    assert mx.vmap(lambda p: p, in_axes=(1,))(x).shape == (2, 3)
    prefix = r"not a valid prefix"
    for fn, axes, args in [
        (f, ((0, None),), ((x, y),)),
        (f, (0, None), ([x, y],)),
        (lambda p, q: p * q, (0,), (x, z)),
        (lambda p: p["a"], (0,), ({"a": x},)),
    ]:
        with pytest.raises(ValueError, match=prefix):
            mx.vmap(fn, in_axes=axes)(*args)
    with pytest.raises(ValueError, match="axis must be int or None"):
        mx.vmap(lambda p, q: p * q, in_axes=((0,), 0))(x, z)
    with pytest.raises(
        IndexError, match=r"Invalid vectorization axis 2 for array with shape \(3,2\)"
    ):
        mx.vmap(lambda p: p, in_axes=2)(x)
    with pytest.raises(ValueError, match="At least one of in_axes must be non-None"):
        mx.vmap(lambda p, q: p * q, in_axes=(None, None))(x, z)
    with pytest.raises(ValueError, match="should contain only arrays"):
        mx.vmap(lambda p, q: p * q, in_axes=(0, None))(x, 2.0)
    with pytest.raises(ValueError, match="should contain only arrays"):
        mx.vmap(lambda p: None)(x)
    with pytest.raises(TypeError, match="Keyword arguments"):
        mx.vmap(lambda p, q=None: p)(x, q=z)
    with pytest.raises(TypeError):
        mx.vmap(lambda p: p, in_axes=None)


def test_vmap_out_axes_trees_as_mlx():
    x, y = mx.ones((3, 2)), mx.arange(2.0)
    a, (b, c) = mx.vmap(lambda p: (p, (p, p)), out_axes=(0, 1))(x)
    assert (a.shape, b.shape, c.shape) == ((3, 2), (2, 3), (2, 3))
    assert mx.vmap(lambda p: {"a": p}, out_axes={"a": 1})(x)["a"].shape == (2, 3)
    assert mx.vmap(lambda p: p, out_axes=(0,))(x).shape == (3, 2)
    # An unmapped output with a None axis comes back broadcast with the batch last.
    _, u = mx.vmap(lambda p: (p, y), out_axes=(0, None))(x)
    assert u.shape == (2, 3) and u.tolist() == [[0.0] * 3, [1.0] * 3]
    with pytest.raises(ValueError, match="Axis -1 invalid for output with 2 dimensions"):
        mx.vmap(lambda p: (p, p), out_axes=(0, None))(x)
    with pytest.raises(ValueError, match="not a valid prefix"):
        mx.vmap(lambda p: (p, p), out_axes=[0, 1])(x)
    with pytest.raises(IndexError, match="Invalid output vectorization axis 2"):
        mx.vmap(lambda p: p, out_axes=2)(x)
    assert mx.vmap(lambda p: p, out_axes=-1)(x).shape == (2, 3)


def test_grad_argument_checks_as_mlx():
    """argnums/argnames are checked when the transform is made; return-value rules differ
    between grad (an array) and value_and_grad (an array or a non-empty tuple), as MLX."""
    f = lambda a, b: (a * b).sum()  # noqa: E731
    with pytest.raises(
        ValueError, match=r"\[grad\] Can't compute the gradient of negative argument index -1"
    ):
        mx.grad(f, argnums=-1)
    with pytest.raises(ValueError, match=r"\[value_and_grad\] Duplicate argument index 0"):
        mx.value_and_grad(f, argnums=(0, 0))
    with pytest.raises(ValueError, match=r"\[grad\] Gradient wrt no argument requested"):
        mx.grad(f, argnums=[])
    with pytest.raises(TypeError):
        mx.grad(f, argnums=1.0)
    x, s = mx.array([1.0, 2.0]), mx.array(3.0)
    with pytest.raises(ValueError, match=r"keyword arguments \{c,\}"):
        mx.grad(lambda a, b=None: a, argnames="b")(s, c=s)
    with pytest.raises(
        ValueError, match=r"\[grad\] .* should be a scalar array; but tuple was returned"
    ):
        mx.grad(lambda a: (a.sum(), a))(x)
    with pytest.raises(ValueError, match=r"\[value_and_grad\] .* but list was returned"):
        mx.value_and_grad(lambda a: [a.sum(), a])(x)
    with pytest.raises(ValueError, match=r"empty tuple"):
        mx.value_and_grad(lambda a: ())(x)
    with pytest.raises(ValueError, match=r"\[vjp\] Output shape \(1\) .* must return a scalar"):
        mx.grad(lambda a: a[:1])(x)
    (v, aux), g = mx.value_and_grad(lambda a: (a.sum(), a))(x)
    assert v.item() == 3.0 and g.tolist() == [1.0, 1.0]


def test_vjp_jvp_arguments_as_mlx():
    x = mx.array([1.0, 2.0])
    # The cotangent is taken in the output's dtype; extra cotangents are ignored.
    _, (g,) = mx.vjp(lambda a: a * 2, [x], [x.astype(mx.float16), x])
    assert g.dtype == mx.float32 and g.tolist() == [2.0, 4.0]
    _, (g,) = mx.vjp(lambda a: a * 2, [x.astype(mx.float16)], [x])
    assert g.dtype == mx.float16
    with pytest.raises(TypeError):
        mx.vjp(lambda a: a, [1.0], [x])
    with pytest.raises(ValueError, match=r"\[jvp\] Number of inputs does not match"):
        mx.jvp(lambda a, b: a, [x, x], [x])


def test_custom_function_single_argument_rules_as_mlx():
    """With one argument, custom jvp/vmap rules get the array (and its tangent / axis)
    themselves, not one-element lists (MLX 0.32.4)."""

    @mx.custom_function
    def g(x):
        return x * 2

    @g.jvp
    def g_jvp(primal, tangent):
        assert isinstance(primal, mx.array) and isinstance(tangent, mx.array)
        return tangent * 5

    @g.vmap
    def g_vmap(inputs, axes):
        assert isinstance(inputs, mx.array) and isinstance(axes, int)
        return inputs * 3, axes

    x = mx.ones((3, 2))
    assert mx.jvp(g, [x], [x])[1][0].tolist() == [[5.0, 5.0]] * 3
    out = mx.vmap(g, in_axes=1)(x)
    assert out.shape == (2, 3) and out.tolist() == [[3.0] * 3] * 2


def test_grad_argnums_order_as_mlx():
    """Gradients come back in argument order whatever the order of argnums (MLX 0.32.4)."""
    a, b, c = mx.array(1.0), mx.array(1.0), mx.array(1.0)
    g = mx.grad(lambda a, b, c: a * 2 + b * 3 + c * 5, argnums=(2, 0))(a, b, c)
    assert [x.item() for x in g] == [2.0, 5.0]
    _, g = mx.value_and_grad(lambda a, b: a * 2 + b * 3, argnums=[1, 0])(a, b)
    assert [x.item() for x in g] == [2.0, 3.0]


def test_grad_of_a_named_tuple_argument_is_that_named_tuple():
    from collections import namedtuple

    Params = namedtuple("Params", "w b")
    p = Params(mx.array([1.0, 2.0]), mx.array(3.0))
    g = mx.grad(lambda q: (q.w * q.b).sum())(p)
    assert type(g) is Params
    assert g.w.tolist() == [3.0, 3.0] and g.b.item() == 3.0
