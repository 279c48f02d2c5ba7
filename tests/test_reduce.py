"""Reductions: values vs NumPy over shapes / dtypes / axes / keepdims; dtypes, errors and
edge cases vs MLX."""

from __future__ import annotations

import math

import ml_dtypes
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import umx as mx
from tests.helpers import ALL_DTYPES, check, mlx, needs_mlx, to_mlx_dtype

# -- strategies -----------------------------------------------------------------------

NUM_DTYPES = [d for d in ALL_DTYPES if d != mx.complex64]


def make(rng, shape, d, kind="any"):
    """Random NumPy data of umx dtype ``d`` (small values: sums and products stay exact)."""
    if d == mx.bool_:
        x = rng.random(shape) < 0.5
    elif d.name.startswith("uint"):
        x = rng.integers(0, 2 if kind == "prod" else 5, shape)
    elif d.name.startswith("int"):
        x = rng.integers(-1 if kind == "prod" else -4, 2 if kind == "prod" else 5, shape)
    elif d == mx.complex64:
        x = rng.standard_normal(shape) + 1j * rng.standard_normal(shape)
        if kind == "prod":
            x = 0.5 + 0.5 * x / 4
    else:
        x = rng.uniform(0.5, 1.5, shape) if kind == "prod" else rng.standard_normal(shape)
    return np.asarray(x).astype(d.np)


@st.composite
def reduce_case(draw, dtypes=NUM_DTYPES, min_side=0):
    shape = tuple(draw(st.lists(st.integers(min_side, 4), min_size=0, max_size=3)))
    ndim = len(shape)
    d = draw(st.sampled_from(dtypes))
    kind = draw(st.sampled_from(["none", "int", "tuple"])) if ndim else "none"
    if kind == "none":
        axis = None
    elif kind == "int":
        axis = draw(st.integers(-ndim, ndim - 1))
    else:
        axes = draw(st.lists(st.integers(0, ndim - 1), unique=True, max_size=ndim))
        axis = tuple(a - ndim if draw(st.booleans()) else a for a in axes)
    keepdims = draw(st.booleans())
    seed = draw(st.integers(0, 2**16))
    return shape, d, axis, keepdims, np.random.default_rng(seed)


def np_axes(axis, ndim):
    if axis is None:
        return tuple(range(ndim))
    if isinstance(axis, int):
        return (axis % ndim,)
    return tuple(a % ndim for a in axis)


def wide(x):
    """``x`` in a wide type (float64 / int64 / complex128) for the NumPy reference."""
    k = x.dtype.kind
    if k == "c":
        return x.astype(np.complex128)
    if k in "biu":
        return x.astype(np.int64)
    return x.astype(np.float64)


# -- values vs NumPy ------------------------------------------------------------------


@given(reduce_case(ALL_DTYPES))
def test_sum(case):
    shape, d, axis, keepdims, rng = case
    x = make(rng, shape, d)
    out = mx.sum(mx.array(x, d), axis=axis, keepdims=keepdims)
    check(out, np.sum(wide(x), axis=np_axes(axis, x.ndim), keepdims=keepdims))


@given(reduce_case(ALL_DTYPES))
def test_prod(case):
    shape, d, axis, keepdims, rng = case
    x = make(rng, shape, d, "prod")
    out = mx.prod(mx.array(x, d), axis=axis, keepdims=keepdims)
    check(out, np.prod(wide(x), axis=np_axes(axis, x.ndim), keepdims=keepdims))


@given(reduce_case(ALL_DTYPES, min_side=1))
def test_mean(case):
    shape, d, axis, keepdims, rng = case
    x = make(rng, shape, d)
    out = mx.mean(mx.array(x, d), axis=axis, keepdims=keepdims)
    exp = np.mean(
        wide(x).astype(np.complex128 if d == mx.complex64 else np.float64),
        axis=np_axes(axis, x.ndim),
        keepdims=keepdims,
    )
    check(out, exp, dtype=d if d.kind in "fc" else mx.float32)


@given(reduce_case(ALL_DTYPES, min_side=1), st.integers(0, 2), st.booleans())
def test_var_std(case, ddof, use_std):
    shape, d, axis, keepdims, rng = case
    x = make(rng, shape, d)
    ax = np_axes(axis, x.ndim)
    n = math.prod(x.shape[a] for a in ax)
    f = mx.std if use_std else mx.var
    out = f(mx.array(x, d), axis=axis, keepdims=keepdims, ddof=ddof)
    w = wide(x).astype(np.complex128 if d == mx.complex64 else np.float64)
    with np.errstate(all="ignore"):
        dev = w - np.mean(w, axis=ax, keepdims=True)
        ss = np.sum((dev * np.conj(dev)).real, axis=ax, keepdims=keepdims)
        exp = ss / max(n - ddof, 0)
        exp = np.sqrt(exp) if use_std else exp
    check(out, exp, dtype=d if d.kind == "f" else mx.float32)


@given(reduce_case(ALL_DTYPES, min_side=1))
def test_max_min_all_any(case):
    shape, d, axis, keepdims, rng = case
    x = make(rng, shape, d)
    a = mx.array(x, d)
    ax = np_axes(axis, x.ndim)
    check(mx.max(a, axis=axis, keepdims=keepdims), np.max(x, axis=ax, keepdims=keepdims), dtype=d)
    check(mx.min(a, axis=axis, keepdims=keepdims), np.min(x, axis=ax, keepdims=keepdims), dtype=d)
    check(
        mx.all(a, axis=axis, keepdims=keepdims),
        np.all(x, axis=ax, keepdims=keepdims),
        dtype=mx.bool_,
    )
    check(
        mx.any(a, axis=axis, keepdims=keepdims),
        np.any(x, axis=ax, keepdims=keepdims),
        dtype=mx.bool_,
    )
    lo, hi = mx.minmax(a, axis=axis, keepdims=keepdims)
    check(lo, np.min(x, axis=ax, keepdims=keepdims), dtype=d)
    check(hi, np.max(x, axis=ax, keepdims=keepdims), dtype=d)
    check(
        mx.count_nonzero(a, axis=axis, keepdims=keepdims),
        np.count_nonzero(x, axis=ax, keepdims=keepdims),
        dtype=mx.int32,
    )


@given(reduce_case(ALL_DTYPES, min_side=1))
def test_argmax_argmin(case):
    shape, d, axis, keepdims, rng = case
    if isinstance(axis, tuple):
        axis = axis[0] if axis else None
    x = make(rng, shape, d)
    a = mx.array(x, d)
    check(
        mx.argmax(a, axis=axis, keepdims=keepdims),
        np.argmax(x, axis=axis, keepdims=keepdims),
        dtype=mx.uint32,
    )
    check(
        mx.argmin(a, axis=axis, keepdims=keepdims),
        np.argmin(x, axis=axis, keepdims=keepdims),
        dtype=mx.uint32,
    )


@given(reduce_case(ALL_DTYPES, min_side=1))
def test_logsumexp(case):
    shape, d, axis, keepdims, rng = case
    x = make(rng, shape, d)
    w = wide(x).astype(np.complex128 if d == mx.complex64 else np.float64)
    total = np.sum(np.exp(w), axis=np_axes(axis, x.ndim), keepdims=keepdims)
    out = mx.logsumexp(mx.array(x, d), axis=axis, keepdims=keepdims)
    if d == mx.complex64:  # a complex log is defined up to 2*pi*i: compare exp of it
        assert out.dtype == mx.complex64
        np.testing.assert_allclose(np.exp(np.array(out).astype(np.complex128)), total, rtol=1e-4)
    else:
        check(out, np.log(total), dtype=mx.float32 if d.kind in "biu" else d)


@given(reduce_case(NUM_DTYPES, min_side=1))
def test_median(case):
    shape, d, axis, keepdims, rng = case
    x = make(rng, shape, d)
    ax = np_axes(axis, x.ndim)
    out = mx.median(mx.array(x, d), axis=axis, keepdims=keepdims)
    exp = (
        np.median(x.astype(np.float64), axis=ax, keepdims=keepdims) if ax else x.astype(np.float64)
    )
    check(out, exp, dtype=d if d.kind == "f" else mx.float32)


def test_large_logsumexp_and_half_accumulation():
    check(mx.logsumexp(mx.array([1000.0, 1000.0])), 1000 + math.log(2))
    check(mx.logsumexp(mx.array([-1000.0, -1000.0])), -1000 + math.log(2))
    # float16 / bfloat16 sums accumulate in float32 (as MLX): exact count, then one rounding.
    assert mx.sum(mx.array(np.ones(5000, np.float16))).item() == 5000
    assert mx.sum(mx.array(np.ones(5000), mx.bfloat16)).item() == 4992
    assert mx.mean(mx.array(np.ones(5000), mx.bfloat16)).item() == 1.0


def test_methods_and_stream():
    x = np.arange(12, dtype=np.float32).reshape(3, 4)
    a = mx.array(x)
    for name in ["sum", "prod", "mean", "var", "std", "max", "min", "all", "any", "logsumexp"]:
        assert np.array_equal(
            np.array(getattr(a, name)(1, True)), np.array(getattr(mx, name)(a, 1, True))
        )
    check(a.argmax(1), np.argmax(x, 1))
    check(a.argmin(axis=0, keepdims=True), np.argmin(x, 0, keepdims=True))
    check(a.var(correction=1), np.var(x, ddof=1))
    check(a.std(axis=0, ddof=0, correction=2), np.std(x, axis=0, ddof=2))
    check(mx.sum(a, axis=[0, 1], stream=mx.cpu), x.sum())
    check(mx.sum(a, axis=np.int64(1)), x.sum(1))
    check(mx.sum(a, axis=[]), x)


def test_empty_reductions():
    e = mx.array(np.zeros((0, 3), np.float32))
    check(mx.sum(e), 0.0)
    check(mx.prod(e), 1.0)
    check(mx.mean(e), np.nan)
    check(mx.all(e), True)
    check(mx.any(e), False)
    check(mx.max(e, axis=1), np.zeros((0,), np.float32))
    check(mx.sum(e, axis=0, keepdims=True), np.zeros((1, 3)))
    check(mx.var(mx.array([1.0, 2.0, 3.0]), ddof=3), np.inf)
    check(mx.var(mx.ones((3,)) if hasattr(mx, "ones") else mx.array([1.0] * 3), ddof=3), np.nan)


# -- semantics vs MLX -----------------------------------------------------------------

_OPS = ["sum", "prod", "mean", "var", "std", "max", "min", "all", "any", "argmax", "argmin",
        "logsumexp", "count_nonzero", "median"]  # fmt: skip


@needs_mlx
@pytest.mark.parametrize("op", _OPS)
def test_dtypes_match_mlx(op):
    for d in ALL_DTYPES:
        x = np.array([1, 2, 3]).astype(d.np)
        ours = getattr(mx, op)(mx.array(x, d), axis=0)
        theirs = getattr(mlx, op)(
            mlx.array(x.real.astype(np.float32)).astype(to_mlx_dtype(d)), axis=0, stream=mlx.cpu
        )
        assert ours.dtype.name == str(theirs.dtype).split(".")[-1], (op, d)
        np.testing.assert_allclose(
            np.array(ours).astype(np.complex128),
            np.array(theirs.astype(mlx.complex64 if d == mx.complex64 else mlx.float32)).astype(np.complex128),
            rtol=1e-2,
        )  # fmt: skip


_EDGE = [
    ("max", [1.0, np.nan, 3.0], {}),
    ("min", [1.0, np.nan, 3.0], {}),
    ("argmax", [1.0, np.nan, 3.0], {}),
    ("argmin", [3.0, 1.0, 1.0], {}),
    ("argmax", [3, 1, 3], {}),
    ("logsumexp", [-np.inf, -np.inf], {}),
    ("logsumexp", [np.inf, 1.0], {}),
    ("logsumexp", [np.nan, 1.0], {}),
    ("var", [1.0, 2.0, 3.0], {"ddof": 4}),
    ("var", [1.0, 2.0, 3.0], {"ddof": -1}),
    ("median", [1.0, np.nan, 3.0], {}),
    ("median", [4, 1, 3, 2], {}),
    ("max", [1 + 2j, 3 + 0j, 1 + 5j], {}),
    ("argmax", [1 + 2j, 3 + 0j, 1 + 5j], {}),
    ("var", [1 + 2j, 3 + 0j, 1 + 5j], {}),
    ("median", [1 + 2j, 3 + 0j, 1 + 5j], {}),
    ("logsumexp", [1 + 1j, 2 + 0j], {}),
    ("sum", np.array([200, 100], np.uint8), {}),
    ("prod", np.array([100, -56], np.int8), {}),
]


@needs_mlx
@pytest.mark.parametrize("op,vals,kw", _EDGE)
def test_edge_values_match_mlx(op, vals, kw):
    x = np.asarray(vals)
    ours = getattr(mx, op)(mx.array(x), **kw)
    theirs = getattr(mlx, op)(mlx.array(x), **kw)
    assert ours.dtype.name == str(theirs.dtype).split(".")[-1]
    np.testing.assert_allclose(np.array(ours), np.array(theirs), rtol=1e-5, equal_nan=True)


@needs_mlx
def test_errors_match_mlx():
    a = mx.array(np.arange(6, dtype=np.int32).reshape(2, 3))
    m = mlx.array(np.arange(6, dtype=np.int32).reshape(2, 3))
    cases = [
        ("sum", {"axis": 2}), ("mean", {"axis": -3}), ("max", {"axis": (0, -2)}),
        ("all", {"axis": [1, 1]}), ("argmax", {"axis": 2}), ("logsumexp", {"axis": 5}),
        ("count_nonzero", {"axis": (0, 0)}), ("median", {"axis": 2}), ("median", {"axis": (1, 1)}),
    ]  # fmt: skip
    for op, kw in cases:
        with pytest.raises(Exception) as theirs:
            getattr(mlx, op)(m, **kw)
        with pytest.raises(type(theirs.value), match=rf"^\[{op}\]"):
            getattr(mx, op)(a, **kw)


def test_errors():
    a = mx.array(np.zeros((2, 3), np.float32))
    e = mx.array(np.zeros((3, 0), np.float32))
    with pytest.raises(IndexError, match=r"\[sum\] Invalid axis 2"):
        mx.sum(a, axis=2)
    with pytest.raises(ValueError, match=r"\[prod\] Duplicate axes"):
        mx.prod(a, axis=(1, -1))
    with pytest.raises(TypeError, match=r"\[sum\]"):
        mx.sum(a, axis=1.0)
    with pytest.raises(TypeError, match=r"\[argmax\]"):
        mx.argmax(a, axis=(0, 1))
    with pytest.raises(ValueError, match=r"\[max\] Cannot max reduce over axis 1 with size 0"):
        mx.max(e)
    with pytest.raises(ValueError, match=r"\[min\] Cannot min reduce over axis 1"):
        mx.minmax(e, axis=1)
    check(mx.max(e, axis=0), np.zeros((0,), np.float32))
    with pytest.raises(ValueError, match=r"\[argmin\] Cannot argmin reduce zero size array"):
        mx.argmin(e, axis=0)
    with pytest.raises(ValueError, match=r"\[logsumexp\] Received empty array"):
        mx.logsumexp(e, axis=0)
    with pytest.raises(ValueError, match=r"\[median\] Cannot take median along empty axis"):
        mx.median(e, axis=1)
    check(mx.median(e, axis=0), np.zeros((0,), np.float32))
    with pytest.raises(TypeError, match=r"\[var\] ddof"):
        mx.var(a, ddof=1.5)


def test_bfloat16_values():
    x = np.linspace(-2, 2, 24).reshape(4, 6).astype(ml_dtypes.bfloat16)
    a = mx.array(x, mx.bfloat16)
    w = x.astype(np.float64)
    check(mx.sum(a, axis=1), w.sum(1), dtype=mx.bfloat16)
    check(mx.var(a, axis=0), w.var(0), dtype=mx.bfloat16)
    check(mx.logsumexp(a), np.log(np.exp(w).sum()), dtype=mx.bfloat16)


# -- the same kernels on CuPy ---------------------------------------------------------


def run_on_cupy(out):
    """Evaluate ``out``'s primitive with CuPy on its (host) inputs; NumPy result beside it."""
    cp = pytest.importorskip("cupy")
    prim, ins = out._prim, out._inputs
    host = [np.array(i) for i in ins]
    got = prim.eval(cp, *[cp.asarray(h) for h in host])
    return got, prim


@pytest.mark.gpu
def test_kernels_on_cupy():
    import cupy as cp

    rng = np.random.default_rng(0)
    dtypes = [
        mx.bool_,
        mx.int8,
        mx.uint16,
        mx.int32,
        mx.int64,
        mx.float16,
        mx.float32,
        mx.float64,
        mx.complex64,
    ]
    ops = [mx.sum, mx.prod, mx.mean, mx.var, mx.std, mx.max, mx.min, mx.all, mx.any, mx.logsumexp,
           mx.count_nonzero, mx.median, mx.argmax, mx.argmin]  # fmt: skip
    for d in dtypes:
        x = make(rng, (3, 4, 5), d, "prod")
        for op in ops:
            if op is mx.median and d == mx.complex64:
                continue
            for axis in (None, 1, (0, 2)):
                if op in (mx.argmax, mx.argmin) and isinstance(axis, tuple):
                    continue
                for keepdims in (False, True):
                    out = op(mx.array(x, d), axis=axis, keepdims=keepdims)
                    got, _ = run_on_cupy(out)
                    got = cp.asnumpy(cp.asarray(got))
                    exp = np.array(out)
                    assert got.dtype == exp.dtype and got.shape == exp.shape, (op.__name__, d, axis)
                    np.testing.assert_allclose(
                        got, exp, rtol=2e-3, atol=1e-5, err_msg=f"{op.__name__} {d} {axis}"
                    )
    lo, hi = mx.minmax(mx.array(make(rng, (3, 4), mx.float32)), axis=1)
    got, _ = run_on_cupy(lo)
    np.testing.assert_allclose(cp.asnumpy(got[0]), np.array(lo))
    np.testing.assert_allclose(cp.asnumpy(got[1]), np.array(hi))


def test_sum_prod_over_no_axes_keep_the_dtype():
    # MLX: nothing reduced (0-d input or axis=()) returns the input's dtype unchanged.
    check(mx.sum(mx.array(4, mx.uint8)), 4, dtype=mx.uint8)
    check(mx.prod(mx.array(4, mx.int8)), 4, dtype=mx.int8)
    check(mx.sum(mx.array(True)), True, dtype=mx.bool_)
    check(mx.prod(mx.array([[4, 5]], mx.uint16), axis=()), [[4, 5]], dtype=mx.uint16)
    check(mx.sum(mx.array([[1, 2]], mx.int8), axis=(), keepdims=True), [[1, 2]], dtype=mx.int8)
    check(mx.sum(mx.array([4], mx.uint8)), 4, dtype=mx.uint32)  # reduced: promoted


def test_reduction_error_order_matches_mlx():
    with pytest.raises(ValueError, match="Received empty array"):
        mx.logsumexp(mx.zeros((2, 0)), axis=5)
    with pytest.raises(ValueError, match="non-empty axes for array with 0 dimensions"):
        mx.logsumexp(mx.array(1.0), axis=0)
    with pytest.raises(ValueError, match="non-empty axes"):
        mx.logsumexp(mx.array(1.0), axis=(-1,))
    check(mx.logsumexp(mx.array(1.0), axis=()), 1.0)
    with pytest.raises(IndexError):
        mx.logsumexp(mx.zeros((2, 3)), axis=5)
    with pytest.raises(ValueError, match="Cannot argmax reduce zero size array"):
        mx.argmax(mx.zeros((3, 0)), axis=5)
    with pytest.raises(IndexError):
        mx.argmin(mx.zeros((3, 2)), axis=5)
