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
from .ops.index import BoundsError
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


def _eval(self, xp, *inputs):
    return type(self).kernel(xp, self.params_, *inputs)


def _declare(name: str, kernel, multi: bool = False):
    return type(name.title().replace("_", ""), (_Linalg,), {"__slots__": (), "name": name, "multi": multi,
                                                             "kernel": staticmethod(kernel), "eval": _eval})  # fmt: skip


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
    if a._dtype not in _REAL:  # MLX factors ``a`` in its own dtype (lu / inv) before promoting
        inner = "lu" if op == "solve" else "inv"
        raise ValueError(
            f"[linalg::{inner}] Arrays must have type float32 or float64. Received array with "
            f"type {a._dtype.name}."
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
                raise BoundsError(f"Invalid axis {x} for array with {nd} dimensions.")
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


# -- transform rules ---------------------------------------------------------------------------
# Every routine here works on stacks of matrices, so vmap moves the batch axis in front and
# calls the op again. MLX has no derivative for the factorizations (qr, svd, eig*, lu) nor
# for pinv: those raise as in MLX. inv, cholesky and the solvers, which MLX cannot
# differentiate either, get the textbook rules (a superset of MLX).

import umx as mx  # noqa: E402 - the package, for the ops the rules are written with

from ._rules import align_batched, move_to_front, unbroadcast  # noqa: E402


def _mT(x):  # noqa: N802
    return mx.swapaxes(x, -1, -2)


def _trimask(x, upper):
    return mx.triu(x) if upper else mx.tril(x)


def _front_rule(call):
    """vmap of a one-input routine over stacks: the batch axis first, the op again."""

    def rule(self, inputs, axes):
        out = call(self, move_to_front(inputs[0], axes[0]))
        outs = list(out) if isinstance(out, (list, tuple)) else [out]
        return outs, [0] * len(outs)

    return rule


def _no_rule(what):
    def rule(self, *args):
        raise ValueError(f"[linalg::{self.name}] {what} is not implemented (as in MLX).")

    return rule


def _tangent_of(tangents, argnums, k):
    return tangents[argnums.index(k)] if k in argnums else None


# inv: d(A^-1) = -A^-1 dA A^-1
Inv.vjp = lambda self, p, c, argnums, outputs: [
    mx.negative(mx.matmul(mx.matmul(_mT(outputs[0]), c[0]), _mT(outputs[0])))
]
Inv.jvp = lambda self, p, t, argnums: [
    mx.negative(mx.matmul(mx.matmul(inv(p[0]), t[0]), inv(p[0])))
]
Inv.vmap = _front_rule(lambda self, x: inv(x))

TriInv.vjp = lambda self, p, c, argnums, outputs: [
    _trimask(
        mx.negative(mx.matmul(mx.matmul(_mT(outputs[0]), c[0]), _mT(outputs[0]))), self.params_[0]
    )
]


def _tri_inv_jvp(self, p, t, argnums):
    up = self.params_[0]
    o = tri_inv(p[0], upper=up)
    return [mx.negative(mx.matmul(mx.matmul(o, _trimask(t[0], up)), o))]


TriInv.jvp = _tri_inv_jvp
TriInv.vmap = _front_rule(lambda self, x: tri_inv(x, upper=self.params_[0]))


def _cholesky_inv_vjp(self, p, c, argnums, outputs):
    up = self.params_[0]
    t = tri_inv(p[0], upper=up)  # out = t^T t (lower) or t t^T (upper)
    s = mx.add(c[0], _mT(c[0]))
    gt = mx.matmul(s, t) if up else mx.matmul(t, s)
    return [_trimask(mx.negative(mx.matmul(mx.matmul(_mT(t), gt), _mT(t))), up)]


def _cholesky_inv_jvp(self, p, tg, argnums):
    up = self.params_[0]
    t = tri_inv(p[0], upper=up)
    dt_ = mx.negative(mx.matmul(mx.matmul(t, _trimask(tg[0], up)), t))
    if up:
        return [mx.add(mx.matmul(dt_, _mT(t)), mx.matmul(t, _mT(dt_)))]
    return [mx.add(mx.matmul(_mT(dt_), t), mx.matmul(_mT(t), dt_))]


CholeskyInv.vjp = _cholesky_inv_vjp
CholeskyInv.jvp = _cholesky_inv_jvp
CholeskyInv.vmap = _front_rule(lambda self, x: cholesky_inv(x, upper=self.params_[0]))


# cholesky (A = L L^T, the symmetric convention): dL = L phi(L^-1 dA_sym L^-T), phi the
# lower triangle with a halved diagonal.
def _phi(x):
    return mx.subtract(mx.tril(x), mx.multiply(mx.tril(mx.triu(x)), 0.5))


def _cholesky_vjp(self, p, c, argnums, outputs):
    up = self.params_[0]
    low = _mT(outputs[0]) if up else outputs[0]
    cl = _mT(c[0]) if up else c[0]
    li = tri_inv(low)
    g = mx.matmul(mx.matmul(_mT(li), _phi(mx.matmul(_mT(low), cl))), li)
    return [mx.multiply(mx.add(g, _mT(g)), 0.5)]


def _cholesky_jvp(self, p, t, argnums):
    up = self.params_[0]
    out = cholesky(p[0], upper=up)
    low = _mT(out) if up else out
    li = tri_inv(low)
    ts = mx.multiply(mx.add(t[0], _mT(t[0])), 0.5)
    d = mx.matmul(low, _phi(mx.matmul(mx.matmul(li, ts), _mT(li))))
    return [_mT(d) if up else d]


Cholesky.vjp = _cholesky_vjp
Cholesky.jvp = _cholesky_jvp
Cholesky.vmap = _front_rule(lambda self, x: cholesky(x, upper=self.params_[0]))


# solve: x = A^-1 b; b_bar = A^-T x_bar, A_bar = -b_bar x^T.
def _solve_vjp(self, p, c, argnums, outputs):
    a, b = p
    tri = isinstance(self, SolveTriangular)
    up = self.params_[0] if tri else None
    vec = b.ndim == 1
    x, cb = outputs[0], c[0]
    if vec:
        x, cb = mx.expand_dims(x, -1), mx.expand_dims(cb, -1)
    if tri:
        gb = solve_triangular(_mT(a), cb, upper=not up)
    else:
        gb = solve(_mT(a), cb)
    res = []
    for k in argnums:
        if k == 0:
            ga = unbroadcast(mx.negative(mx.matmul(gb, _mT(x))), a.shape)
            res.append(_trimask(ga, up) if tri else ga)
        else:
            res.append(mx.reshape(unbroadcast(gb, b.shape + (1,)), b.shape) if vec else
                       unbroadcast(gb, b.shape))  # fmt: skip
    return res


def _solve_jvp(self, p, t, argnums):
    a, b = p
    tri = isinstance(self, SolveTriangular)
    up = self.params_[0] if tri else None
    ta, tb = _tangent_of(t, argnums, 0), _tangent_of(t, argnums, 1)
    sol = (lambda m, r: solve_triangular(m, r, upper=up)) if tri else solve
    rhs = tb
    if ta is not None:
        x = sol(a, b)
        ax = mx.matmul(_trimask(ta, up) if tri else ta, x if b.ndim > 1 else mx.expand_dims(x, -1))
        ax = ax if b.ndim > 1 else mx.squeeze(ax, -1)
        rhs = mx.negative(ax) if rhs is None else mx.subtract(rhs, ax)
    if b.ndim == 1 and rhs.ndim > 1:  # a stack of vectors now: solve them as columns
        return [mx.squeeze(sol(a, mx.expand_dims(rhs, -1)), -1)]
    return [sol(a, rhs)]


def _solve_vmap(self, inputs, axes):
    (a, b), (aa, ba) = inputs, axes
    vec = b.ndim - (ba is not None) == 1
    if vec:  # a vector right-hand side: make it a one-column matrix
        b = mx.expand_dims(b, -1)
    na, nb = a.ndim - (aa is not None) - 2, b.ndim - (ba is not None) - 2
    r = max(na, nb)
    ops = []
    for x, ax, n in ((a, aa, na), (b, ba, nb)):
        if ax is not None:
            x = move_to_front(x, ax)
            if r > n:
                x = mx.expand_dims(x, tuple(range(1, 1 + r - n)))
        ops.append(x)
    if isinstance(self, SolveTriangular):
        out = solve_triangular(ops[0], ops[1], upper=self.params_[0])
    else:
        out = solve(ops[0], ops[1])
    return [mx.squeeze(out, -1) if vec else out], [0]


Solve.vjp = SolveTriangular.vjp = _solve_vjp
Solve.jvp = SolveTriangular.jvp = _solve_jvp
Solve.vmap = SolveTriangular.vmap = _solve_vmap


# det: d det = det tr(A^-1 dA); slogdet: d log|det| = tr(A^-1 dA), the sign is constant.
def _expand2(x):
    return mx.expand_dims(x, (-2, -1))


Det.vjp = lambda self, p, c, argnums, outputs: [
    mx.multiply(_expand2(mx.multiply(c[0], outputs[0])), _mT(inv(p[0])))
]
Det.jvp = lambda self, p, t, argnums: [
    mx.multiply(det(p[0]), mx.trace(solve(p[0], t[0]), axis1=-2, axis2=-1))
]
Det.vmap = _front_rule(lambda self, x: det(x))

Slogdet.vjp = lambda self, p, c, argnums, outputs: [mx.multiply(_expand2(c[1]), _mT(inv(p[0])))]
Slogdet.jvp = lambda self, p, t, argnums: [
    mx.zeros(p[0].shape[:-2], p[0].dtype),
    mx.trace(solve(p[0], t[0]), axis1=-2, axis2=-1),
]
Slogdet.vmap = _front_rule(lambda self, x: slogdet(x))

# No derivatives in MLX: raise the same way; the batched routines vmap directly.
for _cls, _call in (
    (Qr, lambda self, x: qr(x)),
    (Svd, lambda self, x: svd(x, compute_uv=self.params_[0])),
    (Eigh, lambda self, x: eigh(x, UPLO=self.params_[0])),
    (Eigvalsh, lambda self, x: eigvalsh(x, UPLO=self.params_[0])),
    (Eig, lambda self, x: eig(x)),
    (Eigvals, lambda self, x: eigvals(x)),
    (Lu, lambda self, x: lu(x)),
    (LuFactor, lambda self, x: lu_factor(x)),
    (Pinv, lambda self, x: pinv(x)),
):
    _cls.vjp = _no_rule("The vector-Jacobian product")
    _cls.jvp = _no_rule("The Jacobian-vector product")
    _cls.vmap = _front_rule(_call)


# cross: a x b is bilinear; <c, a x b> = <a, b x c> = <b, c x a>.
def _cross_vjp(self, p, c, argnums, outputs):
    a, b = p
    ax = self.params_[0]
    res = []
    for k in argnums:
        x = p[k]
        g = cross(b, c[0], axis=ax) if k == 0 else cross(c[0], a, axis=ax)
        n = g.ndim
        xs = (1,) * (n - x.ndim) + x.shape
        if xs[ax] == 2:  # a 2-vector: its (absent) third component gets nothing
            g = mx.split(g, [2], axis=ax)[0]
        res.append(mx.reshape(unbroadcast(g, xs), x.shape))
    return res


def _cross_jvp(self, p, t, argnums):
    a, b = p
    ax = self.params_[0]
    ta, tb = _tangent_of(t, argnums, 0), _tangent_of(t, argnums, 1)
    terms = []
    if ta is not None:
        terms.append(cross(ta, b, axis=ax))
    if tb is not None:
        terms.append(cross(a, tb, axis=ax))
    return [terms[0] if len(terms) == 1 else mx.add(*terms)]


def _cross_vmap(self, inputs, axes):
    a, b = align_batched(list(inputs), list(axes))
    return [cross(a, b, axis=self.params_[0] + 1)], [0]


Cross.vjp = _cross_vjp
Cross.jvp = _cross_jvp
Cross.vmap = _cross_vmap


# norm: the 2-norm family directly (x / |x|, NaN at 0 as MLX); the other orders through
# the same composite MLX differentiates.
def _norm_is_two(p) -> bool:
    ord_, axes = p[0], p[1]
    return axes is None or ord_ in (None, "fro") or (ord_ == 2 and len(axes) == 1)


def _norm_composite(x, p):
    ord_, axes, keepdims = p[0], p[1], p[2]
    a = mx.abs(x)
    if len(axes) == 1:
        ax = axes[0]
        if ord_ == 0:
            r = mx.sum(mx.not_equal(x, 0).astype(x.dtype), axis=ax, keepdims=True)
        elif ord_ == 1:
            r = mx.sum(a, axis=ax, keepdims=True)
        elif ord_ == _INF:
            r = mx.max(a, axis=ax, keepdims=True)
        elif ord_ == -_INF:
            r = mx.min(a, axis=ax, keepdims=True)
        else:
            r = mx.power(mx.sum(mx.power(a, ord_), axis=ax, keepdims=True), 1.0 / ord_)
    else:
        r0, r1 = axes
        if ord_ in (1, -1):
            s = mx.sum(a, axis=r0, keepdims=True)
            r = (
                mx.max(s, axis=r1, keepdims=True)
                if ord_ == 1
                else mx.min(s, axis=r1, keepdims=True)
            )
        elif ord_ in (_INF, -_INF):
            s = mx.sum(a, axis=r1, keepdims=True)
            r = mx.max(s, axis=r0, keepdims=True) if ord_ > 0 else mx.min(s, axis=r0, keepdims=True)
        else:  # 2, -2, 'nuc' need the SVD, which MLX cannot differentiate
            raise ValueError(
                "[linalg::svd] The vector-Jacobian product is not implemented (as in MLX)."
            )
    if not keepdims:
        r = mx.squeeze(r, axis=axes)
    return r


def _norm_vjp(self, p, c, argnums, outputs):
    x = p[0]
    prm = self.params_
    if _norm_is_two(prm):
        n, cc = outputs[0], c[0]
        if prm[1] is not None and not prm[2]:
            n, cc = mx.expand_dims(n, prm[1]), mx.expand_dims(cc, prm[1])
        elif prm[1] is None and not prm[2]:
            n, cc = mx.reshape(n, (1,) * x.ndim), mx.reshape(cc, (1,) * x.ndim)
        return [mx.multiply(x, mx.divide(cc, n))]
    return mx.vjp(lambda y: _norm_composite(y, prm), [x], [c[0]])[1]


def _norm_jvp(self, p, t, argnums):
    x = p[0]
    prm = self.params_
    if _norm_is_two(prm):
        axes = prm[1] if prm[1] is not None else tuple(range(x.ndim))
        n = norm(x, prm[0], prm[1], prm[2])
        s = mx.sum(mx.multiply(x, t[0]), axis=axes, keepdims=prm[2])
        if prm[1] is None and prm[2]:
            s = mx.reshape(s, n.shape)
        return [mx.divide(s, n)]
    return mx.jvp(lambda y: _norm_composite(y, prm), [x], [t[0]])[1]


def _norm_vmap(self, inputs, axes):
    x = move_to_front(inputs[0], axes[0])
    ord_, ax, keepdims = self.params_[:3]
    if ax is None:
        out = norm(mx.reshape(x, (x.shape[0], -1)), None, 1, False)
        if keepdims:
            out = mx.reshape(out, (x.shape[0],) + (1,) * (x.ndim - 1))
        return [out], [0]
    return [norm(x, ord_, tuple(a + 1 for a in ax), keepdims)], [0]


Norm.vjp = _norm_vjp
Norm.jvp = _norm_jvp
Norm.vmap = _norm_vmap
