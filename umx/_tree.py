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
        return kind(items) if kind is not list else items

    return build(structure)


def tree_map(f, tree):
    leaves, s = tree_flatten(tree)
    return tree_unflatten(s, [f(x) for x in leaves])


def check_array_leaves(leaves, op: str) -> None:
    for x in leaves:
        if not isinstance(x, array):
            raise ValueError(
                f"[{op}] The argument should contain only arrays, got {type(x).__name__}."
            )
