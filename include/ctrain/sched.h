/* ctrain — learning-rate schedules with torch.optim.lr_scheduler semantics.
 *
 * A schedule is attached to an optimizer and rewrites the lr of each of its
 * groups, exactly as the PyTorch scheduler of the same name does (its
 * recursive, "chainable" form): creating it sets the initial lr (and
 * records each group's initial_lr), each ct_sched_step (call it after the
 * optimizer's step, once per epoch or per batch as with PyTorch) moves to
 * the next value. Several schedules on one optimizer compose as
 * torch's ChainedScheduler does.
 *
 * Kinds and options (names as PyTorch's arguments; lists as "a,b,c";
 * per-group values as one number or one per group):
 *   step                 step_size gamma=0.1
 *   multistep            milestones gamma=0.1
 *   exponential          gamma
 *   cosine               T_max eta_min=0                  (CosineAnnealingLR)
 *   cosine_warm_restarts T_0 T_mult=1 eta_min=0
 *   onecycle             max_lr total_steps | epochs+steps_per_epoch,
 *                        pct_start=0.3 anneal_strategy=cos|linear
 *                        div_factor=25 final_div_factor=1e4 three_phase=false
 *                        cycle_momentum=true base_momentum=0.85 max_momentum=0.95
 *   linear               start_factor=1/3 end_factor=1 total_iters=5
 *   constant             factor=1/3 total_iters=5
 *   polynomial           total_iters=5 power=1
 *   cyclic               base_lr max_lr step_size_up=2000 step_size_down
 *                        mode=triangular|triangular2|exp_range gamma=1
 *                        cycle_momentum=true base_momentum=0.8 max_momentum=0.9
 *   plateau              mode=min|max factor=0.1 patience=10 threshold=1e-4
 *                        threshold_mode=rel|abs cooldown=0 min_lr=0 eps=1e-8
 *   swa                  swa_lr anneal_epochs=10 anneal_strategy=cos|linear
 *                        (torch.optim.swa_utils.SWALR)
 *   lambda               (LambdaLR) and multiplicative (MultiplicativeLR):
 *                        the factor comes from a function, see
 *                        ct_sched_create_lambda
 * Every kind but plateau also takes torch's last_epoch=-1 (N >= 0 resumes
 * after epoch N: the create computes epoch N + 1 from the groups' current
 * lrs, as torch's constructor does) and initial_lr=a,b.. (each group's
 * initial_lr, which torch keeps in the param groups; resuming needs it for
 * every group no earlier schedule set it on).
 * docs/optimizers.md gives each formula's source.
 *
 * A schedule keeps a pointer to its optimizer: destroy it first.
 * Thread safety as the optimizer: one thread at a time per handle.
 */
#ifndef CTRAIN_SCHED_H
#define CTRAIN_SCHED_H

#include <stddef.h>
#include <stdint.h>

#include "optim.h"
#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ct_sched ct_sched;

/* Creates a schedule of the given kind on opt and applies its initial lr.
 * On failure *out is NULL, the optimizer is unchanged and ct_errmsg() says
 * why. */
ct_status ct_sched_create(ct_sched **out, ct_optim *opt, const char *kind, const char *options);

/* The caller's factor for LambdaLR and MultiplicativeLR (torch's lr_lambda,
 * called with last_epoch): writes the factor of group `group` at `epoch`
 * into *factor and returns CT_OK. Any other status makes the create or
 * step that called it fail with that status, and nothing changes; attach a
 * message with ct_sched_fail(s, ...) (s is the schedule being created or
 * stepped, the only call allowed on it from here). It is called on the
 * thread of the ct_sched call, once per group per update, and must not
 * call the optimizer. */
typedef ct_status (*ct_sched_lambda_fn)(void *ctx, ct_sched *s, size_t group, int64_t epoch,
                                        double *factor);

/* LambdaLR (kind "lambda": lr = initial_lr * factor(group, last_epoch)) and
 * MultiplicativeLR (kind "multiplicative": lr = lr * factor(group,
 * last_epoch) from the first step on). They chain, and sequence in
 * ct_sched_create_sequential, like the other kinds; options: last_epoch
 * and initial_lr, as every kind. ct_sched_create refuses these two kinds:
 * they need fn. */
ct_status ct_sched_create_lambda(ct_sched **out, ct_optim *opt, const char *kind,
                                 const char *options, ct_sched_lambda_fn fn, void *ctx);

/* Attaches a message to the failure a ct_sched_lambda_fn is about to
 * return; call it from inside the function. */
void ct_sched_fail(ct_sched *s, const char *message);

/* SequentialLR: runs children[0] until milestones[0], then children[1], ...
 * (n children, n - 1 increasing milestones). Takes ownership of the
 * children (also on failure). */
ct_status ct_sched_create_sequential(ct_sched **out, ct_optim *opt, ct_sched *const *children,
                                     size_t n, const int64_t *milestones);

/* Advances the schedule by one epoch (or batch). For "plateau" use
 * ct_sched_step_metric. */
ct_status ct_sched_step(ct_sched *s);

/* ReduceLROnPlateau: advances with the monitored metric (e.g. validation
 * loss). A NaN metric is refused. Other kinds refuse this call. */
ct_status ct_sched_step_metric(ct_sched *s, double metric);

/* The lr the schedule last set for a group (torch's get_last_lr()). */
ct_status ct_sched_last_lr(const ct_sched *s, size_t group, double *lr);

/* Steps taken so far (torch's last_epoch). */
ct_status ct_sched_last_epoch(const ct_sched *s, int64_t *epoch);

/* The schedule's mutable state as n doubles, for checkpoints: its counters
 * (last_epoch, ...), ReduceLROnPlateau's best and counts, each group's base
 * and last lr and the keys schedules keep in the optimizer's groups (as
 * torch's initial_lr), and, for a sequential schedule, its children's.
 * Options are not part of it: as with torch's schedulers, create the
 * schedule with the same options (after loading the optimizer's state),
 * then set the state. ct_sched_state_size gives n. A state saved by a
 * schedule of another kind, group count or structure is refused with
 * CT_EMISMATCH and nothing changes. */
ct_status ct_sched_state_size(const ct_sched *s, size_t *n);
ct_status ct_sched_get_state(const ct_sched *s, double *state, size_t n);
ct_status ct_sched_set_state(ct_sched *s, const double *state, size_t n);

const char *ct_sched_errmsg(const ct_sched *s);
void ct_sched_destroy(ct_sched *s);

#ifdef __cplusplus
}
#endif
#endif
