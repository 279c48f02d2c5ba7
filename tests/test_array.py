"""The array: construction and dtype inference, properties, conversions, zero-copy NumPy
views, Python protocols, and ``repr`` string-for-string against MLX."""

from __future__ import annotations

import sys

import ml_dtypes
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import umx as mx
from tests.helpers import ALL_DTYPES, check, mlx, needs_mlx, to_mlx_dtype

_CTOR_CASES = [
    "[]", "[[]]", "[[], []]", "()", "[1, 2.0]", "[True, 2]", "[True, 2.5]", "[1, 2j]", "[2**31]",
    "[2**31 - 1, -2**31]", "-2**31 - 1", "2**40", "True", "1.5", "1+2j", "[[1, 2], [3, 4]]",
    "[(1, 2), (3, 4)]", "np.float64(1.5)", "np.float32(1.5)", "np.int64(5)", "np.int8(5)",
    "np.uint64(5)", "np.bool_(True)", "np.complex128(1j)", "np.float16(1.5)",
    "np.array([1.5])", "np.array([1, 2], np.int64)", "np.array([1, 2], np.uint16)",
    "np.array([1j])", "np.array(3.5)", "np.arange(6).reshape(2, 3).T", "np.arange(6)[::2]",
    "[[1.0], [np.nan]]",
]  # fmt: skip
_CTOR_DTYPE_CASES = [
    ("2**40", "int32"), ("300", "uint8"), ("1.7", "int32"), ("[1.5, 2.5]", "int8"),
    ("1+2j", "float32"), ("[1+2j]", "int32"), ("True", "float16"), ("np.array([1.5])", "float64"),
    ("[1, 2]", "bool_"), ("[0.0, 0.5]", "bool_"), ("1e40", "float16"), ("[1.5]", "bfloat16"),
]  # fmt: skip


def _describe(lib, src, dtype=None):
    try:
        val = eval(src, {"np": np})
        a = lib.array(val, getattr(lib, dtype)) if dtype else lib.array(val)
        v = a.astype(lib.float32) if a.dtype == lib.bfloat16 else a
        return str(a.dtype).rsplit(".", 1)[-1], tuple(a.shape), v.tolist()
    except (ValueError, TypeError) as e:
        return type(e).__name__


@needs_mlx
@pytest.mark.parametrize("src", _CTOR_CASES)
def test_constructor_dtype_inference_matches_mlx(src):
    got, want = _describe(mx, src), _describe(mlx, src)
    assert repr(got) == repr(want)  # repr: nan == nan


@needs_mlx
@pytest.mark.parametrize("src,dtype", _CTOR_DTYPE_CASES)
def test_constructor_with_dtype_matches_mlx(src, dtype):
    with np.errstate(all="ignore"):
        assert repr(_describe(mx, src, dtype)) == repr(_describe(mlx, src, dtype))


def test_constructor_sources_and_errors():
    a = mx.array([1, 2, 3], mx.int16)
    b = mx.array(a)
    assert b.dtype == mx.int16 and b.tolist() == [1, 2, 3]
    check(mx.array(a, mx.float32), [1, 2, 3], dtype=mx.float32)
    check(
        mx.array([mx.array([1, 2], mx.int8), mx.array([3, 4], mx.int8)]),
        [[1, 2], [3, 4]],
        dtype=mx.int8,
    )
    check(mx.array([mx.array([1, 2], mx.int8), [3, 4]]), [[1, 2], [3, 4]], dtype=mx.int32)
    check(mx.array([mx.array(1, mx.int8), 2.5]), [1, 2.5], dtype=mx.float32)
    check(mx.array(np.array([1.5], ml_dtypes.bfloat16)), [1.5], dtype=mx.bfloat16)
    assert mx.array(np.array([1.0, 2.0])).dtype == mx.float32  # NumPy float64 -> float32
    with pytest.raises(ValueError):
        mx.array([[1, 2], [3]])
    with pytest.raises(ValueError):
        mx.array("abc")
    with pytest.raises((TypeError, ValueError)):
        mx.array([None])
    with pytest.raises((TypeError, ValueError, OverflowError)):
        mx.array(2**64)


@given(x=hnp.arrays(hnp.scalar_dtypes().filter(lambda d: d.kind in "biuf" and d.itemsize <= 8 and d != np.float128 if hasattr(np, "float128") else d.kind in "biuf"),
                    hnp.array_shapes(min_dims=0, max_dims=3, max_side=4)))  # fmt: skip
def test_numpy_roundtrip(x):
    a = mx.array(x)
    with np.errstate(over="ignore"):
        want = x.astype(np.float32) if x.dtype.kind == "f" and x.dtype.itemsize == 8 else x
    assert a.shape == x.shape
    assert a.dtype.np == want.dtype.newbyteorder("=")
    np.testing.assert_array_equal(np.array(a), want)
    assert a.ndim == x.ndim and a.size == x.size
    assert a.itemsize == want.itemsize and a.nbytes == want.nbytes


def test_properties():
    a = mx.zeros((2, 3, 4), mx.float16)
    assert a.shape == (2, 3, 4) and isinstance(a.shape, tuple)
    assert (a.ndim, a.size, a.itemsize, a.nbytes) == (3, 24, 2, 48)
    assert a.dtype == mx.float16
    s = mx.array(3)
    assert (s.shape, s.ndim, s.size) == ((), 0, 1)
    e = mx.array([])
    assert (e.shape, e.size, e.nbytes, e.dtype) == ((0,), 0, 0, mx.float32)


def test_item_and_tolist():
    assert (
        mx.array(1.5, mx.bfloat16).item() == 1.5
        and type(mx.array(1.5, mx.bfloat16).item()) is float
    )
    assert type(mx.array(1.5, mx.float16).item()) is float
    assert mx.array(1 + 2j).item() == 1 + 2j
    assert type(mx.array(7, mx.uint64).item()) is int
    assert mx.array([True]).item() is True
    assert mx.array([[2]]).item() == 2
    assert mx.array([1.5, 2.5], mx.bfloat16).tolist() == [1.5, 2.5]
    assert mx.array([[1, 2], [3, 4]], mx.int8).tolist() == [[1, 2], [3, 4]]
    assert mx.array([1 + 2j]).tolist() == [1 + 2j]
    assert mx.array(3.0).tolist() == 3.0
    assert all(type(v) is float for v in mx.array([1.0, 2.0], mx.float16).tolist())
    with pytest.raises(ValueError, match="length-1"):
        mx.array([1, 2]).item()


def test_numpy_views_are_zero_copy():
    a = mx.array([1.0, 2.0, 3.0]) * 2
    x = np.asarray(a)
    y = np.asarray(a)
    assert np.shares_memory(x, y)
    assert x.__array_interface__["data"][0] == np.asarray(a._host()).__array_interface__["data"][0]
    z = np.array(a, copy=False)
    assert np.shares_memory(x, z)
    w = np.array(a)  # np.array copies by default, as with MLX
    assert not np.shares_memory(x, w)
    np.testing.assert_array_equal(w, [2, 4, 6])
    assert np.asarray(mx.array(3.0)).shape == ()
    assert np.asarray(mx.array([1, 2]), dtype=np.float64).dtype == np.float64
    if sys.version_info >= (3, 12):  # the buffer protocol from Python needs __buffer__
        m = memoryview(mx.array([1, 2], mx.int32))
        assert m.tolist() == [1, 2] and m.format == "i"


def test_python_protocols():
    a = mx.array([[1, 2], [3, 4]])
    assert len(a) == 2
    rows = list(a)
    assert len(rows) == 2 and rows[1].tolist() == [3, 4]
    assert 3 in a.reshape(-1)
    with pytest.raises(TypeError, match="0-dimensional"):
        len(mx.array(1))
    with pytest.raises(TypeError, match="0-dimensional"):
        iter(mx.array(1))
    assert bool(mx.array([[3]])) is True and bool(mx.array(0.0)) is False
    with pytest.raises(ValueError):
        bool(mx.array([1, 2]))
    with pytest.raises(ValueError):
        bool(mx.array([]))
    assert (
        int(mx.array(2.7)) == 2 and float(mx.array(True)) == 1.0 and complex(mx.array(1)) == 1 + 0j
    )
    assert [1, 2, 3][mx.array(1)] == 2
    assert list(range(mx.array(3, mx.uint8))) == [0, 1, 2]
    for bad in (mx.array(1.0), mx.array([1]), mx.array(True)):
        with pytest.raises(TypeError, match="0-dimensional integer"):
            [1, 2, 3][bad]
    assert f"{mx.array(3.5):.2f}" == "3.50"
    assert f"{mx.array([1, 2])}" == "array([1, 2], dtype=int32)"
    h = mx.array([1])
    assert hash(h) == hash(h) and len({h, mx.array([1])}) == 2


def test_operators_and_reflected():
    a = mx.array([1.0, 2.0])
    check(a + 1, [2, 3])
    check(1 + a, [2, 3])
    check(1 - a, [0, -1])
    check(2 / a, [2, 1])
    check(3 // a, [3, 1])
    check(3 % a, [0, 1])
    check(2**a, [2, 4])
    check(a**2, [1, 4])
    check(-a, [-1, -2])
    check(+a, [1, 2])
    check(abs(-a), [1, 2])
    check(a @ a, 5.0)
    check(a < 2, [True, False])
    check(2 > a, [True, False])
    check(a == a, [True, True])
    check(a != 1.0, [False, True])
    i = mx.array([1, 6])
    check(i & 3, [1, 2])
    check(i | 8, [9, 14])
    check(i ^ 1, [0, 7])
    check(i << 1, [2, 12])
    check(i >> 1, [0, 3])
    check(~i, [-2, -7])


# -- repr, string-for-string against MLX ------------------------------------------------
_REPR_CASES = [
    [1, 2, 3], [[1, 2], [3, 4]], 1, 1.5, True, [True, False], 1 + 2j, [1 + 2j, -3.5 - 0.5j],
    [0.1, 1.0, 100.5], [1e-5, 1.0], [1e10, 1.0], [1e-10], [123456789.0], [0.0, -0.0],
    [float("nan"), float("inf"), -float("inf"), 1.5], [-1, -2], [[[1, 2], [3, 4]], [[5, 6], [7, 8]]],
    [], [[]], [2**40], [1e20, -1e-20], [100000.0, 1e6, 1e7], [1 / 3], list(range(7)), list(range(2000)),
    [complex(0, -0.0), complex(1, float("nan")), complex(float("inf"), -float("inf")), complex(-0.0, 0)],
]  # fmt: skip


def _arrays(lib, v, d=None):
    return lib.array(v, getattr(lib, d) if d else None)


@needs_mlx
@pytest.mark.parametrize("v", _REPR_CASES, ids=lambda v: str(v)[:30])
def test_repr_matches_mlx_cases(v):
    assert repr(mx.array(v)) == repr(mlx.array(v))
    assert str(mx.array(v)) == str(mlx.array(v))


@needs_mlx
@pytest.mark.parametrize("d", ALL_DTYPES, ids=lambda d: d.name)
def test_repr_matches_mlx_every_dtype(d):
    rng = np.random.default_rng(0)
    md = to_mlx_dtype(d)
    for shape in [
        (),
        (0,),
        (3,),
        (2, 3),
        (7,),
        (2, 0, 2),
        (3, 0),
        (8, 1),
        (2, 3, 4),
        (8, 8, 8),
        (2, 1, 7, 3),
    ]:
        v = rng.standard_normal(shape) * 10.0 ** rng.integers(-3, 4)
        if d.kind == "c":
            v = v + 1j * rng.standard_normal(shape)
        a = mx.array(v, d)
        b = mlx.array(np.array(a.astype(mx.float32)) if d is mx.bfloat16 else np.array(a), md)
        assert repr(a) == repr(b), shape


@needs_mlx
@given(
    x=hnp.arrays(
        np.float64,
        hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=9),
        elements=st.one_of(
            st.integers(-1000, 1000), st.floats(-1e5, 1e5), st.just(np.nan), st.just(-np.inf)
        ),
    ),
    dtype=st.sampled_from(
        [np.float32, np.float16, np.int32, np.int8, np.uint8, np.bool_, np.complex64]
    ),
)
def test_repr_matches_mlx_generated(x, dtype):
    with np.errstate(all="ignore"):
        if np.dtype(dtype).kind in "iu":
            x = np.nan_to_num(x, posinf=0, neginf=0).astype(np.int64).astype(dtype)
        elif np.dtype(dtype).kind == "b":
            x = x > 0
        else:
            x = x.astype(dtype)
    assert repr(mx.array(x)) == repr(mlx.array(x))


@needs_mlx
def test_repr_special_values_match_mlx():
    v = np.array([np.nan, 1.0, -0.0], np.float32)
    assert repr(-mx.array(v)) == repr(-mlx.array(v))  # "-nan", "-1", "0"
    assert repr(mx.array(2**62)) == repr(mlx.array(2**62))
    assert repr(mx.array([65504.0], mx.float16) * 2) == repr(mlx.array([65504.0], mlx.float16) * 2)
    assert repr(mx.array([3.14159], mx.bfloat16)) == repr(mlx.array([3.14159], mlx.bfloat16))
    assert repr(mx.array([255], mx.uint8)) == repr(mlx.array([255], mlx.uint8))
    assert repr(mx.array([1 / 3], mx.float64)) == repr(mlx.array([1 / 3], mlx.float64))


@needs_mlx
def test_printoptions_match_mlx():
    vals = [1e10, float("nan"), -float("inf"), 0.5, 1.25, -0.4]
    try:
        for p in (3, 0, 1, -5):
            mx.set_printoptions(precision=p)
            mlx.set_printoptions(precision=p)
            for d in ("float32", "float16", "complex64"):
                assert repr(mx.array(vals, getattr(mx, d))) == repr(
                    mlx.array(vals, getattr(mlx, d))
                )
            assert repr(mx.array([1, 2])) == repr(mlx.array([1, 2]))
    finally:
        mx.set_printoptions()
        mlx.set_printoptions()
    assert repr(mx.array([1.23456789])) == "array([1.23457], dtype=float32)"
    with mx.printoptions(precision=2):
        assert repr(mx.array([1.23456])) == "array([1.23], dtype=float32)"
    assert repr(mx.array([1.23456])) == "array([1.23456], dtype=float32)"


def test_from_dlpack_shares_memory_and_converts_float64():
    a = np.arange(4, dtype=np.int16)
    m = mx.from_dlpack(a)
    assert m.dtype == mx.int16 and np.shares_memory(np.asarray(m), a)
    c = mx.from_dlpack(a, copy=True)
    assert not np.shares_memory(np.asarray(c), a)
    f = mx.from_dlpack(np.array([1.0, 2.0]))
    assert f.dtype == mx.float32 and f.tolist() == [1.0, 2.0]
    with pytest.raises(TypeError, match=r"\[from_dlpack\]"):
        mx.from_dlpack([1, 2])
