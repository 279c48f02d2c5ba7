"""The Primitive base class: one declaration per op, and how ops make lazy nodes."""

from __future__ import annotations

from ._array import array, node

__all__ = ["Primitive", "NotDifferentiable", "node", "multi_node"]


class NotDifferentiable(ValueError):
    """Raised by a primitive that has no derivative rule (sort indices, comparisons...)."""


class Primitive:
    """Base of every op's primitive.

    A primitive declares its static parameters (as ``__slots__`` set in ``__init__``), and
    ``eval(xp, *inputs)`` written against an array module ``xp`` (NumPy on the CPU, CuPy on
    the GPU) returning the output (or a tuple of outputs when ``multi`` is true). Shape and
    dtype are inferred by the public op function before the node is made, so bad input
    fails at call time. ``vjp``, ``jvp`` and ``vmap`` are the transform rules.
    """

    __slots__ = ()
    name = "primitive"
    multi = False  # True when eval returns a tuple of outputs (siblings)
    stand_in = False  # True for the placeholder inputs of a traced function (vmap, compile)

    def eval(self, xp, *inputs):
        raise NotImplementedError(f"{self.name} has no eval")

    def params(self) -> tuple:
        """Static parameters, for printing, graph export and equality."""
        return tuple(getattr(self, s) for s in self.__slots__)

    # Transform rules. A primitive overrides each, or declares it with the helpers of
    # umx._rules (zero gradients, vmap by looping); the registry test checks they exist.
    # vjp: cotangents of the inputs listed in ``argnums``, given the outputs' cotangents.
    def vjp(self, primals, cotangents, argnums, outputs):
        raise NotImplementedError(f"[{self.name}] declares no vjp rule.")

    # jvp: tangents of the outputs, given tangents of the inputs listed in ``argnums``.
    def jvp(self, primals, tangents, argnums):
        raise NotImplementedError(f"[{self.name}] declares no jvp rule.")

    # vmap: (outputs, output batch axes) for inputs batched along ``axes`` (None: unbatched).
    def vmap(self, inputs, axes):
        raise NotImplementedError(f"[{self.name}] declares no vmap rule.")

    def __repr__(self) -> str:
        p = self.params()
        return f"{self.name}{p}" if p else self.name

    def __eq__(self, other) -> bool:
        return type(self) is type(other) and self.params() == other.params()

    def __hash__(self) -> int:
        return hash((type(self), self.params()))


def multi_node(prim, inputs, shapes, dtypes, stream) -> list[array]:
    """Nodes for a primitive with several outputs; evaluating one computes all."""
    outs = [node(prim, inputs, s, d, stream) for s, d in zip(shapes, dtypes)]
    sib = tuple(outs)
    for o in outs:
        o._siblings = sib
    return outs
