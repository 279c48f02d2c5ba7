"""Accounting of host (NumPy) buffers: active and peak bytes, and the memory limit.

NumPy allocates and frees host buffers itself (its small-block cache and the C allocator
reuse freed memory), so umx counts rather than allocates: every buffer of at least
``TRACKED_BYTES`` that an op produces is counted from when the op computes it until the
last array or view using it is gone. Smaller buffers are not counted: a finalizer per
buffer would cost more than the ops that make them.
"""

from __future__ import annotations

import threading
import weakref

import numpy as np

TRACKED_BYTES = 1 << 16

# Reentrant: a garbage collection while track() holds it may run _release on this thread.
_lock = threading.RLock()
active = 0
peak = 0
limit: int | None = None  # None: no limit on the host (mx.set_memory_limit sets it)
# Bytes the GPU backend holds (set when it starts): a limit the user set covers both.
device_active = None


def _release(nbytes: int) -> None:
    global active
    with _lock:
        active -= nbytes


def track(buf) -> None:
    """Count ``buf`` (called for outputs of at least TRACKED_BYTES bytes)."""
    global active, peak
    if type(buf) is not np.ndarray:
        return
    owner = buf if buf.base is None else None
    if owner is None:  # a view: its memory is counted (or not) with the array it views
        return
    nbytes = buf.nbytes
    cap = limit
    device = device_active() if cap is not None and device_active is not None else 0
    with _lock:
        used = active + device
        refused = cap is not None and used + nbytes > cap
        if not refused:
            active += nbytes
            if active > peak:
                peak = active
    if refused:  # raised outside the lock
        raise MemoryError(
            f"[memory] Allocating {nbytes} bytes would exceed the memory limit "
            f"({cap} bytes, {used} in use). Raise it with mx.set_memory_limit."
        )
    weakref.finalize(owner, _release, nbytes)


def reset_peak() -> None:
    global peak
    with _lock:
        peak = active
