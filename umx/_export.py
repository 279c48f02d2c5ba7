"""``mx.export_function`` / ``mx.import_function``: a traced function saved to a file.

A function is traced as ``mx.compile`` traces it (umx._compile: stand-in inputs, a tape of
primitives, and every array that does not depend on an input folded into a constant, random
draws and closure arrays included). The tape is written to a file in umx's own format (not
MLX's binary ``.mlxfn`` format): a zip archive holding

- ``umx_function.json``: the format tag and version, the ``shapeless`` flag, the metadata;
- ``traces/<i>.json``: one traced signature each: its inputs (shape, dtype, how many are
  positional, the keyword names), the steps (primitive class by module and qualified name
  with its parameters, input slots, output shapes and dtypes, the device type it ran on),
  the constants' shapes and dtypes, and the output slots;
- ``traces/<i>/c<j>.bin``: the constants' bytes (C order, native byte order).

Loading rebuilds primitives only: a class named in the file must be a subclass of umx's
``Primitive`` defined in a ``umx`` module, and its parameters are plain JSON values, tuples,
slices, dtypes, NumPy scalars / arrays or other such primitives. Nothing else in the file
is executed or unpickled.

As in MLX, an imported function is called with the arrays of one of the traced signatures
(by ``*args`` / ``**kwargs``, or one tuple and / or dict) and returns a tuple of arrays; the
steps run on the current stream where their device type is the current one, else on that
device's default stream (a GPU step runs on the CPU where no GPU is available). Its outputs
are ordinary lazy arrays: ``grad``, ``vmap``, ``jvp`` and ``compile`` go through them.

``shapeless=True``: MLX's imported function accepts any shapes of the traced ranks and
dtypes, reshaping its graph. umx's tape has fixed shapes (its primitives carry no shape
rules to run again), so an import replays only the shapes it was traced with and raises a
``ValueError`` that says so for other shapes of a traced rank; to cover several shapes,
``exporter(..., shapeless=True)`` accepts one trace per shape (MLX allows one per rank).
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import zipfile
from collections.abc import Callable

import numpy as np

from . import _device
from . import _dtypes as dt
from ._array import array, constant
from ._compile import Compiled, _Slot, _Tape
from ._primitive import Primitive
from .ops._util import fmt_shape

__all__ = ["FunctionExporter", "export_function", "exporter", "import_function"]

_FORMAT = "umx.function"
_VERSION = 1
_HEADER = "umx_function.json"
_INPUTS_ERROR = (
    "Inputs can either be a variable number of positional and keyword arrays or a single "
    "tuple and/or dictionary of arrays."
)
_OUTPUTS_ERROR = (
    "[export_function] Outputs can be either a single array, a tuple, or a list of arrays."
)


# -- arguments ----------------------------------------------------------------------------


def _split_inputs(args: tuple, kwargs: dict, op: str) -> tuple[list, dict]:
    """MLX's two calling forms: arrays as ``*args, **kwargs``, or one tuple (or list)
    and / or one dict of arrays. Returns the positional arrays and the keyword arrays."""
    pos, kw = args, kwargs
    if not kwargs and args and not isinstance(args[0], array):
        first = args[0]
        if len(args) == 1 and isinstance(first, dict):
            pos, kw = (), first
        elif isinstance(first, (tuple, list)) and (
            len(args) == 1 or (len(args) == 2 and isinstance(args[1], dict))
        ):
            pos, kw = first, args[1] if len(args) == 2 else {}
    if not all(isinstance(a, array) for a in pos) or not all(
        isinstance(k, str) and isinstance(v, array) for k, v in kw.items()
    ):
        raise ValueError(f"[{op}] {_INPUTS_ERROR}")
    return list(pos), dict(kw)


def _flat(pos: list, kw: dict) -> list:
    """The inputs in the order a trace numbers them: positional, then keywords by name."""
    return pos + [kw[k] for k in sorted(kw)]


def _path(file, op: str) -> str:
    if isinstance(file, (str, os.PathLike)):
        return os.fspath(file)
    raise TypeError(f"[{op}] Expected a file path (str), got {type(file).__name__}.")


# -- tracing --------------------------------------------------------------------------------


def _trace(fun: Callable, pos: list, kw: dict) -> tuple[_Tape, list]:
    """``fun``'s tape on these inputs (mx.compile's tracer) and its output slots."""
    tape = Compiled(fun, None, None, False)._trace(tuple(pos), kw, _flat(pos, kw), [], False)
    out = tape.outputs
    if type(out) is _Slot:
        return tape, [out.index]
    if isinstance(out, (tuple, list)) and all(type(o) is _Slot for o in out):
        return tape, [o.index for o in out]
    raise ValueError(_OUTPUTS_ERROR)


# -- parameter codec: JSON values, with one-key objects tagging the other types ----------

_PLAIN = (type(None), bool, int, float, str)


def _value_classes() -> tuple:
    """The classes other than primitives that a primitive's parameters may hold."""
    from .ops.index import _Arr  # a placeholder for an index array in a static key

    return (_Arr,)


def _np_dtype(name: str) -> np.dtype:
    """A NumPy dtype named in a file: umx's dtypes and NumPy's plain numeric ones only."""
    if name in dt._BY_NAME:
        return dt._BY_NAME[name].np
    if name == "complex128":
        return np.dtype(name)
    raise ValueError(f"unknown dtype {name!r}")


def _encode(v, where: str):
    if type(v) in _PLAIN:
        return v
    if isinstance(v, tuple) and not hasattr(v, "_fields"):
        return {"t": [_encode(x, where) for x in v]}
    if type(v) is list:
        return {"l": [_encode(x, where) for x in v]}
    if type(v) is dict:
        return {"d": [[_encode(k, where), _encode(x, where)] for k, x in v.items()]}
    if type(v) is slice:
        return {"s": [_encode(v.start, where), _encode(v.stop, where), _encode(v.step, where)]}
    if v is Ellipsis:
        return {"e": 0}
    if type(v) is complex:
        return {"c": [v.real, v.imag]}
    if isinstance(v, dt.Dtype):
        return {"dt": v.name}
    if isinstance(v, dt.DtypeCategory):
        return {"dc": v.name}
    if isinstance(v, np.dtype):
        _np_dtype(v.name)  # only dtypes a file may name
        return {"npdt": v.name}
    if isinstance(v, (np.generic, np.ndarray)) and v.dtype.kind in "biufc":
        a = np.ascontiguousarray(v)
        _np_dtype(a.dtype.name)  # only dtypes a file may name
        return {"np": [a.dtype.name, list(a.shape), a.tobytes().hex(), isinstance(v, np.ndarray)]}
    if isinstance(v, Primitive):
        return {"p": _encode_prim(v)}
    if type(v) in _value_classes():
        c = type(v)
        return {
            "o": [
                f"{c.__module__}:{c.__qualname__}",
                [_encode(getattr(v, s), where) for s in c.__slots__],
            ]
        }
    raise ValueError(f"[export_function] Cannot export {where}: it holds a {type(v).__name__}.")


def _decode(v):
    if type(v) in _PLAIN:
        return v
    if type(v) is not dict or len(v) != 1:
        raise ValueError(f"malformed parameter {v!r:.80}")
    ((tag, x),) = v.items()
    if tag == "t":
        return tuple(_decode(i) for i in x)
    if tag == "l":
        return [_decode(i) for i in x]
    if tag == "d":
        return {_decode(k): _decode(i) for k, i in x}
    if tag == "s":
        return slice(*(_decode(i) for i in x))
    if tag == "e":
        return Ellipsis
    if tag == "c":
        return complex(float(x[0]), float(x[1]))
    if tag == "dt":
        return dt._BY_NAME[x]
    if tag == "dc":
        return dt.DtypeCategory[x]
    if tag == "npdt":
        return _np_dtype(x)
    if tag == "np":
        name, shape, data, is_array = x
        a = np.frombuffer(bytes.fromhex(data), dtype=_np_dtype(name)).reshape(shape).copy()
        return a if is_array else a[()]
    if tag == "p":
        return _decode_prim(x)
    if tag == "o":
        cls = {f"{c.__module__}:{c.__qualname__}": c for c in _value_classes()}.get(x[0])
        if cls is None or len(x[1]) != len(cls.__slots__):
            raise ValueError(f"refusing to load {x[0]!r:.80}: not a umx parameter class")
        obj = cls.__new__(cls)
        for s, i in zip(cls.__slots__, x[1]):
            object.__setattr__(obj, s, _decode(i))
        return obj
    raise ValueError(f"unknown parameter tag {tag!r:.40}")


def _state_names(cls: type) -> list:
    """The ``__slots__`` of ``cls`` and its bases: where a primitive keeps its parameters."""
    names: list = []
    for k in reversed(cls.__mro__):
        for s in k.__dict__.get("__slots__", ()):
            if s not in ("__weakref__", "__dict__") and s not in names:
                names.append(s)
    return names


def _encode_prim(prim: Primitive) -> dict:
    cls = type(prim)
    if getattr(prim, "stand_in", False) or "<locals>" in cls.__qualname__:
        raise ValueError(f"[export_function] Cannot export the primitive {cls.__qualname__}.")
    state = {s: getattr(prim, s) for s in _state_names(cls) if hasattr(prim, s)}
    state.update(getattr(prim, "__dict__", {}))
    name = f"{cls.__qualname__}.{{}}"
    return {
        "class": f"{cls.__module__}:{cls.__qualname__}",
        "state": {k: _encode(v, name.format(k)) for k, v in state.items()},
    }


def _primitive_class(path: str) -> type:
    """The class a file names, if it is a umx primitive; anything else is refused."""
    module, _, qual = path.partition(":")
    parts = module.split(".") + qual.split(".")
    if (
        module.split(".")[0] != "umx"
        or not all(p.isidentifier() and not p.startswith("__") for p in parts)
        or not qual
    ):
        raise ValueError(f"refusing to load {path!r}: not a umx primitive")
    try:
        obj = sys.modules.get(module) or importlib.import_module(module)
        for p in qual.split("."):
            obj = getattr(obj, p)
    except Exception as e:
        raise ValueError(f"refusing to load {path!r}: {e}") from None
    if not (
        isinstance(obj, type)
        and issubclass(obj, Primitive)
        and obj.__module__ == module
        and obj.__qualname__ == qual
        and not obj.stand_in
    ):
        raise ValueError(f"refusing to load {path!r}: not a umx primitive")
    return obj


def _decode_prim(enc: dict) -> Primitive:
    cls = _primitive_class(enc["class"])
    allowed = _state_names(cls)
    has_dict = any("__dict__" in vars(k) for k in cls.__mro__ if k is not object)
    prim = cls.__new__(cls)  # no __init__: the state comes from the file, value by value
    for k, v in enc["state"].items():
        if k not in allowed and not (has_dict and k.isidentifier()):
            raise ValueError(f"refusing to load {enc['class']!r}: it has no parameter {k!r}")
        object.__setattr__(prim, k, _decode(v))
    return prim


# -- a trace, written and read ------------------------------------------------------------


def _describe(tape: _Tape, pos: list, kw: dict, outputs: list) -> dict:
    """The JSON description of one trace (the constants' bytes are stored beside it)."""
    steps = []
    for prim, refs, shape, dtype, stream, multi in tape.steps:
        steps.append(
            [
                _encode_prim(prim),
                [refs] if type(refs) is int else list(refs),
                [list(s) for s in shape] if multi else list(shape),
                [d.name for d in dtype] if multi else dtype.name,
                stream.device.type.name,
                bool(multi),
            ]
        )
    return {
        "positional": len(pos),
        "keywords": sorted(kw),
        "inputs": [[list(a.shape), a.dtype.name] for a in _flat(pos, kw)],
        "constants": [[list(c.shape), c.dtype.name] for c in tape.constants],
        "steps": steps,
        "outputs": outputs,
    }


def _shape(x) -> tuple:
    if not isinstance(x, list) or not all(type(i) is int and i >= 0 for i in x):
        raise ValueError(f"malformed shape {x!r:.80}")
    return tuple(x)


class _Trace:
    """One imported signature: its inputs, and the steps that rebuild its outputs."""

    def __init__(self, desc: dict, consts: list) -> None:
        self.positional = int(desc["positional"])
        self.keywords = [str(k) for k in desc["keywords"]]
        self.inputs = [(_shape(s), dt._BY_NAME[d]) for s, d in desc["inputs"]]
        self.constants = consts
        count = len(self.inputs) + len(consts)
        self.steps = []
        self.devices = set()
        for prim, refs, shape, dtype, device, multi in desc["steps"]:
            if not all(type(r) is int and 0 <= r < count for r in refs):
                raise ValueError("a step reads a slot that does not exist")
            if multi:
                shape = [_shape(s) for s in shape]
                dtype = [dt._BY_NAME[d] for d in dtype]
                count += len(shape)
            else:
                shape, dtype = _shape(shape), dt._BY_NAME[dtype]
                count += 1
            device = _device.DeviceType[device]
            self.devices.add(device)
            refs = refs[0] if len(refs) == 1 else tuple(refs)
            self.steps.append((_decode_prim(prim), refs, shape, dtype, device, bool(multi)))
        self.outputs = [int(o) for o in desc["outputs"]]
        if not all(0 <= o < count for o in self.outputs):
            raise ValueError("an output slot does not exist")
        self._tapes: dict = {}

    def accepts(self, kw: dict, flat: list, exact: bool) -> bool:
        if len(flat) != len(self.inputs) or any(k not in kw for k in self.keywords):
            return False
        if exact:
            return all(a._shape == s and a._dtype is d for a, (s, d) in zip(flat, self.inputs))
        return all(a.ndim == len(s) and a._dtype is d for a, (s, d) in zip(flat, self.inputs))

    def tape(self) -> _Tape:
        """The steps on this thread's streams (cached per stream choice)."""
        streams = {t: _stream_for(t) for t in self.devices}
        key = tuple(sorted((t.value, id(s)) for t, s in streams.items()))
        tape = self._tapes.get(key)
        if tape is None:
            tape = _Tape(0)
            tape.constants = self.constants
            tape.steps = [
                (prim, refs, shape, dtype, streams[device], multi)
                for prim, refs, shape, dtype, device, multi in self.steps
            ]
            self._tapes[key] = tape
        return tape

    def describe(self) -> str:
        lines = []
        n_kw = len(self.inputs) - self.positional
        lines.append(
            f"Function with {self.positional} positional inputs and {n_kw} keyword inputs:"
        )
        names = [str(i + 1) for i in range(self.positional)] + [f'"{k}"' for k in self.keywords]
        for name, (s, d) in zip(names, self.inputs):
            lines.append(f"   {name}: {fmt_shape(s)} {d.name}")
        return "\n".join(lines)


def _stream_for(t: _device.DeviceType) -> _device.Stream:
    cur = _device.current_stream()
    if cur.device.type is t:
        return cur
    if t is _device.DeviceType.gpu and not _device.is_available(t):
        t = _device.DeviceType.cpu  # a GPU export still runs where there is no GPU
        if cur.device.type is t:
            return cur
    return _device.default_stream(t)


# -- the file -----------------------------------------------------------------------------


class _Writer:
    """Creates the archive with its header, then appends one trace at a time."""

    def __init__(self, path: str, shapeless: bool, metadata: str | None) -> None:
        self.path = path
        self.count = 0
        header = {
            "format": _FORMAT,
            "version": _VERSION,
            "shapeless": shapeless,
            "metadata": metadata or "",
        }
        try:
            with zipfile.ZipFile(path, "w") as z:
                z.writestr(_HEADER, json.dumps(header))
        except OSError:
            raise RuntimeError(f"[export_function] Failed to open {path}") from None

    def add(self, tape: _Tape, pos: list, kw: dict, outputs: list) -> None:
        desc = json.dumps(_describe(tape, pos, kw, outputs))
        i = self.count
        try:
            with zipfile.ZipFile(self.path, "a") as z:
                for j, c in enumerate(tape.constants):
                    data = np.ascontiguousarray(np.asarray(c), dtype=c.dtype.np)
                    z.writestr(f"traces/{i}/c{j}.bin", data.tobytes())
                z.writestr(f"traces/{i}.json", desc, compress_type=zipfile.ZIP_DEFLATED)
        except OSError:
            raise RuntimeError(f"[export_function] Failed to open {self.path}") from None
        self.count += 1


def _read(path: str) -> tuple[list, bool, str]:
    """The traces, the shapeless flag and the metadata of a umx function file."""
    try:
        z = zipfile.ZipFile(path)
    except (FileNotFoundError, IsADirectoryError, PermissionError):
        raise RuntimeError(f"[import_function] Failed to open {path}") from None
    except (zipfile.BadZipFile, OSError):
        raise RuntimeError(
            f"[import_function] {path} is not a umx function file (umx reads the files its "
            "own export_function writes, not MLX's .mlxfn format)."
        ) from None
    with z:
        try:
            header = json.loads(z.read(_HEADER))
            ok = header.get("format") == _FORMAT
        except (KeyError, ValueError, AttributeError):
            ok = False
        if not ok:
            raise RuntimeError(f"[import_function] {path} is not a umx function file.")
        if header.get("version") != _VERSION:
            raise RuntimeError(
                f"[import_function] {path} has format version {header.get('version')!r}; "
                f"this umx reads version {_VERSION}."
            )
        traces = []
        try:
            names = set(z.namelist())
            i = 0
            while f"traces/{i}.json" in names:
                desc = json.loads(z.read(f"traces/{i}.json"))
                consts = []
                for j, (shape, dtype) in enumerate(desc["constants"]):
                    d = dt._BY_NAME[dtype]
                    shape = _shape(shape)
                    raw = z.read(f"traces/{i}/c{j}.bin")
                    if len(raw) != int(np.prod(shape, dtype=np.int64)) * d.size:
                        raise ValueError(f"constant {j} of trace {i} has the wrong size")
                    data = np.frombuffer(bytearray(raw), dtype=d.np).reshape(shape)
                    consts.append(constant(data, d))
                traces.append(_Trace(desc, consts))
                i += 1
        except Exception as e:  # anything malformed or refused: one clear error
            raise RuntimeError(
                f"[import_function] Cannot load {path}: {type(e).__name__}: {e}"
            ) from None
        return traces, bool(header.get("shapeless")), str(header.get("metadata", ""))


# -- the public functions -------------------------------------------------------------------


class _ImportedFunction:
    """A function read by ``import_function``: returns a tuple of arrays."""

    def __init__(self, traces: list, shapeless: bool, path: str) -> None:
        self._traces = traces
        self._shapeless = shapeless
        self.__name__ = os.path.basename(path)

    def __call__(self, *args, **kwargs) -> tuple:
        pos, kw = _split_inputs(args, kwargs, "import_function::call")
        flat = _flat(pos, kw)
        for t in self._traces:
            if t.accepts(kw, flat, exact=True):
                slots = t.tape().replay(flat)
                return tuple(slots[o] for o in t.outputs)
        raise ValueError(self._no_match(pos, kw, flat))

    def _no_match(self, pos: list, kw: dict, flat: list) -> str:
        called = [f"Called with {len(pos)} positional inputs and {len(kw)} keyword inputs:"]
        names = [str(i + 1) for i in range(len(pos))] + [f'"{k}"' for k in sorted(kw)]
        for name, a in zip(names, flat):
            called.append(f"  {name}: {fmt_shape(a._shape)} {a._dtype.name}")
        if self._shapeless and any(t.accepts(kw, flat, exact=False) for t in self._traces):
            head = (
                "[import_function::call] This function was exported with shapeless=True, but "
                "umx replays an imported function only at the shapes it was traced with (its "
                "graph cannot be reshaped without the Python function). Export one trace per "
                "shape with mx.exporter. Traced signatures:"
            )
        else:
            head = (
                "[import_function::call] No imported function found which matches the given "
                "positional and keyword arguments. Possible functions include:"
            )
        listed = [f" {i + 1}. {t.describe()}" for i, t in enumerate(self._traces)]
        return "\n".join([head, *listed, "", *called]) + "\n"

    def __repr__(self) -> str:
        return f"<umx imported function {self.__name__} ({len(self._traces)} traces)>"


class FunctionExporter:
    """Exports several traces of one function to one file; made by :func:`exporter`.

    Call it with example inputs to add a trace; ``close()`` (or leaving its ``with``
    block) ends the export. The file is complete after each call."""

    def __init__(self, *args, **kwargs) -> None:
        raise TypeError("umx.FunctionExporter: no constructor defined! Use mx.exporter().")

    @classmethod
    def _make(cls, path: str, fun: Callable, shapeless: bool, metadata: str | None):
        self = object.__new__(cls)
        self._fun = fun
        self._shapeless = shapeless
        self._signatures: set = set()
        self._closed = False
        self._writer = _Writer(path, shapeless, metadata)
        return self

    def __call__(self, *args, **kwargs) -> None:
        if self._closed:
            raise RuntimeError("[export_function] Attempting to write after exporting is closed.")
        pos, kw = _split_inputs(args, kwargs, "export_function")
        # MLX's signature: the inputs' shapes and dtypes in order (keyword names aside).
        sig = tuple((a._shape, a._dtype) for a in _flat(pos, kw))
        if sig in self._signatures:
            raise RuntimeError(
                "[export_function] Attempting to export a function twice with the same "
                "signature is not allowed."
            )
        tape, outputs = _trace(self._fun, pos, kw)
        self._writer.add(tape, pos, kw, outputs)
        self._signatures.add(sig)

    def close(self) -> None:
        """End the export: later calls raise."""
        self._closed = True

    def __enter__(self) -> FunctionExporter:
        return self

    def __exit__(self, exc_type=None, exc_value=None, traceback=None) -> None:
        self.close()


def _check_options(fun, shapeless, metadata) -> None:
    if not callable(fun):
        raise TypeError(f"[export_function] Expected a callable, got {type(fun).__name__}.")
    if not isinstance(shapeless, bool):
        raise TypeError(f"[export_function] shapeless must be a bool, got {shapeless!r}.")
    if metadata is not None and not isinstance(metadata, str):
        raise TypeError(f"[export_function] metadata must be a str, got {metadata!r}.")


def exporter(
    file: str, fun: Callable, *, shapeless: bool = False, metadata: str | None = None
) -> FunctionExporter:
    """A :class:`FunctionExporter` that writes traces of ``fun`` to ``file`` (no extension
    is added), one per call with example inputs; use it as a context manager.

    ``metadata`` is a string saved with the function (``import_function(...,
    return_metadata=True)`` returns it). With ``shapeless=True`` umx still replays only
    traced shapes: call the exporter once per shape (see the module notes).
    """
    path = _path(file, "exporter")
    _check_options(fun, shapeless, metadata)
    return FunctionExporter._make(path, fun, shapeless, metadata)


def export_function(
    file_or_callback: str | Callable,
    fun: Callable,
    *args,
    shapeless: bool = False,
    metadata: str | None = None,
    **kwargs,
) -> None:
    """Trace ``fun`` on the example arrays ``*args, **kwargs`` (or one tuple and / or dict
    of arrays) and write it to a file that :func:`import_function` reads.

    ``fun`` returns an array, or a tuple or list of arrays. Arrays it reads from elsewhere
    (closures) and random draws are saved as constants. Given a callable instead of a file
    path, calls it with dicts describing the graph (inputs, keyword inputs, outputs,
    constants, then one per primitive) instead of writing a file.
    """
    _check_options(fun, shapeless, metadata)
    is_path = isinstance(file_or_callback, (str, os.PathLike))
    if not is_path and not callable(file_or_callback):
        raise TypeError(
            "[export_function] Expected a file path or a callback, got "
            f"{type(file_or_callback).__name__}."
        )
    if not is_path and metadata is not None:
        raise ValueError(
            "[export_function] The metadata argument is only supported when exporting to a "
            "file, not when using a callback."
        )
    pos, kw = _split_inputs(args, kwargs, "export_function")
    if is_path:
        path = os.fspath(file_or_callback)
        tape, outputs = _trace(fun, pos, kw)
        _Writer(path, shapeless, metadata).add(tape, pos, kw, outputs)
    else:
        tape, outputs = _trace(fun, pos, kw)
        _to_callback(file_or_callback, tape, pos, kw, outputs)


def _letters(i: int) -> str:
    s = ""
    i += 1
    while i:
        i, r = divmod(i - 1, 26)
        s = chr(65 + r) + s
    return s


def _to_callback(cb: Callable, tape: _Tape, pos: list, kw: dict, outputs: list) -> None:
    """MLX's callback export: the graph as a sequence of dicts, arrays named A, B, ..."""
    flat = _flat(pos, kw)
    info = [(a.shape, a.dtype) for a in flat] + [(c.shape, c.dtype) for c in tape.constants]
    step_outs = []
    for _prim, _refs, shape, dtype, _stream, multi in tape.steps:
        pairs = list(zip(shape, dtype)) if multi else [(shape, dtype)]
        step_outs.append(range(len(info), len(info) + len(pairs)))
        info += pairs
    names: dict = {}

    def name(slot: int) -> str:
        if slot not in names:
            names[slot] = _letters(len(names))
        return names[slot]

    def entry(slot: int) -> tuple:
        return (name(slot), *info[slot])

    n_in = len(flat)
    cb({"type": "inputs", "inputs": [entry(i) for i in range(n_in)]})
    keys = sorted(kw)
    cb(
        {
            "type": "keyword_inputs",
            "keywords": [(k, name(len(pos) + i)) for i, k in enumerate(keys)],
        }
    )
    cb({"type": "outputs", "outputs": [entry(o) for o in outputs]})
    consts = [(name(n_in + j), c) for j, c in enumerate(tape.constants)]
    cb({"type": "constants", "constants": consts})
    for (prim, refs, *_), outs in zip(tape.steps, step_outs):
        refs = (refs,) if type(refs) is int else refs
        cb(
            {
                "type": "primitive",
                "name": type(prim).__name__,
                "arguments": list(prim.params()),
                "inputs": [entry(r) for r in refs],
                "outputs": [entry(o) for o in outs],
            }
        )


def import_function(file: str, return_metadata: bool = False):
    """Read a function written by :func:`export_function` or :func:`exporter`.

    The result is called with arrays matching one traced signature (as ``*args,
    **kwargs`` or one tuple and / or dict) and returns a tuple of arrays. With
    ``return_metadata=True`` returns ``(function, metadata)``.
    """
    path = _path(file, "import_function")
    traces, shapeless, metadata = _read(path)
    fn = _ImportedFunction(traces, shapeless, path)
    return (fn, metadata) if return_metadata else fn
