/* Lion (EvoLved Sign Momentum).
 * Paper: Chen et al. 2023, "Symbolic Discovery of Optimization Algorithms",
 * Algorithm 2 (Lion with decoupled weight decay). Numerics and defaults
 * follow pytorch-optimizer 4.1.0's Lion._step_foreach (its default path on
 * CPU). Per element:
 *   g = maximize ? -grad : grad
 *   weight_decouple: p *= 1 - wd * (fixed_decay ? 1 : lr)   else g += wd p
 *   u = sign(lerp(m, g, 1 - beta1))            (interpolated update)
 *   m = lerp(m, g, 1 - beta2)                  (state "exp_avg")
 *   p -= lr * u
 * lerp is ATen's: weight w with |w| < 0.5 -> fmaf(w, e - s, s), else
 * fmaf(w - 1, e - s, e), as its vectorized kernel computes it.
 * Not supported (pytorch-optimizer extras passed through **kwargs): cautious,
 * use_gc, adanorm; giving them is refused as an unknown option.             */
#ifndef CT_SIMD_LEVEL
#include <math.h>

#include "aten_reduce.h"
#include "optim_impl.h"

enum { LR, BETAS, BETA2, WD, DECOUPLE, FIXED, MAXIMIZE };

static const ct_opt_desc opts[] = {
    {"lr", CT_OPT_REAL, 1, LR, {1e-4}, 0, INFINITY, 0, 0},
    {"betas", CT_OPT_REAL, 2, BETAS, {0.9, 0.99}, 0, 1, CT_OPT_HI_OPEN, 0},
    {"weight_decay", CT_OPT_REAL, 1, WD, {0}, 0, INFINITY, 0, 0},
    {"weight_decouple", CT_OPT_BOOL, 1, DECOUPLE, {1}, 0, 1, 0, 0},
    {"fixed_decay", CT_OPT_BOOL, 1, FIXED, {0}, 0, 1, 0, 0},
    {"maximize", CT_OPT_BOOL, 1, MAXIMIZE, {0}, 0, 1, 0, 0},
};

static int layout(const double *hp, const ct_param *p, ct_state_desc *out)
{
    (void)hp;
    out[0] = (ct_state_desc){"exp_avg", p->numel};
    return 1;
}

static CT_NOINLINE void kernel(int phase, const double *hp, const ct_slot *s, size_t b,
                               size_t e, double *red)
{
    (void)phase, (void)red;
    float *p = ct_pf(s), *m = s->state[0];
    const float *gr = ct_gf(s);
    const float w1 = (float)(1.0 - hp[BETAS]), w2 = (float)(1.0 - hp[BETA2]);
    const float neg_lr = (float)-hp[LR], wd = (float)hp[WD];
    const float decay = (float)(1.0 - hp[WD] * (hp[FIXED] != 0 ? 1.0 : hp[LR]));
    const int maximize = hp[MAXIMIZE] != 0, has_wd = hp[WD] != 0;
    const int decouple = hp[DECOUPLE] != 0;
    for (size_t i = b; i < e; i++) {
        float g = maximize ? -gr[i] : gr[i];
        if (has_wd) {
            if (decouple)
                p[i] = p[i] * decay;
            else
                g = fmaf(wd, p[i], g);
        }
        float c = ct_aten_lerpf(m[i], g, w1);
        float u = c > 0 ? 1.0f : c < 0 ? -1.0f : 0.0f; /* ATen's vectorized sign */
        m[i] = ct_aten_lerpf(m[i], g, w2);
        p[i] = fmaf(neg_lr, u, p[i]);
    }
}

#define CT_SIMD_SELF "lion.c"
#include "simd_each.h"

const ct_optim_kind ct_kind_lion = {
    .name = "lion",
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
    const float w1_f = (float)(1.0 - hp[BETAS]), w2_f = (float)(1.0 - hp[BETA2]);
    const int w1_small = fabsf(w1_f) < 0.5f, w2_small = fabsf(w2_f) < 0.5f;
    const VF w1 = V_SET(w1_f), w1m = V_SET(w1_f - 1.0f), w2 = V_SET(w2_f), w2m = V_SET(w2_f - 1.0f);
    const VF neg_lr = V_SET((float)-hp[LR]), wd = V_SET((float)hp[WD]);
    const VF decay = V_SET((float)(1.0 - hp[WD] * (hp[FIXED] != 0 ? 1.0 : hp[LR])));
    const VF zero = V_SET(0.0f), one = V_SET(1.0f), minus_one = V_SET(-1.0f);
    const int maximize = hp[MAXIMIZE] != 0, has_wd = hp[WD] != 0;
    const int decouple = hp[DECOUPLE] != 0;
    size_t i = b;
    for (; i + V_N <= e; i += V_N) {
        VF g = V_LDG(i), pi = V_LDP(i), mi = V_LDS(0, i);
        V_GRAD_DECAY(g, pi, maximize, has_wd, decouple, wd, decay);
        VF c = V_LERP(mi, g, w1_small, w1, w1m);
        VF u = V_SEL(V_GT(c, zero), one, V_SEL(V_LT(c, zero), minus_one, zero));
        V_STS(0, i, V_LERP(mi, g, w2_small, w2, w2m));
        V_STP(i, V_FMA(neg_lr, u, pi));
    }
    return i;
}

V_KERNELS(body_v, kernel)

#endif
