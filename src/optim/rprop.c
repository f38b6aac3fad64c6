/* Rprop (resilient backpropagation) with maximize.
 * Source: torch/optim/rprop.py, _single_tensor_rprop (PyTorch 2.x); Riedmiller
 * & Braun 1993, "A Direct Adaptive Method for Faster Backpropagation
 * Learning: The RPROP Algorithm" (the variant without weight backtracking).
 * Per element:
 *   g = maximize ? -grad : grad
 *   s = sign(g * prev)   (the float32 product, as torch computes it)
 *   step_size = clamp(step_size * (s > 0 ? eta+ : s < 0 ? eta- : 1),
 *                     step_size_min, step_size_max)
 *   s < 0: g = 0
 *   p -= sign(g) * step_size;  prev = g
 * state "step_size" starts at lr at a parameter's first step, "prev" at 0.
 * The SIMD kernel (AVX2, AVX-512) does the same comparisons, selections and
 * one fused multiply-add per element: the same bits.                       */
#ifndef CT_SIMD_LEVEL
#include <math.h>

#include "optim_impl.h"

enum { LR, ETAS, ETA_PLUS, STEP_SIZES, STEP_SIZE_MAX, MAXIMIZE };

static const ct_opt_desc opts[] = {
    {"lr", CT_OPT_REAL, 1, LR, {1e-2}, 0, INFINITY, 0, 0},
    {"etas", CT_OPT_REAL, 2, ETAS, {0.5, 1.2}, 0, INFINITY, CT_OPT_LO_OPEN | CT_OPT_HI_OPEN, 0},
    {"step_sizes", CT_OPT_REAL, 2, STEP_SIZES, {1e-6, 50}, -INFINITY, INFINITY, 0, 0},
    {"maximize", CT_OPT_BOOL, 1, MAXIMIZE, {0}, 0, 1, 0, 0},
};

static ct_status check(const double *hp, ct_err *e)
{
    if (!(hp[ETAS] < 1.0 && 1.0 < hp[ETA_PLUS]))
        return ct_fail(e, CT_EINVAL,
                       "rprop: etas=%g,%g is invalid: must satisfy 0 < etaminus < 1 < etaplus",
                       hp[ETAS], hp[ETA_PLUS]);
    return CT_OK;
}

static int layout(const double *hp, const ct_param *p, ct_state_desc *out)
{
    (void)hp;
    out[0] = (ct_state_desc){"prev", p->numel};
    out[1] = (ct_state_desc){"step_size", p->numel};
    return 2;
}

static void init(const double *hp, ct_slot *s)
{
    const float lr = (float)hp[LR];
    float *ss = s->state[1];
    for (size_t i = 0; i < s->p.numel; i++)
        ss[i] = lr;
}

static CT_NOINLINE void kernel(int phase, const double *hp, const ct_slot *s, size_t b, size_t e, double *red)
{
    (void)phase, (void)red;
    float *p = ct_pf(s), *prev = s->state[0], *ss = s->state[1];
    const float *gr = ct_gf(s);
    const float eta_minus = (float)hp[ETAS], eta_plus = (float)hp[ETA_PLUS];
    const float lo = (float)hp[STEP_SIZES], hi = (float)hp[STEP_SIZE_MAX];
    const int maximize = hp[MAXIMIZE] != 0;
    for (size_t i = b; i < e; i++) {
        float g = maximize ? -gr[i] : gr[i];
        float prod = g * prev[i];
        float f = prod > 0 ? eta_plus : prod < 0 ? eta_minus : prod == 0 ? 1.0f : prod; /* NaN */
        float x = ss[i] * f;
        if (!isnan(x)) { /* torch.clamp propagates NaN */
            x = x < lo ? lo : x;
            x = x > hi ? hi : x;
        }
        ss[i] = x;
        if (prod < 0)
            g = 0;
        float sg = g > 0 ? 1.0f : g < 0 ? -1.0f : 0.0f;
        p[i] = fmaf(-sg, ss[i], p[i]);
        prev[i] = g;
    }
}

#define CT_SIMD_SELF "rprop.c"
#include "simd_each.h"

const ct_optim_kind ct_kind_rprop = {
    .name = "rprop",
    .opts = opts,
    .n_opts = sizeof opts / sizeof *opts,
    .check = check,
    .layout = layout,
    .init = init,
    .n_phases = 1,
    .kernel = kernel,
    .simd = CT_SIMD_KERNELS(kernel_v),
};

#else /* the SIMD kernel, once per level: the scalar loop's operations */

static CT_TGT void CT_V(kernel_v)(int phase, const double *hp, const ct_slot *s, size_t b,
                                  size_t e, double *red)
{
    float *p = ct_pf(s), *prev = s->state[0], *ss = s->state[1];
    const float *gr = ct_gf(s);
    const VF eta_minus = V_SET((float)hp[ETAS]), eta_plus = V_SET((float)hp[ETA_PLUS]);
    const VF lo = V_SET((float)hp[STEP_SIZES]), hi = V_SET((float)hp[STEP_SIZE_MAX]);
    const VF zero = V_SET(0.0f), one = V_SET(1.0f), minus_one = V_SET(-1.0f);
    const int maximize = hp[MAXIMIZE] != 0;
    size_t i = b;
    for (; i + V_N <= e; i += V_N) {
        VF g = V_LD(gr + i);
        if (maximize)
            g = V_NEG(g);
        VF prod = V_MUL(g, V_LD(prev + i));
        const VM neg = V_LT(prod, zero);
        /* > 0: eta+, < 0: eta-, == 0: 1, NaN: the NaN */
        VF f = V_SEL(V_GT(prod, zero), eta_plus,
                     V_SEL(neg, eta_minus, V_SEL(V_EQ(prod, zero), one, prod)));
        VF x = V_MUL(V_LD(ss + i), f);
        /* the clamp; a NaN x fails both comparisons and stays */
        x = V_SEL(V_LT(x, lo), lo, x);
        x = V_SEL(V_GT(x, hi), hi, x);
        V_ST(ss + i, x);
        g = V_SEL(neg, zero, g);
        VF sg = V_SEL(V_GT(g, zero), one, V_SEL(V_LT(g, zero), minus_one, zero));
        V_ST(p + i, V_FMA(V_NEG(sg), x, V_LD(p + i)));
        V_ST(prev + i, g);
    }
    if (i < e)
        kernel(phase, hp, s, i, e, red);
}

#endif
