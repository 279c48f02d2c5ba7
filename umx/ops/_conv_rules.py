"""Transform rules of the convolution primitives (vjp, jvp, vmap).

Written with Convolution nodes and shape ops, so they are lazy and differentiate again.
Installed on the primitives by ``umx/ops/conv.py`` when it loads.
"""

from __future__ import annotations

import umx as mx  # the package, for the ops the rules are written with

from .._array import node
from .._device import resolve_stream
from .._rules import move_to_front
from .conv import Convolution, ConvWeightGrad, _ConvGeometry


def _apply(prim: Convolution, x, w):
    shape = (x.shape[0], *prim.out, w.shape[0])
    return node(prim, (x, w), shape, x.dtype, resolve_stream(None))


def _input_cotangent(p: Convolution, x, w, gy):
    """The transposed convolution: the cotangent dilated by the stride, read with the
    weight reversed and its channels swapped, at the input's positions."""
    nd = x.ndim - 2
    g = p.groups
    kern = w.shape[1:-1]
    o, cg = w.shape[0], w.shape[-1]
    wt = mx.reshape(w, (g, o // g, *kern, cg))
    wt = mx.swapaxes(wt, 1, -1)  # (G, C_in/G, *kernel, C_out/G)
    wt = mx.reshape(wt, (g * cg, *kern, o // g))
    span = [(k - 1) * kd + 1 for k, kd in zip(kern, p.kdil)]
    prim = Convolution(
        p.idil,
        [sp - 1 - lo for sp, lo in zip(span, p.lo)],
        x.shape[1 : 1 + nd],
        p.kdil,
        p.stride,
        g,
        not p.flip,
    )
    return _apply(prim, gy, wt)


def _weight_cotangent(p: _ConvGeometry, x, w, gy):
    return node(ConvWeightGrad(p.geometry(), w.shape[1:-1]), (x, gy), w.shape, x.dtype,
                resolve_stream(None))  # fmt: skip


def _conv_vjp(self, primals, cotangents, argnums, outputs):
    x, w = primals
    gy = cotangents[0]
    return [
        _input_cotangent(self, x, w, gy) if k == 0 else _weight_cotangent(self, x, w, gy)
        for k in argnums
    ]


def _conv_jvp(self, primals, tangents, argnums):
    x, w = primals
    t = [None, None]
    for k, v in zip(argnums, tangents):
        t[k] = v
    out = None
    if t[0] is not None:
        out = _apply(self, t[0], w)
    if t[1] is not None:
        y = _apply(self, x, t[1])
        out = y if out is None else mx.add(out, y)
    return [out]


def _with_groups(p: _ConvGeometry, groups: int) -> tuple:
    return (p.stride, p.lo, p.out, p.kdil, p.idil, groups, p.flip)


def _conv_vmap(self, inputs, axes):
    x, w = inputs
    ax, aw = axes
    g = self.groups
    if aw is None:  # the batch joins the samples
        x = move_to_front(x, ax)
        b, n = x.shape[0], x.shape[1]
        y = _apply(self, mx.reshape(x, (b * n, *x.shape[2:])), w)
        return [mx.reshape(y, (b, n, *y.shape[1:]))], [0]
    w = move_to_front(w, aw)
    b, o = w.shape[0], w.shape[1]
    kern, cg = w.shape[2:-1], w.shape[-1]
    if ax is None:  # the batch joins the output channels, inside each group
        wg = mx.reshape(w, (b, g, o // g, *kern, cg))
        wg = mx.reshape(mx.swapaxes(wg, 0, 1), (b * o, *kern, cg))
        y = _apply(self, x, wg)
        y = mx.reshape(y, (*y.shape[:-1], g, b, o // g))
        y = mx.moveaxis(y, -2, 0)  # (B, N, *out, G, C_out/G)
        return [mx.reshape(y, (*y.shape[:-2], o))], [0]
    # Both batched: each batch entry is its own block of groups.
    x = move_to_front(x, ax)
    xb = mx.moveaxis(x, 0, -2)  # (N, *spatial, B, C_in)
    xb = mx.reshape(xb, (*xb.shape[:-2], b * xb.shape[-1]))
    wb = mx.reshape(w, (b * o, *kern, cg))
    y = _apply(Convolution(*_with_groups(self, b * g)), xb, wb)
    y = mx.reshape(y, (*y.shape[:-1], b, o))
    return [mx.moveaxis(y, -2, 0)], [0]


Convolution.vjp = _conv_vjp
Convolution.jvp = _conv_jvp
Convolution.vmap = _conv_vmap


# ConvWeightGrad is bilinear in (x, gy): <gw, cw> = <gy, conv(x, cw)>.


def _wgrad_vjp(self, primals, cotangents, argnums, outputs):
    x, gy = primals
    cw = cotangents[0]
    conv = Convolution(*self.geometry())
    return [_input_cotangent(conv, x, cw, gy) if k == 0 else _apply(conv, x, cw) for k in argnums]


def _wgrad_jvp(self, primals, tangents, argnums):
    x, gy = primals
    t = [None, None]
    for k, v in zip(argnums, tangents):
        t[k] = v
    shape = (gy.shape[-1], *self.kern, x.shape[-1] // self.groups)
    terms = [
        node(self, (a, b), shape, x.dtype, resolve_stream(None))
        for a, b, on in ((t[0], gy, t[0] is not None), (x, t[1], t[1] is not None))
        if on
    ]
    return [terms[0] if len(terms) == 1 else mx.add(*terms)]


def _wgrad_vmap(self, inputs, axes):
    x, gy = inputs
    ax, ag = axes
    g, kern = self.groups, self.kern
    gy = move_to_front(gy, ag)
    if ax is None:  # a shared input: the batch joins the output channels, inside each group
        b, n, o = gy.shape[0], gy.shape[1], gy.shape[-1]
        gyb = mx.reshape(gy, (b, *gy.shape[1:-1], g, o // g))
        gyb = mx.reshape(mx.moveaxis(gyb, 0, -2), (n, *self.out, g * b * (o // g)))
        cg = x.shape[-1] // g
        gw = node(self, (x, gyb), (b * o, *kern, cg), x.dtype, resolve_stream(None))
        gw = mx.swapaxes(mx.reshape(gw, (g, b, o // g, *kern, cg)), 0, 1)
        return [mx.reshape(gw, (b, o, *kern, cg))], [0]
    x = move_to_front(x, ax)
    b = x.shape[0]
    if ag is None:  # a shared cotangent: each batch entry reads it (its own block of groups)
        gy = mx.broadcast_to(gy, (b, *gy.shape))
    o, cg = gy.shape[-1], x.shape[-1] // g
    xb = mx.moveaxis(x, 0, -2)  # (N, *spatial, B, C_in)
    xb = mx.reshape(xb, (*xb.shape[:-2], b * x.shape[-1]))
    gyb = mx.moveaxis(gy, 0, -2)
    gyb = mx.reshape(gyb, (*gyb.shape[:-2], b * o))
    prim = ConvWeightGrad(_with_groups(self, b * g), kern)
    gw = node(prim, (xb, gyb), (b * o, *kern, cg), x.dtype, resolve_stream(None))
    return [mx.reshape(gw, (b, o, *kern, cg))], [0]


ConvWeightGrad.vjp = _wgrad_vjp
ConvWeightGrad.jvp = _wgrad_jvp
ConvWeightGrad.vmap = _wgrad_vmap
