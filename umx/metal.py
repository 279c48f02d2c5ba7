"""``mx.metal``: Apple's GPU backend, never present on Linux."""

from __future__ import annotations


def is_available() -> bool:
    return False
