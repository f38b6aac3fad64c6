/* The SIMD conversions of the converted pass (precision.c), written once and
 * compiled per level: included by precision.c with CT_PSIMD 1 (AVX2, 8
 * lanes) or 2 (AVX-512F, 16 lanes). Every function gives the bits of the
 * scalar reference it names (precision.h / precision.c): integer
 * operations and correctly rounded divisions and multiplications only.
 * n is any count; the last n % lanes elements take the scalar path.       */
#include <immintrin.h>

#if CT_PSIMD == 1
#define P_TGT __attribute__((target("avx2,fma")))
#define P(name) name##_avx2
#define P_N 8
#define VI __m256i
#define VFL __m256
#define F_LD(p) _mm256_loadu_ps(p)
#define F_ST(p, v) _mm256_storeu_ps(p, v)
#define F_SET(x) _mm256_set1_ps(x)
#define F_MUL(a, b) _mm256_mul_ps(a, b)
#define F_DIV(a, b) _mm256_div_ps(a, b)
#define F2I(v) _mm256_castps_si256(v)
#define I2F(v) _mm256_castsi256_ps(v)
#define I_SET(x) _mm256_set1_epi32((int)(x))
#define I_ADD(a, b) _mm256_add_epi32(a, b)
#define I_SUB(a, b) _mm256_sub_epi32(a, b)
#define I_AND(a, b) _mm256_and_si256(a, b)
#define I_OR(a, b) _mm256_or_si256(a, b)
#define I_SRL(a, k) _mm256_srli_epi32(a, k)
#define I_SRLX(a, x) _mm256_srl_epi32(a, x) /* x: the count in an __m128i */
#define I_SLL(a, k) _mm256_slli_epi32(a, k)
#define I_MAXU(a, b) _mm256_max_epu32(a, b)
#define I_MAXS(a, b) _mm256_max_epi32(a, b)
#define I_MINS(a, b) _mm256_min_epi32(a, b)
/* x + (a > b), x + (a == b) (signed compares; -1 where true) */
#define I_INC_GT(x, a, b) _mm256_sub_epi32(x, _mm256_cmpgt_epi32(a, b))
#define I_INC_EQ(x, a, b) _mm256_sub_epi32(x, _mm256_cmpeq_epi32(a, b))
/* a > b (signed) ? t : f */
#define I_SEL_GT(a, b, t, f) _mm256_blendv_epi8(f, t, _mm256_cmpgt_epi32(a, b))
#define I_SEL_EQ(a, b, t, f) _mm256_blendv_epi8(f, t, _mm256_cmpeq_epi32(a, b))
#define I_GATHER(base, idx) _mm256_i32gather_epi32((const int *)(base), idx, 4)
#define F_GATHER(base, idx) _mm256_i32gather_ps(base, idx, 4)
#define LD16(p) _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(p)))
#define LD8(p) _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(p)))
P_TGT static inline void P(st16)(uint16_t *p, VI v) /* lanes hold 0..0xffff */
{
    __m256i w = _mm256_permute4x64_epi64(_mm256_packus_epi32(v, v), 0x08);
    _mm_storeu_si128((__m128i *)p, _mm256_castsi256_si128(w));
}
P_TGT static inline void P(st8)(uint8_t *p, VI v) /* lanes hold 0..255 */
{
    __m128i w = _mm_packus_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    _mm_storel_epi64((__m128i *)p, _mm_packus_epi16(w, w));
}
#elif CT_PSIMD == 2
#define P_TGT __attribute__((target("avx512f,avx2,fma")))
#define P(name) name##_avx512
#define P_N 16
#define VI __m512i
#define VFL __m512
#define F_LD(p) _mm512_loadu_ps(p)
#define F_ST(p, v) _mm512_storeu_ps(p, v)
#define F_SET(x) _mm512_set1_ps(x)
#define F_MUL(a, b) _mm512_mul_ps(a, b)
#define F_DIV(a, b) _mm512_div_ps(a, b)
#define F2I(v) _mm512_castps_si512(v)
#define I2F(v) _mm512_castsi512_ps(v)
#define I_SET(x) _mm512_set1_epi32((int)(x))
#define I_ADD(a, b) _mm512_add_epi32(a, b)
#define I_SUB(a, b) _mm512_sub_epi32(a, b)
#define I_AND(a, b) _mm512_and_si512(a, b)
#define I_OR(a, b) _mm512_or_si512(a, b)
#define I_SRL(a, k) _mm512_srli_epi32(a, k)
#define I_SRLX(a, x) _mm512_srl_epi32(a, x)
#define I_SLL(a, k) _mm512_slli_epi32(a, k)
#define I_MAXU(a, b) _mm512_max_epu32(a, b)
#define I_MAXS(a, b) _mm512_max_epi32(a, b)
#define I_MINS(a, b) _mm512_min_epi32(a, b)
#define I_INC_GT(x, a, b) _mm512_mask_add_epi32(x, _mm512_cmpgt_epi32_mask(a, b), x, I_SET(1))
#define I_INC_EQ(x, a, b) _mm512_mask_add_epi32(x, _mm512_cmpeq_epi32_mask(a, b), x, I_SET(1))
#define I_SEL_GT(a, b, t, f) _mm512_mask_blend_epi32(_mm512_cmpgt_epi32_mask(a, b), f, t)
#define I_SEL_EQ(a, b, t, f) _mm512_mask_blend_epi32(_mm512_cmpeq_epi32_mask(a, b), f, t)
#define I_GATHER(base, idx) _mm512_i32gather_epi32(idx, (const void *)(base), 4)
#define F_GATHER(base, idx) _mm512_i32gather_ps(idx, (const void *)(base), 4)
#define LD16(p) _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)(p)))
#define LD8(p) _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(p)))
P_TGT static inline void P(st16)(uint16_t *p, VI v)
{
    _mm256_storeu_si256((__m256i *)p, _mm512_cvtepi32_epi16(v));
}
P_TGT static inline void P(st8)(uint8_t *p, VI v)
{
    _mm_storeu_si128((__m128i *)p, _mm512_cvtepi32_epi8(v));
}
#else
#error "CT_PSIMD must be 1 (AVX2) or 2 (AVX-512)"
#endif

/* ct_bf16_to_f32 over n elements */
P_TGT static void P(bf16_to_f32)(const uint16_t *h, float *x, size_t n)
{
    size_t j = 0;
    for (; j + P_N <= n; j += P_N)
        F_ST(x + j, I2F(I_SLL(LD16(h + j), 16)));
    for (; j < n; j++)
        x[j] = ct_bf16_to_f32(h[j]);
}

/* ct_f32_to_bf16 of one vector of float bits u */
P_TGT static inline VI P(bf16_rne)(VI u)
{
    VI r = I_SRL(I_ADD(I_ADD(u, I_SET(0x7fff)), I_AND(I_SRL(u, 16), I_SET(1))), 16);
    VI q = I_OR(I_SRL(u, 16), I_SET(0x40));
    return I_SEL_GT(I_AND(u, I_SET(0x7fffffff)), I_SET(0x7f800000), q, r);
}

/* ct_f32_to_bf16 over n elements */
P_TGT static void P(f32_to_bf16)(const float *x, uint16_t *h, size_t n)
{
    size_t j = 0;
    for (; j + P_N <= n; j += P_N)
        P(st16)(h + j, P(bf16_rne)(F2I(F_LD(x + j))));
    for (; j < n; j++)
        h[j] = ct_f32_to_bf16(x[j]);
}

/* x = bf16 g * scale; g = bf16(x) (a bf16 gradient scaled in place) */
P_TGT static void P(bf16_scale)(uint16_t *g, float *x, size_t n, float scale)
{
    const VFL s = F_SET(scale);
    size_t j = 0;
    for (; j + P_N <= n; j += P_N) {
        VFL v = F_MUL(I2F(I_SLL(LD16(g + j), 16)), s);
        F_ST(x + j, v);
        P(st16)(g + j, P(bf16_rne)(F2I(v)));
    }
    for (; j < n; j++) {
        x[j] = ct_bf16_to_f32(g[j]) * scale;
        g[j] = ct_f32_to_bf16(x[j]);
    }
}


/* The largest |x_j| of a block, as float bits (a block's absmax; NaN bits
 * compare above infinity's, so a NaN anywhere makes it NaN). */
P_TGT static uint32_t P(absmax_bits)(const float *x, size_t n)
{
    VI vab = I_SET(0);
    size_t j = 0;
    for (; j + P_N <= n; j += P_N)
        vab = I_MAXU(vab, I_AND(F2I(F_LD(x + j)), I_SET(0x7fffffff)));
    uint32_t lanes[P_N], ab = 0;
    memcpy(lanes, &vab, sizeof lanes);
    for (int l = 0; l < P_N; l++)
        ab = lanes[l] > ab ? lanes[l] : ab;
    for (; j < n; j++) {
        uint32_t u = ct_f2u(x[j]) & 0x7fffffffu;
        ab = u > ab ? u : ab;
    }
    return ab;
}

/* A block's absmax into *amax; 0 when it cannot be normalized (all zero,
 * an infinity or a NaN): then every code is already the map's zero. */
P_TGT static inline int P(q8_scale)(const ct_qmap *m, const float *x, size_t n, uint8_t *code,
                                    float *amax)
{
    uint32_t ab = P(absmax_bits)(x, n);
    *amax = ct_u2f(ab);
    if (!(*amax > 0) || ab >= 0x7f800000u) {
        memset(code, m->zero, n);
        return 0;
    }
    return 1;
}

#if CT_PSIMD == 2
/* 256-entry table lookup by the low 8 bits of j from 16 registers, without
 * a gather (slow on the AMD EPYC measured): 32 entries per two-register
 * permute, then a blend tree on bits 5, 6 and 7. */
P_TGT static inline __m512 P(lk32)(const __m512 *t, __m512i j)
{
    return _mm512_permutex2var_ps(t[0], j, t[1]);
}
P_TGT static inline __m512 P(lk64)(const __m512 *t, __m512i j)
{
    __mmask16 b5 = _mm512_test_epi32_mask(j, I_SET(32));
    return _mm512_mask_blend_ps(b5, P(lk32)(t, j), P(lk32)(t + 2, j));
}
P_TGT static inline __m512 P(lk128)(const __m512 *t, __m512i j)
{
    __mmask16 b6 = _mm512_test_epi32_mask(j, I_SET(64));
    return _mm512_mask_blend_ps(b6, P(lk64)(t, j), P(lk64)(t + 4, j));
}
P_TGT static inline __m512 P(lk256)(const __m512 *t, __m512i j)
{
    __mmask16 b7 = _mm512_test_epi32_mask(j, I_SET(128));
    return _mm512_mask_blend_ps(b7, P(lk128)(t, j), P(lk128)(t + 8, j));
}

/* ct_dq8_block */
P_TGT static void P(dq8)(const ct_qmap *m, const uint8_t *c, size_t n, float absmax, float *x)
{
    __m512 t[16];
    for (int r = 0; r < 16; r++)
        t[r] = _mm512_loadu_ps(m->v + 16 * r);
    const VFL a = F_SET(absmax);
    size_t j = 0;
    for (; j + P_N <= n; j += P_N)
        F_ST(x + j, F_MUL(P(lk256)(t, LD8(c + j)), a));
    for (; j < n; j++)
        x[j] = m->v[c[j]] * absmax;
}

/* The keys of the binary search over ct_qmap.bs, level by level. */
typedef struct {
    __m512 k0, k1, k2, k3, k4, k5[2], k6[4], k7[8], top;
} P(q8keys);

/* The codes of U vectors of normalized values q = x / absmax (U is a
 * constant after inlining). One search is a chain of dependent permutes and
 * compares, so U independent ones are interleaved level by level: the core
 * runs them side by side (a whole int8 AdamW step, measured here: U = 8
 * 1.3x faster than U = 1, U = 4 1.2x, U = 16 as 8).
 * Signed map: the number of thresholds above 0 below |q| (at or below, for
 * negative q) by the binary search, then the code by the map's symmetry;
 * unsigned: the number of thresholds below q. */
#define Q8_U 8
#define BS_LEVEL(keyexpr)                                                                        \
    for (int u = 0; u < U; u++) {                                                                \
        __m512 key_ = (keyexpr);                                                                 \
        __mmask16 s_ = _mm512_cmp_ps_mask(key_, a[u], _CMP_LT_OQ);                               \
        j[u] = _mm512_add_epi32(j[u], j[u]);                                                     \
        j[u] = _mm512_mask_add_epi32(j[u], s_, j[u], one);                                       \
    }
P_TGT static inline __attribute__((always_inline)) void
P(q8_vecs)(const P(q8keys) *K, int is_signed, int base_code, const float *x, VFL va,
           uint8_t *code, int U)
{
    const VI zero = I_SET(0), one = I_SET(1), base = I_SET(base_code);
    VI uu[Q8_U], ai[Q8_U], j[Q8_U];
    __m512 a[Q8_U];
    __mmask16 le[Q8_U];
    for (int u = 0; u < U; u++) {
        uu[u] = F2I(F_DIV(F_LD(x + u * P_N), va));
        ai[u] = I_AND(uu[u], I_SET(0x7fffffff));
        le[u] = _mm512_cmplt_epi32_mask(uu[u], zero); /* negative */
        /* signed: thresholds <= |q| for negative q are those < the next float up */
        a[u] = is_signed ? I2F(_mm512_mask_add_epi32(ai[u], le[u], ai[u], one)) : I2F(uu[u]);
        j[u] = zero;
    }
    BS_LEVEL(K->k0);
    BS_LEVEL(_mm512_permutexvar_ps(j[u], K->k1));
    BS_LEVEL(_mm512_permutexvar_ps(j[u], K->k2));
    BS_LEVEL(_mm512_permutexvar_ps(j[u], K->k3));
    BS_LEVEL(_mm512_permutexvar_ps(j[u], K->k4));
    BS_LEVEL(P(lk32)(K->k5, j[u]));
    BS_LEVEL(P(lk64)(K->k6, j[u]));
    if (is_signed) {
        for (int u = 0; u < U; u++) {
            VI ju = _mm512_mask_add_epi32(
                j[u], _mm512_cmp_ps_mask(K->top, a[u], _CMP_LT_OQ), j[u], one);
            VI cpos = I_MAXS(I_ADD(base, ju), I_ADD(base, one));
            VI cneg = I_MINS(I_SUB(base, I_MINS(ju, base)), I_SUB(base, one));
            VI c = _mm512_mask_blend_epi32(le[u], cpos, cneg);
            c = _mm512_mask_blend_epi32(_mm512_cmpeq_epi32_mask(ai[u], zero), c, base);
            P(st8)(code + u * P_N, c);
        }
    } else {
        BS_LEVEL(P(lk128)(K->k7, j[u]));
        for (int u = 0; u < U; u++) {
            /* -0, 0 and negatives: 0 (the map's zero) */
            VI c = _mm512_maskz_max_epi32(_mm512_cmpgt_epi32_mask(uu[u], zero), j[u], one);
            P(st8)(code + u * P_N, c);
        }
    }
}
#undef BS_LEVEL

/* q8_block at AVX-512 */
P_TGT static float P(q8)(const ct_qmap *m, const float *x, size_t n, uint8_t *code)
{
    float amax;
    if (!P(q8_scale)(m, x, n, code, &amax))
        return amax;
    const VFL va = F_SET(amax);
    P(q8keys) K;
    K.top = _mm512_set1_ps(m->bs_top);
    K.k0 = _mm512_set1_ps(m->bs[0]);
    K.k1 = _mm512_loadu_ps(m->bs + 1);
    K.k2 = _mm512_loadu_ps(m->bs + 3);
    K.k3 = _mm512_loadu_ps(m->bs + 7);
    K.k4 = _mm512_loadu_ps(m->bs + 15);
    for (int r = 0; r < 2; r++)
        K.k5[r] = _mm512_loadu_ps(m->bs + 31 + 16 * r);
    for (int r = 0; r < 4; r++)
        K.k6[r] = _mm512_loadu_ps(m->bs + 63 + 16 * r);
    const int is_signed = m->zero != 0;
    if (!is_signed) /* the unsigned map: 255 thresholds above 0 and +inf */
        for (int r = 0; r < 8; r++)
            K.k7[r] = _mm512_loadu_ps(m->bs + 127 + 16 * r);
    size_t j1 = 0;
    if (is_signed) { /* the signed map: 128 thresholds above 0 */
        for (; j1 + Q8_U * P_N <= n; j1 += Q8_U * P_N)
            P(q8_vecs)(&K, 1, m->zero, x + j1, va, code + j1, Q8_U);
        for (; j1 + P_N <= n; j1 += P_N)
            P(q8_vecs)(&K, 1, m->zero, x + j1, va, code + j1, 1);
    } else {
        for (; j1 + Q8_U * P_N <= n; j1 += Q8_U * P_N)
            P(q8_vecs)(&K, 0, 0, x + j1, va, code + j1, Q8_U);
        for (; j1 + P_N <= n; j1 += P_N)
            P(q8_vecs)(&K, 0, 0, x + j1, va, code + j1, 1);
    }
    for (; j1 < n; j1++)
        code[j1] = q8_code(m, x[j1] / amax);
    return amax;
}
#undef Q8_U
#else
/* ct_dq8_block */
P_TGT static void P(dq8)(const ct_qmap *m, const uint8_t *c, size_t n, float absmax, float *x)
{
    const VFL a = F_SET(absmax);
    size_t j = 0;
    for (; j + P_N <= n; j += P_N)
        F_ST(x + j, F_MUL(F_GATHER(m->v, LD8(c + j)), a));
    for (; j < n; j++)
        x[j] = m->v[c[j]] * absmax;
}

/* q8_block: the code of every element from its normalized value q's bits,
 * by one lookup in m->qt (see ct_qmap) and two integer compares. */
P_TGT static float P(q8)(const ct_qmap *m, const float *x, size_t n, uint8_t *code)
{
    float amax;
    if (!P(q8_scale)(m, x, n, code, &amax))
        return amax;
    const VFL va = F_SET(amax);
    const VI lo = I_SET(m->qt_lo), lowmask = I_SET((1u << m->qt_shift) - 1);
    const VI zero = I_SET(0), base = I_SET(m->zero), fmask = I_SET((1u << CT_QT_CBITS) - 1);
    const __m128i sh = _mm_cvtsi32_si128(m->qt_shift);
    const int is_signed = m->zero != 0;
    size_t j = 0;
    for (; j + P_N <= n; j += P_N) {
        VI u = F2I(F_DIV(F_LD(x + j), va));
        VI a = I_AND(u, I_SET(0x7fffffff));
        VI d = I_SUB(I_MAXU(a, lo), lo); /* a <= 1: below the table's end */
        VI low = I_AND(d, lowmask);
        VI ent = I_GATHER(m->qt, I_SRLX(d, sh));
        VI thr = I_AND(ent, fmask), lt = I_SRL(ent, CT_QT_CBITS);
        lt = I_INC_GT(lt, low, thr); /* thresholds < |q| */
        VI c;
        if (is_signed) {
            VI le = I_INC_EQ(lt, low, thr); /* thresholds <= |q| */
            VI cpos = I_MAXS(I_ADD(base, lt), I_ADD(base, I_SET(1)));
            VI cneg = I_MINS(I_SUB(base, I_MINS(le, base)), I_SUB(base, I_SET(1)));
            c = I_SEL_GT(zero, u, cneg, cpos); /* sign bit set: u < 0 */
            c = I_SEL_EQ(a, zero, base, c);
        } else {
            c = I_MAXS(lt, I_SET(1));
            c = I_SEL_GT(u, zero, c, zero); /* -0, 0 and negatives: 0 */
        }
        P(st8)(code + j, c);
    }
    for (; j < n; j++)
        code[j] = q8_code(m, x[j] / amax);
    return amax;
}
#endif

#undef P_TGT
#undef P
#undef P_N
#undef VI
#undef VFL
#undef F_LD
#undef F_ST
#undef F_SET
#undef F_MUL
#undef F_DIV
#undef F2I
#undef I2F
#undef I_SET
#undef I_ADD
#undef I_SUB
#undef I_AND
#undef I_OR
#undef I_SRL
#undef I_SRLX
#undef I_SLL
#undef I_MAXU
#undef I_MAXS
#undef I_MINS
#undef I_INC_GT
#undef I_INC_EQ
#undef I_SEL_GT
#undef I_SEL_EQ
#undef I_GATHER
#undef F_GATHER
#undef LD16
#undef LD8
