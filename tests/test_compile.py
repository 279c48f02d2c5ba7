"""mx.compile: same results as the function, traced once per signature, MLX's semantics
for closures, constants, random state, implicit inputs/outputs and eval inside a trace."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import umx as mx
from umx import _compile


class Counting:
    """A function that counts how often its Python body runs (traces)."""

    def __init__(self, fun):
        self.fun = fun
        self.calls = 0

    def __call__(self, *args, **kwargs):
        self.calls += 1
        return self.fun(*args, **kwargs)


def _seed(a, b):
    x = a @ b
    for _ in range(50):
        b = mx.exp(b)
    return x, b


def test_same_results_and_one_trace_per_signature():
    f = Counting(_seed)
    c = mx.compile(f)
    a = mx.random.uniform(shape=(16, 8))
    for _ in range(3):
        b = mx.random.uniform(shape=(8, 4)) * 1e-3
        got, want = c(a, b), _seed(a, b)
        for g, w in zip(got, want):
            assert np.array_equal(np.array(g), np.array(w))
    assert f.calls == 1
    c(a, mx.ones((8, 2)))  # a new shape traces again
    c(a.astype(mx.float64), mx.ones((8, 2), mx.float64))  # so does a new dtype
    assert f.calls == 3


@given(
    st.sampled_from(["exp", "sin", "tanh", "square", "negative"]),
    st.lists(st.integers(1, 4), min_size=0, max_size=3),
    st.floats(-3, 3),
)
def test_random_elementwise_graphs_match(name, shape, scale):
    op = getattr(mx, name)

    def f(x, y):
        z = op(x) * scale + y
        return mx.maximum(z, 0.5), z.sum()

    x = mx.array(np.linspace(-1, 1, int(np.prod(shape))).reshape(shape).astype(np.float32))
    y = mx.array(np.float32(0.25))
    got, want = mx.compile(f)(x, y), f(x, y)
    for g, w in zip(got, want):
        np.testing.assert_array_equal(np.array(g), np.array(w))


def test_non_array_arguments_are_constants_and_retrace_when_changed():
    f = Counting(lambda x, k, *, scale=1.0: x * k * scale)
    c = mx.compile(f)
    a = mx.array([1.0, 2.0])
    assert c(a, 4).tolist() == [4.0, 8.0]
    assert c(a, 4).tolist() == [4.0, 8.0]
    assert f.calls == 1
    assert c(a, 5.5).tolist() == [5.5, 11.0]
    assert c(a, 5.5, scale=2.0).tolist() == [11.0, 22.0]
    assert f.calls == 3


def test_outputs_keep_their_tree_and_non_array_leaves():
    a = mx.array([1.0, 2.0])
    assert mx.compile(lambda x: 3)(a) == 3
    assert mx.compile(lambda x: None)(a) is None
    out = mx.compile(lambda x: {"a": x, "b": [x * 2, "s"], "c": (x, 1)})(a)
    assert out["b"][1] == "s" and out["c"][1] == 1 and isinstance(out["c"], tuple)
    assert out["b"][0].tolist() == [2.0, 4.0] and out["a"].tolist() == [1.0, 2.0]
    assert mx.compile(lambda x: x * 2)(2.0) == 4.0  # no array in: fun's Python result
    assert mx.compile(lambda d: d["w"] @ d["x"])({"w": mx.eye(2), "x": a}).tolist() == [1, 2]


def test_closure_arrays_are_captured_when_traced():
    b = mx.array([10.0, 20.0])
    a = mx.array([1.0, 2.0])
    f = mx.compile(lambda x: x + b)
    assert f(a).tolist() == [11.0, 22.0]
    b = mx.array([100.0, 200.0])  # noqa: F841 - MLX keeps the traced value too
    assert f(a).tolist() == [11.0, 22.0]


def test_random_draws_are_constants_unless_the_state_is_an_input():
    a = mx.zeros((3,))
    frozen = mx.compile(lambda x: x + mx.random.uniform(shape=(3,)))
    assert frozen(a).tolist() == frozen(a).tolist()
    st_ = mx.random.state
    fresh = mx.compile(lambda x: x + mx.random.uniform(shape=(3,)), inputs=st_, outputs=st_)
    first, second = fresh(a).tolist(), fresh(a).tolist()
    assert first != second
    # Each call draws the keys the uncompiled function would draw.
    mx.random.seed(7)
    compiled = fresh(a).tolist()
    mx.random.seed(7)
    assert compiled == (a + mx.random.uniform(shape=(3,))).tolist()


def test_implicit_inputs_and_outputs_are_read_and_written_each_call():
    params = {"w": mx.array([1.0, 2.0]), "n": [mx.array(0.0)]}

    def step(x):
        params["w"] = params["w"] - 0.5 * x
        params["n"][0] = params["n"][0] + 1
        return params["w"].sum()

    f = Counting(step)
    c = mx.compile(f, inputs=params, outputs=params)
    a = mx.array([1.0, 2.0])
    assert c(a).item() == 1.5
    assert params["w"].tolist() == [0.5, 1.0]
    assert c(a).item() == 0.0
    assert params["w"].tolist() == [0.0, 0.0] and params["n"][0].item() == 2
    params["w"] = mx.array([5.0, 5.0])  # replaced from outside: read at the next call
    assert c(a).item() == 8.5
    assert f.calls == 1


def test_eval_of_a_traced_input_is_refused_and_other_evals_work():
    def evals(x):
        mx.eval(x)
        return x

    def items(x):
        return x * x.sum().item()

    for f in (evals, items):
        with pytest.raises(ValueError, match="Attempting to eval an array during function"):
            mx.compile(f)(mx.array([1.0]))
    assert mx._eval.stand_ins_live == 0

    def async_evals(x):
        mx.async_eval(x)
        return x

    with pytest.raises(ValueError, match=r"\[async_eval\]"):
        mx.compile(async_evals)(mx.array([1.0]))

    def independent(x):
        c = mx.arange(3.0)
        mx.eval(c)  # depends on no input: allowed
        return x + c

    assert mx.compile(independent)(mx.ones(3)).tolist() == [1.0, 2.0, 3.0]


def test_errors_in_fun_reach_the_caller_and_leave_no_trace_state():
    def bad(x):
        raise KeyError("boom")

    params = [mx.array(1.0)]
    with pytest.raises(KeyError):
        mx.compile(bad, inputs=params)(mx.array(1.0))
    assert params[0].item() == 1.0  # the stand-in was put back
    assert mx._eval.stand_ins_live == 0 and mx._eval.tracing.depth == 0
    with pytest.raises(TypeError, match="compile"):
        mx.compile(3)
    with pytest.raises(TypeError):
        mx.compile(lambda x, y: x + y)(mx.array(1.0))


def test_transforms_of_compiled_functions_and_compiled_transforms():
    def f(x):
        return (mx.sin(x) * x).sum()

    x = mx.array([0.3, -1.2, 2.0])
    want = np.array(mx.grad(f)(x))
    np.testing.assert_allclose(np.array(mx.grad(mx.compile(f))(x)), want, rtol=1e-6)
    np.testing.assert_allclose(np.array(mx.compile(mx.grad(f))(x)), want, rtol=1e-6)
    v = mx.vmap(mx.compile(lambda r: mx.softmax(r)))(mx.array([[1.0, 2.0], [0.0, 0.0]]))
    np.testing.assert_allclose(np.array(v)[1], [0.5, 0.5])
    inner = mx.compile(lambda r: r * 2)
    assert mx.compile(lambda r: inner(r) + 1)(x).tolist() == (x * 2 + 1).tolist()


def test_multi_output_primitives_replay():
    f = mx.compile(lambda x: mx.divmod(x, 3))
    q, r = f(mx.array([7, 8, -1]))
    assert q.tolist() == [2, 2, -1] and r.tolist() == [1, 2, 2]
    q, r = f(mx.array([9, 10, 11]))
    assert q.tolist() == [3, 3, 3] and r.tolist() == [0, 1, 2]


def test_disable_and_enable_compile(monkeypatch):
    f = Counting(lambda x: x + 1)
    c = mx.compile(f)
    mx.disable_compile()
    try:
        c(mx.array(1.0))
        c(mx.array(1.0))
        assert f.calls == 2
    finally:
        mx.enable_compile()
    c(mx.array(1.0))
    c(mx.array(1.0))
    assert f.calls == 3
    assert _compile._enabled[0]


def test_streams_recorded_in_the_trace():
    f = mx.compile(lambda x: mx.exp(x, stream=mx.cpu) + 1)
    for _ in range(2):  # the trace, then a replay
        out = f(mx.array([0.0]))
        exp_node = [i for i in out._inputs if i._prim is not None][0]
        assert exp_node._stream.device.type == mx.cpu
        assert out.item() == 2.0


# -- review fixes: each of these failed before (checked against MLX 0.32.4 where it runs) --
def test_an_array_passed_twice_gets_a_stand_in_per_position():
    f = mx.compile(lambda a, b: a - b)
    x, y = mx.array([1.0, 2.0]), mx.array([10.0, 20.0])
    assert f(x, x).tolist() == [0.0, 0.0]
    assert f(x, y).tolist() == [-9.0, -18.0]  # not y - y from the trace of (x, x)
    g = mx.compile(lambda a, *, b: a * 10 + b)
    assert g(y, b=y).tolist() == [110.0, 220.0]
    assert g(y, b=x).tolist() == [101.0, 202.0]
    z = mx.array([0.0])
    state = [z, z]  # one array in two places of an ``inputs=`` tree

    def step(d):
        state[0] = state[0] + d
        return state[0] - state[1]

    c = mx.compile(step, inputs=state, outputs=state)
    assert [c(mx.array([1.0])).item() for _ in range(3)] == [1.0, 2.0, 3.0]


def test_setitem_on_traced_inputs():
    def f(a):
        a[0] = 5.0
        return a * 2

    c = mx.compile(f)
    x = mx.array([1.0, 2.0, 3.0])
    assert c(x).tolist() == [10.0, 4.0, 6.0]
    assert c(mx.array([7.0, 8.0, 9.0])).tolist() == [10.0, 16.0, 18.0]
    assert x.tolist() == [1.0, 2.0, 3.0]  # the caller's array is not the traced one
    params = {"w": mx.array([1.0, 2.0])}

    def step(s):
        params["w"][0] = 5.0
        return params["w"] * s

    c = mx.compile(step, inputs=params, outputs=params)
    assert c(mx.array(2.0)).tolist() == [10.0, 4.0]
    assert params["w"].tolist() == [5.0, 2.0]


def test_state_outputs_left_alone_follow_the_inputs():
    params = {"w": mx.array([1.0]), "b": mx.array([10.0])}

    def step(x):
        params["w"] = params["w"] + x
        return params["w"] + params["b"]

    c = mx.compile(step, inputs=params, outputs=params)
    assert c(mx.array([1.0])).tolist() == [12.0]
    params["b"] = mx.array([100.0])
    assert c(mx.array([1.0])).tolist() == [103.0]
    assert params["b"].tolist() == [100.0]  # not the value it had when traced
    assert params["w"].tolist() == [3.0]


def test_arrays_in_tuples_of_outputs_keep_the_others_in_place():
    a = mx.array([1.0])
    st_ = {"w": mx.array([0.0])}

    def f(x):
        st_["w"] = st_["w"] + x
        return x

    c = mx.compile(f, inputs=st_, outputs=[(a,), st_])
    c(mx.array([5.0]))
    c(mx.array([5.0]))
    assert st_["w"].tolist() == [10.0] and a.tolist() == [1.0]


def test_nested_compile_runs_inside_the_outer_trace():
    st_ = mx.random.state
    inner = mx.compile(lambda a: a + mx.random.uniform(shape=(2,)), inputs=st_, outputs=st_)

    def outer_fun(a):
        return inner(a) * 2 + mx.random.normal(shape=(2,))

    outer = mx.compile(outer_fun, inputs=st_, outputs=st_)
    a = mx.zeros((2,))
    mx.random.seed(3)
    got = [outer(a).tolist() for _ in range(3)]
    mx.random.seed(3)
    assert got == [outer_fun(a).tolist() for _ in range(3)]  # fresh draws, both levels
    plain = mx.compile(lambda a: a + mx.random.uniform(shape=(2,)))  # no state of its own
    wrapped = mx.compile(lambda a: plain(a), inputs=st_, outputs=st_)
    assert wrapped(a).tolist() != wrapped(a).tolist()

    def closes_over_tracer(x):
        y = x * 2
        return mx.compile(lambda z: z + y)(x)

    c = mx.compile(closes_over_tracer)
    assert c(mx.array([1.0, 2.0])).tolist() == [3.0, 6.0]
    assert c(mx.array([3.0, 2.0])).tolist() == [9.0, 6.0]
    f = Counting(lambda r: r * 2)
    inner2 = mx.compile(f)
    outer2 = mx.compile(lambda r: inner2(r) + 1)
    assert [outer2(mx.array([float(i)])).item() for i in range(3)] == [1.0, 3.0, 5.0]
    assert f.calls == 1  # once, in the outer trace


def test_random_state_only_in_inputs_or_only_in_outputs():
    def r(a):
        return a + mx.random.uniform(shape=(2,))

    a = mx.zeros((2,))
    mx.random.seed(0)
    want = r(a).tolist()
    # Read but not written back: the same keys each call, the state does not move.
    mx.random.seed(0)
    k0 = mx.random.state[0].tolist()
    c = mx.compile(r, inputs=mx.random.state)
    assert c(a).tolist() == want and c(a).tolist() == want
    assert mx.random.state[0].tolist() == k0
    # Written back but not read (MLX): the draw is a constant, and each call puts back the
    # key the trace left.
    mx.random.seed(0)
    c = mx.compile(r, outputs=mx.random.state)
    assert c(a).tolist() == want and c(a).tolist() == want
    mx.random.seed(0)
    r(a)
    after_one = mx.random.state[0].tolist()
    mx.random.uniform(shape=(1,))  # moves the state on
    c(a)
    assert mx.random.state[0].tolist() == after_one


def test_other_threads_draw_real_keys_while_a_trace_reads_the_state():
    import threading

    started, release = threading.Event(), threading.Event()

    def f(a):
        r = a + mx.random.uniform(shape=(2,))
        started.set()
        release.wait(5)
        return r + mx.random.uniform(shape=(2,))

    st_ = mx.random.state
    c = mx.compile(f, inputs=st_, outputs=st_)
    seen = []

    def other():
        started.wait(5)
        u = mx.random.uniform(shape=(2,))
        seen.append(np.array(u))  # evaluates: not a traced key
        release.set()

    t = threading.Thread(target=other)
    t.start()
    c(mx.zeros(2))
    t.join()
    assert len(seen) == 1 and seen[0].shape == (2,)
    assert next(iter(c._tapes.values())).draws == 2


def test_concurrent_calls_of_a_stateful_function():
    import threading
    import time

    params = {"w": mx.array(0.0)}
    started, release, second_done = threading.Event(), threading.Event(), threading.Event()

    def step(x):
        if not started.is_set():
            started.set()
            release.wait(5)
        params["w"] = params["w"] + x
        return params["w"]

    c = mx.compile(step, inputs=params, outputs=params)
    errors = []

    def first():  # traces (waiting in ``step``), then calls again once the other is done
        try:
            c(mx.array(1.0))
            second_done.wait(5)
            c(mx.array(1.0))
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    def second():  # meets the first one's trace
        try:
            c(mx.array(1.0))
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)
        second_done.set()

    t = threading.Thread(target=first)
    t.start()
    started.wait(5)
    t2 = threading.Thread(target=second)
    t2.start()
    time.sleep(0.05)
    release.set()
    t.join()
    t2.join()
    # Three calls that each add one (the stand-ins of one trace are no other call's inputs).
    assert not errors and params["w"].item() == 3.0


def test_unhashable_arguments_are_refused_and_nan_is_one_signature():
    c = mx.compile(lambda a, n: a * float(n[0]))
    with pytest.raises(ValueError, match=r"\[compile\] Function arguments must be trees"):
        c(mx.ones(1), np.array([3.0]))  # its id could come back for another array
    assert c(mx.ones(1), (3.0,)).item() == 3.0
    f = mx.compile(lambda x, s: x + s)
    for _ in range(3):
        f(mx.ones(1), float("nan"))
    assert len(f._tapes) == 1


def test_returned_inputs_and_constants_are_new_objects():
    x = mx.array([1.0, 2.0])
    f = mx.compile(lambda a: (a, a + 1))
    o, _ = f(x)
    o[0] = 9.0
    assert x.tolist() == [1.0, 2.0]
    cst = mx.array([5.0, 6.0])
    g = mx.compile(lambda a: (a + 1, cst))
    g(x)[1][0] = 100.0
    assert g(x)[1].tolist() == [5.0, 6.0] and cst.tolist() == [5.0, 6.0]
    h = mx.compile(lambda a: a + cst)
    assert h(x).tolist() == [6.0, 8.0]
    cst[0] = 50.0  # after the trace: the trace keeps the value it read (as MLX)
    assert h(x).tolist() == [6.0, 8.0]
    assert mx.grad(lambda a: sum(t.sum() for t in f(a)))(x).tolist() == [2.0, 2.0]


def test_a_failed_trace_restores_reassigned_inputs():
    params = {"w": mx.array([1.0])}

    def bad(x):
        params["w"] = params["w"] + x
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        mx.compile(bad, inputs=params, outputs=params)(mx.array([1.0]))
    assert params["w"].tolist() == [1.0]


def test_disable_compile_environment_variable_set_to_anything():
    import subprocess
    import sys

    code = (
        "import umx as mx\nn = []\nc = mx.compile(lambda x: n.append(1) or x)\n"
        "c(mx.ones(1)); c(mx.ones(1)); print(len(n))"
    )
    for value, calls in (("", "2"), ("0", "2")):
        env = {**__import__("os").environ, "MLX_DISABLE_COMPILE": value}
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
        assert out.stdout.strip() == calls, out.stderr
