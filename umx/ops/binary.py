"""Elementwise binary ops with MLX's promotion (weak Python scalars) and broadcasting."""

from __future__ import annotations

import numpy as np

from .. import _dtypes as dt
from .._array import array, as_array, constant, node, scalar
from .._device import resolve_stream
from .._primitive import Primitive
from .._rules import align_batched, unbroadcast, zero_jvp, zero_vjp
from ._util import broadcast_shapes
from .unary import astype, cast, conjugate, exp, floor, log, negative, sigmoid, truth

_PROMOTE = dt._PROMOTE
_weak = dt.weak_result


class Binary(Primitive):
    """An elementwise primitive over two inputs broadcast to one shape.

    ``op`` is the public function (the vmap rule applies it to the aligned batched inputs)
    and ``partials(x, y, out)`` the pair (d out / d x, d out / d y) written with umx ops, or
    Python numbers for constants: vjp is ``unbroadcast(cot * conj(d))`` (MLX's convention
    for complex), jvp ``tx * dx + ty * dy``.
    """

    __slots__ = ()
    op = None
    partials = None
    conj = True  # conjugate complex partials in the vjp (MLX does not for power)

    def vjp(self, primals, cotangents, argnums, outputs):
        ds = self.partials(primals[0], primals[1], outputs[0])
        c = cotangents[0]
        return [unbroadcast(_times(c, ds[k], self.conj), primals[k]._shape) for k in argnums]

    def jvp(self, primals, tangents, argnums):
        x, y = primals
        ds = self.partials(x, y, self.op(x, y))
        acc = None
        for k, t in zip(argnums, tangents):
            term = _times(t, ds[k], False)
            acc = term if acc is None else add(acc, term)
        shape = x._shape if x._shape == y._shape else broadcast_shapes(x._shape, y._shape)
        if acc._shape != shape:
            from .shape import broadcast_to

            acc = broadcast_to(acc, shape)
        return [acc]

    def vmap(self, inputs, axes):
        a, b = align_batched(inputs, axes)
        return [self.op(a, b)], [0]


def _times(c, d, conj: bool):
    """``c * d`` for a partial ``d`` (an array, conjugated for vjps, or a number)."""
    if type(d) in (int, float):
        if d == 1:
            return c
        return negative(c) if d == -1 else multiply(c, d)
    if conj and d._dtype is dt.complex64:
        d = conjugate(d)
    return multiply(c, d)


# Weak Python scalars: (array dtype, scalar type) -> result dtype, precomputed.
_WEAK = {(d, t): _weak(d, t(1)) for d in dt.ALL_DTYPES for t in (bool, int, float, complex)}
_SCALAR_CACHE = scalar.__globals__["_SCALAR_CACHE"]


def promote(a, b, op: str, stream):
    """``a``, ``b`` as arrays of one dtype (MLX rules: Python scalars are weak), with
    the broadcast shape. The common cases (array with array, array with a Python scalar)
    take the fast path."""
    if type(a) is array:
        if type(b) is array:
            d = a._dtype
            if d is not b._dtype:
                d = _PROMOTE[(d, b._dtype)]
                a = cast(a, d, stream)
                b = cast(b, d, stream)
        else:
            d = _WEAK.get((a._dtype, type(b)))
            if d is None:
                return _promote_slow(a, b, op, stream)
            c = _SCALAR_CACHE.get((type(b), b, d))
            b = _weak_scalar(b, d, a._dtype) if c is None else c
            if d is not a._dtype:
                a = cast(a, d, stream)
    elif type(b) is array:
        d = _WEAK.get((b._dtype, type(a)))
        if d is None:
            return _promote_slow(a, b, op, stream)
        c = _SCALAR_CACHE.get((type(a), a, d))
        a = _weak_scalar(a, d, b._dtype) if c is None else c
        if d is not b._dtype:
            b = cast(b, d, stream)
    else:
        return _promote_slow(a, b, op, stream)
    sa, sb = a._shape, b._shape
    shape = sa if sa == sb else broadcast_shapes(sa, sb, op=op)
    return a, b, shape, d


class InvalidOperand(ValueError):
    """An operand of a binary op that MLX does not accept (lists, strings, ...).
    ``==`` and ``!=`` answer ``False`` / ``True`` for these, as in MLX."""


_PY_SCALARS = (bool, int, float, complex)


def _weak_scalar(v, d: dt.Dtype, other: dt.Dtype) -> array:
    """The 0-d constant of dtype ``d`` for a weak Python scalar ``v`` combined with an
    array of dtype ``other``; integers must fit integer dtypes as in MLX."""
    if type(v) is int and d.kind in "iu":
        if other is dt.bool_:  # bool with a Python int: int32, wrapping as MLX does
            if not -(2**31) <= v < 2**31:
                v = (v + 2**31) % 2**32 - 2**31
        elif d.size < 8:
            info = _IINFO[d]
            if not info[0] <= v <= info[1]:
                raise ValueError(f"Converting {v} to {d.name} would result in overflow.")
        elif d.kind == "u" and v < 0 and v >= -(2**63):
            v += 2**64  # MLX wraps negative Python ints into uint64
    elif d.kind in "fc" and type(v) is not complex and d is not dt.float64:
        with np.errstate(over="ignore"):  # 1e300 -> inf in float32, quietly (once: cached)
            return scalar(v, d)
    return scalar(v, d)


_IINFO = {
    d: (int(np.iinfo(d.np).min), int(np.iinfo(d.np).max)) for d in dt.ALL_DTYPES if d.kind in "iu"
}


def _with_dtype(x, d: dt.Dtype, op: str) -> array:
    """A non-Python-scalar operand next to an array of dtype ``d``: MLX converts NumPy
    scalars and arrays to ``d``; other Python scalar subclasses stay weak."""
    if isinstance(x, np.generic) and not isinstance(x, float):
        x = np.asarray(x)
    if isinstance(x, np.ndarray):
        if x.dtype.kind not in "biufc":
            raise InvalidOperand(f"[{op}] Invalid type {x.dtype} received in array initialization.")
        if x.dtype.kind == "c" and d.kind != "c":
            x = x.real
        with np.errstate(all="ignore"):
            return constant(x.astype(d.np), d)
    if isinstance(x, _PY_SCALARS):
        t = next(t for t in (bool, int, float, complex) if isinstance(x, t))
        w = _weak(d, t(x))
        return _weak_scalar(t(x), w, d)
    return _strong(x, op)


def _strong(x, op: str) -> array:
    """An operand that is not next to an array: becomes an array of its own dtype."""
    if x is None:
        raise TypeError(f"[{op}] Expected an array or a scalar, got None.")
    if isinstance(x, (_PY_SCALARS, np.generic, np.ndarray)):
        return array(x)
    if isinstance(x, (list, tuple, str, dict, set)):
        raise InvalidOperand(
            f"[{op}] Invalid type {type(x).__name__} received in array initialization."
        )
    try:
        return as_array(x, op)
    except TypeError:
        raise InvalidOperand(
            f"[{op}] Invalid type {type(x).__name__} received in array initialization."
        ) from None


def _promote_slow(a, b, op, stream):
    """Everything but array-with-array and array-with-exact-Python-scalar."""
    if isinstance(a, array):
        b = b if isinstance(b, array) else _with_dtype(b, a._dtype, op)
    elif isinstance(b, array):
        a = _with_dtype(a, b._dtype, op)
    else:
        a, b = _strong(a, op), _strong(b, op)
    return promote(a, b, op, stream)


def _binary(prim: Binary, out_rule=None, allowed=None, message=None, compute=None):
    """The public function of ``prim``.

    ``compute`` maps the promoted dtype to the dtype the kernel runs in (e.g. ints ->
    float32 for divide); ``out_rule`` maps it to the output dtype (bool for comparisons).
    ``allowed`` is a predicate on the promoted dtype.
    """
    name = prim.name

    def op(a, b, /, *, stream=None) -> array:
        s = resolve_stream(stream)
        if name in _BITWISE_NAMES:
            _check_bitwise(name, a, b)
        a, b, shape, d = promote(a, b, name, s)
        if allowed is not None and not allowed(d):
            raise (RuntimeError if name in _BITWISE_NAMES else ValueError)(
                f"[{name}] {message or 'Not supported for ' + d.name + '.'}"
            )
        if compute is not None:
            c = compute(d)
            if c is not d:
                a, b, d = cast(a, c, s), cast(b, c, s), c
        return node(prim, (a, b), shape, d if out_rule is None else out_rule(d), s)

    op.__name__ = op.__qualname__ = name
    op.__doc__ = prim.__doc__
    return op


def _declare(name: str, kernel, doc: str, partials=None, zero=False, **kw):
    """Declare a binary primitive whose kernel is ``kernel(xp, x, y)``; returns the public
    op. ``partials(x, y, out)`` gives its derivatives; ``zero`` declares zero gradients
    (piecewise-constant, boolean or integer valued ops)."""
    cls = type(
        name.title().replace("_", ""), (Binary,), {"__slots__": (), "name": name, "__doc__": doc}
    )
    cls.eval = staticmethod(kernel)  # one call level on the hot path
    if partials is not None:
        cls.partials = staticmethod(partials)
    if zero:
        cls.vjp, cls.jvp = zero_vjp, zero_jvp
    op = _binary(cls(), **kw)
    cls.op = staticmethod(op)
    return op, cls


_bool = lambda d: dt.bool_  # noqa: E731
_not_complex = lambda d: d is not dt.complex64  # noqa: E731
_integral = lambda d: d.kind in "biu"  # noqa: E731
_float_of = dt.float_of


def _divide(xp, x, y):
    return xp.true_divide(x, y).astype(x.dtype, copy=False)


def _floor_divide(xp, x, y):
    if x.dtype.kind == "c":  # MLX: plain division for complex
        return xp.true_divide(x, y).astype(x.dtype, copy=False)
    if x.dtype.kind == "b":
        return x & y
    if x.dtype.kind in "fV":  # MLX: floor(x / y) (1.0 // 0.1 == 10, inf // 6 == inf); V: bf16
        return xp.floor(xp.true_divide(x, y))
    return xp.floor_divide(x, y)


def _remainder(xp, x, y):
    if x.dtype.kind == "b":
        return x & ~y
    if x.dtype.kind in "iu":  # MLX: x % 0 == x for integers
        return xp.where(y == 0, x, xp.remainder(x, y))
    return xp.remainder(x, y)


def _power(xp, x, y):
    if x.dtype.kind in "iu":
        if x.dtype.kind == "i":
            # MLX: any negative integer exponent gives 0 (even for bases 1 and -1).
            neg = y < 0
            if neg.any():
                return xp.where(neg, 0, xp.power(x, xp.where(neg, 0, y))).astype(
                    x.dtype, copy=False
                )
        return xp.power(x, y)
    if x.dtype.kind == "b":
        return x | ~y
    return xp.power(x, y)


def _logaddexp(xp, x, y):
    if x.dtype.kind == "c":  # max + log1p(exp(min - max)), as MLX (no 2*pi wrap)
        hi = xp.maximum(x, y)
        lo = xp.where(hi == x, y, x)
        return (hi + xp.log1p(xp.exp(lo - hi))).astype(x.dtype, copy=False)
    return xp.logaddexp(x, y)


def _subtract(xp, x, y):
    if x.dtype.kind == "b":  # MLX: bool - bool is "differs"
        return x != y
    return xp.subtract(x, y)


def _shift_dtype(d):
    return dt.uint8 if d is dt.bool_ else d


def _as_int(f):
    def k(xp, x, y):
        if x.dtype.kind == "b":
            x, y = x.astype(np.uint8), y.astype(np.uint8)
        return f(xp, x, y)

    return k


def _power_partials(x, y, out):
    from .select import where

    # MLX: d/dy is out * log(x), taken as 0 where out is 0 (0 * log 0).
    dy = where(not_equal(out, 0), multiply(out, log(x)), 0)
    return multiply(power(x, subtract(y, 1)), y), dy


def _logaddexp_partials(x, y, out):
    if x._dtype is dt.complex64:
        return exp(subtract(x, out)), exp(subtract(y, out))
    return sigmoid(subtract(x, y)), sigmoid(subtract(y, x))


def _arctan2_partials(x, y, out):
    r = add(multiply(x, x), multiply(y, y))
    return divide(y, r), negative(divide(x, r))


# maximum / minimum: as MLX, ties send the gradient to the second operand.
def _maximum_partials(x, y, out):
    return astype(greater(x, y), x._dtype), astype(less_equal(x, y), x._dtype)


def _minimum_partials(x, y, out):
    return astype(less(x, y), x._dtype), astype(greater_equal(x, y), x._dtype)


add, Add = _declare(
    "add", lambda xp, x, y: xp.add(x, y), "Elementwise addition.", partials=lambda x, y, o: (1, 1)
)
subtract, Subtract = _declare(
    "subtract", _subtract, "Elementwise subtraction.", partials=lambda x, y, o: (1, -1)
)
multiply, Multiply = _declare(
    "multiply", lambda xp, x, y: xp.multiply(x, y), "Elementwise multiplication.",
    partials=lambda x, y, o: (y, x),
)  # fmt: skip
divide, Divide = _declare(
    "divide", _divide, "Elementwise true division.", compute=_float_of,
    partials=lambda x, y, o: (divide(1, y), negative(divide(o, y))),
)  # fmt: skip
floor_divide, FloorDivide = _declare(
    "floor_divide", _floor_divide, "Elementwise floor division.", zero=True
)
remainder, Remainder = _declare(
    "remainder", _remainder, "Elementwise remainder with the sign of the divisor.",
    allowed=_not_complex, message="Complex type not supported.",
    partials=lambda x, y, o: (1, negative(floor(divide(x, y)))),
)  # fmt: skip
power, Power = _declare("power", _power, "Elementwise power.", partials=_power_partials)
Power.conj = False
maximum, Maximum = _declare(
    "maximum", lambda xp, x, y: xp.maximum(x, y), "Elementwise maximum (NaN propagates).",
    partials=_maximum_partials,
)  # fmt: skip
minimum, Minimum = _declare(
    "minimum", lambda xp, x, y: xp.minimum(x, y), "Elementwise minimum (NaN propagates).",
    partials=_minimum_partials,
)  # fmt: skip
arctan2, Arctan2 = _declare(
    "arctan2", lambda xp, x, y: xp.arctan2(x, y), "Elementwise arctangent of ``a / b`` by quadrant.",
    compute=_float_of, allowed=_not_complex, partials=_arctan2_partials,
)  # fmt: skip
logaddexp, Logaddexp = _declare(
    "logaddexp", _logaddexp, "Elementwise ``log(exp(a) + exp(b))``.", compute=_float_of,
    partials=_logaddexp_partials,
)  # fmt: skip
equal, Equal = _declare(
    "equal", lambda xp, x, y: xp.equal(x, y), "Elementwise ``a == b``.", out_rule=_bool, zero=True
)
not_equal, NotEqual = _declare(
    "not_equal", lambda xp, x, y: xp.not_equal(x, y), "Elementwise ``a != b``.", out_rule=_bool,
    zero=True,
)  # fmt: skip
less, Less = _declare(
    "less", lambda xp, x, y: xp.less(x, y), "Elementwise ``a < b``.", out_rule=_bool, zero=True
)
less_equal, LessEqual = _declare(
    "less_equal", lambda xp, x, y: xp.less_equal(x, y), "Elementwise ``a <= b``.", out_rule=_bool,
    zero=True,
)  # fmt: skip
greater, Greater = _declare(
    "greater", lambda xp, x, y: xp.greater(x, y), "Elementwise ``a > b``.", out_rule=_bool,
    zero=True,
)  # fmt: skip
greater_equal, GreaterEqual = _declare(
    "greater_equal", lambda xp, x, y: xp.greater_equal(x, y), "Elementwise ``a >= b``.",
    out_rule=_bool, zero=True,
)  # fmt: skip
logical_and, LogicalAnd = _declare(
    "logical_and", lambda xp, x, y: xp.logical_and(truth(x), truth(y)), "Elementwise logical and.",
    out_rule=_bool, zero=True,
)  # fmt: skip
logical_or, LogicalOr = _declare(
    "logical_or", lambda xp, x, y: xp.logical_or(truth(x), truth(y)), "Elementwise logical or.",
    out_rule=_bool, zero=True,
)  # fmt: skip
logical_xor, LogicalXor = _declare(
    "logical_xor", lambda xp, x, y: xp.logical_xor(truth(x), truth(y)),
    "Elementwise logical exclusive or.",
    out_rule=_bool, zero=True,
)  # fmt: skip


def _logical(op):
    # MLX reads a Python number operand of a logical op as a truth value: it is not
    # converted to the array's dtype, so ``logical_and(int8_array, -1000)`` is no overflow.
    def f(a, b, /, *, stream=None) -> array:
        if type(a) in (int, float, complex):
            a = bool(a)
        if type(b) in (int, float, complex):
            b = bool(b)
        return op(a, b, stream=stream)

    f.__name__ = f.__qualname__ = op.__name__
    f.__doc__ = op.__doc__
    return f


logical_and, logical_or, logical_xor = map(_logical, (logical_and, logical_or, logical_xor))


def divmod(a, b, /, *, stream=None) -> list:
    """``[a // b, a % b]`` elementwise (floor division and remainder with the divisor's sign)."""
    s = resolve_stream(stream)
    a, b, shape, d = promote(a, b, "divmod", s)
    if d is dt.complex64:
        raise ValueError("[divmod] Complex type not supported.")
    return [floor_divide(a, b, stream=s), remainder(a, b, stream=s)]


_BITWISE_MSG = "Only allowed on integer or boolean types."
_BITWISE_NAMES = frozenset(
    ("bitwise_and", "bitwise_or", "bitwise_xor", "left_shift", "right_shift")
)


def _operand_dtype(x, other):
    """The dtype ``x`` enters a binary op with (a Python scalar takes the weak result)."""
    if type(x) is array:
        return x._dtype
    if type(other) is array:
        return _WEAK.get((other._dtype, type(x)))
    return None


def _check_bitwise(name: str, a, b) -> None:
    # MLX checks the dtypes before broadcasting and raises RuntimeError naming them
    # (right_shift names the promoted dtype twice).
    da, db = _operand_dtype(a, b), _operand_dtype(b, a)
    if da is None or db is None:
        return
    d = da if da is db else _PROMOTE[(da, db)]
    if _integral(d):
        return
    if name == "right_shift":
        da = db = d
    raise RuntimeError(f"[{name}] {_BITWISE_MSG[:-1]} but got types {da.name} and {db.name}.")


bitwise_and, BitwiseAnd = _declare(
    "bitwise_and", lambda xp, x, y: xp.bitwise_and(x, y), "Elementwise bitwise and.",
    allowed=_integral, message=_BITWISE_MSG, zero=True,
)  # fmt: skip
bitwise_or, BitwiseOr = _declare(
    "bitwise_or", lambda xp, x, y: xp.bitwise_or(x, y), "Elementwise bitwise or.",
    allowed=_integral, message=_BITWISE_MSG, zero=True,
)  # fmt: skip
bitwise_xor, BitwiseXor = _declare(
    "bitwise_xor", lambda xp, x, y: xp.bitwise_xor(x, y), "Elementwise bitwise xor.",
    allowed=_integral, message=_BITWISE_MSG, zero=True,
)  # fmt: skip
left_shift, LeftShift = _declare(
    "left_shift", _as_int(lambda xp, x, y: xp.left_shift(x, y)), "Elementwise ``a << b``.",
    allowed=_integral, message=_BITWISE_MSG, out_rule=_shift_dtype, zero=True,
)  # fmt: skip
right_shift, RightShift = _declare(
    "right_shift", _as_int(lambda xp, x, y: xp.right_shift(x, y)), "Elementwise ``a >> b``.",
    allowed=_integral, message=_BITWISE_MSG, out_rule=_shift_dtype, zero=True,
)  # fmt: skip
# The array-API spellings MLX also exports.
pow, atan2 = power, arctan2
bitwise_left_shift, bitwise_right_shift = left_shift, right_shift

__all__ = [
    "add", "subtract", "multiply", "divide", "floor_divide", "remainder", "power",
    "maximum", "minimum", "arctan2", "logaddexp", "equal", "not_equal", "less",
    "less_equal", "greater", "greater_equal", "logical_and", "logical_or",
    "bitwise_and", "bitwise_or", "bitwise_xor", "left_shift", "right_shift", "logical_xor",
    "divmod", "pow", "atan2", "bitwise_left_shift", "bitwise_right_shift",
]  # fmt: skip
METHODS: dict = {}
