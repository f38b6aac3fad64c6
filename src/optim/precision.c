/* Reduced precision in the optimizer engine (see precision.h):
 *  - 8-bit blockwise optimizer state: Dettmers, Lewis, Shleifer &
 *    Zettlemoyer 2022, "8-bit Optimizers via Block-wise Quantization"
 *    (ICLR 2022), section 2: blocks of 256 elements, each normalized by its
 *    absolute maximum and coded by the nearest entry of the 256-entry
 *    dynamic map (signed for first moments and momentum, unsigned for second
 *    moments, as bitsandbytes' Optimizer8bit uses "dynamic" and "udynamic");
 *    dequantize, update, requantize in one pass over the block.
 *  - bf16 state and bf16 / fp16 parameters and gradients with an optional
 *    fp32 master copy.
 * The kind's own fp32 kernel (scalar or SIMD) does the update on fp32
 * scratch of the calling thread, one CT_SUB-element sub-chunk at a time, so
 * the numbers of an update are the kind's fp32 numbers on the dequantized
 * inputs, whatever the thread count. The conversions into and out of the
 * scratch run at the optimizer's SIMD level (precision_simd.h: AVX2 and
 * AVX-512 forms of the scalar reference here, bit for bit the same).      */
#include "precision.h"

#include <math.h>
#include <stdlib.h>

#include "optim_impl.h"

void ct_qmap_build(ct_qmap *m, int is_signed)
{
    double d[256];
    int n = 0;
    for (int i = 0; i < 7; i++) {
        int items = is_signed ? 1 << i : 1 << (i + 1); /* midpoints per sign */
        double scale = pow(10.0, i - 6);
        /* linspace(0.1, 1, items + 1) as NumPy computes it: k * step + start,
         * the last point exactly 1 */
        const double step = (1.0 - 0.1) / items;
        for (int k = 0; k < items; k++) {
            double lo = k * step + 0.1, hi = k + 1 == items ? 1.0 : (k + 1) * step + 0.1;
            double mean = (lo + hi) / 2;
            d[n++] = scale * mean;
            if (is_signed)
                d[n++] = -scale * mean;
        }
    }
    d[n++] = 0;
    d[n++] = 1;
    /* n == 256; insertion sort (256 entries, once per optimizer) */
    for (int i = 1; i < n; i++) {
        double x = d[i];
        int j = i - 1;
        while (j >= 0 && d[j] > x) {
            d[j + 1] = d[j];
            j--;
        }
        d[j + 1] = x;
    }
    for (int i = 0; i < 256; i++) {
        m->v[i] = (float)d[i];
        if (d[i] == 0)
            m->zero = (uint8_t)i;
    }
    for (int i = 0; i < 256; i++)
        for (int b = 0; b < 4; b++)
            m->vbytes[b][i] = (uint8_t)(ct_f2u(m->v[i]) >> (8 * b));
#if defined(__x86_64__)
    m->vbmi = __builtin_cpu_supports("avx512vbmi") && __builtin_cpu_supports("avx512bw");
#else
    m->vbmi = 0;
#endif
    for (int i = 0; i < 255; i++)
        m->mid[i] = (float)((d[i] + d[i + 1]) / 2);
    for (int i = 255; i < 260; i++)
        m->mid[i] = INFINITY;
    for (uint32_t k = 0; k < (1u << (32 - CT_QLUT_SHIFT)); k++) {
        /* the lowest float of the bucket: its smallest bits if positive,
         * its largest if negative */
        uint32_t lo = k << CT_QLUT_SHIFT, hi = lo | ((1u << CT_QLUT_SHIFT) - 1);
        float x = ct_u2f(k >> (31 - CT_QLUT_SHIFT) ? hi : lo);
        unsigned c = 0;
        if (x != x) /* NaN buckets: never used for a finite x / absmax */
            c = 0;
        else
            while (c < 255 && m->mid[c] < x)
                c++;
        m->lut[k] = (uint8_t)c;
    }
    /* thresholds inside each finite bucket of [-1, 1] */
    m->steps = 0;
    for (uint32_t k = 0; k < (1u << (32 - CT_QLUT_SHIFT)); k++) {
        uint32_t lo = k << CT_QLUT_SHIFT, hi = lo | ((1u << CT_QLUT_SHIFT) - 1);
        float a = ct_u2f(lo), b = ct_u2f(hi);
        if (!(fabsf(a) <= 1) && !(fabsf(b) <= 1))
            continue;
        float top = k >> (31 - CT_QLUT_SHIFT) ? a : b; /* the bucket's highest float */
        int in = 0;
        for (int c = m->lut[k]; c < 255 && m->mid[c] < top; c++)
            in++;
        m->steps = in > m->steps ? in : m->steps;
    }
    /* q8_code looks 3 thresholds up: 5 mantissa bits per bucket give at most
     * 3 for both maps (the unsigned map's top decade: spacing 0.007) */
    if (m->steps > 3)
        abort();
    /* The SIMD coders' tables (see ct_qmap) over the thresholds above 0,
     * mid[zero..254]. The bucket table takes the widest buckets that hold
     * at most one each (signed map: 2^17 floats; unsigned: 2^16). */
    const int nt = 255 - m->zero;
    uint32_t t[256]; /* their bits: ordered as they are (all positive) */
    for (int i = 0; i < nt; i++)
        t[i] = ct_f2u(m->mid[m->zero + i]);
    /* the AVX-512 coder's binary search keys (see ct_qmap) */
    float tp[256];
    m->bs_levels = nt > 128 ? 8 : 7;
    for (int i = 0; i < 256; i++)
        tp[i] = i < nt ? m->mid[m->zero + i] : INFINITY;
    for (int L = 0; L < m->bs_levels; L++) {
        int st = 1 << (m->bs_levels - 1 - L);
        for (int j = 0; j < 1 << L; j++)
            m->bs[(1 << L) - 1 + j] = tp[j * 2 * st + st - 1];
    }
    m->bs_top = tp[(1 << m->bs_levels) - 1];
    /* the AVX2 coder's bucket table */
    m->qt_lo = (t[0] - 1) & 0x7f800000u; /* a power of two below them all */
    for (m->qt_shift = 17; m->qt_shift >= 12; m->qt_shift--) {
        uint32_t nb = ((0x3f800000u - m->qt_lo) >> m->qt_shift) + 1;
        if (nb > CT_QT_MAX)
            abort();
        int ok = 1, i = 0;
        for (uint32_t k = 0; k < nb && ok; k++) {
            uint32_t lo = m->qt_lo + (k << m->qt_shift), hi = lo + (1u << m->qt_shift) - 1;
            while (i < nt && t[i] < lo)
                i++;
            uint32_t cnt = (uint32_t)i, field = CT_QT_FIELD;
            if (i < nt && t[i] <= hi) {
                field = t[i] - lo;
                ok = !(i + 1 < nt && t[i + 1] <= hi);
            }
            m->qt[k] = cnt << CT_QT_CBITS | field;
        }
        if (ok)
            return;
    }
    abort();
}

/* The number of thresholds below x: from the bucket's lower bound up. */
static inline uint8_t q8_code(const ct_qmap *m, float x)
{
    unsigned c = m->lut[ct_f2u(x) >> CT_QLUT_SHIFT];
    /* the thresholds below x from c on are contiguous: count them with
     * independent compares (at most 3 per bucket: ct_qmap_build checks) */
    c += (m->mid[c] < x) + (m->mid[c + 1] < x) + (m->mid[c + 2] < x);
    /* a nonzero value never stores as 0: it takes the entry of its own sign
     * nearest to 0 (bitsandbytes keeps the sign of negative first moments
     * so; ctrain does it for every value: an exp_avg_sq stored as 0 makes the
     * next Adam update m / (sqrt(0.001 g^2) + eps), which diverged the demo
     * CNN with min_8bit_size=0) */
    if (c == m->zero && x != 0)
        c = x > 0 ? c + 1 : (c > 0 ? c - 1 : c);
    return (uint8_t)c;
}

#define CT_ALWAYS_INLINE static inline __attribute__((always_inline))

CT_ALWAYS_INLINE float q8_block(const ct_qmap *m, const float *x, size_t n, uint8_t *code,
                                float *tmp)
{
    /* max |x| on the bits: for non-negative floats their order (vectorizes;
     * a NaN, whose bits are above infinity's, makes the block NaN) */
    uint32_t ab = 0;
    for (size_t j = 0; j < n; j++) {
        uint32_t u = ct_f2u(x[j]) & 0x7fffffffu;
        ab = u > ab ? u : ab;
    }
    float amax = ct_u2f(ab);
    if (!(amax > 0) || ab >= 0x7f800000u) {
        /* all zero, or an infinity or NaN: the block cannot be normalized */
        for (size_t j = 0; j < n; j++)
            code[j] = m->zero;
        return amax;
    }
    for (size_t j = 0; j < n; j++) /* vectorizes: the divisions apart */
        tmp[j] = x[j] / amax;
    for (size_t j = 0; j < n; j++)
        code[j] = q8_code(m, tmp[j]);
    return amax;
}

float ct_q8_block(const ct_qmap *m, const float *x, size_t n, uint8_t *code)
{
    float tmp[CT_QBLOCK];
    return q8_block(m, x, n, code, tmp);
}

#if defined(__x86_64__)
#define CT_PSIMD 1
#include "precision_simd.h"
#undef CT_PSIMD
#define CT_PSIMD 2
#include "precision_simd.h"
#undef CT_PSIMD
#endif

/* The conversions of the pass at SIMD level lvl (0: scalar, the reference;
 * 1: AVX2; 2: AVX-512), all giving the scalar bits. */
static void cv_bf16_to_f32(int lvl, const uint16_t *h, float *x, size_t n)
{
#if defined(__x86_64__)
    if (lvl == 2) {
        bf16_to_f32_avx512(h, x, n);
        return;
    }
    if (lvl == 1) {
        bf16_to_f32_avx2(h, x, n);
        return;
    }
#endif
    (void)lvl;
    for (size_t j = 0; j < n; j++)
        x[j] = ct_bf16_to_f32(h[j]);
}

static void cv_f32_to_bf16(int lvl, const float *x, uint16_t *h, size_t n)
{
#if defined(__x86_64__)
    if (lvl == 2) {
        f32_to_bf16_avx512(x, h, n);
        return;
    }
    if (lvl == 1) {
        f32_to_bf16_avx2(x, h, n);
        return;
    }
#endif
    (void)lvl;
    for (size_t j = 0; j < n; j++)
        h[j] = ct_f32_to_bf16(x[j]);
}

static void cv_bf16_scale(int lvl, uint16_t *g, float *x, size_t n, float scale)
{
#if defined(__x86_64__)
    if (lvl == 2) {
        bf16_scale_avx512(g, x, n, scale);
        return;
    }
    if (lvl == 1) {
        bf16_scale_avx2(g, x, n, scale);
        return;
    }
#endif
    (void)lvl;
    for (size_t j = 0; j < n; j++) {
        x[j] = ct_bf16_to_f32(g[j]) * scale;
        g[j] = ct_f32_to_bf16(x[j]);
    }
}

#if defined(__x86_64__)
#define VBMI_TGT __attribute__((target("avx512f,avx512bw,avx512vbmi")))
/* ct_dq8_block by AVX-512 VBMI, 64 codes at a time: each byte of the
 * 64 map values by two 128-entry byte permutes (vpermi2b) and a blend on
 * the code's top bit, the four byte planes interleaved into 64 floats
 * (bytes, then 16-bit pairs, then a 4 x 4 transpose of 128-bit lanes);
 * the rest by dq8_avx512. Measured on the int8 AdamW step: dq8_avx512's
 * 256-entry float lookup (eight two-register permutes and seven blends per
 * 16 codes) was a quarter of the step. */
VBMI_TGT static void dq8_vbmi(const ct_qmap *m, const uint8_t *c, size_t n, float absmax,
                              float *x)
{
    __m512i t[4][4];
    for (int b = 0; b < 4; b++)
        for (int r = 0; r < 4; r++)
            t[b][r] = _mm512_loadu_si512((const void *)(m->vbytes[b] + 64 * r));
    const __m512 a = _mm512_set1_ps(absmax);
    size_t j = 0;
    for (; j + 64 <= n; j += 64) {
        __m512i idx = _mm512_loadu_si512((const void *)(c + j));
        __mmask64 top = _mm512_movepi8_mask(idx);
        __m512i pb[4];
        for (int b = 0; b < 4; b++)
            pb[b] = _mm512_mask_blend_epi8(top, _mm512_permutex2var_epi8(t[b][0], idx, t[b][1]),
                                           _mm512_permutex2var_epi8(t[b][2], idx, t[b][3]));
        /* per 128-bit lane L, d[r] holds the values of codes 16 L + 4 r .. + 3 */
        __m512i lo01 = _mm512_unpacklo_epi8(pb[0], pb[1]), hi01 = _mm512_unpackhi_epi8(pb[0], pb[1]);
        __m512i lo23 = _mm512_unpacklo_epi8(pb[2], pb[3]), hi23 = _mm512_unpackhi_epi8(pb[2], pb[3]);
        __m512i d0 = _mm512_unpacklo_epi16(lo01, lo23), d1 = _mm512_unpackhi_epi16(lo01, lo23);
        __m512i d2 = _mm512_unpacklo_epi16(hi01, hi23), d3 = _mm512_unpackhi_epi16(hi01, hi23);
        __m512i t0 = _mm512_shuffle_i64x2(d0, d1, 0x44), t1 = _mm512_shuffle_i64x2(d0, d1, 0xee);
        __m512i t2 = _mm512_shuffle_i64x2(d2, d3, 0x44), t3 = _mm512_shuffle_i64x2(d2, d3, 0xee);
        __m512i o[4] = {_mm512_shuffle_i64x2(t0, t2, 0x88), _mm512_shuffle_i64x2(t0, t2, 0xdd),
                        _mm512_shuffle_i64x2(t1, t3, 0x88), _mm512_shuffle_i64x2(t1, t3, 0xdd)};
        for (int k = 0; k < 4; k++)
            _mm512_storeu_ps(x + j + 16 * k, _mm512_mul_ps(_mm512_castsi512_ps(o[k]), a));
    }
    if (j < n)
        dq8_avx512(m, c + j, n - j, absmax, x + j);
}
#endif

static void cv_dq8(int lvl, const ct_qmap *m, const uint8_t *c, size_t n, float absmax, float *x)
{
#if defined(__x86_64__)
    if (lvl == 2 && m->vbmi) {
        dq8_vbmi(m, c, n, absmax, x);
        return;
    }
    if (lvl == 2 || lvl == CT_PREC_AVX512_NO_VBMI) {
        dq8_avx512(m, c, n, absmax, x);
        return;
    }
    if (lvl == 1) {
        dq8_avx2(m, c, n, absmax, x);
        return;
    }
#endif
    (void)lvl;
    ct_dq8_block(m, c, n, absmax, x);
}

static float cv_q8(int lvl, const ct_qmap *m, const float *x, size_t n, uint8_t *code, float *tmp)
{
#if defined(__x86_64__)
    if (lvl == 2)
        return q8_avx512(m, x, n, code);
    if (lvl == 1)
        return q8_avx2(m, x, n, code);
#endif
    (void)lvl;
    return q8_block(m, x, n, code, tmp);
}

float ct_q8_block_at(int lvl, const ct_qmap *m, const float *x, size_t n, uint8_t *code)
{
    float tmp[CT_QBLOCK];
    return cv_q8(lvl, m, x, n, code, tmp);
}

void ct_dq8_block_at(int lvl, const ct_qmap *m, const uint8_t *code, size_t n, float absmax,
                     float *x)
{
    cv_dq8(lvl, m, code, n, absmax, x);
}

void ct_bf16_to_f32_at(int lvl, const uint16_t *h, float *x, size_t n)
{
    cv_bf16_to_f32(lvl, h, x, n);
}

void ct_f32_to_bf16_at(int lvl, const float *x, uint16_t *h, size_t n)
{
    cv_f32_to_bf16(lvl, x, h, n);
}

size_t ct_dtype_size(int dtype)
{
    switch (dtype) {
    case CT_F32:
        return 4;
    case CT_BF16:
    case CT_F16:
        return 2;
    default:
        return 0;
    }
}

/* float -> 16-bit parameter or gradient: nearest even, or stochastic (bf16
 * only) keyed by (seed, key, index). */
static inline uint16_t f2h(int dtype, float f, int sr, uint64_t seed, uint64_t key,
                           uint64_t index)
{
    if (dtype == CT_F16)
        return ct_f32_to_f16(f);
    return sr ? ct_f32_to_bf16_sr(f, ct_rng32(seed, key, index)) : ct_f32_to_bf16(f);
}

/* The RNG key of buffer k (CT_MAX_STATE: the parameter) of slot s at its
 * current step: every write of every buffer draws fresh bits. */
static inline uint64_t rng_key(const ct_slot *s, int k)
{
    return ((s->uid * 0x100000001b3ull + (uint64_t)s->step) << 3) ^ (uint64_t)k;
}

/* The converted pass (optim_impl.h): per CT_SUB sub-chunk, the inputs
 * converted into the thread's fp32 scratch, the kind's kernel, the outputs
 * converted back; the conversions at the optimizer's SIMD level (cv_*). */
void ct_prec_chunk(ct_optim *o, ct_chunk *ch, int tid)
{
    const int lvl = o->simd;
    const ct_slot *s = ch->slot;
    const double *hp = ch->hp;
    float *scr = o->scratch + (size_t)tid * CT_SCRATCH_FLOATS;
    float *gs = scr, *ps = scr + CT_SUB, *ss = scr + 2 * CT_SUB;
    const int dt = s->p.dtype;
    const float scale = (float)o->grad_scale;
    const int sr = hp[CT_HP_SR] != 0;
    const uint64_t seed = (uint64_t)hp[CT_HP_SEED];
    const ct_qmap *qm = o->qmap;
    size_t start = ch->begin;
    /* the kind's fused form, if it has one for these storages: whole
     * vectors without the scratch round trip; the rest below */
    const ct_optim_kind *kd = o->kind;
    if (lvl > 0 && kd->fused[lvl - 1] && !sr && scale == 1.0f &&
        !(s->step == 1 && kd->init && !s->state32)) {
        int pm = dt == CT_F32 ? CT_PM_F32
                 : dt == CT_BF16 ? (s->master >= 0 ? CT_PM_MASTER : CT_PM_BF16)
                                 : -1;
        int sb = s->sdt[0] == CT_SDT_BF16 ? 1 : s->sdt[0] == CT_SDT_F32 ? 0 : -1;
        for (int k = 1; k < s->n_kind_state; k++)
            sb = s->sdt[k] == s->sdt[0] ? sb : -1;
        if (pm >= 0 && sb >= 0)
            start = kd->fused[lvl - 1](hp, s, ch->begin, ch->end, pm, sb);
    }
    for (size_t b = start; b < ch->end; b += CT_SUB) {
        const size_t n = ch->end - b < CT_SUB ? ch->end - b : CT_SUB;
        ct_slot t = *s;
        t.p.numel = n;
        /* the gradient, scaled as run_phase scales an fp32 one */
        if (dt == CT_F32) {
            float *g = (float *)s->p.grad + b;
            if (scale != 1.0f)
                for (size_t j = 0; j < n; j++)
                    g[j] = g[j] * scale;
            t.p.grad = g;
        } else {
            uint16_t *g = (uint16_t *)s->p.grad + b;
            if (dt == CT_BF16 && scale != 1.0f) {
                cv_bf16_scale(lvl, g, gs, n, scale);
            } else if (dt == CT_BF16) {
                cv_bf16_to_f32(lvl, g, gs, n);
            } else {
                for (size_t j = 0; j < n; j++)
                    gs[j] = ct_f16_to_f32(g[j]);
                if (scale != 1.0f)
                    for (size_t j = 0; j < n; j++) {
                        gs[j] = gs[j] * scale;
                        g[j] = f2h(dt, gs[j], 0, 0, 0, 0);
                    }
            }
            t.p.grad = gs;
        }
        /* the parameter: the master copy, the fp32 buffer, or a converted copy */
        if (s->master >= 0) {
            t.p.data = s->state[s->master] + b;
        } else if (dt == CT_F32) {
            t.p.data = (float *)s->p.data + b;
        } else {
            const uint16_t *p = (const uint16_t *)s->p.data + b;
            if (dt == CT_BF16)
                cv_bf16_to_f32(lvl, p, ps, n);
            else
                for (size_t j = 0; j < n; j++)
                    ps[j] = ct_f16_to_f32(p[j]);
            t.p.data = ps;
        }
        /* the kind's state */
        for (int k = 0; k < s->n_kind_state; k++) {
            float *x = ss + (size_t)k * CT_SUB;
            switch (s->sdt[k]) {
            case CT_SDT_F32:
                t.state[k] = s->state[k] + b;
                continue;
            case CT_SDT_BF16: {
                cv_bf16_to_f32(lvl, (const uint16_t *)s->raw[k] + b, x, n);
                break;
            }
            default: {
                const ct_qmap *m = &qm[s->sdt[k] == CT_SDT_Q8U];
                const uint8_t *c = (const uint8_t *)s->raw[k] + b;
                for (size_t j = 0; j < n; j += CT_QBLOCK)
                    cv_dq8(lvl, m, c + j, n - j < CT_QBLOCK ? n - j : CT_QBLOCK,
                           s->absmax[k][(b + j) / CT_QBLOCK], x + j);
            }
            }
            t.state[k] = x;
        }
        if (s->step == 1 && o->kind->init && !s->state32) /* reduced state: init here */
            o->kind->init(hp, &t);
        o->kfn(0, hp, &t, 0, n, ch->red);
        /* back to storage */
        for (int k = 0; k < s->n_kind_state; k++) {
            const float *x = t.state[k];
            switch (s->sdt[k]) {
            case CT_SDT_F32:
                break;
            case CT_SDT_BF16: {
                uint16_t *r = (uint16_t *)s->raw[k] + b;
                if (sr) {
                    uint64_t key = rng_key(s, k);
                    for (size_t j = 0; j < n; j++)
                        r[j] = ct_f32_to_bf16_sr(x[j], ct_rng32(seed, key, b + j));
                } else {
                    cv_f32_to_bf16(lvl, x, r, n);
                }
                break;
            }
            default: {
                const ct_qmap *m = &qm[s->sdt[k] == CT_SDT_Q8U];
                uint8_t *c = (uint8_t *)s->raw[k] + b;
                for (size_t j = 0; j < n; j += CT_QBLOCK)
                    s->absmax[k][(b + j) / CT_QBLOCK] =
                        cv_q8(lvl, m, x + j, n - j < CT_QBLOCK ? n - j : CT_QBLOCK, c + j, gs);
            }
            }
        }
        if (dt != CT_F32) {
            const float *x = t.p.data;
            uint16_t *p = (uint16_t *)s->p.data + b;
            uint64_t key = rng_key(s, CT_MAX_STATE);
            if (dt == CT_BF16 && !sr)
                cv_f32_to_bf16(lvl, x, p, n);
            else
                for (size_t j = 0; j < n; j++)
                    p[j] = f2h(dt, x[j], sr, seed, key, b + j);
        }
    }
}
