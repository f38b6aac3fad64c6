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
 * group); they differ only for parameters that miss a gradient.             */
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

static void update(const double *hp, ct_slot *s)
{
    const size_t n = s->p.numel;
    const double t = (double)s->step;
    const double beta2_t = fmin(hp[BETA2], 1.0 - pow(t, hp[DECAY_RATE]));
    const double bc2 = 1.0 - beta2_t;
    double rho = hp[LR];
    if (hp[RELATIVE] != 0)
        rho = fmin(hp[WARMUP] != 0 ? 1e-6 * t : 1e-2, 1.0 / sqrt(t));
    const float w = (float)bc2, eps1 = (float)hp[EPS1];
    const float sqrt_n = (float)sqrt((double)n);
    ctx c = {.p = ct_pf(s), .gr = ct_gf(s), .wd = (float)hp[WD], .eps1 = eps1,
             .maximize = hp[MAXIMIZE] != 0, .coupled = hp[WD] != 0 && hp[DECOUPLE] == 0};
    float *p = c.p;
    int k = 0;
    float *m = hp[FIRST_MOMENT] != 0 ? s->state[k++] : NULL;
    const int fac = factored(&s->p);
    float *row = NULL, *col = NULL, *v = NULL;
    if (fac) {
        row = s->state[k++];
        col = s->state[k++];
    } else {
        v = s->state[k++];
    }
    float *hat = hp[AMS] != 0 ? s->state[k++] : NULL;
    size_t B = 1, R = 1, C = n;
    if (fac)
        dims(&s->p, &B, &R, &C);

    /* lr_t from RMS(p) before the decay. */
    float lr_t = (float)rho;
    if (hp[SCALE_PARAM] != 0) {
        ct_aten_norm a;
        ct_aten_norm_init(&a, n);
        for (size_t i = 0; i < n; i++)
            ct_aten_norm_add(&a, p[i]);
        float rms = ct_aten_norm_get(&a) / sqrt_n, eps2 = (float)hp[EPS2];
        lr_t = (rms > eps2 ? rms : eps2) * (float)rho;
    }
    if (hp[WD] != 0 && hp[DECOUPLE] != 0) {
        float f;
        if (hp[FIXED] != 0)
            f = (float)(1.0 - hp[WD]);
        else if (hp[SCALE_PARAM] != 0)
            f = lr_t * (float)-hp[WD] + 1.0f;
        else
            f = (float)(1.0 - hp[WD] * rho);
        for (size_t i = 0; i < n; i++)
            p[i] = p[i] * f;
    }

    /* Second moment statistics. */
    if (fac) {
        for (size_t b = 0; b < B; b++) {
            for (size_t r = 0; r < R; r++) {
                float mean = ct_aten_sum_inner(q_at, &c, (b * R + r) * C, C) / (float)C;
                row[b * R + r] = ct_aten_lerpf(row[b * R + r], mean, w);
            }
            for (size_t j = 0; j < C; j++) {
                float mean = ct_aten_sum_outer(q_at, &c, b * R * C, R, C, j) / (float)R;
                col[b * C + j] = ct_aten_lerpf(col[b * C + j], mean, w);
            }
        }
    } else {
        for (size_t i = 0; i < n; i++)
            v[i] = ct_aten_lerpf(v[i], q_at(&c, i), w);
    }
    if (hat) {
        for (size_t b = 0, i = 0; b < B; b++) {
            float rm = fac ? row_mean(row, b, R) : 0;
            for (size_t r = 0; r < R; r++)
                for (size_t j = 0; j < C; j++, i++) {
                    float u = fac ? rsqrtf_(row[b * R + r] / rm) * rsqrtf_(col[b * C + j])
                                  : rsqrtf_(v[i]);
                    float inv = 1.0f / u;
                    hat[i] = hat[i] > inv || isnan(hat[i]) ? hat[i] : inv;
                }
        }
    }

    /* u = pre * g; two passes: its RMS, then the update. */
    float clip_div = 1.0f;
    for (int pass = 0; pass < 2; pass++) {
        ct_aten_norm a;
        ct_aten_norm_init(&a, n);
        const float clip = (float)hp[CLIP], w1 = (float)(1.0 - hp[BETAS]);
        const int bf = hp[MOM_DTYPE] == DT_BF16;
        for (size_t b = 0, i = 0; b < B; b++) {
            float rm = fac && !hat ? row_mean(row, b, R) : 0;
            for (size_t r = 0; r < R; r++)
                for (size_t j = 0; j < C; j++, i++) {
                    float pre;
                    if (hat)
                        pre = rsqrtf_(hat[i] / w);
                    else if (fac)
                        pre = rsqrtf_(row[b * R + r] / rm) * rsqrtf_(col[b * C + j]);
                    else
                        pre = rsqrtf_(v[i]);
                    float u = pre * grad_at(&c, i);
                    if (pass == 0) {
                        ct_aten_norm_add(&a, u);
                        continue;
                    }
                    u = u / clip_div * lr_t;
                    if (m) {
                        m[i] = bf ? bf16(ct_aten_lerpf(m[i], bf16(u), w1))
                                  : ct_aten_lerpf(m[i], u, w1);
                        u = m[i];
                    }
                    p[i] = p[i] - u;
                }
        }
        if (pass == 0) {
            float rms = ct_aten_norm_get(&a) / sqrt_n / clip;
            clip_div = rms < 1.0f ? 1.0f : rms;
        }
    }
}

const ct_optim_kind ct_kind_adafactor = {
    .name = "adafactor",
    .opts = opts,
    .n_opts = sizeof opts / sizeof *opts,
    .layout = layout,
    .update = update,
};
