"""``repr`` and ``str`` of arrays in MLX's format."""

from __future__ import annotations

import numpy as np

from . import _dtypes as dt


def _fmt_float(x) -> str:
    if np.isnan(x):
        return "nan"
    if np.isinf(x):
        return "inf" if x > 0 else "-inf"
    return f"{float(x):g}"


def _fmt_complex(x) -> str:
    re, im = _fmt_float(x.real), _fmt_float(abs(x.imag))
    sign = "-" if x.imag < 0 or (x.imag == 0 and np.signbit(x.imag)) else "+"
    return f"{re}{sign}{im}j"


def _body(a, prefix: str) -> str:
    h = np.asarray(a._host())
    d = a._dtype
    if d is dt.bfloat16:
        h = h.astype(np.float32)
    if d.kind == "f":
        fmt = {"float_kind": _fmt_float}
    elif d.kind == "c":
        fmt = {"complex_kind": _fmt_complex}
    elif d.kind == "b":
        fmt = {"bool": lambda v: "True" if v else "False"}
    else:
        fmt = {"int": str}
    if h.ndim == 0:
        return fmt[next(iter(fmt))](h[()])
    return np.array2string(
        h, separator=", ", prefix=prefix, formatter=fmt, threshold=1000, edgeitems=3
    )


def array_repr(a) -> str:
    return f"array({_body(a, 'array(')}, dtype={a._dtype.name})"


def array_str(a) -> str:
    return array_repr(a)
