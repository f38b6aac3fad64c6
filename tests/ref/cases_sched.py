"""Reference cases for learning-rate schedules against torch.optim.lr_scheduler.

Each case runs an optimizer with two param groups (different lrs, and
different per-group schedule values where the schedule has any) and a
schedule, for 100 steps. ctrain_sched is {"kind", "options"}; a list of those
is several schedules stepped in order (torch's ChainedScheduler); and
{"kind": "sequential", "children": [...], "milestones": [...]} is SequentialLR.
"""
import math

import torch
from torch.optim import lr_scheduler as S
from torch.optim.swa_utils import SWALR

SHAPES = [[(11,), (3, 4)], [(2, 5)]]


def sched_case(name, torch_sched, ctrain_sched, opt="sgd", g0=None, g1=None, c0=None, c1=None,
               initial_lr=None, group_keys=None, **extra):
    """opt: "sgd" (lr 0.05 / 0.01), "sgdm" (with momentum) or "adam";
    initial_lr: a value per group that torch keeps in the param groups (a
    resumed schedule's)."""
    if opt == "sgd":
        tg = [dict(lr=0.05), dict(lr=0.01)]
        cg = ["lr=0.05", "lr=0.01"]
        topt, copt = (lambda gs: torch.optim.SGD(gs, lr=0.01)), "sgd"
    elif opt == "sgdm":
        tg = [dict(lr=0.05, momentum=0.9), dict(lr=0.01, momentum=0.5, weight_decay=1e-3)]
        cg = ["lr=0.05 momentum=0.9", "lr=0.01 momentum=0.5 weight_decay=1e-3"]
        topt, copt = (lambda gs: torch.optim.SGD(gs, lr=0.01)), "sgd"
    else:
        tg = [dict(lr=3e-3), dict(lr=1e-3, betas=(0.8, 0.99))]
        cg = ["lr=3e-3", "lr=1e-3 betas=0.8,0.99"]
        topt, copt = (lambda gs: torch.optim.Adam(gs)), "adam"
    if initial_lr is not None:
        tg = [dict(g, initial_lr=v) for g, v in zip(tg, initial_lr)]
    if group_keys is not None:  # more keys a resumed schedule finds in the groups
        tg = [dict(g, **kw) for g, kw in zip(tg, group_keys)]
    return dict(name="sched_" + name, shapes=SHAPES, torch_opt=topt, torch_groups=tg,
                ctrain_opt=copt, ctrain_groups=cg, torch_sched=torch_sched,
                ctrain_sched=ctrain_sched, **extra)


def k(kind, options=""):
    return {"kind": kind, "options": options}


# LambdaLR / MultiplicativeLR factor functions, by name; tests/sched_refs.h
# has the same functions under the same names for the C side.
FACTORS = {
    "warmup10_linear100": lambda e: e / 10 if e < 10 else max(0.0, (100 - e) / 90),
    "exp95": lambda e: 0.95 ** e,
    "inv_sqrt": lambda e: 1 / math.sqrt(e + 1),
    "mod3": lambda e: 0.95 if e % 3 else 0.8,
    "const97": lambda e: 0.97,
}


def fk(kind, fn, options=""):
    """A lambda or multiplicative schedule with the factor set fn ("a+b":
    function a for group 0, b for group 1)."""
    return {"kind": kind, "fn": fn, "options": options}


def factors(fn):
    names = fn.split("+")
    return [FACTORS[n] for n in (names if len(names) > 1 else names * 2)]


def seq(children, milestones):
    return {"kind": "sequential", "children": children, "milestones": milestones}


# Plateau metrics: a loss that falls, stalls with small noise, falls again.
LOSS = [1.0 / (1 + 0.3 * t) if t < 25 else
        (0.12 + 0.002 * math.sin(t) if t < 60 else 0.12 - 0.004 * (t - 60) + 0.001 * math.cos(3 * t))
        for t in range(100)]
# An accuracy-like metric that rises in steps and stalls.
ACC = [min(0.9, 0.1 + 0.05 * (t // 7)) + 0.003 * math.sin(2 * t) for t in range(100)]

CASES = [
    # StepLR
    sched_case("step", lambda o: S.StepLR(o, step_size=7, gamma=0.5),
               k("step", "step_size=7 gamma=0.5")),
    sched_case("step_adam_default_gamma", lambda o: S.StepLR(o, step_size=30),
               k("step", "step_size=30"), opt="adam"),
    # MultiStepLR (unsorted, a repeated milestone counts twice as in Counter)
    sched_case("multistep_repeated", lambda o: S.MultiStepLR(o, milestones=[10, 30, 30, 60], gamma=0.5),
               k("multistep", "milestones=10,30,30,60 gamma=0.5")),
    sched_case("multistep_unsorted_adam", lambda o: S.MultiStepLR(o, milestones=[50, 5, 20]),
               k("multistep", "milestones=50,5,20"), opt="adam"),
    # ExponentialLR
    sched_case("exponential", lambda o: S.ExponentialLR(o, gamma=0.97), k("exponential", "gamma=0.97")),
    sched_case("exponential_adam", lambda o: S.ExponentialLR(o, gamma=0.9),
               k("exponential", "gamma=0.9"), opt="adam"),
    # CosineAnnealingLR, over several half periods (its restart branch)
    sched_case("cosine_periods", lambda o: S.CosineAnnealingLR(o, T_max=30, eta_min=1e-4),
               k("cosine", "T_max=30 eta_min=1e-4")),
    sched_case("cosine_adam", lambda o: S.CosineAnnealingLR(o, T_max=100), k("cosine", "T_max=100"),
               opt="adam"),
    # CosineAnnealingWarmRestarts
    sched_case("cosine_wr_mult2",
               lambda o: S.CosineAnnealingWarmRestarts(o, T_0=10, T_mult=2, eta_min=1e-4),
               k("cosine_warm_restarts", "T_0=10 T_mult=2 eta_min=1e-4")),
    sched_case("cosine_wr_adam", lambda o: S.CosineAnnealingWarmRestarts(o, T_0=7),
               k("cosine_warm_restarts", "T_0=7"), opt="adam"),
    # OneCycleLR: per-group max_lr, SGD momentum cycled
    sched_case("onecycle_sgd_momentum", lambda o: S.OneCycleLR(o, max_lr=[0.1, 0.05], total_steps=100),
               k("onecycle", "max_lr=0.1,0.05 total_steps=100"), opt="sgdm"),
    # three phases, linear, Adam's beta1 cycled with per-group momenta
    sched_case("onecycle_adam_three_phase_linear",
               lambda o: S.OneCycleLR(o, max_lr=0.01, total_steps=101, anneal_strategy="linear",
                                      three_phase=True, base_momentum=[0.8, 0.85],
                                      max_momentum=[0.9, 0.95]),
               k("onecycle", "max_lr=0.01 total_steps=101 anneal_strategy=linear three_phase=true "
                             "base_momentum=0.8,0.85 max_momentum=0.9,0.95"), opt="adam"),
    sched_case("onecycle_epochs_no_momentum",
               lambda o: S.OneCycleLR(o, max_lr=[0.2, 0.02], epochs=10, steps_per_epoch=10,
                                      pct_start=0.25, div_factor=10.0, final_div_factor=100.0,
                                      cycle_momentum=False),
               k("onecycle", "max_lr=0.2,0.02 epochs=10 steps_per_epoch=10 pct_start=0.25 "
                             "div_factor=10 final_div_factor=100 cycle_momentum=false")),
    # LinearLR
    sched_case("linear_warmup", lambda o: S.LinearLR(o, start_factor=0.1, total_iters=20),
               k("linear", "start_factor=0.1 total_iters=20")),
    sched_case("linear_decay_adam",
               lambda o: S.LinearLR(o, start_factor=1.0, end_factor=0.05, total_iters=80),
               k("linear", "start_factor=1 end_factor=0.05 total_iters=80"), opt="adam"),
    # ConstantLR
    sched_case("constant", lambda o: S.ConstantLR(o, factor=0.5, total_iters=10),
               k("constant", "factor=0.5 total_iters=10")),
    sched_case("constant_adam_default", lambda o: S.ConstantLR(o), k("constant"), opt="adam"),
    # PolynomialLR
    sched_case("polynomial_square", lambda o: S.PolynomialLR(o, total_iters=60, power=2.0),
               k("polynomial", "total_iters=60 power=2")),
    sched_case("polynomial_sqrt_adam", lambda o: S.PolynomialLR(o, total_iters=90, power=0.5),
               k("polynomial", "total_iters=90 power=0.5"), opt="adam"),
    # CyclicLR
    sched_case("cyclic_triangular_sgd_momentum",
               lambda o: S.CyclicLR(o, base_lr=[0.01, 0.001], max_lr=[0.1, 0.01], step_size_up=10),
               k("cyclic", "base_lr=0.01,0.001 max_lr=0.1,0.01 step_size_up=10"), opt="sgdm"),
    sched_case("cyclic_triangular2_adam",
               lambda o: S.CyclicLR(o, base_lr=1e-4, max_lr=[3e-3, 1e-3], step_size_up=15,
                                    step_size_down=5, mode="triangular2", base_momentum=[0.85, 0.7],
                                    max_momentum=0.95),
               k("cyclic", "base_lr=1e-4 max_lr=3e-3,1e-3 step_size_up=15 step_size_down=5 "
                           "mode=triangular2 base_momentum=0.85,0.7 max_momentum=0.95"), opt="adam"),
    sched_case("cyclic_exp_range_no_momentum",
               lambda o: S.CyclicLR(o, base_lr=0.001, max_lr=0.1, step_size_up=8, mode="exp_range",
                                    gamma=0.97, cycle_momentum=False),
               k("cyclic", "base_lr=0.001 max_lr=0.1 step_size_up=8 mode=exp_range gamma=0.97 "
                           "cycle_momentum=false")),
    # ReduceLROnPlateau
    sched_case("plateau_min_rel",
               lambda o: S.ReduceLROnPlateau(o, factor=0.5, patience=5, cooldown=3,
                                             min_lr=[1e-3, 5e-4]),
               k("plateau", "factor=0.5 patience=5 cooldown=3 min_lr=1e-3,5e-4"), metrics=LOSS),
    sched_case("plateau_max_abs_eps",
               lambda o: S.ReduceLROnPlateau(o, mode="max", factor=0.3, patience=2,
                                             threshold=0.01, threshold_mode="abs", min_lr=2e-4,
                                             eps=1e-4),
               k("plateau", "mode=max factor=0.3 patience=2 threshold=0.01 threshold_mode=abs "
                            "min_lr=2e-4 eps=1e-4"), opt="adam", metrics=ACC),
    sched_case("plateau_min_abs_adam",
               lambda o: S.ReduceLROnPlateau(o, threshold=1e-3, threshold_mode="abs", patience=3),
               k("plateau", "threshold=1e-3 threshold_mode=abs patience=3"), opt="adam",
               metrics=LOSS),
    # SequentialLR: warmup then cosine (closed form at the milestone)
    sched_case("sequential_warmup_cosine",
               lambda o: S.SequentialLR(o, [S.LinearLR(o, start_factor=0.1, total_iters=5),
                                            S.CosineAnnealingLR(o, T_max=50)], milestones=[10]),
               seq([k("linear", "start_factor=0.1 total_iters=5"), k("cosine", "T_max=50")], [10])),
    sched_case("sequential_three",
               lambda o: S.SequentialLR(o, [S.ConstantLR(o, factor=0.5, total_iters=20),
                                            S.ExponentialLR(o, gamma=0.95),
                                            S.StepLR(o, step_size=10, gamma=0.5)],
                                        milestones=[15, 40]),
               seq([k("constant", "factor=0.5 total_iters=20"), k("exponential", "gamma=0.95"),
                    k("step", "step_size=10 gamma=0.5")], [15, 40]), opt="adam"),
    sched_case("sequential_warmup_restarts",
               lambda o: S.SequentialLR(o, [S.LinearLR(o, start_factor=0.25, total_iters=8),
                                            S.CosineAnnealingWarmRestarts(o, T_0=10, T_mult=2)],
                                        milestones=[20]),
               seq([k("linear", "start_factor=0.25 total_iters=8"),
                    k("cosine_warm_restarts", "T_0=10 T_mult=2")], [20])),
    sched_case("sequential_constant_onecycle",
               lambda o: S.SequentialLR(o, [S.ConstantLR(o, factor=0.2, total_iters=100),
                                            S.OneCycleLR(o, max_lr=[0.1, 0.02], total_steps=100)],
                                        milestones=[20]),
               seq([k("constant", "factor=0.2 total_iters=100"),
                    k("onecycle", "max_lr=0.1,0.02 total_steps=100")], [20]), opt="sgdm"),
    sched_case("sequential_cyclic_polynomial",
               lambda o: S.SequentialLR(o, [S.CyclicLR(o, base_lr=[0.01, 0.002], max_lr=0.05,
                                                       step_size_up=5),
                                            S.PolynomialLR(o, total_iters=50, power=1.5),
                                            S.MultiStepLR(o, milestones=[70, 85], gamma=0.3)],
                                        milestones=[30, 60]),
               seq([k("cyclic", "base_lr=0.01,0.002 max_lr=0.05 step_size_up=5"),
                    k("polynomial", "total_iters=50 power=1.5"),
                    k("multistep", "milestones=70,85 gamma=0.3")], [30, 60]), opt="sgdm"),
    # LambdaLR (one function per group), MultiplicativeLR; resumed with last_epoch
    sched_case("lambda_per_group",
               lambda o: S.LambdaLR(o, factors("warmup10_linear100+exp95")),
               fk("lambda", "warmup10_linear100+exp95")),
    sched_case("lambda_inv_sqrt_adam", lambda o: S.LambdaLR(o, factors("inv_sqrt")[0]),
               fk("lambda", "inv_sqrt"), opt="adam"),
    sched_case("lambda_resumed",
               lambda o: S.LambdaLR(o, factors("inv_sqrt"), last_epoch=7),
               fk("lambda", "inv_sqrt", "initial_lr=0.1,0.02 last_epoch=7"),
               initial_lr=[0.1, 0.02]),
    sched_case("multiplicative", lambda o: S.MultiplicativeLR(o, factors("mod3")),
               fk("multiplicative", "mod3"), opt="sgdm"),
    sched_case("multiplicative_resumed_adam",
               lambda o: S.MultiplicativeLR(o, factors("const97")[0], last_epoch=3),
               fk("multiplicative", "const97", "last_epoch=3 initial_lr=5e-3"), opt="adam",
               initial_lr=[5e-3, 5e-3]),
    # ... inside SequentialLR (warmup by a lambda; a lambda child at a milestone)
    sched_case("sequential_lambda_cosine",
               lambda o: S.SequentialLR(o, [S.LambdaLR(o, factors("warmup10_linear100")),
                                            S.CosineAnnealingLR(o, T_max=50)], milestones=[10]),
               seq([fk("lambda", "warmup10_linear100"), k("cosine", "T_max=50")], [10])),
    sched_case("sequential_step_lambda_multiplicative",
               lambda o: S.SequentialLR(o, [S.StepLR(o, step_size=5, gamma=0.5),
                                            S.LambdaLR(o, factors("exp95")),
                                            S.MultiplicativeLR(o, factors("mod3"))],
                                        milestones=[20, 50]),
               seq([k("step", "step_size=5 gamma=0.5"), fk("lambda", "exp95"),
                    fk("multiplicative", "mod3")], [20, 50]), opt="adam"),
    # SWALR (torch.optim.swa_utils): cos and linear, per-group swa_lr, no annealing;
    # after a cosine phase, as SWA training runs it
    sched_case("swa_cos", lambda o: SWALR(o, swa_lr=0.02, anneal_epochs=5),
               k("swa", "swa_lr=0.02 anneal_epochs=5"), opt="sgdm"),
    sched_case("swa_linear_per_group_adam",
               lambda o: SWALR(o, swa_lr=[1e-3, 5e-4], anneal_epochs=30, anneal_strategy="linear"),
               k("swa", "swa_lr=1e-3,5e-4 anneal_epochs=30 anneal_strategy=linear"), opt="adam"),
    sched_case("swa_no_anneal", lambda o: SWALR(o, swa_lr=[0.03, 0.2], anneal_epochs=0),
               k("swa", "swa_lr=0.03,0.2 anneal_epochs=0")),
    sched_case("swa_default_epochs", lambda o: SWALR(o, swa_lr=0.5), k("swa", "swa_lr=0.5")),
    sched_case("sequential_cosine_swa",
               lambda o: S.SequentialLR(o, [S.CosineAnnealingLR(o, T_max=60),
                                            SWALR(o, swa_lr=0.005, anneal_epochs=8)],
                                        milestones=[60]),
               seq([k("cosine", "T_max=60"), k("swa", "swa_lr=0.005 anneal_epochs=8")], [60]),
               opt="sgdm"),
    # Every kind resumed with torch's last_epoch (the groups hold initial_lr, as a
    # loaded optimizer state brings it; their current lr differs from it)
    *[sched_case(name + "_resumed", torch_s, k(kind, options + " initial_lr=%r,%r last_epoch=%d"
                                              % (*ilr, le)),
                 opt=opt, initial_lr=ilr, steps=steps, group_keys=gk)
      for name, torch_s, kind, options, opt, ilr, le, steps, gk in [
          ("step", lambda o: S.StepLR(o, step_size=5, gamma=0.5, last_epoch=7), "step",
           "step_size=5 gamma=0.5", "sgd", (0.1, 0.02), 7, 100, None),
          ("multistep", lambda o: S.MultiStepLR(o, milestones=[5, 10, 30], last_epoch=9),
           "multistep", "milestones=5,10,30", "adam", (5e-3, 2e-3), 9, 100, None),
          ("exponential", lambda o: S.ExponentialLR(o, gamma=0.97, last_epoch=4), "exponential",
           "gamma=0.97", "sgd", (0.1, 0.02), 4, 100, None),
          ("cosine", lambda o: S.CosineAnnealingLR(o, T_max=30, eta_min=1e-4, last_epoch=12),
           "cosine", "T_max=30 eta_min=1e-4", "sgd", (0.1, 0.02), 12, 100, None),
          ("cosine_wr", lambda o: S.CosineAnnealingWarmRestarts(o, T_0=4, T_mult=2,
                                                                last_epoch=13),
           "cosine_warm_restarts", "T_0=4 T_mult=2", "sgd", (0.1, 0.02), 13, 100, None),
          ("onecycle", lambda o: S.OneCycleLR(o, max_lr=0.1, total_steps=100, last_epoch=30),
           "onecycle", "max_lr=0.1 total_steps=100", "sgdm", (0.1 / 25, 0.1 / 25), 30, 60,
           [dict(max_lr=0.1, min_lr=0.1 / 25 / 1e4, max_momentum=0.95, base_momentum=0.85)] * 2),
          ("linear", lambda o: S.LinearLR(o, start_factor=0.25, total_iters=10, last_epoch=3),
           "linear", "start_factor=0.25 total_iters=10", "adam", (5e-3, 2e-3), 3, 100, None),
          ("constant", lambda o: S.ConstantLR(o, factor=0.5, total_iters=10, last_epoch=6),
           "constant", "factor=0.5 total_iters=10", "sgd", (0.1, 0.02), 6, 100, None),
          ("polynomial", lambda o: S.PolynomialLR(o, total_iters=40, power=2.0, last_epoch=5),
           "polynomial", "total_iters=40 power=2", "sgd", (0.1, 0.02), 5, 100, None),
          ("cyclic", lambda o: S.CyclicLR(o, base_lr=0.01, max_lr=0.1, step_size_up=5,
                                          last_epoch=7),
           "cyclic", "base_lr=0.01 max_lr=0.1 step_size_up=5", "sgdm", (0.01, 0.01), 7, 100,
           None),
          ("swa", lambda o: SWALR(o, swa_lr=0.02, anneal_epochs=5, last_epoch=2), "swa",
           "swa_lr=0.02 anneal_epochs=5", "sgd", (0.1, 0.02), 2, 100, None),
      ]],
    # Several schedules on one optimizer (ChainedScheduler)
    sched_case("chained_lambda_multiplicative_step",
               lambda o: S.ChainedScheduler([S.LambdaLR(o, factors("exp95")),
                                             S.MultiplicativeLR(o, factors("const97")),
                                             S.StepLR(o, step_size=10, gamma=0.5)]),
               [fk("lambda", "exp95"), fk("multiplicative", "const97"),
                k("step", "step_size=10 gamma=0.5")], opt="sgdm"),
    sched_case("chained_exponential_step",
               lambda o: S.ChainedScheduler([S.ExponentialLR(o, gamma=0.98),
                                             S.StepLR(o, step_size=10, gamma=0.5)]),
               [k("exponential", "gamma=0.98"), k("step", "step_size=10 gamma=0.5")]),
    sched_case("chained_linear_cosine",
               lambda o: S.ChainedScheduler([S.LinearLR(o, start_factor=0.2, total_iters=10),
                                             S.CosineAnnealingLR(o, T_max=40, eta_min=1e-5)]),
               [k("linear", "start_factor=0.2 total_iters=10"), k("cosine", "T_max=40 eta_min=1e-5")],
               opt="adam"),
    sched_case("chained_three",
               lambda o: S.ChainedScheduler([S.ConstantLR(o, factor=0.5, total_iters=30),
                                             S.MultiStepLR(o, milestones=[20, 60]),
                                             S.PolynomialLR(o, total_iters=100, power=1.5)]),
               [k("constant", "factor=0.5 total_iters=30"), k("multistep", "milestones=20,60"),
                k("polynomial", "total_iters=100 power=1.5")]),
    sched_case("chained_exponential_onecycle",
               lambda o: S.ChainedScheduler([S.ExponentialLR(o, gamma=0.99),
                                             S.OneCycleLR(o, max_lr=0.1, total_steps=100)]),
               [k("exponential", "gamma=0.99"), k("onecycle", "max_lr=0.1 total_steps=100")],
               opt="sgdm"),
    sched_case("chained_cyclic_exponential",
               lambda o: S.ChainedScheduler([S.CyclicLR(o, base_lr=1e-4, max_lr=2e-3, step_size_up=6),
                                             S.ExponentialLR(o, gamma=0.98)]),
               [k("cyclic", "base_lr=1e-4 max_lr=2e-3 step_size_up=6"), k("exponential", "gamma=0.98")],
               opt="adam"),
]
