"""Matrix products: matmul, addmm, tensordot, inner, outer, kron, vecdot, matrix_norm.

Large products go straight to ``xp.matmul`` / ``xp.tensordot`` (OpenBLAS on the CPU,
cuBLAS on the GPU) on the buffers as they are: no copies, no dtype round trips. The
half-precision types have no CPU BLAS; they are computed in float32 and cast back, as
MLX's CPU backend does.
"""

from __future__ import annotations

from functools import lru_cache

import ml_dtypes
import numpy as np

from .. import _dtypes as dt
from .._array import array, as_array, node
from .._device import resolve_stream
from .._primitive import Primitive
from ._util import broadcast_shapes, fmt_shape
from .unary import cast

_PROMOTE = dt._PROMOTE
_HALF = (np.dtype(np.float16), np.dtype(ml_dtypes.bfloat16))
_BF16 = np.dtype(ml_dtypes.bfloat16)
_F32 = np.dtype(np.float32)


def _wide(xp, x):
    """``x`` in a dtype the backend's BLAS computes in (float32 for the half types on
    the CPU, and for bfloat16 everywhere)."""
    d = x.dtype
    if d in _HALF and (xp is np or d == _BF16):
        return x.astype(_F32)
    return x


def _inexact_error(op: str, da: dt.Dtype, db: dt.Dtype, d: dt.Dtype) -> ValueError:
    return ValueError(
        f"[{op}] Only inexact types are supported but {da.name} and {db.name} were provided "
        f"which results in {d.name}, which is not a floating point type."
    )


def _promote_inexact(a: array, b: array, op: str = "matmul") -> dt.Dtype:
    d = _PROMOTE[(a._dtype, b._dtype)]
    if d.kind not in "fc":
        raise _inexact_error(op, a._dtype, b._dtype, d)
    return d


def _sum_dtype(d: dt.Dtype) -> dt.Dtype:
    """The dtype MLX's ``sum`` gives: small integers widen to 32 bits."""
    if d is dt.bool_ or d is dt.int8 or d is dt.int16:
        return dt.int32
    if d is dt.uint8 or d is dt.uint16:
        return dt.uint32
    return d


# -- matmul ------------------------------------------------------------------------------


@lru_cache(maxsize=4096)
def _matmul_shape(sa: tuple, sb: tuple, op: str) -> tuple:
    if not sa or not sb:
        raise ValueError(f"[{op}] Got 0 dimension input. Inputs must have at least one dimension.")
    ma = (1, *sa) if len(sa) == 1 else sa
    mb = (*sb, 1) if len(sb) == 1 else sb
    if ma[-1] != mb[-2]:
        raise ValueError(
            f"[{op}] Last dimension of first input with shape {fmt_shape(ma)} must match second "
            f"to last dimension of second input with shape {fmt_shape(mb)}."
        )
    ba, bb = ma[:-2], mb[:-2]
    batch = ba if ba == bb else broadcast_shapes(ba, bb, op="broadcast_shapes")
    out = batch
    if len(sa) > 1:
        out = (*out, ma[-2])
    if len(sb) > 1:
        out = (*out, mb[-1])
    return out


class Matmul(Primitive):
    """``a @ b`` with NumPy's 1-D and batch-broadcasting rules."""

    __slots__ = ()
    name = "matmul"

    def eval(self, xp, a, b):
        d = a.dtype
        if d in _HALF and (xp is np or d == _BF16):
            return xp.matmul(a.astype(_F32), b.astype(_F32)).astype(d)
        return xp.matmul(a, b)


_MATMUL = Matmul()


def matmul(a, b, /, *, stream=None) -> array:
    """Matrix product of ``a`` and ``b`` (batched, broadcast over leading dimensions)."""
    if type(a) is not array:
        a = as_array(a, "matmul")
    if type(b) is not array:
        b = as_array(b, "matmul")
    s = resolve_stream(stream)
    da, db = a._dtype, b._dtype
    if da is db:
        d = da
        if d.kind not in "fc":
            raise _inexact_error("matmul", da, db, d)
    else:
        d = _promote_inexact(a, b)
        a, b = cast(a, d, s), cast(b, d, s)
    shape = _matmul_shape(a._shape, b._shape, "matmul")
    return node(_MATMUL, (a, b), shape, d, s)


class AddMM(Primitive):
    """``alpha * (a @ b) + beta * c``, written into the product's fresh buffer."""

    __slots__ = ("alpha", "beta")
    name = "addmm"

    def __init__(self, alpha: float, beta: float) -> None:
        self.alpha = alpha
        self.beta = beta

    def eval(self, xp, c, a, b):
        d = a.dtype
        alpha, beta = self.alpha, self.beta
        wa, wb = _wide(xp, a), _wide(xp, b)
        if alpha == 0:  # the product is skipped, as BLAS does (no NaN from inf * 0)
            out = xp.zeros(_matmul_shape(a.shape, b.shape, "addmm"), wa.dtype)
        else:
            out = xp.asarray(xp.matmul(wa, wb))  # a fresh buffer (0-d for two vectors)
            if alpha != 1:
                xp.multiply(out, alpha, out=out)
        if beta != 0:
            wc = c.astype(out.dtype) if c.dtype != out.dtype else c
            if beta == 1:
                xp.add(out, wc, out=out)
            else:
                xp.add(out, wc * beta, out=out)
        return out.astype(d, copy=False)


def addmm(c, a, b, /, alpha: float = 1.0, beta: float = 1.0, *, stream=None) -> array:
    """``alpha * (a @ b) + beta * c``."""
    c = as_array(c, "addmm")
    a = as_array(a, "addmm")
    b = as_array(b, "addmm")
    s = resolve_stream(stream)
    d = _PROMOTE[(_PROMOTE[(c._dtype, a._dtype)], b._dtype)]
    if d.kind not in "fc":
        raise ValueError(
            f"[addmm] Only real floating point types are supported but {c._dtype.name}, "
            f"{a._dtype.name} and {b._dtype.name} were provided which results in {d.name}, "
            "which is not a real floating point type."
        )
    shape = _matmul_shape(a._shape, b._shape, "addmm")
    if c._shape != shape:
        if broadcast_shapes(c._shape, shape, op="broadcast_shapes") != shape:
            raise ValueError("[addmm] input c must broadcast to the output shape")
    c, a, b = cast(c, d, s), cast(a, d, s), cast(b, d, s)
    return node(AddMM(float(alpha), float(beta)), (c, a, b), shape, d, s)


# -- tensordot and its relatives -------------------------------------------------------------


class TensorDot(Primitive):
    """Sum of products over the axes ``axes_a`` of ``a`` and ``axes_b`` of ``b``."""

    __slots__ = ("axes_a", "axes_b")
    name = "tensordot"

    def __init__(self, axes_a: tuple, axes_b: tuple) -> None:
        self.axes_a = axes_a
        self.axes_b = axes_b

    def eval(self, xp, a, b):
        d = a.dtype
        out = xp.tensordot(_wide(xp, a), _wide(xp, b), axes=(list(self.axes_a), list(self.axes_b)))
        return out.astype(d, copy=False)


def _tensordot_axes(axes, na: int, nb: int):
    if isinstance(axes, (int, np.integer)) and not isinstance(axes, bool):
        n = int(axes)
        if n < 0:
            raise ValueError("[tensordot] axis must be greater or equal to 0.")
        if n > na or n > nb:
            raise ValueError(
                "[tensordot] axis must be less than the number of dimensions of a and b."
            )
        return tuple(range(na - n, na)), tuple(range(n))
    try:
        xa, xb = axes
        xa = tuple(int(x) for x in xa)
        xb = tuple(int(x) for x in xb)
    except (TypeError, ValueError):
        raise TypeError(
            f"[tensordot] axes must be an int or a pair of sequences of ints, got {axes!r}."
        ) from None
    if len(xa) != len(xb):
        raise ValueError("[tensordot] axes must have the same size.")

    def norm(axs, n, which):
        out = []
        for x in axs:
            if not -n <= x < n:
                raise IndexError(
                    f"[tensordot] Axis {x} is out of bounds for {which} with {n} dimensions."
                )
            out.append(x + n if x < 0 else x)
        if len(set(out)) != len(out):
            raise ValueError(f"[tensordot] Repeated axes {list(axs)} for {which}.")
        return tuple(out)

    return norm(xa, na, "a"), norm(xb, nb, "b")


def tensordot(a, b, /, axes=2, *, stream=None) -> array:
    """Sum products over the last ``axes`` axes of ``a`` and first of ``b``, or over the
    axes listed in the pair ``axes``."""
    a = as_array(a, "tensordot")
    b = as_array(b, "tensordot")
    s = resolve_stream(stream)
    sa, sb = a._shape, b._shape
    xa, xb = _tensordot_axes(axes, len(sa), len(sb))
    if any(sa[i] != sb[j] for i, j in zip(xa, xb)):
        raise ValueError("[tensordot] a and b must have the same shape on the contracted axes.")
    d = _promote_inexact(a, b)
    shape = tuple(n for i, n in enumerate(sa) if i not in xa) + tuple(
        n for j, n in enumerate(sb) if j not in xb
    )
    return node(TensorDot(xa, xb), (cast(a, d, s), cast(b, d, s)), shape, d, s)


def inner(a, b, /, *, stream=None) -> array:
    """Inner product: the sum product over the last axes (a product for scalars)."""
    a = as_array(a, "inner")
    b = as_array(b, "inner")
    if not a._shape or not b._shape:
        from .binary import multiply

        return multiply(a, b, stream=stream)
    if a._shape[-1] != b._shape[-1]:
        raise ValueError("[inner] a and b must have the same last dimension.")
    return tensordot(a, b, ((a.ndim - 1,), (b.ndim - 1,)), stream=stream)


class Outer(Primitive):
    __slots__ = ()
    name = "outer"

    def eval(self, xp, a, b):
        return xp.multiply(a.reshape(-1, 1), b.reshape(1, -1))


_OUTER = Outer()


def outer(a, b, /, *, stream=None) -> array:
    """Outer product of the flattened ``a`` and ``b``."""
    a = as_array(a, "outer")
    b = as_array(b, "outer")
    s = resolve_stream(stream)
    d = _PROMOTE[(a._dtype, b._dtype)]
    return node(_OUTER, (cast(a, d, s), cast(b, d, s)), (a.size, b.size), d, s)


class Kron(Primitive):
    __slots__ = ()
    name = "kron"

    def eval(self, xp, a, b):
        return xp.kron(a, b)


_KRON = Kron()


def kron(a, b, *, stream=None) -> array:
    """Kronecker product of ``a`` and ``b``."""
    a = as_array(a, "kron")
    b = as_array(b, "kron")
    s = resolve_stream(stream)
    if a.size == 0 or b.size == 0:
        raise ValueError("[kron] Input arrays cannot be empty.")
    d = _PROMOTE[(a._dtype, b._dtype)]
    n = max(a.ndim, b.ndim)
    sa = (1,) * (n - a.ndim) + a._shape
    sb = (1,) * (n - b.ndim) + b._shape
    shape = tuple(x * y for x, y in zip(sa, sb))
    return node(_KRON, (cast(a, d, s), cast(b, d, s)), shape, d, s)


class VecDot(Primitive):
    """``sum(conj(a) * b, axis)``."""

    __slots__ = ("axis",)
    name = "vecdot"

    def __init__(self, axis: int) -> None:
        self.axis = axis

    def eval(self, xp, a, b):
        if a.dtype.kind == "c":
            a = xp.conj(a)
        return xp.multiply(a, b).sum(axis=self.axis, dtype=a.dtype)


def vecdot(a, b, /, *, axis: int = -1, stream=None) -> array:
    """Vector dot product ``sum(conj(a) * b)`` along ``axis``."""
    a = as_array(a, "vecdot")
    b = as_array(b, "vecdot")
    s = resolve_stream(stream)
    if not a._shape or not b._shape:
        raise ValueError("[vecdot] inputs must be at least 1D.")
    n = a.ndim
    if not -n <= axis < n:
        raise IndexError("[vecdot] axis is out of bounds.")
    if b.ndim != n:
        raise ValueError("[vecdot] axis is out of bounds.")
    ax = axis + n if axis < 0 else axis
    if a._shape[ax] != b._shape[ax]:
        raise ValueError("[vecdot] a and b must have the same size along axis.")
    full = broadcast_shapes(a._shape, b._shape, op="vecdot")
    shape = full[:ax] + full[ax + 1 :]
    d = _sum_dtype(_PROMOTE[(a._dtype, b._dtype)])
    # Compute in the output dtype (ints widen before the sum, as MLX's sum does).
    c = dt.float32 if (d is dt.float16 or d is dt.bfloat16) else d
    out = node(VecDot(ax), (cast(a, c, s), cast(b, c, s)), shape, c, s)
    return cast(out, d, s)


def matrix_norm(a, /, ord=None, axis=None, keepdims: bool = False, *, stream=None) -> array:
    """Matrix or vector norm (the same function as ``mx.linalg.norm``)."""
    from ..linalg import norm

    return norm(a, ord, axis, keepdims, stream=stream)


__all__ = [
    "matmul", "addmm", "tensordot", "inner", "outer", "kron", "vecdot", "matrix_norm",
]  # fmt: skip
METHODS: dict = {}


# -- transform rules ---------------------------------------------------------------------------
# Written with the public ops (lazy, so they differentiate again). Complex cotangents
# follow MLX: the vjp of a product multiplies by the conjugate of the other factor.

import umx as mx  # noqa: E402 - the package, for the ops the rules are written with

from .._rules import move_to_front, sum_terms, tangents_by_input, unbroadcast  # noqa: E402


def _cj(x):
    return mx.conjugate(x) if x._dtype is dt.complex64 else x


def _mT(x):  # noqa: N802
    return mx.swapaxes(x, -1, -2)


def _as_matrices(a, b, c):
    """``a``, ``b`` and the cotangent ``c`` in matrix form (1-D operands get a unit dim)."""
    A = a if a.ndim > 1 else mx.expand_dims(a, 0)
    B = b if b.ndim > 1 else mx.expand_dims(b, -1)
    if c is not None:
        if b.ndim == 1:
            c = mx.expand_dims(c, -1)
        if a.ndim == 1:
            c = mx.expand_dims(c, -2)
    return A, B, c


def _matmul_vjp(a, b, c, argnums):
    A, B, C = _as_matrices(a, b, c)
    out = []
    for k in argnums:
        if k == 0:
            g = unbroadcast(mx.matmul(C, _cj(_mT(B))), A.shape)
            out.append(mx.reshape(g, a.shape) if a.ndim == 1 else g)
        else:
            g = unbroadcast(mx.matmul(_cj(_mT(A)), C), B.shape)
            out.append(mx.reshape(g, b.shape) if b.ndim == 1 else g)
    return out


def _product_rule(f, a, b, ta, tb):
    """The tangent of ``f(a, b)`` for ``f`` bilinear: ``f(ta, b) + f(a, tb)`` (None: zero)."""
    terms = []
    if ta is not None:
        terms.append(f(ta, b))
    if tb is not None:
        terms.append(f(a, tb))
    return sum_terms(terms)


def _matmul_batched(inputs, axes):
    """vmap of a matmul: batch axes to the front, lined up past the per-slice batch dims;
    1-D operands take their matrix form and lose the unit dim after."""
    a, b = inputs
    aa, ab = axes
    na = a.ndim - (aa is not None)
    nb = b.ndim - (ab is not None)
    r = max(max(na, 2) - 2, max(nb, 2) - 2)
    ops = []
    for x, ax, n, vec_dim in ((a, aa, na, 0), (b, ab, nb, -1)):
        if ax is not None:
            x = move_to_front(x, ax)
            if n == 1:
                x = mx.expand_dims(x, 1 if vec_dim == 0 else -1)
            pad = r - (max(n, 2) - 2)
            if pad:
                x = mx.expand_dims(x, tuple(range(1, 1 + pad)))
        elif n == 1:
            x = mx.expand_dims(x, vec_dim)
        ops.append(x)
    return ops[0], ops[1], na == 1, nb == 1


def _squeeze_vecs(out, sq_a, sq_b):
    if sq_b:
        out = mx.squeeze(out, -1)
    if sq_a:
        out = mx.squeeze(out, -1 if sq_b else -2)
    return out


def _matmul_vjp_rule(self, primals, cotangents, argnums, outputs):
    return _matmul_vjp(primals[0], primals[1], cotangents[0], argnums)


def _matmul_jvp_rule(self, primals, tangents, argnums):
    a, b = primals
    ta, tb = tangents_by_input(primals, tangents, argnums)
    return [_product_rule(mx.matmul, a, b, ta, tb)]


def _matmul_vmap_rule(self, inputs, axes):
    A, B, sq_a, sq_b = _matmul_batched(inputs, axes)
    return [_squeeze_vecs(mx.matmul(A, B), sq_a, sq_b)], [0]


Matmul.vjp = _matmul_vjp_rule
Matmul.jvp = _matmul_jvp_rule
Matmul.vmap = _matmul_vmap_rule


def _addmm_vjp(self, primals, cotangents, argnums, outputs):
    c, a, b = primals
    cot = cotangents[0]
    res = {}
    if 0 in argnums:
        g = cot if self.beta == 1 else mx.multiply(cot, self.beta)
        res[0] = unbroadcast(g, c.shape)
    ab = [k - 1 for k in argnums if k > 0]
    if ab:
        g = cot if self.alpha == 1 else mx.multiply(cot, self.alpha)
        for k, v in zip(ab, _matmul_vjp(a, b, g, ab)):
            res[k + 1] = v
    return [res[k] for k in argnums]


def _addmm_jvp(self, primals, tangents, argnums):
    c, a, b = primals
    tc, ta, tb = tangents_by_input(primals, tangents, argnums)
    out = _product_rule(mx.matmul, a, b, ta, tb)
    if out is not None and self.alpha != 1:
        out = mx.multiply(out, self.alpha)
    if tc is not None:
        t = tc if self.beta == 1 else mx.multiply(tc, self.beta)
        out = t if out is None else mx.add(out, t)
        shape = _matmul_shape(a.shape, b.shape, "addmm")
        if out.shape != shape:
            out = mx.broadcast_to(out, shape)
    return [out]


def _addmm_vmap(self, inputs, axes):
    c, a, b = inputs
    ac, aa, ab = axes
    if aa is None and ab is None:
        prod = mx.matmul(a, b)
        pa = None
    else:
        A, B, sq_a, sq_b = _matmul_batched([a, b], [aa, ab])
        if not sq_a and not sq_b and ac is None:
            return [addmm(c, A, B, self.alpha, self.beta)], [0]
        prod, pa = _squeeze_vecs(mx.matmul(A, B), sq_a, sq_b), 0
    from .._rules import align_batched

    prod, c = align_batched([prod, c], [pa, ac])
    out = mx.add(mx.multiply(prod, self.alpha), mx.multiply(c, self.beta))
    return [out], [0]


AddMM.vjp = _addmm_vjp
AddMM.jvp = _addmm_jvp
AddMM.vmap = _addmm_vmap


def _tensordot_vjp(self, primals, cotangents, argnums, outputs):
    a, b = primals
    c = cotangents[0]
    xa, xb = self.axes_a, self.axes_b
    fa = [i for i in range(a.ndim) if i not in xa]
    fb = [j for j in range(b.ndim) if j not in xb]
    nfa, nfb = len(fa), len(fb)
    out = []
    for k in argnums:
        if k == 0:
            g = tensordot(c, _cj(b), (list(range(nfa, nfa + nfb)), fb))
            # g: a's free axes, then b's contracted axes in increasing order
            cb = sorted(xb)
            perm = [
                fa.index(i) if i in fa else nfa + cb.index(xb[xa.index(i)]) for i in range(a.ndim)
            ]
            out.append(mx.transpose(g, perm) if perm != sorted(perm) else g)
        else:
            g = tensordot(_cj(a), c, (fa, list(range(nfa))))
            ca = sorted(xa)
            nca = len(ca)
            perm = [
                nca + fb.index(j) if j in fb else ca.index(xa[xb.index(j)]) for j in range(b.ndim)
            ]
            out.append(mx.transpose(g, perm) if perm != sorted(perm) else g)
    return out


def _tensordot_jvp(self, primals, tangents, argnums):
    a, b = primals
    ta, tb = tangents_by_input(primals, tangents, argnums)
    ax = (list(self.axes_a), list(self.axes_b))
    return [_product_rule(lambda x, y: tensordot(x, y, ax), a, b, ta, tb)]


def _tensordot_vmap(self, inputs, axes):
    a, b = inputs
    aa, ab = axes
    xa, xb = self.axes_a, self.axes_b
    if aa is not None and ab is not None:
        # A batch dim on both sides: an einsum with a shared batch label.
        a, b = move_to_front(a, aa), move_to_front(b, ab)
        letters = iter("abcdefghijklmnopqrstuvwxyz")
        sa = [next(letters) for _ in range(a.ndim - 1)]
        sb = [next(letters) for _ in range(b.ndim - 1)]
        for i, j in zip(xa, xb):
            sb[j] = sa[i]
        fa = [s for i, s in enumerate(sa) if i not in xa]
        fb = [s for j, s in enumerate(sb) if j not in xb]
        eq = "Z" + "".join(sa) + ",Z" + "".join(sb) + "->Z" + "".join(fa) + "".join(fb)
        return [mx.einsum(eq, a, b)], [0]
    if aa is not None:
        a = move_to_front(a, aa)
        return [tensordot(a, b, ([i + 1 for i in xa], list(xb)))], [0]
    b = move_to_front(b, ab)
    nfa = a.ndim - len(xa)
    return [tensordot(a, b, (list(xa), [j + 1 for j in xb]))], [nfa]


TensorDot.vjp = _tensordot_vjp
TensorDot.jvp = _tensordot_jvp
TensorDot.vmap = _tensordot_vmap


def _outer_vjp(self, primals, cotangents, argnums, outputs):
    a, b = primals
    c = cotangents[0]
    out = []
    for k in argnums:
        if k == 0:
            g = mx.sum(mx.multiply(c, mx.reshape(_cj(b), (1, -1))), axis=1)
            out.append(mx.reshape(g, a.shape))
        else:
            g = mx.sum(mx.multiply(c, mx.reshape(_cj(a), (-1, 1))), axis=0)
            out.append(mx.reshape(g, b.shape))
    return out


def _outer_jvp(self, primals, tangents, argnums):
    a, b = primals
    ta, tb = tangents_by_input(primals, tangents, argnums)
    return [_product_rule(outer, a, b, ta, tb)]


def _outer_vmap(self, inputs, axes):
    a, b = inputs
    aa, ab = axes
    a = (
        mx.reshape(move_to_front(a, aa), (-1, 1))
        if aa is None
        else mx.reshape(move_to_front(a, aa), (a.shape[aa], -1, 1))
    )
    b = (
        mx.reshape(b, (1, -1))
        if ab is None
        else mx.reshape(move_to_front(b, ab), (b.shape[ab], 1, -1))
    )
    return [mx.multiply(a, b)], [0]


Outer.vjp = _outer_vjp
Outer.jvp = _outer_jvp
Outer.vmap = _outer_vmap


def _kron_shapes(sa, sb):
    n = max(len(sa), len(sb))
    sa = (1,) * (n - len(sa)) + tuple(sa)
    sb = (1,) * (n - len(sb)) + tuple(sb)
    ia, ib = [], []
    for x, y in zip(sa, sb):
        ia += [x, 1]
        ib += [1, y]
    inter = [v for x, y in zip(sa, sb) for v in (x, y)]
    return tuple(ia), tuple(ib), tuple(inter), n


def _kron_vjp(self, primals, cotangents, argnums, outputs):
    a, b = primals
    ia, ib, inter, n = _kron_shapes(a.shape, b.shape)
    C = mx.reshape(cotangents[0], inter)
    out = []
    for k in argnums:
        if k == 0:
            g = mx.sum(mx.multiply(C, mx.reshape(_cj(b), ib)), axis=list(range(1, 2 * n, 2)))
            out.append(mx.reshape(g, a.shape))
        else:
            g = mx.sum(mx.multiply(C, mx.reshape(_cj(a), ia)), axis=list(range(0, 2 * n, 2)))
            out.append(mx.reshape(g, b.shape))
    return out


def _kron_jvp(self, primals, tangents, argnums):
    a, b = primals
    ta, tb = tangents_by_input(primals, tangents, argnums)
    return [_product_rule(kron, a, b, ta, tb)]


def _kron_vmap(self, inputs, axes):
    a, b = inputs
    aa, ab = axes
    bsize = a.shape[aa] if aa is not None else b.shape[ab]
    sa = a.shape if aa is None else a.shape[:aa] + a.shape[aa + 1 :]
    sb = b.shape if ab is None else b.shape[:ab] + b.shape[ab + 1 :]
    ia, ib, inter, n = _kron_shapes(sa, sb)
    A = mx.reshape(a, ia) if aa is None else mx.reshape(move_to_front(a, aa), (bsize,) + ia)
    B = mx.reshape(b, ib) if ab is None else mx.reshape(move_to_front(b, ab), (bsize,) + ib)
    out_shape = tuple(inter[2 * i] * inter[2 * i + 1] for i in range(n))
    return [mx.reshape(mx.multiply(A, B), (bsize,) + out_shape)], [0]


Kron.vjp = _kron_vjp
Kron.jvp = _kron_jvp
Kron.vmap = _kron_vmap


def _vecdot_vjp(self, primals, cotangents, argnums, outputs):
    a, b = primals
    c = mx.expand_dims(cotangents[0], self.axis)
    out = []
    for k in argnums:
        if k == 0:  # d/da of sum(conj(a) b): conj(c) b (MLX's conjugate vjp)
            out.append(unbroadcast(mx.multiply(_cj(c), b), a.shape))
        else:
            out.append(unbroadcast(mx.multiply(c, a), b.shape))
    return out


def _vecdot_jvp(self, primals, tangents, argnums):
    a, b = primals
    ta, tb = tangents_by_input(primals, tangents, argnums)
    return [_product_rule(lambda x, y: vecdot(x, y, axis=self.axis), a, b, ta, tb)]


def _vecdot_vmap(self, inputs, axes):
    a, b = [
        mx.expand_dims(x, 0) if ax is None else move_to_front(x, ax) for x, ax in zip(inputs, axes)
    ]
    return [vecdot(a, b, axis=self.axis + 1)], [0]


VecDot.vjp = _vecdot_vjp
VecDot.jvp = _vecdot_jvp
VecDot.vmap = _vecdot_vmap
