"""vmap: trace the function on one slice of each mapped input, then replay the traced graph
on the whole batch with each primitive's vmap rule (or, where a primitive has none, by
looping over the batch and stacking)."""

from __future__ import annotations

from contextlib import contextmanager

from . import _device, _eval
from ._array import array, node
from ._autodiff import graph_order, on_stream
from ._primitive import Primitive
from ._tree import tree_map
from .ops._util import fmt_shape


class VmapSlice(Primitive):
    """Stands for one slice of a mapped input while ``fun`` is traced."""

    __slots__ = ("axis",)
    name = "vmap_slice"
    stand_in = True

    def __init__(self, axis: int) -> None:
        self.axis = axis

    def eval(self, xp, x):
        return xp.take(x, 0, axis=self.axis)

    # Transform rules: the primitive is ``take(x, 0, axis)``.
    def vjp(self, primals, cotangents, argnums, outputs):
        from .ops.join import pad
        from .ops.shape import expand_dims

        n, a = primals[0]._shape[self.axis], self.axis
        widths = [(0, 0)] * primals[0].ndim
        widths[a] = (0, n - 1)
        return [pad(expand_dims(cotangents[0], a), widths)]

    def jvp(self, primals, tangents, argnums):
        from .ops.index import take

        return [take(tangents[0], 0, axis=self.axis)]

    def vmap(self, inputs, axes):
        from ._rules import move_to_front
        from .ops.index import take

        return [take(move_to_front(inputs[0], axes[0]), 0, axis=self.axis + 1)], [0]


_PREFIX = "[tree_map] Additional input tree is not a valid prefix of the first tree."


def _flat_axes(tree, axes, output: bool, leaves: list, flat: list, top: bool = True) -> None:
    """Walk ``tree`` with ``axes`` as a prefix tree of it, as MLX does: containers must match
    in type and length (dicts in keys), a leaf axis applies to a whole subtree, and every
    leaf of ``tree`` must be an array. Axes are normalised (an output axis ranges over one
    more dimension); None means unmapped."""
    if isinstance(tree, (list, tuple)):
        kind = list if isinstance(tree, list) else tuple
        if isinstance(axes, (list, tuple, dict)):
            if not isinstance(axes, kind) or len(axes) != len(tree):
                raise ValueError(_PREFIX)
            for t, a in zip(tree, axes):
                _flat_axes(t, a, output, leaves, flat, False)
        else:
            for t in tree:
                _flat_axes(t, axes, output, leaves, flat, False)
        return
    if isinstance(tree, dict):
        if isinstance(axes, dict):
            if len(axes) != len(tree):
                raise ValueError(_PREFIX)
            for k, t in tree.items():
                if k not in axes:
                    raise ValueError(
                        "[tree_visit] Tree is not a valid prefix tree of the first tree."
                    )
                _flat_axes(t, axes[k], output, leaves, flat, False)
        elif isinstance(axes, (list, tuple)):
            raise ValueError(_PREFIX)
        else:
            for t in tree.values():
                _flat_axes(t, axes, output, leaves, flat, False)
        return
    if not isinstance(tree, array):
        raise ValueError("[tree_flatten] The argument should contain only arrays")
    # As MLX: a lone array may take its axis as a one-element tuple (only at the top).
    if top and isinstance(axes, tuple) and len(axes) == 1:
        if axes[0] is None or isinstance(axes[0], int):
            axes = axes[0]
    ax = axes
    if ax is not None and not isinstance(ax, int):
        raise ValueError("[vmap] axis must be int or None.")
    if ax is not None:
        nd = tree.ndim + output
        ax = int(ax) + nd if ax < 0 else int(ax)
        if not 0 <= ax < nd:
            what = "output vectorization" if output else "vectorization"
            raise IndexError(
                f"[vmap] Invalid {what} axis {ax} for array with shape {fmt_shape(tree.shape)}"
            )
    leaves.append(tree)
    flat.append(ax)


def _refill(tree, leaves: list):
    """``tree`` with its array leaves (all its leaves: ``_flat_axes`` checked) replaced by
    ``leaves``, in order."""
    it = iter(leaves)
    return tree_map(lambda _: next(it), tree)


def loop_rule(n, inputs, axes, size: int):
    """vmap of any primitive: apply it to each slice, stack the results along axis 0."""
    from .ops.index import take
    from .ops.join import stack

    outs = list(n._siblings) if n._prim.multi else [n]
    per_output = [[] for _ in outs]
    for b in range(size):
        ins_b = tuple(take(x, b, axis=a) if a is not None else x for x, a in zip(inputs, axes))
        if n._prim.multi:
            from ._primitive import multi_node

            res = multi_node(
                n._prim, ins_b, [o._shape for o in outs], [o._dtype for o in outs], n._stream
            )
        else:
            res = [node(n._prim, ins_b, n._shape, n._dtype, n._stream)]
        for k, r in enumerate(res):
            per_output[k].append(r)
    return [stack(p, axis=0) for p in per_output], [0] * len(outs)


@contextmanager
def _vmap_tracing():
    """While ``fun`` is traced, eval refuses arrays that depend on a mapped input."""
    _eval.tracing.depth += 1
    try:
        with _eval.refusing_stand_ins():
            yield
    finally:
        _eval.tracing.depth -= 1


def vmap(fun, in_axes=0, out_axes=0):
    """Vectorise ``fun`` over the ``in_axes`` of its arguments; outputs stack on ``out_axes``.

    ``in_axes`` / ``out_axes`` are an int, or prefix trees of the arguments (of the single
    argument when there is one) / of the outputs, with None for an unmapped input.
    """
    # As MLX: None is refused for the whole of in_axes or out_axes (it is allowed inside).
    if in_axes is None or out_axes is None:
        raise TypeError("vmap(): in_axes and out_axes must be an int or a tree of axes, not None.")

    def wrapped(*args, **kwargs):
        from .ops.shape import broadcast_to, expand_dims, moveaxis

        if kwargs:
            raise TypeError("[vmap] Keyword arguments are not supported.")
        tree = args[0] if len(args) == 1 else args
        leaves, axes = [], []
        axes_tree = in_axes
        # Kept from earlier umx though MLX refuses it: a list of per-argument axes.
        if isinstance(in_axes, list) and (len(args) > 1 or isinstance(tree, array)):
            axes_tree = tuple(in_axes)
        _flat_axes(tree, axes_tree, False, leaves, axes)
        if all(a is None for a in axes):
            raise ValueError("At least one of in_axes must be non-None.")
        size = None
        placeholders = []
        batched = {}
        for x, ax in zip(leaves, axes):
            if ax is None:
                placeholders.append(x)
                continue
            if size is None:
                size = x._shape[ax]
            elif x._shape[ax] != size:
                raise ValueError(f"[vmap] Inconsistent axis sizes: {size} and {x._shape[ax]}.")
            shape = x._shape[:ax] + x._shape[ax + 1 :]
            p = node(VmapSlice(ax), (x,), shape, x._dtype, x._stream or _device.current_stream())
            placeholders.append(p)
            batched[id(p)] = (x, ax)
        new_tree = _refill(tree, placeholders)
        with _vmap_tracing():
            outs = fun(new_tree) if len(args) == 1 else fun(*new_tree)
        out_leaves, oaxes = [], []
        _flat_axes(outs, out_axes, True, out_leaves, oaxes)
        for n in graph_order(out_leaves, set(batched))[0]:
            ins = n._inputs
            vin = [batched[id(i)][0] if id(i) in batched else i for i in ins]
            vax = [batched[id(i)][1] if id(i) in batched else None for i in ins]
            with on_stream(n._stream):
                try:
                    res, res_axes = n._prim.vmap(vin, vax)
                except NotImplementedError:
                    res, res_axes = loop_rule(n, vin, vax, size)
            for s, r, a in zip(list(n._siblings) if n._prim.multi else [n], res, res_axes):
                batched[id(s)] = (r, a)
        results = []
        for o, oa in zip(out_leaves, oaxes):
            r, a = batched.get(id(o), (o, None))
            if a is None:
                r = broadcast_to(expand_dims(r, 0), (size, *r.shape))
                # MLX reads a None output axis as "the last axis" for an unmapped output.
                results.append(moveaxis(r, 0, -1) if oa is None else moveaxis(r, 0, oa))
                continue
            if oa is None:
                raise ValueError(f"[vmap] Axis -1 invalid for output with {r.ndim} dimensions.")
            results.append(moveaxis(r, a, oa) if a != oa else r)
        return _refill(outs, results)

    return wrapped
