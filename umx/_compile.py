"""``mx.compile``: trace a function once per input signature and replay its graph.

The first call with a given signature (the tree of arguments, the shapes and dtypes of its
arrays, its other leaves by value, the default stream) runs ``fun`` on stand-in arrays and
records the graph between them and the outputs. Later calls rebuild that graph on the new
arrays without running ``fun``'s Python: no argument checks, shape inference or dispatch.

As in MLX: arrays that ``fun`` reads from its closure, and anything it computes that does not
depend on its inputs (random draws included), are evaluated once when it is traced and are
constants afterwards. Arrays (and ``mx.random.state``) named in ``inputs=`` are read at each
call, and those in ``outputs=`` are written back after it. Evaluating an array that depends
on an input while ``fun`` is traced is an error.
"""

from __future__ import annotations

import os
import threading

from . import _device, _eval
from ._array import _new, array, node
from ._autodiff import graph_order
from ._primitive import Primitive, multi_node

_enabled = [not os.environ.get("MLX_DISABLE_COMPILE")]
_lock = threading.Lock()


def enable_compile() -> None:
    """Turn compilation on everywhere (overrides ``MLX_DISABLE_COMPILE``)."""
    _enabled[0] = True


def disable_compile() -> None:
    """Turn compilation off everywhere: compiled functions then just call ``fun``."""
    _enabled[0] = False


class CompileInput(Primitive):
    """The stand-in for the ``index``-th input while a compiled function is traced."""

    __slots__ = ("index",)
    name = "compile_input"
    stand_in = True

    def __init__(self, index: int) -> None:
        self.index = index

    def eval(self, xp, *inputs):
        raise ValueError(
            "[eval] Attempting to eval an array during function transformations "
            "like compile or vmap is not allowed."
        )

    # Stand-ins live only inside a trace; the transforms see the replayed graph instead.
    def vjp(self, primals, cotangents, argnums, outputs):
        raise ValueError("[compile] A traced input cannot be differentiated.")

    def jvp(self, primals, tangents, argnums):
        raise ValueError("[compile] A traced input cannot be differentiated.")

    def vmap(self, inputs, axes):
        raise ValueError("[compile] A traced input cannot be vectorised.")


def _random_state_type():
    from .random import _RandomState

    return _RandomState


def _walk(tree, leaves: list, random_type) -> object:
    """Append ``tree``'s leaves to ``leaves``; return a hashable description of it."""
    if isinstance(tree, array):
        leaves.append(tree)
        return ("a", tree._shape, tree._dtype)
    if isinstance(tree, (list, tuple)):
        return (type(tree), tuple(_walk(t, leaves, random_type) for t in tree))
    if isinstance(tree, dict):
        return (dict, tuple((k, _walk(v, leaves, random_type)) for k, v in tree.items()))
    if type(tree) is random_type:
        leaves.append(tree)
        return ("random",)
    try:
        hash(tree)
        return ("c", type(tree), tree)
    except TypeError:  # unhashable constants are told apart by identity
        return ("c", type(tree), id(tree))


def _replace(tree, values: dict) -> None:
    """Put ``values[id(old)]`` in place of array leaves inside ``tree``'s lists and dicts."""
    items = (
        enumerate(tree)
        if isinstance(tree, list)
        else tree.items()
        if isinstance(tree, dict)
        else None
    )
    if items is None:
        if isinstance(tree, tuple):
            for t in tree:
                _replace(t, values)
        return
    for k, t in list(items):
        if isinstance(t, array):
            if id(t) in values:
                tree[k] = values[id(t)]
        else:
            _replace(t, values)


def _assign(tree, new: list, pos: list) -> None:
    """Overwrite, in place, the array leaves inside ``tree``'s lists and dicts with ``new``."""
    items = (
        enumerate(tree)
        if isinstance(tree, list)
        else tree.items()
        if isinstance(tree, dict)
        else None
    )
    if items is None:
        if isinstance(tree, tuple):
            for t in tree:
                _assign(t, new, pos)
        return
    for k, t in list(items):
        if isinstance(t, array):
            tree[k] = new[pos[0]]
            pos[0] += 1
        else:
            _assign(t, new, pos)


def _rebuild(tree, f):
    """``tree`` with each leaf ``x`` replaced by ``f(x)`` (named tuples kept)."""
    if isinstance(tree, list):
        return [_rebuild(t, f) for t in tree]
    if isinstance(tree, tuple):
        items = [_rebuild(t, f) for t in tree]
        return type(tree)(*items) if hasattr(tree, "_fields") else type(tree)(items)
    if isinstance(tree, dict):
        return {k: _rebuild(v, f) for k, v in tree.items()}
    return f(tree)


class _Slot:
    """An array leaf of the output tree: its position among the replayed values."""

    __slots__ = ("index",)

    def __init__(self, index: int) -> None:
        self.index = index


class _Tape:
    """A traced graph: the steps that rebuild it from the inputs and folded constants."""

    __slots__ = ("constants", "steps", "outputs", "state_outputs", "draws")

    def __init__(self, draws: int) -> None:
        self.constants: list = []  # arrays computed once, when traced
        self.steps: list = []  # (prim, input slots, shape(s), dtype(s), stream, multi)
        self.outputs = None  # the output tree, its arrays as _Slot
        self.state_outputs: list = []  # slots of the arrays written back to ``outputs=``
        self.draws = draws  # keys taken from mx.random.state per call

    def replay(self, inputs: list) -> list:
        slots = inputs + self.constants
        append = slots.append
        new = _new
        for prim, refs, shape, dtype, stream, multi in self.steps:
            ins = (slots[refs],) if type(refs) is int else tuple([slots[r] for r in refs])
            if multi:
                slots.extend(multi_node(prim, ins, shape, dtype, stream))
                continue
            n = new(array)  # node() inlined: replay is a loop over every step
            n._shape = shape
            n._dtype = dtype
            n._prim = prim
            n._inputs = ins
            n._stream = stream
            n._data = None
            n._seq = 0
            n._error = None
            append(n)
        return slots


def _record(out_tree, state_leaves: list, stand_ins: list, draws: int) -> _Tape:
    """The tape from ``stand_ins`` to the arrays of ``out_tree`` and ``state_leaves``.
    Every array that does not depend on a stand-in is computed now and kept as a constant."""
    tape = _Tape(draws)
    targets: list = []
    _rebuild(out_tree, lambda x: targets.append(x) if isinstance(x, array) else None)
    targets += state_leaves
    roots = {id(p) for p in stand_ins}
    order, depends = graph_order(targets, roots)
    slot_of = {id(p): i for i, p in enumerate(stand_ins)}
    for a in [i for n in order for i in n._inputs] + targets:
        if id(a) not in depends and id(a) not in slot_of:
            slot_of[id(a)] = len(stand_ins) + len(tape.constants)
            tape.constants.append(a)
    count = len(stand_ins) + len(tape.constants)
    for n in order:
        refs = tuple(slot_of[id(i)] for i in n._inputs)
        if len(refs) == 1:
            refs = refs[0]  # the common case, unpacked once here rather than at each replay
        if n._prim.multi:
            outs = n._siblings
            shape, dtype = [o._shape for o in outs], [o._dtype for o in outs]
        else:
            outs, shape, dtype = (n,), n._shape, n._dtype
        tape.steps.append((n._prim, refs, shape, dtype, n._stream, n._prim.multi))
        for o in outs:
            slot_of[id(o)] = count
            count += 1
    tape.outputs = _rebuild(
        out_tree, lambda x: _Slot(slot_of[id(x)]) if isinstance(x, array) else x
    )
    tape.state_outputs = [slot_of[id(a)] for a in state_leaves]
    if tape.constants:
        _eval.eval(tape.constants)
    return tape


class Compiled:
    """The function ``compile`` returns: ``fun``'s graph, traced once per signature."""

    def __init__(self, fun, inputs, outputs, shapeless: bool) -> None:
        self._fun = fun
        self._inputs = inputs
        self._outputs = outputs
        self._shapeless = shapeless
        self._tapes: dict = {}
        try:
            self.__wrapped__ = fun
            self.__name__ = getattr(fun, "__name__", "compiled")
            self.__doc__ = getattr(fun, "__doc__", None)
        except AttributeError:  # pragma: no cover - read-only attributes
            pass

    def __call__(self, *args, **kwargs):
        if not _enabled[0]:
            return self._fun(*args, **kwargs)
        random_type = _random_state_type()
        leaves: list = []
        key = [_walk((args, kwargs), leaves, random_type)]
        state_leaves: list = []
        key.append(_walk(self._inputs, state_leaves, random_type))
        key.append(_walk(self._outputs, [], random_type))
        key.append(_device.current_stream())
        arrays = [x for x in leaves if isinstance(x, array)]
        states = [x for x in state_leaves if isinstance(x, array)]
        uses_random = len(states) != len(state_leaves) or any(
            type(x) is random_type for x in _leaves_of(self._outputs, random_type)
        )
        key = tuple(key)
        tape = self._tapes.get(key)
        if tape is None:
            tape = self._trace(args, kwargs, arrays, states, uses_random)
            self._tapes[key] = tape
        inputs = arrays + states
        if tape.draws:
            from .random import state

            inputs += [state._next() for _ in range(tape.draws)]
        slots = tape.replay(inputs)
        if tape.state_outputs:
            _assign(self._outputs, [slots[i] for i in tape.state_outputs], [0])
        return _rebuild(tape.outputs, lambda x: slots[x.index] if type(x) is _Slot else x)

    def _trace(self, args, kwargs, arrays: list, states: list, uses_random: bool) -> _Tape:
        stand_ins = [_stand_in(a, k) for k, a in enumerate(arrays + states)]
        by_id = {id(a): s for a, s in zip(arrays, stand_ins)}
        traced_args, traced_kwargs = _rebuild(
            (args, kwargs), lambda x: by_id[id(x)] if isinstance(x, array) else x
        )
        back = {id(s): a for a, s in zip(states, stand_ins[len(arrays) :])}
        _replace(self._inputs, {id(a): s for a, s in zip(states, stand_ins[len(arrays) :])})
        draws: list = []
        rstate = None
        if uses_random:
            from .random import state as rstate

            def draw():
                d = _stand_in_key(len(stand_ins))
                stand_ins.append(d)
                draws.append(d)
                return d

            rstate._draw_hook = draw
        _eval.tracing.depth += 1  # async_eval refuses to run inside a trace, as in MLX
        try:
            with _eval.refusing_stand_ins():
                out = self._fun(*traced_args, **traced_kwargs)
        finally:
            _eval.tracing.depth -= 1
            if rstate is not None:
                rstate._draw_hook = None
            _replace(self._inputs, back)
        state_out: list = []
        _rebuild(self._outputs, lambda x: state_out.append(x) if isinstance(x, array) else None)
        return _record(out, state_out, stand_ins, len(draws))


def _leaves_of(tree, random_type) -> list:
    out: list = []
    _walk(tree, out, random_type)
    return out


def _stand_in(a: array, index: int) -> array:
    s = a._stream or _device.current_stream()
    return node(CompileInput(index), (), a._shape, a._dtype, s)


def _stand_in_key(index: int) -> array:
    from . import _dtypes as dt

    return node(CompileInput(index), (), (2,), dt.uint32, _device.current_stream())


def compile(fun, inputs=None, outputs=None, shapeless: bool = False):
    """A function that returns what ``fun`` returns, traced once per input signature.

    ``inputs`` and ``outputs`` are trees (lists / dicts) of arrays, or ``mx.random.state``,
    that ``fun`` reads and updates besides its arguments. With ``shapeless=True`` MLX
    reuses one trace across shapes; umx traces again for a new shape, which gives the same
    results.
    """
    if not callable(fun):
        raise TypeError(f"[compile] Expected a callable, got {type(fun).__name__}.")
    return Compiled(fun, inputs, outputs, bool(shapeless))
