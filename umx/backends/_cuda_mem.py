"""GPU memory for umx: a pool over CUDA managed memory, pinned host mirrors, and views.

Every buffer a GPU op produces comes from one pool (CuPy's ``MemoryPool``) over
``cudaMallocManaged``, so NumPy can view the same pointer. The pool reuses freed blocks
(per stream, so reuse is stream-ordered), and counts what it holds. Managed memory in use is
capped by a limit that defaults below the device's free memory at start-up, and each fresh
chunk is also checked against ``cudaMemGetInfo`` free memory at the time it is asked for:
past either, the allocation raises ``MemoryError`` (never asks the driver for more managed
memory than the GPU has free, which can hang a shared GPU).

Crossing from the GPU to the CPU copies into pinned host memory (a "mirror" kept with the
array: arrays are immutable, so the copy stays valid), because on the H100 machine that is
the fastest way for NumPy to read GPU-written memory (bench/results, crossing): a pinned
copy at ~54 GB/s against ~3 GB/s for page-fault migration and ~10 GB/s for prefetching
managed pages to the host. Small buffers (under ``COPY_MIN`` bytes, where the measured costs
are equal) are read in place through a NumPy view of the managed pointer: no copy at all.
"""

from __future__ import annotations

import os
import threading

import cupy
import numpy as np
from cupy.cuda import runtime

from .. import _host_memory

# Crossings of at least this many bytes copy to pinned memory; smaller ones view in place.
COPY_MIN = int(os.environ.get("UMX_CUDA_COPY_MIN", str(64 * 1024)))
# Never let a fresh managed chunk leave less than this much of the GPU's memory free.
_SAFETY = 512 << 20


class _View:
    """Owner of a NumPy view over memory that something else keeps alive."""

    __slots__ = ("__array_interface__", "owner", "nbytes", "__weakref__")

    def __init__(self, ptr: int, shape, strides, dtype, owner, nbytes: int = 0) -> None:
        self.__array_interface__ = {
            "data": (ptr, False),
            "shape": tuple(shape),
            "strides": tuple(strides) if strides is not None else None,
            "typestr": _typestr(np.dtype(dtype)),
            "version": 3,
        }
        self.owner = owner
        self.nbytes = nbytes


class _PinnedOwner:
    """Keeps a pinned block alive and counted while a NumPy array views it."""

    __slots__ = ("mem", "nbytes", "__weakref__")

    def __init__(self, mem, nbytes: int) -> None:
        self.mem = mem
        self.nbytes = nbytes
        with _lock:
            MEM.pinned_active += nbytes

    def __del__(self) -> None:
        try:
            MEM.pinned_active -= self.nbytes
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass


_lock = threading.Lock()


def _typestr(d: np.dtype) -> str:
    """The interface type string; extension dtypes (bfloat16) travel as same-size uints."""
    return d.str if d.kind != "V" else f"<u{d.itemsize}"


def _as(view: _View, dtype) -> np.ndarray:
    h = np.asarray(view)
    d = np.dtype(dtype)
    return h if h.dtype == d else h.view(d)


class Memory:
    """The managed-memory pool, its limits and its statistics."""

    def __init__(self) -> None:
        free, total = runtime.memGetInfo()
        self.total = total
        # Default limit: 90% of what is free now, and never within _SAFETY of the edge.
        self.limit = max(0, min(int(free * 0.9), free - _SAFETY))
        self.cache_limit = self.limit
        self.peak = 0
        self.pinned_active = 0
        self.pool = cupy.cuda.MemoryPool(self._raw_alloc)
        self.pool.set_limit(size=self.limit)
        self.pinned_pool = cupy.cuda.PinnedMemoryPool()

    # -- allocation ---------------------------------------------------------------------
    def _raw_alloc(self, n: int):
        """A fresh managed chunk for the pool, if the GPU has that much free."""
        free, _ = runtime.memGetInfo()
        if n > free - _SAFETY:
            # CuPy's pool frees its cached blocks and retries once on this error.
            raise cupy.cuda.memory.OutOfMemoryError(n, self.pool.total_bytes(), self.limit)
        return cupy.cuda.malloc_managed(n)

    def malloc(self, n: int):
        """The allocator every GPU op runs under (``cupy.cuda.using_allocator``)."""
        # A limit the user set (mx.set_memory_limit) caps host and GPU buffers together, as
        # MLX's does on unified memory; the pool's own limit (capped by the GPU's free memory)
        # guards the GPU alone.
        cap = _host_memory.limit
        if cap is not None and self.active() + _host_memory.active + n > cap:
            self._refuse(n, cap)
        try:
            return self.pool.malloc(n)
        except cupy.cuda.memory.OutOfMemoryError:
            self._refuse(n, self.limit)

    def _refuse(self, n: int, cap: int):
        used = self.active() + _host_memory.active
        free, _ = runtime.memGetInfo()
        raise MemoryError(
            f"[umx.gpu] Cannot allocate {n} bytes: {used} bytes in use, memory limit "
            f"{cap} bytes, {free} bytes free on the GPU. Free arrays, or raise the "
            "limit with mx.set_memory_limit (it can not exceed the GPU's free memory)."
        ) from None

    def sample_peak(self) -> None:
        u = self.pool.used_bytes() + self.pinned_active
        if u > self.peak:
            self.peak = u
        if self.pool.free_bytes() > self.cache_limit:
            self.pool.free_all_blocks()

    def pinned(self, nbytes: int, shape, dtype) -> np.ndarray:
        """A NumPy array over pinned host memory from the pinned pool (counted)."""
        mem = self.pinned_pool.malloc(max(nbytes, 1))
        owner = _PinnedOwner(mem, nbytes)
        return _as(_View(mem.ptr, shape, None, dtype, owner, nbytes), dtype)

    # -- statistics and limits ------------------------------------------------------------
    def active(self) -> int:
        return self.pool.used_bytes() + self.pinned_active

    def cache(self) -> int:
        return self.pool.free_bytes()

    def set_limit(self, limit: int) -> int:
        old = self.limit
        free, _ = runtime.memGetInfo()
        held = self.pool.total_bytes()
        cap = max(0, free + held - _SAFETY)  # what the pool may hold at most right now
        self.limit = max(0, min(int(limit), cap))
        self.pool.set_limit(size=self.limit)
        return old

    def set_cache_limit(self, limit: int) -> int:
        old = self.cache_limit
        self.cache_limit = max(0, int(limit))
        if self.pool.free_bytes() > self.cache_limit:
            self.pool.free_all_blocks()
        return old

    def clear_cache(self) -> None:
        self.pool.free_all_blocks()
        self.pinned_pool.free_all_blocks()


MEM = Memory()


def _active_for_host() -> int:
    """GPU bytes in use, for the host side's limit check; 0 where CUDA cannot be used (a
    child forked after CUDA started: its CPU ops must still run)."""
    try:
        return MEM.active()
    except runtime.CUDARuntimeError:
        return 0


_host_memory.device_active = _active_for_host


def managed_view(d) -> np.ndarray:
    """A NumPy view of a CuPy array in managed memory (same pointer, no copy)."""
    if d.size == 0:
        return np.empty(d.shape, d.dtype)
    return _as(_View(d.data.ptr, d.shape, d.strides, d.dtype, d), d.dtype)


def to_device(h: np.ndarray):
    """A CuPy copy of host array ``h`` (in the current allocator and stream). A 0-d array
    goes through a 1-element one: CuPy fills a 0-d array from a scalar with memset when it
    compares equal to 0, which turned -0.0 into 0.0 (arctan2(0, -0.0) gave 0, not pi)."""
    if h.ndim == 0:
        return cupy.asarray(h.reshape(1)).reshape(())
    return cupy.asarray(h)


def pinned_copy(d) -> np.ndarray:
    """A copy of a (complete) C-contiguous CuPy array in pinned host memory."""
    n = d.nbytes
    h = MEM.pinned(n, d.shape, d.dtype)
    runtime.memcpy(h.ctypes.data, d.data.ptr, n, runtime.memcpyDefault)
    return h


def owner_of(h: np.ndarray):
    """The CuPy array whose managed memory ``h`` views, or None."""
    b = h
    while isinstance(b, np.ndarray):
        b = b.base
    if isinstance(b, _View) and isinstance(b.owner, cupy.ndarray):
        base = b.owner
        if h.ctypes.data == base.data.ptr and h.shape == base.shape and h.strides == base.strides:
            return base
    return None
