/* The non-finite gradient check of a step: the first index where
 * grad * scale is NaN or infinite, at every SIMD level. The vector loop
 * adds x - x over the chunk (0 for finite x, NaN for NaN or +-inf), so a
 * chunk costs one load and two operations per element; only a chunk that
 * holds a bad value is rescanned by the scalar loop for its first index. */
#ifndef CT_SIMD_LEVEL
#include <math.h>
#include <stdint.h>

#include "../core/cpu.h"
#include "optim_impl.h"

static size_t first_nonfinite_scalar(const float *g, size_t b, size_t e, float scale)
{
    for (size_t j = b; j < e; j++)
        if (!isfinite(g[j] * scale))
            return j;
    return SIZE_MAX;
}

#define CT_SIMD_SELF "gradcheck.c"
#include "simd_each.h"

size_t ct_first_nonfinite(int level, const float *g, size_t b, size_t e, float scale)
{
#if defined(__x86_64__)
    if (level == CT_CPU_AVX512)
        return first_nonfinite_avx512(g, b, e, scale);
    if (level == CT_CPU_AVX2)
        return first_nonfinite_avx2(g, b, e, scale);
#else
    (void)level;
#endif
    return first_nonfinite_scalar(g, b, e, scale);
}

#else /* one SIMD level */

static CT_TGT size_t CT_V(first_nonfinite)(const float *g, size_t b, size_t e, float scale)
{
    const VF vs = V_SET(scale);
    VF acc = V_SET(0.0f);
    size_t i = b;
    if (scale == 1.0f) {
        for (; i + V_N <= e; i += V_N) {
            VF x = V_LD(g + i);
            acc = V_ADD(acc, V_SUB(x, x));
        }
    } else {
        for (; i + V_N <= e; i += V_N) {
            VF x = V_MUL(V_LD(g + i), vs);
            acc = V_ADD(acc, V_SUB(x, x));
        }
    }
    if (V_ANY(V_ISNAN(acc)))
        return first_nonfinite_scalar(g, b, i, scale);
    return first_nonfinite_scalar(g, i, e, scale);
}

#endif
