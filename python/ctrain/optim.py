"""Drop-in replacements for torch.optim's optimizers, run by ctrain's C engine.

    opt = ctrain.optim.AdamW(model.parameters(), lr=1e-3)

Each class is a torch.optim.Optimizer: param_groups, add_param_group,
step(closure), zero_grad, state_dict / load_state_dict in torch.optim's
layout (checkpoints move both ways between ctrain.optim.X and
torch.optim.X), hooks, lr schedulers, GradScaler, pickling and deepcopy.
optimizer.state[p] holds torch tensors that share memory with the C state.

A step is one C call (ct_optim_step_buffers) whatever the number of tensors:
the addresses of every parameter and gradient go in two pointer tables that
are rebuilt only when an address changes. Supported tensors: float32,
bfloat16 and float16, contiguous, dense (strided), on the CPU; anything else
is refused with an UnsupportedTensorError that says so (docs/pytorch.md).

bfloat16 / float16 parameters (SGD, Adam, AdamW, Adagrad, RMSprop, Lion and
the other one-pass optimizers; not LAMB, LARS, Adafactor, Lookahead): each
step computes in float32 from the stored values and rounds once to the
parameter's dtype. State is kept as torch.optim keeps it for such parameters
(bfloat16 for bfloat16 parameters where the engine can: SGD, Adam, AdamW,
Adagrad, RMSprop, Lion; else float32). Param-group keys choose otherwise:
"master_weights" (True: a float32 copy of the parameters is updated and kept
in state["master"], the parameter is its rounding, and the state defaults to
float32) and "state_dtype" ("fp32" or "bf16"), read when the group is added.

8-bit state (bitsandbytes' AdamW8bit and the like, for any parameter dtype):
"state_dtype": "int8" in a param group (or as a constructor keyword of
SGD, Adam, AdamW, Adagrad, RMSprop and Lion, e.g. AdamW(params,
state_dtype="int8")) stores each state tensor of at least "min_8bit_size"
elements (default 4096; smaller ones stay float32) as blockwise 8-bit codes
(Dettmers et al. 2022: the dynamic map, a float32 scale per 256 elements).
optimizer.state[p] then holds NAME_codes (uint8, the parameter's shape) and
NAME_absmax (float32, one per block), sharing memory with the engine.
state_dict() gives torch.optim's layout with every such state dequantized to
float32 under its torch name ("exp_avg", ...), so torch.optim loads it;
load_state_dict quantizes float32 state into the codes (within the
quantization error); deepcopy and pickling copy the codes exactly.
"""
import collections
import inspect

import torch

from . import _lib, _spec

__all__ = [
    "SGD", "Adam", "AdamW", "Adagrad", "RMSprop", "Adadelta", "Adamax", "NAdam", "RAdam",
    "Rprop", "ASGD", "LAMB", "LARS", "Lion", "Adafactor", "Lookahead", "UnsupportedTensorError",
]


class UnsupportedTensorError(TypeError):
    """A parameter or gradient ctrain cannot update (dtype, layout, device)."""


_SUPPORTED = ("ctrain supports float32, bfloat16 and float16, contiguous, dense (strided), real "
              "CPU tensors")
_DTYPES = {torch.float32: _lib.CT_F32, torch.bfloat16: _lib.CT_BF16, torch.float16: _lib.CT_F16}
# kinds whose state the engine can keep in bfloat16 (docs/optimizers.md, "Precision")
_BF16_STATE_KINDS = _spec.REDUCED_STATE_KINDS


def _check_tensor(name, what, t, cls):
    if what == "parameter" and t.numel() == 0:
        raise UnsupportedTensorError(f"ctrain.optim.{cls}: {name} is empty (0 elements); "
                                     "leave empty tensors out of the optimizer")
    if t.layout != torch.strided:
        if what == "gradient":
            raise UnsupportedTensorError(
                f"ctrain.optim.{cls}: the gradient of {name} is {t.layout} (sparse gradients, "
                f"e.g. from nn.Embedding(sparse=True), are not supported; {_SUPPORTED})")
        raise UnsupportedTensorError(f"ctrain.optim.{cls}: {name} has layout {t.layout}; "
                                     f"{_SUPPORTED}")
    if t.device.type != "cpu":
        raise UnsupportedTensorError(f"ctrain.optim.{cls}: {what} of {name} is on {t.device}; "
                                     f"{_SUPPORTED}")
    if t.is_complex():
        raise UnsupportedTensorError(f"ctrain.optim.{cls}: {what} of {name} is complex "
                                     f"({t.dtype}); {_SUPPORTED}")
    if t.dtype not in _DTYPES:
        raise UnsupportedTensorError(
            f"ctrain.optim.{cls}: {what} of {name} has dtype {t.dtype}; {_SUPPORTED}")
    if not t.is_contiguous():
        raise UnsupportedTensorError(f"ctrain.optim.{cls}: {what} of {name} is not contiguous "
                                     f"(strides {t.stride()}); {_SUPPORTED}")


_PRECISION_KEYS = ("state_dtype", "min_8bit_size", "master_weights")
_TAGS = {_lib.CT_F32: torch.float32, _lib.CT_BF16: torch.bfloat16, _lib.U8: torch.uint8}


def _as_tensor(buf, shape, tag=_lib.CT_F32):
    return torch.frombuffer(buf, dtype=_TAGS[tag]).view(shape)


def _precision_text(group, kind, cls):
    """The engine's precision options for a group (see the module doc)."""
    dtypes = {p.dtype for p in group["params"]}
    master = bool(group.get("master_weights", False))
    # torch's: the parameters' dtype; float32 beside a master copy
    bf16 = dtypes == {torch.bfloat16} and kind in _BF16_STATE_KINDS and not master
    return _spec.precision_text(group, "bf16" if bf16 else "fp32", f"ctrain.optim.{cls}")


class _CtrainOptimizer(torch.optim.Optimizer):
    _spec = None  # a _spec.Spec

    def __init__(self, params, defaults):
        self._lookahead = None
        self._new_engine()
        super().__init__(params, defaults)

    # ---- engine bookkeeping ----------------------------------------------

    def _new_engine(self):
        self._engine = _lib.Engine(self._spec.kind, lookahead=self._lookahead)
        self._flat = []  # every parameter, in C order
        self._where = []  # (group, index) of each
        self._synced = []  # per group: the option values the engine has
        self._steps = torch.zeros(0, dtype=torch.float32)  # state['step'] mirror
        self._mat = []  # state[p] points at the engine's buffers
        self._n_mat = 0
        self._gptrs = None
        self._dptrs = None
        self._garr = self._darr = None
        self._mask = None

    def _cls(self):
        return type(self).__name__

    def _register(self, group):
        gi = len(self._synced)
        specs = []
        for i, p in enumerate(group["params"]):
            _check_tensor(f"parameter {i} of group {gi}", "parameter", p, self._cls())
            specs.append((p.data_ptr(), p.numel(), tuple(p.shape), _DTYPES[p.dtype]))
        text = self._spec.option_text(group)
        prec = _precision_text(group, self._spec.kind, self._cls())
        if prec:
            text += " " + prec
        try:
            self._engine.add_group(specs, text)
        except _lib.CtrainError as e:
            if e.status == _lib.CT_EUNSUPPORTED:
                raise UnsupportedTensorError(f"ctrain.optim.{self._cls()}: {e}") from None
            raise ValueError(str(e)) from None
        self._synced.append({k: _snapshot(group[k]) for k in self._spec.keys})
        n0 = len(self._flat)
        for i, p in enumerate(group["params"]):
            self._flat.append(p)
            self._where.append((gi, i))
            self._mat.append(False)
        self._steps = torch.cat([self._steps, torch.zeros(len(group["params"]))])
        # re-point the step tensors already handed out at the new mirror
        for k in range(n0):
            if self._mat[k] and self._spec.has_step:
                self.state[self._flat[k]]["step"] = self._steps[k]
        n = len(self._flat)
        self._garr = _lib.make_ptr_array(n)
        self._darr = _lib.make_ptr_array(n)
        self._gptrs = self._dptrs = None
        if self._spec.eager:
            iav = float(group.get("initial_accumulator_value", 0))
            for k in range(n0, n):
                self._materialize(k)
                for name, t in self.state[self._flat[k]].items():
                    if name == "sum":
                        t.fill_(iav)

    def _materialize(self, k):
        g, i = self._where[k]
        p = self._flat[k]
        bufs = self._engine.state_views(g, i)
        if not bufs and not self._spec.has_step:
            return
        st = self.state[p]
        if self._spec.has_step:
            st["step"] = self._steps[k]
        for name, buf, dt in bufs:
            st[name] = _as_tensor(buf, _spec.state_shape(self._spec, name, len(buf), p.shape), dt)
        self._mat[k] = True
        self._n_mat += 1

    def add_param_group(self, param_group):
        n = len(self.param_groups)
        super().add_param_group(param_group)
        try:
            self._register(self.param_groups[-1])
            if self._lookahead is not None:
                self.param_groups[-1]["counter"] = 0
        except BaseException:
            del self.param_groups[n:]
            raise

    def _sync_options(self):
        keys = self._spec.keys
        for gi, group in enumerate(self.param_groups):
            have = self._synced[gi]
            changed = None
            for k in keys:
                v = group[k]
                old = have[k]
                if v is not old and _differs(v, old):
                    if changed is None:
                        changed = []
                    changed.append(k)
            if changed is None:
                continue
            try:
                if changed == ["lr"]:
                    self._engine.set_lr(gi, float(group["lr"]))
                else:
                    self._engine.set_options(gi, self._spec.option_text(
                        {k: group[k] for k in keys}))
            except _lib.CtrainError as e:
                raise ValueError(str(e)) from None
            for k in changed:
                have[k] = _snapshot(group[k])

    # ---- the step -----------------------------------------------------------

    @torch.no_grad()
    def step(self, closure=None):
        """Performs one optimization step (one C call for every tensor)."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        self._sync_options()
        flat = self._flat
        n = len(flat)
        grads = [p.grad for p in flat]
        try:
            gptrs = [0 if g is None else g.data_ptr() for g in grads]
        except RuntimeError:
            gptrs = None
        if gptrs is None or gptrs != self._gptrs:
            for k, g in enumerate(grads):
                if g is None:
                    continue
                gi, i = self._where[k]
                name = f"parameter {i} of group {gi}"
                _check_tensor(name, "gradient", g, self._cls())
                if g.dtype != flat[k].dtype:
                    raise UnsupportedTensorError(
                        f"ctrain.optim.{self._cls()}: the gradient of {name} has dtype "
                        f"{g.dtype}, the parameter {flat[k].dtype}")
                if g.shape != flat[k].shape:
                    raise ValueError(f"ctrain.optim.{self._cls()}: the gradient of {name} has "
                                     f"shape {tuple(g.shape)}, the parameter "
                                     f"{tuple(flat[k].shape)}")
            self._garr[:] = gptrs
            self._gptrs = gptrs
            mask = [g is not None for g in grads]
            self._mask = None if all(mask) else torch.tensor(mask, dtype=torch.float32)
        dptrs = [p.data_ptr() for p in flat]
        if dptrs != self._dptrs:
            for k, p in enumerate(flat):
                gi, i = self._where[k]
                _check_tensor(f"parameter {i} of group {gi}", "parameter", p, self._cls())
            self._darr[:] = dptrs
            self._dptrs = dptrs
        self._engine.step_buffers(self._darr, self._garr, n)
        if self._mask is None:
            self._steps += 1
        else:
            self._steps += self._mask
        if self._n_mat < n:
            for k in range(n):
                if not self._mat[k] and gptrs[k]:
                    self._materialize(k)
        return loss

    # ---- state: load, pickle, deepcopy ----------------------------------------

    def __setstate__(self, state):
        # load_state_dict ends here: a state it cannot take (a tensor of the
        # wrong size, a value 8-bit state cannot hold) leaves the optimizer
        # exactly as it was, engine and state included
        before = dict(self.__dict__)
        try:
            super().__setstate__(state)
            # A group saved by an older release may lack options added since
            # (maximize, foreach, ...): torch's __setstate__ fills them with the
            # constructor's defaults, not with this instance's, and so does ctrain.
            base = self._spec.fn()
            for group in self.param_groups:
                for k, v in base.items():
                    group.setdefault(k, v)
                if self._spec.kind == "adamw":
                    group["decoupled_weight_decay"] = True
            keep = before.get("_keep_precision")
            if keep is not None:  # load_state_dict: the storage stays this optimizer's
                for group, kept in zip(self.param_groups, keep):
                    for k in _PRECISION_KEYS:
                        group.pop(k, None)
                    group.update(kept)
            self.__dict__.pop("_keep_precision", None)
            self._rebuild()
        except BaseException:
            self.__dict__.clear()
            self.__dict__.update(before)
            raise

    def load_state_dict(self, state_dict):
        """torch.optim's load_state_dict. The state's storage stays this
        optimizer's (its groups' state_dtype, min_8bit_size and
        master_weights): float32 state from torch.optim loads into 8-bit or
        bfloat16 state, and back. A state that cannot be loaded is refused
        with the optimizer unchanged."""
        self._keep_precision = [{k: g[k] for k in _PRECISION_KEYS if k in g}
                                for g in self.param_groups]
        try:
            super().load_state_dict(state_dict)
        finally:
            self.__dict__.pop("_keep_precision", None)

    def _rebuild(self):
        """Builds a new engine from param_groups and state (after
        load_state_dict or unpickling) and points state at its buffers."""
        old_state = self.state
        self.__dict__.setdefault("_lookahead", None)
        self._new_engine()
        self.state = collections.defaultdict(dict)
        try:
            for group in self.param_groups:
                self._register(group)
        except BaseException:
            self.state = old_state  # its tensors keep the previous engine's memory alive
            raise
        if self._lookahead is not None:
            for gi, group in enumerate(self.param_groups):
                self._engine.set_lookahead_counter(gi, group.setdefault("counter", 0))
        for k, p in enumerate(self._flat):
            src = old_state.get(p)
            if not src:
                continue
            g, i = self._where[k]
            step = src.get("step", None)
            layout = self._engine.state_layout(g, i)
            if step is None:
                step = 1 if layout else 0
            step = int(float(step))
            used = self._load_state(k, src, step, layout)
            self._engine.set_step(g, i, step)
            self._steps[k] = float(step)
            if self._mat[k]:  # eager kinds: already materialized
                self._mat[k] = False
                self._n_mat -= 1
            self._materialize(k)
            # keys the engine does not keep (e.g. torch's None momentum buffers)
            for key, v in src.items():
                if key not in self.state[p] and key != "step" and key not in used:
                    self.state[p][key] = v
        # state that does not belong to a parameter is kept as torch does
        for key, v in old_state.items():
            if not isinstance(key, torch.Tensor):
                self.state[key] = v

    def _load_state(self, k, src, step, layout):
        """Sets parameter k's engine state from src (a state[p] dict) and
        returns the keys of src it used. A buffer stored as the engine
        stores it is copied (8-bit: NAME_codes and NAME_absmax, exactly);
        float values of any other storage are converted (rounded to
        bfloat16, quantized to 8 bits)."""
        g, i = self._where[k]
        views = {key: (buf, tag) for key, buf, tag in self._engine.state_views(g, i)}
        used = set()
        where = f"ctrain.optim.{self._cls()}: state '{{}}' of parameter {i} of group {g}"
        for b, (name, numel, storage) in enumerate(layout):
            exact = ((name + "_codes", name + "_absmax") if storage == _lib.CT_STATE_Q8
                     else (name,))
            if all(src.get(key) is not None for key in exact):
                for key in exact:
                    buf, tag = views[key]
                    dst = _as_tensor(buf, (-1,), tag)
                    v = torch.as_tensor(src[key]).detach().to("cpu").reshape(-1)
                    if v.numel() != dst.numel():
                        raise ValueError(where.format(key) + f" has {v.numel()} elements, "
                                         f"expected {dst.numel()}")
                    dst.copy_(v.to(dst.dtype))
                used.update(exact)
            elif src.get(name) is not None:  # float values into 8-bit codes
                v = torch.as_tensor(src[name]).detach().to("cpu", torch.float32)
                v = v.contiguous().reshape(-1)
                if v.numel() != numel:
                    raise ValueError(where.format(name) + f" has {v.numel()} elements, "
                                     f"expected {numel}")
                try:
                    self._engine.state_write(g, i, b, v.data_ptr(), numel)
                except _lib.CtrainError as e:
                    raise ValueError(str(e)) from None
                used.add(name)
            elif step > 0 and name not in ("slow_params", "master"):
                # Lookahead's slow weights and the master copy start from the
                # parameter's values when a state dict lacks them
                raise ValueError(f"ctrain.optim.{self._cls()}: the state of parameter {i} of "
                                 f"group {g} lacks '{name}'")
        return used

    def _save_lookahead_counters(self):
        """Lookahead's steps since the last sync, per group, into the group's
        'counter' (pytorch-optimizer's key), so a state dict, a pickle or a
        deepcopy resumes the cycle where it was."""
        if self._lookahead is not None:
            for gi, group in enumerate(self.param_groups):
                group["counter"] = self._engine.get_lookahead_counter(gi)

    def state_dict(self):
        """torch.optim's state_dict; 8-bit state dequantized to float32 under
        its torch name, so torch.optim's optimizers load it."""
        self._save_lookahead_counters()
        sd = super().state_dict()
        for k, p in enumerate(self._flat):
            g, i = self._where[k]
            st = sd["state"].get(k)
            if st is None:
                continue
            layout = self._engine.state_layout(g, i)
            if all(storage != _lib.CT_STATE_Q8 for _, _, storage in layout):
                continue
            st = dict(st)  # torch's packed state shares the dicts of self.state
            for b, (name, numel, storage) in enumerate(layout):
                if storage != _lib.CT_STATE_Q8:
                    continue
                v = torch.empty(p.shape if numel == p.numel() else (numel,), dtype=torch.float32)
                self._engine.state_read(g, i, b, v.data_ptr(), numel)
                del st[name + "_codes"], st[name + "_absmax"]
                st[name] = v
            sd["state"][k] = st
        return sd

    def __getstate__(self):
        self._save_lookahead_counters()
        return {"defaults": self.defaults, "state": self.state,
                "param_groups": self.param_groups, "_lookahead": self._lookahead}


def _snapshot(v):
    if isinstance(v, torch.Tensor):
        return v.detach().clone()
    if isinstance(v, list):
        return tuple(v)
    return v


def _differs(a, b):
    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        return bool(torch.as_tensor(a) != torch.as_tensor(b))
    if isinstance(a, (tuple, list)):
        return tuple(_snapshot(x) for x in a) != tuple(b) if isinstance(b, tuple) else True
    return a != b


def _make(spec):
    fn = spec.fn

    def __init__(self, params, *args, state_dtype=None, min_8bit_size=None,
                 master_weights=None, **kwargs):
        defaults = fn(*args, **kwargs)
        # ctrain's precision keys join the defaults only when given, so a
        # default optimizer's groups (and repr) are torch's
        for k, v in (("state_dtype", state_dtype), ("min_8bit_size", min_8bit_size),
                     ("master_weights", master_weights)):
            if v is not None:
                defaults[k] = v
        _CtrainOptimizer.__init__(self, params, defaults)

    sig = inspect.signature(fn)
    p0 = inspect.Parameter("params", inspect.Parameter.POSITIONAL_OR_KEYWORD)
    self_p = inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)
    prec = [inspect.Parameter(k, inspect.Parameter.KEYWORD_ONLY, default=None)
            for k in ("state_dtype", "min_8bit_size", "master_weights")]
    rest = list(sig.parameters.values())
    kw = [q for q in rest if q.kind == inspect.Parameter.VAR_KEYWORD]
    rest = [q for q in rest if q.kind != inspect.Parameter.VAR_KEYWORD]
    # keyword-only parameters go after every positional one
    __init__.__signature__ = sig.replace(parameters=[self_p, p0, *rest, *prec, *kw])
    twin = f"torch.optim.{spec.name}" if spec.torch_twin else "pytorch-optimizer's " + spec.name
    doc = (f"{spec.name} run by ctrain's C engine ('{spec.kind}'); same arguments, defaults, "
           f"numerics and state_dict layout as {twin}.")
    cls = type(spec.name, (_CtrainOptimizer,), {"__init__": __init__, "_spec": spec,
                                               "__doc__": doc, "__module__": __name__})
    return cls


SGD = _make(_spec.SPECS["SGD"])
Adam = _make(_spec.SPECS["Adam"])
AdamW = _make(_spec.SPECS["AdamW"])
Adagrad = _make(_spec.SPECS["Adagrad"])
RMSprop = _make(_spec.SPECS["RMSprop"])
Adadelta = _make(_spec.SPECS["Adadelta"])
Adamax = _make(_spec.SPECS["Adamax"])
NAdam = _make(_spec.SPECS["NAdam"])
RAdam = _make(_spec.SPECS["RAdam"])
Rprop = _make(_spec.SPECS["Rprop"])
ASGD = _make(_spec.SPECS["ASGD"])
LAMB = _make(_spec.SPECS["LAMB"])
LARS = _make(_spec.SPECS["LARS"])
Lion = _make(_spec.SPECS["Lion"])
Adafactor = _make(_spec.SPECS["Adafactor"])


def Lookahead(optimizer, k=5, alpha=0.5):
    """Wraps a ctrain optimizer in Lookahead (Zhang et al. 2019, Algorithm 1):
    every k steps the slow weights move alpha of the way to the fast weights
    and the fast weights are reset to them, as pytorch-optimizer's Lookahead
    with pullback_momentum='none'. Returns the same optimizer object, now
    stepping with Lookahead; its state gains 'slow_params'."""
    if not isinstance(optimizer, _CtrainOptimizer):
        raise TypeError("ctrain.optim.Lookahead wraps a ctrain.optim optimizer, got "
                        f"{type(optimizer).__name__}")
    if not isinstance(k, int) or k < 1:
        raise ValueError(f"Invalid k value: {k} (must be an integer >= 1)")
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"Invalid alpha value: {alpha} (must be in [0, 1])")
    optimizer._lookahead = (k, float(alpha))
    try:
        optimizer._rebuild()
    except BaseException:  # e.g. 16-bit parameters: the optimizer stays as it was
        optimizer._lookahead = None
        optimizer._rebuild()
        raise
    return optimizer

# Bacterial foraging optimization (issue 5; python/ctrain/_bfo_torch.py)
from ._bfo_torch import BFO, AdaptiveBFO, HybridBFO  # noqa: E402
__all__ += ["BFO", "AdaptiveBFO", "HybridBFO"]
# L-BFGS (issue 5; python/ctrain/_lbfgs.py)
from ._lbfgs import LBFGS  # noqa: E402
__all__ += ["LBFGS"]
