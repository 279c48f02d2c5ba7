"""Convolutions: conv1d/2d/3d, conv_general, conv_transpose1d/2d/3d, convolve.

A slow NumPy reference (loops over kernel taps) is the numeric oracle; MLX 0.32's behaviour
(shapes, dtypes, errors, its handling of negative padding, gradients) was checked with the
real MLX and is recorded here as explicit expectations.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import umx as mx
from tests.helpers import check
from umx.ops import conv as conv_mod

# -- the reference -----------------------------------------------------------------------------


def ref_conv(x, w, stride, lo, hi, kdil, idil, groups=1, flip=False):
    """MLX's conv_general in float64: negative padding cuts the raw input (before the input
    dilation), sizes use C++'s division toward zero, windows past the input read zeros.
    None where MLX raises (an output size below one)."""
    x = np.asarray(x, np.float64)
    w = np.asarray(w, np.float64)
    nd = x.ndim - 2
    lo, hi = list(lo), list(hi)
    for i in range(nd):
        n = x.shape[1 + i]
        start = min(-lo[i], n) if lo[i] < 0 else 0
        stop = n + hi[i] if hi[i] < 0 else n
        stop = stop + n if stop < 0 else stop
        stop = min(max(stop, 0), n)
        x = np.take(x, range(start, max(start, stop)), axis=1 + i)
        lo[i], hi[i] = max(lo[i], 0), max(hi[i], 0)
    kern = w.shape[1:-1]
    out = []
    for i in range(nd):
        size = 1 + (x.shape[1 + i] - 1) * idil[i] + lo[i] + hi[i]
        num = size - ((kern[i] - 1) * kdil[i] + 1)
        q = (abs(num) // stride[i]) * (1 if num >= 0 else -1) + 1
        if q <= 0:
            return None
        out.append(q)
    need = [(out[i] - 1) * stride[i] + (kern[i] - 1) * kdil[i] + 1 for i in range(nd)]
    big = [max(need[i], lo[i] + max(x.shape[1 + i] - 1, 0) * idil[i] + 1) for i in range(nd)]
    xd = np.zeros((x.shape[0], *big, x.shape[-1]))
    if all(x.shape[1 + i] > 0 for i in range(nd)):
        key = tuple(
            slice(lo[i], lo[i] + (x.shape[1 + i] - 1) * idil[i] + 1, idil[i]) for i in range(nd)
        )
        xd[(slice(None), *key)] = x
    if flip:
        w = w[(slice(None),) + (slice(None, None, -1),) * nd]
    cin, cout = x.shape[-1], w.shape[0]
    cg, og = cin // groups, cout // groups
    y = np.zeros((x.shape[0], *out, cout))
    for k in np.ndindex(*kern):
        key = tuple(
            slice(k[i] * kdil[i], k[i] * kdil[i] + (out[i] - 1) * stride[i] + 1, stride[i])
            for i in range(nd)
        )
        patch = xd[(slice(None), *key)]
        for g in range(groups):
            wk = w[(slice(g * og, (g + 1) * og), *k, slice(None))]
            y[..., g * og : (g + 1) * og] += patch[..., g * cg : (g + 1) * cg] @ wk.T
    return y


def ref_conv_transpose(x, w, stride, padding, dilation, output_padding, groups=1):
    """The textbook transposed convolution (each input element scatters ``w`` into the
    output), for padding <= dilation * (K - 1), where MLX agrees with it."""
    x = np.asarray(x, np.float64)
    w = np.asarray(w, np.float64)
    nd = x.ndim - 2
    kern = w.shape[1:-1]
    full = [(x.shape[1 + i] - 1) * stride[i] + (kern[i] - 1) * dilation[i] + 1 for i in range(nd)]
    size = [full[i] - 2 * padding[i] + output_padding[i] for i in range(nd)]
    cin, cout = x.shape[-1], w.shape[0]
    cg, og = cin // groups, cout // groups
    y = np.zeros((x.shape[0], *[f + output_padding[i] for i, f in enumerate(full)], cout))
    for j in np.ndindex(*x.shape[1:-1]):
        for k in np.ndindex(*kern):
            pos = tuple(j[i] * stride[i] + k[i] * dilation[i] for i in range(nd))
            for g in range(groups):
                wk = w[(slice(g * og, (g + 1) * og), *k, slice(None))]  # (og, cg)
                y[(slice(None), *pos, slice(g * og, (g + 1) * og))] += (
                    x[(slice(None), *j, slice(g * cg, (g + 1) * cg))] @ wk.T
                )
    key = tuple(slice(padding[i], padding[i] + size[i]) for i in range(nd))
    return y[(slice(None), *key)]


def _arr(rng, shape, dtype=np.float32):
    return rng.standard_normal(shape).astype(dtype)


def _m(a):
    return mx.array(a, dtype=mx.float64) if a.dtype == np.float64 else mx.array(a)


# -- values ---------------------------------------------------------------------------------


@st.composite
def general_cases(draw):
    nd = draw(st.integers(1, 3))
    groups = draw(st.sampled_from([1, 2, 3])) if nd < 3 else 1
    cg, og = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    sp = [draw(st.integers(1, 6)) for _ in range(nd)]
    kern = [draw(st.integers(1, 3)) for _ in range(nd)]
    ints = lambda a, b: [draw(st.integers(a, b)) for _ in range(nd)]  # noqa: E731
    neg = draw(st.booleans())
    return dict(
        x_shape=(2, *sp, cg * groups),
        w_shape=(og * groups, *kern, cg),
        stride=ints(1, 3),
        lo=ints(-2 if neg else 0, 3),
        hi=ints(-2 if neg else 0, 3),
        kdil=ints(1, 2),
        idil=ints(1, 2),
        groups=groups,
        flip=draw(st.booleans()),
        dtype=draw(st.sampled_from([np.float32, np.float64])),
        seed=draw(st.integers(0, 2**31)),
    )


@given(general_cases())
def test_conv_general_matches_reference(c):
    rng = np.random.default_rng(c["seed"])
    x, w = _arr(rng, c["x_shape"], c["dtype"]), _arr(rng, c["w_shape"], c["dtype"])
    args = (c["stride"], c["lo"], c["hi"], c["kdil"], c["idil"], c["groups"], c["flip"])
    exp = ref_conv(x, w, *args)
    call = lambda: mx.conv_general(  # noqa: E731
        _m(x), _m(w), stride=c["stride"], padding=(c["lo"], c["hi"]),
        kernel_dilation=c["kdil"], input_dilation=c["idil"], groups=c["groups"], flip=c["flip"],
    )  # fmt: skip
    if exp is None:
        with pytest.raises(ValueError, match="cannot be smaller than weight"):
            call()
        return
    tol = 1e-4 if c["dtype"] == np.float32 else 1e-10
    y = call()
    assert tuple(y.shape) == exp.shape  # known before evaluation
    check(y, exp, rtol=tol, atol=tol)


@given(st.integers(1, 3), st.integers(0, 2**31), st.booleans())
def test_conv_nd_wrappers(nd, seed, grouped):
    rng = np.random.default_rng(seed)
    groups = 2 if grouped and nd < 3 else 1
    sp = rng.integers(3, 7, nd)
    kern = rng.integers(1, 4, nd)
    s, p, d = (int(v) for v in rng.integers(1, 3, 3))
    x = _arr(rng, (2, *sp, 2 * groups))
    w = _arr(rng, (3 * groups, *kern, 2))
    fn = {1: mx.conv1d, 2: mx.conv2d, 3: mx.conv3d}[nd]
    exp = ref_conv(x, w, [s] * nd, [p] * nd, [p] * nd, [d] * nd, [1] * nd, groups)
    if exp is None:
        with pytest.raises(ValueError):
            fn(mx.array(x), mx.array(w), s, p, d, groups)
        return
    check(fn(mx.array(x), mx.array(w), s, p, d, groups), exp, rtol=1e-4, atol=1e-4)
    if nd > 1:  # per-dimension tuples
        st_ = tuple(int(v) for v in rng.integers(1, 3, nd))
        exp = ref_conv(x, w, st_, [p] * nd, [p] * nd, [1] * nd, [1] * nd, groups)
        if exp is not None:
            check(fn(mx.array(x), mx.array(w), stride=st_, padding=(p,) * nd, groups=groups),
                  exp, rtol=1e-4, atol=1e-4)  # fmt: skip


@given(st.integers(1, 3), st.integers(0, 2**31), st.booleans())
def test_conv_transpose_matches_scatter_reference(nd, seed, grouped):
    rng = np.random.default_rng(seed)
    groups = 2 if grouped and nd < 3 else 1
    x = _arr(rng, (2, *rng.integers(1, 5, nd), 2 * groups))
    kern = rng.integers(1, 4, nd)
    w = _arr(rng, (2 * groups, *kern, 2))
    stride = [int(v) for v in rng.integers(1, 4, nd)]
    dil = [int(v) for v in rng.integers(1, 3, nd)]
    pad = [int(rng.integers(0, d * (k - 1) + 1)) for d, k in zip(dil, kern)]
    opad = [int(v) for v in rng.integers(0, 2, nd)]
    exp = ref_conv_transpose(x, w, stride, pad, dil, opad, groups)
    fn = {1: mx.conv_transpose1d, 2: mx.conv_transpose2d, 3: mx.conv_transpose3d}[nd]
    args = (stride[0], pad[0], dil[0], opad[0]) if nd == 1 else (stride, pad, dil, opad)
    if nd > 1:
        args = tuple(tuple(a) for a in args)
    if 0 in exp.shape:
        with pytest.raises(ValueError, match="cannot be smaller"):
            fn(mx.array(x), mx.array(w), *args, groups)
        return
    check(fn(mx.array(x), mx.array(w), *args, groups), exp, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("mode", ["full", "valid", "same"])
def test_convolve_matches_numpy(mode, rng):
    for n in range(1, 7):
        for m in range(1, 7):
            a, v = _arr(rng, n), _arr(rng, m)
            check(mx.convolve(mx.array(a), mx.array(v), mode), np.convolve(a, v, mode),
                  rtol=1e-5, atol=1e-5)  # fmt: skip
    assert mx.convolve(mx.ones(3), mx.ones(5), mode=mode).dtype == mx.float32


def test_shapes_recorded_from_mlx():
    x, w = mx.ones((2, 8, 4)), mx.ones((6, 3, 4))
    x2, w2 = mx.ones((2, 8, 8, 4)), mx.ones((6, 3, 3, 4))
    x3, w3 = mx.ones((2, 6, 6, 6, 4)), mx.ones((6, 3, 3, 3, 4))
    cases = [
        (mx.conv2d(x2, w2, stride=(1, 2), padding=(1, 0), dilation=(2, 1)), (2, 6, 3, 6)),
        (mx.conv2d(x2, w2, stride=[1, 2]), (2, 6, 3, 6)),
        (mx.conv3d(x3, w3, stride=(1, 2, 3), padding=(0, 1, 2), dilation=(1, 2, 1)), (2, 4, 2, 3, 6)),
        (mx.conv_general(x2, w2, padding=([1, 2], [0, 1])), (2, 7, 9, 6)),
        (mx.conv_general(x2, w2, padding=([1], [0, 1])), (2, 7, 8, 6)),
        (mx.conv_general(x2, w2, padding=([-1, 2], [2, -3])), (2, 7, 5, 6)),
        (mx.conv_general(x2, w2, stride=[]), (2, 6, 6, 6)),
        (mx.conv_general(x2, w2, stride=[2]), (2, 3, 3, 6)),
        (mx.conv_general(x2, w2, input_dilation=[2, 3]), (2, 13, 20, 6)),
        (mx.conv1d(x2, w2), (2, 6, 6, 6)),  # conv1d's one-element lists fill every dim
        (mx.conv1d(x, w, padding=-1), (2, 4, 6)),
        (mx.conv1d(mx.ones((0, 8, 4)), w), (0, 6, 6)),
        (mx.conv1d(x, w, stride=np.int64(2), padding=mx.array(1)), (2, 4, 6)),
        (mx.conv_transpose1d(x, w), (2, 10, 6)),
        (mx.conv_transpose1d(x, w, stride=2, padding=1, dilation=2, output_padding=1), (2, 18, 6)),
        (mx.conv_transpose1d(x, w, stride=2, output_padding=2), (2, 19, 6)),
        (mx.conv_transpose1d(x, w, stride=2, output_padding=-1), (2, 16, 6)),
        (mx.conv_transpose1d(x, w, padding=-1), (2, 12, 6)),
        # padding past dilation * (K - 1): MLX cuts the undilated input
        (mx.conv_transpose1d(x, w, stride=2, padding=4), (2, 5, 6)),
        (mx.conv_transpose1d(x, w, stride=2, padding=6, output_padding=3), (2, 3, 6)),
        (mx.conv_transpose1d(mx.ones((2, 3, 8, 4)), w2), (2, 5, 10, 6)),
        (mx.conv_transpose2d(x2, w2, stride=(2, 1), padding=(1, 0), output_padding=(1, 0)), (2, 16, 10, 6)),
        (mx.conv_transpose2d(x2, mx.ones((6, 3, 3, 2)), groups=2), (2, 10, 10, 6)),
        (mx.conv_transpose3d(x3, w3, stride=2, output_padding=1), (2, 14, 14, 14, 6)),
    ]  # fmt: skip
    for y, shape in cases:
        assert tuple(y.shape) == shape
        assert np.array(y).shape == shape


def test_negative_padding_as_mlx_slices():
    """Negative padding is a slice of the input: a negative stop counts from the end once."""
    x = mx.arange(1, 4, dtype=mx.float32).reshape(1, 3, 1)
    w = mx.ones((1, 1, 1))
    for (lo, hi), exp in [
        ((2, -4), [0, 0, 1, 2]),
        ((2, -5), [0, 0, 1]),
        ((2, -6), [0, 0]),
        ((-4, 2), [0, 0]),
        ((-1, 1), [2, 3, 0]),
    ]:
        check(mx.conv_general(x, w, padding=([lo], [hi])).reshape(-1), np.array(exp, np.float32))
    for lo, hi in [(-2, -2), (-1, -3)]:
        with pytest.raises(ValueError, match=r"input with shape \(1,0,1\)"):
            mx.conv_general(x, w, padding=([lo], [hi]))
    # Cut before the input dilation: [2, 3] dilated by 2 is [2, 0, 3].
    check(
        mx.conv_general(x, w, padding=([-1], [0]), input_dilation=2).reshape(-1),
        np.array([2, 0, 3], np.float32),
    )


def test_output_size_rounds_toward_zero():
    """MLX's sizes divide toward zero: a window longer than the padded input by less than
    the stride still gives one output (the taps past the input read zeros here)."""
    x = mx.arange(1, 4, dtype=mx.float32).reshape(1, 3, 1)
    w = mx.array([1.0, 10.0, 100.0]).reshape(1, 3, 1)
    y = mx.conv_general(x, w, stride=2, padding=([-1], [1]), kernel_dilation=2, input_dilation=2)
    check(y, np.array([[[2.0 + 30.0]]], np.float32))  # taps at 0 and 2 of [2, 0, 3, 0]
    with pytest.raises(ValueError, match="cannot be smaller"):
        mx.conv_general(x, w, stride=1, padding=([-1], [1]), kernel_dilation=2, input_dilation=2)


# -- dtypes --------------------------------------------------------------------------------------

# (input dtype, weight dtype) -> output dtype, or ValueError: MLX 0.32 on the CPU.
DTYPES = [
    (mx.float16, mx.float16, mx.float16),
    (mx.bfloat16, mx.bfloat16, mx.bfloat16),
    (mx.float32, mx.float32, mx.float32),
    (mx.float64, mx.float64, mx.float64),
    (mx.float16, mx.float32, mx.float32),
    (mx.float32, mx.float16, mx.float32),
    (mx.bfloat16, mx.float32, mx.float32),
    (mx.float16, mx.bfloat16, mx.float32),
    (mx.float32, mx.float64, mx.float64),
    (mx.float32, mx.int32, mx.float32),
    (mx.float32, mx.uint8, mx.float32),
    (mx.float32, mx.bool_, mx.float32),
    (mx.float16, mx.int8, mx.float16),
    (mx.float32, mx.complex64, mx.complex64),
    (mx.int32, mx.float32, ValueError),
    (mx.uint8, mx.float32, ValueError),
    (mx.bool_, mx.float32, ValueError),
    (mx.complex64, mx.float32, ValueError),
    (mx.int32, mx.int32, ValueError),
]


@pytest.mark.parametrize("din,dw,dout", DTYPES, ids=lambda d: getattr(d, "name", str(d)))
def test_dtype_promotion(din, dw, dout, rng):
    x = mx.array(rng.integers(0, 3, (2, 5, 4))).astype(din)
    w = mx.array(rng.integers(0, 3, (3, 2, 4))).astype(dw)
    if dout is ValueError:
        with pytest.raises(ValueError, match=f"Invalid input array with type {din.name}"):
            mx.conv1d(x, w)
        return
    y = mx.conv1d(x, w)
    assert y.dtype == dout
    exp = ref_conv(
        np.array(x.astype(mx.float64)), np.array(w.astype(mx.float32)), [1], [0], [0], [1], [1]
    )
    check(y, exp.astype(dout.np))  # small integers: exact even in half precision


def test_half_precision_values(rng):
    x, w = _arr(rng, (2, 6, 6, 3)), _arr(rng, (4, 3, 3, 3))
    exp = ref_conv(x, w, [1, 1], [1, 1], [1, 1], [1, 1], [1, 1])
    for d, tol in ((mx.float16, 2e-2), (mx.bfloat16, 1e-1)):
        y = mx.conv2d(mx.array(x).astype(d), mx.array(w).astype(d), padding=1)
        assert y.dtype == d
        np.testing.assert_allclose(np.array(y.astype(mx.float32)), exp, rtol=tol, atol=tol)


def test_complex_weight_computes_the_complex_product():
    """MLX 0.32 gives complex64 here but drops the imaginary parts of the products; umx
    computes the complex convolution (MLX's real parts agree)."""
    x = mx.arange(1, 6, dtype=mx.float32).reshape(1, 5, 1)
    w = mx.array(np.array([1 + 2j, 3 - 1j], np.complex64).reshape(1, 2, 1))
    y = mx.conv1d(x, w)
    assert y.dtype == mx.complex64
    exp = np.array([7 + 0j, 11 + 1j, 15 + 2j, 19 + 3j], np.complex64).reshape(1, 4, 1)
    check(y, exp)
    np.testing.assert_allclose(np.array(y).real.ravel(), [7, 11, 15, 19])  # MLX's values


def test_convolve_dtypes_and_swap():
    # The longer input is the signal: its dtype is the one checked.
    assert mx.convolve(mx.ones(3, dtype=mx.int32), mx.ones(5)).dtype == mx.float32
    assert mx.convolve(mx.ones(5, dtype=mx.float16), mx.ones(3)).dtype == mx.float32
    assert (
        mx.convolve(mx.ones(5, dtype=mx.float16), mx.ones(3, dtype=mx.float16)).dtype == mx.float16
    )
    assert (
        mx.convolve(mx.ones(5, dtype=mx.float64), mx.ones(3, dtype=mx.float64)).dtype == mx.float64
    )
    assert mx.convolve(mx.ones(5), mx.ones(3, dtype=mx.complex64)).dtype == mx.complex64
    with pytest.raises(ValueError, match="Invalid input array with type int32"):
        mx.convolve(mx.ones(5, dtype=mx.int32), mx.ones(3))
    with pytest.raises(ValueError, match="Invalid input array with type complex64"):
        mx.convolve(mx.ones(5, dtype=mx.complex64), mx.ones(3))


# -- errors (messages and types as MLX raises them, at call time) ----------------------------------

X, W = mx.ones((2, 8, 4)), mx.ones((6, 3, 4))
X2, W2 = mx.ones((2, 8, 8, 4)), mx.ones((6, 3, 3, 4))
X3 = mx.ones((2, 6, 6, 6, 4))

ERRORS = [
    (lambda: mx.conv1d(X.astype(mx.int32), W), ValueError, "[conv] Invalid input array with type int32. Convolution currently only supports floating point types"),
    (lambda: mx.conv1d(mx.ones((8, 4)), W), ValueError, "[conv] Only works for inputs with 1-3 spatial dimensions. The inputs must be in the format [N, ..., C_in]"),
    (lambda: mx.conv_general(mx.ones((2, 4, 4, 4, 4, 4)), mx.ones((2, 1, 1, 1, 1, 4))), ValueError, "1-3 spatial dimensions"),
    (lambda: mx.conv1d(X, mx.ones((3, 4))), ValueError, "[conv] Invalid weight array with 2 dimensions for 1D convolution. Expected an array with 3 dimensions following the format [C_out, ..., C_in]."),
    (lambda: mx.conv1d(X2, W), ValueError, "Invalid weight array with 3 dimensions for 2D convolution"),
    (lambda: mx.conv1d(X, mx.ones((6, 3, 3))), ValueError, "[conv] Expect the input channels in the input and weight array to match but got shapes - input: (2,8,4) and weight: (6,3,3)"),
    (lambda: mx.conv1d(X, mx.ones((6, 3, 2)), groups=3), ValueError, "[conv] The input channels must be divisible by the number of groups. Got input with shape (2,8,4) and 3 groups."),
    (lambda: mx.conv1d(X, mx.ones((5, 3, 2)), groups=2), ValueError, "[conv] If groups > 1, the output channels must be divisible by the number of groups. Got 5 output channels and 2 groups."),
    (lambda: mx.conv1d(X, mx.ones((6, 3, 3)), groups=2), ValueError, "Given groups=2 and weights of shape (6,3,3), expected to have 6 input channels but got 4 input channels instead."),
    (lambda: mx.conv1d(X, mx.ones((6, 3, 2)), groups=-2), ValueError, ""),
    (lambda: mx.conv1d(X, W, groups=0), ValueError, ""),  # MLX: a division by zero crash
    (lambda: mx.conv3d(X3, mx.ones((6, 3, 3, 3, 2)), groups=2), ValueError, "[conv] Can only handle groups != 1 in 1D or 2D convolutions."),
    (lambda: mx.conv_transpose3d(X3, mx.ones((6, 3, 3, 3, 2)), groups=2), ValueError, "Can only handle groups != 1"),
    (lambda: mx.conv1d(X, mx.ones((6, 9, 4))), ValueError, "[conv] Spatial dimensions of input after padding cannot be smaller than weight spatial dimensions. Got error at axis 1 for input with shape (2,8,4), padding low (0), padding high (0), and weight of shape (6,9,4)."),
    (lambda: mx.conv1d(X, W, padding=-3), ValueError, "input with shape (2,2,4), padding low (0), padding high (0)"),
    (lambda: mx.conv1d(X, W, stride=0), ValueError, "[conv] Stride sizes must be positive. Got strides (0)."),
    (lambda: mx.conv1d(X, W, stride=-1), ValueError, "Got strides (-1)."),
    (lambda: mx.conv1d(X, W, dilation=0), ValueError, "[conv] Kernel dilation sizes must be positive. Got kernel dilation (0)."),
    (lambda: mx.conv_general(X2, W2, input_dilation=0), ValueError, "[conv] Input dilation sizes must be positive. Got input dilation (0,0)."),
    (lambda: mx.conv_general(X, W, stride=[1, 2]), ValueError, "[conv] Invalid strides (1,2) for 1D convolution."),
    (lambda: mx.conv_general(X2, W2, padding=[1, 2, 3]), ValueError, "[conv] Invalid padding (1,2,3) | (1,2,3) for 2D convolution."),
    (lambda: mx.conv_general(X2, W2, padding=([1, 2], [1, 2, 3])), ValueError, "[conv] Invalid padding (1,2) | (1,2,3) for 2D convolution."),
    (lambda: mx.conv_general(X2, W2, kernel_dilation=[2, 3, 4]), ValueError, "[conv] Invalid kernel dilation (2,3,4) for 2D convolution."),
    (lambda: mx.conv_general(X2, W2, input_dilation=[2, 3, 4]), ValueError, "[conv] Invalid input dilation (2,3,4) for 2D convolution."),
    (lambda: mx.conv2d(X, W), ValueError, "[conv] Invalid strides (1,1) for 1D convolution."),
    (lambda: mx.conv3d(X2, W2), ValueError, "[conv] Invalid strides (1,1,1) for 2D convolution."),
    (lambda: mx.conv_transpose1d(X, W, stride=0), ValueError, "[conv] Input dilation sizes must be positive. Got input dilation (0)."),
    (lambda: mx.conv_transpose1d(X, W, dilation=0), ValueError, "Kernel dilation sizes must be positive"),
    (lambda: mx.conv_transpose1d(X, W, padding=5), ValueError, "input with shape (2,2,4), padding low (0), padding high (0), and weight of shape (6,3,4)."),
    (lambda: mx.conv_transpose1d(X, mx.ones((6, 3, 4)), output_padding=-10), ValueError, "input with shape (2,0,4), padding low (2), padding high (0)"),
    (lambda: mx.conv_transpose1d(X, mx.ones((6, 3, 5))), ValueError, "Expect the input channels"),
    (lambda: mx.conv_transpose2d(X2, mx.ones((6, 4))), IndexError, ""),
    (lambda: mx.conv_transpose1d(X, mx.ones((6,))), IndexError, ""),
    (lambda: mx.conv2d(X2, W2, stride=(1, 2, 3)), TypeError, ""),
    (lambda: mx.conv2d(X2, W2, padding=[1]), TypeError, ""),
    (lambda: mx.conv1d(X, W, stride=(2,)), TypeError, ""),
    (lambda: mx.conv_transpose2d(X2, W2, output_padding=(1,)), TypeError, ""),
    (lambda: mx.conv_general(X2, W2, padding=1.5), TypeError, ""),
    (lambda: mx.conv_general(X2, W2, groups=2.0), TypeError, ""),
    (lambda: mx.conv_general(X2, W2, flip=1), TypeError, ""),
    (lambda: mx.conv1d(np.ones((2, 8, 4), np.float32), W), TypeError, ""),
    (lambda: mx.conv1d(X, 2.0), TypeError, ""),
    (lambda: mx.convolve(mx.ones(3), mx.ones(5), mode="bad"), ValueError, "[convolve] Invalid mode."),
    (lambda: mx.convolve(mx.ones(3), mx.ones(5), mode="FULL"), ValueError, "[convolve] Invalid mode."),
    (lambda: mx.convolve(mx.ones((3, 1)), mx.ones(5)), ValueError, "[convolve] Inputs must be 1D."),
    (lambda: mx.convolve(mx.ones(5), mx.array(2.0)), ValueError, "[convolve] Inputs must be 1D."),
    (lambda: mx.convolve(mx.ones(0), mx.ones(5)), ValueError, "[convolve] Inputs cannot be empty."),
    (lambda: mx.convolve(mx.ones(5), 2.0), TypeError, ""),
    (lambda: mx.convolve([1.0, 2.0], [1.0]), TypeError, ""),
    # MLX's order of checks: groups and rank, then dtype, weight rank, channels, sizes, signs.
    (lambda: mx.conv_general(X3.astype(mx.int32), mx.ones((6, 3, 3, 3, 4)), groups=2), ValueError, "Can only handle groups"),
    (lambda: mx.conv1d(mx.ones((8, 4), dtype=mx.int32), W), ValueError, "1-3 spatial dimensions"),
    (lambda: mx.conv_general(X.astype(mx.int32), mx.ones((6, 3)), stride=[1, 2]), ValueError, "Invalid input array with type int32"),
    (lambda: mx.conv_general(X, mx.ones((6, 3)), stride=[1, 2]), ValueError, "Invalid weight array"),
    (lambda: mx.conv_general(X, mx.ones((6, 3, 3)), stride=[1, 2]), ValueError, "Expect the input channels"),
    (lambda: mx.conv1d(X, mx.ones((5, 3, 2)), groups=2, stride=0), ValueError, "output channels must be divisible"),
    (lambda: mx.conv_general(X, W, kernel_dilation=[1, 2, 3], input_dilation=[1, 2], padding=[1, 2]), ValueError, "Invalid padding"),
    (lambda: mx.conv_general(X, W, stride=(2, -1)[1:], kernel_dilation=0), ValueError, "Stride sizes"),
    (lambda: mx.conv_general(X2, W2, kernel_dilation=0, input_dilation=0), ValueError, "Kernel dilation sizes"),
    (lambda: mx.conv_general(X, mx.ones((6, 30, 4)), padding=-3, stride=0), ValueError, "Stride sizes"),
]  # fmt: skip


@pytest.mark.parametrize("call,exc,msg", ERRORS, ids=[str(i) for i in range(len(ERRORS))])
def test_errors_at_call_time(call, exc, msg):
    with pytest.raises(exc) as info:
        call()
    assert msg in str(info.value)


# -- transforms ----------------------------------------------------------------------------------


def test_gradients_recorded_from_mlx():
    """MLX's mx.vjp of a strided, padded, dilated, grouped conv1d (integer values)."""
    x = mx.arange(1, 15, dtype=mx.float32).reshape(1, 7, 2)
    w = mx.array([[[1.0], [0.0], [2.0]], [[3.0], [-1.0], [1.0]]])
    f = lambda a, b: mx.conv1d(a, b, stride=2, padding=1, dilation=2, groups=2)  # noqa: E731
    check(f(x, w), np.array([[[14, 4], [25, 16], [7, 12]]], np.float32))
    ct = mx.arange(1, 7, dtype=mx.float32).reshape(1, 3, 2)
    _, (gx, gw) = mx.vjp(f, [x, w], [ct])
    check(gx, np.array([[[0, 0], [3, 10], [0, 0], [7, 16], [0, 0], [6, -2], [0, 0]]], np.float32))
    check(gw, np.array([[[44], [79], [40]], [[64], [112], [64]]], np.float32))
    # A grouped, strided conv_transpose2d with output padding.
    x2 = mx.arange(1, 65, dtype=mx.float32).reshape(2, 4, 4, 2) / 8
    w2 = mx.array([[1.0, -1.0], [0.5, 2.0]]).reshape(1, 2, 2, 1)
    w2 = mx.concatenate([w2, -w2], axis=0)
    g = lambda a, b: mx.conv_transpose2d(a, b, stride=2, padding=1, output_padding=1, groups=2)  # noqa: E731
    y2 = g(x2, w2)
    assert y2.shape == (2, 7, 7, 2)
    _, (gx2, gw2) = mx.vjp(g, [x2, w2], [mx.ones(y2.shape)])
    assert float(mx.sum(y2)) == pytest.approx(-8.75)
    assert float(mx.sum(gx2 * x2)) == pytest.approx(-8.75)
    check(gw2, np.array([[[[83.25], [108.0]], [[99.0], [128.0]]], [[[85.5], [111.0]], [[102.0], [132.0]]]], np.float32))  # fmt: skip


@given(general_cases())
def test_vjp_is_the_adjoint(c):
    """<vjp(ct), (tx, tw)> == <ct, f(tx, w) + f(x, tw)> for the bilinear convolution, in
    every configuration (MLX 0.32's own vjp gives wrongly shaped results in some, e.g.
    a strided conv whose last input elements are unused)."""
    rng = np.random.default_rng(c["seed"])
    x, w = _arr(rng, c["x_shape"], np.float64), _arr(rng, c["w_shape"], np.float64)
    if ref_conv(x, w, c["stride"], c["lo"], c["hi"], c["kdil"], c["idil"], c["groups"]) is None:
        return

    def f(a, b):
        return mx.conv_general(
            a, b, stride=c["stride"], padding=(c["lo"], c["hi"]), kernel_dilation=c["kdil"],
            input_dilation=c["idil"], groups=c["groups"], flip=c["flip"],
        )  # fmt: skip

    X_, W_ = _m(x), _m(w)
    y = f(X_, W_)
    ct = _m(_arr(rng, tuple(y.shape), np.float64))
    _, (gx, gw) = mx.vjp(f, [X_, W_], [ct])
    assert gx.shape == X_.shape and gw.shape == W_.shape
    tx, tw = _m(_arr(rng, x.shape, np.float64)), _m(_arr(rng, w.shape, np.float64))
    lhs = float(mx.sum(gx * tx) + mx.sum(gw * tw))
    rhs = float(mx.sum(ct * (f(tx, W_) + f(X_, tw))))
    assert lhs == pytest.approx(rhs, rel=1e-9, abs=1e-9)
    _, (t,) = mx.jvp(f, [X_, W_], [tx, tw])
    check(t, np.array(f(tx, W_) + f(X_, tw)), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize(
    "kw",
    [
        dict(stride=2, padding=1),
        dict(dilation=2, padding=2, groups=2),
        dict(stride=3, padding=0, dilation=1, groups=4),
    ],
)
def test_gradients_by_finite_differences(kw, rng):
    x = _arr(rng, (2, 6, 5, 4), np.float64)
    w = _arr(rng, (4, 3, 2, 4 // kw.get("groups", 1)), np.float64)

    def loss(a, b):
        return mx.sum(mx.sin(mx.conv2d(a, b, **kw)))

    gx, gw = mx.grad(loss, argnums=(0, 1))(_m(x), _m(w))
    eps = 1e-6
    for arr, g, which in ((x, gx, 0), (w, gw, 1)):
        g = np.array(g)
        for idx in [tuple(rng.integers(0, s) for s in arr.shape) for _ in range(6)]:
            p, m = arr.copy(), arr.copy()
            p[idx] += eps
            m[idx] -= eps
            args_p = (_m(p), _m(w)) if which == 0 else (_m(x), _m(p))
            args_m = (_m(m), _m(w)) if which == 0 else (_m(x), _m(m))
            fd = (float(loss(*args_p)) - float(loss(*args_m))) / (2 * eps)
            assert g[idx] == pytest.approx(fd, rel=1e-5, abs=1e-7)


def test_second_order_and_convolve_gradients(rng):
    x, w = _arr(rng, (1, 7, 2), np.float64), _arr(rng, (3, 3, 2), np.float64)

    def inner(a, b):
        return mx.sum(mx.conv1d(a, b, stride=2, padding=1) ** 2)

    # d/dx of |d inner / dw|^2 by finite differences of the first gradient
    gg = mx.grad(lambda a: mx.sum(mx.grad(inner, argnums=1)(a, _m(w)) ** 2))(_m(x))
    assert gg.shape == (1, 7, 2)
    eps, idx = 1e-6, (0, 3, 1)
    p, m = x.copy(), x.copy()
    p[idx] += eps
    m[idx] -= eps

    def h(v):
        return float(mx.sum(mx.grad(inner, argnums=1)(_m(v), _m(w)) ** 2))

    assert float(np.array(gg)[idx]) == pytest.approx((h(p) - h(m)) / (2 * eps), rel=1e-5)
    # convolve differentiates through its composite graph: d/da sum(convolve(a, v)) = sum(v)
    a, v = mx.array([1.0, 2.0, 3.0, 4.0]), mx.array([0.5, -1.0])
    g = mx.grad(lambda t: mx.sum(mx.convolve(t, v)))(a)
    check(g, np.full(4, -0.5, np.float32))


@pytest.mark.parametrize("in_axes", [(0, None), (None, 0), (0, 0), (2, 3), (None, 1)])
def test_vmap_matches_a_loop(in_axes, rng):
    xs = _arr(rng, (3, 2, 7, 4))  # a batch of 3 inputs (2, 7, 4)
    ws = _arr(rng, (3, 6, 3, 2))  # a batch of 3 weights (6, 3, 2)

    def f(a, b):
        return mx.conv1d(a, b, stride=2, padding=1, groups=2)

    exp = np.stack(
        [
            np.array(
                f(mx.array(xs[i if in_axes[0] is not None else 0]),
                  mx.array(ws[i if in_axes[1] is not None else 0]))
            )
            for i in range(3)
        ]
    )  # fmt: skip
    xa = xs[0] if in_axes[0] is None else np.moveaxis(xs, 0, in_axes[0])
    wa = ws[0] if in_axes[1] is None else np.moveaxis(ws, 0, in_axes[1])
    check(mx.vmap(f, in_axes=in_axes)(mx.array(xa), mx.array(wa)), exp, rtol=1e-5, atol=1e-5)


def test_weight_cotangent_transforms(rng):
    """The weight cotangent (its own primitive) under vmap (per-sample gradients, batched
    cotangents) and jvp (it is linear in the input and in the cotangent)."""
    xs, w = _arr(rng, (3, 2, 7, 4), np.float64), _arr(rng, (6, 3, 2), np.float64)
    cts = _arr(rng, (3, 2, 4, 6), np.float64)
    W_ = _m(w)

    def f(a, b):
        return mx.conv1d(a, b, stride=2, padding=1, groups=2)

    def gw_of(a, c):
        return mx.vjp(f, [a, W_], [c])[1][1]

    def loop(fn, *batched):
        return np.stack([np.array(fn(*(_m(b[i]) for b in batched))) for i in range(3)])

    def per_sample(a):
        return mx.grad(lambda b: mx.sum(f(a, b) ** 2))(W_)

    check(mx.vmap(per_sample)(_m(xs)), loop(per_sample, xs), rtol=1e-10, atol=1e-10)
    x0, c0 = _m(xs[0]), _m(cts[0])
    for fn, args in (
        (lambda c: gw_of(x0, c), (cts,)),
        (lambda a: gw_of(a, c0), (xs,)),
        (gw_of, (xs, cts)),
    ):
        check(mx.vmap(fn)(*(_m(a) for a in args)), loop(fn, *args), rtol=1e-10, atol=1e-10)
    tx, tc = _m(xs[1]), _m(cts[1])
    _, (t,) = mx.jvp(lambda a: gw_of(a, c0), [x0], [tx])
    check(t, np.array(gw_of(tx, c0)), rtol=1e-10, atol=1e-10)
    _, (t,) = mx.jvp(lambda c: gw_of(x0, c), [c0], [tc])
    check(t, np.array(gw_of(x0, tc)), rtol=1e-10, atol=1e-10)


# -- kernels: every path gives the same numbers --------------------------------------------------


def test_kernel_paths_agree(rng, monkeypatch):
    """im2col, batch chunks, the depthwise multiply-add and the scatter path for input
    dilation all compute the same convolution."""
    x = _arr(rng, (5, 7, 6, 4), np.float64)
    w = _arr(rng, (4, 3, 3, 1), np.float64)
    dw = ref_conv(x, w, [1, 2], [1, 1], [1, 1], [1, 2], [1, 1], groups=4)
    check(mx.conv2d(_m(x), _m(w), stride=(1, 2), padding=1, dilation=(1, 2), groups=4), dw)
    wt = _arr(rng, (3, 2, 3, 4), np.float64)
    tr = ref_conv_transpose(x, wt, [2, 3], [1, 0], [1, 2], [1, 0])
    w1 = _arr(rng, (6, 2, 3, 2), np.float64)
    grouped = ref_conv(x, w1, [2, 1], [0, 0], [0, 0], [1, 1], [1, 1], groups=2)
    for bytes_ in (1 << 28, 1):  # one matmul, then one sample per matmul
        monkeypatch.setattr(conv_mod, "_IM2COL_BYTES", bytes_)
        check(mx.conv2d(_m(x), _m(w), stride=(1, 2), padding=1, dilation=(1, 2), groups=4), dw)
        check(mx.conv2d(_m(x), _m(w1), stride=(2, 1), groups=2), grouped)
        check(mx.conv_transpose2d(_m(x), _m(wt), (2, 3), (1, 0), (1, 2), (1, 0)), tr)
    monkeypatch.setattr(conv_mod.Convolution, "_landing", lambda self, xp, x, kern: None)
    check(mx.conv_transpose2d(_m(x), _m(wt), (2, 3), (1, 0), (1, 2), (1, 0)), tr)


def test_gradient_paths_agree(rng, monkeypatch):
    """The weight cotangent by one matmul, by batch chunks, per tap (depthwise) and by
    scatter (input dilation), and the input cotangent by scatter or im2col, agree."""
    x = _arr(rng, (3, 5, 6, 4), np.float64)
    cases = [
        (_arr(rng, (4, 3, 2, 2), np.float64), dict(stride=(2, 1), padding=1, groups=2)),
        (_arr(rng, (4, 3, 3, 1), np.float64), dict(padding=1, dilation=2, groups=4)),
    ]

    def grads(fn, w, kw):
        return [np.array(g) for g in mx.grad(lambda a, b: mx.sum(mx.sin(fn(a, b, **kw))),
                                             argnums=(0, 1))(_m(x), _m(w))]  # fmt: skip

    fns = [(mx.conv2d, w, kw) for w, kw in cases]
    fns.append((mx.conv_transpose2d, _arr(rng, (2, 2, 3, 4), np.float64),
                dict(stride=(2, 3), padding=(1, 0), output_padding=(1, 0))))  # fmt: skip
    base = [grads(*c) for c in fns]
    monkeypatch.setattr(conv_mod, "_IM2COL_BYTES", 1)
    monkeypatch.setattr(conv_mod._ConvGeometry, "_landing", lambda self, xp, x, kern: None)
    for c, exp in zip(fns, base):
        for got, e in zip(grads(*c), exp):
            np.testing.assert_allclose(got, e, rtol=1e-10, atol=1e-10)


def test_public_names():
    for name in conv_mod.__all__:
        assert getattr(mx, name) is getattr(conv_mod, name)
    y = mx.conv2d(mx.ones((1, 5, 5, 2)), mx.ones((3, 3, 3, 2)), stream=mx.cpu)
    assert y.shape == (1, 3, 3, 3)  # lazy: the shape is known before evaluation
    check(y, np.full((1, 3, 3, 3), 18.0, np.float32))


# -- GPU -----------------------------------------------------------------------------------------


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", [mx.float32, mx.float16, mx.float64])
def test_gpu_matches_cpu(dtype, rng):
    x = mx.array(_arr(rng, (4, 12, 10, 8))).astype(dtype)
    w = mx.array(_arr(rng, (6, 3, 3, 4))).astype(dtype)
    wt = mx.array(_arr(rng, (8, 3, 2, 8))).astype(dtype)
    dw = mx.array(_arr(rng, (8, 3, 3, 1))).astype(dtype)
    tol = 2e-2 if dtype == mx.float16 else 1e-4
    calls = [
        lambda s: mx.conv2d(x, w, stride=(2, 1), padding=1, dilation=(1, 2), groups=2, stream=s),
        lambda s: mx.conv2d(x, dw, padding=1, groups=8, stream=s),
        lambda s: mx.conv_transpose2d(x, wt, stride=2, padding=1, output_padding=1, stream=s),
        lambda s: mx.conv_general(x, w, stride=[1, 2], padding=([-1, 2], [1, 0]),
                                  input_dilation=[2, 1], groups=2, flip=True, stream=s),
        lambda s: mx.convolve(x.reshape(-1)[:50], w.reshape(-1)[:7], mode="same", stream=s),
    ]  # fmt: skip
    for call in calls:
        g, c = call(mx.gpu), call(mx.cpu)
        assert g.dtype == c.dtype == dtype
        np.testing.assert_allclose(
            np.array(g.astype(mx.float32)), np.array(c.astype(mx.float32)), rtol=tol, atol=tol
        )


@pytest.mark.gpu
def test_gpu_gradients_match_cpu(rng):
    x = mx.array(_arr(rng, (3, 9, 9, 4)))
    w = mx.array(_arr(rng, (6, 3, 3, 2)))

    def loss(a, b):
        return mx.sum(mx.conv2d(a, b, stride=2, padding=1, groups=2) ** 2)

    with mx.stream(mx.gpu):
        gg = mx.grad(loss, argnums=(0, 1))(x, w)
        mx.eval(gg)
    with mx.stream(mx.cpu):
        gc = mx.grad(loss, argnums=(0, 1))(x, w)
    for a, b in zip(gg, gc):
        np.testing.assert_allclose(np.array(a), np.array(b), rtol=1e-4, atol=1e-4)


@pytest.mark.gpu
def test_gpu_scatter_and_chunks_match_cpu(rng, monkeypatch):
    """A small im2col budget sends the GPU through batch chunks and the scatter paths."""
    monkeypatch.setattr(conv_mod, "_IM2COL_BYTES", 1)
    x = mx.array(_arr(rng, (3, 6, 5, 4)))
    wt = mx.array(_arr(rng, (6, 3, 2, 4)))
    dw = mx.array(_arr(rng, (4, 3, 3, 1)))

    def loss(a, b, c):
        y = mx.conv_transpose2d(a, b, stride=(2, 3), padding=(1, 0), output_padding=(1, 0))
        return mx.sum(mx.sin(y)) + mx.sum(mx.conv2d(a, c, padding=1, groups=4) ** 2)

    outs = {}
    for s in (mx.gpu, mx.cpu):
        with mx.stream(s):
            outs[s] = mx.value_and_grad(loss, argnums=(0, 1, 2))(x, wt, dw)
            mx.eval(outs[s])
    (vg, gg), (vc, gc) = outs[mx.gpu], outs[mx.cpu]
    np.testing.assert_allclose(float(vg), float(vc), rtol=1e-4)
    for a, b in zip(gg, gc):
        np.testing.assert_allclose(np.array(a), np.array(b), rtol=1e-4, atol=1e-4)
