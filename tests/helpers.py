"""Shared test helpers: the MLX oracle, array comparison, dtype strategies."""

from __future__ import annotations

import numpy as np
import pytest

import umx as mx

try:  # MLX on the CPU is the semantic oracle where NumPy differs
    import mlx.core as mlx
except ImportError:  # pragma: no cover - the oracle is optional
    mlx = None

needs_mlx = pytest.mark.skipif(mlx is None, reason="MLX (the oracle) is not installed")

FLOAT_DTYPES = [mx.float16, mx.bfloat16, mx.float32, mx.float64]
INT_DTYPES = [mx.uint8, mx.uint16, mx.uint32, mx.uint64, mx.int8, mx.int16, mx.int32, mx.int64]
ALL_DTYPES = [mx.bool_, *INT_DTYPES, *FLOAT_DTYPES, mx.complex64]

_TOL = {"float16": 2e-3, "bfloat16": 2e-2, "float32": 1e-5, "float64": 1e-12, "complex64": 1e-5}


def check(out: mx.array, expected, *, rtol=None, atol=None, dtype=None) -> None:
    """``out`` evaluates to ``expected`` with the declared shape and dtype."""
    got = np.array(out)
    assert got.shape == tuple(out.shape), f"buffer shape {got.shape} != declared {out.shape}"
    assert got.dtype == out.dtype.np, f"buffer dtype {got.dtype} != declared {out.dtype}"
    if dtype is not None:
        assert out.dtype == dtype, f"{out.dtype} != {dtype}"
    expected = np.asarray(expected)
    assert got.shape == expected.shape, f"shape {got.shape} != expected {expected.shape}"
    tol = _TOL.get(out.dtype.name, 0)
    rtol = tol if rtol is None else rtol
    atol = tol if atol is None else atol
    if out.dtype.kind in "fc":
        np.testing.assert_allclose(
            got.astype(np.complex128 if out.dtype.kind == "c" else np.float64),
            expected.astype(np.complex128 if out.dtype.kind == "c" else np.float64),
            rtol=rtol, atol=atol, equal_nan=True,
        )  # fmt: skip
    else:
        np.testing.assert_array_equal(got, expected)


def shares(out: mx.array, a: mx.array) -> bool:
    """Whether ``out``'s buffer overlaps ``a``'s where ``out`` was computed: the NumPy buffers
    on the CPU; on the GPU, the device buffer that GPU ops read ``a`` from (a host array's
    managed copy)."""
    mx.eval(out, a)
    d = out._data
    if type(d).__module__.startswith("cupy"):
        import cupy

        from umx.backends import cuda

        return bool(cupy.may_share_memory(d, cuda.device_of(a)))
    return np.shares_memory(np.asarray(out), np.asarray(a))


def to_mlx_dtype(d):
    return getattr(mlx, "bool_" if d.name == "bool" else d.name)


def compare_outcomes(got, exp, atol=None) -> None:
    """umx's outcome ``got`` of an expression equals MLX's ``exp``: the same exception type,
    or arrays (possibly in lists / tuples) of the same dtype, shape and values."""
    if isinstance(exp, Exception):
        assert isinstance(got, Exception), f"expected {type(exp).__name__}: {exp}, got {got!r}"
        assert type(got) is type(exp), (
            f"{type(got).__name__}: {got} vs MLX {type(exp).__name__}: {exp}"
        )
        return
    assert not isinstance(got, Exception), (
        f"umx raised {type(got).__name__}: {got}; MLX gave {exp!r}"
    )
    if isinstance(exp, (list, tuple)):
        assert type(got) is type(exp) and len(got) == len(exp)
        for g, e in zip(got, exp):
            compare_outcomes(g, e, atol)
        return
    if not isinstance(exp, mlx.array):
        assert got == exp
        return
    assert got.dtype.name == repr(exp.dtype).split(".")[-1], f"{got.dtype} vs MLX {exp.dtype}"
    assert tuple(got.shape) == tuple(exp.shape)
    e = np.array(exp.astype(mlx.float32) if exp.dtype == mlx.bfloat16 else exp)
    check(got, e.astype(got.dtype.np), atol=atol if got.dtype.kind in "fc" else None)
