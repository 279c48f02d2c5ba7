"""Dtypes: promotion table, weak scalars, categories, finfo/iinfo, can_cast/isdtype/result_type."""

from __future__ import annotations

import itertools
import pickle

import ml_dtypes
import numpy as np
import pytest

import umx as mx
from tests.helpers import ALL_DTYPES, mlx, needs_mlx, to_mlx_dtype

CATEGORIES = [
    mx.generic, mx.number, mx.integer, mx.signedinteger, mx.unsignedinteger,
    mx.inexact, mx.floating, mx.complexfloating,
]  # fmt: skip


def _name(d) -> str:
    return str(d).rsplit(".", 1)[-1]


@needs_mlx
def test_promotion_table_matches_mlx_for_all_pairs():
    for a, b in itertools.product(ALL_DTYPES, ALL_DTYPES):
        want = (mlx.zeros((1,), to_mlx_dtype(a)) + mlx.zeros((1,), to_mlx_dtype(b))).dtype
        got = (mx.zeros((1,), a) + mx.zeros((1,), b)).dtype
        assert got.name == _name(want), (a, b)
        assert mx.result_type(a, b) is got
        assert _name(mlx.result_type(to_mlx_dtype(a), to_mlx_dtype(b))) == got.name


_SCALARS = [
    True,
    1,
    -1,
    200,
    2**31,
    1.5,
    1e39,
    2j,
    np.float64(2.5),
    np.float32(2.7),
    np.int64(3),
    np.bool_(True),
]


def _outcome(lib, d, s, left):
    try:
        x = lib.array([1, 1], getattr(lib, d.name if d.name != "bool" else "bool_"))
        r = x + s if left else s + x
        v = r.astype(lib.float32) if r.dtype == lib.bfloat16 else r
        return _name(r.dtype), v.tolist()
    except ValueError:
        return "ValueError", None


@needs_mlx
@pytest.mark.parametrize("d", ALL_DTYPES, ids=lambda d: d.name)
def test_weak_scalars_match_mlx(d):
    for s in _SCALARS:
        sides = (True, False) if type(s) in (bool, int, float, complex) else (True,)
        for left in sides:
            assert _outcome(mx, d, s, left) == _outcome(mlx, d, s, left), (d, s, left)


def test_weak_scalar_rules():
    i8 = mx.array([1, 2], mx.int8)
    assert (i8 + 1).dtype == mx.int8
    assert (1 + i8).dtype == mx.int8
    assert (i8 + 1.5).dtype == mx.float32
    assert (mx.array([1.0], mx.float16) * 3.0).dtype == mx.float16
    assert (mx.array([True]) + 1).dtype == mx.int32
    assert (mx.array([True]) | True).dtype == mx.bool_
    assert (i8 + 1j).dtype == mx.complex64
    with pytest.raises(ValueError, match="overflow"):
        i8 + 300
    with pytest.raises(ValueError, match="overflow"):
        mx.array([1], mx.uint8) - (-1) + (-1)
    assert (mx.array([1], mx.uint64) + -1).tolist() == [0]
    # NumPy scalars (not Python floats) take the array's dtype, as in MLX
    assert (i8 + np.float32(2.7)).dtype == mx.int8
    assert (i8 + np.float64(2.5)).dtype == mx.float32  # np.float64 is a Python float
    # two Python scalars are both strong
    assert mx.add(1, 2**40).dtype == mx.int64
    assert mx.add(True, 1).dtype == mx.int32


def test_dtype_objects():
    assert repr(mx.float32) == str(mx.float32) == "mlx.core.float32"
    assert repr(mx.bool_) == "mlx.core.bool"
    assert [d.size for d in ALL_DTYPES] == [1, 1, 2, 4, 8, 1, 2, 4, 8, 2, 2, 4, 8, 8]
    assert mx.float32 == mx.float32 and mx.float32 != mx.float16
    assert not (mx.float32 == "float32")
    assert len({hash(d) for d in ALL_DTYPES}) == len(ALL_DTYPES)
    assert {mx.float32: 1}[mx.float32] == 1
    for d in ALL_DTYPES:
        assert pickle.loads(pickle.dumps(d)) is d
    with pytest.raises(TypeError):
        mx.float32 < mx.float16  # noqa: B015


@needs_mlx
def test_categories_match_mlx():
    assert [c.name for c in mx.DtypeCategory] == [c.name for c in mlx.DtypeCategory]
    assert [c.value for c in mx.DtypeCategory] == [c.value for c in mlx.DtypeCategory]
    assert mx.DtypeCategory["floating"] is mx.floating
    assert repr(mx.floating) == str(mx.floating) == "DtypeCategory.floating"
    for a in [*ALL_DTYPES, *CATEGORIES]:
        for b in [*ALL_DTYPES, *CATEGORIES]:
            ma = to_mlx_dtype(a) if isinstance(a, mx.Dtype) else getattr(mlx, a.name)
            mb = to_mlx_dtype(b) if isinstance(b, mx.Dtype) else getattr(mlx, b.name)
            assert mx.issubdtype(a, b) == mlx.issubdtype(ma, mb), (a, b)


def test_issubdtype_errors():
    assert mx.issubdtype(mx.bool_, mx.generic) and not mx.issubdtype(mx.bool_, mx.number)
    assert not mx.issubdtype(mx.float64, mx.float32)
    with pytest.raises(ValueError, match=r"\[issubdtype\]"):
        mx.issubdtype(mx.float32, "float32")
    with pytest.raises(ValueError, match=r"\[issubdtype\]"):
        mx.issubdtype(1, mx.float32)


@needs_mlx
@pytest.mark.parametrize(
    "d", [mx.float16, mx.bfloat16, mx.float32, mx.float64, mx.complex64], ids=str
)
def test_finfo_matches_mlx(d):
    a, b = mx.finfo(d), mlx.finfo(to_mlx_dtype(d))
    for f in ("min", "max", "eps", "smallest_normal", "bits"):
        assert getattr(a, f) == getattr(b, f), f
        assert type(getattr(a, f)) is type(getattr(b, f))
    assert a.dtype.name == _name(b.dtype)
    assert repr(a) == repr(b)


@needs_mlx
@pytest.mark.parametrize("d", [d for d in ALL_DTYPES if d.kind in "iu"], ids=str)
def test_iinfo_matches_mlx(d):
    a, b = mx.iinfo(d), mlx.iinfo(to_mlx_dtype(d))
    assert (a.min, a.max, a.dtype.name) == (b.min, b.max, _name(b.dtype))
    assert repr(a) == repr(b)


def test_finfo_iinfo_values_and_errors():
    assert mx.finfo(mx.bfloat16).eps == float(ml_dtypes.finfo(ml_dtypes.bfloat16).eps)
    assert mx.finfo(mx.float16).max == 65504.0
    assert mx.finfo(mx.complex64).dtype == mx.float32
    assert mx.iinfo(mx.uint64).max == 2**64 - 1
    with pytest.raises(ValueError, match=r"\[finfo\] dtype int32 is not inexact"):
        mx.finfo(mx.int32)
    with pytest.raises(ValueError, match=r"\[finfo\]"):
        mx.finfo(mx.bool_)
    with pytest.raises(ValueError, match=r"\[iinfo\] Only integer types supported but float32"):
        mx.iinfo(mx.float32)
    with pytest.raises(ValueError, match=r"\[iinfo\]"):
        mx.iinfo(mx.bool_)
    with pytest.raises(TypeError):
        mx.finfo(mx.floating)


@needs_mlx
def test_can_cast_and_isdtype_match_mlx():
    kinds = [
        "bool",
        "signed integer",
        "unsigned integer",
        "integral",
        "real floating",
        "complex floating",
        "numeric",
    ]
    for a in ALL_DTYPES:
        ma = to_mlx_dtype(a)
        for b in ALL_DTYPES:
            assert mx.can_cast(a, b) == mlx.can_cast(ma, to_mlx_dtype(b)), (a, b)
            assert mx.isdtype(a, b) == mlx.isdtype(ma, to_mlx_dtype(b))
        for k in kinds:
            assert mx.isdtype(a, k) == mlx.isdtype(ma, k), (a, k)
        assert mx.isdtype(a, (mx.int8, "real floating")) == mlx.isdtype(
            ma, (mlx.int8, "real floating")
        )
    assert mx.can_cast(mx.array([1], mx.int8), mx.int16)


def test_can_cast_isdtype_result_type_errors():
    with pytest.raises(ValueError, match=r"\[can_cast\]"):
        mx.can_cast(1, mx.float32)
    with pytest.raises(ValueError, match=r"\[isdtype\] Unknown data type kind"):
        mx.isdtype(mx.int8, "foo")
    with pytest.raises(ValueError, match=r"\[isdtype\]"):
        mx.isdtype(mx.int8, mx.integer)
    assert mx.isdtype(mx.int8, ()) is False
    with pytest.raises(ValueError, match=r"\[result_type\] At least one"):
        mx.result_type()
    with pytest.raises(ValueError, match=r"\[result_type\] Inputs must be arrays or dtypes"):
        mx.result_type(mx.int8, 1.0)
    assert mx.result_type(mx.array([1], mx.int8), mx.uint8) == mx.int16


def test_probes_and_constants():
    assert isinstance(mx.__version__, str) and mx.__version__.count(".") >= 1
    assert mx.metal.is_available() is False
    assert isinstance(mx.cuda.is_available(), bool)
    assert mx.is_available(mx.cpu) is True
    assert mx.is_available(mx.gpu) == mx.cuda.is_available()
    assert mx.inf == float("inf") and mx.nan != mx.nan
    assert mx.pi == np.pi and mx.e == np.e and mx.euler_gamma == np.euler_gamma
    assert mx.newaxis is None
