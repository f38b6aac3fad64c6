/* ct_model: a Sequential of layers over flat parameter, gradient and buffer
 * allocations (llm.c's layout), layers as Darknet's: a kind is an option
 * table, a shape function (infers the output shape and declares the
 * parameters) and a forward function built from differentiable ops. A new
 * layer is one entry in `kinds` and its two functions. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/opts.h"
#include "../io/safetensors.h"
#include "ctrain/nn.h"
#include "graph_impl.h"

#define MAX_LAYER_OPTS 24
#define MAX_LAYER_PARAMS 2
#define MAX_LAYER_BUFS 3
#define CT_MAX_RESIDUAL 16

typedef struct layer layer;
typedef struct layer_kind {
    const char *name;
    const char *torch;              /* torch.nn class name */
    const ct_opt_desc *opts;
    size_t nopts;
    /* Infers l->out from l->in, declares params and buffers; 0 or -1 with
     * a message in *e. */
    int (*shape)(layer *l, ct_err *e);
    ct_tensor *(*forward)(layer *l, ct_graph *g, ct_tensor *x);
} layer_kind;

typedef struct pdecl {
    const char *name;   /* "weight" */
    int ndim;
    int64_t shape[4];
    size_t off;         /* into the flat buffer */
    int64_t numel;
    int init;           /* enum init below */
    double bound;
} pdecl;

enum { INIT_UNIFORM, INIT_ONES, INIT_ZEROS, INIT_NORMAL };

struct layer {
    const layer_kind *kind;
    double v[MAX_LAYER_OPTS];
    int given[MAX_LAYER_OPTS];
    int index;
    int in_nd, out_nd; /* per-sample shapes */
    int64_t in[CT_MAX_DIMS], out[CT_MAX_DIMS];
    pdecl p[MAX_LAYER_PARAMS];
    int np;
    pdecl b[MAX_LAYER_BUFS]; /* running_mean, running_var (float), num_batches_tracked */
    int nb;
    ct_model *m;
    int64_t batches_tracked;
};

struct ct_model {
    layer *layers;
    size_t n, cap;
    int in_nd;
    int64_t in[CT_MAX_DIMS];
    float *params, *grads, *bufs;
    size_t nparams, nbufs;
    int built;
    char **names;     /* "0.weight" per parameter, in order */
    ct_tensor *ptens; /* parameter tensors */
    size_t nptens;
    ct_err err;
};

/* ---- option tables ---- */
#define BIG 1e9
static const ct_opt_desc linear_opts[] = {
    {"in_features", CT_OPT_INT, 1, 0, {0, 0}, 0, BIG, 0, NULL},
    {"out_features", CT_OPT_INT, 1, 1, {0, 0}, 1, BIG, 0, NULL},
    {"bias", CT_OPT_BOOL, 1, 2, {1, 0}, 0, 1, 0, NULL},
};
enum { LIN_IN, LIN_OUT, LIN_BIAS };

static const ct_opt_desc conv_opts[] = {
    {"in_channels", CT_OPT_INT, 1, 0, {0, 0}, 0, BIG, 0, NULL},
    {"out_channels", CT_OPT_INT, 1, 1, {0, 0}, 1, BIG, 0, NULL},
    {"kernel_size", CT_OPT_INT, 2, 2, {0, 0}, 1, BIG, CT_OPT_LIST, NULL},
    {"stride", CT_OPT_INT, 2, 4, {1, 1}, 1, BIG, CT_OPT_LIST, NULL},
    {"padding", CT_OPT_INT, 2, 6, {0, 0}, 0, BIG, CT_OPT_LIST, NULL},
    {"dilation", CT_OPT_INT, 2, 8, {1, 1}, 1, BIG, CT_OPT_LIST, NULL},
    {"groups", CT_OPT_INT, 1, 10, {1, 1}, 1, BIG, 0, NULL},
    {"bias", CT_OPT_BOOL, 1, 11, {1, 0}, 0, 1, 0, NULL},
};
enum { CV_IN = 0, CV_OUT = 1, CV_K = 2, CV_S = 4, CV_P = 6, CV_D = 8, CV_G = 10, CV_BIAS = 11 };

static const ct_opt_desc pool_opts[] = {
    {"kernel_size", CT_OPT_INT, 2, 0, {0, 0}, 1, BIG, CT_OPT_LIST, NULL},
    {"stride", CT_OPT_INT, 2, 2, {0, 0}, 0, BIG, CT_OPT_LIST, NULL},
    {"padding", CT_OPT_INT, 2, 4, {0, 0}, 0, BIG, CT_OPT_LIST, NULL},
};
static const ct_opt_desc adaptive_opts[] = {
    {"output_size", CT_OPT_INT, 2, 0, {0, 0}, 1, BIG, CT_OPT_LIST, NULL},
};
static const ct_opt_desc bn_opts[] = {
    {"num_features", CT_OPT_INT, 1, 0, {0, 0}, 0, BIG, 0, NULL},
    {"eps", CT_OPT_REAL, 1, 1, {1e-5, 0}, 0, 1, CT_OPT_LO_OPEN, NULL},
    {"momentum", CT_OPT_REAL, 1, 2, {0.1, 0}, 0, 1, 0, NULL},
    {"affine", CT_OPT_BOOL, 1, 3, {1, 0}, 0, 1, 0, NULL},
};
static const ct_opt_desc ln_opts[] = {
    {"normalized_shape", CT_OPT_INT, 1, 0, {0, 0}, 0, BIG, 0, NULL},
    {"eps", CT_OPT_REAL, 1, 1, {1e-5, 0}, 0, 1, CT_OPT_LO_OPEN, NULL},
    {"elementwise_affine", CT_OPT_BOOL, 1, 2, {1, 0}, 0, 1, 0, NULL},
};
static const ct_opt_desc gn_opts[] = {
    {"num_groups", CT_OPT_INT, 1, 0, {0, 0}, 1, BIG, 0, NULL},
    {"num_channels", CT_OPT_INT, 1, 1, {0, 0}, 0, BIG, 0, NULL},
    {"eps", CT_OPT_REAL, 1, 2, {1e-5, 0}, 0, 1, CT_OPT_LO_OPEN, NULL},
    {"affine", CT_OPT_BOOL, 1, 3, {1, 0}, 0, 1, 0, NULL},
};
static const ct_opt_desc dropout_opts[] = {
    {"p", CT_OPT_REAL, 1, 0, {0.5, 0}, 0, 1, 0, NULL},
};
static const ct_opt_desc flatten_opts[] = {
    {"start_dim", CT_OPT_INT, 1, 0, {1, 0}, 1, CT_MAX_DIMS, 0, NULL},
};
static const ct_opt_desc leaky_opts[] = {
    {"negative_slope", CT_OPT_REAL, 1, 0, {0.01, 0}, -BIG, BIG, 0, NULL},
};
static const ct_opt_desc embedding_opts[] = {
    {"num_embeddings", CT_OPT_INT, 1, 0, {0, 0}, 1, BIG, 0, NULL},
    {"embedding_dim", CT_OPT_INT, 1, 1, {0, 0}, 1, BIG, 0, NULL},
};
static const ct_opt_desc residual_opts[] = {
    {"layers", CT_OPT_INT, 1, 0, {1, 0}, 1, 1000, 0, NULL},
};
static const ct_opt_desc dim_opts[] = {
    {"dim", CT_OPT_INT, 1, 0, {1, 0}, -CT_MAX_DIMS, CT_MAX_DIMS, 0, NULL},
};

/* ---- helpers ---- */
static void declare(layer *l, const char *name, int ndim, const int64_t *shape, int init,
                    double bound)
{
    pdecl *p = &l->p[l->np++];
    p->name = name;
    p->ndim = ndim;
    memcpy(p->shape, shape, (size_t)ndim * sizeof *shape);
    p->numel = ct_shape_numel(ndim, shape);
    p->init = init;
    p->bound = bound;
}

static void declare_buf(layer *l, const char *name, int64_t len, int init)
{
    pdecl *p = &l->b[l->nb++];
    p->name = name;
    p->ndim = len < 0 ? 0 : 1;
    p->shape[0] = len;
    p->numel = len < 0 ? 0 : len;
    p->init = init;
}

static ct_tensor *param_tensor(layer *l, ct_graph *g, int i)
{
    ct_tensor *t = ct_arena_alloc(g, sizeof *t);
    if (!t)
        return NULL;
    ct_model *m = l->m;
    *t = ct_tensor_wrap(m->params + l->p[i].off, m->grads + l->p[i].off, l->p[i].ndim,
                        l->p[i].shape);
    return t;
}

static void shape_str(int nd, const int64_t *s, char *buf, size_t cap)
{
    ct_tensor t;
    t.ndim = nd;
    memcpy(t.shape, s, (size_t)nd * sizeof *s);
    ct_shape_str(&t, buf, cap);
}

static int expect_dims(layer *l, int nd, const char *what, ct_err *e)
{
    if (l->in_nd == nd)
        return 0;
    char b[128];
    shape_str(l->in_nd, l->in, b, sizeof b);
    ct_fail(e, CT_EMISMATCH, "%s needs %s inputs, got per-sample shape %s", l->kind->name, what, b);
    return -1;
}

/* An optional "in" option: inferred when 0, else must match. */
static int infer_in(layer *l, int slot, int64_t have, const char *opt, ct_err *e)
{
    if (l->v[slot] == 0) {
        l->v[slot] = (double)have;
        return 0;
    }
    if ((int64_t)l->v[slot] != have) {
        ct_fail(e, CT_EMISMATCH, "%s: %s=%lld but the input has %lld", l->kind->name, opt,
                (long long)l->v[slot], (long long)have);
        return -1;
    }
    return 0;
}

static void copy_shape(layer *l)
{
    l->out_nd = l->in_nd;
    memcpy(l->out, l->in, sizeof l->out);
}

/* ---- linear ---- */
static int linear_shape(layer *l, ct_err *e)
{
    if (l->in_nd < 1)
        return expect_dims(l, 1, "[..., features]", e);
    if (infer_in(l, LIN_IN, l->in[l->in_nd - 1], "in_features", e))
        return -1;
    copy_shape(l);
    int64_t in = (int64_t)l->v[LIN_IN], out = (int64_t)l->v[LIN_OUT];
    l->out[l->out_nd - 1] = out;
    double bound = 1.0 / sqrt((double)in);
    declare(l, "weight", 2, (int64_t[]){out, in}, INIT_UNIFORM, bound);
    if (l->v[LIN_BIAS] != 0)
        declare(l, "bias", 1, &out, INIT_UNIFORM, bound);
    return 0;
}

static ct_tensor *linear_forward(layer *l, ct_graph *g, ct_tensor *x)
{
    return ct_linear(g, x, param_tensor(l, g, 0), l->np > 1 ? param_tensor(l, g, 1) : NULL);
}

/* ---- convolutions ---- */
static int conv_shape_nd(layer *l, int sp, ct_err *e)
{
    if (expect_dims(l, 1 + sp, sp == 2 ? "[C, H, W]" : "[C, L]", e))
        return -1;
    if (infer_in(l, CV_IN, l->in[0], "in_channels", e))
        return -1;
    int64_t c = (int64_t)l->v[CV_IN], o = (int64_t)l->v[CV_OUT], gr = (int64_t)l->v[CV_G];
    if (c % gr || o % gr) {
        ct_fail(e, CT_EINVAL, "%s: in_channels=%lld and out_channels=%lld must be divisible by "
                "groups=%lld", l->kind->name, (long long)c, (long long)o, (long long)gr);
        return -1;
    }
    if (l->v[CV_K] == 0) {
        ct_fail(e, CT_EINVAL, "%s: kernel_size is required", l->kind->name);
        return -1;
    }
    l->out_nd = 1 + sp;
    l->out[0] = o;
    int64_t fan_in = c / gr, ks[2];
    for (int d = 0; d < sp; d++) {
        int s = sp == 2 ? d : 0; /* conv1d uses the first value of each pair */
        int64_t k = (int64_t)l->v[CV_K + s], st = (int64_t)l->v[CV_S + s],
                p = (int64_t)l->v[CV_P + s], dl = (int64_t)l->v[CV_D + s];
        int64_t eff = l->in[1 + d] + 2 * p - dl * (k - 1) - 1;
        if (eff < 0) {
            char b[128];
            shape_str(l->in_nd, l->in, b, sizeof b);
            ct_fail(e, CT_EMISMATCH, "%s: kernel %lld (dilation %lld) is larger than the "
                    "padded input %s", l->kind->name, (long long)k, (long long)dl, b);
            return -1;
        }
        l->out[1 + d] = eff / st + 1;
        ks[d] = k;
        fan_in *= k;
    }
    double bound = 1.0 / sqrt((double)fan_in);
    int64_t ws[4] = {o, c / gr, ks[0], sp == 2 ? ks[1] : 0};
    declare(l, "weight", 2 + sp, ws, INIT_UNIFORM, bound);
    if (l->v[CV_BIAS] != 0)
        declare(l, "bias", 1, &o, INIT_UNIFORM, bound);
    return 0;
}

static int conv1d_shape(layer *l, ct_err *e) { return conv_shape_nd(l, 1, e); }
static int conv2d_shape(layer *l, ct_err *e) { return conv_shape_nd(l, 2, e); }

static ct_conv_args conv_args(const layer *l, int sp)
{
    ct_conv_args a;
    for (int d = 0; d < 2; d++) {
        int s = sp == 2 ? d : 0;
        a.stride[d] = (int)l->v[CV_S + s];
        a.padding[d] = (int)l->v[CV_P + s];
        a.dilation[d] = (int)l->v[CV_D + s];
    }
    a.groups = (int)l->v[CV_G];
    return a;
}

static ct_tensor *conv2d_forward(layer *l, ct_graph *g, ct_tensor *x)
{
    ct_conv_args a = conv_args(l, 2);
    return ct_conv2d(g, x, param_tensor(l, g, 0), l->np > 1 ? param_tensor(l, g, 1) : NULL, &a);
}

static ct_tensor *conv1d_forward(layer *l, ct_graph *g, ct_tensor *x)
{
    ct_conv_args a = conv_args(l, 1);
    return ct_conv1d(g, x, param_tensor(l, g, 0), l->np > 1 ? param_tensor(l, g, 1) : NULL, &a);
}

/* ---- pooling ---- */
static int pool_shape(layer *l, ct_err *e)
{
    if (expect_dims(l, 3, "[C, H, W]", e))
        return -1;
    if (l->v[0] == 0) {
        ct_fail(e, CT_EINVAL, "%s: kernel_size is required", l->kind->name);
        return -1;
    }
    copy_shape(l);
    for (int d = 0; d < 2; d++) {
        int64_t k = (int64_t)l->v[d], s = l->v[2 + d] ? (int64_t)l->v[2 + d] : k,
                p = (int64_t)l->v[4 + d];
        if (2 * p > k || l->in[1 + d] + 2 * p < k) {
            char b[128];
            shape_str(l->in_nd, l->in, b, sizeof b);
            ct_fail(e, CT_EMISMATCH, "%s: kernel %lld with padding %lld does not fit input %s",
                    l->kind->name, (long long)k, (long long)p, b);
            return -1;
        }
        l->out[1 + d] = (l->in[1 + d] + 2 * p - k) / s + 1;
    }
    return 0;
}

static void pool_args(const layer *l, int k[2], int s[2], int p[2])
{
    for (int d = 0; d < 2; d++) {
        k[d] = (int)l->v[d];
        s[d] = l->v[2 + d] ? (int)l->v[2 + d] : k[d];
        p[d] = (int)l->v[4 + d];
    }
}

static ct_tensor *maxpool_forward(layer *l, ct_graph *g, ct_tensor *x)
{
    int k[2], s[2], p[2];
    pool_args(l, k, s, p);
    return ct_maxpool2d(g, x, k, s, p);
}

static ct_tensor *avgpool_forward(layer *l, ct_graph *g, ct_tensor *x)
{
    int k[2], s[2], p[2];
    pool_args(l, k, s, p);
    return ct_avgpool2d(g, x, k, s, p);
}

static int adaptive_shape(layer *l, ct_err *e)
{
    if (expect_dims(l, 3, "[C, H, W]", e))
        return -1;
    if (l->v[0] == 0) {
        ct_fail(e, CT_EINVAL, "adaptive_avgpool2d: output_size is required");
        return -1;
    }
    copy_shape(l);
    l->out[1] = (int64_t)l->v[0];
    l->out[2] = (int64_t)l->v[1];
    return 0;
}

static ct_tensor *adaptive_forward(layer *l, ct_graph *g, ct_tensor *x)
{
    return ct_adaptive_avgpool2d(g, x, (int)l->v[0], (int)l->v[1]);
}

/* ---- norms ---- */
static int bn_shape_nd(layer *l, int want, ct_err *e)
{
    if (l->in_nd != want - 1 && !(want == 2 && l->in_nd == 2))
        return expect_dims(l, want - 1, want == 2 ? "[C] or [C, L]" : "[C, H, W]", e);
    if (infer_in(l, 0, l->in[0], "num_features", e))
        return -1;
    copy_shape(l);
    int64_t c = (int64_t)l->v[0];
    if (l->v[3] != 0) {
        declare(l, "weight", 1, &c, INIT_ONES, 0);
        declare(l, "bias", 1, &c, INIT_ZEROS, 0);
    }
    declare_buf(l, "running_mean", c, INIT_ZEROS);
    declare_buf(l, "running_var", c, INIT_ONES);
    declare_buf(l, "num_batches_tracked", -1, INIT_ZEROS);
    return 0;
}

static int bn1d_shape(layer *l, ct_err *e) { return bn_shape_nd(l, 2, e); }
static int bn2d_shape(layer *l, ct_err *e) { return bn_shape_nd(l, 4, e); }

static ct_tensor *bn_forward(layer *l, ct_graph *g, ct_tensor *x)
{
    ct_model *m = l->m;
    if (g->training) /* torch counts every training-mode forward */
        l->batches_tracked++;
    return ct_batch_norm(g, x, l->np ? param_tensor(l, g, 0) : NULL,
                         l->np ? param_tensor(l, g, 1) : NULL, m->bufs + l->b[0].off,
                         m->bufs + l->b[1].off, (float)l->v[2], (float)l->v[1]);
}

static int ln_shape(layer *l, ct_err *e)
{
    if (l->in_nd < 1)
        return expect_dims(l, 1, "[..., D]", e);
    if (infer_in(l, 0, l->in[l->in_nd - 1], "normalized_shape", e))
        return -1;
    copy_shape(l);
    int64_t d = (int64_t)l->v[0];
    if (l->v[2] != 0) {
        declare(l, "weight", 1, &d, INIT_ONES, 0);
        declare(l, "bias", 1, &d, INIT_ZEROS, 0);
    }
    return 0;
}

static ct_tensor *ln_forward(layer *l, ct_graph *g, ct_tensor *x)
{
    return ct_layer_norm(g, x, l->np ? param_tensor(l, g, 0) : NULL,
                         l->np ? param_tensor(l, g, 1) : NULL, (float)l->v[1]);
}

static int gn_shape(layer *l, ct_err *e)
{
    if (l->in_nd < 1)
        return expect_dims(l, 2, "[C, ...]", e);
    if (infer_in(l, 1, l->in[0], "num_channels", e))
        return -1;
    int64_t c = (int64_t)l->v[1];
    if (c % (int64_t)l->v[0]) {
        ct_fail(e, CT_EINVAL, "groupnorm: num_channels=%lld is not divisible by num_groups=%g",
                (long long)c, l->v[0]);
        return -1;
    }
    copy_shape(l);
    if (l->v[3] != 0) {
        declare(l, "weight", 1, &c, INIT_ONES, 0);
        declare(l, "bias", 1, &c, INIT_ZEROS, 0);
    }
    return 0;
}

static ct_tensor *gn_forward(layer *l, ct_graph *g, ct_tensor *x)
{
    return ct_group_norm(g, x, (int)l->v[0], l->np ? param_tensor(l, g, 0) : NULL,
                         l->np ? param_tensor(l, g, 1) : NULL, (float)l->v[2]);
}

/* ---- embedding: the input holds class indices as floats ---- */
static int embedding_shape(layer *l, ct_err *e)
{
    (void)e;
    l->out_nd = l->in_nd + 1;
    memcpy(l->out, l->in, sizeof l->out);
    l->out[l->in_nd] = (int64_t)l->v[1];
    int64_t ws[2] = {(int64_t)l->v[0], (int64_t)l->v[1]};
    declare(l, "weight", 2, ws, INIT_NORMAL, 0); /* torch: N(0, 1) */
    return 0;
}

static ct_tensor *embedding_forward(layer *l, ct_graph *g, ct_tensor *x)
{
    x = ct_contiguous(g, x);
    int64_t *idx = x ? ct_arena_alloc(g, (size_t)x->numel * sizeof *idx + 1) : NULL;
    if (!idx)
        return NULL;
    for (int64_t i = 0; i < x->numel; i++) {
        float v = x->data[i];
        if (!(v >= 0 && v < (float)l->v[0]) || v != floorf(v))
            return ct_graph_fail(g, CT_EINVAL, "embedding (layer %d): input %g at %lld is not "
                                 "an index in [0, %g)", l->index, (double)v, (long long)i,
                                 l->v[0]);
        idx[i] = (int64_t)v;
    }
    ct_tensor *y = ct_embedding(g, param_tensor(l, g, 0), idx, x->numel);
    int64_t sh[CT_MAX_DIMS];
    memcpy(sh, x->shape, (size_t)x->ndim * sizeof *sh);
    sh[x->ndim] = (int64_t)l->v[1];
    return ct_reshape(g, y, x->ndim + 1, sh);
}

/* ---- shape-preserving and reshaping layers ---- */
static int same_shape(layer *l, ct_err *e)
{
    (void)e;
    copy_shape(l);
    return 0;
}

static int flatten_shape(layer *l, ct_err *e)
{
    int s = (int)l->v[0] - 1; /* start_dim counts the batch dimension */
    if (s >= l->in_nd) {
        ct_fail(e, CT_EMISMATCH, "flatten: start_dim=%g but the input has %d dims", l->v[0],
                l->in_nd + 1);
        return -1;
    }
    l->out_nd = s + 1;
    memcpy(l->out, l->in, sizeof l->out);
    l->out[s] = ct_shape_numel(l->in_nd - s, l->in + s);
    return 0;
}

static ct_tensor *flatten_forward(layer *l, ct_graph *g, ct_tensor *x)
{
    return ct_flatten(g, x, (int)l->v[0]);
}

static ct_tensor *dropout_forward(layer *l, ct_graph *g, ct_tensor *x)
{
    return ct_dropout(g, x, (float)l->v[0]);
}
static ct_tensor *identity_forward(layer *l, ct_graph *g, ct_tensor *x)
{
    (void)l;
    (void)g;
    return x;
}
static ct_tensor *relu_forward(layer *l, ct_graph *g, ct_tensor *x) { (void)l; return ct_relu(g, x); }
static ct_tensor *gelu_forward(layer *l, ct_graph *g, ct_tensor *x) { (void)l; return ct_gelu(g, x); }
static ct_tensor *silu_forward(layer *l, ct_graph *g, ct_tensor *x) { (void)l; return ct_silu(g, x); }
static ct_tensor *sigmoid_forward(layer *l, ct_graph *g, ct_tensor *x) { (void)l; return ct_sigmoid(g, x); }
static ct_tensor *tanh_forward(layer *l, ct_graph *g, ct_tensor *x) { (void)l; return ct_tanh(g, x); }
static ct_tensor *leaky_forward(layer *l, ct_graph *g, ct_tensor *x)
{
    return ct_leaky_relu(g, x, (float)l->v[0]);
}
static ct_tensor *softmax_forward(layer *l, ct_graph *g, ct_tensor *x)
{
    return ct_softmax(g, x, (int)l->v[0]);
}
static ct_tensor *log_softmax_forward(layer *l, ct_graph *g, ct_tensor *x)
{
    return ct_log_softmax(g, x, (int)l->v[0]);
}

#define N_(t) t, sizeof t / sizeof *t
static const layer_kind kinds[] = {
    {"linear", "Linear", N_(linear_opts), linear_shape, linear_forward},
    {"conv1d", "Conv1d", N_(conv_opts), conv1d_shape, conv1d_forward},
    {"conv2d", "Conv2d", N_(conv_opts), conv2d_shape, conv2d_forward},
    {"maxpool2d", "MaxPool2d", N_(pool_opts), pool_shape, maxpool_forward},
    {"avgpool2d", "AvgPool2d", N_(pool_opts), pool_shape, avgpool_forward},
    {"adaptive_avgpool2d", "AdaptiveAvgPool2d", N_(adaptive_opts), adaptive_shape,
     adaptive_forward},
    {"batchnorm1d", "BatchNorm1d", N_(bn_opts), bn1d_shape, bn_forward},
    {"batchnorm2d", "BatchNorm2d", N_(bn_opts), bn2d_shape, bn_forward},
    {"layernorm", "LayerNorm", N_(ln_opts), ln_shape, ln_forward},
    {"groupnorm", "GroupNorm", N_(gn_opts), gn_shape, gn_forward},
    {"dropout", "Dropout", N_(dropout_opts), same_shape, dropout_forward},
    {"embedding", "Embedding", N_(embedding_opts), embedding_shape, embedding_forward},
    {"flatten", "Flatten", N_(flatten_opts), flatten_shape, flatten_forward},
    {"relu", "ReLU", NULL, 0, same_shape, relu_forward},
    {"leaky_relu", "LeakyReLU", N_(leaky_opts), same_shape, leaky_forward},
    {"gelu", "GELU", NULL, 0, same_shape, gelu_forward},
    {"silu", "SiLU", NULL, 0, same_shape, silu_forward},
    {"sigmoid", "Sigmoid", NULL, 0, same_shape, sigmoid_forward},
    {"tanh", "Tanh", NULL, 0, same_shape, tanh_forward},
    {"softmax", "Softmax", N_(dim_opts), same_shape, softmax_forward},
    {"log_softmax", "LogSoftmax", N_(dim_opts), same_shape, log_softmax_forward},
    {"identity", "Identity", NULL, 0, same_shape, identity_forward},
    /* x + (the next `layers` layers)(x), He et al. 2016, "Deep Residual
     * Learning", eq. 1; a marker: ct_model_forward adds the skip */
    {"residual", "Residual", N_(residual_opts), same_shape, identity_forward},
};
#define NKINDS (sizeof kinds / sizeof *kinds)

const char *ct_layer_kind_name(size_t i) { return i < NKINDS ? kinds[i].name : NULL; }

/* ---- model ---- */
ct_status ct_model_create(ct_model **out, int ndim, const int64_t *shape)
{
    if (!out || ndim < 0 || ndim >= CT_MAX_DIMS || (ndim && !shape))
        return ct_fail(NULL, CT_EINVAL, "ct_model_create: invalid sample shape");
    for (int i = 0; i < ndim; i++)
        if (shape[i] < 1)
            return ct_fail(NULL, CT_EINVAL, "ct_model_create: dimension %d is %lld", i,
                           (long long)shape[i]);
    ct_model *m = calloc(1, sizeof *m);
    if (!m)
        return ct_fail(NULL, CT_ENOMEM, "ct_model_create: out of memory");
    m->in_nd = ndim;
    if (ndim)
        memcpy(m->in, shape, (size_t)ndim * sizeof *shape);
    *out = m;
    return CT_OK;
}

void ct_model_destroy(ct_model *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->nptens; i++)
        free(m->names[i]);
    free(m->names);
    free(m->ptens);
    free(m->params);
    free(m->grads);
    free(m->bufs);
    free(m->layers);
    free(m);
}

const char *ct_model_errmsg(const ct_model *m) { return m ? m->err.msg : ""; }
size_t ct_model_num_layers(const ct_model *m) { return m ? m->n : 0; }

int ct_model_output_shape(const ct_model *m, int64_t *shape)
{
    int nd = m->n ? m->layers[m->n - 1].out_nd : m->in_nd;
    memcpy(shape, m->n ? m->layers[m->n - 1].out : m->in, (size_t)nd * sizeof *shape);
    return nd;
}

ct_status ct_model_add(ct_model *m, const char *kind, const char *options)
{
    if (!m || !kind)
        return ct_fail(m ? &m->err : NULL, CT_EINVAL, "ct_model_add: NULL argument");
    if (m->built)
        return ct_fail(&m->err, CT_ESTATE, "ct_model_add: the model is already built");
    const layer_kind *k = NULL;
    for (size_t i = 0; i < NKINDS; i++)
        if (!strcmp(kinds[i].name, kind))
            k = &kinds[i];
    if (!k) {
        char known[512];
        size_t len = 0;
        known[0] = 0;
        for (size_t i = 0; i < NKINDS && len < sizeof known; i++)
            len += (size_t)snprintf(known + len, sizeof known - len, "%s%s", i ? ", " : "",
                                    kinds[i].name);
        return ct_fail(&m->err, CT_EINVAL, "unknown layer '%s' (known: %s)", kind, known);
    }
    layer l;
    memset(&l, 0, sizeof l);
    l.kind = k;
    l.index = (int)m->n;
    l.m = m;
    if (k->nopts) {
        ct_opts_defaults(k->opts, k->nopts, l.v);
        ct_status st = ct_opts_parse(k->opts, k->nopts, kind, options, l.v, l.given, &m->err);
        if (st)
            return st;
        for (size_t i = 0; i < k->nopts; i++) { /* "3" means "3,3" for pairs */
            if (k->opts[i].count == 2 && l.given[i] == 1)
                l.v[k->opts[i].slot + 1] = l.v[k->opts[i].slot];
            /* an option whose default (0) is outside its range is required */
            if (!l.given[i] && k->opts[i].def[0] < k->opts[i].lo)
                return ct_fail(&m->err, CT_EINVAL, "%s: %s is required", kind, k->opts[i].name);
        }
    } else if (options && options[strspn(options, " \t")]) {
        return ct_fail(&m->err, CT_EINVAL, "%s: takes no options, got '%s'", kind, options);
    }
    const layer *prev = m->n ? &m->layers[m->n - 1] : NULL;
    l.in_nd = prev ? prev->out_nd : m->in_nd;
    memcpy(l.in, prev ? prev->out : m->in, sizeof l.in);
    if (k->shape(&l, &m->err))
        return CT_EMISMATCH;
    /* a residual block that ends with this layer must keep its shape */
    for (size_t i = 0; i < m->n; i++) {
        const layer *r = &m->layers[i];
        if (r->kind->forward == identity_forward && !strcmp(r->kind->name, "residual") &&
            i + (size_t)r->v[0] == m->n) {
            if (!strcmp(kind, "residual"))
                return ct_fail(&m->err, CT_EINVAL, "residual (layer %zu): its block cannot end "
                               "with another residual marker", i);
            int same = r->in_nd == l.out_nd;
            for (int d = 0; same && d < l.out_nd; d++)
                same = r->in[d] == l.out[d];
            if (!same) {
                char a[128], b[128];
                shape_str(r->in_nd, r->in, a, sizeof a);
                shape_str(l.out_nd, l.out, b, sizeof b);
                return ct_fail(&m->err, CT_EMISMATCH, "residual (layer %zu): its input is %s but "
                               "layer %zu, the last of its %g layers, gives %s", i, a, m->n,
                               r->v[0], b);
            }
        }
    }
    if (m->n == m->cap) {
        size_t cap = m->cap ? 2 * m->cap : 8;
        layer *nl = realloc(m->layers, cap * sizeof *nl);
        if (!nl)
            return ct_fail(&m->err, CT_ENOMEM, "ct_model_add: out of memory");
        m->layers = nl;
        m->cap = cap;
    }
    m->layers[m->n++] = l;
    return CT_OK;
}

/* Uniform double in [0, 1) from (key, i). */
static double unif(uint64_t key, uint64_t i)
{
    return (double)(ct_mix64(key + i * 0x9E3779B97F4A7C15ull) >> 11) * 0x1.0p-53;
}

ct_status ct_model_build(ct_model *m, uint64_t seed)
{
    if (!m)
        return ct_fail(NULL, CT_EINVAL, "ct_model_build: model is NULL");
    if (m->built)
        return ct_fail(&m->err, CT_ESTATE, "ct_model_build: already built");
    size_t np = 0, nb = 0, nt = 0;
    for (size_t i = 0; i < m->n; i++)
        if (!strcmp(m->layers[i].kind->name, "residual") &&
            i + (size_t)m->layers[i].v[0] >= m->n)
            return ct_fail(&m->err, CT_EINVAL, "residual (layer %zu): its %g layers run past the "
                           "last layer", i, m->layers[i].v[0]);
    for (size_t i = 0; i < m->n; i++) {
        layer *l = &m->layers[i];
        l->m = m; /* layers moved when the array grew */
        for (int j = 0; j < l->np; j++) {
            l->p[j].off = np;
            np += (size_t)l->p[j].numel;
            nt++;
        }
        for (int j = 0; j < l->nb; j++) {
            l->b[j].off = nb;
            nb += (size_t)l->b[j].numel;
        }
    }
    m->params = calloc(np + 1, sizeof(float));
    m->grads = calloc(np + 1, sizeof(float));
    m->bufs = calloc(nb + 1, sizeof(float));
    m->names = calloc(nt + 1, sizeof *m->names);
    m->ptens = calloc(nt + 1, sizeof *m->ptens);
    if (!m->params || !m->grads || !m->bufs || !m->names || !m->ptens)
        goto oom;
    m->nparams = np;
    m->nbufs = nb;
    size_t t = 0;
    for (size_t i = 0; i < m->n; i++) {
        layer *l = &m->layers[i];
        for (int j = 0; j < l->np; j++, t++) {
            pdecl *p = &l->p[j];
            char nm[64];
            snprintf(nm, sizeof nm, "%zu.%s", i, p->name);
            if (!(m->names[t] = strdup(nm)))
                goto oom;
            m->nptens = t + 1;
            m->ptens[t] = ct_tensor_wrap(m->params + p->off, m->grads + p->off, p->ndim, p->shape);
            uint64_t key = ct_mix64(seed ^ ct_mix64(0xC0FFEEull + t));
            float *d = m->params + p->off;
            for (int64_t e = 0; e < p->numel; e++) {
                switch (p->init) {
                case INIT_UNIFORM: d[e] = (float)((2 * unif(key, (uint64_t)e) - 1) * p->bound); break;
                case INIT_ONES: d[e] = 1.0f; break;
                case INIT_ZEROS: d[e] = 0.0f; break;
                default: { /* Box-Muller */
                    double u1 = unif(key, 2 * (uint64_t)e), u2 = unif(key, 2 * (uint64_t)e + 1);
                    d[e] = (float)(sqrt(-2 * log(1 - u1)) * cos(6.283185307179586 * u2));
                }
                }
            }
        }
        for (int j = 0; j < l->nb; j++)
            for (int64_t e = 0; e < l->b[j].numel; e++)
                m->bufs[l->b[j].off + (size_t)e] = l->b[j].init == INIT_ONES ? 1.0f : 0.0f;
    }
    m->built = 1;
    return CT_OK;
oom:
    for (size_t i = 0; i < m->nptens; i++)
        free(m->names[i]);
    free(m->names);
    free(m->ptens);
    free(m->params);
    free(m->grads);
    free(m->bufs);
    m->names = NULL;
    m->ptens = NULL;
    m->params = m->grads = m->bufs = NULL;
    m->nptens = 0;
    return ct_fail(&m->err, CT_ENOMEM, "ct_model_build: out of memory");
}

size_t ct_model_num_params(const ct_model *m) { return m && m->built ? m->nptens : 0; }

ct_status ct_model_param(ct_model *m, size_t i, const char **name, ct_tensor *t)
{
    if (!m || !m->built || i >= m->nptens)
        return ct_fail(m ? &m->err : NULL, CT_EINVAL, "ct_model_param: no parameter %zu", i);
    if (name)
        *name = m->names[i];
    if (t)
        *t = m->ptens[i];
    return CT_OK;
}

float *ct_model_params(ct_model *m, size_t *n)
{
    if (n)
        *n = m->nparams;
    return m->params;
}

float *ct_model_grads(ct_model *m, size_t *n)
{
    if (n)
        *n = m->nparams;
    return m->grads;
}

void ct_model_zero_grad(ct_model *m)
{
    if (m && m->grads)
        memset(m->grads, 0, m->nparams * sizeof(float));
}

const char *ct_model_layer_str(const ct_model *m, size_t i, char *buf, size_t cap)
{
    if (!m || i >= m->n) {
        snprintf(buf, cap, "?");
        return buf;
    }
    const layer *l = &m->layers[i];
    char in[128], out[128];
    shape_str(l->in_nd, l->in, in, sizeof in);
    shape_str(l->out_nd, l->out, out, sizeof out);
    int64_t np = 0;
    for (int j = 0; j < l->np; j++)
        np += l->p[j].numel;
    snprintf(buf, cap, "(%zu) %-12s %-14s -> %-14s %lld params", i, l->kind->torch, in, out,
             (long long)np);
    return buf;
}

ct_tensor *ct_model_forward(ct_model *m, ct_graph *g, ct_tensor *x)
{
    if (!ct_graph_ok(g, 1, x))
        return NULL;
    if (!m || !m->built)
        return ct_graph_fail(g, CT_ESTATE, "ct_model_forward: the model is not built");
    int ok = x->ndim == m->in_nd + 1;
    for (int i = 0; ok && i < m->in_nd; i++)
        ok = x->shape[i + 1] == m->in[i];
    if (!ok) {
        char a[128], b[128];
        shape_str(m->in_nd, m->in, b, sizeof b);
        return ct_graph_fail(g, CT_EMISMATCH, "model input %s is not [N] + %s",
                             ct_shape_str(x, a, sizeof a), b);
    }
    /* open residual blocks: where each ends and the input it adds back */
    size_t end[CT_MAX_RESIDUAL];
    ct_tensor *skip[CT_MAX_RESIDUAL];
    int open = 0;
    for (size_t i = 0; i < m->n && x; i++) {
        layer *l = &m->layers[i];
        if (!strcmp(l->kind->name, "residual")) {
            if (open == CT_MAX_RESIDUAL)
                return ct_graph_fail(g, CT_EUNSUPPORTED, "more than %d nested residual blocks",
                                     CT_MAX_RESIDUAL);
            end[open] = i + (size_t)l->v[0];
            skip[open++] = x;
            continue;
        }
        x = l->kind->forward(l, g, x);
        while (open && end[open - 1] == i && x)
            x = ct_add(g, x, skip[--open]);
    }
    if (open && x)
        return ct_graph_fail(g, CT_EINVAL, "a residual block runs past the last layer");
    return x;
}

ct_status ct_model_add_to_optim(ct_model *m, ct_optim *opt, const char *decay_options,
                                const char *no_decay_options)
{
    if (!m || !m->built || !opt)
        return ct_fail(m ? &m->err : NULL, CT_EINVAL, "ct_model_add_to_optim: model not built or "
                       "optimizer NULL");
    ct_param *ps = calloc(m->nptens + 1, sizeof *ps);
    if (!ps)
        return ct_fail(&m->err, CT_ENOMEM, "out of memory");
    ct_status st = CT_OK;
    for (int pass = 0; pass < 2 && !st; pass++) {
        size_t k = 0;
        for (size_t i = 0; i < m->nptens; i++) {
            const ct_tensor *t = &m->ptens[i];
            if ((t->ndim >= 2) != (pass == 0))
                continue;
            ct_param p;
            memset(&p, 0, sizeof p);
            p.data = t->data;
            p.grad = t->grad;
            p.numel = (size_t)t->numel;
            p.dtype = CT_F32;
            p.ndim = t->ndim;
            memcpy(p.shape, t->shape, sizeof p.shape);
            ps[k++] = p;
        }
        if (k)
            st = ct_optim_add_group(opt, ps, k, pass ? no_decay_options : decay_options, NULL);
        if (st)
            ct_fail(&m->err, st, "registering the %s: %s", pass ? "biases and norm weights" : "weights",
                    ct_optim_errmsg(opt));
    }
    free(ps);
    return st;
}

/* ---- checkpoints ---- */
static ct_status build_writer(ct_model *m, ct_st_writer *w, int64_t *tracked,
                              const char *const *mk, const char *const *mv, size_t nm)
{
    memset(w, 0, sizeof *w);
    ct_status st = CT_OK;
    size_t t = 0, nt = 0;
    for (size_t i = 0; i < m->n && !st; i++) {
        layer *l = &m->layers[i];
        for (int j = 0; j < l->np && !st; j++, t++)
            st = ct_st_add(w, m->names[t], CT_ST_F32, l->p[j].ndim, l->p[j].shape,
                           m->params + l->p[j].off, &m->err);
        for (int j = 0; j < l->nb && !st; j++) {
            char nm2[64];
            snprintf(nm2, sizeof nm2, "%zu.%s", i, l->b[j].name);
            if (l->b[j].numel == 0 && l->b[j].ndim == 0) { /* num_batches_tracked */
                tracked[nt] = l->batches_tracked;
                st = ct_st_add(w, nm2, CT_ST_I64, 0, NULL, &tracked[nt++], &m->err);
            } else {
                st = ct_st_add(w, nm2, CT_ST_F32, 1, l->b[j].shape, m->bufs + l->b[j].off,
                               &m->err);
            }
        }
    }
    for (size_t i = 0; i < nm && !st; i++)
        st = ct_st_add_meta(w, mk[i], mv[i], &m->err);
    if (!st)
        st = ct_st_add_meta(w, "format", "ctrain.model.v1", &m->err);
    return st;
}

static int64_t *tracked_buf(const ct_model *m)
{
    return calloc(m->n + 1, sizeof(int64_t));
}

ct_status ct_model_save_mem(ct_model *m, void **buf, size_t *len, const char *const *mk,
                            const char *const *mv, size_t nm)
{
    if (!m || !m->built || !buf || !len)
        return ct_fail(m ? &m->err : NULL, CT_EINVAL, "ct_model_save: model not built");
    int64_t *tr = tracked_buf(m);
    if (!tr)
        return ct_fail(&m->err, CT_ENOMEM, "out of memory");
    ct_st_writer w;
    ct_status st = build_writer(m, &w, tr, mk, mv, nm);
    if (!st)
        st = ct_st_serialize(&w, buf, len, &m->err);
    ct_st_writer_free(&w);
    free(tr);
    return st;
}

ct_status ct_model_save(ct_model *m, const char *path, const char *const *mk,
                        const char *const *mv, size_t nm)
{
    void *buf;
    size_t len;
    ct_status st = ct_model_save_mem(m, &buf, &len, mk, mv, nm);
    if (st)
        return st;
    st = ct_write_file_atomic(path, buf, len, &m->err);
    free(buf);
    return st;
}

ct_status ct_model_load_mem(ct_model *m, const void *buf, size_t len)
{
    if (!m || !m->built || !buf)
        return ct_fail(m ? &m->err : NULL, CT_EINVAL, "ct_model_load: model not built");
    ct_st_file f;
    ct_status st = ct_st_parse(buf, len, "checkpoint", &f, &m->err);
    if (st)
        return st;
    /* check everything first, then copy: nothing is modified on failure */
    size_t expected = 0;
    for (int pass = 0; pass < 2 && !st; pass++) {
        size_t t = 0;
        for (size_t i = 0; i < m->n && !st; i++) {
            layer *l = &m->layers[i];
            for (int j = 0; j < l->np + l->nb && !st; j++) {
                const pdecl *p = j < l->np ? &l->p[j] : &l->b[j - l->np];
                char nm[64];
                snprintf(nm, sizeof nm, "%zu.%s", i, p->name);
                int is_count = j >= l->np && p->ndim == 0;
                const ct_st_tensor *s = ct_st_find(&f, nm);
                if (pass == 0) {
                    expected++;
                    if (!s) {
                        st = ct_fail(&m->err, CT_EMISMATCH, "checkpoint: tensor '%s' is missing", nm);
                        break;
                    }
                    int ok = s->dtype == (is_count ? CT_ST_I64 : CT_ST_F32) &&
                             s->ndim == p->ndim && s->numel == (size_t)(is_count ? 1 : p->numel);
                    for (int d = 0; ok && d < p->ndim; d++)
                        ok = s->shape[d] == p->shape[d];
                    if (!ok) {
                        char want[128];
                        shape_str(p->ndim, p->shape, want, sizeof want);
                        st = ct_fail(&m->err, CT_EMISMATCH,
                                     "checkpoint: tensor '%s' is %s with %d dims, expected %s %s",
                                     nm, ct_st_dtype_name(s->dtype), s->ndim,
                                     is_count ? "I64" : "F32", want);
                    }
                } else if (is_count) {
                    memcpy(&l->batches_tracked, s->data, sizeof(int64_t));
                } else {
                    float *dst = (j < l->np ? m->params : m->bufs) + p->off;
                    memcpy(dst, s->data, (size_t)p->numel * sizeof(float));
                }
                (void)t;
            }
        }
        if (pass == 0 && !st && f.n != expected) {
            for (size_t i = 0; i < f.n; i++) {
                int known = 0;
                for (size_t k = 0; k < m->nptens && !known; k++)
                    known = !strcmp(f.tensors[i].name, m->names[k]);
                if (!known && !strstr(f.tensors[i].name, "running_") &&
                    !strstr(f.tensors[i].name, "num_batches_tracked")) {
                    st = ct_fail(&m->err, CT_EMISMATCH,
                                 "checkpoint: unexpected tensor '%s' (the model has no such "
                                 "parameter)", f.tensors[i].name);
                    break;
                }
            }
            if (!st)
                st = ct_fail(&m->err, CT_EMISMATCH, "checkpoint: %zu tensors, the model has %zu",
                             f.n, expected);
        }
    }
    ct_st_free(&f);
    return st;
}

ct_status ct_model_load(ct_model *m, const char *path)
{
    void *buf;
    size_t len;
    if (!m)
        return ct_fail(NULL, CT_EINVAL, "ct_model_load: model is NULL");
    ct_status st = ct_read_whole_file(path, &buf, &len, &m->err);
    if (st)
        return st;
    st = ct_model_load_mem(m, buf, len);
    free(buf);
    return st;
}
