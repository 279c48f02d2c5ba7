"""softmax: values vs NumPy over shapes / dtypes / axes; dtypes, errors and edge cases vs MLX."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import umx as mx
from tests.helpers import ALL_DTYPES, check, mlx, needs_mlx, to_mlx_dtype


def np_softmax(x, axes):
    x = x.astype(np.complex128 if x.dtype.kind == "c" else np.float64)
    if x.size == 0:
        return x
    e = np.exp(x - np.max(x, axis=axes, keepdims=True))
    return e / np.sum(e, axis=axes, keepdims=True)


@st.composite
def softmax_case(draw):
    shape = tuple(draw(st.lists(st.integers(0, 4), min_size=0, max_size=3)))
    ndim = len(shape)
    kind = draw(st.sampled_from(["none", "int", "tuple"])) if ndim else "none"
    if kind == "none":
        axis = None
    elif kind == "int":
        axis = draw(st.integers(-ndim, ndim - 1))
    else:
        axis = tuple(
            draw(st.lists(st.integers(0, ndim - 1), unique=True, min_size=1, max_size=ndim))
        )
    d = draw(st.sampled_from([d for d in ALL_DTYPES if d != mx.complex64]))
    return shape, axis, d, draw(st.booleans()), draw(st.integers(0, 2**16))


@given(softmax_case())
def test_softmax_vs_numpy(case):
    shape, axis, d, precise, seed = case
    rng = np.random.default_rng(seed)
    if d.kind in "biu":
        x = (rng.random(shape) < 0.5) if d == mx.bool_ else rng.integers(0, 5, shape)
    else:
        x = rng.standard_normal(shape) * 4
    x = np.asarray(x).astype(d.np)
    axes = tuple(range(x.ndim)) if axis is None else axis
    out = mx.softmax(mx.array(x, d), axis=axis, precise=precise)
    check(out, np_softmax(x, axes), dtype=mx.float32 if d.kind in "biu" else d)
    if x.size:
        sums = np.array(mx.sum(out.astype(mx.float32), axis=axis))
        np.testing.assert_allclose(sums, 1.0, rtol=2e-2)


def test_softmax_stability_and_complex():
    check(mx.softmax(mx.array([1000.0, 1000.0])), [0.5, 0.5])
    check(mx.softmax(mx.array([-1000.0, 0.0])), [0.0, 1.0])
    z = np.array([1 + 1j, 2 - 0.5j, 0.3j], np.complex64)
    check(mx.softmax(mx.array(z)), np_softmax(z, (0,)), dtype=mx.complex64)
    check(mx.softmax(mx.array(2.0)), 1.0)
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    check(mx.softmax(mx.array(x), axis=[0, 1], stream=mx.cpu), np_softmax(x, (0, 1)))


def test_errors():
    a = mx.array(np.zeros((2, 3), np.float32))
    with pytest.raises(IndexError, match=r"\[softmax\] Invalid axis 2"):
        mx.softmax(a, axis=2)
    with pytest.raises(ValueError, match=r"\[softmax\] Duplicate axes"):
        mx.softmax(a, axis=(0, -2))


@needs_mlx
def test_dtypes_and_edges_match_mlx():
    for d in ALL_DTYPES:
        x = np.array([1, 0, 3]).astype(d.np)
        ours = mx.softmax(mx.array(x, d))
        theirs = mlx.softmax(mlx.array(x.real.astype(np.float32)).astype(to_mlx_dtype(d)))
        assert ours.dtype.name == str(theirs.dtype).split(".")[-1]
    for vals in ([-np.inf, -np.inf], [np.inf, 1.0], [np.nan, 1.0], [-np.inf, 1.0]):
        ours = np.array(mx.softmax(mx.array(np.array(vals, np.float32))))
        theirs = np.array(mlx.softmax(mlx.array(np.array(vals, np.float32))))
        np.testing.assert_allclose(ours, theirs, equal_nan=True)
    x = np.array([[1.0, 2.0], [3.0, 4.0]], np.float16)
    for precise in (False, True):
        ours = np.array(mx.softmax(mx.array(x), axis=1, precise=precise))
        theirs = np.array(mlx.softmax(mlx.array(x), axis=1, precise=precise))
        np.testing.assert_allclose(ours.astype(np.float32), theirs.astype(np.float32), rtol=2e-3)
    with pytest.raises(IndexError):
        mlx.softmax(mlx.array([1.0, 2.0]), axis=1)
    with pytest.raises(IndexError):
        mx.softmax(mx.array([1.0, 2.0]), axis=1)


@pytest.mark.gpu
def test_kernels_on_cupy():
    cp = pytest.importorskip("cupy")
    rng = np.random.default_rng(0)
    for d in [mx.int32, mx.float16, mx.float32, mx.float64, mx.complex64]:
        x = mx.array((rng.standard_normal((3, 4, 5)) * 3).astype(d.np), d)
        for axis in (None, -1, (0, 2)):
            out = mx.softmax(x, axis=axis)
            prim, ins = out._prim, out._inputs
            host = [np.array(i) for i in ins]
            got = cp.asnumpy(cp.asarray(prim.eval(cp, *[cp.asarray(h) for h in host])))
            exp = np.array(out)
            assert got.dtype == exp.dtype and got.shape == exp.shape
            np.testing.assert_allclose(got, exp, rtol=2e-3, atol=1e-6)


@needs_mlx
@pytest.mark.parametrize("n,axis", [(1, -1), (2, -1), (1, 0), (0, -1), (5, -1)])
def test_diff_matches_mlx(n, axis):
    x = np.array([[1, 4, 9], [2, 3, 7]], np.int32)
    got, want = mx.diff(mx.array(x), n=n, axis=axis), mlx.diff(mlx.array(x), n=n, axis=axis)
    assert got.dtype == mx.int32 and got.shape == tuple(want.shape)
    np.testing.assert_array_equal(np.array(got), np.array(want))
    np.testing.assert_array_equal(np.array(mx.diff(mx.array([True, False, True]))), [True, True])
    with pytest.raises(ValueError, match=r"\[diff\]"):
        mx.diff(mx.array(x), n=-1)
    with pytest.raises(IndexError, match=r"\[diff\]"):
        mx.diff(mx.array(x), axis=3)
