/* ctrain_bench: the machine's memory bandwidth (STREAM triad) and the
 * optimizer engine's speed, measured side by side in one run.
 *
 * usage: ctrain_bench [--quick] [--json FILE]
 * For each optimizer, size and thread count it prints params/s, the bytes
 * an update moves per second (param and state read and written, gradient
 * read) and that rate as a fraction of the triad bandwidth measured with the
 * same thread count. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/pool.h"
#include "ctrain/ctrain.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

typedef struct triad {
    float *a, *b, *c;
    size_t n;
} triad;

static void triad_run(void *ctx, int tid, int nt)
{
    triad *t = ctx;
    size_t b, e;
    ct_pool_split(t->n, tid, nt, &b, &e);
    for (size_t i = b; i < e; i++)
        t->a[i] = t->b[i] + 3.0f * t->c[i];
}

static void triad_init(void *ctx, int tid, int nt)
{
    triad *t = ctx; /* first touch by the thread that will use the pages */
    size_t b, e;
    ct_pool_split(t->n, tid, nt, &b, &e);
    for (size_t i = b; i < e; i++)
        t->a[i] = 0, t->b[i] = 1, t->c[i] = 2;
}

/* Best-of-5 triad bandwidth in bytes/s (3 arrays of 4-byte floats). */
static double measure_triad(int threads)
{
    triad t = {.n = (size_t)1 << 25};
    t.a = malloc(t.n * 4), t.b = malloc(t.n * 4), t.c = malloc(t.n * 4);
    ct_pool *p = NULL;
    if (threads > 1 && ct_pool_create(&p, threads, NULL))
        exit(1);
    ct_pool_run(p, triad_init, &t);
    double best = 1e30;
    for (int r = 0; r < 5; r++) {
        double t0 = now();
        ct_pool_run(p, triad_run, &t);
        double dt = now() - t0;
        if (dt < best)
            best = dt;
    }
    ct_pool_destroy(p);
    free(t.a), free(t.b), free(t.c);
    return 3.0 * 4.0 * (double)t.n / best;
}

int main(int argc, char **argv)
{
    int quick = 0;
    const char *json_path = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--quick"))
            quick = 1;
        else if (!strcmp(argv[i], "--json") && i + 1 < argc)
            json_path = argv[++i];
        else {
            fprintf(stderr, "usage: ctrain_bench [--quick] [--json FILE]\n");
            return 2;
        }
    }
    int ncpu = (int)sysconf(_SC_NPROCESSORS_ONLN);
    int thread_counts[2] = {1, ncpu > 1 ? ncpu : 1};
    int n_tc = ncpu > 1 ? 2 : 1;
    double triad_bw[2];
    for (int k = 0; k < n_tc; k++)
        triad_bw[k] = measure_triad(thread_counts[k]);
    FILE *js = json_path ? fopen(json_path, "w") : NULL;
    if (json_path && !js) {
        fprintf(stderr, "cannot write %s\n", json_path);
        return 1;
    }
    if (js)
        fprintf(js, "{\"triad_bytes_per_s\": {\"1\": %.6g, \"%d\": %.6g}, \"cases\": [\n",
                triad_bw[0], thread_counts[n_tc - 1], triad_bw[n_tc - 1]);
    printf("triad: %.1f GB/s (1 thread)", triad_bw[0] / 1e9);
    if (n_tc > 1)
        printf(", %.1f GB/s (%d threads)", triad_bw[1] / 1e9, thread_counts[1]);
    printf("\n%-10s %10s %7s %12s %9s %8s\n", "optimizer", "params", "threads", "params/s",
           "GB/s", "/triad");
    size_t sizes[] = {100000, 1000000, 10000000};
    size_t n_sizes = quick ? 2 : 3;
    int first = 1;
    for (size_t ki = 0; ct_optim_kind_name(ki); ki++) {
        const char *name = ct_optim_kind_name(ki);
        for (size_t si = 0; si < n_sizes; si++)
            for (int k = 0; k < n_tc; k++) {
                size_t n = sizes[si];
                float *p = malloc(n * 4), *g = malloc(n * 4);
                for (size_t i = 0; i < n; i++)
                    p[i] = 0.01f * (float)(i % 100), g[i] = 0.001f * (float)(i % 37) - 0.01f;
                ct_optim *o = NULL;
                ct_param prm = {.data = p, .grad = g, .numel = n, .dtype = CT_F32, .ndim = 2,
                                .shape = {(int64_t)(n / 1000), 1000}};
                if (ct_optim_create(&o, name, NULL) || ct_optim_add_group(o, &prm, 1, NULL, NULL) ||
                    ct_optim_set_threads(o, thread_counts[k]) ||
                    ct_optim_set_nonfinite_policy(o, CT_NONFINITE_NONE)) {
                    ct_optim_destroy(o);
                    free(p), free(g);
                    continue; /* not available in this build */
                }
                size_t n_state = 0, state_elems = 0;
                ct_optim_state_count(o, 0, 0, &n_state);
                for (size_t b = 0; b < n_state; b++) {
                    size_t ne;
                    ct_optim_state_buffer(o, 0, 0, b, NULL, NULL, &ne);
                    state_elems += ne;
                }
                ct_optim_step(o); /* first step initialises state */
                int iters = 0;
                double t0 = now(), dt;
                do {
                    ct_optim_step(o);
                    iters++;
                    dt = now() - t0;
                } while (dt < (quick ? 0.05 : 0.3) || iters < 3);
                double pps = (double)n * iters / dt;
                /* read p, g and state; write p and state */
                double bytes = (double)iters * (12.0 * (double)n + 8.0 * (double)state_elems) / dt;
                printf("%-10s %10zu %7d %12.4g %9.2f %8.2f\n", name, n, thread_counts[k], pps,
                       bytes / 1e9, bytes / triad_bw[k]);
                if (js)
                    fprintf(js,
                            "%s  {\"optimizer\": \"%s\", \"impl\": \"ctrain\", \"dtype\": \"f32\", "
                            "\"state_dtype\": \"f32\", \"n_params\": %zu, \"n_tensors\": 1, "
                            "\"threads\": %d, \"params_per_s\": %.6g, \"bytes_per_s\": %.6g, "
                            "\"triad_bytes_per_s\": %.6g}",
                            first ? "" : ",\n", name, n, thread_counts[k], pps, bytes, triad_bw[k]);
                first = 0;
                ct_optim_destroy(o);
                free(p), free(g);
            }
    }
    if (js) {
        fprintf(js, "\n]}\n");
        fclose(js);
    }
    return 0;
}
