/* Gradient clipping.
 *
 * ct_clip_grad_norm: torch.nn.utils.clip_grad_norm_ (torch/nn/utils/
 *   clip_grad.py, _get_total_norm + _clip_grads_with_norm_): the total norm
 *   is the p-norm of the per-tensor p-norms; every gradient is multiplied by
 *   clamp(max_norm / (total_norm + 1e-6), max=1). torch evaluates the
 *   coefficient on a float32 0-dim tensor as reciprocal(total + 1e-6) *
 *   max_norm (Tensor.__rtruediv__), so we round the same way. NaN propagates
 *   as in torch (a NaN norm gives a NaN coefficient).
 * ct_clip_grad_value: torch.nn.utils.clip_grad_value_: clamp_min(-c) then
 *   clamp_max(c); NaN stays NaN.
 * ct_clip_agc: adaptive gradient clipping, Brock et al. 2021, "High-
 *   Performance Large-Scale Image Recognition Without Normalization",
 *   Section 4.1, Eq. 3, unit-wise as timm's adaptive_clip_grad
 *   (timm/utils/agc.py): per unit (a row over shape[0] for ndim >= 2, the
 *   whole tensor otherwise)
 *     max_norm = max(||W_i||, eps) * clipping
 *     G_i = ||G_i|| < max_norm ? G_i : G_i * (max_norm / max(||G_i||, 1e-6))
 *
 * Norms accumulate in double, element by element in memory order within a
 * tensor (or unit) and then across tensors in order, so results do not
 * depend on anything but the inputs. Every argument is checked before any
 * gradient is written.                                                     */
#include <math.h>
#include <stdint.h>

#include "../core/error.h"
#include "ctrain/clip.h"

/* Checks the parameter list; need_data: AGC also reads .data. */
static ct_status check_params(const char *fn, const ct_param *params, size_t n, int need_data)
{
    if (!params)
        return ct_fail(NULL, CT_EINVAL, "%s: params is NULL", fn);
    if (n == 0)
        return ct_fail(NULL, CT_EINVAL, "%s: n is 0 (no parameters given)", fn);
    for (size_t i = 0; i < n; i++) {
        const ct_param *p = &params[i];
        if (!p->grad)
            continue;
        if (p->numel == 0)
            return ct_fail(NULL, CT_EINVAL, "%s: parameter %zu: numel is 0", fn, i);
        if (p->dtype != CT_F32)
            return ct_fail(NULL, CT_EUNSUPPORTED,
                           "%s: parameter %zu: dtype %d is not supported (float32 only)", fn, i,
                           (int)p->dtype);
        if (need_data && !p->data)
            return ct_fail(NULL, CT_EINVAL, "%s: parameter %zu: data is NULL", fn, i);
        if (p->ndim < 0 || p->ndim > 8)
            return ct_fail(NULL, CT_EINVAL, "%s: parameter %zu: ndim %d must be in [0, 8]", fn, i,
                           (int)p->ndim);
        if (p->ndim > 0) {
            size_t prod = 1;
            for (int d = 0; d < p->ndim; d++) {
                if (p->shape[d] <= 0)
                    return ct_fail(NULL, CT_EINVAL,
                                   "%s: parameter %zu: shape[%d] = %lld must be > 0", fn, i, d,
                                   (long long)p->shape[d]);
                prod *= (size_t)p->shape[d];
            }
            if (prod != p->numel)
                return ct_fail(NULL, CT_EINVAL,
                               "%s: parameter %zu: shape has %zu elements but numel is %zu", fn,
                               i, prod, p->numel);
        }
    }
    return CT_OK;
}

/* p-norm of x[0..n) in double; p = INFINITY gives the max norm. NaN
 * propagates (as torch's max and sum do). */
static double pnorm(const float *x, size_t n, double p)
{
    if (isinf(p)) {
        double m = 0;
        for (size_t j = 0; j < n; j++) {
            double a = fabs((double)x[j]);
            if (isnan(a))
                return NAN;
            if (a > m)
                m = a;
        }
        return m;
    }
    double s = 0;
    if (p == 1) {
        for (size_t j = 0; j < n; j++)
            s += fabs((double)x[j]);
        return s;
    }
    if (p == 2) {
        for (size_t j = 0; j < n; j++)
            s += (double)x[j] * (double)x[j];
        return sqrt(s);
    }
    for (size_t j = 0; j < n; j++)
        s += pow(fabs((double)x[j]), p);
    return pow(s, 1 / p);
}

ct_status ct_clip_grad_norm(const ct_param *params, size_t n, double max_norm, double norm_type,
                            int error_if_nonfinite, double *total_norm)
{
    static const char fn[] = "ct_clip_grad_norm";
    ct_status st = check_params(fn, params, n, 0);
    if (st)
        return st;
    if (!(max_norm >= 0))
        return ct_fail(NULL, CT_EINVAL, "%s: max_norm=%g is invalid: must be >= 0", fn, max_norm);
    if (!(norm_type > 0))
        return ct_fail(NULL, CT_EINVAL,
                       "%s: norm_type=%g is invalid: must be > 0 (or INFINITY for the max norm)",
                       fn, norm_type);
    /* Total = p-norm of the per-tensor norms, accumulated in order: the
     * running sum of norm_i^p (or the running max), so no allocation. */
    double acc = 0;
    int any_nan = 0;
    for (size_t i = 0; i < n; i++) {
        if (!params[i].grad)
            continue;
        double ni = pnorm(params[i].grad, params[i].numel, norm_type);
        if (isnan(ni))
            any_nan = 1;
        else if (isinf(norm_type))
            acc = ni > acc ? ni : acc;
        else
            acc += norm_type == 1 ? ni : norm_type == 2 ? ni * ni : pow(ni, norm_type);
    }
    double total;
    if (any_nan)
        total = NAN;
    else if (isinf(norm_type) || norm_type == 1)
        total = acc;
    else
        total = norm_type == 2 ? sqrt(acc) : pow(acc, 1 / norm_type);
    if (error_if_nonfinite && !isfinite(total))
        return ct_fail(NULL, CT_ENONFINITE,
                       "%s: the total norm of order %g of the gradients is %g, so it cannot be "
                       "clipped; no gradient was modified",
                       fn, norm_type, total);
    /* float32 as torch: clip_coef = reciprocal(total + 1e-6) * max_norm,
     * clamp(max=1) (NaN stays NaN), grad *= clip_coef. */
    float tf = (float)total;
    float coef = (1.0f / (tf + 1e-6f)) * (float)max_norm;
    if (coef > 1.0f)
        coef = 1.0f;
    for (size_t i = 0; i < n; i++) {
        float *g = params[i].grad;
        if (!g)
            continue;
        for (size_t j = 0; j < params[i].numel; j++)
            g[j] *= coef;
    }
    if (total_norm)
        *total_norm = total;
    return CT_OK;
}

ct_status ct_clip_grad_value(const ct_param *params, size_t n, double clip_value)
{
    static const char fn[] = "ct_clip_grad_value";
    ct_status st = check_params(fn, params, n, 0);
    if (st)
        return st;
    if (!(clip_value >= 0))
        return ct_fail(NULL, CT_EINVAL, "%s: clip_value=%g is invalid: must be >= 0", fn,
                       clip_value);
    const float hi = (float)clip_value, lo = -hi;
    for (size_t i = 0; i < n; i++) {
        float *g = params[i].grad;
        if (!g)
            continue;
        for (size_t j = 0; j < params[i].numel; j++) {
            if (g[j] < lo)
                g[j] = lo;
            if (g[j] > hi)
                g[j] = hi;
        }
    }
    return CT_OK;
}

ct_status ct_clip_agc(const ct_param *params, size_t n, double clipping, double eps)
{
    static const char fn[] = "ct_clip_agc";
    ct_status st = check_params(fn, params, n, 1);
    if (st)
        return st;
    if (!(clipping > 0) || isinf(clipping))
        return ct_fail(NULL, CT_EINVAL, "%s: clipping=%g is invalid: must be in (0, inf)", fn,
                       clipping);
    if (!(eps >= 0) || isinf(eps))
        return ct_fail(NULL, CT_EINVAL, "%s: eps=%g is invalid: must be in [0, inf)", fn, eps);
    const float clip_f = (float)clipping, eps_f = (float)eps;
    for (size_t i = 0; i < n; i++) {
        const ct_param *p = &params[i];
        float *g = p->grad;
        if (!g)
            continue;
        const float *w = p->data;
        size_t units = p->ndim >= 2 ? (size_t)p->shape[0] : 1;
        size_t len = p->numel / units;
        for (size_t u = 0; u < units; u++) {
            /* float32 as timm: max_norm = clamp(||W||, min=eps) * clipping. */
            float wn = (float)pnorm(w + u * len, len, 2);
            float gn = (float)pnorm(g + u * len, len, 2);
            float mx = (wn < eps_f ? eps_f : wn) * clip_f;
            if (gn < mx) /* torch.where(grad_norm < max_norm, g, clipped) */
                continue;
            float scale = mx / (gn < 1e-6f ? 1e-6f : gn);
            for (size_t j = u * len; j < (u + 1) * len; j++)
                g[j] *= scale;
        }
    }
    return CT_OK;
}
