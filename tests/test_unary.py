"""Elementwise unary ops: values vs NumPy, dtypes / errors / edge cases vs MLX."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import umx as mx
from tests.helpers import ALL_DTYPES, check, mlx, needs_mlx

UNARY = [
    "abs", "negative", "sign", "exp", "expm1", "log", "log1p", "log2", "log10", "sqrt", "rsqrt",
    "square", "reciprocal", "sin", "cos", "tan", "arcsin", "arccos", "arctan", "sinh", "cosh",
    "tanh", "arcsinh", "arccosh", "arctanh", "erf", "erfinv", "sigmoid", "floor", "ceil", "round",
    "logical_not", "isnan", "isinf", "isfinite", "isposinf", "isneginf", "conjugate", "real",
    "imag", "degrees", "radians", "nan_to_num", "bitwise_invert", "stop_gradient",
]  # fmt: skip

# NumPy references (float64 math; integer inputs of float-valued ops compute in float32).
_REF = {
    "abs": np.abs, "negative": np.negative, "exp": np.exp, "expm1": np.expm1, "log": np.log,
    "log1p": np.log1p, "log2": np.log2, "log10": np.log10, "sqrt": np.sqrt,
    "rsqrt": lambda x: 1 / np.sqrt(x), "square": np.square, "reciprocal": lambda x: 1 / x,
    "sin": np.sin, "cos": np.cos, "tan": np.tan, "arcsin": np.arcsin, "arccos": np.arccos,
    "arctan": np.arctan, "sinh": np.sinh, "cosh": np.cosh, "tanh": np.tanh,
    "arcsinh": np.arcsinh, "arccosh": np.arccosh, "arctanh": np.arctanh,
    "erf": np.vectorize(math.erf, otypes=[np.float64]), "sigmoid": lambda x: 1 / (1 + np.exp(-x)),
    "floor": np.floor, "ceil": np.ceil, "round": np.round, "degrees": np.degrees,
    "radians": np.radians, "isnan": np.isnan, "isinf": np.isinf, "isfinite": np.isfinite,
    "logical_not": np.logical_not,
}  # fmt: skip
_FLOAT_OPS = ["exp", "log", "sqrt", "sin", "tanh", "erf", "sigmoid", "arctan", "log1p", "rsqrt"]


def _np(x, d):
    """A NumPy array holding exactly what ``mx.array(x, d)`` holds, in float64 / complex128."""
    return np.array(mx.array(x, d).astype(mx.float32 if d.kind != "c" else d)).astype(
        np.complex128 if d.kind == "c" else np.float64
    )


_TOL = {"float16": 4e-3, "bfloat16": 3e-2, "float32": 2e-6, "float64": 1e-12, "complex64": 2e-6}

_floats = hnp.arrays(
    np.float64,
    hnp.array_shapes(max_dims=3, max_side=5),
    elements=st.floats(-5, 5, allow_nan=False, width=32),
)


@given(
    x=_floats,
    name=st.sampled_from(sorted(_REF)),
    d=st.sampled_from([mx.float16, mx.bfloat16, mx.float32, mx.float64]),
)
def test_unary_float_values_vs_numpy(x, name, d):
    a = mx.array(x, d)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        want = _REF[name](_np(x, d))
        out = getattr(mx, name)(a)
    tol = _TOL[d.name]
    if name in ("tan", "reciprocal", "rsqrt", "log", "log2", "log10", "arctanh"):
        tol = max(tol, 1e-5) * 50  # poles: relative error grows
    if name in ("floor", "ceil", "round") or out.dtype == mx.bool_:
        # rounding the float32-exact input matches NumPy exactly
        check(out, want.astype(out.dtype.np) if out.dtype != mx.bfloat16 else want, rtol=0, atol=0)
    else:
        # Results beyond the dtype's range overflow to inf there, as in MLX.
        want = np.asarray(want).astype(out.dtype.np).astype(np.asarray(want).dtype)
        check(out, want, rtol=tol, atol=tol)
    assert out.shape == a.shape


@given(x=hnp.arrays(np.int64, hnp.array_shapes(max_dims=2, max_side=6), elements=st.integers(-100, 100)),
       d=st.sampled_from([mx.int8, mx.int16, mx.int32, mx.int64]))  # fmt: skip
def test_unary_int_values(x, d):
    a = mx.array(x, d)
    check(mx.abs(a), np.abs(x), dtype=d)
    check(mx.negative(a), -x, dtype=d)
    check(mx.sign(a), np.sign(x), dtype=d)
    check(mx.square(a), (x * x).astype(d.np), dtype=d)
    check(mx.bitwise_invert(a), ~x, dtype=d)
    check(mx.floor(a), x, dtype=d)
    with np.errstate(over="ignore"):
        check(mx.exp(a), np.exp(x.astype(np.float32)), dtype=mx.float32, rtol=1e-5)
    check(mx.round(a, -1), np.round(x, -1), dtype=d)


@given(
    x=hnp.arrays(np.complex128, hnp.array_shapes(max_dims=2, max_side=5),
                 elements=st.complex_numbers(min_magnitude=0.1, max_magnitude=4, allow_nan=False, allow_infinity=False)),
    name=st.sampled_from(["exp", "log", "sqrt", "sin", "cos", "tanh", "square", "negative", "conjugate", "abs"]),
)  # fmt: skip
def test_unary_complex_values(x, name):
    x = x.astype(np.complex64)
    ref = {"conjugate": np.conjugate}.get(name) or _REF.get(name) or getattr(np, name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        want = ref(x.astype(np.complex128))
    out = getattr(mx, name)(mx.array(x))
    check(out, want, rtol=1e-4, atol=1e-4, dtype=mx.float32 if name == "abs" else mx.complex64)


def _outcome(lib, name, d, v):
    dd = getattr(lib, "bool_" if d is mx.bool_ else d.name)
    try:
        r = getattr(lib, name)(lib.array(v, dd))
        r = r.astype(lib.float32) if r.dtype == lib.bfloat16 else r
        return str(r.dtype).rsplit(".", 1)[-1], np.array(r)
    except ValueError:
        return "ValueError", None


def _sample(d):
    if d.kind == "b":
        return [True, False, True]
    if d.kind == "u":
        return [0, 1, 3, 200]
    if d.kind == "i":
        return [0, 1, -3, 100, -100]
    if d.kind == "c":
        return [0j, 1 + 2j, -3.5 - 0.5j, 0.25j, complex(np.inf, 0)]
    return [0.0, -0.0, 1.5, -2.5, 0.5, 2.5, -0.75, 1.0, -1.0, 1e-3, np.nan, np.inf, -np.inf]


@needs_mlx
@pytest.mark.parametrize("name", UNARY)
def test_unary_dtypes_errors_and_edges_match_mlx(name):
    for d in ALL_DTYPES:
        v = _sample(d)
        want = _outcome(mlx, name, d, v)
        got = _outcome(mx, name, d, v)
        assert got[0] == want[0], (name, d)
        if want[1] is None:
            continue
        if name == "exp" and d is mx.float64:
            continue  # MLX's float64 exp runs in float32 precision (exp(100) = inf); umx is exact
        a, b = want[1], got[1]
        if a.dtype.kind in "fc":
            tol = 3e-2 if d in (mx.float16, mx.bfloat16) else 2e-6
            np.testing.assert_allclose(
                b, a, rtol=tol, atol=tol, equal_nan=True, err_msg=f"{name} {d}"
            )
        else:
            np.testing.assert_array_equal(b, a, err_msg=f"{name} {d}")


def test_unary_errors():
    with pytest.raises(ValueError, match=r"\[negative\] Not supported for bool"):
        mx.negative(mx.array([True]))
    with pytest.raises(ValueError, match=r"\[bitwise_invert\]"):
        mx.bitwise_invert(mx.array([1.5]))
    with pytest.raises(ValueError, match=r"\[erf\]"):
        mx.erf(mx.array([1j]))
    with pytest.raises(ValueError, match=r"\[floor\]"):
        mx.floor(mx.array([1j]))
    with pytest.raises(ValueError, match=r"\[nan_to_num\]"):
        mx.nan_to_num(mx.array([1.0], mx.float64))
    with pytest.raises(TypeError):
        mx.exp("a")


def test_erf_accuracy_float64():
    x = np.concatenate([np.linspace(-7, 7, 20001), [0.0, -0.0, 1e-300, 27.0]])
    want = np.array([math.erf(v) for v in x])
    got = np.array(mx.erf(mx.array(x, mx.float64)))
    rel = np.abs(got - want) / np.maximum(np.abs(want), 1e-300)
    assert rel.max() < 2e-15
    specials = np.array(mx.erf(mx.array([np.nan, np.inf, -np.inf], mx.float64)))
    assert np.isnan(specials[0]) and specials[1] == 1 and specials[2] == -1
    got32 = np.array(mx.erf(mx.array(x, mx.float32))).astype(np.float64)
    want32 = np.array([math.erf(v) for v in x.astype(np.float32).astype(np.float64)])
    assert np.max(np.abs(got32 - want32)) < 2e-7


def test_erfinv_accuracy():
    p = np.concatenate(
        [np.linspace(-0.999, 0.999, 4001), 1 - np.logspace(-16, -1, 40), np.logspace(-300, -1, 40)]
    )
    y = np.array(mx.erfinv(mx.array(p, mx.float64)))
    # residual measured in y through the well-conditioned form (erfc in the tail)
    res = np.array(
        [(math.erfc(v) - (1 - q)) if q > 0.5 else (math.erf(v) - q) for v, q in zip(y, p)]
    )
    dy = np.abs(res) / (2 / math.sqrt(math.pi) * np.exp(-y * y))
    assert np.max(dy / np.abs(y)) < 1e-12
    edge = np.array(mx.erfinv(mx.array([1.0, -1.0, 1.5, 0.0], mx.float64)))
    assert edge[0] == np.inf and edge[1] == -np.inf and np.isnan(edge[2]) and edge[3] == 0
    y32 = np.array(mx.erfinv(mx.array(p[:4001], mx.float32))).astype(np.float64)
    np.testing.assert_allclose(
        y32,
        np.array(mx.erfinv(mx.array(p[:4001].astype(np.float32).astype(np.float64), mx.float64))),
        rtol=2e-6,
        atol=1e-7,
    )
    e32 = np.array(mx.erfinv(mx.array([1.0, -1.0, 2.0])))
    assert e32[0] == np.inf and e32[1] == -np.inf and np.isnan(e32[2])
    check(mx.erfinv(mx.array([0.5], mx.float16)), [0.4769], dtype=mx.float16)
    check(mx.erfinv(mx.array([1])), [np.inf], dtype=mx.float32)


def test_edge_semantics():
    check(mx.sign(mx.array([np.nan, -0.0, -2.0, 3.0])), [0, 0, -1, 1])
    check(mx.sign(mx.array([3 + 4j, 0j])), [0.6 + 0.8j, 0])
    check(mx.sigmoid(mx.array([-1000.0, -100.0, 0.0, 100.0, 1000.0])), [0, 0, 0.5, 1, 1])
    check(mx.sigmoid(mx.array([-100.0, 100.0], mx.float16)), [0, 1])
    check(mx.round(mx.array([0.5, 1.5, 2.5, -0.5, -1.5])), [0, 2, 2, -0, -2])
    check(mx.round(mx.array([1.234, -5.678]), 2), [1.23, -5.68])
    check(mx.round(mx.array([1250, 1350]), -2), [1200, 1400])
    check(mx.log(mx.array([-1.0, 0.0])), [np.nan, -np.inf])
    check(mx.sqrt(mx.array([-1.0])), [np.nan])
    check(mx.isposinf(mx.array([np.inf, -np.inf, np.nan, 1.0])), [True, False, False, False])
    check(mx.isneginf(mx.array([np.inf, -np.inf, np.nan, 1.0])), [False, True, False, False])
    check(mx.isposinf(mx.array([complex(np.inf, 0), 1j])), [True, False])
    check(mx.isposinf(mx.array([1, 2])), [False, False])
    check(
        mx.nan_to_num(mx.array([np.nan, np.inf, -np.inf, 1.0])), [0, 3.4028235e38, -3.4028235e38, 1]
    )
    check(mx.nan_to_num(mx.array([np.nan, np.inf, -np.inf], mx.float16), 1.0), [1, 65504, -65504])
    check(mx.nan_to_num(mx.array([np.nan, np.inf], mx.bfloat16), nan=2.0, posinf=3.0), [2, 3])
    check(mx.nan_to_num(mx.array([1, 2])), [1, 2], dtype=mx.int32)
    check(mx.real(mx.array([1.5 + 2j])), [1.5], dtype=mx.float32)
    check(mx.imag(mx.array([1.5 + 2j])), [2], dtype=mx.float32)
    check(mx.imag(mx.array([1.5, 2.0])), [0, 0], dtype=mx.float32)
    check(mx.real(mx.array([1, 2])), [1, 2], dtype=mx.int32)
    check(mx.abs(mx.array([-128], mx.int8)), [-128])
    check(mx.negative(mx.array([1], mx.uint8)), [255])
    check(mx.bitwise_invert(mx.array([True, False])), [False, True])
    check(mx.reciprocal(mx.array([0, 2])), [np.inf, 0.5], dtype=mx.float32)
    check(mx.exp(mx.array([1], mx.bool_)), [np.e], dtype=mx.float32)
    check(mx.logical_not(mx.array([0.0, 2.0])), [True, False])


def test_astype_and_methods():
    a = mx.array([1.7, -1.7, 300.0])
    check(a.astype(mx.int32), [1, -1, 300], dtype=mx.int32)
    check(mx.array([1 + 2j]).astype(mx.float32), [1.0])
    check(mx.array([0.0, 0.1]).astype(mx.bool_), [False, True])
    check(mx.array([1.5]).astype(mx.complex64), [1.5 + 0j])
    x = mx.array([0.25, 4.0])
    check(x.sqrt(), [0.5, 2.0])
    check(x.rsqrt(), [2.0, 0.5])
    check(x.square(), [0.0625, 16.0])
    check(x.log2(), [-2, 2])
    check(x.round(), [0, 4])
    check(abs(mx.array([-1, 2])), [1, 2])
    check(-mx.array([1.5]), [-1.5])
    check(~mx.array([0], mx.uint8), [255])
    with pytest.raises(ValueError):
        ~mx.array([1.5])


def test_positive_and_trunc():
    check(mx.positive(mx.array([True, False])), [True, False], dtype=mx.bool_)
    check(mx.positive(mx.array([-1.5])), [-1.5])
    check(mx.trunc(mx.array([-1.5, 1.5, -0.2, 2.7])), [-1, 1, -0.0, 2])
    check(mx.trunc(mx.array([3], mx.int8)), [3], dtype=mx.int8)
    with pytest.raises(ValueError, match=r"\[trunc\]"):
        mx.trunc(mx.array([1j]))
