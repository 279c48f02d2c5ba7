"""``repr`` and ``str`` of arrays, in MLX's exact format.

MLX prints every element with C++ stream defaults (``%g``, 6 significant digits), separates
the last axis with ``", "`` and outer axes with ``",\\n"`` plus ``7 + depth`` spaces, never
wraps lines, and summarises any axis longer than 6 as its first and last 3 entries.
"""

from __future__ import annotations

import math

import numpy as np

from . import _dtypes as dt

_EDGE = 3  # entries kept at each end of a summarised axis
_FLOAT_SPEC = "g"  # C++ stream default; "{p}f" after set_printoptions(precision=p)
_PRECISION = -1  # as set, for get_printoptions


class PrintOptions:
    """How arrays print: ``precision`` decimal places for floats (``-1``: 6 significant
    digits). ``get_printoptions`` returns a copy; changing it changes nothing global."""

    def __init__(self, precision: int = -1) -> None:
        self.precision = precision


def set_printoptions(precision: int = -1) -> None:
    """Print floats with ``precision`` decimal places (``-1``: the default, 6 significant
    digits)."""
    global _FLOAT_SPEC, _PRECISION
    precision = int(precision)
    _PRECISION = precision
    _FLOAT_SPEC = "g" if precision == -1 else f".{precision if precision >= 0 else 6}f"


def get_printoptions() -> PrintOptions:
    """The print options in force (a copy)."""
    return PrintOptions(_PRECISION)


class _PrintOptionsContext:
    """``with mx.printoptions(precision=p):`` sets the print precision for the block."""

    def __init__(self, precision: int = -1) -> None:
        self._precision = precision
        self._saved = None

    def __enter__(self):
        self._saved = _PRECISION
        set_printoptions(self._precision)
        return self

    def __exit__(self, *exc) -> None:
        set_printoptions(self._saved)


def printoptions(precision: int = -1) -> _PrintOptionsContext:
    """A context manager that sets the print precision temporarily."""
    return _PrintOptionsContext(precision)


def _fmt_float(x: float) -> str:
    if x != x:
        return "-nan" if math.copysign(1.0, x) < 0 else "nan"
    return format(x, _FLOAT_SPEC)


def _fmt_complex(z: complex) -> str:
    re, im = z.real, z.imag
    if im < 0:
        return f"{_fmt_float(re)}-{_fmt_float(-im)}j"
    return f"{_fmt_float(re)}+{_fmt_float(im)}j"


def _fmt_bool(b: bool) -> str:
    return "True" if b else "False"


def _formatter(d: dt.Dtype):
    k = d.kind
    if k == "f":
        return _fmt_float
    if k == "c":
        return _fmt_complex
    if k == "b":
        return _fmt_bool
    return str


def _python_values(h: np.ndarray, d: dt.Dtype):
    """The elements that will be printed, as nested Python lists (summarised axes keep
    only their first and last ``_EDGE`` entries)."""
    for ax, n in enumerate(h.shape):
        if n > 2 * _EDGE:
            idx = np.r_[0:_EDGE, n - _EDGE : n]
            h = np.take(h, idx, axis=ax)
    if d.kind == "f" and h.dtype != np.float64:
        h = h.astype(np.float64)
    return h.tolist()


def _sub(vals, shape, dim: int, fmt, out: list) -> None:
    n = shape[dim]
    last = dim == len(shape) - 1
    prefix = "" if last else " " * (7 + dim)
    post = ", " if last else ",\n"
    if n > 2 * _EDGE:
        items = [*vals[:_EDGE], None, *vals[_EDGE:]]
    else:
        items = vals
    out.append("[")
    m = len(items)
    for i, v in enumerate(items):
        if i:
            out.append(prefix)
        if i == _EDGE and v is None and n > 2 * _EDGE:
            out.append("...")
        elif last:
            out.append(fmt(v))
        else:
            _sub(v, shape, dim + 1, fmt, out)
        if i != m - 1:
            out.append(post)
    out.append("]")


def _body(a) -> str:
    h = np.asarray(a._host())
    d = a._dtype
    fmt = _formatter(d)
    vals = _python_values(h, d)
    if h.ndim == 0:
        return fmt(vals)
    out: list = []
    _sub(vals, h.shape, 0, fmt, out)
    return "".join(out)


def array_repr(a) -> str:
    return f"array({_body(a)}, dtype={a._dtype.name})"


def array_str(a) -> str:
    return array_repr(a)
