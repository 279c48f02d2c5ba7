"""mx.fft: the transforms against numpy.fft, MLX's dtype rules and errors, gradients (against
values recorded from MLX 0.32.4 and against the exact derivative of a linear map), vmap,
stft/istft, and the GPU kernels against the CPU ones."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import umx as mx
from tests.helpers import ALL_DTYPES, check

F = mx.fft
NORMS = ["backward", "ortho", "forward"]
TOL = dict(rtol=2e-4, atol=2e-4)


def _data(rng, shape, complex_: bool):
    x = rng.standard_normal(shape)
    if complex_:
        x = x + 1j * rng.standard_normal(shape)
    return x.astype(np.complex64 if complex_ else np.float32)


def _sig(n, c=False, k=1.3):
    """The deterministic signals the recorded MLX gradients were computed on."""
    r = np.cos(np.arange(n) * k).astype(np.float32)
    return (r + 0.5j * np.sin(np.arange(n) * 0.7)).astype(np.complex64) if c else r


# -- values against numpy.fft ------------------------------------------------------------------


@given(
    st.lists(st.integers(1, 6), min_size=1, max_size=3),
    st.integers(-3, 2),
    st.one_of(st.none(), st.integers(1, 9)),
    st.sampled_from(NORMS),
    st.booleans(),
    st.integers(0, 2**31),
)
def test_one_axis_transforms_match_numpy(shape, axis, n, norm, cplx, seed):
    rng = np.random.default_rng(seed)
    axis = axis % len(shape) - len(shape) if axis < 0 else axis % len(shape)
    x = _data(rng, shape, cplx)
    a = mx.array(x)
    check(F.fft(a, n, axis, norm), np.fft.fft(x, n, axis, norm), dtype=mx.complex64, **TOL)
    check(F.ifft(a, n, axis, norm), np.fft.ifft(x, n, axis, norm), dtype=mx.complex64, **TOL)
    # rfft reads a complex input as its real part, as MLX does.
    check(F.rfft(a, n, axis, norm), np.fft.rfft(x.real, n, axis, norm), dtype=mx.complex64, **TOL)
    m = 2 * (shape[axis] - 1) if n is None else n
    if m > 0:
        check(F.irfft(a, n, axis, norm), np.fft.irfft(x, n, axis, norm), dtype=mx.float32, **TOL)


@given(
    st.lists(st.integers(1, 5), min_size=1, max_size=4),
    st.data(),
    st.sampled_from(NORMS),
    st.booleans(),
    st.integers(0, 2**31),
)
def test_n_axis_transforms_match_numpy(shape, data, norm, with_s, seed):
    rng = np.random.default_rng(seed)
    nd = len(shape)
    axes = data.draw(
        st.lists(st.integers(-nd, nd - 1), min_size=1, max_size=nd, unique_by=lambda a: a % nd)
    )
    s = [data.draw(st.integers(1, 7)) for _ in axes] if with_s else None
    x = _data(rng, shape, True)
    a = mx.array(x)
    kw = dict(s=s, axes=axes, norm=norm)
    check(F.fftn(a, **kw), np.fft.fftn(x, **kw), dtype=mx.complex64, **TOL)
    check(F.ifftn(a, **kw), np.fft.ifftn(x, **kw), dtype=mx.complex64, **TOL)
    check(F.rfftn(a, **kw), np.fft.rfftn(x.real, **kw), dtype=mx.complex64, **TOL)
    last = s[-1] if s else 2 * (shape[axes[-1]] - 1)
    if last > 0:
        check(F.irfftn(a, **kw), np.fft.irfftn(x, **kw), dtype=mx.float32, **TOL)


def test_two_axis_and_default_axes(rng):
    x = _data(rng, (2, 3, 4), True)
    a = mx.array(x)
    check(F.fft2(a), np.fft.fft2(x), **TOL)
    check(F.ifft2(a, s=(5, 2)), np.fft.ifft2(x, s=(5, 2)), **TOL)
    check(F.rfft2(a, axes=(0, 2)), np.fft.rfft2(x.real, axes=(0, 2)), **TOL)
    check(F.irfft2(a, s=(3, 5), axes=(2, 0)), np.fft.irfft2(x, s=(3, 5), axes=(2, 0)), **TOL)
    # fftn's default is every axis; fft2 with axes=None too; irfftn's last length 2 (m - 1).
    check(F.fftn(a), np.fft.fftn(x), **TOL)
    check(F.fft2(a, axes=None), np.fft.fftn(x), **TOL)
    assert F.irfftn(a).shape == (2, 3, 6)
    assert F.rfftn(mx.array(x.real)).shape == (2, 3, 3)
    # The positional order is (a, n, axis, norm, stream).
    check(F.fft(a, 3, 1, "ortho", mx.cpu), np.fft.fft(x, 3, 1, "ortho"), **TOL)


def test_zero_sized_batches_and_padding_from_empty():
    assert F.fft(mx.zeros((0, 3))).shape == (0, 3)
    assert F.rfft(mx.zeros((0, 3))).shape == (0, 2)
    check(F.fft(mx.zeros((3, 0)), n=4), np.zeros((3, 4), np.complex64))
    check(F.irfft(mx.zeros((3, 0)), n=4), np.zeros((3, 4), np.float32))
    check(F.fftn(mx.zeros((0, 3)), s=(2, 3), axes=(0, 1)), np.zeros((2, 3), np.complex64))


# -- MLX's dtype rules (recorded from MLX 0.32.4) ---------------------------------------------


@pytest.mark.parametrize("d", ALL_DTYPES, ids=lambda d: d.name)
def test_output_dtypes(d):
    a = mx.arange(8).astype(d)
    for fn in (F.fft, F.ifft, F.rfft, F.fftn, F.ifftn, F.rfftn):
        assert fn(a).dtype == mx.complex64, (fn.__name__, d)
    for fn in (F.irfft, F.irfftn):
        out = fn(a)
        assert out.dtype == mx.float32 and out.shape == (14,), (fn.__name__, d)
    b = mx.arange(6).reshape(2, 3).astype(d)
    for fn in (F.fft2, F.ifft2, F.rfft2):
        assert fn(b).dtype == mx.complex64
    assert F.irfft2(b).dtype == mx.float32
    for fn in (F.fftshift, F.ifftshift):
        assert fn(a).dtype == d
    # No axes: MLX hands the input back, dtype and all.
    for fn in (F.fftn, F.ifftn, F.rfftn, F.irfftn):
        out = fn(b, axes=())
        assert out.dtype == d and out.shape == (2, 3)


def test_float64_input_computes_in_single_precision():
    x = np.linspace(0, 1, 7)
    out = F.fft(mx.array(x, dtype=mx.float64))
    assert out.dtype == mx.complex64
    check(out, np.fft.fft(x), rtol=1e-5, atol=1e-5)


# -- errors -------------------------------------------------------------------------------------

_Y = mx.ones((2, 3, 4))
ERRORS = [
    (lambda: F.fft(_Y, n=0), ValueError),
    (lambda: F.rfft(_Y, n=-1), ValueError),
    (lambda: F.irfft(mx.array([1 + 0j])), ValueError),  # default n = 2 (1 - 1) = 0
    (lambda: F.irfft2(mx.ones((3, 1))), ValueError),
    (lambda: F.fft(_Y, norm="bad"), ValueError),
    (lambda: F.rfftn(_Y, norm="bad"), ValueError),
    (lambda: F.fft(_Y, axis=3), IndexError),
    (lambda: F.fft(_Y, axis=-4), IndexError),
    (lambda: F.fft(mx.array(1.0)), IndexError),
    (lambda: F.fft2(mx.ones((4,))), IndexError),
    (lambda: F.fftn(mx.array(1.0)), ValueError),
    (lambda: F.rfftn(mx.array(1.0), axes=()), ValueError),
    (lambda: F.fftn(_Y, axes=(0, 0)), ValueError),
    (lambda: F.fft2(_Y, axes=(-1, 2)), ValueError),
    (lambda: F.fftn(_Y, s=(2,)), ValueError),  # s without axes
    (lambda: F.fftn(_Y, s=(2,), axes=(0, 1)), ValueError),
    (lambda: F.fft2(_Y, s=(5,)), ValueError),
    (lambda: F.fftn(_Y, s=(2, 0), axes=(0, 1)), ValueError),
    (lambda: F.fftn(_Y, s=(1,), axes=(7,)), IndexError),
    (lambda: F.fftn(mx.zeros((0, 3))), ValueError),
    (lambda: F.fft(_Y, n=2.0), TypeError),
    (lambda: F.fft(_Y, axis=[0]), TypeError),
    (lambda: F.fftn(_Y, axes=1), TypeError),
    (lambda: F.fftshift(_Y, axes=(5,)), IndexError),
    (lambda: F.fftfreq(0), ValueError),
    (lambda: F.rfftfreq(-3), ValueError),
    (lambda: F.fftfreq(4, d=0), ValueError),
    (lambda: F.fftfreq(4.0), TypeError),
]


@pytest.mark.parametrize("i", range(len(ERRORS)))
def test_errors_at_call_time(i):
    f, exc = ERRORS[i]
    with pytest.raises(exc):
        f()


def test_bool_n_and_axis_count_as_integers():
    assert F.fft(_Y, n=True).shape == (2, 3, 1)
    assert F.fftn(_Y, s=(True,), axes=(0,)).shape == (1, 3, 4)


# -- frequencies and shifts ---------------------------------------------------------------------


@pytest.mark.parametrize("n", [1, 2, 5, 6, 101])
@pytest.mark.parametrize("d", [1.0, 0.1, 3.7, -2.5, 2])
def test_fftfreq_bit_for_bit(n, d):
    # MLX: float32 bin numbers times float32(1 / (n d)); checked bit for bit on MLX 0.32.4.
    scale = np.float32(1.0 / (n * d))
    k = np.concatenate([np.arange(0, (n - 1) // 2 + 1), np.arange(-(n // 2), 0)])
    out = F.fftfreq(n, d)
    assert out.dtype == mx.float32
    np.testing.assert_array_equal(np.array(out), k.astype(np.float32) * scale)
    np.testing.assert_allclose(np.array(out), np.fft.fftfreq(n, d), rtol=1e-6)
    r = F.rfftfreq(n, d, stream=mx.cpu)
    np.testing.assert_array_equal(np.array(r), np.arange(n // 2 + 1, dtype=np.float32) * scale)
    np.testing.assert_allclose(np.array(r), np.fft.rfftfreq(n, d), rtol=1e-6)


@pytest.mark.parametrize("shape", [(5,), (6,), (2, 5), (3, 4, 5)])
@pytest.mark.parametrize("axes", [None, 0, -1, (0,), (0, 0), (-1, 0), ()])
def test_shifts_match_numpy(shape, axes):
    x = np.arange(int(np.prod(shape)), dtype=np.int32).reshape(shape)
    a = mx.array(x)
    check(F.fftshift(a, axes), np.fft.fftshift(x, axes), dtype=mx.int32)
    check(F.ifftshift(a, axes), np.fft.ifftshift(x, axes))
    check(F.ifftshift(F.fftshift(a, axes), axes), x)


def test_shift_of_a_scalar_and_repeated_axes():
    check(F.fftshift(mx.array(1.5)), np.float32(1.5))
    # A repeated axis shifts twice (recorded from MLX: [1, 2, 3, 4, 0] and [4, 0, 1, 2, 3]).
    check(F.fftshift(mx.arange(5), axes=(0, 0)), [1, 2, 3, 4, 0])
    check(F.ifftshift(mx.arange(5), axes=(0, 0)), [4, 0, 1, 2, 3])


# -- gradients ----------------------------------------------------------------------------------

# mx.vjp of MLX 0.32.4 on _sig inputs and cotangents (tests/test_fft.py's names).
VJP = {
    "fft_n4_c": [2.9801+1.2464j, 0.41279+0.06598j, 0.41329-0.26099j, 0.1938-1.0514j, 0, 0],
    "fft_n8_ortho_r": [0.30235, -0.31133, 0.28466, 0.32892, 0.35534, 0.38252],
    "ifft_forward_c": [2.9509+1.4139j, 0.60177-1.6968j, 0.63849-0.35103j, 0.57299+0.1301j,
                       0.23583+0.50377j],
    "rfft_n5_r": [2.6178, 0.12502, 0.74942, 0.19086, 1.3169, 0],
    "rfft_n8_forward_r": [0.36887, 0.04982, 0.04795, 0.07424, 0.04801, 0.0843],
    "irfft_c": [-0.10399, 0.4284-0.86751j, 0.21352-0.25696j, 0.18932-0.12785j, 0.1824-0.05618j,
                0.09035],
    "irfft_n4_c": [0.74503, 0.15165-0.27935j, 0.10332, 0, 0, 0],
    "irfft_n11_ortho_c": [-0.51062, 1.7942-2.6703j, 0.61514-0.7091j, 0.49925-0.36691j,
                          0.46507-0.18903j, 0.45359-0.05905j],
    "rfft2_s35_r": [-0.14313, 1.0119, 1.0061, 5.086, -0.62598, 0.20257],
    "irfft2_c": [0.1069, 0.25287-0.27119j, 0.12563, 0.63814, -0.10123-0.00816j, -0.02231],
}  # fmt: skip

VJP_CASES = {
    "fft_n4_c": (lambda a: F.fft(a, n=4), _sig(6, True), _sig(4, True, 0.4)),
    "fft_n8_ortho_r": (lambda a: F.fft(a, n=8, norm="ortho"), _sig(6), _sig(8, True, 0.4)),
    "ifft_forward_c": (lambda a: F.ifft(a, norm="forward"), _sig(5, True), _sig(5, True, 0.4)),
    "rfft_n5_r": (lambda a: F.rfft(a, n=5), _sig(6), _sig(3, True, 0.4)),
    "rfft_n8_forward_r": (lambda a: F.rfft(a, n=8, norm="forward"), _sig(6), _sig(5, True, 0.4)),
    "irfft_c": (F.irfft, _sig(6, True), _sig(10, False, 0.4)),
    "irfft_n4_c": (lambda a: F.irfft(a, n=4), _sig(6, True), _sig(4, False, 0.4)),
    "irfft_n11_ortho_c": (
        lambda a: F.irfft(a, n=11, norm="ortho"), _sig(6, True), _sig(11, False, 0.4)
    ),
    "rfft2_s35_r": (
        lambda a: F.rfftn(a.reshape(2, 3), s=(3, 5), axes=(1, 0)).reshape(-1),
        _sig(6), _sig(9, True, 0.4),
    ),
    "irfft2_c": (lambda a: F.irfft2(a.reshape(2, 3)).reshape(-1), _sig(6, True), _sig(8, False, 0.4)),
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(VJP))
def test_vjp_matches_recorded_mlx(name):
    f, x, c = VJP_CASES[name]
    _, (g,) = mx.vjp(f, [mx.array(x)], [mx.array(c)])
    assert g.dtype == (mx.complex64 if x.dtype == np.complex64 else mx.float32)
    check(g, np.array(VJP[name], x.dtype), rtol=1e-3, atol=1e-3)


def _loss_weights(rng, f, x):
    """A real linear loss sum(Re(y) u + Im(y) v) of y = f(x), and its cotangent u + i v."""
    y = f(mx.array(x))
    u = rng.standard_normal(y.shape).astype(np.float32)
    if y.dtype == mx.complex64:
        v = rng.standard_normal(y.shape).astype(np.float32)
        return (lambda z: float(np.sum(np.real(z) * u + np.imag(z) * v))), u + 1j * v
    return (lambda z: float(np.sum(z * u))), u


def _exact_gradient(f, x, loss):
    """The loss's gradient at a linear f: its value on each basis vector (MLX's convention
    for a complex input: d/dRe + i d/dIm)."""
    g = np.zeros(x.shape, x.dtype)
    for j in np.ndindex(x.shape):
        e = np.zeros(x.shape, x.dtype)
        e[j] = 1
        g[j] = loss(np.array(f(mx.array(e))))
        if x.dtype == np.complex64:
            e[j] = 1j
            g[j] += 1j * loss(np.array(f(mx.array(e))))
    return g


_FD = [
    ("fft", lambda a: F.fft(a), True),
    ("fft_n3", lambda a: F.fft(a, n=3, norm="ortho"), True),
    ("ifft_n9_r", lambda a: F.ifft(a, n=9), False),
    ("rfft", lambda a: F.rfft(a), False),
    ("rfft_n7", lambda a: F.rfft(a, n=7), False),
    ("rfft_n4_forward", lambda a: F.rfft(a, n=4, norm="forward"), False),
    ("irfft", lambda a: F.irfft(a), True),
    ("irfft_n7", lambda a: F.irfft(a, n=7), True),
    ("irfft_n16_ortho", lambda a: F.irfft(a, n=16, norm="ortho"), True),
    ("rfftn_axes10", lambda a: F.rfftn(a.reshape(2, 3), s=(4, 3), axes=(1, 0)), False),
    ("irfftn_s", lambda a: F.irfftn(a.reshape(3, 2), s=(2, 5), axes=(0, 1)), True),
    ("fft2_s", lambda a: F.fft2(a.reshape(2, 3), s=(3, 2)), True),
]


@pytest.mark.parametrize("name,f,cplx", _FD, ids=[c[0] for c in _FD])
def test_vjp_is_the_exact_gradient(rng, name, f, cplx):
    x = _data(rng, (6,), cplx)
    loss, c = _loss_weights(rng, f, x)
    _, (g,) = mx.vjp(
        f, [mx.array(x)], [mx.array(c.astype(np.complex64 if c.dtype.kind == "c" else np.float32))]
    )
    np.testing.assert_allclose(np.array(g), _exact_gradient(f, x, loss), rtol=1e-4, atol=1e-4)


def test_grad_of_a_real_loss_and_dtype_round_trip(rng):
    x = rng.standard_normal(8)
    g = mx.grad(lambda a: mx.sum(mx.abs(F.rfft(a, n=6)) ** 2))(mx.array(x, dtype=mx.float64))
    assert g.dtype == mx.float64  # the cast to float32 sends its gradient back as float64
    # d/dx sum |rfft(x[:6])|^2 by the exact formula: 2 Re(A^H A x) over the half spectrum.
    y = np.fft.rfft(x[:6])
    full = np.zeros(6, complex)
    full[: y.size] = y
    np.testing.assert_allclose(
        np.array(g)[:6], 2 * (6 * np.fft.ifft(full)).real, rtol=1e-4, atol=1e-4
    )
    assert np.all(np.array(g)[6:] == 0)


@pytest.mark.parametrize("name,f,cplx", _FD, ids=[c[0] for c in _FD])
def test_jvp_is_the_transform_of_the_tangent(rng, name, f, cplx):
    x = _data(rng, (6,), cplx)
    t = _data(rng, (6,), cplx)
    (out,), (jt,) = mx.jvp(f, [mx.array(x)], [mx.array(t)])
    check(jt, np.array(f(mx.array(t))), **TOL)
    assert jt.shape == out.shape  # MLX 0.32.4 gets irfft's odd n wrong here; umx does not


# -- vmap --------------------------------------------------------------------------------------


@pytest.mark.parametrize("in_axis", [0, 1, 2])
@pytest.mark.parametrize(
    "f",
    [
        lambda a: F.fft(a, n=5),
        lambda a: F.rfft(a, axis=0),
        lambda a: F.irfft(a, n=6),
        lambda a: F.fftn(a, s=(3, 2), axes=(1, 0)),
        lambda a: F.irfftn(a),
        lambda a: F.fftshift(a, axes=0),
    ],
    ids=["fft", "rfft", "irfft", "fftn", "irfftn", "fftshift"],
)
def test_vmap_matches_a_loop(rng, f, in_axis):
    x = mx.array(_data(rng, (3, 4, 5), True))
    out = mx.vmap(f, in_axes=in_axis)(x)
    loop = [np.array(f(mx.take(x, i, axis=in_axis))) for i in range(x.shape[in_axis])]
    check(out, np.stack(loop), **TOL)


def test_vmap_of_a_gradient(rng):
    x = mx.array(_data(rng, (3, 6), False))
    g = mx.vmap(mx.grad(lambda a: mx.sum(mx.abs(F.rfft(a)) ** 2)))(x)
    loop = [np.array(mx.grad(lambda a: mx.sum(mx.abs(F.rfft(a)) ** 2))(x[i])) for i in range(3)]
    check(g, np.stack(loop), **TOL)


# -- stft / istft -------------------------------------------------------------------------------


def _stft_np(
    x, n_fft, hop=None, window=None, center=True, pad_mode="reflect", norm="backward", onesided=None
):
    hop = hop or n_fft // 4
    window = np.ones(n_fft, np.float32) if window is None else window
    w = np.zeros(n_fft, window.dtype)
    lo = (n_fft - len(window)) // 2
    w[lo : lo + len(window)] = window
    if center:
        p = n_fft // 2
        x = np.pad(x, [(0, 0)] * (x.ndim - 1) + [(p, p)], mode=pad_mode)
    nfr = 1 + (x.shape[-1] - n_fft) // hop
    fr = np.stack([x[..., i * hop : i * hop + n_fft] for i in range(nfr)], -2) * w
    onesided = not np.iscomplexobj(x) if onesided is None else onesided
    out = (
        np.fft.rfft(fr.real, axis=-1, norm=norm) if onesided else np.fft.fft(fr, axis=-1, norm=norm)
    )
    return np.swapaxes(out, -1, -2)


def _istft_np(
    S, n_fft, hop=None, window=None, center=True, norm="backward", onesided=True, length=None
):
    hop = hop or n_fft // 4
    window = np.ones(n_fft, np.float32) if window is None else window
    w = np.zeros(n_fft, window.dtype)
    lo = (n_fft - len(window)) // 2
    w[lo : lo + len(window)] = window
    fr = np.swapaxes(S, -1, -2)
    fr = np.fft.irfft(fr, n_fft, -1, norm) if onesided else np.fft.ifft(fr, n_fft, -1, norm).real
    fr = fr * w
    nfr = S.shape[-1]
    total = n_fft + hop * (nfr - 1)
    y = np.zeros(S.shape[:-2] + (total,))
    env = np.zeros(total)
    for i in range(nfr):
        y[..., i * hop : i * hop + n_fft] += fr[..., i, :]
        env[i * hop : i * hop + n_fft] += w**2
    y = y / np.maximum(env, 1e-8)  # MLX divides by max(envelope, 1e-8)
    start = n_fft // 2 if center else 0
    y = y[..., start : total - start] if length is None else y[..., start : start + length]
    if length is not None and y.shape[-1] < length:
        y = np.concatenate([y, np.zeros(y.shape[:-1] + (length - y.shape[-1],))], -1)
    return y


STFT_KW = [
    dict(n_fft=8),
    dict(n_fft=8, center=False),
    dict(n_fft=8, hop=3),
    dict(n_fft=7),
    dict(n_fft=8, pad_mode="edge", norm="ortho"),
    dict(n_fft=8, pad_mode="constant", norm="forward"),
    dict(n_fft=8, onesided=False),
    dict(n_fft=8, window=np.hanning(8).astype(np.float32)),
    dict(n_fft=8, window=np.hanning(5).astype(np.float32) + 0.1),
    dict(n_fft=32, hop=4),  # reflect padding wider than the signal (periodic, as NumPy)
]


def _mx_kw(kw):
    kw = dict(kw)
    if "hop" in kw:
        kw["hop_length"] = kw.pop("hop")
    if "window" in kw:
        kw["window"] = mx.array(kw["window"])
    return kw


@pytest.mark.parametrize("kw", STFT_KW, ids=[str(k.get("n_fft")) + str(sorted(k)) for k in STFT_KW])
def test_stft_matches_a_numpy_reference(rng, kw):
    for x in (_data(rng, (20,), False), _data(rng, (2, 3, 20), False), _data(rng, (20,), True)):
        out = F.stft(mx.array(x), **_mx_kw(kw))
        check(out, _stft_np(x, **kw), dtype=mx.complex64, **TOL)


def test_stft_shapes_defaults_and_dtypes():
    assert F.stft(mx.arange(16).astype(mx.float32)).shape == (1025, 1)  # n_fft 2048
    assert F.stft(mx.ones((3, 16)), n_fft=8).shape == (3, 5, 9)
    assert F.stft(mx.ones((0, 16)), n_fft=8).shape == (0, 5, 9)
    for d in (mx.int32, mx.bool_, mx.float64, mx.float16):
        assert F.stft(mx.ones(20, dtype=d), n_fft=8).shape == (5, 11)
        assert F.stft(mx.ones(20), n_fft=8, window=mx.ones(8, dtype=d)).dtype == mx.complex64
    # win_length counts only without a window; 0 makes a zero window.
    check(F.stft(mx.ones(20), n_fft=8, win_length=0), np.zeros((5, 11), np.complex64))
    assert F.stft(mx.ones(20), n_fft=8, win_length=9, window=mx.ones(5)).shape == (5, 11)
    # A bad pad_mode matters only when padding.
    assert F.stft(mx.ones(20), n_fft=8, center=False, pad_mode="zz").shape == (5, 7)


ISTFT_KW = [
    dict(n_fft=8),
    dict(n_fft=8, center=False),
    dict(n_fft=8, length=40),
    dict(n_fft=8, length=10, center=False),
    dict(n_fft=9),
    dict(n_fft=7, hop=3),
    dict(n_fft=8, hop=10, center=False),
    dict(n_fft=8, norm="ortho"),
    dict(n_fft=8, onesided=False),
    dict(n_fft=8, window=np.hanning(8).astype(np.float32), center=False),
    dict(n_fft=8, window=np.hanning(5).astype(np.float32) + 0.2),
]


@pytest.mark.parametrize("kw", ISTFT_KW, ids=[str(sorted(k.items()))[:60] for k in ISTFT_KW])
def test_istft_matches_a_numpy_reference(rng, kw):
    S = _data(rng, (2, 5, 9), True)
    out = F.istft(mx.array(S), **_mx_kw(kw))
    check(out, _istft_np(S, **kw), dtype=mx.float32, **TOL)


def test_istft_inverts_stft_and_infers_sizes(rng):
    x = _data(rng, (2, 32), False)
    w = mx.array(np.hanning(8).astype(np.float32))
    for kw in (dict(n_fft=8), dict(n_fft=8, window=w), dict(n_fft=7, hop_length=2)):
        S = F.stft(mx.array(x), **kw)
        check(F.istft(S, length=32, **kw), x, rtol=1e-5, atol=1e-5)
    S = F.stft(mx.array(x), n_fft=8)
    assert F.istft(S).shape == (2, 32)  # n_fft 2 (5 - 1), hop 2, 17 frames
    assert F.istft(F.stft(mx.array(x), n_fft=8, onesided=False), onesided=False).shape == (2, 32)
    assert F.istft(S, n_fft=9).shape == (2, 33)
    assert F.istft(S[..., :1], n_fft=8).shape == (2, 0)
    assert F.istft(S, length=0).shape == (2, 0) and F.istft(S, length=-1).shape == (2, 0)
    assert F.istft(mx.zeros((0, 5, 9)), n_fft=8).shape == (0, 16)


def test_istft_dtypes_follow_the_window():
    S = mx.ones((5, 9), dtype=mx.complex64)
    assert F.istft(S, n_fft=8).dtype == mx.float32
    assert F.istft(mx.ones((5, 9), dtype=mx.int32), n_fft=8).dtype == mx.float32
    assert F.istft(S, n_fft=8, window=mx.ones(8, dtype=mx.float64)).dtype == mx.float64
    assert F.istft(S, n_fft=8, window=mx.ones(8, dtype=mx.float16)).dtype == mx.float32
    # A bool window's envelope counts overlaps (as MLX), the same as ones.
    check(F.istft(S, n_fft=8, window=mx.ones(8, dtype=mx.bool_)), np.array(F.istft(S, n_fft=8)))


STFT_ERRORS = [
    (lambda: F.stft(mx.array(1.0), n_fft=8), ValueError),
    (lambda: F.stft(mx.ones(5), n_fft=8, center=False), ValueError),
    (lambda: F.stft(mx.ones(20), n_fft=0), ValueError),
    (lambda: F.stft(mx.ones(20), n_fft=2), ValueError),  # hop 2 // 4 = 0
    (lambda: F.stft(mx.ones(20), n_fft=8, hop_length=-1), ValueError),
    (lambda: F.stft(mx.ones(20), n_fft=8, win_length=9), ValueError),
    (lambda: F.stft(mx.ones(20), n_fft=8, window=mx.ones(12)), ValueError),
    (lambda: F.stft(mx.ones(20), n_fft=8, window=mx.ones((2, 4))), ValueError),
    (lambda: F.stft(mx.ones(20), n_fft=8, pad_mode="zeros"), ValueError),
    (lambda: F.stft(mx.ones(20), n_fft=8, norm="x"), ValueError),
    (lambda: F.istft(mx.ones(5), n_fft=8), ValueError),
    (lambda: F.istft(mx.ones((1, 4))), ValueError),  # n_fft 0
    (lambda: F.istft(mx.ones((2, 4))), ValueError),  # hop 0
    (lambda: F.istft(mx.ones((5, 9)), n_fft=8, win_length=9), ValueError),
    (lambda: F.istft(mx.ones((5, 9)), n_fft=8, window=mx.array(1.0)), ValueError),
    (lambda: F.istft(mx.ones((5, 9)), n_fft=8, norm="x"), ValueError),
]


@pytest.mark.parametrize("i", range(len(STFT_ERRORS)))
def test_stft_errors(i):
    f, exc = STFT_ERRORS[i]
    with pytest.raises(exc):
        f()


def test_stft_and_istft_gradients_match_recorded_mlx():
    w = mx.array(np.hanning(8).astype(np.float32) + 0.1)
    g = mx.grad(lambda x: mx.sum(mx.abs(F.stft(x, n_fft=8, hop_length=3, window=w)) ** 2))(
        mx.array(_sig(16))
    )
    exp = [9.8414, 4.7871, -11.735, -7.72, 3.692, 9.6435, 0.7453, -7.2949, -5.3914, 6.2646,
           6.9849, -1.7799, -9.2863, -2.5765, 14.236, 8.0017]  # fmt: skip
    check(g, np.array(exp, np.float32), rtol=1e-3, atol=2e-3)
    S = mx.array(np.stack([_sig(4, True, 0.3 * i + 0.2) for i in range(5)]))
    g = mx.grad(lambda s: mx.sum(F.istft(s, n_fft=8, hop_length=3) * mx.arange(9)))(S)
    exp = [0.27083, 0.97917, 1.8542, 1.3958, 0.08839+0.43183j, -0.36785+0.88092j,
           -1.0699+0.64731j, 0.06311-1.9357j, -0.16667+0.125j, -0.29167+0.16667j,
           -0.83333-0.70833j, -0.45833+0.5j, -0.08839+0.0985j, -0.13215+0.29759j,
           0.40324-0.35269j, 0.77022-0.18566j, -0.10417, -0.1875, 0.3125, -0.10417]  # fmt: skip
    check(g, np.array(exp, np.complex64).reshape(5, 4), rtol=1e-3, atol=1e-3)


def test_vmap_of_stft_matches_a_loop(rng):
    x = mx.array(_data(rng, (20, 3), False))
    out = mx.vmap(lambda s: F.stft(s, n_fft=8), in_axes=1)(x)
    check(out, np.stack([np.array(F.stft(x[:, i], n_fft=8)) for i in range(3)]), **TOL)
    S = mx.array(_data(rng, (5, 9, 2), True))
    out = mx.vmap(lambda s: F.istft(s, n_fft=8), in_axes=2)(S)
    check(out, np.stack([np.array(F.istft(S[..., i], n_fft=8)) for i in range(2)]), **TOL)


# -- GPU ---------------------------------------------------------------------------------------


def _no_fallback():
    from umx.backends import _cuda_exec

    assert not {"fft", "scatter", "take", "pad"} & set(_cuda_exec.FALLBACKS), _cuda_exec.FALLBACKS


@pytest.mark.gpu
def test_gpu_transforms_match_cpu(rng):
    x = mx.array(_data(rng, (3, 4, 10), True))
    r = mx.array(_data(rng, (3, 4, 10), False))
    cases = [
        lambda a, s: F.fft(a, n=12, stream=s),
        lambda a, s: F.ifft(a, axis=1, norm="ortho", stream=s),
        lambda a, s: F.rfft(a, n=7, stream=s),
        lambda a, s: F.irfft(a, n=9, stream=s),
        lambda a, s: F.fftn(a, s=(5, 3), axes=(2, 0), stream=s),
        lambda a, s: F.rfftn(a, stream=s),
        lambda a, s: F.irfft2(a, s=(4, 6), norm="forward", stream=s),
        lambda a, s: F.fftshift(a, axes=(0, 2), stream=s),
        lambda a, s: F.fftfreq(7, 0.3, stream=s),
        lambda a, s: F.stft(a[0, 0], n_fft=4, hop_length=1, stream=s),
    ]
    for f in cases:
        for a in (x, r):
            g, c = f(a, mx.gpu), f(a, mx.cpu)
            assert g.dtype == c.dtype and g.shape == c.shape
            np.testing.assert_allclose(np.array(g), np.array(c), rtol=1e-4, atol=1e-4)
    S = F.stft(r, n_fft=8, stream=mx.cpu)
    g, c = F.istft(S, n_fft=8, stream=mx.gpu), F.istft(S, n_fft=8, stream=mx.cpu)
    np.testing.assert_allclose(np.array(g), np.array(c), rtol=1e-4, atol=1e-4)
    _no_fallback()


@pytest.mark.gpu
def test_gpu_kernel_runs_on_cupy_and_gradients(rng):
    cp = pytest.importorskip("cupy")
    x = _data(rng, (2, 6), True)
    for out in (F.fft(mx.array(x), n=4), F.rfftn(mx.array(x.real)), F.irfft(mx.array(x), n=7)):
        got = out._prim.eval(cp, cp.asarray(np.array(out._inputs[0])))
        assert isinstance(got, cp.ndarray) and got.dtype == out.dtype.np
        np.testing.assert_allclose(cp.asnumpy(got), np.array(out), rtol=1e-4, atol=1e-4)
    loss = lambda a, s: mx.sum(mx.abs(F.rfft(a, n=5, stream=s)) ** 2)  # noqa: E731
    a = mx.array(x.real)
    with mx.stream(mx.gpu):
        gg = mx.grad(lambda a: loss(a, mx.gpu))(a)
    gc = mx.grad(lambda a: loss(a, mx.cpu))(a)
    np.testing.assert_allclose(np.array(gg), np.array(gc), rtol=1e-4, atol=1e-4)
    _no_fallback()


# -- the API surface ----------------------------------------------------------------------------

_REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "reference" / "mlx_core_api.txt"


@pytest.mark.skipif(
    not _REFERENCE.exists(), reason="the mlx.core reference is not beside the checkout"
)
def test_signatures_match_the_reference():
    import inspect
    import re

    text = _REFERENCE.read_text().split("######## mlx.core.fft")[1].split("########")[0]
    sigs = re.findall(r"^=== mlx\.core\.fft\.(\w+)\n\w+\((.*)\) ->", text, flags=re.M)
    assert len(sigs) == 18
    for name, params in sigs:
        expected = [p.split(":")[0].strip() for p in re.split(r",\s*(?=\w+:)", params)]
        got = list(inspect.signature(getattr(F, name)).parameters)
        assert got == expected, name
        assert name in F.__all__
