"""Fused chains of elementwise ops on CPU streams (umx.backends._cpu_fuse)."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import umx as mx
from tests.helpers import check
from tests.test_streams import boom
from umx._fusion import Chain
from umx._scheduler import EvalError
from umx.backends import _cpu_fuse
from umx.ops import binary, unary

pytestmark = pytest.mark.skipif(
    not _cpu_fuse.available(), reason=f"no CPU kernels: {_cpu_fuse.unavailable_reason()}"
)

FUSED = sorted(set(_cpu_fuse.OPS))
# NumPy references, in the input's dtype as umx computes them unfused.
NP = {
    "copy": np.copy, "stop_gradient": np.copy, "negative": np.negative, "abs": np.abs,
    "square": np.square, "reciprocal": lambda x: (1 / x).astype(x.dtype),
    "sqrt": np.sqrt, "rsqrt": lambda x: (1 / np.sqrt(x)).astype(x.dtype),
    "floor": np.floor, "ceil": np.ceil, "exp": np.exp,
    "sigmoid": lambda x: (1 / (1 + np.exp(-x))).astype(x.dtype),
}  # fmt: skip


@pytest.fixture
def calls(monkeypatch):
    """Counts the fused chains run (and their lengths)."""
    seen = []
    real = _cpu_fuse.run_chain

    def spy(chain, x, meanwhile=None):
        seen.append(len(chain))
        return real(chain, x, meanwhile)

    monkeypatch.setattr(_cpu_fuse, "run_chain", spy)
    return seen


def _arr(x: np.ndarray) -> mx.array:
    return mx.array(x, dtype=mx.float64 if x.dtype == np.float64 else mx.float32)


def _chain(x, names, stream=mx.cpu):
    if isinstance(x, np.ndarray):
        x = _arr(x)
    for name in names:
        x = getattr(unary, name)(x, stream=stream)
    return x


def _reference(x, names):
    with np.errstate(all="ignore"):
        for name in names:
            x = NP[name](x)
    return x


def test_a_chain_runs_as_one_call_and_matches_numpy(calls, rng):
    x = rng.standard_normal((64, 33)).astype(np.float32)
    names = ["abs", "sqrt", "exp", "negative", "sigmoid", "square", "reciprocal"]
    out = _chain(x, names)
    check(out, _reference(x, names), rtol=1e-5, atol=0)
    assert calls == [len(names)]


def test_the_seed_chain_of_500_exps(calls):
    b = mx.random.uniform(shape=(512, 4), key=mx.random.key(0))
    x = b
    for _ in range(500):
        x = mx.exp(x, stream=mx.cpu)
    ref = _reference(np.array(b), ["exp"] * 500)
    got = np.array(x)
    assert calls == [500]
    assert np.array_equal(got, ref)  # every element overflowed to inf, as in NumPy


def _kernel(x: np.ndarray, codes, threads: int = 1, chunk: int = 0, consts=None):
    """The library's chain on ``x`` directly: (result, element-ops applied)."""
    fn = _cpu_fuse._lib.umx_chain_f64 if x.dtype == np.float64 else _cpu_fuse._lib.umx_chain_f32
    codes = np.asarray(codes, np.int32)
    consts = None if consts is None else np.asarray(consts, np.float64)
    y = np.empty_like(x)
    kp = None if consts is None else consts.ctypes.data
    args = (x.ctypes.data, y.ctypes.data, x.size, codes.ctypes.data, kp, codes.size)
    return y, fn(*args, threads, chunk)


def _bits(a: np.ndarray) -> np.ndarray:
    return a.view(np.uint64 if a.dtype == np.float64 else np.uint32)


@pytest.mark.parametrize("threads", [1, 4])
def test_a_run_stops_once_it_reaches_a_fixed_point(rng, threads):
    # exp overflows to inf within six steps and stays there: the kernel stops the run there
    x = rng.random(2048, dtype=np.float32)
    exp = _cpu_fuse.OPS["exp"]
    y, applied = _kernel(x, [exp] * 500, threads, 128)
    assert np.isinf(y).all()
    assert 0 < applied <= 2048 * 10
    # a run of negatives never repeats a value: every op is applied
    y, applied = _kernel(x, [_cpu_fuse.OPS["negative"]] * 501, threads, 128)
    assert np.array_equal(_bits(y), _bits(-x)) and applied == 2048 * 501


def test_without_runs_every_op_is_applied(rng):
    x = rng.random(3000)
    codes = [_cpu_fuse.OPS["exp"], _cpu_fuse.OPS["negative"]] * 20
    y, applied = _kernel(x, codes, 4, 256)
    assert applied == 3000 * 40 and np.isfinite(y).all()


@pytest.mark.skipif(not _cpu_fuse._openmp, reason="thread counts of the OpenMP build")
def test_threads_are_sized_by_the_work_the_last_run_applied(monkeypatch):
    # The seed's chain applies about 6 of its 500 exps: the next run of the same chain is
    # worth one thread. Where only part of the input stops early, the average counts.
    monkeypatch.setattr(_cpu_fuse, "_threads", 4)
    monkeypatch.setattr(_cpu_fuse, "_CODES", {})  # every chain new: all its ops assumed applied
    sizes = []  # the threads each kernel call was given
    lib = _cpu_fuse._lib

    class Spy:
        def __getattr__(self, name):
            real = getattr(lib, name)
            if not name.startswith("umx_chain_f"):
                return real
            return lambda *args: sizes.append(args[6]) or real(*args)

    monkeypatch.setattr(_cpu_fuse, "_lib", Spy())

    def per_element(x, names):  # what the kernel cache measured for this chain
        return _cpu_fuse._CODES[Chain.of(_ancestors(_chain(x, names))).key][2]

    x = np.random.default_rng(0).random(8192, dtype=np.float32)
    exps = ["exp"] * 500
    np.array(_chain(x, exps))
    np.array(_chain(x, exps))
    assert sizes[:2] == [4, 1]
    assert per_element(x, exps) <= 10
    y = np.concatenate([np.ones(1024, np.float32), x])  # 1.0 is a fixed point of reciprocal
    out = np.array(_chain(y, ["reciprocal"] * 500))
    np.testing.assert_allclose(out, y, rtol=1e-6)
    assert per_element(y, ["reciprocal"] * 500) > 400


@given(
    runs=st.lists(
        st.tuples(st.sampled_from(sorted(set(_cpu_fuse.OPS.values()))), st.integers(1, 40)),
        min_size=1,
        max_size=6,
    ),
    dtype=st.sampled_from([np.float32, np.float64]),
    n=st.sampled_from([1, 5, 130, 1100, 2500]),
    threads=st.sampled_from([1, 3]),
    seed=st.integers(0, 2**16),
)
def test_stopping_runs_early_gives_the_same_bits(runs, dtype, n, threads, seed):
    # The same chain with a copy between every two ops has no run to stop: bit for bit the
    # same result (signed zeros and nan payloads included: -0.0 and 0.0 are not a fixed
    # point of negative, though they compare equal).
    rng = np.random.default_rng(seed)
    special = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, -np.nan, 1.0, -1.0], dtype)
    x = np.concatenate([special, (rng.standard_normal(n) * 50).astype(dtype)])[:n]
    x = np.ascontiguousarray(rng.permutation(x))
    codes = [op for op, k in runs for _ in range(k)]
    spaced = [c for op in codes for c in (op, 0)]
    y, applied = _kernel(x, codes, threads, 128)
    ref, _ = _kernel(x, spaced)
    assert np.array_equal(_bits(y), _bits(ref))
    assert 0 <= applied <= n * len(codes)


# floor and ceil turn an ulp of difference upstream into a whole unit: tested apart
SMOOTH = [n for n in FUSED if n not in ("floor", "ceil")]


@given(
    names=st.lists(st.sampled_from(SMOOTH), min_size=3, max_size=12),
    shape=st.sampled_from([(), (0,), (1,), (7,), (3, 5), (1025,), (40, 70), (2, 0, 3)]),
    dtype=st.sampled_from([np.float32, np.float64]),
    seed=st.integers(0, 2**16),
)
def test_random_chains_match_numpy(names, shape, dtype, seed):
    rng = np.random.default_rng(seed)
    x = np.asarray(rng.standard_normal(shape) * 4, dtype=dtype)
    with np.errstate(all="ignore"):
        ref = _reference(x, names)
    out = np.array(_chain(x, names))
    # exp and sigmoid differ from NumPy's by an ulp or so, and chains amplify that: bound
    # umx's relative error by propagating an ulp per op through each op's condition number.
    wide = np.longdouble if dtype == np.float64 else np.float64
    with np.errstate(all="ignore"):
        v = x.astype(wide)
        bound = np.zeros_like(v)
        for name in names:
            cond = {"exp": np.abs(v), "sqrt": 0.5, "rsqrt": 0.5, "square": 2.0}.get(name, 1.0)
            if name == "sigmoid":
                cond = np.abs(v) / (1 + np.exp(v))
            v = NP[name](v)
            bound = np.nan_to_num(cond * bound, nan=0.0) + 2 * np.finfo(dtype).eps
        exact = v
        tol = 4 * bound * np.abs(exact) + 4 * np.abs(ref - exact)
        bad = ~(np.abs(out - exact) <= tol) & ~(out == ref) & ~(np.isnan(out) & np.isnan(ref))
    assert not bad.any(), (out[bad], ref[bad], exact[bad])
    assert out.dtype == dtype and out.shape == shape


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_special_values_agree_with_numpy(dtype):
    info = np.finfo(dtype)
    vals = [0.0, -0.0, 1.0, -1.0, np.inf, -np.inf, np.nan, info.max, info.tiny, -info.tiny,
            info.smallest_subnormal, 88.7, 88.8, -87.3, -103.9, -104.0, 709.7, 709.8, -745.0,
            -745.2, 0.5, 1e-8, -1e-8, 1e30, -1e30]  # fmt: skip
    x = np.array(vals, dtype=dtype)
    for name in FUSED:
        out = np.array(_chain(x, [name, "copy", "copy"]))
        with np.errstate(all="ignore"):
            ref = NP[name](x)
        # same inf / nan / zero pattern (signs included), values within an ulp
        assert np.array_equal(np.isnan(out), np.isnan(ref)), name
        assert np.array_equal(out == np.inf, ref == np.inf), name
        assert np.array_equal(out == -np.inf, ref == -np.inf), name
        assert np.array_equal(out == 0, ref == 0), name
        assert np.array_equal(np.signbit(out[out == 0]), np.signbit(ref[ref == 0])), name
        fin = np.isfinite(ref)
        np.testing.assert_allclose(out[fin], ref[fin], rtol=3 * info.eps, atol=0, err_msg=name)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_exp_is_within_about_an_ulp(dtype, rng):
    x = (rng.standard_normal(1 << 16) * (30 if dtype == np.float32 else 200)).astype(dtype)
    out = np.array(_chain(x, ["exp", "copy", "copy"]))
    ref = np.exp(x.astype(np.longdouble))
    with np.errstate(all="ignore"):
        ulp = np.spacing(ref.astype(dtype)).astype(np.longdouble)
        ok = np.isfinite(ref.astype(dtype)) & (ref.astype(dtype) > np.finfo(dtype).tiny)
    assert ok.sum() > 1000
    # float32: about 1 ulp (NumPy: 2.4); float64: 1.1 ulp (NumPy: 0.7)
    assert float((np.abs(out - ref) / ulp)[ok].max()) <= 1.2


def test_a_large_chain_is_split_across_threads(monkeypatch, rng):
    monkeypatch.setattr(_cpu_fuse, "_threads", 4)
    monkeypatch.setattr(_cpu_fuse, "_OPS_PER_THREAD", 1 << 10)
    x = rng.standard_normal(100_003).astype(np.float32)
    names = ["abs", "sqrt", "negative", "exp", "square"]
    out = _chain(x, names)
    np.testing.assert_allclose(np.array(out), _reference(x, names), rtol=1e-6)


def test_non_contiguous_inputs(calls, rng):
    x = rng.standard_normal((30, 40)).astype(np.float64)
    a = mx.transpose(_arr(x))[::2]
    out = _chain(a, ["negative", "exp", "sqrt"])
    check(out, _reference(x.T[::2], ["negative", "exp", "sqrt"]), rtol=1e-14)
    assert calls == [3]


def test_intermediates_someone_holds_are_computed(calls, rng):
    x = mx.array(rng.standard_normal(100).astype(np.float32))
    y1 = mx.exp(x, stream=mx.cpu)
    y2 = mx.negative(y1, stream=mx.cpu)
    y3 = _chain(y2, ["square", "sqrt", "abs"])
    mx.eval(y3)  # y1 and y2 are held: only square, sqrt, abs fuse
    assert calls == [3]
    check(y1, np.exp(np.array(x)), rtol=1e-6)
    check(y2, -np.exp(np.array(x)), rtol=1e-6)
    check(y3, np.exp(np.array(x)), rtol=1e-6)


def test_other_dtypes_and_short_chains_are_not_fused(calls):
    h = mx.exp(mx.exp(mx.exp(mx.zeros((4,), dtype=mx.float16))))
    check(h, np.exp(np.exp(np.exp(np.zeros(4, np.float16)))))
    two = mx.exp(mx.exp(mx.zeros((4,))))
    check(two, np.exp(np.exp(np.zeros(4, np.float32))))
    assert calls == []


def test_a_failure_before_the_chain_reaches_eval_and_the_stream_recovers(monkeypatch):
    real = _cpu_fuse.run_chain

    def broken(chain, x, meanwhile=None):
        raise FloatingPointError("boom")

    monkeypatch.setattr(_cpu_fuse, "run_chain", broken)
    out = _chain(mx.ones((8,)), ["exp", "negative", "exp"])
    with pytest.raises(RuntimeError, match="exp.*boom|boom"):
        mx.eval(out)
    monkeypatch.setattr(_cpu_fuse, "run_chain", real)
    again = _chain(mx.ones((8,)), ["exp", "negative", "exp"])
    check(again, np.exp(-np.exp(np.ones(8, np.float32))), rtol=1e-6)


def test_the_chain_inherits_an_earlier_failure():
    out = _chain(boom(mx.ones((6,))), ["exp", "exp", "exp"])
    with pytest.raises(EvalError, match=r"\[boom\]"):
        mx.eval(out)
    check(
        _chain(mx.ones((2,)), ["exp", "exp", "exp"]),
        _reference(np.ones(2, np.float32), ["exp"] * 3),
    )


def test_without_a_compiler_chains_run_op_by_op(tmp_path):
    code = (
        "import numpy as np, umx as mx\n"
        "from umx.backends import _cpu_fuse\n"
        "x = mx.array(np.arange(6, dtype=np.float32))\n"
        "y = mx.sqrt(mx.exp(mx.negative(x)))\n"
        "print(np.allclose(np.array(y), np.sqrt(np.exp(-np.arange(6)))), _cpu_fuse.available(),"
        " _cpu_fuse.unavailable_reason())\n"
    )
    env = dict(os.environ, CC="no-such-compiler-here", UMX_CACHE_DIR=str(tmp_path))
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("True False OSError: no C compiler"), r.stdout
    env = dict(os.environ, UMX_CPU_FUSION="0")
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert r.stdout.strip() == "True False disabled by UMX_CPU_FUSION=0", r.stdout + r.stderr


def _child_chain(q):
    x = np.linspace(-3, 3, 1 << 16, dtype=np.float32)
    out = _chain(x, ["exp", "negative", "exp", "sqrt"] * 8)
    q.put(float(np.array(out).sum()))


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
@pytest.mark.parametrize("openmp", [True, False])  # the library's threads, or Python's pool
def test_a_forked_child_runs_chains_after_the_parent_split_one(monkeypatch, openmp):
    import multiprocessing as mp

    monkeypatch.setattr(_cpu_fuse, "_OPS_PER_THREAD", 1 << 10)
    monkeypatch.setattr(_cpu_fuse, "_openmp", openmp and _cpu_fuse._openmp)
    monkeypatch.setattr(_cpu_fuse, "_threads", max(2, _cpu_fuse._threads))
    _child_chain(q := mp.get_context("fork").SimpleQueue())  # the parent splits first
    expected = q.get()
    ctx = mp.get_context("fork")
    q = ctx.SimpleQueue()
    p = ctx.Process(target=_child_chain, args=(q,))
    p.start()
    p.join(30)
    assert not p.is_alive(), "the forked child hung in a fused chain"
    assert p.exitcode == 0 and q.get() == pytest.approx(expected, rel=1e-6)


def test_a_dtype_changing_first_op_runs_alone_and_the_rest_fuses(calls):
    # exp of ints gives float32: the rest of the run fuses. Rejecting the whole run made the
    # graph walk climb it again from every node (quadratic: 16000 ops took 7.7 s).
    y = mx.exp(mx.array([1, 2, 3]), stream=mx.cpu)
    for _ in range(20001):
        y = mx.negative(y, stream=mx.cpu)
    check(y, -np.exp(np.array([1.0, 2.0, 3.0])), rtol=1e-6)
    assert calls == [20001]


def test_the_private_reference_count_is_measured_with_tracing_off():
    # A tracer that reads f_locals holds one more reference; counted in, the graph walk would
    # take an array the user holds for private and fuse it away.
    code = (
        "import sys\n"
        "def tracer(frame, event, arg):\n"  # a debugger stepping through umx's probe
        "    if frame.f_code.co_name != 'probe':\n"
        "        return None\n"
        "    frame.f_locals\n"
        "    return tracer\n"
        "sys.settrace(tracer)\n"
        "import umx as mx, numpy as np\n"
        "from umx.ops import unary\n"
        "sys.settrace(None)\n"
        "from umx._fusion import PRIVATE_REFS\n"
        "x = mx.array(np.arange(4, dtype=np.float32))\n"
        "b = unary.exp(x, stream=mx.cpu)\n"
        "c = unary.negative(unary.exp(unary.negative(b, stream=mx.cpu), stream=mx.cpu), stream=mx.cpu)\n"
        "mx.eval(c)\n"
        "print(PRIVATE_REFS, np.allclose(np.array(b), np.exp(np.arange(4))))\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split()[1] == "True", r.stdout


@pytest.mark.parametrize("value", ["", "auto", "-3"])
def test_a_bad_thread_count_in_the_environment_is_ignored(value):
    code = (
        "import numpy as np, umx as mx\n"
        "z = mx.array(np.linspace(0, 1, 4096, dtype=np.float32))\n"
        "for _ in range(8):\n"
        "    z = mx.sqrt(z, stream=mx.cpu)\n"
        "print(np.isfinite(np.array(z)).all())\n"
    )
    env = dict(os.environ, UMX_CPU_THREADS=value)
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.strip() == "True", r.stdout + r.stderr


# -- chains in the background (the calling thread enqueues GPU work meanwhile) ----------------


def _busy() -> bool:
    """True while a chain handed to the library's helper thread has not been joined."""
    lib = _cpu_fuse._lib
    x = np.zeros(4, np.float32)
    codes = np.zeros(1, np.int32)
    rc = lib.umx_chain_start(
        0, x.ctypes.data, x.ctypes.data, 4, codes.ctypes.data, None, 1, 1, 0, 0
    )
    if rc == 0:
        assert lib.umx_chain_join() == 4  # one copy of 4 elements
    return rc == -3


@pytest.mark.skipif(not _cpu_fuse._openmp, reason="background chains need the OpenMP build")
def test_meanwhile_runs_while_the_chain_runs_in_the_background():
    x = (np.arange(3000, dtype=np.float32) - 1500) / 300
    names = ["exp", "negative", "sigmoid", "sqrt"] * 50
    seen = []
    out = _chain(x, names)
    result = _cpu_fuse.run_chain(Chain.of(_ancestors(out)), x, lambda: seen.append(_busy()))
    assert seen == [True]  # called once, while the helper held the chain
    assert not _busy()  # joined
    np.testing.assert_allclose(result, _reference(x, names), rtol=2e-6)


@pytest.mark.skipif(not _cpu_fuse._openmp, reason="background chains need the OpenMP build")
def test_a_chain_too_small_for_a_thread_runs_after_meanwhile_on_the_calling_thread(monkeypatch):
    # The seed's chain applies about 6 of its 500 exps: once that is known, handing it to
    # the helper thread and back costs more than running it after the GPU work is enqueued.
    monkeypatch.setattr(_cpu_fuse, "_CODES", {})  # a new chain: all its ops assumed applied
    x = np.random.default_rng(1).random(2048, dtype=np.float32)
    exps = ["exp"] * 500
    seen = []
    for _ in range(2):
        chain = Chain.of(_ancestors(_chain(x, exps)))
        out = _cpu_fuse.run_chain(chain, x, lambda: seen.append(_busy()))
        assert np.isinf(out).all()
    assert seen == [True, False]  # in the background first, then before the chain


def _ancestors(out) -> list:
    """The nodes of an unevaluated run of unary ops, first to last."""
    nodes = []
    while out._inputs and out._data is None:
        nodes.append(out)
        out = out._inputs[0]
    return nodes[::-1]


def test_drain_inline_calls_meanwhile_once_before_a_batch_that_is_not_a_chain():
    from umx import _eval

    x = mx.ones((8,), stream=mx.cpu)
    y = mx.add(x, x, stream=mx.cpu)
    (ex,) = _eval._schedule([y], inline=True)
    computed = []
    ex.drain_inline(meanwhile=lambda: computed.append(y._data is not None))
    assert computed == [False]  # before the batch ran
    check(y, np.full(8, 2, np.float32))


@pytest.mark.skipif(not _cpu_fuse._openmp, reason="background chains need the OpenMP build")
def test_drain_inline_calls_meanwhile_while_a_leading_chain_runs():
    from umx import _eval

    x = mx.ones((4096,), stream=mx.cpu)
    mx.eval(x)
    z = mx.add(_chain(x, ["exp", "negative", "exp"] * 20), 1, stream=mx.cpu)
    (ex,) = _eval._schedule([z], inline=True)
    seen = []
    ex.drain_inline(meanwhile=lambda: seen.append(_busy()))
    assert seen == [True]
    check(z, _reference(np.ones(4096, np.float32), ["exp", "negative", "exp"] * 20) + 1)


def test_meanwhile_still_runs_once_when_the_chain_fails(monkeypatch):
    from umx import _eval

    def broken(chain, x, meanwhile=None):
        raise FloatingPointError("boom")

    x = mx.ones((6,), stream=mx.cpu)
    mx.eval(x)
    z = _chain(x, ["exp", "exp", "exp"])
    (ex,) = _eval._schedule([z], inline=True)
    monkeypatch.setattr(_cpu_fuse, "run_chain", broken)
    calls = []
    ex.drain_inline(meanwhile=lambda: calls.append(1))
    assert calls == [1]  # the GPU work would still be enqueued
    with pytest.raises(EvalError, match="boom"):
        mx.eval(z)


# -- binary ops with a constant (x * 2, 1 - x, maximum(x, 0)) ---------------------------------

EXACT = ["negative", "abs", "square", "reciprocal", "sqrt", "rsqrt", "floor", "ceil"]
BINARY = ["add", "subtract", "multiply", "divide", "maximum", "minimum"]
NP_BINARY = {
    "add": np.add, "subtract": np.subtract, "multiply": np.multiply, "divide": np.divide,
    "maximum": np.maximum, "minimum": np.minimum,
}  # fmt: skip


def _steps(x, steps, stream=mx.cpu):
    """Apply ``steps``: a unary op's name, or (binary op, constant, constant first)."""
    if isinstance(x, np.ndarray):
        x = _arr(x)
    for s in steps:
        if isinstance(s, str):
            x = getattr(unary, s)(x, stream=stream)
        else:
            name, c, first = s
            op = getattr(mx, name)
            x = op(c, x, stream=stream) if first else op(x, c, stream=stream)
    return x


def _steps_reference(x, steps):
    with np.errstate(all="ignore"):
        for s in steps:
            if isinstance(s, str):
                x = NP[s](x)
            else:
                name, c, first = s
                c = x.dtype.type(c)
                x = NP_BINARY[name](c, x) if first else NP_BINARY[name](x, c)
    return x


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    """Bit for bit where not nan (signed zeros count); nan where the other is nan."""
    nan = np.isnan(a)
    return (
        a.dtype == b.dtype
        and np.array_equal(nan, np.isnan(b))
        and np.array_equal(_bits(np.where(nan, 0, a)), _bits(np.where(nan, 0, b)))
    )


def test_a_run_of_scalar_arithmetic_is_one_chain(calls, rng):
    from umx import _eval

    x = rng.standard_normal(1000).astype(np.float32)
    steps = [("multiply", 1.0001, False), ("add", 0.001, False)] * 50
    steps += [("maximum", 0.0, False), ("subtract", 1.0, True), "abs", ("divide", 3.0, True)]
    y = _steps(x, steps)
    ((node, chain),) = _eval._topo([y], False)[0]
    assert node is y and len(chain) == len(steps) and len(chain.consts) == len(steps) - 1
    assert chain.key[:2] == ((binary.Multiply, 0), (binary.Add, 0))
    assert chain.key[-3:] == ((binary.Subtract, 1), unary.Abs, (binary.Divide, 1))
    del node, chain  # (held here, the nodes would not be private to the run)
    assert _same(np.array(y), _steps_reference(x, steps))
    assert calls == [len(steps)]


@given(
    steps=st.lists(
        st.one_of(
            st.sampled_from(EXACT),
            st.tuples(
                st.sampled_from(BINARY),
                st.sampled_from([0.0, -0.0, 1.0, -1.5, 3.0, 1e30, np.inf, -np.inf, np.nan]),
                st.booleans(),
            ),
        ),
        min_size=3,
        max_size=14,
    ),
    dtype=st.sampled_from([np.float32, np.float64]),
    n=st.sampled_from([1, 7, 1030]),
    seed=st.integers(0, 2**16),
)
def test_chains_with_constants_give_numpys_bits(steps, dtype, n, seed):
    # Every op here is exact in IEEE arithmetic: the fused kernel and NumPy agree bit for
    # bit (maximum and minimum as NumPy's: nan wins, equal operands give the second).
    rng = np.random.default_rng(seed)
    special = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1.0, -1.0], dtype)
    x = np.concatenate([special, (rng.standard_normal(n) * 50).astype(dtype)])
    x = rng.permutation(x)[:n]
    assert _same(np.array(_steps(x, steps)), _steps_reference(x, steps))


def test_repeated_constant_runs_stop_at_a_fixed_point(rng):
    # A run of one op with one constant stops where the block stops changing; a run whose
    # constant changes is not one run.
    add = _cpu_fuse.BINARY_OPS["add", 0]
    x = np.array([1e30, -1e30, 3.0, 0.0], np.float32)
    y, applied = _kernel(x, [add] * 300, consts=[1.0] * 300)
    assert np.array_equal(y, x + np.float32(300))
    assert applied == 4 * 300  # 3.0 and 0.0 keep changing
    big = np.full(4, 1e30, np.float32)
    y, applied = _kernel(big, [add] * 300, consts=[1.0] * 300)
    assert np.array_equal(y, big) and applied == 4  # 1e30 + 1 == 1e30: one step
    y, applied = _kernel(big, [add] * 3, consts=[1.0, 1e30, 1.0])
    assert np.array_equal(y, big + np.float32(1e30)) and applied == 12


def test_what_is_not_a_constant_ends_the_run(calls, rng):
    from umx import _eval

    x = mx.array(rng.standard_normal(64).astype(np.float32))
    mx.eval(x)
    s = mx.sum(x)  # 0-d but not computed yet: an input, not a constant
    z = mx.exp(mx.exp(mx.exp(mx.multiply(mx.exp(mx.exp(mx.exp(x))), s))))
    entries = _eval._topo([z], False)[0]
    chains = [p for _, p in entries if isinstance(p, Chain)]
    assert [len(c) for c in chains] == [3, 3]
    w = mx.add(x, mx.array(np.ones(64, np.float32)))  # an array operand: not a constant
    w = mx.exp(mx.exp(w))
    assert [len(p) for _, p in _eval._topo([w], False)[0] if isinstance(p, Chain)] == []
    d = mx.exp(mx.exp(mx.multiply(x, mx.array(2.0, dtype=mx.float64))))  # float64 result
    assert d.dtype == mx.float64
    np.testing.assert_allclose(np.array(d), np.exp(np.exp(np.array(x, np.float64) * 2)))
    with np.errstate(over="ignore"):
        ref = np.exp(np.exp(np.exp(np.exp(np.exp(np.exp(np.array(x)))) * np.array(x).sum())))
    np.testing.assert_allclose(np.array(z), ref, rtol=1e-4)


def test_without_the_library_a_chain_with_constants_runs_op_by_op(monkeypatch, rng):
    x = rng.standard_normal(33).astype(np.float64)
    steps = [
        "abs",
        ("subtract", 2.0, True),
        ("maximum", 0.5, False),
        "sqrt",
        ("divide", 4.0, False),
    ]
    y = _steps(x, steps)
    monkeypatch.setattr(_cpu_fuse, "available", lambda: False)  # after the walk: at run time
    assert _same(np.array(y), _steps_reference(x, steps))


def test_a_constant_is_the_value_the_walk_found(rng):
    # A setitem on the constant's array object rebinds that object to a new node: the run
    # found before it keeps the value it was built with (it read nan here, once).
    from umx import _eval

    xn = rng.standard_normal(40).astype(np.float32)
    c = mx.array(2.0)
    y = _steps(xn, [("multiply", c, False), "negative", "abs", "negative"])
    ((_, chain),) = _eval._topo([y], False)[0]
    c[...] = 5.0
    assert np.array_equal(_cpu_fuse.run_chain(chain, xn), -np.abs(xn * np.float32(2)))


def test_an_evaluated_reduction_is_a_constant(calls, rng):
    xn = rng.standard_normal(50).astype(np.float32)
    x = mx.array(xn)
    s = mx.sum(x, stream=mx.cpu)
    mx.eval(s)  # a NumPy scalar now
    y = _steps(x, [("multiply", s, False), ("add", 1.0, False), "exp"])
    np.testing.assert_allclose(np.array(y), np.exp(xn * np.array(s) + 1), rtol=1e-6)
    assert calls == [3]


def test_gpu_kernel_structure_makes_unary_run_lengths_arguments():
    # Chains that differ only in how long their unary runs are share one CUDA kernel.
    from umx.backends import _cuda_fuse

    Exp, Sin = type(mx.exp(mx.array(1.0))._prim), type(mx.sin(mx.array(1.0))._prim)
    Add = type(mx.add(mx.array([1.0]), 2.0)._prim)
    key = (Exp,) * 7 + ((Add, 0),) * 2 + (Sin,) * 3 + (Exp,)
    shape, lengths = _cuda_fuse.structure(key)
    assert shape == (Exp, (Add, 0), (Add, 0), Sin, Exp) and lengths == (7, 3, 1)
    assert _cuda_fuse.structure((Exp,) * 500 + (Sin,))[0] == _cuda_fuse.structure((Exp, Sin))[0]
    code = _cuda_fuse.kernel_code(shape)
    assert "umx_k < n0; umx_k++) v = exp(v);" in code and "n2" in code
    assert "v = v + c0;" in code and "v = v + c1;" in code
