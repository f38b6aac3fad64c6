/* Matrix products on OpenBLAS sgemm (the graph's, blas.h): torch.matmul
 * (2-D and batched 3-D) and torch.nn.functional.linear. Backward products accumulate into the
 * grad buffers with beta = 1, so no temporaries are needed:
 *   C = A B:  dA += dC B^T,  dB += A^T dC. */
#include <string.h>

#include "blas.h"
#include "graph_impl.h"

/* C[M,N] (+)= A[M,K] B[K,N] with optional transposes, all row-major. */
static void gemm(ct_graph *g, int ta, int tb, int64_t m, int64_t n, int64_t k, const float *a,
                 const float *b, float beta, float *c)
{
    if (m == 0 || n == 0)
        return;
    if (k == 0) {
        if (beta == 0)
            memset(c, 0, (size_t)(m * n) * sizeof *c);
        return;
    }
    g->blas.sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
                  (blasint)m, (blasint)n, (blasint)k, 1.0f, a, (blasint)(ta ? m : k), b,
                  (blasint)(tb ? k : n), beta, c, (blasint)n);
}

static void matmul_backward(ct_graph *g, ct_node *n)
{
    (void)g;
    const ct_tensor *a = n->in[0], *b = n->in[1];
    int64_t batch = n->i[0], m = n->i[1], k = n->i[2], nn = n->i[3], bstride = n->i[4];
    const float *go = n->out->grad;
    for (int64_t i = 0; i < batch; i++) {
        const float *goi = go + i * m * nn;
        if (a->grad)
            gemm(g, 0, 1, m, k, nn, goi, b->data + i * bstride, 1.0f, a->grad + i * m * k);
        if (b->grad)
            gemm(g, 1, 0, k, nn, m, a->data + i * m * k, goi, 1.0f, b->grad + i * bstride);
    }
}

ct_tensor *ct_matmul(ct_graph *g, ct_tensor *a, ct_tensor *b)
{
    if (!ct_graph_ok(g, 2, a, b))
        return NULL;
    char sa[128], sb[128];
    int batched = b->ndim == 3;
    if (a->ndim < 2 || (b->ndim != 2 && !(batched && a->ndim == 3)) ||
        a->shape[a->ndim - 1] != b->shape[b->ndim - 2] || (batched && a->shape[0] != b->shape[0]))
        return ct_graph_fail(g, CT_EINVAL, "matmul: shapes %s and %s do not multiply",
                             ct_shape_str(a, sa, sizeof sa), ct_shape_str(b, sb, sizeof sb));
    a = ct_contiguous(g, a);
    b = ct_contiguous(g, b);
    if (!a || !b)
        return NULL;
    int64_t k = a->shape[a->ndim - 1], nn = b->shape[b->ndim - 1];
    int64_t batch = batched ? a->shape[0] : 1;
    int64_t m = a->numel / (k ? k : 1) / batch;
    if (k == 0)
        m = ct_shape_numel(a->ndim - 1, a->shape) / batch;
    int ng = ct_needs_grad(g, 2, a, b);
    int64_t sh[CT_MAX_DIMS];
    memcpy(sh, a->shape, sizeof sh);
    sh[a->ndim - 1] = nn;
    ct_tensor *y = ct_op_output(g, a->ndim, sh, ng);
    if (!y)
        return NULL;
    int64_t bstride = batched ? k * nn : 0;
    for (int64_t i = 0; i < batch; i++)
        gemm(g, 0, 0, m, nn, k, a->data + i * m * k, b->data + i * bstride, 0.0f,
             y->data + i * m * nn);
    if (ng) {
        ct_node *n = ct_record(g, matmul_backward, y, 2, a, b);
        if (n) {
            n->i[0] = batch;
            n->i[1] = m;
            n->i[2] = k;
            n->i[3] = nn;
            n->i[4] = bstride;
        }
    }
    return g->status ? NULL : y;
}

static void linear_backward(ct_graph *g, ct_node *n)
{
    (void)g;
    const ct_tensor *x = n->in[0], *w = n->in[1], *b = n->in[2];
    int64_t rows = n->i[0], in = n->i[1], out = n->i[2];
    const float *go = n->out->grad;
    if (x->grad)
        gemm(g, 0, 0, rows, in, out, go, w->data, 1.0f, x->grad);
    if (w->grad)
        gemm(g, 1, 0, out, in, rows, go, x->data, 1.0f, w->grad);
    if (b && b->grad)
        for (int64_t j = 0; j < out; j++) {
            double s = 0;
            for (int64_t r = 0; r < rows; r++)
                s += go[r * out + j];
            b->grad[j] += (float)s;
        }
}

ct_tensor *ct_linear(ct_graph *g, ct_tensor *x, ct_tensor *w, ct_tensor *b)
{
    if (!ct_graph_ok(g, 2, x, w))
        return NULL;
    char sx[128], sw[128];
    if (x->ndim < 1 || w->ndim != 2 || x->shape[x->ndim - 1] != w->shape[1] ||
        (b && (b->ndim != 1 || b->shape[0] != w->shape[0])))
        return ct_graph_fail(g, CT_EINVAL, "linear: input %s does not fit weight %s%s",
                             ct_shape_str(x, sx, sizeof sx), ct_shape_str(w, sw, sizeof sw),
                             b ? " and its bias" : "");
    x = ct_contiguous(g, x);
    w = ct_contiguous(g, w);
    if (b)
        b = ct_contiguous(g, b);
    if (!x || !w || g->status)
        return NULL;
    int64_t in = w->shape[1], out = w->shape[0];
    int64_t rows = ct_shape_numel(x->ndim - 1, x->shape);
    int ng = ct_needs_grad(g, 3, x, w, b);
    int64_t sh[CT_MAX_DIMS];
    memcpy(sh, x->shape, sizeof sh);
    sh[x->ndim - 1] = out;
    ct_tensor *y = ct_op_output(g, x->ndim, sh, ng);
    if (!y)
        return NULL;
    if (b)
        for (int64_t r = 0; r < rows; r++)
            memcpy(y->data + r * out, b->data, (size_t)out * sizeof(float));
    gemm(g, 0, 1, rows, out, in, x->data, w->data, b ? 1.0f : 0.0f, y->data);
    if (ng) {
        ct_node *n = ct_record(g, linear_backward, y, 3, x, w, b);
        if (n) {
            n->i[0] = rows;
            n->i[1] = in;
            n->i[2] = out;
        }
    }
    return g->status ? NULL : y;
}
