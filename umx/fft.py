"""``mx.fft``: discrete Fourier transforms, sample frequencies, shifts and the short-time
transform.

The transforms are one primitive (umx/ops/fft.py) over ``xp.fft``; like MLX they compute in
single precision (complex64 out, float32 for the inverse real transforms) whatever the input
dtype, check their arguments when called, and differentiate and vmap. ``fftshift``,
``fftfreq``, ``stft`` and ``istft`` are written from other ops.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from contextlib import nullcontext

import numpy as np

from . import _dtypes as dt
from ._array import array, as_array
from ._device import stream as _stream_ctx
from .ops.binary import divide, maximum, multiply
from .ops.creation import ones, zeros
from .ops.fft import NORMS, fft_op
from .ops.index import take
from .ops.join import pad, roll
from .ops.shape import broadcast_to, moveaxis, reshape, swapaxes
from .ops.unary import astype, real

__all__ = [
    "fft", "ifft", "fft2", "ifft2", "fftn", "ifftn", "rfft", "irfft", "rfft2", "irfft2",
    "rfftn", "irfftn", "fftfreq", "rfftfreq", "fftshift", "ifftshift", "stft", "istft",
]  # fmt: skip


def _one(a, n, axis, norm, stream, inverse: bool, real_: bool, op: str) -> array:
    a = as_array(a, op)
    try:
        axis = operator.index(axis)
    except TypeError:
        raise TypeError(f"[{op}] axis must be an integer, got {type(axis).__name__}.") from None
    return fft_op(a, None if n is None else (n,), (axis,), inverse, real_, norm, op, stream)


def _many(a, s, axes, norm, stream, inverse: bool, real_: bool, op: str) -> array:
    return fft_op(as_array(a, op), s, axes, inverse, real_, norm, op, stream)


# -- one axis ---------------------------------------------------------------------------------


def fft(a, n: int | None = None, axis: int = -1, norm: str = "backward", stream=None) -> array:
    """The DFT of ``a`` along ``axis``, the axis cut or zero-padded to ``n`` first.

    The result is complex64 (real and integer inputs are cast). ``norm`` is 'backward' (the
    inverse scales by 1/n), 'ortho' (1/sqrt(n) both ways) or 'forward' (this one by 1/n)."""
    return _one(a, n, axis, norm, stream, False, False, "fft")


def ifft(a, n: int | None = None, axis: int = -1, norm: str = "backward", stream=None) -> array:
    """The inverse DFT of ``a`` along ``axis`` (cut or zero-padded to ``n``), as complex64."""
    return _one(a, n, axis, norm, stream, True, False, "ifft")


def rfft(a, n: int | None = None, axis: int = -1, norm: str = "backward", stream=None) -> array:
    """The DFT of a real signal along ``axis``: the ``n // 2 + 1`` non-negative frequency bins.

    A complex input is read as its real part (MLX casts it silently)."""
    return _one(a, n, axis, norm, stream, False, True, "rfft")


def irfft(a, n: int | None = None, axis: int = -1, norm: str = "backward", stream=None) -> array:
    """The real signal of length ``n`` (default ``2 * (a.shape[axis] - 1)``) whose ``rfft`` is
    ``a``; ``a`` is read at ``n // 2 + 1`` bins (cut or zero-padded). Returns float32."""
    return _one(a, n, axis, norm, stream, True, True, "irfft")


# -- two axes ---------------------------------------------------------------------------------


def fft2(
    a, s: Sequence[int] | None = None, axes: Sequence[int] | None = (-2, -1),
    norm: str = "backward", stream=None,
) -> array:  # fmt: skip
    """The 2-D DFT over ``axes`` (default the last two), each cut or zero-padded to ``s``."""
    return _many(a, s, axes, norm, stream, False, False, "fft2")


def ifft2(
    a, s: Sequence[int] | None = None, axes: Sequence[int] | None = (-2, -1),
    norm: str = "backward", stream=None,
) -> array:  # fmt: skip
    """The 2-D inverse DFT over ``axes`` (default the last two)."""
    return _many(a, s, axes, norm, stream, True, False, "ifft2")


def rfft2(
    a, s: Sequence[int] | None = None, axes: Sequence[int] | None = (-2, -1),
    norm: str = "backward", stream=None,
) -> array:  # fmt: skip
    """The 2-D DFT of a real input; the last of ``axes`` keeps ``s[-1] // 2 + 1`` bins."""
    return _many(a, s, axes, norm, stream, False, True, "rfft2")


def irfft2(
    a, s: Sequence[int] | None = None, axes: Sequence[int] | None = (-2, -1),
    norm: str = "backward", stream=None,
) -> array:  # fmt: skip
    """The inverse of ``rfft2``: a real array with lengths ``s`` on ``axes`` (float32)."""
    return _many(a, s, axes, norm, stream, True, True, "irfft2")


# -- n axes -----------------------------------------------------------------------------------


def fftn(
    a, s: Sequence[int] | None = None, axes: Sequence[int] | None = None,
    norm: str = "backward", stream=None,
) -> array:  # fmt: skip
    """The n-D DFT over ``axes`` (all axes by default; ``s`` needs explicit ``axes``)."""
    return _many(a, s, axes, norm, stream, False, False, "fftn")


def ifftn(
    a, s: Sequence[int] | None = None, axes: Sequence[int] | None = None,
    norm: str = "backward", stream=None,
) -> array:  # fmt: skip
    """The n-D inverse DFT over ``axes`` (all axes by default)."""
    return _many(a, s, axes, norm, stream, True, False, "ifftn")


def rfftn(
    a, s: Sequence[int] | None = None, axes: Sequence[int] | None = None,
    norm: str = "backward", stream=None,
) -> array:  # fmt: skip
    """The n-D DFT of a real input; the last of ``axes`` keeps ``s[-1] // 2 + 1`` bins."""
    return _many(a, s, axes, norm, stream, False, True, "rfftn")


def irfftn(
    a, s: Sequence[int] | None = None, axes: Sequence[int] | None = None,
    norm: str = "backward", stream=None,
) -> array:  # fmt: skip
    """The inverse of ``rfftn``: a real array with lengths ``s`` on ``axes`` (float32; the
    default last length is ``2 * (a.shape[axes[-1]] - 1)``)."""
    return _many(a, s, axes, norm, stream, True, True, "irfftn")


# -- frequencies and shifts -------------------------------------------------------------------


def _freq_args(n, d, op: str):
    try:
        n = operator.index(n)
    except TypeError:
        raise TypeError(f"[{op}] n must be an integer, got {type(n).__name__}.") from None
    if n <= 0:
        raise ValueError(f"[{op}] `n` must be greater than 0.")
    d = float(d)
    if d == 0:
        raise ValueError(f"[{op}] `d` must be non-zero.")
    # MLX scales float32 bin numbers by 1 / (n d) rounded to float32 (bit for bit the same).
    return n, array(np.float32(1.0 / (n * d)))


def fftfreq(n: int, d: float = 1.0, stream=None) -> array:
    """The sample frequencies of an ``n``-point DFT with sample spacing ``d`` (float32):
    ``[0, 1, ..., (n-1)//2, -(n//2), ..., -1] / (n d)``."""
    n, scale = _freq_args(n, d, "fftfreq")
    k = np.concatenate([np.arange(0, (n - 1) // 2 + 1), np.arange(-(n // 2), 0)])
    return multiply(array(k.astype(np.float32)), scale, stream=stream)


def rfftfreq(n: int, d: float = 1.0, stream=None) -> array:
    """The non-negative sample frequencies ``[0, 1, ..., n//2] / (n d)`` of ``rfft`` (float32)."""
    n, scale = _freq_args(n, d, "rfftfreq")
    return multiply(array(np.arange(n // 2 + 1, dtype=np.float32)), scale, stream=stream)


def _shift(a, axes, stream, sign: int, op: str) -> array:
    a = as_array(a, op)
    nd = a.ndim
    if axes is None:
        axes = tuple(range(nd))
    elif not isinstance(axes, (list, tuple)):
        axes = (axes,)
    norm_axes = []
    for ax in axes:
        ax = operator.index(ax)
        if not -nd <= ax < nd:
            raise IndexError(f"[{op}] Invalid axis {ax} for array with {nd} dimensions.")
        norm_axes.append(ax % nd)
    if not norm_axes:
        return a
    # Repeated axes shift again, as in MLX (and np.roll).
    shifts = tuple(sign * (a.shape[ax] // 2) for ax in norm_axes)
    return roll(a, shifts, tuple(norm_axes), stream=stream)


def fftshift(a, axes: int | Sequence[int] | None = None, stream=None) -> array:
    """``a`` rolled by half its length on ``axes`` (all by default): frequency 0 to the centre."""
    return _shift(a, axes, stream, 1, "fftshift")


def ifftshift(a, axes: int | Sequence[int] | None = None, stream=None) -> array:
    """The inverse of ``fftshift`` (they differ on odd lengths)."""
    return _shift(a, axes, stream, -1, "ifftshift")


# -- short-time transform ---------------------------------------------------------------------

_PAD_MODES = ("reflect", "constant", "edge")


def _pos(v, op: str, what: str) -> int:
    try:
        v = operator.index(v)
    except TypeError:
        raise TypeError(f"[{op}] {what} must be an integer, got {type(v).__name__}.") from None
    if v <= 0:
        raise ValueError(f"[{op}] {what} must be positive.")
    return v


def _window(window, win_length, n_fft: int, op: str, stream) -> array:
    """The analysis window as an ``n_fft``-long array: ``window`` (or ``win_length`` ones)
    centred and zero-padded."""
    if window is None:
        wl = n_fft if win_length is None else operator.index(win_length)
        if wl < 0:
            raise ValueError(f"[{op}] win_length must not be negative.")
        if wl > n_fft:
            raise ValueError(f"[{op}] window length must not exceed n_fft.")
        w = ones((wl,), dt.float32, stream=stream)
    else:
        w = as_array(window, op)
        if w.ndim != 1:
            raise ValueError(f"[{op}] window must be a one-dimensional array.")
        wl = w.shape[0]
        if wl > n_fft:
            raise ValueError(f"[{op}] window length must not exceed n_fft.")
    if wl == n_fft:
        return w
    left = (n_fft - wl) // 2
    return pad(w, (left, n_fft - wl - left), stream=stream)


def _frame_index(n_frames: int, n_fft: int, hop: int) -> array:
    idx = np.arange(n_frames)[:, None] * hop + np.arange(n_fft)[None, :]
    return array(idx.astype(np.int32))


def _on(stream):
    """A context running stream-less ops on ``stream`` (nothing to do for None)."""
    return nullcontext() if stream is None else _stream_ctx(stream)


def _check_norm(norm, op: str) -> None:
    if not isinstance(norm, str) or norm not in NORMS:
        raise ValueError(
            f"[{op}] Invalid norm. Expected one of {{'backward', 'ortho', 'forward'}}."
        )


def stft(
    x, n_fft: int = 2048, hop_length: int | None = None, win_length: int | None = None,
    window=None, center: bool = True, pad_mode: str = "reflect", norm: str = "backward",
    onesided: bool | None = None, stream=None,
) -> array:  # fmt: skip
    """The short-time Fourier transform of ``x`` along its last axis.

    Frames of ``n_fft`` samples every ``hop_length`` (default ``n_fft // 4``) are multiplied by
    ``window`` (default: ``win_length`` ones, centred and zero-padded to ``n_fft``) and
    transformed. With ``center`` the signal is first padded by ``n_fft // 2`` on both sides
    (``pad_mode``: 'reflect', 'constant' or 'edge'). Only non-negative frequencies are kept
    when ``onesided`` (default: for a real ``x``). Returns complex64 of shape
    ``(..., n_freq, n_frames)``."""
    op = "stft"
    x = as_array(x, op)
    if x.ndim == 0:
        raise ValueError(f"[{op}] Input must have at least one dimension.")
    n_fft = _pos(n_fft, op, "n_fft")
    hop = _pos(n_fft // 4 if hop_length is None else hop_length, op, "hop_length")
    w = _window(window, win_length, n_fft, op, stream)
    _check_norm(norm, op)
    if x.shape[-1] == 0:
        raise ValueError(f"[{op}] Input is empty along its last axis.")
    if onesided is None:
        onesided = x.dtype != dt.complex64
    if center:
        if pad_mode not in _PAD_MODES:
            raise ValueError(f"[{op}] Invalid padding mode ({pad_mode}) passed to pad")
        p = n_fft // 2
        x = pad(x, [(0, 0)] * (x.ndim - 1) + [(p, p)], mode=pad_mode, stream=stream)
    length = x.shape[-1]
    if length < n_fft:
        raise ValueError(f"[{op}] Input is too short for the given n_fft.")
    n_frames = 1 + (length - n_fft) // hop
    frames = take(x, _frame_index(n_frames, n_fft, hop), axis=-1, stream=stream)
    frames = multiply(frames, w, stream=stream)
    spec = (rfft if onesided else fft)(frames, axis=-1, norm=norm, stream=stream)
    return swapaxes(spec, -1, -2, stream=stream)


def istft(
    stft_matrix, n_fft: int | None = None, hop_length: int | None = None,
    win_length: int | None = None, window=None, center: bool = True, norm: str = "backward",
    onesided: bool | None = None, length: int | None = None, stream=None,
) -> array:  # fmt: skip
    """The inverse of ``stft``: overlap-add of the windowed inverse transform of each frame,
    divided by the overlap-added squared window (where that is below 1e-8, by 1e-8).

    ``stft_matrix`` has shape ``(..., n_freq, n_frames)``; ``n_fft`` defaults to
    ``2 * (n_freq - 1)`` (``n_freq`` when not ``onesided``). With ``center`` the ``n_fft // 2``
    padded samples are dropped at both ends; ``length`` cuts or zero-pads the result."""
    op = "istft"
    S = as_array(stft_matrix, op)
    if S.ndim < 2:
        raise ValueError(f"[{op}] Input must have at least two dimensions (freq, frames).")
    if onesided is None:
        onesided = True
    n_freq, n_frames = S.shape[-2], S.shape[-1]
    if n_fft is None:
        n_fft = 2 * (n_freq - 1) if onesided else n_freq
    n_fft = _pos(n_fft, op, "n_fft")
    hop = _pos(n_fft // 4 if hop_length is None else hop_length, op, "hop_length")
    w = _window(window, win_length, n_fft, op, stream)
    _check_norm(norm, op)
    if n_frames == 0:
        raise ValueError(f"[{op}] Input has no frames.")
    frames = swapaxes(S, -1, -2, stream=stream)  # (..., n_frames, n_freq)
    if onesided:
        frames = irfft(frames, n=n_fft, axis=-1, norm=norm, stream=stream)
    else:
        frames = real(ifft(frames, n=n_fft, axis=-1, norm=norm, stream=stream), stream=stream)
    frames = multiply(frames, w, stream=stream)
    # Overlap-add: time to the front so one scatter-add sums every frame into place.
    total = n_fft + hop * (n_frames - 1)
    idx = _frame_index(n_frames, n_fft, hop)
    batch = frames.shape[:-2]
    nb = len(batch)
    fr = moveaxis(moveaxis(frames, -2, 0, stream=stream), -1, 1, stream=stream)
    with _on(stream):  # ``a.at[...]`` takes no stream: it runs on the default one
        y = zeros((total, *batch), fr.dtype).at[idx].add(fr)
        wf = astype(w, fr.dtype)  # a bool window's envelope counts overlaps
        ww = multiply(wf, wf)
        env = zeros((total,), ww.dtype).at[idx].add(broadcast_to(ww, (n_frames, n_fft)))
    env = maximum(env, 1e-8, stream=stream)
    y = divide(y, reshape(env, (total,) + (1,) * nb, stream=stream), stream=stream)
    y = moveaxis(y, 0, -1, stream=stream)
    start = n_fft // 2 if center else 0
    if length is None:
        stop = total - start
    else:
        length = max(operator.index(length), 0)
        stop = min(start + length, total)
    with _on(stream):  # indexing takes no stream either
        y = y[..., start : max(stop, start)]
    if length is not None and y.shape[-1] < length:
        y = pad(y, [(0, 0)] * nb + [(0, length - y.shape[-1])], stream=stream)
    return y
