"""Elementwise binary ops: values vs NumPy with broadcasting and weak scalars; dtypes,
errors and integer / complex edge semantics vs MLX."""

from __future__ import annotations

import operator
import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import umx as mx
from tests.helpers import ALL_DTYPES, check, mlx, needs_mlx

BINARY = [
    "add", "subtract", "multiply", "divide", "floor_divide", "remainder", "power", "maximum",
    "minimum", "arctan2", "logaddexp", "equal", "not_equal", "less", "less_equal", "greater",
    "greater_equal", "logical_and", "logical_or", "bitwise_and", "bitwise_or", "bitwise_xor",
    "left_shift", "right_shift",
]  # fmt: skip
_FLOAT_REF = {
    "add": np.add, "subtract": np.subtract, "multiply": np.multiply, "divide": np.divide,
    "maximum": np.maximum, "minimum": np.minimum, "arctan2": np.arctan2, "logaddexp": np.logaddexp,
    "power": lambda a, b: np.power(np.abs(a), b), "equal": np.equal, "less": np.less,
    "greater_equal": np.greater_equal, "floor_divide": np.floor_divide, "remainder": np.remainder,
}  # fmt: skip


@st.composite
def _broadcast_pair(draw, elements):
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=3, max_side=4))
    s1, s2 = draw(
        hnp.mutually_broadcastable_shapes(num_shapes=2, base_shape=shape, max_side=4)
    ).input_shapes
    a = draw(hnp.arrays(np.float64, s1, elements=elements))
    b = draw(hnp.arrays(np.float64, s2, elements=elements))
    return a, b


_fl = st.floats(-8, 8, allow_nan=False, width=16)


@given(
    ab=_broadcast_pair(_fl),
    name=st.sampled_from(sorted(_FLOAT_REF)),
    d=st.sampled_from([mx.float16, mx.float32, mx.float64]),
)
def test_float_ops_broadcast_vs_numpy(ab, name, d):
    a, b = ab
    if name == "power":
        a = np.abs(a)
    x, y = mx.array(a, d), mx.array(b, d)
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        want = _FLOAT_REF[name](
            a.astype(d.np).astype(np.float64), b.astype(d.np).astype(np.float64)
        )
        out = getattr(mx, name)(x, y)
        if want.dtype.kind == "f":
            want = want.astype(d.np).astype(np.float64)  # overflow to inf as in the dtype
    assert out.shape == np.broadcast_shapes(a.shape, b.shape)
    tol = {"float16": 4e-3, "float32": 1e-5, "float64": 1e-12}[d.name]
    if name in ("floor_divide", "remainder"):
        # both are discontinuous: compare where the quotient is not near an integer
        q = a.astype(np.float64) / np.where(b == 0, 1, b)
        ok = np.broadcast_to(np.abs(q - np.round(q)) > 1e-2, out.shape) & np.broadcast_to(
            b != 0, out.shape
        )
        got = np.array(out).astype(np.float64)
        np.testing.assert_allclose(
            got[ok], np.broadcast_to(want, out.shape)[ok], rtol=tol * 10, atol=tol * 10
        )
        return
    check(out, want, rtol=tol * 10, atol=tol * 10)


_ints = st.integers(-50, 50)


@given(
    a=hnp.arrays(np.int64, hnp.array_shapes(max_dims=2, max_side=5), elements=_ints),
    b=st.one_of(_ints, st.integers(1, 7)),
    d=st.sampled_from([mx.int8, mx.int16, mx.int32, mx.int64]),
    op=st.sampled_from(
        [
            "add",
            "subtract",
            "multiply",
            "floor_divide",
            "remainder",
            "maximum",
            "bitwise_and",
            "bitwise_xor",
        ]
    ),
    scalar_left=st.booleans(),
)
def test_int_ops_with_weak_python_scalar(a, b, d, op, scalar_left):
    x = mx.array(a, d)
    f = getattr(mx, op)
    ref = getattr(np, op)
    av, bv = a.astype(d.np), np.array(b, d.np)
    if op in ("floor_divide", "remainder") and (b == 0 if not scalar_left else (a == 0).any()):
        return  # zero divisors are covered separately (MLX semantics)
    out = f(b, x) if scalar_left else f(x, b)
    with np.errstate(all="ignore"):
        want = ref(bv, av) if scalar_left else ref(av, bv)
    check(out, want.astype(d.np), dtype=d)


@given(
    a=hnp.arrays(
        np.float32, hnp.array_shapes(max_dims=2, max_side=5), elements=st.floats(-4, 4, width=32)
    ),
    s=st.one_of(st.integers(-3, 3), st.floats(-3, 3, width=32), st.booleans()),
    op=st.sampled_from(["+", "-", "*", "/", "**", "<", ">=", "==", "!="]),
    d=st.sampled_from([mx.float16, mx.bfloat16, mx.float32]),
)
def test_python_operators_and_reflected_forms(a, s, op, d):
    f = {"+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv, "**": operator.pow,
         "<": operator.lt, ">=": operator.ge, "==": operator.eq, "!=": operator.ne}[op]  # fmt: skip
    if op == "**":
        a = np.abs(a) + 0.5
    x = mx.array(a, d)
    xa = np.array(x.astype(mx.float32)).astype(np.float64)
    sd = mx.array(float(s), d).astype(mx.float32).item()  # the weak scalar takes the array's dtype
    with np.errstate(all="ignore"):
        for out, want in ((f(x, s), f(xa, sd)), (f(s, x), f(sd, xa))):
            expected_dtype = mx.bool_ if op in ("<", ">=", "==", "!=") else d
            assert out.dtype == expected_dtype
            if out.dtype == mx.bool_:
                continue  # values compared in the low precision: checked elsewhere
            check(out, np.asarray(want).astype(d.np), rtol=3e-2, atol=3e-2)  # overflow as in d


def _outcome(lib, op, d1, d2, a, b):
    def mk(d, v):
        dd = getattr(lib, "bool_" if d is mx.bool_ else d.name)
        if d.kind == "b":
            v = v != 0
        elif d.kind == "u":
            v = np.abs(v)
        elif d.kind == "c":
            v = v + 0.5j * v
        return lib.array(v.astype(np.float32) if d is mx.bfloat16 else v.astype(np.dtype(d.np)), dd)

    try:
        r = getattr(lib, op)(mk(d1, a), mk(d2, b))
        r = r.astype(lib.float32) if r.dtype == lib.bfloat16 else r
        return str(r.dtype).rsplit(".", 1)[-1], np.array(r)
    except (ValueError, RuntimeError):  # MLX reports some unsupported dtypes at eval
        return "error", None


_A = np.array([0, 1, 7, -7, 7, -7, 3, 2, 0, 5, 100, 1])
_B = np.array([0, 0, 2, 2, -2, -2, -1, 3, 3, 7, 3, 4])
_PAIRS = [(d, d) for d in ALL_DTYPES] + [
    (mx.int8, mx.uint8), (mx.uint32, mx.int32), (mx.uint64, mx.int8), (mx.int32, mx.float16),
    (mx.bool_, mx.int8), (mx.bfloat16, mx.float16), (mx.float32, mx.complex64), (mx.int64, mx.float64),
    (mx.uint8, mx.bool_), (mx.float16, mx.int64),
]  # fmt: skip


@needs_mlx
@pytest.mark.parametrize("op", BINARY)
def test_binary_dtypes_errors_and_values_match_mlx(op):
    for d1, d2 in _PAIRS:
        want = _outcome(mlx, op, d1, d2, _A, _B)
        got = _outcome(mx, op, d1, d2, _A, _B)
        assert got[0] == want[0], (op, d1, d2)
        if want[1] is None:
            continue
        a, b = want[1], got[1]
        if op in ("left_shift", "right_shift"):
            keep = (_B >= 0) & (_B < 8)  # larger / negative shifts are undefined in C++
            a, b = a[keep], b[keep]
        if op == "power" and "complex64" in (d1.name, d2.name):
            keep = (_A != 0) | (_B != 0)  # 0 ** 0 for complex: MLX nan, umx 1
            a, b = a[keep], b[keep]
        if a.dtype.kind in "fc":
            tol = 3e-2 if {d1, d2} & {mx.float16, mx.bfloat16} else 1e-5
            np.testing.assert_allclose(
                b, a, rtol=tol, atol=tol, equal_nan=True, err_msg=f"{op} {d1} {d2}"
            )
        else:
            np.testing.assert_array_equal(b, a, err_msg=f"{op} {d1} {d2}")


def test_integer_division_semantics():
    a = mx.array([7, -7, 7, -7, 5, 0])
    b = mx.array([2, 2, -2, -2, 0, 0])
    check(a // b, [3, -4, -4, 3, 0, 0], dtype=mx.int32)
    check(a % b, [1, 1, -1, -1, 5, 0], dtype=mx.int32)  # MLX: x % 0 == x
    check(a / b, [3.5, -3.5, -3.5, 3.5, np.inf, np.nan], dtype=mx.float32)
    check(mx.array([7.0, -7.0]) % 2.0, [1.0, 1.0])
    check(mx.array([7.0, -7.0]) // -2.0, [-4.0, 3.0])
    check(
        mx.array([2, 3, 1, -1, 0], mx.int32) ** mx.array([-1, -2, -3, -3, 2]), [0, 0, 0, 0, 0]
    )  # MLX
    check(mx.array([2, 3], mx.uint8) ** 3, [8, 27], dtype=mx.uint8)
    check(mx.array([1 + 2j]) // mx.array([2 + 0j]), [0.5 + 1j])  # MLX: plain division
    check(
        mx.logaddexp(mx.array([7 + 3.5j]), mx.array([2 + 1j])), [6.9945955 + 3.4959457j], rtol=1e-5
    )


def test_bool_arithmetic():
    t = mx.array([True, True, False, False])
    f = mx.array([True, False, True, False])
    check(t + f, [True, True, True, False], dtype=mx.bool_)
    check(t - f, [False, True, True, False], dtype=mx.bool_)
    check(t * f, [True, False, False, False], dtype=mx.bool_)
    check(t**f, [True, True, False, True], dtype=mx.bool_)
    check(t / f, [1, np.inf, 0, np.nan], dtype=mx.float32)
    check(t & f, [True, False, False, False], dtype=mx.bool_)
    check(t << f, [2, 1, 0, 0], dtype=mx.uint8)


def test_binary_errors():
    a = mx.array([1, 2], mx.int8)
    with pytest.raises(ValueError, match=r"\[add\]"):
        mx.add(mx.ones((2, 3)), mx.ones((4,)))
    with pytest.raises(ValueError, match=r"\[remainder\]"):
        mx.remainder(mx.array([1j]), mx.array([1j]))
    with pytest.raises(RuntimeError, match=r"\[bitwise_and\]"):
        mx.bitwise_and(mx.array([1.5]), 1)
    with pytest.raises(ValueError, match=r"Floating point types not allowed with left shift"):
        mx.array([1.5]) << 1
    with pytest.raises(ValueError, match=r"\[arctan2\]"):
        mx.arctan2(mx.array([1j]), mx.array([1j]))
    with pytest.raises(ValueError, match="overflow"):
        a + 1000
    with pytest.raises(ValueError, match=r"\[add\]"):
        a + [1, 2]  # MLX does not take lists in binary ops
    with pytest.raises(ValueError, match=r"\[multiply\]"):
        mx.multiply((1, 2), a)
    with pytest.raises(ValueError):
        a + "x"
    with pytest.raises(TypeError):
        mx.add(a, None)
    with pytest.raises(TypeError):
        a == None  # noqa: B015, E711 - MLX raises here
    assert (a == [1, 2]) is False
    assert (a != "x") is True


def test_numpy_operands_take_the_array_dtype():
    a = mx.array([1, 2], mx.int32)
    check(a + np.array([2.7, 3.2]), [3, 5], dtype=mx.int32)
    check(mx.add(np.float32(2.5), mx.array([1, 2], mx.int8)), [3, 4], dtype=mx.int8)
    check(mx.array([0.5], mx.float16) + np.array([1.0]), [1.5], dtype=mx.float16)
    check(mx.add(np.array([1.5]), 2), [3.5], dtype=mx.float32)  # no array operand: both strong
    check(mx.multiply(2, np.array([1, 2], np.int8)), [2, 4], dtype=mx.int32)


def test_scalar_only_calls_and_broadcast_shapes():
    check(mx.add(1, 2), 3, dtype=mx.int32)
    check(mx.add(1, 2.5), 3.5, dtype=mx.float32)
    check(mx.maximum(1j, 2), 2 + 0j, dtype=mx.complex64)
    out = mx.add(mx.zeros((3, 1, 2)), mx.ones((4, 1)))
    assert out.shape == (3, 4, 2)
    check(out, np.ones((3, 4, 2)))
    check(mx.greater(mx.zeros((0, 3)), 1), np.zeros((0, 3), bool))


def test_inplace_operators_rebind():
    a = mx.array([1.0, 2.0])
    c = a * 2
    a += 1
    a *= 3
    a -= 1
    a /= 2
    check(a, [2.5, 4.0])
    check(c, [2.0, 4.0])  # earlier results are unaffected
    i = mx.array([5, 6])
    i //= 2
    i %= 2
    i **= 2
    i <<= 1
    i |= 4
    i ^= 1
    i &= 7
    i >>= 1
    check(i, [2, 3], dtype=mx.int32)


def test_divmod_and_logical_xor():
    q, r = mx.divmod(mx.array([7, -7, 7]), mx.array([2, 2, -2]))
    check(q, [3, -4, -4], dtype=mx.int32)
    check(r, [1, 1, -1], dtype=mx.int32)
    q, r = mx.divmod(mx.array([7.5]), 2)
    check(q, [3.0], dtype=mx.float32)
    check(r, [1.5], dtype=mx.float32)
    with pytest.raises(ValueError, match=r"\[divmod\] Complex"):
        mx.divmod(mx.array([1j]), 2)
    check(mx.logical_xor(mx.array([1.0, 0.0, 2.0]), 1), [False, True, False], dtype=mx.bool_)
    check(
        mx.logical_xor(mx.array([True, False]), mx.array([[True], [False]])),
        [[False, True], [True, False]],
    )


def test_a_scalar_operand_is_converted_at_build_time_not_by_a_node():
    # int / 2 computes in float32: the constant 2 becomes float32 at once (on a GPU stream,
    # a cast node would copy it to the device first); the array still gets its cast node.
    x = mx.array([1, 2, 3])
    out = x / 2
    cast_x, two = out._inputs
    assert two._prim is None and two.dtype == mx.float32 and two.item() == 2.0
    assert cast_x._prim is not None and cast_x.dtype == mx.float32
    check(out, np.array([0.5, 1, 1.5], np.float32))
    assert mx.arctan2(mx.array([1], mx.int8), 1)._inputs[1]._prim is None


def test_casts_of_scalar_operands_stay_in_the_graph_under_transforms():
    x = mx.array(2.0, mx.float16)
    assert mx.grad(lambda x: x + mx.array(1.0))(x).item() == 1.0
    g = mx.grad(lambda x: mx.array(3, mx.int32) / x)(x)
    assert g.dtype == mx.float16 and g.item() == -0.75
    _, (t,) = mx.jvp(lambda x: x * mx.array(3.0), [x], [mx.array(1.0, mx.float16)])
    assert t.dtype == mx.float32 and t.item() == 3.0


def test_bitwise_function_errors_are_runtime_errors_checked_before_broadcast():
    # MLX: RuntimeError naming the operand dtypes, raised before the shapes are checked.
    msg = (
        r"\[bitwise_and\] Only allowed on integer or boolean types but got types int32 and float16"
    )
    with pytest.raises(RuntimeError, match=msg):
        mx.bitwise_and(mx.array([1]), mx.array([[1.0], [2.0]], mx.float16))
    with pytest.raises(RuntimeError, match="got types int8 and float32"):
        mx.left_shift(mx.array([1], mx.int8), 1.5)
    with pytest.raises(RuntimeError, match="got types float16 and float16"):
        mx.right_shift(mx.array([1]), mx.array([1.0], mx.float16))
    with pytest.raises(RuntimeError, match=r"\[bitwise_xor\]"):
        mx.bitwise_xor(1.5, 2)


def test_bitwise_operators_refuse_inexact_and_have_no_reflected_forms():
    i = mx.array([1, 2], mx.int8)
    for f, what in [
        (operator.or_, "bitwise or"),
        (operator.and_, "bitwise and"),
        (operator.xor, "bitwise xor"),
        (operator.lshift, "left shift"),
        (operator.rshift, "right shift"),
    ]:
        with pytest.raises(ValueError, match=f"Floating point types not allowed with {what}"):
            f(i, 1.5)
        with pytest.raises(ValueError, match="Floating point"):
            f(mx.array([1.0]), i)
        with pytest.raises(ValueError, match="Floating point"):
            f(i, mx.zeros((3, 3)))  # before broadcasting
        with pytest.raises(TypeError):
            f(3, i)
    with pytest.raises(ValueError, match="bitwise inversion"):
        ~mx.array([1.5])
    with pytest.raises(TypeError):
        [[1.0]] @ mx.ones((1, 1))
    check(i | True, [1, 3], dtype=mx.int8)


def test_inplace_operators_update_the_array_object():
    a = mx.array([1, 2])
    alias = a
    before = a * 2
    a += 1
    assert a is alias
    check(alias, [2, 3], dtype=mx.int32)
    check(before, [2, 4], dtype=mx.int32)
    b = mx.array([1, 2], mx.int8)
    alias = b
    b *= mx.array([[1.5], [2.0]])  # dtype and shape may change, as in MLX
    check(alias, [[1.5, 3.0], [2.0, 4.0]], dtype=mx.float32)
    c = mx.array([1, 2])
    with pytest.raises(ValueError, match="In place division cannot cast"):
        c /= 2
    with pytest.raises(ValueError, match="cannot be broadcast"):
        c += mx.ones((3,))
    check(c, [1, 2], dtype=mx.int32)
    h = mx.array([1.0, 2.0], mx.float16)
    h /= 2
    check(h, [0.5, 1.0], dtype=mx.float16)


def test_float_floor_divide_is_floor_of_the_quotient():
    # MLX computes floor(x / y) for floats (NumPy's fmod-based floor_divide differs).
    check(mx.array([1.0]) // 0.1, [10.0], dtype=mx.float32)
    check(mx.floor_divide(mx.array([1.0], mx.float64), 0.1), [10.0], dtype=mx.float64)
    check(mx.array([np.inf, -np.inf, 7.5]) // -6, [-np.inf, np.inf, -2.0])
    for d in (mx.float16, mx.bfloat16):
        check(mx.array([np.inf, 1.0], d) // mx.array([100.0, 0.1], d), [np.inf, 10.0], dtype=d)
    out = mx.array([-5.0, 5.0]) // np.inf
    assert np.array_equal(np.signbit(np.array(out)), [True, False])
    check(out, [0.0, 0.0])


def test_logical_ops_read_python_numbers_as_truth_values():
    # MLX: no overflow check against the array's dtype for logical ops.
    i8, u16 = mx.array([3, 0], mx.int8), mx.array([4, 0], mx.uint16)
    check(mx.logical_and(i8, -1000), [True, False], dtype=mx.bool_)
    check(mx.logical_or(u16, -(2**40)), [True, True], dtype=mx.bool_)
    check(mx.logical_xor(2**40, u16), [False, True], dtype=mx.bool_)
    check(mx.logical_and(i8, 0.0), [False, False], dtype=mx.bool_)
    check(mx.logical_and(2, 3), True, dtype=mx.bool_)


def test_matmul_operator_takes_arrays_only():
    a = mx.ones((2, 2))
    for other in (2, 2.5, [[1.0, 2.0], [3.0, 4.0]], np.ones((2, 2), np.float32)):
        with pytest.raises(TypeError):
            a @ other
    check(a @ a, np.full((2, 2), 2.0))
