"""Evaluation: walk the graph, number each node on its stream, queue per-stream batches.

Scheduling (the walk, the sequence numbers and the queueing) happens under one lock so
that every stream's queue is ordered consistently with every cross-stream wait: the
earliest unfinished node is always runnable, hence no deadlock across threads.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from functools import partial
from sys import getrefcount

from . import _scheduler
from ._array import array
from ._device import DeviceType
from ._fusion import FLOATS, MIN_CHAIN, PRIVATE_REFS, Chain, const_operand
from ._scheduler import executor_for

__all__ = ["eval", "async_eval", "flatten_arrays"]

_sched_lock = threading.RLock()
# Set by the CUDA backend: inputs from another device need preparing (a wait or a view).
mixed_devices = False
# > 0 while a function is traced by vmap (in any thread; set by umx._vmap).
stand_ins_live = 0  # > 0 while vmap or compile traces a function with stand-in inputs
_stand_ins_lock = threading.Lock()


class _Tracing(threading.local):
    depth = 0  # > 0 while this thread traces a function for grad / vjp / jvp / vmap


tracing = _Tracing()


def flatten_arrays(args, out: list) -> list:
    """Collect the arrays in nested lists / tuples / dicts."""
    for a in args:
        if isinstance(a, array):
            out.append(a)
        elif isinstance(a, (list, tuple)):
            flatten_arrays(a, out)
        elif isinstance(a, dict):
            flatten_arrays(a.values(), out)
        elif a is None or isinstance(a, (int, float, str, bool)):
            continue
        else:
            raise ValueError(
                "[eval] Expected arrays or trees of arrays (lists, tuples, dicts), "
                f"got {type(a).__name__}."
            )
    return out


def _on_gpu(stream) -> bool:
    return stream is not None and stream.device.type is DeviceType.gpu


def _topo(outputs, mixed: bool) -> tuple[list, bool]:
    """Unscheduled ancestors of ``outputs`` as (node, prepare) pairs in dependency order,
    and whether any of them has several outputs.

    ``prepare`` lists the inputs that come from another stream and are not ready (or, with
    several devices, that live on another device); None when there are none.
    """
    order = []
    emit = order.append
    seen = set()
    visit = seen.add
    multi = False
    fuse_ok = not (_scheduler.retain_graph or _scheduler.tracing)  # graphs kept, profiling
    fuse_stream = kinds = bkinds = None
    cap = 0
    for o in outputs:
        if o._data is not None or o._seq or id(o) in seen:
            continue
        # Post-order walk. The stack holds nodes to expand and (node, prep) pairs to emit.
        stack = [o]
        push = stack.append
        while stack:
            n = stack.pop()
            if type(n) is tuple:
                emit(n)
                continue
            while True:  # follows a run of one-input nodes without touching the stack
                nid = id(n)
                if nid in seen:
                    break
                visit(nid)
                ns = n._stream
                prep = None
                if n._prim.multi:  # computes its siblings too; () sends it to the general loop
                    for s in n._siblings:
                        visit(id(s))
                    prep = ()
                    multi = True
                ins = n._inputs
                # One input, or two with one 0-d (x * 2 may fuse): the chain path. Others,
                # array with array, go straight on to the general path below.
                if (k := len(ins)) == 1 or (k == 2 and (not ins[1]._shape or not ins[0]._shape)):
                    chain = None
                    if ns is not fuse_stream:
                        fuse_stream = ns
                        ex = ns.executor or executor_for(ns)
                        kinds = ex.fusable if fuse_ok else None
                        bkinds = ex.fusable_binary if kinds is not None else None
                        cap = ex.max_consts
                    head = None
                    if k == 1:
                        i = ins[0]
                        if kinds is not None and (t := type(n._prim)) in kinds:
                            head = t
                    elif bkinds is not None and type(n._prim) in bkinds:
                        split = const_operand(n, n._dtype)  # n = x op c (or c op x)
                        if split is not None:
                            i, head, hconst = split
                            split = None  # (holding i would make it look shared)
                    if head is not None and n._dtype in FLOATS:
                        # Walk up the run of private fusable nodes that ends here, collecting
                        # what each computes (the chain's key) and constants, last to first.
                        dtype = n._dtype
                        types = None
                        while True:
                            while (
                                i._data is None
                                and i._dtype is dtype
                                and (u := type(i._prim)) in kinds
                                and i._stream is ns
                                and not i._seq
                                and getrefcount(i) <= PRIVATE_REFS
                            ):
                                if types is None:
                                    types, chain = [head], Chain((n,))
                                    add, add_node = types.append, chain.append
                                    consts = [hconst] if k == 2 else []
                                add(u)
                                add_node(i)
                                i = i._inputs[0]
                            # A binary op with a constant (x * 2) continues the run.
                            if (
                                bkinds is None
                                or i._data is not None
                                or type(i._prim) not in bkinds
                                or i._dtype is not dtype
                                or i._stream is not ns
                                or i._seq
                                or getrefcount(i) > PRIVATE_REFS
                                or (split := const_operand(i, dtype)) is None
                            ):
                                break
                            if types is None:
                                types, chain = [head], Chain((n,))
                                add, add_node = types.append, chain.append
                                consts = [hconst] if k == 2 else []
                            if len(consts) >= cap:  # (a GPU kernel takes so many arguments)
                                split = None
                                break
                            add(split[1])
                            add_node(i)
                            consts.append(split[2])
                            i = split[0]
                            split = None
                        if types is not None and i._dtype is not dtype:
                            # The first op changes dtype (exp of ints): it runs on its own and
                            # the rest fuses. (Not fusing at all made this walk quadratic.)
                            if type(types.pop()) is tuple:
                                consts.pop()
                            i = chain.pop()
                        if types is not None and len(types) >= MIN_CHAIN:
                            types.reverse()
                            chain.reverse()
                            consts.reverse()
                            chain.key = tuple(types)
                            chain.consts = consts
                        else:
                            chain = None
                            if k == 1:
                                i = ins[0]
                    if k == 1 or chain is not None:
                        # i: the input of n, or of the chain's first node
                        nxt = iprep = None
                        if i._data is None:
                            if not i._seq and id(i) not in seen:
                                nxt = i
                            # Scheduled earlier (even on this stream): it may fail, so the
                            # general loop checks it rather than reading a missing buffer.
                            if i._stream is not ns or i._seq:
                                iprep = [i]
                        elif mixed and i._stream is not ns and (_on_gpu(ns) or _on_gpu(i._stream)):
                            iprep = [i]
                        if chain is not None:
                            chain.prep = iprep
                            push((n, chain))
                        else:
                            push((n, iprep or prep))  # prep: () for several outputs
                        if nxt is None:
                            break
                        n = nxt
                        continue
                marker = len(stack)
                push(None)
                for i in ins:
                    if i._data is None:
                        if not i._seq and id(i) not in seen:
                            push(i)
                        if i._stream is not ns or i._seq:
                            prep = [i] if not prep else prep + [i]
                    elif mixed and i._stream is not ns and (_on_gpu(ns) or _on_gpu(i._stream)):
                        # A GPU buffer read by the CPU, or anything read by a GPU op from
                        # another stream: a wait or a transfer. Host to host needs nothing.
                        prep = [i] if not prep else prep + [i]
                stack[marker] = (n, prep)
                break
    return order, multi


def _schedule(outputs, inline: bool):
    """Queue the work behind ``outputs``; returns the executors whose batches the calling
    thread runs itself (the chosen idle stream, if ``inline``, and GPU streams whose batch
    needs no wait: enqueueing it is quick)."""
    with _sched_lock:
        order, multi = _topo(outputs, mixed_devices)
        if not order:
            return []
        s0 = order[0][0]._stream
        ex0 = s0.executor or executor_for(s0)
        saved = {ex0: ex0.seq}
        try:
            seq = ex0.seq
            single = True
            for n, _ in order:
                if n._stream is not s0:
                    single = False
                    break
                seq += 1
                n._seq = seq
            if single:
                ex0.seq = seq
                batches = {ex0: order}
            else:
                batches = {}
                for n, prep in order:
                    s = n._stream
                    ex = s.executor or executor_for(s)
                    b = batches.get(ex)
                    if b is None:
                        saved.setdefault(ex, ex.seq)
                        b = batches[ex] = []
                    ex.seq += 1
                    n._seq = ex.seq
                    b.append((n, prep))
            if multi:
                for n, _ in order:
                    if n._prim.multi:
                        for s in n._siblings:
                            s._seq = n._seq
        except BaseException:  # interrupted (Ctrl-C): nothing is queued yet, undo the numbers
            for n, _ in order:
                n._seq = 0
                for s in getattr(n, "_siblings", None) or ():
                    s._seq = 0
            for ex, v in saved.items():
                ex.seq = v
            raise
        # The caller drains one idle stream itself: a CPU stream if there is one (the one
        # with the most entries), since it enqueues every GPU batch that needs no wait
        # anyway. (A GPU stream chosen over a CPU stream of as many entries, one fused
        # chain, sent the CPU work to a worker thread: a hand-off.)
        chosen = None
        if inline:
            best = None
            for ex, b in batches.items():
                if ex.inline_ok:
                    rank = (not ex.gpu, len(b))
                    if best is None or rank > best:
                        chosen, best = ex, rank
        drains = []
        woken = []
        for ex, b in batches.items():
            if ex.submit(b, ex is chosen):
                drains.append(ex)
            elif ex.just_woken:
                ex.just_woken = False
                woken.append(ex)
    if drains and woken:
        # The caller is about to run Python ops inline, holding the GIL: let each woken
        # worker take its batch first (it releases the GIL in its kernels), or it could
        # wait a whole GIL switch interval (5 ms) before starting.
        try:
            for ex in woken:
                ex.picked.wait(0.002)
        except BaseException:  # interrupted (Ctrl-C): the workers run what we queued
            for ex in drains:
                ex._start_worker()
            raise
    return drains


def _drain(drains) -> None:
    """Run the batches the calling thread took (``_schedule``'s list): GPU batches are only
    enqueued, so they go first, except while a CPU stream's leading fused chain runs in the
    background: then they are enqueued in its time (the GPU and CPU work overlap)."""
    if len(drains) > 1:
        cpus = [ex for ex in drains if not ex.gpu]
        if cpus:  # at most one: the chosen stream
            gpus = [ex for ex in drains if ex.gpu]
            cpus[0].drain_inline(meanwhile=partial(_drain_each, gpus))
            return
    _drain_each(drains)


def _drain_each(drains) -> None:
    for k, ex in enumerate(drains):
        try:
            ex.drain_inline()
        except BaseException:  # interrupted (Ctrl-C): the workers run what is left
            for rest in drains[k + 1 :]:
                rest._start_worker()
            raise


def _wait(outputs) -> None:
    err = None
    for o in outputs:
        if o._data is None:
            if o._error is None:
                s = o._stream
                if s is None or not o._seq:
                    continue
                s.executor.wait_for(o._seq)
            if err is None and o._error is not None:
                err = o._error
        elif mixed_devices and o._seq:  # enqueued on a GPU stream: wait until complete
            o._stream.executor.wait_for(o._seq)
    if err is not None:
        raise err


@contextmanager
def refusing_stand_ins():
    """While a transform traces a function, eval refuses arrays that depend on its stand-in
    inputs (``Primitive.stand_in``): they have no value."""
    global stand_ins_live
    with _stand_ins_lock:
        stand_ins_live += 1
    try:
        yield
    finally:
        with _stand_ins_lock:
            stand_ins_live -= 1


def _refuse_tracers(outputs) -> None:
    """Inside vmap or compile, an array that depends on a stand-in input has no single value:
    refuse it."""
    stack = [o for o in outputs if o._data is None]
    seen = set()
    while stack:
        n = stack.pop()
        if id(n) in seen or n._data is not None:
            continue
        seen.add(id(n))
        if n._prim is not None and n._prim.stand_in:
            raise ValueError(
                "[eval] Attempting to eval an array during function transformations "
                "like compile or vmap is not allowed."
            )
        stack.extend(n._inputs)


def eval(*args) -> None:
    """Compute the arrays in ``args`` (arrays or nested lists / tuples / dicts of them)."""
    outputs = flatten_arrays(args, [])
    if stand_ins_live:
        _refuse_tracers(outputs)
    drains = _schedule(outputs, inline=True)
    if drains:
        _drain(drains)
    _wait(outputs)


def async_eval(*args) -> None:
    """Start computing ``args`` and return at once; a later eval or item waits."""
    if tracing.depth:  # as MLX (the traced graph must keep its edges until walked)
        raise ValueError("[async_eval] Not allowed inside a graph transformation.")
    outputs = flatten_arrays(args, [])
    drains = _schedule(outputs, inline=False)  # GPU batches that need no wait: enqueue them
    if drains:
        _drain_each(drains)
