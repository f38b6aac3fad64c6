/* ctrain — bacterial foraging optimization (BFO) on a flat float64 vector.
 *
 * A derivative-free minimizer for non-smooth or non-differentiable
 * objectives (and, in the hybrid kind, smooth ones whose gradient is known).
 * The engine owns a population of "bacteria" (candidate vectors of dim
 * doubles) and calls back into the caller to evaluate them, a whole batch of
 * points per call, so a Python/NumPy objective is entered once per
 * population rather than once per bacterium. docs/bfo.md documents the
 * algorithm (with equations and citations), every option and the invariants.
 *
 * Kinds (the name given to ct_bfo_create):
 *   "bfo"       Passino (2002) chemotaxis/reproduction/elimination loop;
 *               variant=classic is the reference configuration, the default
 *               variant=enhanced adds per-bacterium step-size adaptation,
 *               greedy swims, elitism, Lévy tumbles and restarts.
 *   "adaptive"  bfo plus adaptation of the step-size scale and of the
 *               elimination probability from progress and population
 *               diversity, and a population resized between steps within
 *               [min_population_size, max_population_size].
 *   "hybrid"    bfo whose tumble directions mix a random direction with the
 *               negative momentum gradient (gradient_weight, momentum), the
 *               gradients coming from ct_bfo_set_gradient's callback (without
 *               one it behaves as "bfo").
 *
 * One step (ct_bfo_step) runs elimination_steps x reproduction_steps x
 * chemotaxis_steps generations, or fewer when the evaluation budget runs out
 * or early stopping triggers. The first step evaluates the initial
 * population: the caller's vector (bacterium 0) and population_size-1
 * points spread around it (uniformly inside the domain bounds when bounds
 * are set, else x + init_scale * U[-1,1]^dim).
 *
 * Options are text like the rest of ctrain ("population_size=30
 * step_size_max=0.5 seed=7"); unknown keys and out-of-range values are
 * refused with a message naming the key, the value and the allowed range:
 *   population_size      int  [2, 1e6]        50
 *   chemotaxis_steps     int  [1, 1e6]        10   (Nc)
 *   swim_length          int  [0, 1e4]        4    (Ns)
 *   reproduction_steps   int  [1, 1e6]        4    (Nre)
 *   elimination_steps    int  [1, 1e6]        2    (Ned)
 *   elimination_prob     real [0, 1]          0.25 (Ped)
 *   step_size_max        real (0, inf)        0.1  (C; the initial and
 *                                                    largest step)
 *   step_size_min        real (0, inf)        1e-4 (must be <= step_size_max)
 *                        Not given + domain bounds set: step_size_max =
 *                        0.03 and step_size_min = 1e-10 times the mean
 *                        width mean(hi - lo) (0.1 / 1e-4 when that is 0),
 *                        re-derived by every ct_bfo_set_bounds and
 *                        ct_bfo_set_options; ct_bfo_get_option returns the
 *                        value in effect. Given once, a value stays given
 *                        (also through a state save/load).
 *   step_schedule        constant|linear|exponential|adaptive   adaptive
 *                        (constant: C = step_size_max; linear/exponential:
 *                        decay from max to min over the budget max_fe, or
 *                        over one step's generations when max_fe=0;
 *                        adaptive: per-bacterium success rule in [min, max])
 *   variant              classic|enhanced     enhanced
 *   levy_alpha           real [1, 2]          1.5  (Lévy index of the tumble
 *                        length, Mantegna 1994; 2 turns Lévy tumbles off;
 *                        the classic variant never uses them)
 *   swarming             bool                 false (cell-to-cell Jcc)
 *   d_attract            real [0, inf)        0.1
 *   w_attract            real [0, inf)        0.2
 *   h_repellant          real [0, inf)        0.1
 *   w_repellant          real [0, inf)        10
 *   bound_handling       clamp|reflect        clamp
 *   init_scale           real (0, inf)        0.1
 *   max_fe               int  [0, 2^53]       0    (0: no budget)
 *   seed                 int  [0, 2^53]       0
 *   early_stop_window    int  [0, 1e9]        0    (generations; 0: off)
 *   early_stop_tol       real [0, inf)        1e-10
 *   restart              bool                 true (enhanced only: restart
 *                        the population around the elite on stagnation)
 *   social_prob          real [0, 1]          0.5  (enhanced only: share of
 *                        tumbles along a current-to-best difference vector
 *                        x_i + 0.5 (best - x_i) + 0.7 (x_r1 - x_r2); the
 *                        hybrid kind scales it by 1 - gradient_weight)
 *   adaptation_rate      real [0, 1]          0.1  (adaptive)
 *   diversity_threshold  real [0, inf)        1e-3 (adaptive)
 *   min_population_size  int  [2, 1e6]        10   (adaptive)
 *   max_population_size  int  [2, 1e6]        100  (adaptive)
 *   gradient_weight      real [0, 1]          0.5  (hybrid)
 *   momentum             real [0, 1)          0.9  (hybrid)
 * Early stopping: after every generation, if the best fitness improved by
 * less than early_stop_tol * max(1, |best|) over the last early_stop_window
 * generations, the step ends and the handle is marked stopped (later steps
 * return at once with CT_OK; ct_bfo_set_options or a state load clears it).
 *
 * Invariants (tested): best_fitness is exactly the value the callback
 * returned for exactly the bits of best_params; after a successful step the
 * caller's vector holds best_params; the number of evaluations never
 * exceeds max_fe (when max_fe > 0) and counts every row the callback was
 * given (a failing call: see ct_bfo_callback_fail_after); a seed gives bit-identical results for every thread count.
 *
 * Determinism: random numbers come from a counter-based generator
 * (Philox4x32-10, Salmon et al. 2011) keyed by the seed and indexed by
 * (generation counter, bacterium, draw); the generator's whole state is the
 * counter, saved with the rest of the state.
 *
 * Not part of the engine: per-step histories (the front ends record
 * best_fitness and diversity after each step from ct_bfo_stats_get), the
 * callbacks and the domain bounds (configuration, set again after a load).
 * Memory: about 4 (hybrid: 9) x population x dim doubles, the snapshot that
 * rolls back a failed step included.
 *
 * Thread safety: a handle may be used by one thread at a time. With
 * ct_bfo_set_fitness(..., thread_safe=1) and ct_bfo_set_threads(n > 1), one
 * batch is split into contiguous row ranges evaluated concurrently; results
 * do not depend on the split as long as the callback's value for a row
 * depends only on that row.
 */
#ifndef CTRAIN_BFO_H
#define CTRAIN_BFO_H

#include <stddef.h>
#include <stdint.h>

#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ct_bfo ct_bfo;

/* Evaluates n_points points, row-major in x (n_points x dim), writing one
 * fitness (to be minimized) per point. Return CT_OK, or any failure status:
 * the step is aborted, the status is returned by ct_bfo_step unchanged, and
 * the message is the one given to ct_bfo_callback_fail (or a generic one).
 * NaN fitness is allowed and ranks worse than every number. */
typedef ct_status (*ct_bfo_fitness_fn)(void *ctx, const double *x, size_t n_points,
                                       size_t dim, double *fitness);

/* Same, also writing the gradient of each point into grad (n_points x dim).
 * Used by the hybrid kind for every evaluation when set. */
typedef ct_status (*ct_bfo_grad_fn)(void *ctx, const double *x, size_t n_points, size_t dim,
                                    double *fitness, double *grad);

/* Progress and counters of a handle. */
typedef struct ct_bfo_stats {
    uint64_t n_evals;        /* rows evaluated so far, all steps (failed
                                steps included; a failing callback's rows
                                count unless ct_bfo_callback_fail_after
                                said fewer were reached) */
    uint64_t n_steps;        /* steps completed successfully */
    uint64_t n_generations;  /* chemotactic generations completed */
    uint64_t n_restarts;     /* stagnation restarts (enhanced variant) */
    uint64_t rng_counter;    /* the generator's counter */
    size_t population_size;  /* current number of bacteria */
    double best_fitness;     /* +inf before the first evaluation */
    double diversity;        /* mean Euclidean distance of the bacteria
                                from their centroid (0 before the first step) */
    double step_size;        /* mean current step size of the bacteria */
    double elimination_prob; /* in effect (the adaptive kind adapts it) */
    int stopped;             /* 1: budget exhausted or early stop */
    int initialized;         /* 1: the population exists */
} ct_bfo_stats;

/* Creates a handle for vectors of dim (>= 1) elements. kind is "bfo",
 * "adaptive" or "hybrid"; options may be NULL or "". On failure *out is NULL
 * and ct_errmsg() says why (e.g. "bfo: swim_length=-1 is invalid: must be
 * an integer in [0, 10000]"). */
ct_status ct_bfo_create(ct_bfo **out, const char *kind, size_t dim, const char *options);

/* Frees the handle. NULL is a no-op. */
void ct_bfo_destroy(ct_bfo *b);

/* The message of the last failed call on this handle, "" if none. */
const char *ct_bfo_errmsg(const ct_bfo *b);

/* "bfo", "adaptive" or "hybrid". */
const char *ct_bfo_kind(const ct_bfo *b);
size_t ct_bfo_dim(const ct_bfo *b);

/* Changes options; all or nothing. Takes effect at the next step (a
 * schedule may change step_size_max or elimination_prob between steps).
 * population_size changes take effect at the next step too (bacteria are
 * added by dispersal or the worst removed). Clears the stopped flag. */
ct_status ct_bfo_set_options(ct_bfo *b, const char *options);

/* Reads one option's value (enums and bools as their index / 0 or 1). */
ct_status ct_bfo_get_option(const ct_bfo *b, const char *key, double *value);

/* The objective. thread_safe != 0 lets the engine split a batch over its
 * threads (ct_bfo_set_threads); otherwise each batch is one call on the
 * thread that called ct_bfo_step. Must be set before the first step. */
ct_status ct_bfo_set_fitness(ct_bfo *b, ct_bfo_fitness_fn fn, void *ctx, int thread_safe);

/* The objective with its gradient (hybrid kind; replaces the fitness
 * callback for every evaluation). fn NULL removes it. */
ct_status ct_bfo_set_gradient(ct_bfo *b, ct_bfo_grad_fn fn, void *ctx, int thread_safe);

/* Sets the message a failing callback's status is reported with; call it
 * from inside the callback just before returning the failure status. The
 * first failing row range (in row order) wins, whatever the thread count. */
void ct_bfo_callback_fail(ct_bfo *b, const char *message);

/* The same, for a callback that evaluated only the first rows_done rows
 * of the points it was given before failing: only those count in n_evals
 * (ct_bfo_callback_fail counts them all). message may be NULL. */
void ct_bfo_callback_fail_after(ct_bfo *b, const char *message, size_t rows_done);

/* Threads used to evaluate a batch with a thread-safe callback (>= 1,
 * default 1). Results are bit-identical for every count. */
ct_status ct_bfo_set_threads(ct_bfo *b, int threads);

/* Per-coordinate domain bounds (lo[i] <= hi[i], finite); NULL lo and hi
 * remove them. Points outside are brought back by bound_handling: clamp
 * (to the nearest bound) or reflect (mirror at the bound, repeated, then
 * clamped). Elimination disperses uniformly inside the bounds. Step sizes
 * not given follow the new bounds (see step_size_max); CT_EINVAL, nothing
 * changed, if that makes step_size_min > step_size_max. */
ct_status ct_bfo_set_bounds(ct_bfo *b, const double *lo, const double *hi);

/* Runs one step. x (dim doubles): on the first step (or after
 * ct_bfo_reinit) the starting point, bacterium 0; afterwards only written.
 * max_fe_step > 0 limits this step's evaluations (besides max_fe). On
 * success x holds best_params and *best (may be NULL) best_fitness.
 * On failure (callback status, invalid state) the whole state except
 * n_evals is rolled back to what it was before the step and x holds
 * best_params of that state (or is unchanged before the first step). */
ct_status ct_bfo_step(ct_bfo *b, double *x, uint64_t max_fe_step, double *best);

/* Discards the population, so the next step starts again from its x.
 * Counters (n_evals, rng) and the best point found so far are kept. */
ct_status ct_bfo_reinit(ct_bfo *b);

/* The best point (dim doubles; x may be NULL) and its fitness. */
ct_status ct_bfo_best(const ct_bfo *b, double *x, double *fitness);

/* The gradient at the best point (dim doubles), as the gradient callback
 * returned it with best_fitness: hybrid kind with ct_bfo_set_gradient.
 * *known (may be NULL) is 1 when it is, else 0 and g is zeros (other kinds,
 * no gradient callback when the best point was evaluated, before the first
 * evaluation, or a state saved by a version without it). */
ct_status ct_bfo_best_grad(const ct_bfo *b, double *g, int *known);

ct_status ct_bfo_stats_get(const ct_bfo *b, ct_bfo_stats *out);

/* Read-only views of the population: *x (n x dim, row-major), *fitness (n
 * values, the objective at each row), *step (n step sizes), *n the current
 * population size. Valid until the next call that changes the handle. Any
 * output pointer may be NULL. */
ct_status ct_bfo_population(const ct_bfo *b, const double **x, const double **fitness,
                            const double **step, size_t *n);

/* Mean Euclidean distance of the bacteria from their centroid. */
ct_status ct_bfo_diversity(const ct_bfo *b, double *out);

/* The whole state as bytes (options, population, fitness, health, step
 * sizes, momentum, best point and the gradient there, counters, RNG
 * counter): ct_bfo_state_size
 * gives the byte count, ct_bfo_state_save writes it (cap >= that size),
 * ct_bfo_state_load restores it into a handle of the same kind and dim
 * (CT_EFORMAT for corrupt data, CT_EMISMATCH for another kind or dim). The
 * format is little-endian, versioned, and independent of the thread count.
 * Continuing after a load gives the bits the saved handle would have. */
ct_status ct_bfo_state_size(const ct_bfo *b, size_t *bytes);
ct_status ct_bfo_state_save(const ct_bfo *b, void *buf, size_t cap);
ct_status ct_bfo_state_load(ct_bfo *b, const void *buf, size_t len);

#ifdef __cplusplus
}
#endif
#endif
