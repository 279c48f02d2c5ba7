"""``mx.metal``: Apple's GPU backend, never present on Linux.

MLX keeps its old memory functions here as deprecated spellings of the ``mx.*`` ones; they
warn and forward, so code written against them still runs.
"""

from __future__ import annotations

import warnings

from . import memory as _memory


def is_available() -> bool:
    return False


def _deprecated(name: str, target):
    def forward(*args, **kwargs):
        warnings.warn(
            f"mx.metal.{name} is deprecated and will be removed in a future version. "
            f"Use mx.{name} instead.",
            DeprecationWarning,
            stacklevel=2,
        )
        return target(*args, **kwargs)

    forward.__name__ = forward.__qualname__ = name
    forward.__doc__ = f"Deprecated: use ``mx.{name}``."
    return forward


def _device_info() -> dict:
    return {}  # no Metal device: MLX answers an empty dict here too


clear_cache = _deprecated("clear_cache", _memory.clear_cache)
get_active_memory = _deprecated("get_active_memory", _memory.get_active_memory)
get_cache_memory = _deprecated("get_cache_memory", _memory.get_cache_memory)
get_peak_memory = _deprecated("get_peak_memory", _memory.get_peak_memory)
reset_peak_memory = _deprecated("reset_peak_memory", _memory.reset_peak_memory)
set_cache_limit = _deprecated("set_cache_limit", _memory.set_cache_limit)
set_memory_limit = _deprecated("set_memory_limit", _memory.set_memory_limit)
set_wired_limit = _deprecated("set_wired_limit", _memory.set_wired_limit)
device_info = _deprecated("device_info", _device_info)


def start_capture(path: str) -> None:
    """Metal's GPU trace capture: without Metal there is nothing to capture."""


def stop_capture() -> None:
    """Ends a Metal capture: without Metal, nothing to do."""
