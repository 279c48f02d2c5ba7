"""Stream executors: one in-order queue per stream, drained by one thread at a time.

A CPU stream's queue is drained either by the thread that called ``eval`` (when the
stream is idle: no hand-off cost) or by the stream's own worker thread. Every scheduled
node has a sequence number on its stream; ``done`` only grows, so waiting for any node
is ``wait_for(seq)``, and cross-stream dependencies never need per-node events.
"""

from __future__ import annotations

import threading
import weakref
from collections import deque

import numpy as np

from . import _host_memory, _trace
from ._fusion import Chain
from .backends import _cpu_fuse, cpu_input

__all__ = ["Executor", "CpuExecutor", "executor_for", "EvalError"]


class EvalError(RuntimeError):
    """An op failed during evaluation; names the op and its stream."""


class Executor:
    """An in-order executor of batches of nodes for one stream."""

    inline_ok = False
    gpu = False  # its kernels run on a GPU (submitting them does not wait for them)
    fusable = None  # primitive classes whose runs eval may queue as one Chain entry
    fusable_binary = None  # binary primitive classes such a run may have (with a constant)
    max_consts = 1 << 30  # the most constants one fused run may have

    def __init__(self, stream) -> None:
        self.stream = stream
        self.lock = threading.Lock()
        self.cond = threading.Condition(self.lock)
        self.queue: deque = deque()
        self.running = False  # some thread is draining the queue
        self.seq = 0  # last sequence number handed out
        self.done = 0  # last sequence number finished
        self.waiters = 0
        self._wake = threading.Semaphore(0)
        self._worker: threading.Thread | None = None
        self.picked = threading.Event()  # set when the worker has taken a batch
        self.just_woken = False  # the last submit woke the worker (read by the scheduler)

    # -- submission -----------------------------------------------------------------------
    def submit(self, batch, inline: bool) -> bool:
        """Queue ``batch`` (list of (node, prepare) pairs). Returns True if the caller
        should drain it now (``inline`` asked and the stream was idle)."""
        with self.lock:
            self.queue.append(batch)
            if self.running:
                return False
            self.running = True
        if inline:
            return True
        self._start_worker()
        return False

    def drain_inline(self) -> None:
        """Run what is queued from the calling thread, then hand leftovers to the worker."""
        while True:
            with self.lock:
                if not self.queue:
                    self.running = False
                    return
                batch = self.queue.popleft()
            try:
                self.run_batch(batch)
            except BaseException as exc:  # interrupted between kernels (Ctrl-C)
                self._abandon(batch, exc)
                with self.lock:
                    handoff = bool(self.queue)
                    if not handoff:
                        self.running = False
                if handoff:
                    self._start_worker()
                raise
            with self.lock:
                if self.queue:  # others queued behind us: the worker takes them
                    break
                self.running = False
                return
        self._start_worker()

    def _abandon(self, batch, exc: BaseException) -> None:
        """Fail the nodes an interrupted batch left unfinished: no one waits for them forever."""
        last = self.done
        for item in batch:
            if item is None:
                continue
            n = item[0]  # for a fused chain its last node (the others are private to it)
            if n._data is None and n._error is None:
                _fail(n, exc)
            if n._seq > last:
                last = n._seq
        self._finished(last)

    def _start_worker(self) -> None:
        if self._worker is None:
            t = threading.Thread(target=self._work, name=f"umx-{self.stream!r}", daemon=True)
            self._worker = t
            t.start()
        self.picked.clear()
        self.just_woken = True
        self._wake.release()

    def _work(self) -> None:
        np.seterr(all="ignore")
        while True:
            if not self._wake.acquire(timeout=WORKER_IDLE_S):
                with self.lock:  # idle: end the thread (the next hand-off starts another)
                    if not self.running:
                        self._worker = None
                        return
                continue
            while True:
                with self.lock:
                    if not self.queue:
                        self.running = False
                        break
                    batch = self.queue.popleft()
                self.picked.set()
                self.run_batch(batch)

    # -- waiting --------------------------------------------------------------------------
    def wait_for(self, seq: int) -> None:
        """Block until the node with sequence number ``seq`` on this stream has finished."""
        if self.done >= seq:
            return
        with self.cond:
            self.waiters += 1
            try:
                while self.done < seq:
                    self.cond.wait()
            finally:
                self.waiters -= 1

    def _finished(self, seq: int) -> None:
        self.done = seq
        if self.waiters:
            with self.cond:
                self.cond.notify_all()

    def sync_device(self) -> None:
        """Wait for device work already submitted (a no-op on the CPU)."""

    # -- running --------------------------------------------------------------------------
    def run_batch(self, batch) -> None:
        raise NotImplementedError


def _once(f):
    """``f`` callable any number of times, run the first time only."""
    pending = [f]

    def call() -> None:
        if pending:
            pending.pop()()

    return call


def _fail(node, exc: BaseException) -> None:
    for i in node._inputs:  # an input that failed is the real cause
        if i._error is not None:
            exc = i._error
            break
    if node._error is None:
        if isinstance(exc, EvalError):
            err = exc
        else:
            prim = node._prim
            name = prim.name if prim is not None else "array"
            err = EvalError(f"[{name}] failed on {node._stream!r}: {type(exc).__name__}: {exc}")
            err.__cause__ = exc
        node._error = err
    siblings = getattr(node, "_siblings", None)
    if siblings:
        for s in siblings:
            s._error = node._error


def _inherit_error(node) -> bool:
    """After a failure in a batch: a node whose input failed fails with the same error."""
    for i in node._inputs:
        if i._error is not None:
            _fail(node, i._error)
            return True
    return False


class CpuExecutor(Executor):
    """Runs NumPy kernels. The batch loop is the per-op hot path of CPU evaluation."""

    xp = np
    inline_ok = True  # the thread calling eval may drain this stream itself

    @property
    def fusable(self) -> frozenset | None:
        """Primitive classes whose runs the graph walk may fuse (None: fuse nothing)."""
        return _cpu_fuse.fusable()

    @property
    def fusable_binary(self) -> frozenset | None:
        """Binary primitive classes a fused run may have, with a constant operand."""
        return _cpu_fuse.fusable_binary()

    meanwhile = None  # set by drain_inline: work for this thread while a chain runs

    def drain_inline(self, meanwhile=None) -> None:
        """As Executor.drain_inline. ``meanwhile()`` (enqueueing GPU work) is called once,
        before anything of the batch runs; or, if the batch starts with a fused chain whose
        input is ready, by the chain's runner: while the chain runs on the kernel library's
        helper thread, or just before it where it is too small to hand over
        (``_cpu_fuse.run_chain``)."""
        if meanwhile is None:
            Executor.drain_inline(self)
            return
        if self._leads_with_chain():
            self.meanwhile = meanwhile
        else:
            meanwhile()
        try:
            Executor.drain_inline(self)
        finally:  # not taken (an interrupt, say): the GPU work is still this thread's to enqueue
            m, self.meanwhile = self.meanwhile, None
            if m is not None:
                m()

    def _leads_with_chain(self) -> bool:
        """True when the first queued entry is a fused chain whose input is computed, so
        that it can start at once, and the native library runs it (not op by op)."""
        with self.lock:
            if not self.queue or not self.queue[0]:
                return False
            entry = self.queue[0][0]
        chain = entry[1] if entry is not None else None
        if type(chain) is not Chain or tracing or not _cpu_fuse.available():
            return False
        return chain.source()._data is not None

    def run_batch(self, batch, plain: bool = False) -> None:
        if tracing and not plain:  # mx.profile is active: the traced loop (umx._trace)
            _trace.run_traced(self, batch)
            return
        if len(batch) == 1 and type(batch[0][1]) is Chain:  # one fused chain, as the seed's
            self._run_chain(batch[0][1])
            batch[0] = None
            return
        with np.errstate(all="ignore"):
            size = len(batch)
            if retain_graph:
                self._run_general(batch, 0, size)
            else:
                k = 0
                while k < size:
                    k, failed = self._run_fast(batch, k)
                    if failed:  # the rest checks its inputs for that failure
                        self._run_general(batch, k, size)
                        break
                    if k < size:  # one node that needs the general loop, then back
                        k += 1
                        if self._run_general(batch, k - 1, k):  # it failed: as above
                            self._run_general(batch, k, size)
                            break
        if batch:
            self._finished(self.done)

    def _run_fast(self, batch, start: int) -> tuple[int, bool]:
        """The hot loop: single-output nodes whose inputs are ready on this stream.

        Returns where it stopped (the end, or a node that needs the general loop: waits on
        other streams, several outputs) and whether a node failed.
        """
        xp = np
        size = len(batch)
        for k in range(start, size):
            n, prep = batch[k]
            if prep is not None:
                return k, False
            ins = n._inputs
            try:
                if len(ins) == 1:
                    n._data = n._prim.eval(xp, ins[0]._data)
                elif len(ins) == 2:
                    n._data = n._prim.eval(xp, ins[0]._data, ins[1]._data)
                else:
                    n._data = n._prim.eval(xp, *[i._data for i in ins])
            except BaseException as exc:  # noqa: BLE001 - reaches the caller of eval
                _fail(n, exc)
                self._finished(n._seq)
                batch[k] = None
                return k + 1, True
            n._inputs = ()
            d = n._data
            if type(d) is _ndarray and d.nbytes >= _TRACKED:  # big buffers are counted
                try:
                    _host_memory.track(d)
                except MemoryError as exc:
                    n._data = None
                    _fail(n, exc)
                    self._finished(n._seq)
                    batch[k] = None
                    return k + 1, True
            self.done = n._seq
            if self.waiters:
                self._finished(n._seq)
            # Drop the batch's reference as we go: an intermediate dies as soon as its
            # last consumer ran, so NumPy reuses its (cache-hot) memory for the next one.
            # (Only once done: an interrupted batch is failed from what it still holds.)
            batch[k] = None
        return size, False

    def _run_general(self, batch, start: int, stop: int) -> bool:
        """Every case: waits on other streams, several outputs, kept graphs, failures.
        Returns whether a node failed."""
        xp = np
        release = not retain_graph
        failed = False
        for k in range(start, stop):
            n, prep = batch[k]
            if type(prep) is Chain:  # a fused run of elementwise ops, n its last node
                failed = self._run_chain(prep) or failed
                batch[k] = None
                continue
            try:
                if not _inherit_error(n):
                    ins = n._inputs
                    args = self.prepare(n, prep) if prep else [i._data for i in ins]
                    prim = n._prim
                    out = prim.eval(xp, *args)
                    if prim.multi:
                        for s, o in zip(n._siblings, out):
                            s._data = o
                            if release:
                                s._inputs = ()
                    else:
                        n._data = out
                        if release:
                            n._inputs = ()
                    for o in out if prim.multi else (out,):
                        if type(o) is _ndarray and o.nbytes >= _TRACKED:
                            _host_memory.track(o)
            except BaseException as exc:  # noqa: BLE001 - reaches the caller of eval
                for s in getattr(n, "_siblings", None) or (n,):
                    s._data = None
                _fail(n, exc)
            if n._error is not None:
                failed = True
            self._finished(n._seq)
            batch[k] = None
        return failed

    def _run_chain(self, chain) -> bool:
        """Compute a fused chain; only its last node gets a buffer (the others are private
        to the chain). Returns True if it failed."""
        last = chain[-1]
        meanwhile = self.meanwhile
        if meanwhile is not None:
            self.meanwhile = None
            meanwhile = _once(meanwhile)
        try:
            src = chain.source()
            x = src._data
            if type(x) is not _ndarray:  # from another stream or device, or it failed
                _wait_producers(chain.prep or ())
                x = _host_input(src)
            if _cpu_fuse.available():
                out = _cpu_fuse.run_chain(chain, x, meanwhile)
            else:  # no compiler here: op by op
                with np.errstate(all="ignore"):
                    for c, entry, const in chain.steps():
                        if const is None:
                            x = c._prim.eval(np, x)
                        elif entry[1]:  # the constant is the first operand
                            x = c._prim.eval(np, np.asarray(const), x)
                        else:
                            x = c._prim.eval(np, x, np.asarray(const))
                out = x
            last._data = out
            if not retain_graph:  # as the unfused loops (a trace began since it was queued)
                last._inputs = ()  # the others are private to the chain and go with it
            if out.nbytes >= _TRACKED:
                _host_memory.track(out)
        except BaseException as exc:  # noqa: BLE001 - reaches the caller of eval
            last._data = None
            _fail(last, exc)
        finally:
            if meanwhile is not None:
                meanwhile()  # a no-op once run_chain called it
        self._finished(last._seq)
        return last._error is not None

    def prepare(self, n, prep):
        """Inputs of a node that waits on other streams or reads foreign buffers."""
        _wait_producers(prep)
        return [_host_input(i) for i in n._inputs]


def _wait_producers(prep) -> None:
    """Wait for the inputs in ``prep`` that other streams still compute."""
    for i in prep:
        if i._data is None and i._error is None:
            i._stream.executor.wait_for(i._seq)


def _host_input(i):
    """Computed input ``i``'s values for a NumPy kernel (raises the error it failed with)."""
    if i._error is not None:
        raise i._error
    d = i._data
    if type(d) is not np.ndarray and not isinstance(d, np.generic):
        d = cpu_input(i)  # waits for the GPU producer, copies or views
    return d


_ndarray = np.ndarray
# A worker thread idle this long ends, so streams that are no longer used (threads that
# ended, cleared streams) do not keep a thread each.
WORKER_IDLE_S = 30.0
_TRACKED = _host_memory.TRACKED_BYTES

# While > 0 (a transform is tracing), evaluation keeps graph edges instead of releasing them.
retain_graph = 0
# True while mx.profile records (set by umx._trace): run_batch takes the traced loop.
tracing = False

_exec_lock = threading.Lock()
_ALL_EXECUTORS: weakref.WeakSet = weakref.WeakSet()


def executor_for(stream) -> Executor:
    """The stream's executor, made on first use."""
    ex = stream.executor
    if ex is None:
        with _exec_lock:
            ex = stream.executor
            if ex is None:
                if stream.device.type.name == "cpu":
                    ex = CpuExecutor(stream)
                else:
                    from .backends import gpu_backend

                    ex = gpu_backend().make_executor(stream)
                stream.executor = ex
                _ALL_EXECUTORS.add(ex)
    return ex


def synchronize(stream=None) -> None:
    """Wait for everything queued on ``stream``, or on every stream made so far."""
    if stream is not None:
        from ._device import resolve_stream

        s = resolve_stream(stream)
        ex = s.executor
        if ex is not None:
            ex.wait_for(ex.seq)
            ex.sync_device()
        return
    for ex in list(_ALL_EXECUTORS):
        ex.wait_for(ex.seq)
        ex.sync_device()
