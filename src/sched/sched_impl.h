/* Schedules' inside: the handle, the kinds' tables and their get_lr forms.
 *
 * Every kind reproduces torch/optim/lr_scheduler.py (PyTorch 2.x): the
 * constructor's side effects on the param groups (initial_lr, OneCycleLR's
 * max_lr/min_lr, momentum), the initial step (LRScheduler._initial_step),
 * the recursive "chainable" get_lr() used by step(), and the closed form
 * (_get_closed_form_lr) that SequentialLR uses at a milestone
 * (_update_lr(0)). An update is computed first into scratch arrays, then
 * written to the optimizer (rolled back if the optimizer refuses a value),
 * and only then are the schedule's counters committed: a failed call
 * changes nothing.
 *
 * The keys torch keeps in a param group (initial_lr, max_lr, ...) live in
 * the optimizer's groups (ct_group.sched_key) so that several schedules on
 * one optimizer share them exactly as torch's schedulers do. */
#ifndef CT_SCHED_IMPL_H
#define CT_SCHED_IMPL_H

#include <stddef.h>
#include <stdint.h>

#include "../core/error.h"
#include "../core/opts.h"
#include "../optim/optim_impl.h"
#include "ctrain/sched.h"

#define CT_SCHED_LIST 64                     /* values of a per-group or milestone list */
#define CT_SCHED_NV (6 * CT_SCHED_LIST + 16) /* option slots of a kind */
/* Slots of the options every kind but plateau has (torch's last_epoch
 * argument, and the initial_lr torch keeps in the param groups). */
#define CT_SCHED_SLOT_INITIAL_LR (5 * CT_SCHED_LIST)
#define CT_SCHED_SLOT_LAST_EPOCH (6 * CT_SCHED_LIST)
#define CT_SCHED_NOPT 16                     /* options of a kind, at most */
#define CT_SCHED_INT_MAX 9007199254740992.0  /* 2^53: integers exact in a double */

/* Keys of a param group (index into ct_group.sched_key). */
enum { SK_INITIAL_LR, SK_MAX_LR, SK_MIN_LR, SK_MAX_MOMENTUM, SK_BASE_MOMENTUM, SK_COUNT };

enum sched_kind_id {
    K_STEP, K_MULTISTEP, K_EXPONENTIAL, K_COSINE, K_COSINE_WR, K_ONECYCLE, K_LINEAR,
    K_CONSTANT, K_POLYNOMIAL, K_CYCLIC, K_PLATEAU, K_LAMBDA, K_MULTIPLICATIVE, K_SWA
};

/* How an update is reached (torch: step(), _initial_step(), _update_lr(0)). */
enum sched_mode { MODE_STEP, MODE_INITIAL, MODE_EPOCH0 };

/* Counters of the schedule; an update works on a copy. */
typedef struct sched_pos {
    int64_t last_epoch, step_count;
    int64_t T_cur, T_i; /* cosine_warm_restarts */
    int is_initial;     /* inside _initial_step */
    int closed;         /* _update_lr(epoch) with a closed form */
} sched_pos;

typedef struct sched_kind {
    const char *name;
    int id;
    const ct_opt_desc *opts;
    size_t n_opts;
    int closed_form; /* has _get_closed_form_lr */
} sched_kind;

struct ct_sched {
    ct_err err;
    ct_optim *opt;
    const sched_kind *kind; /* NULL: sequential */
    size_t ng;
    double v[CT_SCHED_NV]; /* parsed options */
    int given[CT_SCHED_NOPT];
    sched_pos pos;
    int owned;          /* a child of a sequential schedule */
    int cycle_momentum; /* onecycle, cyclic */
    int use_beta1;      /* momentum is betas[0] rather than momentum */
    /* per group (ng each) */
    double *base_lrs, *last_lr, *max_lrs /* swa: swa_lr */, *base_moms, *max_moms, *min_lrs;
    double *new_lr, *new_mom, *old_lr, *old_mom; /* scratch */
    double *opt_base_lrs;                        /* cyclic: base_lr as given */
    double *initial_lrs;                         /* the initial_lr option */
    /* multistep: milestones as given (a multiset, like torch's Counter) */
    int64_t ms[CT_SCHED_LIST];
    size_t n_ms;
    /* onecycle */
    int64_t total_steps;
    int n_phases;
    double phase_end[3];
    /* cyclic */
    double total_size, step_ratio;
    /* plateau */
    double best;
    int64_t num_bad, cooldown_counter;
    /* lambda, multiplicative: the caller's factor function */
    ct_sched_lambda_fn lambda;
    void *lambda_ctx;
    ct_err lambda_err; /* ct_sched_fail's message */
    int lambda_has_msg;
    /* sequential */
    ct_sched **children;
    size_t n_children;
    int64_t *milestones;
};

/* kinds.c */
const sched_kind *ct_sched_find_kind(const char *name);
const char *ct_sched_kind_name(size_t i);
/* How many values option key of the schedule's kind was given (0: none). */
int ct_sched_given(const ct_sched *s, const char *key);
/* Reads options, checks them (required keys, per-group list lengths,
 * relations) and fills the schedule's fields. No side effect on the
 * optimizer. */
ct_status ct_sched_setup(ct_sched *s);
/* get_lr(): the lrs (and, if *set_mom, the momenta) of position p, from the
 * optimizer's current values. Nothing is modified. */
ct_status ct_sched_get_lr(ct_sched *s, const sched_pos *p, double *lr, double *mom, int *set_mom);

/* sched.c, used by kinds.c */
ct_status ct_sched_group_lr(ct_sched *s, size_t g, double *lr);
double ct_sched_key(const ct_sched *s, size_t g, int key);

#endif
