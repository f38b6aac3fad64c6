/* ctrain_bfo_bench — evaluations per second of ctrain's BFO engine driven
 * through its C API (include/ctrain/bfo.h) on a cheap C objective, with no
 * Python anywhere in the loop. Time is the process's CPU time (one thread).
 * Used by bench/bfo_bench.py (make bench) for the "C objective" column of
 * docs/benchmarks/bfo.md.
 *
 * The objective is the shifted sphere of BBOB f1 (Hansen et al., "Real-
 * parameter black-box optimization benchmarking 2009: noiseless functions
 * definitions", f1: ||x - x_opt||^2 + f_opt), evaluated a batch of rows per
 * callback as the engine hands them over.
 *
 * usage: ctrain_bfo_bench DIM MAX_FE [KIND:OPTIONS ...]
 *   KIND is bfo, adaptive or hybrid; OPTIONS the engine's option text
 *   (may be empty). Without KIND arguments the three kinds run with their
 *   defaults. Prints one JSON object per kind on stdout:
 *   {"driver": ..., "objective": ..., "dim": ..., "evals": ..., "evals_per_s": ...}
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctrain/bfo.h"

typedef struct {
    const double *xopt;
    double fopt;
} sphere_ctx;

/* The shifted sphere at n_points points; its gradient too when grad is set. */
static ct_status sphere_grad(void *ctx, const double *x, size_t n_points, size_t dim,
                             double *fitness, double *grad) {
    const sphere_ctx *s = ctx;
    for (size_t i = 0; i < n_points; ++i) {
        const double *xi = x + i * dim;
        double acc = 0.0;
        for (size_t j = 0; j < dim; ++j) {
            double d = xi[j] - s->xopt[j];
            acc += d * d;
            if (grad)
                grad[i * dim + j] = 2.0 * d;
        }
        fitness[i] = acc + s->fopt;
    }
    return CT_OK;
}

static ct_status sphere(void *ctx, const double *x, size_t n_points, size_t dim, double *fitness) {
    return sphere_grad(ctx, x, n_points, dim, fitness, NULL);
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts); /* CPU time: the machine may be shared */
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static const char *driver_name(const char *kind) {
    if (strcmp(kind, "adaptive") == 0) return "ctrain AdaptiveBFO (C API)";
    if (strcmp(kind, "hybrid") == 0) return "ctrain HybridBFO (C API)";
    return "ctrain BFO (C API)";
}

/* One timed run: returns 0 and fills *evals and *secs, or prints the error. */
static int run(const char *kind, const char *opts, size_t dim, unsigned long long max_fe,
               double *evals, double *secs) {
    double *xopt = malloc(dim * sizeof *xopt), *x = malloc(dim * sizeof *x);
    double *lo = malloc(dim * sizeof *lo), *hi = malloc(dim * sizeof *hi);
    char text[4096];
    ct_bfo *b = NULL;
    int rc = 1;
    if (!xopt || !x || !lo || !hi) goto done;
    for (size_t j = 0; j < dim; ++j) {  /* a fixed x_opt inside [-4, 4] */
        xopt[j] = -4.0 + 8.0 * (double)((j * 7919u) % 101u) / 100.0;
        x[j] = 0.0;
        lo[j] = -5.0;
        hi[j] = 5.0;
    }
    sphere_ctx ctx = {xopt, 79.48};
    snprintf(text, sizeof text, "%s max_fe=%llu seed=1", opts, max_fe);
    if (ct_bfo_create(&b, kind, dim, text) != CT_OK) {
        fprintf(stderr, "ctrain_bfo_bench: %s\n", ct_errmsg());
        goto done;
    }
    if (ct_bfo_set_fitness(b, sphere, &ctx, 1) != CT_OK || ct_bfo_set_bounds(b, lo, hi) != CT_OK ||
        (strcmp(kind, "hybrid") == 0 && ct_bfo_set_gradient(b, sphere_grad, &ctx, 1) != CT_OK)) {
        fprintf(stderr, "ctrain_bfo_bench: %s\n", ct_bfo_errmsg(b));
        goto done;
    }
    ct_bfo_stats st;
    double t0 = now();
    for (;;) {
        if (ct_bfo_step(b, x, 0, NULL) != CT_OK) {
            fprintf(stderr, "ctrain_bfo_bench: %s\n", ct_bfo_errmsg(b));
            goto done;
        }
        if (ct_bfo_stats_get(b, &st) != CT_OK) goto done;
        if (st.stopped || st.n_evals >= max_fe) break;
    }
    *secs = now() - t0;
    *evals = (double)st.n_evals;
    rc = 0;
done:
    ct_bfo_destroy(b);
    free(xopt);
    free(x);
    free(lo);
    free(hi);
    return rc;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s DIM MAX_FE [KIND:OPTIONS ...]\n", argv[0]);
        return 2;
    }
    size_t dim = (size_t)strtoull(argv[1], NULL, 10);
    unsigned long long max_fe = strtoull(argv[2], NULL, 10);
    static const char *defaults[] = {"bfo:", "adaptive:", "hybrid:"};
    int n = argc > 3 ? argc - 3 : 3;
    for (int i = 0; i < n; ++i) {
        const char *arg = argc > 3 ? argv[3 + i] : defaults[i];
        char kind[32];
        const char *colon = strchr(arg, ':');
        size_t klen = colon ? (size_t)(colon - arg) : strlen(arg);
        if (klen == 0 || klen >= sizeof kind) {
            fprintf(stderr, "ctrain_bfo_bench: bad argument %s\n", arg);
            return 2;
        }
        memcpy(kind, arg, klen);
        kind[klen] = '\0';
        const char *opts = colon ? colon + 1 : "";
        double best = 0.0, evals = 0.0;
        for (int rep = 0; rep < 3; ++rep) {  /* best of three */
            double e, s;
            if (run(kind, opts, dim, max_fe, &e, &s) != 0) return 1;
            if (e / s > best) best = e / s;
            evals = e;
        }
        printf("{\"driver\": \"%s\", \"objective\": \"C sphere (callback in C, no Python)\", "
               "\"dim\": %zu, \"evals\": %.0f, \"evals_per_s\": %.6g}\n",
               driver_name(kind), dim, evals, best);
    }
    return 0;
}
