"""Reference cases for Adagrad, RMSprop, Adadelta, Adamax, NAdam, RAdam, Rprop,
ASGD (and Adam's decoupled_weight_decay) against torch.optim."""
import torch

# Two groups of different shapes; the second gets different options.
SHAPES = [[(37,), (5, 8)], [(3, 4, 2)]]

# Parameter 1 misses its gradient every 7th step, parameter 2 (group 1)
# for the first 5 steps, so its state starts late.
SKIP = dict(grad_mask=lambda t, i: not (i == 1 and t % 7 == 3) and not (i == 2 and t < 5))


def away_from_zero(maximized_groups=()):
    """A gradient whose minimum (for groups with maximize, maximum) lies 20
    beyond each element's |target| on the element's own side of zero, with
    the usual noise and 5% zeroed entries, so parameters move away from
    zero and never pass near it.

    Why: torch's CPU sqrt is not correctly rounded (MKL; up to 0.75 ulp, one
    result in five off by one ulp, measured on the reference machine), and
    ctrain's is. RMSprop's and Adadelta's normalized steps carry such 1-ulp
    differences along as absolute errors of about 1e-7, which break the
    relative tolerance when a parameter passes close to zero. Away from zero
    every option is still exercised. (With torch's sqrt replaced by a
    correctly rounded one, every case in this file replays bit-exactly.)"""
    def fn(p, curv, target, t, gen):
        group = 1 if p.dim() == 3 else 0  # SHAPES: only group 1 is 3-d
        sign = -1.0 if group in maximized_groups else 1.0
        noise = torch.randn(p.shape, generator=gen) * 0.1
        p = p.detach()
        g = sign * curv * (p - torch.sign(p) * (20.0 + target.abs())) + noise
        g[torch.rand(p.shape, generator=gen) < 0.05] = 0.0
        return g
    return dict(grad_fn=fn)


FAR = away_from_zero()


def case(kind, cls, name, g0, g1, c0, c1, ctor=None, **extra):
    ctor = ctor or {}
    return dict(name=name, shapes=SHAPES, torch_opt=lambda gs: cls(gs, **ctor),
                torch_groups=[g0, g1], ctrain_opt=kind, ctrain_groups=[c0, c1], **extra)


def adagrad(name, g0, g1, c0, c1, **kw):
    return case("adagrad", torch.optim.Adagrad, name, g0, g1, c0, c1, **kw)


def rmsprop(name, g0, g1, c0, c1, **kw):
    return case("rmsprop", torch.optim.RMSprop, name, g0, g1, c0, c1, **kw)


def adadelta(name, g0, g1, c0, c1, **kw):
    return case("adadelta", torch.optim.Adadelta, name, g0, g1, c0, c1, **kw)


def adamax(name, g0, g1, c0, c1, **kw):
    return case("adamax", torch.optim.Adamax, name, g0, g1, c0, c1, **kw)


def nadam(name, g0, g1, c0, c1, **kw):
    return case("nadam", torch.optim.NAdam, name, g0, g1, c0, c1, **kw)


def radam(name, g0, g1, c0, c1, **kw):
    return case("radam", torch.optim.RAdam, name, g0, g1, c0, c1, **kw)


def rprop(name, g0, g1, c0, c1, **kw):
    return case("rprop", torch.optim.Rprop, name, g0, g1, c0, c1, **kw)


def asgd(name, g0, g1, c0, c1, **kw):
    return case("asgd", torch.optim.ASGD, name, g0, g1, c0, c1, **kw)


def adam(name, g0, g1, c0, c1, **kw):
    return case("adam", torch.optim.Adam, name, g0, g1, c0, c1, **kw)


CASES = [
    # Adagrad. torch fills state "sum" in the constructor from the
    # constructor's initial_accumulator_value (a group's own value is not
    # used), so cases give it to the constructor and to both ctrain groups.
    adagrad("adagrad_default", dict(), dict(lr=0.05, eps=1e-6), "", "lr=0.05 eps=1e-6"),
    adagrad("adagrad_lr_decay_wd_init_acc",
            dict(lr=0.1, lr_decay=0.05, weight_decay=1e-2, initial_accumulator_value=0.1),
            dict(lr=0.02, initial_accumulator_value=0.1, maximize=True),
            "lr=0.1 lr_decay=0.05 weight_decay=1e-2 initial_accumulator_value=0.1",
            "lr=0.02 initial_accumulator_value=0.1 maximize=true",
            ctor=dict(initial_accumulator_value=0.1)),
    adagrad("adagrad_maximize_skipped_grads", dict(lr=0.05, maximize=True),
            dict(lr=0.03, lr_decay=1e-3, weight_decay=0.1),
            "lr=0.05 maximize=true", "lr=0.03 lr_decay=1e-3 weight_decay=0.1", **SKIP),
    # RMSprop
    rmsprop("rmsprop_default", dict(), dict(lr=3e-3, alpha=0.9, eps=1e-6),
            "", "lr=3e-3 alpha=0.9 eps=1e-6", **FAR),
    rmsprop("rmsprop_momentum_centered", dict(lr=1e-3, momentum=0.9, centered=True),
            dict(lr=2e-3, momentum=0.5, weight_decay=1e-2),
            "lr=1e-3 momentum=0.9 centered=true", "lr=2e-3 momentum=0.5 weight_decay=1e-2", **FAR),
    rmsprop("rmsprop_centered_maximize_wd", dict(centered=True, weight_decay=1e-2, maximize=True),
            dict(alpha=0.3, lr=1e-3, centered=True),
            "centered=true weight_decay=1e-2 maximize=true", "alpha=0.3 lr=1e-3 centered=true",
            **away_from_zero(maximized_groups=(0,))),
    rmsprop("rmsprop_skipped_grads", dict(lr=5e-3, momentum=0.8, centered=True),
            dict(lr=1e-2, maximize=True, momentum=0.3),
            "lr=5e-3 momentum=0.8 centered=true", "lr=1e-2 maximize=true momentum=0.3", **SKIP,
            **away_from_zero(maximized_groups=(1,))),
    # Adadelta
    adadelta("adadelta_default", dict(), dict(lr=0.5, rho=0.8), "", "lr=0.5 rho=0.8", **FAR),
    adadelta("adadelta_wd_eps", dict(weight_decay=1e-2, eps=1e-4),
             dict(lr=2.0, rho=0.95, maximize=True),
             "weight_decay=1e-2 eps=1e-4", "lr=2.0 rho=0.95 maximize=true",
             **away_from_zero(maximized_groups=(1,))),
    adadelta("adadelta_skipped_grads", dict(rho=0.3, weight_decay=0.1), dict(lr=0.3, eps=1e-5),
             "rho=0.3 weight_decay=0.1", "lr=0.3 eps=1e-5", **SKIP, **FAR),
    # Adamax
    adamax("adamax_default", dict(), dict(lr=1e-2, betas=(0.8, 0.99)), "", "lr=1e-2 betas=0.8,0.99"),
    adamax("adamax_wd_maximize", dict(weight_decay=1e-2, eps=1e-6),
           dict(maximize=True, betas=(0.3, 0.9), lr=5e-3),
           "weight_decay=1e-2 eps=1e-6", "maximize=true betas=0.3,0.9 lr=5e-3"),
    adamax("adamax_skipped_grads", dict(lr=3e-3), dict(lr=1e-2, weight_decay=0.1),
           "lr=3e-3", "lr=1e-2 weight_decay=0.1", **SKIP),
    # NAdam
    nadam("nadam_default", dict(), dict(lr=5e-3, betas=(0.8, 0.99), momentum_decay=1e-2),
          "", "lr=5e-3 betas=0.8,0.99 momentum_decay=1e-2"),
    nadam("nadam_wd_decoupled", dict(weight_decay=1e-2),
          dict(weight_decay=0.1, decoupled_weight_decay=True, lr=1e-2),
          "weight_decay=1e-2", "weight_decay=0.1 decoupled_weight_decay=true lr=1e-2"),
    nadam("nadam_maximize_skipped_grads", dict(maximize=True, betas=(0.3, 0.9), eps=1e-6),
          dict(momentum_decay=0.0, lr=3e-3),
          "maximize=true betas=0.3,0.9 eps=1e-6", "momentum_decay=0 lr=3e-3", **SKIP),
    # RAdam: rho_t > 5 from step 6 with beta2=0.999; beta2=0.9 (rho_inf=19)
    # and beta2=0.5 (rho_inf=3, never rectified) cover both branches.
    radam("radam_default", dict(), dict(lr=1e-2, betas=(0.8, 0.9)), "", "lr=1e-2 betas=0.8,0.9"),
    radam("radam_wd_decoupled", dict(weight_decay=1e-2, lr=5e-3),
          dict(weight_decay=0.1, decoupled_weight_decay=True, betas=(0.3, 0.5)),
          "weight_decay=1e-2 lr=5e-3", "weight_decay=0.1 decoupled_weight_decay=true betas=0.3,0.5"),
    radam("radam_maximize_skipped_grads", dict(maximize=True, eps=1e-6), dict(lr=2e-3, betas=(0.9, 0.95)),
          "maximize=true eps=1e-6", "lr=2e-3 betas=0.9,0.95", **SKIP),
    # Rprop
    rprop("rprop_default", dict(), dict(lr=1e-3), "", "lr=1e-3"),
    rprop("rprop_etas_step_sizes", dict(etas=(0.3, 1.5), step_sizes=(1e-3, 0.05)),
          dict(lr=0.02, etas=(0.7, 1.1), step_sizes=(1e-4, 1.0), maximize=True),
          "etas=0.3,1.5 step_sizes=1e-3,0.05", "lr=0.02 etas=0.7,1.1 step_sizes=1e-4,1.0 maximize=true"),
    rprop("rprop_skipped_grads", dict(lr=0.05), dict(maximize=True, step_sizes=(1e-6, 0.2)),
          "lr=0.05", "maximize=true step_sizes=1e-6,0.2", **SKIP),
    # ASGD: a small t0 so that averaging (mu < 1) starts within the run.
    asgd("asgd_default", dict(), dict(lr=5e-2), "", "lr=5e-2"),
    asgd("asgd_averaging_wd", dict(t0=20, lambd=1e-2, alpha=0.5, weight_decay=1e-2),
         dict(lr=0.05, t0=50.5, maximize=True),
         "t0=20 lambd=1e-2 alpha=0.5 weight_decay=1e-2", "lr=0.05 t0=50.5 maximize=true"),
    asgd("asgd_skipped_grads", dict(t0=10, lambd=0.1, lr=0.05), dict(lr=0.02, weight_decay=0.1, t0=3),
         "t0=10 lambd=0.1 lr=0.05", "lr=0.02 weight_decay=0.1 t0=3", **SKIP),
    # Adam's decoupled_weight_decay (AdamW's update inside Adam)
    adam("adam_decoupled_wd", dict(weight_decay=0.1, decoupled_weight_decay=True),
         dict(weight_decay=1e-2, lr=5e-3, amsgrad=True),
         "weight_decay=0.1 decoupled_weight_decay=true", "weight_decay=1e-2 lr=5e-3 amsgrad=true"),
    adam("adam_decoupled_wd_maximize_skipped", dict(weight_decay=0.05, decoupled_weight_decay=True, maximize=True),
         dict(weight_decay=0.05, decoupled_weight_decay=True, betas=(0.3, 0.9)),
         "weight_decay=0.05 decoupled_weight_decay=true maximize=true",
         "weight_decay=0.05 decoupled_weight_decay=true betas=0.3,0.9", **SKIP),
]
