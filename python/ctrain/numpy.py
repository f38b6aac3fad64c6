"""ctrain's optimizers for NumPy arrays, updated in place by the C engine.

    w = np.zeros((10, 3), np.float32); b = np.zeros(3, np.float32)
    opt = ctrain.numpy.AdamW([w, b], lr=1e-3)
    opt.step([gw, gb])          # gradients computed by your own code
    opt.lr = 1e-4               # every group; or opt.param_groups[i]['lr']

Same optimizers, arguments, defaults and numerics as ctrain.optim (and so as
torch.optim), without PyTorch. Parameters are float32, C-contiguous,
writeable arrays; gradients float32 arrays of the same shapes (None skips a
parameter). One C call per step. Groups: pass a list of dicts as with torch
({'params': [w], 'weight_decay': 0.0}).

State storage: state_dtype='bf16' or 'int8' (blockwise 8-bit, Dettmers et
al. 2022; tensors of fewer than min_8bit_size elements, default 4096, stay
float32) as a constructor keyword or a group key, read when the group is
added; state(k) shows the stored form, state_dict() float32 values.
"""
import copy
import inspect

import numpy as np

from . import _lib, _spec

__all__ = [
    "StepLR", "MultiStepLR", "ExponentialLR", "CosineAnnealingLR", "CosineAnnealingWarmRestarts",
    "OneCycleLR", "LinearLR", "ConstantLR", "PolynomialLR", "CyclicLR", "ReduceLROnPlateau",
    "SequentialLR", "ChainedScheduler", "LambdaLR", "MultiplicativeLR", "SWALR",
    "SGD", "Adam", "AdamW", "Adagrad", "RMSprop", "Adadelta", "Adamax", "NAdam", "RAdam",
    "Rprop", "ASGD", "LAMB", "LARS", "Lion", "Adafactor",
]

_SUPPORTED = "ctrain.numpy supports float32, C-contiguous arrays"


def _addr(a):
    return a.__array_interface__["data"][0]


def _check(a, what, cls, writeable):
    if not isinstance(a, np.ndarray):
        raise TypeError(f"ctrain.numpy.{cls}: {what} is a {type(a).__name__}, not a numpy array")
    if a.dtype != np.float32:
        raise TypeError(f"ctrain.numpy.{cls}: {what} has dtype {a.dtype}; {_SUPPORTED}")
    if not a.flags.c_contiguous:
        raise TypeError(f"ctrain.numpy.{cls}: {what} is not C-contiguous; {_SUPPORTED}")
    if writeable and not a.flags.writeable:
        raise TypeError(f"ctrain.numpy.{cls}: {what} is read-only")
    if a.size == 0:
        raise ValueError(f"ctrain.numpy.{cls}: {what} is empty")


class _NumpyOptimizer:
    _spec = None

    def __init__(self, params, defaults):
        self.defaults = defaults
        self.param_groups = []
        self._engine = _lib.Engine(self._spec.kind)
        self._flat, self._where, self._synced = [], [], []
        self._darr = self._garr = None
        groups = list(params)
        if not groups:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for g in groups:
            self.add_param_group(g)

    def add_param_group(self, group):
        cls = type(self).__name__
        group = dict(group)
        ps = group["params"]
        group["params"] = [ps] if isinstance(ps, np.ndarray) else list(ps)
        for k, v in self.defaults.items():
            group.setdefault(k, v)
        gi = len(self.param_groups)
        ids = {id(p) for p in self._flat}
        for i, p in enumerate(group["params"]):
            _check(p, f"parameter {i} of group {gi}", cls, True)
            if id(p) in ids:
                raise ValueError("some parameters appear in more than one parameter group")
        try:
            self._engine.add_group([(_addr(p), p.size, p.shape) for p in group["params"]],
                                   self._text(group))
        except _lib.CtrainError as e:
            raise ValueError(str(e)) from None
        self.param_groups.append(group)
        self._synced.append({k: copy.copy(group[k]) for k in self._spec.keys})
        for i, p in enumerate(group["params"]):
            self._flat.append(p)
            self._where.append((gi, i))
        n = len(self._flat)
        self._darr = _lib.make_ptr_array(n)
        self._garr = _lib.make_ptr_array(n)
        self._darr[:] = [_addr(p) for p in self._flat]

    def _text(self, group):
        """The engine's options of a group: the optimizer's and the
        precision keys (state_dtype, min_8bit_size)."""
        text = self._spec.option_text(group)
        prec = _spec.precision_text(group, "fp32", f"ctrain.numpy.{type(self).__name__}")
        return text + " " + prec if prec else text

    @property
    def lr(self):
        """The learning rate of the first group (setting it sets every group's)."""
        return self.param_groups[0]["lr"]

    @lr.setter
    def lr(self, value):
        for g in self.param_groups:
            g["lr"] = value

    def _sync(self):
        for gi, group in enumerate(self.param_groups):
            have = self._synced[gi]
            changed = [k for k in self._spec.keys if group[k] != have[k]]
            if not changed:
                continue
            try:
                if changed == ["lr"]:
                    self._engine.set_lr(gi, float(group["lr"]))
                else:
                    self._engine.set_options(gi, self._spec.option_text(group))
            except _lib.CtrainError as e:
                raise ValueError(str(e)) from None
            for k in changed:
                have[k] = copy.copy(group[k])

    def step(self, grads):
        """Updates every parameter in place from grads (same order as the
        parameters, group by group; None skips a parameter)."""
        cls = type(self).__name__
        grads = list(grads)
        n = len(self._flat)
        if len(grads) != n:
            raise ValueError(f"ctrain.numpy.{cls}.step: {len(grads)} gradients for {n} parameters")
        ptrs = []
        for k, (p, g) in enumerate(zip(self._flat, grads)):
            if g is None:
                ptrs.append(0)
                continue
            gi, i = self._where[k]
            _check(g, f"the gradient of parameter {i} of group {gi}", cls, False)
            if g.shape != p.shape:
                raise ValueError(f"ctrain.numpy.{cls}.step: the gradient of parameter {i} of "
                                 f"group {gi} has shape {g.shape}, the parameter {p.shape}")
            ptrs.append(_addr(g))
        self._sync()
        self._garr[:] = ptrs
        self._engine.step_buffers(self._darr, self._garr, n)

    def state(self, k):
        """The state of parameter k (flat index) as arrays sharing the C
        memory: float32 state under its torch name; bfloat16 state
        (state_dtype='bf16') as its bit patterns (uint16) under NAME_bf16;
        8-bit state (state_dtype='int8') as NAME_codes (uint8) and
        NAME_absmax (float32, one scale per 256 elements)."""
        g, i = self._where[k]
        p = self._flat[k]
        out = {"step": self._engine.get_step(g, i)}
        for key, buf, tag in self._engine.state_views(g, i):
            if tag == _lib.CT_BF16:
                out[key + "_bf16"] = np.frombuffer(buf, dtype=np.uint16)
                continue
            dt = np.uint8 if tag == _lib.U8 else np.float32
            out[key] = np.frombuffer(buf, dtype=dt).reshape(
                _spec.state_shape(self._spec, key, len(buf), p.shape))
        return out

    def state_dict(self):
        """{'state': {k: {...copies...}}, 'param_groups': [...]} with parameters
        as indices, as torch.optim's layout (step as a Python int); bf16 and
        8-bit state as float32 values under their torch names."""
        state = {}
        for k, p in enumerate(self._flat):
            g, i = self._where[k]
            step = self._engine.get_step(g, i)
            if step <= 0:
                continue
            st = {"step": step}
            for b, (name, numel, _) in enumerate(self._engine.state_layout(g, i)):
                v = np.empty(_spec.state_shape(self._spec, name, numel, p.shape), np.float32)
                self._engine.state_read(g, i, b, _addr(v), numel)
                st[name] = v
            state[k] = st
        groups, k = [], 0
        for g in self.param_groups:
            d = {key: v for key, v in g.items() if key != "params"}
            d["params"] = list(range(k, k + len(g["params"])))
            k += len(g["params"])
            groups.append(d)
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, sd):
        groups = sd["param_groups"]
        if len(groups) != len(self.param_groups) or any(
                len(a["params"]) != len(b["params"]) for a, b in zip(groups, self.param_groups)):
            raise ValueError("loaded state dict has a different number of parameter groups or "
                             "parameters")
        new_groups = [dict(g, **{k: v for k, v in src.items() if k != "params"})
                      for g, src in zip(self.param_groups, groups)]
        # The loaded options and state go to a scratch engine first, so a bad
        # option or a state value the storage cannot hold (NaN in 8-bit
        # state, a wrong size) changes nothing; then they go to this engine,
        # which keeps its identity (schedules created on this optimizer stay
        # attached). The state's storage (state_dtype) is this optimizer's.
        scratch = _lib.Engine(self._spec.kind)
        texts = [self._text(dict(ng, state_dtype=g.get("state_dtype"),
                                 min_8bit_size=g.get("min_8bit_size")))
                 for g, ng in zip(self.param_groups, new_groups)]
        values = []
        try:
            for g, text in zip(new_groups, texts):
                scratch.add_group([(_addr(p), p.size, p.shape) for p in g["params"]], text)
            for k in range(len(self._flat)):
                g, i = self._where[k]
                st = sd["state"].get(k, sd["state"].get(str(k)))
                step = 0 if st is None else int(st["step"]) if "step" in st else 1
                bufs = []
                for b, (name, numel, _) in enumerate(scratch.state_layout(g, i)):
                    v = np.zeros(numel, np.float32)
                    if st is not None and name in st:
                        src = np.asarray(st[name], dtype=np.float32).reshape(-1)
                        if src.size != numel:
                            raise ValueError(f"ctrain.numpy.{type(self).__name__}: state "
                                             f"'{name}' of parameter {i} of group {g} has "
                                             f"{src.size} elements, expected {numel}")
                        v[:] = src
                    scratch.state_write(g, i, b, _addr(v), numel)
                    bufs.append(v)
                values.append((step, bufs))
        except _lib.CtrainError as e:
            raise ValueError(str(e)) from None
        for gi, (g, ng) in enumerate(zip(self.param_groups, new_groups)):
            self._engine.set_options(gi, texts[gi])
            g.update({k: v for k, v in ng.items()
                      if k not in ("params", "state_dtype", "min_8bit_size")})
        self._synced = [{k: copy.copy(g[k]) for k in self._spec.keys} for g in self.param_groups]
        for k, (step, bufs) in enumerate(values):
            g, i = self._where[k]
            for b, v in enumerate(bufs):
                self._engine.state_write(g, i, b, _addr(v), v.size)
            self._engine.set_step(g, i, step)


def _make(spec):
    fn = spec.fn

    def __init__(self, params, *args, state_dtype=None, min_8bit_size=None, **kwargs):
        defaults = fn(*args, **kwargs)
        for k, v in (("state_dtype", state_dtype), ("min_8bit_size", min_8bit_size)):
            if v is not None:
                defaults[k] = v
        _NumpyOptimizer.__init__(self, params, defaults)

    sig = inspect.signature(fn)
    rest = list(sig.parameters.values())
    kw = [q for q in rest if q.kind == inspect.Parameter.VAR_KEYWORD]
    rest = [q for q in rest if q.kind != inspect.Parameter.VAR_KEYWORD]
    __init__.__signature__ = sig.replace(parameters=[
        inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD),
        inspect.Parameter("params", inspect.Parameter.POSITIONAL_OR_KEYWORD),
        *rest, *[inspect.Parameter(k, inspect.Parameter.KEYWORD_ONLY, default=None)
                 for k in ("state_dtype", "min_8bit_size")], *kw])
    return type(spec.name, (_NumpyOptimizer,), {
        "__init__": __init__, "_spec": spec, "__module__": __name__,
        "__doc__": f"{spec.name} for NumPy float32 arrays (C engine '{spec.kind}')."})


for _name, _s in _spec.SPECS.items():
    globals()[_name] = _make(_s)
del _name, _s


# ---- learning-rate schedules (the C engine's, include/ctrain/sched.h) -------


def _sched_value(v):
    if isinstance(v, str):
        return v
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (list, tuple)):
        return ",".join(_sched_value(x) for x in v)
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    return repr(float(v))


class _Schedule:
    """A learning-rate schedule with torch.optim.lr_scheduler's semantics,
    run by the C engine on a ctrain.numpy optimizer: construct it after the
    optimizer (and after load_state_dict), call step() after opt.step()."""

    _kind = None
    _args = ()

    def __init__(self, optimizer, *args, **kwargs):
        if not isinstance(optimizer, _NumpyOptimizer):
            raise TypeError(f"{type(self).__name__} schedules a ctrain.numpy optimizer, got "
                            f"{type(optimizer).__name__}")
        if len(args) > len(self._args):
            raise TypeError(f"{type(self).__name__} takes at most {len(self._args)} positional "
                            "arguments after the optimizer")
        opts = dict(zip(self._args, args))
        for k, v in kwargs.items():
            if k in opts:
                raise TypeError(f"{type(self).__name__} got multiple values for argument '{k}'")
            opts[k] = v
        self._create(optimizer, opts)

    def _create(self, optimizer, opts, factor=None):
        """The engine's schedule of this kind with options opts (factor: the
        lambda kinds' function), after torch's constructor checks."""
        groups = optimizer.param_groups
        if opts.get("last_epoch") not in (None, -1):  # torch's resume
            for i, g in enumerate(groups):
                if "initial_lr" not in g:
                    raise KeyError(f"param 'initial_lr' is not specified in param_groups[{i}] "
                                   "when resuming scheduler with last_epoch >= 0")
            opts["initial_lr"] = [g["initial_lr"] for g in groups]
        text = " ".join(f"{k}={_sched_value(v)}" for k, v in opts.items() if v is not None)
        for g in groups:  # as torch's: the lr before any schedule
            g.setdefault("initial_lr", g["lr"])
        optimizer._sync()
        self.optimizer = optimizer
        self._s = _lib.Sched(optimizer._engine, self._kind, text, factor=factor)
        self._pull()

    def _pull(self):
        """Copies what the schedule set in the engine into param_groups."""
        opt = self.optimizer
        for gi, g in enumerate(opt.param_groups):
            g["lr"] = opt._engine.get_lr(gi)
            opt._synced[gi]["lr"] = g["lr"]
            for key in ("momentum", "betas"):
                if key in opt._spec.keys:
                    v = opt._engine.get_option(gi, key)
                    g[key] = v[0] if key == "momentum" else tuple(v)
                    opt._synced[gi][key] = copy.copy(g[key])

    def step(self, metric=None):
        if self._s.owned_by is not None:
            raise RuntimeError(f"{type(self).__name__} belongs to a SequentialLR: step that one")
        self.optimizer._sync()
        self._s.step(metric)
        self._pull()

    def get_last_lr(self):
        return [self._s.last_lr(g) for g in range(len(self.optimizer.param_groups))]

    @property
    def last_epoch(self):
        return self._s.last_epoch()

    def state_dict(self):
        """The schedule's counters and per-group values (not its options:
        as with torch, create the schedule with the same arguments, after
        the optimizer's load_state_dict, then load this)."""
        return {"kind": type(self).__name__, "state": self._s.get_state()}

    def load_state_dict(self, state_dict):
        if state_dict.get("kind") != type(self).__name__:
            raise ValueError(f"{type(self).__name__}.load_state_dict: the state is of a "
                             f"{state_dict.get('kind')!r} schedule")
        self.optimizer._sync()  # the lrs a loaded optimizer state brought
        self._s.set_state(state_dict["state"])
        self._pull()


class _CallableSchedule(_Schedule):
    """LambdaLR and MultiplicativeLR: the C engine's kinds "lambda" and
    "multiplicative", whose factor it asks of the Python callables (one, or
    one per param group). An exception a callable raises comes out of the
    call that ran it (construction or step) and changes nothing."""

    def __init__(self, optimizer, lr_lambda, last_epoch=-1):
        name = type(self).__name__
        if not isinstance(optimizer, _NumpyOptimizer):
            raise TypeError(f"{name} schedules a ctrain.numpy optimizer, got "
                            f"{type(optimizer).__name__}")
        groups = optimizer.param_groups
        if isinstance(lr_lambda, (list, tuple)):
            if len(lr_lambda) != len(groups):
                raise ValueError(f"Expected {len(groups)} lr_lambdas, but got {len(lr_lambda)}")
            self.lr_lambdas = list(lr_lambda)
        else:
            self.lr_lambdas = [lr_lambda] * len(groups)
        for i, f in enumerate(self.lr_lambdas):
            if not callable(f):
                raise TypeError(f"{name}: lr_lambda {i} is a {type(f).__name__}, not callable")
        self._create(optimizer, {"last_epoch": last_epoch},
                     factor=lambda group, epoch: self._factor(self.lr_lambdas[group], epoch))
        self.base_lrs = [g["initial_lr"] for g in groups]

    def _factor(self, f, epoch):
        v = f(epoch)
        try:
            if isinstance(v, (str, bytes)):  # float() would parse them
                raise TypeError
            return float(v)
        except (TypeError, ValueError):
            raise TypeError(f"{type(self).__name__}: lr_lambda({epoch}) returned "
                            f"{type(v).__name__} {v!r:.40}, not a number") from None

    def state_dict(self):
        """The engine's counters and per-group values, and (as torch's) the
        __dict__ of each lr_lambda that is a callable object (functions and
        lambdas are not saved: create the schedule with them again)."""
        import types
        return dict(super().state_dict(),
                    lr_lambdas=[None if isinstance(f, types.FunctionType) else dict(f.__dict__)
                                for f in self.lr_lambdas])

    def load_state_dict(self, state_dict):
        lams = state_dict.get("lr_lambdas")
        if state_dict.get("kind") == type(self).__name__ and (
                lams is None or len(lams) != len(self.lr_lambdas)):
            raise ValueError(f"{type(self).__name__}.load_state_dict: "
                             f"{'no' if lams is None else len(lams)} lr_lambdas for "
                             f"{len(self.lr_lambdas)} param groups")
        super().load_state_dict(state_dict)
        for f, st in zip(self.lr_lambdas, lams):
            if st is not None:
                f.__dict__.update(st)


class LambdaLR(_CallableSchedule):
    """torch.optim.lr_scheduler.LambdaLR: lr = initial lr * lr_lambda(epoch)
    (one callable, or one per param group)."""

    _kind = "lambda"


class MultiplicativeLR(_CallableSchedule):
    """torch.optim.lr_scheduler.MultiplicativeLR: lr *= lr_lambda(epoch)
    from the first step on."""

    _kind = "multiplicative"


def _check_children(who, schedulers, optimizer):
    """Each of schedulers is a ctrain.numpy schedule of optimizer (torch's
    messages); returns them."""
    for i, s in enumerate(schedulers):
        if not isinstance(s, _Schedule):
            raise TypeError(f"{who}: scheduler at index {i} is a {type(s).__name__}, expected "
                            "a ctrain.numpy schedule")
        if s.optimizer is not optimizer:
            raise ValueError(f"{who} expects all schedulers to belong to the same optimizer, but "
                             f"got scheduler {type(s).__name__} at index {i} to be different "
                             "than the optimizer passed in.")
    return schedulers


class SequentialLR(_Schedule):
    """torch.optim.lr_scheduler.SequentialLR: schedulers[0] until
    milestones[0], then schedulers[1], ... It takes the schedulers over
    (step this one, not them)."""

    def __init__(self, optimizer, schedulers, milestones):
        if not isinstance(optimizer, _NumpyOptimizer):
            raise TypeError(f"SequentialLR schedules a ctrain.numpy optimizer, got "
                            f"{type(optimizer).__name__}")
        schedulers, milestones = list(schedulers), list(milestones)
        if not schedulers:
            raise ValueError("SequentialLR expects at least one scheduler")
        for i, s in enumerate(_check_children("SequentialLR", schedulers, optimizer)):
            if isinstance(s, SequentialLR):
                raise TypeError(f"SequentialLR: scheduler at index {i} is a SequentialLR, which "
                                "cannot be nested")
            if s._s.owned_by is not None or s._s.h is None:
                raise ValueError(f"SequentialLR: scheduler at index {i} already belongs to a "
                                 "SequentialLR")
        if len(milestones) != len(schedulers) - 1:
            raise ValueError("SequentialLR expects number of schedulers provided to be one more "
                             "than the number of milestone points, but got number of schedulers "
                             f"{len(schedulers)} and the number of milestones to be equal to "
                             f"{len(milestones)}")
        optimizer._sync()
        self.optimizer = optimizer
        self._schedulers = schedulers
        self._s = _lib.Sched.sequential(optimizer._engine, [s._s for s in schedulers],
                                        milestones)
        self._pull()


class ChainedScheduler:
    """torch.optim.lr_scheduler.ChainedScheduler: step() steps every
    schedule in turn, each from the lrs the previous one left (several
    schedules on one optimizer compose this way in the C engine)."""

    def __init__(self, schedulers, optimizer=None):
        schedulers = list(schedulers)
        if not schedulers:
            raise ValueError("ChainedScheduler expects at least one scheduler to be chained, "
                             "but got no scheduler.")
        optimizer = optimizer if optimizer is not None else schedulers[0].optimizer
        for s in _check_children("ChainedScheduler", schedulers, optimizer):
            if isinstance(s, ReduceLROnPlateau):
                raise ValueError("ChainedScheduler: ReduceLROnPlateau steps with a metric and "
                                 "cannot be chained")
        self.optimizer = optimizer
        self._schedules = schedulers

    def step(self):
        for s in self._schedules:
            s.step()

    def get_last_lr(self):
        return [g["lr"] for g in self.optimizer.param_groups]

    def state_dict(self):
        return {"_schedulers": [s.state_dict() for s in self._schedules]}

    def load_state_dict(self, state_dict):
        states = state_dict["_schedulers"]
        if len(states) != len(self._schedules):
            raise ValueError(f"ChainedScheduler.load_state_dict: {len(states)} states for "
                             f"{len(self._schedules)} schedulers")
        for s, st in zip(self._schedules, states):
            s.load_state_dict(st)


def _sched(name, kind, args):
    return type(name, (_Schedule,), {"_kind": kind, "_args": tuple(args), "__module__": __name__,
                                     "__doc__": f"torch.optim.lr_scheduler.{name} for "
                                                f"ctrain.numpy optimizers (C kind '{kind}')."})


StepLR = _sched("StepLR", "step", ["step_size", "gamma"])
MultiStepLR = _sched("MultiStepLR", "multistep", ["milestones", "gamma"])
ExponentialLR = _sched("ExponentialLR", "exponential", ["gamma"])
CosineAnnealingLR = _sched("CosineAnnealingLR", "cosine", ["T_max", "eta_min"])
CosineAnnealingWarmRestarts = _sched("CosineAnnealingWarmRestarts", "cosine_warm_restarts",
                                     ["T_0", "T_mult", "eta_min"])
OneCycleLR = _sched("OneCycleLR", "onecycle",
                    ["max_lr", "total_steps", "epochs", "steps_per_epoch", "pct_start",
                     "anneal_strategy", "cycle_momentum", "base_momentum", "max_momentum",
                     "div_factor", "final_div_factor", "three_phase"])
LinearLR = _sched("LinearLR", "linear", ["start_factor", "end_factor", "total_iters"])
ConstantLR = _sched("ConstantLR", "constant", ["factor", "total_iters"])
PolynomialLR = _sched("PolynomialLR", "polynomial", ["total_iters", "power"])
CyclicLR = _sched("CyclicLR", "cyclic", ["base_lr", "max_lr", "step_size_up", "step_size_down",
                                         "mode", "gamma"])
SWALR = _sched("SWALR", "swa", ["swa_lr", "anneal_epochs", "anneal_strategy"])
SWALR.__doc__ = "torch.optim.swa_utils.SWALR for ctrain.numpy optimizers (C kind 'swa')."
ReduceLROnPlateau = _sched("ReduceLROnPlateau", "plateau",
                           ["mode", "factor", "patience", "threshold", "threshold_mode",
                            "cooldown", "min_lr", "eps"])

# ---- weight averaging (torch.optim.swa_utils; include/ctrain/average.h) ------


class _EngineAverage:
    """What get_ema_multi_avg_fn returns here: the engine's EMA, by name."""

    def __init__(self, kind, options):
        self.kind, self.options = kind, options

    def __repr__(self):
        return f"<ctrain.numpy averaging {self.kind} {self.options}>"


def get_ema_multi_avg_fn(decay=0.999):
    """torch.optim.swa_utils.get_ema_multi_avg_fn: the exponential moving
    average ema = lerp(ema, current, 1 - decay), for AveragedModel's
    multi_avg_fn (run by the engine)."""
    decay = float(decay)
    if not 0.0 <= decay <= 1.0:
        raise ValueError(f"get_ema_multi_avg_fn: decay={decay} must be in [0, 1]")
    return _EngineAverage("ema", "decay=%r" % decay)


class AveragedModel:
    """torch.optim.swa_utils.AveragedModel for arrays: `params` holds an
    averaged copy of the given float32 or float64 arrays, which
    update_parameters(arrays) moves towards them with torch's arithmetic
    (to the bit): the equal-weight running mean of SWA by default, or the
    EMA of multi_avg_fn=get_ema_multi_avg_fn(decay). The first update
    copies, as torch's. Other avg_fn/multi_avg_fn callables are refused
    (the engine runs the average). Updates use ctrain.set_num_threads()
    threads, as the optimizers (the bits do not depend on it)."""

    def __init__(self, params, avg_fn=None, multi_avg_fn=None):
        if avg_fn is not None:
            raise TypeError("AveragedModel: avg_fn is not supported; give "
                            "multi_avg_fn=get_ema_multi_avg_fn(decay) or nothing (SWA)")
        if multi_avg_fn is not None and not isinstance(multi_avg_fn, _EngineAverage):
            raise TypeError("AveragedModel: multi_avg_fn must come from "
                            "ctrain.numpy.get_ema_multi_avg_fn(decay), got "
                            f"{type(multi_avg_fn).__name__}")
        arrays = self._check(list(params), "params")
        self.params = [np.array(a, copy=True) for a in arrays]
        kind = multi_avg_fn or _EngineAverage("swa", "")
        self._avg = _lib.Avg(kind.kind, kind.options)

    @staticmethod
    def _check(arrays, what, like=None):
        if not arrays:
            raise ValueError(f"AveragedModel: {what} is empty")
        for i, a in enumerate(arrays):
            if not isinstance(a, np.ndarray) or a.dtype not in (np.float32, np.float64):
                raise TypeError(f"AveragedModel: {what}[{i}] must be a float32 or float64 "
                                f"numpy array, got {getattr(a, 'dtype', type(a).__name__)}")
            if like is not None and (a.shape != like[i].shape or a.dtype != like[i].dtype):
                raise ValueError(f"AveragedModel: {what}[{i}] is {a.dtype}{list(a.shape)}, the "
                                 f"averaged copy {like[i].dtype}{list(like[i].shape)}")
        if like is not None and len(arrays) != len(like):
            raise ValueError(f"AveragedModel: {len(arrays)} arrays given for "
                             f"{len(like)} averaged ones")
        return arrays

    @staticmethod
    def _specs(arrays):
        return [(_addr(a), a.size, _lib.CT_F64 if a.dtype == np.float64 else _lib.CT_F32)
                for a in arrays]

    def update_parameters(self, params):
        cur = [np.ascontiguousarray(a) for a in self._check(list(params), "params",
                                                              self.params)]
        self._avg.update(self._specs(self.params), self._specs(cur))

    @property
    def n_averaged(self):
        return self._avg.count()

    def state_dict(self):
        return {"n_averaged": self.n_averaged, "params": [a.copy() for a in self.params]}

    def load_state_dict(self, state_dict):
        arrays = self._check([np.asarray(a) for a in state_dict["params"]], "state params",
                             self.params)
        n = int(state_dict["n_averaged"])
        if n < 0:
            raise ValueError(f"AveragedModel.load_state_dict: n_averaged={n} must be >= 0")
        self._avg.set_count(n)
        for dst, src in zip(self.params, arrays):
            dst[...] = src


__all__ += ["AveragedModel", "get_ema_multi_avg_fn"]

# Bacterial foraging optimization (issue 5; python/ctrain/_bfo.py)
from ._bfo import BFO, AdaptiveBFO, HybridBFO  # noqa: E402
__all__ += ["BFO", "AdaptiveBFO", "HybridBFO"]
