"""``mx.random``: MLX's counter-based generator (threefry 2x32) and its distributions.

A key is a ``(2,)`` uint32 array; the same key and shape give MLX's numbers on every stream.
With ``key=None`` an op takes the next key of the global sequence (``seed`` resets it).
"""

from __future__ import annotations

import math
import threading
import time

import numpy as np

from . import _dtypes as dt
from . import _random_bits as rb
from ._array import array, as_array, constant, node
from ._device import resolve_stream
from .ops import binary as B
from .ops import unary as U
from .ops._util import broadcast_shapes, fmt_shape

__all__ = [
    "key", "split", "seed", "state", "uniform", "normal", "randint", "bernoulli",
    "truncated_normal", "categorical", "gumbel", "laplace", "permutation",
    "multivariate_normal",
]  # fmt: skip

_M32 = 0xFFFFFFFF


# -- keys and the global key sequence -------------------------------------------------------
def _key_array(k0: int, k1: int) -> array:
    return constant(np.array([k0, k1], dtype=np.uint32), dt.uint32)


def key(seed: int) -> array:
    """A PRNG key (a ``(2,)`` uint32 array) from an integer seed."""
    if isinstance(seed, bool) or not isinstance(seed, int):
        try:
            seed = seed.__index__()
        except AttributeError:
            raise TypeError(f"key(): seed must be an int, got {type(seed).__name__}.") from None
    if not 0 <= seed < 2**64:
        raise TypeError("key(): seed must be an int in [0, 2**64).")
    return _key_array((seed >> 32) & _M32, seed & _M32)


class _RandomState:
    """The global key, as a one-element read-only sequence (``mx.random.state``)."""

    __slots__ = ("_k", "_lock", "_draw_hook")

    def __init__(self, s: int) -> None:
        self._lock = threading.Lock()
        self._draw_hook = None  # set by mx.compile while it traces with the state as input
        self._set(s)

    def _set(self, s: int) -> None:
        with self._lock:
            self._k = ((s >> 32) & _M32, s & _M32)

    def _next(self) -> array:
        if self._draw_hook is not None:
            return self._draw_hook()
        return self._advance()

    def _advance(self) -> array:
        """The next key of the sequence, moving it on (whatever hook is set)."""
        with self._lock:
            self._k, sub = rb.split_py(*self._k)
        return _key_array(*sub)

    def __getitem__(self, i):
        return [_key_array(*self._k)][i]

    def __len__(self) -> int:
        return 1

    def __iter__(self):
        return iter([_key_array(*self._k)])


state = _RandomState(int(time.time() * 1000))  # MLX seeds with the time in milliseconds


def seed(seed: int) -> None:
    """Reset the global PRNG to ``key(seed)``."""
    key(seed)  # validates
    state._set(int(seed))


def _key(k, op: str = "bits") -> array:
    """The key to draw from: ``k`` checked, or the next key of the global sequence."""
    if k is None:
        return state._next()
    if not isinstance(k, array):
        raise TypeError(f"[{op}] key must be an array, got {type(k).__name__}.")
    if k._dtype is not dt.uint32:
        raise ValueError(f"[bits] Expected key type uint32 but received {k._dtype.name}.")
    if k._shape != (2,):
        raise ValueError(f"[bits] Expected key shape (2) but received {fmt_shape(k._shape)}.")
    return k


def _shape(shape, op: str) -> tuple:
    if isinstance(shape, (int, float, str)) or shape is None:
        raise TypeError(f"{op}(): shape must be a sequence of ints, got {type(shape).__name__}.")
    out = tuple(int(s.__index__()) for s in shape)
    if any(s < 0 for s in out):
        raise ValueError("[bits] Negative dimensions not allowed.")
    return out


def _dtype(d, op: str) -> dt.Dtype:
    return d if type(d) is dt.Dtype else dt.to_dtype(d, op)


def _bits(shape: tuple, k, s) -> array:
    k = _key(k)
    return node(rb.RandomBits(shape, 4), (k,), shape, dt.uint32, s)


def split(key: array, num: int = 2, stream=None) -> array:
    """``num`` sub keys of ``key``, stacked along the first axis."""
    if isinstance(num, bool) or not isinstance(num, int):
        raise TypeError(f"split(): num must be an int, got {type(num).__name__}.")
    s = resolve_stream(stream)
    if num < 0:
        raise ValueError("[bits] Negative dimensions not allowed.")
    return _bits((num, 2), _key(key), s)


# -- distributions ---------------------------------------------------------------------------
def _u01(shape: tuple, d: dt.Dtype, k, s) -> array:
    if d is dt.float64:
        raise RuntimeError("[uniform] Unsupported type.")
    return node(rb.Uniform01(shape, d), (_key(k),), shape, d, s)


def _fn32(name: str, x: array, s) -> array:
    """One of MLX's float32 functions (log, erf, erfinv) on ``x``, result in ``x``'s dtype."""
    d = x._dtype
    y = node(rb.Float32Fn(name), (U.cast(x, dt.float32, s),), x._shape, dt.float32, s)
    return U.cast(y, d, s)


def _in_dtype(x, d: dt.Dtype, s, op: str) -> array:
    """``x`` as dtype ``d``: Python scalars convert straight to ``d``, as MLX's binding does."""
    if isinstance(x, (int, float)) and not isinstance(x, bool):
        return _const(x, d)
    return U.cast(as_array(x, op), d, s)


def _const(v, d: dt.Dtype) -> array:
    return constant(np.asarray(v, dtype=d.np), d)


def uniform(low=0, high=1, shape=(), dtype=dt.float32, key=None, stream=None) -> array:
    """Uniform samples in ``[low, high)``."""
    s = resolve_stream(stream)
    d = _dtype(dtype, "uniform")
    shape = _shape(shape, "uniform")
    if d.kind != "f":
        raise ValueError(
            "[uniform] Can only generate uniform numbers with real floating point type."
        )
    if type(low) is int and type(high) is int and low == 0 and high == 1:
        return _u01(shape, d, key, s)  # range * u + low is u itself
    lo = _in_dtype(low, d, s, "uniform")
    hi = _in_dtype(high, d, s, "uniform")
    rng = B.subtract(hi, lo, stream=s)
    out_shape = broadcast_shapes(shape, rng._shape, op="broadcast_shapes")
    if out_shape != shape:
        raise ValueError(
            f"[uniform] Cannot generate random values of shape {fmt_shape(shape)} "
            f"from broadcasted shape {fmt_shape(out_shape)}."
        )
    u = _u01(shape, d, key, s)
    return B.add(B.multiply(rng, u, stream=s), lo, stream=s)


_NEXT_BELOW_M1 = float(np.nextafter(np.float32(-1.0), np.float32(0.0)))


def _std_normal(shape: tuple, d: dt.Dtype, k, s) -> array:
    """``erfinv`` of a float32 uniform in (-1, 1), in dtype ``d`` (before the sqrt(2) scale)."""
    u = uniform(_NEXT_BELOW_M1, 1.0, shape, dt.float32, k, stream=s)
    e = node(rb.Float32Fn("erfinv"), (u,), shape, dt.float32, s)
    return U.cast(e, d, s)


def normal(shape=(), dtype=dt.float32, loc=None, scale=None, key=None, stream=None) -> array:
    """Normal samples with mean ``loc`` and standard deviation ``scale``."""
    s = resolve_stream(stream)
    d = _dtype(dtype, "normal")
    shape = _shape(shape, "normal")
    if d.kind not in "fc":
        raise ValueError("[normal] Only floating point and complex64 types are supported.")
    if d is dt.complex64:
        return _complex_normal(shape, loc, scale, key, s)
    scale_a = None if scale is None else _in_dtype(scale, d, s, "normal")
    loc_a = None if loc is None else _in_dtype(loc, d, s, "normal")
    out_shape = shape
    if scale_a is not None:
        out_shape = broadcast_shapes(scale_a._shape, out_shape, op="broadcast_shapes")
    if loc_a is not None:
        out_shape = broadcast_shapes(loc_a._shape, out_shape, op="broadcast_shapes")
    applied = _const(math.sqrt(2.0), d)
    if scale_a is not None:
        applied = B.multiply(applied, scale_a, stream=s)
    out = B.multiply(applied, _std_normal(shape, d, key, s), stream=s)
    if loc_a is not None:
        out = B.add(loc_a, out, stream=s)
    return out


def _complex_normal(shape, loc, scale, k, s) -> array:
    f = normal(shape + (2,), dt.float32, key=k, stream=s)
    z = node(_AS_COMPLEX, (f,), shape, dt.complex64, s)
    z = B.multiply(z, _const(math.sqrt(0.5), dt.complex64), stream=s)
    if scale is not None:
        z = B.multiply(U.cast(as_array(scale, "normal"), dt.complex64, s), z, stream=s)
    if loc is not None:
        z = B.add(U.cast(as_array(loc, "normal"), dt.complex64, s), z, stream=s)
    return z


class _AsComplex(rb.Primitive):
    __slots__ = ()
    name = "as_complex"
    vjp, jvp, vmap = rb.zero_vjp, rb.zero_jvp, rb.vmap_by_loop  # random samples: no gradient

    def eval(self, xp, x):
        x = xp.ascontiguousarray(x)
        return x.view(np.complex64).reshape(x.shape[:-1])


_AS_COMPLEX = _AsComplex()


def randint(low, high, shape=(), dtype=dt.int32, key=None, stream=None) -> array:
    """Random integers in ``[low, high)`` (drawn from a float32 uniform, then clamped)."""
    s = resolve_stream(stream)
    d = _dtype(dtype, "randint")
    if d.kind not in "biu":
        raise ValueError("[randint] randint only accepts integer dtypes and bool.")
    lo = as_array(low, "randint")
    hi = as_array(high, "randint")
    u = uniform(lo, hi, shape, dt.float32, key, stream=s)
    out = U.cast(U.floor(u, stream=s), d, s)
    out = B.minimum(out, U.cast(B.subtract(hi, 1, stream=s), d, s), stream=s)
    return B.maximum(out, U.cast(lo, d, s), stream=s)


def bernoulli(p=0.5, shape=None, key=None, stream=None) -> array:
    """Booleans that are True with probability ``p``."""
    s = resolve_stream(stream)
    p = as_array(p, "bernoulli")
    if p._dtype.kind != "f":
        raise ValueError("[bernoulli] bernoulli probability `p` must be a float type.")
    shape = p._shape if shape is None else _shape(shape, "bernoulli")
    if broadcast_shapes(shape, p._shape, op="broadcast_shapes") != shape:
        raise ValueError("[bernoulli] shape of `p` is incompatible with argument `shape`.")
    d = dt.float32 if p._dtype is dt.float64 else p._dtype
    return B.less(uniform(shape=shape, dtype=d, key=key, stream=s), p, stream=s)


def truncated_normal(lower, upper, shape=None, dtype=dt.float32, key=None, stream=None) -> array:
    """Normal samples truncated to ``(lower, upper)``."""
    s = resolve_stream(stream)
    d = _dtype(dtype, "truncated_normal")
    if d.kind != "f":
        raise ValueError("[trunc_normal] trunc_normal only accepts floating point dtypes.")
    lo = U.cast(as_array(lower, "truncated_normal"), d, s)
    hi = U.cast(as_array(upper, "truncated_normal"), d, s)
    if shape is None:
        shape = broadcast_shapes(lo._shape, hi._shape, op="broadcast_shapes")
    else:
        shape = _shape(shape, "truncated_normal")
    sqrt2 = _const(math.sqrt(2.0), d)
    a = _fn32("erf", B.divide(lo, sqrt2, stream=s), s)
    b = _fn32("erf", B.divide(hi, sqrt2, stream=s), s)
    u = uniform(a, b, shape, d, key, stream=s)
    out = B.multiply(sqrt2, _fn32("erfinv", u, s), stream=s)
    return B.maximum(B.minimum(hi, out, stream=s), lo, stream=s)


def gumbel(shape=(), dtype=dt.float32, key=None, stream=None) -> array:
    """Samples of the standard Gumbel distribution (CDF ``exp(-exp(-x))``)."""
    s = resolve_stream(stream)
    u = uniform(shape=shape, dtype=dtype, key=key, stream=s)
    inner = U.negative(_fn32("log", u, s), stream=s)
    return U.negative(_fn32("log", inner, s), stream=s)


def laplace(shape=(), dtype=dt.float32, loc=0.0, scale=1.0, key=None, stream=None) -> array:
    """Samples of the Laplace distribution with location ``loc`` and scale ``scale``."""
    s = resolve_stream(stream)
    d = _dtype(dtype, "laplace")
    if d.kind != "f":
        raise ValueError("[laplace] Only real floating point types are supported.")
    u = uniform(_NEXT_BELOW_M1, 1.0, shape, dt.float32, key, stream=s)
    # MLX transforms float64 samples in float64 (the float32 draws widened first), the
    # narrower dtypes in float32
    w = d if d is dt.float64 else dt.float32
    u = U.cast(u, w, s)
    mag = U.log1p(B.multiply(_const(-1.0, w), U.abs(u, stream=s), stream=s), stream=s)
    out = U.cast(B.multiply(U.sign(u, stream=s), mag, stream=s), d, s)
    if scale != 1.0:
        out = B.multiply(_const(scale, d), out, stream=s)
    if loc != 0.0:
        out = B.add(_const(loc, d), out, stream=s)
    return out


def categorical(
    logits, axis: int = -1, shape=None, num_samples=None, key=None, stream=None
) -> array:
    """Indices (uint32) sampled from the categorical distributions given by ``logits``."""
    s = resolve_stream(stream)
    logits = as_array(logits, "categorical")
    nd = logits.ndim
    if not -nd <= axis < nd:
        raise IndexError(f"[categorical] Invalid axis {axis} for logits with {nd} dimensions.")
    axis = axis % nd
    if shape is not None and num_samples is not None:
        raise ValueError("[categorical] At most one of shape or num_samples can be specified.")
    reduced = logits._shape[:axis] + logits._shape[axis + 1 :]
    if num_samples is not None:
        logits = node(_EXPAND_LAST, (logits,), logits._shape + (1,), logits._dtype, s)
        shape = reduced + (int(num_samples),)
        nd += 1
    elif shape is None:
        shape = reduced
    else:
        shape = _shape(shape, "categorical")
        if broadcast_shapes(shape, reduced, op="broadcast_shapes") != shape:
            raise ValueError(
                "[categorical] Requested shape does not broadcast with logits reduced shape."
            )
    if any(x < 0 for x in shape):
        raise ValueError("[bits] Negative dimensions not allowed.")
    offset = axis + len(shape) - nd + 1
    n = logits._shape[axis]
    gshape = shape[:offset] + (n,) + shape[offset:]
    if n == 0 or 0 in gshape:
        if n == 0:
            raise ValueError("[argmax] Cannot argmax reduce zero size array.")
    if shape and math.prod(reduced) == 1:
        return _categorical_inverse_cdf(logits, axis, n, shape, key, s)
    g = gumbel(gshape, dt.float32, key, stream=s)
    z = B.add(g, logits, stream=s)
    return node(
        rb.ArgmaxFirst(offset), (z,), z._shape[:offset] + z._shape[offset + 1 :], dt.uint32, s
    )


def _categorical_inverse_cdf(logits, axis: int, n: int, shape: tuple, key, s) -> array:
    """MLX's sampler for a single distribution: one uniform draw per sample, looked up
    in the unnormalized float32 CDF (``u * total`` against ``cumsum(exp(l - max))``)."""
    from .ops.reduce import max as _max
    from .ops.scan import cumsum
    from .ops.sort import searchsorted

    x = U.cast(logits, dt.float32, s).reshape((n,))
    e = U.exp(B.subtract(x, _max(x, stream=s), stream=s), stream=s)
    c = cumsum(e, stream=s)
    u = uniform(0.0, 1.0, shape, dt.float32, key, stream=s)
    idx = searchsorted(c, B.multiply(u, c[n - 1], stream=s), side="right", stream=s)
    idx = B.minimum(idx, _const(n - 1, idx._dtype), stream=s)  # rounding can pass the top
    return U.cast(idx, dt.uint32, s)


class _ExpandLast(rb.Primitive):
    __slots__ = ()
    name = "expand_dims"
    vjp, jvp, vmap = rb.zero_vjp, rb.zero_jvp, rb.vmap_by_loop  # only applied to random bits

    def eval(self, xp, x):
        return x[..., None]


_EXPAND_LAST = _ExpandLast()


def permutation(x, axis: int = 0, key=None, stream=None) -> array:
    """A random permutation of ``range(x)``, or ``x`` shuffled along ``axis``."""
    s = resolve_stream(stream)
    if isinstance(x, int) and not isinstance(x, bool):
        if x < 0:
            raise ValueError("[bits] Negative dimensions not allowed.")
        b = _bits((x,), key, s)
        ar = constant(np.arange(x, dtype=np.uint32), dt.uint32)
        return node(rb.PermuteBy(0), (ar, b), (x,), dt.uint32, s)
    x = as_array(x, "permutation")
    if not -x.ndim <= axis < x.ndim:
        raise IndexError("SmallVector out of range.")
    axis %= x.ndim
    b = _bits((x._shape[axis],), key, s)
    return node(rb.PermuteBy(axis), (x, b), x._shape, x._dtype, s)


def multivariate_normal(mean, cov, shape=(), dtype=dt.float32, key=None, stream=None) -> array:
    """Jointly normal samples with mean ``mean`` (..., n) and covariance ``cov`` (..., n, n)."""
    s = resolve_stream(stream)
    d = _dtype(dtype, "multivariate_normal")
    mean = as_array(mean, "multivariate_normal")
    cov = as_array(cov, "multivariate_normal")
    shape = _shape(shape, "multivariate_normal")
    if d is not dt.float32:
        raise ValueError("[multivariate_normal] dtype must be float32.")
    if mean.ndim < 1:
        raise ValueError("[multivariate_normal] mean must have at least one dimension.")
    if cov.ndim < 2:
        raise ValueError("[multivariate_normal] cov must have at least two dimensions.")
    n = mean._shape[-1]
    if cov._shape[-1] != cov._shape[-2]:
        raise ValueError("[multivariate_normal] last two dimensions of cov must be equal.")
    if n != cov._shape[-1]:
        raise ValueError("[multivariate_normal] mean and cov must have compatible shapes.")
    batch = broadcast_shapes(shape, mean._shape[:-1], cov._shape[:-2], op="broadcast_shapes")
    z = normal(batch + (n,), d, key=key, stream=s)
    cov32 = U.cast(cov, dt.float32, s)
    scaled = node(rb.MvnScale(), (z, cov32), z._shape, dt.float32, s)
    return B.add(mean, scaled, stream=s)
