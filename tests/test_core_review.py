"""Scheduler / evaluation edge cases found in review: failures, threads, repeated inputs."""

from __future__ import annotations

import threading

import numpy as np
import pytest

import umx as mx
from tests.test_streams import boom, slow
from umx._scheduler import EvalError


@pytest.mark.parametrize("in_flight", [False, True])
def test_consumer_of_failed_array_in_a_later_eval_fails(in_flight):
    # A failed array consumed by a later eval on the same stream must pass its error on,
    # also by ops whose kernels would accept a missing buffer (views, broadcasts).
    s = mx.new_stream(mx.cpu)
    a = mx.array(np.ones(3, np.float32))
    bad = boom(slow(a, 0.05, stream=s) if in_flight else a, stream=s)
    if in_flight:
        mx.async_eval(bad)
    else:
        with pytest.raises(EvalError):
            mx.eval(bad)
    for f in (mx.stop_gradient, lambda x: mx.broadcast_to(x, (2, 3))):
        with mx.stream(s):
            c = f(bad)
        with pytest.raises(EvalError, match=r"\[boom\]"):
            mx.eval(c)
        assert c._data is None


_EVAL_IN_VMAP = r"\[eval\] Attempting to eval an array during function transformations"


@pytest.mark.parametrize(
    "fun",
    [
        lambda a: a * a.sum().item(),  # would silently use the first slice's sum
        lambda a: (mx.eval(a), a * 2)[1],
        lambda a: mx.array(np.array(a)),
        mx.grad(lambda a: (mx.eval(a), (a * a).sum())[1]),
    ],
)
def test_eval_of_a_mapped_array_inside_vmap_is_refused(fun):
    x = mx.array([[1.0, 2.0], [3.0, 4.0]])
    with pytest.raises(ValueError, match=_EVAL_IN_VMAP):
        mx.vmap(fun)(x)


def test_eval_inside_vmap_of_arrays_not_mapped_is_allowed():
    x = mx.array([[1.0, 2.0], [3.0, 4.0]])
    c = mx.exp(mx.array(1.0))  # lazy, not mapped
    out = mx.vmap(lambda a: a * c.item())(x)
    np.testing.assert_allclose(np.array(out), np.array(x) * np.e, rtol=1e-6)
    with pytest.raises(ValueError, match=r"\[async_eval\] Not allowed"):
        mx.vmap(lambda a: (mx.async_eval(a), a)[1])(x)
    assert mx.eval(mx.exp(x)) is None  # the refusal ends with the trace, errors included
    assert mx._eval.stand_ins_live == 0


def test_array_of_an_array_stays_in_the_graph():
    # MLX: mx.array(a) is a lazy astype of a, so gradients and vmap see through it.
    a = mx.array([1.0, 2.0])
    np.testing.assert_allclose(np.array(mx.grad(lambda x: (mx.array(x) * x).sum())(a)), [2, 4])
    x = mx.array([[1.0, 2.0], [3.0, 4.0]])
    out = mx.vmap(lambda r: mx.array(r, mx.int32) * 2)(x)
    assert out.dtype == mx.int32 and out.tolist() == [[2, 4], [6, 8]]
    b = mx.array(a)
    assert b is not a and b.dtype == a.dtype and b.tolist() == [1.0, 2.0]
    assert mx.array(a, mx.int32).tolist() == [1, 2]


@pytest.mark.parametrize(
    "transform",
    [
        lambda f, x: mx.grad(lambda a: f(a).sum())(x),
        lambda f, x: mx.value_and_grad(lambda a: f(a).sum())(x),
        lambda f, x: mx.vjp(f, [x], [x]),
        lambda f, x: mx.jvp(f, [x], [x]),
        lambda f, x: mx.vmap(f)(x),
    ],
)
def test_async_eval_inside_a_transform_is_refused(transform):
    # It could run after the trace ended, releasing edges the transform still walks
    # (grad then came out zero). MLX refuses it too.
    def f(a):
        y = a * 2
        mx.async_eval(y)
        return y

    with pytest.raises(ValueError, match=r"\[async_eval\] Not allowed inside a graph"):
        transform(f, mx.array([1.0, 2.0]))
    assert mx._eval.tracing.depth == 0
    mx.async_eval(mx.exp(mx.array([1.0])))  # allowed again


def test_async_eval_in_a_plain_custom_function_call_and_other_threads():
    @mx.custom_function
    def f(a):
        y = mx.exp(a)
        mx.async_eval(y)
        return y

    assert f(mx.array([0.0])).tolist() == [1.0]
    started, release, got = threading.Event(), threading.Event(), []

    def other():
        started.wait(5)
        y = mx.exp(mx.array([0.0]))
        mx.async_eval(y)  # another thread is tracing: this one is not
        got.append(y.item())
        release.set()

    def loss(a):
        started.set()
        release.wait(5)
        return (a * a).sum()

    t = threading.Thread(target=other)
    t.start()
    assert mx.grad(loss)(mx.array([3.0])).tolist() == [6.0]
    t.join(5)
    assert got == [1.0]


def test_failure_in_a_general_step_reaches_later_fast_nodes_of_the_batch():
    # c waits on another stream (the general loop) and inherits the failure; d, back in
    # the fast loop, must fail too rather than compute from c's missing buffer.
    s1, s2 = mx.new_stream(mx.cpu), mx.new_stream(mx.cpu)
    bad = boom(mx.array(np.ones(3, np.float32)), stream=s2)
    c = mx.add(bad, 1, stream=s1)
    d = mx.broadcast_to(c, (2, 3), stream=s1)
    e = mx.split(mx.concatenate([c, c], stream=s1), 2, stream=s1)[0]  # multi-output
    f = mx.stop_gradient(e, stream=s1)
    for out in (d, f):
        with pytest.raises(EvalError, match=r"\[boom\]"):
            mx.eval(out)
        assert out._data is None


def test_idle_worker_threads_end_and_restart(monkeypatch):
    import time

    from umx import _scheduler

    monkeypatch.setattr(_scheduler, "WORKER_IDLE_S", 0.05)
    base = threading.active_count()

    def job():
        y = mx.exp(mx.array(np.zeros(4, np.float32)))
        mx.async_eval(y)  # starts the worker of this thread's default stream
        assert y.tolist() == [1.0] * 4

    for _ in range(10):
        t = threading.Thread(target=job)
        t.start()
        t.join()
    s = mx.new_stream(mx.cpu)
    mx.async_eval(mx.exp(mx.array([0.0]), stream=s))
    deadline = time.monotonic() + 5
    while (threading.active_count() > base or s.executor._worker) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert threading.active_count() <= base  # no thread per stream left behind
    assert s.executor._worker is None
    y = mx.exp(mx.array([0.0]), stream=s)
    mx.async_eval(y)  # a new worker takes it
    assert y.item() == 1.0


def _in_thread(fn, timeout=10):
    """Run ``fn`` in a thread; fail (instead of hanging the suite) if it blocks."""
    out = []
    t = threading.Thread(target=lambda: out.append(fn()), daemon=True)
    t.start()
    t.join(timeout)
    assert not t.is_alive(), "blocked: a stream was left waiting forever"
    return out[0]


def test_interrupt_while_draining_leaves_the_stream_usable(monkeypatch):
    from umx import _host_memory

    s = mx.new_thread_unsafe_stream(mx.cpu)
    big = mx.array(np.zeros(1 << 15, np.float32))  # outputs large enough to be counted
    x = big
    for _ in range(5):
        x = mx.add(x, big, stream=s)  # (not x + 1.0: a run of those is one fused kernel)
    real, calls = _host_memory.track, []

    def track(buf):  # Ctrl-C arriving between two kernels
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        real(buf)

    monkeypatch.setattr(_host_memory, "track", track)
    with pytest.raises(KeyboardInterrupt):
        mx.eval(x)
    monkeypatch.setattr(_host_memory, "track", real)

    def after():
        with pytest.raises(EvalError, match="KeyboardInterrupt"):
            np.array(x)  # the rest of the interrupted batch failed, not left pending
        return mx.add(big, 2.0, stream=s).tolist()[:2]

    assert _in_thread(after) == [2.0, 2.0]


def test_interrupt_while_scheduling_leaves_nothing_numbered(monkeypatch):
    from umx import _eval

    s1, s2 = mx.new_thread_unsafe_stream(mx.cpu), mx.new_thread_unsafe_stream(mx.cpu)
    a = mx.add(mx.array([1.0]), 1.0, stream=s1)
    mx.eval(a)  # s1 has an executor, s2 not yet
    x = mx.multiply(mx.add(a, 1.0, stream=s1), 2.0, stream=s2)
    real = _eval.executor_for

    def executor_for(stream):
        raise KeyboardInterrupt

    monkeypatch.setattr(_eval, "executor_for", executor_for)
    with pytest.raises(KeyboardInterrupt):
        mx.eval(x)
    monkeypatch.setattr(_eval, "executor_for", real)
    assert _in_thread(lambda: x.tolist()) == [6.0]
    assert _in_thread(lambda: mx.synchronize()) is None
