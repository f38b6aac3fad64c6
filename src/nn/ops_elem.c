/* Element-wise operations: broadcasting binary arithmetic (torch.add, sub,
 * mul, div, where), unary functions and their derivatives, and dropout.
 * Broadcasting as numpy: shapes are aligned at the last dimension and a
 * size-1 dimension stretches; a stretched input is read and its gradient
 * accumulated with stride 0, which sums the gradient over the broadcast
 * dimensions as torch's sum_to does. */
#include <math.h>
#include <string.h>

#include "graph_impl.h"

#define SQRT1_2 0.70710678118654752440
#define INV_SQRT_2PI 0.39894228040143267794

/* ---- broadcasting iteration over up to three inputs ---- */
typedef struct bcast {
    int nd, out_nd; /* nd >= 1 for iteration; out_nd is the true rank */
    int64_t shape[CT_MAX_DIMS];
    int64_t st[3][CT_MAX_DIMS]; /* strides of each input in the output's frame */
    int64_t numel;
} bcast;

static int bcast_init(ct_graph *g, bcast *bc, int n, ct_tensor *const *in, const char *op)
{
    int nd = 0;
    for (int k = 0; k < n; k++)
        nd = in[k]->ndim > nd ? in[k]->ndim : nd;
    bc->nd = nd;
    for (int d = 0; d < nd; d++) {
        int64_t s = 1;
        for (int k = 0; k < n; k++) {
            int kd = d - (nd - in[k]->ndim);
            int64_t sk = kd < 0 ? 1 : in[k]->shape[kd];
            if (sk != 1) {
                if (s != 1 && s != sk) {
                    char a[128], b[128];
                    ct_graph_fail(g, CT_EINVAL, "%s: shapes %s and %s do not broadcast", op,
                                  ct_shape_str(in[0], a, sizeof a),
                                  ct_shape_str(in[k], b, sizeof b));
                    return -1;
                }
                s = sk;
            }
        }
        bc->shape[d] = s;
    }
    for (int k = 0; k < 3; k++)
        for (int d = 0; d < nd; d++) {
            int kd = k < n ? d - (nd - in[k]->ndim) : -1;
            bc->st[k][d] = kd < 0 || in[k]->shape[kd] == 1 ? 0 : in[k]->stride[kd];
        }
    bc->numel = ct_shape_numel(nd, bc->shape);
    bc->out_nd = nd;
    if (nd == 0) { /* a scalar as one element of one dimension */
        bc->nd = 1;
        bc->shape[0] = 1;
        bc->st[0][0] = bc->st[1][0] = bc->st[2][0] = 0;
    }
    return 0;
}

/* Runs BODY for every output element po with input offsets p0, p1, p2. */
#define BCAST_FOR(bc, BODY)                                                              \
    do {                                                                                 \
        const int nd_ = (bc)->nd;                                                        \
        const int64_t inner_ = (bc)->shape[nd_ - 1];                                     \
        const int64_t s0_ = (bc)->st[0][nd_ - 1], s1_ = (bc)->st[1][nd_ - 1],            \
                      s2_ = (bc)->st[2][nd_ - 1];                                        \
        int64_t idx_[CT_MAX_DIMS] = {0}, o0_ = 0, o1_ = 0, o2_ = 0, oo_ = 0;             \
        const int64_t outer_ = inner_ ? (bc)->numel / inner_ : 0;                        \
        for (int64_t r_ = 0; r_ < outer_; r_++) {                                        \
            for (int64_t j_ = 0; j_ < inner_; j_++) {                                    \
                const int64_t p0 = o0_ + j_ * s0_, p1 = o1_ + j_ * s1_,                  \
                              p2 = o2_ + j_ * s2_, po = oo_ + j_;                        \
                (void)p0; (void)p1; (void)p2;                                            \
                BODY;                                                                    \
            }                                                                            \
            oo_ += inner_;                                                               \
            for (int k_ = nd_ - 2; k_ >= 0; k_--) {                                      \
                o0_ += (bc)->st[0][k_];                                                  \
                o1_ += (bc)->st[1][k_];                                                  \
                o2_ += (bc)->st[2][k_];                                                  \
                if (++idx_[k_] < (bc)->shape[k_])                                        \
                    break;                                                               \
                o0_ -= (bc)->st[0][k_] * (bc)->shape[k_];                                \
                o1_ -= (bc)->st[1][k_] * (bc)->shape[k_];                                \
                o2_ -= (bc)->st[2][k_] * (bc)->shape[k_];                                \
                idx_[k_] = 0;                                                            \
            }                                                                            \
        }                                                                                \
    } while (0)

enum { B_ADD, B_SUB, B_MUL, B_DIV };

static void binary_backward(ct_graph *g, ct_node *n)
{
    (void)g;
    const bcast *bc = n->aux;
    const ct_tensor *a = n->in[0], *b = n->in[1];
    const float *go = n->out->grad, *ad = a->data, *bd = b->data;
    float *ga = a->grad, *gb = b->grad;
    switch (n->i[0]) {
    case B_ADD:
        if (ga) BCAST_FOR(bc, ga[p0] += go[po]);
        if (gb) BCAST_FOR(bc, gb[p1] += go[po]);
        break;
    case B_SUB:
        if (ga) BCAST_FOR(bc, ga[p0] += go[po]);
        if (gb) BCAST_FOR(bc, gb[p1] -= go[po]);
        break;
    case B_MUL:
        if (ga) BCAST_FOR(bc, ga[p0] += go[po] * bd[p1]);
        if (gb) BCAST_FOR(bc, gb[p1] += go[po] * ad[p0]);
        break;
    default: /* div: d(a/b)/db = -a/b^2 */
        if (ga) BCAST_FOR(bc, ga[p0] += go[po] / bd[p1]);
        if (gb) BCAST_FOR(bc, gb[p1] += -go[po] * ad[p0] / (bd[p1] * bd[p1]));
        break;
    }
}

static ct_tensor *binary(ct_graph *g, ct_tensor *a, ct_tensor *b, int kind, const char *name)
{
    if (!ct_graph_ok(g, 2, a, b))
        return NULL;
    bcast *bc = ct_arena_alloc(g, sizeof *bc);
    ct_tensor *in[2] = {a, b};
    if (!bc || bcast_init(g, bc, 2, in, name))
        return NULL;
    int ng = ct_needs_grad(g, 2, a, b);
    ct_tensor *y = ct_op_output(g, bc->out_nd, bc->shape, ng);
    if (!y)
        return NULL;
    const float *ad = a->data, *bd = b->data;
    float *o = y->data;
    switch (kind) {
    case B_ADD: BCAST_FOR(bc, o[po] = ad[p0] + bd[p1]); break;
    case B_SUB: BCAST_FOR(bc, o[po] = ad[p0] - bd[p1]); break;
    case B_MUL: BCAST_FOR(bc, o[po] = ad[p0] * bd[p1]); break;
    default: BCAST_FOR(bc, o[po] = ad[p0] / bd[p1]); break;
    }
    if (ng) {
        ct_node *n = ct_record(g, binary_backward, y, 2, a, b);
        if (n) {
            n->aux = bc;
            n->i[0] = kind;
        }
    }
    return g->status ? NULL : y;
}

ct_tensor *ct_add(ct_graph *g, ct_tensor *a, ct_tensor *b) { return binary(g, a, b, B_ADD, "add"); }
ct_tensor *ct_sub(ct_graph *g, ct_tensor *a, ct_tensor *b) { return binary(g, a, b, B_SUB, "sub"); }
ct_tensor *ct_mul(ct_graph *g, ct_tensor *a, ct_tensor *b) { return binary(g, a, b, B_MUL, "mul"); }
ct_tensor *ct_div(ct_graph *g, ct_tensor *a, ct_tensor *b) { return binary(g, a, b, B_DIV, "div"); }

static void where_backward(ct_graph *g, ct_node *n)
{
    (void)g;
    const bcast *bc = n->aux;
    const float *c = n->in[0]->data, *go = n->out->grad;
    float *ga = n->in[1]->grad, *gb = n->in[2]->grad;
    if (ga) BCAST_FOR(bc, if (c[p0] != 0) ga[p1] += go[po]);
    if (gb) BCAST_FOR(bc, if (c[p0] == 0) gb[p2] += go[po]);
}

ct_tensor *ct_where(ct_graph *g, ct_tensor *cond, ct_tensor *a, ct_tensor *b)
{
    if (!ct_graph_ok(g, 3, cond, a, b))
        return NULL;
    bcast *bc = ct_arena_alloc(g, sizeof *bc);
    ct_tensor *in[3] = {cond, a, b};
    if (!bc || bcast_init(g, bc, 3, in, "where"))
        return NULL;
    int ng = ct_needs_grad(g, 2, a, b);
    ct_tensor *y = ct_op_output(g, bc->out_nd, bc->shape, ng);
    if (!y)
        return NULL;
    const float *c = cond->data, *ad = a->data, *bd = b->data;
    float *o = y->data;
    BCAST_FOR(bc, o[po] = c[p0] != 0 ? ad[p1] : bd[p2]);
    if (ng) {
        ct_node *n = ct_record(g, where_backward, y, 3, cond, a, b);
        if (n)
            n->aux = bc;
    }
    return g->status ? NULL : y;
}

/* ---- unary ---- */
enum { U_NEG, U_SCALE, U_EXP, U_LOG, U_SQRT, U_POW, U_RELU, U_LEAKY, U_SIGMOID, U_TANH, U_GELU,
       U_SILU };

static void unary_backward(ct_graph *g, ct_node *n)
{
    (void)g;
    const ct_tensor *x = n->in[0];
    /* distinct arena buffers: restrict lets the loops vectorise */
    const float *restrict xd = x->data, *restrict y = n->out->data, *restrict go = n->out->grad;
    float *restrict gx = x->grad;
    float p = n->f[0];
    int64_t len = x->numel;
    switch (n->i[0]) {
    case U_NEG: for (int64_t i = 0; i < len; i++) gx[i] -= go[i]; break;
    case U_SCALE: for (int64_t i = 0; i < len; i++) gx[i] += go[i] * p; break;
    case U_EXP: for (int64_t i = 0; i < len; i++) gx[i] += go[i] * y[i]; break;
    case U_LOG: for (int64_t i = 0; i < len; i++) gx[i] += go[i] / xd[i]; break;
    case U_SQRT: for (int64_t i = 0; i < len; i++) gx[i] += go[i] / (2.0f * y[i]); break;
    case U_POW:
        for (int64_t i = 0; i < len; i++)
            gx[i] += go[i] * p * powf(xd[i], p - 1.0f);
        break;
    case U_RELU: /* loads outside the condition, so the loop vectorises */
        for (int64_t i = 0; i < len; i++) {
            float gv = go[i];
            gx[i] += xd[i] > 0 ? gv : 0.0f;
        }
        break;
    case U_LEAKY:
        for (int64_t i = 0; i < len; i++) {
            float gv = go[i];
            gx[i] += xd[i] > 0 ? gv : gv * p;
        }
        break;
    case U_SIGMOID:
        for (int64_t i = 0; i < len; i++)
            gx[i] += go[i] * (1.0f - y[i]) * y[i];
        break;
    case U_TANH:
        for (int64_t i = 0; i < len; i++)
            gx[i] += go[i] * (1.0f - y[i] * y[i]);
        break;
    case U_GELU: /* d/dx x Phi(x) = Phi(x) + x phi(x) (torch GeluBackward, none) */
        for (int64_t i = 0; i < len; i++) {
            float v = xd[i];
            float cdf = 0.5f * (1.0f + erff(v * (float)SQRT1_2));
            float pdf = expf(-0.5f * v * v) * (float)INV_SQRT_2PI;
            gx[i] += go[i] * (cdf + v * pdf);
        }
        break;
    default: /* silu: s (1 + x (1 - s)) */
        for (int64_t i = 0; i < len; i++) {
            float s = 1.0f / (1.0f + expf(-xd[i]));
            gx[i] += go[i] * s * (1.0f + xd[i] * (1.0f - s));
        }
        break;
    }
}

static ct_tensor *unary(ct_graph *g, ct_tensor *x, int kind, float p)
{
    if (!ct_graph_ok(g, 1, x))
        return NULL;
    x = ct_contiguous(g, x);
    if (!x)
        return NULL;
    int ng = ct_needs_grad(g, 1, x);
    ct_tensor *yt = ct_op_output(g, x->ndim, x->shape, ng);
    if (!yt)
        return NULL;
    const float *restrict xd = x->data;
    float *restrict y = yt->data;
    int64_t len = x->numel;
    switch (kind) {
    case U_NEG: for (int64_t i = 0; i < len; i++) y[i] = -xd[i]; break;
    case U_SCALE: for (int64_t i = 0; i < len; i++) y[i] = xd[i] * p; break;
    case U_EXP: for (int64_t i = 0; i < len; i++) y[i] = expf(xd[i]); break;
    case U_LOG: for (int64_t i = 0; i < len; i++) y[i] = logf(xd[i]); break;
    case U_SQRT: for (int64_t i = 0; i < len; i++) y[i] = sqrtf(xd[i]); break;
    case U_POW: for (int64_t i = 0; i < len; i++) y[i] = powf(xd[i], p); break;
    case U_RELU: for (int64_t i = 0; i < len; i++) y[i] = xd[i] > 0 ? xd[i] : 0.0f; break;
    case U_LEAKY: for (int64_t i = 0; i < len; i++) y[i] = xd[i] > 0 ? xd[i] : xd[i] * p; break;
    case U_SIGMOID: for (int64_t i = 0; i < len; i++) y[i] = 1.0f / (1.0f + expf(-xd[i])); break;
    case U_TANH: for (int64_t i = 0; i < len; i++) y[i] = tanhf(xd[i]); break;
    case U_GELU:
        for (int64_t i = 0; i < len; i++)
            y[i] = 0.5f * xd[i] * (1.0f + erff(xd[i] * (float)SQRT1_2));
        break;
    default:
        for (int64_t i = 0; i < len; i++)
            y[i] = xd[i] / (1.0f + expf(-xd[i]));
        break;
    }
    if (ng) {
        ct_node *n = ct_record(g, unary_backward, yt, 1, x);
        if (n) {
            n->i[0] = kind;
            n->f[0] = p;
        }
    }
    return g->status ? NULL : yt;
}

ct_tensor *ct_neg(ct_graph *g, ct_tensor *x) { return unary(g, x, U_NEG, 0); }
ct_tensor *ct_scale(ct_graph *g, ct_tensor *x, float s) { return unary(g, x, U_SCALE, s); }
ct_tensor *ct_exp(ct_graph *g, ct_tensor *x) { return unary(g, x, U_EXP, 0); }
ct_tensor *ct_log(ct_graph *g, ct_tensor *x) { return unary(g, x, U_LOG, 0); }
ct_tensor *ct_sqrt(ct_graph *g, ct_tensor *x) { return unary(g, x, U_SQRT, 0); }
ct_tensor *ct_pow(ct_graph *g, ct_tensor *x, float p) { return unary(g, x, U_POW, p); }
ct_tensor *ct_relu(ct_graph *g, ct_tensor *x) { return unary(g, x, U_RELU, 0); }
ct_tensor *ct_leaky_relu(ct_graph *g, ct_tensor *x, float s) { return unary(g, x, U_LEAKY, s); }
ct_tensor *ct_sigmoid(ct_graph *g, ct_tensor *x) { return unary(g, x, U_SIGMOID, 0); }
ct_tensor *ct_tanh(ct_graph *g, ct_tensor *x) { return unary(g, x, U_TANH, 0); }
ct_tensor *ct_gelu(ct_graph *g, ct_tensor *x) { return unary(g, x, U_GELU, 0); }
ct_tensor *ct_silu(ct_graph *g, ct_tensor *x) { return unary(g, x, U_SILU, 0); }

/* ---- dropout ---- */

static void dropout_backward(ct_graph *g, ct_node *n)
{
    (void)g;
    const float *m = n->aux, *go = n->out->grad;
    float *gx = n->in[0]->grad;
    for (int64_t i = 0; i < n->in[0]->numel; i++)
        gx[i] += go[i] * m[i];
}

ct_tensor *ct_dropout(ct_graph *g, ct_tensor *x, float p)
{
    if (!ct_graph_ok(g, 1, x))
        return NULL;
    if (!(p >= 0 && p <= 1))
        return ct_graph_fail(g, CT_EINVAL, "dropout: p=%g must be in [0, 1]", (double)p);
    if (!g->training || p == 0)
        return x;
    x = ct_contiguous(g, x);
    if (!x)
        return NULL;
    int ng = ct_needs_grad(g, 1, x);
    ct_tensor *y = ct_op_output(g, x->ndim, x->shape, ng);
    float *m = ct_arena_alloc(g, (size_t)x->numel * sizeof *m + 1);
    if (!y || !m)
        return NULL;
    /* The mask of call c of step s: element i is kept when a uniform draw
     * from splitmix64(key(seed, s, c) + i) is >= p. */
    uint64_t key = ct_mix64(g->seed ^ ct_mix64(g->step * 0x9E3779B97F4A7C15ull +
                                               ct_mix64(++g->rand_calls)));
    float scale = p < 1 ? 1.0f / (1.0f - p) : 0.0f;
    for (int64_t i = 0; i < x->numel; i++) {
        double u = (double)(ct_mix64(key + (uint64_t)i) >> 11) * 0x1.0p-53;
        m[i] = u >= (double)p ? scale : 0.0f;
        y->data[i] = x->data[i] * m[i];
    }
    if (ng) {
        ct_node *n = ct_record(g, dropout_backward, y, 1, x);
        if (n)
            n->aux = m;
    }
    return g->status ? NULL : y;
}
