/* The SIMD kernels against the scalar reference (which test_optim_ref
 * checks against PyTorch), and the options fused into a step.
 *
 * 1. Every optimizer kind, several option sets each (every branch of the
 *    SIMD kernels: maximize, L2 and decoupled weight decay, amsgrad,
 *    momentum, nesterov, centered, both forms of ATen's lerp, ...), three
 *    tensors (1 element; 100003 = several chunks and a tail; 4099; and
 *    four shaped ones that lars scales and adafactor factors: 300x131,
 *    3x37x45, 70x6, 2x9000), eight
 *    steps of gradients spanning 1e-42 (subnormal) to 1e6 with zeros of both
 *    signs: at every SIMD level the CPU has, with 2 threads, parameters and
 *    every state buffer must hold the scalar run's bits (with 1 thread).
 *    With the non-finite check off, gradients holding NaN and +-inf must
 *    give the same bits too (NaN compared as NaN).
 * 2. ct_optim_set_grad_scale(c): the same bits as multiplying the gradients
 *    by (float)c first, the gradients left scaled; elementwise, multi-pass
 *    (lamb) and whole-parameter (adafactor) kinds, every level.
 * 3. ct_optim_set_zero_grad_after_step: the same update, gradients zero
 *    afterwards; a skipped step zeroes nothing.
 * 4. The non-finite check at every level: the first bad index is named, a
 *    value that overflows only once scaled is caught.
 * 5. CTRAIN_SIMD and ct_optim_set_simd: levels the CPU has are taken,
 *    others and unknown names refused.
 *
 * usage: test_simd [REFS_DIR]   (the argument is not used)               */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctrain/ctrain.h"

static char cur[256] = "";

#include "check.h"

#define NT 7
static const size_t sizes[NT] = {1, 100003, 4099, 39300, 4995, 420, 18000};
/* the first three flat; the others matrices (a batch of them: 3x37x45) */
static const int ndims[NT] = {0, 0, 0, 2, 3, 2, 2};
static const int64_t shapes[NT][3] = {{0}, {0}, {0}, {300, 131}, {3, 37, 45}, {70, 6}, {2, 9000}};
#define STEPS 8

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static double urand(void)
{
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return (double)(rng >> 11) / 9007199254740992.0;
}

/* A gradient value: mostly moderate, sometimes zero (either sign), tiny,
 * subnormal or large. */
static float gval(void)
{
    double u = urand(), x = 2 * urand() - 1;
    if (u < 0.03)
        return 0.0f;
    if (u < 0.05)
        return -0.0f;
    if (u < 0.07)
        return (float)(x * 1e-42);
    if (u < 0.10)
        return (float)(x * 1e6);
    return (float)(x * pow(10, -6 + 6 * urand()));
}

typedef struct problem {
    float *init[NT], *grads[NT]; /* grads: STEPS x numel */
} problem;

static void make_problem(problem *pb, int nonfinite)
{
    for (int t = 0; t < NT; t++) {
        pb->init[t] = malloc(sizes[t] * sizeof(float));
        pb->grads[t] = malloc(STEPS * sizes[t] * sizeof(float));
        for (size_t i = 0; i < sizes[t]; i++)
            pb->init[t][i] = urand() < 0.02 ? 0.0f : (float)(2 * urand() - 1);
        for (size_t i = 0; i < STEPS * sizes[t]; i++)
            pb->grads[t][i] = gval();
        if (nonfinite && sizes[t] > 100) {
            pb->grads[t][37] = NAN;
            pb->grads[t][sizes[t] + 41] = INFINITY;
            pb->grads[t][2 * sizes[t] + 77] = -INFINITY;
        }
    }
}

static void free_problem(problem *pb)
{
    for (int t = 0; t < NT; t++)
        free(pb->init[t]), free(pb->grads[t]);
}

/* The result of a run: final parameters, gradients and every state buffer. */
typedef struct result {
    float *data[NT], *grad[NT];
    float *state[NT][8];
    size_t state_n[NT][8], n_state[NT];
    int ok;
} result;

static void free_result(result *r)
{
    for (int t = 0; t < NT; t++) {
        free(r->data[t]), free(r->grad[t]);
        for (size_t k = 0; k < r->n_state[t]; k++)
            free(r->state[t][k]);
    }
}

typedef struct run_cfg {
    int level, threads;
    double scale;     /* ct_optim_set_grad_scale, 1: not set */
    int prescale;     /* multiply the gradients by (float)scale before each step */
    int zero_after;
    ct_nonfinite_policy policy;
} run_cfg;

static void run(const char *kind, const char *opts, const problem *pb, run_cfg c, result *r)
{
    memset(r, 0, sizeof *r);
    ct_optim *o = NULL;
    if (ct_optim_create(&o, kind, opts)) {
        CHECK(0, "create %s '%s': %s", kind, opts, ct_errmsg());
        return;
    }
    ct_param ps[NT];
    for (int t = 0; t < NT; t++) {
        r->data[t] = malloc(sizes[t] * sizeof(float));
        r->grad[t] = malloc(sizes[t] * sizeof(float));
        memcpy(r->data[t], pb->init[t], sizes[t] * sizeof(float));
        ps[t] = (ct_param){.data = r->data[t], .grad = r->grad[t], .numel = sizes[t],
                           .dtype = CT_F32, .ndim = ndims[t]};
        memcpy(ps[t].shape, shapes[t], sizeof shapes[t]);
    }
    int st = ct_optim_add_group(o, ps, NT, NULL, NULL) || (ct_optim_set_serial_below(o, 0) || ct_optim_set_threads(o, c.threads)) ||
             ct_optim_set_simd(o, c.level) || ct_optim_set_nonfinite_policy(o, c.policy) ||
             ct_optim_set_zero_grad_after_step(o, c.zero_after);
    if (!st && c.scale != 1.0 && !c.prescale)
        st = ct_optim_set_grad_scale(o, c.scale);
    CHECK(!st, "setup %s '%s': %s", kind, opts, ct_optim_errmsg(o));
    for (int s = 0; s < STEPS && !st; s++) {
        for (int t = 0; t < NT; t++) {
            memcpy(r->grad[t], pb->grads[t] + (size_t)s * sizes[t], sizes[t] * sizeof(float));
            if (c.prescale)
                for (size_t i = 0; i < sizes[t]; i++)
                    r->grad[t][i] = r->grad[t][i] * (float)c.scale;
        }
        st = ct_optim_step(o);
        CHECK(!st, "step %d of %s '%s': %s", s + 1, kind, opts, ct_optim_errmsg(o));
    }
    for (int t = 0; t < NT; t++) {
        ct_optim_state_count(o, 0, (size_t)t, &r->n_state[t]);
        for (size_t k = 0; k < r->n_state[t]; k++) {
            float *d;
            size_t n;
            ct_optim_state_buffer(o, 0, (size_t)t, k, NULL, &d, &n);
            r->state[t][k] = malloc(n * sizeof(float));
            memcpy(r->state[t][k], d, n * sizeof(float));
            r->state_n[t][k] = n;
        }
    }
    r->ok = !st;
    ct_optim_destroy(o);
}

/* Same bits, or both NaN. Returns the first differing index or SIZE_MAX. */
static size_t diff(const float *a, const float *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (memcmp(&a[i], &b[i], 4) && !(isnan(a[i]) && isnan(b[i])))
            return i;
    return SIZE_MAX;
}

static void compare(const result *a, const result *b, int grads)
{
    if (!a->ok || !b->ok)
        return;
    for (int t = 0; t < NT; t++) {
        size_t i = diff(a->data[t], b->data[t], sizes[t]);
        CHECK(i == SIZE_MAX, "param %d [%zu]: %.9g vs %.9g", t, i, i == SIZE_MAX ? 0 : a->data[t][i],
              i == SIZE_MAX ? 0 : b->data[t][i]);
        if (grads) {
            i = diff(a->grad[t], b->grad[t], sizes[t]);
            CHECK(i == SIZE_MAX, "grad %d [%zu] differs", t, i);
        }
        CHECK(a->n_state[t] == b->n_state[t], "state count");
        for (size_t k = 0; k < a->n_state[t] && k < b->n_state[t]; k++) {
            i = diff(a->state[t][k], b->state[t][k], a->state_n[t][k]);
            CHECK(i == SIZE_MAX, "state %zu of param %d [%zu]: %.9g vs %.9g", k, t, i,
                  i == SIZE_MAX ? 0 : a->state[t][k][i], i == SIZE_MAX ? 0 : b->state[t][k][i]);
        }
    }
}

typedef struct kcase {
    const char *kind;
    const char *opts[6];
} kcase;

static const kcase cases[] = {
    {"sgd", {"lr=0.01", "momentum=0.9", "momentum=0.9 nesterov=true weight_decay=0.01",
             "momentum=0.5 dampening=0.3 maximize=true", NULL}},
    {"adam", {"", "amsgrad=true weight_decay=0.01", "maximize=true decoupled_weight_decay=true "
              "weight_decay=0.1", "betas=0.3,0.9 eps=1e-3", NULL}},
    {"adamw", {"", "amsgrad=true maximize=true", "betas=0.2,0.5 weight_decay=0", NULL}},
    {"adagrad", {"", "lr_decay=0.01 weight_decay=0.1 initial_accumulator_value=0.1",
                 "maximize=true", NULL}},
    {"rmsprop", {"", "centered=true", "momentum=0.9", "momentum=0.9 centered=true "
                 "weight_decay=0.01 maximize=true", "alpha=0.3 centered=true", NULL}},
    {"adadelta", {"", "weight_decay=0.1 maximize=true rho=0.3", NULL}},
    {"adamax", {"", "weight_decay=0.1 maximize=true betas=0.2,0.9", NULL}},
    {"nadam", {"", "decoupled_weight_decay=true weight_decay=0.1", "maximize=true "
               "weight_decay=0.01 betas=0.3,0.9", NULL}},
    {"radam", {"", "decoupled_weight_decay=true weight_decay=0.1 betas=0.3,0.5",
               "maximize=true weight_decay=0.01", NULL}},
    {"asgd", {"", "t0=2 weight_decay=0.1 maximize=true", NULL}},
    {"lion", {"", "weight_decay=0.1", "weight_decouple=false weight_decay=0.1 maximize=true",
              "betas=0.3,0.2 fixed_decay=true weight_decay=0.5", NULL}},
    {"rprop", {"", "maximize=true etas=0.3,1.7 step_sizes=1e-4,0.02",
               "lr=0.5 step_sizes=0.1,0.2", NULL}},
    {"lamb", {"", "weight_decay=0.1", "weight_decouple=false weight_decay=0.01 maximize=true",
              "adam=true grad_averaging=false fixed_decay=true weight_decay=0.1",
              "betas=0.3,0.5 eps=1e-3", NULL}},
    {"lars", {"", "weight_decay=0.01 nesterov=true", "momentum=0 maximize=true weight_decay=0.1",
              "dampening=0.5 trust_coefficient=0.1 weight_decay=1e-4", NULL}},
    {"adafactor", {"", "first_moment=false", "ams_bound=true weight_decay=0.1 "
                   "weight_decouple=false maximize=true", "momentum_dtype=float32 "
                   "relative_step=false lr=0.01 scale_parameter=false weight_decay=0.1",
                   "warmup_init=true fixed_decay=true weight_decay=0.01 clip_threshold=0.5 "
                   "betas=0.3,0.999", NULL}},
};

static void test_levels(void)
{
    problem pb, bad;
    make_problem(&pb, 0);
    make_problem(&bad, 1);
    for (size_t ci = 0; ci < sizeof cases / sizeof *cases; ci++)
        for (int oi = 0; cases[ci].opts[oi]; oi++)
            for (int nf = 0; nf < 2; nf++) {
                const problem *p = nf ? &bad : &pb;
                run_cfg c = {CT_SIMD_SCALAR, 1, 1.0, 0, 0, CT_NONFINITE_NONE};
                result ref;
                snprintf(cur, sizeof cur, "%s '%s' scalar%s", cases[ci].kind, cases[ci].opts[oi],
                         nf ? " non-finite" : "");
                run(cases[ci].kind, cases[ci].opts[oi], p, c, &ref);
                for (int l = CT_SIMD_AVX2; l <= CT_SIMD_AVX512; l++) {
                    if (!ct_simd_supported(l))
                        continue;
                    snprintf(cur, sizeof cur, "%s '%s' %s%s", cases[ci].kind, cases[ci].opts[oi],
                             ct_simd_name(l), nf ? " non-finite" : "");
                    result r;
                    c.level = l, c.threads = 2;
                    run(cases[ci].kind, cases[ci].opts[oi], p, c, &r);
                    compare(&ref, &r, 0);
                    free_result(&r);
                }
                free_result(&ref);
            }
    free_problem(&pb);
    free_problem(&bad);
}

static void test_grad_scale_and_zero(void)
{
    problem pb;
    make_problem(&pb, 0);
    static const char *kinds[][2] = {{"sgd", "momentum=0.9"}, {"adamw", ""}, {"lamb", ""},
                                     {"adafactor", ""}, {"lion", ""}};
    for (size_t ki = 0; ki < 5; ki++)
        for (int l = CT_SIMD_SCALAR; l <= CT_SIMD_AVX512; l++) {
            if (!ct_simd_supported(l))
                continue;
            const char *kind = kinds[ki][0], *opts = kinds[ki][1];
            result a, b, z, plain;
            snprintf(cur, sizeof cur, "%s grad_scale %s", kind, ct_simd_name(l));
            run_cfg pre = {l, 2, 0.37, 1, 0, CT_NONFINITE_ERROR};
            run_cfg fused = {l, 2, 0.37, 0, 0, CT_NONFINITE_ERROR};
            run(kind, opts, &pb, pre, &a);
            run(kind, opts, &pb, fused, &b);
            compare(&a, &b, 1); /* same update, gradients left scaled */
            free_result(&a), free_result(&b);
            snprintf(cur, sizeof cur, "%s zero_grad_after_step %s", kind, ct_simd_name(l));
            run_cfg zc = {l, 2, 1.0, 0, 1, CT_NONFINITE_ERROR};
            run_cfg pc = {l, 2, 1.0, 0, 0, CT_NONFINITE_ERROR};
            run(kind, opts, &pb, zc, &z);
            run(kind, opts, &pb, pc, &plain);
            compare(&z, &plain, 0);
            for (int t = 0; t < NT && z.ok; t++)
                for (size_t i = 0; i < sizes[t]; i++)
                    if (memcmp(&z.grad[t][i], &(float){0.0f}, 4)) {
                        CHECK(0, "grad %d [%zu] = %g after the step, not +0", t, i,
                              z.grad[t][i]);
                        break;
                    }
            free_result(&z), free_result(&plain);
        }
    free_problem(&pb);
}

static void test_nonfinite(void)
{
    enum { N = 50000 };
    float *p = calloc(N, 4), *g = calloc(N, 4);
    for (int l = CT_SIMD_SCALAR; l <= CT_SIMD_AVX512; l++) {
        if (!ct_simd_supported(l))
            continue;
        snprintf(cur, sizeof cur, "non-finite check %s", ct_simd_name(l));
        ct_optim *o = NULL;
        ct_param prm = {.data = p, .grad = g, .numel = N, .dtype = CT_F32};
        CHECK(!ct_optim_create(&o, "adamw", NULL) && !ct_optim_add_group(o, &prm, 1, NULL, NULL) &&
                  !ct_optim_set_simd(o, l) && !(ct_optim_set_serial_below(o, 0) || ct_optim_set_threads(o, 2)),
              "setup");
        size_t bad_at[] = {0, 7, 16, 16383, 16384, 33333, N - 1};
        for (size_t k = 0; k < sizeof bad_at / sizeof *bad_at; k++) {
            for (int v = 0; v < 3; v++) {
                memset(g, 0, N * 4);
                g[bad_at[k]] = v == 0 ? NAN : v == 1 ? INFINITY : -INFINITY;
                if (bad_at[k] + 5 < N)
                    g[bad_at[k] + 5] = NAN; /* a later one is not the first */
                ct_status st = ct_optim_step(o);
                char want[64];
                snprintf(want, sizeof want, "at index %zu;", bad_at[k]);
                CHECK(st == CT_ENONFINITE && strstr(ct_optim_errmsg(o), want),
                      "bad value at %zu: status %d, message '%s'", bad_at[k], (int)st,
                      ct_optim_errmsg(o));
            }
        }
        int64_t step = -1;
        ct_optim_get_step(o, 0, 0, &step);
        CHECK(step == 0, "refused steps counted: step %lld", (long long)step);
        /* finite, but not once scaled */
        memset(g, 0, N * 4);
        g[12345] = 1e30f;
        CHECK(!ct_optim_set_grad_scale(o, 1e10), "set_grad_scale");
        ct_status st = ct_optim_step(o);
        CHECK(st == CT_ENONFINITE && strstr(ct_optim_errmsg(o), "at index 12345;"),
              "overflow once scaled not caught: %d '%s'", (int)st, ct_optim_errmsg(o));
        CHECK(g[12345] == 1e30f, "a refused step scaled the gradient");
        /* skip: nothing written, not even the zeroing */
        ct_optim_set_nonfinite_policy(o, CT_NONFINITE_SKIP);
        ct_optim_set_zero_grad_after_step(o, 1);
        CHECK(ct_optim_step(o) == CT_OK && g[12345] == 1e30f, "a skipped step wrote gradients");
        uint64_t skipped = 0;
        ct_optim_skipped_steps(o, &skipped);
        CHECK(skipped == 1, "skipped %llu", (unsigned long long)skipped);
        CHECK(ct_optim_set_grad_scale(o, -1) == CT_EINVAL &&
                  ct_optim_set_grad_scale(o, INFINITY) == CT_EINVAL &&
                  ct_optim_set_grad_scale(o, 1e300) == CT_EINVAL,
              "bad scales accepted");
        ct_optim_destroy(o);
    }
    free(p), free(g);
}

static void test_levels_api(void)
{
    snprintf(cur, sizeof cur, "simd api");
    CHECK(ct_simd_supported(CT_SIMD_SCALAR) == 1, "scalar unsupported");
    CHECK(ct_simd_supported(ct_simd_best()) == 1, "best unsupported");
    CHECK(!strcmp(ct_simd_name(CT_SIMD_AVX512), "avx512") && !ct_simd_name(7), "names");
    printf("SIMD levels here:");
    for (int l = 0; l <= CT_SIMD_AVX512; l++)
        if (ct_simd_supported(l))
            printf(" %s", ct_simd_name(l));
    printf(" (best %s)\n", ct_simd_name(ct_simd_best()));
    ct_optim *o = NULL;
    int level = -5;
    unsetenv("CTRAIN_SIMD");
    CHECK(!ct_optim_create(&o, "sgd", NULL) && !ct_optim_get_simd(o, &level) &&
              level == ct_simd_best(),
          "default level %d, best %d", level, ct_simd_best());
    CHECK(ct_optim_set_simd(o, 3) == CT_EINVAL && ct_optim_set_simd(o, -2) == CT_EINVAL,
          "bad level accepted");
    for (int l = CT_SIMD_SCALAR; l <= CT_SIMD_AVX512; l++) {
        ct_status st = ct_optim_set_simd(o, l);
        CHECK(ct_simd_supported(l) ? st == CT_OK : st == CT_EUNSUPPORTED, "set level %d: %d", l,
              (int)st);
    }
    ct_optim_destroy(o);
    for (int l = CT_SIMD_SCALAR; l <= CT_SIMD_AVX512; l++) {
        setenv("CTRAIN_SIMD", ct_simd_name(l), 1);
        o = NULL;
        ct_status st = ct_optim_create(&o, "adam", NULL);
        if (ct_simd_supported(l)) {
            CHECK(st == CT_OK && !ct_optim_get_simd(o, &level) && level == l,
                  "CTRAIN_SIMD=%s: %d, level %d", ct_simd_name(l), (int)st, level);
            CHECK(!ct_optim_set_simd(o, CT_SIMD_AUTO) &&
                      !ct_optim_get_simd(o, &level) && level == l,
                  "auto under CTRAIN_SIMD=%s gave %d", ct_simd_name(l), level);
        } else {
            CHECK(st == CT_EUNSUPPORTED && !o, "CTRAIN_SIMD=%s on a CPU without it: %d",
                  ct_simd_name(l), (int)st);
        }
        ct_optim_destroy(o);
    }
    setenv("CTRAIN_SIMD", "sse9", 1);
    o = NULL;
    CHECK(ct_optim_create(&o, "adam", NULL) == CT_EINVAL && !o &&
              strstr(ct_errmsg(), "CTRAIN_SIMD=sse9"),
          "unknown CTRAIN_SIMD accepted: '%s'", ct_errmsg());
    unsetenv("CTRAIN_SIMD");
}

int main(void)
{
    check_context = cur; /* failures name the kind, options and level */
    test_levels_api();
    test_levels();
    test_grad_scale_and_zero();
    test_nonfinite();
    return check_summary();
}
