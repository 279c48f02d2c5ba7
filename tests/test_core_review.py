"""Scheduler / evaluation edge cases found in review: failures, threads, repeated inputs."""

from __future__ import annotations

import numpy as np
import pytest

import umx as mx
from tests.test_streams import boom, slow
from umx._scheduler import EvalError


@pytest.mark.parametrize("in_flight", [False, True])
def test_consumer_of_failed_array_in_a_later_eval_fails(in_flight):
    # A failed array consumed by a later eval on the same stream must pass its error on,
    # also by ops whose kernels would accept a missing buffer (views, broadcasts).
    s = mx.new_stream(mx.cpu)
    a = mx.array(np.ones(3, np.float32))
    bad = boom(slow(a, 0.05, stream=s) if in_flight else a, stream=s)
    if in_flight:
        mx.async_eval(bad)
    else:
        with pytest.raises(EvalError):
            mx.eval(bad)
    for f in (mx.stop_gradient, lambda x: mx.broadcast_to(x, (2, 3))):
        with mx.stream(s):
            c = f(bad)
        with pytest.raises(EvalError, match=r"\[boom\]"):
            mx.eval(c)
        assert c._data is None
