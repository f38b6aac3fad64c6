/* ASGD (averaged stochastic gradient descent) with weight decay and
 * maximize.
 * Source: torch/optim/asgd.py, _single_tensor_asgd (PyTorch 2.x); Polyak &
 * Juditsky 1992, "Acceleration of Stochastic Approximation by Averaging",
 * with the step-size schedule of Bottou 2012, "Stochastic Gradient Descent
 * Tricks", section 5.3. Per element, at step t, with eta and mu as left by
 * the previous step (eta = lr and mu = 1 at first):
 *   g = maximize ? -grad : grad;  g += wd * p
 *   p *= 1 - lambd * eta;  p -= eta * g
 *   ax = mu != 1 ? ax + (p - ax) * mu : p
 * then per parameter: eta = lr / (1 + lambd lr t)^alpha,
 * mu = 1 / max(1, t - t0). eta and mu are 1-element float32 state buffers,
 * as torch keeps them.                                                     */
#ifndef CT_SIMD_LEVEL
#include <math.h>

#include "optim_impl.h"

enum { LR, LAMBD, ALPHA, T0, WD, MAXIMIZE };
enum { S_DECAY, S_NEG_ETA, S_MU };

static const ct_opt_desc opts[] = {
    {"lr", CT_OPT_REAL, 1, LR, {1e-2}, 0, INFINITY, 0, 0},
    {"lambd", CT_OPT_REAL, 1, LAMBD, {1e-4}, 0, INFINITY, 0, 0},
    {"alpha", CT_OPT_REAL, 1, ALPHA, {0.75}, 0, INFINITY, 0, 0},
    {"t0", CT_OPT_REAL, 1, T0, {1e6}, -INFINITY, INFINITY, 0, 0},
    {"weight_decay", CT_OPT_REAL, 1, WD, {0}, 0, INFINITY, 0, 0},
    {"maximize", CT_OPT_BOOL, 1, MAXIMIZE, {0}, 0, 1, 0, 0},
};

static int layout(const double *hp, const ct_param *p, ct_state_desc *out)
{
    (void)hp;
    out[0] = (ct_state_desc){"eta", 1};
    out[1] = (ct_state_desc){"mu", 1};
    out[2] = (ct_state_desc){"ax", p->numel};
    return 3;
}

static void init(const double *hp, ct_slot *s)
{
    s->state[0][0] = (float)hp[LR];
    s->state[1][0] = 1.0f;
}

/* Runs once per parameter and step, before the kernel: hands the kernel
 * this step's eta and mu, then stores the next ones. */
static void prepare(const double *hp, ct_slot *s)
{
    const double lr = hp[LR], lambd = hp[LAMBD], t = (double)s->step;
    float *eta = s->state[0], *mu = s->state[1];
    const double eta_value = (double)eta[0];
    s->scal[S_DECAY] = 1 - lambd * eta_value;
    s->scal[S_NEG_ETA] = -eta_value;
    s->scal[S_MU] = (double)mu[0];
    eta[0] = (float)(lr / pow(1 + lambd * lr * t, hp[ALPHA]));
    const double d = t - hp[T0];
    mu[0] = (float)(1 / (d > 1 ? d : 1));
}

static CT_NOINLINE void kernel(int phase, const double *hp, const ct_slot *s, size_t b,
                               size_t e, double *red)
{
    (void)phase, (void)red;
    float *p = ct_pf(s), *ax = s->state[2];
    const float *gr = ct_gf(s);
    const float wd = (float)hp[WD], decay = (float)s->scal[S_DECAY];
    const float neg_eta = (float)s->scal[S_NEG_ETA], mu = (float)s->scal[S_MU];
    const int maximize = hp[MAXIMIZE] != 0, has_wd = hp[WD] != 0, average = mu != 1.0f;
    for (size_t i = b; i < e; i++) {
        float g = maximize ? -gr[i] : gr[i];
        if (has_wd)
            g = fmaf(wd, p[i], g);
        p[i] = p[i] * decay;
        p[i] = fmaf(neg_eta, g, p[i]);
        ax[i] = average ? ax[i] + (p[i] - ax[i]) * mu : p[i];
    }
}

#define CT_SIMD_SELF "asgd.c"
#include "simd_each.h"

const ct_optim_kind ct_kind_asgd = {
    .name = "asgd",
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
    float *p = ct_pf(s), *ax = s->state[2];
    const float *gr = ct_gf(s);
    const VF wd = V_SET((float)hp[WD]), decay = V_SET((float)s->scal[S_DECAY]);
    const float mu_f = (float)s->scal[S_MU];
    const VF neg_eta = V_SET((float)s->scal[S_NEG_ETA]), mu = V_SET(mu_f);
    const int maximize = hp[MAXIMIZE] != 0, has_wd = hp[WD] != 0, average = mu_f != 1.0f;
    size_t i = b;
    for (; i + V_N <= e; i += V_N) {
        VF g = V_LD(gr + i), pi = V_LD(p + i);
        if (maximize)
            g = V_NEG(g);
        if (has_wd)
            g = V_FMA(wd, pi, g);
        pi = V_MUL(pi, decay);
        pi = V_FMA(neg_eta, g, pi);
        V_ST(p + i, pi);
        if (average) {
            VF ai = V_LD(ax + i);
            V_ST(ax + i, V_ADD(ai, V_MUL(V_SUB(pi, ai), mu)));
        } else {
            V_ST(ax + i, pi);
        }
    }
    if (i < e)
        kernel(phase, hp, s, i, e, red);
}

#endif
