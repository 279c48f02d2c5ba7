"""The CUDA backend: every op on the GPU against the CPU, cross-device graphs, memory, interop.

Every test here is marked ``gpu``: tests/conftest.py skips them where CuPy finds no CUDA
device (CI), with that reason.
"""

from __future__ import annotations

import gc
import threading

import numpy as np
import pytest

import umx as mx
from umx.ops import binary, unary

pytestmark = pytest.mark.gpu

RNG = np.random.default_rng(7)
_TOL = {"float16": 3e-3, "bfloat16": 3e-2, "float32": 2e-5, "float64": 1e-12, "complex64": 2e-5}


def _np(x):
    if isinstance(x, mx.array):
        h = np.array(x)
        return h.astype(np.float32) if x.dtype == mx.bfloat16 else h
    if isinstance(x, (list, tuple)):
        return [_np(v) for v in x]
    return x


def _compare(g, c, name):
    if isinstance(c, list):
        assert isinstance(g, list) and len(g) == len(c), name
        for gi, ci in zip(g, c):
            _compare(gi, ci, name)
        return
    if not isinstance(c, np.ndarray):
        assert g == c, name
        return
    assert g.shape == c.shape and g.dtype == c.dtype, (
        f"{name}: {g.shape} {g.dtype} vs {c.shape} {c.dtype}"
    )
    if c.dtype.kind in "fc":
        tol = _TOL.get(c.dtype.name, 1e-5)
        np.testing.assert_allclose(g, c, rtol=tol, atol=tol, equal_nan=True, err_msg=name)
    else:
        np.testing.assert_array_equal(g, c, err_msg=name)


def cpu_vs_gpu(fn, name="op"):
    """Evaluate ``fn(stream)`` on the CPU and on the GPU and compare the results."""
    try:
        c = fn(mx.cpu)
        mx.eval(c)
    except (ValueError, TypeError, NotImplementedError, AttributeError) as e:
        pytest.skip(f"{name} not available: {e}")
    try:
        g = fn(mx.gpu)
    except (ValueError, NotImplementedError) as e:  # CPU-only ops (MLX: linalg on the CPU)
        if "gpu" in str(e).lower() or "cpu" in str(e).lower():
            pytest.skip(f"{name} runs on the CPU only: {e}")
        raise
    mx.eval(g)
    gh = _np(g)
    _check_declared(g, gh, name)  # the GPU buffer has the declared shape and dtype
    _compare(gh, _cast_declared(c, _np(c)), name)
    return g


def _check_declared(a, h, name):
    if isinstance(a, (list, tuple)):
        for ai, hi in zip(a, h):
            _check_declared(ai, hi, name)
        return
    if isinstance(a, mx.array):
        want = np.float32 if a.dtype == mx.bfloat16 else a.dtype.np
        assert h.shape == tuple(a.shape) and h.dtype == want, f"{name}: buffer {h.dtype} {h.shape}"


def _cast_declared(a, h):
    """The CPU result in its declared dtype (the CPU tests check the CPU buffers)."""
    if isinstance(a, (list, tuple)):
        return [_cast_declared(ai, hi) for ai, hi in zip(a, h)]
    if isinstance(a, mx.array) and a.dtype != mx.bfloat16 and h.dtype != a.dtype.np:
        return h.astype(a.dtype.np)
    return h


# -- every elementwise op, generically -----------------------------------------------------------
_FLOATS = (mx.float32, mx.float64, mx.float16)


def _input(d, shape=(3, 5), lo=-0.9, hi=0.9):
    if d.kind == "b":
        return mx.array(RNG.random(shape) > 0.5)
    if d.kind in "iu":
        return mx.array(RNG.integers(1, 6, size=shape), dtype=d)
    if d.kind == "c":
        return mx.array(RNG.uniform(lo, hi, shape) + 1j * RNG.uniform(lo, hi, shape), dtype=d)
    return mx.array(RNG.uniform(lo, hi, shape), dtype=d)


_UNARY = [n for n in unary.__all__ if n not in ("astype",)]
_BINARY = list(binary.__all__)
_DTYPES = [
    mx.float32,
    mx.float64,
    mx.float16,
    mx.bfloat16,
    mx.int32,
    mx.uint8,
    mx.bool_,
    mx.complex64,
]


@pytest.mark.parametrize("d", _DTYPES, ids=lambda d: d.name)
@pytest.mark.parametrize("name", _UNARY)
def test_unary_cpu_vs_gpu(name, d):
    f = getattr(mx, name)
    x = _input(d)
    try:
        f(x)
    except (ValueError, TypeError) as e:
        pytest.skip(f"{name} does not take {d.name}: {e}")
    cpu_vs_gpu(lambda s: f(x, stream=s), f"{name}[{d.name}]")


@pytest.mark.parametrize("d", _DTYPES, ids=lambda d: d.name)
@pytest.mark.parametrize("name", _BINARY)
def test_binary_cpu_vs_gpu(name, d):
    f = getattr(mx, name)
    x, y = _input(d), _input(d, (1, 5), 0.1, 0.9)
    try:
        f(x, y)
    except (ValueError, TypeError, RuntimeError) as e:  # MLX: RuntimeError for float bitwise
        pytest.skip(f"{name} does not take {d.name}: {e}")
    cpu_vs_gpu(lambda s: f(x, y, stream=s), f"{name}[{d.name}]")


def test_logical_ops_of_complex_run_on_the_gpu():
    from umx.backends._cuda_exec import FALLBACKS

    z = mx.array(np.array([0, 1j, 2, 0], np.complex64))
    w = mx.array(np.array([1, 0, 3, 0], np.complex64))
    outs = [
        mx.logical_not(z, stream=mx.gpu),
        mx.logical_and(z, w, stream=mx.gpu),
        mx.logical_or(z, w, stream=mx.gpu),
        mx.logical_xor(z, w, stream=mx.gpu),
    ]
    assert [o.tolist() for o in outs] == [
        [True, False, False, True],
        [False, False, True, False],
        [True, True, True, False],
        [True, True, False, False],
    ]
    assert not {"logical_not", "logical_and", "logical_or", "logical_xor"} & set(FALLBACKS)


def test_astype_cpu_vs_gpu():
    x = _input(mx.float32, lo=-3, hi=3)
    for d in _DTYPES:
        if d.kind == "u":  # negative floats to unsigned ints are undefined in C and CUDA
            x = mx.abs(x)
        cpu_vs_gpu(lambda s, d=d, x=x: mx.astype(x, d, stream=s), f"astype[{d.name}]")


# -- the other families: a table of calls -------------------------------------------------------
A = mx.array(RNG.uniform(-1, 1, (4, 6)).astype(np.float32))
A64 = mx.array(RNG.uniform(-1, 1, (4, 6)), dtype=mx.float64)
SQ = mx.array((RNG.uniform(-1, 1, (5, 5)) + 5 * np.eye(5)).astype(np.float32))
SPD = mx.array((lambda m: m @ m.T + 5 * np.eye(5))(RNG.uniform(-1, 1, (5, 5))).astype(np.float32))
V = mx.array(RNG.uniform(-1, 1, (6,)).astype(np.float32))
I = mx.array(RNG.integers(0, 4, (4, 6)).astype(np.int32))
IDX = mx.array(np.array([3, 0, 2], np.int32))
B3 = mx.array(RNG.uniform(-1, 1, (2, 3, 4)).astype(np.float32))

CALLS = {
    # reductions
    "sum": lambda s: mx.sum(A, axis=1, stream=s),
    "sum_all_f64": lambda s: mx.sum(A64, stream=s),
    "prod": lambda s: mx.prod(A, axis=0, stream=s),
    "mean": lambda s: mx.mean(A, axis=(0, 1), keepdims=True, stream=s),
    "var": lambda s: mx.var(A, axis=1, ddof=1, stream=s),
    "std": lambda s: mx.std(A64, axis=0, stream=s),
    "max": lambda s: mx.max(A, axis=1, stream=s),
    "min": lambda s: mx.min(I, stream=s),
    "all": lambda s: mx.all(A > 0, axis=1, stream=s),
    "any": lambda s: mx.any(A > 0.9, stream=s),
    "argmax": lambda s: mx.argmax(A, axis=1, stream=s),
    "argmin": lambda s: mx.argmin(A, axis=0, stream=s),
    "logsumexp": lambda s: mx.logsumexp(A, axis=1, stream=s),
    "count_nonzero": lambda s: mx.count_nonzero(I, axis=0, stream=s),
    "median": lambda s: mx.median(A, axis=1, stream=s),
    # scans
    "cumsum": lambda s: mx.cumsum(A, axis=1, stream=s),
    "cumprod": lambda s: mx.cumprod(A, axis=0, reverse=True, stream=s),
    "cummax": lambda s: mx.cummax(A, axis=1, stream=s),
    "cummin": lambda s: mx.cummin(I, axis=1, stream=s),
    "logcumsumexp": lambda s: mx.logcumsumexp(A, axis=1, stream=s),
    # shape
    "reshape": lambda s: mx.reshape(A, (6, 4), stream=s),
    "transpose": lambda s: mx.transpose(B3, (2, 0, 1), stream=s),
    "swapaxes": lambda s: mx.swapaxes(B3, 0, 2, stream=s),
    "moveaxis": lambda s: mx.moveaxis(B3, 0, -1, stream=s),
    "squeeze": lambda s: mx.squeeze(mx.expand_dims(A, 0, stream=s), 0, stream=s),
    "flatten": lambda s: mx.flatten(B3, stream=s),
    "broadcast_to": lambda s: mx.broadcast_to(V, (3, 6), stream=s),
    "concatenate": lambda s: mx.concatenate([A, A * 2], axis=1, stream=s),
    "stack": lambda s: mx.stack([A, A], axis=1, stream=s),
    "split": lambda s: mx.split(A, 3, axis=1, stream=s),
    # out of range and decreasing points: Python's slice rules (CuPy's split read outside)
    "split_points": lambda s: mx.split(A, [-7, 2, 1, 9, -1], axis=1, stream=s),
    "repeat": lambda s: mx.repeat(A, 2, axis=0, stream=s),
    "tile": lambda s: mx.tile(A, (2, 1), stream=s),
    "pad": lambda s: mx.pad(A, ((1, 1), (0, 2)), stream=s),
    "flip": lambda s: mx.flip(A, axis=1, stream=s) if hasattr(mx, "flip") else None,
    "roll": lambda s: mx.roll(A, 2, axis=1, stream=s),
    "tril": lambda s: mx.tril(SQ, stream=s),
    "triu": lambda s: mx.triu(SQ, 1, stream=s),
    "diagonal": lambda s: mx.diagonal(SQ, stream=s),
    "diag": lambda s: mx.diag(V, stream=s),
    "unflatten": lambda s: mx.unflatten(A, 1, (2, 3), stream=s),
    "contiguous": lambda s: mx.contiguous(mx.transpose(A, stream=s), stream=s),
    # index
    "take": lambda s: mx.take(A, IDX, axis=1, stream=s),
    "take_along_axis": lambda s: mx.take_along_axis(
        A, mx.argsort(A, axis=1, stream=s), axis=1, stream=s
    ),
    "put_along_axis": lambda s: mx.put_along_axis(
        A, IDX.reshape(1, 3), mx.array(9.0), axis=0, stream=s
    ),
    "slice": lambda s: mx.slice(A, mx.array([1, 2]), (0, 1), (2, 3), stream=s),
    "slice_update": lambda s: mx.slice_update(
        A, mx.zeros((2, 3)), mx.array([1, 2]), (0, 1), stream=s
    ),
    "getitem": lambda s: mx.multiply(A, 1, stream=s)[1:3, ::2],
    "getitem_array": lambda s: mx.multiply(A, 1, stream=s)[IDX],
    "where": lambda s: mx.where(A > 0, A, -A, stream=s),
    "clip": lambda s: mx.clip(A, -0.5, 0.5, stream=s),
    "isclose": lambda s: mx.isclose(A, A + 1e-7, stream=s),
    "softmax": lambda s: mx.softmax(A, axis=1, stream=s),
    # sort
    "sort": lambda s: mx.sort(A, axis=1, stream=s),
    "argsort": lambda s: mx.argsort(A, axis=0, stream=s),
    "partition": lambda s: mx.sort(mx.partition(A, 2, axis=1, stream=s), axis=1, stream=s),
    "topk": lambda s: mx.topk(A, 2, axis=1, stream=s),
    # linalg
    "matmul": lambda s: mx.matmul(A, mx.transpose(A, stream=s), stream=s),
    "matmul_f64": lambda s: mx.matmul(A64, mx.transpose(A64, stream=s), stream=s),
    "matmul_batched": lambda s: mx.matmul(B3, mx.ones((4, 2)), stream=s),
    "addmm": lambda s: mx.addmm(SQ, SQ, SQ, alpha=0.5, beta=2.0, stream=s),
    "tensordot": lambda s: mx.tensordot(B3, mx.ones((3, 4)), axes=2, stream=s),
    "outer": lambda s: mx.outer(V, V, stream=s),
    "inner": lambda s: mx.inner(V, V, stream=s),
    "kron": lambda s: mx.kron(SQ[:2, :2], SQ[:2, :2], stream=s),
    "einsum": lambda s: mx.einsum("ij,kj->ik", A, A, stream=s),
    "norm": lambda s: mx.linalg.norm(A, stream=s),
    "inv": lambda s: mx.linalg.inv(SQ, stream=s),
    "solve": lambda s: mx.linalg.solve(SQ, V[:5], stream=s),
    "cholesky": lambda s: mx.linalg.cholesky(SPD, stream=s),
    "eigvalsh": lambda s: mx.linalg.eigvalsh(SPD, stream=s),
    # creation
    "zeros": lambda s: mx.zeros((3, 4), stream=s),
    "ones": lambda s: mx.ones((3,), mx.int32, stream=s),
    "full": lambda s: mx.full((2, 3), 2.5, stream=s),
    "arange": lambda s: mx.arange(0, 10, 0.5, stream=s),
    "linspace": lambda s: mx.linspace(0, 1, 7, stream=s),
    "eye": lambda s: mx.eye(4, k=1, stream=s),
    "tri": lambda s: mx.tri(4, 3, stream=s),
    "zeros_like": lambda s: mx.zeros_like(A, stream=s),
    # random (same key: same numbers on every device)
    "uniform": lambda s: mx.random.uniform(shape=(3, 4), key=mx.random.key(3), stream=s),
    "normal": lambda s: mx.random.normal(shape=(5,), key=mx.random.key(4), stream=s),
    "randint": lambda s: mx.random.randint(0, 10, (6,), key=mx.random.key(5), stream=s),
    "bernoulli": lambda s: mx.random.bernoulli(0.3, (8,), key=mx.random.key(6), stream=s),
}


@pytest.mark.parametrize("name", list(CALLS))
def test_op_table_cpu_vs_gpu(name):
    cpu_vs_gpu(CALLS[name], name)


def test_float64_on_gpu():
    x = mx.array(np.linspace(0, 1, 101), dtype=mx.float64)
    y = mx.exp(mx.sin(x, stream=mx.gpu), stream=mx.gpu)
    assert y.dtype == mx.float64
    np.testing.assert_allclose(np.array(y), np.exp(np.sin(np.linspace(0, 1, 101))), rtol=1e-14)


# -- devices and streams ---------------------------------------------------------------------------
def test_gpu_is_default_device():
    assert mx.is_available(mx.gpu)
    assert mx.default_device() == mx.gpu
    assert mx.device_count(mx.gpu) >= 1
    info = mx.device_info(mx.gpu)
    assert info["device_name"] and info["memory_size"] > 0
    x = mx.add(mx.array([1.0, 2.0]), 1.0)  # no stream: the default GPU stream
    assert x._stream.device == mx.gpu
    assert x.tolist() == [2.0, 3.0]


def test_new_gpu_stream_is_another_cuda_stream():
    s1, s2 = mx.new_stream(mx.gpu), mx.new_stream(mx.gpu)
    x = mx.exp(mx.array([0.0]), stream=s1)
    y = mx.exp(x, stream=s2)
    assert y.item() == pytest.approx(np.e)
    assert s1.executor.cs.ptr != s2.executor.cs.ptr


def test_cross_device_graphs_every_direction():
    a_np = RNG.uniform(0, 1, (64, 64)).astype(np.float32)
    a = mx.array(a_np)
    g2 = mx.new_stream(mx.gpu)
    c2 = mx.new_stream(mx.cpu)
    x = mx.matmul(a, a, stream=mx.gpu)  # GPU
    y = mx.exp(x * 0.01, stream=mx.cpu)  # GPU -> CPU
    z = mx.add(y, x, stream=g2)  # CPU and GPU -> another GPU stream
    w = mx.subtract(z, y, stream=mx.gpu)  # GPU -> GPU across streams, CPU -> GPU
    v = mx.multiply(w, 2.0, stream=c2)  # GPU -> another CPU stream
    ref_x = a_np @ a_np
    ref_y = np.exp(ref_x * 0.01)
    ref_v = 2 * (ref_y + ref_x - ref_y)
    mx.eval(v, y)
    np.testing.assert_allclose(np.array(v), ref_v, rtol=1e-4)
    np.testing.assert_allclose(np.array(y), ref_y, rtol=1e-5)


def test_alternating_chain_async_eval():
    x0 = mx.array(np.arange(1, 9, dtype=np.float32))
    x = x0
    ref = np.arange(1, 9, dtype=np.float32)
    for i in range(40):
        s = (mx.gpu, mx.cpu)[i % 2]
        x = mx.add(mx.multiply(x, 0.5, stream=s), 1.0, stream=s)
        ref = ref * 0.5 + 1.0
    mx.async_eval(x)
    np.testing.assert_allclose(np.array(x), ref, rtol=1e-6)


def test_gpu_waiting_for_cpu_blocks_no_other_stream():
    """A GPU stream whose input is still being computed on the CPU defers its submission;
    another GPU stream meanwhile runs and finishes (no host-flag wait, no deadlock)."""
    big = mx.array(RNG.uniform(0, 1, (1024, 1024)).astype(np.float32) / 1024)
    slow = big
    for _ in range(30):
        slow = mx.matmul(slow, big, stream=mx.cpu)  # a long CPU chain
    waiting = mx.exp(slow, stream=mx.gpu)  # GPU waits for the CPU
    mx.async_eval(waiting)
    other = mx.exp(mx.array([1.0, 2.0]), stream=mx.new_stream(mx.gpu))
    done = threading.Event()

    def run():
        mx.eval(other)
        done.set()

    threading.Thread(target=run).start()
    assert done.wait(60), "the other GPU stream was blocked"
    mx.eval(waiting)
    assert np.isfinite(np.array(waiting)).all()


def test_errors_name_the_op_and_stream_stays_usable():
    class Boom(mx.ops.unary.Unary):
        name = "boom"

        def eval(self, xp, x):
            raise RuntimeError("kaboom")

    from umx._array import node

    x = mx.array([1.0, 2.0])
    bad = node(Boom(), (x,), (2,), mx.float32, mx.default_stream(mx.gpu))
    with pytest.raises(RuntimeError, match="boom"):
        mx.eval(mx.exp(bad, stream=mx.gpu))
    assert mx.exp(x, stream=mx.gpu).tolist() == pytest.approx(np.exp([1.0, 2.0]).tolist())


# -- the seed example on every placement ----------------------------------------------------------
@pytest.mark.parametrize("d1", ["cpu", "gpu"])
@pytest.mark.parametrize("d2", ["cpu", "gpu"])
def test_seed_example_every_placement(d1, d2):
    a_np = RNG.uniform(0, 1, (4096, 512)).astype(np.float32)
    b_np = RNG.uniform(0, 1, (512, 4)).astype(np.float32) * 1e-3
    a, b = mx.array(a_np), mx.array(b_np)
    x = mx.matmul(a, b, stream=getattr(mx, d1))
    for _ in range(5):
        b = mx.exp(b, stream=getattr(mx, d2))
    mx.eval(x, b)
    ref_b = b_np
    for _ in range(5):
        ref_b = np.exp(ref_b)
    np.testing.assert_allclose(np.array(x), a_np @ b_np, rtol=1e-4)
    np.testing.assert_allclose(np.array(b), ref_b, rtol=1e-5)


# -- memory -------------------------------------------------------------------------------------
def test_memory_limit_raises_clear_error():
    old = mx.get_memory_limit()
    free = mx.device_info(mx.gpu)["free_memory"]
    assert old < free + mx.get_active_memory() + mx.get_cache_memory()
    try:
        mx.clear_cache()
        mx.set_memory_limit(mx.get_active_memory() + (64 << 20))
        x = mx.zeros((256 << 20) // 4, stream=mx.gpu)  # 256 MiB: past the limit
        with pytest.raises((MemoryError, RuntimeError), match="memory limit"):
            mx.eval(x + 1)
    finally:
        mx.set_memory_limit(old)
    assert mx.get_memory_limit() == old
    # can never be raised above what the GPU has free
    mx.set_memory_limit(1 << 60)
    assert mx.get_memory_limit() < mx.device_info(mx.gpu)["memory_size"]
    mx.set_memory_limit(old)
    y = mx.add(mx.ones((4,), stream=mx.gpu), 1, stream=mx.gpu)
    assert y.tolist() == [2.0] * 4


def test_a_limit_set_by_the_user_counts_host_and_gpu_buffers_together():
    h = mx.ones((1 << 20,), stream=mx.cpu)  # 4 MiB on the host
    mx.eval(h)
    old = mx.set_memory_limit(mx.get_active_memory() + (2 << 20))
    try:
        with pytest.raises(RuntimeError, match="memory limit"):
            mx.eval(mx.ones((1 << 20,), stream=mx.gpu))  # 4 MiB more, on the GPU
        with pytest.raises(RuntimeError, match="memory limit"):
            mx.eval(mx.ones((1 << 20,), stream=mx.cpu))  # and on the host
    finally:
        mx.set_memory_limit(old)
    assert mx.add(h, 1, stream=mx.gpu).sum().item() == 2 * (1 << 20)


def _child_host_sum(q):
    a = mx.array(np.ones(1 << 16, np.float32))  # 256 KiB: counted against the limit
    q.put(mx.sum(a, stream=mx.cpu).item())


def test_a_forked_child_runs_cpu_ops_under_a_set_limit():
    # The host's limit check asks for the GPU's bytes: in a child forked after CUDA started,
    # CUDA fails, and the check must not fail the child's CPU ops with it.
    import multiprocessing as mp

    mx.eval(mx.ones((4,), stream=mx.gpu))  # CUDA started in the parent
    old = mx.set_memory_limit(mx.get_memory_limit())
    try:
        ctx = mp.get_context("fork")
        q = ctx.SimpleQueue()
        p = ctx.Process(target=_child_host_sum, args=(q,))
        p.start()
        p.join(30)
        assert p.exitcode == 0 and q.get() == float(1 << 16)
    finally:
        mx.set_memory_limit(old)


def test_memory_counters():
    gc.collect()  # arrays of earlier tests (held by tracebacks) must not be freed midway
    mx.synchronize()
    mx.clear_cache()
    base = mx.get_active_memory()
    base_cache = mx.get_cache_memory()  # free pieces of chunks partly in use stay cached
    x = mx.ones(((16 << 20) // 4,), stream=mx.gpu)
    mx.eval(x)
    assert mx.get_active_memory() >= base + (16 << 20)
    assert mx.get_peak_memory() >= mx.get_active_memory() - (1 << 20)
    del x
    assert mx.get_cache_memory() >= 16 << 20  # freed into the cache
    mx.clear_cache()
    # what stays are free pieces of chunks still partly in use (they cannot be returned)
    assert mx.get_cache_memory() < base_cache + (1 << 20)


# -- unified memory and interop -----------------------------------------------------------------
def test_zero_copy_one_pointer():
    cp = pytest.importorskip("cupy")
    x = mx.exp(mx.array(np.linspace(0, 1, 256, dtype=np.float32)), stream=mx.gpu)
    h = np.asarray(x)  # below the copy threshold: NumPy views the managed pointer itself
    c = cp.asarray(x)  # through __cuda_array_interface__
    assert h.ctypes.data == c.data.ptr == x.__cuda_array_interface__["data"][0]
    np.testing.assert_allclose(h, np.exp(np.linspace(0, 1, 256)), rtol=1e-6)
    # a CPU op reads the GPU result with no copy either
    y = mx.sum(x, stream=mx.cpu)
    assert y.item() == pytest.approx(float(np.exp(np.linspace(0, 1, 256)).sum()), rel=1e-5)


def test_large_crossing_both_directions():
    n = (4 << 20) // 4  # 4 MiB: copied once to pinned memory when the CPU reads it
    src = np.arange(n, dtype=np.float32) % 13
    g = mx.multiply(mx.array(src), 2.0, stream=mx.gpu)
    c = mx.add(g, 1.0, stream=mx.cpu)  # GPU -> CPU
    back = mx.multiply(c, 3.0, stream=mx.gpu)  # CPU -> GPU
    np.testing.assert_array_equal(np.array(back), (src * 2 + 1) * 3)
    np.testing.assert_array_equal(np.array(g), src * 2)


def test_item_and_tolist_of_gpu_results():
    x = mx.sum(mx.arange(10, stream=mx.gpu), stream=mx.gpu)
    assert x.item() == 45
    assert mx.negative(mx.array([1, 2]), stream=mx.gpu).tolist() == [-1, -2]


def test_torch_shares_memory():
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("PyTorch sees no CUDA device")
    x = mx.exp(mx.array([0.0, 1.0, 2.0]), stream=mx.gpu)
    t = torch.as_tensor(x, device="cuda")
    assert t.data_ptr() == x.__cuda_array_interface__["data"][0]
    np.testing.assert_allclose(t.cpu().numpy(), np.exp([0.0, 1.0, 2.0]), rtol=1e-6)
    y = mx.array(torch.arange(4, device="cuda", dtype=torch.float32))
    assert mx.add(y, 1, stream=mx.cpu).tolist() == [1.0, 2.0, 3.0, 4.0]


def test_dlpack_and_cupy_inputs():
    cp = pytest.importorskip("cupy")
    x = mx.exp(mx.array([0.0, 1.0]), stream=mx.gpu)
    assert x.__dlpack_device__()[0] in (2, 13)
    np.testing.assert_allclose(np.from_dlpack(x), np.exp([0.0, 1.0]), rtol=1e-6)
    c = cp.arange(5, dtype=cp.float32)
    a = mx.array(c)
    assert mx.multiply(a, 2, stream=mx.cpu).tolist() == [0.0, 2.0, 4.0, 6.0, 8.0]
    b = mx.array(c.toDlpack())
    assert mx.add(b, 1, stream=mx.gpu).tolist() == [1.0, 2.0, 3.0, 4.0, 5.0]
    assert mx.add(c, 1, stream=mx.gpu).tolist() == [1.0, 2.0, 3.0, 4.0, 5.0]


def test_fused_elementwise_chains_match_the_cpu():
    from umx.backends import _cuda_fuse

    rng = np.random.default_rng(5)
    base = rng.uniform(0.1, 0.5, (64, 3)).astype(np.float32)
    for dtype in (mx.float32, mx.float64):
        a = mx.array(base, dtype)
        outs = {}
        for dev in (mx.cpu, mx.gpu):
            x = a
            for _ in range(6):
                x = mx.sin(mx.exp(x, stream=dev), stream=dev)
            held = x  # a user-held intermediate: the chain must stop and give it a buffer
            for _ in range(4):
                x = mx.tanh(mx.square(x, stream=dev), stream=dev)
            mx.eval(x)
            outs[dev] = (np.array(held), np.array(x))
        for g, c in zip(outs[mx.gpu], outs[mx.cpu]):
            np.testing.assert_allclose(g, c, rtol=1e-4 if dtype == mx.float32 else 1e-12)
    assert _cuda_fuse._KERNELS, "no chain was fused"


def test_fused_chains_with_constants_match_the_cpu_bit_for_bit(monkeypatch):
    # x * 1.0001 + 0.001 and friends: one kernel on each device, the constants its
    # arguments. IEEE arithmetic and NumPy's maximum/minimum: the same bits on both.
    from umx.backends import _cuda_fuse

    launches = []
    real = _cuda_fuse.run_chain
    monkeypatch.setattr(_cuda_fuse, "run_chain", lambda *a: launches.append(len(a[1])) or real(*a))
    rng = np.random.default_rng(6)
    base = rng.standard_normal(4099) * 10
    base[:6] = [0.0, -0.0, np.inf, -np.inf, np.nan, 1e30]
    for dtype in (mx.float32, mx.float64):
        outs = []
        for dev in (mx.cpu, mx.gpu):
            x = mx.array(base, dtype)
            for k in range(20):
                x = mx.add(mx.multiply(x, 1.0001, stream=dev), 0.001 * k, stream=dev)
            x = mx.subtract(2.0, mx.maximum(mx.abs(x, stream=dev), 0.5, stream=dev), stream=dev)
            x = mx.minimum(3.0, mx.divide(1.0, x, stream=dev), stream=dev)
            outs.append(np.array(x))
        c, g = outs
        nan = np.isnan(c)
        assert np.array_equal(nan, np.isnan(g))
        assert np.array_equal(np.where(nan, 0, c), np.where(nan, 0, g))
    assert launches == [45, 45]


def test_fusing_maximum_and_minimum_changes_no_gpu_result():
    # Fused, they follow CuPy's rules, as op by op on a GPU stream (signed zeros, nan).
    vals = np.array([0.0, -0.0, np.nan, -np.nan, np.inf, -np.inf, 1.0, -1.0], np.float32)
    steps = [
        (mx.maximum, 0.0, False), (mx.minimum, -0.0, True), (mx.maximum, -0.0, True),
        (mx.minimum, 0.0, False), (mx.add, 0.0, False), (mx.maximum, np.nan, False),
    ]  # fmt: skip
    for k in range(len(steps) - 2):
        fused = one_by_one = mx.array(vals)
        for op, c, first in steps[k : k + 3]:
            fused = op(c, fused, stream=mx.gpu) if first else op(fused, c, stream=mx.gpu)
            one_by_one = (
                op(c, one_by_one, stream=mx.gpu) if first else op(one_by_one, c, stream=mx.gpu)
            )
            mx.eval(one_by_one)  # evaluated at each step: never fused
        f, o = np.array(fused), np.array(one_by_one)
        nan = np.isnan(o)
        assert np.array_equal(np.isnan(f), nan)
        assert np.array_equal(
            np.where(nan, 0, f).view(np.uint32), np.where(nan, 0, o).view(np.uint32)
        )


def test_a_run_with_more_constants_than_a_kernel_takes_is_cut(monkeypatch):
    from umx.backends import _cuda_fuse

    launches = []
    real = _cuda_fuse.run_chain
    monkeypatch.setattr(_cuda_fuse, "run_chain", lambda *a: launches.append(len(a[1])) or real(*a))
    x = mx.zeros((5,), stream=mx.gpu)
    for _ in range(300):
        x = mx.add(x, 1.0, stream=mx.gpu)
    assert x.tolist() == [300.0] * 5
    assert sum(launches) == 300 and max(launches) <= _cuda_fuse.MAX_CONSTS


def test_chains_that_differ_in_run_lengths_share_one_kernel():
    # The lengths of unary runs are kernel arguments: 7 sines then 3 tanhs, or 40 then 5,
    # compile one kernel, and each gives the CPU's result.
    from umx.backends import _cuda_fuse

    base = np.linspace(-1.5, 1.5, 257).astype(np.float32)
    before = len(_cuda_fuse._KERNELS)
    for n_sin, n_tanh in [(7, 3), (40, 5), (3, 11)]:
        outs = []
        for dev in (mx.cpu, mx.gpu):
            x = mx.array(base)
            for _ in range(n_sin):
                x = mx.sin(x, stream=dev)
            for _ in range(n_tanh):
                x = mx.tanh(x, stream=dev)
            outs.append(np.array(x))
        np.testing.assert_allclose(outs[1], outs[0], rtol=1e-5, atol=1e-6)
        assert np.abs(outs[0]).max() > 0.05  # far from a trivial fixed point
    assert len(_cuda_fuse._KERNELS) - before == 1


def _softmax_ref(x, axes):
    x = x.astype(np.float64)
    with np.errstate(all="ignore"):
        e = np.exp(x - x.max(axis=axes, keepdims=True))
        return e / e.sum(axis=axes, keepdims=True)


@pytest.mark.parametrize(
    "shape, axis",
    [((7, 3), -1), ((5, 1000), -1), ((3, 4, 300), (1, 2)), ((2, 9), None), ((1, 1), -1),
     ((4, 70000), 1)],
)  # fmt: skip
@pytest.mark.parametrize("dtype", [mx.float32, mx.float64, mx.float16])
def test_softmax_runs_as_one_kernel_on_the_gpu(monkeypatch, shape, axis, dtype):
    from umx.backends import _cuda_softmax

    used = []
    real = _cuda_softmax.softmax_trailing

    def spy(x, axes):
        y = real(x, axes)
        used.append(y is not None)
        return y

    monkeypatch.setattr(_cuda_softmax, "softmax_trailing", spy)
    x = RNG.standard_normal(shape).astype(np.float32) * 30
    x.reshape(-1)[::7] = -np.inf  # masked entries, as attention masks make
    y = mx.softmax(mx.array(x).astype(dtype), axis=axis, stream=mx.gpu)
    axes = tuple(range(len(shape))) if axis is None else axis
    ref = _softmax_ref(np.array(mx.array(x).astype(dtype)).astype(np.float64), axes)
    tol = {mx.float16: 2e-3, mx.float32: 1e-5, mx.float64: 1e-12}[dtype]
    np.testing.assert_allclose(_np(y).astype(np.float64), ref, rtol=tol, atol=tol / 10)
    assert y.dtype == dtype and used == [True]


def test_softmax_kernel_propagates_nan_and_inf_as_the_formula():
    x = np.array(
        [[1.0, np.nan, 2.0], [-np.inf] * 3, [np.inf, 1.0, 2.0], [0.0, -np.inf, 1.0]], np.float32
    )
    g = np.array(mx.softmax(mx.array(x), axis=-1, stream=mx.gpu))
    c = np.array(mx.softmax(mx.array(x), axis=-1, stream=mx.cpu))
    np.testing.assert_allclose(g, c, rtol=1e-6)
    assert np.isnan(g[:3]).all() and not np.isnan(g[3]).any()


def test_softmax_of_a_transposed_view_and_its_gradient_on_the_gpu():
    x = RNG.standard_normal((64, 48)).astype(np.float32)
    xt = mx.transpose(mx.array(x))  # a view: the kernel reads a contiguous copy
    y = mx.softmax(xt, axis=-1, stream=mx.gpu)
    np.testing.assert_allclose(np.array(y), _softmax_ref(x.T, -1), rtol=1e-5)
    w = mx.array(RNG.standard_normal((64,)).astype(np.float32))

    def f(a):
        return mx.sum(mx.softmax(a, axis=-1, stream=mx.gpu) * w)

    g_gpu = mx.grad(f)(xt)
    s = _softmax_ref(x.T, -1)
    ref = s * (np.asarray(w) - (s * np.asarray(w)).sum(-1, keepdims=True))
    np.testing.assert_allclose(np.array(g_gpu), ref, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("dtype", [mx.float16, mx.float32, mx.float64])
@pytest.mark.parametrize("shape", [(), (3,)])
def test_negative_zero_from_the_host_keeps_its_sign_on_the_gpu(dtype, shape):
    # CuPy fills 0-d arrays that equal 0 with memset: -0.0 became 0.0 and arctan2(0, -0.0)
    # gave 0 instead of pi (found by hypothesis on the H100).
    zero = mx.array(np.zeros(shape), dtype)
    neg = mx.array(np.full(shape, -0.0), dtype)
    g = np.array(mx.arctan2(zero, neg, stream=mx.gpu)).astype(np.float64)
    np.testing.assert_allclose(g, np.full(shape, np.pi), rtol=1e-3)
    inv = np.array(mx.divide(1, neg, stream=mx.gpu))
    assert np.all(np.isneginf(inv))


def test_eval_runs_a_fused_cpu_chain_itself_next_to_gpu_work(monkeypatch):
    from umx.backends import _cpu_fuse

    if not _cpu_fuse.available():
        pytest.skip(f"no CPU fusion here: {_cpu_fuse.unavailable_reason()}")
    a, b = mx.random.uniform(shape=(64, 64)), mx.random.uniform(shape=(64, 4))
    mx.eval(a, b)
    threads = []
    real = _cpu_fuse.run_chain

    def spy(chain, x, meanwhile=None):
        threads.append(threading.current_thread())
        return real(chain, x, meanwhile)

    monkeypatch.setattr(_cpu_fuse, "run_chain", spy)
    z = b
    for _ in range(10):
        z = mx.exp(z, stream=mx.cpu)
    # one batch entry on each stream: the CPU one is run by this thread (no hand-off)
    mx.eval(mx.matmul(a, b, stream=mx.gpu), z)
    assert threads == [threading.current_thread()]


def test_gpu_work_is_enqueued_while_the_cpu_chain_runs(monkeypatch):
    # The seed example's parallelism: the calling thread hands the CPU chain to the kernel
    # library's helper thread, enqueues the GPU matmul, then waits for the chain.
    from umx.backends import _cpu_fuse
    from umx.backends._cuda_exec import GpuExecutor

    if not (_cpu_fuse.available() and _cpu_fuse._openmp):
        pytest.skip("background chains need the OpenMP build of the CPU kernels")
    a = mx.random.uniform(shape=(256, 64))
    b = mx.random.uniform(shape=(64, 4)) * 1e-3
    mx.eval(a, b)
    inside_chain = [False]
    seen = []
    real_chain, real_batch = _cpu_fuse.run_chain, GpuExecutor.run_batch

    def chain_spy(chain, x, meanwhile=None):
        inside_chain[0] = True
        try:
            return real_chain(chain, x, meanwhile)
        finally:
            inside_chain[0] = False

    def batch_spy(self, batch):
        seen.append(inside_chain[0])
        return real_batch(self, batch)

    monkeypatch.setattr(_cpu_fuse, "run_chain", chain_spy)
    monkeypatch.setattr(GpuExecutor, "run_batch", batch_spy)
    z = b
    for _ in range(10):
        z = mx.exp(mx.negative(z, stream=mx.cpu), stream=mx.cpu)
    x = mx.matmul(a, b, stream=mx.gpu)
    mx.eval(x, z)
    assert seen == [True]
    a_np, b_np = np.array(a), np.array(b).astype(np.float64)
    np.testing.assert_allclose(np.array(x), a_np @ b_np, rtol=1e-4)
    ref = b_np
    for _ in range(10):
        ref = np.exp(-ref)
    np.testing.assert_allclose(np.array(z), ref, rtol=1e-5)


def test_small_gpu_buffers_read_by_cpu_ops_are_copied_once():
    # Read in place, the managed pages of a small buffer that GPU ops also read would move
    # to the host and back on every call (the seed example's b).
    cp = pytest.importorskip("cupy")
    x = mx.exp(mx.array(np.linspace(0, 1, 256, dtype=np.float32)), stream=mx.gpu)
    mx.eval(x)
    y1 = mx.negative(x, stream=mx.cpu)
    mx.eval(y1)
    copy = x._cpu_copy
    assert isinstance(copy, np.ndarray) and copy.ctypes.data != cp.asarray(x).data.ptr
    y2 = mx.sqrt(mx.matmul(x, x, stream=mx.gpu) + mx.abs(x, stream=mx.cpu), stream=mx.cpu)
    mx.eval(y2)
    assert x._cpu_copy is copy  # reused
    ref = np.exp(np.linspace(0, 1, 256))
    np.testing.assert_allclose(np.array(y1), -ref, rtol=1e-6)
    np.testing.assert_allclose(np.array(y2), np.sqrt(ref @ ref + ref), rtol=1e-5)
    # np.asarray still views the managed buffer itself
    assert np.asarray(x).ctypes.data == cp.asarray(x).data.ptr


@pytest.mark.parametrize("n", [4, 1 << 16])  # a small host copy, a large pinned mirror
def test_setitem_after_a_cpu_read_of_a_gpu_array(n):
    a = mx.exp(mx.zeros((n,)), stream=mx.gpu)
    mx.eval(a)
    np.testing.assert_array_equal(np.array(mx.negative(a, stream=mx.cpu))[:2], [-1, -1])
    a[0] = 5.0
    mx.eval(a)
    np.testing.assert_array_equal(np.array(a)[:2], [5, 1])
    np.testing.assert_array_equal(np.array(mx.negative(a, stream=mx.cpu))[:2], [-5, -1])


@pytest.mark.parametrize("dtype", [mx.float64, mx.float32, mx.int64])
@pytest.mark.parametrize("mode", ["maximum", "minimum"])
def test_scatter_max_min_on_the_gpu_are_exact(dtype, mode):
    # CuPy 14.2's float64 scatter_max / min round through float32.
    rng = np.random.default_rng(0)
    x = (rng.standard_normal((6, 3)) * 100).astype(dtype.np)
    v = (rng.standard_normal((4, 3)) * 100).astype(dtype.np)
    idx = np.array([0, 2, 0, 5])
    ref = x.copy()
    getattr(np, mode).at(ref, idx, v)
    with mx.stream(mx.gpu):
        # dtype= given: mx.array of a float64 NumPy array is float32, as in MLX
        out = getattr(mx.array(x, dtype=dtype).at[mx.array(idx)], mode)(mx.array(v, dtype=dtype))
    np.testing.assert_array_equal(np.array(out), ref)


@pytest.mark.parametrize("dtype", [mx.int8, mx.uint8, mx.int16, mx.uint16, mx.bool_])
def test_scatter_add_of_narrow_dtypes_runs_on_the_gpu_and_wraps(dtype):
    from umx.backends._cuda_exec import FALLBACKS

    FALLBACKS.pop("scatter_at", None)
    x = np.array([120, 3, 250, 7], np.int64).astype(dtype.np)
    v = np.array([100, 100, 9, 1, 0], np.int64).astype(dtype.np)  # repeats: 0 twice, 2
    idx = np.array([0, 0, 2, 3, 1])
    ref = x.copy()
    if dtype == mx.bool_:
        np.logical_or.at(ref, idx, v)
    else:
        np.add.at(ref, idx, v)  # wraps around, as umx on the CPU
    with mx.stream(mx.gpu):
        out = mx.array(x, dtype=dtype).at[mx.array(idx)].add(mx.array(v, dtype=dtype))
    np.testing.assert_array_equal(np.array(out), ref)
    assert "scatter_at" not in FALLBACKS, FALLBACKS.get("scatter_at")
