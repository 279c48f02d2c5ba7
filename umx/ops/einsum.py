"""Einstein summation: einsum and einsum_path (subscript parsing, path planning).

Contractions go to ``xp.einsum`` with greedy path optimisation; the half-precision
types are computed in float32 and cast back, as in the matrix products.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from .. import _dtypes as dt
from .._array import array, as_array, node
from .._device import resolve_stream
from .._primitive import Primitive
from ._util import broadcast_shapes, fmt_shape
from .linalg import _inexact_error, _sum_dtype, _wide
from .unary import cast

_PROMOTE = dt._PROMOTE


@lru_cache(maxsize=1024)
def _einsum_parse(subscripts: str, shapes: tuple):
    """Validate ``subscripts`` for operands of ``shapes``: returns the explicit equation,
    the output shape, per-operand broadcast targets (or None), and the sets of summed
    labels and of labels contracted across operands."""
    s = subscripts.replace(" ", "")
    if "->" in s:
        lhs, out = s.split("->", 1)
        explicit = True
    else:
        lhs, out, explicit = s, "", False
    ins = lhs.split(",")
    if len(ins) != len(shapes):
        raise ValueError(
            f"[einsum] Number of operands, {len(shapes)}, does not match number of input "
            f"subscripts, {len(ins)}"
        )
    sizes: dict = {}
    ell = ()
    parsed = []
    any_ell = False
    for k, (sub, shp) in enumerate(zip(ins, shapes)):
        if "..." in sub:
            any_ell = True
            pre, post = sub.split("...", 1)
            if "." in post or len(pre) + len(post) > len(shp):
                raise ValueError(
                    f"[einsum] Invalid subscripts {sub!r} for input {k} with {len(shp)} dimensions."
                )
            e = shp[len(pre) : len(shp) - len(post)]
            ell = broadcast_shapes(ell, e, op="einsum")
            labels = [(c, i) for i, c in enumerate(pre)]
            labels += [(c, len(shp) - len(post) + i) for i, c in enumerate(post)]
        else:
            if len(sub) != len(shp):
                raise ValueError(
                    f"[einsum] Invalid number of subscripts {len(sub)} for input {k} with {len(shp)} dimensions."
                )
            labels = list(zip(sub, range(len(shp))))
        local: dict = {}
        for c, i in labels:
            if not c.isalpha():
                raise ValueError(f"[einsum] Invalid character {c!r} in subscripts.")
            n = shp[i]
            if c in local and local[c] != n:
                raise ValueError(
                    f"[einsum] Dimensions of repeated subscripts do not have the same size ({local[c]} != {n})."
                )
            local[c] = n
        for c, i in labels:
            n = shp[i]
            cur = sizes.get(c)
            if cur is None or cur == 1:
                sizes[c] = n
            elif n != 1 and n != cur:
                raise ValueError(
                    f"[einsum] Cannot broadcast dimension {i} of input {k} with shape {fmt_shape(shp)} to size {cur}."
                )
        parsed.append((sub, labels, "..." in sub))
    counts: dict = {}
    for _sub, labels, _ in parsed:
        for c in {c for c, _ in labels}:
            counts[c] = counts.get(c, 0) + 1
    if explicit:
        letters = out.replace("...", "")
        if len(set(letters)) != len(letters):
            raise ValueError("[einsum] Repeat indices not allowed in output.")
        for c in letters:
            if c not in sizes:
                raise ValueError(f"[einsum] Output subscript {c!r} does not appear in the inputs.")
        if "..." not in out and any(ell):
            raise ValueError("[einsum] Output must keep the broadcast (ellipsis) dimensions.")
    else:
        once = sorted(
            c for c in sizes if sum(sub.replace("...", "").count(c) for sub, _, _ in parsed) == 1
        )
        out = ("..." if any_ell else "") + "".join(once)
    shape = []
    pre, _, post = out.partition("...")
    shape = [sizes[c] for c in pre]
    if "..." in out:
        shape += list(ell)
    shape += [sizes[c] for c in post]
    out_labels = set(out.replace("...", ""))
    summed = {c for c in sizes if c not in out_labels}
    contracted = {c for c in summed if counts[c] > 1}
    targets = []
    for (sub, _labels, has_ell), shp in zip(parsed, shapes):
        if has_ell:
            p, _, q = sub.partition("...")
            tgt = tuple(sizes[c] for c in p) + ell + tuple(sizes[c] for c in q)
        else:
            tgt = tuple(sizes[c] for c in sub)
        targets.append(None if tgt == shp else tgt)
    eq = f"{lhs}->{out}"
    return eq, tuple(shape), tuple(targets), frozenset(summed), frozenset(contracted)


class Einsum(Primitive):
    __slots__ = ("equation", "targets")
    name = "einsum"

    def __init__(self, equation: str, targets: tuple) -> None:
        self.equation = equation
        self.targets = targets

    def eval(self, xp, *ops):
        d = ops[0].dtype
        ops = [x if t is None else xp.broadcast_to(x, t) for x, t in zip(ops, self.targets)]
        ops = [_wide(xp, x) for x in ops]
        if len(ops) > 1:
            out = xp.einsum(self.equation, *ops, optimize="greedy")
        else:
            out = xp.einsum(self.equation, *ops)
        return out.astype(d, copy=False)


def einsum(subscripts: str, *operands, stream=None) -> array:
    """Einstein summation over ``operands`` as described by ``subscripts``."""
    if not isinstance(subscripts, str):
        raise TypeError("[einsum] subscripts must be a string.")
    ops = [as_array(x, "einsum") for x in operands]
    s = resolve_stream(stream)
    eq, shape, targets, summed, contracted = _einsum_parse(subscripts, tuple(x._shape for x in ops))
    d = ops[0]._dtype if ops else dt.float32
    for x in ops[1:]:
        d = _PROMOTE[(d, x._dtype)]
    if contracted and d.kind not in "fc":
        raise _inexact_error("matmul", d, d, d)
    if summed:
        d = _sum_dtype(d)
    ops = tuple(cast(x, d, s) for x in ops)
    return node(Einsum(eq, targets), ops, shape, d, s)


def einsum_path(subscripts: str, *operands):
    """The contraction order einsum would use (greedy), and a short report."""
    ops = [as_array(x, "einsum_path") for x in operands]
    shapes = tuple(x._shape for x in ops)
    eq, shape, targets, _, _ = _einsum_parse(subscripts, shapes)
    # Zero-strided stand-ins: NumPy needs arrays but only reads their shapes.
    dummies = [np.broadcast_to(np.zeros((), np.float32), t or sh) for t, sh in zip(targets, shapes)]
    path, _ = np.einsum_path(eq, *dummies, optimize="greedy")
    steps = [tuple(int(i) for i in p) for p in path[1:]]
    return steps, _path_report(eq, [t or sh for t, sh in zip(targets, shapes)], steps)


def _flops(labels: set, sizes: dict, n_terms: int, inner: bool) -> int:
    size = 1
    for c in labels:
        size *= sizes[c]
    return size * (max(n_terms - 1, 1) + (1 if inner else 0))


def _path_report(eq: str, shapes, steps) -> str:
    lhs, out = eq.split("->")
    ins = lhs.split(",")
    if "..." in eq:  # the report counts only lettered dimensions
        ins = [x.replace("...", "") for x in ins]
        out = out.replace("...", "")
    sizes = {}
    for sub, shp in zip(ins, shapes):
        for c, n in zip(sub, shp[len(shp) - len(sub) :] if len(sub) < len(shp) else shp):
            sizes[c] = max(sizes.get(c, 1), n)
    all_labels = set("".join(ins))
    naive_inner = bool(all_labels - set(out))
    naive = _flops(all_labels, sizes, len(ins), naive_inner)
    terms = [set(x) for x in ins]
    opt = 0
    scaling = 0
    for step in steps:
        picked = [terms[i] for i in step]
        rest = [t for i, t in enumerate(terms) if i not in step]
        idx = set().union(*picked)
        keep = set(out).union(*rest) if rest else set(out)
        new = idx & keep
        opt += _flops(idx, sizes, len(step), bool(idx - new))
        scaling = max(scaling, len(idx))
        terms = rest + [new]
    return (
        f"  Complete contraction:  {eq}\n"
        f"         Naive scaling:  {len(all_labels)}\n"
        f"     Optimized scaling:  {scaling or len(all_labels)}\n"
        f"      Naive FLOP count:  {naive}\n"
        f"  Optimized FLOP count:  {opt or naive}\n"
    )


__all__ = ["einsum", "einsum_path"]
METHODS: dict = {}


# -- transform rules ---------------------------------------------------------------------------

import umx as mx  # noqa: E402 - the package, for the ops the rules are written with

from .._rules import move_to_front, sum_terms, unbroadcast  # noqa: E402
from .linalg import _cj  # noqa: E402

_FRESH = "ZYXWVUTSRQPONMLKJIHGFEDCBAzyxwvutsrqponmlkjihgfedcba"


def _einsum_explicit(equation: str, shapes) -> tuple:
    """Operand and output subscripts with ``...`` replaced by letters (the operands are
    broadcast to their targets, so each ellipsis spans the same dims)."""
    lhs, out = equation.split("->")
    ins = lhs.split(",")
    used = set(equation)
    fresh = [c for c in _FRESH if c not in used]
    e = 0
    for sub, shp in zip(ins, shapes):
        if "..." in sub:
            e = max(e, len(shp) - (len(sub) - 3))
    ell = "".join(fresh[:e])
    rest = fresh[e:]
    subs = []
    for sub, shp in zip(ins, shapes):
        if "..." in sub:
            k = len(shp) - (len(sub) - 3)
            sub = sub.replace("...", ell[e - k :])
        subs.append(sub)
    return subs, out.replace("...", ell), rest


def _einsum_vjp(self, primals, cotangents, argnums, outputs):
    shapes = [t or p.shape for t, p in zip(self.targets, primals)]
    subs, out, fresh = _einsum_explicit(self.equation, shapes)
    ops = [p if t is None else mx.broadcast_to(p, t) for p, t in zip(primals, self.targets)]
    c = cotangents[0]
    res = []
    for k in argnums:
        sub = subs[k]
        sizes = dict(zip(sub, shapes[k]))
        uniq = "".join(dict.fromkeys(sub))
        avail = set(out).union(*(subs[i] for i in range(len(ops)) if i != k))
        have = "".join(ch for ch in uniq if ch in avail)
        terms = [out] + [subs[i] for i in range(len(ops)) if i != k]
        args = [c] + [_cj(ops[i]) for i in range(len(ops)) if i != k]
        g = einsum(",".join(terms) + "->" + have, *args)
        if len(have) != len(uniq):  # labels summed within this operand only
            g = mx.expand_dims(g, [i for i, ch in enumerate(uniq) if ch not in avail])
            g = mx.broadcast_to(g, tuple(sizes[ch] for ch in uniq))
        if len(uniq) != len(sub):  # repeated labels: only the diagonal gets the gradient
            full, eyes, eye_ops, seen = [], [], [], set()
            fi = iter(fresh)
            for ch in sub:
                if ch in seen:
                    z = next(fi)
                    full.append(z)
                    eyes.append(ch + z)
                    eye_ops.append(mx.eye(sizes[ch], dtype=g.dtype))
                else:
                    seen.add(ch)
                    full.append(ch)
            g = einsum(",".join([uniq] + eyes) + "->" + "".join(full), g, *eye_ops)
        if self.targets[k] is not None:
            g = unbroadcast(g, primals[k].shape)
        res.append(g)
    return res


def _einsum_jvp(self, primals, tangents, argnums):
    terms = []
    for k, t in zip(argnums, tangents):
        ops = list(primals)
        ops[k] = t
        terms.append(einsum(self.equation, *ops))
    return [sum_terms(terms)]


def _einsum_vmap(self, inputs, axes):
    lhs, out = self.equation.split("->")
    z = next(c for c in _FRESH if c not in self.equation)
    subs = lhs.split(",")
    ops = []
    for i, (x, ax) in enumerate(zip(inputs, axes)):
        if ax is not None:
            subs[i] = z + subs[i]
            x = move_to_front(x, ax)
        ops.append(x)
    return [einsum(",".join(subs) + "->" + z + out, *ops)], [0]


Einsum.vjp = _einsum_vjp
Einsum.jvp = _einsum_jvp
Einsum.vmap = _einsum_vmap
