"""Dtype objects, MLX's promotion rules and the mapping to NumPy types."""

from __future__ import annotations

import enum

import ml_dtypes
import numpy as np

__all__ = [
    "Dtype",
    "DtypeCategory",
    "can_cast",
    "finfo",
    "iinfo",
    "isdtype",
    "issubdtype",
    "promote_types",
    "result_type",
]


class DtypeCategory(enum.Enum):
    """A node of the dtype hierarchy (``mx.floating``, ``mx.integer``, ...); the values
    are MLX's."""

    complexfloating = 0
    floating = 1
    inexact = 2
    signedinteger = 3
    unsignedinteger = 4
    integer = 5
    number = 6
    generic = 7

    def __repr__(self) -> str:
        return f"DtypeCategory.{self.name}"

    __str__ = __repr__

    @property
    def parent(self) -> DtypeCategory | None:
        return _PARENT[self]

    def _ancestors(self):
        node = self
        while node is not None:
            yield node
            node = _PARENT[node]


generic = DtypeCategory.generic
number = DtypeCategory.number
integer = DtypeCategory.integer
signedinteger = DtypeCategory.signedinteger
unsignedinteger = DtypeCategory.unsignedinteger
inexact = DtypeCategory.inexact
floating = DtypeCategory.floating
complexfloating = DtypeCategory.complexfloating
_PARENT = {
    generic: None, number: generic, integer: number, signedinteger: integer,
    unsignedinteger: integer, inexact: number, floating: inexact, complexfloating: inexact,
}  # fmt: skip


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

    # Dtypes are singletons: identity equality and hashing (C-level, fast on the hot path).


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
    except KeyError:
        n = np.dtype(dt)
        if n.byteorder not in "=|" and n.newbyteorder("=") in _FROM_NP:  # non-native byte order
            return _FROM_NP[n.newbyteorder("=")]
        raise TypeError(f"Cannot convert NumPy dtype {dt} to an umx dtype.") from None
    except TypeError:
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
    for x, which in ((a, "first"), (b, "second")):
        if not isinstance(x, (Dtype, DtypeCategory)):
            if x is None:
                raise TypeError(
                    f"[issubdtype] Expected a Dtype or DtypeCategory, got None ({which} input)."
                )
            raise ValueError(f"[issubdtype] Received invalid type for {which} input.")
    if isinstance(a, Dtype):
        if isinstance(b, Dtype):
            return a is b
        if a.category is None:  # bool sits directly under generic
            return b is generic
        return any(c is b for c in a.category._ancestors())
    if isinstance(b, Dtype):
        return False
    return any(c is b for c in a._ancestors())


_KINDS = {
    "bool": lambda d: d.kind == "b",
    "signed integer": lambda d: d.kind == "i",
    "unsigned integer": lambda d: d.kind == "u",
    "integral": lambda d: d.kind in "iu",
    "real floating": lambda d: d.kind == "f",
    "complex floating": lambda d: d.kind == "c",
    "numeric": lambda d: d.kind != "b",
}


def isdtype(dtype, kind) -> bool:
    """Whether ``dtype`` is ``kind``: a dtype, one of the array API kind names
    (``"bool"``, ``"signed integer"``, ``"unsigned integer"``, ``"integral"``,
    ``"real floating"``, ``"complex floating"``, ``"numeric"``), or a tuple of these."""
    if not isinstance(dtype, Dtype):
        raise TypeError(f"[isdtype] Expected a Dtype, got {type(dtype).__name__}.")
    kinds = kind if isinstance(kind, tuple) else (kind,)
    for k in kinds:
        if isinstance(k, Dtype):
            if k is dtype:
                return True
        elif isinstance(k, str):
            test = _KINDS.get(k)
            if test is None:
                raise ValueError(f"[isdtype] Unknown data type kind: '{k}'.")
            if test(dtype):
                return True
        else:
            raise ValueError(
                "[isdtype] `kind` must be a dtype, a string, or a tuple of dtypes and strings."
            )
    return False


def can_cast(from_, to) -> bool:
    """Whether promoting ``from_`` (an array or a dtype) with ``to`` gives ``to``."""
    from ._array import array

    if isinstance(from_, array):
        from_ = from_._dtype
    elif not isinstance(from_, Dtype):
        raise ValueError("[can_cast] `from_` must be an array or a dtype.")
    if not isinstance(to, Dtype):
        raise TypeError(f"[can_cast] `to` must be a Dtype, got {type(to).__name__}.")
    return _PROMOTE[(from_, to)] is to


def _g(x: float) -> str:
    return f"{x:g}"


class finfo:
    """Machine limits of a floating-point (or complex) dtype."""

    __slots__ = ("dtype", "min", "max", "eps", "smallest_normal", "bits")

    def __init__(self, dtype) -> None:
        if isinstance(dtype, DtypeCategory):
            raise TypeError(f"[finfo] Expected a Dtype, got {dtype!r}.")
        d = to_dtype(dtype, "finfo")
        if not is_inexact(d):
            raise ValueError(f"[finfo] dtype {d.name} is not inexact.")
        if d is complex64:
            d = float32
        info = ml_dtypes.finfo(d.np) if d is bfloat16 else np.finfo(d.np)
        self.dtype = d
        self.min = float(info.min)
        self.max = float(info.max)
        self.eps = float(info.eps)
        self.smallest_normal = float(info.smallest_normal)
        self.bits = int(info.bits)

    @property
    def tiny(self) -> float:  # NumPy's name for smallest_normal
        return self.smallest_normal

    def __repr__(self) -> str:
        return f"finfo(min={_g(self.min)}, max={_g(self.max)}, dtype={self.dtype.name})"


class iinfo:
    """Machine limits of an integer dtype."""

    __slots__ = ("dtype", "min", "max")

    def __init__(self, dtype) -> None:
        if isinstance(dtype, DtypeCategory):
            raise TypeError(f"[iinfo] Expected a Dtype, got {dtype!r}.")
        d = to_dtype(dtype, "iinfo")
        if not is_integral(d):
            raise ValueError(f"[iinfo] Only integer types supported but {d.name} was provided")
        info = np.iinfo(d.np)
        self.dtype = d
        self.min = int(info.min)
        self.max = int(info.max)

    @property
    def bits(self) -> int:
        return self.dtype.size * 8

    def __repr__(self) -> str:
        return f"iinfo(min={self.min}, max={self.max}, dtype={self.dtype.name})"


def result_type(*arrays_and_dtypes) -> Dtype:
    """The dtype that promoting all the given arrays and dtypes together gives."""
    from ._array import array

    if not arrays_and_dtypes:
        raise ValueError("[result_type] At least one array or dtype is required.")
    out = None
    for a in arrays_and_dtypes:
        if isinstance(a, array):
            d = a._dtype
        elif isinstance(a, Dtype):
            d = a
        else:
            raise ValueError("[result_type] Inputs must be arrays or dtypes.")
        out = d if out is None else _PROMOTE[(out, d)]
    return out


def scalar_dtype(x) -> Dtype:
    """The dtype ``mx.array(x)`` gets for a Python or NumPy scalar."""
    if isinstance(x, (bool, np.bool_)):
        return bool_
    if isinstance(x, int):
        if -(2**31) <= x < 2**31:
            return int32
        if -(2**63) <= x < 2**63:
            return int64
        raise OverflowError(f"Python integer {x} does not fit in int64.")
    if isinstance(x, float):
        return float32
    if isinstance(x, complex):
        return complex64
    if isinstance(x, np.generic):
        d = from_numpy(x.dtype)
        return float32 if d is float64 else d
    raise TypeError(f"Cannot make an array from {type(x).__name__}.")
