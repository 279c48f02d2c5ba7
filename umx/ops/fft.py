"""The discrete Fourier transform primitive behind ``mx.fft``.

One primitive covers the four transforms: complex to complex (forward or inverse), real to
complex (``rfftn``) and complex to real (``irfftn``), over a tuple of axes with the logical
transform length of each. The kernel is ``xp.fft`` (pocketfft through NumPy on the CPU,
cuFFT through CuPy on the GPU), which zero-pads or truncates each axis to its length itself,
so padding costs no extra graph node. As in MLX, everything is computed in single
precision: complex inputs are complex64, real inputs float32.
"""

from __future__ import annotations

import operator

import numpy as np

from .. import _dtypes as dt
from .._array import array, node
from .._device import resolve_stream
from .._primitive import Primitive
from ._util import fmt_shape
from .unary import cast

__all__: list = []  # the public names live in umx.fft
METHODS: dict = {}

NORMS = ("backward", "ortho", "forward")
# The norm whose scaling makes a transform's adjoint: backward (no scaling one way, 1/n the
# other) pairs with forward; ortho is its own dual.
_DUAL = {"backward": "forward", "ortho": "ortho", "forward": "backward"}
_C64 = np.dtype(np.complex64)
_F32 = np.dtype(np.float32)


class FFT(Primitive):
    """A DFT over ``axes`` with logical lengths ``sizes``.

    ``real`` and ``inverse`` pick the kind: c2c forward / inverse, r2c (``real`` forward: the
    last axis keeps ``n // 2 + 1`` bins) or c2r (``real`` inverse: the last axis becomes
    ``sizes[-1]`` real samples, the input's last axis read at ``n // 2 + 1`` bins).
    """

    __slots__ = ("axes", "sizes", "inverse", "real", "norm")
    name = "fft"

    def __init__(self, axes: tuple, sizes: tuple, inverse: bool, real: bool, norm: str) -> None:
        self.axes = axes
        self.sizes = sizes
        self.inverse = inverse
        self.real = real
        self.norm = norm

    def out_shape(self, shape: tuple) -> tuple:
        out = list(shape)
        for ax, n in zip(self.axes, self.sizes):
            out[ax] = n
        if self.real and not self.inverse:
            out[self.axes[-1]] = self.sizes[-1] // 2 + 1
        return tuple(out)

    def out_dtype(self) -> dt.Dtype:
        return dt.float32 if (self.real and self.inverse) else dt.complex64

    def eval(self, xp, x):
        out_np = _F32 if (self.real and self.inverse) else _C64
        if x.size == 0:  # nothing to transform (a zero-sized batch axis, or padding from 0)
            return xp.zeros(self.out_shape(x.shape), out_np)
        f = xp.fft
        if self.real:
            fn = f.irfftn if self.inverse else f.rfftn
        else:
            fn = f.ifftn if self.inverse else f.fftn
        out = fn(x, s=self.sizes, axes=self.axes, norm=self.norm)
        return out.astype(out_np, copy=False)

    def __call__(self, x: array) -> array:
        """This transform applied to ``x`` (of the input dtype) on the current stream."""
        st = resolve_stream(None)
        x = cast(x, dt.float32 if (self.real and not self.inverse) else dt.complex64, st)
        return node(self, (x,), self.out_shape(x.shape), self.out_dtype(), st)


def fft_op(a: array, s, axes, inverse: bool, real: bool, norm: str, op: str, stream) -> array:
    """The transform named ``op``: check the arguments as MLX does, cast ``a`` to the dtype
    the kernel reads, and make the node. ``s`` and ``axes`` are as given by the user."""
    if not isinstance(norm, str) or norm not in NORMS:
        raise ValueError(
            f"[{op}] Invalid norm. Expected one of {{'backward', 'ortho', 'forward'}}."
        )
    nd = a.ndim
    if s is None:
        if axes is None:
            if nd == 0:
                raise ValueError(f"[{op}] Requires array with at least one dimension.")
            axes = tuple(range(nd))
        axes = _ints(axes, op, "axes")
        norm_axes = tuple(_axis(ax, nd, op) for ax in axes)
        sizes = [a.shape[ax] for ax in norm_axes]
        if real and inverse and sizes:
            sizes[-1] = 2 * (sizes[-1] - 1)
    else:
        if axes is None:
            raise ValueError(f"[{op}] `axes` should not be `None` if `s` is not `None`.")
        axes = _ints(axes, op, "axes")
        sizes = list(_ints(s, op, "s"))
        if len(sizes) != len(axes):
            raise ValueError(f"[{op}] Shape and axes have different sizes.")
        norm_axes = None
    if len(set(ax % nd if nd and -nd <= ax < nd else ax for ax in axes)) != len(axes):
        raise ValueError(f"[{op}] Duplicated axis received {fmt_shape(axes)}")
    if any(n <= 0 for n in sizes):
        raise ValueError(f"[{op}] Invalid FFT output size requested {fmt_shape(sizes)}")
    if norm_axes is None:
        norm_axes = tuple(_axis(ax, nd, op) for ax in axes)
    if nd == 0:
        raise ValueError(f"[{op}] Requires array with at least one dimension.")
    if not norm_axes:  # nothing to transform: MLX hands the input back as it is
        return a
    st = resolve_stream(stream)
    a = cast(a, dt.float32 if (real and not inverse) else dt.complex64, st)
    prim = FFT(norm_axes, tuple(sizes), bool(inverse), bool(real), norm)
    return node(prim, (a,), prim.out_shape(a.shape), prim.out_dtype(), st)


def _int(v, op: str, what: str) -> int:
    try:
        return operator.index(v)
    except TypeError:
        raise TypeError(f"[{op}] {what} must be integers, got {type(v).__name__}.") from None


def _ints(v, op: str, what: str) -> tuple:
    if isinstance(v, (str, bytes)) or not hasattr(v, "__iter__"):
        raise TypeError(f"[{op}] {what} must be a sequence of integers, got {type(v).__name__}.")
    return tuple(_int(x, op, what) for x in v)


def _axis(ax: int, nd: int, op: str) -> int:
    if not -nd <= ax < nd:
        raise IndexError(f"[{op}] Invalid axis {ax} for array with {nd} dimensions.")
    return ax + nd if ax < 0 else ax


# -- transform rules ---------------------------------------------------------------------------
# A DFT is linear: the jvp is the same transform of the tangent, and the vjp its adjoint with
# MLX's convention for complex cotangents (the conjugate-transpose, A^H c): the opposite
# transform with the dual norm at the same lengths, then each axis cut or zero-padded back to
# the input's length. r2c's adjoint fills the missing half of the spectrum with zeros and keeps
# the real part; c2r's is r2c with the bins that stand for two (conjugate) frequencies doubled.

import umx as mx  # noqa: E402 - the package, for the ops the rules are written with

from .._rules import move_to_front  # noqa: E402


def _fit(g: array, axes: tuple, shape: tuple) -> array:
    """``g`` cut or zero-padded on ``axes`` to the lengths of ``shape``."""
    pads = [(0, 0)] * g.ndim
    key = [slice(None)] * g.ndim
    cut = padded = False
    for ax in axes:
        have, want = g.shape[ax], shape[ax]
        if have > want:
            key[ax] = slice(0, want)
            cut = True
        elif have < want:
            pads[ax] = (0, want - have)
            padded = True
    if cut:
        g = g[tuple(key)]
    if padded:
        g = mx.pad(g, pads)
    return g


def _fft_vjp(self, primals, cotangents, argnums, outputs):
    x = primals[0]
    c = cotangents[0]
    axes, sizes, dual = self.axes, self.sizes, _DUAL[self.norm]
    if not self.real:
        g = FFT(axes, sizes, not self.inverse, False, dual)(c)
    elif not self.inverse:  # r2c
        full = list(c.shape)
        full[axes[-1]] = sizes[-1]
        c = _fit(mx.astype(c, dt.complex64), (axes[-1],), tuple(full))
        g = mx.real(FFT(axes, sizes, True, False, dual)(c))
    else:  # c2r
        g = FFT(axes, sizes, False, True, dual)(c)
        n = sizes[-1]
        m = n // 2 + 1
        w = np.full(m, 2.0, np.float32)
        w[0] = 1.0
        if n % 2 == 0:
            w[-1] = 1.0
        shape = [1] * g.ndim
        shape[axes[-1]] = m
        g = mx.multiply(g, mx.array(w.reshape(shape)))
    return [_fit(g, axes, x.shape)]


def _fft_jvp(self, primals, tangents, argnums):
    return [self(tangents[0])]


def _fft_vmap(self, inputs, axes):
    if axes[0] is None:
        return [self(inputs[0])], [None]
    x = move_to_front(inputs[0], axes[0])
    prim = FFT(tuple(a + 1 for a in self.axes), self.sizes, self.inverse, self.real, self.norm)
    return [prim(x)], [0]


FFT.vjp = _fft_vjp
FFT.jvp = _fft_jvp
FFT.vmap = _fft_vmap
