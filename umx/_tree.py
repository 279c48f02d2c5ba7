"""Trees of arrays (nested lists, tuples and dicts): flatten and rebuild."""

from __future__ import annotations

from ._array import array


def tree_flatten(tree, is_leaf=None) -> tuple[list, object]:
    """Leaves in order, and a structure to rebuild the tree with other leaves."""
    leaves: list = []

    def walk(t):
        if is_leaf is not None and is_leaf(t):
            leaves.append(t)
            return ("leaf",)
        if isinstance(t, (list, tuple)):
            return (type(t), [walk(x) for x in t])
        if isinstance(t, dict):
            return (dict, [(k, walk(v)) for k, v in t.items()])
        leaves.append(t)
        return ("leaf",)

    return leaves, walk(tree)


def tree_unflatten(structure, leaves) -> object:
    it = iter(leaves)

    def build(s):
        if s[0] == "leaf":
            return next(it)
        kind, children = s
        if kind is dict:
            return {k: build(v) for k, v in children}
        items = [build(c) for c in children]
        if kind is list:
            return items
        return kind(*items) if hasattr(kind, "_fields") else kind(items)  # named tuples too

    return build(structure)


def tree_map(f, tree):
    """``tree`` with each leaf ``x`` replaced by ``f(x)`` (lists, tuples, named tuples and
    dicts rebuilt), leaves visited in ``tree_flatten``'s order."""
    if isinstance(tree, list):
        return [tree_map(f, t) for t in tree]
    if isinstance(tree, tuple):
        items = [tree_map(f, t) for t in tree]
        return type(tree)(*items) if hasattr(tree, "_fields") else type(tree)(items)
    if isinstance(tree, dict):
        return {k: tree_map(f, v) for k, v in tree.items()}
    return f(tree)


def check_array_leaves(leaves, op: str) -> None:
    for x in leaves:
        if not isinstance(x, array):
            raise ValueError(
                f"[{op}] The argument should contain only arrays, got {type(x).__name__}."
            )
