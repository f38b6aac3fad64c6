/* Tests of learning-rate schedules (include/ctrain/sched.h).
 *
 * 1. Refusals: every kind with a missing required option, out-of-range
 *    values, per-group lists of the wrong length, NULL arguments, the wrong
 *    step call for the kind, a NaN metric, invalid sequential schedules and
 *    updates torch cannot compute (division by zero, past total_steps).
 *    Each asserts the status, that the message names the problem, and that
 *    the optimizer's lrs and momenta are unchanged afterwards.
 * 2. Exactness: replays the lr (and momentum) trajectory of every schedule
 *    reference (REFS_DIR/sched_*.safetensors, written by
 *    tests/ref/gen_optim_refs.py from torch.optim.lr_scheduler) and requires
 *    |ctrain - torch| <= 1e-12 |torch| at every step.
 *
 * usage: test_sched [REFS_DIR]                                           */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctrain/ctrain.h"
#include "io/safetensors.h"
#include "sched_refs.h"

static int passed, failed;

#define EXPECT(cond, ...)                                                                        \
    do {                                                                                         \
        if (cond) {                                                                              \
            passed++;                                                                            \
        } else {                                                                                 \
            failed++;                                                                            \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);                                 \
            fprintf(stderr, __VA_ARGS__);                                                        \
            fputc('\n', stderr);                                                                 \
        }                                                                                        \
    } while (0)

/* ---- fixtures ------------------------------------------------------------ */

typedef struct fixture {
    ct_optim *opt;
    float data[4][8], grad[4][8];
} fixture;

/* An optimizer of kind `name` with one small parameter per group option
 * string (NULL-terminated list). */
static ct_optim *make_opt(fixture *f, const char *name, ...)
{
    f->opt = NULL;
    if (ct_optim_create(&f->opt, name, NULL)) {
        fprintf(stderr, "cannot create optimizer %s: %s\n", name, ct_errmsg());
        return NULL;
    }
    va_list ap;
    va_start(ap, name);
    const char *o;
    for (int g = 0; (o = va_arg(ap, const char *)) != NULL && g < 4; g++) {
        for (int i = 0; i < 8; i++)
            f->data[g][i] = 0.1f * (float)(i + 1), f->grad[g][i] = 0.01f;
        ct_param p = {.data = f->data[g], .grad = f->grad[g], .numel = 8, .dtype = CT_F32};
        if (ct_optim_add_group(f->opt, &p, 1, o, NULL))
            fprintf(stderr, "add_group '%s' failed: %s\n", o, ct_optim_errmsg(f->opt));
    }
    va_end(ap);
    return f->opt;
}

static int has_opt(ct_optim *o, const char *key)
{
    double v[2];
    size_t n;
    return ct_optim_get_option(o, 0, key, v, 2, &n) == CT_OK;
}

/* lr and momentum (betas[0] or momentum, NAN if none) of every group. */
typedef struct groups_view {
    size_t n;
    double lr[4], mom[4];
} groups_view;

static groups_view view(ct_optim *o)
{
    groups_view v = {.n = ct_optim_num_groups(o)};
    for (size_t g = 0; g < v.n && g < 4; g++) {
        double m[2];
        size_t cnt;
        ct_optim_get_lr(o, g, &v.lr[g]);
        if (!ct_optim_get_option(o, g, "betas", m, 2, &cnt) ||
            !ct_optim_get_option(o, g, "momentum", m, 2, &cnt))
            v.mom[g] = m[0];
        else
            v.mom[g] = NAN;
    }
    return v;
}

static int same_view(groups_view a, groups_view b)
{
    if (a.n != b.n)
        return 0;
    for (size_t g = 0; g < a.n && g < 4; g++)
        if (a.lr[g] != b.lr[g] || (a.mom[g] != b.mom[g] && !(isnan(a.mom[g]) && isnan(b.mom[g]))))
            return 0;
    return 1;
}

/* Every NULL-terminated needle must be in msg. */
static int mentions(const char *msg, const char *const *needles)
{
    for (; *needles; needles++)
        if (!strstr(msg, *needles))
            return 0;
    return 1;
}

#define NEEDLES(...) ((const char *const[]){__VA_ARGS__, NULL})

/* A create that must fail with status want, a message naming needles, and
 * leave the optimizer as it was. */
static void bad_create_at(int line, ct_optim *o, const char *kind, const char *options,
                          ct_status want, const char *const *needles)
{
    groups_view before = view(o);
    ct_sched *s = (ct_sched *)&before; /* must be reset to NULL */
    ct_status st = ct_sched_create(&s, o, kind, options);
    const char *msg = ct_errmsg();
    EXPECT(st == want, "line %d: %s '%s': status %s, want %s (%s)", line, kind, options,
           ct_status_str(st), ct_status_str(want), msg);
    EXPECT(s == NULL, "line %d: %s '%s': *out not NULL after failure", line, kind, options);
    EXPECT(mentions(msg, needles), "line %d: %s '%s': message '%s' does not name the problem",
           line, kind, options, msg);
    EXPECT(same_view(before, view(o)), "line %d: %s '%s': optimizer changed by a failed create",
           line, kind, options);
    if (st == CT_OK && s != (ct_sched *)&before)
        ct_sched_destroy(s);
}
#define BAD_CREATE(o, kind, options, want, ...) \
    bad_create_at(__LINE__, o, kind, options, want, NEEDLES(__VA_ARGS__))

/* ---- refusals ------------------------------------------------------------ */

static void test_null_arguments(void)
{
    fixture f;
    ct_optim *o = make_opt(&f, "sgd", "lr=0.1", "lr=0.01", (const char *)NULL);
    ct_sched *s = NULL;
    EXPECT(ct_sched_create(NULL, o, "step", "step_size=3") == CT_EINVAL &&
               strstr(ct_errmsg(), "out is NULL"),
           "NULL out: %s", ct_errmsg());
    EXPECT(ct_sched_create(&s, NULL, "step", "step_size=3") == CT_EINVAL && !s &&
               strstr(ct_errmsg(), "optimizer is NULL"),
           "NULL optimizer: %s", ct_errmsg());
    EXPECT(ct_sched_create(&s, o, NULL, "") == CT_EINVAL && !s && strstr(ct_errmsg(), "kind"),
           "NULL kind: %s", ct_errmsg());
    BAD_CREATE(o, "warmup_cosine", "", CT_EINVAL, "unknown schedule kind 'warmup_cosine'",
               "onecycle", "plateau");
    EXPECT(ct_sched_step(NULL) == CT_EINVAL && strstr(ct_errmsg(), "NULL"), "step(NULL)");
    EXPECT(ct_sched_step_metric(NULL, 1.0) == CT_EINVAL && strstr(ct_errmsg(), "NULL"),
           "step_metric(NULL)");
    double lr;
    int64_t ep;
    EXPECT(ct_sched_last_lr(NULL, 0, &lr) == CT_EINVAL, "last_lr(NULL)");
    EXPECT(ct_sched_last_epoch(NULL, &ep) == CT_EINVAL, "last_epoch(NULL)");
    EXPECT(!strcmp(ct_sched_errmsg(NULL), ""), "errmsg(NULL)");
    ct_sched_destroy(NULL);
    /* An empty optimizer has nothing to schedule. */
    ct_optim *empty = NULL;
    ct_optim_create(&empty, "sgd", NULL);
    EXPECT(ct_sched_create(&s, empty, "step", "step_size=2") == CT_ESTATE && !s &&
               strstr(ct_errmsg(), "no parameter groups"),
           "empty optimizer: %s", ct_errmsg());
    ct_optim_destroy(empty);
    /* Accessors refuse NULL outputs and unknown groups. */
    if (ct_sched_create(&s, o, "step", "step_size=3") == CT_OK) {
        EXPECT(ct_sched_last_lr(s, 0, NULL) == CT_EINVAL, "last_lr NULL lr");
        EXPECT(ct_sched_last_lr(s, 2, &lr) == CT_EINVAL && strstr(ct_sched_errmsg(s), "group 2"),
               "last_lr group 2: %s", ct_sched_errmsg(s));
        EXPECT(ct_sched_last_epoch(s, NULL) == CT_EINVAL, "last_epoch NULL");
        EXPECT(ct_sched_last_epoch(s, &ep) == CT_OK && ep == 0, "last_epoch after create");
        ct_sched_destroy(s);
    } else {
        EXPECT(0, "step create: %s", ct_errmsg());
    }
    ct_optim_destroy(o);
}

static void test_options(void)
{
    fixture f;
    ct_optim *o = make_opt(&f, "sgd", "lr=0.1 momentum=0.9", "lr=0.01 momentum=0.5",
                           (const char *)NULL);
    /* Unknown keys, malformed values. */
    BAD_CREATE(o, "step", "step_size=3 gama=0.5", CT_EINVAL, "unknown option 'gama'", "gamma");
    BAD_CREATE(o, "step", "step_size=three", CT_EINVAL, "step_size=three", "not a number");
    BAD_CREATE(o, "step", "step_size", CT_EINVAL, "step_size", "=value");
    /* step */
    BAD_CREATE(o, "step", "", CT_EINVAL, "step_size", "required");
    BAD_CREATE(o, "step", "gamma=0.5", CT_EINVAL, "step_size", "required");
    BAD_CREATE(o, "step", "step_size=0", CT_EINVAL, "step_size=0", "[1, ");
    BAD_CREATE(o, "step", "step_size=2.5", CT_EINVAL, "step_size=2.5", "integer");
    BAD_CREATE(o, "step", "step_size=3 gamma=-0.5", CT_EINVAL, "gamma=-0.5", "[0, inf]");
    /* multistep */
    BAD_CREATE(o, "multistep", "gamma=0.5", CT_EINVAL, "milestones", "required");
    BAD_CREATE(o, "multistep", "milestones=10,-3", CT_EINVAL, "milestones=-3", "[0, ");
    BAD_CREATE(o, "multistep", "milestones=10,x", CT_EINVAL, "milestones=x", "not a number");
    /* exponential */
    BAD_CREATE(o, "exponential", "", CT_EINVAL, "gamma", "required");
    BAD_CREATE(o, "exponential", "gamma=nan", CT_EINVAL, "gamma=nan");
    /* cosine */
    BAD_CREATE(o, "cosine", "eta_min=0.001", CT_EINVAL, "T_max", "required");
    BAD_CREATE(o, "cosine", "T_max=0", CT_EINVAL, "T_max=0", "[1, ");
    BAD_CREATE(o, "cosine", "T_max=10 eta_min=-1", CT_EINVAL, "eta_min=-1", "[0, inf]");
    /* cosine_warm_restarts */
    BAD_CREATE(o, "cosine_warm_restarts", "T_mult=2", CT_EINVAL, "T_0", "required");
    BAD_CREATE(o, "cosine_warm_restarts", "T_0=0", CT_EINVAL, "T_0=0", "[1, ");
    BAD_CREATE(o, "cosine_warm_restarts", "T_0=5 T_mult=0", CT_EINVAL, "T_mult=0", "[1, ");
    BAD_CREATE(o, "cosine_warm_restarts", "T_0=1.5", CT_EINVAL, "T_0=1.5", "integer");
    /* onecycle */
    BAD_CREATE(o, "onecycle", "total_steps=100", CT_EINVAL, "max_lr", "required");
    BAD_CREATE(o, "onecycle", "max_lr=0.1", CT_EINVAL, "total_steps", "epochs",
               "steps_per_epoch");
    BAD_CREATE(o, "onecycle", "max_lr=0.1 epochs=10", CT_EINVAL, "total_steps",
               "steps_per_epoch");
    BAD_CREATE(o, "onecycle", "max_lr=0.1 total_steps=0", CT_EINVAL, "total_steps=0", "[1, ");
    BAD_CREATE(o, "onecycle", "max_lr=0.1 total_steps=100 pct_start=1.5", CT_EINVAL,
               "pct_start=1.5", "[0, 1]");
    BAD_CREATE(o, "onecycle", "max_lr=0.1 total_steps=100 div_factor=0", CT_EINVAL,
               "div_factor=0", "(0, inf]");
    BAD_CREATE(o, "onecycle", "max_lr=0.1 total_steps=100 anneal_strategy=cosine", CT_EINVAL,
               "anneal_strategy=cosine", "cos, linear");
    BAD_CREATE(o, "onecycle", "max_lr=0.1 total_steps=100 three_phase=yes", CT_EINVAL,
               "three_phase=yes", "true or false");
    BAD_CREATE(o, "onecycle", "max_lr=0.1,0.2,0.3 total_steps=100", CT_EINVAL, "max_lr",
               "3 values", "2 parameter groups");
    BAD_CREATE(o, "onecycle", "max_lr=0.1 total_steps=100 base_momentum=0.8,0.8,0.8",
               CT_EINVAL, "base_momentum", "3 values", "2 parameter groups");
    BAD_CREATE(o, "onecycle", "max_lr=0.1 total_steps=100 max_momentum=-0.9", CT_EINVAL,
               "max_momentum=-0.9");
    /* pct_start * total_steps = 1 leaves the first phase empty: torch divides
     * by zero in its initial step. Refused after the group keys and momenta
     * were written: they must be restored. */
    BAD_CREATE(o, "onecycle", "max_lr=0.5 total_steps=100 pct_start=0.01", CT_ESTATE,
               "phase 1 is empty", "pct_start=0.01");
    /* linear */
    BAD_CREATE(o, "linear", "start_factor=0", CT_EINVAL, "start_factor=0", "(0, 1]");
    BAD_CREATE(o, "linear", "start_factor=1.5", CT_EINVAL, "start_factor=1.5", "(0, 1]");
    BAD_CREATE(o, "linear", "end_factor=2", CT_EINVAL, "end_factor=2", "[0, 1]");
    BAD_CREATE(o, "linear", "total_iters=-1", CT_EINVAL, "total_iters=-1", "[0, ");
    /* constant */
    BAD_CREATE(o, "constant", "factor=1.5", CT_EINVAL, "factor=1.5", "[0, 1]");
    BAD_CREATE(o, "constant", "total_iters=2.5", CT_EINVAL, "total_iters=2.5", "integer");
    /* polynomial */
    BAD_CREATE(o, "polynomial", "power=-1", CT_EINVAL, "power=-1", "[0, inf]");
    BAD_CREATE(o, "polynomial", "total_iters=-5", CT_EINVAL, "total_iters=-5");
    /* cyclic */
    BAD_CREATE(o, "cyclic", "max_lr=0.1", CT_EINVAL, "base_lr", "required");
    BAD_CREATE(o, "cyclic", "base_lr=0.01", CT_EINVAL, "max_lr", "required");
    BAD_CREATE(o, "cyclic", "base_lr=0.01 max_lr=0.1 step_size_up=0", CT_EINVAL,
               "step_size_up=0", "[1, ");
    BAD_CREATE(o, "cyclic", "base_lr=0.01 max_lr=0.1 step_size_down=-2", CT_EINVAL,
               "step_size_down=-2");
    BAD_CREATE(o, "cyclic", "base_lr=0.01 max_lr=0.1 mode=triangular3", CT_EINVAL,
               "mode=triangular3", "triangular, triangular2, exp_range");
    BAD_CREATE(o, "cyclic", "base_lr=0.01,0.02,0.03 max_lr=0.1", CT_EINVAL, "base_lr",
               "3 values", "2 parameter groups");
    BAD_CREATE(o, "cyclic", "base_lr=0.01 max_lr=0.1 max_momentum=0.9,0.9,0.9", CT_EINVAL,
               "max_momentum", "3 values");
    BAD_CREATE(o, "cyclic", "base_lr=0.01 max_lr=0.1 gamma=-1", CT_EINVAL, "gamma=-1");
    /* torch's last_epoch: resuming needs initial_lr; plateau has neither */
    BAD_CREATE(o, "step", "step_size=2 last_epoch=3", CT_EINVAL, "initial_lr", "last_epoch=3");
    BAD_CREATE(o, "cosine", "T_max=5 last_epoch=-2", CT_EINVAL, "last_epoch=-2");
    BAD_CREATE(o, "cosine", "T_max=5 initial_lr=0.1,0.2,0.3", CT_EINVAL, "initial_lr",
               "3 values");
    BAD_CREATE(o, "plateau", "last_epoch=3", CT_EINVAL, "unknown option 'last_epoch'");
    /* swa */
    BAD_CREATE(o, "swa", "anneal_epochs=5", CT_EINVAL, "swa_lr", "required");
    BAD_CREATE(o, "swa", "swa_lr=0.1 anneal_epochs=-1", CT_EINVAL, "anneal_epochs=-1");
    BAD_CREATE(o, "swa", "swa_lr=0.1 anneal_strategy=exp", CT_EINVAL, "anneal_strategy=exp",
               "cos, linear");
    BAD_CREATE(o, "swa", "swa_lr=-0.1", CT_EINVAL, "swa_lr=-0.1");
    BAD_CREATE(o, "swa", "swa_lr=0.1,0.2,0.3", CT_EINVAL, "swa_lr", "3 values");
    /* plateau */
    BAD_CREATE(o, "plateau", "factor=1", CT_EINVAL, "factor=1", "[0, 1)");
    BAD_CREATE(o, "plateau", "mode=avg", CT_EINVAL, "mode=avg", "min, max");
    BAD_CREATE(o, "plateau", "threshold_mode=pct", CT_EINVAL, "threshold_mode=pct", "rel, abs");
    BAD_CREATE(o, "plateau", "patience=-1", CT_EINVAL, "patience=-1");
    BAD_CREATE(o, "plateau", "cooldown=1.5", CT_EINVAL, "cooldown=1.5", "integer");
    BAD_CREATE(o, "plateau", "min_lr=-1", CT_EINVAL, "min_lr=-1", "[0, inf]");
    BAD_CREATE(o, "plateau", "min_lr=1e-4,1e-5,1e-6", CT_EINVAL, "min_lr", "3 values",
               "2 parameter groups");
    BAD_CREATE(o, "plateau", "eps=-1e-8", CT_EINVAL, "eps=-1e-8", "[0, inf]");
    ct_optim_destroy(o);
}

/* cycle_momentum needs momentum or betas; values the optimizer refuses undo
 * everything the constructor did. */
static void test_momentum(void)
{
    fixture f;
    /* An optimizer with neither momentum nor betas (torch's Adagrad, Rprop,
     * ASGD): the first of these that this build has. */
    static const char *const plain[] = {"adagrad", "rprop", "asgd", "adadelta", NULL};
    for (int i = 0; plain[i]; i++) {
        ct_optim *o = NULL;
        if (ct_optim_create(&o, plain[i], NULL) != CT_OK)
            continue;
        ct_optim_destroy(o);
        o = make_opt(&f, plain[i], "lr=0.1", "lr=0.01", (const char *)NULL);
        if (!o || has_opt(o, "momentum") || has_opt(o, "betas")) {
            ct_optim_destroy(o);
            continue;
        }
        BAD_CREATE(o, "onecycle", "max_lr=0.1 total_steps=10", CT_EINVAL, "cycle_momentum",
                   "'momentum' or 'betas'", plain[i]);
        BAD_CREATE(o, "cyclic", "base_lr=0.01 max_lr=0.1", CT_EINVAL, "cycle_momentum",
                   plain[i]);
        ct_sched *s = NULL;
        EXPECT(ct_sched_create(&s, o, "onecycle", "max_lr=0.1 total_steps=10 "
                                                  "cycle_momentum=false") == CT_OK,
               "onecycle cycle_momentum=false on %s: %s", plain[i], ct_errmsg());
        ct_sched_destroy(s);
        ct_optim_destroy(o);
        break;
    }
    /* Adam refuses beta1 = 1: cyclic has already set the lrs to base_lr and
     * the betas of group 0 when group 1's is refused. */
    ct_optim *o = make_opt(&f, "adam", "lr=3e-3", "lr=1e-3 betas=0.8,0.99", (const char *)NULL);
    BAD_CREATE(o, "cyclic", "base_lr=1e-4 max_lr=1e-2 max_momentum=0.9,1.0", CT_EINVAL,
               "beta1", "group 1", "betas");
    BAD_CREATE(o, "onecycle", "max_lr=0.01 total_steps=50 max_momentum=1.5", CT_EINVAL,
               "beta1", "group 0");
    /* The failed creates left no initial_lr behind: a cosine schedule
     * starts from the groups' own lrs. */
    ct_sched *s = NULL;
    double lr0 = 0, lr1 = 0;
    if (ct_sched_create(&s, o, "cosine", "T_max=4") == CT_OK) {
        for (int t = 0; t < 8; t++)
            ct_sched_step(s); /* a full period: back to base_lrs */
        ct_optim_get_lr(o, 0, &lr0);
        ct_optim_get_lr(o, 1, &lr1);
        EXPECT(fabs(lr0 - 3e-3) < 1e-15 && fabs(lr1 - 1e-3) < 1e-15,
               "cosine base_lrs after failed creates: %.17g %.17g", lr0, lr1);
        ct_sched_destroy(s);
    } else {
        EXPECT(0, "cosine create: %s", ct_errmsg());
    }
    ct_optim_destroy(o);
}

static void test_steps(void)
{
    fixture f;
    ct_optim *o = make_opt(&f, "sgd", "lr=0.1 momentum=0.9", "lr=0.01", (const char *)NULL);
    ct_sched *s = NULL, *p = NULL;
    /* step_metric on a non-plateau kind; step on plateau; NaN metric. */
    if (ct_sched_create(&s, o, "exponential", "gamma=0.5") == CT_OK) {
        groups_view before = view(o);
        EXPECT(ct_sched_step_metric(s, 1.0) == CT_EINVAL &&
                   strstr(ct_sched_errmsg(s), "plateau") &&
                   strstr(ct_sched_errmsg(s), "ct_sched_step"),
               "step_metric on exponential: %s", ct_sched_errmsg(s));
        EXPECT(same_view(before, view(o)), "step_metric on exponential changed the optimizer");
        ct_sched_destroy(s);
    }
    if (ct_sched_create(&p, o, "plateau", "patience=0") == CT_OK) {
        groups_view before = view(o);
        int64_t ep = -1;
        EXPECT(ct_sched_step(p) == CT_EINVAL && strstr(ct_sched_errmsg(p), "metric"),
               "step on plateau: %s", ct_sched_errmsg(p));
        EXPECT(ct_sched_step_metric(p, NAN) == CT_ENONFINITE && strstr(ct_sched_errmsg(p), "NaN"),
               "NaN metric: %s", ct_sched_errmsg(p));
        ct_sched_last_epoch(p, &ep);
        EXPECT(ep == 0 && same_view(before, view(o)), "NaN metric changed the schedule (%lld)",
               (long long)ep);
        /* patience 0: the second non-improving metric reduces (inf is a
         * valid, bad metric). */
        EXPECT(ct_sched_step_metric(p, 1.0) == CT_OK && ct_sched_step_metric(p, INFINITY) == CT_OK,
               "plateau steps: %s", ct_sched_errmsg(p));
        double lr;
        ct_optim_get_lr(o, 0, &lr);
        EXPECT(lr == 0.1 * 0.1, "plateau reduced lr %.17g", lr);
        ct_sched_destroy(p);
    }
    ct_optim_destroy(o);

    /* onecycle past total_steps: refused, nothing changes. */
    o = make_opt(&f, "sgd", "lr=0.1 momentum=0.9", "lr=0.01 momentum=0.9", (const char *)NULL);
    if (ct_sched_create(&s, o, "onecycle", "max_lr=0.1 total_steps=5") == CT_OK) {
        for (int t = 0; t < 5; t++)
            EXPECT(ct_sched_step(s) == CT_OK, "onecycle step %d: %s", t, ct_sched_errmsg(s));
        groups_view before = view(o);
        int64_t ep;
        EXPECT(ct_sched_step(s) == CT_ESTATE && strstr(ct_sched_errmsg(s), "6 times") &&
                   strstr(ct_sched_errmsg(s), "total steps is 5"),
               "onecycle past the end: %s", ct_sched_errmsg(s));
        ct_sched_last_epoch(s, &ep);
        EXPECT(ep == 5 && same_view(before, view(o)), "onecycle past the end changed state");
        ct_sched_destroy(s);
    }
    ct_optim_destroy(o);

    /* A linear onecycle's step total_steps extrapolates below zero (torch
     * sets a negative lr); the optimizer refuses it, all groups keep their
     * lr and momentum. */
    o = make_opt(&f, "sgd", "lr=0.1 momentum=0.9", "lr=0.01 momentum=0.9", (const char *)NULL);
    if (ct_sched_create(&s, o, "onecycle", "max_lr=0.1 total_steps=10 anneal_strategy=linear") ==
        CT_OK) {
        for (int t = 0; t < 9; t++)
            ct_sched_step(s);
        groups_view before = view(o);
        EXPECT(ct_sched_step(s) == CT_EINVAL && strstr(ct_sched_errmsg(s), "lr of group 0") &&
                   strstr(ct_sched_errmsg(s), "must be [0, inf]"),
               "negative lr: %s", ct_sched_errmsg(s));
        EXPECT(same_view(before, view(o)), "refused negative lr changed the optimizer");
        ct_sched_destroy(s);
    }
    ct_optim_destroy(o);

    /* ConstantLR with factor 0 divides by zero at total_iters (as torch). */
    o = make_opt(&f, "sgd", "lr=0.1", (const char *)NULL);
    if (ct_sched_create(&s, o, "constant", "factor=0 total_iters=2") == CT_OK) {
        ct_sched_step(s);
        groups_view before = view(o);
        EXPECT(ct_sched_step(s) == CT_ESTATE && strstr(ct_sched_errmsg(s), "factor=0") &&
                   strstr(ct_sched_errmsg(s), "divides by zero"),
               "constant factor=0: %s", ct_sched_errmsg(s));
        EXPECT(same_view(before, view(o)), "constant factor=0 changed the optimizer");
        ct_sched_destroy(s);
    }
    /* A group added after the schedule was made. */
    if (ct_sched_create(&s, o, "exponential", "gamma=0.9") == CT_OK) {
        float d[2] = {1, 2}, g[2] = {0, 0};
        ct_param prm = {.data = d, .grad = g, .numel = 2, .dtype = CT_F32};
        ct_optim_add_group(o, &prm, 1, "lr=0.5", NULL);
        EXPECT(ct_sched_step(s) == CT_ESTATE && strstr(ct_sched_errmsg(s), "2 parameter groups"),
               "group added: %s", ct_sched_errmsg(s));
        ct_sched_destroy(s);
    }
    ct_optim_destroy(o);
}

/* ---- lambda and multiplicative -------------------------------------------- */

/* A factor function that fails at epoch fail_at (with a message if msg),
 * returns a NaN at nan_at, and counts its calls. */
typedef struct lam_ctx {
    int64_t fail_at, nan_at;
    const char *msg;
    int calls;
} lam_ctx;

static ct_status lam(void *ctx, ct_sched *s, size_t group, int64_t epoch, double *factor)
{
    lam_ctx *c = ctx;
    c->calls++;
    if (epoch == c->fail_at) {
        if (c->msg)
            ct_sched_fail(s, c->msg);
        return CT_EIO;
    }
    *factor = epoch == c->nan_at ? NAN : 0.5 + 0.1 * (double)group;
    return CT_OK;
}

static void test_lambda(void)
{
    fixture f;
    ct_optim *o = make_opt(&f, "sgd", "lr=0.1", "lr=0.01", (const char *)NULL);
    ct_sched *s = NULL;
    lam_ctx c = {.fail_at = -5, .nan_at = -5};
    /* The function is required, and only these two kinds take one. */
    BAD_CREATE(o, "lambda", "", CT_EINVAL, "lambda", "ct_sched_create_lambda");
    BAD_CREATE(o, "multiplicative", "", CT_EINVAL, "multiplicative", "ct_sched_create_lambda");
    EXPECT(ct_sched_create_lambda(&s, o, "lambda", "", NULL, NULL) == CT_EINVAL && !s &&
               strstr(ct_errmsg(), "fn is NULL"),
           "NULL fn: %s", ct_errmsg());
    EXPECT(ct_sched_create_lambda(&s, o, "step", "step_size=2", lam, &c) == CT_EINVAL && !s &&
               strstr(ct_errmsg(), "takes no function"),
           "fn with step: %s", ct_errmsg());
    EXPECT(ct_sched_create_lambda(NULL, o, "lambda", "", lam, &c) == CT_EINVAL, "NULL out");
    /* Resuming needs each group's initial_lr; the list must fit the groups. */
    groups_view before = view(o);
    EXPECT(ct_sched_create_lambda(&s, o, "lambda", "last_epoch=4", lam, &c) == CT_EINVAL && !s &&
               strstr(ct_errmsg(), "initial_lr") && strstr(ct_errmsg(), "last_epoch=4"),
           "resume without initial_lr: %s", ct_errmsg());
    EXPECT(ct_sched_create_lambda(&s, o, "lambda", "initial_lr=1,2,3", lam, &c) == CT_EINVAL &&
               !s && strstr(ct_errmsg(), "3 values"),
           "initial_lr of 3 values: %s", ct_errmsg());
    EXPECT(ct_sched_create_lambda(&s, o, "lambda", "last_epoch=-2", lam, &c) == CT_EINVAL && !s,
           "last_epoch=-2: %s", ct_errmsg());
    EXPECT(same_view(before, view(o)), "failed creates changed the optimizer");
    /* A function failing at create: its status and message, nothing changed. */
    c = (lam_ctx){.fail_at = 0, .nan_at = -5, .msg = "no factor for epoch 0"};
    EXPECT(ct_sched_create_lambda(&s, o, "lambda", "", lam, &c) == CT_EIO && !s &&
               strstr(ct_errmsg(), "no factor for epoch 0") && strstr(ct_errmsg(), "group 0"),
           "failing fn at create: %s", ct_errmsg());
    EXPECT(same_view(before, view(o)), "a failing create changed the optimizer");
    /* ... and at a step, without a message: nothing changed, the counter
     * does not move, and the next step works. */
    c = (lam_ctx){.fail_at = 2, .nan_at = 3};
    if (ct_sched_create_lambda(&s, o, "multiplicative", "", lam, &c) == CT_OK) {
        int64_t ep;
        EXPECT(c.calls == 0, "multiplicative calls fn at create (%d calls)", c.calls);
        EXPECT(ct_sched_step(s) == CT_OK, "step 1: %s", ct_sched_errmsg(s));
        EXPECT(view(o).lr[0] == 0.1 * 0.5 && view(o).lr[1] == 0.01 * 0.6, "step 1 lrs %g %g",
               view(o).lr[0], view(o).lr[1]);
        before = view(o);
        EXPECT(ct_sched_step(s) == CT_EIO && strstr(ct_sched_errmsg(s), "epoch 2") &&
                   strstr(ct_sched_errmsg(s), "group 0"),
               "failing fn at step: %s", ct_sched_errmsg(s));
        EXPECT(same_view(before, view(o)) && !ct_sched_last_epoch(s, &ep) && ep == 1,
               "a failing step changed the optimizer or the epoch (%lld)", (long long)ep);
        c.fail_at = -5;
        EXPECT(ct_sched_step(s) == CT_OK, "step 2: %s", ct_sched_errmsg(s));
        /* A NaN factor gives a NaN lr, which the optimizer refuses. */
        before = view(o);
        EXPECT(ct_sched_step(s) != CT_OK && strstr(ct_sched_errmsg(s), "lr"),
               "NaN factor: %s", ct_sched_errmsg(s));
        EXPECT(same_view(before, view(o)), "a NaN factor changed the optimizer");
        ct_sched_destroy(s);
    } else {
        EXPECT(0, "multiplicative create: %s", ct_errmsg());
    }
    ct_sched_fail(NULL, "ignored");
    ct_optim_destroy(o);
}

static void test_sequential(void)
{
    fixture f, f2;
    ct_optim *o = make_opt(&f, "sgd", "lr=0.1", "lr=0.01", (const char *)NULL);
    ct_optim *other = make_opt(&f2, "sgd", "lr=0.1", "lr=0.01", (const char *)NULL);
    ct_sched *c[3], *s = NULL;
    int64_t ms[2] = {5, 10};
#define SEQ_FAIL(want, n, milestones, ...)                                                       \
    do {                                                                                         \
        groups_view before = view(o);                                                            \
        ct_status st_ = ct_sched_create_sequential(&s, o, c, n, milestones);                     \
        EXPECT(st_ == (want) && s == NULL && mentions(ct_errmsg(), NEEDLES(__VA_ARGS__)),         \
               "sequential: status %s, message '%s'", ct_status_str(st_), ct_errmsg());          \
        EXPECT(same_view(before, view(o)), "failed sequential changed the optimizer");           \
    } while (0)
#define MAKE2()                                                                                  \
    (ct_sched_create(&c[0], o, "linear", "start_factor=0.5 total_iters=3"),                      \
     ct_sched_create(&c[1], o, "cosine", "T_max=20"))
    MAKE2();
    SEQ_FAIL(CT_EINVAL, 2, NULL, "milestones is NULL");
    MAKE2();
    SEQ_FAIL(CT_EINVAL, 0, ms, "at least one");
    ct_sched_destroy(c[0]); /* n = 0: none was handed over */
    ct_sched_destroy(c[1]);
    MAKE2();
    int64_t zero[1] = {0};
    SEQ_FAIL(CT_EINVAL, 2, zero, "milestones[0]=0", ">= 1");
    MAKE2();
    ct_sched_create(&c[2], o, "step", "step_size=2");
    int64_t down[2] = {10, 5};
    SEQ_FAIL(CT_EINVAL, 3, down, "milestones[1]=5", "increasing");
    MAKE2();
    ct_sched_create(&c[2], o, "plateau", "");
    SEQ_FAIL(CT_EINVAL, 3, ms, "schedule 2 is plateau");
    MAKE2();
    ct_sched_create(&c[2], other, "step", "step_size=2");
    SEQ_FAIL(CT_EINVAL, 3, ms, "schedule 2", "another optimizer");
    MAKE2();
    c[2] = NULL;
    SEQ_FAIL(CT_EINVAL, 3, ms, "schedule 2 is NULL");
    MAKE2();
    c[2] = c[0];
    SEQ_FAIL(CT_EINVAL, 3, ms, "schedules 0 and 2 are the same");
    EXPECT(ct_sched_create_sequential(&s, NULL, NULL, 0, NULL) == CT_EINVAL && !s,
           "sequential NULL optimizer");
    /* A child of a sequential schedule is stepped through it only. */
    MAKE2();
    if (ct_sched_create_sequential(&s, o, c, 2, ms) == CT_OK) {
        EXPECT(ct_sched_step(c[0]) == CT_ESTATE && strstr(ct_sched_errmsg(c[0]), "sequential"),
               "owned child stepped: %s", ct_sched_errmsg(c[0]));
        EXPECT(ct_sched_step(s) == CT_OK, "sequential step: %s", ct_sched_errmsg(s));
        /* Refused as a child (no nesting); handed over, so destroyed. */
        ct_sched *outer = NULL, *nested[1] = {s};
        EXPECT(ct_sched_create_sequential(&outer, o, nested, 1, NULL) == CT_EINVAL &&
                   strstr(ct_errmsg(), "cannot be nested"),
               "nested sequential: %s", ct_errmsg());
    } else {
        EXPECT(0, "sequential create: %s", ct_errmsg());
    }
    ct_optim_destroy(other);
    ct_optim_destroy(o);
#undef SEQ_FAIL
#undef MAKE2
}

/* ---- exactness against torch --------------------------------------------- */

static double max_rel;

static int close12(double a, double b)
{
    double d = fabs(a - b);
    if (d == 0)
        return 1;
    double r = b != 0 ? d / fabs(b) : INFINITY;
    if (r > max_rel)
        max_rel = r;
    return r <= 1e-12;
}

/* Checkpoints mid-run: saves the optimizer (ct_optim_save_mem) and every
 * schedule's state, rebuilds both from scratch as a resumed program does
 * (a new optimizer, new schedules with the same options, then the saved
 * states), and continues with those: the replay then checks the rest of
 * torch's trajectory. */
static int resume(const char *path, ct_optim **o, ct_sched **s, int ns, const cJSON *js,
                  const cJSON *groups, float (*data)[4], float (*grad)[4])
{
    void *ostate = NULL;
    size_t olen = 0, n[MAX_SCHEDS] = {0};
    double *st[MAX_SCHEDS] = {0};
    int ok = ct_optim_save_mem(*o, &ostate, &olen) == CT_OK;
    for (int k = 0; k < ns && ok; k++) {
        ok = ct_sched_state_size(s[k], &n[k]) == CT_OK && (st[k] = malloc(n[k] * sizeof *st[k])) &&
             ct_sched_get_state(s[k], st[k], n[k]) == CT_OK;
        /* a state of the wrong length is refused */
        ok = ok && ct_sched_set_state(s[k], st[k], n[k] - 1) == CT_EMISMATCH;
    }
    const char *kind = ct_optim_name(*o);
    ct_optim *o2 = NULL;
    ok = ok && ct_optim_create(&o2, kind, NULL) == CT_OK;
    for (int g = 0; ok && g < cJSON_GetArraySize(groups); g++) {
        ct_param p = {.data = data[g], .grad = grad[g], .numel = 4, .dtype = CT_F32};
        ok = ct_optim_add_group(o2, &p, 1, cJSON_GetArrayItem(groups, g)->valuestring,
                                NULL) == CT_OK;
    }
    ct_sched *s2[MAX_SCHEDS] = {0};
    ok = ok && make_scheds(o2, js, s2) == ns && ct_optim_load_mem(o2, ostate, olen) == CT_OK;
    for (int k = 0; k < ns && ok; k++)
        ok = ct_sched_set_state(s2[k], st[k], n[k]) == CT_OK;
    if (!ok)
        fprintf(stderr, "%s: resuming from a checkpoint failed: %s\n", path, ct_errmsg());
    for (int k = 0; k < ns; k++) {
        ct_sched_destroy(ok ? s[k] : s2[k]);
        if (ok)
            s[k] = s2[k];
        free(st[k]);
    }
    if (ok) {
        ct_optim_destroy(*o);
        *o = o2;
    } else {
        ct_optim_destroy(o2);
    }
    ct_free(ostate);
    return ok;
}

static void replay(const char *path)
{
    ct_st_file file;
    ct_err e;
    if (ct_st_read_file(path, &file, &e)) {
        EXPECT(0, "%s", e.msg);
        return;
    }
    cJSON *groups = cJSON_Parse(ct_st_meta(&file, "groups"));
    cJSON *js = cJSON_Parse(ct_st_meta(&file, "sched"));
    int steps = atoi(ct_st_meta(&file, "steps"));
    size_t ng = (size_t)cJSON_GetArraySize(groups);
    ct_optim *o = NULL;
    ct_sched *s[MAX_SCHEDS] = {0};
    int ns = -1, bad = 0;
    float data[8][4] = {{0}}, grad[8][4] = {{0}};
    if (ng > 8 || ct_optim_create(&o, ct_st_meta(&file, "optimizer"), NULL)) {
        EXPECT(0, "%s: cannot build its optimizer: %s", path, ct_errmsg());
        goto out;
    }
    for (size_t g = 0; g < ng; g++) {
        ct_param p = {.data = data[g], .grad = grad[g], .numel = 4, .dtype = CT_F32};
        ct_optim_add_group(o, &p, 1, cJSON_GetArrayItem(groups, (int)g)->valuestring, NULL);
    }
    ns = make_scheds(o, js, s);
    if (ns < 0) {
        EXPECT(0, "%s: cannot create its schedule: %s", path, ct_errmsg());
        goto out;
    }
    const double *lr0 = ct_st_find(&file, "lr0")->data, *lr = ct_st_find(&file, "lr")->data;
    const ct_st_tensor *mt = ct_st_find(&file, "mom"), *met = ct_st_find(&file, "metrics");
    const double *mom = mt ? mt->data : NULL;
    for (size_t g = 0; g < ng; g++) {
        groups_view v = view(o);
        if (!close12(v.lr[g], lr0[g]) && !bad++)
            fprintf(stderr, "%s: initial lr of group %zu: ctrain %.17g torch %.17g\n", path, g,
                    v.lr[g], lr0[g]);
    }
    for (int t = 0; t < steps && !bad; t++) {
        if (t == steps / 2 && !resume(path, &o, s, ns, js, groups, data, grad))
            bad++;
        for (int k = 0; k < ns; k++) {
            ct_status st = met ? ct_sched_step_metric(s[k], ((const double *)met->data)[t])
                               : ct_sched_step(s[k]);
            if (st && !bad++)
                fprintf(stderr, "%s: step %d: %s\n", path, t + 1, ct_sched_errmsg(s[k]));
        }
        groups_view v = view(o);
        for (size_t g = 0; g < ng && !bad; g++) {
            double want = lr[(size_t)t * ng + g], wm = mom ? mom[(size_t)t * ng + g] : NAN;
            double last;
            ct_sched_last_lr(s[ns - 1], g, &last);
            if (!close12(v.lr[g], want) || last != v.lr[g]) {
                fprintf(stderr, "%s: step %d, lr of group %zu: ctrain %.17g (last_lr %.17g) "
                        "torch %.17g\n", path, t + 1, g, v.lr[g], last, want);
                bad++;
            }
            if (!isnan(wm) && !close12(v.mom[g], wm)) {
                fprintf(stderr, "%s: step %d, momentum of group %zu: ctrain %.17g torch %.17g\n",
                        path, t + 1, g, v.mom[g], wm);
                bad++;
            }
        }
    }
    int64_t ep = -1, want_ep = steps; /* torch's, when the reference has it */
    if (ct_st_meta(&file, "last_epoch"))
        want_ep = atoll(ct_st_meta(&file, "last_epoch"));
    if (!bad && ns > 0) {
        ct_sched_last_epoch(s[0], &ep);
        if (ep != want_ep) {
            fprintf(stderr, "%s: last_epoch %lld after %d steps, torch's %lld\n", path,
                    (long long)ep, steps, (long long)want_ep);
            bad++;
        }
    }
    EXPECT(!bad, "%s: lr trajectory differs from torch", path);
out:
    for (int k = 0; k < ns; k++)
        ct_sched_destroy(s[k]);
    ct_optim_destroy(o);
    cJSON_Delete(groups);
    cJSON_Delete(js);
    ct_st_free(&file);
}

static void test_refs(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) {
        EXPECT(0, "cannot open the reference directory %s", dir);
        return;
    }
    int n = 0;
    struct dirent *ent;
    while ((ent = readdir(d)) != NULL) {
        size_t len = strlen(ent->d_name);
        if (strncmp(ent->d_name, "sched_", 6) || len < 12 ||
            strcmp(ent->d_name + len - 12, ".safetensors"))
            continue;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, ent->d_name);
        replay(path);
        n++;
    }
    closedir(d);
    EXPECT(n > 0, "no sched_*.safetensors references in %s", dir);
    printf("replayed %d schedule references: max relative lr/momentum error %.2e\n", n, max_rel);
}

int main(int argc, char **argv)
{
    test_null_arguments();
    test_options();
    test_momentum();
    test_steps();
    test_lambda();
    test_sequential();
    if (argc > 1)
        test_refs(argv[1]);
    printf("%d passed, %d failed\n", passed, failed);
    return failed != 0;
}
