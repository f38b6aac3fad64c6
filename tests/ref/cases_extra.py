"""Reference cases for LAMB, LARS, Lion, Adafactor (pytorch-optimizer 4.1.0)
and Lookahead (pytorch_optimizer.Lookahead around torch.optim.SGD / AdamW).

pytorch-optimizer reads some options from its constructor only (maximize,
momentum_dtype, and for AdaFactor eps1, eps2, clip_threshold, decay_rate);
cases that change them pass the same value to every ctrain group."""
import pytorch_optimizer as po
import torch

# Vectors and matrices in two groups (LARS scales only ndim >= 2).
SHAPES = [[(37,), (5, 8)], [(3, 4, 2), (6,)]]
# Adafactor: vectors (unfactored), matrices and 3-D tensors (factored over
# the last two dims).
AF_SHAPES = [[(37,), (5, 8), (2, 3, 7)], [(3, 4, 2), (6,), (4, 9)]]
# A parameter of several 16384-element chunks: the trust-ratio norms come
# from per-chunk partial sums (in double) instead of torch's float order.
BIG_SHAPES = [[(150, 256), (37,)], [(3, 4, 2)]]


def case(name, cls, ctrain, g0, g1, c0, c1, shapes=SHAPES, ctor=None, **extra):
    ctor = ctor or {}
    return dict(name=name, shapes=shapes, torch_opt=lambda gs: cls(gs, **ctor),
                torch_groups=[g0, g1], ctrain_opt=ctrain, ctrain_groups=[c0, c1], **extra)


class LookaheadView:
    """pytorch_optimizer.Lookahead keeps the slow weights in its own state and
    the inner optimizer's state apart; the generator reads one `state`, so
    this view merges both per parameter (inner keys plus "slow_params")."""

    def __init__(self, la):
        self.la = la

    @property
    def param_groups(self):
        return self.la.param_groups

    def step(self, closure=None):
        return self.la.step(closure)

    @property
    def state(self):
        return {p: {**self.la.optimizer.state.get(p, {}), **self.la.state.get(p, {})}
                for g in self.param_groups for p in g["params"]}


def lookahead(name, inner, ctrain, g0, g1, c0, c1, k, alpha, **extra):
    return dict(name=name, shapes=SHAPES,
                torch_opt=lambda gs: LookaheadView(po.Lookahead(inner(gs), k=k, alpha=alpha)),
                torch_groups=[g0, g1], ctrain_opt=ctrain, ctrain_groups=[c0, c1],
                lookahead={"k": k, "alpha": alpha}, **extra)


CASES = [
    # LAMB
    case("lamb_default", po.Lamb, "lamb", dict(lr=1e-2), dict(lr=3e-3, betas=(0.8, 0.99), weight_decay=1e-2),
         "lr=1e-2", "lr=3e-3 betas=0.8,0.99 weight_decay=1e-2"),
    case("lamb_coupled_fixed_decay", po.Lamb, "lamb",
         dict(lr=1e-2, weight_decay=0.1, weight_decouple=False),
         dict(lr=5e-3, weight_decay=0.05, fixed_decay=True, grad_averaging=False),
         "lr=1e-2 weight_decay=0.1 weight_decouple=false",
         "lr=5e-3 weight_decay=0.05 fixed_decay=true grad_averaging=false"),
    case("lamb_adam_maximize", po.Lamb, "lamb", dict(lr=1e-2, adam=True),
         dict(lr=2e-2, eps=1e-8, weight_decay=1e-2, max_grad_norm=0.5),
         "lr=1e-2 adam=true maximize=true", "lr=2e-2 eps=1e-8 weight_decay=1e-2 max_grad_norm=0.5 maximize=true",
         ctor=dict(maximize=True)),
    case("lamb_multi_chunk", po.Lamb, "lamb", dict(lr=1e-2, weight_decay=1e-2), dict(lr=5e-3),
         "lr=1e-2 weight_decay=1e-2", "lr=5e-3", shapes=BIG_SHAPES),
    # LARS
    case("lars_default", po.LARS, "lars", dict(lr=0.5), dict(lr=0.1, weight_decay=1e-3),
         "lr=0.5", "lr=0.1 weight_decay=1e-3"),
    case("lars_nesterov_no_momentum", po.LARS, "lars",
         dict(lr=0.3, nesterov=True, weight_decay=1e-2, trust_coefficient=0.02),
         dict(lr=0.05, momentum=0.0),
         "lr=0.3 nesterov=true weight_decay=1e-2 trust_coefficient=0.02", "lr=0.05 momentum=0"),
    case("lars_dampening_maximize", po.LARS, "lars", dict(lr=0.2, momentum=0.8, dampening=0.1),
         dict(lr=0.1, trust_coefficient=0.01, weight_decay=0.1),
         "lr=0.2 momentum=0.8 dampening=0.1 maximize=true",
         "lr=0.1 trust_coefficient=0.01 weight_decay=0.1 maximize=true", ctor=dict(maximize=True)),
    case("lars_multi_chunk", po.LARS, "lars", dict(lr=0.5, weight_decay=1e-3), dict(lr=0.1, nesterov=True),
         "lr=0.5 weight_decay=1e-3", "lr=0.1 nesterov=true", shapes=BIG_SHAPES),
    # Lion
    case("lion_default", po.Lion, "lion", dict(), dict(lr=3e-4, betas=(0.95, 0.98)),
         "", "lr=3e-4 betas=0.95,0.98"),
    case("lion_weight_decay", po.Lion, "lion", dict(lr=1e-3, weight_decay=0.1),
         dict(lr=5e-4, weight_decay=1e-2, weight_decouple=False),
         "lr=1e-3 weight_decay=0.1", "lr=5e-4 weight_decay=1e-2 weight_decouple=false"),
    case("lion_fixed_decay_maximize", po.Lion, "lion", dict(lr=1e-3, weight_decay=1e-3, fixed_decay=True),
         dict(lr=1e-3, betas=(0.3, 0.6)),
         "lr=1e-3 weight_decay=1e-3 fixed_decay=true maximize=true", "lr=1e-3 betas=0.3,0.6 maximize=true",
         ctor=dict(maximize=True)),
    # Adafactor
    case("adafactor_default", po.AdaFactor, "adafactor", dict(), dict(weight_decay=1e-2),
         "", "weight_decay=1e-2", shapes=AF_SHAPES),
    case("adafactor_no_momentum_abs_lr", po.AdaFactor, "adafactor", dict(betas=(None, 0.999)),
         dict(lr=1e-2, relative_step=False, scale_parameter=False, weight_decay=1e-2),
         "first_moment=false", "lr=1e-2 relative_step=false scale_parameter=false weight_decay=1e-2",
         shapes=AF_SHAPES),
    case("adafactor_f32_ams_warmup", po.AdaFactor, "adafactor", dict(ams_bound=True, warmup_init=True),
         dict(weight_decay=0.1, weight_decouple=False, betas=(0.8, 0.99)),
         "ams_bound=true warmup_init=true momentum_dtype=float32",
         "weight_decay=0.1 weight_decouple=false betas=0.8,0.99 momentum_dtype=float32",
         shapes=AF_SHAPES, ctor=dict(momentum_dtype=torch.float32)),
    case("adafactor_clip_decay_maximize", po.AdaFactor, "adafactor",
         dict(weight_decay=1e-3, fixed_decay=True), dict(betas=(0.5, 0.9)),
         "weight_decay=1e-3 fixed_decay=true clip_threshold=0.5 decay_rate=-0.5 eps2=1e-2 maximize=true",
         "betas=0.5,0.9 clip_threshold=0.5 decay_rate=-0.5 eps2=1e-2 maximize=true",
         shapes=AF_SHAPES, ctor=dict(clip_threshold=0.5, decay_rate=-0.5, eps2=1e-2, maximize=True)),
    # Lookahead
    lookahead("lookahead_sgd_momentum", lambda gs: torch.optim.SGD(gs, lr=0.02), "sgd",
              dict(momentum=0.9), dict(lr=0.01, momentum=0.5, weight_decay=1e-2),
              "lr=0.02 momentum=0.9", "lr=0.01 momentum=0.5 weight_decay=1e-2", k=5, alpha=0.5),
    lookahead("lookahead_adamw", lambda gs: torch.optim.AdamW(gs), "adamw",
              dict(lr=1e-2), dict(lr=5e-3, weight_decay=0.1),
              "lr=1e-2", "lr=5e-3 weight_decay=0.1", k=3, alpha=0.8),
    lookahead("lookahead_adamw_skipped_grads", lambda gs: torch.optim.AdamW(gs), "adamw",
              dict(lr=1e-2), dict(lr=5e-3, amsgrad=True),
              "lr=1e-2", "lr=5e-3 amsgrad=true", k=4, alpha=0.3,
              grad_mask=lambda t, i: not (i == 1 and t % 8 == 3) and not (i == 2 and t < 6)),
]
