"""ctrain.numpy against torch.optim: the same optimizers updating NumPy
float32 arrays in place, gradients computed by NumPy code (softmax
regression), compared with torch.optim run on the same problem."""
import copy

import numpy as np
import pytest
import torch

import ctrain.numpy as cn
from conftest import assert_close

CASES = [
    ("SGD", dict(lr=0.1, momentum=0.9, nesterov=True)),
    ("Adam", dict(lr=1e-2, amsgrad=True)),
    ("AdamW", dict(lr=1e-2, weight_decay=0.1)),
    ("Adagrad", dict(lr=0.1)),
    ("RMSprop", dict(lr=1e-3, centered=True)),
    ("Adadelta", dict(lr=0.5)),
    ("Adamax", dict(lr=1e-2)),
    ("NAdam", dict(lr=1e-2)),
    ("RAdam", dict(lr=1e-2)),
    ("Rprop", dict(lr=1e-3)),
    ("ASGD", dict(lr=1e-2, t0=10)),
]


def problem():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 5)).astype(np.float32)
    y = rng.integers(0, 3, 64)
    w = (rng.standard_normal((5, 3)) * 0.1).astype(np.float32)
    b = np.zeros(3, np.float32)
    return x, y, w, b


def numpy_grads(x, y, w, b):
    z = x @ w + b
    z = z - z.max(1, keepdims=True)
    p = np.exp(z)
    p /= p.sum(1, keepdims=True)
    p[np.arange(len(y)), y] -= 1
    p /= len(y)
    return (x.T @ p).astype(np.float32), p.sum(0).astype(np.float32)


@pytest.mark.parametrize("name,kw", CASES, ids=[c[0] for c in CASES])
def test_numpy_matches_torch(name, kw):
    x, y, w, b = problem()
    tw, tb = torch.nn.Parameter(torch.tensor(w)), torch.nn.Parameter(torch.tensor(b))
    ref = getattr(torch.optim, name)([tw, tb], **kw)
    opt = getattr(cn, name)([w, b], **kw)
    for i in range(50):
        ref.zero_grad()
        # torch's gradients of the same loss: feed both the same numbers so
        # the comparison isolates the update
        gw, gb = numpy_grads(x, y, w, b)
        tw.grad, tb.grad = torch.tensor(gw), torch.tensor(gb)
        with torch.no_grad():
            tw.copy_(torch.from_numpy(w))
            tb.copy_(torch.from_numpy(b))
        ref.step()
        opt.step([gw, gb])
        assert_close(torch.from_numpy(w), tw.detach(), f"w at step {i}")
        assert_close(torch.from_numpy(b), tb.detach(), f"b at step {i}")


def test_numpy_groups_lr_state_dict():
    x, y, w, b = problem()
    opt = cn.Adam([{"params": [w]}, {"params": [b], "lr": 1e-3}], lr=1e-2)
    assert opt.lr == 1e-2
    for _ in range(10):
        opt.step(numpy_grads(x, y, w, b))
    sd = opt.state_dict()
    assert sorted(sd["state"][0]) == ["exp_avg", "exp_avg_sq", "step"]
    assert sd["state"][0]["step"] == 10
    assert sd["param_groups"][1]["lr"] == 1e-3 and sd["param_groups"][1]["params"] == [1]
    # a second optimizer on copies, loaded from the state dict, continues identically
    w2, b2 = w.copy(), b.copy()
    opt2 = cn.Adam([{"params": [w2]}, {"params": [b2]}], lr=5.0)
    opt2.load_state_dict(sd)
    assert opt2.param_groups[0]["lr"] == 1e-2
    opt.lr = 3e-3
    opt2.lr = 3e-3
    for _ in range(10):
        opt.step(numpy_grads(x, y, w, b))
        opt2.step(numpy_grads(x, y, w2, b2))
    np.testing.assert_array_equal(w, w2)
    np.testing.assert_array_equal(b, b2)
    st = opt.state(0)
    assert st["exp_avg"].shape == w.shape and st["step"] == 20


def test_numpy_refuses_unsupported_arrays():
    w = np.zeros((3, 4), np.float64)
    with pytest.raises(TypeError, match="float32"):
        cn.SGD([w])
    with pytest.raises(TypeError, match="contiguous"):
        cn.SGD([np.zeros((4, 3), np.float32).T])
    ro = np.zeros(3, np.float32)
    ro.flags.writeable = False
    with pytest.raises(TypeError, match="read-only"):
        cn.SGD([ro])
    opt = cn.SGD([np.zeros(3, np.float32)], lr=0.1)
    with pytest.raises(ValueError, match="shape"):
        opt.step([np.zeros(4, np.float32)])
    with pytest.raises(ValueError, match="1 parameters"):
        opt.step([])
    with pytest.raises(ValueError, match="Invalid learning rate"):
        cn.Adam([np.zeros(3, np.float32)], lr=-1)


SCHEDS = [
    ("StepLR", dict(step_size=7, gamma=0.5)),
    ("MultiStepLR", dict(milestones=[5, 12, 20], gamma=0.3)),
    ("ExponentialLR", dict(gamma=0.9)),
    ("CosineAnnealingLR", dict(T_max=15, eta_min=1e-4)),
    ("CosineAnnealingWarmRestarts", dict(T_0=5, T_mult=2, eta_min=1e-4)),
    ("OneCycleLR", dict(max_lr=0.5, total_steps=31)),
    ("OneCycleLR", dict(max_lr=0.5, total_steps=31, anneal_strategy="linear", three_phase=True)),
    ("LinearLR", dict(start_factor=0.1, total_iters=10)),
    ("ConstantLR", dict(factor=0.5, total_iters=8)),
    ("PolynomialLR", dict(total_iters=20, power=2.0)),
    ("CyclicLR", dict(base_lr=0.01, max_lr=0.1, step_size_up=4, mode="triangular2")),
    ("ReduceLROnPlateau", dict(patience=2, factor=0.5)),
    ("SWALR", dict(swa_lr=0.02, anneal_epochs=6)),
    ("SWALR", dict(swa_lr=[0.3, 0.01], anneal_epochs=4, anneal_strategy="linear")),
]


def _torch_sched_module(name):
    return torch.optim.swa_utils if name == "SWALR" else torch.optim.lr_scheduler


@pytest.mark.parametrize("name,kw", SCHEDS, ids=[f"{n}-{i}" for i, (n, _) in enumerate(SCHEDS)])
def test_numpy_schedules_match_torch(name, kw):
    """Each schedule sets the same lr (and momentum, for the cyclic ones) as
    torch.optim.lr_scheduler on torch.optim.SGD, and the optimizer uses it."""
    x, y, w, b = problem()
    tw, tb = torch.nn.Parameter(torch.tensor(w)), torch.nn.Parameter(torch.tensor(b))
    ref = torch.optim.SGD([{"params": [tw]}, {"params": [tb], "lr": 0.05}], lr=0.1, momentum=0.9)
    opt = cn.SGD([{"params": [w]}, {"params": [b], "lr": 0.05}], lr=0.1, momentum=0.9)
    rs = getattr(_torch_sched_module(name), name)(ref, **kw)
    cs = getattr(cn, name)(opt, **kw)
    metrics = [1.0, 0.9, 0.95, 0.95, 0.96, 0.97, 0.8, 0.81, 0.82, 0.83] * 3
    for i in range(30):
        gw, gb = numpy_grads(x, y, w, b)
        tw.grad, tb.grad = torch.tensor(gw), torch.tensor(gb)
        with torch.no_grad():
            tw.copy_(torch.from_numpy(w))
            tb.copy_(torch.from_numpy(b))
        ref.step()
        opt.step([gw, gb])
        if name == "ReduceLROnPlateau":
            rs.step(metrics[i])
            cs.step(metrics[i])
        else:
            rs.step()
            cs.step()
        for gr, gc in zip(ref.param_groups, opt.param_groups):
            assert gc["lr"] == pytest.approx(gr["lr"], rel=1e-12, abs=1e-15), f"lr at step {i}"
            assert gc["momentum"] == pytest.approx(gr["momentum"], rel=1e-12), f"momentum {i}"
        assert_close(torch.from_numpy(w), tw.detach(), f"w at step {i}")
    if name != "ReduceLROnPlateau":
        assert cs.get_last_lr() == pytest.approx(rs.get_last_lr(), rel=1e-12)
        assert cs.last_epoch == rs.last_epoch


def _composed(lib, opt, which):
    """The same composed schedule built from torch.optim.lr_scheduler or
    ctrain.numpy (lib)."""
    if which == "sequential":
        return lib.SequentialLR(opt, [lib.LinearLR(opt, start_factor=0.1, total_iters=5),
                                      lib.CosineAnnealingLR(opt, T_max=10, eta_min=1e-3),
                                      lib.StepLR(opt, step_size=3, gamma=0.5)],
                                milestones=[6, 14])
    return lib.ChainedScheduler([lib.ExponentialLR(opt, gamma=0.95),
                                 lib.MultiStepLR(opt, milestones=[4, 9], gamma=0.5),
                                 lib.CyclicLR(opt, base_lr=0.01, max_lr=0.1, step_size_up=3,
                                              cycle_momentum=False)])


def _setups():
    x, y, w, b = problem()
    tw, tb = torch.nn.Parameter(torch.tensor(w)), torch.nn.Parameter(torch.tensor(b))
    ref = torch.optim.SGD([{"params": [tw]}, {"params": [tb], "lr": 0.05}], lr=0.1, momentum=0.9)
    opt = cn.SGD([{"params": [w]}, {"params": [b], "lr": 0.05}], lr=0.1, momentum=0.9)
    return x, y, (w, b, opt), (tw, tb, ref)


def _run(x, y, ct, ref, cs, rs, steps, start=0):
    w, b, opt = ct
    tw, tb, topt = ref
    for i in range(start, start + steps):
        gw, gb = numpy_grads(x, y, w, b)
        tw.grad, tb.grad = torch.tensor(gw), torch.tensor(gb)
        topt.step()
        opt.step([gw, gb])
        rs.step()
        cs.step()
        for gr, gc in zip(topt.param_groups, opt.param_groups):
            assert gc["lr"] == pytest.approx(gr["lr"], rel=1e-12, abs=1e-15), f"lr at step {i}"
        assert_close(torch.from_numpy(w), tw.detach(), f"w at step {i}")
    assert cs.get_last_lr() == pytest.approx(rs.get_last_lr(), rel=1e-12)


@pytest.mark.parametrize("which", ["sequential", "chained"])
def test_composed_schedules_match_torch(which):
    x, y, ct, ref = _setups()
    rs, cs = _composed(torch.optim.lr_scheduler, ref[2], which), _composed(cn, ct[2], which)
    _run(x, y, ct, ref, cs, rs, 25)


@pytest.mark.parametrize("which", ["sequential", "chained"] + [f"{n}-{i}" for i, (n, _) in
                                                               enumerate(SCHEDS)])
def test_schedule_state_dict_resumes_exactly(which):
    """Train 12 steps, save optimizer and schedule state dicts, build a new
    optimizer and schedule (same arguments), load both, continue: the lrs
    and weights follow torch's uninterrupted run."""
    x, y, (w, b, opt), ref = _setups()

    def make(o):
        if which in ("sequential", "chained"):
            return (_composed(torch.optim.lr_scheduler, o, which) if isinstance(
                o, torch.optim.Optimizer) else _composed(cn, o, which))
        name, kw = SCHEDS[int(which.rsplit("-", 1)[1])]
        lib = _torch_sched_module(name) if isinstance(o, torch.optim.Optimizer) else cn
        return getattr(lib, name)(o, **kw)
    plateau = which.startswith("ReduceLROnPlateau")
    rs, cs = make(ref[2]), make(opt)
    if plateau:  # a metric that plateaus, so the lr is reduced across the checkpoint
        for s in (rs, cs):
            s.step = (lambda f: (lambda: f(1.0)))(s.step)
    _run(x, y, (w, b, opt), ref, cs, rs, 12)
    osd, ssd = copy.deepcopy(opt.state_dict()), copy.deepcopy(cs.state_dict())
    w2, b2 = w.copy(), b.copy()
    opt2 = cn.SGD([{"params": [w2]}, {"params": [b2], "lr": 0.05}], lr=0.1, momentum=0.9)
    cs2 = make(opt2)
    if plateau:
        cs2.step = (lambda f: (lambda: f(1.0)))(cs2.step)
    opt2.load_state_dict(osd)
    cs2.load_state_dict(ssd)
    _run(x, y, (w2, b2, opt2), ref, cs2, rs, 12, start=12)


def test_schedule_state_of_another_kind_is_refused():
    _, _, (w, b, opt), _ = _setups()
    s = cn.StepLR(opt, step_size=3)
    with pytest.raises(ValueError, match="ExponentialLR"):
        s.load_state_dict(cn.ExponentialLR(opt, gamma=0.9).state_dict())
    with pytest.raises(ValueError, match="structure|values"):
        s.load_state_dict({"kind": "StepLR", "state": cn.StepLR(opt, 3).state_dict()["state"][:-1]})
    seq = cn.SequentialLR(opt, [cn.StepLR(opt, step_size=3), cn.ExponentialLR(opt, gamma=0.9)],
                          milestones=[2])
    with pytest.raises(RuntimeError, match="SequentialLR"):
        seq._schedulers[0].step()
    with pytest.raises(ValueError, match="one more"):
        cn.SequentialLR(opt, [cn.StepLR(opt, step_size=3)], milestones=[2])


def test_bad_loaded_state_dict_changes_nothing():
    _, _, (w, b, opt), _ = _setups()
    x, y = problem()[:2]
    opt.step(list(numpy_grads(x, y, w, b)))
    before = copy.deepcopy(opt.state_dict())
    bad = copy.deepcopy(before)
    bad["param_groups"][1]["momentum"] = -1.0
    with pytest.raises(ValueError, match="momentum"):
        opt.load_state_dict(bad)
    after = opt.state_dict()
    assert [g["momentum"] for g in after["param_groups"]] == [0.9, 0.9]
    for k in before["state"]:
        np.testing.assert_array_equal(after["state"][k]["momentum_buffer"],
                                      before["state"][k]["momentum_buffer"])


class _Warmup:
    """A callable object with state (saved by LambdaLR's state_dict, as torch's)."""

    def __init__(self, n):
        self.n = n

    def __call__(self, epoch):
        return min(1.0, (epoch + 1) / self.n) * 0.97 ** epoch


def _callable_scheds(lib, opt, which):
    if which == "lambda":
        return lib.LambdaLR(opt, lambda e: 0.9 ** e)
    if which == "lambda-per-group":
        return lib.LambdaLR(opt, [_Warmup(4), lambda e: 1.0 / (1 + e)])
    if which == "multiplicative":
        return lib.MultiplicativeLR(opt, lambda e: 0.95 if e % 3 else 0.8)
    if which == "sequential":  # a warmup lambda, then cosine; a multiplicative at a milestone
        return lib.SequentialLR(opt, [lib.LambdaLR(opt, _Warmup(5)),
                                      lib.CosineAnnealingLR(opt, T_max=6),
                                      lib.MultiplicativeLR(opt, lambda e: 0.9)],
                                milestones=[5, 12])
    if which == "resumed":  # torch's last_epoch: the groups keep initial_lr
        for g in opt.param_groups:
            g["initial_lr"] = 2 * g["lr"]
        return lib.LambdaLR(opt, [_Warmup(20), lambda e: 0.9 ** e], last_epoch=6)
    # a callable schedule composed with engine schedules: torch's chaining
    return lib.ChainedScheduler([lib.LinearLR(opt, start_factor=0.2, total_iters=4),
                                 lib.MultiplicativeLR(opt, lambda e: 0.97),
                                 lib.StepLR(opt, step_size=5, gamma=0.5)])


CALLABLE = ["lambda", "lambda-per-group", "multiplicative", "sequential", "resumed", "chained"]


@pytest.mark.parametrize("which", CALLABLE)
def test_callable_schedules_match_torch(which):
    x, y, ct, ref = _setups()
    rs = _callable_scheds(torch.optim.lr_scheduler, ref[2], which)
    cs = _callable_scheds(cn, ct[2], which)
    for gr, gc in zip(ref[2].param_groups, ct[2].param_groups):
        assert gc["lr"] == pytest.approx(gr["lr"], rel=1e-12)  # set at construction
    _run(x, y, ct, ref, cs, rs, 20)
    if which != "chained":
        assert cs.last_epoch == rs.last_epoch
    if which == "sequential":  # each child's own counter too
        assert [c.last_epoch for c in cs._schedulers] == [c.last_epoch for c in rs._schedulers]


@pytest.mark.parametrize("which", CALLABLE)
def test_callable_schedule_state_dict_resumes_exactly(which):
    x, y, (w, b, opt), ref = _setups()
    rs = _callable_scheds(torch.optim.lr_scheduler, ref[2], which)
    cs = _callable_scheds(cn, opt, which)
    _run(x, y, (w, b, opt), ref, cs, rs, 9)
    osd, ssd = copy.deepcopy(opt.state_dict()), copy.deepcopy(cs.state_dict())
    if which == "lambda-per-group":
        assert ssd["lr_lambdas"] == [{"n": 4}, None]  # the callable object's state only
        cs.lr_lambdas[0].n = 99
    w2, b2 = w.copy(), b.copy()
    opt2 = cn.SGD([{"params": [w2]}, {"params": [b2], "lr": 0.05}], lr=0.1, momentum=0.9)
    cs2 = _callable_scheds(cn, opt2, which)
    if which == "lambda-per-group":
        cs2.lr_lambdas[0].n = 99  # load_state_dict brings the saved 4 back
    opt2.load_state_dict(osd)
    cs2.load_state_dict(ssd)
    _run(x, y, (w2, b2, opt2), ref, cs2, rs, 9, start=9)


@pytest.mark.parametrize("kind", ["LambdaLR", "MultiplicativeLR", "SequentialLR"])
def test_callable_schedule_exception_propagates_and_changes_nothing(kind):
    """The callable's own exception comes out of step() (through the C
    engine), the lrs and the epoch stay, and the next step goes on."""
    _, _, (w, b, opt), _ = _setups()

    cursed = 2 if kind == "SequentialLR" else 3  # the lambda's own epoch at the third step

    def f(e):
        if e == cursed and not done:
            raise ZeroDivisionError("epoch %d is cursed" % e)
        return 0.5 ** e
    done = False
    if kind == "SequentialLR":
        s = cn.SequentialLR(opt, [cn.StepLR(opt, step_size=1), cn.LambdaLR(opt, f)],
                            milestones=[1])
    else:
        s = getattr(cn, kind)(opt, f)
    s.step(), s.step()
    lrs, epoch = [g["lr"] for g in opt.param_groups], s.last_epoch
    with pytest.raises(ZeroDivisionError, match="is cursed"):
        s.step()
    assert [g["lr"] for g in opt.param_groups] == lrs and s.last_epoch == epoch
    assert [opt._engine.get_lr(i) for i in range(2)] == lrs
    done = True
    s.step()
    assert s.last_epoch == epoch + 1 and [g["lr"] for g in opt.param_groups] != lrs
    with pytest.raises(ZeroDivisionError):  # at construction: no schedule, nothing changed
        cn.LambdaLR(opt, lambda e: 1 / 0)
    assert s.last_epoch == epoch + 1


def test_callable_schedule_errors_are_torchs():
    _, _, (w, b, opt), (tw, tb, ref) = _setups()
    for lib, o in ((torch.optim.lr_scheduler, ref), (cn, opt)):
        with pytest.raises(ValueError, match="Expected 2 lr_lambdas, but got 3"):
            lib.LambdaLR(o, [lambda e: 1.0] * 3)
    o2 = cn.SGD([np.zeros(3, np.float32)], lr=0.1)
    with pytest.raises(KeyError, match="initial_lr"):
        cn.LambdaLR(o2, lambda e: 1.0, last_epoch=4)
    with pytest.raises(TypeError, match="returned str"):
        cn.LambdaLR(o2, lambda e: "0.5")
    s = cn.LambdaLR(opt, lambda e: 1.0)
    with pytest.raises(ValueError, match="StepLR"):
        s.load_state_dict(cn.StepLR(opt, step_size=3).state_dict())


RESUMED = [
    ("StepLR", dict(step_size=4, gamma=0.5, last_epoch=6)),
    ("CosineAnnealingLR", dict(T_max=12, eta_min=1e-3, last_epoch=5)),
    ("CosineAnnealingWarmRestarts", dict(T_0=3, T_mult=2, last_epoch=8)),
    ("LinearLR", dict(start_factor=0.2, total_iters=10, last_epoch=3)),
    ("PolynomialLR", dict(total_iters=25, power=2.0, last_epoch=4)),
    ("CyclicLR", dict(base_lr=0.01, max_lr=0.1, step_size_up=4, last_epoch=5)),
    ("SWALR", dict(swa_lr=0.03, anneal_epochs=4, last_epoch=2)),
]


@pytest.mark.parametrize("name,kw", RESUMED, ids=[n for n, _ in RESUMED])
def test_schedules_resumed_with_last_epoch_match_torch(name, kw):
    """torch's resume idiom, Scheduler(opt, ..., last_epoch=N) on an optimizer
    whose groups hold initial_lr (as a loaded state brings it) and another
    current lr: the same lrs as torch from the first one on."""
    x, y, w, b = problem()
    tw, tb = torch.nn.Parameter(torch.tensor(w)), torch.nn.Parameter(torch.tensor(b))
    groups = lambda pw, pb: [{"params": [pw], "initial_lr": 0.2},  # noqa: E731
                             {"params": [pb], "lr": 0.05, "initial_lr": 0.08}]
    ref = torch.optim.SGD(groups(tw, tb), lr=0.1, momentum=0.9)
    opt = cn.SGD(groups(w, b), lr=0.1, momentum=0.9)
    rs = getattr(_torch_sched_module(name), name)(ref, **kw)
    cs = getattr(cn, name)(opt, **kw)
    _run(x, y, (w, b, opt), (tw, tb, ref), cs, rs, 15)
    assert cs.last_epoch == rs.last_epoch


def test_resuming_without_initial_lr_is_torchs_error():
    o = cn.SGD([np.zeros(3, np.float32)], lr=0.1)
    with pytest.raises(KeyError, match="initial_lr"):
        cn.StepLR(o, step_size=2, last_epoch=3)
    assert "initial_lr" not in o.param_groups[0] and o.param_groups[0]["lr"] == 0.1
