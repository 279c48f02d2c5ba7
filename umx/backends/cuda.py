"""The CUDA backend over CuPy: GPU streams, managed memory, crossings, interop.

``gpu_backend()`` (umx.backends) imports this module where CuPy is installed; it is used
only if ``available()`` finds a CUDA device. The parts:

- ``_cuda_exec``: the GPU stream executor (CUDA streams and events, dependencies);
- ``_cuda_mem``: the managed-memory pool, limits, statistics, pinned mirrors, views;
- here: the hooks the core calls (``make_executor``, ``host_of``, ``to_host``,
  ``foreign_to_array``, ``device_info``) and the array's interop protocols.
"""

from __future__ import annotations

import numpy as np

try:
    import cupy
    from cupy.cuda import runtime
except ImportError as e:  # pragma: no cover - the backend is optional
    raise ImportError("umx's CUDA backend needs CuPy: pip install umx[cuda]") from e

_available: bool | None = None


def available() -> bool:
    """True where CuPy can use at least one CUDA device."""
    global _available
    if _available is None:
        try:
            _available = runtime.getDeviceCount() > 0
        except Exception:  # noqa: BLE001 - no driver, no device
            _available = False
    return _available


def device_count() -> int:
    return runtime.getDeviceCount() if available() else 0


def device_info(i: int = 0) -> dict:
    p = runtime.getDeviceProperties(i)
    name = p["name"]
    name = name.decode() if isinstance(name, bytes) else str(name)
    with cupy.cuda.Device(i):
        free, total = runtime.memGetInfo()
    return {
        "architecture": f"sm_{p['major']}{p['minor']}",
        "device_name": name,
        "memory_size": total,
        "total_memory": total,
        "free_memory": free,
        "max_recommended_working_set_size": _mem().MEM.limit if i == 0 else free,
        "compute_capability": (p["major"], p["minor"]),
        "multi_processor_count": p["multiProcessorCount"],
        "managed_memory": bool(p.get("managedMemory", 0)),
        "concurrent_managed_access": bool(p.get("concurrentManagedAccess", 0)),
    }


def _mem():
    from . import _cuda_mem

    return _cuda_mem


def make_executor(stream):
    from ._cuda_exec import GpuExecutor

    return GpuExecutor(stream)


# -- crossings -------------------------------------------------------------------------------
def _wait(a) -> None:
    """Wait until ``a``'s buffer is complete, if a GPU stream produced it."""
    s = a._stream
    if s is not None and a._seq:
        ex = s.executor
        if ex is not None and ex.gpu:
            ex.wait_for(a._seq)


def host_of(a) -> np.ndarray:
    """A NumPy array with ``a``'s values for the CPU (waits for GPU work first).

    Contiguous GPU buffers of at least ``COPY_MIN`` bytes are copied once into pinned host
    memory (kept as the array's mirror: arrays are immutable); smaller or strided ones are
    read in place through a view of the managed pointer.
    """
    d = a._data
    if type(d) is np.ndarray or isinstance(d, np.generic):
        return d
    m = getattr(a, "_mirror", None)
    if type(m) is np.ndarray:
        return m
    if d is None:
        raise a._error or RuntimeError("[array] not evaluated")
    _wait(a)
    if not isinstance(d, cupy.ndarray):
        return np.asarray(d)
    M = _mem()
    if d.nbytes >= M.COPY_MIN and d.flags.c_contiguous:
        h = M.pinned_copy(d)
        a._mirror = h
        return h
    return M.managed_view(d)


def cpu_input(a) -> np.ndarray:
    """``a``'s values for a CPU op. A small GPU buffer is copied to the host once and the copy
    kept with the (immutable) array: read in place, its managed pages would migrate to the
    host and back each time a GPU op reads it too (the seed example's ``b``, read by the GPU
    matmul and the CPU exp chain on every call). Large ones are mirrored by ``host_of``."""
    c = getattr(a, "_cpu_copy", None)
    if c is not None:
        return c
    h = host_of(a)
    d = a._data
    if (
        isinstance(d, cupy.ndarray)
        and d.nbytes < _mem().COPY_MIN
        and h is not getattr(a, "_mirror", None)
    ):
        h = np.array(h)
        a._cpu_copy = h
    return h


def to_host(data) -> np.ndarray:
    """A NumPy view of a (complete) backend buffer."""
    if isinstance(data, cupy.ndarray):
        return _mem().managed_view(data)
    return np.asarray(data)


def device_of(a):
    """``a``'s buffer as a CuPy array in managed memory (after its producer completed)."""
    a._host() if a._data is None else None
    d = a._data
    if isinstance(d, cupy.ndarray):
        _wait(a)
        return d
    m = getattr(a, "_mirror", None)
    if isinstance(m, cupy.ndarray):
        return m
    M = _mem()
    h = np.asarray(d)
    o = M.owner_of(h) if type(h) is np.ndarray else None
    if o is not None:
        return o
    with cupy.cuda.using_allocator(M.MEM.malloc):
        m = M.to_device(h)
    cupy.cuda.get_current_stream().synchronize()
    a._mirror = m
    return m


# -- interop --------------------------------------------------------------------------------
def cuda_array_interface(a) -> dict:
    return device_of(a).__cuda_array_interface__


def dlpack(a, stream=None, **kw):
    return (
        device_of(a).__dlpack__(stream=stream, **kw)
        if stream is not None
        else device_of(a).__dlpack__(**kw)
    )


def dlpack_device(a):
    d = a._data
    if isinstance(d, cupy.ndarray) or isinstance(getattr(a, "_mirror", None), cupy.ndarray):
        return device_of(a).__dlpack_device__()
    return (1, 0)  # kDLCPU


def foreign_to_array(x):
    """An umx array from a CuPy array, a CUDA array interface or a CUDA DLPack object.

    The values are copied into umx's managed pool (device to device), so that the CPU can
    read them too; None for objects this backend does not handle.
    """
    src = None
    if isinstance(x, cupy.ndarray):
        src = x
    elif hasattr(x, "__cuda_array_interface__"):
        src = cupy.asarray(x)
    elif hasattr(x, "__dlpack_device__"):
        try:
            dev_type = x.__dlpack_device__()[0]
        except Exception:  # noqa: BLE001
            return None
        if int(dev_type) in (2, 13):  # kDLCUDA, kDLCUDAManaged
            src = cupy.from_dlpack(x)
    elif type(x).__name__ == "PyCapsule":
        try:
            src = cupy.from_dlpack(x)
        except Exception:  # noqa: BLE001 - a CPU capsule: NumPy takes it
            try:
                from . import _Capsule as _HostCapsule

                return _from_host(np.from_dlpack(_HostCapsule(x)))
            except Exception:  # noqa: BLE001
                return None
    if src is None:
        return None
    from .. import _dtypes as dt
    from .._array import constant

    d = dt.from_numpy(src.dtype)
    M = _mem()
    with cupy.cuda.using_allocator(M.MEM.malloc):
        buf = cupy.array(src, copy=True, order="C")
    cupy.cuda.get_current_stream().synchronize()
    a = constant(buf, d)
    # A GPU buffer: CPU ops that read it must go through the host view (the scheduler
    # prepares inputs by the device of the stream that produced them).
    from .. import _device

    a._stream = _device.default_stream(_device.gpu_device)
    return a


def _from_host(h):
    from .._array import array

    return array(h)
