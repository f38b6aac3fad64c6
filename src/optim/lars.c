/* LARS (Layer-wise Adaptive Rate Scaling).
 * Paper: You, Gitman & Ginsburg 2017, "Large Batch Training of Convolutional
 * Networks", Eq. 6 (local LR = eta * ||w|| / (||grad L(w)|| + beta ||w||))
 * with momentum as in their Algorithm 1. Numerics, defaults and variants
 * follow pytorch-optimizer 4.1.0's LARS._step_foreach (its default path on
 * CPU). Per parameter with ndim >= 2 (vectors and scalars get plain SGD with
 * momentum, no weight decay and no scaling, as there):
 *   g = maximize ? -grad : grad
 *   pn = ||p||, gn = ||g||, den = gn + wd pn
 *   trust = pn > 0 && den > 0 ? trust_coefficient pn / den : 1
 *   g = (g + wd p) * trust
 * then for every parameter:
 *   momentum > 0: buf = momentum buf + (1 - dampening) g   (buf starts at 0)
 *                 g = nesterov ? g + momentum buf : buf
 *   p -= lr g
 * Two passes: pass 0 computes ||p|| and ||g|| in ATen's float order
 * (aten_reduce.h) so they match torch's to the bit: in the kernel for a
 * parameter of one chunk (<= 16384 elements, in parallel with the others;
 * returned as its red[] partials), in combine, by one thread, for a larger
 * one (torch's lane order is sequential; per-chunk double partial sums were
 * tried and drift past 1e-5 from torch within 30 steps on a 38400-element
 * parameter). Pass 1 applies the update, all chunks in parallel. The result
 * does not depend on the thread count. The trust ratio is computed in float,
 * as torch does on float tensors.
 * SIMD (AVX2, AVX-512): pass 1 does the scalar loop's operations on
 * vectors; pass 0 feeds the norms to the same 8 ATen lanes in the same
 * order (simd.h v_norm_feed), and for a parameter of several chunks its
 * first chunk computes them (so in the pool, beside the other parameters'
 * chunks, instead of in combine; red[2] = 1 tells combine). Same bits.     */
#ifndef CT_SIMD_LEVEL
#include <math.h>

#include "aten_reduce.h"
#include "optim_impl.h"

enum { LR, WD, MOMENTUM, DAMPENING, TRUST, NESTEROV, MAXIMIZE };
enum { S_TRUST };

static const ct_opt_desc opts[] = {
    {"lr", CT_OPT_REAL, 1, LR, {1e-3}, 0, INFINITY, 0, 0},
    {"weight_decay", CT_OPT_REAL, 1, WD, {0}, 0, INFINITY, 0, 0},
    {"momentum", CT_OPT_REAL, 1, MOMENTUM, {0.9}, 0, 1, CT_OPT_HI_OPEN, 0},
    {"dampening", CT_OPT_REAL, 1, DAMPENING, {0}, 0, 1, CT_OPT_HI_OPEN, 0},
    {"trust_coefficient", CT_OPT_REAL, 1, TRUST, {1e-3}, 0, INFINITY, 0, 0},
    {"nesterov", CT_OPT_BOOL, 1, NESTEROV, {0}, 0, 1, 0, 0},
    {"maximize", CT_OPT_BOOL, 1, MAXIMIZE, {0}, 0, 1, 0, 0},
};

static int layout(const double *hp, const ct_param *p, ct_state_desc *out)
{
    if (hp[MOMENTUM] == 0)
        return 0;
    out[0] = (ct_state_desc){"momentum_buffer", p->numel};
    return 1;
}

static int scaled(const ct_slot *s) { return s->p.ndim > 1; }

/* ||p||^2 and ||g||^2 in torch's float order into red[0], red[1]. */
static void norms(const ct_slot *s, int maximize, double *red)
{
    const float *p = ct_pf(s), *gr = ct_gf(s);
    ct_aten_norm pa, ga;
    ct_aten_norm_init(&pa, s->p.numel);
    ct_aten_norm_init(&ga, s->p.numel);
    for (size_t i = 0; i < s->p.numel; i++) {
        ct_aten_norm_add(&pa, p[i]);
        ct_aten_norm_add(&ga, maximize ? -gr[i] : gr[i]);
    }
    red[0] = ct_aten_norm_sumsq(&pa);
    red[1] = ct_aten_norm_sumsq(&ga);
}

static CT_NOINLINE void kernel(int phase, const double *hp, const ct_slot *s, size_t b, size_t e, double *red)
{
    float *p = ct_pf(s);
    const float *gr = ct_gf(s);
    const int maximize = hp[MAXIMIZE] != 0;
    if (phase == 0) {
        if (!scaled(s))
            return;
        if (s->n_chunks == 1) { /* larger parameters: in combine */
            norms(s, maximize, red);
        }
        return;
    }
    const float wd = (float)hp[WD], trust = (float)s->scal[S_TRUST];
    const float mom = (float)hp[MOMENTUM], damp = (float)(1.0 - hp[DAMPENING]);
    const float neg_lr = (float)-hp[LR];
    const int sc = scaled(s), nesterov = hp[NESTEROV] != 0;
    float *buf = hp[MOMENTUM] > 0 ? s->state[0] : NULL;
    for (size_t i = b; i < e; i++) {
        float g = maximize ? -gr[i] : gr[i];
        if (sc)
            g = fmaf(wd, p[i], g) * trust;
        if (buf) {
            buf[i] = fmaf(damp, g, buf[i] * mom);
            g = nesterov ? fmaf(mom, buf[i], g) : buf[i];
        }
        p[i] = fmaf(neg_lr, g, p[i]);
    }
}

static void combine(int phase, const double *hp, ct_slot *s, const double *red)
{
    if (phase != 0)
        return;
    s->scal[S_TRUST] = 1;
    if (!scaled(s))
        return;
    double sq[2] = {red[0], red[1]};
    if (s->n_chunks > 1 && red[2] == 0) /* torch's order is sequential: one thread */
        norms(s, hp[MAXIMIZE] != 0, sq);
    float pn = sqrtf((float)sq[0]), gn = sqrtf((float)sq[1]);
    float den = gn + (float)hp[WD] * pn;
    float trust = 1.0f;
    if (pn > 0 && den > 0)
        trust = (float)hp[TRUST] * pn / den;
    s->scal[S_TRUST] = trust;
}

#define CT_SIMD_SELF "lars.c"
#include "simd_each.h"

const ct_optim_kind ct_kind_lars = {
    .name = "lars",
    .opts = opts,
    .n_opts = sizeof opts / sizeof *opts,
    .layout = layout,
    .n_phases = 2,
    .kernel = kernel,
    .simd = CT_SIMD_KERNELS(kernel_v),
    .combine = combine,
};

#else /* the SIMD kernel, once per level: the scalar loop's operations */

static CT_TGT void CT_V(kernel_v)(int phase, const double *hp, const ct_slot *s, size_t b,
                                  size_t e, double *red)
{
    float *p = ct_pf(s);
    const float *gr = ct_gf(s);
    const int maximize = hp[MAXIMIZE] != 0;
    if (phase == 0) {
        /* the whole parameter, by its first chunk; (-g)^2 == g^2 */
        if (!scaled(s) || b != 0)
            return;
        ct_aten_norm pa, ga;
        ct_aten_norm_init(&pa, s->p.numel);
        ct_aten_norm_init(&ga, s->p.numel);
        CT_V(v_norm_feed)(&pa, p, s->p.numel);
        CT_V(v_norm_feed)(&ga, gr, s->p.numel);
        red[0] = ct_aten_norm_sumsq(&pa);
        red[1] = ct_aten_norm_sumsq(&ga);
        red[2] = 1;
        return;
    }
    const VF wd = V_SET((float)hp[WD]), trust = V_SET((float)s->scal[S_TRUST]);
    const VF mom = V_SET((float)hp[MOMENTUM]), damp = V_SET((float)(1.0 - hp[DAMPENING]));
    const VF neg_lr = V_SET((float)-hp[LR]);
    const int sc = scaled(s), nesterov = hp[NESTEROV] != 0;
    float *buf = hp[MOMENTUM] > 0 ? s->state[0] : NULL;
    size_t i = b;
    for (; i + V_N <= e; i += V_N) {
        VF g = V_LD(gr + i), pi = V_LD(p + i);
        if (maximize)
            g = V_NEG(g);
        if (sc)
            g = V_MUL(V_FMA(wd, pi, g), trust);
        if (buf) {
            VF bi = V_FMA(damp, g, V_MUL(V_LD(buf + i), mom));
            V_ST(buf + i, bi);
            g = nesterov ? V_FMA(mom, bi, g) : bi;
        }
        V_ST(p + i, V_FMA(neg_lr, g, pi));
    }
    if (i < e)
        kernel(phase, hp, s, i, e, red);
}

#endif
