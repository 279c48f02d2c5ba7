"""Memory statistics and limits (MLX's ``get_active_memory``, ``set_memory_limit``, ...).

With the CUDA backend these count the managed-memory pool that every GPU buffer comes from,
plus the pinned host copies made when GPU buffers cross to the CPU; the limit caps the pool
(it defaults below the GPU's free memory and can never be set above it). Host buffers that
CPU ops produce are counted too (those of 64 KiB and more: see ``umx._host_memory``), and
the limit applies to them as well.
"""

from __future__ import annotations

import os

from . import _host_memory as host

__all__ = [
    "clear_cache",
    "get_array_buffer_size",
    "get_active_memory",
    "get_cache_memory",
    "get_memory_limit",
    "get_peak_memory",
    "reset_peak_memory",
    "set_cache_limit",
    "set_memory_limit",
    "set_wired_limit",
]


def _host_memory() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # pragma: no cover
        return 1 << 34


_cpu = {"limit": _host_memory(), "cache_limit": _host_memory(), "wired": 0}


def _gpu_mem():
    from .backends import gpu_backend

    if gpu_backend() is None:
        return None
    from .backends import _cuda_mem

    return _cuda_mem.MEM


def get_active_memory() -> int:
    """Bytes in buffers that arrays use now (cached buffers excluded)."""
    m = _gpu_mem()
    return host.active + (m.active() if m is not None else 0)


def get_peak_memory() -> int:
    """The most bytes in use since the start or the last ``reset_peak_memory``."""
    m = _gpu_mem()
    if m is None:
        return host.peak
    m.sample_peak()
    return host.peak + m.peak


def reset_peak_memory() -> None:
    host.reset_peak()
    m = _gpu_mem()
    if m is not None:
        m.peak = 0


def get_cache_memory() -> int:
    """Bytes held in the cache for reuse (freed buffers not returned to the system)."""
    m = _gpu_mem()
    return m.cache() if m is not None else 0


def get_memory_limit() -> int:
    m = _gpu_mem()
    return m.limit if m is not None else _cpu["limit"]


def set_memory_limit(limit: int) -> int:
    """Set the memory limit in bytes; returns the previous one. Once set, it caps host and
    GPU buffers together; the GPU's share is also capped by the device's free memory. Past
    it, allocations raise ``MemoryError``."""
    if not isinstance(limit, int) or limit < 0:
        raise ValueError("[set_memory_limit] The limit must be a non-negative int.")
    host.limit = limit
    m = _gpu_mem()
    if m is not None:
        return m.set_limit(limit)
    old, _cpu["limit"] = _cpu["limit"], limit
    return old


def set_cache_limit(limit: int) -> int:
    """Set the cache limit in bytes (0 disables the cache); returns the previous one."""
    if not isinstance(limit, int) or limit < 0:
        raise ValueError("[set_cache_limit] The limit must be a non-negative int.")
    m = _gpu_mem()
    if m is not None:
        return m.set_cache_limit(limit)
    old, _cpu["cache_limit"] = _cpu["cache_limit"], limit
    return old


def set_wired_limit(limit: int) -> int:
    """Recorded for MLX compatibility (wiring is a macOS notion); returns the previous one."""
    if not isinstance(limit, int) or limit < 0:
        raise ValueError("[set_wired_limit] The limit must be a non-negative int.")
    old, _cpu["wired"] = _cpu["wired"], limit
    return old


def clear_cache() -> None:
    """Return cached buffers to the system."""
    m = _gpu_mem()
    if m is not None:
        m.clear_cache()


def _buffer_of(data) -> tuple[int, int]:
    """(identity, bytes) of the allocation behind a backend array: views share it."""
    mem = getattr(getattr(data, "data", None), "mem", None)  # a CuPy array's allocation
    if mem is not None:
        return id(mem), int(mem.size)
    if not hasattr(data, "base"):
        return id(data), int(data.nbytes)
    root = data
    while getattr(root, "base", None) is not None and hasattr(root.base, "nbytes"):
        root = root.base
    owner = getattr(root, "base", None)
    return id(owner if owner is not None else root), int(root.nbytes)


def get_array_buffer_size(*args) -> int:
    """Bytes of the buffers behind the given arrays (each argument an array or a tree of
    them; other leaves are ignored). A buffer shared by several arrays counts once, with
    its whole size. The arrays must be evaluated."""
    from ._array import array
    from ._tree import tree_flatten

    seen: dict[int, int] = {}
    for a in tree_flatten(list(args))[0]:
        if not isinstance(a, array):
            continue
        if a._data is None:
            raise ValueError(
                "[get_array_buffer_size] Arrays must be evaluated before querying buffer size."
            )
        key, size = _buffer_of(a._data)
        seen[key] = size
    return sum(seen.values())
