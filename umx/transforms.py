"""Function transforms: grad, value_and_grad, vjp, jvp, vmap, custom_function, checkpoint."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence

from ._array import array
from ._autodiff import _stream_of, backprop, forward, identity, on_stream, retain_graph
from ._primitive import Primitive, multi_node
from ._tree import check_array_leaves, tree_flatten, tree_unflatten
from ._vmap import vmap
from .ops._util import fmt_shape

__all__ = ["grad", "value_and_grad", "vjp", "jvp", "vmap", "custom_function", "checkpoint"]


def _as_list(x, op, error=ValueError):
    if isinstance(x, array):
        return [x]
    if isinstance(x, (list, tuple)):
        for a in x:
            if not isinstance(a, array):
                raise error(f"[{op}] Expected arrays, got {type(a).__name__}.")
        return list(x)
    raise error(f"[{op}] Expected an array or a list of arrays, got {type(x).__name__}.")


def _trace(fun, primals, op):
    wrapped = [identity(p) for p in primals]
    with retain_graph(transform=True):
        outs = fun(*wrapped)
    return wrapped, outs


def vjp(fun: Callable, primals: Sequence[array], cotangents: Sequence[array]):
    """Outputs of ``fun(*primals)`` and the vector-Jacobian products with ``cotangents``."""
    # Arguments that are not lists of arrays are a TypeError, as MLX's typed signature.
    primals = _as_list(primals, "vjp", TypeError)
    cotangents = _as_list(cotangents, "vjp", TypeError)
    wrapped, outs = _trace(fun, primals, "vjp")
    outs = _as_list(outs, "vjp")
    # As MLX: extra cotangents are ignored, too few is an error.
    if len(outs) > len(cotangents):
        raise ValueError(
            f"[vjp] Number of outputs to compute gradients for ({len(outs)}) does not match "
            f"number of cotangents ({len(cotangents)})."
        )
    for o, c in zip(outs, cotangents):
        if o.shape != c.shape:
            raise ValueError(
                f"[vjp] Output shape {fmt_shape(o.shape)} does not match cotangent shape {fmt_shape(c.shape)}."
            )
    # Each cotangent is taken in its output's dtype (MLX), so the vjps have the primals' dtypes.
    cotangents = [c if c.dtype == o.dtype else c.astype(o.dtype) for o, c in zip(outs, cotangents)]
    grads = backprop(outs, cotangents, wrapped)
    return outs, [_zeros(p) if g is None else g for p, g in zip(primals, grads)]


def jvp(fun: Callable, primals: Sequence[array], tangents: Sequence[array]):
    """Outputs of ``fun(*primals)`` and the Jacobian-vector products with ``tangents``."""
    primals = _as_list(primals, "jvp", TypeError)
    tangents = _as_list(tangents, "jvp", TypeError)
    if len(primals) != len(tangents):
        raise ValueError("[jvp] Number of inputs does not match number of tangents.")
    for p, t in zip(primals, tangents):
        if p.shape != t.shape:
            raise ValueError("[jvp] Input shape does not match shape of tangent.")
    wrapped, outs = _trace(fun, primals, "jvp")
    outs = _as_list(outs, "jvp")
    return outs, forward(outs, wrapped, tangents)


def _zeros(x):
    from .ops.creation import zeros_like

    return zeros_like(x)


def _grad_spec(argnums, argnames, op: str) -> tuple[tuple, tuple]:
    """Check ``argnums`` / ``argnames`` when the transform is made (as MLX)."""
    if isinstance(argnames, str):
        argnames = (argnames,)
    if not isinstance(argnames, (list, tuple)) or not all(isinstance(n, str) for n in argnames):
        raise TypeError(f"{op}(): argnames must be a string or a sequence of strings.")
    argnames = tuple(argnames)
    if argnums is None:
        nums = () if argnames else (0,)
    elif isinstance(argnums, int):
        nums = (argnums,)
    elif isinstance(argnums, (list, tuple)) and all(isinstance(k, int) for k in argnums):
        nums = tuple(argnums)
    else:
        raise TypeError(f"{op}(): argnums must be an int, a sequence of ints or None.")
    for k in nums:
        if k < 0:
            raise ValueError(f"[{op}] Can't compute the gradient of negative argument index {k}")
    seen = set()
    for k in nums:
        if k in seen:
            raise ValueError(f"[{op}] Duplicate argument index {k} is not allowed.")
        seen.add(k)
    if not nums and not argnames:
        raise ValueError(f"[{op}] Gradient wrt no argument requested")
    # MLX returns the gradients in argument order, whatever the order of argnums.
    return tuple(sorted(nums)), argnames


def _loss_of(value, op: str) -> array:
    """The scalar to differentiate: ``grad`` takes an array only, ``value_and_grad`` also a
    non-empty tuple whose first element is the array (MLX's rule and messages)."""
    head = "The return value of the function whose gradient we want to compute should be"
    if op == "grad":
        if not isinstance(value, array):
            raise ValueError(
                f"[grad] {head} a scalar array; but {type(value).__name__} was returned."
            )
        loss = value
    elif isinstance(value, array):
        loss = value
    elif isinstance(value, tuple) and not value:
        raise ValueError(
            f"[{op}] {head} either a scalar array or a non-empty tuple. The first value should "
            "be a scalar array and the rest can be anything. Instead, we got an empty tuple."
        )
    else:
        union = "(Union[array, tuple[array, Any, ...]])"
        lead = f"[{op}] {head} either a scalar array or a tuple with the first value being a scalar array {union}; but "
        if not isinstance(value, tuple):
            raise ValueError(lead + f"{type(value).__name__} was returned.")
        if not isinstance(value[0], array):
            raise ValueError(
                lead
                + f"it was a tuple with the first value being of type {type(value[0]).__name__} ."
            )
        loss = value[0]
    if loss.ndim != 0:
        hint = (
            " If you are using grad your function must return a scalar." if loss.size == 1 else ""
        )
        raise ValueError(
            f"[vjp] Output shape {fmt_shape(loss.shape)} does not match cotangent shape ().{hint}"
        )
    return loss


def _value_and_grad(fun: Callable, argnums, argnames, op: str):
    nums, argnames = _grad_spec(argnums, argnames, op)

    @functools.wraps(fun)
    def wrapped(*args, **kwargs):
        for k in nums:
            if k >= len(args):
                raise ValueError(
                    f"[{op}] Can't compute the gradient of argument index {k} because the "
                    f"function is called with only {len(args)} positional arguments."
                )
        for name in argnames:
            if name not in kwargs:
                passed = "".join(f"{k}," for k in kwargs)
                raise ValueError(
                    f"[{op}] Can't compute the gradient of keyword argument '{name}' because "
                    f"the function is called with the following keyword arguments {{{passed}}}"
                )
        pos = list(nums)
        targets = [args[k] for k in pos] + [kwargs[n] for n in argnames]
        flat, structs = [], []
        for t in targets:
            leaves, s = tree_flatten(t)
            check_array_leaves(leaves, "tree_flatten")
            flat.append(leaves)
            structs.append(s)
        primals = [x for leaves in flat for x in leaves]
        wrapped_leaves = [identity(x) for x in primals]
        it = iter(wrapped_leaves)
        new_args = list(args)
        new_kwargs = dict(kwargs)
        for k, leaves, s in zip(pos, flat, structs[: len(pos)]):
            new_args[k] = tree_unflatten(s, [next(it) for _ in leaves])
        for n, leaves, s in zip(argnames, flat[len(pos) :], structs[len(pos) :]):
            new_kwargs[n] = tree_unflatten(s, [next(it) for _ in leaves])
        with retain_graph(transform=True):
            value = fun(*new_args, **new_kwargs)
        loss = _loss_of(value, op)
        from .ops.creation import ones_like

        with on_stream(loss._stream):
            seed = ones_like(loss)
        grads = backprop([loss], [seed], wrapped_leaves)
        grads = [_zeros(p) if g is None else g for p, g in zip(primals, grads)]
        it = iter(grads)
        trees = [tree_unflatten(s, [next(it) for _ in leaves]) for leaves, s in zip(flat, structs)]
        pos_trees = trees[: len(pos)]
        # As MLX: one positional argument's gradient alone (argnums=0 or (0,)), several as
        # a tuple, none as None; with argnames, (that, {name: gradient}).
        g = pos_trees[0] if len(pos_trees) == 1 else tuple(pos_trees) or None
        if argnames:
            g = (g, dict(zip(argnames, trees[len(pos) :])))
        return value, g

    return wrapped


def value_and_grad(
    fun: Callable, argnums: int | Sequence[int] | None = None, argnames: str | Sequence[str] = ()
):
    """A function returning ``(fun(*args), gradient)`` with respect to ``argnums`` / ``argnames``.

    ``fun`` returns a scalar array, or a tuple whose first element is the scalar to
    differentiate. Arguments may be trees (lists, tuples, dicts) of arrays.
    """
    return _value_and_grad(fun, argnums, argnames, "value_and_grad")


def grad(
    fun: Callable, argnums: int | Sequence[int] | None = None, argnames: str | Sequence[str] = ()
):
    """A function returning the gradient of ``fun``, which returns a scalar array (see
    ``value_and_grad`` for ``argnums`` / ``argnames``)."""
    vg = _value_and_grad(fun, argnums, argnames, "grad")

    @functools.wraps(fun)
    def wrapped(*args, **kwargs):
        return vg(*args, **kwargs)[1]

    return wrapped


class _Custom(Primitive):
    """A node computed by a user function, with user-given transform rules.

    Its inputs are the primals followed by the outputs of the traced function; eval passes
    those outputs through, so the forward graph is the function's own.
    """

    __slots__ = ("cf", "n_primals")
    name = "custom_function"
    multi = True

    def __init__(self, cf, n_primals: int) -> None:
        self.cf, self.n_primals = cf, n_primals

    def eval(self, xp, *inputs):
        return tuple(inputs[self.n_primals :])

    def _unpack(self, primals):
        return primals[: self.n_primals]

    def vjp(self, primals, cotangents, argnums, outputs):
        ps = self._unpack(primals)
        if self.cf._vjp is None:
            _, g = vjp(self.cf._fun, ps, list(cotangents))
        else:
            cot = cotangents if self.cf._multi_out else cotangents[0]
            outs = outputs if self.cf._multi_out else outputs[0]
            g = self.cf._vjp(ps if len(ps) > 1 else ps[0], cot, outs)
            g = list(g) if isinstance(g, (list, tuple)) else [g]
            if len(ps) == 1 and len(g) != 1:
                g = [g]
        return [g[k] if k < self.n_primals else None for k in argnums]

    def jvp(self, primals, tangents, argnums):
        ps = self._unpack(primals)
        tans = [None] * len(ps)
        for k, t in zip(argnums, tangents):
            if k < self.n_primals:
                tans[k] = t
        tans = [_zeros(p) if t is None else t for p, t in zip(ps, tans)]
        if self.cf._jvp is None:
            return jvp(self.cf._fun, ps, tans)[1]
        # As MLX: a function of one argument gets its primal and tangent alone, not in lists.
        out = self.cf._jvp(*((ps, tans) if len(ps) > 1 else (ps[0], tans[0])))
        return list(out) if isinstance(out, (list, tuple)) else [out]

    def vmap(self, inputs, axes):
        ps, ax = inputs[: self.n_primals], axes[: self.n_primals]
        if self.cf._vmap is None:
            outs = vmap(self.cf._fun, in_axes=tuple(ax))(*ps)
            outs = _as_list(outs, "vmap")
            return outs, [0] * len(outs)
        outs, oax = self.cf._vmap(*((ps, ax) if len(ps) > 1 else (ps[0], ax[0])))
        if isinstance(outs, array):
            return [outs], [oax]
        return list(outs), list(oax)


class custom_function:
    """Wrap ``f`` so its vjp, jvp and vmap can be given with the ``.vjp``, ``.jvp`` and
    ``.vmap`` decorators; transforms without a custom rule fall back to tracing ``f``."""

    def __init__(self, f: Callable) -> None:
        functools.update_wrapper(self, f)
        self._fun = f
        self._vjp = self._jvp = self._vmap = None
        self._multi_out = False

    def vjp(self, f: Callable) -> Callable:
        self._vjp = f
        return f

    def jvp(self, f: Callable) -> Callable:
        self._jvp = f
        return f

    def vmap(self, f: Callable) -> Callable:
        self._vmap = f
        return f

    def __call__(self, *args):
        primals = _as_list(list(args), "custom_function")
        with retain_graph():
            outs = self._fun(*primals)
        single = isinstance(outs, array)
        outs_l = _as_list(outs, "custom_function")
        self._multi_out = not single
        nodes = multi_node(
            _Custom(self, len(primals)), tuple(primals) + tuple(outs_l),
            [o.shape for o in outs_l], [o.dtype for o in outs_l], _stream_of(outs_l),
        )  # fmt: skip
        return nodes[0] if single else (tuple(nodes) if isinstance(outs, tuple) else nodes)


def checkpoint(fun: Callable) -> Callable:
    """``fun`` whose intermediate results are recomputed in the backward pass rather than
    kept alive from the forward pass."""
    cf = custom_function(fun)

    @cf.vjp
    def _recompute(primals, cotangents, outputs):
        ps = list(primals) if isinstance(primals, (list, tuple)) and len(primals) > 1 else [primals]
        cots = list(cotangents) if isinstance(cotangents, (list, tuple)) else [cotangents]
        return vjp(fun, ps, cots)[1]

    @functools.wraps(fun)
    def wrapped(*args):
        return cf(*args)

    return wrapped
