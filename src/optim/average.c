/* Weight averaging (include/ctrain/average.h).
 *
 * Source: torch/optim/swa_utils.py (PyTorch 2.x), AveragedModel.
 * update_parameters: the first update copies; later ones apply avg_fn or
 * multi_avg_fn, then n_averaged += 1. With neither given, on CPU (no
 * foreach kernels) it is get_swa_avg_fn:
 *   averaged + (current - averaged) / (n_averaged + 1)
 * where n_averaged is an integer tensor, so the divisor is the count
 * rounded to the parameter's type. get_ema_multi_avg_fn(decay) is
 * torch._foreach_lerp_(ema, current, 1 - decay): the weight, a Python
 * float, rounded to the parameter's type (its opmath type), then
 * aten's lerp (ATen/native/Lerp.h): |w| < 0.5 ? a + w (c - a)
 * : c - (c - a) (1 - w), which the CPU kernels evaluate with fused
 * multiply-adds. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../core/cpu.h"
#include "../core/error.h"
#include "../core/opts.h"
#include "../core/pool.h"
#include "ctrain/average.h"

enum { AVG_SWA, AVG_EMA };

static const ct_opt_desc ema_opts[] = {
    {"decay", CT_OPT_REAL, 1, 0, {0.999}, 0, 1, 0, 0},
};

struct ct_avg {
    ct_err err;
    int kind;
    double decay;
    int64_t n_averaged;
    ct_pool *pool; /* NULL: one thread */
};

/* Below this many elements an update runs on the caller alone: waking the
 * workers costs more than the work. */
#define AVG_SERIAL_BELOW (1u << 16)

ct_status ct_avg_create(ct_avg **out, const char *kind, const char *options)
{
    if (!out)
        return ct_fail(NULL, CT_EINVAL, "ct_avg_create: out is NULL");
    *out = NULL;
    if (!kind)
        return ct_fail(NULL, CT_EINVAL, "ct_avg_create: kind is NULL");
    int k;
    if (!strcmp(kind, "swa"))
        k = AVG_SWA;
    else if (!strcmp(kind, "ema"))
        k = AVG_EMA;
    else
        return ct_fail(NULL, CT_EINVAL, "ct_avg_create: unknown kind '%s' (known: swa, ema)",
                       kind);
    ct_err e;
    double v[1];
    ct_opts_defaults(ema_opts, 1, v);
    ct_status st = ct_opts_parse(ema_opts, k == AVG_EMA ? 1 : 0, kind, options, v, NULL, &e);
    if (st)
        return ct_fail(NULL, st, "%s", e.msg);
    ct_avg *a = calloc(1, sizeof *a);
    if (!a)
        return ct_fail(NULL, CT_ENOMEM, "ct_avg_create: out of memory");
    a->kind = k;
    a->decay = v[0];
    *out = a;
    return CT_OK;
}

static ct_status check_pairs(ct_avg *a, const ct_param *avg, const ct_param *cur, size_t n)
{
    const char *me = "ct_avg_update";
    if (!avg || !cur)
        return ct_fail(&a->err, CT_EINVAL, "%s: %s is NULL", me, avg ? "cur" : "avg");
    if (n == 0)
        return ct_fail(&a->err, CT_EINVAL, "%s: n is 0 (no tensors given)", me);
    for (size_t i = 0; i < n; i++) {
        const ct_param *p = &avg[i], *c = &cur[i];
        if (!p->data || !c->data)
            return ct_fail(&a->err, CT_EINVAL, "%s: tensor %zu: %s data is NULL", me, i,
                           p->data ? "the current" : "the averaged");
        if (p->numel == 0 || p->numel != c->numel)
            return ct_fail(&a->err, CT_EINVAL,
                           "%s: tensor %zu: the averaged copy has %zu elements, the current "
                           "tensor %zu (they must be equal and > 0)", me, i, p->numel, c->numel);
        if (p->dtype != c->dtype)
            return ct_fail(&a->err, CT_EINVAL,
                           "%s: tensor %zu: the averaged copy's dtype %d differs from the "
                           "current tensor's %d", me, i, (int)p->dtype, (int)c->dtype);
        if (p->dtype != CT_F32 && p->dtype != CT_F64)
            return ct_fail(&a->err, CT_EUNSUPPORTED,
                           "%s: tensor %zu: dtype %d: only float32 and float64 are averaged", me,
                           i, (int)p->dtype);
        size_t bytes = p->numel * (p->dtype == CT_F64 ? 8 : 4);
        const char *pa = p->data, *pc = c->data;
        if (pa < pc + bytes && pc < pa + bytes)
            return ct_fail(&a->err, CT_EINVAL,
                           "%s: tensor %zu: the averaged copy and the current tensor overlap",
                           me, i);
    }
    return CT_OK;
}

/* The loops: one per dtype and kind (and, on x86-64, again compiled for
 * AVX2+FMA, where fma is one instruction and the loops vectorize), each
 * element read and written once. */
#define AVG_LOOPS(T, FMA, SUFFIX, ATTR)                                                         \
    ATTR static void swa_##T##SUFFIX(T *restrict a, const T *restrict c, size_t n, T count)    \
    {                                                                                           \
        for (size_t i = 0; i < n; i++)                                                          \
            a[i] = a[i] + (c[i] - a[i]) / count;                                                \
    }                                                                                           \
    ATTR static void lerp_##T##SUFFIX(T *restrict a, const T *restrict c, size_t n, T w)       \
    {                                                                                           \
        if (fabs((double)w) < 0.5) {                                                            \
            for (size_t i = 0; i < n; i++)                                                      \
                a[i] = FMA(w, c[i] - a[i], a[i]);                                               \
        } else {                                                                                \
            T v = (T)1 - w;                                                                     \
            for (size_t i = 0; i < n; i++)                                                      \
                a[i] = FMA(-(c[i] - a[i]), v, c[i]);                                            \
        }                                                                                       \
    }
AVG_LOOPS(float, fmaf, , )
AVG_LOOPS(double, fma, , )
#if defined(__x86_64__) && defined(__GNUC__)
#define CT_AVG_X86 1
#define ATTR_AVX2 __attribute__((target("avx2,fma")))
AVG_LOOPS(float, fmaf, _avx2, ATTR_AVX2)
AVG_LOOPS(double, fma, _avx2, ATTR_AVX2)
#endif

/* Averages elements [b, e) of one tensor pair (checked) per the handle's
 * kind and count. */
static void update_one(const ct_avg *a, const ct_param *avg, const ct_param *cur, size_t b,
                       size_t e, int avx2)
{
    size_t k = e - b, sz = avg->dtype == CT_F64 ? 8 : 4;
    double w = 1 - a->decay;
    (void)avx2;
    if (a->n_averaged == 0) {
        memcpy((char *)avg->data + b * sz, (const char *)cur->data + b * sz, k * sz);
    } else if (avg->dtype == CT_F32) {
        float *d = (float *)avg->data + b, count = (float)(a->n_averaged + 1);
        const float *c = (const float *)cur->data + b;
#ifdef CT_AVG_X86
        if (avx2)
            a->kind == AVG_SWA ? swa_float_avx2(d, c, k, count) : lerp_float_avx2(d, c, k, (float)w);
        else
#endif
            a->kind == AVG_SWA ? swa_float(d, c, k, count) : lerp_float(d, c, k, (float)w);
    } else {
        double *d = (double *)avg->data + b, count = (double)(a->n_averaged + 1);
        const double *c = (const double *)cur->data + b;
#ifdef CT_AVG_X86
        if (avx2)
            a->kind == AVG_SWA ? swa_double_avx2(d, c, k, count) : lerp_double_avx2(d, c, k, w);
        else
#endif
            a->kind == AVG_SWA ? swa_double(d, c, k, count) : lerp_double(d, c, k, w);
    }
}

typedef struct update_job {
    const ct_avg *a;
    const ct_param *avg, *cur;
    size_t n;
    int avx2;
} update_job;

/* Thread tid's contiguous share of every tensor: each element is computed
 * alone, so the bits do not depend on the split. */
static void update_part(void *ctx, int tid, int nthreads)
{
    const update_job *j = ctx;
    for (size_t i = 0; i < j->n; i++) {
        size_t b, e;
        ct_pool_split(j->avg[i].numel, tid, nthreads, &b, &e);
        if (b < e)
            update_one(j->a, &j->avg[i], &j->cur[i], b, e, j->avx2);
    }
}

ct_status ct_avg_update(ct_avg *a, const ct_param *avg, const ct_param *cur, size_t n)
{
    if (!a)
        return ct_fail(NULL, CT_EINVAL, "ct_avg_update: handle is NULL");
    ct_status st = check_pairs(a, avg, cur, n);
    if (st)
        return st;
    if (a->n_averaged == INT64_MAX)
        return ct_fail(&a->err, CT_ESTATE, "ct_avg_update: the update count would overflow");
    update_job job = {a, avg, cur, n, ct_cpu_supports(CT_CPU_AVX2)};
    size_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += avg[i].numel;
    ct_pool_run(total < AVG_SERIAL_BELOW ? NULL : a->pool, update_part, &job);
    a->n_averaged++;
    return CT_OK;
}

ct_status ct_avg_count(const ct_avg *a, int64_t *n_averaged)
{
    if (!a || !n_averaged)
        return ct_fail(a ? (ct_err *)&a->err : NULL, CT_EINVAL, "ct_avg_count: NULL argument");
    *n_averaged = a->n_averaged;
    return CT_OK;
}

ct_status ct_avg_set_count(ct_avg *a, int64_t n_averaged)
{
    if (!a)
        return ct_fail(NULL, CT_EINVAL, "ct_avg_set_count: handle is NULL");
    if (n_averaged < 0)
        return ct_fail(&a->err, CT_EINVAL, "ct_avg_set_count: n_averaged=%lld must be >= 0",
                       (long long)n_averaged);
    a->n_averaged = n_averaged;
    return CT_OK;
}

ct_status ct_avg_set_threads(ct_avg *a, int threads)
{
    if (!a)
        return ct_fail(NULL, CT_EINVAL, "ct_avg_set_threads: handle is NULL");
    if (threads < 1 || threads > 1024)
        return ct_fail(&a->err, CT_EINVAL, "ct_avg_set_threads: threads=%d must be in [1, 1024]",
                       threads);
    ct_pool *p = NULL;
    if (threads > 1) {
        ct_status st = ct_pool_create(&p, threads, &a->err);
        if (st)
            return st;
    }
    ct_pool_destroy(a->pool);
    a->pool = p;
    return CT_OK;
}

const char *ct_avg_errmsg(const ct_avg *a) { return a ? a->err.msg : ""; }

void ct_avg_destroy(ct_avg *a)
{
    if (!a)
        return;
    ct_pool_destroy(a->pool);
    free(a);
}
