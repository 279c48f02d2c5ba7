"""Elementwise unary ops: each primitive, its dtype rule and its public function."""

from __future__ import annotations

import math

import numpy as np

from .. import _dtypes as dt
from .._array import _new, array, as_array, constant, node
from .._device import resolve_stream
from .._eval import tracing as _tracing
from .._primitive import Primitive
from .._rules import zero_jvp, zero_vjp

# Dtype rules: dicts from input dtype to output dtype; a missing key is unsupported.
_ALL = dt.ALL_DTYPES
_SAME = {d: d for d in _ALL}
_SAME_REAL = {d: d for d in _ALL if d is not dt.complex64}
_FLOAT = {d: dt.float_of(d) for d in _ALL}
_FLOAT_REAL = {d: dt.float_of(d) for d in _ALL if d is not dt.complex64}
_BOOL = {d: dt.bool_ for d in _ALL}
_REAL_PART = {d: (dt.float32 if d is dt.complex64 else d) for d in _ALL}
_NO_BOOL = {d: d for d in _ALL if d is not dt.bool_}
_INTEGRAL = {d: d for d in _ALL if d.kind in "biu"}


class Unary(Primitive):
    """An elementwise primitive with one input and output of the input's shape.

    ``op`` is the public function (the vmap rule applies it to the batched input) and
    ``grad(x, out)`` the derivative d out / d x written with umx ops, or a Python number
    for a constant one: vjp is ``cot * conj(grad)`` (MLX's convention for complex input,
    holomorphic ops) cast back to the input dtype, jvp ``tangent * grad``.
    """

    __slots__ = ()
    op = None
    grad = None

    def vjp(self, primals, cotangents, argnums, outputs):
        x = primals[0]
        g = _scale(cotangents[0], self.grad, x, outputs[0], True)
        return [g if g._dtype is x._dtype else astype(g, x._dtype)]

    def jvp(self, primals, tangents, argnums):
        x = primals[0]
        d = self.grad
        return [_scale(tangents[0], d, x, None if type(d) in (int, float) else self.op(x), False)]

    def vmap(self, inputs, axes):
        return [self.op(inputs[0])], [axes[0]]


def _scale(c, d, x, out, conj: bool):
    """``c * d`` where ``d`` is a number or ``d(x, out)`` (conjugated for vjps)."""
    if type(d) in (int, float):
        if d == 1:
            return c
        return negative(c) if d == -1 else c * d
    g = d(x, out)
    if conj and g._dtype is dt.complex64:
        g = conjugate(g)
    return c * g


def _unary(prim: Unary, rule: dict, doc: str, message: str | None = None):
    """Make the public function for ``prim``: dtype rule checked at call time."""
    name = prim.name

    def op(a, /, *, stream=None) -> array:
        if type(a) is not array:
            a = as_array(a, name)
        try:
            out = rule[a._dtype]
        except KeyError:
            msg = message or f"Not supported for {a._dtype.name}."
            raise ValueError(f"[{name}] {msg}") from None
        # node() inlined: this is the hot path of elementwise chains
        n = _new(array)
        n._shape = a._shape
        n._dtype = out
        n._prim = prim
        n._inputs = (a,)
        n._stream = resolve_stream(stream)
        n._data = None
        n._seq = 0
        n._error = None
        return n

    op.__name__ = op.__qualname__ = name
    op.__doc__ = doc
    return op


def _declare(name: str, fn, rule: dict, doc: str, message: str | None = None, grad=None, **rules):
    """Declare a unary primitive whose kernel is ``fn(xp, x)``; returns the public op.

    ``grad(x, out)`` (or a number) is its derivative; ``rules`` override the derived
    transform rules (e.g. ``vjp=zero_vjp, jvp=zero_jvp`` for piecewise-constant ops).
    """
    cls = type(name.title().replace("_", ""), (Unary,), {"__slots__": (), "name": name})
    cls.eval = staticmethod(fn)  # one call level on the hot path
    if grad is not None:
        cls.grad = grad if type(grad) in (int, float) else staticmethod(grad)
    for k, f in rules.items():
        setattr(cls, k, f)
    op = _unary(cls(), rule, doc, message)
    cls.op = staticmethod(op)
    return op, cls


_ZERO = {"vjp": zero_vjp, "jvp": zero_jvp}  # piecewise-constant, boolean or integer valued


# erf / erfc in float64 with plain NumPy, three regions of |x|:
#   [0, 1):    Taylor series of erf about 0 (alternating, no cancellation trouble there);
#   [1, 2.5):  erf = 2/sqrt(pi) exp(-x^2) sum_k (2x^2)^k x / (2k+1)!!   (positive terms);
#   [2.5, oo): erfc by Laplace's continued fraction, evaluated bottom-up.
# Relative error below 1e-15 everywhere (checked against math.erf / math.erfc); fewer
# terms when the result is only float32 / float16 (error below 1e-8).
_SQPI = math.sqrt(math.pi)
_TAYLOR = [(-1) ** k / (math.factorial(k) * (2 * k + 1)) * 2 / _SQPI for k in range(20)]
_EXPSER = [2 / _SQPI]
for _k in range(40):
    _EXPSER.append(_EXPSER[-1] * 2 / (2 * _k + 3))
_TERMS = {True: (18, 40, 40), False: (11, 26, 18)}  # float64 result?  (taylor, expser, cf)


def _horner(coefs, t):
    p = np.full_like(t, coefs[-1])
    for c in coefs[-2::-1]:
        p *= t
        p += c
    return p


def _erf_erfc_abs(a, f64: bool):
    """For ``a = |x|`` (float64): ``(erf(a) where a < 2.5 else 0, mask a >= 2.5, erfc there)``."""
    nt, ne, nc = _TERMS[f64]
    out = np.zeros_like(a)
    r1 = a < 1.0
    x = a[r1]
    out[r1] = x * _horner(_TAYLOR[:nt], x * x)
    r2 = ~r1 & (a < 2.5)
    x = a[r2]
    t = x * x
    out[r2] = x * _horner(_EXPSER[:ne], t) * np.exp(-t)
    r3 = ~(r1 | r2 | np.isnan(a))
    x = np.minimum(a[r3], 30.0)
    f = x.copy()
    for k in range(nc, 0, -1):
        np.divide(k / 2, f, out=f)
        f += x
    return out, r3, np.exp(-x * x) / _SQPI / f


def _erf64(x, f64: bool = True):
    """erf of a float64 NumPy array."""
    out, r3, ec = _erf_erfc_abs(np.abs(x), f64)
    out[r3] = 1.0 - ec
    out = np.copysign(out, x)
    return np.where(np.isnan(x), x, out)


def _erf(xp, x):
    if xp is np:
        return _erf64(np.asarray(x, dtype=np.float64), x.dtype == np.float64).astype(
            x.dtype, copy=False
        )
    from cupyx.scipy.special import erf

    return erf(x)


_GILES_LO = (2.81022636e-08, 3.43273939e-07, -3.5233877e-06, -4.39150654e-06, 0.00021858087,
             -0.00125372503, -0.00417768164, 0.246640727, 1.50140941)  # fmt: skip
_GILES_HI = (-0.000200214257, 0.000100950558, 0.00134934322, -0.00367342844, 0.00573950773,
             -0.0076224613, 0.00943887047, 1.00167406, 2.83297682)  # fmt: skip


def _giles(x):
    """Giles' single-precision erfinv approximation ("Approximating the erfinv function",
    GPU Computing Gems, 2011), in the precision of ``x``."""
    with np.errstate(divide="ignore", invalid="ignore"):
        w = -np.log((1 - x) * (1 + x))
        lo = w < 5
        wl = w - 2.5
        p1 = np.full_like(x, _GILES_LO[0])
        for c in _GILES_LO[1:]:
            p1 *= wl
            p1 += c
        wh = np.sqrt(np.maximum(w, 5)) - 3
        p2 = np.full_like(x, _GILES_HI[0])
        for c in _GILES_HI[1:]:
            p2 *= wh
            p2 += c
        return np.where(lo, p1, p2) * x


def _erfinv(xp, x):
    if xp is np:
        if x.dtype != np.float64:  # Giles' approximation is accurate to float32
            xf = np.asarray(x, dtype=np.float32)
            y = np.where(np.abs(xf) == 1, np.copysign(np.float32(np.inf), xf), _giles(xf))
            return y.astype(x.dtype, copy=False)
        a = np.abs(x)
        y = np.abs(_giles(a))
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            tail = a > 0.5
            lq = np.log(1.0 - a)  # 1 - a is exact for a > 0.5
            for _ in range(4):
                # Centre: Halley on erf(y) - a.  Tail: Newton on log(erfc(y)) - log(1 - a),
                # nearly linear in y even far out where Giles' start is rough.
                e, r3, ect = _erf_erfc_abs(y, True)
                ec = 1.0 - e
                ec[r3] = ect
                e[r3] = 1.0 - ect
                d = 2 / _SQPI * np.exp(-y * y)
                f = e - a
                dc = f / d
                dt = (np.log(ec) - lq) * ec / -d
                y = np.where(tail, y - dt, y - dc / (1.0 + y * dc))
        y = np.copysign(y, x)
        y = np.where(a == 1, np.copysign(np.inf, x), y)
        return np.where(a > 1, np.nan, y)
    from cupyx.scipy.special import erfinv

    return erfinv(x)


def _sigmoid(xp, x):
    return (1 / (1 + xp.exp(-x))).astype(x.dtype, copy=False)


def _round_half_even(xp, x):
    return xp.round(x)


def _cast_like(f):
    """Kernel whose NumPy result dtype may differ (float16 math, ints): cast back."""
    return lambda xp, x: f(xp, x).astype(_out_np(x), copy=False)


def _out_np(x):
    k = x.dtype.kind
    return x.dtype if k in "fcV" or x.dtype.name == "bfloat16" else np.float32


def _float_in(f):
    """Integer inputs of float-valued ops compute in float32, as MLX does."""

    def k(xp, x):
        if x.dtype.kind in "biu":
            x = x.astype(np.float32)
        return f(xp, x)

    return k


def _np(fname):
    """The kernel of a float-valued ufunc: one call on the hot path (NumPy's resolved once)."""
    npf = getattr(np, fname)

    def k(xp, x):
        if x.dtype.kind in "biu":
            x = x.astype(np.float32)
        return npf(x) if xp is np else getattr(xp, fname)(x)

    return k


def _abs_vjp(self, primals, cotangents, argnums, outputs):
    # MLX: the cotangent times sign(x), not conjugated (x / |x| for complex x).
    return [cotangents[0] * sign(primals[0])]


def _abs_jvp(self, primals, tangents, argnums):
    s = sign(primals[0])
    if s._dtype is dt.complex64:  # d|z| = Re(conj(z / |z|) dz)
        return [real(conjugate(s) * tangents[0])]
    return [tangents[0] * s]


def _imag_vjp(self, primals, cotangents, argnums, outputs):
    x = primals[0]
    if x._dtype is dt.complex64:
        return [cotangents[0] * 1j]
    from .creation import zeros_like

    return [zeros_like(x)]


_LN2, _LN10, _DEG = math.log(2.0), math.log(10.0), 180.0 / math.pi

abs, Abs = _declare(
    "abs", lambda xp, x: xp.abs(x), {**_SAME, dt.complex64: dt.float32},
    "Elementwise absolute value.", vjp=_abs_vjp, jvp=_abs_jvp,
)  # fmt: skip
negative, Negative = _declare(
    "negative", lambda xp, x: xp.negative(x), _NO_BOOL, "Elementwise negation.",
    "Not supported for bool, use logical_not instead.", grad=-1,
)  # fmt: skip
sign, Sign = _declare("sign", lambda xp, x: _sign(xp, x), _SAME, "Elementwise sign.", **_ZERO)
exp, Exp = _declare("exp", _np("exp"), _FLOAT, "Elementwise exponential.", grad=lambda x, y: y)
expm1, Expm1 = _declare(
    "expm1", _np("expm1"), _FLOAT_REAL, "Elementwise ``exp(x) - 1``, accurate near 0.",
    grad=lambda x, y: y + 1,
)  # fmt: skip
log, Log = _declare(
    "log", _np("log"), _FLOAT, "Elementwise natural logarithm.", grad=lambda x, y: 1 / x
)
log1p, Log1p = _declare(
    "log1p", _np("log1p"), _FLOAT, "Elementwise ``log(1 + x)``.", grad=lambda x, y: 1 / (x + 1)
)
log2, Log2 = _declare(
    "log2", _np("log2"), _FLOAT, "Elementwise base-2 logarithm.",
    grad=lambda x, y: 1 / (x * _LN2),
)  # fmt: skip
log10, Log10 = _declare(
    "log10", _np("log10"), _FLOAT, "Elementwise base-10 logarithm.",
    grad=lambda x, y: 1 / (x * _LN10),
)  # fmt: skip
sqrt, Sqrt = _declare(
    "sqrt", _np("sqrt"), _FLOAT, "Elementwise square root.", grad=lambda x, y: 0.5 / y
)
rsqrt, Rsqrt = _declare(
    "rsqrt", _float_in(lambda xp, x: (1 / xp.sqrt(x)).astype(x.dtype, copy=False)), _FLOAT,
    "Elementwise reciprocal square root.", grad=lambda x, y: -0.5 * y / x,
)  # fmt: skip
square, Square = _declare(
    "square", lambda xp, x: xp.multiply(x, x), _SAME, "Elementwise square.",
    grad=lambda x, y: 2 * x,
)  # fmt: skip
reciprocal, Reciprocal = _declare(
    "reciprocal", _float_in(lambda xp, x: (1 / x).astype(x.dtype, copy=False)), _FLOAT,
    "Elementwise reciprocal.", grad=lambda x, y: -(y * y),
)  # fmt: skip
sin, Sin = _declare("sin", _np("sin"), _FLOAT, "Elementwise sine.", grad=lambda x, y: cos(x))
cos, Cos = _declare("cos", _np("cos"), _FLOAT, "Elementwise cosine.", grad=lambda x, y: -sin(x))
tan, Tan = _declare("tan", _np("tan"), _FLOAT, "Elementwise tangent.", grad=lambda x, y: 1 + y * y)
arcsin, Arcsin = _declare(
    "arcsin", _np("arcsin"), _FLOAT, "Elementwise inverse sine.",
    grad=lambda x, y: rsqrt(1 - x * x),
)  # fmt: skip
arccos, Arccos = _declare(
    "arccos", _np("arccos"), _FLOAT, "Elementwise inverse cosine.",
    grad=lambda x, y: -rsqrt(1 - x * x),
)  # fmt: skip
arctan, Arctan = _declare(
    "arctan", _np("arctan"), _FLOAT, "Elementwise inverse tangent.",
    grad=lambda x, y: 1 / (1 + x * x),
)  # fmt: skip
sinh, Sinh = _declare(
    "sinh", _np("sinh"), _FLOAT, "Elementwise hyperbolic sine.", grad=lambda x, y: cosh(x)
)
cosh, Cosh = _declare(
    "cosh", _np("cosh"), _FLOAT, "Elementwise hyperbolic cosine.", grad=lambda x, y: sinh(x)
)
tanh, Tanh = _declare(
    "tanh", _np("tanh"), _FLOAT, "Elementwise hyperbolic tangent.", grad=lambda x, y: 1 - y * y
)
arcsinh, Arcsinh = _declare(
    "arcsinh", _np("arcsinh"), _FLOAT, "Elementwise inverse hyperbolic sine.",
    grad=lambda x, y: rsqrt(x * x + 1),
)  # fmt: skip
arccosh, Arccosh = _declare(
    "arccosh", _np("arccosh"), _FLOAT, "Elementwise inverse hyperbolic cosine.",
    grad=lambda x, y: rsqrt(x * x - 1),
)  # fmt: skip
arctanh, Arctanh = _declare(
    "arctanh", _np("arctanh"), _FLOAT, "Elementwise inverse hyperbolic tangent.",
    grad=lambda x, y: 1 / (1 - x * x),
)  # fmt: skip
erf, Erf = _declare(
    "erf", _float_in(_erf), _FLOAT_REAL, "Elementwise error function.",
    grad=lambda x, y: (2 / _SQPI) * exp(-(x * x)),
)  # fmt: skip
erfinv, Erfinv = _declare(
    "erfinv", _float_in(_erfinv), _FLOAT_REAL, "Elementwise inverse error function.",
    grad=lambda x, y: (_SQPI / 2) * exp(y * y),
)  # fmt: skip
sigmoid, Sigmoid = _declare(
    "sigmoid", _float_in(_sigmoid), _FLOAT_REAL, "Elementwise logistic sigmoid.",
    grad=lambda x, y: y * (1 - y),
)  # fmt: skip
floor, Floor = _declare(
    "floor", lambda xp, x: xp.floor(x) if x.dtype.kind in "fV" else x, _SAME_REAL,
    "Elementwise floor.", **_ZERO,
)  # fmt: skip
ceil, Ceil = _declare(
    "ceil", lambda xp, x: xp.ceil(x) if x.dtype.kind in "fV" else x, _SAME_REAL,
    "Elementwise ceiling.", **_ZERO,
)  # fmt: skip


def truth(x):
    """``x`` for a logical op: complex values as ``x != 0`` (CuPy's logical ops take no
    complex input; NumPy's give the same answer either way)."""
    return x != 0 if x.dtype.kind == "c" else x


logical_not, LogicalNot = _declare(
    "logical_not", lambda xp, x: xp.logical_not(truth(x)), _BOOL, "Elementwise logical not.",
    **_ZERO
)  # fmt: skip
isnan, Isnan = _declare("isnan", lambda xp, x: xp.isnan(x), _BOOL, "Elementwise NaN test.", **_ZERO)
isinf, Isinf = _declare(
    "isinf", lambda xp, x: xp.isinf(x), _BOOL, "Elementwise infinity test.", **_ZERO
)
isfinite, Isfinite = _declare(
    "isfinite", lambda xp, x: xp.isfinite(x), _BOOL, "Elementwise finiteness test.", **_ZERO
)
isposinf, Isposinf = _declare(
    "isposinf", lambda xp, x: x == xp.inf, _BOOL, "Elementwise +infinity test.", **_ZERO
)
isneginf, Isneginf = _declare(
    "isneginf", lambda xp, x: x == -xp.inf, _BOOL, "Elementwise -infinity test.", **_ZERO
)
conjugate, Conjugate = _declare(
    "conjugate", lambda xp, x: xp.conjugate(x), _SAME, "Elementwise complex conjugate.",
    vjp=lambda self, p, c, a, o: [conjugate(c[0])], jvp=lambda self, p, t, a: [conjugate(t[0])],
)  # fmt: skip
real, Real = _declare(
    "real", lambda xp, x: xp.real(x).copy() if x.dtype.kind == "c" else x, _REAL_PART,
    "Real part.", grad=1, jvp=lambda self, p, t, a: [real(t[0])],
)  # fmt: skip
imag, Imag = _declare(
    "imag", lambda xp, x: xp.imag(x).copy() if x.dtype.kind == "c" else xp.zeros_like(x),
    _REAL_PART, "Imaginary part.", vjp=_imag_vjp, jvp=lambda self, p, t, a: [imag(t[0])],
)  # fmt: skip
degrees, Degrees = _declare(
    "degrees", _float_in(lambda xp, x: (x * (180.0 / math.pi)).astype(x.dtype, copy=False)), _FLOAT,
    "Radians to degrees.", grad=_DEG,
)  # fmt: skip
radians, Radians = _declare(
    "radians", _float_in(lambda xp, x: (x * (math.pi / 180.0)).astype(x.dtype, copy=False)), _FLOAT,
    "Degrees to radians.", grad=1 / _DEG,
)  # fmt: skip
bitwise_invert, BitwiseInvert = _declare(
    "bitwise_invert", lambda xp, x: xp.invert(x), _INTEGRAL, "Elementwise bitwise inverse.",
    "Bitwise inverse only allowed on integer types.", **_ZERO,
)  # fmt: skip
stop_gradient, StopGradient = _declare(
    "stop_gradient", lambda xp, x: x, _SAME, "The identity, with no gradient flowing through it.",
    **_ZERO,
)  # fmt: skip
copy, Copy = _declare("copy", lambda xp, x: x.copy(), _SAME, "A copy of the array.", grad=1)
positive, Positive = _declare(
    "positive", lambda xp, x: x.copy(), _SAME, "Elementwise unary plus (a copy).", grad=1
)
trunc, Trunc = _declare(
    "trunc", lambda xp, x: xp.trunc(x) if x.dtype.kind in "fV" else x, _SAME_REAL,
    "Elementwise truncation towards zero.", **_ZERO,
)  # fmt: skip

conj = conjugate
# The array-API spellings MLX also exports: the same functions under a second name.
acos, acosh, asin, asinh, atan, atanh = arccos, arccosh, arcsin, arcsinh, arctan, arctanh


def _sign(xp, x):
    if x.dtype.kind == "b":
        return x
    if x.dtype.kind == "c":
        mag = xp.abs(x)
        return xp.where(mag == 0, 0, x / xp.where(mag == 0, 1, mag)).astype(x.dtype)
    if x.dtype.kind in "iu":
        return xp.sign(x)
    # MLX: sign(nan) = 0 and sign(-0.0) = +0.
    return ((x > 0).astype(x.dtype) - (x < 0).astype(x.dtype)).astype(x.dtype, copy=False)


class Round(Unary):
    __slots__ = ("decimals",)
    name = "round"

    def __init__(self, decimals: int) -> None:
        self.decimals = decimals

    def eval(self, xp, x):
        if x.dtype.kind in "biu":
            return x if self.decimals >= 0 else xp.round(x, self.decimals)
        return xp.round(x, self.decimals)

    vjp, jvp = zero_vjp, zero_jvp

    def vmap(self, inputs, axes):
        return [round(inputs[0], self.decimals)], [axes[0]]


_ROUND0 = Round(0)


def round(a, /, decimals: int = 0, *, stream=None) -> array:
    """Round half to even to ``decimals`` decimal places."""
    a = as_array(a, "round")
    prim = _ROUND0 if decimals == 0 else Round(int(decimals))
    return node(prim, (a,), a._shape, a._dtype, resolve_stream(stream))


class NanToNum(Unary):
    __slots__ = ("nan", "posinf", "neginf")
    name = "nan_to_num"

    def __init__(self, nan, posinf, neginf) -> None:
        self.nan, self.posinf, self.neginf = nan, posinf, neginf

    def eval(self, xp, x):
        if x.dtype.kind in "biu":
            return x
        d = x.dtype
        with np.errstate(over="ignore"):
            nan, pos, neg = (xp.asarray(v).astype(d) for v in (self.nan, self.posinf, self.neginf))
        out = xp.where(xp.isnan(x), nan, x)
        out = xp.where(out == xp.inf, pos, out)
        return xp.where(out == -xp.inf, neg, out).astype(d, copy=False)

    # As MLX (a chain of wheres): no gradient where the input was replaced.
    def vjp(self, primals, cotangents, argnums, outputs):
        return [self._mask(primals[0], cotangents[0])]

    def jvp(self, primals, tangents, argnums):
        return [self._mask(primals[0], tangents[0])]

    @staticmethod
    def _mask(x, g):
        if x._dtype.kind in "biu":
            return g
        from .creation import zeros_like
        from .select import where

        return where(isfinite(x), g, zeros_like(g))

    def vmap(self, inputs, axes):
        return [nan_to_num(inputs[0], self.nan, self.posinf, self.neginf)], [axes[0]]


def nan_to_num(
    a, nan: float = 0.0, posinf: float | None = None, neginf: float | None = None, *, stream=None
) -> array:
    """Replace NaN with ``nan`` and infinities with ``posinf`` / ``neginf`` (default: the
    dtype's largest finite values)."""
    a = as_array(a, "nan_to_num")
    if a._dtype in (dt.float64, dt.complex64):
        raise ValueError(f"[nan_to_num] Does not yet support given type: {a._dtype.name}.")
    if a._dtype.kind == "f":
        info = dt.finfo(a._dtype)
        posinf = info.max if posinf is None else posinf
        neginf = info.min if neginf is None else neginf
    return node(NanToNum(nan, posinf, neginf), (a,), a._shape, a._dtype, resolve_stream(stream))


class AsType(Unary):
    __slots__ = ("dtype",)
    name = "astype"

    def __init__(self, dtype: dt.Dtype) -> None:
        self.dtype = dtype

    def eval(self, xp, x):
        k = self.dtype.kind
        if k != "c" and x.dtype.kind in "cf":
            if x.dtype.kind == "c":
                x = x.real  # MLX keeps the real part
            if k in "iu" and xp is np:
                with np.errstate(invalid="ignore", over="ignore"):  # nan / out of range
                    return x.astype(self.dtype.np)
        return x.astype(self.dtype.np)

    # MLX: the gradient passes through, cast back to the input dtype (also to integers).
    def vjp(self, primals, cotangents, argnums, outputs):
        return [astype(cotangents[0], primals[0]._dtype)]

    def jvp(self, primals, tangents, argnums):
        return [astype(tangents[0], self.dtype)]

    def vmap(self, inputs, axes):
        return [astype(inputs[0], self.dtype)], [axes[0]]


_ASTYPE = {d: AsType(d) for d in dt.ALL_DTYPES}


def astype(a, /, dtype, *, stream=None) -> array:
    """``a`` converted to ``dtype``."""
    a = as_array(a, "astype")
    d = dt.to_dtype(dtype, "astype")
    return node(_ASTYPE[d], (a,), a._shape, d, resolve_stream(stream))


def _m_astype(self, dtype, stream=None) -> array:
    """``array.astype``: unlike the function, MLX's method takes ``dtype`` and ``stream`` by
    position or keyword."""
    return astype(self, dtype, stream=stream)


def cast(a: array, d: dt.Dtype, stream) -> array:
    """Internal: ``a`` as dtype ``d`` on a resolved stream (no node when it already is).

    A computed 0-d host value (a scalar operand) is converted at once, not by a kernel on
    ``stream``: on a GPU stream that kernel would first copy it to the device. Not while a
    transform traces (the cast must stay in the graph for its gradient)."""
    if a._dtype is d:
        return a
    data = a._data
    if type(data) is np.ndarray and data.ndim == 0 and not _tracing.depth:
        with np.errstate(all="ignore"):
            return constant(_ASTYPE[d].eval(np, data), d)
    return node(_ASTYPE[d], (a,), a._shape, d, stream)


__all__ = [
    "abs", "negative", "sign", "exp", "expm1", "log", "log1p", "log2", "log10", "sqrt",
    "rsqrt", "square", "reciprocal", "sin", "cos", "tan", "arcsin", "arccos", "arctan",
    "sinh", "cosh", "tanh", "arcsinh", "arccosh", "arctanh", "erf", "erfinv", "sigmoid",
    "floor", "ceil", "round", "logical_not", "isnan", "isinf", "isfinite", "isposinf",
    "isneginf", "conjugate", "conj", "real", "imag", "degrees", "radians", "nan_to_num",
    "bitwise_invert", "stop_gradient", "astype", "positive", "trunc", "acos", "acosh",
    "asin", "asinh", "atan", "atanh",
]  # fmt: skip
METHODS = {
    "abs": abs, "exp": exp, "log": log, "log1p": log1p, "log2": log2, "log10": log10,
    "sqrt": sqrt, "rsqrt": rsqrt, "square": square, "reciprocal": reciprocal, "sin": sin,
    "cos": cos, "round": round, "conj": conjugate, "astype": _m_astype,
}  # fmt: skip
