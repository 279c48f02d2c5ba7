"""Building blocks for primitives' transform rules (vjp, jvp, vmap).

Rules are written with umx ops so that their results are lazy graphs (higher derivatives
and transforms of transforms work). Import ops lazily: the op modules import this one.
"""

from __future__ import annotations


def zero_vjp(self, primals, cotangents, argnums, outputs):
    """The declared gradient of a piecewise-constant or integer-valued op: zeros (as MLX)."""
    from .ops.creation import zeros_like

    return [zeros_like(primals[k]) for k in argnums]


def zero_jvp(self, primals, tangents, argnums):
    """Zero tangents for every output (the engine reads None as zero)."""
    return None


def vmap_by_loop(self, inputs, axes):
    """Declared vmap of a primitive with no batched kernel: the engine loops over the batch."""
    raise NotImplementedError


def tangents_by_input(primals, tangents, argnums) -> list:
    """A jvp's ``tangents`` placed by input position (None for inputs without one)."""
    t = [None] * len(primals)
    for k, v in zip(argnums, tangents):
        t[k] = v
    return t


def sum_terms(terms):
    """The sum of the terms that are not None (None when all are: a zero tangent)."""
    from .ops.binary import add

    out = None
    for t in terms:
        if t is not None:
            out = t if out is None else add(out, t)
    return out


def unbroadcast(g, shape: tuple):
    """Sum ``g`` down to ``shape`` (the reverse of broadcasting)."""
    from .ops.reduce import sum as _sum
    from .ops.shape import reshape

    if tuple(g.shape) == tuple(shape):
        return g
    extra = g.ndim - len(shape)
    axes = list(range(extra))
    for i, s in enumerate(shape):
        if s == 1 and g.shape[extra + i] != 1:
            axes.append(extra + i)
    if axes:
        g = _sum(g, axis=axes, keepdims=True)
    return reshape(g, shape)


def move_to_front(x, ax):
    """``x`` with its batch axis ``ax`` first (None: unchanged)."""
    from .ops.shape import moveaxis

    if ax is None or ax == 0:
        return x
    return moveaxis(x, ax, 0)


def align_batched(inputs, axes):
    """Elementwise vmap: put each batched input's axis first, and give unbatched inputs
    room so that broadcasting lines the batch dimension up."""
    from .ops.shape import expand_dims

    nd = max(x.ndim - (a is not None) for x, a in zip(inputs, axes))
    out = []
    for x, a in zip(inputs, axes):
        if a is None:
            out.append(x)
            continue
        x = move_to_front(x, a)
        missing = nd - (x.ndim - 1)
        if missing:
            x = expand_dims(x, tuple(range(1, 1 + missing)))
        out.append(x)
    return out
