"""The optimizers ctrain offers in Python: constructor arguments, defaults,
validation and how their options and state map onto the C engine.

The constructors of the optimizers torch.optim also has take the same
arguments, with the same defaults, and refuse bad values with the same
ValueError messages as torch 2.15's (torch/optim/*.py). The others (LAMB,
LARS, Lion, Adafactor) take the C engine's options (docs/optimizers.md).
This module does not import torch, so ctrain.numpy works without it.
"""


def _is_tensor(x):
    return type(x).__module__.startswith("torch") and hasattr(x, "numel")


def _nonneg(label, value):
    """torch.optim's check and message for an option that must be >= 0."""
    if not 0.0 <= value:
        raise ValueError(f"Invalid {label} value: {value}")


def _lr_check(lr):
    if _is_tensor(lr) and lr.numel() != 1:
        raise ValueError("Tensor lr must be 1-element")
    if not 0.0 <= lr:
        raise ValueError(f"Invalid learning rate: {lr}")


def _betas_check(betas):
    if not 0.0 <= betas[0] < 1.0:
        raise ValueError(f"Invalid beta parameter at index 0: {betas[0]}")
    if not 0.0 <= betas[1] < 1.0:
        raise ValueError(f"Invalid beta parameter at index 1: {betas[1]}")


def _unsupported_flags(name, capturable=False, differentiable=False):
    if capturable:
        raise ValueError(
            f"ctrain.optim.{name}: capturable=True (CUDA graph capture) is not supported; "
            "ctrain runs on CPU tensors"
        )
    if differentiable:
        raise ValueError(
            f"ctrain.optim.{name}: differentiable=True (autograd through the step) is not "
            "supported; use torch.optim for that"
        )


STATE_DTYPES = ("fp32", "bf16", "int8")
# optimizers whose state the engine can keep in bf16 or 8 bits (C: optim.h)
REDUCED_STATE_KINDS = ("sgd", "adam", "adamw", "adagrad", "rmsprop", "lion")


def precision_text(group, default_sdt, where):
    """The engine's precision options of a param group: "state_dtype"
    (fp32, bf16 or int8; default_sdt when absent), "min_8bit_size" (int8:
    smaller tensors keep fp32 state; the engine's default 4096 when absent)
    and "master_weights". where names the optimizer in messages. The
    engine refuses reduced state for optimizers that lack it
    (CT_EUNSUPPORTED: REDUCED_STATE_KINDS have it)."""
    sdt = group.get("state_dtype")
    if sdt is None:
        sdt = default_sdt
    if sdt not in STATE_DTYPES:
        raise ValueError(f"{where}: state_dtype {sdt!r} is not one of {', '.join(STATE_DTYPES)}")
    text = []
    if sdt != "fp32":
        text.append(f"state_dtype={sdt}")
    m8 = group.get("min_8bit_size")
    if m8 is not None:
        if isinstance(m8, bool) or not isinstance(m8, int) or m8 < 0:
            raise ValueError(f"{where}: min_8bit_size must be an int >= 0, got {m8!r}")
        text.append(f"min_8bit_size={m8}")
    if group.get("master_weights", False):
        text.append("master_weights=true")
    return " ".join(text)


class Spec:
    """name: the class name; kind: the C optimizer; keys: the param-group keys
    passed to the engine; scalar_state: state keys torch keeps as 0-dim
    tensors; has_step: torch keeps state['step']; eager: torch creates the
    state in the constructor (Adagrad)."""

    def __init__(self, name, kind, fn, keys, scalar_state=(), has_step=True, eager=False,
                 torch_twin=True):
        self.name, self.kind, self.fn, self.keys = name, kind, fn, tuple(keys)
        self.scalar_state = frozenset(scalar_state)
        self.has_step, self.eager, self.torch_twin = has_step, eager, torch_twin

    def option_text(self, group):
        from ._lib import fmt_value

        parts = []
        for k in self.keys:
            v = group[k]
            if k == "betas" and self.kind == "adafactor":
                if v[0] is None:
                    parts.append("first_moment=false")
                    v = (0.9, v[1])
                else:
                    parts.append("first_moment=true")
            if k == "momentum_dtype":
                v = _dtype_name(v)
                parts.append(f"{k}={v}")
                continue
            if _is_tensor(v):
                v = float(v)
            elif isinstance(v, (tuple, list)):
                v = tuple(float(x) if _is_tensor(x) else x for x in v)
            parts.append(f"{k}={fmt_value(v)}")
        return " ".join(parts)


def _dtype_name(v):
    s = str(v)
    return {"torch.bfloat16": "bfloat16", "torch.float32": "float32"}.get(s, s)


# ---- torch.optim twins ----------------------------------------------------


def sgd(lr=1e-3, momentum=0, dampening=0, weight_decay=0, nesterov=False, *, maximize=False,
        foreach=None, differentiable=False, fused=None):
    if _is_tensor(lr) and lr.numel() != 1:
        raise ValueError("Tensor lr must be 1-element")
    if lr < 0.0:
        raise ValueError(f"Invalid learning rate: {lr}")
    if momentum < 0.0:
        raise ValueError(f"Invalid momentum value: {momentum}")
    if weight_decay < 0.0:
        raise ValueError(f"Invalid weight_decay value: {weight_decay}")
    d = dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
             nesterov=nesterov, maximize=maximize, foreach=foreach,
             differentiable=differentiable, fused=fused)
    if nesterov and (momentum <= 0 or dampening != 0):
        raise ValueError("Nesterov momentum requires a momentum and zero dampening")
    _unsupported_flags("SGD", False, differentiable)
    return d


def _adam_checks(lr, betas, eps, weight_decay, foreach, capturable):
    if _is_tensor(lr):
        if foreach and not capturable:
            raise ValueError(
                "lr as a Tensor is not supported for capturable=False and foreach=True")
        if lr.numel() != 1:
            raise ValueError("Tensor lr must be 1-element")
    if not 0.0 <= lr:
        raise ValueError(f"Invalid learning rate: {lr}")
    _nonneg("epsilon", eps)
    _betas_check(betas)
    _nonneg("weight_decay", weight_decay)
    if not ((isinstance(betas[0], float) and isinstance(betas[1], float))
            or (_is_tensor(betas[0]) and _is_tensor(betas[1]))):
        raise ValueError("betas must be either both floats or both Tensors")
    for i in (0, 1):
        if _is_tensor(betas[i]):
            if not capturable and foreach:
                raise ValueError(f"betas[{i}] as a Tensor is not supported for capturable=False "
                                 "and foreach=True")
            if betas[i].numel() != 1:
                raise ValueError(f"Tensor betas[{i}] must be 1-element")
    b = tuple(x.squeeze() if _is_tensor(x) and x.dim() != 0 else x for x in betas)
    return b


def adam(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, amsgrad=False, *, foreach=None,
         maximize=False, capturable=False, differentiable=False, fused=None,
         decoupled_weight_decay=False):
    betas = _adam_checks(lr, betas, eps, weight_decay, foreach, capturable)
    d = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
             maximize=maximize, foreach=foreach, capturable=capturable,
             differentiable=differentiable, fused=fused,
             decoupled_weight_decay=decoupled_weight_decay)
    if fused:
        if differentiable:
            raise RuntimeError("`fused` does not support `differentiable`")
        if foreach:
            raise RuntimeError("`fused` and `foreach` cannot be `True` together.")
    _unsupported_flags("Adam", capturable, differentiable)
    return d


def adamw(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False, *,
          maximize=False, foreach=None, capturable=False, differentiable=False, fused=None):
    d = adam(lr, betas, eps, weight_decay, amsgrad, foreach=foreach, maximize=maximize,
             capturable=capturable, differentiable=differentiable, fused=fused,
             decoupled_weight_decay=True)
    return d


def adagrad(lr=1e-2, lr_decay=0, weight_decay=0, initial_accumulator_value=0, eps=1e-10,
            foreach=None, *, maximize=False, differentiable=False, fused=None):
    _lr_check(lr)
    _nonneg("lr_decay", lr_decay)
    _nonneg("weight_decay", weight_decay)
    _nonneg("initial_accumulator_value", initial_accumulator_value)
    _nonneg("epsilon", eps)
    d = dict(lr=lr, lr_decay=lr_decay, eps=eps, weight_decay=weight_decay,
             initial_accumulator_value=initial_accumulator_value, foreach=foreach,
             maximize=maximize, differentiable=differentiable, fused=fused)
    if fused:
        if differentiable:
            raise RuntimeError("`fused` does not support `differentiable`")
        if foreach:
            raise RuntimeError("`fused` and `foreach` cannot be `True` together.")
    _unsupported_flags("Adagrad", False, differentiable)
    return d


def rmsprop(lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0, centered=False,
            capturable=False, foreach=None, maximize=False, differentiable=False):
    _lr_check(lr)
    _nonneg("epsilon", eps)
    _nonneg("momentum", momentum)
    _nonneg("weight_decay", weight_decay)
    _nonneg("alpha", alpha)
    _unsupported_flags("RMSprop", capturable, differentiable)
    return dict(lr=lr, momentum=momentum, alpha=alpha, eps=eps, centered=centered,
                weight_decay=weight_decay, capturable=capturable, foreach=foreach,
                maximize=maximize, differentiable=differentiable)


def adadelta(lr=1.0, rho=0.9, eps=1e-6, weight_decay=0, foreach=None, *, capturable=False,
             maximize=False, differentiable=False):
    _lr_check(lr)
    if not 0.0 <= rho <= 1.0:
        raise ValueError(f"Invalid rho value: {rho}")
    _nonneg("epsilon", eps)
    _nonneg("weight_decay", weight_decay)
    _unsupported_flags("Adadelta", capturable, differentiable)
    return dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay, maximize=maximize,
                capturable=capturable, foreach=foreach, differentiable=differentiable)


def adamax(lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, foreach=None, *,
           maximize=False, differentiable=False, capturable=False):
    _lr_check(lr)
    _nonneg("epsilon", eps)
    _betas_check(betas)
    _nonneg("weight_decay", weight_decay)
    _unsupported_flags("Adamax", capturable, differentiable)
    return dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, foreach=foreach,
                maximize=maximize, differentiable=differentiable, capturable=capturable)


def nadam(lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, momentum_decay=4e-3,
          decoupled_weight_decay=False, *, foreach=None, maximize=False, capturable=False,
          differentiable=False):
    _lr_check(lr)
    _nonneg("epsilon", eps)
    _betas_check(betas)
    _nonneg("weight_decay", weight_decay)
    _nonneg("momentum_decay", momentum_decay)
    _unsupported_flags("NAdam", capturable, differentiable)
    return dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                momentum_decay=momentum_decay, decoupled_weight_decay=decoupled_weight_decay,
                maximize=maximize, foreach=foreach, capturable=capturable,
                differentiable=differentiable)


def radam(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, decoupled_weight_decay=False,
          *, foreach=None, maximize=False, capturable=False, differentiable=False):
    _lr_check(lr)
    _nonneg("epsilon", eps)
    _betas_check(betas)
    _nonneg("weight_decay", weight_decay)
    _unsupported_flags("RAdam", capturable, differentiable)
    return dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, maximize=maximize,
                foreach=foreach, capturable=capturable,
                decoupled_weight_decay=decoupled_weight_decay, differentiable=differentiable)


def rprop(lr=1e-2, etas=(0.5, 1.2), step_sizes=(1e-6, 50), *, capturable=False, foreach=None,
          maximize=False, differentiable=False):
    _lr_check(lr)
    if not 0.0 < etas[0] < 1.0 < etas[1]:
        raise ValueError(f"Invalid eta values: {etas[0]}, {etas[1]}")
    _unsupported_flags("Rprop", capturable, differentiable)
    return dict(lr=lr, etas=etas, step_sizes=step_sizes, foreach=foreach, maximize=maximize,
                differentiable=differentiable, capturable=capturable)


def asgd(lr=1e-2, lambd=1e-4, alpha=0.75, t0=1e6, weight_decay=0, foreach=None, maximize=False,
         differentiable=False, capturable=False):
    _lr_check(lr)
    _nonneg("lambd", lambd)
    _nonneg("alpha", alpha)
    _nonneg("weight_decay", weight_decay)
    _unsupported_flags("ASGD", capturable, differentiable)
    return dict(lr=lr, lambd=lambd, alpha=alpha, t0=t0, weight_decay=weight_decay,
                foreach=foreach, maximize=maximize, differentiable=differentiable,
                capturable=capturable)


# ---- optimizers torch.optim does not have (options of the C engine) -------


def lamb(lr=1e-3, betas=(0.9, 0.999), weight_decay=0.0, weight_decouple=True, fixed_decay=False,
         grad_averaging=True, max_grad_norm=1.0, adam=False, eps=1e-6, *, maximize=False):
    _lr_check(lr)
    _betas_check(betas)
    _nonneg("weight_decay", weight_decay)
    _nonneg("epsilon", eps)
    return dict(lr=lr, betas=betas, weight_decay=weight_decay, weight_decouple=weight_decouple,
                fixed_decay=fixed_decay, grad_averaging=grad_averaging,
                max_grad_norm=max_grad_norm, adam=adam, eps=eps, maximize=maximize)


def lars(lr=1e-3, weight_decay=0.0, momentum=0.9, dampening=0.0, trust_coefficient=1e-3,
         nesterov=False, *, maximize=False):
    _lr_check(lr)
    _nonneg("weight_decay", weight_decay)
    if not 0.0 <= momentum < 1.0:
        raise ValueError(f"Invalid momentum value: {momentum}")
    if not 0.0 <= dampening < 1.0:
        raise ValueError(f"Invalid dampening value: {dampening}")
    _nonneg("trust_coefficient", trust_coefficient)
    return dict(lr=lr, weight_decay=weight_decay, momentum=momentum, dampening=dampening,
                trust_coefficient=trust_coefficient, nesterov=nesterov, maximize=maximize)


def lion(lr=1e-4, betas=(0.9, 0.99), weight_decay=0.0, weight_decouple=True, fixed_decay=False,
         *, maximize=False):
    _lr_check(lr)
    _betas_check(betas)
    _nonneg("weight_decay", weight_decay)
    return dict(lr=lr, betas=betas, weight_decay=weight_decay, weight_decouple=weight_decouple,
                fixed_decay=fixed_decay, maximize=maximize)


def adafactor(lr=1e-3, betas=(0.9, 0.999), decay_rate=-0.8, weight_decay=0.0,
              weight_decouple=True, fixed_decay=False, clip_threshold=1.0, ams_bound=False,
              scale_parameter=True, relative_step=True, warmup_init=False, eps1=1e-30,
              eps2=1e-3, momentum_dtype="bfloat16", *, maximize=False):
    _lr_check(lr)
    if betas[0] is not None and not 0.0 <= betas[0] < 1.0:
        raise ValueError(f"Invalid beta parameter at index 0: {betas[0]}")
    if not 0.0 <= betas[1] < 1.0:
        raise ValueError(f"Invalid beta parameter at index 1: {betas[1]}")
    _nonneg("weight_decay", weight_decay)
    if _dtype_name(momentum_dtype) not in ("bfloat16", "float32"):
        raise ValueError(f"Invalid momentum_dtype: {momentum_dtype} (bfloat16 or float32)")
    return dict(lr=lr, betas=betas, decay_rate=decay_rate, weight_decay=weight_decay,
                weight_decouple=weight_decouple, fixed_decay=fixed_decay,
                clip_threshold=clip_threshold, ams_bound=ams_bound,
                scale_parameter=scale_parameter, relative_step=relative_step,
                warmup_init=warmup_init, eps1=eps1, eps2=eps2,
                momentum_dtype=_dtype_name(momentum_dtype), maximize=maximize)


_ADAM_KEYS = ("lr", "betas", "eps", "weight_decay", "amsgrad", "maximize")

SPECS = {
    s.name: s
    for s in [
        Spec("SGD", "sgd", sgd,
             ("lr", "momentum", "dampening", "weight_decay", "nesterov", "maximize"),
             has_step=False),
        Spec("Adam", "adam", adam, _ADAM_KEYS + ("decoupled_weight_decay",)),
        Spec("AdamW", "adamw", adamw, _ADAM_KEYS),
        Spec("Adagrad", "adagrad", adagrad,
             ("lr", "lr_decay", "weight_decay", "initial_accumulator_value", "eps", "maximize"),
             eager=True),
        Spec("RMSprop", "rmsprop", rmsprop,
             ("lr", "alpha", "eps", "weight_decay", "momentum", "centered", "maximize")),
        Spec("Adadelta", "adadelta", adadelta, ("lr", "rho", "eps", "weight_decay", "maximize")),
        Spec("Adamax", "adamax", adamax, ("lr", "betas", "eps", "weight_decay", "maximize")),
        Spec("NAdam", "nadam", nadam,
             ("lr", "betas", "eps", "weight_decay", "momentum_decay", "decoupled_weight_decay",
              "maximize"), scalar_state=("mu_product",)),
        Spec("RAdam", "radam", radam,
             ("lr", "betas", "eps", "weight_decay", "decoupled_weight_decay", "maximize")),
        Spec("Rprop", "rprop", rprop, ("lr", "etas", "step_sizes", "maximize")),
        Spec("ASGD", "asgd", asgd, ("lr", "lambd", "alpha", "t0", "weight_decay", "maximize"),
             scalar_state=("eta", "mu")),
        Spec("LAMB", "lamb", lamb,
             ("lr", "betas", "weight_decay", "weight_decouple", "fixed_decay", "grad_averaging",
              "max_grad_norm", "adam", "eps", "maximize"),
             scalar_state=("weight_norm", "adam_norm", "trust_ratio"), torch_twin=False),
        Spec("LARS", "lars", lars,
             ("lr", "weight_decay", "momentum", "dampening", "trust_coefficient", "nesterov",
              "maximize"), torch_twin=False),
        Spec("Lion", "lion", lion,
             ("lr", "betas", "weight_decay", "weight_decouple", "fixed_decay", "maximize"),
             torch_twin=False),
        Spec("Adafactor", "adafactor", adafactor,
             ("lr", "betas", "decay_rate", "weight_decay", "weight_decouple", "fixed_decay",
              "clip_threshold", "ams_bound", "scale_parameter", "relative_step", "warmup_init",
              "eps1", "eps2", "momentum_dtype", "maximize"), torch_twin=False),
    ]
}


def state_shape(spec, name, numel, shape):
    """Shape of a state tensor as torch / pytorch-optimizer keep it."""
    n = 1
    for s in shape:
        n *= s
    if name in spec.scalar_state and numel == 1:
        return ()
    if numel == n:
        return tuple(shape)
    if spec.kind == "adafactor" and len(shape) >= 2:
        if name == "exp_avg_sq_row":
            return tuple(shape[:-1])
        if name == "exp_avg_sq_col":
            return tuple(shape[:-2]) + (shape[-1],)
    return (numel,)
