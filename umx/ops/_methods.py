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

    return matmul(a, b)


_OPERATORS = {
    "__add__": B.add, "__radd__": _swap(B.add),
    "__sub__": B.subtract, "__rsub__": _swap(B.subtract),
    "__mul__": B.multiply, "__rmul__": _swap(B.multiply),
    "__truediv__": B.divide, "__rtruediv__": _swap(B.divide),
    "__floordiv__": B.floor_divide, "__rfloordiv__": _swap(B.floor_divide),
    "__mod__": B.remainder, "__rmod__": _swap(B.remainder),
    "__pow__": B.power, "__rpow__": _swap(B.power),
    "__matmul__": _matmul, "__rmatmul__": _swap(_matmul),
    "__eq__": B.equal, "__ne__": B.not_equal,
    "__lt__": B.less, "__le__": B.less_equal, "__gt__": B.greater, "__ge__": B.greater_equal,
    "__and__": B.bitwise_and, "__rand__": _swap(B.bitwise_and),
    "__or__": B.bitwise_or, "__ror__": _swap(B.bitwise_or),
    "__xor__": B.bitwise_xor, "__rxor__": _swap(B.bitwise_xor),
    "__lshift__": B.left_shift, "__rlshift__": _swap(B.left_shift),
    "__rshift__": B.right_shift, "__rrshift__": _swap(B.right_shift),
    "__neg__": U.negative, "__abs__": U.abs, "__invert__": U.bitwise_invert,
}  # fmt: skip


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
    # In-place forms rebind the name (arrays are immutable values).
    for name in ("add", "sub", "mul", "truediv", "floordiv", "mod", "pow", "matmul",
                 "and", "or", "xor", "lshift", "rshift"):  # fmt: skip
        setattr(array, f"__i{name}__", getattr(array, f"__{name}__"))
    array.__pos__ = lambda self: self
    for fam in FAMILIES:
        for name, f in fam.METHODS.items():
            setattr(array, name, f)
