"""Scans: values vs NumPy over shapes / dtypes / axes / reverse / inclusive; dtypes, errors
and edge cases vs MLX."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import umx as mx
from tests.helpers import ALL_DTYPES, check, mlx, needs_mlx, to_mlx_dtype


def make(rng, shape, d, op):
    if d == mx.bool_:
        x = rng.random(shape) < 0.7
    elif d.kind in "iu":
        lo, hi = (
            (0 if d.kind == "u" else -1, 2) if op == "cumprod" else (0 if d.kind == "u" else -4, 5)
        )
        x = rng.integers(lo, hi, shape)
    elif d == mx.complex64:
        x = rng.standard_normal(shape) + 1j * rng.standard_normal(shape)
        if op == "cumprod":
            x = 1 + x / 8
    else:
        x = rng.uniform(0.7, 1.3, shape) if op == "cumprod" else rng.standard_normal(shape)
    return np.asarray(x).astype(d.np)


def identity(op, npd):
    if op == "cumsum":
        return 0
    if op == "cumprod":
        return 1
    if op == "logcumsumexp":
        return -np.inf
    lowest = op == "cummax"
    if npd.kind == "b":
        return not lowest
    if npd.kind in "iu":
        return np.iinfo(npd).min if lowest else np.iinfo(npd).max
    inf = -np.inf if lowest else np.inf
    return complex(inf, inf) if npd.kind == "c" else inf


def np_scan(op, x, axis, reverse, inclusive):
    """Reference scan: inclusive NumPy accumulate, with reverse / exclusive by hand."""
    if axis is None:
        x = x.reshape(-1)
        axis = 0
    if x.dtype.kind == "b" and op == "cumsum":
        x = x.astype(np.int64)
    if x.dtype.kind in "fV":
        x = x.astype(np.float64)
    if op == "logcumsumexp" and x.dtype.kind in "biu":
        x = x.astype(np.float64)
    if reverse:
        x = np.flip(x, axis)
    f = {
        # In the input's dtype: narrow integers wrap as in MLX (NumPy would widen them).
        "cumsum": lambda v: np.cumsum(v, axis=axis, dtype=v.dtype),
        "cumprod": lambda v: np.cumprod(v, axis=axis, dtype=v.dtype),
        "cummax": lambda v: np.maximum.accumulate(v, axis=axis),
        "cummin": lambda v: np.minimum.accumulate(v, axis=axis),
        "logcumsumexp": lambda v: np.logaddexp.accumulate(v, axis=axis),
    }[op]
    r = f(x)
    if not inclusive and r.shape[axis]:
        r = np.moveaxis(r, axis, 0)
        first = np.full_like(r[:1], identity(op, r.dtype))
        r = np.moveaxis(np.concatenate([first, r[:-1]]), 0, axis)
    if reverse:
        r = np.flip(r, axis)
    return r


OPS = ["cumsum", "cumprod", "cummax", "cummin", "logcumsumexp"]
REAL = [d for d in ALL_DTYPES if d != mx.complex64]


@st.composite
def scan_case(draw):
    shape = tuple(draw(st.lists(st.integers(0, 5), min_size=0, max_size=3)))
    ndim = len(shape)
    axis = draw(st.none() | st.integers(-ndim, ndim - 1)) if ndim else None
    op = draw(st.sampled_from(OPS))
    d = draw(st.sampled_from(REAL if op == "logcumsumexp" else ALL_DTYPES))
    return op, shape, d, axis, draw(st.booleans()), draw(st.booleans()), draw(st.integers(0, 2**16))


@given(scan_case())
def test_scan_vs_numpy(case):
    op, shape, d, axis, reverse, inclusive, seed = case
    x = make(np.random.default_rng(seed), shape, d, op)
    out = getattr(mx, op)(mx.array(x, d), axis=axis, reverse=reverse, inclusive=inclusive)
    exp = np_scan(op, x, axis, reverse, inclusive)
    want = mx.int32 if (op == "cumsum" and d == mx.bool_) else d
    if op == "logcumsumexp" and d.kind in "biu":
        want = mx.float32
    check(out, exp, dtype=want)


def test_complex_logcumsumexp():
    x = np.array([1 + 1j, 2 + 0j, -1 + 3j, 0.5 - 2j], np.complex64)
    out = np.array(mx.logcumsumexp(mx.array(x)))
    # log is defined up to 2*pi*i: compare exp of both sides.
    np.testing.assert_allclose(np.exp(out), np.cumsum(np.exp(x.astype(np.complex128))), rtol=1e-5)


def test_dtype_argument_and_aliases():
    a = mx.array(np.array([1.5, 2.5, 3.5], np.float32))
    check(mx.cumsum(a, dtype=mx.int32), [1, 3, 6], dtype=mx.int32)
    check(mx.cumprod(mx.array([True, True, False]), dtype=mx.int32), [1, 1, 0], dtype=mx.int32)
    check(mx.cumsum(mx.array([1, 2]), dtype=mx.bool_), [1, 2], dtype=mx.int32)
    check(mx.cumulative_sum(a), np.cumsum([1.5, 2.5, 3.5]))
    check(mx.cumulative_prod(a), np.cumprod([1.5, 2.5, 3.5]))
    check(mx.cumsum(mx.array(np.array([100, 100], np.int8))), np.array([100, -56], np.int8))


def test_methods_and_stream():
    x = np.arange(12, dtype=np.float32).reshape(3, 4) / 4
    a = mx.array(x)
    check(a.cumsum(1), np.cumsum(x, 1))
    check(a.cumprod(0, reverse=True), np.flip(np.cumprod(np.flip(x, 0), 0), 0))
    check(a.cummax(), np.maximum.accumulate(x.ravel()))
    check(a.cummax(axis=-1, inclusive=False)[:, 1:], x[:, :-1])
    check(a.cummin(axis=-1, reverse=True), x)
    check(a.logcumsumexp(1), np.logaddexp.accumulate(x, 1))
    check(mx.cumsum(a, axis=0, stream=mx.cpu), np.cumsum(x, 0))


def test_half_precision_accumulates_in_float32():
    assert np.array(mx.cumsum(mx.array(np.ones(3000, np.float16))))[-1] == 3000
    r = np.array(mx.cumsum(mx.array(np.full(1000, 0.1), mx.float16)).astype(mx.float32))
    np.testing.assert_allclose(r[-1], 100.0, rtol=1e-3)


def test_errors():
    a = mx.array(np.zeros((2, 2), np.float32))
    for op in OPS:
        with pytest.raises(IndexError, match=rf"\[{op}\] Axis 2 is out of bounds"):
            getattr(mx, op)(a, axis=2)
        with pytest.raises(IndexError, match=rf"\[{op}\] Axis -3"):
            getattr(mx, op)(a, axis=-3)
        with pytest.raises(TypeError, match=rf"\[{op}\]"):
            getattr(mx, op)(a, axis=1.0)
    with pytest.raises(IndexError, match=r"\[cumsum\] Axis 0 is out of bounds for array with 0"):
        mx.cumsum(mx.array(3.0), axis=0)
    check(mx.cumsum(mx.array(3.0)), [3.0])


# -- vs MLX ---------------------------------------------------------------------------


@needs_mlx
@pytest.mark.parametrize("op", OPS)
def test_dtypes_match_mlx(op):
    for d in ALL_DTYPES:
        x = np.array([1, 0, 3]).astype(d.np)
        for inclusive in (True, False):
            ours = getattr(mx, op)(mx.array(x, d), inclusive=inclusive)
            theirs = getattr(mlx, op)(
                mlx.array(x.real.astype(np.float32)).astype(to_mlx_dtype(d)), inclusive=inclusive
            )
            assert ours.dtype.name == str(theirs.dtype).split(".")[-1], (op, d)
            cmp = mlx.complex64 if d == mx.complex64 else mlx.float32
            np.testing.assert_allclose(
                np.array(ours.astype(mx.complex64 if d == mx.complex64 else mx.float32)),
                np.array(theirs.astype(cmp)),
                rtol=1e-2,
            )


@needs_mlx
@pytest.mark.parametrize(
    "op,vals",
    [
        ("cummax", [1.0, np.nan, 3.0]),
        ("cummin", [1.0, np.nan, 0.0]),
        ("cummax", [1 + 1j, 0 + 5j, 2 + 0j]),
        ("logcumsumexp", [-np.inf, -np.inf, 1.0]),
        ("logcumsumexp", [np.inf, 1.0, 2.0]),
        ("cumprod", [True, False, True]),
    ],
)
def test_edge_values_match_mlx(op, vals):
    x = np.asarray(vals)
    for reverse in (False, True):
        for inclusive in (True, False):
            kw = dict(reverse=reverse, inclusive=inclusive)
            ours = getattr(mx, op)(mx.array(x), **kw)
            theirs = getattr(mlx, op)(mlx.array(x), **kw)
            assert ours.dtype.name == str(theirs.dtype).split(".")[-1]
            np.testing.assert_allclose(np.array(ours), np.array(theirs), rtol=1e-5, equal_nan=True)


@needs_mlx
def test_errors_match_mlx():
    m = mlx.array(np.zeros((2, 2), np.float32))
    for op in OPS:
        with pytest.raises(IndexError):
            getattr(mlx, op)(m, axis=2)


@pytest.mark.gpu
def test_kernels_on_cupy():
    cp = pytest.importorskip("cupy")
    rng = np.random.default_rng(0)
    dtypes = [
        mx.bool_,
        mx.int8,
        mx.uint16,
        mx.int32,
        mx.float16,
        mx.float32,
        mx.float64,
        mx.complex64,
    ]
    for d in dtypes:
        for op in OPS:
            x = make(rng, (3, 5), d, op)
            for axis in (None, 0, 1):
                for reverse in (False, True):
                    for inclusive in (False, True):
                        out = getattr(mx, op)(
                            mx.array(x, d), axis=axis, reverse=reverse, inclusive=inclusive
                        )
                        prim, ins = out._prim, out._inputs
                        host = [np.array(i) for i in ins]
                        got = cp.asnumpy(cp.asarray(prim.eval(cp, *[cp.asarray(h) for h in host])))
                        exp = np.array(out)
                        assert got.dtype == exp.dtype and got.shape == exp.shape, (op, d)
                        if op == "logcumsumexp" and d == mx.complex64:
                            got, exp = np.exp(got), np.exp(exp)
                        np.testing.assert_allclose(
                            got, exp, rtol=2e-3, atol=1e-5, err_msg=f"{op} {d} {axis}"
                        )


def test_narrow_integer_scans_wrap_as_mlx():
    # MLX keeps uint8 and wraps: cumsum([200] * 3) is [200, 144, 88].
    check(mx.cumsum(mx.array([200, 200, 200], mx.uint8)), np.array([200, 144, 88], np.uint8))
