"""Devices, streams and the scheduler: cross-stream dependencies, failures, threads."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import umx as mx
from umx._array import node
from umx._primitive import Primitive
from umx._scheduler import EvalError


class Boom(Primitive):
    """A primitive that fails during evaluation (injected failure)."""

    __slots__ = ()
    name = "boom"

    def eval(self, xp, x):
        raise RuntimeError("injected failure")


class SlowIdentity(Primitive):
    """Holds its stream for a while without the GIL, to provoke interleavings."""

    __slots__ = ("seconds",)
    name = "slow_identity"

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def eval(self, xp, x):
        threading.Event().wait(self.seconds)
        return x


def boom(a, stream=None):
    return node(Boom(), (a,), a.shape, a.dtype, mx._device.resolve_stream(stream))


def slow(a, seconds=0.01, stream=None):
    return node(SlowIdentity(seconds), (a,), a.shape, a.dtype, mx._device.resolve_stream(stream))


# -- devices and streams ---------------------------------------------------------------------


def test_devices():
    assert mx.cpu is mx.DeviceType.cpu
    assert mx.Device(mx.cpu) == mx.cpu
    assert mx.default_device() == mx.Device(mx.cpu) or mx.is_available(mx.gpu)
    assert repr(mx.Device(mx.cpu)) == "Device(cpu, 0)"
    assert mx.device_count(mx.cpu) == 1
    assert set(mx.device_info(mx.cpu)) >= {"architecture", "device_name"}
    assert mx.metal.is_available() is False


@pytest.mark.skipif(mx.is_available(mx.gpu), reason="checks the CPU-only behaviour")
def test_gpu_absent_errors_at_call_time():
    assert mx.is_available(mx.gpu) is False
    assert mx.device_count(mx.gpu) == 0
    with pytest.raises(ValueError, match="gpu"):
        mx.add(mx.array(1), 1, stream=mx.gpu)
    with pytest.raises(ValueError, match=r"\[set_default_device\]"):
        mx.set_default_device(mx.gpu)
    with pytest.raises(ValueError, match=r"\[new_stream\]"):
        mx.new_stream(mx.gpu)


def test_stream_api():
    s = mx.new_stream(mx.cpu)
    assert s.device == mx.Device(mx.cpu)
    assert s != mx.default_stream(mx.cpu)
    assert repr(s).startswith("Stream(Device(cpu, 0), ")
    with mx.stream(s):
        assert mx.default_stream(mx.cpu) is s
        x = mx.add(mx.array(1), 2)
        assert x._stream is s
    assert mx.default_stream(mx.cpu) is not s
    old = mx.default_stream(mx.cpu)
    mx.set_default_stream(s)
    try:
        # as MLX: the default stream of s's device; ops without stream= use the default
        # device's (the GPU's, where there is one)
        assert mx.default_stream(mx.cpu) is s
        cpu_default = mx.default_device() == mx.Device(mx.cpu)
        expected = s if cpu_default else mx.default_stream(mx.default_device())
        assert mx.add(mx.array(1), 2)._stream is expected
    finally:
        mx.set_default_stream(old)
    for spec in (mx.cpu, mx.Device(mx.cpu)):
        assert mx.add(mx.array(1), 2, stream=spec)._stream is mx.default_stream(mx.cpu)
    with pytest.raises(TypeError):
        mx.add(mx.array(1), 2, stream="cpu")
    mx.synchronize()
    mx.synchronize(s)


def test_stream_belongs_to_its_thread():
    s = mx.new_stream(mx.cpu)
    tls = mx.new_thread_local_stream(mx.cpu)
    seen = {}

    def worker():
        try:
            mx.add(mx.array(1), 1, stream=s)
        except RuntimeError as e:
            seen["error"] = str(e)
        seen["tls"] = mx.add(mx.array(1), 2, stream=tls).item()
        seen["default"] = mx.default_stream(mx.cpu)

    t = threading.Thread(target=worker)
    t.start()
    t.join()
    assert "in current thread" in seen["error"]
    assert seen["tls"] == 3
    assert seen["default"] is not mx.default_stream(mx.cpu)
    assert mx.add(mx.array(1), 2, stream=tls).item() == 3


def test_clear_streams_gives_fresh_defaults():
    def worker(out):
        a = mx.default_stream(mx.cpu)
        mx.clear_streams()
        out.append((a, mx.default_stream(mx.cpu)))

    out = []
    t = threading.Thread(target=worker, args=(out,))
    t.start()
    t.join()
    assert out[0][0] is not out[0][1]


# -- the scheduler -------------------------------------------------------------------------


def seed(a, b, d1, d2):
    x = mx.matmul(a, b, stream=d1)
    for _ in range(500):
        b = mx.exp(b, stream=d2)
    return x, b


def test_seed_example_on_two_cpu_streams(rng):
    an = rng.random((4096, 512), dtype=np.float32)
    bn = rng.random((512, 4), dtype=np.float32) * 0.1
    s1, s2 = mx.new_stream(mx.cpu), mx.new_stream(mx.cpu)
    x, y = seed(mx.array(an), mx.array(bn), s1, s2)
    mx.eval(x, y)
    ref = bn
    for _ in range(500):
        ref = np.exp(ref)
    np.testing.assert_allclose(np.array(x), an @ bn, rtol=1e-5)
    np.testing.assert_allclose(np.array(y), ref, rtol=1e-5)


def test_cross_stream_dependency_both_ways():
    s1, s2 = mx.new_stream(mx.cpu), mx.new_stream(mx.cpu)
    a = mx.array(np.arange(6, dtype=np.float32))
    c = mx.add(slow(a, 0.05, stream=s1), 1, stream=s1)
    d = mx.multiply(a, c, stream=s2)  # waits for s1
    e = mx.subtract(d, slow(c, 0.01, stream=s2), stream=s1)  # waits for s2
    an = np.arange(6, dtype=np.float32)
    np.testing.assert_allclose(np.array(e), an * (an + 1) - (an + 1))


def test_independent_streams_run_concurrently():
    streams = [mx.new_stream(mx.cpu) for _ in range(4)]
    a = mx.array(np.ones(4, np.float32))
    outs = [slow(a, 0.2, stream=s) for s in streams]
    import time

    t = time.perf_counter()
    mx.eval(outs)
    elapsed = time.perf_counter() - t
    # Serial would take 0.8 s; this checks overlap happened, not speed.
    assert elapsed < 0.6, elapsed


def test_async_eval_then_eval():
    s = mx.new_stream(mx.cpu)
    a = mx.array(np.arange(4, dtype=np.float32))
    b = mx.add(slow(a, 0.05, stream=s), 1, stream=s)
    mx.async_eval(b)
    c = mx.multiply(b, 2)  # default stream, waits for s
    assert c.tolist() == [2.0, 4.0, 6.0, 8.0]
    mx.eval(b)
    assert b.tolist() == [1.0, 2.0, 3.0, 4.0]


def test_eval_accepts_trees_and_rejects_others():
    a = mx.add(mx.array(1), 1)
    b = mx.add(mx.array(2), 1)
    mx.eval({"x": [a, (b,)]}, None)
    assert a._data is not None and b._data is not None
    with pytest.raises(ValueError, match=r"\[eval\]"):
        mx.eval(object())


def test_graph_released_after_eval():
    import gc
    import weakref

    a = mx.array(np.ones(8, np.float32))
    mid = mx.exp(a)
    ref = weakref.ref(mid)
    out = mx.add(mid, 1)
    del mid
    mx.eval(out)
    gc.collect()
    assert out._inputs == ()
    assert ref() is None


def test_nothing_computed_that_was_not_asked_for():
    a = mx.array(np.ones(3, np.float32))
    b = mx.exp(a)
    c = mx.add(b, 1)
    unrelated = boom(a)
    mx.eval(c)
    assert unrelated._data is None and unrelated._error is None
    assert b._data is not None


# -- failures --------------------------------------------------------------------------------


@pytest.mark.parametrize("cross", [False, True])
def test_failure_reaches_eval_and_streams_stay_usable(cross):
    s1, s2 = mx.new_stream(mx.cpu), mx.new_stream(mx.cpu)
    a = mx.array(np.ones(3, np.float32))
    bad = boom(mx.add(a, 1, stream=s1), stream=s1)
    out = mx.add(bad, 1, stream=s2 if cross else s1)
    with pytest.raises(EvalError, match=r"\[boom\].*Stream") as info:
        mx.eval(out)
    assert isinstance(info.value.__cause__, RuntimeError)
    with pytest.raises(EvalError):
        np.array(out)  # still failed, still reported
    # Both streams keep working, also on graphs unrelated to the failure.
    for s in (s1, s2):
        assert mx.add(a, 2, stream=s).tolist() == [3.0, 3.0, 3.0]


def test_failure_in_async_eval_reaches_later_wait():
    s = mx.new_stream(mx.cpu)
    bad = mx.exp(boom(mx.array([1.0]), stream=s), stream=s)
    mx.async_eval(bad)
    with pytest.raises(EvalError, match=r"\[boom\]"):
        np.array(bad)
    assert mx.exp(mx.array([0.0]), stream=s).item() == 1.0


# -- threads --------------------------------------------------------------------------------


def test_threads_evaluating_shared_inputs():
    a = mx.array(np.arange(64, dtype=np.float32) / 64)
    shared = mx.exp(slow(a, 0.01))  # lazy, shared by every thread
    errors, results = [], {}

    def worker(k):
        try:
            s = mx.new_stream(mx.cpu)
            x = shared
            for _ in range(20):
                x = mx.add(x, float(k), stream=s)
            y = mx.multiply(x, shared)
            results[k] = np.array(y)
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not any(t.is_alive() for t in threads), "a thread stayed blocked"
    assert not errors, errors
    sh = np.exp(np.arange(64, dtype=np.float32) / 64)
    for k, y in results.items():
        np.testing.assert_allclose(y, (sh + 20 * k) * sh, rtol=1e-5)


# -- random graphs over many streams vs a serial NumPy evaluation ------------------------

_OPS = {
    "add": (mx.add, np.add),
    "subtract": (mx.subtract, np.subtract),
    "multiply": (mx.multiply, np.multiply),
    "maximum": (mx.maximum, np.maximum),
    "tanh": (mx.tanh, np.tanh),
    "negative": (mx.negative, np.negative),
    "sin": (mx.sin, np.sin),
}


@st.composite
def graphs(draw):
    n_streams = draw(st.integers(1, 8))
    n_nodes = draw(st.integers(1, 30))
    nodes = []
    for i in range(n_nodes):
        op = draw(st.sampled_from(sorted(_OPS)))
        arity = 1 if op in ("tanh", "negative", "sin") else 2
        args = [draw(st.integers(-2, i - 1)) for _ in range(arity)]  # < 0: one of two leaves
        stream = draw(st.integers(0, n_streams - 1))
        async_it = draw(st.booleans()) and draw(st.booleans())
        nodes.append((op, args, stream, async_it))
    outs = draw(st.lists(st.integers(0, n_nodes - 1), min_size=1, max_size=4))
    return n_streams, nodes, outs


@given(graphs())
def test_random_graphs_match_serial_numpy(g):
    n_streams, nodes, outs = g
    streams = [mx.new_stream(mx.cpu) for _ in range(n_streams)]
    leaves_np = [np.linspace(-1, 1, 12, dtype=np.float32).reshape(3, 4), np.float32(0.5)]
    leaves = [mx.array(x) for x in leaves_np]
    built, ref = [], []
    for op, args, s, async_it in nodes:
        f, g_np = _OPS[op]
        xs = [leaves[a + 2] if a < 0 else built[a] for a in args]
        ys = [leaves_np[a + 2] if a < 0 else ref[a] for a in args]
        y = f(*xs, stream=streams[s])
        if async_it:
            mx.async_eval(y)
        built.append(y)
        ref.append(g_np(*ys))
    mx.eval([built[i] for i in outs])
    for i in outs:
        np.testing.assert_allclose(np.array(built[i]), ref[i], rtol=1e-5, atol=1e-6)
    for i, y in enumerate(built):  # the rest, in any order, still right
        np.testing.assert_allclose(np.array(y), ref[i], rtol=1e-5, atol=1e-6)


def test_thread_unsafe_stream_works_in_any_thread():
    s = mx.new_thread_unsafe_stream(mx.cpu)
    out = []
    t = threading.Thread(target=lambda: out.append(mx.add(mx.array(1), 1, stream=s).item()))
    t.start()
    t.join()
    assert out == [2]
