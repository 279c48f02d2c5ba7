"""Chains of elementwise unary ops that a backend computes in one kernel.

The graph walk of ``eval`` (umx._eval) collects, for a stream whose executor declares the
primitive classes it can fuse (``executor.fusable``), each run of such nodes of one float
dtype where every intermediate is read by the next node only (nobody else holds it). The
run is queued as one batch entry ``(last node, Chain)``; only the last node is numbered
and gets a buffer.
"""

from __future__ import annotations

import sys

from . import _dtypes as dt

__all__ = ["Chain", "FLOATS", "MIN_CHAIN", "PRIVATE_REFS", "cached_kernel", "unary_classes"]

FLOATS = (dt.float32, dt.float64)
MIN_CHAIN = 3  # shorter runs are not worth a kernel of their own


class Chain(list):
    """The nodes of a fused run, first to last, queued as one batch entry ``(last, chain)``.

    ``key`` holds the primitive classes of the nodes, first to last: what a backend caches
    its kernel by. The graph walk collects it as it checks each node's class (a second pass
    over 500 nodes cost ~11 us here, ~18 on the H100 host). The nodes before the last are
    private to the run (only their consumer holds them). Holding them here also frees them
    one by one when the chain is dropped, not as a 500-deep cascade from the last node (~40%
    slower on the H100 host). ``prep`` lists the first node's input when it comes from
    another stream or device (as a batch entry's prepare list), else None.
    """

    __slots__ = ("key", "prep")

    @classmethod
    def of(cls, nodes) -> Chain:
        """The chain of ``nodes``, a run of one-input nodes first to last."""
        chain = cls(nodes)
        chain.key = tuple(type(n._prim) for n in nodes)
        chain.prep = None
        return chain


_CACHE_MAX = 512  # kernels kept per backend; the cache starts over when full


def cached_kernel(cache: dict, chain, build):
    """The backend's kernel for ``chain`` from ``cache`` (keyed by ``Chain.key``), made by
    ``build(key)`` on a miss."""
    key = chain.key
    k = cache.get(key)
    if k is None:
        if len(cache) >= _CACHE_MAX:
            cache.clear()
        k = cache[key] = build(key)
    return k


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
