#!/usr/bin/env python3
"""The bacterial-foraging family on the BBOB test suite (COCO), side by side.

Runs, in one invocation and with the same budget accounting for everybody:
  * ctrain's BFO, AdaptiveBFO and HybridBFO (ctrain.numpy, the C engine),
  * niapy's BacterialForagingOptimization, mealpy's OriginalBFO and ABFO
    (the other BFO implementations a user could install),
  * CMA-ES with IPOP restarts (cma) and nevergrad's NGOpt (the references a
    user could pick instead of any BFO),
on the 24 noiseless BBOB functions of the COCO platform (cocoex), for chosen
dimensions, instances and budgets (multiples of the dimension D).

Budget accounting: every optimizer sees the objective only through one
wrapper (Counted) that counts the evaluations, records the best error
f - f_opt so far and the evaluation at which each of the 51 COCO targets
10^2 .. 10^-8 was first reached, and raises once the budget is spent or the
final target 1e-8 is reached (COCO's own stopping rule). The optimizers' own
counters are only used to tell them when to stop; they never enter a result.
f_opt is the value at the instance's optimum (cocoex's _best_parameter, read
on a separate, unobserved problem object).

Results: median final error per function, ERT (expected running time, COCO's
definition: evaluations of all runs / successful runs) to targets, an ECDF of
runtimes over all (function, instance, target) triples, and evaluations per
second of each driver on a cheap C objective (BBOB f1 through cocoex for the
Python drivers; ctrain's C engine also driven by a C program, no Python in
the loop: bench/bfo_cbench.c) and on a Python closure. Writes OUT/bfo.json,
OUT/bfo.md and OUT/bfo.png.

usage: bfo_bench.py [--quick] [--dims 10] [--budgets 1000]
                    [--instances 1-3] [--functions 1-24]
                    [--optimizers NAME,...] [--jobs 2] [--out DIR]
                    [--cbin build/bench/ctrain_bfo_bench] [--no-speed]
                    [--ctrain-options JSON]
"""
import argparse
import collections
import datetime
import json
import math
import multiprocessing as mp
import os
import platform
import shlex
import subprocess
import sys
import tempfile
import time
import warnings

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGETS = [10.0 ** (2 - 0.2 * k) for k in range(51)]  # COCO's 51 targets, 1e2 .. 1e-8
FINAL_TARGET = 1e-8
LOWER, UPPER = -5.0, 5.0  # the BBOB search domain
BFO_FAMILY = ("ctrain BFO", "ctrain AdaptiveBFO", "ctrain HybridBFO",
              "niapy BFO", "mealpy OriginalBFO", "mealpy ABFO")
PEER_BFO = ("niapy BFO", "mealpy OriginalBFO", "mealpy ABFO")
CTRAIN = ("ctrain BFO", "ctrain AdaptiveBFO", "ctrain HybridBFO")
ALL = BFO_FAMILY + ("CMA-ES (IPOP)", "nevergrad NGOpt")
SHORT = {"ctrain BFO": "ct-BFO", "ctrain AdaptiveBFO": "ct-ABFO", "ctrain HybridBFO": "ct-HBFO",
         "niapy BFO": "niapy", "mealpy OriginalBFO": "mealpy-BFO", "mealpy ABFO": "mealpy-ABFO",
         "CMA-ES (IPOP)": "CMA-ES", "nevergrad NGOpt": "NGOpt"}
# ctrain options per variant (ctrain.numpy.<class>(**options)); overridable
# with --ctrain-options '{"ctrain BFO": {...}}'. Empty = ctrain's defaults.
# Tuned on BBOB instances 16-17 (not among the reported 1-15), D=10, 1e3·D:
# the engine's default step range [1e-4, 0.1] is absolute, too small for the
# [-5, 5] domain and too coarse to reach 1e-8. HybridBFO runs without a
# gradient (BBOB is a black box; {"fd_gradient": true} gives it forward
# differences paid from the same budget, which was far worse).
CTRAIN_OPTIONS = {
    "ctrain BFO": {"population_size": 24, "step_size_max": 3.0, "step_size_min": 1e-12},
    "ctrain AdaptiveBFO": {"step_size_max": 1.0, "step_size_min": 1e-12},
    "ctrain HybridBFO": {"population_size": 24, "step_size_max": 1.0, "step_size_min": 1e-12},
}


class Exhausted(Exception):
    """Raised by Counted when the budget is spent or the final target is hit."""


class Counted:
    """The one door to the objective: counts, tracks the best error, stops."""

    def __init__(self, problem, fopt, budget):
        self.problem, self.fopt, self.budget = problem, fopt, budget
        self.n = 0
        self.best = math.inf
        self.hits = [None] * len(TARGETS)  # evaluation at which TARGETS[k] was reached
        self.next_t = 0
        self.overrun = 0  # calls refused after the budget (the driver ignored its own)

    def __call__(self, x):
        if self.n >= self.budget or self.best <= FINAL_TARGET:
            self.overrun += 1
            raise Exhausted()
        self.n += 1
        f = self.problem(np.asarray(x, dtype=np.float64))
        e = f - self.fopt
        if e < self.best:
            self.best = e
            while self.next_t < len(TARGETS) and e <= TARGETS[self.next_t]:
                self.hits[self.next_t] = self.n
                self.next_t += 1
            if e <= FINAL_TARGET:
                raise Exhausted()
        return f

    def batch(self, xs):
        xs = np.asarray(xs, dtype=np.float64)
        return np.array([self(x) for x in xs])


# --------------------------------------------------------------------------
# BBOB problems
# --------------------------------------------------------------------------

def bbob_problem(fn, dim, inst):
    import cocoex
    suite = cocoex.Suite("bbob", "instances: %d" % inst, "dimensions:%d function_indices:%d"
                         % (dim, fn))
    return suite, suite.get_problem(0)


def fopt_of(fn, dim, inst):
    """f at the instance's optimum, on a separate unobserved problem object."""
    suite, p = bbob_problem(fn, dim, inst)
    cwd = os.getcwd()
    with tempfile.TemporaryDirectory() as d:
        os.chdir(d)
        try:
            p._best_parameter("print")
            xopt = np.loadtxt("._bbob_problem_best_parameter.txt", ndmin=1)
        finally:
            os.chdir(cwd)
    f = p(xopt)
    assert p.final_target_hit, (fn, dim, inst)
    suite.free()
    return float(f)


# --------------------------------------------------------------------------
# Drivers: run(name, f, dim, budget, seed, batch_f) -> None; they stop at
# their own budget, the wrapper enforces it.
# --------------------------------------------------------------------------

def run_ctrain(name, f, dim, budget, seed, options, batch_f=None):
    import ctrain.numpy as cnp
    cls = getattr(cnp, name.split()[-1])
    x0 = np.random.default_rng(seed).uniform(-4, 4, dim)
    opts = dict(options)
    batch = bool(opts.pop("batch", False)) and batch_f is not None
    extra = {}
    if opts.pop("fd_gradient", False) and name == "ctrain HybridBFO":
        # BBOB is a black box: the hybrid's gradient is a forward difference
        # whose dim extra evaluations go through the same counting wrapper,
        # so the engine's own budget is the wrapper's divided by dim + 1.
        h = 1e-7

        def fg(x):
            fx = f(x)
            g = np.empty(dim)
            for j in range(dim):
                e = x.copy()
                e[j] += h
                g[j] = (f(e) - fx) / h
            return fx, g
        extra["jac"] = True
        budget = max(1, budget // (dim + 1))
        batch = False
    opt = cls(fg if extra else batch_f if batch else f, x0, bounds=(LOWER, UPPER), max_fe=budget, seed=seed,
              batch=batch, **extra, **opts)
    opt.minimize()


def run_niapy(f, dim, budget, seed):
    from niapy.algorithms.basic import BacterialForagingOptimization
    from niapy.problems import Problem
    from niapy.task import Task

    class P(Problem):
        def __init__(self):
            super().__init__(dimension=dim, lower=LOWER, upper=UPPER)

        def _evaluate(self, x):
            return f(x)

    algo = BacterialForagingOptimization(seed=seed)  # the package's defaults
    algo.run(Task(problem=P(), max_evals=budget))
    if algo.exception is not None and not isinstance(algo.exception, Exhausted):
        raise algo.exception


def run_mealpy(name, f, dim, budget, seed):
    import logging
    from mealpy import FloatVar
    from mealpy.swarm_based.BFO import ABFO, OriginalBFO
    logging.getLogger("mealpy").setLevel(logging.ERROR)
    cls = OriginalBFO if name.endswith("OriginalBFO") else ABFO
    model = cls(epoch=100000)  # the package's defaults; the budget stops it
    problem = dict(obj_func=f, bounds=FloatVar(lb=[LOWER] * dim, ub=[UPPER] * dim),
                   minmax="min", log_to=None)
    model.solve(problem, termination=dict(max_fe=budget), seed=seed)


def run_cma(f, dim, budget, seed):
    import cma
    rng = np.random.default_rng(seed)
    cma.fmin2(f, lambda: rng.uniform(-4, 4, dim), 2.0,
              {"maxfevals": budget, "seed": seed, "verbose": -9, "verb_log": 0,
               "verb_disp": 0, "tolfun": 1e-11},
              restarts=9, incpopsize=2)


def _ng_no_metamodel():
    """nevergrad 1.0.12's meta-model step (learn_on_k_best) calls float() on
    a 1-element array, which numpy >= 2.4 refuses with a TypeError that ends
    the run after ~100 evaluations; with that call repaired, each meta-model
    step runs an inner Powell/DE search in helper threads and a 2,000-
    evaluation NGOpt run takes minutes on this machine. So the step fails the
    way nevergrad itself lets it fail (MetaModelFailure), and NGOpt proceeds
    with its base optimizer's proposal, as it does whenever the model is not
    trusted."""
    from nevergrad.optimization import differentialevolution, metamodel, optimizerlib

    def refuse(*args, **kwargs):
        raise metamodel.MetaModelFailure("meta-model disabled by bench/bfo_bench.py")
    optimizerlib.learn_on_k_best = refuse
    metamodel.learn_on_k_best = refuse
    differentialevolution.metamodel = metamodel


def run_ngopt(f, dim, budget, seed):
    import nevergrad as ng
    _ng_no_metamodel()
    param = ng.p.Array(shape=(dim,), lower=LOWER, upper=UPPER)
    param.random_state = np.random.RandomState(seed)
    opt = ng.optimizers.NGOpt(parametrization=param, budget=budget, num_workers=1)
    opt.minimize(f)


def drive(name, f, dim, budget, seed, ctrain_options, batch_f=None):
    if name in CTRAIN:
        run_ctrain(name, f, dim, budget, seed, ctrain_options.get(name, {}), batch_f)
    elif name == "niapy BFO":
        run_niapy(f, dim, budget, seed)
    elif name.startswith("mealpy"):
        run_mealpy(name, f, dim, budget, seed)
    elif name.startswith("CMA-ES"):
        run_cma(f, dim, budget, seed)
    elif name == "nevergrad NGOpt":
        run_ngopt(f, dim, budget, seed)
    else:
        raise ValueError(name)


def run_task(task):
    fn, dim, inst, mult, name, fopt, ctrain_options = task
    budget = mult * dim
    suite, p = bbob_problem(fn, dim, inst)
    w = Counted(p, fopt, budget)
    seed = 1000 * inst + fn
    t0 = time.perf_counter()
    err = None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            drive(name, w, dim, budget, seed, ctrain_options, w.batch)
        except Exhausted:
            pass
        except Exception as e:  # a driver failure is a result, not a crash of the whole run
            err = "%s: %s" % (type(e).__name__, e)
    secs = time.perf_counter() - t0
    suite.free()
    return {"function": fn, "dim": dim, "instance": inst, "budget_mult": mult, "budget": budget,
            "optimizer": name, "evals": w.n, "best_error": w.best, "hits": w.hits,
            "refused_calls": w.overrun, "seconds": secs, "error": err}


# --------------------------------------------------------------------------
# Evaluations per second
# --------------------------------------------------------------------------

def speed(names, n_evals, ctrain_options, cbin, dim=10, reps=2):
    """Evaluations per CPU second of each driver at D=dim on a C objective (BBOB
    f1 via cocoex) and on a Python closure; the count is the objective's own.
    CPU time of this process (time.process_time), not wall time: the machine
    is shared, and CPU time is what a driver costs whatever the load."""
    rows = []
    xopt = np.random.default_rng(7).uniform(-4, 4, dim)
    cases = [("C (BBOB f1 via cocoex)", False), ("Python closure", False)]
    for name in names:  # untimed warm-up: imports, first-call caches
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                drive(name, lambda x: float(np.dot(x, x)), dim, 200, 0,
                      {k: dict(v, batch=False, fd_gradient=False) for k, v in ctrain_options.items()})
            except Exhausted:
                pass
    for name in names:
        for objective, batch in cases + ([("Python closure, batch=True (vectorized)", True)]
                                         if name in CTRAIN else []):
            best, n = 0.0, 0
            for rep in range(reps):
                box = [0]
                batch_f = None
                if objective.startswith("C"):
                    suite, p = bbob_problem(1, dim, 1)
                    f, count = p, (lambda p=p: p.evaluations)
                else:
                    def f(x, box=box):
                        box[0] += 1
                        d = x - xopt
                        return float(d @ d)

                    def batch_f(X, box=box):
                        box[0] += len(X)
                        d = X - xopt
                        return np.einsum("ij,ij->i", d, d)
                    count = (lambda box=box: box[0])
                opts = {k: dict(v, batch=batch) for k, v in ctrain_options.items()}
                for v in opts.values():
                    v.pop("fd_gradient", None)
                t0 = time.process_time()
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    try:
                        drive(name, f, dim, n_evals, 1 + rep, opts, batch_f)
                    except Exhausted:
                        pass
                secs = max(time.process_time() - t0, 1e-6)
                n = count()
                best = max(best, n / secs)
            rows.append({"driver": name, "objective": objective, "dim": dim,
                         "evals": int(n), "evals_per_s": best})
    kinds = {"ctrain BFO": "bfo", "ctrain AdaptiveBFO": "adaptive", "ctrain HybridBFO": "hybrid"}
    cnames = [n for n in names if n in CTRAIN]
    if cbin and cnames:
        from ctrain import _bfo
        argv = []
        for n in cnames:
            o = {k: v for k, v in ctrain_options.get(n, {}).items() if k not in ("batch", "fd_gradient")}
            argv.append("%s:%s" % (kinds[n], _bfo.options_text(o)))
        out = subprocess.run([cbin, str(dim), str(max(n_evals, 200000))] + argv,
                             capture_output=True, text=True, check=True)
        for line in out.stdout.splitlines():
            if line.startswith("{"):
                rows.append(json.loads(line))
    return rows


# --------------------------------------------------------------------------
# Statistics
# --------------------------------------------------------------------------

def ert(runs, k):
    """COCO's ERT to target k: evaluations of all runs / successful runs."""
    succ = sum(1 for r in runs if r["hits"][k] is not None)
    if succ == 0:
        return math.inf
    return sum(r["hits"][k] if r["hits"][k] is not None else r["evals"] for r in runs) / succ


def fmt(v):
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "—"
    if v == math.inf:
        return "∞"
    if v <= FINAL_TARGET:
        return "≤1e-8"
    return "%.2e" % v


def clamp(v):
    return max(v, FINAL_TARGET)  # errors below the final target are all "solved" (ties)


def analyse(results, names, dims, mults, functions):
    by = {}
    for r in results:
        by.setdefault((r["dim"], r["budget_mult"], r["function"], r["optimizer"]), []).append(r)
    med = {k: float(np.median([clamp(r["best_error"]) for r in v])) for k, v in by.items()}
    summary = []
    for dim in dims:
        for m in mults:
            present = [n for n in names if any((dim, m, fn, n) in med for fn in functions)]
            peers = [n for n in PEER_BFO if n in present]
            for c in [n for n in CTRAIN if n in present]:
                wins, lost = 0, []
                for fn in functions:
                    if (dim, m, fn, c) not in med:
                        continue
                    mine = med[(dim, m, fn, c)]
                    others = [med[(dim, m, fn, p)] for p in peers if (dim, m, fn, p) in med]
                    if others and all(mine < o for o in others):
                        wins += 1
                    else:
                        lost.append(fn)
                errs = [max(med[(dim, m, fn, c)], 1e-8) for fn in functions
                        if (dim, m, fn, c) in med]
                gmean = float(np.exp(np.mean(np.log(errs)))) if errs else float("inf")
                summary.append({"dim": dim, "budget_mult": m, "variant": c, "wins": wins,
                                "functions": len(functions), "not_won": lost, "peers": peers,
                                "gmean_error": gmean})
    return by, med, summary


def ecdf_plot(by, names, dims, mults, functions, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    panels = [(d, m) for d in dims for m in mults
              if any((d, m, fn, n) in by for fn in functions for n in names)]
    fig, axes = plt.subplots(1, len(panels), figsize=(6.4 * len(panels), 4.6), squeeze=False)
    styles = {"ctrain BFO": ("C0", "-"), "ctrain AdaptiveBFO": ("C1", "-"),
              "ctrain HybridBFO": ("C2", "-"), "niapy BFO": ("C3", "--"),
              "mealpy OriginalBFO": ("C4", "--"), "mealpy ABFO": ("C5", "--"),
              "CMA-ES (IPOP)": ("k", ":"), "nevergrad NGOpt": ("C7", ":")}
    runs_all = [r for v in by.values() for r in v]
    for ax, (dim, m) in zip(axes[0], panels):
        grid = np.logspace(0, math.log10(m), 200)
        for n in names:
            runs = [r for fn in functions for r in by.get((dim, m, fn, n), [])]
            if not runs:
                continue
            hits = np.array([h / dim for r in runs for h in r["hits"] if h is not None])
            total = len(runs) * len(TARGETS)
            frac = [np.count_nonzero(hits <= g) / total for g in grid]
            c, ls = styles.get(n, ("C9", "-"))
            ax.step(grid, frac, where="post", color=c, ls=ls, label=n)
        ax.set_xscale("log")
        ax.set_ylim(0, 1)
        ax.set_xlabel("function evaluations / D")
        ax.set_ylabel("fraction of (function, instance, target) pairs")
        ax.set_title("BBOB f%s, D=%d, budget %d·D, %d instance(s), 51 targets 1e2..1e-8"
                     % (rng_str(functions), dim, m,
                        len({r["instance"] for r in runs_all if r["dim"] == dim}), ), fontsize=9)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


BBOB_NAMES = ["Sphere", "Ellipsoid separable", "Rastrigin separable", "Büche-Rastrigin",
              "Linear slope", "Attractive sector", "Step ellipsoid", "Rosenbrock",
              "Rosenbrock rotated", "Ellipsoid", "Discus", "Bent cigar", "Sharp ridge",
              "Different powers", "Rastrigin", "Weierstrass", "Schaffer F7",
              "Schaffer F7 ill-cond.", "Griewank-Rosenbrock", "Schwefel", "Gallagher 101",
              "Gallagher 21", "Katsuura", "Lunacek bi-Rastrigin"]


def coverage(results, names):
    """'name n/120' per optimizer: the (dim, budget, instance) cells of the
    issue's matrix in which it ran all 24 functions."""
    fns = collections.defaultdict(set)
    for r in results:
        fns[(r["optimizer"], r["dim"], r["budget_mult"], r["instance"])].add(r["function"])
    full = 4 * 2 * 15
    return ", ".join("%s %d/%d" % (SHORT.get(n, n), sum(
        1 for (o, *_), f in fns.items() if o == n and len(f) == 24), full) for n in names)


def write_md(path, meta, results, speed_rows, names, dims, mults, functions, instances):
    by, med, summary = analyse(results, names, dims, mults, functions)
    L = []
    L.append("# The BFO family on BBOB (COCO): ctrain against niapy, mealpy, CMA-ES and NGOpt\n")
    L.append("Measured %s on %s (%s), Python %s; cocoex %s, niapy %s, mealpy %s, cma %s, "
             "nevergrad %s. Produced by:\n" % (meta["date"], meta["machine"], meta["cpus"],
                                                meta["python"], *[meta["versions"][k] for k in (
                                                    "cocoex", "niapy", "mealpy", "cma", "nevergrad")]))
    L.append("```\n%s\n```\n" % meta["command"])
    L.append("ctrain: source tree at %s, the engine of include/ctrain/bfo.h through "
             "ctrain.numpy and, for the C-API rows, bench/bfo_cbench.c.\n" % meta.get("ctrain_git", "?"))
    L.append("Wall time of that run: %.0f s with %d worker process(es). The machine is shared, "
             "so evaluations per second compare columns of one run, not runs.\n"
             % (meta["wall_seconds"], meta["jobs"]))
    L.append("**What was run**: BBOB functions %s, dimensions %s, instances %s, budgets %s "
             "evaluations; %d runs in all (%s).\n" % (
                 rng_str(functions), ", ".join(map(str, dims)), meta["instances_by_budget"],
                 ", ".join("%g·D" % m for m in mults), len(results), meta["matrix_note"]))
    L.append("The issue's whole matrix (dimensions 2, 5, 10, 20; budgets 1e3·D and 1e4·D; 15 "
             "instances; %d runs) is `python bench/bfo_bench.py --dims 2,5,10,20 --budgets "
             "1000,10000 --instances 1-15 --jobs N`. Cells of it (dimension, budget, instance, "
             "all 24 functions) in the tables, per optimizer: %s.\n"
             % (24 * 4 * 2 * 15 * len(ALL), coverage(results, names)))
    L.append("**Method.** Every optimizer calls the BBOB problem only through one counting wrapper "
             "which refuses (raises) once the budget is spent and stops a run at the final target "
             "f − f_opt ≤ 1e-8 (COCO's rule); results come from that wrapper, never from an "
             "optimizer's own counter. Final error = best f − f_opt seen within the budget; medians "
             "over instances, errors ≤ 1e-8 count as ties. ERT (COCO's expected running time) = "
             "evaluations summed over all runs / runs that reached the target. Seeds: instance i of "
             "function f runs with seed 1000·i + f for every optimizer. Bounds [-5, 5]^D for every "
             "optimizer that takes bounds (CMA-ES runs unbounded from a uniform start in [-4, 4]^D "
             "with σ0 = 2 and up to 9 IPOP restarts). Peers run with their packages' default "
             "settings: niapy BacterialForagingOptimization (population 50, step 0.1, swarming on), "
             "mealpy OriginalBFO (pop 100, Ci 0.01, Nc 5, Ns 4, Ped 0.25) and ABFO (pop 100, "
             "C_s 0.1, C_e 0.001, Ns 4), NGOpt with the budget announced (its meta-model step, "
             "which crashes under NumPy 2.4 in nevergrad 1.0.12 and, repaired, runs minutes of "
             "inner search per run, is made to fail the way nevergrad allows, "
             "MetaModelFailure, so NGOpt continues with its base optimizer). ctrain options per "
             "variant: `%s`.\n" % json.dumps(meta["ctrain_options"]))

    # Targets
    L.append("## Targets\n")
    for dim in dims:
        for m in mults:
            rows = [s for s in summary if s["dim"] == dim and s["budget_mult"] == m]
            if not rows:
                continue
            # most wins; ties go to the lower geometric mean of the median errors
            best = min(rows, key=lambda s: (-s["wins"], s["gmean_error"]))
            met = best["wins"] >= 20 * len(functions) / 24.0 and len(functions) == 24
            L.append("- D=%d, budget %g·D: ctrain's best BFO variant (%s) has a lower median final "
                     "error than every other BFO implementation (%s) on **%d of %d** functions "
                     "(target ≥ 20 of 24): **%s**. Per variant: %s. Not won by %s: %s.\n" % (
                         dim, m, best["variant"], ", ".join(best["peers"]), best["wins"],
                         best["functions"], "met" if met else ("not met" if len(functions) == 24
                                                               else "not assessed (not all 24 functions run)"),
                         ", ".join("%s %d" % (s["variant"], s["wins"]) for s in rows),
                         best["variant"], ", ".join("f%d" % f for f in best["not_won"]) or "none"))
    if speed_rows:
        c_rows = {r["driver"]: r["evals_per_s"] for r in speed_rows if r["objective"].startswith("C")}
        ct_c = {k: v for k, v in c_rows.items() if k.startswith("ctrain")}
        peer_c = {k: v for k, v in c_rows.items() if k in PEER_BFO}
        if ct_c and peer_c:
            fastest_peer = max(peer_c, key=peer_c.get)
            capi = {k: v for k, v in ct_c.items() if k.endswith("(C API)")}
            frompy = {k: v for k, v in ct_c.items() if not k.endswith("(C API)")}
            for label, group in (("through the C API (C objective called by the engine)", capi),
                                 ("from Python (ctrain.numpy, BBOB f1 through cocoex)", frompy)):
                if not group:
                    continue
                slowest = min(group, key=group.get)
                ratio = group[slowest] / peer_c[fastest_peer]
                L.append("- Evaluations per second on a C objective, ctrain %s: slowest variant "
                         "%s %.3g/s against the fastest other BFO (%s, %.3g/s) = **%.0f×** "
                         "(target ≥ 10×): **%s**.\n" % (
                             label, slowest, group[slowest], fastest_peer, peer_c[fastest_peer],
                             ratio, "met" if ratio >= 10 else "not met"))
    L.append("- CMA-ES (IPOP) and NGOpt are in the tables, where they ran (see What was run), "
             "as the reference of what a user could pick instead of any BFO.\n")

    # Median final error tables
    for dim in dims:
        for m in mults:
            present = [n for n in names if any((dim, m, fn, n) in med for fn in functions)]
            if not present:
                continue
            ni = sorted({r["instance"] for fn in functions for n in present
                         for r in by.get((dim, m, fn, n), [])})
            L.append("## Median final error f − f_opt, D=%d, budget %g·D (%d instances)\n"
                     % (dim, m, len(ni)))
            L.append("Bold: lowest median among the BFO implementations (ties at ≤1e-8 all bold).\n")
            L.append("| f | name | " + " | ".join(SHORT[n] for n in present) + " |")
            L.append("|---|---|" + "---|" * len(present))
            for fn in functions:
                vals = {n: med.get((dim, m, fn, n)) for n in present}
                bfo_vals = [v for n, v in vals.items() if n in BFO_FAMILY and v is not None]
                lo = min(bfo_vals) if bfo_vals else None
                cells = []
                for n in present:
                    v = vals[n]
                    s = fmt(v)
                    if n in BFO_FAMILY and v is not None and v == lo:
                        s = "**%s**" % s
                    cells.append(s)
                L.append("| f%d | %s | %s |" % (fn, BBOB_NAMES[fn - 1], " | ".join(cells)))
            L.append("")
            # ERT table
            ks = [TARGETS.index(t) for t in TARGETS if abs(math.log10(t) - round(math.log10(t))) < 1e-9
                  and round(math.log10(t)) in (1, -1, -8)]
            L.append("### ERT / D to reach f − f_opt ≤ 1e1 · 1e-1 · 1e-8, D=%d, budget %g·D\n" % (dim, m))
            L.append("ERT in evaluations divided by D; ∞ = no run reached the target.\n")
            L.append("| f | " + " | ".join(SHORT[n] for n in present) + " |")
            L.append("|---|" + "---|" * len(present))
            for fn in functions:
                cells = []
                for n in present:
                    runs = by.get((dim, m, fn, n), [])
                    if not runs:
                        cells.append("—")
                        continue
                    cells.append(" · ".join(
                        ("∞" if ert(runs, k) == math.inf else "%.3g" % (ert(runs, k) / dim)) for k in ks))
                L.append("| f%d | %s |" % (fn, " | ".join(cells)))
            solved = []
            for n in present:
                runs = [r for fn in functions for r in by.get((dim, m, fn, n), [])]
                solved.append("%d/%d" % (sum(1 for r in runs if r["best_error"] <= FINAL_TARGET), len(runs)))
            L.append("| runs reaching 1e-8 | " + " | ".join(solved) + " |")
            L.append("")
    L.append("## ECDF of runtimes\n")
    L.append("![ECDF](bfo.png)\n")
    L.append("Fraction of (function, instance, target) pairs solved against evaluations / D, 51 "
             "targets 10^2 … 10^-8 per run (COCO's runtime ECDF, without the bootstrapped "
             "restarts).\n")
    if speed_rows:
        L.append("## Evaluations per second (D=%d)\n" % speed_rows[0]["dim"])
        if meta.get("speed_command"):
            L.append("Measured by `%s` (same options as the runs above).\n" % meta["speed_command"])
        L.append("Evaluations per CPU second of the process (not wall time: the machine is shared "
                 "with other jobs). One run per driver with the settings above, best of two; the C objective is "
                 "BBOB f1 through cocoex (a Python call into C) for the Python drivers, and a C "
                 "sphere called by the engine itself for `ctrain C API` rows (bench/bfo_cbench.c, no "
                 "Python in the loop); the Python closure is `d = x - xopt; float(d @ d)`.\n")
        L.append("| driver | objective | evaluations | evaluations / CPU s |")
        L.append("|---|---|---|---|")
        for r in speed_rows:
            L.append("| %s | %s | %d | %.3g |" % (r["driver"], r["objective"], r["evals"], r["evals_per_s"]))
        L.append("")
    over = {}
    for r in results:
        if r.get("refused_calls"):
            over[r["optimizer"]] = over.get(r["optimizer"], 0) + 1
    L.append("## Budget accounting\n")
    L.append("Runs in which the driver asked for more evaluations than the budget (the wrapper "
             "refused the call and ended the run; the refused calls count nowhere): %s. mealpy "
             "checks its max_fe only at the end of an epoch, CMA-ES's maxfevals only between "
             "generations.\n" % (", ".join("%s %d of %d" % (n, over[n], sum(
                 1 for r in results if r["optimizer"] == n)) for n in names if n in over) or "none"))
    fails = [r for r in results if r["error"]]
    if fails:
        L.append("## Driver errors\n")
        for r in fails[:20]:
            L.append("- %s f%d D=%d i%d: %s" % (r["optimizer"], r["function"], r["dim"], r["instance"], r["error"]))
        L.append("")
    with open(path, "w") as fh:
        fh.write("\n".join(L))
    return summary


def rng_str(xs):
    xs = sorted(xs)
    if xs == list(range(xs[0], xs[-1] + 1)) and len(xs) > 2:
        return "%d–%d" % (xs[0], xs[-1])
    return ", ".join(map(str, xs))


def parse_range(s):
    out = []
    for part in s.split(","):
        if "-" in part:
            a, b = part.split("-")
            out.extend(range(int(a), int(b) + 1))
        elif part:
            out.append(int(part))
    return out


def git_rev():
    try:
        rev = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True,
                             text=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", ROOT, "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True).stdout.strip()
        return rev + ("+ (uncommitted changes)" if dirty else "")
    except OSError:
        return "?"


def versions():
    import importlib.metadata as md
    v = {}
    for k, dist in (("cocoex", "coco-experiment"), ("niapy", "niapy"), ("mealpy", "mealpy"),
                    ("cma", "cma"), ("nevergrad", "nevergrad"), ("numpy", "numpy")):
        try:
            v[k] = md.version(dist)
        except md.PackageNotFoundError:
            v[k] = "?"
    return v


def render(path, out):
    with open(path) as fh:
        data = json.load(fh)
    meta, runs, speed_rows = data["meta"], data["runs"], data["speed"]
    for r in runs:
        if r["best_error"] is None:
            r["best_error"] = math.inf
    names = [n for n in ALL if any(r["optimizer"] == n for r in runs)]
    dims = sorted({r["dim"] for r in runs})
    mults = sorted({r["budget_mult"] for r in runs})
    functions = sorted({r["function"] for r in runs})
    insts = sorted({r["instance"] for r in runs})
    write_md(os.path.join(out, "bfo.md"), meta, runs, speed_rows, names, dims, mults, functions, insts)
    by = analyse(runs, names, dims, mults, functions)[0]
    ecdf_plot(by, names, dims, mults, functions, os.path.join(out, "bfo.png"))
    print("rendered %s/bfo.{md,png} from %s" % (out, path))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="D=2, 500·D, 1 instance, 3 functions, small speed runs (< 60 s)")
    ap.add_argument("--dims", default="10")
    ap.add_argument("--budgets", default="1000", help="budgets as multiples of D (1000,10000)")
    ap.add_argument("--instances", default="1-3", help="instances for every budget (1-15)")
    ap.add_argument("--instances-large", default=None,
                    help="instances for budgets above the smallest (default: --instances)")
    ap.add_argument("--functions", default="1-24")
    ap.add_argument("--optimizers", default=",".join(ALL),
                    help="comma-separated names or short names (%s)" % ", ".join(SHORT.values()))
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--out", default=os.path.join(ROOT, "docs", "benchmarks"))
    ap.add_argument("--cbin", default=None, help="bench/bfo_cbench.c binary (ctrain_bfo_bench)")
    ap.add_argument("--no-speed", action="store_true")
    ap.add_argument("--speed-evals", type=int, default=5000)
    ap.add_argument("--ctrain-options", default=None, help="JSON {variant: {option: value}}")
    ap.add_argument("--matrix-note", default="the full matrix of the options above")
    ap.add_argument("--resume", action="store_true",
                    help="keep the runs already in --out/bfo.runs.jsonl and do only the others")
    ap.add_argument("--speed-only", action="store_true",
                    help="measure evaluations per second only, store them in --out/bfo.json "
                         "(which must exist) and re-render bfo.md and bfo.png")
    ap.add_argument("--render", metavar="JSON", default=None,
                    help="rewrite bfo.md and bfo.png in --out from an earlier run's bfo.json")
    args = ap.parse_args()
    if args.render:
        render(args.render, args.out)
        return
    if args.speed_only:
        path = os.path.join(args.out, "bfo.json")
        with open(path) as fh:
            data = json.load(fh)
        opts = data["meta"]["ctrain_options"]
        names = [n for n in ALL if n in {r["optimizer"] for r in data["runs"]}]
        data["speed"] = speed(names, args.speed_evals, opts, args.cbin)
        data["meta"]["speed_command"] = "python " + " ".join(
            shlex.quote(a) for a in [os.path.relpath(sys.argv[0], ROOT)] + sys.argv[1:])
        with open(path, "w") as fh:
            json.dump(data, fh, indent=1, allow_nan=False)
        render(path, args.out)
        return
    t_start = time.perf_counter()
    if args.quick:
        dims, mults, insts, insts_large = [2], [500], [1], None
        functions = [1, 8, 15]
        speed_evals = 1000
        if args.out == os.path.join(ROOT, "docs", "benchmarks"):
            args.out = os.path.join(ROOT, "build", "bench-quick")
    else:
        dims = parse_range(args.dims)
        mults = [int(float(b)) for b in args.budgets.split(",")]
        insts = parse_range(args.instances)
        insts_large = parse_range(args.instances_large) if args.instances_large else None
        functions = parse_range(args.functions)
        speed_evals = args.speed_evals
    rev = {v: k for k, v in SHORT.items()}
    names = []
    for n in args.optimizers.split(","):
        n = n.strip()
        n = rev.get(n, n)
        if n not in ALL:
            ap.error("unknown optimizer %r" % n)
        names.append(n)
    ctrain_options = {k: dict(v) for k, v in CTRAIN_OPTIONS.items()}
    if args.ctrain_options:
        for k, v in json.loads(args.ctrain_options).items():
            ctrain_options[rev.get(k, k)] = v
    os.makedirs(args.out, exist_ok=True)

    # f_opt of every (function, dim, instance), in this process
    all_insts = sorted(set(insts) | set(insts_large or []))
    fopt = {(fn, d, i): fopt_of(fn, d, i) for fn in functions for d in dims for i in all_insts}
    tasks = []
    for d in dims:
        for mi, m in enumerate(sorted(mults)):
            ii = insts if (mi == 0 or insts_large is None) else insts_large
            for i in ii:
                for fn in functions:
                    for n in names:  # interleaved: every optimizer sees the same machine load
                        tasks.append((fn, d, i, m, n, fopt[(fn, d, i)], ctrain_options))
    # instance by instance (a stopped run leaves whole instances behind), the
    # longest budgets first within an instance
    tasks.sort(key=lambda t: (t[2], -t[1] * t[3]))
    # every finished run is appended to a checkpoint; --resume reuses it
    ckpt = os.path.join(args.out, "bfo.runs.jsonl")
    results = []
    if args.resume and os.path.exists(ckpt):
        with open(ckpt) as fh:
            for line in fh:
                r = json.loads(line)
                r["best_error"] = math.inf if r["best_error"] is None else r["best_error"]
                results.append(r)
        done = {(r["function"], r["dim"], r["instance"], r["budget_mult"], r["optimizer"])
                for r in results}
        tasks = [t for t in tasks if tuple(t[:5]) not in done]
    t0 = time.perf_counter()
    with open(ckpt, "a" if args.resume else "w") as ck:
        def keep(k, r):
            results.append(r)
            ck.write(json.dumps(dict(r, best_error=None if r["best_error"] == math.inf
                                     else r["best_error"])) + "\n")
            ck.flush()
            if (k + 1) % 25 == 0:
                print("  %d/%d runs, %.0f s" % (k + 1, len(tasks), time.perf_counter() - t0),
                      file=sys.stderr, flush=True)
        if args.jobs > 1:
            with mp.get_context("fork").Pool(args.jobs) as pool:
                for k, r in enumerate(pool.imap(run_task, tasks)):
                    keep(k, r)
        else:
            for k, t in enumerate(tasks):
                keep(k, run_task(t))
    results.sort(key=lambda r: (r["dim"], r["budget_mult"], r["function"], r["instance"],
                                ALL.index(r["optimizer"])))
    speed_rows = [] if args.no_speed else speed(names, speed_evals, ctrain_options, args.cbin,
                                                reps=1 if args.quick else 2)
    cmd = " ".join(shlex.quote(a) for a in [os.path.relpath(sys.argv[0], ROOT)] + sys.argv[1:])
    inst_note = ", ".join("%g·D: %s" % (m, rng_str(insts if (mi == 0 or insts_large is None) else insts_large))
                          for mi, m in enumerate(sorted(mults)))
    meta = {"date": datetime.date.today().isoformat(), "machine": platform.machine(),
            "cpus": "%d CPUs" % os.cpu_count(), "python": platform.python_version(),
            "versions": versions(), "command": "python " + cmd,
            "wall_seconds": time.perf_counter() - t_start, "jobs": args.jobs,
            "instances_by_budget": inst_note, "ctrain_options": ctrain_options,
            "matrix_note": args.matrix_note, "targets": TARGETS, "ctrain_git": git_rev()}
    summary = write_md(os.path.join(args.out, "bfo.md"), meta, results, speed_rows, names, dims,
                       sorted(mults), functions, all_insts)
    meta["wall_seconds"] = time.perf_counter() - t_start
    # rewrite with the final wall time (the md above already holds everything else)
    write_md(os.path.join(args.out, "bfo.md"), meta, results, speed_rows, names, dims,
             sorted(mults), functions, all_insts)
    by = analyse(results, names, dims, sorted(mults), functions)[0]
    ecdf_plot(by, names, dims, sorted(mults), functions, os.path.join(args.out, "bfo.png"))
    clean = [dict(r, best_error=None if r["best_error"] == math.inf else r["best_error"])
             for r in results]
    with open(os.path.join(args.out, "bfo.json"), "w") as fh:
        json.dump({"meta": meta, "summary": summary, "speed": speed_rows, "runs": clean}, fh,
                  indent=1, allow_nan=False)
    os.remove(ckpt)  # everything is in bfo.json now
    for s in summary:
        print("D=%d %g·D %s: beats every other BFO on %d/%d functions" % (
            s["dim"], s["budget_mult"], s["variant"], s["wins"], s["functions"]))
    for r in speed_rows:
        print("%-24s %-26s %10.3g evals/s" % (r["driver"], r["objective"], r["evals_per_s"]))
    print("wrote %s/bfo.{json,md,png} in %.1f s" % (args.out, time.perf_counter() - t_start))


if __name__ == "__main__":
    main()
