/* ctrain_bench: the machine's memory bandwidth (STREAM triad) and the
 * optimizer engine's speed. bench/optim_bench.py drives it case by case
 * (and times torch.optim on the same cases); alone it prints a short table.
 *
 * usage:
 *   ctrain_bench [--quick] [--json FILE]
 *       the short table: every optimizer, one tensor, 1 and all threads
 *   ctrain_bench triad THREADS
 *       one JSON line: the best-of-10 triad a = b + 3c on 3 x 2^25 floats
 *   ctrain_bench run OPTIMIZER TENSORS THREADS MIN_SECONDS [options]
 *       one JSON line for one case. TENSORS: comma list of sizes, "N*K" is
 *       K tensors of N elements ("50257*768" is not a product: write the
 *       element count). Options:
 *         --opts "k=v ..."   optimizer options
 *         --simd LEVEL       scalar | avx2 | avx512 (default: the best)
 *         --check            the non-finite check on (default off, as torch)
 *         --zero-grad        zero_grad_after_step on
 *         --grad-scale C     ct_optim_set_grad_scale(C)
 *         --label NAME       the "optimizer" field (default OPTIMIZER)
 *         --dtype T          f32 | bf16 | f16: parameters and gradients
 *       (reduced-precision state: --opts "state_dtype=int8" or "=bf16",
 *       an fp32 master copy of 16-bit parameters: "master_weights=true")
 *
 * Bytes per step: every parameter and state element read and written, every
 * gradient element read (12 + 8 x state floats per parameter; + 4 when the
 * gradients are zeroed). With --dtype bf16/f16 a parameter is 2 + 2 + 2 B;
 * a bf16 state element 2 + 2 B, an 8-bit one 1 + 1 B plus 8 B of absmax per
 * 256-element block (state buffers of fp32 tensors below min_8bit_size
 * count as fp32); the master copy 4 + 4 B (and the 16-bit parameter is then
 * only written, not read). The JSON also carries the peak resident memory of
 * the process during the steps against params + grads + state.            */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/pool.h"
#include "ctrain/ctrain.h"
#include "optim/precision.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ---- STREAM triad ------------------------------------------------------ */

typedef struct triad {
    float *a, *b, *c;
    size_t n;
} triad;

static void triad_run(void *ctx, int tid, int nt)
{
    triad *t = ctx;
    size_t b, e;
    ct_pool_split(t->n, tid, nt, &b, &e);
    float *restrict a = t->a;
    const float *restrict bb = t->b, *restrict c = t->c;
    for (size_t i = b; i < e; i++)
        a[i] = bb[i] + 3.0f * c[i];
}

static void triad_init(void *ctx, int tid, int nt)
{
    triad *t = ctx; /* first touch by the thread that will use the pages */
    size_t b, e;
    ct_pool_split(t->n, tid, nt, &b, &e);
    for (size_t i = b; i < e; i++)
        t->a[i] = 0, t->b[i] = 1, t->c[i] = 2;
}

/* Best-of-`reps` triad bandwidth in bytes/s, counted as STREAM counts it:
 * 3 arrays of 4-byte floats (the write-allocate read of a not counted). */
static double measure_triad(int threads, int reps)
{
    triad t = {.n = (size_t)1 << 25};
    t.a = malloc(t.n * 4), t.b = malloc(t.n * 4), t.c = malloc(t.n * 4);
    if (!t.a || !t.b || !t.c)
        exit(1);
    ct_pool *p = NULL;
    if (threads > 1 && ct_pool_create(&p, threads, NULL))
        exit(1);
    ct_pool_run(p, triad_init, &t);
    double best = 1e30;
    for (int r = 0; r < reps; r++) {
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

/* ---- resident memory ------------------------------------------------- */

/* A field of /proc/self/status in bytes (VmRSS, VmHWM), or 0. */
static double proc_status_bytes(const char *key)
{
    FILE *f = fopen("/proc/self/status", "r");
    if (!f)
        return 0;
    char line[256];
    double v = 0;
    size_t kl = strlen(key);
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, key, kl) && line[kl] == ':') {
            v = atof(line + kl + 1) * 1024.0;
            break;
        }
    fclose(f);
    return v;
}

/* ---- one case ---------------------------------------------------------- */

static int parse_tensors(const char *spec, size_t **out, size_t *n_out)
{
    size_t cap = 16, n = 0;
    size_t *v = malloc(cap * sizeof *v);
    const char *s = spec;
    while (*s) {
        char *end;
        unsigned long long numel = strtoull(s, &end, 10), count = 1;
        if (end == s || numel == 0)
            return -1;
        s = end;
        if (*s == '*') {
            count = strtoull(s + 1, &end, 10);
            if (end == s + 1 || count == 0)
                return -1;
            s = end;
        }
        for (unsigned long long k = 0; k < count; k++) {
            if (n == cap)
                v = realloc(v, (cap *= 2) * sizeof *v);
            v[n++] = (size_t)numel;
        }
        if (*s == ',')
            s++;
        else if (*s)
            return -1;
    }
    *out = v;
    *n_out = n;
    return n ? 0 : -1;
}

static int die(ct_optim *o, const char *what)
{
    fprintf(stderr, "ctrain_bench: %s: %s\n", what, o ? ct_optim_errmsg(o) : ct_errmsg());
    return 1;
}

static int run_case(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: ctrain_bench run OPTIMIZER TENSORS THREADS MIN_SECONDS ...\n");
        return 2;
    }
    const char *name = argv[0], *label = argv[0], *opts = NULL;
    int threads = atoi(argv[2]), check = 0, zero = 0, simd = CT_SIMD_AUTO, dtype = CT_F32;
    double min_time = atof(argv[3]), scale = 1.0;
    for (int i = 4; i < argc; i++) {
        if (!strcmp(argv[i], "--opts") && i + 1 < argc)
            opts = argv[++i];
        else if (!strcmp(argv[i], "--label") && i + 1 < argc)
            label = argv[++i];
        else if (!strcmp(argv[i], "--simd") && i + 1 < argc) {
            const char *l = argv[++i];
            simd = !strcmp(l, "scalar") ? CT_SIMD_SCALAR
                   : !strcmp(l, "avx2") ? CT_SIMD_AVX2
                   : !strcmp(l, "avx512") ? CT_SIMD_AVX512
                                          : -9;
        } else if (!strcmp(argv[i], "--check"))
            check = 1;
        else if (!strcmp(argv[i], "--zero-grad"))
            zero = 1;
        else if (!strcmp(argv[i], "--grad-scale") && i + 1 < argc)
            scale = atof(argv[++i]);
        else if (!strcmp(argv[i], "--dtype") && i + 1 < argc) {
            const char *d = argv[++i];
            dtype = !strcmp(d, "bf16") ? CT_BF16 : !strcmp(d, "f16") ? CT_F16 : CT_F32;
        } else {
            fprintf(stderr, "ctrain_bench run: unknown argument %s\n", argv[i]);
            return 2;
        }
    }
    size_t *numel, n_t;
    if (parse_tensors(argv[1], &numel, &n_t)) {
        fprintf(stderr, "ctrain_bench run: bad tensor list '%s'\n", argv[1]);
        return 2;
    }
    const double rss0 = proc_status_bytes("VmRSS");
    /* Parameters and gradients: one allocation each per tensor, as a
     * framework holds them, touched before the optimizer exists. */
    ct_param *ps = calloc(n_t, sizeof *ps);
    size_t n_params = 0;
    for (size_t t = 0; t < n_t; t++) {
        const size_t es = dtype == CT_F32 ? 4 : 2;
        size_t bytes = (numel[t] * es + 63) & ~(size_t)63;
        float *p = aligned_alloc(64, bytes), *g = aligned_alloc(64, bytes);
        if (!p || !g) {
            fprintf(stderr, "ctrain_bench: out of memory\n");
            return 1;
        }
        for (size_t i = 0; i < numel[t]; i++) {
            float pv = 0.01f * (float)(i % 100) - 0.5f, gv = 1e-4f * (float)(i % 37) - 1.8e-3f;
            if (es == 4) {
                p[i] = pv, g[i] = gv;
            } else { /* bf16 or fp16, rounded to nearest even */
                uint16_t *p16 = (uint16_t *)p, *g16 = (uint16_t *)g;
                if (dtype == CT_BF16)
                    p16[i] = ct_f32_to_bf16(pv), g16[i] = ct_f32_to_bf16(gv);
                else
                    p16[i] = ct_f32_to_f16(pv), g16[i] = ct_f32_to_f16(gv);
            }
        }
        ps[t] = (ct_param){.data = p, .grad = g, .numel = numel[t], .dtype = dtype};
        n_params += numel[t];
    }
    ct_optim *o = NULL;
    if (ct_optim_create(&o, name, opts))
        return die(NULL, "create");
    if (ct_optim_add_group(o, ps, n_t, NULL, NULL))
        return die(o, "add_group");
    if (ct_optim_set_threads(o, threads) || ct_optim_set_simd(o, simd) ||
        ct_optim_set_nonfinite_policy(o, check ? CT_NONFINITE_ERROR : CT_NONFINITE_NONE) ||
        ct_optim_set_zero_grad_after_step(o, zero) ||
        (scale != 1.0 && ct_optim_set_grad_scale(o, scale)))
        return die(o, "setup");
    int level = 0;
    ct_optim_get_simd(o, &level);
    /* state bytes moved per step (read + write) and held */
    double sdt_vals[2] = {0, 0}, min8[2] = {4096, 0};
    size_t cnt;
    ct_optim_get_option(o, 0, "state_dtype", sdt_vals, 2, &cnt);
    ct_optim_get_option(o, 0, "min_8bit_size", min8, 2, &cnt);
    const int sdt = (int)sdt_vals[0]; /* 0 fp32, 1 bf16, 2 int8 */
    double state_move = 0, state_held = 0, master_params = 0;
    for (size_t t = 0; t < n_t; t++) {
        size_t n_state = 0;
        ct_optim_state_count(o, 0, t, &n_state);
        for (size_t b = 0; b < n_state; b++) {
            const char *bn = NULL;
            size_t ne = 0;
            double held;
            if (!ct_optim_state_buffer(o, 0, t, b, &bn, NULL, &ne) &&
                (sdt == 0 || !strcmp(bn, "master") || (sdt == 2 && (double)numel[t] < min8[0]))) {
                held = 4.0 * (double)ne; /* an fp32 buffer */
                if (!strcmp(bn, "master"))
                    master_params += (double)numel[t]; /* the 16-bit param is only written */
            } else if (sdt == 1) {
                held = 2.0 * (double)numel[t];
            } else {
                held = (double)numel[t] + 4.0 * (double)((numel[t] + 255) / 256);
            }
            state_move += 2 * held;
            state_held += held;
        }
    }
    const double pg_bytes = dtype == CT_F32 ? 4.0 : 2.0;
    /* Two warm-up steps (the first initialises state), then steps until
     * MIN_SECONDS have passed (at least 3). With --zero-grad the gradients
     * are zero after the first step: the same memory traffic. */
    for (int w = 0; w < 2; w++)
        if (ct_optim_step(o))
            return die(o, "step");
    int iters = 0;
    double t0 = now(), dt, best = 1e30;
    do {
        double s0 = now();
        if (ct_optim_step(o))
            return die(o, "step");
        double s = now() - s0;
        best = s < best ? s : best;
        iters++;
        dt = now() - t0;
    } while (dt < min_time || iters < 3);
    const double peak = proc_status_bytes("VmHWM");
    /* Rates from the best step, as STREAM reports its best of several
     * runs (the machine may be shared); the mean is in the record too. */
    const double pps = (double)n_params / best;
    const double step_bytes =
        (3 * pg_bytes + (zero ? pg_bytes : 0.0)) * (double)n_params - pg_bytes * master_params +
        state_move;
    const double needed = 2 * pg_bytes * (double)n_params + state_held;
    static const char *const sdt_name[] = {"f32", "bf16", "int8"};
    printf("{\"optimizer\": \"%s\", \"impl\": \"ctrain\", \"dtype\": \"%s\", "
           "\"state_dtype\": \"%s\", \"n_params\": %zu, \"n_tensors\": %zu, \"threads\": %d, "
           "\"simd\": \"%s\", \"nonfinite_check\": %s, \"zero_grad\": %s, "
           "\"params_per_s\": %.6g, \"bytes_per_s\": %.6g, \"best_step_s\": %.6g, "
           "\"mean_step_s\": %.6g, \"steps\": %d, \"bytes_per_param\": %.4g, "
           "\"rss_before_bytes\": %.0f, \"rss_peak_bytes\": %.0f, "
           "\"params_grads_state_bytes\": %.0f}\n",
           label, dtype == CT_F32 ? "f32" : dtype == CT_BF16 ? "bf16" : "f16",
           sdt_name[sdt >= 0 && sdt <= 2 ? sdt : 0], n_params, n_t, threads, ct_simd_name(level),
           check ? "true" : "false",
           zero ? "true" : "false", pps, step_bytes / best, best, dt / iters, iters,
           step_bytes / (double)n_params, rss0, peak, needed);
    ct_optim_destroy(o);
    for (size_t t = 0; t < n_t; t++)
        free(ps[t].data), free(ps[t].grad);
    free(ps);
    free(numel);
    return 0;
}

/* ---- the short table ----------------------------------------------------- */

static int table(int quick, const char *json_path)
{
    int ncpu = (int)sysconf(_SC_NPROCESSORS_ONLN);
    int thread_counts[2] = {1, ncpu > 1 ? ncpu : 1};
    int n_tc = ncpu > 1 ? 2 : 1;
    double triad_bw[2];
    for (int k = 0; k < n_tc; k++)
        triad_bw[k] = measure_triad(thread_counts[k], 5);
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

int main(int argc, char **argv)
{
    if (argc >= 2 && !strcmp(argv[1], "triad")) {
        int threads = argc >= 3 ? atoi(argv[2]) : 1;
        if (threads < 1)
            threads = 1;
        printf("{\"threads\": %d, \"triad_bytes_per_s\": %.6g}\n", threads,
               measure_triad(threads, 10));
        return 0;
    }
    if (argc >= 2 && !strcmp(argv[1], "run"))
        return run_case(argc - 2, argv + 2);
    int quick = 0;
    const char *json_path = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--quick"))
            quick = 1;
        else if (!strcmp(argv[i], "--json") && i + 1 < argc)
            json_path = argv[++i];
        else {
            fprintf(stderr, "usage: ctrain_bench [--quick] [--json FILE] | triad THREADS | run "
                            "OPTIMIZER TENSORS THREADS MIN_SECONDS [options]\n");
            return 2;
        }
    }
    return table(quick, json_path);
}
