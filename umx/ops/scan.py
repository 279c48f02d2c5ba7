"""Ops of the 'scan' family (to be written)."""

from __future__ import annotations

__all__: list = []
METHODS: dict = {}
