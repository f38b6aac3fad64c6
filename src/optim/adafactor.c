/* Adafactor.
 * Paper: Shazeer & Stern 2018, "Adafactor: Adaptive Learning Rates with
 * Sublinear Memory Cost", Algorithm 4 (factored second moment of a matrix:
 * row and column means, V ~ R C / 1^T R) and Algorithm 5 (unfactored, for
 * vectors), with update clipping (Sec. 5, d = clip_threshold), the
 * increasing decay beta2_t = 1 - t^decay_rate (Sec. 7.1), relative step size
 * rho_t = min(1e-2, 1/sqrt t) scaled by max(eps2, RMS(p)) (Sec. 8) and
 * optional first moment (Sec. 6).
 * Numerics, defaults and variants follow pytorch-optimizer 4.1.0's
 * AdaFactor._step_foreach (its default path on CPU). At step t:
 *   beta2_t = min(beta2, 1 - t^decay_rate);  w = 1 - beta2_t
 *   rho = relative_step ? min(warmup_init ? 1e-6 t : 1e-2, 1/sqrt t) : lr
 *   lr_t = scale_parameter ? max(RMS(p), eps2) * rho : rho
 *   g = maximize ? -grad : grad
 *   weight_decouple: p *= 1 - wd * (fixed_decay ? 1 : lr_t)   else g += wd p
 *   q = g^2 + eps1
 *   ndim >= 2, shape (..., R, C), factored over the last two dims:
 *     row = lerp(row, mean_C q, w)    (state "exp_avg_sq_row", shape (..., R))
 *     col = lerp(col, mean_R q, w)    (state "exp_avg_sq_col", shape (..., C))
 *     u = rsqrt(row / mean_R row) * rsqrt(col)
 *   else: v = lerp(v, q, w) (state "exp_avg_sq");  u = rsqrt(v)
 *   ams_bound: vhat = max(vhat, 1/u) ("exp_avg_sq_hat"); u = rsqrt(vhat / w)
 *   u *= g;  u /= max(RMS(u) / clip_threshold, 1);  u *= lr_t
 *   first moment (betas[0] not None): m = lerp(m, u, 1 - beta1) ("exp_avg",
 *     kept in bfloat16 by default, as pytorch-optimizer's momentum_dtype);
 *     u = m
 *   p -= u
 * RMS(x) = ||x|| / sqrt(numel). Differences from the paper, all
 * pytorch-optimizer's: eps1 = 1e-30 is added to g^2 (the paper's eps1 of
 * 1e-30 likewise), the row statistic is divided by its mean, betas[1] caps
 * beta2_t at 0.999, the first moment (beta1 = 0.9) is on by default and
 * stored in bfloat16, and weight decay is available.
 * Not elementwise (row/column means), so this kind uses the whole-parameter
 * `update`: one thread per parameter, a fixed order inside it, hence the
 * same bits for any thread count. Norms, row and column means are summed
 * in ATen's order (aten_reduce.h), so they match torch to the bit.
 * Options: betas[0] = None is spelled first_moment=false; momentum_dtype is
 * bfloat16 (default) or float32. pytorch-optimizer reads eps1, eps2,
 * clip_threshold and decay_rate from its constructor only; ctrain takes them
 * per group. Not supported: momentum_dtype float16, cautious (unknown keys
 * are refused). Steps are counted per parameter (pytorch-optimizer: per
 * group); they differ only for parameters that miss a gradient.
 * SIMD (AVX2, AVX-512; update_simd): the same operations on vectors. The
 * row and column sums run ATen's cascade on 8 lanes at once (lane l of a row
 * is ATen's lane l; for columns, lane l is column j + l, whose sums have the
 * same shape), the norms are fed to the same 8 ATen lanes in the same order
 * (simd.h v_norm_feed), the bfloat16 rounding is done on integers as here.
 * Row tails and anything shorter than a vector go through the scalar
 * functions below. Same bits at every level.                              */
#ifndef CT_SIMD_LEVEL
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "aten_reduce.h"
#include "optim_impl.h"

enum { LR, BETAS, BETA2, FIRST_MOMENT, DECAY_RATE, WD, DECOUPLE, FIXED, CLIP, AMS, SCALE_PARAM,
       RELATIVE, WARMUP, EPS1, EPS2, MOM_DTYPE, MAXIMIZE };
enum { DT_BF16, DT_F32 };

static const char *const dtypes[] = {"bfloat16", "float32", NULL};

static const ct_opt_desc opts[] = {
    {"lr", CT_OPT_REAL, 1, LR, {1e-3}, 0, INFINITY, 0, 0},
    {"betas", CT_OPT_REAL, 2, BETAS, {0.9, 0.999}, 0, 1, CT_OPT_HI_OPEN, 0},
    {"first_moment", CT_OPT_BOOL, 1, FIRST_MOMENT, {1}, 0, 1, 0, 0},
    {"decay_rate", CT_OPT_REAL, 1, DECAY_RATE, {-0.8}, -INFINITY, 0, 0, 0},
    {"weight_decay", CT_OPT_REAL, 1, WD, {0}, 0, INFINITY, 0, 0},
    {"weight_decouple", CT_OPT_BOOL, 1, DECOUPLE, {1}, 0, 1, 0, 0},
    {"fixed_decay", CT_OPT_BOOL, 1, FIXED, {0}, 0, 1, 0, 0},
    {"clip_threshold", CT_OPT_REAL, 1, CLIP, {1.0}, 0, INFINITY, CT_OPT_LO_OPEN, 0},
    {"ams_bound", CT_OPT_BOOL, 1, AMS, {0}, 0, 1, 0, 0},
    {"scale_parameter", CT_OPT_BOOL, 1, SCALE_PARAM, {1}, 0, 1, 0, 0},
    {"relative_step", CT_OPT_BOOL, 1, RELATIVE, {1}, 0, 1, 0, 0},
    {"warmup_init", CT_OPT_BOOL, 1, WARMUP, {0}, 0, 1, 0, 0},
    {"eps1", CT_OPT_REAL, 1, EPS1, {1e-30}, 0, INFINITY, 0, 0},
    {"eps2", CT_OPT_REAL, 1, EPS2, {1e-3}, 0, INFINITY, 0, 0},
    {"momentum_dtype", CT_OPT_ENUM, 1, MOM_DTYPE, {DT_BF16}, 0, 0, 0, dtypes},
    {"maximize", CT_OPT_BOOL, 1, MAXIMIZE, {0}, 0, 1, 0, 0},
};

static int factored(const ct_param *p) { return p->ndim >= 2; }

/* Batch, rows and columns of a factored parameter. */
static void dims(const ct_param *p, size_t *B, size_t *R, size_t *C)
{
    *C = (size_t)p->shape[p->ndim - 1];
    *R = (size_t)p->shape[p->ndim - 2];
    *B = p->numel / (*R * *C);
}

static int layout(const double *hp, const ct_param *p, ct_state_desc *out)
{
    int n = 0;
    if (hp[FIRST_MOMENT] != 0)
        out[n++] = (ct_state_desc){"exp_avg", p->numel};
    if (factored(p)) {
        size_t B, R, C;
        dims(p, &B, &R, &C);
        out[n++] = (ct_state_desc){"exp_avg_sq_row", B * R};
        out[n++] = (ct_state_desc){"exp_avg_sq_col", B * C};
    } else {
        out[n++] = (ct_state_desc){"exp_avg_sq", p->numel};
    }
    if (hp[AMS] != 0)
        out[n++] = (ct_state_desc){"exp_avg_sq_hat", p->numel};
    return n;
}

/* float -> bfloat16 -> float, round to nearest even (c10::BFloat16). */
static inline float bf16(float x)
{
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    if (isnan(x))
        u = 0x7FC00000u;
    else
        u = (u + 0x7FFFu + ((u >> 16) & 1u)) & 0xFFFF0000u;
    memcpy(&x, &u, sizeof x);
    return x;
}

static inline float rsqrtf_(float x) { return 1.0f / sqrtf(x); }

/* What one update of a parameter reads. */
typedef struct ctx {
    float *p;
    const float *gr;
    float wd, eps1;
    int maximize, coupled;
} ctx;

static inline float grad_at(const void *cv, size_t i)
{
    const ctx *c = cv;
    float g = c->maximize ? -c->gr[i] : c->gr[i];
    return c->coupled ? fmaf(c->wd, c->p[i], g) : g;
}

/* q = g^2 + eps1 at element k (a ct_aten_get). */
static float q_at(const void *cv, size_t k)
{
    float g = grad_at(cv, k);
    return g * g + ((const ctx *)cv)->eps1;
}

static float state_at(const void *cv, size_t k) { return ((const float *)cv)[k]; }

/* mean(row[b, :]) as torch's row.mean(dim=-1). */
static float row_mean(const float *row, size_t b, size_t R)
{
    return ct_aten_sum_inner(state_at, row, b * R, R) / (float)R;
}

/* One update of a parameter: its buffers and scalars, shared by the scalar
 * and SIMD forms. Element (b, r, j) is i = (b R + r) C + j; an unfactored
 * parameter is one row (B = R = 1, C = n). */
typedef struct upd {
    ctx c;
    float *m, *row, *col, *v, *hat;
    size_t n, B, R, C;
    int fac, bf;
    double rho;
    float w, w1, clip, sqrt_n, lr_t, clip_div;
} upd;

static CT_NOINLINE void setup(const double *hp, ct_slot *s, upd *u)
{
    const size_t n = s->p.numel;
    const double t = (double)s->step;
    const double beta2_t = fmin(hp[BETA2], 1.0 - pow(t, hp[DECAY_RATE]));
    memset(u, 0, sizeof *u);
    u->rho = hp[LR];
    if (hp[RELATIVE] != 0)
        u->rho = fmin(hp[WARMUP] != 0 ? 1e-6 * t : 1e-2, 1.0 / sqrt(t));
    u->w = (float)(1.0 - beta2_t);
    u->sqrt_n = (float)sqrt((double)n);
    u->c = (ctx){.p = ct_pf(s), .gr = ct_gf(s), .wd = (float)hp[WD], .eps1 = (float)hp[EPS1],
                 .maximize = hp[MAXIMIZE] != 0, .coupled = hp[WD] != 0 && hp[DECOUPLE] == 0};
    int k = 0;
    u->m = hp[FIRST_MOMENT] != 0 ? s->state[k++] : NULL;
    u->fac = factored(&s->p);
    if (u->fac) {
        u->row = s->state[k++];
        u->col = s->state[k++];
    } else {
        u->v = s->state[k++];
    }
    u->hat = hp[AMS] != 0 ? s->state[k++] : NULL;
    u->n = n, u->B = 1, u->R = 1, u->C = n;
    if (u->fac)
        dims(&s->p, &u->B, &u->R, &u->C);
    u->bf = hp[MOM_DTYPE] == DT_BF16;
    u->clip = (float)hp[CLIP];
    u->w1 = (float)(1.0 - hp[BETAS]);
    u->lr_t = (float)u->rho;
    u->clip_div = 1.0f;
}

/* lr_t from the norm of p (before the decay); whether the decoupled decay
 * applies, its factor in *f. */
static CT_NOINLINE int decay_factor(const double *hp, upd *u, const ct_aten_norm *pn, float *f)
{
    if (hp[SCALE_PARAM] != 0) {
        float rms = ct_aten_norm_get(pn) / u->sqrt_n, eps2 = (float)hp[EPS2];
        u->lr_t = (rms > eps2 ? rms : eps2) * (float)u->rho;
    }
    if (!(hp[WD] != 0 && hp[DECOUPLE] != 0))
        return 0;
    if (hp[FIXED] != 0)
        *f = (float)(1.0 - hp[WD]);
    else if (hp[SCALE_PARAM] != 0)
        *f = u->lr_t * (float)-hp[WD] + 1.0f;
    else
        *f = (float)(1.0 - hp[WD] * u->rho);
    return 1;
}

/* clip_div from the norm of u (pass 0). */
static CT_NOINLINE void set_clip(upd *u, const ct_aten_norm *a)
{
    float rms = ct_aten_norm_get(a) / u->sqrt_n / u->clip;
    u->clip_div = rms < 1.0f ? 1.0f : rms;
}

/* vhat = max(vhat, 1/u) over elements j0 .. j1-1 of row (b, r); rm: the
 * mean of row[b, :] (factored). */
static CT_NOINLINE void hat_seg(const upd *u, size_t b, size_t r, float rm, size_t j0, size_t j1)
{
    const size_t R = u->R, C = u->C;
    float *hat = u->hat;
    for (size_t j = j0, i = (b * R + r) * C + j0; j < j1; j++, i++) {
        float x = u->fac ? rsqrtf_(u->row[b * R + r] / rm) * rsqrtf_(u->col[b * C + j])
                         : rsqrtf_(u->v[i]);
        float inv = 1.0f / x;
        hat[i] = hat[i] > inv || isnan(hat[i]) ? hat[i] : inv;
    }
}

/* Elements j0 .. j1-1 of row (b, r): u = pre * g; pass 0 adds u to the norm
 * a, pass 1 applies it. rm: the mean of row[b, :] (factored, no hat). */
static CT_NOINLINE void u_seg(const upd *u, int pass, ct_aten_norm *a, size_t b, size_t r,
                              float rm, size_t j0, size_t j1)
{
    const size_t R = u->R, C = u->C;
    float *p = u->c.p, *m = u->m;
    for (size_t j = j0, i = (b * R + r) * C + j0; j < j1; j++, i++) {
        float pre;
        if (u->hat)
            pre = rsqrtf_(u->hat[i] / u->w);
        else if (u->fac)
            pre = rsqrtf_(u->row[b * R + r] / rm) * rsqrtf_(u->col[b * C + j]);
        else
            pre = rsqrtf_(u->v[i]);
        float x = pre * grad_at(&u->c, i);
        if (pass == 0) {
            ct_aten_norm_add(a, x);
            continue;
        }
        x = x / u->clip_div * u->lr_t;
        if (m) {
            m[i] = u->bf ? bf16(ct_aten_lerpf(m[i], bf16(x), u->w1))
                         : ct_aten_lerpf(m[i], x, u->w1);
            x = m[i];
        }
        p[i] = p[i] - x;
    }
}

static void update(const double *hp, ct_slot *s)
{
    upd u;
    setup(hp, s, &u);
    const size_t n = u.n, B = u.B, R = u.R, C = u.C;
    const float w = u.w;
    float *p = u.c.p, *row = u.row, *col = u.col, *v = u.v;

    /* lr_t from RMS(p) before the decay. */
    ct_aten_norm a;
    ct_aten_norm_init(&a, n);
    if (hp[SCALE_PARAM] != 0)
        for (size_t i = 0; i < n; i++)
            ct_aten_norm_add(&a, p[i]);
    float f = 1;
    if (decay_factor(hp, &u, &a, &f))
        for (size_t i = 0; i < n; i++)
            p[i] = p[i] * f;

    /* Second moment statistics. */
    if (u.fac) {
        for (size_t b = 0; b < B; b++) {
            for (size_t r = 0; r < R; r++) {
                float mean = ct_aten_sum_inner(q_at, &u.c, (b * R + r) * C, C) / (float)C;
                row[b * R + r] = ct_aten_lerpf(row[b * R + r], mean, w);
            }
            for (size_t j = 0; j < C; j++) {
                float mean = ct_aten_sum_outer(q_at, &u.c, b * R * C, R, C, j) / (float)R;
                col[b * C + j] = ct_aten_lerpf(col[b * C + j], mean, w);
            }
        }
    } else {
        for (size_t i = 0; i < n; i++)
            v[i] = ct_aten_lerpf(v[i], q_at(&u.c, i), w);
    }
    if (u.hat)
        for (size_t b = 0; b < B; b++) {
            float rm = u.fac ? row_mean(row, b, R) : 0;
            for (size_t r = 0; r < R; r++)
                hat_seg(&u, b, r, rm, 0, C);
        }

    /* u = pre * g; two passes: its RMS, then the update. */
    for (int pass = 0; pass < 2; pass++) {
        ct_aten_norm_init(&a, n);
        for (size_t b = 0; b < B; b++) {
            float rm = u.fac && !u.hat ? row_mean(row, b, R) : 0;
            for (size_t r = 0; r < R; r++)
                u_seg(&u, pass, &a, b, r, rm, 0, C);
        }
        if (pass == 0)
            set_clip(&u, &a);
    }
}

#define CT_SIMD_SELF "adafactor.c"
#include "simd_each.h"

const ct_optim_kind ct_kind_adafactor = {
    .name = "adafactor",
    .opts = opts,
    .n_opts = sizeof opts / sizeof *opts,
    .layout = layout,
    .update = update,
    .update_simd = CT_SIMD_KERNELS(update_v),
};

#else /* the SIMD form, once per level: the scalar functions' operations */

#define AF_BLOCK 256 /* u of this many elements, then its norm */

/* ---- ATen's cascade sums of q on 8 lanes (__m256 at both levels) ---- */

/* q_at compiled for the baseline (no target attribute, kept out of line), so
 * no compiler contracts its g * g + eps1 where the SIMD code needs one q. */
static CT_NOINLINE float CT_V(q_base)(const void *cv, size_t k) { return q_at(cv, k); }

/* q of the 8 elements from x (q_at on vectors) */
static inline CT_TGT __m256 CT_V(q8)(const ctx *c, size_t x)
{
    __m256 g = _mm256_loadu_ps(c->gr + x);
    if (c->maximize)
        g = _mm256_xor_ps(g, _mm256_set1_ps(-0.0f));
    if (c->coupled)
        g = _mm256_fmadd_ps(_mm256_set1_ps(c->wd), _mm256_loadu_ps(c->p + x), g);
    return _mm256_add_ps(_mm256_mul_ps(g, g), _mm256_set1_ps(c->eps1));
}

/* ct_aten_multi_row_sum, lane l summing elements first + l + k step */
static CT_TGT __m256 CT_V(multi_row_sum8)(const ctx *c, size_t first, size_t step, size_t n)
{
    enum { LEVELS = 4 };
    size_t lp = ct_aten_ceil_log2(n) / LEVELS;
    if (lp < 4)
        lp = 4;
    const size_t ls = (size_t)1 << lp, lm = ls - 1;
    __m256 acc[LEVELS];
    for (int j = 0; j < LEVELS; j++)
        acc[j] = _mm256_setzero_ps();
    size_t i = 0;
    while (i + ls <= n) {
        for (size_t j = 0; j < ls; j++, i++)
            acc[0] = _mm256_add_ps(acc[0], CT_V(q8)(c, first + i * step));
        for (int j = 1; j < LEVELS; j++) {
            acc[j] = _mm256_add_ps(acc[j], acc[j - 1]);
            acc[j - 1] = _mm256_setzero_ps();
            if ((i & (lm << (j * lp))) != 0)
                break;
        }
    }
    for (; i < n; i++)
        acc[0] = _mm256_add_ps(acc[0], CT_V(q8)(c, first + i * step));
    for (int j = 1; j < LEVELS; j++)
        acc[0] = _mm256_add_ps(acc[0], acc[j]);
    return acc[0];
}

/* ct_aten_row_sum on 8 lanes */
static CT_TGT __m256 CT_V(row_sum8)(const ctx *c, size_t first, size_t step, size_t n)
{
    const size_t m = n / 4;
    __m256 p[4];
    for (size_t k = 0; k < 4; k++)
        p[k] = CT_V(multi_row_sum8)(c, first + k * step, 4 * step, m);
    for (size_t i = m * 4; i < n; i++)
        p[0] = _mm256_add_ps(p[0], CT_V(q8)(c, first + i * step));
    return _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(p[0], p[1]), p[2]), p[3]);
}

/* ct_aten_sum_inner(q_at, c, first, n): its 8 lanes at once */
static CT_TGT float CT_V(sum_inner)(const ctx *c, size_t first, size_t n)
{
    if (n < 8)
        return ct_aten_sum_inner(CT_V(q_base), c, first, n);
    const size_t nv = n / 8;
    float acc = 0, lane[8];
    for (size_t k = nv * 8; k < n; k++)
        acc = acc + CT_V(q_base)(c, first + k);
    _mm256_storeu_ps(lane, CT_V(row_sum8)(c, first, 8, nv));
    for (size_t l = 0; l < 8; l++)
        acc = acc + lane[l];
    return acc;
}

/* ---- the elementwise passes on VF ---- */

/* grad_at on vectors */
static inline CT_TGT VF CT_V(grad_v)(const ctx *c, size_t i)
{
    VF g = V_LD(c->gr + i);
    if (c->maximize)
        g = V_NEG(g);
    return c->coupled ? V_FMA(V_SET(c->wd), V_LD(c->p + i), g) : g;
}

/* bf16() on vectors: round to nearest even on the bits, NaN to 0x7FC00000 */
static inline CT_TGT VF CT_V(bf16_v)(VF x)
{
    VI u = V_F2I(x);
    VI lsb = VI_AND(VI_SRL(u, 16), VI_SET(1));
    u = VI_AND(VI_ADD(VI_ADD(u, VI_SET(0x7FFF)), lsb), VI_SET(0xFFFF0000u));
    return V_SEL(V_ISNAN(x), V_I2F(VI_SET(0x7FC00000)), V_I2F(u));
}

static CT_TGT void CT_V(update_v)(const double *hp, ct_slot *s)
{
    upd u;
    setup(hp, s, &u);
    const size_t n = u.n, B = u.B, R = u.R, C = u.C;
    const float w = u.w;
    float *p = u.c.p, *row = u.row, *col = u.col, *v = u.v, *hat = u.hat, *m = u.m;
    const VF one = V_SET(1.0f);
    size_t i;

    ct_aten_norm a;
    ct_aten_norm_init(&a, n);
    if (hp[SCALE_PARAM] != 0)
        CT_V(v_norm_feed)(&a, p, n);
    float f = 1;
    if (decay_factor(hp, &u, &a, &f)) {
        const VF vf = V_SET(f);
        for (i = 0; i + V_N <= n; i += V_N)
            V_ST(p + i, V_MUL(V_LD(p + i), vf));
        for (; i < n; i++)
            p[i] = p[i] * f;
    }

    if (u.fac) {
        for (size_t b = 0; b < B; b++) {
            for (size_t r = 0; r < R; r++) {
                float mean = CT_V(sum_inner)(&u.c, (b * R + r) * C, C) / (float)C;
                row[b * R + r] = ct_aten_lerpf(row[b * R + r], mean, w);
            }
            /* 8 columns at once where all 8 take the same path */
            const size_t first = b * R * C, multi = C >= 8 ? C / 32 * 32 : C / 4 * 4;
            size_t j = 0;
            for (; C >= 8 && j + 8 <= C; j += 8) {
                float sum[8];
                _mm256_storeu_ps(sum, j < multi ? CT_V(multi_row_sum8)(&u.c, first + j, C, R)
                                                : CT_V(row_sum8)(&u.c, first + j, C, R));
                for (size_t l = 0; l < 8; l++)
                    col[b * C + j + l] = ct_aten_lerpf(col[b * C + j + l], sum[l] / (float)R, w);
            }
            for (; j < C; j++) {
                float mean = ct_aten_sum_outer(CT_V(q_base), &u.c, first, R, C, j) / (float)R;
                col[b * C + j] = ct_aten_lerpf(col[b * C + j], mean, w);
            }
        }
    } else {
        const int small = fabsf(w) < 0.5f;
        const VF vw = V_SET(w), vneg_omw = V_SET(w - 1.0f), eps1 = V_SET(u.c.eps1);
        for (i = 0; i + V_N <= n; i += V_N) {
            VF g = CT_V(grad_v)(&u.c, i);
            VF q = V_ADD(V_MUL(g, g), eps1);
            V_ST(v + i, V_LERP(V_LD(v + i), q, small, vw, vneg_omw));
        }
        for (; i < n; i++)
            v[i] = ct_aten_lerpf(v[i], CT_V(q_base)(&u.c, i), w);
    }
    if (hat)
        for (size_t b = 0; b < B; b++) {
            const float rm = u.fac ? row_mean(row, b, R) : 0;
            for (size_t r = 0; r < R; r++) {
                const VF rf = V_SET(u.fac ? rsqrtf_(row[b * R + r] / rm) : 0);
                const size_t i0 = (b * R + r) * C;
                size_t j = 0;
                for (; j + V_N <= C; j += V_N) {
                    VF x = u.fac ? V_MUL(rf, V_DIV(one, V_SQRT(V_LD(col + b * C + j))))
                                 : V_DIV(one, V_SQRT(V_LD(v + i0 + j)));
                    VF inv = V_DIV(one, x), h = V_LD(hat + i0 + j);
                    V_ST(hat + i0 + j, V_SEL(V_MOR(V_GT(h, inv), V_ISNAN(h)), h, inv));
                }
                if (j < C)
                    hat_seg(&u, b, r, rm, j, C);
            }
        }

    const VF vw = V_SET(w), w1 = V_SET(u.w1), w1m1 = V_SET(u.w1 - 1.0f);
    const int small1 = fabsf(u.w1) < 0.5f;
    float ub[AF_BLOCK];
    for (int pass = 0; pass < 2; pass++) {
        ct_aten_norm_init(&a, n);
        const VF clip_div = V_SET(u.clip_div), lr_t = V_SET(u.lr_t);
        for (size_t b = 0; b < B; b++) {
            const float rm = u.fac && !hat ? row_mean(row, b, R) : 0;
            for (size_t r = 0; r < R; r++) {
                const VF rf = V_SET(u.fac && !hat ? rsqrtf_(row[b * R + r] / rm) : 0);
                const size_t i0 = (b * R + r) * C;
                size_t j = 0;
                while (j + V_N <= C) {
                    const size_t jb = j, je = C - j < AF_BLOCK ? C : j + AF_BLOCK;
                    for (; j + V_N <= je; j += V_N) {
                        const size_t k = i0 + j;
                        VF pre;
                        if (hat)
                            pre = V_DIV(one, V_SQRT(V_DIV(V_LD(hat + k), vw)));
                        else if (u.fac)
                            pre = V_MUL(rf, V_DIV(one, V_SQRT(V_LD(col + b * C + j))));
                        else
                            pre = V_DIV(one, V_SQRT(V_LD(v + k)));
                        VF x = V_MUL(pre, CT_V(grad_v)(&u.c, k));
                        if (pass == 0) {
                            V_ST(ub + (j - jb), x);
                            continue;
                        }
                        x = V_MUL(V_DIV(x, clip_div), lr_t);
                        if (m) {
                            VF mi = V_LD(m + k);
                            x = u.bf ? CT_V(bf16_v)(V_LERP(mi, CT_V(bf16_v)(x), small1, w1, w1m1))
                                     : V_LERP(mi, x, small1, w1, w1m1);
                            V_ST(m + k, x);
                        }
                        V_ST(p + k, V_SUB(V_LD(p + k), x));
                    }
                    if (pass == 0)
                        CT_V(v_norm_feed)(&a, ub, j - jb);
                }
                if (j < C)
                    u_seg(&u, pass, &a, b, r, rm, j, C);
            }
        }
        if (pass == 0)
            set_clip(&u, &a);
    }
}

#endif
