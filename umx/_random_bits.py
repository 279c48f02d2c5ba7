"""Kernels behind ``mx.random``: MLX's threefry 2x32 generator and its float conversions.

Everything here is written against an array module ``xp`` (NumPy on the CPU, CuPy on the GPU)
with integer and float64 arithmetic only, so both backends give the same bits as MLX's CPU
backend: the transcendental functions MLX uses on the way (``logf`` from glibc, MLX's own
``erfinv``, ``erf`` and ``exp``) are reproduced operation by operation.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from . import _dtypes as dt
from ._primitive import Primitive
from ._rules import vmap_by_loop, zero_jvp, zero_vjp

_M32 = 0xFFFFFFFF
_PARITY = 0x1BD11BDA
_ROT = ((13, 15, 26, 6), (17, 29, 16, 24))
# Blocks hashed per call on the CPU: fewer calls, a working set (1 MiB) near L2 (measured best).
_CHUNK = 1 << 16
_U32 = np.uint32


# -- threefry 2x32, 20 rounds (Random123's rotations), as MLX lays it out ------------------
def hash_py(k0: int, k1: int, c0: int, c1: int) -> tuple[int, int]:
    """One threefry2x32 block on Python ints (for the global key sequence)."""
    ks = (k0, k1, k0 ^ k1 ^ _PARITY)
    x0 = (c0 + ks[0]) & _M32
    x1 = (c1 + ks[1]) & _M32
    for i in range(5):
        for r in _ROT[i % 2]:
            x0 = (x0 + x1) & _M32
            x1 = ((x1 << r) | (x1 >> (32 - r))) & _M32
            x1 ^= x0
        x0 = (x0 + ks[(i + 1) % 3]) & _M32
        x1 = (x1 + ks[(i + 2) % 3] + i + 1) & _M32
    return x0, x1


def split_py(k0: int, k1: int) -> tuple[tuple[int, int], tuple[int, int]]:
    """``split(key)`` on the host: the two sub keys as pairs of ints."""
    a0, b0 = hash_py(k0, k1, 0, 2)
    a1, b1 = hash_py(k0, k1, 1, 3)
    return (a0, a1), (b0, b1)


def _schedule(key):
    """The key schedule (host): the two key words and the words injected every 4 rounds."""
    k0, k1 = int(key[0]), int(key[1])
    ks = (k0, k1, k0 ^ k1 ^ _PARITY)
    inj = [(_U32(ks[(i + 1) % 3]), _U32((ks[(i + 2) % 3] + i + 1) & _M32)) for i in range(5)]
    return k0, k1, inj


def _rounds(xp, inj, x0, x1, t, both=None) -> None:
    """The 20 threefry rounds on counters already offset by the key, in place.

    ``both`` is an optional (2, c) view holding ``x0`` and ``x1`` as its rows: the key
    injections then take one call each instead of two.
    """
    lsh, rsh, add, bor, bxor = xp.left_shift, xp.right_shift, xp.add, xp.bitwise_or, xp.bitwise_xor
    for i in range(5):
        for r, rr in _ROT_U32[i % 2]:
            add(x0, x1, out=x0)
            lsh(x1, r, out=t)
            rsh(x1, rr, out=x1)
            bor(x1, t, out=x1)
            bxor(x1, x0, out=x1)
        a, b = inj[i]
        if both is None:
            add(x0, a, out=x0)
            add(x1, b, out=x1)
        else:
            add(both, inj[5 + i], out=both)


_ROT_U32 = tuple(tuple((_U32(r), _U32(32 - r)) for r in rs) for rs in _ROT)
_POOL = None
_NTHREADS = max(1, min(8, os.cpu_count() or 1))
_LOCAL = threading.local()


def _pool():
    global _POOL
    if _POOL is None:
        _POOL = ThreadPoolExecutor(_NTHREADS, thread_name_prefix="umx-random")
    return _POOL


def _scratch(c: int):
    """This thread's work buffers: a counter ramp, the (2, c) state and a temporary."""
    bufs = getattr(_LOCAL, "bufs", None)
    if bufs is None or bufs[0].shape[0] < c:
        n = max(c, _CHUNK)
        bufs = _LOCAL.bufs = (
            np.arange(n, dtype=np.uint32),
            np.empty((2, n), np.uint32),
            np.empty(n, np.uint32),
        )
    ar, x, t = bufs
    return ar[:c], x[:, :c], t[:c]


def _blocks(xp, key, n: int, sink) -> None:
    """Generate the words MLX draws from ``key`` for ``n`` outputs; hand them to ``sink``.

    MLX hashes counter pairs ``(j, j + m)`` for ``j < n // 2`` (``m = ceil(n / 2)``): the first
    word of each block lands at ``j``, the second at ``j + m``; an odd ``n`` takes the first
    word of block ``(n // 2, 0)`` at position ``n // 2``. ``sink(s, e, x)`` receives a
    (2, e - s) uint32 array: row 0 for positions ``[s, e)``, row 1 for ``[m + s, m + e)``
    (for odd ``n`` the last word of row 1 is past the end: a sink writing into a buffer of
    ``2 m`` words may keep it). The array is reused: the sink copies what it keeps.
    """
    if n == 0:
        return
    m = (n + 1) // 2
    odd = n & 1
    if xp is not np:  # one fused kernel on the device: counters, 20 rounds, one write
        x = xp.empty((2, m), dtype=np.uint32)
        _threefry_kernel(xp)(key, _U32(m), bool(odd), x, size=m)
        sink(0, m, x)
        return

    k0, k1, inj = _schedule(key)
    inj = inj + [np.array([[a], [b]], dtype=np.uint32) for a, b in inj]

    def run(s, e):
        c = e - s
        ar, x, t = _scratch(c)
        np.add(ar, np.array([[(s + k0) & _M32], [(s + m + k1) & _M32]], np.uint32), out=x)
        if odd and e == m:
            x[1, c - 1] = k1
        _rounds(np, inj, x[0], x[1], t, x)
        sink(s, e, x)

    ranges = [(s, min(m, s + _CHUNK)) for s in range(0, m, _CHUNK)]
    if _NTHREADS == 1 or len(ranges) < 4:
        for r in ranges:
            run(*r)
        return
    # NumPy releases the GIL inside each ufunc: the threads take contiguous runs of blocks.
    per = -(-len(ranges) // _NTHREADS)
    groups = [ranges[i : i + per] for i in range(0, len(ranges), per)]
    futs = [_pool().submit(lambda g=g: [run(*r) for r in g]) for g in groups]
    for f in futs:
        f.result()


_THREEFRY_CUDA = """
unsigned int c0 = (unsigned int)i, c1 = c0 + m;
if (odd && c0 == m - 1) c1 = 0;
const unsigned int k0 = key[0], k1 = key[1];
unsigned int ks[3] = {k0, k1, k0 ^ k1 ^ 0x1BD11BDAu};
unsigned int x0 = c0 + ks[0], x1 = c1 + ks[1];
const int rot[2][4] = {{13, 15, 26, 6}, {17, 29, 16, 24}};
for (int r = 0; r < 5; ++r) {
    for (int q = 0; q < 4; ++q) {
        int s = rot[r & 1][q];
        x0 += x1;
        x1 = (x1 << s) | (x1 >> (32 - s));
        x1 ^= x0;
    }
    x0 += ks[(r + 1) % 3];
    x1 += ks[(r + 2) % 3] + (unsigned int)(r + 1);
}
x[i] = x0;
x[i + m] = x1;
"""
_KERNEL = None


def _threefry_kernel(cupy):
    """The GPU generator: one thread per counter pair, the same words as ``_rounds``."""
    global _KERNEL
    if _KERNEL is None:
        _KERNEL = cupy.ElementwiseKernel(
            "raw uint32 key, uint32 m, bool odd", "raw uint32 x", _THREEFRY_CUDA,
            "umx_threefry2x32",
        )  # fmt: skip
    return _KERNEL


def random_words(xp, key, n: int):
    """The ``n`` uint32 words MLX's ``bits`` draws from ``key`` (a (2,) uint32 buffer)."""
    m = (n + 1) // 2
    out = xp.empty(2 * m, dtype=np.uint32)
    out2 = out.reshape(2, m)

    def sink(s, e, x):
        out2[:, s:e] = x

    _blocks(xp, key, n, sink)
    return out[:n]


# -- primitives ------------------------------------------------------------------------------
class RandomBits(Primitive):
    """Raw random bits of ``width`` bytes per element drawn from a key."""

    # Samples do not depend differentiably on the key (MLX: zero gradient); batched keys
    # draw independently, slice by slice.
    vjp = zero_vjp
    jvp = zero_jvp
    vmap = vmap_by_loop

    __slots__ = ("shape", "width")
    name = "random_bits"

    def __init__(self, shape: tuple, width: int) -> None:
        self.shape = shape
        self.width = width

    def eval(self, xp, key):
        size = 1
        for s in self.shape:
            size *= s
        nbytes = size * self.width
        w = random_words(xp, key, (nbytes + 3) // 4)
        d = {4: np.uint32, 2: np.uint16, 1: np.uint8}[self.width]
        if self.width != 4:
            w = w.view(np.uint8)[:nbytes].view(d)
        return w.reshape(self.shape)


# MLX divides by float(UINT32_MAX), which is 2**32 in float32: multiplying by 2**-32 is the
# same operation, exactly.
_INV32 = np.float32(2.0**-32)


def below_one(d: dt.Dtype):
    """The largest value below 1 in ``d``: where MLX clamps its uniform samples."""
    one = np.ones((), d.np)
    return (one.view(np.uint16 if d.size == 2 else np.uint32) - 1).view(d.np)[()]


class Uniform01(Primitive):
    """Uniform samples in ``[0, 1)`` of a float dtype, as MLX maps 32 bits to a float."""

    # Samples do not depend differentiably on the key (MLX: zero gradient); batched keys
    # draw independently, slice by slice.
    vjp = zero_vjp
    jvp = zero_jvp
    vmap = vmap_by_loop

    __slots__ = ("shape", "dtype")
    name = "uniform"

    def __init__(self, shape: tuple, dtype: dt.Dtype) -> None:
        self.shape = shape
        self.dtype = dtype

    def eval(self, xp, key):
        n = 1
        for s in self.shape:
            n *= s
        m = (n + 1) // 2
        d = self.dtype
        direct = d is dt.float32
        out = xp.empty(2 * m, dtype=np.float32 if direct else d.np)
        top = below_one(d)
        mul, mini = xp.multiply, xp.minimum

        out2 = out.reshape(2, m)

        def sink(s, e, x):
            o = out2[:, s:e]
            if direct and xp is np:
                mul(x, _INV32, out=o, dtype=np.float32, casting="unsafe")
                mini(o, top, out=o)
            else:
                f = x.astype(np.float32) * _INV32
                o[...] = mini(f.astype(d.np), top)

        _blocks(xp, key, n, sink)
        return out[:n].reshape(self.shape)


# -- MLX's float32 transcendental functions, bit for bit -----------------------------------
def _hx(s: str) -> float:
    return float.fromhex(s)


# glibc's logf (the table-driven one from Arm's optimized routines), which MLX's CPU calls.
_LOGF_TAB = [
    ("0x1.661ec79f8f3bep+0", "-0x1.57bf7808caadep-2"), ("0x1.571ed4aaf883dp+0", "-0x1.2bef0a7c06ddbp-2"),
    ("0x1.49539f0f010bp+0", "-0x1.01eae7f513a67p-2"), ("0x1.3c995b0b80385p+0", "-0x1.b31d8a68224e9p-3"),
    ("0x1.30d190c8864a5p+0", "-0x1.6574f0ac07758p-3"), ("0x1.25e227b0b8eap+0", "-0x1.1aa2bc79c81p-3"),
    ("0x1.1bb4a4a1a343fp+0", "-0x1.a4e76ce8c0e5ep-4"), ("0x1.12358f08ae5bap+0", "-0x1.1973c5a611cccp-4"),
    ("0x1.0953f419900a7p+0", "-0x1.252f438e10c1ep-5"), ("0x1p+0", "0x0p+0"),
    ("0x1.e608cfd9a47acp-1", "0x1.aa5aa5df25984p-5"), ("0x1.ca4b31f026aap-1", "0x1.c5e53aa362eb4p-4"),
    ("0x1.b2036576afce6p-1", "0x1.526e57720db08p-3"), ("0x1.9c2d163a1aa2dp-1", "0x1.bc2860d22477p-3"),
    ("0x1.886e6037841edp-1", "0x1.1058bc8a07ee1p-2"), ("0x1.767dcf5534862p-1", "0x1.4043057b6ee09p-2"),
]  # fmt: skip
_LOGF_INVC = np.array([_hx(a) for a, _ in _LOGF_TAB])
_LOGF_LOGC = np.array([_hx(b) for _, b in _LOGF_TAB])
_LOGF_LN2 = _hx("0x1.62e42fefa39efp-1")
_LOGF_A = (_hx("-0x1.00ea348b88334p-2"), _hx("0x1.5575b0be00b6ap-2"), _hx("-0x1.ffffef20a4123p-2"))


def logf(xp, x):
    """glibc's ``logf`` on a float32 buffer (correct to the last bit, specials included)."""
    x = xp.asarray(x, dtype=np.float32)
    ix = x.view(np.uint32)
    sub = ix < _U32(0x00800000)
    if bool(sub.any()):
        scaled = (x * np.float32(2.0**23)).view(np.uint32) - _U32(23 << 23)
        ix = xp.where(sub, scaled, ix)
    tmp = ix - _U32(0x3F330000)
    i = (tmp >> _U32(19)) & _U32(15)
    k = (tmp.view(np.int32) >> 23).astype(np.float64)
    z = (ix - (tmp & _U32(0xFF800000))).view(np.float32).astype(np.float64)
    invc, logc = _LOGF_INVC, _LOGF_LOGC
    if xp is not np:
        invc, logc = xp.asarray(invc), xp.asarray(logc)
    r = z * invc[i] - 1.0
    y0 = logc[i] + k * _LOGF_LN2
    r2 = r * r
    y = _LOGF_A[1] * r + _LOGF_A[2]
    y = _LOGF_A[0] * r2 + y
    y = y * r2 + (y0 + r)
    out = y.astype(np.float32)
    special = (x <= 0) | ~xp.isfinite(x) | (ix == _U32(0x3F800000))
    if bool(special.any()):
        with np.errstate(all="ignore"):
            out = xp.where(x == 1, np.float32(0), out)
            out = xp.where(x == 0, np.float32(-np.inf), out)
            out = xp.where((x < 0) | xp.isnan(x), np.float32(np.nan), out)
            out = xp.where(xp.isinf(x) & (x > 0), x, out)
    return out


def _fma(a, b, c):
    """float32 fused multiply-add: the product is exact in float64, the sum rounds once
    in float64 then to float32 (a double rounding that never bites at these magnitudes)."""
    return (a.astype(np.float64) * b + c).astype(np.float32)


_ERFINV_LHS = (
    3.03697567e-10, 2.93243101e-8, 1.22150334e-6, 2.84108955e-5, 3.93552968e-4,
    3.02698812e-3, 4.83185798e-3, -2.64646143e-1, 8.40016484e-1,
)  # fmt: skip
_ERFINV_RHS = (
    5.43877832e-9, 1.43285448e-7, 1.22774793e-6, 1.12963626e-7, -5.61530760e-5,
    -1.47697632e-4, 2.31468678e-3, 1.15392581e-2, -2.32015476e-1, 8.86226892e-1,
)  # fmt: skip


def _f32(c: float) -> float:
    return float(np.float32(c))


def _poly(xp, t, coeffs):
    p = xp.full(t.shape, np.float32(coeffs[0]), dtype=np.float32)
    for c in coeffs[1:]:
        p = _fma(p, t, float(np.float32(c)))
    return p


def erfinv32(xp, a):
    """MLX's float32 ``erfinv`` (Giles' polynomials with fma, glibc's ``logf``)."""
    a = xp.asarray(a, dtype=np.float32)
    if xp is np and a.size >= 64:  # the C library: ~25 NumPy passes in one
        from .backends import _cpu_fuse

        y = _cpu_fuse.erfinv_f32(a)
        if y is not None:
            return y
    if xp is np and a.size > _ECHUNK:  # in cache-sized pieces
        flat = a.reshape(-1)
        out = np.empty_like(flat)
        for s in range(0, flat.size, _ECHUNK):
            out[s : s + _ECHUNK] = _erfinv32_np(flat[s : s + _ECHUNK])
        return out.reshape(a.shape)
    if xp is np:
        return _erfinv32_np(a)
    with np.errstate(all="ignore"):
        t = _fma(a, -a.astype(np.float64), 1.0)
        t = logf(xp, t)
        p = xp.where(
            xp.abs(t) > np.float32(6.125), _poly(xp, t, _ERFINV_LHS), _poly(xp, t, _ERFINV_RHS)
        )
        return a * p


_ECHUNK = 1 << 15


def _poly_np(t, coeffs):
    """Horner with float32 fma on NumPy, reusing two buffers."""
    t64 = t.astype(np.float64)
    p = np.full(t.shape, np.float32(coeffs[0]), dtype=np.float32)
    tmp = np.empty(t.shape, np.float64)
    for c in coeffs[1:]:
        np.multiply(p, t64, out=tmp)
        np.add(tmp, _f32(c), out=tmp)
        p[...] = tmp
    return p


def _erfinv32_np(a):
    with np.errstate(all="ignore"):
        t = _fma(a, -a.astype(np.float64), 1.0)
        t = logf(np, t)
        p = _poly_np(t, _ERFINV_RHS)
        far = np.abs(t) > np.float32(6.125)
        if far.any():
            p[far] = _poly_np(t[far], _ERFINV_LHS)
        return a * p


_EXP_C = (
    1.339887440266574e-3, 9.618437357674640e-3, 5.550332471162809e-2,
    2.402264791363012e-1, 6.931472028550421e-1, 1.0,
)  # fmt: skip


def exp32(xp, x):
    """MLX's float32 ``exp`` (a degree-6 polynomial in the fraction of ``x * log2(e)``)."""
    x0 = xp.asarray(x, dtype=np.float32)
    with np.errstate(all="ignore"):
        y = x0 * np.float32(1.442695)
        ipart = xp.floor(y + np.float32(0.5))
        fpart = y - ipart
        p = xp.full(x0.shape, np.float32(1.535336188319500e-4), dtype=np.float32)
        for c in _EXP_C:
            p = _fma(p, fpart, float(np.float32(c)))
        ip = xp.clip(xp.nan_to_num(ipart), -200, 200).astype(np.int32)
        epart = ((ip + 127) << 23).view(np.float32)
        r = xp.where(xp.isnan(x0), x0, epart * p)
        r = xp.where(x0 > np.float32(88.0), np.float32(np.inf), r)
        r = xp.where(x0 < np.float32(-88.0), np.float32(0.0), r)
    return r.astype(np.float32, copy=False)


def erf32(xp, v):
    """MLX's float32 ``erf`` (Abramowitz-Stegun 7.1.26 with fma and its own ``exp``)."""
    v = xp.asarray(v, dtype=np.float32)
    with np.errstate(all="ignore"):
        t = np.float32(1.0) / _fma(xp.abs(v), _f32(0.3275911), 1.0)
        r = _fma(t, _f32(1.061405429), _f32(-1.453152027))
        for c in (1.421413741, -0.284496736, 0.254829592):
            r = _fma(r, t, _f32(c))
        e = -exp32(xp, -(v * v))
        res = _fma(e * t, r, 1.0)
        return xp.where(v > 0, res, -res)


class Float32Fn(Primitive):
    """One of MLX's float32 functions applied elementwise (float32 in, float32 out)."""

    # Samples do not depend differentiably on the key (MLX: zero gradient); batched keys
    # draw independently, slice by slice.
    vjp = zero_vjp
    jvp = zero_jvp
    vmap = vmap_by_loop

    __slots__ = ("fn",)
    name = "random_fn"
    _FNS = {"log": logf, "erfinv": erfinv32, "erf": erf32}

    def __init__(self, fn: str) -> None:
        self.fn = fn

    def eval(self, xp, x):
        return self._FNS[self.fn](xp, x)


class ArgmaxFirst(Primitive):
    """Index (uint32) of the first maximum along ``axis``."""

    # Samples do not depend differentiably on the key (MLX: zero gradient); batched keys
    # draw independently, slice by slice.
    vjp = zero_vjp
    jvp = zero_jvp
    vmap = vmap_by_loop

    __slots__ = ("axis",)
    name = "argmax"

    def __init__(self, axis: int) -> None:
        self.axis = axis

    def eval(self, xp, x):
        return xp.argmax(x, axis=self.axis).astype(np.uint32)


class PermuteBy(Primitive):
    """``x`` reordered along ``axis`` by a stable argsort of random ``bits``."""

    def vjp(self, primals, cotangents, argnums, outputs):
        from .ops.index import take
        from .ops.sort import argsort

        inverse = argsort(argsort(primals[1]))  # the permutation's inverse
        return [take(cotangents[0], inverse, axis=self.axis) if k == 0 else None for k in argnums]

    def jvp(self, primals, tangents, argnums):
        from ._array import node

        if 0 not in argnums:
            return None
        t, bits = tangents[argnums.index(0)], primals[1]
        return [node(self, (t, bits), t._shape, t._dtype, t._stream or bits._stream)]

    vmap = vmap_by_loop

    __slots__ = ("axis",)
    name = "permutation"

    def __init__(self, axis: int) -> None:
        self.axis = axis

    def eval(self, xp, x, bits):
        perm = xp.argsort(bits, kind="stable")
        return xp.take(x, perm, axis=self.axis)


class MvnScale(Primitive):
    """``z @ sqrt(cov)`` (batched): standard normal rows to correlated samples."""

    # Samples do not depend differentiably on the key (MLX: zero gradient); batched keys
    # draw independently, slice by slice.
    vjp = zero_vjp
    jvp = zero_jvp
    vmap = vmap_by_loop

    __slots__ = ()
    name = "multivariate_normal"

    def eval(self, xp, z, cov):
        u, s, vt = xp.linalg.svd(cov.astype(np.float32))
        std = xp.matmul(u * xp.sqrt(s)[..., None, :], vt).astype(np.float32)
        return xp.matmul(z[..., None, :], std)[..., 0, :].astype(np.float32)
