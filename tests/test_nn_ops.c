/* The generic test of ctrain's tensor ops, layers and losses.
 *
 * For every case written by tests/ref/gen_nn_refs.py (REFS/nn/ops.safetensors)
 * the op is rebuilt by name from its JSON arguments and checked
 *   1. forward against torch's output,
 *   2. backward, d sum(out * up) / d input, against torch's gradients,
 *   3. backward against central finite differences of the same scalar
 *      (computed in double from float forward passes) at a few elements,
 * then a whole CNN (REFS/nn/cnn.safetensors) built with ct_model_add from the
 * same layer list loads torch's weights and must give torch's loss and the
 * gradient of every parameter.
 * Tolerance against torch: |a - b| <= 1e-4 * max(|b|, 1e-2 * max|ref|) + 1e-6.
 * usage: test_nn_ops REFS_DIR
 */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctrain/nn.h"
#include "ctrain/tensor.h"
#include "io/safetensors.h"

static int failures;
static double worst_fwd, worst_bwd, worst_fd;
static const char *worst_bwd_case = "", *worst_fd_case = "";

#define CHECK(c, ...)                                                                      \
    do {                                                                                   \
        if (!(c)) {                                                                        \
            printf("FAIL %s:%d: ", __FILE__, __LINE__);                                    \
            printf(__VA_ARGS__);                                                           \
            printf("\n");                                                                  \
            failures++;                                                                    \
        }                                                                                  \
    } while (0)

static double jnum(const cJSON *o, const char *k, double def)
{
    const cJSON *v = cJSON_GetObjectItem(o, k);
    return cJSON_IsNumber(v) ? v->valuedouble : cJSON_IsBool(v) ? cJSON_IsTrue(v) : def;
}

static void jpair(const cJSON *o, const char *k, int out[2], int def)
{
    const cJSON *v = cJSON_GetObjectItem(o, k);
    out[0] = out[1] = def;
    if (cJSON_IsArray(v) && cJSON_GetArraySize(v) == 2) {
        out[0] = cJSON_GetArrayItem(v, 0)->valueint;
        out[1] = cJSON_GetArrayItem(v, 1)->valueint;
    }
}

/* A float list argument copied into the graph's arena-independent buffer. */
static float *jfloats(const cJSON *o, const char *k, float *buf, int cap)
{
    const cJSON *v = cJSON_GetObjectItem(o, k);
    if (!cJSON_IsArray(v))
        return NULL;
    int n = cJSON_GetArraySize(v);
    for (int i = 0; i < n && i < cap; i++)
        buf[i] = (float)cJSON_GetArrayItem(v, i)->valuedouble;
    return buf;
}

typedef struct tcase {
    const char *name, *op;
    const cJSON *args;
    int n_in, grad[4];
    const ct_st_tensor *in[4], *gref[4], *out, *up, *idx, *extra[2];
    int64_t *index;
    size_t nidx;
    double h;
    float rm[64], rv[64]; /* batch norm running stats (per run) */
} tcase;

static ct_tensor *run_op(ct_graph *g, tcase *c, ct_tensor **x)
{
    const char *op = c->op;
    const cJSON *a = c->args;
    float wbuf[64];
    if (!strcmp(op, "add")) return ct_add(g, x[0], x[1]);
    if (!strcmp(op, "sub")) return ct_sub(g, x[0], x[1]);
    if (!strcmp(op, "mul")) return ct_mul(g, x[0], x[1]);
    if (!strcmp(op, "div")) return ct_div(g, x[0], x[1]);
    if (!strcmp(op, "neg")) return ct_neg(g, x[0]);
    if (!strcmp(op, "scale")) return ct_scale(g, x[0], (float)jnum(a, "s", 1));
    if (!strcmp(op, "exp")) return ct_exp(g, x[0]);
    if (!strcmp(op, "log")) return ct_log(g, x[0]);
    if (!strcmp(op, "sqrt")) return ct_sqrt(g, x[0]);
    if (!strcmp(op, "pow")) return ct_pow(g, x[0], (float)jnum(a, "p", 1));
    if (!strcmp(op, "relu")) return ct_relu(g, x[0]);
    if (!strcmp(op, "leaky_relu")) return ct_leaky_relu(g, x[0], (float)jnum(a, "slope", 0.01));
    if (!strcmp(op, "sigmoid")) return ct_sigmoid(g, x[0]);
    if (!strcmp(op, "tanh")) return ct_tanh(g, x[0]);
    if (!strcmp(op, "gelu")) return ct_gelu(g, x[0]);
    if (!strcmp(op, "silu")) return ct_silu(g, x[0]);
    if (!strcmp(op, "where")) return ct_where(g, x[0], x[1], x[2]);
    if (!strcmp(op, "transpose_mul")) return ct_mul(g, ct_transpose(g, x[0], 0, 1), x[1]);
    if (!strcmp(op, "permute")) {
        int perm[CT_MAX_DIMS];
        const cJSON *p = cJSON_GetObjectItem(a, "perm");
        for (int i = 0; i < cJSON_GetArraySize(p); i++)
            perm[i] = cJSON_GetArrayItem(p, i)->valueint;
        return ct_contiguous(g, ct_permute(g, x[0], perm));
    }
    if (!strcmp(op, "slice_exp"))
        return ct_exp(g, ct_slice(g, x[0], (int)jnum(a, "dim", 0), (int64_t)jnum(a, "start", 0),
                                  (int64_t)jnum(a, "end", 0)));
    if (!strcmp(op, "reshape_sum_dim")) {
        const cJSON *s = cJSON_GetObjectItem(a, "shape");
        int64_t sh[CT_MAX_DIMS];
        int nd = cJSON_GetArraySize(s);
        for (int i = 0; i < nd; i++)
            sh[i] = cJSON_GetArrayItem(s, i)->valueint;
        return ct_sum_dim(g, ct_reshape(g, x[0], nd, sh), (int)jnum(a, "dim", 0), 0);
    }
    if (!strcmp(op, "sum")) return ct_sum(g, x[0]);
    if (!strcmp(op, "mean")) return ct_mean(g, x[0]);
    if (!strcmp(op, "sum_dim"))
        return ct_sum_dim(g, x[0], (int)jnum(a, "dim", 0), (int)jnum(a, "keepdim", 0));
    if (!strcmp(op, "mean_dim"))
        return ct_mean_dim(g, x[0], (int)jnum(a, "dim", 0), (int)jnum(a, "keepdim", 0));
    if (!strcmp(op, "max_dim"))
        return ct_max_dim(g, x[0], (int)jnum(a, "dim", 0), (int)jnum(a, "keepdim", 0));
    if (!strcmp(op, "matmul")) return ct_matmul(g, x[0], x[1]);
    if (!strcmp(op, "linear")) return ct_linear(g, x[0], x[1], c->n_in > 2 ? x[2] : NULL);
    if (!strcmp(op, "concat")) return ct_concat(g, x, c->n_in, (int)jnum(a, "dim", 0));
    if (!strcmp(op, "index_select"))
        return ct_index_select(g, x[0], (int)jnum(a, "dim", 0), c->index, (int64_t)c->nidx);
    if (!strcmp(op, "embedding")) return ct_embedding(g, x[0], c->index, (int64_t)c->nidx);
    if (!strcmp(op, "conv2d") || !strcmp(op, "conv1d")) {
        ct_conv_args ca;
        jpair(a, "stride", ca.stride, 1);
        jpair(a, "padding", ca.padding, 0);
        jpair(a, "dilation", ca.dilation, 1);
        ca.groups = (int)jnum(a, "groups", 1);
        ct_tensor *b = c->n_in > 2 ? x[2] : NULL;
        return op[4] == '2' ? ct_conv2d(g, x[0], x[1], b, &ca) : ct_conv1d(g, x[0], x[1], b, &ca);
    }
    if (!strcmp(op, "maxpool2d") || !strcmp(op, "avgpool2d")) {
        int k[2], s[2], p[2];
        jpair(a, "kernel", k, 1);
        jpair(a, "stride", s, 0);
        jpair(a, "padding", p, 0);
        return op[0] == 'm' ? ct_maxpool2d(g, x[0], k, s, p) : ct_avgpool2d(g, x[0], k, s, p);
    }
    if (!strcmp(op, "adaptive_avgpool2d")) {
        int o[2];
        jpair(a, "out", o, 1);
        return ct_adaptive_avgpool2d(g, x[0], o[0], o[1]);
    }
    if (!strcmp(op, "batch_norm")) {
        jfloats(a, "running_mean", c->rm, 64);
        jfloats(a, "running_var", c->rv, 64);
        ct_graph_set_training(g, (int)jnum(a, "training", 1));
        ct_tensor *y = ct_batch_norm(g, x[0], x[1], x[2], c->rm, c->rv,
                                     (float)jnum(a, "momentum", 0.1), (float)jnum(a, "eps", 1e-5));
        ct_graph_set_training(g, 1);
        return y;
    }
    if (!strcmp(op, "layer_norm")) return ct_layer_norm(g, x[0], x[1], x[2], (float)jnum(a, "eps", 1e-5));
    if (!strcmp(op, "group_norm"))
        return ct_group_norm(g, x[0], (int)jnum(a, "groups", 1), x[1], x[2],
                             (float)jnum(a, "eps", 1e-5));
    if (!strcmp(op, "softmax")) return ct_softmax(g, x[0], (int)jnum(a, "dim", -1));
    if (!strcmp(op, "log_softmax")) return ct_log_softmax(g, x[0], (int)jnum(a, "dim", -1));
    ct_reduction red = (ct_reduction)(int)jnum(a, "reduction", 0);
    if (!strcmp(op, "cross_entropy") || !strcmp(op, "nll_loss")) {
        ct_ce_args ca = ct_ce_defaults();
        ca.class_weight = jfloats(a, "weight", wbuf, 64);
        ca.ignore_index = (int64_t)jnum(a, "ignore_index", -100);
        ca.label_smoothing = (float)jnum(a, "label_smoothing", 0);
        ca.reduction = red;
        return op[0] == 'c' ? ct_cross_entropy(g, x[0], c->index, &ca)
                            : ct_nll_loss(g, x[0], c->index, &ca);
    }
    if (!strcmp(op, "mse_loss")) return ct_mse_loss(g, x[0], x[1], red);
    if (!strcmp(op, "l1_loss")) return ct_l1_loss(g, x[0], x[1], red);
    if (!strcmp(op, "smooth_l1_loss"))
        return ct_smooth_l1_loss(g, x[0], x[1], (float)jnum(a, "beta", 1), red);
    if (!strcmp(op, "huber_loss")) return ct_huber_loss(g, x[0], x[1], (float)jnum(a, "delta", 1), red);
    if (!strcmp(op, "bce_loss")) return ct_bce_loss(g, x[0], x[1], red);
    if (!strcmp(op, "bce_with_logits_loss"))
        return ct_bce_with_logits_loss(g, x[0], x[1], jfloats(a, "pos_weight", wbuf, 64), red);
    if (!strcmp(op, "sigmoid_focal_loss"))
        return ct_sigmoid_focal_loss(g, x[0], x[1], (float)jnum(a, "alpha", 0.25),
                                     (float)jnum(a, "gamma", 2), red);
    if (!strcmp(op, "triplet_margin_loss"))
        return ct_triplet_margin_loss(g, x[0], x[1], x[2], (float)jnum(a, "margin", 1),
                                      (float)jnum(a, "eps", 1e-6), red);
    if (!strcmp(op, "cosine_embedding_loss"))
        return ct_cosine_embedding_loss(g, x[0], x[1], x[2], (float)jnum(a, "margin", 0), red);
    printf("FAIL: unknown op '%s'\n", op);
    failures++;
    return NULL;
}

static double maxabs(const float *v, size_t n)
{
    double m = 0;
    for (size_t i = 0; i < n; i++)
        m = fmax(m, fabs(v[i]));
    return m;
}

/* Compares got against the reference; returns the worst error relative to
 * the tolerance (<= 1 passes). */
static double compare(const char *what, const char *name, const float *got, const float *ref,
                      size_t n)
{
    double scale = 1e-2 * maxabs(ref, n), worst = 0;
    size_t wi = 0;
    for (size_t i = 0; i < n; i++) {
        double tol = 1e-4 * fmax(fabs(ref[i]), scale) + 1e-6;
        double r = fabs((double)got[i] - ref[i]) / tol;
        if (!(r <= worst) || isnan(r)) {
            worst = isnan(r) ? INFINITY : r;
            wi = i;
        }
    }
    CHECK(worst <= 1, "%s %s: element %zu is %.9g, torch %.9g", name, what, wi,
          (double)got[wi], (double)ref[wi]);
    return worst;
}

static int shape_matches(const ct_tensor *t, const ct_st_tensor *s)
{
    if ((size_t)t->numel != s->numel)
        return 0;
    if (t->ndim != s->ndim)
        return 0;
    for (int i = 0; i < t->ndim; i++)
        if (t->shape[i] != s->shape[i])
            return 0;
    return 1;
}

/* sum(out * up) of one forward pass, in double. */
static int objective(ct_graph *g, tcase *c, float *const *vals, double *obj)
{
    ct_graph_reset(g);
    int old = ct_graph_set_no_grad(g, 1);
    ct_tensor *x[4];
    for (int i = 0; i < c->n_in; i++)
        x[i] = ct_tensor_from(g, vals[i], c->in[i]->ndim, c->in[i]->shape, 0);
    ct_tensor *y = run_op(g, c, x);
    ct_graph_set_no_grad(g, old);
    if (!y)
        return -1;
    const float *up = c->up->data;
    double s = 0;
    for (int64_t i = 0; i < y->numel; i++)
        s += (double)ct_tensor_get(y, i) * up[i];
    *obj = s;
    return 0;
}

static void run_case(ct_graph *g, tcase *c)
{
    ct_graph_reset(g);
    ct_tensor *x[4];
    for (int i = 0; i < c->n_in; i++)
        x[i] = ct_tensor_from(g, c->in[i]->data, c->in[i]->ndim, c->in[i]->shape, c->grad[i]);
    ct_tensor *y = run_op(g, c, x);
    if (!y) {
        CHECK(0, "%s: %s", c->name, ct_graph_errmsg(g));
        return;
    }
    if (!shape_matches(y, c->out)) {
        CHECK(0, "%s: output has %lld elements / %d dims, torch %zu / %d", c->name,
              (long long)y->numel, y->ndim, c->out->numel, c->out->ndim);
        return;
    }
    float *yc = malloc((size_t)y->numel * sizeof *yc + 1);
    for (int64_t i = 0; i < y->numel; i++)
        yc[i] = ct_tensor_get(y, i);
    worst_fwd = fmax(worst_fwd, compare("output", c->name, yc, c->out->data, c->out->numel));
    free(yc);
    for (int k = 0; k < 2; k++)
        if (c->extra[k])
            compare(k ? "running_var" : "running_mean", c->name, k ? c->rv : c->rm,
                    c->extra[k]->data, c->extra[k]->numel);
    int any = 0;
    for (int i = 0; i < c->n_in; i++)
        any |= c->grad[i];
    if (!any)
        return;
    ct_tensor *up = ct_tensor_from(g, c->up->data, y->ndim, y->shape, 0);
    ct_tensor *loss = ct_sum(g, ct_mul(g, y, up));
    ct_status st = ct_backward(g, loss);
    CHECK(!st, "%s: backward: %s", c->name, ct_errmsg());
    if (st)
        return;
    for (int i = 0; i < c->n_in; i++)
        if (c->grad[i]) {
            char what[32];
            snprintf(what, sizeof what, "grad of input %d", i);
            double w = compare(what, c->name, x[i]->grad, c->gref[i]->data, c->gref[i]->numel);
            if (w > worst_bwd) {
                worst_bwd = w;
                worst_bwd_case = c->name;
            }
        }
    /* finite differences at up to 6 elements of each input */
    float *vals[4];
    for (int i = 0; i < c->n_in; i++) {
        vals[i] = malloc(c->in[i]->numel * sizeof(float) + 1);
        memcpy(vals[i], c->in[i]->data, c->in[i]->numel * sizeof(float));
    }
    float *an[4];
    for (int i = 0; i < c->n_in; i++) {
        an[i] = NULL;
        if (c->grad[i]) {
            an[i] = malloc(c->in[i]->numel * sizeof(float) + 1);
            memcpy(an[i], x[i]->grad, c->in[i]->numel * sizeof(float));
        }
    }
    for (int i = 0; i < c->n_in; i++) {
        if (!c->grad[i])
            continue;
        size_t n = c->in[i]->numel, step = n / 6 + 1;
        double gscale = maxabs(an[i], n);
        for (size_t e = (size_t)i % step; e < n; e += step) {
            float v0 = vals[i][e];
            double fp, fm;
            vals[i][e] = v0 + (float)c->h;
            double hp = (double)vals[i][e] - v0;
            int bad = objective(g, c, vals, &fp);
            vals[i][e] = v0 - (float)c->h;
            double hm = v0 - (double)vals[i][e];
            bad |= objective(g, c, vals, &fm);
            vals[i][e] = v0;
            if (bad) {
                CHECK(0, "%s: finite-difference forward failed: %s", c->name, ct_graph_errmsg(g));
                break;
            }
            double fd = (fp - fm) / (hp + hm);
            double err = fabs(fd - an[i][e]) / (2e-2 * fmax(fabs(an[i][e]), 0.1 * gscale) + 2e-3);
            if (err > worst_fd) {
                worst_fd = err;
                worst_fd_case = c->name;
            }
            CHECK(err <= 1, "%s: input %d element %zu: backward %.6g, finite difference %.6g",
                  c->name, i, e, (double)an[i][e], fd);
        }
    }
    for (int i = 0; i < c->n_in; i++) {
        free(vals[i]);
        free(an[i]);
    }
}

static void test_ops(const char *dir)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/nn/ops.safetensors", dir);
    ct_st_file f;
    ct_err e;
    if (ct_st_read_file(path, &f, &e)) {
        CHECK(0, "%s", e.msg);
        return;
    }
    cJSON *cases = cJSON_Parse(ct_st_meta(&f, "cases"));
    ct_graph *g;
    ct_graph_create(&g);
    int n = 0;
    const cJSON *jc;
    cJSON_ArrayForEach(jc, cases)
    {
        tcase c;
        memset(&c, 0, sizeof c);
        c.name = cJSON_GetObjectItem(jc, "name")->valuestring;
        c.op = cJSON_GetObjectItem(jc, "op")->valuestring;
        c.args = cJSON_GetObjectItem(jc, "args");
        c.n_in = cJSON_GetObjectItem(jc, "n_in")->valueint;
        c.h = jnum(jc, "h", 1e-2);
        char key[128];
        for (int i = 0; i < c.n_in; i++) {
            c.grad[i] = cJSON_IsTrue(cJSON_GetArrayItem(cJSON_GetObjectItem(jc, "grad"), i));
            snprintf(key, sizeof key, "%s.in%d", c.name, i);
            c.in[i] = ct_st_find(&f, key);
            snprintf(key, sizeof key, "%s.grad%d", c.name, i);
            c.gref[i] = ct_st_find(&f, key);
        }
        snprintf(key, sizeof key, "%s.out", c.name);
        c.out = ct_st_find(&f, key);
        snprintf(key, sizeof key, "%s.up", c.name);
        c.up = ct_st_find(&f, key);
        for (int k = 0; k < (int)jnum(jc, "n_extra", 0) && k < 2; k++) {
            snprintf(key, sizeof key, "%s.extra%d", c.name, k);
            c.extra[k] = ct_st_find(&f, key);
        }
        snprintf(key, sizeof key, "%s.idx", c.name);
        const ct_st_tensor *ix = ct_st_find(&f, key);
        if (ix) {
            c.nidx = ix->numel;
            c.index = malloc(ix->numel * sizeof *c.index);
            memcpy(c.index, ix->data, ix->numel * sizeof *c.index);
        }
        run_case(g, &c);
        free(c.index);
        n++;
    }
    printf("nn ops: %d cases; worst error / tolerance: forward %.3f, backward %.3f (%s), "
           "finite differences %.3f (%s)\n", n, worst_fwd, worst_bwd, worst_bwd_case, worst_fd,
           worst_fd_case);
    ct_graph_destroy(g);
    cJSON_Delete(cases);
    ct_st_free(&f);
}

/* A whole model (a CNN; an MLP with a residual block) built from the layer
 * list: loss and every gradient. */
static void test_model(const char *dir, const char *what)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/nn/%s.safetensors", dir, what);
    ct_st_file f;
    ct_err e;
    if (ct_st_read_file(path, &f, &e)) {
        CHECK(0, "%s", e.msg);
        return;
    }
    const ct_st_tensor *x = ct_st_find(&f, "x"), *y = ct_st_find(&f, "y"),
                       *loss_ref = ct_st_find(&f, "loss");
    ct_model *m;
    ct_model_create(&m, x->ndim - 1, x->shape + 1);
    cJSON *layers = cJSON_Parse(ct_st_meta(&f, "layers"));
    const cJSON *l;
    cJSON_ArrayForEach(l, layers)
    {
        ct_status st = ct_model_add(m, cJSON_GetArrayItem(l, 0)->valuestring,
                                    cJSON_GetArrayItem(l, 1)->valuestring);
        CHECK(!st, "%s: %s", what, ct_model_errmsg(m));
    }
    CHECK(!ct_model_build(m, 1), "%s: build: %s", what, ct_model_errmsg(m));
    /* load torch's weights through a checkpoint holding exactly the
     * state_dict tensors */
    ct_st_writer w;
    memset(&w, 0, sizeof w);
    for (size_t i = 0; i < f.n; i++) {
        const ct_st_tensor *t = &f.tensors[i];
        if (strchr(t->name, '.') && strncmp(t->name, "grad.", 5) && strncmp(t->name, "after.", 6))
            ct_st_add(&w, t->name, t->dtype, t->ndim, t->shape, t->data, &e);
    }
    void *buf;
    size_t len;
    ct_st_serialize(&w, &buf, &len, &e);
    ct_st_writer_free(&w);
    CHECK(!ct_model_load_mem(m, buf, len), "%s: load: %s", what, ct_model_errmsg(m));
    free(buf);

    ct_graph *g;
    ct_graph_create(&g);
    ct_tensor *xt = ct_tensor_from(g, x->data, x->ndim, x->shape, 0);
    ct_ce_args ca = ct_ce_defaults();
    ca.label_smoothing = (float)atof(ct_st_meta(&f, "label_smoothing"));
    ct_tensor *loss = ct_cross_entropy(g, ct_model_forward(m, g, xt), y->data, &ca);
    CHECK(loss != NULL, "%s: forward: %s", what, ct_graph_errmsg(g));
    if (loss) {
        compare("loss", what, loss->data, loss_ref->data, 1);
        ct_model_zero_grad(m);
        CHECK(!ct_backward(g, loss), "%s: backward: %s", what, ct_errmsg());
        double worst = 0;
        for (size_t i = 0; i < ct_model_num_params(m); i++) {
            const char *name;
            ct_tensor t;
            ct_model_param(m, i, &name, &t);
            char key[128];
            snprintf(key, sizeof key, "grad.%s", name);
            const ct_st_tensor *gr = ct_st_find(&f, key);
            CHECK(gr && gr->numel == (size_t)t.numel, "%s: no torch gradient for %s", what, name);
            if (gr)
                worst = fmax(worst, compare("gradient", name, t.grad, gr->data, gr->numel));
        }
        /* running statistics after the training-mode forward */
        void *sbuf;
        size_t slen;
        ct_model_save_mem(m, &sbuf, &slen, NULL, NULL, 0);
        ct_st_file s;
        ct_st_parse(sbuf, slen, "saved", &s, &e);
        for (size_t i = 0; i < f.n; i++)
            if (!strncmp(f.tensors[i].name, "after.", 6)) {
                const ct_st_tensor *mine = ct_st_find(&s, f.tensors[i].name + 6);
                CHECK(mine != NULL, "%s: %s not saved", what, f.tensors[i].name + 6);
                if (mine)
                    compare("running stat", f.tensors[i].name, mine->data, f.tensors[i].data,
                            mine->numel);
            }
        ct_st_free(&s);
        free(sbuf);
        printf("nn %s: loss %.7f (torch %.7f), %zu parameter gradients, worst error / "
               "tolerance %.3f\n", what, (double)loss->data[0],
               (double)((float *)loss_ref->data)[0], ct_model_num_params(m), worst);
    }
    ct_graph_destroy(g);
    ct_model_destroy(m);
    cJSON_Delete(layers);
    ct_st_free(&f);
}

/* Dropout has no torch reference (torch's generator is not ours): its
 * mask must be 0 or 1/(1-p), keep about 1-p, repeat for the same (seed,
 * step), change with the step, and the backward must use the same mask. */
static void test_dropout(void)
{
    ct_graph *g;
    ct_graph_create(&g);
    int64_t n = 10000;
    float *v = malloc((size_t)n * sizeof *v), *first = malloc((size_t)n * sizeof *first);
    for (int64_t i = 0; i < n; i++)
        v[i] = 1.0f + (float)(i % 7);
    ct_graph_set_seed(g, 42, 3);
    ct_tensor *x = ct_tensor_from(g, v, 1, &n, 1);
    ct_tensor *y = ct_dropout(g, x, 0.25f);
    int64_t kept = 0, wrong = 0;
    for (int64_t i = 0; i < n; i++) {
        float r = y->data[i] / v[i];
        kept += r != 0;
        wrong += r != 0 && fabsf(r - 1.0f / 0.75f) > 1e-6f;
        first[i] = y->data[i];
    }
    CHECK(wrong == 0, "dropout: %lld kept values not scaled by 1/(1-p)", (long long)wrong);
    CHECK(llabs(kept - 7500) < 250, "dropout: kept %lld of 10000 at p=0.25", (long long)kept);
    ct_backward(g, ct_sum(g, y));
    int64_t gbad = 0;
    for (int64_t i = 0; i < n; i++)
        gbad += fabsf(x->grad[i] - y->data[i] / v[i]) > 1e-6f;
    CHECK(gbad == 0, "dropout: backward differs from the mask at %lld elements", (long long)gbad);
    ct_graph_reset(g);
    x = ct_tensor_from(g, v, 1, &n, 0);
    y = ct_dropout(g, x, 0.25f);
    CHECK(!memcmp(y->data, first, (size_t)n * sizeof *first), "dropout: not repeatable");
    ct_graph_reset(g);
    ct_graph_set_seed(g, 42, 4);
    y = ct_dropout(g, ct_tensor_from(g, v, 1, &n, 0), 0.25f);
    CHECK(memcmp(y->data, first, (size_t)n * sizeof *first), "dropout: same mask at another step");
    ct_graph_set_training(g, 0);
    y = ct_dropout(g, x, 0.25f);
    CHECK(y == x, "dropout: not the identity in evaluation");
    free(v);
    free(first);
    ct_graph_destroy(g);
    printf("nn dropout: kept %lld of %lld at p=0.25\n", (long long)kept, (long long)n);
}

/* Errors are sticky and named. */
static void test_errors(void)
{
    ct_graph *g;
    ct_graph_create(&g);
    int64_t s1[2] = {2, 3}, s2[2] = {4, 5};
    ct_tensor *a = ct_tensor_new(g, 2, s1, 1), *b = ct_tensor_new(g, 2, s2, 1);
    ct_tensor *y = ct_matmul(g, a, b);
    CHECK(!y && ct_graph_status(g) == CT_EINVAL, "matmul shape mismatch accepted");
    CHECK(strstr(ct_graph_errmsg(g), "[2, 3]") != NULL, "message lacks the shape: %s",
          ct_graph_errmsg(g));
    CHECK(!ct_relu(g, a), "an op ran after an error");
    CHECK(ct_backward(g, a) == CT_ESTATE, "backward ran after an error");
    ct_graph_reset(g);
    CHECK(ct_graph_status(g) == CT_OK, "reset did not clear the error");
    ct_graph_destroy(g);

    ct_model *m;
    int64_t in[3] = {1, 8, 8};
    ct_model_create(&m, 3, in);
    CHECK(ct_model_add(m, "conv3d", "") == CT_EINVAL && strstr(ct_model_errmsg(m), "conv3d"),
          "unknown layer: %s", ct_model_errmsg(m));
    CHECK(ct_model_add(m, "conv2d", "out_channels=4 kernel_size=3 colour=1") == CT_EINVAL &&
              strstr(ct_model_errmsg(m), "colour"), "unknown option: %s", ct_model_errmsg(m));
    CHECK(ct_model_add(m, "conv2d", "in_channels=3 out_channels=4 kernel_size=3") ==
              CT_EMISMATCH, "channel mismatch accepted: %s", ct_model_errmsg(m));
    CHECK(ct_model_add(m, "linear", "out_features=3") == CT_OK, "linear on [1, 8, 8]");
    CHECK(ct_model_add(m, "conv2d", "out_channels=4 kernel_size=9") == CT_EMISMATCH,
          "oversized kernel accepted: %s", ct_model_errmsg(m));
    CHECK(ct_model_add(m, "groupnorm", "") == CT_EINVAL &&
              strstr(ct_model_errmsg(m), "num_groups is required"),
          "groupnorm without num_groups: %s", ct_model_errmsg(m));
    CHECK(ct_model_add(m, "linear", "") == CT_EINVAL &&
              strstr(ct_model_errmsg(m), "out_features is required"),
          "linear without out_features: %s", ct_model_errmsg(m));
    CHECK(ct_model_num_layers(m) == 1, "a refused layer was added");
    ct_model_destroy(m);

    int64_t in1[1] = {8};
    ct_model_create(&m, 1, in1);
    ct_model_add(m, "linear", "out_features=8");
    ct_model_add(m, "residual", "layers=2");
    ct_model_add(m, "linear", "out_features=4");
    CHECK(ct_model_add(m, "relu", "") == CT_EMISMATCH && strstr(ct_model_errmsg(m), "[8]"),
          "a residual block that changes the shape was accepted: %s", ct_model_errmsg(m));
    CHECK(ct_model_build(m, 1) == CT_EINVAL, "a residual block past the end was built");
    ct_model_destroy(m);
}

/* A steady training loop allocates nothing after its first step: the arena
 * keeps (and coalesces) its memory, the model's gradients are in place. */
static void test_steady_memory(void)
{
    ct_model *m;
    int64_t in[3] = {1, 8, 8};
    ct_model_create(&m, 3, in);
    ct_model_add(m, "conv2d", "out_channels=4 kernel_size=3 padding=1");
    ct_model_add(m, "batchnorm2d", "");
    ct_model_add(m, "relu", "");
    ct_model_add(m, "flatten", "");
    ct_model_add(m, "dropout", "p=0.1");
    ct_model_add(m, "linear", "out_features=10");
    CHECK(!ct_model_build(m, 3), "steady: build: %s", ct_model_errmsg(m));
    ct_graph *g;
    ct_graph_create(&g);
    float x[16 * 64];
    int64_t y[16], xs[4] = {16, 1, 8, 8};
    for (int i = 0; i < 16 * 64; i++)
        x[i] = (float)((i * 37) % 17) / 17.0f;
    for (int i = 0; i < 16; i++)
        y[i] = i % 10;
    size_t mem[6];
    for (int step = 0; step < 6; step++) {
        ct_graph_reset(g);
        ct_graph_set_seed(g, 1, (uint64_t)step);
        ct_tensor *loss = ct_cross_entropy(
            g, ct_model_forward(m, g, ct_tensor_from(g, x, 4, xs, 0)), y, NULL);
        ct_model_zero_grad(m);
        CHECK(loss && !ct_backward(g, loss), "steady: step %d: %s", step, ct_graph_errmsg(g));
        mem[step] = ct_graph_memory(g);
    }
    CHECK(mem[2] == mem[5] && mem[1] == mem[5], "steady: arena grew after the first steps: %zu %zu %zu",
          mem[1], mem[2], mem[5]);
    ct_graph_destroy(g);
    ct_model_destroy(m);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: test_nn_ops REFS_DIR\n");
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    test_ops(argv[1]);
    test_model(argv[1], "cnn");
    test_model(argv[1], "res");
    test_model(argv[1], "emb");
    test_dropout();
    test_errors();
    test_steady_memory();
    if (failures) {
        printf("nn ops: %d failures\n", failures);
        return 1;
    }
    printf("nn ops: all passed\n");
    return 0;
}
