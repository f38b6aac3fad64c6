/* SGD with momentum, dampening, Nesterov, weight decay and maximize.
 * Source: torch/optim/sgd.py, _single_tensor_sgd (PyTorch 2.x), after
 * Sutskever et al. 2013 for Nesterov momentum. Per element:
 *   g = maximize ? -grad : grad;  g += wd * p
 *   buf = first step ? g : momentum * buf + (1 - dampening) * g
 *   g = nesterov ? g + momentum * buf : buf
 *   p -= lr * g
 * Each a + s*b is one fused multiply-add, as ATen's vectorized add with
 * alpha computes it, so rounding follows torch's.                          */
#ifndef CT_SIMD_LEVEL
#include <math.h>

#include "optim_impl.h"

enum { LR, MOMENTUM, DAMPENING, WD, NESTEROV, MAXIMIZE };

static const ct_opt_desc opts[] = {
    {"lr", CT_OPT_REAL, 1, LR, {1e-3}, 0, INFINITY, 0, 0},
    {"momentum", CT_OPT_REAL, 1, MOMENTUM, {0}, 0, INFINITY, 0, 0},
    {"dampening", CT_OPT_REAL, 1, DAMPENING, {0}, -INFINITY, INFINITY, 0, 0},
    {"weight_decay", CT_OPT_REAL, 1, WD, {0}, 0, INFINITY, 0, 0},
    {"nesterov", CT_OPT_BOOL, 1, NESTEROV, {0}, 0, 1, 0, 0},
    {"maximize", CT_OPT_BOOL, 1, MAXIMIZE, {0}, 0, 1, 0, 0},
};

static ct_status check(const double *hp, ct_err *e)
{
    if (hp[NESTEROV] != 0 && (hp[MOMENTUM] <= 0 || hp[DAMPENING] != 0))
        return ct_fail(e, CT_EINVAL, "sgd: nesterov=true requires momentum > 0 and dampening = 0");
    return CT_OK;
}

static int layout(const double *hp, const ct_param *p, ct_state_desc *out)
{
    if (hp[MOMENTUM] == 0)
        return 0;
    out[0] = (ct_state_desc){"momentum_buffer", p->numel};
    return 1;
}

static CT_NOINLINE void kernel(int phase, const double *hp, const ct_slot *s, size_t b,
                               size_t e, double *red)
{
    (void)phase, (void)red;
    float *p = ct_pf(s);
    const float *gr = ct_gf(s);
    const float wd = (float)hp[WD], mom = (float)hp[MOMENTUM];
    const float damp = (float)(1 - hp[DAMPENING]), neg_lr = (float)-hp[LR];
    const int maximize = hp[MAXIMIZE] != 0, nesterov = hp[NESTEROV] != 0;
    const int first = s->step == 1, has_wd = hp[WD] != 0;
    float *buf = hp[MOMENTUM] != 0 ? s->state[0] : NULL;
    for (size_t i = b; i < e; i++) {
        float g = maximize ? -gr[i] : gr[i];
        if (has_wd)
            g = fmaf(wd, p[i], g);
        if (buf) {
            buf[i] = first ? g : fmaf(damp, g, buf[i] * mom);
            g = nesterov ? fmaf(mom, buf[i], g) : buf[i];
        }
        p[i] = fmaf(neg_lr, g, p[i]);
    }
}

#define CT_SIMD_SELF "sgd.c"
#include "simd_each.h"

const ct_optim_kind ct_kind_sgd = {
    .name = "sgd",
    .opts = opts,
    .n_opts = sizeof opts / sizeof *opts,
    .check = check,
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
    const VF wd = V_SET((float)hp[WD]), mom = V_SET((float)hp[MOMENTUM]);
    const VF damp = V_SET((float)(1 - hp[DAMPENING])), neg_lr = V_SET((float)-hp[LR]);
    const int maximize = hp[MAXIMIZE] != 0, nesterov = hp[NESTEROV] != 0;
    const int first = s->step == 1, has_wd = hp[WD] != 0;
    const int has_buf = hp[MOMENTUM] != 0;
    size_t i = b;
    for (; i + V_N <= e; i += V_N) {
        VF g = V_LDG(i), pi = V_LDP(i);
        if (maximize)
            g = V_NEG(g);
        if (has_wd)
            g = V_FMA(wd, pi, g);
        if (has_buf) {
            VF bi = first ? g : V_FMA(damp, g, V_MUL(V_LDS(0, i), mom));
            V_STS(0, i, bi);
            g = nesterov ? V_FMA(mom, bi, g) : bi;
        }
        V_STP(i, V_FMA(neg_lr, g, pi));
    }
    return i;
}

V_KERNELS(body_v, kernel)

#endif
