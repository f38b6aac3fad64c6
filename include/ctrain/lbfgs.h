/* ctrain — L-BFGS with torch.optim.LBFGS's exact semantics.
 *
 * One handle optimizes one flat vector x of n elements of CT_F32 or CT_F64,
 * which may be any slice of the caller's memory (Python passes the
 * concatenation of its parameters). A step calls the caller's closure
 * several times (up to max_eval): each call evaluates the objective and its
 * gradient at the vector's current value. Everything torch's LBFGS keeps in
 * its state is kept in the handle and can be read and written (func_evals,
 * n_iter, d, t, old_dirs, old_stps, ro, H_diag, prev_flat_grad, prev_loss,
 * al), so a run can move between ctrain and torch.optim.LBFGS mid-way.
 *
 * Options (text, "key=value" separated by spaces, as the rest of ctrain;
 * names and defaults of torch.optim.LBFGS):
 *   lr=1                   step length (>= 0)
 *   max_iter=20            iterations per step (integer >= 1)
 *   max_eval=max_iter*5/4  closure evaluations per step (integer >= 1; when
 *                          not given at create it is floor(max_iter*5/4))
 *   tolerance_grad=1e-7    stop when max|grad| <= tolerance_grad
 *   tolerance_change=1e-9  stop when the loss or the step changes less
 *   history_size=100       correction pairs kept (integer >= 1; fixed at
 *                          create: its buffers are allocated there)
 *   line_search_fn=none    none or strong_wolfe
 *   maximize=false         maximize the objective instead
 *
 * Numerics: every vector operation and every scalar that torch computes as
 * a tensor is computed in the vector's dtype (float32 problems in float32),
 * scalars torch keeps as Python floats (the losses, lr) in double, with
 * torch's order of operations and its fused multiply-adds. Dot products
 * follow the summation order of the MKL sdot/ddot kernels torch calls on
 * x86-64 (as measured for n <= 4097). Two roundings differ from torch:
 * torch's sqrt (MKL's vsSqrt/vdSqrt) is not correctly rounded, ctrain's
 * is (used once per line-search interpolation); and where a BLAS sums
 * differently. Iterates then agree with torch to rounding, not to the bit.
 *
 * A step never allocates; every buffer (about (2*history_size + 9) * n
 * elements) is allocated by ct_lbfgs_create. Thread safety: one thread at a
 * time per handle; distinct handles are independent.
 */
#ifndef CTRAIN_LBFGS_H
#define CTRAIN_LBFGS_H

#include <stddef.h>
#include <stdint.h>

#include "optim.h"
#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ct_lbfgs ct_lbfgs;

/* The closure: evaluates the objective at x (n elements of the handle's
 * dtype; the vector given to ct_lbfgs_step, which the engine has moved to
 * the point to evaluate) and writes the gradient into grad (an engine
 * buffer of n elements: every element must be written; write 0 where there
 * is no gradient) and the objective into *loss. It must not modify x. A
 * status other than CT_OK stops the step, which returns that status
 * unchanged; a message can be attached with ct_lbfgs_fail (otherwise the
 * calling thread's ctrain message, if the closure's own ctrain call set
 * one, or a generic message is kept). */
typedef ct_status (*ct_lbfgs_closure)(void *ctx, const void *x, void *grad, double *loss);

/* Creates an optimizer for n > 0 elements of dtype CT_F32 or CT_F64 with
 * options (may be NULL or ""). On failure *out is NULL and ct_errmsg()
 * says why. */
ct_status ct_lbfgs_create(ct_lbfgs **out, size_t n, int dtype, const char *options);

/* Frees the handle. NULL is a no-op. */
void ct_lbfgs_destroy(ct_lbfgs *h);

/* The message of the last failed call on this handle, "" if none. */
const char *ct_lbfgs_errmsg(const ct_lbfgs *h);

/* For a closure: records message as the handle's (and the thread's) last
 * error and returns status, so a closure ends with
 *   return ct_lbfgs_fail(h, CT_EIO, "batch 12 could not be read"); */
ct_status ct_lbfgs_fail(ct_lbfgs *h, ct_status status, const char *message);

/* Element count and dtype given at create. */
size_t ct_lbfgs_numel(const ct_lbfgs *h);
int ct_lbfgs_dtype(const ct_lbfgs *h);

/* Changes options between steps, all or nothing. history_size can only be
 * given its current value (CT_ESTATE otherwise); max_eval changes only when
 * given (not when max_iter changes), as torch's param_groups. */
ct_status ct_lbfgs_set_options(ct_lbfgs *h, const char *options);

/* Reads one option as a number (line_search_fn: 0 none, 1 strong_wolfe;
 * maximize: 0 or 1). */
ct_status ct_lbfgs_get_option(const ct_lbfgs *h, const char *key, double *value);

/* One torch.optim.LBFGS.step(closure): up to max_iter iterations and
 * max_eval closure calls, updating x in place. *loss (may be NULL) receives
 * the loss of the first evaluation, as returned by the closure (not negated
 * under maximize), which is what torch's step returns.
 *
 * When the closure fails, the step returns its status and:
 *  - a failure at the step's first evaluation leaves x and the state as
 *    they were before the step;
 *  - a failure at a later evaluation leaves x at the last iterate the
 *    engine moved to, with the state describing it as a step that ended
 *    there: without a line search that is x_k + t*d, the point being
 *    evaluated (the state is then torch's after a step that stopped at
 *    max_iter); in a strong_wolfe line search x is put back to the line
 *    search's start x_k and t is set to 0 (no move made), so the next step
 *    re-evaluates x_k and adds no correction pair. n_iter counts the
 *    interrupted iteration; func_evals counts successful evaluations.
 * Other failures (NULL arguments, CT_EINVAL when max_eval leaves a
 * strong_wolfe line search no evaluation, which torch fails on as well)
 * leave the same consistent state. */
ct_status ct_lbfgs_step(ct_lbfgs *h, void *x, ct_lbfgs_closure fn, void *ctx, double *loss);

/* Closure evaluations and iterations of the last step (0 before any). */
ct_status ct_lbfgs_last_step(const ct_lbfgs *h, int64_t *evals, int64_t *iters);

/* torch.optim.LBFGS's state (state[params[0]]), its scalars. */
typedef struct ct_lbfgs_state {
    int64_t func_evals;       /* "func_evals": successful closure calls */
    int64_t n_iter;           /* "n_iter": iterations since creation */
    int64_t num_old;          /* len(old_dirs) == len(old_stps) == len(ro) */
    int64_t al_len;           /* len(al) (history_size), -1: no "al" yet */
    int64_t num_al;           /* leading entries of al holding a value; the
                                 others are None */
    int32_t has_history;      /* 1: d, t, old_dirs, old_stps, ro, H_diag,
                                 prev_flat_grad, prev_loss are present;
                                 torch sets them when n_iter >= 1 */
    int32_t t_is_tensor;      /* t is a 0-dim tensor of the dtype (1) or a
                                 Python float (0) */
    int32_t h_diag_is_tensor; /* H_diag is a 0-dim tensor (1) or the int 1 */
    int32_t t_is_int;         /* t is a Python int (when not a tensor):
                                 the 0 a line search returns for its start */
    double t;                 /* "t" */
    double h_diag;            /* "H_diag" */
    double prev_loss;         /* "prev_loss" (a Python float) */
} ct_lbfgs_state;

ct_status ct_lbfgs_get_state(const ct_lbfgs *h, ct_lbfgs_state *st);

/* Replaces the state's scalars, checked for consistency (has_history ==
 * (n_iter >= 1), num_old <= history_size, al_len -1 or history_size,
 * num_al <= al_len, ...). Vector and history contents are then undefined:
 * write d, prev_flat_grad, each old_dirs/old_stps entry (through
 * ct_lbfgs_state_vector) and ro and al (ct_lbfgs_set_scalars) before the
 * next step. t, H_diag are rounded to the dtype when they are tensors. */
ct_status ct_lbfgs_set_state(ct_lbfgs *h, const ct_lbfgs_state *st);

/* The engine's buffer of one state vector, n elements of the dtype, to
 * read or write in place: name "d", "prev_flat_grad" (i = 0), "old_dirs"
 * or "old_stps" (i < num_old, oldest first). Valid until the next step or
 * set_state. */
ct_status ct_lbfgs_state_vector(ct_lbfgs *h, const char *name, size_t i, void **data);

/* "ro" (num_old values, oldest first) or "al" (num_al values): copies up to
 * cap values into values, the count into *count. */
ct_status ct_lbfgs_get_scalars(const ct_lbfgs *h, const char *name, double *values, size_t cap,
                               size_t *count);
/* Sets "ro" (count == num_old) or "al" (count == num_al), rounded to the
 * dtype. */
ct_status ct_lbfgs_set_scalars(ct_lbfgs *h, const char *name, const double *values,
                               size_t count);

#ifdef __cplusplus
}
#endif
#endif
