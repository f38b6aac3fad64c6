/* Normalisation: torch.nn.functional.batch_norm, layer_norm, group_norm.
 * All three normalise sets of M elements, xhat = (x - mean) / sqrt(var + eps)
 * with the biased variance, then y = xhat * w + b per channel; their
 * backward is the standard one (Ioffe & Szegedy 2015, "Batch
 * Normalization", Section 3):
 *   dx = invstd / M * (M dxhat - sum(dxhat) - xhat * sum(dxhat * xhat)).
 * Each set is described by (index of the set, channel) of every element;
 * the three ops only differ in how elements map to sets and channels. */
#include <math.h>
#include <string.h>

#include "graph_impl.h"

typedef enum { NORM_BATCH, NORM_LAYER, NORM_GROUP } norm_kind;

typedef struct norm_aux {
    norm_kind kind;
    int64_t n, c, s;   /* x viewed as [n, c, s] (layer: [rows, 1, D]) */
    int64_t groups;
    int64_t nsets;
    float *xhat;       /* normalised input */
    float *invstd;     /* per set */
    int use_batch;     /* statistics from the batch (else running: no set coupling) */
} norm_aux;

/* Set and channel of element (i, ch, j) of [n, c, s]. */
static inline int64_t set_of(const norm_aux *a, int64_t i, int64_t ch)
{
    switch (a->kind) {
    case NORM_BATCH: return ch;
    case NORM_LAYER: return i;
    default: return i * a->groups + ch / (a->c / a->groups);
    }
}

static inline int64_t chan_of(const norm_aux *a, int64_t ch, int64_t j)
{
    return a->kind == NORM_LAYER ? j : ch;
}

static void norm_backward(ct_graph *g, ct_node *n)
{
    const norm_aux *a = n->aux;
    ct_tensor *x = n->in[0], *w = n->in[1], *b = n->in[2];
    const float *go = n->out->grad;
    int64_t total = a->n * a->c * a->s;
    double *acc = ct_arena_zalloc(g, (size_t)(2 * a->nsets) * sizeof *acc);
    float *gxh = ct_arena_alloc(g, (size_t)total * sizeof *gxh + 1);
    if (!acc || !gxh)
        return;
    int64_t p = 0;
    for (int64_t i = 0; i < a->n; i++)
        for (int64_t ch = 0; ch < a->c; ch++)
            for (int64_t j = 0; j < a->s; j++, p++) {
                int64_t k = chan_of(a, ch, j), st = set_of(a, i, ch);
                float gh = go[p] * (w ? w->data[k] : 1.0f);
                gxh[p] = gh;
                if (w && w->grad)
                    w->grad[k] += go[p] * a->xhat[p];
                if (b && b->grad)
                    b->grad[k] += go[p];
                acc[2 * st] += gh;
                acc[2 * st + 1] += (double)gh * a->xhat[p];
            }
    if (!x->grad)
        return;
    double m = (double)total / (double)a->nsets;
    p = 0;
    for (int64_t i = 0; i < a->n; i++)
        for (int64_t ch = 0; ch < a->c; ch++)
            for (int64_t j = 0; j < a->s; j++, p++) {
                int64_t st = set_of(a, i, ch);
                if (a->use_batch)
                    x->grad[p] += (float)(a->invstd[st] / m *
                                          (m * gxh[p] - acc[2 * st] - a->xhat[p] * acc[2 * st + 1]));
                else
                    x->grad[p] += gxh[p] * a->invstd[st];
            }
}

static ct_tensor *norm_run(ct_graph *g, ct_tensor *x, ct_tensor *w, ct_tensor *b, norm_aux *a,
                           float eps, float *rmean, float *rvar, float momentum, int update)
{
    int ng = ct_needs_grad(g, 3, x, w, b);
    ct_tensor *y = ct_op_output(g, x->ndim, x->shape, ng);
    int64_t total = a->n * a->c * a->s;
    a->xhat = ct_arena_alloc(g, (size_t)total * sizeof(float) + 1);
    a->invstd = ct_arena_alloc(g, (size_t)a->nsets * sizeof(float) + 1);
    double *st = ct_arena_zalloc(g, (size_t)(2 * a->nsets) * sizeof *st);
    float *mean = ct_arena_alloc(g, (size_t)a->nsets * sizeof *mean + 1);
    if (!y || !a->xhat || !a->invstd || !st || !mean)
        return NULL;
    double m = (double)total / (double)(a->nsets ? a->nsets : 1);
    if (a->use_batch) {
        int64_t p = 0;
        for (int64_t i = 0; i < a->n; i++)
            for (int64_t ch = 0; ch < a->c; ch++)
                for (int64_t j = 0; j < a->s; j++, p++)
                    st[2 * set_of(a, i, ch)] += x->data[p];
        for (int64_t k = 0; k < a->nsets; k++)
            mean[k] = (float)(st[2 * k] / m);
        p = 0;
        for (int64_t i = 0; i < a->n; i++)
            for (int64_t ch = 0; ch < a->c; ch++)
                for (int64_t j = 0; j < a->s; j++, p++) {
                    int64_t k = set_of(a, i, ch);
                    double d = (double)x->data[p] - mean[k];
                    st[2 * k + 1] += d * d;
                }
        for (int64_t k = 0; k < a->nsets; k++) {
            double var = st[2 * k + 1] / m;
            a->invstd[k] = (float)(1.0 / sqrt(var + (double)eps));
            if (update && rmean && rvar) { /* running statistics use the unbiased variance */
                double uv = m > 1 ? st[2 * k + 1] / (m - 1) : var;
                rmean[k] = (float)((1 - (double)momentum) * rmean[k] + (double)momentum * mean[k]);
                rvar[k] = (float)((1 - (double)momentum) * rvar[k] + (double)momentum * uv);
            }
        }
    } else {
        for (int64_t k = 0; k < a->nsets; k++) {
            mean[k] = rmean[k];
            a->invstd[k] = (float)(1.0 / sqrt((double)rvar[k] + (double)eps));
        }
    }
    int64_t p = 0;
    for (int64_t i = 0; i < a->n; i++)
        for (int64_t ch = 0; ch < a->c; ch++)
            for (int64_t j = 0; j < a->s; j++, p++) {
                int64_t k = set_of(a, i, ch), c = chan_of(a, ch, j);
                float xh = (x->data[p] - mean[k]) * a->invstd[k];
                a->xhat[p] = xh;
                y->data[p] = xh * (w ? w->data[c] : 1.0f) + (b ? b->data[c] : 0.0f);
            }
    if (ng) {
        ct_node *n = ct_record(g, norm_backward, y, 3, x, w, b);
        if (n)
            n->aux = a;
    }
    return g->status ? NULL : y;
}

static int check_affine(ct_graph *g, const ct_tensor *t, int64_t len, const char *op)
{
    if (t && (t->ndim != 1 || t->shape[0] != len || !ct_tensor_is_contiguous(t))) {
        ct_graph_fail(g, CT_EINVAL, "%s: weight and bias must be contiguous [%lld]", op,
                      (long long)len);
        return -1;
    }
    return 0;
}

ct_tensor *ct_batch_norm(ct_graph *g, ct_tensor *x, ct_tensor *weight, ct_tensor *bias,
                         float *running_mean, float *running_var, float momentum, float eps)
{
    if (!ct_graph_ok(g, 1, x))
        return NULL;
    if (x->ndim < 2)
        return ct_graph_fail(g, CT_EINVAL, "batch_norm: input must be [N, C, ...]");
    int use_batch = g->training || !running_mean || !running_var;
    if (!g->training && (!running_mean || !running_var))
        use_batch = 1;
    x = ct_contiguous(g, x);
    norm_aux *a = ct_arena_alloc(g, sizeof *a);
    if (!x || !a || check_affine(g, weight, x->shape[1], "batch_norm") ||
        check_affine(g, bias, x->shape[1], "batch_norm"))
        return NULL;
    memset(a, 0, sizeof *a);
    a->kind = NORM_BATCH;
    a->n = x->shape[0];
    a->c = x->shape[1];
    a->s = ct_shape_numel(x->ndim - 2, x->shape + 2);
    a->nsets = a->c;
    a->use_batch = use_batch;
    if (use_batch && a->n * a->s <= 1)
        return ct_graph_fail(g, CT_EINVAL, "batch_norm: need more than one value per channel "
                             "in training");
    return norm_run(g, x, weight, bias, a, eps, running_mean, running_var, momentum,
                    g->training);
}

ct_tensor *ct_layer_norm(ct_graph *g, ct_tensor *x, ct_tensor *weight, ct_tensor *bias, float eps)
{
    if (!ct_graph_ok(g, 1, x))
        return NULL;
    if (x->ndim < 1)
        return ct_graph_fail(g, CT_EINVAL, "layer_norm: input must have a last dimension");
    x = ct_contiguous(g, x);
    norm_aux *a = ct_arena_alloc(g, sizeof *a);
    int64_t d = x ? x->shape[x->ndim - 1] : 0;
    if (!x || !a || check_affine(g, weight, d, "layer_norm") ||
        check_affine(g, bias, d, "layer_norm"))
        return NULL;
    memset(a, 0, sizeof *a);
    a->kind = NORM_LAYER;
    a->n = d ? x->numel / d : 0;
    a->c = 1;
    a->s = d;
    a->nsets = a->n;
    a->use_batch = 1;
    return norm_run(g, x, weight, bias, a, eps, NULL, NULL, 0, 0);
}

ct_tensor *ct_group_norm(ct_graph *g, ct_tensor *x, int groups, ct_tensor *weight,
                         ct_tensor *bias, float eps)
{
    if (!ct_graph_ok(g, 1, x))
        return NULL;
    if (x->ndim < 2 || groups < 1 || x->shape[1] % groups)
        return ct_graph_fail(g, CT_EINVAL, "group_norm: input [N, C, ...] with C divisible by "
                             "groups=%d", groups);
    x = ct_contiguous(g, x);
    norm_aux *a = ct_arena_alloc(g, sizeof *a);
    if (!x || !a || check_affine(g, weight, x->shape[1], "group_norm") ||
        check_affine(g, bias, x->shape[1], "group_norm"))
        return NULL;
    memset(a, 0, sizeof *a);
    a->kind = NORM_GROUP;
    a->n = x->shape[0];
    a->c = x->shape[1];
    a->s = ct_shape_numel(x->ndim - 2, x->shape + 2);
    a->groups = groups;
    a->nsets = a->n * groups;
    a->use_batch = 1;
    return norm_run(g, x, weight, bias, a, eps, NULL, NULL, 0, 0);
}
