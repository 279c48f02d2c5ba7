"""Creation ops: NumPy as the numeric oracle, MLX for dtypes, edge cases and errors."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import umx as mx
from tests.helpers import ALL_DTYPES, check, compare_outcomes, mlx, needs_mlx

dtypes = st.sampled_from(ALL_DTYPES)
shapes = st.lists(st.integers(0, 4), min_size=0, max_size=4).map(tuple)


@given(shape=shapes, d=dtypes)
def test_zeros_ones_full(shape, d):
    check(mx.zeros(shape, d), np.zeros(shape, d.np), dtype=d)
    check(mx.ones(shape, dtype=d), np.ones(shape, d.np), dtype=d)
    fd = mx.int32 if d is mx.bool_ else d  # MLX: an int fill with a bool dtype stays int32
    check(mx.full(shape, 3, d), np.full(shape, 3, fd.np), dtype=fd)
    check(mx.zeros(list(shape)), np.zeros(shape, np.float32), dtype=mx.float32)
    src = mx.zeros((2,) + shape, d)
    check(mx.zeros_like(src), np.zeros((2,) + shape, d.np), dtype=d)
    check(mx.ones_like(src, mx.int8), np.ones((2,) + shape, np.int8), dtype=mx.int8)
    check(mx.full_like(src, 2), np.full((2,) + shape, 2, d.np), dtype=d)
    if shape:
        check(mx.zeros(shape[0]), np.zeros(shape[0], np.float32))


@given(shape=shapes, d=dtypes, data=st.data())
def test_full_broadcasts_array_values(shape, d, data):
    vshape = tuple(
        data.draw(st.sampled_from([1, s])) for s in shape[data.draw(st.integers(0, len(shape))) :]
    )
    v = (np.arange(int(np.prod(vshape))).reshape(vshape) % 3).astype(d.np)
    out = mx.full(shape, mx.array(v, dtype=d))
    check(out, np.broadcast_to(v, shape), dtype=d)
    if d is not mx.complex64:  # complex -> real casts drop the imaginary part (tested via MLX)
        expect = np.broadcast_to(v, shape).astype(np.float32)
        check(mx.full_like(mx.zeros(shape, mx.float32), mx.array(v, dtype=d)), expect)


@given(
    start=st.integers(-20, 20),
    stop=st.integers(-20, 20),
    step=st.integers(-5, 5).filter(bool),
)
def test_arange_ints(start, stop, step):
    check(mx.arange(start, stop, step), np.arange(start, stop, step), dtype=mx.int32)
    check(mx.arange(stop), np.arange(stop), dtype=mx.int32)
    check(mx.arange(start, stop), np.arange(start, stop), dtype=mx.int32)
    check(mx.arange(start, stop, step, mx.float16), np.arange(start, stop, step).astype(np.float16))
    check(mx.arange(stop, step=step), np.arange(0, stop, step))


@given(
    start=st.floats(-10, 10),
    stop=st.floats(-10, 10),
    step=st.floats(0.25, 3) | st.floats(-3, -0.25),
)
def test_arange_floats(start, stop, step):
    out = mx.arange(start, stop, step)
    n = max(int(np.ceil((stop - start) / step)), 0)
    check(out, start + np.arange(n) * step, dtype=mx.float32, atol=1e-5, rtol=1e-5)
    ints = mx.arange(start, stop, step, mx.int32)
    s0 = int(start)
    check(ints, s0 + np.arange(n) * (int(start + step) - s0), dtype=mx.int32)


@given(
    start=st.integers(-10, 10) | st.floats(-10, 10),
    stop=st.integers(-10, 10) | st.floats(-10, 10),
    num=st.integers(0, 12),
    endpoint=st.booleans(),
    d=st.sampled_from([mx.float32, mx.float16, mx.int32, mx.float64]),
)
def test_linspace(start, stop, num, endpoint, d):
    out = mx.linspace(start, stop, num, endpoint, d)
    expect = np.linspace(start, stop, num, endpoint=endpoint)
    if d.kind == "f":
        check(
            out, expect, dtype=d, atol=1e-5 * (1 + abs(start) + abs(stop)) if d.size >= 4 else None
        )
    else:
        assert out.shape == (num,) and out.dtype == d
        assert np.all(np.abs(np.array(out) - expect) <= 1.0001)
    if mlx is not None:
        ref = np.array(mlx.linspace(start, stop, num, endpoint, getattr(mlx, d.name)))
        check(out, ref.astype(d.np), atol=1e-6 * (1 + abs(start) + abs(stop)), rtol=1e-6)


@given(
    n=st.integers(0, 5),
    m=st.none() | st.integers(0, 5),
    k=st.integers(-6, 6),
    d=dtypes,
)
def test_eye_tri(n, m, k, d):
    check(mx.eye(n, m, k, d), np.eye(n, m, k, d.np), dtype=d)
    check(mx.tri(n, m, k, d), np.tri(n, m, k, d.np), dtype=d)
    check(mx.identity(n, d), np.identity(n, d.np), dtype=d)
    check(mx.tri(n, m, k), np.tri(n, m, k, np.float32), dtype=mx.float32)


@given(
    shape=st.lists(st.integers(0, 4), min_size=2, max_size=4).map(tuple),
    k=st.integers(-5, 5),
    d=dtypes,
)
def test_tril_triu(shape, k, d):
    x = (np.arange(int(np.prod(shape))).reshape(shape) % 7).astype(d.np)
    a = mx.array(x, dtype=d)
    check(mx.tril(a, k), np.tril(x, k), dtype=d)
    check(mx.triu(a, k=k), np.triu(x, k), dtype=d)


@given(m=st.integers(-2, 40))
def test_windows(m):
    for name in ("hamming", "hanning", "blackman", "bartlett"):
        out = getattr(mx, name)(m)
        check(out, getattr(np, name)(max(m, 0)), dtype=mx.float32, atol=1e-6)
        if mlx is not None:
            check(out, np.array(getattr(mlx, name)(m)), atol=1e-6)


@given(
    sizes=st.lists(st.integers(0, 4), min_size=0, max_size=4),
    sparse=st.booleans(),
    ij=st.booleans(),
)
def test_meshgrid(sizes, sparse, ij):
    xs = [np.arange(n, dtype=np.float32) + 10 * i for i, n in enumerate(sizes)]
    indexing = "ij" if ij else "xy"
    outs = mx.meshgrid(*[mx.array(x) for x in xs], sparse=sparse, indexing=indexing)
    exp = np.meshgrid(*xs, sparse=sparse, indexing=indexing)
    assert isinstance(outs, tuple) and len(outs) == len(exp)
    for o, e in zip(outs, exp):
        check(o, e, dtype=mx.float32)


def test_creation_is_lazy_and_takes_streams():
    s = mx.new_stream(mx.cpu)
    a = mx.zeros((3, 4), stream=s)
    assert a._data is None and a._stream is s
    b = mx.arange(10, stream=mx.cpu)
    assert b._data is None
    check(mx.add(a, 1), np.ones((3, 4), np.float32))
    check(b, np.arange(10))
    big = mx.zeros((1000, 1000))
    assert big.nbytes == 4_000_000


def test_asarray():
    x = np.arange(6, dtype=np.int32).reshape(2, 3)
    a = mx.asarray(x, copy=False)
    check(a, x, dtype=mx.int32)
    assert np.shares_memory(np.asarray(a), x)
    b = mx.asarray(x)
    assert not np.shares_memory(np.asarray(b), x)
    check(mx.asarray([1, 2], mx.float16), [1, 2], dtype=mx.float16)
    assert mx.asarray(b) is b
    check(mx.asarray(b, mx.float32), x.astype(np.float32), dtype=mx.float32)
    c = mx.asarray(b, copy=True)
    assert c is not b
    check(c, x)
    check(mx.asarray(np.arange(3.0)), [0, 1, 2], dtype=mx.float32)
    with pytest.raises(ValueError, match=r"\[asarray\]"):
        mx.asarray(np.arange(3.0), copy=False)
    with pytest.raises(ValueError, match=r"\[asarray\]"):
        mx.asarray([1, 2], copy=False)


# -- MLX as the semantic oracle ----------------------------------------------------------------
def _run(mod, expr):
    try:
        return eval(expr, {"m": mod, "np": np})
    except Exception as e:  # noqa: BLE001 - the exception type is what we compare
        return e


def _compare(got, exp):
    compare_outcomes(got, exp, atol=1e-6)


CREATION_CASES = [
    "m.zeros(-1)", "m.zeros((2, -1))", "m.zeros((2, 3), m.int8)", "m.zeros([])", "m.zeros(())",
    "m.ones(2, dtype=None)", "m.zeros(2, dtype=None)", "m.empty((2,))", "m.empty_like(m.array([1, 2]))",
    "m.full((2, 2), 3)", "m.full((2, 2), 3.0)", "m.full((2, 2), True)", "m.full((2, 2), 2 + 1j)",
    "m.full((2,), m.array([1, 2], m.int8))", "m.full((2,), m.array([1, 2, 3]))",
    "m.full((2, 2), m.array([1, 2]), m.float16)", "m.full(2, 3.5, m.int32)", "m.full((2, -2), 1)",
    "m.full(2, 3, m.float16)", "m.full(2, np.float64(3.0))", "m.full(2, np.int64(3))",
    "m.full(2, 2**40)", "m.full((2,), m.array(1.0), m.int8)", "m.full(2, -1, m.uint8)",
    "m.full(2, 300, m.uint8)", "m.full(2, 3, m.bool_)", "m.full(2, 3.5, m.complex64)",
    "m.full(2, np.float32(2.5), m.int32)", "m.full(2, np.int8(3), m.float16)", "m.full(2, True, m.float32)",
    "m.full(2, 1.5, m.bfloat16)", "m.full((2, 3), m.array([[1], [2]]))",
    "m.arange(5)", "m.arange(5.0)", "m.arange(1, 5, 0.5)", "m.arange(10, 0, -3)", "m.arange(5, 1)",
    "m.arange(1, 5, 0)", "m.arange(2**31 + 5, 2**31 + 8)", "m.arange(5, dtype=m.float16)",
    "m.arange(0.5, 3, dtype=m.int32)", "m.arange(0, 5, 1.5, m.int32)", "m.arange(5, dtype=m.bool_)",
    "m.arange(3, step=2)", "m.arange(start=1, stop=4)", "m.arange(stop=4)", "m.arange(0, 1, 0.1)",
    "m.arange(float('inf'))", "m.arange(float('nan'))", "m.arange(1, 10, 2, m.uint8)",
    "m.arange(-5, dtype=m.uint8)", "m.arange(3, dtype=m.complex64)", "m.arange(True)",
    "m.arange(5, None)", "m.arange(1, None, 2)", "m.arange(0, 4, 2**33)", "m.arange(0.0, 5, dtype=m.int64)",
    "m.arange(1, 5, dtype=m.float64)", "m.arange(5, m.float16)", "m.arange(m.array(3))",
    "m.linspace(0, 1, 5)", "m.linspace(0, 1, 5, endpoint=False)", "m.linspace(0, 10, 5, dtype=m.int32)",
    "m.linspace(0, 1, 0)", "m.linspace(0, 1, -1)", "m.linspace(0, 1, 1)", "m.linspace(0, 1)",
    "m.linspace(0, 1, 3, dtype=m.complex64)", "m.linspace(0, 1, 3, dtype=m.bool_)",
    "m.linspace(1, 0, 4, dtype=m.int32)", "m.linspace(0, 1, 2.5)", "m.linspace(3, 3, 4)",
    "m.eye(2, 3, 1)", "m.eye(3, k=-1, dtype=m.int32)", "m.eye(3, k=5)", "m.eye(-1)", "m.eye(2, -1)",
    "m.eye(0)", "m.eye(3, 0)", "m.eye(2.5)", "m.identity(2, m.bool_)", "m.identity(-2)", "m.identity(0)",
    "m.tri(3, 2, 1)", "m.tri(3, dtype=m.int32)", "m.tri(-1)", "m.tri(2, -3)", "m.tri(3, k=-5)",
    "m.tril(m.ones((3,)))", "m.triu(m.ones((2, 3, 3), m.int32), 1)", "m.triu(m.ones(()))",
    "m.tril(m.array([[1, 2], [3, 4]], m.bool_), -1)", "m.zeros_like(m.array([1, 2]), m.float16)",
    "m.full_like(m.array([1, 2]), 2.5)", "m.full_like(m.array([1.0, 2]), 2)",
    "m.full_like(m.array([1, 2]), m.array([3.5, 1]))", "m.full_like(m.array([1, 2]), 3, m.float32)",
    "m.full_like(m.array([1, 2]), m.array([1, 2, 3]))", "m.full_like(m.array([[1, 2]]), m.array([5, 6]))",
    "m.zeros_like(m.zeros((2, 3)), stream=m.cpu)", "m.hamming(1)", "m.hamming(0)", "m.hamming(-1)",
    "m.hanning(2)", "m.blackman(3)", "m.bartlett(2)", "m.hamming(2.5)",
    "m.meshgrid(m.array([1, 2]), m.array([3, 4, 5]))",
    "m.meshgrid(m.array([1, 2]), m.array([3, 4, 5]), indexing='ij')",
    "m.meshgrid(m.array([1, 2]), m.array([3.0, 4, 5]), m.array([6, 7]), sparse=True)",
    "m.meshgrid(m.array([[1, 2]]), m.array([3, 4, 5]))", "m.meshgrid(m.array([1, 2]), indexing='foo')",
    "m.meshgrid()", "m.meshgrid(m.array([1, 2]))", "m.meshgrid(m.array(1), m.array([1, 2]))",
    "m.asarray([1, 2])", "m.asarray(3.0)", "m.asarray(np.arange(3.0))",
]  # fmt: skip


@needs_mlx
@pytest.mark.parametrize("expr", CREATION_CASES)
def test_like_mlx(expr):
    got = _run(mx, expr)
    exp = _run(mlx, expr)
    _compare(got, exp)
    if isinstance(got, Exception) and not isinstance(got, TypeError):
        assert str(got).startswith("["), f"message should name the op: {got}"


def test_errors_name_the_op():
    cases = [
        (ValueError, "zeros", lambda: mx.zeros((2, -1))),
        (ValueError, "full", lambda: mx.full(2, -1, mx.uint8)),
        (ValueError, "arange", lambda: mx.arange(0, 3, 0)),
        (ValueError, "linspace", lambda: mx.linspace(0, 1, -3)),
        (ValueError, "eye", lambda: mx.eye(-1)),
        (ValueError, "tril", lambda: mx.tril(mx.zeros(3))),
        (ValueError, "meshgrid", lambda: mx.meshgrid(mx.zeros(2), indexing="yx")),
        (TypeError, "zeros", lambda: mx.zeros(3.0)),
        (TypeError, "arange", lambda: mx.arange("3")),
    ]
    for exc, name, f in cases:
        with pytest.raises(exc, match=rf"\[{name}\]"):
            f()


def test_linspace_of_one_sample_is_computed_in_float32():
    # MLX 0.32.4: 2 and 0.10000000149011612 (start rounded to float32 first)
    assert mx.linspace(1.9999999999999982, 0, 1, dtype=mx.int32).item() == 2
    assert mx.linspace(0.1, 0, 1, dtype=mx.float64).item() == float(np.float32(0.1))


def test_arange_stop_step_dtype_overload_and_linspace_endpoint_is_a_bool():
    # MLX's arange(stop, step, dtype) overload.
    check(mx.arange(3, 1, mx.int8), [0, 1, 2], dtype=mx.int8)
    check(mx.arange(3, 0.5, mx.float16), np.arange(0, 3, 0.5), dtype=mx.float16)
    with pytest.raises(ValueError, match="step must be nonzero"):
        mx.arange(0.001, 0, mx.float32)
    check(mx.arange(1, 5, 2, mx.int8), [1, 3], dtype=mx.int8)
    # The fourth positional argument of linspace is endpoint, a bool only.
    check(mx.linspace(0, 1, 3, False), [0.0, 1 / 3, 2 / 3], dtype=mx.float32)
    for bad in (mx.int32, 1):
        with pytest.raises(TypeError):
            mx.linspace(0, 1, 3, bad)
