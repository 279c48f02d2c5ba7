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


@pytest.mark.skipif(
    not _REFERENCE.exists(), reason="the mlx.core reference is not beside the checkout"
)
def test_core_names_of_the_reference_exist():
    text = _REFERENCE.read_text()
    core = text.split("######## mlx.core.")[0]
    names = set(re.findall(r"^(\w+)\(", core, flags=re.M))
    # Families outside the issues done so far (convolutions, quantisation, fft, distributed...).
    not_yet = {
        n
        for n in names
        if re.match(
            r"(conv|quantiz|dequantiz|qqmm|gather_|block_masked|export|import_|fft|distributed|compile|disable_compile|enable_compile|load|save|set_wired|get_|reset_|clear_cache|set_cache|set_memory|metal|cuda|segmented|hadamard|depends|custom_|from_fp8|to_fp8|addmm_)",
            n,
        )
    }
    try:  # where MLX is installed, only the names it really has
        import mlx.core as mlx

        names = {n for n in names if hasattr(mlx, n)}
    except ImportError:
        pass
    missing = sorted(n for n in names - not_yet if not hasattr(mx, n))
    assert not missing, f"mlx.core names missing from umx: {missing}"
