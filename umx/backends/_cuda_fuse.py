"""Fusing chains of elementwise unary ops into one CUDA kernel.

A CuPy launch costs ~10-15 us of Python and driver time, so a chain of small elementwise
ops on a GPU stream is launch-bound. When a batch holds a run of unary elementwise nodes
where each intermediate is read only by the next node (nobody else holds it), the run is
compiled once into one ElementwiseKernel (cached by its code) and launched once.
"""

from __future__ import annotations

from itertools import groupby

from .._fusion import cached_kernel, unary_classes

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
_KINDS: frozenset | None = None


def kinds() -> frozenset:
    """The primitive classes the fused CUDA kernels cover."""
    global _KINDS
    if _KINDS is None:
        _KINDS = unary_classes(EXPRS)
    return _KINDS


def kernel_code(key) -> str:
    """The body of an ElementwiseKernel computing the chain of primitive classes ``key``
    (``Chain.key``) from ``x`` into ``y``; a run of one op is a loop (less to compile)."""
    lines = ["T v = x;"]
    for cls, run in groupby(key):
        expr, n = EXPRS[cls.name], len(list(run))
        # (not `i`: ElementwiseKernel's element index)
        loop = f"for (int umx_k = 0; umx_k < {n}; umx_k++) v = {expr};"
        lines.append(loop if n > 2 else " ".join([f"v = {expr};"] * n))
    lines.append("y = v;")
    return "\n".join(lines)


_KERNELS: dict = {}  # Chain.key -> its compiled kernel


def run_chain(cupy, chain, x):
    """Launch the fused chain on ``x`` (CuPy array) on the current stream; returns y."""

    def build(key):
        return cupy.ElementwiseKernel("T x", "T y", kernel_code(key), f"umx_fused_{len(_KERNELS)}")

    return cached_kernel(_KERNELS, chain, build)(x)
