"""Transform rules of the shape ops: vjp against finite differences, jvp against vjp, vmap
against a loop, transforms of the rules themselves, and MLX's gradients on the same inputs.

Gradients go through ``mx.vjp`` / ``mx.jvp`` with explicit cotangents, so that only the
rules of this family (and the engine's identity) are exercised.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import umx as mx
from tests.helpers import mlx, needs_mlx

F64 = mx.float64


def _list(out):
    return list(out) if isinstance(out, (list, tuple)) else [out]


# name -> (function of arrays, input shapes)
CASES = {
    "reshape": (lambda x: mx.reshape(x, (4, -1)), [(3, 4)]),
    "reshape_method": (lambda x: x.reshape(2, 2, 3), [(3, 4)]),
    "flatten": (lambda x: mx.flatten(x, 1), [(2, 3, 2)]),
    "unflatten": (lambda x: mx.unflatten(x, 1, (2, 3)), [(2, 6)]),
    "squeeze": (lambda x: mx.squeeze(x, 1), [(3, 1, 2)]),
    "expand_dims": (lambda x: mx.expand_dims(x, (0, 2)), [(3, 2)]),
    "atleast_3d": (lambda x: mx.atleast_3d(x), [(4,)]),
    "transpose": (lambda x: mx.transpose(x, (2, 0, 1)), [(2, 3, 4)]),
    "swapaxes": (lambda x: mx.swapaxes(x, 0, 2), [(2, 3, 4)]),
    "moveaxis": (lambda x: mx.moveaxis(x, 0, -1), [(2, 3, 4)]),
    "T": (lambda x: x.T, [(2, 3)]),
    "broadcast_to": (lambda x: mx.broadcast_to(x, (2, 3, 4)), [(3, 1)]),
    "broadcast_arrays": (lambda x, y: mx.broadcast_arrays(x, y), [(3, 1), (1, 4)]),
    "concatenate": (lambda x, y: mx.concatenate([x, y], axis=1), [(2, 3), (2, 2)]),
    "concatenate_none": (lambda x, y: mx.concatenate([x, y], axis=None), [(2, 3), (4,)]),
    "concatenate_three": (lambda x, y: mx.concatenate([y, x, y], axis=0), [(2, 3), (1, 3)]),
    "stack": (lambda x, y: mx.stack([x, y], axis=1), [(2, 3), (2, 3)]),
    "split": (lambda x: mx.split(x, [1, 3], axis=1), [(2, 5)]),
    "split_sections": (lambda x: mx.split(x, 2, axis=0), [(4, 3)]),
    "unstack": (lambda x: mx.unstack(x, axis=1), [(2, 3)]),
    "tile": (lambda x: mx.tile(x, (2, 1, 3)), [(2, 3)]),
    "tile_short_reps": (lambda x: mx.tile(x, 2), [(2, 3)]),
    "repeat_axis": (lambda x: mx.repeat(x, 3, axis=1), [(2, 3)]),
    "repeat_flat": (lambda x: mx.repeat(x, 2), [(2, 3)]),
    "pad_constant": (lambda x: mx.pad(x, ((1, 2), (0, 1)), constant_values=3.0), [(2, 3)]),
    "pad_zero": (lambda x: mx.pad(x, ((0, 2), (1, 1))), [(2, 3)]),
    "pad_edge": (lambda x: mx.pad(x, ((2, 1), (0, 3)), mode="edge"), [(3, 2)]),
    "pad_reflect": (lambda x: mx.pad(x, ((1, 2), (4, 0)), mode="reflect"), [(3, 3)]),
    "pad_symmetric": (lambda x: mx.pad(x, ((3, 1), (1, 2)), mode="symmetric"), [(2, 3)]),
    "pad_value": (lambda x, v: mx.pad(x, 1, constant_values=v), [(2, 3), ()]),
    "roll_flat": (lambda x: mx.roll(x, 2), [(3, 4)]),
    "roll_axes": (lambda x: mx.roll(x, (1, -1), (1, 2)), [(2, 3, 4)]),
    "flip": (lambda x: mx.flip(x, 1), [(2, 3, 2)]),
    "flip_all": (lambda x: mx.flip(x), [(2, 3)]),
    "as_strided_windows": (lambda x: mx.as_strided(x, (3, 3), (2, 1), 1), [(3, 4)]),
    "as_strided_transposed": (lambda x: mx.as_strided(x, (4, 3), (1, 4)), [(3, 4)]),
    "diag_1d": (lambda x: mx.diag(x, 1), [(3,)]),
    "diag_2d": (lambda x: mx.diag(x, -1), [(4, 3)]),
    "diagonal": (lambda x: mx.diagonal(x, 1, 2, 0), [(3, 2, 4)]),
    "diagonal_neg": (lambda x: mx.diagonal(x, -1, 1, 2), [(2, 4, 3)]),
    "trace": (lambda x: mx.trace(x, 0, 0, 2), [(3, 2, 4)]),
    "trace_offset": (lambda x: mx.trace(x, -1), [(4, 3)]),
    "contiguous": (lambda x: mx.contiguous(x.T), [(2, 3)]),
    "view_same": (lambda x: x.view(x.dtype), [(2, 3)]),
    "meshgrid": (lambda x, y: mx.meshgrid(x, y), [(3,), (2,)]),
}

# Linear cases: the vjp of their pullback (transposing twice) gives the forward op back,
# which exercises the rules of the ops that the rules are made of.
LINEAR = sorted(n for n in CASES if n not in ("pad_constant", "pad_value"))


def _inputs(shapes, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.normal(size=s) for s in shapes]


def _eval(f, xs):
    return [np.array(o) for o in _list(f(*[mx.array(x, F64) for x in xs]))]


def _cotangents(f, xs, seed=1):
    rng = np.random.default_rng(seed)
    return [rng.normal(size=o.shape) for o in _eval(f, xs)]


def _fd(f, xs, cs, eps=1e-4):
    """Finite-difference gradient of ``sum_k <c_k, f(xs)_k>`` for every input."""

    def obj(v):
        return sum(float(np.sum(o * c)) for o, c in zip(_eval(f, v), cs))

    grads = []
    for i, x in enumerate(xs):
        g = np.zeros_like(x)
        for idx in np.ndindex(x.shape):
            xp = [v.copy() for v in xs]
            xm = [v.copy() for v in xs]
            xp[i][idx] += eps
            xm[i][idx] -= eps
            g[idx] = (obj(xp) - obj(xm)) / (2 * eps)
        grads.append(g)
    return grads


def _vjp(f, xs, cs):
    outs, gs = mx.vjp(lambda *a: _list(f(*a)), [mx.array(x, F64) for x in xs],
                      [mx.array(c, F64) for c in cs])  # fmt: skip
    return outs, gs


@pytest.mark.parametrize("name", sorted(CASES))
def test_vjp_matches_finite_differences(name):
    f, shapes = CASES[name]
    xs = _inputs(shapes)
    cs = _cotangents(f, xs)
    outs, gs = _vjp(f, xs, cs)
    for o, r in zip(outs, _eval(f, xs)):
        np.testing.assert_allclose(np.array(o), r)
    for g, x, ref in zip(gs, xs, _fd(f, xs, cs)):
        assert tuple(g.shape) == x.shape and g.dtype == F64
        np.testing.assert_allclose(np.array(g), ref, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("name", sorted(CASES))
def test_jvp_is_consistent_with_vjp(name):
    f, shapes = CASES[name]
    xs = _inputs(shapes, 2)
    cs = _cotangents(f, xs, 3)
    ts = _inputs(shapes, 4)
    _, gs = _vjp(f, xs, cs)
    outs, jts = mx.jvp(lambda *a: _list(f(*a)), [mx.array(x, F64) for x in xs],
                       [mx.array(t, F64) for t in ts])  # fmt: skip
    for o, jt in zip(outs, jts):
        assert jt.shape == o.shape and jt.dtype == o.dtype
    lhs = sum(float(np.sum(np.array(jt) * c)) for jt, c in zip(jts, cs))
    rhs = sum(float(np.sum(t * np.array(g))) for t, g in zip(ts, gs))
    assert lhs == pytest.approx(rhs, rel=1e-9, abs=1e-9)


def _vmap_vs_loop(f, xs, in_axes):
    arrs = [mx.array(x, mx.float32) for x in xs]
    size = next(x.shape[a] for x, a in zip(xs, in_axes) if a is not None)
    got = _list(mx.vmap(f, in_axes=tuple(in_axes))(*arrs))
    per = []
    for b in range(size):
        args = [mx.array(np.take(x, b, axis=a), mx.float32) if a is not None else arr
                for x, a, arr in zip(xs, in_axes, arrs)]  # fmt: skip
        per.append([np.array(o) for o in _list(f(*args))])
    assert len(got) == len(per[0])
    for k, g in enumerate(got):
        np.testing.assert_allclose(np.array(g), np.stack([p[k] for p in per]), rtol=1e-6)


def _batched(shapes, in_axes, size=3):
    out = []
    for s, a in zip(shapes, in_axes):
        if a is None:
            out.append(s)
        else:
            a = a % (len(s) + 1)
            out.append(s[:a] + (size,) + s[a:])
    return out


_VMAP_PARAMS = [
    (name, mode)
    for name in sorted(CASES)
    for mode in ("first_last", "all_zero", "only_second")
    if mode != "only_second" or len(CASES[name][1]) > 1
]


@pytest.mark.parametrize(("name", "mode"), _VMAP_PARAMS)
def test_vmap_matches_a_loop(name, mode):
    f, shapes = CASES[name]
    n = len(shapes)
    if mode == "first_last":  # the first input mapped along its last axis, others unbatched
        in_axes = [-1] + [None] * (n - 1)
    elif mode == "all_zero":
        in_axes = [0] * n
    else:  # only the second input mapped
        in_axes = [None, 0] + [None] * (n - 2)
    xs = _inputs(_batched(shapes, in_axes), 5)
    _vmap_vs_loop(f, xs, in_axes)


@pytest.mark.parametrize("name", LINEAR)
def test_vjp_of_the_vjp_is_the_forward_op(name):
    f, shapes = CASES[name]
    xs = [mx.array(x, F64) for x in _inputs(shapes)]
    outs = _list(f(*xs))
    cs = [mx.array(c, F64) for c in _cotangents(f, _inputs(shapes))]

    def pullback(*c):
        return mx.vjp(lambda *a: _list(f(*a)), xs, list(c))[1]

    ds = [mx.array(d, F64) for d in _inputs([x.shape for x in xs], 7)]
    _, back = mx.vjp(pullback, cs, ds)  # (J^T)^T d = J d
    ref = _list(f(*ds))
    for b, r, o in zip(back, ref, outs):
        assert b.shape == o.shape
        np.testing.assert_allclose(np.array(b), np.array(r), rtol=1e-12)
    # forward over reverse: the jvp of the pullback is the pullback of the tangent
    _, fwd = mx.jvp(pullback, cs, cs)
    for a, b in zip(fwd, pullback(*cs)):
        np.testing.assert_allclose(np.array(a), np.array(b), rtol=1e-12)


@pytest.mark.parametrize(
    "name",
    [
        "reshape",
        "transpose",
        "concatenate",
        "split",
        "pad_constant",
        "roll_axes",
        "stack",
        "diagonal",
        "tile",
        "as_strided_windows",
    ],
)
def test_vmap_of_the_pullback(name):
    f, shapes = CASES[name]
    xs = [mx.array(x, mx.float32) for x in _inputs(shapes)]
    outs = _list(f(*xs))
    batch = [mx.array(c, mx.float32) for c in _inputs([(2,) + o.shape for o in outs], 8)]

    def pullback(*c):
        return mx.vjp(lambda *a: _list(f(*a)), xs, list(c))[1]

    got = mx.vmap(pullback)(*batch)
    for k in range(len(xs)):
        ref = np.stack([np.array(pullback(*[c[b] for c in batch])[k]) for b in range(2)])
        np.testing.assert_allclose(np.array(got[k]), ref, rtol=1e-6)


def test_nested_vmap_and_vmap_of_jvp():
    x = np.random.default_rng(0).normal(size=(2, 3, 4, 5)).astype(np.float32)
    f = lambda v: mx.pad(mx.transpose(v, (1, 0)), ((1, 0), (0, 2)), mode="edge")  # noqa: E731
    got = mx.vmap(mx.vmap(f, in_axes=1), in_axes=3)(mx.array(x))
    ref = np.stack([np.stack([np.array(f(mx.array(x[:, j, :, i]))) for j in range(3)])
                    for i in range(5)])  # fmt: skip
    np.testing.assert_allclose(np.array(got), ref)
    t = mx.array(np.ones((3, 4, 5), np.float32))
    jv = mx.vmap(lambda v: mx.jvp(lambda u: mx.flip(mx.reshape(u, (-1,))), [v], [v])[1][0])(
        mx.array(x[0])
    )
    np.testing.assert_allclose(np.array(jv), x[0].reshape(3, -1)[:, ::-1])
    assert t.shape == (3, 4, 5)


def test_split_gets_zeros_for_unused_siblings():
    x = mx.array(np.arange(6.0).reshape(2, 3), F64)
    _, (g,) = mx.vjp(lambda v: mx.split(v, [1], axis=1)[1], [x], [mx.ones((2, 2), F64)])
    np.testing.assert_array_equal(np.array(g), [[0, 1, 1], [0, 1, 1]])
    _, (g,) = mx.vjp(lambda v: mx.unstack(v)[0], [x], [mx.ones((3,), F64)])
    np.testing.assert_array_equal(np.array(g), [[1, 1, 1], [0, 0, 0]])


def test_integer_cotangents_keep_the_dtype():
    x = mx.arange(6).reshape(2, 3)
    _, (g,) = mx.vjp(lambda v: mx.broadcast_to(v, (4, 2, 3)), [x], [mx.ones((4, 2, 3), mx.int32)])
    assert g.dtype == mx.int32 and np.array(g).tolist() == [[4] * 3] * 2
    _, (g,) = mx.vjp(lambda v: mx.trace(v), [x.astype(mx.int8)], [mx.array(1)])
    assert g.dtype == mx.int8


def test_view_to_another_dtype_is_not_differentiable():
    x = mx.array([1.0, 2.0])
    with pytest.raises(ValueError, match=r"\[view\]"):
        mx.vjp(lambda v: v.view(mx.int32), [x], [mx.ones((2,), mx.int32)])
    with pytest.raises(ValueError, match=r"\[view\]"):
        mx.jvp(lambda v: v.view(mx.int32), [x], [x])
    out = mx.vmap(lambda v: v.view(mx.uint8))(mx.array(np.arange(6, dtype=np.int32).reshape(2, 3)))
    assert out.shape == (2, 12)
    np.testing.assert_array_equal(
        np.array(out), np.arange(6, dtype=np.int32).reshape(2, 3).view(np.uint8)
    )


def test_pad_value_batched_falls_back_to_a_loop():
    v = mx.array([1.0, 2.0])
    out = mx.vmap(lambda c: mx.pad(mx.ones((2,)), 1, constant_values=c))(v)
    np.testing.assert_array_equal(np.array(out), [[1, 1, 1, 1], [2, 1, 1, 2]])


def test_empty_arrays():
    x = mx.zeros((0, 3), F64)
    _, (g,) = mx.vjp(lambda v: mx.pad(v, 1, mode="edge"), [x], [mx.ones((2, 5), F64)])
    assert g.shape == (0, 3)
    _, (g,) = mx.vjp(lambda v: mx.tile(v, (2, 2)), [x], [mx.ones((0, 6), F64)])
    assert g.shape == (0, 3)
    _, (g,) = mx.vjp(lambda v: mx.repeat(v, 2), [x], [mx.ones((0,), F64)])
    assert g.shape == (0, 3)


_MLX_CASES = ["as_strided_windows", "pad_edge", "pad_constant", "diag_2d", "diagonal", "trace",
              "tile", "repeat_axis", "repeat_flat", "roll_axes", "broadcast_to", "concatenate_three",
              "split", "unstack", "meshgrid"]  # fmt: skip


@needs_mlx
@pytest.mark.parametrize("name", _MLX_CASES)
def test_vjp_and_vmap_match_mlx(name):
    f, shapes = CASES[name]
    xs = [x.astype(np.float32) for x in _inputs(shapes)]
    cs = [c.astype(np.float32) for c in _cotangents(f, _inputs(shapes))]
    _, gs = mx.vjp(lambda *a: _list(f(*a)), [mx.array(x) for x in xs], [mx.array(c) for c in cs])
    fm = f.__code__  # the same lambda, run against mlx.core
    g = f.__globals__.copy()
    g["mx"] = mlx
    fml = type(f)(fm, g)
    _, ref = mlx.vjp(
        lambda *a: _list(fml(*a)), [mlx.array(x) for x in xs], [mlx.array(c) for c in cs]
    )
    for a, b in zip(gs, ref):
        np.testing.assert_allclose(np.array(a), np.array(b), rtol=1e-5, atol=1e-6)
    bx = [np.stack([x, 2 * x]) for x in xs]
    got = _list(mx.vmap(f)(*[mx.array(x) for x in bx]))
    if name.startswith("as_strided"):  # MLX has no vmap of as_strided: a loop is the oracle
        per = [_list(fml(*[mlx.array(x[b]) for x in bx])) for b in range(2)]
        want = [np.stack([np.array(p[k]) for p in per]) for k in range(len(got))]
    else:
        want = _list(mlx.vmap(fml)(*[mlx.array(x) for x in bx]))
    for a, b in zip(got, want):
        np.testing.assert_allclose(np.array(a), np.array(b), rtol=1e-6)


# -- randomised: shapes, parameters and mapped axes drawn by hypothesis ------------------------
@st.composite
def _op_and_shape(draw):
    nd = draw(st.integers(1, 3))
    shape = tuple(draw(st.lists(st.integers(1, 3), min_size=nd, max_size=nd)))
    kind = draw(st.sampled_from(["transpose", "pad", "tile", "repeat", "roll", "flip", "split",
                                 "diagonal", "broadcast", "as_strided"]))  # fmt: skip
    ax = draw(st.integers(-nd, nd - 1))
    if kind == "transpose":
        perm = tuple(draw(st.permutations(range(nd))))
        f = lambda x: mx.transpose(x, perm)  # noqa: E731
    elif kind == "pad":
        widths = [tuple(draw(st.lists(st.integers(0, 3), min_size=2, max_size=2))) for _ in shape]
        mode = draw(st.sampled_from(["constant", "edge", "reflect", "symmetric"]))
        if mode == "reflect":  # NumPy refuses reflecting a single element
            widths = [w if s > 1 else (0, 0) for w, s in zip(widths, shape)]
        f = lambda x: mx.pad(x, widths, mode=mode)  # noqa: E731
    elif kind == "tile":
        reps = tuple(draw(st.lists(st.integers(1, 3), min_size=1, max_size=4)))
        f = lambda x: mx.tile(x, reps)  # noqa: E731
    elif kind == "repeat":
        r = draw(st.integers(1, 3))
        a = draw(st.sampled_from([None, ax]))
        f = lambda x: mx.repeat(x, r, a)  # noqa: E731
    elif kind == "roll":
        sh = draw(st.integers(-4, 4))
        a = draw(st.sampled_from([None, ax]))
        f = lambda x: mx.roll(x, sh, a)  # noqa: E731
    elif kind == "flip":
        f = lambda x: mx.flip(x, ax)  # noqa: E731
    elif kind == "split":
        pts = sorted(draw(st.lists(st.integers(0, shape[ax]), max_size=3)))
        f = lambda x: mx.split(x, pts, ax)  # noqa: E731
    elif kind == "diagonal":
        if nd < 2:
            shape = shape + (2,)
            nd = 2
        a1, a2 = draw(st.permutations(range(nd)))[:2]
        off = draw(st.integers(-2, 2))
        f = lambda x: mx.diagonal(x, off, a1, a2)  # noqa: E731
    elif kind == "broadcast":
        target = tuple(draw(st.lists(st.integers(1, 3), max_size=2))) + tuple(
            draw(st.sampled_from([s, 2])) if s == 1 else s for s in shape
        )
        f = lambda x: mx.broadcast_to(x, target)  # noqa: E731
    else:
        n = int(np.prod(shape))
        out = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
        s0, s1 = draw(st.integers(0, 2)), draw(st.integers(0, 2))
        off = draw(st.integers(0, max(0, n - 1 - (out[0] - 1) * s0 - (out[1] - 1) * s1)))
        if off + (out[0] - 1) * s0 + (out[1] - 1) * s1 >= n:
            out, s0, s1, off = (1, 1), 0, 0, 0
        f = lambda x: mx.as_strided(x, out, (s0, s1), off)  # noqa: E731
    in_axis = draw(st.integers(-(nd + 1), nd))
    return f, shape, in_axis


@given(_op_and_shape())
def test_random_ops_vjp_jvp_vmap(case):
    f, shape, in_axis = case
    xs = _inputs([shape], 11)
    cs = _cotangents(f, xs, 12)
    _, gs = _vjp(f, xs, cs)
    np.testing.assert_allclose(np.array(gs[0]), _fd(f, xs, cs, eps=1.0)[0], rtol=1e-9, atol=1e-12)
    ts = _inputs([shape], 13)
    _, jts = mx.jvp(lambda a: _list(f(a)), [mx.array(xs[0], F64)], [mx.array(ts[0], F64)])
    for jt, r in zip(jts, _eval(f, ts)):  # linear ops: the tangent map is the op itself
        np.testing.assert_allclose(np.array(jt), r, rtol=1e-12)
    _vmap_vs_loop(f, _inputs(_batched([shape], [in_axis], 2), 14), [in_axis])


# -- second derivatives through shape ops (with the elementwise and reduction rules) -------
_NONLINEAR = {
    "pad_edge": lambda x: mx.sum(mx.pad(x, ((1, 2), (0, 1)), mode="edge") ** 3),
    "pad_value": lambda x: mx.sum(mx.pad(x, 1, constant_values=x[0, 0]) ** 3),
    "tile": lambda x: mx.sum(mx.sin(mx.tile(x, (2, 1))) * mx.tile(x, (2, 2))[:, 1:4]),
    "broadcast": lambda x: mx.sum(mx.broadcast_to(x[:, None, :], (2, 4, 3)) ** 2 * x.sum()),
    "diagonal": lambda x: mx.sum(mx.exp(mx.diagonal(mx.outer(x.reshape(-1), x.reshape(-1)), 1))),
    "trace": lambda x: mx.trace(mx.reshape(x, (3, 2)) @ mx.transpose(mx.reshape(x, (3, 2)))) ** 2,
    "as_strided": lambda x: mx.sum(
        mx.as_strided(x, (3, 3), (1, 1)) ** 2 * mx.roll(x, 1).reshape(-1)[:3]
    ),
    "concat_split": lambda x: mx.sum(
        mx.prod(mx.stack(mx.split(mx.concatenate([x, x * x], 0), 2, 0)), 0)
    ),
    "repeat_flip": lambda x: mx.sum(mx.flip(mx.repeat(x, 2, 1), 0) ** 2 * mx.repeat(x, 2, 1)),
}


@pytest.mark.parametrize("name", sorted(_NONLINEAR))
def test_second_derivatives(name):
    f = _NONLINEAR[name]
    rng = np.random.default_rng(21)
    x = rng.uniform(0.5, 1.5, size=(2, 3))
    t = rng.normal(size=(2, 3))
    g = mx.grad(f)
    gx = lambda v: np.array(g(mx.array(v, F64)))  # noqa: E731
    fx = lambda v: float(np.array(f(mx.array(v, F64))))  # noqa: E731
    np.testing.assert_allclose(gx(x), _fd_scalar(fx, x), rtol=1e-6, atol=1e-8)
    # Hessian-vector product, forward over reverse and reverse over reverse
    _, (hvp,) = mx.jvp(g, [mx.array(x, F64)], [mx.array(t, F64)])
    hvp_fd = (gx(x + 1e-5 * t) - gx(x - 1e-5 * t)) / 2e-5
    np.testing.assert_allclose(np.array(hvp), hvp_fd, rtol=1e-5, atol=1e-7)
    hvp_rev = mx.grad(lambda v: mx.sum(g(v) * mx.array(t, F64)))(mx.array(x, F64))
    np.testing.assert_allclose(np.array(hvp_rev), hvp_fd, rtol=1e-5, atol=1e-7)


def _fd_scalar(f, x, eps=1e-6):
    g = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        xp, xm = x.copy(), x.copy()
        xp[idx] += eps
        xm[idx] -= eps
        g[idx] = (f(xp) - f(xm)) / (2 * eps)
    return g


@needs_mlx
@pytest.mark.parametrize(
    "name", ["pad_edge", "tile", "broadcast", "trace", "concat_split", "repeat_flip"]
)
def test_second_derivatives_match_mlx(name):
    f = _NONLINEAR[name]
    gl = f.__globals__.copy()
    gl["mx"] = mlx
    fm = type(f)(f.__code__, gl)
    x = np.random.default_rng(22).uniform(0.5, 1.5, size=(2, 3)).astype(np.float32)
    t = np.ones((2, 3), np.float32)
    h = mx.grad(lambda v: mx.sum(mx.grad(f)(v) * mx.array(t)))(mx.array(x))
    r = mlx.grad(lambda v: mlx.sum(mlx.grad(fm)(v) * mlx.array(t)))(mlx.array(x))
    np.testing.assert_allclose(np.array(h), np.array(r), rtol=1e-4, atol=1e-5)


def test_pad_value_gradient_goes_to_its_first_element():
    x = mx.ones((2, 2))
    _, (g,) = mx.vjp(
        lambda v: mx.pad(x, 1, constant_values=v), [mx.array([2.0, 3.0])], [mx.ones((4, 4))]
    )
    np.testing.assert_array_equal(np.array(g), [12.0, 0.0])


def test_vmap_over_an_empty_batch():
    for f, out in [
        (lambda v: mx.repeat(v, 2), (0, 6)),
        (lambda v: mx.roll(v, 1), (0, 3)),
        (lambda v: mx.tile(v, (2,)), (0, 6)),
        (lambda v: mx.as_strided(v, (2,), (1,)), (0, 2)),
    ]:
        r = mx.vmap(f)(mx.zeros((0, 3)))
        assert r.shape == out and np.array(r).shape == out


@pytest.mark.parametrize(
    "points, expected",
    [  # MLX 0.32.4's gradients
        ([3, 1], [1, 4, 4, 3, 3]),  # the pieces overlap
        ([2, 4], [1, 1, 2, 2, 3]),
        ([4, 0, 4], [4, 4, 4, 4, 4]),  # pieces empty and overlapping
    ],
)
def test_split_gradient_with_points_out_of_order(points, expected):
    def f(x):
        pieces = mx.split(x, points)
        return sum(((p * (i + 1)).sum() for i, p in enumerate(pieces)), mx.array(0.0))

    g = mx.grad(f)(mx.arange(5.0))
    assert g.shape == (5,) and g.tolist() == expected
