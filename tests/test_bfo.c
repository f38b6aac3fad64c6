/* Bacterial foraging optimization (include/ctrain/bfo.h): the RNG against
 * Random123's known answers, the invariants (best_fitness is the objective
 * at best_params, the vector holds best_params, the budget is exact),
 * determinism across thread counts, callback failures, bounds, state round
 * trips, option errors, and convergence of the classic configuration. */
#include <math.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../src/core/rng.h"
#include "check.h"
#include "ctrain/bfo.h"

typedef struct obj {
    int kind;              /* 0 sphere, 1 rastrigin, 2 ellipsoid */
    atomic_ullong calls;   /* rows evaluated */
    long long fail_at;     /* fail when the row counter reaches it (-1: never) */
    int report;            /* fail with ct_bfo_callback_fail_after */
    ct_bfo *handle;        /* for ct_bfo_callback_fail */
    const double *lo, *hi; /* check every row is inside */
    atomic_ullong outside;
} obj;

static double f_one(int kind, const double *x, size_t d)
{
    double s = 0;
    for (size_t i = 0; i < d; i++) {
        if (kind == 0)
            s += (x[i] - 0.5) * (x[i] - 0.5);
        else if (kind == 1)
            s += x[i] * x[i] - 10 * cos(2 * 3.14159265358979323846 * x[i]) + 10;
        else
            s += pow(10.0, 3.0 * (double)i / (double)(d > 1 ? d - 1 : 1)) * (x[i] - 1) * (x[i] - 1);
    }
    return s;
}

static ct_status fitness(void *ctx, const double *x, size_t n, size_t d, double *f)
{
    obj *o = ctx;
    for (size_t r = 0; r < n; r++) {
        unsigned long long k = atomic_fetch_add(&o->calls, 1);
        if (o->fail_at >= 0 && (long long)k >= o->fail_at) {
            if (o->report)
                ct_bfo_callback_fail_after(o->handle, "objective exploded on purpose", r);
            else
                ct_bfo_callback_fail(o->handle, "objective exploded on purpose");
            return CT_EIO;
        }
        if (o->lo)
            for (size_t i = 0; i < d; i++)
                if (x[r * d + i] < o->lo[i] || x[r * d + i] > o->hi[i])
                    atomic_fetch_add(&o->outside, 1);
        f[r] = f_one(o->kind, x + r * d, d);
    }
    return CT_OK;
}

static ct_status fitness_grad(void *ctx, const double *x, size_t n, size_t d, double *f,
                              double *g)
{
    obj *o = ctx;
    ct_status st = fitness(ctx, x, n, d, f);
    for (size_t r = 0; r < n && !st; r++)
        for (size_t i = 0; i < d; i++) {
            double w = o->kind == 2 ? pow(10.0, 3.0 * (double)i / (double)(d - 1)) : 1.0;
            double c = o->kind == 2 ? 1.0 : 0.5;
            g[r * d + i] = 2 * w * (x[r * d + i] - c);
        }
    return st;
}

static ct_bfo *make(const char *kind, size_t d, const char *opts, obj *o, int threads)
{
    ct_bfo *b = NULL;
    ct_status st = ct_bfo_create(&b, kind, d, opts);
    CHECK(st == CT_OK, "create %s '%s': %s", kind, opts, ct_errmsg());
    if (!b)
        exit(1);
    o->handle = b;
    ct_bfo_set_fitness(b, fitness, o, 1);
    if (threads > 1)
        CHECK(ct_bfo_set_threads(b, threads) == CT_OK, "threads");
    return b;
}

static void obj_init(obj *o, int kind)
{
    memset(o, 0, sizeof *o);
    o->kind = kind;
    o->fail_at = -1;
    atomic_init(&o->calls, 0);
    atomic_init(&o->outside, 0);
}

static unsigned char *blob(ct_bfo *b, size_t *len)
{
    ct_bfo_state_size(b, len);
    unsigned char *p = malloc(*len);
    CHECK(ct_bfo_state_save(b, p, *len) == CT_OK, "save");
    return p;
}

static void test_philox(void)
{
    /* Random123 kat_vectors, philox4x32 with 10 rounds */
    struct {
        uint32_t ctr[4];
        uint64_t key;
        uint32_t out[4];
    } kat[] = {
        {{0, 0, 0, 0}, 0, {0x6627e8d5u, 0xe169c58du, 0xbc57ac4cu, 0x9b00dbd8u}},
        {{0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu},
         0xffffffffffffffffull,
         {0x408f276du, 0x41c83b0eu, 0xa20bc7c6u, 0x6d5451fdu}},
        {{0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u},
         0x299f31d0a4093822ull,
         {0xd16cfe09u, 0x94fdccebu, 0x5001e420u, 0x24126ea1u}},
    };
    for (int k = 0; k < 3; k++) {
        uint32_t out[4];
        ct_philox4x32(kat[k].key, kat[k].ctr, out);
        CHECK(!memcmp(out, kat[k].out, sizeof out), "philox KAT %d: %08x %08x %08x %08x", k,
              out[0], out[1], out[2], out[3]);
    }
    /* uniforms: open interval, mean near 1/2 */
    double s = 0, mn = 1, mx = 0;
    for (uint32_t i = 0; i < 20000; i++) {
        double u[2];
        ct_rng_uniform2(7, i, 0, 0, u);
        s += u[0] + u[1];
        mn = fmin(mn, fmin(u[0], u[1]));
        mx = fmax(mx, fmax(u[0], u[1]));
    }
    CHECK(mn > 0 && mx < 1 && fabs(s / 40000 - 0.5) < 0.01, "uniform range/mean %g %g %g", mn,
          mx, s / 40000);
}

/* best_fitness == f(best_params) bit for bit, x == best_params, budget. */
static void test_invariants(const char *kind, const char *opts)
{
    obj o;
    obj_init(&o, 1);
    const size_t d = 4;
    ct_bfo *b = make(kind, d, opts, &o, 1);
    double x[4] = {2, -1, 0.5, 3}, best = 0, bx[4], bf;
    for (int s = 0; s < 30; s++) {
        ct_status st = ct_bfo_step(b, x, 0, &best);
        CHECK(st == CT_OK, "%s step: %s", kind, ct_bfo_errmsg(b));
        ct_bfo_best(b, bx, &bf);
        CHECK(!memcmp(x, bx, sizeof bx), "%s: x != best_params after step %d", kind, s);
        double again = f_one(o.kind, bx, d);
        CHECK(!memcmp(&again, &bf, 8) && !memcmp(&best, &bf, 8),
              "%s: best_fitness %.17g != f(best_params) %.17g", kind, bf, again);
        ct_bfo_stats st2;
        ct_bfo_stats_get(b, &st2);
        CHECK(st2.n_evals == atomic_load(&o.calls), "%s: n_evals %llu != calls %llu", kind,
              (unsigned long long)st2.n_evals, (unsigned long long)atomic_load(&o.calls));
        CHECK(st2.n_evals <= 3000, "%s: budget exceeded: %llu", kind,
              (unsigned long long)st2.n_evals);
        /* the population's recorded fitness is the objective at each row */
        const double *px, *pf;
        size_t n;
        ct_bfo_population(b, &px, &pf, NULL, &n);
        for (size_t i = 0; i < n; i++) {
            double v = f_one(o.kind, px + i * d, d);
            if (!isnan(pf[i]))
                CHECK(v == pf[i], "%s: population fitness %zu stale", kind, i);
        }
        if (st2.stopped)
            break;
    }
    ct_bfo_stats st3;
    ct_bfo_stats_get(b, &st3);
    CHECK(st3.stopped && st3.n_evals == 3000, "%s: budget 3000 not spent exactly: %llu stopped=%d",
          kind, (unsigned long long)st3.n_evals, st3.stopped);
    ct_bfo_destroy(b);
}

static void run_threads(int threads, const char *kind, unsigned char **out, size_t *len,
                        double *bx)
{
    obj o;
    obj_init(&o, 1);
    ct_bfo *b = make(kind, 6, "population_size=17 chemotaxis_steps=5 seed=42 max_fe=4000", &o,
                     threads);
    if (!strcmp(kind, "hybrid"))
        ct_bfo_set_gradient(b, fitness_grad, &o, 1);
    double x[6] = {1, 2, 3, -1, -2, -3};
    for (int s = 0; s < 5; s++)
        CHECK(ct_bfo_step(b, x, 0, NULL) == CT_OK, "step: %s", ct_bfo_errmsg(b));
    *out = blob(b, len);
    memcpy(bx, x, sizeof x);
    ct_bfo_destroy(b);
}

static void test_threads(void)
{
    const char *kinds[] = {"bfo", "adaptive", "hybrid"};
    for (int k = 0; k < 3; k++) {
        unsigned char *ref, *other;
        size_t lref, lo;
        double xr[6], xo[6];
        run_threads(1, kinds[k], &ref, &lref, xr);
        for (int t = 2; t <= 3; t++) {
            run_threads(t, kinds[k], &other, &lo, xo);
            CHECK(lo == lref && !memcmp(ref, other, lo) && !memcmp(xr, xo, sizeof xr),
                  "%s: %d threads differ from 1 thread", kinds[k], t);
            free(other);
        }
        free(ref);
    }
}

static void test_callback_error(int threads)
{
    obj o;
    obj_init(&o, 0);
    ct_bfo *b = make("bfo", 3, "population_size=10 seed=3", &o, threads);
    double x[3] = {3, 3, 3};
    CHECK(ct_bfo_step(b, x, 0, NULL) == CT_OK, "first step");
    double bx[3], bf;
    ct_bfo_best(b, bx, &bf);
    size_t l0;
    unsigned char *before = blob(b, &l0);
    ct_bfo_stats s0;
    ct_bfo_stats_get(b, &s0);
    o.fail_at = (long long)atomic_load(&o.calls) + 57;
    double y[3];
    memcpy(y, x, sizeof y);
    ct_status st = ct_bfo_step(b, y, 0, NULL);
    CHECK(st == CT_EIO, "threads=%d: status %d, want CT_EIO unchanged", threads, st);
    CHECK(!strcmp(ct_bfo_errmsg(b), "objective exploded on purpose"), "threads=%d: message '%s'",
          threads, ct_bfo_errmsg(b));
    CHECK(!memcmp(y, bx, sizeof bx), "threads=%d: x not the best point from before the step",
          threads);
    ct_bfo_stats s1;
    ct_bfo_stats_get(b, &s1);
    /* rows handed to the callback are counted, the failing batch included */
    CHECK(s1.n_evals > s0.n_evals && s1.n_evals >= atomic_load(&o.calls),
          "threads=%d: evaluations of the failed step must be counted", threads);
    /* everything else rolled back: population, best, counters */
    ct_bfo *r = NULL;
    ct_bfo_create(&r, "bfo", 3, NULL);
    CHECK(ct_bfo_state_load(r, before, l0) == CT_OK, "reload");
    const double *p1, *f1, *s1p, *p2, *f2, *s2p;
    size_t n1, n2;
    ct_bfo_population(b, &p1, &f1, &s1p, &n1);
    ct_bfo_population(r, &p2, &f2, &s2p, &n2);
    ct_bfo_stats s2;
    ct_bfo_stats_get(r, &s2);
    CHECK(n1 == n2 && !memcmp(p1, p2, n1 * 3 * 8) && !memcmp(s1p, s2p, n1 * 8) &&
              !memcmp(f1, f2, n1 * 8) && s1.rng_counter == s2.rng_counter &&
              s1.n_generations == s2.n_generations && s1.n_steps == s2.n_steps &&
              !memcmp(&s1.best_fitness, &s2.best_fitness, 8),
          "threads=%d: state not rolled back", threads);
    size_t l1;
    unsigned char *after = blob(b, &l1);
    CHECK(l1 == l0, "rollback size");
    ct_bfo_destroy(r);
    free(before);
    free(after);
    /* the handle keeps working */
    o.fail_at = -1;
    CHECK(ct_bfo_step(b, y, 0, NULL) == CT_OK, "step after a failure: %s", ct_bfo_errmsg(b));
    /* a failure in the very first step leaves x as given */
    ct_bfo *c = make("bfo", 3, "population_size=10", &o, threads);
    o.handle = c;
    o.fail_at = (long long)atomic_load(&o.calls) + 4;
    double z[3] = {1, 2, 3};
    CHECK(ct_bfo_step(c, z, 0, NULL) == CT_EIO && z[0] == 1 && z[1] == 2 && z[2] == 3,
          "first-step failure must leave x alone");
    ct_bfo_destroy(c);
    ct_bfo_destroy(b);
    /* a callback that says how far it got: exactly the rows evaluated count
     * (the row counter's values below fail_at, whatever the thread split) */
    obj q;
    obj_init(&q, 0);
    q.report = 1;
    ct_bfo *e = make("bfo", 3, "population_size=10 seed=3", &q, threads);
    double w[3] = {3, 3, 3};
    CHECK(ct_bfo_step(e, w, 0, NULL) == CT_OK, "first step");
    ct_bfo_stats e0, e1;
    ct_bfo_stats_get(e, &e0);
    q.fail_at = (long long)atomic_load(&q.calls) + 57;
    CHECK(ct_bfo_step(e, w, 0, NULL) == CT_EIO, "failing step");
    ct_bfo_stats_get(e, &e1);
    CHECK(e1.n_evals - e0.n_evals == 57, "threads=%d: %llu evaluations counted, 57 made", threads,
          (unsigned long long)(e1.n_evals - e0.n_evals));
    ct_bfo_destroy(e);
}

static void test_bounds(const char *handling)
{
    obj o;
    obj_init(&o, 0);
    double lo[3] = {-1, 0, 2}, hi[3] = {1, 0.25, 2.5};
    o.lo = lo;
    o.hi = hi;
    char opts[200];
    snprintf(opts, sizeof opts,
             "bound_handling=%s step_size_max=3 population_size=12 max_fe=2000 levy_alpha=1.2",
             handling);
    ct_bfo *b = make("bfo", 3, opts, &o, 1);
    CHECK(ct_bfo_set_bounds(b, lo, hi) == CT_OK, "bounds");
    double x[3] = {5, 5, 5};
    while (ct_bfo_step(b, x, 0, NULL) == CT_OK) {
        ct_bfo_stats s;
        ct_bfo_stats_get(b, &s);
        if (s.stopped)
            break;
    }
    CHECK(atomic_load(&o.outside) == 0, "%s: %llu coordinates outside the bounds", handling,
          (unsigned long long)atomic_load(&o.outside));
    /* optimum of (x-0.5)^2 in the box: (0.5, 0.25, 2) */
    CHECK(fabs(x[0] - 0.5) < 0.05 && fabs(x[1] - 0.25) < 0.05 && fabs(x[2] - 2) < 0.05,
          "%s: x = %g %g %g", handling, x[0], x[1], x[2]);
    double bad_lo[3] = {0, 0, 3};
    CHECK(ct_bfo_set_bounds(b, bad_lo, hi) == CT_EINVAL && strstr(ct_bfo_errmsg(b), "bounds[2]"),
          "lo > hi refused: %s", ct_bfo_errmsg(b));
    ct_bfo_destroy(b);
}

static void test_state_roundtrip(const char *kind)
{
    obj o;
    obj_init(&o, 1);
    ct_bfo *a = make(kind, 5, "population_size=12 chemotaxis_steps=4 seed=9", &o, 1);
    if (!strcmp(kind, "hybrid"))
        ct_bfo_set_gradient(a, fitness_grad, &o, 0);
    double x[5] = {1, 1, 1, 1, 1};
    for (int s = 0; s < 2; s++)
        ct_bfo_step(a, x, 500, NULL); /* per-step budgets stop mid-cycle */
    size_t len;
    unsigned char *saved = blob(a, &len);
    for (int s = 0; s < 3; s++)
        ct_bfo_step(a, x, 0, NULL);
    size_t la;
    unsigned char *ea = blob(a, &la);
    ct_bfo *b2 = NULL;
    ct_bfo_create(&b2, kind, 5, NULL);
    ct_bfo_set_fitness(b2, fitness, &o, 0);
    if (!strcmp(kind, "hybrid"))
        ct_bfo_set_gradient(b2, fitness_grad, &o, 0);
    CHECK(ct_bfo_state_load(b2, saved, len) == CT_OK, "%s load: %s", kind, ct_bfo_errmsg(b2));
    double y[5] = {0, 0, 0, 0, 0};
    for (int s = 0; s < 3; s++)
        ct_bfo_step(b2, y, 0, NULL);
    size_t lb;
    unsigned char *eb = blob(b2, &lb);
    CHECK(la == lb && !memcmp(ea, eb, la) && !memcmp(x, y, sizeof x),
          "%s: continuing after a load differs", kind);
    /* corrupt and mismatched states are refused, and nothing changes */
    saved[0] ^= 1;
    CHECK(ct_bfo_state_load(b2, saved, len) == CT_EFORMAT, "corrupt magic");
    saved[0] ^= 1;
    CHECK(ct_bfo_state_load(b2, saved, len - 8) == CT_EFORMAT, "truncated");
    /* a population target the options do not allow (the next step would
     * resize the population past its storage) is refused, nothing changed */
    uint32_t nslots;
    memcpy(&nslots, saved + 20, 4);
    const size_t at = 40 + 8 * (size_t)nslots;
    uint64_t target, huge = 900000;
    memcpy(&target, saved + at, 8);
    memcpy(saved + at, &huge, 8);
    size_t lk;
    unsigned char *keep = blob(b2, &lk);
    CHECK(ct_bfo_state_load(b2, saved, len) == CT_EFORMAT &&
              strstr(ct_bfo_errmsg(b2), "population target 900000"),
          "%s: population target refused: %s", kind, ct_bfo_errmsg(b2));
    size_t lk2;
    unsigned char *kept = blob(b2, &lk2);
    CHECK(lk == lk2 && !memcmp(keep, kept, lk), "%s: refused load changed the state", kind);
    free(keep);
    free(kept);
    memcpy(saved + at, &target, 8);
    CHECK(ct_bfo_state_load(b2, saved, len) == CT_OK, "%s: restored target loads", kind);
    ct_bfo *c = NULL;
    ct_bfo_create(&c, kind, 4, NULL);
    CHECK(ct_bfo_state_load(c, saved, len) == CT_EMISMATCH, "other dim: %s", ct_bfo_errmsg(c));
    ct_bfo_destroy(c);
    ct_bfo_create(&c, strcmp(kind, "bfo") ? "bfo" : "adaptive", 5, NULL);
    CHECK(ct_bfo_state_load(c, saved, len) == CT_EMISMATCH, "other kind: %s", ct_bfo_errmsg(c));
    ct_bfo_destroy(c);
    free(saved);
    free(ea);
    free(eb);
    ct_bfo_destroy(a);
    ct_bfo_destroy(b2);
}

static void test_options(void)
{
    ct_bfo *b = NULL;
    struct {
        const char *kind, *opts, *needle;
    } bad[] = {
        {"bfo", "swim_length=-1", "swim_length"},
        {"bfo", "population_size=1", "population_size"},
        {"bfo", "elimination_prob=1.5", "elimination_prob"},
        {"bfo", "levy_alpha=0.5", "levy_alpha"},
        {"bfo", "step_size_min=1 step_size_max=0.5", "step_size_min"},
        {"bfo", "variant=fancy", "variant"},
        {"bfo", "gradient_weight=0.5", "gradient_weight"},
        {"bfo", "no_such_option=1", "no_such_option"},
        {"adaptive", "min_population_size=50 max_population_size=20", "min_population_size"},
        {"adaptive", "population_size=500", "population_size"},
        {"hybrid", "momentum=1", "momentum"},
        {"nope", "", "unknown kind"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ct_status st = ct_bfo_create(&b, bad[i].kind, 3, bad[i].opts);
        CHECK(st == CT_EINVAL && !b && strstr(ct_errmsg(), bad[i].needle),
              "'%s' '%s' -> %d '%s'", bad[i].kind, bad[i].opts, st, ct_errmsg());
    }
    CHECK(ct_bfo_create(&b, "bfo", 0, NULL) == CT_EINVAL, "dim 0");
    CHECK(ct_bfo_create(&b, "bfo", 3, "elimination_prob=0.1 variant=classic") == CT_OK, "ok");
    double v;
    CHECK(ct_bfo_get_option(b, "elimination_prob", &v) == CT_OK && v == 0.1, "get");
    CHECK(ct_bfo_get_option(b, "variant", &v) == CT_OK && v == 0, "enum index");
    CHECK(ct_bfo_set_options(b, "elimination_prob=0.3 step_size_max=-1") == CT_EINVAL &&
              strstr(ct_bfo_errmsg(b), "step_size_max"),
          "set_options error names the option: %s", ct_bfo_errmsg(b));
    CHECK(ct_bfo_get_option(b, "elimination_prob", &v) == CT_OK && v == 0.1,
          "failed set_options changed nothing");
    double x[3] = {0, 0, 0};
    CHECK(ct_bfo_step(b, x, 0, NULL) == CT_ESTATE, "step without a callback");
    ct_bfo_destroy(b);
}

/* Passino's classic configuration converges. */
static double run_to_budget(const char *kind, const char *opts, int fkind, size_t d,
                            const double *lo, const double *hi, const double *x0,
                            int with_grad)
{
    obj o;
    obj_init(&o, fkind);
    ct_bfo *b = make(kind, d, opts, &o, 1);
    if (lo)
        ct_bfo_set_bounds(b, lo, hi);
    if (with_grad)
        ct_bfo_set_gradient(b, fitness_grad, &o, 0);
    double x[16];
    memcpy(x, x0, d * sizeof(double));
    double best = INFINITY;
    for (int s = 0; s < 100000; s++) {
        CHECK(ct_bfo_step(b, x, 0, &best) == CT_OK, "step: %s", ct_bfo_errmsg(b));
        ct_bfo_stats st;
        ct_bfo_stats_get(b, &st);
        if (st.stopped)
            break;
    }
    ct_bfo_destroy(b);
    return best;
}

static void test_convergence(void)
{
    const double x0[10] = {3, -2, 1, 4, -3, 2, -1, 3, 2, -4};
    /* classic sphere 2-D: Passino's loop, step decaying linearly 0.1 -> 1e-4 */
    double f = run_to_budget("bfo",
                             "variant=classic step_schedule=linear population_size=20 "
                             "chemotaxis_steps=50 max_fe=20000 step_size_max=0.5",
                             0, 2, NULL, NULL, x0, 0);
    CHECK(f < 1e-4, "classic sphere-2D: %g", f);
    /* classic Rastrigin-2D in [-5.12, 5.12]^2: reaches the global basin */
    const double lo[2] = {-5.12, -5.12}, hi[2] = {5.12, 5.12};
    f = run_to_budget("bfo",
                      "variant=classic step_schedule=linear population_size=50 chemotaxis_steps=50 "
                      "step_size_max=0.5 max_fe=40000 seed=1",
                      1, 2, lo, hi, x0, 0);
    CHECK(f < 0.05, "classic rastrigin-2D: %g", f);
    /* classic Passino with swarming still converges */
    f = run_to_budget("bfo",
                      "variant=classic step_schedule=linear swarming=true population_size=20 "
                      "chemotaxis_steps=50 max_fe=20000 step_size_max=0.5",
                      0, 2, NULL, NULL, x0, 0);
    CHECK(f < 1e-3, "classic swarming sphere-2D: %g", f);
    /* enhanced beats classic per evaluation on a 10-D ellipsoid */
    const char *budget = "max_fe=10000 step_size_max=2";
    char o1[200], o2[200];
    snprintf(o1, sizeof o1, "variant=classic step_schedule=linear %s", budget);
    snprintf(o2, sizeof o2, "%s", budget);
    double fc = run_to_budget("bfo", o1, 2, 10, NULL, NULL, x0, 0);
    double fe = run_to_budget("bfo", o2, 2, 10, NULL, NULL, x0, 0);
    CHECK(fe < fc * 1e-2, "enhanced %g should beat classic %g by 100x on the ellipsoid", fe, fc);
    /* hybrid: the gradient helps on a smooth problem (10-D sphere) */
    double fg0 = run_to_budget("hybrid", "gradient_weight=0 max_fe=3000 step_size_max=2 "
                               "population_size=10", 0, 10, NULL, NULL, x0, 1);
    double fg1 = run_to_budget("hybrid", "gradient_weight=0.9 max_fe=3000 step_size_max=2 "
                               "population_size=10", 0, 10, NULL, NULL, x0, 1);
    CHECK(fg1 < fg0 * 1e-2, "hybrid: gradient_weight=0.9 %g vs 0 %g", fg1, fg0);
}

static void test_adaptive_and_early_stop(void)
{
    obj o;
    obj_init(&o, 1);
    ct_bfo *b = make("adaptive", 3,
                     "population_size=20 min_population_size=8 max_population_size=40 "
                     "chemotaxis_steps=3 reproduction_steps=2 elimination_steps=1 "
                     "adaptation_rate=0.3 diversity_threshold=1e9",
                     &o, 1);
    double x[3] = {2, 2, 2};
    size_t mn = 1000, mx = 0;
    double pmax = 0;
    for (int s = 0; s < 40; s++) {
        CHECK(ct_bfo_step(b, x, 0, NULL) == CT_OK, "adaptive step: %s", ct_bfo_errmsg(b));
        ct_bfo_stats st;
        ct_bfo_stats_get(b, &st);
        mn = st.population_size < mn ? st.population_size : mn;
        mx = st.population_size > mx ? st.population_size : mx;
        pmax = fmax(pmax, st.elimination_prob);
    }
    CHECK(mn >= 8 && mx <= 40 && mx > mn, "adaptive population range [%zu, %zu]", mn, mx);
    CHECK(pmax > 0.25, "low diversity raises the elimination probability (%g)", pmax);
    ct_bfo_destroy(b);
    /* early stopping: a flat objective stops after the window */
    obj_init(&o, 0);
    b = make("bfo", 2, "early_stop_window=5 restart=false", &o, 1);
    double y[2] = {0.5, 0.5}; /* already optimal: nothing improves */
    CHECK(ct_bfo_step(b, y, 0, NULL) == CT_OK, "es step");
    ct_bfo_stats st;
    ct_bfo_stats_get(b, &st);
    CHECK(st.stopped && st.n_generations == 10, "early stop after 2 windows: gen %llu stopped %d",
          (unsigned long long)st.n_generations, st.stopped);
    unsigned long long calls = atomic_load(&o.calls);
    CHECK(ct_bfo_step(b, y, 0, NULL) == CT_OK && atomic_load(&o.calls) == calls,
          "a stopped handle does not evaluate");
    ct_bfo_destroy(b);
}

static double opt_of(ct_bfo *b, const char *key)
{
    double v = NAN;
    CHECK(ct_bfo_get_option(b, key, &v) == CT_OK, "get %s", key);
    return v;
}

/* A run of a few steps; returns the state with the header flag word (which
 * records which step sizes were given) zeroed, for comparing runs. */
static unsigned char *run_steps(const char *kind, const char *opts, const double *lo,
                                const double *hi, size_t *len, double *best)
{
    obj o;
    obj_init(&o, 1);
    ct_bfo *b = make(kind, 3, opts, &o, 1);
    if (lo)
        CHECK(ct_bfo_set_bounds(b, lo, hi) == CT_OK, "bounds");
    double x[3] = {1.5, -2, 0.25};
    for (int s = 0; s < 4; s++)
        CHECK(ct_bfo_step(b, x, 0, NULL) == CT_OK, "step: %s", ct_bfo_errmsg(b));
    CHECK(ct_bfo_best(b, x, best) == CT_OK, "best");
    unsigned char *p = blob(b, len);
    memset(p + 16, 0, 4);
    ct_bfo_destroy(b);
    return p;
}

/* step_size_max / step_size_min not given: 0.03 and 1e-10 times the mean
 * domain width with bounds, the absolute 0.1 / 1e-4 without; given values
 * win; no bounds runs bit-identically to the old defaults given explicitly. */
static void test_step_defaults(const char *kind)
{
    const double lo[3] = {-5, -1, 0}, hi[3] = {5, 1, 4};
    const double w = (10.0 + 2.0 + 4.0) / 3.0;
    obj o;
    obj_init(&o, 0);
    ct_bfo *b = make(kind, 3, "", &o, 1);
    CHECK(opt_of(b, "step_size_max") == 0.1 && opt_of(b, "step_size_min") == 1e-4,
          "%s: unbounded defaults %g %g", kind, opt_of(b, "step_size_max"),
          opt_of(b, "step_size_min"));
    CHECK(ct_bfo_set_bounds(b, lo, hi) == CT_OK, "bounds");
    CHECK(fabs(opt_of(b, "step_size_max") - 0.03 * w) <= 1e-15 * w &&
              fabs(opt_of(b, "step_size_min") - 1e-10 * w) <= 1e-24 * w,
          "%s: bounded defaults %.17g %.17g (width %.17g)", kind, opt_of(b, "step_size_max"),
          opt_of(b, "step_size_min"), w);
    /* other options leave them relative; a given one wins and stays given */
    CHECK(ct_bfo_set_options(b, "seed=3 step_size_min=1e-3") == CT_OK, "set");
    CHECK(opt_of(b, "step_size_min") == 1e-3 &&
              fabs(opt_of(b, "step_size_max") - 0.03 * w) <= 1e-15 * w,
          "%s: given step_size_min", kind);
    const double lo2[3] = {0, 0, 0}, hi2[3] = {1, 1, 1};
    CHECK(ct_bfo_set_bounds(b, lo2, hi2) == CT_OK, "bounds 2");
    CHECK(opt_of(b, "step_size_min") == 1e-3 && opt_of(b, "step_size_max") == 0.03,
          "%s: given min kept, max follows the new bounds: %.17g", kind,
          opt_of(b, "step_size_max"));
    /* bounds removed: the absolute default comes back for the one not given */
    CHECK(ct_bfo_set_bounds(b, NULL, NULL) == CT_OK, "no bounds");
    CHECK(opt_of(b, "step_size_max") == 0.1 && opt_of(b, "step_size_min") == 1e-3,
          "%s: unbounded again", kind);
    /* given-ness survives a state round trip into a handle created without */
    CHECK(ct_bfo_set_bounds(b, lo, hi) == CT_OK, "bounds 3");
    size_t len;
    unsigned char *p = blob(b, &len);
    ct_bfo_destroy(b);
    ct_bfo *c = make(kind, 3, "", &o, 1);
    CHECK(ct_bfo_state_load(c, p, len) == CT_OK, "load: %s", ct_bfo_errmsg(c));
    CHECK(ct_bfo_set_bounds(c, lo2, hi2) == CT_OK, "bounds after load");
    CHECK(opt_of(c, "step_size_min") == 1e-3 && opt_of(c, "step_size_max") == 0.03,
          "%s: given flags after load", kind);
    free(p);
    ct_bfo_destroy(c);
    /* explicit both at create: bounds change nothing */
    c = make(kind, 3, "step_size_max=0.7 step_size_min=2e-6", &o, 1);
    CHECK(ct_bfo_set_bounds(c, lo, hi) == CT_OK, "bounds explicit");
    CHECK(opt_of(c, "step_size_max") == 0.7 && opt_of(c, "step_size_min") == 2e-6,
          "%s: explicit values win", kind);
    /* a given max below the relative min: the bounds are refused, nothing changes */
    ct_bfo_destroy(c);
    c = make(kind, 3, "", &o, 1);
    CHECK(ct_bfo_set_bounds(c, lo, hi) == CT_OK, "bounds 4");
    CHECK(ct_bfo_set_options(c, "step_size_max=1e-12") == CT_EINVAL,
          "%s: max < relative min refused", kind);
    CHECK(fabs(opt_of(c, "step_size_max") - 0.03 * w) <= 1e-15 * w,
          "%s: unchanged after refusal", kind);
    CHECK(ct_bfo_set_bounds(c, lo2, hi2) == CT_OK && opt_of(c, "step_size_max") == 0.03,
          "%s: still relative after the refusal", kind);
    ct_bfo_destroy(c);

    /* runs: no bounds = the old defaults given explicitly, bit for bit;
     * bounds = the relative values given explicitly */
    size_t l1, l2;
    double f1, f2;
    unsigned char *a = run_steps(kind, "population_size=12", NULL, NULL, &l1, &f1);
    unsigned char *e = run_steps(kind, "population_size=12 step_size_max=0.1 step_size_min=1e-4",
                                 NULL, NULL, &l2, &f2);
    CHECK(l1 == l2 && !memcmp(a, e, l1), "%s: unbounded run differs from explicit 0.1/1e-4",
          kind);
    free(a);
    free(e);
    char opts[160];
    snprintf(opts, sizeof opts, "population_size=12 step_size_max=%.17g step_size_min=%.17g",
             0.03 * w, 1e-10 * w);
    a = run_steps(kind, "population_size=12", lo, hi, &l1, &f1);
    e = run_steps(kind, opts, lo, hi, &l2, &f2);
    CHECK(l1 == l2 && !memcmp(a, e, l1), "%s: bounded run differs from explicit relative steps",
          kind);
    unsigned char *old = run_steps(kind, "population_size=12 step_size_max=0.1 step_size_min=1e-4",
                                   lo, hi, &l2, &f2);
    CHECK(f1 != f2, "%s: bounded run ignores the bounds' defaults", kind);
    free(a);
    free(e);
    free(old);
}

static ct_status f_const(void *ctx, const double *x, size_t n, size_t d, double *f)
{
    (void)x, (void)d;
    for (size_t r = 0; r < n; r++)
        f[r] = *(const double *)ctx;
    return CT_OK;
}

/* An objective that is +inf or NaN everywhere: the best is the first point
 * evaluated (the caller's, bacterium 0) with that value, never a point that
 * was not evaluated. */
static void test_nonfinite_objective(void)
{
    const double vals[2] = {INFINITY, NAN};
    for (int v = 0; v < 2; v++) {
        ct_bfo *b = NULL;
        CHECK(ct_bfo_create(&b, "bfo", 3, "population_size=6 chemotaxis_steps=2") == CT_OK,
              "create");
        ct_bfo_set_fitness(b, f_const, (void *)&vals[v], 0);
        double x[3] = {0.25, -1.5, 3}, x0[3], bx[3] = {7, 7, 7}, best = 0, bf = 0;
        memcpy(x0, x, sizeof x);
        CHECK(ct_bfo_step(b, x, 0, &best) == CT_OK, "step: %s", ct_bfo_errmsg(b));
        ct_bfo_best(b, bx, &bf);
        CHECK(!memcmp(x, x0, sizeof x) && !memcmp(bx, x0, sizeof x),
              "%g everywhere: x (%g %g %g) is not the starting point", vals[v], x[0], x[1], x[2]);
        CHECK(v ? isnan(best) && isnan(bf) : best == INFINITY && bf == INFINITY,
              "%g everywhere: best %g", vals[v], best);
        ct_bfo_destroy(b);
    }
}

/* The hybrid kind keeps the gradient the callback returned at best_params:
 * across steps, thread counts, a failed step's rollback and state round
 * trips; a version-1 state (without it) loads with the gradient unknown. */
static void test_best_grad(int threads)
{
    const size_t d = 4;
    obj o, ref;
    obj_init(&o, 0);
    obj_init(&ref, 0);
    ct_bfo *b = make("hybrid", d, "population_size=9 chemotaxis_steps=3 seed=5", &o, threads);
    double g[4], bx[4], want[4], f1 = 0, bf = 0;
    int known = -1;
    CHECK(ct_bfo_best_grad(b, g, &known) == CT_OK && known == 0 && g[0] == 0,
          "before any step the gradient is unknown");
    CHECK(ct_bfo_best_grad(b, NULL, &known) == CT_EINVAL &&
              strstr(ct_bfo_errmsg(b), "ct_bfo_best_grad"),
          "NULL g refused: %s", ct_bfo_errmsg(b));
    ct_bfo_set_gradient(b, fitness_grad, &o, 1);
    double x[4] = {2, -1, 3, 0.25};
    for (int s = 0; s < 3; s++) {
        CHECK(ct_bfo_step(b, x, 0, NULL) == CT_OK, "step: %s", ct_bfo_errmsg(b));
        ct_bfo_best(b, bx, &bf);
        CHECK(ct_bfo_best_grad(b, g, &known) == CT_OK && known == 1, "known after a step");
        fitness_grad(&ref, bx, 1, d, &f1, want);
        CHECK(f1 == bf && !memcmp(g, want, sizeof g),
              "threads=%d step %d: gradient (%g %g %g %g) is not the one at best_params", threads,
              s, g[0], g[1], g[2], g[3]);
    }
    /* a failing step rolls the gradient back with the best point */
    size_t len;
    unsigned char *saved = blob(b, &len);
    o.fail_at = (long long)atomic_load(&o.calls) + 40;
    CHECK(ct_bfo_step(b, x, 0, NULL) == CT_EIO, "failing step");
    o.fail_at = -1;
    double g2[4];
    ct_bfo_best_grad(b, g2, &known);
    CHECK(known == 1 && !memcmp(g, g2, sizeof g), "the failed step changed the gradient");
    /* a state round trip keeps it */
    ct_bfo *c = NULL;
    ct_bfo_create(&c, "hybrid", d, NULL);
    CHECK(ct_bfo_state_load(c, saved, len) == CT_OK, "load: %s", ct_bfo_errmsg(c));
    ct_bfo_best_grad(c, g2, &known);
    CHECK(known == 1 && !memcmp(g, g2, sizeof g), "state round trip lost the gradient");
    /* version 1: no gradient at the end of the hybrid section, no flag 32 */
    uint32_t v1 = 1, flags;
    memcpy(saved + 8, &v1, 4);
    memcpy(&flags, saved + 16, 4);
    flags &= ~32u;
    memcpy(saved + 16, &flags, 4);
    CHECK(ct_bfo_state_load(c, saved, len) == CT_EFORMAT, "v1 with a v2 length refused");
    CHECK(ct_bfo_state_load(c, saved, len - 8 * d) == CT_OK, "v1 load: %s", ct_bfo_errmsg(c));
    ct_bfo_best_grad(c, g2, &known);
    CHECK(known == 0 && g2[0] == 0, "v1 state: gradient unknown");
    ct_bfo_set_fitness(c, fitness, &o, 0);
    ct_bfo_set_gradient(c, fitness_grad, &o, 0);
    CHECK(ct_bfo_step(c, x, 0, NULL) == CT_OK, "step after a v1 load: %s", ct_bfo_errmsg(c));
    free(saved);
    ct_bfo_destroy(c);
    /* without a gradient callback, or in other kinds, it is unknown */
    ct_bfo *p = make("hybrid", d, "population_size=9 chemotaxis_steps=2", &o, 1);
    CHECK(ct_bfo_step(p, x, 0, NULL) == CT_OK && ct_bfo_best_grad(p, g, &known) == CT_OK &&
              known == 0,
          "hybrid without a gradient callback");
    ct_bfo_destroy(p);
    p = make("bfo", d, "population_size=9 chemotaxis_steps=2", &o, 1);
    CHECK(ct_bfo_step(p, x, 0, NULL) == CT_OK && ct_bfo_best_grad(p, g, &known) == CT_OK &&
              known == 0,
          "bfo kind");
    ct_bfo_destroy(p);
    ct_bfo_destroy(b);
}

int main(void)
{
    test_philox();
    test_invariants("bfo", "max_fe=3000 population_size=11");
    test_invariants("bfo", "max_fe=3000 population_size=11 variant=classic swarming=true");
    test_invariants("adaptive", "max_fe=3000 population_size=11 min_population_size=5");
    test_invariants("hybrid", "max_fe=3000 population_size=11");
    test_threads();
    test_callback_error(1);
    test_callback_error(3);
    test_nonfinite_objective();
    test_bounds("clamp");
    test_bounds("reflect");
    test_state_roundtrip("bfo");
    test_state_roundtrip("adaptive");
    test_state_roundtrip("hybrid");
    test_best_grad(1);
    test_best_grad(2);
    test_options();
    test_convergence();
    test_adaptive_and_early_stop();
    test_step_defaults("bfo");
    test_step_defaults("adaptive");
    test_step_defaults("hybrid");
    return check_summary();
}
