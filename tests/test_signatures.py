"""Every public umx function and array method takes MLX's parameters.

MLX code calls ops with keywords (``mx.sum(x, axis=1, keepdims=True)``,
``mx.random.normal(shape=(2,), key=k)``), so umx must accept the same names, kinds and defaults.
The reference (``../shared/reference/mlx_core_api.txt``) holds each MLX signature line; this test
parses them and compares them with ``inspect.signature`` of the umx callable.

Rules, for each MLX parameter (by position for the ones MLX passes positionally):
- positional-or-keyword in MLX: umx has it at the same position, positional-or-keyword, same name;
- positional-only in MLX (before ``/``): umx has it at the same position (any name, any
  positional kind: accepting a keyword too is harmless);
- keyword-only in MLX: umx accepts it by that name (``stream`` must be keyword-only in umx too,
  so that a stray positional argument is refused as MLX refuses it);
- MLX's default, where it is a plain literal (or a dtype name), is umx's default; a parameter MLX
  may leave out is one umx may leave out;
- every umx parameter MLX does not have is optional and is not in MLX's positional range.
"""

from __future__ import annotations

import ast
import inspect
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

import umx as mx

_REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "reference" / "mlx_core_api.txt"

POS_ONLY, POS_OR_KW, KW_ONLY = "positional-only", "positional-or-keyword", "keyword-only"
_NO_DEFAULT = object()  # MLX's parameter is required
_OPAQUE = object()  # MLX's default is not a plain literal: only its presence is compared


@dataclass
class Param:
    name: str
    kind: str
    default: object  # _NO_DEFAULT, _OPAQUE, or the literal value


def _split_top(text: str) -> list[str]:
    """Split at the commas outside brackets."""
    out, depth, cur = [], 0, []
    for ch in text:
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        if ch == "," and depth == 0:
            out.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    out.append("".join(cur))
    return [p.strip() for p in out if p.strip()]


def _split_default(param: str) -> tuple[str, str | None]:
    """``name: annotation = default`` as (``name: annotation``, default text or None)."""
    depth = 0
    for i, ch in enumerate(param):
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == "=" and depth == 0:
            return param[:i], param[i + 1 :]
    return param, None


def _default(text: str | None) -> object:
    if text is None:
        return _NO_DEFAULT
    text = text.strip()
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        # A dtype name (``float32``) is compared with umx's dtype of that name.
        name = text.removeprefix("mlx.core.")
        if re.fullmatch(r"(bool_|u?int\d+|float\d+|bfloat16|complex64)", name):
            return getattr(mx, name)
        return _OPAQUE
    if isinstance(value, list):  # MLX writes an empty shape as [] where umx uses ()
        value = tuple(value)
    return value


def parse_signature(line: str) -> tuple[str, list[Param]] | None:
    """``name(params) -> ret`` as (name, params); None where the line is not a signature."""
    m = re.match(r"^(\w+)\((.*)\)(?:\s*->.*)?$", line.strip())
    if not m:
        return None
    parts = _split_top(m.group(2))
    cut = parts.index("/") if "/" in parts else 0  # the parameters before it are positional-only
    params, kind = [], POS_OR_KW
    for i, p in enumerate(parts):
        if p == "/":
            continue
        if p == "*" or p.startswith("*") and not p.startswith("**"):
            kind = KW_ONLY
            if p != "*":  # *args: MLX takes any number of positionals here
                params.append(Param(p.lstrip("*").split(":")[0].strip(), "var-positional", None))
            continue
        if p.startswith("**"):
            params.append(Param(p.lstrip("*").split(":")[0].strip(), "var-keyword", None))
            continue
        head, default = _split_default(p)
        name = head.split(":")[0].strip()
        if name == "self":
            continue
        k = POS_ONLY if i < cut else kind
        params.append(Param(name, k, _default(default)))
    return m.group(1), params


def _entries(text: str) -> list[tuple[str, list[str], bool]]:
    """(dotted name, signature lines, is a method) of every function and class method."""
    out, module, cls = [], "", None
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("######## mlx.core"):
            module = line.split()[1].removeprefix("mlx.core").lstrip(".")
            cls = None
        elif line.startswith("=== "):
            head = line[4:]
            if " = " in head:  # a constant or an alias of a dtype
                cls = None
                continue
            is_class = head.startswith("class ")
            dotted = head.removeprefix("class ").removeprefix("mlx.core.")
            cls = dotted if is_class else None
            if not is_class:
                out.append((dotted, _sig_lines(lines, i + 1), False))
        elif line.startswith("  --- ") and cls is not None:
            meth = line[6:].strip()
            dotted = f"{module + '.' if module else ''}{meth}"
            out.append((dotted, _sig_lines(lines, i + 1, 2), True))
    return out


def _sig_lines(lines: list[str], start: int, indent: int = 0) -> list[str]:
    sigs = []
    for line in lines[start:]:
        line = line[indent:] if line[:indent].isspace() or not indent else line
        if parse_signature(line) is None:
            break
        sigs.append(line)
    return sigs


def _resolve(dotted: str):
    obj = mx
    for part in dotted.split("."):
        obj = getattr(obj, part)
    return obj


_KIND = {
    inspect.Parameter.POSITIONAL_ONLY: POS_ONLY,
    inspect.Parameter.POSITIONAL_OR_KEYWORD: POS_OR_KW,
    inspect.Parameter.KEYWORD_ONLY: KW_ONLY,
    inspect.Parameter.VAR_POSITIONAL: "var-positional",
    inspect.Parameter.VAR_KEYWORD: "var-keyword",
}


def _same_default(ours: object, theirs: object) -> bool:
    if theirs is _OPAQUE:
        return ours is not inspect.Parameter.empty
    if isinstance(theirs, tuple) and isinstance(ours, (tuple, list)):
        return tuple(ours) == theirs
    # 1 for 1.0 or 0 for False would change what the op computes: types must agree too.
    return type(ours) is type(theirs) and ours == theirs


def compare(theirs: list[Param], sig: inspect.Signature) -> list[str]:
    """What MLX's calls to ``theirs`` would do differently against ``sig``; empty where none."""
    ours = list(sig.parameters.values())
    problems = []
    by_name = {p.name: p for p in ours}
    var_kw = any(p.kind is p.VAR_KEYWORD for p in ours)
    our_pos = [p for p in ours if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    our_star = next((i for i, p in enumerate(ours) if p.kind is p.VAR_POSITIONAL), None)
    matched = set()
    for i, t in enumerate(theirs):
        if t.kind == "var-positional":
            if our_star is None:
                problems.append(f"*{t.name} is missing")
            continue
        if t.kind == "var-keyword":
            if not var_kw:
                problems.append(f"**{t.name} is missing")
            continue
        if t.kind in (POS_ONLY, POS_OR_KW):
            if i >= len(our_pos):
                if our_star is None:
                    problems.append(f"{t.name}: MLX's positional #{i} is not positional")
                continue
            o = our_pos[i]
            if t.kind == POS_OR_KW and (o.kind is o.POSITIONAL_ONLY or o.name != t.name):
                problems.append(f"#{i} is {_KIND[o.kind]} {o.name!r}, MLX: {t.kind} {t.name!r}")
        else:  # keyword-only in MLX
            o = by_name.get(t.name)
            if o is None or o.kind is o.POSITIONAL_ONLY:
                if not var_kw:
                    problems.append(f"{t.name}: keyword missing")
                continue
            if t.name == "stream" and o.kind is not o.KEYWORD_ONLY:
                problems.append("stream is not keyword-only")
        matched.add(o.name)
        if t.default is _NO_DEFAULT:
            continue
        if o.default is inspect.Parameter.empty:
            problems.append(f"{t.name}: required, MLX defaults it")
        elif not _same_default(o.default, t.default):
            problems.append(f"{t.name}: default {o.default!r}, MLX {t.default!r}")
    for o in ours:
        if o.name in matched or o.kind in (o.VAR_POSITIONAL, o.VAR_KEYWORD):
            continue
        if o.default is inspect.Parameter.empty:
            problems.append(f"{o.name}: required here, MLX has no such parameter")
    return problems


def _our_signature(obj, is_method: bool) -> inspect.Signature:
    sig = inspect.signature(obj)
    params = list(sig.parameters.values())
    # A method looked up on its class takes the instance first (umx binds many ops as methods,
    # so it may be named ``a``); MLX's lines leave self out.
    if (
        is_method
        and params
        and params[0].kind in (params[0].POSITIONAL_ONLY, params[0].POSITIONAL_OR_KEYWORD)
    ):
        sig = sig.replace(parameters=params[1:])
    return sig


def collect_mismatches(
    text: str, skip: dict[str, str], corrected: dict[str, str]
) -> tuple[int, list[str]]:
    """(how many callables were compared, the mismatches found)."""
    checked, out = 0, []
    for dotted, lines, is_method in _entries(text):
        if not lines or dotted in skip:
            continue
        lines = [corrected[dotted]] if dotted in corrected else lines
        try:
            obj = _resolve(dotted)
        except AttributeError:
            out.append(f"{dotted}: missing from umx")
            continue
        try:
            sig = _our_signature(obj, is_method)
        except (TypeError, ValueError):
            out.append(f"{dotted}: umx's callable has no signature")
            continue
        checked += 1
        overloads = [parse_signature(line)[1] for line in lines]
        if len(overloads) > 1:
            # An overloaded MLX function: every keyword of any overload is accepted.
            names = {p.name for ps in overloads for p in ps if p.kind != POS_ONLY}
            bad = sorted(n for n in names if n not in sig.parameters)
            if bad:
                out.append(f"{dotted}: keywords {bad} missing")
            continue
        for problem in compare(overloads[0], sig):
            out.append(f"{dotted}: {problem}")
    return checked, out


# Reference lines that say less than MLX binds. Their text has no ``/`` (nor ``*`` before
# ``stream``), but MLX 0.32.4 refuses ``a=``/``b=`` and a positional ``stream`` (checked with
# the real MLX: ``mx.add(a=x, b=x)`` and ``mx.add(x, x, mx.cpu)`` raise TypeError). The lines
# below are what MLX accepts; umx may still take more (a keyword ``a``) without harm.
_BINARY = (
    "add", "subtract", "multiply", "divide", "divmod", "floor_divide", "remainder", "equal",
    "not_equal", "greater", "greater_equal", "less", "less_equal", "bitwise_and", "bitwise_or",
    "bitwise_xor", "left_shift", "right_shift", "bitwise_left_shift", "bitwise_right_shift",
)  # fmt: skip
_UNARY = (
    "isfinite",
    "isinf",
    "isnan",
    "isneginf",
    "isposinf",
    "bitwise_invert",
    "conj",
    "conjugate",
)
CORRECTED = {
    **{n: f"{n}(a, b, /, *, stream=None)" for n in _BINARY},
    **{n: f"{n}(a, /, *, stream=None)" for n in _UNARY},
    "array_equal": "array_equal(a, b, /, *, equal_nan=False, stream=None)",
    # The text marks these positional-only, but MLX takes the later ones by keyword.
    "roll": "roll(a, /, shift, axis=None, *, stream=None)",
    "astype": "astype(a, /, dtype, *, stream=None)",
    "round": "round(a, /, decimals=0, *, stream=None)",
    "issubdtype": "issubdtype(arg1, arg2, /)",
    "savez_compressed": "savez_compressed(file, /, *args, **kwargs)",
}

# Differences allowed, each harmless for code written for MLX.
EXCEPTIONS = {
    # MLX's ``nan`` is a float parameter (nanobind turns the 0 of its line into 0.0): the
    # same value as umx's 0.0.
    "nan_to_num": "float default 0.0 for MLX's 0",
}


@pytest.mark.skipif(
    not _REFERENCE.exists(), reason="the mlx.core reference is not beside the checkout"
)
def test_every_function_and_method_takes_mlx_parameters():
    text = _REFERENCE.read_text()
    checked, problems = collect_mismatches(text, EXCEPTIONS, CORRECTED)
    assert checked > 380, f"only {checked} signatures parsed: has the reference changed form?"
    assert not problems, f"{len(problems)} signature mismatches:\n" + "\n".join(problems)


def test_the_parser_reads_markers_and_defaults():
    name, ps = parse_signature(
        "sum(a: array, /, axis: int | Sequence[int] | None = None, keepdims: bool = False, "
        "*, stream: StreamOrDevice = None) -> array"
    )
    assert name == "sum"
    assert [(p.name, p.kind, p.default) for p in ps] == [
        ("a", POS_ONLY, _NO_DEFAULT),
        ("axis", POS_OR_KW, None),
        ("keepdims", POS_OR_KW, False),
        ("stream", KW_ONLY, None),
    ]
    _, ps = parse_signature("f(x: ndarray[writable=False] = [], dtype: Dtype = float32)")
    assert [p.default for p in ps] == [(), mx.float32]


def test_compare_finds_what_mlx_calls_would_break():
    def ours(a, /, axis=None, keepdims=None, stream=None):
        pass

    _, theirs = parse_signature("f(a, /, axis=None, keepdims=False, *, stream=None)")
    problems = compare(theirs, inspect.signature(ours))
    assert problems == ["keepdims: default None, MLX False", "stream is not keyword-only"]

    def renamed(a, ax=None, *, keepdims=False, stream=None):
        pass

    problems = compare(theirs, inspect.signature(renamed))
    assert problems == [
        "#1 is positional-or-keyword 'ax', MLX: positional-or-keyword 'axis'",
        "keepdims: MLX's positional #2 is not positional",
    ]

    def permissive(a, axis=None, keepdims=False, *, stream=None, extra=1):
        pass

    assert compare(theirs, inspect.signature(permissive)) == []


def test_mlx_calling_forms_run():
    # Calls that MLX 0.32.4 accepts (checked with the real MLX), one per fixed mismatch.
    x = mx.array([1.5, 2.5])
    k = mx.random.key(0)
    u = mx.random.uniform(0, 1, (2,), mx.float32, k, mx.cpu)  # a positional stream
    assert u.shape == (2,) and mx.array_equal(u, mx.random.uniform(shape=(2,), key=k))
    assert mx.random.split(k, 2, mx.cpu).shape == (2, 2)
    assert mx.kron(a=x, b=x).tolist() == [2.25, 3.75, 3.75, 6.25]
    assert x.astype(dtype=mx.int32).dtype == mx.int32
    assert x.astype(mx.int32, mx.cpu).tolist() == [1, 2]
    assert mx.is_available(device=mx.cpu)
    assert mx.array([0, 0]).at[mx.array([1, 1])].add(value=2).tolist() == [0, 4]
    assert mx.array([0, 0]).at[0][1].subtract(value=1).tolist() == [0, -1]  # the last indices
    assert type(mx.array([0]).at[0]) is mx.ArrayAt
    with pytest.raises(ValueError, match="Must give indices"):
        mx.array([0]).at.add(1)
    assert mx.custom_function(f=lambda a: a * 2)(x).tolist() == [3.0, 5.0]
    with pytest.raises(TypeError):  # MLX's binary ops take their operands by position only
        mx.add(x, x, mx.cpu)
