"""Indexing: getitem / setitem / .at, take, take_along_axis, put_along_axis, slice ops."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import umx as mx
from tests.helpers import check, mlx, needs_mlx, shares

# -- strategies ---------------------------------------------------------------------

shapes = st.lists(st.integers(1, 4), min_size=1, max_size=4).map(tuple)


@st.composite
def basic_keys(draw, shape):
    """A basic index expression for ``shape`` (ints, slices, None, one Ellipsis)."""
    key = []
    axis = 0
    used_ellipsis = False
    while axis < len(shape) and draw(st.booleans()):
        kind = draw(st.sampled_from(["int", "slice", "none", "ellipsis"]))
        n = shape[axis]
        if kind == "int":
            key.append(draw(st.integers(-n, n - 1)))
            axis += 1
        elif kind == "slice":
            start = draw(st.none() | st.integers(-n - 2, n + 2))
            stop = draw(st.none() | st.integers(-n - 2, n + 2))
            step = draw(st.none() | st.sampled_from([1, 2, 3, -1, -2]))
            key.append(slice(start, stop, step))
            axis += 1
        elif kind == "none":
            key.append(None)
        elif not used_ellipsis:
            used_ellipsis = True
            key.append(Ellipsis)
            axis = len(shape)  # the rest is covered
    return tuple(key)


@st.composite
def adv_keys(draw, shape):
    """A key mixing index arrays (as int arrays / lists) with ints, slices and None."""
    key = []
    arrays = 0
    bshape = draw(st.lists(st.integers(1, 3), min_size=0, max_size=2).map(tuple))
    for axis, n in enumerate(shape):
        kind = draw(st.sampled_from(["arr", "arr", "int", "slice", "none"]))
        if kind == "none":
            key.append(None)
        if kind == "arr" or (axis == len(shape) - 1 and arrays == 0):
            sub = bshape[draw(st.integers(0, len(bshape))) :] if bshape else ()
            size = int(np.prod(sub))
            vals = np.array(draw(st.lists(st.integers(-n, n - 1), min_size=size, max_size=size)))
            vals = vals.reshape(sub)  # values in [-n, n): negatives wrap
            dtype = draw(st.sampled_from([np.int32, np.int64, np.int8, np.uint32]))
            if dtype is np.uint32:
                vals = vals % n
            key.append(("arr", vals.astype(dtype)))
            arrays += 1
        elif kind == "int":
            key.append(draw(st.integers(-n, n - 1)))
        elif kind in ("slice", "none"):
            key.append(
                slice(draw(st.none() | st.integers(-n, n)), None, draw(st.sampled_from([1, -1, 2])))
            )
        if not draw(st.booleans()) and arrays:
            break
    return key


def _split(key):
    """(umx key, NumPy key) from an adv_keys result."""
    mk, nk = [], []
    for k in key:
        if isinstance(k, tuple) and k and k[0] == "arr":
            mk.append(mx.array(k[1]))
            nk.append(k[1].astype(np.int64))
        else:
            mk.append(k)
            nk.append(k)
    return tuple(mk), tuple(nk)


def _arange(shape, dtype=np.float32):
    return np.arange(int(np.prod(shape)), dtype=dtype).reshape(shape)


# -- getitem ------------------------------------------------------------------------


@given(st.data())
def test_basic_getitem_matches_numpy(data):
    shape = data.draw(shapes)
    key = data.draw(basic_keys(shape))
    x = _arange(shape)
    check(mx.array(x)[key], x[key])


@given(st.data())
def test_advanced_getitem_matches_numpy(data):
    shape = data.draw(shapes)
    mk, nk = _split(data.draw(adv_keys(shape)))
    x = _arange(shape, np.int32)
    out = mx.array(x)[mk]
    assert out.shape == x[nk].shape  # declared at call time
    check(out, x[nk])


def test_basic_indexing_is_a_view():
    x = _arange((4, 5, 6))
    a = mx.array(x)
    mx.eval(a)
    for key in [
        (1,),
        (slice(None, None, -2), 2),
        (None, Ellipsis, slice(1, 3)),
        (slice(None), 0, None),
    ]:
        out = a[key]
        h = np.asarray(out)
        assert shares(out, a), key
        np.testing.assert_array_equal(h, x[key])


def test_int_and_list_and_scalar_array_indices():
    x = _arange((3, 4))
    a = mx.array(x)
    check(a[-1], x[-1])
    check(a[np.int64(2)], x[2])
    check(a[mx.array(1)], x[1])
    check(a[[0, 2, -1]], x[[0, 2, -1]])
    check(a[[[0], [1]], [1, 3]], x[[[0], [1]], [1, 3]])
    check(a[mx.array([1, 0], mx.uint8)], x[[1, 0]])
    check(a[mx.array([], mx.int32)], x[np.array([], np.int64)])
    check(a[()], x)
    check(a[...], x)
    check(a[1, 2], x[1, 2])
    s = mx.array(5.0)
    check(s[None], np.array([5.0], np.float32))
    check(s[...], np.array(5.0, np.float32))


def test_getitem_errors():
    a = mx.array(_arange((2, 3)))
    with pytest.raises(IndexError):
        a[2]
    with pytest.raises(IndexError):
        a[-3]
    with pytest.raises(IndexError):
        a[0, 3]
    with pytest.raises(ValueError, match="Too many indices"):
        a[0, 0, 0]
    with pytest.raises(ValueError, match="0-dimensional"):
        mx.array(1)[0]
    with pytest.raises(ValueError, match="single ellipsis"):
        a[..., ...]
    with pytest.raises(ValueError, match="boolean indices are not yet supported"):
        a[mx.array([True, False])]
    with pytest.raises(ValueError, match="boolean indices are not yet supported"):
        a[[True, False]]
    with pytest.raises(ValueError, match="Cannot index mlx array"):
        a[1.0]
    with pytest.raises(ValueError, match="Cannot index mlx array"):
        a[True]
    with pytest.raises(ValueError, match="Cannot index mlx array"):
        a["x"]
    with pytest.raises(ValueError, match=r"\[gather\].*integral"):
        a[mx.array([0.0])]
    with pytest.raises(ValueError, match=r"\[gather\].*integral"):
        a[[]]
    with pytest.raises(ValueError, match=r"\[gather\]"):
        a[mx.array([0, 1]), mx.array([0, 1, 2])]


@needs_mlx
@pytest.mark.parametrize(
    "key",
    [
        "[:, [0,1], :, None]",
        "[[0,1], :, [0,1]]",
        "[:, None, [0,1], [0,1]]",
        "[0, :, [0,1]]",
        "[[0,1], None, [0,1]]",
        "[:, 0, [0,1]]",
        "[..., [0,1], 0]",
        "[[[0],[1]], :, [0,1,2,3]]",
        "[1, None, ..., 2]",
        "[::-1, ::-2]",
        "[-100:100]",
        "[5:1:-1]",
        "[[[0,1]]]",
    ],
)
def test_getitem_matches_mlx(key):
    ours = eval("mx.array(np.arange(24, dtype=np.int32).reshape(2,3,4))" + key)
    theirs = eval("mlx.arange(24).reshape(2,3,4)" + key)
    assert ours.shape == tuple(theirs.shape)
    check(ours, np.array(theirs))


# -- setitem ------------------------------------------------------------------------


@given(st.data())
def test_setitem_basic_matches_numpy(data):
    shape = data.draw(shapes)
    key = data.draw(basic_keys(shape))
    x = _arange(shape)
    target = x[key].shape
    vshape = target[data.draw(st.integers(0, len(target))) :]
    vshape = tuple(1 if data.draw(st.booleans()) else s for s in vshape)
    v = -1 - _arange(vshape)
    a = mx.array(x)
    a[key] = mx.array(v)
    x[key] = v
    check(a, x)


@given(st.data())
def test_setitem_advanced_matches_numpy(data):
    shape = data.draw(shapes)
    mk, nk = _split(data.draw(adv_keys(shape)))
    x = _arange(shape, np.int32)
    a = mx.array(x)
    a[mk] = 7
    x[nk] = 7
    check(a, x)


def test_setitem_casts_and_broadcasts():
    x = _arange((2, 3, 4), np.int32)
    a = mx.array(x)
    a[0] = 1.5  # cast to a's dtype
    x[0] = 1
    check(a, x, dtype=mx.int32)
    a[:, 1] = mx.array([7, 8, 9, 10])
    x[:, 1] = [7, 8, 9, 10]
    check(a, x)
    a[1] = mx.ones((1, 1, 3, 4))  # extra leading 1s are fine
    x[1] = 1
    check(a, x)
    a[...] = 2
    check(a, np.full_like(x, 2))
    a[1, 2] = np.array([3, 4, 5, 6])
    x[...] = 2
    x[1, 2] = [3, 4, 5, 6]
    check(a, x)
    with pytest.raises(ValueError, match="Cannot broadcast"):
        a[0] = mx.ones((2, 3, 4))
    with pytest.raises(ValueError):
        a[0] = mx.ones((5,))
    with pytest.raises(ValueError, match="Invalid type"):
        a[0] = [1, 2, 3, 4]
    with pytest.raises(IndexError):
        a[5] = 1


def test_setitem_keeps_earlier_consumers():
    x = _arange((3, 4))
    a = mx.array(x) + 0
    b = a * 2  # built before the assignment: must see the old value
    v = a[1]
    a[1] = -1
    c = a * 2  # after: sees the new value
    check(b, x * 2)
    check(v, x[1])
    y = x.copy()
    y[1] = -1
    check(a, y)
    check(c, y * 2)
    # repeated assignment in a loop, with a consumer each time
    a = mx.array(x)
    acc = mx.array(np.zeros_like(x))
    y = x.copy()
    yacc = np.zeros_like(x)
    for i in range(4):
        a[:, i] = i * 10
        acc = acc + a
        y[:, i] = i * 10
        yacc = yacc + y
    check(acc, yacc)


def test_setitem_duplicate_indices_last_wins_like_numpy():
    a = mx.array([0, 0, 0])
    a[mx.array([0, 0, 2])] = mx.array([1, 2, 3])
    assert a.tolist()[1:] == [0, 3]
    assert a.tolist()[0] in (1, 2)


@needs_mlx
@pytest.mark.parametrize(
    "mask,value",
    [
        ("a > 10", "0"),
        ("a > 10", "R(13, (13,))"),
        ("a > 10", "R(30, (30,))"),
        ("array([True, False])", "1"),
        ("array([[True, False, True]] * 2)", "9"),
        ("array([False, True])", "array([5])"),
        ("array([False, True])", "R(24, (2, 3, 4)) * -1"),
        ("array([True, False])", "R(3, (3, 1))"),
        ("array([True, True])", "R(12, (3, 4))"),
        ("a[..., 0] > 2", "R(6, (6, 1))"),
        ("a[..., 0] > 10", "R(4, (4,))"),
        ("array(True)", "3"),
        ("array(False)", "3"),
        ("True", "3"),
    ],
)
def test_masked_setitem_matches_mlx(mask, value):
    def run(m):
        def R(n, shape):
            return m.array(np.arange(n, dtype=np.int32).reshape(shape))

        a = R(24, (2, 3, 4))
        msk = eval(mask, {"a": a, "array": m.array})
        a[msk] = eval(value, {"R": R, "array": m.array})
        return np.array(a)

    check_against = run(mlx)
    ours = run(mx)
    np.testing.assert_array_equal(ours, check_against)


def test_masked_setitem_errors():
    a = mx.array(_arange((2, 3, 4)))
    with pytest.raises(ValueError, match=r"\[masked_scatter\].*same shape"):
        a[mx.array([True, False, True])] = 1
    with pytest.raises(ValueError, match=r"\[masked_scatter\].*last 0 dimensions"):
        a[a > 3] = mx.ones((3, 4))
    with pytest.raises(ValueError):
        a[mx.array([True, True])] = mx.array(np.arange(30))
    b = mx.array(_arange((2, 3, 4)))
    b[b > 10] = mx.array(np.arange(4, dtype=np.float32))  # not enough values: fails at eval
    with pytest.raises(RuntimeError, match="not have enough"):
        mx.eval(b)


# -- .at ----------------------------------------------------------------------------


@given(st.data())
def test_at_accumulates_like_ufunc_at(data):
    shape = data.draw(shapes)
    mk, nk = _split(data.draw(adv_keys(shape)))
    mode = data.draw(st.sampled_from(["add", "subtract", "multiply", "maximum", "minimum"]))
    x = _arange(shape, np.float32) - 3
    v = np.float32(data.draw(st.sampled_from([-2.0, 0.5, 3.0])))
    out = getattr(mx.array(x).at[mk], mode)(v)
    ref = x.copy()
    getattr(np, mode).at(ref, nk, v)
    check(out, ref)


def test_at_ops():
    idx = mx.array([0, 1, 0, 1, 1])
    a = mx.array([0, 0])
    check(a.at[idx].add(1), np.array([2, 3], np.int32))
    a[idx] += 1  # plain assignment: one update per place
    check(a, np.array([1, 1], np.int32))
    x = _arange((2, 3, 4), np.int32)
    b = mx.array(x)
    ref = x.copy()
    np.multiply.at(ref, (np.array([0, 0, 1]), 1), 2)
    check(b.at[mx.array([0, 0, 1]), 1].multiply(2), ref)
    ref = x.copy()
    ref[::-1, 0] -= 1
    check(b.at[::-1, 0].subtract(1), ref)
    check(b.at[0].maximum(mx.array(100.5)), np.where(np.arange(2)[:, None, None] == 0, 100, x))
    f = mx.array(_arange((4,)))
    check(f.at[mx.array([1, 1])].divide(2.0), np.array([0, 0.25, 2, 3], np.float32))
    check(
        f.at[mx.array([3, 3, 0])].minimum(mx.array([1.0, -5.0, -1.0])),
        np.array([-1, 1, 2, -5], np.float32),
    )
    u8 = mx.array(np.array([1, 2], np.uint8))
    check(u8.at[mx.array([0, 0])].subtract(3), np.array([251, 2], np.uint8))
    h = mx.array(np.array([1, 2], np.float16))
    check(h.at[0].add(mx.array(1.0)), np.array([2, 2], np.float16), dtype=mx.float16)
    bl = mx.array([True, False])
    check(bl.at[mx.array([0, 0])].add(True), np.array([True, False]))


@needs_mlx
def test_at_matches_mlx_edge_cases():
    x = mlx.arange(24).reshape(2, 3, 4)
    a = mx.array(np.arange(24, dtype=np.int32).reshape(2, 3, 4))
    check(a.at[0].divide(2), np.array(x.at[0].divide(2)))  # int: times 1/2 cast to int
    check(a.at[0].add(mx.ones((1, 3, 4))), np.array(x.at[0].add(mlx.ones((1, 3, 4)))))
    with pytest.raises(ValueError, match="Cannot broadcast"):
        a.at[0].add(mx.ones((2, 3, 4)))
    with pytest.raises(ValueError, match="Invalid type"):
        a.at[0].add([1, 2, 3, 4])
    assert type(a.at).__name__ == "ArrayAt"


# -- take / take_along_axis / put_along_axis ------------------------------------


@given(st.data())
def test_take_matches_numpy(data):
    shape = data.draw(shapes)
    x = _arange(shape)
    axis = data.draw(st.none() | st.integers(-len(shape), len(shape) - 1))
    n = x.size if axis is None else shape[axis]
    ishape = data.draw(st.lists(st.integers(0, 3), max_size=2).map(tuple))
    idx = data.draw(
        st.lists(
            st.integers(-n, n - 1), min_size=int(np.prod(ishape)), max_size=int(np.prod(ishape))
        )
    )
    idx = np.array(idx, np.int64).reshape(ishape)
    check(
        mx.take(mx.array(x), mx.array(idx.astype(np.int32)), axis=axis), np.take(x, idx, axis=axis)
    )
    i = int(data.draw(st.integers(-n, n - 1)))
    check(mx.take(mx.array(x), i, axis=axis), np.take(x, i, axis=axis))


def test_take_errors():
    a = mx.array(_arange((2, 3)))
    with pytest.raises(IndexError, match=r"\[take\]"):
        mx.take(a, 1, axis=2)
    with pytest.raises(ValueError, match=r"\[take\].*integral"):
        mx.take(a, mx.array([1.0]))
    with pytest.raises(TypeError):
        mx.take(a, [1, 2])
    with pytest.raises(IndexError):
        mx.take(a, 7)


@given(st.data())
def test_take_and_put_along_axis_match_numpy(data):
    shape = data.draw(shapes)
    x = _arange(shape)
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    n = shape[axis]
    ishape = list(shape)
    ishape[axis] = data.draw(st.integers(1, 3))
    ishape = tuple(1 if data.draw(st.booleans()) else s for s in ishape)  # broadcast dims
    idx = np.array(
        data.draw(
            st.lists(
                st.integers(-n, n - 1), min_size=int(np.prod(ishape)), max_size=int(np.prod(ishape))
            )
        )
    ).reshape(ishape)
    bshape = tuple(max(s, i) for s, i in zip(shape, ishape))
    xb = np.broadcast_to(
        x, tuple(s if d == axis % len(shape) else b for d, (s, b) in enumerate(zip(shape, bshape)))
    )
    out = mx.take_along_axis(mx.array(x), mx.array(idx.astype(np.int32)), axis=axis)
    check(out, np.take_along_axis(xb, idx, axis=axis))
    # put: distinct indices along the axis so the order of writes does not matter
    pidx = np.argsort(np.random.default_rng(0).random(shape), axis=axis)[
        tuple(slice(0, 1) if d == axis % len(shape) else slice(None) for d in range(len(shape)))
    ]
    vals = -1 - _arange(pidx.shape)
    ref = x.copy()
    np.put_along_axis(ref, pidx, vals, axis=axis)
    check(
        mx.put_along_axis(mx.array(x), mx.array(pidx.astype(np.int32)), mx.array(vals), axis=axis),
        ref,
    )


@needs_mlx
def test_along_axis_edge_cases_match_mlx():
    x = mlx.arange(24).reshape(2, 3, 4)
    a = mx.array(np.arange(24, dtype=np.int32).reshape(2, 3, 4))
    cases = [
        lambda m, t: m.take_along_axis(t, m.array([0, 5, -1]), axis=None),
        lambda m, t: m.take_along_axis(t, m.array([[[0], [1]]]), axis=1),
        lambda m, t: m.put_along_axis(t, m.array([[[0]]]), m.array(-1), axis=1),
        lambda m, t: m.put_along_axis(t, m.array([0, 23]), m.array([-1, -2]), axis=None),
        lambda m, t: m.put_along_axis(t, m.array([[[0]]]), m.array(-1.5), axis=1),
        lambda m, t: m.put_along_axis(t, m.array([[[0, 0]]]), m.array([[[5, 6]]]), axis=2),
        lambda m, t: m.take(t, m.array([[1, -1]]), axis=1),
        lambda m, t: m.take(t, 5),
        lambda m, t: m.take(t, 1, axis=0),
    ]
    for f in cases:
        theirs = f(mlx, x)
        ours = f(mx, a)
        assert ours.shape == tuple(theirs.shape)
        check(ours, np.array(theirs), dtype=mx.int32)
    with pytest.raises(ValueError, match=r"\[take_along_axis\] Indices of dimension 2"):
        mx.take_along_axis(a, mx.array([[0, 5, -1]]), axis=None)
    with pytest.raises(ValueError, match=r"\[take_along_axis\] Indices of dimension 1"):
        mx.take_along_axis(a, mx.array([0]), axis=1)
    with pytest.raises(ValueError, match="cannot be broadcast"):
        mx.take_along_axis(a, mx.array([[[0, 1]]] * 5), axis=2)
    with pytest.raises(IndexError, match=r"\[take_along_axis\] Axis 3"):
        mx.take_along_axis(a, mx.array([[[0]]]), axis=3)
    with pytest.raises(ValueError, match="integral"):
        mx.take_along_axis(a, mx.array([[[0.0]]]), axis=2)


# -- slice / slice_update ---------------------------------------------------------


@needs_mlx
def test_slice_and_slice_update_match_mlx():
    x = mlx.arange(24).reshape(2, 3, 4)
    a = mx.array(np.arange(24, dtype=np.int32).reshape(2, 3, 4))
    cases = [
        lambda m, t: m.slice(t, m.array([1, 1]), (0, 2), (1, 2, 2)),
        lambda m, t: m.slice(t, m.array([1]), [1], (1, 2, 2)),
        lambda m, t: m.slice(t, m.array(1), [1], (1, 2, 2)),
        lambda m, t: m.slice(t, m.array([1]), [-1], (1, 2, 2)),
        lambda m, t: m.slice_update(t, m.zeros((1, 2, 2), m.int32), m.array([1, 1]), (0, 2)),
        lambda m, t: m.slice_update(t, m.zeros((2, 2), m.int32), m.array([1, 1]), (0, 2)),
        lambda m, t: m.slice_update(t, m.array(7), m.array([1]), (1,)),
        lambda m, t: m.slice_update(t, m.zeros((2, 1, 1), m.int32), m.array([1]), (1,)),
        lambda m, t: m.slice_update(t, m.ones((4,), m.int32), m.array([2]), (1,)),
        lambda m, t: m.slice_update(t, m.ones((3, 1), m.float32), m.array([0]), (1,)),
    ]
    for f in cases:
        theirs = f(mlx, x)
        ours = f(mx, a)
        assert ours.shape == tuple(theirs.shape)
        check(ours, np.array(theirs), dtype=mx.int32)
    with pytest.raises(ValueError, match=r"\[slice\] Invalid slice size for"):
        mx.slice(a, mx.array([1]), [1], (1, 2))
    with pytest.raises(ValueError, match=r"\[slice\] Invalid slice size \(1,4,2\)"):
        mx.slice(a, mx.array([1]), [1], (1, 4, 2))
    with pytest.raises(ValueError, match=r"\[slice\] Number of starting indices 2"):
        mx.slice(a, mx.array([1, 1]), [1], (1, 2, 2))
    with pytest.raises(ValueError, match=r"\[slice\] Start indices must be integers"):
        mx.slice(a, mx.array([1.0]), [1], (1, 2, 2))
    with pytest.raises(IndexError, match=r"\[slice\] Invalid axis 3"):
        mx.slice(a, mx.array([1]), [3], (1, 2, 2))
    with pytest.raises(ValueError):
        mx.slice_update(a, mx.zeros((1, 2, 5), mx.int32), mx.array([1, 1]), (0, 2))
    with pytest.raises(ValueError):
        mx.slice_update(a, mx.zeros((3, 1, 1), mx.int32), mx.array([1]), (1,))


def test_slice_start_is_dynamic():
    x = _arange((5, 6))
    a = mx.array(x)
    start = mx.array([2]) + mx.array([1])  # a lazy start, read at eval time
    check(mx.slice(a, start, (1,), (5, 2)), x[:, 3:5])
    u = mx.array(-_arange((2, 2)) - 1)
    ref = x.copy()
    ref[1:3, 3:5] = -_arange((2, 2)) - 1
    check(mx.slice_update(a, u, mx.array([1, 3]), (0, 1)), ref)


def test_out_of_bounds_int_index_is_also_a_value_error():
    # MLX raises ValueError (from its squeeze) for a static int past the end; umx's error
    # is both an IndexError and a ValueError
    a = mx.zeros((2, 3))
    for f in (lambda: a[2, 0], lambda: a[0, 3], lambda: a[None, 2], lambda: mx.take(a, 2, 0)):
        with pytest.raises(ValueError):
            f()
        with pytest.raises(IndexError):
            f()
    with pytest.raises(ValueError):  # MLX: "Invalid number of starting positions"
        mx.slice(mx.array(1.0), mx.array([0]), (0,), ())
