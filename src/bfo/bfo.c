/* Bacterial foraging optimization (include/ctrain/bfo.h, docs/bfo.md).
 *
 * Reference algorithm: K. M. Passino, "Biomimicry of bacterial foraging for
 * distributed optimization and control", IEEE Control Systems Magazine
 * 22(3):52-67, 2002 — chemotaxis (tumble theta += C(i) Delta/|Delta|,
 * Delta ~ U[-1,1]^p, then swim up to Ns steps while J decreases), health
 * J_health(i) = sum_j J(i,j), reproduction (the healthiest half splits and
 * replaces the other half), elimination-dispersal with probability Ped, and
 * the cell-to-cell term (eq. for J_cc)
 *   J_cc(theta) = sum_j [-d_attract exp(-w_attract |theta - theta_j|^2)
 *                        + h_repellant exp(-w_repellant |theta - theta_j|^2)].
 * This file evaluates each chemotactic move of the whole population as one
 * batch (a synchronous version of the loop: J_cc uses the positions at the
 * time of the batch).
 *
 * Enhanced variant (the default): the same loop with
 *  - isotropic Gaussian tumble directions, lengths C(i) * |L| where L is a
 *    Levy-stable deviate of index levy_alpha drawn with Mantegna's algorithm
 *    (R. N. Mantegna, "Fast, accurate algorithm for numerical simulation of
 *    Levy stable stochastic processes", Phys. Rev. E 49:4677, 1994), as in
 *    the Levy-flight BFO variants (e.g. Kaur & Arora 2019);
 *  - greedy acceptance (a move is kept only if it lowers J) and a
 *    per-bacterium step size adapted by the 1/5th success rule of
 *    Rechenberg (1973) in the form of Kern et al., Natural Computing 3:77,
 *    2004: C *= exp(1/d) on success, exp(-1/(4d)) on failure, d = 1+dim/2,
 *    clamped to [step_size_min, step_size_max];
 *  - reproduction ranked by the current cost (elitist) instead of the
 *    accumulated health; elimination never removes the best bacterium;
 *  - a restart of all bacteria but the best when the best fitness has not
 *    improved for one elimination cycle or every step size sits at its
 *    minimum (cf. restart strategies of Auger & Hansen, CEC 2005).
 * Adaptive kind: after each step, the step-size scale and the elimination
 * probability are adapted from the step's progress and the population
 * diversity, and the population resized (see adapt_after_step).
 * Hybrid kind: tumble direction = normalize((1-w) u + w (-m/|m|)) with u the
 * random unit direction and m the bacterium's momentum buffer
 * m <- momentum m + grad (heavy ball, Polyak 1964).
 */
#include "ctrain/bfo.h"

#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/error.h"
#include "../core/opts.h"
#include "../core/pool.h"
#include "../core/rng.h"

enum { KIND_BFO = 0, KIND_ADAPTIVE = 1, KIND_HYBRID = 2 };
enum { SCHED_CONSTANT = 0, SCHED_LINEAR, SCHED_EXP, SCHED_ADAPTIVE };
enum { VAR_CLASSIC = 0, VAR_ENHANCED = 1 };
enum { BOUND_CLAMP = 0, BOUND_REFLECT = 1 };

/* option slots */
enum {
    O_POP, O_NC, O_NS, O_NRE, O_NED, O_PED, O_SMAX, O_SMIN, O_SCHED, O_VARIANT, O_LEVY,
    O_SWARM, O_DA, O_WA, O_HR, O_WR, O_BOUND, O_INIT, O_MAXFE, O_SEED, O_ESW, O_EST,
    O_RESTART, O_SOCIAL, O_ARATE, O_DTHR, O_PMIN, O_PMAX, O_GW, O_MOM, O_NSLOTS
};

static const char *const sched_names[] = {"constant", "linear", "exponential", "adaptive", NULL};
static const char *const variant_names[] = {"classic", "enhanced", NULL};
static const char *const bound_names[] = {"clamp", "reflect", NULL};

#define MAXI 9007199254740992.0 /* 2^53 */
#define OPT_COMMON                                                                          \
    {"population_size", CT_OPT_INT, 1, O_POP, {50, 0}, 2, 1e6, 0, NULL},                    \
    {"chemotaxis_steps", CT_OPT_INT, 1, O_NC, {10, 0}, 1, 1e6, 0, NULL},                    \
    {"swim_length", CT_OPT_INT, 1, O_NS, {4, 0}, 0, 1e4, 0, NULL},                          \
    {"reproduction_steps", CT_OPT_INT, 1, O_NRE, {4, 0}, 1, 1e6, 0, NULL},                  \
    {"elimination_steps", CT_OPT_INT, 1, O_NED, {2, 0}, 1, 1e6, 0, NULL},                   \
    {"elimination_prob", CT_OPT_REAL, 1, O_PED, {0.25, 0}, 0, 1, 0, NULL},                  \
    {"step_size_max", CT_OPT_REAL, 1, O_SMAX, {0.1, 0}, 0, INFINITY,                         \
     CT_OPT_LO_OPEN | CT_OPT_HI_OPEN, NULL},                                                \
    {"step_size_min", CT_OPT_REAL, 1, O_SMIN, {1e-4, 0}, 0, INFINITY,                        \
     CT_OPT_LO_OPEN | CT_OPT_HI_OPEN, NULL},                                                \
    {"step_schedule", CT_OPT_ENUM, 1, O_SCHED, {SCHED_ADAPTIVE, 0}, 0, 0, 0, sched_names},  \
    {"variant", CT_OPT_ENUM, 1, O_VARIANT, {VAR_ENHANCED, 0}, 0, 0, 0, variant_names},      \
    {"levy_alpha", CT_OPT_REAL, 1, O_LEVY, {1.5, 0}, 1, 2, 0, NULL},                        \
    {"swarming", CT_OPT_BOOL, 1, O_SWARM, {0, 0}, 0, 1, 0, NULL},                           \
    {"d_attract", CT_OPT_REAL, 1, O_DA, {0.1, 0}, 0, INFINITY, CT_OPT_HI_OPEN, NULL},        \
    {"w_attract", CT_OPT_REAL, 1, O_WA, {0.2, 0}, 0, INFINITY, CT_OPT_HI_OPEN, NULL},        \
    {"h_repellant", CT_OPT_REAL, 1, O_HR, {0.1, 0}, 0, INFINITY, CT_OPT_HI_OPEN, NULL},      \
    {"w_repellant", CT_OPT_REAL, 1, O_WR, {10, 0}, 0, INFINITY, CT_OPT_HI_OPEN, NULL},       \
    {"bound_handling", CT_OPT_ENUM, 1, O_BOUND, {BOUND_CLAMP, 0}, 0, 0, 0, bound_names},    \
    {"init_scale", CT_OPT_REAL, 1, O_INIT, {0.1, 0}, 0, INFINITY,                            \
     CT_OPT_LO_OPEN | CT_OPT_HI_OPEN, NULL},                                                \
    {"max_fe", CT_OPT_INT, 1, O_MAXFE, {0, 0}, 0, MAXI, 0, NULL},                           \
    {"seed", CT_OPT_INT, 1, O_SEED, {0, 0}, 0, MAXI, 0, NULL},                              \
    {"early_stop_window", CT_OPT_INT, 1, O_ESW, {0, 0}, 0, 1e9, 0, NULL},                   \
    {"early_stop_tol", CT_OPT_REAL, 1, O_EST, {1e-10, 0}, 0, INFINITY, CT_OPT_HI_OPEN, NULL},\
    {"restart", CT_OPT_BOOL, 1, O_RESTART, {1, 0}, 0, 1, 0, NULL},                          \
    {"social_prob", CT_OPT_REAL, 1, O_SOCIAL, {0.5, 0}, 0, 1, 0, NULL}

static const ct_opt_desc opts_bfo[] = {OPT_COMMON};
static const ct_opt_desc opts_adaptive[] = {
    OPT_COMMON,
    {"adaptation_rate", CT_OPT_REAL, 1, O_ARATE, {0.1, 0}, 0, 1, 0, NULL},
    {"diversity_threshold", CT_OPT_REAL, 1, O_DTHR, {1e-3, 0}, 0, INFINITY, CT_OPT_HI_OPEN,
     NULL},
    {"min_population_size", CT_OPT_INT, 1, O_PMIN, {10, 0}, 2, 1e6, 0, NULL},
    {"max_population_size", CT_OPT_INT, 1, O_PMAX, {100, 0}, 2, 1e6, 0, NULL},
};
static const ct_opt_desc opts_hybrid[] = {
    OPT_COMMON,
    {"gradient_weight", CT_OPT_REAL, 1, O_GW, {0.5, 0}, 0, 1, 0, NULL},
    {"momentum", CT_OPT_REAL, 1, O_MOM, {0.9, 0}, 0, 1, CT_OPT_HI_OPEN, NULL},
};

static const char *const kind_names[] = {"bfo", "adaptive", "hybrid"};
static const char *const kind_what[] = {"bfo", "adaptive bfo", "hybrid bfo"};

typedef struct err_slot {
    pthread_t th;
    ct_status st;
    int has_msg;
    int has_done;   /* the failing callback said how many rows it evaluated */
    size_t done;    /* that count */
    size_t rows;    /* rows of the slot's last call */
    char msg[256];
} err_slot;

struct ct_bfo {
    ct_err err;
    int kind;
    size_t dim;
    const ct_opt_desc *od;
    size_t nod;
    double o[O_NSLOTS];

    ct_bfo_fitness_fn fn;
    void *fctx;
    int fsafe;
    ct_bfo_grad_fn gfn;
    void *gctx;
    int gsafe;

    int threads;
    ct_pool *pool;
    err_slot *slots; /* threads entries */

    double *lo, *hi; /* NULL: unbounded */
    int smax_given, smin_given; /* step_size_max / _min given by the user (saved) */

    size_t cap; /* bacteria slots allocated */

    /* ---- state (saved) ---- */
    int initialized, stopped, has_best;
    int has_best_g; /* best_g holds the gradient at best_x (hybrid kind) */
    size_t n;
    size_t pop_target;
    double *pos, *fit, *health, *step, *pend; /* pend: 1 = not yet evaluated */
    double *grad, *mom;                        /* hybrid only (cap*dim) */
    double *best_x;
    double *best_g; /* hybrid only (dim) */
    double best_f;
    uint64_t n_evals, n_steps, n_gen, n_restarts, rng_ctr;
    uint64_t cyc_ed, cyc_re, cyc_c;
    uint64_t es_gen, stag_gen;
    double es_ref, stag_ref;
    double scale, ped_eff;

    /* ---- scratch (not saved) ---- */
    double *cand, *cfit, *cgrad, *dir, *len, *jcur, *jnew, *tmp;
    size_t *idx, *rows;
    unsigned char *active;
    unsigned char *snap;
    size_t snap_cap;
    uint64_t step_evals, step_limit;

    /* batch evaluation context */
    const double *bx;
    double *bf, *bg;
    size_t bn;
};

/* ------------------------------------------------------------------------ */
/* helpers                                                                  */

static int better(double a, double b) { return a < b || (isnan(b) && !isnan(a)); }

static double dnorm(const double *a, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++)
        s += a[i] * a[i];
    return sqrt(s);
}

static size_t opt_sz(const ct_bfo *b, int slot) { return (size_t)b->o[slot]; }

static void free_arrays(ct_bfo *b)
{
    double **ds[] = {&b->pos, &b->fit, &b->health, &b->step, &b->pend, &b->grad, &b->mom,
                     &b->cand, &b->cfit, &b->cgrad, &b->dir, &b->len, &b->jcur, &b->jnew,
                     &b->tmp};
    for (size_t i = 0; i < sizeof ds / sizeof ds[0]; i++) {
        free(*ds[i]);
        *ds[i] = NULL;
    }
    free(b->idx);
    free(b->rows);
    free(b->active);
    free(b->snap);
    b->idx = b->rows = NULL;
    b->active = NULL;
    b->snap = NULL;
    b->snap_cap = 0;
}

/* version 2 added the hybrid kind's gradient at the best point; version 1
 * states still load (that gradient then is unknown) */
enum { STATE_VERSION = 2, N_U64 = 14, N_DBL = 6 };
static size_t state_bytes(const ct_bfo *b, size_t n, uint32_t version);

/* (Re)allocates every per-bacterium array for cap bacteria, keeping the
 * first b->n entries. Never called from a step. */
static ct_status ensure_cap(ct_bfo *b, size_t cap)
{
    if (cap <= b->cap && b->snap)
        return CT_OK;
    if (cap < b->cap)
        cap = b->cap;
    const size_t d = b->dim;
    const int hyb = b->kind == KIND_HYBRID;
    struct {
        double **p;
        size_t per;
    } ar[] = {{&b->pos, d}, {&b->fit, 1}, {&b->health, 1}, {&b->step, 1}, {&b->pend, 1},
              {&b->grad, hyb ? d : 0}, {&b->mom, hyb ? d : 0}, {&b->cand, d}, {&b->cfit, 1},
              {&b->cgrad, hyb ? d : 0}, {&b->dir, d}, {&b->len, 1}, {&b->jcur, 1},
              {&b->jnew, 1}, {&b->tmp, d > 4 ? d : 4}};
    for (size_t i = 0; i < sizeof ar / sizeof ar[0]; i++) {
        if (!ar[i].per)
            continue;
        size_t rows = (ar[i].p == &b->tmp) ? 1 : cap;
        if (cap > SIZE_MAX / 8 / ar[i].per / (rows ? rows : 1) + 1)
            return ct_fail(&b->err, CT_ENOMEM, "%s: population of %zu is too large",
                           kind_what[b->kind], cap);
        double *np = realloc(*ar[i].p, rows * ar[i].per * sizeof(double));
        if (!np)
            return ct_fail(&b->err, CT_ENOMEM, "%s: out of memory for %zu bacteria",
                           kind_what[b->kind], cap);
        *ar[i].p = np;
    }
    size_t *ni = realloc(b->idx, cap * sizeof(size_t));
    if (!ni)
        return ct_fail(&b->err, CT_ENOMEM, "%s: out of memory", kind_what[b->kind]);
    b->idx = ni;
    size_t *nr = realloc(b->rows, cap * sizeof(size_t));
    if (!nr)
        return ct_fail(&b->err, CT_ENOMEM, "%s: out of memory", kind_what[b->kind]);
    b->rows = nr;
    unsigned char *na = realloc(b->active, cap);
    if (!na)
        return ct_fail(&b->err, CT_ENOMEM, "%s: out of memory", kind_what[b->kind]);
    b->active = na;
    b->cap = cap;
    size_t sb = state_bytes(b, cap, STATE_VERSION);
    unsigned char *ns = realloc(b->snap, sb);
    if (!ns)
        return ct_fail(&b->err, CT_ENOMEM, "%s: out of memory", kind_what[b->kind]);
    b->snap = ns;
    b->snap_cap = sb;
    return CT_OK;
}

static void set_slot0_thread(ct_bfo *b) { b->slots[0].th = pthread_self(); }

static void record_thread(void *ctx, int tid, int nthreads)
{
    (void)nthreads;
    ct_bfo *b = ctx;
    b->slots[tid].th = pthread_self();
}

/* ------------------------------------------------------------------------ */
/* options                                                                  */

/* Defaults of step_size_max / step_size_min the user did not give: with
 * domain bounds, fractions of the mean width (hi - lo) (REL_SMAX, REL_SMIN;
 * measured on BBOB D=10 instances 16-17, docs/bfo.md), else the absolute
 * ABS_SMAX, ABS_SMIN (also when every width is 0). Writes o[O_SMAX], o[O_SMIN]. */
#define ABS_SMAX 0.1
#define ABS_SMIN 1e-4
#define REL_SMAX 0.03
#define REL_SMIN 1e-10
static void step_defaults(const ct_bfo *b, double *o, const double *lo, const double *hi)
{
    double w = 0;
    if (lo) {
        for (size_t i = 0; i < b->dim; i++)
            w += hi[i] - lo[i];
        w /= (double)b->dim;
    }
    int rel = lo && w > 0 && isfinite(w);
    if (!b->smax_given)
        o[O_SMAX] = rel ? REL_SMAX * w : ABS_SMAX;
    if (!b->smin_given)
        o[O_SMIN] = rel ? REL_SMIN * w : ABS_SMIN;
}

/* Parses options onto o (a scratch copy) and applies the step defaults;
 * *gmax, *gmin receive the given-flags to commit on success. */
static ct_status parse_opts(ct_bfo *b, const char *options, double *o, int *gmax, int *gmin)
{
    int given[64] = {0};
    _Static_assert(sizeof opts_adaptive / sizeof opts_adaptive[0] <= 64 &&
                       sizeof opts_hybrid / sizeof opts_hybrid[0] <= 64,
                   "given[] too small");
    size_t imax = (size_t)(ct_opts_find(b->od, b->nod, "step_size_max") - b->od);
    size_t imin = (size_t)(ct_opts_find(b->od, b->nod, "step_size_min") - b->od);
    ct_status st = ct_opts_parse(b->od, b->nod, kind_what[b->kind], options, o, given, &b->err);
    if (st)
        return st;
    int sm = b->smax_given, sn = b->smin_given;
    b->smax_given = sm || given[imax] > 0;
    b->smin_given = sn || given[imin] > 0;
    step_defaults(b, o, b->lo, b->hi);
    *gmax = b->smax_given;
    *gmin = b->smin_given;
    b->smax_given = sm;
    b->smin_given = sn;
    return CT_OK;
}

static ct_status cross_check(ct_bfo *b, const double *o)
{
    const char *w = kind_what[b->kind];
    if (o[O_SMIN] > o[O_SMAX])
        return ct_fail(&b->err, CT_EINVAL,
                       "%s: step_size_min=%.17g is invalid: must be <= step_size_max=%.17g", w,
                       o[O_SMIN], o[O_SMAX]);
    if (b->kind == KIND_ADAPTIVE) {
        if (o[O_PMIN] > o[O_PMAX])
            return ct_fail(&b->err, CT_EINVAL,
                           "%s: min_population_size=%.0f is invalid: must be <= "
                           "max_population_size=%.0f",
                           w, o[O_PMIN], o[O_PMAX]);
        if (o[O_POP] < o[O_PMIN] || o[O_POP] > o[O_PMAX])
            return ct_fail(&b->err, CT_EINVAL,
                           "%s: population_size=%.0f is invalid: must be in "
                           "[min_population_size, max_population_size] = [%.0f, %.0f]",
                           w, o[O_POP], o[O_PMIN], o[O_PMAX]);
    }
    return CT_OK;
}

static size_t needed_cap(const ct_bfo *b, const double *o)
{
    size_t c = (size_t)o[O_POP];
    if (b->kind == KIND_ADAPTIVE && (size_t)o[O_PMAX] > c)
        c = (size_t)o[O_PMAX];
    if (b->n > c)
        c = b->n;
    return c;
}

ct_status ct_bfo_create(ct_bfo **out, const char *kind, size_t dim, const char *options)
{
    if (!out)
        return ct_fail(NULL, CT_EINVAL, "ct_bfo_create: out is NULL");
    *out = NULL;
    if (!kind)
        return ct_fail(NULL, CT_EINVAL, "ct_bfo_create: kind is NULL");
    int k = -1;
    for (int i = 0; i < 3; i++)
        if (!strcmp(kind, kind_names[i]))
            k = i;
    if (k < 0)
        return ct_fail(NULL, CT_EINVAL,
                       "ct_bfo_create: unknown kind '%s' (known: bfo, adaptive, hybrid)", kind);
    if (dim == 0)
        return ct_fail(NULL, CT_EINVAL, "%s: dim=0 is invalid: must be >= 1", kind_what[k]);
    ct_bfo *b = calloc(1, sizeof *b);
    if (!b)
        return ct_fail(NULL, CT_ENOMEM, "%s: out of memory", kind_what[k]);
    b->kind = k;
    b->dim = dim;
    b->od = k == KIND_BFO ? opts_bfo : k == KIND_ADAPTIVE ? opts_adaptive : opts_hybrid;
    b->nod = k == KIND_BFO ? sizeof opts_bfo / sizeof opts_bfo[0]
             : k == KIND_ADAPTIVE ? sizeof opts_adaptive / sizeof opts_adaptive[0]
                                  : sizeof opts_hybrid / sizeof opts_hybrid[0];
    /* slots of options the kind lacks keep neutral values */
    for (int i = 0; i < O_NSLOTS; i++)
        b->o[i] = 0;
    ct_opts_defaults(b->od, b->nod, b->o);
    int gmax = 0, gmin = 0;
    ct_status st = parse_opts(b, options, b->o, &gmax, &gmin);
    b->smax_given = gmax;
    b->smin_given = gmin;
    if (!st)
        st = cross_check(b, b->o);
    b->threads = 1;
    b->best_f = INFINITY;
    b->scale = 1.0;
    b->ped_eff = b->o[O_PED];
    b->pop_target = opt_sz(b, O_POP);
    if (!st) {
        b->slots = calloc(1, sizeof *b->slots);
        b->best_x = calloc(dim, sizeof(double));
        b->best_g = k == KIND_HYBRID ? calloc(dim, sizeof(double)) : NULL;
        if (!b->slots || !b->best_x || (k == KIND_HYBRID && !b->best_g))
            st = ct_fail(&b->err, CT_ENOMEM, "%s: out of memory", kind_what[k]);
    }
    if (!st)
        st = ensure_cap(b, needed_cap(b, b->o));
    if (st) {
        ct_fail_keep(&b->err, st);
        ct_bfo_destroy(b);
        return st;
    }
    *out = b;
    return CT_OK;
}

void ct_bfo_destroy(ct_bfo *b)
{
    if (!b)
        return;
    ct_pool_destroy(b->pool);
    free_arrays(b);
    free(b->lo);
    free(b->hi);
    free(b->slots);
    free(b->best_x);
    free(b->best_g);
    free(b);
}

const char *ct_bfo_errmsg(const ct_bfo *b) { return b ? b->err.msg : "ct_bfo: handle is NULL"; }
const char *ct_bfo_kind(const ct_bfo *b) { return b ? kind_names[b->kind] : ""; }
size_t ct_bfo_dim(const ct_bfo *b) { return b ? b->dim : 0; }

#define CHECK_HANDLE(b)                                                                     \
    do {                                                                                    \
        if (!(b))                                                                           \
            return ct_fail(NULL, CT_EINVAL, "%s: handle is NULL", __func__);                \
    } while (0)

ct_status ct_bfo_set_options(ct_bfo *b, const char *options)
{
    CHECK_HANDLE(b);
    double o[O_NSLOTS];
    memcpy(o, b->o, sizeof o);
    int gmax, gmin;
    ct_status st = parse_opts(b, options, o, &gmax, &gmin);
    if (st)
        return st;
    if ((st = cross_check(b, o)))
        return st;
    if ((st = ensure_cap(b, needed_cap(b, o))))
        return st;
    if (o[O_POP] != b->o[O_POP])
        b->pop_target = (size_t)o[O_POP];
    if (o[O_PED] != b->o[O_PED])
        b->ped_eff = o[O_PED];
    if (b->kind == KIND_ADAPTIVE) {
        if (b->pop_target < (size_t)o[O_PMIN])
            b->pop_target = (size_t)o[O_PMIN];
        if (b->pop_target > (size_t)o[O_PMAX])
            b->pop_target = (size_t)o[O_PMAX];
    }
    memcpy(b->o, o, sizeof o);
    b->smax_given = gmax;
    b->smin_given = gmin;
    b->stopped = 0;
    return CT_OK;
}

ct_status ct_bfo_get_option(const ct_bfo *b, const char *key, double *value)
{
    CHECK_HANDLE(b);
    if (!key || !value)
        return ct_fail((ct_err *)&b->err, CT_EINVAL, "ct_bfo_get_option: key or value is NULL");
    const ct_opt_desc *d = ct_opts_find(b->od, b->nod, key);
    if (!d)
        return ct_fail((ct_err *)&b->err, CT_EINVAL, "%s: unknown option '%s'",
                       kind_what[b->kind], key);
    *value = b->o[d->slot];
    return CT_OK;
}

ct_status ct_bfo_set_fitness(ct_bfo *b, ct_bfo_fitness_fn fn, void *ctx, int thread_safe)
{
    CHECK_HANDLE(b);
    b->fn = fn;
    b->fctx = ctx;
    b->fsafe = thread_safe != 0;
    return CT_OK;
}

ct_status ct_bfo_set_gradient(ct_bfo *b, ct_bfo_grad_fn fn, void *ctx, int thread_safe)
{
    CHECK_HANDLE(b);
    if (fn && b->kind != KIND_HYBRID)
        return ct_fail(&b->err, CT_EINVAL,
                       "%s: a gradient callback is used by the hybrid kind only",
                       kind_what[b->kind]);
    b->gfn = fn;
    b->gctx = ctx;
    b->gsafe = thread_safe != 0;
    return CT_OK;
}

static err_slot *own_slot(ct_bfo *b)
{
    pthread_t self = pthread_self();
    for (int t = 0; t < b->threads; t++)
        if (pthread_equal(b->slots[t].th, self))
            return &b->slots[t];
    return NULL;
}

void ct_bfo_callback_fail(ct_bfo *b, const char *message)
{
    err_slot *s = b && message ? own_slot(b) : NULL;
    if (s) {
        snprintf(s->msg, sizeof s->msg, "%s", message);
        s->has_msg = 1;
    }
}

void ct_bfo_callback_fail_after(ct_bfo *b, const char *message, size_t rows_done)
{
    err_slot *s = b ? own_slot(b) : NULL;
    if (!s)
        return;
    if (message) {
        snprintf(s->msg, sizeof s->msg, "%s", message);
        s->has_msg = 1;
    }
    s->done = rows_done;
    s->has_done = 1;
}

ct_status ct_bfo_set_threads(ct_bfo *b, int threads)
{
    CHECK_HANDLE(b);
    if (threads < 1 || threads > 1024)
        return ct_fail(&b->err, CT_EINVAL, "%s: threads=%d is invalid: must be in [1, 1024]",
                       kind_what[b->kind], threads);
    if (threads == b->threads)
        return CT_OK;
    ct_pool *p = NULL;
    ct_status st = CT_OK;
    if (threads > 1 && (st = ct_pool_create(&p, threads, &b->err)))
        return st;
    err_slot *s = calloc((size_t)threads, sizeof *s);
    if (!s) {
        ct_pool_destroy(p);
        return ct_fail(&b->err, CT_ENOMEM, "%s: out of memory", kind_what[b->kind]);
    }
    ct_pool_destroy(b->pool);
    free(b->slots);
    b->pool = p;
    b->slots = s;
    b->threads = threads;
    ct_pool_run(b->pool, record_thread, b);
    return CT_OK;
}

ct_status ct_bfo_set_bounds(ct_bfo *b, const double *lo, const double *hi)
{
    CHECK_HANDLE(b);
    if (!lo != !hi)
        return ct_fail(&b->err, CT_EINVAL, "%s: bounds: give both lo and hi, or neither",
                       kind_what[b->kind]);
    double o[O_NSLOTS];
    memcpy(o, b->o, sizeof o);
    if (!lo) {
        step_defaults(b, o, NULL, NULL);
        ct_status st = cross_check(b, o);
        if (st)
            return st;
        free(b->lo);
        free(b->hi);
        b->lo = b->hi = NULL;
        memcpy(b->o, o, sizeof o);
        return CT_OK;
    }
    for (size_t i = 0; i < b->dim; i++)
        if (!isfinite(lo[i]) || !isfinite(hi[i]) || !(lo[i] <= hi[i]))
            return ct_fail(&b->err, CT_EINVAL,
                           "%s: bounds[%zu] = [%.17g, %.17g] is invalid: must be finite with "
                           "lo <= hi",
                           kind_what[b->kind], i, lo[i], hi[i]);
    step_defaults(b, o, lo, hi);
    ct_status st = cross_check(b, o);
    if (st)
        return st;
    double *nl = b->lo ? b->lo : malloc(b->dim * sizeof(double));
    double *nh = b->hi ? b->hi : malloc(b->dim * sizeof(double));
    if (!nl || !nh) {
        if (nl != b->lo)
            free(nl);
        if (nh != b->hi)
            free(nh);
        return ct_fail(&b->err, CT_ENOMEM, "%s: out of memory", kind_what[b->kind]);
    }
    memcpy(nl, lo, b->dim * sizeof(double));
    memcpy(nh, hi, b->dim * sizeof(double));
    b->lo = nl;
    b->hi = nh;
    memcpy(b->o, o, sizeof o);
    return CT_OK;
}

/* ------------------------------------------------------------------------ */
/* random numbers: counter (rng_ctr, bacterium, draw)                       */

static void unif2(const ct_bfo *b, uint64_t ctr, size_t bact, uint32_t j, double u[2])
{
    ct_rng_uniform2((uint64_t)b->o[O_SEED], ctr, (uint32_t)bact, j, u);
}

static void norm2(const ct_bfo *b, uint64_t ctr, size_t bact, uint32_t j, double z[2])
{
    ct_rng_normal2((uint64_t)b->o[O_SEED], ctr, (uint32_t)bact, j, z);
}

/* Mantegna (1994) eq. (ii)-(iv) for the simple case K=1, N=1: x = u/|v|^(1/a)
 * with u ~ N(0, sigma_u^2), v ~ N(0,1). */
static double levy(const ct_bfo *b, uint64_t ctr, size_t bact, uint32_t j)
{
    const double a = b->o[O_LEVY];
    const double su =
        pow(tgamma(1 + a) * sin(3.14159265358979323846 * a / 2) / (tgamma((1 + a) / 2) * a * pow(2, (a - 1) / 2)),
            1 / a);
    double z[2];
    norm2(b, ctr, bact, j, z);
    double v = fabs(z[1]);
    if (v < 1e-300)
        v = 1e-300;
    return su * z[0] / pow(v, 1 / a);
}

/* ------------------------------------------------------------------------ */
/* domain                                                                   */

static void fix_bounds(const ct_bfo *b, double *x)
{
    if (!b->lo)
        return;
    for (size_t i = 0; i < b->dim; i++) {
        double l = b->lo[i], h = b->hi[i], v = x[i];
        if (!isfinite(v)) {
            v = isnan(v) ? l : (v > 0 ? h : l);
        } else if (b->o[O_BOUND] == BOUND_REFLECT && h > l) {
            for (int k = 0; k < 4 && (v < l || v > h); k++)
                v = v < l ? 2 * l - v : 2 * h - v;
        }
        if (v < l)
            v = l;
        if (v > h)
            v = h;
        x[i] = v;
    }
}

/* A random point for bacterium i: uniform in the bounds, else around c. */
static void disperse(const ct_bfo *b, uint64_t ctr, size_t i, const double *c, double *x)
{
    for (size_t k = 0; k < b->dim; k += 2) {
        double u[2];
        unif2(b, ctr, i, (uint32_t)(k / 2), u);
        for (size_t m = 0; m < 2 && k + m < b->dim; m++) {
            size_t q = k + m;
            if (b->lo)
                x[q] = b->lo[q] + u[m] * (b->hi[q] - b->lo[q]);
            else
                x[q] = c[q] + b->o[O_INIT] * (2 * u[m] - 1);
        }
    }
    fix_bounds(b, x);
}

/* ------------------------------------------------------------------------ */
/* evaluation                                                               */

static uint64_t remaining(const ct_bfo *b)
{
    uint64_t r = UINT64_MAX;
    uint64_t maxfe = (uint64_t)b->o[O_MAXFE];
    if (maxfe)
        r = b->n_evals >= maxfe ? 0 : maxfe - b->n_evals;
    if (b->step_limit) {
        uint64_t s = b->step_evals >= b->step_limit ? 0 : b->step_limit - b->step_evals;
        if (s < r)
            r = s;
    }
    return r;
}

static int use_grad(const ct_bfo *b) { return b->kind == KIND_HYBRID && b->gfn; }

static void eval_part(void *ctx, int tid, int nthreads)
{
    ct_bfo *b = ctx;
    size_t r0, r1;
    ct_pool_split(b->bn, tid, nthreads, &r0, &r1);
    b->slots[tid].st = CT_OK;
    b->slots[tid].has_msg = 0;
    b->slots[tid].has_done = 0;
    b->slots[tid].rows = r1 - r0;
    if (r0 >= r1)
        return;
    const size_t d = b->dim;
    if (use_grad(b))
        b->slots[tid].st = b->gfn(b->gctx, b->bx + r0 * d, r1 - r0, d, b->bf + r0,
                                  b->bg + r0 * d);
    else
        b->slots[tid].st = b->fn(b->fctx, b->bx + r0 * d, r1 - r0, d, b->bf + r0);
}

/* Evaluates rows [0, *n) of x into f (and g). *n is cut to the budget first;
 * *exhausted says whether the budget stopped it. */
static ct_status eval_rows(ct_bfo *b, const double *x, size_t *n, double *f, double *g,
                           int *exhausted)
{
    uint64_t r = remaining(b);
    if ((uint64_t)*n > r) {
        *n = (size_t)r;
        *exhausted = 1;
    }
    if (*n == 0)
        return CT_OK;
    b->bx = x;
    b->bf = f;
    b->bg = g;
    b->bn = *n;
    int safe = use_grad(b) ? b->gsafe : b->fsafe;
    set_slot0_thread(b);
    if (safe && b->threads > 1 && *n > 1)
        ct_pool_run(b->pool, eval_part, b);
    else
        eval_part(b, 0, 1);
    int nt = (safe && b->threads > 1 && *n > 1) ? b->threads : 1;
    /* every row handed to the callback counts, except those a failing call
     * said it did not reach (ct_bfo_callback_fail_after) */
    size_t done = 0;
    for (int t = 0; t < nt; t++) {
        const err_slot *sl = &b->slots[t];
        done += sl->st && sl->has_done && sl->done < sl->rows ? sl->done : sl->rows;
    }
    b->n_evals += done;
    b->step_evals += done;
    for (int t = 0; t < nt; t++)
        if (b->slots[t].st) {
            ct_status st = b->slots[t].st;
            if (b->slots[t].has_msg)
                return ct_fail(&b->err, st, "%s", b->slots[t].msg);
            return ct_fail(&b->err, st, "%s: the fitness callback failed with status %d (%s)",
                           kind_what[b->kind], (int)st, ct_status_str(st));
        }
    /* every evaluated row is a candidate for the best; the first row is
     * the best so far even when its fitness is +inf or NaN, so that
     * best_params is always a point whose value is best_fitness (and, with
     * a gradient callback, best_g the gradient there) */
    for (size_t i = 0; i < *n; i++)
        if (!b->has_best || better(f[i], b->best_f)) {
            b->best_f = f[i];
            memcpy(b->best_x, x + i * b->dim, b->dim * sizeof(double));
            b->has_best = 1;
            b->has_best_g = use_grad(b);
            if (b->has_best_g)
                memcpy(b->best_g, g + i * b->dim, b->dim * sizeof(double));
        }
    return CT_OK;
}

/* ------------------------------------------------------------------------ */
/* cell-to-cell attraction and repulsion                                    */

static double jcc(const ct_bfo *b, const double *x)
{
    if (!b->o[O_SWARM])
        return 0.0;
    double s = 0;
    for (size_t j = 0; j < b->n; j++) {
        const double *y = b->pos + j * b->dim;
        double d2 = 0;
        for (size_t k = 0; k < b->dim; k++) {
            double t = x[k] - y[k];
            d2 += t * t;
        }
        s += -b->o[O_DA] * exp(-b->o[O_WA] * d2) + b->o[O_HR] * exp(-b->o[O_WR] * d2);
    }
    return s;
}

/* ------------------------------------------------------------------------ */
/* step sizes                                                               */

static double smax_eff(const ct_bfo *b)
{
    double s = b->o[O_SMAX] * b->scale;
    return s < b->o[O_SMIN] ? b->o[O_SMIN] : s;
}

static double progress(const ct_bfo *b)
{
    uint64_t maxfe = (uint64_t)b->o[O_MAXFE];
    if (maxfe)
        return (double)b->n_evals / (double)maxfe;
    double per = b->o[O_NC] * b->o[O_NRE] * b->o[O_NED];
    double at = (double)((b->cyc_ed * (uint64_t)b->o[O_NRE] + b->cyc_re) * (uint64_t)b->o[O_NC] +
                         b->cyc_c);
    return at / per;
}

static double base_step(const ct_bfo *b, size_t i)
{
    const double smax = smax_eff(b), smin = b->o[O_SMIN];
    double p = progress(b);
    if (p > 1)
        p = 1;
    switch ((int)b->o[O_SCHED]) {
    case SCHED_CONSTANT: return smax;
    case SCHED_LINEAR: return smax - (smax - smin) * p;
    case SCHED_EXP: return smax * pow(smin / smax, p);
    default: {
        double s = b->step[i];
        return s > smax ? smax : s < smin ? smin : s;
    }
    }
}

static void adapt_step(ct_bfo *b, size_t i, int success)
{
    if ((int)b->o[O_SCHED] != SCHED_ADAPTIVE)
        return;
    const double dd = 1.0 + (double)b->dim / 2.0;
    double s = b->step[i] * (success ? exp(1.0 / dd) : exp(-0.25 / dd));
    const double smax = smax_eff(b), smin = b->o[O_SMIN];
    b->step[i] = s > smax ? smax : s < smin ? smin : s;
}

/* ------------------------------------------------------------------------ */
/* population bookkeeping                                                   */

static void copy_bact(ct_bfo *b, size_t to, size_t from)
{
    const size_t d = b->dim;
    memcpy(b->pos + to * d, b->pos + from * d, d * sizeof(double));
    b->fit[to] = b->fit[from];
    b->health[to] = b->health[from];
    b->step[to] = b->step[from];
    b->pend[to] = b->pend[from];
    if (b->kind == KIND_HYBRID) {
        memcpy(b->grad + to * d, b->grad + from * d, d * sizeof(double));
        memcpy(b->mom + to * d, b->mom + from * d, d * sizeof(double));
    }
}

static void reset_bact(ct_bfo *b, size_t i)
{
    b->fit[i] = NAN;
    b->health[i] = 0;
    b->step[i] = smax_eff(b);
    b->pend[i] = 1;
    if (b->kind == KIND_HYBRID) {
        memset(b->grad + i * b->dim, 0, b->dim * sizeof(double));
        memset(b->mom + i * b->dim, 0, b->dim * sizeof(double));
    }
}

static int best_index(const ct_bfo *b, size_t *out)
{
    int found = 0;
    for (size_t i = 0; i < b->n; i++)
        if (!b->pend[i] && (!found || better(b->fit[i], b->fit[*out]))) {
            *out = i;
            found = 1;
        }
    return found;
}

/* Evaluates every pending bacterium (as far as the budget goes). */
static ct_status eval_pending(ct_bfo *b, int *exhausted)
{
    size_t m = 0;
    for (size_t i = 0; i < b->n; i++)
        if (b->pend[i]) {
            memcpy(b->cand + m * b->dim, b->pos + i * b->dim, b->dim * sizeof(double));
            b->rows[m++] = i;
        }
    if (!m)
        return CT_OK;
    size_t k = m;
    ct_status st = eval_rows(b, b->cand, &k, b->cfit, b->cgrad, exhausted);
    if (st)
        return st;
    for (size_t r = 0; r < k; r++) {
        size_t i = b->rows[r];
        b->fit[i] = b->cfit[r];
        b->pend[i] = 0;
        if (b->kind == KIND_HYBRID && use_grad(b))
            memcpy(b->grad + i * b->dim, b->cgrad + r * b->dim, b->dim * sizeof(double));
    }
    return CT_OK;
}

/* Sorts idx[0..n) by key ascending (NaN last), ties by index: a stable,
 * allocation-free insertion sort (populations are small). */
static void rank(ct_bfo *b, const double *key)
{
    for (size_t i = 0; i < b->n; i++)
        b->idx[i] = i;
    for (size_t i = 1; i < b->n; i++) {
        size_t v = b->idx[i];
        size_t j = i;
        while (j > 0) {
            size_t u = b->idx[j - 1];
            int pv = b->pend[v] != 0, pu = b->pend[u] != 0;
            int lt = (pv != pu) ? pu : better(key[v], key[u]);
            if (!lt)
                break;
            b->idx[j] = u;
            j--;
        }
        b->idx[j] = v;
    }
}

/* Moves bacterium order to idx order (uses cand/cfit... as scratch through
 * a cycle-free copy: we rebuild via tmp rows one by one). */
static void resize_population(ct_bfo *b, size_t target)
{
    if (target == b->n)
        return;
    if (target < b->n) {
        /* drop the worst: rank by fitness, keep the best `target` */
        rank(b, b->fit);
        /* mark kept ones, then compact in index order */
        memset(b->active, 0, b->n);
        for (size_t r = 0; r < target; r++)
            b->active[b->idx[r]] = 1;
        size_t w = 0;
        for (size_t i = 0; i < b->n; i++)
            if (b->active[i]) {
                if (w != i)
                    copy_bact(b, w, i);
                w++;
            }
        b->n = target;
        return;
    }
    uint64_t ctr = b->rng_ctr++;
    for (size_t i = b->n; i < target; i++) {
        reset_bact(b, i);
        disperse(b, ctr, i, b->best_x, b->pos + i * b->dim);
    }
    b->n = target;
}

/* ------------------------------------------------------------------------ */
/* one chemotactic generation                                               */

static ct_status generation(ct_bfo *b, int *exhausted)
{
    const size_t d = b->dim, n = b->n;
    const int enhanced = (int)b->o[O_VARIANT] == VAR_ENHANCED;
    const int hyb = b->kind == KIND_HYBRID && use_grad(b);
    const double gw = hyb ? b->o[O_GW] : 0.0;
    const uint64_t ctr = b->rng_ctr++;
    const int lev = enhanced && b->o[O_LEVY] < 2.0;
    ct_status st;

    /* costs at the start, tumble directions and lengths */
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        b->active[i] = 0;
        if (b->pend[i])
            continue;
        const double *x = b->pos + i * d;
        double *u = b->dir + i * d;
        b->jcur[i] = b->fit[i] + jcc(b, x);
        for (size_t k = 0; k < d; k += 2) {
            double z[2];
            if (enhanced) {
                norm2(b, ctr, i, (uint32_t)(k / 2), z);
            } else {
                unif2(b, ctr, i, (uint32_t)(k / 2), z);
                z[0] = 2 * z[0] - 1;
                z[1] = 2 * z[1] - 1;
            }
            u[k] = z[0];
            if (k + 1 < d)
                u[k + 1] = z[1];
        }
        double nu = dnorm(u, d);
        for (size_t k = 0; k < d; k++)
            u[k] = nu > 0 ? u[k] / nu : 0;
        if (hyb && gw > 0) {
            double *mo = b->mom + i * d;
            const double *g = b->grad + i * d;
            for (size_t k = 0; k < d; k++)
                mo[k] = b->o[O_MOM] * mo[k] + g[k];
            double nm = dnorm(mo, d);
            if (nm > 0 && isfinite(nm)) {
                for (size_t k = 0; k < d; k++)
                    u[k] = (1 - gw) * u[k] - gw * mo[k] / nm;
                nu = dnorm(u, d);
                for (size_t k = 0; k < d; k++)
                    u[k] = nu > 0 ? u[k] / nu : 0;
            }
        }
        double len = base_step(b, i);
        int lev_i = 1;
        b->active[i] = 0;
        if (enhanced && b->o[O_SOCIAL] > 0 && n >= 4 && b->has_best) {
            double v[2];
            unif2(b, ctr, i, 0xFFFFFFF0u, v);
            /* the hybrid kind gives social moves the share the gradient leaves */
            if (v[0] < b->o[O_SOCIAL] * (1.0 - gw)) {
                /* social tumble: current-to-best/1 difference vector */
                size_t r1 = (size_t)(v[1] * (double)n) % n, r2;
                unif2(b, ctr, i, 0xFFFFFFF1u, v);
                r2 = (size_t)(v[0] * (double)(n - 1)) % (n - 1);
                if (r2 >= r1)
                    r2++;
                const double *x1 = b->pos + r1 * d, *x2 = b->pos + r2 * d;
                for (size_t q = 0; q < d; q++)
                    u[q] = 0.5 * (b->best_x[q] - x[q]) + 0.7 * (x1[q] - x2[q]);
                double nv = dnorm(u, d);
                if (nv > 0 && isfinite(nv)) {
                    for (size_t q = 0; q < d; q++)
                        u[q] /= nv;
                    len = nv;
                    lev_i = 0;
                    b->active[i] = 2; /* marks a social move (no step adaptation) */
                }
            }
        }
        if (lev && lev_i) {
            double l = fabs(levy(b, ctr, i, (uint32_t)((d + 1) / 2)));
            len *= l > 10 ? 10 : l;
        }
        b->len[i] = len;
        double *c = b->cand + m * d;
        for (size_t k = 0; k < d; k++)
            c[k] = x[k] + len * u[k];
        fix_bounds(b, c);
        b->rows[m++] = i;
    }

    /* tumble */
    size_t k = m;
    if ((st = eval_rows(b, b->cand, &k, b->cfit, b->cgrad, exhausted)))
        return st;
    for (size_t r = 0; r < k; r++) {
        size_t i = b->rows[r];
        double *x = b->pos + i * d;
        const double *c = b->cand + r * d;
        double jn = b->cfit[r] + jcc(b, c);
        int improved = better(jn, b->jcur[i]);
        if (!enhanced || improved) {
            memcpy(x, c, d * sizeof(double));
            b->fit[i] = b->cfit[r];
            if (hyb)
                memcpy(b->grad + i * d, b->cgrad + r * d, d * sizeof(double));
        }
        if (enhanced && b->active[i] != 2)
            adapt_step(b, i, improved);
        b->active[i] = improved ? 1 : 0;
        if (!enhanced || improved)
            b->jnew[i] = jn;
        else
            b->jnew[i] = b->jcur[i];
    }
    if (k < m)
        return CT_OK; /* budget gone mid-batch: the rest did not move */

    /* swim: keep going in the same direction while J decreases */
    for (size_t s = 0; s < (size_t)b->o[O_NS]; s++) {
        m = 0;
        for (size_t i = 0; i < n; i++) {
            if (!b->active[i])
                continue;
            const double *x = b->pos + i * d;
            double *c = b->cand + m * d;
            for (size_t q = 0; q < d; q++)
                c[q] = x[q] + b->len[i] * b->dir[i * d + q];
            fix_bounds(b, c);
            b->rows[m++] = i;
        }
        if (!m)
            break;
        k = m;
        if ((st = eval_rows(b, b->cand, &k, b->cfit, b->cgrad, exhausted)))
            return st;
        for (size_t r = 0; r < k; r++) {
            size_t i = b->rows[r];
            const double *c = b->cand + r * d;
            double jn = b->cfit[r] + jcc(b, c);
            int improved = better(jn, b->jnew[i]);
            if (!enhanced || improved) {
                memcpy(b->pos + i * d, c, d * sizeof(double));
                b->fit[i] = b->cfit[r];
                b->jnew[i] = jn;
                if (hyb)
                    memcpy(b->grad + i * d, b->cgrad + r * d, d * sizeof(double));
            }
            if (enhanced && improved)
                adapt_step(b, i, 1);
            if (!improved)
                b->active[i] = 0;
        }
        if (k < m)
            return CT_OK;
    }
    for (size_t i = 0; i < n; i++)
        if (!b->pend[i])
            b->health[i] += isnan(b->jnew[i]) ? INFINITY : b->jnew[i];
    return CT_OK;
}

/* Reproduction: the better half (by health; enhanced: by current cost)
 * splits, each copy replacing one of the worse half. */
static void reproduce(ct_bfo *b)
{
    const int enhanced = (int)b->o[O_VARIANT] == VAR_ENHANCED;
    if (enhanced) {
        for (size_t i = 0; i < b->n; i++)
            b->jcur[i] = b->fit[i] + jcc(b, b->pos + i * b->dim);
        rank(b, b->jcur);
    } else {
        rank(b, b->health);
    }
    const size_t half = b->n / 2;
    /* the worse half (ranks half..) is overwritten by the better half */
    for (size_t r = 0; r < half; r++)
        copy_bact(b, b->idx[b->n - 1 - r], b->idx[r]);
    for (size_t i = 0; i < b->n; i++)
        b->health[i] = 0;
}

static void eliminate(ct_bfo *b)
{
    const int enhanced = (int)b->o[O_VARIANT] == VAR_ENHANCED;
    const uint64_t ctr = b->rng_ctr++;
    size_t keep = SIZE_MAX;
    if (enhanced)
        best_index(b, &keep);
    for (size_t i = 0; i < b->n; i++) {
        double u[2];
        unif2(b, ctr, i, 0xFFFFFFFFu, u);
        if (i == keep || !(u[0] < b->ped_eff))
            continue;
        reset_bact(b, i);
        disperse(b, ctr, i, b->best_x, b->pos + i * b->dim);
    }
}

static void restart_population(ct_bfo *b)
{
    size_t keep = SIZE_MAX;
    best_index(b, &keep);
    const uint64_t ctr = b->rng_ctr++;
    for (size_t i = 0; i < b->n; i++) {
        if (i == keep) {
            b->step[i] = smax_eff(b);
            continue;
        }
        reset_bact(b, i);
        disperse(b, ctr, i, b->best_x, b->pos + i * b->dim);
    }
    b->n_restarts++;
}

/* AdaptiveBFO, after each step: improvement -> larger step scale and a
 * smaller population; stagnation -> smaller steps, a larger population;
 * diversity below the threshold -> a higher elimination probability, else
 * it relaxes towards elimination_prob. */
static void adapt_after_step(ct_bfo *b, double best_before)
{
    const double r = b->o[O_ARATE];
    const double pmin = b->o[O_PMIN], pmax = b->o[O_PMAX];
    const int improved = better(b->best_f, best_before) &&
                         (best_before - b->best_f) > 1e-12 * fmax(1.0, fabs(b->best_f));
    double div = 0;
    ct_bfo_diversity(b, &div);
    if (improved) {
        b->scale *= 1 + r;
        if (b->scale > 10)
            b->scale = 10;
    } else {
        b->scale *= 1 - r;
        if (b->scale < 1e-6)
            b->scale = 1e-6;
    }
    if (div < b->o[O_DTHR])
        b->ped_eff = fmin(0.95, b->ped_eff * (1 + r) + r * 0.1);
    else
        b->ped_eff += r * (b->o[O_PED] - b->ped_eff);
    double delta = ceil(r * (double)b->n);
    double t = (double)b->n + (improved ? -delta : delta);
    if (t < pmin)
        t = pmin;
    if (t > pmax)
        t = pmax;
    b->pop_target = (size_t)t;
}

/* ------------------------------------------------------------------------ */
/* state (de)serialization                                                  */

#define MAGIC "CTBFO\0\0\1"

static size_t state_bytes(const ct_bfo *b, size_t n, uint32_t version)
{
    size_t hyb = b->kind == KIND_HYBRID ? 2 * n * b->dim + (version >= 2 ? b->dim : 0) : 0;
    size_t arrays = 4 * n + 1 + b->dim + hyb + n * b->dim;
    return 8 + 4 * 4 + 8 * 2 + 8 * O_NSLOTS + 8 * N_U64 + 8 * N_DBL + 8 * arrays;
}

typedef struct wbuf {
    unsigned char *p;
    size_t at;
} wbuf;
static void put(wbuf *w, const void *src, size_t len)
{
    memcpy(w->p + w->at, src, len);
    w->at += len;
}
static void put_u32(wbuf *w, uint32_t v) { put(w, &v, 4); }
static void put_u64(wbuf *w, uint64_t v) { put(w, &v, 8); }

static void save_into(const ct_bfo *b, unsigned char *out)
{
    wbuf w = {out, 0};
    put(&w, MAGIC, 8);
    put_u32(&w, STATE_VERSION);
    put_u32(&w, (uint32_t)b->kind);
    put_u32(&w, (uint32_t)((b->initialized ? 1 : 0) | (b->stopped ? 2 : 0) | (b->has_best ? 4 : 0) |
                         (b->smax_given ? 8 : 0) | (b->smin_given ? 16 : 0) |
                         (b->has_best_g ? 32 : 0)));
    put_u32(&w, O_NSLOTS);
    put_u64(&w, b->dim);
    put_u64(&w, b->n);
    put(&w, b->o, 8 * O_NSLOTS);
    uint64_t u[N_U64] = {b->pop_target, b->n_evals, b->n_steps, b->n_gen, b->n_restarts,
                         b->rng_ctr, b->cyc_ed, b->cyc_re, b->cyc_c, b->es_gen, b->stag_gen,
                         0, 0, 0};
    put(&w, u, sizeof u);
    double dv[N_DBL] = {b->best_f, b->es_ref, b->stag_ref, b->scale, b->ped_eff, 0};
    put(&w, dv, sizeof dv);
    put(&w, b->best_x, 8 * b->dim);
    put(&w, b->pos, 8 * b->n * b->dim);
    put(&w, b->fit, 8 * b->n);
    put(&w, b->health, 8 * b->n);
    put(&w, b->step, 8 * b->n);
    put(&w, b->pend, 8 * b->n);
    double zero = 0;
    put(&w, &zero, 8); /* reserved */
    if (b->kind == KIND_HYBRID) {
        put(&w, b->grad, 8 * b->n * b->dim);
        put(&w, b->mom, 8 * b->n * b->dim);
        put(&w, b->best_g, 8 * b->dim);
    }
}

ct_status ct_bfo_state_size(const ct_bfo *b, size_t *bytes)
{
    CHECK_HANDLE(b);
    if (!bytes)
        return ct_fail((ct_err *)&b->err, CT_EINVAL, "ct_bfo_state_size: bytes is NULL");
    *bytes = state_bytes(b, b->n, STATE_VERSION);
    return CT_OK;
}

ct_status ct_bfo_state_save(const ct_bfo *b, void *buf, size_t cap)
{
    CHECK_HANDLE(b);
    size_t need = state_bytes(b, b->n, STATE_VERSION);
    if (!buf || cap < need)
        return ct_fail((ct_err *)&b->err, CT_EINVAL,
                       "ct_bfo_state_save: buffer of %zu bytes is too small (need %zu)", cap,
                       need);
    save_into(b, buf);
    return CT_OK;
}

typedef struct rbuf {
    const unsigned char *p;
    size_t at, len;
} rbuf;
static int get(rbuf *r, void *dst, size_t len)
{
    if (r->len - r->at < len)
        return 0;
    memcpy(dst, r->p + r->at, len);
    r->at += len;
    return 1;
}

/* keep_evals: the rollback of a failed step keeps the evaluation count. */
static ct_status load_from(ct_bfo *b, const unsigned char *p, size_t len, int keep_evals)
{
    const char *w = kind_what[b->kind];
    rbuf r = {p, 0, len};
    char magic[8];
    uint32_t ver, kind, flags, nslots;
    uint64_t dim, n;
    if (!get(&r, magic, 8) || memcmp(magic, MAGIC, 8) || !get(&r, &ver, 4) || !get(&r, &kind, 4) ||
        !get(&r, &flags, 4) || !get(&r, &nslots, 4) || !get(&r, &dim, 8) || !get(&r, &n, 8))
        return ct_fail(&b->err, CT_EFORMAT, "%s: state: not a ctrain BFO state (bad header)", w);
    if (ver < 1 || ver > STATE_VERSION || nslots != O_NSLOTS)
        return ct_fail(&b->err, CT_EFORMAT, "%s: state: unsupported version %u", w, ver);
    if (kind != (uint32_t)b->kind)
        return ct_fail(&b->err, CT_EMISMATCH, "%s: state: saved by kind '%s', not '%s'", w,
                       kind < 3 ? kind_names[kind] : "?", kind_names[b->kind]);
    if (dim != b->dim)
        return ct_fail(&b->err, CT_EMISMATCH, "%s: state: dim %llu does not match dim %zu", w,
                       (unsigned long long)dim, b->dim);
    if (n > 1000000 || state_bytes(b, (size_t)n, ver) != len)
        return ct_fail(&b->err, CT_EFORMAT, "%s: state: %zu bytes, expected %zu for %llu bacteria",
                       w, len, n <= 1000000 ? state_bytes(b, (size_t)n, ver) : 0,
                       (unsigned long long)n);
    double o[O_NSLOTS];
    get(&r, o, sizeof o);
    ct_status st = ct_opts_check(b->od, b->nod, w, o, &b->err);
    if (st)
        return ct_fail_keep(&b->err, CT_EFORMAT);
    if ((st = cross_check(b, o)))
        return ct_fail_keep(&b->err, CT_EFORMAT);
    uint64_t u[N_U64];
    double dv[N_DBL];
    get(&r, u, sizeof u);
    get(&r, dv, sizeof dv);
    /* the population the next step resizes to: population_size, or for the
     * adaptive kind within its bounds (0: not recorded, the current size) */
    const int adaptive = b->kind == KIND_ADAPTIVE;
    const uint64_t pmin = adaptive ? (uint64_t)o[O_PMIN] : (uint64_t)o[O_POP];
    const uint64_t pmax = adaptive ? (uint64_t)o[O_PMAX] : (uint64_t)o[O_POP];
    if (u[0] != 0 && (u[0] < pmin || u[0] > pmax))
        return ct_fail(&b->err, CT_EFORMAT,
                       "%s: state: population target %llu outside [%llu, %llu]", w,
                       (unsigned long long)u[0], (unsigned long long)pmin,
                       (unsigned long long)pmax);
    size_t need = needed_cap(b, o);
    if (need < n)
        need = (size_t)n;
    if ((st = ensure_cap(b, need)))
        return st;
    memcpy(b->o, o, sizeof o);
    b->n = (size_t)n;
    b->initialized = (flags & 1) != 0;
    b->stopped = (flags & 2) != 0;
    b->has_best = (flags & 4) != 0;
    b->smax_given = (flags & 8) != 0;
    b->smin_given = (flags & 16) != 0;
    b->has_best_g = b->kind == KIND_HYBRID && ver >= 2 && (flags & 32) != 0;
    b->pop_target = (size_t)u[0];
    if (!keep_evals)
        b->n_evals = u[1];
    b->n_steps = u[2];
    b->n_gen = u[3];
    b->n_restarts = u[4];
    b->rng_ctr = u[5];
    b->cyc_ed = u[6];
    b->cyc_re = u[7];
    b->cyc_c = u[8];
    b->es_gen = u[9];
    b->stag_gen = u[10];
    b->best_f = dv[0];
    b->es_ref = dv[1];
    b->stag_ref = dv[2];
    b->scale = dv[3];
    b->ped_eff = dv[4];
    double reserved;
    get(&r, b->best_x, 8 * b->dim);
    get(&r, b->pos, 8 * b->n * b->dim);
    get(&r, b->fit, 8 * b->n);
    get(&r, b->health, 8 * b->n);
    get(&r, b->step, 8 * b->n);
    get(&r, b->pend, 8 * b->n);
    get(&r, &reserved, 8);
    if (b->kind == KIND_HYBRID) {
        get(&r, b->grad, 8 * b->n * b->dim);
        get(&r, b->mom, 8 * b->n * b->dim);
        if (ver >= 2)
            get(&r, b->best_g, 8 * b->dim);
    }
    if (b->pop_target == 0)
        b->pop_target = b->n ? b->n : (size_t)b->o[O_POP];
    return CT_OK;
}

ct_status ct_bfo_state_load(ct_bfo *b, const void *buf, size_t len)
{
    CHECK_HANDLE(b);
    if (!buf)
        return ct_fail(&b->err, CT_EINVAL, "ct_bfo_state_load: buf is NULL");
    /* validate on a copy of the header first: all or nothing */
    ct_status st = load_from(b, buf, len, 0);
    return st;
}

/* ------------------------------------------------------------------------ */
/* the step                                                                 */

static ct_status initialize(ct_bfo *b, const double *x0, int *exhausted)
{
    const size_t d = b->dim;
    b->n = b->pop_target;
    const uint64_t ctr = b->rng_ctr++;
    for (size_t i = 0; i < b->n; i++) {
        reset_bact(b, i);
        if (i == 0) {
            memcpy(b->pos, x0, d * sizeof(double));
            fix_bounds(b, b->pos);
        } else {
            disperse(b, ctr, i, x0, b->pos + i * d);
        }
    }
    b->initialized = 1;
    b->es_gen = b->stag_gen = b->n_gen;
    b->es_ref = b->stag_ref = INFINITY;
    return eval_pending(b, exhausted);
}

/* After a generation: early stopping and (enhanced) stagnation restarts. */
static void after_generation(ct_bfo *b, int *stop)
{
    b->n_gen++;
    const double best = b->best_f;
    const uint64_t win = (uint64_t)b->o[O_ESW];
    if (win) {
        if (b->n_gen - b->es_gen >= win) {
            double tol = b->o[O_EST] * fmax(1.0, fabs(best));
            if (!(b->es_ref - best > tol) && isfinite(b->es_ref))
                *stop = 1;
            b->es_ref = best;
            b->es_gen = b->n_gen;
        }
    }
    if ((int)b->o[O_VARIANT] == VAR_ENHANCED && b->o[O_RESTART]) {
        if (better(best, b->stag_ref) &&
            (b->stag_ref - best > 1e-12 * fmax(1.0, fabs(best)) || !isfinite(b->stag_ref))) {
            b->stag_ref = best;
            b->stag_gen = b->n_gen;
        }
        const uint64_t swin = (uint64_t)(b->o[O_NC] * b->o[O_NRE]);
        int collapsed = (int)b->o[O_SCHED] == SCHED_ADAPTIVE;
        for (size_t i = 0; i < b->n && collapsed; i++)
            if (!b->pend[i] && b->step[i] > b->o[O_SMIN] * 1.0000001)
                collapsed = 0;
        if (b->n_gen - b->stag_gen >= swin || collapsed) {
            restart_population(b);
            b->stag_gen = b->n_gen;
            b->stag_ref = best;
        }
    }
}

static ct_status run_step(ct_bfo *b, const double *x0)
{
    int exhausted = 0, stop = 0;
    ct_status st;
    if (!b->initialized) {
        if ((st = initialize(b, x0, &exhausted)))
            return st;
    } else {
        resize_population(b, b->pop_target);
    }
    if (!exhausted && (st = eval_pending(b, &exhausted)))
        return st;
    const uint64_t ned = (uint64_t)b->o[O_NED], nre = (uint64_t)b->o[O_NRE],
                   nc = (uint64_t)b->o[O_NC];
    while (!exhausted && !stop) {
        if (b->cyc_c < nc) {
            if ((st = generation(b, &exhausted)))
                return st;
            if (exhausted)
                break;
            b->cyc_c++;
            after_generation(b, &stop);
            if ((st = eval_pending(b, &exhausted)))
                return st;
            continue;
        }
        b->cyc_c = 0;
        reproduce(b);
        if (++b->cyc_re < nre)
            continue;
        b->cyc_re = 0;
        eliminate(b);
        if ((st = eval_pending(b, &exhausted)))
            return st;
        if (++b->cyc_ed >= ned) {
            b->cyc_ed = 0;
            break; /* one full cycle: the step is done */
        }
    }
    if (exhausted && remaining(b) == 0 && (uint64_t)b->o[O_MAXFE] &&
        b->n_evals >= (uint64_t)b->o[O_MAXFE])
        b->stopped = 1;
    if (stop)
        b->stopped = 1;
    return CT_OK;
}

ct_status ct_bfo_step(ct_bfo *b, double *x, uint64_t max_fe_step, double *best)
{
    CHECK_HANDLE(b);
    if (!x)
        return ct_fail(&b->err, CT_EINVAL, "%s: step: x is NULL", kind_what[b->kind]);
    if (b->kind == KIND_HYBRID ? (!b->fn && !b->gfn) : !b->fn)
        return ct_fail(&b->err, CT_ESTATE,
                       "%s: step: no fitness callback (call ct_bfo_set_fitness first)",
                       kind_what[b->kind]);
    if (!b->fn && !use_grad(b))
        return ct_fail(&b->err, CT_ESTATE, "%s: step: no fitness callback", kind_what[b->kind]);
    if (!b->initialized)
        for (size_t i = 0; i < b->dim; i++)
            if (!isfinite(x[i]))
                return ct_fail(&b->err, CT_ENONFINITE,
                               "%s: step: the starting point has a non-finite value at %zu",
                               kind_what[b->kind], i);
    if (b->stopped || (b->o[O_MAXFE] && b->n_evals >= (uint64_t)b->o[O_MAXFE])) {
        b->stopped = 1;
        if (b->has_best)
            memcpy(x, b->best_x, b->dim * sizeof(double));
        if (best)
            *best = b->best_f;
        return CT_OK;
    }
    save_into(b, b->snap);
    const double before = b->best_f;
    b->step_evals = 0;
    b->step_limit = max_fe_step;
    ct_status st = run_step(b, x);
    b->step_limit = 0;
    if (st) {
        char msg[CT_ERRMSG_CAP];
        memcpy(msg, b->err.msg, sizeof msg);
        uint64_t n0;
        memcpy(&n0, b->snap + 32, 8);
        load_from(b, b->snap, state_bytes(b, (size_t)n0, STATE_VERSION), 1);
        memcpy(b->err.msg, msg, sizeof msg);
        if (b->has_best)
            memcpy(x, b->best_x, b->dim * sizeof(double));
        return ct_fail(&b->err, st, "%s", msg);
    }
    if (b->kind == KIND_ADAPTIVE)
        adapt_after_step(b, before);
    b->n_steps++;
    if (b->has_best)
        memcpy(x, b->best_x, b->dim * sizeof(double));
    if (best)
        *best = b->best_f;
    return CT_OK;
}

ct_status ct_bfo_reinit(ct_bfo *b)
{
    CHECK_HANDLE(b);
    b->initialized = 0;
    b->n = 0;
    b->cyc_c = b->cyc_re = b->cyc_ed = 0;
    b->stopped = 0;
    return CT_OK;
}

ct_status ct_bfo_best(const ct_bfo *b, double *x, double *fitness)
{
    CHECK_HANDLE(b);
    if (x && b->has_best)
        memcpy(x, b->best_x, b->dim * sizeof(double));
    else if (x)
        memset(x, 0, b->dim * sizeof(double));
    if (fitness)
        *fitness = b->best_f;
    return CT_OK;
}

ct_status ct_bfo_best_grad(const ct_bfo *b, double *g, int *known)
{
    CHECK_HANDLE(b);
    if (!g)
        return ct_fail((ct_err *)&b->err, CT_EINVAL, "ct_bfo_best_grad: g is NULL");
    const int k = b->has_best && b->has_best_g;
    if (k)
        memcpy(g, b->best_g, b->dim * sizeof(double));
    else
        memset(g, 0, b->dim * sizeof(double));
    if (known)
        *known = k;
    return CT_OK;
}

ct_status ct_bfo_diversity(const ct_bfo *b, double *out)
{
    CHECK_HANDLE(b);
    if (!out)
        return ct_fail((ct_err *)&b->err, CT_EINVAL, "ct_bfo_diversity: out is NULL");
    *out = 0;
    if (!b->initialized || b->n == 0)
        return CT_OK;
    const size_t d = b->dim, n = b->n;
    double *c = b->tmp; /* scratch of dim doubles (not state) */
    for (size_t k = 0; k < d; k++)
        c[k] = 0;
    for (size_t j = 0; j < n; j++)
        for (size_t k = 0; k < d; k++)
            c[k] += b->pos[j * d + k];
    for (size_t k = 0; k < d; k++)
        c[k] /= (double)n;
    double s = 0;
    for (size_t i = 0; i < n; i++) {
        double d2 = 0;
        for (size_t k = 0; k < d; k++) {
            double t = b->pos[i * d + k] - c[k];
            d2 += t * t;
        }
        s += sqrt(d2);
    }
    *out = s / (double)n;
    return CT_OK;
}

ct_status ct_bfo_stats_get(const ct_bfo *b, ct_bfo_stats *out)
{
    CHECK_HANDLE(b);
    if (!out)
        return ct_fail((ct_err *)&b->err, CT_EINVAL, "ct_bfo_stats_get: out is NULL");
    memset(out, 0, sizeof *out);
    out->n_evals = b->n_evals;
    out->n_steps = b->n_steps;
    out->n_generations = b->n_gen;
    out->n_restarts = b->n_restarts;
    out->rng_counter = b->rng_ctr;
    out->population_size = b->initialized ? b->n : b->pop_target;
    out->best_fitness = b->best_f;
    ct_bfo_diversity(b, &out->diversity);
    double s = 0;
    for (size_t i = 0; i < b->n; i++)
        s += base_step(b, i);
    out->step_size = b->n ? s / (double)b->n : smax_eff(b);
    out->elimination_prob = b->ped_eff;
    out->stopped = b->stopped;
    out->initialized = b->initialized;
    return CT_OK;
}

ct_status ct_bfo_population(const ct_bfo *b, const double **x, const double **fitness,
                            const double **step, size_t *n)
{
    CHECK_HANDLE(b);
    if (x)
        *x = b->pos;
    if (fitness)
        *fitness = b->fit;
    if (step)
        *step = b->step;
    if (n)
        *n = b->initialized ? b->n : 0;
    return CT_OK;
}
