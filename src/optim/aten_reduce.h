/* The rounding of a few ATen CPU kernels (PyTorch 2.15, float32), for kinds
 * that match pytorch-optimizer to the bit: lerp, vector 2-norm and sum/mean
 * over one dimension. The orders below were derived from ATen's source
 * (Lerp.h, ReduceOpsKernel.cpp norm_two_reduce_step, SumKernel.cpp
 * cascade_sum with 8-float AVX2 vectors) and checked against torch on many
 * sizes; where they were not exact they would differ in the last bit only.
 * Header-only: every function is static inline.                            */
#ifndef CT_OPTIM_ATEN_REDUCE_H
#define CT_OPTIM_ATEN_REDUCE_H

#include <math.h>
#include <stddef.h>
#include <string.h>

/* lerp(s, e, w) as ATen's vectorized kernel: |w| < 0.5 -> s + w (e - s),
 * else e + (w - 1)(e - s), each one fused multiply-add. */
static inline float ct_aten_lerpf(float s, float e, float w)
{
    float d = e - s;
    return fabsf(w) < 0.5f ? fmaf(w, d, s) : fmaf(w - 1.0f, d, e);
}

/* ||x|| of n elements fed in order, as torch.linalg.vector_norm on a
 * contiguous float tensor: 8 float lanes over the whole vectors (x*x then
 * add, unfused), the lanes added in order, then the tail: its first
 * multiple of 4 unfused, the rest fused (as the compiled tail loop). */
typedef struct ct_aten_norm {
    float lane[8], b;
    size_t i, full, q;
} ct_aten_norm;

static inline void ct_aten_norm_init(ct_aten_norm *a, size_t n)
{
    memset(a, 0, sizeof *a);
    a->full = n - n % 8;
    a->q = a->full + ((n - a->full) - (n - a->full) % 4);
}

static inline float ct_aten_norm_lanes(const ct_aten_norm *a)
{
    float b = a->lane[0];
    for (int j = 1; j < 8; j++)
        b = b + a->lane[j];
    return b;
}

static inline void ct_aten_norm_add(ct_aten_norm *a, float x)
{
    if (a->i < a->full) {
        a->lane[a->i % 8] = a->lane[a->i % 8] + x * x;
    } else {
        if (a->i == a->full)
            a->b = ct_aten_norm_lanes(a);
        a->b = a->i < a->q ? a->b + x * x : fmaf(x, x, a->b);
    }
    a->i++;
}

/* The sum of squares (before the square root). */
static inline float ct_aten_norm_sumsq(const ct_aten_norm *a)
{
    return a->i == a->full ? ct_aten_norm_lanes(a) : a->b;
}

static inline float ct_aten_norm_get(const ct_aten_norm *a) { return sqrtf(ct_aten_norm_sumsq(a)); }

/* ---- sums over one dimension (SumKernel.cpp, cascade_sum) ------------- */

/* An element source: value k of a sequence. */
typedef float (*ct_aten_get)(const void *ctx, size_t k);

static inline size_t ct_aten_ceil_log2(size_t x)
{
    if (x <= 2)
        return 1;
    size_t r = 0;
    for (size_t v = x - 1; v; v >>= 1)
        r++;
    return r;
}

/* multi_row_sum for one lane (elements first + k*step, k < n, in levels)
 * and row_sum (4 interleaved partial sums, the tail into the first), for
 * float (ct_aten_multi_row_sum, ct_aten_row_sum) and double (..._d, as
 * ATen's 4-lane double vectors) from one source. */
#define CT_ATEN_ROW_SUMS(T, GET, MULTI, ROW)                                                   \
    static inline T MULTI(GET get, const void *ctx, size_t first, size_t step, size_t n)      \
    {                                                                                          \
        enum { LEVELS = 4 };                                                                   \
        size_t lp = ct_aten_ceil_log2(n) / LEVELS;                                             \
        if (lp < 4)                                                                            \
            lp = 4;                                                                            \
        const size_t ls = (size_t)1 << lp, lm = ls - 1;                                        \
        T acc[LEVELS] = {0, 0, 0, 0};                                                          \
        size_t i = 0;                                                                          \
        while (i + ls <= n) {                                                                  \
            for (size_t j = 0; j < ls; j++, i++)                                               \
                acc[0] = acc[0] + get(ctx, first + i * step);                                  \
            for (int j = 1; j < LEVELS; j++) {                                                 \
                acc[j] = acc[j] + acc[j - 1];                                                  \
                acc[j - 1] = 0;                                                                \
                if ((i & (lm << (j * lp))) != 0)                                               \
                    break;                                                                     \
            }                                                                                  \
        }                                                                                      \
        for (; i < n; i++)                                                                     \
            acc[0] = acc[0] + get(ctx, first + i * step);                                      \
        for (int j = 1; j < LEVELS; j++)                                                       \
            acc[0] = acc[0] + acc[j];                                                          \
        return acc[0];                                                                         \
    }                                                                                          \
    static inline T ROW(GET get, const void *ctx, size_t first, size_t step, size_t n)        \
    {                                                                                          \
        const size_t m = n / 4;                                                                \
        T p[4];                                                                                \
        for (size_t k = 0; k < 4; k++)                                                         \
            p[k] = MULTI(get, ctx, first + k * step, 4 * step, m);                             \
        for (size_t i = m * 4; i < n; i++)                                                     \
            p[0] = p[0] + get(ctx, first + i * step);                                          \
        return ((p[0] + p[1]) + p[2]) + p[3];                                                  \
    }

/* An element source of doubles. */
typedef double (*ct_aten_getd)(const void *ctx, size_t k);

CT_ATEN_ROW_SUMS(float, ct_aten_get, ct_aten_multi_row_sum, ct_aten_row_sum)
CT_ATEN_ROW_SUMS(double, ct_aten_getd, ct_aten_multi_row_sum_d, ct_aten_row_sum_d)

/* Sum of the contiguous run first .. first+n-1 (reducing the last dim). */
static inline float ct_aten_sum_inner(ct_aten_get get, const void *ctx, size_t first, size_t n)
{
    if (n < 8)
        return ct_aten_row_sum(get, ctx, first, 1, n);
    const size_t nv = n / 8;
    float acc = 0;
    for (size_t k = nv * 8; k < n; k++)
        acc = acc + get(ctx, first + k);
    for (size_t l = 0; l < 8; l++)
        acc = acc + ct_aten_row_sum(get, ctx, first + l, 8, nv);
    return acc;
}

/* Sum over the rows of column j of a contiguous R x C block at first
 * (reducing the second-to-last dim). */
static inline float ct_aten_sum_outer(ct_aten_get get, const void *ctx, size_t first, size_t R,
                                      size_t C, size_t j)
{
    const size_t multi = C >= 8 ? C / 32 * 32 : C / 4 * 4;
    return j < multi ? ct_aten_multi_row_sum(get, ctx, first + j, C, R)
                     : ct_aten_row_sum(get, ctx, first + j, C, R);
}

#endif
