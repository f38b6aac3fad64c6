/* RAdam (rectified Adam) with L2 or decoupled weight decay and maximize.
 * Source: torch/optim/radam.py, _single_tensor_radam (PyTorch 2.x); Liu et
 * al. 2020, "On the Variance of the Adaptive Learning Rate and Beyond",
 * Algorithm 2. Per element, at step t:
 *   g = maximize ? -grad : grad
 *   decoupled: p *= 1 - lr*wd        else: g += wd * p
 *   m = lerp(m, g, 1 - b1);  v = b2 v + (1 - b2) g^2
 *   rho_inf = 2 / (1 - b2) - 1;  rho_t = rho_inf - 2 t b2^t / (1 - b2^t)
 *   mhat = m / (1 - b1^t)
 *   rho_t > 5: r = sqrt((rho_t-4)(rho_t-2) rho_inf / ((rho_inf-4)(rho_inf-2) rho_t))
 *              p -= mhat * lr * (sqrt(1 - b2^t) / (sqrt(v) + eps)) * r
 *   else:      p -= mhat * lr
 * The order of the float32 products follows torch's expression (scalar /
 * tensor is tensor.reciprocal() * scalar there).                            */
#ifndef CT_SIMD_LEVEL
#include <math.h>

#include "aten_reduce.h"
#include "optim_impl.h"

enum { LR, BETAS, BETA2, EPS, WD, DECOUPLED, MAXIMIZE };
enum { S_BC1, S_BC2_SQRT, S_DECAY, S_RECT, S_RECTIFY };

static const ct_opt_desc opts[] = {
    {"lr", CT_OPT_REAL, 1, LR, {1e-3}, 0, INFINITY, 0, 0},
    {"betas", CT_OPT_REAL, 2, BETAS, {0.9, 0.999}, 0, 1, CT_OPT_HI_OPEN, 0},
    {"eps", CT_OPT_REAL, 1, EPS, {1e-8}, 0, INFINITY, CT_OPT_LO_OPEN, 0},
    {"weight_decay", CT_OPT_REAL, 1, WD, {0}, 0, INFINITY, 0, 0},
    {"decoupled_weight_decay", CT_OPT_BOOL, 1, DECOUPLED, {0}, 0, 1, 0, 0},
    {"maximize", CT_OPT_BOOL, 1, MAXIMIZE, {0}, 0, 1, 0, 0},
};

static int layout(const double *hp, const ct_param *p, ct_state_desc *out)
{
    (void)hp;
    out[0] = (ct_state_desc){"exp_avg", p->numel};
    out[1] = (ct_state_desc){"exp_avg_sq", p->numel};
    return 2;
}

static void prepare(const double *hp, ct_slot *s)
{
    const double t = (double)s->step, b1 = hp[BETAS], b2 = hp[BETA2];
    const double bc1 = 1 - pow(b1, t), bc2 = 1 - pow(b2, t);
    const double rho_inf = 2 / (1 - b2) - 1;
    const double rho_t = rho_inf - 2 * t * pow(b2, t) / bc2;
    s->scal[S_BC1] = bc1;
    s->scal[S_BC2_SQRT] = pow(bc2, 0.5);
    s->scal[S_DECAY] = 1 - hp[LR] * hp[WD];
    s->scal[S_RECTIFY] = rho_t > 5.0;
    s->scal[S_RECT] = rho_t > 5.0 ? pow((rho_t - 4) * (rho_t - 2) * rho_inf /
                                            ((rho_inf - 4) * (rho_inf - 2) * rho_t),
                                        0.5)
                                  : 0;
}

static CT_NOINLINE void kernel(int phase, const double *hp, const ct_slot *s, size_t b,
                               size_t e, double *red)
{
    (void)phase, (void)red;
    float *p = ct_pf(s), *m = s->state[0], *v = s->state[1];
    const float *gr = ct_gf(s);
    const float wd = (float)hp[WD], eps = (float)hp[EPS], b2 = (float)hp[BETA2];
    const float w1 = (float)(1 - hp[BETAS]);
    const float w2 = (float)(1 - hp[BETA2]), lr = (float)hp[LR];
    const float bc1 = (float)s->scal[S_BC1], bc2s = (float)s->scal[S_BC2_SQRT];
    const float decay = (float)s->scal[S_DECAY], rect = (float)s->scal[S_RECT];
    const int rectify = s->scal[S_RECTIFY] != 0;
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
        float upd = m[i] / bc1 * lr;
        if (rectify) {
            float adaptive = 1.0f / (sqrtf(v[i]) + eps) * bc2s;
            upd = upd * adaptive * rect;
        }
        p[i] = p[i] - upd;
    }
}

#define CT_SIMD_SELF "radam.c"
#include "simd_each.h"

const ct_optim_kind ct_kind_radam = {
    .name = "radam",
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
    float *p = ct_pf(s), *m = s->state[0], *v = s->state[1];
    const float *gr = ct_gf(s);
    const float w1_f = (float)(1 - hp[BETAS]), one_minus_w1 = 1.0f - w1_f;
    const int w1_small = fabsf(w1_f) < 0.5f;
    const VF wd = V_SET((float)hp[WD]), eps = V_SET((float)hp[EPS]), b2 = V_SET((float)hp[BETA2]);
    const VF w1 = V_SET(w1_f), neg_omw1 = V_SET(-one_minus_w1);
    const VF w2 = V_SET((float)(1 - hp[BETA2])), lr = V_SET((float)hp[LR]);
    const VF bc1 = V_SET((float)s->scal[S_BC1]), bc2s = V_SET((float)s->scal[S_BC2_SQRT]);
    const VF decay = V_SET((float)s->scal[S_DECAY]), rect = V_SET((float)s->scal[S_RECT]);
    const VF one = V_SET(1.0f);
    const int rectify = s->scal[S_RECTIFY] != 0;
    const int maximize = hp[MAXIMIZE] != 0, has_wd = hp[WD] != 0;
    const int decoupled = hp[DECOUPLED] != 0;
    size_t i = b;
    for (; i + V_N <= e; i += V_N) {
        VF g = V_LD(gr + i), pi = V_LD(p + i), mi, vi;
        V_GRAD_DECAY(g, pi, maximize, has_wd, decoupled, wd, decay);
        V_ADAM_MOMENTS(m, v, i, g, mi, vi, w1_small, w1, neg_omw1, w2, b2);
        VF upd = V_MUL(V_DIV(mi, bc1), lr);
        if (rectify) {
            VF adaptive = V_MUL(V_DIV(one, V_ADD(V_SQRT(vi), eps)), bc2s);
            upd = V_MUL(V_MUL(upd, adaptive), rect);
        }
        V_ST(p + i, V_SUB(pi, upd));
    }
    if (i < e)
        kernel(phase, hp, s, i, e, red);
}

#endif
