"""Ops of the 'select' family (to be written)."""

from __future__ import annotations

__all__: list = []
METHODS: dict = {}
