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


class Chain:
    """A fused run, as one batch entry ``(last, chain)``.

    ``last`` is the run's last node, ``src`` the input of its first, ``key`` the primitive
    classes of its nodes first to last: what a backend caches its kernel by. The graph walk
    collects ``key`` as it checks each node's class, so no pass over the nodes is left for
    later (one cost ~20 us for 500 nodes on the H100 host). The nodes between ``src`` and
    ``last`` are private to the run (only their consumer holds them): nobody can see them,
    and the chain keeps no reference of its own to them. ``prep`` lists ``src`` when it
    comes from another stream or device (as a batch entry's prepare list), else None.
    """

    __slots__ = ("last", "src", "key", "prep")

    def __init__(self, last, src, key: tuple, prep=None) -> None:
        self.last = last
        self.src = src
        self.key = key
        self.prep = prep

    @classmethod
    def of(cls, nodes) -> Chain:
        """The chain of ``nodes``, a run of one-input nodes first to last."""
        return cls(nodes[-1], nodes[0]._inputs[0], tuple(type(n._prim) for n in nodes))

    def __len__(self) -> int:
        return len(self.key)

    def nodes(self) -> list:
        """The run's nodes, first to last (read from ``last``'s inputs: while it keeps them)."""
        out = [self.last]
        for _ in range(len(self.key) - 1):
            out.append(out[-1]._inputs[0])
        out.reverse()
        return out


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
