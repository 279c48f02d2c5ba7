"""``mx.linalg``: norms, factorizations, inverses and solvers over ``xp.linalg``.

MLX runs most of these on the CPU only; here each is a primitive written against the array
module, so it runs on the CPU (NumPy/LAPACK) and on the GPU (CuPy/cuSOLVER) where CuPy has
the routine (``eig`` falls back to the host). Shapes, dtypes and input errors are checked
when the op is called, with MLX's messages.
"""

from __future__ import annotations

import numpy as np

from . import _dtypes as dt
from ._array import array, as_array, node
from ._device import resolve_stream
from ._primitive import Primitive, multi_node
from .ops._util import broadcast_shapes, fmt_shape
from .ops.linalg import _HALF
from .ops.unary import cast

__all__ = [
    "norm", "inv", "tri_inv", "cholesky", "cholesky_inv", "qr", "svd", "eigh", "eigvalsh",
    "eig", "eigvals", "pinv", "solve", "solve_triangular", "det", "slogdet", "lu",
    "lu_factor", "cross",
]  # fmt: skip

_F32 = np.dtype(np.float32)
_REAL = (dt.float32, dt.float64)
_INEXACT = (dt.float32, dt.float64, dt.complex64)


class _Linalg(Primitive):
    """A linalg primitive: ``kernel(xp, params, *inputs)`` with static ``params``."""

    __slots__ = ("params_",)
    kernel = None

    def __init__(self, *params) -> None:
        self.params_ = params

    def eval(self, xp, *inputs):
        return type(self).kernel(xp, self.params_, *inputs)


def _declare(name: str, kernel, multi: bool = False):
    return type(name.title().replace("_", ""), (_Linalg,), {"__slots__": (), "name": name, "multi": multi,
                                                             "kernel": staticmethod(kernel)})  # fmt: skip


def _lapack(xp, fname: str):
    """``xp.linalg.<fname>``, or a host round trip where the backend lacks it."""
    f = getattr(xp.linalg, fname, None)
    if f is not None:
        return f

    def host(*args, **kw):
        out = getattr(np.linalg, fname)(*(xp.asnumpy(a) for a in args), **kw)
        if isinstance(out, tuple):
            return tuple(xp.asarray(o) for o in out)
        return xp.asarray(out)

    return host


def _mat(a, op: str, allowed: tuple = _REAL, square: str | None = None, svd: bool = False) -> array:
    a = as_array(a, f"linalg::{op}")
    if a._dtype not in allowed:
        names = " or ".join([", ".join(d.name for d in allowed[:-1]), allowed[-1].name])
        raise ValueError(
            f"[linalg::{op}] Arrays must have type {names}. Received array with type {a._dtype.name}."
        )
    if a.ndim < 2:
        what = "Input array" if svd else "Arrays"
        raise ValueError(
            f"[linalg::{op}] {what} must have >= 2 dimensions. Received array with {a.ndim} dimensions."
        )
    if square is not None and a._shape[-1] != a._shape[-2]:
        raise ValueError(f"[linalg::{op}] {square}")
    return a


_SQUARE = "Only defined for square matrices."
_INV_SQUARE = "Inverses are only defined for square matrices."


# -- inverses -------------------------------------------------------------------------------

Inv = _declare("inv", lambda xp, p, a: _lapack(xp, "inv")(a))


def _tri(xp, a, upper: bool):
    return xp.triu(a) if upper else xp.tril(a)


TriInv = _declare("tri_inv", lambda xp, p, a: _tri(xp, _lapack(xp, "inv")(_tri(xp, a, p[0])), p[0]))


def _cholesky_inv(xp, p, a):
    t = _lapack(xp, "inv")(_tri(xp, a, p[0]))
    tt = xp.swapaxes(t, -1, -2)
    return xp.matmul(t, tt) if p[0] else xp.matmul(tt, t)


CholeskyInv = _declare("cholesky_inv", _cholesky_inv)


def inv(a, *, stream=None) -> array:
    """The inverse of each square matrix in the last two axes of ``a``."""
    a = _mat(a, "inv", square=_INV_SQUARE)
    return node(Inv(), (a,), a._shape, a._dtype, resolve_stream(stream))


def tri_inv(a, upper: bool = False, *, stream=None) -> array:
    """The inverse of a triangular matrix (only the chosen triangle of ``a`` is read)."""
    a = _mat(a, "inv", square=_INV_SQUARE)
    return node(TriInv(bool(upper)), (a,), a._shape, a._dtype, resolve_stream(stream))


def cholesky_inv(a, upper: bool = False, *, stream=None) -> array:
    """The inverse of ``A`` from its Cholesky factor ``a`` (``A = L L^T`` or ``U^T U``)."""
    a = _mat(a, "cholesky_inv", square="Cholesky inverse is only defined for square matrices.")
    return node(CholeskyInv(bool(upper)), (a,), a._shape, a._dtype, resolve_stream(stream))


def pinv(a, *, stream=None) -> array:
    """The Moore-Penrose pseudo-inverse of each matrix in the last two axes of ``a``."""
    a = _mat(a, "pinv")
    shape = a._shape[:-2] + (a._shape[-1], a._shape[-2])
    return node(Pinv(), (a,), shape, a._dtype, resolve_stream(stream))


Pinv = _declare("pinv", lambda xp, p, a: _lapack(xp, "pinv")(a))


# -- factorizations -------------------------------------------------------------------------


def _cholesky(xp, p, a):
    if p[0]:  # U with U^T U = a, from the upper triangle
        lo = _lapack(xp, "cholesky")(xp.swapaxes(a, -1, -2))
        return xp.ascontiguousarray(xp.swapaxes(lo, -1, -2))
    return _lapack(xp, "cholesky")(a)


Cholesky = _declare("cholesky", _cholesky)


def cholesky(a, upper: bool = False, *, stream=None) -> array:
    """The Cholesky factor of a symmetric positive definite matrix (lower by default)."""
    a = _mat(a, "cholesky", square="Cholesky decomposition is only defined for square matrices.")
    return node(Cholesky(bool(upper)), (a,), a._shape, a._dtype, resolve_stream(stream))


Qr = _declare("qr", lambda xp, p, a: tuple(_lapack(xp, "qr")(a, mode="reduced")), multi=True)


def qr(a, *, stream=None):
    """The reduced QR factorization ``(Q, R)`` with ``Q @ R = a``."""
    a = _mat(a, "qr")
    m, n = a._shape[-2:]
    k = min(m, n)
    b = a._shape[:-2]
    return tuple(
        multi_node(Qr(), (a,), [b + (m, k), b + (k, n)], [a._dtype] * 2, resolve_stream(stream))
    )


def _svd(xp, p, a):
    f = _lapack(xp, "svd")
    if p[0]:
        u, s, vt = f(a, full_matrices=True, compute_uv=True)
        return u, s, vt
    return (f(a, compute_uv=False),)


Svd = _declare("svd", _svd, multi=True)


def svd(a, compute_uv: bool = True, *, stream=None):
    """The singular value decomposition ``(U, S, Vt)`` (only ``S`` if not ``compute_uv``)."""
    a = _mat(a, "svd", allowed=_INEXACT, svd=True)
    m, n = a._shape[-2:]
    b = a._shape[:-2]
    sd = dt.float32 if a._dtype is dt.complex64 else a._dtype
    s = resolve_stream(stream)
    if not compute_uv:
        return multi_node(Svd(False), (a,), [b + (min(m, n),)], [sd], s)[0]
    shapes = [b + (m, m), b + (min(m, n),), b + (n, n)]
    return tuple(multi_node(Svd(True), (a,), shapes, [a._dtype, sd, a._dtype], s))


def _check_uplo(uplo, op):
    if uplo not in ("L", "U"):
        raise ValueError(f"[linalg::{op}] UPLO must be 'L' or 'U'.")
    return uplo


Eigh = _declare("eigh", lambda xp, p, a: tuple(_lapack(xp, "eigh")(a, UPLO=p[0])), multi=True)
Eigvalsh = _declare("eigvalsh", lambda xp, p, a: _lapack(xp, "eigvalsh")(a, UPLO=p[0]))


def eigh(a, UPLO: str = "L", *, stream=None):  # noqa: N803 - MLX's argument name
    """Eigenvalues (ascending) and eigenvectors of a symmetric / Hermitian matrix."""
    a = _mat(a, "eigh", allowed=_INEXACT, square=_SQUARE)
    wd = dt.float32 if a._dtype is dt.complex64 else a._dtype
    shapes = [a._shape[:-1], a._shape]
    return tuple(
        multi_node(
            Eigh(_check_uplo(UPLO, "eigh")), (a,), shapes, [wd, a._dtype], resolve_stream(stream)
        )
    )


def eigvalsh(a, UPLO: str = "L", *, stream=None) -> array:  # noqa: N803
    """Eigenvalues (ascending) of a symmetric / Hermitian matrix."""
    a = _mat(a, "eigvalsh", allowed=_INEXACT, square=_SQUARE)
    wd = dt.float32 if a._dtype is dt.complex64 else a._dtype
    return node(
        Eigvalsh(_check_uplo(UPLO, "eigvalsh")), (a,), a._shape[:-1], wd, resolve_stream(stream)
    )


_C64 = np.dtype(np.complex64)
Eig = _declare(
    "eig", lambda xp, p, a: tuple(x.astype(_C64) for x in _lapack(xp, "eig")(a)), multi=True
)
Eigvals = _declare("eigvals", lambda xp, p, a: _lapack(xp, "eigvals")(a).astype(_C64))


def eig(a, *, stream=None):
    """Eigenvalues and right eigenvectors of a square matrix, as complex64."""
    a = _mat(a, "eig", allowed=_INEXACT, square=_SQUARE)
    shapes = [a._shape[:-1], a._shape]
    return tuple(multi_node(Eig(), (a,), shapes, [dt.complex64] * 2, resolve_stream(stream)))


def eigvals(a, *, stream=None) -> array:
    """Eigenvalues of a square matrix, as complex64."""
    a = _mat(a, "eigvals", allowed=_INEXACT, square=_SQUARE)
    return node(Eigvals(), (a,), a._shape[:-1], dt.complex64, resolve_stream(stream))


def _lu_core(xp, a):
    """Partial-pivoting LU of each matrix: the packed LU, the LAPACK-style pivots and the
    row permutation (row ``i`` of ``L @ U`` is row ``perm[i]`` of ``a``)."""
    m, n = a.shape[-2:]
    k = min(m, n)
    batch = a.shape[:-2]
    w = a.reshape((-1, m, n)).copy()
    nb = w.shape[0]
    ar = xp.arange(nb)
    perm = xp.broadcast_to(xp.arange(m), (nb, m)).copy()
    piv = xp.empty((nb, k), dtype=np.int64)
    for j in range(k):
        p = xp.argmax(xp.abs(w[:, j:, j]), axis=1) + j
        piv[:, j] = p
        row = w[ar, j].copy()
        w[ar, j] = w[ar, p]
        w[ar, p] = row
        t = perm[ar, j].copy()
        perm[ar, j] = perm[ar, p]
        perm[ar, p] = t
        pivot = w[:, j, j]
        safe = xp.where(pivot == 0, 1, pivot)
        w[:, j + 1 :, j] /= safe[:, None]
        w[:, j + 1 :, j + 1 :] -= w[:, j + 1 :, j : j + 1] * w[:, j : j + 1, j + 1 :]
    return w.reshape(batch + (m, n)), piv.reshape(batch + (k,)), perm.reshape(batch + (m,))


def _lu_factor(xp, p, a):
    lu_, piv, _ = _lu_core(xp, a)
    return lu_, piv.astype(np.uint32)


def _lu(xp, p, a):
    lu_, _, perm = _lu_core(xp, a)
    m, n = a.shape[-2:]
    k = min(m, n)
    low = xp.tril(lu_[..., :, :k], -1)
    idx = xp.arange(k)
    low[..., idx, idx] = 1
    up = xp.triu(lu_[..., :k, :])
    return xp.argsort(perm, axis=-1).astype(np.uint32), low, up


LuFactor = _declare("lu_factor", _lu_factor, multi=True)
Lu = _declare("lu", _lu, multi=True)


def lu(a, *, stream=None):
    """The LU factorization ``(p, L, U)`` with ``a = L[p] @ U`` (``p`` holds row indices)."""
    a = _mat(a, "lu")
    m, n = a._shape[-2:]
    k = min(m, n)
    b = a._shape[:-2]
    shapes = [b + (m,), b + (m, k), b + (k, n)]
    return tuple(
        multi_node(Lu(), (a,), shapes, [dt.uint32, a._dtype, a._dtype], resolve_stream(stream))
    )


def lu_factor(a, *, stream=None):
    """The packed LU factorization and its LAPACK-style pivots (0-based)."""
    a = _mat(a, "lu_factor")
    m, n = a._shape[-2:]
    shapes = [a._shape, a._shape[:-2] + (min(m, n),)]
    return tuple(
        multi_node(LuFactor(), (a,), shapes, [a._dtype, dt.uint32], resolve_stream(stream))
    )


# -- determinants ---------------------------------------------------------------------------


def _wide(a):
    return a.astype(_F32) if a.dtype in _HALF else a


Det = _declare("det", lambda xp, p, a: xp.asarray(_lapack(xp, "det")(_wide(a))).astype(a.dtype))


def _slogdet(xp, p, a):
    sign, logabs = _lapack(xp, "slogdet")(_wide(a))
    return xp.asarray(sign).astype(a.dtype), xp.asarray(logabs).astype(a.dtype)


Slogdet = _declare("slogdet", _slogdet, multi=True)


def _det_input(a, op, stream):
    a = as_array(a, f"linalg::{op}")
    if a._dtype is dt.complex64:
        raise ValueError(f"[linalg::{op}] Complex inputs are not supported.")
    if a.ndim < 2:
        raise ValueError(
            f"[linalg::{op}] Arrays must have >= 2 dimensions. Received array with {a.ndim} dimensions."
        )
    if a._shape[-1] != a._shape[-2]:
        raise ValueError(f"[linalg::{op}] {_SQUARE}")
    return cast(a, dt.float_of(a._dtype), stream)


def det(a, *, stream=None) -> array:
    """The determinant of each square matrix in the last two axes."""
    s = resolve_stream(stream)
    a = _det_input(a, "det", s)
    return node(Det(), (a,), a._shape[:-2], a._dtype, s)


def slogdet(a, *, stream=None):
    """``(sign, log|det|)`` of each square matrix in the last two axes."""
    s = resolve_stream(stream)
    a = _det_input(a, "slogdet", s)
    return tuple(multi_node(Slogdet(), (a,), [a._shape[:-2]] * 2, [a._dtype] * 2, s))


# -- solvers --------------------------------------------------------------------------------


def _solve_inputs(a, b, op, stream):
    a = as_array(a, f"linalg::{op}")
    b = as_array(b, f"linalg::{op}")
    d = dt.promote_types(a._dtype, b._dtype)
    if d not in _REAL:
        raise ValueError(
            f"[linalg::{op}] Input arrays must promote to float32 or float64.  Received arrays "
            f"with type {a._dtype.name} and {b._dtype.name}."
        )
    if a.ndim < 2:
        raise ValueError(
            f"[linalg::{op}] First input must have >= 2 dimensions. Received array with {a.ndim} dimensions."
        )
    if a._shape[-1] != a._shape[-2]:
        raise ValueError(
            f"[linalg::{op}] First input must be a square matrix. Received shape {fmt_shape(a._shape)}."
        )
    if b.ndim < 1:
        raise ValueError(f"[linalg::{op}] Second input must have >= 1 dimensions.")
    n = a._shape[-1]
    if b.ndim == 1:
        if b._shape[0] != n:
            raise ValueError(
                f"[linalg::{op}] Last dimension of first input with shape {fmt_shape(a._shape)} must match "
                f"second to last dimension of second input with shape {fmt_shape(b._shape)}."
            )
        shape = a._shape[:-1]
    else:
        if b._shape[-2] != n:
            raise ValueError(
                f"[linalg::{op}] Last dimension of first input with shape {fmt_shape(a._shape)} must match "
                f"second to last dimension of second input with shape {fmt_shape(b._shape)}."
            )
        shape = broadcast_shapes(a._shape[:-2], b._shape[:-2], op=f"linalg::{op}") + b._shape[-2:]
    return cast(a, d, stream), cast(b, d, stream), shape, d


def _solve(xp, p, a, b):
    if b.ndim == 1 and a.ndim > 2:  # a vector right-hand side for every matrix
        return _lapack(xp, "solve")(a, b[..., None])[..., 0]
    return _lapack(xp, "solve")(a, b)


Solve = _declare("solve", _solve)
SolveTriangular = _declare(
    "solve_triangular", lambda xp, p, a, b: _solve(xp, p, _tri(xp, a, p[0]), b)
)


def solve(a, b, *, stream=None) -> array:
    """The solution ``x`` of ``a @ x = b`` (``b`` a vector or a batch of matrices)."""
    s = resolve_stream(stream)
    a, b, shape, d = _solve_inputs(a, b, "solve", s)
    return node(Solve(), (a, b), shape, d, s)


def solve_triangular(a, b, *, upper: bool = False, stream=None) -> array:
    """The solution of ``a @ x = b`` for triangular ``a`` (only that triangle is read)."""
    s = resolve_stream(stream)
    a, b, shape, d = _solve_inputs(a, b, "solve_triangular", s)
    return node(SolveTriangular(bool(upper)), (a, b), shape, d, s)


# -- cross and norm -------------------------------------------------------------------------


def _cross(xp, p, a, b):
    ax = p[0]
    n = max(a.ndim, b.ndim)
    a = a.reshape((1,) * (n - a.ndim) + a.shape)
    b = b.reshape((1,) * (n - b.ndim) + b.shape)
    a = xp.moveaxis(a, ax, -1)
    b = xp.moveaxis(b, ax, -1)
    a0, a1 = a[..., 0], a[..., 1]
    b0, b1 = b[..., 0], b[..., 1]
    a2 = a[..., 2] if a.shape[-1] == 3 else 0
    b2 = b[..., 2] if b.shape[-1] == 3 else 0
    out = xp.stack([a1 * b2 - a2 * b1, a2 * b0 - a0 * b2, a0 * b1 - a1 * b0], axis=-1)
    return xp.moveaxis(out.astype(a.dtype, copy=False), -1, ax)


Cross = _declare("cross", _cross)


def cross(a, b, axis: int = -1, *, stream=None) -> array:
    """The cross product of 2- or 3-vectors along ``axis`` (a 2-vector has a zero third
    component)."""
    a = as_array(a, "linalg::cross")
    b = as_array(b, "linalg::cross")
    s = resolve_stream(stream)
    n = max(a.ndim, b.ndim)
    if not -n <= axis < n:
        raise ValueError(f"[linalg::cross] Invalid axis {axis} for arrays with {n} dimensions.")
    ax = axis + n if axis < 0 else axis
    pa = (1,) * (n - a.ndim) + a._shape
    pb = (1,) * (n - b.ndim) + b._shape
    if pa[ax] not in (2, 3) or pb[ax] not in (2, 3):
        raise ValueError("[linalg::cross] The specified axis must have size 2 or 3.")
    sa = pa[:ax] + (3,) + pa[ax + 1 :]
    sb = pb[:ax] + (3,) + pb[ax + 1 :]
    shape = broadcast_shapes(sa, sb, op="linalg::cross")
    d = dt.promote_types(a._dtype, b._dtype)
    return node(Cross(ax), (cast(a, d, s), cast(b, d, s)), shape, d, s)


def _norm(xp, p, x):
    ord_, axis, keepdims, out_np = p
    if x.dtype.kind in "biu" or x.dtype in _HALF:
        x = x.astype(_F32)
    if axis is None:  # the 2-norm of the flattened array
        r = xp.linalg.norm(x.reshape(-1))
        if keepdims:
            r = xp.asarray(r).reshape((1,) * x.ndim)
    elif ord_ == 0 and len(axis) == 1:
        r = xp.count_nonzero(x, axis=axis[0])
        if keepdims:
            r = xp.expand_dims(r, axis[0])
    else:
        r = _lapack(xp, "norm")(
            x, ord=ord_, axis=axis if len(axis) == 2 else axis[0], keepdims=keepdims
        )
    return xp.asarray(r).astype(out_np)


Norm = _declare("norm", _norm)
_INF = float("inf")


def norm(a, /, ord=None, axis=None, keepdims: bool = False, *, stream=None) -> array:
    """Vector or matrix norm of ``a`` (see MLX's table of ``ord`` values)."""
    a = as_array(a, "linalg::norm")
    nd = a.ndim
    if axis is None:
        if ord is None:
            axes = None
        elif nd in (1, 2):
            axes = tuple(range(nd))
        else:
            raise ValueError("[linalg::norm] Received too many axes for norm.")
    else:
        axes = (axis,) if isinstance(axis, int) else tuple(axis)
        if len(axes) not in (1, 2):
            raise ValueError("[linalg::norm] Received too many axes for norm.")
        for x in axes:
            if not -nd <= x < nd:
                raise ValueError(f"[linalg::norm] Invalid axis {x} for array with {nd} dimensions.")
        axes = tuple(x + nd if x < 0 else x for x in axes)
        if len(set(axes)) != len(axes):
            raise ValueError("[linalg::norm] Received duplicate axes.")
    if axes is not None:
        if isinstance(ord, str):
            if ord not in ("fro", "nuc"):
                raise ValueError(f"[linalg::norm] Invalid ord '{ord}'.")
            if len(axes) != 2:
                raise ValueError(
                    f"[linalg::norm] Norm '{ord}' only supported for matrices, but received {len(axes)} axis/axes."
                )
        elif len(axes) == 2 and ord not in (None, 1, -1, 2, -2, _INF, -_INF):
            raise ValueError(f"[linalg::norm] Invalid ord {ord} for matrix norm.")
        if ord in ("nuc", 2, -2) and len(axes) == 2 and a._dtype not in _INEXACT:
            raise ValueError(
                f"[linalg::svd] Arrays must have type float32, float64 or complex64. "
                f"Received array with type {a._dtype.name}."
            )
    d = a._dtype
    if d is dt.complex64:
        real = ord in (None, "fro", "nuc") or (ord == 2 and axes is not None and len(axes) == 1)
        od = dt.float32 if real else dt.complex64
    else:
        od = dt.float_of(d)
    if axes is None:
        shape = (1,) * nd if keepdims else ()
    elif keepdims:
        shape = tuple(1 if i in axes else n for i, n in enumerate(a._shape))
    else:
        shape = tuple(n for i, n in enumerate(a._shape) if i not in axes)
    prim = Norm(ord, axes, bool(keepdims), od.np)
    return node(prim, (a,), shape, od, resolve_stream(stream))
