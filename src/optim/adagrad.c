/* Adagrad with lr decay, weight decay, initial accumulator and maximize.
 * Source: torch/optim/adagrad.py, _single_tensor_adagrad (PyTorch 2.x);
 * Duchi, Hazan & Singer 2011, "Adaptive Subgradient Methods", eq. (1)
 * (diagonal form). Per element, at step t:
 *   g = maximize ? -grad : grad;  g += wd * p
 *   clr = lr / (1 + (t - 1) * lr_decay)
 *   sum += g * g
 *   p += (-clr) * g / (sqrt(sum) + eps)
 * state "sum" starts at initial_accumulator_value. torch fills it for every
 * parameter in the constructor, from the constructor's value; ctrain fills
 * it at a parameter's first step from the group's value (identical updates;
 * only the state read before a parameter's first step differs).           */
#ifndef CT_SIMD_LEVEL
#include <math.h>

#include "optim_impl.h"

enum { LR, LR_DECAY, WD, IAV, EPS, MAXIMIZE };
enum { S_NEG_CLR };

static const ct_opt_desc opts[] = {
    {"lr", CT_OPT_REAL, 1, LR, {1e-2}, 0, INFINITY, 0, 0},
    {"lr_decay", CT_OPT_REAL, 1, LR_DECAY, {0}, 0, INFINITY, 0, 0},
    {"weight_decay", CT_OPT_REAL, 1, WD, {0}, 0, INFINITY, 0, 0},
    {"initial_accumulator_value", CT_OPT_REAL, 1, IAV, {0}, 0, INFINITY, 0, 0},
    {"eps", CT_OPT_REAL, 1, EPS, {1e-10}, 0, INFINITY, CT_OPT_LO_OPEN, 0},
    {"maximize", CT_OPT_BOOL, 1, MAXIMIZE, {0}, 0, 1, 0, 0},
};

static int layout(const double *hp, const ct_param *p, ct_state_desc *out)
{
    (void)hp;
    out[0] = (ct_state_desc){"sum", p->numel};
    return 1;
}

static void init(const double *hp, ct_slot *s)
{
    const float v = (float)hp[IAV];
    float *sum = s->state[0];
    for (size_t i = 0; i < s->p.numel; i++)
        sum[i] = v;
}

static void prepare(const double *hp, ct_slot *s)
{
    s->scal[S_NEG_CLR] = -(hp[LR] / (1 + (double)(s->step - 1) * hp[LR_DECAY]));
}

static CT_NOINLINE void kernel(int phase, const double *hp, const ct_slot *s, size_t b,
                               size_t e, double *red)
{
    (void)phase, (void)red;
    float *p = ct_pf(s), *sum = s->state[0];
    const float *gr = ct_gf(s);
    const float wd = (float)hp[WD], eps = (float)hp[EPS], neg_clr = (float)s->scal[S_NEG_CLR];
    const int maximize = hp[MAXIMIZE] != 0, has_wd = hp[WD] != 0;
    for (size_t i = b; i < e; i++) {
        float g = maximize ? -gr[i] : gr[i];
        if (has_wd)
            g = fmaf(wd, p[i], g);
        sum[i] = fmaf(g, g, sum[i]);
        float std = sqrtf(sum[i]) + eps;
        p[i] = p[i] + neg_clr * g / std;
    }
}

#define CT_SIMD_SELF "adagrad.c"
#include "simd_each.h"

const ct_optim_kind ct_kind_adagrad = {
    .name = "adagrad",
    .opts = opts,
    .n_opts = sizeof opts / sizeof *opts,
    .layout = layout,
    .init = init,
    .n_phases = 1,
    .prepare = prepare,
    .kernel = kernel,
    .simd = CT_SIMD_KERNELS(kernel_v),
    .fused = CT_SIMD_KERNELS(fused_v),
};

#else /* the SIMD kernel, once per level: the scalar loop's operations */

/* One loop for every storage (simd.h's V_IO_DECL). */
V_BODY CT_V(body_v)(const double *hp, const ct_slot *s, size_t b, size_t e, int pm, int sbf16)
{
    V_IO_DECL();
    const VF wd = V_SET((float)hp[WD]), eps = V_SET((float)hp[EPS]);
    const VF neg_clr = V_SET((float)s->scal[S_NEG_CLR]);
    const int maximize = hp[MAXIMIZE] != 0, has_wd = hp[WD] != 0;
    size_t i = b;
    for (; i + V_N <= e; i += V_N) {
        VF g = V_LDG(i), pi = V_LDP(i);
        if (maximize)
            g = V_NEG(g);
        if (has_wd)
            g = V_FMA(wd, pi, g);
        VF si = V_FMA(g, g, V_LDS(0, i));
        V_STS(0, i, si);
        VF std = V_ADD(V_SQRT(si), eps);
        V_STP(i, V_ADD(pi, V_DIV(V_MUL(neg_clr, g), std)));
    }
    return i;
}

V_KERNELS(body_v, kernel)

#endif
