"""Bacterial foraging optimization (BFO, AdaptiveBFO, HybridBFO): the ctypes
binding of include/ctrain/bfo.h and the NumPy front end.

API (docs/bfo.md has the full page):

    ctrain.numpy.BFO(fn, x0, bounds=None, max_fe=None, seed=0, batch=False,
                     threads=None, **options)
    ctrain.numpy.AdaptiveBFO(...)        same, plus adaptation_rate,
                                         diversity_threshold,
                                         min_population_size, max_population_size
    ctrain.numpy.HybridBFO(fn, x0, grad=None, jac=False, ...)
                                         plus gradient_weight, momentum
        fn(x) -> float for a 1-D float64 vector x, or with batch=True
        fn(X) -> n fitnesses for an (n, dim) array X.
        HybridBFO: grad(x) -> gradient (batch: grad(X) -> (n, dim)), or jac=True
        and fn returns (f, g) (batch: (F, G)).
        bounds: None, (lo, hi) scalars, or (lo[dim], hi[dim]).
        .step() -> best fitness after one step; .minimize(max_steps=None)
        -> (best_x, best_f), stepping until the budget (max_fe) is spent or
        early stopping ends it; attributes best_params, best_fitness, n_evals,
        population, population_fitness, fitness_history, diversity_history,
        stopped; compute_diversity(); set_options(**kw); state_dict() /
        load_state_dict().

    ctrain.optim.BFO / AdaptiveBFO / HybridBFO (python/ctrain/_bfo_torch.py):
        torch.optim.Optimizer subclasses, step(closure, max_fe=None).

Note for code written against this module (a deviation from the brief, for a
reason): the torch classes live in _bfo_torch.py, not here, so that
`import ctrain.numpy` keeps working without PyTorch installed; ctrain.optim
re-exports them.

Options (same names, defaults and ranges as the C engine; see
include/ctrain/bfo.h): population_size, chemotaxis_steps, swim_length,
reproduction_steps, elimination_steps, elimination_prob, step_size_max,
step_size_min, step_schedule, variant, levy_alpha, swarming, d_attract,
w_attract, h_repellant, w_repellant, bound_handling, init_scale, max_fe,
seed, early_stop_window, early_stop_tol, restart, social_prob. `elim_prob` is accepted as
an alias of elimination_prob (the older package's guide spells it so).
"""
import ctypes

import numpy as np

from . import _lib

lib = _lib.lib

_P, _S, _I, _D = ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_double
_DP = ctypes.POINTER(ctypes.c_double)
FITNESS_FN = ctypes.CFUNCTYPE(_I, _P, _DP, _S, _S, _DP)
GRAD_FN = ctypes.CFUNCTYPE(_I, _P, _DP, _S, _S, _DP, _DP)


class _Stats(ctypes.Structure):
    _fields_ = [
        ("n_evals", ctypes.c_uint64),
        ("n_steps", ctypes.c_uint64),
        ("n_generations", ctypes.c_uint64),
        ("n_restarts", ctypes.c_uint64),
        ("rng_counter", ctypes.c_uint64),
        ("population_size", _S),
        ("best_fitness", _D),
        ("diversity", _D),
        ("step_size", _D),
        ("elimination_prob", _D),
        ("stopped", _I),
        ("initialized", _I),
    ]


_SIG = {
    "ct_bfo_create": ([ctypes.POINTER(_P), ctypes.c_char_p, _S, ctypes.c_char_p], _I),
    "ct_bfo_destroy": ([_P], None),
    "ct_bfo_errmsg": ([_P], ctypes.c_char_p),
    "ct_bfo_set_options": ([_P, ctypes.c_char_p], _I),
    "ct_bfo_get_option": ([_P, ctypes.c_char_p, _DP], _I),
    "ct_bfo_set_fitness": ([_P, FITNESS_FN, _P, _I], _I),
    "ct_bfo_set_gradient": ([_P, GRAD_FN, _P, _I], _I),
    "ct_bfo_callback_fail": ([_P, ctypes.c_char_p], None),
    "ct_bfo_callback_fail_after": ([_P, ctypes.c_char_p, ctypes.c_size_t], None),
    "ct_bfo_set_threads": ([_P, _I], _I),
    "ct_bfo_set_bounds": ([_P, _DP, _DP], _I),
    "ct_bfo_step": ([_P, _DP, ctypes.c_uint64, _DP], _I),
    "ct_bfo_reinit": ([_P], _I),
    "ct_bfo_best": ([_P, _DP, _DP], _I),
    "ct_bfo_best_grad": ([_P, _DP, ctypes.POINTER(_I)], _I),
    "ct_bfo_stats_get": ([_P, ctypes.POINTER(_Stats)], _I),
    "ct_bfo_population": (
        [_P, ctypes.POINTER(_DP), ctypes.POINTER(_DP), ctypes.POINTER(_DP), ctypes.POINTER(_S)],
        _I,
    ),
    "ct_bfo_diversity": ([_P, _DP], _I),
    "ct_bfo_state_size": ([_P, ctypes.POINTER(_S)], _I),
    "ct_bfo_state_save": ([_P, ctypes.c_void_p, _S], _I),
    "ct_bfo_state_load": ([_P, ctypes.c_void_p, _S], _I),
}
for _name, (_args, _res) in _SIG.items():
    _f = getattr(lib, _name)
    _f.argtypes = _args
    _f.restype = _res

CT_EINVAL = 1

# Option names, defaults (as the C engine's) and the kinds that have them.
COMMON = {
    "population_size": 50,
    "chemotaxis_steps": 10,
    "swim_length": 4,
    "reproduction_steps": 4,
    "elimination_steps": 2,
    "elimination_prob": 0.25,
    # None: not given; the engine picks the default (relative to the domain
    # bounds when they are set, else 0.1 / 1e-4; read it with get_option)
    "step_size_max": None,
    "step_size_min": None,
    "step_schedule": "adaptive",
    "variant": "enhanced",
    "levy_alpha": 1.5,
    "swarming": False,
    "d_attract": 0.1,
    "w_attract": 0.2,
    "h_repellant": 0.1,
    "w_repellant": 10.0,
    "bound_handling": "clamp",
    "init_scale": 0.1,
    "max_fe": None,
    "seed": 0,
    "early_stop_window": 0,
    "early_stop_tol": 1e-10,
    "restart": True,
    "social_prob": 0.5,
}
ADAPTIVE = {
    "adaptation_rate": 0.1,
    "diversity_threshold": 1e-3,
    "min_population_size": 10,
    "max_population_size": 100,
}
HYBRID = {"gradient_weight": 0.5, "momentum": 0.9}
ENUMS = {
    "step_schedule": ("constant", "linear", "exponential", "adaptive"),
    "variant": ("classic", "enhanced"),
    "bound_handling": ("clamp", "reflect"),
}
INTS = {
    "population_size", "chemotaxis_steps", "swim_length", "reproduction_steps",
    "elimination_steps", "max_fe", "seed", "early_stop_window", "min_population_size",
    "max_population_size",
}
ALIASES = {"elim_prob": "elimination_prob"}


def option_defaults(kind):
    d = dict(COMMON)
    if kind == "adaptive":
        d.update(ADAPTIVE)
    if kind == "hybrid":
        d.update(HYBRID)
    return d


def fmt_option(key, v):
    """One option as the C parser reads it; raises ValueError for values
    that cannot be written as that option (the C side checks ranges)."""
    if key == "max_fe" and v is None:
        v = 0
    if key in ENUMS:
        if not isinstance(v, str):
            raise ValueError(f"{key}={v!r} is invalid: must be one of {', '.join(ENUMS[key])}")
        return f"{key}={v}"
    if isinstance(v, bool):
        return f"{key}={'true' if v else 'false'}"
    if hasattr(v, "item"):  # 0-d tensors and NumPy scalars
        v = v.item()
    if key in INTS:
        if isinstance(v, float) and v.is_integer():
            v = int(v)
        if not isinstance(v, int):
            raise ValueError(f"{key}={v!r} is invalid: must be an integer")
        return f"{key}={v}"
    if not isinstance(v, (int, float)):
        raise ValueError(f"{key}={v!r} is invalid: must be a number")
    return f"{key}={float(v)!r}"


STEP_DEFAULTS = ("step_size_max", "step_size_min")  # None = the engine's default


def options_text(opts):
    return " ".join(fmt_option(k, v) for k, v in opts.items()
                    if not (k in STEP_DEFAULTS and v is None))


def split_options(kind, cls, kwargs):
    """(options dict with every default, unknown-key check) for a front end."""
    opts = option_defaults(kind)
    for k, v in kwargs.items():
        k2 = ALIASES.get(k, k)
        if k2 not in opts:
            raise TypeError(f"{cls}: unknown option {k!r}; options are {', '.join(sorted(opts))}")
        opts[k2] = v
    if kind == "adaptive":
        # population bounds not given widen to hold the population asked for,
        # so AdaptiveBFO(params, population_size=8) works as BFO's does
        S = opts["population_size"]
        if isinstance(S, int) and not isinstance(S, bool):
            if "min_population_size" not in kwargs:
                opts["min_population_size"] = min(ADAPTIVE["min_population_size"], max(S, 2))
            if "max_population_size" not in kwargs:
                opts["max_population_size"] = max(ADAPTIVE["max_population_size"], S)
    return opts


def _as_bounds(bounds, dim, cls):
    if bounds is None:
        return None
    try:
        lo, hi = bounds
    except (TypeError, ValueError):
        raise ValueError(f"{cls}: bounds/domain_bounds must be None or a pair (lo, hi)") from None
    out = []
    for name, v in (("lo", lo), ("hi", hi)):
        try:
            a = np.asarray(_tonp(v), dtype=np.float64)
        except (TypeError, ValueError):
            raise ValueError(f"{cls}: bounds/domain_bounds {name} must be a number or an array "
                             f"of numbers, got {type(v).__name__}") from None
        if a.size not in (1, dim):
            raise ValueError(f"{cls}: bounds/domain_bounds {name} has {a.size} values (shape "
                             f"{a.shape}); give one for every one of the {dim} parameter "
                             "elements, or a single number for all")
        out.append(np.broadcast_to(a.reshape(-1), (dim,)).copy())
    return out[0], out[1]


def fitness_values(v, n):
    """The objective's values for n points as a float64 array: numbers only
    (a None, a string or an object is refused, not converted)."""
    a = np.asarray(v)
    if a.dtype.kind not in "biuf":
        what = v
        if isinstance(v, (list, tuple)) and v:  # the first value that is no number
            what = next((x for x in v if np.asarray(x).dtype.kind not in "biuf"), v[0])
        raise TypeError(f"the objective returned {type(what).__name__} {what!r:.60}; it must "
                        "return a number per point (a float or a one-element tensor)")
    a = a.astype(np.float64, copy=False).reshape(-1)
    if a.shape[0] != n:
        raise ValueError(f"the objective returned {a.shape[0]} values for {n} points")
    return a


def _tonp(v):
    if hasattr(v, "detach"):  # a torch tensor
        return v.detach().cpu().double().reshape(-1).numpy()
    return v


class Engine:
    """One ct_bfo handle with a Python objective. `batch_fn(X) -> F` (and
    for the hybrid kind `batch_grad_fn(X) -> (F, G)`) are called with an
    (n, dim) float64 array (a view of C memory, valid during the call only).
    An exception raised inside them aborts the step; step() re-raises it
    unchanged after the engine has rolled back."""

    def __init__(self, kind, dim, options, threads=None):
        h = ctypes.c_void_p()
        st = lib.ct_bfo_create(ctypes.byref(h), kind.encode(), int(dim), options.encode())
        if st:
            raise ValueError("ctrain: %s" % lib.ct_errmsg().decode())
        self.h = h
        self.kind = kind
        self.dim = int(dim)
        self._exc = None
        self._fn = None
        self._gfn = None
        # an evaluator that calls the objective point by point sets this to
        # the points it finished before raising: only those count in n_evals
        self.rows_done = None
        self._cfn = FITNESS_FN(self._fitness_tramp)
        self._cgfn = GRAD_FN(self._grad_tramp)
        self._check(lib.ct_bfo_set_fitness(h, self._cfn, None, 0))
        threads = _lib.get_num_threads() if threads is None else threads
        if threads != 1:
            self._check(lib.ct_bfo_set_threads(h, int(threads)))

    def __del__(self):
        h = getattr(self, "h", None)
        if h is not None and lib is not None:
            lib.ct_bfo_destroy(h)
            self.h = None

    def _check(self, st, exc=ValueError):
        if st:
            msg = lib.ct_bfo_errmsg(self.h).decode()
            if st != CT_EINVAL:
                raise _lib.CtrainError(st, "ctrain: %s" % msg)
            raise exc("ctrain: %s" % msg)

    # ---- callbacks ---------------------------------------------------------
    def _fail(self, e):
        self._exc = e
        msg = ("Python objective raised %s: %s" % (type(e).__name__, e)).encode(
            errors="replace")[:400]
        if self.rows_done is None:  # a batch function: every row counts
            lib.ct_bfo_callback_fail(self.h, msg)
        else:
            lib.ct_bfo_callback_fail_after(self.h, msg, self.rows_done)
        return CT_EINVAL

    def _fitness_tramp(self, ctx, x, n, dim, out):
        self.rows_done = None
        try:
            X = np.ctypeslib.as_array(x, shape=(n, dim))
            F = fitness_values(self._fn(X), n)
            np.ctypeslib.as_array(out, shape=(n,))[:] = F
            return 0
        except BaseException as e:  # noqa: B036 — re-raised by step()
            return self._fail(e)

    def _grad_tramp(self, ctx, x, n, dim, out, gout):
        self.rows_done = None
        try:
            X = np.ctypeslib.as_array(x, shape=(n, dim))
            F, G = self._gfn(X)
            F = fitness_values(F, n)
            G = np.asarray(G, dtype=np.float64).reshape(n, dim)
            np.ctypeslib.as_array(out, shape=(n,))[:] = F
            np.ctypeslib.as_array(gout, shape=(n, dim))[:] = G
            return 0
        except BaseException as e:  # noqa: B036
            return self._fail(e)

    def set_fitness(self, batch_fn):
        self._fn = batch_fn

    def set_gradient(self, batch_grad_fn):
        self._gfn = batch_grad_fn
        if batch_grad_fn is None:
            self._check(lib.ct_bfo_set_gradient(self.h, GRAD_FN(), None, 0))
        else:
            self._check(lib.ct_bfo_set_gradient(self.h, self._cgfn, None, 0))

    # ---- calls -------------------------------------------------------------
    def set_options(self, text):
        self._check(lib.ct_bfo_set_options(self.h, text.encode()))

    def get_option(self, key):
        v = ctypes.c_double()
        self._check(lib.ct_bfo_get_option(self.h, key.encode(), ctypes.byref(v)))
        return v.value

    def set_bounds(self, bounds):
        if bounds is None:
            self._check(lib.ct_bfo_set_bounds(self.h, None, None))
            return
        lo, hi = bounds
        self._check(lib.ct_bfo_set_bounds(self.h, lo.ctypes.data_as(_DP), hi.ctypes.data_as(_DP)))

    def step(self, x, max_fe_step=0):
        """x: float64 C-contiguous (dim,), written with best_params."""
        self._exc = None
        best = ctypes.c_double()
        st = lib.ct_bfo_step(self.h, x.ctypes.data_as(_DP), int(max_fe_step or 0),
                             ctypes.byref(best))
        if st:
            exc, self._exc = self._exc, None
            if exc is not None:
                raise exc
            self._check(st, _lib.CtrainError)
        return best.value

    def reinit(self):
        self._check(lib.ct_bfo_reinit(self.h))

    def best(self):
        x = np.empty(self.dim, np.float64)
        f = ctypes.c_double()
        self._check(lib.ct_bfo_best(self.h, x.ctypes.data_as(_DP), ctypes.byref(f)))
        return x, f.value

    def best_grad(self):
        """The gradient at best_params (hybrid kind), or None if unknown."""
        g = np.empty(self.dim, np.float64)
        known = _I()
        self._check(lib.ct_bfo_best_grad(self.h, g.ctypes.data_as(_DP), ctypes.byref(known)))
        return g if known.value else None

    def stats(self):
        s = _Stats()
        self._check(lib.ct_bfo_stats_get(self.h, ctypes.byref(s)))
        return {k: getattr(s, k) for k, _ in _Stats._fields_}

    def population(self):
        """Copies: (x (n, dim), fitness (n,), step sizes (n,))."""
        px, pf, ps, n = _DP(), _DP(), _DP(), ctypes.c_size_t()
        self._check(lib.ct_bfo_population(self.h, ctypes.byref(px), ctypes.byref(pf),
                                          ctypes.byref(ps), ctypes.byref(n)))
        n = n.value
        if n == 0 or not px:
            return (np.zeros((0, self.dim)), np.zeros(0), np.zeros(0))
        return (np.ctypeslib.as_array(px, shape=(n, self.dim)).copy(),
                np.ctypeslib.as_array(pf, shape=(n,)).copy(),
                np.ctypeslib.as_array(ps, shape=(n,)).copy())

    def diversity(self):
        v = ctypes.c_double()
        self._check(lib.ct_bfo_diversity(self.h, ctypes.byref(v)))
        return v.value

    def save(self):
        n = ctypes.c_size_t()
        self._check(lib.ct_bfo_state_size(self.h, ctypes.byref(n)))
        buf = ctypes.create_string_buffer(n.value)
        self._check(lib.ct_bfo_state_save(self.h, buf, n.value))
        return buf.raw

    def load(self, data):
        data = bytes(data)
        buf = ctypes.create_string_buffer(data, len(data))
        self._check(lib.ct_bfo_state_load(self.h, buf, len(data)))


# ---- NumPy front end ----------------------------------------------------------


def pointwise(engine, fn, X):
    """[fn(row) for each row of X]; when fn raises, tells engine how many
    rows were evaluated (they, and only they, count in n_evals)."""
    out = []
    try:
        for i in range(X.shape[0]):
            out.append(fn(X[i].copy()))
    except BaseException:
        engine.rows_done = len(out)
        raise
    return out


class _NumpyBFO:
    _kind = "bfo"

    def __init__(self, fn, x0, bounds=None, max_fe=None, seed=0, batch=False, threads=None,
                 **options):
        cls = type(self).__name__
        if not callable(fn):
            raise TypeError(f"ctrain.numpy.{cls}: fn must be callable")
        x = np.array(x0, dtype=np.float64).reshape(-1)
        if x.size == 0:
            raise ValueError(f"ctrain.numpy.{cls}: x0 is empty")
        self._x = np.ascontiguousarray(x)
        self.dim = x.size
        self.options = split_options(self._kind, f"ctrain.numpy.{cls}",
                                     dict(options, max_fe=max_fe, seed=seed))
        self._engine = Engine(self._kind, self.dim, options_text(self.options), threads)
        self._bounds = _as_bounds(bounds, self.dim, f"ctrain.numpy.{cls}")
        self._engine.set_bounds(self._bounds)
        self.fn = fn
        self.batch = bool(batch)
        if self.batch:
            self._engine.set_fitness(lambda X: fn(X))
        else:
            self._engine.set_fitness(lambda X: pointwise(self._engine, fn, X))
        self.fitness_history = []
        self.diversity_history = []

    def set_options(self, **kw):
        """Changes options (all or nothing); they take effect at the next step."""
        new = split_options(self._kind, f"ctrain.numpy.{type(self).__name__}", dict(self.options))
        for k, v in kw.items():
            k2 = ALIASES.get(k, k)
            if k2 not in new:
                raise TypeError(f"unknown option {k!r}")
            new[k2] = v
        self._engine.set_options(options_text(new))
        self.options = new

    def step(self, max_fe=None):
        """One BFO step; returns the best fitness so far."""
        f = self._engine.step(self._x, max_fe or 0)
        self.fitness_history.append(f)
        self.diversity_history.append(self._engine.diversity())
        return f

    def minimize(self, max_steps=None):
        """Steps until the budget is spent, early stopping ends the run, or
        max_steps steps were made; returns (best_x, best_f)."""
        if not self.options.get("max_fe") and not self.options.get("early_stop_window") \
                and max_steps is None:
            raise ValueError(f"ctrain.numpy.{type(self).__name__}.minimize: give max_fe, "
                             "early_stop_window or max_steps, or it would never end")
        k = 0
        while not self.stopped and (max_steps is None or k < max_steps):
            self.step()
            k += 1
        return self.best_params, self.best_fitness

    @property
    def stopped(self):
        return bool(self._engine.stats()["stopped"])

    @property
    def best_params(self):
        return self._engine.best()[0]

    @property
    def best_fitness(self):
        return self._engine.best()[1]

    @property
    def n_evals(self):
        return int(self._engine.stats()["n_evals"])

    @property
    def stats(self):
        return self._engine.stats()

    @property
    def population(self):
        return self._engine.population()[0]

    @property
    def population_fitness(self):
        return self._engine.population()[1]

    def compute_diversity(self):
        """Mean Euclidean distance of the bacteria from their centroid."""
        return self._engine.diversity()

    _compute_diversity = compute_diversity

    def state_dict(self):
        return {"engine": self._engine.save(), "options": dict(self.options),
                "fitness_history": list(self.fitness_history),
                "diversity_history": list(self.diversity_history)}

    def load_state_dict(self, sd):
        self._engine.load(sd["engine"])  # options included, exactly as saved
        self.options = dict(sd["options"])
        self.fitness_history = list(sd["fitness_history"])
        self.diversity_history = list(sd["diversity_history"])
        self._x[:] = self.best_params if self._engine.stats()["initialized"] else self._x


class BFO(_NumpyBFO):
    """Bacterial foraging optimization of fn over a float64 vector
    (include/ctrain/bfo.h, docs/bfo.md)."""

    _kind = "bfo"


class AdaptiveBFO(_NumpyBFO):
    """BFO adapting step size, elimination probability and population size."""

    _kind = "adaptive"


class HybridBFO(_NumpyBFO):
    """BFO whose tumbles follow the (momentum) gradient with gradient_weight."""

    _kind = "hybrid"

    @property
    def best_grad(self):
        """The gradient returned with best_fitness, at best_params (None
        before the first evaluation or without grad/jac)."""
        return self._engine.best_grad()

    def __init__(self, fn, x0, grad=None, jac=False, bounds=None, max_fe=None, seed=0,
                 batch=False, threads=None, **options):
        super().__init__(fn if not jac else (lambda *a: fn(*a)[0]), x0, bounds=bounds,
                         max_fe=max_fe, seed=seed, batch=batch, threads=threads, **options)
        if grad is None and not jac:
            return
        if batch:
            if jac:
                gf = fn
            else:
                def gf(X):
                    return fn(X), grad(X)
        else:
            def one(x):
                if jac:
                    f, g = fn(x)
                else:
                    f, g = fn(x), grad(x)
                return float(f), np.asarray(g, dtype=np.float64).reshape(-1)

            def gf(X):
                rs = pointwise(self._engine, one, X)
                return [r[0] for r in rs], np.stack([r[1] for r in rs])
        self._engine.set_gradient(gf)
