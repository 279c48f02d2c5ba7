"""Softmax over trailing axes as one CUDA kernel (a block per row).

Written with CuPy's generic ops, a softmax is five kernels (max, subtract, exp, sum,
divide) and streams the array through memory five times; PyTorch's fused kernel was ~5x
faster on the H100 (bench/gpu_ops.py). Here each block reads its row twice: once for the
max and the sum of exps together (the sum rescaled whenever the max grows), once for the
output. The results follow the composed formula ``exp(x - max) / sum(exp(x - max))``: NaN
propagates through the max, and a row of -inf gives NaN, as with NumPy.
"""

from __future__ import annotations

import cupy

_CODE = r"""
template <typename T> __device__ __forceinline__ T neg_inf();
template <> __device__ __forceinline__ float neg_inf<float>() { return __int_as_float(0xff800000); }
template <> __device__ __forceinline__ double neg_inf<double>() {
    return __longlong_as_double(0xfff0000000000000ULL);
}

template <typename T> __device__ __forceinline__ T umx_max(T a, T b) {
    return (b > a || b != b) ? b : a;  /* NaN wins, as NumPy's max */
}

/* Merges the running (max, sum of exp(x - max)) of two parts of a row. A part with no
 * element yet has max -inf and sum 0; NaN in either max makes the result NaN. */
template <typename T> __device__ __forceinline__ void merge(T &m, T &s, T m2, T s2) {
    T mm = umx_max(m, m2);
    if (mm == neg_inf<T>()) {  /* both parts all -inf (or empty): x - max is NaN, as NumPy */
        s = s + s2;
    } else {
        s = (s == T(0) ? T(0) : s * exp(m - mm)) + (s2 == T(0) ? T(0) : s2 * exp(m2 - mm));
    }
    m = mm;
}

template <typename T>
__device__ void softmax_rows(const T *x, T *y, long long n) {
    __shared__ T shared_m[32], shared_s[32];
    const T *xr = x + (long long)blockIdx.x * n;
    T *yr = y + (long long)blockIdx.x * n;
    /* one pass for the max and the sum of exps (rescaled when the max grows) */
    T m = neg_inf<T>(), s = T(0);
    for (long long i = threadIdx.x; i < n; i += blockDim.x) merge(m, s, xr[i], T(1));
    for (int o = 16; o > 0; o >>= 1)
        merge(m, s, __shfl_xor_sync(0xffffffffu, m, o), __shfl_xor_sync(0xffffffffu, s, o));
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = (blockDim.x + 31) >> 5;
    if (lane == 0) {
        shared_m[warp] = m;
        shared_s[warp] = s;
    }
    __syncthreads();
    m = lane < warps ? shared_m[lane] : neg_inf<T>();
    s = lane < warps ? shared_s[lane] : T(0);
    for (int o = 16; o > 0; o >>= 1)
        merge(m, s, __shfl_xor_sync(0xffffffffu, m, o), __shfl_xor_sync(0xffffffffu, s, o));
    for (long long i = threadIdx.x; i < n; i += blockDim.x) yr[i] = exp(xr[i] - m) / s;
}

extern "C" __global__ void umx_softmax_f32(const float *x, float *y, long long n) {
    softmax_rows<float>(x, y, n);
}
extern "C" __global__ void umx_softmax_f64(const double *x, double *y, long long n) {
    softmax_rows<double>(x, y, n);
}
"""

_module = None
_DTYPES = (cupy.float32, cupy.float64)


def _kernel(dtype):
    global _module
    if _module is None:
        _module = cupy.RawModule(code=_CODE, options=("-std=c++14",))
    return _module.get_function("umx_softmax_f64" if dtype == cupy.float64 else "umx_softmax_f32")


def softmax_trailing(x, axes: tuple):
    """Softmax of CuPy array ``x`` (float32 or float64) over ``axes``, which must be the
    trailing axes of ``x``; None where the kernel does not apply (the caller composes)."""
    nd = x.ndim
    if not axes or axes != tuple(range(nd - len(axes), nd)) or x.dtype not in _DTYPES:
        return None
    n = 1
    for a in axes:
        n *= x.shape[a]
    rows = x.size // n if n else 0
    if not 0 < rows < 1 << 31:  # empty, or more rows than a grid takes
        return None
    x = cupy.ascontiguousarray(x)
    y = cupy.empty_like(x)
    threads = 256 if n >= 256 else max(32, -(-n // 32) * 32)
    _kernel(x.dtype)((rows,), (threads,), (x, y, cupy.int64(n)))
    return y
