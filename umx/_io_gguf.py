"""The ``.gguf`` format (llama.cpp's): ``mx.save_gguf`` and ``mx.load(..., format="gguf")``.

Layout (version 3, little-endian): ``b"GGUF"``, version u32, tensor count u64, metadata
count u64; metadata entries (key string, value type u32, value); tensor infos (name,
ndim u32, dims u64 with the fastest-varying first, ggml type u32, data offset u64); zero
padding to the alignment (32, or the ``general.alignment`` entry); the tensor data, each
tensor at an aligned offset. Strings are a u64 length and UTF-8 bytes.

What MLX (0.32.4) does, and umx with it:

- it writes float32, float16, int32, int16 and int8 tensors; metadata values are
  strings, lists of strings, and 0-d / 1-d arrays of bool and 8- to 64-bit integers and
  float32;
- it reads those back; a float64 metadata value becomes float32; bfloat16 tensors load
  as float16; Q4_0, Q4_1 and Q8_0 tensors load as MLX's quantized triple (``name``
  packed into uint32, ``<base>.scales`` and ``<base>.biases`` in float16, group size 32,
  4 or 8 bits; ``<base>`` is ``name`` less a ``.weight`` suffix); Q2_K, Q4_K and Q6_K
  tensors are dequantized to float16.
- umx also reads int64 and float64 tensors (MLX refuses them); other quantized types
  (Q5_0, Q3_K, the IQ types, ...) raise, as they do in MLX.

One known difference: MLX 0.32.4 dequantizes the second half of each Q4_K sub-block
pair (the high nibbles) with the first half's scale and min. umx follows GGML's
reference (llama.cpp's dequantize_row_q4_K, which gguf-py agrees with), so Q4_K values
differ from MLX's there; Q2_K and Q6_K match MLX bit for bit.
"""

from __future__ import annotations

import struct

import numpy as np

from . import _dtypes as dt
from ._array import array, constant
from ._io import (
    _is_path,
    _writer,
    as_loaded,
    check_named_arrays,
    evaluated,
    file_size,
    flat_bytes,
    new_buffer,
    read_exact,
    read_into,
    seekable,
)

_ALIGN = 32
_F16 = np.dtype("<f2")

# ggml tensor types: name, elements per block, bytes per block
_GGML = {
    0: ("F32", 1, 4), 1: ("F16", 1, 2), 2: ("Q4_0", 32, 18), 3: ("Q4_1", 32, 20),
    6: ("Q5_0", 32, 22), 7: ("Q5_1", 32, 24), 8: ("Q8_0", 32, 34), 9: ("Q8_1", 32, 36),
    10: ("Q2_K", 256, 84), 11: ("Q3_K", 256, 110), 12: ("Q4_K", 256, 144),
    13: ("Q5_K", 256, 176), 14: ("Q6_K", 256, 210), 15: ("Q8_K", 256, 292),
    24: ("I8", 1, 1), 25: ("I16", 1, 2), 26: ("I32", 1, 4), 27: ("I64", 1, 8),
    28: ("F64", 1, 8), 30: ("BF16", 1, 2),
}  # fmt: skip
_PLAIN = {0: dt.float32, 1: dt.float16, 24: dt.int8, 25: dt.int16, 26: dt.int32,
          27: dt.int64, 28: dt.float64}  # fmt: skip
_SAVABLE = {dt.float32: 0, dt.float16: 1, dt.int8: 24, dt.int16: 25, dt.int32: 26}

# metadata value types: code -> (umx dtype, struct format); 8 is a string, 9 an array
_META = {
    0: (dt.uint8, "B"), 1: (dt.int8, "b"), 2: (dt.uint16, "H"), 3: (dt.int16, "h"),
    4: (dt.uint32, "I"), 5: (dt.int32, "i"), 6: (dt.float32, "f"), 7: (dt.bool_, "?"),
    10: (dt.uint64, "Q"), 11: (dt.int64, "q"), 12: (dt.float64, "d"),
}  # fmt: skip
_META_CODE = {d: c for c, (d, _) in _META.items() if d is not dt.float64}
_STRING, _ARRAY = 8, 9


# -- writing --------------------------------------------------------------------------
def _string(s: str) -> bytes:
    b = s.encode()
    return struct.pack("<Q", len(b)) + b


def _meta_value(key: str, v) -> tuple[int, bytes] | tuple[str, array]:
    """The (type code, payload) of a metadata value; arrays are returned as ("array", v)
    to be evaluated with the others."""
    op = "save_gguf"
    if isinstance(v, str):
        return _STRING, _string(v)
    if isinstance(v, (list, tuple)):
        if not all(isinstance(s, str) for s in v):
            raise RuntimeError(f"[{op}] Metadata '{key}': a list must hold only strings.")
        return _ARRAY, struct.pack("<IQ", _STRING, len(v)) + b"".join(_string(s) for s in v)
    if isinstance(v, array):
        if v.dtype not in _META_CODE:
            raise ValueError(f"[{op}] array type {v.dtype.name} not support for metadata.")
        if v.ndim > 1:
            raise RuntimeError(f"[{op}] Cannot save arrays with more than one dimension.")
        if v.size == 0:
            raise RuntimeError(f"[{op}] Cannot save empty arrays.")
        return "array", v
    raise RuntimeError(
        f"[{op}] Received unexpected type in metadata: '{key}' is a {type(v).__name__} "
        "(expected a string, a list of strings or an array)."
    )


def write_gguf(file, arrays: dict, metadata: dict | None) -> None:
    op = "save_gguf"
    check_named_arrays(arrays, op)
    metadata = {} if metadata is None else metadata
    if not isinstance(metadata, dict):
        raise TypeError(f"[{op}] metadata must be a dict, got {type(metadata).__name__}.")
    entries = []
    for k, v in metadata.items():
        if not isinstance(k, str):
            raise RuntimeError(f"[{op}] Metadata keys must be strings, got {type(k).__name__}.")
        entries.append((k, _meta_value(k, v)))
    for a in arrays.values():
        if isinstance(a, array) and a.dtype not in _SAVABLE:
            raise RuntimeError(f"[{op}] dtype {a.dtype.name} is not supported")
    if not (_is_path(file) or hasattr(file, "write")):
        raise ValueError(f"[{op}] Input must be a file-like object, or string")
    meta_arrays = [v for _, (c, v) in entries if c == "array"]
    hosts = evaluated(list(arrays.values()) + meta_arrays, op)
    meta_hosts = dict(zip(map(id, meta_arrays), hosts[len(arrays) :]))

    out = [b"GGUF", struct.pack("<IQQ", 3, len(arrays), len(entries))]
    for k, (code, v) in entries:
        out.append(_string(k))
        if code == "array":
            h = meta_hosts[id(v)]
            c = _META_CODE[v.dtype]
            if v.ndim == 0:
                out.append(struct.pack("<I", c) + flat_bytes(h).tobytes())
            else:
                out.append(struct.pack("<IIQ", _ARRAY, c, v.size) + flat_bytes(h).tobytes())
        else:
            out.append(struct.pack("<I", code) + v)
    offset = 0
    for (name, a), h in zip(arrays.items(), hosts):
        offset += -offset % _ALIGN
        dims = a.shape[::-1]
        out.append(_string(name) + struct.pack(f"<I{len(dims)}Q", len(dims), *dims))
        out.append(struct.pack("<IQ", _SAVABLE[a.dtype], offset))
        offset += h.nbytes
    head = b"".join(out)
    with _writer(file, op, ".gguf") as f:
        f.write(head + b"\0" * (-len(head) % _ALIGN))
        pos = 0
        for h in hosts[: len(arrays)]:
            if pos % _ALIGN:
                f.write(b"\0" * (-pos % _ALIGN))
                pos += -pos % _ALIGN
            f.write(flat_bytes(h))
            pos += h.nbytes


# -- reading --------------------------------------------------------------------------
class _Reader:
    """Little-endian scalars and strings from a file, for the header."""

    def __init__(self, f) -> None:
        self.f = f

    def take(self, n: int) -> bytes:
        return read_exact(self.f, n, "load_gguf")

    def unpack(self, fmt: str):
        return struct.unpack("<" + fmt, self.take(struct.calcsize("<" + fmt)))[0]

    def string(self) -> str:
        return self.take(self.unpack("Q")).decode("utf-8", errors="replace")


def _meta_read(r: _Reader, code: int, nested: bool = False):
    if code == _STRING:
        return r.string()
    if code == _ARRAY:
        if nested:
            raise ValueError("[load_gguf] Only supports loading 1-layer of nested arrays.")
        sub, n = r.unpack("I"), r.unpack("Q")
        if sub == _STRING:
            return [r.string() for _ in range(n)]
        if sub == _ARRAY:
            raise ValueError("[load_gguf] Only supports loading 1-layer of nested arrays.")
        d, fmt = _meta_type(sub)
        h = np.frombuffer(r.take(n * struct.calcsize(fmt)), d.np.newbyteorder("<")).copy()
        return _meta_array(h, d)
    d, fmt = _meta_type(code)
    h = np.frombuffer(r.take(struct.calcsize(fmt)), d.np.newbyteorder("<")).reshape(()).copy()
    return _meta_array(h, d)


def _meta_type(code: int):
    if code not in _META:
        raise RuntimeError(f"[load_gguf] Unknown metadata value type {code}.")
    return _META[code]


def _meta_array(h: np.ndarray, d: dt.Dtype) -> array:
    if d is dt.float64:  # as MLX
        return constant(h.astype(np.float32), dt.float32)
    if d is dt.bool_:
        h = h != 0
    return constant(h, d)


def read_gguf(f, name: str) -> tuple[dict[str, array], dict]:
    op = "load_gguf"
    f = seekable(f)
    start = f.tell()
    size = file_size(f)
    r = _Reader(f)
    try:
        magic = r.take(4)
    except RuntimeError:
        magic = b""
    if magic != b"GGUF":
        raise RuntimeError(f"[{op}] gguf_init failed: {name} is not a GGUF file.")
    version = r.unpack("I")
    if version not in (2, 3):
        raise RuntimeError(f"[{op}] gguf_init failed: unsupported GGUF version {version}.")
    n_tensors, n_meta = r.unpack("Q"), r.unpack("Q")
    meta = {}
    for _ in range(n_meta):
        key = r.string()
        meta[key] = _meta_read(r, r.unpack("I"))
    align = _ALIGN
    a = meta.get("general.alignment")
    if isinstance(a, array) and a.ndim == 0 and a.dtype.kind in "iu" and a.item() > 0:
        align = int(a.item())
    infos = []
    for _ in range(n_tensors):
        tname = r.string()
        ndim = r.unpack("I")
        dims = struct.unpack(f"<{ndim}Q", r.take(8 * ndim))
        infos.append((tname, tuple(dims[::-1]), r.unpack("I"), r.unpack("Q")))
    data_start = f.tell() - start
    data_start += -data_start % align
    out: dict[str, array] = {}
    for tname, shape, code, offset in infos:
        if code not in _GGML:
            raise RuntimeError(f"[{op}] Tensor '{tname}' has an unknown ggml type {code}.")
        tyname, block, block_bytes = _GGML[code]
        count = int(np.prod(shape, dtype=np.int64))
        if count % block:
            raise RuntimeError(
                f"[{op}] Tensor '{tname}' ({tyname}) has {count} elements, not a multiple "
                f"of its block size {block}."
            )
        nbytes = count // block * block_bytes
        if data_start + offset + nbytes > size:
            raise RuntimeError(
                f"[{op}] Tensor '{tname}' extends past the end of the file. Perhaps an "
                "incomplete download or corrupt file?"
            )
        if code not in _PLAIN and code != 30 and tyname not in _QUANT:
            raise RuntimeError(
                f"[{op}] Tensor '{tname}' has the ggml type {tyname}, which umx (like MLX) "
                "cannot load."
            )
        raw = new_buffer(nbytes)
        f.seek(start + data_start + offset)
        read_into(f, raw, op)
        if code in _PLAIN:
            out[tname] = as_loaded(raw, _PLAIN[code], shape)
        elif code == 30:  # bfloat16 becomes float16, as in MLX
            h = raw.view("<u2").astype(np.uint32) << 16
            out[tname] = constant(_to_f16(h.view(np.float32)).reshape(shape), dt.float16)
        else:
            blocks = raw.reshape(-1, block_bytes)
            if tyname in _DEQUANT:
                h = _to_f16(_DEQUANT[tyname](blocks)).reshape(shape)
                out[tname] = constant(h, dt.float16)
            else:
                out.update(_mlx_quantized(tname, tyname, blocks, shape))
    return out, meta


def _to_f16(x: np.ndarray) -> np.ndarray:
    """float32 -> float16 as MLX converts (round to nearest even; a NaN becomes the
    quiet NaN of its sign)."""
    with np.errstate(over="ignore", invalid="ignore"):
        h = x.astype(np.float16)
    nan = np.isnan(h)
    if nan.any():
        bits = h.view(np.uint16)
        bits[nan] = np.where(np.signbit(x[nan]), 0xFE00, 0x7E00)
    return h


# -- quantized tensors ------------------------------------------------------------------
def _f16_at(blocks: np.ndarray, i: int) -> np.ndarray:
    """The float16 at byte ``i`` of each block."""
    return np.ascontiguousarray(blocks[:, i : i + 2]).view(_F16)[:, 0]


def _mlx_quantized(name: str, tyname: str, blocks: np.ndarray, shape: tuple) -> dict:
    """Q4_0 / Q4_1 / Q8_0 blocks of 32 as MLX's quantized weights, scales and biases."""
    scale = _f16_at(blocks, 0)
    if tyname == "Q8_0":
        q = blocks[:, 2:34] ^ np.uint8(0x80)  # int8 q + 128 as an unsigned byte
        packed = q
        bias = scale * np.float16(-128)
    else:
        qs = blocks[:, 2:18] if tyname == "Q4_0" else blocks[:, 4:20]
        q = np.concatenate([qs & 0xF, qs >> 4], axis=1)  # elements 0-15, then 16-31
        packed = q[:, 0::2] | (q[:, 1::2] << 4)  # two elements a byte, low nibble first
        bias = scale * np.float16(-8) if tyname == "Q4_0" else _f16_at(blocks, 2)
    lead, k = shape[:-1], shape[-1] if shape else 1
    base = name[: -len(".weight")] if name.endswith(".weight") else name
    w = np.ascontiguousarray(packed).reshape(-1).view("<u4").reshape(*lead, -1)
    return {
        name: constant(w, dt.uint32),
        base + ".scales": constant(scale.reshape(*lead, k // 32), dt.float16),
        base + ".biases": constant(bias.reshape(*lead, k // 32), dt.float16),
    }


def _tables_q2k():
    e = np.arange(256)
    half, rem = e // 128, e % 128
    j, l16 = rem // 32, rem % 32  # shift index, then two runs of 16 with their own scale
    byte = 16 + 32 * half + l16  # qs starts at byte 16
    scale = 8 * half + 2 * j + (l16 >= 16)
    return byte, 2 * j, scale


def _dequant_q2k(b: np.ndarray) -> np.ndarray:
    byte, shift, si = _Q2K
    d, dmin = _f16_at(b, 80).astype(np.float32), _f16_at(b, 82).astype(np.float32)
    sc = b[:, :16]
    q = ((b[:, byte] >> shift) & 3).astype(np.float32)
    dl = d[:, None] * (sc & 0xF).astype(np.float32)
    ml = dmin[:, None] * (sc >> 4).astype(np.float32)
    return (dl[:, si] * q - ml[:, si]).reshape(-1)


def _tables_q4k():
    e = np.arange(256)
    chunk, r = e // 64, e % 64  # 4 chunks of 64: low nibbles of 32 bytes, then high ones
    byte = 16 + 32 * chunk + r % 32
    shift = 4 * (r // 32)
    sub = 2 * chunk + r // 32
    return byte, shift, sub


def _dequant_q4k(b: np.ndarray) -> np.ndarray:
    byte, shift, sub = _Q4K
    d, dmin = _f16_at(b, 0).astype(np.float32), _f16_at(b, 2).astype(np.float32)
    s = b[:, 4:16].astype(np.int32)
    # 8 sub-blocks of 32, each a 6-bit scale and a 6-bit min packed into 12 bytes
    sc = np.concatenate([s[:, 0:4] & 63, (s[:, 8:12] & 0xF) | ((s[:, 0:4] >> 6) << 4)], 1)
    mn = np.concatenate([s[:, 4:8] & 63, (s[:, 8:12] >> 4) | ((s[:, 4:8] >> 6) << 4)], 1)
    q = ((b[:, byte] >> shift) & 0xF).astype(np.float32)
    d1 = d[:, None] * sc.astype(np.float32)
    m1 = dmin[:, None] * mn.astype(np.float32)
    return (d1[:, sub] * q - m1[:, sub]).reshape(-1)


def _tables_q6k():
    e = np.arange(256)
    half, r = e // 128, e % 128
    quarter, lane = r // 32, r % 32
    ql = 64 * half + lane + 32 * (quarter % 2)  # ql: bytes 0-127
    ql_shift = 4 * (quarter // 2)
    qh = 128 + 32 * half + lane  # qh: bytes 128-191
    qh_shift = 2 * quarter
    scale = 8 * half + lane // 16 + 2 * quarter
    return ql, ql_shift, qh, qh_shift, scale


def _dequant_q6k(b: np.ndarray) -> np.ndarray:
    ql, ql_shift, qh, qh_shift, si = _Q6K
    d = _f16_at(b, 208).astype(np.float32)
    sc = b[:, 192:208].view(np.int8).astype(np.float32)
    lo = (b[:, ql] >> ql_shift) & 0xF
    hi = (b[:, qh] >> qh_shift) & 3
    q = (lo | (hi << 4)).astype(np.float32) - np.float32(32)
    return ((d[:, None] * sc)[:, si] * q).reshape(-1)


_Q2K, _Q4K, _Q6K = _tables_q2k(), _tables_q4k(), _tables_q6k()
_DEQUANT = {"Q2_K": _dequant_q2k, "Q4_K": _dequant_q4k, "Q6_K": _dequant_q6k}
_QUANT = {"Q4_0", "Q4_1", "Q8_0", *_DEQUANT}
