/* The graph: arena, tape, reverse-mode sweep, tensor creation and views.
 * Views (reshape, transpose, permute, slice) share data and grad with their
 * source, so they need no tape entry: gradients written through a view land
 * in the source's buffer. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "graph_impl.h"

#define ALIGN 64u
#define MIN_BLOCK (1u << 20)

static arena_block *block_new(size_t cap)
{
    arena_block *b = aligned_alloc(ALIGN, ALIGN + ((cap + ALIGN - 1) / ALIGN) * ALIGN);
    if (!b)
        return NULL;
    b->next = NULL;
    b->cap = cap;
    b->used = 0;
    return b;
}

ct_status ct_graph_create(ct_graph **out)
{
    if (!out)
        return ct_fail(NULL, CT_EINVAL, "ct_graph_create: out is NULL");
    ct_graph *g = calloc(1, sizeof *g);
    if (!g)
        return ct_fail(NULL, CT_ENOMEM, "ct_graph_create: out of memory");
    ct_status st = ct_blas_open(&g->blas, NULL);
    if (st) {
        free(g);
        return st;
    }
    g->training = 1;
    *out = g;
    return CT_OK;
}

void ct_graph_destroy(ct_graph *g)
{
    if (!g)
        return;
    for (arena_block *b = g->blocks, *n; b; b = n) {
        n = b->next;
        free(b);
    }
    free(g->nodes);
    ct_blas_close(&g->blas);
    free(g);
}

ct_status ct_graph_set_blas_threads(ct_graph *g, int threads)
{
    if (!g)
        return ct_fail(NULL, CT_EINVAL, "ct_graph_set_blas_threads: g is NULL");
    if (threads < 1 || threads > 1024)
        return ct_fail(&g->err, CT_EINVAL,
                       "ct_graph_set_blas_threads: threads=%d must be in [1, 1024]", threads);
    g->blas.set_threads(threads);
    return CT_OK;
}

void ct_graph_reset(ct_graph *g)
{
    if (!g)
        return;
    if (g->blocks && g->blocks->next) { /* coalesce into one block */
        size_t total = 0;
        for (arena_block *b = g->blocks, *n; b; b = n) {
            n = b->next;
            total += b->cap;
            free(b);
        }
        g->blocks = block_new(total);
        g->total = g->blocks ? total : 0;
    }
    if (g->blocks)
        g->blocks->used = 0;
    g->n_nodes = 0;
    g->status = CT_OK;
    g->err.msg[0] = 0;
    g->rand_calls = 0;
}

ct_status ct_graph_status(const ct_graph *g) { return g ? g->status : CT_EINVAL; }
const char *ct_graph_errmsg(const ct_graph *g) { return g ? g->err.msg : ""; }

int ct_graph_set_no_grad(ct_graph *g, int no_grad)
{
    int old = g->no_grad;
    g->no_grad = no_grad != 0;
    return old;
}

void ct_graph_set_training(ct_graph *g, int training) { g->training = training != 0; }
int ct_graph_training(const ct_graph *g) { return g->training; }

void ct_graph_set_seed(ct_graph *g, uint64_t seed, uint64_t step)
{
    g->seed = seed;
    g->step = step;
}

size_t ct_graph_memory(const ct_graph *g) { return g ? g->total : 0; }

ct_tensor *ct_graph_fail(ct_graph *g, ct_status st, const char *fmt, ...)
{
    if (g->status)
        return NULL;
    va_list ap;
    va_start(ap, fmt);
    char msg[CT_ERRMSG_CAP];
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    g->status = st;
    ct_fail(&g->err, st, "%s", msg);
    return NULL;
}

void *ct_arena_alloc(ct_graph *g, size_t bytes)
{
    bytes = (bytes + ALIGN - 1) / ALIGN * ALIGN;
    arena_block *b = g->blocks;
    if (!b || b->cap - b->used < bytes) {
        size_t cap = bytes > MIN_BLOCK ? bytes : MIN_BLOCK;
        if (g->total > cap)
            cap = g->total > bytes ? g->total : bytes; /* grow geometrically */
        arena_block *nb = block_new(cap);
        if (!nb) {
            ct_graph_fail(g, CT_ENOMEM, "graph arena: out of memory (%zu bytes)", cap);
            return NULL;
        }
        nb->next = b;
        g->blocks = b = nb;
        g->total += cap;
    }
    void *p = (char *)b + ALIGN + b->used;
    b->used += bytes;
    return p;
}

void *ct_arena_zalloc(ct_graph *g, size_t bytes)
{
    void *p = ct_arena_alloc(g, bytes);
    if (p)
        memset(p, 0, bytes);
    return p;
}

int ct_graph_ok(ct_graph *g, int n, ...)
{
    if (!g || g->status)
        return 0;
    va_list ap;
    va_start(ap, n);
    int ok = 1;
    for (int i = 0; i < n; i++)
        if (!va_arg(ap, const ct_tensor *))
            ok = 0;
    va_end(ap);
    if (!ok)
        ct_graph_fail(g, CT_EINVAL, "an operation was given a NULL tensor");
    return ok;
}

int ct_needs_grad(const ct_graph *g, int n, ...)
{
    if (g->no_grad)
        return 0;
    va_list ap;
    va_start(ap, n);
    int need = 0;
    for (int i = 0; i < n; i++) {
        const ct_tensor *t = va_arg(ap, const ct_tensor *);
        if (t && t->grad)
            need = 1;
    }
    va_end(ap);
    return need;
}

int64_t ct_shape_numel(int ndim, const int64_t *shape)
{
    int64_t n = 1;
    for (int i = 0; i < ndim; i++)
        n *= shape[i];
    return n;
}

void ct_set_contiguous_strides(ct_tensor *t)
{
    int64_t s = 1;
    for (int i = t->ndim - 1; i >= 0; i--) {
        t->stride[i] = s;
        s *= t->shape[i];
    }
    t->numel = s;
}

int ct_norm_dim(int dim, int ndim)
{
    if (dim < 0)
        dim += ndim;
    return dim >= 0 && dim < ndim ? dim : -1;
}

uint64_t ct_mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

const char *ct_shape_str(const ct_tensor *t, char *buf, size_t cap)
{
    size_t len = (size_t)snprintf(buf, cap, "[");
    for (int i = 0; i < t->ndim && len < cap; i++)
        len += (size_t)snprintf(buf + len, cap - len, "%s%lld", i ? ", " : "",
                                (long long)t->shape[i]);
    if (len < cap)
        snprintf(buf + len, cap - len, "]");
    return buf;
}

static ct_tensor *tensor_struct(ct_graph *g)
{
    ct_tensor *t = ct_arena_alloc(g, sizeof *t);
    if (t)
        memset(t, 0, sizeof *t);
    return t;
}

ct_tensor *ct_op_output(ct_graph *g, int ndim, const int64_t *shape, int grad)
{
    if (ndim < 0 || ndim > CT_MAX_DIMS)
        return ct_graph_fail(g, CT_EINVAL, "a tensor needs 0..%d dimensions, got %d", CT_MAX_DIMS,
                             ndim);
    for (int i = 0; i < ndim; i++)
        if (shape[i] < 0)
            return ct_graph_fail(g, CT_EINVAL, "negative dimension %lld",
                                 (long long)shape[i]);
    ct_tensor *t = tensor_struct(g);
    if (!t)
        return NULL;
    t->ndim = ndim;
    if (ndim)
        memcpy(t->shape, shape, (size_t)ndim * sizeof *shape);
    ct_set_contiguous_strides(t);
    size_t bytes = (size_t)t->numel * sizeof(float);
    t->data = ct_arena_alloc(g, bytes ? bytes : 1);
    if (grad && t->data)
        t->grad = ct_arena_zalloc(g, bytes ? bytes : 1);
    return g->status ? NULL : t;
}

ct_node *ct_record(ct_graph *g, ct_backward_fn fn, ct_tensor *out, int nin, ...)
{
    if (g->n_nodes == g->cap_nodes) {
        size_t cap = g->cap_nodes ? 2 * g->cap_nodes : 256;
        ct_node *nn = realloc(g->nodes, cap * sizeof *nn);
        if (!nn) {
            ct_graph_fail(g, CT_ENOMEM, "graph tape: out of memory");
            return NULL;
        }
        g->nodes = nn;
        g->cap_nodes = cap;
    }
    ct_node *n = &g->nodes[g->n_nodes++];
    memset(n, 0, sizeof *n);
    n->backward = fn;
    n->out = out;
    va_list ap;
    va_start(ap, nin);
    for (int i = 0; i < nin && i < 4; i++)
        n->in[i] = va_arg(ap, ct_tensor *);
    va_end(ap);
    return n;
}

ct_tensor *ct_tensor_new(ct_graph *g, int ndim, const int64_t *shape, int requires_grad)
{
    if (!ct_graph_ok(g, 0))
        return NULL;
    ct_tensor *t = ct_op_output(g, ndim, shape, requires_grad && !g->no_grad);
    if (t)
        memset(t->data, 0, (size_t)t->numel * sizeof(float));
    return t;
}

ct_tensor *ct_tensor_from(ct_graph *g, const float *data, int ndim, const int64_t *shape,
                          int requires_grad)
{
    if (!ct_graph_ok(g, 0))
        return NULL;
    ct_tensor *t = ct_op_output(g, ndim, shape, requires_grad && !g->no_grad);
    if (t)
        memcpy(t->data, data, (size_t)t->numel * sizeof(float));
    return t;
}

ct_tensor ct_tensor_wrap(float *data, float *grad, int ndim, const int64_t *shape)
{
    ct_tensor t;
    memset(&t, 0, sizeof t);
    t.data = data;
    t.grad = grad;
    t.ndim = ndim < 0 ? 0 : ndim > CT_MAX_DIMS ? CT_MAX_DIMS : ndim;
    for (int i = 0; i < t.ndim; i++)
        t.shape[i] = shape[i];
    ct_set_contiguous_strides(&t);
    return t;
}

int ct_tensor_is_contiguous(const ct_tensor *t)
{
    int64_t s = 1;
    for (int i = t->ndim - 1; i >= 0; i--) {
        if (t->shape[i] != 1 && t->stride[i] != s)
            return 0;
        s *= t->shape[i];
    }
    return 1;
}

static int64_t offset_of(const ct_tensor *t, int64_t flat)
{
    int64_t off = 0;
    for (int i = t->ndim - 1; i >= 0; i--) {
        off += (flat % t->shape[i]) * t->stride[i];
        flat /= t->shape[i];
    }
    return off;
}

float ct_tensor_get(const ct_tensor *t, int64_t i) { return t->data[offset_of(t, i)]; }

/* ---- views ---- */

static ct_tensor *view_of(ct_graph *g, const ct_tensor *x)
{
    ct_tensor *v = tensor_struct(g);
    if (v)
        *v = *x;
    return v;
}

ct_tensor *ct_reshape(ct_graph *g, ct_tensor *x, int ndim, const int64_t *shape)
{
    if (!ct_graph_ok(g, 1, x))
        return NULL;
    char sb[128];
    if (ndim < 0 || ndim > CT_MAX_DIMS)
        return ct_graph_fail(g, CT_EINVAL, "reshape: %d dimensions", ndim);
    int64_t known = 1;
    int infer = -1;
    int64_t sh[CT_MAX_DIMS];
    for (int i = 0; i < ndim; i++) {
        sh[i] = shape[i];
        if (shape[i] == -1 && infer < 0)
            infer = i;
        else if (shape[i] < 0)
            return ct_graph_fail(g, CT_EINVAL, "reshape: invalid dimension %lld",
                                 (long long)shape[i]);
        else
            known *= shape[i];
    }
    if (infer >= 0) {
        if (known == 0 || x->numel % known)
            return ct_graph_fail(g, CT_EINVAL, "reshape: %s cannot become a shape with -1",
                                 ct_shape_str(x, sb, sizeof sb));
        sh[infer] = x->numel / known;
        known *= sh[infer];
    }
    if (known != x->numel)
        return ct_graph_fail(g, CT_EINVAL, "reshape: %s has %lld elements, the new shape %lld",
                             ct_shape_str(x, sb, sizeof sb), (long long)x->numel,
                             (long long)known);
    ct_tensor *c = ct_contiguous(g, x);
    ct_tensor *v = c ? view_of(g, c) : NULL;
    if (!v)
        return NULL;
    v->ndim = ndim;
    memcpy(v->shape, sh, (size_t)ndim * sizeof *sh);
    ct_set_contiguous_strides(v);
    return v;
}

ct_tensor *ct_flatten(ct_graph *g, ct_tensor *x, int start_dim)
{
    if (!ct_graph_ok(g, 1, x))
        return NULL;
    int s = ct_norm_dim(start_dim, x->ndim);
    if (s < 0)
        return ct_graph_fail(g, CT_EINVAL, "flatten: start_dim %d out of range for %d dims",
                             start_dim, x->ndim);
    int64_t sh[CT_MAX_DIMS];
    for (int i = 0; i < s; i++)
        sh[i] = x->shape[i];
    sh[s] = ct_shape_numel(x->ndim - s, x->shape + s);
    return ct_reshape(g, x, s + 1, sh);
}

ct_tensor *ct_permute(ct_graph *g, ct_tensor *x, const int *perm)
{
    if (!ct_graph_ok(g, 1, x))
        return NULL;
    int seen[CT_MAX_DIMS] = {0};
    for (int i = 0; i < x->ndim; i++) {
        int p = ct_norm_dim(perm[i], x->ndim);
        if (p < 0 || seen[p]++)
            return ct_graph_fail(g, CT_EINVAL, "permute: not a permutation of %d dims", x->ndim);
    }
    ct_tensor *v = view_of(g, x);
    if (!v)
        return NULL;
    for (int i = 0; i < x->ndim; i++) {
        int p = ct_norm_dim(perm[i], x->ndim);
        v->shape[i] = x->shape[p];
        v->stride[i] = x->stride[p];
    }
    return v;
}

ct_tensor *ct_transpose(ct_graph *g, ct_tensor *x, int d0, int d1)
{
    if (!ct_graph_ok(g, 1, x))
        return NULL;
    int a = ct_norm_dim(d0, x->ndim), b = ct_norm_dim(d1, x->ndim);
    if (a < 0 || b < 0)
        return ct_graph_fail(g, CT_EINVAL, "transpose: dims %d, %d out of range for %d dims", d0,
                             d1, x->ndim);
    int perm[CT_MAX_DIMS];
    for (int i = 0; i < x->ndim; i++)
        perm[i] = i;
    perm[a] = b;
    perm[b] = a;
    return ct_permute(g, x, perm);
}

ct_tensor *ct_slice(ct_graph *g, ct_tensor *x, int dim, int64_t start, int64_t end)
{
    if (!ct_graph_ok(g, 1, x))
        return NULL;
    int d = ct_norm_dim(dim, x->ndim);
    if (d < 0 || start < 0 || end < start || end > x->shape[d])
        return ct_graph_fail(g, CT_EINVAL, "slice: [%lld, %lld) of dim %d is out of range",
                             (long long)start, (long long)end, dim);
    ct_tensor *v = view_of(g, x);
    if (!v)
        return NULL;
    v->data += start * x->stride[d];
    if (v->grad)
        v->grad += start * x->stride[d];
    v->shape[d] = end - start;
    v->numel = ct_shape_numel(v->ndim, v->shape);
    return v;
}

/* ---- contiguous copy ---- */

/* Calls fn(off_src, i) for each element in row-major order of t. */
static void strided_copy(const ct_tensor *t, const float *src, float *dst, int accumulate_back)
{
    int64_t idx[CT_MAX_DIMS] = {0};
    int64_t off = 0;
    for (int64_t i = 0; i < t->numel; i++) {
        if (accumulate_back)
            ((float *)src)[off] += dst[i]; /* src is the strided grad here */
        else
            dst[i] = src[off];
        for (int k = t->ndim - 1; k >= 0; k--) {
            off += t->stride[k];
            if (++idx[k] < t->shape[k])
                break;
            off -= t->stride[k] * t->shape[k];
            idx[k] = 0;
        }
    }
}

static void contiguous_backward(ct_graph *g, ct_node *n)
{
    (void)g;
    strided_copy(n->in[0], n->in[0]->grad, n->out->grad, 1);
}

ct_tensor *ct_contiguous(ct_graph *g, ct_tensor *x)
{
    if (!ct_graph_ok(g, 1, x))
        return NULL;
    if (ct_tensor_is_contiguous(x))
        return x;
    int ng = ct_needs_grad(g, 1, x);
    ct_tensor *y = ct_op_output(g, x->ndim, x->shape, ng);
    if (!y)
        return NULL;
    strided_copy(x, x->data, y->data, 0);
    if (ng)
        ct_record(g, contiguous_backward, y, 1, x);
    return g->status ? NULL : y;
}

/* ---- backward ---- */

ct_status ct_backward(ct_graph *g, ct_tensor *loss)
{
    if (!g)
        return ct_fail(NULL, CT_EINVAL, "ct_backward: graph is NULL");
    if (g->status)
        return ct_fail(NULL, CT_ESTATE, "ct_backward: the graph failed earlier: %s", g->err.msg);
    if (!loss || loss->numel != 1)
        return ct_fail(&g->err, CT_EINVAL, "ct_backward: the loss must be one element");
    if (!loss->grad)
        return ct_fail(&g->err, CT_ESTATE,
                       "ct_backward: the loss has no gradient (no_grad, or no input needs one)");
    loss->grad[0] += 1.0f;
    for (size_t i = g->n_nodes; i-- > 0;) {
        ct_node *n = &g->nodes[i];
        if (n->out->grad)
            n->backward(g, n);
    }
    return CT_OK;
}
