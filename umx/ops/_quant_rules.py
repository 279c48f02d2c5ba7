"""Transform rules of the quantization primitives (vjp, jvp, vmap), written with umx ops.

What MLX 0.32.4 does, and umx with it: ``quantize`` has zero gradients; ``dequantize`` is
differentiable in its scales and biases (affine) and the nvfp4 global scale, and gives
zeros for the packed codes; ``quantized_matmul`` and ``gather_qmm`` are differentiable in
``x`` (both directions) and in the affine scales and biases, and raise for the packed
weights (RuntimeError in MLX: ``NoWeightGradient`` is both that and ``NotDifferentiable``)
and for the uint8 scales of the fp modes; ``to_fp8`` / ``from_fp8`` raise
``NotDifferentiable``. MLX has no vmap for the matmuls or the fp8 conversions; umx maps
them (the matmuls batch ``x``, and loop over a batched weight).
"""

from __future__ import annotations

from .._primitive import NotDifferentiable
from .._rules import (
    move_to_front,
    sum_terms,
    tangents_by_input,
    unbroadcast,
    vmap_by_loop,
)


def _mx():
    import umx as mx

    return mx


def _codes(p, w, scales):
    """The affine codes of ``w`` as float32 (a dequantization with unit scales)."""
    mx = _mx()
    one = mx.ones(scales.shape, dtype=mx.float32)
    return mx.dequantize(w, one, mx.zeros_like(one), p.group_size, p.bits)


def _group_grads(p, g_w, w, scales, biases_shape, want_s: bool, want_b: bool):
    """Cotangents of the affine scales and biases from that of the dequantized matrix."""
    mx = _mx()
    gs = p.group_size
    grouped = mx.reshape(g_w, (*g_w.shape[:-1], g_w.shape[-1] // gs, gs))
    ds = db = None
    if want_s:
        c = _codes(p, w, scales)
        c = mx.reshape(c, grouped.shape)
        ds = mx.astype(mx.sum(mx.multiply(grouped, c), axis=-1), scales.dtype)
    if want_b:
        db = mx.sum(grouped, axis=-1)
        db = unbroadcast(db, biases_shape)
    return ds, db


def _no_weight(name: str):
    return NoWeightGradient(f"[{name}] no gradient wrt the quantized weights.")


def _no_fp_scales(name: str, mode: str):
    return NotDifferentiable(f"[{name}] no gradient wrt scales in {mode} quantization.")


# -- Dequantize ------------------------------------------------------------------------------


def _dq_slots(p) -> dict:
    """Input positions of a Dequantize: w, scales, and biases / global scale if present."""
    slots = {"w": 0, "s": 1}
    k = 2
    if p.has_biases:
        slots["b"] = k
        k += 1
    if p.has_global:
        slots["g"] = k
    return slots


def _dq_vjp(self, primals, cotangents, argnums, outputs):
    mx = _mx()
    slots = _dq_slots(self)
    w, scales = primals[0], primals[1]
    cot = cotangents[0]
    res = {}
    if self.mode == "affine":
        want_s, want_b = slots["s"] in argnums, slots.get("b") in argnums
        if want_s or want_b:
            ds, db = _group_grads(
                self, mx.astype(cot, mx.float32), w, scales, primals[slots["b"]].shape,
                want_s, want_b,
            )  # fmt: skip
            if ds is not None:
                res[slots["s"]] = ds
            if db is not None:
                res[slots["b"]] = mx.astype(db, primals[slots["b"]].dtype)
    elif "g" in slots and slots["g"] in argnums:  # out is proportional to the global scale
        g = primals[slots["g"]]
        res[slots["g"]] = mx.reshape(mx.divide(mx.sum(mx.multiply(cot, outputs[0])), g), g.shape)
    return [res[k] if k in res else mx.zeros_like(primals[k]) for k in argnums]


def _dq_jvp(self, primals, tangents, argnums):
    mx = _mx()
    slots = _dq_slots(self)
    t = tangents_by_input(primals, tangents, argnums)
    if self.mode == "affine":
        ts, tb = t[slots["s"]], t[slots["b"]]
        if ts is None and tb is None:
            return None
        s, b = primals[slots["s"]], primals[slots["b"]]
        ts = mx.zeros_like(s) if ts is None else ts
        tb = mx.zeros_like(b) if tb is None else tb
        out = mx.dequantize(primals[0], ts, tb, self.group_size, self.bits, dtype=self.out)
        return [out]
    if "g" in slots and t[slots["g"]] is not None:
        g = primals[slots["g"]]
        out = mx.dequantize(*primals, group_size=self.group_size, bits=self.bits,
                            mode=self.mode, global_scale=g)  # fmt: skip
        return [mx.multiply(out, mx.divide(t[slots["g"]], g))]
    return None


def _batched_front(inputs, axes, size: int, which) -> list:
    """The inputs listed in ``which`` with a leading batch axis (moved there, or broadcast)."""
    mx = _mx()
    out = list(inputs)
    for k in which:
        x, a = inputs[k], axes[k]
        out[k] = (
            move_to_front(x, a)
            if a is not None
            else mx.broadcast_to(mx.expand_dims(x, 0), (size, *x.shape))
        )
    return out


def _batch_size(inputs, axes) -> int:
    return next(x.shape[a] for x, a in zip(inputs, axes) if a is not None)


def _dq_vmap(self, inputs, axes):
    slots = _dq_slots(self)
    if "g" in slots and axes[slots["g"]] is not None:
        raise NotImplementedError  # a batched global scale: loop
    n = _batch_size(inputs, axes)
    which = [v for k, v in slots.items() if k != "g"]
    ins = _batched_front(inputs, axes, n, which)
    mx = _mx()
    out = mx.dequantize(
        ins[0], ins[1], ins[slots["b"]] if "b" in slots else None, self.group_size, self.bits,
        self.mode, ins[slots["g"]] if "g" in slots else None, self.out,
    )  # fmt: skip
    return [out], [0]


# -- QuantizedMatmul -------------------------------------------------------------------------


def _qmm_args(p):
    return dict(group_size=p.group_size, bits=p.bits, mode=p.mode)


def _matrix_grad(p, x, cot, wshape):
    """Cotangent of the dequantized weight (of shape ``wshape``) of ``x @ W`` / ``x @ W.T``."""
    mx = _mx()
    if x.ndim == 1:
        x, cot = mx.expand_dims(x, 0), mx.expand_dims(cot, 0)
    if p.transpose:
        g = mx.matmul(mx.swapaxes(cot, -1, -2), x)
    else:
        g = mx.matmul(mx.swapaxes(x, -1, -2), cot)
    g = mx.astype(g, mx.float32)
    if x.ndim <= 2 and len(wshape) > 2:  # only the first matrix of w took part
        rest = 1
        for d in wshape[:-2]:
            rest *= d
        g = mx.pad(mx.expand_dims(g, 0), [(0, rest - 1), (0, 0), (0, 0)])
        return mx.reshape(g, wshape)
    return unbroadcast(g, wshape)


def _qmm_vjp(self, primals, cotangents, argnums, outputs):
    mx = _mx()
    x, w, scales = primals[:3]
    biases = primals[3] if self.has_biases else None
    cot = cotangents[0]
    res = {}
    if 1 in argnums:
        raise _no_weight("QuantizedMatmul::vjp")
    if 0 in argnums:
        g = mx.quantized_matmul(cot, w, scales, biases, not self.transpose, **_qmm_args(self))
        res[0] = unbroadcast(g, x.shape) if x.ndim > 2 else g
    want_s, want_b = 2 in argnums, 3 in argnums
    if want_s or want_b:
        if self.mode != "affine":
            raise _no_fp_scales("QuantizedMatmul::vjp", self.mode)
        wshape = (*w.shape[:-1], w.shape[-1] * 32 // self.bits)
        gw = _matrix_grad(self, x, cot, wshape)
        ds, db = _group_grads(self, gw, w, scales, biases.shape, want_s, want_b)
        if ds is not None:
            res[2] = ds
        if db is not None:
            res[3] = mx.astype(db, biases.dtype)
    return [res[k] for k in argnums]


def _qmm_jvp(self, primals, tangents, argnums):
    mx = _mx()
    t = tangents_by_input(primals, tangents, argnums)
    if t[1] is not None:
        raise _no_weight("QuantizedMatmul::jvp")
    x, w, scales = primals[:3]
    biases = primals[3] if self.has_biases else None
    terms = []
    if t[0] is not None:
        terms.append(
            mx.quantized_matmul(t[0], w, scales, biases, self.transpose, **_qmm_args(self))
        )
    ts, tb = t[2], t[3] if self.has_biases else None
    if ts is not None or tb is not None:
        if self.mode != "affine":
            raise _no_fp_scales("QuantizedMatmul::jvp", self.mode)
        ts = mx.zeros_like(scales) if ts is None else ts
        tb = mx.zeros_like(biases) if tb is None else tb
        terms.append(mx.quantized_matmul(x, w, ts, tb, self.transpose, **_qmm_args(self)))
    return [sum_terms(terms)]


def _first_matrix(a):
    mx = _mx()
    return mx.reshape(a, (-1, *a.shape[-2:]))[0]


def _qmm_vmap(self, inputs, axes):
    if any(a is not None for a in axes[1:]):
        raise NotImplementedError  # a batched weight: loop over the batch
    mx = _mx()
    x, w, scales = inputs[:3]
    biases = inputs[3] if self.has_biases else None
    xd = x.ndim - 1  # x's dimensions in the mapped function
    X = move_to_front(x, axes[0])
    if xd <= 2 and w.ndim > 2:  # each call used w's first matrix: keep it that way
        w, scales = _first_matrix(w), _first_matrix(scales)
        biases = _first_matrix(biases) if biases is not None else None
    if xd >= 2:  # batch dims broadcast: give x at least as many as w has
        missing = (w.ndim - 2) - (xd - 2)
        if missing > 0:
            X = mx.expand_dims(X, tuple(range(1, 1 + missing)))
    out = mx.quantized_matmul(X, w, scales, biases, self.transpose, **_qmm_args(self))
    return [out], [0]


# -- GatherQMM -------------------------------------------------------------------------------


def _gqmm_parts(p, primals):
    x, w, scales = primals[:3]
    k = 3
    biases = g = None
    if p.has_biases:
        biases, k = primals[k], k + 1
    if p.has_global:
        g, k = primals[k], k + 1
    return x, w, scales, biases, g, primals[k], primals[k + 1], k


def _gqmm_vjp(self, primals, cotangents, argnums, outputs):
    mx = _mx()
    x, w, scales, biases, g, lhs, rhs, ki = _gqmm_parts(self, primals)
    cot = cotangents[0]
    if 1 in argnums:
        raise _no_weight("GatherQMM::vjp")
    batch = cot.shape[:-2]
    n_out = 1
    for d in batch:
        n_out *= d
    xs = mx.reshape(x, (-1, *x.shape[-2:]))
    li = mx.remainder(mx.reshape(mx.broadcast_to(lhs, batch), (-1,)), xs.shape[0])
    ri = mx.reshape(mx.broadcast_to(rhs, batch), (-1,))
    c = mx.reshape(cot, (n_out, *cot.shape[-2:]))
    res = {}
    if 0 in argnums:
        gx = mx.gather_qmm(
            c, w, scales, biases, mx.arange(n_out), ri, not self.transpose,
            global_scale=None if g is None else mx.reshape(g, (-1,)), **_qmm_args(self),
        )  # fmt: skip
        dx = mx.zeros(xs.shape, dtype=x.dtype).at[li].add(gx)
        res[0] = mx.reshape(dx, x.shape)
    sb = [k for k in argnums if k in (2, 3) and (k == 2 or self.has_biases)]
    if sb:
        if self.mode != "affine":
            raise _no_fp_scales("GatherQMM::vjp", self.mode)
        xg = mx.astype(mx.take(xs, li, axis=0), mx.float32)
        cf = mx.astype(c, mx.float32)
        if self.transpose:
            per = mx.matmul(mx.swapaxes(cf, -1, -2), xg)
        else:
            per = mx.matmul(mx.swapaxes(xg, -1, -2), cf)
        nw = 1
        for d in w.shape[:-2]:
            nw *= d
        ri = mx.remainder(ri, nw)
        gw = mx.zeros((nw, *per.shape[1:]), dtype=mx.float32).at[ri].add(per)
        gw = mx.reshape(gw, (*w.shape[:-2], *per.shape[1:]))
        ds, db = _group_grads(self, gw, w, scales, scales.shape, 2 in sb, 3 in sb)
        if ds is not None:
            res[2] = ds
        if db is not None:
            res[3] = mx.astype(db, biases.dtype)
    for k in argnums:
        if k not in res:
            if k < ki:  # the global scale
                raise NotDifferentiable("[GatherQMM::vjp] no gradient wrt the global scale.")
            res[k] = mx.zeros_like(primals[k])  # integer indices
    return [res[k] for k in argnums]


def _gqmm_jvp(self, primals, tangents, argnums):
    mx = _mx()
    x, w, scales, biases, g, lhs, rhs, ki = _gqmm_parts(self, primals)
    t = tangents_by_input(primals, tangents, argnums)
    if t[1] is not None:
        raise _no_weight("GatherQMM::jvp")
    kw = dict(transpose=self.transpose, global_scale=g, **_qmm_args(self))
    terms = []
    if t[0] is not None:
        terms.append(mx.gather_qmm(t[0], w, scales, biases, lhs, rhs, **kw))
    ts, tb = t[2], t[3] if self.has_biases else None
    if ts is not None or tb is not None:
        if self.mode != "affine":
            raise _no_fp_scales("GatherQMM::jvp", self.mode)
        ts = mx.zeros_like(scales) if ts is None else ts
        tb = mx.zeros_like(biases) if tb is None else tb
        terms.append(mx.gather_qmm(x, w, ts, tb, lhs, rhs, **kw))
    return [sum_terms(terms)]


# -- fp8 ---------------------------------------------------------------------------------------


def _fp8_no_grad(self, *args):
    raise NotDifferentiable(f"[{self.name}] Not differentiable (MLX implements no derivative).")


def _to_fp8_vmap(self, inputs, axes):
    return [_mx().to_fp8(inputs[0])], [axes[0]]


def _from_fp8_vmap(self, inputs, axes):
    return [_mx().from_fp8(inputs[0], self.out)], [axes[0]]


NoWeightGradient = None  # set by install()


def install() -> None:
    """Attach the rules to the primitives of ``quantized``."""
    global NoWeightGradient
    from . import quantized as Q

    NoWeightGradient = Q.NoWeightGradient
    Q.Dequantize.vjp = _dq_vjp
    Q.Dequantize.jvp = _dq_jvp
    Q.Dequantize.vmap = _dq_vmap
    Q.QuantizedMatmul.vjp = _qmm_vjp
    Q.QuantizedMatmul.jvp = _qmm_jvp
    Q.QuantizedMatmul.vmap = _qmm_vmap
    Q.GatherQMM.vjp = _gqmm_vjp
    Q.GatherQMM.jvp = _gqmm_jvp
    Q.GatherQMM.vmap = vmap_by_loop
    for c in (Q.ToFP8, Q.FromFP8):
        c.vjp = _fp8_no_grad
        c.jvp = _fp8_no_grad
    Q.ToFP8.vmap = _to_fp8_vmap
    Q.FromFP8.vmap = _from_fp8_vmap
