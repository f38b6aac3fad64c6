/* Learning-rate schedules: the public API, the update machinery shared by
 * every kind, ReduceLROnPlateau's step and SequentialLR.
 *
 * Source: torch/optim/lr_scheduler.py (PyTorch 2.x):
 *   LRScheduler.__init__ / _initial_step / step / _update_lr,
 *   ReduceLROnPlateau.step / _reduce_lr / _is_better,
 *   CosineAnnealingWarmRestarts.step (T_cur, T_i),
 *   SequentialLR.__init__ (lr reset to initial_lr, recursive_undo, initial
 *   step of the first child) and SequentialLR.step (_update_lr(0) at a
 *   milestone),
 * and the constructors of OneCycleLR and CyclicLR (group keys, momentum).
 * Several schedules on one optimizer compose as ChainedScheduler does:
 * each ct_sched_step works from the lrs the previous one left. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sched_impl.h"

/* ---- access to the optimizer ------------------------------------------- */

static ct_status opt_fail(ct_sched *s, ct_status st, const char *what, size_t g, double v)
{
    char msg[CT_ERRMSG_CAP];
    snprintf(msg, sizeof msg, "%s", ct_optim_errmsg(s->opt));
    return ct_fail(&s->err, st, "%s: cannot set %s of group %zu to %.17g: %s",
                   s->kind ? s->kind->name : "sequential", what, g, v, msg);
}

ct_status ct_sched_group_lr(ct_sched *s, size_t g, double *lr)
{
    ct_status st = ct_optim_get_lr(s->opt, g, lr);
    return st ? ct_fail_keep(&s->err, st) : CT_OK;
}

double ct_sched_key(const ct_sched *s, size_t g, int key) { return s->opt->groups[g].sched_key[key]; }

static void set_key(ct_sched *s, size_t g, int key, double v)
{
    s->opt->groups[g].sched_key[key] = v;
    s->opt->groups[g].sched_has |= 1u << key;
}

/* An option's (first) value by name. */
static double opt_val(const ct_sched *s, const char *key)
{
    return s->v[ct_opts_find(s->kind->opts, s->kind->n_opts, key)->slot];
}

static int has_key(const ct_sched *s, size_t g, int key)
{
    return (s->opt->groups[g].sched_has >> key) & 1u;
}

/* Momentum is betas[0] for optimizers with betas, else "momentum". */
static ct_status get_mom(ct_sched *s, size_t g, double *m)
{
    double v[2];
    size_t n;
    ct_status st = ct_optim_get_option(s->opt, g, s->use_beta1 ? "betas" : "momentum", v, 2, &n);
    if (st)
        return ct_fail_keep(&s->err, st);
    *m = v[0];
    return CT_OK;
}

static ct_status set_mom(ct_sched *s, size_t g, double m)
{
    char text[128];
    if (s->use_beta1) {
        double v[2];
        size_t n;
        ct_status st = ct_optim_get_option(s->opt, g, "betas", v, 2, &n);
        if (st)
            return ct_fail_keep(&s->err, st);
        if (n >= 2)
            snprintf(text, sizeof text, "betas=%.17g,%.17g", m, v[1]);
        else
            snprintf(text, sizeof text, "betas=%.17g", m);
    } else {
        snprintf(text, sizeof text, "momentum=%.17g", m);
    }
    ct_status st = ct_optim_set_options(s->opt, g, text);
    return st ? opt_fail(s, st, s->use_beta1 ? "beta1" : "momentum", g, m) : CT_OK;
}

static ct_status check_groups(ct_sched *s)
{
    size_t n = ct_optim_num_groups(s->opt);
    if (n != s->ng)
        return ct_fail(&s->err, CT_ESTATE,
                       "%s: the optimizer now has %zu parameter groups, the schedule was created "
                       "for %zu",
                       s->kind ? s->kind->name : "sequential", n, s->ng);
    return CT_OK;
}

/* Writes lrs (and momenta if mom) to every group, all or nothing. */
static ct_status apply(ct_sched *s, const double *lr, const double *mom)
{
    ct_status st = CT_OK;
    size_t g;
    for (g = 0; g < s->ng && !st; g++) {
        st = ct_sched_group_lr(s, g, &s->old_lr[g]);
        if (!st && mom)
            st = get_mom(s, g, &s->old_mom[g]);
    }
    if (st)
        return st;
    for (g = 0; g < s->ng && !st; g++) {
        if (mom)
            st = set_mom(s, g, mom[g]);
        if (!st && (st = ct_optim_set_lr(s->opt, g, lr[g])))
            st = opt_fail(s, st, "the lr", g, lr[g]);
    }
    if (st) /* restore: the previous values were accepted before */
        for (size_t h = 0; h < g; h++) {
            ct_optim_set_lr(s->opt, h, s->old_lr[h]);
            if (mom) {
                char keep[CT_ERRMSG_CAP];
                memcpy(keep, s->err.msg, sizeof keep);
                set_mom(s, h, s->old_mom[h]);
                memcpy(s->err.msg, keep, sizeof keep);
            }
        }
    return st;
}

static void record_last_lr(ct_sched *s)
{
    for (size_t g = 0; g < s->ng; g++)
        ct_optim_get_lr(s->opt, g, &s->last_lr[g]);
}

/* One update of a non-plateau kind, reached as torch's step()
 * (MODE_STEP), _initial_step() (MODE_INITIAL) or _update_lr(0)
 * (MODE_EPOCH0). */
static ct_status update(ct_sched *s, int mode)
{
    sched_pos p = s->pos;
    p.is_initial = mode == MODE_INITIAL;
    p.closed = 0;
    if (mode == MODE_EPOCH0) {
        p.last_epoch = 0;
        p.closed = s->kind->closed_form;
    } else {
        p.step_count = mode == MODE_INITIAL ? 1 : p.step_count + 1;
        if (s->kind->id == K_COSINE_WR) { /* CosineAnnealingWarmRestarts.step() */
            if (p.last_epoch < 0) {
                p.T_i = (int64_t)opt_val(s, "T_0");
                p.T_cur = 0;
                p.last_epoch = 0;
            } else {
                p.last_epoch++;
                p.T_cur++;
                if (p.T_cur >= p.T_i) {
                    p.T_cur %= p.T_i;
                    int64_t mult = (int64_t)opt_val(s, "T_mult");
                    if (p.T_i > INT64_MAX / mult)
                        return ct_fail(&s->err, CT_ESTATE,
                                       "cosine_warm_restarts: the period T_i=%lld times "
                                       "T_mult=%lld overflows",
                                       (long long)p.T_i, (long long)mult);
                    p.T_i *= mult;
                }
            }
        } else {
            p.last_epoch++;
        }
    }
    int set_mom = 0;
    ct_status st = ct_sched_get_lr(s, &p, s->new_lr, s->new_mom, &set_mom);
    if (!st)
        st = apply(s, s->new_lr, set_mom ? s->new_mom : NULL);
    if (st)
        return st;
    p.is_initial = 0;
    p.closed = 0;
    s->pos = p;
    record_last_lr(s);
    return CT_OK;
}

/* ---- creation ---------------------------------------------------------- */

static ct_sched *alloc_sched(ct_optim *opt, size_t ng)
{
    ct_sched *s = calloc(1, sizeof *s);
    double *buf = calloc(12 * (ng ? ng : 1), sizeof *buf);
    if (!s || !buf) {
        free(s);
        free(buf);
        return NULL;
    }
    s->opt = opt;
    s->ng = ng;
    double **arrays[] = {&s->base_lrs, &s->last_lr, &s->max_lrs, &s->base_moms, &s->max_moms,
                         &s->min_lrs, &s->new_lr, &s->new_mom, &s->old_lr, &s->old_mom,
                         &s->opt_base_lrs, &s->initial_lrs};
    for (size_t i = 0; i < 12; i++)
        *arrays[i] = buf + i * ng;
    return s;
}

static void free_sched(ct_sched *s)
{
    if (!s)
        return;
    free(s->base_lrs);
    free(s->children);
    free(s->milestones);
    free(s);
}

/* What a create may change in the optimizer, to undo it on failure. */
typedef struct snapshot {
    double *lr, *mom, *keys;
    unsigned *has;
} snapshot;

static ct_status take_snapshot(ct_sched *s, snapshot *sn, int with_mom)
{
    memset(sn, 0, sizeof *sn);
    sn->lr = calloc(s->ng * 10, sizeof *sn->lr);
    sn->has = calloc(s->ng, sizeof *sn->has);
    if (!sn->lr || !sn->has) {
        free(sn->lr);
        free(sn->has);
        sn->lr = NULL;
        sn->has = NULL;
        return ct_fail(&s->err, CT_ENOMEM, "out of memory creating a schedule");
    }
    sn->keys = sn->lr + s->ng * 2;
    for (size_t g = 0; g < s->ng; g++) {
        ct_status st = ct_sched_group_lr(s, g, &sn->lr[g]);
        if (st)
            return st;
        memcpy(&sn->keys[g * 8], s->opt->groups[g].sched_key, 8 * sizeof(double));
        sn->has[g] = s->opt->groups[g].sched_has;
    }
    if (with_mom) {
        sn->mom = sn->lr + s->ng;
        for (size_t g = 0; g < s->ng; g++) {
            ct_status st = get_mom(s, g, &sn->mom[g]);
            if (st)
                return st;
        }
    }
    return CT_OK;
}

static void restore_snapshot(ct_sched *s, snapshot *sn)
{
    if (!sn->lr)
        return;
    char keep[CT_ERRMSG_CAP];
    memcpy(keep, s->err.msg, sizeof keep);
    for (size_t g = 0; g < s->ng; g++) {
        if (sn->mom)
            set_mom(s, g, sn->mom[g]);
        ct_optim_set_lr(s->opt, g, sn->lr[g]);
        memcpy(s->opt->groups[g].sched_key, &sn->keys[g * 8], 8 * sizeof(double));
        s->opt->groups[g].sched_has = sn->has[g];
    }
    memcpy(s->err.msg, keep, sizeof keep);
}

static void free_snapshot(snapshot *sn)
{
    free(sn->lr);
    free(sn->has);
}

/* The constructor's side effects and the initial step. */
static ct_status construct(ct_sched *s)
{
    ct_status st;
    if (s->kind->id == K_PLATEAU) { /* ReduceLROnPlateau.__init__: no initial step */
        s->pos.last_epoch = 0;
        s->best = opt_val(s, "mode") == 0 ? INFINITY : -INFINITY; /* mode_worse */
        record_last_lr(s);
        return CT_OK;
    }
    if (s->kind->id == K_ONECYCLE) {
        for (size_t g = 0; g < s->ng; g++) {
            double init = s->max_lrs[g] / opt_val(s, "div_factor");
            set_key(s, g, SK_INITIAL_LR, init);
            set_key(s, g, SK_MAX_LR, s->max_lrs[g]);
            set_key(s, g, SK_MIN_LR, init / opt_val(s, "final_div_factor"));
        }
    }
    if (s->kind->id == K_CYCLIC)
        for (size_t g = 0; g < s->ng; g++)
            if ((st = ct_optim_set_lr(s->opt, g, s->opt_base_lrs[g])))
                return opt_fail(s, st, "the lr", g, s->opt_base_lrs[g]);
    if (s->cycle_momentum)
        for (size_t g = 0; g < s->ng; g++) {
            if ((st = set_mom(s, g, s->max_moms[g])))
                return st;
            set_key(s, g, SK_MAX_MOMENTUM, s->max_moms[g]);
            set_key(s, g, SK_BASE_MOMENTUM, s->base_moms[g]);
        }
    /* torch's last_epoch argument: >= 0 resumes, and needs each group's
     * initial_lr (given as an option here, or set by an earlier schedule) */
    int64_t resume = (int64_t)s->v[CT_SCHED_SLOT_LAST_EPOCH];
    if (ct_sched_given(s, "initial_lr"))
        for (size_t g = 0; g < s->ng; g++)
            set_key(s, g, SK_INITIAL_LR, s->initial_lrs[g]);
    for (size_t g = 0; g < s->ng && resume >= 0; g++)
        if (!has_key(s, g, SK_INITIAL_LR))
            return ct_fail(&s->err, CT_EINVAL,
                           "%s: param 'initial_lr' is not specified in param group %zu when "
                           "resuming (last_epoch=%lld): give initial_lr=...",
                           s->kind->name, g, (long long)resume);
    /* LRScheduler.__init__: setdefault initial_lr, base_lrs, last_epoch */
    for (size_t g = 0; g < s->ng; g++) {
        if (!has_key(s, g, SK_INITIAL_LR)) {
            double lr;
            if ((st = ct_sched_group_lr(s, g, &lr)))
                return st;
            set_key(s, g, SK_INITIAL_LR, lr);
        }
        s->base_lrs[g] = ct_sched_key(s, g, SK_INITIAL_LR);
    }
    s->pos.last_epoch = resume;
    s->pos.T_cur = resume; /* CosineAnnealingWarmRestarts: T_cur = last_epoch */
    if (s->kind->id == K_COSINE_WR)
        s->pos.T_i = (int64_t)opt_val(s, "T_0");
    /* The initial step; CyclicLR's uses base_lrs = initial_lr, as torch sets
     * self.base_lrs from base_lr only after super().__init__ returns. */
    if ((st = update(s, MODE_INITIAL)))
        return st;
    if (s->kind->id == K_CYCLIC)
        memcpy(s->base_lrs, s->opt_base_lrs, s->ng * sizeof(double));
    return CT_OK;
}

static int is_lambda_kind(const sched_kind *k)
{
    return k->id == K_LAMBDA || k->id == K_MULTIPLICATIVE;
}

/* ct_sched_create and ct_sched_create_lambda (who names the call). */
static ct_status create(ct_sched **out, ct_optim *opt, const char *kind, const char *options,
                        ct_sched_lambda_fn fn, void *ctx, const char *who)
{
    if (!out)
        return ct_fail(NULL, CT_EINVAL, "%s: out is NULL", who);
    *out = NULL;
    if (!opt)
        return ct_fail(NULL, CT_EINVAL, "%s: optimizer is NULL", who);
    if (!kind)
        return ct_fail(NULL, CT_EINVAL, "%s: kind is NULL", who);
    const sched_kind *k = ct_sched_find_kind(kind);
    if (!k) {
        char known[512];
        size_t len = 0;
        known[0] = 0;
        for (size_t i = 0; ct_sched_kind_name(i) && len < sizeof known; i++)
            len += (size_t)snprintf(known + len, sizeof known - len, "%s%s", i ? ", " : "",
                                    ct_sched_kind_name(i));
        return ct_fail(NULL, CT_EINVAL, "unknown schedule kind '%s' (known: %s)", kind, known);
    }
    if (fn && !is_lambda_kind(k))
        return ct_fail(NULL, CT_EINVAL,
                       "%s: kind '%s' takes no function: only lambda and multiplicative do "
                       "(create '%s' with ct_sched_create)", who, kind, kind);
    if (!fn && is_lambda_kind(k))
        return ct_fail(NULL, CT_EINVAL,
                       "%s: kind '%s' needs the factor function: create it with "
                       "ct_sched_create_lambda and a non-NULL fn", who, kind);
    size_t ng = ct_optim_num_groups(opt);
    if (ng == 0)
        return ct_fail(NULL, CT_ESTATE,
                       "%s: the optimizer has no parameter groups; add them before creating a "
                       "schedule",
                       kind);
    ct_sched *s = alloc_sched(opt, ng);
    if (!s)
        return ct_fail(NULL, CT_ENOMEM, "out of memory creating schedule '%s'", kind);
    s->kind = k;
    s->lambda = fn;
    s->lambda_ctx = ctx;
    ct_opts_defaults(k->opts, k->n_opts, s->v);
    ct_status st = ct_opts_parse(k->opts, k->n_opts, k->name, options, s->v, s->given, &s->err);
    if (!st)
        st = ct_sched_setup(s);
    snapshot sn = {0};
    if (!st)
        st = take_snapshot(s, &sn, s->cycle_momentum);
    if (!st)
        st = construct(s);
    if (st) {
        restore_snapshot(s, &sn);
        free_snapshot(&sn);
        ct_fail(NULL, st, "%s", s->err.msg); /* the thread's message */
        free_sched(s);
        return st;
    }
    free_snapshot(&sn);
    *out = s;
    return CT_OK;
}

ct_status ct_sched_create(ct_sched **out, ct_optim *opt, const char *kind, const char *options)
{
    return create(out, opt, kind, options, NULL, NULL, "ct_sched_create");
}

ct_status ct_sched_create_lambda(ct_sched **out, ct_optim *opt, const char *kind,
                                 const char *options, ct_sched_lambda_fn fn, void *ctx)
{
    if (!fn) {
        if (out)
            *out = NULL;
        return ct_fail(NULL, CT_EINVAL, "ct_sched_create_lambda: fn is NULL");
    }
    return create(out, opt, kind, options, fn, ctx, "ct_sched_create_lambda");
}

void ct_sched_fail(ct_sched *s, const char *message)
{
    if (!s || !message)
        return;
    snprintf(s->lambda_err.msg, sizeof s->lambda_err.msg, "%s", message);
    s->lambda_has_msg = 1;
}

/* ---- SequentialLR ------------------------------------------------------ */

static void destroy_children(ct_sched *const *children, size_t n)
{
    if (!children)
        return;
    for (size_t i = 0; i < n; i++) {
        size_t j = 0;
        while (j < i && children[j] != children[i])
            j++;
        /* the first occurrence only; a child of another sequential stays */
        if (j == i && children[i] && !children[i]->owned)
            ct_sched_destroy(children[i]);
    }
}

static ct_status check_children(ct_optim *opt, ct_sched *const *children, size_t n,
                                const int64_t *milestones)
{
    const char *me = "ct_sched_create_sequential";
    if (!opt)
        return ct_fail(NULL, CT_EINVAL, "%s: optimizer is NULL", me);
    if (!children || n == 0)
        return ct_fail(NULL, CT_EINVAL, "%s: needs at least one schedule (children is NULL or n "
                                        "is 0)", me);
    if (n > 1 && !milestones)
        return ct_fail(NULL, CT_EINVAL, "%s: %zu schedules need %zu milestones, milestones is "
                                        "NULL", me, n, n - 1);
    for (size_t i = 0; i < n; i++) {
        const ct_sched *c = children[i];
        if (!c)
            return ct_fail(NULL, CT_EINVAL, "%s: schedule %zu is NULL", me, i);
        for (size_t j = 0; j < i; j++)
            if (children[j] == c)
                return ct_fail(NULL, CT_EINVAL, "%s: schedules %zu and %zu are the same", me, j,
                               i);
        if (c->owned)
            return ct_fail(NULL, CT_EINVAL,
                           "%s: schedule %zu already belongs to a sequential schedule", me, i);
        if (!c->kind)
            return ct_fail(NULL, CT_EINVAL,
                           "%s: schedule %zu is itself sequential, which cannot be nested", me, i);
        if (c->kind->id == K_PLATEAU)
            return ct_fail(NULL, CT_EINVAL,
                           "%s: schedule %zu is plateau (ReduceLROnPlateau), which needs a "
                           "metric and cannot be sequenced",
                           me, i);
        if (c->opt != opt)
            return ct_fail(NULL, CT_EINVAL,
                           "%s: schedule %zu (%s) belongs to another optimizer", me, i,
                           c->kind->name);
        if (c->ng != ct_optim_num_groups(opt))
            return ct_fail(NULL, CT_ESTATE,
                           "%s: schedule %zu was created for %zu groups, the optimizer has %zu",
                           me, i, c->ng, ct_optim_num_groups(opt));
    }
    for (size_t i = 0; i + 1 < n; i++) {
        if (milestones[i] < 1)
            return ct_fail(NULL, CT_EINVAL, "%s: milestones[%zu]=%lld is invalid: must be >= 1",
                           me, i, (long long)milestones[i]);
        if (i > 0 && milestones[i] <= milestones[i - 1])
            return ct_fail(NULL, CT_EINVAL,
                           "%s: milestones[%zu]=%lld is invalid: must be > milestones[%zu]=%lld "
                           "(increasing)",
                           me, i, (long long)milestones[i], i - 1, (long long)milestones[i - 1]);
    }
    return CT_OK;
}

ct_status ct_sched_create_sequential(ct_sched **out, ct_optim *opt, ct_sched *const *children,
                                     size_t n, const int64_t *milestones)
{
    if (!out) {
        destroy_children(children, n);
        return ct_fail(NULL, CT_EINVAL, "ct_sched_create_sequential: out is NULL");
    }
    *out = NULL;
    ct_status st = check_children(opt, children, n, milestones);
    if (st) {
        destroy_children(children, n);
        return st;
    }
    size_t ng = ct_optim_num_groups(opt);
    ct_sched *s = alloc_sched(opt, ng);
    if (s) {
        s->children = malloc(n * sizeof *s->children);
        s->milestones = malloc((n > 1 ? n - 1 : 1) * sizeof *s->milestones);
    }
    if (!s || !s->children || !s->milestones) {
        free_sched(s);
        destroy_children(children, n);
        return ct_fail(NULL, CT_ENOMEM, "out of memory creating a sequential schedule");
    }
    memcpy(s->children, children, n * sizeof *children);
    if (n > 1)
        memcpy(s->milestones, milestones, (n - 1) * sizeof *milestones);
    s->n_children = n;
    ct_sched *first = children[0];
    /* Every group has initial_lr: each child's constructor set it. Save
     * the lrs and momenta first child's initial step may change. */
    for (size_t g = 0; g < ng; g++)
        ct_optim_get_lr(opt, g, &s->old_lr[g]);
    for (size_t g = 0; g < ng && !st; g++)
        if ((st = ct_optim_set_lr(opt, g, ct_sched_key(s, g, SK_INITIAL_LR))))
            st = opt_fail(s, st, "the lr", g, ct_sched_key(s, g, SK_INITIAL_LR));
    if (!st) {
        for (size_t i = 0; i < n; i++) /* recursive_undo */
            children[i]->pos.last_epoch--;
        st = update(first, MODE_INITIAL);
        if (st)
            ct_fail(&s->err, st, "sequential: the initial step of schedule 0 failed: %s",
                    first->err.msg);
    }
    if (st) {
        for (size_t g = 0; g < ng; g++)
            ct_optim_set_lr(opt, g, s->old_lr[g]);
        ct_fail(NULL, st, "%s", s->err.msg);
        free_sched(s);
        destroy_children(children, n);
        return st;
    }
    for (size_t i = 0; i < n; i++)
        children[i]->owned = 1;
    memcpy(s->last_lr, first->last_lr, ng * sizeof(double));
    s->pos.last_epoch = 0;
    *out = s;
    return CT_OK;
}

static ct_status sequential_step(ct_sched *s)
{
    int64_t le = s->pos.last_epoch + 1;
    size_t idx = 0; /* bisect_right(milestones, le) */
    while (idx + 1 < s->n_children && s->milestones[idx] <= le)
        idx++;
    ct_sched *c = s->children[idx];
    ct_status st = update(c, idx > 0 && s->milestones[idx - 1] == le ? MODE_EPOCH0 : MODE_STEP);
    if (st)
        return ct_fail(&s->err, st, "sequential: schedule %zu (%s): %s", idx, c->kind->name,
                       c->err.msg);
    s->pos.last_epoch = le;
    memcpy(s->last_lr, c->last_lr, s->ng * sizeof(double));
    return CT_OK;
}

/* ---- ReduceLROnPlateau ------------------------------------------------- */

static int is_better(const ct_sched *s, double a, double best)
{
    int max_mode = opt_val(s, "mode") != 0, abs_mode = opt_val(s, "threshold_mode") != 0;
    double thr = opt_val(s, "threshold");
    if (!max_mode && !abs_mode)
        return a < best * (1.0 - thr);
    if (!max_mode)
        return a < best - thr;
    if (!abs_mode)
        return a > best * (thr + 1.0);
    return a > best + thr;
}

static ct_status plateau_step(ct_sched *s, double current)
{
    double factor = opt_val(s, "factor"), eps = opt_val(s, "eps");
    int64_t patience = (int64_t)opt_val(s, "patience"), cooldown = (int64_t)opt_val(s, "cooldown");
    double best = s->best;
    int64_t bad = s->num_bad, cd = s->cooldown_counter;
    if (is_better(s, current, best)) {
        best = current;
        bad = 0;
    } else {
        bad++;
    }
    if (cd > 0) { /* in cooldown: ignore bad epochs */
        cd--;
        bad = 0;
    }
    if (bad > patience) { /* _reduce_lr */
        for (size_t g = 0; g < s->ng; g++) {
            double old;
            ct_status st = ct_sched_group_lr(s, g, &old);
            if (st)
                return st;
            double a = old * factor, lr = s->min_lrs[g] > a ? s->min_lrs[g] : a;
            s->new_lr[g] = old - lr > eps ? lr : old;
        }
        ct_status st = apply(s, s->new_lr, NULL);
        if (st)
            return st;
        cd = cooldown;
        bad = 0;
    }
    s->pos.last_epoch++;
    s->best = best;
    s->num_bad = bad;
    s->cooldown_counter = cd;
    record_last_lr(s);
    return CT_OK;
}

/* ---- the rest of the API ----------------------------------------------- */

static const char *name_of(const ct_sched *s) { return s->kind ? s->kind->name : "sequential"; }

ct_status ct_sched_step(ct_sched *s)
{
    if (!s)
        return ct_fail(NULL, CT_EINVAL, "ct_sched_step: schedule is NULL");
    if (s->owned)
        return ct_fail(&s->err, CT_ESTATE,
                       "%s: this schedule belongs to a sequential schedule: step that one",
                       name_of(s));
    ct_status st = check_groups(s);
    if (st)
        return st;
    if (!s->kind)
        return sequential_step(s);
    if (s->kind->id == K_PLATEAU)
        return ct_fail(&s->err, CT_EINVAL,
                       "plateau: ReduceLROnPlateau steps with a metric: use ct_sched_step_metric");
    return update(s, MODE_STEP);
}

ct_status ct_sched_step_metric(ct_sched *s, double metric)
{
    if (!s)
        return ct_fail(NULL, CT_EINVAL, "ct_sched_step_metric: schedule is NULL");
    if (!s->kind || s->kind->id != K_PLATEAU)
        return ct_fail(&s->err, CT_EINVAL,
                       "%s: ct_sched_step_metric is for plateau schedules only: use "
                       "ct_sched_step",
                       name_of(s));
    if (isnan(metric))
        return ct_fail(&s->err, CT_ENONFINITE, "plateau: the metric is NaN");
    ct_status st = check_groups(s);
    if (st)
        return st;
    return plateau_step(s, metric);
}

ct_status ct_sched_last_lr(const ct_sched *s, size_t group, double *lr)
{
    if (!s)
        return ct_fail(NULL, CT_EINVAL, "ct_sched_last_lr: schedule is NULL");
    if (!lr)
        return ct_fail((ct_err *)&s->err, CT_EINVAL, "ct_sched_last_lr: lr is NULL");
    if (group >= s->ng)
        return ct_fail((ct_err *)&s->err, CT_EINVAL,
                       "ct_sched_last_lr: group %zu does not exist (%zu groups)", group, s->ng);
    *lr = s->last_lr[group];
    return CT_OK;
}

ct_status ct_sched_last_epoch(const ct_sched *s, int64_t *epoch)
{
    if (!s)
        return ct_fail(NULL, CT_EINVAL, "ct_sched_last_epoch: schedule is NULL");
    if (!epoch)
        return ct_fail((ct_err *)&s->err, CT_EINVAL, "ct_sched_last_epoch: epoch is NULL");
    *epoch = s->pos.last_epoch;
    return CT_OK;
}

/* ---- state for checkpoints ---------------------------------------------
 * Layout, all doubles (integers are exact below 2^53): a header
 * {STATE_VERSION, kind id (-1: sequential), groups, children}, the counters
 * {last_epoch, step_count, T_cur, T_i, best, num_bad, cooldown_counter},
 * per group {base_lr, last_lr, sched_has, sched_key[0..SK_COUNT-1]} (the
 * keys schedules keep in the optimizer's groups, as torch's initial_lr),
 * then each child's state. Options are not saved: they come from the
 * constructor, as with torch's scheduler state_dict. */
enum { STATE_VERSION = 1, STATE_HEAD = 4, STATE_POS = 7, STATE_GROUP = 3 + SK_COUNT };

static size_t state_size(const ct_sched *s)
{
    size_t n = STATE_HEAD + STATE_POS + s->ng * STATE_GROUP;
    for (size_t i = 0; i < s->n_children; i++)
        n += state_size(s->children[i]);
    return n;
}

static double *put_state(const ct_sched *s, double *d)
{
    *d++ = STATE_VERSION;
    *d++ = s->kind ? s->kind->id : -1;
    *d++ = (double)s->ng;
    *d++ = (double)s->n_children;
    const sched_pos *p = &s->pos;
    *d++ = (double)p->last_epoch;
    *d++ = (double)p->step_count;
    *d++ = (double)p->T_cur;
    *d++ = (double)p->T_i;
    *d++ = s->best;
    *d++ = (double)s->num_bad;
    *d++ = (double)s->cooldown_counter;
    for (size_t g = 0; g < s->ng; g++) {
        const ct_group *gr = &s->opt->groups[g];
        *d++ = s->base_lrs[g];
        *d++ = s->last_lr[g];
        *d++ = gr->sched_has;
        for (int k = 0; k < SK_COUNT; k++)
            *d++ = gr->sched_key[k];
    }
    for (size_t i = 0; i < s->n_children; i++)
        d = put_state(s->children[i], d);
    return d;
}

/* Checks that state d fits schedule s (recursively); *end: past it. */
static int state_fits(const ct_sched *s, const double *d, const double *end, const double **next)
{
    if (end - d < (ptrdiff_t)(STATE_HEAD + STATE_POS + s->ng * STATE_GROUP) ||
        d[0] != STATE_VERSION || d[1] != (s->kind ? s->kind->id : -1) ||
        d[2] != (double)s->ng || d[3] != (double)s->n_children)
        return 0;
    d += STATE_HEAD + STATE_POS + s->ng * STATE_GROUP;
    for (size_t i = 0; i < s->n_children; i++)
        if (!state_fits(s->children[i], d, end, &d))
            return 0;
    *next = d;
    return 1;
}

static const double *get_state(ct_sched *s, const double *d)
{
    d += STATE_HEAD;
    sched_pos *p = &s->pos;
    p->last_epoch = (int64_t)*d++;
    p->step_count = (int64_t)*d++;
    p->T_cur = (int64_t)*d++;
    p->T_i = (int64_t)*d++;
    s->best = *d++;
    s->num_bad = (int64_t)*d++;
    s->cooldown_counter = (int64_t)*d++;
    for (size_t g = 0; g < s->ng; g++) {
        ct_group *gr = &s->opt->groups[g];
        s->base_lrs[g] = *d++;
        s->last_lr[g] = *d++;
        gr->sched_has = (unsigned)*d++;
        for (int k = 0; k < SK_COUNT; k++)
            gr->sched_key[k] = *d++;
    }
    for (size_t i = 0; i < s->n_children; i++)
        d = get_state(s->children[i], d);
    return d;
}

ct_status ct_sched_state_size(const ct_sched *s, size_t *n)
{
    if (!s || !n)
        return ct_fail(s ? (ct_err *)&s->err : NULL, CT_EINVAL, "ct_sched_state_size: NULL "
                       "argument");
    *n = state_size(s);
    return CT_OK;
}

ct_status ct_sched_get_state(const ct_sched *s, double *state, size_t n)
{
    if (!s || !state)
        return ct_fail(s ? (ct_err *)&s->err : NULL, CT_EINVAL, "ct_sched_get_state: NULL "
                       "argument");
    if (n != state_size(s))
        return ct_fail((ct_err *)&s->err, CT_EINVAL,
                       "%s: the state has %zu values, the buffer %zu (ct_sched_state_size)",
                       name_of(s), state_size(s), n);
    put_state(s, state);
    return CT_OK;
}

ct_status ct_sched_set_state(ct_sched *s, const double *state, size_t n)
{
    if (!s || !state)
        return ct_fail(s ? &s->err : NULL, CT_EINVAL, "ct_sched_set_state: NULL argument");
    ct_status st = check_groups(s);
    if (st)
        return st;
    const double *next = NULL;
    if (!state_fits(s, state, state + n, &next) || next != state + n)
        return ct_fail(&s->err, CT_EMISMATCH,
                       "%s: the state (%zu values) was not saved by a schedule of this kind, "
                       "group count and structure (%zu values expected); nothing was changed",
                       name_of(s), n, state_size(s));
    get_state(s, state);
    return CT_OK;
}

const char *ct_sched_errmsg(const ct_sched *s) { return s ? s->err.msg : ""; }

void ct_sched_destroy(ct_sched *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n_children; i++) {
        s->children[i]->owned = 0;
        ct_sched_destroy(s->children[i]);
    }
    free_sched(s);
}
