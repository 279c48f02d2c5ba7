"""mx.save / savez / savez_compressed / save_safetensors / save_gguf / load.

What MLX 0.32.4 does was checked with the oracle and is asserted here without it: the
bytes of small files MLX wrote, its extension rules and exception types, and what its
GGUF loader returns for quantized tensors.
"""

from __future__ import annotations

import io
import json
import pathlib
import struct
import zipfile

import ml_dtypes
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import umx as mx
from tests.helpers import ALL_DTYPES

ST_DTYPES = [d for d in ALL_DTYPES if d is not mx.float64]  # MLX refuses F64 safetensors
GGUF_DTYPES = [mx.float32, mx.float16, mx.int32, mx.int16, mx.int8]
shapes = st.lists(st.integers(0, 4), min_size=0, max_size=3).map(tuple)
tmp_ok = settings(suppress_health_check=[HealthCheck.function_scoped_fixture])


def _sample(d: mx.Dtype, shape: tuple, rng) -> mx.array:
    """Random values of ``d``; floats are random bit patterns (NaN payloads included),
    which a save and load must keep exactly."""
    n = int(np.prod(shape, dtype=np.int64))
    if d is mx.bool_:
        h = rng.integers(0, 2, n).astype(np.bool_)
    else:
        h = rng.integers(0, 256, n * d.size, dtype=np.uint8).view(d.np)
    return mx.array(h.reshape(shape), dtype=d)


def _bytes(a) -> bytes:
    return np.ascontiguousarray(np.array(a)).tobytes()


def _same(got: mx.array, want: mx.array) -> None:
    assert got.dtype == want.dtype and got.shape == want.shape
    assert _bytes(got) == _bytes(want)


# -- round trips ------------------------------------------------------------------------
@tmp_ok
@given(st.sampled_from(ALL_DTYPES), shapes, st.integers(0, 2**31), st.booleans())
def test_npy_round_trip(tmp_path, d, shape, seed, transpose):
    a = _sample(d, shape, np.random.default_rng(seed))
    if transpose:  # a strided view is written in its logical order
        a = a.T
    mx.save(tmp_path / "a", a)
    _same(mx.load(tmp_path / "a.npy"), a)
    buf = io.BytesIO()
    mx.save(buf, a)
    buf.seek(0)
    _same(mx.load(buf, format="npy"), a)
    # NumPy reads it too; bfloat16 is two raw bytes with the descr '<V2', as MLX writes
    buf.seek(0)
    h = np.load(buf)
    assert h.dtype == (np.dtype("V2") if d is mx.bfloat16 else d.np)
    assert h.shape == a.shape and np.ascontiguousarray(h).tobytes() == _bytes(a)


@tmp_ok
@given(st.lists(st.sampled_from(ALL_DTYPES), max_size=3), shapes, st.integers(0, 2**31))
def test_npz_round_trip(tmp_path, dtypes, shape, seed):
    rng = np.random.default_rng(seed)
    arrs = [_sample(d, shape, rng) for d in dtypes]
    mx.savez(tmp_path / "z", *arrs, w=mx.array(1.5))
    out = mx.load(str(tmp_path / "z.npz"))
    assert set(out) == {f"arr_{i}" for i in range(len(arrs))} | {"w"}
    for i, a in enumerate(arrs):
        _same(out[f"arr_{i}"], a)
    buf = io.BytesIO()
    mx.savez_compressed(buf, *arrs, w=mx.array(1.5))
    buf.seek(0)
    out = mx.load(buf, format="npz")
    for i, a in enumerate(arrs):
        _same(out[f"arr_{i}"], a)
    _same(out["w"], mx.array(1.5))


@tmp_ok
@given(st.lists(st.sampled_from(ST_DTYPES), min_size=1, max_size=4), shapes, st.integers(0, 2**31))
def test_safetensors_round_trip(tmp_path, dtypes, shape, seed):
    rng = np.random.default_rng(seed)
    arrs = {f"t{i}.weight": _sample(d, shape, rng) for i, d in enumerate(dtypes)}
    meta = {"format": "mlx", "note": "ünïcode"}
    mx.save_safetensors(tmp_path / "m", arrs, metadata=meta)
    raw = (tmp_path / "m.safetensors").read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    assert n % 8 == 0  # the header is padded so the data is 8-byte aligned
    header = json.loads(raw[8 : 8 + n])
    assert header.pop("__metadata__") == meta
    names = {mx.bool_: "BOOL", mx.bfloat16: "BF16", mx.complex64: "C64", mx.float16: "F16"}
    for k, a in arrs.items():
        want = names.get(a.dtype) or a.dtype.name[0].upper() + str(8 * a.dtype.size)
        assert header[k]["dtype"] == want and header[k]["shape"] == list(a.shape)
        b, e = header[k]["data_offsets"]
        assert raw[8 + n + b : 8 + n + e] == _bytes(a)
    got, got_meta = mx.load(tmp_path / "m.safetensors", return_metadata=True)
    assert got_meta == meta and set(got) == set(arrs)
    for k, a in arrs.items():
        _same(got[k], a)


@tmp_ok
@given(st.sampled_from(GGUF_DTYPES), shapes, st.integers(0, 2**31))
def test_gguf_round_trip(tmp_path, d, shape, seed):
    rng = np.random.default_rng(seed)
    arrs = {"blk.0.w": _sample(d, shape, rng), "b": _sample(d, (3,), rng)}
    meta = {
        "general.name": "umx",
        "tokens": ["a", "", "üx"],
        "none": [],
        "n": mx.array(7, dtype=mx.uint32),
        "v": mx.array([1.5, -2.0]),
        "flags": mx.array([True, False]),
        "big": mx.array([2**40], dtype=mx.int64),
    }
    mx.save_gguf(tmp_path / "g", arrs, meta)
    got, got_meta = mx.load(tmp_path / "g.gguf", return_metadata=True)
    for k, a in arrs.items():
        _same(got[k], a)
    assert got_meta.keys() == meta.keys()
    for k, v in meta.items():
        if isinstance(v, mx.array):
            _same(got_meta[k], v)
        else:
            assert got_meta[k] == v
    assert mx.load(tmp_path / "g.gguf").keys() == arrs.keys()


def test_bfloat16_values_survive():
    a = mx.array([1.5, -2.25, 3.0, float("inf")], dtype=mx.bfloat16)
    buf = io.BytesIO()
    mx.save(buf, a)
    buf.seek(0)
    b = mx.load(buf, format="npy")
    assert b.dtype == mx.bfloat16 and b.tolist() == [1.5, -2.25, 3.0, float("inf")]


def test_file_objects_and_paths(tmp_path):
    a = mx.arange(5)
    with open(tmp_path / "f.npy", "wb") as f:
        mx.save(f, a)
    with open(tmp_path / "f.npy", "rb") as f:  # the format comes from the file's name
        _same(mx.load(f), a)
    for fn in (str(tmp_path / "f.npy"), tmp_path / "f.npy"):
        _same(mx.load(fn), a)
    # loading reads from the file object's current position
    buf = io.BytesIO(b"junk")
    buf.seek(4)
    mx.save_safetensors(buf, {"a": a})
    buf.seek(4)
    _same(mx.load(buf, format="safetensors")["a"], a)
    buf = io.BytesIO(b"xx")
    buf.seek(2)
    mx.save_gguf(buf, {"a": a.astype(mx.int32)})  # MLX takes only paths here; umx both
    buf.seek(2)
    _same(mx.load(buf, format="gguf")["a"], a.astype(mx.int32))


# -- what MLX wrote ---------------------------------------------------------------------
MLX_BF16_NPY = (
    b"\x93NUMPY\x01\x00<\x00{'descr': '<V2', 'fortran_order': True, 'shape': (3, )}    \n"
    b"\xc0?\x10\xc0@@"
)
MLX_T_NPY = (  # mx.arange(6, dtype=int16).reshape(2, 3).T: column-major data
    b"\x93NUMPY\x01\x00B\x00{'descr': '<i2', 'fortran_order': True, 'shape': (3, 2, )}"
    b"       \n\x00\x00\x01\x00\x02\x00\x03\x00\x04\x00\x05\x00"
)
MLX_SCALAR_NPY = (
    b"\x93NUMPY\x01\x006\x00{'descr': '<f4', 'fortran_order': True, 'shape': ()} \n\x00\x00 @"
)
MLX_SAFETENSORS = (
    b'\x90\x00\x00\x00\x00\x00\x00\x00{"__metadata__":{"format":"mlx"},"b":{"data_offsets":'
    b'[0,2],"dtype":"BOOL","shape":[2]},"w":{"data_offsets":[2,10],"dtype":"BF16","shape":'
    b"[2,2]}}\x01\x00\x80?\x00@@@\x80@"
)
MLX_GGUF = (  # w: arange(6, f32).reshape(2, 3), i: [-1, 2] int8, and four metadata values
    b"GGUF\x03\x00\x00\x00\x02\x00\x00\x00\x00\x00\x00\x00\x04\x00\x00\x00\x00\x00\x00\x00"
    b"\x01\x00\x00\x00\x00\x00\x00\x00v\t\x00\x00\x00\x06\x00\x00\x00\x02\x00\x00\x00\x00"
    b"\x00\x00\x00\x00\x00\xc0?\x00\x00\x00\xc0\x01\x00\x00\x00\x00\x00\x00\x00n\x04\x00"
    b"\x00\x00\x07\x00\x00\x00\x06\x00\x00\x00\x00\x00\x00\x00tokens\t\x00\x00\x00\x08\x00"
    b"\x00\x00\x02\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00a\x02\x00\x00"
    b"\x00\x00\x00\x00\x00bc\x04\x00\x00\x00\x00\x00\x00\x00name\x08\x00\x00\x00\x03\x00\x00"
    b"\x00\x00\x00\x00\x00umx\x01\x00\x00\x00\x00\x00\x00\x00i\x01\x00\x00\x00\x02\x00\x00"
    b"\x00\x00\x00\x00\x00\x18\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00"
    b"\x00\x00\x00\x00w\x02\x00\x00\x00\x03\x00\x00\x00\x00\x00\x00\x00\x02\x00\x00\x00\x00"
    b"\x00\x00\x00\x00\x00\x00\x00 \x00\x00\x00\x00\x00\x00\x00\xff\x02" + b"\x00" * 30 + b"\x00"
    b"\x00\x00\x00\x00\x00\x80?\x00\x00\x00@\x00\x00@@\x00\x00\x80@\x00\x00\xa0@"
)
MLX_NPZ = (  # mx.savez(f, mx.array([1, 2], uint8), w=mx.array([0.5], bfloat16))
    b"PK\x03\x04-\x00\x00\x00\x00\x00\x00\x00!\x00\xbd\xf3\xf0\xb1\xff\xff\xff\xff\xff\xff"
    b"\xff\xff\t\x00\x14\x00arr_0.npy\x01\x00\x10\x00H\x00\x00\x00\x00\x00\x00\x00H\x00\x00"
    b"\x00\x00\x00\x00\x00\x93NUMPY\x01\x00<\x00{'descr': '|u1', 'fortran_order': True, "
    b"'shape': (2, )}    \n\x01\x02PK\x03\x04-\x00\x00\x00\x00\x00\x00\x00!\x00md/\x91\xff"
    b"\xff\xff\xff\xff\xff\xff\xff\x05\x00\x14\x00w.npy\x01\x00\x10\x00H\x00\x00\x00\x00\x00"
    b"\x00\x00H\x00\x00\x00\x00\x00\x00\x00\x93NUMPY\x01\x00<\x00{'descr': '<V2', "
    b"'fortran_order': True, 'shape': (1, )}    \n\x00?PK\x01\x02-\x03-\x00\x00\x00\x00\x00"
    b"\x00\x00!\x00\xbd\xf3\xf0\xb1H\x00\x00\x00H\x00\x00\x00\t\x00\x00\x00\x00\x00\x00\x00"
    b"\x00\x00\x00\x00\x80\x01\x00\x00\x00\x00arr_0.npyPK\x01\x02-\x03-\x00\x00\x00\x00\x00"
    b"\x00\x00!\x00md/\x91H\x00\x00\x00H\x00\x00\x00\x05\x00\x00\x00\x00\x00\x00\x00\x00\x00"
    b"\x00\x00\x80\x01\x83\x00\x00\x00w.npyPK\x05\x06\x00\x00\x00\x00\x02\x00\x02\x00j\x00"
    b"\x00\x00\x02\x01\x00\x00\x00\x00"
)


def _load_bytes(data: bytes, fmt: str, **kw):
    return mx.load(io.BytesIO(data), format=fmt, **kw)


def test_reads_files_mlx_wrote():
    a = _load_bytes(MLX_BF16_NPY, "npy")
    assert a.dtype == mx.bfloat16 and a.tolist() == [1.5, -2.25, 3.0]
    t = _load_bytes(MLX_T_NPY, "npy")
    assert t.dtype == mx.int16 and t.tolist() == [[0, 3], [1, 4], [2, 5]]
    s = _load_bytes(MLX_SCALAR_NPY, "npy")
    assert s.dtype == mx.float32 and s.shape == () and s.item() == 2.5
    arrs, meta = _load_bytes(MLX_SAFETENSORS, "safetensors", return_metadata=True)
    assert meta == {"format": "mlx"}
    assert arrs["b"].dtype == mx.bool_ and arrs["b"].tolist() == [True, False]
    assert arrs["w"].dtype == mx.bfloat16 and arrs["w"].tolist() == [[1, 2], [3, 4]]
    arrs, meta = _load_bytes(MLX_GGUF, "gguf", return_metadata=True)
    assert arrs["w"].dtype == mx.float32 and arrs["w"].tolist() == [[0, 1, 2], [3, 4, 5]]
    assert arrs["i"].dtype == mx.int8 and arrs["i"].tolist() == [-1, 2]
    assert meta["name"] == "umx" and meta["tokens"] == ["a", "bc"]
    assert meta["n"].dtype == mx.uint32 and meta["n"].shape == () and meta["n"].item() == 7
    assert meta["v"].dtype == mx.float32 and meta["v"].tolist() == [1.5, -2.0]
    z = _load_bytes(MLX_NPZ, "npz")
    assert z["arr_0"].dtype == mx.uint8 and z["arr_0"].tolist() == [1, 2]
    assert z["w"].dtype == mx.bfloat16 and z["w"].tolist() == [0.5]


def test_writes_what_mlx_writes():
    # the same header and data bytes as MLX's files (NumPy's .npy header differs in
    # spacing and fortran_order for 1-d arrays only, which both readers accept)
    buf = io.BytesIO()
    mx.save_safetensors(buf, {"b": mx.array([True, False]), "w": mx.array([[1, 2], [3, 4]], dtype=mx.bfloat16)}, {"format": "mlx"})  # fmt: skip
    raw = buf.getvalue()
    (n,) = struct.unpack("<Q", raw[:8])
    (m,) = struct.unpack("<Q", MLX_SAFETENSORS[:8])
    assert json.loads(raw[8 : 8 + n]) == json.loads(MLX_SAFETENSORS[8 : 8 + m])
    assert raw[8 + n :] == MLX_SAFETENSORS[8 + m :]
    buf = io.BytesIO()
    w = mx.arange(6, dtype=mx.float32).reshape(2, 3)
    i = mx.array([-1, 2], dtype=mx.int8)
    meta = {"v": mx.array([1.5, -2.0]), "n": mx.array(7, dtype=mx.uint32)}
    meta |= {"tokens": ["a", "bc"], "name": "umx"}
    mx.save_gguf(buf, {"i": i, "w": w}, meta)  # MLX's order: its file is byte-identical
    assert buf.getvalue() == MLX_GGUF
    buf = io.BytesIO()
    mx.save(buf, mx.array([1.5, -2.25, 3.0], dtype=mx.bfloat16))
    assert buf.getvalue().endswith(MLX_BF16_NPY[-6:]) and b"'<V2'" in buf.getvalue()


def test_reads_files_numpy_wrote(tmp_path):
    f = np.asfortranarray(np.arange(6, dtype=np.int64).reshape(2, 3))
    be = np.arange(4, dtype=">i4")
    np.savez(tmp_path / "n.npz", f=f, be=be, d=np.arange(3.0), bf=np.ones(2, ml_dtypes.bfloat16))
    out = mx.load(tmp_path / "n.npz")
    assert out["f"].dtype == mx.int64 and out["f"].tolist() == f.tolist()
    assert out["be"].dtype == mx.int32 and out["be"].tolist() == [0, 1, 2, 3]
    assert out["d"].dtype == mx.float64  # float64 stays float64 (unlike mx.array(ndarray))
    assert out["bf"].dtype == mx.bfloat16 and out["bf"].tolist() == [1.0, 1.0]
    np.save(tmp_path / "s.npy", np.float16(3))
    s = mx.load(tmp_path / "s.npy")
    assert s.shape == () and s.dtype == mx.float16 and s.item() == 3
    with zipfile.ZipFile(tmp_path / "o.npz", "w") as z:  # member names keep a missing .npy
        z.writestr("plain", (tmp_path / "s.npy").read_bytes())
    assert list(mx.load(tmp_path / "o.npz")) == ["plain"]


# -- names, extensions, formats ---------------------------------------------------------
def test_extension_rules(tmp_path):
    a = mx.array([1, 2])
    mx.save(tmp_path / "a", a)
    mx.save(str(tmp_path / "b.txt"), a)
    mx.save(tmp_path / "c.npy", a)
    mx.savez(tmp_path / "d", a)
    mx.savez_compressed(tmp_path / "e.npz", a)
    mx.save_safetensors(tmp_path / "f.bin", {"a": a})
    mx.save_gguf(tmp_path / "g", {"a": a})
    names = sorted(p.name for p in tmp_path.iterdir())
    want = ["a.npy", "b.txt.npy", "c.npy", "d.npz", "e.npz", "f.bin.safetensors", "g.gguf"]
    assert names == want
    assert zipfile.ZipFile(tmp_path / "d.npz").infolist()[0].compress_type == zipfile.ZIP_STORED
    e = zipfile.ZipFile(tmp_path / "e.npz").infolist()[0]
    assert e.compress_type == zipfile.ZIP_DEFLATED and e.filename == "arr_0.npy"
    # the format comes from the text after the last dot, case-sensitive
    (tmp_path / "noext").write_bytes((tmp_path / "a.npy").read_bytes())
    with pytest.raises(ValueError, match="Could not infer file format"):
        mx.load(tmp_path / "noext")
    _same(mx.load(tmp_path / "noext", format="npy"), a)
    for fn, fmt in [("x.xyz", "xyz"), ("x.NPY", "NPY"), ("d.npy/x", "npy/x")]:
        with pytest.raises(ValueError, match=f"Unknown file format {fmt}"):
            mx.load(tmp_path / fn)
    for fmt in [".npy", "NPY", "pt"]:
        with pytest.raises(ValueError, match="Unknown file format"):
            mx.load(tmp_path / "a.npy", format=fmt)
    with pytest.raises(ValueError, match="metadata not supported for format npy"):
        mx.load(tmp_path / "a.npy", return_metadata=True)
    with pytest.raises(ValueError, match="metadata not supported for format npz"):
        mx.load(tmp_path / "d.npz", return_metadata=True)
    with pytest.raises(ValueError, match="pass format="):
        mx.load(io.BytesIO((tmp_path / "a.npy").read_bytes()))
    _, meta = mx.load(tmp_path / "f.bin.safetensors", return_metadata=True)
    assert meta == {}


def test_savez_names():
    buf = io.BytesIO()
    mx.savez(buf, mx.array(1), mx.array(2), arr_5=mx.array(4))
    buf.seek(0)
    out = mx.load(buf, format="npz")
    assert {k: v.item() for k, v in out.items()} == {"arr_0": 1, "arr_1": 2, "arr_5": 4}
    # As MLX, ``file`` may be given by keyword, so it cannot also name an array.
    buf = io.BytesIO()
    mx.savez(file=buf, x=mx.array(3))
    buf.seek(0)
    assert mx.load(buf, format="npz")["x"].item() == 3
    with pytest.raises(TypeError):
        mx.savez(io.BytesIO(), mx.array(1), file=mx.array(3))
    with pytest.raises(ValueError, match="Cannot use un-named variables and keyword arr_0"):
        mx.savez(io.BytesIO(), mx.array(1), arr_0=mx.array(2))
    buf = io.BytesIO()
    mx.savez(buf)  # an empty archive
    buf.seek(0)
    assert mx.load(buf, format="npz") == {}


# -- errors -----------------------------------------------------------------------------
def test_errors_on_bad_arguments(tmp_path):
    a = mx.array([1.0])
    # MLX's types: TypeError from its argument check, RuntimeError from a failed C++ cast
    for bad in (np.arange(2), [1, 2], 3.0, "abc"):
        with pytest.raises(TypeError, match=r"\[save\]"):
            mx.save(tmp_path / "x", bad)
        with pytest.raises(RuntimeError, match=r"\[savez\]"):
            mx.savez(tmp_path / "x", x=bad)
        with pytest.raises(RuntimeError, match=r"\[save_safetensors\]"):
            mx.save_safetensors(tmp_path / "x", {"a": bad})
    with pytest.raises(ValueError, match="file-like object, or string"):
        mx.save(3, a)
    with pytest.raises(ValueError, match="file-like object"):
        mx.load(3)
    with pytest.raises(TypeError):
        mx.save_safetensors(tmp_path / "x", [a])
    with pytest.raises(RuntimeError):
        mx.save_safetensors(tmp_path / "x", {1: a})
    with pytest.raises(ValueError, match="string keys and values"):
        mx.save_safetensors(tmp_path / "x", {"a": a}, metadata={"k": 1})
    with pytest.raises(RuntimeError, match="invalid dtype"):
        mx.save_safetensors(tmp_path / "x", {"a": a.astype(mx.float64)})
    with pytest.raises(TypeError):
        mx.load(tmp_path / "x.npy", format=3)
    # save_gguf: tensor dtypes and metadata values as MLX accepts them
    for d in set(ALL_DTYPES) - set(GGUF_DTYPES):
        with pytest.raises(RuntimeError, match=f"dtype {d.name} is not supported"):
            mx.save_gguf(tmp_path / "g", {"a": a.astype(d)})
    for d in (mx.float16, mx.bfloat16, mx.float64, mx.complex64):
        with pytest.raises(ValueError, match=f"array type {d.name} not support for metadata"):
            mx.save_gguf(tmp_path / "g", {}, {"m": a.astype(d)})
    for bad, msg in [
        (mx.zeros((2, 2)), "more than one dimension"),
        (mx.zeros((0,)), "empty arrays"),
        (None, "unexpected type"),
        (3, "unexpected type"),
        (["a", 1], "only strings"),
    ]:
        with pytest.raises(RuntimeError, match=msg):
            mx.save_gguf(tmp_path / "g", {}, {"m": bad})
    assert list(tmp_path.iterdir()) == []  # nothing is written when the input is refused


def test_errors_on_bad_files(tmp_path):
    # a missing file: MLX raises RuntimeError for npy / safetensors, ValueError for npz / gguf
    for ext, err in [("npy", RuntimeError), ("safetensors", RuntimeError), ("npz", ValueError), ("gguf", ValueError)]:  # fmt: skip
        with pytest.raises(err):
            mx.load(tmp_path / f"missing.{ext}")
    with pytest.raises(RuntimeError, match="Failed to open file"):
        mx.save(tmp_path / "no" / "x.npy", mx.array(1))
    with pytest.raises(FileNotFoundError):  # MLX's savez opens with Python's open
        mx.savez(tmp_path / "no" / "x.npz", mx.array(1))
    junk = tmp_path / "junk.npy"
    junk.write_bytes(b"hello world")
    for fmt, err in [("npy", RuntimeError), ("npz", ValueError), ("safetensors", RuntimeError), ("gguf", RuntimeError)]:  # fmt: skip
        with pytest.raises(err):
            mx.load(junk, format=fmt)
    np.save(tmp_path / "c.npy", np.zeros(2, np.complex128))  # MLX has no complex128
    with pytest.raises(ValueError, match="Unsupported dtype"):
        mx.load(tmp_path / "c.npy")

    def st(header: dict, data: bytes) -> bytes:
        h = json.dumps(header).encode()
        return struct.pack("<Q", len(h)) + h + data

    entry = {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}
    for header, data, msg in [
        ({"a": {**entry, "data_offsets": [0, 4]}}, b"\0" * 8, "Expecting 8 bytes"),
        ({"a": entry}, b"\0" * 4, "exceeding the size of the file"),
        ({"a": {**entry, "dtype": "F8_E5M2"}}, b"\0" * 8, "unsupported dtype F8_E5M2"),
        ({"a": {"dtype": "F32", "shape": [2]}}, b"\0" * 8, "invalid entry"),
        ({"__metadata__": {"k": 1}}, b"", "strings"),
    ]:
        with pytest.raises(RuntimeError, match=msg):
            _load_bytes(st(header, data), "safetensors")
    with pytest.raises(RuntimeError, match="JSON header is 500 bytes"):
        _load_bytes(struct.pack("<Q", 500) + b"{}", "safetensors")
    with pytest.raises(RuntimeError, match="Invalid JSON"):
        _load_bytes(struct.pack("<Q", 5) + b"{{{{{", "safetensors")


def test_safetensors_odd_dtypes():
    def st(code: str, data: bytes) -> bytes:
        h = json.dumps({"a": {"dtype": code, "shape": [2], "data_offsets": [0, len(data)]}})
        return struct.pack("<Q", len(h)) + h.encode() + data

    # MLX reads 8-bit floats as their bytes; a nonzero BOOL byte is True
    a = _load_bytes(st("F8_E4M3", b"\x38\x40"), "safetensors")["a"]
    assert a.dtype == mx.uint8 and a.tolist() == [0x38, 0x40]
    b = _load_bytes(st("BOOL", b"\x02\x00"), "safetensors")["a"]
    assert b.tolist() == [True, False] and np.array(b).view(np.uint8).tolist() == [1, 0]
    c = _load_bytes(st("F64", np.array([1.5, 2.0]).tobytes()), "safetensors")["a"]
    assert c.dtype == mx.float64 and c.tolist() == [1.5, 2.0]  # umx reads F64; MLX refuses


# -- GGUF files from elsewhere: metadata types and quantized tensors ---------------------
def _gs(s: str) -> bytes:
    b = s.encode()
    return struct.pack("<Q", len(b)) + b


def _gguf(tensors, kvs=(), align=32) -> bytes:
    """A GGUF v3 file: tensors are (name, shape, ggml type, raw bytes)."""
    out = b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(kvs)) + b"".join(kvs)
    data = b""
    for name, shape, ty, raw in tensors:
        dims = shape[::-1]
        out += _gs(name) + struct.pack(f"<I{len(dims)}QIQ", len(dims), *dims, ty, len(data))
        data += raw + b"\0" * (-len(raw) % align)
    return out + b"\0" * (-len(out) % align) + data


def test_gguf_metadata_types():
    kvs = [
        _gs("f64") + struct.pack("<Id", 12, 2.5),
        _gs("b") + struct.pack("<I?", 7, True),
        _gs("u8") + struct.pack("<IB", 0, 200),
        _gs("i64s") + struct.pack("<IIQqq", 9, 11, 2, -1, 2**40),
        _gs("f64s") + struct.pack("<IIQdd", 9, 12, 2, 1.5, -3.0),
        _gs("general.alignment") + struct.pack("<II", 4, 64),
    ]
    data = np.arange(4, dtype=np.float32).tobytes()
    arrs, meta = _load_bytes(_gguf([("t", (2, 2), 0, data)], kvs, 64), "gguf", return_metadata=True)
    assert arrs["t"].tolist() == [[0, 1], [2, 3]]  # found at the file's own alignment
    assert meta["f64"].dtype == mx.float32 and meta["f64"].item() == 2.5  # as MLX
    assert meta["b"].dtype == mx.bool_ and meta["b"].item() is True
    assert meta["u8"].dtype == mx.uint8 and meta["u8"].item() == 200
    assert meta["i64s"].dtype == mx.int64 and meta["i64s"].tolist() == [-1, 2**40]
    assert meta["f64s"].dtype == mx.float32 and meta["f64s"].tolist() == [1.5, -3.0]
    nested = _gs("n") + struct.pack("<IIQIQi", 9, 9, 1, 5, 1, 1)
    with pytest.raises(ValueError, match="nested arrays"):
        _load_bytes(_gguf([], [nested]), "gguf")


def test_gguf_plain_types():
    f64 = np.array([1.5, -2.0])
    i64 = np.array([-(2**40), 3])
    bf = np.array([1.0, -2.5, np.inf, np.nan, -np.nan, 1e30], np.float32)
    bf_raw = (bf.view(np.uint32) >> 16).astype(np.uint16).tobytes()
    t = [("f", (2,), 28, f64.tobytes()), ("i", (2,), 27, i64.tobytes()), ("bf", (6,), 30, bf_raw)]
    out = _load_bytes(_gguf(t), "gguf")
    assert out["f"].dtype == mx.float64 and out["f"].tolist() == f64.tolist()  # MLX refuses
    assert out["i"].dtype == mx.int64 and out["i"].tolist() == i64.tolist()  # MLX refuses
    # bfloat16 becomes float16, as in MLX: rounded to nearest, canonical NaNs of each sign
    h = np.array(out["bf"])
    assert out["bf"].dtype == mx.float16
    assert h.view(np.uint16).tolist() == [0x3C00, 0xC100, 0x7C00, 0x7E00, 0xFE00, 0x7C00]
    with pytest.raises(RuntimeError, match="Q5_0"):
        _load_bytes(_gguf([("q", (32,), 6, b"\0" * 22)]), "gguf")
    with pytest.raises(RuntimeError, match="past the end"):
        _load_bytes(_gguf([("q", (8,), 0, b"\0" * 16)])[:-8], "gguf")


# one row of 32: these bytes, loaded by MLX, gave the packed words below
_QS4 = bytes.fromhex("a8e5b8abeeab14cef599cc052535d5ce")
_QS8 = bytes.fromhex("402d86f8bfe06c03f684d721fcc7aac96d90427a8ae74e8d0f82a6c705f6a4e2")
_HALF, _MINUS1 = np.float16(0.5).tobytes(), np.float16(-1).tobytes()


def test_gguf_q4_q8_as_mlx_quantized():
    t = [
        ("a.weight", (1, 32), 2, _HALF + _QS4),  # Q4_0
        ("b", (1, 32), 8, _HALF + _QS8),  # Q8_0
        ("c", (1, 32), 3, _HALF + _MINUS1 + _QS4),  # Q4_1
    ]
    out = _load_bytes(_gguf(t), "gguf")
    assert sorted(out) == sorted(["a.weight", "a.scales", "a.biases", "b", "b.scales", "b.biases", "c", "c.scales", "c.biases"])  # fmt: skip
    w4 = [3837704280, 3847576725, 3249449962, 3442609311]
    assert out["a.weight"].dtype == mx.uint32 and out["a.weight"].tolist() == [w4]
    assert out["c"].tolist() == [w4]
    assert out["b"].tolist() == [[2013703616, 2213306431, 2706834550, 1227507580, 4207022317, 231630602, 1193673359, 1646556805]]  # fmt: skip
    for k, bias in [("a", -4.0), ("b", -64.0), ("c", -1.0)]:
        assert out[f"{k}.scales"].dtype == mx.float16 and out[f"{k}.scales"].tolist() == [[0.5]]
        assert out[f"{k}.biases"].dtype == mx.float16 and out[f"{k}.biases"].tolist() == [[bias]]
    # and they dequantize (MLX's layout: low bits first) to the GGML values
    q = np.frombuffer(_QS4, np.uint8)
    ggml = np.concatenate([q & 15, q >> 4]).astype(np.float32)
    words = np.array(out["a.weight"], dtype=np.uint32).reshape(-1)
    nibbles = (words[:, None] >> (4 * np.arange(8))) & 15
    np.testing.assert_array_equal(nibbles.reshape(-1), ggml)
    q8 = np.frombuffer(_QS8, np.int8).astype(np.float32)
    bytes8 = np.array(out["b"], dtype=np.uint32).reshape(-1).view(np.uint8).astype(np.float32)
    np.testing.assert_array_equal(0.5 * bytes8 - 64.0, 0.5 * q8)


def _ref_q2k(b: bytes) -> list:
    """GGML's dequantize_row_q2_K, one block, written from the C reference."""
    f = np.float32
    sc, qs = b[:16], b[16:80]
    d, dmin = (f(np.frombuffer(b[i : i + 2], np.float16)[0]) for i in (80, 82))
    y, i = [], 0
    for n in range(2):
        q = qs[32 * n : 32 * n + 32]
        for shift in (0, 2, 4, 6):
            for half in (q[:16], q[16:]):
                dl, ml = d * f(sc[i] & 15), dmin * f(sc[i] >> 4)
                y += [dl * f((v >> shift) & 3) - ml for v in half]
                i += 1
    return y


def _ref_q4k(b: bytes) -> list:
    f = np.float32
    d, dmin = (f(np.frombuffer(b[i : i + 2], np.float16)[0]) for i in (0, 2))
    s, qs = b[4:16], b[16:144]

    def scale_min(j):
        if j < 4:
            return s[j] & 63, s[j + 4] & 63
        return (s[j + 4] & 15) | ((s[j - 4] >> 6) << 4), (s[j + 4] >> 4) | ((s[j] >> 6) << 4)

    y = []
    for c in range(4):
        q = qs[32 * c : 32 * c + 32]
        (s1, m1), (s2, m2) = scale_min(2 * c), scale_min(2 * c + 1)
        y += [(d * f(s1)) * f(v & 15) - dmin * f(m1) for v in q]
        y += [(d * f(s2)) * f(v >> 4) - dmin * f(m2) for v in q]
    return y


def _ref_q6k(b: bytes) -> list:
    f = np.float32
    ql, qh = b[:128], b[128:192]
    sc = np.frombuffer(b[192:208], np.int8)
    d = f(np.frombuffer(b[208:210], np.float16)[0])
    y = [f(0)] * 256
    for n in range(2):
        for j in range(32):
            lo, hi, h, s = ql[64 * n + j], ql[64 * n + j + 32], qh[32 * n + j], sc[8 * n :]
            k = 128 * n + j
            y[k] = d * f(s[j // 16]) * f(((lo & 15) | ((h & 3) << 4)) - 32)
            y[k + 32] = d * f(s[j // 16 + 2]) * f(((hi & 15) | (((h >> 2) & 3) << 4)) - 32)
            y[k + 64] = d * f(s[j // 16 + 4]) * f(((lo >> 4) | (((h >> 4) & 3) << 4)) - 32)
            y[k + 96] = d * f(s[j // 16 + 6]) * f(((hi >> 4) | (((h >> 6) & 3) << 4)) - 32)
    return y


@pytest.mark.parametrize(
    "ty,size,scales,ref",
    [(10, 84, (80, 82), _ref_q2k), (12, 144, (0, 2), _ref_q4k), (14, 210, (208,), _ref_q6k)],
)
def test_gguf_k_quants_dequantize(ty, size, scales, ref):
    rng = np.random.default_rng(ty)
    blocks = rng.integers(0, 256, (3, size), dtype=np.uint8)
    for p in scales:  # sane half-precision super-block scales
        blocks[:, p : p + 2] = rng.uniform(-2, 2, (3, 1)).astype(np.float16).view(np.uint8)
    out = _load_bytes(_gguf([("w", (3, 256), ty, blocks.tobytes())]), "gguf")["w"]
    want = np.array([ref(bytes(b)) for b in blocks], np.float32).astype(np.float16)
    assert out.dtype == mx.float16 and out.shape == (3, 256)
    np.testing.assert_array_equal(np.array(out).view(np.uint16), want.view(np.uint16))


# -- laziness and devices ---------------------------------------------------------------
def test_save_evaluates_and_load_feeds_ops(tmp_path):
    x = mx.arange(6, dtype=mx.float32).reshape(2, 3)
    y = mx.exp(x) * 2  # unevaluated
    mx.save_safetensors(tmp_path / "y", {"y": y, "x": x})
    got = mx.load(tmp_path / "y.safetensors", stream=mx.cpu)
    np.testing.assert_allclose(
        np.array(got["y"]), np.exp(np.arange(6.0).reshape(2, 3)) * 2, rtol=1e-6
    )
    z = mx.add(got["x"], 1, stream=mx.cpu)  # loaded arrays are ordinary inputs
    assert z.tolist() == [[1, 2, 3], [4, 5, 6]]


@pytest.mark.gpu
def test_gpu_arrays_save_and_load(tmp_path):
    rng = np.random.default_rng(0)
    h = rng.standard_normal((64, 33)).astype(np.float32)
    for d in (mx.float32, mx.float16, mx.bfloat16, mx.int32):
        a = mx.array(h).astype(d)
        g = mx.multiply(mx.abs(a, stream=mx.gpu), 3, stream=mx.gpu)  # computed on the GPU
        c = mx.multiply(mx.abs(a, stream=mx.cpu), 3, stream=mx.cpu)
        mx.save(tmp_path / "g.npy", g)
        mx.savez(tmp_path / "g.npz", g=g, t=mx.transpose(g, stream=mx.gpu))
        mx.save_safetensors(tmp_path / "g", {"g": g})
        _same(mx.load(tmp_path / "g.npy"), c)
        _same(mx.load(tmp_path / "g.npz")["t"], c.T)
        loaded = mx.load(tmp_path / "g.safetensors", stream=mx.gpu)["g"]
        _same(loaded, c)
        if d in GGUF_DTYPES:
            mx.save_gguf(tmp_path / "g", {"g": g})
            _same(mx.load(tmp_path / "g.gguf")["g"], c)
        # a loaded array feeds GPU ops like any other
        _same(mx.add(loaded, loaded, stream=mx.gpu), mx.add(c, c, stream=mx.cpu))


def test_path_like_objects(tmp_path):
    class P:
        def __init__(self, p):
            self.p = p

        def __fspath__(self):
            return str(self.p)

    mx.save(P(tmp_path / "p"), mx.array([7]))
    assert mx.load(P(tmp_path / "p.npy")).tolist() == [7]
    assert isinstance(tmp_path, pathlib.Path)
