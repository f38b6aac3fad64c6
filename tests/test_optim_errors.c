/* Bad input and the non-finite policy, for every optimizer kind that can be
 * created. Every refused call must return the exact status, leave a message
 * that names the problem (in ct_errmsg() and, for calls on a handle, in
 * ct_optim_errmsg()), and modify nothing: parameters, gradients, state (the
 * bytes of ct_optim_save_mem), every option of every group, the group count
 * and sizes, the skipped-step count. After all refusals the optimizer must
 * still step exactly as an untouched twin does.
 *
 * Non-finite gradients (NaN, +inf, -inf):
 *   CT_NONFINITE_ERROR (default): CT_ENONFINITE naming group, parameter and
 *     index; parameters and state bit-identical to before.
 *   CT_NONFINITE_SKIP: CT_OK, the skipped count goes up by one, nothing
 *     modified.
 *   CT_NONFINITE_NONE: the step is taken as torch.optim takes it: a NaN
 *     reaches that parameter or its state, and every other parameter
 *     (torch.optim updates each parameter on its own) is bit-identical to a
 *     run with a finite gradient there.
 *
 * usage: test_optim_errors [REFS_DIR]   (the argument is not used)       */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctrain/ctrain.h"


#include "check.h"

/* ---- a test optimizer: two groups, four parameters, one spare buffer ---- */

#define NP 4
static const size_t NUMEL[NP + 1] = {37, 24, 15, 40000, 64};
static const int NDIM[NP + 1] = {0, 2, 2, 2, 1};
static const int64_t SHAPE[NP + 1][2] = {{0, 0}, {4, 6}, {5, 3}, {200, 200}, {64, 0}};

typedef struct env {
    ct_optim *o;
    float *data[NP + 1], *grad[NP + 1];
    ct_param p[NP + 1];
    int t; /* gradients of step t */
} env;

static ct_param param_of(env *e, int i)
{
    ct_param p = {.data = e->data[i], .grad = e->grad[i], .numel = NUMEL[i], .dtype = CT_F32,
                  .ndim = NDIM[i]};
    for (int d = 0; d < NDIM[i]; d++)
        p.shape[d] = SHAPE[i][d];
    return p;
}

static void fill_grads(env *e)
{
    for (int i = 0; i < NP; i++)
        for (size_t j = 0; j < NUMEL[i]; j++)
            e->grad[i][j] = (float)(sin(0.37 * (double)j + 1.3 * i + 0.7 * e->t) *
                                        (0.5 + 0.1 * i) +
                                    0.05 * e->data[i][j]);
    e->t++;
}

/* Creates kind with lookahead if la, groups {0,1} and {2,3} with group
 * options g1opts for group 1. Returns the create status. */
static ct_status env_make(env *e, const char *kind, const char *g1opts)
{
    memset(e, 0, sizeof *e);
    for (int i = 0; i <= NP; i++) {
        e->data[i] = malloc(NUMEL[i] * sizeof(float));
        e->grad[i] = malloc(NUMEL[i] * sizeof(float));
        for (size_t j = 0; j < NUMEL[i]; j++) {
            e->data[i][j] = (float)cos(0.11 * (double)j + i) * 0.8f;
            e->grad[i][j] = 0;
        }
        e->p[i] = param_of(e, i);
    }
    ct_status st = ct_optim_create(&e->o, kind, NULL);
    if (st)
        return st;
    if ((st = ct_optim_add_group(e->o, &e->p[0], 2, NULL, NULL)) ||
        (st = ct_optim_add_group(e->o, &e->p[2], 2, g1opts, NULL))) {
        fprintf(stderr, "[%s] add_group: %s\n", kind, ct_optim_errmsg(e->o));
        return st;
    }
    return CT_OK;
}

static void env_free(env *e)
{
    ct_optim_destroy(e->o);
    for (int i = 0; i <= NP; i++) {
        free(e->data[i]);
        free(e->grad[i]);
    }
}

static ct_status env_step(env *e)
{
    fill_grads(e);
    return ct_optim_step(e->o);
}

/* ---- snapshots ----------------------------------------------------------- */

#define MAX_KEYS 32
typedef struct snap {
    float *data[NP + 1], *grad[NP + 1];
    void *state;
    size_t state_len;
    size_t n_groups, gsize[4];
    double lr[4];
    double opt[4][MAX_KEYS][4];
    uint64_t skipped;
} snap;

static char known_keys[MAX_KEYS][64];
static int n_known;

static void take(env *e, snap *s)
{
    memset(s, 0, sizeof *s);
    for (int i = 0; i <= NP; i++) {
        s->data[i] = malloc(NUMEL[i] * sizeof(float));
        s->grad[i] = malloc(NUMEL[i] * sizeof(float));
        memcpy(s->data[i], e->data[i], NUMEL[i] * sizeof(float));
        memcpy(s->grad[i], e->grad[i], NUMEL[i] * sizeof(float));
    }
    if (ct_optim_save_mem(e->o, &s->state, &s->state_len)) {
        fprintf(stderr, "[%s] save_mem failed: %s\n", check_context, ct_optim_errmsg(e->o));
        exit(1);
    }
    s->n_groups = ct_optim_num_groups(e->o);
    for (size_t g = 0; g < s->n_groups && g < 4; g++) {
        s->gsize[g] = ct_optim_group_size(e->o, g);
        ct_optim_get_lr(e->o, g, &s->lr[g]);
        for (int k = 0; k < n_known; k++)
            ct_optim_get_option(e->o, g, known_keys[k], s->opt[g][k], 4, NULL);
    }
    ct_optim_skipped_steps(e->o, &s->skipped);
}

static void snap_free(snap *s)
{
    for (int i = 0; i <= NP; i++) {
        free(s->data[i]);
        free(s->grad[i]);
    }
    ct_free(s->state);
}

/* What differs between two snapshots ("" if nothing). */
static const char *snap_diff(const snap *a, const snap *b)
{
    for (int i = 0; i <= NP; i++) {
        if (memcmp(a->data[i], b->data[i], NUMEL[i] * sizeof(float)))
            return "parameter values";
        if (memcmp(a->grad[i], b->grad[i], NUMEL[i] * sizeof(float)))
            return "gradient values";
    }
    if (a->state_len != b->state_len || memcmp(a->state, b->state, a->state_len))
        return "optimizer state (save_mem bytes)";
    if (a->n_groups != b->n_groups || memcmp(a->gsize, b->gsize, sizeof a->gsize))
        return "groups";
    if (memcmp(a->lr, b->lr, sizeof a->lr))
        return "lr";
    if (memcmp(a->opt, b->opt, sizeof a->opt))
        return "options";
    if (a->skipped != b->skipped)
        return "skipped count";
    return "";
}

/* A refused call on e: status, message (thread and handle) and nothing
 * modified. `handle` says whether the handle's message must match too. */
#define REFUSE(e, call, want, needle, handle)                                                    \
    do {                                                                                         \
        snap before_, after_;                                                                    \
        take(e, &before_);                                                                       \
        ct_status st_ = (call);                                                                  \
        const char *m_ = ct_errmsg();                                                            \
        CHECK(st_ == (want), "%s: status %d (%s), want %d; message: %s", #call, (int)st_,        \
              ct_status_str(st_), (int)(want), m_);                                              \
        CHECK(strstr(m_, needle) != NULL, "%s: message '%s' lacks '%s'", #call, m_, needle);     \
        if (handle)                                                                              \
            CHECK(!strcmp(ct_optim_errmsg((e)->o), m_), "%s: handle message '%s' != '%s'",     \
                  #call, ct_optim_errmsg((e)->o), m_);                                           \
        take(e, &after_);                                                                        \
        const char *d_ = snap_diff(&before_, &after_);                                           \
        CHECK(!*d_, "%s: refused call modified %s", #call, d_);                                 \
        snap_free(&before_);                                                                     \
        snap_free(&after_);                                                                      \
    } while (0)

/* ---- option discovery ---------------------------------------------------- */

/* The known option keys of kind, read from the "unknown option" message
 * (which must list them). */
static void discover_keys(const char *kind)
{
    ct_optim *o = (ct_optim *)&n_known; /* must be reset to NULL */
    ct_status st = ct_optim_create(&o, kind, "no_such_key=1");
    const char *m = ct_errmsg();
    CHECK(st == CT_EINVAL && o == NULL, "unknown option key: status %d, out %p", st, (void *)o);
    CHECK(strstr(m, "no_such_key") != NULL, "unknown key message '%s' lacks the key", m);
    const char *k = strstr(m, "(known: ");
    n_known = 0;
    CHECK(k != NULL, "unknown key message '%s' does not list the known keys", m);
    if (!k)
        return;
    k += 8;
    while (*k && *k != ')' && n_known < MAX_KEYS) {
        size_t len = strcspn(k, ",)");
        snprintf(known_keys[n_known++], sizeof known_keys[0], "%.*s", (int)len, k);
        k += len;
        while (*k == ',' || *k == ' ')
            k++;
    }
    CHECK(n_known > 0 && !strcmp(known_keys[0], "lr"), "first known key is '%s', not lr",
          n_known ? known_keys[0] : "");
}

static int has_key(const char *key)
{
    for (int k = 0; k < n_known; k++)
        if (!strcmp(known_keys[k], key))
            return 1;
    return 0;
}

/* Layout of parameter (g, i): count and names, as one string. */
static void layout_of(ct_optim *o, size_t g, size_t i, char *buf, size_t cap)
{
    size_t n = 0, len = 0;
    buf[0] = 0;
    if (ct_optim_state_count(o, g, i, &n))
        return;
    for (size_t k = 0; k < n; k++) {
        const char *name;
        size_t numel;
        ct_optim_state_buffer(o, g, i, k, &name, NULL, &numel);
        len += (size_t)snprintf(buf + len, len < cap ? cap - len : 0, "%s:%zu ", name, numel);
    }
}

/* ---- the checks ---------------------------------------------------------- */

static void check_create(const char *kind)
{
    ct_optim *o = (ct_optim *)&n_known;
    CHECK(ct_optim_create(NULL, kind, NULL) == CT_EINVAL && strstr(ct_errmsg(), "out is NULL"),
          "create(NULL out): %s", ct_errmsg());
    CHECK(ct_optim_create(&o, NULL, NULL) == CT_EINVAL && o == NULL &&
              strstr(ct_errmsg(), "name is NULL"),
          "create(NULL name): %s", ct_errmsg());
    static const struct {
        const char *text, *needle;
        int need_key; /* only for kinds having this key */
    } bad[] = {
        {"lr", "'lr'", 0},
        {"lr=", "'lr'", 0},
        {"lr=abc", "lr=abc", 0},
        {"lr=-1", "lr=-1", 0},
        {"lr=-1e-3", "lr=-1e-3", 0},
        {"lr=nan", "lr=nan", 0},
        {"lr=1e-3 no_such_key=2", "no_such_key", 0},
        {"=1", "option", 0},
        {"lr=1e-3,2e-3", "lr", 0},
        {"betas=0.9", "betas", 1},
        {"betas=0.9,", "betas", 1},
        {"betas=0.9,0.99,0.999", "betas", 1},
        {"betas=-0.1,0.999", "betas=-0.1", 1},
        {"betas=1.5,0.999", "betas=1.5", 1},
        {"betas=0.9,-0.1", "betas=-0.1", 1},
        {"betas=0.9,1.5", "betas=1.5", 1},
        {"eps=0", "eps", 2},
        {"eps=-1e-8", "eps", 2},
        {"eps=abc", "eps", 2},
    };
    for (size_t b = 0; b < sizeof bad / sizeof *bad; b++) {
        if (bad[b].need_key == 1 && !has_key("betas"))
            continue;
        if (bad[b].need_key == 2 && !has_key("eps"))
            continue;
        o = (ct_optim *)&n_known;
        ct_status st = ct_optim_create(&o, kind, bad[b].text);
        CHECK(st == CT_EINVAL && o == NULL, "create('%s'): status %d, out %p: %s", bad[b].text,
              st, (void *)o, ct_errmsg());
        CHECK(strstr(ct_errmsg(), bad[b].needle) != NULL, "create('%s'): message '%s' lacks '%s'",
              bad[b].text, ct_errmsg(), bad[b].needle);
        ct_optim_destroy(o);
        /* The same text through add_group and set_options. */
        env e;
        if (env_make(&e, kind, NULL) == CT_OK) {
            env_step(&e);
            REFUSE(&e, ct_optim_add_group(e.o, &e.p[4], 1, bad[b].text, NULL), CT_EINVAL,
                   bad[b].needle, 1);
            REFUSE(&e, ct_optim_set_options(e.o, 1, bad[b].text), CT_EINVAL, bad[b].needle, 1);
        }
        env_free(&e);
    }
    /* Adam's family follows torch: 0 <= beta < 1. */
    static const char *const strict[] = {"adam", "adamw", "nadam", "radam", "adamax"};
    for (size_t s = 0; s < sizeof strict / sizeof *strict; s++)
        if (!strcmp(kind, strict[s])) {
            CHECK(ct_optim_create(&o, kind, "betas=1,0.999") == CT_EINVAL &&
                      strstr(ct_errmsg(), "betas=1"),
                  "betas=1,0.999 accepted or badly explained: %s", ct_errmsg());
            CHECK(ct_optim_create(&o, kind, "betas=0.9,1") == CT_EINVAL &&
                      strstr(ct_errmsg(), "betas=1"),
                  "betas=0.9,1 accepted or badly explained: %s", ct_errmsg());
        }
    /* Valid spellings are accepted. */
    CHECK(ct_optim_create(&o, kind, "  lr=0.5   ") == CT_OK, "create('  lr=0.5   '): %s",
          ct_errmsg());
    ct_optim_destroy(o);
}

static void check_unknown_optimizer(void)
{
    ct_optim *o = (ct_optim *)&n_known;
    ct_status st = ct_optim_create(&o, "adamz", NULL);
    CHECK(st == CT_EINVAL && o == NULL, "unknown optimizer: status %d", st);
    CHECK(strstr(ct_errmsg(), "adamz") != NULL, "unknown optimizer message: %s", ct_errmsg());
    for (size_t i = 0; ct_optim_kind_name(i); i++)
        CHECK(strstr(ct_errmsg(), ct_optim_kind_name(i)) != NULL,
              "unknown optimizer message '%s' does not list '%s'", ct_errmsg(),
              ct_optim_kind_name(i));
    st = ct_optim_create(&o, "", NULL);
    CHECK(st == CT_EINVAL && o == NULL, "empty optimizer name: status %d", st);
}

static void check_groups(env *e)
{
    ct_param p = e->p[4];
    REFUSE(e, ct_optim_add_group(NULL, &p, 1, NULL, NULL), CT_EINVAL, "optimizer is NULL", 0);
    REFUSE(e, ct_optim_add_group(e->o, NULL, 1, NULL, NULL), CT_EINVAL, "params is NULL", 1);
    REFUSE(e, ct_optim_add_group(e->o, &p, 0, NULL, NULL), CT_EINVAL, "n is 0", 1);
    ct_param two[2] = {e->p[4], e->p[4]};
    /* zero-length parameter (the second of the new group) */
    two[0].numel = 32;
    two[0].ndim = 0;
    two[1].data = e->data[4] + 32;
    two[1].grad = e->grad[4] + 32;
    two[1].numel = 0;
    two[1].ndim = 0;
    REFUSE(e, ct_optim_add_group(e->o, two, 2, NULL, NULL), CT_EINVAL, "parameter 1: numel is 0",
           1);
    /* numel / shape mismatch */
    two[1].numel = 32;
    two[1].ndim = 2;
    two[1].shape[0] = 4;
    two[1].shape[1] = 9;
    REFUSE(e, ct_optim_add_group(e->o, two, 2, NULL, NULL), CT_EINVAL,
           "shape has 36 elements but numel is 32", 1);
    two[1].shape[1] = -8;
    REFUSE(e, ct_optim_add_group(e->o, two, 2, NULL, NULL), CT_EINVAL, "shape[1]", 1);
    two[1].ndim = 9;
    REFUSE(e, ct_optim_add_group(e->o, two, 2, NULL, NULL), CT_EINVAL, "ndim 9", 1);
    two[1].ndim = 0;
    /* data NULL */
    two[1].data = NULL;
    REFUSE(e, ct_optim_add_group(e->o, two, 2, NULL, NULL), CT_EINVAL, "data is NULL", 1);
    two[1].data = e->data[4] + 32;
    /* unsupported dtypes (bf16 and fp16: tests/test_optim_precision.c) */
    two[1].dtype = -1;
    REFUSE(e, ct_optim_add_group(e->o, two, 2, NULL, NULL), CT_EUNSUPPORTED, "dtype", 1);
    two[1].dtype = 77;
    REFUSE(e, ct_optim_add_group(e->o, two, 2, NULL, NULL), CT_EUNSUPPORTED, "dtype", 1);
    two[1].dtype = CT_F32;
    /* overlap within the new group: by one element */
    two[1].data = e->data[4] + 31;
    REFUSE(e, ct_optim_add_group(e->o, two, 2, NULL, NULL), CT_EINVAL, "overlap", 1);
    two[1].data = e->data[4];
    REFUSE(e, ct_optim_add_group(e->o, two, 2, NULL, NULL), CT_EINVAL, "overlap", 1);
    two[1].data = e->data[4] + 32;
    /* overlap with a registered parameter of group 1 (the last element of
     * parameter 3), and with group 0 */
    ct_param ov = e->p[3];
    ov.data = e->data[3] + NUMEL[3] - 1;
    ov.numel = 1;
    ov.ndim = 0;
    two[0] = ov;
    REFUSE(e, ct_optim_add_group(e->o, two, 2, NULL, NULL), CT_EINVAL, "group 1", 1);
    two[0] = e->p[0];
    REFUSE(e, ct_optim_add_group(e->o, two, 2, NULL, NULL), CT_EINVAL, "overlap", 1);
    /* The same buffers are fine once they do not overlap. */
    two[0] = e->p[4];
    two[0].numel = 32;
    two[0].ndim = 0;
    two[1].ndim = 0;
    size_t gi = 99;
    CHECK(ct_optim_add_group(e->o, two, 2, NULL, &gi) == CT_OK && gi == 2 &&
              ct_optim_num_groups(e->o) == 3 && ct_optim_group_size(e->o, 2) == 2,
          "valid third group: %s", ct_optim_errmsg(e->o));
}

static void check_indices(env *e)
{
    double v[4];
    size_t cnt;
    int64_t step;
    const char *name;
    float *data;
    size_t numel;
    REFUSE(e, ct_optim_set_options(e->o, 5, "lr=0.1"), CT_EINVAL, "group 5 does not exist", 1);
    REFUSE(e, ct_optim_set_options(NULL, 0, "lr=0.1"), CT_EINVAL, "optimizer is NULL", 0);
    REFUSE(e, ct_optim_get_option(e->o, 5, "lr", v, 4, &cnt), CT_EINVAL, "group 5", 1);
    REFUSE(e, ct_optim_get_option(e->o, 0, "no_such_key", v, 4, &cnt), CT_EINVAL,
           "no_such_key", 1);
    REFUSE(e, ct_optim_get_option(e->o, 0, NULL, v, 4, &cnt), CT_EINVAL, "unknown option", 1);
    REFUSE(e, ct_optim_set_lr(e->o, 2, 0.1), CT_EINVAL, "group 2 does not exist", 1);
    REFUSE(e, ct_optim_set_lr(e->o, 0, -0.1), CT_EINVAL, "lr=-0.1", 1);
    REFUSE(e, ct_optim_set_lr(e->o, 0, NAN), CT_EINVAL, "lr=nan", 1);
    REFUSE(e, ct_optim_get_lr(e->o, (size_t)-1, v), CT_EINVAL, "does not exist", 1);
    REFUSE(e, ct_optim_get_lr(e->o, 0, NULL), CT_EINVAL, "lr is NULL", 1);
    REFUSE(e, ct_optim_set_buffers(e->o, 0, 2, e->data[4], e->grad[4]), CT_EINVAL,
           "group 0 has no parameter 2", 1);
    REFUSE(e, ct_optim_set_buffers(e->o, 3, 0, e->data[4], e->grad[4]), CT_EINVAL,
           "group 3 does not exist", 1);
    REFUSE(e, ct_optim_set_buffers(e->o, 0, 0, NULL, e->grad[4]), CT_EINVAL, "data is NULL", 1);
    REFUSE(e, ct_optim_state_count(e->o, 1, 7, &cnt), CT_EINVAL, "no parameter 7", 1);
    REFUSE(e, ct_optim_state_count(e->o, 1, 0, NULL), CT_EINVAL, "count is NULL", 1);
    REFUSE(e, ct_optim_state_buffer(e->o, 1, 9, 0, &name, &data, &numel), CT_EINVAL,
           "no parameter 9", 1);
    REFUSE(e, ct_optim_state_buffer(e->o, 1, 0, 99, &name, &data, &numel), CT_EINVAL,
           "state buffers", 1);
    REFUSE(e, ct_optim_get_step(e->o, 9, 0, &step), CT_EINVAL, "group 9", 1);
    REFUSE(e, ct_optim_get_step(e->o, 0, 0, NULL), CT_EINVAL, "step is NULL", 1);
    REFUSE(e, ct_optim_set_step(e->o, 0, 5, 1), CT_EINVAL, "no parameter 5", 1);
    REFUSE(e, ct_optim_set_step(e->o, 0, 0, -1), CT_EINVAL, "step=-1", 1);
    /* all or nothing: the valid lr before the bad key is not applied */
    REFUSE(e, ct_optim_set_options(e->o, 0, "lr=0.5 no_such_key=1"), CT_EINVAL, "no_such_key",
           1);
    REFUSE(e, ct_optim_set_options(e->o, 1, "lr=0.5 lr=-2"), CT_EINVAL, "lr=-2", 1);
    /* miscellaneous NULL handles and values */
    REFUSE(e, ct_optim_step(NULL), CT_EINVAL, "optimizer is NULL", 0);
    REFUSE(e, ct_optim_step_grads(NULL, NULL, 0), CT_EINVAL, "optimizer is NULL", 0);
    REFUSE(e, ct_optim_zero_grad(NULL), CT_EINVAL, "optimizer is NULL", 0);
    REFUSE(e, ct_optim_set_threads(e->o, 0), CT_EINVAL, "threads=0", 1);
    REFUSE(e, ct_optim_set_threads(NULL, 2), CT_EINVAL, "optimizer is NULL", 0);
    REFUSE(e, ct_optim_set_serial_below(NULL, 0), CT_EINVAL, "optimizer is NULL", 0);
    REFUSE(e, ct_optim_set_nonfinite_policy(e->o, (ct_nonfinite_policy)7), CT_EINVAL, "policy 7",
           1);
    REFUSE(e, ct_optim_skipped_steps(e->o, NULL), CT_EINVAL, "NULL", 0);
    REFUSE(e, ct_optim_enable_lookahead(e->o, 5, 0.5), CT_ESTATE, "before the first group", 1);
    REFUSE(e, ct_optim_enable_lookahead(e->o, 0, 0.5), CT_EINVAL, "k=0", 1);
    REFUSE(e, ct_optim_enable_lookahead(e->o, 5, 1.5), CT_EINVAL, "alpha=1.5", 1);
    void *buf = NULL;
    size_t len = 0;
    REFUSE(e, ct_optim_save_mem(e->o, NULL, &len), CT_EINVAL, "NULL", 1);
    REFUSE(e, ct_optim_save_mem(e->o, &buf, NULL), CT_EINVAL, "NULL", 1);
    REFUSE(e, ct_optim_save(e->o, NULL), CT_EINVAL, "path is NULL", 1);
    REFUSE(e, ct_optim_load(e->o, NULL), CT_EINVAL, "path is NULL", 1);
    REFUSE(e, ct_optim_load_mem(e->o, NULL, 10), CT_EINVAL, "buf is NULL", 1);
    REFUSE(e, ct_optim_save(e->o, "/nonexistent-dir-ctrain/x.safetensors"), CT_EIO,
           "nonexistent-dir-ctrain", 1);
    /* step_grads with a wrong count or no table */
    void *grads[NP + 2];
    for (int i = 0; i < NP; i++)
        grads[i] = e->grad[i];
    grads[NP] = grads[NP + 1] = NULL;
    REFUSE(e, ct_optim_step_grads(e->o, (void *const *)grads, NP - 1), CT_EINVAL,
           "3 gradient pointers given for 4 parameters", 1);
    REFUSE(e, ct_optim_step_grads(e->o, (void *const *)grads, NP + 1), CT_EINVAL,
           "5 gradient pointers given for 4 parameters", 1);
    REFUSE(e, ct_optim_step_grads(e->o, (void *const *)grads, 0), CT_EINVAL,
           "0 gradient pointers", 1);
    REFUSE(e, ct_optim_step_grads(e->o, NULL, NP), CT_EINVAL, "gradient pointers", 1);
    /* Getters on a NULL handle do not crash. */
    CHECK(ct_optim_num_groups(NULL) == 0 && ct_optim_group_size(NULL, 0) == 0 &&
              ct_optim_group_size(e->o, 99) == 0 && *ct_optim_errmsg(NULL),
          "getters on NULL / bad group");
    ct_optim_destroy(NULL);
}

/* Options whose change alters the state layout must be refused once the
 * group holds state (CT_ESTATE), in both directions. */
static int layout_options_found;

static void check_state_shape_changes(const char *kind)
{
    static const char *const vals[] = {"true", "false", "0", "0.9", "0.5", "1", "2", "0.01"};
    for (int k = 0; k < n_known; k++) {
        if (!strcmp(known_keys[k], "lr"))
            continue;
        for (size_t v = 0; v < sizeof vals / sizeof *vals; v++) {
            char text[128], def_text[128] = "", base[512], changed[512];
            snprintf(text, sizeof text, "%.63s=%.15s", known_keys[k], vals[v]);
            env e;
            if (env_make(&e, kind, NULL)) {
                env_free(&e);
                continue;
            }
            double dv[4];
            size_t cnt = 0;
            ct_optim_get_option(e.o, 1, known_keys[k], dv, 4, &cnt);
            size_t len = (size_t)snprintf(def_text, sizeof def_text, "%.63s=", known_keys[k]);
            for (size_t c = 0; c < cnt && c < 4; c++)
                len += (size_t)snprintf(def_text + len, sizeof def_text - len, "%s%.17g",
                                        c ? "," : "", dv[c]);
            layout_of(e.o, 1, 1, base, sizeof base);
            int ok = ct_optim_set_options(e.o, 1, text) == CT_OK;
            layout_of(e.o, 1, 1, changed, sizeof changed);
            env_free(&e);
            if (!ok || !strcmp(base, changed))
                continue;
            layout_options_found++;
            /* default -> text after a step */
            if (env_make(&e, kind, NULL) == CT_OK && env_step(&e) == CT_OK) {
                REFUSE(&e, ct_optim_set_options(e.o, 1, text), CT_ESTATE, known_keys[k], 1);
                /* a change that keeps the layout is still allowed */
                CHECK(ct_optim_set_options(e.o, 1, "lr=0.25") == CT_OK,
                      "lr change after a step refused: %s", ct_optim_errmsg(e.o));
            }
            env_free(&e);
            /* text -> default after a step */
            if (env_make(&e, kind, text) == CT_OK && env_step(&e) == CT_OK)
                REFUSE(&e, ct_optim_set_options(e.o, 1, def_text), CT_ESTATE, known_keys[k], 1);
            env_free(&e);
            /* Before any step the change is allowed (checked above by ok). */
            break; /* one value per key is enough */
        }
    }
}

/* The optimizer still steps exactly as a twin that saw no refused call. */
static void check_twin(env *e, const char *kind)
{
    env t;
    if (env_make(&t, kind, NULL)) {
        CHECK(0, "twin creation failed");
        env_free(&t);
        return;
    }
    /* e took one step in check_create-style setups; bring t to e's count */
    while (t.t < e->t)
        env_step(&t);
    for (int s = 0; s < 3; s++) {
        CHECK(env_step(e) == CT_OK, "step after refusals: %s", ct_optim_errmsg(e->o));
        env_step(&t);
    }
    int same = 1;
    for (int i = 0; i < NP; i++)
        same &= !memcmp(e->data[i], t.data[i], NUMEL[i] * sizeof(float));
    void *a, *b;
    size_t la, lb;
    ct_optim_save_mem(e->o, &a, &la);
    ct_optim_save_mem(t.o, &b, &lb);
    CHECK(same && la == lb && !memcmp(a, b, la),
          "after the refused calls the optimizer no longer matches an untouched twin");
    ct_free(a);
    ct_free(b);
    env_free(&t);
}

/* Is any value of parameter (g,i) or its state non-finite? */
static int any_nonfinite(env *e, size_t g, size_t i, int pi)
{
    for (size_t j = 0; j < NUMEL[pi]; j++)
        if (!isfinite(e->data[pi][j]))
            return 1;
    size_t n = 0;
    ct_optim_state_count(e->o, g, i, &n);
    for (size_t k = 0; k < n; k++) {
        float *d;
        size_t numel;
        ct_optim_state_buffer(e->o, g, i, k, NULL, &d, &numel);
        for (size_t j = 0; j < numel; j++)
            if (!isfinite(d[j]))
                return 1;
    }
    return 0;
}

static void check_nonfinite(const char *kind)
{
    const float bad[3] = {NAN, INFINITY, -INFINITY};
    /* parameter 3 = group 1 parameter 1 (3 work chunks); parameter 0 =
     * group 0 parameter 0 */
    static const struct { int pi; size_t g, i, idx; } where[] = {{3, 1, 1, 35000}, {0, 0, 0, 36},
                                                                 {2, 1, 0, 0}};
    for (int b = 0; b < 3; b++)
        for (size_t w = 0; w < sizeof where / sizeof *where; w++)
            for (int threads = 1; threads <= 2; threads++) {
                env e;
                if (env_make(&e, kind, NULL)) {
                    env_free(&e);
                    continue;
                }
                ct_optim_set_serial_below(e.o, 0);
                ct_optim_set_threads(e.o, threads);
                env_step(&e);
                env_step(&e);
                fill_grads(&e);
                e.grad[where[w].pi][where[w].idx] = bad[b];
                /* default policy: CT_NONFINITE_ERROR */
                char needle[96], idx[48];
                snprintf(needle, sizeof needle, "group %zu parameter %zu", where[w].g,
                         where[w].i);
                snprintf(idx, sizeof idx, "index %zu", where[w].idx);
                REFUSE(&e, ct_optim_step(e.o), CT_ENONFINITE, needle, 1);
                CHECK(strstr(ct_errmsg(), idx) != NULL, "non-finite message '%s' lacks '%s'",
                      ct_errmsg(), idx);
                /* the same through step_grads */
                void *grads[NP];
                for (int i = 0; i < NP; i++)
                    grads[i] = e.grad[i];
                REFUSE(&e, ct_optim_step_grads(e.o, (void *const *)grads, NP), CT_ENONFINITE,
                       idx, 1);
                /* SKIP: OK, counted, nothing else modified */
                ct_optim_set_nonfinite_policy(e.o, CT_NONFINITE_SKIP);
                for (int rep = 1; rep <= 2; rep++) {
                    snap s0, s1;
                    take(&e, &s0);
                    ct_status st = ct_optim_step(e.o);
                    take(&e, &s1);
                    CHECK(st == CT_OK, "skip policy: status %d", st);
                    CHECK(s1.skipped == s0.skipped + 1, "skip count %llu after %llu",
                          (unsigned long long)s1.skipped, (unsigned long long)s0.skipped);
                    s1.skipped = s0.skipped;
                    const char *d = snap_diff(&s0, &s1);
                    CHECK(!*d, "skipped step modified %s", d);
                    snap_free(&s0);
                    snap_free(&s1);
                }
                /* NONE: the step is taken; the bad value reaches only its
                 * own parameter. Twin: the same with a finite gradient. */
                env t;
                env_make(&t, kind, NULL);
                ct_optim_set_serial_below(t.o, 0);
                ct_optim_set_threads(t.o, threads);
                env_step(&t);
                env_step(&t);
                fill_grads(&t);
                t.grad[where[w].pi][where[w].idx] = 0.5f;
                ct_optim_set_nonfinite_policy(e.o, CT_NONFINITE_NONE);
                int64_t s_before = 0, s_after = 0;
                ct_optim_get_step(e.o, where[w].g, where[w].i, &s_before);
                CHECK(ct_optim_step(e.o) == CT_OK, "none policy: %s", ct_optim_errmsg(e.o));
                CHECK(ct_optim_step(t.o) == CT_OK, "twin step: %s", ct_optim_errmsg(t.o));
                ct_optim_get_step(e.o, where[w].g, where[w].i, &s_after);
                CHECK(s_after == s_before + 1, "none policy: step count %lld -> %lld",
                      (long long)s_before, (long long)s_after);
                /* NaN survives every update rule (even sign-based ones:
                 * torch.sign(NaN) is 0 but the NaN lands in the state); an
                 * infinity may legitimately be absorbed (rprop and lion use
                 * only its sign), so only NaN is required to show. */
                if (isnan(bad[b]))
                    CHECK(any_nonfinite(&e, where[w].g, where[w].i, where[w].pi),
                          "none policy: NaN did not propagate to the parameter or its state");
                size_t k = 0;
                for (size_t g = 0; g < 2; g++)
                    for (size_t i = 0; i < 2; i++, k++) {
                        if ((int)k == where[w].pi)
                            continue;
                        int same = !memcmp(e.data[k], t.data[k], NUMEL[k] * sizeof(float));
                        size_t n = 0;
                        ct_optim_state_count(e.o, g, i, &n);
                        for (size_t q = 0; q < n; q++) {
                            float *d1, *d2;
                            size_t n1, n2;
                            ct_optim_state_buffer(e.o, g, i, q, NULL, &d1, &n1);
                            ct_optim_state_buffer(t.o, g, i, q, NULL, &d2, &n2);
                            same &= n1 == n2 && !memcmp(d1, d2, n1 * sizeof(float));
                        }
                        CHECK(same, "none policy: parameter %zu.%zu was affected by the bad "
                                    "gradient of another parameter", g, i);
                    }
                env_free(&t);
                env_free(&e);
            }
}

/* The fused extras: zero_grad_after_step must not zero the gradients of a
 * refused or skipped step; the grad scale is applied before the non-finite
 * check (a finite gradient scaled past float32's range is refused); bad
 * scales, SIMD levels and buffer tables are refused. */
static void check_fused(const char *kind)
{
    env e;
    if (env_make(&e, kind, NULL)) {
        env_free(&e);
        return;
    }
    REFUSE(&e, ct_optim_set_grad_scale(e.o, -1.0), CT_EINVAL, "-1", 1);
    REFUSE(&e, ct_optim_set_grad_scale(e.o, NAN), CT_EINVAL, "nan", 1);
    REFUSE(&e, ct_optim_set_grad_scale(e.o, INFINITY), CT_EINVAL, "inf", 1);
    REFUSE(&e, ct_optim_set_grad_scale(e.o, 1e39), CT_EINVAL, "1e+39", 1);
    REFUSE(&e, ct_optim_set_grad_scale(NULL, 1.0), CT_EINVAL, "optimizer is NULL", 0);
    REFUSE(&e, ct_optim_set_simd(e.o, 7), CT_EINVAL, "simd level 7", 1);
    REFUSE(&e, ct_optim_set_zero_grad_after_step(NULL, 1), CT_EINVAL, "optimizer is NULL", 0);
    void *data[NP + 1], *grads[NP + 1];
    for (int i = 0; i < NP; i++) {
        data[i] = e.data[i];
        grads[i] = e.grad[i];
    }
    REFUSE(&e, ct_optim_step_buffers(e.o, data, grads, NP - 1), CT_EINVAL,
           "3 pointers given for 4 parameters", 1);
    REFUSE(&e, ct_optim_step_buffers(e.o, NULL, grads, NP), CT_EINVAL, "pointers given", 1);
    REFUSE(&e, ct_optim_step_buffers(e.o, data, NULL, NP), CT_EINVAL, "pointers given", 1);
    data[2] = NULL;
    REFUSE(&e, ct_optim_step_buffers(e.o, data, grads, NP), CT_EINVAL, "data[2] is NULL", 1);
    data[2] = e.data[2];

    CHECK(ct_optim_set_zero_grad_after_step(e.o, 1) == CT_OK, "zero_grad_after_step: %s",
          ct_optim_errmsg(e.o));
    env_step(&e);
    int zeroed = 1;
    for (int i = 0; i < NP; i++)
        for (size_t j = 0; j < NUMEL[i]; j++)
            zeroed &= e.grad[i][j] == 0;
    CHECK(zeroed, "zero_grad_after_step: gradients not zero after a step");
    fill_grads(&e);
    e.grad[3][12345] = NAN;
    REFUSE(&e, ct_optim_step(e.o), CT_ENONFINITE, "index 12345", 1);
    ct_optim_set_nonfinite_policy(e.o, CT_NONFINITE_SKIP);
    {
        snap s0, s1;
        take(&e, &s0);
        CHECK(ct_optim_step(e.o) == CT_OK, "skip with zero_grad_after_step");
        take(&e, &s1);
        s1.skipped = s0.skipped;
        const char *d = snap_diff(&s0, &s1);
        CHECK(!*d, "a skipped step with zero_grad_after_step modified %s", d);
        snap_free(&s0);
        snap_free(&s1);
    }
    ct_optim_set_nonfinite_policy(e.o, CT_NONFINITE_ERROR);
    ct_optim_set_zero_grad_after_step(e.o, 0);
    /* scale: 1e10 * 1e30 overflows float32 */
    fill_grads(&e);
    e.grad[1][7] = 1e10f;
    CHECK(ct_optim_set_grad_scale(e.o, 1e30) == CT_OK, "grad scale 1e30: %s",
          ct_optim_errmsg(e.o));
    REFUSE(&e, ct_optim_step(e.o), CT_ENONFINITE, "group 0 parameter 1", 1);
    CHECK(strstr(ct_errmsg(), "index 7") != NULL, "scaled non-finite message: %s", ct_errmsg());
    CHECK(ct_optim_set_grad_scale(e.o, 1.0) == CT_OK, "grad scale 1");
    CHECK(ct_optim_step(e.o) == CT_OK, "step with the unscaled gradient: %s",
          ct_optim_errmsg(e.o));
    env_free(&e);
}

static void check_kind(const char *kind)
{
    check_context = kind;
    discover_keys(kind);
    check_create(kind);
    env e;
    if (env_make(&e, kind, NULL)) {
        CHECK(0, "setup failed: %s", ct_errmsg());
        env_free(&e);
        return;
    }
    env_step(&e);
    check_indices(&e);
    check_twin(&e, kind);
    check_groups(&e); /* adds a third group: last */
    env_free(&e);
    check_state_shape_changes(kind);
    check_nonfinite(kind);
    check_fused(kind);
}

int main(void)
{
    int kinds = 0;
    check_unknown_optimizer();
    for (size_t i = 0; ct_optim_kind_name(i); i++) {
        const char *kind = ct_optim_kind_name(i);
        ct_optim *o = NULL;
        ct_status st = ct_optim_create(&o, kind, NULL); /* every kind is implemented */
        ct_optim_destroy(o);
        check_context = kind;
        CHECK(st == CT_OK, "create with defaults: %s", ct_errmsg());
        if (st)
            continue;
        int before = failed;
        check_kind(kind);
        kinds++;
        printf("test_optim_errors: %-10s %s\n", kind, failed == before ? "ok" : "FAILED");
    }
    check_context = "";
    CHECK(kinds > 0, "no optimizer kind could be created");
    CHECK(layout_options_found > 0, "no option changing the state layout was found in any kind");
    return check_summary();
}
