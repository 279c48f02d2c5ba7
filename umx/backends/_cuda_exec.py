"""The GPU stream executor: runs a stream's batches by enqueueing CuPy kernels on a CUDA stream.

Sequence numbers work as on the CPU, with one difference: on a GPU stream ``done`` means
"enqueued and covered by a recorded CUDA event", and ``wait_for(seq)`` (the CPU waiting)
synchronises the event that covers ``seq``, so it returns once the work is complete on the
device. Dependencies:

- GPU -> GPU across streams: ``stream.wait_event`` on the producer's event (no CPU block);
- GPU -> CPU: the CPU thread synchronises the producer's event (``wait_for``);
- CPU -> GPU: the GPU stream's submitting thread waits on the CPU side for the CPU producer,
  then enqueues. A CUDA stream never waits on a host flag (no cuStreamWaitValue32), so no
  other stream's submission is ever blocked and the deadlock of notes/gpu.md cannot happen.
  Before such a CPU-side wait the executor records an event for what it has enqueued, so
  CPU work that needs it can proceed.

A batch that needs no CPU-side wait is enqueued by the thread that calls ``eval`` (enqueueing
is asynchronous and cheap), while a fused CPU chain of the same eval runs in the background
if there is one; otherwise the stream's worker thread takes it.
"""

from __future__ import annotations

from collections import deque

import cupy
import numpy as np

from .. import _scheduler
from .._fusion import Chain
from .._scheduler import Executor, _fail, _inherit_error
from . import _cuda_fuse as _fuse
from . import _cuda_mem as mem

_ndarray = cupy.ndarray
_Event = cupy.cuda.Event
_get_device = cupy.cuda.runtime.getDevice
# The thread's CuPy allocator, set and restored directly around each batch: CuPy's
# using_allocator context manager cost ~1.3 us of the ~2 us per batch on the H100 host.
# (Private CuPy functions, present since CuPy 7; the context manager where they are not.)
_get_allocator = getattr(cupy.cuda.memory, "_get_thread_local_allocator", None)
_set_allocator = getattr(cupy.cuda.memory, "_set_thread_local_allocator", None)

# Names of primitives whose CuPy kernel failed and ran on the host instead (with the reason).
FALLBACKS: dict = {}


class GpuExecutor(Executor):
    """In-order executor of one umx GPU stream over one CUDA stream."""

    inline_ok = True
    gpu = True
    fusable = _fuse.kinds()
    fusable_binary = _fuse.binary_kinds()
    max_consts = _fuse.MAX_CONSTS

    def __init__(self, stream) -> None:
        super().__init__(stream)
        self.device_id = stream.device.index
        with cupy.cuda.Device(self.device_id):
            self.cs = cupy.cuda.Stream(non_blocking=True)
        self.events: deque = deque()  # (last seq covered, event, buffers kept alive)
        self.keep: list = []  # cross-stream inputs of work not yet covered by an event
        self.enq = 0  # last sequence number enqueued
        self.synced = 0  # everything up to here is complete on the device

    # -- submission ---------------------------------------------------------------------
    def submit(self, batch, inline: bool) -> bool:
        with self.lock:
            self.queue.append(batch)
            if self.running:
                return False
            self.running = True
        if inline or self._ready(batch):
            return True  # the calling thread enqueues it (umx._eval._drain): no hand-off
        self._start_worker()
        return False

    def _ready(self, batch) -> bool:
        """True when enqueueing ``batch`` needs no CPU-side wait on unfinished work."""
        for _n, prep in batch:
            if type(prep) is Chain:
                prep = prep.prep
            if prep is None:
                continue
            for i, ex in self._producers(prep):
                if ex.gpu:
                    if ex.done < i._seq:
                        return False
                elif i._data is None:
                    return False
        return True

    def _producers(self, prep):
        """(input, its producer's executor) for the inputs in ``prep`` that another stream
        makes and that did not fail."""
        for i in prep:
            s = i._stream
            if s is None or i._error is not None:
                continue
            ex = s.executor
            if ex is not self:
                yield i, ex

    # -- events ---------------------------------------------------------------------------
    def _flush(self) -> None:
        """Record an event covering everything enqueued; publish it as ``done``."""
        if self.enq <= self.done:
            return
        ev = _Event(disable_timing=True)
        ev.record(self.cs)
        keep, self.keep = self.keep, []
        with self.lock:
            ev_list = self.events
            while ev_list and ev_list[0][0] <= self.synced:
                ev_list.popleft()
            while len(ev_list) > 8 and ev_list[0][1].done:
                self.synced = max(self.synced, ev_list[0][0])
                ev_list.popleft()
            ev_list.append((self.enq, ev, keep))
        self._finished(self.enq)

    def event_for(self, seq: int):
        """The event covering ``seq`` (recorded already), or None if it is complete."""
        with self.lock:
            for s, ev, _ in self.events:
                if s >= seq:
                    return ev
        return None

    def wait_for(self, seq: int) -> None:
        """Block the calling CPU thread until node ``seq`` is complete on the device."""
        if self.synced >= seq:
            return
        Executor.wait_for(self, seq)  # enqueued and covered by an event
        ev = self.event_for(seq)
        if ev is not None:
            ev.synchronize()
        if seq > self.synced:
            self.synced = seq

    def sync_device(self) -> None:
        self.cs.synchronize()
        if self.done > self.synced:
            self.synced = self.done

    # -- running --------------------------------------------------------------------------
    def run_batch(self, batch) -> None:
        if _set_allocator is None:
            with cupy.cuda.using_allocator(mem.MEM.malloc):
                self._run_on_device(batch)
        else:
            previous = _get_allocator()
            _set_allocator(mem.MEM.malloc)
            try:
                self._run_on_device(batch)
            finally:
                _set_allocator(previous)
        mem.MEM.sample_peak()

    def _run_on_device(self, batch) -> None:
        if _get_device() != self.device_id:  # entering Device() costs 3x this check
            with cupy.cuda.Device(self.device_id):
                self._run_on_stream(batch)
        else:
            self._run_on_stream(batch)

    def _run_on_stream(self, batch) -> None:
        failed = False
        release = not getattr(_scheduler, "retain_graph", 0)
        with self.cs:
            for n, prep in batch:
                if type(prep) is Chain:  # a fused run of elementwise ops, n its last node
                    failed = self._run_chain(prep) or failed
                    continue
                try:
                    if failed and _inherit_error(n):
                        pass
                    else:
                        if prep is not None:
                            self._wait_inputs(prep)
                        ins = n._inputs
                        args = [self._dev(i) for i in ins]
                        prim = n._prim
                        out = self._eval(n, prim, args)
                        if prim.multi:
                            for s, o in zip(n._siblings, out):
                                o = _fix(o, s._dtype.np)
                                s._data = o
                                if release:
                                    s._inputs = ()
                        else:
                            n._data = out = _fix(out, n._dtype.np)
                            if release:
                                n._inputs = ()
                except BaseException as exc:  # noqa: BLE001 - reaches the caller of eval
                    _fail(n, exc)
                    failed = True
                self.enq = n._seq
            self._flush()

    def _run_chain(self, chain) -> bool:
        """Launch a fused chain; only its last node gets a buffer (the others are private
        to the chain). Returns True if it failed."""
        last = chain[-1]
        try:
            src = chain.source()
            if chain.prep:
                self._wait_inputs(chain.prep)
            if src._error is not None:
                raise src._error
            last._data = _fix(_fuse.run_chain(cupy, chain, self._dev(src)), last._dtype.np)
            if not _scheduler.retain_graph:  # as the unfused loop
                last._inputs = ()  # the others are private to the chain and go with it
        except BaseException as exc:  # noqa: BLE001 - reaches the caller of eval
            _fail(last, exc)  # the others are private to the chain
            return True
        finally:
            self.enq = last._seq
        return False

    def _wait_inputs(self, prep) -> None:
        """Order this stream after the producers of inputs from other streams."""
        for i, ex in self._producers(prep):
            if ex.gpu:
                if ex.done < i._seq:  # not enqueued yet: publish ours, then wait for it
                    self._flush()
                    Executor.wait_for(ex, i._seq)
                if ex.synced < i._seq:
                    ev = ex.event_for(i._seq)
                    if ev is not None:
                        self.cs.wait_event(ev)
                d = i._data
                if type(d) is _ndarray:
                    self.keep.append(d)  # its pool may reuse it on its own stream
            elif i._data is None:  # a CPU producer still running: wait on the CPU side
                self._flush()
                ex.wait_for(i._seq)

    def _dev(self, i):
        """Input ``i`` as a CuPy array on this device (copied once if it lives on the host)."""
        d = i._data
        if type(d) is _ndarray:
            return d
        if d is None:
            raise i._error or RuntimeError("[gpu] input was not computed")
        m = getattr(i, "_mirror", None)
        if type(m) is _ndarray:
            return m
        h = np.asarray(d)
        if type(d) is np.ndarray:
            o = mem.owner_of(d)
            if o is not None:
                return o
        m = mem.to_device(h)  # pageable host -> device copy, on this stream
        i._mirror = m
        return m

    def _eval(self, n, prim, args):
        try:
            return prim.eval(cupy, *args)
        except MemoryError:
            raise
        except Exception as exc:  # noqa: BLE001 - no CuPy kernel: run it on the host
            FALLBACKS.setdefault(prim.name, f"{type(exc).__name__}: {exc}")
            return self._host_eval(n, prim)

    def _host_eval(self, n, prim):
        """Run ``prim`` with NumPy once this stream's work so far is complete."""
        self.cs.synchronize()
        args = []
        for i in n._inputs:
            d = i._data
            if type(d) is _ndarray:
                d = mem.managed_view(d)
            args.append(d)
        with np.errstate(all="ignore"):
            return prim.eval(np, *args)


def _fix(o, d):
    """The output in its declared dtype (CuPy's type promotion differs from NumPy's at times)."""
    od = getattr(o, "dtype", None)
    if od is None:
        return np.asarray(o, d)
    return o if od == d else o.astype(d)
