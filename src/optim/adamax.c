/* Adamax with weight decay and maximize.
 * Source: torch/optim/adamax.py, _single_tensor_adamax (PyTorch 2.x);
 * Kingma & Ba 2015, "Adam", Algorithm 2 (the infinity-norm variant).
 * Per element, at step t:
 *   g = maximize ? -grad : grad;  g += wd * p
 *   m = lerp(m, g, 1 - b1)
 *   u = max(b2 * u, |g| + eps)
 *   p += (-lr / (1 - b1^t)) * m / u
 * Multiply-adds are fused where ATen's kernels fuse them (add with alpha,
 * lerp); addcdiv is not.                                                    */
#ifndef CT_SIMD_LEVEL
#include <math.h>

#include "aten_reduce.h"
#include "optim_impl.h"

enum { LR, BETAS, BETA2, EPS, WD, MAXIMIZE };
enum { S_NEG_CLR };

static const ct_opt_desc opts[] = {
    {"lr", CT_OPT_REAL, 1, LR, {2e-3}, 0, INFINITY, 0, 0},
    {"betas", CT_OPT_REAL, 2, BETAS, {0.9, 0.999}, 0, 1, CT_OPT_HI_OPEN, 0},
    {"eps", CT_OPT_REAL, 1, EPS, {1e-8}, 0, INFINITY, CT_OPT_LO_OPEN, 0},
    {"weight_decay", CT_OPT_REAL, 1, WD, {0}, 0, INFINITY, 0, 0},
    {"maximize", CT_OPT_BOOL, 1, MAXIMIZE, {0}, 0, 1, 0, 0},
};

static int layout(const double *hp, const ct_param *p, ct_state_desc *out)
{
    (void)hp;
    out[0] = (ct_state_desc){"exp_avg", p->numel};
    out[1] = (ct_state_desc){"exp_inf", p->numel};
    return 2;
}

static void prepare(const double *hp, ct_slot *s)
{
    s->scal[S_NEG_CLR] = -(hp[LR] / (1 - pow(hp[BETAS], (double)s->step)));
}

static CT_NOINLINE void kernel(int phase, const double *hp, const ct_slot *s, size_t b,
                               size_t e, double *red)
{
    (void)phase, (void)red;
    float *p = ct_pf(s), *m = s->state[0], *u = s->state[1];
    const float *gr = ct_gf(s);
    const float wd = (float)hp[WD], eps = (float)hp[EPS], b2 = (float)hp[BETA2];
    const float w1 = (float)(1 - hp[BETAS]);
    const float neg_clr = (float)s->scal[S_NEG_CLR];
    const int maximize = hp[MAXIMIZE] != 0, has_wd = hp[WD] != 0;
    for (size_t i = b; i < e; i++) {
        float g = maximize ? -gr[i] : gr[i];
        if (has_wd)
            g = fmaf(wd, p[i], g);
        m[i] = ct_aten_lerpf(m[i], g, w1);
        float a = u[i] * b2, c = fabsf(g) + eps;
        u[i] = (a > c || isnan(a)) ? a : c; /* torch.maximum propagates NaN */
        p[i] = p[i] + neg_clr * m[i] / u[i];
    }
}

#define CT_SIMD_SELF "adamax.c"
#include "simd_each.h"

const ct_optim_kind ct_kind_adamax = {
    .name = "adamax",
    .opts = opts,
    .n_opts = sizeof opts / sizeof *opts,
    .layout = layout,
    .n_phases = 1,
    .prepare = prepare,
    .kernel = kernel,
    .simd = CT_SIMD_KERNELS(kernel_v),
};

#else /* the SIMD kernel, once per level: the scalar loop's operations */

static CT_TGT void CT_V(kernel_v)(int phase, const double *hp, const ct_slot *s, size_t b,
                                   size_t e, double *red)
{
    (void)phase, (void)red;
    float *p = ct_pf(s), *m = s->state[0], *u = s->state[1];
    const float *gr = ct_gf(s);
    const float w1_f = (float)(1 - hp[BETAS]), one_minus_w1 = 1.0f - w1_f;
    const int w1_small = fabsf(w1_f) < 0.5f;
    const VF wd = V_SET((float)hp[WD]), eps = V_SET((float)hp[EPS]), b2 = V_SET((float)hp[BETA2]);
    const VF w1 = V_SET(w1_f), neg_omw1 = V_SET(-one_minus_w1);
    const VF neg_clr = V_SET((float)s->scal[S_NEG_CLR]);
    const int maximize = hp[MAXIMIZE] != 0, has_wd = hp[WD] != 0;
    size_t i = b;
    for (; i + V_N <= e; i += V_N) {
        VF g = V_LD(gr + i), pi = V_LD(p + i);
        if (maximize)
            g = V_NEG(g);
        if (has_wd)
            g = V_FMA(wd, pi, g);
        VF mi = V_LERP(V_LD(m + i), g, w1_small, w1, neg_omw1);
        V_ST(m + i, mi);
        VF a = V_MUL(V_LD(u + i), b2), c = V_ADD(V_ABS(g), eps);
        VF ui = V_SEL(V_MOR(V_GT(a, c), V_ISNAN(a)), a, c); /* torch.maximum propagates NaN */
        V_ST(u + i, ui);
        V_ST(p + i, V_ADD(pi, V_DIV(V_MUL(neg_clr, mi), ui)));
    }
    if (i < e)
        kernel(phase, hp, s, i, e, red);
}

#endif
