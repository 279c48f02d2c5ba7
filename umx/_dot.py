"""``mx.export_to_dot``: the graph behind some arrays, in Graphviz DOT.

Arrays are ellipses labelled with a name (MLX's letters A, B, ... or the keyword given),
shape and dtype; ops are boxes filled with their stream's colour, labelled with the op's
name, static parameters and stream. Evaluated arrays are leaves, as in MLX.
"""

from __future__ import annotations

import os

from ._array import array
from ._eval import flatten_arrays

__all__ = ["export_to_dot"]

# Stream colours: light enough for black text.
_COLOURS = [
    "#a6cee3",
    "#fdbf6f",
    "#b2df8a",
    "#fb9a99",
    "#cab2d6",
    "#ffff99",
    "#8dd3c7",
    "#fccde5",
    "#d9d9d9",
    "#bebada",
]


def _letters(k: int) -> str:
    """0 -> A, 25 -> Z, 26 -> AA, ... (MLX's naming of unnamed arrays)."""
    s = ""
    k += 1
    while k:
        k, r = divmod(k - 1, 26)
        s = chr(65 + r) + s
    return s


def _q(s: str) -> str:
    return '"' + str(s).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _lane(stream) -> str:
    return f"{stream.device.type.name}:{stream.index}"


def export_to_dot(file, *args, **kwargs) -> None:
    """Write the graph of the unevaluated ancestors of ``args`` to ``file`` (a path or an
    object with ``write``) in DOT. Keyword arguments name arrays: ``x=x`` labels ``x``."""
    outputs = flatten_arrays(args, [])
    names = {}
    for k, v in kwargs.items():
        if not isinstance(v, array):
            raise ValueError(f"[export_to_dot] Expected an array for the name {k!r}.")
        names[id(v)] = k
    taken = set(names.values())
    ids: dict[int, str] = {}
    counter = [0]
    keep = []  # arrays seen (keeps their ids unique while we run)

    def arr_id(a) -> str:
        i = ids.get(id(a))
        if i is None:
            i = names.get(id(a))
            while i is None or (i in taken and id(a) not in names):
                i = _letters(counter[0])
                counter[0] += 1
            ids[id(a)] = i
            keep.append(a)
        return i

    # Walk: every unevaluated node reached from the outputs, inputs before consumers.
    order, seen = [], set()
    for o in outputs:
        stack = [(o, False)]
        while stack:
            n, done = stack.pop()
            if done:
                order.append(n)
                continue
            if id(n) in seen:
                continue
            seen.add(id(n))
            sib = getattr(n, "_siblings", None) if n._prim is not None and n._prim.multi else None
            for s in sib or ():
                seen.add(id(s))
            stack.append((n, True))
            if n._data is None and n._prim is not None:
                for i in reversed(n._inputs):
                    if id(i) not in seen:
                        stack.append((i, False))

    out_ids = {id(o) for o in outputs}
    streams: dict = {}
    lines = ["digraph {", "  rankdir=TB;", '  node [fontname="Helvetica", fontsize=10];']
    op_k = 0
    for n in order:
        leaf = n._data is not None or n._prim is None
        sib = getattr(n, "_siblings", None) if not leaf and n._prim.multi else None
        outs = list(sib) if sib else [n]
        if leaf:
            name = arr_id(n)
            bold = ", penwidth=2.5" if id(n) in out_ids else ""
            lines.append(
                f"  {{ rank=source; {_q(name)} [label={_q(_arr_label(name, n))}, shape=ellipse{bold}]; }}"
            )
            continue
        s = n._stream
        lane = _lane(s)
        colour = streams.setdefault(lane, _COLOURS[len(streams) % len(_COLOURS)])
        pid = f"op{op_k}"
        op_k += 1
        prim = n._prim
        label = prim.name
        p = prim.params()
        if p:
            label += "\n" + ", ".join(_short(v) for v in p)
        label += "\n" + lane
        lines.append(
            f'  {pid} [label={_q(label)}, shape=box, style="filled,rounded", fillcolor={_q(colour)}];'
        )
        for i in n._inputs:
            lines.append(f"  {_q(arr_id(i))} -> {pid};")
        for o in outs:
            name = arr_id(o)
            attrs = f"label={_q(_arr_label(name, o))}, shape=ellipse, color={_q(colour)}"
            if id(o) in out_ids:  # an output asked for: drawn bold
                attrs += ", penwidth=2.5"
            lines.append(f"  {_q(name)} [{attrs}];")
            lines.append(f"  {pid} -> {_q(name)};")
    if streams:
        lines.append("  subgraph cluster_streams {")
        lines.append('    label="streams"; fontsize=10; style=dashed;')
        for lane, colour in streams.items():
            lines.append(
                f"    {_q('stream ' + lane)} [label={_q(lane)}, shape=box, style=filled, fillcolor={_q(colour)}];"
            )
        lines.append("  }")
    lines.append("}")
    text = "\n".join(lines) + "\n"
    if isinstance(file, (str, os.PathLike)):
        with open(file, "w") as f:
            f.write(text)
    elif hasattr(file, "write"):
        file.write(text)
    else:
        raise TypeError(f"[export_to_dot] Expected a file path or a writable object, got {file!r}.")


def _arr_label(name: str, a) -> str:
    shape = "(" + ", ".join(str(k) for k in a._shape) + ("," if len(a._shape) == 1 else "") + ")"
    return f"{name}\n{shape} {a._dtype.name}"


def _short(v) -> str:
    r = repr(v)
    return r if len(r) <= 40 else r[:37] + "..."
