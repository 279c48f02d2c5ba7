"""mx.profile (Chrome trace per stream), the PNG timeline, and mx.export_to_dot."""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys

import numpy as np
import pytest

import umx as mx
from umx import _trace
from umx.profiler import load, main, render, summary


def _lane(s) -> str:
    return f"cpu:{s.index}"


def _ops(events, name=None):
    return [
        e
        for e in events
        if e.get("ph") == "X" and e["cat"] != "wait" and (name is None or e["name"] == name)
    ]


def _lanes(events) -> dict:
    return {
        e["tid"]: e["args"]["name"]
        for e in events
        if e.get("ph") == "M" and e["name"] == "thread_name"
    }


def _seed(a, b, d1, d2, n=500):
    x = mx.matmul(a, b, stream=d1)
    for _ in range(n):
        b = mx.exp(b, stream=d2)
    return x, b


@pytest.fixture
def seed_inputs(rng):
    a = mx.array(rng.random((4096, 512), dtype=np.float32))
    b = mx.array((rng.random((512, 4), dtype=np.float32) * 0.1).astype(np.float32))
    return a, b


def test_records_every_op_with_stream_device_shapes_and_bytes(tmp_path, rng):
    s = mx.new_stream(mx.cpu)
    x = mx.array(rng.random((3, 4), dtype=np.float32))
    y = mx.array(rng.random((4,), dtype=np.float32))
    path = tmp_path / "run.json"
    with mx.profile(str(path)) as p:
        z = mx.exp(mx.add(x, y, stream=s), stream=s)
        w = mx.sum(mx.transpose(z, (1, 0), stream=s), axis=1, stream=s)
        mx.eval(w)
    assert _trace.recorder is None
    doc = json.loads(path.read_text())
    assert doc["traceEvents"] == p.events
    ops = _ops(doc["traceEvents"])
    assert [o["name"] for o in ops] == ["add", "exp", "transpose", "sum"]
    lanes = _lanes(doc["traceEvents"])
    for o in ops:
        assert o["ph"] == "X" and o["pid"] == 1 and o["dur"] >= 0 and o["ts"] >= 0
        assert lanes[o["tid"]] == _lane(s) == o["args"]["stream"]
        assert o["args"]["device"] == "cpu:0"
    add, exp, tr, red = ops
    assert add["cat"] == "binary" and exp["cat"] == "unary" and red["cat"] == "reduce"
    assert tr["cat"] == "shape" and tr["args"]["params"] == "((1, 0),)"
    assert add["args"]["inputs"] == [
        {"shape": [3, 4], "dtype": "float32", "bytes": 48},
        {"shape": [4], "dtype": "float32", "bytes": 16},
    ]
    assert add["args"]["outputs"] == [{"shape": [3, 4], "dtype": "float32", "bytes": 48}]
    assert red["args"]["outputs"] == [{"shape": [4], "dtype": "float32", "bytes": 16}]
    # in order on the stream's lane, one after the other
    assert add["ts"] + add["dur"] <= exp["ts"] <= red["ts"]
    np.testing.assert_allclose(np.array(w), np.exp(np.array(x) + np.array(y)).sum(0), rtol=1e-5)


def test_nothing_recorded_outside_a_profile(rng):
    x = mx.array(rng.random((8,), dtype=np.float32))
    with mx.profile() as p:
        mx.eval(x + 1)
    n = len(p.events)
    mx.eval(mx.exp(x) * 2)  # after the block: not recorded
    assert len(p.events) == n
    assert _trace.recorder is None


def test_one_profile_at_a_time():
    with mx.profile():
        with pytest.raises(RuntimeError, match=r"\[profile\]"):
            with mx.profile():
                pass
    assert _trace.recorder is None
    with mx.profile() as p:  # usable again afterwards
        mx.eval(mx.array([1.0]) + 1)
    assert [o["name"] for o in _ops(p.events)] == ["add"]


def test_seed_example_two_cpu_streams_overlap(seed_inputs):
    """The matmul on one stream and the exp chain on another run at the same time."""
    a, b = seed_inputs
    s1, s2 = mx.new_stream(mx.cpu), mx.new_stream(mx.cpu)
    mx.eval(_seed(a, b, s1, s2))  # warm up the worker thread
    best = 0.0
    for _ in range(20):  # threads are scheduled by the OS (a busy 2-core CI box): many tries
        with mx.profile() as p:
            mx.eval(_seed(a, b, s1, s2))
        ev = p.events
        lanes = _lanes(ev)
        (mm,) = _ops(ev, "matmul")
        exps = _ops(ev, "exp")
        assert len(exps) == 500
        assert lanes[mm["tid"]] == _lane(s1)
        assert {lanes[e["tid"]] for e in exps} == {_lane(s2)}
        lo, hi = mm["ts"], mm["ts"] + mm["dur"]
        overlap = sum(max(0.0, min(hi, e["ts"] + e["dur"]) - max(lo, e["ts"])) for e in exps)
        best = max(best, overlap)
        if overlap > 0:
            break
    assert best > 0, "the matmul lane and the exp lane were never busy at the same time"


def test_cross_stream_wait_and_dependency_arrow(rng):
    a = mx.array(rng.random((512, 512), dtype=np.float32))
    s1, s2 = mx.new_stream(mx.cpu), mx.new_stream(mx.cpu)
    with mx.profile() as p:
        c = mx.matmul(a, a, stream=s1)
        for _ in range(4):
            c = mx.matmul(c, a, stream=s1)
        d = mx.add(c, 1.0, stream=s2)
        e = mx.negative(d, stream=s2)
        mx.eval(e)
    ev = p.events
    lanes = _lanes(ev)
    flows_s = [x for x in ev if x.get("ph") == "s"]
    flows_f = [x for x in ev if x.get("ph") == "f"]
    assert len(flows_s) == len(flows_f) == 1
    fs, ff = flows_s[0], flows_f[0]
    assert fs["id"] == ff["id"] and ff["bp"] == "e" and fs["cat"] == ff["cat"]
    assert lanes[fs["tid"]] == _lane(s1) and lanes[ff["tid"]] == _lane(s2)
    last_mm = _ops(ev, "matmul")[-1]
    (add,) = _ops(ev, "add")
    # the arrow starts inside the producer's slice and ends inside the consumer's
    assert last_mm["ts"] <= fs["ts"] <= last_mm["ts"] + last_mm["dur"]
    assert add["ts"] <= ff["ts"] <= add["ts"] + add["dur"]
    assert fs["ts"] <= ff["ts"]
    waits = [x for x in ev if x.get("ph") == "X" and x["cat"] == "wait"]
    assert len(waits) == 1  # s2 had nothing else to do: it waited for the matmuls
    (w,) = waits
    assert lanes[w["tid"]] == _lane(s2) and w["args"]["on"] == _lane(s1)
    assert w["ts"] + w["dur"] <= add["ts"]
    t = load(p.trace())
    assert t["flows"] == [((_lane(s1), fs["ts"]), (_lane(s2), ff["ts"]))]
    assert "wait ms" in summary(t)


def test_failure_is_recorded_and_reaches_the_caller(rng):
    s = mx.new_stream(mx.cpu)
    x = mx.array(rng.random((4,), dtype=np.float32))

    from umx._array import node
    from umx._primitive import Primitive

    class Fail(Primitive):
        name = "fail"

        def eval(self, xp, x):  # a primitive that fails when evaluated
            raise FloatingPointError("boom")

    bad = node(Fail(), (x,), (4,), x.dtype, s)
    after = mx.exp(bad, stream=s)
    with mx.profile() as p:
        with pytest.raises(Exception, match="fail"):
            mx.eval(after)
    assert _trace.recorder is None
    names = {o["name"]: o for o in _ops(p.events)}
    assert names["fail"]["args"]["failed"] is True
    assert names["exp"]["args"]["failed"] is True  # its input failed
    mx.eval(mx.exp(x, stream=s))  # the stream stays usable


def test_async_eval_is_complete_when_the_block_ends(rng):
    s = mx.new_stream(mx.cpu)
    x = mx.array(rng.random((64, 64), dtype=np.float32))
    with mx.profile() as p:
        y = x
        for _ in range(20):
            y = mx.matmul(y, x, stream=s)
        mx.async_eval(y)
    assert len(_ops(p.events, "matmul")) == 20


def test_multi_output_op_lists_every_output(rng):
    x = mx.array(rng.random((6, 2), dtype=np.float32))
    with mx.profile() as p:
        parts = mx.split(x, 3)
        mx.eval(parts)
    (sp,) = _ops(p.events, "split")
    assert sp["args"]["outputs"] == [{"shape": [2, 2], "dtype": "float32", "bytes": 16}] * 3


# -- drawing -------------------------------------------------------------------------------


def _png_size(path):
    data = open(path, "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def test_render_png(tmp_path, seed_inputs):
    pytest.importorskip("matplotlib")
    a, b = seed_inputs
    s1, s2 = mx.new_stream(mx.cpu), mx.new_stream(mx.cpu)
    with mx.profile(tmp_path / "seed.json") as p:
        x, y = _seed(a, b, s1, s2, n=50)
        mx.eval(mx.add(mx.sum(x), mx.sum(y, stream=s2), stream=s2))
    out = tmp_path / "seed.png"
    render(p.trace(), out)
    w, h = _png_size(out)
    assert w > 1000 and h > 200
    t = load(tmp_path / "seed.json")
    assert t["lanes"] == [_lane(s1), _lane(s2)] or set(t["lanes"]) >= {_lane(s1), _lane(s2)}


def test_cli_writes_png(tmp_path, rng):
    pytest.importorskip("matplotlib")
    x = mx.array(rng.random((16, 16), dtype=np.float32))
    with mx.profile(tmp_path / "run.json"):
        mx.eval(mx.exp(x) @ x)
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "umx.profiler",
            str(tmp_path / "run.json"),
            "-o",
            str(tmp_path / "run.png"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    assert ("cpu:" in r.stdout or "gpu:" in r.stdout) and "wrote" in r.stdout
    assert r.stderr == ""
    _png_size(tmp_path / "run.png")


def test_cli_without_matplotlib_says_how_to_install(tmp_path, monkeypatch, capsys):
    with mx.profile(tmp_path / "run.json"):
        mx.eval(mx.array([1.0, 2.0]) * 2)
    for m in [
        "matplotlib",
        "matplotlib.figure",
        "matplotlib.patches",
        "matplotlib.backends",
        "matplotlib.backends.backend_agg",
    ]:
        monkeypatch.setitem(sys.modules, m, None)
    rc = main([str(tmp_path / "run.json"), "-o", str(tmp_path / "run.png")])
    assert rc == 1
    err = capsys.readouterr().err
    assert "matplotlib" in err and "pip install" in err
    assert not (tmp_path / "run.png").exists()


def test_cli_bad_file(tmp_path, capsys):
    (tmp_path / "bad.json").write_text("not json")
    assert main([str(tmp_path / "bad.json")]) == 2
    assert "cannot read" in capsys.readouterr().err


# -- export_to_dot -------------------------------------------------------------------------


def _dot(*args, **kwargs) -> str:
    f = io.StringIO()
    mx.export_to_dot(f, *args, **kwargs)
    return f.getvalue()


def _edges(text):
    return re.findall(r'^\s*("?[\w:]+"?) -> ("?[\w:]+"?);', text, re.M)


def test_dot_graph_ops_shapes_dtypes_and_streams():
    x = mx.array([1.0, 2.0])
    y = mx.array([[3.0], [4.0]], dtype=mx.float32)
    s1, s2 = mx.new_stream(mx.cpu), mx.new_stream(mx.cpu)
    z = mx.exp(mx.add(x, y, stream=s1), stream=s1)
    w = mx.matmul(z, z, stream=s2)
    text = _dot(w, x=x, y=y)
    assert text.startswith("digraph {") and text.rstrip().endswith("}")
    assert text.count("{") == text.count("}")
    assert '"x" [label="x\\n(2,) float32"' in text
    assert '"y" [label="y\\n(2, 1) float32"' in text
    ops = dict(re.findall(r'^\s*(op\d+) \[label="(\w+)\\n', text, re.M))
    assert sorted(ops.values()) == ["add", "exp", "matmul"]
    colours = dict(re.findall(r'^\s*(op\d+) \[.*fillcolor="(#\w+)"', text, re.M))
    by_name = {ops[k]: colours[k] for k in ops}
    assert by_name["add"] == by_name["exp"] != by_name["matmul"]  # a colour per stream
    assert f'\\n{_lane(s1)}"' in text and f'\\n{_lane(s2)}"' in text
    assert f'label="{_lane(s1)}"' in text  # the legend
    edges = _edges(text)
    inv = {v: k for k, v in ops.items()}
    assert ('"x"', inv["add"]) in edges and ('"y"', inv["add"]) in edges
    assert sum(1 for e in edges if e[1] == inv["matmul"]) == 2  # z used twice
    assert "float32" in text and "(2, 2)" in text


def test_dot_unnamed_letters_evaluated_leaves_and_paths(tmp_path):
    a = mx.array([1, 2, 3])
    b = a + 1
    mx.eval(b)  # evaluated: a leaf, its graph is gone
    c = mx.multiply(b, 2)
    path = tmp_path / "g.dot"
    mx.export_to_dot(str(path), c, A=a)
    text = path.read_text()
    assert "multiply" in text and "add" not in text
    # "A" is taken by the keyword: the unnamed arrays get other letters
    assert '"B" [label="B\\n(3,) int32"' in text and '"C" [label="C\\n() int32"' in text
    assert '"D" [label="D\\n(3,) int32"' in text and "penwidth" in text  # the output
    assert '"A"' not in text  # a is not in the graph of c
    mx.export_to_dot(tmp_path / "g2.dot", c)  # a PathLike
    assert (tmp_path / "g2.dot").read_text().startswith("digraph")
    with pytest.raises(TypeError, match=r"\[export_to_dot\]"):
        mx.export_to_dot(3, c)


def test_dot_multi_output_shares_one_op():
    x = mx.array(np.arange(6, dtype=np.float32))
    p, q, r = mx.split(x, 3)
    text = _dot(p, r)
    assert len(re.findall(r'\[label="split\\n', text)) == 1
    (op,) = re.findall(r'^\s*(op\d+) \[label="split', text, re.M)
    outs = [e for e in _edges(text) if e[0] == op]
    assert len(outs) == 3


@pytest.mark.gpu
def test_gpu_lane_with_device_times_and_a_wait_on_the_cpu():
    a = mx.random.uniform(shape=(4096, 512))
    b = mx.random.uniform(shape=(512, 4)) * 0.01
    mx.eval(a, b)
    g = mx.new_stream(mx.gpu)
    c = mx.new_stream(mx.cpu)
    mx.eval(_seed(a, b, g, c, n=5))  # warm-up (kernels compiled)
    with mx.profile() as p:
        x, y = _seed(a, b, g, c, n=200)
        z = mx.add(mx.sum(x, stream=g), mx.sum(y, stream=c), stream=c)
        mx.eval(z)
    ev = p.events
    lanes = _lanes(ev)
    (mm,) = _ops(ev, "matmul")
    assert lanes[mm["tid"]] == f"gpu:{g.index}" and mm["args"]["device"] == "gpu:0"
    assert mm["dur"] > 0
    exps = _ops(ev, "exp")
    assert {lanes[e["tid"]] for e in exps} == {f"cpu:{c.index}"}
    (add,) = _ops(ev, "add")
    sums = _ops(ev, "sum")
    gsum = [s for s in sums if lanes[s["tid"]].startswith("gpu")][0]
    # device times are on the host clock: the GPU sum ends before the CPU add that needs it
    assert gsum["ts"] + gsum["dur"] <= add["ts"] + 50.0
    flows = [e for e in ev if e.get("ph") == "s"]
    assert any(lanes[f["tid"]].startswith("gpu") for f in flows)
    assert _trace.recorder is None
    from umx.backends import _cuda_exec

    assert not hasattr(_cuda_exec.GpuExecutor.run_batch, "_umx_plain")  # unhooked
