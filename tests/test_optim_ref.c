/* Replays PyTorch reference trajectories (tests/ref/gen_optim_refs.py)
 * through ctrain's engine and compares parameters, every state buffer, step
 * counts, learning rates and (with a schedule) momenta after every step:
 * |ctrain - torch| must be <= 1e-5 |torch| or <= 1e-7. Each case also runs with 1, 2 and 3 threads
 * and must give bit-identical results, and at every SIMD level the CPU has
 * (AVX2, AVX-512; 1 and 2 threads), which must give the scalar kernels'
 * bits.
 *
 * usage: test_optim_ref FILE.safetensors...                              */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctrain/ctrain.h"
#include "io/safetensors.h"
#include "sched_refs.h"

#define REL_TOL 1e-5
#define ABS_TOL 1e-7

typedef struct replay {
    const char *path;
    ct_st_file f;
    size_t n_params, n_groups;
    int steps;
    float **data, **grad; /* per parameter */
    size_t *numel;
    double max_rel;
    char where[256];
} replay;

static const ct_st_tensor *need(replay *r, const char *fmt, size_t i)
{
    char name[128];
    snprintf(name, sizeof name, fmt, i);
    const ct_st_tensor *t = ct_st_find(&r->f, name);
    if (!t) {
        fprintf(stderr, "%s: reference lacks tensor %s\n", r->path, name);
        exit(1);
    }
    return t;
}

static int close_enough(double a, double b) { return fabs(a - b) <= fmax(REL_TOL * fabs(b), ABS_TOL); }

static double rel_err(double a, double b)
{
    double d = fabs(a - b);
    return d <= ABS_TOL ? 0 : d / fabs(b);
}

/* Compares n floats; on the first mismatch prints where and returns 1. */
static int compare(replay *r, const char *what, int step, size_t i, const float *got,
                   const float *want, size_t n)
{
    for (size_t k = 0; k < n; k++) {
        double e = rel_err(got[k], want[k]);
        if (e > r->max_rel && close_enough(got[k], want[k]))
            r->max_rel = e;
        if (!close_enough(got[k], want[k]) || isnan(got[k]) != isnan(want[k])) {
            fprintf(stderr, "%s: step %d, param %zu, %s[%zu]: ctrain %.9g, torch %.9g\n", r->path,
                    step + 1, i, what, k, got[k], want[k]);
            return 1;
        }
    }
    return 0;
}

static int check(ct_status st, ct_optim *o, const char *what)
{
    if (st) {
        fprintf(stderr, "%s failed: %s: %s\n", what, ct_status_str(st),
                o ? ct_optim_errmsg(o) : ct_errmsg());
        return 1;
    }
    return 0;
}

/* The momentum a schedule cycles: betas[0], else momentum; 0 if none. */
static int get_momentum(ct_optim *o, size_t g, double *m)
{
    double v[2];
    size_t n;
    if (!ct_optim_get_option(o, g, "betas", v, 2, &n) ||
        !ct_optim_get_option(o, g, "momentum", v, 2, &n)) {
        *m = v[0];
        return 1;
    }
    return 0;
}

/* Runs the whole trajectory with `threads` threads, checks it against the
 * reference, and leaves the final parameters in r->data. Returns failures. */
static int run(replay *r, int level, int threads, ct_optim **out)
{
    const char *opt_name = ct_st_meta(&r->f, "optimizer");
    cJSON *groups = cJSON_Parse(ct_st_meta(&r->f, "groups"));
    cJSON *params = cJSON_Parse(ct_st_meta(&r->f, "params"));
    const char *sched_meta = ct_st_meta(&r->f, "sched");
    const char *la_meta = ct_st_meta(&r->f, "lookahead");
    int fails = 0;
    ct_optim *o = NULL;
    ct_sched *scheds[MAX_SCHEDS] = {0};
    int n_scheds = 0;
    if (check(ct_optim_create(&o, opt_name, NULL), NULL, "ct_optim_create"))
        return 1;
    /* every thread count takes part, however small the case */
    fails += check(ct_optim_set_serial_below(o, 0), o, "set_serial_below");
    fails += check(ct_optim_set_threads(o, threads), o, "set_threads");
    fails += check(ct_optim_set_simd(o, level), o, "set_simd");
    if (la_meta) {
        cJSON *la = cJSON_Parse(la_meta);
        fails += check(ct_optim_enable_lookahead(
                           o, cJSON_GetObjectItem(la, "k")->valueint,
                           cJSON_GetObjectItem(la, "alpha")->valuedouble),
                       o, "enable_lookahead");
        cJSON_Delete(la);
    }
    /* Parameters from their initial values; groups in order. */
    for (size_t i = 0; i < r->n_params; i++)
        memcpy(r->data[i], need(r, "p%zu.init", i)->data, r->numel[i] * sizeof(float));
    size_t first = 0;
    for (size_t g = 0; g < r->n_groups; g++) {
        ct_param ps[64];
        size_t n = 0;
        for (size_t i = 0; i < r->n_params; i++) {
            cJSON *pi = cJSON_GetArrayItem(params, (int)i);
            if ((size_t)cJSON_GetObjectItem(pi, "group")->valueint != g)
                continue;
            cJSON *shape = cJSON_GetObjectItem(pi, "shape");
            ct_param p = {.data = r->data[i], .grad = r->grad[i], .numel = r->numel[i],
                          .dtype = CT_F32, .ndim = cJSON_GetArraySize(shape)};
            for (int d = 0; d < p.ndim; d++)
                p.shape[d] = (int64_t)cJSON_GetArrayItem(shape, d)->valuedouble;
            ps[n++] = p;
        }
        (void)first;
        fails += check(ct_optim_add_group(o, ps, n,
                                          cJSON_GetArrayItem(groups, (int)g)->valuestring, NULL),
                       o, "add_group");
    }
    if (fails)
        goto out;
    if (sched_meta) {
        cJSON *js = cJSON_Parse(sched_meta);
        n_scheds = make_scheds(o, js, scheds);
        cJSON_Delete(js);
        if (n_scheds < 0) {
            fails++;
            goto out;
        }
    }
    const double *lr0 = need(r, "lr0", 0)->data;
    for (size_t g = 0; g < r->n_groups; g++) {
        double lr;
        ct_optim_get_lr(o, g, &lr);
        if (!close_enough(lr, lr0[g])) {
            fprintf(stderr, "%s: initial lr of group %zu: ctrain %.17g, torch %.17g\n", r->path, g,
                    lr, lr0[g]);
            fails++;
            goto out;
        }
    }
    const ct_st_tensor *metrics = ct_st_find(&r->f, "metrics");
    const double *lr_ref = need(r, "lr", 0)->data;
    /* Momentum (betas[0] or momentum) of each group after each step, when
     * the reference has it (schedules that cycle it); NaN: none. */
    const ct_st_tensor *mom_t = ct_st_find(&r->f, "mom");
    const double *mom_ref = mom_t ? mom_t->data : NULL;
    for (int t = 0; t < r->steps && !fails; t++) {
        /* Gradients of step t; parameters without one get grad NULL. */
        size_t k = 0;
        for (size_t g = 0; g < r->n_groups; g++)
            for (size_t i = 0, j = 0; i < r->n_params; i++) {
                cJSON *pi = cJSON_GetArrayItem(params, (int)i);
                if ((size_t)cJSON_GetObjectItem(pi, "group")->valueint != g)
                    continue;
                const uint8_t *has = need(r, "p%zu.has_grad", i)->data;
                const float *gr = need(r, "p%zu.grad", i)->data;
                memcpy(r->grad[i], gr + (size_t)t * r->numel[i], r->numel[i] * sizeof(float));
                ct_optim_set_buffers(o, g, j++, r->data[i], has[t] ? r->grad[i] : NULL);
                k++;
            }
        if (check(ct_optim_step(o), o, "step")) {
            fails++;
            break;
        }
        for (int si = 0; si < n_scheds; si++) {
            ct_sched *s = scheds[si];
            ct_status st = metrics ? ct_sched_step_metric(s, ((const double *)metrics->data)[t])
                                   : ct_sched_step(s);
            if (st) {
                fprintf(stderr, "%s: schedule step %d failed: %s\n", r->path, t + 1,
                        ct_sched_errmsg(s));
                fails++;
                break;
            }
        }
        if (fails)
            break;
        for (size_t g = 0; g < r->n_groups && mom_ref; g++) {
            double m = NAN, want = mom_ref[(size_t)t * r->n_groups + g];
            if (isnan(want))
                continue;
            if (!get_momentum(o, g, &m) || !close_enough(m, want)) {
                fprintf(stderr, "%s: step %d, momentum of group %zu: ctrain %.17g, torch %.17g\n",
                        r->path, t + 1, g, m, want);
                fails++;
            }
        }
        for (size_t g = 0; g < r->n_groups; g++) {
            double lr;
            ct_optim_get_lr(o, g, &lr);
            double want = lr_ref[(size_t)t * r->n_groups + g];
            if (!close_enough(lr, want)) {
                fprintf(stderr, "%s: step %d, lr of group %zu: ctrain %.17g, torch %.17g\n",
                        r->path, t + 1, g, lr, want);
                fails++;
            }
        }
        for (size_t g = 0; g < r->n_groups && !fails; g++)
            for (size_t i = 0, j = 0; i < r->n_params && !fails; i++) {
                cJSON *pi = cJSON_GetArrayItem(params, (int)i);
                if ((size_t)cJSON_GetObjectItem(pi, "group")->valueint != g)
                    continue;
                size_t idx = j++;
                const float *want = need(r, "p%zu.param", i)->data;
                fails += compare(r, "param", t, i, r->data[i], want + (size_t)t * r->numel[i],
                                 r->numel[i]);
                int64_t step;
                ct_optim_get_step(o, g, idx, &step);
                int64_t want_step = ((const int64_t *)need(r, "p%zu.step", i)->data)[t];
                if (want_step >= 0 && step != want_step) {
                    fprintf(stderr, "%s: step %d, param %zu: ctrain step count %lld, torch %lld\n",
                            r->path, t + 1, i, (long long)step, (long long)want_step);
                    fails++;
                }
                /* Every state tensor torch has must exist in ctrain and match. */
                char prefix[64];
                snprintf(prefix, sizeof prefix, "p%zu.state.", i);
                for (size_t ti = 0; ti < r->f.n && !fails; ti++) {
                    const ct_st_tensor *ref = &r->f.tensors[ti];
                    if (strncmp(ref->name, prefix, strlen(prefix)))
                        continue;
                    const char *key = ref->name + strlen(prefix);
                    size_t per_step = ref->numel / (size_t)r->steps, count, b;
                    ct_optim_state_count(o, g, idx, &count);
                    for (b = 0; b < count; b++) {
                        const char *name;
                        float *data;
                        size_t numel;
                        ct_optim_state_buffer(o, g, idx, b, &name, &data, &numel);
                        if (strcmp(name, key))
                            continue;
                        if (numel != per_step) {
                            fprintf(stderr, "%s: state %s of param %zu has %zu elements, torch "
                                    "%zu\n", r->path, key, i, numel, per_step);
                            fails++;
                        } else {
                            fails += compare(r, key, t, i, data,
                                             (const float *)ref->data + (size_t)t * per_step,
                                             per_step);
                        }
                        break;
                    }
                    if (b == count) {
                        fprintf(stderr, "%s: ctrain has no state '%s' for param %zu\n", r->path,
                                key, i);
                        fails++;
                    }
                }
            }
    }
out:
    cJSON_Delete(groups);
    cJSON_Delete(params);
    for (int k = 0; k < n_scheds; k++)
        ct_sched_destroy(scheds[k]);
    *out = o;
    return fails;
}

/* Saves the state into a buffer (for the bit-identical comparison). */
static void *snapshot(ct_optim *o, size_t *len)
{
    void *buf = NULL;
    if (ct_optim_save_mem(o, &buf, len)) {
        fprintf(stderr, "save_mem failed: %s\n", ct_optim_errmsg(o));
        exit(1);
    }
    return buf;
}

static int run_file(const char *path)
{
    replay r = {.path = path};
    ct_err e;
    if (ct_st_read_file(path, &r.f, &e)) {
        fprintf(stderr, "%s\n", e.msg);
        return 1;
    }
    cJSON *params = cJSON_Parse(ct_st_meta(&r.f, "params"));
    cJSON *groups = cJSON_Parse(ct_st_meta(&r.f, "groups"));
    r.n_params = (size_t)cJSON_GetArraySize(params);
    r.n_groups = (size_t)cJSON_GetArraySize(groups);
    r.steps = atoi(ct_st_meta(&r.f, "steps"));
    r.data = calloc(r.n_params, sizeof *r.data);
    r.grad = calloc(r.n_params, sizeof *r.grad);
    r.numel = calloc(r.n_params, sizeof *r.numel);
    for (size_t i = 0; i < r.n_params; i++) {
        r.numel[i] = need(&r, "p%zu.init", i)->numel;
        r.data[i] = malloc(r.numel[i] * sizeof(float));
        r.grad[i] = malloc(r.numel[i] * sizeof(float));
    }
    cJSON_Delete(params);
    cJSON_Delete(groups);
    int fails = 0;
    void *first = NULL;
    size_t first_len = 0;
    float **first_params = calloc(r.n_params, sizeof *first_params);
    /* (level, threads): scalar with 1, 2, 3 threads, then each SIMD level
     * the CPU has with 1 and 2 threads; all must give the first run's bits. */
    int runs[8][2] = {{CT_SIMD_SCALAR, 1}, {CT_SIMD_SCALAR, 2}, {CT_SIMD_SCALAR, 3}};
    int n_runs = 3;
    for (int l = CT_SIMD_AVX2; l <= CT_SIMD_AVX512; l++)
        if (ct_simd_supported(l)) {
            runs[n_runs][0] = l, runs[n_runs++][1] = 1;
            runs[n_runs][0] = l, runs[n_runs++][1] = 2;
        }
    for (int ri = 0; ri < n_runs && !fails; ri++) {
        int level = runs[ri][0], threads = runs[ri][1];
        ct_optim *o = NULL;
        fails += run(&r, level, threads, &o);
        if (!fails) {
            size_t len;
            void *snap = snapshot(o, &len);
            if (ri == 0) {
                first = snap;
                first_len = len;
                for (size_t i = 0; i < r.n_params; i++) {
                    first_params[i] = malloc(r.numel[i] * sizeof(float));
                    memcpy(first_params[i], r.data[i], r.numel[i] * sizeof(float));
                }
            } else {
                int same = len == first_len && !memcmp(snap, first, len);
                for (size_t i = 0; i < r.n_params; i++)
                    same &= !memcmp(first_params[i], r.data[i], r.numel[i] * sizeof(float));
                if (!same) {
                    fprintf(stderr,
                            "%s: %s with %d threads gives different bits than scalar with 1 "
                            "thread\n",
                            path, ct_simd_name(level), threads);
                    fails++;
                }
                free(snap);
            }
        }
        ct_optim_destroy(o);
    }
    printf("%-40s %s  max rel err %.2e\n", path + (strrchr(path, '/') ? strrchr(path, '/') - path + 1 : 0),
           fails ? "FAIL" : "ok  ", r.max_rel);
    free(first);
    for (size_t i = 0; i < r.n_params; i++) {
        free(r.data[i]);
        free(r.grad[i]);
        free(first_params[i]);
    }
    free(first_params);
    free(r.data);
    free(r.grad);
    free(r.numel);
    ct_st_free(&r.f);
    return fails ? 1 : 0;
}

int main(int argc, char **argv)
{
    int failed = 0, passed = 0;
    for (int i = 1; i < argc; i++) {
        if (run_file(argv[i]))
            failed++;
        else
            passed++;
    }
    printf("%d passed, %d failed\n", passed, failed);
    return failed || passed == 0;
}
