"""ctrain.optim.BFO, AdaptiveBFO, HybridBFO: bacterial foraging optimization
as torch.optim.Optimizer subclasses, run by the C engine (include/ctrain/bfo.h).

    opt = ctrain.optim.BFO(model.parameters(), population_size=20, seed=0)
    def closure():
        return loss_fn(model(x), y)          # float or 0-d tensor
    best = opt.step(closure)                 # params now hold best_params

Every parameter of every group is one flat float64 vector for the engine
(float32, float64, bfloat16 and float16 CPU parameters are copied in and
out). The closure runs with grad enabled, once per bacterium evaluation, on
parameters holding the bacterium's position; it may call loss.backward():
HybridBFO sets each parameter's .grad to None before the closure and reads it
after the closure as the gradient at that point (a parameter without .grad
counts as zero gradient), so gradients of different points never add up.
After a step its .grad is the gradient the closure left at best_params.

process_group (a torch.distributed group, e.g. dist.group.WORLD): the ranks
share one population. Each rank evaluates its share of every batch of
bacteria (rows rank, rank + world, ...) and one all_reduce gives every rank
every value, so all ranks take the same steps, with the same bits as one
process evaluating alone, in about 1/world of the closure calls each. Every
rank must build the optimizer with the same options and seed and call step
as often; the first step starts every rank from the first rank's
parameters. A closure raising on one rank makes every rank raise (that rank
its own exception, the others a RuntimeError) and roll the step back.

Hyperparameters live in param_groups (read from group 0; every group must
hold the same BFO options), so a schedule may change
opt.param_groups[0]["step_size_max"] or ["elimination_prob"] between steps
and the next step uses them. `lr` is kept in the groups for schedulers and
trainers that expect it; BFO does not use it.
"""
import numpy as np
import torch
import torch.distributed as dist

from . import _bfo, _lib

_FLOATS = (torch.float32, torch.float64, torch.bfloat16, torch.float16)


class _TorchBFO(torch.optim.Optimizer):
    _kind = "bfo"

    def __init__(self, params, lr=0.01, domain_bounds=None, process_group=None, **options):
        cls = type(self).__name__
        opts = _bfo.split_options(self._kind, f"ctrain.optim.{cls}", options)
        defaults = dict(lr=lr, domain_bounds=domain_bounds, **opts)
        self._pg = process_group
        self._engine = None
        self._started = False
        self._closure = None
        self.fitness_history = []
        self.diversity_history = []
        super().__init__(params, defaults)
        self._build()

    # ---- setup ---------------------------------------------------------------
    def _cls(self):
        return type(self).__name__

    def add_param_group(self, param_group):
        if getattr(self, "_started", False):
            raise RuntimeError(f"ctrain.optim.{self._cls()}: parameters cannot be added after "
                               "the first step (the population lives in their joint space)")
        ps = param_group.get("params")
        if not isinstance(ps, (torch.Tensor, set)) and ps is not None:  # torch refuses sets
            ps = param_group["params"] = list(ps)
            if len({id(p) for p in ps}) != len(ps):
                raise ValueError(f"ctrain.optim.{self._cls()}: a parameter appears twice in one "
                                 "param group; BFO optimizes each parameter once (its elements "
                                 "are one vector)")
        super().add_param_group(param_group)
        for i, p in enumerate(param_group["params"]):
            if p.device.type != "cpu" or p.layout != torch.strided or p.dtype not in _FLOATS:
                raise TypeError(
                    f"ctrain.optim.{self._cls()}: parameter {i} is {p.dtype} on {p.device} "
                    f"({p.layout}); BFO supports float32/float64/bfloat16/float16 dense CPU "
                    "tensors")
        if self._engine is not None:
            self._build()

    def _params(self):
        return [p for g in self.param_groups for p in g["params"]]

    def _options(self):
        keys = _bfo.option_defaults(self._kind)
        g0 = self.param_groups[0]
        missing = [k for k in keys if k not in g0]
        if missing:
            raise ValueError(f"param group 0 lacks option(s) {', '.join(missing)} of "
                             f"{self._cls()} (a state dict of another optimizer?)")
        for gi, g in enumerate(self.param_groups[1:], 1):
            for k in keys:
                if not _same(g.get(k), g0.get(k)):
                    raise ValueError(f"option {k} differs between param group 0 "
                                     f"({g0.get(k)!r}) and {gi} ({g.get(k)!r}); BFO options "
                                     "are shared by all groups")
        return {k: g0[k] for k in keys}

    def _build(self):
        ps = self._params()
        self._dim = sum(p.numel() for p in ps)
        if self._dim == 0:
            raise ValueError(f"ctrain.optim.{self._cls()}: no parameter elements to optimize")
        text = self._text()
        self._engine = _bfo.Engine(self._kind, self._dim, text)
        self._synced_text = text
        self._synced_bounds = None
        self._sync_bounds()
        self._engine.set_fitness(self._eval_batch)
        if self._kind == "hybrid":
            self._engine.set_gradient(self._eval_batch_grad)
        self._x = np.empty(self._dim, np.float64)

    def _text(self):
        try:
            return _bfo.options_text(self._options())
        except ValueError as e:
            raise ValueError(f"ctrain.optim.{self._cls()}: {e}") from None

    def _sync_bounds(self):
        b = self.param_groups[0]["domain_bounds"]
        if _same(b, self._synced_bounds) and self._synced_bounds is not None:
            return
        self._engine.set_bounds(_bfo._as_bounds(b, self._dim, f"ctrain.optim.{self._cls()}"))
        self._synced_bounds = b

    def _sync(self):
        text = self._text()
        if text != self._synced_text:
            self._engine.set_options(text)
            self._synced_text = text
        self._sync_bounds()

    # ---- parameter <-> vector --------------------------------------------------
    def _read(self):
        off = 0
        for p in self._params():
            n = p.numel()
            self._x[off:off + n] = p.detach().reshape(-1).double().numpy()
            off += n

    def _write(self, row):
        t = torch.from_numpy(row)
        off = 0
        with torch.no_grad():
            for p in self._params():
                n = p.numel()
                p.copy_(t[off:off + n].view(p.shape))
                off += n

    def _call(self, row):
        self._write(row)
        with torch.enable_grad():
            loss = self._closure()
        if isinstance(loss, torch.Tensor):
            if loss.numel() != 1:
                raise ValueError(f"ctrain.optim.{self._cls()}: the closure returned a tensor of "
                                 f"shape {tuple(loss.shape)}; it must return the scalar loss")
            return float(loss.detach().reshape(()).item())
        return float(_bfo.fitness_values(loss, 1)[0])

    def _eval_batch(self, X):
        return self._eval_rows(X, False)[0]

    def _eval_batch_grad(self, X):
        return self._eval_rows(X, True)

    def _eval_rows(self, X, grads):
        """The closure at every row of X (and, for HybridBFO, the gradients
        it leaves in .grad). With a process group, rank r evaluates rows r,
        r + world, ... and one all_reduce (a sum in which every row comes
        from exactly one rank, so it is exact) gives every rank all values;
        every rank's engine then takes the same decisions."""
        n = X.shape[0]
        ps = self._params()
        F = np.zeros(n)
        G = np.zeros(X.shape) if grads else None
        pg = self._pg
        rows = range(n)
        if pg is not None:
            rows = range(dist.get_rank(pg), n, dist.get_world_size(pg))
        exc = None
        done = 0
        for i in rows:
            try:
                if grads:
                    # each evaluation is at another point: gradients from the
                    # last one must not accumulate into this one's (a closure
                    # need not call zero_grad, unlike torch.optim.LBFGS's)
                    for p in ps:
                        p.grad = None
                F[i] = self._call(X[i].copy())
                if grads:
                    off = 0
                    for p in ps:
                        k = p.numel()
                        if p.grad is not None:
                            G[i, off:off + k] = p.grad.detach().reshape(-1).double().numpy()
                        off += k
                done += 1
            except BaseException as e:  # noqa: B036 - re-raised below
                if pg is None:
                    self._engine.rows_done = done  # only those count in n_evals
                    raise
                exc = e
                break
        if pg is None:
            return F, G
        # the other ranks wait in this all_reduce: a failing rank still joins
        # it, with a flag, so that every rank raises and rolls back (and
        # counts the evaluations made on every rank)
        parts = [F, G.reshape(-1)] if grads else [F]
        flags = [float(done), 1.0 if exc is not None else 0.0]
        buf = torch.from_numpy(np.concatenate(parts + [flags]))
        dist.all_reduce(buf, group=pg)
        if buf[-1] != 0:
            self._engine.rows_done = int(buf[-2])
        if exc is not None:
            raise exc
        if buf[-1] != 0:
            raise RuntimeError(f"ctrain.optim.{self._cls()}: the closure raised on "
                               f"{int(buf[-1])} other rank(s) of the process group; the step "
                               "is rolled back on every rank")
        out = buf.numpy()
        return out[:n].copy(), (out[n:n + X.size].reshape(X.shape).copy() if grads else None)

    def _write_best_grad(self):
        """.grad := the gradient the closure left at best_params (the engine
        keeps it with the best point); None while no point has one."""
        g = self._engine.best_grad()
        off = 0
        for p in self._params():
            n = p.numel()
            p.grad = None if g is None else (
                torch.from_numpy(g[off:off + n].copy()).view(p.shape).to(p.dtype))
            off += n

    # ---- step ------------------------------------------------------------------
    def step(self, closure=None, max_fe=None):  # noqa: D401
        """One BFO step (elimination_steps x reproduction_steps x
        chemotaxis_steps generations, fewer if the budget or early stopping
        ends it). closure() re-evaluates the model and returns the loss; it
        is required. max_fe limits this step's evaluations. Returns the best
        fitness so far; the parameters hold best_params afterwards (also when
        the closure raises: the exception propagates unchanged and the
        parameters hold the best point from before the step)."""
        if closure is None:
            raise TypeError(
                f"{self._cls()}.step() missing 1 required positional argument: 'closure' (a "
                "callable that reevaluates the model and returns the loss, as for "
                "torch.optim.LBFGS)")
        self._sync()
        if not self._started:
            self._read()
            if self._pg is not None:  # every rank starts from the first rank's point
                dist.broadcast(torch.from_numpy(self._x), src=dist.get_global_rank(self._pg, 0),
                               group=self._pg)
        self._closure = closure
        try:
            best = self._engine.step(self._x, max_fe or 0)
        finally:
            self._closure = None
            st = self._engine.stats()
            if st["initialized"]:
                self._write(self._engine.best()[0])
            else:
                self._write(self._x)
            if self._kind == "hybrid":
                self._write_best_grad()
        self._started = True
        self.fitness_history.append(best)
        self.diversity_history.append(self._engine.diversity())
        return best

    # ---- attributes ------------------------------------------------------------
    @property
    def best_fitness(self):
        return self._engine.best()[1]

    @property
    def best_params(self):
        """The best point as tensors shaped and typed like the parameters."""
        if not self._engine.stats()["initialized"]:
            return [p.detach().clone() for p in self._params()]
        x = torch.from_numpy(self._engine.best()[0])
        out, off = [], 0
        for p in self._params():
            n = p.numel()
            out.append(x[off:off + n].view(p.shape).to(p.dtype).clone())
            off += n
        return out

    @property
    def population(self):
        """The bacteria's positions, a float64 tensor (population_size, dim)."""
        return torch.from_numpy(self._engine.population()[0])

    @property
    def population_fitness(self):
        return torch.from_numpy(self._engine.population()[1])

    @property
    def n_evals(self):
        return int(self._engine.stats()["n_evals"])

    @property
    def stopped(self):
        return bool(self._engine.stats()["stopped"])

    @property
    def stats(self):
        return self._engine.stats()

    def compute_diversity(self):
        """Mean Euclidean distance of the bacteria from their centroid."""
        return self._engine.diversity()

    def _compute_diversity(self):
        """compute_diversity() under the older package's name (a subclass
        overriding compute_diversity is honoured)."""
        return self.compute_diversity()

    # ---- checkpoints -------------------------------------------------------------
    def state_dict(self):
        sd = super().state_dict()
        blob = self._engine.save()
        sd["bfo"] = {
            "engine": torch.frombuffer(bytearray(blob), dtype=torch.uint8),
            "started": self._started,
            "fitness_history": list(self.fitness_history),
            "diversity_history": list(self.diversity_history),
        }
        return sd

    def load_state_dict(self, state_dict):
        state_dict = dict(state_dict)
        bfo = state_dict.pop("bfo", None)
        if bfo is None:
            raise ValueError(f"ctrain.optim.{self._cls()}.load_state_dict: the state dict has "
                             "no 'bfo' entry (not saved by a ctrain BFO optimizer)")
        # all or nothing: a state of another kind, dimension or format leaves
        # this optimizer as it was (groups, engine, population, histories)
        before = dict(self.__dict__)
        try:
            super().load_state_dict(state_dict)
            self._build()
            self._engine.load(bytes(bfo["engine"].numpy().tobytes()))
            self._started = bool(bfo["started"])
            self.fitness_history = list(bfo["fitness_history"])
            self.diversity_history = list(bfo["diversity_history"])
        except BaseException as e:
            self.__dict__.clear()
            self.__dict__.update(before)
            if isinstance(e, _lib.CtrainError):
                raise ValueError(f"ctrain.optim.{self._cls()}.load_state_dict: {e}") from None
            raise

    def __getstate__(self):
        """For pickle and copy.deepcopy: torch's optimizer state plus the
        engine's state blob; the copy continues bit-identically."""
        # a process group is not copied: the copy evaluates alone
        return {"defaults": self.defaults, "state": self.state,
                "param_groups": self.param_groups, "_bfo_engine": self._engine.save(),
                "_started": self._started, "fitness_history": list(self.fitness_history),
                "diversity_history": list(self.diversity_history)}

    def __setstate__(self, state):
        if "_bfo_engine" not in state:  # torch's load_state_dict: it rebuilds the engine
            super().__setstate__(state)
            return
        state = dict(state)
        blob = state.pop("_bfo_engine")
        self._engine = None
        self._closure = None
        self._pg = None
        super().__setstate__(state)
        self._build()
        self._engine.load(blob)


def _same(a, b):
    if a is b:
        return True
    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        return False
    if isinstance(a, (tuple, list)) and isinstance(b, (tuple, list)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    try:
        return bool(a == b)
    except Exception:  # noqa: BLE001
        return False


class BFO(_TorchBFO):
    """Bacterial foraging optimization (Passino 2002; docs/bfo.md).

    BFO(params, lr=0.01, domain_bounds=None, population_size=50,
        chemotaxis_steps=10, swim_length=4, reproduction_steps=4,
        elimination_steps=2, elimination_prob=0.25, step_size_max=None,
        step_size_min=None, step_schedule="adaptive", variant="enhanced",
        levy_alpha=1.5, swarming=False, d_attract=0.1, w_attract=0.2,
        h_repellant=0.1, w_repellant=10.0, bound_handling="clamp",
        init_scale=0.1, max_fe=None, seed=0, early_stop_window=0,
        early_stop_tol=1e-10, restart=True, social_prob=0.5)

    step_size_max / step_size_min None: 0.03 / 1e-10 times the mean width of
    domain_bounds, or 0.1 / 1e-4 without bounds (docs/bfo.md); a number
    given (also later in param_groups) wins.
    """

    _kind = "bfo"


class AdaptiveBFO(_TorchBFO):
    """BFO adapting its step-size scale and elimination probability from
    progress and diversity, and its population size within
    [min_population_size, max_population_size]. Extra options:
    adaptation_rate=0.1, diversity_threshold=1e-3, min_population_size=10,
    max_population_size=100."""

    _kind = "adaptive"


class HybridBFO(_TorchBFO):
    """BFO whose tumble directions mix a random direction with the negative
    momentum gradient: gradient_weight=0.5 (0: pure BFO, 1: gradient only),
    momentum=0.9. The closure should call loss.backward()."""

    _kind = "hybrid"
