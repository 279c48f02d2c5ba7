"""Memory statistics and limits on the CPU (the GPU pool is covered in test_gpu.py)."""

from __future__ import annotations

import gc

import numpy as np
import pytest

import umx as mx
from umx._scheduler import EvalError

MiB = 1 << 20


def test_peak_counts_a_matmul_output_and_active_drops_when_freed():
    a = mx.array(np.ones((2048, 2048), np.float32))
    gc.collect()
    base = mx.get_active_memory()
    mx.reset_peak_memory()
    c = mx.matmul(a, a, stream=mx.cpu)  # a GPU op would keep a managed copy of `a` too
    mx.eval(c)
    assert mx.get_peak_memory() - base >= 16 * MiB
    assert mx.get_active_memory() - base >= 16 * MiB
    view = np.asarray(c)  # a view keeps the buffer alive and counted
    del c
    gc.collect()
    assert mx.get_active_memory() - base >= 16 * MiB
    del view
    gc.collect()
    assert mx.get_active_memory() - base < MiB


def test_4096_matmul_peak_is_at_least_its_output():
    a = mx.array(np.ones((4096, 4096), np.float32))
    mx.reset_peak_memory()
    mx.eval(mx.matmul(a, a))
    assert mx.get_peak_memory() >= 64 * MiB


def test_memory_limit_raises_and_the_stream_stays_usable():
    a = mx.array(np.ones((1024, 1024), np.float32))
    gc.collect()
    old = mx.set_memory_limit(mx.get_active_memory() + MiB)
    try:
        with pytest.raises(EvalError, match="memory limit"):
            mx.eval(mx.matmul(a, a))
    finally:
        mx.set_memory_limit(old)
    assert mx.matmul(a, a)[0, 0].item() == 1024.0


def test_limits_and_cache_api():
    with pytest.raises(ValueError, match=r"\[set_memory_limit\]"):
        mx.set_memory_limit(-1)
    old = mx.set_cache_limit(0)
    assert mx.set_cache_limit(old) == 0
    old = mx.set_wired_limit(123)
    assert mx.set_wired_limit(old) == 123
    mx.clear_cache()
    assert mx.get_cache_memory() >= 0


def test_a_collection_inside_the_limit_check_does_not_deadlock():
    # A tracked buffer freed by a garbage collection while track() checks the limit (here
    # forced from the device-bytes callback) must not wait forever on track()'s lock.
    import subprocess
    import sys

    code = (
        "import gc, numpy as np\n"
        "from umx import _host_memory as hm\n"
        "def garbage():\n"
        "    a = np.empty(1 << 20)\n"
        "    hm.track(a)\n"
        "    c = [a]; c.append(c)\n"
        "gc.disable(); garbage()\n"
        "hm.limit = 1 << 40\n"
        "hm.device_active = lambda: gc.collect() * 0\n"
        "b = np.empty(1 << 20)\n"
        "hm.track(b)\n"
        "print('ok', hm.active)\n"
    )
    try:
        r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=20)
    except subprocess.TimeoutExpired:
        pytest.fail("track() deadlocked on its own lock")
    assert r.stdout.strip() == f"ok {1 << 23}", r.stdout + r.stderr
