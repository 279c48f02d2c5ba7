"""Chains of elementwise ops that a backend computes in one kernel.

The graph walk of ``eval`` (umx._eval) collects, for a stream whose executor declares the
primitive classes it can fuse (``executor.fusable``: unary ops; ``executor.fusable_binary``:
binary ops with a constant, as ``x * 2`` or ``maximum(x, 0)``), each run of such nodes of
one float dtype where every intermediate is read by the next node only (nobody else holds
it). The run is queued as one batch entry ``(last node, Chain)``; only the last node is
numbered and gets a buffer.
"""

from __future__ import annotations

import sys

import numpy as np

from . import _dtypes as dt

__all__ = [
    "Chain", "FLOATS", "MIN_CHAIN", "PRIVATE_REFS", "binary_classes", "cached", "cached_kernel",
    "const_operand", "unary_classes",
]  # fmt: skip

FLOATS = (dt.float32, dt.float64)
MIN_CHAIN = 3  # shorter runs are not worth a kernel of their own


class Chain(list):
    """The nodes of a fused run, first to last, queued as one batch entry ``(last, chain)``.

    ``key`` holds what each node computes, first to last: its primitive class, or for a
    binary op with a constant ``(class, side)``, side 0 for ``x op c`` and 1 for ``c op x``.
    It is what a backend caches its kernel by (constants are arguments, not part of it).
    The graph walk collects it as it checks each node's class (a second pass over 500 nodes
    cost ~11 us here, ~18 on the H100 host). ``consts`` holds the constants' values (0-d
    NumPy buffers or scalars of the chain's dtype, taken when the walk found them: a
    setitem on the array object later gives that object a new node, not the chain a new
    value), first to last. The nodes before the last are
    private to the run (only their consumer holds them). Holding them here also frees them
    one by one when the chain is dropped, not as a 500-deep cascade from the last node (~40%
    slower on the H100 host). ``prep`` lists the first node's input when it comes from
    another stream or device (as a batch entry's prepare list), else None.
    """

    __slots__ = ("key", "consts", "prep")

    @classmethod
    def of(cls, nodes) -> Chain:
        """The chain of ``nodes``, a run of one-input nodes or binary ops with a constant
        (the other operand the previous node), first to last."""
        chain = cls(nodes)
        key, consts = [], []
        for n in nodes:
            if len(n._inputs) == 1:
                key.append(type(n._prim))
            else:
                _, entry, c = const_operand(n, n._dtype)
                key.append(entry)
                consts.append(c)
        chain.key, chain.consts, chain.prep = tuple(key), consts, None
        return chain

    def source(self):
        """The input of the chain's first node (the value the run starts from)."""
        first = self[0]
        ins = first._inputs
        if len(ins) == 1:
            return ins[0]
        return ins[1] if self.key[0][1] else ins[0]

    def steps(self):
        """(node, key entry, constant value or None) for each node, first to last."""
        consts = iter(self.consts)
        for n, e in zip(self, self.key):
            yield n, e, (next(consts) if type(e) is tuple else None)


def const_operand(node, dtype):
    """``(other input, (class, side), constant value)`` when ``node`` (two inputs) combines
    an input of its own shape with a constant: a computed 0-d host array of ``dtype`` (a
    Python scalar becomes one at graph-build time; an evaluated reduction holds a NumPy
    scalar). Else None."""
    a, b = node._inputs
    if b._shape == () and b._dtype is dtype and a._shape == node._shape:
        d = b._data
        if type(d) is _ndarray or isinstance(d, np.generic):
            return a, (type(node._prim), 0), d
    if a._shape == () and a._dtype is dtype and b._shape == node._shape:
        d = a._data
        if type(d) is _ndarray or isinstance(d, np.generic):
            return b, (type(node._prim), 1), d
    return None


_ndarray = np.ndarray


_CACHE_MAX = 512  # kernels kept per backend; the cache starts over when full


def cached(cache: dict, key, build):
    """``cache[key]``, made by ``build(key)`` on a miss (the cache starts over when full)."""
    k = cache.get(key)
    if k is None:
        if len(cache) >= _CACHE_MAX:
            cache.clear()
        k = cache[key] = build(key)
    return k


def cached_kernel(cache: dict, chain, build):
    """The backend's kernel for ``chain`` from ``cache`` (keyed by ``Chain.key``), made by
    ``build(key)`` on a miss."""
    return cached(cache, chain.key, build)


def binary_classes(names) -> frozenset:
    """The primitive classes of the elementwise binary ops named in ``names``."""
    from .ops.binary import Binary

    return frozenset(c for c in Binary.__subclasses__() if c.name in names)


def unary_classes(names) -> frozenset:
    """The primitive classes of the elementwise unary ops named in ``names``."""
    from .ops.unary import Unary

    return frozenset(c for c in Unary.__subclasses__() if c.name in names)


def _private_refs() -> int:
    """getrefcount of a node that only its consumer's input tuple holds, as the graph walk
    reads it (a local name and the call's argument count too on most CPython versions).

    Measured with tracing off: a tracer that reads ``frame.f_locals`` holds one more
    reference, and a count too high would take an array the user holds for private.
    """

    def probe(holder):
        i = holder[0]
        return sys.getrefcount(i)

    tracer = sys.gettrace()
    sys.settrace(None)
    try:
        return min(probe((object(),)) for _ in range(3))
    finally:
        sys.settrace(tracer)


PRIVATE_REFS = _private_refs()
