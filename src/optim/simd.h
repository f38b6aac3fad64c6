/* Vector operations for the SIMD kernels, one set per level. A kind writes
 * its SIMD kernel once with these macros; simd_each.h compiles it for every
 * level (AVX2+FMA, 8 lanes; AVX-512F, 16 lanes).
 *
 * Every macro is one IEEE operation with the same rounding as the scalar
 * C expression it replaces (add, sub, mul, div and sqrt correctly rounded;
 * V_FMA is fmaf, one rounding; V_MAX(a, b) is `a > b ? a : b`, b for NaN;
 * V_NEG flips the sign bit as unary minus does), so a SIMD kernel that
 * mirrors the scalar reference's expression tree gives the same bits. Only
 * intrinsics are used on vectors: no C operator a compiler could contract.
 *
 * Included with CT_SIMD_LEVEL 1 or 2 defined; simd_end.h undoes it.        */
#include <immintrin.h>

#if CT_SIMD_LEVEL == 1
#define CT_TGT __attribute__((target("avx2,fma")))
#define CT_V(name) name##_avx2
#define V_N 8
#define VF __m256
#define VM __m256
#define V_SET(x) _mm256_set1_ps(x)
#define V_LD(p) _mm256_loadu_ps(p)
#define V_ST(p, v) _mm256_storeu_ps(p, v)
#define V_ADD(a, b) _mm256_add_ps(a, b)
#define V_SUB(a, b) _mm256_sub_ps(a, b)
#define V_MUL(a, b) _mm256_mul_ps(a, b)
#define V_DIV(a, b) _mm256_div_ps(a, b)
#define V_FMA(a, b, c) _mm256_fmadd_ps(a, b, c)
#define V_SQRT(a) _mm256_sqrt_ps(a)
#define V_MAX(a, b) _mm256_max_ps(a, b)
#define V_NEG(a) _mm256_xor_ps(a, _mm256_set1_ps(-0.0f))
#define V_ABS(a) _mm256_andnot_ps(_mm256_set1_ps(-0.0f), a)
#define V_GT(a, b) _mm256_cmp_ps(a, b, _CMP_GT_OQ)
#define V_LT(a, b) _mm256_cmp_ps(a, b, _CMP_LT_OQ)
#define V_EQ(a, b) _mm256_cmp_ps(a, b, _CMP_EQ_OQ)
#define V_ISNAN(a) _mm256_cmp_ps(a, a, _CMP_UNORD_Q)
#define V_MOR(a, b) _mm256_or_ps(a, b)
#define V_SEL(m, a, b) _mm256_blendv_ps(b, a, m) /* m ? a : b */
#define V_ANY(m) (_mm256_movemask_ps(m) != 0)
#define VI __m256i
#define VI_LD16(p) _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(p)))
#define VI_ST16(p, v)                                                                            \
    _mm_storeu_si128((__m128i *)(p),                                                             \
                     _mm256_castsi256_si128(_mm256_permute4x64_epi64(                             \
                         _mm256_packus_epi32(v, v), 0x08))) /* lanes hold 0..0xffff */
#define VI_SET(x) _mm256_set1_epi32((int)(x))
#define VI_ADD(a, b) _mm256_add_epi32(a, b)
#define VI_AND(a, b) _mm256_and_si256(a, b)
#define VI_OR(a, b) _mm256_or_si256(a, b)
#define VI_SRL(a, k) _mm256_srli_epi32(a, k)
#define VI_SLL(a, k) _mm256_slli_epi32(a, k)
#define VI_SEL_GT(a, b, t, f) _mm256_blendv_epi8(f, t, _mm256_cmpgt_epi32(a, b))
#define V_F2I(v) _mm256_castps_si256(v)
#define V_I2F(v) _mm256_castsi256_ps(v)
#elif CT_SIMD_LEVEL == 2
#define CT_TGT __attribute__((target("avx512f,avx2,fma")))
#define CT_V(name) name##_avx512
#define V_N 16
#define VF __m512
#define VM __mmask16
#define V_SET(x) _mm512_set1_ps(x)
#define V_LD(p) _mm512_loadu_ps(p)
#define V_ST(p, v) _mm512_storeu_ps(p, v)
#define V_ADD(a, b) _mm512_add_ps(a, b)
#define V_SUB(a, b) _mm512_sub_ps(a, b)
#define V_MUL(a, b) _mm512_mul_ps(a, b)
#define V_DIV(a, b) _mm512_div_ps(a, b)
#define V_FMA(a, b, c) _mm512_fmadd_ps(a, b, c)
#define V_SQRT(a) _mm512_sqrt_ps(a)
#define V_MAX(a, b) _mm512_max_ps(a, b)
#define V_NEG(a)                                                                                 \
    _mm512_castsi512_ps(_mm512_xor_si512(_mm512_castps_si512(a), _mm512_set1_epi32(INT32_MIN)))
#define V_ABS(a)                                                                                 \
    _mm512_castsi512_ps(_mm512_and_si512(_mm512_castps_si512(a), _mm512_set1_epi32(INT32_MAX)))
#define V_GT(a, b) _mm512_cmp_ps_mask(a, b, _CMP_GT_OQ)
#define V_LT(a, b) _mm512_cmp_ps_mask(a, b, _CMP_LT_OQ)
#define V_EQ(a, b) _mm512_cmp_ps_mask(a, b, _CMP_EQ_OQ)
#define V_ISNAN(a) _mm512_cmp_ps_mask(a, a, _CMP_UNORD_Q)
#define V_MOR(a, b) ((__mmask16)((a) | (b)))
#define V_SEL(m, a, b) _mm512_mask_blend_ps(m, b, a) /* m ? a : b */
#define V_ANY(m) ((m) != 0)
#define VI __m512i
#define VI_LD16(p) _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)(p)))
#define VI_ST16(p, v) _mm256_storeu_si256((__m256i *)(p), _mm512_cvtepi32_epi16(v))
#define VI_SET(x) _mm512_set1_epi32((int)(x))
#define VI_ADD(a, b) _mm512_add_epi32(a, b)
#define VI_AND(a, b) _mm512_and_si512(a, b)
#define VI_OR(a, b) _mm512_or_si512(a, b)
#define VI_SRL(a, k) _mm512_srli_epi32(a, k)
#define VI_SLL(a, k) _mm512_slli_epi32(a, k)
#define VI_SEL_GT(a, b, t, f) _mm512_mask_blend_epi32(_mm512_cmpgt_epi32_mask(a, b), f, t)
#define V_F2I(v) _mm512_castps_si512(v)
#define V_I2F(v) _mm512_castsi512_ps(v)
#else
#error "CT_SIMD_LEVEL must be 1 (AVX2) or 2 (AVX-512)"
#endif

/* bfloat16 in and out of a vector, the bits of precision.h's
 * ct_bf16_to_f32 and ct_f32_to_bf16 (round to nearest even; NaN stays a
 * quiet NaN): V_LDH(p) loads V_N bf16 values at p, V_STH(p, x) stores x. */
#define V_LDH(p) V_I2F(VI_SLL(VI_LD16(p), 16))
#define V_STH(p, x)                                                                              \
    do {                                                                                         \
        VI u_ = V_F2I(x);                                                                        \
        VI r_ = VI_SRL(VI_ADD(VI_ADD(u_, VI_SET(0x7fff)), VI_AND(VI_SRL(u_, 16), VI_SET(1))), 16); \
        VI q_ = VI_OR(VI_SRL(u_, 16), VI_SET(0x40));                                             \
        VI_ST16(p, VI_SEL_GT(VI_AND(u_, VI_SET(0x7fffffff)), VI_SET(0x7f800000), q_, r_));       \
    } while (0)

/* A kind's SIMD loop written once for every storage (see
 * ct_optim_kind.fused): inside a function with `const ct_slot *s`, `int pm`
 * (CT_PM_*) and `int sbf16` in scope, constants after inlining, and
 * V_IO_DECL() at its start, V_LDG(i) loads the gradient, V_LDP(i) the
 * parameter (the master copy if there is one), V_STP(i, x) stores the
 * parameter (the master copy and its bf16 rounding), V_LDS(k, i) and
 * V_STS(k, i, x) state buffer k (bf16 if sbf16). With pm = CT_PM_F32 and
 * sbf16 = 0 they are plain V_LD / V_ST, so the fp32 kernel is the same loop. */
#define V_IO_DECL()                                                                              \
    float *const io_p_ = pm == CT_PM_MASTER ? s->state[s->master] : (float *)s->p.data;         \
    uint16_t *const io_ph_ = (uint16_t *)s->p.data;                                              \
    const float *const io_g_ = (const float *)s->p.grad;                                         \
    const uint16_t *const io_gh_ = (const uint16_t *)s->p.grad
#define V_LDG(i) (pm == CT_PM_F32 ? V_LD(io_g_ + (i)) : V_LDH(io_gh_ + (i)))
#define V_LDP(i) (pm == CT_PM_BF16 ? V_LDH(io_ph_ + (i)) : V_LD(io_p_ + (i)))
#define V_STP(i, x)                                                                              \
    do {                                                                                         \
        if (pm != CT_PM_BF16)                                                                    \
            V_ST(io_p_ + (i), x);                                                                \
        if (pm != CT_PM_F32)                                                                     \
            V_STH(io_ph_ + (i), x);                                                              \
    } while (0)
#define V_LDS(k, i) (sbf16 ? V_LDH((const uint16_t *)s->raw[k] + (i)) : V_LD(s->state[k] + (i)))
#define V_STS(k, i, x)                                                                           \
    do {                                                                                         \
        if (sbf16)                                                                               \
            V_STH((uint16_t *)s->raw[k] + (i), x);                                               \
        else                                                                                     \
            V_ST(s->state[k] + (i), x);                                                          \
    } while (0)
/* For such a loop `size_t CT_V(body)(hp, s, b, e, pm, sbf16)` (always
 * inline, returning where whole vectors end): the kind's fused entry, one
 * instance per storage form with the reduced-precision conversions. */
#define V_FUSED_FN(name, body)                                                                   \
    static CT_TGT size_t CT_V(name)(const double *hp, const ct_slot *s, size_t b, size_t e,     \
                                    int pm, int sbf16)                                           \
    {                                                                                            \
        if (pm == CT_PM_F32)                                                                     \
            return sbf16 ? CT_V(body)(hp, s, b, e, CT_PM_F32, 1) : b;                            \
        if (pm == CT_PM_MASTER)                                                                  \
            return sbf16 ? CT_V(body)(hp, s, b, e, CT_PM_MASTER, 1)                              \
                         : CT_V(body)(hp, s, b, e, CT_PM_MASTER, 0);                             \
        return sbf16 ? CT_V(body)(hp, s, b, e, CT_PM_BF16, 1)                                    \
                     : CT_V(body)(hp, s, b, e, CT_PM_BF16, 0);                                   \
    }
#define V_BODY static inline __attribute__((always_inline)) CT_TGT size_t
/* The usual pair from such a body: fused_v for the converted pass and the
 * fp32 kernel kernel_v, whose tail runs the kind's scalar kernel `scalar`. */
#define V_KERNELS(body, scalar)                                                                  \
    V_FUSED_FN(fused_v, body)                                                                    \
    static CT_TGT void CT_V(kernel_v)(int phase, const double *hp, const ct_slot *s, size_t b,  \
                                      size_t e, double *red)                                     \
    {                                                                                            \
        size_t i_ = CT_V(body)(hp, s, b, e, CT_PM_F32, 0);                                       \
        if (i_ < e)                                                                              \
            scalar(phase, hp, s, i_, e, red);                                                    \
    }

/* ATen's lerp(s, e, w) (Lerp.h): |w| < 0.5 -> s + w (e - s), else
 * e - (1 - w) (e - s), each one fused multiply-add; `small` is |w| < 0.5,
 * neg_omw is -(1 - w) as the scalar kernels compute it. */
#define V_LERP(s, e, small, vw, vneg_omw)                                                        \
    ((small) ? V_FMA(vw, V_SUB(e, s), s) : V_FMA(vneg_omw, V_SUB(e, s), e))

/* The start of torch.optim's element updates (Adam, AdamW, NAdam, RAdam,
 * Lion): the gradient negated for maximize, then weight decay, coupled
 * (g = g + wd p, ATen's add(alpha) fused) or decoupled (p = p * decay,
 * decay = 1 - lr wd). g and p are VF variables, updated in place. */
#define V_GRAD_DECAY(g, p, maximize, has_wd, decoupled, wd, decay)                              \
    do {                                                                                         \
        if (maximize)                                                                            \
            g = V_NEG(g);                                                                        \
        if (has_wd) {                                                                            \
            if (decoupled)                                                                       \
                p = V_MUL(p, decay);                                                             \
            else                                                                                 \
                g = V_FMA(wd, p, g);                                                             \
        }                                                                                        \
    } while (0)

/* Adam's moments at element i: exp_avg lerped toward g (lerp_, weight w1),
 * exp_avg_sq = b2 v + w2 g g (mul_, addcmul_), both stored; mi and vi (VF
 * variables) receive them. */
#define V_ADAM_MOMENTS(m, v, i, g, mi, vi, w1_small, w1, neg_omw1, w2, b2)                       \
    do {                                                                                         \
        V_ADAM_MOMENTS_OF(V_LD((m) + (i)), V_LD((v) + (i)), g, mi, vi, w1_small, w1, neg_omw1,   \
                          w2, b2);                                                               \
        V_ST((m) + (i), mi);                                                                     \
        V_ST((v) + (i), vi);                                                                     \
    } while (0)
/* The same from the old moments' values m0 and v0, nothing stored. */
#define V_ADAM_MOMENTS_OF(m0, v0, g, mi, vi, w1_small, w1, neg_omw1, w2, b2)                     \
    do {                                                                                         \
        mi = V_LERP(m0, g, w1_small, w1, neg_omw1);                                              \
        vi = V_FMA(V_MUL(w2, g), g, V_MUL(v0, b2));                                              \
    } while (0)

/* ATen's float 2-norm (aten_reduce.h, ct_aten_norm) fed the n values x[0..n)
 * in order: whole runs of 8 that start on a lane boundary below a->full go
 * to the 8 lanes at once (lane + x*x, unfused, as ct_aten_norm_add does);
 * everything else one value at a time through ct_aten_norm_add compiled for
 * the baseline. The same additions in the same order: the same bits. For
 * kinds that include aten_reduce.h before simd_each.h. */
#ifdef CT_OPTIM_ATEN_REDUCE_H
#ifndef CT_SIMD_NORM_ADD1
#define CT_SIMD_NORM_ADD1
static __attribute__((noinline, unused)) void ct_simd_norm_add1(ct_aten_norm *a, float x)
{
    ct_aten_norm_add(a, x);
}
#endif
static inline CT_TGT void CT_V(v_norm_feed)(ct_aten_norm *a, const float *x, size_t n)
{
    size_t k = 0;
    while (k < n) {
        if (a->i % 8 == 0 && a->i + 8 <= a->full && k + 8 <= n) {
            __m256 acc = _mm256_loadu_ps(a->lane);
            do {
                __m256 v = _mm256_loadu_ps(x + k);
                acc = _mm256_add_ps(acc, _mm256_mul_ps(v, v));
                k += 8, a->i += 8;
            } while (a->i + 8 <= a->full && k + 8 <= n);
            _mm256_storeu_ps(a->lane, acc);
        } else {
            ct_simd_norm_add1(a, x[k++]);
        }
    }
}
#endif
