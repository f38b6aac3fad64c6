/* Adam and AdamW (with amsgrad and maximize).
 * Source: torch/optim/adam.py, _single_tensor_adam (PyTorch 2.x); Kingma &
 * Ba 2015, Algorithm 1; AdamW: Loshchilov & Hutter 2019, Algorithm 2
 * (decoupled weight decay). Per element, at step t:
 *   g = maximize ? -grad : grad
 *   AdamW, and Adam with decoupled_weight_decay: p *= 1 - lr*wd
 *   else: g += wd * p
 *   m = lerp(m, g, 1 - b1);  v = b2 v + (1 - b2) g^2
 *   amsgrad: vmax = max(vmax, v), use vmax for v
 *   denom = sqrt(v) / sqrt(1 - b2^t) + eps
 *   p += (-lr / (1 - b1^t)) * m / denom
 * Where ATen's vectorized kernels fuse a multiply-add (add with alpha, lerp,
 * addcmul) so do we (fmaf), so rounding follows torch's; addcdiv is not
 * fused there.                                                               */
#ifndef CT_SIMD_LEVEL
#include <math.h>

#include "optim_impl.h"

enum { LR, BETAS, BETA2, EPS, WD, AMSGRAD, MAXIMIZE, DECOUPLED };
enum { S_STEP_SIZE, S_BC2_SQRT, S_DECAY };

#define ADAM_OPTS(wd_default, ...)                                                               \
    {                                                                                            \
        {"lr", CT_OPT_REAL, 1, LR, {1e-3}, 0, INFINITY, 0, 0},                                   \
        {"betas", CT_OPT_REAL, 2, BETAS, {0.9, 0.999}, 0, 1, CT_OPT_HI_OPEN, 0},                 \
        {"eps", CT_OPT_REAL, 1, EPS, {1e-8}, 0, INFINITY, CT_OPT_LO_OPEN, 0},                                 \
        {"weight_decay", CT_OPT_REAL, 1, WD, {wd_default}, 0, INFINITY, 0, 0},                   \
        {"amsgrad", CT_OPT_BOOL, 1, AMSGRAD, {0}, 0, 1, 0, 0},                                   \
        {"maximize", CT_OPT_BOOL, 1, MAXIMIZE, {0}, 0, 1, 0, 0},                                 \
        __VA_ARGS__                                                                              \
    }

/* Adam's decoupled_weight_decay=true is AdamW's update (torch.optim.Adam
 * has the flag since PyTorch 2.6; AdamW always decouples and lacks it). */
static const ct_opt_desc adam_opts[] = ADAM_OPTS(
    0, {"decoupled_weight_decay", CT_OPT_BOOL, 1, DECOUPLED, {0}, 0, 1, 0, 0}, );
static const ct_opt_desc adamw_opts[] = ADAM_OPTS(1e-2, );

static int layout(const double *hp, const ct_param *p, ct_state_desc *out)
{
    out[0] = (ct_state_desc){"exp_avg", p->numel};
    out[1] = (ct_state_desc){"exp_avg_sq", p->numel};
    if (hp[AMSGRAD] == 0)
        return 2;
    out[2] = (ct_state_desc){"max_exp_avg_sq", p->numel};
    return 3;
}

static void prepare(const double *hp, ct_slot *s)
{
    double t = (double)s->step;
    double bc1 = 1 - pow(hp[BETAS], t), bc2 = 1 - pow(hp[BETA2], t);
    s->scal[S_STEP_SIZE] = hp[LR] / bc1;
    s->scal[S_BC2_SQRT] = sqrt(bc2);
    s->scal[S_DECAY] = 1 - hp[LR] * hp[WD];
}

/* The float32 scalars of one step of a parameter, shared by the scalar and
 * SIMD kernels so both see the same values. */
typedef struct adam_c {
    float w1, b1, b2, w2, wd, decay, eps, bc2s, neg_step;
    int w1_small, maximize, has_wd;
} adam_c;

static inline adam_c adam_consts(const double *hp, const ct_slot *s)
{
    adam_c k;
    k.w1 = (float)(1 - hp[BETAS]), k.b2 = (float)hp[BETA2], k.w2 = (float)(1 - hp[BETA2]);
    k.b1 = 1.0f - k.w1; /* lerp's 1 - weight, in float as ATen computes it */
    k.w1_small = fabsf(k.w1) < 0.5f;
    k.wd = (float)hp[WD], k.decay = (float)s->scal[S_DECAY], k.eps = (float)hp[EPS];
    k.bc2s = (float)s->scal[S_BC2_SQRT], k.neg_step = (float)-s->scal[S_STEP_SIZE];
    k.maximize = hp[MAXIMIZE] != 0, k.has_wd = hp[WD] != 0;
    return k;
}

static CT_NOINLINE void adam_kernel(const double *hp, const ct_slot *s, size_t b, size_t e,
                                    int decoupled)
{
    float *p = ct_pf(s), *m = s->state[0], *v = s->state[1];
    float *vmax = hp[AMSGRAD] != 0 ? s->state[2] : NULL;
    const float *gr = ct_gf(s);
    const adam_c k = adam_consts(hp, s);
    const float w1 = k.w1, b1 = k.b1, b2 = k.b2, w2 = k.w2, wd = k.wd, decay = k.decay;
    const float eps = k.eps, bc2s = k.bc2s, neg_step = k.neg_step;
    const int w1_small = k.w1_small, maximize = k.maximize, has_wd = k.has_wd;
    for (size_t i = b; i < e; i++) {
        float g = maximize ? -gr[i] : gr[i];
        if (has_wd) {
            if (decoupled)
                p[i] = p[i] * decay;
            else
                g = fmaf(wd, p[i], g);
        }
        /* ATen's lerp: the weight-0.5-or-more form for betas[0] <= 0.5 */
        m[i] = w1_small ? fmaf(w1, g - m[i], m[i]) : fmaf(-b1, g - m[i], g);
        v[i] = fmaf(w2 * g, g, v[i] * b2);
        float vv = v[i];
        if (vmax) {
            vmax[i] = vmax[i] > vv ? vmax[i] : vv;
            vv = vmax[i];
        }
        float denom = sqrtf(vv) / bc2s + eps;
        p[i] = p[i] + neg_step * m[i] / denom;
    }
}

static void adam_k(int phase, const double *hp, const ct_slot *s, size_t b, size_t e, double *red)
{
    (void)phase, (void)red;
    adam_kernel(hp, s, b, e, hp[DECOUPLED] != 0);
}

static void adamw_k(int phase, const double *hp, const ct_slot *s, size_t b, size_t e, double *red)
{
    (void)phase, (void)red;
    adam_kernel(hp, s, b, e, 1);
}

#define CT_SIMD_SELF "adam.c"
#include "simd_each.h"

const ct_optim_kind ct_kind_adam = {
    .name = "adam",
    .opts = adam_opts,
    .n_opts = sizeof adam_opts / sizeof *adam_opts,
    .layout = layout,
    .n_phases = 1,
    .prepare = prepare,
    .kernel = adam_k,
    .simd = CT_SIMD_KERNELS(adam_k),
    .fused = CT_SIMD_KERNELS(adam_fused),
};

const ct_optim_kind ct_kind_adamw = {
    .name = "adamw",
    .opts = adamw_opts,
    .n_opts = sizeof adamw_opts / sizeof *adamw_opts,
    .layout = layout,
    .n_phases = 1,
    .prepare = prepare,
    .kernel = adamw_k,
    .simd = CT_SIMD_KERNELS(adamw_k),
    .fused = CT_SIMD_KERNELS(adamw_fused),
};

#else /* the SIMD kernel, once per level: the scalar loop's operations */

/* One loop for every storage (simd.h's V_IO_DECL: fp32, and the
 * reduced-precision forms with their conversions in registers), the scalar
 * loop's operations; decoupled: AdamW's weight decay. */
V_BODY CT_V(adam_body_of)(const double *hp, const ct_slot *s, size_t b, size_t e, int pm,
                          int sbf16, int decoupled)
{
    V_IO_DECL();
    const int ams = hp[AMSGRAD] != 0;
    const adam_c k = adam_consts(hp, s);
    const VF w1 = V_SET(k.w1), nb1 = V_SET(-k.b1), b2 = V_SET(k.b2), w2 = V_SET(k.w2);
    const VF wd = V_SET(k.wd), decay = V_SET(k.decay), eps = V_SET(k.eps);
    const VF bc2s = V_SET(k.bc2s), neg_step = V_SET(k.neg_step);
    size_t i = b;
    for (; i + V_N <= e; i += V_N) {
        VF g = V_LDG(i), pi = V_LDP(i), mi, vi;
        V_GRAD_DECAY(g, pi, k.maximize, k.has_wd, decoupled, wd, decay);
        V_ADAM_MOMENTS_OF(V_LDS(0, i), V_LDS(1, i), g, mi, vi, k.w1_small, w1, nb1, w2, b2);
        V_STS(0, i, mi);
        V_STS(1, i, vi);
        VF vv = vi;
        if (ams) {
            vv = V_MAX(V_LDS(2, i), vi);
            V_STS(2, i, vv);
        }
        VF denom = V_ADD(V_DIV(V_SQRT(vv), bc2s), eps);
        V_STP(i, V_ADD(pi, V_DIV(V_MUL(neg_step, mi), denom)));
    }
    return i;
}

V_BODY CT_V(adam_body)(const double *hp, const ct_slot *s, size_t b, size_t e, int pm, int sbf16)
{
    return hp[DECOUPLED] != 0 ? CT_V(adam_body_of)(hp, s, b, e, pm, sbf16, 1)
                              : CT_V(adam_body_of)(hp, s, b, e, pm, sbf16, 0);
}

V_BODY CT_V(adamw_body)(const double *hp, const ct_slot *s, size_t b, size_t e, int pm,
                        int sbf16)
{
    return CT_V(adam_body_of)(hp, s, b, e, pm, sbf16, 1);
}

V_FUSED_FN(adam_fused, adam_body)
V_FUSED_FN(adamw_fused, adamw_body)

static CT_TGT void CT_V(adam_k)(int phase, const double *hp, const ct_slot *s, size_t b,
                                size_t e, double *red)
{
    (void)phase, (void)red;
    size_t i = CT_V(adam_body)(hp, s, b, e, CT_PM_F32, 0);
    if (i < e)
        adam_kernel(hp, s, i, e, hp[DECOUPLED] != 0);
}

static CT_TGT void CT_V(adamw_k)(int phase, const double *hp, const ct_slot *s, size_t b,
                                 size_t e, double *red)
{
    (void)phase, (void)red;
    size_t i = CT_V(adamw_body)(hp, s, b, e, CT_PM_F32, 0);
    if (i < e)
        adam_kernel(hp, s, i, e, 1);
}

#endif
