"""``depends``: outputs equal to some arrays that are computed only after some others."""

from __future__ import annotations

from .._array import array
from .._device import resolve_stream
from .._primitive import Primitive, multi_node

__all__ = ["depends"]


class Depends(Primitive):
    """Inputs ``(*values, *dependencies)``; the outputs are the first ``count`` inputs as
    they are. Being inputs, the dependencies are computed first; their gradient is zero."""

    __slots__ = ("count",)
    name = "depends"
    multi = True

    def __init__(self, count: int) -> None:
        self.count = count

    def eval(self, xp, *inputs):
        return tuple(inputs[: self.count])

    def vjp(self, primals, cotangents, argnums, outputs):
        from .creation import zeros_like

        n = self.count
        return [cotangents[k] if k < n else zeros_like(primals[k]) for k in argnums]

    def jvp(self, primals, tangents, argnums):
        given = dict(zip(argnums, tangents))
        return [given.get(k) for k in range(self.count)]

    def vmap(self, inputs, axes):
        n = self.count
        return _depends(inputs[:n], inputs[n:], None), list(axes[:n])


def _arrays(x, what: str) -> list:
    items = [x] if isinstance(x, array) else list(x) if isinstance(x, (list, tuple)) else None
    if items is None or not all(isinstance(a, array) for a in items):
        raise TypeError(f"[depends] {what} must be an array or a sequence of arrays.")
    return items


def _depends(values: list, deps: list, stream) -> list:
    s = resolve_stream(stream)
    shapes = [v._shape for v in values]
    dtypes = [v._dtype for v in values]
    return multi_node(Depends(len(values)), tuple(values) + tuple(deps), shapes, dtypes, s)


def depends(inputs, dependencies):
    """Arrays equal to ``inputs`` that are evaluated only after ``dependencies``.

    ``inputs`` and ``dependencies`` are each an array or a sequence of arrays; the result
    has the form of ``inputs``.
    """
    values = _arrays(inputs, "inputs")
    deps = _arrays(dependencies, "dependencies")
    if not values:
        return []
    outs = _depends(values, deps, None)
    return outs[0] if isinstance(inputs, array) else outs
