"""Reverse (vjp) and forward (jvp) differentiation over the lazy graph.

A transform traces the user's function on wrapped inputs (identity nodes, so the graph has
a distinct root for each differentiated argument), then walks the traced graph applying
each primitive's rule. Rules are written with umx ops, so their results are lazy graphs
themselves: higher derivatives are transforms of those. Each rule runs with the forward
node's stream as the default stream, so derivative ops run where the forward op ran.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager

from . import _device, _eval, _scheduler
from ._array import array, node
from ._primitive import Primitive

_retain_lock = threading.Lock()


@contextmanager
def retain_graph(transform: bool = False):
    """While tracing, evaluation keeps graph edges (an eval inside ``fun`` must not cut
    the paths back to the differentiated inputs). ``transform``: tracing for grad / vjp /
    jvp, where this thread's async_eval is refused (it could run after the trace)."""
    with _retain_lock:
        _scheduler.retain_graph += 1
    if transform:
        _eval.tracing.depth += 1
    try:
        yield
    finally:
        if transform:
            _eval.tracing.depth -= 1
        with _retain_lock:
            _scheduler.retain_graph -= 1


@contextmanager
def on_stream(stream):
    """Make ``stream`` the calling thread's default stream for the rule being applied."""
    st = _device._state
    if stream is None:
        yield
        return
    old_device, old_current = st.device, st.current
    old_default = st.defaults.get(stream.device)
    st.device = stream.device
    st.defaults[stream.device] = stream
    st.current = stream
    st.by_type.clear()
    try:
        yield
    finally:
        st.device = old_device
        st.current = old_current
        st.by_type.clear()
        if old_default is None:
            st.defaults.pop(stream.device, None)
        else:
            st.defaults[stream.device] = old_default


class Identity(Primitive):
    """The root a transform puts in front of each traced input (no copy when evaluated)."""

    __slots__ = ()
    name = "identity"

    @staticmethod
    def eval(xp, x):
        return x

    def vjp(self, primals, cotangents, argnums, outputs):
        return [cotangents[0]]

    def jvp(self, primals, tangents, argnums):
        return [tangents[0]]

    def vmap(self, inputs, axes):
        return [identity(inputs[0])], [axes[0]]


_IDENTITY = Identity()


def identity(x: array) -> array:
    s = x._stream or _device.current_stream()
    return node(_IDENTITY, (x,), x._shape, x._dtype, s)


def _outputs_of(n) -> list:
    return list(n._siblings) if n._prim.multi else [n]


def graph_order(outputs, roots: set) -> tuple[list, set]:
    """Nodes between ``outputs`` and the ``roots`` ids, inputs before users (siblings once),
    and the ids of every array that depends on a root. Only dependent nodes are listed.
    """
    order, seen, depends = [], set(), set(roots)
    for o in outputs:
        if id(o) in seen or id(o) in roots:
            continue
        stack = [(o, False)]
        while stack:
            n, done = stack.pop()
            if done:
                if any(id(i) in depends for i in n._inputs):
                    for s in _outputs_of(n):
                        depends.add(id(s))
                    order.append(n)
                continue
            if id(n) in seen:
                continue
            if n._prim is None or id(n) in roots:
                seen.add(id(n))
                continue
            for s in _outputs_of(n):
                seen.add(id(s))
            stack.append((n, True))
            for i in n._inputs:
                if id(i) not in seen and id(i) not in roots:
                    stack.append((i, False))
    return order, depends


def _zeros_like(x):
    from .ops.creation import zeros_like

    return zeros_like(x)


def _accumulate(table: dict, x: array, value: array) -> None:
    k = id(x)
    prev = table.get(k)
    if prev is None:
        table[k] = value
    else:
        from .ops.binary import add

        table[k] = add(prev, value)


def backprop(outputs: list, cotangents: list, primals: list) -> list:
    """Cotangents of ``primals`` given cotangents of ``outputs`` (None where unreached)."""
    roots = {id(p) for p in primals}
    cots: dict = {}
    for o, c in zip(outputs, cotangents):
        _accumulate(cots, o, c)
    order, depends = graph_order(outputs, roots)
    for n in reversed(order):
        outs = _outputs_of(n)
        cs = [cots.get(id(s)) for s in outs]
        if all(c is None for c in cs):
            continue
        with on_stream(n._stream):
            cs = [_zeros_like(s) if c is None else c for s, c in zip(outs, cs)]
            ins = n._inputs
            argnums = [k for k, i in enumerate(ins) if id(i) in depends]
            if not argnums:
                continue
            try:
                vjps = n._prim.vjp(list(ins), cs, argnums, outs)
            except NotImplementedError:
                raise ValueError(f"[{n._prim.name}] has no vector-Jacobian product rule.") from None
            for k, v in zip(argnums, vjps):
                if v is not None:
                    _accumulate(cots, ins[k], v)
    return [cots.get(id(p)) for p in primals]


def forward(outputs: list, primals: list, tangents: list) -> list:
    """Tangents of ``outputs`` given tangents of ``primals`` (zeros where unreached)."""
    roots = {id(p) for p in primals}
    tans = {id(p): t for p, t in zip(primals, tangents)}
    for n in graph_order(outputs, roots)[0]:
        ins = n._inputs
        argnums = [k for k, i in enumerate(ins) if id(i) in tans]
        if not argnums:
            continue
        with on_stream(n._stream):
            try:
                out_t = n._prim.jvp(list(ins), [tans[id(ins[k])] for k in argnums], argnums)
            except NotImplementedError:
                out_t = jvp_from_vjp(n, argnums, [tans[id(ins[k])] for k in argnums])
        if out_t is None:  # declared zero (piecewise-constant ops)
            continue
        for s, t in zip(_outputs_of(n), out_t):
            if t is not None:
                tans[id(s)] = t
    out = []
    for o in outputs:
        t = tans.get(id(o))
        out.append(_zeros_like(o) if t is None else t)
    return out


def jvp_from_vjp(n, argnums, tangents) -> list:
    """Forward rule derived from the reverse one: J t is the vjp of ``c -> J^T c``."""
    outs = _outputs_of(n)
    ins = list(n._inputs)
    dummies = [identity(_zeros_like(s)) for s in outs]
    with retain_graph():
        vjps = n._prim.vjp(ins, dummies, argnums, outs)
    dot = None
    from .ops.binary import add, multiply
    from .ops.reduce import sum as _sum

    for v, t in zip(vjps, tangents):
        term = _sum(multiply(v, t))
        dot = term if dot is None else add(dot, term)
    return backprop([dot], [_ones_like(dot)], dummies)


def _ones_like(x):
    from .ops.creation import ones_like

    return ones_like(x)


def _stream_of(arrays):
    for a in arrays:
        if a._stream is not None:
            return a._stream
    return _device.current_stream()
