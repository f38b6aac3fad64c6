/* LAMB (Layer-wise Adaptive Moments for Batch training).
 * Paper: You et al. 2020, "Large Batch Optimization for Deep Learning:
 * Training BERT in 76 minutes", Algorithm 2 (LAMB): Adam's update r scaled
 * per layer by the trust ratio phi(||x||) / ||r + lambda x||.
 * Numerics, defaults and variants follow pytorch-optimizer 4.1.0's
 * Lamb._step_foreach (its default path on CPU). At step t, per element:
 *   g = maximize ? -grad : grad
 *   weight_decouple and wd > 0: p *= 1 - wd * (fixed_decay ? 1 : lr)
 *   m = beta1 m + beta3 g,   beta3 = grad_averaging ? 1 - beta1 : 1
 *   v = beta2 v + (1 - beta2) g^2
 *   u = m * (1 / (sqrt(v) + eps));   coupled decay (weight_decouple=false):
 *   u += wd p
 * per parameter:
 *   wn = min(||p||, 10), an = ||u||   (states "weight_norm", "adam_norm")
 *   trust = wn != 0 && an != 0 ? wn / (an + eps) : 1     ("trust_ratio")
 *   adam=false: u *= trust
 *   p -= lr / (1 - beta1^t) * u
 * Differences from the paper, all pytorch-optimizer's defaults: the first
 * moment is bias-corrected through the step size, the second is not; the
 * weight norm is clamped at 10 (phi = min(x, 10)); eps = 1e-6; weight decay
 * is decoupled (applied to p before the moments) by default.
 * Two passes: pass 0 updates the moments (all chunks in parallel) and
 * computes ||p|| and ||u|| in ATen's float order (aten_reduce.h) so they
 * match torch's to the bit: in the kernel for a parameter of one chunk
 * (<= 16384 elements; returned as its red[] partials), in combine, by one
 * thread, for a larger one (torch's lane order is sequential; per-chunk
 * double partial sums were tried and drift up to ~1e-5 from torch over 100
 * steps on a 38400-element parameter). Either way the result does not
 * depend on the thread count. Pass 1 recomputes u from the stored moments
 * and applies it.
 * SIMD (AVX2, AVX-512): the same operations on vectors; the norms are fed
 * to the same 8 ATen lanes in the same order (simd.h v_norm_feed), for a
 * parameter of several chunks in combine, at the level the pass ran at
 * (its first chunk puts the level in red[3]). Same bits.
 * Not supported: pre_norm=true (its global gradient norm spans all groups;
 * clip the gradients with ct_clip_grad_norm instead), rectify,
 * degenerated_to_sgd, n_sma_threshold, adanorm, adam_debias (unknown keys
 * are refused); eps must be > 0 (pytorch-optimizer accepts 0, which turns
 * zero-gradient elements into NaN). max_grad_norm is accepted and, as in
 * pytorch-optimizer without pre_norm, has no effect. pytorch-optimizer counts steps per group,
 * ctrain per parameter; they differ only for parameters that miss a
 * gradient in some step.                                                    */
#ifndef CT_SIMD_LEVEL
#include <math.h>

#include "aten_reduce.h"
#include "optim_impl.h"

enum { LR, BETAS, BETA2, WD, DECOUPLE, FIXED, GRAD_AVG, MAX_GRAD_NORM, ADAM, PRE_NORM, EPS,
       MAXIMIZE };
enum { S_STEP_SIZE, S_DECAY, S_TRUST };
enum { B_EXP_AVG, B_EXP_AVG_SQ, B_WEIGHT_NORM, B_ADAM_NORM, B_TRUST };

#define CLAMP 10.0f /* Lamb.clamp */

static const ct_opt_desc opts[] = {
    {"lr", CT_OPT_REAL, 1, LR, {1e-3}, 0, INFINITY, 0, 0},
    {"betas", CT_OPT_REAL, 2, BETAS, {0.9, 0.999}, 0, 1, CT_OPT_HI_OPEN, 0},
    {"weight_decay", CT_OPT_REAL, 1, WD, {0}, 0, INFINITY, 0, 0},
    {"weight_decouple", CT_OPT_BOOL, 1, DECOUPLE, {1}, 0, 1, 0, 0},
    {"fixed_decay", CT_OPT_BOOL, 1, FIXED, {0}, 0, 1, 0, 0},
    {"grad_averaging", CT_OPT_BOOL, 1, GRAD_AVG, {1}, 0, 1, 0, 0},
    {"max_grad_norm", CT_OPT_REAL, 1, MAX_GRAD_NORM, {1.0}, 0, INFINITY, 0, 0},
    {"adam", CT_OPT_BOOL, 1, ADAM, {0}, 0, 1, 0, 0},
    {"pre_norm", CT_OPT_BOOL, 1, PRE_NORM, {0}, 0, 1, 0, 0},
    {"eps", CT_OPT_REAL, 1, EPS, {1e-6}, 0, INFINITY, CT_OPT_LO_OPEN, 0},
    {"maximize", CT_OPT_BOOL, 1, MAXIMIZE, {0}, 0, 1, 0, 0},
};

static ct_status check(const double *hp, ct_err *e)
{
    if (hp[PRE_NORM] != 0)
        return ct_fail(e, CT_EUNSUPPORTED,
                       "lamb: pre_norm=true is not supported (it scales by the global gradient "
                       "norm of all groups); clip gradients with ct_clip_grad_norm instead");
    return CT_OK;
}

static int layout(const double *hp, const ct_param *p, ct_state_desc *out)
{
    (void)hp;
    out[B_EXP_AVG] = (ct_state_desc){"exp_avg", p->numel};
    out[B_EXP_AVG_SQ] = (ct_state_desc){"exp_avg_sq", p->numel};
    out[B_WEIGHT_NORM] = (ct_state_desc){"weight_norm", 1};
    out[B_ADAM_NORM] = (ct_state_desc){"adam_norm", 1};
    out[B_TRUST] = (ct_state_desc){"trust_ratio", 1};
    return 5;
}

static void prepare(const double *hp, ct_slot *s)
{
    s->scal[S_STEP_SIZE] = hp[LR] / (1.0 - pow(hp[BETAS], (double)s->step));
    s->scal[S_DECAY] = 1.0 - hp[WD] * (hp[FIXED] != 0 ? 1.0 : hp[LR]);
}

/* The Adam direction u of element i from the current moments. */
static inline float direction(float m, float v, float p, float eps, float wd, int coupled)
{
    float u = (1.0f / (sqrtf(v) + eps)) * m;
    return coupled ? fmaf(wd, p, u) : u;
}

/* Pass 0 over [b, e): decay, moments, and the norms of p and u when pa and
 * ua are not NULL (fed from element b on). */
static CT_NOINLINE void moments(const double *hp, const ct_slot *s, size_t b, size_t e,
                                ct_aten_norm *pa, ct_aten_norm *ua)
{
    float *p = ct_pf(s), *m = s->state[B_EXP_AVG], *v = s->state[B_EXP_AVG_SQ];
    const float *gr = ct_gf(s);
    const float eps = (float)hp[EPS], wd = (float)hp[WD];
    const int coupled = hp[DECOUPLE] == 0 && hp[WD] > 0;
    const float b1 = (float)hp[BETAS], b2 = (float)hp[BETA2], w2 = (float)(1.0 - hp[BETA2]);
    const float b3 = (float)(hp[GRAD_AVG] != 0 ? 1.0 - hp[BETAS] : 1.0);
    const float decay = (float)s->scal[S_DECAY];
    const int maximize = hp[MAXIMIZE] != 0, decouple = hp[DECOUPLE] != 0 && hp[WD] != 0;
    for (size_t i = b; i < e; i++) {
        float g = maximize ? -gr[i] : gr[i];
        if (decouple)
            p[i] = p[i] * decay;
        m[i] = fmaf(b3, g, m[i] * b1);
        v[i] = fmaf(w2 * g, g, v[i] * b2);
        float u = direction(m[i], v[i], p[i], eps, wd, coupled);
        if (pa) {
            ct_aten_norm_add(pa, p[i]);
            ct_aten_norm_add(ua, u);
        }
    }
}

static CT_NOINLINE void kernel(int phase, const double *hp, const ct_slot *s, size_t b,
                               size_t e, double *red)
{
    float *p = ct_pf(s), *m = s->state[B_EXP_AVG], *v = s->state[B_EXP_AVG_SQ];
    const float eps = (float)hp[EPS], wd = (float)hp[WD];
    const int coupled = hp[DECOUPLE] == 0 && hp[WD] > 0;
    if (phase == 1) {
        const float trust = (float)s->scal[S_TRUST], neg_step = (float)-s->scal[S_STEP_SIZE];
        const int adam = hp[ADAM] != 0;
        for (size_t i = b; i < e; i++) {
            float u = direction(m[i], v[i], p[i], eps, wd, coupled);
            if (!adam)
                u = u * trust;
            p[i] = fmaf(neg_step, u, p[i]);
        }
        return;
    }
    /* A parameter of one chunk gets its norms here (in parallel with the
     * other parameters); a larger one in combine. */
    if (s->n_chunks != 1) {
        moments(hp, s, b, e, NULL, NULL);
        return;
    }
    ct_aten_norm pa, ua;
    ct_aten_norm_init(&pa, e - b);
    ct_aten_norm_init(&ua, e - b);
    moments(hp, s, b, e, &pa, &ua);
    red[0] = ct_aten_norm_sumsq(&pa);
    red[1] = ct_aten_norm_sumsq(&ua);
}

#define CT_SIMD_SELF "lamb.c"
#include "simd_each.h"

/* The norms of a parameter of several chunks at a SIMD level, after pass 0
 * (NULL, NULL off x86). */
static void (*const norms_at[2])(const double *, const ct_slot *, float *,
                                 float *) = CT_SIMD_KERNELS(norms_v);

static void combine(int phase, const double *hp, ct_slot *s, const double *red)
{
    if (phase != 0)
        return;
    const float eps = (float)hp[EPS];
    float wsq = (float)red[0], asq = (float)red[1];
    const int level = (int)red[3]; /* the SIMD kernel's level (0: scalar) */
    if (s->n_chunks > 1 && level > 0 && norms_at[level - 1]) {
        norms_at[level - 1](hp, s, &wsq, &asq);
    } else if (s->n_chunks > 1) { /* torch's order is sequential: one thread */
        const float *p = ct_pf(s), *m = s->state[B_EXP_AVG], *v = s->state[B_EXP_AVG_SQ];
        const int coupled = hp[DECOUPLE] == 0 && hp[WD] > 0;
        const float wd = (float)hp[WD];
        ct_aten_norm pa, ua;
        ct_aten_norm_init(&pa, s->p.numel);
        ct_aten_norm_init(&ua, s->p.numel);
        for (size_t i = 0; i < s->p.numel; i++) {
            ct_aten_norm_add(&pa, p[i]);
            ct_aten_norm_add(&ua, direction(m[i], v[i], p[i], eps, wd, coupled));
        }
        wsq = ct_aten_norm_sumsq(&pa);
        asq = ct_aten_norm_sumsq(&ua);
    }
    float wn = fminf(sqrtf(wsq), CLAMP), an = sqrtf(asq);
    float trust = wn != 0 && an != 0 ? wn / (an + eps) : 1.0f;
    s->state[B_WEIGHT_NORM][0] = wn;
    s->state[B_ADAM_NORM][0] = an;
    s->state[B_TRUST][0] = trust;
    s->scal[S_TRUST] = trust;
}

const ct_optim_kind ct_kind_lamb = {
    .name = "lamb",
    .opts = opts,
    .n_opts = sizeof opts / sizeof *opts,
    .check = check,
    .layout = layout,
    .n_phases = 2,
    .prepare = prepare,
    .kernel = kernel,
    .simd = CT_SIMD_KERNELS(kernel_v),
    .combine = combine,
};

#else /* the SIMD kernels, once per level: the scalar loops' operations */

#define LAMB_BLOCK 256 /* u of this many elements, then its norm */

/* direction() on vectors */
static inline CT_TGT VF CT_V(direction_v)(VF m, VF v, VF p, VF eps, VF wd, int coupled)
{
    VF u = V_MUL(V_DIV(V_SET(1.0f), V_ADD(V_SQRT(v), eps)), m);
    return coupled ? V_FMA(wd, p, u) : u;
}

/* ||p||^2, ||u||^2 of the whole parameter from its moments (after pass 0). */
static CT_TGT void CT_V(norms_v)(const double *hp, const ct_slot *s, float *wsq, float *asq)
{
    const float *p = ct_pf(s), *m = s->state[B_EXP_AVG], *v = s->state[B_EXP_AVG_SQ];
    const VF eps = V_SET((float)hp[EPS]), wd = V_SET((float)hp[WD]);
    const int coupled = hp[DECOUPLE] == 0 && hp[WD] > 0;
    const size_t n = s->p.numel;
    float ub[LAMB_BLOCK];
    ct_aten_norm pa, ua;
    ct_aten_norm_init(&pa, n);
    ct_aten_norm_init(&ua, n);
    CT_V(v_norm_feed)(&pa, p, n);
    for (size_t b = 0; b < n; b += LAMB_BLOCK) {
        size_t e = n - b < LAMB_BLOCK ? n : b + LAMB_BLOCK, i = b;
        for (; i + V_N <= e; i += V_N)
            V_ST(ub + (i - b), CT_V(direction_v)(V_LD(m + i), V_LD(v + i), V_LD(p + i), eps,
                                                 wd, coupled));
        for (; i < e; i++) /* the scalar function, compiled for the baseline */
            ub[i - b] = direction(m[i], v[i], p[i], (float)hp[EPS], (float)hp[WD], coupled);
        CT_V(v_norm_feed)(&ua, ub, e - b);
    }
    *wsq = ct_aten_norm_sumsq(&pa);
    *asq = ct_aten_norm_sumsq(&ua);
}

static CT_TGT void CT_V(kernel_v)(int phase, const double *hp, const ct_slot *s, size_t b,
                                  size_t e, double *red)
{
    float *p = ct_pf(s), *m = s->state[B_EXP_AVG], *v = s->state[B_EXP_AVG_SQ];
    const float *gr = ct_gf(s);
    const VF eps = V_SET((float)hp[EPS]), wd = V_SET((float)hp[WD]);
    const int coupled = hp[DECOUPLE] == 0 && hp[WD] > 0;
    size_t i = b;
    if (phase == 1) {
        const VF trust = V_SET((float)s->scal[S_TRUST]);
        const VF neg_step = V_SET((float)-s->scal[S_STEP_SIZE]);
        const int adam = hp[ADAM] != 0;
        for (; i + V_N <= e; i += V_N) {
            VF pi = V_LD(p + i);
            VF u = CT_V(direction_v)(V_LD(m + i), V_LD(v + i), pi, eps, wd, coupled);
            if (!adam)
                u = V_MUL(u, trust);
            V_ST(p + i, V_FMA(neg_step, u, pi));
        }
        if (i < e)
            kernel(phase, hp, s, i, e, red);
        return;
    }
    const VF b1 = V_SET((float)hp[BETAS]), b2 = V_SET((float)hp[BETA2]);
    const VF w2 = V_SET((float)(1.0 - hp[BETA2]));
    const VF b3 = V_SET((float)(hp[GRAD_AVG] != 0 ? 1.0 - hp[BETAS] : 1.0));
    const VF decay = V_SET((float)s->scal[S_DECAY]);
    const int maximize = hp[MAXIMIZE] != 0, decouple = hp[DECOUPLE] != 0 && hp[WD] != 0;
    const int here = s->n_chunks == 1;
    float ub[LAMB_BLOCK];
    ct_aten_norm pa, ua;
    ct_aten_norm_init(&pa, e - b);
    ct_aten_norm_init(&ua, e - b);
    while (i + V_N <= e) {
        const size_t bb = i, be = e - i < LAMB_BLOCK ? e : i + LAMB_BLOCK;
        for (; i + V_N <= be; i += V_N) {
            VF g = V_LD(gr + i), pi = V_LD(p + i);
            if (maximize)
                g = V_NEG(g);
            if (decouple) {
                pi = V_MUL(pi, decay);
                V_ST(p + i, pi);
            }
            VF mi = V_FMA(b3, g, V_MUL(V_LD(m + i), b1));
            VF vi = V_FMA(V_MUL(w2, g), g, V_MUL(V_LD(v + i), b2));
            V_ST(m + i, mi);
            V_ST(v + i, vi);
            if (here)
                V_ST(ub + (i - bb), CT_V(direction_v)(mi, vi, pi, eps, wd, coupled));
        }
        if (here) {
            CT_V(v_norm_feed)(&pa, p + bb, i - bb);
            CT_V(v_norm_feed)(&ua, ub, i - bb);
        }
    }
    if (i < e)
        moments(hp, s, i, e, here ? &pa : NULL, here ? &ua : NULL);
    if (here) {
        red[0] = ct_aten_norm_sumsq(&pa);
        red[1] = ct_aten_norm_sumsq(&ua);
    } else if (b == 0) {
        red[3] = CT_SIMD_LEVEL; /* combine computes the norms at this level */
    }
}

#endif
