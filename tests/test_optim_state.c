/* Saving and loading optimizer state, for every optimizer kind that can be
 * created, with and without lookahead:
 *  - train, save to memory and to a file, load into fresh optimizers of the
 *    same layout, continue all of them: bit-identical parameters and state;
 *    a loaded optimizer saves the very same bytes;
 *  - loads that must be refused, each with its status and nothing modified
 *    (parameters, state bytes, options, lr, groups): another optimizer's
 *    state, another format version, another group count or parameter size,
 *    lookahead on vs off or other lookahead settings, missing / extra /
 *    mistyped tensors, out-of-range options, a negative step, truncation at
 *    every byte of the header and many in the data, a foreign safetensors
 *    file, a huge header size, an empty file, a missing file;
 *  - single bit flips anywhere in the header: refused (nothing modified) or,
 *    when the flip still spells a valid state (a digit of an option), loaded;
 *    never a crash (run under ASan/UBSan too).
 * It also leaves REFS_DIR/state_check/adamw_state.safetensors and a JSON of
 * what it holds, which tests/ref/check_state_file.py loads with the Python
 * safetensors package.
 *
 * usage: test_optim_state REFS_DIR                                         */
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ctrain/ctrain.h"
#include "io/safetensors.h"

static const char *cur = "";
static char tmpdir[512];

#include "check.h"

/* ---- a test optimizer ----------------------------------------------------- */

#define MAXP 5
typedef struct layout {
    int n_groups;
    int n[3];                /* parameters per group */
    size_t numel[MAXP];
    int ndim[MAXP];
    int64_t shape[MAXP][2];
} layout;

/* The standard layout: {37, 4x6} and {5x3, 30x40}. */
static const layout STD = {2, {2, 2, 0}, {37, 24, 15, 1200, 0}, {0, 2, 2, 2, 0},
                           {{0, 0}, {4, 6}, {5, 3}, {30, 40}, {0, 0}}};

typedef struct env {
    ct_optim *o;
    layout L;
    int np;
    float *data[MAXP], *grad[MAXP];
    int t;
} env;

static ct_status env_make(env *e, const char *kind, const layout *L, int la_k, double la_alpha,
                          const char *opts)
{
    memset(e, 0, sizeof *e);
    e->L = *L;
    for (int g = 0; g < L->n_groups; g++)
        e->np += L->n[g];
    for (int i = 0; i < e->np; i++) {
        e->data[i] = malloc(L->numel[i] * sizeof(float));
        e->grad[i] = calloc(L->numel[i], sizeof(float));
        for (size_t j = 0; j < L->numel[i]; j++)
            e->data[i][j] = (float)cos(0.13 * (double)j + 0.9 * i);
    }
    ct_status st = ct_optim_create(&e->o, kind, opts);
    if (!st && la_k)
        st = ct_optim_enable_lookahead(e->o, la_k, la_alpha);
    int k = 0;
    for (int g = 0; g < L->n_groups && !st; g++) {
        ct_param ps[MAXP];
        for (int i = 0; i < L->n[g]; i++, k++) {
            ps[i] = (ct_param){.data = e->data[k], .grad = e->grad[k], .numel = L->numel[k],
                               .dtype = CT_F32, .ndim = L->ndim[k]};
            for (int d = 0; d < L->ndim[k]; d++)
                ps[i].shape[d] = L->shape[k][d];
        }
        st = ct_optim_add_group(e->o, ps, (size_t)L->n[g], g == 1 ? "lr=0.003" : NULL, NULL);
    }
    if (st)
        fprintf(stderr, "[%s] setup: %s\n", kind, ct_errmsg());
    return st;
}

static void env_free(env *e)
{
    ct_optim_destroy(e->o);
    for (int i = 0; i < e->np; i++) {
        free(e->data[i]);
        free(e->grad[i]);
    }
    memset(e, 0, sizeof *e);
}

/* One step; gradients depend on the parameters and t; parameter 2 has no
 * gradient at every third step (its step count falls behind). */
static ct_status env_step(env *e)
{
    void *grads[MAXP];
    for (int i = 0; i < e->np; i++) {
        for (size_t j = 0; j < e->L.numel[i]; j++)
            e->grad[i][j] = (float)(0.3 * e->data[i][j] +
                                    sin(0.21 * (double)j + 0.5 * i + 0.37 * e->t) * 0.2);
        grads[i] = (i == 2 && e->t % 3 == 1) ? NULL : e->grad[i];
    }
    e->t++;
    return ct_optim_step_grads(e->o, grads, (size_t)e->np);
}

/* Copies parameter values (the caller's, not part of the state). */
static void copy_params(env *dst, const env *src)
{
    for (int i = 0; i < src->np; i++)
        memcpy(dst->data[i], src->data[i], src->L.numel[i] * sizeof(float));
    dst->t = src->t;
}

static int same_params(const env *a, const env *b)
{
    for (int i = 0; i < a->np; i++)
        if (memcmp(a->data[i], b->data[i], a->L.numel[i] * sizeof(float)))
            return 0;
    return 1;
}

static int save(env *e, void **buf, size_t *len)
{
    ct_status st = ct_optim_save_mem(e->o, buf, len);
    CHECK(st == CT_OK, "save_mem: %s", ct_optim_errmsg(e->o));
    return st == CT_OK;
}

static int same_state(env *a, env *b)
{
    void *x, *y;
    size_t lx, ly;
    if (!save(a, &x, &lx) || !save(b, &y, &ly))
        return 0;
    int same = lx == ly && !memcmp(x, y, lx);
    ct_free(x);
    ct_free(y);
    return same;
}

/* ---- snapshots: nothing modified ----------------------------------------- */

typedef struct snap {
    float *data[MAXP];
    void *state;
    size_t len, n_groups;
    double lr[3];
} snap;

static void take(env *e, snap *s)
{
    memset(s, 0, sizeof *s);
    for (int i = 0; i < e->np; i++) {
        s->data[i] = malloc(e->L.numel[i] * sizeof(float));
        memcpy(s->data[i], e->data[i], e->L.numel[i] * sizeof(float));
    }
    save(e, &s->state, &s->len);
    s->n_groups = ct_optim_num_groups(e->o);
    for (size_t g = 0; g < s->n_groups && g < 3; g++)
        ct_optim_get_lr(e->o, g, &s->lr[g]);
}

static int unchanged(env *e, const snap *s)
{
    snap now;
    take(e, &now);
    int same = now.len == s->len && !memcmp(now.state, s->state, s->len) &&
               now.n_groups == s->n_groups && !memcmp(now.lr, s->lr, sizeof s->lr);
    for (int i = 0; i < e->np; i++) {
        same &= !memcmp(now.data[i], s->data[i], e->L.numel[i] * sizeof(float));
        free(now.data[i]);
    }
    ct_free(now.state);
    return same;
}

static void snap_free(snap *s, int np)
{
    for (int i = 0; i < np; i++)
        free(s->data[i]);
    ct_free(s->state);
}

/* load_mem must give `want` (and a message containing needle, if any) and
 * leave e as it was. */
static void refuse_mem(env *e, const void *buf, size_t len, ct_status want, const char *needle,
                       const char *what)
{
    snap s;
    take(e, &s);
    ct_status st = ct_optim_load_mem(e->o, buf, len);
    CHECK(st == want, "%s: status %d (%s), want %d: %s", what, st, ct_status_str(st), want,
          ct_optim_errmsg(e->o));
    if (needle)
        CHECK(strstr(ct_errmsg(), needle) && strstr(ct_optim_errmsg(e->o), needle),
              "%s: message '%s' lacks '%s'", what, ct_errmsg(), needle);
    CHECK(unchanged(e, &s), "%s: a refused load modified the optimizer", what);
    snap_free(&s, e->np);
}

static void refuse_file(env *e, const char *path, ct_status want, const char *needle,
                        const char *what)
{
    snap s;
    take(e, &s);
    ct_status st = ct_optim_load(e->o, path);
    CHECK(st == want, "%s: status %d (%s), want %d: %s", what, st, ct_status_str(st), want,
          ct_optim_errmsg(e->o));
    if (needle)
        CHECK(strstr(ct_optim_errmsg(e->o), needle), "%s: message '%s' lacks '%s'", what,
              ct_optim_errmsg(e->o), needle);
    CHECK(unchanged(e, &s), "%s: a refused load modified the optimizer", what);
    snap_free(&s, e->np);
}

/* ---- rewriting a saved state with the internal writer -------------------- */

typedef struct edit {
    const char *meta_key, *meta_val; /* replace (val NULL: drop) */
    const char *drop_tensor;         /* drop this tensor */
    const char *retype_tensor;       /* store this one as F64 */
    const char *add_tensor;          /* add an extra F32 [1] tensor */
    int64_t set_step;                /* if != 0: every step tensor := set_step */
    const char *groups_find, *groups_repl; /* textual edit of 'groups' */
} edit;

static int rewrite(const void *buf, size_t len, const edit *ed, void **out, size_t *out_len)
{
    ct_st_file f;
    ct_err e;
    if (ct_st_parse(buf, len, "rewrite", &f, &e))
        return 0;
    ct_st_writer w = {0};
    double *f64[64] = {0};
    int n64 = 0;
    int64_t steps[64];
    int ns = 0;
    static const float extra = 1.0f;
    for (size_t i = 0; i < f.n; i++) {
        const ct_st_tensor *t = &f.tensors[i];
        if (ed->drop_tensor && !strcmp(t->name, ed->drop_tensor))
            continue;
        const void *data = t->data;
        ct_st_dtype dt = t->dtype;
        if (ed->retype_tensor && !strcmp(t->name, ed->retype_tensor) && n64 < 64) {
            f64[n64] = calloc(t->numel ? t->numel : 1, sizeof(double));
            data = f64[n64++];
            dt = CT_ST_F64;
        }
        size_t nl = strlen(t->name);
        if (ed->set_step && nl > 5 && !strcmp(t->name + nl - 5, ".step") &&
            t->dtype == CT_ST_I64 && t->numel == 1 && ns < 64) {
            steps[ns] = ed->set_step;
            data = &steps[ns++];
        }
        ct_st_add(&w, t->name, dt, t->ndim, t->shape, data, &e);
    }
    if (ed->add_tensor) {
        int64_t one = 1;
        ct_st_add(&w, ed->add_tensor, CT_ST_F32, 1, &one, &extra, &e);
    }
    char *groups = NULL;
    for (size_t i = 0; i < f.n_meta; i++) {
        const char *k = f.meta_keys[i], *v = f.meta_vals[i];
        if (ed->meta_key && !strcmp(k, ed->meta_key)) {
            if (ed->meta_val)
                ct_st_add_meta(&w, k, ed->meta_val, &e);
            continue;
        }
        if (ed->groups_find && !strcmp(k, "groups")) {
            const char *at = strstr(v, ed->groups_find);
            if (at) {
                size_t n = strlen(v) + strlen(ed->groups_repl) + 1;
                groups = malloc(n);
                snprintf(groups, n, "%.*s%s%s", (int)(at - v), v, ed->groups_repl,
                         at + strlen(ed->groups_find));
                v = groups;
            }
        }
        ct_st_add_meta(&w, k, v, &e);
    }
    ct_status st = ct_st_serialize(&w, out, out_len, &e);
    ct_st_writer_free(&w);
    ct_st_free(&f);
    free(groups);
    for (int i = 0; i < n64; i++)
        free(f64[i]);
    return st == CT_OK;
}

static void write_file(const char *path, const void *buf, size_t len)
{
    FILE *fp = fopen(path, "wb");
    if (!fp || (len && fwrite(buf, 1, len, fp) != len)) {
        fprintf(stderr, "cannot write %s\n", path);
        exit(1);
    }
    fclose(fp);
}

/* ---- round trips ------------------------------------------------------------ */

static void check_roundtrip(const char *kind, int la_k)
{
    env a, b, c;
    const double alpha = 1.0 / 3.0; /* not exactly printable in 15 digits */
    if (env_make(&a, kind, &STD, la_k, alpha, NULL)) {
        CHECK(0, "setup");
        env_free(&a);
        return;
    }
    for (int s = 0; s < 4; s++)
        CHECK(env_step(&a) == CT_OK, "step: %s", ct_optim_errmsg(a.o));
    /* An lr with all 17 digits significant, as a schedule sets it: it must
     * survive the round trip bit for bit. */
    const double odd_lr = 0.00078309922375860593;
    CHECK(ct_optim_set_lr(a.o, 0, odd_lr) == CT_OK, "set_lr: %s", ct_optim_errmsg(a.o));
    void *buf;
    size_t len;
    if (!save(&a, &buf, &len)) {
        env_free(&a);
        return;
    }
    char path[700];
    snprintf(path, sizeof path, "%s/%s-la%d.safetensors", tmpdir, kind, la_k);
    CHECK(ct_optim_save(a.o, path) == CT_OK, "save: %s", ct_optim_errmsg(a.o));
    void *fbuf = NULL;
    size_t flen = 0;
    ct_err err;
    CHECK(ct_read_whole_file(path, &fbuf, &flen, &err) == CT_OK && flen == len &&
              !memcmp(fbuf, buf, len),
          "the file differs from save_mem's bytes");
    free(fbuf);

    env_make(&b, kind, &STD, la_k, alpha, NULL);
    env_make(&c, kind, &STD, la_k, alpha, NULL);
    copy_params(&b, &a);
    copy_params(&c, &a);
    ct_optim_set_serial_below(c.o, 0);
    ct_optim_set_threads(c.o, 2);
    CHECK(ct_optim_load_mem(b.o, buf, len) == CT_OK, "load_mem: %s", ct_optim_errmsg(b.o));
    CHECK(ct_optim_load(c.o, path) == CT_OK, "load: %s", ct_optim_errmsg(c.o));
    /* A loaded optimizer saves the same bytes, and has the same steps and
     * options. */
    void *bb;
    size_t bl;
    if (save(&b, &bb, &bl)) {
        CHECK(bl == len && !memcmp(bb, buf, len), "save after load differs");
        ct_free(bb);
    }
    CHECK(same_state(&a, &c), "state after load from file differs");
    for (size_t g = 0; g < 2; g++)
        for (size_t i = 0; i < 2; i++) {
            int64_t sa = -1, sb = -2;
            ct_optim_get_step(a.o, g, i, &sa);
            ct_optim_get_step(b.o, g, i, &sb);
            CHECK(sa == sb && sa > 0, "step of %zu.%zu: %lld vs %lld", g, i, (long long)sa,
                  (long long)sb);
        }
    double lr_a, lr_b;
    ct_optim_get_lr(a.o, 1, &lr_a);
    ct_optim_get_lr(b.o, 1, &lr_b);
    CHECK(lr_a == lr_b && lr_a == 0.003, "lr after load: %g vs %g", lr_a, lr_b);
    ct_optim_get_lr(b.o, 0, &lr_b);
    CHECK(lr_b == odd_lr, "lr %.17g came back as %.17g", odd_lr, lr_b);
    /* Continue all three: bit-identical. */
    for (int s = 0; s < 7; s++) {
        CHECK(env_step(&a) == CT_OK && env_step(&b) == CT_OK && env_step(&c) == CT_OK,
              "continue: %s", ct_errmsg());
        CHECK(same_params(&a, &b) && same_params(&a, &c), "parameters differ %d steps after "
                                                          "the load", s + 1);
    }
    CHECK(same_state(&a, &b) && same_state(&a, &c), "state differs after continuing");
    /* A loaded state replaces the one there: load into an optimizer that has
     * stepped on its own. */
    env d;
    env_make(&d, kind, &STD, la_k, alpha, NULL);
    env_step(&d);
    ct_optim_set_lr(d.o, 0, 0.123);
    CHECK(ct_optim_load_mem(d.o, buf, len) == CT_OK, "load over state: %s",
          ct_optim_errmsg(d.o));
    void *db;
    size_t dl;
    if (save(&d, &db, &dl)) {
        CHECK(dl == len && !memcmp(db, buf, len), "load over existing state: saves differ");
        ct_free(db);
    }
    env_free(&d);
    env_free(&b);
    env_free(&c);
    env_free(&a);
    ct_free(buf);
    unlink(path);
}

/* ---- refusals ----------------------------------------------------------------- */

static const char *other_kind(const char *kind)
{
    for (size_t i = 0; ct_optim_kind_name(i); i++) {
        ct_optim *o = NULL;
        const char *k = ct_optim_kind_name(i);
        if (!strcmp(k, kind))
            continue;
        ct_status st = ct_optim_create(&o, k, NULL);
        ct_optim_destroy(o);
        if (st == CT_OK)
            return k;
    }
    return NULL;
}

/* A saved state of kind with layout L and lookahead la_k, after 2 steps. */
static int state_of(const char *kind, const layout *L, int la_k, double alpha, void **buf,
                    size_t *len)
{
    env e;
    int ok = env_make(&e, kind, L, la_k, alpha, NULL) == CT_OK && env_step(&e) == CT_OK &&
             env_step(&e) == CT_OK && save(&e, buf, len);
    env_free(&e);
    return ok;
}

static void check_refusals(const char *kind)
{
    env e;
    if (env_make(&e, kind, &STD, 0, 0, NULL)) {
        env_free(&e);
        return;
    }
    env_step(&e);
    env_step(&e);
    env_step(&e);
    void *good;
    size_t glen;
    if (!state_of(kind, &STD, 0, 0, &good, &glen)) {
        env_free(&e);
        return;
    }
    /* the good state loads (sanity), then e is back to its own state */
    {
        env t;
        env_make(&t, kind, &STD, 0, 0, NULL);
        CHECK(ct_optim_load_mem(t.o, good, glen) == CT_OK, "good state: %s",
              ct_optim_errmsg(t.o));
        env_free(&t);
    }
    void *buf;
    size_t len;
    /* another optimizer */
    const char *other = other_kind(kind);
    if (other && state_of(other, &STD, 0, 0, &buf, &len)) {
        refuse_mem(&e, buf, len, CT_EMISMATCH, other, "another optimizer's state");
        ct_free(buf);
    }
    /* another format version, missing version, foreign format name */
    edit ed = {.meta_key = "format_version", .meta_val = "2"};
    if (rewrite(good, glen, &ed, &buf, &len)) {
        refuse_mem(&e, buf, len, CT_EMISMATCH, "version '2'", "format version 2");
        ct_free(buf);
    }
    ed = (edit){.meta_key = "format_version", .meta_val = "0"};
    if (rewrite(good, glen, &ed, &buf, &len)) {
        refuse_mem(&e, buf, len, CT_EMISMATCH, "version '0'", "format version 0");
        ct_free(buf);
    }
    ed = (edit){.meta_key = "format_version", .meta_val = NULL};
    if (rewrite(good, glen, &ed, &buf, &len)) {
        refuse_mem(&e, buf, len, CT_EMISMATCH, "version", "no format version");
        ct_free(buf);
    }
    ed = (edit){.meta_key = "format", .meta_val = "somebody.else"};
    if (rewrite(good, glen, &ed, &buf, &len)) {
        refuse_mem(&e, buf, len, CT_EFORMAT, "somebody.else", "foreign format name");
        ct_free(buf);
    }
    ed = (edit){.meta_key = "optimizer", .meta_val = "nosuch"};
    if (rewrite(good, glen, &ed, &buf, &len)) {
        refuse_mem(&e, buf, len, CT_EMISMATCH, "nosuch", "unknown optimizer name");
        ct_free(buf);
    }
    ed = (edit){.meta_key = "groups", .meta_val = NULL};
    if (rewrite(good, glen, &ed, &buf, &len)) {
        refuse_mem(&e, buf, len, CT_EFORMAT, "groups", "no groups metadata");
        ct_free(buf);
    }
    ed = (edit){.meta_key = "groups", .meta_val = "{\"a\":1}"};
    if (rewrite(good, glen, &ed, &buf, &len)) {
        refuse_mem(&e, buf, len, CT_EFORMAT, "groups", "groups not an array");
        ct_free(buf);
    }
    ed = (edit){.meta_key = "groups", .meta_val = "[[[[[["};
    if (rewrite(good, glen, &ed, &buf, &len)) {
        refuse_mem(&e, buf, len, CT_EFORMAT, "groups", "groups not JSON");
        ct_free(buf);
    }
    /* tensors: missing, extra, wrong dtype; negative and huge step */
    ed = (edit){.drop_tensor = "1.1.step"};
    if (rewrite(good, glen, &ed, &buf, &len)) {
        refuse_mem(&e, buf, len, CT_EFORMAT, "1.1.step", "missing step tensor");
        ct_free(buf);
    }
    size_t n_state = 0;
    const char *sname = NULL;
    ct_optim_state_count(e.o, 1, 1, &n_state);
    if (n_state) {
        char tn[96];
        ct_optim_state_buffer(e.o, 1, 1, 0, &sname, NULL, NULL);
        snprintf(tn, sizeof tn, "1.1.%s", sname);
        ed = (edit){.drop_tensor = tn};
        if (rewrite(good, glen, &ed, &buf, &len)) {
            refuse_mem(&e, buf, len, CT_EFORMAT, tn, "missing state tensor");
            ct_free(buf);
        }
        ed = (edit){.retype_tensor = tn};
        if (rewrite(good, glen, &ed, &buf, &len)) {
            refuse_mem(&e, buf, len, CT_EMISMATCH, tn, "F64 state tensor");
            ct_free(buf);
        }
    }
    ed = (edit){.add_tensor = "1.1.extra"};
    if (rewrite(good, glen, &ed, &buf, &len)) {
        refuse_mem(&e, buf, len, CT_EMISMATCH, "tensors", "extra tensor");
        ct_free(buf);
    }
    ed = (edit){.set_step = -5};
    if (rewrite(good, glen, &ed, &buf, &len)) {
        refuse_mem(&e, buf, len, CT_EFORMAT, "negative", "negative step");
        ct_free(buf);
    }
    /* options out of range, unknown, missing; counter */
    ed = (edit){.groups_find = "\"lr\":", .groups_repl = "\"lr\":-1,\"x_lr\":"};
    if (rewrite(good, glen, &ed, &buf, &len)) {
        refuse_mem(&e, buf, len, CT_EFORMAT, "x_lr", "unknown option in groups");
        ct_free(buf);
    }
    ed = (edit){.groups_find = "\"lr\":0.003", .groups_repl = "\"lr\":-0.003"};
    if (rewrite(good, glen, &ed, &buf, &len)) {
        refuse_mem(&e, buf, len, CT_EFORMAT, "lr=-0.003", "negative lr in groups");
        ct_free(buf);
    }
    /* a literal beyond double's range (cJSON reads it as infinity, which
     * JSON cannot write back: found by fuzz_state_load) */
    ed = (edit){.groups_find = "\"lr\":0.003", .groups_repl = "\"lr\":1e508"};
    if (rewrite(good, glen, &ed, &buf, &len)) {
        refuse_mem(&e, buf, len, CT_EFORMAT, "finite", "lr beyond double's range in groups");
        ct_free(buf);
    }
    ed = (edit){.groups_find = "\"lr\":", .groups_repl = "\"lr\":\"high\",\"zz\":"};
    if (rewrite(good, glen, &ed, &buf, &len)) {
        refuse_mem(&e, buf, len, CT_EFORMAT, NULL, "string option in groups");
        ct_free(buf);
    }
    ed = (edit){.groups_find = "\"lookahead_counter\":0",
                .groups_repl = "\"lookahead_counter\":-1"};
    if (rewrite(good, glen, &ed, &buf, &len)) {
        refuse_mem(&e, buf, len, CT_EFORMAT, "lookahead_counter", "negative lookahead counter");
        ct_free(buf);
    }
    ed = (edit){.groups_find = "\"lookahead_counter\":0",
                .groups_repl = "\"lookahead_counter\":1e300"};
    if (rewrite(good, glen, &ed, &buf, &len)) {
        refuse_mem(&e, buf, len, CT_EFORMAT, "lookahead_counter", "huge lookahead counter");
        ct_free(buf);
    }
    ed = (edit){.groups_find = "\"lookahead_counter\":0",
                .groups_repl = "\"lookahead_counter\":2.5"};
    if (rewrite(good, glen, &ed, &buf, &len)) {
        refuse_mem(&e, buf, len, CT_EFORMAT, "lookahead_counter", "fractional lookahead counter");
        ct_free(buf);
    }
    /* other group count and parameter sizes */
    layout one = STD;
    one.n_groups = 1;
    if (state_of(kind, &one, 0, 0, &buf, &len)) {
        refuse_mem(&e, buf, len, CT_EMISMATCH, "1 parameter groups", "one group instead of two");
        ct_free(buf);
    }
    layout three = STD;
    three.n_groups = 3;
    three.n[1] = 1;
    three.n[2] = 1;
    if (state_of(kind, &three, 0, 0, &buf, &len)) {
        refuse_mem(&e, buf, len, CT_EMISMATCH, "3 parameter groups", "three groups");
        ct_free(buf);
    }
    layout moved = STD;
    moved.n[0] = 1;
    moved.n[1] = 3;
    if (state_of(kind, &moved, 0, 0, &buf, &len)) {
        refuse_mem(&e, buf, len, CT_EMISMATCH, "parameters", "parameter in another group");
        ct_free(buf);
    }
    layout size = STD;
    size.numel[0] = 36;
    if (state_of(kind, &size, 0, 0, &buf, &len)) {
        refuse_mem(&e, buf, len, CT_EMISMATCH, "36 elements", "parameter size 36 vs 37");
        ct_free(buf);
    }
    /* lookahead on vs off, and other settings */
    if (state_of(kind, &STD, 3, 0.5, &buf, &len)) {
        refuse_mem(&e, buf, len, CT_EMISMATCH, "lookahead", "lookahead state into plain");
        env l;
        if (env_make(&l, kind, &STD, 5, 0.5, NULL) == CT_OK) {
            env_step(&l);
            refuse_mem(&l, buf, len, CT_EMISMATCH, "lookahead", "lookahead k=3 into k=5");
            refuse_mem(&l, good, glen, CT_EMISMATCH, "lookahead", "plain state into lookahead");
        }
        env_free(&l);
        if (env_make(&l, kind, &STD, 3, 0.25, NULL) == CT_OK)
            refuse_mem(&l, buf, len, CT_EMISMATCH, "lookahead", "lookahead alpha 0.5 into 0.25");
        env_free(&l);
        ct_free(buf);
    }
    /* truncation: every byte of the header, and through the data */
    const unsigned char *g = good;
    uint64_t hl = 0;
    for (int i = 7; i >= 0; i--)
        hl = (hl << 8) | g[i];
    int trunc_ok = 1;
    snap s;
    take(&e, &s);
    for (size_t cut = 0; cut < glen; cut += cut < 8 + hl ? 1 : 1 + (glen - 8 - hl) / 37) {
        ct_status st = ct_optim_load_mem(e.o, good, cut);
        if (st != CT_EFORMAT) {
            CHECK(0, "truncated at %zu of %zu bytes: status %d", cut, glen, st);
            trunc_ok = 0;
            break;
        }
    }
    CHECK(trunc_ok && unchanged(&e, &s), "truncated states");
    snap_free(&s, e.np);
    /* a truncated file, an empty file, a missing file, a directory */
    char path[700];
    snprintf(path, sizeof path, "%s/trunc.safetensors", tmpdir);
    write_file(path, good, glen - 1);
    refuse_file(&e, path, CT_EFORMAT, "past the end", "truncated file, 1 byte short");
    write_file(path, good, (size_t)(8 + hl / 2));
    refuse_file(&e, path, CT_EFORMAT, "truncated", "truncated file in the header");
    write_file(path, good, 5);
    refuse_file(&e, path, CT_EFORMAT, "5 bytes", "5-byte file");
    write_file(path, good, 0);
    refuse_file(&e, path, CT_EFORMAT, "0 bytes", "empty file");
    refuse_mem(&e, good, 0, CT_EFORMAT, "0 bytes", "empty buffer");
    unlink(path);
    refuse_file(&e, path, CT_EIO, "trunc.safetensors", "missing file");
    refuse_file(&e, tmpdir, CT_EIO, "not a regular file", "a directory");
    /* huge header sizes */
    unsigned char *h = malloc(glen);
    memcpy(h, good, glen);
    memset(h, 0xff, 8);
    refuse_mem(&e, h, glen, CT_EFORMAT, "exceeds", "header size 2^64-1");
    uint64_t big = (100u << 20) + 1;
    for (int i = 0; i < 8; i++)
        h[i] = (unsigned char)(big >> (8 * i));
    refuse_mem(&e, h, glen, CT_EFORMAT, "exceeds", "header size 100 MB + 1");
    big = glen - 7;
    for (int i = 0; i < 8; i++)
        h[i] = (unsigned char)(big >> (8 * i));
    refuse_mem(&e, h, glen, CT_EFORMAT, "truncated", "header size past the end");
    /* bit flips in the header: every byte, one bit each (cycling) */
    memcpy(h, good, glen);
    take(&e, &s);
    int refused = 0, accepted = 0, bad_status = 0, modified = 0;
    for (size_t i = 0; i < 8 + hl; i++) {
        h[i] ^= (unsigned char)(1u << (i % 8));
        ct_status st = ct_optim_load_mem(e.o, h, glen);
        if (st == CT_OK) {
            /* The flip spelled another valid state: it loaded; put e back. */
            accepted++;
            ct_status rs = ct_optim_load_mem(e.o, s.state, s.len);
            CHECK(rs == CT_OK && unchanged(&e, &s), "restoring after the flip at byte %zu: %s",
                  i, ct_optim_errmsg(e.o));
        } else if (st == CT_EFORMAT || st == CT_EMISMATCH) {
            refused++;
            if (!unchanged(&e, &s)) {
                if (!modified)
                    fprintf(stderr, "[%s] a refused flip at header byte %zu (%s) modified the "
                            "optimizer\n", kind, i, ct_optim_errmsg(e.o));
                modified++;
            }
        } else {
            bad_status++;
        }
        h[i] ^= (unsigned char)(1u << (i % 8));
    }
    CHECK(bad_status == 0 && modified == 0,
          "bit flips: %d with another status, %d refused loads modified the optimizer",
          bad_status, modified);
    CHECK(refused > (int)(8 + hl) * 9 / 10, "bit flips: only %d of %d refused", refused,
          (int)(8 + hl));
    CHECK(unchanged(&e, &s), "bit flips left the optimizer modified");
    if (!strcmp(kind, "adamw"))
        printf("test_optim_state: %s: %d header bit flips refused, %d still valid (an option's "
               "digit, header padding), %llu header bytes\n",
               kind, refused, accepted, (unsigned long long)hl);
    snap_free(&s, e.np);
    free(h);
    /* a foreign safetensors file: valid, no ctrain metadata */
    {
        ct_st_writer w = {0};
        ct_err err;
        float wv[6] = {1, 2, 3, 4, 5, 6};
        int64_t shp[2] = {2, 3};
        ct_st_add(&w, "weight", CT_ST_F32, 2, shp, wv, &err);
        void *fb;
        size_t fl;
        ct_st_serialize(&w, &fb, &fl, &err);
        refuse_mem(&e, fb, fl, CT_EFORMAT, "not a ctrain optimizer state", "foreign file");
        snprintf(path, sizeof path, "%s/foreign.safetensors", tmpdir);
        write_file(path, fb, fl);
        refuse_file(&e, path, CT_EFORMAT, "not a ctrain optimizer state", "foreign file on disk");
        unlink(path);
        free(fb);
        ct_st_add_meta(&w, "format", "pt", &err);
        ct_st_serialize(&w, &fb, &fl, &err);
        refuse_mem(&e, fb, fl, CT_EFORMAT, "'pt'", "foreign file with metadata");
        free(fb);
        ct_st_writer_free(&w);
        static const char junk[] = "\x02\x00\x00\x00\x00\x00\x00\x00{}";
        refuse_mem(&e, junk, sizeof junk - 1, CT_EFORMAT, NULL, "empty safetensors");
        static const char notjson[] = "\x04\x00\x00\x00\x00\x00\x00\x00[1] ";
        refuse_mem(&e, notjson, sizeof notjson - 1, CT_EFORMAT, NULL, "header not an object");
    }
    ct_free(good);
    env_free(&e);
}

/* ---- the interoperability file -------------------------------------------- */

static void write_interop(const char *refs)
{
    char dir[600], path[700], jpath[700];
    snprintf(dir, sizeof dir, "%s/state_check", refs);
    mkdir(refs, 0755);
    if (mkdir(dir, 0755) && errno != EEXIST) {
        CHECK(0, "cannot create %s", dir);
        return;
    }
    snprintf(path, sizeof path, "%s/adamw_state.safetensors", dir);
    snprintf(jpath, sizeof jpath, "%s/adamw_state.expect.json", dir);
    env e;
    cur = "interop";
    if (env_make(&e, "adamw", &STD, 3, 0.5, "amsgrad=true")) {
        env_free(&e);
        CHECK(0, "adamw setup");
        return;
    }
    for (int s = 0; s < 4; s++)
        env_step(&e);
    CHECK(ct_optim_save(e.o, path) == CT_OK, "save %s: %s", path, ct_optim_errmsg(e.o));
    /* What the file must hold, from the engine's own accessors. */
    cJSON *root = cJSON_CreateObject(), *tensors = cJSON_AddObjectToObject(root, "tensors");
    for (size_t g = 0; g < 2; g++)
        for (size_t i = 0; i < 2; i++) {
            size_t n = 0;
            ct_optim_state_count(e.o, g, i, &n);
            for (size_t k = 0; k < n; k++) {
                const char *name;
                float *d;
                size_t numel;
                ct_optim_state_buffer(e.o, g, i, k, &name, &d, &numel);
                double sum = 0;
                for (size_t j = 0; j < numel; j++)
                    sum += d[j];
                char tn[96];
                snprintf(tn, sizeof tn, "%zu.%zu.%s", g, i, name);
                cJSON *t = cJSON_AddObjectToObject(tensors, tn);
                cJSON_AddStringToObject(t, "dtype", "F32");
                cJSON *shape = cJSON_AddArrayToObject(t, "shape");
                cJSON_AddItemToArray(shape, cJSON_CreateNumber((double)numel));
                uint32_t bits;
                memcpy(&bits, &d[0], sizeof bits);
                cJSON_AddNumberToObject(t, "sum", sum);
                cJSON_AddNumberToObject(t, "first_bits", (double)bits);
            }
            int64_t step;
            ct_optim_get_step(e.o, g, i, &step);
            char tn[96];
            snprintf(tn, sizeof tn, "%zu.%zu.step", g, i);
            cJSON *t = cJSON_AddObjectToObject(tensors, tn);
            cJSON_AddStringToObject(t, "dtype", "I64");
            cJSON_AddArrayToObject(t, "shape");
            cJSON_AddNumberToObject(t, "sum", (double)step);
            cJSON_AddNumberToObject(t, "first_bits", (double)step);
        }
    cJSON *meta = cJSON_AddObjectToObject(root, "metadata");
    cJSON_AddStringToObject(meta, "format", "ctrain.optim_state");
    cJSON_AddStringToObject(meta, "optimizer", "adamw");
    cJSON_AddNumberToObject(root, "groups", 2);
    cJSON_AddNumberToObject(root, "lookahead_k", 3);
    char *js = cJSON_Print(root);
    write_file(jpath, js, strlen(js));
    free(js);
    cJSON_Delete(root);
    env_free(&e);
}

int main(int argc, char **argv)
{
    const char *refs = argc > 1 ? argv[1] : "/tmp";
    snprintf(tmpdir, sizeof tmpdir, "%s/state_tmp.%ld", refs, (long)getpid());
    mkdir(refs, 0755);
    if (mkdir(tmpdir, 0755)) {
        fprintf(stderr, "cannot create %s\n", tmpdir);
        return 1;
    }
    int kinds = 0;
    for (size_t i = 0; ct_optim_kind_name(i); i++) {
        const char *kind = ct_optim_kind_name(i);
        ct_optim *o = NULL;
        ct_status st = ct_optim_create(&o, kind, NULL); /* every kind is implemented */
        ct_optim_destroy(o);
        cur = kind;
        CHECK(st == CT_OK, "create: %s", ct_errmsg());
        if (st)
            continue;
        int before = failed;
        check_roundtrip(kind, 0);
        check_roundtrip(kind, 3);
        check_refusals(kind);
        kinds++;
        printf("test_optim_state: %-10s %s\n", kind, failed == before ? "ok" : "FAILED");
    }
    cur = "";
    CHECK(kinds > 0, "no optimizer kind could be created");
    write_interop(refs);
    rmdir(tmpdir);
    return check_summary();
}
