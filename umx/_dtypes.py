"""Dtype objects, MLX's promotion rules and the mapping to NumPy types."""

from __future__ import annotations

import ml_dtypes
import numpy as np

__all__ = [
    "Dtype",
    "DtypeCategory",
    "finfo",
    "iinfo",
    "issubdtype",
    "promote_types",
    "result_type",
]


class DtypeCategory:
    """A node of the dtype hierarchy (``mx.floating``, ``mx.integer``, ...)."""

    __slots__ = ("name", "parent")

    def __init__(self, name: str, parent: DtypeCategory | None) -> None:
        self.name = name
        self.parent = parent

    def __repr__(self) -> str:
        return f"DtypeCategory.{self.name}"

    def _ancestors(self):
        node = self
        while node is not None:
            yield node
            node = node.parent


generic = DtypeCategory("generic", None)
number = DtypeCategory("number", generic)
integer = DtypeCategory("integer", number)
signedinteger = DtypeCategory("signedinteger", integer)
unsignedinteger = DtypeCategory("unsignedinteger", integer)
inexact = DtypeCategory("inexact", number)
floating = DtypeCategory("floating", inexact)
complexfloating = DtypeCategory("complexfloating", inexact)


class Dtype:
    """The element type of an array. Compare with ``==``; ``size`` is in bytes."""

    __slots__ = ("name", "size", "np", "category", "kind", "rank")

    def __init__(self, name, np_type, category, kind, rank):
        self.name = name
        self.np = np.dtype(np_type)
        self.size = self.np.itemsize
        self.category = category
        self.kind = kind  # 'b', 'u', 'i', 'f', 'c'
        self.rank = rank  # index in ALL_DTYPES, used for the promotion table

    def __repr__(self) -> str:
        return f"mlx.core.{self.name}"

    __str__ = __repr__

    def __reduce__(self):
        return (_dtype_by_name, (self.name,))

    def __hash__(self) -> int:
        return hash(self.name)

    def __eq__(self, other) -> bool:
        return self is other

    def __ne__(self, other) -> bool:
        return self is not other


def _dtype_by_name(name: str) -> Dtype:
    return _BY_NAME[name]


bool_ = Dtype("bool", np.bool_, None, "b", 0)
uint8 = Dtype("uint8", np.uint8, unsignedinteger, "u", 1)
uint16 = Dtype("uint16", np.uint16, unsignedinteger, "u", 2)
uint32 = Dtype("uint32", np.uint32, unsignedinteger, "u", 3)
uint64 = Dtype("uint64", np.uint64, unsignedinteger, "u", 4)
int8 = Dtype("int8", np.int8, signedinteger, "i", 5)
int16 = Dtype("int16", np.int16, signedinteger, "i", 6)
int32 = Dtype("int32", np.int32, signedinteger, "i", 7)
int64 = Dtype("int64", np.int64, signedinteger, "i", 8)
float16 = Dtype("float16", np.float16, floating, "f", 9)
bfloat16 = Dtype("bfloat16", ml_dtypes.bfloat16, floating, "f", 10)
float32 = Dtype("float32", np.float32, floating, "f", 11)
float64 = Dtype("float64", np.float64, floating, "f", 12)
complex64 = Dtype("complex64", np.complex64, complexfloating, "c", 13)

ALL_DTYPES = (
    bool_, uint8, uint16, uint32, uint64, int8, int16, int32, int64,
    float16, bfloat16, float32, float64, complex64,
)  # fmt: skip
_BY_NAME = {d.name: d for d in ALL_DTYPES}
_BY_NAME["bool_"] = bool_

# MLX's promotion table (measured from mlx 0.32.4), rows and columns in ALL_DTYPES order.
_P = "b u8 u16 u32 u64 i8 i16 i32 i64 f16 bf16 f32 f64 c64".split()
_SHORT = dict(zip(_P, ALL_DTYPES))
_TABLE_TEXT = """
b   u8  u16 u32 u64 i8  i16 i32 i64 f16 bf16 f32 f64 c64
u8  u8  u16 u32 u64 i16 i16 i32 i64 f16 bf16 f32 f64 c64
u16 u16 u16 u32 u64 i32 i32 i32 i64 f16 bf16 f32 f64 c64
u32 u32 u32 u32 u64 i64 i64 i64 i64 f16 bf16 f32 f64 c64
u64 u64 u64 u64 u64 f32 f32 f32 f32 f16 bf16 f32 f64 c64
i8  i16 i32 i64 f32 i8  i16 i32 i64 f16 bf16 f32 f64 c64
i16 i16 i32 i64 f32 i16 i16 i32 i64 f16 bf16 f32 f64 c64
i32 i32 i32 i64 f32 i32 i32 i32 i64 f16 bf16 f32 f64 c64
i64 i64 i64 i64 f32 i64 i64 i64 i64 f16 bf16 f32 f64 c64
f16 f16 f16 f16 f16 f16 f16 f16 f16 f16 f32 f32 f64 c64
bf16 bf16 bf16 bf16 bf16 bf16 bf16 bf16 bf16 f32 bf16 f32 f64 c64
f32 f32 f32 f32 f32 f32 f32 f32 f32 f32 f32 f32 f64 c64
f64 f64 f64 f64 f64 f64 f64 f64 f64 f64 f64 f64 f64 c64
c64 c64 c64 c64 c64 c64 c64 c64 c64 c64 c64 c64 c64 c64
"""
_PROMOTE: dict[tuple[Dtype, Dtype], Dtype] = {}
for _a, _line in zip(ALL_DTYPES, _TABLE_TEXT.split("\n")[1:]):
    for _b, _name in zip(ALL_DTYPES, _line.split()):
        _PROMOTE[(_a, _b)] = _SHORT[_name]

_FROM_NP = {d.np: d for d in ALL_DTYPES}
# NumPy types that MLX does not have map to the nearest one it does.
_FROM_NP[np.dtype(np.complex128)] = complex64


def promote_types(a: Dtype, b: Dtype) -> Dtype:
    """The dtype both ``a`` and ``b`` promote to, by MLX's table."""
    return _PROMOTE[(a, b)]


def from_numpy(dt) -> Dtype:
    """The umx dtype of a NumPy dtype (float64 stays float64)."""
    try:
        return _FROM_NP[np.dtype(dt)]
    except (KeyError, TypeError):
        raise TypeError(f"Cannot convert NumPy dtype {dt} to an umx dtype.") from None


def to_dtype(dt, op: str = "astype") -> Dtype:
    """Accept an umx Dtype (or a NumPy dtype / type, for convenience)."""
    if isinstance(dt, Dtype):
        return dt
    if isinstance(dt, str) and dt in _BY_NAME:
        return _BY_NAME[dt]
    try:
        return from_numpy(dt)
    except TypeError:
        raise TypeError(f"[{op}] Expected a dtype, got {dt!r}.") from None


# Weak Python scalars: the dtype an array of dtype `d` keeps when combined with a
# Python bool / int / float / complex (MLX: `int8 + 1 -> int8`, `int8 + 1.5 -> float32`).
def weak_result(d: Dtype, scalar) -> Dtype:
    t = type(scalar)
    if t is bool or isinstance(scalar, (bool, np.bool_)):
        return d
    if t is int or isinstance(scalar, (int, np.integer)):
        return int32 if d is bool_ else d
    if t is float or isinstance(scalar, (float, np.floating)):
        return d if d.kind in "fc" else float32
    if t is complex or isinstance(scalar, (complex, np.complexfloating)):
        return complex64
    raise TypeError(f"Unsupported scalar type {t.__name__}.")


def is_floating(d: Dtype) -> bool:
    return d.kind == "f"


def is_inexact(d: Dtype) -> bool:
    return d.kind in "fc"


def is_integral(d: Dtype) -> bool:
    return d.kind in "iu"


def float_of(d: Dtype) -> Dtype:
    """The dtype a float-valued op (exp, sqrt, divide...) returns for input dtype ``d``."""
    return d if d.kind in "fc" else float32


def issubdtype(a, b) -> bool:
    """Whether dtype or category ``a`` is ``b`` or below it in the hierarchy."""
    if isinstance(a, Dtype):
        if isinstance(b, Dtype):
            return a is b
        if a.category is None:  # bool sits directly under generic
            return b is generic
        return any(c is b for c in a.category._ancestors())
    if isinstance(a, DtypeCategory):
        if isinstance(b, Dtype):
            return False
        return any(c is b for c in a._ancestors())
    raise TypeError(f"[issubdtype] Expected a Dtype or DtypeCategory, got {a!r}.")


class finfo:
    """Machine limits of a floating-point dtype."""

    def __init__(self, dtype) -> None:
        d = to_dtype(dtype, "finfo")
        if not is_inexact(d):
            raise ValueError(f"[finfo] dtype {d} is not inexact.")
        info = ml_dtypes.finfo(d.np) if d is bfloat16 else np.finfo(d.np)
        self.dtype = d if d is not complex64 else float32
        self.min = float(info.min)
        self.max = float(info.max)
        self.eps = float(info.eps)
        self.tiny = float(info.tiny)
        self.bits = info.bits

    def __repr__(self) -> str:
        return f"finfo(min={self.min}, max={self.max}, dtype={self.dtype.name})"


class iinfo:
    """Machine limits of an integer dtype."""

    def __init__(self, dtype) -> None:
        d = to_dtype(dtype, "iinfo")
        if not is_integral(d) and d is not bool_:
            raise ValueError(f"[iinfo] dtype {d} is not integral.")
        info = np.iinfo(d.np) if d is not bool_ else None
        self.dtype = d
        self.min = int(info.min) if info else 0
        self.max = int(info.max) if info else 1
        self.bits = d.size * 8

    def __repr__(self) -> str:
        return f"iinfo(min={self.min}, max={self.max}, dtype={self.dtype.name})"


def result_type(*args) -> Dtype:
    """The dtype MLX gives an op over ``args`` (arrays, dtypes and weak Python scalars)."""
    from ._array import array

    strong = None
    scalars = []
    for a in args:
        if isinstance(a, array):
            d = a._dtype
        elif isinstance(a, Dtype):
            d = a
        else:
            scalars.append(a)
            continue
        strong = d if strong is None else _PROMOTE[(strong, d)]
    if strong is None:
        strong = scalar_dtype(scalars[0]) if scalars else float32
        scalars = scalars[1:]
    for s in scalars:
        strong = weak_result(strong, s)
    return strong


def scalar_dtype(x) -> Dtype:
    """The dtype ``mx.array(x)`` gets for a Python or NumPy scalar."""
    if isinstance(x, (bool, np.bool_)):
        return bool_
    if isinstance(x, int):
        return int32 if -(2**31) <= x < 2**31 else int64
    if isinstance(x, float):
        return float32
    if isinstance(x, complex):
        return complex64
    if isinstance(x, np.generic):
        d = from_numpy(x.dtype)
        return float32 if d is float64 else d
    raise TypeError(f"Cannot make an array from {type(x).__name__}.")
