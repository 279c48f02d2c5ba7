"""``mx.fast``: normalisations, rotary embeddings, attention and friends.

MLX runs these as fused kernels on its GPUs and as a fallback graph of ordinary ops on the
CPU. Here each one is written from umx ops, so gradients, ``vmap`` and both devices come
with them, and the numerics follow MLX's: half-precision inputs are normalised in float32
and rounded once; attention keeps the matmuls in the input dtype (accumulating in float32)
and runs the softmax in float32. Arguments are checked when the op is called, with MLX's
exception types.

``metal_kernel`` builds a kernel object whose call raises, as MLX does where Metal is
absent; ``cuda_kernel`` and ``precompiled_cuda_kernel`` run through CuPy where umx has a
GPU and raise MLX's ``RuntimeError`` otherwise.
"""

from __future__ import annotations

import contextlib
import operator
from collections.abc import Sequence

import numpy as np

from . import _dtypes as dt
from ._array import array
from ._device import StreamContext
from .ops._util import broadcast_shapes, fmt_shape
from .ops.binary import greater_equal
from .ops.composite import softmax
from .ops.creation import arange, zeros
from .ops.index import take_along_axis
from .ops.join import concatenate, stack
from .ops.linalg import matmul
from .ops.reduce import logsumexp, mean
from .ops.reduce import sum as _sum
from .ops.select import where
from .ops.shape import (
    broadcast_to,
    expand_dims,
    reshape,
    squeeze,
    swapaxes,
    unflatten,
)
from .ops.unary import astype, cos, reciprocal, rsqrt, sin, square

__all__ = [
    "rms_norm",
    "layer_norm",
    "rope",
    "scaled_dot_product_attention",
    "cross_entropy",
    "gated_delta_update",
    "metal_kernel",
    "cuda_kernel",
    "precompiled_cuda_kernel",
]

_FLOATS = (dt.float16, dt.bfloat16, dt.float32, dt.float64)
_INTS = (dt.int8, dt.int16, dt.int32, dt.int64, dt.uint8, dt.uint16, dt.uint32, dt.uint64)


def _arr(x, op: str, what: str) -> array:
    """``x`` if it is an array: like MLX, these ops take arrays, not array-likes."""
    if isinstance(x, array):
        return x
    if hasattr(x, "__mlx_array__"):
        return x.__mlx_array__()
    raise TypeError(f"[{op}] {what} must be an array, got {type(x).__name__}.")


def _float(x, op: str, what: str) -> float:
    """A float parameter: Python or NumPy numbers and 0-d arrays, as MLX's binding takes."""
    if isinstance(x, (bool, int, float, np.integer, np.floating)) or (
        isinstance(x, array) and x.size == 1
    ):
        return float(x.item() if isinstance(x, array) else x)
    raise TypeError(f"[{op}] {what} must be a float, got {type(x).__name__}.")


def _int(x, op: str, what: str) -> int:
    """An int parameter: anything with ``__index__`` (bools too, as in MLX), no floats."""
    try:
        return operator.index(x)
    except TypeError:
        raise TypeError(f"[{op}] {what} must be an int, got {type(x).__name__}.") from None


def _on(stream):
    """Run the ops inside on ``stream`` (no context when it is None)."""
    return contextlib.nullcontext() if stream is None else StreamContext(stream)


def _compute_dtype(out: dt.Dtype) -> dt.Dtype:
    """The dtype the statistics are computed in: float32, or float64 for float64 outputs."""
    return dt.float64 if out is dt.float64 else dt.float32


# -- normalisations ---------------------------------------------------------------------


def _check_affine(p, x: array, op: str, label: str) -> array | None:
    if p is None:
        return None
    p = _arr(p, op, label)
    if p.ndim != 1:
        raise ValueError(f"[{op}] {label} must have 1 dimension but has {p.ndim} dimensions.")
    if p.shape[0] != x.shape[-1]:
        raise ValueError(
            f"[{op}] {label} must have the same size as the last dimension of x but has "
            f"{p.shape[0]} elements."
        )
    return p


def _check_norm_input(x, op: str) -> array:
    x = _arr(x, op, "x")
    if x.ndim == 0:
        raise ValueError(
            f"[{op}] Input must have at least 1 dimension but got input with 0 dimensions."
        )
    return x


def rms_norm(x: array, weight: array | None, eps: float, *, stream=None) -> array:
    """Root-mean-square normalisation over the last axis: ``x / sqrt(mean(x**2) + eps)``,
    then times ``weight`` when given.

    The output dtype is ``x``'s, promoted with ``weight``'s; it must be floating. The
    statistics are computed in float32 (float64 for float64 outputs) and the normalised
    values rounded to the output dtype before the weight multiplies them.
    """
    op = "rms_norm"
    x = _check_norm_input(x, op)
    w = _check_affine(weight, x, op, "(*weight)")
    out = x.dtype if w is None else dt.result_type(x.dtype, w.dtype)
    if out not in _FLOATS:
        raise ValueError(f"[{op}] Received unsupported type {out.name}.")
    eps = _float(eps, op, "eps")
    with _on(stream):
        xf = astype(x, _compute_dtype(out))
        y = xf * rsqrt(mean(square(xf), axis=-1, keepdims=True) + eps)
        y = astype(y, out)
        return y if w is None else y * w


def layer_norm(
    x: array, weight: array | None, bias: array | None, eps: float, *, stream=None
) -> array:
    """Layer normalisation over the last axis: ``(x - mean) / sqrt(var + eps)``, then times
    ``weight`` and plus ``bias`` where given.

    The output dtype is ``x``'s when there is no weight, else ``x``, ``weight`` and ``bias``
    promoted together (MLX's rule: a bias alone does not change the dtype, it is cast). The
    mean and the (two-pass) variance are computed in float32, float64 for float64 outputs.
    """
    op = "layer_norm"
    x = _check_norm_input(x, op)
    w = _check_affine(weight, x, op, "weight")
    b = _check_affine(bias, x, op, "bias")
    out = x.dtype
    if w is not None:
        out = dt.result_type(x.dtype, w.dtype, *(() if b is None else (b.dtype,)))
    if out not in _FLOATS:
        raise ValueError(f"[{op}] Received unsupported type {out.name}.")
    eps = _float(eps, op, "eps")
    with _on(stream):
        xf = astype(x, _compute_dtype(out))
        xc = xf - mean(xf, axis=-1, keepdims=True)
        y = xc * rsqrt(mean(square(xc), axis=-1, keepdims=True) + eps)
        y = astype(y, out)
        if w is not None:
            y = y * w
        if b is not None:
            y = y + astype(b, out)
        return y


# -- rotary positional encoding ---------------------------------------------------------


def _rope_offset(offset, a: array, op: str):
    """``offset`` as an int or as an integer array (0-d, one element, or one per batch
    entry), with MLX's errors."""
    if isinstance(offset, (int, np.integer)) and not isinstance(offset, bool):
        return int(offset)
    if isinstance(offset, (bool, float, np.floating, np.bool_)):
        kind = "bool" if isinstance(offset, (bool, np.bool_)) else "float32"
        raise ValueError(f"[{op}] offset must be an integer but got type {kind}.")
    if offset is None:
        raise TypeError(f"[{op}] offset must be an int or an array, got None.")
    if isinstance(offset, np.ndarray):
        offset = array(offset)
    elif not isinstance(offset, array):
        offset = _arr(offset, op, "offset") if hasattr(offset, "__mlx_array__") else None
        if offset is None:
            raise ValueError(f"[{op}] offset must be an int or an integer array.")
    if offset.dtype not in _INTS:
        raise ValueError(f"[{op}] offset must be an integer but got type {offset.dtype.name}.")
    if offset.ndim > 1:
        raise ValueError(
            f"[{op}] offset must have at most one dimension but has shape "
            f"{fmt_shape(offset.shape)}."
        )
    if offset.ndim == 1 and offset.size not in (1, a.shape[0]):
        raise ValueError(
            f"[{op}] offset must be a scalar or vector with {a.shape[0]} elements but has "
            f"shape {fmt_shape(offset.shape)}."
        )
    return offset


def rope(
    a: array,
    dims: int,
    *,
    traditional: bool,
    base: float | None,
    scale: float,
    offset: int | array,
    freqs: array | None = None,
    stream=None,
) -> array:
    """Rotary positional encoding of ``a`` with shape ``(B, *, T, D)``.

    The positions run along axis -2: ``(offset + t) * scale`` for ``t < T`` (``offset`` an
    int, a 0-d array, or one offset per batch entry along axis 0). The first ``dims``
    features are rotated in pairs by ``position * f`` with ``f = base ** (-2i / dims)`` (or
    ``1 / freqs``): pairs ``(i, i + dims/2)``, or consecutive pairs ``(2i, 2i+1)`` when
    ``traditional``. Features past ``dims`` pass through. The angles' sines and cosines are
    computed in float32 (float64 for float64 inputs, where MLX stays in float32) and rounded
    to ``a``'s dtype, in which the rotation is done.
    """
    op = "rope"
    a = _arr(a, op, "a")
    if a.ndim < 3:
        raise ValueError(
            f"[{op}] Input must have at least 3 dimensions but got input with {a.ndim} dimensions."
        )
    if a.dtype not in _FLOATS:
        raise ValueError(f"[{op}] Input must be a floating type but got {a.dtype.name}.")
    dims = _int(dims, op, "dims")
    if type(traditional) is not bool:
        raise TypeError(f"[{op}] traditional must be a bool, got {type(traditional).__name__}.")
    scale = _float(scale, op, "scale")
    if base is not None:
        base = _float(base, op, "base")
    if dims <= 0:
        raise ValueError(f"[{op}] dims must be positive but got {dims}.")
    if dims % 2:
        raise ValueError(f"[{op}] dims must be even but got {dims}.")
    if dims > a.shape[-1]:
        raise ValueError(
            f"[{op}] dims must not exceed the input's last dimension ({a.shape[-1]}) but got "
            f"{dims}."
        )
    if base is None and freqs is None:
        raise ValueError(f"[{op}] Neither base nor freqs has a value.")
    if base is not None and freqs is not None:
        raise ValueError(f"[{op}] Only one of base or freqs can have a value.")
    half = dims // 2
    if freqs is not None:
        freqs = _arr(freqs, op, "freqs")
        if freqs.ndim != 1 or freqs.shape[0] != half:
            raise ValueError(
                f"[{op}] freqs must be one dimensional with size {half} but got shape "
                f"{fmt_shape(freqs.shape)}."
            )
    off = _rope_offset(offset, a, op)
    ct = _compute_dtype(a.dtype)
    t = a.shape[-2]
    with _on(stream):
        if freqs is None:
            inv = base ** (-np.arange(0, dims, 2, dtype=np.float64) / dims)
            inv = array(inv.astype(ct.np), dtype=ct)
        else:
            inv = reciprocal(astype(freqs, ct))
        pos = arange(t, dtype=ct)
        if isinstance(off, int):
            pos = pos + float(off) if off else pos
        elif off.ndim == 1 and off.size > 1:  # one offset per batch entry (axis 0)
            pos = pos + reshape(astype(off, ct), (off.size,) + (1,) * (a.ndim - 2))
        else:
            pos = pos + reshape(astype(off, ct), ())
        theta = expand_dims(pos * scale, -1) * inv
        c = astype(cos(theta), a.dtype)
        s = astype(sin(theta), a.dtype)
        if traditional:
            pairs = unflatten(a[..., :dims], -1, (half, 2))
            x1, x2 = pairs[..., 0], pairs[..., 1]
            rot = stack([x1 * c - x2 * s, x1 * s + x2 * c], axis=-1)
            rot = reshape(rot, rot.shape[:-2] + (dims,))
        else:
            x1, x2 = a[..., :half], a[..., half:dims]
            rot = concatenate([x1 * c - x2 * s, x1 * s + x2 * c], axis=-1)
        if dims < a.shape[-1]:
            rot = concatenate([rot, a[..., dims:]], axis=-1)
        return rot


# -- attention --------------------------------------------------------------------------


def _check_attention(q, k, v, op: str) -> None:
    for x in (q, k, v):
        if x.ndim != 4:
            raise ValueError(f"[{op}] input with shape {fmt_shape(x.shape)} expected to be rank 4")
    for x in (k, v):
        if x.shape[0] != q.shape[0]:
            raise ValueError(
                f"[{op}] mismatching batch dimension for input with shape {fmt_shape(x.shape)}."
            )
    if q.shape[-1] != k.shape[-1]:
        raise ValueError(
            f"[{op}] query, keys expected to have matching last dimension; found query shape "
            f"{fmt_shape(q.shape)} for keys shape {fmt_shape(k.shape)}."
        )
    if k.shape[1] != v.shape[1]:
        raise ValueError(
            f"[{op}] keys, values expected to have matching n_kv_heads; found keys with "
            f"n_heads {k.shape[1]} for values with n_heads {v.shape[1]}."
        )
    if q.shape[1] % k.shape[1]:
        raise ValueError(
            f"[{op}] n_heads must be a multiple of n_kv_heads, found n_heads {q.shape[1]} "
            f"for n_kv_heads {k.shape[1]}."
        )
    if k.shape[2] != v.shape[2]:
        raise ValueError(
            f"[{op}] keys and values expected to have the same sequence length; found keys "
            f"shape {fmt_shape(k.shape)} for values shape {fmt_shape(v.shape)}."
        )


def scaled_dot_product_attention(
    q: array,
    k: array,
    v: array,
    *,
    scale: float,
    mask: None | str | array = None,
    sinks: array | None = None,
    force_fused: bool = False,
    stream=None,
) -> array:
    """``softmax(scale * q @ k.T + mask) @ v`` for ``q`` ``[B, N_q, T_q, D]`` and ``k``,
    ``v`` ``[B, N_kv, T_kv, D]`` (``N_kv`` dividing ``N_q``: grouped-query attention, with
    no tiling of ``k`` and ``v``).

    ``mask`` is None, ``"causal"`` (lower-right aligned: query ``i`` sees keys
    ``j <= i + T_kv - T_q``), a boolean array (False hides a score) or an additive array,
    broadcastable to ``[B, N_q, T_q, T_kv]``. Hidden scores become the dtype's lowest finite
    value, so a row with every key hidden averages ``v`` as MLX does. ``sinks`` (``[N_q]``)
    adds one logit per head that takes part in the softmax and adds no value. The matmuls
    run in the promoted input dtype, the softmax in float32. umx has no fused kernel:
    ``force_fused=True`` raises, as MLX does where none is available.
    """
    op = "scaled_dot_product_attention"
    q, k, v = _arr(q, op, "q"), _arr(k, op, "k"), _arr(v, op, "v")
    scale = _float(scale, op, "scale")
    _check_attention(q, k, v, op)
    b, n_q, t_q, _ = q.shape
    n_kv, t_kv = k.shape[1], k.shape[2]
    out = dt.result_type(q.dtype, k.dtype, v.dtype)
    if out not in _FLOATS:
        raise ValueError(f"[{op}] Received unsupported type {out.name}.")
    causal = False
    if isinstance(mask, str):
        if mask != "causal":
            raise ValueError(f"[{op}] invalid mask option '{mask}'. Must be 'causal', or an array.")
        causal, mask = True, None
    elif mask is not None:
        mask = _arr(mask, op, "mask")
        if mask.ndim > 4:
            raise ValueError(
                f"[{op}] the mask with shape {fmt_shape(mask.shape)} expected to have at most "
                "rank 4."
            )
        broadcast_shapes(mask.shape, (b, n_q, t_q, t_kv))
        if mask.dtype is not dt.bool_ and dt.result_type(mask.dtype, out) is not out:
            raise ValueError(f"[{op}] Mask type must promote to output type {out.name}.")
    if sinks is not None:
        sinks = _arr(sinks, op, "sinks")
        if sinks.shape != (n_q,):
            raise ValueError(f"[{op}] Received invalid shape for sinks {fmt_shape(sinks.shape)}.")
        if dt.result_type(sinks.dtype, out) is not out:
            raise ValueError(f"[{op}] Type of sinks must promote to output type {out.name}.")
    if force_fused:
        raise ValueError(
            f"[{op}] force_fused=True but no fused kernel is available in umx (attention runs "
            "as ordinary ops)."
        )
    rep = n_q // n_kv
    with _on(stream):
        q, k, v = astype(q, out), astype(k, out), astype(v, out)
        q = q * scale  # in the input dtype, as MLX scales the queries
        if rep > 1:  # group the query heads by the key/value head they share
            q = unflatten(q, 1, (n_kv, rep))
            k, v = expand_dims(k, 2), expand_dims(v, 2)
        scores = matmul(q, swapaxes(k, -1, -2))
        lowest = array(float(dt.finfo(out).min), dtype=out)
        if causal:
            seen = greater_equal(
                expand_dims(arange(t_q) + (t_kv - t_q), 1), expand_dims(arange(t_kv), 0)
            )
            scores = where(seen, scores, lowest)
        elif mask is not None:
            if rep > 1:
                mask = reshape(mask, (1,) * (4 - mask.ndim) + mask.shape)
                mask = (
                    unflatten(mask, 1, (n_kv, rep)) if mask.shape[1] > 1 else expand_dims(mask, 2)
                )
            if mask.dtype is dt.bool_:
                scores = where(mask, scores, lowest)
            else:
                scores = scores + mask
        if sinks is not None:
            sink = reshape(astype(sinks, out), (n_kv, rep, 1, 1) if rep > 1 else (n_q, 1, 1))
            sink = broadcast_to(sink, scores.shape[:-1] + (1,))
            scores = concatenate([sink, scores], axis=-1)
        p = softmax(scores, axis=-1, precise=True)
        if sinks is not None:
            p = p[..., 1:]
        o = matmul(p, v)
        if rep > 1:
            o = reshape(o, (b, n_q, t_q, v.shape[-1]))
        return o


# -- losses and recurrences -------------------------------------------------------------


def cross_entropy(logits: array, targets: array, *, stream=None) -> array:
    """Cross entropy with class indices: ``logsumexp(logits, -1) - logits[..., targets]``.

    The loss is float32 with ``targets``' shape. It is computed in float32 (float64 for
    float64 logits), what MLX's fused GPU kernels do; MLX's CPU fallback reduces
    half-precision logits in their own dtype. Targets outside ``[0, C)`` give undefined
    values, as in MLX.
    """
    op = "cross_entropy"
    logits, targets = _arr(logits, op, "logits"), _arr(targets, op, "targets")
    if logits.ndim == 0:
        raise ValueError(
            f"[{op}] logits must have at least 1 dimension but got input with 0 dimensions."
        )
    if logits.dtype not in _FLOATS:
        raise ValueError(f"[{op}] Received unsupported logits type {logits.dtype.name}.")
    if targets.dtype not in _INTS:
        raise ValueError(
            f"[{op}] targets must be integer class indices but got {targets.dtype.name}."
        )
    if targets.shape != logits.shape[:-1]:
        raise ValueError(
            f"[{op}] targets shape {fmt_shape(targets.shape)} does not match logits shape "
            f"{fmt_shape(logits.shape)} with the last axis removed."
        )
    if logits.size == 0:
        raise ValueError(f"[{op}] Received empty logits.")
    with _on(stream):
        x = astype(logits, _compute_dtype(logits.dtype))
        picked = squeeze(take_along_axis(x, expand_dims(targets, -1), axis=-1), -1)
        return astype(logsumexp(x, axis=-1) - picked, dt.float32)


def _check_gated(q, k, v, g, beta, state, mask, op: str) -> int:
    """Checks the shapes; returns the batch size (a batch axis of 1 broadcasts, as in MLX)."""
    for x in (q, k, v):
        if x.ndim != 4:  # MLX fails with an IndexError on other ranks
            raise IndexError(
                f"[{op}] q, k and v must have 4 dimensions [B, T, H, D]; got shape "
                f"{fmt_shape(x.shape)}."
            )
    given = [x for x in (q, k, v, g, beta, state, mask) if x is not None]
    bsz = max(x.shape[0] if x.ndim else 1 for x in given)
    _, t, hk, dk = q.shape
    hv, dv = v.shape[2], v.shape[3]

    def want(x, label: str, *shapes) -> None:
        if x.ndim and x.shape[0] in (1, bsz) and x.shape[1:] in shapes:
            return
        full = " or ".join(fmt_shape((bsz,) + s) for s in shapes)
        raise ValueError(
            f"[{op}] {label} must have shape {full} but has shape {fmt_shape(x.shape)}."
        )

    want(k, "keys", (t, hk, dk))
    want(v, "values", (t, hv, dv))
    if hv % hk:
        raise ValueError(
            f"[{op}] the value heads ({hv}) must be a multiple of the key heads ({hk})."
        )
    if t == 0:
        raise ValueError(f"[{op}] the sequence length T must be positive.")
    want(g, "gamma", (t, hv), (t, hv, dk))
    want(beta, "beta", (t, hv))
    if state is not None:
        want(state, "initial_state", (hv, dv, dk))
    if mask is not None:
        if mask.ndim < 2:  # MLX fails with an IndexError here too
            raise IndexError(f"[{op}] mask must have shape {fmt_shape((bsz, t))}.")
        want(mask, "mask", (t,))
    return bsz


def gated_delta_update(
    q: array,
    k: array,
    v: array,
    gamma: array,
    beta: array,
    initial_state: array | None = None,
    mask: array | None = None,
    stream=None,
) -> list[array]:
    """The gated delta rule, step by step over time: returns ``[y, state]``.

    Shapes: ``q``, ``k`` ``[B, T, Hk, Dk]``; ``v`` ``[B, T, Hv, Dv]`` (``Hk`` dividing
    ``Hv``: each key head serves ``Hv / Hk`` value heads); ``gamma`` ``[B, T, Hv]`` or
    ``[B, T, Hv, Dk]``; ``beta`` ``[B, T, Hv]``; the state ``[B, Hv, Dv, Dk]`` (zeros when
    ``initial_state`` is None); ``mask`` ``[B, T]`` (where false, the step leaves the state
    alone and its output is zero). Each step:
    ``S *= gamma; S += outer(beta * (v - S @ k), k); y = S @ q``.

    ``y`` has the dtype of ``q`` and ``k`` promoted (float32 for integers); the state is
    float32 (float64 for float64 outputs), the dtype everything is computed in.
    """
    op = "gated_delta_update"
    q, k, v = _arr(q, op, "q"), _arr(k, op, "k"), _arr(v, op, "v")
    g, beta = _arr(gamma, op, "gamma"), _arr(beta, op, "beta")
    state = None if initial_state is None else _arr(initial_state, op, "initial_state")
    mask = None if mask is None else _arr(mask, op, "mask")
    bsz = _check_gated(q, k, v, g, beta, state, mask, op)
    y_dtype = dt.result_type(q.dtype, k.dtype)
    if y_dtype not in _FLOATS:
        y_dtype = dt.float32
    st = _compute_dtype(y_dtype)
    _, t, hk, dk = q.shape
    hv, dv = v.shape[2], v.shape[3]
    rep = hv // hk
    with _on(stream):
        q, k, v, g, beta = (
            broadcast_to(astype(x, st), (bsz,) + x.shape[1:]) for x in (q, k, v, g, beta)
        )
        if rep > 1:  # value head h reads key head h // rep
            q = reshape(broadcast_to(expand_dims(q, 3), (bsz, t, hk, rep, dk)), (bsz, t, hv, dk))
            k = reshape(broadcast_to(expand_dims(k, 3), (bsz, t, hk, rep, dk)), (bsz, t, hv, dk))
        s = zeros((bsz, hv, dv, dk), dtype=st)
        if state is not None:
            s = broadcast_to(astype(state, st), s.shape)
        if mask is not None:
            mask = broadcast_to(astype(mask, dt.bool_), (bsz, t))
        ys = []
        for i in range(t):
            gi = g[:, i]
            decay = expand_dims(gi, (-2, -1)) if gi.ndim == 2 else expand_dims(gi, -2)
            ki = expand_dims(k[:, i], -2)  # [B, Hv, 1, Dk]
            new = s * decay
            delta = (v[:, i] - _sum(new * ki, axis=-1)) * expand_dims(beta[:, i], -1)
            new = new + ki * expand_dims(delta, -1)
            y = _sum(new * expand_dims(q[:, i], -2), axis=-1)
            if mask is not None:
                mi = reshape(mask[:, i], (bsz, 1, 1, 1))
                new = where(mi, new, s)
                y = where(squeeze(mi, -1), y, array(0.0, dtype=st))
            s = new
            ys.append(y)
        return [astype(stack(ys, axis=1), y_dtype), s]


# -- custom kernels ---------------------------------------------------------------------


def _names(x, op: str, what: str) -> list[str]:
    if isinstance(x, str) or not isinstance(x, Sequence) or not all(isinstance(n, str) for n in x):
        raise TypeError(f"[{op}] {what} must be a sequence of strings.")
    return list(x)


def _check_kernel_args(op: str, name, input_names, output_names, source, header) -> tuple:
    for label, s in (("name", name), ("source", source), ("header", header)):
        if not isinstance(s, str):
            raise TypeError(f"[{op}] {label} must be a string, got {type(s).__name__}.")
    return _names(input_names, op, "input_names"), _names(output_names, op, "output_names")


class _MetalKernel:
    """What ``metal_kernel`` returns: umx has no Metal backend, so calling it raises."""

    def __init__(self, name: str, input_names: list, output_names: list, source: str) -> None:
        self.name, self.input_names, self.output_names = name, input_names, output_names
        self.source = source

    def __call__(
        self,
        *,
        inputs,
        output_shapes,
        output_dtypes,
        grid,
        threadgroup,
        template=None,
        init_value=None,
        verbose: bool = False,
        stream=None,
    ) -> list[array]:
        raise RuntimeError("[metal_kernel] No Metal back-end.")


def metal_kernel(
    name: str,
    input_names: Sequence[str],
    output_names: Sequence[str],
    source: str,
    header: str = "",
    ensure_row_contiguous: bool = True,
    atomic_outputs: bool = False,
    compile_options: dict | None = None,
) -> _MetalKernel:
    """A custom Metal kernel, as MLX builds one. Its arguments are checked as MLX checks
    them; calling the kernel raises ``RuntimeError``: there is no Metal on Linux."""
    op = "metal_kernel"
    ins, outs = _check_kernel_args(op, name, input_names, output_names, source, header)
    for key, val in (compile_options or {}).items():
        if key != "math_mode":
            raise ValueError(f"[{op}] Unknown compile option `{key}`.")
        if val not in ("safe", "relaxed", "fast"):
            raise ValueError(f"[{op}] Expected math_mode to be 'safe', 'relaxed', or 'fast'.")
    return _MetalKernel(name, ins, outs, source)


def _require_cuda(op: str):
    from .backends import gpu_backend

    if gpu_backend() is None:
        raise RuntimeError(f"[{op}] No CUDA back-end.")


def cuda_kernel(
    name: str,
    input_names: Sequence[str],
    output_names: Sequence[str],
    source: str,
    header: str = "",
    ensure_row_contiguous: bool = True,
    shared_memory: int = 0,
):
    """A custom CUDA kernel from the body ``source``; see ``umx._fast_cuda``. Raises
    ``RuntimeError`` where umx has no CUDA GPU, as MLX does without its CUDA backend."""
    op = "cuda_kernel"
    ins, outs = _check_kernel_args(op, name, input_names, output_names, source, header)
    _require_cuda(op)
    from ._fast_cuda import CudaKernel

    return CudaKernel(
        name, ins, outs, source, header, bool(ensure_row_contiguous), int(shared_memory)
    )


def precompiled_cuda_kernel(
    *,
    name: str,
    compiled_source: bytes,
    inputs: Sequence,
    output_shapes: Sequence[Sequence[int]],
    output_dtypes: Sequence[dt.Dtype],
    scalars: Sequence,
    grid: tuple[int, int, int],
    threadgroup: tuple[int, int, int],
    shared_memory: int = 0,
    init_value: float | None = None,
    ensure_row_contiguous: bool = False,
    stream=None,
) -> list[array]:
    """Run a kernel given as PTX or cubin bytes (inputs, then outputs, then ``scalars`` as
    its arguments). Raises ``RuntimeError`` where umx has no CUDA GPU."""
    _require_cuda("cuda_kernel")  # MLX names cuda_kernel in this error too
    from ._fast_cuda import run_precompiled

    return run_precompiled(
        name, compiled_source, inputs, output_shapes, output_dtypes, scalars, grid,
        threadgroup, shared_memory, init_value, ensure_row_contiguous, stream,
    )  # fmt: skip
