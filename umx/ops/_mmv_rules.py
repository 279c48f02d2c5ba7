"""Transform rules (vjp, jvp, vmap) of the matrix-product variants, written with umx ops.

What MLX 0.32.4 does, and where umx differs:

- ``gather_mm``: gradients for ``a`` and ``b``; for the indices a ValueError (as MLX).
  MLX has no jvp or vmap here; umx has both.
- ``block_masked_mm``: gradients for ``a``, ``b`` and the numeric masks (none for boolean
  masks). MLX's gradient for ``mask_out`` is the true one times the mask itself (it uses
  the masked product); umx gives the true derivative, ``sum over the block of
  cotangent * (masked a @ masked b)``. jvp / vmap: umx only.
- ``segmented_mm``: MLX has no rules; umx differentiates ``a`` and ``b`` and refuses the
  segments (ValueError, like indices).
- ``hadamard_transform``: the vjp applies the transposed transform. MLX applies the
  transform itself, which is wrong for sizes with a factor 20 or 28 (their matrices are
  not symmetric); umx gives the true gradient.
- ``qqmm``: gradients pass straight through the quantization, as MLX's do:
  ``dx = qqmm(c, w.T)``, ``dw = qqmm(c.T, x.T)`` with the cotangent quantized on the fly
  (for nvfp4 with global scales, the cotangent's is its largest magnitude); the global
  scales get zero gradients; a quantized ``w`` gets none (NotDifferentiable). MLX fails
  for ``dx`` with a quantized ``w``; umx uses the dequantized ``w`` there. umx also has
  the matching jvp, and ``gather_qqmm``'s vjp / jvp (MLX has neither).
"""

from __future__ import annotations

from math import prod

from .._primitive import NotDifferentiable
from .._rules import (
    move_to_front,
    sum_terms,
    tangents_by_input,
    unbroadcast,
    vmap_by_loop,
)
from .linalg import _mT


def _mx():
    import umx as mx

    return mx


def _no_index_grad(name: str, what: str = "indices"):
    return NotDifferentiable(
        f"[{name}] Cannot calculate VJP with respect to {what}. Use stop_gradient on "
        f"{what} to stop gradients from being computed."
    )


def _flat(ind, batch: tuple, size: int):
    """Indices broadcast to ``batch``, flattened and wrapped into ``[0, size)``."""
    mx = _mx()
    i = mx.reshape(mx.broadcast_to(ind, batch), (-1,))
    return mx.remainder(mx.astype(i, mx.int64), max(size, 1))


def _batch_size(inputs, axes) -> int:
    return next(x.shape[a] for x, a in zip(inputs, axes) if a is not None)


# -- GatherMM ----------------------------------------------------------------------------------


def _segment_table(ri, nb: int, rows: int):
    """For sorted matrix indices ``ri``: the (nb, 2) row ranges of each matrix's products,
    ``rows`` rows per product."""
    mx = _mx()
    counts = mx.zeros((nb,), dtype=mx.int64).at[ri].add(mx.ones(ri.shape, dtype=mx.int64))
    ends = mx.cumsum(counts)
    return mx.multiply(mx.stack([mx.subtract(ends, counts), ends], axis=-1), rows)


def _gmm_vjp(self, primals, cotangents, argnums, outputs):
    mx = _mx()
    a, b, lhs, rhs = primals
    if 2 in argnums or 3 in argnums:
        raise _no_index_grad("GatherMM")
    cot = cotangents[0]
    batch = tuple(cot.shape[:-2])
    n = prod(batch)
    M, N = cot.shape[-2:]
    K = a.shape[-1]
    na, nb = prod(a.shape[:-2]), prod(b.shape[:-2])
    li, ri = _flat(lhs, batch, na), _flat(rhs, batch, nb)
    c = mx.reshape(cot, (n, M, N))
    A, B = mx.reshape(a, (na, M, K)), mx.reshape(b, (nb, K, N))
    res = []
    for k in argnums:
        if k == 0:
            g = mx.gather_mm(c, _mT(B), None, ri)  # (n, M, K): c_i @ b[ri_i].T
            da = mx.zeros(A.shape, dtype=a.dtype).at[li].add(g)
            res.append(mx.reshape(da, a.shape))
        elif n > 2 * nb:  # many products per matrix of b: one segmented product over them
            order = mx.argsort(ri)
            rows = mx.take(A, mx.take(li, order), axis=0)  # (n, M, K), grouped by matrix of b
            cs = mx.reshape(mx.take(c, order, axis=0), (n * M, N))
            seg = _segment_table(mx.take(ri, order), nb, M)
            db = mx.segmented_mm(_mT(mx.reshape(rows, (n * M, K))), cs, seg)
            res.append(mx.reshape(db, b.shape))
        else:
            g = mx.gather_mm(_mT(A), c, li, None)  # (n, K, N): a[li_i].T @ c_i
            db = mx.zeros(B.shape, dtype=b.dtype).at[ri].add(g)
            res.append(mx.reshape(db, b.shape))
    return res


def _gmm_jvp(self, primals, tangents, argnums):
    mx = _mx()
    a, b, lhs, rhs = primals
    t = tangents_by_input(primals, tangents, argnums)
    kw = dict(sorted_indices=self.sorted)
    terms = []
    if t[0] is not None:
        terms.append(mx.gather_mm(t[0], b, lhs, rhs, **kw))
    if t[1] is not None:
        terms.append(mx.gather_mm(a, t[1], lhs, rhs, **kw))
    out = sum_terms(terms)
    return None if out is None else [out]  # index tangents: piecewise constant


def _fold(x, ax, size: int):
    """A batched operand with the vmap batch folded into its stack of matrices:
    (size * n, rows, cols), and n."""
    mx = _mx()
    x = move_to_front(x, ax)
    n = prod(x.shape[1:-2])
    return mx.reshape(x, (size * n, *x.shape[-2:])), n


def _gmm_vmap(self, inputs, axes):
    mx = _mx()
    size = _batch_size(inputs, axes)
    # The per-slice index rank: both indices get a leading batch dim and are padded to it.
    q = max(i.ndim - (a is not None) for i, a in zip(inputs[2:], axes[2:]))
    ops, idx = [], []
    for x, ax, ind, iax in zip(inputs[:2], axes[:2], inputs[2:], axes[2:]):
        ind = move_to_front(ind, iax) if iax is not None else mx.expand_dims(ind, 0)
        if ind.ndim - 1 < q:
            ind = mx.expand_dims(ind, tuple(range(1, 1 + q - (ind.ndim - 1))))
        if ax is not None:
            x, n = _fold(x, ax, size)
            offsets = mx.multiply(mx.arange(size, dtype=mx.int64), n)
            offsets = mx.reshape(offsets, (size,) + (1,) * (ind.ndim - 1))
            ind = mx.add(mx.remainder(mx.astype(ind, mx.int64), max(n, 1)), offsets)
        ops.append(x)
        idx.append(ind)
    out = mx.gather_mm(ops[0], ops[1], idx[0], idx[1], sorted_indices=self.sorted)
    if out.shape[0] != size:  # only the unbatched parts were indexed: give it the batch
        out = mx.broadcast_to(out, (size, *out.shape[1:]))
    return [out], [0]


# -- BlockMaskedMM -------------------------------------------------------------------------------


def _expand(mask, bs: int, rows: int, cols: int):
    mx = _mx()
    if mask.ndim < 2:
        mask = mx.reshape(mask, (1,) * (2 - mask.ndim) + tuple(mask.shape))
    grid = (-(-rows // bs), -(-cols // bs))
    mask = mx.broadcast_to(mask, (*mask.shape[:-2], *grid))
    m = mx.repeat(mx.repeat(mask, bs, axis=-2), bs, axis=-1)
    return m[..., :rows, :cols]


def _apply(x, mask, bs: int):
    """``x`` masked by blocks (zeroed where a boolean mask is false, else scaled)."""
    mx = _mx()
    if mask is None:
        return x
    m = _expand(mask, bs, *x.shape[-2:])
    if mask.dtype == mx.bool_:
        return mx.where(m, x, mx.zeros((), dtype=x.dtype))
    return mx.multiply(x, m)


def _blocksum(g, bs: int, shape: tuple):
    """Sum of ``g`` over each block, reduced to the mask's ``shape``."""
    mx = _mx()
    R, C = g.shape[-2:]
    tr, tc = -(-R // bs), -(-C // bs)
    g = mx.pad(g, [(0, 0)] * (g.ndim - 2) + [(0, tr * bs - R), (0, tc * bs - C)])
    g = mx.sum(mx.reshape(g, (*g.shape[:-2], tr, bs, tc, bs)), axis=(-3, -1))
    return unbroadcast(g, tuple(shape))


def _bmm_slots(p) -> dict:
    slots, k = {}, 2
    for name, has in (("out", p.has_out), ("lhs", p.has_lhs), ("rhs", p.has_rhs)):
        if has:
            slots[name] = k
            k += 1
    return slots


def _bmm_vjp(self, primals, cotangents, argnums, outputs):
    mx = _mx()
    a, b = primals[:2]
    mo, ml, mr = self.masks(primals[2:])
    bs = self.block_size
    slots = _bmm_slots(self)
    A, B = _apply(a, ml, bs), _apply(b, mr, bs)
    c = cotangents[0]
    C = _apply(c, mo, bs)
    gA = mx.matmul(C, _mT(B)) if {0, slots.get("lhs")} & set(argnums) else None
    gB = mx.matmul(_mT(A), C) if {1, slots.get("rhs")} & set(argnums) else None
    res = []
    for k in argnums:
        mask = primals[k] if k >= 2 else None
        if mask is not None and mask.dtype == mx.bool_:
            res.append(None)  # a boolean mask selects: no gradient
        elif k == 0:
            res.append(unbroadcast(_apply(gA, ml, bs), a.shape))
        elif k == 1:
            res.append(unbroadcast(_apply(gB, mr, bs), b.shape))
        elif k == slots.get("out"):
            res.append(_blocksum(mx.multiply(c, mx.matmul(A, B)), bs, mask.shape))
        elif k == slots.get("lhs"):
            res.append(_blocksum(mx.multiply(gA, a), bs, mask.shape))
        else:
            res.append(_blocksum(mx.multiply(gB, b), bs, mask.shape))
    return res


def _bmm_jvp(self, primals, tangents, argnums):
    mx = _mx()
    t = tangents_by_input(primals, tangents, argnums)
    base = [primals[0], primals[1], *self.masks(primals[2:])]  # a, b, out, lhs, rhs
    where = [0, 1] + [_bmm_slots(self).get(n) for n in ("out", "lhs", "rhs")]  # input slot of each
    terms = []
    for pos, slot in enumerate(where):
        if slot is None or t[slot] is None or primals[slot].dtype == mx.bool_:
            continue
        args = list(base)
        args[pos] = t[slot]
        terms.append(mx.block_masked_mm(args[0], args[1], self.block_size, *args[2:]))
    out = sum_terms(terms)
    return None if out is None else [out]


def _bmm_vmap(self, inputs, axes):
    mx = _mx()
    size = _batch_size(inputs, axes)
    a, b = inputs[:2]
    # The per-slice batch rank of the product: every batched input is padded to it.
    ranks = [x.ndim - (ax is not None) for x, ax in zip(inputs[:2], axes[:2])]
    r = max(ranks) - 2
    ins = []
    for x, ax in zip(inputs, axes):
        if ax is not None:
            x = move_to_front(x, ax)
            pad = r + 2 - (x.ndim - 1)
            if pad > 0:
                x = mx.expand_dims(x, tuple(range(1, 1 + pad)))
        ins.append(x)
    if axes[0] is None and axes[1] is None:  # only masks are batched: the product must be
        ins[0] = mx.broadcast_to(mx.expand_dims(a, 0), (size, *a.shape))
    mo, ml, mr = self.masks(ins[2:])
    return [mx.block_masked_mm(ins[0], ins[1], self.block_size, mo, ml, mr)], [0]


# -- SegmentedMM -----------------------------------------------------------------------------------


def _inside(segments, k: int):
    """(S, k) booleans: whether column ``j`` lies in segment ``s`` (bounds clipped)."""
    mx = _mx()
    seg = mx.reshape(mx.astype(segments, mx.int64), (-1, 2))
    lo = mx.clip(seg[:, 0], 0, k)
    hi = mx.maximum(mx.minimum(seg[:, 1], k), lo)
    j = mx.arange(k, dtype=mx.int64)
    return mx.logical_and(
        mx.greater_equal(j, mx.expand_dims(lo, 1)), mx.less(j, mx.expand_dims(hi, 1))
    )


def _smm_vjp(self, primals, cotangents, argnums, outputs):
    mx = _mx()
    a, b, segments = primals
    if 2 in argnums:
        raise _no_index_grad("SegmentedMM", "segments")
    M, K = a.shape
    N = b.shape[1]
    c = mx.reshape(cotangents[0], (-1, M, N))
    inside = _inside(segments, K)
    zero = mx.zeros((), dtype=a.dtype)
    res = []
    for k in argnums:
        if k == 0:
            g = mx.where(mx.expand_dims(inside, 1), mx.matmul(c, mx.transpose(b)), zero)
        else:
            g = mx.where(mx.expand_dims(inside, 2), mx.matmul(mx.transpose(a), c), zero)
        res.append(mx.sum(g, axis=0))
    return res


def _smm_jvp(self, primals, tangents, argnums):
    mx = _mx()
    a, b, segments = primals
    t = tangents_by_input(primals, tangents, argnums)
    terms = []
    if t[0] is not None:
        terms.append(mx.segmented_mm(t[0], b, segments))
    if t[1] is not None:
        terms.append(mx.segmented_mm(a, t[1], segments))
    out = sum_terms(terms)
    return None if out is None else [out]


def _smm_vmap(self, inputs, axes):
    mx = _mx()
    a, b, segments = inputs
    aa, ab, asg = axes
    if sum(x is not None for x in axes) != 1:
        raise NotImplementedError  # several batched inputs: loop over the batch
    if asg is not None:
        return [mx.segmented_mm(a, b, move_to_front(segments, asg))], [0]
    if aa is not None:  # the batch joins a's rows
        A = move_to_front(a, aa)
        size, M, K = A.shape
        out = mx.segmented_mm(mx.reshape(A, (size * M, K)), b, segments)
        out = mx.reshape(out, (*out.shape[:-2], size, M, out.shape[-1]))
        return [out], [out.ndim - 3]
    B = move_to_front(b, ab)  # the batch joins b's columns
    size, K, N = B.shape
    B = mx.reshape(mx.transpose(B, (1, 0, 2)), (K, size * N))
    out = mx.segmented_mm(a, B, segments)
    out = mx.reshape(out, (*out.shape[:-1], size, N))
    return [out], [out.ndim - 2]


# -- Hadamard ----------------------------------------------------------------------------------------


def _had(p, x, transpose: bool):
    from .._device import resolve_stream
    from .matmul_variants import _hadamard

    return _hadamard(x, p.scale, p.m, transpose, resolve_stream(None))


def _had_vjp(self, primals, cotangents, argnums, outputs):
    return [_had(self, cotangents[0], not self.transpose)]


def _had_jvp(self, primals, tangents, argnums):
    return [_had(self, tangents[0], self.transpose)]


def _had_vmap(self, inputs, axes):
    x, ax = inputs[0], axes[0]
    if ax == x.ndim - 1:  # the transform's axis must stay last
        x, ax = move_to_front(x, ax), 0
    return [_had(self, x, self.transpose)], [ax]


# -- QQMatmul / GatherQQMM -------------------------------------------------------------------------------


def _qq_kw(p) -> dict:
    return dict(group_size=p.group_size, bits=p.bits, mode=p.mode)


def _amax(c):
    mx = _mx()
    return mx.astype(mx.max(mx.abs(c)), mx.float32)


def _pad_last(x, gs: int):
    """``x`` with zeros appended to its last axis up to a multiple of ``gs`` (so it can be
    quantized along it; the zeros add nothing to the product)."""
    extra = -x.shape[-1] % gs
    if not extra:
        return x
    return _mx().pad(x, [(0, 0)] * (x.ndim - 1) + [(0, extra)])


def _float_w(p, w, scales, gw):
    """``w`` as floats (dequantized when it is given quantized)."""
    mx = _mx()
    if not p.quantized:
        return w
    g = None if gw is None else (gw if gw.ndim == 0 else mx.reshape(gw, (*gw.shape, 1, 1)))
    if g is None:
        return mx.dequantize(w, scales, None, p.group_size, p.bits, p.mode, dtype=mx.float32)
    # A per-matrix global scale: dequantize with a unit global scale and multiply after.
    one = mx.ones((), dtype=mx.float32)
    wd = mx.dequantize(w, scales, None, p.group_size, p.bits, p.mode, global_scale=one)
    return mx.multiply(wd, g)


def _ste(p, x, w, gx, gw):
    """qqmm(x, w) with the contraction axis padded to a multiple of the group size."""
    gs = p.group_size
    return _mx().qqmm(_pad_last(x, gs), _pad_last(w, gs), None, global_scale_x=gx,
                      global_scale_w=gw, **_qq_kw(p))  # fmt: skip


def _check_qq_argnums(p, argnums, name: str, first_index=None) -> None:
    if 1 in argnums and p.quantized:
        raise NotDifferentiable(
            f"[{name}] No gradient with respect to a quantized w: pass w unquantized to train it."
        )
    if first_index is not None and any(k >= first_index for k in argnums):
        raise _no_index_grad(name)


def _qq_vjp(self, primals, cotangents, argnums, outputs):
    mx = _mx()
    x, w, scales, gx, gw, _ = self.parts(primals)
    _check_qq_argnums(self, argnums, "QQMatmul")
    c = cotangents[0]
    K, N = x.shape[-1], c.shape[-1]
    X, C = mx.reshape(x, (-1, K)), mx.reshape(c, (-1, N))
    gc = _amax(C) if self.has_global else None
    res = []
    for k in argnums:
        if k == 0:
            wf = _float_w(self, w, scales, gw)
            res.append(mx.reshape(_ste(self, C, _mT(wf), gc, gw), x.shape))
        elif k == 1:
            res.append(mx.astype(_ste(self, _mT(C), _mT(X), gc, gx), w.dtype))
        else:  # scales and global scales: zero (as MLX)
            res.append(mx.zeros_like(primals[k]))
    return res


def _qq_jvp(self, primals, tangents, argnums):
    mx = _mx()
    x, w, scales, gx, gw, _ = self.parts(primals)
    _check_qq_argnums(self, argnums, "QQMatmul")
    t = tangents_by_input(primals, tangents, argnums)
    kw = dict(global_scale_x=gx, global_scale_w=gw, **_qq_kw(self))
    terms = []
    if t[0] is not None:
        terms.append(mx.qqmm(t[0], w, scales, **kw))
    if t[1] is not None:
        terms.append(mx.qqmm(x, t[1], None, **kw))
    out = sum_terms(terms)
    return None if out is None else [out]


def _qq_vmap(self, inputs, axes):
    if axes[0] is None or any(a is not None for a in axes[1:]):
        raise NotImplementedError  # a batched weight or scale: loop over the batch
    x, w, scales, gx, gw, _ = self.parts(inputs)
    X = move_to_front(x, axes[0])
    kw = dict(global_scale_x=gx, global_scale_w=gw, **_qq_kw(self))
    return [_mx().qqmm(X, w, scales, **kw)], [0]


def _gqq_vjp(self, primals, cotangents, argnums, outputs):
    mx = _mx()
    x, w, scales, gx, gw, (lhs, rhs) = self.parts(primals)
    _check_qq_argnums(self, argnums, "GatherQQMM", len(primals) - 2)
    cot = cotangents[0]
    batch = tuple(cot.shape[:-2])
    n = prod(batch)
    M, N = cot.shape[-2:]
    K = x.shape[-1]
    nx, nw = prod(x.shape[:-2]), prod(w.shape[:-2])
    li, ri = _flat(lhs, batch, nx), _flat(rhs, batch, nw)
    c = mx.reshape(cot, (n, M, N))
    gc = _amax(c) if self.has_global else None
    gs = self.group_size
    kw = dict(global_scale_x=gc, **_qq_kw(self))
    res = []
    for k in argnums:
        if k == 0:
            wf = mx.reshape(_float_w(self, w, scales, gw), (nw, N, K))
            gwf = None if gw is None else (gw if gw.ndim == 0 else mx.reshape(gw, (-1,)))
            g = mx.gather_qqmm(_pad_last(c, gs), _pad_last(_mT(wf), gs), None, None, ri,
                               global_scale_w=gwf, **kw)  # fmt: skip
            dx = mx.zeros((nx, M, K), dtype=x.dtype).at[li].add(g)
            res.append(mx.reshape(dx, x.shape))
        elif k == 1:
            xs = mx.reshape(x, (nx, M, K))
            g = mx.gather_qqmm(_pad_last(_mT(c), gs), _pad_last(_mT(xs), gs), None, None, li,
                               global_scale_w=gx, **kw)  # fmt: skip
            dw = mx.zeros((nw, N, K), dtype=w.dtype).at[ri].add(mx.astype(g, w.dtype))
            res.append(mx.reshape(dw, w.shape))
        else:
            res.append(mx.zeros_like(primals[k]))
    return res


def _gqq_jvp(self, primals, tangents, argnums):
    mx = _mx()
    x, w, scales, gx, gw, (lhs, rhs) = self.parts(primals)
    _check_qq_argnums(self, argnums, "GatherQQMM")
    t = tangents_by_input(primals, tangents, argnums)
    kw = dict(global_scale_x=gx, global_scale_w=None if gw is None else mx.reshape(gw, (-1,)),
              sorted_indices=self.sorted, **_qq_kw(self))  # fmt: skip
    terms = []
    if t[0] is not None:
        terms.append(mx.gather_qqmm(t[0], w, scales, lhs, rhs, **kw))
    if t[1] is not None:
        terms.append(mx.gather_qqmm(x, t[1], None, lhs, rhs, **kw))
    out = sum_terms(terms)
    return None if out is None else [out]


def install() -> None:
    """Attach the rules to the primitives of ``matmul_variants``."""
    from . import matmul_variants as V

    V.GatherMM.vjp, V.GatherMM.jvp, V.GatherMM.vmap = _gmm_vjp, _gmm_jvp, _gmm_vmap
    V.BlockMaskedMM.vjp, V.BlockMaskedMM.jvp = _bmm_vjp, _bmm_jvp
    V.BlockMaskedMM.vmap = _bmm_vmap
    V.SegmentedMM.vjp, V.SegmentedMM.jvp, V.SegmentedMM.vmap = _smm_vjp, _smm_jvp, _smm_vmap
    V.Hadamard.vjp, V.Hadamard.jvp, V.Hadamard.vmap = _had_vjp, _had_jvp, _had_vmap
    V.QQMatmul.vjp, V.QQMatmul.jvp, V.QQMatmul.vmap = _qq_vjp, _qq_jvp, _qq_vmap
    V.GatherQQMM.vjp, V.GatherQQMM.jvp = _gqq_vjp, _gqq_jvp
    V.GatherQQMM.vmap = vmap_by_loop
