"""Transform rules of sorting and selection (umx/ops/sort.py): values follow their
permutation (vjp/jvp vs finite differences), index outputs get zero gradients, vmap vs
loops, and MLX's conventions for ties."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import umx as mx
from tests._grad_ils import check_grad, check_vmap, f64
from tests.helpers import mlx, needs_mlx

_r = np.random.default_rng(2)


def R(*s):  # noqa: N802
    return f64(_r.standard_normal(s))


@given(st.sampled_from([0, 1, -1, None]), st.integers(1, 4), st.integers(1, 4))
def test_sort_grad(axis, n, m):
    check_grad(lambda x: mx.sort(x, axis=axis), [R(n, m)])


@pytest.mark.parametrize(
    "fn",
    [lambda x: mx.partition(x, 2, axis=1), lambda x: mx.partition(x, 0, axis=None),
     lambda x: mx.topk(x, 2, axis=1), lambda x: mx.topk(x, 5, axis=1),
     lambda x: mx.topk(x, 3, axis=None), lambda x: mx.topk(x, 1, axis=0)],
)  # fmt: skip
def test_selection_grads(fn):
    check_grad(fn, [R(3, 5)])


def test_sort_second_derivative():
    f = lambda x: mx.sum(mx.sort(x, axis=0) * mx.sin(x))  # noqa: E731
    check_grad(lambda x: mx.grad(f)(x), [R(4, 3)])


@pytest.mark.parametrize(
    "fn",
    [lambda x: mx.argsort(x), lambda x: mx.argpartition(x, 1),
     lambda x: mx.searchsorted(mx.sort(x), x), lambda x: mx.unique(x, 3)],
)  # fmt: skip
def test_index_outputs_have_zero_gradient(fn):
    x = R(4)
    out = fn(x)
    _, (g,) = mx.vjp(fn, [x], [mx.ones_like(out)])
    assert np.array(g).tolist() == [0.0] * 4
    _, (t,) = mx.jvp(fn, [x], [mx.ones_like(x)])
    assert not np.array(t).any()


@pytest.mark.parametrize(
    "fn,args,axes",
    [
        (lambda x: mx.sort(x, axis=0), [(4, 5, 3)], 1),
        (lambda x: mx.sort(x, axis=None), [(4, 5, 3)], 2),
        (lambda x: mx.argsort(x, axis=-1), [(4, 5, 3)], 2),
        (lambda x: mx.argsort(x, axis=None), [(4, 5, 3)], 0),
        (lambda x: mx.topk(x, 2), [(4, 5, 3)], 1),
        (lambda x: mx.topk(x, 2, axis=None), [(4, 5, 3)], 1),
        (lambda x: mx.partition(x, 1, axis=0), [(4, 5, 3)], 1),
        (lambda x: mx.argpartition(x, 1, axis=0), [(4, 5, 3)], 1),
        (lambda s, v: mx.searchsorted(s, v), ["seq", (4, 3)], (None, 1)),
        (lambda s, v: mx.searchsorted(s, v), ["seqs", (4, 3)], (0, 1)),
        (lambda x: mx.unique(mx.round(x), 3), [(4, 5)], 0),
    ],
)
def test_sort_vmap(fn, args, axes):
    arrs = []
    for a in args:
        if a == "seq":
            arrs.append(f64(np.arange(5.0) - 2))
        elif a == "seqs":
            arrs.append(f64(np.sort(_r.standard_normal((3, 5)))))
        else:
            arrs.append(R(*a))
    check_vmap(fn, arrs, axes)


@needs_mlx
def test_ties_follow_mlx():
    x = np.array([3.0, 1.0, 3.0, 2.0], np.float32)
    c = np.array([1.0, 2.0, 3.0, 4.0], np.float32)
    for fn, cot in ((lambda m, a: m.sort(a), c), (lambda m, a: m.topk(a, 2), c[:2])):
        _, (ours,) = mx.vjp(lambda a, fn=fn: fn(mx, a), [mx.array(x)], [mx.array(cot)])
        _, (ref,) = mlx.vjp(lambda a, fn=fn: fn(mlx, a), [mlx.array(x)], [mlx.array(cot)])
        if cot.size == x.size:
            np.testing.assert_array_equal(np.array(ours), np.array(ref))
        else:  # which tied element takes each cotangent is unspecified; the totals agree
            assert np.array(ours).sum() == np.array(ref).sum()
            np.testing.assert_array_equal(np.array(ours)[[1, 3]], np.array(ref)[[1, 3]])
