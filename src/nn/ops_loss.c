/* softmax, log_softmax and the losses of torch.nn.functional.
 *
 * cross_entropy with label smoothing follows ATen's
 * cross_entropy_loss_label_smoothing (aten/src/ATen/native/LossNLL.cpp):
 *   loss = (1 - eps) * nll_loss(logp, y, w) + eps / C * smooth
 *   smooth_i = -sum_c w_c logp_ic (0 where y_i == ignore_index), reduced as
 *   sum / sum_{i not ignored} w_{y_i} (the count of rows not ignored
 *   without weights), as the nll part.
 * Element-wise losses store d loss_i / d x_i in the forward pass; backward
 * scales it by the incoming gradient (and 1/N for the mean). */
#include <math.h>
#include <string.h>

#include "graph_impl.h"

/* ---- softmax / log_softmax along a dim ---- */

static void softmax_backward(ct_graph *g, ct_node *n)
{
    (void)g;
    int64_t outer = n->i[0], len = n->i[1], inner = n->i[2];
    int logm = (int)n->i[3];
    const float *y = n->out->data, *go = n->out->grad;
    float *gx = n->in[0]->grad;
    for (int64_t o = 0; o < outer; o++)
        for (int64_t j = 0; j < inner; j++) {
            const int64_t base = o * len * inner + j;
            double s = 0;
            for (int64_t k = 0; k < len; k++)
                s += logm ? go[base + k * inner] : go[base + k * inner] * y[base + k * inner];
            for (int64_t k = 0; k < len; k++) {
                int64_t p = base + k * inner;
                gx[p] += logm ? go[p] - expf(y[p]) * (float)s : y[p] * (go[p] - (float)s);
            }
        }
}

static ct_tensor *softmax_any(ct_graph *g, ct_tensor *x, int dim, int logm)
{
    if (!ct_graph_ok(g, 1, x))
        return NULL;
    int d = ct_norm_dim(dim, x->ndim);
    if (d < 0)
        return ct_graph_fail(g, CT_EINVAL, "%s: dim %d out of range for %d dims",
                             logm ? "log_softmax" : "softmax", dim, x->ndim);
    x = ct_contiguous(g, x);
    if (!x)
        return NULL;
    int ng = ct_needs_grad(g, 1, x);
    ct_tensor *y = ct_op_output(g, x->ndim, x->shape, ng);
    if (!y)
        return NULL;
    int64_t outer = ct_shape_numel(d, x->shape), len = x->shape[d];
    int64_t inner = ct_shape_numel(x->ndim - d - 1, x->shape + d + 1);
    for (int64_t o = 0; o < outer; o++)
        for (int64_t j = 0; j < inner; j++) {
            const int64_t base = o * len * inner + j;
            float mx = -INFINITY;
            for (int64_t k = 0; k < len; k++)
                mx = fmaxf(mx, x->data[base + k * inner]);
            double s = 0;
            for (int64_t k = 0; k < len; k++)
                s += expf(x->data[base + k * inner] - mx);
            float ls = (float)log(s);
            for (int64_t k = 0; k < len; k++) {
                int64_t p = base + k * inner;
                y->data[p] = logm ? x->data[p] - mx - ls : expf(x->data[p] - mx) / (float)s;
            }
        }
    if (ng) {
        ct_node *n = ct_record(g, softmax_backward, y, 1, x);
        if (n) {
            n->i[0] = outer;
            n->i[1] = len;
            n->i[2] = inner;
            n->i[3] = logm;
        }
    }
    return g->status ? NULL : y;
}

ct_tensor *ct_softmax(ct_graph *g, ct_tensor *x, int dim) { return softmax_any(g, x, dim, 0); }
ct_tensor *ct_log_softmax(ct_graph *g, ct_tensor *x, int dim) { return softmax_any(g, x, dim, 1); }

/* ---- cross entropy / nll ---- */

ct_ce_args ct_ce_defaults(void)
{
    ct_ce_args a = {NULL, -100, 0.0f, CT_REDUCE_MEAN};
    return a;
}

typedef struct ce_aux {
    int64_t n, c;
    int logits;          /* input is logits (cross_entropy) or log-probs (nll) */
    ct_reduction red;
    float *lp;           /* log-probabilities [N, C] */
    float *coef;         /* d loss_i / d logp_ic, before the reduction's scale [N, C] */
    double scale;        /* 1/denominator for mean, else 1 */
} ce_aux;

static void ce_backward(ct_graph *g, ct_node *n)
{
    (void)g;
    const ce_aux *a = n->aux;
    const float *go = n->out->grad;
    float *gx = n->in[0]->grad;
    for (int64_t i = 0; i < a->n; i++) {
        float gi = (float)((a->red == CT_REDUCE_NONE ? go[i] : go[0]) * a->scale);
        const float *cf = a->coef + i * a->c, *lp = a->lp + i * a->c;
        float *gr = gx + i * a->c;
        if (!a->logits) {
            for (int64_t k = 0; k < a->c; k++)
                gr[k] += gi * cf[k];
            continue;
        }
        double s = 0;
        for (int64_t k = 0; k < a->c; k++)
            s += cf[k];
        for (int64_t k = 0; k < a->c; k++)
            gr[k] += gi * (cf[k] - expf(lp[k]) * (float)s);
    }
}

static ct_tensor *ce_any(ct_graph *g, ct_tensor *x, const int64_t *target, const ct_ce_args *args,
                         int logits)
{
    const char *op = logits ? "cross_entropy" : "nll_loss";
    if (!ct_graph_ok(g, 1, x))
        return NULL;
    ct_ce_args a = args ? *args : ct_ce_defaults();
    char sb[128];
    if (x->ndim != 2 || !target)
        return ct_graph_fail(g, CT_EINVAL, "%s: input must be [N, C] (or [N, C, d...]) with "
                             "matching targets, got %s", op,
                             ct_shape_str(x, sb, sizeof sb));
    if (!(a.label_smoothing >= 0 && a.label_smoothing <= 1) || (!logits && a.label_smoothing != 0))
        return ct_graph_fail(g, CT_EINVAL, "%s: label_smoothing=%g must be in [0, 1]%s", op,
                             (double)a.label_smoothing, logits ? "" : " and 0 for nll_loss");
    if (a.reduction < CT_REDUCE_MEAN || a.reduction > CT_REDUCE_NONE)
        return ct_graph_fail(g, CT_EINVAL, "%s: unknown reduction %d", op, (int)a.reduction);
    int64_t nr = x->shape[0], nc = x->shape[1];
    for (int64_t i = 0; i < nr; i++)
        if (target[i] != a.ignore_index && (target[i] < 0 || target[i] >= nc))
            return ct_graph_fail(g, CT_EINVAL, "%s: target %lld of row %lld is not a class in "
                                 "[0, %lld)", op, (long long)target[i], (long long)i,
                                 (long long)nc);
    x = ct_contiguous(g, x);
    if (!x)
        return NULL;
    /* log-probabilities as a helper value: this op's backward covers them */
    int old = ct_graph_set_no_grad(g, 1);
    ct_tensor *lpt = logits ? ct_log_softmax(g, x, 1) : x;
    ct_graph_set_no_grad(g, old);
    if (!lpt)
        return NULL;
    int ng = ct_needs_grad(g, 1, x);
    int64_t one = nr;
    ct_tensor *y = ct_op_output(g, a.reduction == CT_REDUCE_NONE ? 1 : 0, &one, ng);
    ce_aux *aux = ct_arena_alloc(g, sizeof *aux);
    float *coef = ct_arena_zalloc(g, (size_t)(nr * nc) * sizeof *coef + 1);
    if (!y || !aux || !coef)
        return NULL;
    double eps = a.label_smoothing, wsum = 0, total = 0;
    const float *w = a.class_weight;
    for (int64_t i = 0; i < nr; i++) {
        const float *lp = lpt->data + i * nc;
        float *cf = coef + i * nc;
        double li = 0;
        if (target[i] != a.ignore_index) {
            double wy = w ? w[target[i]] : 1.0;
            wsum += wy;
            li = -(1 - eps) * wy * lp[target[i]];
            cf[target[i]] = (float)(-(1 - eps) * wy);
            if (eps > 0) {
                double s = 0;
                for (int64_t k = 0; k < nc; k++) {
                    double wk = w ? w[k] : 1.0;
                    s -= wk * lp[k];
                    cf[k] += (float)(-eps / (double)nc * wk);
                }
                li += eps / (double)nc * s;
            }
        }
        if (a.reduction == CT_REDUCE_NONE)
            y->data[i] = (float)li;
        total += li;
    }
    double scale = 1;
    if (a.reduction == CT_REDUCE_MEAN) {
        /* both parts over the weight sum of the rows not ignored (the row
         * count without weights) */
        y->data[0] = (float)(total / wsum);
        scale = 1.0 / wsum;
    } else if (a.reduction == CT_REDUCE_SUM) {
        y->data[0] = (float)total;
    }
    if (ng) {
        aux->n = nr;
        aux->c = nc;
        aux->logits = logits;
        aux->red = a.reduction;
        aux->lp = lpt->data;
        aux->coef = coef;
        aux->scale = scale;
        ct_node *n = ct_record(g, ce_backward, y, 1, x);
        if (n)
            n->aux = aux;
    }
    return g->status ? NULL : y;
}

/* [N, C, d1, ...] with targets [N, d1, ...] (torch's K-dimensional case):
 * classes moved last, rows (n, d1, ...) in target order, then [rows, C]. */
static ct_tensor *ce_nd(ct_graph *g, ct_tensor *x, const int64_t *target, const ct_ce_args *args,
                        int logits)
{
    if (!ct_graph_ok(g, 1, x))
        return NULL;
    if (x->ndim <= 2)
        return ce_any(g, x, target, args, logits);
    int perm[CT_MAX_DIMS];
    perm[0] = 0;
    for (int i = 1; i < x->ndim - 1; i++)
        perm[i] = i + 1;
    perm[x->ndim - 1] = 1;
    int64_t rows = x->numel / x->shape[1], sh[2] = {rows, x->shape[1]};
    ct_tensor *y = ce_any(g, ct_reshape(g, ct_permute(g, x, perm), 2, sh), target, args, logits);
    if (!y || !args || args->reduction != CT_REDUCE_NONE)
        return y;
    int64_t osh[CT_MAX_DIMS];
    osh[0] = x->shape[0];
    for (int i = 2; i < x->ndim; i++)
        osh[i - 1] = x->shape[i];
    return ct_reshape(g, y, x->ndim - 1, osh);
}

ct_tensor *ct_cross_entropy(ct_graph *g, ct_tensor *logits, const int64_t *target,
                            const ct_ce_args *args)
{
    return ce_nd(g, logits, target, args, 1);
}

ct_tensor *ct_nll_loss(ct_graph *g, ct_tensor *logp, const int64_t *target, const ct_ce_args *args)
{
    return ce_nd(g, logp, target, args, 0);
}

/* ---- element-wise losses ---- */
enum { L_MSE, L_L1, L_SMOOTH_L1, L_HUBER, L_BCE, L_BCE_LOGITS };

static void elem_loss_backward(ct_graph *g, ct_node *n)
{
    (void)g;
    const float *d = n->aux, *go = n->out->grad;
    ct_tensor *x = n->in[0], *y = n->in[1];
    int none = n->i[0] == CT_REDUCE_NONE, ygrad = (int)n->i[1];
    float s = n->f[0];
    for (int64_t i = 0; i < x->numel; i++) {
        float gi = (none ? go[i] : go[0]) * s * d[i];
        if (x->grad)
            x->grad[i] += gi;
        if (ygrad && y->grad)
            y->grad[i] -= gi;
    }
}

static ct_tensor *elem_loss(ct_graph *g, ct_tensor *x, ct_tensor *y, int kind, float par,
                            const float *pos_weight, ct_reduction red, const char *op)
{
    if (!ct_graph_ok(g, 2, x, y))
        return NULL;
    char sx[128], sy[128];
    int same = x->ndim == y->ndim;
    for (int i = 0; same && i < x->ndim; i++)
        same = x->shape[i] == y->shape[i];
    if (!same)
        return ct_graph_fail(g, CT_EINVAL, "%s: input %s and target %s differ in shape", op,
                             ct_shape_str(x, sx, sizeof sx), ct_shape_str(y, sy, sizeof sy));
    if (red < CT_REDUCE_MEAN || red > CT_REDUCE_NONE)
        return ct_graph_fail(g, CT_EINVAL, "%s: unknown reduction %d", op, (int)red);
    x = ct_contiguous(g, x);
    y = ct_contiguous(g, y);
    if (!x || !y)
        return NULL;
    /* the target gets a gradient for the distance losses, as torch */
    int ygrad = kind <= L_HUBER;
    int ng = ygrad ? ct_needs_grad(g, 2, x, y) : ct_needs_grad(g, 1, x);
    ct_tensor *out = red == CT_REDUCE_NONE ? ct_op_output(g, x->ndim, x->shape, ng)
                                           : ct_op_output(g, 0, NULL, ng);
    float *d = ct_arena_alloc(g, (size_t)x->numel * sizeof *d + 1);
    if (!out || !d)
        return NULL;
    int64_t last = x->ndim ? x->shape[x->ndim - 1] : 1;
    double total = 0;
    for (int64_t i = 0; i < x->numel; i++) {
        float a = x->data[i], t = y->data[i], diff = a - t, ad = fabsf(diff), l;
        switch (kind) {
        case L_MSE:
            l = diff * diff;
            d[i] = 2.0f * diff;
            break;
        case L_L1:
            l = ad;
            d[i] = (float)((diff > 0) - (diff < 0));
            break;
        case L_SMOOTH_L1:
            if (ad < par) {
                l = 0.5f * diff * diff / par;
                d[i] = diff / par;
            } else {
                l = ad - 0.5f * par;
                d[i] = (float)((diff > 0) - (diff < 0));
            }
            break;
        case L_HUBER:
            if (ad < par) {
                l = 0.5f * diff * diff;
                d[i] = diff;
            } else {
                l = par * (ad - 0.5f * par);
                d[i] = diff > 0 ? par : -par;
            }
            break;
        case L_BCE: /* torch clamps the logs at -100 and the grad's denominator at 1e-12 */
            l = -(t * fmaxf(logf(a), -100.0f) + (1 - t) * fmaxf(log1pf(-a), -100.0f));
            d[i] = (a - t) / fmaxf((1 - a) * a, 1e-12f);
            break;
        default: { /* (1-t) x + (1 + (pw-1) t) softplus(-x) */
            float pw = pos_weight ? pos_weight[i % last] : 1.0f;
            float lw = 1 + (pw - 1) * t;
            float sp = log1pf(expf(-fabsf(a))) + fmaxf(-a, 0.0f);
            float sig = 1.0f / (1.0f + expf(-a));
            l = (1 - t) * a + lw * sp;
            d[i] = (1 - t) - lw * (1 - sig);
            break;
        }
        }
        if (red == CT_REDUCE_NONE)
            out->data[i] = l;
        total += l;
    }
    float scale = red == CT_REDUCE_MEAN ? (float)(1.0 / (double)x->numel) : 1.0f;
    if (red != CT_REDUCE_NONE)
        out->data[0] = (float)(red == CT_REDUCE_MEAN ? total / (double)x->numel : total);
    if (ng) {
        ct_node *n = ct_record(g, elem_loss_backward, out, 2, x, y);
        if (n) {
            n->aux = d;
            n->i[0] = red;
            n->i[1] = ygrad;
            n->f[0] = scale;
        }
    }
    return g->status ? NULL : out;
}

ct_tensor *ct_mse_loss(ct_graph *g, ct_tensor *x, ct_tensor *y, ct_reduction r)
{
    return elem_loss(g, x, y, L_MSE, 0, NULL, r, "mse_loss");
}
ct_tensor *ct_l1_loss(ct_graph *g, ct_tensor *x, ct_tensor *y, ct_reduction r)
{
    return elem_loss(g, x, y, L_L1, 0, NULL, r, "l1_loss");
}
ct_tensor *ct_smooth_l1_loss(ct_graph *g, ct_tensor *x, ct_tensor *y, float beta, ct_reduction r)
{
    if (ct_graph_ok(g, 0) && !(beta >= 0))
        return ct_graph_fail(g, CT_EINVAL, "smooth_l1_loss: beta=%g must be >= 0", (double)beta);
    return elem_loss(g, x, y, beta == 0 ? L_L1 : L_SMOOTH_L1, beta, NULL, r, "smooth_l1_loss");
}
ct_tensor *ct_huber_loss(ct_graph *g, ct_tensor *x, ct_tensor *y, float delta, ct_reduction r)
{
    if (ct_graph_ok(g, 0) && !(delta > 0))
        return ct_graph_fail(g, CT_EINVAL, "huber_loss: delta=%g must be > 0", (double)delta);
    return elem_loss(g, x, y, L_HUBER, delta, NULL, r, "huber_loss");
}
ct_tensor *ct_bce_loss(ct_graph *g, ct_tensor *p, ct_tensor *y, ct_reduction r)
{
    return elem_loss(g, p, y, L_BCE, 0, NULL, r, "binary_cross_entropy");
}
ct_tensor *ct_bce_with_logits_loss(ct_graph *g, ct_tensor *x, ct_tensor *y,
                                   const float *pos_weight, ct_reduction r)
{
    return elem_loss(g, x, y, L_BCE_LOGITS, 0, pos_weight, r, "binary_cross_entropy_with_logits");
}
