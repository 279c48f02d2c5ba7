"""Devices and streams: where an op runs, and the per-thread defaults."""

from __future__ import annotations

import enum
import threading

__all__ = [
    "Device",
    "DeviceType",
    "Stream",
    "ThreadLocalStream",
    "clear_streams",
    "default_device",
    "default_stream",
    "device_count",
    "device_info",
    "is_available",
    "new_stream",
    "new_thread_local_stream",
    "new_thread_unsafe_stream",
    "set_default_device",
    "set_default_stream",
    "stream",
]


class DeviceType(enum.Enum):
    cpu = 0
    gpu = 1

    def __repr__(self) -> str:
        return f"DeviceType.{self.name}"

    __str__ = __repr__


class Device:
    """A device to run operations on: a type and an index."""

    __slots__ = ("type", "index")

    def __init__(self, type: DeviceType, index: int = 0) -> None:
        if not isinstance(type, DeviceType):
            raise TypeError(f"[Device] Expected a DeviceType, got {type!r}.")
        self.type = type
        self.index = index

    def __eq__(self, other) -> bool:
        if isinstance(other, DeviceType):
            return self.type is other
        return isinstance(other, Device) and self.type is other.type and self.index == other.index

    def __hash__(self) -> int:
        return hash((self.type, self.index))

    def __repr__(self) -> str:
        return f"Device({self.type.name}, {self.index})"


def _gpu_backend():
    """The CUDA backend module, or None where CUDA is absent."""
    from .backends import gpu_backend

    return gpu_backend()


def is_available(device: Device | DeviceType) -> bool:
    """Whether a device of this kind can run ops here."""
    t = device.type if isinstance(device, Device) else device
    return t is DeviceType.cpu or _gpu_backend() is not None


def device_count(device_type: DeviceType) -> int:
    if device_type is DeviceType.cpu:
        return 1
    be = _gpu_backend()
    return be.device_count() if be is not None else 0


def device_info(d: Device | DeviceType | None = None) -> dict:
    """A dictionary describing the device (architecture and name)."""
    import platform

    dev = _as_device(d if d is not None else default_device())
    if dev.type is DeviceType.cpu:
        name = platform.processor() or platform.machine()
        try:
            with open("/proc/cpuinfo") as f:
                for line in f:
                    if line.startswith("model name"):
                        name = line.split(":", 1)[1].strip()
                        break
        except OSError:
            pass
        return {"architecture": platform.machine(), "device_name": name}
    be = _gpu_backend()
    if be is None:
        raise ValueError("[device_info] Cannot get gpu device info without gpu backend.")
    return be.device_info(dev.index)


def _as_device(d) -> Device:
    if isinstance(d, Device):
        return d
    if isinstance(d, DeviceType):
        return Device(d)
    raise TypeError(f"Expected a Device or DeviceType, got {d!r}.")


class Stream:
    """An in-order queue of work on one device. Belongs to the thread that made it."""

    __slots__ = ("device", "index", "owner", "executor", "__weakref__")

    def __init__(self, device: Device, index: int, owner: int | None) -> None:
        self.device = device
        self.index = index
        self.owner = owner  # thread ident, or None for a stream every thread may use
        self.executor = None  # made on first use by the scheduler

    def __eq__(self, other) -> bool:
        return self is other

    def __hash__(self) -> int:
        return id(self)

    def __repr__(self) -> str:
        return f"Stream({self.device!r}, {self.index})"


class ThreadLocalStream:
    """A stream handle that resolves to a stream of its own in each thread."""

    __slots__ = ("device", "_local")

    def __init__(self, device: Device) -> None:
        self.device = device
        self._local = threading.local()

    def current(self) -> Stream:
        s = getattr(self._local, "stream", None)
        if s is None:
            s = self._local.stream = _make_stream(self.device, shared=False)
        return s

    def __repr__(self) -> str:
        return f"ThreadLocalStream({self.device!r})"


_index_lock = threading.Lock()
_next_index = 0


def _make_stream(device: Device, shared: bool) -> Stream:
    global _next_index
    if device.type is DeviceType.gpu and _gpu_backend() is None:
        raise ValueError("[new_stream] Cannot make gpu stream without gpu backend.")
    with _index_lock:
        idx = _next_index
        _next_index += 1
    return Stream(device, idx, None if shared else threading.get_ident())


class _ThreadState(threading.local):
    """Per-thread defaults: the default device and each device's default stream."""

    def __init__(self) -> None:
        self.device = _global_default_device
        self.defaults: dict[Device, Stream] = {}
        self.created: list[Stream] = []
        self.current: Stream | None = None  # cached default stream of the default device
        self.by_type: dict = {}  # id(DeviceType) -> its default stream (a cache)


cpu_device = Device(DeviceType.cpu, 0)
gpu_device = Device(DeviceType.gpu, 0)
_global_default_device = cpu_device
_state: _ThreadState | None = None


def _init_default_device() -> None:
    """The GPU is the default device where CUDA is present, as in MLX."""
    global _global_default_device, _state
    if _gpu_backend() is not None:
        _global_default_device = gpu_device
    _state = _ThreadState()


def default_device() -> Device:
    return _state.device


def set_default_device(device: Device | DeviceType) -> None:
    dev = _as_device(device)
    if dev.type is DeviceType.gpu and _gpu_backend() is None:
        raise ValueError("[set_default_device] Cannot set gpu device without gpu backend.")
    _state.device = dev
    _state.current = None
    _state.by_type.clear()


def default_stream(device: Device | DeviceType) -> Stream:
    """The calling thread's default stream of ``device``."""
    dev = _as_device(device)
    st = _state
    s = st.defaults.get(dev)
    if s is None:
        if dev.type is DeviceType.gpu and _gpu_backend() is None:
            raise ValueError("[default_stream] Cannot get gpu stream without gpu backend.")
        s = st.defaults[dev] = _make_stream(dev, shared=False)
    return s


def set_default_stream(stream: Stream) -> None:
    if not isinstance(stream, Stream):
        raise TypeError(f"[set_default_stream] Expected a Stream, got {stream!r}.")
    _state.defaults[stream.device] = stream
    _state.current = None
    _state.by_type.clear()


def new_stream(device: Device | DeviceType) -> Stream:
    """A new stream on ``device``, owned by the calling thread."""
    s = _make_stream(_as_device(device), shared=False)
    _state.created.append(s)
    return s


def new_thread_unsafe_stream(device: Device | DeviceType) -> Stream:
    """A new stream usable from any thread (the caller keeps its use race-free)."""
    s = _make_stream(_as_device(device), shared=True)
    _state.created.append(s)
    return s


def new_thread_local_stream(device: Device | DeviceType) -> ThreadLocalStream:
    """A stream handle usable from every thread: each thread gets its own stream."""
    return ThreadLocalStream(_as_device(device))


def clear_streams() -> None:
    """Forget the streams (and default streams) made in the calling thread."""
    st = _state
    st.created.clear()
    st.defaults.clear()
    st.current = None
    st.by_type.clear()


def current_stream() -> Stream:
    """The stream an op with ``stream=None`` runs on in this thread."""
    st = _state
    s = st.current
    if s is None:
        s = st.current = default_stream(st.device)
    return s


def resolve_stream(s) -> Stream:
    """Turn a ``stream=`` argument (None, Stream, Device, DeviceType) into a Stream."""
    if s is None:
        st = _state
        cur = st.current
        return cur if cur is not None else current_stream()
    if type(s) is Stream:
        if s.owner is not None and s.owner != threading.get_ident():
            raise RuntimeError(
                f"There is no Stream({s.device.type.name}, {s.index}) in current thread."
            )
        return s
    if type(s) is DeviceType:  # mx.cpu / mx.gpu: cached per thread (ids: Enum hashing is slow)
        st = _state
        c = st.by_type.get(id(s))
        if c is None:
            c = current_stream() if s is st.device.type else default_stream(Device(s))
            st.by_type[id(s)] = c
        return c
    if isinstance(s, Device):
        if s == _state.device:
            return current_stream()
        return default_stream(s)
    if isinstance(s, ThreadLocalStream):
        return s.current()
    raise TypeError(f"Expected a Stream, Device or DeviceType for stream=, got {s!r}.")


class StreamContext:
    """Within a ``with`` block, ops with no ``stream=`` run on the given stream or device.

    Entering makes the target the default device and its stream that device's default;
    leaving restores both, even when the block raises.
    """

    __slots__ = ("_target", "_saved")

    def __init__(self, s) -> None:
        self._target = s
        self._saved = None

    def __enter__(self) -> None:
        st = _state
        target = resolve_stream(self._target)
        self._saved = (st.device, dict(st.defaults))
        st.device = target.device
        st.defaults[target.device] = target
        st.current = None
        st.by_type.clear()

    def __exit__(self, exc_type=None, exc_value=None, traceback=None) -> None:
        st = _state
        st.device, st.defaults = self._saved
        st.current = None
        st.by_type.clear()


def stream(s) -> StreamContext:
    """A context manager: ops with no ``stream=`` inside it run on ``s`` (a Stream or a
    Device)."""
    return StreamContext(s)
