"""``mx.compile``: trace a function once per input signature and replay its graph.

The first call with a given signature (the tree of arguments, the shapes and dtypes of its
arrays, its other leaves by value, the default stream) runs ``fun`` on stand-in arrays and
records the graph between them and the outputs. Later calls rebuild that graph on the new
arrays without running ``fun``'s Python: no argument checks, shape inference or dispatch.

As in MLX: arrays that ``fun`` reads from its closure, and anything it computes that does not
depend on its inputs (random draws included), are evaluated once when it is traced and are
constants afterwards. Arrays (and ``mx.random.state``) named in ``inputs=`` are read at each
call, and those in ``outputs=`` are written back after it (``mx.random.state`` only in
``inputs=``: the keys are read, the state does not move; only in ``outputs=``: the draws are
constants and each call puts back the key the trace left). Evaluating an array that depends
on an input while ``fun`` is traced is an error. A compiled function called while another
one is traced runs its Python: the outer trace records it.

Inputs are bound by position (an array passed twice has two stand-ins), and a call never
hands out its caller's arrays or the trace's constants as they are: ``out[0] = v`` on a
result changes neither.
"""

from __future__ import annotations

import os
import threading

from . import _device, _eval
from ._array import _new, array, node
from ._autodiff import graph_order, identity
from ._primitive import Primitive, multi_node
from ._tree import tree_map

_enabled = ["MLX_DISABLE_COMPILE" not in os.environ]  # MLX: set at all (even empty) disables
_lock = threading.Lock()  # guards _hook_users
_hook_users = [0]  # traces on any thread that read mx.random.state as an input


class _Local(threading.local):
    depth = 0  # > 0 while this thread traces a compiled function
    draw = None  # the innermost trace's key hook, where it reads mx.random.state


_local = _Local()


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


_CONSTANT_TYPES = (int, float, str, type(None))


def _walk(tree, leaves: list, random_type, strict: bool = False) -> object:
    """Append ``tree``'s leaves to ``leaves``; return a hashable description of it.
    ``strict`` (the arguments): other leaves must be hashable, as MLX refuses them."""
    if isinstance(tree, array):
        leaves.append(tree)
        return ("a", tree._shape, tree._dtype)
    if isinstance(tree, (list, tuple)):
        return (type(tree), tuple(_walk(t, leaves, random_type, strict) for t in tree))
    if isinstance(tree, dict):
        return (dict, tuple((k, _walk(v, leaves, random_type, strict)) for k, v in tree.items()))
    if type(tree) is random_type:
        leaves.append(tree)
        return ("random",)
    if type(tree) is float and tree != tree:  # NaN: equal to no key, it would trace each call
        return ("c", float, "nan")
    try:
        hash(tree)
        return ("c", type(tree), tree)  # the key holds the object: its id cannot be reused
    except TypeError:
        if strict:
            # An id would be reused once the object dies: another object, same key.
            raise ValueError(
                "[compile] Function arguments must be trees of arrays or constants (floats, "
                f"ints, strings, or None), but received type {type(tree).__name__}."
            ) from None
        return ("c", type(tree), id(tree))


def _swap(tree, stand_ins, record: list) -> None:
    """Put the next of ``stand_ins`` in place of each array leaf of ``tree``'s lists and
    dicts, in ``_walk``'s order, noting ``(container, key, original, stand_in)``. Arrays in
    tuples (or the root) cannot be replaced: they use up their stand-in and stay."""
    if isinstance(tree, (list, dict)):
        for k, t in list(enumerate(tree) if isinstance(tree, list) else tree.items()):
            if isinstance(t, array):
                s = next(stand_ins)
                record.append((tree, k, t, s))
                tree[k] = s
            else:
                _swap(t, stand_ins, record)
    elif isinstance(tree, tuple):
        for t in tree:
            _swap(t, stand_ins, record)
    elif isinstance(tree, array):
        next(stand_ins)


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
    """Overwrite, in place, the array leaves inside ``tree``'s lists and dicts with ``new``
    (in ``tree_map``'s order; arrays in tuples cannot be written and are skipped over)."""
    if isinstance(tree, (list, dict)):
        for k, t in list(enumerate(tree) if isinstance(tree, list) else tree.items()):
            if isinstance(t, array):
                tree[k] = new[pos[0]]
                pos[0] += 1
            else:
                _assign(t, new, pos)
    elif isinstance(tree, tuple):
        for t in tree:
            _assign(t, new, pos)
    elif isinstance(tree, array):
        pos[0] += 1


# The slots every node has, and those only some have (not the siblings of a multi-output
# node: the copy is not one of them).
_SLOTS = ("_shape", "_dtype", "_prim", "_inputs", "_stream", "_data", "_seq", "_error")
_OPTIONAL = ("_mirror", "_cpu_copy")


def _fresh(a: array) -> array:
    """A new array object with ``a``'s value, for an input or a constant that a call hands
    out: ``out[0] = v`` on it must not change the caller's input or the trace's constant."""
    if a._data is not None and not a._inputs:
        # The same (immutable) buffer. Stream and sequence number come along: a GPU result
        # has its buffer before its kernel completes, and readers wait on them.
        c = _new(array)
        for s in _SLOTS:
            setattr(c, s, getattr(a, s))
        for s in _OPTIONAL:
            if hasattr(a, s):
                setattr(c, s, getattr(a, s))
        return c
    return identity(a)  # lazy, or a graph kept for a transform: stay connected to it


class _Slot:
    """An array leaf of the output tree: its position among the replayed values."""

    __slots__ = ("index",)

    def __init__(self, index: int) -> None:
        self.index = index


class _Tape:
    """A traced graph: the steps that rebuild it from the inputs and folded constants."""

    __slots__ = (
        "constants", "steps", "outputs", "state_outputs", "draws", "fixed", "advance",
        "post_key",
    )  # fmt: skip

    def __init__(self, draws: int) -> None:
        self.constants: list = []  # arrays computed once, when traced
        self.steps: list = []  # (prim, input slots, shape(s), dtype(s), stream, multi)
        self.outputs = None  # the output tree, its arrays as _Slot
        self.state_outputs: list = []  # slots of the arrays written back to ``outputs=``
        self.draws = draws  # keys taken from mx.random.state per call
        self.fixed = 0  # slots below this are inputs or constants (not made by the call)
        self.advance = True  # draws move mx.random.state on (it is in ``outputs=`` too)
        self.post_key = None  # the state's key after the trace, written back at each call

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


def _input_nodes(targets: list, prims: list) -> dict:
    """``{id(node): input index}`` for the nodes behind ``targets`` that hold one of the
    trace's input primitives. Found by primitive, not by the stand-in objects: ``x[i] = v``
    inside ``fun`` makes the object ``x`` name the update, and a clone hold the input."""
    index = {id(p): p.index for p in prims}
    found: dict = {}
    seen: set = set()
    stack = list(targets)
    while stack:
        n = stack.pop()
        if id(n) in seen:
            continue
        seen.add(id(n))
        k = index.get(id(n._prim))
        if k is not None:
            found[id(n)] = k
        else:
            stack.extend(n._inputs)
    return found


def _record(out_tree, state_leaves: list, prims: list, draws: int) -> _Tape:
    """The tape from the trace's inputs (``prims``) to the arrays of ``out_tree`` and
    ``state_leaves``. Every array that depends on no input is computed now: a constant."""
    tape = _Tape(draws)
    targets: list = []
    tree_map(lambda x: targets.append(x) if isinstance(x, array) else None, out_tree)
    targets += state_leaves
    slot_of = _input_nodes(targets, prims)
    order, depends = graph_order(targets, set(slot_of))
    n_in = len(prims)
    for a in [i for n in order for i in n._inputs] + targets:
        if id(a) not in depends and id(a) not in slot_of:
            slot_of[id(a)] = n_in + len(tape.constants)
            tape.constants.append(a)
    count = tape.fixed = n_in + len(tape.constants)
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
    tape.outputs = tree_map(
        lambda x: _Slot(slot_of[id(x)]) if isinstance(x, array) else x, out_tree
    )
    tape.state_outputs = [slot_of[id(a)] for a in state_leaves]
    if tape.constants:
        _eval.eval(tape.constants)
        # The tape keeps its own objects: ``c[0] = v`` on a closure array after the trace
        # rebinds that object, and the trace must keep the value it read (as MLX). A
        # constant still holding a graph (traced inside grad) stays, for the gradient.
        tape.constants = [_fresh(c) if not c._inputs else c for c in tape.constants]
    return tape


def _dispatch_key() -> array:
    """``mx.random.state``'s hook while a trace reads it: the tracing thread gets a traced
    key, any other thread the next real one."""
    draw = _local.draw
    if draw is not None:
        return draw()
    from .random import state

    return state._advance()


def _call_keys(n: int, advance: bool) -> list:
    """The ``n`` keys a call draws: moving the global state on, or (state read but not
    written back) the keys it would give, leaving it where it is."""
    from . import _random_bits as rb
    from .random import _key_array, state

    if advance:
        return [state._next() for _ in range(n)]
    with state._lock:
        k = state._k
    out = []
    for _ in range(n):
        k, sub = rb.split_py(*k)
        out.append(_key_array(*sub))
    return out


class Compiled:
    """The function ``compile`` returns: ``fun``'s graph, traced once per signature."""

    def __init__(self, fun, inputs, outputs, shapeless: bool) -> None:
        self._fun = fun
        self._inputs = inputs
        self._outputs = outputs
        self._shapeless = shapeless
        self._tapes: dict = {}
        # With ``inputs=`` / ``outputs=`` trees a call reads and writes shared containers,
        # and a trace puts stand-ins in them: one call at a time.
        self._lock = threading.RLock()
        try:
            self.__wrapped__ = fun
            self.__name__ = getattr(fun, "__name__", "compiled")
            self.__doc__ = getattr(fun, "__doc__", None)
        except AttributeError:  # pragma: no cover - read-only attributes
            pass

    def __call__(self, *args, **kwargs):
        # Inside another compiled function's trace, run the Python: the outer trace records
        # it (as MLX, whose nested compiled functions run again when the outer one traces).
        if not _enabled[0] or _local.depth:
            return self._fun(*args, **kwargs)
        if self._inputs is None and self._outputs is None:
            return self._call(args, kwargs)
        with self._lock:
            return self._call(args, kwargs)

    def _call(self, args, kwargs):
        random_type = _random_state_type()
        leaves: list = []
        key = [_walk((args, kwargs), leaves, random_type, True)]
        state_leaves: list = []
        key.append(_walk(self._inputs, state_leaves, random_type))
        out_leaves: list = []
        key.append(_walk(self._outputs, out_leaves, random_type))
        key.append(_device.current_stream())
        arrays = [x for x in leaves if isinstance(x, array)]
        states = [x for x in state_leaves if isinstance(x, array)]
        key = tuple(key)
        tape = self._tapes.get(key)
        if tape is None:
            in_rand = len(states) != len(state_leaves)
            out_rand = any(type(x) is random_type for x in out_leaves)
            tape = self._trace(args, kwargs, arrays, states, in_rand, out_rand)
            self._tapes[key] = tape
        inputs = arrays + states
        if tape.draws:
            inputs += _call_keys(tape.draws, tape.advance)
        slots = tape.replay(inputs)
        if tape.post_key is not None:
            from .random import state

            with state._lock:
                state._k = tape.post_key
        fixed = tape.fixed
        if tape.state_outputs:
            n_in = fixed - len(tape.constants)  # unchanged inputs go back as they are
            new = [
                slots[i] if i < n_in or i >= fixed else _fresh(slots[i]) for i in tape.state_outputs
            ]
            _assign(self._outputs, new, [0])

        def out(x):
            if type(x) is not _Slot:
                return x
            i = x.index
            return slots[i] if i >= fixed else _fresh(slots[i])

        return tree_map(out, tape.outputs)

    def _trace(
        self, args, kwargs, arrays: list, states: list, in_rand: bool, out_rand: bool = False
    ) -> _Tape:
        stand_ins = [_stand_in(a, k) for k, a in enumerate(arrays + states)]
        prims = [s._prim for s in stand_ins]  # kept: ``x[i] = v`` may rebind a stand-in
        n_fixed = len(stand_ins)
        # Bound by position: one array passed twice has two stand-ins (the next call may
        # pass two arrays there). ``arrays`` may list the leaves in another order (export
        # numbers keywords by name): the k-th occurrence of an array takes its k-th entry.
        walked: list = []
        _walk((args, kwargs), walked, None)
        free: dict = {}
        for k, a in enumerate(arrays):
            free.setdefault(id(a), []).append(k)
        it = iter([stand_ins[free[id(a)].pop(0)] for a in walked if isinstance(a, array)])
        traced_args, traced_kwargs = tree_map(
            lambda x: next(it) if isinstance(x, array) else x, (args, kwargs)
        )
        record: list = []
        _swap(self._inputs, iter(stand_ins[len(arrays) : n_fixed]), record)
        back = {id(s): a for a, s in zip(states, stand_ins[len(arrays) :])}
        rstate = None
        if in_rand or out_rand:
            from .random import state as rstate

        def draw():
            d = _stand_in_key(len(stand_ins))
            stand_ins.append(d)
            prims.append(d._prim)
            return d

        if in_rand:
            with _lock:
                _hook_users[0] += 1
                rstate._draw_hook = _dispatch_key
        prev_draw = _local.draw
        _local.draw = draw if in_rand else None
        _local.depth += 1
        _eval.tracing.depth += 1  # async_eval refuses to run inside a trace, as in MLX
        ok = False
        try:
            with _eval.refusing_stand_ins():
                out = self._fun(*traced_args, **traced_kwargs)
            # Read before the stand-ins go back: an output leaf ``fun`` left alone is the
            # input of the next call, not the value it had when traced.
            state_out: list = []
            tree_map(lambda x: state_out.append(x) if isinstance(x, array) else None, self._outputs)
            tape = _record(out, state_out, prims, len(stand_ins) - n_fixed)
            ok = True
        finally:
            _eval.tracing.depth -= 1
            _local.depth -= 1
            _local.draw = prev_draw
            if in_rand:
                with _lock:
                    _hook_users[0] -= 1
                    if not _hook_users[0]:
                        rstate._draw_hook = None
            if not ok:  # leave the containers as they were, not holding traced arrays
                for tree, k, a, _ in record:
                    try:
                        tree[k] = a
                    except (IndexError, TypeError):  # pragma: no cover - fun reshaped them
                        pass
            _replace(self._inputs, back)
            _replace(self._outputs, back)
        tape.advance = out_rand
        if out_rand and not in_rand:  # MLX writes back the key the trace left
            with rstate._lock:
                tape.post_key = rstate._k
        return tape


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
