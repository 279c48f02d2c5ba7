"""Fusing chains of elementwise ops into one CUDA kernel.

A CuPy launch costs ~10-15 us of Python and driver time, so a chain of small elementwise
ops on a GPU stream is launch-bound. When a batch holds a run of unary elementwise nodes,
or binary ones with a constant (``x * 2``), where each intermediate is read only by the
next node (nobody else holds it), the run is compiled once into one ElementwiseKernel
(cached by its ops; the constants are its arguments) and launched once.
"""

from __future__ import annotations

from itertools import groupby

from .._fusion import binary_classes, cached_kernel, unary_classes

# CUDA C expressions of the unary primitives (by primitive name), over a value ``v``.
EXPRS = {
    "exp": "exp(v)", "expm1": "expm1(v)", "log": "log(v)", "log1p": "log1p(v)",
    "log2": "log2(v)", "log10": "log10(v)", "sqrt": "sqrt(v)", "rsqrt": "rsqrt(v)",
    "sin": "sin(v)", "cos": "cos(v)", "tan": "tan(v)", "arcsin": "asin(v)",
    "arccos": "acos(v)", "arctan": "atan(v)", "sinh": "sinh(v)", "cosh": "cosh(v)",
    "tanh": "tanh(v)", "arcsinh": "asinh(v)", "arccosh": "acosh(v)", "arctanh": "atanh(v)",
    "negative": "-v", "abs": "fabs(v)", "square": "v * v", "reciprocal": "T(1) / v",
    "sigmoid": "T(1) / (T(1) + exp(-v))", "erf": "erf(v)", "floor": "floor(v)",
    "ceil": "ceil(v)", "copy": "v", "stop_gradient": "v",
}  # fmt: skip
# Binary ops with a constant {c}, by (primitive name, side): side 0 is v op c, side 1 is
# c op v. maximum and minimum as CuPy's, which runs them unfused on a GPU stream (a nan
# gives nan; otherwise fmax / fmin, where 0.0 is above -0.0): fusing changes no result.
BINARY_EXPRS = {
    ("add", 0): "v + {c}", ("add", 1): "{c} + v", ("subtract", 0): "v - {c}",
    ("subtract", 1): "{c} - v", ("multiply", 0): "v * {c}", ("multiply", 1): "{c} * v",
    ("divide", 0): "v / {c}", ("divide", 1): "{c} / v",
    ("maximum", 0): "(isnan(v) || isnan({c}) ? v + {c} : max(v, {c}))",
    ("maximum", 1): "(isnan({c}) || isnan(v) ? {c} + v : max({c}, v))",
    ("minimum", 0): "(isnan(v) || isnan({c}) ? v + {c} : min(v, {c}))",
    ("minimum", 1): "(isnan({c}) || isnan(v) ? {c} + v : min({c}, v))",
}  # fmt: skip
# The constants of one kernel are its scalar arguments: a longer run is cut into several.
MAX_CONSTS = 128
_KINDS: frozenset | None = None
_BINARY_KINDS: frozenset | None = None


def kinds() -> frozenset:
    """The primitive classes the fused CUDA kernels cover."""
    global _KINDS
    if _KINDS is None:
        _KINDS = unary_classes(EXPRS)
    return _KINDS


def binary_kinds() -> frozenset:
    """The binary primitive classes a fused run may hold, with a constant."""
    global _BINARY_KINDS
    if _BINARY_KINDS is None:
        _BINARY_KINDS = binary_classes({name for name, _ in BINARY_EXPRS})
    return _BINARY_KINDS


def kernel_code(key) -> str:
    """The body of an ElementwiseKernel computing the chain ``key`` (``Chain.key``) from
    ``x`` into ``y``, the constants in ``c0, c1, ...``; a run of one unary op is a loop
    (less to compile)."""
    lines = ["T v = x;"]
    k = 0
    for entry, run in groupby(key):
        n = len(list(run))
        if type(entry) is tuple:
            expr = BINARY_EXPRS[entry[0].name, entry[1]]
            for _ in range(n):
                lines.append(f"v = {expr.format(c=f'c{k}')};")
                k += 1
            continue
        expr = EXPRS[entry.name]
        # (not `i`: ElementwiseKernel's element index)
        loop = f"for (int umx_k = 0; umx_k < {n}; umx_k++) v = {expr};"
        lines.append(loop if n > 2 else " ".join([f"v = {expr};"] * n))
    lines.append("y = v;")
    return "\n".join(lines)


_KERNELS: dict = {}  # Chain.key -> its compiled kernel


def run_chain(cupy, chain, x):
    """Launch the fused chain on ``x`` (CuPy array) on the current stream; returns y."""

    def build(key):
        params = "T x" + "".join(f", T c{k}" for k in range(len(chain.consts)))
        name = f"umx_fused_{len(_KERNELS)}"
        if not chain.consts:
            return cupy.ElementwiseKernel(params, "T y", kernel_code(key), name)
        # No fused multiply-adds: x * a + b rounds twice, as op by op and on the CPU.
        return cupy.ElementwiseKernel(
            params, "T y", kernel_code(key), name, options=("--fmad=false",)
        )

    kernel = cached_kernel(_KERNELS, chain, build)
    if chain.consts:  # host values of the chain's dtype: exact as Python floats
        return kernel(x, *[float(c) for c in chain.consts])
    return kernel(x)
