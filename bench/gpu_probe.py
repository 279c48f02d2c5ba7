"""Where umx's per-op time goes on the GPU: cProfile of small workloads, and the ways of
reading a small GPU result on the CPU. A diagnostic (not part of `make bench`).

    python bench/gpu_probe.py [N]
"""

from __future__ import annotations

import _isolate  # noqa: F401 - first: keeps bench/random.py from shadowing `random`

# isort: split

import cProfile
import pstats
import sys

import numpy as np

import umx as mx
from bench._timing import median_s


def med_us(f, n=200) -> float:
    return median_s(f, n, warmup=5) * 1e6


def profile(name, f, n) -> None:
    for _ in range(20):
        f()
    pr = cProfile.Profile()
    pr.enable()
    for _ in range(n):
        f()
    pr.disable()
    print(f"\n## {name}: {n} calls, top functions by own time")
    st = pstats.Stats(pr)
    st.sort_stats("tottime").print_stats(22)


def small_reads() -> None:
    """A 4-byte GPU result read on the CPU: through the managed pointer (a page fault that
    migrates the page), cudaMemcpy into pageable or pinned memory, CuPy's get()."""
    import cupy as cp
    from cupy.cuda import runtime

    from umx.backends import _cuda_mem as M

    x = mx.array(np.ones(1024, np.float32))
    mx.eval(x)
    pinned = cp.cuda.alloc_pinned_memory(64)
    host_p = np.frombuffer(pinned, np.float32, 1)
    host = np.empty(1, np.float32)
    s = cp.cuda.Stream(non_blocking=True)

    def gpu_result():
        y = mx.sum(x)
        mx.eval(y)
        return y

    def via_view():
        y = gpu_result()
        return M.managed_view(y._data).reshape(()).item()

    def via_memcpy():
        y = gpu_result()
        runtime.memcpy(host.ctypes.data, y._data.data.ptr, 4, runtime.memcpyDefault)
        return host[0]

    def via_memcpy_pinned():
        y = gpu_result()
        runtime.memcpy(host_p.ctypes.data, y._data.data.ptr, 4, runtime.memcpyDefault)
        return host_p[0]

    def via_async_pinned():
        y = gpu_result()
        runtime.memcpyAsync(host_p.ctypes.data, y._data.data.ptr, 4, runtime.memcpyDefault, s.ptr)
        s.synchronize()
        return host_p[0]

    def via_item():
        return gpu_result().item()

    def eval_only():
        return gpu_result()

    def polluted():
        """Big GPU buffers made and freed first: the pool then splits their (GPU-resident)
        blocks for small results, as it does after real work (bench/gpu_ops.py)."""
        for _ in range(3):
            big = mx.array(np.ones(1 << 24, np.float32))
            mx.eval(mx.exp(big) + big)
        del big

    cases = [
        ("sum + eval only", eval_only),
        ("+ managed view read (page fault)", via_view),
        ("+ cudaMemcpy to pageable", via_memcpy),
        ("+ cudaMemcpy to pinned", via_memcpy_pinned),
        ("+ cudaMemcpyAsync to pinned + sync", via_async_pinned),
        ("item() as umx does it", via_item),
    ]
    for state in ("fresh pool", "after big work"):
        if state != "fresh pool":
            polluted()
        print(f"-- {state}")
        for name, f in cases:
            print(f"{name}: {med_us(f):.1f} us")


def reductions() -> None:
    """CuPy's sum of 256 MiB of float32 called the ways umx could call it."""
    import cupy as cp

    x = cp.ones(1 << 26, cp.float32)
    s = cp.cuda.get_current_stream()
    for name, f in [
        ("cupy.sum(x)", lambda: cp.sum(x)),
        ("cupy.sum(x, axis=(0,))", lambda: cp.sum(x, axis=(0,))),
        ("cupy.sum(x, dtype=float32)", lambda: cp.sum(x, dtype=cp.float32)),
        ("cupy.sum(x, axis=(0,), dtype=float32)", lambda: cp.sum(x, axis=(0,), dtype=cp.float32)),
        ("cupy.sum(x, axis=None, dtype=float32)", lambda: cp.sum(x, axis=None, dtype=cp.float32)),
    ]:
        print(f"{name}: {med_us(lambda f=f: (f(), s.synchronize()), 50):.1f} us")
    y = mx.array(np.ones(1 << 26, np.float32))
    mx.eval(y)
    print(f"umx sum: {med_us(lambda: mx.eval(mx.sum(y)), 50):.1f} us")


def pieces() -> None:
    """What the GPU executor's per-batch steps cost on their own (CuPy calls)."""
    import cupy as cp

    from umx.backends import _cuda_mem as M

    cs = cp.cuda.Stream(non_blocking=True)
    ev = cp.cuda.Event(disable_timing=True)
    x = cp.ones(1024, cp.float32)

    def ctx_device():
        with cp.cuda.Device(0):
            pass

    def ctx_stream():
        with cs:
            pass

    def ctx_alloc():
        with cp.cuda.using_allocator(M.MEM.malloc):
            pass

    def add_on_stream():
        with cs:
            cp.add(x, x)

    def add_pool():
        with cs, cp.cuda.using_allocator(M.MEM.malloc):
            cp.add(x, x)

    for name, f in [
        ("with Device(0)", ctx_device),
        ("Device(0).use() check: cupy.cuda.runtime.getDevice()", cp.cuda.runtime.getDevice),
        ("with stream", ctx_stream),
        ("with using_allocator(umx pool)", ctx_alloc),
        ("Event(disable_timing=True)", lambda: cp.cuda.Event(disable_timing=True)),
        ("event.record(stream)", lambda: ev.record(cs)),
        ("event.synchronize() (done)", ev.synchronize),
        ("event.done", lambda: ev.done),
        ("stream.synchronize() (idle)", cs.synchronize),
        ("cupy.add on stream, default pool", add_on_stream),
        ("cupy.add on stream, umx pool", add_pool),
        ("umx pool malloc+free 4 KiB", lambda: M.MEM.malloc(4096)),
    ]:
        print(f"{name}: {med_us(f, 2000):.2f} us")


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    mx.set_default_device(mx.gpu)
    x = mx.array(np.ones(1024, np.float32))
    y = mx.array(np.ones(1024, np.float32))
    mx.eval(x, y)
    pieces()
    small_reads()
    reductions()
    print(f"one add + eval: {med_us(lambda: mx.eval(mx.add(x, y))):.1f} us")

    def hundred():
        z = x
        for _ in range(100):
            z = z + y
        mx.eval(z)

    print(f"100 adds + eval: {med_us(hundred, 50):.1f} us")
    profile("one add + eval", lambda: mx.eval(mx.add(x, y)), n)
    profile("100 adds + eval", hundred, max(1, n // 50))
    profile("sum().item()", lambda: mx.sum(x).item(), n)


if __name__ == "__main__":
    main()
