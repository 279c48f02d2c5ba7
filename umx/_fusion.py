"""Finding chains of elementwise unary ops in a stream's batch, for the backends to fuse.

A chain is a run of consecutive nodes of one float dtype where each node's only input is
the previous node's output and nobody else can read that output. The backend then computes
the whole run in one kernel and gives a buffer only to the chain's last node.
"""

from __future__ import annotations

import sys

from . import _dtypes as dt

__all__ = ["plan", "unary_classes"]

_FLOATS = (dt.float32, dt.float64)

# A node in a chain is referenced by its batch entry, its consumer's inputs, the chain
# list and getrefcount's own argument: more means someone else can still read it.
_PRIVATE_REFS = 4


def unary_classes(names) -> frozenset:
    """The primitive classes of the elementwise unary ops named in ``names``."""
    from .ops.unary import Unary

    return frozenset(c for c in Unary.__subclasses__() if c.name in names)


def plan(batch, kinds: frozenset, min_chain: int) -> list | None:
    """The batch with runs of fusable nodes replaced by ``(None, [nodes...])`` entries.

    ``kinds`` are the primitive classes the backend can fuse. Returns None when the batch
    holds no chain of at least ``min_chain`` nodes (the common case: the batch is kept).
    """
    out = None
    k, size = 0, len(batch)
    while k < size:
        n, prep = batch[k]
        if prep is not None or type(n._prim) not in kinds or n._dtype not in _FLOATS:
            k += 1
            continue
        if n._inputs[0]._dtype is not n._dtype:
            k += 1
            continue
        chain = [n]
        j = k + 1
        while j < size:
            m, mprep = batch[j]
            if (
                mprep is not None
                or type(m._prim) not in kinds
                or m._inputs[0] is not chain[-1]
                or m._dtype is not n._dtype
                or sys.getrefcount(chain[-1]) > _PRIVATE_REFS + (len(chain) == 1)  # +1: local n
            ):
                break
            chain.append(m)
            j += 1
        if len(chain) >= min_chain:
            if out is None:
                out = batch[:k]
                start = k
            else:
                out.extend(batch[start:k])
            out.append((None, chain))
            start = j
        k = j
    if out is None:
        return None
    out.extend(batch[start:])
    return out
