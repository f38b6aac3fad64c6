/* The schedule kinds: option tables, checks and get_lr() forms.
 *
 * Source of every formula: torch/optim/lr_scheduler.py (PyTorch 2.x), the
 * class named beside each kind; the arithmetic is written in the same order
 * as there, in double as Python computes it, so the lrs match torch's to
 * the last bit or nearly:
 *   step                 StepLR.get_lr / _get_closed_form_lr
 *   multistep            MultiStepLR
 *   exponential          ExponentialLR
 *   cosine               CosineAnnealingLR (SGDR, Loshchilov & Hutter 2017,
 *                        eq. 5, in torch's recursive form)
 *   cosine_warm_restarts CosineAnnealingWarmRestarts (SGDR eq. 5, T_cur/T_i)
 *   onecycle             OneCycleLR (Smith & Topin 2018, "Super-Convergence")
 *   linear               LinearLR
 *   constant             ConstantLR
 *   polynomial           PolynomialLR
 *   cyclic               CyclicLR (Smith 2017, "Cyclical Learning Rates")
 *   plateau              ReduceLROnPlateau (its step is in sched.c)
 *   lambda               LambdaLR (the factor is the caller's function)
 *   multiplicative       MultiplicativeLR
 *   swa                  torch.optim.swa_utils.SWALR (Izmailov et al. 2018)
 * Where torch would raise ZeroDivisionError (or a ValueError in get_lr),
 * the update is refused with a message and nothing changes.             */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "sched_impl.h"

#define L CT_SCHED_LIST
#define BIG CT_SCHED_INT_MAX
#define CT_PI 3.141592653589793 /* Python's math.pi */

/* ---- option tables ---------------------------------------------------- */

/* Every kind but plateau: torch's last_epoch argument (>= 0 resumes after
 * that epoch) and each group's initial_lr, which torch keeps in the param
 * groups (needed to resume where no schedule set it). */
#define COMMON_OPTS                                                                             \
    {"initial_lr", CT_OPT_REAL, L, CT_SCHED_SLOT_INITIAL_LR, {0, 0}, 0, INFINITY, CT_OPT_LIST, \
     0},                                                                                        \
        {"last_epoch", CT_OPT_INT, 1, CT_SCHED_SLOT_LAST_EPOCH, {-1}, -1, BIG, 0, 0}

enum { ST_STEP_SIZE, ST_GAMMA };
static const ct_opt_desc step_opts[] = {
    {"step_size", CT_OPT_INT, 1, ST_STEP_SIZE, {0}, 1, BIG, 0, 0},
    {"gamma", CT_OPT_REAL, 1, ST_GAMMA, {0.1}, 0, INFINITY, 0, 0},
    COMMON_OPTS,
};

enum { MS_MILESTONES = 0, MS_GAMMA = L };
static const ct_opt_desc multistep_opts[] = {
    {"milestones", CT_OPT_INT, L, MS_MILESTONES, {0, 0}, 0, BIG, CT_OPT_LIST, 0},
    {"gamma", CT_OPT_REAL, 1, MS_GAMMA, {0.1}, 0, INFINITY, 0, 0},
    COMMON_OPTS,
};

enum { EX_GAMMA };
static const ct_opt_desc exponential_opts[] = {
    {"gamma", CT_OPT_REAL, 1, EX_GAMMA, {0}, 0, INFINITY, 0, 0},
    COMMON_OPTS,
};

enum { CO_T_MAX, CO_ETA_MIN };
static const ct_opt_desc cosine_opts[] = {
    {"T_max", CT_OPT_INT, 1, CO_T_MAX, {0}, 1, BIG, 0, 0},
    {"eta_min", CT_OPT_REAL, 1, CO_ETA_MIN, {0}, 0, INFINITY, 0, 0},
    COMMON_OPTS,
};

enum { WR_T_0, WR_T_MULT, WR_ETA_MIN };
static const ct_opt_desc cosine_wr_opts[] = {
    {"T_0", CT_OPT_INT, 1, WR_T_0, {0}, 1, 2147483647.0, 0, 0},
    {"T_mult", CT_OPT_INT, 1, WR_T_MULT, {1}, 1, 2147483647.0, 0, 0},
    {"eta_min", CT_OPT_REAL, 1, WR_ETA_MIN, {0}, 0, INFINITY, 0, 0},
    COMMON_OPTS,
};

static const char *const anneal_names[] = {"cos", "linear", NULL};
enum {
    OC_MAX_LR = 0, OC_BASE_MOM = L, OC_MAX_MOM = 2 * L, OC_TOTAL = 3 * L, OC_EPOCHS, OC_SPE,
    OC_PCT, OC_ANNEAL, OC_DIV, OC_FDIV, OC_THREE, OC_CYCLE
};
static const ct_opt_desc onecycle_opts[] = {
    {"max_lr", CT_OPT_REAL, L, OC_MAX_LR, {0, 0}, 0, INFINITY, CT_OPT_LIST, 0},
    {"total_steps", CT_OPT_INT, 1, OC_TOTAL, {0}, 1, BIG, 0, 0},
    {"epochs", CT_OPT_INT, 1, OC_EPOCHS, {0}, 1, BIG, 0, 0},
    {"steps_per_epoch", CT_OPT_INT, 1, OC_SPE, {0}, 1, BIG, 0, 0},
    {"pct_start", CT_OPT_REAL, 1, OC_PCT, {0.3}, 0, 1, 0, 0},
    {"anneal_strategy", CT_OPT_ENUM, 1, OC_ANNEAL, {0}, 0, 0, 0, anneal_names},
    {"div_factor", CT_OPT_REAL, 1, OC_DIV, {25}, 0, INFINITY, CT_OPT_LO_OPEN, 0},
    {"final_div_factor", CT_OPT_REAL, 1, OC_FDIV, {1e4}, 0, INFINITY, CT_OPT_LO_OPEN, 0},
    {"three_phase", CT_OPT_BOOL, 1, OC_THREE, {0}, 0, 1, 0, 0},
    {"cycle_momentum", CT_OPT_BOOL, 1, OC_CYCLE, {1}, 0, 1, 0, 0},
    {"base_momentum", CT_OPT_REAL, L, OC_BASE_MOM, {0.85, 0.85}, 0, INFINITY, CT_OPT_LIST, 0},
    {"max_momentum", CT_OPT_REAL, L, OC_MAX_MOM, {0.95, 0.95}, 0, INFINITY, CT_OPT_LIST, 0},
    COMMON_OPTS,
};

enum { LI_START, LI_END, LI_TOTAL };
static const ct_opt_desc linear_opts[] = {
    {"start_factor", CT_OPT_REAL, 1, LI_START, {1.0 / 3}, 0, 1, CT_OPT_LO_OPEN, 0},
    {"end_factor", CT_OPT_REAL, 1, LI_END, {1.0}, 0, 1, 0, 0},
    {"total_iters", CT_OPT_INT, 1, LI_TOTAL, {5}, 0, BIG, 0, 0},
    COMMON_OPTS,
};

enum { CN_FACTOR, CN_TOTAL };
static const ct_opt_desc constant_opts[] = {
    {"factor", CT_OPT_REAL, 1, CN_FACTOR, {1.0 / 3}, 0, 1, 0, 0},
    {"total_iters", CT_OPT_INT, 1, CN_TOTAL, {5}, 0, BIG, 0, 0},
    COMMON_OPTS,
};

enum { PO_TOTAL, PO_POWER };
static const ct_opt_desc polynomial_opts[] = {
    {"total_iters", CT_OPT_INT, 1, PO_TOTAL, {5}, 0, BIG, 0, 0},
    {"power", CT_OPT_REAL, 1, PO_POWER, {1.0}, 0, INFINITY, 0, 0},
    COMMON_OPTS,
};

static const char *const cyclic_modes[] = {"triangular", "triangular2", "exp_range", NULL};
enum {
    CY_BASE_LR = 0, CY_MAX_LR = L, CY_BASE_MOM = 2 * L, CY_MAX_MOM = 3 * L, CY_UP = 4 * L,
    CY_DOWN, CY_MODE, CY_GAMMA, CY_CYCLE
};
static const ct_opt_desc cyclic_opts[] = {
    {"base_lr", CT_OPT_REAL, L, CY_BASE_LR, {0, 0}, 0, INFINITY, CT_OPT_LIST, 0},
    {"max_lr", CT_OPT_REAL, L, CY_MAX_LR, {0, 0}, 0, INFINITY, CT_OPT_LIST, 0},
    {"step_size_up", CT_OPT_INT, 1, CY_UP, {2000}, 1, BIG, 0, 0},
    {"step_size_down", CT_OPT_INT, 1, CY_DOWN, {0}, 0, BIG, 0, 0},
    {"mode", CT_OPT_ENUM, 1, CY_MODE, {0}, 0, 0, 0, cyclic_modes},
    {"gamma", CT_OPT_REAL, 1, CY_GAMMA, {1.0}, 0, INFINITY, 0, 0},
    {"cycle_momentum", CT_OPT_BOOL, 1, CY_CYCLE, {1}, 0, 1, 0, 0},
    {"base_momentum", CT_OPT_REAL, L, CY_BASE_MOM, {0.8, 0.8}, 0, INFINITY, CT_OPT_LIST, 0},
    {"max_momentum", CT_OPT_REAL, L, CY_MAX_MOM, {0.9, 0.9}, 0, INFINITY, CT_OPT_LIST, 0},
    COMMON_OPTS,
};

static const char *const plateau_modes[] = {"min", "max", NULL};
static const char *const threshold_modes[] = {"rel", "abs", NULL};
enum { PL_MIN_LR = 0, PL_MODE = L, PL_FACTOR, PL_PATIENCE, PL_THRESHOLD, PL_TMODE, PL_COOLDOWN, PL_EPS };
static const ct_opt_desc plateau_opts[] = {
    {"mode", CT_OPT_ENUM, 1, PL_MODE, {0}, 0, 0, 0, plateau_modes},
    {"factor", CT_OPT_REAL, 1, PL_FACTOR, {0.1}, 0, 1, CT_OPT_HI_OPEN, 0},
    {"patience", CT_OPT_INT, 1, PL_PATIENCE, {10}, 0, BIG, 0, 0},
    {"threshold", CT_OPT_REAL, 1, PL_THRESHOLD, {1e-4}, 0, INFINITY, 0, 0},
    {"threshold_mode", CT_OPT_ENUM, 1, PL_TMODE, {0}, 0, 0, 0, threshold_modes},
    {"cooldown", CT_OPT_INT, 1, PL_COOLDOWN, {0}, 0, BIG, 0, 0},
    {"min_lr", CT_OPT_REAL, L, PL_MIN_LR, {0, 0}, 0, INFINITY, CT_OPT_LIST, 0},
    {"eps", CT_OPT_REAL, 1, PL_EPS, {1e-8}, 0, INFINITY, 0, 0},
};

/* lambda, multiplicative: the common options only */
static const ct_opt_desc lambda_opts[] = {COMMON_OPTS};

/* swa */
static const char *const swa_anneal_names[] = {"cos", "linear", NULL};
enum { SW_SWA_LR = 0, SW_ANNEAL = L, SW_STRATEGY };
static const ct_opt_desc swa_opts[] = {
    {"swa_lr", CT_OPT_REAL, L, SW_SWA_LR, {0, 0}, 0, INFINITY, CT_OPT_LIST, 0},
    {"anneal_epochs", CT_OPT_INT, 1, SW_ANNEAL, {10}, 0, BIG, 0, 0},
    {"anneal_strategy", CT_OPT_ENUM, 1, SW_STRATEGY, {0}, 0, 1, 0, swa_anneal_names},
    COMMON_OPTS,
};

#define KIND(n, id, t, closed) {n, id, t, sizeof t / sizeof *t, closed}
static const sched_kind kinds[] = {
    KIND("step", K_STEP, step_opts, 1),
    KIND("multistep", K_MULTISTEP, multistep_opts, 1),
    KIND("exponential", K_EXPONENTIAL, exponential_opts, 1),
    KIND("cosine", K_COSINE, cosine_opts, 1),
    KIND("cosine_warm_restarts", K_COSINE_WR, cosine_wr_opts, 0),
    KIND("onecycle", K_ONECYCLE, onecycle_opts, 0),
    KIND("linear", K_LINEAR, linear_opts, 1),
    KIND("constant", K_CONSTANT, constant_opts, 1),
    KIND("polynomial", K_POLYNOMIAL, polynomial_opts, 1),
    KIND("cyclic", K_CYCLIC, cyclic_opts, 0),
    KIND("plateau", K_PLATEAU, plateau_opts, 0),
    KIND("lambda", K_LAMBDA, lambda_opts, 0),
    KIND("multiplicative", K_MULTIPLICATIVE, lambda_opts, 0),
    KIND("swa", K_SWA, swa_opts, 0),
};

const sched_kind *ct_sched_find_kind(const char *name)
{
    for (size_t i = 0; i < sizeof kinds / sizeof *kinds; i++)
        if (!strcmp(kinds[i].name, name))
            return &kinds[i];
    return NULL;
}

const char *ct_sched_kind_name(size_t i)
{
    return i < sizeof kinds / sizeof *kinds ? kinds[i].name : NULL;
}

/* ---- setup ------------------------------------------------------------- */

int ct_sched_given(const ct_sched *s, const char *key)
{
    const ct_opt_desc *d = ct_opts_find(s->kind->opts, s->kind->n_opts, key);
    return s->given[d - s->kind->opts];
}

static ct_status require(ct_sched *s, const char *key, const char *what)
{
    if (ct_sched_given(s, key))
        return CT_OK;
    return ct_fail(&s->err, CT_EINVAL, "%s: option '%s' (%s) is required", s->kind->name, key,
                   what);
}

/* A per-group option: one value for every group, or one per group. */
static ct_status per_group(ct_sched *s, const char *key, double *dst)
{
    const ct_opt_desc *d = ct_opts_find(s->kind->opts, s->kind->n_opts, key);
    int n = s->given[d - s->kind->opts];
    if (n > 1 && (size_t)n != s->ng)
        return ct_fail(&s->err, CT_EINVAL,
                       "%s: %s has %d values but the optimizer has %zu parameter group%s: give "
                       "one value, or one per group",
                       s->kind->name, key, n, s->ng, s->ng == 1 ? "" : "s");
    for (size_t g = 0; g < s->ng; g++)
        dst[g] = s->v[d->slot + (n > 1 ? (int)g : 0)];
    return CT_OK;
}

/* cycle_momentum needs an optimizer with "betas" (beta1 is cycled) or
 * "momentum", as torch checks optimizer.defaults. */
static ct_status momentum_kind(ct_sched *s)
{
    const ct_optim_kind *k = s->opt->kind;
    if (ct_opts_find(k->opts, k->n_opts, "betas"))
        s->use_beta1 = 1;
    else if (!ct_opts_find(k->opts, k->n_opts, "momentum"))
        return ct_fail(&s->err, CT_EINVAL,
                       "%s: cycle_momentum=true needs an optimizer with a 'momentum' or 'betas' "
                       "option, and %s has neither (give cycle_momentum=false)",
                       s->kind->name, k->name);
    return CT_OK;
}

ct_status ct_sched_setup(ct_sched *s)
{
    const double *v = s->v;
    ct_status st = CT_OK;
    if (s->kind->id != K_PLATEAU && ct_sched_given(s, "initial_lr") &&
        (st = per_group(s, "initial_lr", s->initial_lrs)))
        return st;
    switch (s->kind->id) {
    case K_STEP: return require(s, "step_size", "epochs between decays");
    case K_EXPONENTIAL: return require(s, "gamma", "the decay per epoch");
    case K_COSINE: return require(s, "T_max", "the half period in epochs");
    case K_COSINE_WR: return require(s, "T_0", "the first period in epochs");
    case K_MULTISTEP:
        if ((st = require(s, "milestones", "the epochs where the lr is multiplied by gamma")))
            return st;
        s->n_ms = (size_t)ct_sched_given(s, "milestones");
        for (size_t i = 0; i < s->n_ms; i++)
            s->ms[i] = (int64_t)v[MS_MILESTONES + (int)i];
        return CT_OK;
    case K_LINEAR: case K_CONSTANT: case K_POLYNOMIAL: return CT_OK;
    case K_PLATEAU: return per_group(s, "min_lr", s->min_lrs);
    case K_SWA:
        if ((st = require(s, "swa_lr", "the lr to anneal to, one or one per group")))
            return st;
        return per_group(s, "swa_lr", s->max_lrs);
    case K_LAMBDA: case K_MULTIPLICATIVE: return CT_OK; /* create checked the function */
    case K_ONECYCLE: {
        if ((st = require(s, "max_lr", "the peak lr, one or one per group")))
            return st;
        if (ct_sched_given(s, "total_steps")) {
            s->total_steps = (int64_t)v[OC_TOTAL];
        } else if (ct_sched_given(s, "epochs") && ct_sched_given(s, "steps_per_epoch")) {
            if (v[OC_EPOCHS] * v[OC_SPE] > BIG)
                return ct_fail(&s->err, CT_EINVAL,
                               "onecycle: epochs=%.17g times steps_per_epoch=%.17g is too large "
                               "(at most 2^53 steps)", v[OC_EPOCHS], v[OC_SPE]);
            s->total_steps = (int64_t)v[OC_EPOCHS] * (int64_t)v[OC_SPE];
        } else {
            return ct_fail(&s->err, CT_EINVAL,
                           "onecycle: give total_steps, or epochs and steps_per_epoch");
        }
        double T = (double)s->total_steps, pct = v[OC_PCT];
        s->phase_end[0] = pct * T - 1;
        if (v[OC_THREE] != 0) {
            s->n_phases = 3;
            s->phase_end[1] = 2 * pct * T - 2;
            s->phase_end[2] = T - 1;
        } else {
            s->n_phases = 2;
            s->phase_end[1] = T - 1;
        }
        if ((st = per_group(s, "max_lr", s->max_lrs)))
            return st;
        s->cycle_momentum = v[OC_CYCLE] != 0;
        if (s->cycle_momentum) {
            if ((st = momentum_kind(s)) || (st = per_group(s, "max_momentum", s->max_moms)) ||
                (st = per_group(s, "base_momentum", s->base_moms)))
                return st;
        }
        return CT_OK;
    }
    case K_CYCLIC: {
        if ((st = require(s, "base_lr", "the lowest lr, one or one per group")) ||
            (st = require(s, "max_lr", "the highest lr, one or one per group")) ||
            (st = per_group(s, "base_lr", s->opt_base_lrs)) ||
            (st = per_group(s, "max_lr", s->max_lrs)))
            return st;
        double up = v[CY_UP], down = ct_sched_given(s, "step_size_down") ? v[CY_DOWN] : up;
        s->total_size = up + down;
        s->step_ratio = up / s->total_size;
        s->cycle_momentum = v[CY_CYCLE] != 0;
        if (s->cycle_momentum) {
            if ((st = momentum_kind(s)) || (st = per_group(s, "base_momentum", s->base_moms)) ||
                (st = per_group(s, "max_momentum", s->max_moms)))
                return st;
        }
        return CT_OK;
    }
    }
    return ct_fail(&s->err, CT_EINVAL, "unknown schedule kind");
}

/* ---- get_lr ------------------------------------------------------------ */

/* Python's a % b for b > 0 (the result takes the sign of b). */
static int64_t pymod(int64_t a, int64_t b)
{
    int64_t r = a % b;
    return r < 0 ? r + b : r;
}

static ct_status div_zero(ct_sched *s, const char *what)
{
    return ct_fail(&s->err, CT_ESTATE,
                   "%s: %s divides by zero at epoch %lld (torch raises ZeroDivisionError here)",
                   s->kind->name, what, (long long)s->pos.last_epoch + 1);
}

/* OneCycleLR._annealing_cos / _annealing_linear. */
static double anneal(int linear, double start, double end, double pct)
{
    if (linear)
        return (end - start) * pct + start;
    double cos_out = cos(CT_PI * pct) + 1;
    return end + (start - end) / 2.0 * cos_out;
}

static ct_status onecycle(ct_sched *s, const sched_pos *p, double *lr, double *mom, int *set_mom)
{
    static const int keys[2][3][4] = {
        /* start_lr, end_lr, start_momentum, end_momentum per phase */
        {{SK_INITIAL_LR, SK_MAX_LR, SK_MAX_MOMENTUM, SK_BASE_MOMENTUM},
         {SK_MAX_LR, SK_MIN_LR, SK_BASE_MOMENTUM, SK_MAX_MOMENTUM}},
        {{SK_INITIAL_LR, SK_MAX_LR, SK_MAX_MOMENTUM, SK_BASE_MOMENTUM},
         {SK_MAX_LR, SK_INITIAL_LR, SK_BASE_MOMENTUM, SK_MAX_MOMENTUM},
         {SK_INITIAL_LR, SK_MIN_LR, SK_MAX_MOMENTUM, SK_MAX_MOMENTUM}},
    };
    int64_t step = p->last_epoch;
    if (step > s->total_steps)
        return ct_fail(&s->err, CT_ESTATE,
                       "onecycle: tried to step %lld times; the specified number of total steps "
                       "is %lld",
                       (long long)step, (long long)s->total_steps);
    const int (*k)[4] = keys[s->n_phases == 3];
    int linear = s->v[OC_ANNEAL] != 0;
    double start = 0.0;
    int i = 0;
    for (; i < s->n_phases; i++) {
        if ((double)step <= s->phase_end[i] || i == s->n_phases - 1)
            break;
        start = s->phase_end[i];
    }
    double den = s->phase_end[i] - start;
    if (den == 0)
        return ct_fail(&s->err, CT_ESTATE,
                       "onecycle: phase %d is empty with pct_start=%.17g and total_steps=%lld "
                       "(torch divides by zero at step %lld)",
                       i + 1, s->v[OC_PCT], (long long)s->total_steps, (long long)step);
    double pct = ((double)step - start) / den;
    for (size_t g = 0; g < s->ng; g++) {
        lr[g] = anneal(linear, ct_sched_key(s, g, k[i][0]), ct_sched_key(s, g, k[i][1]), pct);
        if (s->cycle_momentum)
            mom[g] = anneal(linear, ct_sched_key(s, g, k[i][2]), ct_sched_key(s, g, k[i][3]), pct);
    }
    *set_mom = s->cycle_momentum;
    return CT_OK;
}

static ct_status cyclic(ct_sched *s, const sched_pos *p, double *lr, double *mom, int *set_mom)
{
    int64_t le = p->last_epoch;
    double cycle = floor(1 + (double)le / s->total_size);
    double x = 1.0 + (double)le / s->total_size - cycle;
    double scale_factor = x <= s->step_ratio ? x / s->step_ratio
                                              : (x - 1) / (s->step_ratio - 1);
    int mode = (int)s->v[CY_MODE];
    double scale; /* scale_fn(cycle) or scale_fn(last_epoch) */
    if (mode == 0)
        scale = 1.0;
    else if (mode == 1)
        scale = 1 / pow(2.0, cycle - 1);
    else
        scale = pow(s->v[CY_GAMMA], (double)le);
    for (size_t g = 0; g < s->ng; g++) {
        double h = (s->max_lrs[g] - s->base_lrs[g]) * scale_factor;
        lr[g] = s->base_lrs[g] + h * scale;
        if (s->cycle_momentum) {
            double hm = (s->max_moms[g] - s->base_moms[g]) * scale_factor;
            mom[g] = s->max_moms[g] - hm * scale;
        }
    }
    *set_mom = s->cycle_momentum;
    return CT_OK;
}

/* The caller's factor of every group at epoch le, into f. */
static ct_status lambda_factors(ct_sched *s, int64_t le, double *f)
{
    for (size_t g = 0; g < s->ng; g++) {
        s->lambda_has_msg = 0;
        f[g] = NAN;
        ct_status st = s->lambda(s->lambda_ctx, s, g, le, &f[g]);
        if (st)
            return ct_fail(&s->err, st, "%s: the factor function failed for group %zu at epoch "
                           "%lld: %s", s->kind->name, g, (long long)le,
                           s->lambda_has_msg ? s->lambda_err.msg : ct_status_str(st));
    }
    return CT_OK;
}

/* _get_closed_form_lr of the kinds that have one (at p->last_epoch). */
static ct_status closed_form(ct_sched *s, const sched_pos *p, double *lr)
{
    const double *v = s->v;
    int64_t le = p->last_epoch;
    for (size_t g = 0; g < s->ng; g++) {
        double b = s->base_lrs[g];
        switch (s->kind->id) {
        case K_STEP:
            lr[g] = b * pow(v[ST_GAMMA], (double)(le / (int64_t)v[ST_STEP_SIZE]));
            break;
        case K_MULTISTEP: {
            int64_t n = 0; /* bisect_right(sorted(milestones), last_epoch) */
            for (size_t i = 0; i < s->n_ms; i++)
                n += s->ms[i] <= le;
            lr[g] = b * pow(v[MS_GAMMA], (double)n);
            break;
        }
        case K_EXPONENTIAL: lr[g] = b * pow(v[EX_GAMMA], (double)le); break;
        case K_COSINE:
            lr[g] = v[CO_ETA_MIN] + (b - v[CO_ETA_MIN]) *
                                        (1 + cos(CT_PI * (double)le / v[CO_T_MAX])) / 2;
            break;
        case K_LINEAR: {
            int64_t T = (int64_t)v[LI_TOTAL];
            if (T == 0)
                return div_zero(s, "the closed form with total_iters=0");
            lr[g] = b * (v[LI_START] + (v[LI_END] - v[LI_START]) * (double)(le < T ? le : T) /
                                           (double)T);
            break;
        }
        case K_CONSTANT:
            lr[g] = b * (v[CN_FACTOR] + (le >= (int64_t)v[CN_TOTAL] ? 1 - v[CN_FACTOR] : 0.0));
            break;
        case K_POLYNOMIAL: {
            int64_t T = (int64_t)v[PO_TOTAL];
            if (T == 0)
                return div_zero(s, "the closed form with total_iters=0");
            lr[g] = b * pow(1.0 - (double)(le < T ? le : T) / (double)T, v[PO_POWER]);
            break;
        }
        }
    }
    return CT_OK;
}

ct_status ct_sched_get_lr(ct_sched *s, const sched_pos *p, double *lr, double *mom, int *set_mom)
{
    const double *v = s->v;
    int64_t le = p->last_epoch;
    ct_status st;
    *set_mom = 0;
    switch (s->kind->id) {
    case K_ONECYCLE: return onecycle(s, p, lr, mom, set_mom);
    case K_CYCLIC: return cyclic(s, p, lr, mom, set_mom);
    case K_COSINE_WR:
        for (size_t g = 0; g < s->ng; g++)
            lr[g] = v[WR_ETA_MIN] + (s->base_lrs[g] - v[WR_ETA_MIN]) *
                                        (1 + cos(CT_PI * (double)p->T_cur / (double)p->T_i)) / 2;
        return CT_OK;
    case K_LAMBDA:
        if ((st = lambda_factors(s, le, lr)))
            return st;
        for (size_t g = 0; g < s->ng; g++)
            lr[g] = s->base_lrs[g] * lr[g];
        return CT_OK;
    default: break;
    }
    if (p->closed)
        return closed_form(s, p, lr);
    /* The recursive forms start from the groups' current lrs. */
    for (size_t g = 0; g < s->ng; g++)
        if ((st = ct_sched_group_lr(s, g, &lr[g])))
            return st;
    switch (s->kind->id) {
    case K_STEP:
        if (le == 0 || le % (int64_t)v[ST_STEP_SIZE] != 0)
            return CT_OK;
        for (size_t g = 0; g < s->ng; g++)
            lr[g] = lr[g] * v[ST_GAMMA];
        return CT_OK;
    case K_MULTISTEP: {
        int64_t n = 0; /* Counter(milestones)[last_epoch] */
        for (size_t i = 0; i < s->n_ms; i++)
            n += s->ms[i] == le;
        if (n == 0)
            return CT_OK;
        double f = pow(v[MS_GAMMA], (double)n);
        for (size_t g = 0; g < s->ng; g++)
            lr[g] = lr[g] * f;
        return CT_OK;
    }
    case K_EXPONENTIAL:
        if (p->is_initial)
            return CT_OK;
        for (size_t g = 0; g < s->ng; g++)
            lr[g] = lr[g] * v[EX_GAMMA];
        return CT_OK;
    case K_COSINE: {
        double eta = v[CO_ETA_MIN], T = v[CO_T_MAX];
        int64_t Ti = (int64_t)T;
        if (p->is_initial)
            return CT_OK;
        if (p->step_count == 1 && le > 0) {
            for (size_t g = 0; g < s->ng; g++)
                lr[g] = eta + (s->base_lrs[g] - eta) * (1 + cos((double)le * CT_PI / T)) / 2;
        } else if (pymod(le - 1 - Ti, 2 * Ti) == 0) {
            for (size_t g = 0; g < s->ng; g++)
                lr[g] = lr[g] + (s->base_lrs[g] - eta) * (1 - cos(CT_PI / T)) / 2;
        } else {
            double den = 1 + cos(CT_PI * (double)(le - 1) / T);
            if (den == 0)
                return div_zero(s, "the recursive cosine form");
            double f = (1 + cos(CT_PI * (double)le / T)) / den;
            for (size_t g = 0; g < s->ng; g++)
                lr[g] = f * (lr[g] - eta) + eta;
        }
        return CT_OK;
    }
    case K_LINEAR: {
        double a = v[LI_START], b = v[LI_END];
        int64_t T = (int64_t)v[LI_TOTAL];
        if (le == 0) {
            for (size_t g = 0; g < s->ng; g++)
                lr[g] = lr[g] * a;
            return CT_OK;
        }
        if (p->is_initial || le > T)
            return CT_OK;
        double den = (double)T * a + (double)(le - 1) * (b - a);
        if (den == 0)
            return div_zero(s, "the recursive linear form");
        double f = 1.0 + (b - a) / den;
        for (size_t g = 0; g < s->ng; g++)
            lr[g] = lr[g] * f;
        return CT_OK;
    }
    case K_CONSTANT: {
        double f = v[CN_FACTOR];
        if (le == 0) {
            for (size_t g = 0; g < s->ng; g++)
                lr[g] = lr[g] * f;
            return CT_OK;
        }
        if (le != (int64_t)v[CN_TOTAL])
            return CT_OK;
        if (f == 0)
            return div_zero(s, "1 / factor with factor=0");
        for (size_t g = 0; g < s->ng; g++)
            lr[g] = lr[g] * (1.0 / f);
        return CT_OK;
    }
    case K_SWA: { /* SWALR.get_lr */
        int64_t step = p->step_count - 1;
        double n = v[SW_ANNEAL], den = n > 1 ? n : 1;
        int linear = v[SW_STRATEGY] != 0;
        if (n == 0 && step < 1)
            step = 1;
        double prev_t = fmax(0.0, fmin(1.0, (double)(step - 1) / den));
        double t = fmax(0.0, fmin(1.0, (double)step / den));
        double prev_alpha = linear ? prev_t : (1 - cos(CT_PI * prev_t)) / 2;
        double alpha = linear ? t : (1 - cos(CT_PI * t)) / 2;
        for (size_t g = 0; g < s->ng; g++) {
            double swa = s->max_lrs[g];
            double prev = prev_alpha == 1 ? swa : (lr[g] - prev_alpha * swa) / (1 - prev_alpha);
            lr[g] = swa * alpha + prev * (1 - alpha);
        }
        return CT_OK;
    }
    case K_MULTIPLICATIVE:
        if (p->is_initial)
            return CT_OK;
        if ((st = lambda_factors(s, le, mom))) /* mom: scratch, no momentum is set */
            return st;
        for (size_t g = 0; g < s->ng; g++)
            lr[g] = lr[g] * mom[g];
        return CT_OK;
    case K_POLYNOMIAL: {
        int64_t T = (int64_t)v[PO_TOTAL];
        if (p->is_initial || le > T)
            return CT_OK;
        double f = pow((1.0 - (double)le / (double)T) / (1.0 - (double)(le - 1) / (double)T),
                       v[PO_POWER]);
        for (size_t g = 0; g < s->ng; g++)
            lr[g] = lr[g] * f;
        return CT_OK;
    }
    }
    return ct_fail(&s->err, CT_EINVAL, "%s: no get_lr", s->kind->name);
}
