/* RMSprop with momentum, centering, weight decay and maximize.
 * Source: torch/optim/rmsprop.py, _single_tensor_rmsprop (PyTorch 2.x);
 * Tieleman & Hinton 2012, Lecture 6.5; centered form: Graves 2013,
 * "Generating Sequences With Recurrent Neural Networks", eq. (38)-(45).
 * Per element:
 *   g = maximize ? -grad : grad;  g += wd * p
 *   sq = alpha * sq + (1 - alpha) * g^2
 *   centered: ga = lerp(ga, g, 1 - alpha); avg = sqrt(sq - ga^2) + eps
 *   else:     avg = sqrt(sq) + eps
 *   momentum > 0: buf = momentum * buf + g / avg;  p -= lr * buf
 *   else:         p -= lr * g / avg
 * Multiply-adds are fused where ATen's kernels fuse them (add with alpha,
 * addcmul, lerp); addcdiv is not.                                          */
#ifndef CT_SIMD_LEVEL
#include <math.h>

#include "aten_reduce.h"
#include "optim_impl.h"

enum { LR, ALPHA, EPS, WD, MOMENTUM, CENTERED, MAXIMIZE };

static const ct_opt_desc opts[] = {
    {"lr", CT_OPT_REAL, 1, LR, {1e-2}, 0, INFINITY, 0, 0},
    {"alpha", CT_OPT_REAL, 1, ALPHA, {0.99}, 0, INFINITY, 0, 0},
    {"eps", CT_OPT_REAL, 1, EPS, {1e-8}, 0, INFINITY, CT_OPT_LO_OPEN, 0},
    {"weight_decay", CT_OPT_REAL, 1, WD, {0}, 0, INFINITY, 0, 0},
    {"momentum", CT_OPT_REAL, 1, MOMENTUM, {0}, 0, INFINITY, 0, 0},
    {"centered", CT_OPT_BOOL, 1, CENTERED, {0}, 0, 1, 0, 0},
    {"maximize", CT_OPT_BOOL, 1, MAXIMIZE, {0}, 0, 1, 0, 0},
};

static int layout(const double *hp, const ct_param *p, ct_state_desc *out)
{
    int n = 0;
    out[n++] = (ct_state_desc){"square_avg", p->numel};
    if (hp[MOMENTUM] > 0)
        out[n++] = (ct_state_desc){"momentum_buffer", p->numel};
    if (hp[CENTERED] != 0)
        out[n++] = (ct_state_desc){"grad_avg", p->numel};
    return n;
}

static CT_NOINLINE void kernel(int phase, const double *hp, const ct_slot *s, size_t b,
                               size_t e, double *red)
{
    (void)phase, (void)red;
    float *p = ct_pf(s), *sq = s->state[0];
    const int has_mom = hp[MOMENTUM] > 0, centered = hp[CENTERED] != 0;
    float *buf = has_mom ? s->state[1] : NULL;
    float *ga = centered ? s->state[has_mom ? 2 : 1] : NULL;
    const float *gr = ct_gf(s);
    const float wd = (float)hp[WD], eps = (float)hp[EPS], alpha = (float)hp[ALPHA];
    const float w = (float)(1 - hp[ALPHA]);
    const float mom = (float)hp[MOMENTUM], neg_lr = (float)-hp[LR];
    const int maximize = hp[MAXIMIZE] != 0, has_wd = hp[WD] != 0;
    for (size_t i = b; i < e; i++) {
        float g = maximize ? -gr[i] : gr[i];
        if (has_wd)
            g = fmaf(wd, p[i], g);
        sq[i] = fmaf(w * g, g, sq[i] * alpha);
        float avg;
        if (ga) {
            ga[i] = ct_aten_lerpf(ga[i], g, w);
            avg = sqrtf(fmaf(-ga[i], ga[i], sq[i]));
        } else {
            avg = sqrtf(sq[i]);
        }
        avg = avg + eps;
        if (buf) {
            buf[i] = buf[i] * mom + g / avg;
            p[i] = fmaf(neg_lr, buf[i], p[i]);
        } else {
            p[i] = p[i] + neg_lr * g / avg;
        }
    }
}

#define CT_SIMD_SELF "rmsprop.c"
#include "simd_each.h"

const ct_optim_kind ct_kind_rmsprop = {
    .name = "rmsprop",
    .opts = opts,
    .n_opts = sizeof opts / sizeof *opts,
    .layout = layout,
    .n_phases = 1,
    .kernel = kernel,
    .simd = CT_SIMD_KERNELS(kernel_v),
    .fused = CT_SIMD_KERNELS(fused_v),
};

#else /* the SIMD kernel, once per level: the scalar loop's operations */

/* One loop for every storage (simd.h's V_IO_DECL). */
V_BODY CT_V(body_v)(const double *hp, const ct_slot *s, size_t b, size_t e, int pm, int sbf16)
{
    V_IO_DECL();
    const int has_mom = hp[MOMENTUM] > 0, centered = hp[CENTERED] != 0;
    const int kbuf = 1, kga = has_mom ? 2 : 1; /* state buffers after square_avg */
    const float w_f = (float)(1 - hp[ALPHA]), one_minus_w = 1.0f - w_f;
    const int w_small = fabsf(w_f) < 0.5f;
    const VF wd = V_SET((float)hp[WD]), eps = V_SET((float)hp[EPS]);
    const VF alpha = V_SET((float)hp[ALPHA]), w = V_SET(w_f), neg_omw = V_SET(-one_minus_w);
    const VF mom = V_SET((float)hp[MOMENTUM]), neg_lr = V_SET((float)-hp[LR]);
    const int maximize = hp[MAXIMIZE] != 0, has_wd = hp[WD] != 0;
    size_t i = b;
    for (; i + V_N <= e; i += V_N) {
        VF g = V_LDG(i), pi = V_LDP(i);
        if (maximize)
            g = V_NEG(g);
        if (has_wd)
            g = V_FMA(wd, pi, g);
        VF si = V_FMA(V_MUL(w, g), g, V_MUL(V_LDS(0, i), alpha));
        V_STS(0, i, si);
        VF avg;
        if (centered) {
            VF gi = V_LERP(V_LDS(kga, i), g, w_small, w, neg_omw);
            V_STS(kga, i, gi);
            avg = V_SQRT(V_FMA(V_NEG(gi), gi, si));
        } else {
            avg = V_SQRT(si);
        }
        avg = V_ADD(avg, eps);
        if (has_mom) {
            VF bi = V_ADD(V_MUL(V_LDS(kbuf, i), mom), V_DIV(g, avg));
            V_STS(kbuf, i, bi);
            V_STP(i, V_FMA(neg_lr, bi, pi));
        } else {
            V_STP(i, V_ADD(pi, V_DIV(V_MUL(neg_lr, g), avg)));
        }
    }
    return i;
}

V_KERNELS(body_v, kernel)

#endif
