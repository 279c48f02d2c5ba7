"""Shape ops: NumPy as the numeric oracle, MLX for dtypes, edge cases and errors."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import umx as mx
from tests.helpers import ALL_DTYPES, check, compare_outcomes, mlx, needs_mlx, shares
from umx._dtypes import promote_types

dtypes = st.sampled_from(ALL_DTYPES)
shapes = st.lists(st.integers(0, 4), min_size=0, max_size=4).map(tuple)
nonempty_shapes = st.lists(st.integers(1, 4), min_size=1, max_size=4).map(tuple)


def make(shape, d=mx.float32, seed=0):
    """A NumPy array of ``shape`` in dtype ``d`` and the matching umx array."""
    rng = np.random.default_rng(seed)
    x = rng.integers(-50, 50, size=shape)
    if d.kind == "b":
        x = x > 0
    elif d.kind == "u":
        x = np.abs(x)
    elif d.kind in "fc":
        x = x / 4
    x = np.asarray(x).astype(d.np)
    return x, mx.array(x, dtype=d)


# -- hypothesis against NumPy ----------------------------------------------------------------
@given(shape=shapes, d=dtypes, data=st.data())
def test_reshape_and_flatten(shape, d, data):
    x, a = make(shape, d)
    check(mx.reshape(a, (-1,)), x.reshape(-1), dtype=d)
    if x.size:
        perm = data.draw(st.permutations(shape))
        check(mx.reshape(a, tuple(perm)), x.reshape(perm))
        check(a.reshape(*perm), x.reshape(perm))
        if perm:
            i = data.draw(st.integers(0, len(perm) - 1))
            target = tuple(perm[:i]) + (-1,) + tuple(perm[i + 1 :])
            check(a.reshape(target), x.reshape(target))
    nd = len(shape)
    if nd:
        s = data.draw(st.integers(-nd, nd - 1))
        e = data.draw(st.integers(-nd, nd - 1))
        if (s % nd) <= (e % nd):
            ss, ee = s % nd, e % nd
            expect = (
                x.reshape(shape[:ss] + (-1 if x.size else 0,) + shape[ee + 1 :]) if x.size else None
            )
            out = mx.flatten(a, s, e)
            if expect is not None:
                check(out, expect)
            else:
                assert (
                    out.shape == shape[:ss] + (int(np.prod(shape[ss : ee + 1])),) + shape[ee + 1 :]
                )
    check(a.flatten(), x.reshape(-1))


@given(shape=shapes, d=dtypes, data=st.data())
def test_transpose_family(shape, d, data):
    x, a = make(shape, d)
    nd = len(shape)
    check(mx.transpose(a), x.T)
    check(a.T, x.T)
    perm = data.draw(st.permutations(range(nd)))
    out = mx.transpose(a, perm)
    check(out, np.transpose(x, perm), dtype=d)
    check(a.transpose(*perm), np.transpose(x, perm)) if nd else None
    check(a.transpose(perm), np.transpose(x, perm))
    check(mx.permute_dims(a, perm), np.transpose(x, perm))
    if x.size > 1:
        assert shares(out, a), "transpose should be a NumPy view"
    if nd:
        i = data.draw(st.integers(-nd, nd - 1))
        j = data.draw(st.integers(-nd, nd - 1))
        check(mx.swapaxes(a, i, j), np.swapaxes(x, i, j))
        check(a.moveaxis(i, j), np.moveaxis(x, i, j))
    if nd >= 2:
        check(mx.matrix_transpose(a), np.swapaxes(x, -1, -2))
        check(a.mT, np.swapaxes(x, -1, -2))


@given(shape=shapes, d=dtypes, data=st.data())
def test_squeeze_expand_dims(shape, d, data):
    x, a = make(shape, d)
    check(mx.squeeze(a), np.squeeze(x))
    ones = [i for i, s in enumerate(shape) if s == 1]
    if ones:
        sub = data.draw(st.lists(st.sampled_from(ones), unique=True, min_size=1))
        check(a.squeeze(tuple(sub)), np.squeeze(x, tuple(sub)))
        check(mx.squeeze(a, sub[0] - len(shape)), np.squeeze(x, sub[0]))
    nd = len(shape) + 1
    ax = data.draw(st.integers(-nd, nd - 1))
    out = mx.expand_dims(a, ax)
    check(out, np.expand_dims(x, ax))
    if x.size > 1:
        assert shares(out, a)
    axes = data.draw(st.lists(st.integers(0, len(shape)), unique=True, max_size=2))
    check(mx.expand_dims(a, tuple(axes)), np.expand_dims(x, tuple(axes)))


@given(shape=shapes, target=shapes, d=dtypes)
def test_broadcast_to(shape, target, d):
    x, a = make(shape, d)
    try:
        expect = np.broadcast_to(x, target)
    except ValueError:
        with pytest.raises(ValueError, match=r"\[broadcast_to\]"):
            mx.broadcast_to(a, target)
        return
    out = mx.broadcast_to(a, target)
    check(out, expect, dtype=d)
    if x.size > 1 and out.size and out.shape != a.shape:
        assert shares(out, a)


@given(s1=shapes, s2=shapes)
def test_broadcast_arrays_and_shapes(s1, s2):
    x, a = make(s1, mx.int32)
    y, b = make(s2, mx.float16, seed=1)
    try:
        expect = np.broadcast_shapes(s1, s2)
    except ValueError:
        with pytest.raises(ValueError, match=r"\[broadcast_shapes\]"):
            mx.broadcast_shapes(s1, s2)
        with pytest.raises(ValueError):
            mx.broadcast_arrays(a, b)
        return
    assert mx.broadcast_shapes(s1, s2) == expect
    oa, ob = mx.broadcast_arrays(a, b)
    ex, ey = np.broadcast_arrays(x, y)
    check(oa, ex, dtype=mx.int32)
    check(ob, ey, dtype=mx.float16)


@given(shape=nonempty_shapes, n=st.integers(1, 3), d1=dtypes, d2=dtypes, data=st.data())
def test_concatenate_stack(shape, n, d1, d2, data):
    nd = len(shape)
    ax = data.draw(st.integers(-nd, nd - 1))
    xs, arrs = [], []
    for i in range(n):
        sh = list(shape)
        sh[ax] = data.draw(st.integers(0, 3))
        x, a = make(tuple(sh), d1 if i % 2 == 0 else d2, seed=i)
        xs.append(x)
        arrs.append(a)
    d = arrs[0].dtype
    for a in arrs[1:]:
        d = promote_types(d, a.dtype)
    out = mx.concatenate(arrs, ax)
    check(out, np.concatenate([x.astype(d.np) for x in xs], ax), dtype=d)
    check(mx.concat(arrs, axis=None), np.concatenate([x.astype(d.np).reshape(-1) for x in xs]))
    same = [make(shape, d1 if i % 2 == 0 else d2, seed=i) for i in range(n)]
    sax = data.draw(st.integers(-nd - 1, nd))
    out = mx.stack([a for _, a in same], sax)
    check(out, np.stack([x.astype(d.np) for x, _ in same], sax), dtype=d)


@given(shape=nonempty_shapes, d=dtypes, data=st.data())
def test_split(shape, d, data):
    x, a = make(shape, d)
    nd = len(shape)
    ax = data.draw(st.integers(-nd, nd - 1))
    n = shape[ax]
    k = data.draw(st.sampled_from([k for k in range(1, n + 1) if n % k == 0]))
    outs = mx.split(a, k, ax)
    assert isinstance(outs, list) and len(outs) == k
    for o, e in zip(outs, np.split(x, k, ax)):
        check(o, e, dtype=d)
    idx = data.draw(st.lists(st.integers(-n - 1, n + 1), max_size=3))
    outs = a.split(idx, axis=ax)
    exp = np.split(x, idx, ax)
    assert len(outs) == len(exp)
    for o, e in zip(outs, exp):
        check(o, e)
    nonempty = [o for o in outs if o.size]
    if x.size > 1 and nonempty:
        assert shares(nonempty[0], a), "split pieces should be views"
    parts = mx.unstack(a, axis=ax)
    assert isinstance(parts, tuple) and len(parts) == n
    for i, p in enumerate(parts):
        check(p, np.take(x, i, axis=ax))


@given(
    shape=shapes,
    reps=st.lists(st.integers(0, 3), max_size=4),
    d=dtypes,
    r=st.integers(0, 3),
    data=st.data(),
)
def test_tile_repeat(shape, reps, d, r, data):
    x, a = make(shape, d)
    check(mx.tile(a, tuple(reps)), np.tile(x, tuple(reps)), dtype=d)
    if reps:
        check(mx.tile(a, reps[0]), np.tile(x, reps[0]))
    check(mx.repeat(a, r), np.repeat(x, r))
    if shape:
        ax = data.draw(st.integers(-len(shape), len(shape) - 1))
        check(mx.repeat(a, r, ax), np.repeat(x, r, ax))


@given(
    shape=st.lists(st.integers(1, 4), min_size=1, max_size=3).map(tuple),
    d=dtypes,
    mode=st.sampled_from(["constant", "edge", "reflect", "symmetric"]),
    data=st.data(),
)
def test_pad(shape, d, mode, data):
    x, a = make(shape, d)
    w = data.draw(
        st.lists(
            st.tuples(st.integers(0, 3), st.integers(0, 3)),
            min_size=len(shape),
            max_size=len(shape),
        )
    )
    check(mx.pad(a, w, mode), np.pad(x, w, mode), dtype=d)
    check(mx.pad(a, w[0], mode), np.pad(x, w[0], mode))
    check(mx.pad(a, w[0][0], mode), np.pad(x, w[0][0], mode))
    if mode == "constant" and d.kind != "b":
        check(mx.pad(a, w, constant_values=3), np.pad(x, w, constant_values=3))


@given(shape=shapes, d=dtypes, data=st.data())
def test_roll_flip(shape, d, data):
    x, a = make(shape, d)
    sh = data.draw(st.integers(-7, 7))
    check(mx.roll(a, sh), np.roll(x, sh), dtype=d)
    check(mx.flip(a), np.flip(x))
    nd = len(shape)
    if nd:
        axes = data.draw(st.lists(st.integers(-nd, nd - 1), min_size=1, max_size=3))
        shifts = data.draw(st.lists(st.integers(-7, 7), min_size=len(axes), max_size=len(axes)))
        check(mx.roll(a, tuple(shifts), tuple(axes)), np.roll(x, tuple(shifts), tuple(axes)))
        check(mx.roll(a, sh, axes[0]), np.roll(x, sh, axes[0]))
        uniq = tuple(sorted({ax % nd for ax in axes}))
        check(mx.flip(a, uniq), np.flip(x, uniq))


@given(
    shape=st.lists(st.integers(0, 4), min_size=2, max_size=4).map(tuple), d=dtypes, data=st.data()
)
def test_diagonal_trace(shape, d, data):
    x, a = make(shape, d)
    nd = len(shape)
    i, j = data.draw(
        st.lists(st.integers(-nd, nd - 1), min_size=2, max_size=2).filter(
            lambda v: v[0] % nd != v[1] % nd
        )
    )
    k = data.draw(st.integers(-4, 4))
    out = mx.diagonal(a, k, i, j)
    check(out, np.diagonal(x, k, i, j), dtype=d)
    if out.size > 1:
        assert shares(out, a), "diagonal should be a view"
    if d is not mx.bool_ and d.kind != "c":
        td = {"int8": "int32", "int16": "int32", "uint8": "uint32", "uint16": "uint32"}.get(
            d.name, d.name
        )
        expect = np.trace(x.astype(np.float64), k, i, j)
        check(
            mx.trace(a, k, i, j), expect, dtype=getattr(mx, td), rtol=1e-2 if d.size == 2 else None
        )
    if nd == 2:
        check(mx.diag(a, k), np.diag(x, k))
        check(mx.diag(mx.reshape(a, (-1,)), k), np.diag(x.reshape(-1), k))


@given(shape=shapes, d=dtypes, d2=dtypes)
def test_view(shape, d, d2):
    x, a = make(shape, d)
    nb = shape[-1] * d.size if shape else None
    ok = d.size == d2.size or (nb is not None and nb % d2.size == 0)
    if not ok:
        with pytest.raises(ValueError, match=r"\[view\]"):
            mx.view(a, d2)
        return
    check(a.view(d2), np.asarray(x, order="C").view(d2.np), dtype=d2)
    if len(shape) >= 2 and (d.size == d2.size or shape[0] * d.size % d2.size == 0):
        check(mx.view(mx.transpose(a), d2), np.asarray(x.T, order="C").view(d2.np))


@given(shape=shapes, d=dtypes)
def test_contiguous_atleast(shape, d):
    x, a = make(shape, d)
    out = mx.contiguous(mx.transpose(a))
    check(out, x.T)
    assert np.asarray(out).flags.c_contiguous
    check(mx.atleast_1d(a), np.atleast_1d(x))
    check(mx.atleast_2d(a), np.atleast_2d(x))
    check(mx.atleast_3d(a), np.atleast_3d(x))
    r = mx.atleast_2d(a, a)
    assert isinstance(r, list) and len(r) == 2


# -- exact cases and views -------------------------------------------------------------------
def test_views_share_memory():
    x, a = make((4, 6), mx.float32)
    mx.eval(a)
    for out in (
        a.reshape(6, 4),
        mx.transpose(a),
        mx.broadcast_to(a, (3, 4, 6)),
        mx.expand_dims(a, 1),
        mx.squeeze(mx.expand_dims(a, 0)),
        mx.diagonal(a),
        mx.split(a, 2, 1)[1],
        mx.moveaxis(a, 0, 1),
        mx.flip(a, 0),
    ):
        assert shares(out, a)
    assert not shares(mx.contiguous(mx.transpose(a)), a)


def test_as_strided():
    x, a = make((2, 3), mx.int32)
    check(mx.as_strided(a, (3, 2), (1, 3)), x.T)
    check(mx.as_strided(a), x)
    check(mx.as_strided(a, (2, 2), (1, 1), 2), [[x.flat[2], x.flat[3]], [x.flat[3], x.flat[4]]])
    check(mx.as_strided(a, (2,), (-1,), 3), [x.flat[3], x.flat[2]])
    check(mx.as_strided(mx.transpose(a), (6,), (1,)), x.T.reshape(-1))
    check(mx.as_strided(a, (2, 3), (0, 1)), np.broadcast_to(x[0], (2, 3)))
    with pytest.raises(ValueError, match=r"\[as_strided\]"):
        mx.as_strided(a, (10,), (1,))
    with pytest.raises(ValueError, match=r"\[as_strided\]"):
        mx.as_strided(a, (2, 2), (1,))


def test_pad_constant_values_and_empty():
    x, a = make((2, 3), mx.int32)
    check(mx.pad(a, 1, constant_values=7.5), np.pad(x, 1, constant_values=7))
    check(mx.pad(a, 1, constant_values=mx.array(2.5)), np.pad(x, 1, constant_values=2))
    h, ah = make((2, 3), mx.float16)
    check(
        mx.pad(ah, ((0, 1), (2, 0)), constant_values=2.5),
        np.pad(h, ((0, 1), (2, 0)), constant_values=2.5),
    )
    check(mx.pad(mx.zeros((0, 2)), 1, "edge"), np.zeros((2, 4), np.float32))
    check(mx.pad(mx.array(3), 2), 3)


def test_methods_and_streams():
    x, a = make((2, 3, 4), mx.float32)
    check(a.reshape((4, 6), stream=mx.cpu), x.reshape(4, 6))
    check(a.reshape([4, 6]), x.reshape(4, 6))
    check(a.squeeze(), x)
    check(a.swapaxes(0, 2), np.swapaxes(x, 0, 2))
    check(a.diagonal(1, 1, 2), np.diagonal(x, 1, 1, 2))
    check(a[0].diag(1), np.diag(x[0], 1))
    check(a.flatten(1), x.reshape(2, 12))
    check(a.transpose(), x.T)
    s = mx.new_stream(mx.cpu)
    out = mx.concatenate([a, a], 2, stream=s)
    check(out, np.concatenate([x, x], 2))


def test_split_is_multi_output():
    x, a = make((6, 2), mx.float32)
    parts = mx.split(a, [1, 4])
    mx.eval(parts[2])  # evaluating one output computes all of them
    assert all(p._data is not None for p in parts)
    check(parts[1], x[1:4])


# -- MLX as the semantic oracle ----------------------------------------------------------------
def _run(mod, expr):
    env = {
        "m": mod,
        "np": np,
        "A": mod.reshape(mod.arange(24), (2, 3, 4)),
        "B": mod.reshape(mod.arange(6), (2, 3)),
    }
    try:
        return eval(expr, env)
    except Exception as e:  # noqa: BLE001 - the exception type is what we compare
        return e


def _compare(got, exp):
    compare_outcomes(got, exp, atol=None)


SHAPE_CASES = [
    "m.reshape(A, (4, -1))", "m.reshape(A, (5, -1))", "m.reshape(A, (-1, -1))", "m.reshape(A, (5, 5))",
    "m.reshape(A, (-2, 12))", "m.reshape(A, [])", "m.reshape(m.zeros((0, 3)), (-1, 0))",
    "m.reshape(m.zeros((0, 3)), (-1, 3))", "m.reshape(B, m.array([3, 2]))",
    "m.flatten(A, 1)", "m.flatten(A, -2, -1)", "m.flatten(A, 2, 1)", "m.flatten(A, 5, 10)",
    "m.flatten(A, -10, 1)", "m.flatten(m.array(3))", "m.flatten(A, 3, 3)",
    "m.unflatten(A, 1, (3, 1))", "m.unflatten(A, -1, (2, -1))", "m.unflatten(A, 1, (2, -1))",
    "m.unflatten(A, 1, (-1, -1))", "m.unflatten(A, 3, (1,))", "m.unflatten(A, 1, ())",
    "m.squeeze(m.zeros((1, 2, 1)), (0, -1))", "m.squeeze(m.zeros((1, 2, 1)), 1)",
    "m.squeeze(m.zeros((1, 2, 1)), 3)", "m.squeeze(m.zeros((1, 2, 1)), (0, 0))",
    "m.squeeze(m.zeros((1, 2, 1)), -4)", "m.expand_dims(A, 4)", "m.expand_dims(A, -5)",
    "m.expand_dims(A, (0, 0))", "m.expand_dims(A, (0, 5))", "m.expand_dims(A, (0, -1))",
    "m.transpose(A, (1, 0))", "m.transpose(A, (1, 1, 2))", "m.transpose(A, (1, 0, 3))",
    "m.transpose(A, (-4, 0, 1))", "m.matrix_transpose(m.zeros(3))", "m.swapaxes(A, 0, 3)",
    "m.moveaxis(A, 0, 3)", "m.moveaxis(A, 3, 0)", "m.broadcast_to(B, (3, 3))", "m.broadcast_to(B, (3,))",
    "m.broadcast_to(3, (2, 2))", "m.broadcast_to(3.0, (2, 2))", "m.broadcast_to(B, (2, -1))",
    "m.broadcast_to(m.zeros((2, 1)), (2, 0))", "m.broadcast_arrays(B, m.zeros(4))",
    "m.broadcast_arrays(B, m.array([1.0, 2, 3]))", "m.broadcast_arrays()", "m.broadcast_shapes()",
    "m.broadcast_shapes((6, 7), (5, 6, 1), (7,))", "m.broadcast_shapes((2,), (3,))",
    "m.broadcast_shapes((0,), (1,))", "m.concatenate([B, A])", "m.concatenate([B, B.T])",
    "m.concatenate([B, B], 2)", "m.concatenate([])", "m.concatenate([B, B.astype(m.float16)])",
    "m.concatenate([B.astype(m.uint8), B.astype(m.int8)])", "m.concatenate([m.array(1), m.array(2)])",
    "m.concatenate([m.array(1), m.array(2)], axis=None)", "m.concatenate((B, B), axis=-1)",
    "m.stack([B, B], 3)", "m.stack([B, B], -4)", "m.stack([B, B.T])", "m.stack([])",
    "m.stack([B, B.astype(m.float32)], -1)", "m.stack([m.array(1), m.array(2)])",
    "m.unstack(B, axis=2)", "m.unstack(m.array(3))", "m.unstack(m.zeros((0, 3)))", "m.unstack(B, axis=1)",
    "m.split(B, 4)", "m.split(B, 0)", "m.split(B, -1)", "m.split(B, [2, 1], 1)", "m.split(B, [5], 1)",
    "m.split(B, [-1], 1)", "m.split(B, [], 1)", "m.split(B, 2, 2)", "m.split(m.array(1), 1)",
    "m.split(m.zeros((0, 3)), 2)", "m.tile(B, (0,))", "m.tile(B, (-1,))", "m.tile(m.array(3), (2,))",
    "m.tile(B, ())", "m.repeat(B, 2, 2)", "m.repeat(B, -1, 1)", "m.repeat(B, 0)",
    "m.repeat(m.array(3), 2)", "m.repeat(m.array(3), 2, 0)", "m.repeat(B, m.array(2), 0)",
    "m.pad(B, [(1, 2), (0, 1), (1, 1)])", "m.pad(B, -1)", "m.pad(B, 1, 'wrap')", "m.pad(m.array(3), 1)",
    "m.pad(B, ((1, 2),))", "m.pad(B, 1, constant_values=7.5)", "m.pad(B, 1, 'reflect')",
    "m.pad(m.array([[1, 2, 3]]), 1, 'reflect')", "m.pad(m.array([[1, 2, 3]]), 1, 'symmetric')",
    "m.roll(B, (1, 2))", "m.roll(B, (1, 2), 0)", "m.roll(B, (1, 2, 3), (0, 1))", "m.roll(B, (1,), (0, 1))",
    "m.roll(B, 1, 2)", "m.roll(B, 1, -3)", "m.roll(B, 1, (0, 0))", "m.roll(m.array(3), 1)",
    "m.roll(B, 1, ())", "m.flip(B, 2)", "m.flip(B, (0, 0))", "m.flip(m.array(1))", "m.flip(B, ())",
    "m.as_strided(B.T, (6,), (1,))", "m.atleast_1d(m.array(1), m.array([1, 2]))", "m.atleast_1d()",
    "m.atleast_3d(m.array([1, 2]))", "m.atleast_3d(B)", "m.atleast_2d(m.array([1, 2]))",
    "m.diag(A)", "m.diag(m.array(1))", "m.diag(B, 5)", "m.diag(m.array([1, 2, 3]), -2)",
    "m.diagonal(A, 0, 1, 1)", "m.diagonal(A, 0, 1, 3)", "m.diagonal(A, 0, -4, 1)",
    "m.diagonal(A, 0, -1, -3)", "m.diagonal(m.array([1, 2]))", "m.diagonal(B, 7)",
    "m.trace(B, dtype=m.float16)", "m.trace(B.astype(m.int8))", "m.trace(B.astype(m.bool_))",
    "m.trace(B.astype(m.uint8))", "m.trace(B.astype(m.uint16))", "m.trace(B.astype(m.bfloat16))",
    "m.trace(B.astype(m.complex64))", "m.trace(B, dtype=m.int8)", "m.trace(m.array([1, 2]))",
    "m.trace(B, 0, 0, 0)", "m.trace(B, 0, 0, 2)", "m.trace(B, 5)", "m.trace(A, 0, 1, 2)",
    "m.contiguous(B.T)", "m.contiguous(B, True)", "m.view(B, m.int64)", "m.view(B, m.bool_)",
    "m.view(m.array(1), m.int8)", "m.view(m.zeros((2, 0)), m.int64)", "m.view(3, m.int8)",
    "m.view(B.T, m.int16)", "m.view(m.zeros((4,), m.float16), m.bfloat16)",
    "m.view(m.zeros((2, 4), m.int8), m.int32)", "B.view(m.uint32)", "A.T", "m.array(3).T",
    "A.mT", "m.array([1, 2]).mT", "A.reshape(4, 6)", "A.transpose(1, 0, 2)", "A.transpose((1, 0, 2))",
    "A.squeeze()", "m.zeros((1, 2, 1)).squeeze(0)", "A.split(3, 1)", "A.split(2, axis=0)",
    "A.moveaxis(0, -1)", "A.swapaxes(0, 1)", "A.flatten(start_axis=1)",
]  # fmt: skip


@needs_mlx
@pytest.mark.parametrize("expr", SHAPE_CASES)
def test_like_mlx(expr):
    got = _run(mx, expr)
    exp = _run(mlx, expr)
    _compare(got, exp)
    if isinstance(got, Exception) and not isinstance(got, TypeError):
        assert str(got).startswith("["), f"message should name the op: {got}"


def test_errors_name_the_op():
    a = mx.zeros((2, 3))
    cases = [
        (ValueError, "reshape", lambda: mx.reshape(a, (4, 4))),
        (IndexError, "swapaxes", lambda: mx.swapaxes(a, 0, 5)),
        (ValueError, "concatenate", lambda: mx.concatenate([a, mx.zeros((3, 3))], 1)),
        (IndexError, "split", lambda: mx.split(a, 2, 4)),
        (ValueError, "pad", lambda: mx.pad(a, 1, "wrap")),
        (ValueError, "view", lambda: mx.view(a, mx.complex64)),
        (TypeError, "reshape", lambda: mx.reshape(a, (3.0, 2))),
        (TypeError, "expand_dims", lambda: mx.expand_dims(a, 1.0)),
    ]
    for exc, name, f in cases:
        with pytest.raises(exc, match=rf"\[{name}\]"):
            f()


def test_unflatten_empty_shape_checked_before_axis():
    with pytest.raises(ValueError, match="cannot be empty"):
        mx.unflatten(mx.array(1.0), 0, ())
