"""Matrix-product variants: gather_mm, block_masked_mm, segmented_mm, hadamard_transform,
qqmm, gather_qqmm (their own tests: tests/test_matmul_variants_qq.py).

Values are checked against NumPy references; shapes, dtypes, errors and transform
behaviour against what MLX 0.32.4 (CPU) showed for the same calls (written out as
assertions); hadamard_transform's half-precision results against digests of MLX's output.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import umx as mx
from tests.helpers import check, compare_outcomes, mlx, needs_mlx

RNG = np.random.default_rng(7)


def randn(*shape) -> np.ndarray:
    return RNG.standard_normal(shape).astype(np.float32)


def fd_grad(f, x: np.ndarray, eps: float = 1e-3) -> np.ndarray:
    """Central finite differences of the scalar ``f`` (float64) at ``x``."""
    x = x.astype(np.float64)
    g = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        xp, xm = x.copy(), x.copy()
        xp[i] += eps
        xm[i] -= eps
        g[i] = (f(xp) - f(xm)) / (2 * eps)
    return g


def raises(exc, f):
    with pytest.raises(exc):
        mx.eval(f())


# -- gather_mm -----------------------------------------------------------------------------------


def gmm_ref(a, b, li, ri):
    A = a.reshape(int(np.prod(a.shape[:-2])), *a.shape[-2:])
    B = b.reshape(int(np.prod(b.shape[:-2])), *b.shape[-2:])
    batch = np.broadcast_shapes(np.shape(li), np.shape(ri))
    la = np.broadcast_to(li, batch).reshape(-1)
    rb = np.broadcast_to(ri, batch).reshape(-1)
    return (A[la] @ B[rb]).reshape(*batch, A.shape[1], B.shape[2])


@settings(max_examples=25, deadline=None)
@given(
    abatch=st.lists(st.integers(1, 3), max_size=2),
    bbatch=st.lists(st.integers(1, 3), max_size=2),
    lshape=st.lists(st.integers(1, 3), max_size=2),
    cut=st.integers(0, 2),
    ones=st.lists(st.booleans(), min_size=2, max_size=2),
    mkn=st.tuples(st.integers(1, 4), st.integers(0, 4), st.integers(1, 4)),
    seed=st.integers(0, 2**16),
)
def test_gather_mm_matches_numpy(abatch, bbatch, lshape, cut, ones, mkn, seed):
    rng = np.random.default_rng(seed)
    M, K, N = mkn
    a = rng.standard_normal((*abatch, M, K)).astype(np.float32)
    b = rng.standard_normal((*bbatch, K, N)).astype(np.float32)
    na, nb = int(np.prod(abatch)), int(np.prod(bbatch))
    # rhs: a suffix of lhs's shape with some dims 1 (the two broadcast together)
    rshape = [1 if o else x for x, o in zip(lshape[min(cut, len(lshape)) :], ones)]
    li = rng.integers(0, na, lshape).astype(np.uint32)
    ri = rng.integers(0, nb, rshape).astype(np.int32)
    out = mx.gather_mm(mx.array(a), mx.array(b), mx.array(li), mx.array(ri))
    check(out, gmm_ref(a, b, li, ri), dtype=mx.float32, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize(
    "ashape, bshape, lhs, rhs, shape",
    [  # output shapes MLX 0.32.4 gave for these calls
        ((3, 4, 5), (2, 5, 6), None, [0, 1, 1], (3, 4, 6)),
        ((3, 4, 5), (2, 5, 6), [0, 2], [[0], [1]], (2, 2, 4, 6)),
        ((3, 4, 5), (2, 5, 6), 1, 0, (4, 6)),
        ((5,), (2, 5, 6), [0], [0], (1, 6)),
        ((3, 4, 5), (5,), [0], [0], (1, 4)),
        ((5,), (5,), [0], [0], (1,)),
        ((5,), (5,), 0, 0, ()),
        ((5,), (2, 5, 6), None, [[0, 1]], (1, 2, 6)),
        ((4, 5), (2, 5, 6), [0], [1], (1, 4, 6)),
        ((2, 3, 4, 5), (3, 5, 2), [5, 0], [[2], [0]], (2, 2, 4, 2)),
        ((2, 3, 4, 5), (3, 5, 6), None, [0, 1, 2], (2, 3, 4, 6)),
        ((2, 1, 4, 5), (3, 5, 6), None, [0, 1, 2], (2, 3, 4, 6)),
        ((0, 4, 5), (2, 5, 6), None, [0], (0, 4, 6)),
    ],
)
def test_gather_mm_shapes_as_mlx(ashape, bshape, lhs, rhs, shape):
    a, b = randn(*ashape), randn(*bshape)
    li = None if lhs is None else mx.array(lhs)
    ri = None if rhs is None else mx.array(rhs)
    out = mx.gather_mm(mx.array(a), mx.array(b), li, ri)
    assert out.shape == shape
    A = a.reshape(1, *a.shape) if a.ndim == 1 else a
    B = b.reshape(*b.shape, 1) if b.ndim == 1 else b
    lhs = np.arange(int(np.prod(A.shape[:-2]))).reshape(A.shape[:-2]) if lhs is None else lhs
    check(out, gmm_ref(A, B, lhs, rhs).reshape(shape), atol=1e-5, rtol=1e-5)


def test_gather_mm_dtypes_and_errors_as_mlx():
    i0 = mx.array([0])
    f16, i32 = mx.ones((2, 3, 4), mx.float16), mx.ones((2, 4, 3), mx.int32)
    assert mx.gather_mm(f16, mx.ones((2, 4, 3)), i0, i0).dtype == mx.float32
    assert mx.gather_mm(i32.reshape(2, 3, 4), mx.ones((2, 4, 3), mx.float16), i0, i0).dtype == (
        mx.float16
    )
    # MLX's CPU refuses half precision here at evaluation; umx computes it.
    check(mx.gather_mm(f16, mx.ones((2, 4, 3), mx.float16), i0, i0), np.full((1, 3, 3), 4.0))
    bf = mx.ones((2, 3, 4), mx.bfloat16)
    assert mx.gather_mm(bf, mx.ones((2, 4, 3), mx.bfloat16), i0, i0).dtype == mx.bfloat16
    # No indices: it is matmul (complex and its error messages included).
    assert mx.gather_mm(
        mx.ones((2, 3, 4), mx.complex64), mx.ones((2, 4, 3), mx.complex64)
    ).dtype == (mx.complex64)
    with pytest.raises(ValueError, match=r"\[matmul\] Only inexact"):
        mx.gather_mm(i32, i32)
    a, b = mx.ones((3, 4, 5)), mx.ones((2, 5, 6))
    for bad in (
        lambda: mx.gather_mm(mx.ones((2, 3, 4), mx.complex64), mx.ones((2, 4, 3)), i0, i0),
        lambda: mx.gather_mm(mx.ones((2, 3, 4), mx.int32), i32, i0, i0),
        lambda: mx.gather_mm(a, b, mx.array([0.0]), i0),
        lambda: mx.gather_mm(a, b, i0, mx.array([True])),
        lambda: mx.gather_mm(mx.array(1.0), b, i0, i0),
        lambda: mx.gather_mm(a, mx.ones((2, 4, 6)), i0, i0),
        lambda: mx.gather_mm(a, b, mx.array([0, 1]), mx.array([0, 1, 0])),
        lambda: mx.gather_mm(a, b, mx.array([0, 2, 1]), None),  # default rhs has shape (2,)
    ):
        with pytest.raises(ValueError):
            bad()
    with pytest.raises(ValueError, match="Only real floating point"):
        mx.gather_mm(mx.ones((2, 3, 4), mx.complex64), mx.ones((2, 4, 3)), i0, i0)
    with pytest.raises(ValueError, match="Indices must be integral"):
        mx.gather_mm(a, b, mx.array([0.0]), i0)
    for bad in (lambda: mx.gather_mm([[1.0]], b), lambda: mx.gather_mm(a, b, [0], [0])):
        with pytest.raises(TypeError):
            bad()
    # Any integer index dtype; out-of-range indices wrap (MLX reads out of bounds).
    assert mx.gather_mm(a, b, mx.array([0], mx.int8), mx.array([0], mx.uint64)).shape == (1, 4, 6)
    an, bn = randn(3, 4, 5), randn(2, 5, 6)
    out = mx.gather_mm(mx.array(an), mx.array(bn), mx.array([4, -1]), mx.array([3, 0]))
    check(out, gmm_ref(an, bn, [1, 2], [1, 0]), atol=1e-5, rtol=1e-5)


def test_gather_mm_many_products_per_matrix():
    """The mixture-of-experts layout (grouped kernel), unsorted and sorted."""
    x, w = randn(64, 1, 32), randn(4, 32, 128)
    ri = RNG.integers(0, 4, 64)
    out = mx.gather_mm(mx.array(x), mx.array(w), None, mx.array(ri))
    check(out, x @ w[ri], atol=1e-4, rtol=1e-4)
    rs = np.sort(ri)
    out = mx.gather_mm(mx.array(x), mx.array(w), None, mx.array(rs), sorted_indices=True)
    check(out, x @ w[rs], atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("moe", [False, True])
def test_gather_mm_grad(moe):
    if moe:  # many products per matrix of b: the segmented_mm path of the vjp
        a, b = randn(12, 2, 3), randn(3, 3, 4)
        li, ri = np.arange(12), RNG.integers(0, 3, 12)
    else:
        a, b = randn(3, 4, 5), randn(2, 5, 6)
        li, ri = np.array([[0], [2], [0]]), np.array([1, 0])
    W = randn(*gmm_ref(a, b, li, ri).shape)
    f = lambda x, y: (mx.gather_mm(x, y, mx.array(li), mx.array(ri)) * mx.array(W)).sum()  # noqa: E731
    ga, gb = mx.grad(f, argnums=(0, 1))(mx.array(a), mx.array(b))
    check(ga, fd_grad(lambda x: (gmm_ref(x, b, li, ri) * W).sum(), a), atol=1e-3, rtol=1e-3)
    check(gb, fd_grad(lambda y: (gmm_ref(a, y, li, ri) * W).sum(), b), atol=1e-3, rtol=1e-3)


def test_gather_mm_transforms():
    a, b = mx.array(randn(3, 4, 5)), mx.array(randn(2, 5, 6))
    li, ri = mx.array([[0], [2]]), mx.array([1, 0, 1])
    # The indices have no gradient: ValueError, as in MLX.
    with pytest.raises(ValueError, match="indices"):
        mx.grad(lambda l: mx.gather_mm(a, b, l, ri).sum())(li)
    # A vector a (MLX fails in its vjp here).
    g = mx.grad(lambda v: mx.gather_mm(v, b, None, ri).sum())(mx.ones((5,)))
    check(g, np.array(b).sum(axis=2)[[1, 0, 1]].sum(0))
    ta, tb = mx.array(randn(3, 4, 5)), mx.array(randn(2, 5, 6))
    _, (t,) = mx.jvp(lambda x, y: mx.gather_mm(x, y, li, ri), [a, b], [ta, tb])
    check(t, np.array(mx.gather_mm(ta, b, li, ri) + mx.gather_mm(a, tb, li, ri)), atol=1e-5)
    A, B = mx.array(randn(4, 3, 4, 5)), mx.array(randn(2, 5, 6, 4))
    L = mx.array(RNG.integers(0, 3, (4, 2, 1)))
    for f, args, axes, each in (
        (lambda x: mx.gather_mm(x, b, li, ri), (A,), 0, lambda i: (A[i], b, li, ri)),
        (lambda y: mx.gather_mm(a, y, li, ri), (B,), 3, lambda i: (a, B[..., i], li, ri)),
        (lambda x, l: mx.gather_mm(x, b, l, ri), (A, L), 0, lambda i: (A[i], b, L[i], ri)),
        (lambda l: mx.gather_mm(a, b, l, ri), (L,), 0, lambda i: (a, b, L[i], ri)),
    ):
        out = mx.vmap(f, in_axes=axes)(*args)
        exp = np.stack([np.array(mx.gather_mm(*each(i))) for i in range(4)])
        check(out, exp, atol=1e-5)


# -- block_masked_mm ----------------------------------------------------------------------------


def expand_mask(m, bs, rows, cols):
    m = np.asarray(m)
    m = m.reshape((1,) * (2 - m.ndim) + m.shape) if m.ndim < 2 else m
    m = np.broadcast_to(m, m.shape[:-2] + (-(-rows // bs), -(-cols // bs)))
    return np.repeat(np.repeat(m, bs, -2), bs, -1)[..., :rows, :cols]


def masked(x, m, bs):
    """MLX's semantics: a boolean mask selects (NaNs vanish), another multiplies."""
    if m is None:
        return x
    e = expand_mask(m, bs, *x.shape[-2:])
    return np.where(e, x, 0) if e.dtype == bool else x * e


def bmm_ref(a, b, bs, mo=None, ml=None, mr=None):
    return masked(masked(a, ml, bs) @ masked(b, mr, bs), mo, bs)


@settings(max_examples=25, deadline=None)
@given(
    mkn=st.tuples(st.integers(1, 80), st.integers(0, 80), st.integers(1, 80)),
    bs=st.sampled_from([32, 64]),
    which=st.tuples(st.booleans(), st.booleans(), st.booleans()),
    kinds=st.tuples(st.booleans(), st.booleans(), st.booleans()),
    batch=st.sampled_from([(), (2,)]),
    seed=st.integers(0, 2**16),
)
def test_block_masked_mm_matches_numpy(mkn, bs, which, kinds, batch, seed):
    rng = np.random.default_rng(seed)
    M, K, N = mkn
    a = rng.standard_normal((*batch, M, K)).astype(np.float32)
    b = rng.standard_normal((K, N)).astype(np.float32)
    grids = [(-(-M // bs), -(-N // bs)), (-(-M // bs), -(-K // bs)), (-(-K // bs), -(-N // bs))]
    masks = []
    for use, boolean, g in zip(which, kinds, grids):
        if not use:
            masks.append(None)
        elif boolean:
            masks.append(rng.random((*batch, *g)) > 0.3)
        else:
            masks.append(rng.standard_normal(g).astype(np.float32))
    args = [None if m is None else mx.array(m) for m in masks]
    out = mx.block_masked_mm(mx.array(a), mx.array(b), bs, *args)
    exp = bmm_ref(a, b, bs, *masks)
    check(out, np.broadcast_to(exp, out.shape), dtype=mx.float32, atol=1e-4, rtol=1e-4)
    assert out.shape == (*batch, M, N)


def test_block_masked_mm_mask_semantics_as_mlx():
    a, b = randn(40, 70), randn(70, 50)
    a[0, 0] = np.nan
    A, B = mx.array(a), mx.array(b)
    # A false boolean block drops a NaN; a float 0 multiplies it (NaN stays), as MLX.
    lhs_bool = np.ones((2, 3), bool)
    lhs_bool[0, 0] = False
    assert np.isnan(np.array(mx.block_masked_mm(A, B, 32, None, mx.array(lhs_bool)))).sum() == 0
    lhs_f = lhs_bool.astype(np.float32)
    assert np.isnan(np.array(mx.block_masked_mm(A, B, 32, None, mx.array(lhs_f)))).sum() == 50
    out_bool = np.array([[False, True], [True, True]])
    r = np.array(mx.block_masked_mm(A, B, 32, mx.array(out_bool)))
    assert np.isnan(r).sum() == 18 and (r[:32, :32] == 0).all()
    r = np.array(mx.block_masked_mm(A, B, 32, mx.array(out_bool.astype(np.float32))))
    assert np.isnan(r).sum() == 50
    # Integer masks multiply.
    a[0, 0] = 1.0
    mi = np.array([[2, 0], [-1, 3]], np.int32)
    check(mx.block_masked_mm(mx.array(a), B, 32, mx.array(mi)), bmm_ref(a, b, 32, mi), atol=1e-4)


def test_block_masked_mm_shapes_dtypes_errors_as_mlx():
    a, b, B2 = mx.ones((64, 64)), mx.ones((64, 64)), mx.ones((2, 2), mx.bool_)
    assert mx.block_masked_mm(a, b, 16).shape == (64, 64)  # no mask: matmul, any block size
    assert mx.block_masked_mm(a.astype(mx.float16), b.astype(mx.float16)).dtype == mx.float16
    with pytest.raises(ValueError, match=r"\[matmul\]"):
        mx.block_masked_mm(mx.ones((2, 2), mx.int32), mx.ones((2, 2), mx.int32))
    for bs in (16, 128, 0):
        with pytest.raises(ValueError, match="Only block_sizes 32, 64"):
            mx.block_masked_mm(a, b, bs, B2)
    with pytest.raises(TypeError):
        mx.block_masked_mm(a, b, 32.0)
    assert mx.block_masked_mm(a.astype(mx.float16), b, 32, B2).dtype == mx.float32
    assert mx.block_masked_mm(a, b, 32, mx.ones((2, 2), mx.float16)).dtype == mx.float32
    # MLX's CPU refuses float16 / bfloat16 / float64 at evaluation; umx computes them.
    for d in (mx.float16, mx.bfloat16, mx.float64):
        out = mx.block_masked_mm(a.astype(d), b.astype(d), 32, B2)
        assert out.dtype == d
        check(out.astype(mx.float32), np.full((64, 64), 64.0))
    for bad in (
        lambda: mx.block_masked_mm(a.astype(mx.complex64), b, 32, B2),
        lambda: mx.block_masked_mm(a.astype(mx.int32), b.astype(mx.int32), 32, B2),
        lambda: mx.block_masked_mm(a, b, 32, mx.ones((3, 2), mx.bool_)),
        lambda: mx.block_masked_mm(a, b, 32, None, mx.ones((2, 3), mx.bool_)),
        lambda: mx.block_masked_mm(mx.ones((40, 50)), mx.ones((51, 70)), 32, B2),
        lambda: mx.block_masked_mm(mx.array(1.0), mx.ones((50, 70)), 32, B2),
        lambda: mx.block_masked_mm(
            mx.ones((3, 40, 50)), mx.ones((50, 70)), 32, mx.ones((2, 3, 2, 3), mx.bool_)
        ),  # fmt: skip
        lambda: mx.block_masked_mm(
            mx.ones((40, 50)), mx.ones((50, 70)), 32, mx.ones((4, 2, 3), mx.bool_)
        ),  # fmt: skip
        lambda: mx.block_masked_mm(
            mx.ones((50,)), mx.ones((50, 70)), 32, mx.ones((1, 3), mx.bool_)
        ),  # fmt: skip
        lambda: mx.block_masked_mm(
            mx.ones((50,)), mx.ones((50,)), 32, mx.ones((1, 1), mx.bool_)
        ),  # fmt: skip
    ):
        with pytest.raises(ValueError):
            bad()
    with pytest.raises(IndexError):  # MLX's expand_dims of a scalar mask of a row vector
        mx.block_masked_mm(mx.ones((50,)), mx.ones((50, 70)), 32, mx.array(True))
    with pytest.raises(TypeError):
        mx.block_masked_mm(a, b, 32, [[True, True], [True, True]])
    ok = [  # (a, b, masks, shape) MLX accepted
        ((50,), (50, 70), (mx.ones((3,), mx.bool_),), (70,)),
        ((50,), (50, 70), (None, mx.ones((2,), mx.bool_)), (70,)),
        ((50,), (50, 70), (None, None, mx.ones((2, 3), mx.bool_)), (70,)),
        ((40, 50), (50,), (mx.ones((2,), mx.bool_),), (40,)),
        ((40, 50), (50,), (mx.array(True),), (40,)),
        ((40, 50), (50,), (None, None, mx.array(True)), (40,)),
        ((50,), (50,), (mx.array(True),), ()),
        ((40, 50), (50, 70), (mx.array(True),), (40, 70)),
        ((40, 50), (50, 70), (None, mx.array(2.0)), (40, 70)),
        ((40, 50), (50, 70), (mx.ones((2, 3), mx.complex64),), (40, 70)),
        ((40, 50), (50, 70), (mx.ones((2, 3), mx.uint8),), (40, 70)),
        ((3, 40, 50), (50, 70), (mx.ones((2, 3), mx.bool_),), (3, 40, 70)),
        ((3, 1, 40, 50), (2, 50, 70), (None, mx.ones((3, 2, 2, 2), mx.bool_)), (3, 2, 40, 70)),
        ((0, 50), (50, 70), (mx.ones((0, 3), mx.bool_),), (0, 70)),
        ((40, 0), (0, 70), (mx.ones((2, 3), mx.bool_),), (40, 70)),
    ]
    for sa, sb, masks, shape in ok:
        out = mx.block_masked_mm(mx.ones(sa), mx.ones(sb), 32, *masks)
        mx.eval(out)
        assert out.shape == shape and out.dtype == mx.float32
    check(mx.block_masked_mm(mx.ones((40, 0)), mx.ones((0, 70)), 32, masks[0]), np.zeros((40, 70)))


def test_block_masked_mm_grad():
    M, K, N, bs = 40, 70, 50, 32
    a, b = randn(M, K), randn(K, N)
    mo, ml, mr, W = randn(2, 2), randn(2, 3), randn(3, 2), randn(M, N)
    f = lambda *x: (mx.block_masked_mm(x[0], x[1], bs, *x[2:]) * mx.array(W)).sum()  # noqa: E731
    vals = [a, b, mo, ml, mr]
    grads = mx.grad(f, argnums=(0, 1, 2, 3, 4))(*[mx.array(v) for v in vals])
    E = lambda m, r, c: expand_mask(m, bs, r, c)  # noqa: E731
    check(grads[0], (W * E(mo, M, N)) @ (b * E(mr, K, N)).T * E(ml, M, K), atol=1e-4, rtol=1e-4)
    check(grads[1], (a * E(ml, M, K)).T @ (W * E(mo, M, N)) * E(mr, K, N), atol=1e-4, rtol=1e-4)
    # The masks: finite differences (MLX's mask_out gradient is this times the mask itself).
    for k in (2, 3, 4):

        def fk(m, k=k):
            v = list(vals)
            v[k] = m
            return (bmm_ref(*v[:2], bs, *v[2:]) * W).sum()

        check(grads[k], fd_grad(fk, vals[k]), atol=2e-3, rtol=2e-3)
    # Boolean masks select: no gradient (zeros), and a batched, broadcast case.
    bools = [mx.array(RNG.random(s) > 0.3) for s in ((2, 2), (2, 3), (3, 2))]
    g = mx.grad(f, argnums=(0, 2))(mx.array(a), mx.array(b), *bools)
    assert not np.array(g[1]).any()
    a3, b3, ml3 = randn(3, 1, M, K), randn(2, K, N), randn(3, 1, 2, 3)
    W3 = randn(3, 2, M, N)
    f3 = lambda x, y, m: (mx.block_masked_mm(x, y, bs, None, m) * mx.array(W3)).sum()  # noqa: E731
    g = mx.grad(f3, argnums=(0, 1, 2))(mx.array(a3), mx.array(b3), mx.array(ml3))
    assert [x.shape for x in g] == [(3, 1, M, K), (2, K, N), (3, 1, 2, 3)]
    check(g[2], fd_grad(lambda m: (bmm_ref(a3, b3, bs, None, m) * W3).sum(), ml3), atol=5e-3,
          rtol=2e-3)  # fmt: skip


def test_block_masked_mm_jvp_and_vmap():
    M, K, N, bs = 40, 70, 50, 32
    vals = [randn(M, K), randn(K, N), randn(2, 2), randn(2, 3), randn(3, 2)]
    tans = [randn(*v.shape) for v in vals]
    fn = lambda *x: mx.block_masked_mm(x[0], x[1], bs, *x[2:])  # noqa: E731
    _, (t,) = mx.jvp(fn, [mx.array(v) for v in vals], [mx.array(v) for v in tans])
    ref = lambda v: bmm_ref(*v[:2], bs, *v[2:])  # noqa: E731
    eps = 1e-3
    num = (ref([x + eps * y for x, y in zip(vals, tans)]) -
           ref([x - eps * y for x, y in zip(vals, tans)])) / (2 * eps)  # fmt: skip
    check(t, num, atol=2e-3, rtol=2e-3)
    args = [mx.array(v) for v in vals]
    A = mx.array(randn(4, M, K))
    out = mx.vmap(lambda x: fn(x, *args[1:]))(A)
    check(out, np.stack([bmm_ref(np.array(A[i]), *vals[1:2], bs, *vals[2:]) for i in range(4)]),
          atol=1e-4, rtol=1e-4)  # fmt: skip
    L = randn(2, 4, 3)  # only a mask is mapped (along axis 1)
    out = mx.vmap(lambda m: fn(*args[:3], m, args[4]), in_axes=1)(mx.array(L))
    exp = np.stack([bmm_ref(vals[0], vals[1], bs, vals[2], L[:, i], vals[4]) for i in range(4)])
    check(out, exp, atol=1e-4, rtol=1e-4)


# -- segmented_mm ----------------------------------------------------------------------------------


def smm_ref(a, b, segments):
    K = a.shape[1]
    segs = np.asarray(segments).reshape(-1, 2)
    out = np.zeros((len(segs), a.shape[0], b.shape[1]), np.float64)
    for i, (lo, hi) in enumerate(segs):
        lo = min(max(lo, 0), K)
        hi = min(max(hi, lo), K)
        out[i] = a[:, lo:hi] @ b[lo:hi]
    return out.reshape(*np.shape(segments)[:-1], a.shape[0], b.shape[1])


@settings(max_examples=25, deadline=None)
@given(
    mkn=st.tuples(st.integers(1, 5), st.integers(0, 12), st.integers(1, 5)),
    lead=st.sampled_from([(1,), (3,), (2, 2), (0,)]),
    big=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_segmented_mm_matches_numpy(mkn, lead, big, seed):
    rng = np.random.default_rng(seed)
    M, K, N = mkn
    if big:  # past the size where the kernel loops over segments
        M, K, N = 40, 200, 30
    a = rng.standard_normal((M, K)).astype(np.float32)
    b = rng.standard_normal((K, N)).astype(np.float32)
    segs = np.sort(rng.integers(0, K + 1, (*lead, 2)), axis=-1).astype(np.uint32)
    out = mx.segmented_mm(mx.array(a), mx.array(b), mx.array(segs))
    check(out, smm_ref(a, b, segs), dtype=mx.float32, atol=1e-4, rtol=1e-4)


def test_segmented_mm_semantics_as_mlx():
    a, b = randn(4, 10), randn(10, 3)
    A, B = mx.array(a), mx.array(b)
    # Overlapping, reversed (zeros) and empty segments; int32 / int64 / int8 segments.
    segs = [[0, 10], [0, 10], [5, 2], [3, 3], [2, 7]]
    for d in (mx.uint32, mx.int32, mx.int64, mx.int8):
        check(mx.segmented_mm(A, B, mx.array(segs, d)), smm_ref(a, b, segs), atol=1e-5)
    # Out-of-range bounds clip to [0, K] (MLX crashes or reads out of bounds).
    check(mx.segmented_mm(A, B, mx.array([[-3, 4], [7, 20]])), smm_ref(a, b, [[0, 4], [7, 10]]),
          atol=1e-5)  # fmt: skip
    assert mx.segmented_mm(A, B, mx.array([[[0, 3], [3, 10]]] * 2)).shape == (2, 2, 4, 3)
    assert mx.segmented_mm(A, B, mx.zeros((0, 2), mx.uint32)).shape == (0, 4, 3)
    check(
        mx.segmented_mm(mx.ones((4, 0)), mx.ones((0, 3)), mx.array([[0, 0]])), np.zeros((1, 4, 3))
    )
    f16, bf16 = mx.float16, mx.bfloat16
    # float16 with partial segments (MLX 0.32.4's CPU gets these wrong).
    h = mx.segmented_mm(A.astype(f16), B.astype(f16), mx.array([[0, 1], [2, 7]]))
    a16, b16 = (
        np.array(A.astype(f16)).astype(np.float32),
        np.array(B.astype(f16)).astype(np.float32),
    )
    check(h, smm_ref(a16, b16, [[0, 1], [2, 7]]), dtype=f16, atol=1e-2, rtol=1e-2)
    assert mx.segmented_mm(A.astype(f16), B.astype(f16), mx.array([[0, 10]])).dtype == f16
    assert mx.segmented_mm(A.astype(bf16), B.astype(bf16), mx.array([[0, 10]])).dtype == bf16
    assert mx.segmented_mm(A.astype(f16), B, mx.array([[0, 10]])).dtype == mx.float32
    assert mx.segmented_mm(A.astype(mx.int32), B.astype(f16), mx.array([[0, 1]])).dtype == f16
    assert mx.segmented_mm(
        A.astype(mx.float64), B.astype(mx.float64), mx.array([[0, 1]])
    ).dtype == (mx.float64)
    seg = mx.array([[0, 3]])
    for bad, msg in (
        (lambda: mx.segmented_mm(A, B, mx.array([0, 3, 10])), r"shape \(\.\.\., 2\)"),
        (lambda: mx.segmented_mm(A, B, mx.array([[0, 3, 4]])), r"shape \(\.\.\., 2\)"),
        (lambda: mx.segmented_mm(A, B, mx.array(0)), r"shape \(\.\.\., 2\)"),
        (lambda: mx.segmented_mm(A, B, mx.array([[0, 3.0]])), "must be integral"),
        (lambda: mx.segmented_mm(A, B, mx.array([[True, False]])), "must be integral"),
        (lambda: mx.segmented_mm(mx.ones((2, 4, 10)), B, seg), "Batched matmul not supported"),
        (lambda: mx.segmented_mm(A, mx.ones((10,)), seg), "Batched matmul not supported"),
        (lambda: mx.segmented_mm(A.astype(mx.int32), B.astype(mx.int32), seg), "real floating"),
        (lambda: mx.segmented_mm(A.astype(mx.complex64), B, seg), "real floating"),
        (lambda: mx.segmented_mm(A, mx.ones((9, 3)), seg), "must match"),  # umx-only check
    ):
        with pytest.raises(ValueError, match=msg):
            bad()
    with pytest.raises(TypeError):
        mx.segmented_mm(A, B, [[0, 3]])


def test_segmented_mm_transforms():
    """MLX has no vjp / jvp / vmap for segmented_mm: checked by finite differences."""
    a, b = randn(4, 10), randn(10, 3)
    segs = np.array([[0, 3], [3, 10], [2, 8], [5, 2]])
    W = randn(4, 4, 3)
    S = mx.array(segs)
    f = lambda x, y: (mx.segmented_mm(x, y, S) * mx.array(W)).sum()  # noqa: E731
    ga, gb = mx.grad(f, argnums=(0, 1))(mx.array(a), mx.array(b))
    check(ga, fd_grad(lambda x: (smm_ref(x, b, segs) * W).sum(), a), atol=1e-3, rtol=1e-3)
    check(gb, fd_grad(lambda y: (smm_ref(a, y, segs) * W).sum(), b), atol=1e-3, rtol=1e-3)
    with pytest.raises(ValueError, match="segments"):
        mx.grad(lambda s: mx.segmented_mm(mx.array(a), mx.array(b), s).sum())(S)
    ta, tb = randn(4, 10), randn(10, 3)
    _, (t,) = mx.jvp(lambda x, y: mx.segmented_mm(x, y, S), [mx.array(a), mx.array(b)],
                     [mx.array(ta), mx.array(tb)])  # fmt: skip
    check(t, smm_ref(ta, b, segs) + smm_ref(a, tb, segs), atol=1e-4)
    A, B = randn(5, 4, 10), randn(10, 5, 3)
    out = mx.vmap(lambda x: mx.segmented_mm(x, mx.array(b), S))(mx.array(A))
    check(out, np.stack([smm_ref(A[i], b, segs) for i in range(5)]), atol=1e-4)
    out = mx.vmap(lambda y: mx.segmented_mm(mx.array(a), y, S), in_axes=1)(mx.array(B))
    check(out, np.stack([smm_ref(a, B[:, i], segs) for i in range(5)]), atol=1e-4)
    out = mx.vmap(lambda x, y: mx.segmented_mm(x, y, S), in_axes=(0, 1))(mx.array(A), mx.array(B))
    check(out, np.stack([smm_ref(A[i], B[:, i], segs) for i in range(5)]), atol=1e-4)
    out = mx.vmap(lambda s: mx.segmented_mm(mx.array(a), mx.array(b), s))(
        mx.array(np.stack([segs, segs[::-1]]))
    )
    check(out, np.stack([smm_ref(a, b, segs), smm_ref(a, b, segs[::-1])]), atol=1e-4)


# -- hadamard_transform ------------------------------------------------------------------------------

# sha256 (16 hex digits) of MLX 0.32.4's float16 / bfloat16 output bytes for crafted(5, n)
_HAD_HALF = {
    "float16/1/None": "f151161691e5cb77", "float16/1/0.3": "6bedbfd0fbdc52c9",
    "float16/2/None": "ea1dfedf6d14dca4", "float16/2/0.3": "33cefbd8c4a18f8b",
    "float16/64/None": "882abf7559d560e6", "float16/64/0.3": "74a9e6e10f1102ed",
    "float16/1024/None": "d092d8aad67e8963", "float16/1024/0.3": "4f163ba2b1e69c8c",
    "float16/12/None": "2b66780f412895e7", "float16/12/0.3": "694a95730b45ab01",
    "float16/24/None": "cb0cdb63bfd39d87", "float16/24/0.3": "d49f3b253b32a067",
    "float16/160/None": "85675343b262041f", "float16/160/0.3": "45de2564bd0fb8ec",
    "float16/1792/None": "af3acffa0d40c599", "float16/1792/0.3": "6d2ed7bc3d8e99b1",
    "bfloat16/1/None": "ea32b97f5c5a83c1", "bfloat16/1/0.3": "f9458c21cf949b11",
    "bfloat16/2/None": "3c374434ed68b7f4", "bfloat16/2/0.3": "95c5c5523b3a0291",
    "bfloat16/64/None": "ec1e64824928b449", "bfloat16/64/0.3": "8d6a5ebe34227953",
    "bfloat16/1024/None": "18ecafd4588444cc", "bfloat16/1024/0.3": "66ddc6aa4ffae513",
    "bfloat16/12/None": "ffff23be2d93cb0f", "bfloat16/12/0.3": "a70896bc3c115bd4",
    "bfloat16/24/None": "a60f3d2c65018acf", "bfloat16/24/0.3": "01a3ae027a3f0feb",
    "bfloat16/160/None": "4e14b41daa855d6b", "bfloat16/160/0.3": "e21dda5e56df0b93",
    "bfloat16/1792/None": "fdd7fee613094cf2", "bfloat16/1792/0.3": "bf42cfe6a3aa97d0",
}  # fmt: skip
# Same for float32 integer inputs with scale 1 (exact): the orders-12/20/28 matrices and
# the Kronecker order.
_HAD_F32 = {
    48: "b24c3903e2a474d4", 40: "6718a30283de425e", 224: "5fb55d4a28baa429",
    12: "9ebea7e2dd3103a1", 20: "f59884f7b3bf20de", 28: "c93a7c17dc8ee9c5",
}  # fmt: skip


def crafted(rows, n):
    k = np.arange(rows * n, dtype=np.int64)
    return (((k * 37 + 11) % 1009 - 504).astype(np.float32) / np.float32(97)).reshape(rows, n)


def digest(a) -> str:
    return hashlib.sha256(np.ascontiguousarray(np.array(a)).tobytes()).hexdigest()[:16]


def hadamard_matrix(n):
    m = next(m for m in (1, 12, 20, 28) if n % m == 0 and (n // m) & (n // m - 1) == 0)
    h = np.ones((1, 1))
    while h.shape[0] < n // m:
        h = np.block([[h, h], [h, -h]])
    if m == 1:
        return h
    hm = np.array(mx.hadamard_transform(mx.eye(m), 1.0)).T
    assert np.allclose(hm @ hm.T, m * np.eye(m)) and set(np.unique(hm)) == {-1.0, 1.0}
    return np.kron(hm, h)


def test_hadamard_bit_exact_with_mlx():
    for key, want in _HAD_HALF.items():
        d, n, sc = key.split("/")
        x = mx.array(crafted(5, int(n))).astype(getattr(mx, d))
        y = mx.hadamard_transform(x, None if sc == "None" else float(sc))
        assert y.dtype == x.dtype and digest(y) == want, key
    for n, want in _HAD_F32.items():
        k = np.arange(3 * n, dtype=np.int64)
        x = mx.array((((k * 37 + 11) % 19) - 9).astype(np.float32).reshape(3, n))
        assert digest(mx.hadamard_transform(x, 1.0)) == want, n


@settings(max_examples=25, deadline=None)
@given(
    n=st.sampled_from([1, 2, 4, 16, 64, 128, 512, 12, 24, 20, 80, 28, 56, 2048]),
    lead=st.sampled_from([(), (3,), (2, 2)]),
    scale=st.sampled_from([None, 0.5, -2.0]),
    seed=st.integers(0, 2**16),
)
def test_hadamard_matches_numpy(n, lead, scale, seed):
    x = np.random.default_rng(seed).standard_normal((*lead, n)).astype(np.float32)
    s = 1 / np.sqrt(n) if scale is None else scale
    out = mx.hadamard_transform(mx.array(x), scale)
    check(out, (x @ hadamard_matrix(n).T) * s, dtype=mx.float32, atol=2e-5 * np.sqrt(n), rtol=1e-5)


def test_hadamard_sizes_dtypes_errors_as_mlx():
    ok = [n for n in range(1, 130) if _accepts(n)]
    assert ok == [1, 2, 4, 8, 12, 16, 20, 24, 28, 32, 40, 48, 56, 64, 80, 96, 112, 128]
    x = mx.array([1.0, 2.0, 3.0, 4.0])
    check(mx.hadamard_transform(x), [5.0, -1.0, -2.0, 0.0])  # default scale 1/sqrt(n)
    check(mx.hadamard_transform(x, 1.0), [10.0, -2.0, -4.0, 0.0])
    check(mx.hadamard_transform(x, scale=mx.array(2.0)), [20.0, -4.0, -8.0, 0.0])
    check(mx.hadamard_transform(mx.array([1.0, 2.0]), -0.5), [-1.5, 0.5])
    for d in (mx.int32, mx.int8, mx.uint8, mx.uint32, mx.int64):
        check(mx.hadamard_transform(x.astype(d), 1.0), [10.0, -2.0, -4.0, 0.0], dtype=mx.float32)
    check(mx.hadamard_transform(mx.array([True, False, True, True]), 1.0), [3, 1, -1, 1],
          dtype=mx.float32)  # fmt: skip
    check(mx.hadamard_transform(mx.array([1 + 2j, 3 + 0j]), 1.0), [4, -2], dtype=mx.float32)
    for d in (mx.float16, mx.bfloat16, mx.float64):  # float64: MLX fails when it evaluates
        assert mx.hadamard_transform(x.astype(d)).dtype == d
    check(mx.hadamard_transform(mx.array(2.0), 3.0), 6.0)  # 0-d: n = 1
    assert mx.hadamard_transform(mx.ones((2, 3, 8))).shape == (2, 3, 8)
    for bad in (mx.ones((0, 8)), mx.ones((3, 0))):
        with pytest.raises(ValueError, match="empty"):
            mx.hadamard_transform(bad)
    for n in (3, 6, 36, 44, 60):  # MLX accepts 36 and 60 and computes no Hadamard transform
        with pytest.raises(ValueError, match=r"m\*2\^k"):
            mx.hadamard_transform(mx.ones((2, n)))
    for bad in ([1.0, 2.0], 1.0):
        with pytest.raises(TypeError):
            mx.hadamard_transform(bad)


def _accepts(n: int) -> bool:
    try:
        mx.hadamard_transform(mx.ones((n,)))
        return True
    except ValueError:
        return False


@pytest.mark.parametrize("n", [16, 12, 20, 40, 28])
def test_hadamard_transforms(n):
    """vjp: scale * H.T @ c. MLX applies H itself, which differs for factors 20 and 28."""
    x, W, T = randn(3, n), randn(3, n), randn(3, n)
    H = hadamard_matrix(n)
    g = mx.grad(lambda v: (mx.hadamard_transform(v, 0.7) * mx.array(W)).sum())(mx.array(x))
    check(g, 0.7 * W @ H, atol=1e-4, rtol=1e-4)
    _, (t,) = mx.jvp(lambda v: mx.hadamard_transform(v, 0.7), [mx.array(x)], [mx.array(T)])
    check(t, 0.7 * T @ H.T, atol=1e-4, rtol=1e-4)
    X = randn(3, 4, n)
    for ax in (0, 1, 2):
        xs = np.moveaxis(X, 0, ax)
        out = mx.vmap(lambda v: mx.hadamard_transform(v, 0.7), in_axes=ax)(mx.array(xs))
        check(out, 0.7 * X @ H.T, atol=1e-4, rtol=1e-4)


# -- live comparison with the oracle (where MLX is installed) -----------------------------------------


def _outcome(lib, f):
    """The arrays ``f(lib)`` evaluates to, or the exception it raises (at call or eval)."""
    try:
        r = f(lib)
        lib.eval(r)
        return r
    except Exception as e:  # noqa: BLE001 - compared by type
        return e


_A, _B = randn(3, 4, 5), randn(2, 5, 6)
_M, _K = randn(40, 70), randn(70, 50)
_MASKS = [RNG.random((2, 2)) > 0.3, randn(2, 3), randn(3, 2), RNG.random((2, 3)) > 0.5]
_X, _W = randn(4, 10), randn(10, 3)


def _i(lib, v, d=None):
    return lib.array(np.asarray(v)) if d is None else lib.array(np.asarray(v)).astype(d(lib))


_LIVE = {  # each runs on umx and on MLX: same exception type, or same dtype / shape / values
    "gmm both": lambda m: m.gather_mm(_i(m, _A), _i(m, _B), _i(m, [[0], [2]]), _i(m, [1, 0])),
    "gmm rhs": lambda m: m.gather_mm(_i(m, _A), _i(m, _B), None, _i(m, [0, 1, 1])),
    "gmm lhs bad": lambda m: m.gather_mm(_i(m, _A), _i(m, _B), _i(m, [0, 2, 1]), None),
    "gmm scalar idx": lambda m: m.gather_mm(_i(m, _A), _i(m, _B), _i(m, 1), _i(m, 0)),
    "gmm vec a": lambda m: m.gather_mm(_i(m, _A[0, 0]), _i(m, _B), None, _i(m, [[0, 1]])),
    "gmm vec b": lambda m: m.gather_mm(_i(m, _A), _i(m, _B[0, :, 0]), _i(m, [0, 1]), None),
    "gmm float idx": lambda m: m.gather_mm(_i(m, _A), _i(m, _B), _i(m, [0.0]), _i(m, [0])),
    "gmm int": lambda m: m.gather_mm(_i(m, _A, lambda l: l.int32), _i(m, _B, lambda l: l.int32),
                                     _i(m, [0]), _i(m, [0])),  # fmt: skip
    "gmm int no idx": lambda m: m.gather_mm(_i(m, _A, lambda l: l.int32), _i(m, _B)),
    "gmm 0d": lambda m: m.gather_mm(_i(m, 1.0), _i(m, _B), _i(m, [0]), _i(m, [0])),
    "gmm K": lambda m: m.gather_mm(_i(m, _A), _i(m, _B[:, :4]), _i(m, [0]), _i(m, [0])),
    "bmm float": lambda m: m.block_masked_mm(_i(m, _M), _i(m, _K), 32, *[_i(m, x) for x in _MASKS[:3]]),
    "bmm bool": lambda m: m.block_masked_mm(_i(m, _M), _i(m, _K), 32, _i(m, _MASKS[0]), _i(m, _MASKS[3])),
    "bmm 64": lambda m: m.block_masked_mm(_i(m, _M), _i(m, _K), 64, _i(m, [[0.5]])),
    "bmm bs16": lambda m: m.block_masked_mm(_i(m, _M), _i(m, _K), 16, _i(m, _MASKS[0])),
    "bmm vec a": lambda m: m.block_masked_mm(_i(m, _M[0]), _i(m, _K), 32, _i(m, [True, False])),
    "bmm vec a bad": lambda m: m.block_masked_mm(_i(m, _M[0]), _i(m, _K), 32, _i(m, [[True, False]])),
    "bmm vec a scalar": lambda m: m.block_masked_mm(_i(m, _M[0]), _i(m, _K), 32, _i(m, True)),
    "bmm mask shape": lambda m: m.block_masked_mm(_i(m, _M), _i(m, _K), 32, _i(m, _MASKS[1])),
    "bmm int": lambda m: m.block_masked_mm(_i(m, _M, lambda l: l.int32), _i(m, _K, lambda l: l.int32),
                                           32, _i(m, _MASKS[0])),  # fmt: skip
    "smm": lambda m: m.segmented_mm(_i(m, _X), _i(m, _W), _i(m, [[0, 3], [3, 10], [5, 2], [4, 4]])),
    "smm 3d seg": lambda m: m.segmented_mm(_i(m, _X), _i(m, _W), _i(m, [[[0, 3]], [[2, 9]]])),
    "smm f16": lambda m: m.segmented_mm(_i(m, _X, lambda l: l.float16), _i(m, _W, lambda l: l.float16),
                                        _i(m, [[0, 10]])),  # fmt: skip
    "smm bad seg": lambda m: m.segmented_mm(_i(m, _X), _i(m, _W), _i(m, [0, 3, 10])),
    "smm batched": lambda m: m.segmented_mm(_i(m, _A), _i(m, _W), _i(m, [[0, 3]])),
    "gmm idx dtypes": lambda m: m.gather_mm(_i(m, _A), _i(m, _B), _i(m, [2], lambda l: l.int8),
                                            _i(m, [1], lambda l: l.uint64)),  # fmt: skip
    "gmm f16 x f32": lambda m: m.gather_mm(_i(m, _A, lambda l: l.float16), _i(m, _B), _i(m, [0]),
                                           _i(m, [1])),  # fmt: skip
    "bmm batched": lambda m: m.block_masked_mm(_i(m, _A.repeat(10, -2).repeat(8, -1)),
                                               _i(m, _B.repeat(8, -2).repeat(9, -1)[:1]), 32,
                                               _i(m, np.ones((2, 2))), _i(m, [[1, 0.5]])),  # fmt: skip
    "bmm int mask": lambda m: m.block_masked_mm(_i(m, _M), _i(m, _K), 32, None,
                                                _i(m, [[2, 0, -1], [1, 1, 3]])),  # fmt: skip
    "bmm mask (1,1)": lambda m: m.block_masked_mm(_i(m, _M), _i(m, _K), 32, None, None,
                                                  _i(m, [[False]])),  # fmt: skip
    # (full segments only: MLX 0.32.4's float16 path gets partial segments of a wrong)
    "smm int x f16": lambda m: m.segmented_mm(
        _i(m, [[1, 2], [3, 4]]), _i(m, _W[:2], lambda l: l.float16), _i(m, [[0, 2], [0, 2]])
    ),
    "had 0d": lambda m: m.hadamard_transform(_i(m, 3.0), 0.5),
    "had bool": lambda m: m.hadamard_transform(_i(m, [[True, False, True, True]])),
    "had complex": lambda m: m.hadamard_transform(_i(m, [1 + 2j, 3 + 0j])),
    "had f16 20": lambda m: m.hadamard_transform(_i(m, crafted(4, 80), lambda l: l.float16)),
    "had 64": lambda m: m.hadamard_transform(_i(m, crafted(3, 64))),
    "had 28*4": lambda m: m.hadamard_transform(_i(m, crafted(3, 112)), 0.25),
    "had int": lambda m: m.hadamard_transform(_i(m, [[1, 2, 3, 4]])),
    "had bf16": lambda m: m.hadamard_transform(_i(m, crafted(2, 1024), lambda l: l.bfloat16)),
    "had 6": lambda m: m.hadamard_transform(_i(m, np.ones((2, 6)))),
    "had empty": lambda m: m.hadamard_transform(_i(m, np.ones((0, 8)))),
    "qqmm bad mode": lambda m: m.qqmm(_i(m, _M[:4, :64]), _i(m, _K[:32, :64]), mode="foo"),
    "qqmm K": lambda m: m.qqmm(_i(m, _M[:4, :64]), _i(m, _K[:32, :48])),
    "qqmm int": lambda m: m.qqmm(_i(m, _M[:4, :64], lambda l: l.int32), _i(m, _K[:32, :64])),
    "qqmm 3d w": lambda m: m.qqmm(_i(m, _M[:4, :64]), _i(m, np.ones((2, 32, 64)))),
    "qqmm one gs": lambda m: m.qqmm(_i(m, _M[:4, :64]), _i(m, _K[:32, :64]), global_scale_w=_i(m, np.float32(1))),
    "gqq 1d": lambda m: m.gather_qqmm(_i(m, _M[0, :64]), _i(m, np.ones((3, 32, 64))), None, _i(m, [0]),
                                      _i(m, [0])),  # fmt: skip
}  # fmt: skip


@needs_mlx
@pytest.mark.parametrize("name", sorted(_LIVE))
def test_same_outcome_as_mlx(name):
    f = _LIVE[name]
    compare_outcomes(_outcome(mx, f), _outcome(mlx, f), atol=1e-4)


@needs_mlx
def test_same_gradients_as_mlx():
    """Where MLX's gradients are right (a, b; lhs / rhs masks; power-of-two and 12-point
    Hadamard transforms), umx's equal them."""
    Wb, Wh = randn(40, 50), randn(3, 24)
    specs = [
        (lambda m, a, b: (m.gather_mm(a, b, _i(m, [[0], [2], [0]]), _i(m, [1, 0])) ** 2).sum(),
         [_A, _B]),
        (lambda m, a, b, l, r: (m.block_masked_mm(a, b, 32, _i(m, _MASKS[0]), l, r) * _i(m, Wb)).sum(),
         [_M, _K, _MASKS[1], _MASKS[2]]),
        (lambda m, x: (m.hadamard_transform(x, 0.3) * _i(m, Wh)).sum(), [randn(3, 24)]),
    ]  # fmt: skip
    for f, vals in specs:
        argnums = tuple(range(len(vals))) if len(vals) > 1 else 0
        got = mx.grad(lambda *a, f=f: f(mx, *a), argnums=argnums)(*[mx.array(v) for v in vals])
        exp = mlx.grad(lambda *a, f=f: f(mlx, *a), argnums=argnums)(*[mlx.array(v) for v in vals])
        compare_outcomes(got, exp, atol=1e-3)
    # jvp / vmap of gather_mm and segmented_mm, which MLX does not implement, raise there.
    with pytest.raises(ValueError):
        mlx.vmap(lambda s: mlx.segmented_mm(mlx.array(_X), mlx.array(_W), s))(mlx.array([[[0, 3]]]))


# -- GPU against CPU --------------------------------------------------------------------------------


@pytest.mark.gpu
def test_gpu_matches_cpu():
    def both(f, atol=1e-4):
        c, g = f(mx.cpu), f(mx.gpu)
        assert c.dtype == g.dtype and c.shape == g.shape
        np.testing.assert_allclose(np.array(g.astype(mx.float32)), np.array(c.astype(mx.float32)),
                                   atol=atol, rtol=atol)  # fmt: skip

    a, b = mx.array(randn(3, 4, 64)), mx.array(randn(5, 64, 96))
    li, ri = mx.array([[0], [2]]), mx.array([4, 1, 0])
    both(lambda s: mx.gather_mm(a, b, li, ri, stream=s))
    x, w = mx.array(randn(256, 1, 64)), mx.array(randn(4, 64, 128))
    r = mx.array(RNG.integers(0, 4, 256))
    both(lambda s: mx.gather_mm(x, w, None, r, stream=s))  # the grouped kernel
    both(lambda s: mx.gather_mm(x.astype(mx.float16), w.astype(mx.float16), None, r, stream=s),
         atol=2e-2)  # fmt: skip
    A, B = mx.array(randn(2, 100, 70)), mx.array(randn(70, 90))
    masks = (mx.array(RNG.random((4, 3)) > 0.3), mx.array(randn(2, 4, 3)), mx.array(randn(3, 3)))
    both(lambda s: mx.block_masked_mm(A, B, 32, *masks, stream=s))
    seg = mx.array([[0, 30], [30, 70], [10, 50], [5, 5]])
    both(lambda s: mx.segmented_mm(A[0], B, seg, stream=s))
    big, tall = mx.array(randn(64, 4000)), mx.array(randn(4000, 64))  # the same on both
    spans = mx.array([[0, 3000], [1000, 4000]])
    both(lambda s: mx.segmented_mm(big, tall, spans, stream=s), atol=1e-3)
    for n in (1, 64, 1024, 4096, 12, 160, 28 * 64):
        h = mx.array(randn(8, n))
        both(lambda s, h=h: mx.hadamard_transform(h, stream=s))
        both(lambda s, h=h: mx.hadamard_transform(h.astype(mx.float16), 0.5, stream=s), atol=2e-3)
    q, v = mx.array(randn(8, 64)), mx.array(randn(32, 64))
    for mode in ("nvfp4", "mxfp8", "mxfp4"):
        both(lambda s, mode=mode: mx.qqmm(q, v, mode=mode, stream=s))
    g1, g2 = mx.array(np.float32(4.0)), mx.array(np.float32(2.0))
    both(lambda s: mx.qqmm(q, v, global_scale_x=g1, global_scale_w=g2, stream=s))
    X, W = mx.array(randn(3, 4, 64)), mx.array(randn(5, 32, 64))
    both(lambda s: mx.gather_qqmm(X, W, None, li, ri, stream=s))


@pytest.mark.gpu
def test_gpu_gradients_match_cpu():
    a, b = mx.array(randn(3, 4, 5)), mx.array(randn(2, 5, 6))
    li, ri = mx.array([[0], [2]]), mx.array([1, 0, 1])
    h = mx.array(randn(2, 20))
    M, K = mx.array(randn(40, 70)), mx.array(randn(70, 50))
    ml, seg = mx.array(randn(2, 3)), mx.array([[0, 30], [20, 70]])
    got = []
    for s in (mx.cpu, mx.gpu):
        with mx.stream(s):
            g = mx.grad(lambda x, y: (mx.gather_mm(x, y, li, ri) ** 2).sum(), argnums=(0, 1))(a, b)
            gh = mx.grad(lambda x: (mx.hadamard_transform(x) ** 3).sum())(h)
            gm = mx.grad(lambda x, m: (mx.block_masked_mm(x, K, 32, None, m) ** 2).sum(),
                         argnums=(0, 1))(M, ml)  # fmt: skip
            gs = mx.grad(lambda x: (mx.segmented_mm(x, K, seg) ** 2).sum())(M)
            got.append([np.array(v) for v in (*g, gh, *gm, gs)])
    for c, g in zip(*got):
        np.testing.assert_allclose(g, c, rtol=1e-3, atol=1e-3)
