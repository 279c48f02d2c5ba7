"""Every primitive declares its transform rules, and every public op name exists."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import umx as mx
from umx._primitive import Primitive


def _all_primitives():
    import umx.linalg  # noqa: F401
    import umx.ops  # noqa: F401 - loads every family
    import umx.random  # noqa: F401

    seen, stack = [], list(Primitive.__subclasses__())
    while stack:
        c = stack.pop()
        seen.append(c)
        stack.extend(c.__subclasses__())
    # Test-only primitives live in tests/.
    return sorted(
        (c for c in seen if not c.__module__.startswith("tests")), key=lambda c: c.__qualname__
    )


PRIMS = _all_primitives()


@pytest.mark.parametrize("rule", ["vjp", "jvp", "vmap"])
def test_every_primitive_declares_its_rules(rule):
    missing = [
        f"{c.__module__}.{c.__qualname__}"
        for c in PRIMS
        if getattr(c, rule) is getattr(Primitive, rule) and c.eval is not Primitive.eval
    ]
    assert not missing, f"primitives without a {rule} rule: {missing}"


def test_every_primitive_has_a_name_and_eval():
    for c in PRIMS:
        if c.name == "primitive" and c.eval is not Primitive.eval:
            pytest.fail(f"{c.__qualname__} has no name")


_REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "reference" / "mlx_core_api.txt"


def _has(module, dotted: str) -> bool:
    for part in dotted.split("."):
        if not hasattr(module, part):
            return False
        module = getattr(module, part)
    return True


@pytest.mark.skipif(
    not _REFERENCE.exists(), reason="the mlx.core reference is not beside the checkout"
)
def test_core_names_of_the_reference_exist():
    text = _REFERENCE.read_text()
    # Every heading, aliases (mx.acos) and submodules (mx.fft.rfft) included.
    names = set(re.findall(r"^=== (?:class )?mlx\.core\.([\w.]+)", text, flags=re.M))
    try:  # where MLX is installed, only the names it really has
        import mlx.core as mlx

        names = {n for n in names if _has(mlx, n)}
    except ImportError:
        pass
    missing = sorted(n for n in names if not _has(mx, n))
    assert not missing, f"mlx.core names missing from umx: {missing}"
