"""Moving a buffer between the GPU and the CPU: fault-driven migration vs prefetch vs copy.

Run on a CUDA machine: ``python bench/crossing.py [--quick] [--umx]``. Prints, for several
sizes, the median time (ms) of each way to make a GPU-written buffer readable by NumPy
(followed by a NumPy sum) and each way to make a CPU-written buffer usable by a CuPy kernel.
With ``--umx`` it also times umx's own crossing (a CPU sum over a 1 GiB array just written
by a GPU op) against the target: pinned copy time + NumPy time on a host array.

Memory safety: every managed allocation is checked against ``cudaMemGetInfo`` free memory
first (never ask for more managed memory than the card has free).
"""

from __future__ import annotations

import _isolate  # noqa: F401 - first: keeps bench/random.py from shadowing `random`

# isort: split

import ctypes
import statistics
import sys
import time

import numpy as np

MiB = 1 << 20
GiB = 1 << 30


def med(f, reps, setup=None):
    try:
        return _med(f, reps, setup)
    except Exception as e:  # noqa: BLE001 - one failed path must not hide the others
        print(f"  failed: {type(e).__name__}: {e}")
        return float("nan")


def _med(f, reps, setup=None):
    ts = []
    for _ in range(reps):
        if setup is not None:
            setup()
        t0 = time.perf_counter()
        f()
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts) * 1e3


def main() -> None:
    quick = "--quick" in sys.argv
    import cupy as cp
    from cupy.cuda import runtime

    try:
        from cuda.bindings import driver
    except ImportError:  # older layout
        from cuda import cuda as driver

    dev = cp.cuda.Device(0)
    props = runtime.getDeviceProperties(0)
    free, total = runtime.memGetInfo()
    print(f"device: {props['name'].decode()}  free {free / GiB:.1f} / {total / GiB:.1f} GiB")
    print(
        f"cupy {cp.__version__}  numpy {np.__version__}  runtime {runtime.runtimeGetVersion()}"
        f"  driver {runtime.driverGetVersion()}"
    )
    for attr in ("concurrentManagedAccess", "pageableMemoryAccess", "managedMemory"):
        print(f"  {attr} = {props.get(attr)}")

    def prefetch(ptr, n, to_host, stream):
        loc = driver.CUmemLocation()
        if to_host:
            loc.type = driver.CUmemLocationType.CU_MEM_LOCATION_TYPE_HOST
            loc.id = 0
        else:
            loc.type = driver.CUmemLocationType.CU_MEM_LOCATION_TYPE_DEVICE
            loc.id = dev.id
        (err,) = driver.cuMemPrefetchAsync(ptr, n, loc, 0, stream.ptr)
        if int(err) != 0:
            raise RuntimeError(f"cuMemPrefetchAsync: {err}")

    def managed(n):
        f, _ = runtime.memGetInfo()
        if n > f - 2 * GiB:
            raise MemoryError("not enough free GPU memory for a safe managed allocation")
        mem = cp.cuda.malloc_managed(n)
        return cp.ndarray((n // 4,), cp.float32, mem)

    def host_view(x):
        n = x.nbytes
        buf = (ctypes.c_byte * n).from_address(x.data.ptr)
        return np.frombuffer(buf, np.float32)

    def pinned(n):
        mem = cp.cuda.alloc_pinned_memory(n)
        return np.ndarray((n // 4,), np.float32, buffer=mem)

    s = cp.cuda.Stream(non_blocking=True)
    sizes = [8 * 1024, 64 * 1024, 1 * MiB, 16 * MiB, 256 * MiB, 1 * GiB]
    if quick:
        sizes = [8 * 1024, 64 * 1024, 1 * MiB, 64 * MiB, 1 * GiB]

    def one_size(n):
        reps = 5 if n >= 256 * MiB else 20
        k = n // 4
        src = cp.arange(k, dtype=cp.float32) % 7
        host = np.asarray(src.get())
        r = {}
        r["numpy sum (host)"] = med(lambda: host.sum(), reps)
        # GPU -> CPU
        dbuf = cp.empty(k, cp.float32)
        pin = pinned(n)
        pag = np.empty(k, np.float32)

        def gpu_write(out):
            cp.multiply(src, 1.0, out=out)

        def via_pinned():
            dbuf.get(out=pin, stream=s)
            s.synchronize()
            pin.sum()

        r["D->H pinned copy + sum"] = med(
            via_pinned, reps, lambda: (gpu_write(dbuf), s.synchronize())
        )

        def via_pinned_copy_only():
            dbuf.get(out=pin, stream=s)
            s.synchronize()

        r["  pinned copy only"] = med(via_pinned_copy_only, reps)

        def via_pageable():
            dbuf.get(out=pag, stream=s)
            s.synchronize()
            pag.sum()

        r["D->H pageable copy + sum"] = med(via_pageable, reps)
        m = managed(n)
        mv = host_view(m)

        def gpu_write_managed():
            prefetch(m.data.ptr, n, False, s)
            gpu_write(m)
            s.synchronize()

        r["managed fault + sum"] = med(lambda: mv.sum(), reps, gpu_write_managed)

        def via_prefetch():
            prefetch(m.data.ptr, n, True, s)
            s.synchronize()
            mv.sum()

        r["managed prefetch->host + sum"] = med(via_prefetch, reps, gpu_write_managed)

        def via_managed_copy():
            runtime.memcpyAsync(pin.ctypes.data, m.data.ptr, n, runtime.memcpyDefault, s.ptr)
            s.synchronize()
            pin.sum()

        r["managed->pinned copy + sum"] = med(via_managed_copy, reps, gpu_write_managed)

        # GPU writes straight into host-resident pinned memory (mapped, same pointer)
        def gpu_write_pinned_sum():
            pin_d = cp.ndarray(
                (k,),
                cp.float32,
                cp.cuda.MemoryPointer(cp.cuda.UnownedMemory(pin.ctypes.data, n, pin, 0), 0),
            )
            gpu_write(pin_d)
            s.synchronize()
            pin.sum()

        r["GPU writes pinned + sum"] = med(gpu_write_pinned_sum, reps)
        # CPU -> GPU
        r["H->D pageable asarray + gpu sum"] = med(
            lambda: (cp.asarray(host).sum(), s.synchronize()), reps
        )

        def h2d_pinned():
            pin[...] = host
            dbuf.set(pin, stream=s)
            dbuf.sum()
            s.synchronize()

        r["H->D via pinned + gpu sum"] = med(h2d_pinned, reps)

        def cpu_write_managed():
            prefetch(m.data.ptr, n, True, s)
            s.synchronize()
            mv[...] = host

        r["managed GPU fault + gpu sum"] = med(
            lambda: (m.sum(), s.synchronize()), reps, cpu_write_managed
        )

        def prefetch_d():
            prefetch(m.data.ptr, n, False, s)
            m.sum()
            s.synchronize()

        r["managed prefetch->dev + gpu sum"] = med(prefetch_d, reps, cpu_write_managed)
        r["gpu sum (device)"] = med(lambda: (dbuf.sum(), s.synchronize()), reps)
        return r

    rows = []
    with s:
        for n in sizes:
            rows.append((n, one_size(n)))
            cp.get_default_memory_pool().free_all_blocks()
            cp.get_default_pinned_memory_pool().free_all_blocks()

    # latencies
    ev = cp.cuda.Event(disable_timing=True)
    x = cp.ones(1024, cp.float32)
    with s:
        for _ in range(100):
            cp.add(x, x, out=x)
        s.synchronize()
        lat = {
            "event record+sync (empty)": med(lambda: (ev.record(s), ev.synchronize()), 200),
            "cupy add(out=) launch": med(lambda: cp.add(x, x, out=x), 200),
            "event record only": med(lambda: ev.record(s), 200),
            "stream.wait_event": med(lambda: s.wait_event(ev), 200),
            "pinned pool alloc 64KiB": med(lambda: cp.cuda.alloc_pinned_memory(65536), 200),
        }
    print()
    names = list(rows[0][1])
    head = "| path (ms, median) | " + " | ".join(_fmt_size(n) for n, _ in rows) + " |"
    print(head)
    print("| --- |" + " --- |" * len(rows))
    for name in names:
        print(f"| {name} | " + " | ".join(f"{r[name]:.3f}" for _, r in rows) + " |")
    print()
    for k, v in lat.items():
        print(f"{k}: {v * 1e3:.1f} us")
    if "--umx" in sys.argv:
        umx_crossing()


def _fmt_size(n):
    return f"{n // GiB} GiB" if n >= GiB else f"{n // MiB} MiB" if n >= MiB else f"{n // 1024} KiB"


def umx_crossing() -> None:
    """umx: CPU sum over a 1 GiB array just written by a GPU op, vs pinned copy + NumPy."""
    import cupy as cp

    import umx as mx

    k = GiB // 4
    src = mx.arange(k, dtype=mx.float32, stream=mx.cpu) if hasattr(mx, "arange") else None
    if src is None:
        src = mx.array(np.arange(k, dtype=np.float32) % 7)
    mx.eval(src)
    ts = []
    for _ in range(6):
        y = mx.multiply(src, 1.0, stream=mx.gpu)
        mx.eval(y)
        t0 = time.perf_counter()
        s = mx.sum(y, stream=mx.cpu) if hasattr(mx, "sum") else None
        if s is None:
            s = mx.exp(y, stream=mx.cpu)
        mx.eval(s)
        ts.append(time.perf_counter() - t0)
        del y, s
    t_umx = statistics.median(ts[1:]) * 1e3
    host = np.arange(k, dtype=np.float32) % 7
    d = cp.asarray(host)
    pin = np.ndarray((k,), np.float32, buffer=cp.cuda.alloc_pinned_memory(GiB))
    d.get(out=pin)
    t_copy = med(lambda: (d.get(out=pin), cp.cuda.Stream.null.synchronize()), 5)
    t_np = med(lambda: host.sum(), 5)
    print(
        f"\numx CPU sum over 1 GiB just written by a GPU op: {t_umx:.1f} ms; pinned copy "
        f"{t_copy:.1f} + NumPy sum {t_np:.1f} = {t_copy + t_np:.1f} ms; ratio "
        f"{t_umx / (t_copy + t_np):.2f} (target <= 1.5)"
    )


def probe() -> None:
    """Facts the backend relies on (dtype support, GIL release while synchronising)."""
    import threading

    import cupy as cp
    import ml_dtypes

    for name, f in [
        ("bfloat16 cupy array", lambda: cp.asarray(np.ones(3, ml_dtypes.bfloat16))),
        ("float16 exp", lambda: cp.exp(cp.ones(3, cp.float16))),
        ("complex64 exp", lambda: cp.exp(cp.ones(3, cp.complex64))),
        ("0-d numpy into cupy add", lambda: cp.add(cp.ones(3), np.asarray(2.0))),
        ("numpy scalar into cupy add", lambda: cp.add(cp.ones(3, cp.float32), np.float32(2))),
    ]:
        try:
            r = f()
            print(f"probe {name}: ok {getattr(r, 'dtype', '')}")
        except Exception as e:  # noqa: BLE001
            print(f"probe {name}: FAILED {type(e).__name__}: {e}")
    # does Event.synchronize release the GIL?
    x = cp.ones((4096, 4096), cp.float32)
    s = cp.cuda.Stream(non_blocking=True)
    with s:
        for _ in range(3):
            x @ x
        s.synchronize()
        t0 = time.perf_counter()
        for _ in range(20):
            x @ x
        ev = cp.cuda.Event(disable_timing=True)
        ev.record(s)
    count = [0]
    stop = [False]

    def spin():
        while not stop[0]:
            count[0] += 1

    th = threading.Thread(target=spin)
    th.start()
    ev.synchronize()
    t1 = time.perf_counter()
    stop[0] = True
    th.join()
    print(f"probe event.synchronize {1e3 * (t1 - t0):.1f} ms; other thread spun {count[0]} times")


if __name__ == "__main__":
    if "--probe" in sys.argv:
        probe()
    main()
