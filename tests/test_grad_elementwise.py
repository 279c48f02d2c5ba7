"""Transform rules of the elementwise ops (umx/ops/unary.py, umx/ops/binary.py): vjp against
central finite differences in float64, jvp against vjp, vmap against a loop over the mapped
axis, second derivatives, the zero rules, and MLX's gradients (conventions for ties, poles,
casts and complex input) on the same inputs."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import umx as mx
from tests.helpers import mlx, needs_mlx
from umx.ops.unary import copy as _copy  # internal (not an mlx.core name)

F64 = mx.float64


def a64(x) -> mx.array:
    return mx.array(np.asarray(x, dtype=np.float64), F64)


def fd_vjp(f, args, k, cot, eps=1e-6) -> np.ndarray:
    """Central differences of ``<f(*args), cot>`` w.r.t. ``args[k]`` (NumPy float64)."""
    base = [np.asarray(a, dtype=np.float64) for a in args]

    def val(v):
        full = [a64(a) for a in base]
        full[k] = a64(v)
        return float(np.sum(np.array(f(*full)) * cot))

    x = base[k]
    g = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        xp, xm = x.copy(), x.copy()
        xp[i] += eps
        xm[i] -= eps
        g[i] = (val(xp) - val(xm)) / (2 * eps)
    return g


def check_rules(f, args, rtol=1e-6, atol=1e-7, seed=0, eps=1e-6, jtol=1e-9):
    """vjp of every argument against finite differences, and ``<J t, c> == <t, J^T c>``."""
    rng = np.random.default_rng(seed)
    xs = [a64(a) for a in args]
    out = f(*xs)
    cot = rng.standard_normal(out.shape)
    _, vjps = mx.vjp(f, xs, [a64(cot)])
    for k in range(len(xs)):
        got = np.array(vjps[k])
        assert got.shape == tuple(xs[k].shape) and got.dtype == np.float64
        np.testing.assert_allclose(
            got, fd_vjp(f, args, k, cot, eps), rtol=rtol, atol=atol, err_msg=f"arg {k}"
        )
    tans = [rng.standard_normal(x.shape) for x in xs]
    _, (jt,) = mx.jvp(f, xs, [a64(t) for t in tans])
    assert tuple(jt.shape) == tuple(out.shape) and np.array(jt).dtype == np.float64
    lhs = float(np.sum(np.array(jt) * cot))
    rhs = sum(float(np.sum(t * np.array(v))) for t, v in zip(tans, vjps))
    np.testing.assert_allclose(lhs, rhs, rtol=jtol, atol=jtol / 10)


def check_vmap(f, args, in_axes):
    got = mx.vmap(f, in_axes=in_axes)(*args)
    n = next(a.shape[ax] for a, ax in zip(args, in_axes) if ax is not None)
    ref = np.stack(
        [
            np.array(
                f(*[a if ax is None else mx.take(a, b, axis=ax) for a, ax in zip(args, in_axes)])
            )
            for b in range(n)
        ]
    )
    assert (
        tuple(got.shape) == ref.shape
        and got.dtype
        == f(*[a if ax is None else mx.take(a, 0, axis=ax) for a, ax in zip(args, in_axes)]).dtype
    )
    np.testing.assert_allclose(np.array(got), ref, rtol=1e-6, atol=1e-6, equal_nan=True)


# name -> (function, input range)
_WIDE, _POS, _UNIT = (-1.5, 1.5), (0.3, 2.0), (-0.8, 0.8)
UNARY = {
    "abs": (mx.abs, _WIDE), "negative": (mx.negative, _WIDE), "exp": (mx.exp, _WIDE),
    "expm1": (mx.expm1, _WIDE), "log": (mx.log, _POS), "log1p": (mx.log1p, (-0.5, 1.5)),
    "log2": (mx.log2, _POS), "log10": (mx.log10, _POS), "sqrt": (mx.sqrt, _POS),
    "rsqrt": (mx.rsqrt, _POS), "square": (mx.square, _WIDE), "reciprocal": (mx.reciprocal, _POS),
    "sin": (mx.sin, _WIDE), "cos": (mx.cos, _WIDE), "tan": (mx.tan, _WIDE),
    "arcsin": (mx.arcsin, _UNIT), "arccos": (mx.arccos, _UNIT), "arctan": (mx.arctan, _WIDE),
    "sinh": (mx.sinh, _WIDE), "cosh": (mx.cosh, _WIDE), "tanh": (mx.tanh, _WIDE),
    "arcsinh": (mx.arcsinh, _WIDE), "arccosh": (mx.arccosh, (1.2, 3.0)), "arctanh": (mx.arctanh, _UNIT),
    "erf": (mx.erf, _WIDE), "erfinv": (mx.erfinv, _UNIT), "sigmoid": (mx.sigmoid, (-3.0, 3.0)),
    "degrees": (mx.degrees, _WIDE), "radians": (mx.radians, _WIDE), "real": (mx.real, _WIDE),
    "conjugate": (mx.conjugate, _WIDE), "positive": (mx.positive, _WIDE), "copy": (_copy, _WIDE),
    "astype_f32": (lambda x: mx.astype(x, mx.float32).astype(F64), _WIDE),
    "method_abs": (lambda x: abs(x), _WIDE),
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_vjp_and_jvp(name):
    f, (lo, hi) = UNARY[name]
    x = np.random.default_rng(len(name)).uniform(lo, hi, size=(2, 3))
    # through float32 the function is only piecewise linear: difference it on a coarser step
    if name == "astype_f32":
        check_rules(f, [x], eps=1e-2, rtol=1e-5, jtol=1e-6)
    else:
        check_rules(f, [x])


@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_vmap(name):
    f, (lo, hi) = UNARY[name]
    x = np.random.default_rng(1).uniform(lo, hi, size=(3, 4, 2)).astype(np.float32)
    check_vmap(f, [mx.array(x)], (1,))
    check_vmap(lambda v: f(v) * 2, [mx.array(x)], (2,))


# name -> (function, x range, y range)
BINARY = {
    "add": (mx.add, _WIDE, _WIDE), "subtract": (mx.subtract, _WIDE, _WIDE),
    "multiply": (mx.multiply, _WIDE, _WIDE), "divide": (mx.divide, _WIDE, _POS),
    "power": (mx.power, _POS, _WIDE), "maximum": (mx.maximum, _WIDE, _WIDE),
    "minimum": (mx.minimum, _WIDE, _WIDE), "arctan2": (mx.arctan2, _WIDE, _WIDE),
    "logaddexp": (mx.logaddexp, (-3.0, 3.0), (-3.0, 3.0)), "remainder": (mx.remainder, (2.1, 2.9), (0.7, 0.9)),
    "ops": (lambda a, b: (a - b) * a / (b + 4) ** 2, _WIDE, _WIDE),
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(BINARY))
@pytest.mark.parametrize(
    "shapes", [((2, 3), (2, 3)), ((2, 3), (3,)), ((2, 1), (1, 3)), ((), (2, 2))]
)
def test_binary_vjp_and_jvp_with_broadcasting(name, shapes):
    f, rx, ry = BINARY[name]
    rng = np.random.default_rng(7)
    x, y = rng.uniform(*rx, size=shapes[0]), rng.uniform(*ry, size=shapes[1])
    check_rules(f, [x, y])
    check_rules(lambda a: f(a, a64(y)), [x])  # only one argument differentiated
    check_rules(lambda b: f(a64(x), b), [y])


@pytest.mark.parametrize("name", sorted(BINARY))
@pytest.mark.parametrize(
    "shapes,axes",
    [
        (((4, 3), (4, 3)), (0, 0)),
        (((3, 4), (4, 3)), (1, 0)),
        (((4, 3), (2, 1, 3)), (0, None)),  # unbatched operand of higher rank
        (((3,), (2, 3)), (None, 0)),
        (((2, 4), (4,)), (1, 0)),
    ],
)
def test_binary_vmap(name, shapes, axes):
    f, rx, ry = BINARY[name]
    rng = np.random.default_rng(3)
    x = mx.array(rng.uniform(*rx, size=shapes[0]).astype(np.float32))
    y = mx.array(rng.uniform(*ry, size=shapes[1]).astype(np.float32))
    check_vmap(f, [x, y], axes)


@given(st.integers(1, 3), st.integers(1, 3), st.sampled_from([0, 1, 2]), st.booleans())
def test_vmap_of_elementwise_chain(b, n, axis, batch_y):
    rng = np.random.default_rng(b * 7 + n)
    shape = [2, n]
    shape.insert(axis, b)
    x = mx.array(rng.uniform(0.5, 1.5, size=shape).astype(np.float32))
    y = mx.array(rng.uniform(0.5, 1.5, size=(b, n) if batch_y else (n,)).astype(np.float32))
    f = lambda u, v: mx.maximum(mx.exp(-u) * v, mx.sqrt(u)) - mx.logaddexp(u, v)  # noqa: E731
    check_vmap(f, [x, y], (axis, 0 if batch_y else None))


def test_vmap_of_int_bool_and_parametrised_ops():
    x = mx.array(np.arange(-6, 6).reshape(3, 4).astype(np.int32))
    y = mx.array(np.array([1, 2, 3, 4], dtype=np.int32))
    for f in (
        lambda a, b: a // b, lambda a, b: a % b, lambda a, b: a << (b & 3), lambda a, b: a > b,
        lambda a, b: mx.logical_and(a > 0, b > 1), lambda a, b: ~a ^ b, lambda a, b: mx.round(a / b, 1),
        lambda a, b: mx.nan_to_num(mx.log(a.astype(mx.float32)) * b), lambda a, b: mx.isnan(mx.sqrt(a + b)),
    ):  # fmt: skip
        check_vmap(f, [x, y], (1, 0))


ZERO_UNARY = {
    "sign": mx.sign, "floor": mx.floor, "ceil": mx.ceil, "round": mx.round, "round_2": lambda x: mx.round(x, 2),
    "trunc": mx.trunc, "stop_gradient": mx.stop_gradient, "isnan": mx.isnan, "isinf": mx.isinf,
    "isfinite": mx.isfinite, "isposinf": mx.isposinf, "isneginf": mx.isneginf,
    "logical_not": mx.logical_not, "imag": mx.imag,
}  # fmt: skip
ZERO_BINARY = [
    "floor_divide", "equal", "not_equal", "less", "less_equal", "greater", "greater_equal",
    "logical_and", "logical_or", "logical_xor",
]  # fmt: skip


def _float(y):
    return y if y.dtype == mx.float32 else y.astype(mx.float32)


@pytest.mark.parametrize("name", sorted(ZERO_UNARY))
def test_zero_gradient_unary(name):
    f = ZERO_UNARY[name]
    x = mx.array([0.3, -1.7, 2.5])
    assert mx.grad(lambda v: _float(f(v)).sum() + v.sum())(x).tolist() == [1.0, 1.0, 1.0]
    _, (t,) = mx.jvp(lambda v: _float(f(v)), [x], [mx.ones(3)])
    assert t.tolist() == [0.0, 0.0, 0.0]


@pytest.mark.parametrize("name", ZERO_BINARY)
def test_zero_gradient_binary(name):
    f = getattr(mx, name)
    x, y = mx.array([0.3, -1.7, 2.5]), mx.array([1.0, -1.7, 0.5])
    gx, gy = mx.grad(lambda a, b: _float(f(a, b)).sum(), argnums=(0, 1))(x, y)
    assert gx.tolist() == [0.0] * 3 and gy.tolist() == [0.0] * 3
    _, (t,) = mx.jvp(lambda a, b: _float(f(a, b)), [x, y], [mx.ones(3), mx.ones(3)])
    assert t.tolist() == [0.0] * 3


def test_zero_gradient_bitwise():
    x = mx.array([3, 5, 6], dtype=mx.int32)
    for f in (mx.bitwise_and, mx.bitwise_or, mx.bitwise_xor, mx.left_shift, mx.right_shift):
        _, (g,) = mx.vjp(lambda a, f=f: f(a, x), [x], [mx.ones(3, dtype=mx.int32)])
        assert g.tolist() == [0, 0, 0] and g.dtype == mx.int32
    _, (g,) = mx.vjp(mx.bitwise_invert, [x], [mx.ones(3, dtype=mx.int32)])
    assert g.tolist() == [0, 0, 0]


def test_second_derivatives():
    x = np.array([0.3, 0.7, 1.2])
    v = a64(x)
    d2 = lambda f: np.array(mx.grad(lambda u: mx.grad(lambda w: f(w).sum())(u).sum())(v))  # noqa: E731
    np.testing.assert_allclose(d2(mx.exp), np.exp(x), rtol=1e-12)
    np.testing.assert_allclose(d2(mx.sin), -np.sin(x), rtol=1e-12)
    np.testing.assert_allclose(d2(mx.log), -1 / x**2, rtol=1e-12)
    np.testing.assert_allclose(d2(mx.sqrt), -0.25 * x**-1.5, rtol=1e-12)
    t = np.tanh(x)
    np.testing.assert_allclose(d2(mx.tanh), -2 * t * (1 - t * t), rtol=1e-12)
    s = 1 / (1 + np.exp(-x))
    np.testing.assert_allclose(d2(mx.sigmoid), s * (1 - s) * (1 - 2 * s), rtol=1e-12)
    np.testing.assert_allclose(d2(mx.erf), -4 * x / math.sqrt(math.pi) * np.exp(-x * x), rtol=1e-12)
    np.testing.assert_allclose(d2(lambda w: mx.power(w, 3.5)), 3.5 * 2.5 * x**1.5, rtol=1e-12)
    np.testing.assert_allclose(d2(lambda w: 1 / w), 2 / x**3, rtol=1e-12)
    np.testing.assert_allclose(d2(lambda w: mx.logaddexp(w, w)), 0 * x, atol=1e-12)
    # Mixed partial of power: d^2 (x^y) / dx dy = x^(y-1) (1 + y log x).
    y = np.array([1.5, 2.0, 0.5])
    gxy = mx.grad(lambda b: mx.grad(lambda a: mx.power(a, b).sum())(v).sum())(a64(y))
    np.testing.assert_allclose(np.array(gxy), x ** (y - 1) * (1 + y * np.log(x)), rtol=1e-12)
    # Hessian-vector product through jvp of grad.
    _, (hv,) = mx.jvp(mx.grad(lambda w: (mx.sin(w) * w).sum()), [v], [a64(np.ones(3))])
    np.testing.assert_allclose(np.array(hv), 2 * np.cos(x) - x * np.sin(x), rtol=1e-12)


def test_jvp_of_one_operand_broadcasts_to_the_output():
    x, y = mx.array([1.0, 2.0]), mx.array([[1.0], [3.0], [4.0]])
    _, (t,) = mx.jvp(lambda a: a + y, [x], [mx.array([1.0, -1.0])])
    assert t.shape == (3, 2) and t.tolist() == [[1.0, -1.0]] * 3


def test_grad_dtypes_follow_the_inputs():
    for d in (mx.float16, mx.bfloat16, mx.float32):
        x = mx.array([0.5, 1.5], dtype=d)
        for f in (mx.exp, mx.sqrt, mx.erf, mx.sigmoid, lambda v: v * v / (v + 1)):
            g = mx.grad(lambda v, f=f: f(v).sum())(x)
            assert g.dtype == d and g.shape == (2,)
    # astype: the cotangent is cast back to the input dtype.
    x = mx.array([0.5, 1.5], dtype=mx.float16)
    g = mx.grad(lambda v: v.astype(mx.float32).sum())(x)
    assert g.dtype == mx.float16 and g.tolist() == [1.0, 1.0]
    _, (t,) = mx.jvp(lambda v: v.astype(mx.float32), [x], [mx.ones(2, dtype=mx.float16)])
    assert t.dtype == mx.float32


def test_nan_to_num_passes_gradient_only_where_finite():
    x = mx.array([1.0, np.nan, np.inf, -np.inf, -2.0])
    assert mx.grad(lambda v: mx.nan_to_num(v).sum())(x).tolist() == [1.0, 0.0, 0.0, 0.0, 1.0]
    _, (t,) = mx.jvp(lambda v: mx.nan_to_num(v, 0.0, 5.0, -5.0), [x], [mx.full((5,), 2.0)])
    assert t.tolist() == [2.0, 0.0, 0.0, 0.0, 2.0]


def test_vmap_slice_placeholder_rules():
    # grad inside vmap and vmap inside grad both go through the placeholder of a mapped input.
    x = a64(np.random.default_rng(0).uniform(0.5, 1.5, size=(3, 4)))
    g = mx.vmap(mx.grad(lambda v: (mx.exp(v) * v).sum()), in_axes=1)(x)
    xn = np.array(x)
    np.testing.assert_allclose(np.array(g), (np.exp(xn) * (1 + xn)).T, rtol=1e-12)
    h = mx.grad(lambda v: mx.vmap(lambda r: mx.sin(r) * r[0], in_axes=0)(v).sum())(x)
    ref = np.sin(xn) * 0
    ref += np.cos(xn) * xn[:, :1]
    ref[:, 0] += np.sin(xn).sum(axis=1)
    np.testing.assert_allclose(np.array(h), ref, rtol=1e-12)


def test_complex_rules_jvp_vjp_consistency():
    # For holomorphic ops MLX's vjp is cot * conj(f'), its jvp t * f'.
    rng = np.random.default_rng(5)
    z = mx.array((rng.normal(size=3) + 1j * rng.normal(size=3)).astype(np.complex64))
    c = mx.array((rng.normal(size=3) + 1j * rng.normal(size=3)).astype(np.complex64))
    for f, df in (
        (mx.exp, np.exp),
        (mx.sin, np.cos),
        (mx.log, lambda v: 1 / v),
        (mx.square, lambda v: 2 * v),
    ):
        zn, cn = np.array(z), np.array(c)
        _, (v,) = mx.vjp(f, [z], [c])
        _, (t,) = mx.jvp(f, [z], [c])
        np.testing.assert_allclose(np.array(v), cn * np.conj(df(zn)), rtol=1e-5)
        np.testing.assert_allclose(np.array(t), cn * df(zn), rtol=1e-5)


# MLX's gradients on the same inputs (float32): every differentiable elementwise op, and the
# conventions at ties, poles, zeros and infinities.
@needs_mlx
@pytest.mark.parametrize(
    "name",
    sorted(
        n
        for n in UNARY
        if n[0] != "a"
        or n in ("abs", "arcsin", "arccos", "arctan", "arcsinh", "arccosh", "arctanh")
    ),
)
def test_unary_grads_match_mlx(name):
    if name in ("copy", "method_abs"):
        pytest.skip("not an mlx.core function")
    (lo, hi) = UNARY[name][1]
    x = np.random.default_rng(2).uniform(lo, hi, size=(5,)).astype(np.float32)
    g = mx.grad(lambda v: getattr(mx, name)(v).sum())(mx.array(x))
    ref = mlx.grad(lambda v: getattr(mlx, name)(v).sum())(mlx.array(x))
    np.testing.assert_allclose(np.array(g), np.array(ref), rtol=2e-5, atol=1e-6)


@needs_mlx
@pytest.mark.parametrize(
    "name,x,y",
    [
        ("maximum", [1.0, 2.0, 2.0, 3.0, np.nan], [2.0, 2.0, 1.0, 3.0, 1.0]),
        ("minimum", [1.0, 2.0, 2.0, 3.0, np.nan], [2.0, 2.0, 1.0, 3.0, 1.0]),
        ("remainder", [5.5, -5.5, 7.0, 3.0, 1.0], [2.0, 2.0, -3.0, 1.5, 4.0]),
        ("power", [0.0, 2.0, -2.0, 0.0, 0.0], [2.0, 0.0, 3.0, 0.0, 1.0]),
        ("logaddexp", [np.inf, 1.0, -np.inf, -np.inf, 2.0], [1.0, np.inf, 1.0, -np.inf, -1.0]),
        ("arctan2", [0.0, 1.0, -2.0, 3.0, 0.5], [0.0, 2.0, 1.0, -1.0, -0.5]),
        ("divide", [1.0, 0.0, -2.0, 3.0, 0.5], [2.0, 1.0, 0.0, -1.0, -0.5]),
        ("add", [1.0, 2.0], [3.0, 4.0]),
        ("subtract", [1.0, 2.0], [3.0, 4.0]),
        ("multiply", [1.0, 2.0], [3.0, 4.0]),
    ],
)
def test_binary_grads_match_mlx(name, x, y):
    x, y = np.array(x, np.float32), np.array(y, np.float32)
    g = mx.grad(lambda a, b: getattr(mx, name)(a, b).sum(), argnums=(0, 1))(
        mx.array(x), mx.array(y)
    )
    ref = mlx.grad(lambda a, b: getattr(mlx, name)(a, b).sum(), argnums=(0, 1))(
        mlx.array(x), mlx.array(y)
    )
    for u, r in zip(g, ref):
        np.testing.assert_allclose(np.array(u), np.array(r), rtol=1e-6, equal_nan=True)


@needs_mlx
def test_pointwise_conventions_match_mlx():
    x = np.array([0.0, -1.0, 2.0, 0.0], np.float32)
    for f in ("abs", "sqrt", "sign", "floor", "stop_gradient", "erfinv", "log"):
        v = np.abs(x) * 0.4 if f == "erfinv" else x
        g = mx.grad(lambda a, f=f: getattr(mx, f)(a).sum())(mx.array(v))
        r = mlx.grad(lambda a, f=f: getattr(mlx, f)(a).sum())(mlx.array(v))
        np.testing.assert_allclose(np.array(g), np.array(r), rtol=1e-6, equal_nan=True, err_msg=f)
    # casts: a float cotangent to an int output passes through; int inputs get int vjps.
    for fx in (lambda lib, a: lib.exp(a), lambda lib, a: lib.square(a), lambda lib, a: lib.abs(a)):
        xi = np.array([1, -2, 0], np.int32)
        _, (g,) = mx.vjp(
            lambda a, fx=fx: fx(mx, a),
            [mx.array(xi)],
            [mx.array([1.0, 1.0, 1.0]).astype(fx(mx, mx.array(xi)).dtype)],
        )
        _, (r,) = mlx.vjp(
            lambda a, fx=fx: fx(mlx, a),
            [mlx.array(xi)],
            [mlx.array([1.0, 1.0, 1.0]).astype(fx(mlx, mlx.array(xi)).dtype)],
        )
        assert (
            g.dtype.name == str(r.dtype).split(".")[-1]
            and np.array(g).tolist() == np.array(r).tolist()
        )


@needs_mlx
def test_complex_gradients_match_mlx():
    z = np.array([1 + 2j, 0.5 - 1j, -0.3 + 0.2j], np.complex64)
    c = np.array([1 + 0j, 0.3 + 0.7j, -1 - 1j], np.complex64)
    cr = np.array([1.0, 0.3, -0.6], np.float32)
    for name in ("exp", "sin", "cos", "log", "sqrt", "rsqrt", "tanh", "reciprocal", "square", "negative",
                 "conjugate", "abs", "real", "imag", "sign", "arctan", "log1p"):  # fmt: skip
        cot = cr if name in ("abs", "real", "imag") else c
        _, (g,) = mx.vjp(getattr(mx, name), [mx.array(z)], [mx.array(cot)])
        _, (r,) = mlx.vjp(getattr(mlx, name), [mlx.array(z)], [mlx.array(cot)])
        np.testing.assert_allclose(np.array(g), np.array(r), rtol=1e-5, atol=1e-6, err_msg=name)
        _, (g,) = mx.jvp(getattr(mx, name), [mx.array(z)], [mx.array(c)])
        _, (r,) = mlx.jvp(getattr(mlx, name), [mlx.array(z)], [mlx.array(c)])
        np.testing.assert_allclose(np.array(g), np.array(r), rtol=1e-5, atol=1e-6, err_msg=name)
    w = np.array([0.2 - 1j, 2 + 0.5j, 1j], np.complex64)
    # (MLX does not conjugate the partials of power; its maximum compares real parts)
    for name in ("multiply", "divide", "add", "subtract", "power", "maximum", "minimum"):
        _, g = mx.vjp(getattr(mx, name), [mx.array(z), mx.array(w)], [mx.array(c)])
        _, r = mlx.vjp(getattr(mlx, name), [mlx.array(z), mlx.array(w)], [mlx.array(c)])
        for u, v in zip(g, r):
            np.testing.assert_allclose(np.array(u), np.array(v), rtol=1e-5, atol=1e-6, err_msg=name)
    # a real operand next to a complex one: the cotangent keeps its real part (through the cast)
    _, g = mx.vjp(mx.multiply, [mx.array(z), mx.array(cr)], [mx.array(c)])
    _, r = mlx.vjp(mlx.multiply, [mlx.array(z), mlx.array(cr)], [mlx.array(c)])
    assert g[1].dtype == mx.float32
    np.testing.assert_allclose(np.array(g[1]), np.array(r[1]), rtol=1e-5, atol=1e-6)
