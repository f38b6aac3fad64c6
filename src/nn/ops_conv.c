/* Convolution and pooling over NCHW tensors.
 *
 * conv2d (torch.nn.functional.conv2d) is lowered to im2col (Chellapilla,
 * Puri, Simard 2006, "High Performance Convolutional Neural Networks for
 * Document Processing") over the whole batch: col [C*KH*KW, N*OH*OW], then
 * one sgemm per group, W_g [O/G, C/G*KH*KW] x col_g, so small images still
 * make large GEMMs. Backward: dW_g += dY_g col_g^T, dcol_g = W_g^T dY_g,
 * then col2im adds dcol back into dx.
 * Pooling follows torch's max_pool2d / avg_pool2d (floor mode,
 * count_include_pad=True) and adaptive_avg_pool2d's bin edges
 * floor(i*H/OH) .. ceil((i+1)*H/OH). */
#include <math.h>
#include <string.h>

#include "blas.h"
#include "graph_impl.h"

typedef struct conv_geom {
    int64_t n, c, h, w, o, kh, kw, oh, ow, groups;
    int64_t sh, sw, ph, pw, dh, dw;
} conv_geom;

typedef struct conv_aux {
    conv_geom q;
    float *col;     /* batched: [C*KH*KW, N*OH*OW]; per sample: scratch [C*KH*KW, OH*OW] */
    int per_sample; /* large feature maps: one sample at a time, col recomputed */
} conv_aux;

/* From this many output pixels per sample on, convolutions run one sample
 * at a time: col stays in cache between im2col and the GEMM, the GEMM
 * writes straight into NCHW, and backward recomputes col instead of
 * keeping N of them. Below it, one GEMM over the whole batch amortises
 * the call overhead of small maps. */
#define PER_SAMPLE_MIN_PIXELS 256

/* The output columns xo whose input column xo*sw - pw + j*dw lies in
 * [0, w): [*lo, *hi). */
static void valid_cols(const conv_geom *q, int64_t j, int64_t *lo, int64_t *hi)
{
    int64_t off = j * q->dw - q->pw; /* ix = xo*sw + off */
    int64_t l = off >= 0 ? 0 : (-off + q->sw - 1) / q->sw;
    int64_t h = q->w - off <= 0 ? 0 : (q->w - off - 1) / q->sw + 1;
    *lo = l < q->ow ? l : q->ow;
    *hi = h < q->ow ? (h > *lo ? h : *lo) : q->ow;
}

static void im2col(const conv_geom *q, const float *x, float *col)
{
    int64_t ohw = q->oh * q->ow, len = q->n * ohw;
    for (int64_t c = 0; c < q->c; c++)
        for (int64_t i = 0; i < q->kh; i++)
            for (int64_t j = 0; j < q->kw; j++) {
                float *row = col + ((c * q->kh + i) * q->kw + j) * len;
                int64_t lo, hi, off = j * q->dw - q->pw;
                valid_cols(q, j, &lo, &hi);
                for (int64_t n = 0; n < q->n; n++) {
                    const float *plane = x + (n * q->c + c) * q->h * q->w;
                    float *r = row + n * ohw;
                    for (int64_t y = 0; y < q->oh; y++) {
                        int64_t iy = y * q->sh - q->ph + i * q->dh;
                        float *ry = r + y * q->ow;
                        if (iy < 0 || iy >= q->h) {
                            memset(ry, 0, (size_t)q->ow * sizeof *ry);
                            continue;
                        }
                        const float *px = plane + iy * q->w + off;
                        for (int64_t xo = 0; xo < lo; xo++)
                            ry[xo] = 0.0f;
                        if (q->sw == 1)
                            memcpy(ry + lo, px + lo, (size_t)(hi - lo) * sizeof *ry);
                        else
                            for (int64_t xo = lo; xo < hi; xo++)
                                ry[xo] = px[xo * q->sw];
                        for (int64_t xo = hi; xo < q->ow; xo++)
                            ry[xo] = 0.0f;
                    }
                }
            }
}

static void col2im_add(const conv_geom *q, const float *col, float *dx)
{
    int64_t ohw = q->oh * q->ow, len = q->n * ohw;
    for (int64_t c = 0; c < q->c; c++)
        for (int64_t i = 0; i < q->kh; i++)
            for (int64_t j = 0; j < q->kw; j++) {
                const float *row = col + ((c * q->kh + i) * q->kw + j) * len;
                int64_t lo, hi, off = j * q->dw - q->pw;
                valid_cols(q, j, &lo, &hi);
                for (int64_t n = 0; n < q->n; n++) {
                    float *plane = dx + (n * q->c + c) * q->h * q->w;
                    const float *r = row + n * ohw;
                    for (int64_t y = 0; y < q->oh; y++) {
                        int64_t iy = y * q->sh - q->ph + i * q->dh;
                        if (iy < 0 || iy >= q->h)
                            continue;
                        float *restrict px = plane + iy * q->w + off;
                        const float *restrict ry = r + y * q->ow;
                        if (q->sw == 1)
                            for (int64_t xo = lo; xo < hi; xo++)
                                px[xo] += ry[xo];
                        else
                            for (int64_t xo = lo; xo < hi; xo++)
                                px[xo * q->sw] += ry[xo];
                    }
                }
            }
}

static void sgemm(ct_graph *g, int ta, int tb, int64_t m, int64_t n, int64_t k,
                  const float *a, int64_t lda, const float *b, int64_t ldb, float beta, float *c,
                  int64_t ldc)
{
    if (m == 0 || n == 0 || k == 0)
        return;
    g->blas.sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
                  (blasint)m, (blasint)n, (blasint)k, 1.0f, a, (blasint)lda, b, (blasint)ldb,
                  beta, c, (blasint)ldc);
}

static void conv_backward_per_sample(ct_graph *g, ct_node *n)
{
    const conv_aux *a = n->aux;
    conv_geom q1 = a->q;
    q1.n = 1;
    const conv_geom *q = &a->q;
    ct_tensor *x = n->in[0], *w = n->in[1], *b = n->in[2];
    int64_t ohw = q->oh * q->ow, chw = q->c * q->h * q->w;
    int64_t og = q->o / q->groups, kk = (q->c / q->groups) * q->kh * q->kw;
    const float *go = n->out->grad;
    float *dcol = x->grad ? ct_arena_alloc(g, (size_t)(q->groups * kk * ohw) * sizeof *dcol + 1)
                          : NULL;
    if (x->grad && !dcol)
        return;
    if (b && b->grad)
        for (int64_t o = 0; o < q->o; o++) {
            double acc = 0;
            for (int64_t s = 0; s < q->n; s++)
                for (int64_t i = 0; i < ohw; i++)
                    acc += go[(s * q->o + o) * ohw + i];
            b->grad[o] += (float)acc;
        }
    for (int64_t s = 0; s < q->n; s++) {
        const float *gos = go + s * q->o * ohw;
        if (w->grad)
            im2col(&q1, x->data + s * chw, a->col);
        for (int64_t gi = 0; gi < q->groups; gi++) {
            const float *dyg = gos + gi * og * ohw;
            if (w->grad)
                sgemm(g, 0, 1, og, kk, ohw, dyg, ohw, a->col + gi * kk * ohw, ohw, 1.0f,
                      w->grad + gi * og * kk, kk);
            if (dcol)
                sgemm(g, 1, 0, kk, ohw, og, w->data + gi * og * kk, kk, dyg, ohw, 0.0f,
                      dcol + gi * kk * ohw, ohw);
        }
        if (dcol)
            col2im_add(&q1, dcol, x->grad + s * chw);
    }
}

static void conv_backward(ct_graph *g, ct_node *n)
{
    const conv_aux *a = n->aux;
    if (a->per_sample) {
        conv_backward_per_sample(g, n);
        return;
    }
    const conv_geom *q = &a->q;
    ct_tensor *x = n->in[0], *w = n->in[1], *b = n->in[2];
    int64_t ohw = q->oh * q->ow, len = q->n * ohw;
    int64_t og = q->o / q->groups, kk = (q->c / q->groups) * q->kh * q->kw;
    float *dt = ct_arena_alloc(g, (size_t)(q->o * len) * sizeof *dt + 1);
    if (!dt)
        return;
    const float *go = n->out->grad;
    for (int64_t s = 0; s < q->n; s++)
        for (int64_t o = 0; o < q->o; o++)
            memcpy(dt + o * len + s * ohw, go + (s * q->o + o) * ohw, (size_t)ohw * sizeof *dt);
    if (b && b->grad)
        for (int64_t o = 0; o < q->o; o++) {
            double acc = 0;
            for (int64_t i = 0; i < len; i++)
                acc += dt[o * len + i];
            b->grad[o] += (float)acc;
        }
    float *dcol = x->grad ? ct_arena_alloc(g, (size_t)(q->c * q->kh * q->kw * len) * sizeof *dcol + 1)
                          : NULL;
    for (int64_t gi = 0; gi < q->groups; gi++) {
        const float *dtg = dt + gi * og * len, *colg = a->col + gi * kk * len;
        if (w->grad)
            sgemm(g, 0, 1, og, kk, len, dtg, len, colg, len, 1.0f, w->grad + gi * og * kk, kk);
        if (dcol)
            sgemm(g, 1, 0, kk, len, og, w->data + gi * og * kk, kk, dtg, len, 0.0f,
                  dcol + gi * kk * len, len);
    }
    if (dcol)
        col2im_add(q, dcol, x->grad);
}

ct_tensor *ct_conv2d(ct_graph *g, ct_tensor *x, ct_tensor *w, ct_tensor *b,
                     const ct_conv_args *ca)
{
    if (!ct_graph_ok(g, 3, x, w, ca))
        return NULL;
    char sx[128], sw[128];
    int groups = ca->groups ? ca->groups : 1;
    if (x->ndim != 4 || w->ndim != 4 || groups < 1 || x->shape[1] % groups ||
        w->shape[0] % groups || w->shape[1] * groups != x->shape[1] ||
        (b && (b->ndim != 1 || b->shape[0] != w->shape[0])))
        return ct_graph_fail(g, CT_EINVAL,
                             "conv2d: input %s does not fit weight %s (groups %d)%s",
                             ct_shape_str(x, sx, sizeof sx), ct_shape_str(w, sw, sizeof sw),
                             groups, b ? " or bias" : "");
    conv_geom q = {x->shape[0], x->shape[1], x->shape[2], x->shape[3], w->shape[0], w->shape[2],
                   w->shape[3], 0, 0, groups, ca->stride[0], ca->stride[1], ca->padding[0],
                   ca->padding[1], ca->dilation[0] ? ca->dilation[0] : 1,
                   ca->dilation[1] ? ca->dilation[1] : 1};
    if (q.sh < 1 || q.sw < 1 || q.ph < 0 || q.pw < 0 || q.dh < 1 || q.dw < 1)
        return ct_graph_fail(g, CT_EINVAL, "conv2d: stride and dilation must be >= 1, padding >= 0");
    int64_t eh = q.h + 2 * q.ph - q.dh * (q.kh - 1) - 1, ew = q.w + 2 * q.pw - q.dw * (q.kw - 1) - 1;
    if (eh < 0 || ew < 0)
        return ct_graph_fail(g, CT_EINVAL, "conv2d: kernel %lldx%lld is larger than the padded "
                             "input %s", (long long)q.kh, (long long)q.kw,
                             ct_shape_str(x, sx, sizeof sx));
    q.oh = eh / q.sh + 1;
    q.ow = ew / q.sw + 1;
    x = ct_contiguous(g, x);
    w = ct_contiguous(g, w);
    if (!x || !w)
        return NULL;
    int ng = ct_needs_grad(g, 3, x, w, b);
    int64_t sh[4] = {q.n, q.o, q.oh, q.ow};
    ct_tensor *y = ct_op_output(g, 4, sh, ng);
    int64_t ohw = q.oh * q.ow, len = q.n * ohw;
    int64_t og = q.o / groups, kk = (q.c / groups) * q.kh * q.kw;
    conv_aux *a = ct_arena_alloc(g, sizeof *a);
    if (!y || !a)
        return NULL;
    a->q = q;
    a->per_sample = ohw >= PER_SAMPLE_MIN_PIXELS && kk > 0;
    if (a->per_sample) {
        conv_geom q1 = q;
        q1.n = 1;
        int64_t chw = q.c * q.h * q.w;
        a->col = ct_arena_alloc(g, (size_t)(q.c * q.kh * q.kw * ohw) * sizeof(float) + 1);
        if (!a->col)
            return NULL;
        for (int64_t s = 0; s < q.n; s++) {
            float *ys = y->data + s * q.o * ohw;
            im2col(&q1, x->data + s * chw, a->col);
            for (int64_t gi = 0; gi < groups; gi++)
                sgemm(g, 0, 0, og, ohw, kk, w->data + gi * og * kk, kk, a->col + gi * kk * ohw, ohw,
                      0.0f, ys + gi * og * ohw, ohw);
            if (b)
                for (int64_t o = 0; o < q.o; o++)
                    for (int64_t i = 0; i < ohw; i++)
                        ys[o * ohw + i] += b->data[o];
        }
        if (ng) {
            ct_node *n = ct_record(g, conv_backward, y, 3, x, w, b);
            if (n)
                n->aux = a;
        }
        return g->status ? NULL : y;
    }
    float *col = ct_arena_alloc(g, (size_t)(q.c * q.kh * q.kw * len) * sizeof *col + 1);
    float *tmp = ct_arena_alloc(g, (size_t)(q.o * len) * sizeof *tmp + 1);
    if (!col || !tmp)
        return NULL;
    im2col(&q, x->data, col);
    for (int64_t gi = 0; gi < groups; gi++)
        sgemm(g, 0, 0, og, len, kk, w->data + gi * og * kk, kk, col + gi * kk * len, len, 0.0f,
              tmp + gi * og * len, len);
    if (kk == 0)
        memset(tmp, 0, (size_t)(q.o * len) * sizeof *tmp);
    for (int64_t s = 0; s < q.n; s++)
        for (int64_t o = 0; o < q.o; o++) {
            float *dst = y->data + (s * q.o + o) * ohw;
            const float *src = tmp + o * len + s * ohw;
            float bv = b ? b->data[o] : 0.0f;
            for (int64_t i = 0; i < ohw; i++)
                dst[i] = src[i] + bv;
        }
    if (ng) {
        a->col = col;
        ct_node *n = ct_record(g, conv_backward, y, 3, x, w, b);
        if (n)
            n->aux = a;
    }
    return g->status ? NULL : y;
}

ct_tensor *ct_conv1d(ct_graph *g, ct_tensor *x, ct_tensor *w, ct_tensor *b,
                     const ct_conv_args *ca)
{
    if (!ct_graph_ok(g, 3, x, w, ca))
        return NULL;
    if (x->ndim != 3 || w->ndim != 3)
        return ct_graph_fail(g, CT_EINVAL, "conv1d: input and weight must have 3 dims");
    ct_conv_args a2 = *ca;
    a2.stride[0] = 1;
    a2.padding[0] = 0;
    a2.dilation[0] = 1;
    int64_t xs[4] = {x->shape[0], x->shape[1], 1, x->shape[2]};
    int64_t ws[4] = {w->shape[0], w->shape[1], 1, w->shape[2]};
    ct_tensor *y = ct_conv2d(g, ct_reshape(g, x, 4, xs), ct_reshape(g, w, 4, ws), b, &a2);
    if (!y)
        return NULL;
    int64_t ys[3] = {y->shape[0], y->shape[1], y->shape[3]};
    return ct_reshape(g, y, 3, ys);
}

/* ---- pooling ---- */

typedef struct pool_geom {
    int64_t planes, h, w, oh, ow, kh, kw, sh, sw, ph, pw;
} pool_geom;

static int pool_setup(ct_graph *g, ct_tensor *x, const int k[2], const int s[2], const int p[2],
                      const char *op, pool_geom *q)
{
    if (x->ndim != 4) {
        char b[128];
        ct_graph_fail(g, CT_EINVAL, "%s: input must be [N, C, H, W], got %s", op,
                      ct_shape_str(x, b, sizeof b));
        return -1;
    }
    q->planes = x->shape[0] * x->shape[1];
    q->h = x->shape[2];
    q->w = x->shape[3];
    q->kh = k[0];
    q->kw = k[1];
    q->sh = s && s[0] ? s[0] : k[0];
    q->sw = s && s[1] ? s[1] : k[1];
    q->ph = p ? p[0] : 0;
    q->pw = p ? p[1] : 0;
    if (q->kh < 1 || q->kw < 1 || q->sh < 1 || q->sw < 1 || q->ph < 0 || q->pw < 0 ||
        2 * q->ph > q->kh || 2 * q->pw > q->kw) {
        ct_graph_fail(g, CT_EINVAL, "%s: kernel and stride must be >= 1, padding at most half "
                      "the kernel", op);
        return -1;
    }
    q->oh = (q->h + 2 * q->ph - q->kh) / q->sh + 1;
    q->ow = (q->w + 2 * q->pw - q->kw) / q->sw + 1;
    if (q->h + 2 * q->ph < q->kh || q->w + 2 * q->pw < q->kw) {
        ct_graph_fail(g, CT_EINVAL, "%s: kernel %lldx%lld larger than the input %lldx%lld", op,
                      (long long)q->kh, (long long)q->kw, (long long)q->h, (long long)q->w);
        return -1;
    }
    return 0;
}

static void maxpool_backward(ct_graph *g, ct_node *n)
{
    (void)g;
    const pool_geom *q = n->aux;
    const int32_t *arg = (const int32_t *)(q + 1);
    const float *go = n->out->grad;
    float *gx = n->in[0]->grad;
    int64_t ohw = q->oh * q->ow, hw = q->h * q->w;
    for (int64_t pl = 0; pl < q->planes; pl++)
        for (int64_t i = 0; i < ohw; i++)
            if (arg[pl * ohw + i] >= 0)
                gx[pl * hw + arg[pl * ohw + i]] += go[pl * ohw + i];
}

ct_tensor *ct_maxpool2d(ct_graph *g, ct_tensor *x, const int kernel[2], const int stride[2],
                        const int padding[2])
{
    if (!ct_graph_ok(g, 1, x))
        return NULL;
    pool_geom q;
    if (!kernel || pool_setup(g, x, kernel, stride, padding, "maxpool2d", &q))
        return kernel ? NULL : ct_graph_fail(g, CT_EINVAL, "maxpool2d: no kernel size");
    x = ct_contiguous(g, x);
    if (!x)
        return NULL;
    int ng = ct_needs_grad(g, 1, x);
    int64_t sh[4] = {x->shape[0], x->shape[1], q.oh, q.ow};
    ct_tensor *y = ct_op_output(g, 4, sh, ng);
    int64_t ohw = q.oh * q.ow, hw = q.h * q.w;
    pool_geom *aux = ct_arena_alloc(g, sizeof q + (size_t)(q.planes * ohw) * sizeof(int32_t));
    if (!y || !aux)
        return NULL;
    *aux = q;
    int32_t *arg = (int32_t *)(aux + 1);
    for (int64_t pl = 0; pl < q.planes; pl++) {
        const float *xp = x->data + pl * hw;
        if (q.ph == 0 && q.pw == 0) { /* every window inside the plane */
            int nan = 0;
            for (int64_t oy = 0; oy < q.oh; oy++)
                for (int64_t ox = 0; ox < q.ow; ox++) {
                    int64_t base = oy * q.sh * q.w + ox * q.sw;
                    float best = xp[base];
                    int32_t bi = (int32_t)base;
                    for (int64_t i = 0; i < q.kh; i++)
                        for (int64_t j = 0; j < q.kw; j++) {
                            int32_t at = (int32_t)(base + i * q.w + j);
                            float v = xp[at];
                            int gt = v > best; /* branch-free select */
                            best = gt ? v : best;
                            bi = gt ? at : bi;
                            nan |= v != v;
                        }
                    y->data[pl * ohw + oy * q.ow + ox] = best;
                    arg[pl * ohw + oy * q.ow + ox] = bi;
                }
            if (!nan)
                continue; /* else the general loop below redoes the plane, NaN-aware */
        }
        for (int64_t oy = 0; oy < q.oh; oy++)
            for (int64_t ox = 0; ox < q.ow; ox++) {
                float best = -INFINITY;
                int32_t bi = -1;
                for (int64_t i = 0; i < q.kh; i++) {
                    int64_t iy = oy * q.sh - q.ph + i;
                    if (iy < 0 || iy >= q.h)
                        continue;
                    for (int64_t j = 0; j < q.kw; j++) {
                        int64_t ix = ox * q.sw - q.pw + j;
                        if (ix < 0 || ix >= q.w)
                            continue;
                        float v = xp[iy * q.w + ix];
                        if (bi < 0 || v > best || (isnan(v) && !isnan(best))) {
                            best = v;
                            bi = (int32_t)(iy * q.w + ix);
                        }
                    }
                }
                y->data[pl * ohw + oy * q.ow + ox] = best;
                arg[pl * ohw + oy * q.ow + ox] = bi;
            }
    }
    if (ng) {
        ct_node *n = ct_record(g, maxpool_backward, y, 1, x);
        if (n)
            n->aux = aux;
    }
    return g->status ? NULL : y;
}

/* Average pooling over explicit bin edges; adaptive and fixed share it. */
typedef struct avg_aux {
    pool_geom q;
    int adaptive;
} avg_aux;

static void avg_bin(const avg_aux *a, int64_t oy, int64_t ox, int64_t *y0, int64_t *y1,
                    int64_t *x0, int64_t *x1, double *div)
{
    const pool_geom *q = &a->q;
    if (a->adaptive) {
        *y0 = oy * q->h / q->oh;
        *y1 = ((oy + 1) * q->h + q->oh - 1) / q->oh;
        *x0 = ox * q->w / q->ow;
        *x1 = ((ox + 1) * q->w + q->ow - 1) / q->ow;
        *div = (double)((*y1 - *y0) * (*x1 - *x0));
        return;
    }
    int64_t ys = oy * q->sh - q->ph, xs = ox * q->sw - q->pw;
    *div = (double)(q->kh * q->kw); /* count_include_pad */
    *y0 = ys < 0 ? 0 : ys;
    *y1 = ys + q->kh > q->h ? q->h : ys + q->kh;
    *x0 = xs < 0 ? 0 : xs;
    *x1 = xs + q->kw > q->w ? q->w : xs + q->kw;
}

static void avgpool_backward(ct_graph *g, ct_node *n)
{
    (void)g;
    const avg_aux *a = n->aux;
    const pool_geom *q = &a->q;
    const float *go = n->out->grad;
    float *gx = n->in[0]->grad;
    for (int64_t pl = 0; pl < q->planes; pl++)
        for (int64_t oy = 0; oy < q->oh; oy++)
            for (int64_t ox = 0; ox < q->ow; ox++) {
                int64_t y0, y1, x0, x1;
                double div;
                avg_bin(a, oy, ox, &y0, &y1, &x0, &x1, &div);
                float gv = (float)(go[(pl * q->oh + oy) * q->ow + ox] / div);
                for (int64_t iy = y0; iy < y1; iy++)
                    for (int64_t ix = x0; ix < x1; ix++)
                        gx[(pl * q->h + iy) * q->w + ix] += gv;
            }
}

static ct_tensor *avgpool(ct_graph *g, ct_tensor *x, avg_aux *a)
{
    x = ct_contiguous(g, x);
    if (!x)
        return NULL;
    const pool_geom *q = &a->q;
    int ng = ct_needs_grad(g, 1, x);
    int64_t sh[4] = {x->shape[0], x->shape[1], q->oh, q->ow};
    ct_tensor *y = ct_op_output(g, 4, sh, ng);
    if (!y)
        return NULL;
    for (int64_t pl = 0; pl < q->planes; pl++)
        for (int64_t oy = 0; oy < q->oh; oy++)
            for (int64_t ox = 0; ox < q->ow; ox++) {
                int64_t y0, y1, x0, x1;
                double div, s = 0;
                avg_bin(a, oy, ox, &y0, &y1, &x0, &x1, &div);
                for (int64_t iy = y0; iy < y1; iy++)
                    for (int64_t ix = x0; ix < x1; ix++)
                        s += x->data[(pl * q->h + iy) * q->w + ix];
                y->data[(pl * q->oh + oy) * q->ow + ox] = (float)(s / div);
            }
    if (ng) {
        ct_node *n = ct_record(g, avgpool_backward, y, 1, x);
        if (n)
            n->aux = a;
    }
    return g->status ? NULL : y;
}

ct_tensor *ct_avgpool2d(ct_graph *g, ct_tensor *x, const int kernel[2], const int stride[2],
                        const int padding[2])
{
    if (!ct_graph_ok(g, 1, x))
        return NULL;
    if (!kernel)
        return ct_graph_fail(g, CT_EINVAL, "avgpool2d: no kernel size");
    avg_aux *a = ct_arena_alloc(g, sizeof *a);
    if (!a || pool_setup(g, x, kernel, stride, padding, "avgpool2d", &a->q))
        return NULL;
    a->adaptive = 0;
    return avgpool(g, x, a);
}

ct_tensor *ct_adaptive_avgpool2d(ct_graph *g, ct_tensor *x, int oh, int ow)
{
    if (!ct_graph_ok(g, 1, x))
        return NULL;
    if (x->ndim != 4 || oh < 1 || ow < 1)
        return ct_graph_fail(g, CT_EINVAL, "adaptive_avgpool2d: input must be [N, C, H, W] and "
                             "the output size >= 1");
    avg_aux *a = ct_arena_alloc(g, sizeof *a);
    if (!a)
        return NULL;
    memset(a, 0, sizeof *a);
    a->adaptive = 1;
    a->q.planes = x->shape[0] * x->shape[1];
    a->q.h = x->shape[2];
    a->q.w = x->shape[3];
    a->q.oh = oh;
    a->q.ow = ow;
    return avgpool(g, x, a);
}
