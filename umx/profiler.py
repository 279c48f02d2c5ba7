"""See it run: ``mx.profile`` records a per-stream timeline; this module also draws it.

    with mx.profile("run.json"):
        mx.eval(fun(a, b, s1, s2))

writes a Chrome trace-event file (open it in https://ui.perfetto.dev or chrome://tracing):
one lane per stream ("cpu:0", "gpu:1", ...), one slice per op evaluated (its name, stream,
device, start, duration, input and output shapes, dtypes and bytes), a "wait" slice where a
stream waited for another, and an arrow from each producer to its consumer on another stream.

    python -m umx.profiler run.json -o run.png

draws the timeline with matplotlib (``pip install 'umx[plot]'``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from ._trace import profile

__all__ = ["profile", "load", "render", "summary", "main"]


# -- reading a trace back -------------------------------------------------------------------


def load(src) -> dict:
    """A trace as ``{"lanes": [names], "ops": [...], "waits": [...], "flows": [...]}``.

    ``src``: a path, a trace document (dict) or a list of events. Times are in microseconds.
    """
    if isinstance(src, (str, os.PathLike)):
        with open(src) as f:
            src = json.load(f)
    events = src["traceEvents"] if isinstance(src, dict) else src
    names, sort = {}, {}
    for e in events:
        if e.get("ph") == "M" and e.get("name") == "thread_name":
            names[(e.get("pid"), e.get("tid"))] = e["args"]["name"]
        elif e.get("ph") == "M" and e.get("name") == "thread_sort_index":
            sort[(e.get("pid"), e.get("tid"))] = e["args"]["sort_index"]
    lanes: dict = {}

    def lane(e):
        key = (e.get("pid"), e.get("tid"))
        if key not in lanes:
            lanes[key] = names.get(key, f"{key[0]}:{key[1]}")
        return lanes[key]

    ops, waits, starts, ends = [], [], {}, {}
    for e in events:
        ph = e.get("ph")
        if ph == "X":
            rec = {
                "lane": lane(e),
                "name": e.get("name", "?"),
                "kind": e.get("cat", "op"),
                "ts": float(e["ts"]),
                "dur": float(e.get("dur", 0.0)),
                "args": e.get("args", {}),
            }
            (waits if rec["kind"] == "wait" else ops).append(rec)
        elif ph == "s":
            starts[e["id"]] = (lane(e), float(e["ts"]))
        elif ph == "f":
            ends[e["id"]] = (lane(e), float(e["ts"]))
    flows = [(starts[k], ends[k]) for k in starts if k in ends]
    order = sorted(lanes, key=lambda k: (sort.get(k, 1 << 30), k[0] or 0, k[1] or 0))
    return {"lanes": [lanes[k] for k in order], "ops": ops, "waits": waits, "flows": flows}


def _busy(intervals) -> float:
    """Total length of the union of (start, end) intervals."""
    total, cur_s, cur_e = 0.0, None, None
    for s, e in sorted(intervals):
        if cur_e is None or s > cur_e:
            if cur_e is not None:
                total += cur_e - cur_s
            cur_s, cur_e = s, e
        else:
            cur_e = max(cur_e, e)
    if cur_e is not None:
        total += cur_e - cur_s
    return total


def summary(trace) -> str:
    """A text table per lane: ops, busy and waiting time, first and last op (ms)."""
    t = trace if isinstance(trace, dict) and "lanes" in trace else load(trace)
    if not t["ops"]:
        return "no ops recorded"
    t0 = min(o["ts"] for o in t["ops"])
    rows = [("lane", "ops", "busy ms", "wait ms", "from ms", "to ms")]
    for ln in t["lanes"]:
        ops = [o for o in t["ops"] if o["lane"] == ln]
        ws = [w for w in t["waits"] if w["lane"] == ln]
        if not ops and not ws:
            continue
        busy = _busy([(o["ts"], o["ts"] + o["dur"]) for o in ops])
        wait = sum(w["dur"] for w in ws)
        first = min((o["ts"] for o in ops), default=t0)
        last = max((o["ts"] + o["dur"] for o in ops), default=t0)
        rows.append(
            (
                ln,
                str(len(ops)),
                f"{busy / 1e3:.3f}",
                f"{wait / 1e3:.3f}",
                f"{(first - t0) / 1e3:.3f}",
                f"{(last - t0) / 1e3:.3f}",
            )
        )
    w = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    fmt = lambda r: "  ".join(c.ljust(w[i]) if i == 0 else c.rjust(w[i]) for i, c in enumerate(r))  # noqa: E731
    return "\n".join([fmt(rows[0]), fmt(["-" * k for k in w])] + [fmt(r) for r in rows[1:]])


# -- drawing ----------------------------------------------------------------------------------

_MISSING = (
    "umx.profiler: drawing a timeline needs matplotlib, which is not installed.\n"
    "Install it with:  pip install 'umx[plot]'   (or: pip install matplotlib)"
)


def render(trace, out, title: str | None = None, width: float = 12.0, dpi: int = 150) -> None:
    """Draw ``trace`` (a path, trace document or event list) as a PNG timeline at ``out``:
    a lane per stream, ops as bars coloured by kind, waits hatched, arrows for cross-stream
    dependencies, a time axis in milliseconds and a legend. Needs matplotlib."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
        from matplotlib.patches import Patch
    except ImportError as exc:
        raise ImportError(_MISSING) from exc

    t = load(trace) if not (isinstance(trace, dict) and "lanes" in trace) else trace
    lanes = t["lanes"]
    ops, waits = t["ops"], t["waits"]
    every = [o["ts"] for o in ops] + [w["ts"] for w in waits]
    t0 = min(every) if every else 0.0
    t1 = max([o["ts"] + o["dur"] for o in ops] + [w["ts"] + w["dur"] for w in waits] or [1.0])
    span_ms = max((t1 - t0) / 1e3, 1e-6)

    fig = Figure(figsize=(width, 1.6 + 0.55 * max(len(lanes), 1)), dpi=dpi)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    row = {ln: k for k, ln in enumerate(lanes)}
    # Bars narrower than about a pixel are widened to one, so that short ops stay visible.
    min_w = span_ms / (width * dpi * 0.8)
    kinds = sorted({o["kind"] for o in ops})
    colour = _colours(kinds)
    h = 0.6
    for k in kinds:
        for ln in lanes:
            bars = [
                ((o["ts"] - t0) / 1e3, max(o["dur"] / 1e3, min_w))
                for o in ops
                if o["kind"] == k and o["lane"] == ln
            ]
            if bars:
                ax.broken_barh(bars, (row[ln] - h / 2, h), facecolors=colour[k], linewidth=0)
    for ln in lanes:
        bars = [
            ((w["ts"] - t0) / 1e3, max(w["dur"] / 1e3, min_w)) for w in waits if w["lane"] == ln
        ]
        if bars:
            ax.broken_barh(
                bars,
                (row[ln] - h / 2, h),
                facecolors="none",
                edgecolors="0.45",
                hatch="////",
                linewidth=0.5,
            )
    flows = t["flows"]
    for (la, ta), (lb, tb) in flows[:300]:
        ax.annotate(
            "",
            xy=((tb - t0) / 1e3, row[lb]),
            xytext=((ta - t0) / 1e3, row[la]),
            arrowprops={"arrowstyle": "->", "color": "0.2", "lw": 0.8},
        )
    # Names of the longest ops, where they fit.
    for o in sorted(ops, key=lambda o: -o["dur"])[:12]:
        if o["dur"] / 1e3 > span_ms * 0.06:
            ax.text(
                (o["ts"] - t0 + o["dur"] / 2) / 1e3,
                row[o["lane"]],
                o["name"],
                ha="center",
                va="center",
                fontsize=8,
                color="white",
                clip_on=True,
            )
    ax.set_yticks(range(len(lanes)))
    ax.set_yticklabels(lanes)
    ax.set_ylim(len(lanes) - 0.5, -0.5)
    ax.set_xlim(0, span_ms * 1.01)
    ax.set_xlabel("time (ms)")
    ax.grid(axis="x", color="0.9", linewidth=0.6)
    ax.set_axisbelow(True)
    handles = [Patch(facecolor=colour[k], label=k) for k in kinds]
    if waits:
        handles.append(Patch(facecolor="none", edgecolor="0.45", hatch="////", label="wait"))
    if handles:
        ax.legend(
            handles=handles,
            loc="upper left",
            bbox_to_anchor=(1.01, 1.0),
            fontsize=8,
            frameon=False,
            title="op kind",
            title_fontsize=8,
        )
    n = len(ops)
    ax.set_title(title or f"umx timeline: {n} ops on {len(lanes)} streams, {span_ms:.2f} ms")
    fig.tight_layout()
    fig.savefig(out)


# Fixed colours for the op families, so that pictures compare; other kinds take the rest.
_KIND_COLOURS = {
    "unary": "#f28e2b",
    "binary": "#4e79a7",
    "linalg": "#59a14f",
    "reduce": "#e15759",
    "shape": "#76b7b2",
    "index": "#edc948",
    "scatter": "#f1ce63",
    "join": "#499894",
    "einsum": "#8cd17d",
    "creation": "#b07aa1",
    "random": "#ff9da7",
    "sort": "#9c755f",
    "scan": "#86bcb6",
    "select": "#d37295",
    "composite": "#a0cbe8",
}
_SPARE = ["#b6992d", "#fabfd2", "#d4a6c8", "#79706e", "#bab0ac"]


def _colours(kinds) -> dict:
    out, k = {}, 0
    for kind in kinds:
        c = _KIND_COLOURS.get(kind)
        if c is None:
            c = _SPARE[k % len(_SPARE)]
            k += 1
        out[kind] = c
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m umx.profiler",
        description="Draw a umx profile (Chrome trace JSON written by mx.profile) as a PNG.",
    )
    p.add_argument("trace", help="the JSON file written by mx.profile")
    p.add_argument("-o", "--output", help="the PNG to write (default: the trace's name, .png)")
    p.add_argument("--title", help="the figure's title")
    p.add_argument("--width", type=float, default=12.0, help="figure width in inches")
    a = p.parse_args(argv)
    out = a.output or os.path.splitext(a.trace)[0] + ".png"
    try:
        t = load(a.trace)
    except (OSError, ValueError, KeyError) as exc:
        print(f"umx.profiler: cannot read {a.trace}: {exc}", file=sys.stderr)
        return 2
    print(summary(t))
    try:
        render(t, out, title=a.title, width=a.width)
    except ImportError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
