"""The array's Python operators and methods, bound from the op families."""

from __future__ import annotations

from .._array import array
from . import FAMILIES
from . import binary as B
from . import unary as U


def _swap(f):
    return lambda self, other: f(other, self)


def _matmul(a, b):
    from .linalg import matmul

    if not isinstance(b, array):  # MLX's ``@`` takes arrays only
        raise TypeError(f"__matmul__(): unsupported operand type {type(b).__name__}.")

    return matmul(a, b)


_OPERATORS = {
    "__add__": B.add, "__radd__": _swap(B.add),
    "__sub__": B.subtract, "__rsub__": _swap(B.subtract),
    "__mul__": B.multiply, "__rmul__": _swap(B.multiply),
    "__truediv__": B.divide, "__rtruediv__": _swap(B.divide),
    "__floordiv__": B.floor_divide, "__rfloordiv__": _swap(B.floor_divide),
    "__mod__": B.remainder, "__rmod__": _swap(B.remainder),
    "__pow__": B.power, "__rpow__": _swap(B.power),
    "__matmul__": _matmul,
    "__eq__": B.equal, "__ne__": B.not_equal,
    "__lt__": B.less, "__le__": B.less_equal, "__gt__": B.greater, "__ge__": B.greater_equal,
    "__neg__": U.negative, "__abs__": U.abs,
}  # fmt: skip
# MLX has no reflected bitwise (or matmul) operators: ``1 | a`` raises TypeError.
_BITWISE = {
    "__and__": (B.bitwise_and, "bitwise and"), "__or__": (B.bitwise_or, "bitwise or"),
    "__xor__": (B.bitwise_xor, "bitwise xor"), "__lshift__": (B.left_shift, "left shift"),
    "__rshift__": (B.right_shift, "right shift"),
}  # fmt: skip


def _inexact(x) -> bool:
    if isinstance(x, array):
        return x._dtype.kind in "fc"
    return isinstance(x, (float, complex))


def _bitwise_operator(f, what: str):
    # The operators refuse inexact operands with a ValueError before broadcasting (the
    # functions raise RuntimeError).
    def op(self, other):
        if _inexact(self) or _inexact(other):
            raise ValueError(f"Floating point types not allowed with {what}.")
        return f(self, other)

    return op


def _invert(self):
    if self._dtype.kind in "fc":
        raise ValueError("Floating point types not allowed with bitwise inversion.")
    return U.bitwise_invert(self)


def _inplace(name: str):
    # ``a += b`` updates the array object itself, as MLX: every reference to ``a`` sees
    # the new value; nodes built from ``a`` before keep the old one.
    from .scatter import _rebind

    f = getattr(array, f"__{name}__")

    def op(self, other):
        if name == "truediv" and self._dtype.kind not in "fc":
            raise ValueError("In place division cannot cast to non-floating point type.")
        _rebind(self, f(self, other))
        return self

    op.__name__ = f"__i{name}__"
    return op


def _comparison(f):
    # ``a == [1]`` or ``a == "x"`` answer False as in MLX (``a == None`` raises TypeError).
    def op(self, other):
        try:
            return f(self, other)
        except B.InvalidOperand:
            return NotImplemented

    return op


def bind() -> None:
    for name, f in _OPERATORS.items():
        setattr(array, name, _comparison(f) if name in ("__eq__", "__ne__") else f)
    for name, (f, what) in _BITWISE.items():
        setattr(array, name, _bitwise_operator(f, what))
    array.__invert__ = _invert
    for name in ("add", "sub", "mul", "truediv", "floordiv", "mod", "pow", "matmul",
                 "and", "or", "xor", "lshift", "rshift"):  # fmt: skip
        setattr(array, f"__i{name}__", _inplace(name))
    array.__pos__ = lambda self: self
    for fam in FAMILIES:
        for name, f in fam.METHODS.items():
            setattr(array, name, f)
    # Attributes, as NumPy's and MLX's: the real and imaginary parts (zeros for real input).
    from .unary import imag, real

    array.real = property(lambda self: real(self), doc="The real part.")
    array.imag = property(lambda self: imag(self), doc="The imaginary part.")
