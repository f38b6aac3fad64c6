/* Reductions (torch.sum, mean, max over a dim) and shape operations that
 * copy (torch.cat, index_select, embedding). Sums accumulate in double. */
#include <math.h>
#include <string.h>

#include "graph_impl.h"

/* ---- sum / mean of everything ---- */

static void sum_all_backward(ct_graph *g, ct_node *n)
{
    (void)g;
    float gv = n->out->grad[0] * n->f[0];
    float *gx = n->in[0]->grad;
    for (int64_t i = 0; i < n->in[0]->numel; i++)
        gx[i] += gv;
}

static ct_tensor *sum_all(ct_graph *g, ct_tensor *x, int mean)
{
    if (!ct_graph_ok(g, 1, x))
        return NULL;
    x = ct_contiguous(g, x);
    if (!x)
        return NULL;
    int ng = ct_needs_grad(g, 1, x);
    ct_tensor *y = ct_op_output(g, 0, NULL, ng);
    if (!y)
        return NULL;
    double s = 0;
    for (int64_t i = 0; i < x->numel; i++)
        s += x->data[i];
    float scale = mean ? (float)(1.0 / (double)x->numel) : 1.0f;
    y->data[0] = mean ? (float)(s / (double)x->numel) : (float)s;
    if (ng) {
        ct_node *n = ct_record(g, sum_all_backward, y, 1, x);
        if (n)
            n->f[0] = scale;
    }
    return g->status ? NULL : y;
}

ct_tensor *ct_sum(ct_graph *g, ct_tensor *x) { return sum_all(g, x, 0); }
ct_tensor *ct_mean(ct_graph *g, ct_tensor *x) { return sum_all(g, x, 1); }

/* ---- along one dimension: x seen as [outer, n, inner] ---- */

static void split3(const ct_tensor *x, int d, int64_t *outer, int64_t *n, int64_t *inner)
{
    *outer = ct_shape_numel(d, x->shape);
    *n = x->shape[d];
    *inner = ct_shape_numel(x->ndim - d - 1, x->shape + d + 1);
}

static ct_tensor *reduced_output(ct_graph *g, const ct_tensor *x, int d, int keepdim, int ng)
{
    int64_t sh[CT_MAX_DIMS];
    int nd = 0;
    for (int i = 0; i < x->ndim; i++) {
        if (i == d) {
            if (keepdim)
                sh[nd++] = 1;
        } else {
            sh[nd++] = x->shape[i];
        }
    }
    return ct_op_output(g, nd, sh, ng);
}

static void sum_dim_backward(ct_graph *g, ct_node *n)
{
    (void)g;
    int64_t outer = n->i[0], len = n->i[1], inner = n->i[2];
    const float *go = n->out->grad;
    float *gx = n->in[0]->grad, s = n->f[0];
    for (int64_t o = 0; o < outer; o++)
        for (int64_t k = 0; k < len; k++)
            for (int64_t j = 0; j < inner; j++)
                gx[(o * len + k) * inner + j] += go[o * inner + j] * s;
}

static ct_tensor *sum_dim(ct_graph *g, ct_tensor *x, int dim, int keepdim, int mean)
{
    if (!ct_graph_ok(g, 1, x))
        return NULL;
    int d = ct_norm_dim(dim, x->ndim);
    if (d < 0)
        return ct_graph_fail(g, CT_EINVAL, "%s: dim %d out of range for %d dims",
                             mean ? "mean" : "sum", dim, x->ndim);
    x = ct_contiguous(g, x);
    if (!x)
        return NULL;
    int ng = ct_needs_grad(g, 1, x);
    ct_tensor *y = reduced_output(g, x, d, keepdim, ng);
    if (!y)
        return NULL;
    int64_t outer, len, inner;
    split3(x, d, &outer, &len, &inner);
    float scale = mean ? (float)(1.0 / (double)len) : 1.0f;
    for (int64_t o = 0; o < outer; o++)
        for (int64_t j = 0; j < inner; j++) {
            double s = 0;
            for (int64_t k = 0; k < len; k++)
                s += x->data[(o * len + k) * inner + j];
            y->data[o * inner + j] = mean ? (float)(s / (double)len) : (float)s;
        }
    if (ng) {
        ct_node *n = ct_record(g, sum_dim_backward, y, 1, x);
        if (n) {
            n->i[0] = outer;
            n->i[1] = len;
            n->i[2] = inner;
            n->f[0] = scale;
        }
    }
    return g->status ? NULL : y;
}

ct_tensor *ct_sum_dim(ct_graph *g, ct_tensor *x, int dim, int keepdim)
{
    return sum_dim(g, x, dim, keepdim, 0);
}

ct_tensor *ct_mean_dim(ct_graph *g, ct_tensor *x, int dim, int keepdim)
{
    return sum_dim(g, x, dim, keepdim, 1);
}

static void max_dim_backward(ct_graph *g, ct_node *n)
{
    (void)g;
    int64_t outer = n->i[0], len = n->i[1], inner = n->i[2];
    const int64_t *arg = n->aux;
    const float *go = n->out->grad;
    float *gx = n->in[0]->grad;
    for (int64_t o = 0; o < outer; o++)
        for (int64_t j = 0; j < inner; j++)
            gx[(o * len + arg[o * inner + j]) * inner + j] += go[o * inner + j];
}

ct_tensor *ct_max_dim(ct_graph *g, ct_tensor *x, int dim, int keepdim)
{
    if (!ct_graph_ok(g, 1, x))
        return NULL;
    int d = ct_norm_dim(dim, x->ndim);
    if (d < 0 || x->shape[d] == 0)
        return ct_graph_fail(g, CT_EINVAL, "max: dim %d out of range or empty", dim);
    x = ct_contiguous(g, x);
    if (!x)
        return NULL;
    int ng = ct_needs_grad(g, 1, x);
    ct_tensor *y = reduced_output(g, x, d, keepdim, ng);
    int64_t outer, len, inner;
    split3(x, d, &outer, &len, &inner);
    int64_t *arg = ct_arena_alloc(g, (size_t)(outer * inner) * sizeof *arg + 1);
    if (!y || !arg)
        return NULL;
    for (int64_t o = 0; o < outer; o++)
        for (int64_t j = 0; j < inner; j++) {
            int64_t best = 0;
            float bv = x->data[o * len * inner + j];
            for (int64_t k = 1; k < len; k++) {
                float v = x->data[(o * len + k) * inner + j];
                if (v > bv || (isnan(v) && !isnan(bv))) {
                    bv = v;
                    best = k;
                }
            }
            y->data[o * inner + j] = bv;
            arg[o * inner + j] = best;
        }
    if (ng) {
        ct_node *n = ct_record(g, max_dim_backward, y, 1, x);
        if (n) {
            n->aux = arg;
            n->i[0] = outer;
            n->i[1] = len;
            n->i[2] = inner;
        }
    }
    return g->status ? NULL : y;
}

/* ---- concat ---- */

typedef struct concat_aux {
    int n;
    ct_tensor **xs;
    int64_t outer, inner_out;
} concat_aux;

static void concat_backward(ct_graph *g, ct_node *n)
{
    (void)g;
    const concat_aux *a = n->aux;
    const float *go = n->out->grad;
    int64_t col = 0;
    for (int k = 0; k < a->n; k++) {
        const ct_tensor *x = a->xs[k];
        int64_t w = a->outer ? x->numel / a->outer : 0;
        if (x->grad)
            for (int64_t o = 0; o < a->outer; o++)
                for (int64_t j = 0; j < w; j++)
                    x->grad[o * w + j] += go[o * a->inner_out + col + j];
        col += w;
    }
}

ct_tensor *ct_concat(ct_graph *g, ct_tensor *const *xs, int n, int dim)
{
    if (!ct_graph_ok(g, 0))
        return NULL;
    if (n < 1 || !xs)
        return ct_graph_fail(g, CT_EINVAL, "concat: no tensors");
    concat_aux *a = ct_arena_alloc(g, sizeof *a);
    ct_tensor **cs = ct_arena_alloc(g, (size_t)n * sizeof *cs);
    if (!a || !cs)
        return NULL;
    int ng = 0;
    for (int k = 0; k < n; k++) {
        if (!ct_graph_ok(g, 1, xs[k]))
            return NULL;
        cs[k] = ct_contiguous(g, xs[k]);
        if (!cs[k])
            return NULL;
        ng |= ct_needs_grad(g, 1, cs[k]);
    }
    int d = ct_norm_dim(dim, cs[0]->ndim);
    if (d < 0)
        return ct_graph_fail(g, CT_EINVAL, "concat: dim %d out of range", dim);
    int64_t sh[CT_MAX_DIMS];
    memcpy(sh, cs[0]->shape, sizeof sh);
    sh[d] = 0;
    for (int k = 0; k < n; k++) {
        if (cs[k]->ndim != cs[0]->ndim)
            return ct_graph_fail(g, CT_EINVAL, "concat: tensors of %d and %d dims", cs[0]->ndim,
                                 cs[k]->ndim);
        for (int i = 0; i < cs[0]->ndim; i++)
            if (i != d && cs[k]->shape[i] != cs[0]->shape[i]) {
                char b0[128], b1[128];
                return ct_graph_fail(g, CT_EINVAL, "concat: shapes %s and %s differ outside dim %d",
                                     ct_shape_str(cs[0], b0, sizeof b0),
                                     ct_shape_str(cs[k], b1, sizeof b1), d);
            }
        sh[d] += cs[k]->shape[d];
    }
    ct_tensor *y = ct_op_output(g, cs[0]->ndim, sh, ng);
    if (!y)
        return NULL;
    a->n = n;
    a->xs = cs;
    a->outer = ct_shape_numel(d, sh);
    a->inner_out = a->outer ? y->numel / a->outer : 0;
    int64_t col = 0;
    for (int k = 0; k < n; k++) {
        int64_t w = a->outer ? cs[k]->numel / a->outer : 0;
        for (int64_t o = 0; o < a->outer; o++)
            memcpy(y->data + o * a->inner_out + col, cs[k]->data + o * w, (size_t)w * sizeof(float));
        col += w;
    }
    if (ng) {
        ct_node *nd = ct_record(g, concat_backward, y, 0);
        if (nd)
            nd->aux = a;
    }
    return g->status ? NULL : y;
}

/* ---- index_select / embedding ---- */

static void index_select_backward(ct_graph *g, ct_node *n)
{
    (void)g;
    const int64_t *idx = n->aux;
    int64_t outer = n->i[0], len = n->i[1], inner = n->i[2], m = n->i[3];
    const float *go = n->out->grad;
    float *gx = n->in[0]->grad;
    for (int64_t o = 0; o < outer; o++)
        for (int64_t k = 0; k < m; k++)
            for (int64_t j = 0; j < inner; j++)
                gx[(o * len + idx[k]) * inner + j] += go[(o * m + k) * inner + j];
}

ct_tensor *ct_index_select(ct_graph *g, ct_tensor *x, int dim, const int64_t *index, int64_t m)
{
    if (!ct_graph_ok(g, 1, x))
        return NULL;
    int d = ct_norm_dim(dim, x->ndim);
    if (d < 0 || m < 0 || (m > 0 && !index))
        return ct_graph_fail(g, CT_EINVAL, "index_select: bad dim %d or index", dim);
    x = ct_contiguous(g, x);
    if (!x)
        return NULL;
    int64_t outer, len, inner;
    split3(x, d, &outer, &len, &inner);
    for (int64_t k = 0; k < m; k++)
        if (index[k] < 0 || index[k] >= len)
            return ct_graph_fail(g, CT_EINVAL, "index_select: index %lld out of range [0, %lld)",
                                 (long long)index[k], (long long)len);
    int ng = ct_needs_grad(g, 1, x);
    int64_t sh[CT_MAX_DIMS];
    memcpy(sh, x->shape, sizeof sh);
    sh[d] = m;
    ct_tensor *y = ct_op_output(g, x->ndim, sh, ng);
    int64_t *idx = ct_arena_alloc(g, (size_t)m * sizeof *idx + 1);
    if (!y || !idx)
        return NULL;
    memcpy(idx, index, (size_t)m * sizeof *idx);
    for (int64_t o = 0; o < outer; o++)
        for (int64_t k = 0; k < m; k++)
            memcpy(y->data + (o * m + k) * inner, x->data + (o * len + idx[k]) * inner,
                   (size_t)inner * sizeof(float));
    if (ng) {
        ct_node *n = ct_record(g, index_select_backward, y, 1, x);
        if (n) {
            n->aux = idx;
            n->i[0] = outer;
            n->i[1] = len;
            n->i[2] = inner;
            n->i[3] = m;
        }
    }
    return g->status ? NULL : y;
}

ct_tensor *ct_embedding(ct_graph *g, ct_tensor *weight, const int64_t *index, int64_t n)
{
    if (ct_graph_ok(g, 1, weight) && weight->ndim != 2)
        return ct_graph_fail(g, CT_EINVAL, "embedding: weight must be [V, D]");
    return ct_index_select(g, weight, 0, index, n);
}
