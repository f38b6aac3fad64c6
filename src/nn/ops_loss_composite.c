/* Losses composed of differentiable ops: their backward is the tape's. Each
 * follows its PyTorch function term by term, so the float rounding is
 * close to torch's. */
#include <string.h>

#include "graph_impl.h"

static ct_tensor *scalar(ct_graph *g, float v)
{
    return ct_tensor_from(g, &v, 0, NULL, 0);
}

static ct_tensor *reduce(ct_graph *g, ct_tensor *l, ct_reduction r, const char *op)
{
    switch (r) {
    case CT_REDUCE_MEAN: return ct_mean(g, l);
    case CT_REDUCE_SUM: return ct_sum(g, l);
    case CT_REDUCE_NONE: return l;
    }
    return ct_graph_fail(g, CT_EINVAL, "%s: unknown reduction %d", op, (int)r);
}

ct_tensor *ct_sigmoid_focal_loss(ct_graph *g, ct_tensor *x, ct_tensor *t, float alpha,
                                 float gamma, ct_reduction r)
{
    /* torchvision/ops/focal_loss.py:
     *   p = sigmoid(x); ce = bce_with_logits(x, t, none)
     *   p_t = p t + (1 - p)(1 - t); loss = ce (1 - p_t)^gamma
     *   alpha_t = alpha t + (1 - alpha)(1 - t); loss = alpha_t loss */
    if (!ct_graph_ok(g, 2, x, t))
        return NULL;
    if (!(gamma >= 0))
        return ct_graph_fail(g, CT_EINVAL, "sigmoid_focal_loss: gamma=%g must be >= 0",
                             (double)gamma);
    ct_tensor *one = scalar(g, 1.0f);
    ct_tensor *p = ct_sigmoid(g, x);
    ct_tensor *ce = ct_bce_with_logits_loss(g, x, t, NULL, CT_REDUCE_NONE);
    ct_tensor *omt = ct_sub(g, one, t);
    ct_tensor *pt = ct_add(g, ct_mul(g, p, t), ct_mul(g, ct_sub(g, one, p), omt));
    ct_tensor *loss = ct_mul(g, ce, ct_pow(g, ct_sub(g, one, pt), gamma));
    if (alpha >= 0) {
        ct_tensor *at = ct_add(g, ct_scale(g, t, alpha), ct_scale(g, omt, 1.0f - alpha));
        loss = ct_mul(g, at, loss);
    }
    return reduce(g, loss, r, "sigmoid_focal_loss");
}

/* torch.pairwise_distance(a, b, p=2, eps): |a - b + eps|_2 over the last dim */
static ct_tensor *pairwise_distance(ct_graph *g, ct_tensor *a, ct_tensor *b, float eps)
{
    ct_tensor *d = ct_add(g, ct_sub(g, a, b), scalar(g, eps));
    return ct_sqrt(g, ct_sum_dim(g, ct_mul(g, d, d), -1, 0));
}

ct_tensor *ct_triplet_margin_loss(ct_graph *g, ct_tensor *a, ct_tensor *p, ct_tensor *n,
                                  float margin, float eps, ct_reduction r)
{
    if (!ct_graph_ok(g, 3, a, p, n))
        return NULL;
    if (a->ndim != 2 || p->ndim != 2 || n->ndim != 2)
        return ct_graph_fail(g, CT_EINVAL, "triplet_margin_loss: inputs must be [N, D]");
    ct_tensor *dp = pairwise_distance(g, a, p, eps), *dn = pairwise_distance(g, a, n, eps);
    ct_tensor *l = ct_relu(g, ct_add(g, ct_sub(g, dp, dn), scalar(g, margin)));
    return reduce(g, l, r, "triplet_margin_loss");
}

ct_tensor *ct_cosine_embedding_loss(ct_graph *g, ct_tensor *x1, ct_tensor *x2, ct_tensor *y,
                                    float margin, ct_reduction r)
{
    /* ATen cosine_embedding_loss (Loss.cpp): EPSILON = 1e-12,
     * cos = sum(x1 x2) / sqrt((sum(x1^2) + EPS) (sum(x2^2) + EPS)) */
    if (!ct_graph_ok(g, 3, x1, x2, y))
        return NULL;
    if (x1->ndim != 2 || x2->ndim != 2 || y->ndim != 1 || y->shape[0] != x1->shape[0])
        return ct_graph_fail(g, CT_EINVAL, "cosine_embedding_loss: x1, x2 [N, D] and y [N]");
    ct_tensor *eps = scalar(g, 1e-12f);
    ct_tensor *prod = ct_sum_dim(g, ct_mul(g, x1, x2), 1, 0);
    ct_tensor *m1 = ct_add(g, ct_sum_dim(g, ct_mul(g, x1, x1), 1, 0), eps);
    ct_tensor *m2 = ct_add(g, ct_sum_dim(g, ct_mul(g, x2, x2), 1, 0), eps);
    ct_tensor *cos = ct_div(g, prod, ct_sqrt(g, ct_mul(g, m1, m2)));
    ct_tensor *one = scalar(g, 1.0f), *zero = scalar(g, 0.0f);
    ct_tensor *pos = ct_sub(g, one, cos);
    ct_tensor *neg = ct_relu(g, ct_sub(g, cos, scalar(g, margin)));
    if (!pos || !neg)
        return NULL;
    /* masks from y: 1 where y == 1 (pos), where y == -1 (neg), else 0 */
    ct_tensor *is_pos = ct_tensor_new(g, 1, y->shape, 0), *is_neg = ct_tensor_new(g, 1, y->shape, 0);
    if (!is_pos || !is_neg)
        return NULL;
    for (int64_t i = 0; i < y->shape[0]; i++) {
        float v = ct_tensor_get(y, i);
        is_pos->data[i] = v == 1.0f;
        is_neg->data[i] = v == -1.0f;
    }
    ct_tensor *l = ct_add(g, ct_where(g, is_pos, pos, zero), ct_where(g, is_neg, neg, zero));
    return reduce(g, l, r, "cosine_embedding_loss");
}
