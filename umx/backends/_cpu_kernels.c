/* Fused chains of elementwise unary ops for umx's CPU streams.
 *
 * umx builds this file once per machine with the system C compiler (see _cpu_fuse.py) and
 * calls it through ctypes. A chain is a list of op codes; the input is processed in blocks
 * that stay in L1 while every op of the chain runs over them, each op a loop the compiler
 * vectorizes. Everything here is branch-free per element so that it vectorizes, and
 * handles inf and nan as NumPy does. No -ffast-math: IEEE semantics are kept.
 */
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>

/* Op codes: keep in step with OPS and BINARY_OPS in _cpu_fuse.py. The binary ones combine
 * the value with the op's constant c (x + c, c - x, ...); the others are unary. */
enum {
    OP_COPY = 0, OP_NEGATIVE, OP_ABS, OP_SQUARE, OP_RECIPROCAL, OP_SQRT, OP_RSQRT,
    OP_FLOOR, OP_CEIL, OP_EXP, OP_SIGMOID,
    OP_ADD_C, OP_SUB_C, OP_RSUB_C, OP_MUL_C, OP_DIV_C, OP_RDIV_C,
    OP_MAX_C, OP_RMAX_C, OP_MIN_C, OP_RMIN_C,
};
#define OP_LAST OP_RMIN_C

#define BLOCK 1024

static inline uint64_t bits_of(double x) { uint64_t u; memcpy(&u, &x, 8); return u; }
static inline double from_bits(uint64_t u) { double x; memcpy(&x, &u, 8); return x; }

static const double LOG2E = 1.4426950408889634;
static const double SHIFT = 0x1.8p52;            /* rounds to an integer in the low bits */
static const double LN2_HI = 0x1.62e42fee00000p-1; /* 32 significant bits: k * LN2_HI exact */
static const double LN2_LO = 0x1.a39ef35793c76p-33;

/* exp of a double in [-745.2, 709.8] (callers clamp): x = k ln2 + r, |r| <= ln2 / 2, a
 * Taylor polynomial for exp(r) (degree 13: truncation below 1e-17), then 2^k applied in
 * two exact halves so that overflow gives inf and subnormal results round once. */
static inline double exp_clamped(double x) {
    double t = x * LOG2E + SHIFT;
    double kd = t - SHIFT;
    int64_t k = (int64_t)(bits_of(t) - bits_of(SHIFT));
    double r = (x - kd * LN2_HI) - kd * LN2_LO;
    double p = 1.0 / 6227020800.0;
    p = p * r + 1.0 / 479001600.0;
    p = p * r + 1.0 / 39916800.0;
    p = p * r + 1.0 / 3628800.0;
    p = p * r + 1.0 / 362880.0;
    p = p * r + 1.0 / 40320.0;
    p = p * r + 1.0 / 5040.0;
    p = p * r + 1.0 / 720.0;
    p = p * r + 1.0 / 120.0;
    p = p * r + 1.0 / 24.0;
    p = p * r + 1.0 / 6.0;
    p = p * r + 0.5;
    p = p * r + 1.0;
    p = p * r + 1.0;
    int64_t k1 = k >> 1, k2 = k - k1;
    return p * from_bits((uint64_t)(k1 + 1023) << 52) * from_bits((uint64_t)(k2 + 1023) << 52);
}

static inline double exp_f64(double x) {
    double c = x > 709.8 ? 709.8 : x;
    c = c < -745.2 ? -745.2 : c;
    double y = exp_clamped(c);
    return x != x ? x : y;
}

/* float32, in float arithmetic (twice the vector lanes of double): the same reduction with
 * a 16-bit ln2 head, a degree-7 Taylor polynomial (truncation below 1e-8), 2^k applied in
 * two exact halves. Within 1 ulp; NumPy's own float32 exp is within about 2.4. */
static inline uint32_t fbits_of(float x) { uint32_t u; memcpy(&u, &x, 4); return u; }
static inline float ffrom_bits(uint32_t u) { float x; memcpy(&x, &u, 4); return x; }

static inline float exp_f32(float x) {
    float c = x > 88.8f ? 88.8f : x;
    c = c < -104.0f ? -104.0f : c;
    float t = c * 1.44269504f + 0x1.8p23f;
    float kd = t - 0x1.8p23f;
    int32_t k = (int32_t)(fbits_of(t) - fbits_of(0x1.8p23f));
    float r = (c - kd * 0x1.62e4p-1f) - kd * 0x1.7f7d1cp-20f;
    float p = 1.0f / 5040.0f;
    p = p * r + 1.0f / 720.0f;
    p = p * r + 1.0f / 120.0f;
    p = p * r + 1.0f / 24.0f;
    p = p * r + 1.0f / 6.0f;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    int32_t k1 = k >> 1, k2 = k - k1;
    float y = p * ffrom_bits((uint32_t)(k1 + 127) << 23) * ffrom_bits((uint32_t)(k2 + 127) << 23);
    return x != x ? x : y;
}

static inline double sigmoid_f64(double x) { return 1.0 / (1.0 + exp_f64(-x)); }
static inline float sigmoid_f32(float x) { return 1.0f / (1.0f + exp_f32(-x)); }

/* NumPy's maximum and minimum: a nan in either operand gives nan, and equal operands (0.0
 * and -0.0) give the second one. */
#define MAXIMUM(a, b) ((a) != (a) ? (a) : (a) > (b) ? (a) : (b))
#define MINIMUM(a, b) ((a) != (a) ? (a) : (a) < (b) ? (a) : (b))

/* One op over the m elements of buf. With `track` (the next op of the chain is the same op),
 * returns whether any element changed bit for bit: a block that one op leaves unchanged is a
 * fixed point of the rest of that run (exp at inf or nan, abs or floor after one step), which
 * the chain then skips. The check is an xor and an or per element, inside the op's loop. */
#define OP_LOOP(T, UT, EXPR)                                                                  \
    do {                                                                                      \
        if (!track) {                                                                         \
            for (int64_t i = 0; i < m; i++) {                                                 \
                T v = buf[i];                                                                 \
                buf[i] = (EXPR);                                                              \
            }                                                                                 \
            return 1;                                                                         \
        }                                                                                     \
        UT changed = 0;                                                                       \
        for (int64_t i = 0; i < m; i++) {                                                     \
            T v = buf[i], w = (EXPR);                                                         \
            UT a, b;                                                                          \
            memcpy(&a, &v, sizeof a);                                                         \
            memcpy(&b, &w, sizeof b);                                                         \
            changed |= a ^ b;                                                                 \
            buf[i] = w;                                                                       \
        }                                                                                     \
        return changed != 0;                                                                  \
    } while (0)

#define DEFINE_APPLY(T, UT, SUFFIX, ONE, SQRT, FLOOR, CEIL, FABS, EXP, SIGMOID)              \
    static int apply_##SUFFIX(int32_t op, T c, T *buf, int64_t m, int track) {               \
        switch (op) {                                                                         \
        case OP_NEGATIVE: OP_LOOP(T, UT, -v);                                                 \
        case OP_ABS: OP_LOOP(T, UT, FABS(v));                                                 \
        case OP_SQUARE: OP_LOOP(T, UT, v * v);                                                \
        case OP_RECIPROCAL: OP_LOOP(T, UT, ONE / v);                                          \
        case OP_SQRT: OP_LOOP(T, UT, SQRT(v));                                                \
        case OP_RSQRT: OP_LOOP(T, UT, ONE / SQRT(v));                                         \
        case OP_FLOOR: OP_LOOP(T, UT, FLOOR(v));                                              \
        case OP_CEIL: OP_LOOP(T, UT, CEIL(v));                                                \
        case OP_EXP: OP_LOOP(T, UT, EXP(v));                                                  \
        case OP_SIGMOID: OP_LOOP(T, UT, SIGMOID(v));                                          \
        case OP_ADD_C: OP_LOOP(T, UT, v + c);                                                 \
        case OP_SUB_C: OP_LOOP(T, UT, v - c);                                                 \
        case OP_RSUB_C: OP_LOOP(T, UT, c - v);                                                \
        case OP_MUL_C: OP_LOOP(T, UT, v * c);                                                 \
        case OP_DIV_C: OP_LOOP(T, UT, v / c);                                                 \
        case OP_RDIV_C: OP_LOOP(T, UT, c / v);                                                \
        case OP_MAX_C: OP_LOOP(T, UT, MAXIMUM(v, c));                                         \
        case OP_RMAX_C: OP_LOOP(T, UT, MAXIMUM(c, v));                                        \
        case OP_MIN_C: OP_LOOP(T, UT, MINIMUM(v, c));                                         \
        case OP_RMIN_C: OP_LOOP(T, UT, MINIMUM(c, v));                                        \
        default: return !track; /* OP_COPY changes nothing */                                 \
        }                                                                                     \
    }

/* One chain over n elements, x -> y (x == y is allowed). consts[j] is op j's constant (read
 * for binary ops only; NULL where the chain has none). Returns the element-ops it applied
 * (fewer than n * nops where runs stopped at a fixed point), or -1 for an unknown op. The
 * caller sizes the next call of the same chain by that count (_cpu_fuse.py).
 *
 * With OpenMP and threads > 1 the elements are cut into tasks of `chunk` elements that the
 * threads take as they come (dynamic: on a busy or virtual machine, a thread that is
 * preempted delays one task, not a whole static share). */
/* Whether op j + 1 is op j again: the same code, and for a binary op the same constant
 * (bit for bit), so that a block op j leaves unchanged is a fixed point of op j + 1 too. */
static inline int same_op(const int32_t *ops, const double *consts, int32_t j) {
    if (ops[j + 1] != ops[j]) return 0;
    return ops[j] < OP_ADD_C || bits_of(consts[j + 1]) == bits_of(consts[j]);
}

#define DEFINE_CHAIN(T, SUFFIX)                                                               \
    static int64_t chain_##SUFFIX(const T *x, T *y, int64_t n, const int32_t *ops,           \
                                  const double *consts, int32_t nops) {                       \
        T buf[BLOCK] __attribute__((aligned(64)));                                            \
        int64_t applied = 0;                                                                  \
        for (int64_t s = 0; s < n; s += BLOCK) {                                              \
            int64_t m = n - s < BLOCK ? n - s : BLOCK;                                        \
            memcpy(buf, x + s, (size_t)m * sizeof(T));                                        \
            for (int32_t j = 0; j < nops; j++) {                                              \
                int run = j + 1 < nops && same_op(ops, consts, j);                            \
                T c = ops[j] >= OP_ADD_C ? (T)consts[j] : (T)0;                               \
                applied += m;                                                                 \
                if (!apply_##SUFFIX(ops[j], c, buf, m, run))                                  \
                    while (j + 1 < nops && same_op(ops, consts, j)) j++;                      \
            }                                                                                 \
            memcpy(y + s, buf, (size_t)m * sizeof(T));                                        \
        }                                                                                     \
        return applied;                                                                       \
    }                                                                                         \
    int64_t umx_chain_##SUFFIX(const T *x, T *y, int64_t n, const int32_t *ops,              \
                               const double *consts, int32_t nops, int32_t threads,           \
                               int64_t chunk) {                                               \
        for (int32_t j = 0; j < nops; j++)                                                    \
            if (ops[j] < OP_COPY || ops[j] > OP_LAST || (ops[j] >= OP_ADD_C && !consts))      \
                return -1;                                                                    \
        if (threads <= 1 || chunk <= 0 || chunk >= n)                                         \
            return chain_##SUFFIX(x, y, n, ops, consts, nops);                                \
        int64_t tasks = (n + chunk - 1) / chunk, applied = 0;                                 \
        _Pragma("omp parallel for num_threads(threads) schedule(dynamic, 1) reduction(+ : applied)")\
        for (int64_t t = 0; t < tasks; t++) {                                                 \
            int64_t a = t * chunk, b = a + chunk < n ? a + chunk : n;                         \
            applied += chain_##SUFFIX(x + a, y + a, b - a, ops, consts, nops);                \
        }                                                                                     \
        return applied;                                                                       \
    }

DEFINE_APPLY(float, uint32_t, f32, 1.0f, sqrtf, floorf, ceilf, fabsf, exp_f32, sigmoid_f32)
DEFINE_APPLY(double, uint64_t, f64, 1.0, sqrt, floor, ceil, fabs, exp_f64, sigmoid_f64)
DEFINE_CHAIN(float, f32)
DEFINE_CHAIN(double, f64)

/* The ABI version _cpu_fuse.py expects; bump it with any change of the op codes or calls. */
int umx_kernels_version(void) { return 8; }

/* MLX's float32 erfinv (Giles' polynomials evaluated with fma, then libm's logf), which
 * mx.random.normal applies to its uniforms: the same operations in the same order, so the
 * same bits (umx._random_bits.erfinv32 does it with NumPy where this library is absent). */
static float erfinv_f32(float a) {
    float t = logf(fmaf(a, -a, 1.0f)), p;
    if (fabsf(t) > 6.125f) {
        p = 3.03697567e-10f;
        p = fmaf(p, t, 2.93243101e-8f);
        p = fmaf(p, t, 1.22150334e-6f);
        p = fmaf(p, t, 2.84108955e-5f);
        p = fmaf(p, t, 3.93552968e-4f);
        p = fmaf(p, t, 3.02698812e-3f);
        p = fmaf(p, t, 4.83185798e-3f);
        p = fmaf(p, t, -2.64646143e-1f);
        p = fmaf(p, t, 8.40016484e-1f);
    } else {
        p = 5.43877832e-9f;
        p = fmaf(p, t, 1.43285448e-7f);
        p = fmaf(p, t, 1.22774793e-6f);
        p = fmaf(p, t, 1.12963626e-7f);
        p = fmaf(p, t, -5.61530760e-5f);
        p = fmaf(p, t, -1.47697632e-4f);
        p = fmaf(p, t, 2.31468678e-3f);
        p = fmaf(p, t, 1.15392581e-2f);
        p = fmaf(p, t, -2.32015476e-1f);
        p = fmaf(p, t, 8.86226892e-1f);
    }
    return a * p;
}

void umx_erfinv_f32(const float *x, float *y, int64_t n, int32_t threads) {
    (void)threads;
    _Pragma("omp parallel for num_threads(threads) schedule(static) if(threads > 1)")
    for (int64_t i = 0; i < n; i++) y[i] = erfinv_f32(x[i]);
}

/* Whether `threads` > 1 really runs on several threads (built with OpenMP). */
int umx_kernels_threaded(void) {
#ifdef _OPENMP
    return 1;
#else
    return 0;
#endif
}

/* Background chains: umx_chain_start hands one chain to a helper thread and returns at
 * once, so that the calling thread can do other work (enqueue GPU kernels) while the chain
 * runs; umx_chain_join waits for it. One chain at a time: a second start while one runs is
 * refused (the caller then runs its chain itself). */
typedef struct {
    int f64;
    const void *x;
    void *y;
    int64_t n;
    const int32_t *ops;
    const double *consts;
    int32_t nops, threads;
    int64_t chunk;
} chain_job;

static pthread_mutex_t job_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t job_cv = PTHREAD_COND_INITIALIZER;
static chain_job job;
static int job_state; /* 0 idle, 1 handed over, 2 finished (result in job_rc) */
static int64_t job_rc;
static int helper_started;
static int fork_handler_set;

static void *chain_helper(void *unused) {
    (void)unused;
    pthread_mutex_lock(&job_mu);
    for (;;) {
        while (job_state != 1) pthread_cond_wait(&job_cv, &job_mu);
        chain_job j = job;
        pthread_mutex_unlock(&job_mu);
        int64_t rc = j.f64 ? umx_chain_f64(j.x, j.y, j.n, j.ops, j.consts, j.nops, j.threads,
                                           j.chunk)
                           : umx_chain_f32(j.x, j.y, j.n, j.ops, j.consts, j.nops, j.threads,
                                           j.chunk);
        pthread_mutex_lock(&job_mu);
        job_rc = rc;
        job_state = 2;
        pthread_cond_broadcast(&job_cv);
    }
    return NULL;
}

/* In a forked child the helper thread is gone: start afresh (a new one on first use). */
static void chain_after_fork(void) {
    pthread_mutex_init(&job_mu, NULL);
    pthread_cond_init(&job_cv, NULL);
    job_state = 0;
    helper_started = 0;
}

/* Returns 0 once the chain is handed over, -2 when no helper thread could be started, -3
 * while another chain runs in the background. */
int umx_chain_start(int32_t f64, const void *x, void *y, int64_t n, const int32_t *ops,
                    const double *consts, int32_t nops, int32_t threads, int64_t chunk) {
    pthread_mutex_lock(&job_mu);
    if (job_state != 0) {
        pthread_mutex_unlock(&job_mu);
        return -3;
    }
    if (!helper_started) {
        pthread_t t;
        if (pthread_create(&t, NULL, chain_helper, NULL) != 0) {
            pthread_mutex_unlock(&job_mu);
            return -2;
        }
        pthread_detach(t);
        if (!fork_handler_set) fork_handler_set = pthread_atfork(NULL, NULL, chain_after_fork) == 0;
        helper_started = 1;
    }
    chain_job j = {f64, x, y, n, ops, consts, nops, threads, chunk};
    job = j;
    job_state = 1;
    pthread_cond_signal(&job_cv);
    pthread_mutex_unlock(&job_mu);
    return 0;
}

/* Waits for the chain handed over by umx_chain_start; returns its result (the element-ops
 * applied, or -1 for an unknown op), or -4 when none was handed over. */
int64_t umx_chain_join(void) {
    pthread_mutex_lock(&job_mu);
    while (job_state == 1) pthread_cond_wait(&job_cv, &job_mu);
    int64_t rc = job_state == 2 ? job_rc : -4;
    job_state = 0;
    pthread_mutex_unlock(&job_mu);
    return rc;
}
