"""Saving and loading arrays: ``.npy``, ``.npz``, ``.safetensors`` and ``.gguf`` files.

Files are byte-compatible with MLX's in both directions (checked against mlx 0.32.4):

- ``.npy`` / ``.npz`` go through NumPy's format; bfloat16 is written as MLX writes it,
  two raw bytes per element with the descr ``'<V2'``, and a ``'<V2'`` array reads back
  as bfloat16.
- ``.safetensors``: an 8-byte little-endian header length, a JSON header (``dtype``,
  ``shape``, ``data_offsets`` per tensor, an optional ``__metadata__`` dict of strings),
  then the raw little-endian data.
- ``.gguf`` lives in ``_io_gguf``.

Saving evaluates the arrays first. Loading reads eagerly into fresh host buffers, which
every device reads, so the result is right on any stream. The hosts umx runs on are
little-endian, so array bytes are written and read as they lie in memory.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import struct
import zipfile
from typing import Any, BinaryIO

import numpy as np

from . import _dtypes as dt
from . import _host_memory
from ._array import array, constant
from ._device import resolve_stream

__all__ = ["load", "save", "save_gguf", "save_safetensors", "savez", "savez_compressed"]

FileLike = str | os.PathLike | BinaryIO

_COMPLEX128 = np.dtype(np.complex128)


# -- files -----------------------------------------------------------------------------
def _is_path(file) -> bool:
    return isinstance(file, (str, os.PathLike))


@contextlib.contextmanager
def _writer(file, op: str, ext: str, open_error: type[Exception] = RuntimeError):
    """A binary file to write to: a path (``ext`` appended when it does not end with it,
    as MLX does) or a file object, used as it is and left open."""
    if _is_path(file):
        path = os.fspath(file)
        if not path.endswith(ext):
            path += ext
        try:
            f = open(path, "wb")
        except OSError as e:
            raise open_error(f"[{op}] Failed to open file {path}") from e
        with f:
            yield f
    elif hasattr(file, "write"):
        yield file
    else:
        raise ValueError(f"[{op}] Input must be a file-like object, or string")


def read_into(f, buf: np.ndarray, op: str) -> None:
    """Fill the 1-d uint8 ``buf`` from ``f`` (a short file is an error)."""
    n = buf.size
    if n == 0:
        return
    readinto = getattr(f, "readinto", None)
    if readinto is None:
        data = f.read(n)
        if len(data) != n:
            raise RuntimeError(f"[{op}] Unexpected end of file: wanted {n} bytes.")
        buf[:] = np.frombuffer(data, np.uint8)
        return
    view = memoryview(buf)
    got = 0
    while got < n:
        k = readinto(view[got:])
        if not k:
            raise RuntimeError(f"[{op}] Unexpected end of file: read {got} of {n} bytes.")
        got += k


def read_exact(f, n: int, op: str) -> bytes:
    data = f.read(n)
    if len(data) != n:
        raise RuntimeError(f"[{op}] Unable to read {n} bytes from file.")
    return data


def new_buffer(nbytes: int) -> np.ndarray:
    """A fresh host buffer for loaded data, counted in umx's host memory statistics."""
    raw = np.empty(nbytes, np.uint8)
    if nbytes >= _host_memory.TRACKED_BYTES:
        _host_memory.track(raw)
    return raw


def as_loaded(raw: np.ndarray, d: dt.Dtype, shape: tuple) -> array:
    """An available array of ``d`` and ``shape`` over the bytes ``raw``."""
    return constant(raw.view(d.np).reshape(shape), d)


def seekable(f):
    """``f`` if it can seek, else its remaining bytes in memory."""
    try:
        if f.seekable():
            return f
    except (AttributeError, OSError, ValueError):
        pass
    return io.BytesIO(f.read())


def file_size(f) -> int:
    """Bytes from ``f``'s position to its end (the position is kept)."""
    pos = f.tell()
    end = f.seek(0, os.SEEK_END)
    f.seek(pos)
    return end - pos


def evaluated(arrays: list, op: str) -> list[np.ndarray]:
    """The host buffers of ``arrays``, evaluated together (one graph walk)."""
    for a in arrays:
        if not isinstance(a, array):
            # MLX fails here in a C++ cast and raises RuntimeError
            raise RuntimeError(f"[{op}] Expected arrays to save, got {type(a).__name__}.")
    from ._eval import eval as _eval

    _eval(*arrays)
    return [np.asarray(a._host()) for a in arrays]


def flat_bytes(h: np.ndarray) -> np.ndarray:
    """The bytes of ``h`` in C order as a 1-d uint8 array (a view when contiguous)."""
    return np.ascontiguousarray(h).reshape(-1).view(np.uint8)


def check_named_arrays(arrays, op: str) -> None:
    if not isinstance(arrays, dict):
        raise TypeError(f"[{op}] Expected a dict of names to arrays, got {type(arrays).__name__}.")
    for k in arrays:
        if not isinstance(k, str):
            raise RuntimeError(f"[{op}] Array names must be strings, got {type(k).__name__}.")


# -- .npy / .npz -----------------------------------------------------------------------
def save(file: FileLike, arr: array) -> None:
    """Save ``arr`` in NumPy's ``.npy`` format (``.npy`` is appended to a path without it)."""
    if not isinstance(arr, array):
        raise TypeError(f"[save] Expected an array, got {type(arr).__name__}.")
    if not (_is_path(file) or hasattr(file, "write")):
        raise ValueError("[save] Input must be a file-like object, or string")
    (h,) = evaluated([arr], "save")
    with _writer(file, "save", ".npy") as f:
        np.lib.format.write_array(f, h, allow_pickle=False)


def _savez(file, args: tuple, kwargs: dict, op: str, compression: int) -> None:
    named = {}
    for i, a in enumerate(args):
        key = f"arr_{i}"
        if key in kwargs:
            raise ValueError(f"[{op}] Cannot use un-named variables and keyword {key}")
        named[key] = a
    named.update(kwargs)
    if not (_is_path(file) or hasattr(file, "write")):
        raise ValueError(f"[{op}] Input must be a file-like object, or string")
    hosts = evaluated(list(named.values()), op)
    # A missing folder raises FileNotFoundError, as MLX's (Python) savez does.
    with _writer(file, op, ".npz", FileNotFoundError) as f:
        with zipfile.ZipFile(f, "w", compression=compression, allowZip64=True) as z:
            for key, h in zip(named, hosts):
                with z.open(key + ".npy", "w", force_zip64=True) as member:
                    np.lib.format.write_array(member, h, allow_pickle=False)


def savez(file: FileLike, *args: array, **kwargs: array) -> None:
    """Save arrays in an uncompressed ``.npz`` archive: positional ones as ``arr_0``,
    ``arr_1``, ..., keyword ones under their names."""
    _savez(file, args, kwargs, "savez", zipfile.ZIP_STORED)


def savez_compressed(file: FileLike, /, *args: array, **kwargs: array) -> None:
    """Save arrays in a compressed (deflate) ``.npz`` archive; names as in ``savez``."""
    _savez(file, args, kwargs, "savez_compressed", zipfile.ZIP_DEFLATED)


def _npy_dtype(d: np.dtype) -> dt.Dtype:
    if d.kind == "V" and d.itemsize == 2 and d.names is None and d.subdtype is None:
        return dt.bfloat16  # how MLX (and NumPy with ml_dtypes) write bfloat16
    if d.newbyteorder("=") == _COMPLEX128 or d.hasobject:
        raise ValueError(f"[load] Unsupported dtype {d.str} in a .npy file.")
    try:
        return dt.from_numpy(d)
    except TypeError:
        raise ValueError(f"[load] Unsupported dtype {d.str} in a .npy file.") from None


def _read_npy(f, name: str) -> array:
    fmt = np.lib.format
    try:
        version = fmt.read_magic(f)
        if version == (1, 0):
            shape, fortran, npd = fmt.read_array_header_1_0(f)
        elif version == (2, 0):
            shape, fortran, npd = fmt.read_array_header_2_0(f)
        else:
            raise ValueError(f"version {version}")
    except ValueError as e:
        raise RuntimeError(f"[load] Invalid header in file {name}: {e}") from None
    d = _npy_dtype(npd)
    count = 1
    for s in shape:
        count *= s
    raw = new_buffer(count * npd.itemsize)
    read_into(f, raw, "load")
    if npd.byteorder == ">":  # written on a big-endian host: MLX reads these too
        h = raw.view(npd).astype(d.np)
    else:
        h = raw.view(d.np)
    if fortran:
        h = h.reshape(shape[::-1]).T
        if not h.flags.c_contiguous:
            h = h.copy(order="C")
    else:
        h = h.reshape(shape)
    return constant(h, d)


def _read_npz(f, name: str) -> dict[str, array]:
    try:
        z = zipfile.ZipFile(f)
    except (zipfile.BadZipFile, OSError, ValueError):
        raise ValueError(
            "[load_npz] Input must be a zip file or a file-like object that can be opened "
            "with zipfile.ZipFile"
        ) from None
    out = {}
    with z:
        for member in z.namelist():
            key = member[:-4] if member.endswith(".npy") else member
            with z.open(member) as m:
                out[key] = _read_npy(m, f"{name}/{member}")
    return out


# -- .safetensors ------------------------------------------------------------------------
_ST_NAMES = {
    dt.bool_: "BOOL", dt.uint8: "U8", dt.uint16: "U16", dt.uint32: "U32", dt.uint64: "U64",
    dt.int8: "I8", dt.int16: "I16", dt.int32: "I32", dt.int64: "I64", dt.float16: "F16",
    dt.bfloat16: "BF16", dt.float32: "F32", dt.complex64: "C64",
}  # fmt: skip
_ST_DTYPES = {v: k for k, v in _ST_NAMES.items()}
# MLX reads 8-bit floats as their raw bytes (uint8); float64 it neither writes nor reads,
# umx reads it (it has float64) but writes only what MLX reads back.
_ST_DTYPES.update({"F8_E4M3": dt.uint8, "F8_E8M0": dt.uint8, "F64": dt.float64})


def save_safetensors(
    file: FileLike, arrays: dict[str, array], metadata: dict[str, str] | None = None
) -> None:
    """Save a dict of arrays in the ``.safetensors`` format, with an optional dict of
    string ``metadata`` (``.safetensors`` is appended to a path without it)."""
    op = "save_safetensors"
    check_named_arrays(arrays, op)
    if metadata is not None and not (
        isinstance(metadata, dict)
        and all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items())
    ):
        raise ValueError(f"[{op}] Metadata must be a dictionary with string keys and values")
    if not (_is_path(file) or hasattr(file, "write")):
        raise ValueError(f"[{op}] Input must be a file-like object, or string")
    hosts = evaluated(list(arrays.values()), op)
    header: dict[str, Any] = {}
    if metadata:
        header["__metadata__"] = dict(metadata)
    offset = 0
    for (key, a), h in zip(arrays.items(), hosts):
        if a.dtype not in _ST_NAMES:
            raise RuntimeError(
                f"[{op}] received invalid dtype: {a.dtype.name} cannot be saved as "
                "safetensors (MLX does not read it back)."
            )
        header[key] = {
            "dtype": _ST_NAMES[a.dtype],
            "shape": list(a.shape),
            "data_offsets": [offset, offset + h.nbytes],
        }
        offset += h.nbytes
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)  # the format's recommended alignment of the data
    with _writer(file, op, ".safetensors") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for h in hosts:
            f.write(flat_bytes(h))


def _read_safetensors(f, name: str) -> tuple[dict[str, array], dict[str, str]]:
    op = "load_safetensors"
    f = seekable(f)
    base = f.tell()
    size = file_size(f)  # from base
    if size < 8:
        raise RuntimeError(f"[{op}] Invalid json header length file {name}")
    (n,) = struct.unpack("<Q", f.read(8))
    if n > size - 8:
        raise RuntimeError(
            f"[{op}] The JSON header is {n} bytes long but the file is only {size} bytes. "
            "Perhaps an incomplete download or corrupt file?"
        )
    try:
        header = json.loads(read_exact(f, n, op))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise RuntimeError(f"[{op}] Invalid JSON header in file {name}: {e}") from None
    if not isinstance(header, dict):
        raise RuntimeError(f"[{op}] The JSON header of {name} is not an object.")
    meta = header.pop("__metadata__", None) or {}
    if not isinstance(meta, dict) or not all(isinstance(v, str) for v in meta.values()):
        raise RuntimeError(f"[{op}] __metadata__ must map strings to strings.")
    start = 8 + n  # the data, relative to base
    out = {}
    for key, info in header.items():
        try:
            code, shape, (begin, end) = info["dtype"], info["shape"], info["data_offsets"]
        except (KeyError, TypeError, ValueError) as e:
            raise RuntimeError(f"[{op}] Tensor '{key}' has an invalid entry: {e!r}") from None
        if code not in _ST_DTYPES:
            raise RuntimeError(f"[{op}] unsupported dtype {code}")
        d = _ST_DTYPES[code]
        shape = tuple(int(s) for s in shape)
        nbytes = int(np.prod(shape, dtype=np.int64)) * d.size
        if end - begin != nbytes or begin < 0:
            raise RuntimeError(
                f"[{op}] Tensor '{key}' invalid data offsets ({begin}, {end}). "
                f"Expecting {nbytes} bytes."
            )
        if start + end > size:
            raise RuntimeError(
                f"[{op}] Tensor '{key}' invalid data offsets ({begin}, {end}) exceeding the "
                "size of the file. Perhaps an incomplete download or corrupt file?"
            )
        raw = new_buffer(nbytes)
        f.seek(base + start + begin)
        read_into(f, raw, op)
        if d is dt.bool_:  # any nonzero byte is True; keep the buffer to 0 / 1
            np.not_equal(raw, 0, out=raw.view(np.bool_))
        out[key] = as_loaded(raw, d, shape)
    return out, meta


# -- load -----------------------------------------------------------------------------
_FORMATS = ("npy", "npz", "safetensors", "gguf")


def load(
    file: FileLike,
    /,
    format: str | None = None,
    return_metadata: bool = False,
    *,
    stream=None,
) -> array | dict[str, array] | tuple[dict[str, array], dict[str, Any]]:
    """Load arrays from a ``.npy`` (one array), ``.npz``, ``.safetensors`` or ``.gguf``
    (a dict of arrays) file. The format comes from the file name's extension unless
    ``format`` names it; ``return_metadata=True`` also returns the metadata of the
    formats that have it (safetensors, gguf)."""
    if format is not None and not isinstance(format, str):
        raise TypeError(f"[load] format must be a string or None, got {type(format).__name__}.")
    if not isinstance(return_metadata, bool):
        raise TypeError("[load] return_metadata must be a bool.")
    resolve_stream(stream)  # checked as every op checks it; the data is on the host
    if _is_path(file):
        name = os.fspath(file)
    elif hasattr(file, "read"):
        name = getattr(file, "name", None)
        name = name if isinstance(name, str) else None
    else:
        raise ValueError("[load] Input must be a file-like object opened in binary mode, or string")
    if format is None:
        if name is None:
            raise ValueError(
                "[load] Could not infer the file format: the file object has no name; pass format=."
            )
        dot = name.rfind(".")
        if dot < 0:
            raise ValueError("[load] Could not infer file format from extension")
        format = name[dot + 1 :]
    if format not in _FORMATS:
        raise ValueError(f"[load] Unknown file format {format}")
    if return_metadata and format in ("npy", "npz"):
        raise ValueError(f"[load] metadata not supported for format {format}")
    name = name if name is not None else "<file object>"
    if _is_path(file):
        try:
            f = open(file, "rb")
        except OSError as e:
            # MLX's exception types: ValueError for npz and gguf, RuntimeError otherwise
            err = ValueError if format in ("npz", "gguf") else RuntimeError
            op = {"npz": "load_npz", "gguf": "load_gguf"}.get(format, "load")
            raise err(f"[{op}] Failed to open file {name}") from e
    else:
        f = contextlib.nullcontext(file)
    with f as fh:
        if format == "npy":
            return _read_npy(fh, name)
        if format == "npz":
            return _read_npz(fh, name)
        if format == "safetensors":
            arrays, meta = _read_safetensors(fh, name)
        else:
            from ._io_gguf import read_gguf

            arrays, meta = read_gguf(fh, name)
    return (arrays, meta) if return_metadata else arrays


def save_gguf(
    file: FileLike,
    arrays: dict[str, array],
    metadata: dict[str, array | str | list[str]] | None = None,
) -> None:
    """Save a dict of arrays in the ``.gguf`` format (float32, float16, int32, int16 and
    int8 arrays, as MLX), with metadata values that are strings, lists of strings, or
    0-d / 1-d arrays (``.gguf`` is appended to a path without it)."""
    from ._io_gguf import write_gguf

    write_gguf(file, arrays, metadata)
