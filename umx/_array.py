"""The lazy array node: shape, dtype, the primitive and inputs that make it, its buffer."""

from __future__ import annotations

import numpy as np

from . import _dtypes as dt
from . import _host_memory

__all__ = ["array", "ArrayIterator", "ArrayLike", "node", "as_array", "constant"]

_new = object.__new__


class array:
    """An N-dimensional array. Built lazily by ops; computed by ``mx.eval``.

    It has no device: ops choose where they run with ``stream=``, and the buffer is
    readable from every device.
    """

    __slots__ = (
        "_shape",  # tuple of ints, known when the op is called
        "_dtype",  # Dtype
        "_prim",  # the Primitive that computes it (None for constants)
        "_inputs",  # tuple of input arrays; emptied once computed, releasing the graph
        "_stream",  # Stream it runs on (None for constants)
        "_data",  # the backend buffer (NumPy / CuPy array) once available
        "_seq",  # position on its stream's executor once scheduled (0: unscheduled)
        "_error",  # exception raised while computing it, if any
        "_siblings",  # other outputs of a multi-output primitive
        "_mirror",  # a copy on the other device (GPU backend), made at a crossing
        "_cpu_copy",  # a small GPU buffer's host copy, for CPU ops (GPU backend)
        "__weakref__",
    )

    def __init__(self, val, dtype: dt.Dtype | None = None) -> None:
        if isinstance(val, array):  # as MLX: a lazy astype, part of the graph (gradients)
            self._replace(_from_array(val, dtype))
            return
        data, d = _to_buffer(val, dtype)
        if data.nbytes >= _host_memory.TRACKED_BYTES:
            _host_memory.track(data)
        self._shape = data.shape
        self._dtype = d
        self._prim = None
        self._inputs = ()
        self._stream = None
        self._data = data
        self._seq = 0
        self._error = None

    # -- properties ---------------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, ...]:
        return self._shape

    @property
    def dtype(self) -> dt.Dtype:
        return self._dtype

    @property
    def ndim(self) -> int:
        return len(self._shape)

    @property
    def size(self) -> int:
        n = 1
        for s in self._shape:
            n *= s
        return n

    @property
    def itemsize(self) -> int:
        return self._dtype.size

    @property
    def nbytes(self) -> int:
        return self.size * self._dtype.size

    # -- evaluation and conversion ----------------------------------------------------
    def _host(self) -> np.ndarray:
        """Evaluate and return a NumPy view of the buffer (no copy)."""
        data = self._data
        if data is None:
            from ._eval import eval as _eval

            _eval(self)
            data = self._data
        if type(data) is not np.ndarray:
            from .backends import host_of

            data = host_of(self)
        return data

    def item(self):
        """The value of a one-element array as a Python scalar."""
        if self.size != 1:
            raise ValueError("[convert] Only length-1 arrays can be converted to Python scalars.")
        v = self._host().reshape(()).item()
        if self._dtype in (dt.bfloat16,):
            v = float(v)
        return v

    def tolist(self):
        """The array as nested Python lists (a scalar for a 0-d array)."""
        h = self._host()
        if self._dtype is dt.bfloat16:
            h = h.astype(np.float32)
        return h.tolist()

    def __array__(self, dtype=None, copy=None):
        h = self._host()
        if type(h) is not np.ndarray:  # a NumPy scalar result: give a 0-d array
            h = np.asarray(h)
        if dtype is not None and np.dtype(dtype) != h.dtype:
            return h.astype(dtype)
        if copy:
            return h.copy()
        return h

    @property
    def __cuda_array_interface__(self) -> dict:
        """The buffer as a CUDA array (zero copy; GPU backend only)."""
        from .backends import gpu_backend

        be = gpu_backend()
        if be is None:
            raise AttributeError("__cuda_array_interface__ needs the CUDA backend")
        return be.cuda_array_interface(self)

    def __dlpack__(self, *, stream=None, max_version=None, dl_device=None, copy=None):
        from .backends import dlpack

        return dlpack(self, stream=stream, max_version=max_version, dl_device=dl_device, copy=copy)

    def __dlpack_device__(self):
        from .backends import dlpack_device

        return dlpack_device(self)

    def __buffer__(self, flags):  # Python >= 3.12 buffer protocol
        h = np.asarray(self._host())
        return memoryview(h)

    def __repr__(self) -> str:
        from ._printing import array_repr

        return array_repr(self)

    def __str__(self) -> str:
        from ._printing import array_str

        return array_str(self)

    def __len__(self) -> int:
        if not self._shape:
            raise TypeError("len() 0-dimensional array.")
        return self._shape[0]

    def __iter__(self):
        if not self._shape:
            raise TypeError("iter() 0-dimensional array.")
        return ArrayIterator(self)

    def __bool__(self) -> bool:
        return bool(self.item())

    def __int__(self) -> int:
        return int(self.item())

    def __float__(self) -> float:
        return float(self.item())

    def __complex__(self) -> complex:
        return complex(self.item())

    def __index__(self) -> int:
        if self._dtype.kind not in "iu" or self._shape:
            raise TypeError("Only 0-dimensional integer arrays can be converted to an index.")
        return int(self.item())

    def __format__(self, spec: str) -> str:
        if not spec:
            return str(self)
        return format(self.item(), spec)

    def __hash__(self) -> int:
        return id(self)

    def __copy__(self) -> array:
        from .ops.unary import copy

        return copy(self)

    def __deepcopy__(self, memo) -> array:
        return array(np.array(self._host()), self._dtype)

    def __getstate__(self):
        return (np.array(self._host()), self._dtype.name)

    def __setstate__(self, state) -> None:
        data, name = state
        self.__init__(data, dt._dtype_by_name(name))

    def _replace(self, other: array) -> None:
        """Become ``other`` (in-place forms such as ``a[i] = v`` rebind the node)."""
        for s in array.__slots__[:-1]:
            if hasattr(other, s):
                setattr(self, s, getattr(other, s))
            elif hasattr(self, s):  # e.g. a host copy of the old value: it would be stale
                delattr(self, s)


def node(prim, inputs: tuple, shape: tuple, dtype: dt.Dtype, stream) -> array:
    """An unscheduled array computed by ``prim`` from ``inputs`` on ``stream``."""
    a = _new(array)
    a._shape = shape
    a._dtype = dtype
    a._prim = prim
    a._inputs = inputs
    a._stream = stream
    a._data = None
    a._seq = 0
    a._error = None
    return a


def constant(data, dtype: dt.Dtype) -> array:
    """An available array wrapping a backend buffer (no copy)."""
    a = _new(array)
    a._shape = data.shape
    a._dtype = dtype
    a._prim = None
    a._inputs = ()
    a._stream = None
    a._data = data
    a._seq = 0
    a._error = None
    return a


_SCALAR_CACHE: dict = {}


def scalar(value, dtype: dt.Dtype) -> array:
    """A 0-d constant of ``dtype`` for a Python scalar; small ones are cached."""
    key = (type(value), value, dtype)
    try:
        return _SCALAR_CACHE[key]
    except KeyError:
        pass
    except TypeError:  # unhashable
        return constant(np.asarray(value, dtype=dtype.np), dtype)
    if value != value or (value == 0 and type(value) is float):  # NaN, and -0.0 vs 0.0
        return constant(np.asarray(value, dtype=dtype.np), dtype)
    if len(_SCALAR_CACHE) > 512:
        _SCALAR_CACHE.clear()
    a = _SCALAR_CACHE[key] = constant(np.asarray(value, dtype=dtype.np), dtype)
    return a


def as_array(x, op: str = "array", dtype: dt.Dtype | None = None) -> array:
    """``x`` as an array: arrays pass through, scalars / lists / NumPy arrays are wrapped."""
    if isinstance(x, array):
        return x
    if isinstance(x, (int, float, complex, bool, list, tuple, np.ndarray, np.generic)):
        return array(x, dtype)
    if hasattr(x, "__mlx_array__"):
        return x.__mlx_array__()
    from .backends import foreign_to_array

    a = foreign_to_array(x)
    if a is not None:
        return a
    raise TypeError(f"[{op}] Cannot convert {type(x).__name__} to an array.")


def _nested_dtype(val) -> dt.Dtype:
    """The dtype MLX picks for a nested list of Python scalars."""
    seen = set()
    stack = [val]
    big = False
    while stack:
        v = stack.pop()
        if isinstance(v, (list, tuple)):
            stack.extend(v)
        elif isinstance(v, array):
            seen.add(v._dtype)
        else:
            t = type(v)
            if isinstance(v, bool) or isinstance(v, np.bool_):
                seen.add(bool)
            elif isinstance(v, (int, np.integer)):
                seen.add(int)
                if not -(2**31) <= int(v) < 2**31:
                    big = True
            elif isinstance(v, (float, np.floating)):
                seen.add(float)
            elif isinstance(v, (complex, np.complexfloating)):
                seen.add(complex)
            else:
                raise TypeError(f"[array] Invalid type {t.__name__} in a nested list.")
    if complex in seen:
        out = dt.complex64
    elif float in seen:
        out = dt.float32
    elif int in seen:
        out = dt.int64 if big else dt.int32
    elif bool in seen:
        out = dt.bool_
    else:
        out = None  # no Python scalars: an empty list, or arrays only
    for d in seen:
        if isinstance(d, dt.Dtype):
            out = d if out is None else dt.promote_types(out, d)
    return dt.float32 if out is None else out


def _from_array(val: array, dtype) -> array:
    from ._device import current_stream

    d = val._dtype if dtype is None else dt.to_dtype(dtype, "array")
    if d is not val._dtype:
        from .ops.unary import astype

        return astype(val, d)
    from ._autodiff import _IDENTITY

    return node(_IDENTITY, (val,), val._shape, d, current_stream())


def _to_buffer(val, dtype):
    """A NumPy buffer and its umx dtype for the ``mx.array`` constructor."""
    if dtype is not None:
        dtype = dt.to_dtype(dtype, "array")
    if isinstance(val, array):
        h = val._host()
        d = dtype or val._dtype
        return (h.astype(d.np) if d is not val._dtype else h), d
    if isinstance(val, np.ndarray):
        d = dtype or dt.from_numpy(val.dtype)
        if dtype is None and d is dt.float64:
            d = dt.float32  # MLX turns NumPy float64 into float32
        with np.errstate(over="ignore", invalid="ignore"):  # float64 -> float32 overflow: inf
            return np.array(val, dtype=d.np), d
    if isinstance(val, (bool, int, float, complex, np.generic)):
        d = dtype or dt.scalar_dtype(val)
        return _checked(np.asarray(val), d), d
    if isinstance(val, (list, tuple)):
        d = dtype or _nested_dtype(val)
        if any(isinstance(v, array) for v in val):
            val = [np.asarray(v) if isinstance(v, array) else v for v in val]
        try:
            raw = np.array(val)
        except ValueError:
            raise ValueError("Initialization encountered non-uniform length.") from None
        return _checked(raw, d), d
    from .backends import foreign_to_array

    a = foreign_to_array(val)
    if a is not None:
        h = a._host()
        d = dtype or a._dtype
        return h.astype(d.np), d
    if hasattr(val, "__mlx_array__"):
        return _to_buffer(val.__mlx_array__(), dtype)
    if hasattr(val, "__array__") or hasattr(val, "__array_interface__"):
        return _to_buffer(np.asarray(val), dtype)
    raise ValueError(f"[array] Unsupported type {type(val).__name__}.")


def _checked(raw: np.ndarray, d: dt.Dtype) -> np.ndarray:
    if raw.dtype == object:
        raise ValueError("Initialization encountered non-uniform length.")
    if d.kind != "c" and raw.dtype.kind == "c":
        raw = raw.real  # MLX keeps the real part
    with np.errstate(over="ignore", invalid="ignore"):
        return raw.astype(d.np)


class ArrayIterator:
    """Iterates over the first axis of an array, yielding ``a[0]``, ``a[1]``, ..."""

    __slots__ = ("_array", "_next")

    def __init__(self, a: array) -> None:
        self._array = a
        self._next = 0

    def __iter__(self) -> ArrayIterator:
        return self

    def __next__(self) -> array:
        i = self._next
        if i >= self._array._shape[0]:
            raise StopIteration
        self._next = i + 1
        return self._array[i]


class ArrayLike:
    """Wraps any object with an ``__mlx_array__`` method so ops take it as an array."""

    __slots__ = ("_obj",)

    def __init__(self, arg: object, /) -> None:
        self._obj = arg

    def __mlx_array__(self) -> array:
        return self._obj.__mlx_array__()
