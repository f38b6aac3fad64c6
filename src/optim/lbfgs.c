/* L-BFGS: torch.optim.LBFGS.step, _strong_wolfe and _cubic_interpolate
 * (torch/optim/lbfgs.py, PyTorch 2.15), itself a port of minFunc / torch7's
 * optim.lbfgs, lswolfe.lua and polyinterp.lua. The algorithm is Nocedal &
 * Wright, "Numerical Optimization" (2nd ed.), Algorithm 7.4 (the two-loop
 * recursion) with the initial Hessian scale of eq. (7.20), and the line
 * search of Algorithms 3.5/3.6 (strong Wolfe conditions, eq. 3.7, with
 * cubic interpolation, eq. 3.59).
 *
 * Rounding follows torch's types: a value torch holds as a 0-dim tensor is
 * computed in the dtype (its operands cast to it), a Python float in double
 * (struct sc below tags each scalar), in the order lbfgs.py evaluates it,
 * including its quirks: `py / tensor` is reciprocal(tensor) * py (Tensor.
 * __rtruediv__), comparisons between a tensor and a Python float round the
 * float to the dtype, and Python's min/max keep the first argument on ties.
 * Vector updates a + alpha*b are one fused multiply-add, as ATen's add with
 * alpha computes them on this CPU (checked against torch for every index).
 */
#include "ctrain/lbfgs.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "aten_reduce.h"
#include "../core/error.h"
#include "../core/opts.h"

enum { LR, MAX_ITER, MAX_EVAL, TOL_GRAD, TOL_CHANGE, HISTORY, LINE_SEARCH, MAXIMIZE, NOPT };

static const char *const line_search_names[] = {"none", "strong_wolfe", NULL};

static const ct_opt_desc opts[] = {
    {"lr", CT_OPT_REAL, 1, LR, {1}, 0, INFINITY, 0, 0},
    {"max_iter", CT_OPT_INT, 1, MAX_ITER, {20}, 1, 2147483647.0, 0, 0},
    {"max_eval", CT_OPT_INT, 1, MAX_EVAL, {25}, 1, 2147483647.0, 0, 0},
    {"tolerance_grad", CT_OPT_REAL, 1, TOL_GRAD, {1e-7}, -INFINITY, INFINITY, 0, 0},
    {"tolerance_change", CT_OPT_REAL, 1, TOL_CHANGE, {1e-9}, -INFINITY, INFINITY, 0, 0},
    {"history_size", CT_OPT_INT, 1, HISTORY, {100}, 1, 1048576.0, 0, 0},
    {"line_search_fn", CT_OPT_ENUM, 1, LINE_SEARCH, {0}, 0, 1, 0, line_search_names},
    {"maximize", CT_OPT_BOOL, 1, MAXIMIZE, {0}, 0, 1, 0, 0},
};
#define NDESC (sizeof opts / sizeof opts[0])

/* A scalar as lbfgs.py holds it: a Python float (ten = 0, double) or a
 * 0-dim tensor of the dtype (ten = 1, v rounded to the dtype). */
typedef struct sc {
    double v;
    int ten;
    int isint; /* a Python int (only for the type torch's state shows) */
} sc;

enum { NGRAD = 4 };

struct ct_lbfgs {
    ct_err err;
    size_t n, esz;
    int dtype;
    double hp[NOPT];
    size_t hist, nslot; /* history_size; ring slots = history_size + 1 */
    /* torch's state */
    int64_t func_evals, n_iter, al_len, num_al;
    int has_history;
    sc t, h_diag;
    double prev_loss;
    size_t num_old, ring0; /* old_dirs[i] is ring slot (ring0 + i) % nslot */
    double *ro;            /* per ring slot */
    double *al;            /* hist values */
    /* buffers */
    char *mem;
    void *d, *prev, *xinit, *g[NGRAD];
    char *ys_base, *ss_base; /* nslot vectors each: old_dirs (y), old_stps (s) */
    /* last step */
    int64_t last_evals, last_iters;
};

/* ---- scalars ------------------------------------------------------------ */

static inline int f32(const ct_lbfgs *h) { return h->dtype == CT_F32; }
static inline double rnd(const ct_lbfgs *h, double v) { return f32(h) ? (double)(float)v : v; }
static inline sc PY(double v) { return (sc){v, 0, 0}; }
static inline sc PYI(double v) { return (sc){v, 0, 1}; }
static inline sc TEN(const ct_lbfgs *h, double v) { return (sc){rnd(h, v), 1, 0}; }

enum { ADD, SUB, MUL, DIV };

static double op_d(int op, double a, double b)
{
    switch (op) {
    case ADD: return a + b;
    case SUB: return a - b;
    case MUL: return a * b;
    default: return a / b;
    }
}

static double op_f(int op, float a, float b)
{
    float r;
    switch (op) {
    case ADD: r = a + b; break;
    case SUB: r = a - b; break;
    case MUL: r = a * b; break;
    default: r = a / b; break;
    }
    return r;
}

/* a op b with torch's rules: Python floats in double, anything with a
 * tensor in the dtype; python / tensor is tensor.reciprocal() * python. */
static sc op(const ct_lbfgs *h, int o, sc a, sc b)
{
    if (!a.ten && !b.ten)
        return (sc){op_d(o, a.v, b.v), 0, a.isint && b.isint && o != DIV};
    if (o == DIV && !a.ten) {
        if (f32(h))
            return (sc){op_f(MUL, (float)op_f(DIV, 1.0f, (float)b.v), (float)a.v), 1, 0};
        return (sc){op_d(MUL, op_d(DIV, 1.0, b.v), a.v), 1, 0};
    }
    if (f32(h))
        return (sc){op_f(o, (float)a.v, (float)b.v), 1, 0};
    return (sc){op_d(o, a.v, b.v), 1, 0};
}

/* a < b (-1), a == b (0), a > b (1), 2 if unordered; in the dtype when
 * either is a tensor. */
static int cmp(const ct_lbfgs *h, sc a, sc b)
{
    double x = a.v, y = b.v;
    if (a.ten || b.ten) {
        x = rnd(h, x);
        y = rnd(h, y);
    }
    if (x < y)
        return -1;
    if (x > y)
        return 1;
    return x == y ? 0 : 2;
}
static inline int lt(const ct_lbfgs *h, sc a, sc b) { return cmp(h, a, b) == -1; }
static inline int gt(const ct_lbfgs *h, sc a, sc b) { return cmp(h, a, b) == 1; }
static inline int le(const ct_lbfgs *h, sc a, sc b)
{
    int c = cmp(h, a, b);
    return c == -1 || c == 0;
}
static inline int ge(const ct_lbfgs *h, sc a, sc b)
{
    int c = cmp(h, a, b);
    return c == 1 || c == 0;
}
static inline sc sabs(sc a) { return (sc){fabs(a.v), a.ten, a.isint}; }
/* Python's max(a, b) / min(a, b): the first unless the second is strictly
 * greater / smaller. */
static inline sc smax(const ct_lbfgs *h, sc a, sc b) { return gt(h, b, a) ? b : a; }
static inline sc smin(const ct_lbfgs *h, sc a, sc b) { return lt(h, b, a) ? b : a; }

/* ---- vectors (n elements of the dtype) ---------------------------------- */

static void *slot_y(const ct_lbfgs *h, size_t slot) { return h->ys_base + slot * h->n * h->esz; }
static void *slot_s(const ct_lbfgs *h, size_t slot) { return h->ss_base + slot * h->n * h->esz; }
static size_t ring(const ct_lbfgs *h, size_t i) { return (h->ring0 + i) % h->nslot; }

/* dst = -src */
static void v_neg(const ct_lbfgs *h, void *dst, const void *src)
{
    if (f32(h)) {
        float *o = dst;
        const float *a = src;
        for (size_t i = 0; i < h->n; i++)
            o[i] = -a[i];
    } else {
        double *o = dst;
        const double *a = src;
        for (size_t i = 0; i < h->n; i++)
            o[i] = -a[i];
    }
}

/* dst = a - b */
static void v_sub(const ct_lbfgs *h, void *dst, const void *a_, const void *b_)
{
    if (f32(h)) {
        float *o = dst;
        const float *a = a_, *b = b_;
        for (size_t i = 0; i < h->n; i++)
            o[i] = a[i] - b[i];
    } else {
        double *o = dst;
        const double *a = a_, *b = b_;
        for (size_t i = 0; i < h->n; i++)
            o[i] = a[i] - b[i];
    }
}

/* dst = src * alpha (alpha cast to the dtype) */
static void v_scale(const ct_lbfgs *h, void *dst, const void *src, double alpha)
{
    if (f32(h)) {
        float *o = dst, s = (float)alpha;
        const float *a = src;
        for (size_t i = 0; i < h->n; i++)
            o[i] = a[i] * s;
    } else {
        double *o = dst;
        const double *a = src;
        for (size_t i = 0; i < h->n; i++)
            o[i] = a[i] * alpha;
    }
}

/* dst = base + alpha * dir, fused (ATen's add_ with alpha) */
static void v_axpy(const ct_lbfgs *h, void *dst, const void *base, double alpha, const void *dir)
{
    if (f32(h)) {
        float *o = dst, s = (float)alpha;
        const float *a = base, *b = dir;
        for (size_t i = 0; i < h->n; i++)
            o[i] = fmaf(s, b[i], a[i]);
    } else {
        double *o = dst;
        const double *a = base, *b = dir;
        for (size_t i = 0; i < h->n; i++)
            o[i] = fma(alpha, b[i], a[i]);
    }
}

/* a . b in the dtype, in the order of MKL's sdot/ddot, which torch's dot
 * calls (found by comparing with torch 2.15 / MKL 2024.2 on this CPU for
 * every n <= 4097; larger vectors are split differently by MKL and then
 * agree to rounding only). Products and sums unfused.
 *   float32: 4 accumulators of 4 lanes over blocks of 16; the rest as one
 *     block of 8 (accumulators 0 and 1), one of 4 (accumulator 0), then
 *     scalars into lane 0 of accumulator 0; lanes combined per lane in
 *     accumulator order, then (l0 + l2) + (l1 + l3).
 *   float64: 4 accumulators of 2 lanes over blocks of 8; the rest into
 *     accumulator 0, lane i % 2; then per lane in order, then l0 + l1. */
static double v_dot(const ct_lbfgs *h, const void *a_, const void *b_)
{
    const size_t n = h->n;
    if (f32(h)) {
        const float *a = a_, *b = b_;
        float acc[4][4] = {{0}};
        const size_t main = n - n % 16;
        size_t i = 0;
        for (; i < main; i++)
            acc[(i / 4) % 4][i % 4] = acc[(i / 4) % 4][i % 4] + a[i] * b[i];
        if (n - i >= 8)
            for (size_t j = 0; j < 8; j++, i++)
                acc[j / 4][j % 4] = acc[j / 4][j % 4] + a[i] * b[i];
        if (n - i >= 4)
            for (size_t j = 0; j < 4; j++, i++)
                acc[0][j] = acc[0][j] + a[i] * b[i];
        for (; i < n; i++)
            acc[0][0] = acc[0][0] + a[i] * b[i];
        float v[4];
        for (int l = 0; l < 4; l++)
            v[l] = ((acc[0][l] + acc[1][l]) + acc[2][l]) + acc[3][l];
        return (v[0] + v[2]) + (v[1] + v[3]);
    }
    const double *a = a_, *b = b_;
    double acc[4][2] = {{0}};
    const size_t main = n - n % 8;
    size_t i = 0;
    for (; i < main; i++)
        acc[(i / 2) % 4][i % 2] = acc[(i / 2) % 4][i % 2] + a[i] * b[i];
    for (; i < n; i++)
        acc[0][i % 2] = acc[0][i % 2] + a[i] * b[i];
    double v[2];
    for (int l = 0; l < 2; l++)
        v[l] = ((acc[0][l] + acc[1][l]) + acc[2][l]) + acc[3][l];
    return v[0] + v[1];
}

/* max |a_i * alpha| (alpha cast to the dtype; alpha = 1: max |a_i|) */
static double v_maxabs(const ct_lbfgs *h, const void *a_, double alpha)
{
    if (f32(h)) {
        const float *a = a_;
        const float s = (float)alpha;
        float m = 0;
        for (size_t i = 0; i < h->n; i++) {
            float v = fabsf(a[i] * s);
            if (!(v <= m)) /* NaN propagates, as torch's max */
                m = v;
            if (isnan(m))
                return m;
        }
        return m;
    }
    const double *a = a_;
    double m = 0;
    for (size_t i = 0; i < h->n; i++) {
        double v = fabs(a[i] * alpha);
        if (!(v <= m))
            m = v;
        if (isnan(m))
            return m;
    }
    return m;
}

static float absf_get(const void *ctx, size_t k) { return fabsf(((const float *)ctx)[k]); }

static double absd_get(const void *ctx, size_t k) { return fabs(((const double *)ctx)[k]); }

static double v_sumabs(const ct_lbfgs *h, const void *a_)
{
    if (f32(h))
        return ct_aten_sum_inner(absf_get, a_, 0, h->n);
    const double *a = a_;
    const size_t n = h->n, L = 4;
    if (n < L)
        return ct_aten_row_sum_d(absd_get, a, 0, 1, n);
    const size_t nv = n / L;
    double acc = 0;
    for (size_t k = nv * L; k < n; k++)
        acc = acc + fabs(a[k]);
    for (size_t l = 0; l < L; l++)
        acc = acc + ct_aten_row_sum_d(absd_get, a, l, L, nv);
    return acc;
}

/* ---- closure calls ------------------------------------------------------ */

typedef struct call {
    ct_lbfgs *h;
    ct_lbfgs_closure fn;
    void *ctx;
    void *x;
    int64_t evals; /* successful calls in this step */
} call;

/* Evaluates at x into grad (maximize: loss and gradient negated, as
 * _gather_flat_grad and step do). *raw receives the closure's loss. */
static ct_status evaluate(call *c, void *grad, double *loss, double *raw)
{
    ct_lbfgs *h = c->h;
    h->err.msg[0] = 0;
    (void)ct_fail(NULL, CT_OK, "%s", ""); /* clears the thread's message */
    double l = 0;
    ct_status st = c->fn(c->ctx, c->x, grad, &l);
    if (st != CT_OK) {
        if (h->err.msg[0])
            return ct_fail(NULL, st, "%s", h->err.msg);
        if (ct_errmsg()[0])
            return ct_fail_keep(&h->err, st);
        return ct_fail(&h->err, st,
                       "lbfgs: the closure failed with status %d (%s) at evaluation %lld of "
                       "this step",
                       (int)st, ct_status_str(st), (long long)c->evals + 1);
    }
    if (raw)
        *raw = l;
    if (h->hp[MAXIMIZE] != 0) {
        l = -l;
        v_neg(h, grad, grad);
    }
    *loss = l;
    c->evals++;
    h->func_evals++;
    return CT_OK;
}

/* A gradient buffer not in use (live: up to NGRAD - 1 pointers). */
static void *free_grad(ct_lbfgs *h, void *const *live, int nlive)
{
    for (int k = 0; k < NGRAD; k++) {
        int used = 0;
        for (int j = 0; j < nlive; j++)
            used |= live[j] == h->g[k];
        if (!used)
            return h->g[k];
    }
    return NULL; /* not reached: at most NGRAD - 1 are live */
}

/* ---- _cubic_interpolate ------------------------------------------------- */

static sc cubic(const ct_lbfgs *h, sc x1, double f1, sc g1, sc x2, double f2, sc g2,
                const sc *bounds)
{
    sc lo, hi;
    if (bounds) {
        lo = bounds[0];
        hi = bounds[1];
    } else if (le(h, x1, x2)) {
        lo = x1;
        hi = x2;
    } else {
        lo = x2;
        hi = x1;
    }
    /* d1 = g1 + g2 - 3 * (f1 - f2) / (x1 - x2) */
    sc d1 = op(h, SUB, op(h, ADD, g1, g2), op(h, DIV, PY(3 * (f1 - f2)), op(h, SUB, x1, x2)));
    /* d2_square = d1**2 - g1 * g2 */
    sc d2sq = op(h, SUB, op(h, MUL, d1, d1), op(h, MUL, g1, g2));
    if (ge(h, d2sq, PY(0))) {
        sc d2 = d2sq.ten ? TEN(h, f32(h) ? (double)sqrtf((float)d2sq.v) : sqrt(d2sq.v))
                         : PY(sqrt(d2sq.v));
        sc min_pos;
        if (le(h, x1, x2)) {
            /* x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2 * d2)) */
            sc num = op(h, SUB, op(h, ADD, g2, d2), d1);
            sc den = op(h, ADD, op(h, SUB, g2, g1), op(h, MUL, d2, PY(2)));
            min_pos = op(h, SUB, x2, op(h, MUL, op(h, SUB, x2, x1), op(h, DIV, num, den)));
        } else {
            sc num = op(h, SUB, op(h, ADD, g1, d2), d1);
            sc den = op(h, ADD, op(h, SUB, g1, g2), op(h, MUL, d2, PY(2)));
            min_pos = op(h, SUB, x1, op(h, MUL, op(h, SUB, x1, x2), op(h, DIV, num, den)));
        }
        return smin(h, smax(h, min_pos, lo), hi);
    }
    return op(h, DIV, op(h, ADD, lo, hi), PY(2.0));
}

/* ---- _strong_wolfe ------------------------------------------------------ */

typedef struct ls_out {
    double f;
    void *g;
    sc t;
} ls_out;

/* x_init: start point (in h->xinit); the trial point x_init + t*d is
 * written into c->x before each call. On success c->x is left at x_init. */
static ct_status strong_wolfe(call *c, sc t, const void *d, double f, void *g, sc gtd,
                              int64_t max_ls, ls_out *out)
{
    ct_lbfgs *h = c->h;
    const double c1 = 1e-4, c2 = 0.9, tol_change = h->hp[TOL_CHANGE];
    const sc d_norm = TEN(h, v_maxabs(h, d, 1));
    ct_status st;
    void *live[3];

    /* f_new, g_new = obj_func(x, t, d) */
    double f_new;
    live[0] = g;
    void *g_new = free_grad(h, live, 1);
    v_axpy(h, c->x, h->xinit, rnd(h, t.v), d);
    if ((st = evaluate(c, g_new, &f_new, NULL)) != CT_OK)
        return st;
    sc gtd_new = TEN(h, v_dot(h, g_new, d));

    sc t_prev = PYI(0), gtd_prev = gtd;
    double f_prev = f;
    void *g_prev = g;
    int done = 0;
    int64_t ls_iter = 0;
    sc br[2] = {{0, 0, 0}, {0, 0, 0}}, br_gtd[2] = {{0, 0, 0}, {0, 0, 0}};
    double br_f[2] = {0, 0};
    void *br_g[2] = {NULL, NULL};
    int nbr = 0;
    const sc c1s = PY(c1), mc2 = PY(-c2);
    while (ls_iter < max_ls) {
        /* f_new > (f + c1 * t * gtd) or (ls_iter > 1 and f_new >= f_prev) */
        sc armijo = op(h, ADD, PY(f), op(h, MUL, op(h, MUL, c1s, t), gtd));
        if (gt(h, PY(f_new), armijo) || (ls_iter > 1 && f_new >= f_prev)) {
            br[0] = t_prev, br[1] = t;
            br_f[0] = f_prev, br_f[1] = f_new;
            br_g[0] = g_prev, br_g[1] = g_new;
            br_gtd[0] = gtd_prev, br_gtd[1] = gtd_new;
            nbr = 2;
            break;
        }
        if (le(h, sabs(gtd_new), op(h, MUL, mc2, gtd))) {
            br[0] = t, br_f[0] = f_new, br_g[0] = g_new;
            nbr = 1;
            done = 1;
            break;
        }
        if (ge(h, gtd_new, PY(0))) {
            br[0] = t_prev, br[1] = t;
            br_f[0] = f_prev, br_f[1] = f_new;
            br_g[0] = g_prev, br_g[1] = g_new;
            br_gtd[0] = gtd_prev, br_gtd[1] = gtd_new;
            nbr = 2;
            break;
        }
        /* interpolate */
        sc bounds[2];
        bounds[0] = op(h, ADD, t, op(h, MUL, PY(0.01), op(h, SUB, t, t_prev)));
        bounds[1] = op(h, MUL, t, PY(10));
        sc tmp = t;
        t = cubic(h, t_prev, f_prev, gtd_prev, t, f_new, gtd_new, bounds);
        t_prev = tmp;
        f_prev = f_new;
        g_prev = g_new;
        gtd_prev = gtd_new;
        live[0] = g, live[1] = g_prev;
        g_new = free_grad(h, live, 2);
        v_axpy(h, c->x, h->xinit, rnd(h, t.v), d);
        if ((st = evaluate(c, g_new, &f_new, NULL)) != CT_OK)
            return st;
        gtd_new = TEN(h, v_dot(h, g_new, d));
        ls_iter++;
    }
    if (ls_iter == max_ls) {
        br[0] = PYI(0), br[1] = t;
        br_f[0] = f, br_f[1] = f_new;
        br_g[0] = g, br_g[1] = g_new;
        nbr = 2;
    }
    if (nbr == 0) /* max_ls < 0: torch fails with UnboundLocalError here */
        return ct_fail(&h->err, CT_EINVAL,
                       "lbfgs: max_eval=%.0f leaves the strong_wolfe line search no "
                       "evaluation (max_ls = %lld)",
                       h->hp[MAX_EVAL], (long long)max_ls);

    /* zoom */
    int insuf = 0;
    int low = br_f[0] <= br_f[nbr - 1] ? 0 : 1, high = 1 - low;
    while (!done && ls_iter < max_ls) {
        if (lt(h, op(h, MUL, sabs(op(h, SUB, br[1], br[0])), d_norm), PY(tol_change)))
            break;
        t = cubic(h, br[0], br_f[0], br_gtd[0], br[1], br_f[1], br_gtd[1], NULL);
        sc mx = smax(h, br[0], br[1]), mn = smin(h, br[0], br[1]);
        sc eps = op(h, MUL, PY(0.1), op(h, SUB, mx, mn));
        if (lt(h, smin(h, op(h, SUB, mx, t), op(h, SUB, t, mn)), eps)) {
            if (insuf || ge(h, t, mx) || le(h, t, mn)) {
                if (lt(h, sabs(op(h, SUB, t, mx)), sabs(op(h, SUB, t, mn))))
                    t = op(h, SUB, mx, eps);
                else
                    t = op(h, ADD, mn, eps);
                insuf = 0;
            } else {
                insuf = 1;
            }
        } else {
            insuf = 0;
        }
        live[0] = br_g[0], live[1] = br_g[1], live[2] = g;
        g_new = free_grad(h, live, 3);
        v_axpy(h, c->x, h->xinit, rnd(h, t.v), d);
        if ((st = evaluate(c, g_new, &f_new, NULL)) != CT_OK)
            return st;
        gtd_new = TEN(h, v_dot(h, g_new, d));
        ls_iter++;

        sc armijo = op(h, ADD, PY(f), op(h, MUL, op(h, MUL, c1s, t), gtd));
        if (gt(h, PY(f_new), armijo) || f_new >= br_f[low]) {
            br[high] = t, br_f[high] = f_new, br_g[high] = g_new, br_gtd[high] = gtd_new;
            low = br_f[0] <= br_f[1] ? 0 : 1;
            high = 1 - low;
        } else {
            if (le(h, sabs(gtd_new), op(h, MUL, mc2, gtd)))
                done = 1;
            else if (ge(h, op(h, MUL, gtd_new, op(h, SUB, br[high], br[low])), PY(0))) {
                br[high] = br[low], br_f[high] = br_f[low], br_g[high] = br_g[low];
                br_gtd[high] = br_gtd[low];
            }
            br[low] = t, br_f[low] = f_new, br_g[low] = g_new, br_gtd[low] = gtd_new;
        }
    }
    memcpy(c->x, h->xinit, h->n * h->esz); /* _set_param(x) */
    out->t = br[low];
    out->f = br_f[low];
    out->g = br_g[low];
    return CT_OK;
}

/* ---- the step ----------------------------------------------------------- */

/* The two-loop recursion (N&W Algorithm 7.4) with torch's update of the
 * memory; d receives the direction. */
static void direction(ct_lbfgs *h, const void *flat)
{
    void *ynew = slot_y(h, ring(h, h->num_old)), *snew = slot_s(h, ring(h, h->num_old));
    v_sub(h, ynew, flat, h->prev);           /* y = flat_grad - prev_flat_grad */
    v_scale(h, snew, h->d, rnd(h, h->t.v));  /* s = d * t */
    sc ys = TEN(h, v_dot(h, ynew, snew));
    if (gt(h, ys, PY(1e-10))) {
        size_t slot = ring(h, h->num_old);
        if (h->num_old == h->hist)
            h->ring0 = (h->ring0 + 1) % h->nslot, h->num_old--;
        h->num_old++;
        h->ro[slot] = op(h, DIV, PY(1.0), ys).v;
        h->h_diag = op(h, DIV, ys, TEN(h, v_dot(h, ynew, ynew)));
    }
    const size_t num_old = h->num_old;
    if (h->al_len < 0) {
        h->al_len = (int64_t)h->hist;
        h->num_al = 0;
    }
    void *q = h->d; /* q = -flat_grad, then d = r = q * H_diag in place */
    v_neg(h, q, flat);
    for (size_t k = num_old; k-- > 0;) {
        size_t slot = ring(h, k);
        sc al = op(h, MUL, TEN(h, v_dot(h, slot_s(h, slot), q)), TEN(h, h->ro[slot]));
        h->al[k] = al.v;
        v_axpy(h, q, q, -al.v, slot_y(h, slot));
    }
    if ((int64_t)num_old > h->num_al)
        h->num_al = (int64_t)num_old;
    v_scale(h, h->d, q, h->h_diag.ten ? h->h_diag.v : 1.0);
    for (size_t k = 0; k < num_old; k++) {
        size_t slot = ring(h, k);
        sc be = op(h, MUL, TEN(h, v_dot(h, slot_y(h, slot), h->d)), TEN(h, h->ro[slot]));
        sc a = op(h, SUB, TEN(h, h->al[k]), be);
        v_axpy(h, h->d, h->d, a.v, slot_s(h, slot));
    }
}

ct_status ct_lbfgs_step(ct_lbfgs *h, void *x, ct_lbfgs_closure fn, void *ctx, double *loss_out)
{
    if (!h)
        return ct_fail(NULL, CT_EINVAL, "lbfgs: handle is NULL");
    if (!x || !fn)
        return ct_fail(&h->err, CT_EINVAL, "lbfgs: step needs the vector and a closure");
    char saved[CT_ERRMSG_CAP]; /* the last failure's message, kept on success */
    memcpy(saved, h->err.msg, sizeof saved);
    h->last_evals = h->last_iters = 0;
    call c = {h, fn, ctx, x, 0};
    const int64_t max_iter = (int64_t)h->hp[MAX_ITER], max_eval = (int64_t)h->hp[MAX_EVAL];
    const int wolfe = h->hp[LINE_SEARCH] == 1;
    const sc tol_grad = PY(h->hp[TOL_GRAD]), tol_change = PY(h->hp[TOL_CHANGE]);
    ct_status st;

    void *flat = h->g[0];
    double loss, orig;
    if ((st = evaluate(&c, flat, &loss, &orig)) != CT_OK)
        return st; /* nothing moved, nothing counted */
    if (loss_out)
        *loss_out = orig;
    int64_t current_evals = 1;
    int opt_cond = le(h, TEN(h, v_maxabs(h, flat, 1)), tol_grad);
    if (opt_cond) {
        h->last_evals = current_evals;
        memcpy(h->err.msg, saved, sizeof saved);
        return CT_OK;
    }

    int64_t n_iter = 0;
    st = CT_OK;
    while (n_iter < max_iter) {
        n_iter++;
        h->n_iter++;
        h->last_iters = n_iter;
        if (h->n_iter == 1) {
            v_neg(h, h->d, flat);
            h->num_old = 0;
            h->ring0 = 0;
            h->h_diag = PY(1);
        } else {
            direction(h, flat);
        }
        memcpy(h->prev, flat, h->n * h->esz);
        h->prev_loss = loss;
        h->has_history = 1;

        if (h->n_iter == 1) {
            sc r = op(h, DIV, PY(1.0), TEN(h, v_sumabs(h, flat)));
            h->t = op(h, MUL, lt(h, r, PY(1.0)) ? r : PY(1.0), PY(h->hp[LR]));
        } else {
            h->t = PY(h->hp[LR]);
        }
        sc gtd = TEN(h, v_dot(h, flat, h->d));
        if (gt(h, gtd, PY(-h->hp[TOL_CHANGE])))
            break;

        int64_t ls_evals = 0;
        if (wolfe) {
            memcpy(h->xinit, x, h->n * h->esz);
            ls_out r = {0, NULL, {0, 0, 0}};
            int64_t before = c.evals;
            st = strong_wolfe(&c, h->t, h->d, loss, flat, gtd, max_eval - current_evals, &r);
            if (st != CT_OK) {
                /* back to the line search's start, no move made */
                memcpy(x, h->xinit, h->n * h->esz);
                h->t = PY(0);
                current_evals += c.evals - before;
                break;
            }
            ls_evals = c.evals - before;
            loss = r.f;
            flat = r.g;
            h->t = r.t;
            v_axpy(h, x, x, rnd(h, h->t.v), h->d);
            opt_cond = le(h, TEN(h, v_maxabs(h, flat, 1)), tol_grad);
        } else {
            v_axpy(h, x, x, rnd(h, h->t.v), h->d);
            if (n_iter != max_iter) {
                void *live[1] = {flat};
                void *g2 = free_grad(h, live, 1);
                if ((st = evaluate(&c, g2, &loss, NULL)) != CT_OK)
                    break;
                flat = g2;
                opt_cond = le(h, TEN(h, v_maxabs(h, flat, 1)), tol_grad);
                ls_evals = 1;
            }
        }
        current_evals += ls_evals;

        if (n_iter == max_iter)
            break;
        if (current_evals >= max_eval)
            break;
        if (opt_cond)
            break;
        if (le(h, TEN(h, v_maxabs(h, h->d, rnd(h, h->t.v))), tol_change))
            break;
        if (fabs(loss - h->prev_loss) < h->hp[TOL_CHANGE])
            break;
    }
    h->last_evals = c.evals;
    if (st == CT_OK)
        memcpy(h->err.msg, saved, sizeof saved);
    return st;
}

/* ---- handle ------------------------------------------------------------- */

ct_status ct_lbfgs_create(ct_lbfgs **out, size_t n, int dtype, const char *options)
{
    if (!out)
        return ct_fail(NULL, CT_EINVAL, "lbfgs: out is NULL");
    *out = NULL;
    if (n == 0)
        return ct_fail(NULL, CT_EINVAL, "lbfgs: the vector has 0 elements (n must be > 0)");
    if (dtype != CT_F32 && dtype != CT_F64)
        return ct_fail(NULL, CT_EUNSUPPORTED,
                       "lbfgs: dtype %d is not supported (CT_F32 = 0 or CT_F64 = 3)", dtype);
    double hp[NOPT];
    int given[NDESC];
    memset(given, 0, sizeof given);
    ct_opts_defaults(opts, NDESC, hp);
    ct_status st = ct_opts_parse(opts, NDESC, "lbfgs", options, hp, given, NULL);
    if (st != CT_OK)
        return st;
    if (!given[MAX_EVAL])
        hp[MAX_EVAL] = floor(hp[MAX_ITER] * 5 / 4);
    if (hp[MAX_EVAL] < 1)
        return ct_fail(NULL, CT_EINVAL, "lbfgs: max_eval=%.0f must be >= 1", hp[MAX_EVAL]);
    const size_t esz = dtype == CT_F32 ? 4 : 8, hist = (size_t)hp[HISTORY];
    const size_t nvec = 3 + NGRAD + 2 * (hist + 1);
    if (n > SIZE_MAX / esz / nvec)
        return ct_fail(NULL, CT_ENOMEM, "lbfgs: %zu elements x %zu buffers is too large", n,
                       nvec);
    ct_lbfgs *h = calloc(1, sizeof *h);
    char *mem = calloc(nvec * n, esz);
    double *sc_mem = calloc(hist + 1 + hist, sizeof(double));
    if (!h || !mem || !sc_mem) {
        free(h), free(mem), free(sc_mem);
        return ct_fail(NULL, CT_ENOMEM, "lbfgs: cannot allocate %zu buffers of %zu elements",
                       nvec, n);
    }
    h->n = n, h->esz = esz, h->dtype = dtype;
    memcpy(h->hp, hp, sizeof hp);
    h->hist = hist, h->nslot = hist + 1;
    h->mem = mem;
    size_t vb = n * esz;
    h->d = mem, h->prev = mem + vb, h->xinit = mem + 2 * vb;
    for (int k = 0; k < NGRAD; k++)
        h->g[k] = mem + (size_t)(3 + k) * vb;
    h->ys_base = mem + (3 + NGRAD) * vb;
    h->ss_base = h->ys_base + h->nslot * vb;
    h->ro = sc_mem;
    h->al = sc_mem + h->nslot;
    h->al_len = -1;
    h->t = PY(0);
    h->h_diag = PY(1);
    *out = h;
    return CT_OK;
}

void ct_lbfgs_destroy(ct_lbfgs *h)
{
    if (!h)
        return;
    free(h->mem);
    free(h->ro);
    free(h);
}

const char *ct_lbfgs_errmsg(const ct_lbfgs *h) { return h ? h->err.msg : ""; }

ct_status ct_lbfgs_fail(ct_lbfgs *h, ct_status status, const char *message)
{
    return ct_fail(h ? &h->err : NULL, status, "%s", message ? message : "");
}

size_t ct_lbfgs_numel(const ct_lbfgs *h) { return h ? h->n : 0; }
int ct_lbfgs_dtype(const ct_lbfgs *h) { return h ? h->dtype : -1; }

ct_status ct_lbfgs_set_options(ct_lbfgs *h, const char *options)
{
    if (!h)
        return ct_fail(NULL, CT_EINVAL, "lbfgs: handle is NULL");
    double hp[NOPT];
    memcpy(hp, h->hp, sizeof hp);
    ct_status st = ct_opts_parse(opts, NDESC, "lbfgs", options, hp, NULL, &h->err);
    if (st != CT_OK)
        return st;
    if (hp[HISTORY] != h->hp[HISTORY])
        return ct_fail(&h->err, CT_ESTATE,
                       "lbfgs: history_size=%.0f cannot change from %zu (its buffers are "
                       "allocated at create; create a new handle)",
                       hp[HISTORY], h->hist);
    memcpy(h->hp, hp, sizeof hp);
    return CT_OK;
}

ct_status ct_lbfgs_get_option(const ct_lbfgs *h, const char *key, double *value)
{
    if (!h || !key || !value)
        return ct_fail(NULL, CT_EINVAL, "lbfgs: get_option needs a handle, a key and a value");
    const ct_opt_desc *dsc = ct_opts_find(opts, NDESC, key);
    if (!dsc)
        return ct_fail((ct_err *)&h->err, CT_EINVAL, "lbfgs: unknown option '%s'", key);
    *value = h->hp[dsc->slot];
    return CT_OK;
}

ct_status ct_lbfgs_last_step(const ct_lbfgs *h, int64_t *evals, int64_t *iters)
{
    if (!h)
        return ct_fail(NULL, CT_EINVAL, "lbfgs: handle is NULL");
    if (evals)
        *evals = h->last_evals;
    if (iters)
        *iters = h->last_iters;
    return CT_OK;
}

ct_status ct_lbfgs_get_state(const ct_lbfgs *h, ct_lbfgs_state *st)
{
    if (!h || !st)
        return ct_fail(NULL, CT_EINVAL, "lbfgs: get_state needs a handle and a state");
    memset(st, 0, sizeof *st);
    st->func_evals = h->func_evals;
    st->n_iter = h->n_iter;
    st->num_old = (int64_t)h->num_old;
    st->al_len = h->al_len;
    st->num_al = h->num_al;
    st->has_history = h->has_history;
    st->t_is_tensor = h->t.ten;
    st->t = h->t.v;
    st->t_is_int = !h->t.ten && h->t.isint;
    st->h_diag_is_tensor = h->h_diag.ten;
    st->h_diag = h->h_diag.v;
    st->prev_loss = h->prev_loss;
    return CT_OK;
}

ct_status ct_lbfgs_set_state(ct_lbfgs *h, const ct_lbfgs_state *st)
{
    if (!h || !st)
        return ct_fail(NULL, CT_EINVAL, "lbfgs: set_state needs a handle and a state");
    ct_err *e = &h->err;
    if (st->func_evals < 0 || st->n_iter < 0)
        return ct_fail(e, CT_EINVAL, "lbfgs: func_evals=%lld and n_iter=%lld must be >= 0",
                       (long long)st->func_evals, (long long)st->n_iter);
    if ((st->has_history != 0) != (st->n_iter >= 1))
        return ct_fail(e, CT_EINVAL,
                       "lbfgs: has_history=%d does not fit n_iter=%lld (torch keeps d, t, "
                       "old_dirs, ... exactly when n_iter >= 1)",
                       (int)st->has_history, (long long)st->n_iter);
    if (st->num_old < 0 || (uint64_t)st->num_old > h->hist)
        return ct_fail(e, CT_EMISMATCH, "lbfgs: %lld correction pairs do not fit history_size=%zu",
                       (long long)st->num_old, h->hist);
    if (st->al_len != -1 && st->al_len != (int64_t)h->hist)
        return ct_fail(e, CT_EMISMATCH, "lbfgs: len(al)=%lld differs from history_size=%zu",
                       (long long)st->al_len, h->hist);
    if (st->num_al < 0 || st->num_al > (st->al_len < 0 ? 0 : st->al_len))
        return ct_fail(e, CT_EINVAL, "lbfgs: num_al=%lld out of [0, len(al)=%lld]",
                       (long long)st->num_al, (long long)st->al_len);
    if (!st->has_history && st->num_old != 0)
        return ct_fail(e, CT_EINVAL, "lbfgs: correction pairs without the rest of the state");
    if (st->t_is_tensor < 0 || st->t_is_tensor > 1 || st->h_diag_is_tensor < 0 ||
        st->h_diag_is_tensor > 1 || st->t_is_int < 0 || st->t_is_int > 1 ||
        (st->t_is_int && (st->t_is_tensor || st->t != floor(st->t))))
        return ct_fail(e, CT_EINVAL,
                       "lbfgs: t_is_tensor, h_diag_is_tensor and t_is_int are 0 or 1 (an int "
                       "t is not a tensor and has an integer value)");
    h->func_evals = st->func_evals;
    h->n_iter = st->n_iter;
    h->num_old = (size_t)st->num_old;
    h->ring0 = 0;
    h->al_len = st->al_len;
    h->num_al = st->num_al;
    h->has_history = st->has_history != 0;
    h->t = st->t_is_tensor ? TEN(h, st->t) : st->t_is_int ? PYI(st->t) : PY(st->t);
    h->h_diag = st->h_diag_is_tensor ? TEN(h, st->h_diag) : PY(1);
    h->prev_loss = st->prev_loss;
    return CT_OK;
}

ct_status ct_lbfgs_state_vector(ct_lbfgs *h, const char *name, size_t i, void **data)
{
    if (!h || !name || !data)
        return ct_fail(NULL, CT_EINVAL, "lbfgs: state_vector needs a handle, a name and data");
    if (!strcmp(name, "d") && i == 0)
        *data = h->d;
    else if (!strcmp(name, "prev_flat_grad") && i == 0)
        *data = h->prev;
    else if (!strcmp(name, "old_dirs") && i < h->num_old)
        *data = slot_y(h, ring(h, i));
    else if (!strcmp(name, "old_stps") && i < h->num_old)
        *data = slot_s(h, ring(h, i));
    else
        return ct_fail(&h->err, CT_EINVAL,
                       "lbfgs: no state vector '%s'[%zu] (d, prev_flat_grad; old_dirs and "
                       "old_stps below num_old=%zu)",
                       name, i, h->num_old);
    return CT_OK;
}

ct_status ct_lbfgs_get_scalars(const ct_lbfgs *h, const char *name, double *values, size_t cap,
                               size_t *count)
{
    if (!h || !name || (!values && cap))
        return ct_fail(NULL, CT_EINVAL, "lbfgs: get_scalars needs a handle, a name, values");
    size_t m;
    if (!strcmp(name, "ro")) {
        m = h->num_old;
        for (size_t i = 0; i < m && i < cap; i++)
            values[i] = h->ro[ring(h, i)];
    } else if (!strcmp(name, "al")) {
        m = (size_t)h->num_al;
        for (size_t i = 0; i < m && i < cap; i++)
            values[i] = h->al[i];
    } else {
        return ct_fail((ct_err *)&h->err, CT_EINVAL, "lbfgs: no state scalars '%s' (ro, al)",
                       name);
    }
    if (count)
        *count = m;
    return CT_OK;
}

ct_status ct_lbfgs_set_scalars(ct_lbfgs *h, const char *name, const double *values,
                               size_t count)
{
    if (!h || !name || (!values && count))
        return ct_fail(NULL, CT_EINVAL, "lbfgs: set_scalars needs a handle, a name, values");
    if (!strcmp(name, "ro")) {
        if (count != h->num_old)
            return ct_fail(&h->err, CT_EMISMATCH, "lbfgs: %zu values for ro, num_old is %zu",
                           count, h->num_old);
        for (size_t i = 0; i < count; i++)
            h->ro[ring(h, i)] = rnd(h, values[i]);
    } else if (!strcmp(name, "al")) {
        if ((int64_t)count != h->num_al)
            return ct_fail(&h->err, CT_EMISMATCH, "lbfgs: %zu values for al, num_al is %lld",
                           count, (long long)h->num_al);
        for (size_t i = 0; i < count; i++)
            h->al[i] = rnd(h, values[i]);
    } else {
        return ct_fail(&h->err, CT_EINVAL, "lbfgs: no state scalars '%s' (ro, al)", name);
    }
    return CT_OK;
}
