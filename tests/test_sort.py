"""Sorting and selection: sort, argsort, partition, argpartition, topk, searchsorted, unique."""

from __future__ import annotations

import ml_dtypes
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import umx as mx
from tests.helpers import check, mlx, needs_mlx

DTYPES = [
    mx.bool_,
    mx.uint8,
    mx.int8,
    mx.int32,
    mx.uint64,
    mx.int64,
    mx.float16,
    mx.bfloat16,
    mx.float32,
    mx.float64,
]
shapes = st.lists(st.integers(1, 6), min_size=1, max_size=3).map(tuple)


def _rand(rng, shape, d, nan=True):
    if d is mx.bool_:
        return rng.integers(0, 2, shape).astype(bool)
    if d.kind in "iu":
        return rng.integers(0, 6, shape).astype(d.np)  # many ties: checks stability
    x = rng.integers(-3, 4, shape).astype(np.float32) / 2
    if nan and x.size > 1:
        x.flat[rng.integers(0, x.size)] = np.nan
    return x.astype(d.np)


def _keys(x):
    return x.astype(np.float32) if x.dtype == ml_dtypes.bfloat16 else x


@given(shapes, st.sampled_from(DTYPES), st.integers(0, 2**31), st.data())
def test_sort_argsort_match_numpy(shape, d, seed, data):
    rng = np.random.default_rng(seed)
    x = _rand(rng, shape, d)
    axis = data.draw(st.sampled_from([None, *range(-len(shape), len(shape))]))
    a = mx.array(x, dtype=d)
    k = _keys(x)
    want_idx = np.argsort(
        k.reshape(-1) if axis is None else k, axis=-1 if axis is None else axis, kind="stable"
    )
    want = np.sort(
        k.reshape(-1) if axis is None else k, axis=-1 if axis is None else axis, kind="stable"
    )
    check(mx.argsort(a, axis=axis), want_idx.astype(np.uint32), dtype=mx.uint32)
    check(mx.sort(a, axis=axis), want.astype(d.np), dtype=d)


def test_sort_default_axis_nan_last_and_stability():
    x = np.array([[3.0, 1.0, np.nan, 2.0], [0.0, -1.0, 5.0, -0.0]], np.float32)
    check(mx.sort(mx.array(x)), np.sort(x, axis=-1))
    check(mx.argsort(mx.array(x)), np.array([[1, 3, 0, 2], [1, 0, 3, 2]], np.uint32))
    check(
        mx.argsort(mx.array(np.array([0.0, -0.0, 0.0, -0.0], np.float32))),
        np.arange(4, dtype=np.uint32),
    )
    c = np.array([1 + 2j, 1 - 1j, 5j, np.nan], np.complex64)
    check(mx.sort(mx.array(c)), np.sort(c))


def test_axis_errors_and_scalars():
    s = mx.array(3.0)
    with pytest.raises(
        IndexError, match=r"\[sort\] Axis -1 is out of bounds for array with 0 dimensions"
    ):
        mx.sort(s)
    with pytest.raises(IndexError, match=r"\[argsort\] Axis -1"):
        mx.argsort(s)
    check(mx.sort(s, axis=None), np.array([3.0], np.float32))
    a = mx.array(np.ones((2, 4), np.float32))
    for f in (mx.sort, mx.argsort):
        with pytest.raises(
            IndexError, match=r"Axis 2 is out of bounds for array with 2 dimensions"
        ):
            f(a, axis=2)
    with pytest.raises(IndexError, match=r"\[topk\] Axis 3"):
        mx.topk(a, 1, axis=3)
    with pytest.raises(IndexError, match=r"\[partition\] Axis -3"):
        mx.partition(a, 1, axis=-3)


def _is_partitioned(p, kth, axis):
    p = np.moveaxis(p, axis, -1)
    pivot = p[..., kth : kth + 1]
    with np.errstate(invalid="ignore"):
        left = (p[..., :kth] <= pivot) | np.isnan(pivot)
        right = (p[..., kth + 1 :] >= pivot) | np.isnan(p[..., kth + 1 :])
    return bool(left.all() and right.all())


@given(shapes, st.sampled_from(DTYPES), st.integers(0, 2**31), st.data())
def test_partition_and_argpartition(shape, d, seed, data):
    rng = np.random.default_rng(seed)
    x = _rand(rng, shape, d)
    axis = data.draw(st.sampled_from([None, -1, 0]))
    n = x.size if axis is None else shape[axis]
    kth = data.draw(st.integers(-n, n - 1))
    a = mx.array(x, dtype=d)
    k = _keys(x).reshape(-1) if axis is None else _keys(x)
    ax = -1 if axis is None else axis
    p = mx.partition(a, kth, axis=axis)
    assert p.dtype == d
    got = _keys(np.array(p))
    kk = kth % n
    assert _is_partitioned(got, kk, ax)
    np.testing.assert_array_equal(np.sort(got, axis=ax), np.sort(k, axis=ax))
    np.testing.assert_array_equal(
        np.take(got, [kk], axis=ax), np.take(np.sort(k, axis=ax), [kk], axis=ax)
    )
    ip = mx.argpartition(a, kth, axis=axis)
    assert ip.dtype == mx.uint32
    idx = np.array(ip).astype(np.int64)
    vals = np.take_along_axis(k, idx, axis=ax)
    assert _is_partitioned(vals, kk, ax)
    np.testing.assert_array_equal(np.sort(idx, axis=ax), np.sort(np.argsort(k, axis=ax), axis=ax))


def test_partition_kth_errors():
    a = mx.array(np.ones((2, 4), np.float32))
    with pytest.raises(ValueError, match=r"\[partition\] Received invalid kth 4"):
        mx.partition(a, 4)
    with pytest.raises(ValueError, match=r"\[argpartition\] Received invalid kth -5"):
        mx.argpartition(a, -5)


@given(shapes, st.sampled_from(DTYPES), st.integers(0, 2**31), st.data())
def test_topk(shape, d, seed, data):
    rng = np.random.default_rng(seed)
    x = _rand(rng, shape, d)
    axis = data.draw(st.sampled_from([None, -1, 0]))
    n = x.size if axis is None else shape[axis]
    k = data.draw(st.integers(0, n))
    ax = -1 if axis is None else axis
    keys = _keys(x).reshape(-1) if axis is None else _keys(x)
    out = mx.topk(mx.array(x, dtype=d), k, axis=axis)
    got = _keys(np.array(out))
    assert out.dtype == d
    want = np.take(np.sort(keys, axis=ax), np.arange(n - k, n), axis=ax)
    np.testing.assert_array_equal(np.sort(got, axis=ax), want)
    if k == n:  # all of them, in the input's order
        np.testing.assert_array_equal(got, keys)
    elif k:  # the smallest of the k comes first, as MLX's partition-based topk gives it
        np.testing.assert_array_equal(np.take(got, [0], axis=ax), np.take(want, [0], axis=ax))


def test_topk_errors_and_nan():
    a = mx.array(np.ones((2, 4), np.float32))
    with pytest.raises(ValueError, match=r"\[topk\] Received invalid k=5 along axis -1"):
        mx.topk(a, 5)
    with pytest.raises(ValueError, match=r"\[topk\] Received invalid k=-1"):
        mx.topk(a, -1)
    check(
        mx.topk(mx.array(np.array([1.0, np.nan, 3.0], np.float32)), 1),
        np.array([np.nan], np.float32),
    )


@needs_mlx
def test_topk_order_like_mlx():
    x = np.array([5, 1, 9, 3, 7, 2, 8, 0, 6, 4], np.int32)
    for k in (1, 3, 5, 10):
        want = np.array(mlx.topk(mlx.array(x), k))
        got = np.array(mx.topk(mx.array(x), k))
        assert got[0] == want[0] if k < len(x) else (got == want).all()
        np.testing.assert_array_equal(np.sort(got), np.sort(want))


@given(
    st.sampled_from([mx.int32, mx.uint8, mx.float32, mx.float16, mx.bfloat16]),
    st.sampled_from(["left", "right"]),
    st.integers(0, 2**31),
)
def test_searchsorted(d, side, seed):
    rng = np.random.default_rng(seed)
    seq = np.sort(_rand(rng, (7,), d, nan=False).astype(np.float32)).astype(d.np)
    vals = (rng.integers(-2, 9, (2, 3)) / 2).astype(np.float32)
    out = mx.searchsorted(mx.array(seq, dtype=d), mx.array(vals), side=side)
    # Both sides promote to float32 (MLX's table), then compare.
    want = np.searchsorted(_keys(seq).astype(np.float32), vals, side=side)
    check(out, want.astype(np.uint32), dtype=mx.uint32)


def test_searchsorted_errors():
    with pytest.raises(
        ValueError, match=r"\[searchsorted\] The sorted sequence must be 1-D but has 2 dimensions"
    ):
        mx.searchsorted(mx.array(np.ones((2, 2), np.float32)), mx.array([1.0]))
    with pytest.raises(ValueError, match=r"\[searchsorted\] Invalid side 'middle'"):
        mx.searchsorted(mx.array([1.0, 2.0]), mx.array([1.0]), side="middle")


def _np_unique(x, size, fill):
    u, idx, inv, cnt = np.unique(
        x.reshape(-1), return_index=True, return_inverse=True, return_counts=True
    )
    m = min(len(u), size)
    vals = np.full(size, u[0] if fill is None and len(u) else fill, dtype=x.dtype)
    vals[:m] = u[:m]
    index = np.full(size, idx[0] if len(u) else 0, np.uint32)
    index[:m] = idx[:m]
    counts = np.zeros(size, np.int32)
    counts[:m] = cnt[:m]
    inverse = (
        np.minimum(inv, max(size - 1, 0)).astype(np.uint32).reshape(x.shape)
        if size
        else np.zeros(x.shape, np.uint32)
    )
    return vals, index, inverse, counts


@given(
    shapes,
    st.sampled_from([mx.int32, mx.uint8, mx.float32, mx.bool_]),
    st.integers(0, 8),
    st.booleans(),
    st.integers(0, 2**31),
)
def test_unique_matches_numpy(shape, d, size, use_fill, seed):
    rng = np.random.default_rng(seed)
    x = _rand(rng, shape, d, nan=False)
    fill = (True if d is mx.bool_ else 7) if use_fill else None
    outs = mx.unique(mx.array(x, dtype=d), size, True, True, True, fill_value=fill)
    vals, index, inverse, counts = _np_unique(x, size, fill)
    check(outs[0], vals, dtype=d)
    check(outs[1], index, dtype=mx.uint32)
    check(outs[2], inverse, dtype=mx.uint32)
    check(outs[3], counts, dtype=mx.int32)
    single = mx.unique(mx.array(x, dtype=d), size)
    assert isinstance(single, mx.array) and single.shape == (size,)


@needs_mlx
def test_unique_edge_cases_like_mlx():
    x = np.array([1.0, np.nan, np.nan, -0.0, 0.0], np.float32)
    want = mlx.unique(mlx.array(x), 5, return_counts=True)
    got = mx.unique(mx.array(x), 5, return_counts=True)
    for g, w in zip(got, want):
        np.testing.assert_array_equal(np.array(g), np.array(w))
    e = np.array([], np.int32)
    got = mx.unique(mx.array(e), 3, True, True, True, fill_value=7)
    want = mlx.unique(mlx.array(e), 3, True, True, True, fill_value=7)
    for g, w in zip(got, want):
        np.testing.assert_array_equal(np.array(g), np.array(w))
        assert g.shape == tuple(w.shape)


def test_unique_errors():
    b = mx.array([3, 1, 2])
    with pytest.raises(ValueError, match=r"\[unique\] Received negative size -1"):
        mx.unique(b, -1)
    with pytest.raises(ValueError, match=r"\[unique\] Fill value must have one element"):
        mx.unique(b, 4, fill_value=mx.array([1, 2]))
    with pytest.raises(ValueError, match=r"\[unique\] A fill value is required"):
        mx.unique(mx.array(np.array([], np.int32)), 2)
    with pytest.raises(TypeError):
        mx.unique(b, 2.5)


def test_sort_runs_lazily_on_cpu_stream():
    x = np.array([3, 1, 2], np.int32)
    out = mx.sort(mx.array(x), stream=mx.cpu)
    assert out._data is None
    check(out, np.sort(x))
