/* Adadelta with weight decay and maximize.
 * Source: torch/optim/adadelta.py, _single_tensor_adadelta (PyTorch 2.x);
 * Zeiler 2012, "ADADELTA: An Adaptive Learning Rate Method", Algorithm 1.
 * Per element:
 *   g = maximize ? -grad : grad;  g += wd * p
 *   sq = rho * sq + (1 - rho) * g^2
 *   delta = sqrt(acc + eps) / sqrt(sq + eps) * g
 *   acc = rho * acc + (1 - rho) * delta^2
 *   p -= lr * delta
 * Multiply-adds are fused where ATen's kernels fuse them (add with alpha,
 * addcmul).                                                                 */
#ifndef CT_SIMD_LEVEL
#include <math.h>

#include "optim_impl.h"

enum { LR, RHO, EPS, WD, MAXIMIZE };

static const ct_opt_desc opts[] = {
    {"lr", CT_OPT_REAL, 1, LR, {1.0}, 0, INFINITY, 0, 0},
    {"rho", CT_OPT_REAL, 1, RHO, {0.9}, 0, 1, 0, 0},
    {"eps", CT_OPT_REAL, 1, EPS, {1e-6}, 0, INFINITY, CT_OPT_LO_OPEN, 0},
    {"weight_decay", CT_OPT_REAL, 1, WD, {0}, 0, INFINITY, 0, 0},
    {"maximize", CT_OPT_BOOL, 1, MAXIMIZE, {0}, 0, 1, 0, 0},
};

static int layout(const double *hp, const ct_param *p, ct_state_desc *out)
{
    (void)hp;
    out[0] = (ct_state_desc){"square_avg", p->numel};
    out[1] = (ct_state_desc){"acc_delta", p->numel};
    return 2;
}

static CT_NOINLINE void kernel(int phase, const double *hp, const ct_slot *s, size_t b,
                               size_t e, double *red)
{
    (void)phase, (void)red;
    float *p = ct_pf(s), *sq = s->state[0], *acc = s->state[1];
    const float *gr = ct_gf(s);
    const float wd = (float)hp[WD], eps = (float)hp[EPS], rho = (float)hp[RHO];
    const float w = (float)(1 - hp[RHO]), neg_lr = (float)-hp[LR];
    const int maximize = hp[MAXIMIZE] != 0, has_wd = hp[WD] != 0;
    for (size_t i = b; i < e; i++) {
        float g = maximize ? -gr[i] : gr[i];
        if (has_wd)
            g = fmaf(wd, p[i], g);
        sq[i] = fmaf(w * g, g, sq[i] * rho);
        float std = sqrtf(sq[i] + eps);
        float delta = sqrtf(acc[i] + eps);
        delta = delta / std * g;
        acc[i] = fmaf(w * delta, delta, acc[i] * rho);
        p[i] = fmaf(neg_lr, delta, p[i]);
    }
}

#define CT_SIMD_SELF "adadelta.c"
#include "simd_each.h"

const ct_optim_kind ct_kind_adadelta = {
    .name = "adadelta",
    .opts = opts,
    .n_opts = sizeof opts / sizeof *opts,
    .layout = layout,
    .n_phases = 1,
    .kernel = kernel,
    .simd = CT_SIMD_KERNELS(kernel_v),
};

#else /* the SIMD kernel, once per level: the scalar loop's operations */

static CT_TGT void CT_V(kernel_v)(int phase, const double *hp, const ct_slot *s, size_t b,
                                   size_t e, double *red)
{
    (void)phase, (void)red;
    float *p = ct_pf(s), *sq = s->state[0], *acc = s->state[1];
    const float *gr = ct_gf(s);
    const VF wd = V_SET((float)hp[WD]), eps = V_SET((float)hp[EPS]), rho = V_SET((float)hp[RHO]);
    const VF w = V_SET((float)(1 - hp[RHO])), neg_lr = V_SET((float)-hp[LR]);
    const int maximize = hp[MAXIMIZE] != 0, has_wd = hp[WD] != 0;
    size_t i = b;
    for (; i + V_N <= e; i += V_N) {
        VF g = V_LD(gr + i), pi = V_LD(p + i);
        if (maximize)
            g = V_NEG(g);
        if (has_wd)
            g = V_FMA(wd, pi, g);
        VF si = V_FMA(V_MUL(w, g), g, V_MUL(V_LD(sq + i), rho));
        V_ST(sq + i, si);
        VF std = V_SQRT(V_ADD(si, eps)), ai = V_LD(acc + i);
        VF delta = V_MUL(V_DIV(V_SQRT(V_ADD(ai, eps)), std), g);
        V_ST(acc + i, V_FMA(V_MUL(w, delta), delta, V_MUL(ai, rho)));
        V_ST(p + i, V_FMA(neg_lr, delta, pi));
    }
    if (i < e)
        kernel(phase, hp, s, i, e, red);
}

#endif
