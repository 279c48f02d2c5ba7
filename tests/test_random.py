"""mx.random against MLX 0.32.4: same keys and shapes give MLX's bits and floats."""

from __future__ import annotations

import ml_dtypes
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import umx as mx
from tests.helpers import mlx, needs_mlx, to_mlx_dtype

FLOATS = [mx.float32, mx.float16, mx.bfloat16]
SHAPES = [(), (1,), (2,), (3,), (7,), (2, 3), (4, 5, 3), (0,), (3, 0), (1001,)]


def _np(a) -> np.ndarray:
    """An array (umx or MLX) as NumPy; MLX's bfloat16 goes through float32 (exactly)."""
    if isinstance(a, mx.array):
        return np.array(a)
    if a.dtype == mlx.bfloat16:
        return np.array(a.astype(mlx.float32)).astype(ml_dtypes.bfloat16)
    return np.array(a)


def _ulps(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Distance in units in the last place between two float arrays of one dtype."""
    it = {2: np.int16, 4: np.int32, 8: np.int64}[a.dtype.itemsize]
    return np.abs(a.view(it).astype(np.int64) - b.view(it).astype(np.int64))


def _same(ours, theirs, max_ulp: int = 0, frac: float = 1e-3) -> None:
    """Identical, or (floats) at most ``max_ulp`` apart in at most a fraction ``frac``."""
    a, b = _np(ours), _np(theirs)
    assert a.shape == b.shape and a.dtype == b.dtype, (a.shape, b.shape, a.dtype, b.dtype)
    if max_ulp == 0 or a.dtype.kind not in "fV" or a.size == 0:
        if a.dtype.kind == "V":  # bfloat16: compare the bit patterns
            a, b = a.view(np.uint16), b.view(np.uint16)
        np.testing.assert_array_equal(a, b)
        return
    d = _ulps(a, b)
    assert d.max() <= max_ulp, d.max()
    assert (d != 0).mean() <= frac, (d != 0).mean()


def _mdt(d):
    return mlx.bool_ if d == mx.bool_ else to_mlx_dtype(d)


def _pair(seed: int):
    return mx.random.key(seed), mlx.random.key(seed)


# -- keys, bits, the global state -----------------------------------------------------------
@needs_mlx
def test_key_layout():
    for seed in [0, 1, 7, 2**32 - 1, 2**32, 2**40 + 5, 2**64 - 1]:
        k = mx.random.key(seed)
        assert k.dtype == mx.uint32 and k.shape == (2,)
        np.testing.assert_array_equal(np.array(k), np.array(mlx.random.key(seed)))


@needs_mlx
@given(st.integers(0, 2**64 - 1), st.integers(0, 40))
def test_split_matches_mlx(seed, num):
    k, km = _pair(seed)
    _same(mx.random.split(k, num), mlx.random.split(km, num))
    _same(mx.random.split(k), mlx.random.split(km))


@needs_mlx
def test_global_state_sequence():
    mx.random.seed(1234)
    mlx.random.seed(1234)
    np.testing.assert_array_equal(np.array(mx.random.state[0]), np.array(mlx.random.state[0]))
    for f, g in [
        (mx.random.uniform, mlx.random.uniform),
        (mx.random.normal, mlx.random.normal),
        (mx.random.uniform, mlx.random.uniform),
    ]:
        _same(f(shape=(5,)), g(shape=(5,)), max_ulp=1)
    _same(mx.random.randint(0, 100, shape=(9,)), mlx.random.randint(0, 100, shape=(9,)))
    _same(mx.random.permutation(10), mlx.random.permutation(10))
    np.testing.assert_array_equal(np.array(mx.random.state[0]), np.array(mlx.random.state[0]))
    assert len(mx.random.state) == 1 and len(list(mx.random.state)) == 1
    with pytest.raises(TypeError):
        mx.random.state[0] = mx.random.key(0)


def test_seed_reproducible_and_keys_advance():
    mx.random.seed(3)
    a = np.array(mx.random.uniform(shape=(4,)))
    b = np.array(mx.random.uniform(shape=(4,)))
    mx.random.seed(3)
    np.testing.assert_array_equal(a, np.array(mx.random.uniform(shape=(4,))))
    assert not np.array_equal(a, b)


# -- uniform ----------------------------------------------------------------------------------
@needs_mlx
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("shape", SHAPES)
def test_uniform_bits_exact(dtype, shape):
    for seed in (0, 5, 2**33 + 17):
        k, km = _pair(seed)
        _same(
            mx.random.uniform(shape=shape, dtype=dtype, key=k),
            mlx.random.uniform(shape=shape, dtype=to_mlx_dtype(dtype), key=km),
        )


@needs_mlx
@given(
    st.integers(0, 2**32),
    st.sampled_from(FLOATS),
    st.lists(st.integers(1, 5), min_size=0, max_size=3),
    st.floats(-10, 10, width=32),
    st.floats(2**-10, 20, width=32),
)
def test_uniform_bounds_exact(seed, dtype, shape, low, width):
    k, km = _pair(seed)
    lo = np.full(shape[-1:] or (), low, np.float32)
    ours = mx.random.uniform(mx.array(lo), low + width, shape, dtype, key=k)
    theirs = mlx.random.uniform(mlx.array(lo), low + width, shape, to_mlx_dtype(dtype), key=km)
    _same(ours, theirs)


@needs_mlx
def test_uniform_clamps_below_one():
    for dtype in FLOATS:
        k, km = _pair(11)
        a = mx.random.uniform(shape=(200_000,), dtype=dtype, key=k)
        _same(a, mlx.random.uniform(shape=(200_000,), dtype=to_mlx_dtype(dtype), key=km))
        assert _np(a).max() < 1


# -- normal and friends ----------------------------------------------------------------------
@needs_mlx
@pytest.mark.parametrize("dtype", [*FLOATS, mx.float64])
@pytest.mark.parametrize("loc,scale", [(None, None), (1.5, None), (None, 0.25), (-2.0, 3.7)])
def test_normal_matches_mlx(dtype, loc, scale):
    for seed in (1, 99):
        k, km = _pair(seed)
        ours = mx.random.normal((20_001,), dtype, loc, scale, key=k)
        theirs = mlx.random.normal(
            (20_001,), to_mlx_dtype(dtype), loc, scale, key=km, stream=mlx.cpu
        )
        _same(ours, theirs, max_ulp=1, frac=1e-4)


@needs_mlx
def test_normal_array_loc_scale_and_complex():
    k, km = _pair(4)
    loc, scale = np.arange(3, dtype=np.float32), np.array([[0.5], [2.0]], np.float32)
    ours = mx.random.normal((2, 3), loc=mx.array(loc), scale=mx.array(scale), key=k)
    theirs = mlx.random.normal((2, 3), loc=mlx.array(loc), scale=mlx.array(scale), key=km)
    _same(ours, theirs, max_ulp=1)
    assert mx.random.normal(loc=mx.zeros((3,)), key=k).shape == (3,)
    z = mx.random.normal((6,), mx.complex64, loc=1.0, scale=2.0, key=k)
    zm = mlx.random.normal((6,), mlx.complex64, loc=1.0, scale=2.0, key=km)
    assert z.dtype == mx.complex64
    np.testing.assert_allclose(np.array(z), np.array(zm), rtol=1e-6, atol=1e-6)


@needs_mlx
@pytest.mark.parametrize("dtype", FLOATS)
def test_gumbel_truncated_laplace(dtype):
    md = to_mlx_dtype(dtype)
    for seed in (2, 31):
        k, km = _pair(seed)
        _same(mx.random.gumbel((5000,), dtype, key=k), mlx.random.gumbel((5000,), md, key=km), 1)
        _same(
            mx.random.truncated_normal(-1.5, 0.7, (5000,), dtype, key=k),
            mlx.random.truncated_normal(-1.5, 0.7, (5000,), md, key=km),
            max_ulp=1,
        )
        ours = _np(mx.random.laplace((5000,), dtype, 0.5, 2.0, key=k)).astype(np.float64)
        theirs = _np(mlx.random.laplace((5000,), md, 0.5, 2.0, key=km)).astype(np.float64)
        np.testing.assert_allclose(
            ours, theirs, rtol=2e-6 if dtype == mx.float32 else 1e-2, atol=1e-6
        )


@needs_mlx
def test_truncated_normal_array_bounds():
    k, km = _pair(8)
    lo, hi = np.array([-1.0, 0.0, 2.0], np.float32), np.array([[1.0], [3.0]], np.float32)
    ours = mx.random.truncated_normal(mx.array(lo), mx.array(hi), key=k)
    theirs = mlx.random.truncated_normal(mlx.array(lo), mlx.array(hi), key=km)
    assert ours.shape == (2, 3)
    _same(ours, theirs, max_ulp=1)


# -- integer-valued distributions --------------------------------------------------------------
@needs_mlx
@pytest.mark.parametrize(
    "low,high,dtype",
    [
        (0, 10, mx.int32), (-3, 250, mx.uint8), (5, 2, mx.int32), (-(2**40), 2**40 + 7, mx.int64),
        (0, 2**31 - 1, mx.int32), (0, 2, mx.bool_), (-1, 2, mx.bool_), (-100, 100, mx.int16),
        (0, 2**32 - 1, mx.uint32), (16777217, 16777300, mx.int32), (0, 0, mx.uint8), (2.7, 9.9, mx.int32),
    ],
)  # fmt: skip
def test_randint_matches_mlx(low, high, dtype):
    k, km = _pair(9)
    _same(
        mx.random.randint(low, high, (3001,), dtype, key=k),
        mlx.random.randint(low, high, (3001,), _mdt(dtype), key=km),
    )


@needs_mlx
def test_randint_array_bounds_and_bernoulli():
    k, km = _pair(21)
    lo, hi = np.array([0, -5, 10], np.int32), np.array([[3], [7]], np.int32)
    _same(
        mx.random.randint(mx.array(lo), mx.array(hi), (2, 3), key=k),
        mlx.random.randint(mlx.array(lo), mlx.array(hi), (2, 3), key=km),
    )
    for p, shape in [
        (0.3, (1000,)),
        (np.array([0.1, 0.9], np.float32), (4, 2)),
        (np.array([0.5, 0.2], np.float16), None),
    ]:
        _same(
            mx.random.bernoulli(mx.array(p) if isinstance(p, np.ndarray) else p, shape, key=k),
            mlx.random.bernoulli(mlx.array(p) if isinstance(p, np.ndarray) else p, shape, key=km),
        )


@needs_mlx
def test_categorical_matches_mlx():
    rng = np.random.default_rng(0)
    logits = rng.standard_normal((6, 5)).astype(np.float32)
    k, km = _pair(13)
    a, am = mx.array(logits), mlx.array(logits)
    _same(mx.random.categorical(a, key=k), mlx.random.categorical(am, key=km))
    _same(mx.random.categorical(a, axis=0, key=k), mlx.random.categorical(am, axis=0, key=km))
    _same(
        mx.random.categorical(a, shape=(3, 6), key=k),
        mlx.random.categorical(am, shape=(3, 6), key=km),
    )
    _same(
        mx.random.categorical(a, num_samples=7, key=k),
        mlx.random.categorical(am, num_samples=7, key=km),
    )
    _same(
        mx.random.categorical(a, axis=0, num_samples=4, key=k),
        mlx.random.categorical(am, axis=0, num_samples=4, key=km),
    )


@needs_mlx
def test_permutation_matches_mlx():
    k, km = _pair(17)
    _same(mx.random.permutation(50, key=k), mlx.random.permutation(50, key=km))
    x = np.arange(24, dtype=np.float32).reshape(4, 6)
    for axis in (0, 1, -1):
        _same(
            mx.random.permutation(mx.array(x), axis, key=k),
            mlx.random.permutation(mlx.array(x), axis, key=km),
        )


@needs_mlx
def test_multivariate_normal_close_to_mlx():
    k, km = _pair(23)
    mean = np.array([1.0, -2.0, 0.5], np.float32)
    b = np.array([[1.0, 0.2, 0.0], [0.3, 2.0, 0.1], [0.0, 0.5, 0.7]], np.float32)
    cov = (b @ b.T).astype(np.float32)
    ours = mx.random.multivariate_normal(mx.array(mean), mx.array(cov), (4, 2), key=k)
    theirs = mlx.random.multivariate_normal(
        mlx.array(mean), mlx.array(cov), (4, 2), key=km, stream=mlx.cpu
    )
    assert ours.shape == (4, 2, 3)
    np.testing.assert_allclose(np.array(ours), np.array(theirs), rtol=1e-4, atol=1e-4)


# -- streams -----------------------------------------------------------------------------------
def test_stream_argument_gives_the_same_numbers():
    k = mx.random.key(5)
    a = np.array(mx.random.normal((1000,), key=k))
    s = mx.new_stream(mx.cpu)
    np.testing.assert_array_equal(a, np.array(mx.random.normal((1000,), key=k, stream=s)))
    np.testing.assert_array_equal(a, np.array(mx.random.normal((1000,), key=k, stream=mx.cpu)))
    out = mx.random.uniform(shape=(3,), key=k, stream=s)
    assert out._stream == s


@pytest.mark.gpu
def test_gpu_stream_matches_cpu():
    k = mx.random.key(42)
    for f in (
        lambda s: mx.random.uniform(shape=(1001,), key=k, stream=s),
        lambda s: mx.random.normal((1001,), mx.float16, key=k, stream=s),
        lambda s: mx.random.randint(-7, 9, (33, 3), key=k, stream=s),
        lambda s: mx.random.gumbel((513,), key=k, stream=s),
        lambda s: mx.random.split(k, 9, stream=s),
    ):
        np.testing.assert_array_equal(_np(f(mx.cpu)), _np(f(mx.gpu)))
    from umx.backends._cuda_exec import FALLBACKS

    # Every draw ran its CuPy kernel (a failing kernel falls back to the host silently).
    assert not {"uniform", "random_bits", "random_fn"} & set(FALLBACKS), FALLBACKS


# -- moments on 10^6 samples ---------------------------------------------------------------
def test_moments():
    k = mx.random.key(0)
    n = 10**6
    tol = 5 / np.sqrt(n)

    def mv(a):
        h = np.array(a).astype(np.float64)
        return h.mean(), h.var()

    m, v = mv(mx.random.uniform(-1, 3, (n,), key=k))
    assert abs(m - 1) < 4 * tol and abs(v - 16 / 12) < 8 * tol
    m, v = mv(mx.random.normal((n,), loc=2.0, scale=3.0, key=k))
    assert abs(m - 2) < 3 * tol and abs(v - 9) < 30 * tol
    m, v = mv(mx.random.gumbel((n,), key=k))
    assert abs(m - np.euler_gamma) < 2 * tol and abs(v - np.pi**2 / 6) < 10 * tol
    m, v = mv(mx.random.laplace((n,), loc=1.0, scale=0.5, key=k))
    assert abs(m - 1) < tol and abs(v - 0.5) < 5 * tol
    m, v = mv(mx.random.randint(0, 10, (n,), key=k))
    assert abs(m - 4.5) < 3 * tol and abs(v - 8.25) < 30 * tol
    m, _ = mv(mx.random.bernoulli(0.3, (n,), key=k))
    assert abs(m - 0.3) < tol
    m, v = mv(mx.random.truncated_normal(-1.0, 1.0, (n,), key=k))
    assert abs(m) < tol and abs(v - 0.2911) < 5 * tol
    c = np.bincount(
        np.array(mx.random.categorical(mx.log(mx.array([0.2, 0.5, 0.3])), shape=(n,), key=k))
    )
    np.testing.assert_allclose(c / n, [0.2, 0.5, 0.3], atol=tol)


# -- errors -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "call,exc,msg",
    [
        (lambda k: mx.random.uniform(dtype=mx.int32, key=k), ValueError, r"\[uniform\] Can only generate"),
        (lambda k: mx.random.uniform(dtype=mx.float64, key=k), RuntimeError, r"\[uniform\] Unsupported type"),
        (lambda k: mx.random.uniform(mx.zeros((3,)), 1, (2,), key=k), ValueError, r"\[broadcast_shapes\]"),
        (lambda k: mx.random.uniform(mx.zeros((3,)), 1, key=k), ValueError, r"\[uniform\] Cannot generate"),
        (lambda k: mx.random.uniform(shape=(-1,), key=k), ValueError, r"\[bits\] Negative dimensions"),
        (lambda k: mx.random.uniform(shape=3, key=k), TypeError, ""),
        (lambda k: mx.random.uniform(key=mx.array([1, 2])), ValueError, r"\[bits\] Expected key type uint32"),
        (lambda k: mx.random.uniform(key=mx.zeros((1, 2), mx.uint32)), ValueError, r"key shape \(2\) but received \(1,2\)"),
        (lambda k: mx.random.normal(dtype=mx.int32, key=k), ValueError, r"\[normal\] Only floating point"),
        (lambda k: mx.random.normal((2,), loc=mx.zeros((3,)), key=k), ValueError, r"\[broadcast_shapes\]"),
        (lambda k: mx.random.randint(0, 9, dtype=mx.float32, key=k), ValueError, r"\[randint\]"),
        (lambda k: mx.random.bernoulli(1, key=k), ValueError, r"\[bernoulli\] bernoulli probability"),
        (lambda k: mx.random.bernoulli(mx.full((3, 2), 0.5), (2,), key=k), ValueError, r"\[bernoulli\] shape of `p`"),
        (lambda k: mx.random.truncated_normal(0, 1, dtype=mx.int32, key=k), ValueError, r"\[trunc_normal\]"),
        (lambda k: mx.random.laplace(dtype=mx.int32, key=k), ValueError, r"\[laplace\]"),
        (lambda k: mx.random.gumbel(dtype=mx.int32, key=k), ValueError, r"\[uniform\]"),
        (lambda k: mx.random.categorical(mx.zeros((3, 4)), shape=(3,), num_samples=2, key=k), ValueError, r"At most one"),
        (lambda k: mx.random.categorical(mx.zeros((3, 4)), axis=2, key=k), IndexError, r"\[categorical\] Invalid axis 2"),
        (lambda k: mx.random.categorical(mx.zeros((3, 4)), shape=(2,), key=k), ValueError, r"\[broadcast_shapes\]"),
        (lambda k: mx.random.permutation(mx.zeros((3, 4)), axis=2, key=k), IndexError, ""),
        (lambda k: mx.random.permutation(-1, key=k), ValueError, r"\[bits\]"),
        (lambda k: mx.random.multivariate_normal(mx.zeros((3,)), mx.eye(3), dtype=mx.float16, key=k), ValueError, r"dtype must be float32"),
        (lambda k: mx.random.multivariate_normal(mx.zeros((2,)), mx.eye(3), key=k), ValueError, r"compatible shapes"),
        (lambda k: mx.random.multivariate_normal(mx.zeros((3,)), mx.zeros((3, 2)), key=k), ValueError, r"must be equal"),
        (lambda k: mx.random.split(k, 2.5), TypeError, ""),
        (lambda k: mx.random.key(-1), TypeError, ""),
    ],
)  # fmt: skip
def test_errors_at_call_time(call, exc, msg):
    with pytest.raises(exc, match=msg or None):
        call(mx.random.key(0))


@needs_mlx
def test_error_types_match_mlx():
    """The same bad calls fail in MLX with the same exception types."""
    k = mlx.random.key(0)
    for f, exc in [
        (lambda: mlx.random.uniform(dtype=mlx.float64, key=k), RuntimeError),
        (lambda: mlx.random.normal(dtype=mlx.int32, key=k), ValueError),
        (lambda: mlx.random.categorical(mlx.zeros((3, 4)), axis=2, key=k), IndexError),
        (lambda: mlx.random.uniform(key=mlx.array([1, 2])), ValueError),
    ]:
        with pytest.raises(exc):
            f()


def test_categorical_single_distribution_uses_inverse_cdf():
    # MLX 0.32.4 samples one distribution (reduced size 1, non-scalar sample shape) by
    # inverse CDF, not Gumbel-max; values checked against the oracle.
    k = mx.random.key(49)
    logits = mx.array([0.3, 1.2, -0.5, 2.0])
    assert mx.random.categorical(logits, shape=(3,), key=k).tolist() == [0, 1, 3]
    assert mx.random.categorical(logits, shape=(5,), key=k).tolist() == [1, 3, 0, 3, 1]
    assert mx.random.categorical(logits, num_samples=3, key=k).tolist() == [0, 1, 3]
    assert mx.random.categorical(logits[None], num_samples=3, key=k).tolist() == [[0, 1, 3]]
    # two distributions still use Gumbel-max
    two = mx.stack([logits, mx.array([1.0, 2.0, 3.0, 4.0])])
    assert mx.random.categorical(two, num_samples=3, key=k).tolist() == [[3, 3, 1], [3, 3, 3]]
    out = mx.random.categorical(logits, shape=(2, 3), key=k)
    assert out.dtype == mx.uint32 and out.tolist() == [[1, 3, 3], [3, 1, 3]]


def test_laplace_float64_transforms_in_float64():
    # MLX widens the float32 uniform draws to float64 before the log1p
    k = mx.random.key(29)
    out = np.array(mx.random.laplace((64,), dtype=mx.float64, key=k))
    lo = float(np.nextafter(np.float32(-1), np.float32(0)))
    u = np.array(mx.random.uniform(lo, 1.0, (64,), key=k)).astype(np.float64)
    np.testing.assert_allclose(out, np.sign(u) * np.log1p(-np.abs(u)), rtol=1e-14)
    first = mx.random.laplace((3,), dtype=mx.float64, key=k)[0].item()
    assert abs(first - -1.26722893) < 5e-9  # the oracle's value; float32 math gives ...896


def test_erfinv_of_the_c_library_matches_the_numpy_emulation_bit_for_bit():
    # mx.random.normal's erfinv runs in the C library where it builds; it must give the bits
    # of the NumPy emulation of MLX's float32 erfinv (Giles' polynomials with fma, logf).
    from umx import _random_bits as rb
    from umx.backends import _cpu_fuse

    if not _cpu_fuse.available():
        pytest.skip(f"no C kernel library: {_cpu_fuse.unavailable_reason()}")
    x = np.random.default_rng(3).uniform(-1, 1, 1 << 16).astype(np.float32)
    below_one = np.nextafter(np.float32(1), np.float32(0))
    edge = np.array([0, -0.0, 1e-30, 1e-45, 0.5, below_one, -below_one, 1, -1, np.nan], np.float32)
    x = np.concatenate([x, edge, below_one - np.arange(4096, dtype=np.float32) * 6e-8])
    c, ref = _cpu_fuse.erfinv_f32(x), rb._erfinv32_np(x)
    same = (c.view(np.uint32) == ref.view(np.uint32)) | (np.isnan(c) & np.isnan(ref))
    assert same.all(), x[~same][:5]
