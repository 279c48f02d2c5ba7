"""vmap: trace the function on one slice of each mapped input, then replay the traced graph
on the whole batch with each primitive's vmap rule (or, where a primitive has none, by
looping over the batch and stacking)."""

from __future__ import annotations

from contextlib import contextmanager

from . import _device, _eval
from ._array import array, node
from ._autodiff import graph_order, on_stream
from ._primitive import Primitive
from ._tree import tree_flatten, tree_unflatten


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


def _axes_for(args, in_axes) -> list:
    """Per-leaf mapped axes: ``in_axes`` is an int / None or a prefix tree of ``args``."""
    if in_axes is None or isinstance(in_axes, int):
        return [in_axes] * len(tree_flatten(args)[0])
    if isinstance(in_axes, (list, tuple)) and len(in_axes) != len(args) and isinstance(args, tuple):
        raise ValueError(
            f"[vmap] The number of in_axes ({len(in_axes)}) must match the number of "
            f"arguments ({len(args)})."
        )
    out = []
    if isinstance(in_axes, dict):
        for k, v in args.items():
            out.extend(_axes_for(v, in_axes[k]))
        return out
    for a, ax in zip(args, in_axes):
        if isinstance(a, (list, tuple, dict)) and not isinstance(ax, (list, tuple, dict)):
            out.extend(_axes_for(a, ax))
        elif isinstance(a, (list, tuple, dict)):
            out.extend(_axes_for(a, ax))
        else:
            if ax is not None and not isinstance(ax, int):
                raise ValueError("[vmap] axis must be int or None.")
            out.append(ax)
    return out


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
    """Vectorise ``fun`` over the ``in_axes`` of its arguments; outputs stack on ``out_axes``."""

    def wrapped(*args):
        from .ops.shape import broadcast_to, expand_dims, moveaxis

        leaves, struct = tree_flatten(args)
        axes = _axes_for(args, in_axes if not isinstance(in_axes, list) else tuple(in_axes))
        size = None
        placeholders = []
        batched = {}
        for x, ax in zip(leaves, axes):
            if ax is None or not isinstance(x, array):
                if ax is not None:
                    raise ValueError(
                        f"[vmap] Mapped argument of type {type(x).__name__} is not an array."
                    )
                placeholders.append(x)
                continue
            if not -x.ndim <= ax < x.ndim:
                raise ValueError(
                    f"[vmap] Axis {ax} is out of bounds for array with {x.ndim} dimensions."
                )
            ax = ax % x.ndim
            if size is None:
                size = x._shape[ax]
            elif x._shape[ax] != size:
                raise ValueError(f"[vmap] Inconsistent axis sizes: {size} and {x._shape[ax]}.")
            shape = x._shape[:ax] + x._shape[ax + 1 :]
            p = node(VmapSlice(ax), (x,), shape, x._dtype, x._stream or _device.current_stream())
            placeholders.append(p)
            batched[id(p)] = (x, ax)
        if size is None:
            raise ValueError("[vmap] At least one argument must be mapped.")
        with _vmap_tracing():
            outs = fun(*tree_unflatten(struct, placeholders))
        out_leaves, out_struct = tree_flatten(outs)
        for o in out_leaves:
            if not isinstance(o, array):
                raise ValueError("[vmap] The function must return arrays or trees of arrays.")
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
        oaxes = (
            [out_axes] * len(out_leaves)
            if not isinstance(out_axes, (list, tuple))
            else list(out_axes)
        )
        if len(oaxes) != len(out_leaves):
            raise ValueError("[vmap] out_axes must match the number of outputs.")
        results = []
        for o, oa in zip(out_leaves, oaxes):
            if id(o) in batched:
                r, a = batched[id(o)]
                if a is None:
                    r = broadcast_to(expand_dims(r, 0), (size, *r.shape))
                    a = 0
            else:
                r = broadcast_to(expand_dims(o, 0), (size, *o.shape))
                a = 0
            if oa is None:
                raise ValueError("[vmap] Cannot use None as an output axis of a mapped output.")
            results.append(moveaxis(r, a, oa) if a != oa % r.ndim else r)
        return tree_unflatten(out_struct, results)

    return wrapped
