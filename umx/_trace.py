"""Recording what the executors run, for ``mx.profile``: ops and cross-stream waits per stream.

Nothing here costs anything while no profile is active: ``CpuExecutor.run_batch`` checks the
flag ``umx._scheduler.tracing`` once per batch and only then takes the traced loop
(:func:`run_traced`), which runs each node as a batch of one through the executor's own loop
(``run_batch(batch, plain=True)``), timing it and the cross-stream waits before it.

Another executor (the GPU's) can do the same, or record with :meth:`Recorder.op` and
:meth:`Recorder.wait` into ``recorder`` directly (GPU times converted to the host clock).
Times are ``time.perf_counter_ns()`` values.
"""

from __future__ import annotations

import json
import os
import threading
import time

from ._fusion import Chain

__all__ = ["Recorder", "recorder", "run_traced", "lane_name", "profile"]

# The active Recorder, or None. Read once per batch by the executors.
recorder = None

_now = time.perf_counter_ns
_ident = threading.get_ident
_profile_lock = threading.Lock()


def lane_name(stream) -> str:
    """The lane of a stream in a trace: ``cpu:<stream index>`` or ``gpu:<stream index>``."""
    return f"{stream.device.type.name}:{stream.index}"


def device_name(stream) -> str:
    d = stream.device
    return f"{d.type.name}:{d.index}"


def _outs(n) -> tuple:
    sib = getattr(n, "_siblings", None) if n._prim.multi else None
    if sib:
        return tuple((s._shape, s._dtype) for s in sib)
    return ((n._shape, n._dtype),)


class Recorder:
    """Raw events of one profile; turned into Chrome trace events by ``chrome_events``."""

    def __init__(self) -> None:
        self.t0 = _now()
        self.main = _ident()
        # (stream, seq, prim, inputs [(shape, dtype)], outputs, start, end, failed, thread)
        self.ops: list = []
        # (stream, seq, src_stream, src_seq, start, end): start/end None when no wait was
        # needed (the input was ready): then it is a dependency arrow only.
        self.waits: list = []
        # GPU ops, timed by CUDA events until ``calibrate`` puts them on the host clock:
        # (executor, seq, prim, inputs, outputs, start event, end event, failed, thread)
        self.gpu_ops: list = []

    # -- recording (called from the executors' threads; list.append is atomic) ---------------
    def op(self, stream, seq, prim, inputs, outputs, start, end, failed=False) -> None:
        self.ops.append((stream, seq, prim, inputs, outputs, start, end, failed, _ident()))

    def wait(self, stream, seq, src_stream, src_seq, start, end) -> None:
        self.waits.append((stream, seq, src_stream, src_seq, start, end))

    def calibrate(self) -> None:
        """Turn the GPU ops' CUDA event times into host times (once their work is done).

        Per CUDA stream, an event recorded after everything and synchronised gives a host
        time for a device time; each op's events are placed relative to it (the host sees the
        reference a few microseconds late, so GPU slices may sit that much late)."""
        gpu, self.gpu_ops = self.gpu_ops, []
        if not gpu:
            return
        import cupy

        refs = {}
        for ex, seq, prim, ins, outs, e0, e1, failed, thr in gpu:
            ref = refs.get(ex)
            if ref is None:
                with cupy.cuda.Device(ex.device_id):
                    ev = cupy.cuda.Event()
                    ev.record(ex.cs)
                    ev.synchronize()
                    ref = refs[ex] = (ev, _now())
            ev, th = ref
            el = cupy.cuda.get_elapsed_time
            start = th - int(el(e0, ev) * 1e6)
            end = th - int(el(e1, ev) * 1e6)
            self.ops.append((ex.stream, seq, prim, ins, outs, start, max(end, start), failed, thr))

    # -- export -------------------------------------------------------------------------------
    def chrome_events(self) -> list:
        """The events as Chrome trace-event dicts (microseconds from the profile's start)."""
        t0 = self.t0
        us = lambda t: (t - t0) / 1000.0  # noqa: E731
        streams = {}
        for r in self.ops:
            streams[r[0]] = None
        for r in self.waits:
            streams[r[0]] = None
            streams[r[2]] = None
        order = sorted(streams, key=lambda s: (s.device.type.value, s.device.index, s.index))
        tids = {s: k + 1 for k, s in enumerate(order)}
        ev = [{"ph": "M", "name": "process_name", "pid": 1, "args": {"name": "umx"}}]
        for s, tid in tids.items():
            ev.append(
                {
                    "ph": "M",
                    "name": "thread_name",
                    "pid": 1,
                    "tid": tid,
                    "args": {"name": lane_name(s)},
                }
            )
            ev.append(
                {
                    "ph": "M",
                    "name": "thread_sort_index",
                    "pid": 1,
                    "tid": tid,
                    "args": {"sort_index": tid},
                }
            )
        spans = {}  # (stream, seq) -> (ts, dur) of the op, for the dependency arrows
        threads = {}
        for s, seq, prim, ins, outs, start, end, failed, thr in sorted(
            self.ops, key=lambda r: r[5]
        ):
            ts, dur = us(start), (end - start) / 1000.0
            spans[(s, seq)] = (ts, dur)
            if thr == self.main:
                thread = "caller"
            else:
                thread = threads.setdefault(thr, f"worker {len(threads) + 1}")
            args = {
                "stream": lane_name(s),
                "device": device_name(s),
                "inputs": [_desc(sh, d) for sh, d in ins],
                "outputs": [_desc(sh, d) for sh, d in outs],
                "thread": thread,
            }
            p = prim.params() if prim is not None else ()
            if p:
                args["params"] = repr(p)
            if failed:
                args["failed"] = True
            ev.append(
                {
                    "ph": "X",
                    "name": prim.name if prim is not None else "array",
                    "cat": _kind(prim),
                    "pid": 1,
                    "tid": tids[s],
                    "ts": ts,
                    "dur": dur,
                    "args": args,
                }
            )
        flow = 0
        for s, seq, src, src_seq, start, end in self.waits:
            if start is not None:
                ev.append(
                    {
                        "ph": "X",
                        "name": "wait",
                        "cat": "wait",
                        "pid": 1,
                        "tid": tids[s],
                        "ts": us(start),
                        "dur": (end - start) / 1000.0,
                        "args": {"stream": lane_name(s), "on": lane_name(src)},
                    }
                )
            a, b = spans.get((src, src_seq)), spans.get((s, seq))
            if a is None or b is None:
                continue  # the producer ran before the profile started
            flow += 1
            name = f"{lane_name(src)} -> {lane_name(s)}"
            # A flow starts inside the producer's slice (at its end) and ends inside the
            # consumer's slice (at its start): both bind to the enclosing slice.
            ev.append(
                {
                    "ph": "s",
                    "id": flow,
                    "name": name,
                    "cat": "dependency",
                    "pid": 1,
                    "tid": tids[src],
                    "ts": a[0] + a[1] - min(a[1] / 2, 0.001),
                }
            )
            ev.append(
                {
                    "ph": "f",
                    "bp": "e",
                    "id": flow,
                    "name": name,
                    "cat": "dependency",
                    "pid": 1,
                    "tid": tids[s],
                    "ts": b[0] + min(b[1] / 2, 0.001),
                }
            )
        return ev


def _kind(prim) -> str:
    """The family of an op (its module under umx.ops: unary, binary, linalg, ...)."""
    if prim is None:
        return "array"
    mod = type(prim).__module__
    return mod.rsplit(".", 1)[-1].lstrip("_") or "op"


def _desc(shape, dtype) -> dict:
    n = 1
    for k in shape:
        n *= k
    return {"shape": list(shape), "dtype": dtype.name, "bytes": n * dtype.size}


def run_traced(ex, batch) -> None:
    """Run ``batch`` on executor ``ex`` one node at a time, recording each op and each wait.

    ``ex.run_batch(b, True)`` is the executor's untraced loop; a batch of one keeps its
    semantics (errors of failed inputs reach their consumers the same way).
    """
    from ._scheduler import _inherit_error

    rec = recorder
    run = ex.run_batch
    if rec is None:
        run(list(batch), True)
        return
    lane = ex.stream
    ops = rec.ops
    waits = rec.waits
    for k in range(len(batch)):
        item = batch[k]
        batch[k] = None  # as the untraced loop: intermediates die once consumed
        n, prep = item
        if type(prep) is Chain:  # queued fused before the profile started: run it as is
            run([item], True)
            continue
        if prep is not None:
            for i in prep:
                s = i._stream
                if s is None or s is lane:
                    continue
                if i._data is None and i._error is None and s.executor is not None:
                    t = _now()
                    s.executor.wait_for(i._seq)
                    e = _now()
                else:
                    t = e = None
                waits.append((lane, n._seq, s, i._seq, t, e))
        prim = n._prim
        ins = tuple((i._shape, i._dtype) for i in n._inputs)
        outs = _outs(n) if prim is not None else ()
        t = _now()
        for i in n._inputs:
            if i._error is not None:  # as in a batch: a failed input fails its consumers
                _inherit_error(n)
                ex._finished(n._seq)
                break
        else:
            run([item], True)
        e = _now()
        ops.append((lane, n._seq, prim, ins, outs, t, e, n._error is not None, _ident()))


def run_traced_gpu(ex, batch, run) -> None:
    """The GPU executor's traced loop: each node enqueued as a batch of one by ``run`` (the
    executor's own ``run_batch``) between two timing CUDA events on its CUDA stream."""
    rec = recorder
    if rec is None:
        run(ex, batch)
        return
    import cupy

    lane = ex.stream
    waits, gpu_ops = rec.waits, rec.gpu_ops
    Event = cupy.cuda.Event
    with cupy.cuda.Device(ex.device_id):
        for k in range(len(batch)):
            item = batch[k]
            batch[k] = None
            n, prep = item
            if type(prep) is Chain:  # queued fused before the profile started: run it as is
                run(ex, [item])
                continue
            if prep is not None:
                for i in prep:
                    s = i._stream
                    if s is None or s is lane:
                        continue
                    src = s.executor
                    t = e = None
                    if (
                        src is not None and not src.gpu and i._data is None and i._error is None
                    ):  # a CPU producer still running: the submitting thread waits for it
                        t = _now()
                        src.wait_for(i._seq)
                        e = _now()
                    waits.append((lane, n._seq, s, i._seq, t, e))
            prim = n._prim
            ins = tuple((i._shape, i._dtype) for i in n._inputs)
            outs = _outs(n) if prim is not None else ()
            e0 = Event()
            e0.record(ex.cs)
            run(ex, [item])
            e1 = Event()
            e1.record(ex.cs)
            gpu_ops.append((ex, n._seq, prim, ins, outs, e0, e1, n._error is not None, _ident()))


def _gpu_hook(on: bool) -> None:
    """Route the GPU executors' batches through ``run_traced_gpu`` while a profile records
    (the class's method is swapped, so nothing is added to the untraced path)."""
    from .backends import gpu_backend

    if gpu_backend() is None:
        return
    try:
        from .backends import _cuda_exec
    except ImportError:
        return
    cls = _cuda_exec.GpuExecutor
    cur = cls.__dict__.get("run_batch")
    if cur is None:
        return
    if on and not hasattr(cur, "_umx_plain"):

        def run_batch(self, batch, *args, _plain=cur):
            if args:  # an explicit untraced call
                return _plain(self, batch, *args)
            run_traced_gpu(self, batch, _plain)

        run_batch._umx_plain = cur
        cls.run_batch = run_batch
    elif not on and hasattr(cur, "_umx_plain"):
        cls.run_batch = cur._umx_plain


class profile:
    """Record every op evaluated inside the ``with`` block, on every stream.

    ``path`` (optional): where to write the Chrome trace JSON when the block ends. On exit
    the block waits for the work it started (``async_eval`` included) so that the trace is
    complete. ``events`` holds the trace events afterwards; ``save(path)`` writes them.
    Only one profile is active at a time.
    """

    def __init__(self, path: str | os.PathLike | None = None) -> None:
        self.path = path
        self._rec = None
        self._events = None

    def __enter__(self) -> profile:
        global recorder
        from . import _scheduler

        with _profile_lock:
            if recorder is not None:
                raise RuntimeError("[profile] A profile is already active.")
            self._rec = recorder = Recorder()
            _scheduler.tracing = True
            _gpu_hook(True)
        self._events = None
        return self

    def __exit__(self, *exc) -> None:
        global recorder
        from . import _scheduler

        try:
            _scheduler.synchronize()
            self._rec.calibrate()
        finally:
            _scheduler.tracing = False
            _gpu_hook(False)
            recorder = None
        if self.path is not None:
            self.save(self.path)

    @property
    def events(self) -> list:
        """The Chrome trace events recorded (a list of dicts)."""
        if self._rec is None:
            return []
        if self._events is None or recorder is self._rec:
            self._events = self._rec.chrome_events()
        return self._events

    def trace(self) -> dict:
        """The whole trace document, as written to the JSON file."""
        from ._version import __version__

        return {
            "traceEvents": self.events,
            "displayTimeUnit": "ms",
            "otherData": {"producer": f"umx {__version__}"},
        }

    def save(self, path: str | os.PathLike) -> None:
        with open(path, "w") as f:
            json.dump(self.trace(), f, separators=(",", ":"))
