/* NAdam (Adam with Nesterov momentum) with momentum decay, L2 or decoupled
 * weight decay, and maximize.
 * Source: torch/optim/nadam.py, _single_tensor_nadam (PyTorch 2.x); Dozat
 * 2016, "Incorporating Nesterov Momentum into Adam", Algorithm 2, with the
 * momentum schedule mu_t = b1 (1 - 0.5 * 0.96^(t psi)) of that paper.
 * Per element, at step t:
 *   g = maximize ? -grad : grad
 *   decoupled: p *= 1 - lr*wd        else: g += wd * p
 *   mu = b1 (1 - 0.5 * 0.96^(t psi)); mu' = b1 (1 - 0.5 * 0.96^((t+1) psi))
 *   mu_product *= mu                  (float32 state, as torch keeps it)
 *   m = lerp(m, g, 1 - b1);  v = b2 v + (1 - b2) g^2
 *   denom = sqrt(v / (1 - b2^t)) + eps
 *   p += (-lr (1 - mu) / (1 - mu_product)) * g / denom
 *   p += (-lr mu' / (1 - mu_product mu')) * m / denom
 * Multiply-adds are fused where ATen's kernels fuse them (add with alpha,
 * lerp, addcmul); addcdiv is not.                                           */
#ifndef CT_SIMD_LEVEL
#include <math.h>

#include "aten_reduce.h"
#include "optim_impl.h"

enum { LR, BETAS, BETA2, EPS, WD, MOMENTUM_DECAY, DECOUPLED, MAXIMIZE };
enum { S_BC2, S_DECAY, S_VAL_G, S_VAL_M };

static const ct_opt_desc opts[] = {
    {"lr", CT_OPT_REAL, 1, LR, {2e-3}, 0, INFINITY, 0, 0},
    {"betas", CT_OPT_REAL, 2, BETAS, {0.9, 0.999}, 0, 1, CT_OPT_HI_OPEN, 0},
    {"eps", CT_OPT_REAL, 1, EPS, {1e-8}, 0, INFINITY, CT_OPT_LO_OPEN, 0},
    {"weight_decay", CT_OPT_REAL, 1, WD, {0}, 0, INFINITY, 0, 0},
    {"momentum_decay", CT_OPT_REAL, 1, MOMENTUM_DECAY, {4e-3}, 0, INFINITY, 0, 0},
    {"decoupled_weight_decay", CT_OPT_BOOL, 1, DECOUPLED, {0}, 0, 1, 0, 0},
    {"maximize", CT_OPT_BOOL, 1, MAXIMIZE, {0}, 0, 1, 0, 0},
};

static int layout(const double *hp, const ct_param *p, ct_state_desc *out)
{
    (void)hp;
    out[0] = (ct_state_desc){"exp_avg", p->numel};
    out[1] = (ct_state_desc){"exp_avg_sq", p->numel};
    out[2] = (ct_state_desc){"mu_product", 1};
    return 3;
}

static void init(const double *hp, ct_slot *s)
{
    (void)hp;
    s->state[2][0] = 1.0f;
}

/* Runs once per parameter and step, before the kernel: updates mu_product
 * in float32 as torch's 0-dim tensor does (mu is rounded to float first). */
static void prepare(const double *hp, ct_slot *s)
{
    const double t = (double)s->step, lr = hp[LR], b1 = hp[BETAS], psi = hp[MOMENTUM_DECAY];
    const double mu = b1 * (1.0 - 0.5 * pow(0.96, t * psi));
    const double mu_next = b1 * (1.0 - 0.5 * pow(0.96, (t + 1) * psi));
    float *mu_product = s->state[2];
    mu_product[0] = mu_product[0] * (float)mu;
    const double mp = (double)mu_product[0];
    s->scal[S_BC2] = 1 - pow(hp[BETA2], t);
    s->scal[S_DECAY] = 1 - lr * hp[WD];
    s->scal[S_VAL_G] = -lr * (1.0 - mu) / (1.0 - mp);
    s->scal[S_VAL_M] = (-lr * mu_next) / (1.0 - mp * mu_next);
}

static CT_NOINLINE void kernel(int phase, const double *hp, const ct_slot *s, size_t b,
                               size_t e, double *red)
{
    (void)phase, (void)red;
    float *p = ct_pf(s), *m = s->state[0], *v = s->state[1];
    const float *gr = ct_gf(s);
    const float wd = (float)hp[WD], eps = (float)hp[EPS], b2 = (float)hp[BETA2];
    const float w1 = (float)(1 - hp[BETAS]);
    const float w2 = (float)(1 - hp[BETA2]), bc2 = (float)s->scal[S_BC2];
    const float decay = (float)s->scal[S_DECAY];
    const float val_g = (float)s->scal[S_VAL_G], val_m = (float)s->scal[S_VAL_M];
    const int maximize = hp[MAXIMIZE] != 0, has_wd = hp[WD] != 0;
    const int decoupled = hp[DECOUPLED] != 0;
    for (size_t i = b; i < e; i++) {
        float g = maximize ? -gr[i] : gr[i];
        if (has_wd) {
            if (decoupled)
                p[i] = p[i] * decay;
            else
                g = fmaf(wd, p[i], g);
        }
        m[i] = ct_aten_lerpf(m[i], g, w1);
        v[i] = fmaf(w2 * g, g, v[i] * b2);
        float denom = sqrtf(v[i] / bc2) + eps;
        p[i] = p[i] + val_g * g / denom;
        p[i] = p[i] + val_m * m[i] / denom;
    }
}

#define CT_SIMD_SELF "nadam.c"
#include "simd_each.h"

const ct_optim_kind ct_kind_nadam = {
    .name = "nadam",
    .opts = opts,
    .n_opts = sizeof opts / sizeof *opts,
    .layout = layout,
    .init = init,
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
    float *p = ct_pf(s), *m = s->state[0], *v = s->state[1];
    const float *gr = ct_gf(s);
    const float w1_f = (float)(1 - hp[BETAS]), one_minus_w1 = 1.0f - w1_f;
    const int w1_small = fabsf(w1_f) < 0.5f;
    const VF wd = V_SET((float)hp[WD]), eps = V_SET((float)hp[EPS]), b2 = V_SET((float)hp[BETA2]);
    const VF w1 = V_SET(w1_f), neg_omw1 = V_SET(-one_minus_w1);
    const VF w2 = V_SET((float)(1 - hp[BETA2])), bc2 = V_SET((float)s->scal[S_BC2]);
    const VF decay = V_SET((float)s->scal[S_DECAY]);
    const VF val_g = V_SET((float)s->scal[S_VAL_G]), val_m = V_SET((float)s->scal[S_VAL_M]);
    const int maximize = hp[MAXIMIZE] != 0, has_wd = hp[WD] != 0;
    const int decoupled = hp[DECOUPLED] != 0;
    size_t i = b;
    for (; i + V_N <= e; i += V_N) {
        VF g = V_LD(gr + i), pi = V_LD(p + i), mi, vi;
        V_GRAD_DECAY(g, pi, maximize, has_wd, decoupled, wd, decay);
        V_ADAM_MOMENTS(m, v, i, g, mi, vi, w1_small, w1, neg_omw1, w2, b2);
        VF denom = V_ADD(V_SQRT(V_DIV(vi, bc2)), eps);
        pi = V_ADD(pi, V_DIV(V_MUL(val_g, g), denom));
        V_ST(p + i, V_ADD(pi, V_DIV(V_MUL(val_m, mi), denom)));
    }
    if (i < e)
        kernel(phase, hp, s, i, e, red);
}

#endif
