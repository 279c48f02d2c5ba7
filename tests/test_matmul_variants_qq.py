"""qqmm and gather_qqmm: products of operands quantized on the fly (nvfp4, mxfp8, mxfp4).

MLX 0.32.4's CPU raises RuntimeError("[QQMatmul] NYI") when it evaluates these, after the
argument checks below ran at call time (umx raises what MLX raises then); umx computes the
product of the quantized operands (x and w through quantize / dequantize, which match MLX
bit for bit), and differentiates it straight through the quantization as MLX does.
"""

from __future__ import annotations

import numpy as np
import pytest

import umx as mx
from tests.helpers import check

RNG = np.random.default_rng(11)


def randn(*shape) -> np.ndarray:
    return RNG.standard_normal(shape).astype(np.float32)


def round_trip(a, mode, g=None):
    q = mx.quantize(a, mode=mode, global_scale=g)
    return mx.dequantize(*q, mode=mode, global_scale=g, dtype=mx.float32)


@pytest.mark.parametrize("mode", ["nvfp4", "mxfp8", "mxfp4"])
def test_qqmm_is_the_product_of_quantized_operands(mode):
    x, w = mx.array(randn(4, 64)), mx.array(randn(32, 64))
    y = mx.qqmm(x, w, mode=mode)
    ref = np.array(round_trip(x, mode)) @ np.array(round_trip(w, mode)).T
    check(y, ref, dtype=mx.float32, atol=1e-5, rtol=1e-5)
    wq, s = mx.quantize(w, mode=mode)
    check(mx.qqmm(x, wq, s, mode=mode), ref, atol=1e-5, rtol=1e-5)
    assert mx.qqmm(x.astype(mx.bfloat16), w, mode=mode).dtype == mx.bfloat16
    assert mx.qqmm(x.astype(mx.float16), w.astype(mx.bfloat16), mode=mode).dtype == mx.float16
    assert mx.qqmm(mx.ones((64,)), w, mode=mode).shape == (32,)
    assert mx.qqmm(mx.ones((2, 3, 64)), w, mode=mode).shape == (2, 3, 32)


def test_qqmm_global_scales_and_errors_as_mlx():
    x, w = mx.array(randn(4, 64)), mx.array(randn(32, 64))
    gx, gw = mx.array(np.float32(5.0)), mx.array(np.float32(3.0))
    y = mx.qqmm(x, w, global_scale_x=gx, global_scale_w=gw)
    ref = np.array(round_trip(x, "nvfp4", gx)) @ np.array(round_trip(w, "nvfp4", gw)).T
    check(y, ref, atol=1e-5, rtol=1e-5)
    g11 = mx.ones((1, 1))
    assert mx.qqmm(x, w, global_scale_x=g11, global_scale_w=g11).shape == (4, 32)
    wq, s = mx.quantize(w, mode="nvfp4")
    wq8, s8 = mx.quantize(w, mode="mxfp8")
    for bad, exc, msg in (
        (lambda: mx.qqmm(x, w, mode="foo"), ValueError, "Invalid quantization mode"),
        (lambda: mx.qqmm(x, mx.ones((32, 48))), ValueError, "Last dimension"),
        (lambda: mx.qqmm(x.astype(mx.int32), w), ValueError, "first argument dtype == int32"),
        (lambda: mx.qqmm(x.astype(mx.float64), w), ValueError, "except float64"),
        (lambda: mx.qqmm(x, w.astype(mx.uint8)), ValueError, "second argument dtype == uint8"),
        (lambda: mx.qqmm(x, w.astype(mx.complex64)), ValueError, "second argument"),
        (lambda: mx.qqmm(x, mx.ones((2, 32, 64))), ValueError, "Only 2D inputs"),
        (lambda: mx.qqmm(x, wq), ValueError, "Scales must be provided"),
        (lambda: mx.qqmm(x, wq, s[:, :2]), ValueError, "incompatible"),
        (lambda: mx.qqmm(x, wq, s, mode="mxfp8"), ValueError, "incompatible"),
        (lambda: mx.qqmm(x, wq8, s8), ValueError, "incompatible"),
        (
            lambda: mx.qqmm(x, w, mode="mxfp8", global_scale_x=gx, global_scale_w=gw),
            ValueError,
            "only supported for 'nvfp4'",
        ),  # fmt: skip
        (
            lambda: mx.qqmm(x, w, global_scale_x=gx.astype(mx.float16), global_scale_w=gw),
            ValueError,
            "float32",
        ),  # fmt: skip
        (lambda: mx.qqmm(x, w, global_scale_w=gw), ValueError, "either both"),
        (
            lambda: mx.qqmm(x, w, global_scale_x=mx.ones((2,)), global_scale_w=gw),
            ValueError,
            "must be a scalar",
        ),  # fmt: skip
        (lambda: mx.qqmm(mx.array(1.0), w), IndexError, ""),
        (lambda: mx.qqmm(x, mx.ones((64,))), IndexError, ""),
        (lambda: mx.qqmm([[1.0] * 64], w), TypeError, ""),
        # umx refuses at call time what MLX's CPU fails on later: K not a multiple of the
        # group size, a group size / bits the mode does not have, affine mode.
        (lambda: mx.qqmm(mx.ones((4, 40)), mx.ones((32, 40))), ValueError, "divisible"),
        (lambda: mx.qqmm(x, w, group_size=32), ValueError, "group size"),
        (lambda: mx.qqmm(x, w, mode="affine"), ValueError, "Supported modes"),
    ):
        with pytest.raises(exc, match=msg or None):
            bad()


def test_qqmm_gradients_pass_straight_through():
    """MLX's vjp graph: dx = qqmm(c, w.T), dw = qqmm(c.T, x.T) (the cotangent quantized on the
    fly), zero for the global scales."""
    x, w, c = mx.array(randn(4, 64)), mx.array(randn(32, 64)), mx.array(randn(4, 32))
    _, (dx, dw) = mx.vjp(lambda a, b: mx.qqmm(a, b), [x, w], [c])
    check(dx, np.array(round_trip(c, "nvfp4")) @ np.array(round_trip(mx.array(np.array(w).T),
          "nvfp4")).T, atol=1e-5, rtol=1e-5)  # fmt: skip
    # The contraction over x's 4 rows is padded with zeros to the group size.
    cp, xp = np.pad(np.array(c).T, ((0, 0), (0, 12))), np.pad(np.array(x).T, ((0, 0), (0, 12)))
    ref = (
        np.array(round_trip(mx.array(cp), "nvfp4")) @ np.array(round_trip(mx.array(xp), "nvfp4")).T
    )
    check(dw, ref, atol=1e-5, rtol=1e-5)
    gx, gw = mx.array(np.float32(5.0)), mx.array(np.float32(3.0))
    f = lambda a, b, g, h: mx.qqmm(a, b, global_scale_x=g, global_scale_w=h)  # noqa: E731
    _, (dx, dw, dgx, dgw) = mx.vjp(f, [x, w, gx, gw], [c])
    assert dx.shape == (4, 64) and dw.shape == (32, 64)
    assert float(dgx) == 0.0 and float(dgw) == 0.0
    amax = mx.max(mx.abs(c))
    check(dx, np.array(mx.qqmm(c, mx.array(np.array(w).T), global_scale_x=amax,
                               global_scale_w=gw)), atol=1e-5)  # fmt: skip
    wq, s = mx.quantize(w, mode="nvfp4")
    with pytest.raises(ValueError, match="quantized w"):
        mx.vjp(lambda a, b: mx.qqmm(a, b, s), [x, wq], [c])
    _, (dx,) = mx.vjp(lambda a: mx.qqmm(a, wq, s), [x], [c])  # MLX fails here; umx: w dequantized
    assert dx.shape == (4, 64)
    _, (t,) = mx.jvp(lambda a, b: mx.qqmm(a, b), [x, w], [x, w])
    check(t, 2 * np.array(mx.qqmm(x, w)), atol=1e-5)
    X = mx.array(randn(3, 4, 64))
    check(mx.vmap(lambda a: mx.qqmm(a, w))(X), np.array(mx.qqmm(X, w)))
    W3 = mx.array(randn(3, 32, 64))
    check(
        mx.vmap(lambda b: mx.qqmm(x, b))(W3),
        np.stack([np.array(mx.qqmm(x, W3[i])) for i in range(3)]),
    )


def test_gather_qqmm():
    X, W = mx.array(randn(3, 4, 64)), mx.array(randn(5, 32, 64))
    li, ri = mx.array([[0], [2]]), mx.array([4, 1, 0])
    pairs = [(int(a), int(b)) for a in (0, 2) for b in (4, 1, 0)]
    y = mx.gather_qqmm(X, W, None, li, ri)
    check(y, np.stack([np.array(mx.qqmm(X[a], W[b])) for a, b in pairs]).reshape(2, 3, 4, 32))
    gx, ge = mx.array(np.float32(2.0)), mx.array(np.arange(1, 6, dtype=np.float32))
    y = mx.gather_qqmm(X, W, None, li, ri, global_scale_x=gx, global_scale_w=ge)
    ref = [np.array(mx.qqmm(X[a], W[b], global_scale_x=gx, global_scale_w=ge[b])) for a, b in pairs]
    check(y, np.stack(ref).reshape(2, 3, 4, 32))
    wq, s = mx.quantize(W, mode="nvfp4")
    check(mx.gather_qqmm(X, wq, s, li, ri), np.array(mx.gather_qqmm(X, W, None, li, ri)))
    # Shapes as MLX: default indices, broadcasting, a 2-D x.
    O = mx.ones
    I = mx.array  # noqa: E741
    for x_, w_, l_, r_, shape in (
        ((4, 64), (3, 32, 64), None, None, (3, 4, 32)),
        ((2, 4, 64), (2, 32, 64), I([0, 1, 1]), I([1, 0, 0]), (3, 4, 32)),
        ((5, 4, 64), (3, 32, 64), None, I([0, 1, 2, 0, 1]), (5, 4, 32)),
        ((5, 4, 64), (3, 32, 64), I([[0], [1], [4]]), I([0, 1, 2]), (3, 3, 4, 32)),
        ((5, 4, 64), (32, 64), I([0, 1, 4]), I([0, 0, 0]), (3, 4, 32)),
        ((2, 3, 4, 64), (3, 32, 64), None, None, (2, 3, 4, 32)),
    ):
        assert mx.gather_qqmm(O(x_), O(w_), None, l_, r_).shape == shape
    for bad, exc in (
        (lambda: mx.gather_qqmm(O((3, 4, 64)), O((2, 32, 64))), ValueError),
        (lambda: mx.gather_qqmm(O((64,)), O((3, 32, 64)), None, I([0]), I([0])), ValueError),
        (lambda: mx.gather_qqmm(X, W, None, I([0.0]), I([0])), ValueError),
        (lambda: mx.gather_qqmm(X, W, None, I([0]), I([True])), ValueError),
        (lambda: mx.gather_qqmm(X, O((3, 32, 32)), None, I([0]), I([0])), ValueError),
        (lambda: mx.gather_qqmm(X, W, None, I([0]), I([0]), mode="foo"), ValueError),
        (lambda: mx.gather_qqmm(X, wq, None, I([0]), I([0])), ValueError),
        (lambda: mx.gather_qqmm(X, wq, s[..., :2], I([0]), I([0])), ValueError),
    ):
        with pytest.raises(exc):
            bad()
    # Gradients (MLX has none here): the sums of the per-pair straight-through gradients.
    C = mx.array(randn(2, 3, 4, 32))
    _, (dX, dW) = mx.vjp(lambda a, b: mx.gather_qqmm(a, b, None, li, ri), [X, W], [C])
    dX_ref, dW_ref = np.zeros((3, 4, 64), np.float32), np.zeros((5, 32, 64), np.float32)
    for k, (a, b) in enumerate(pairs):
        _, (da, db) = mx.vjp(lambda u, v: mx.qqmm(u, v), [X[a], W[b]], [C[k // 3, k % 3]])
        dX_ref[a] += np.array(da)
        dW_ref[b] += np.array(db)
    check(dX, dX_ref, atol=1e-4)
    check(dW, dW_ref, atol=1e-4)
    with pytest.raises(ValueError, match="indices"):
        mx.vjp(lambda l: mx.gather_qqmm(X, W, None, l, ri), [li], [C])
    _, (t,) = mx.jvp(lambda a: mx.gather_qqmm(a, W, None, li, ri), [X], [X])
    check(t, np.array(mx.gather_qqmm(X, W, None, li, ri)), atol=1e-5)
    out = mx.vmap(lambda a: mx.gather_qqmm(a, W, None, li, ri))(mx.stack([X, X]))
    assert out.shape == (2, 2, 3, 4, 32)
