/* L-BFGS (include/ctrain/lbfgs.h) against torch.optim.LBFGS.
 *
 * Replays the runs of tests/ref/gen_lbfgs_refs.py: the closure checks that
 * the engine asks for the point torch evaluated (every evaluation, relative
 * to the vector's largest element: 1e-9 in float64, 1e-5 in float32) and
 * answers with torch's loss and gradient; after each step the parameters,
 * the returned loss and the evaluation count are compared, and torch's
 * state (all of it) after the first step and after the last. Each run is
 * replayed twice: from the start, and from torch's state after step 1
 * loaded with ct_lbfgs_set_state. Then closure failures (status, message,
 * where x is left and that the state is a consistent one), refused options
 * and arguments, and a state copied between two handles.
 *
 * usage: test_lbfgs REFS_DIR  (reads REFS_DIR/lbfgs/lbfgs_cases.safetensors) */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctrain/ctrain.h"
#include "io/safetensors.h"

#include "check.h"

static double max_err64, max_err32; /* worst relative error seen per dtype */

static double get(const void *v, size_t i, int f32)
{
    return f32 ? (double)((const float *)v)[i] : ((const double *)v)[i];
}

/* max |a - b| / max |b| over n elements (0 when equal) */
static double vec_err(const void *a, const void *b, size_t n, int f32)
{
    double d = 0, m = 0;
    for (size_t i = 0; i < n; i++) {
        double x = get(a, i, f32), y = get(b, i, f32);
        if (isnan(x) != isnan(y))
            return INFINITY;
        if (x != y && fabs(x - y) > d)
            d = fabs(x - y);
        if (fabs(y) > m)
            m = fabs(y);
    }
    return d == 0 ? 0 : m > 0 ? d / m : INFINITY;
}

static double sc_err(double a, double b)
{
    if (a == b || (isnan(a) && isnan(b)))
        return 0;
    return b != 0 ? fabs(a - b) / fabs(b) : INFINITY;
}

static void note(double e, int f32)
{
    double *m = f32 ? &max_err32 : &max_err64;
    if (e > *m && e < INFINITY)
        *m = e;
}

typedef struct rcase {
    const char *name, *options;
    int f32;
    size_t n, esz, steps, E;
    double rtol;
    const ct_st_file *f;
} rcase;

static const ct_st_tensor *tensor(const rcase *c, const char *what)
{
    char name[256];
    snprintf(name, sizeof name, "%s.%s", c->name, what);
    return ct_st_find(c->f, name);
}

static const void *row(const rcase *c, const char *what, size_t i)
{
    const ct_st_tensor *t = tensor(c, what);
    return t ? (const char *)t->data + i * c->n * c->esz : NULL;
}

typedef struct replay {
    const rcase *c;
    ct_lbfgs *h;
    size_t k;     /* next evaluation */
    int reported; /* failures printed */
} replay;

static ct_status replay_fn(void *ctx, const void *x, void *grad, double *loss)
{
    replay *r = ctx;
    const rcase *c = r->c;
    if (r->k >= c->E)
        return ct_lbfgs_fail(r->h, CT_ESTATE, "more evaluations than torch made");
    double e = vec_err(x, row(c, "eval_x", r->k), c->n, c->f32);
    note(e, c->f32);
    if (!(e <= c->rtol) && r->reported++ < 3)
        CHECK(0, "evaluation %zu at a point %.3g (relative) from torch's", r->k, e);
    else
        passed++;
    memcpy(grad, row(c, "eval_grad", r->k), c->n * c->esz);
    *loss = ((const double *)tensor(c, "eval_loss")->data)[r->k];
    r->k++;
    return CT_OK;
}

/* Loads torch's state PREFIX (mid or final) into h. */
static void load_state(const rcase *c, ct_lbfgs *h, const char *prefix)
{
    char w[64];
    snprintf(w, sizeof w, "%s.scalars", prefix);
    const double *s = tensor(c, w)->data;
    ct_lbfgs_state st = {0};
    st.func_evals = (int64_t)s[0], st.n_iter = (int64_t)s[1], st.num_old = (int64_t)s[2];
    st.al_len = (int64_t)s[3], st.num_al = (int64_t)s[4], st.has_history = (int32_t)s[5];
    st.t_is_tensor = (int32_t)s[6], st.t = s[7], st.h_diag_is_tensor = (int32_t)s[8];
    st.h_diag = s[9], st.prev_loss = s[10], st.t_is_int = (int32_t)s[11];
    CHECK(ct_lbfgs_set_state(h, &st) == CT_OK, "set_state: %s", ct_lbfgs_errmsg(h));
    const char *vecs[2] = {"d", "prev_flat_grad"};
    for (int v = 0; v < 2 && st.has_history; v++) {
        void *p;
        snprintf(w, sizeof w, "%s.%s", prefix, vecs[v]);
        CHECK(ct_lbfgs_state_vector(h, vecs[v], 0, &p) == CT_OK, "state_vector %s", vecs[v]);
        memcpy(p, row(c, w, 0), c->n * c->esz);
    }
    for (size_t i = 0; i < (size_t)st.num_old; i++) {
        void *p;
        snprintf(w, sizeof w, "%s.old_dirs", prefix);
        CHECK(ct_lbfgs_state_vector(h, "old_dirs", i, &p) == CT_OK, "old_dirs %zu", i);
        memcpy(p, row(c, w, i), c->n * c->esz);
        snprintf(w, sizeof w, "%s.old_stps", prefix);
        CHECK(ct_lbfgs_state_vector(h, "old_stps", i, &p) == CT_OK, "old_stps %zu", i);
        memcpy(p, row(c, w, i), c->n * c->esz);
    }
    if (st.num_old) {
        snprintf(w, sizeof w, "%s.ro", prefix);
        CHECK(ct_lbfgs_set_scalars(h, "ro", tensor(c, w)->data, (size_t)st.num_old) == CT_OK,
              "set ro");
    }
    if (st.num_al) {
        snprintf(w, sizeof w, "%s.al", prefix);
        CHECK(ct_lbfgs_set_scalars(h, "al", tensor(c, w)->data, (size_t)st.num_al) == CT_OK,
              "set al");
    }
}

/* Compares h's state with torch's state PREFIX. */
static void check_state(const rcase *c, ct_lbfgs *h, const char *prefix)
{
    char w[64];
    snprintf(w, sizeof w, "%s.scalars", prefix);
    const double *s = tensor(c, w)->data;
    ct_lbfgs_state st;
    CHECK(ct_lbfgs_get_state(h, &st) == CT_OK, "get_state");
    CHECK(st.func_evals == (int64_t)s[0] && st.n_iter == (int64_t)s[1] &&
              st.num_old == (int64_t)s[2] && st.al_len == (int64_t)s[3] &&
              st.num_al == (int64_t)s[4] && st.has_history == (int32_t)s[5] &&
              st.t_is_tensor == (int32_t)s[6] && st.h_diag_is_tensor == (int32_t)s[8] &&
              st.t_is_int == (int32_t)s[11],
          "%s state counts: func_evals %lld/%g n_iter %lld/%g num_old %lld/%g al %lld,%lld/%g,%g "
          "tensor flags %d,%d/%g,%g int t %d/%g",
          prefix, (long long)st.func_evals, s[0], (long long)st.n_iter, s[1],
          (long long)st.num_old, s[2], (long long)st.al_len, (long long)st.num_al, s[3], s[4],
          st.t_is_tensor, st.h_diag_is_tensor, s[6], s[8], st.t_is_int, s[11]);
    double e = fmax(fmax(sc_err(st.t, s[7]), sc_err(st.h_diag, s[9])),
                    sc_err(st.prev_loss, s[10]));
    note(e, c->f32);
    CHECK(e <= c->rtol, "%s state t %.17g/%.17g H_diag %.17g/%.17g prev_loss %.17g/%.17g", prefix,
          st.t, s[7], st.h_diag, s[9], st.prev_loss, s[10]);
    if (!st.has_history)
        return;
    const char *vecs[2] = {"d", "prev_flat_grad"};
    for (int v = 0; v < 2; v++) {
        void *p;
        snprintf(w, sizeof w, "%s.%s", prefix, vecs[v]);
        ct_lbfgs_state_vector(h, vecs[v], 0, &p);
        e = vec_err(p, row(c, w, 0), c->n, c->f32);
        note(e, c->f32);
        CHECK(e <= c->rtol, "%s state %s differs by %.3g", prefix, vecs[v], e);
    }
    size_t num_old = (size_t)st.num_old < (size_t)s[2] ? (size_t)st.num_old : (size_t)s[2];
    for (size_t i = 0; i < num_old; i++) {
        const char *names[2] = {"old_dirs", "old_stps"};
        for (int v = 0; v < 2; v++) {
            void *p;
            snprintf(w, sizeof w, "%s.%s", prefix, names[v]);
            ct_lbfgs_state_vector(h, names[v], i, &p);
            e = vec_err(p, row(c, w, i), c->n, c->f32);
            note(e, c->f32);
            CHECK(e <= c->rtol, "%s state %s[%zu] differs by %.3g", prefix, names[v], i, e);
        }
    }
    /* ro and al as vectors: relative to their largest entry (al's entries
     * of a converged run are tiny differences, each ill-conditioned) */
    double vals[256];
    size_t cnt = 0;
    const char *lists[2] = {"ro", "al"};
    for (int v = 0; v < 2; v++) {
        ct_lbfgs_get_scalars(h, lists[v], vals, 256, &cnt);
        snprintf(w, sizeof w, "%s.%s", prefix, lists[v]);
        const ct_st_tensor *t = tensor(c, w);
        size_t want = t ? t->numel : 0;
        CHECK(cnt == want && cnt <= 256, "%s state len(%s) %zu, torch %zu", prefix, lists[v],
              cnt, want);
        if (cnt != want || cnt > 256 || !cnt)
            continue;
        e = vec_err(vals, t->data, cnt, 0);
        note(e, c->f32);
        CHECK(e <= c->rtol, "%s state %s differs by %.3g (relative to its largest entry)", prefix,
              lists[v], e);
    }
}

/* Runs steps first..steps-1 of case c from x (after first steps). */
static void replay_steps(const rcase *c, ct_lbfgs *h, void *x, size_t first, size_t k0)
{
    replay r = {c, h, k0, 0};
    const int64_t *evals = tensor(c, "step_evals")->data;
    const double *losses = tensor(c, "step_loss")->data;
    for (size_t s = first; s < c->steps; s++) {
        double loss = NAN;
        size_t before = r.k;
        ct_status st = ct_lbfgs_step(h, x, replay_fn, &r, &loss);
        CHECK(st == CT_OK, "step %zu: %s", s, ct_lbfgs_errmsg(h));
        int64_t ev = -1, it = -1;
        ct_lbfgs_last_step(h, &ev, &it);
        CHECK(ev == evals[s] && (int64_t)(r.k - before) == evals[s],
              "step %zu: %lld evaluations (closure saw %zu), torch %lld", s, (long long)ev,
              r.k - before, (long long)evals[s]);
        double e = sc_err(loss, losses[s]);
        note(e, c->f32);
        CHECK(e <= c->rtol, "step %zu returned loss %.17g, torch %.17g", s, loss, losses[s]);
        e = vec_err(x, row(c, "step_x", s), c->n, c->f32);
        note(e, c->f32);
        CHECK(e <= c->rtol, "step %zu: parameters differ from torch's by %.3g", s, e);
        if (st != CT_OK)
            return;
    }
    CHECK(r.k == c->E, "%zu evaluations in all, torch %zu", r.k, c->E);
}

static void run_case(const ct_st_file *f, const cJSON *jc)
{
    rcase c = {0};
    c.f = f;
    c.name = cJSON_GetObjectItem(jc, "name")->valuestring;
    c.options = cJSON_GetObjectItem(jc, "options")->valuestring;
    c.f32 = !strcmp(cJSON_GetObjectItem(jc, "dtype")->valuestring, "f32");
    c.n = (size_t)cJSON_GetObjectItem(jc, "n")->valuedouble;
    c.steps = (size_t)cJSON_GetObjectItem(jc, "steps")->valuedouble;
    c.rtol = cJSON_GetObjectItem(jc, "rtol")->valuedouble;
    c.esz = c.f32 ? 4 : 8;
    check_context = c.name;
    const ct_st_tensor *ex = tensor(&c, "eval_x");
    CHECK(ex && tensor(&c, "x0") && tensor(&c, "final.scalars"), "reference tensors missing");
    if (!ex)
        return;
    c.E = (size_t)ex->shape[0];

    void *x = malloc(c.n * c.esz);
    ct_lbfgs *h = NULL;
    CHECK(ct_lbfgs_create(&h, c.n, c.f32 ? CT_F32 : CT_F64, c.options) == CT_OK, "create: %s",
          ct_errmsg());
    if (h) {
        memcpy(x, tensor(&c, "x0")->data, c.n * c.esz);
        replay_steps(&c, h, x, 0, 0);
        check_state(&c, h, "final");
        ct_lbfgs_destroy(h);
    }
    /* torch's state after step 1 into a fresh handle, then steps 2.. */
    h = NULL;
    if (c.steps > 1 && ct_lbfgs_create(&h, c.n, c.f32 ? CT_F32 : CT_F64, c.options) == CT_OK) {
        load_state(&c, h, "mid");
        check_state(&c, h, "mid");
        memcpy(x, row(&c, "step_x", 0), c.n * c.esz);
        replay_steps(&c, h, x, 1, (size_t)((const int64_t *)tensor(&c, "step_evals")->data)[0]);
        check_state(&c, h, "final");
    }
    ct_lbfgs_destroy(h);
    free(x);
    check_context = "";
}

/* ---- without references -------------------------------------------------- */

/* f(x) = sum_i (i+1)/2 (x_i - 1)^2 + 0.25 (x_0 x_1)^2, in double or float;
 * fails (with or without a message) at evaluation fail_at. */
typedef struct obj {
    ct_lbfgs *h;
    int f32, msg;
    size_t n;
    long calls, fail_at;
    ct_status fail_status;
    double seen[8]; /* the point of the failing call */
} obj;

static ct_status obj_fn(void *ctx, const void *x, void *grad, double *loss)
{
    obj *o = ctx;
    o->calls++;
    if (o->calls == o->fail_at) {
        for (size_t i = 0; i < o->n && i < 8; i++)
            o->seen[i] = get(x, i, o->f32);
        if (o->msg)
            return ct_lbfgs_fail(o->h, o->fail_status, "the batch could not be read");
        return o->fail_status;
    }
    double l = 0, g[8];
    for (size_t i = 0; i < o->n; i++) {
        double v = get(x, i, o->f32) - 1;
        l += 0.5 * (double)(i + 1) * v * v;
        g[i] = (double)(i + 1) * v;
    }
    double x0 = get(x, 0, o->f32), x1 = get(x, 1, o->f32);
    l += 0.25 * (x0 * x1) * (x0 * x1);
    g[0] += 0.5 * x0 * x1 * x1;
    g[1] += 0.5 * x1 * x0 * x0;
    for (size_t i = 0; i < o->n; i++) {
        if (o->f32)
            ((float *)grad)[i] = (float)g[i];
        else
            ((double *)grad)[i] = g[i];
    }
    *loss = o->f32 ? (double)(float)l : l;
    return CT_OK;
}

static void fill(void *x, size_t n, int f32)
{
    for (size_t i = 0; i < n; i++) {
        double v = -1.5 + 0.7 * (double)i;
        if (f32)
            ((float *)x)[i] = (float)v;
        else
            ((double *)x)[i] = v;
    }
}

/* Copies every piece of a's state into b. */
static void copy_state(ct_lbfgs *a, ct_lbfgs *b, size_t n, size_t esz)
{
    ct_lbfgs_state st;
    CHECK(ct_lbfgs_get_state(a, &st) == CT_OK && ct_lbfgs_set_state(b, &st) == CT_OK,
          "state copy: %s", ct_lbfgs_errmsg(b));
    void *p, *q;
    if (st.has_history) {
        ct_lbfgs_state_vector(a, "d", 0, &p), ct_lbfgs_state_vector(b, "d", 0, &q);
        memcpy(q, p, n * esz);
        ct_lbfgs_state_vector(a, "prev_flat_grad", 0, &p);
        ct_lbfgs_state_vector(b, "prev_flat_grad", 0, &q);
        memcpy(q, p, n * esz);
    }
    for (size_t i = 0; i < (size_t)st.num_old; i++) {
        ct_lbfgs_state_vector(a, "old_dirs", i, &p), ct_lbfgs_state_vector(b, "old_dirs", i, &q);
        memcpy(q, p, n * esz);
        ct_lbfgs_state_vector(a, "old_stps", i, &p), ct_lbfgs_state_vector(b, "old_stps", i, &q);
        memcpy(q, p, n * esz);
    }
    double v[64];
    size_t cnt;
    ct_lbfgs_get_scalars(a, "ro", v, 64, &cnt);
    CHECK(ct_lbfgs_set_scalars(b, "ro", v, cnt) == CT_OK, "set ro");
    ct_lbfgs_get_scalars(a, "al", v, 64, &cnt);
    CHECK(ct_lbfgs_set_scalars(b, "al", v, cnt) == CT_OK, "set al");
}

static int same_state(ct_lbfgs *a, ct_lbfgs *b, size_t n, size_t esz)
{
    ct_lbfgs_state sa, sb;
    ct_lbfgs_get_state(a, &sa), ct_lbfgs_get_state(b, &sb);
    if (memcmp(&sa, &sb, sizeof sa) != 0)
        return 0;
    void *p, *q;
    if (sa.has_history) {
        ct_lbfgs_state_vector(a, "d", 0, &p), ct_lbfgs_state_vector(b, "d", 0, &q);
        if (memcmp(p, q, n * esz))
            return 0;
        ct_lbfgs_state_vector(a, "prev_flat_grad", 0, &p);
        ct_lbfgs_state_vector(b, "prev_flat_grad", 0, &q);
        if (memcmp(p, q, n * esz))
            return 0;
    }
    for (size_t i = 0; i < (size_t)sa.num_old; i++) {
        ct_lbfgs_state_vector(a, "old_dirs", i, &p), ct_lbfgs_state_vector(b, "old_dirs", i, &q);
        if (memcmp(p, q, n * esz))
            return 0;
        ct_lbfgs_state_vector(a, "old_stps", i, &p), ct_lbfgs_state_vector(b, "old_stps", i, &q);
        if (memcmp(p, q, n * esz))
            return 0;
    }
    double va[64], vb[64];
    size_t ca, cb;
    ct_lbfgs_get_scalars(a, "ro", va, 64, &ca), ct_lbfgs_get_scalars(b, "ro", vb, 64, &cb);
    if (ca != cb || memcmp(va, vb, ca * sizeof(double)))
        return 0;
    ct_lbfgs_get_scalars(a, "al", va, 64, &ca), ct_lbfgs_get_scalars(b, "al", vb, 64, &cb);
    return ca == cb && !memcmp(va, vb, ca * sizeof(double));
}

static void test_refusals(void)
{
    check_context = "refusals";
    ct_lbfgs *h = (ct_lbfgs *)&h;
    CHECK(ct_lbfgs_create(&h, 0, CT_F64, NULL) == CT_EINVAL && h == NULL &&
              strstr(ct_errmsg(), "0 elements"),
          "n = 0: %s", ct_errmsg());
    CHECK(ct_lbfgs_create(&h, 4, CT_BF16, NULL) == CT_EUNSUPPORTED && h == NULL,
          "bfloat16 refused: %s", ct_errmsg());
    CHECK(ct_lbfgs_create(NULL, 4, CT_F64, NULL) == CT_EINVAL, "out NULL");
    const char *bad[][2] = {
        {"lr=-1", "lr"},
        {"history_size=0", "history_size"},
        {"max_iter=0", "max_iter"},
        {"max_iter=2.5", "max_iter"},
        {"max_eval=0", "max_eval"},
        {"line_search_fn=backtracking", "line_search_fn"},
        {"maximize=maybe", "maximize"},
        {"tolerance_grad=nan", "tolerance_grad"},
        {"momentum=0.9", "momentum"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        h = (ct_lbfgs *)&h;
        ct_status st = ct_lbfgs_create(&h, 4, CT_F32, bad[i][0]);
        CHECK(st == CT_EINVAL && h == NULL && strstr(ct_errmsg(), bad[i][1]),
              "'%s' -> %d: %s", bad[i][0], (int)st, ct_errmsg());
    }
    CHECK(ct_lbfgs_create(&h, 3, CT_F64, "max_iter=8") == CT_OK, "create: %s", ct_errmsg());
    double v = 0;
    CHECK(ct_lbfgs_get_option(h, "max_eval", &v) == CT_OK && v == 10, "max_eval = 8*5/4: %g", v);
    CHECK(ct_lbfgs_get_option(h, "lr", &v) == CT_OK && v == 1, "default lr %g", v);
    CHECK(ct_lbfgs_get_option(h, "history_size", &v) == CT_OK && v == 100, "history %g", v);
    CHECK(ct_lbfgs_set_options(h, "history_size=5") == CT_ESTATE &&
              strstr(ct_lbfgs_errmsg(h), "history_size"),
          "history_size is fixed: %s", ct_lbfgs_errmsg(h));
    CHECK(ct_lbfgs_set_options(h, "lr=0.5 max_iter=3 line_search_fn=strong_wolfe") == CT_OK &&
              ct_lbfgs_get_option(h, "lr", &v) == CT_OK && v == 0.5,
          "set_options");
    CHECK(ct_lbfgs_get_option(h, "max_eval", &v) == CT_OK && v == 10,
          "max_eval unchanged by max_iter (%g), as torch's param_groups", v);
    CHECK(ct_lbfgs_set_options(h, "lr=-2") == CT_EINVAL && ct_lbfgs_get_option(h, "lr", &v) ==
              CT_OK && v == 0.5, "a refused set_options changes nothing");
    CHECK(ct_lbfgs_get_option(h, "nope", &v) == CT_EINVAL, "unknown option");
    double x[3] = {0, 0, 0};
    CHECK(ct_lbfgs_step(h, x, NULL, NULL, NULL) == CT_EINVAL, "NULL closure");
    CHECK(ct_lbfgs_step(h, NULL, obj_fn, NULL, NULL) == CT_EINVAL, "NULL vector");
    CHECK(ct_lbfgs_step(NULL, x, obj_fn, NULL, NULL) == CT_EINVAL, "NULL handle");
    ct_lbfgs_state st = {0};
    st.n_iter = 2; /* without has_history */
    CHECK(ct_lbfgs_set_state(h, &st) == CT_EINVAL, "n_iter without history");
    st.has_history = 1, st.num_old = 101;
    CHECK(ct_lbfgs_set_state(h, &st) == CT_EMISMATCH, "101 pairs in a history of 100");
    st.num_old = 2, st.al_len = 50;
    CHECK(ct_lbfgs_set_state(h, &st) == CT_EMISMATCH, "len(al) != history_size");
    st.al_len = 100, st.num_al = 101;
    CHECK(ct_lbfgs_set_state(h, &st) == CT_EINVAL, "num_al > len(al)");
    void *p;
    CHECK(ct_lbfgs_state_vector(h, "old_dirs", 0, &p) == CT_EINVAL, "no pairs yet");
    CHECK(ct_lbfgs_state_vector(h, "exp_avg", 0, &p) == CT_EINVAL, "unknown vector");
    CHECK(ct_lbfgs_set_scalars(h, "ro", x, 1) == CT_EMISMATCH, "ro count");
    ct_lbfgs_destroy(h);
    ct_lbfgs_destroy(NULL);
    check_context = "";
}

static void test_closure_errors(int f32)
{
    check_context = f32 ? "closure errors f32" : "closure errors f64";
    const size_t n = 3, esz = f32 ? 4 : 8;
    const int dt = f32 ? CT_F32 : CT_F64;
    char x[64], x0[64], xb[64];

    /* 1. the first evaluation fails: nothing moves, the status and the
     *    closure's message come back */
    ct_lbfgs *h;
    ct_lbfgs_create(&h, n, dt, NULL);
    obj o = {h, f32, 1, n, 0, 1, CT_EIO, {0}};
    fill(x, n, f32), memcpy(x0, x, n * esz);
    double loss = 123;
    CHECK(ct_lbfgs_step(h, x, obj_fn, &o, &loss) == CT_EIO && !memcmp(x, x0, n * esz) &&
              loss == 123 && !strcmp(ct_lbfgs_errmsg(h), "the batch could not be read") &&
              !strcmp(ct_errmsg(), "the batch could not be read"),
          "first evaluation: %s", ct_lbfgs_errmsg(h));
    ct_lbfgs_state st;
    ct_lbfgs_get_state(h, &st);
    CHECK(st.func_evals == 0 && st.n_iter == 0 && !st.has_history, "no state after it");
    /* the same handle then steps normally */
    o.fail_at = -1;
    CHECK(ct_lbfgs_step(h, x, obj_fn, &o, &loss) == CT_OK && memcmp(x, x0, n * esz),
          "steps after a failure: %s", ct_lbfgs_errmsg(h));
    ct_lbfgs_destroy(h);

    /* 2. no line search, evaluation k fails: x is the point being
     *    evaluated and the state is exactly a step with max_iter = k-1 */
    for (long k = 2; k <= 6; k++) {
        ct_lbfgs *a, *b;
        ct_lbfgs_create(&a, n, dt, "history_size=4");
        char opt[64];
        snprintf(opt, sizeof opt, "history_size=4 max_iter=%ld max_eval=25", k - 1);
        ct_lbfgs_create(&b, n, dt, opt);
        obj oa = {a, f32, 0, n, 0, k, CT_ENONFINITE, {0}}, ob = {b, f32, 0, n, 0, -1, CT_OK, {0}};
        fill(x, n, f32), fill(xb, n, f32);
        ct_status s = ct_lbfgs_step(a, x, obj_fn, &oa, NULL);
        CHECK(s == CT_ENONFINITE && strstr(ct_lbfgs_errmsg(a), "status 6") &&
                  strstr(ct_lbfgs_errmsg(a), "evaluation"),
              "k=%ld: status %d, message '%s'", k, (int)s, ct_lbfgs_errmsg(a));
        CHECK(ct_lbfgs_step(b, xb, obj_fn, &ob, NULL) == CT_OK, "reference step");
        CHECK(!memcmp(x, xb, n * esz), "k=%ld: x is the iterate being evaluated", k);
        int eq = 1;
        for (size_t i = 0; i < n; i++)
            eq &= get(x, i, f32) == oa.seen[i];
        CHECK(eq, "k=%ld: x is the point the failing call saw", k);
        CHECK(same_state(a, b, n, esz), "k=%ld: state equals a step stopped by max_iter", k);
        /* both continue identically */
        ct_lbfgs_set_options(b, "max_iter=20 max_eval=25");
        oa.fail_at = -1;
        ct_lbfgs_step(a, x, obj_fn, &oa, NULL), ct_lbfgs_step(b, xb, obj_fn, &ob, NULL);
        CHECK(!memcmp(x, xb, n * esz) && same_state(a, b, n, esz), "k=%ld: same continuation", k);
        ct_lbfgs_destroy(a), ct_lbfgs_destroy(b);
    }

    /* 3. strong_wolfe, a failure inside the line search: x back at the line
     *    search's start, t = 0, and the next step adds no pair */
    for (long k = 2; k <= 8; k++) {
        ct_lbfgs *a;
        ct_lbfgs_create(&a, n, dt, "line_search_fn=strong_wolfe");
        obj oa = {a, f32, 1, n, 0, -1, CT_EIO, {0}};
        fill(x, n, f32);
        oa.fail_at = k;
        ct_status s = ct_lbfgs_step(a, x, obj_fn, &oa, NULL);
        CHECK(s == CT_EIO, "wolfe k=%ld: status %d", k, (int)s);
        ct_lbfgs_get_state(a, &st);
        CHECK(st.has_history && st.t == 0 && !st.t_is_tensor, "wolfe k=%ld: t = 0 (%g)", k,
              st.t);
        /* x is an iterate: re-evaluating there gives prev_flat_grad again */
        obj oc = {a, f32, 0, n, 0, -1, CT_OK, {0}};
        char g[64];
        double l;
        obj_fn(&oc, x, g, &l);
        void *pg;
        ct_lbfgs_state_vector(a, "prev_flat_grad", 0, &pg);
        CHECK(!memcmp(g, pg, n * esz) && l == st.prev_loss,
              "wolfe k=%ld: x is the line search's start (loss %.17g vs prev_loss %.17g)", k, l,
              st.prev_loss);
        oa.fail_at = -1, oa.calls = 0;
        s = ct_lbfgs_step(a, x, obj_fn, &oa, NULL);
        ct_lbfgs_state after;
        ct_lbfgs_get_state(a, &after);
        CHECK(s == CT_OK && after.n_iter > st.n_iter, "wolfe k=%ld: continues: %s", k,
              ct_lbfgs_errmsg(a));
        ct_lbfgs_destroy(a);
    }
    check_context = "";
}

/* A state copied between handles continues bit-identically. */
static void test_state_copy(int f32, const char *options)
{
    check_context = "state copy";
    const size_t n = 5, esz = f32 ? 4 : 8;
    ct_lbfgs *a, *b;
    CHECK(ct_lbfgs_create(&a, n, f32 ? CT_F32 : CT_F64, options) == CT_OK, "create a");
    CHECK(ct_lbfgs_create(&b, n, f32 ? CT_F32 : CT_F64, options) == CT_OK, "create b");
    char x[64], y[64];
    fill(x, n, f32);
    obj oa = {a, f32, 0, n, 0, -1, CT_OK, {0}}, ob = {b, f32, 0, n, 0, -1, CT_OK, {0}};
    for (int s = 0; s < 2; s++)
        CHECK(ct_lbfgs_step(a, x, obj_fn, &oa, NULL) == CT_OK, "a step: %s", ct_lbfgs_errmsg(a));
    copy_state(a, b, n, esz);
    CHECK(same_state(a, b, n, esz), "copied state equal");
    memcpy(y, x, n * esz);
    for (int s = 0; s < 2; s++) {
        ct_lbfgs_step(a, x, obj_fn, &oa, NULL);
        ct_lbfgs_step(b, y, obj_fn, &ob, NULL);
    }
    CHECK(!memcmp(x, y, n * esz) && same_state(a, b, n, esz), "%s: same continuation",
          options);
    ct_lbfgs_destroy(a), ct_lbfgs_destroy(b);
    check_context = "";
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s REFS_DIR\n", argv[0]);
        return 2;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/lbfgs/lbfgs_cases.safetensors", argv[1]);
    ct_st_file f;
    ct_err e;
    if (ct_st_read_file(path, &f, &e)) {
        fprintf(stderr, "cannot read the reference (run tests/ref/gen_lbfgs_refs.py %s): %s\n",
                argv[1], e.msg);
        return 1;
    }
    cJSON *cases = cJSON_Parse(ct_st_meta(&f, "cases"));
    int nc = cJSON_GetArraySize(cases);
    CHECK(nc >= 32, "only %d reference cases", nc);
    const cJSON *jc;
    cJSON_ArrayForEach(jc, cases) run_case(&f, jc);
    test_refusals();
    for (int f32 = 0; f32 < 2; f32++) {
        test_closure_errors(f32);
        test_state_copy(f32, "history_size=3 max_iter=4");
        test_state_copy(f32, "line_search_fn=strong_wolfe max_iter=5");
    }
    cJSON_Delete(cases);
    ct_st_free(&f);
    printf("test_lbfgs: %d cases; max relative error vs torch: float64 %.3g, float32 %.3g\n", nc,
           max_err64, max_err32);
    return check_summary();
}
