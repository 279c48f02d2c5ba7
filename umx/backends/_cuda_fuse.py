"""Fusing chains of elementwise ops into one CUDA kernel.

A CuPy launch costs ~10-15 us of Python and driver time, so a chain of small elementwise
ops on a GPU stream is launch-bound. When a batch holds a run of unary elementwise nodes,
or binary ones with a constant (``x * 2``), where each intermediate is read only by the
next node (nobody else holds it), the run is compiled once into one ElementwiseKernel
(cached by its ops; the constants and the lengths of its unary runs are its arguments)
and launched once.
"""

from __future__ import annotations

from itertools import groupby

from .._fusion import binary_classes, cached, unary_classes

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


def structure(key) -> tuple[tuple, tuple]:
    """``(structure, lengths)`` of the chain ``key`` (``Chain.key``): a run of one unary op
    is one entry of the structure and its length a kernel argument, so chains that differ
    only in run lengths (50 exps or 500) share one compiled kernel."""
    shape, lengths = [], []
    for entry, run in groupby(key):
        n = len(list(run))
        if type(entry) is tuple:  # each binary op has a constant argument of its own
            shape.extend([entry] * n)
        else:
            shape.append(entry)
            lengths.append(n)
    return tuple(shape), tuple(lengths)


def kernel_code(shape) -> str:
    """The body of an ElementwiseKernel computing a chain of ``structure(key)[0]`` from
    ``x`` into ``y``: unary run ``j`` is a loop of ``n{j}`` steps, the constants are in
    ``c0, c1, ...``."""
    lines = ["T v = x;"]
    k = j = 0
    for entry in shape:
        if type(entry) is tuple:
            expr = BINARY_EXPRS[entry[0].name, entry[1]]
            lines.append(f"v = {expr.format(c=f'c{k}')};")
            k += 1
            continue
        # (not `i`: ElementwiseKernel's element index)
        lines.append(f"for (int umx_k = 0; umx_k < n{j}; umx_k++) v = {EXPRS[entry.name]};")
        j += 1
    lines.append("y = v;")
    return "\n".join(lines)


_CHAINS: dict = {}  # Chain.key -> (its kernel, its run lengths)
_KERNELS: dict = {}  # structure -> its compiled kernel


def _kernel_for(cupy, shape):
    def build(shape):
        runs = sum(1 for e in shape if type(e) is not tuple)
        consts = len(shape) - runs
        params = "T x" + "".join(f", int32 n{j}" for j in range(runs))
        params += "".join(f", T c{k}" for k in range(consts))
        name = f"umx_fused_{len(_KERNELS)}"
        # No fused multiply-adds: x * a + b rounds twice, as op by op and on the CPU.
        options = ("--fmad=false",) if consts else ()
        return cupy.ElementwiseKernel(params, "T y", kernel_code(shape), name, options=options)

    return cached(_KERNELS, shape, build)


def run_chain(cupy, chain, x):
    """Launch the fused chain on ``x`` (CuPy array) on the current stream; returns y."""

    def build(key):
        shape, lengths = structure(key)
        return _kernel_for(cupy, shape), lengths

    kernel, lengths = cached(_CHAINS, chain.key, build)
    if chain.consts:  # host values of the chain's dtype: exact as Python floats
        return kernel(x, *lengths, *[float(c) for c in chain.consts])
    return kernel(x, *lengths)
