"""Shared checks for the transform-rule tests: vjp against central finite differences,
jvp against vjp, vmap against a loop over the mapped axis. Everything in float64."""

from __future__ import annotations

import numpy as np

import umx as mx


def f64(x) -> mx.array:
    return mx.array(np.asarray(x, dtype=np.float64), mx.float64)


def _np(x) -> np.ndarray:
    return np.array(x).astype(np.float64)


def _outs(f, args):
    out = f(*args)
    return list(out) if isinstance(out, (list, tuple)) else [out]


def check_grad(f, args, argnums=None, rng=None, eps=1e-6, rtol=1e-5, atol=1e-6):
    """vjp of ``f`` (returning an array or a list of arrays) w.r.t. the float64 ``args``
    listed in ``argnums`` against central differences of ``<f(x), c>``; and the jvp
    against the vjp (``<J t, c> == <t, J^T c>``)."""
    rng = rng or np.random.default_rng(0)
    argnums = list(range(len(args))) if argnums is None else list(argnums)
    outs = _outs(f, args)
    cots = [f64(rng.standard_normal(o.shape)) for o in outs]

    def g(*diff):
        full = list(args)
        for k, d in zip(argnums, diff):
            full[k] = d
        return f(*full)

    diff = [args[k] for k in argnums]
    _, vjps = mx.vjp(g, diff, cots)
    cn = [_np(c) for c in cots]

    def dot(xs):
        res = _outs(g, xs)
        return sum(float(np.sum(_np(o) * c)) for o, c in zip(res, cn))

    for i, k in enumerate(argnums):
        x = _np(args[k])
        fd = np.zeros_like(x)
        for idx in np.ndindex(x.shape):
            xp_, xm_ = x.copy(), x.copy()
            xp_[idx] += eps
            xm_[idx] -= eps
            plus = list(diff)
            plus[i] = f64(xp_)
            minus = list(diff)
            minus[i] = f64(xm_)
            fd[idx] = (dot(plus) - dot(minus)) / (2 * eps)
        got = np.array(vjps[i])
        assert got.shape == x.shape, (got.shape, x.shape)
        assert np.array(vjps[i]).dtype == np.float64
        np.testing.assert_allclose(got, fd, rtol=rtol, atol=atol, err_msg=f"vjp of argument {k}")
    tans = [f64(rng.standard_normal(args[k].shape)) for k in argnums]
    _, jvps = mx.jvp(g, diff, tans)
    lhs = sum(float(np.sum(_np(j) * c)) for j, c in zip(jvps, cn))
    rhs = sum(float(np.sum(_np(t) * _np(v))) for t, v in zip(tans, vjps))
    np.testing.assert_allclose(lhs, rhs, rtol=1e-7, atol=1e-9, err_msg="jvp vs vjp")


def check_vmap(f, args, in_axes, out_axes=0):
    """``vmap(f)`` against stacking ``f`` over the slices of the mapped axes."""
    got = mx.vmap(f, in_axes=in_axes, out_axes=out_axes)(*args)
    axes = in_axes if isinstance(in_axes, (list, tuple)) else [in_axes] * len(args)
    n = next(a.shape[ax] for a, ax in zip(args, axes) if ax is not None)
    per = []
    for b in range(n):
        sl = [a if ax is None else mx.take(a, b, axis=ax) for a, ax in zip(args, axes)]
        per.append(_outs(f, sl))
    gots = got if isinstance(got, (list, tuple)) else [got]
    for k, g in enumerate(gots):
        exp = np.stack([np.array(p[k]) for p in per], axis=out_axes)
        assert tuple(g.shape) == exp.shape, (g.shape, exp.shape)
        np.testing.assert_allclose(np.array(g), exp, rtol=1e-6, atol=1e-6)
